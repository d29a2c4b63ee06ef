//! The HTTP side: shared state, rate limits, authentication and the REST endpoints of
//! spot (`/api/v3/…`) and USDⓈ-M (`/fapi/v1|v2|v3/…`). Every handler locks the
//! exchange briefly, answers, then publishes the user-data events the change made.

use crate::auth::{self, ApiKey};
use crate::decimal::{self as dec, DecErr};
use crate::errors::ApiErr;
use crate::exchange::{Exchange, Kind, NewOrder, Protocol, Tif};
use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::{broadcast, watch};

/// What user-data connections hear.
#[derive(Clone, Debug)]
pub(crate) enum UserMsg {
    Event(Arc<Value>),
    /// A listen key expired or was deleted: its connections end (after this event, if any).
    KeyGone(String, Option<Arc<Value>>),
}

pub(crate) struct Settings {
    pub(crate) weight_limit: u64,
    pub(crate) order_limit_10s: u64,
    /// Spot: per day; USDⓈ-M: per minute.
    pub(crate) order_limit_long: u64,
    pub(crate) ban_after: u32,
    pub(crate) ban_secs: i64,
    pub(crate) listen_key_ms: i64,
}

#[derive(Default)]
pub(crate) struct Limits {
    minute: i64,
    weight: u64,
    window_10s: i64,
    orders_10s: u64,
    window_long: i64,
    orders_long: u64,
    pub(crate) throttle_left: u32,
    pub(crate) throttle_secs: i64,
    retry_until: i64,
    violations: u32,
    pub(crate) ban_until: i64,
    pub(crate) throttled: u64,
    pub(crate) banned: u64,
}

pub(crate) struct App {
    pub(crate) proto: Protocol,
    pub(crate) ex: Mutex<Exchange>,
    pub(crate) keys: Vec<ApiKey>,
    pub(crate) skew_ms: AtomicI64,
    pub(crate) limits: Mutex<Limits>,
    pub(crate) settings: Settings,
    pub(crate) user_tx: broadcast::Sender<UserMsg>,
    /// (symbol index, bookTicker payload) on every price step.
    pub(crate) market_tx: broadcast::Sender<(usize, Arc<Value>)>,
    /// Bumped by `drop-stream`: every WebSocket ends without a close frame.
    pub(crate) drop_tx: watch::Sender<u64>,
    /// `quotes off` clears it: the price paths keep stepping and matching, but no
    /// bookTicker is pushed and the market streams stay open (a silent feed, not a
    /// dropped one).
    pub(crate) quotes_on: AtomicBool,
    pub(crate) ws_open: AtomicUsize,
    pub(crate) listen_keys: Mutex<BTreeMap<String, i64>>,
    pub(crate) requests: AtomicU64,
    pub(crate) key_seq: AtomicU64,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl App {
    pub(crate) fn now_ms(&self) -> i64 {
        self.now_us() / 1000
    }

    pub(crate) fn now_us(&self) -> i64 {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_micros() as i64)
            .unwrap_or(0);
        t + self.skew_ms.load(Ordering::Relaxed) * 1000
    }

    /// Sends what the exchange queued to every user-data subscriber.
    pub(crate) fn publish(&self, events: Vec<Value>) {
        for e in events {
            let _ = self.user_tx.send(UserMsg::Event(Arc::new(e)));
        }
    }

    pub(crate) fn key(&self, name: &str) -> Option<&ApiKey> {
        self.keys.iter().find(|k| k.name == name)
    }

    pub(crate) fn book_ticker(&self, ex: &Exchange, i: usize, now: i64) -> Value {
        let s = &ex.symbols[i];
        let qty = dec::fixed(
            1000 * dec::SCALE,
            if self.proto == Protocol::Spot { 8 } else { 3 },
        );
        match self.proto {
            Protocol::Spot => json!({
                "u": s.path.update_id, "s": s.name,
                "b": dec::fixed(s.path.bid(), 8), "B": qty,
                "a": dec::fixed(s.path.ask(), 8), "A": qty
            }),
            Protocol::Usdm => json!({
                "e": "bookTicker", "u": s.path.update_id, "E": now, "T": now, "s": s.name,
                "b": dec::trim(s.path.bid()), "B": qty,
                "a": dec::trim(s.path.ask()), "A": qty
            }),
        }
    }
}

/// One REST request, parameters from the query string and the form body (the query
/// string wins when both carry a name).
struct Req {
    query: String,
    body: String,
    params: BTreeMap<String, String>,
    api_key: Option<String>,
}

impl Req {
    fn get(&self, k: &str) -> Option<&str> {
        self.params
            .get(k)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    fn need(&self, k: &str) -> Result<&str, ApiErr> {
        self.get(k).ok_or_else(|| ApiErr::mandatory(k))
    }
}

fn parse_pairs(raw: &str, into: &mut BTreeMap<String, String>) -> Result<(), ApiErr> {
    for pair in raw.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let k = auth::form_decode(k)
            .ok_or_else(|| ApiErr::bad(-1100, "Illegal characters found in a parameter."))?;
        let v = auth::form_decode(v)
            .ok_or_else(|| ApiErr::bad(-1100, "Illegal characters found in a parameter."))?;
        into.entry(k).or_insert(v);
    }
    Ok(())
}

