//! What the paper venue has still to do, in time order.
//!
//! Everything it schedules belongs to one of three streams, and each stream is already
//! in time order when it is written: requests reaching the venue (one wire, in order),
//! the silent orders it holds (each such arrival plus the same hold) and its answers
//! (one wire back, in order). Three queues merged at their fronts pop exactly what one
//! heap over (time, sequence) would, in O(1) and without moving a whole entry up and
//! down a heap for each one: the heap had been a fifth of the core's time in the demo.

use super::Scheduled;
use std::collections::VecDeque;

/// Which stream an entry belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Stream {
    /// Requests on their way in.
    Inbound = 0,
    /// Silent orders, held past the core's timeout.
    Held = 1,
    /// Answers on their way out.
    Answers = 2,
}

pub(super) struct Agenda {
    streams: [VecDeque<Scheduled>; 3],
    /// The stream whose front comes first, kept up to date by `push` and `pop`: the
    /// venue asks when its next entry is due far more often than it pops one.
    first: Option<usize>,
}

fn key(s: &Scheduled) -> (u64, u64) {
    (s.at, s.seq)
}

impl Agenda {
    /// Room for `inbound` requests and `answers` answers in flight before growing.
    pub(super) fn with_capacity(inbound: usize, answers: usize) -> Agenda {
        Agenda {
            streams: [
                VecDeque::with_capacity(inbound),
                VecDeque::with_capacity(64),
                VecDeque::with_capacity(answers),
            ],
            first: None,
        }
    }

    pub(super) fn push(&mut self, stream: Stream, s: Scheduled) {
        let q = &mut self.streams[stream as usize];
        match q.back() {
            // A stream written out of order would be a bug upstream of here; the order
            // of what the venue does stays right even then, only slower.
            Some(last) if key(last) > key(&s) => {
                let at = q.partition_point(|x| key(x) <= key(&s));
                q.insert(at, s);
            }
            _ => q.push_back(s),
        }
        let front = self.streams[stream as usize].front().map(key);
        let best = self.first.and_then(|i| self.streams[i].front()).map(key);
        if best.is_none() || front < best {
            self.first = Some(stream as usize);
        }
    }

    fn find_first(&self) -> Option<usize> {
        let mut best: Option<(usize, (u64, u64))> = None;
        for (i, q) in self.streams.iter().enumerate() {
            if let Some(front) = q.front() {
                if best.is_none_or(|(_, k)| key(front) < k) {
                    best = Some((i, key(front)));
                }
            }
        }
        best.map(|(i, _)| i)
    }

    /// When the first entry is due.
    pub(super) fn next_at(&self) -> Option<u64> {
        self.first
            .and_then(|i| self.streams[i].front())
            .map(|s| s.at)
    }

    pub(super) fn pop(&mut self) -> Option<Scheduled> {
        let popped = self.first.and_then(|i| self.streams[i].pop_front());
        self.first = self.find_first();
        popped
    }
}

#[cfg(test)]
mod tests {
    use super::super::Action;
    use super::*;
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;

    /// Against the heap it replaced: streams written in order (as the venue writes
    /// them), one written out of order now and then, pops interleaved with pushes.
    #[test]
    fn pops_what_a_heap_over_time_and_sequence_pops() {
        let mut rng = fastrand::Rng::with_seed(11);
        for round in 0..200 {
            let mut agenda = Agenda::with_capacity(4, 4);
            let mut heap = BinaryHeap::new();
            let mut last = [0u64; 3];
            let mut seq = 0;
            for _ in 0..rng.usize(1..400) {
                if rng.u8(0..3) == 0 {
                    let got = agenda.pop();
                    assert_eq!(got, heap.pop().map(|Reverse(s)| s), "round {round}");
                    continue;
                }
                let stream = [Stream::Inbound, Stream::Held, Stream::Answers][rng.usize(0..3)];
                let i = stream as usize;
                let at = if round % 4 == 0 && rng.u8(0..10) == 0 {
                    rng.u64(0..last[i].max(1))
                } else {
                    last[i] + rng.u64(0..3)
                };
                last[i] = last[i].max(at);
                seq += 1;
                let s = Scheduled {
                    at,
                    seq,
                    action: Action::Arrive(seq),
                };
                agenda.push(stream, s);
                heap.push(Reverse(s));
                let want = heap.peek().map(|r| r.0.at);
                assert_eq!(agenda.next_at(), want, "round {round}");
            }
            while let Some(Reverse(s)) = heap.pop() {
                assert_eq!(agenda.pop(), Some(s), "round {round}");
            }
            assert_eq!(agenda.pop(), None);
            assert_eq!(agenda.next_at(), None);
        }
    }
}
