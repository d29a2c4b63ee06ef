//! A bridge's I/O thread (R-VEN-3): blocking REST calls and nonblocking WebSocket reads
//! on a thread of its own, never on the core's. It takes commands from one ring and
//! gives venue events to another; nothing else is shared but a stop flag.
//!
//! Outcomes, by what the venue answered (R-RES-1):
//! - 2xx: nothing is told from the answer; the user data stream reports the order (the
//!   one source of acks, fills, cancels and replaces, so nothing counts twice);
//! - 4xx with an error code: a refusal, told at once, never retried; 429/418 hold every
//!   request until Retry-After and refuse new ones meanwhile ([`VenueLimits`]);
//! - no connection at all: a new order was never sent (`NotSent`, resent by the core
//!   under the same client order id);
//! - a timeout, a reset after sending, a 5xx: the outcome is unknown, so the order is
//!   asked about by its client order id at once — never sent again blind.
//!
//! A user data stream that drops loses whatever it would have said meanwhile: the core
//! hears the venue down, then, once the stream is back, up and `Restarted`, and asks
//! about every order it has working there before trusting the stream again.

use super::binance::{self, Flavor, Params, PendingReplace, StreamState, Symbols};
use super::clock::ServerClock;
use super::limits::VenueLimits;
use super::settings::BinanceSpec;
use super::sign::Signer;
use super::wire::WireLog;
use crate::config::Registry;
use crate::core::Bell;
use crate::model::fixed::{Price, Qty};
use crate::model::ids::{AccountId, ClOrdId, VenueId};
use crate::model::reason::Reason;
use crate::secret::Secret;
use crate::venue::{VenueEventKind, VenueOrder, VenueOrderState};
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

/// What the core asks of the bridge.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Cmd {
    /// A new order.
    New(VenueOrder),
    /// Cancel `orig` (request id `cl`).
    Cancel { cl: ClOrdId, orig: ClOrdId },
    /// Replace `orig` (request id `cl`): its quantity and limit (trigger, for a stop).
    Replace {
        cl: ClOrdId,
        orig: ClOrdId,
        qty: Qty,
        limit: Price,
    },
    /// Ask where an order stands.
    Query(VenueOrder),
    /// An order an earlier process sent: remembered, not sent.
    Remember(VenueOrder),
    /// Open orders and positions.
    Snapshot,
}

type Ws = WebSocket<MaybeTlsStream<TcpStream>>;

fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// How a REST call ended.
enum Answer {
    /// 2xx with its body.
    Ok(Value),
    /// A refusal the venue explained: its error code and message.
    Refused(i64, String),
    /// Nothing reached the venue.
    NotSent,
    /// Sent; no telling what happened.
    Unknown,
    /// Not sent: the venue said to wait, or our own cap.
    Held,
}

/// A venue order as the bridge remembers it: the terms, and the client order id the
/// venue knows it by (USDⓈ-M modify keeps the original).
#[derive(Clone, Copy)]
struct Known {
    order: VenueOrder,
    venue_cl: ClOrdId,
}

/// The I/O thread's state.
pub(crate) struct Worker {
    reg: Arc<Registry>,
    venue: VenueId,
    spec: BinanceSpec,
    flavor: Flavor,
    syms: Symbols,
    account: AccountId,
    agent: ureq::Agent,
    api_key: Secret,
    signer: Signer,
    clock: ServerClock,
    limits: VenueLimits,
    cmds: rtrb::Consumer<Cmd>,
    events: rtrb::Producer<VenueEventKind>,
    wire: Option<WireLog>,
    user: Option<Ws>,
    market: Option<Ws>,
    /// When the market stream is tried again after it failed to connect (wall ms).
    next_market_ms: u64,
    listen_key: Option<String>,
    listen_key_at_ms: u64,
    /// The core was told the venue is up.
    up: bool,
    /// The user stream was up before: a new one follows a gap.
    had_stream: bool,
    st: StreamState,
    /// Status queries that could not be asked yet (held by the venue's Retry-After,
    /// or unanswered): asked again, a bounded number of times, so an order of unknown
    /// outcome is never left unasked (R-RES-1). (order, attempts so far, not before ms)
    requery: VecDeque<(ClOrdId, u8, u64)>,
    orders: HashMap<u64, Known>,
    stop: Arc<AtomicBool>,
    /// Set once the thread has nothing more to say.
    done: Arc<AtomicBool>,
    next_connect_ms: u64,
    backoff_ms: u64,
    minute: u64,
    /// Filters already checked against exchangeInfo (at start or first connection).
    filters_ok: bool,
    /// Why the venue cannot be used at all (a filter mismatch): it stays down.
    fatal: Option<String>,
    /// A balance that did not fit was said once (it is left out of every read, counted).
    misfit_balance_told: bool,
    name: String,
    scratch: Vec<VenueEventKind>,
    /// Counted for operators.
    pub(crate) stats: Arc<super::venue::BridgeStats>,
    /// The core's doorbell: the core may sleep while this thread has news for it.
    bell: Bell,
}

