//! NewOrderList (35=E) with ContingencyType 1: two orders linked one-cancels-other, as
//! a broker that offers OCO takes them (`--oco-lists`).

use super::{Id, Order, OutKind, Sim};
use execd::venue::fix::codec::{Field, Msg};
use execd::venue::fix::tag;

/// ContingencyType (1385) one-cancels-other.
const OCO: &[u8] = b"1";

impl Sim {
    /// Both legs are checked first: one the broker would refuse refuses the list
    /// (ListStatus 431=7, no leg taken). Then each is acknowledged and linked to the
    /// other before either may fill, so the first to fill cancels the other in the same
    /// instant.
    pub(super) fn new_list(&mut self, now: u64, sess: u32, msg: &Msg<'_>) {
        let list_id = Id::new(msg.get(tag::LIST_ID).unwrap_or(b""));
        let legs = legs_of(msg);
        // Each leg checked as it is numbered, as a NewOrderSingle would be.
        let mut refused = None;
        let mut orders: Vec<Order> = Vec::with_capacity(2);
        for fields in &legs {
            let o = self.order_from(sess, |t| get(fields, t));
            refused = refused.or(self.refusal(&o).map(|(_, text)| text));
            orders.push(o);
        }
        let why = if msg.get(tag::CONTINGENCY_TYPE) != Some(OCO) {
            Some("only one-cancels-other lists (ContingencyType 1385=1)")
        } else if orders.len() != 2 {
            Some("a one-cancels-other list has two orders")
        } else {
            refused
        };
        let cls = [
            orders.first().map_or(Id::EMPTY, |o| o.cl_ord_id),
            orders.get(1).map_or(Id::EMPTY, |o| o.cl_ord_id),
        ];
        if let Some(text) = why {
            self.counters.rejects += 1;
            let kind = OutKind::ListStatus {
                list_id,
                legs: cls,
                rejected: true,
                text,
            };
            self.send(now, sess, kind);
            return;
        }
        self.send(
            now,
            sess,
            OutKind::ListStatus {
                list_id,
                legs: cls,
                rejected: false,
                text: "",
            },
        );
        let a = self.open_new(now, orders.remove(0));
        let b = self.open_new(now, orders.remove(0));
        let (ea, eb) = (self.orders[a as usize].epoch, self.orders[b as usize].epoch);
        self.orders[a as usize].oco = Some((b, eb));
        self.orders[b as usize].oco = Some((a, ea));
        self.counters.lists += 1;
        self.evaluate(now, a, true);
        self.evaluate(now, b, true);
    }
}

/// The NoOrders (73) group's instances: each starts at a ClOrdID (11) after 73.
fn legs_of<'a>(msg: &Msg<'a>) -> Vec<Vec<Field<'a>>> {
    let mut legs: Vec<Vec<Field<'a>>> = Vec::new();
    let mut in_group = false;
    for f in msg.fields() {
        if f.tag == tag::NO_ORDERS {
            in_group = true;
            continue;
        }
        if !in_group {
            continue;
        }
        if f.tag == tag::CL_ORD_ID {
            legs.push(Vec::new());
        }
        // The trailer ends the group.
        if f.tag == tag::CHECK_SUM {
            break;
        }
        if let Some(l) = legs.last_mut() {
            l.push(f);
        }
    }
    legs
}

fn get<'a>(fields: &[Field<'a>], t: u32) -> Option<&'a [u8]> {
    fields.iter().find(|f| f.tag == t).map(|f| f.value)
}
