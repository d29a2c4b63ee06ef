//! Idle strategies for the duty cycle, after Aeron's: busy-spin, yield, and backoff.

use crate::config::IdleKind;
use std::time::Duration;

const SPINS: u32 = 64;
const YIELDS: u32 = 128;
const MIN_PARK_NS: u64 = 1_000;
const MAX_PARK_NS: u64 = 1_000_000;

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

    /// Called once per duty cycle with whether it did any work.
    #[inline]
    pub fn idle(&mut self, did_work: bool) {
        if did_work {
            self.idle_cycles = 0;
            self.park_ns = MIN_PARK_NS;
            return;
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
                    std::thread::park_timeout(Duration::from_nanos(self.park_ns));
                    self.park_ns = (self.park_ns * 2).min(MAX_PARK_NS);
                }
            }
        }
    }
}
