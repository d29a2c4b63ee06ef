//! The live order store: a fixed-capacity slab indexed by order id, plus a map by
//! request id.
//!
//! An order lives in slot `id % capacity`, so finding it by id is an array access, not a
//! hash lookup. New ids skip any number whose slot still holds a working order, so ids
//! stay unique and increasing and a long-lived order is never overwritten; a finished
//! order's slot is reused when the id counter comes round to it. Capacity is set (and
//! its memory touched) at start and never grows: steady-state trading does not allocate
//! or page-fault. Idempotency (R-IN-3) holds for every order still held.

use super::order::{Order, Terms};
use crate::model::fixed::Money;
use crate::model::ids::{OrderId, RequestId};
use rustc_hash::{FxHashMap, FxHashSet};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Slot {
    Empty,
    Working,
    Finished,
}

/// Orders by id and by request id.
pub struct OrderBook {
    slots: Vec<Order>,
    state: Vec<Slot>,
    by_request: FxHashMap<RequestId, OrderId>,
    overflow_execs: FxHashSet<(u64, u64)>,
    held: usize,
    retired: u64,
}

impl OrderBook {
    /// A book that holds up to `capacity` orders without allocating.
    pub(crate) fn with_capacity(capacity: usize) -> OrderBook {
        let capacity = capacity.max(1);
        let blank = Order::new(OrderId(0), 0, Terms::BLANK, Money(0));
        // vec! writes every element: the pages are faulted in now, not mid-session.
        let slots = vec![blank; capacity];
        let mut by_request = FxHashMap::default();
        by_request.reserve(capacity);
        // Touch the table's memory too, then empty it; capacity is kept.
        for i in 0..capacity as u64 {
            by_request.insert(
                RequestId::from_prefixed_u64("", i).unwrap_or_default(),
                OrderId(i),
            );
        }
        by_request.clear();
        let mut overflow_execs = FxHashSet::default();
        overflow_execs.reserve(capacity / 4 + 16);
        OrderBook {
            slots,
            state: vec![Slot::Empty; capacity],
            by_request,
            overflow_execs,
            held: 0,
            retired: 0,
        }
    }

    fn slot(&self, id: u64) -> usize {
        (id % self.slots.len() as u64) as usize
    }

    /// The first id at or after `from` whose slot can take a new order; `None` when
    /// every slot holds a working order.
    pub(crate) fn free_id(&self, from: u64) -> Option<OrderId> {
        (0..self.slots.len() as u64)
            .map(|k| from + k)
            .find(|&id| self.state[self.slot(id)] != Slot::Working)
            .map(OrderId)
    }

    /// Stores a new order under an id from [`OrderBook::free_id`], retiring the
    /// finished order in its slot; `None` if the slot holds a working order.
    pub(crate) fn insert(&mut self, order: Order) -> Option<&mut Order> {
        let s = self.slot(order.id().0);
        match self.state[s] {
            Slot::Working => return None,
            Slot::Finished => {
                let old = &self.slots[s];
                let rid = old.terms().request_id;
                if !rid.is_empty() && self.by_request.get(&rid) == Some(&old.id()) {
                    self.by_request.remove(&rid);
                }
                self.retired += 1;
            }
            Slot::Empty => self.held += 1,
        }
        self.slots[s] = order;
        self.state[s] = Slot::Working;
        let o = &mut self.slots[s];
        if !o.terms().request_id.is_empty() {
            self.by_request.insert(o.terms().request_id, o.id());
        }
        Some(o)
    }

    /// Marks an order finished: its slot may be reused.
    pub(crate) fn finished(&mut self, id: OrderId) {
        let s = self.slot(id.0);
        if self.slots[s].id() == id && self.state[s] == Slot::Working {
            self.state[s] = Slot::Finished;
        }
    }

    /// The order, if held.
    #[inline]
    pub fn get(&self, id: OrderId) -> Option<&Order> {
        let s = self.slot(id.0);
        let o = &self.slots[s];
        (o.id() == id && self.state[s] != Slot::Empty).then_some(o)
    }

    /// The order, mutable.
    #[inline]
    pub(crate) fn get_mut(&mut self, id: OrderId) -> Option<&mut Order> {
        let s = self.slot(id.0);
        if self.slots[s].id() == id && self.state[s] != Slot::Empty {
            Some(&mut self.slots[s])
        } else {
            None
        }
    }

    /// The order a request id created.
    pub fn by_request(&self, r: &RequestId) -> Option<OrderId> {
        self.by_request.get(r).copied()
    }

    /// Exec-id memory beyond what an order holds inline.
    pub(crate) fn overflow_seen(&self, order: OrderId, exec: u64) -> bool {
        self.overflow_execs.contains(&(order.0, exec))
    }

    /// Remembers an exec id beyond the inline ones.
    pub(crate) fn overflow_remember(&mut self, order: OrderId, exec: u64) {
        self.overflow_execs.insert((order.0, exec));
    }

    /// Every held order (finished ones included), in slot order.
    pub fn iter(&self) -> impl Iterator<Item = &Order> {
        self.slots
            .iter()
            .zip(&self.state)
            .filter(|(_, s)| **s != Slot::Empty)
            .map(|(o, _)| o)
    }

    /// Ids of held orders matching `f`, written into `out` (cleared first). Operator
    /// commands use it; `out` grows if it must.
    pub(crate) fn select(&self, out: &mut Vec<OrderId>, mut f: impl FnMut(&Order) -> bool) {
        out.clear();
        out.extend(self.iter().filter(|o| f(o)).map(|o| o.id()));
    }

    /// Finished orders overwritten so far to make room.
    pub fn retired(&self) -> u64 {
        self.retired
    }

    /// Orders held.
    pub fn len(&self) -> usize {
        self.held
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.held == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::fixed::Qty;

    fn order(id: u64, req: &str) -> Order {
        let terms = Terms {
            request_id: RequestId::new(req).unwrap(),
            qty: Qty(1),
            ..Terms::BLANK
        };
        Order::new(OrderId(id), 1, terms, Money(0))
    }

    #[test]
    fn working_orders_are_never_overwritten_and_ids_skip_them() {
        let mut b = OrderBook::with_capacity(4);
        for id in 1..=4 {
            assert_eq!(b.free_id(id), Some(OrderId(id)));
            b.insert(order(id, &format!("r{id}"))).unwrap();
        }
        assert_eq!(b.free_id(5), None, "all four working");
        b.finished(OrderId(2));
        // Slot of 5 is slot of 1 (working): the next free id is 6, slot of 2.
        assert_eq!(b.free_id(5), Some(OrderId(6)));
        b.insert(order(6, "r6")).unwrap();
        assert!(b.get(OrderId(2)).is_none(), "retired");
        assert_eq!(b.by_request(&RequestId::new("r2").unwrap()), None);
        assert_eq!(
            b.by_request(&RequestId::new("r6").unwrap()),
            Some(OrderId(6))
        );
        assert_eq!(b.get(OrderId(1)).unwrap().id(), OrderId(1));
        assert_eq!((b.len(), b.retired()), (4, 1));
        assert!(
            b.insert(order(5, "r5")).is_none(),
            "slot of a working order"
        );
    }
}
