//! The request path (request → gate → order → venue), the state machine's effects, hard
//! timeouts, and cancels and replaces (R-OMS-1, R-OMS-4, R-OMS-7).

use super::{awaiting, rejected_cmd, venue_order, Engine, Outbox};
use crate::config::Registry;
use crate::core::latency::{Probe, Stage};
use crate::gate;
use crate::model::event::{CoreEvent, OrderRef, Scope};
use crate::model::fixed::{Dec, Price, Qty};
use crate::model::ids::{OrderId, OrderType};
use crate::model::instrument::Instrument;
use crate::model::order_state::{OmsEvent, OrderState};
use crate::model::reason::Reason;
use crate::model::request::ExecutionRequest;
use crate::oms::{Order, Terms};
use crate::venue::{Venue, VenueError};

impl Engine {
    /// The hot path: request → gate → order → venue.
    pub(super) fn submit(
        &mut self,
        origin: u8,
        req: &ExecutionRequest,
        out: &mut impl Outbox,
        probe: &mut impl Probe,
    ) {
        self.stats.submitted += 1;
        // However old: a retired order's request id is still remembered (R-IN-3).
        if let Some((first, state)) = self.book.first_for_request(&req.request_id) {
            self.stats.duplicates += 1;
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
        if !req.request_id.is_empty() && self.book.request_ids_full() {
            // Refused, not forgotten: remembering it would mean forgetting another.
            self.stats.rejected += 1;
            return out.emit(
                origin,
                CoreEvent::Rejected {
                    request_id: req.request_id,
                    order: OrderId(0),
                    reason: Reason::RequestIdsFull,
                },
            );
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
        let logged_on = self
            .reg
            .venue(&req.venue)
            .is_some_and(|v| self.venues[v.0 as usize].is_logged_on());
        let verdict = self
            .gate
            .check(&self.reg, req, self.now, &self.ledger, logged_on);
        probe.mark(Stage::Gate);
        let checked = match verdict {
            Ok(c) if self.dead_letters_full(c.venue) => {
                return self.reject(origin, id, req, content_hash, Reason::DeadLettersFull, out)
            }
            Ok(c) => c,
            Err(reason) => return self.reject(origin, id, req, content_hash, reason, out),
        };
        let terms = Terms {
            request_id: req.request_id,
            content_hash,
            origin,
            account: checked.account,
            venue: checked.venue,
            instrument: checked.instrument,
            side: req.side,
            order_type: req.order_type,
            tif: req.tif,
            qty: checked.qty,
            limit: checked.limit,
            stop: checked.stop,
            reference: checked.reference,
            stop_loss: checked.stop_loss,
            take_profit: checked.take_profit,
            max_slippage_bps: req.max_slippage_bps,
            reject_on_fill_slippage: req.reject_on_fill_slippage,
            warning: checked.warning,
            parent: None,
            oco: None,
            received_at: self.now,
            expire_at_ns: req.expire_at_ns,
        };
        let order = Order::new(id, self.epoch, terms, checked.margin);
        self.send_new(order, true, out, probe);
    }

    fn reject(
        &mut self,
        origin: u8,
        id: OrderId,
        req: &ExecutionRequest,
        content_hash: u64,
        reason: Reason,
        out: &mut impl Outbox,
    ) {
        self.stats.rejected += 1;
        // Keep the refusal so a resend of the same request id gets this answer (R-IN-3).
        let (account, venue, instrument) = gate::resolve(&self.reg, req)
            .map(|(a, v, i)| (a, v, i.id))
            .unwrap_or_default();
        let terms = Terms {
            request_id: req.request_id,
            content_hash,
            origin,
            account,
            venue,
            instrument,
            side: req.side,
            order_type: req.order_type,
            tif: req.tif,
            received_at: self.now,
            ..Terms::BLANK
        };
        if !req.request_id.is_empty() {
            let o = Order::rejected(id, self.epoch, terms, reason);
            if self.book.insert(o).is_some() {
                self.book.finished(id);
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

    /// Stores an order that passed the gate (`upstream`) or a protective order, and sends
    /// it; upstream hears `Accepted` for its own.
    pub(super) fn send_new(
        &mut self,
        o: Order,
        upstream: bool,
        out: &mut impl Outbox,
        probe: &mut impl Probe,
    ) {
        let t = *o.terms();
        let Some(venue_order) = self.stage_new(o, out) else {
            return;
        };
        let (id, v) = (venue_order.cl.order, t.venue.0 as usize);
        probe.mark(Stage::Oms);
        let sent = self.venues[v].submit(self.now, &venue_order);
        probe.mark(Stage::Venue);
        self.after_submit(id, upstream, sent, out);
    }

    /// Stores a new order as sent and arms its timeout; what the venue is to receive, or
    /// `None` when the book had no room (told, nothing sent).
    pub(super) fn stage_new(
        &mut self,
        mut o: Order,
        out: &mut impl Outbox,
    ) -> Option<crate::venue::VenueOrder> {
        let venue_order = venue_order(&o);
        let effects = o.apply(OmsEvent::Sent).unwrap_or_default();
        let (id, t) = (o.id(), *o.terms());
        let v = t.venue.0 as usize;
        let Some(stored) = self.book.insert(o) else {
            // Only protective orders get here without a room check; nothing was sent.
            out.emit(t.origin, rejected_cmd(Some(id), Reason::StoreFull));
            return None;
        };
        self.pending += 1;
        self.ledger.reserve(stored);
        if effects.arm_timeout {
            let due = self.now + self.reg.venues[v].timeout_ns;
            self.timers.push(v, (due, id.0));
        }
        self.gate.on_send(t.venue, self.now);
        Some(venue_order)
    }

    /// What follows handing a staged order to its venue: upstream hears `Accepted`, and
    /// an order the venue never saw is rejected.
    pub(super) fn after_submit(
        &mut self,
        id: OrderId,
        upstream: bool,
        sent: Result<(), crate::venue::VenueError>,
        out: &mut impl Outbox,
    ) {
        let Some(o) = self.book.get(id) else { return };
        let (t, cl) = (*o.terms(), o.cl_ord_id());
        let v = t.venue.0 as usize;
        if upstream {
            self.stats.accepted += 1;
            out.emit(
                t.origin,
                CoreEvent::Accepted {
                    request_id: t.request_id,
                    order: id,
                    cl_ord_id: cl,
                    content_hash: t.content_hash,
                    warning: t.warning,
                },
            );
        }
        if sent.is_err() {
            // The venue never saw it: a transport failure, not a venue decision, and
            // safe to resend under the same ClOrdID (R-RES-1).
            self.gate.breakers[v].on_failure(self.now);
            self.gate.budgets[v].on_unsent(self.now);
            self.undelivered(id, out);
        }
    }

    pub(super) fn on_timer(&mut self, id: OrderId, out: &mut impl Outbox) {
        if self.is_undelivered(id) {
            // The venue never saw it: its resend deadline governs it, not a query.
            return;
        }
        let Some(o) = self.book.get(id) else { return };
        let v = o.terms().venue.0 as usize;
        if o.state() != OrderState::PendingNew {
            // A cancel or replace in flight on an order the venue never answered: look
            // again later, the refusal may put it back to PendingNew.
            if !o.acked() && !o.state().is_terminal() && o.state() != OrderState::TimedOut {
                let due = self.now + self.reg.venues[v].timeout_ns;
                self.timers.push(v, (due, id.0));
            }
            return;
        }
        self.stats.timeouts += 1;
        // A timeout while the session is down is the disconnection's doing, which the
        // gate already sees (VENUE_DOWN); the breaker counts a venue that does not answer.
        // The order is asked about after the next logon.
        if self.venues[v].is_logged_on() {
            self.gate.breakers[v].on_failure(self.now);
        }
        self.apply(id, OmsEvent::Timeout, out);
        // The venue may hold what the core cannot see: compare (R-OMS-4, R-AUD-4).
        self.reconcile_venue(
            crate::model::ids::VenueId(v as u16),
            crate::model::reconcile::ReconTrigger::Timeout,
            out,
        );
    }

    /// Queues an order for reconciliation and asks its venue where it stands.
    pub(super) fn queue_reconcile(&mut self, id: OrderId) {
        // Never dropped when the preallocated room is used up: it grows (timeouts and
        // anomalies are not the order path), and each report of the venue prunes what it
        // settled.
        if !self.reconcile.contains(&id) {
            self.reconcile.push(id);
        }
        if let Some(o) = self.book.get(id) {
            let v = o.terms().venue.0 as usize;
            self.venues[v].query(self.now, &venue_order(o));
        }
    }

    /// Feeds the state machine and carries out its effects.
    pub(super) fn apply(&mut self, id: OrderId, ev: OmsEvent, out: &mut impl Outbox) {
        let Some(o) = self.book.get_mut(id) else {
            return;
        };
        let before = o.state();
        let origin = o.terms().origin;
        let effects = match o.apply(ev) {
            Ok(effects) => effects,
            Err(a) => {
                self.stats.anomalies += 1;
                return out.emit(
                    origin,
                    CoreEvent::Anomaly {
                        order: id,
                        state: a.state,
                        event: a.event,
                    },
                );
            }
        };
        let after = o.state();
        self.pending = self.pending + awaiting(after) as u64 - awaiting(before) as u64;
        if effects.send_cancel {
            let (cl, orig) = o.cancel_ids();
            let v = o.terms().venue.0 as usize;
            let _ = self.venues[v].cancel(self.now, cl, orig);
        }
        if effects.reconcile {
            self.queue_reconcile(id);
        }
        if !before.is_terminal() && after.is_terminal() {
            if let Some(o) = self.book.get_mut(id) {
                self.ledger.release(o);
            }
        }
        if let Some(o) = self.book.get(id) {
            out.emit(origin, CoreEvent::Order(o.status()));
        }
        if after.is_terminal() {
            self.protect(id, out);
            self.book.finished(id);
        }
    }

    pub(super) fn venue_reject(&mut self, id: OrderId, reason: Reason, out: &mut impl Outbox) {
        let Some(o) = self.book.get_mut(id) else {
            return self.apply(id, OmsEvent::VenueReject, out);
        };
        o.record_reject(reason);
        let was_live = !o.state().is_terminal();
        self.apply(id, OmsEvent::VenueReject, out);
        if was_live {
            self.report_unprotected(id, reason, out);
        }
    }

    pub(super) fn cancel(&mut self, id: OrderId, origin: u8, out: &mut impl Outbox) {
        let Some(o) = self.book.get_mut(id) else {
            return out.emit(origin, rejected_cmd(Some(id), Reason::UnknownOrder));
        };
        if !cancelable(o.state()) {
            return out.emit(origin, rejected_cmd(Some(id), Reason::NotWorking));
        }
        if self.cancel_undelivered(id, out) {
            return;
        }
        let Some(o) = self.book.get_mut(id) else {
            return;
        };
        let (cl, orig) = o.cancel_ids();
        let v = o.terms().venue.0 as usize;
        if let Err(e) = self.venues[v].cancel(self.now, cl, orig) {
            return out.emit(origin, rejected_cmd(Some(id), refusal(e)));
        }
        self.apply(id, OmsEvent::CancelSent, out);
    }

    /// Cancels every live order in scope; returns how many cancels went out.
    pub(super) fn cancel_scope(&mut self, scope: &Scope, origin: u8, out: &mut impl Outbox) -> u32 {
        let mut ids = std::mem::take(&mut self.scratch);
        let reg = self.reg.clone();
        self.book.select_working(&mut ids, |o| {
            cancelable(o.state()) && in_scope(&reg, o, scope)
        });
        let n = ids.len() as u32;
        for &id in &ids {
            self.cancel(id, origin, out);
        }
        self.scratch = ids;
        n
    }

    pub(super) fn replace(
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
        if !o.state().is_working() {
            return out.emit(origin, rejected_cmd(Some(id), Reason::NotWorking));
        }
        let t = o.terms();
        let inst = &self.reg.instruments[t.instrument.0 as usize];
        let new_qty = match qty {
            Some(q) => match gate::quantity(inst, q) {
                Ok(q) if q > o.cum_qty() => q,
                Ok(_) => return out.emit(origin, rejected_cmd(Some(id), Reason::BadQuantity)),
                Err(e) => return out.emit(origin, rejected_cmd(Some(id), e)),
            },
            None => t.qty,
        };
        let new_px = match px {
            Some(_) if t.order_type == OrderType::Market => {
                return out.emit(origin, rejected_cmd(Some(id), Reason::BadPriceFields));
            }
            Some(d) => match tick_price(inst, d) {
                Some(p) => p,
                None => return out.emit(origin, rejected_cmd(Some(id), Reason::PriceOffTick)),
            },
            None if t.order_type.has_limit() => t.limit,
            None => t.stop,
        };
        // The price replaced is the limit, or the trigger of a stop order.
        let (limit, stop) = if t.order_type.has_limit() {
            (new_px, t.stop)
        } else {
            (t.limit, new_px)
        };
        let ask = gate::ReplaceAsk {
            account: t.account,
            venue: t.venue,
            side: t.side,
            order_type: t.order_type,
            old_qty: t.qty,
            old_limit: t.limit,
            old_stop: t.stop,
            qty: new_qty,
            limit,
            stop,
        };
        if let Err(e) = self.gate.check_replace(inst, &ask, self.now, &self.ledger) {
            return out.emit(origin, rejected_cmd(Some(id), e));
        }
        self.send_replace(id, new_qty, new_px, origin, out);
    }

    pub(super) fn send_replace(
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
        let (cl, orig) = o.request_replace(qty, px);
        let v = o.terms().venue.0 as usize;
        if let Err(e) = self.venues[v].replace(self.now, cl, orig, qty, px) {
            return out.emit(origin, rejected_cmd(Some(id), refusal(e)));
        }
        // Binance counts a cancelReplace (a modify) as an order: counted, never refused
        // for it (one that only cuts risk must go).
        self.gate.budgets[v].on_send(self.now);
        self.apply(id, OmsEvent::ReplaceSent, out);
    }
}

/// Why a venue adapter refused a cancel or replace: its transport, or an order it
/// does not know (not a transport failure, so not reported as one).
fn refusal(e: VenueError) -> Reason {
    match e {
        VenueError::UnknownOrder => Reason::VenueUnknownOrder,
        VenueError::NotConnected | VenueError::Backpressure => Reason::VenueTransport,
    }
}

/// Whether a cancel may be sent: the order works at the venue, or is about to.
fn cancelable(s: OrderState) -> bool {
    s.is_working() || matches!(s, OrderState::PendingNew | OrderState::PendingReplace)
}

fn in_scope(reg: &Registry, o: &Order, scope: &Scope) -> bool {
    let t = o.terms();
    match scope {
        Scope::Global => true,
        Scope::Venue(v) => reg.venue(v) == Some(t.venue),
        Scope::Account(a) => reg.account(a) == Some(t.account),
        Scope::Symbol(s) => reg.instruments[t.instrument.0 as usize].symbol == *s,
    }
}

/// A new limit or stop price for an amendment: positive and on the instrument's tick.
pub(super) fn tick_price(inst: &Instrument, d: Dec) -> Option<Price> {
    d.to_scale(inst.price_scale)
        .map(Price)
        .filter(|p| p.0 > 0 && inst.on_tick(*p))
}
