//! Venue health for the gate (R-GATE-8): the circuit breaker (R-RES-2) and the order-rate
//! throttle (R-GATE-7), both driven by the core's clock so they replay deterministically.

/// Circuit breaker: opens after N consecutive failures, half-opens after a cooldown to let
/// one probe through, closes on a success.
#[derive(Clone, Debug)]
pub struct Breaker {
    threshold: u32,
    cooldown_ns: u64,
    failures: u32,
    opened_at: Option<u64>,
    probing: bool,
}

/// The breaker's position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerState {
    /// Orders flow.
    Closed,
    /// Orders are refused.
    Open,
    /// One probe may go.
    HalfOpen,
}

impl Breaker {
    /// A closed breaker.
    pub fn new(threshold: u32, cooldown_ns: u64) -> Self {
        Breaker {
            threshold,
            cooldown_ns,
            failures: 0,
            opened_at: None,
            probing: false,
        }
    }

    /// New settings from a configuration change; failures counted so far and an open
    /// breaker stay as they are.
    pub(crate) fn retune(&mut self, threshold: u32, cooldown_ns: u64) {
        self.threshold = threshold;
        self.cooldown_ns = cooldown_ns;
    }

    /// Position at `now`.
    pub fn state(&self, now: u64) -> BreakerState {
        match self.opened_at {
            None => BreakerState::Closed,
            Some(t) if !self.probing && now >= t.saturating_add(self.cooldown_ns) => {
                BreakerState::HalfOpen
            }
            Some(_) => BreakerState::Open,
        }
    }

    /// Whether an order may go now.
    pub fn allows(&self, now: u64) -> bool {
        self.state(now) != BreakerState::Open
    }

    /// An order was sent; in half-open state it is the probe.
    pub fn on_send(&mut self, now: u64) {
        if self.state(now) == BreakerState::HalfOpen {
            self.probing = true;
        }
    }

    /// The venue answered.
    pub fn on_success(&mut self) {
        self.failures = 0;
        self.opened_at = None;
        self.probing = false;
    }

    /// The venue failed to answer (timeout, transport error).
    pub fn on_failure(&mut self, now: u64) {
        self.failures = self.failures.saturating_add(1);
        if self.probing || self.failures >= self.threshold {
            self.opened_at = Some(now);
            self.probing = false;
        }
    }
}

/// Token bucket in integer arithmetic: `rate` tokens per second, at most `burst`.
#[derive(Clone, Debug)]
pub struct Throttle {
    rate: u64,
    burst_e9: u64,
    // Tokens × 10⁹, so refills of a fraction of a token are not lost.
    tokens_e9: u64,
    last_ns: u64,
}

impl Throttle {
    /// A full bucket.
    pub fn new(rate_per_sec: u32, burst: u32) -> Self {
        Throttle {
            rate: rate_per_sec as u64,
            burst_e9: burst as u64 * 1_000_000_000,
            tokens_e9: burst as u64 * 1_000_000_000,
            last_ns: 0,
        }
    }

    /// New settings from a configuration change. The tokens already earned are kept (up
    /// to the new burst), so a restart neither refills the bucket nor empties it.
    pub(crate) fn retune(&mut self, rate_per_sec: u32, burst: u32) {
        self.rate = rate_per_sec as u64;
        self.burst_e9 = burst as u64 * 1_000_000_000;
        self.tokens_e9 = self.tokens_e9.min(self.burst_e9);
    }

    fn level(&self, now: u64) -> u64 {
        let elapsed = now.saturating_sub(self.last_ns);
        let refill = elapsed.saturating_mul(self.rate);
        self.tokens_e9.saturating_add(refill).min(self.burst_e9)
    }

    /// Whether a token is available at `now`.
    pub fn available(&self, now: u64) -> bool {
        self.level(now) >= 1_000_000_000
    }

    /// Takes a token (call only after `available`).
    pub fn take(&mut self, now: u64) {
        self.tokens_e9 = self.level(now).saturating_sub(1_000_000_000);
        self.last_ns = self.last_ns.max(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breaker_opens_half_opens_and_closes() {
        let mut b = Breaker::new(3, 1_000);
        for t in 0..3 {
            assert!(b.allows(t));
            b.on_failure(t);
        }
        assert_eq!(b.state(10), BreakerState::Open);
        assert_eq!(b.state(2 + 1_000), BreakerState::HalfOpen);
        b.on_send(1_002);
        assert_eq!(b.state(1_003), BreakerState::Open, "only one probe");
        b.on_failure(1_004);
        assert_eq!(b.state(1_500), BreakerState::Open, "failed probe re-opens");
        b.on_send(2_004);
        b.on_success();
        assert_eq!(b.state(2_005), BreakerState::Closed);
    }

    #[test]
    fn throttle_refills_at_rate() {
        let mut t = Throttle::new(1_000, 2); // one token per ms
        assert!(t.available(0));
        t.take(0);
        t.take(0);
        assert!(!t.available(0));
        assert!(!t.available(999_999));
        assert!(t.available(1_000_000));
        t.take(1_000_000);
        assert!(!t.available(1_000_000));
        assert!(t.available(10_000_000_000));
    }
}