fn json_response(status: u16, body: &Value, headers: &[(String, String)]) -> Response {
    let mut r = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
        [("content-type", "application/json;charset=UTF-8")],
        body.to_string(),
    )
        .into_response();
    for (k, v) in headers {
        if let (Ok(n), Ok(v)) = (
            axum::http::HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            r.headers_mut().insert(n, v);
        }
    }
    r
}

enum Sec {
    None,
    /// API key only (USDⓈ-M listen keys).
    Key,
    Signed,
}

/// Route table: (weight, security, counts as an order).
fn route(proto: Protocol, m: &Method, path: &str, all: bool) -> Option<(u64, Sec, bool)> {
    use Sec::*;
    let r = match (proto, m.as_str(), path) {
        (Protocol::Spot, "GET", "/api/v3/ping") => (1, None, false),
        (Protocol::Spot, "GET", "/api/v3/time") => (1, None, false),
        (Protocol::Spot, "GET", "/api/v3/exchangeInfo") => (20, None, false),
        (Protocol::Spot, "GET", "/api/v3/ticker/bookTicker") => {
            (if all { 4 } else { 2 }, None, false)
        }
        (Protocol::Spot, "POST", "/api/v3/order") => (1, Signed, true),
        (Protocol::Spot, "DELETE", "/api/v3/order") => (1, Signed, false),
        (Protocol::Spot, "GET", "/api/v3/order") => (4, Signed, false),
        (Protocol::Spot, "POST", "/api/v3/order/cancelReplace") => (1, Signed, true),
        (Protocol::Spot, "GET", "/api/v3/openOrders") => (if all { 80 } else { 6 }, Signed, false),
        (Protocol::Spot, "GET", "/api/v3/account") => (20, Signed, false),
        (Protocol::Usdm, "GET", "/fapi/v1/ping") => (1, None, false),
        (Protocol::Usdm, "GET", "/fapi/v1/time") => (1, None, false),
        (Protocol::Usdm, "GET", "/fapi/v1/exchangeInfo") => (1, None, false),
        (Protocol::Usdm, "GET", "/fapi/v1/ticker/bookTicker") => {
            (if all { 5 } else { 2 }, None, false)
        }
        (Protocol::Usdm, "POST", "/fapi/v1/order") => (1, Signed, true),
        (Protocol::Usdm, "PUT", "/fapi/v1/order") => (1, Signed, true),
        (Protocol::Usdm, "DELETE", "/fapi/v1/order") => (1, Signed, false),
        (Protocol::Usdm, "GET", "/fapi/v1/order") => (1, Signed, false),
        (Protocol::Usdm, "GET", "/fapi/v1/openOrders") => (if all { 40 } else { 1 }, Signed, false),
        (Protocol::Usdm, "GET", "/fapi/v2/account" | "/fapi/v3/account") => (5, Signed, false),
        (Protocol::Usdm, "GET", "/fapi/v2/positionRisk" | "/fapi/v3/positionRisk") => {
            (5, Signed, false)
        }
        (Protocol::Usdm, "GET", "/fapi/v2/balance" | "/fapi/v3/balance") => (5, Signed, false),
        (Protocol::Usdm, "POST" | "PUT" | "DELETE", "/fapi/v1/listenKey") => (1, Key, false),
        (Protocol::Usdm, "POST", "/fapi/v1/algoOrder") => (0, Signed, true),
        (Protocol::Usdm, "DELETE", "/fapi/v1/algoOrder") => (1, Signed, false),
        (Protocol::Usdm, "GET", "/fapi/v1/algoOrder") => (1, Signed, false),
        (Protocol::Usdm, "GET", "/fapi/v1/openAlgoOrders") => {
            (if all { 40 } else { 1 }, Signed, false)
        }
        _ => return Option::None,
    };
    Some(r)
}

/// Every REST request lands here (the WebSocket paths are routed before it).
pub(crate) async fn rest(
    axum::extract::State(app): axum::extract::State<Arc<App>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    app.requests.fetch_add(1, Ordering::Relaxed);
    let query = uri.query().unwrap_or("").to_string();
    let body = String::from_utf8_lossy(&body).into_owned();
    let mut params = BTreeMap::new();
    let parsed = parse_pairs(&query, &mut params).and_then(|_| parse_pairs(&body, &mut params));
    let api_key = headers
        .get("X-MBX-APIKEY")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let req = Req {
        query,
        body,
        params,
        api_key,
    };
    let path = uri.path();
    let all = req.get("symbol").is_none();
    let Some((weight, sec, is_order)) = route(app.proto, &method, path, all) else {
        return json_response(
            404,
            &json!({"code": -1000, "msg": format!("Path {path}, Method {method} is invalid")}),
            &[],
        );
    };
    let now = app.now_ms();
    let mut hdr = match admit(&app, weight, is_order, now) {
        Ok(h) => h,
        Err((status, e, h)) => return json_response(status, &e.body(), &h),
    };
    if let Err(e) = parsed {
        return json_response(e.status, &e.body(), &hdr);
    }
    let out = authenticate(&app, &req, &sec).and_then(|_| dispatch(&app, &method, path, &req, now));
    match out {
        Ok(v) => {
            if is_order {
                hdr.extend(count_order(&app, now));
            }
            json_response(200, &v, &hdr)
        }
        Err(e) => json_response(e.status, &e.body(), &hdr),
    }
}

