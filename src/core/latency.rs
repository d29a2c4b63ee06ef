//! Per-stage latency histograms of the hot path, recorded by the core thread itself
//! (R-OPS-2, R-PERF-2). Recording into a preallocated HDR histogram does not allocate.

use super::engine::{Probe, Stage};
use hdrhistogram::Histogram;

/// Hot-path stages, in order: waiting in the ring; delivering venue answers and timers
/// due before the command's time; the gate; order book and state machine; handing the
/// order to the venue; emitting the confirmation; and gate-to-confirmation in total.
pub const STAGES: [&str; 7] = ["ring", "events", "gate", "oms", "venue", "confirm", "total"];

/// One histogram per stage, in nanoseconds.
#[derive(Clone, Debug)]
pub struct Latency {
    /// Histograms in [`STAGES`] order.
    pub stages: Vec<Histogram<u64>>,
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
            stages: STAGES
                .iter()
                .map(|_| Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid bounds"))
                .collect(),
        }
    }

    /// Records one stage.
    #[inline]
    pub fn record(&mut self, stage: usize, ns: u64) {
        // Saturates at the top bound instead of failing: an outlier must not be lost.
        self.stages[stage].saturating_record(ns.max(1));
    }

    /// Adds another set of histograms.
    pub fn merge(&mut self, o: &Latency) {
        for (a, b) in self.stages.iter_mut().zip(&o.stages) {
            let _ = a.add(b);
        }
    }
}

/// Takes raw TSC stamps at stage boundaries.
pub struct TscProbe<'a> {
    clock: &'a quanta::Clock,
    /// Raw stamps: start, gate, oms, venue.
    pub marks: [u64; 4],
    /// How many marks were taken since `start`.
    pub n: usize,
}

impl<'a> TscProbe<'a> {
    /// A probe reading `clock`.
    pub fn new(clock: &'a quanta::Clock) -> Self {
        TscProbe {
            clock,
            marks: [0; 4],
            n: 0,
        }
    }

    /// Starts a request at raw stamp `t`.
    #[inline]
    pub fn start(&mut self, t: u64) {
        self.marks[0] = t;
        self.n = 1;
    }
}

impl Probe for TscProbe<'_> {
    #[inline]
    fn mark(&mut self, stage: Stage) {
        let i = match stage {
            Stage::Gate => 1,
            Stage::Oms => 2,
            Stage::Venue => 3,
        };
        self.marks[i] = self.clock.raw();
        self.n = self.n.max(i + 1);
    }
}
