//! The core thread: a pinned (when asked), busy-polling duty cycle around the engine,
//! fed by lock-free SPSC rings (rtrb), one per producer, answering on one ring each.

use super::clock::Clock;
use super::engine::{venue_order, Engine, Outbox};
use super::idle::Idle;
use super::latency::{Latency, Stage, TscProbe};
use super::records::{self, KIND_COMMAND, KIND_EVENT, KIND_VENUE, MAX_COMMAND, MAX_EVENT};
use super::recovery::{self, Recovered};
use crate::config::IdleKind;
use crate::config::Registry;
use crate::journal::JournalWriter;
use crate::model::event::{Command, CoreEvent, Inbound};
use crate::model::ids::VenueId;
use crate::model::reason::Reason;
use crate::model::request::ExecutionRequest;
use crate::sidecar::{Fsync, Sidecar, SidecarConfig, SidecarReport};
use crate::venue::fix::venue::FixVenue;
use crate::venue::paper::PaperVenue;
use crate::venue::recorded::RecordedVenue;
use crate::venue::{AnyVenue, VenueEvent};
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Commands drained from one ring per duty cycle, so no producer starves the others.
const BATCH: usize = 256;
/// Events held per producer when its ring is full, before the core allocates more.
const BACKLOG: usize = 4096;
/// Real time a venue session gets to close cleanly (FIX logout handshake) at shutdown.
const CLOSE_GRACE: Duration = Duration::from_secs(3);
/// Simulated time the core may run ahead at shutdown to let in-flight orders finish.
const SIM_DRAIN_NS: u64 = 120_000_000_000;

/// How to run the core thread.
pub struct CoreOptions {
    /// Idle strategy.
    pub idle: IdleKind,
    /// CPU to pin to.
    pub pin_core: Option<usize>,
    /// Time source.
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
    /// Per-stage latency.
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
}

/// A producer's end: sends commands, receives events.
pub struct Handle {
    tx: rtrb::Producer<Inbound>,
    rx: rtrb::Consumer<CoreEvent>,
    clock: quanta::Clock,
}

// A full ring hands the command back by value: boxing it would allocate per request.
#[allow(clippy::result_large_err)]
impl Handle {
    /// Sends a command now; gives it back if the ring is full.
    #[inline]
    pub fn send(&mut self, cmd: Command) -> Result<(), Command> {
        self.send_at(0, cmd)
    }

    /// Sends a command at event time `at_ns` (simulated clocks); 0 = now.
    #[inline]
    pub fn send_at(&mut self, at_ns: u64, cmd: Command) -> Result<(), Command> {
        let msg = Inbound {
            at_ns,
            stamp: self.clock.raw(),
            cmd,
        };
        self.tx.push(msg).map_err(|rtrb::PushError::Full(m)| m.cmd)
    }

    /// Submits an execution request now.
    pub fn submit(&mut self, req: ExecutionRequest) -> Result<(), Command> {
        self.send(Command::Submit(req))
    }

    /// Sends, waiting (with backoff) up to `timeout` for room in the ring.
    pub fn send_wait(
        &mut self,
        at_ns: u64,
        mut cmd: Command,
        timeout: Duration,
    ) -> Result<(), Command> {
        let deadline = Instant::now() + timeout;
        let mut idle = Idle::new(IdleKind::Backoff);
        loop {
            match self.send_at(at_ns, cmd) {
                Ok(()) => return Ok(()),
                Err(c) if Instant::now() >= deadline => return Err(c),
                Err(c) => {
                    cmd = c;
                    idle.idle(false);
                }
            }
        }
    }

    /// The next event, if one is waiting.
    #[inline]
    pub fn try_event(&mut self) -> Option<CoreEvent> {
        self.rx.pop().ok()
    }

