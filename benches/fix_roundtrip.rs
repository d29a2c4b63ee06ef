//! Loopback order → fill round trips over FIX, execd against QuickFIX C++, the raw TCP
//! floor under both and execd's wire-to-wire time, all in one run on one machine
//! (`cargo bench --bench fix_roundtrip`; see `benches/README.md`).
//!
//! **Coordinated omission.** Orders go one at a time on a fixed-rate schedule
//! (`FIX_RT_RATE` per second, default 1000): order i is due at start + i/rate, is sent
//! then (or at once, if the one before finished late) and its latency runs from that
//! intended time, so a stall counts for every order it delayed. Where only a measured
//! value exists (QuickFIX's own stamps, the core's write → fill-read), the value is
//! recorded with HdrHistogram's `record_correct(value, 1/rate)` instead. A warm-up
//! (`FIX_RT_WARMUP`, default 500) is not recorded, then `FIX_RT_ORDERS` (default 5000).
//!
//! - `TCP floor`: `common/floor.rs`: a ping-pong over 127.0.0.1 with the sizes of the
//!   NewOrderSingle execd sends and of what the simulator answers it with (read from the
//!   FIX session store of an execd row of the same run), requester busy-polling; the
//!   responder busy-polls too, or blocks in epoll (the cost of one wake-up).
//! - `execd wire to wire`: NewOrderSingle written → its fill's bytes read, timed on the
//!   core thread by the FIX venue (`FixVenue::wire_to_fill`), core spinning, simulator
//!   `--spin`, journaled; the bench thread sleeps between orders and while it waits, so
//!   only the core and the simulator spin (the figure to hold against the floor).
//! - `execd submit → fill on the core (core …, sim --spin)`: the same setup, per core idle
//!   strategy; the core times each submit (the producer handle's stamp) to its fill's
//!   delivery into the event ring (`Latency::submit_to_fill`): end to end, upstream to
//!   upstream, without the third busy thread a spinning reader would be (the figure to
//!   hold against QuickFIX → QuickFIX). These rows and the wire-to-wire row pin the core
//!   thread to CPU 0 and the simulator (through `taskset`) and the bench thread to the
//!   last CPU, so that the bench thread waking to
//!   submit never deschedules the core (`FIX_RT_PIN=0` leaves it to the scheduler).
//! - `execd (core …) → sim`: execd's core in-process (library API, journaled), one FIX
//!   venue pointing at a fresh `execd-venue-sim --policy fill` child process. The bench
//!   thread submits marketable limit orders (GTC, alternating buy at the ask / sell at
//!   the bid, quantity 1) through a `Handle` and polls `try_event` for the order's
//!   `Fill`; it re-sends the quote every 100 ms (the gate wants quotes younger than 5 s).
//!   One row per core idle strategy (backoff / yield / spin) × simulator (blocking epoll
//!   / `--spin`). Each also reports the core's own stages (`CoreReport::latency`).
//! - `QuickFIX → QuickFIX`: `qf-peer initiator` against `qf-peer acceptor` (market
//!   orders; both sides block in QuickFIX's socket threads), one `bench 1` per order so
//!   that every order's own latency is known.
//! - `QuickFIX → sim`: the same initiator against `execd-venue-sim` (blocking / `--spin`).
//!
//! Environment: `FIX_RT_ORDERS`, `FIX_RT_WARMUP`, `FIX_RT_RATE`, `FIX_RT_ONLY`
//! (comma-separated substrings: run only rows whose name contains one), `FIX_RT_CLIENT`
//! (`spin`, the default: the bench thread busy-polls the event ring; `yield`: it yields
//! after 64 empty polls), `FIX_RT_OVERSUB_ORDERS` (default 500: recorded orders of the
//! execd → sim `--spin` rows on a machine with 2 CPUs or fewer, where three busy-pollers
//! share two CPUs), `FIX_RT_IDLE_YIELD_US` (the backoff rows' `core.idle_yield_us`, default
//! 2 000), `EXECD_QF_PEER` (qf-peer binary; default
//! `interop/quickfix-peer/target/release/qf-peer`; missing → the QuickFIX rows are
//! skipped with a note, or the bench panics under `CI=true`). The table goes to stdout
//! and, as JSON, to `target/fix_roundtrip.json`; the latency report (one `.hgrm` per row
//! and per execd stage, and the SVG plots `latency.svg` and `stages.svg`) to
//! `target/latency-report/`.

#[path = "common/floor.rs"]
mod floor;
#[path = "common/plot.rs"]
mod plot;

