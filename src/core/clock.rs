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

/// Unix ns of a UTC date and time, for fixed simulated start times.
pub fn unix_ns(year: i64, month: u32, day: u32, hour: u32, minute: u32) -> u64 {
    // Days from civil, proleptic Gregorian (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = month as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    ((days * 86_400 + hour as i64 * 3600 + minute as i64 * 60) * 1_000_000_000) as u64
}

/// The UTC date of Unix ns: (year, month, day).
pub fn civil_date(ns: u64) -> (i64, u32, u32) {
    let days = (ns / 86_400_000_000_000) as i64;
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Unix ns as "2026-01-05T15:00:00.123456789Z".
pub fn iso8601(ns: u64) -> String {
    let (y, m, d) = civil_date(ns);
    let secs = ns / 1_000_000_000 % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:09}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60,
        ns % 1_000_000_000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_dates() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000000000Z");
        let t = unix_ns(2026, 1, 5, 15, 0) + 1_500_000_000;
        assert_eq!(iso8601(t), "2026-01-05T15:00:01.500000000Z");
        assert_eq!(civil_date(unix_ns(2024, 2, 29, 23, 59)), (2024, 2, 29));
    }

    #[test]
    fn civil_dates() {
        assert_eq!(unix_ns(1970, 1, 1, 0, 0), 0);
        assert_eq!(unix_ns(2026, 1, 5, 0, 0) / 86_400_000_000_000, 20458);
    }

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
