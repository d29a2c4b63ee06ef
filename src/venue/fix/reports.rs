//! What a broker's messages mean to the core: execution reports, status answers, cancel
//! rejects, business rejects and position reports become venue events. Every value is
//! input, not truth (R-RES-5): read with checked arithmetic into the instrument's scale
//! and range, and what does not fit is an anomaly with the raw message, never booked.

use super::codec::Msg;
use crate::config::Registry;
use crate::model::fixed::{rescale, Money, Price, Qty, MONEY_SCALE};
use crate::model::ids::{ClOrdId, InstrumentId, Name, OrderId, VenueId};
use crate::model::reason::Reason;
use crate::venue::{VenueEvent, VenueEventKind, VenueOrderState};
use std::collections::VecDeque;
use std::sync::Arc;

/// Messages remembered by sequence number, to route a session reject to its order.
pub(super) const SENT_MAP: usize = 4096;

/// Counters an operator reads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FixStats {
    /// Connections established.
    pub connects: u64,
    /// Connection attempts that failed.
    pub connect_failures: u64,
    /// Logons completed.
    pub logons: u64,
    /// Application messages sent.
    pub sent: u64,
    /// Application messages received.
    pub received: u64,
    /// Messages the core asked for while the session was down (left to time out).
    pub unsent: u64,
    /// Reports for orders this core did not send, or that could not be read.
    pub anomalies: u64,
    /// Trade corrections and busts received (reported, not applied).
    pub trade_corrections: u64,
    /// Messages that failed dictionary validation (rejected, still applied).
    pub invalid: u64,
    /// Status requests sent for orders whose outcome was unknown.
    pub status_requests: u64,
    /// Position reports received.
    pub position_reports: u64,
    /// Requests the broker said it does not support (mass status, positions).
    pub unsupported: u64,
    /// Messages from the broker this venue does not handle (answered with 35=j).
    pub unsupported_received: u64,
}

/// What the venue remembers of an order to fill in cancels and replaces.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Sent {
    pub(super) order: u64,
    pub(super) instrument: u16,
    pub(super) account: u16,
    pub(super) side: u8,
    pub(super) order_type: u8,
    pub(super) tif: u8,
    pub(super) qty: i64,
    pub(super) limit: i64,
    pub(super) stop: i64,
}

/// Turns inbound application messages into venue events.
pub(super) struct Mapping {
    pub(super) reg: Arc<Registry>,
    pub(super) venue: VenueId,
    pub(super) orders: Vec<Sent>,
    pub(super) by_seq: Vec<(u64, u8, ClOrdId)>,
    pub(super) stats: FixStats,
    /// Net position per account × instrument as the broker last reported it.
    pub(super) positions: Vec<Option<i64>>,
    /// Inbound messages to answer with a BusinessMessageReject (seq, MsgType).
    pub(super) to_reject: Vec<(u64, [u8; 8], u8)>,
}

impl Mapping {
    pub(super) fn slot(&self, order: OrderId) -> usize {
        (order.0 % self.orders.len() as u64) as usize
    }

    pub(super) fn sent(&self, order: OrderId) -> Option<&Sent> {
        let s = &self.orders[self.slot(order)];
        (s.order == order.0).then_some(s)
    }

    pub(super) fn instrument(&self, msg: &Msg<'_>, cl: ClOrdId) -> Option<InstrumentId> {
        if let Some(s) = self.sent(cl.order) {
            return Some(InstrumentId(s.instrument));
        }
        let sym = Name::from_bytes(msg.get(55)?).ok()?;
        self.reg.instrument(self.venue, &sym)
    }

    pub(super) fn px(&self, msg: &Msg<'_>, tag: u32, inst: InstrumentId) -> Option<i64> {
        let d = msg.get_dec(tag)?;
        let scale = self.reg.instruments[inst.0 as usize].price_scale;
        Some(rescale(d.mant as i128, d.scale as i32, scale as i32) as i64)
    }

