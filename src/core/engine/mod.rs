//! The engine: all mutable trading state and the logic that moves it. Single-threaded,
//! deterministic — its state is a function of the commands and venue events it is fed
//! and of the times they carry — so the core thread, tests and replay share it.
//!
//! One file per concern: `orders` (the request path, the state machine's effects,
//! cancels and replaces), `answers` (what venues say), `fills` (executions into orders,
//! accounts and positions), `protection` (SL/TP after fills), `operator` (kill switches,
//! modes, halts, quotes), `reads` (pages of state for operators), `reconfigure` (a new
//! configuration at a restart).

mod answers;
mod balances;
mod delivery;
mod fills;
mod operator;
mod orders;
mod protection;
mod reads;
mod reconcile;
mod reconfigure;
mod status;

use super::due_queue::DueQueue;
use super::latency::Probe;
use crate::config::Registry;
use crate::gate::{Exposure, Gate};
use crate::model::event::{Command, CoreEvent, OrderRef};
use crate::model::fixed::{Money, Qty};
use crate::model::ids::{AccountId, InstrumentId, OrderId};
use crate::model::order_state::OrderState;
use crate::model::reason::Reason;
use crate::oms::{AccountState, Ledger, Order, OrderBook, Position};
use crate::venue::{AnyVenue, Venue, VenueEvent, VenueEventKind, VenueOrder};
pub use balances::Holding;
use std::sync::Arc;

/// Where the engine's events go. The core thread routes them to rings; tests collect them.
pub trait Outbox {
    /// An event for the producer `origin`.
    fn emit(&mut self, origin: u8, ev: CoreEvent);
    /// An event for every producer.
    fn broadcast(&mut self, ev: CoreEvent);
    /// Engine time moved on: events emitted from now on happened at `now`.
    #[inline]
    fn time(&mut self, _now: u64) {}
    /// An input from an external venue, about to be applied: journal it, since replay
    /// cannot derive it (R-AUD-1).
    #[inline]
    fn venue_input(&mut self, _venue: u16, _ev: &VenueEvent) {}
    /// The events about to be delivered came from a socket read stamped `raw` (a raw TSC
    /// stamp, `Venue::read_stamp`): for the latency of the answers, never for state.
    #[inline]
    fn venue_read(&mut self, _raw: u64) {}
}

impl Outbox for Vec<CoreEvent> {
    fn emit(&mut self, _origin: u8, ev: CoreEvent) {
        self.push(ev);
    }
    fn broadcast(&mut self, ev: CoreEvent) {
        self.push(ev);
    }
}

/// Counters the engine keeps (R-OPS-2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EngineStats {
    /// Submit commands seen.
    pub submitted: u64,
    /// Sent to a venue.
    pub accepted: u64,
    /// Refused by the gate, or because the order store was full.
    pub rejected: u64,
    /// Request ids seen before (answered with the first order's status).
    pub duplicates: u64,
    /// Fills applied.
    pub fills: u64,
    /// Fills ignored as resent exec ids.
    pub duplicate_execs: u64,
    /// Resends put off because the venue's Retry-After or order budget would have
    /// refused them.
    pub retries_deferred: u64,
    /// A fill's assets not counted: its `Fill` was not the one just booked (resent,
    /// refused, or unknown).
    pub duplicate_fill_assets: u64,
    /// Fills refused because they would overfill.
    pub overfills: u64,
    /// Events that did not fit the state machine.
    pub anomalies: u64,
    /// Hard timeouts.
    pub timeouts: u64,
    /// Fills after a timeout or a terminal state.
    pub late_fills: u64,
    /// Protective orders placed.
    pub protective_orders: u64,
    /// Fills whose slippage withheld protection.
    pub slippage_breaches: u64,
    /// Venue events for orders not held.
    pub unknown_order_events: u64,
    /// Fills only a venue's status answer told (booked, flagged for reconciliation).
    pub recovered_fills: u64,
    /// Resends scheduled for new orders the venue never saw (R-RES-1).
    pub retries: u64,
    /// Orders that became dead letters (R-RES-3).
    pub dead_letters: u64,
    /// Undelivered orders finished as rejected because the dead-letter queue was full.
    pub dead_letters_refused: u64,
}