use execd::calendar::iso8601;
use execd::config::Registry;
use execd::config::{IdleKind, DEFAULT_IDLE_YIELD_US};
use execd::core::latency_report::{parse_hgrm, write_hgrm};
use execd::core::{spawn, CoreOptions, CoreThread, Handle};
use execd::model::event::{Command, CoreEvent};
use execd::model::fixed::Dec;
use execd::model::ids::{Name, OrderType, RequestId, Side, Tif};
use execd::model::request::ExecutionRequest;
use execd::venue::fix::store::{read_frames, Direction};
use hdrhistogram::Histogram;
use serde_json::{json, Value};
use std::cell::Cell;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command as Proc, Stdio};
use std::rc::Rc;
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
/// How long a sleeping bench thread sleeps between looks at its event ring while an order
/// is out. Longer than a round trip: its rows are timed on the core, and a wake-up costs
/// the simulator sharing its CPU.
const SLEEPER_POLL: Duration = Duration::from_micros(250);
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

/// Starts `execd-venue-sim --port 0 --policy fill` and returns it with its port; on CPU
/// `cpu` alone when given (through `taskset`).
fn start_sim(spin: bool, sender: &str, cpu: Option<usize>) -> Result<(Peer, u16), String> {
    let mut args: Vec<String> = ["--port", "0", "--policy", "fill", "--sender", sender]
        .iter()
        .map(|s| s.to_string())
        .collect();
    if spin {
        args.push("--spin".into());
    }
    let mut sim = match cpu {
        Some(c) => {
            let mut a = vec!["-c".to_string(), c.to_string(), SIM_BIN.to_string()];
            a.extend(args);
            Peer::spawn("execd-venue-sim", Path::new("taskset"), &a)?
        }
        None => Peer::spawn("execd-venue-sim", Path::new(SIM_BIN), &args)?,
    };
    let v = sim.expect(&["listening"], Duration::from_secs(10))?;
    let port = v["port"]
        .as_u64()
        .ok_or_else(|| format!("execd-venue-sim: bad listening line {v}"))?;
    Ok((sim, port as u16))
}

// ---------------------------------------------------------------------------------------
// Results.

struct Row {
    name: String,
    /// File name of its histogram in the latency report.
    slug: String,
    notes: String,
    /// What was measured, or why the row did not run.
    result: Result<Measured, String>,
}

struct Measured {
    stats: Stats,
    /// Latencies (ns), corrected for coordinated omission.
    hist: Histogram<u64>,
    /// The core's own stages, for execd rows (ns, as recorded).
    stages: Vec<(String, Histogram<u64>)>,
}

