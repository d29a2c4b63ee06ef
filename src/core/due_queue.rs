//! Things due, soonest first, where most of them arrive in order already.
//!
//! Each lane is a FIFO queue its writer keeps in order (a venue's hard timeouts, each a
//! fixed time from now; the paper venue's answers, one wire in order). An entry that
//! would not come last in its lane, or belongs to none, waits in a heap beside them. The
//! smallest of the lanes' fronts and the heap's top comes out first: exactly the order
//! one heap of everything gives, at O(1) for what comes in order, where a large heap
//! walks cache-cold memory on every push and pop.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Soonest {
    Lane(usize),
    Late,
}

pub(crate) struct DueQueue<T> {
    lanes: Vec<VecDeque<T>>,
    late: BinaryHeap<Reverse<T>>,
    /// Where the smallest entry is, kept by `push` and `pop`: asked for far more often
    /// than anything is taken.
    soonest: Option<Soonest>,
}

impl<T: Ord + Copy> DueQueue<T> {
    /// One lane per entry of `lanes`, with room for that many entries, and room for
    /// `late` entries in the heap, before growing. A lane is a ring that moves through
    /// all of its room as entries come and go, touching every page of it in time: size
    /// it for what it holds, not for the most it ever could. The heap's room is touched
    /// only as it fills.
    pub(crate) fn new(lanes: &[usize], late: usize) -> DueQueue<T> {
        DueQueue {
            lanes: lanes.iter().map(|&n| VecDeque::with_capacity(n)).collect(),
            late: BinaryHeap::with_capacity(late),
            soonest: None,
        }
    }

    /// `item` in lane `lane`: at its end when it comes last there, else in the heap.
    pub(crate) fn push(&mut self, lane: usize, item: T) {
        let in_order = self
            .lanes
            .get(lane)
            .is_some_and(|q| q.back().is_none_or(|last| *last <= item));
        if !in_order {
            return self.push_late(item);
        }
        // Behind a front of its own lane it cannot be the smallest.
        let smaller = self.lanes[lane].is_empty() && self.peek().is_none_or(|s| item < *s);
        self.lanes[lane].push_back(item);
        if smaller {
            self.soonest = Some(Soonest::Lane(lane));
        }
    }

    /// `item` in the heap.
    pub(crate) fn push_late(&mut self, item: T) {
        let smaller = self.peek().is_none_or(|s| item < *s);
        self.late.push(Reverse(item));
        if smaller {
            self.soonest = Some(Soonest::Late);
        }
    }

    pub(crate) fn peek(&self) -> Option<&T> {
        match self.soonest? {
            Soonest::Lane(i) => self.lanes[i].front(),
            Soonest::Late => self.late.peek().map(|r| &r.0),
        }
    }

    pub(crate) fn pop(&mut self) -> Option<T> {
        let item = match self.soonest? {
            Soonest::Lane(i) => self.lanes[i].pop_front(),
            Soonest::Late => self.late.pop().map(|r| r.0),
        };
        self.soonest = self.find_soonest();
        item
    }

    fn find_soonest(&self) -> Option<Soonest> {
        let mut best = self.late.peek().map(|r| (Soonest::Late, &r.0));
        for (i, q) in self.lanes.iter().enumerate() {
            if let Some(front) = q.front() {
                if best.is_none_or(|(_, b)| front < b) {
                    best = Some((Soonest::Lane(i), front));
                }
            }
        }
        best.map(|(s, _)| s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against one heap of everything: lanes written in order with now and then an
    /// entry out of order (a timeout shortened), entries for a lane that does not
    /// exist, entries straight to the heap, ties, pops interleaved with pushes.
    #[test]
    fn pops_what_one_heap_of_everything_pops() {
        let mut rng = fastrand::Rng::with_seed(3);
        for round in 0..400 {
            let mut q = DueQueue::new(&[4, 4, 4], 4);
            let mut heap = BinaryHeap::new();
            let mut delay = [30u64, 5, 12];
            let (mut now, mut id) = (0u64, 0u64);
            for _ in 0..rng.usize(1..600) {
                now += rng.u64(0..3);
                match rng.u8(0..10) {
                    0..=2 => {
                        let got = q.pop();
                        assert_eq!(got, heap.pop().map(|r: Reverse<_>| r.0), "round {round}");
                    }
                    3 => {
                        let t = (now + rng.u64(0..50), rng.u64(0..id + 2));
                        q.push_late(t);
                        heap.push(Reverse(t));
                    }
                    4 if round % 3 == 0 => delay[rng.usize(0..3)] = rng.u64(1..40),
                    _ => {
                        let lane = rng.usize(0..4);
                        id += rng.u64(0..2);
                        let t = (now + delay.get(lane).copied().unwrap_or(7), id);
                        q.push(lane, t);
                        heap.push(Reverse(t));
                    }
                }
                assert_eq!(q.peek(), heap.peek().map(|r| &r.0), "round {round}");
            }
            while let Some(Reverse(t)) = heap.pop() {
                assert_eq!(q.pop(), Some(t), "round {round}");
            }
            assert_eq!(q.pop(), None);
            assert_eq!(q.peek(), None);
        }
    }
}