    /// The next event, waiting (with backoff) up to `timeout`.
    pub fn next_event(&mut self, timeout: Duration) -> Option<CoreEvent> {
        let deadline = Instant::now() + timeout;
        let mut idle = Idle::new(IdleKind::Backoff);
        loop {
            if let Ok(e) = self.rx.pop() {
                return Some(e);
            }
            if Instant::now() >= deadline {
                return None;
            }
            idle.idle(false);
        }
    }

    /// The first event matching `f` within `timeout`; others are passed to `skip`.
    pub fn wait_for(
        &mut self,
        timeout: Duration,
        mut f: impl FnMut(&CoreEvent) -> bool,
        mut skip: impl FnMut(CoreEvent),
    ) -> Option<CoreEvent> {
        let deadline = Instant::now() + timeout;
        while let Some(e) = self.next_event(deadline.saturating_duration_since(Instant::now())) {
            if f(&e) {
                return Some(e);
            }
            skip(e);
        }
        None
    }

    /// The raw clock this handle stamps with.
    pub fn clock(&self) -> &quanta::Clock {
        &self.clock
    }
}

/// Routes events to producer rings; holds them when a ring is full so nothing is lost
/// and the core never blocks.
struct Rings {
    tx: Vec<rtrb::Producer<CoreEvent>>,
    backlog: Vec<VecDeque<CoreEvent>>,
    emitted: u64,
    // Every event is journaled as it is emitted, stamped with the engine's time.
    journal: Option<JournalWriter>,
    now: u64,
    record: [u8; MAX_EVENT],
    journal_errors: u64,
}

impl Rings {
    fn flush(&mut self) {
        for (tx, q) in self.tx.iter_mut().zip(self.backlog.iter_mut()) {
            while let Some(&e) = q.front() {
                if tx.push(e).is_err() {
                    break;
                }
                q.pop_front();
            }
        }
    }

    fn congested(&self, origin: usize) -> bool {
        self.backlog[origin].len() >= BACKLOG / 2
    }
}

impl Rings {
    #[inline]
    fn journal_event(&mut self, origin: u8, ev: &CoreEvent) {
        if let Some(j) = self.journal.as_mut() {
            if let Some(n) = records::encode_event(origin, ev, &mut self.record) {
                // The command behind it is journaled already, so the state survives a
                // failure here; the event record is what a cross-check would miss.
                if j.append(KIND_EVENT, 1, self.now, &self.record[..n])
                    .is_err()
                {
                    self.journal_errors += 1;
                }
            }
        }
    }

    #[inline]
    fn deliver(&mut self, origin: u8, ev: CoreEvent) {
        self.emitted += 1;
        let o = origin as usize;
        if o >= self.tx.len() {
            return;
        }
        if self.backlog[o].is_empty() {
            if let Err(rtrb::PushError::Full(e)) = self.tx[o].push(ev) {
                self.backlog[o].push_back(e);
            }
        } else {
            self.backlog[o].push_back(ev);
        }
    }
}

impl Outbox for Rings {
    #[inline]
    fn emit(&mut self, origin: u8, ev: CoreEvent) {
        self.journal_event(origin, &ev);
        self.deliver(origin, ev);
    }

    fn broadcast(&mut self, ev: CoreEvent) {
        self.journal_event(records::BROADCAST, &ev);
        for o in 0..self.tx.len() {
            self.deliver(o as u8, ev);
        }
    }

    #[inline]
    fn time(&mut self, now: u64) {
        self.now = now;
    }

    fn venue_input(&mut self, venue: u16, ev: &VenueEvent) {
        if let Some(j) = self.journal.as_mut() {
            let n = records::encode_venue_input(venue, ev, &mut self.record);
            // Refused (a full disk): the event is still applied, and a restart asks the
            // venue for it again from the last input the journal holds.
            if j.append(KIND_VENUE, 1, self.now, &self.record[..n])
                .is_err()
            {
                self.journal_errors += 1;
            }
        }
    }
}

/// The running core thread.
pub struct CoreThread {
    stop: Arc<AtomicBool>,
    join: Option<JoinHandle<CoreReport>>,
    recovered: Option<Recovered>,
}

