//! The Binance bridge through its real entry point (`BridgeVenue`, the `Venue` the core
//! drives) against a tiny in-test Binance stand-in on 127.0.0.1: REST and the spot
//! WebSocket API over real sockets, signatures checked on every signed request. What
//! the bridge must do, end to end: acks and fills from the user data stream, cancels,
//! a 429 with Retry-After refused at once (and nothing more sent meanwhile), an unknown
//! outcome (500) asked about by client order id and never resent, a dropped stream
//! reported down and then up with `Restarted`, and a wire log with no secret in it.

use execd::config::Registry;
use execd::model::fixed::{Price, Qty};
use execd::model::ids::{AccountId, ClOrdId, InstrumentId, OrderId, OrderType, Side, Tif, VenueId};
use execd::model::reason::Reason;
use execd::venue::bridge::sign::Signer;
use execd::venue::bridge::wire::read_messages;
use execd::venue::bridge::BridgeVenue;
use execd::venue::{Venue, VenueEventKind, VenueOrder, VenueOrderState};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SECRET: &str = "test-secret-not-real-0123456789";
const API_KEY: &str = "test-api-key-abcdef";

#[derive(Default)]
struct State {
    /// clientOrderId → (orderId, qty, price, status).
    orders: HashMap<String, (u64, String, String, String)>,
    /// POSTs of new orders per clientOrderId.
    posts: HashMap<String, u32>,
    /// Requests that arrived, by path.
    hits: Vec<String>,
    /// Answer the next new order with this status instead.
    next_status: Option<u16>,
    /// User data streams: a sender per live connection.
    streams: Vec<Sender<String>>,
    /// Set to drop every user data stream.
    bad_signatures: u32,
    next_id: u64,
    /// The next cancelReplace finds the old order filled this much meanwhile (a fill
    /// racing the request): told on the stream and in `cancelResponse`.
    race_fill: Option<String>,
}

struct Stand {
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    port: u16,
}

fn query_of(target: &str) -> (&str, HashMap<String, String>) {
    let (path, q) = target.split_once('?').unwrap_or((target, ""));
    let m = q
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    (path, m)
}

fn signed_ok(target: &str) -> bool {
    let Some((_, q)) = target.split_once('?') else {
        return false;
    };
    let Some((payload, sig)) = q.rsplit_once("&signature=") else {
        return false;
    };
    Signer::hmac(SECRET.as_bytes()).sign(payload.as_bytes()) == sig
}

fn exec_report(x: &str, status: &str, c: &str, orig: &str, id: u64, extra: Value) -> String {
    let mut v = json!({"e": "executionReport", "E": 1, "s": "BTCUSDT", "c": c, "C": orig,
        "S": "BUY", "o": "LIMIT", "x": x, "X": status, "i": id, "l": "0", "z": "0", "L": "0",
        "n": "0", "N": null, "t": -1});
    if let Value::Object(m) = extra {
        for (k, val) in m {
            v[k] = val;
        }
    }
    json!({"subscriptionId": 0, "event": v}).to_string()
}

fn broadcast(st: &mut State, msg: String) {
    st.streams.retain(|s| s.send(msg.clone()).is_ok());
}

