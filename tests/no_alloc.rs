//! Steady state allocates nothing: submit → gate → OMS → paper venue → fills →
//! confirmation, counted by a global allocator across every thread of the process.

use execd::calendar::unix_ns;
use execd::config::IdleKind;
use execd::config::Registry;
use execd::core::ManualClock;
use execd::core::{spawn, CoreOptions, Handle};
use execd::model::event::{Command, CoreEvent};
use execd::model::fixed::Dec;
use execd::model::ids::{RequestId, Side, Tif};
use execd::model::request::{ExecutionRequest, Protect};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
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

#[test]
fn steady_state_submit_to_confirmation_allocates_nothing() {
    let reg = Arc::new(Registry::default_paper());
    let start = unix_ns(2026, 1, 5, 15, 0);
    let (core, mut hs) = spawn(
        reg,
        CoreOptions {
            idle: IdleKind::Backoff,
            pin_core: None,
            clock: Box::new(ManualClock::at(start)),
            simulated: true,
            epoch: 1,
            grace: Duration::from_secs(5),
            journal: None,
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
    COUNTING.store(true, Ordering::SeqCst);
    let (answered, fills) = drive(h, 3_000, 20_000, &mut t);
    COUNTING.store(false, Ordering::SeqCst);
    let allocs = ALLOCS.load(Ordering::SeqCst);

    let report = core.shutdown();
    assert_eq!(answered, 20_000);
    assert!(fills >= 15_000, "most orders fill: {fills}");
    assert!(
        report.engine.stats().protective_orders > 1_000,
        "protection path exercised"
    );
    assert_eq!(allocs, 0, "{allocs} allocations in steady state");
}
