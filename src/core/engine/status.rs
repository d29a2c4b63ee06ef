//! Settling orders from what their venue says about them (R-RES-1: ask, never resend
//! blindly). Status answers come after a hard timeout, after every logon for orders
//! whose outcome is unknown, after a venue started its numbering over for every order
//! working there, and for orders whose messages a resend gap-filled. What they reveal
//! that no report told — a fill made while this core was away or while the session's
//! numbering was reset — is booked as a recovered fill and flagged, never lost.

use super::{awaiting, rejected_cmd, venue_order, Engine, Outbox};
use crate::model::event::CoreEvent;
use crate::model::fixed::{clamp_i64, div_round, Money, Price, Qty};
use crate::model::ids::{OrderId, VenueId};
use crate::model::order_state::{OmsEvent, OrderState};
use crate::model::reason::Reason;
use crate::oms::Execution;
use crate::venue::{Venue, VenueOrderState};

impl Engine {
    /// Venue `v` logged on: every order there whose outcome is unknown is asked about
    /// (the query sent at its timeout may have found the session down); with
    /// `all_working`, every working order too (the venue's earlier reports are gone).
    pub(super) fn ask_about_orders(&mut self, v: VenueId, all_working: bool) {
        let mut ids = std::mem::take(&mut self.scratch);
        self.book.select_working(&mut ids, |o| {
            let s = o.state();
            o.terms().venue == v && (awaiting(s) || (all_working && s.is_working()))
        });
        for &id in &ids {
            // One the venue never saw is resent or waits as a dead letter: asking about
            // it would only hear "unknown order".
            if self.is_undelivered(id) {
                continue;
            }
            if let Some(o) = self.book.get(id) {
                self.venues[v.0 as usize].query(self.now, &venue_order(o));
            }
        }
        self.scratch = ids;
    }

    pub(super) fn on_status(
        &mut self,
        id: OrderId,
        state: VenueOrderState,
        filled: Option<(Qty, Price)>,
        out: &mut impl Outbox,
    ) {
        let Some(o) = self.book.get(id) else { return };
        let (origin, our_cum) = (o.terms().origin, o.cum_qty());
        match filled {
            Some((cum, avg)) if cum.0 > our_cum.0 => self.recover_fill(id, cum, avg, out),
            Some((cum, _)) if cum.0 < our_cum.0 => {
                // The venue holds less than we booked: nothing is undone here; a human
                // reconciles (R-AUD-4).
                self.stats.anomalies += 1;
                out.emit(
                    origin,
                    CoreEvent::VenueMismatch {
                        order: id,
                        venue_cum: cum,
                        core_cum: our_cum,
                    },
                );
            }
            Some(_) => {}
            None => {
                // An OrderCancelReject saying "filled" carries no quantity: ask for it.
                if state == VenueOrderState::Filled && !o.state().is_terminal() {
                    self.venues[o.terms().venue.0 as usize].query(self.now, &venue_order(o));
                    return;
                }
            }
        }
        self.settle(id, state, out);
    }

    /// Whether a fill report is for quantity already booked from a status answer: the
    /// lost report turning up after all (its CumQty is no more than what is booked).
    /// Orders never recovered rely on exec ids alone.
    pub(super) fn booked_by_recovery(&self, id: OrderId, cum: Option<Qty>) -> bool {
        match (self.book.get(id), cum) {
            (Some(o), Some(c)) => o.recovered() && c.0 <= o.cum_qty().0,
            _ => false,
        }
    }

    /// Books the quantity the venue filled beyond what reports told, at the price that
    /// makes the order's average the venue's; its commission is unknown (0).
    fn recover_fill(&mut self, id: OrderId, cum: Qty, avg: Price, out: &mut impl Outbox) {
        let Some(o) = self.book.get(id) else { return };
        let missing = cum.0 - o.cum_qty().0;
        let notional = avg.0 as i128 * cum.0 as i128 - o.cum_notional();
        let px = Price(clamp_i64(div_round(notional, missing as i128)));
        let px = if px.0 > 0 { px } else { avg };
        let origin = o.terms().origin;
        // The same status answer twice recovers nothing the second time (the quantity is
        // booked); a different cumulative quantity is a different recovery.
        let mut key = [0u8; 25];
        key[..9].copy_from_slice(b"recovered");
        key[9..17].copy_from_slice(&id.0.to_le_bytes());
        key[17..].copy_from_slice(&cum.0.to_le_bytes());
        let exec_id = xxhash_rust::xxh3::xxh3_64(&key);
        let x = Execution {
            exec_id,
            px,
            qty: Qty(missing),
            fee: Money(0),
        };
        self.stats.recovered_fills += 1;
        if let Some(o) = self.book.get_mut(id) {
            o.mark_recovered();
        }
        self.on_fill(id, &x, out);
        out.emit(
            origin,
            CoreEvent::FillRecovered {
                order: id,
                qty: Qty(missing),
                px,
            },
        );
    }

    /// Moves the order to where the venue says it is, when the core did not know.
    fn settle(&mut self, id: OrderId, at_venue: VenueOrderState, out: &mut impl Outbox) {
        let Some(o) = self.book.get_mut(id) else {
            return;
        };
        let state = o.state();
        if state.is_terminal() {
            return;
        }
        let v = o.terms().venue.0 as usize;
        match at_venue {
            VenueOrderState::Filled => {
                // The recovered fill completed it; a venue "filled" that our quantities
                // do not add up to is left for reconciliation.
            }
            VenueOrderState::Canceled => self.apply(id, OmsEvent::Canceled, out),
            VenueOrderState::Expired => self.apply(id, OmsEvent::Expired, out),
            VenueOrderState::Rejected | VenueOrderState::Unknown => {
                let reason = if at_venue == VenueOrderState::Unknown {
                    Reason::VenueUnknownOrder
                } else {
                    Reason::VenueRejected
                };
                let never_worked = matches!(
                    state,
                    OrderState::PendingNew | OrderState::PendingCancel | OrderState::TimedOut
                ) && o.cum_qty().0 == 0;
                if never_worked {
                    self.venue_reject(id, reason, out);
                } else {
                    // It worked (or filled) and the venue no longer has it: it is done.
                    o.record_reject(reason);
                    self.apply(id, OmsEvent::Canceled, out);
                }
            }
            VenueOrderState::Working => match state {
                OrderState::PendingNew => {
                    let voi = o.venue_order_id();
                    o.record_ack(voi);
                    self.gate.breakers[v].on_success();
                    self.apply(id, OmsEvent::Ack, out);
                }
                // The timeout's cancel, or a cancel a resend gap-filled, never reached the
                // venue: a new cancel (a new request, not the old message again).
                OrderState::TimedOut | OrderState::PendingCancel => {
                    let voi = o.venue_order_id();
                    o.record_ack(voi);
                    let (cl, orig) = o.cancel_ids();
                    let _ = self.venues[v].cancel(self.now, cl, orig);
                }
                OrderState::PendingReplace => {
                    // The replace never reached the venue: the order works on its old terms.
                    o.replace_refused();
                    let origin = o.terms().origin;
                    out.emit(origin, rejected_cmd(Some(id), Reason::VenueTransport));
                    self.apply(id, OmsEvent::ReplaceRejected, out);
                }
                _ => {}
            },
            // A cancel or replace is being processed there: its answer is on the way.
            VenueOrderState::Pending => {}
        }
    }
}
