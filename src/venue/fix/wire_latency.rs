//! NewOrderSingle written → its first fill read, timed on the core thread (issue 14's
//! wire-to-wire figure, R-PERF-2): the time the venue and the loopback took, with none of
//! the producer's ring or the event ring in it. Raw TSC stamps (quanta), never engine
//! time: nothing here changes state, so replay does not see it.
//!
//! Preallocated at construction; stamping and recording allocate nothing.

use crate::core::latency::Awaiting;
use crate::model::ids::ClOrdId;
use hdrhistogram::Histogram;

/// Write → first-fill-read latencies of one FIX session, in nanoseconds.
pub struct WireToFill {
    clock: quanta::Clock,
    pending: Awaiting<ClOrdId>,
    /// Raw stamp of the last read that returned bytes: when the frames it holds arrived.
    read_at: u64,
    hist: Histogram<u64>,
}

impl WireToFill {
    pub(super) fn new() -> WireToFill {
        WireToFill {
            clock: quanta::Clock::new(),
            pending: Awaiting::new(),
            read_at: 0,
            hist: Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid bounds"),
        }
    }

    /// The NewOrderSingle of `cl` was just handed to the socket.
    #[inline]
    pub(super) fn written(&mut self, cl: ClOrdId) {
        self.pending.push(cl, self.clock.raw());
    }

    /// A read just returned bytes; the frames in them are stamped with now.
    #[inline]
    pub(super) fn bytes_read(&mut self) {
        self.read_at = self.clock.raw();
    }

    /// Raw stamp of the last read that returned bytes (0 before the first).
    #[inline]
    pub(super) fn read_stamp(&self) -> u64 {
        self.read_at
    }

    /// A fill for `cl` was in the bytes read last: the first one is recorded.
    #[inline]
    pub(super) fn filled(&mut self, cl: ClOrdId) {
        if let Some(at) = self.pending.take(cl) {
            let ns = self.clock.delta_as_nanos(at, self.read_at);
            self.hist.saturating_record(ns.max(1));
        }
    }

    /// The recorded latencies (ns), one per order filled.
    pub fn histogram(&self) -> &Histogram<u64> {
        &self.hist
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ids::OrderId;

    fn cl(n: u64) -> ClOrdId {
        ClOrdId {
            epoch: 1,
            order: OrderId(n),
            version: 0,
        }
    }

    #[test]
    fn first_fill_of_a_written_order_is_recorded_once() {
        let mut w = WireToFill::new();
        w.written(cl(1));
        std::thread::sleep(std::time::Duration::from_millis(2));
        w.bytes_read();
        w.filled(cl(1));
        w.filled(cl(1)); // a second partial: not another sample
        w.filled(cl(2)); // never written
        assert_eq!(w.histogram().len(), 1);
        assert!(w.histogram().max() >= 1_000_000, "{}", w.histogram().max());
    }

    #[test]
    fn unfilled_orders_age_out_of_the_ring() {
        let mut w = WireToFill::new();
        let n = Awaiting::<ClOrdId>::LEN as u64;
        for k in 0..=n {
            w.written(cl(k));
        }
        w.bytes_read();
        w.filled(cl(0)); // overwritten by the last
        w.filled(cl(n));
        assert_eq!(w.histogram().len(), 1);
    }
}
