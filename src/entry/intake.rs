//! What a client sends, after the session has accepted it: new orders, cancels,
//! replaces and status requests become commands to the core; tops of book become
//! quotes; anything the gateway can refuse by itself (a ClOrdID in use, a value that
//! does not fit, an order it does not know) is answered at once.

use super::book::{status, ClientOrder, Pending, View};
use super::courier::{Courier, Op, OpKind, StatusAsk};
use super::desk::Desk;
use super::reports::{refusal_exec_id, CxlReason, CxlReject, Echo, Exec, Rej, Report, Terms};
use super::requests::{self, client_id, echo, Refusal};
use crate::model::event::Command;
use crate::model::ids::{OrderId, ShortStr};
use crate::venue::fix::codec::Msg;
use crate::venue::fix::tag;
use std::borrow::Cow;

impl Desk {
    /// One application message, in sequence, that passed validation.
    pub(super) fn on_message(&mut self, now: u64, m: &Msg<'_>, courier: &mut Courier) {
        let in_seq = m.seq().unwrap_or(0);
        match m.msg_type() {
            b"D" => self.new_order(now, m, in_seq, courier),
            b"F" => self.amend_request(now, m, in_seq, b'1', courier),
            b"G" => self.amend_request(now, m, in_seq, b'2', courier),
            b"H" => self.status_request(m, in_seq, courier),
            b"W" => self.top_of_book(m, in_seq, courier),
            other => {
                let text = format!(
                    "UNSUPPORTED: MsgType {} is not handled by execd's order entry",
                    String::from_utf8_lossy(other)
                );
                self.biz_reject(in_seq, other, 3, text);
            }
        }
    }

    fn biz_reject(&mut self, in_seq: u64, msg_type: &[u8], reason: u32, text: String) {
        self.stats.refusals += 1;
        let n = msg_type.len().min(8);
        self.queue(Report::BizReject {
            ref_seq: in_seq,
            ref_msg_type: ShortStr::from_bytes(&msg_type[..n]).unwrap_or_default(),
            reason,
            text: Cow::Owned(text),
        });
    }

    fn new_order(&mut self, now: u64, m: &Msg<'_>, in_seq: u64, courier: &mut Courier) {
        let Some(raw) = m.get(tag::CL_ORD_ID) else {
            return self.biz_reject(
                in_seq,
                b"D",
                5,
                "MISSING_FIELD: ClOrdID(11) is required".into(),
            );
        };
        let Some(cl_echo) = echo(raw) else {
            return self.biz_reject(
                in_seq,
                b"D",
                0,
                "BAD_FIELD: ClOrdID(11) is longer than 128 characters".into(),
            );
        };
        if let Some(slot) = self.book.find(raw) {
            if m.get(tag::POSS_DUP_FLAG) == Some(b"Y") {
                // The session's own resend of a message already handled (the store had
                // not recorded it as received when the process stopped).
                self.stats.duplicates_ignored += 1;
                return;
            }
            if m.get(tag::POSS_RESEND) == Some(b"Y") {
                // "Possibly sent before": the order's current status (R-IN-3).
                if let Some(r) = self.order_ref(slot) {
                    self.stats.status_requests += 1;
                    let kind = OpKind::Status {
                        slot,
                        ask: Box::new(StatusAsk {
                            cl: cl_echo,
                            req_id: None,
                            in_seq,
                        }),
                    };
                    self.send(courier, Command::Query(r), kind);
                }
                return;
            }
            let r = Refusal {
                code: "DUPLICATE_CLORDID",
                text: format!("ClOrdID(11) {cl_echo:?} is already in use on this session"),
                rej: Rej::Duplicate,
            };
            return self.refuse_order(m, in_seq, cl_echo, &r);
        }
        let cl = match client_id(&self.spec.name, raw) {
            Ok(c) => c,
            Err(r) => return self.refuse_order(m, in_seq, cl_echo, &r),
        };
        let req = match requests::new_order(m, &self.spec, &cl) {
            Ok(r) => r,
            Err(r) => return self.refuse_order(m, in_seq, cl_echo, &r),
        };
        let inst = self
            .reg
            .venue(&req.venue)
            .and_then(|v| self.reg.instrument(v, &req.symbol));
        let o = ClientOrder {
            key: cl,
            req,
            in_seq,
            order: None,
            inst,
            known: View::new(cl, &req),
            told: View::new(cl, &req),
            busy: 0,
            aliases: Vec::new(),
        };
        let Ok(slot) = self.book.insert(o, false) else {
            let r = Refusal {
                code: "SESSION_FULL",
                text: format!(
                    "the session holds {} orders, none finished: no room for another",
                    self.book.len()
                ),
                rej: Rej::ExceedsLimit,
            };
            return self.refuse_order(m, in_seq, cl_echo, &r);
        };
        // Before the core has it: a crash from here on submits it again at restart.
        if let Some(log) = self.log.as_mut() {
            log.order(now, &cl, in_seq, &req);
        }
        self.stats.orders += 1;
        self.send(
            courier,
            Command::Submit(req),
            OpKind::Submit {
                slot,
                recovery: false,
            },
        );
    }

