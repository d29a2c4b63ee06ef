//! The engine's timers as (due, id), soonest first; at the same instant the smaller id
//! first.
//!
//! Nearly every timer is an order's hard timeout: its venue's timeout from now, so each
//! venue's timeouts come in time order already. They wait in one FIFO queue per venue,
//! which costs O(1) where a heap of some hundred thousand timers cost a walk through
//! cache-cold memory on every order and every timeout. Resends and reconciliation
//! schedules, and a timeout that would not come last in its queue (a venue's timeout
//! shortened while orders were out), go to a heap. The soonest of the queues' fronts and
//! the heap's top pops first: exactly the order one heap of everything had.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

pub(super) struct Timers {
    timeouts: Vec<VecDeque<(u64, u64)>>,
    others: BinaryHeap<Reverse<(u64, u64)>>,
}

impl Timers {
    /// For `venues` venues, with room for `timeouts` timeouts at each and `others` other
    /// timers before growing.
    pub(super) fn new(venues: usize, timeouts: usize, others: usize) -> Timers {
        Timers {
            timeouts: (0..venues)
                .map(|_| VecDeque::with_capacity(timeouts))
                .collect(),
            others: BinaryHeap::with_capacity(others),
        }
    }

    /// A hard timeout of an order at venue `venue`.
    pub(super) fn push_timeout(&mut self, venue: usize, due: u64, id: u64) {
        match self.timeouts.get_mut(venue) {
            Some(q) if q.back().is_none_or(|&last| last <= (due, id)) => q.push_back((due, id)),
            _ => self.others.push(Reverse((due, id))),
        }
    }

    /// Any other timer.
    pub(super) fn push(&mut self, due: u64, id: u64) {
        self.others.push(Reverse((due, id)));
    }

    /// The queue holding the soonest timer: `Some(venue)`, or `None` for the heap.
    fn soonest(&self) -> Option<(Option<usize>, (u64, u64))> {
        let mut best = self.others.peek().map(|r| (None, r.0));
        for (v, q) in self.timeouts.iter().enumerate() {
            if let Some(&front) = q.front() {
                if best.is_none_or(|(_, b)| front < b) {
                    best = Some((Some(v), front));
                }
            }
        }
        best
    }

    pub(super) fn peek(&self) -> Option<(u64, u64)> {
        self.soonest().map(|(_, t)| t)
    }

    pub(super) fn pop(&mut self) -> Option<(u64, u64)> {
        match self.soonest()? {
            (Some(v), _) => self.timeouts[v].pop_front(),
            (None, _) => self.others.pop().map(|r| r.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against one heap of everything: timeouts of three venues with their own
    /// timeouts, a venue's timeout shortened and lengthened midway, resends and
    /// schedules, same-instant ties, pops interleaved with pushes.
    #[test]
    fn pops_what_one_heap_of_every_timer_pops() {
        let mut rng = fastrand::Rng::with_seed(3);
        for round in 0..300 {
            let mut timers = Timers::new(3, 4, 4);
            let mut heap = BinaryHeap::new();
            let mut timeout = [30u64, 5, 12];
            let (mut now, mut id) = (0u64, 0u64);
            for _ in 0..rng.usize(1..600) {
                now += rng.u64(0..3);
                match rng.u8(0..10) {
                    0..=2 => {
                        let got = timers.pop();
                        assert_eq!(got, heap.pop().map(|r: Reverse<_>| r.0), "round {round}");
                    }
                    3 => {
                        let t = (now + rng.u64(0..50), rng.u64(0..id + 2));
                        timers.push(t.0, t.1);
                        heap.push(Reverse(t));
                    }
                    4 if round % 3 == 0 => timeout[rng.usize(0..3)] = rng.u64(1..40),
                    _ => {
                        // An unknown venue's (one added by a reconfiguration) too.
                        let v = rng.usize(0..4);
                        id += rng.u64(0..2);
                        let due = now + timeout.get(v).copied().unwrap_or(7);
                        timers.push_timeout(v, due, id);
                        heap.push(Reverse((due, id)));
                    }
                }
                assert_eq!(timers.peek(), heap.peek().map(|r| r.0), "round {round}");
            }
            while let Some(Reverse(t)) = heap.pop() {
                assert_eq!(timers.pop(), Some(t), "round {round}");
            }
            assert_eq!(timers.pop(), None);
        }
    }
}