type Refusal = (u16, ApiErr, Vec<(String, String)>);

/// Weight, throttling (`throttle N`), bans (`ban`, or repeated requests inside a
/// Retry-After): Binance's 429 / 418 with Retry-After in seconds.
fn admit(
    app: &App,
    weight: u64,
    is_order: bool,
    now: i64,
) -> Result<Vec<(String, String)>, Refusal> {
    let mut l = lock(&app.limits);
    let s = &app.settings;
    let secs = |until: i64| ((until - now + 999) / 1000).max(1).to_string();
    if now < l.ban_until {
        l.banned += 1;
        let until = l.ban_until;
        return Err((
            418,
            ApiErr::new(418, -1003, format!("Way too much request weight used; IP banned until {until}. Please use WebSocket Streams for live updates to avoid bans.")),
            vec![("Retry-After".into(), secs(until))],
        ));
    }
    if now < l.retry_until {
        l.violations += 1;
        if l.violations >= s.ban_after {
            l.ban_until = now + s.ban_secs * 1000;
            l.violations = 0;
            l.retry_until = 0;
            l.banned += 1;
            let until = l.ban_until;
            return Err((
                418,
                ApiErr::new(418, -1003, format!("Way too much request weight used; IP banned until {until}. Please use WebSocket Streams for live updates to avoid bans.")),
                vec![("Retry-After".into(), secs(until))],
            ));
        }
        l.throttled += 1;
        l.throttle_left = l.throttle_left.saturating_sub(1);
        let until = l.retry_until;
        return Err((429, too_much(s), vec![("Retry-After".into(), secs(until))]));
    }
    let minute = now / 60_000;
    if minute != l.minute {
        l.minute = minute;
        l.weight = 0;
    }
    if l.throttle_left > 0 {
        l.throttle_left -= 1;
        l.throttled += 1;
        l.retry_until = now + l.throttle_secs.max(1) * 1000;
        let until = l.retry_until;
        return Err((429, too_much(s), vec![("Retry-After".into(), secs(until))]));
    }
    l.weight += weight;
    let used = vec![("X-MBX-USED-WEIGHT-1M".to_string(), l.weight.to_string())];
    if l.weight > s.weight_limit {
        l.throttled += 1;
        l.retry_until = (minute + 1) * 60_000;
        let mut h = used;
        h.push(("Retry-After".into(), secs(l.retry_until)));
        return Err((429, too_much(s), h));
    }
    if is_order {
        roll_orders(&mut l, app.proto, now);
        let (n10, nl) = (l.orders_10s + 1, l.orders_long + 1);
        let (per, limit) = if n10 > s.order_limit_10s {
            ("10 SECOND", s.order_limit_10s)
        } else if nl > s.order_limit_long {
            (
                if app.proto == Protocol::Spot {
                    "1 DAY"
                } else {
                    "1 MINUTE"
                },
                s.order_limit_long,
            )
        } else {
            return Ok(used);
        };
        l.throttled += 1;
        let until = if per == "10 SECOND" {
            (now / 10_000 + 1) * 10_000
        } else {
            l.window_long_end(app.proto)
        };
        l.retry_until = until;
        let mut h = used;
        h.push(("Retry-After".into(), secs(until)));
        return Err((
            429,
            ApiErr::new(
                429,
                -1015,
                format!("Too many new orders; current limit is {limit} orders per {per}."),
            ),
            h,
        ));
    }
    Ok(used)
}

impl Limits {
    pub(crate) fn new() -> Limits {
        Limits {
            throttle_secs: 1,
            ..Limits::default()
        }
    }

    fn window_long_end(&self, proto: Protocol) -> i64 {
        let len = if proto == Protocol::Spot {
            86_400_000
        } else {
            60_000
        };
        (self.window_long + 1) * len
    }
}

fn roll_orders(l: &mut Limits, proto: Protocol, now: i64) {
    let w10 = now / 10_000;
    if w10 != l.window_10s {
        l.window_10s = w10;
        l.orders_10s = 0;
    }
    let wl = now
        / if proto == Protocol::Spot {
            86_400_000
        } else {
            60_000
        };
    if wl != l.window_long {
        l.window_long = wl;
        l.orders_long = 0;
    }
}

fn count_order(app: &App, now: i64) -> Vec<(String, String)> {
    let mut l = lock(&app.limits);
    roll_orders(&mut l, app.proto, now);
    l.orders_10s += 1;
    l.orders_long += 1;
    let long = if app.proto == Protocol::Spot {
        "X-MBX-ORDER-COUNT-1D"
    } else {
        "X-MBX-ORDER-COUNT-1M"
    };
    vec![
        (
            "X-MBX-ORDER-COUNT-10S".to_string(),
            l.orders_10s.to_string(),
        ),
        (long.to_string(), l.orders_long.to_string()),
    ]
}

