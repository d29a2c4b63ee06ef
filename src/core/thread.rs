//! The core thread: a pinned (when asked), busy-polling duty cycle around the engine,
//! fed by lock-free SPSC rings (rtrb), one per producer, answering on one ring each.
//! Starting it recovers the engine from its journal first, when there is one.

use super::bell::Bell;
use super::clock::Clock;
use super::duty_cycle::DutyCycle;
use super::engine::Engine;
use super::handle::Handle;
use super::latency::Latency;
use super::metrics::CoreMetrics;
use super::recovery::{self, Recovered, RecoveryError};
use super::rings::Rings;
use super::venues::{build_venues, go_live};
use super::wait::{IdleCounts, IdleWait, BELL};
use crate::config::{IdleKind, Registry, DEFAULT_IDLE_YIELD_US};
use crate::journal::JournalWriter;
use crate::model::event::{CoreEvent, Inbound};
use crate::sidecar::{AuditHealth, AuditState, Fsync, Sidecar, SidecarConfig, SidecarReport};
use crate::venue::fix::venue::FixVenueError;
use std::fmt;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Longest the core waits at start for the sidecar to open the audit log.
const AUDIT_OPEN_WAIT: Duration = Duration::from_secs(10);

/// How to run the core thread.
pub struct CoreOptions {
    /// What the duty cycle does when a cycle found nothing to do.
    pub idle: IdleKind,
    /// How long backoff yields after the last work before it sleeps (`core.idle_yield_us`).
    pub idle_yield: Duration,
    /// CPU to pin the core thread to; refused pinning is reported once, not fatal.
    pub pin_core: Option<usize>,
    /// Where engine time comes from: real (TSC) or driven by the caller.
    pub clock: Box<dyn Clock>,
    /// Time moves only with the clock and with the `at_ns` of commands: at shutdown, jump
    /// simulated time forward instead of waiting for in-flight orders.
    pub simulated: bool,
    /// Client order id epoch (unique per start).
    pub epoch: u32,
    /// Real time allowed for in-flight orders to finish at shutdown.
    pub grace: Duration,
    /// Journal directory: every state-changing command is recorded there before it is
    /// carried out, and an existing journal is replayed at start (crash recovery).
    pub journal: Option<PathBuf>,
}

impl CoreOptions {
    /// Real time (quanta), backoff idling, unpinned: the daemon's and the tests' choice.
    pub fn real_time(epoch: u32) -> CoreOptions {
        CoreOptions {
            idle: IdleKind::Backoff,
            idle_yield: Duration::from_micros(DEFAULT_IDLE_YIELD_US),
            pin_core: None,
            clock: Box::new(super::clock::RealClock::new()),
            simulated: false,
            epoch,
            grace: Duration::from_secs(5),
            journal: None,
        }
    }

    /// Simulated time starting at `start_ns`, moved only by the commands' `at_ns`.
    pub fn simulated(start_ns: u64) -> CoreOptions {
        CoreOptions {
            idle: IdleKind::Backoff,
            idle_yield: Duration::from_micros(DEFAULT_IDLE_YIELD_US),
            pin_core: None,
            clock: Box::new(super::clock::ManualClock::at(start_ns)),
            simulated: true,
            epoch: 1,
            grace: Duration::from_secs(5),
            journal: None,
        }
    }
}

/// What the core thread hands back when it stops.
pub struct CoreReport {
    /// The engine, with its final state.
    pub engine: Engine,
    /// Per-stage latency histograms (ns) of the requests it carried out.
    pub latency: Latency,
    /// Duty cycles run.
    pub cycles: u64,
    /// Events that could not be delivered because a producer stopped reading.
    pub undelivered: u64,
    /// Whether pinning was asked for and worked.
    pub pinned: bool,
    /// Whether orders were still waiting for a venue when the grace period ran out.
    pub in_flight_at_exit: bool,
    /// What start-up recovered from the journal, when there is one.
    pub recovered: Option<Recovered>,
    /// Sequence number the journal's next record would have had.
    pub journal_next_seq: Option<u64>,
    /// What the sidecar copied into the audit log.
    pub audit: Option<SidecarReport>,
    /// Why the audit log failed, if it did: records after that point reached no audit
    /// log, and new orders were refused (AUDIT_FAILED). A run that ends with this set
    /// ended with a problem a human must look at.
    pub audit_failure: Option<String>,
    /// How it idled: waits in `epoll_wait` and what ended them, blind parks, wake-ups.
    pub idle: IdleCounts,
    /// What the journal refused (a full disk, an I/O error). Any of it is a problem a
    /// human must look at.
    pub journal_refused: JournalRefused,
}

