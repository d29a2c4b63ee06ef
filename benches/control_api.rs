//! The HTTP control API under load, and what that load does to the core thread
//! (`cargo bench --bench control_api`; see `benches/README.md`). Issue 11.
//!
//! Everything runs in this process over real loopback TCP: the core thread
//! (`core::spawn`) on the built-in paper configuration, and the control thread
//! (`control::start` on 127.0.0.1:0: the same axum server, link and routes that
//! `execd run` serves). The paper venue's simulated wire latency is set to 0 (the
//! built-in 40 µs + exp(60 µs) would add ≈ 100 µs to each submit: the HTTP figures are
//! then the API's own) and its "silent" orders (0.1 % answered only after the 30 s hard timeout) are off; nothing else
//! differs from `execd run` without a configuration.
//!
//! Part 1, HTTP rows (a `ureq` agent per client thread, keep-alive):
//! - `submit, 1 client`: `POST /v1/executions` of a MARKET order, one at a time; latency
//!   from "about to send" to "whole answer read", which must be final (201).
//! - `submit, C clients`: C threads doing the same at once; requests/s over the wall time.
//! - `read GET /v1/orders/{id}, 1 client`: a read that crosses into the core and back.
//!
//! Part 2, the core's own per-stage latency histograms (`CoreReport::latency`, recorded
//! by the core thread for every submit it carries out) in three phases, each on a fresh
//! core + control thread, each with the same paced in-process flow (MARKET orders from a
//! `Handle`, `CTL_BENCH_RATE` per second, `CTL_BENCH_PACED` orders), the three phases
//! alternating for `CTL_BENCH_ROUNDS` rounds (each phase's histograms merged), so that
//! the machine's load drifting during the run falls on all three alike:
//! - `no API load`: the control thread runs and listens, nobody calls it;
//! - `API reads`: C client threads call the read routes back to back meanwhile (reads are
//!   not submits: the core's histograms still hold the paced flow only);
//! - `API reads + submits`: the same, every fourth call a submit (the histograms then
//!   hold the HTTP submits too; the counts are printed).
//!
//! The core thread idles with backoff (`CTL_BENCH_IDLE=spin|yield` to change it).
//! Environment: `CTL_BENCH_ORDERS` (HTTP requests recorded per HTTP row, default 2000),
//! `CTL_BENCH_WARMUP` (unrecorded, default 200), `CTL_BENCH_CLIENTS` (default 4),
//! `CTL_BENCH_PACED` (per phase and round, default 4000), `CTL_BENCH_RATE` (default
//! 2000), `CTL_BENCH_ROUNDS` (default 3),
//! `CTL_BENCH_IDLE`, `CTL_BENCH_VENUE_LATENCY=builtin` (keep the paper venue's wire
//! latency). The tables go to stdout and, as JSON, to `target/control_api.json`; a row
//! that fails makes the bench exit 1. Threads are stopped and joined on every way out.

use execd::calendar::iso8601;
use execd::config::{IdleKind, Registry};
use execd::control::{self, ControlOptions, ControlThread};
use execd::core::latency::Stage;
use execd::core::{spawn, CoreOptions, CoreReport, CoreThread, Handle};
use execd::model::event::CoreEvent;
use execd::model::fixed::Dec;
use execd::model::ids::{RequestId, Side};
use execd::model::request::ExecutionRequest;
use hdrhistogram::Histogram;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command as Proc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");
/// A client gives up on one request after this long (the server waits 5 s at most).
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the paced flow's last orders may take to be answered.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------
// The system under test: core thread + control thread, stopped on every way out.

/// Epochs for client order ids, distinct per start.
static EPOCH: AtomicU32 = AtomicU32::new(0);