fn too_much(s: &Settings) -> ApiErr {
    ApiErr::new(
        429,
        -1003,
        format!(
            "Too much request weight used; current limit is {} request weight per 1 MINUTE. Please use WebSocket Streams for live updates to avoid polling the API.",
            s.weight_limit
        ),
    )
}

fn authenticate(app: &App, req: &Req, sec: &Sec) -> Result<(), ApiErr> {
    if matches!(sec, Sec::None) {
        return Ok(());
    }
    let name = req
        .api_key
        .as_deref()
        .filter(|k| !k.is_empty())
        .ok_or_else(|| ApiErr::new(401, -2014, "API-key format invalid."))?;
    let key = app.key(name).ok_or_else(|| {
        ApiErr::new(
            401,
            -2015,
            "Invalid API-key, IP, or permissions for action.",
        )
    })?;
    if matches!(sec, Sec::Key) {
        return Ok(());
    }
    auth::check_time(app.now_us(), req.get("timestamp"), req.get("recvWindow"))?;
    let (q, qs) = auth::take_signature(&req.query);
    let (b, bs) = auth::take_signature(&req.body);
    let sig = qs
        .or(bs)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiErr::mandatory("signature"))?;
    let sig = auth::form_decode(&sig).unwrap_or_default();
    let payload = format!("{q}{b}");
    if !auth::verify(&key.kind, payload.as_bytes(), &sig) {
        return Err(ApiErr::bad(
            -1022,
            "Signature for this request is not valid.",
        ));
    }
    Ok(())
}

fn decimal(req: &Req, name: &str) -> Result<Option<i64>, ApiErr> {
    let Some(v) = req.get(name) else {
        return Ok(None);
    };
    match dec::parse(v) {
        Ok(x) => Ok(Some(x)),
        Err(DecErr::TooPrecise) => Err(ApiErr::bad(-1111, format!("Parameter '{name}' has too much precision."))),
        Err(DecErr::Malformed) => Err(ApiErr::bad(
            -1100,
            format!("Illegal characters found in parameter '{name}'; legal range is '^([0-9]{{1,20}})(\\.[0-9]{{1,20}})?$'."),
        )),
    }
}

fn symbol_of(ex: &Exchange, req: &Req) -> Result<usize, ApiErr> {
    let s = req.need("symbol")?;
    ex.symbol(s)
        .ok_or_else(|| ApiErr::bad(-1121, "Invalid symbol."))
}

fn order_id(req: &Req, name: &str) -> Result<Option<u64>, ApiErr> {
    req.get(name)
        .map(|v| v.parse::<u64>().map_err(|_| ApiErr::bad_param(name)))
        .transpose()
}

fn side(req: &Req) -> Result<bool, ApiErr> {
    match req.need("side")? {
        "BUY" => Ok(true),
        "SELL" => Ok(false),
        _ => Err(ApiErr::bad(-1117, "Invalid side.")),
    }
}

fn not_required(req: &Req, name: &str) -> Result<(), ApiErr> {
    if req.get(name).is_some() {
        return Err(ApiErr::bad(
            -1106,
            format!("Parameter '{name}' sent when not required."),
        ));
    }
    Ok(())
}

/// The order parameters of POST /api/v3/order (and the new half of cancelReplace).
fn spot_new_order(ex: &Exchange, req: &Req) -> Result<(NewOrder, String), ApiErr> {
    let sym = symbol_of(ex, req)?;
    let buy = side(req)?;
    let kind = match req.need("type")? {
        "MARKET" => Kind::Market,
        "LIMIT" => Kind::Limit,
        "STOP_LOSS_LIMIT" => Kind::StopLossLimit,
        _ => return Err(ApiErr::bad(-1116, "Invalid orderType.")),
    };
    let qty = decimal(req, "quantity")?;
    let price = decimal(req, "price")?;
    let stop = decimal(req, "stopPrice")?;
    let tif = match (kind, req.get("timeInForce")) {
        (Kind::Market, Some(_)) => {
            return Err(ApiErr::bad(
                -1106,
                "Parameter 'timeInForce' sent when not required.",
            ))
        }
        (Kind::Market, None) => Tif::Gtc,
        (_, None) => return Err(ApiErr::mandatory("timeInForce")),
        (_, Some("GTC")) => Tif::Gtc,
        (_, Some("IOC")) => Tif::Ioc,
        (_, Some("FOK")) => Tif::Fok,
        _ => return Err(ApiErr::bad(-1115, "Invalid timeInForce.")),
    };
    if kind == Kind::Market {
        not_required(req, "price")?;
        not_required(req, "stopPrice")?;
        if req.get("quoteOrderQty").is_some() {
            return Err(ApiErr::bad(
                -1013,
                "Quote order qty market orders are not supported for this symbol.",
            ));
        }
    }
    if kind == Kind::Limit {
        not_required(req, "stopPrice")?;
    }
    let qty = qty.ok_or_else(|| ApiErr::mandatory("quantity"))?;
    let price = if kind == Kind::Market {
        0
    } else {
        price.ok_or_else(|| ApiErr::mandatory("price"))?
    };
    let stop = if kind == Kind::StopLossLimit {
        stop.ok_or_else(|| ApiErr::mandatory("stopPrice"))?
    } else {
        0
    };
    let client_id = client_id(req, "newClientOrderId")?;
    let resp = match req.get("newOrderRespType") {
        None if matches!(kind, Kind::Market | Kind::Limit) => "FULL",
        None => "ACK",
        Some(r @ ("ACK" | "RESULT" | "FULL")) => r,
        Some(_) => return Err(ApiErr::bad_param("newOrderRespType")),
    };
    Ok((
        NewOrder {
            sym,
            buy,
            kind,
            tif,
            price,
            stop,
            qty,
            client_id,
            reduce_only: false,
        },
        resp.to_string(),
    ))
}