impl CoreThread {
    /// Asks the core to stop: it drains its rings, lets in-flight orders finish (within
    /// the grace period) and hands back its final state.
    pub fn shutdown(mut self) -> CoreReport {
        self.stop.store(true, Ordering::Release);
        let j = self.join.take().expect("joined once");
        j.thread().unpark();
        match j.join() {
            Ok(r) => r,
            Err(p) => std::panic::resume_unwind(p),
        }
    }

    /// A flag that stops the core when set (for signal handlers).
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        self.stop.clone()
    }

    /// What start-up recovered from the journal, if it was given one.
    pub fn recovered(&self) -> Option<Recovered> {
        self.recovered
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
            j.thread().unpark();
            let _ = j.join();
        }
    }
}

/// Builds the venues the registry configures: network venues as their journaled inputs
/// (what replay needs); [`go_live`] puts the live sessions in place.
pub fn build_venues(reg: &Registry, start_ns: u64) -> Vec<AnyVenue> {
    reg.venues
        .iter()
        .map(|v| {
            if v.fix.is_some() {
                AnyVenue::Recorded(RecordedVenue::new())
            } else {
                AnyVenue::Paper(Box::new(PaperVenue::new(
                    reg,
                    VenueId(v.id.0),
                    reg.core.max_orders,
                    start_ns,
                )))
            }
        })
        .collect()
}

/// Replaces each network venue's recorded stand-in with its live session, restored from
/// its store under `journal` (`<journal>/fix/<venue>`) and from what the engine applied.
pub fn go_live(
    engine: &mut Engine,
    reg: &Arc<Registry>,
    journal: Option<&std::path::Path>,
    now: u64,
) -> std::io::Result<()> {
    for v in reg.venues.iter().filter(|v| v.fix.is_some()) {
        let i = v.id.0 as usize;
        let (applied, was_up) = match engine.venue(i).recorded() {
            Some(r) => (r.last_seq(), r.logged_on()),
            None => (0, false),
        };
        let dir = journal.map(|j| j.join("fix").join(v.name.as_str()));
        let mut live = FixVenue::new(reg.clone(), v.id, dir.as_deref(), applied, was_up, now)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        // Orders an earlier process sent: a cancel or amend names their symbol, side and
        // quantity again, which only the rebuilt book still knows.
        for o in engine.book().iter() {
            if o.terms().venue == v.id && !o.state().is_terminal() {
                live.remember(&venue_order(o));
            }
        }
        engine.replace_venue(i, AnyVenue::Fix(Box::new(live)));
    }
    Ok(())
}

/// Starts the core thread with `producers` handles. With a journal directory in `opts`,
/// the engine is first rebuilt from whatever the journal holds.
pub fn spawn(
    reg: Arc<Registry>,
    opts: CoreOptions,
    producers: usize,
) -> std::io::Result<(CoreThread, Vec<Handle>)> {
    let start = opts.clock.now_ns();
    match opts.journal.clone() {
        None => {
            let venues = build_venues(&reg, start);
            let mut engine = Engine::new(reg.clone(), venues, opts.epoch, start);
            go_live(&mut engine, &reg, None, start)?;
            start_thread(engine, None, None, Vec::new(), opts, producers)
        }
        Some(dir) => {
            let (writer, engine, rec, unrecorded) = recovery::open(
                &dir,
                reg.clone(),
                opts.epoch,
                start,
                (reg.config.journal.segment_kb as usize) << 10,
            )
            .map_err(|e| std::io::Error::other(format!("{}: {e}", dir.display())))?;
            let mut engine = engine;
            let now = engine.now().max(start);
            go_live(&mut engine, &reg, Some(&dir), now)?;
            start_thread(engine, Some(writer), Some(rec), unrecorded, opts, producers)
        }
    }
}

