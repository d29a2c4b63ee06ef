//! What the core thread publishes for the metrics endpoint and the alerts (R-OPS-2).
//!
//! The core is the only writer of every cell here, so it never needs a read-modify-write:
//! each update is a relaxed load and a relaxed store of a value only it changes, which
//! compiles to plain moves — no lock, no allocation, no bus-locked instruction on the hot
//! path. Readers (the control thread) load relaxed and may see one cell a moment ahead of
//! another; counters only grow, so a scrape is never wrong by more than what happened
//! during it. Everything is sized when the core starts.

use super::engine::EngineStats;
use super::latency::Stage;
use super::wait::{IdleCells, IdleCounts};
use crate::model::event::CoreEvent;
use crate::model::reason::Reason;
use crate::model::slippage::Slippage;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicU8, Ordering::Relaxed};

/// Upper bounds of the latency buckets, nanoseconds: 250 ns … 10 s, so sub-microsecond
/// core stages and a stalled venue both land in a bucket that says something.
pub const LATENCY_BOUNDS_NS: &[i64] = &[
    250,
    500,
    1_000,
    2_500,
    5_000,
    10_000,
    25_000,
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    5_000_000_000,
    10_000_000_000,
];

/// Upper bounds of the slippage-in-basis-points buckets, hundredths of a bp (positive is
/// adverse; improvement is below zero).
pub const SLIP_BPS_BOUNDS_E2: &[i64] = &[
    -1_000, -500, -200, -100, -50, 0, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000,
];

/// Upper bounds of the slippage-in-pips buckets, hundredths of a pip: the R-OMS-8
/// categories (1, 3, 5 pips) are bucket edges.
pub const SLIP_PIPS_BOUNDS_E2: &[i64] = &[
    -500, -100, 0, 100, 200, 300, 500, 1_000, 2_000, 5_000, 10_000,
];

#[inline]
fn bump(cell: &AtomicU64, by: u64) {
    // Single writer: load + store is enough, and cheaper than fetch_add.
    cell.store(cell.load(Relaxed).wrapping_add(by), Relaxed);
}

/// A histogram with fixed bucket bounds, written by one thread.
pub struct Buckets {
    bounds: &'static [i64],
    // Per bucket, not cumulative; the last one is above every bound.
    counts: Box<[AtomicU64]>,
    sum: AtomicI64,
}

impl Buckets {
    fn new(bounds: &'static [i64]) -> Buckets {
        Buckets {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicI64::new(0),
        }
    }

    #[inline]
    fn observe(&self, v: i64) {
        // Most values are small: a scan from the bottom stops after a few compares.
        let i = self
            .bounds
            .iter()
            .position(|&b| v <= b)
            .unwrap_or(self.bounds.len());
        bump(&self.counts[i], 1);
        self.sum
            .store(self.sum.load(Relaxed).wrapping_add(v), Relaxed);
    }

    /// The bucket bounds, in the unit observed.
    pub fn bounds(&self) -> &'static [i64] {
        self.bounds
    }

    /// Cumulative counts per bound, then the total (the `+Inf` bucket).
    pub fn cumulative(&self) -> Vec<u64> {
        let mut acc = 0u64;
        self.counts
            .iter()
            .map(|c| {
                acc = acc.wrapping_add(c.load(Relaxed));
                acc
            })
            .collect()
    }

    /// Sum of the values observed, in the unit observed.
    pub fn sum(&self) -> i64 {
        self.sum.load(Relaxed)
    }
}

/// A counter the core takes from its engine's statistics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Count {
    /// Submit commands seen.
    Submitted,
    /// Through the gate and sent to a venue.
    Accepted,
    /// Refused by the gate (or a full order store).
    Rejected,
    /// Request ids seen before.
    Duplicates,
    /// Fills applied.
    Fills,
    /// Fills after a timeout or a terminal state.
    LateFills,
    /// Hard timeouts.
    Timeouts,
    /// Events that did not fit the state machine.
    Anomalies,
    /// Resent execution ids ignored.
    DuplicateExecs,
    /// Resends of new orders the venue never saw (R-RES-1).
    Retries,
    /// Orders that became dead letters (R-RES-3).
    DeadLetters,
    /// Undelivered orders rejected because the dead-letter queue was full.
    DeadLettersRefused,
}