/// What the core side hands a new worker.
pub(crate) struct WorkerParts {
    pub reg: Arc<Registry>,
    pub venue: VenueId,
    pub spec: BinanceSpec,
    pub syms: Symbols,
    pub account: AccountId,
    pub api_key: Secret,
    pub signer: Signer,
    pub cmds: rtrb::Consumer<Cmd>,
    pub events: rtrb::Producer<VenueEventKind>,
    pub wire: Option<WireLog>,
    pub stop: Arc<AtomicBool>,
    pub done: Arc<AtomicBool>,
    pub name: String,
    pub filters_ok: bool,
    /// The venue's limits, with the caps its exchangeInfo gave at start if it answered.
    pub limits: VenueLimits,
    /// An earlier process had the stream up (the journal says so): what the venue told
    /// since then is not in any stream, so the first connection is a gap too.
    pub after_restart: bool,
    pub stats: Arc<super::venue::BridgeStats>,
    /// Rung after each event pushed for the core, which may be asleep.
    pub bell: Bell,
}

/// The USDⓈ-M Algo Service's endpoint for conditional orders.
const ALGO_PATH: &str = "/fapi/v1/algoOrder";
const FIRST_BACKOFF_MS: u64 = 500;
const MAX_BACKOFF_MS: u64 = 30_000;
/// USDⓈ-M listen keys live 60 minutes unless kept alive.
const KEEPALIVE_MS: u64 = 30 * 60 * 1000;
const TIME_SYNC_MS: u64 = 10 * 60 * 1000;

impl Worker {
    pub(crate) fn new(p: WorkerParts) -> Worker {
        let timeout = Duration::from_millis(p.spec.http_timeout_ms);
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(timeout.min(Duration::from_secs(5)))
            .timeout(timeout)
            .build();
        Worker {
            reg: p.reg,
            venue: p.venue,
            flavor: p.spec.flavor,
            clock: ServerClock::new(p.spec.recv_window_ms),
            limits: p.limits,
            spec: p.spec,
            syms: p.syms,
            account: p.account,
            agent,
            api_key: p.api_key,
            signer: p.signer,
            cmds: p.cmds,
            events: p.events,
            wire: p.wire,
            user: None,
            market: None,
            next_market_ms: 0,
            listen_key: None,
            listen_key_at_ms: 0,
            up: false,
            had_stream: p.after_restart,
            st: StreamState::default(),
            requery: VecDeque::new(),
            orders: HashMap::new(),
            stop: p.stop,
            done: p.done,
            next_connect_ms: 0,
            backoff_ms: FIRST_BACKOFF_MS,
            minute: 0,
            filters_ok: p.filters_ok,
            misfit_balance_told: false,
            fatal: None,
            name: p.name,
            scratch: Vec::with_capacity(16),
            stats: p.stats,
            bell: p.bell,
        }
    }

    /// The thread's body: until stopped.
    pub(crate) fn run(mut self) {
        let mut idle = 0u32;
        while !self.stop.load(Ordering::Acquire) {
            let now = wall_ms();
            let mut busy = false;
            if self.user.is_none() && self.fatal.is_none() && now >= self.next_connect_ms {
                self.connect(now);
                busy = true;
            }
            busy |= self.housekeeping(now);
            for _ in 0..64 {
                let Ok(c) = self.cmds.pop() else { break };
                busy = true;
                self.handle(c);
            }
            busy |= self.read_user();
            busy |= self.read_market();
            busy |= self.requery_due(now);
            if busy {
                idle = 0;
            } else {
                // Backoff idle: spin a little, then park up to a millisecond (R-VEN-3
                // threads share a 2-core box with the busy core thread).
                idle = idle.saturating_add(1);
                if idle > 10 {
                    std::thread::sleep(Duration::from_micros(if idle > 100 { 1000 } else { 100 }));
                } else {
                    std::thread::yield_now();
                }
            }
        }
        self.shutdown();
        self.done.store(true, Ordering::Release);
        // A core winding down waits for this.
        self.bell.ring();
    }

    fn emit(&mut self, k: VenueEventKind) {
        // The core drains this ring every cycle; a full one means it is stalled, and
        // an event is never dropped: wait (this thread may block; the core never does).
        let mut k = k;
        loop {
            match self.events.push(k) {
                Ok(()) => {
                    self.bell.ring();
                    return;
                }
                Err(rtrb::PushError::Full(back)) => {
                    if self.stop.load(Ordering::Acquire) {
                        return;
                    }
                    k = back;
                    std::thread::sleep(Duration::from_micros(200));
                }
            }
        }
    }

    fn log(&mut self, out: bool, text: &str) {
        if let Some(w) = self.wire.as_mut() {
            w.record(out, text);
        }
    }

    fn say(&self, what: &str) {
        eprintln!("execd: binance venue {}: {what}", self.name);
    }

    // ---- REST ---------------------------------------------------------------------

    /// A signed request: `params` plus timestamp and recvWindow, signed, in the query
    /// string. The wire log gets it with the signature blanked and no API key.
    fn signed(&mut self, method: &str, path: &str, params: &Params) -> Answer {
        let mut q = params.clone();
        let ts = self.clock.timestamp(wall_ms());
        q.add("recvWindow", &self.clock.recv_window_ms.to_string());
        q.add("timestamp", &ts.to_string());
        let sig = self.signer.sign(q.0.as_bytes());
        let logged = format!("{method} {path}?{}&signature=-", q.0);
        q.0.push_str("&signature=");
        if self.signer.needs_escape() {
            super::sign::percent_encode(&sig, &mut q.0);
        } else {
            q.0.push_str(&sig);
        }
        self.call(method, path, &q.0, &logged, true)
    }

