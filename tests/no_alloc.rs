//! Steady state allocates nothing: submit → gate → OMS → paper venue → fills →
//! confirmation, counted by a global allocator. Without a journal, across every thread
//! of the process; with the journal on and the sidecar copying it into the audit log
//! (a thread that may allocate), on the core thread; and over FIX to `execd-venue-sim`
//! (encode, store, send, frame, validate, map, journal), on the core thread.

mod common;

use common::{config_with, TempDir};
use execd::calendar::unix_ns;
use execd::config::Registry;
use execd::config::{IdleKind, DEFAULT_IDLE_YIELD_US};
use execd::core::ManualClock;
use execd::core::{spawn, CoreOptions, CoreReport, Handle};
use execd::model::event::{Command, CoreEvent};
use execd::model::fixed::Dec;
use execd::model::ids::{RequestId, Side, Tif};
use execd::model::request::{ExecutionRequest, Protect};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
/// Allocations on any thread while counting.
static ALLOCS: AtomicU64 = AtomicU64::new(0);
/// Allocations on the core thread while counting.
static CORE_ALLOCS: AtomicU64 = AtomicU64::new(0);
/// The tests count process-wide, so they take turns.
static SERIAL: Mutex<()> = Mutex::new(());

thread_local! {
    // 0: not yet known, 1: the core thread, 2: another, 3: finding out (an allocation
    // made while asking for the thread's name is not the core's).
    static THREAD: Cell<u8> = const { Cell::new(0) };
}

fn on_core_thread() -> bool {
    THREAD
        .try_with(|t| match t.get() {
            0 => {
                t.set(3);
                let core = std::thread::current().name() == Some("execd-core");
                t.set(if core { 1 } else { 2 });
                core
            }
            k => k == 1,
        })
        .unwrap_or(false)
}