fn env_u64(key: &str, default: u64) -> u64 {
    std::env::var(key)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// The built-in paper configuration (`execd run` without `--config`), with the venue's
/// wire latency at 0 (unless `CTL_BENCH_VENUE_LATENCY=builtin`) and no silent orders.
fn bench_registry(keep_latency: bool) -> Result<Registry, String> {
    let mut cfg = Registry::default_paper().config;
    for v in &mut cfg.venues {
        if !keep_latency {
            v.paper.latency_us_min = 0;
            v.paper.latency_us_mean_extra = 0;
        }
        v.paper.silent_per_mille = 0;
    }
    Registry::from_config(&cfg).map_err(|e| e.to_string())
}

struct Stack {
    control: Option<ControlThread>,
    core: Option<CoreThread>,
    /// The in-process producer (the control thread has the other one).
    paced: Handle,
    url: String,
}

impl Stack {
    fn start(idle: IdleKind, keep_latency: bool) -> Result<Stack, String> {
        let reg = Arc::new(bench_registry(keep_latency)?);
        let base = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as u32)
            .unwrap_or(1);
        let mut opts = CoreOptions::real_time(base + EPOCH.fetch_add(1, Ordering::Relaxed));
        opts.idle = idle;
        let (core, mut handles) = spawn(reg.clone(), opts, 2).map_err(|e| format!("core: {e}"))?;
        let control_handle = handles.pop().expect("two producers");
        let paced = handles.pop().expect("two producers");
        let mut stack = Stack {
            control: None,
            core: Some(core),
            paced,
            url: String::new(),
        };
        let listen = "127.0.0.1:0".parse().expect("an address");
        let c = control::start(reg, control_handle, ControlOptions::new(listen, None))?;
        stack.url = format!("http://{}", c.addr());
        stack.control = Some(c);
        // Ready once the core answers the health route's Sync (and the paper venue has
        // sent its first quotes: it steps every 5 ms).
        let agent = agent();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            stack.drain();
            if let Ok((200, body)) = call(&agent, "GET", &format!("{}/v1/health", stack.url), None)
            {
                if body.contains("\"ready\":true") {
                    break;
                }
            }
            if Instant::now() > deadline {
                return Err("the control API did not become ready within 10 s".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(50));
        stack.drain();
        Ok(stack)
    }

    /// Keeps the in-process producer's event ring drained (the core stops reading a
    /// producer that does not read its events).
    fn drain(&mut self) {
        while self.paced.try_event().is_some() {}
    }

    /// Stops the control thread (it answers what is in flight), then the core; the
    /// core's report.
    fn stop(mut self) -> Result<CoreReport, String> {
        let control = self.control.take().map(|c| c.stop());
        self.drain();
        let report = self.core.take().map(|c| c.shutdown());
        if let Some(Err(e)) = control {
            return Err(e);
        }
        report.ok_or_else(|| "the core was already stopped".into())
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        if let Some(c) = self.control.take() {
            let _ = c.stop();
        }
        self.drain();
        if let Some(c) = self.core.take() {
            let _ = c.shutdown();
        }
    }
}

/// Sets the flag when dropped: client threads see it on every way out of a scope.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

// ---------------------------------------------------------------------------------------
// HTTP client.

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout(HTTP_TIMEOUT)
        .max_idle_connections_per_host(1)
        .build()
}

/// One exchange: status and the whole body (read, so the connection is reused).
fn call(
    agent: &ureq::Agent,
    method: &str,
    url: &str,
    body: Option<&str>,
) -> Result<(u16, String), String> {
    let r = agent.request(method, url);
    let res = match body {
        Some(b) => r.set("Content-Type", "application/json").send_string(b),
        None => r.call(),
    };
    let resp = match res {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => return Err(format!("{method} {url}: {e}")),
    };
    let status = resp.status();
    let text = resp
        .into_string()
        .map_err(|e| format!("{method} {url}: body: {e}"))?;
    Ok((status, text))
}

fn market_body(id: &str, symbol: &str, qty: &str, buy: bool) -> String {
    format!(
        r#"{{"request_id":"{id}","account":"alpha","venue":"paper","symbol":"{symbol}","side":"{}","quantity":"{qty}","order_type":"MARKET","context":{{"risk_approved":true}}}}"#,
        if buy { "BUY" } else { "SELL" }
    )
}

/// What a final submit answer said.
struct Submitted {
    order: u64,
    status: String,
}

/// Checks a submit's answer: 201 and final (a MARKET order is IOC: FILLED, or CANCELED
/// for an unfilled rest).
fn check_submit(code: u16, body: &str) -> Result<Submitted, String> {
    let v: Value = serde_json::from_str(body).map_err(|e| format!("not JSON ({e}): {body}"))?;
    if code != 201 || v["final"] != Value::Bool(true) {
        return Err(format!("not a final answer: {code} {body}"));
    }
    Ok(Submitted {
        order: v["order_id"].as_u64().unwrap_or(0),
        status: v["status"].as_str().unwrap_or("?").to_string(),
    })
}

fn new_hist() -> Histogram<u64> {
    Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("histogram")
}

/// Final statuses seen, with their counts.
type Statuses = Vec<(String, u64)>;

/// What a run of submits measured.
struct SubmitRun {
    /// Recorded latencies, ns.
    hist: Histogram<u64>,
    /// Time the recorded ones took.
    elapsed: Duration,
    statuses: Statuses,
    /// The last order made.
    last_order: u64,
}

