//! Loopback order → fill round trips over FIX, execd against QuickFIX C++, all in one run
//! on one machine (`cargo bench --bench fix_roundtrip`; see `benches/README.md`).
//!
//! Every row sends orders strictly one at a time (send, wait for the fill, send the
//! next): a warm-up (`FIX_RT_WARMUP`, default 500) that is not recorded, then
//! `FIX_RT_ORDERS` (default 5000) recorded. Latency runs from "about to send" to "fill
//! seen by the sender", in an HDR histogram.
//!
//! - `execd → sim`: execd's core in-process (library API, journaled), one FIX venue
//!   pointing at a fresh `execd-venue-sim --policy fill` child process. The bench thread
//!   submits marketable limit orders (GTC, alternating buy at the ask / sell at the bid,
//!   quantity 1) through a `Handle` and busy-polls `try_event` for the order's `Fill`;
//!   it re-sends the quote every 100 ms (the gate wants quotes younger than 5 s). One row
//!   per core idle strategy (backoff / yield / spin) × simulator (blocking epoll /
//!   `--spin`).
//! - `QuickFIX → QuickFIX`: `qf-peer initiator` against `qf-peer acceptor` (market
//!   orders, its own `bench` command; both sides block in QuickFIX's socket threads).
//! - `QuickFIX → sim`: the same initiator against `execd-venue-sim` (blocking / `--spin`).
//!
//! Environment: `FIX_RT_ORDERS`, `FIX_RT_WARMUP`, `FIX_RT_ONLY` (comma-separated
//! substrings: run only rows whose name contains one), `FIX_RT_CLIENT` (`spin`, the
//! default: the bench thread busy-polls the event ring; `yield`: it yields after 64 empty
//! polls), `FIX_RT_OVERSUB_ORDERS` (default 500: recorded orders of the execd → sim
//! `--spin` rows on a machine with 2 CPUs or fewer, where three busy-pollers share two
//! CPUs and each order can wait for a scheduler time slice), `EXECD_QF_PEER` (qf-peer binary;
//! default `interop/quickfix-peer/target/release/qf-peer`; missing → the QuickFIX rows are
//! skipped with a note, or the bench panics under `CI=true`). The table goes to stdout
//! and, as JSON, to `target/fix_roundtrip.json`.

use execd::calendar::iso8601;
use execd::config::IdleKind;
use execd::config::Registry;
use execd::core::{spawn, CoreOptions, CoreThread, Handle};
use execd::model::event::{Command, CoreEvent};
use execd::model::fixed::Dec;
use execd::model::ids::{Name, OrderType, RequestId, Side, Tif};
use execd::model::request::ExecutionRequest;
use hdrhistogram::Histogram;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command as Proc, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const SIM_BIN: &str = env!("CARGO_BIN_EXE_execd-venue-sim");
const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");
/// Re-send the top of book this often (the gate's age limit is 5 s).
const QUOTE_EVERY: Duration = Duration::from_millis(100);
/// A single order that takes longer than this fails the row.
const ORDER_TIMEOUT: Duration = Duration::from_secs(5);
const LOGON_TIMEOUT: Duration = Duration::from_secs(10);
/// Empty polls of the event ring before a yielding bench thread starts to yield.
const CLIENT_SPINS: u32 = 64;

// ---------------------------------------------------------------------------------------
// Child processes and temp dirs, cleaned up on every path out (Drop).

/// A child process speaking JSON lines on stdout; killed (and reaped) when dropped.
struct Peer {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
}

