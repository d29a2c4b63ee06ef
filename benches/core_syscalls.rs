//! System calls the core thread makes per order in steady state (R-PERF-1: no system
//! call on the hot path but the socket write), counted by the kernel's syscall
//! tracepoints through `perf stat -t <core thread>`: nothing is instrumented in execd
//! and no other thread is counted.
//!
//! The flow is tests/no_alloc.rs's FIX round trip: execd's core, journaled (with its
//! sidecar), a FIX 4.4 session to `execd-venue-sim --policy fill`, market IOC orders of
//! one lot, at most 32 in flight, driven through a `Handle`. After 2 000 orders of warm-up
//! the counters run over 5 000 more. One row per idle strategy of the core.
//!
//! Reading the table: `write`/`sendto` carry the orders out (one per order, plus the odd
//! heartbeat); `read`/`recvfrom` are the socket polls that bring the broker's answers in
//! (a busy-polling core also polls when nothing is there: those come back empty); the
//! idle columns (`sched_yield`, `epoll_wait`…, `futex`, sleeps) are what a core with
//! nothing to do spends while it waits. Every other system call on the core thread is a
//! failure of R-PERF-1: the bench prints them and exits 1.
//!
//! Needs `perf` with tracepoint access (root, or `perf_event_paranoid` ≤ 1 and a readable
//! tracefs); without it the bench says SKIP and why (under `CI=true` it fails).

#[path = "../tests/common/mod.rs"]
mod common;

use common::{TempDir, VenueSim};
use execd::config::{IdleKind, Registry, DEFAULT_IDLE_YIELD_US};
use execd::core::{spawn, CoreOptions, Handle, RealClock};
use execd::model::event::{Command, CoreEvent};
use execd::model::fixed::Dec;
use execd::model::ids::{Name, RequestId, Side, Tif};
use execd::model::request::ExecutionRequest;
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const WARMUP: u64 = 2_000;
const ORDERS: u64 = 5_000;

/// Socket calls that move the flow.
const SOCKET: [&str; 8] = [
    "write",
    "writev",
    "sendto",
    "sendmsg",
    "read",
    "recvfrom",
    "recvmsg",
    "epoll_ctl",
];
/// What an idle core may spend waiting.
const IDLE: [&str; 8] = [
    "sched_yield",
    "epoll_wait",
    "epoll_pwait",
    "epoll_pwait2",
    "futex",
    "nanosleep",
    "clock_nanosleep",
    "ppoll",
];
/// Named so a failure says what it was; anything else still shows in the total.
const OTHER: [&str; 10] = [
    "mmap",
    "munmap",
    "madvise",
    "msync",
    "fsync",
    "fdatasync",
    "openat",
    "ftruncate",
    "fallocate",
    "clock_gettime",
];

fn main() {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    if let Err(why) = perf_works() {
        assert!(!ci, "core_syscalls needs perf with tracepoints: {why}");
        println!("SKIP core_syscalls: {why}");
        return;
    }
    println!(
        "core_syscalls: system calls on the core thread per order (FIX 4.4 to execd-venue-sim, \
         journal on, {ORDERS} orders after {WARMUP}, 32 in flight); {} CPUs, load {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load()
    );
    let mut failed = false;
    for (name, idle) in [
        ("spin", IdleKind::Spin),
        ("yield", IdleKind::Yield),
        ("backoff", IdleKind::Backoff),
    ] {
        let counts = run(idle);
        failed |= report(name, &counts);
    }
    if failed {
        std::process::exit(1);
    }
}

