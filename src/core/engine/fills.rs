//! Executions: into the order (exactly once per exec id, never past its quantity,
//! R-OMS-3), into the account and position (R-OMS-6), measured for slippage (R-OMS-8);
//! then the order's state moves, and a filled protective leg cancels its partner.

use super::{Engine, Outbox};
use crate::model::event::CoreEvent;
use crate::model::fixed::Qty;
use crate::model::ids::OrderId;
use crate::model::order_state::{OmsEvent, OrderState};
use crate::model::slippage::slippage;
use crate::oms::{Execution, FillResult};

impl Engine {
    pub(super) fn on_fill(&mut self, id: OrderId, x: &Execution, out: &mut impl Outbox) {
        let Some((ev, state_before, open_before)) = self.record_execution(id, x, out) else {
            return;
        };
        self.stats.fills += 1;
        if let Some(v) = self.book.get(id).map(|o| o.terms().venue) {
            self.fill_booked(v, id, x.exec_id);
        }
        // A leg that fills, even in part, cancels its sibling before anything else goes
        // out for the position: the sooner the cancel leaves, the narrower the window in
        // which both execute (R-OMS-5). A venue that links them does it itself.
        self.cancel_oco_partner(id, out);
        let key = self
            .book
            .get(id)
            .map(|o| (o.terms().account, o.terms().instrument));
        let Some((origin, was_terminal)) = self.book_execution(id, x, open_before, out) else {
            return;
        };
        if let Some((a, i)) = key {
            let net_after = self.ledger.position(a, i).net.0;
            self.flatten_overfill(id, x.qty, net_after, out);
        }
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
    }

    /// Records the execution on the order: the state-machine event it makes, the state
    /// and the open quantity before it; `None` for a resent exec id or an overfill (an
    /// anomaly).
    fn record_execution(
        &mut self,
        id: OrderId,
        x: &Execution,
        out: &mut impl Outbox,
    ) -> Option<(OmsEvent, OrderState, Qty)> {
        let o = self.book.get(id)?;
        let state_before = o.state();
        let open_before = Qty(o.terms().qty.0 - o.cum_qty().0);
        // Only orders with more fills than they remember inline consult the overflow set.
        let seen = o.inline_execs_full() && self.book.overflow_seen(id, x.exec_id);
        let mut spill = false;
        let o = self.book.get_mut(id)?;
        let result = o.record_fill(x, |_| seen, |_| spill = true);
        if spill {
            self.book.overflow_remember(id, x.exec_id);
        }
        match result {
            FillResult::Applied(ev) => Some((ev, state_before, open_before)),
            FillResult::Duplicate => {
                self.stats.duplicate_execs += 1;
                None
            }
            FillResult::Overfill => {
                self.stats.overfills += 1;
                self.stats.anomalies += 1;
                let origin = self.book.get(id).map(|o| o.terms().origin).unwrap_or(0);
                out.emit(
                    origin,
                    CoreEvent::Anomaly {
                        order: id,
                        state: state_before,
                        event: OmsEvent::FinalFill,
                    },
                );
                None
            }
        }
    }

    /// Books a recorded execution on the account and position and reports it; returns
    /// the order's producer and whether the order was already terminal.
    fn book_execution(
        &mut self,
        id: OrderId,
        x: &Execution,
        open_before: Qty,
        out: &mut impl Outbox,
    ) -> Option<(u8, bool)> {
        let o = self.book.get_mut(id)?;
        let late = o.state() == OrderState::TimedOut || o.state().is_terminal();
        if late {
            o.mark_late();
            self.stats.late_fills += 1;
        }
        let t = *o.terms();
        let released = o.release_fill_margin(x.qty, open_before);
        let was_terminal = o.state().is_terminal();
        let inst = &self.reg.instruments[t.instrument.0 as usize];
        let booked = self
            .ledger
            .book_fill(inst, o, x, (!was_terminal).then_some(released));
        let slip = (t.reference.0 > 0).then(|| slippage(t.side, t.reference, x.px, inst.pip));
        if booked.flat_or_flipped() {
            self.trim_protection(t.account, t.instrument, out);
        }
        out.emit(
            t.origin,
            CoreEvent::Fill {
                order: id,
                instrument: t.instrument,
                exec_id: x.exec_id,
                px: x.px,
                qty: x.qty,
                fee: x.fee,
                slippage: slip,
                late,
            },
        );
        Some((t.origin, was_terminal))
    }

    /// One-cancels-other, emulated: a protective leg that fills cancels its partner,
    /// unless the venue links them itself.
    fn cancel_oco_partner(&mut self, id: OrderId, out: &mut impl Outbox) {
        let Some(t) = self.book.get(id).map(|o| *o.terms()) else {
            return;
        };
        let (Some(partner), origin) = (t.oco, t.origin) else {
            return;
        };
        if self.venue_links_oco(t.venue.0 as usize) {
            return;
        }
        let live = self
            .book
            .get(partner)
            .map(|p| !p.state().is_terminal() && p.state() != OrderState::PendingCancel);
        if live == Some(true) {
            self.cancel(partner, origin, out);
        }
    }
}
