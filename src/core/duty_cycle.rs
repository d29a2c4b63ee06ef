//! The core thread's loop around the engine. Each cycle, in order:
//!
//! 1. network venues do their I/O (real time only): [`DutyCycle::pump_venues`];
//! 2. the engine moves to the clock's time, delivering venue answers and timers due:
//!    [`DutyCycle::deliver_due`];
//! 3. up to [`BATCH`] commands from each producer ring are journaled and carried out at
//!    their event times: [`DutyCycle::drain_commands`];
//! 4. events held for full rings go out: [`Rings::flush`];
//! 5. once asked to stop: drain, let in-flight orders finish, close venue sessions:
//!    [`DutyCycle::wind_down`];
//! 6. the idle strategy, when nothing happened; backoff's last phase sleeps in
//!    `epoll_wait` on the venues' sockets and the producers' doorbell until one of them
//!    or the next timer: [`DutyCycle::rest`].
//!
//! Nothing here blocks but that idle wait, and in steady state nothing allocates.

use super::clock::Clock;
use super::engine::{Engine, Outbox};
use super::idle::Idle;
use super::latency::{Latency, Stage, TscProbe};
use super::metrics::CoreMetrics;
use super::rings::Rings;
use super::thread::{CoreOptions, CoreReport};
use super::wait::IdleWait;
use crate::model::event::{Command, CoreEvent, Inbound};
use crate::model::ids::OrderId;
use crate::model::reason::Reason;
use crate::model::reconcile::ReconTrigger;
use crate::sidecar::{AuditHealth, AuditState};
use crate::venue::Venue as _;
use std::io::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Commands drained from one ring per duty cycle, so no producer starves the others.
pub(crate) const BATCH: usize = 256;
/// Real time a venue session gets to close cleanly (FIX logout handshake) at shutdown.
const CLOSE_GRACE: Duration = Duration::from_secs(3);
/// Simulated time the core may run ahead at shutdown to let in-flight orders finish.
const SIM_DRAIN_NS: u64 = 120_000_000_000;
/// How often the engine's counters, venue states and journal position are copied into
/// the published metrics: often enough for a scrape or an alert, rare enough to cost
/// nothing measurable.
const PUBLISH_EVERY_NS: u64 = 10_000_000;

/// What to do after a cycle.
enum Next {
    /// Idle if the cycle did no work, then cycle again.
    Idle,
    /// Cycle again at once.
    Again,
    /// Leave the loop.
    Stop,
}

/// How far shutdown has got.
#[derive(Default)]
struct WindDown {
    since: Option<Instant>,
    sim_limit: Option<u64>,
    closing: bool,
}

pub(crate) struct DutyCycle {
    engine: Engine,
    rings: Rings,
    inbound: Vec<rtrb::Consumer<Inbound>>,
    clock: Box<dyn Clock>,
    simulated: bool,
    grace: Duration,
    // Raw TSC for latency stamps, shared with the producers' handles.
    tsc: quanta::Clock,
    latency: Latency,
    idle: Idle,
    wait: IdleWait,
    cycles: u64,
    wind_down: WindDown,
    // The audit sidecar's health, when the core journals: read once per cycle.
    audit: Option<AuditHealth>,
    metrics: Arc<CoreMetrics>,
    // Raw TSC of the last publication; 0: never.
    published_at: u64,
}

impl DutyCycle {
    pub(crate) fn new(
        engine: Engine,
        mut rings: Rings,
        inbound: Vec<rtrb::Consumer<Inbound>>,
        opts: CoreOptions,
        tsc: quanta::Clock,
        metrics: Arc<CoreMetrics>,
        mut wait: IdleWait,
    ) -> DutyCycle {
        // Sized now: the first idle wait may come mid-session (after `core.idle_yield_us` of quiet),
        // and it must not allocate on the core thread then.
        wait.size_for(engine.venues().len());
        metrics.baseline(engine.stats());
        let mut latency = Latency::new();
        latency.publish_to(metrics.clone());
        if !opts.simulated {
            rings.time_fills(tsc.clone());
        }
        DutyCycle {
            engine,
            rings,
            inbound,
            clock: opts.clock,
            simulated: opts.simulated,
            grace: opts.grace,
            tsc,
            latency,
            idle: Idle::core(opts.idle, opts.idle_yield),
            wait,
            cycles: 0,
            wind_down: WindDown::default(),
            audit: None,
            metrics,
            published_at: 0,
        }
    }