fn rest(
    st: &Arc<Mutex<State>>,
    method: &str,
    target: &str,
    api_key: Option<&str>,
) -> (u16, String, Option<&'static str>) {
    let (path, q) = query_of(target);
    let mut s = st.lock().unwrap();
    s.hits.push(format!("{method} {path}"));
    let info = json!({"symbols": [{"symbol": "BTCUSDT", "filters": [
        {"filterType": "PRICE_FILTER", "tickSize": "0.01000000"},
        {"filterType": "LOT_SIZE", "stepSize": "0.00100000"},
        {"filterType": "NOTIONAL", "minNotional": "5.00000000"}]}]});
    match (method, path) {
        ("GET", "/api/v3/time") => return (200, json!({"serverTime": now_ms()}).to_string(), None),
        ("GET", "/api/v3/exchangeInfo") => return (200, info.to_string(), None),
        _ => {}
    }
    if api_key != Some(API_KEY) || !signed_ok(target) {
        s.bad_signatures += 1;
        return (
            400,
            json!({"code": -1022, "msg": "Signature for this request is not valid."}).to_string(),
            None,
        );
    }
    match (method, path) {
        ("POST", "/api/v3/order") => {
            let c = q["newClientOrderId"].clone();
            *s.posts.entry(c.clone()).or_default() += 1;
            if let Some(code) = s.next_status.take() {
                if code == 429 {
                    return (
                        429,
                        json!({"code": -1003, "msg": "Too many requests."}).to_string(),
                        Some("2"),
                    );
                }
                // 500 (or 0: the connection is cut with no answer at all): the order
                // went in all the same; the answer was lost.
                s.next_id += 1;
                let id = s.next_id;
                s.orders.insert(
                    c,
                    (id, q["quantity"].clone(), q["price"].clone(), "NEW".into()),
                );
                return (code, "internal".into(), None);
            }
            let id = place(&mut s, &c, &q);
            (
                200,
                json!({"symbol": "BTCUSDT", "orderId": id, "clientOrderId": c, "transactTime": 1})
                    .to_string(),
                None,
            )
        }
        ("POST", "/api/v3/order/cancelReplace") => {
            let orig = q["cancelOrigClientOrderId"].clone();
            let Some(o) = s.orders.get_mut(&orig).filter(|o| o.3 == "NEW") else {
                return (400, json!({"code": -2021, "msg": "Order cancel-replace failed.", "data": {"cancelResult": "FAILURE", "newOrderResult": "NOT_ATTEMPTED"}}).to_string(), None);
            };
            o.3 = "CANCELED".into();
            let (id, old_qty, old_px) = (o.0, o.1.clone(), o.2.clone());
            let executed = s.race_fill.take();
            if let Some(l) = &executed {
                broadcast(
                    &mut s,
                    exec_report(
                        "TRADE",
                        "PARTIALLY_FILLED",
                        &orig,
                        "",
                        id,
                        json!({"l": l, "z": l, "L": old_px, "t": 5000 + id, "n": "0", "N": "USDT"}),
                    ),
                );
            }
            broadcast(
                &mut s,
                exec_report(
                    "CANCELED",
                    "CANCELED",
                    "venue-made-id",
                    &orig,
                    id,
                    json!({}),
                ),
            );
            let c = q["newClientOrderId"].clone();
            place(&mut s, &c, &q);
            let cancel = json!({"symbol": "BTCUSDT", "origClientOrderId": orig,
                "origQty": old_qty, "executedQty": executed.unwrap_or_else(|| "0".into()),
                "status": "CANCELED"});
            (
                200,
                json!({"cancelResult": "SUCCESS", "newOrderResult": "SUCCESS",
                    "cancelResponse": cancel})
                .to_string(),
                None,
            )
        }
        ("DELETE", "/api/v3/order") => {
            let orig = q["origClientOrderId"].clone();
            let Some(o) = s.orders.get_mut(&orig) else {
                return (
                    400,
                    json!({"code": -2011, "msg": "Unknown order sent."}).to_string(),
                    None,
                );
            };
            o.3 = "CANCELED".into();
            let id = o.0;
            let c = q.get("newClientOrderId").cloned().unwrap_or_default();
            broadcast(
                &mut s,
                exec_report("CANCELED", "CANCELED", &c, &orig, id, json!({})),
            );
            (
                200,
                json!({"symbol": "BTCUSDT", "origClientOrderId": orig, "status": "CANCELED"})
                    .to_string(),
                None,
            )
        }
        ("GET", "/api/v3/order") => {
            let c = q["origClientOrderId"].clone();
            match s.orders.get(&c) {
                Some((id, qty, price, status)) => (
                    200,
                    json!({"symbol": "BTCUSDT", "orderId": id, "clientOrderId": c,
                    "price": price, "origQty": qty,
                    "executedQty": if status == "FILLED" { qty.clone() } else { "0".into() },
                    "cummulativeQuoteQty": if status == "FILLED" { quote(qty, price) } else { "0".into() },
                    "status": status, "timeInForce": "GTC", "type": "LIMIT", "side": "BUY"})
                    .to_string(),
                    None,
                ),
                None => (
                    400,
                    json!({"code": -2013, "msg": "Order does not exist."}).to_string(),
                    None,
                ),
            }
        }
        ("GET", "/api/v3/openOrders") => (200, "[]".into(), None),
        _ => (
            404,
            json!({"code": -1, "msg": "no route"}).to_string(),
            None,
        ),
    }
}

/// A new order: filled at once at its limit when that reaches the ask (100.01), else
/// resting.
fn place(s: &mut State, c: &str, q: &HashMap<String, String>) -> u64 {
    s.next_id += 1;
    let id = s.next_id;
    let crosses = q
        .get("price")
        .and_then(|p| p.parse::<f64>().ok())
        .is_some_and(|p| p >= 100.01);
    let status = if crosses { "FILLED" } else { "NEW" };
    s.orders.insert(
        c.to_string(),
        (
            id,
            q["quantity"].clone(),
            q.get("price").cloned().unwrap_or_default(),
            status.into(),
        ),
    );
    broadcast(s, exec_report("NEW", "NEW", c, "", id, json!({})));
    if crosses {
        broadcast(
            s,
            exec_report(
                "TRADE",
                "FILLED",
                c,
                "",
                id,
                json!({"l": q["quantity"], "z": q["quantity"], "L": q["price"], "t": 1000 + id, "n": "0.01", "N": "USDT"}),
            ),
        );
    }
    id
}