    pub(super) fn qty(&self, msg: &Msg<'_>, tag: u32, inst: InstrumentId) -> Option<i64> {
        let d = msg.get_dec(tag)?;
        let scale = self.reg.instruments[inst.0 as usize].qty_scale;
        d.to_scale(scale)
    }

    pub(super) fn push(
        &mut self,
        q: &mut VecDeque<VenueEvent>,
        now: u64,
        seq: u64,
        kind: VenueEventKind,
    ) {
        q.push_back(VenueEvent {
            at_ns: now,
            kind,
            src_seq: seq,
        });
    }

    pub(super) fn anomaly(&mut self, what: &str, msg: &Msg<'_>) {
        self.stats.anomalies += 1;
        // Rare by construction; an operator needs the message itself.
        eprintln!(
            "execd: fix venue {}: {what}: {}",
            self.reg.venues[self.venue.0 as usize].name.as_str(),
            String::from_utf8_lossy(msg.raw()).replace('\x01', "|")
        );
    }

    pub(super) fn on_app(&mut self, q: &mut VecDeque<VenueEvent>, now: u64, msg: &Msg<'_>) {
        self.stats.received += 1;
        let seq = msg.seq().unwrap_or(0);
        match msg.msg_type() {
            b"8" => self.on_report(q, now, seq, msg),
            b"9" => {
                let Some(cl) = cl_of(msg.get(11)) else {
                    return self.anomaly("cancel reject for an unknown ClOrdID", msg);
                };
                let reason = match msg.get(102) {
                    Some(b"1") => Reason::VenueUnknownOrder,
                    _ => Reason::VenueRejected,
                };
                let kind = match msg.get(434) {
                    Some(b"2") => VenueEventKind::ReplaceRejected { cl, reason },
                    _ => VenueEventKind::CancelRejected { cl, reason },
                };
                self.push(q, now, seq, kind);
                // "Too late: it is filled / canceled / expired" says where the order is,
                // which the core may not know (the report that told it was lost). Its
                // quantities are not here: for a fill the core asks.
                if let Some(
                    state @ (VenueOrderState::Filled
                    | VenueOrderState::Canceled
                    | VenueOrderState::Expired),
                ) = venue_state(msg)
                {
                    let filled = None;
                    self.push(q, now, seq, VenueEventKind::Status { cl, state, filled });
                }
            }
            b"AP" => self.on_position(msg),
            // No positions to report (728=2), or the request refused: nothing to change.
            b"AO" => {}
            b"j" if matches!(
                msg.get_u64(45).and_then(|r| self.by_seq(r)),
                Some((b'N' | b'S', _))
            ) =>
            {
                // The broker does not offer mass status or positions: noted, not an error.
                self.stats.unsupported += 1;
            }
            b"j" => {
                // A business reject of one of our requests: route it to its order.
                let by_ref = msg.get_u64(45).and_then(|r| self.by_seq(r));
                let by_id = cl_of(msg.get(379)).map(|cl| (0u8, cl));
                match by_ref.or(by_id) {
                    Some((t, cl)) => self.refused(q, now, seq, t, cl, Reason::VenueRejected),
                    None => self.anomaly("business reject of nothing we sent", msg),
                }
            }
            // Anything else this venue does not handle: BusinessMessageReject, 380=3.
            other => {
                self.stats.unsupported_received += 1;
                let mut t = [0u8; 8];
                let n = other.len().min(8);
                t[..n].copy_from_slice(&other[..n]);
                if self.to_reject.len() < 1024 {
                    self.to_reject.push((seq, t, n as u8));
                }
            }
        }
    }

