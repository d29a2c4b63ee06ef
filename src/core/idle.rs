//! Idle strategies for the duty cycle, after Aeron's: busy-spin, yield, and backoff.
//! Backoff's last phase is the caller's: the core waits on its sockets and its doorbell
//! there (`core::wait`), a producer waiting for an answer parks.

use crate::config::IdleKind;
use std::time::Duration;

const SPINS: u32 = 64;
const YIELDS: u32 = 128;
const MIN_PARK_NS: u64 = 1_000;
/// The longest a backoff sleeps: the core's idle wait too, so whatever no socket and no
/// ring announces (a FIX session's heartbeat timer, the audit sidecar's health, metrics
/// publication) is looked at at least this often.
pub(crate) const MAX_PARK_NS: u64 = 1_000_000;

/// An idle strategy with its state.
#[derive(Clone, Debug)]
pub struct Idle {
    kind: IdleKind,
    idle_cycles: u32,
    park_ns: u64,
}

impl Idle {
    /// A strategy of `kind`.
    pub fn new(kind: IdleKind) -> Idle {
        Idle {
            kind,
            idle_cycles: 0,
            park_ns: MIN_PARK_NS,
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
    /// blind park would be (growing from 1 µs to [`MAX_PARK_NS`]) and leaves the
    /// sleeping to the caller.
    #[inline]
    pub(crate) fn step(&mut self, did_work: bool) -> Option<u64> {
        if did_work {
            self.idle_cycles = 0;
            self.park_ns = MIN_PARK_NS;
            return None;
        }
        match self.kind {
            IdleKind::Spin => std::hint::spin_loop(),
            IdleKind::Yield => std::thread::yield_now(),
            IdleKind::Backoff => {
                self.idle_cycles = self.idle_cycles.saturating_add(1);
                if self.idle_cycles <= SPINS {
                    std::hint::spin_loop();
                } else if self.idle_cycles <= SPINS + YIELDS {
                    std::thread::yield_now();
                } else {
                    let ns = self.park_ns;
                    self.park_ns = (self.park_ns * 2).min(MAX_PARK_NS);
                    return Some(ns);
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_spins_yields_then_hands_back_growing_parks() {
        let mut i = Idle::new(IdleKind::Backoff);
        for _ in 0..SPINS + YIELDS {
            assert_eq!(i.step(false), None);
        }
        assert_eq!(i.step(false), Some(MIN_PARK_NS));
        assert_eq!(i.step(false), Some(2 * MIN_PARK_NS));
        for _ in 0..20 {
            i.step(false);
        }
        assert_eq!(i.step(false), Some(MAX_PARK_NS));
        assert_eq!(i.step(true), None, "work starts over");
        assert_eq!(i.step(false), None);
    }

    #[test]
    fn spin_and_yield_never_sleep() {
        for kind in [IdleKind::Spin, IdleKind::Yield] {
            let mut i = Idle::new(kind);
            for _ in 0..1_000 {
                assert_eq!(i.step(false), None);
            }
        }
    }
}