impl Measured {
    fn new(hist: Histogram<u64>, elapsed: Duration) -> Measured {
        Measured {
            stats: Stats::from_hist(&hist, elapsed),
            hist,
            stages: Vec::new(),
        }
    }
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

fn new_hist() -> Histogram<u64> {
    Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("histogram")
}

/// The fixed-rate schedule every row follows.
#[derive(Clone, Copy)]
struct Schedule {
    interval: Duration,
}

impl Schedule {
    fn interval_ns(self) -> u64 {
        self.interval.as_nanos() as u64
    }
}

/// Bytes per order on the wire, from the FIX session store of an execd row: the
/// NewOrderSingle, and every ExecutionReport the simulator answered it with (New, then
/// the Fill) up to and including the fill.
#[derive(Clone, Copy, Debug)]
struct Sizes {
    order: usize,
    answer: usize,
    fill: usize,
    reports: usize,
}

fn has_field(frame: &[u8], field: &[u8]) -> bool {
    frame.windows(field.len()).any(|w| w == field)
}

/// The sizes of the last complete order → fill exchange in the session store `dir`.
fn sizes_from_store(dir: &Path) -> Result<Sizes, String> {
    let (mut cur, mut last): (Option<Sizes>, Option<Sizes>) = (None, None);
    read_frames(dir, |f| {
        if f.direction == Direction::Out && has_field(f.frame, b"\x0135=D\x01") {
            cur = Some(Sizes {
                order: f.frame.len(),
                answer: 0,
                fill: 0,
                reports: 0,
            });
        } else if f.direction == Direction::In && has_field(f.frame, b"\x0135=8\x01") {
            if let Some(c) = cur.as_mut() {
                c.answer += f.frame.len();
                c.reports += 1;
                if has_field(f.frame, b"\x01150=F\x01") {
                    c.fill = f.frame.len();
                    last = cur.take();
                }
            }
        }
    })
    .map_err(|e| format!("session store {}: {e}", dir.display()))?;
    last.ok_or_else(|| format!("no order → fill in the session store {}", dir.display()))
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

/// How the bench thread waits: for an order's due time and for its fill.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Client {
    /// Busy-polls the event ring (and spins the last 300 µs to the due time).
    Spin,
    /// Polls, yielding the CPU after 64 empty polls.
    Yield,
    /// Sleeps between polls ([`SLEEPER_POLL`]) and until the due time: never a third
    /// busy thread.
    Sleep,
}

/// Waits until `due` the way `client` waits.
fn wait_until(due: Instant, client: Client) {
    const SPIN_LAST: Duration = Duration::from_micros(300);
    loop {
        let left = due.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        match client {
            Client::Sleep => std::thread::sleep(left),
            _ if left > SPIN_LAST => std::thread::sleep(left - SPIN_LAST),
            Client::Yield => std::thread::yield_now(),
            Client::Spin => std::hint::spin_loop(),
        }
    }
}

/// One execd row: what the bench thread saw (from each order's due time), the core's
/// stages, the core's write → fill-read of the FIX venue, and the frame sizes.
struct ExecdRun {
    end_to_end: Measured,
    wire: Histogram<u64>,
    /// The core's own submit → fill delivered (`Latency::submit_to_fill`).
    submit_to_fill: Histogram<u64>,
    sizes: Result<Sizes, String>,
}

/// Where the threads of a row run: the core thread alone on `core`; the simulator and
/// the bench thread on `rest` (the threads the core starts beside it, the audit sidecar
/// and the journal's segment preparer, mostly asleep, go where the scheduler puts them).
/// Without it the scheduler places them, and a sleeping
/// bench thread that wakes on the core's CPU to submit an order descheduled the spinning
/// core for ≈ 10 µs of that very order (measured: submit → dequeued p50 0.6 µs in one run,
/// 11.5 µs in the next).
#[derive(Clone, Copy)]
struct Pin {
    core: usize,
    rest: usize,
}

/// Runs `f` on a thread of its own, which `f` may pin: the bench's main thread keeps its
/// affinity for the rows after.
fn on_own_thread<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| s.spawn(f).join().expect("bench thread panicked"))
}

/// One execd row. With `pin`, the calling thread is pinned once the core has started:
/// call it through [`on_own_thread`].
fn run_execd(
    idle: IdleKind,
    sim_spin: bool,
    client: Client,
    warmup: u64,
    n: u64,
    sched: Schedule,
    pin: Option<Pin>,
) -> Result<ExecdRun, String> {
    let (sim, port) = start_sim(sim_spin, "SIM", pin.map(|p| p.rest))?;
    let reg = Registry::from_toml(&execd_config(port)).map_err(|e| e.to_string())?;
    let epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as u32)
        .unwrap_or(1);
    let mut opts = CoreOptions::real_time(epoch);
    opts.idle = idle;
    opts.idle_yield = Duration::from_micros(idle_yield_us());
    opts.pin_core = pin.map(|p| p.core);
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
    opts.journal = Some(journal.clone());
    let (core, mut handles) = spawn(Arc::new(reg), opts, 1).map_err(|e| format!("core: {e}"))?;
    let mut core = Core(Some(core));
    let h = &mut handles[0];
    // Only now: threads inherit their creator's affinity, and the core (which pins itself)
    // and the sidecar were started unpinned.
    if let Some(p) = pin {
        if !core_affinity::set_for_current(core_affinity::CoreId { id: p.rest }) {
            return Err(format!("could not pin the bench thread to CPU {}", p.rest));
        }
    }

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

    let mut hist = new_hist();
    let t_start = Instant::now() + Duration::from_millis(1);
    let mut started = t_start;
    for i in 0..warmup + n {
        let due = t_start + sched.interval * (i as u32);
        if i == warmup {
            started = due;
        }
        if last_quote.elapsed() >= QUOTE_EVERY {
            quote(h)?;
            last_quote = Instant::now();
        }
        wait_until(due, client);
        let req = order(i, epoch);
        // The timeout runs from the send: a row behind its schedule is late, not stuck.
        let sent = Instant::now();
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
                    match client {
                        // Rarely: each wake-up takes the CPU it shares with the
                        // spinning simulator, inside the very round trip being timed.
                        Client::Sleep => std::thread::sleep(SLEEPER_POLL),
                        Client::Yield if polls > CLIENT_SPINS => std::thread::yield_now(),
                        _ => std::hint::spin_loop(),
                    }
                    if polls % 4096 == 0 && sent.elapsed() > ORDER_TIMEOUT {
                        return Err(format!(
                            "order {i}: no fill within {} s",
                            ORDER_TIMEOUT.as_secs()
                        ));
                    }
                }
            }
        }
        if i >= warmup {
            hist.saturating_record((due.elapsed().as_nanos() as u64).max(1));
        }
    }
    let elapsed = started.elapsed();
    // Logs out of the simulator; the report holds what the core measured.
    let report = core.0.take().map(|c| c.shutdown());
    sim.finish(Duration::from_secs(3));
    if let (Some(p), Some(r)) = (pin, &report) {
        if !r.pinned {
            return Err(format!(
                "the core thread could not be pinned to CPU {}",
                p.core
            ));
        }
    }
    let mut end_to_end = Measured::new(hist, elapsed);
    let mut wire = new_hist();
    let mut submit_to_fill = new_hist();
    if let Some(r) = &report {
        submit_to_fill = r.latency.submit_to_fill().clone();
        for s in execd::core::latency::Stage::ALL {
            let st = r.latency.stage(s);
            if !st.is_empty() {
                end_to_end.stages.push((s.name().to_string(), st.clone()));
            }
        }
        // The fills' last part: the socket read that brought them → delivered.
        let read = r.latency.read_to_fill();
        if !read.is_empty() {
            end_to_end
                .stages
                .push(("read-to-fill".to_string(), read.clone()));
        }
        if let Some(f) = r.engine.venue(0).fix() {
            wire = f.wire_to_fill().histogram().clone();
        }
    }
    let sizes = sizes_from_store(&journal.join("fix").join("sim"));
    Ok(ExecdRun {
        end_to_end,
        wire,
        submit_to_fill,
        sizes,
    })
}

