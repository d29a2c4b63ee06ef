//! What the core says about a session's orders, as reports to the client.
//!
//! Each handler moves the order's `known` picture and queues the report that tells the
//! client so, with the picture to persist when it goes out. Statuses are compared with
//! what the client was told rather than taken as news, so the same status twice (a
//! query's answer after the change itself) reports nothing, and a status that shows
//! more than the client knows (after a restart, or reports dropped for an absent
//! client) reports the difference — an aggregated fill, the final state.

use super::book::{status, ClientOrder, Pending};
use super::courier::{Courier, OpKind};
use super::desk::Desk;
use super::intake::shown_status;
use super::reports::{
    exec_id, reason_text, refusal_exec_id, CxlReason, CxlReject, Exec, ExecId, Persist, Rej,
    Report, Terms,
};
use super::requests::{echo, ord_type_char, side_char, tif_char};
use crate::model::event::{Command, OrderRef, OrderStatus};
use crate::model::fixed::{clamp_i64, div_round, Dec, Price, Qty};
use crate::model::ids::{OrderId, OrderType};
use crate::model::order_state::OrderState;
use crate::model::reason::Reason;
use std::borrow::Cow;

fn terms_of(o: &ClientOrder) -> Terms {
    Terms {
        account: echo(o.req.account.as_bytes()).unwrap_or_default(),
        symbol: echo(o.req.symbol.as_bytes()).unwrap_or_default(),
        side: side_char(o.req.side),
        ord_type: ord_type_char(o.req.order_type),
        tif: tif_char(o.req.tif),
    }
}

impl Desk {
    /// (price scale, quantity scale) of the order's instrument; 0 when it has none
    /// (then it was refused and has no fills).
    fn scales(&self, o: &ClientOrder) -> (u8, u8) {
        o.inst
            .and_then(|i| self.reg.instruments.get(i.0 as usize))
            .map_or((0, 0), |i| (i.price_scale, i.qty_scale))
    }

    /// A report of the order's known picture.
    fn exec_of(&self, o: &ClientOrder, exec_type: u8, id: ExecId) -> Exec {
        let v = &o.known;
        let (ps, qs) = self.scales(o);
        let ordered = v.qty.to_scale(qs).unwrap_or(0);
        let leaves = if status::is_terminal(v.status) {
            0
        } else {
            (ordered - v.cum).max(0)
        };
        let avg = if v.cum > 0 {
            clamp_i64(div_round(v.notional, v.cum as i128))
        } else {
            0
        };
        let (price, stop_px) = match o.req.order_type {
            OrderType::Market => (None, None),
            OrderType::Limit => (v.px, None),
            OrderType::Stop => (None, v.px),
            OrderType::StopLimit => (v.px, o.req.stop_price),
        };
        Exec {
            exec_type,
            status: shown_status(v.status),
            order: o.order,
            exec_id: id,
            cl: echo(v.cl.as_bytes()).unwrap_or_default(),
            orig_cl: None,
            terms: terms_of(o),
            qty: Some(v.qty),
            price,
            stop_px,
            last: None,
            cum: (v.cum, qs),
            leaves: (leaves, qs),
            avg: (avg, ps),
            text: Cow::Borrowed(""),
            rej: None,
            status_req: None,
        }
    }

    /// Queues a report of the order's known picture (which the caller has just moved),
    /// to be persisted as told when it goes out.
    fn report(&mut self, slot: u32, exec_type: u8, kind: &str, f: impl FnOnce(&mut Exec)) {
        let Some(o) = self.book.get(slot) else { return };
        let id = exec_id(o.order.map_or(0, |i| i.0), kind, format_args!(""));
        let mut e = self.exec_of(o, exec_type, id);
        f(&mut e);
        let p = Persist {
            slot,
            key: o.key,
            view: o.known,
        };
        self.queue(Report::Exec(e, Some(p)));
    }

    /// The core's id for the order, recorded as soon as it is known.
    fn learn_order(&mut self, now: u64, slot: u32, id: OrderId) {
        if id.0 == 0 || self.book.get(slot).is_none_or(|o| o.order == Some(id)) {
            return;
        }
        self.book.set_order(slot, id);
        if let (Some(o), Some(log)) = (self.book.get(slot), self.log.as_mut()) {
            log.state(now, &o.key, o.order, &o.told, 0);
        }
    }

    /// Through the gate and handed to the venue: PendingNew.
    pub fn accepted(&mut self, now: u64, slot: u32, id: OrderId) {
        self.learn_order(now, slot, id);
        let Some(o) = self.book.get_mut(slot) else {
            return;
        };
        if o.known.status == status::NONE {
            o.known.status = status::PENDING_NEW;
            self.report(slot, b'A', "A", |_| {});
        }
    }

