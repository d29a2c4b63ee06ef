//! The engine: all mutable trading state and the logic that moves it. Single-threaded,
//! deterministic — its state is a function of the commands and venue events it is fed
//! and of the times they carry — so the core thread, tests and replay share it.

use super::latency::{Probe, Stage};
use crate::config::Registry;
use crate::gate::{self, Checked, Exposure, Gate};
use crate::model::control::KillState;
use crate::model::event::{Command, CoreEvent, OrderRef, Scope};
use crate::model::fixed::{clamp_i64, div_round, Dec, Money, Price, Qty};
use crate::model::ids::{
    AccountId, ClOrdId, InstrumentId, OrderId, OrderType, RequestId, Side, Tif,
};
use crate::model::order_state::{OmsEvent, OrderState};
use crate::model::quote::Quote;
use crate::model::reason::Reason;
use crate::model::request::ExecutionRequest;
use crate::model::request::Level;
use crate::model::slippage::slippage;
use crate::oms::order::{FillResult, Order};
use crate::oms::{AccountState, OrderBook, Position};
use crate::venue::{AnyVenue, Venue, VenueEvent, VenueEventKind, VenueOrder};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
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
    /// Refused (gate or store).
    pub rejected: u64,
    /// Same request id seen again.
    pub duplicates: u64,
    /// Fills applied.
    pub fills: u64,
    /// Fills ignored as resent exec ids.
    pub duplicate_execs: u64,
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
}

/// The engine.
pub struct Engine {
    reg: Arc<Registry>,
    /// Pre-trade gate state.
    pub gate: Gate,
    /// Orders.
    pub book: OrderBook,
    /// Account money and counts.
    pub accounts: Vec<AccountState>,
    positions: Vec<Position>,
    venues: Vec<AnyVenue>,
    timers: BinaryHeap<Reverse<(u64, u64)>>,
    /// Orders waiting for reconciliation with their venue (R-OMS-4, R-AUD-4).
    pub reconcile: Vec<OrderId>,
    /// Counters.
    pub stats: EngineStats,
    now: u64,
    pending: u64,
    epoch: u32,
    next_order: u64,
    vbuf: Vec<VenueEvent>,
    scratch: Vec<OrderId>,
}

/// The view of exposure the gate reads.
struct View<'a> {
    accounts: &'a [AccountState],
    positions: &'a [Position],
    n_inst: usize,
}

impl Exposure for View<'_> {
    fn open_orders(&self, a: AccountId) -> u32 {
        self.accounts[a.0 as usize].open_orders
    }
    fn position(&self, a: AccountId, i: InstrumentId) -> (Qty, Qty, Qty) {
        let p = &self.positions[a.0 as usize * self.n_inst + i.0 as usize];
        (p.net, p.open_buy, p.open_sell)
    }
    fn margin_available(&self, a: AccountId) -> Money {
        self.accounts[a.0 as usize].margin_available()
    }
}