    fn call(&mut self, method: &str, path: &str, query: &str, logged: &str, key: bool) -> Answer {
        let now = wall_ms();
        if self.limits.check(now).is_err() {
            self.stats.held.fetch_add(1, Ordering::Relaxed);
            return Answer::Held;
        }
        self.log(true, logged);
        let url = if query.is_empty() {
            format!("{}{path}", self.spec.rest_url)
        } else {
            format!("{}{path}?{query}", self.spec.rest_url)
        };
        let mut req = self.agent.request(method, &url);
        if key {
            let k = String::from_utf8_lossy(self.api_key.expose()).into_owned();
            req = req.set("X-MBX-APIKEY", &k);
        }
        let r = req.call();
        let resp = match r {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(ureq::Error::Transport(t)) => {
                // Never `t` itself: its text starts with the URL, whose query carries the
                // signature. Its kind and the I/O cause say what happened.
                let cause = std::error::Error::source(&t)
                    .map(|e| e.to_string())
                    .unwrap_or_default();
                let text = format!("{method} {path} transport error: {} {cause}", t.kind());
                self.log(false, &text);
                return match t.kind() {
                    ureq::ErrorKind::Dns | ureq::ErrorKind::ConnectionFailed => Answer::NotSent,
                    _ => Answer::Unknown,
                };
            }
        };
        let status = resp.status();
        let at = wall_ms();
        for n in resp.headers_names() {
            if let Some(v) = resp.header(&n) {
                self.limits.header(at, &n, v);
            }
        }
        let retry = resp.header("Retry-After").map(str::to_string);
        self.limits.status(at, status, retry.as_deref());
        self.tell_limits(at);
        let body = resp.into_string().unwrap_or_default();
        let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        // A listen key reads the account's user data: a secret like the API key.
        if v.get("listenKey").is_some() {
            self.log(
                false,
                &format!("{status} {method} {path} {{\"listenKey\":\"<redacted>\"}}"),
            );
        } else {
            self.log(false, &format!("{status} {method} {path} {body}"));
        }
        if (200..300).contains(&status) {
            return Answer::Ok(v);
        }
        // A backend timeout (408, or 5xx) leaves the order's fate unknown: asked about,
        // never taken for a refusal.
        if status >= 500 || status == 408 {
            return Answer::Unknown;
        }
        if status == 429 || status == 418 {
            self.stats.throttled.fetch_add(1, Ordering::Relaxed);
            return Answer::Refused(-1003, "rate limited".into());
        }
        match binance::error_of(&v) {
            // -1006 UNEXPECTED_RESP and -1007 TIMEOUT: "execution status unknown" in
            // Binance's words — the order may be live.
            Some((-1006 | -1007, _)) => Answer::Unknown,
            Some((code, msg)) => {
                if code == -1021 {
                    // Our clock and the venue's disagree beyond recvWindow: measure again.
                    self.clock.measured_at_ms = 0;
                }
                Answer::Refused(code, msg.to_string())
            }
            None => Answer::Refused(0, body),
        }
    }

    /// Tells the core the venue's limits when they changed meaningfully (R-GATE-7).
    fn tell_limits(&mut self, now: u64) {
        if let Some(l) = self.limits.report(now) {
            self.stats.limit_reports.fetch_add(1, Ordering::Relaxed);
            self.emit(VenueEventKind::RateLimit(l));
        }
    }

    fn sync_time(&mut self) -> bool {
        let sent = wall_ms();
        let path = self.flavor.time_path();
        match self.call("GET", path, "", &format!("GET {path}"), false) {
            Answer::Ok(v) => {
                let recv = wall_ms();
                v.get("serverTime")
                    .and_then(Value::as_u64)
                    .is_some_and(|t| self.clock.measured(sent, recv, t))
            }
            _ => false,
        }
    }

    fn check_filters(&mut self) -> bool {
        let path = self.flavor.exchange_info_path();
        let Answer::Ok(v) = self.call("GET", path, "", &format!("GET {path}"), false) else {
            return false;
        };
        self.syms.learn_assets(&v);
        self.limits.exchange_info(&v);
        self.tell_limits(wall_ms());
        match binance::check_filters(&self.reg, self.venue, &v) {
            Ok(()) => true,
            Err(e) => {
                self.say(&format!(
                    "exchangeInfo does not match the configuration: {e}; the venue stays down"
                ));
                self.fatal = Some(e);
                false
            }
        }
    }

    // ---- streams ------------------------------------------------------------------