    /// Refused by the gate (or the order store): rejected, with the reason code.
    pub fn rejected(&mut self, now: u64, slot: u32, id: OrderId, reason: Reason) {
        self.learn_order(now, slot, id);
        self.reject(slot, reason);
    }

    fn reject(&mut self, slot: u32, reason: Reason) {
        let Some(o) = self.book.get_mut(slot) else {
            return;
        };
        if status::is_terminal(o.known.status) {
            return;
        }
        let text = format!("{}: {}", reason.code(), reason.text());
        self.finish_pending(
            slot,
            CxlReason::TooLate,
            "ORDER_DONE: the order was rejected",
        );
        let Some(o) = self.book.get_mut(slot) else {
            return;
        };
        o.known.status = status::REJECTED;
        // Without an order (a full order store) the ExecID comes from the message.
        let refusal_id = o
            .order
            .is_none()
            .then(|| refusal_exec_id(o.key.as_bytes(), o.in_seq));
        self.report(slot, b'8', "8", |e| {
            e.text = Cow::Owned(text);
            e.rej = Some(Rej::of(reason));
            if let Some(id) = refusal_id {
                e.exec_id = id;
            }
        });
    }

    /// The core already had this request id. Submitted again after a restart, that is
    /// the answer hoped for (the order exists, its id is now known); fresh from the
    /// client, the ClOrdID was used before (by an order the gateway has forgotten).
    pub fn duplicate(&mut self, now: u64, slot: u32, id: OrderId, recovery: bool) {
        if recovery {
            self.learn_order(now, slot, id);
            return;
        }
        let Some(o) = self.book.get_mut(slot) else {
            return;
        };
        if status::is_terminal(o.known.status) {
            return;
        }
        o.known.status = status::REJECTED;
        let (key, in_seq) = (o.key, o.in_seq);
        let text = format!(
            "DUPLICATE_CLORDID: ClOrdID(11) {:?} was used before",
            key.as_str()
        );
        self.report(slot, b'8', "8", |e| {
            e.order = None;
            e.exec_id = refusal_exec_id(key.as_bytes(), in_seq);
            e.text = Cow::Owned(text);
            e.rej = Some(Rej::Duplicate);
        });
    }

    /// An order's state and quantities, after a change or in answer to a query.
    pub fn order_status(&mut self, now: u64, slot: u32, st: &OrderStatus) {
        self.learn_order(now, slot, st.order);
        let Some(o) = self.book.get(slot) else { return };
        if st.cum_qty.0 > o.known.cum {
            self.catch_up(slot, st);
        }
        let Some(o) = self.book.get_mut(slot) else {
            return;
        };
        let fresh = matches!(o.known.status, status::NONE | status::PENDING_NEW);
        match st.state {
            OrderState::PendingCancel | OrderState::PendingReplace => {
                let kind = if st.state == OrderState::PendingCancel {
                    b'F'
                } else {
                    b'G'
                };
                if let Some(p) = o.known.pending.as_mut().filter(|p| p.kind == kind) {
                    p.acked = true;
                }
            }
            OrderState::Received | OrderState::PendingNew | OrderState::TimedOut => {
                if o.known.status == status::NONE {
                    o.known.status = status::PENDING_NEW;
                    self.report(slot, b'A', "A", |_| {});
                }
            }
            OrderState::New | OrderState::PartiallyFilled | OrderState::Replaced => {
                if fresh {
                    o.known.status = if o.known.cum > 0 {
                        status::PARTIAL
                    } else {
                        status::NEW
                    };
                    self.report(slot, b'0', "0", |_| {});
                }
                if st.state == OrderState::Replaced {
                    self.replaced(slot, st);
                }
            }
            OrderState::Filled => {
                self.finish_pending(slot, CxlReason::TooLate, "ORDER_DONE: the order filled");
            }
            OrderState::Canceled => self.canceled(slot),
            OrderState::Expired => {
                if !status::is_terminal(o.known.status) {
                    self.finish_pending(slot, CxlReason::TooLate, "ORDER_DONE: the order expired");
                    if let Some(o) = self.book.get_mut(slot) {
                        o.known.status = status::EXPIRED;
                    }
                    self.report(slot, b'C', "C", |_| {});
                }
            }
            OrderState::Rejected => self.reject(slot, st.reason.unwrap_or(Reason::VenueRejected)),
        }
    }