/// The wire-to-wire row: the core's own write → fill-read per order, recorded with
/// `record_correct(value, interval)`.
fn wire_row(run: ExecdRun, sched: Schedule, elapsed: Duration) -> Result<Measured, String> {
    let empty = "the FIX venue recorded no write → fill";
    core_timed_row(&run.wire, run.end_to_end.stages, sched, elapsed, empty)
}

/// A row from a histogram the core thread recorded (`timed`), with the
/// coordinated-omission correction `add_correct(timed, interval)` the harness cannot make
/// from intended send times itself, and the run's core stages.
fn core_timed_row(
    timed: &Histogram<u64>,
    stages: Vec<(String, Histogram<u64>)>,
    sched: Schedule,
    elapsed: Duration,
    empty: &str,
) -> Result<Measured, String> {
    if timed.is_empty() {
        return Err(empty.into());
    }
    let mut hist = new_hist();
    hist.add_correct(timed, sched.interval_ns())
        .map_err(|e| format!("{e:?}"))?;
    // What the sleeping bench thread saw is left out: its wake-ups (and, when they make
    // it miss the schedule, every later order's lateness) are not the core's.
    let mut m = Measured::new(hist, elapsed);
    m.stages = stages;
    Ok(m)
}

// ---------------------------------------------------------------------------------------
// The TCP floor.

/// The frame sizes of this run: from the first execd row that ran, else from a short
/// execd → sim run of their own.
fn sizes(cell: &Cell<Option<Sizes>>, sched: Schedule) -> Result<Sizes, String> {
    if let Some(s) = cell.get() {
        return Ok(s);
    }
    let run = run_execd(IdleKind::Backoff, false, Client::Spin, 0, 20, sched, None)?;
    let s = run.sizes?;
    cell.set(Some(s));
    Ok(s)
}

