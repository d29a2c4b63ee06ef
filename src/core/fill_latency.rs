//! Upstream submit → the confirmation with its fill handed to the producer's ring,
//! timed on the core thread (issue 14's end-to-end figure, R-PERF-2): the producer's
//! ring, gate, OMS, journal, the venue's round trip and the event ring's push, with
//! nothing of how quickly the producer reads its ring. Raw TSC stamps — the one the
//! producer's handle put on the command, and one after the fill event was delivered —
//! never engine time: nothing here changes state, so replay does not see it.
//!
//! Beside it, the last part of the same path: the socket read that brought the fill's
//! bytes (the FIX venue's stamp, `Venue::read_stamp`) → that confirmation, i.e. the
//! session's and the core's work on the reports that arrived with it (for an
//! acknowledgement and a fill in one read, both). Where a venue read more than once
//! before its events were delivered, the stamp is the last read's, so the figure can
//! only understate — as long as every fill a FIX venue reports came from a read, as
//! today (a fill it made up between reads would inherit the last read's stamp).
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
    /// Socket read → the same fills delivered.
    read_hist: Histogram<u64>,
}

impl SubmitToFill {
    /// `clock` must be the one the producers' handles stamp commands with.
    pub(crate) fn new(clock: quanta::Clock) -> SubmitToFill {
        SubmitToFill {
            clock,
            pending: Awaiting::new(),
            hist: Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid bounds"),
            read_hist: Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid bounds"),
        }
    }

    /// `order` was accepted from a submit its producer stamped `stamp`.
    #[inline]
    pub(crate) fn accepted(&mut self, order: OrderId, stamp: u64) {
        self.pending.push(order, stamp);
    }

    /// A fill of `order` was just delivered, from bytes a socket read stamped `read_at`
    /// (0: not from a socket): the first one is recorded.
    #[inline]
    pub(crate) fn filled(&mut self, order: OrderId, read_at: u64) {
        if let Some(at) = self.pending.take(order) {
            let now = self.clock.raw();
            let ns = self.clock.delta_as_nanos(at, now);
            self.hist.saturating_record(ns.max(1));
            // A read before the submit cannot have brought its fill.
            if read_at >= at {
                let ns = self.clock.delta_as_nanos(read_at, now);
                self.read_hist.saturating_record(ns.max(1));
            }
        }
    }

    /// The recorded latencies (ns), one per order filled: submit → fill, and socket read
    /// → fill for those a socket brought.
    pub(crate) fn into_histograms(self) -> (Histogram<u64>, Histogram<u64>) {
        (self.hist, self.read_hist)
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
        let read = clock.raw();
        std::thread::sleep(std::time::Duration::from_millis(1));
        t.filled(OrderId(1), read);
        t.filled(OrderId(1), read); // a second partial: not another sample
        t.filled(OrderId(2), read); // never accepted here
        let (h, r) = t.into_histograms();
        assert_eq!((h.len(), r.len()), (1, 1));
        assert!(h.max() >= 3_000_000, "{}", h.max());
        assert!(
            r.max() >= 1_000_000 && r.max() < h.max(),
            "{} {}",
            r.max(),
            h.max()
        );
    }

    /// A fill not brought by a socket (an in-process venue), or a stamp older than the
    /// submit, counts towards submit → fill only.
    #[test]
    fn a_read_before_the_submit_is_not_the_fills() {
        let clock = quanta::Clock::new();
        let mut t = SubmitToFill::new(clock.clone());
        let before = clock.raw();
        t.accepted(OrderId(1), clock.raw().max(before + 1));
        t.accepted(OrderId(2), clock.raw());
        t.filled(OrderId(1), before);
        t.filled(OrderId(2), 0);
        let (h, r) = t.into_histograms();
        assert_eq!((h.len(), r.len()), (2, 0));
    }

    #[test]
    fn unfilled_orders_age_out() {
        let clock = quanta::Clock::new();
        let mut t = SubmitToFill::new(clock.clone());
        let n = Awaiting::<OrderId>::LEN as u64;
        for k in 0..=n {
            t.accepted(OrderId(k), clock.raw());
        }
        t.filled(OrderId(0), 0); // overwritten by the last
        t.filled(OrderId(n), 0);
        assert_eq!(t.into_histograms().0.len(), 1);
    }
}
