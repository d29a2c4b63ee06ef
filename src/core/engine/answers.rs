//! What venues say about orders: acknowledgements, rejections, cancels and their
//! refusals, replaces, expiries, and market data. Fills go on to `fills`.

use super::{rejected_cmd, Engine, Outbox};
use crate::model::event::CoreEvent;
use crate::model::fixed::Qty;
use crate::model::ids::{ClOrdId, OrderId, VenueId};
use crate::model::order_state::{OmsEvent, OrderState};
use crate::model::reason::Reason;
use crate::oms::Execution;
use crate::venue::{Request, VenueEventKind, VenueOrderState};

impl Engine {
    /// The order a venue message names, if this engine holds it under that epoch.
    fn order_for(&mut self, cl: ClOrdId) -> Option<OrderId> {
        match self.book.get(cl.order) {
            Some(o) if o.epoch() == cl.epoch => Some(o.id()),
            _ => {
                self.stats.unknown_order_events += 1;
                None
            }
        }
    }

    pub(super) fn on_venue_event(
        &mut self,
        vi: usize,
        kind: VenueEventKind,
        out: &mut impl Outbox,
    ) {
        match kind {
            // Stamped with when the adapter received it (engine time): staleness is
            // measured on our clock (R-VEN-6, R-GATE-6).
            VenueEventKind::Quote {
                instrument, quote, ..
            } => {
                if let Some(q) = self.gate.quotes.get_mut(instrument.0 as usize) {
                    *q = quote;
                }
            }
            // The gate asks the venue itself whether it is up; what a logon changes here is
            // what the core may now ask.
            VenueEventKind::Session { up } => {
                if up {
                    self.ask_about_orders(VenueId(vi as u16), false);
                    self.reconcile_on_logon(VenueId(vi as u16), out);
                } else {
                    self.reconciliation_interrupted(VenueId(vi as u16));
                }
            }
            VenueEventKind::Listed { cl, cum } => self.on_listed(VenueId(vi as u16), cl, cum),
            VenueEventKind::Balance {
                account,
                asset,
                free,
                locked,
                wallet,
            } => self.on_balance(VenueId(vi as u16), account, asset, (free, locked), wallet),
            VenueEventKind::FillAssets {
                cl,
                exec_id,
                base,
                base_delta,
                quote,
                quote_delta,
                fee_asset,
                fee,
            } => self.on_fill_assets(
                VenueId(vi as u16),
                (cl, exec_id),
                [(base, base_delta), (quote, quote_delta)],
                (fee_asset, fee),
            ),
            VenueEventKind::Position {
                account,
                instrument,
                qty,
            } => self.on_venue_position(VenueId(vi as u16), account, instrument, qty),
            VenueEventKind::SnapshotEnd {
                orders,
                positions,
                foreign,
            } => self.finish_reconciliation(VenueId(vi as u16), orders, positions, foreign, out),
            VenueEventKind::Restarted => {
                self.rebase_balances(VenueId(vi as u16));
                self.ask_about_orders(VenueId(vi as u16), true);
            }
            VenueEventKind::Status { cl, state, filled } => {
                // A mass status answer lists the venue's open orders: what a
                // reconciliation compares (the quantity unknown when it did not say).
                if matches!(state, VenueOrderState::Working | VenueOrderState::Pending) {
                    let cum = filled.map(|f| f.0).or_else(|| {
                        self.book
                            .get(cl.order)
                            .filter(|o| o.epoch() == cl.epoch)
                            .map(|o| o.cum_qty())
                    });
                    self.on_listed(VenueId(vi as u16), cl, cum.unwrap_or(Qty(0)));
                }
                let Some(id) = self.order_for(cl) else { return };
                self.on_status(id, state, filled, out);
            }
            VenueEventKind::Ack { cl, venue_order_id } => {
                let Some(id) = self.order_for(cl) else { return };
                if let Some(o) = self.book.get_mut(id) {
                    o.record_ack(venue_order_id);
                    let v = o.terms().venue.0 as usize;
                    self.gate.breakers[v].on_success();
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
                cum,
            } => {
                let Some(id) = self.order_for(cl) else { return };
                if self.booked_by_recovery(id, cum) {
                    self.stats.duplicate_execs += 1;
                    return;
                }
                let x = Execution {
                    exec_id,
                    px,
                    qty,
                    fee,
                };
                self.on_fill(id, &x, out);
            }
            VenueEventKind::Canceled { cl } => {
                let Some(id) = self.order_for(cl) else { return };
                self.apply(id, OmsEvent::Canceled, out);
            }
            VenueEventKind::CancelRejected { cl, reason } => {
                let Some(id) = self.order_for(cl) else { return };
                let Some(o) = self.book.get(id) else { return };
                // "Too late to cancel" after a fill is the normal race, not a surprise.
                if o.state().is_terminal() {
                    return;
                }
                out.emit(o.terms().origin, rejected_cmd(Some(id), reason));
                self.apply(id, OmsEvent::CancelRejected, out);
            }
            VenueEventKind::Replaced { cl, qty, limit } => {
                let Some(id) = self.order_for(cl) else { return };
                let Some(o) = self.book.get_mut(id) else {
                    return;
                };
                if let Some(delta) = o.record_replace(cl.version, qty, limit) {
                    self.ledger.resized(o, delta);
                }
                self.apply(id, OmsEvent::Replaced, out);
            }
            VenueEventKind::ReplaceRejected { cl, reason } => {
                let Some(id) = self.order_for(cl) else { return };
                let Some(o) = self.book.get_mut(id) else {
                    return;
                };
                if o.state().is_terminal() {
                    return;
                }
                o.replace_refused();
                out.emit(o.terms().origin, rejected_cmd(Some(id), reason));
                self.apply(id, OmsEvent::ReplaceRejected, out);
            }
            VenueEventKind::NotSent { cl } => {
                let Some(id) = self.order_for(cl) else { return };
                self.gate.breakers[vi].on_failure(self.now);
                self.gate.budgets[vi].on_unsent(self.now);
                self.undelivered(id, out);
            }
            VenueEventKind::RateLimit(limits) => {
                self.gate.budgets[vi].on_report(self.now, &limits);
                out.broadcast(CoreEvent::VenueLimits {
                    venue: self.reg.venues[vi].name,
                    limits,
                });
            }
            VenueEventKind::Backpressure { cl, request } => {
                let Some(id) = self.order_for(cl) else { return };
                let Some(o) = self.book.get_mut(id) else {
                    return;
                };
                let origin = o.terms().origin;
                out.emit(origin, CoreEvent::VenueBackpressure { order: id, request });
                // A new order or replace was counted against the venue's budget when
                // handed over; it never left.
                if request != Request::Cancel {
                    self.gate.budgets[vi].on_unsent(self.now);
                }
                match request {
                    // Never seen by the venue: resent under the same id (R-RES-1), as
                    // the adapter's synchronous refusal always was.
                    Request::New => {
                        self.gate.breakers[vi].on_failure(self.now);
                        // Its owner asked to cancel before this was heard: nothing
                        // ever reached the venue, so it is done here, never resent.
                        if o.state() == OrderState::PendingCancel {
                            return self.apply(id, OmsEvent::Canceled, out);
                        }
                        self.undelivered(id, out);
                    }
                    Request::Cancel => {
                        if o.state().is_terminal() {
                            return;
                        }
                        out.emit(origin, rejected_cmd(Some(id), Reason::VenueBackpressure));
                        self.apply(id, OmsEvent::CancelRejected, out);
                    }
                    Request::Replace => {
                        if o.state().is_terminal() {
                            return;
                        }
                        o.replace_refused();
                        out.emit(origin, rejected_cmd(Some(id), Reason::VenueBackpressure));
                        self.apply(id, OmsEvent::ReplaceRejected, out);
                    }
                }
            }
            VenueEventKind::Expired { cl } => {
                let Some(id) = self.order_for(cl) else { return };
                self.apply(id, OmsEvent::Expired, out);
            }
        }
    }
}