fn client_id(req: &Req, name: &str) -> Result<Option<String>, ApiErr> {
    match req.get(name) {
        None => Ok(None),
        Some(c) if crate::exchange::valid_client_id(c) => Ok(Some(c.to_string())),
        Some(_) => Err(ApiErr::bad(
            -1100,
            format!("Illegal characters found in parameter '{name}'; legal range is '^[\\.A-Z\\:/a-z0-9_-]{{1,36}}$'."),
        )),
    }
}

fn futures_new_order(ex: &Exchange, req: &Req) -> Result<(NewOrder, String), ApiErr> {
    let sym = symbol_of(ex, req)?;
    let buy = side(req)?;
    let kind = match req.need("type")? {
        "MARKET" => Kind::Market,
        "LIMIT" => Kind::Limit,
        "STOP" | "STOP_MARKET" | "TAKE_PROFIT" | "TAKE_PROFIT_MARKET" | "TRAILING_STOP_MARKET" => {
            return Err(ApiErr::bad(-4120, "Order type not supported for this endpoint. Please use the Algo Order API endpoints instead."));
        }
        _ => return Err(ApiErr::bad(-1116, "Invalid orderType.")),
    };
    if let Some(ps) = req.get("positionSide") {
        if ps != "BOTH" {
            return Err(ApiErr::bad(
                -4061,
                "Order's position side does not match user's setting.",
            ));
        }
    }
    let reduce_only = reduce_only(req)?;
    let qty = decimal(req, "quantity")?.ok_or_else(|| ApiErr::mandatory("quantity"))?;
    let (price, tif) = if kind == Kind::Limit {
        let p = decimal(req, "price")?.ok_or_else(|| ApiErr::mandatory("price"))?;
        let tif = match req.need("timeInForce")? {
            "GTC" => Tif::Gtc,
            "IOC" => Tif::Ioc,
            "FOK" => Tif::Fok,
            "GTX" => Tif::Gtx,
            _ => return Err(ApiErr::bad(-1115, "Invalid timeInForce.")),
        };
        (p, tif)
    } else {
        (0, Tif::Gtc)
    };
    let client_id = client_id(req, "newClientOrderId")?;
    let resp = match req.get("newOrderRespType") {
        None | Some("ACK") => "ACK",
        Some("RESULT") => "RESULT",
        Some(_) => return Err(ApiErr::bad_param("newOrderRespType")),
    };
    Ok((
        NewOrder {
            sym,
            buy,
            kind,
            tif,
            price,
            stop: 0,
            qty,
            client_id,
            reduce_only,
        },
        resp.to_string(),
    ))
}

fn reduce_only(req: &Req) -> Result<bool, ApiErr> {
    match req.get("reduceOnly") {
        None | Some("false") | Some("FALSE") => Ok(false),
        Some("true") | Some("TRUE") => Ok(true),
        Some(_) => Err(ApiErr::bad_param("reduceOnly")),
    }
}

