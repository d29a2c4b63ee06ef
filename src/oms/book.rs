//! The live order store: a fixed-capacity slab indexed by order id, plus a map by
//! request id.
//!
//! An order lives in slot `id % capacity`, so finding it by id is an array access, not a
//! hash lookup. New ids skip any number whose slot still holds a working order, so ids
//! stay unique and increasing and a long-lived order is never overwritten; a finished
//! order's slot is reused when the id counter comes round to it. Capacity is set (and
//! its memory touched) at start and never grows: steady-state trading does not allocate
//! or page-fault. Idempotency (R-IN-3) holds for every order still held, and through
//! [`RequestIds`] for every request id the journal has seen.

use super::order::{Order, Terms};
use super::requests::RequestIds;
use super::slot_set::SlotSet;
use super::table::table;
use crate::model::fixed::Money;
use crate::model::ids::{OrderId, RequestId};
use crate::model::order_state::OrderState;
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
    request_ids: RequestIds,
    held: usize,
    /// The slots marked `Working`, for [`OrderBook::working`].
    working: SlotSet,
    /// Some held order's request id did not fit in `request_ids`.
    unremembered: bool,
    retired: u64,
}

impl OrderBook {
    /// A book that holds up to `capacity` orders and remembers up to `request_ids`
    /// request ids, without allocating.
    pub(crate) fn with_capacity(capacity: usize, request_ids: usize) -> OrderBook {
        let capacity = capacity.max(1);
        let blank = Order::new(OrderId(0), 0, Terms::BLANK, Money(0));
        // `table` writes every element: the pages are faulted in now, not mid-session.
        let slots = table(capacity, blank);
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
            state: table(capacity, Slot::Empty),
            by_request,
            overflow_execs,
            request_ids: RequestIds::with_limit(request_ids),
            held: 0,
            working: SlotSet::new(capacity),
            unremembered: false,
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
                    self.request_ids.retired(&rid, old.id(), old.state());
                }
                self.retired += 1;
            }
            Slot::Empty => self.held += 1,
        }
        self.slots[s] = order;
        self.state[s] = Slot::Working;
        self.working.insert(s);
        let o = &mut self.slots[s];
        let rid = o.terms().request_id;
        if !rid.is_empty() {
            self.by_request.insert(rid, o.id());
            // A full table loses nothing it holds; the engine refuses new requests
            // before it gets here (protective legs go unremembered: nobody resends them).
            self.unremembered |= !self.request_ids.remember(&rid, o.id());
        }
        Some(o)
    }

    /// Marks an order finished: its slot may be reused.
    pub(crate) fn finished(&mut self, id: OrderId) {
        let s = self.slot(id.0);
        if self.slots[s].id() == id && self.state[s] == Slot::Working {
            self.state[s] = Slot::Finished;
            self.working.remove(s);
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

    /// The first order a request id made, held or long retired, and its state (for a
    /// retired one, the state it finished in): what a resend is told (R-IN-3).
    pub fn first_for_request(&self, r: &RequestId) -> Option<(OrderId, OrderState)> {
        // Every held order's request id is remembered too, unless the table was full
        // when it came: a request id it does not know is then new, and the map by
        // request id (another cache miss on each submit) need not be asked.
        let remembered = self.request_ids.get(r);
        if remembered.is_none() && !self.unremembered {
            return None;
        }
        if let Some(id) = self.by_request(r) {
            if let Some(o) = self.get(id) {
                return Some((id, o.state()));
            }
        }
        let (id, state) = remembered?;
        let state = match self.get(id) {
            Some(o) => o.state(),
            // Retired orders are finished ones; an unknown final state is impossible.
            None => state.unwrap_or(OrderState::Rejected),
        };
        Some((id, state))
    }

    /// Whether a request id never seen before would be refused: every one the journal
    /// may remember is taken.
    pub(crate) fn request_ids_full(&self) -> bool {
        self.request_ids.is_full()
    }

    /// Request ids remembered, and the most that can be.
    pub fn request_ids(&self) -> (usize, usize) {
        (self.request_ids.len(), self.request_ids.limit())
    }

    /// Remembers up to `limit` request ids from now on (a configuration change at a
    /// restart); refused below what is already remembered.
    pub(crate) fn resize_request_ids(&mut self, limit: usize) -> Result<(), usize> {
        if limit < self.request_ids.len() {
            return Err(self.request_ids.len());
        }
        self.request_ids = self.request_ids.resized(limit);
        Ok(())
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

    /// Every order not yet finished (a terminal state is final, so a finished slot never
    /// holds a live order), in slot order. Touches only the live orders and a bitmap of
    /// a bit per slot (`SlotSet`): a full book holds hundreds of thousands of finished
    /// orders, and walking them all for each reconciliation report or operator command
    /// cost the core milliseconds at a time.
    pub fn working(&self) -> impl Iterator<Item = &Order> {
        self.working.iter().map(|i| &self.slots[i])
    }

    /// Ids of orders not yet finished matching `f`, written into `out` (cleared first).
    /// Operator commands use it; `out` grows if it must.
    pub(crate) fn select_working(&self, out: &mut Vec<OrderId>, mut f: impl FnMut(&Order) -> bool) {
        out.clear();
        out.extend(self.working().filter(|o| f(o)).map(|o| o.id()));
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
        let mut b = OrderBook::with_capacity(4, 64);
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
            b.first_for_request(&RequestId::new("r2").unwrap()),
            Some((OrderId(2), OrderState::Received)),
            "retired, still remembered with the state it was retired in"
        );
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

    #[test]
    fn working_lists_every_unfinished_order_and_no_finished_one() {
        let mut b = OrderBook::with_capacity(8, 64);
        let ids = |b: &OrderBook| b.working().map(|o| o.id().0).collect::<Vec<_>>();
        for id in 1..=5 {
            b.insert(order(id, &format!("r{id}"))).unwrap();
        }
        b.finished(OrderId(2));
        b.finished(OrderId(5));
        b.finished(OrderId(5)); // twice: counted once
        assert_eq!(ids(&b), [1, 3, 4]);
        // 9 would land in slot 1 (working); 10 reuses slot 2, finished.
        assert_eq!(b.free_id(9), Some(OrderId(10)));
        b.insert(order(10, "r10")).unwrap();
        b.finished(OrderId(1));
        b.finished(OrderId(3));
        b.finished(OrderId(4));
        assert_eq!(ids(&b), [10], "the new order in a reused slot");
        b.finished(OrderId(10));
        assert_eq!(ids(&b), Vec::<u64>::new());
        assert_eq!(b.iter().count(), 5, "finished orders are still held");
        let mut out = Vec::new();
        b.insert(order(11, "r11")).unwrap();
        b.select_working(&mut out, |_| true);
        assert_eq!(out, [OrderId(11)]);
    }
}