impl Peer {
    fn spawn(name: &str, bin: &Path, args: &[String]) -> Result<Peer, String> {
        let mut child = Proc::new(bin)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("{name}: cannot start {}: {e}", bin.display()))?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::Builder::new()
            .name(format!("{name}-stdout"))
            .spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            })
            .map_err(|e| format!("{name}: reader thread: {e}"))?;
        Ok(Peer {
            name: name.to_string(),
            child,
            stdin,
            lines,
        })
    }

    fn send(&mut self, line: &str) -> Result<(), String> {
        let w = self
            .stdin
            .as_mut()
            .ok_or_else(|| format!("{}: stdin closed", self.name))?;
        writeln!(w, "{line}")
            .and_then(|_| w.flush())
            .map_err(|e| format!("{}: write {line:?}: {e}", self.name))
    }

    /// The next JSON line whose `type` is one of `types`; other lines are skipped.
    fn expect(&mut self, types: &[&str], timeout: Duration) -> Result<Value, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let Ok(v) = serde_json::from_str::<Value>(&line) else {
                        continue;
                    };
                    let t = v["type"].as_str().unwrap_or("");
                    if types.contains(&t) {
                        return Ok(v);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    return Err(format!(
                        "{}: no {types:?} line within {} s",
                        self.name,
                        timeout.as_secs()
                    ))
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let st = self.child.try_wait().ok().flatten();
                    return Err(format!(
                        "{}: exited ({st:?}) before a {types:?} line",
                        self.name
                    ));
                }
            }
        }
    }

    /// Asks the process to stop (`quit`, then stdin EOF), waits a little, then kills it.
    fn finish(mut self, grace: Duration) {
        let _ = self.send("quit");
        self.stdin = None;
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        // Drop kills it.
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.stdin = None;
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// A temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Result<TempDir, String> {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let p = std::env::temp_dir().join(format!(
            "execd-fix-rt-{}-{tag}-{nanos:x}",
            std::process::id()
        ));
        std::fs::create_dir_all(&p).map_err(|e| format!("{}: {e}", p.display()))?;
        Ok(TempDir(p))
    }

    fn path(&self) -> String {
        self.0.display().to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A TCP port that was free a moment ago (QuickFIX's acceptor binds all interfaces).
fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("0.0.0.0:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("free port: {e}"))
}

/// Starts `execd-venue-sim --port 0 --policy fill` and returns it with its port.
fn start_sim(spin: bool, sender: &str) -> Result<(Peer, u16), String> {
    let mut args: Vec<String> = ["--port", "0", "--policy", "fill", "--sender", sender]
        .iter()
        .map(|s| s.to_string())
        .collect();
    if spin {
        args.push("--spin".into());
    }
    let mut sim = Peer::spawn("execd-venue-sim", Path::new(SIM_BIN), &args)?;
    let v = sim.expect(&["listening"], Duration::from_secs(10))?;
    let port = v["port"]
        .as_u64()
        .ok_or_else(|| format!("execd-venue-sim: bad listening line {v}"))?;
    Ok((sim, port as u16))
}

// ---------------------------------------------------------------------------------------
// Results.

#[derive(Clone, Debug)]
struct Row {
    name: String,
    notes: String,
    /// Recorded orders, or why the row did not run.
    result: Result<Stats, String>,
}

#[derive(Clone, Copy, Debug)]
struct Stats {
    orders: u64,
    p50: f64,
    p90: f64,
    p99: f64,
    p999: f64,
    max: f64,
    mean: f64,
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
            mean: h.mean() / 1000.0,
            per_s: h.len() as f64 / elapsed.as_secs_f64().max(1e-9),
        }
    }
}

// ---------------------------------------------------------------------------------------
// execd → execd-venue-sim.

fn execd_config(port: u16) -> String {
    // examples/fix-sim.toml with a free port, one instrument, an absolute dictionary path
    // and a throttle above what a ping-pong can reach (≈ 10 k/s would trip the example's).
    format!(
        r#"
[core]
ring_capacity = 4096
max_orders = 65536

[gate]
max_quote_age_ms = 5000
margin_cushion = "1.2"

[[venues]]
name = "sim"
kind = "fix"
timeout_ms = 5000
max_orders_per_sec = 1000000
burst = 100000
breaker_failures = 5
breaker_cooldown_ms = 10000

[venues.fix]
SocketConnectHost = "127.0.0.1"
SocketConnectPort = {port}
BeginString = "FIX.4.4"
SenderCompID = "EXECD"
TargetCompID = "SIM"
HeartBtInt = 30
ResetOnLogon = false
ReconnectInterval = 30
DataDictionary = "FIX.4.4"

[[instruments]]
symbol = "AAPL"
venue = "sim"
tick = "0.01"
lot = "1"
hours = "24/7"
max_spread = "0.50"
price_band_bps = 500
margin_bps = 2500
max_order_qty = "5000"
max_notional = "1000000"
max_position = "20000"
initial_price = "100.00"
spread_ticks = 2
volatility_ticks = 2
depth_lots = 2000

[[accounts]]
name = "alpha"
mode = "AUTONOMOUS"
cash = "50000000"
max_open_orders = 50000
"#
    )
}