    /// A rejected ExecutionReport for a NewOrderSingle the core never saw.
    fn refuse_order(&mut self, m: &Msg<'_>, in_seq: u64, cl: Echo, r: &Refusal) {
        self.stats.refusals += 1;
        let e = Exec {
            exec_type: b'8',
            status: status::REJECTED,
            order: None,
            exec_id: refusal_exec_id(cl.as_bytes(), in_seq),
            cl,
            orig_cl: None,
            terms: self.raw_terms(m),
            qty: m.get_dec(tag::ORDER_QTY),
            price: m.get_dec(tag::PRICE),
            stop_px: m.get_dec(tag::STOP_PX),
            last: None,
            cum: (0, 0),
            leaves: (0, 0),
            avg: (0, 0),
            text: Cow::Owned(r.message()),
            rej: Some(r.rej),
            status_req: None,
        };
        self.queue(Report::Exec(e, None));
    }

    /// The order terms of a message, echoed as far as they can be.
    fn raw_terms(&self, m: &Msg<'_>) -> Terms {
        let first = |t: u32| m.get(t).and_then(|v| v.first().copied()).unwrap_or(0);
        let side = match first(54) {
            0 => b'1',
            s => s,
        };
        Terms {
            account: m
                .get(tag::ACCOUNT)
                .and_then(echo)
                .unwrap_or_else(|| echo(self.spec.account.as_bytes()).unwrap_or_default()),
            symbol: m.get(tag::SYMBOL).and_then(echo).unwrap_or_default(),
            side,
            ord_type: first(40),
            tif: first(59),
        }
    }

    /// OrderCancelRequest (`response_to` b'1') or OrderCancelReplaceRequest (b'2').
    fn amend_request(
        &mut self,
        now: u64,
        m: &Msg<'_>,
        in_seq: u64,
        response_to: u8,
        courier: &mut Courier,
    ) {
        let mt: &[u8] = if response_to == b'1' { b"F" } else { b"G" };
        let Some(raw) = m.get(tag::CL_ORD_ID) else {
            return self.biz_reject(
                in_seq,
                mt,
                5,
                "MISSING_FIELD: ClOrdID(11) is required".into(),
            );
        };
        let (Some(cl_echo), Some(orig_echo)) =
            (echo(raw), echo(m.get(tag::ORIG_CL_ORD_ID).unwrap_or(b"")))
        else {
            return self.biz_reject(
                in_seq,
                mt,
                0,
                "BAD_FIELD: ClOrdID(11) or OrigClOrdID(41) is longer than 128 characters".into(),
            );
        };
        let refuse = |d: &mut Desk, slot: Option<u32>, reason: CxlReason, text: String| {
            d.stats.refusals += 1;
            let (order, st) = match slot.and_then(|s| d.book.get(s)) {
                Some(o) => (o.order, shown_status(o.known.status)),
                None => (None, status::REJECTED),
            };
            d.queue(Report::CxlReject(
                CxlReject {
                    cl: cl_echo,
                    orig_cl: orig_echo,
                    order,
                    status: st,
                    response_to,
                    reason,
                    text: Cow::Owned(text),
                },
                None,
            ));
        };
        if self.book.find(raw).is_some() {
            if m.get(tag::POSS_DUP_FLAG) == Some(b"Y") {
                self.stats.duplicates_ignored += 1;
                return;
            }
            let text = format!(
                "DUPLICATE_CLORDID: ClOrdID(11) {cl_echo:?} is already in use on this session"
            );
            return refuse(self, None, CxlReason::Duplicate, text);
        }
        let slot = m
            .get(tag::ORIG_CL_ORD_ID)
            .and_then(|o| self.book.find(o))
            .or_else(|| {
                m.get_u64(tag::ORDER_ID)
                    .and_then(|id| self.book.by_order(OrderId(id)))
            });
        let Some(slot) = slot else {
            let text = format!(
                "UNKNOWN_ORDER: no order with OrigClOrdID(41) {orig_echo:?} on this session"
            );
            return refuse(self, None, CxlReason::UnknownOrder, text);
        };
        let Some(o) = self.book.get(slot) else { return };
        if o.known.pending.is_some() {
            let text =
                "ORDER_PENDING: a cancel or replace of this order is waiting for its answer".into();
            return refuse(self, Some(slot), CxlReason::Pending, text);
        }
        if status::is_terminal(o.known.status) {
            let text =
                "ORDER_DONE: the order is finished (filled, canceled, rejected or expired)".into();
            return refuse(self, Some(slot), CxlReason::TooLate, text);
        }
        let cl = match client_id(&self.spec.name, raw) {
            Ok(c) => c,
            Err(r) => return refuse(self, Some(slot), CxlReason::Other, r.message()),
        };
        if !self.book.has_room_for_alias(slot) {
            let text = "TOO_MANY_AMENDMENTS: this order has had as many cancel and replace requests as the gateway remembers".into();
            return refuse(self, Some(slot), CxlReason::Other, text);
        }
        let (qty, px, cmd) = if response_to == b'1' {
            let Some(r) = self.order_ref(slot) else {
                return;
            };
            (o.known.qty, o.known.px, Command::Cancel(r))
        } else {
            let a = match requests::amend(m, &o.req) {
                Ok(a) => a,
                Err(r) => return refuse(self, Some(slot), CxlReason::Other, r.message()),
            };
            let Some(r) = self.order_ref(slot) else {
                return;
            };
            let cmd = Command::Replace {
                order: r,
                quantity: Some(a.qty),
                limit_price: a.px,
            };
            (a.qty, a.px, cmd)
        };
        let pending = Pending {
            kind: mt[0],
            cl,
            qty,
            px,
            acked: false,
        };
        self.book.alias(slot, cl);
        let Some(o) = self.book.get_mut(slot) else {
            return;
        };
        o.known.pending = Some(pending);
        o.told.pending = Some(pending);
        let (key, order, told) = (o.key, o.order, o.told);
        // Remembered before the core has it: a crash from here on asks the core
        // whether it arrived, and sends it again if not.
        if let Some(log) = self.log.as_mut() {
            log.state(now, &key, order, &told, 0);
        }
        self.stats.amends += 1;
        let kind = if response_to == b'1' {
            OpKind::Cancel { slot, cl }
        } else {
            OpKind::Replace { slot, cl }
        };
        self.send(courier, cmd, kind);
    }