fn run_floor(
    mode: floor::Responder,
    sizes: Sizes,
    warmup: u64,
    n: u64,
    sched: Schedule,
    pin: Option<Pin>,
) -> Result<Measured, String> {
    let cpus = pin.map(|p| (p.core, p.rest));
    let (req, ans, every) = (sizes.order, sizes.answer, sched.interval);
    let hist = on_own_thread(|| floor::ping_pong(req, ans, mode, warmup, n, every, cpus))?;
    // On schedule: the recorded orders took n intervals.
    Ok(Measured::new(hist, sched.interval * n as u32))
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

/// Runs the orders on a qf-peer initiator connected to `port`: one `bench 1` per order at
/// its due time, so each order's latency (qf-peer's stamps: just before the send → the
/// fill report) is known; recorded with `record_correct(value, interval)`, since qf-peer
/// stamps the send itself.
fn qf_initiator_bench(
    bin: &Path,
    port: u16,
    target: &str,
    warmup: u64,
    n: u64,
    sched: Schedule,
) -> Result<Measured, String> {
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
    let mut hist = new_hist();
    let t_start = Instant::now() + Duration::from_millis(1);
    let mut started = t_start;
    for i in 0..warmup + n {
        let due = t_start + sched.interval * (i as u32);
        if i == warmup {
            started = due;
        }
        wait_until(due, Client::Sleep);
        ini.send("bench 1")?;
        let v = ini.expect(&["bench", "error"], ORDER_TIMEOUT + Duration::from_secs(10))?;
        if v["type"] != "bench" || v["timed_out"] == true || v["filled"].as_u64() != Some(1) {
            return Err(format!("qf-peer bench 1 (order {i}): {v}"));
        }
        let us = v["max_us"]
            .as_f64()
            .ok_or_else(|| format!("qf-peer bench: no max_us in {v}"))?;
        if i >= warmup {
            hist.record_correct(((us * 1000.0) as u64).max(1), sched.interval_ns())
                .map_err(|e| format!("{e:?}"))?;
        }
    }
    let elapsed = started.elapsed();
    ini.finish(Duration::from_secs(6));
    Ok(Measured::new(hist, elapsed))
}

fn run_qf_qf(bin: &Path, warmup: u64, n: u64, sched: Schedule) -> Result<Measured, String> {
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
    let m = qf_initiator_bench(bin, port, "QFACC", warmup, n, sched)?;
    acc.finish(Duration::from_secs(6));
    Ok(m)
}

fn run_qf_sim(
    bin: &Path,
    sim_spin: bool,
    warmup: u64,
    n: u64,
    sched: Schedule,
) -> Result<Measured, String> {
    // The initiator's default TargetCompID is QFACC: the simulator answers to that name.
    let (sim, port) = start_sim(sim_spin, "QFACC", None)?;
    let m = qf_initiator_bench(bin, port, "QFACC", warmup, n, sched)?;
    sim.finish(Duration::from_secs(3));
    Ok(m)
}

// ---------------------------------------------------------------------------------------
// Output.

/// The core's `core.idle_yield_us` for the backoff rows (`FIX_RT_IDLE_YIELD_US`).
fn idle_yield_us() -> u64 {
    env_u64("FIX_RT_IDLE_YIELD_US", DEFAULT_IDLE_YIELD_US)
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

fn slug(name: &str) -> String {
    let mut s = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            s.push(c.to_ascii_lowercase());
        } else if !s.ends_with('-') && !s.is_empty() {
            s.push('-');
        }
    }
    s.trim_end_matches('-').to_string()
}

/// The floor row the others are divided by.
const FLOOR_ROW: &str = "TCP floor (both spin)";
const WIRE_ROW: &str = "execd wire to wire (core spin, sim --spin)";
const QF_QF_ROW: &str = "QuickFIX → QuickFIX";