/// All mutable trading state, moved only by [`Engine::command`] and
/// [`Engine::advance_to`].
pub struct Engine {
    reg: Arc<Registry>,
    gate: Gate,
    book: OrderBook,
    ledger: Ledger,
    venues: Vec<AnyVenue>,
    // Hard timeouts as (due, order id), a lane per venue (each a fixed time from when
    // it was set, so in order already), and resends as (due, order id | RESEND), soonest
    // first.
    timers: DueQueue<(u64, u64)>,
    // When the last timer fired: see `venue_due`.
    timer_fired_at: u64,
    // Orders the venue never saw: retrying, or dead letters (`delivery`).
    undelivered: Vec<delivery::Undelivered>,
    reconcile: Vec<OrderId>,
    recon: reconcile::Reconciler,
    stats: EngineStats,
    now: u64,
    // Orders waiting for a venue answer.
    pending: u64,
    epoch: u32,
    next_order: u64,
    // Reused buffers, so steady state does not allocate.
    vbuf: Vec<VenueEvent>,
    scratch: Vec<OrderId>,
}

impl Exposure for Ledger {
    fn open_orders(&self, a: AccountId) -> u32 {
        self.account(a).open_orders
    }
    fn position(&self, a: AccountId, i: InstrumentId) -> (Qty, Qty, Qty) {
        let p = Ledger::position(self, a, i);
        (p.net, p.open_buy, p.open_sell)
    }
    fn margin_available(&self, a: AccountId) -> Money {
        self.account(a).margin_available()
    }
}

impl Engine {
    /// An engine over `venues` (indexed by venue id), starting at `now` with client order
    /// ids under `epoch`.
    pub fn new(reg: Arc<Registry>, venues: Vec<AnyVenue>, epoch: u32, now: u64) -> Engine {
        let cap = reg.core.max_orders;
        Engine {
            gate: Gate::new(&reg),
            book: OrderBook::with_capacity(cap, reg.core.max_request_ids),
            ledger: Ledger::new(reg.accounts.iter().map(|a| a.cash), reg.instruments.len()),
            venues,
            // A lane holds the timeouts of one timeout's span (finished orders' too),
            // and grows past this if a flow needs it; the heap's room is only reserved
            // (touched as it fills), for every timeout at once after a shortened one.
            timers: DueQueue::new(
                &vec![cap.min(1 << 16); reg.venues.len()],
                cap + delivery::MAX_UNDELIVERED + reg.venues.len(),
            ),
            timer_fired_at: 0,
            undelivered: Vec::with_capacity(delivery::MAX_UNDELIVERED),
            reconcile: Vec::with_capacity(1024),
            recon: reconcile::Reconciler::new(reg.venues.len()),
            stats: EngineStats::default(),
            now,
            pending: 0,
            epoch,
            next_order: 1,
            vbuf: Vec::with_capacity(4096),
            scratch: Vec::with_capacity(1024),
            reg,
        }
    }

    /// The checked configuration it runs on.
    pub fn registry(&self) -> &Registry {
        &self.reg
    }

    /// Engine time (Unix ns).
    pub fn now(&self) -> u64 {
        self.now
    }

    /// Pre-trade gate state: kill switches, modes, halts, quotes, throttles, breakers.
    pub fn gate(&self) -> &Gate {
        &self.gate
    }

    /// The audit log failed (or works again): new orders are refused with
    /// `AUDIT_FAILED` until it is cleared. Journaled by the caller before it is called.
    pub fn set_audit_failed(&mut self, failed: bool) {
        self.gate.audit_failed = failed;
    }