fn quote(h: &mut Handle) -> Result<(), String> {
    h.send(Command::Quote {
        venue: Name::new("sim").expect("name"),
        symbol: Name::new("AAPL").expect("name"),
        bid: Dec::new(9999, 2),
        ask: Dec::new(10001, 2),
        bid_size: Dec::new(2000, 0),
        ask_size: Dec::new(2000, 0),
    })
    .map_err(|_| "the core's inbound ring is full".to_string())
}

fn order(i: u64, epoch: u32) -> ExecutionRequest {
    // Marketable limits, alternating sides so the position stays flat.
    let side = if i % 2 == 0 { Side::Buy } else { Side::Sell };
    let mut r = ExecutionRequest::market("", "alpha", "sim", "AAPL", side, Dec::new(1, 0));
    let mut id = [0u8; 32];
    let n = {
        let mut w = &mut id[..];
        let _ = write!(w, "rt-{epoch:x}-{i}");
        32 - w.len()
    };
    r.request_id = RequestId::new(std::str::from_utf8(&id[..n]).expect("ascii")).expect("id");
    r.order_type = OrderType::Limit;
    r.tif = Tif::Gtc;
    r.limit_price = Some(match side {
        Side::Buy => Dec::new(10001, 2),
        Side::Sell => Dec::new(9999, 2),
    });
    r
}

/// Stops the core (FIX logout with the simulator) when dropped on an error path.
struct Core(Option<CoreThread>);

impl Drop for Core {
    fn drop(&mut self) {
        if let Some(c) = self.0.take() {
            let _ = c.shutdown();
        }
    }
}

fn run_execd(
    idle: IdleKind,
    sim_spin: bool,
    client_yields: bool,
    warmup: u64,
    n: u64,
) -> Result<Stats, String> {
    let (sim, port) = start_sim(sim_spin, "SIM")?;
    let reg = Registry::from_toml(&execd_config(port)).map_err(|e| e.to_string())?;
    let epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as u32)
        .unwrap_or(1);
    let mut opts = CoreOptions::real_time(epoch);
    opts.idle = idle;
    // Journaled, as a production session is (QuickFIX keeps its FileStore too): commands,
    // events and venue inputs in the journal, every FIX frame in the session store.
    let journal = std::env::temp_dir().join(format!(
        "execd-fix-rt-{}-{}",
        std::process::id(),
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    ));
    let _cleanup = RemoveDir(journal.clone());
    opts.journal = Some(journal);
    let (core, mut handles) = spawn(Arc::new(reg), opts, 1).map_err(|e| format!("core: {e}"))?;
    let core = Core(Some(core));
    let h = &mut handles[0];

    // The gate refuses orders until the session is logged on.
    let up = h.wait_for(
        LOGON_TIMEOUT,
        |e| matches!(e, CoreEvent::VenueSession { up: true, .. }),
        |_| {},
    );
    if up.is_none() {
        return Err("the FIX session to the simulator did not log on".into());
    }
    quote(h)?;
    let mut last_quote = Instant::now();

    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("histogram");
    let mut started = Instant::now();
    for i in 0..warmup + n {
        if i == warmup {
            started = Instant::now();
        }
        if last_quote.elapsed() >= QUOTE_EVERY {
            quote(h)?;
            last_quote = Instant::now();
        }
        let req = order(i, epoch);
        let t0 = Instant::now();
        if h.submit(req).is_err() {
            return Err("the core's inbound ring is full".into());
        }
        let mut id = None;
        let mut polls = 0u32;
        loop {
            match h.try_event() {
                Some(CoreEvent::Accepted {
                    request_id, order, ..
                }) if request_id == req.request_id => id = Some(order),
                Some(CoreEvent::Rejected {
                    request_id, reason, ..
                }) if request_id == req.request_id => {
                    return Err(format!(
                        "order {i} rejected: {} ({reason:?})",
                        reason.code()
                    ))
                }
                Some(CoreEvent::Fill { order, .. }) if Some(order) == id => break,
                Some(_) => {}
                None => {
                    polls = polls.wrapping_add(1);
                    if client_yields && polls > CLIENT_SPINS {
                        std::thread::yield_now();
                    } else {
                        std::hint::spin_loop();
                    }
                    if polls % 4096 == 0 && t0.elapsed() > ORDER_TIMEOUT {
                        return Err(format!(
                            "order {i}: no fill within {} s",
                            ORDER_TIMEOUT.as_secs()
                        ));
                    }
                }
            }
        }
        let dt = t0.elapsed();
        if i >= warmup {
            let _ = hist.record(dt.as_nanos().max(1) as u64);
        }
    }
    let stats = Stats::from_hist(&hist, started.elapsed());
    drop(core); // logs out of the simulator
    sim.finish(Duration::from_secs(3));
    Ok(stats)
}