fn print_table(rows: &[Row]) {
    let floor = rows
        .iter()
        .find(|r| r.name == FLOOR_ROW)
        .and_then(|r| r.result.as_ref().ok())
        .map(|m| m.stats);
    println!(
        "{:<58} {:>6} {:>8} {:>8} {:>8} {:>8} {:>9} {:>9} {:>7} {:>7}",
        "row",
        "orders",
        "p50 µs",
        "p90 µs",
        "p99 µs",
        "p99.9 µs",
        "max µs",
        "orders/s",
        "p50 ×",
        "p99.9 ×"
    );
    println!("{}", "-".repeat(58 + 7 + 9 * 4 + 10 * 2 + 8 * 2));
    for r in rows {
        match &r.result {
            Ok(m) => {
                let s = m.stats;
                let (x50, x999) = match floor {
                    Some(b) => (s.p50 / b.p50, s.p999 / b.p999),
                    None => (f64::NAN, f64::NAN),
                };
                println!(
                    "{:<58} {:>6} {:>8.1} {:>8.1} {:>8.1} {:>8.1} {:>9.1} {:>9.0} {:>7.2} {:>7.2}",
                    r.name, s.orders, s.p50, s.p90, s.p99, s.p999, s.max, s.per_s, x50, x999
                );
            }
            Err(e) => println!("{:<58} not run: {e}", r.name),
        }
    }
    println!();
    println!("× = this row's p50 / p99.9 divided by the floor's ({FLOOR_ROW}); the floor is pinned when the wire-to-wire and submit → fill rows are, the `execd (core …) → sim` and QuickFIX rows never are.");
    let qf = rows
        .iter()
        .find(|r| r.name == QF_QF_ROW)
        .and_then(|r| r.result.as_ref().ok())
        .map(|m| m.stats);
    if let Some(q) = qf {
        println!("Against {QF_QF_ROW} (its p50 / p99.9 divided by the row's: how many times better execd is):");
        // End to end only: wire to wire is half a round trip's worth of the path.
        for r in rows
            .iter()
            .filter(|r| r.name.starts_with("execd") && r.name != WIRE_ROW)
        {
            if let Ok(m) = &r.result {
                println!(
                    "  {:<58} p50 {:>6.1}×  p99.9 {:>6.1}×  (row's own p99.9 / p50 {:.1})",
                    r.name,
                    q.p50 / m.stats.p50,
                    q.p999 / m.stats.p999,
                    m.stats.p999 / m.stats.p50
                );
            }
        }
    }
    for r in rows {
        println!("  {:<42} {}", r.name, r.notes);
    }
    for r in rows {
        let Ok(m) = &r.result else { continue };
        if m.stages.is_empty() {
            continue;
        }
        println!(
            "\n  {}: the core's stages (ns, as recorded, warm-up included):",
            r.name
        );
        for (name, h) in &m.stages {
            println!(
                "    {:<12} n {:>6} p50 {:>9} p99 {:>9} p99.9 {:>9} max {:>10}",
                name,
                h.len(),
                h.value_at_quantile(0.5),
                h.value_at_quantile(0.99),
                h.value_at_quantile(0.999),
                h.max(),
            );
        }
    }
}

fn to_json(rows: &[Row], context: &Value) -> Value {
    let rows: Vec<Value> = rows
        .iter()
        .map(|r| match &r.result {
            Ok(m) => {
                let s = m.stats;
                json!({
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
                    "hgrm": format!("{}.hgrm", r.slug),
                })
            }
            Err(e) => json!({ "pair": r.name, "notes": r.notes, "error": e }),
        })
        .collect();
    json!({ "context": context, "rows": rows })
}

fn write_one(path: &Path, h: &Histogram<u64>) -> Result<(), String> {
    let mut f = std::io::BufWriter::new(
        std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?,
    );
    write_hgrm(h, &mut f)
        .and_then(|_| f.flush())
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn hgrm_lines(h: &Histogram<u64>) -> Vec<execd::core::latency_report::HgrmLine> {
    let mut text = Vec::new();
    let _ = write_hgrm(h, &mut text);
    parse_hgrm(&String::from_utf8_lossy(&text)).unwrap_or_default()
}

/// Writes the latency report: a `.hgrm` per row and per execd stage, `latency.svg` (the
/// rows) and `stages.svg` (the wire-to-wire row's stages, with the floor).
fn write_report(dir: &Path, rows: &[Row], title: &str) -> Result<Vec<PathBuf>, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    // Files of an earlier run would read as this one's.
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "hgrm" || x == "svg") {
                let _ = std::fs::remove_file(p);
            }
        }
    }
    let mut written = Vec::new();
    let mut plot_rows = Vec::new();
    for r in rows {
        let Ok(m) = &r.result else { continue };
        let p = dir.join(format!("{}.hgrm", r.slug));
        write_one(&p, &m.hist)?;
        written.push(p);
        plot_rows.push((r.name.clone(), hgrm_lines(&m.hist)));
        for (stage, h) in &m.stages {
            let p = dir.join(format!("{}.stage-{}.hgrm", r.slug, slug(stage)));
            write_one(&p, h)?;
            written.push(p);
        }
    }
    let svg = dir.join("latency.svg");
    plot::write_svg(&svg, title, &plot_rows)?;
    written.push(svg);
    let wire = rows.iter().find(|r| r.name == WIRE_ROW);
    if let Some(Ok(m)) = wire.map(|r| &r.result) {
        let mut lines = vec![("wire to wire (corrected)".to_string(), hgrm_lines(&m.hist))];
        for (stage, h) in &m.stages {
            lines.push((format!("core stage {stage}"), hgrm_lines(h)));
        }
        if let Some(Ok(f)) = rows.iter().find(|r| r.name == FLOOR_ROW).map(|r| &r.result) {
            lines.push((FLOOR_ROW.to_string(), hgrm_lines(&f.hist)));
        }
        let svg = dir.join("stages.svg");
        plot::write_svg(&svg, &format!("{title}: {WIRE_ROW}"), &lines)?;
        written.push(svg);
    }
    Ok(written)
}