    /// Orders held (working ones and the most recent finished ones).
    pub fn book(&self) -> &OrderBook {
        &self.book
    }

    /// Counters.
    pub fn stats(&self) -> &EngineStats {
        &self.stats
    }

    /// Orders waiting for reconciliation with their venue (R-OMS-4, R-AUD-4): timed out,
    /// or an event that did not fit; a report of their venue removes the finished ones.
    pub fn reconcile(&self) -> &[OrderId] {
        &self.reconcile
    }

    /// An account's money and order count.
    pub fn account(&self, a: AccountId) -> &AccountState {
        self.ledger.account(a)
    }

    /// Position of an account in an instrument.
    pub fn position(&self, a: AccountId, i: InstrumentId) -> &Position {
        self.ledger.position(a, i)
    }

    /// Every venue, by id.
    pub(crate) fn venues(&self) -> &[AnyVenue] {
        &self.venues
    }

    /// Venue `i` (by venue id).
    pub fn venue(&self, i: usize) -> &AnyVenue {
        &self.venues[i]
    }

    /// Queues `ev` at venue `vi` if it is a recorded stand-in (as recovery feeds a
    /// journaled input); `advance_to` applies it. Not an API: for benchmarks of what the
    /// core does with a venue input (benches/hot_path.rs).
    #[doc(hidden)]
    pub fn feed_recorded(&mut self, vi: usize, ev: crate::venue::VenueEvent) -> bool {
        match self.venues.get_mut(vi).and_then(|v| v.recorded_mut()) {
            Some(r) => {
                r.push(ev);
                true
            }
            None => false,
        }
    }

    /// Venue `i`, to hand a recorded stand-in its journaled inputs.
    pub(crate) fn venue_mut(&mut self, i: usize) -> &mut AnyVenue {
        &mut self.venues[i]
    }

    /// Puts `venue` in place of venue `i` (a live session after a replay).
    pub(crate) fn replace_venue(&mut self, i: usize, venue: AnyVenue) {
        self.venues[i] = venue;
    }

    /// Network I/O of every venue, once per duty cycle; whether anything happened.
    pub(crate) fn pump_venues(&mut self, now: u64) -> bool {
        let mut work = false;
        for v in &mut self.venues {
            work |= v.pump(now);
        }
        work
    }

    /// Begins a clean stop of every venue session.
    pub(crate) fn close_venues(&mut self, now: u64) {
        for v in &mut self.venues {
            v.close(now);
        }
    }

    /// Whether every venue session has finished closing.
    pub(crate) fn venues_closed(&self) -> bool {
        self.venues.iter().all(|v| v.closed())
    }

    /// Whether any order still waits for a venue answer.
    pub fn in_flight(&self) -> bool {
        // Dead letters wait for an operator, not for a venue.
        self.pending > self.dead_count()
    }

    /// Queues every order still waiting for a venue answer for reconciliation (after a
    /// restart); returns how many.
    pub(crate) fn queue_in_flight_for_reconciliation(&mut self) -> u64 {
        let mut n = 0;
        let ids: Vec<OrderId> = self
            .book
            .iter()
            .filter(|o| awaiting(o.state()) && !self.is_undelivered(o.id()))
            .map(|o| o.id())
            .collect();
        for id in ids {
            if !self.reconcile.contains(&id) {
                self.reconcile.push(id);
            }
            n += 1;
        }
        n
    }

