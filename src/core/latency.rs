//! Per-stage latency histograms of the hot path, recorded by the core thread itself
//! (R-OPS-2, R-PERF-2). Recording into a preallocated HDR histogram does not allocate.

use super::metrics::CoreMetrics;
use hdrhistogram::Histogram;
use std::sync::Arc;

/// A stage of a request on the core thread, in the order a request passes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Waiting in the producer's ring, queued behind earlier commands.
    Ring,
    /// Delivering the venue answers and timers due before the command's event time.
    Events,
    /// The pre-trade checks.
    Gate,
    /// Storing the order and moving its state.
    Oms,
    /// Handing the order to its venue.
    Venue,
    /// Emitting the confirmation.
    Confirm,
    /// Gate to confirmation.
    Total,
}

impl Stage {
    /// Every stage, in order.
    pub const ALL: [Stage; 7] = [
        Stage::Ring,
        Stage::Events,
        Stage::Gate,
        Stage::Oms,
        Stage::Venue,
        Stage::Confirm,
        Stage::Total,
    ];

    /// The name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Ring => "ring",
            Stage::Events => "events",
            Stage::Gate => "gate",
            Stage::Oms => "oms",
            Stage::Venue => "venue",
            Stage::Confirm => "confirm",
            Stage::Total => "total",
        }
    }
}

/// One histogram per stage, in nanoseconds.
#[derive(Clone, Debug)]
pub struct Latency {
    stages: [Histogram<u64>; 7],
    /// Submit stamped by the producer → its first fill delivered to the producer's
    /// ring (real time only; `core::fill_latency`).
    submit_to_fill: Histogram<u64>,
    /// The socket read that brought the fill → the same fill delivered (FIX venues).
    read_to_fill: Histogram<u64>,
    // The metrics endpoint's buckets, fed the same values as they are recorded.
    published: Option<Arc<CoreMetrics>>,
}

impl Default for Latency {
    fn default() -> Self {
        Self::new()
    }
}

impl Latency {
    /// Empty histograms covering 1 ns … 60 s at 3 significant digits.
    pub fn new() -> Latency {
        Latency {
            stages: std::array::from_fn(|_| {
                Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid bounds")
            }),
            // Filled in only when the core stops (`set_submit_to_fill`): the recording
            // one is the core's own, so this one starts small.
            submit_to_fill: Histogram::new(3).expect("valid precision"),
            read_to_fill: Histogram::new(3).expect("valid precision"),
            published: None,
        }
    }

    /// Every stage recorded from now on is also published in `m`.
    pub(crate) fn publish_to(&mut self, m: Arc<CoreMetrics>) {
        self.published = Some(m);
    }

    /// The histogram of one stage.
    pub fn stage(&self, stage: Stage) -> &Histogram<u64> {
        &self.stages[stage as usize]
    }

    /// Submit → first fill delivered, per filled order (ns): upstream to upstream, on the
    /// core thread, without the producer's own reading of its ring. Empty with a
    /// simulated clock.
    pub fn submit_to_fill(&self) -> &Histogram<u64> {
        &self.submit_to_fill
    }

    /// The last part of `submit_to_fill` for fills a FIX venue's socket brought: the
    /// read that returned their bytes → the fill delivered, i.e. the session's and the
    /// core's work on the reports in that read (an acknowledgement and a fill read
    /// together: both). Empty with a simulated clock or without FIX venues (the other
    /// venues do not stamp their reads: `Venue::read_stamp`).
    pub fn read_to_fill(&self) -> &Histogram<u64> {
        &self.read_to_fill
    }

    pub(crate) fn set_submit_to_fill(&mut self, h: Histogram<u64>, read: Histogram<u64>) {
        self.submit_to_fill = h;
        self.read_to_fill = read;
    }

    /// Records one stage.
    #[inline]
    pub fn record(&mut self, stage: Stage, ns: u64) {
        // Saturates at the top bound instead of failing: an outlier must not be lost.
        self.stages[stage as usize].saturating_record(ns.max(1));
        if let Some(m) = &self.published {
            m.stage_ns(stage, ns);
        }
    }
}

/// Stamps of things whose answer is awaited (an order's fill), keyed by what the answer
/// names; the oldest is overwritten first, so one never answered ages out instead of
/// growing anything. Preallocated; a linear search, as only a handful are ever awaited
/// at once on a latency-sensitive path.
#[derive(Clone, Debug)]
pub(crate) struct Awaiting<K> {
    pending: [Option<(K, u64)>; 64],
    next: usize,
}

impl<K: Copy + PartialEq> Awaiting<K> {
    /// How many are remembered.
    pub(crate) const LEN: usize = 64;

    pub(crate) fn new() -> Self {
        Awaiting {
            pending: [None; 64],
            next: 0,
        }
    }

    /// `key` is awaited since raw stamp `at`.
    #[inline]
    pub(crate) fn push(&mut self, key: K, at: u64) {
        self.pending[self.next % Self::LEN] = Some((key, at));
        self.next = self.next.wrapping_add(1);
    }

    /// The stamp `key` was awaited since, once: a second answer finds nothing.
    #[inline]
    pub(crate) fn take(&mut self, key: K) -> Option<u64> {
        let slot = self
            .pending
            .iter_mut()
            .find(|p| p.is_some_and(|(k, _)| k == key))?;
        slot.take().map(|(_, at)| at)
    }
}

/// Marks stage boundaries inside the engine; the no-op `()` costs nothing (replay,
/// tests, benchmarks).
pub trait Probe {
    /// `stage` just ended.
    fn mark(&mut self, stage: Stage);
}

impl Probe for () {
    #[inline(always)]
    fn mark(&mut self, _: Stage) {}
}

/// Takes raw TSC stamps at the engine's stage boundaries for one command.
pub(crate) struct TscProbe<'a> {
    clock: &'a quanta::Clock,
    start: u64,
    // Gate, OMS and venue at most, in the order the engine passes them; a rejection
    // stops after the gate.
    marks: [(Stage, u64); 3],
    n: usize,
}

impl<'a> TscProbe<'a> {
    /// A probe for a command the engine starts at raw stamp `start`.
    pub(crate) fn new(clock: &'a quanta::Clock, start: u64) -> Self {
        TscProbe {
            clock,
            start,
            marks: [(Stage::Gate, 0); 3],
            n: 0,
        }
    }

    /// Records each marked stage from the boundary before it, then the confirmation up
    /// to `end` and the total.
    pub(crate) fn record(&self, latency: &mut Latency, end: u64) {
        let mut prev = self.start;
        for &(stage, at) in &self.marks[..self.n] {
            latency.record(stage, self.clock.delta_as_nanos(prev, at));
            prev = at;
        }
        latency.record(Stage::Confirm, self.clock.delta_as_nanos(prev, end));
        latency.record(Stage::Total, self.clock.delta_as_nanos(self.start, end));
    }
}

impl Probe for TscProbe<'_> {
    #[inline]
    fn mark(&mut self, stage: Stage) {
        if self.n < self.marks.len() {
            self.marks[self.n] = (stage, self.clock.raw());
            self.n += 1;
        }
    }
}
