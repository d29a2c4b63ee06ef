//! Idle strategies for the duty cycle, after Aeron's: busy-spin, yield, and backoff.
//! Backoff's last phase is the caller's: the core waits on its sockets and its doorbell
//! there (`core::wait`), a producer waiting for an answer parks.

use crate::config::IdleKind;
use std::time::{Duration, Instant};

const SPINS: u32 = 64;
const MIN_PARK_NS: u64 = 1_000;
/// The longest a backoff sleeps: the core's idle wait too, so whatever no socket and no
/// ring announces (a FIX session's heartbeat timer, the audit sidecar's health, metrics
/// publication) is looked at at least this often.
pub(crate) const MAX_PARK_NS: u64 = 1_000_000;
/// How long a producer waiting for room or an answer yields before it parks: about what
/// the 128 yields it made before took on an idle CPU.
const PRODUCER_YIELD: Duration = Duration::from_micros(100);

/// An idle strategy with its state.
#[derive(Clone, Debug)]
pub struct Idle {
    kind: IdleKind,
    idle_cycles: u32,
    park_ns: u64,
    yield_for: Duration,
    /// When backoff's yields began; none while spinning or after work.
    yielding_since: Option<Instant>,
}

impl Idle {
    /// A producer's strategy of `kind`: backoff spins, yields ≈ 100 µs, then parks for
    /// 1 µs doubling up to [`MAX_PARK_NS`].
    pub fn new(kind: IdleKind) -> Idle {
        Idle {
            kind,
            idle_cycles: 0,
            park_ns: MIN_PARK_NS,
            yield_for: PRODUCER_YIELD,
            yielding_since: None,
        }
    }

    /// The core's strategy of `kind`: backoff spins, yields until `yield_for` has passed
    /// without work, then hands back parks growing from 1 µs. The core sleeps in
    /// `epoll_wait` from the first of them where it can (`core::wait`); the parks' lengths
    /// are for when nothing would announce what it waits for.
    pub(crate) fn core(kind: IdleKind, yield_for: Duration) -> Idle {
        Idle {
            yield_for,
            ..Idle::new(kind)
        }
    }

    /// Called once per cycle with whether it did any work; parks blind in backoff's
    /// last phase.
    #[inline]
    pub fn idle(&mut self, did_work: bool) {
        if let Some(ns) = self.step(did_work) {
            std::thread::park_timeout(Duration::from_nanos(ns));
        }
    }

    /// Spins or yields as the strategy says; in backoff's last phase returns how long a
    /// blind park would be (growing from 1 µs to [`MAX_PARK_NS`]) and leaves the sleeping
    /// to the caller.
    #[inline]
    pub(crate) fn step(&mut self, did_work: bool) -> Option<u64> {
        if did_work {
            self.idle_cycles = 0;
            self.park_ns = MIN_PARK_NS;
            self.yielding_since = None;
            return None;
        }
        match self.kind {
            IdleKind::Spin => std::hint::spin_loop(),
            IdleKind::Yield => std::thread::yield_now(),
            IdleKind::Backoff => {
                self.idle_cycles = self.idle_cycles.saturating_add(1);
                if self.idle_cycles <= SPINS {
                    std::hint::spin_loop();
                    return None;
                }
                // The clock is read only here, on cycles that found nothing to do.
                let since = *self.yielding_since.get_or_insert_with(Instant::now);
                if since.elapsed() < self.yield_for {
                    std::thread::yield_now();
                    return None;
                }
                let ns = self.park_ns;
                self.park_ns = (self.park_ns * 2).min(MAX_PARK_NS);
                return Some(ns);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_producers_backoff_spins_yields_then_hands_back_growing_parks() {
        let mut i = Idle::new(IdleKind::Backoff);
        for _ in 0..SPINS {
            assert_eq!(i.step(false), None);
        }
        let yielding = Instant::now();
        while yielding.elapsed() < PRODUCER_YIELD {
            assert_eq!(i.step(false), None, "parked before its yields' time was up");
        }
        // The window is measured from the first yield, a little after `yielding`.
        let first = loop {
            if let Some(ns) = i.step(false) {
                break ns;
            }
            assert!(yielding.elapsed() < Duration::from_secs(5), "never parked");
        };
        assert_eq!(first, MIN_PARK_NS);
        assert_eq!(i.step(false), Some(2 * MIN_PARK_NS));
        for _ in 0..20 {
            i.step(false);
        }
        assert_eq!(i.step(false), Some(MAX_PARK_NS));
        assert_eq!(i.step(true), None, "work starts over");
        assert_eq!(i.step(false), None);
    }

    #[test]
    fn the_cores_backoff_yields_its_whole_window_before_it_sleeps() {
        let window = Duration::from_millis(3);
        let mut i = Idle::core(IdleKind::Backoff, window);
        for round in 0..2 {
            let start = Instant::now();
            let first = loop {
                if let Some(ns) = i.step(false) {
                    break ns;
                }
                assert!(start.elapsed() < Duration::from_secs(5), "never slept");
            };
            assert!(
                start.elapsed() >= window,
                "round {round}: slept before its window"
            );
            assert_eq!(first, MIN_PARK_NS);
            assert_eq!(i.step(false), Some(2 * MIN_PARK_NS));
            assert_eq!(i.step(true), None, "work starts the window over");
        }
        let mut none = Idle::core(IdleKind::Backoff, Duration::ZERO);
        for _ in 0..SPINS {
            assert_eq!(none.step(false), None, "the spins come first");
        }
        assert_eq!(none.step(false), Some(MIN_PARK_NS));
    }

    #[test]
    fn spin_and_yield_never_sleep() {
        for kind in [IdleKind::Spin, IdleKind::Yield] {
            for mut i in [Idle::new(kind), Idle::core(kind, Duration::ZERO)] {
                for _ in 0..1_000 {
                    assert_eq!(i.step(false), None);
                }
            }
        }
    }
}