    fn open_ws(&mut self, url: &str) -> Result<Ws, String> {
        let u: tungstenite::http::Uri = url.parse().map_err(|e| format!("{e}"))?;
        let host = u
            .host()
            .ok_or("no host")?
            .trim_matches(|c| c == '[' || c == ']')
            .to_string();
        let tls = u.scheme_str() == Some("wss");
        let port = u.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let addr = (host.as_str(), port)
            .to_socket_addrs()
            .map_err(|e| e.to_string())?
            .next()
            .ok_or("the host does not resolve")?;
        let tcp =
            TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(|e| e.to_string())?;
        tcp.set_read_timeout(Some(Duration::from_secs(5)))
            .map_err(|e| e.to_string())?;
        let _ = tcp.set_nodelay(true);
        let (ws, _) =
            tungstenite::client_tls_with_config(url, tcp, None, None).map_err(|e| e.to_string())?;
        Ok(ws)
    }

    fn set_nonblocking(ws: &Ws) {
        let s = match ws.get_ref() {
            MaybeTlsStream::Plain(s) => s,
            MaybeTlsStream::Rustls(s) => s.get_ref(),
            _ => return,
        };
        let _ = s.set_nonblocking(true);
    }

    /// The user data stream: spot by the WebSocket API's signed subscription, USDⓈ-M by
    /// a listen key.
    fn connect_user(&mut self) -> Result<Ws, String> {
        match self.flavor {
            Flavor::Spot => {
                let url = self.spec.ws_api_url.clone();
                let mut ws = self.open_ws(&url)?;
                let key = String::from_utf8_lossy(self.api_key.expose()).into_owned();
                let ts = self.clock.timestamp(wall_ms()).to_string();
                let payload = super::sign::ws_payload(&[("apiKey", &key), ("timestamp", &ts)]);
                let sig = self.signer.sign(payload.as_bytes());
                let req = serde_json::json!({
                    "id": "execd-user-data",
                    "method": "userDataStream.subscribe.signature",
                    "params": {"apiKey": key, "timestamp": ts.parse::<u64>().unwrap_or(0), "signature": sig},
                });
                self.log(true, &format!(
                    "WS {url} {{\"id\":\"execd-user-data\",\"method\":\"userDataStream.subscribe.signature\",\"params\":{{\"apiKey\":\"-\",\"timestamp\":{ts},\"signature\":\"-\"}}}}"
                ));
                ws.send(Message::text(req.to_string()))
                    .map_err(|e| e.to_string())?;
                // The answer (blocking, within the socket's read timeout).
                for _ in 0..16 {
                    match ws.read().map_err(|e| e.to_string())? {
                        Message::Text(t) => {
                            self.log(false, &t);
                            let v: Value = serde_json::from_str(&t).unwrap_or(Value::Null);
                            if v.get("id").and_then(Value::as_str) == Some("execd-user-data") {
                                if v.get("status").and_then(Value::as_u64) == Some(200) {
                                    return Ok(ws);
                                }
                                if let Some((code, _)) = v.get("error").and_then(binance::error_of)
                                {
                                    if code == -1021 {
                                        self.clock.measured_at_ms = 0;
                                    }
                                }
                                return Err(format!("user data subscription refused: {t}"));
                            }
                            // An event before the answer: handled like any.
                            self.on_user_text(&t);
                        }
                        Message::Close(_) => return Err("closed while subscribing".into()),
                        _ => {}
                    }
                }
                Err("no answer to the user data subscription".into())
            }
            Flavor::Usdm => {
                let key = match self.call(
                    "POST",
                    "/fapi/v1/listenKey",
                    "",
                    "POST /fapi/v1/listenKey",
                    true,
                ) {
                    Answer::Ok(v) => v
                        .get("listenKey")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                        .ok_or("no listenKey in the answer")?,
                    _ => return Err("listen key refused or unreachable".into()),
                };
                self.listen_key_at_ms = wall_ms();
                let url = format!("{}/ws/{key}", self.spec.stream_url);
                self.listen_key = Some(key);
                self.log(true, &format!("WS {}/ws/-", self.spec.stream_url));
                self.open_ws(&url)
            }
        }
    }

    fn connect_market(&mut self) -> Option<Ws> {
        let streams: Vec<String> = self
            .syms
            .names()
            .map(|n| format!("{}@bookTicker", n.to_ascii_lowercase()))
            .collect();
        if streams.is_empty() {
            return None;
        }
        let url = format!(
            "{}/stream?streams={}",
            self.spec.stream_url,
            streams.join("/")
        );
        self.log(true, &format!("WS {url}"));
        match self.open_ws(&url) {
            Ok(ws) => {
                Self::set_nonblocking(&ws);
                Some(ws)
            }
            Err(e) => {
                self.say(&format!("market stream: {e}"));
                None
            }
        }
    }

    fn connect(&mut self, now: u64) {
        self.stats.connects.fetch_add(1, Ordering::Relaxed);
        if self.clock.stale(now, TIME_SYNC_MS) && !self.sync_time() {
            return self.retry_later(now, "the server time could not be read");
        }
        if !self.filters_ok {
            if !self.check_filters() {
                return self.retry_later(now, "exchangeInfo could not be read or does not match");
            }
            self.filters_ok = true;
        }
        let ws = match self.connect_user() {
            Ok(ws) => ws,
            Err(e) => return self.retry_later(now, &e),
        };
        Self::set_nonblocking(&ws);
        self.user = Some(ws);
        // Balances as they stand now, once the stream that keeps them current is up:
        // at the first connection the starting point, after a gap what changed in it.
        self.read_balances();
        if self.market.is_none() {
            self.market = self.connect_market();
        }
        self.backoff_ms = FIRST_BACKOFF_MS;
        self.up = true;
        self.emit(VenueEventKind::Session { up: true });
        if std::mem::replace(&mut self.had_stream, true) {
            // The stream was down: whatever it said meanwhile is lost. The core asks
            // about every order it has working here before trusting it again.
            self.emit(VenueEventKind::Restarted);
        }
    }