    /// Copies what the engine counts into the published metrics, at most every
    /// [`PUBLISH_EVERY_NS`] unless `now`: plain stores of what the core owns.
    fn publish(&mut self, now: bool) {
        let t = self.tsc.raw();
        if !now
            && self.published_at != 0
            && self.tsc.delta_as_nanos(self.published_at, t) < PUBLISH_EVERY_NS
        {
            return;
        }
        self.published_at = t.max(1);
        let m = &self.metrics;
        m.publish_stats(self.engine.stats());
        let mut conflated = 0u64;
        for v in 0..self.engine.registry().venues.len() {
            let (up, breaker) = self.engine.venue_health(v);
            m.publish_venue(v, up, breaker);
            let venue = self.engine.venue(v);
            conflated = conflated.wrapping_add(crate::venue::Venue::quotes_conflated(venue));
        }
        m.publish_quotes_conflated(conflated);
        if let Some(written) = self.rings.journal_last_seq() {
            let copied = self.audit.as_ref().map_or(0, |h| h.copied_seq());
            m.publish_journal(written, copied);
        }
    }

    /// Watches the audit sidecar: when it fails, new orders are refused (AUDIT_FAILED).
    pub(crate) fn watch_audit(&mut self, health: AuditHealth) {
        self.audit = Some(health);
    }

    /// Turns the sidecar's health into the gate's state, journaled first, so a replay
    /// refuses exactly the orders the live core refused. A core that recovered a failure
    /// clears it once its own sidecar works.
    fn check_audit(&mut self) {
        let Some(h) = &self.audit else { return };
        let failed = match h.state() {
            AuditState::Starting => return,
            AuditState::Working => false,
            AuditState::Failed => true,
        };
        if failed == self.engine.gate().audit_failed() {
            return;
        }
        let why = h.failure().unwrap_or_default();
        self.rings.time(self.engine.now());
        if !self.rings.record_audit(failed) {
            return; // the journal refused it: the gate stays, and this is tried again
        }
        self.engine.set_audit_failed(failed);
        let msg = if failed {
            format!("execd: the audit log failed: {why}; new orders are refused (AUDIT_FAILED) until execd restarts with a working audit log")
        } else {
            "execd: the audit log works: new orders are accepted again".to_string()
        };
        let _ = writeln!(std::io::stderr(), "{msg}");
    }

    /// Events recovery derived that a crash kept from the journal, and so from every
    /// producer: recorded now and told to everyone.
    pub(crate) fn announce(&mut self, unrecorded: Vec<CoreEvent>) {
        self.rings.time(self.engine.now());
        for ev in unrecorded {
            self.rings.broadcast(ev);
        }
    }

    /// Before the first order: every venue is reconciled (R-AUD-4), through a journaled
    /// command of the core's own (producer 0's slot; it answers with broadcasts), so a
    /// replay asks at the same moment. After a restart on a journal (`restarted`) each
    /// venue also takes no new order until that reconciliation found nothing in flight
    /// (R-RES-4).
    pub(crate) fn reconcile_at_start(&mut self, restarted: bool) {
        let names: Vec<_> = self
            .engine
            .registry()
            .venues
            .iter()
            .map(|v| v.name)
            .collect();
        for venue in names {
            let msg = Inbound {
                at_ns: 0,
                stamp: self.tsc.raw(),
                cmd: Command::Reconcile {
                    venue,
                    trigger: ReconTrigger::Start,
                    hold: restarted,
                },
            };
            self.carry_out(0, &msg);
        }
        self.rings.flush();
    }