fn count() {
    if COUNTING.load(Ordering::Relaxed) {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        if on_core_thread() {
            CORE_ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static A: Counting = Counting;

/// One request of a rotating mix: IOC and FOK market orders on three instruments, both
/// sides, a third with stop-loss / take-profit offsets.
fn request(n: u64) -> ExecutionRequest {
    let (sym, qty) = [
        ("AAPL", Dec::new(10, 0)),
        ("EURUSD", Dec::new(10_000, 0)),
        ("ETHUSDT", Dec::new(5, 1)),
    ][(n % 3) as usize];
    let side = if (n / 3) % 2 == 0 {
        Side::Buy
    } else {
        Side::Sell
    };
    let mut r = ExecutionRequest::market("", "alpha", "paper", sym, side, qty);
    r.request_id = RequestId::from_prefixed_u64("na-", n).unwrap();
    r.tif = if n % 2 == 0 { Tif::Ioc } else { Tif::Fok };
    if n % 3 == 0 {
        r.stop_loss = Some(Protect::OffsetPpm(-side.sign() * 3_000));
        r.take_profit = Some(Protect::OffsetPpm(side.sign() * 3_000));
    }
    r
}

/// Sends `count` requests from `first`, 50 µs of simulated time apart, and waits until
/// each has its answer. Allocation-free itself.
fn drive(h: &mut Handle, first: u64, count: u64, t: &mut u64) -> (u64, u64) {
    let (mut answered, mut fills) = (0u64, 0u64);
    let mut sent = 0;
    let mut token = 0;
    let mut synced = false;
    while !synced {
        if sent < count {
            if h.send_at(*t, Command::Submit(request(first + sent)))
                .is_ok()
            {
                *t += 50_000;
                sent += 1;
            }
        } else if token == 0 {
            // Let the venue answer everything before syncing.
            if h.send_at(*t + 5_000_000, Command::Sync(first + count))
                .is_ok()
            {
                token = first + count;
            }
        }
        while let Some(e) = h.try_event() {
            match e {
                CoreEvent::Accepted { .. } | CoreEvent::Rejected { .. } => answered += 1,
                CoreEvent::Fill { .. } => fills += 1,
                CoreEvent::Synced(k) if k == token => synced = true,
                _ => {}
            }
        }
    }
    *t += 5_000_000;
    (answered, fills)
}

/// What a measured stretch of 20 000 requests did, after 3 000 to warm up: allocations
/// on any thread and on the core thread, and the core's report.
struct Measured {
    allocs: u64,
    core_allocs: u64,
    report: CoreReport,
}

fn measure(reg: Registry, journal: Option<&Path>) -> Measured {
    let start = unix_ns(2026, 1, 5, 15, 0);
    let (core, mut hs) = spawn(
        Arc::new(reg),
        CoreOptions {
            idle: IdleKind::Backoff,
            idle_yield: Duration::from_micros(DEFAULT_IDLE_YIELD_US),
            pin_core: None,
            clock: Box::new(ManualClock::at(start)),
            simulated: true,
            epoch: 1,
            grace: Duration::from_secs(5),
            journal: journal.map(Path::to_path_buf),
        },
        1,
    )
    .unwrap();
    let h = &mut hs[0];
    let mut t = start + 1_000_000;
    // Warm up: every path touched once, caches and first-touch pages faulted in.
    let (warm, _) = drive(h, 0, 3_000, &mut t);
    assert_eq!(warm, 3_000);

    ALLOCS.store(0, Ordering::SeqCst);
    CORE_ALLOCS.store(0, Ordering::SeqCst);
    COUNTING.store(true, Ordering::SeqCst);
    let (answered, fills) = drive(h, 3_000, 20_000, &mut t);
    COUNTING.store(false, Ordering::SeqCst);
    assert_eq!(answered, 20_000);
    assert!(fills >= 15_000, "most orders fill: {fills}");
    Measured {
        allocs: ALLOCS.load(Ordering::SeqCst),
        core_allocs: CORE_ALLOCS.load(Ordering::SeqCst),
        report: core.shutdown(),
    }
}

#[test]
fn steady_state_submit_to_confirmation_allocates_nothing() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let m = measure(Registry::default_paper(), None);
    assert!(
        m.report.engine.stats().protective_orders > 1_000,
        "protection path exercised"
    );
    assert_eq!(m.allocs, 0, "{} allocations in steady state", m.allocs);
}

#[test]
fn steady_state_with_the_journal_and_the_sidecar_allocates_nothing_on_the_core_thread() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = TempDir::new("no-alloc-journal");
    // 1 MiB segments: the measured stretch rolls over to new segments many times.
    let reg = config_with(|t| t.replace("segment_kb = 65536", "segment_kb = 1024"));
    let m = measure(reg, Some(&dir));
    let records = m.report.journal_next_seq.expect("journaled") - 1;
    assert!(
        records > 100_000,
        "every command and event journaled: {records}"
    );
    let audit = m.report.audit.expect("the sidecar ran");
    assert_eq!(
        audit.last_seq, records,
        "the audit log holds the whole journal"
    );
    let segments = std::fs::read_dir(&*dir)
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name();
            name.to_string_lossy().ends_with(".journal")
        })
        .count();
    assert!(segments > 10, "segments rolled over: {segments}");
    assert_eq!(
        m.core_allocs, 0,
        "{} allocations on the core thread in steady state",
        m.core_allocs
    );
}