impl Count {
    /// Every counter.
    pub const ALL: [Count; 12] = [
        Count::Submitted,
        Count::Accepted,
        Count::Rejected,
        Count::Duplicates,
        Count::Fills,
        Count::LateFills,
        Count::Timeouts,
        Count::Anomalies,
        Count::DuplicateExecs,
        Count::Retries,
        Count::DeadLetters,
        Count::DeadLettersRefused,
    ];

    fn of(self, s: &EngineStats) -> u64 {
        match self {
            Count::Submitted => s.submitted,
            Count::Accepted => s.accepted,
            Count::Rejected => s.rejected,
            Count::Duplicates => s.duplicates,
            Count::Fills => s.fills,
            Count::LateFills => s.late_fills,
            Count::Timeouts => s.timeouts,
            Count::Anomalies => s.anomalies,
            Count::DuplicateExecs => s.duplicate_execs,
            Count::Retries => s.retries,
            Count::DeadLetters => s.dead_letters,
            Count::DeadLettersRefused => s.dead_letters_refused,
        }
    }
}

/// A venue's connectivity as the core last saw it.
#[derive(Default)]
pub struct VenueCell {
    up: AtomicBool,
    breaker: AtomicU8,
}

impl VenueCell {
    /// Session logged on (paper venues always are).
    pub fn up(&self) -> bool {
        self.up.load(Relaxed)
    }

    /// 0 closed, 1 open, 2 half-open.
    pub fn breaker(&self) -> u8 {
        self.breaker.load(Relaxed)
    }
}

/// Counters and gauges the core thread writes and anybody may read.
pub struct CoreMetrics {
    counts: [AtomicU64; Count::ALL.len()],
    rejects: Box<[AtomicU64]>,
    slip_bps: Buckets,
    slip_pips: Buckets,
    stages: [Buckets; Stage::ALL.len()],
    venues: Box<[VenueCell]>,
    journal_seq: AtomicU64,
    audit_seq: AtomicU64,
    journaled: AtomicBool,
    quotes_conflated: AtomicU64,
    idle: IdleCells,
    // The engine's statistics when this start began: counters count from the start of
    // the process, as Prometheus expects, not from the start of the journal.
    base: [AtomicU64; Count::ALL.len()],
}

impl fmt::Debug for CoreMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CoreMetrics").finish_non_exhaustive()
    }
}

impl CoreMetrics {
    /// Cells for `venues` venues, all zero.
    pub fn new(venues: usize) -> CoreMetrics {
        CoreMetrics {
            counts: Default::default(),
            rejects: Reason::ALL.iter().map(|_| AtomicU64::new(0)).collect(),
            slip_bps: Buckets::new(SLIP_BPS_BOUNDS_E2),
            slip_pips: Buckets::new(SLIP_PIPS_BOUNDS_E2),
            stages: std::array::from_fn(|_| Buckets::new(LATENCY_BOUNDS_NS)),
            venues: (0..venues).map(|_| VenueCell::default()).collect(),
            journal_seq: AtomicU64::new(0),
            audit_seq: AtomicU64::new(0),
            journaled: AtomicBool::new(false),
            quotes_conflated: AtomicU64::new(0),
            idle: IdleCells::default(),
            base: Default::default(),
        }
    }

    /// A counter since this start.
    pub fn count(&self, c: Count) -> u64 {
        self.counts[c as usize].load(Relaxed)
    }

    /// Requests rejected for `r` since this start.
    pub fn rejected(&self, r: Reason) -> u64 {
        self.rejects[r as usize].load(Relaxed)
    }

    /// Slippage of fills with a reference price, hundredths of a basis point.
    pub fn slippage_bps(&self) -> &Buckets {
        &self.slip_bps
    }

    /// The same in hundredths of a pip.
    pub fn slippage_pips(&self) -> &Buckets {
        &self.slip_pips
    }