// ---------------------------------------------------------------------------------------

type Job = Box<dyn Fn() -> Result<Measured, String>>;

fn main() {
    // `cargo bench` passes `--bench` (and maybe a filter); nothing else to parse.
    let n = env_u64("FIX_RT_ORDERS", 5000).max(1);
    let warmup = env_u64("FIX_RT_WARMUP", 500);
    let rate = env_u64("FIX_RT_RATE", 1000).clamp(1, 1_000_000);
    let sched = Schedule {
        interval: Duration::from_nanos(1_000_000_000 / rate),
    };
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
            "rate_per_s": rate,
            "core_idle_yield_us": idle_yield_us(),
            "coordinated_omission": "latency from each order's intended send time on a fixed-rate schedule; TCP floor, QuickFIX and the core's wire-to-wire: record_correct(value, 1/rate)",
        })
    };
    println!(
        "fix_roundtrip: {} UTC, git {}, {nproc} CPUs ({}), load average at start {load_start}",
        utc_now(),
        git_head(),
        cpu_model()
    );
    println!(
        "  {n} orders per row, one at a time, due every {} µs ({rate}/s, FIX_RT_RATE), after {warmup} unrecorded",
        sched.interval.as_micros()
    );
    println!(
        "  core backoff yields {} µs after its last work before it sleeps (core.idle_yield_us; FIX_RT_IDLE_YIELD_US)",
        idle_yield_us()
    );
    println!(
        "  coordinated omission: latency runs from each order's intended send time (a late order counts its lateness);"
    );
    println!(
        "  the TCP floor rows, QuickFIX rows and the core's wire-to-wire (write → read) are recorded with HdrHistogram record_correct(value, {} µs)",
        sched.interval.as_micros()
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

    let client = match std::env::var("FIX_RT_CLIENT").as_deref() {
        Ok("spin") | Err(_) => Client::Spin,
        Ok("yield") => Client::Yield,
        Ok(other) => panic!("FIX_RT_CLIENT={other:?}: spin or yield"),
    };
    let client_note = if client == Client::Yield {
        "bench thread polls the core's event ring, yielding after 64 empty polls"
    } else {
        "bench thread busy-polls the core's event ring"
    };
    // The rows that measure the software (wire to wire, submit → fill on the core) keep
    // the core's CPU to the core: FIX_RT_PIN=0 leaves placement to the scheduler.
    let taskset = Proc::new("taskset")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    // CPU ids, not a count: a restricted cpuset need not start at 0.
    let cpus: Vec<usize> = core_affinity::get_core_ids()
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.id)
        .collect();
    let pin = match (cpus.first(), cpus.last()) {
        (Some(&core), Some(&rest))
            if core != rest && taskset && std::env::var("FIX_RT_PIN").as_deref() != Ok("0") =>
        {
            Some(Pin { core, rest })
        }
        _ => None,
    };
    let pin_note = match pin {
        Some(p) => format!(
            "core thread pinned to CPU {}; simulator and bench thread on CPU {} (FIX_RT_PIN=0: unpinned)",
            p.core, p.rest
        ),
        None => "unpinned (FIX_RT_PIN=0, fewer than 2 CPUs, or no taskset)".to_string(),
    };
    println!("  wire-to-wire and submit → fill rows: {pin_note}");
    let frame_sizes: Rc<Cell<Option<Sizes>>> = Rc::new(Cell::new(None));
    let mut jobs: Vec<(String, String, Job)> = Vec::new();

    let cell = frame_sizes.clone();
    jobs.push((
        WIRE_ROW.to_string(),
        format!("NewOrderSingle written → its fill's bytes read, timed on the core thread by the FIX venue; core spins, sim --spin, journaled; the bench thread sleeps (no third busy thread); {pin_note}; warm-up orders included in the core's histogram"),
        Box::new(move || {
            let run = on_own_thread(|| {
                run_execd(IdleKind::Spin, true, Client::Sleep, warmup, n, sched, pin)
            })?;
            if let Ok(s) = run.sizes {
                cell.set(Some(s));
            }
            let e = run.end_to_end.stats;
            let elapsed = Duration::from_secs_f64(e.orders as f64 / e.per_s.max(1e-9));
            wire_row(run, sched, elapsed)
        }),
    ));
    // Issue 14's end-to-end figure with no third busy thread: the bench thread sleeps, the
    // core times each submit (its producer's stamp) to the fill's delivery into the event
    // ring; the simulator spins, as in the wire-to-wire row.
    for (idle, idle_name, idle_note) in [
        (IdleKind::Spin, "spin", "core busy-spins"),
        (IdleKind::Yield, "yield", "core yields the CPU each idle cycle"),
        (
            IdleKind::Backoff,
            "backoff",
            "core's backoff, the default idle (spin, yield for core.idle_yield_us after the last work — see the header —, then epoll on its socket and doorbell; the submit rings the doorbell if the core sleeps)",
        ),
    ] {
        jobs.push((
            format!("execd submit → fill on the core (core {idle_name}, sim --spin)"),
            format!("upstream submit (the handle's stamp) → the fill delivered to its event ring, timed on the core thread; {idle_note}; sim --spin; journaled; the bench thread sleeps (no third busy thread), so its own wake-up is not in the figure; {pin_note}; warm-up orders included"),
            Box::new(move || {
                let run =
                    on_own_thread(|| run_execd(idle, true, Client::Sleep, warmup, n, sched, pin))?;
                let e = run.end_to_end.stats;
                let elapsed = Duration::from_secs_f64(e.orders as f64 / e.per_s.max(1e-9));
                let empty = "the core timed no submit → fill";
                core_timed_row(&run.submit_to_fill, run.end_to_end.stages, sched, elapsed, empty)
            }),
        ));
    }
    for (mode, name, note) in [
        (
            floor::Responder::Spin,
            FLOOR_ROW,
            "raw TCP ping-pong on 127.0.0.1, both ends busy-poll non-blocking sockets (TCP_NODELAY)",
        ),
        (
            floor::Responder::Epoll,
            "TCP floor (responder epoll)",
            "the same, the responder blocks in epoll_wait: one wake-up per round trip",
        ),
    ] {
        let cell = frame_sizes.clone();
        let placed = match pin {
            Some(p) => format!(
                "requester (the core's part) pinned to CPU {}, responder (the simulator's) to CPU {}",
                p.core, p.rest
            ),
            None => "unpinned".to_string(),
        };
        jobs.push((
            name.to_string(),
            format!("{note}; {placed}"),
            Box::new(move || {
                let s = sizes(&cell, sched)?;
                println!(
                    "  {name}: {} B NewOrderSingle → {} B answer ({} ExecutionReports, the fill {} B)",
                    s.order, s.answer, s.reports, s.fill
                );
                run_floor(mode, s, warmup, n, sched, pin)
            }),
        ));
    }
    for (sim_spin, sim_note) in [
        (false, "sim blocks in epoll"),
        (true, "sim --spin (busy-polls)"),
    ] {
        for (idle, idle_name, idle_note) in [
            (
                IdleKind::Backoff,
                "backoff",
                "core spins 64×, yields until core.idle_yield_us passed without work, then waits in epoll on its socket and doorbell",
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
            let mut notes = format!("{idle_note}; {client_note}; {sim_note}; journaled");
            if oversubscribed {
                notes.push_str(&format!(
                    "; {nproc} CPUs oversubscribed: {rn} orders after {rw} (FIX_RT_OVERSUB_ORDERS)"
                ));
            }
            let cell = frame_sizes.clone();
            jobs.push((
                name,
                notes,
                Box::new(move || {
                    let run = run_execd(idle, sim_spin, client, rw, rn, sched, None)?;
                    if let Ok(s) = run.sizes {
                        cell.set(Some(s));
                    }
                    Ok(run.end_to_end)
                }),
            ));
        }
    }
    let qf_rows: [(&str, &str, Option<bool>); 3] = [
        (
            QF_QF_ROW,
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
                None => run_qf_qf(bin, warmup, n, sched),
                Some(spin) => run_qf_sim(bin, spin, warmup, n, sched),
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
            slug: slug(&name),
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
    let report = target_dir().join("latency-report");
    let title = format!(
        "fix_roundtrip {} git {} load {load_start} → {load_end}",
        utc_now(),
        git_head()
    );
    let mut failed = rows
        .iter()
        .filter(|r| r.result.is_err())
        .filter(|r| qf.is_some() || !r.name.starts_with("QuickFIX"))
        .count();
    if rows.iter().any(|r| r.result.is_ok()) {
        match write_report(&report, &rows, &title) {
            Ok(files) => println!(
                "written: {} ({} files: .hgrm per row and per stage, latency.svg, stages.svg)",
                report.display(),
                files.len()
            ),
            Err(e) => {
                eprintln!("fix_roundtrip: latency report: {e}");
                failed += 1;
            }
        }
    }
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