/// Journal writes refused while the core ran.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JournalRefused {
    /// Commands not journaled, and therefore not carried out: each was answered
    /// JOURNAL_FAILED.
    pub commands: u64,
    /// Other records not journaled: events and venue inputs (applied all the same, but
    /// missing from the journal and the audit log), audit-log state changes, the closing
    /// time record. Once one is refused, the journal takes nothing more until it can
    /// grow again: what it holds stays a prefix of what happened.
    pub records: u64,
    /// Why the final msync failed, if it did: the last records may not be on disk.
    pub sync: Option<String>,
}

impl JournalRefused {
    /// Whether the journal took everything.
    pub fn is_none(&self) -> bool {
        *self == JournalRefused::default()
    }
}

impl std::fmt::Display for JournalRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} commands refused (JOURNAL_FAILED, not carried out), {} other records not journaled (events and venue inputs, applied but missing from the journal and the audit log)",
            self.commands, self.records
        )?;
        if let Some(why) = &self.sync {
            write!(
                f,
                "; the final msync failed ({why}): the last records may not be on disk"
            )?;
        }
        Ok(())
    }
}

/// Why the core did not start.
#[derive(Debug)]
pub enum StartError {
    /// The journal directory could not be opened, or what it holds could not be replayed
    /// into the same state (damaged, or written by another version), or the configuration
    /// cannot replace the journal's: nothing was started, and the journal was left as it
    /// was.
    Journal {
        /// The journal directory.
        dir: PathBuf,
        /// What is wrong with it.
        error: RecoveryError,
    },
    /// A FIX venue's session could not be set up (its dictionary, TLS files or session
    /// store): fix the settings the message names.
    Venue(FixVenueError),
    /// The operating system would not start the core thread.
    Thread(std::io::Error),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Journal { dir, error } => write!(f, "{}: {error}", dir.display()),
            StartError::Venue(e) => write!(f, "{e}"),
            StartError::Thread(e) => write!(f, "the core thread did not start: {e}"),
        }
    }
}

impl std::error::Error for StartError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StartError::Journal { error, .. } => Some(error),
            StartError::Venue(e) => Some(e),
            StartError::Thread(e) => Some(e),
        }
    }
}

/// The running core thread.
pub struct CoreThread {
    stop: Arc<AtomicBool>,
    bell: Bell,
    metrics: Arc<CoreMetrics>,
    join: Option<JoinHandle<CoreReport>>,
    recovered: Option<Recovered>,
}

impl CoreThread {
    /// Asks the core to stop: it drains its rings, lets in-flight orders finish (within
    /// the grace period) and hands back its final state.
    pub fn shutdown(mut self) -> CoreReport {
        self.stop.store(true, Ordering::Release);
        let j = self.join.take().expect("joined once");
        self.bell.ring();
        j.thread().unpark();
        match j.join() {
            Ok(r) => r,
            Err(p) => std::panic::resume_unwind(p),
        }
    }

    /// What start-up recovered from the journal, if it was given one.
    pub fn recovered(&self) -> Option<Recovered> {
        self.recovered
    }

    /// What the core publishes for the metrics endpoint while it runs.
    pub fn metrics(&self) -> Arc<CoreMetrics> {
        self.metrics.clone()
    }

    /// Whether the thread has exited.
    pub fn is_finished(&self) -> bool {
        self.join.as_ref().map(|j| j.is_finished()).unwrap_or(true)
    }
}

impl Drop for CoreThread {
    fn drop(&mut self) {
        if let Some(j) = self.join.take() {
            self.stop.store(true, Ordering::Release);
            self.bell.ring();
            j.thread().unpark();
            let _ = j.join();
        }
    }
}

/// Starts the core thread with `producers` handles. With a journal directory in `opts`,
/// the engine is first rebuilt from whatever the journal holds.
pub fn spawn(
    reg: Arc<Registry>,
    opts: CoreOptions,
    producers: usize,
) -> Result<(CoreThread, Vec<Handle>), StartError> {
    let start = opts.clock.now_ns();
    let (poll, bell) = doorbell(opts.idle);
    match opts.journal.clone() {
        None => {
            let venues = build_venues(&reg, start);
            let mut engine = Engine::new(reg.clone(), venues, opts.epoch, start);
            go_live(&mut engine, &reg, None, start, &bell)?;
            let wake = (poll, bell);
            start_thread(engine, None, None, Vec::new(), opts, producers, wake)
        }
        Some(dir) => {
            let segment_size = (reg.config.journal.segment_kb as usize) << 10;
            let (writer, mut engine, rec, unrecorded) =
                match recovery::open(&dir, reg.clone(), opts.epoch, start, segment_size) {
                    Ok(opened) => opened,
                    Err(error) => return Err(StartError::Journal { dir, error }),
                };
            let now = engine.now().max(start);
            go_live(&mut engine, &reg, Some(&dir), now, &bell)?;
            let wake = (poll, bell);
            start_thread(
                engine,
                Some(writer),
                Some(rec),
                unrecorded,
                opts,
                producers,
                wake,
            )
        }
    }
}