/// Submits `warmup + n` MARKET orders one at a time, recording the last `n`; with
/// `start`, waits there (with the other clients) before the first recorded one.
fn submit_loop(
    url: &str,
    tag: &str,
    warmup: u64,
    n: u64,
    start: Option<&Barrier>,
) -> Result<SubmitRun, String> {
    let agent = agent();
    let target = format!("{url}/v1/executions");
    let mut hist = new_hist();
    let mut statuses = Statuses::new();
    let mut last_order = 0;
    let mut started = Instant::now();
    for i in 0..warmup + n {
        if i == warmup {
            if let Some(b) = start {
                b.wait();
            }
            started = Instant::now();
        }
        let body = market_body(&format!("{tag}-{i}"), "BTCUSDT", "0.001", i % 2 == 0);
        let t0 = Instant::now();
        let answer = call(&agent, "POST", &target, Some(&body));
        let dt = t0.elapsed();
        let checked = answer.and_then(|(code, text)| {
            check_submit(code, &text).map_err(|e| format!("submit {i}: {e}"))
        });
        let s = match checked {
            Ok(s) => s,
            Err(e) => {
                // Do not leave the other clients waiting at the start line forever.
                if let (Some(b), true) = (start, i < warmup) {
                    b.wait();
                }
                return Err(e);
            }
        };
        last_order = s.order;
        if i >= warmup {
            let _ = hist.record(dt.as_nanos().max(1) as u64);
            match statuses.iter_mut().find(|(k, _)| *k == s.status) {
                Some((_, c)) => *c += 1,
                None => statuses.push((s.status, 1)),
            }
        }
    }
    Ok(SubmitRun {
        hist,
        elapsed: started.elapsed(),
        statuses,
        last_order,
    })
}

// ---------------------------------------------------------------------------------------
// Part 1: HTTP rows.

#[derive(Clone, Copy, Debug)]
struct Stats {
    requests: u64,
    p50: f64,
    p90: f64,
    p99: f64,
    p999: f64,
    max: f64,
    mean: f64,
    per_s: f64,
}

