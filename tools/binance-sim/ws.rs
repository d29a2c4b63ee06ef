//! WebSockets: market streams (`<symbol>@bookTicker`, raw `/ws/…` or combined
//! `/stream?streams=…`, live SUBSCRIBE), USDⓈ-M user data by listen key, and the spot
//! WebSocket API (`/ws-api/v3`) with its User Data Stream subscriptions — since
//! 2026-02-20 the only way to receive spot user data.

use crate::auth;
use crate::errors::ApiErr;
use crate::exchange::Protocol;
use crate::server::{lock, App, UserMsg};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

/// Counts a connection for `status` and `drop-stream` while it lives.
struct Open(Arc<App>);

impl Open {
    fn new(app: &Arc<App>) -> Open {
        app.ws_open.fetch_add(1, Ordering::Relaxed);
        Open(Arc::clone(app))
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0.ws_open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What a stream connection listens to.
#[derive(Default)]
struct Subs {
    /// Symbol indices with a bookTicker subscription.
    tickers: BTreeSet<usize>,
    /// USDⓈ-M listen key of this connection's user data.
    key: Option<String>,
    combined: bool,
}

fn ticker_name(app: &App, i: usize) -> String {
    let ex = lock(&app.ex);
    format!("{}@bookTicker", ex.symbols[i].name.to_lowercase())
}

/// Adds one stream name; false when it names nothing this simulator serves.
fn add_stream(app: &App, subs: &mut Subs, name: &str, now: i64) -> bool {
    if let Some(sym) = name.strip_suffix("@bookTicker") {
        let ex = lock(&app.ex);
        if let Some(i) = ex.symbol(&sym.to_uppercase()) {
            subs.tickers.insert(i);
            return true;
        }
        return false;
    }
    if app.proto == Protocol::Usdm {
        let keys = lock(&app.listen_keys);
        if keys.get(name).is_some_and(|exp| *exp > now) {
            subs.key = Some(name.to_string());
            return true;
        }
    }
    false
}

pub(crate) async fn raw(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    ws: WebSocketUpgrade,
) -> Response {
    let mut subs = Subs::default();
    let known = add_stream(&app, &mut subs, &name, app.now_ms());
    ws.on_upgrade(move |socket| streams(socket, app, subs, !known))
}

pub(crate) async fn bare(State(app): State<Arc<App>>, ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(move |socket| streams(socket, app, Subs::default(), false))
}

/// `/private/ws?listenKey=…` (USDⓈ-M's routed user-data path).
pub(crate) async fn private_query(
    State(app): State<Arc<App>>,
    Query(q): Query<HashMap<String, String>>,
    ws: WebSocketUpgrade,
) -> Response {
    let mut subs = Subs::default();
    let known = q
        .get("listenKey")
        .is_some_and(|k| add_stream(&app, &mut subs, k, app.now_ms()));
    ws.on_upgrade(move |socket| streams(socket, app, subs, !known))
}

pub(crate) async fn combined(
    State(app): State<Arc<App>>,
    Query(q): Query<HashMap<String, String>>,
    ws: WebSocketUpgrade,
) -> Response {
    let mut subs = Subs {
        combined: true,
        ..Subs::default()
    };
    let now = app.now_ms();
    let mut bad = false;
    for name in q
        .get("streams")
        .map(String::as_str)
        .unwrap_or("")
        .split('/')
    {
        if !name.is_empty() && !add_stream(&app, &mut subs, name, now) {
            bad = true;
        }
    }
    if subs.tickers.is_empty() && subs.key.is_none() && bad {
        return ws.on_upgrade(move |socket| streams(socket, app, Subs::default(), true));
    }
    ws.on_upgrade(move |socket| streams(socket, app, subs, false))
}

async fn send(socket: &mut WebSocket, v: &Value) -> bool {
    socket
        .send(Message::Text(v.to_string().into()))
        .await
        .is_ok()
}

async fn streams(mut socket: WebSocket, app: Arc<App>, mut subs: Subs, refuse: bool) {
    if refuse {
        // An unknown stream or a listen key that does not exist: Binance ends the connection.
        return;
    }
    let _open = Open::new(&app);
    let mut market = app.market_tx.subscribe();
    let mut user = app.user_tx.subscribe();
    let mut dropper = app.drop_tx.subscribe();
    let mut ping = tokio::time::interval(Duration::from_secs(20));
    ping.tick().await;
    loop {
        tokio::select! {
            m = socket.recv() => match m {
                Some(Ok(Message::Text(t))) => {
                    if let Some(reply) = control(&app, &mut subs, t.as_str()) {
                        if !send(&mut socket, &reply).await { return; }
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
            r = market.recv() => match r {
                Ok((i, v)) if subs.tickers.contains(&i) => {
                    let msg = if subs.combined {
                        json!({"stream": ticker_name(&app, i), "data": &*v})
                    } else {
                        (*v).clone()
                    };
                    if !send(&mut socket, &msg).await { return; }
                }
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return,
            },
            r = user.recv() => match r {
                Ok(UserMsg::Event(e)) => {
                    if let Some(k) = &subs.key {
                        let msg = if subs.combined { json!({"stream": k, "data": &*e}) } else { (*e).clone() };
                        if !send(&mut socket, &msg).await { return; }
                    }
                }
                Ok(UserMsg::KeyGone(k, ev)) => {
                    if subs.key.as_deref() == Some(k.as_str()) {
                        if let Some(e) = ev {
                            let msg = if subs.combined { json!({"stream": k, "data": &*e}) } else { (*e).clone() };
                            let _ = send(&mut socket, &msg).await;
                        }
                        let _ = socket.send(Message::Close(None)).await;
                        return;
                    }
                }
                Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return,
            },
            _ = dropper.changed() => return,
            _ = ping.tick() => {
                if socket.send(Message::Ping(Vec::new().into())).await.is_err() { return; }
            }
        }
    }
}

/// Live subscription requests on a stream connection.
fn control(app: &App, subs: &mut Subs, text: &str) -> Option<Value> {
    let v: Value = serde_json::from_str(text).ok()?;
    let id = v.get("id").cloned().unwrap_or(Value::Null);
    let params: Vec<String> = v
        .get("params")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let now = app.now_ms();
    match v.get("method").and_then(Value::as_str) {
        Some("SUBSCRIBE") => {
            for p in &params {
                if !add_stream(app, subs, p, now) {
                    return Some(
                        json!({"error": {"code": 2, "msg": format!("Invalid request: unknown stream {p}")}, "id": id}),
                    );
                }
            }
            Some(json!({"result": null, "id": id}))
        }
        Some("UNSUBSCRIBE") => {
            let ex = lock(&app.ex);
            for p in &params {
                if let Some(i) = p
                    .strip_suffix("@bookTicker")
                    .and_then(|s| ex.symbol(&s.to_uppercase()))
                {
                    subs.tickers.remove(&i);
                }
                if subs.key.as_deref() == Some(p.as_str()) {
                    subs.key = None;
                }
            }
            Some(json!({"result": null, "id": id}))
        }
        Some("LIST_SUBSCRIPTIONS") => {
            let ex = lock(&app.ex);
            let mut l: Vec<String> = subs
                .tickers
                .iter()
                .map(|i| format!("{}@bookTicker", ex.symbols[*i].name.to_lowercase()))
                .collect();
            l.extend(subs.key.clone());
            Some(json!({"result": l, "id": id}))
        }
        _ => Some(json!({"error": {"code": 3, "msg": "Invalid JSON: unknown method"}, "id": id})),
    }
}

// ---- spot WebSocket API ---------------------------------------------------------------

pub(crate) async fn ws_api(State(app): State<Arc<App>>, ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(move |socket| api_session(socket, app))
}

#[derive(PartialEq)]
enum SubKind {
    Logon,
    Signature,
}

struct Session {
    connected: i64,
    logon: Option<(String, i64)>,
    subs: BTreeMap<u32, SubKind>,
    next_sub: u32,
}

impl Session {
    fn status(&self, now: i64) -> Value {
        json!({
            "apiKey": self.logon.as_ref().map(|l| l.0.clone()),
            "authorizedSince": self.logon.as_ref().map(|l| l.1),
            "connectedSince": self.connected, "returnRateLimits": false, "serverTime": now,
            "userDataStream": !self.subs.is_empty()
        })
    }
}

async fn api_session(mut socket: WebSocket, app: Arc<App>) {
    if app.proto != Protocol::Spot {
        return;
    }
    let _open = Open::new(&app);
    let mut user = app.user_tx.subscribe();
    let mut dropper = app.drop_tx.subscribe();
    let mut ping = tokio::time::interval(Duration::from_secs(20));
    ping.tick().await;
    let mut s = Session {
        connected: app.now_ms(),
        logon: None,
        subs: BTreeMap::new(),
        next_sub: 0,
    };
    loop {
        tokio::select! {
            m = socket.recv() => match m {
                Some(Ok(Message::Text(t))) => {
                    for reply in api_request(&app, &mut s, t.as_str()) {
                        if !send(&mut socket, &reply).await { return; }
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
            r = user.recv() => match r {
                Ok(UserMsg::Event(e)) => {
                    let ids: Vec<u32> = s.subs.keys().copied().collect();
                    for id in ids {
                        if !send(&mut socket, &json!({"subscriptionId": id, "event": &*e})).await { return; }
                    }
                }
                Ok(UserMsg::KeyGone(..)) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return,
            },
            _ = dropper.changed() => return,
            _ = ping.tick() => {
                if socket.send(Message::Ping(Vec::new().into())).await.is_err() { return; }
            }
        }
    }
}

fn rate_limits(app: &App) -> Value {
    json!([{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
            "limit": app.settings.weight_limit, "count": 2}])
}

fn terminated(id: u32, now: i64) -> Value {
    json!({"subscriptionId": id, "event": {"e": "eventStreamTerminated", "E": now}})
}

/// One WebSocket API request; the answer first, then any events it caused.
fn api_request(app: &App, s: &mut Session, text: &str) -> Vec<Value> {
    let now = app.now_ms();
    let Ok(v) = serde_json::from_str::<Value>(text) else {
        return vec![json!({"id": null, "status": 400,
            "error": {"code": -1102, "msg": "Mandatory parameter 'id' was not sent, was empty/null, or malformed."}})];
    };
    let id = v.get("id").cloned().unwrap_or(Value::Null);
    let empty = serde_json::Map::new();
    let params = v.get("params").and_then(Value::as_object).unwrap_or(&empty);
    let method = v.get("method").and_then(Value::as_str).unwrap_or("");
    let method = method.strip_prefix("v3/").unwrap_or(method);
    let mut extra = Vec::new();
    let r: Result<Value, ApiErr> = match method {
        "ping" => Ok(json!({})),
        "time" => Ok(json!({"serverTime": now})),
        "session.logon" => signed(app, params).and_then(|name| {
            if !app.key(&name).is_some_and(|k| k.is_ed25519()) {
                return Err(ApiErr::bad(-4056, "HMAC_SHA256 API key is not supported."));
            }
            s.logon = Some((name, now));
            Ok(s.status(now))
        }),
        "session.status" => Ok(s.status(now)),
        "session.logout" => {
            s.logon = None;
            let ids: Vec<u32> = s
                .subs
                .iter()
                .filter(|(_, k)| **k == SubKind::Logon)
                .map(|(i, _)| *i)
                .collect();
            for i in ids {
                s.subs.remove(&i);
                extra.push(terminated(i, now));
            }
            Ok(s.status(now))
        }
        "userDataStream.subscribe" => match &s.logon {
            None => Err(ApiErr::new(
                401,
                -2015,
                "Invalid API-key, IP, or permissions for action.",
            )),
            Some(_) => {
                let existing = s
                    .subs
                    .iter()
                    .find(|(_, k)| **k == SubKind::Logon)
                    .map(|(i, _)| *i);
                let i = existing.unwrap_or_else(|| {
                    let i = s.next_sub;
                    s.next_sub += 1;
                    s.subs.insert(i, SubKind::Logon);
                    i
                });
                Ok(json!({"subscriptionId": i}))
            }
        },
        "userDataStream.subscribe.signature" => signed(app, params).map(|_| {
            let i = s.next_sub;
            s.next_sub += 1;
            s.subs.insert(i, SubKind::Signature);
            json!({"subscriptionId": i})
        }),
        "userDataStream.unsubscribe" => {
            let ids: Vec<u32> = match params.get("subscriptionId").and_then(Value::as_u64) {
                Some(i) => vec![i as u32],
                None => s.subs.keys().copied().collect(),
            };
            for i in ids {
                if s.subs.remove(&i).is_some() {
                    extra.push(terminated(i, now));
                }
            }
            Ok(json!({}))
        }
        "session.subscriptions" => Ok(Value::Array(
            s.subs
                .keys()
                .map(|i| json!({"subscriptionId": i}))
                .collect(),
        )),
        _ => Err(ApiErr::bad(-1100, format!("Unknown method '{method}'."))),
    };
    let mut out = vec![match r {
        Ok(result) => {
            json!({"id": id, "status": 200, "result": result, "rateLimits": rate_limits(app)})
        }
        Err(e) => {
            json!({"id": id, "status": e.status, "error": e.body(), "rateLimits": rate_limits(app)})
        }
    }];
    out.extend(extra);
    out
}

/// A SIGNED WebSocket API request: the key's name when key, time and signature hold.
fn signed(app: &App, params: &serde_json::Map<String, Value>) -> Result<String, ApiErr> {
    let name = params
        .get("apiKey")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiErr::mandatory("apiKey"))?;
    let key = app.key(name).ok_or_else(|| {
        ApiErr::new(
            401,
            -2015,
            "Invalid API-key, IP, or permissions for action.",
        )
    })?;
    let as_text = |k: &str| {
        params.get(k).map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    };
    auth::check_time(
        app.now_us(),
        as_text("timestamp").as_deref(),
        as_text("recvWindow").as_deref(),
    )?;
    let sig = params
        .get("signature")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiErr::mandatory("signature"))?;
    if !auth::verify(&key.kind, auth::ws_payload(params).as_bytes(), sig) {
        return Err(ApiErr::bad(
            -1022,
            "Signature for this request is not valid.",
        ));
    }
    Ok(name.to_string())
}
