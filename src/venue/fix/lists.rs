//! Protective orders at the broker (R-OMS-5): the reduce-only ExecInst and stop-loss /
//! take-profit pairs sent as one one-cancels-other NewOrderList (35=E, ContingencyType
//! 1385 = 1), the broker's ListStatus (35=N) about them, and the start-time check that
//! the session's dictionary has every field this needs.

use super::codec::{Encoder, Msg};
use super::dictionary::Dictionary;
use super::reports::{cl_of, Mapping, Sent};
use super::settings::FixSpec;
use super::venue::{ord_type_char, put_cl, side_char, tif_char, Terms};
use super::{msg_type, tag};
use crate::model::ids::ClOrdId;
use crate::model::reason::Reason;
use crate::venue::{VenueEvent, VenueEventKind};
use std::collections::VecDeque;

/// Lists whose legs a ListStatus naming only the ListID can still reach.
pub(super) const LISTS_KEPT: usize = 1024;

/// The fields of one leg in a NewOrderList's NoOrders (73) group, as written when the
/// dictionary does not say otherwise (the FIX 4.4 / 5.0SP2 ListOrdGrp order).
const LEG_TAGS: [u32; 12] = [
    tag::CL_ORD_ID,
    tag::LIST_SEQ_NO,
    tag::ACCOUNT,
    tag::EXEC_INST,
    tag::SYMBOL,
    tag::SIDE,
    tag::TRANSACT_TIME,
    tag::ORDER_QTY,
    tag::ORD_TYPE,
    tag::PRICE,
    tag::STOP_PX,
    tag::TIME_IN_FORCE,
];

/// ContingencyType (1385) one-cancels-other.
const OCO: u8 = b'1';
/// BidType (394) "no bidding process": a list sent for execution as it is.
const NO_BIDDING: u8 = b'3';
/// ListOrderStatus (431) reject.
const LIST_REJECTED: &[u8] = b"7";

/// How this venue sends protective orders, as checked against its dictionary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Protective {
    /// ExecInst (18) value for reduce-only orders.
    pub(super) exec_inst: Option<u8>,
    /// Legs as one OCO NewOrderList, their group's fields in this order.
    pub(super) list: Option<[u32; LEG_TAGS.len()]>,
}

impl Protective {
    /// Checks `spec`'s ReduceOnlyExecInst and OcoOrderList against the session's
    /// dictionary (`dict`; the built-in one of its version when it names none), so a
    /// broker that would refuse every protective order is found at start, not at the
    /// first fill.
    pub(super) fn check(spec: &FixSpec, dict: Option<&Dictionary>) -> Result<Protective, String> {
        if spec.reduce_only_exec_inst.is_none() && !spec.oco_order_list {
            return Ok(Protective::default());
        }
        let builtin;
        let d = match dict {
            Some(d) => d,
            None => {
                let version = match spec.session.begin_string.as_str() {
                    "FIXT.1.1" => "FIX.5.0SP2",
                    v => v,
                };
                builtin = Dictionary::builtin(version).map_err(|e| e.0)?;
                &builtin
            }
        };
        let mut p = Protective::default();
        if let Some(c) = spec.reduce_only_exec_inst {
            for m in [
                msg_type::NEW_ORDER_SINGLE,
                msg_type::ORDER_CANCEL_REPLACE_REQUEST,
            ] {
                if !d.is_in_message(m, tag::EXEC_INST) {
                    return Err(format!(
                        "ReduceOnlyExecInst: the dictionary has no ExecInst (18) in MsgType {}",
                        String::from_utf8_lossy(m)
                    ));
                }
            }
            if !d.is_valid_value(tag::EXEC_INST, &[c]) {
                return Err(format!(
                    "ReduceOnlyExecInst: {:?} is not an ExecInst (18) value of the dictionary (an overlay can add the broker's)",
                    c as char
                ));
            }
            p.exec_inst = Some(c);
        }
        if spec.oco_order_list {
            let e = msg_type::NEW_ORDER_LIST;
            for (t, name) in [
                (tag::LIST_ID, "ListID"),
                (tag::BID_TYPE, "BidType"),
                (tag::CONTINGENCY_TYPE, "ContingencyType"),
                (tag::TOT_NO_ORDERS, "TotNoOrders"),
            ] {
                if !d.is_in_message(e, t) {
                    return Err(format!(
                        "OcoOrderList: the dictionary's NewOrderList (35=E) has no {name} ({t}){}",
                        if t == tag::CONTINGENCY_TYPE {
                            " — FIX 4.4 has none; an overlay adds it for a broker whose dialect does"
                        } else {
                            ""
                        }
                    ));
                }
            }
            if !d.is_valid_value(tag::CONTINGENCY_TYPE, &[OCO]) {
                return Err("OcoOrderList: ContingencyType (1385) has no value 1 (OCO)".into());
            }
            if !d.has_msg_type(msg_type::LIST_STATUS) {
                return Err("OcoOrderList: the dictionary has no ListStatus (35=N)".into());
            }
            let group = d
                .group_fields(e, tag::NO_ORDERS)
                .ok_or("OcoOrderList: the dictionary's NewOrderList has no NoOrders (73) group")?;
            let mut order = LEG_TAGS;
            for t in order {
                if (t != tag::EXEC_INST || p.exec_inst.is_some()) && !group.contains(&t) {
                    return Err(format!(
                        "OcoOrderList: the dictionary's NoOrders (73) group has no {} ({t})",
                        d.field_name(t).unwrap_or("field")
                    ));
                }
            }
            order.sort_by_key(|t| group.iter().position(|g| g == t).unwrap_or(usize::MAX));
            if order[0] != group[0] {
                return Err(format!(
                    "OcoOrderList: the NoOrders (73) group starts with tag {}, not ClOrdID (11)",
                    group[0]
                ));
            }
            p.list = Some(order);
        }
        Ok(p)
    }
}

