//! Order → ack and order → fill round trips through the Binance bridge against
//! `execd-binance-sim` on 127.0.0.1 (`cargo bench --bench binance_roundtrip`; see
//! `benches/README.md`).
//!
//! The simulator runs as a child process (release build, spot, flat price path so every
//! order at the touch fills on arrival). Three rows, orders strictly one at a time:
//!
//! - `sim alone (REST)`: the bench thread itself sends each order to the simulator as a
//!   signed `POST /api/v3/order` (ureq, keep-alive, `newOrderRespType=FULL`: the answer
//!   carries the fill) and times the HTTP round trip. No execd: what the simulator's own
//!   HTTP handling and matching cost, the floor under the execd rows.
//! - `execd → bridge → sim`: execd's core in-process (library API, journaled, the bridge's
//!   wire log on), the Binance spot venue from `examples/binance-sim.toml`, driven through
//!   a `Handle`: marketable limit orders (GTC, 0.1, buy at the ask / sell at the bid,
//!   alternating). Order → ack runs from "about to submit" to the first venue-driven
//!   order state (New, PartiallyFilled or Filled) or fill seen by the bench thread;
//!   order → fill to the order's `Fill` (from the user data stream on the WebSocket API).
//!   The simulator's HTTP and WebSocket handling is inside these numbers.
//! - `… after N ms idle`: the same, each order sent after `BINANCE_RT_GAP_MS` (20) of
//!   quiet, so the bridge thread has fallen into its deepest idle backoff (1 ms sleeps)
//!   when the order comes: the difference to the row above is what that backoff costs.
//!
//! Environment: `BINANCE_RT_ORDERS` (300), `BINANCE_RT_WARMUP` (30, not recorded),
//! `BINANCE_RT_GAP_MS` (20). Quotes come from the simulator's bookTicker stream only.

use execd::config::{IdleKind, Registry};
use execd::core::{spawn, CoreOptions, CoreThread, Handle};
use execd::model::event::CoreEvent;
use execd::model::fixed::Dec;
use execd::model::ids::{OrderType, RequestId, Side, Tif};
use execd::model::order_state::OrderState;
use execd::model::request::ExecutionRequest;
use execd::venue::bridge::sign::Signer;
use hdrhistogram::Histogram;
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command as Proc, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const SIM_BIN: &str = env!("CARGO_BIN_EXE_execd-binance-sim");
const KEY: &str = "binance-rt-key";
/// Not a secret: the simulator's HMAC key for this run only, passed in its environment.
const SECRET: &str = "binance-rt-secret-not-real";
const ORDER_TIMEOUT: Duration = Duration::from_secs(10);
/// Empty polls of the event ring before the bench thread yields (2 CPUs, shared with
/// the core thread, the bridge thread and the simulator).
const CLIENT_SPINS: u32 = 64;

/// The simulator, killed (and reaped) when dropped, however the bench ends.
struct Sim {
    child: Child,
    stdin: Option<ChildStdin>,
    _lines: Receiver<String>,
    port: u16,
}

impl Sim {
    fn start() -> Result<Sim, String> {
        let mut child = Proc::new(SIM_BIN)
            .args([
                "--protocol",
                "spot",
                "--port",
                "0",
                "--api-key",
                KEY,
                "--volatility-bps",
                "0",
                // One order at a time for a few thousand orders: above Binance's own
                // order-count and weight limits, which would answer 429.
                "--order-limit-10s",
                "1000000",
                "--weight-limit",
                "100000000",
            ])
            .env("BINANCE_SIM_SECRET", SECRET)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start {SIM_BIN}: {e}"))?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    return;
                }
            }
        });
        let mut sim = Sim {
            child,
            stdin,
            _lines: lines,
            port: 0,
        };
        let first = sim
            ._lines
            .recv_timeout(Duration::from_secs(10))
            .map_err(|_| "the simulator never said it was listening".to_string())?;
        let v: Value = serde_json::from_str(&first).map_err(|e| format!("{e}: {first}"))?;
        sim.port = v["port"]
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .ok_or_else(|| format!("no port in {first}"))?;
        Ok(sim)
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        if let Some(mut s) = self.stdin.take() {
            let _ = writeln!(s, "quit");
        }
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A temporary directory removed when dropped.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Stops the core (the bridge unsubscribes, its thread ends) when dropped.
struct Core(Option<CoreThread>);