impl Stats {
    /// From a histogram in ns; figures in µs.
    fn from_hist(h: &Histogram<u64>, elapsed: Duration) -> Stats {
        let us = |ns: u64| ns as f64 / 1000.0;
        Stats {
            requests: h.len(),
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

struct Row {
    name: String,
    notes: String,
    result: Result<Stats, String>,
}

struct Settings {
    orders: u64,
    warmup: u64,
    clients: u64,
    paced: u64,
    rate: u64,
    rounds: u64,
    idle: IdleKind,
    idle_name: &'static str,
    keep_latency: bool,
}

fn http_rows(s: &Settings) -> Vec<Row> {
    let mut rows = Vec::new();
    let stack = match Stack::start(s.idle, s.keep_latency) {
        Ok(st) => st,
        Err(e) => {
            rows.push(Row {
                name: "submit, 1 client".into(),
                notes: String::new(),
                result: Err(e),
            });
            return rows;
        }
    };
    let url = stack.url.clone();
    // The in-process producer is idle here; a thread keeps its ring drained.
    let stack = std::sync::Mutex::new(stack);
    let stop = AtomicBool::new(false);
    let mut last_order = 0;
    std::thread::scope(|scope| {
        let _stop = StopOnDrop(&stop);
        scope.spawn(|| {
            while !stop.load(Ordering::Acquire) {
                if let Ok(mut st) = stack.lock() {
                    st.drain();
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        });

        eprint!("control_api: submit, 1 client … ");
        let one = submit_loop(&url, "h1", s.warmup, s.orders, None).map(|r| {
            last_order = r.last_order;
            (Stats::from_hist(&r.hist, r.elapsed), r.statuses)
        });
        report_progress(&one);
        rows.push(Row {
            name: "submit, 1 client".into(),
            notes: notes_statuses(
                "POST /v1/executions MARKET BTCUSDT 0.001, one at a time",
                &one,
            ),
            result: one.map(|(st, _)| st),
        });

        let c = s.clients;
        eprint!("control_api: submit, {c} clients … ");
        let per = s.orders.div_ceil(c);
        let barrier = Barrier::new(c as usize + 1);
        let wall = AtomicU64::new(0);
        let many: Result<(Stats, Statuses), String> = std::thread::scope(|inner| {
            let mut joins = Vec::new();
            for t in 0..c {
                let (url, barrier) = (&url, &barrier);
                let warm = s.warmup.div_ceil(c);
                joins.push(inner.spawn(move || {
                    submit_loop(url, &format!("h{c}-{t}"), warm, per, Some(barrier))
                }));
            }
            barrier.wait();
            let t0 = Instant::now();
            let mut merged = new_hist();
            let mut statuses = Statuses::new();
            let mut err = None;
            for j in joins {
                match j.join() {
                    Ok(Ok(run)) => {
                        let _ = merged.add(&run.hist);
                        for (k, n) in run.statuses {
                            match statuses.iter_mut().find(|(x, _)| *x == k) {
                                Some((_, m)) => *m += n,
                                None => statuses.push((k, n)),
                            }
                        }
                    }
                    Ok(Err(e)) => err = Some(e),
                    Err(_) => err = Some("a client thread panicked".into()),
                }
            }
            wall.store(t0.elapsed().as_nanos() as u64, Ordering::Relaxed);
            match err {
                Some(e) => Err(e),
                None => Ok((
                    Stats::from_hist(&merged, Duration::from_nanos(wall.load(Ordering::Relaxed))),
                    statuses,
                )),
            }
        });
        report_progress(&many);
        rows.push(Row {
            name: format!("submit, {c} clients"),
            notes: notes_statuses(
                &format!("{c} threads, each its own keep-alive connection, {per} each; requests/s over the wall time"),
                &many,
            ),
            result: many.map(|(st, _)| st),
        });

        eprint!("control_api: read GET /v1/orders/{{id}}, 1 client … ");
        let read = (|| {
            if last_order == 0 {
                return Err("no order to read (the submit row failed)".to_string());
            }
            let agent = agent();
            let target = format!("{url}/v1/orders/{last_order}");
            let mut hist = new_hist();
            let mut started = Instant::now();
            for i in 0..s.warmup + s.orders {
                if i == s.warmup {
                    started = Instant::now();
                }
                let t0 = Instant::now();
                let (code, text) = call(&agent, "GET", &target, None)?;
                let dt = t0.elapsed();
                if code != 200 {
                    return Err(format!("GET {target}: {code} {text}"));
                }
                if i >= s.warmup {
                    let _ = hist.record(dt.as_nanos().max(1) as u64);
                }
            }
            Ok((Stats::from_hist(&hist, started.elapsed()), ()))
        })();
        report_progress(&read);
        rows.push(Row {
            name: "read GET /v1/orders/{id}, 1 client".into(),
            notes: "an order's status, asked of the core (a Query and a Sync on its ring)".into(),
            result: read.map(|(st, _)| st),
        });
    });
    let stack = stack.into_inner().unwrap_or_else(|p| p.into_inner());
    if let Err(e) = stack.stop() {
        rows.push(Row {
            name: "stop".into(),
            notes: String::new(),
            result: Err(e),
        });
    }
    rows
}

fn report_progress<T>(r: &Result<(Stats, T), String>) {
    match r {
        Ok((s, _)) => eprintln!("p50 {:.1} µs, {:.0}/s", s.p50, s.per_s),
        Err(e) => eprintln!("failed: {e}"),
    }
}

fn notes_statuses(what: &str, r: &Result<(Stats, Statuses), String>) -> String {
    match r {
        Ok((_, st)) if !st.is_empty() => {
            let s: Vec<String> = st.iter().map(|(k, n)| format!("{n} {k}")).collect();
            format!("{what}; answers: {}", s.join(", "))
        }
        _ => what.to_string(),
    }
}

// ---------------------------------------------------------------------------------------
// Part 2: the core's per-stage latency with and without API load.

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Load {
    None,
    Reads,
    Mixed,
}

impl Load {
    fn name(self) -> &'static str {
        match self {
            Load::None => "no API load",
            Load::Reads => "API reads",
            Load::Mixed => "API reads + submits",
        }
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct StageStats {
    n: u64,
    p50: u64,
    p90: u64,
    p99: u64,
    p999: u64,
    max: u64,
}

/// A phase's figures, summed over its rounds.
struct Phase {
    /// The core's histograms, one per stage in `Stage::ALL` order (ns).
    hists: Vec<Histogram<u64>>,
    rounds: u64,
    paced_sent: u64,
    paced_elapsed: Duration,
    /// Behind schedule at the worst moment.
    paced_worst_lag: Duration,
    paced_accepted: u64,
    load_requests: u64,
    load_submits: u64,
    load_elapsed: Duration,
    cycles: u64,
}

impl Phase {
    fn merge(&mut self, o: Phase) {
        for (h, oh) in self.hists.iter_mut().zip(&o.hists) {
            let _ = h.add(oh);
        }
        self.rounds += o.rounds;
        self.paced_sent += o.paced_sent;
        self.paced_elapsed += o.paced_elapsed;
        self.paced_worst_lag = self.paced_worst_lag.max(o.paced_worst_lag);
        self.paced_accepted += o.paced_accepted;
        self.load_requests += o.load_requests;
        self.load_submits += o.load_submits;
        self.load_elapsed += o.load_elapsed;
        self.cycles += o.cycles;
    }

    /// Submits the core carried out (its `total` histogram's count).
    fn core_submits(&self) -> u64 {
        self.hists[Stage::Total as usize].len()
    }

    fn paced_per_s(&self) -> f64 {
        self.paced_sent as f64 / self.paced_elapsed.as_secs_f64().max(1e-9)
    }

    fn load_per_s(&self) -> f64 {
        self.load_requests as f64 / self.load_elapsed.as_secs_f64().max(1e-9)
    }

    fn stages(&self) -> Vec<(Stage, StageStats)> {
        Stage::ALL
            .iter()
            .zip(&self.hists)
            .map(|(&s, h)| {
                let st = if h.is_empty() {
                    StageStats::default()
                } else {
                    StageStats {
                        n: h.len(),
                        p50: h.value_at_quantile(0.50),
                        p90: h.value_at_quantile(0.90),
                        p99: h.value_at_quantile(0.99),
                        p999: h.value_at_quantile(0.999),
                        max: h.max(),
                    }
                };
                (s, st)
            })
            .collect()
    }
}

/// One client hammering the API until `stop`: reads only, or every fourth call a submit.
fn load_client(
    url: &str,
    t: u64,
    mixed: bool,
    stop: &AtomicBool,
    requests: &AtomicU64,
    submits: &AtomicU64,
) -> Result<(), String> {
    let agent = agent();
    let reads = [
        "/v1/orders?limit=100",
        "/v1/positions",
        "/v1/kill-switches",
        "/v1/venues",
        "/v1/mode",
        "/v1/orders?status=open",
    ];
    let submit_url = format!("{url}/v1/executions");
    let mut i = 0u64;
    while !stop.load(Ordering::Acquire) {
        if mixed && i % 4 == 0 {
            let body = market_body(&format!("l{t}-{i}"), "ETHUSDT", "0.01", (i / 4) % 2 == 0);
            let (code, text) = call(&agent, "POST", &submit_url, Some(&body))?;
            check_submit(code, &text).map_err(|e| format!("load submit: {e}"))?;
            submits.fetch_add(1, Ordering::Relaxed);
        } else {
            let path = reads[(i as usize) % reads.len()];
            let (code, text) = call(&agent, "GET", &format!("{url}{path}"), None)?;
            if code != 200 {
                return Err(format!("GET {path}: {code} {text}"));
            }
        }
        requests.fetch_add(1, Ordering::Relaxed);
        i += 1;
    }
    Ok(())
}

/// What the paced flow's events said.
#[derive(Default)]
struct Tally {
    accepted: u64,
    rejected: u64,
    /// Orders of the flow that reached a terminal state.
    done: u64,
    first_reject: Option<&'static str>,
}

impl Tally {
    fn count(&mut self, ev: CoreEvent) {
        match ev {
            CoreEvent::Accepted { .. } => self.accepted += 1,
            CoreEvent::Rejected { reason, .. } => {
                self.rejected += 1;
                self.first_reject.get_or_insert(reason.code());
            }
            CoreEvent::Order(st) if st.state.is_terminal() && !st.request_id.is_empty() => {
                self.done += 1
            }
            _ => {}
        }
    }

    /// Every one of `sent` answered, and every accepted one finished.
    fn finished(&self, sent: u64) -> bool {
        self.accepted + self.rejected >= sent && self.done >= self.accepted
    }
}

fn run_phase(s: &Settings, load: Load) -> Result<Phase, String> {
    let mut stack = Stack::start(s.idle, s.keep_latency)?;
    let url = stack.url.clone();
    let stop = AtomicBool::new(false);
    let requests = AtomicU64::new(0);
    let submits = AtomicU64::new(0);
    let period = Duration::from_nanos(1_000_000_000 / s.rate.max(1));
    let flow = std::thread::scope(|scope| -> Result<_, String> {
        let _stop = StopOnDrop(&stop);
        let mut clients = Vec::new();
        if load != Load::None {
            for t in 0..s.clients {
                let (url, stop, requests, submits) = (&url, &stop, &requests, &submits);
                clients.push(scope.spawn(move || {
                    let r = load_client(url, t, load == Load::Mixed, stop, requests, submits);
                    // One client failing ends the phase's load.
                    stop.store(true, Ordering::Release);
                    r
                }));
            }
            // Let the clients connect and get going first.
            std::thread::sleep(Duration::from_millis(100));
        }
        let load_t0 = Instant::now();
        let load_r0 = requests.load(Ordering::Relaxed);
        let mut tally = Tally::default();
        let t0 = Instant::now();
        let mut worst_lag = Duration::ZERO;
        for i in 0..s.paced {
            let due = t0 + period * i as u32;
            while let Some(ev) = stack.paced.try_event() {
                tally.count(ev);
            }
            let now = Instant::now();
            if now < due {
                std::thread::sleep(due - now);
            } else {
                worst_lag = worst_lag.max(now - due);
            }
            let side = if i % 2 == 0 { Side::Buy } else { Side::Sell };
            let mut req =
                ExecutionRequest::market("", "alpha", "paper", "BTCUSDT", side, Dec::new(1, 3));
            req.request_id = RequestId::from_prefixed_u64("p-", i).expect("short id");
            if stack.paced.submit(req).is_err() {
                return Err(format!("order {i}: the core's ring is full"));
            }
            if load != Load::None && stop.load(Ordering::Acquire) {
                break; // a load client failed: its error is reported below
            }
        }
        let paced_elapsed = t0.elapsed();
        let load_elapsed = load_t0.elapsed();
        let load_requests = requests.load(Ordering::Relaxed) - load_r0;
        // Every paced order answered and finished.
        let deadline = Instant::now() + DRAIN_TIMEOUT;
        while !tally.finished(s.paced) && Instant::now() < deadline {
            match stack.paced.try_event() {
                Some(ev) => tally.count(ev),
                None => std::thread::sleep(Duration::from_micros(200)),
            }
        }
        stop.store(true, Ordering::Release);
        for c in clients {
            match c.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(format!("API load: {e}")),
                Err(_) => return Err("an API load client panicked".into()),
            }
        }
        if tally.rejected > 0 {
            return Err(format!(
                "{} paced orders rejected (first: {})",
                tally.rejected,
                tally.first_reject.unwrap_or("?")
            ));
        }
        if !tally.finished(s.paced) {
            return Err(format!(
                "paced flow: {} of {} accepted, {} finished within {} s",
                tally.accepted,
                s.paced,
                tally.done,
                DRAIN_TIMEOUT.as_secs()
            ));
        }
        Ok((
            paced_elapsed,
            worst_lag,
            tally.accepted,
            load_requests,
            load_elapsed,
        ))
    });
    let (paced_elapsed, worst_lag, accepted, load_requests, load_elapsed) = flow?;
    let report = stack.stop()?;
    Ok(Phase {
        hists: Stage::ALL
            .iter()
            .map(|&st| report.latency.stage(st).clone())
            .collect(),
        rounds: 1,
        paced_sent: s.paced,
        paced_elapsed,
        paced_worst_lag: worst_lag,
        paced_accepted: accepted,
        load_requests,
        load_submits: submits.load(Ordering::Relaxed),
        load_elapsed,
        cycles: report.cycles,
    })
}

// ---------------------------------------------------------------------------------------
// Output.

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

fn utc_now() -> String {
    let ns = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
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

fn print_http(rows: &[Row]) {
    println!(
        "{:<36} {:>8} {:>8} {:>8} {:>8} {:>9} {:>9} {:>10}",
        "HTTP row", "requests", "p50 µs", "p90 µs", "p99 µs", "p99.9 µs", "max µs", "requests/s"
    );
    println!("{}", "-".repeat(36 + 9 * 4 + 10 * 2 + 11));
    for r in rows {
        match &r.result {
            Ok(s) => println!(
                "{:<36} {:>8} {:>8.1} {:>8.1} {:>8.1} {:>9.1} {:>9.1} {:>10.0}",
                r.name, s.requests, s.p50, s.p90, s.p99, s.p999, s.max, s.per_s
            ),
            Err(e) => println!("{:<36} not run: {e}", r.name),
        }
    }
    for r in rows {
        if !r.notes.is_empty() {
            println!("  {}: {}", r.name, r.notes);
        }
    }
}

fn fmt_ns(n: u64, present: bool) -> String {
    if present {
        n.to_string()
    } else {
        "-".into()
    }
}

fn ratio(a: u64, b: u64, present: bool) -> String {
    if present && b > 0 {
        format!("{:.2}", a as f64 / b as f64)
    } else {
        "-".into()
    }
}

fn print_phases(phases: &[(Load, Result<Phase, String>)]) {
    for (load, p) in phases {
        match p {
            Ok(p) => {
                println!(
                    "{} ({} rounds): {} paced in-process submits at {:.0}/s (worst lag behind schedule {:.0} µs), {} accepted; API load: {} requests ({} submits) at {:.0}/s; the core carried out {} submits in {} duty cycles",
                    load.name(),
                    p.rounds,
                    p.paced_sent,
                    p.paced_per_s(),
                    p.paced_worst_lag.as_nanos() as f64 / 1000.0,
                    p.paced_accepted,
                    p.load_requests,
                    p.load_submits,
                    p.load_per_s(),
                    p.core_submits(),
                    p.cycles
                );
                println!(
                    "  {:<8} {:>8} {:>8} {:>8} {:>8} {:>9} {:>9}",
                    "stage", "n", "p50 ns", "p90 ns", "p99 ns", "p99.9 ns", "max ns"
                );
                for (s, st) in &p.stages() {
                    let has = st.n > 0;
                    println!(
                        "  {:<8} {:>8} {:>8} {:>8} {:>8} {:>9} {:>9}",
                        s.name(),
                        st.n,
                        fmt_ns(st.p50, has),
                        fmt_ns(st.p90, has),
                        fmt_ns(st.p99, has),
                        fmt_ns(st.p999, has),
                        fmt_ns(st.max, has)
                    );
                }
            }
            Err(e) => println!("{}: not run: {e}", load.name()),
        }
    }
    let Some(Ok(base)) = phases
        .iter()
        .find(|(l, _)| *l == Load::None)
        .map(|(_, p)| p)
    else {
        return;
    };
    for (load, p) in phases {
        let (Load::Reads | Load::Mixed, Ok(p)) = (load, p) else {
            continue;
        };
        println!();
        println!(
            "with {} / without, per stage (ratio > 1: slower under load)",
            load.name()
        );
        println!(
            "  {:<8} {:>9} {:>9} {:>7} {:>9} {:>9} {:>7}",
            "stage", "p50 w/o", "p50 with", "p50 ×", "p99 w/o", "p99 with", "p99 ×"
        );
        for ((s, b), (_, w)) in base.stages().iter().zip(&p.stages()) {
            let has = b.n > 0 && w.n > 0;
            println!(
                "  {:<8} {:>9} {:>9} {:>7} {:>9} {:>9} {:>7}",
                s.name(),
                fmt_ns(b.p50, b.n > 0),
                fmt_ns(w.p50, w.n > 0),
                ratio(w.p50, b.p50, has),
                fmt_ns(b.p99, b.n > 0),
                fmt_ns(w.p99, w.n > 0),
                ratio(w.p99, b.p99, has)
            );
        }
    }
}

fn to_json(rows: &[Row], phases: &[(Load, Result<Phase, String>)], context: Value) -> Value {
    let http: Vec<Value> = rows
        .iter()
        .map(|r| match &r.result {
            Ok(s) => json!({
                "row": r.name,
                "notes": r.notes,
                "requests": s.requests,
                "p50_us": s.p50,
                "p90_us": s.p90,
                "p99_us": s.p99,
                "p999_us": s.p999,
                "max_us": s.max,
                "mean_us": s.mean,
                "requests_per_s": s.per_s,
            }),
            Err(e) => json!({ "row": r.name, "notes": r.notes, "error": e }),
        })
        .collect();
    let base = phases.iter().find_map(|(l, p)| match (l, p) {
        (Load::None, Ok(p)) => Some(p),
        _ => None,
    });
    let core: Vec<Value> = phases
        .iter()
        .map(|(load, p)| match p {
            Ok(p) => {
                let base_stages = base.map(|b| b.stages());
                let stages: Vec<Value> = p
                    .stages()
                    .iter()
                    .enumerate()
                    .map(|(i, (s, st))| {
                        let b = base_stages.as_ref().map(|b| b[i].1);
                        let r = |w: u64, b: Option<u64>| match b {
                            Some(b) if b > 0 && st.n > 0 => Some(w as f64 / b as f64),
                            _ => None,
                        };
                        json!({
                            "stage": s.name(),
                            "n": st.n,
                            "p50_ns": st.p50,
                            "p90_ns": st.p90,
                            "p99_ns": st.p99,
                            "p999_ns": st.p999,
                            "max_ns": st.max,
                            "p50_vs_no_load": r(st.p50, b.filter(|b| b.n > 0).map(|b| b.p50)),
                            "p99_vs_no_load": r(st.p99, b.filter(|b| b.n > 0).map(|b| b.p99)),
                        })
                    })
                    .collect();
                json!({
                    "phase": load.name(),
                    "rounds": p.rounds,
                    "paced_sent": p.paced_sent,
                    "paced_per_s": p.paced_per_s(),
                    "paced_worst_lag_us": p.paced_worst_lag.as_nanos() as f64 / 1000.0,
                    "paced_accepted": p.paced_accepted,
                    "api_load_requests": p.load_requests,
                    "api_load_submits": p.load_submits,
                    "api_load_per_s": p.load_per_s(),
                    "core_submits": p.core_submits(),
                    "core_cycles": p.cycles,
                    "stages": stages,
                })
            }
            Err(e) => json!({ "phase": load.name(), "error": e }),
        })
        .collect();
    json!({ "context": context, "http": http, "core_stages": core })
}

fn main() {
    // `cargo bench` passes `--bench` (and maybe a filter); nothing else to parse.
    let (idle, idle_name) = match std::env::var("CTL_BENCH_IDLE").as_deref() {
        Ok("backoff") | Err(_) => (IdleKind::Backoff, "backoff"),
        Ok("spin") => (IdleKind::Spin, "spin"),
        Ok("yield") => (IdleKind::Yield, "yield"),
        Ok(other) => {
            eprintln!("control_api: CTL_BENCH_IDLE={other:?}: backoff, spin or yield");
            std::process::exit(2);
        }
    };
    let keep_latency = std::env::var("CTL_BENCH_VENUE_LATENCY").is_ok_and(|v| v == "builtin");
    let s = Settings {
        orders: env_u64("CTL_BENCH_ORDERS", 2000).max(1),
        warmup: env_u64("CTL_BENCH_WARMUP", 200),
        clients: env_u64("CTL_BENCH_CLIENTS", 4).clamp(1, 64),
        paced: env_u64("CTL_BENCH_PACED", 4000).max(1),
        rate: env_u64("CTL_BENCH_RATE", 2000).clamp(1, 1_000_000),
        rounds: env_u64("CTL_BENCH_ROUNDS", 3).max(1),
        idle,
        idle_name,
        keep_latency,
    };
    let nproc = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let load_start = loadavg();
    println!(
        "control_api: {} UTC, git {}, {nproc} CPUs ({}), load average at start {load_start}",
        utc_now(),
        git_head(),
        cpu_model()
    );
    let venue = if s.keep_latency {
        "the paper venue's built-in wire latency (40 µs + exp(60 µs) per round trip)"
    } else {
        "the paper venue with its wire latency at 0 (built-in: 40 µs + exp(60 µs))"
    };
    println!(
        "  in-process core (idle {}) + control thread (axum, current_thread tokio) on 127.0.0.1, built-in paper configuration, {venue}, no silent orders, no journal",
        s.idle_name
    );
    println!(
        "  HTTP latency = client about to send → whole answer read, over loopback TCP with keep-alive: HTTP + JSON both ways, the control thread's link, the core's rings, gate, OMS, the paper venue's ack and fill, the final answer; {} recorded after {} unrecorded",
        s.orders, s.warmup
    );
    println!(
        "  core stages = the core thread's own histograms (ring: producer stamp → dequeued; gate, oms, venue, confirm; total: gate → confirmation), every submit it carried out; paced flow: {} MARKET orders at {}/s from an in-process Handle; API load: {} client threads back to back; phases alternate, {} rounds, a fresh core and control thread each time",
        s.paced, s.rate, s.clients, s.rounds
    );
    println!();

    let rows = http_rows(&s);
    // The phases alternate, round after round, so that a change in the machine's load
    // during the run falls on all of them alike; each phase's histograms are merged.
    let mut phases: Vec<(Load, Result<Phase, String>)> = [Load::None, Load::Reads, Load::Mixed]
        .into_iter()
        .map(|l| (l, Err("not run".to_string())))
        .collect();
    for round in 0..s.rounds {
        for (load, acc) in phases.iter_mut() {
            if round > 0 && acc.is_err() {
                continue; // failed once: its error stands
            }
            eprint!(
                "control_api: core stages, {}, round {} … ",
                load.name(),
                round + 1
            );
            let t = Instant::now();
            match run_phase(&s, *load) {
                Ok(p) => {
                    eprintln!("{:.1} s", t.elapsed().as_secs_f64());
                    match acc {
                        Ok(a) => a.merge(p),
                        Err(_) => *acc = Ok(p),
                    }
                }
                Err(e) => {
                    eprintln!("failed: {e}");
                    *acc = Err(format!("round {}: {e}", round + 1));
                }
            }
        }
    }

    let load_end = loadavg();
    println!("  load average at end {load_end}");
    println!();
    print_http(&rows);
    println!();
    print_phases(&phases);

    let context = json!({
        "date": utc_now(),
        "git": git_head(),
        "nproc": nproc,
        "cpu": cpu_model(),
        "loadavg_start": load_start,
        "loadavg_end": load_end,
        "orders": s.orders,
        "warmup": s.warmup,
        "clients": s.clients,
        "paced": s.paced,
        "rate": s.rate,
        "rounds": s.rounds,
        "core_idle": s.idle_name,
        "paper_venue_latency": if s.keep_latency { "builtin" } else { "0" },
    });
    let out = target_dir().join("control_api.json");
    match serde_json::to_string_pretty(&to_json(&rows, &phases, context))
        .map_err(|e| e.to_string())
        .and_then(|j| std::fs::write(&out, j + "\n").map_err(|e| e.to_string()))
    {
        Ok(()) => println!("\nwritten: {}", out.display()),
        Err(e) => eprintln!("control_api: {}: {e}", out.display()),
    }
    let failed = rows.iter().filter(|r| r.result.is_err()).count()
        + phases.iter().filter(|(_, p)| p.is_err()).count();
    if failed > 0 {
        eprintln!("control_api: {failed} row(s) failed");
        std::process::exit(1);
    }
}