    /// Fills the client was not told of (reports lost in a crash, or dropped for an
    /// absent client): one fill for the difference, at the price that makes the average
    /// the core's.
    fn catch_up(&mut self, slot: u32, st: &OrderStatus) {
        let Some(o) = self.book.get(slot) else { return };
        let (ps, qs) = self.scales(o);
        let delta = st.cum_qty.0 - o.known.cum;
        let total = st.avg_px.0 as i128 * st.cum_qty.0 as i128;
        let px = clamp_i64(div_round(total - o.known.notional, delta as i128));
        let px = if px > 0 { px } else { st.avg_px.0 };
        let cum = st.cum_qty.0;
        let kind_suffix = format!("-c{cum}");
        let Some(o) = self.book.get_mut(slot) else {
            return;
        };
        o.known.cum = cum;
        o.known.notional = o.known.notional.saturating_add(px as i128 * delta as i128);
        if !status::is_terminal(o.known.status) {
            let ordered = o.known.qty.to_scale(qs).unwrap_or(i64::MAX);
            o.known.status = if cum >= ordered {
                status::FILLED
            } else {
                status::PARTIAL
            };
        }
        let order = o.order.map_or(0, |i| i.0);
        self.report(slot, b'F', "F", |e| {
            e.exec_id = exec_id(order, "F", format_args!("{kind_suffix}"));
            e.last = Some(((px, ps), (delta, qs)));
        });
    }

    /// An execution applied to the order.
    pub fn fill(&mut self, slot: u32, venue_exec: u64, px: Price, qty: Qty) {
        let Some(o) = self.book.get(slot) else { return };
        let (ps, qs) = self.scales(o);
        let Some(o) = self.book.get_mut(slot) else {
            return;
        };
        o.known.cum = o.known.cum.saturating_add(qty.0);
        o.known.notional = o
            .known
            .notional
            .saturating_add(px.0 as i128 * qty.0 as i128);
        // A fill after a terminal state (racing a cancel) is real: reported, the state
        // stays what it was.
        if !status::is_terminal(o.known.status) {
            let ordered = o.known.qty.to_scale(qs).unwrap_or(i64::MAX);
            o.known.status = if o.known.cum >= ordered {
                status::FILLED
            } else {
                status::PARTIAL
            };
        }
        let order = o.order.map_or(0, |i| i.0);
        self.report(slot, b'F', "F", |e| {
            e.exec_id = exec_id(order, "F", format_args!("-{venue_exec:x}"));
            e.last = Some(((px.0, ps), (qty.0, qs)));
        });
    }

    fn canceled(&mut self, slot: u32) {
        let Some(o) = self.book.get_mut(slot) else {
            return;
        };
        if status::is_terminal(o.known.status) {
            return;
        }
        if o.known.pending.is_some_and(|p| p.kind == b'G') {
            self.finish_pending(
                slot,
                CxlReason::TooLate,
                "ORDER_DONE: the order was canceled",
            );
        }
        let Some(o) = self.book.get_mut(slot) else {
            return;
        };
        let before = o.known.cl;
        let by_request = o.known.pending.take().filter(|p| p.kind == b'F');
        if let Some(p) = by_request {
            o.known.cl = p.cl;
        }
        o.known.status = status::CANCELED;
        self.report(slot, b'4', "4", |e| {
            if by_request.is_some() {
                e.orig_cl = echo(before.as_bytes());
            }
        });
    }

    fn replaced(&mut self, slot: u32, st: &OrderStatus) {
        let Some(o) = self.book.get(slot) else { return };
        let (_, qs) = self.scales(o);
        let matches = |p: &Pending| p.qty.to_scale(qs) == Some(st.qty.0);
        // The pending replace's outcome once the core took it; after a restart (when
        // that is not known) if the quantity is the one it asked for.
        let mine = o
            .known
            .pending
            .filter(|p| p.kind == b'G' && (p.acked || matches(p)));
        let Some(o) = self.book.get_mut(slot) else {
            return;
        };
        match mine {
            Some(p) => {
                let before = o.known.cl;
                o.known.cl = p.cl;
                o.known.qty = p.qty;
                o.known.px = p.px;
                o.known.pending = None;
                let suffix = p.cl;
                let order = o.order.map_or(0, |i| i.0);
                self.report(slot, b'5', "5", |e| {
                    e.exec_id = exec_id(order, "5", format_args!("-{suffix}"));
                    e.orig_cl = echo(before.as_bytes());
                });
            }
            None if o.known.qty.to_scale(qs) != Some(st.qty.0) => {
                // Amended by someone else (an operator): the new quantity, same ClOrdID.
                o.known.qty = Dec::new(st.qty.0, qs);
                let order = o.order.map_or(0, |i| i.0);
                let q = st.qty.0;
                self.report(slot, b'5', "5", |e| {
                    e.exec_id = exec_id(order, "5", format_args!("-q{q}"));
                });
            }
            None => {}
        }
    }