impl Drop for Core {
    fn drop(&mut self) {
        if let Some(c) = self.0.take() {
            let _ = c.shutdown();
        }
    }
}

struct Stats {
    orders: u64,
    p50: f64,
    p90: f64,
    p99: f64,
    p999: f64,
    max: f64,
    per_s: f64,
}

impl Stats {
    fn from_hist(h: &Histogram<u64>, elapsed: Duration) -> Stats {
        let us = |ns: u64| ns as f64 / 1000.0;
        Stats {
            orders: h.len(),
            p50: us(h.value_at_quantile(0.50)),
            p90: us(h.value_at_quantile(0.90)),
            p99: us(h.value_at_quantile(0.99)),
            p999: us(h.value_at_quantile(0.999)),
            max: us(h.max()),
            per_s: h.len() as f64 / elapsed.as_secs_f64().max(1e-9),
        }
    }
}

fn hist() -> Histogram<u64> {
    Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("histogram bounds")
}

fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn env_u64(key: &str, default: u64) -> u64 {
    std::env::var(key)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

// ---------------------------------------------------------------------------------------
// The simulator alone: signed REST orders from the bench thread.

fn run_rest(sim: &Sim, warmup: u64, n: u64) -> Result<Stats, String> {
    let agent = ureq::AgentBuilder::new().timeout(ORDER_TIMEOUT).build();
    let signer = Signer::hmac(SECRET.as_bytes());
    let url = format!("http://127.0.0.1:{}/api/v3/order", sim.port);
    let mut h = hist();
    let mut started = Instant::now();
    for i in 0..warmup + n {
        if i == warmup {
            started = Instant::now();
        }
        let (side, px) = if i % 2 == 0 {
            ("BUY", "100.01")
        } else {
            ("SELL", "99.99")
        };
        let t0 = Instant::now();
        let mut q = format!(
            "symbol=BTCUSDT&side={side}&type=LIMIT&timeInForce=GTC&quantity=0.1&price={px}\
             &newClientOrderId=rest-{i}&newOrderRespType=FULL&recvWindow=5000&timestamp={}",
            wall_ms()
        );
        let sig = signer.sign(q.as_bytes());
        q.push_str("&signature=");
        q.push_str(&sig);
        let answer = agent
            .post(&format!("{url}?{q}"))
            .set("X-MBX-APIKEY", KEY)
            .call()
            .map_err(|e| format!("REST order {i}: {e}"))?;
        let v: Value = answer
            .into_json()
            .map_err(|e| format!("REST order {i}: {e}"))?;
        if v["status"] != "FILLED" {
            return Err(format!("REST order {i} not filled on arrival: {v}"));
        }
        if i >= warmup {
            let _ = h.record(t0.elapsed().as_nanos().max(1) as u64);
        }
    }
    Ok(Stats::from_hist(&h, started.elapsed()))
}

// ---------------------------------------------------------------------------------------
// execd's core with the bridge venue.

fn registry(port: u16) -> Result<Registry, String> {
    let mut text = include_str!("../examples/binance-sim.toml").to_string();
    for (from, to) in [
        ("127.0.0.1:9901", format!("127.0.0.1:{port}")),
        ("BINANCE_SIM_KEY", "BINANCE_RT_KEY".into()),
        ("BINANCE_SIM_SECRET", "BINANCE_RT_SECRET".into()),
        // A ping-pong of a few hundred orders a second: above the example's throttle.
        (
            "max_orders_per_sec = 50",
            "max_orders_per_sec = 100000".into(),
        ),
        ("burst = 20", "burst = 100000".into()),
    ] {
        if !text.contains(from) {
            return Err(format!("{from:?} not in examples/binance-sim.toml"));
        }
        text = text.replace(from, &to);
    }
    Registry::from_toml(&text).map_err(|e| e.to_string())
}

fn order(tag: &str, i: u64) -> ExecutionRequest {
    // Marketable limits at the flat path's touch, alternating sides: the position and
    // the simulator's balances stay flat.
    let side = if i % 2 == 0 { Side::Buy } else { Side::Sell };
    let mut r = ExecutionRequest::market("", "alpha", "binance", "BTCUSDT", side, Dec::new(1, 1));
    r.request_id = RequestId::new(&format!("rt-{tag}-{i}")).expect("request id");
    r.order_type = OrderType::Limit;
    r.tif = Tif::Gtc;
    r.limit_price = Some(match side {
        Side::Buy => Dec::new(10001, 2),
        Side::Sell => Dec::new(9999, 2),
    });
    r
}

/// One order: (order → ack, order → fill).
fn round_trip(
    h: &mut Handle,
    req: ExecutionRequest,
    i: u64,
) -> Result<(Duration, Duration), String> {
    let t0 = Instant::now();
    h.submit(req)
        .map_err(|_| "the core's inbound ring is full".to_string())?;
    let mut id = None;
    let mut ack = None;
    let mut polls = 0u32;
    loop {
        match h.try_event() {
            Some(CoreEvent::Accepted {
                request_id, order, ..
            }) if request_id == req.request_id => id = Some(order),
            Some(CoreEvent::Rejected {
                request_id, reason, ..
            }) if request_id == req.request_id => {
                return Err(format!("order {i} rejected: {}", reason.code()));
            }
            Some(CoreEvent::Order(s)) if Some(s.order) == id => match s.state {
                OrderState::New | OrderState::PartiallyFilled | OrderState::Filled => {
                    ack.get_or_insert_with(|| t0.elapsed());
                }
                OrderState::Rejected | OrderState::Canceled | OrderState::Expired => {
                    return Err(format!("order {i} ended {:?}", s.state));
                }
                _ => {}
            },
            Some(CoreEvent::Fill { order, .. }) if Some(order) == id => {
                let fill = t0.elapsed();
                return Ok((ack.unwrap_or(fill), fill));
            }
            Some(_) => {}
            None => {
                polls = polls.wrapping_add(1);
                if polls > CLIENT_SPINS {
                    std::thread::yield_now();
                } else {
                    std::hint::spin_loop();
                }
                if polls % 1024 == 0 && t0.elapsed() > ORDER_TIMEOUT {
                    return Err(format!("order {i}: no fill within {ORDER_TIMEOUT:?}"));
                }
            }
        }
    }
}

/// (order → ack, order → fill) for `n` recorded orders after `warmup`, each sent after
/// `gap` of quiet.
fn run_rows(
    h: &mut Handle,
    tag: &str,
    gap: Duration,
    warmup: u64,
    n: u64,
) -> Result<(Stats, Stats), String> {
    let (mut acks, mut fills) = (hist(), hist());
    let mut started = Instant::now();
    let mut busy = Duration::ZERO;
    for i in 0..warmup + n {
        if i == warmup {
            started = Instant::now();
            busy = Duration::ZERO;
        }
        if !gap.is_zero() {
            std::thread::sleep(gap);
        }
        let (ack, fill) = round_trip(h, order(tag, i), i)?;
        if i >= warmup {
            let _ = acks.record(ack.as_nanos().max(1) as u64);
            let _ = fills.record(fill.as_nanos().max(1) as u64);
            busy += fill;
        }
    }
    // Orders/s over the time spent in round trips (the idle gaps left out).
    let elapsed = if gap.is_zero() {
        started.elapsed()
    } else {
        busy
    };
    Ok((
        Stats::from_hist(&acks, elapsed),
        Stats::from_hist(&fills, elapsed),
    ))
}

fn run_execd(
    sim: &Sim,
    gap: Duration,
    warmup: u64,
    n: u64,
) -> Result<Vec<(String, Stats)>, String> {
    std::env::set_var("BINANCE_RT_KEY", KEY);
    std::env::set_var("BINANCE_RT_SECRET", SECRET);
    let reg = registry(sim.port)?;
    let epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as u32)
        .unwrap_or(1);
    let mut opts = CoreOptions::real_time(epoch);
    opts.idle = IdleKind::Backoff;
    let journal =
        std::env::temp_dir().join(format!("execd-binance-rt-{}-{}", std::process::id(), epoch));
    let _cleanup = TempDir(journal.clone());
    opts.journal = Some(journal);
    let (core, mut handles) = spawn(Arc::new(reg), opts, 1).map_err(|e| format!("core: {e}"))?;
    let core = Core(Some(core));
    let h = &mut handles[0];
    let up = h.wait_for(
        Duration::from_secs(10),
        |e| matches!(e, CoreEvent::VenueSession { up: true, .. }),
        |_| {},
    );
    if up.is_none() {
        return Err("the Binance venue never came up".into());
    }
    // The gate wants a quote: the first bookTickers (every 100 ms) arrive after logon.
    std::thread::sleep(Duration::from_millis(500));
    let mut rows = Vec::new();
    let (ack, fill) = run_rows(h, "b2b", Duration::ZERO, warmup, n)?;
    rows.push(("execd → bridge → sim: order → ack".to_string(), ack));
    rows.push(("execd → bridge → sim: order → fill".to_string(), fill));
    let (ack, fill) = run_rows(h, "idle", gap, warmup.min(5), n)?;
    let ms = gap.as_millis();
    rows.push((format!("… after {ms} ms idle: order → ack"), ack));
    rows.push((format!("… after {ms} ms idle: order → fill"), fill));
    drop(core);
    Ok(rows)
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is taken from the command line.
    let n = env_u64("BINANCE_RT_ORDERS", 300).max(1);
    let warmup = env_u64("BINANCE_RT_WARMUP", 30);
    let gap = Duration::from_millis(env_u64("BINANCE_RT_GAP_MS", 20));
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load_start = loadavg();
    let sim = match Sim::start() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("binance_roundtrip: {e}");
            std::process::exit(1);
        }
    };
    let mut rows = Vec::new();
    let mut failed = false;
    match run_rest(&sim, warmup, n) {
        Ok(s) => rows.push(("sim alone (REST order → FULL answer)".to_string(), s)),
        Err(e) => {
            eprintln!("binance_roundtrip: sim alone: {e}");
            failed = true;
        }
    }
    match run_execd(&sim, gap, warmup, n) {
        Ok(r) => rows.extend(r),
        Err(e) => {
            eprintln!("binance_roundtrip: execd: {e}");
            failed = true;
        }
    }
    drop(sim);
    println!(
        "binance_roundtrip: {n} orders per row one at a time after {warmup} of warm-up; \
         {cpus} CPUs; load average {load_start} at the start, {} at the end",
        loadavg()
    );
    println!(
        "{:<44} {:>7} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "row (µs)", "orders", "p50", "p90", "p99", "p99.9", "max", "orders/s"
    );
    for (name, s) in &rows {
        println!(
            "{:<44} {:>7} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9.0}",
            name, s.orders, s.p50, s.p90, s.p99, s.p999, s.max, s.per_s
        );
    }
    println!(
        "note: the simulator's own latency (HTTP request parsing, signature check, matching, \
         the WebSocket push of the fill) is inside every execd row, not subtracted; the \
         first row is that floor for the REST leg alone."
    );
    println!(
        "note: the bridge thread idles with backoff (yield 10 passes, then 100 µs sleeps, \
         then 1 ms sleeps after 100 idle passes); the \"after {} ms idle\" rows meet it \
         asleep at 1 ms: their difference to the back-to-back rows is that backoff's cost.",
        gap.as_millis()
    );
    if failed {
        std::process::exit(1);
    }
}
