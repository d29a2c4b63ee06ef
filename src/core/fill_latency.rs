//! Upstream submit → the confirmation with its fill handed to the producer's ring,
//! timed on the core thread (issue 14's end-to-end figure, R-PERF-2): the producer's
//! ring, gate, OMS, journal, the venue's round trip and the event ring's push, with
//! nothing of how quickly the producer reads its ring. Raw TSC stamps — the one the
//! producer's handle put on the command, and one after the fill event was delivered —
//! never engine time: nothing here changes state, so replay does not see it.
//!
//! Preallocated at construction; stamping and recording allocate nothing. Kept only in
//! real time: with a simulated clock the venue answers at event times, and the wall time
//! between a submit and its fill measures the simulation, not a round trip.

use super::latency::Awaiting;
use crate::model::ids::OrderId;
use hdrhistogram::Histogram;

/// Submit → first-fill-delivered latencies, in nanoseconds.
pub(crate) struct SubmitToFill {
    clock: quanta::Clock,
    pending: Awaiting<OrderId>,
    hist: Histogram<u64>,
}

impl SubmitToFill {
    /// `clock` must be the one the producers' handles stamp commands with.
    pub(crate) fn new(clock: quanta::Clock) -> SubmitToFill {
        SubmitToFill {
            clock,
            pending: Awaiting::new(),
            hist: Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid bounds"),
        }
    }

    /// `order` was accepted from a submit its producer stamped `stamp`.
    #[inline]
    pub(crate) fn accepted(&mut self, order: OrderId, stamp: u64) {
        self.pending.push(order, stamp);
    }

    /// A fill of `order` was just delivered: the first one is recorded.
    #[inline]
    pub(crate) fn filled(&mut self, order: OrderId) {
        if let Some(at) = self.pending.take(order) {
            let ns = self.clock.delta_as_nanos(at, self.clock.raw());
            self.hist.saturating_record(ns.max(1));
        }
    }

    /// The recorded latencies (ns), one per order filled.
    pub(crate) fn into_histogram(self) -> Histogram<u64> {
        self.hist
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_fill_of_an_accepted_order_is_recorded_once() {
        let clock = quanta::Clock::new();
        let mut t = SubmitToFill::new(clock.clone());
        t.accepted(OrderId(1), clock.raw());
        std::thread::sleep(std::time::Duration::from_millis(2));
        t.filled(OrderId(1));
        t.filled(OrderId(1)); // a second partial: not another sample
        t.filled(OrderId(2)); // never accepted here
        let h = t.into_histogram();
        assert_eq!(h.len(), 1);
        assert!(h.max() >= 1_000_000, "{}", h.max());
    }

    #[test]
    fn unfilled_orders_age_out() {
        let clock = quanta::Clock::new();
        let mut t = SubmitToFill::new(clock.clone());
        let n = Awaiting::<OrderId>::LEN as u64;
        for k in 0..=n {
            t.accepted(OrderId(k), clock.raw());
        }
        t.filled(OrderId(0)); // overwritten by the last
        t.filled(OrderId(n));
        assert_eq!(t.into_histogram().len(), 1);
    }
}