/// qty × price as Binance writes cummulativeQuoteQty (test values only).
fn quote(qty: &str, price: &str) -> String {
    let (q, p): (f64, f64) = (qty.parse().unwrap_or(0.0), price.parse().unwrap_or(0.0));
    format!("{:.8}", q * p)
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn serve_http(st: Arc<Mutex<State>>, stream: TcpStream) {
    let mut r = BufReader::new(stream.try_clone().unwrap());
    let mut w = stream;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let (method, target) = (
            parts.next().unwrap_or("").to_string(),
            parts.next().unwrap_or("").to_string(),
        );
        let mut key = None;
        let mut len = 0usize;
        loop {
            let mut h = String::new();
            if r.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                match k.to_ascii_lowercase().as_str() {
                    "x-mbx-apikey" => key = Some(v.trim().to_string()),
                    "content-length" => len = v.trim().parse().unwrap_or(0),
                    _ => {}
                }
            }
        }
        let mut body = vec![0u8; len];
        let _ = r.read_exact(&mut body);
        let (code, body, retry) = rest(&st, &method, &target, key.as_deref());
        if code == 0 {
            // Hang up without a word: the client sees a transport error.
            return;
        }
        let mut resp = format!(
            "HTTP/1.1 {code} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nX-MBX-USED-WEIGHT-1M: 7\r\n",
            body.len()
        );
        if let Some(r) = retry {
            resp.push_str(&format!("Retry-After: {r}\r\n"));
        }
        resp.push_str("\r\n");
        resp.push_str(&body);
        if w.write_all(resp.as_bytes()).is_err() {
            return;
        }
    }
}