fn perf_works() -> Result<(), String> {
    let out = std::process::Command::new("perf")
        .args(["stat", "-x,", "-e", "raw_syscalls:sys_enter", "--", "true"])
        .output()
        .map_err(|e| format!("cannot run perf: {e}"))?;
    let err = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() || !err.contains("raw_syscalls:sys_enter") || err.contains("<not") {
        return Err(format!(
            "perf cannot count syscall tracepoints: {}",
            err.trim()
        ));
    }
    Ok(())
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// Counts per syscall name (`total` for every syscall) over the measured orders.
struct Counts {
    by_name: Vec<(String, u64)>,
    orders: u64,
}

impl Counts {
    fn get(&self, name: &str) -> u64 {
        self.by_name
            .iter()
            .find(|(n, _)| n == name)
            .map_or(0, |(_, c)| *c)
    }
}

fn run(idle: IdleKind) -> Counts {
    let dir = TempDir::new("core-syscalls");
    let sim = VenueSim::start(&["--policy", "fill", "--dict-dir", "fix-dictionaries"]);
    let text = common::steady_fix_config(sim.port);
    let reg = Arc::new(Registry::from_toml(&text).expect("fix-sim config"));
    let (core, mut hs) = spawn(
        reg,
        CoreOptions {
            idle,
            idle_yield: Duration::from_micros(DEFAULT_IDLE_YIELD_US),
            pin_core: None,
            clock: Box::new(RealClock::new()),
            simulated: false,
            epoch: 7,
            grace: Duration::from_secs(5),
            journal: Some(dir.to_path_buf()),
        },
        1,
    )
    .expect("core starts");
    let h = &mut hs[0];
    let up = h.wait_for(
        Duration::from_secs(30),
        |e| matches!(e, CoreEvent::VenueSession { up: true, .. }),
        |_| {},
    );
    assert!(up.is_some(), "the FIX session logs on");
    drive(h, 0, WARMUP);
    let tid = core_tid().expect("a thread named execd-core");
    let perf = start_perf(tid);
    // perf attaches asynchronously; counting a few orders early only adds to the totals.
    std::thread::sleep(Duration::from_millis(200));
    drive(h, WARMUP, ORDERS);
    let by_name = stop_perf(perf);
    core.shutdown();
    drop(sim);
    Counts {
        by_name,
        orders: ORDERS,
    }
}

/// Sends `n` market IOC orders, at most 32 in flight, until each has ended.
fn drive(h: &mut Handle, first: u64, n: u64) {
    let quote = || Command::Quote {
        venue: Name::new("sim").unwrap(),
        symbol: Name::new("AAPL").unwrap(),
        bid: Dec::new(9_999, 2),
        ask: Dec::new(10_001, 2),
        bid_size: Dec::new(1_000, 0),
        ask_size: Dec::new(1_000, 0),
    };
    let (mut sent, mut done) = (0u64, 0u64);
    let deadline = Instant::now() + Duration::from_secs(300);
    while done < n {
        assert!(Instant::now() < deadline, "{done}/{n} orders ended");
        if sent < n && sent - done < 32 {
            if sent % 256 == 0 {
                let _ = h.send(quote());
            }
            let side = if (first + sent) % 2 == 0 {
                Side::Buy
            } else {
                Side::Sell
            };
            let mut r = ExecutionRequest::market("", "alpha", "sim", "AAPL", side, Dec::new(1, 0));
            r.request_id = RequestId::from_prefixed_u64("sc-", first + sent).unwrap();
            r.tif = Tif::Ioc;
            if h.submit(r).is_ok() {
                sent += 1;
            }
        }
        while let Some(e) = h.try_event() {
            match e {
                CoreEvent::Rejected { reason, .. } => panic!("rejected: {reason:?}"),
                CoreEvent::Order(s) if s.state.is_terminal() => done += 1,
                _ => {}
            }
        }
        std::thread::yield_now();
    }
}

fn core_tid() -> Option<u32> {
    std::fs::read_dir("/proc/self/task").ok()?.find_map(|e| {
        let e = e.ok()?;
        let comm = std::fs::read_to_string(e.path().join("comm")).ok()?;
        (comm.trim() == "execd-core")
            .then(|| e.file_name().to_str()?.parse().ok())
            .flatten()
    })
}

fn start_perf(tid: u32) -> Child {
    let events: Vec<String> = std::iter::once("raw_syscalls:sys_enter".to_string())
        .chain(
            SOCKET
                .iter()
                .chain(&IDLE)
                .chain(&OTHER)
                .map(|n| format!("syscalls:sys_enter_{n}")),
        )
        .collect();
    std::process::Command::new("perf")
        .args([
            "stat",
            "-x,",
            "-t",
            &tid.to_string(),
            "-e",
            &events.join(","),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("perf starts")
}

fn stop_perf(perf: Child) -> Vec<(String, u64)> {
    // perf prints its counts when interrupted.
    let _ = std::process::Command::new("kill")
        .args(["-INT", &perf.id().to_string()])
        .status();
    let out = perf.wait_with_output().expect("perf ends");
    let text = String::from_utf8_lossy(&out.stderr);
    text.lines()
        .filter_map(|l| {
            let mut f = l.split(',');
            let count = f.next()?.trim().parse::<u64>().ok()?;
            let event = f.nth(1)?;
            let name = if event == "raw_syscalls:sys_enter" {
                "total"
            } else {
                event.strip_prefix("syscalls:sys_enter_")?
            };
            Some((name.to_string(), count))
        })
        .collect()
}

/// Prints one row; whether it breaks R-PERF-1.
fn report(idle: &str, c: &Counts) -> bool {
    let per = |n: u64| n as f64 / c.orders as f64;
    let sum = |names: &[&str]| names.iter().map(|n| c.get(n)).sum::<u64>();
    let total = c.get("total");
    let (socket, waiting) = (sum(&SOCKET), sum(&IDLE));
    let other = total.saturating_sub(socket + waiting);
    println!(
        "\ncore idle = {idle}: {total} system calls over {} orders ({:.2} per order)",
        c.orders,
        per(total)
    );
    for (name, n) in &c.by_name {
        if name != "total" && *n > 0 {
            println!("  {name:<16} {n:>10}  {:>8.2} per order", per(*n));
        }
    }
    println!(
        "  socket {:.2}/order, idle waits {:.2}/order, anything else {other} ({:.3}/order)",
        per(socket),
        per(waiting),
        per(other)
    );
    if other > 0 {
        println!("  FAIL R-PERF-1: the core thread made {other} system calls that are neither socket I/O nor idle waiting");
        return true;
    }
    false
}