    /// Cycles until `stopping` says so and shutdown has finished.
    pub(crate) fn run(&mut self, stopping: impl Fn() -> bool) {
        loop {
            self.cycles += 1;
            let before = self.rings.emitted;
            let now = self.clock.now_ns();
            self.check_audit();
            let mut work = self.pump_venues(now);
            self.deliver_due(now);
            work |= self.drain_commands();
            self.rings.flush();
            work |= self.rings.emitted != before;
            self.publish(false);
            let next = if stopping() {
                self.wind_down(now)
            } else {
                Next::Idle
            };
            match next {
                Next::Idle => {
                    if let Some(park_ns) = self.idle.step(work) {
                        self.rest(park_ns);
                    }
                }
                Next::Again => {}
                Next::Stop => break,
            }
        }
        self.rings.flush();
    }

    /// Backoff's last phase: sleeps until a venue's socket has something, a producer
    /// rings, or the engine's next timer is due (at most [`super::idle::MAX_PARK_NS`]).
    /// Only ever reached when a cycle found nothing to do: the hot path makes no system
    /// call here.
    fn rest(&mut self, park_ns: u64) {
        let simulated = self.simulated;
        // Simulated time moves with commands only: nothing is due by the wall clock,
        // and no venue does I/O.
        let timer_in = if simulated {
            None
        } else {
            self.wait.watch(self.engine.venues());
            let now = self.clock.now_ns();
            self.engine.next_due().map(|t| t.saturating_sub(now))
        };
        // A producer that does not read its events is not announced when it does.
        let blind = self.rings.undelivered() > 0;
        let (inbound, rings, engine) = (&self.inbound, &self.rings, &self.engine);
        let waiting = || {
            inbound
                .iter()
                .enumerate()
                .any(|(h, r)| !r.is_empty() && !rings.congested(h))
                || (!simulated && engine.venues().iter().any(|v| v.input_waiting()))
        };
        self.wait
            .sleep(park_ns, timer_in, blind, waiting, self.metrics.idle_cells());
    }

    /// The state the core stopped in; `pinned`, `recovered` and `audit` are the
    /// thread's to fill in.
    pub(crate) fn finish(mut self) -> CoreReport {
        self.publish(true);
        let in_flight_at_exit = self.engine.in_flight();
        let journal_next_seq = self.rings.close_journal(self.engine.now());
        if let Some((h, read)) = self.rings.take_fill_latency() {
            self.latency.set_submit_to_fill(h, read);
        }
        CoreReport {
            undelivered: self.rings.undelivered(),
            engine: self.engine,
            latency: self.latency,
            cycles: self.cycles,
            pinned: false,
            in_flight_at_exit,
            recovered: None,
            journal_next_seq,
            audit: None,
            audit_failure: self.audit.as_ref().and_then(|h| h.failure()),
            idle: self.wait.counts(),
            journal_refused: self.rings.journal_refused().clone(),
        }
    }

    /// Network I/O of every venue (a simulated clock has no network); whether anything
    /// happened.
    fn pump_venues(&mut self, now: u64) -> bool {
        !self.simulated && self.engine.pump_venues(now.max(self.engine.now()))
    }

    /// Venue answers and timers due by the clock's time.
    fn deliver_due(&mut self, now: u64) {
        if now > self.engine.now() {
            self.engine.advance_to(now, &mut self.rings);
        }
    }

    /// Up to [`BATCH`] commands from each producer; whether there were any.
    fn drain_commands(&mut self) -> bool {
        let mut work = false;
        // Out of `self` while commands are carried out, so that each is read where it
        // lies in its ring: a pop made three copies of the ≈ 350-byte command.
        let mut inbound = std::mem::take(&mut self.inbound);
        for (h, ring) in inbound.iter_mut().enumerate() {
            for _ in 0..BATCH {
                // Backpressure: stop reading a producer that does not read its events.
                if self.rings.congested(h) {
                    break;
                }
                let Ok(chunk) = ring.read_chunk(1) else {
                    break;
                };
                work = true;
                self.carry_out(h as u8, &chunk.as_slices().0[0]);
                chunk.commit_all();
            }
        }
        self.inbound = inbound;
        work
    }