impl Engine {
    /// An engine over `venues` (indexed by venue id), starting at `now` with client order
    /// ids under `epoch`.
    pub fn new(reg: Arc<Registry>, venues: Vec<AnyVenue>, epoch: u32, now: u64) -> Engine {
        let cap = reg.core.max_orders;
        let n = reg.accounts.len() * reg.instruments.len();
        Engine {
            gate: Gate::new(&reg),
            book: OrderBook::with_capacity(cap),
            accounts: reg
                .accounts
                .iter()
                .map(|a| AccountState {
                    cash: a.cash,
                    ..Default::default()
                })
                .collect(),
            positions: vec![Position::default(); n],
            venues,
            timers: BinaryHeap::with_capacity(cap),
            reconcile: Vec::with_capacity(1024),
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

    /// The registry.
    pub fn registry(&self) -> &Registry {
        &self.reg
    }

    /// Engine time (Unix ns).
    pub fn now(&self) -> u64 {
        self.now
    }

    /// Position of an account in an instrument.
    pub fn position(&self, a: AccountId, i: InstrumentId) -> &Position {
        &self.positions[a.0 as usize * self.reg.instruments.len() + i.0 as usize]
    }

    /// Venue `i` (by venue id).
    pub fn venue(&self, i: usize) -> &AnyVenue {
        &self.venues[i]
    }

    /// Venue `i`, to hand a recorded stand-in its journaled inputs.
    pub fn venue_mut(&mut self, i: usize) -> &mut AnyVenue {
        &mut self.venues[i]
    }

    /// Puts `venue` in place of venue `i` (a live session after a replay).
    pub fn replace_venue(&mut self, i: usize, venue: AnyVenue) {
        self.venues[i] = venue;
    }

    /// Network I/O of every venue, once per duty cycle; whether anything happened.
    pub fn pump_venues(&mut self, now: u64) -> bool {
        let mut work = false;
        for v in &mut self.venues {
            work |= v.pump(now);
        }
        work
    }

    /// Begins a clean stop of every venue session.
    pub fn close_venues(&mut self, now: u64) {
        for v in &mut self.venues {
            v.close(now);
        }
    }

    /// Whether every venue session has finished closing.
    pub fn venues_closed(&self) -> bool {
        self.venues.iter().all(|v| v.closed())
    }

    /// Whether any order still waits for a venue answer.
    pub fn in_flight(&self) -> bool {
        self.pending > 0
    }

    /// Queues every order still waiting for a venue answer for reconciliation (after a
    /// restart); returns how many.
    pub fn queue_in_flight_for_reconciliation(&mut self) -> u64 {
        let mut n = 0;
        let ids: Vec<OrderId> = self
            .book
            .iter()
            .filter(|o| awaiting(o.state))
            .map(|o| o.id)
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
    pub fn next_due(&self) -> Option<u64> {
        let t = self.timers.peek().map(|r| r.0 .0);
        let v = self.venues.iter().filter_map(|v| v.next_event_at()).min();
        match (t, v) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Moves engine time to `t`, delivering every venue event and timer due on the way,
    /// in time order. Time never goes backwards.
    pub fn advance_to(&mut self, t: u64, out: &mut impl Outbox) {
        loop {
            let timer = self.timers.peek().map(|r| r.0 .0).unwrap_or(u64::MAX);
            let venue = self
                .venues
                .iter()
                .filter_map(|v| v.next_event_at())
                .min()
                .unwrap_or(u64::MAX);
            let next = timer.min(venue);
            if next > t {
                break;
            }
            self.now = self.now.max(next);
            out.time(self.now);
            if venue <= timer {
                for vi in 0..self.venues.len() {
                    let mut buf = std::mem::take(&mut self.vbuf);
                    buf.clear();
                    self.venues[vi].poll(next, &mut buf);
                    let external = !buf.is_empty() && self.venues[vi].is_external();
                    for ev in &buf {
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
                        self.on_venue_event(ev.kind, out);
                    }
                    self.vbuf = buf;
                }
            } else {
                let Some(Reverse((_, order))) = self.timers.pop() else {
                    break;
                };
                self.on_timer(OrderId(order), out);
            }
        }
        self.now = self.now.max(t);
        out.time(self.now);
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
            Command::SetMode { account, mode } => match self.reg.account(account) {
                Some(a) => {
                    self.gate.modes[a.0 as usize] = *mode;
                    out.broadcast(CoreEvent::ModeChanged {
                        account: *account,
                        mode: *mode,
                    });
                }
                None => out.emit(origin, rejected_cmd(None, Reason::UnknownAccount)),
            },
            Command::SetHalted { account, halted } => match self.reg.account(account) {
                Some(a) => {
                    self.gate.halted[a.0 as usize] = *halted;
                    out.broadcast(CoreEvent::HaltChanged {
                        account: *account,
                        halted: *halted,
                    });
                }
                None => out.emit(origin, rejected_cmd(None, Reason::UnknownAccount)),
            },
            Command::Quote {
                venue,
                symbol,
                bid,
                ask,
                bid_size,
                ask_size,
            } => {
                let Some(v) = self.reg.venue(venue) else {
                    return out.emit(origin, rejected_cmd(None, Reason::UnknownVenue));
                };
                let Some(i) = self.reg.instrument(v, symbol) else {
                    return out.emit(origin, rejected_cmd(None, Reason::UnknownInstrument));
                };
                let inst = &self.reg.instruments[i.0 as usize];
                let px = |d: &Dec| {
                    Price(clamp_i64(crate::model::fixed::rescale(
                        d.mant as i128,
                        d.scale as i32,
                        inst.price_scale as i32,
                    )))
                };
                let qty = |d: &Dec| {
                    Qty(clamp_i64(crate::model::fixed::rescale(
                        d.mant as i128,
                        d.scale as i32,
                        inst.qty_scale as i32,
                    )))
                };
                self.gate.quotes[i.0 as usize] = Quote {
                    bid: px(bid),
                    ask: px(ask),
                    bid_size: qty(bid_size),
                    ask_size: qty(ask_size),
                    at_ns: self.now,
                };
            }
            Command::Query(r) => match self.find(r).and_then(|id| self.book.get(id)) {
                Some(o) => out.emit(origin, CoreEvent::Order(o.status())),
                None => out.emit(origin, rejected_cmd(None, Reason::UnknownOrder)),
            },
            Command::Tick => {}
            Command::Sync(token) => out.emit(origin, CoreEvent::Synced(*token)),
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
            OrderRef::Id(id) => self.book.get(*id).map(|o| o.id),
            OrderRef::Request(req) => self.book.by_request(req),
        }
    }

    fn pos_index(&self, a: AccountId, i: InstrumentId) -> usize {
        a.0 as usize * self.reg.instruments.len() + i.0 as usize
    }

    /// The hot path: request → gate → order → venue.
    fn submit(
        &mut self,
        origin: u8,
        req: &ExecutionRequest,
        out: &mut impl Outbox,
        probe: &mut impl Probe,
    ) {
        self.stats.submitted += 1;
        if let Some(first) = self.book.by_request(&req.request_id) {
            self.stats.duplicates += 1;
            let state = self
                .book
                .get(first)
                .map(|o| o.state)
                .unwrap_or(OrderState::Rejected);
            out.emit(
                origin,
                CoreEvent::Duplicate {
                    request_id: req.request_id,
                    order: first,
                    state,
                },
            );
            return;
        }
        let content_hash = req.content_hash();
        let Some(id) = self.alloc_id() else {
            self.stats.rejected += 1;
            return out.emit(
                origin,
                CoreEvent::Rejected {
                    request_id: req.request_id,
                    order: OrderId(0),
                    reason: Reason::StoreFull,
                },
            );
        };
        let view = View {
            accounts: &self.accounts,
            positions: &self.positions,
            n_inst: self.reg.instruments.len(),
        };
        let logged_on = self
            .reg
            .venue(&req.venue)
            .is_some_and(|v| self.venues[v.0 as usize].is_logged_on());
        let verdict = self.gate.check(&self.reg, req, self.now, &view, logged_on);
        probe.mark(Stage::Gate);
        let checked = match verdict {
            Ok(c) => c,
            Err(reason) => return self.reject(origin, id, req, content_hash, reason, out),
        };
        let mut o = Order::new(
            id,
            self.epoch,
            req.request_id,
            origin,
            checked.account,
            checked.venue,
            checked.instrument,
            req.side,
            req.order_type,
            req.tif,
            checked.qty,
            self.now,
        );
        o.content_hash = content_hash;
        o.limit = checked.limit;
        o.stop = checked.stop;
        o.reference = checked.reference;
        o.stop_loss = checked.stop_loss;
        o.take_profit = checked.take_profit;
        o.max_slippage_bps = req.max_slippage_bps;
        o.reject_on_fill_slippage = req.reject_on_fill_slippage;
        o.warning = checked.warning;
        o.margin = checked.margin;
        self.send_new(o, Some(checked), out, probe);
    }

    fn reject(
        &mut self,
        origin: u8,
        id: OrderId,
        req: &ExecutionRequest,
        hash: u64,
        reason: Reason,
        out: &mut impl Outbox,
    ) {
        self.stats.rejected += 1;
        // Keep the refusal so a resend of the same request id gets this answer (R-IN-3).
        let (account, venue, inst) = gate::resolve(&self.reg, req)
            .map(|(a, v, i)| (a, v, i.id))
            .unwrap_or_default();
        let mut o = Order::new(
            id,
            self.epoch,
            req.request_id,
            origin,
            account,
            venue,
            inst,
            req.side,
            req.order_type,
            req.tif,
            Qty(0),
            self.now,
        );
        o.content_hash = hash;
        o.reason = Some(reason);
        let _ = o.apply(OmsEvent::GateReject);
        if !req.request_id.is_empty() {
            if let Some(stored) = self.book.insert(o) {
                let sid = stored.id;
                self.book.finished(sid);
            }
        }
        out.emit(
            origin,
            CoreEvent::Rejected {
                request_id: req.request_id,
                order: id,
                reason,
            },
        );
    }

    /// Stores an order that passed the gate (or a protective order) and sends it.
    fn send_new(
        &mut self,
        mut o: Order,
        checked: Option<Checked>,
        out: &mut impl Outbox,
        probe: &mut impl Probe,
    ) {
        let venue_order = VenueOrder::of(&o);
        let effects = o.apply(OmsEvent::Sent).unwrap_or_default();
        let (id, origin, venue) = (o.id, o.origin, o.venue);
        let timeout = self.reg.venues[venue.0 as usize].timeout_ns;
        let Some(stored) = self.book.insert(o) else {
            // Only protective orders get here without a room check; nothing was sent.
            return out.emit(origin, rejected_cmd(Some(id), Reason::StoreFull));
        };
        self.pending += 1;
        let (acct, inst, side, qty, margin, protective) = (
            stored.account,
            stored.instrument,
            stored.side,
            stored.qty,
            stored.margin,
            stored.parent.is_some(),
        );
        let request_id = stored.request_id;
        let (content_hash, warning) = (stored.content_hash, stored.warning);
        let a = &mut self.accounts[acct.0 as usize];
        a.open_orders += 1;
        a.order_margin = a.order_margin + margin;
        if !protective {
            let pi = self.pos_index(acct, inst);
            let p = &mut self.positions[pi];
            match side {
                Side::Buy => p.open_buy = p.open_buy + qty,
                Side::Sell => p.open_sell = p.open_sell + qty,
            }
        }
        if effects.arm_timeout {
            self.timers.push(Reverse((self.now + timeout, id.0)));
        }
        probe.mark(Stage::Oms);
        self.gate.on_send(venue, self.now);
        let sent = self.venues[venue.0 as usize].submit(self.now, &venue_order);
        probe.mark(Stage::Venue);
        if checked.is_some() {
            self.stats.accepted += 1;
            out.emit(
                origin,
                CoreEvent::Accepted {
                    request_id,
                    order: id,
                    cl_ord_id: venue_order.cl,
                    content_hash,
                    warning,
                },
            );
        }
        if sent.is_err() {
            // The venue never saw it: a transport failure, not a venue decision.
            self.gate.breakers[venue.0 as usize].on_failure(self.now);
            self.venue_reject(id, Reason::VenueTransport, out);
        }
    }

    fn on_timer(&mut self, id: OrderId, out: &mut impl Outbox) {
        let Some(o) = self.book.get(id) else { return };
        if o.state != OrderState::PendingNew {
            // A cancel or replace in flight on an order the venue never answered: look
            // again later, the refusal may put it back to PendingNew.
            if !o.acked && !o.state.is_terminal() && o.state != OrderState::TimedOut {
                let t = self.now + self.reg.venues[o.venue.0 as usize].timeout_ns;
                self.timers.push(Reverse((t, id.0)));
            }
            return;
        }
        self.stats.timeouts += 1;
        let venue = o.venue;
        self.gate.breakers[venue.0 as usize].on_failure(self.now);
        self.apply(id, OmsEvent::Timeout, out);
    }

    /// Queues an order for reconciliation and asks its venue where it stands.
    fn queue_reconcile(&mut self, id: OrderId) {
        if self.reconcile.len() < self.reconcile.capacity() && !self.reconcile.contains(&id) {
            self.reconcile.push(id);
        }
        if let Some(o) = self.book.get(id) {
            let v = o.venue.0 as usize;
            self.venues[v].query(self.now, &VenueOrder::of(o));
        }
    }

    /// Feeds the state machine and carries out its effects.
    fn apply(&mut self, id: OrderId, ev: OmsEvent, out: &mut impl Outbox) {
        let Some(o) = self.book.get_mut(id) else {
            return;
        };
        let before = o.state;
        match o.apply(ev) {
            Ok(effects) => {
                let after = o.state;
                self.pending = self.pending + awaiting(after) as u64 - awaiting(before) as u64;
                let origin = o.origin;
                if effects.send_cancel {
                    let version = o.next_version();
                    let (cl, orig, venue) = (o.cl_at(version), o.cl_ord_id(), o.venue);
                    let _ = self.venues[venue.0 as usize].cancel(self.now, cl, orig);
                }
                if effects.reconcile {
                    self.queue_reconcile(id);
                }
                if !before.is_terminal() && after.is_terminal() {
                    self.release(id);
                }
                if let Some(o) = self.book.get(id) {
                    out.emit(origin, CoreEvent::Order(o.status()));
                }
                if after.is_terminal() {
                    self.protect(id, out);
                    self.book.finished(id);
                }
            }
            Err(a) => {
                self.stats.anomalies += 1;

                let origin = o.origin;
                out.emit(
                    origin,
                    CoreEvent::Anomaly {
                        order: id,
                        state: a.state,
                        event: a.event,
                    },
                );
            }
        }
    }

    /// An order left the working set: free its count, margin and open quantity.
    fn release(&mut self, id: OrderId) {
        let Some(o) = self.book.get_mut(id) else {
            return;
        };
        let leaves = Qty(o.qty.0 - o.cum_qty.0);
        let margin = std::mem::take(&mut o.margin);
        let (acct, inst, side, protective) = (o.account, o.instrument, o.side, o.parent.is_some());
        let a = &mut self.accounts[acct.0 as usize];
        a.open_orders = a.open_orders.saturating_sub(1);
        a.order_margin = a.order_margin - margin;
        if !protective {
            let pi = self.pos_index(acct, inst);
            let p = &mut self.positions[pi];
            match side {
                Side::Buy => p.open_buy = Qty((p.open_buy.0 - leaves.0).max(0)),
                Side::Sell => p.open_sell = Qty((p.open_sell.0 - leaves.0).max(0)),
            }
        }
    }

    fn venue_reject(&mut self, id: OrderId, reason: Reason, out: &mut impl Outbox) {
        if let Some(o) = self.book.get_mut(id) {
            o.reason = Some(reason);
        }
        self.apply(id, OmsEvent::VenueReject, out);
    }

    fn order_for(&mut self, cl: ClOrdId) -> Option<OrderId> {
        match self.book.get(cl.order) {
            Some(o) if o.epoch == cl.epoch => Some(o.id),
            _ => {
                self.stats.unknown_order_events += 1;
                None
            }
        }
    }

    fn on_venue_event(&mut self, kind: VenueEventKind, out: &mut impl Outbox) {
        match kind {
            VenueEventKind::Quote { instrument, quote } => {
                self.gate.quotes[instrument.0 as usize] = quote;
            }
            // The venue's own view changed with this event; the gate asks it directly.
            VenueEventKind::Session { .. } => {}
            VenueEventKind::Ack { cl, venue_order_id } => {
                let Some(id) = self.order_for(cl) else { return };
                if let Some(o) = self.book.get_mut(id) {
                    o.venue_order_id = venue_order_id;
                    o.acked = true;
                    if o.state == OrderState::TimedOut {
                        o.late = true;
                    }
                    let v = o.venue;
                    self.gate.breakers[v.0 as usize].on_success();
                }
                self.apply(id, OmsEvent::Ack, out);
            }
            VenueEventKind::Rejected { cl, reason } => {
                let Some(id) = self.order_for(cl) else { return };
                self.venue_reject(id, reason, out);
            }
            VenueEventKind::Fill {
                cl,
                exec_id,
                px,
                qty,
                fee,
            } => {
                let Some(id) = self.order_for(cl) else { return };
                self.on_fill(id, exec_id, px, qty, fee, out);
            }
            VenueEventKind::Canceled { cl } => {
                let Some(id) = self.order_for(cl) else { return };
                self.apply(id, OmsEvent::Canceled, out);
            }
            VenueEventKind::CancelRejected { cl, reason } => {
                let Some(id) = self.order_for(cl) else { return };
                let Some(o) = self.book.get(id) else { return };
                // "Too late to cancel" after a fill is the normal race, not a surprise.
                if o.state.is_terminal() {
                    return;
                }
                let origin = o.origin;
                out.emit(origin, rejected_cmd(Some(id), reason));
                self.apply(id, OmsEvent::CancelRejected, out);
            }
            VenueEventKind::Replaced { cl, qty, limit } => {
                let Some(id) = self.order_for(cl) else { return };
                let Some(o) = self.book.get_mut(id) else {
                    return;
                };
                let racing_cancel =
                    o.state == OrderState::PendingCancel && o.pending_replace.is_some();
                if o.state != OrderState::PendingReplace && !racing_cancel {
                    return self.apply(id, OmsEvent::Replaced, out);
                }
                let delta = qty.0 - o.qty.0;
                o.qty = qty;
                if o.order_type.has_limit() {
                    o.limit = limit;
                } else if o.order_type.has_stop() {
                    o.stop = limit;
                }
                o.version = cl.version;
                o.pending_replace = None;
                let (acct, inst, side, protective) =
                    (o.account, o.instrument, o.side, o.parent.is_some());
                if !protective {
                    let pi = self.pos_index(acct, inst);
                    let p = &mut self.positions[pi];
                    match side {
                        Side::Buy => p.open_buy.0 += delta,
                        Side::Sell => p.open_sell.0 += delta,
                    }
                }
                self.apply(id, OmsEvent::Replaced, out);
            }
            VenueEventKind::ReplaceRejected { cl, reason } => {
                let Some(id) = self.order_for(cl) else { return };
                let Some(o) = self.book.get_mut(id) else {
                    return;
                };
                if o.state.is_terminal() {
                    return;
                }
                o.pending_replace = None;
                let origin = o.origin;
                out.emit(origin, rejected_cmd(Some(id), reason));
                self.apply(id, OmsEvent::ReplaceRejected, out);
            }
            VenueEventKind::Expired { cl } => {
                let Some(id) = self.order_for(cl) else { return };
                self.apply(id, OmsEvent::Expired, out);
            }
        }
    }

    fn on_fill(
        &mut self,
        id: OrderId,
        exec_id: u64,
        px: Price,
        qty: Qty,
        fee: Money,
        out: &mut impl Outbox,
    ) {
        let Some(o) = self.book.get(id) else { return };
        let state_before = o.state;
        // Only orders with more fills than they remember inline consult the overflow set.
        let seen = o.inline_execs_full() && self.book.overflow_seen(id, exec_id);
        let mut spill = false;
        let Some(o) = self.book.get_mut(id) else {
            return;
        };
        let cum_before = o.cum_qty;
        let result = o.record_fill(exec_id, px, qty, fee, |_| seen, |_| spill = true);
        if spill {
            self.book.overflow_remember(id, exec_id);
        }
        let ev = match result {
            FillResult::Duplicate => {
                self.stats.duplicate_execs += 1;
                return;
            }
            FillResult::Overfill => {
                self.stats.overfills += 1;
                self.stats.anomalies += 1;
                let origin = self.book.get(id).map(|o| o.origin).unwrap_or(0);
                return out.emit(
                    origin,
                    CoreEvent::Anomaly {
                        order: id,
                        state: state_before,
                        event: OmsEvent::FinalFill,
                    },
                );
            }
            FillResult::Applied(ev) => ev,
        };
        self.stats.fills += 1;
        let Some(o) = self.book.get_mut(id) else {
            return;
        };
        let late = o.state == OrderState::TimedOut || o.state.is_terminal();
        if late {
            o.late = true;
            self.stats.late_fills += 1;
        }
        let (acct, inst_id, side, origin, reference, protective) = (
            o.account,
            o.instrument,
            o.side,
            o.origin,
            o.reference,
            o.parent.is_some(),
        );
        // Release the margin reserved for the filled part.
        let open_before = o.qty.0 - cum_before.0;
        let released = if open_before > 0 {
            Money(clamp_i64(div_round(
                o.margin.0 as i128 * qty.0 as i128,
                open_before as i128,
            )))
        } else {
            Money(0)
        };
        o.margin = o.margin - released;
        let was_terminal = o.state.is_terminal();
        let inst = &self.reg.instruments[inst_id.0 as usize];
        let pi = acct.0 as usize * self.reg.instruments.len() + inst_id.0 as usize;
        let p = &mut self.positions[pi];
        let margin_before = p.margin(inst);
        let net_before = p.net;
        let realised = p.apply_fill(inst, side, px, qty, fee);
        let net_after = p.net;
        let margin_after = p.margin(inst);
        if !protective && !was_terminal {
            match side {
                Side::Buy => p.open_buy = Qty((p.open_buy.0 - qty.0).max(0)),
                Side::Sell => p.open_sell = Qty((p.open_sell.0 - qty.0).max(0)),
            }
        }
        let a = &mut self.accounts[acct.0 as usize];
        a.realised = a.realised + realised;
        a.fees = a.fees + fee;
        if !was_terminal {
            a.order_margin = a.order_margin - released;
        }
        a.position_margin = a.position_margin + margin_after - margin_before;
        let slip = (reference.0 > 0).then(|| slippage(side, reference, px, inst.pip));
        if net_after.0 == 0 || net_after.0.signum() == -net_before.0.signum() {
            self.trim_protection(pi, out);
        }
        out.emit(
            origin,
            CoreEvent::Fill {
                order: id,
                instrument: inst_id,
                exec_id,
                px,
                qty,
                fee,
                slippage: slip,
                late,
            },
        );
        if was_terminal {
            // A fill racing a cancel: the execution is real and is booked, the state stays
            // terminal, and the order is flagged for reconciliation.
            self.stats.anomalies += 1;
            out.emit(
                origin,
                CoreEvent::Anomaly {
                    order: id,
                    state: state_before,
                    event: ev,
                },
            );
            self.queue_reconcile(id);
            self.protect(id, out);
            return;
        }
        self.apply(id, ev, out);
        // One-cancels-other, emulated: a filled protective leg cancels its partner.
        if ev == OmsEvent::FinalFill {
            if let Some(partner) = self.book.get(id).and_then(|o| o.oco) {
                let live = self
                    .book
                    .get(partner)
                    .map(|p| !p.state.is_terminal() && p.state != OrderState::PendingCancel);
                if live == Some(true) {
                    self.cancel(partner, origin, out);
                }
            }
        }
    }

    /// Places stop-loss / take-profit for filled quantity not yet protected (R-OMS-5).
    fn protect(&mut self, id: OrderId, out: &mut impl Outbox) {
        let Some(o) = self.book.get_mut(id) else {
            return;
        };
        let unprotected = Qty(o.cum_qty.0 - o.protected_qty.0);
        if o.parent.is_some()
            || unprotected.0 <= 0
            || (o.stop_loss.is_none() && o.take_profit.is_none())
        {
            return;
        }
        let p = *o;
        let inst = self.reg.instruments[p.instrument.0 as usize].clone();
        let fill = p.avg_px();
        if p.reject_on_fill_slippage {
            if let Some(max) = p.max_slippage_bps {
                let s = slippage(p.side, p.reference, fill, inst.pip);
                if p.reference.0 > 0 && s.bps_e2 > max as i64 * 100 {
                    self.stats.slippage_breaches += 1;
                    o.protected_qty = p.cum_qty;
                    return out.emit(
                        p.origin,
                        CoreEvent::SlippageBreach {
                            order: id,
                            bps_e2: s.bps_e2,
                        },
                    );
                }
            }
        }
        o.protected_qty = p.cum_qty;
        let level = |l: Level| -> Price {
            match l {
                Level::Abs(px) => px,
                // SL = fill × (1 + offset), on the tick grid.
                Level::OffsetPpm(ppm) => {
                    inst.round_ratio_to_tick(fill.0 as i128 * (1_000_000 + ppm as i128), 1_000_000)
                }
            }
        };
        let exit = p.side.opposite();
        let mut ids = [None, None];
        for (k, l) in [p.stop_loss, p.take_profit].into_iter().enumerate() {
            if let Some(l) = l {
                let Some(cid) = self.alloc_id() else {
                    return out.emit(p.origin, rejected_cmd(Some(id), Reason::StoreFull));
                };
                ids[k] = Some((cid, level(l)));
            }
        }
        self.place_protective(p, ids, unprotected, exit, out);
    }

    fn place_protective(
        &mut self,
        p: Order,
        ids: [Option<(OrderId, Price)>; 2],
        qty: Qty,
        exit: Side,
        out: &mut impl Outbox,
    ) {
        for (k, leg) in ids.iter().enumerate() {
            let Some((cid, px)) = *leg else { continue };
            let t = if k == 0 {
                OrderType::Stop
            } else {
                OrderType::Limit
            };
            let mut c = Order::new(
                cid,
                self.epoch,
                RequestId::EMPTY,
                p.origin,
                p.account,
                p.venue,
                p.instrument,
                exit,
                t,
                Tif::Gtc,
                qty,
                self.now,
            );
            c.parent = Some(p.id);
            c.reference = px;
            match t {
                OrderType::Stop => c.stop = px,
                _ => c.limit = px,
            }
            c.oco = ids[1 - k].map(|(o, _)| o);
            let pi = self.pos_index(p.account, p.instrument);
            c.next_protective = self.positions[pi].protective;
            self.stats.protective_orders += 1;
            self.send_new(c, None, out, &mut ());
            if self.book.get(cid).is_some() {
                self.positions[pi].protective = Some(cid);
            }
        }
        out.emit(
            p.origin,
            CoreEvent::Protection {
                parent: p.id,
                stop_loss: ids[0],
                take_profit: ids[1],
                qty,
            },
        );
    }

    /// The position went flat or flipped: cancel protective orders that can no longer
    /// reduce it (they would only be refused when triggered, or worse, add to it), and
    /// drop finished ones from the list.
    fn trim_protection(&mut self, pi: usize, out: &mut impl Outbox) {
        let net = self.positions[pi].net.0;
        let mut cur = self.positions[pi].protective.take();
        let mut kept_tail: Option<OrderId> = None;
        while let Some(id) = cur {
            let Some(o) = self.book.get(id) else { break };
            cur = o.next_protective;
            let (state, side, origin) = (o.state, o.side, o.origin);
            let useless = net == 0 || side.sign() == net.signum();
            if state.is_terminal() || state == OrderState::PendingCancel {
                continue;
            }
            if useless {
                self.cancel(id, origin, out);
                continue;
            }
            // Keep it: relink behind the last kept one.
            match kept_tail {
                None => self.positions[pi].protective = Some(id),
                Some(t) => {
                    if let Some(t) = self.book.get_mut(t) {
                        t.next_protective = Some(id);
                    }
                }
            }
            kept_tail = Some(id);
        }
        if let Some(t) = kept_tail.and_then(|t| self.book.get_mut(t)) {
            t.next_protective = None;
        }
    }

    fn cancel(&mut self, id: OrderId, origin: u8, out: &mut impl Outbox) {
        let Some(o) = self.book.get_mut(id) else {
            return out.emit(origin, rejected_cmd(Some(id), Reason::UnknownOrder));
        };
        if !(o.state.is_working()
            || matches!(o.state, OrderState::PendingNew | OrderState::PendingReplace))
        {
            return out.emit(origin, rejected_cmd(Some(id), Reason::NotWorking));
        }
        let version = o.next_version();
        let (cl, orig, venue) = (o.cl_at(version), o.cl_ord_id(), o.venue);
        if self.venues[venue.0 as usize]
            .cancel(self.now, cl, orig)
            .is_err()
        {
            return out.emit(origin, rejected_cmd(Some(id), Reason::VenueTransport));
        }
        self.apply(id, OmsEvent::CancelSent, out);
    }

    fn in_scope(reg: &Registry, o: &Order, scope: &Scope) -> bool {
        match scope {
            Scope::Global => true,
            Scope::Venue(v) => reg.venue(v) == Some(o.venue),
            Scope::Account(a) => reg.account(a) == Some(o.account),
            Scope::Symbol(s) => reg.instruments[o.instrument.0 as usize].symbol == *s,
        }
    }

    /// Cancels every live order in scope; returns how many cancels went out.
    fn cancel_scope(&mut self, scope: &Scope, origin: u8, out: &mut impl Outbox) -> u32 {
        let mut ids = std::mem::take(&mut self.scratch);
        let reg = self.reg.clone();
        self.book.select(&mut ids, |o| {
            (o.state.is_working()
                || matches!(o.state, OrderState::PendingNew | OrderState::PendingReplace))
                && Self::in_scope(&reg, o, scope)
        });
        let n = ids.len() as u32;
        for &id in &ids {
            self.cancel(id, origin, out);
        }
        self.scratch = ids;
        n
    }

    fn set_kill_switch(
        &mut self,
        origin: u8,
        scope: &Scope,
        state: KillState,
        cancel_open: bool,
        out: &mut impl Outbox,
    ) {
        let k = &mut self.gate.kill;
        match scope {
            Scope::Global => k.global = state,
            Scope::Venue(v) => match self.reg.venue(v) {
                Some(v) => k.venue[v.0 as usize] = state,
                None => return out.emit(origin, rejected_cmd(None, Reason::UnknownVenue)),
            },
            Scope::Account(a) => match self.reg.account(a) {
                Some(a) => k.account[a.0 as usize] = state,
                None => return out.emit(origin, rejected_cmd(None, Reason::UnknownAccount)),
            },
            Scope::Symbol(s) => {
                let mut any = false;
                for i in self.reg.instruments.iter().filter(|i| i.symbol == *s) {
                    k.instrument[i.id.0 as usize] = state;
                    any = true;
                }
                if !any {
                    return out.emit(origin, rejected_cmd(None, Reason::UnknownInstrument));
                }
            }
        }
        // An emergency stop cancels open orders; it never closes a filled position.
        let canceled = if state == KillState::Active && cancel_open {
            self.cancel_scope(scope, origin, out)
        } else {
            0
        };
        out.broadcast(CoreEvent::KillSwitch {
            scope: *scope,
            state,
            canceled,
        });
    }

    fn replace(
        &mut self,
        origin: u8,
        r: &OrderRef,
        qty: Option<Dec>,
        px: Option<Dec>,
        out: &mut impl Outbox,
    ) {
        let Some(id) = self.find(r) else {
            return out.emit(origin, rejected_cmd(None, Reason::UnknownOrder));
        };
        let Some(o) = self.book.get(id) else { return };
        if !o.state.is_working() {
            return out.emit(origin, rejected_cmd(Some(id), Reason::NotWorking));
        }
        let inst = &self.reg.instruments[o.instrument.0 as usize];
        let new_qty = match qty {
            Some(q) => match gate::quantity(inst, q) {
                Ok(q) if q > o.cum_qty => q,
                Ok(_) => return out.emit(origin, rejected_cmd(Some(id), Reason::BadQuantity)),
                Err(e) => return out.emit(origin, rejected_cmd(Some(id), e)),
            },
            None => o.qty,
        };
        let current = if o.order_type.has_limit() {
            o.limit
        } else {
            o.stop
        };
        let new_px = match px {
            Some(d) if o.order_type == OrderType::Market => {
                let _ = d;
                return out.emit(origin, rejected_cmd(Some(id), Reason::BadPriceFields));
            }
            Some(d) => match d.to_scale(inst.price_scale).map(Price) {
                Some(p) if p.0 > 0 && inst.on_tick(p) => p,
                _ => return out.emit(origin, rejected_cmd(Some(id), Reason::PriceOffTick)),
            },
            None => current,
        };
        self.send_replace(id, new_qty, new_px, origin, out);
    }

    fn send_replace(
        &mut self,
        id: OrderId,
        qty: Qty,
        px: Price,
        origin: u8,
        out: &mut impl Outbox,
    ) {
        let Some(o) = self.book.get_mut(id) else {
            return;
        };
        let version = o.next_version();
        let (cl, orig, venue) = (o.cl_at(version), o.cl_ord_id(), o.venue);
        o.pending_replace = Some((qty, px));
        if self.venues[venue.0 as usize]
            .replace(self.now, cl, orig, qty, px)
            .is_err()
        {
            return out.emit(origin, rejected_cmd(Some(id), Reason::VenueTransport));
        }
        self.apply(id, OmsEvent::ReplaceSent, out);
    }

    /// Moves the stop-loss / take-profit of a parent's working protective orders (R-OMS-7).
    fn modify_protection(
        &mut self,
        origin: u8,
        r: &OrderRef,
        sl: Option<Dec>,
        tp: Option<Dec>,
        out: &mut impl Outbox,
    ) {
        let Some(parent) = self.find(r) else {
            return out.emit(origin, rejected_cmd(None, Reason::UnknownOrder));
        };
        let mut legs = Vec::new();
        for o in self.book.iter() {
            if o.parent == Some(parent) && o.state.is_working() {
                legs.push((o.id, o.order_type, o.qty, o.instrument));
            }
        }
        if legs.is_empty() {
            return out.emit(origin, rejected_cmd(Some(parent), Reason::NotWorking));
        }
        for (id, t, qty, inst) in legs {
            let want = if t == OrderType::Stop { sl } else { tp };
            let Some(d) = want else { continue };
            let inst = &self.reg.instruments[inst.0 as usize];
            match d.to_scale(inst.price_scale).map(Price) {
                Some(p) if p.0 > 0 && inst.on_tick(p) => self.send_replace(id, qty, p, origin, out),
                _ => out.emit(origin, rejected_cmd(Some(id), Reason::PriceOffTick)),
            }
        }
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