    /// When the next timer or venue event is due.
    pub(crate) fn next_due(&self) -> Option<u64> {
        let t = self.timers.peek().map(|&(due, _)| due);
        let v = (0..self.venues.len())
            .filter_map(|vi| self.venue_due(vi))
            .min();
        match (t, v) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Moves engine time to `t`, delivering every venue event and timer due on the way,
    /// in time order. Time never goes backwards.
    pub fn advance_to(&mut self, t: u64, out: &mut impl Outbox) {
        while self.step_to(t, out) {}
        self.now = self.now.max(t);
        out.time(self.now);
    }

    /// Delivers the first thing due by `t`: one timer, or every venue event due at the
    /// earliest instant (venue events first at a tie); whether there was one. Replay
    /// goes step by step, so that a venue answer the live core received between two
    /// timers of the same instant comes between them again.
    pub(crate) fn step_to(&mut self, t: u64, out: &mut impl Outbox) -> bool {
        let timer = self.timers.peek().map_or(u64::MAX, |&(due, _)| due);
        let venue = (0..self.venues.len())
            .filter_map(|vi| self.venue_due(vi))
            .min()
            .unwrap_or(u64::MAX);
        let next = timer.min(venue);
        if next > t {
            return false;
        }
        self.now = self.now.max(next);
        out.time(self.now);
        if venue <= timer {
            // At the last timer's instant, not a network venue's input held back behind
            // it (`venue_due`).
            let held = next <= self.timer_fired_at;
            for vi in 0..self.venues.len() {
                if held && self.venue_due(vi).is_none_or(|due| due > next) {
                    continue;
                }
                self.deliver_venue_events(vi, next, out);
            }
        } else {
            let Some((_, order)) = self.timers.pop() else {
                return false;
            };
            self.timer_fired_at = next;
            if order >= reconcile::SCHEDULE_TIMER {
                self.on_schedule_timer(order, out);
            } else if order & delivery::RESEND != 0 {
                self.resend(OrderId(order & !delivery::RESEND), out);
            } else {
                self.on_timer(OrderId(order), out);
            }
        }
        true
    }

    /// When venue `vi`'s next event is due. Timers journal nothing, and replay delivers
    /// a venue's input before a timer of the same instant (the live order when the input
    /// was there first). A network venue's input stamped at or before a timer that
    /// already fired came in after it (an answer the timer's own request got at once, or
    /// a clock read in the same nanosecond): it is due, and stamped, just after that
    /// timer, live and before it is journaled, so that replay, which reads it with that
    /// stamp, delivers it where it came, after every timer of that instant. Left as it
    /// was, the journal would not replay, and a restart on it would be refused.
    fn venue_due(&self, vi: usize) -> Option<u64> {
        let v = &self.venues[vi];
        let at = v.next_event_at()?;
        Some(if at <= self.timer_fired_at && v.is_external() {
            self.timer_fired_at + 1
        } else {
            at
        })
    }

    /// Hands every event venue `vi` has due at `at` to the engine, in order.
    fn deliver_venue_events(&mut self, vi: usize, at: u64, out: &mut impl Outbox) {
        let mut buf = std::mem::take(&mut self.vbuf);
        buf.clear();
        self.venues[vi].poll(at, &mut buf);
        let external = !buf.is_empty() && self.venues[vi].is_external();
        if !buf.is_empty() {
            out.venue_read(if external {
                self.venues[vi].read_stamp()
            } else {
                0
            });
        }
        for ev in &mut buf {
            // See `venue_due`.
            if external && ev.at_ns <= self.timer_fired_at {
                ev.at_ns = self.timer_fired_at + 1;
            }
            self.now = self.now.max(ev.at_ns);
            out.time(self.now);
            if external {
                out.venue_input(vi as u16, ev);
            }
            if let VenueEventKind::Session { up } = ev.kind {
                out.broadcast(CoreEvent::VenueSession {
                    venue: self.reg.venues[vi].name,
                    up,
                });
            }
            self.on_venue_event(vi, ev.kind, out);
        }
        // Only an answer about orders can settle what a restart waits for: quotes do not
        // cost the scan.
        let about_orders = buf
            .iter()
            .any(|e| !matches!(e.kind, VenueEventKind::Quote { .. }));
        self.vbuf = buf;
        if about_orders {
            self.maybe_resume(crate::model::ids::VenueId(vi as u16), out);
        }
    }

    /// Carries out one command from producer `origin`.
    pub fn command(
        &mut self,
        origin: u8,
        cmd: &Command,
        out: &mut impl Outbox,
        probe: &mut impl Probe,
    ) {
        match cmd {
            Command::Submit(req) => self.submit(origin, req, out, probe),
            Command::Cancel(r) => match self.find(r) {
                Some(id) => self.cancel(id, origin, out),
                None => out.emit(origin, rejected_cmd(None, Reason::UnknownOrder)),
            },
            Command::Replace {
                order,
                quantity,
                limit_price,
            } => self.replace(origin, order, *quantity, *limit_price, out),
            Command::CancelAll(scope) => {
                self.cancel_scope(scope, origin, out);
            }
            Command::ModifyProtection {
                order,
                stop_loss,
                take_profit,
            } => self.modify_protection(origin, order, *stop_loss, *take_profit, out),
            Command::SetKillSwitch {
                scope,
                state,
                cancel_open,
            } => self.set_kill_switch(origin, scope, *state, *cancel_open, out),
            Command::SetMode { account, mode } => self.set_mode(origin, account, *mode, out),
            Command::SetHalted { account, halted } => {
                self.set_halted(origin, account, *halted, out)
            }
            Command::Quote {
                venue,
                symbol,
                bid,
                ask,
                bid_size,
                ask_size,
            } => self.quote(
                origin,
                venue,
                symbol,
                [*bid, *ask, *bid_size, *ask_size],
                out,
            ),
            Command::Query(r) => match self.find(r).and_then(|id| self.book.get(id)) {
                Some(o) => {
                    out.emit(origin, CoreEvent::Order(o.status()));
                    out.emit(
                        origin,
                        CoreEvent::OrderInstrument {
                            order: o.id(),
                            instrument: o.terms().instrument,
                        },
                    );
                }
                None => out.emit(origin, rejected_cmd(None, Reason::UnknownOrder)),
            },
            Command::Read { what, from, limit } => self.read(origin, what, *from, *limit, out),
            Command::SetLimits(c) => self.set_limits(origin, c, out),
            Command::Reconcile {
                venue,
                trigger,
                hold,
            } => self.reconcile_command(origin, venue, *trigger, *hold, out),
            Command::ResolveReconciliation(r) => self.resolve_reconciliation(origin, r, out),
            // The journal holds it beside the action it explains; nothing to apply.
            Command::Operator(_) | Command::Tick => {}
            Command::Sync(token) => out.emit(origin, CoreEvent::Synced(*token)),
            Command::DeadLetter { order, redrive } => {
                self.resolve_dead_letter(origin, *order, *redrive, out)
            }
        }
    }

    /// The next order id whose slot in the book is free.
    fn alloc_id(&mut self) -> Option<OrderId> {
        let id = self.book.free_id(self.next_order)?;
        self.next_order = id.0 + 1;
        Some(id)
    }

    fn find(&self, r: &OrderRef) -> Option<OrderId> {
        match r {
            OrderRef::Id(id) => self.book.get(*id).map(|o| o.id()),
            OrderRef::Request(req) => self.book.by_request(req),
        }
    }
}

/// The order as its venue knows it, at its current version and terms.
pub(crate) fn venue_order(o: &Order) -> VenueOrder {
    let t = o.terms();
    VenueOrder {
        cl: o.cl_ord_id(),
        account: t.account,
        instrument: t.instrument,
        side: t.side,
        order_type: t.order_type,
        tif: t.tif,
        qty: t.qty,
        limit: t.limit,
        stop: t.stop,
        reduce_only: o.is_protective(),
    }
}

/// States in which an order waits for the venue to answer.
fn awaiting(s: OrderState) -> bool {
    matches!(
        s,
        OrderState::PendingNew
            | OrderState::PendingCancel
            | OrderState::PendingReplace
            | OrderState::TimedOut
    )
}

fn rejected_cmd(order: Option<OrderId>, reason: Reason) -> CoreEvent {
    CoreEvent::CommandRejected { order, reason }
}