/// Starts the core thread around an engine built by the caller.
pub fn spawn_engine(
    engine: Engine,
    opts: CoreOptions,
    producers: usize,
) -> std::io::Result<(CoreThread, Vec<Handle>)> {
    start_thread(engine, None, None, Vec::new(), opts, producers)
}

fn start_thread(
    engine: Engine,
    journal: Option<JournalWriter>,
    recovered: Option<Recovered>,
    unrecorded: Vec<CoreEvent>,
    opts: CoreOptions,
    producers: usize,
) -> std::io::Result<(CoreThread, Vec<Handle>)> {
    let cap = engine.registry().core.ring_capacity;
    let producers = producers.clamp(1, 255);
    let clock = quanta::Clock::new();
    let mut handles = Vec::new();
    let mut inbound = Vec::new();
    let mut outbound = Vec::new();
    for _ in 0..producers {
        let (tx, rx) = rtrb::RingBuffer::<Inbound>::new(cap);
        let (etx, erx) = rtrb::RingBuffer::<CoreEvent>::new(cap);
        inbound.push(rx);
        outbound.push(etx);
        handles.push(Handle {
            tx,
            rx: erx,
            clock: clock.clone(),
        });
    }
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let join = std::thread::Builder::new()
        .name("execd-core".into())
        .spawn(move || {
            let rings = Rings {
                tx: outbound,
                backlog: (0..producers)
                    .map(|_| VecDeque::with_capacity(BACKLOG))
                    .collect(),
                emitted: 0,
                journal: None,
                now: 0,
                record: [0; MAX_EVENT],
                journal_errors: 0,
            };
            // The sidecar drains the journal into the audit log beside it.
            let jc = engine.registry().config.journal.clone();
            let sidecar = journal.as_ref().and_then(|j| {
                let cfg = SidecarConfig {
                    journal: j.dir().to_path_buf(),
                    audit: j.dir().join("audit"),
                    fsync: Fsync::EveryMs(jc.fsync_ms),
                    max_file_bytes: jc.audit_file_mb << 20,
                    retain_segments: jc.retain_segments,
                };
                match Sidecar::spawn(cfg) {
                    Ok(s) => Some(s),
                    Err(e) => {
                        eprintln!("execd: the audit sidecar did not start: {e}");
                        None
                    }
                }
            });
            let mut report = run(
                engine, journal, unrecorded, opts, inbound, rings, clock, flag,
            );
            report.recovered = recovered;
            report.audit = sidecar.and_then(|s| match s.stop() {
                Ok(r) => Some(r),
                Err(e) => {
                    eprintln!("execd: the audit sidecar failed: {e}");
                    None
                }
            });
            report
        })?;
    Ok((
        CoreThread {
            stop,
            join: Some(join),
            recovered,
        },
        handles,
    ))
}