    fn retry_later(&mut self, now: u64, why: &str) {
        self.stats.connect_failures.fetch_add(1, Ordering::Relaxed);
        let n = self.stats.connect_failures.load(Ordering::Relaxed);
        if n <= 3 || n % 100 == 0 {
            self.say(&format!(
                "cannot connect ({why}); retrying in {} ms",
                self.backoff_ms
            ));
        }
        self.next_connect_ms = now + self.backoff_ms;
        self.backoff_ms = (self.backoff_ms * 2).min(MAX_BACKOFF_MS);
    }

    fn user_down(&mut self, why: &str) {
        if let Some(mut ws) = self.user.take() {
            let _ = ws.close(None);
        }
        self.say(&format!("user data stream lost ({why}); reconnecting"));
        if self.up {
            self.up = false;
            self.emit(VenueEventKind::Session { up: false });
        }
        self.next_connect_ms = wall_ms() + self.backoff_ms;
        self.backoff_ms = (self.backoff_ms * 2).min(MAX_BACKOFF_MS);
    }

    fn read_user(&mut self) -> bool {
        let mut any = false;
        for _ in 0..256 {
            let Some(ws) = self.user.as_mut() else {
                return any;
            };
            match ws.read() {
                Ok(Message::Text(t)) => {
                    any = true;
                    self.on_user_text(&t);
                }
                Ok(Message::Close(_)) => {
                    self.user_down("closed by the venue");
                    return true;
                }
                Ok(_) => any = true,
                Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                    // Pongs owed and anything queued go out now.
                    let _ = ws.flush();
                    return any;
                }
                Err(e) => {
                    self.user_down(&e.to_string());
                    return true;
                }
            }
        }
        any
    }

    fn on_user_text(&mut self, t: &str) {
        self.log(false, t);
        let Ok(v) = serde_json::from_str::<Value>(t) else {
            self.st.invalid += 1;
            return;
        };
        let ev = binance::unwrap_event(&v);
        if ev.get("e").and_then(Value::as_str) == Some("listenKeyExpired") {
            self.user_down("the listen key expired");
            return;
        }
        let mut out = std::mem::take(&mut self.scratch);
        out.clear();
        binance::user_event(&self.syms, &mut self.st, self.account, &v, &mut out);
        for k in out.drain(..) {
            self.emit(k);
        }
        self.scratch = out;
    }

    fn read_market(&mut self) -> bool {
        let mut any = false;
        for _ in 0..256 {
            let Some(ws) = self.market.as_mut() else {
                return any;
            };
            match ws.read() {
                Ok(Message::Text(t)) => {
                    any = true;
                    // Quotes are not logged frame by frame: the core journals each one
                    // it applies (conflated), and a busy book would swamp the wire log.
                    if let Ok(v) = serde_json::from_str::<Value>(&t) {
                        if let Some((instrument, quote)) = binance::book_ticker(&self.syms, &v, 0) {
                            self.emit(VenueEventKind::Quote {
                                instrument,
                                quote,
                                venue_ns: 0,
                            });
                        }
                    }
                }
                Ok(Message::Close(_)) => {
                    self.market = None;
                    return true;
                }
                Ok(_) => any = true,
                Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                    let _ = ws.flush();
                    return any;
                }
                Err(e) => {
                    self.say(&format!("market stream lost ({e})"));
                    self.market = None;
                    return true;
                }
            }
        }
        any
    }

    fn housekeeping(&mut self, now: u64) -> bool {
        let minute = now / 60_000;
        if minute != self.minute {
            self.minute = minute;
            self.limits.new_minute();
        }
        // A hold that ran out, a window that ended: told without waiting for a request.
        self.tell_limits(now);
        if self.user.is_none() {
            return false;
        }
        if self.market.is_none() && now >= self.next_market_ms {
            self.market = self.connect_market();
            if self.market.is_none() {
                self.next_market_ms = now + 5_000;
            }
        }
        if self.clock.stale(now, TIME_SYNC_MS) {
            self.sync_time();
            return true;
        }
        if self.flavor == Flavor::Usdm && now.saturating_sub(self.listen_key_at_ms) >= KEEPALIVE_MS
        {
            self.listen_key_at_ms = now;
            match self.call(
                "PUT",
                "/fapi/v1/listenKey",
                "",
                "PUT /fapi/v1/listenKey",
                true,
            ) {
                Answer::Ok(_) | Answer::Held | Answer::Unknown => {}
                _ => self.user_down("the listen key could not be kept alive"),
            }
            return true;
        }
        false
    }

    fn shutdown(&mut self) {
        if let Some(mut ws) = self.user.take() {
            let _ = ws.close(None);
            let _ = ws.flush();
        }
        if let Some(mut ws) = self.market.take() {
            let _ = ws.close(None);
            let _ = ws.flush();
        }
        if self.flavor == Flavor::Usdm && self.listen_key.take().is_some() {
            let _ = self.call(
                "DELETE",
                "/fapi/v1/listenKey",
                "",
                "DELETE /fapi/v1/listenKey",
                true,
            );
        }
        if let Some(w) = self.wire.as_mut() {
            w.sync();
        }
    }

    // ---- commands -----------------------------------------------------------------

    fn handle(&mut self, c: Cmd) {
        match c {
            Cmd::Remember(o) => {
                self.orders.insert(
                    o.cl.order.0,
                    Known {
                        order: o,
                        venue_cl: o.cl,
                    },
                );
            }
            Cmd::New(o) => self.new_order(o),
            Cmd::Cancel { cl, orig } => self.cancel(cl, orig),
            Cmd::Replace {
                cl,
                orig,
                qty,
                limit,
            } => self.replace(cl, orig, qty, limit),
            Cmd::Query(o) => {
                self.orders.entry(o.cl.order.0).or_insert(Known {
                    order: o,
                    venue_cl: o.cl,
                });
                self.query(o.cl);
            }
            Cmd::Snapshot => self.snapshot(),
        }
    }

    fn new_order(&mut self, o: VenueOrder) {
        self.orders.insert(
            o.cl.order.0,
            Known {
                order: o,
                venue_cl: o.cl,
            },
        );
        let Some((sym, symbol)) = self.syms.by_id(o.instrument) else {
            return self.emit(VenueEventKind::Rejected {
                cl: o.cl,
                reason: Reason::UnknownInstrument,
            });
        };
        let symbol = symbol.to_string();
        let algo = binance::is_algo(self.flavor, o.order_type);
        let p = if algo {
            binance::algo_order(sym, &symbol, &o)
        } else {
            binance::new_order(self.flavor, sym, &symbol, &o)
        };
        let p = match p {
            Ok(p) => p,
            Err(reason) => return self.emit(VenueEventKind::Rejected { cl: o.cl, reason }),
        };
        self.stats.sent.fetch_add(1, Ordering::Relaxed);
        let path = if algo {
            ALGO_PATH
        } else {
            self.flavor.order_path()
        };
        match self.signed("POST", path, &p) {
            Answer::Ok(_) => {}
            Answer::Refused(code, msg) => {
                let reason = binance::reason_of(code, &msg);
                self.emit(VenueEventKind::Rejected { cl: o.cl, reason });
            }
            Answer::Held => self.emit(VenueEventKind::Rejected {
                cl: o.cl,
                reason: Reason::VenueRateLimited,
            }),
            Answer::NotSent => self.emit(VenueEventKind::NotSent { cl: o.cl }),
            Answer::Unknown => self.query(o.cl),
        }
    }

    fn cancel(&mut self, cl: ClOrdId, orig: ClOrdId) {
        let Some(k) = self.orders.get(&orig.order.0).copied() else {
            return self.emit(VenueEventKind::CancelRejected {
                cl,
                reason: Reason::VenueUnknownOrder,
            });
        };
        let Some((_, symbol)) = self.syms.by_id(k.order.instrument) else {
            return self.emit(VenueEventKind::CancelRejected {
                cl,
                reason: Reason::UnknownInstrument,
            });
        };
        let venue_orig = if self.flavor == Flavor::Usdm {
            k.venue_cl
        } else {
            orig
        };
        let p = binance::cancel(self.flavor, symbol, cl, venue_orig);
        let mut answer = Answer::NotSent;
        if binance::is_algo(self.flavor, k.order.order_type) {
            // Untriggered, it is the Algo Service's; triggered, an order like any.
            let mut a = Params::default();
            a.add("symbol", symbol)
                .add("clientAlgoId", &venue_orig.to_string());
            answer = self.signed("DELETE", ALGO_PATH, &a);
        }
        if matches!(answer, Answer::NotSent | Answer::Refused(-2011 | -2013, _)) {
            answer = self.signed("DELETE", self.flavor.order_path(), &p);
        }
        match answer {
            Answer::Ok(_) => {}
            Answer::Unknown => self.query(orig),
            refused => {
                let reason = refusal(&refused);
                self.emit(VenueEventKind::CancelRejected { cl, reason });
            }
        }
    }

    fn replace(&mut self, cl: ClOrdId, orig: ClOrdId, qty: Qty, limit: Price) {
        let Some(k) = self.orders.get(&orig.order.0).copied() else {
            return self.emit(VenueEventKind::ReplaceRejected {
                cl,
                reason: Reason::VenueUnknownOrder,
            });
        };
        let mut o = k.order;
        o.cl = cl;
        o.qty = qty;
        let mut unfilled = false;
        if self.flavor == Flavor::Spot {
            // The core's quantity is the order's total, filled part included (FIX 35=G
            // OrderQty); cancelReplace's new order gets the full `quantity` it is given,
            // so it is sent what is left to fill. Nothing left: refused before anything
            // goes out.
            // Fills the stream has already brought count before the remainder is set.
            self.read_user();
            let done = self.st.cum_of(orig.order.0);
            unfilled = done == 0;
            match qty.0.checked_sub(done) {
                Some(left) if left > 0 => o.qty = Qty(left),
                _ => {
                    self.say(&format!(
                        "replace of order {} refused: its new quantity is not above what it filled",
                        orig.order.0
                    ));
                    return self.emit(VenueEventKind::ReplaceRejected {
                        cl,
                        reason: Reason::VenueRejected,
                    });
                }
            }
        }
        if o.order_type.has_limit() {
            o.limit = limit;
        } else {
            o.stop = limit;
        }
        let Some((sym, symbol)) = self.syms.by_id(k.order.instrument) else {
            return self.emit(VenueEventKind::ReplaceRejected {
                cl,
                reason: Reason::UnknownInstrument,
            });
        };
        let symbol = symbol.to_string();
        let venue_orig = if self.flavor == Flavor::Usdm {
            k.venue_cl
        } else {
            orig
        };
        let (method, path, p) =
            match binance::replace(self.flavor, sym, &symbol, &o, cl, venue_orig, unfilled) {
                Ok(x) => x,
                Err(reason) => return self.emit(VenueEventKind::ReplaceRejected { cl, reason }),
            };
        self.st.replaces.push(PendingReplace {
            cl,
            orig: venue_orig,
            qty,
            limit,
        });
        match self.signed(method, path, &p) {
            Answer::Ok(v) => {
                let venue_cl = if self.flavor == Flavor::Usdm {
                    k.venue_cl
                } else {
                    cl
                };
                // Remembered with the core's total: what the venue order lacks of it is
                // what earlier venue orders filled (`earlier_fills`).
                let order = VenueOrder { qty, ..o };
                self.orders.insert(o.cl.order.0, Known { order, venue_cl });
                if self.flavor == Flavor::Spot {
                    self.cut_oversized_replace(&symbol, k.order.qty, qty, o.qty, cl, &v);
                }
            }
            other => {
                self.st.replaces.retain(|r| r.cl != cl);
                match other {
                    Answer::Refused(..) | Answer::Held | Answer::NotSent => {
                        let reason = refusal(&other);
                        self.emit(VenueEventKind::ReplaceRejected { cl, reason });
                    }
                    _ => self.query(orig),
                }
            }
        }
    }

    /// A fill that raced the cancelReplace: when the old venue order filled more than
    /// the remainder `sent` assumed, the new one would take the order past the core's
    /// total `qty`; it is canceled (the stream tells the core Replaced, then Canceled),
    /// never left to overfill. `was` is the core's total before the replace.
    fn cut_oversized_replace(
        &mut self,
        symbol: &str,
        was: Qty,
        qty: Qty,
        sent: Qty,
        cl: ClOrdId,
        answer: &Value,
    ) {
        let Some(filled) = binance::filled_at_replace(&self.syms, was, answer) else {
            return;
        };
        if filled.saturating_add(sent.0) <= qty.0 {
            return;
        }
        self.say(&format!(
            "replace of order {}: the old venue order filled {filled} in the meantime, the new one is too big; canceling it",
            cl.order.0
        ));
        let mut p = Params::default();
        p.add("symbol", symbol)
            .add("origClientOrderId", &cl.to_string());
        match self.signed("DELETE", self.flavor.order_path(), &p) {
            Answer::Ok(_) | Answer::Refused(..) => {}
            _ => self.query(cl),
        }
    }

    /// What venue orders before the one `answer` describes filled of order `order`: as
    /// the stream told it, or, when this process did not see it (a restart), the
    /// order's total less the venue order's own quantity — a replace sends exactly the
    /// remainder.
    fn earlier_fills(&self, order: u64, answer: &Value) -> i64 {
        if self.st.filled.contains_key(&order) {
            return self.st.prior_of(order);
        }
        self.orders.get(&order).map_or(0, |k| {
            binance::earlier_fills(&self.syms, k.order.qty, answer)
        })
    }

    /// Asks again the queries that are due (one per cycle while the venue holds off).
    fn requery_due(&mut self, now: u64) -> bool {
        let Some(&(cl, attempts, at)) = self.requery.front() else {
            return false;
        };
        if now < at.max(self.limits.hold_until_ms) || self.user.is_none() {
            return false;
        }
        self.requery.pop_front();
        self.query_attempt(cl, attempts);
        true
    }

    /// Asks where the order `cl` names stands; the answer is a `Status`.
    fn query(&mut self, cl: ClOrdId) {
        self.query_attempt(cl, 0);
    }

    fn query_attempt(&mut self, cl: ClOrdId, attempts: u8) {
        let Some(k) = self.orders.get(&cl.order.0).copied() else {
            return;
        };
        let Some((_, symbol)) = self.syms.by_id(k.order.instrument) else {
            return;
        };
        let p = binance::query(symbol, k.venue_cl);
        self.stats.status_requests.fetch_add(1, Ordering::Relaxed);
        match self.signed("GET", self.flavor.order_path(), &p) {
            Answer::Ok(v) => match binance::order_status(self.flavor, &self.syms, &v) {
                Some((_, _, state, cum, avg)) => {
                    let prior = self.earlier_fills(cl.order.0, &v);
                    // The answer's average is its venue order's; the core's is the
                    // whole order's (it prices the missing quantity from it).
                    let leg_avg = avg;
                    let avg = self.st.average_of(cl.order.0, prior, cum.0, leg_avg);
                    if matches!(state, VenueOrderState::Working | VenueOrderState::Pending) {
                        self.st.seed(cl.order.0, prior, cum.0, leg_avg);
                    }
                    let cum = Qty(cum.0.saturating_add(prior));
                    self.emit(VenueEventKind::Status {
                        cl,
                        state,
                        filled: Some((cum, avg)),
                    })
                }
                None => self.st.invalid += 1,
            },
            // "Order does not exist": it never reached the venue — unless it is a
            // conditional order the Algo Service still holds, untriggered.
            Answer::Refused(-2013, _) => {
                let mut state = VenueOrderState::Unknown;
                if binance::is_algo(self.flavor, k.order.order_type) {
                    let mut a = Params::default();
                    a.add("clientAlgoId", &k.venue_cl.to_string());
                    match self.signed("GET", ALGO_PATH, &a) {
                        Answer::Ok(v) => match binance::algo_state(&v) {
                            Some(s) => state = s,
                            None => return,
                        },
                        Answer::Refused(_, _) => {}
                        // No answer: not known to be unknown; asked again later.
                        _ => return,
                    }
                }
                self.emit(VenueEventKind::Status {
                    cl,
                    state,
                    filled: Some((Qty(0), Price(0))),
                });
            }
            // Not asked (Retry-After) or not answered: asked again in a while; after
            // that the core's hard timeout and reconciliation still ask.
            Answer::Held | Answer::Unknown | Answer::NotSent
                if attempts < 5 && !self.requery.iter().any(|q| q.0 == cl) =>
            {
                let at = wall_ms() + 1_000 * (1 << attempts);
                self.requery.push_back((cl, attempts + 1, at));
            }
            _ => {}
        }
    }

    /// The account's balances (spot `GET /api/v3/account`, weight 20; USDⓈ-M `GET
    /// /fapi/v3/account`, weight 5), told the core as `Balance`s; whether it answered.
    fn read_balances(&mut self) -> bool {
        let path = match self.flavor {
            Flavor::Spot => "/api/v3/account",
            Flavor::Usdm => "/fapi/v3/account",
        };
        let mut p = Params::default();
        if self.flavor == Flavor::Spot {
            // Every asset, zero ones too: each needs a starting point before it moves.
            p.add("omitZeroBalances", "false");
        }
        let Answer::Ok(v) = self.signed("GET", path, &p) else {
            return false;
        };
        let mut out = Vec::new();
        if !binance::balances(self.flavor, &self.syms, self.account, &v, &mut out) {
            self.st.invalid += 1;
            if !self.misfit_balance_told {
                self.misfit_balance_told = true;
                self.say(
                    "an account answer has a balance that does not fit (8 decimals, i64) or is malformed: that asset is left out",
                );
            }
        }
        for k in out {
            self.emit(k);
        }
        true
    }

    fn snapshot(&mut self) {
        // Balances and positions first, open orders last, right before the stream is
        // read: an order that fills or ends between the open-orders answer and the end
        // is then told by the stream before the core compares, not a false mismatch.
        self.read_balances();
        let positions_ok = match self.flavor {
            // Spot holds balances, not positions: nothing to compare a net position with.
            Flavor::Spot => false,
            Flavor::Usdm => match self.signed("GET", "/fapi/v3/positionRisk", &Params::default()) {
                Answer::Ok(v) => {
                    let mut out = Vec::new();
                    let ok = binance::positions(&self.syms, self.account, &v, &mut out);
                    for k in out {
                        self.emit(k);
                    }
                    ok
                }
                _ => false,
            },
        };
        let path = self.flavor.open_orders_path();
        let mut foreign = 0u32;
        let mut listed = Vec::new();
        let orders_ok = match self.signed("GET", path, &Params::default()) {
            Answer::Ok(Value::Array(a)) => {
                for o in &a {
                    match binance::order_status(self.flavor, &self.syms, o) {
                        Some((Some(cl), _, _, cum, avg)) => {
                            let prior = self.earlier_fills(cl.order.0, o);
                            self.st.seed(cl.order.0, prior, cum.0, avg);
                            let cum = Qty(cum.0.saturating_add(prior));
                            listed.push(VenueEventKind::Listed { cl, cum })
                        }
                        _ => foreign += 1,
                    }
                }
                true
            }
            _ => false,
        };
        for k in listed {
            self.emit(k);
        }
        // What the stream says about fills the answers above already include is read
        // before the end, so execd's side of a balance is as current as the venue's.
        self.read_user();
        self.emit(VenueEventKind::SnapshotEnd {
            orders: orders_ok,
            positions: positions_ok,
            foreign,
        });
    }
}

/// Why a cancel or replace did not happen: the venue's refusal, its rate limit holding
/// requests, or nothing reached it (the request simply did not go out).
fn refusal(a: &Answer) -> Reason {
    match a {
        Answer::Refused(code, msg) => binance::reason_of(*code, msg),
        Answer::Held => Reason::VenueRateLimited,
        _ => Reason::VenueTransport,
    }
}