    /// Latency of one stage, nanoseconds.
    pub fn stage(&self, s: Stage) -> &Buckets {
        &self.stages[s as usize]
    }

    /// Every venue by id.
    pub fn venues(&self) -> &[VenueCell] {
        &self.venues
    }

    /// Last journal record written and last copied into the audit log (sequence
    /// numbers); `None` without a journal.
    pub fn journal(&self) -> Option<(u64, u64)> {
        self.journaled
            .load(Relaxed)
            .then(|| (self.journal_seq.load(Relaxed), self.audit_seq.load(Relaxed)))
    }

    /// Quotes the venues dropped for a newer one of the same instrument within one core
    /// cycle (R-VEN-6), since this start.
    pub fn quotes_conflated(&self) -> u64 {
        self.quotes_conflated.load(Relaxed)
    }

    /// How the core idled: its waits in `epoll_wait` and what ended them, its blind
    /// parks, the wake-ups producers sent.
    pub fn idle(&self) -> IdleCounts {
        self.idle.read()
    }

    /// Whether the core is waiting in `epoll_wait` right now.
    pub fn idle_asleep(&self) -> bool {
        self.idle.asleep()
    }

    // The core's side.

    pub(crate) fn idle_cells(&self) -> &IdleCells {
        &self.idle
    }

    pub(crate) fn publish_quotes_conflated(&self, n: u64) {
        self.quotes_conflated.store(n, Relaxed);
    }

    /// Counting starts from `s` (what recovery rebuilt).
    pub(crate) fn baseline(&self, s: &EngineStats) {
        for c in Count::ALL {
            self.base[c as usize].store(c.of(s), Relaxed);
        }
    }

    pub(crate) fn publish_stats(&self, s: &EngineStats) {
        for c in Count::ALL {
            let v = c.of(s).wrapping_sub(self.base[c as usize].load(Relaxed));
            self.counts[c as usize].store(v, Relaxed);
        }
    }

    pub(crate) fn publish_venue(&self, v: usize, up: bool, breaker: u8) {
        if let Some(cell) = self.venues.get(v) {
            cell.up.store(up, Relaxed);
            cell.breaker.store(breaker, Relaxed);
        }
    }

    pub(crate) fn publish_journal(&self, written: u64, copied: u64) {
        self.journal_seq.store(written, Relaxed);
        self.audit_seq.store(copied, Relaxed);
        self.journaled.store(true, Relaxed);
    }

    #[inline]
    pub(crate) fn stage_ns(&self, s: Stage, ns: u64) {
        self.stages[s as usize].observe(ns.min(i64::MAX as u64) as i64);
    }

    /// What an event the core hands out says about requests: a rejection's reason, a
    /// fill's slippage.
    #[inline]
    pub(crate) fn observe(&self, ev: &CoreEvent) {
        match ev {
            CoreEvent::Rejected { reason, .. } => bump(&self.rejects[*reason as usize], 1),
            CoreEvent::Fill {
                slippage: Some(s), ..
            } => self.slippage(s),
            _ => {}
        }
    }

    fn slippage(&self, s: &Slippage) {
        self.slip_bps.observe(s.bps_e2);
        self.slip_pips.observe(s.pips_e2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_cumulative_with_the_top_one_as_the_total() {
        let b = Buckets::new(&[0, 10, 100]);
        for v in [-5, 0, 3, 10, 11, 1_000] {
            b.observe(v);
        }
        assert_eq!(b.cumulative(), vec![2, 4, 5, 6]);
        assert_eq!(b.sum(), 1_019);
    }

    #[test]
    fn counters_count_from_the_baseline() {
        let m = CoreMetrics::new(1);
        let mut s = EngineStats {
            accepted: 5,
            ..Default::default()
        };
        m.baseline(&s);
        s.accepted = 8;
        m.publish_stats(&s);
        assert_eq!(m.count(Count::Accepted), 3);
    }

    #[test]
    fn reason_indexes_follow_the_list() {
        for (i, r) in Reason::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i);
        }
    }
}