/// The body of a NewOrderList of the two legs (`Sent`, ClOrdID, terms), one-cancels-
/// other: ListID (the first leg's ClOrdID), BidType, ContingencyType, TotNoOrders, then
/// the NoOrders group with each leg's fields in `order`.
pub(super) fn list_body(
    e: &mut Encoder,
    order: &[u32; LEG_TAGS.len()],
    legs: [(&Sent, ClOrdId, &Terms); 2],
    now: u64,
) {
    put_cl(e, tag::LIST_ID, legs[0].1);
    e.char(tag::BID_TYPE, NO_BIDDING);
    e.char(tag::CONTINGENCY_TYPE, OCO);
    e.uint(tag::TOT_NO_ORDERS, 2);
    e.uint(tag::NO_ORDERS, 2);
    for (seq, (s, cl, t)) in legs.into_iter().enumerate() {
        for &f in order {
            match f {
                tag::CL_ORD_ID => {
                    put_cl(e, f, cl);
                }
                tag::LIST_SEQ_NO => {
                    e.uint(f, seq as u64 + 1);
                }
                tag::ACCOUNT => {
                    e.bytes(f, t.account.as_bytes());
                }
                tag::EXEC_INST => {
                    if let Some(c) = t.exec_inst {
                        e.char(f, c);
                    }
                }
                tag::SYMBOL => {
                    e.bytes(f, t.symbol.as_bytes());
                }
                tag::SIDE => {
                    e.char(f, side_char(s.side));
                }
                tag::TRANSACT_TIME => {
                    e.timestamp(f, now, t.micros);
                }
                tag::ORDER_QTY => {
                    e.fixed(f, s.qty, t.qty_scale);
                }
                tag::ORD_TYPE => {
                    e.char(f, ord_type_char(s.order_type));
                }
                tag::PRICE if s.order_type.has_limit() => {
                    e.fixed(f, s.limit, t.price_scale);
                }
                tag::STOP_PX if s.order_type.has_stop() => {
                    e.fixed(f, s.stop, t.price_scale);
                }
                tag::TIME_IN_FORCE => {
                    e.char(f, tif_char(s.tif));
                }
                _ => {}
            }
        }
    }
}

impl Mapping {
    /// Remembers a list's legs under its ListID.
    pub(super) fn remember_list(&mut self, a: ClOrdId, b: ClOrdId) {
        if self.lists.is_empty() {
            self.lists = vec![(ClOrdId::default(), ClOrdId::default()); LISTS_KEPT];
        }
        self.lists[a.order.0 as usize % LISTS_KEPT] = (a, b);
    }

    /// A ListStatus (35=N). Only a refusal of the whole list (ListOrderStatus 7) changes
    /// what the core books: each leg it names — or, naming none, each leg of the list
    /// its ListID is — is rejected. The legs' own ExecutionReports tell the rest.
    pub(super) fn on_list_status(
        &mut self,
        q: &mut VecDeque<VenueEvent>,
        now: u64,
        seq: u64,
        msg: &Msg<'_>,
    ) {
        if msg.get(tag::LIST_ORDER_STATUS) != Some(LIST_REJECTED) {
            return;
        }
        let reason = Reason::VenueRejected;
        let mut named = 0;
        for f in msg.fields() {
            if f.tag == tag::CL_ORD_ID {
                if let Some(cl) = cl_of(Some(f.value)) {
                    named += 1;
                    self.push(q, now, seq, VenueEventKind::Rejected { cl, reason });
                }
            }
        }
        if named > 0 {
            return;
        }
        let first = cl_of(msg.get(tag::LIST_ID));
        let legs = first.and_then(|a| {
            let &(x, y) = self.lists.get(a.order.0 as usize % LISTS_KEPT)?;
            (x == a).then_some((x, y))
        });
        match legs {
            Some((a, b)) => {
                self.push(q, now, seq, VenueEventKind::Rejected { cl: a, reason });
                self.push(q, now, seq, VenueEventKind::Rejected { cl: b, reason });
            }
            None => self.anomaly(
                "list refused for a ListID this session has no record of",
                msg,
            ),
        }
    }
}

#[cfg(test)]
mod tests;