    /// A PositionReport: the first PositionQty entry's long minus short quantity.
    fn on_position(&mut self, msg: &Msg<'_>) {
        let account = msg
            .get(1)
            .and_then(|a| Name::from_bytes(a).ok())
            .and_then(|a| self.reg.account(&a));
        let inst = msg
            .get(55)
            .and_then(|s| Name::from_bytes(s).ok())
            .and_then(|s| self.reg.instrument(self.venue, &s));
        let (Some(a), Some(i)) = (account, inst) else {
            return self.anomaly("position report for an unknown account or symbol", msg);
        };
        let long = self.qty(msg, 704, i).unwrap_or(0);
        let short = self.qty(msg, 705, i).unwrap_or(0);
        let k = a.0 as usize * self.reg.instruments.len() + i.0 as usize;
        self.positions[k] = Some(long - short);
        self.stats.position_reports += 1;
    }

    pub(super) fn by_seq(&self, seq: u64) -> Option<(u8, ClOrdId)> {
        let (s, t, cl) = self.by_seq[(seq % SENT_MAP as u64) as usize];
        (s == seq).then_some((t, cl))
    }

    /// A request of ours refused outright (35=3 or 35=j).
    pub(super) fn refused(
        &mut self,
        q: &mut VecDeque<VenueEvent>,
        now: u64,
        seq: u64,
        msg_type: u8,
        cl: ClOrdId,
        reason: Reason,
    ) {
        let kind = match msg_type {
            b'F' => VenueEventKind::CancelRejected { cl, reason },
            b'G' => VenueEventKind::ReplaceRejected { cl, reason },
            _ => VenueEventKind::Rejected { cl, reason },
        };
        self.push(q, now, seq, kind);
    }

    fn on_report(&mut self, q: &mut VecDeque<VenueEvent>, now: u64, seq: u64, msg: &Msg<'_>) {
        let Some(cl) = cl_of(msg.get(11)) else {
            // "No open orders" in answer to our mass status request is not a surprise.
            if msg.get(584).is_some() && msg.get(150) == Some(b"I") {
                return;
            }
            return self.anomaly("execution report for an order this core did not send", msg);
        };
        // ExecType is one character: `FF` is not a fill, it is unreadable.
        let exec_type = match msg.get(150) {
            Some(&[c]) => c,
            _ => return self.anomaly("execution report without a one-character ExecType", msg),
        };
        let fix42 = msg.get(8) == Some(b"FIX.4.2");
        // Answers to a status request (ExecType I; FIX 4.2: ExecTransType 3 "status"),
        // restatements, and mass status reports say where the order stands.
        if exec_type == b'I'
            || exec_type == b'D'
            || msg.get(584).is_some()
            || (fix42 && msg.get(20) == Some(b"3"))
        {
            return self.on_status(q, now, seq, cl, msg);
        }
        // FIX 4.2 reports executions as ExecType 1/2 (partial/fill); 4.4 and later as F.
        let fix42_fill = fix42 && matches!(exec_type, b'1' | b'2');
        let kind = match exec_type {
            b'0' => VenueEventKind::Ack {
                cl,
                venue_order_id: id_of(msg.get(37)),
            },
            b'F' | b'1' | b'2' if exec_type == b'F' || fix42_fill => {
                let Some(inst) = self.instrument(msg, cl) else {
                    return self.anomaly("fill for an unknown instrument", msg);
                };
                let (Some(px), Some(qty)) = (self.px(msg, 31, inst), self.qty(msg, 32, inst))
                else {
                    return self.anomaly("fill without a readable LastPx/LastQty", msg);
                };
                // Commission (12) is taken as an amount of account currency (CommType 3).
                let fee = msg
                    .get_dec(12)
                    .map(|d| rescale(d.mant as i128, d.scale as i32, MONEY_SCALE as i32) as i64)
                    .unwrap_or(0);
                VenueEventKind::Fill {
                    cl,
                    exec_id: id_of(msg.get(17)),
                    px: Price(px),
                    qty: Qty(qty),
                    fee: Money(fee),
                    cum: self.qty(msg, 14, inst).filter(|c| *c >= 0).map(Qty),
                }
            }
            b'4' => VenueEventKind::Canceled { cl },
            b'5' => {
                let Some(inst) = self.instrument(msg, cl) else {
                    return self.anomaly("replace for an unknown instrument", msg);
                };
                let qty = self.qty(msg, 38, inst).unwrap_or(0);
                let limit = self
                    .px(msg, 44, inst)
                    .or_else(|| self.px(msg, 99, inst))
                    .unwrap_or(0);
                if let Some(s) = self.sent(cl.order).copied() {
                    let i = self.slot(cl.order);
                    self.orders[i] = Sent { qty, limit, ..s };
                }
                VenueEventKind::Replaced {
                    cl,
                    qty: Qty(qty),
                    limit: Price(limit),
                }
            }
            b'8' => VenueEventKind::Rejected {
                cl,
                reason: match msg.get(103) {
                    Some(b"3") => Reason::VenueFunds,
                    Some(b"5") => Reason::VenueUnknownOrder,
                    _ => Reason::VenueRejected,
                },
            },
            b'C' => VenueEventKind::Expired { cl },
            b'G' | b'H' => {
                // The OMS has no fill correction yet: report loudly, apply nothing.
                self.stats.trade_corrections += 1;
                return self.anomaly("trade correction/bust not applied", msg);
            }
            // Pending new/cancel/replace, done for day, calculated: nothing changes yet.
            _ => return,
        };
        self.push(q, now, seq, kind);
    }
}

