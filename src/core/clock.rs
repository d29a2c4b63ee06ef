//! Time for the core: one trait, a quanta-backed real clock and a manual clock.
//!
//! The core never reads the OS clock directly, so tests, the demo and replay can run it
//! on a clock they control and get the same result every time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// A source of Unix-epoch nanoseconds.
pub trait Clock: Send {
    /// Now, in Unix ns.
    fn now_ns(&self) -> u64;
}

/// Real time from the TSC (quanta), anchored once to the system clock.
pub struct RealClock {
    clock: quanta::Clock,
    base_raw: u64,
    base_unix: u64,
}

impl RealClock {
    /// Anchors the TSC to the system clock now.
    pub fn new() -> RealClock {
        let clock = quanta::Clock::new();
        let base_raw = clock.raw();
        let base_unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        RealClock {
            clock,
            base_raw,
            base_unix,
        }
    }
}

impl Default for RealClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for RealClock {
    fn now_ns(&self) -> u64 {
        self.base_unix + self.clock.delta_as_nanos(self.base_raw, self.clock.raw())
    }
}

/// A clock that moves only when told to. Clones share the same time.
#[derive(Clone, Default)]
pub struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    /// A clock standing at `ns`.
    pub fn at(ns: u64) -> ManualClock {
        ManualClock(Arc::new(AtomicU64::new(ns)))
    }

    /// Moves the clock to `ns` (never backwards).
    pub fn set(&self, ns: u64) {
        self.0.fetch_max(ns, Ordering::Release);
    }

    /// Moves the clock forward by `ns`.
    pub fn advance(&self, ns: u64) {
        self.0.fetch_add(ns, Ordering::AcqRel);
    }
}

impl Clock for ManualClock {
    fn now_ns(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_forward() {
        let c = ManualClock::at(10);
        c.set(5);
        assert_eq!(c.now_ns(), 10);
        c.advance(7);
        assert_eq!(c.clone().now_ns(), 17);
    }

    #[test]
    fn real_clock_is_near_system_time() {
        let c = RealClock::new();
        let sys = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        assert!(c.now_ns().abs_diff(sys) < 1_000_000_000);
    }
}