/// A FIX round trip allocates nothing on the core thread either: NewOrderSingle encoded
/// and stored, the broker's ExecutionReports framed, validated, mapped and journaled,
/// over a real socket to `execd-venue-sim`, with the journal and the sidecar on.
#[test]
fn steady_state_fix_round_trip_with_the_journal_allocates_nothing_on_the_core_thread() {
    use common::VenueSim;
    use execd::core::RealClock;
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = TempDir::new("no-alloc-fix");
    let sim = VenueSim::start(&["--policy", "fill", "--dict-dir", "fix-dictionaries"]);
    let text = common::steady_fix_config(sim.port);
    let reg = Arc::new(Registry::from_toml(&text).unwrap());
    let (core, mut hs) = spawn(
        reg.clone(),
        CoreOptions {
            idle: IdleKind::Backoff,
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
    .unwrap();
    let h = &mut hs[0];
    let up = h.wait_for(
        Duration::from_secs(30),
        |e| matches!(e, CoreEvent::VenueSession { up: true, .. }),
        |_| {},
    );
    assert!(up.is_some(), "the FIX session logs on");
    let quote = || Command::Quote {
        venue: execd::model::ids::Name::new("sim").unwrap(),
        symbol: execd::model::ids::Name::new("AAPL").unwrap(),
        bid: Dec::new(9_999, 2),
        ask: Dec::new(10_001, 2),
        bid_size: Dec::new(1_000, 0),
        ask_size: Dec::new(1_000, 0),
    };
    // Market IOC buys and sells of one lot, at most 32 in flight; every answer read.
    let run = |h: &mut Handle, first: u64, n: u64| -> u64 {
        let (mut sent, mut done, mut fills) = (0u64, 0u64, 0u64);
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        while done < n {
            assert!(std::time::Instant::now() < deadline, "{done}/{n} answered");
            if sent < n && sent - done < 32 {
                if sent % 256 == 0 {
                    let _ = h.send(quote());
                }
                let side = if (first + sent) % 2 == 0 {
                    Side::Buy
                } else {
                    Side::Sell
                };
                let mut r =
                    ExecutionRequest::market("", "alpha", "sim", "AAPL", side, Dec::new(1, 0));
                r.request_id = RequestId::from_prefixed_u64("fx-", first + sent).unwrap();
                r.tif = Tif::Ioc;
                if h.submit(r).is_ok() {
                    sent += 1;
                }
            }
            while let Some(e) = h.try_event() {
                match e {
                    CoreEvent::Fill { .. } => fills += 1,
                    CoreEvent::Rejected { reason, .. } => panic!("rejected: {reason:?}"),
                    CoreEvent::Order(s) if s.state.is_terminal() => done += 1,
                    _ => {}
                }
            }
            std::thread::yield_now();
        }
        fills
    };
    run(h, 0, 2_000);
    CORE_ALLOCS.store(0, Ordering::SeqCst);
    COUNTING.store(true, Ordering::SeqCst);
    let fills = run(h, 2_000, 5_000);
    COUNTING.store(false, Ordering::SeqCst);
    assert_eq!(fills, 5_000, "every order filled over FIX");
    let core_allocs = CORE_ALLOCS.load(Ordering::SeqCst);
    let report = core.shutdown();
    let fix = report.engine.venue(0).fix().expect("a FIX venue").stats();
    assert!(
        fix.received >= 14_000,
        "acks and fills came over FIX: {fix:?}"
    );
    assert_eq!(
        core_allocs, 0,
        "{core_allocs} allocations on the core thread in a steady FIX round trip"
    );
    drop(sim);
}

/// The journal writer waiting for its next segment allocates nothing either: records
/// appended as fast as memory takes them fill 16 KiB segments far faster than the
/// preparing thread creates files, so the writer waits at nearly every roll. (A
/// blocking channel receive there allocated the thread's wait context the first time
/// it blocked: on a loaded machine, in the middle of trading.)
#[test]
fn a_journal_waiting_for_its_next_segment_allocates_nothing() {
    use execd::journal::JournalWriter;
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = TempDir::new("no-alloc-rolls");
    let path = dir.to_path_buf();
    let core = std::thread::Builder::new()
        .name("execd-core".into())
        .spawn(move || {
            let (mut w, _) = JournalWriter::open(&path, 16 << 10).unwrap();
            let payload = [7u8; 200];
            // Warm up at a pace the preparing thread keeps ahead of, as trading does
            // on a quiet machine: rolls that never wait.
            for i in 0..2_000 {
                w.append(1, 1, 0, &payload).unwrap();
                if i % 20 == 0 {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            COUNTING.store(true, Ordering::SeqCst);
            let before = CORE_ALLOCS.load(Ordering::SeqCst);
            for _ in 0..40_000 {
                w.append(1, 1, 0, &payload).unwrap();
            }
            let allocs = CORE_ALLOCS.load(Ordering::SeqCst) - before;
            COUNTING.store(false, Ordering::SeqCst);
            (allocs, w.next_seq())
        })
        .unwrap();
    let (allocs, next) = core.join().unwrap();
    assert_eq!(next, 42_001);
    let segments = std::fs::read_dir(&*dir)
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name();
            name.to_string_lossy().ends_with(".journal")
        })
        .count();
    assert!(segments > 400, "segments rolled over: {segments}");
    assert_eq!(allocs, 0, "{allocs} allocations on the writer's thread");
}
