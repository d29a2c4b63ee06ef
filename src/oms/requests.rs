//! Every request id a journal has seen, for the journal's whole life (R-IN-3): the order
//! book forgets a request id when it retires the order, so without this a resend of an
//! old request would make a second order.
//!
//! An open-addressing table (linear probing, power-of-two size, at most three quarters
//! full) of 128-bit hashes of request ids, each with the order it made and, once the
//! book retired that order, its final state. It is sized once from
//! `core.max_request_ids` and its memory written at start: remembering a request never
//! allocates or page-faults. Full means full: the engine then refuses new requests
//! (`REQUEST_IDS_FULL`) rather than forget an old one. Recovery rebuilds it by replaying
//! the journal's commands, like everything else the engine holds.
//!
//! A 128-bit hash stands for the id (the id itself would triple the table): two distinct
//! ids collide with odds near 2^-128 per pair, far below any hardware fault rate.

use crate::model::ids::{OrderId, RequestId};
use crate::model::order_state::OrderState;

/// The low 56 bits of `order` are the order id; the top 8 hold 1 + the index of its
/// final state in [`OrderState::ALL`], or 0 while the book still holds it.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Entry {
    key: [u64; 2],
    order: u64,
}

/// Marks a free slot (no order id reaches it: ids are below 2^56).
const FREE: u64 = u64::MAX;
const ID_BITS: u32 = 56;
const ID_MASK: u64 = (1 << ID_BITS) - 1;

impl Entry {
    // Not all zeros on purpose: `vec!` then writes every slot at start, so no page is
    // first touched mid-session.
    const EMPTY: Entry = Entry {
        key: [0, 0],
        order: FREE,
    };
}

/// Request ids seen, with the order each made.
pub(crate) struct RequestIds {
    slots: Vec<Entry>,
    len: usize,
    limit: usize,
}

fn key(r: &RequestId) -> [u64; 2] {
    let h = xxhash_rust::xxh3::xxh3_128(r.as_bytes());
    [h as u64, (h >> 64) as u64]
}

impl RequestIds {
    /// A table that remembers up to `limit` request ids.
    pub(crate) fn with_limit(limit: usize) -> RequestIds {
        let limit = limit.max(1);
        let size = (limit + limit.div_ceil(3)).next_power_of_two();
        RequestIds {
            slots: super::table::table(size, Entry::EMPTY),
            len: 0,
            limit,
        }
    }

    fn mask(&self) -> usize {
        self.slots.len() - 1
    }

    /// The slot holding `k`, or the free slot where it would go.
    fn find(&self, k: [u64; 2]) -> usize {
        let mut i = (k[0] as usize) & self.mask();
        // Terminates: the table is never more than three quarters full.
        loop {
            let e = &self.slots[i];
            if e.order == FREE || e.key == k {
                return i;
            }
            i = (i + 1) & self.mask();
        }
    }

    /// The order `r` made and, once the book retired it, its final state.
    pub(crate) fn get(&self, r: &RequestId) -> Option<(OrderId, Option<OrderState>)> {
        let e = self.slots[self.find(key(r))];
        (e.order != FREE).then(|| {
            let state = match (e.order >> ID_BITS) as usize {
                0 => None,
                n => OrderState::ALL.get(n - 1).copied(),
            };
            (OrderId(e.order & ID_MASK), state)
        })
    }

    /// Remembers that `r` made `order`; a request id already known keeps its first
    /// order. False when `r` is new and the table is full (nothing changed).
    pub(crate) fn remember(&mut self, r: &RequestId, order: OrderId) -> bool {
        let k = key(r);
        let i = self.find(k);
        if self.slots[i].order != FREE {
            return true;
        }
        if self.len >= self.limit {
            return false;
        }
        self.slots[i] = Entry {
            key: k,
            order: order.0 & ID_MASK,
        };
        self.len += 1;
        true
    }

    /// The book retired `order` in `state`: a resend of `r` is told that state.
    pub(crate) fn retired(&mut self, r: &RequestId, order: OrderId, state: OrderState) {
        let i = self.find(key(r));
        let e = &mut self.slots[i];
        if e.order != FREE && e.order & ID_MASK == order.0 & ID_MASK {
            let s = OrderState::ALL
                .iter()
                .position(|x| *x == state)
                .unwrap_or(0) as u64
                + 1;
            e.order = (e.order & ID_MASK) | (s << ID_BITS);
        }
    }

    /// Whether a new request id would be refused.
    pub(crate) fn is_full(&self) -> bool {
        self.len >= self.limit
    }

    /// Request ids remembered.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Most request ids it remembers.
    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    /// The same memory in a table for `limit` ids (a configuration change at a restart;
    /// never on the hot path). `limit` below what is remembered is refused by the caller.
    pub(crate) fn resized(&self, limit: usize) -> RequestIds {
        let mut t = RequestIds::with_limit(limit.max(self.len));
        for e in self.slots.iter().filter(|e| e.order != FREE) {
            let i = t.find(e.key);
            t.slots[i] = *e;
            t.len += 1;
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rid(i: u64) -> RequestId {
        RequestId::new(&format!("req-{i}")).unwrap()
    }

    #[test]
    fn remembers_every_id_until_full_then_refuses_new_ones_only() {
        let mut t = RequestIds::with_limit(100);
        for i in 0..100 {
            assert!(t.remember(&rid(i), OrderId(i + 1)));
        }
        assert!(t.is_full());
        assert!(!t.remember(&rid(100), OrderId(101)), "full: refused");
        assert!(
            t.get(&rid(100)).is_none(),
            "nothing forgotten, nothing added"
        );
        assert!(t.remember(&rid(5), OrderId(999)), "known: still fine");
        assert_eq!(t.get(&rid(5)), Some((OrderId(6), None)), "first order kept");
        for i in 0..100 {
            assert_eq!(t.get(&rid(i)).map(|x| x.0), Some(OrderId(i + 1)));
        }
        assert_eq!(t.len(), 100);
    }

    #[test]
    fn a_retired_order_keeps_its_final_state_and_a_resize_keeps_everything() {
        let mut t = RequestIds::with_limit(16);
        t.remember(&rid(1), OrderId(7));
        t.remember(&rid(2), OrderId(8));
        t.retired(&rid(1), OrderId(7), OrderState::Filled);
        t.retired(&rid(2), OrderId(99), OrderState::Canceled); // not its order: ignored
        assert_eq!(t.get(&rid(1)), Some((OrderId(7), Some(OrderState::Filled))));
        assert_eq!(t.get(&rid(2)), Some((OrderId(8), None)));
        let big = t.resized(1_000);
        assert_eq!((big.len(), big.limit()), (2, 1_000));
        assert_eq!(
            big.get(&rid(1)),
            Some((OrderId(7), Some(OrderState::Filled)))
        );
        assert_eq!(big.get(&rid(2)), Some((OrderId(8), None)));
        assert!(big.get(&rid(3)).is_none());
    }
}