// ---------------------------------------------------------------------------------------
// QuickFIX initiator → QuickFIX acceptor / execd-venue-sim.

fn qf_peer_bin() -> Option<PathBuf> {
    let p = match std::env::var_os("EXECD_QF_PEER") {
        Some(p) => PathBuf::from(p),
        None => Path::new(MANIFEST_DIR).join("interop/quickfix-peer/target/release/qf-peer"),
    };
    p.is_file().then_some(p)
}

/// Runs `bench` on a qf-peer initiator connected to `port` and returns its figures.
fn qf_initiator_bench(
    bin: &Path,
    port: u16,
    target: &str,
    warmup: u64,
    n: u64,
) -> Result<Stats, String> {
    let store = TempDir::new("qfi")?;
    let args: Vec<String> = [
        "initiator",
        "--port",
        &port.to_string(),
        "--target",
        target,
        "--log",
        "none",
        "--store",
        &store.path(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut ini = Peer::spawn("qf-peer initiator", bin, &args)?;
    ini.expect(&["ready"], Duration::from_secs(10))?;
    ini.send(&format!("wait-logon {}", LOGON_TIMEOUT.as_secs()))?;
    let v = ini.expect(&["ok", "error"], LOGON_TIMEOUT + Duration::from_secs(5))?;
    if v["type"] != "ok" {
        return Err(format!("qf-peer initiator did not log on: {v}"));
    }
    let bench = |ini: &mut Peer, k: u64| -> Result<Value, String> {
        ini.send(&format!("bench {k}"))?;
        let v = ini.expect(&["bench", "error"], Duration::from_secs(60 + k / 100))?;
        let filled = v["filled"].as_u64().unwrap_or(0);
        if v["type"] != "bench" || v["timed_out"] == true || filled != k {
            return Err(format!("qf-peer bench {k}: {v}"));
        }
        Ok(v)
    };
    if warmup > 0 {
        bench(&mut ini, warmup)?;
    }
    let v = bench(&mut ini, n)?;
    ini.finish(Duration::from_secs(6));
    let f = |k: &str| v[k].as_f64().unwrap_or(f64::NAN);
    Ok(Stats {
        orders: v["completed"].as_u64().unwrap_or(0),
        p50: f("p50_us"),
        p90: f("p90_us"),
        p99: f("p99_us"),
        p999: f("p999_us"),
        max: f("max_us"),
        mean: f("mean_us"),
        per_s: f("orders_per_s"),
    })
}

fn run_qf_qf(bin: &Path, warmup: u64, n: u64) -> Result<Stats, String> {
    let store = TempDir::new("qfa")?;
    let port = free_port()?;
    let args: Vec<String> = [
        "acceptor",
        "--port",
        &port.to_string(),
        "--log",
        "none",
        "--no-app-events",
        "--keep-running",
        "--store",
        &store.path(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut acc = Peer::spawn("qf-peer acceptor", bin, &args)?;
    acc.expect(&["ready"], Duration::from_secs(10))?;
    let stats = qf_initiator_bench(bin, port, "QFACC", warmup, n)?;
    acc.finish(Duration::from_secs(6));
    Ok(stats)
}

fn run_qf_sim(bin: &Path, sim_spin: bool, warmup: u64, n: u64) -> Result<Stats, String> {
    // The initiator's default TargetCompID is QFACC: the simulator answers to that name.
    let (sim, port) = start_sim(sim_spin, "QFACC")?;
    let stats = qf_initiator_bench(bin, port, "QFACC", warmup, n)?;
    sim.finish(Duration::from_secs(3));
    Ok(stats)
}

// ---------------------------------------------------------------------------------------
// Output.

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

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

/// UTC date and time to the second, RFC 3339.
fn utc_now() -> String {
    let ns = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    // "2026-01-05T15:00:00.123456789Z" without the fraction.
    format!("{}Z", &iso8601(ns)[..19])
}

fn git_head() -> String {
    Proc::new("git")
        .args(["-C", MANIFEST_DIR, "rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(MANIFEST_DIR).join("target"))
}

fn print_table(rows: &[Row]) {
    let reference = rows.iter().find_map(|r| r.result.as_ref().ok().copied());
    println!(
        "{:<38} {:>6} {:>8} {:>8} {:>8} {:>8} {:>9} {:>9} {:>7} {:>7}",
        "pair",
        "orders",
        "p50 µs",
        "p90 µs",
        "p99 µs",
        "p99.9 µs",
        "max µs",
        "orders/s",
        "p50 ×",
        "p99 ×"
    );
    println!("{}", "-".repeat(38 + 7 + 9 * 4 + 10 * 2 + 8 * 2));
    for r in rows {
        match &r.result {
            Ok(s) => {
                let (x50, x99) = match reference {
                    Some(b) => (s.p50 / b.p50, s.p99 / b.p99),
                    None => (f64::NAN, f64::NAN),
                };
                println!(
                    "{:<38} {:>6} {:>8.1} {:>8.1} {:>8.1} {:>8.1} {:>9.1} {:>9.0} {:>7.2} {:>7.2}",
                    r.name, s.orders, s.p50, s.p90, s.p99, s.p999, s.max, s.per_s, x50, x99
                );
            }
            Err(e) => println!("{:<38} not run: {e}", r.name),
        }
    }
    println!();
    println!("× = this row's p50 / p99 divided by the first row's (execd, core backoff → sim, blocking).");
    for r in rows {
        println!("  {:<36} {}", r.name, r.notes);
    }
}

fn to_json(rows: &[Row], context: &Value) -> Value {
    let reference = rows.iter().find_map(|r| r.result.as_ref().ok().copied());
    let rows: Vec<Value> = rows
        .iter()
        .map(|r| match &r.result {
            Ok(s) => json!({
                "pair": r.name,
                "notes": r.notes,
                "orders": s.orders,
                "p50_us": s.p50,
                "p90_us": s.p90,
                "p99_us": s.p99,
                "p999_us": s.p999,
                "max_us": s.max,
                "mean_us": s.mean,
                "orders_per_s": s.per_s,
                "p50_vs_first": reference.map(|b| s.p50 / b.p50),
                "p99_vs_first": reference.map(|b| s.p99 / b.p99),
            }),
            Err(e) => json!({ "pair": r.name, "notes": r.notes, "error": e }),
        })
        .collect();
    json!({ "context": context, "rows": rows })
}

// ---------------------------------------------------------------------------------------

type Job = Box<dyn Fn() -> Result<Stats, String>>;

fn main() {
    // `cargo bench` passes `--bench` (and maybe a filter); nothing else to parse.
    let n = env_u64("FIX_RT_ORDERS", 5000).max(1);
    let warmup = env_u64("FIX_RT_WARMUP", 500);
    let oversub_n = env_u64("FIX_RT_OVERSUB_ORDERS", 500).max(1);
    let only: Vec<String> = std::env::var("FIX_RT_ONLY")
        .map(|s| {
            s.split(',')
                .map(|x| x.trim().to_string())
                .filter(|x| !x.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    let nproc = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let load_start = loadavg();
    let context = |load_end: &str| {
        json!({
            "date": utc_now(),
            "git": git_head(),
            "nproc": nproc,
            "cpu": cpu_model(),
            "loadavg_start": load_start,
            "loadavg_end": load_end,
            "orders": n,
            "warmup": warmup,
        })
    };
    println!(
        "fix_roundtrip: {} UTC, git {}, {nproc} CPUs ({}), load average at start {load_start}",
        utc_now(),
        git_head(),
        cpu_model()
    );
    println!(
        "  {n} orders per row, one at a time, after {warmup} unrecorded; latency = about to send → fill seen by the sender"
    );

    let qf = qf_peer_bin();
    if qf.is_none() {
        let msg = "qf-peer not found (EXECD_QF_PEER, or build it: cargo build --release \
                   --manifest-path interop/quickfix-peer/Cargo.toml): QuickFIX rows skipped";
        if ci {
            panic!("{msg}");
        }
        println!("  note: {msg}");
    }

    let client_yields = match std::env::var("FIX_RT_CLIENT").as_deref() {
        Ok("spin") | Err(_) => false,
        Ok("yield") => true,
        Ok(other) => panic!("FIX_RT_CLIENT={other:?}: spin or yield"),
    };
    let client = if client_yields {
        "bench thread polls the core's event ring, yielding after 64 empty polls"
    } else {
        "bench thread busy-polls the core's event ring"
    };
    let mut jobs: Vec<(String, String, Job)> = Vec::new();
    for (sim_spin, sim_note) in [
        (false, "sim blocks in epoll"),
        (true, "sim --spin (busy-polls)"),
    ] {
        for (idle, idle_name, idle_note) in [
            (
                IdleKind::Backoff,
                "backoff",
                "core spins 64×, yields 128×, then parks 1 µs…1 ms",
            ),
            (
                IdleKind::Yield,
                "yield",
                "core yields the CPU each idle cycle",
            ),
            (IdleKind::Spin, "spin", "core busy-spins"),
        ] {
            let name = format!(
                "execd (core {idle_name}) → sim{}",
                if sim_spin { " --spin" } else { "" }
            );
            // Three busy-pollers (bench thread, core, simulator) or two plus a core that
            // must run on every order: on 2 CPUs each order can wait for a time slice
            // (ms), so these rows would take minutes at full size.
            let oversubscribed = sim_spin && nproc <= 2;
            let (rn, rw) = if oversubscribed {
                (n.min(oversub_n), warmup.min(oversub_n / 5))
            } else {
                (n, warmup)
            };
            let mut notes = format!("{idle_note}; {client}; {sim_note}; journaled");
            if oversubscribed {
                notes.push_str(&format!(
                    "; {nproc} CPUs oversubscribed: {rn} orders after {rw} (FIX_RT_OVERSUB_ORDERS)"
                ));
            }
            jobs.push((
                name,
                notes,
                Box::new(move || run_execd(idle, sim_spin, client_yields, rw, rn)),
            ));
        }
    }
    let qf_rows: [(&str, &str, Option<bool>); 3] = [
        (
            "QuickFIX → QuickFIX",
            "qf-peer initiator → qf-peer acceptor, FileStore, both block in QuickFIX socket threads; market orders",
            None,
        ),
        (
            "QuickFIX → sim",
            "qf-peer initiator (blocking) → sim blocking in epoll; market orders",
            Some(false),
        ),
        (
            "QuickFIX → sim --spin",
            "qf-peer initiator (blocking) → sim --spin; market orders",
            Some(true),
        ),
    ];
    for (name, notes, sim) in qf_rows {
        let bin = qf.clone();
        let job: Job = Box::new(move || {
            let Some(bin) = bin.as_deref() else {
                return Err("qf-peer not found".into());
            };
            match sim {
                None => run_qf_qf(bin, warmup, n),
                Some(spin) => run_qf_sim(bin, spin, warmup, n),
            }
        });
        jobs.push((name.to_string(), notes.to_string(), job));
    }

    let mut rows = Vec::new();
    for (name, notes, job) in jobs {
        if !only.is_empty() && !only.iter().any(|o| name.contains(o.as_str())) {
            continue;
        }
        eprint!("fix_roundtrip: {name} … ");
        let t = Instant::now();
        let result = job();
        match &result {
            Ok(_) => eprintln!("{:.1} s", t.elapsed().as_secs_f64()),
            Err(e) => eprintln!("failed: {e}"),
        }
        rows.push(Row {
            name,
            notes,
            result,
        });
    }

    let load_end = loadavg();
    println!("  load average at end {load_end}");
    println!();
    print_table(&rows);

    let out = target_dir().join("fix_roundtrip.json");
    let doc = to_json(&rows, &context(&load_end));
    match serde_json::to_string_pretty(&doc)
        .map_err(|e| e.to_string())
        .and_then(|s| std::fs::write(&out, s + "\n").map_err(|e| e.to_string()))
    {
        Ok(()) => println!("\nwritten: {}", out.display()),
        Err(e) => eprintln!("fix_roundtrip: {}: {e}", out.display()),
    }
    let failed = rows
        .iter()
        .filter(|r| r.result.is_err())
        .filter(|r| qf.is_some() || !r.name.starts_with("QuickFIX"))
        .count();
    if failed > 0 {
        eprintln!("fix_roundtrip: {failed} row(s) failed");
        std::process::exit(1);
    }
}

/// Removes a directory when dropped (the journal of an execd row).
struct RemoveDir(std::path::PathBuf);

impl Drop for RemoveDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