#[allow(clippy::result_large_err)]
fn serve_ws(st: Arc<Mutex<State>>, stop: Arc<AtomicBool>, stream: TcpStream) {
    let mut path = String::new();
    let mut ws = match tungstenite::accept_hdr(
        stream,
        |req: &tungstenite::handshake::server::Request, resp| {
            path = req.uri().to_string();
            Ok(resp)
        },
    ) {
        Ok(ws) => ws,
        Err(_) => return,
    };
    ws.get_ref()
        .set_read_timeout(Some(Duration::from_millis(5)))
        .unwrap();
    let user = path.starts_with("/ws-api/v3");
    let (tx, rx): (Sender<String>, Receiver<String>) = channel();
    let mut subscribed = false;
    while !stop.load(Ordering::Acquire) {
        match ws.read() {
            Ok(tungstenite::Message::Text(t)) if user => {
                let v: Value = serde_json::from_str(&t).unwrap();
                let p = &v["params"];
                let payload = format!(
                    "apiKey={}&timestamp={}",
                    p["apiKey"].as_str().unwrap(),
                    p["timestamp"]
                );
                let ok = p["apiKey"] == API_KEY
                    && Signer::hmac(SECRET.as_bytes()).sign(payload.as_bytes())
                        == p["signature"].as_str().unwrap();
                let answer = if ok {
                    json!({"id": v["id"], "status": 200, "result": {"subscriptionId": 0}})
                } else {
                    json!({"id": v["id"], "status": 400, "error": {"code": -1022, "msg": "Signature for this request is not valid."}})
                };
                ws.send(tungstenite::Message::text(answer.to_string()))
                    .unwrap();
                if ok && !subscribed {
                    subscribed = true;
                    st.lock().unwrap().streams.push(tx.clone());
                }
            }
            Ok(tungstenite::Message::Close(_)) => return,
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return,
        }
        if subscribed {
            // Dropped by the test: this connection ends without a word.
            if st.lock().unwrap().streams.is_empty() {
                return;
            }
            while let Ok(m) = rx.try_recv() {
                if ws.send(tungstenite::Message::text(m)).is_err() {
                    return;
                }
            }
        } else if !user {
            // The market stream: one quote now and then.
            let q = json!({"stream": "btcusdt@bookTicker", "data": {"u": 1, "s": "BTCUSDT", "b": "99.99", "B": "1.000", "a": "100.01", "A": "2.000"}});
            if ws.send(tungstenite::Message::text(q.to_string())).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Stand {
    fn start() -> Stand {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        l.set_nonblocking(true).unwrap();
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (st, sp) = (state.clone(), stop.clone());
        std::thread::spawn(move || {
            while !sp.load(Ordering::Acquire) {
                match l.accept() {
                    Ok((s, _)) => {
                        s.set_nonblocking(false).unwrap();
                        let mut buf = [0u8; 2048];
                        let n = s.peek(&mut buf).unwrap_or(0);
                        let head = String::from_utf8_lossy(&buf[..n]).to_ascii_lowercase();
                        let (st, sp) = (st.clone(), sp.clone());
                        if head.contains("upgrade: websocket") {
                            std::thread::spawn(move || serve_ws(st, sp, s));
                        } else {
                            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                            std::thread::spawn(move || serve_http(st, s));
                        }
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        Stand { state, stop, port }
    }
}

impl Drop for Stand {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

fn registry(port: u16, key_env: &str, secret_env: &str) -> Arc<Registry> {
    let text = include_str!("../examples/binance-sim.toml")
        .replace("127.0.0.1:9901", &format!("127.0.0.1:{port}"))
        .replace("BINANCE_SIM_KEY", key_env)
        .replace("BINANCE_SIM_SECRET", secret_env);
    Arc::new(Registry::from_toml(&text).unwrap())
}

/// Drives the venue as the core's duty cycle does until `want` has been seen or time
/// runs out; returns everything seen.
fn pump_until(
    v: &mut BridgeVenue,
    seen: &mut Vec<VenueEventKind>,
    want: impl Fn(&VenueEventKind) -> bool,
) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut now = 1u64;
    let mut out = Vec::new();
    while Instant::now() < deadline {
        now += 1;
        v.pump(now);
        out.clear();
        v.poll(now, &mut out);
        for e in &out {
            seen.push(e.kind);
            if want(&e.kind) {
                return true;
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    false
}

fn order(n: u64) -> VenueOrder {
    VenueOrder {
        cl: ClOrdId {
            epoch: 0x2a,
            order: OrderId(n),
            version: 0,
        },
        account: AccountId(0),
        instrument: InstrumentId(0),
        side: Side::Buy,
        order_type: OrderType::Limit,
        tif: Tif::Gtc,
        qty: Qty(250),
        limit: Price(10001),
        stop: Price(0),
        reduce_only: false,
    }
}

#[test]
fn binance_spot_bridge_trades_cancels_throttles_and_recovers_over_real_sockets() {
    let stand = Stand::start();
    std::env::set_var("BRIDGE_T1_KEY", API_KEY);
    std::env::set_var("BRIDGE_T1_SECRET", SECRET);
    let reg = registry(stand.port, "BRIDGE_T1_KEY", "BRIDGE_T1_SECRET");
    let dir = std::env::temp_dir().join(format!("execd-bridge-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut v = BridgeVenue::new(reg, VenueId(0), Some(&dir), false, 0).unwrap();
    let mut seen = Vec::new();
    assert!(!v.is_logged_on());
    assert!(
        pump_until(&mut v, &mut seen, |k| *k
            == VenueEventKind::Session { up: true }),
        "{seen:?}"
    );
    assert!(v.is_logged_on());

    // A limit order: acked and filled from the user data stream, in fixed point.
    let o = order(1);
    v.submit(0, &o).unwrap();
    assert!(
        pump_until(&mut v, &mut seen, |k| matches!(
            k,
            VenueEventKind::Fill { .. }
        )),
        "{seen:?}"
    );
    let fill = *seen.last().unwrap();
    assert!(
        seen.contains(&VenueEventKind::Ack {
            cl: o.cl,
            venue_order_id: 1
        }),
        "{seen:?}"
    );
    assert_eq!(
        fill,
        VenueEventKind::Fill {
            cl: o.cl,
            exec_id: 1001,
            px: Price(10001),
            qty: Qty(250),
            fee: execd::model::fixed::Money(10_000),
            cum: Some(Qty(250))
        }
    );

    // Market data: the book ticker as quotes.
    assert!(
        pump_until(&mut v, &mut seen, |k| matches!(
            k,
            VenueEventKind::Quote { .. }
        )),
        "{seen:?}"
    );

    // A cancel (of a second order), told by the stream.
    let o2 = VenueOrder {
        limit: Price(9900),
        ..order(2)
    };
    v.submit(0, &o2).unwrap();
    assert!(pump_until(
        &mut v,
        &mut seen,
        |k| matches!(k, VenueEventKind::Ack { cl, .. } if *cl == o2.cl)
    ));
    let cancel = ClOrdId {
        version: 1,
        ..o2.cl
    };
    v.cancel(0, cancel, o2.cl).unwrap();
    assert!(
        pump_until(&mut v, &mut seen, |k| *k
            == VenueEventKind::Canceled { cl: cancel }),
        "{seen:?}"
    );
    // A cancel of an order the venue does not know: refused with the venue's reason.
    let ghost = ClOrdId {
        version: 1,
        ..order(77).cl
    };
    v.cancel(0, ghost, order(77).cl).unwrap();
    assert!(
        pump_until(
            &mut v,
            &mut seen,
            |k| matches!(k, VenueEventKind::CancelRejected { cl, reason: Reason::VenueUnknownOrder } if *cl == ghost)
        ),
        "{seen:?}"
    );

    // 429 with Retry-After: a clear rejection, and the next order is refused without
    // reaching the venue until the delay has passed.
    stand.state.lock().unwrap().next_status = Some(429);
    let o3 = order(3);
    v.submit(0, &o3).unwrap();
    assert!(
        pump_until(&mut v, &mut seen, |k| *k
            == VenueEventKind::Rejected {
                cl: o3.cl,
                reason: Reason::VenueRateLimited
            }),
        "{seen:?}"
    );
    let o4 = order(4);
    v.submit(0, &o4).unwrap();
    assert!(
        pump_until(&mut v, &mut seen, |k| *k
            == VenueEventKind::Rejected {
                cl: o4.cl,
                reason: Reason::VenueRateLimited
            }),
        "{seen:?}"
    );
    assert_eq!(
        stand.state.lock().unwrap().posts.get(&o4.cl.to_string()),
        None,
        "sent during Retry-After"
    );
    std::thread::sleep(Duration::from_millis(2100));

    // 500: unknown outcome. Asked about by client order id, never sent again.
    stand.state.lock().unwrap().next_status = Some(500);
    let o5 = order(5);
    v.submit(0, &o5).unwrap();
    assert!(
        pump_until(
            &mut v,
            &mut seen,
            |k| matches!(k, VenueEventKind::Status { cl, .. } if *cl == o5.cl)
        ),
        "{seen:?}"
    );
    assert_eq!(
        *seen.last().unwrap(),
        VenueEventKind::Status {
            cl: o5.cl,
            state: VenueOrderState::Working,
            filled: Some((Qty(0), Price(0)))
        }
    );
    assert_eq!(stand.state.lock().unwrap().posts[&o5.cl.to_string()], 1);

    // The connection cut mid-request: a transport error, the same unknown outcome, and
    // the wire log says so without the signed URL (checked below).
    stand.state.lock().unwrap().next_status = Some(0);
    let o7 = order(7);
    v.submit(0, &o7).unwrap();
    assert!(
        pump_until(
            &mut v,
            &mut seen,
            |k| matches!(k, VenueEventKind::Status { cl, .. } if *cl == o7.cl)
        ),
        "{seen:?}"
    );
    assert_eq!(stand.state.lock().unwrap().posts[&o7.cl.to_string()], 1);

    // The user data stream drops: down, then up again with Restarted (the core asks
    // about every working order before trusting the stream).
    stand.state.lock().unwrap().streams.clear();
    assert!(
        pump_until(&mut v, &mut seen, |k| *k
            == VenueEventKind::Session { up: false }),
        "{seen:?}"
    );
    assert!(
        pump_until(&mut v, &mut seen, |k| *k == VenueEventKind::Restarted),
        "{seen:?}"
    );
    assert!(v.is_logged_on());
    // And it trades again.
    let o6 = order(6);
    v.submit(0, &o6).unwrap();
    assert!(
        pump_until(
            &mut v,
            &mut seen,
            |k| matches!(k, VenueEventKind::Fill { cl, .. } if *cl == o6.cl)
        ),
        "{seen:?}"
    );

    // A snapshot: open orders listed, then its end.
    assert!(v.snapshot(0));
    assert!(
        pump_until(&mut v, &mut seen, |k| matches!(
            k,
            VenueEventKind::SnapshotEnd {
                orders: true,
                positions: false,
                foreign: 0
            }
        )),
        "{seen:?}"
    );

    assert_eq!(stand.state.lock().unwrap().bad_signatures, 0);
    v.close(0);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !v.closed() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(v.closed());
    drop(v);

    // The wire log: every request and answer, no secret, no API key, signature blanked.
    let mut msgs = Vec::new();
    read_messages(&dir.join("bridge").join("binance"), |_, out, t| {
        msgs.push((out, t.to_string()))
    })
    .unwrap();
    assert!(
        msgs.iter().any(|(out, t)| *out
            && t.starts_with("POST /api/v3/order?symbol=BTCUSDT")
            && t.ends_with("&signature=-")),
        "{msgs:?}"
    );
    assert!(msgs
        .iter()
        .any(|(out, t)| !*out && t.contains("executionReport")));
    assert!(msgs
        .iter()
        .any(|(out, t)| !*out && t.starts_with("429 POST /api/v3/order")));
    assert!(
        msgs.iter()
            .any(|(out, t)| !*out && t.starts_with("POST /api/v3/order transport error")),
        "{msgs:?}"
    );
    for (_, t) in &msgs {
        assert!(
            !t.contains(SECRET) && !t.contains(API_KEY),
            "secret in the wire log: {t}"
        );
        // A signature appears only blanked, whatever the line.
        for (i, _) in t.match_indices("signature=") {
            assert!(
                t[i + "signature=".len()..].starts_with('-'),
                "a signature in the wire log: {t}"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn exchange_info_mismatch_stops_the_start_naming_instrument_and_field() {
    let stand = Stand::start();
    std::env::set_var("BRIDGE_T2_KEY", API_KEY);
    std::env::set_var("BRIDGE_T2_SECRET", SECRET);
    let text = include_str!("../examples/binance-sim.toml")
        .replace("127.0.0.1:9901", &format!("127.0.0.1:{}", stand.port))
        .replace("BINANCE_SIM_KEY", "BRIDGE_T2_KEY")
        .replace("BINANCE_SIM_SECRET", "BRIDGE_T2_SECRET")
        .replace("lot = \"0.001\"", "lot = \"0.0005\"");
    let reg = Arc::new(Registry::from_toml(&text).unwrap());
    let e = BridgeVenue::new(reg, VenueId(0), None, false, 0)
        .err()
        .expect("a mismatch must stop the start");
    assert!(
        e.0.contains("instrument BTCUSDT")
            && e.0.contains("lot 0.0005")
            && e.0.contains("LOT_SIZE.stepSize"),
        "{}",
        e.0
    );
    // A missing key is a start error too, naming the variable, never a value.
    let reg = registry(stand.port, "BRIDGE_T2_NO_SUCH_VAR", "BRIDGE_T2_SECRET");
    let e = BridgeVenue::new(reg, VenueId(0), None, false, 0)
        .err()
        .unwrap();
    assert!(e.0.contains("BRIDGE_T2_NO_SUCH_VAR"), "{}", e.0);
}

/// The whole core over the bridge: `execd::core::spawn` with the Binance venue (what
/// `execd run --config examples/binance-sim.toml` builds), orders through the gate on
/// the stand-in's book-ticker quotes, filled, replaced and canceled from its stream.
#[test]
fn the_core_trades_through_the_bridge() {
    use execd::core::{spawn, CoreOptions};
    use execd::model::event::{Command, CoreEvent, OrderRef};
    use execd::model::fixed::Dec;
    use execd::model::order_state::OrderState;
    use execd::model::request::ExecutionRequest;

    let stand = Stand::start();
    std::env::set_var("BRIDGE_T3_KEY", API_KEY);
    std::env::set_var("BRIDGE_T3_SECRET", SECRET);
    let reg = registry(stand.port, "BRIDGE_T3_KEY", "BRIDGE_T3_SECRET");
    let (core, mut handles) = spawn(reg, CoreOptions::real_time(7), 1).unwrap();
    let h = &mut handles[0];
    let up = h.wait_for(
        Duration::from_secs(10),
        |e| matches!(e, CoreEvent::VenueSession { up: true, .. }),
        |_| {},
    );
    assert!(up.is_some(), "the venue never came up");
    // Quotes from the book ticker make the gate's market data fresh.
    std::thread::sleep(Duration::from_millis(300));
    let limit = |id: &str, px: &str| {
        let mut r = ExecutionRequest::market(
            id,
            "alpha",
            "binance",
            "BTCUSDT",
            Side::Buy,
            Dec::parse("0.25").unwrap(),
        );
        r.order_type = OrderType::Limit;
        r.tif = Tif::Gtc;
        r.limit_price = Some(Dec::parse(px).unwrap());
        r
    };
    let mut log = Vec::new();
    h.submit(limit("r-1", "100.01")).unwrap();
    let f = h.wait_for(
        Duration::from_secs(10),
        |e| matches!(e, CoreEvent::Fill { .. } | CoreEvent::Rejected { .. }),
        |e| log.push(format!("{e:?}")),
    );
    assert!(
        matches!(f, Some(CoreEvent::Fill { .. })),
        "{f:?} after {log:?}"
    );

    h.submit(limit("r-2", "99.00")).unwrap();
    let acc = h.wait_for(
        Duration::from_secs(10),
        |e| matches!(e, CoreEvent::Accepted { .. } | CoreEvent::Rejected { .. }),
        |_| {},
    );
    let Some(CoreEvent::Accepted { order, .. }) = acc else {
        panic!("{acc:?}")
    };
    let working = h.wait_for(
        Duration::from_secs(10),
        |e| matches!(e, CoreEvent::Order(s) if s.order == order && s.state == OrderState::New),
        |e| log.push(format!("{e:?}")),
    );
    assert!(working.is_some(), "{log:?}");
    h.send(Command::Replace {
        order: OrderRef::Id(order),
        quantity: Some(Dec::parse("0.5").unwrap()),
        limit_price: Some(Dec::parse("99.50").unwrap()),
    })
    .unwrap();
    let replaced = h.wait_for(
        Duration::from_secs(10),
        |e| matches!(e, CoreEvent::Order(s) if s.order == order && s.qty == Qty(500) && s.state == OrderState::Replaced),
        |e| log.push(format!("{e:?}")),
    );
    assert!(replaced.is_some(), "{log:?}");
    h.send(Command::Cancel(OrderRef::Id(order))).unwrap();
    let canceled = h.wait_for(
        Duration::from_secs(10),
        |e| matches!(e, CoreEvent::Order(s) if s.order == order && s.state == OrderState::Canceled),
        |e| log.push(format!("{e:?}")),
    );
    assert!(canceled.is_some(), "{log:?}");
    let report = core.shutdown();
    assert_eq!(report.engine.stats().accepted, 2);
    assert_eq!(stand.state.lock().unwrap().bad_signatures, 0);
}

/// After a restart (the journal left the venue up), the first connection is a gap too:
/// the core hears down, up and `Restarted`, and asks about the orders an earlier process
/// left working; a fill the venue made meanwhile comes back in the status answer.
#[test]
fn a_restart_is_a_gap_and_remembered_orders_are_asked_about() {
    let stand = Stand::start();
    std::env::set_var("BRIDGE_T4_KEY", API_KEY);
    std::env::set_var("BRIDGE_T4_SECRET", SECRET);
    let reg = registry(stand.port, "BRIDGE_T4_KEY", "BRIDGE_T4_SECRET");
    let o = order(9);
    // The earlier process's order, filled at the venue while execd was away.
    stand.state.lock().unwrap().orders.insert(
        o.cl.to_string(),
        (41, "0.250".into(), "100.01".into(), "FILLED".into()),
    );
    let mut v = BridgeVenue::new(reg, VenueId(0), None, true, 0).unwrap();
    v.remember(&o);
    assert!(
        v.is_logged_on(),
        "the journal's view until the core is told"
    );
    let mut seen = Vec::new();
    assert!(
        pump_until(&mut v, &mut seen, |k| *k == VenueEventKind::Restarted),
        "{seen:?}"
    );
    // The venue's rate limits are told alongside (R-GATE-7); the session's order is
    // what matters here.
    let told: Vec<_> = seen
        .iter()
        .filter(|k| !matches!(k, VenueEventKind::RateLimit(_)))
        .copied()
        .collect();
    assert_eq!(
        &told[..3],
        &[
            VenueEventKind::Session { up: false },
            VenueEventKind::Session { up: true },
            VenueEventKind::Restarted
        ]
    );
    // What the engine does on Restarted: asks about every working order.
    v.query(0, &o);
    assert!(
        pump_until(&mut v, &mut seen, |k| matches!(
            k,
            VenueEventKind::Status { .. }
        )),
        "{seen:?}"
    );
    assert_eq!(
        *seen.last().unwrap(),
        VenueEventKind::Status {
            cl: o.cl,
            state: VenueOrderState::Filled,
            filled: Some((Qty(250), Price(10001)))
        }
    );
}

/// R-VEN-3: when the ring to the bridge's I/O thread is full (orders pushed faster than
/// REST can carry them), the call does not fail: the refusal comes back as a venue input
/// (`Backpressure`, journaled by the core like any), stamped with the engine time of the
/// call, one per request that did not fit.
#[test]
fn a_full_command_ring_is_told_as_a_backpressure_input_not_an_error() {
    let stand = Stand::start();
    std::env::set_var("BRIDGE_T9_KEY", API_KEY);
    std::env::set_var("BRIDGE_T9_SECRET", SECRET);
    let reg = registry(stand.port, "BRIDGE_T9_KEY", "BRIDGE_T9_SECRET");
    let mut v = BridgeVenue::new(reg, VenueId(0), None, false, 0).unwrap();
    let mut seen = Vec::new();
    assert!(
        pump_until(&mut v, &mut seen, |k| *k
            == VenueEventKind::Session { up: true }),
        "{seen:?}"
    );
    // Far more than the ring holds, faster than one REST call takes.
    for n in 0..6_000 {
        assert_eq!(v.submit(7, &order(100 + n)), Ok(()), "order {n}");
    }
    let mut out = Vec::new();
    v.poll(7, &mut out);
    let refused: Vec<_> = out
        .iter()
        .filter(|e| {
            matches!(
                e.kind,
                VenueEventKind::Backpressure {
                    request: execd::venue::Request::New,
                    ..
                }
            )
        })
        .collect();
    // The ring holds 4 096; the I/O thread takes a few meanwhile.
    assert!(
        (1..=6_000 - 4_096).contains(&refused.len()),
        "{} refused",
        refused.len()
    );
    assert!(refused.iter().all(|e| e.at_ns == 7));
    assert_eq!(
        v.stats().backpressure.load(Ordering::Relaxed),
        refused.len() as u64
    );
    // A reconciliation asked of a full ring is still asked (the answer does not depend
    // on the ring, which a replay does not have): it ends with a journaled SnapshotEnd
    // that checked nothing.
    for n in 6_000..6_200 {
        assert_eq!(v.submit(8, &order(100 + n)), Ok(()), "order {n}");
    }
    for _ in 0..20 {
        assert!(v.snapshot(8), "asked whatever the ring holds");
    }
    out.clear();
    v.poll(8, &mut out);
    let ended = out
        .iter()
        .filter(|e| {
            e.at_ns == 8
                && e.kind
                    == VenueEventKind::SnapshotEnd {
                        orders: false,
                        positions: false,
                        foreign: 0,
                    }
        })
        .count();
    assert!(ended >= 1, "{out:?}");
}

/// A fill racing a spot cancelReplace (the old venue order filled after the bridge read
/// the stream, before the venue canceled it): the answer's `cancelResponse.executedQty`
/// shows the new venue order is too big for the core's total, so the bridge cancels it —
/// the core hears the fill, the replace, then the cancel, and the venue never holds more
/// than the core asked for. (The stand does not apply `cancelRestrictions`; the venue
/// would refuse this one under ONLY_NEW, and the check covers an order already partly
/// filled, where ONLY_NEW is not sent.)
#[test]
fn a_fill_racing_cancel_replace_cancels_the_oversized_new_order() {
    let stand = Stand::start();
    std::env::set_var("BRIDGE_T10_KEY", API_KEY);
    std::env::set_var("BRIDGE_T10_SECRET", SECRET);
    let reg = registry(stand.port, "BRIDGE_T10_KEY", "BRIDGE_T10_SECRET");
    let mut v = BridgeVenue::new(reg, VenueId(0), None, false, 0).unwrap();
    let mut seen = Vec::new();
    assert!(
        pump_until(&mut v, &mut seen, |k| *k
            == VenueEventKind::Session { up: true }),
        "{seen:?}"
    );
    let mut o = order(41);
    o.limit = Price(9900);
    assert_eq!(v.submit(2, &o), Ok(()));
    assert!(
        pump_until(&mut v, &mut seen, |k| matches!(
            k,
            VenueEventKind::Ack { .. }
        )),
        "{seen:?}"
    );
    // 0.200 of the 0.250 fills as the replace (to a total of 0.300) goes out.
    stand.state.lock().unwrap().race_fill = Some("0.20000000".into());
    let new_cl = ClOrdId { version: 1, ..o.cl };
    assert_eq!(v.replace(3, new_cl, o.cl, Qty(300), Price(9950)), Ok(()));
    seen.clear();
    assert!(
        pump_until(&mut v, &mut seen, |k| *k
            == VenueEventKind::Canceled { cl: new_cl }),
        "{seen:?}"
    );
    let fill = seen.iter().position(
        |k| matches!(k, VenueEventKind::Fill { cl, cum: Some(Qty(200)), .. } if *cl == o.cl),
    );
    let replaced = seen
        .iter()
        .position(|k| matches!(k, VenueEventKind::Replaced { cl, .. } if *cl == new_cl));
    let canceled = seen
        .iter()
        .position(|k| *k == VenueEventKind::Canceled { cl: new_cl });
    assert!(
        fill < replaced && replaced < canceled && fill.is_some(),
        "{seen:?}"
    );
    let s = stand.state.lock().unwrap();
    assert!(
        s.hits.iter().any(|h| h == "DELETE /api/v3/order"),
        "{:?}",
        s.hits
    );
    assert_eq!(
        s.orders.get(&new_cl.to_string()).map(|o| o.3.as_str()),
        Some("CANCELED")
    );
}