    fn status_request(&mut self, m: &Msg<'_>, in_seq: u64, courier: &mut Courier) {
        let raw = m.get(tag::CL_ORD_ID).unwrap_or(b"");
        let Some(cl) = echo(raw) else {
            return self.biz_reject(
                in_seq,
                b"H",
                0,
                "BAD_FIELD: ClOrdID(11) is longer than 128 characters".into(),
            );
        };
        let req_id = m.get(tag::ORD_STATUS_REQ_ID).and_then(echo);
        let slot = self.book.find(raw).or_else(|| {
            m.get_u64(tag::ORDER_ID)
                .and_then(|id| self.book.by_order(OrderId(id)))
        });
        self.stats.status_requests += 1;
        match slot.and_then(|s| self.order_ref(s).map(|r| (s, r))) {
            Some((slot, r)) => {
                let kind = OpKind::Status {
                    slot,
                    ask: Box::new(StatusAsk { cl, req_id, in_seq }),
                };
                self.send(courier, Command::Query(r), kind);
            }
            None => {
                let e = Exec {
                    exec_type: b'I',
                    status: status::REJECTED,
                    order: None,
                    exec_id: refusal_exec_id(cl.as_bytes(), in_seq),
                    cl,
                    orig_cl: None,
                    terms: self.raw_terms(m),
                    qty: None,
                    price: None,
                    stop_px: None,
                    last: None,
                    cum: (0, 0),
                    leaves: (0, 0),
                    avg: (0, 0),
                    text: Cow::Owned(format!(
                        "UNKNOWN_ORDER: no order with ClOrdID(11) {cl:?} on this session"
                    )),
                    rej: Some(Rej::UnknownOrder),
                    status_req: req_id,
                };
                self.queue(Report::Exec(e, None));
            }
        }
    }

    /// A MarketDataSnapshotFullRefresh: upstream's top of book for the session's venue
    /// (R-VEN-6: quotes reach the gate from upstream too).
    fn top_of_book(&mut self, m: &Msg<'_>, in_seq: u64, courier: &mut Courier) {
        match requests::top_of_book(m) {
            Err(r) => self.biz_reject(in_seq, b"W", 5, r.message()),
            Ok(t) => {
                self.stats.quotes += 1;
                courier.send(
                    Command::Quote {
                        venue: self.spec.venue,
                        symbol: t.symbol,
                        bid: t.bid,
                        ask: t.ask,
                        bid_size: t.bid_size,
                        ask_size: t.ask_size,
                    },
                    Op {
                        desk: self.index,
                        kind: OpKind::Quote { in_seq },
                    },
                );
            }
        }
    }
}

/// OrdStatus as a report shows it: an order nothing was reported about yet is pending
/// new.
pub(super) fn shown_status(s: u8) -> u8 {
    if s == status::NONE {
        status::PENDING_NEW
    } else {
        s
    }
}