    /// The core refused the order's pending cancel or replace (or the venue did).
    pub fn refused(&mut self, slot: u32, reason: Reason) {
        let text = reason_text(reason.code(), reason.text());
        self.finish_pending(slot, CxlReason::of(reason), &text);
    }

    /// Answers the pending cancel or replace with an OrderCancelReject.
    fn finish_pending(&mut self, slot: u32, reason: CxlReason, text: &str) {
        let Some(o) = self.book.get_mut(slot) else {
            return;
        };
        let Some(p) = o.known.pending.take() else {
            return;
        };
        let c = CxlReject {
            cl: echo(p.cl.as_bytes()).unwrap_or_default(),
            orig_cl: echo(o.known.cl.as_bytes()).unwrap_or_default(),
            order: o.order,
            status: shown_status(o.known.status),
            response_to: if p.kind == b'F' { b'1' } else { b'2' },
            reason,
            text: Cow::Owned(text.to_string()),
        };
        let persist = Persist {
            slot,
            key: o.key,
            view: o.known,
        };
        self.queue(Report::CxlReject(c, Some(persist)));
    }

    /// A top of book the core refused (an instrument it does not know).
    pub fn quote_refused(&mut self, in_seq: u64, reason: Reason) {
        let code = match reason {
            Reason::UnknownInstrument | Reason::UnknownVenue => 2,
            _ => 0,
        };
        self.stats.refusals += 1;
        self.queue(Report::BizReject {
            ref_seq: in_seq,
            ref_msg_type: crate::model::ids::ShortStr::new("W").unwrap_or_default(),
            reason: code,
            text: reason_text(reason.code(), reason.text()),
        });
    }

    /// Everything the core said about a command has arrived.
    pub fn synced(&mut self, now: u64, kind: OpKind, courier: &mut Courier) {
        let _ = now;
        if let Some(o) = kind.slot().and_then(|s| self.book.get_mut(s)) {
            o.busy = o.busy.saturating_sub(1);
        }
        match kind {
            OpKind::Submit {
                slot,
                recovery: true,
            } => {
                // The order exists now (again or at last): ask where it stands.
                if let Some(id) = self.book.get(slot).and_then(|o| o.order) {
                    self.send(
                        courier,
                        Command::Query(OrderRef::Id(id)),
                        OpKind::Recover { slot },
                    );
                }
            }
            OpKind::Cancel { slot, cl } | OpKind::Replace { slot, cl } => {
                // Neither taken nor refused (the state machine had no transition for it).
                let untaken = self
                    .book
                    .get(slot)
                    .and_then(|o| o.known.pending)
                    .is_some_and(|p| p.cl == cl && !p.acked);
                if untaken {
                    self.finish_pending(
                        slot,
                        CxlReason::Other,
                        "ORDER_NOT_WORKING: the order is not in a state that allows this",
                    );
                }
            }
            OpKind::Status { slot, ask } => {
                let Some(o) = self.book.get(slot) else { return };
                let in_seq = ask.in_seq;
                let id = exec_id(o.order.map_or(0, |i| i.0), "I", format_args!("-{in_seq}"));
                let mut e = self.exec_of(o, b'I', id);
                e.cl = ask.cl;
                e.status_req = ask.req_id;
                self.queue(Report::Exec(e, None));
            }
            OpKind::Recover { slot } => {
                // A cancel or replace the core never got (the crash came first): send it
                // now; the client is still waiting for its answer.
                let Some(o) = self.book.get(slot) else { return };
                let Some(p) = o.known.pending.filter(|p| !p.acked) else {
                    return;
                };
                let Some(r) = self.order_ref(slot) else {
                    return;
                };
                let (cmd, kind) = if p.kind == b'F' {
                    (Command::Cancel(r), OpKind::Cancel { slot, cl: p.cl })
                } else {
                    let cmd = Command::Replace {
                        order: r,
                        quantity: Some(p.qty),
                        limit_price: p.px,
                    };
                    (cmd, OpKind::Replace { slot, cl: p.cl })
                };
                self.send(courier, cmd, kind);
            }
            OpKind::Submit { .. } | OpKind::Quote { .. } => {}
        }
    }
}