impl Mapping {
    /// A status answer: where the order stands, and what it filled (CumQty, AvgPx — an
    /// answer without them cannot settle anything and is an anomaly).
    fn on_status(
        &mut self,
        q: &mut VecDeque<VenueEvent>,
        now: u64,
        seq: u64,
        cl: ClOrdId,
        msg: &Msg<'_>,
    ) {
        let Some(state) = venue_state(msg) else {
            return self.anomaly("status answer without a readable OrdStatus", msg);
        };
        let filled = match self.instrument(msg, cl) {
            Some(inst) => match (self.qty(msg, 14, inst), self.px(msg, 6, inst)) {
                (Some(cum), Some(avg)) if cum >= 0 && avg >= 0 => Some((Qty(cum), Price(avg))),
                _ => None,
            },
            // "Unknown order" answers carry no symbol of ours; nothing was filled.
            None if state == VenueOrderState::Unknown => Some((Qty(0), Price(0))),
            None => None,
        };
        if filled.is_none() {
            return self.anomaly("status answer without a readable CumQty/AvgPx", msg);
        }
        self.push(q, now, seq, VenueEventKind::Status { cl, state, filled });
    }
}

/// An order's state as a report's OrdStatus (39) gives it; `None` if unreadable.
fn venue_state(msg: &Msg<'_>) -> Option<VenueOrderState> {
    let Some(&[s]) = msg.get(39) else {
        return None;
    };
    Some(match s {
        b'0' | b'1' | b'A' | b'9' | b'3' | b'7' | b'5' => VenueOrderState::Working,
        b'6' | b'E' => VenueOrderState::Pending,
        b'2' | b'B' => VenueOrderState::Filled,
        b'4' => VenueOrderState::Canceled,
        b'C' => VenueOrderState::Expired,
        // "Unknown order": OrdRejReason 5, or no OrderID the venue could give.
        b'8' if msg.get(103) == Some(b"5") || matches!(msg.get(37), None | Some(b"NONE")) => {
            VenueOrderState::Unknown
        }
        b'8' => VenueOrderState::Rejected,
        _ => return None,
    })
}

/// Parses a ClOrdID this core wrote.
pub(super) fn cl_of(v: Option<&[u8]>) -> Option<ClOrdId> {
    ClOrdId::parse(std::str::from_utf8(v?).ok()?)
}

/// A venue's id string as a number: itself if numeric, else its hash.
pub(super) fn id_of(v: Option<&[u8]>) -> u64 {
    match v {
        None => 0,
        Some(b) => super::codec::parse_u64(b).unwrap_or_else(|| xxhash_rust::xxh3::xxh3_64(b)),
    }
}

#[cfg(test)]
mod tests;