fn pin(core: Option<usize>) -> bool {
    let Some(want) = core else { return false };
    let ids = core_affinity::get_core_ids().unwrap_or_default();
    match ids.into_iter().find(|c| c.id == want) {
        Some(id) if core_affinity::set_for_current(id) => true,
        _ => {
            // Containers and small boxes often refuse: say so once, run unpinned.
            eprintln!("execd: could not pin the core thread to CPU {want}; running unpinned");
            false
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn run(
    mut engine: Engine,
    journal: Option<JournalWriter>,
    unrecorded: Vec<CoreEvent>,
    opts: CoreOptions,
    mut inbound: Vec<rtrb::Consumer<Inbound>>,
    mut rings: Rings,
    tsc: quanta::Clock,
    stop: Arc<AtomicBool>,
) -> CoreReport {
    let pinned = pin(opts.pin_core);
    rings.journal = journal;
    // Events recovery derived that the crash kept from the journal (and so from every
    // producer): record them now and tell everyone.
    rings.time(engine.now());
    for ev in unrecorded {
        rings.broadcast(ev);
    }
    let mut idle = Idle::new(opts.idle);
    let mut latency = Latency::new();
    let mut cycles = 0u64;
    let mut stopping_since: Option<Instant> = None;
    let mut sim_limit = u64::MAX;
    let mut record = [0u8; MAX_COMMAND];
    let mut closing = false;
    loop {
        cycles += 1;
        let before = rings.emitted;
        let mut work = false;
        let now = opts.clock.now_ns();
        if !opts.simulated {
            work |= engine.pump_venues(now.max(engine.now()));
        }
        if now > engine.now() {
            engine.advance_to(now, &mut rings);
        }
        for (h, ring) in inbound.iter_mut().enumerate() {
            for _ in 0..BATCH {
                // Backpressure: stop reading a producer that does not read its events.
                if rings.congested(h) {
                    break;
                }
                let Ok(msg) = ring.pop() else { break };
                work = true;
                let dequeued = tsc.raw();
                let advanced = msg.at_ns > engine.now();
                if advanced {
                    engine.advance_to(msg.at_ns, &mut rings);
                }
                rings.time(engine.now());
                // Journal first: a command the journal cannot record is not carried out.
                if let Some(j) = rings.journal.as_mut() {
                    if let Some(n) = records::encode_command(h as u8, &msg.cmd, &mut record) {
                        if j.append(KIND_COMMAND, 1, engine.now(), &record[..n])
                            .is_err()
                        {
                            rings.emit(
                                h as u8,
                                CoreEvent::CommandRejected {
                                    order: None,
                                    reason: Reason::JournalFailed,
                                },
                            );
                            continue;
                        }
                    }
                }
                let t0 = tsc.raw();
                let mut probe = TscProbe::new(&tsc, t0);
                engine.command(h as u8, &msg.cmd, &mut rings, &mut probe);
                if matches!(msg.cmd, Command::Submit(_)) {
                    let t1 = tsc.raw();
                    latency.record(Stage::Ring, tsc.delta_as_nanos(msg.stamp, dequeued));
                    if advanced {
                        latency.record(Stage::Events, tsc.delta_as_nanos(dequeued, t0));
                    }
                    probe.record(&mut latency, t1);
                }
            }
        }
        rings.flush();
        work |= rings.emitted != before;
        if stop.load(Ordering::Acquire) {
            let drained = inbound.iter().all(|r| r.is_empty());
            if drained {
                let since = *stopping_since.get_or_insert_with(Instant::now);
                if opts.simulated && sim_limit == u64::MAX {
                    sim_limit = engine.now().saturating_add(SIM_DRAIN_NS);
                }
                if !engine.in_flight() || (!opts.simulated && since.elapsed() >= opts.grace) {
                    // Say goodbye to network venues (FIX logout) before stopping.
                    if !closing {
                        closing = true;
                        engine.close_venues(engine.now().max(now));
                    }
                    if engine.venues_closed() || since.elapsed() >= opts.grace + CLOSE_GRACE {
                        break;
                    }
                    idle.idle(work);
                    continue;
                }
                if opts.simulated {
                    match engine.next_due() {
                        Some(t) if t <= sim_limit => {
                            engine.advance_to(t, &mut rings);
                            continue;
                        }
                        _ => break,
                    }
                }
                if since.elapsed() >= opts.grace {
                    break;
                }
            }
        }
        idle.idle(work);
    }
    rings.flush();
    let in_flight_at_exit = engine.in_flight();
    let journal_next_seq = rings.journal.as_mut().map(|j| {
        // Mark how far the engine got, so a restart does not deliver these events again,
        // and leave the journal on disk, not only in the page cache.
        let _ = j.append(records::KIND_TIME, 1, engine.now(), &[]);
        let _ = j.sync();
        j.next_seq()
    });
    CoreReport {
        engine,
        latency,
        cycles,
        undelivered: rings.backlog.iter().map(|q| q.len() as u64).sum(),
        pinned,
        in_flight_at_exit,
        recovered: None,
        journal_next_seq,
        audit: None,
    }
}
