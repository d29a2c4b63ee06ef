//! The live order store: a fixed-capacity slab, indexed by order id and request id.
//!
//! Capacity is set at start and never grows, so steady-state trading does not allocate.
//! When the slab is full, the oldest finished order is retired to make room; working
//! orders are never retired. Idempotency (R-IN-3) holds for every order still held.

use super::order::Order;
use crate::model::ids::{OrderId, RequestId};
use rustc_hash::{FxHashMap, FxHashSet};
use std::collections::VecDeque;

/// Orders by id and by request id.
pub struct OrderBook {
    slots: Vec<Order>,
    index: FxHashMap<u64, u32>,
    by_request: FxHashMap<RequestId, OrderId>,
    finished: VecDeque<u32>,
    overflow_execs: FxHashSet<(u64, u64)>,
    capacity: usize,
    retired: u64,
}

impl OrderBook {
    /// A book that holds up to `capacity` orders without allocating.
    pub fn with_capacity(capacity: usize) -> OrderBook {
        let mut index = FxHashMap::default();
        index.reserve(capacity);
        let mut by_request = FxHashMap::default();
        by_request.reserve(capacity);
        let mut overflow_execs = FxHashSet::default();
        overflow_execs.reserve(capacity / 4 + 16);
        OrderBook {
            slots: Vec::with_capacity(capacity),
            index,
            by_request,
            finished: VecDeque::with_capacity(capacity),
            overflow_execs,
            capacity,
            retired: 0,
        }
    }

    /// Stores a new order; `None` when every held order is still working.
    pub fn insert(&mut self, order: Order) -> Option<&mut Order> {
        let slot = if self.slots.len() < self.capacity {
            self.slots.push(order);
            self.slots.len() - 1
        } else {
            let slot = self.finished.pop_front()? as usize;
            let old = &self.slots[slot];
            self.index.remove(&old.id.0);
            if !old.request_id.is_empty() && self.by_request.get(&old.request_id) == Some(&old.id) {
                self.by_request.remove(&old.request_id);
            }
            self.retired += 1;
            self.slots[slot] = order;
            slot
        };
        let o = &mut self.slots[slot];
        self.index.insert(o.id.0, slot as u32);
        if !o.request_id.is_empty() {
            self.by_request.insert(o.request_id, o.id);
        }
        Some(o)
    }

    /// Whether one more order fits.
    pub fn has_room(&self) -> bool {
        self.slots.len() < self.capacity || !self.finished.is_empty()
    }

    /// Marks an order finished: its slot may be reused once the book is full.
    pub fn finished(&mut self, id: OrderId) {
        if let Some(&slot) = self.index.get(&id.0) {
            self.finished.push_back(slot);
        }
    }

    /// The order, if held.
    pub fn get(&self, id: OrderId) -> Option<&Order> {
        self.index.get(&id.0).map(|&s| &self.slots[s as usize])
    }

    /// The order, mutable.
    pub fn get_mut(&mut self, id: OrderId) -> Option<&mut Order> {
        match self.index.get(&id.0) {
            Some(&s) => Some(&mut self.slots[s as usize]),
            None => None,
        }
    }

    /// The order a request id created.
    pub fn by_request(&self, r: &RequestId) -> Option<OrderId> {
        self.by_request.get(r).copied()
    }

    /// Exec-id memory beyond what an order holds inline.
    pub fn overflow_seen(&self, order: OrderId, exec: u64) -> bool {
        self.overflow_execs.contains(&(order.0, exec))
    }

    /// Remembers an exec id beyond the inline ones.
    pub fn overflow_remember(&mut self, order: OrderId, exec: u64) {
        self.overflow_execs.insert((order.0, exec));
    }

    /// Every held order (finished ones included), in slot order.
    pub fn iter(&self) -> impl Iterator<Item = &Order> {
        self.slots.iter()
    }

    /// Ids of held orders matching `f`, written into `out` (cleared first). Operator
    /// commands use it; `out` grows if it must.
    pub fn select(&self, out: &mut Vec<OrderId>, mut f: impl FnMut(&Order) -> bool) {
        out.clear();
        for o in &self.slots {
            if f(o) {
                out.push(o.id);
            }
        }
    }

    /// Orders retired so far to make room.
    pub fn retired(&self) -> u64 {
        self.retired
    }

    /// Orders held.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }
}