/// The `Poll` backoff's idle wait sleeps in and the doorbell that wakes it. Only backoff
/// sleeps; a box that cannot make a `Poll` parks instead (said once).
fn doorbell(idle: IdleKind) -> (Option<mio::Poll>, Bell) {
    if idle != IdleKind::Backoff {
        return (None, Bell::new(None));
    }
    let made = mio::Poll::new().and_then(|p| {
        let w = mio::Waker::new(p.registry(), BELL)?;
        Ok((p, w))
    });
    match made {
        Ok((p, w)) => (Some(p), Bell::new(Some(w))),
        Err(e) => {
            let _ = writeln!(
                std::io::stderr(),
                "execd: the core cannot wait in epoll ({e}); idling with short blind parks instead"
            );
            (None, Bell::new(None))
        }
    }
}

fn start_thread(
    engine: Engine,
    journal: Option<JournalWriter>,
    recovered: Option<Recovered>,
    unrecorded: Vec<CoreEvent>,
    opts: CoreOptions,
    producers: usize,
    (poll, bell): (Option<mio::Poll>, Bell),
) -> Result<(CoreThread, Vec<Handle>), StartError> {
    let cap = engine.registry().core.ring_capacity;
    let producers = producers.clamp(1, 255);
    let tsc = quanta::Clock::new();
    let mut handles = Vec::new();
    let mut inbound = Vec::new();
    let mut outbound = Vec::new();
    for _ in 0..producers {
        let (tx, rx) = rtrb::RingBuffer::<Inbound>::new(cap);
        let (etx, erx) = rtrb::RingBuffer::<CoreEvent>::new(cap);
        inbound.push(rx);
        outbound.push(etx);
        handles.push(Handle::new(tx, erx, tsc.clone(), bell.clone()));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let metrics = Arc::new(CoreMetrics::new(engine.registry().venues.len()));
    let published = metrics.clone();
    let core_bell = bell.clone();
    let join = std::thread::Builder::new()
        .name("execd-core".into())
        .spawn(move || {
            let sidecar = journal
                .as_ref()
                .map(|j| audit_sidecar(j, engine.registry()));
            let pinned = pin(opts.pin_core);
            core_bell.bind_core();
            let wait = IdleWait::new(poll, core_bell);
            let rings = Rings::new(outbound, journal, published.clone());
            let mut cycle = DutyCycle::new(engine, rings, inbound, opts, tsc, published, wait);
            if let Some(s) = &sidecar {
                let health = match s {
                    Ok(s) => s.health(),
                    Err(why) => AuditHealth::failed(why.clone()),
                };
                // No order before the audit log is open (or known broken): the first
                // cycle then sets the gate from what the sidecar found, not from a guess.
                let t0 = std::time::Instant::now();
                while health.state() == AuditState::Starting && t0.elapsed() < AUDIT_OPEN_WAIT {
                    std::thread::sleep(Duration::from_micros(200));
                }
                cycle.watch_audit(health);
            }
            let sidecar = sidecar.and_then(Result::ok);
            cycle.announce(unrecorded);
            cycle.reconcile_at_start(recovered.is_some_and(|r| r.commands > 0));
            cycle.run(|| flag.load(Ordering::Acquire));
            let mut report = cycle.finish();
            report.pinned = pinned;
            report.recovered = recovered;
            report.audit = sidecar.and_then(|s| match s.stop() {
                Ok(r) => Some(r),
                Err(e) => {
                    report.audit_failure.get_or_insert_with(|| e.to_string());
                    None
                }
            });
            report
        })
        .map_err(StartError::Thread)?;
    Ok((
        CoreThread {
            stop,
            bell,
            metrics,
            join: Some(join),
            recovered,
        },
        handles,
    ))
}

/// The sidecar that drains the journal into the audit log beside it. Without one (or
/// once it fails) the core refuses new orders: what it did would reach no audit log.
fn audit_sidecar(journal: &JournalWriter, reg: &Registry) -> Result<Sidecar, String> {
    let jc = &reg.config.journal;
    let cfg = SidecarConfig {
        journal: journal.dir().to_path_buf(),
        audit: journal.dir().join("audit"),
        fsync: Fsync::EveryMs(jc.fsync_ms),
        max_file_bytes: jc.audit_file_mb << 20,
        retain_segments: jc.retain_segments,
        reports: Some(Arc::new(reg.clone())),
    };
    Sidecar::spawn(cfg).map_err(|e| format!("the audit sidecar did not start: {e}"))
}

fn pin(core: Option<usize>) -> bool {
    let Some(want) = core else { return false };
    let ids = core_affinity::get_core_ids().unwrap_or_default();
    match ids.into_iter().find(|c| c.id == want) {
        Some(id) if core_affinity::set_for_current(id) => true,
        _ => {
            // Containers and small boxes often refuse: say so once, run unpinned.
            let _ = writeln!(
                std::io::stderr(),
                "execd: could not pin the core thread to CPU {want}; running unpinned"
            );
            false
        }
    }
}