fn dispatch(app: &App, method: &Method, path: &str, req: &Req, now: i64) -> Result<Value, ApiErr> {
    let m = method.as_str();
    match (m, path) {
        ("GET", "/api/v3/ping" | "/fapi/v1/ping") => return Ok(json!({})),
        ("GET", "/api/v3/time" | "/fapi/v1/time") => return Ok(json!({"serverTime": now})),
        ("POST" | "PUT" | "DELETE", "/fapi/v1/listenKey") => return listen_key(app, m, now),
        _ => {}
    }
    let mut ex = lock(&app.ex);
    let out = match (m, path) {
        ("GET", "/api/v3/exchangeInfo" | "/fapi/v1/exchangeInfo") => {
            Ok(crate::info::exchange_info(app, &ex, req.get("symbol"), now))
        }
        ("GET", "/api/v3/ticker/bookTicker" | "/fapi/v1/ticker/bookTicker") => {
            book_ticker_rest(app, &ex, req, now)
        }
        ("POST", "/api/v3/order") => {
            let (n, resp) = spot_new_order(&ex, req)?;
            let (id, fills) = ex.place(n, now)?;
            Ok(ex.spot_response(&ex.orders[&id], &resp, &fills, now))
        }
        ("DELETE", "/api/v3/order") => {
            let sym = symbol_of(&ex, req)?;
            let (id, cl) = (order_id(req, "orderId")?, req.get("origClientOrderId"));
            if id.is_none() && cl.is_none() {
                return Err(ApiErr::bad(-1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!"));
            }
            let cancel_cl =
                client_id(req, "newClientOrderId")?.unwrap_or_else(|| format!("cancel{now}"));
            let id = ex
                .find(sym, id, cl)
                .ok_or_else(|| ApiErr::bad(-2011, "Unknown order sent."))?;
            ex.cancel(id, &cancel_cl, now)?;
            Ok(ex.spot_cancel_json(&ex.orders[&id], &cancel_cl, now))
        }
        ("GET", "/api/v3/order") => {
            let sym = symbol_of(&ex, req)?;
            let (id, cl) = (order_id(req, "orderId")?, req.get("origClientOrderId"));
            if id.is_none() && cl.is_none() {
                return Err(ApiErr::bad(-1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!"));
            }
            let id = ex
                .find(sym, id, cl)
                .ok_or_else(|| ApiErr::bad(-2013, "Order does not exist."))?;
            Ok(ex.spot_order_json(&ex.orders[&id]))
        }
        ("POST", "/api/v3/order/cancelReplace") => cancel_replace(&mut ex, req, now),
        ("GET", "/api/v3/openOrders" | "/fapi/v1/openOrders") => {
            let sym = match req.get("symbol") {
                Some(_) => Some(symbol_of(&ex, req)?),
                None => None,
            };
            let v: Vec<Value> = ex
                .orders
                .values()
                .filter(|o| o.status.open() && sym.is_none_or(|s| s == o.sym))
                .map(|o| {
                    if app.proto == Protocol::Spot {
                        ex.spot_order_json(o)
                    } else {
                        ex.futures_order_json(o)
                    }
                })
                .collect();
            Ok(Value::Array(v))
        }
        ("GET", "/api/v3/account") => Ok(crate::info::spot_account(
            &ex,
            req.get("omitZeroBalances") == Some("true"),
            now,
        )),
        ("POST", "/fapi/v1/order") => {
            let (n, resp) = futures_new_order(&ex, req)?;
            let ack = resp == "ACK";
            let (id, _) = ex.place(n, now)?;
            let o = &ex.orders[&id];
            let mut j = ex.futures_order_json(o);
            if ack {
                // ACK: the order as accepted, before any fill.
                j["status"] = json!("NEW");
                for k in ["executedQty", "cumQty", "cumQuote", "avgPrice"] {
                    j[k] = json!("0");
                }
                j["updateTime"] = json!(o.time);
            }
            Ok(j)
        }
        ("PUT", "/fapi/v1/order") => {
            let sym = symbol_of(&ex, req)?;
            let _ = side(req)?;
            let qty = decimal(req, "quantity")?.ok_or_else(|| ApiErr::mandatory("quantity"))?;
            let price = decimal(req, "price")?.ok_or_else(|| ApiErr::mandatory("price"))?;
            let (id, cl) = (order_id(req, "orderId")?, req.get("origClientOrderId"));
            if id.is_none() && cl.is_none() {
                return Err(ApiErr::mandatory("orderId"));
            }
            let id = ex
                .find(sym, id, cl)
                .ok_or_else(|| ApiErr::bad(-2013, "Order does not exist."))?;
            ex.amend(id, qty, price, now)?;
            Ok(ex.futures_order_json(&ex.orders[&id]))
        }
        ("DELETE", "/fapi/v1/order") => {
            let sym = symbol_of(&ex, req)?;
            let (id, cl) = (order_id(req, "orderId")?, req.get("origClientOrderId"));
            if id.is_none() && cl.is_none() {
                return Err(ApiErr::bad(
                    -1102,
                    "Either orderId or origClientOrderId must be sent.",
                ));
            }
            let id = ex
                .find(sym, id, cl)
                .ok_or_else(|| ApiErr::bad(-2011, "Unknown order sent."))?;
            ex.cancel(id, "", now)?;
            Ok(ex.futures_order_json(&ex.orders[&id]))
        }
        ("GET", "/fapi/v1/order") => {
            let sym = symbol_of(&ex, req)?;
            let (id, cl) = (order_id(req, "orderId")?, req.get("origClientOrderId"));
            if id.is_none() && cl.is_none() {
                return Err(ApiErr::bad(
                    -1102,
                    "Either orderId or origClientOrderId must be sent.",
                ));
            }
            let id = ex
                .find(sym, id, cl)
                .ok_or_else(|| ApiErr::bad(-2013, "Order does not exist."))?;
            Ok(ex.futures_order_json(&ex.orders[&id]))
        }
        ("GET", "/fapi/v2/account") => Ok(crate::info::futures_account(&ex, false, now)),
        ("GET", "/fapi/v3/account") => Ok(crate::info::futures_account(&ex, true, now)),
        ("GET", "/fapi/v2/positionRisk") => Ok(crate::info::position_risk(
            &ex,
            req.get("symbol"),
            false,
            now,
        )),
        ("GET", "/fapi/v3/positionRisk") => Ok(crate::info::position_risk(
            &ex,
            req.get("symbol"),
            true,
            now,
        )),
        ("GET", "/fapi/v2/balance" | "/fapi/v3/balance") => {
            Ok(crate::info::futures_balance(&ex, now))
        }
        ("POST", "/fapi/v1/algoOrder") => {
            if req.need("algoType")? != "CONDITIONAL" {
                return Err(ApiErr::bad_param("algoType"));
            }
            let sym = symbol_of(&ex, req)?;
            let buy = side(req)?;
            let kind = match req.need("type")? {
                "STOP_MARKET" => Kind::StopMarket,
                "TAKE_PROFIT_MARKET" => Kind::TakeProfitMarket,
                _ => return Err(ApiErr::bad(-1116, "Invalid orderType.")),
            };
            let trigger =
                decimal(req, "triggerPrice")?.ok_or_else(|| ApiErr::mandatory("triggerPrice"))?;
            let qty = decimal(req, "quantity")?.ok_or_else(|| ApiErr::mandatory("quantity"))?;
            let ro = reduce_only(req)?;
            let cl = client_id(req, "clientAlgoId")?;
            let id = ex.place_algo(sym, buy, kind, trigger, qty, ro, cl, now)?;
            ex.algo_json(id).ok_or_else(|| {
                ApiErr::bad(
                    -1000,
                    "An unknown error occurred while processing the request.",
                )
            })
        }
        ("DELETE", "/fapi/v1/algoOrder") => {
            let id = algo_id(&ex, req)?;
            ex.cancel_algo(id, now)?;
            Ok(
                json!({"algoId": id, "clientAlgoId": ex.algos[&id].client_id, "code": "200", "msg": "success"}),
            )
        }
        ("GET", "/fapi/v1/algoOrder") => {
            let id = algo_id(&ex, req).map_err(|_| ApiErr::bad(-2013, "Order does not exist."))?;
            ex.algo_json(id)
                .ok_or_else(|| ApiErr::bad(-2013, "Order does not exist."))
        }
        ("GET", "/fapi/v1/openAlgoOrders") => {
            let sym = req.get("symbol").and_then(|s| ex.symbol(s));
            let v: Vec<Value> = ex
                .algos
                .values()
                .filter(|a| a.status == "NEW" && sym.is_none_or(|s| s == a.sym))
                .filter_map(|a| ex.algo_json(a.id))
                .collect();
            Ok(Value::Array(v))
        }
        _ => Err(ApiErr::bad(
            -1000,
            "An unknown error occurred while processing the request.",
        )),
    };
    let events = ex.take_events();
    drop(ex);
    app.publish(events);
    out
}

fn algo_id(ex: &Exchange, req: &Req) -> Result<u64, ApiErr> {
    if let Some(id) = order_id(req, "algoId")? {
        return ex
            .algos
            .contains_key(&id)
            .then_some(id)
            .ok_or_else(|| ApiErr::bad(-2011, "Unknown order sent."));
    }
    let cl = req
        .get("clientAlgoId")
        .ok_or_else(|| ApiErr::mandatory("algoId"))?;
    ex.algos
        .values()
        .rev()
        .find(|a| a.client_id == cl)
        .map(|a| a.id)
        .ok_or_else(|| ApiErr::bad(-2011, "Unknown order sent."))
}

fn book_ticker_rest(app: &App, ex: &Exchange, req: &Req, now: i64) -> Result<Value, ApiErr> {
    let one = |i: usize| {
        let t = app.book_ticker(ex, i, now);
        let mut j = json!({
            "symbol": t["s"], "bidPrice": t["b"], "bidQty": t["B"], "askPrice": t["a"], "askQty": t["A"]
        });
        if app.proto == Protocol::Usdm {
            j["time"] = json!(now);
            j["lastUpdateId"] = t["u"].clone();
        }
        j
    };
    match req.get("symbol") {
        Some(_) => Ok(one(symbol_of(ex, req)?)),
        None => Ok(Value::Array((0..ex.symbols.len()).map(one).collect())),
    }
}

/// Whether an open order that filled `filled` may be canceled under `cancelRestrictions`
/// (ONLY_NEW: nothing filled yet; ONLY_PARTIALLY_FILLED: something).
fn restriction_holds(restriction: Option<&str>, filled: i64) -> bool {
    match restriction {
        Some("ONLY_NEW") => filled == 0,
        Some("ONLY_PARTIALLY_FILLED") => filled > 0,
        _ => true,
    }
}

/// Spot cancel-replace: the cancel's and the new order's outcomes, 200 / 400 / 409 as
/// the docs' table has them.
fn cancel_replace(ex: &mut Exchange, req: &Req, now: i64) -> Result<Value, ApiErr> {
    let sym = symbol_of(ex, req)?;
    let mode = req.need("cancelReplaceMode")?;
    if mode != "STOP_ON_FAILURE" && mode != "ALLOW_FAILURE" {
        return Err(ApiErr::bad_param("cancelReplaceMode"));
    }
    let (id, cl) = (
        order_id(req, "cancelOrderId")?,
        req.get("cancelOrigClientOrderId"),
    );
    if id.is_none() && cl.is_none() {
        return Err(ApiErr::bad(-1102, "Param 'cancelOrigClientOrderId' or 'cancelOrderId' must be sent, but both were empty/null!"));
    }
    // Parameters and filters of the new order are checked before anything happens.
    let (n, resp) = spot_new_order(ex, req)?;
    let cancel_cl =
        client_id(req, "cancelNewClientOrderId")?.unwrap_or_else(|| format!("cancel{now}"));
    // cancelRestrictions: the cancel half fails when the order is not in that state.
    let restriction = req.get("cancelRestrictions");
    let cancel = match ex.find(sym, id, cl) {
        Some(id) if !restriction_holds(restriction, ex.orders[&id].filled) => Err(ApiErr::bad(
            -2011,
            "Order was not canceled due to cancel restrictions.",
        )),
        Some(id) => ex
            .cancel(id, &cancel_cl, now)
            .map(|_| ex.spot_cancel_json(&ex.orders[&id], &cancel_cl, now)),
        None => Err(ApiErr::bad(-2011, "Unknown order sent.")),
    };
    let fail = |code: i64, status: u16, data: Value| -> ApiErr {
        let msg = if code == -2022 {
            "Order cancel-replace failed."
        } else {
            "Order cancel-replace partially failed."
        };
        ApiErr {
            data: Some(data),
            ..ApiErr::new(status, code, msg)
        }
    };
    let cancel_json = match &cancel {
        Ok(j) => j.clone(),
        Err(e) => e.body(),
    };
    if cancel.is_err() && mode == "STOP_ON_FAILURE" {
        return Err(fail(
            -2022,
            400,
            json!({
                "cancelResult": "FAILURE", "newOrderResult": "NOT_ATTEMPTED",
                "cancelResponse": cancel_json, "newOrderResponse": null
            }),
        ));
    }
    let placed = ex
        .place(n, now)
        .map(|(id, fills)| ex.spot_response(&ex.orders[&id], &resp, &fills, now));
    let cr = if cancel.is_ok() { "SUCCESS" } else { "FAILURE" };
    match placed {
        Ok(new) if cancel.is_ok() => Ok(json!({
            "cancelResult": "SUCCESS", "newOrderResult": "SUCCESS",
            "cancelResponse": cancel_json, "newOrderResponse": new
        })),
        Ok(new) => Err(fail(
            -2021,
            409,
            json!({
                "cancelResult": cr, "newOrderResult": "SUCCESS",
                "cancelResponse": cancel_json, "newOrderResponse": new
            }),
        )),
        Err(e) if cancel.is_ok() => Err(fail(
            -2021,
            409,
            json!({
                "cancelResult": cr, "newOrderResult": "FAILURE",
                "cancelResponse": cancel_json, "newOrderResponse": e.body()
            }),
        )),
        Err(e) => Err(fail(
            -2022,
            400,
            json!({
                "cancelResult": cr, "newOrderResult": "FAILURE",
                "cancelResponse": cancel_json, "newOrderResponse": e.body()
            }),
        )),
    }
}

/// USDⓈ-M listen keys: one per account; POST returns the live one (extended), PUT
/// extends it or answers -1125, DELETE ends its streams.
fn listen_key(app: &App, m: &str, now: i64) -> Result<Value, ApiErr> {
    let mut keys = lock(&app.listen_keys);
    let live = keys
        .iter()
        .find(|(_, exp)| **exp > now)
        .map(|(k, _)| k.clone());
    match m {
        "POST" => {
            let k = live.unwrap_or_else(|| {
                let n = app.key_seq.fetch_add(1, Ordering::Relaxed);
                let mut h =
                    xxhash_rust::xxh3::xxh3_128(&[n.to_le_bytes(), now.to_le_bytes()].concat());
                const A: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
                let mut s = String::new();
                for i in 0..64 {
                    if i == 21 || i == 42 {
                        h = xxhash_rust::xxh3::xxh3_128(&h.to_le_bytes());
                    }
                    s.push(A[(h % 62) as usize] as char);
                    h /= 62;
                }
                s
            });
            keys.insert(k.clone(), now + app.settings.listen_key_ms);
            Ok(json!({"listenKey": k}))
        }
        "PUT" => match live {
            Some(k) => {
                keys.insert(k.clone(), now + app.settings.listen_key_ms);
                Ok(json!({"listenKey": k}))
            }
            None => Err(ApiErr::bad(-1125, "This listenKey does not exist.")),
        },
        _ => {
            if let Some(k) = live {
                keys.remove(&k);
                let _ = app.user_tx.send(UserMsg::KeyGone(k, None));
            }
            Ok(json!({}))
        }
    }
}