    /// One command from producer `origin`: at its event time, journaled first (a command
    /// the journal cannot record is not carried out), its latency measured by stage.
    fn carry_out(&mut self, origin: u8, msg: &Inbound) {
        let dequeued = self.tsc.raw();
        let advanced = msg.at_ns > self.engine.now();
        if advanced {
            self.engine.advance_to(msg.at_ns, &mut self.rings);
        }
        self.rings.time(self.engine.now());
        if !self.rings.record_command(origin, &msg.cmd) {
            // A submit is answered by its request id, as every submit is: the producer
            // (an HTTP client, a FIX client's desk) waits for that, not for a command.
            let refused = match &msg.cmd {
                Command::Submit(r) => CoreEvent::Rejected {
                    request_id: r.request_id,
                    order: OrderId(0),
                    reason: Reason::JournalFailed,
                },
                _ => CoreEvent::CommandRejected {
                    order: None,
                    reason: Reason::JournalFailed,
                },
            };
            self.rings.refuse_unjournaled(origin, refused);
            return;
        }
        let t0 = self.tsc.raw();
        let mut probe = TscProbe::new(&self.tsc, t0);
        let submit = matches!(msg.cmd, Command::Submit(_));
        if submit {
            self.rings.submit_stamp = msg.stamp.max(1);
        }
        self.engine
            .command(origin, &msg.cmd, &mut self.rings, &mut probe);
        self.rings.submit_stamp = 0;
        if submit {
            let t1 = self.tsc.raw();
            let tsc = &self.tsc;
            self.latency
                .record(Stage::Ring, tsc.delta_as_nanos(msg.stamp, dequeued));
            if advanced {
                self.latency
                    .record(Stage::Events, tsc.delta_as_nanos(dequeued, t0));
            }
            probe.record(&mut self.latency, t1);
        }
    }

    /// Shutdown, once every ring is drained: let orders waiting for a venue finish
    /// (within the grace period in real time; by jumping to each next due event in
    /// simulated time), then close the venue sessions cleanly (FIX logout).
    fn wind_down(&mut self, now: u64) -> Next {
        let rings = &self.rings;
        if self
            .inbound
            .iter()
            .enumerate()
            .any(|(h, r)| !r.is_empty() && !rings.congested(h))
        {
            return Next::Idle;
        }
        let since = *self.wind_down.since.get_or_insert_with(Instant::now);
        // Commands left only in rings whose producer stopped reading its events (its
        // commands are not taken until it does): waited for through the grace period,
        // not forever — such a producer may be gone, and the core would never stop.
        // Those commands were never carried out or journaled, so nothing acknowledged is
        // lost.
        if self.inbound.iter().any(|r| !r.is_empty()) && since.elapsed() < self.grace {
            return Next::Idle;
        }
        let sim_limit = if self.simulated {
            *self
                .wind_down
                .sim_limit
                .get_or_insert(self.engine.now().saturating_add(SIM_DRAIN_NS))
        } else {
            u64::MAX
        };
        let grace_over = since.elapsed() >= self.grace;
        if !self.engine.in_flight() || (!self.simulated && grace_over) {
            if !self.wind_down.closing {
                self.wind_down.closing = true;
                self.engine.close_venues(self.engine.now().max(now));
            }
            if self.engine.venues_closed() || since.elapsed() >= self.grace + CLOSE_GRACE {
                return Next::Stop;
            }
            return Next::Idle;
        }
        if self.simulated {
            return match self.engine.next_due() {
                Some(t) if t <= sim_limit => {
                    self.engine.advance_to(t, &mut self.rings);
                    Next::Again
                }
                _ => Next::Stop,
            };
        }
        if grace_over {
            Next::Stop
        } else {
            Next::Idle
        }
    }
}
