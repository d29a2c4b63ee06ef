//! A venue's own rate limits as it reports them (R-VEN-3): the request weight and order
//! counts it says were used (Binance: `X-MBX-USED-WEIGHT-1M`, `X-MBX-ORDER-COUNT-10S`
//! response headers), and the "slow down" answers — HTTP 429, or 418 once an IP is
//! banned — with their `Retry-After`. While the venue has said to wait, nothing is sent:
//! an order is refused at once with [`Reason::VenueRateLimited`] (a clear answer, never
//! a hang, and never a request that would extend a ban).

use crate::model::reason::Reason;

/// What the venue said about its limits, and until when it asked us to hold off.
#[derive(Debug, Clone, Copy, Default)]
pub struct VenueLimits {
    /// Request weight used in the current window, as last reported.
    pub used_weight: u64,
    /// Orders counted in the venue's shortest order window, as last reported.
    pub order_count: u64,
    /// Most weight per window we let ourselves use (0: no own cap).
    pub weight_cap: u64,
    /// Unix ms before which nothing is sent (a 429/418's Retry-After).
    pub hold_until_ms: u64,
    /// 429s and 418s seen.
    pub throttled: u64,
    /// Requests refused here without being sent.
    pub refused: u64,
}

impl VenueLimits {
    /// Limits with our own weight cap (e.g. a margin under the venue's published one).
    pub fn new(weight_cap: u64) -> VenueLimits {
        VenueLimits {
            weight_cap,
            ..VenueLimits::default()
        }
    }

    /// Whether a request may go out at `now_ms`; if not, why.
    pub fn check(&mut self, now_ms: u64) -> Result<(), Reason> {
        if now_ms < self.hold_until_ms
            || (self.weight_cap > 0 && self.used_weight >= self.weight_cap)
        {
            self.refused += 1;
            return Err(Reason::VenueRateLimited);
        }
        Ok(())
    }

    /// Reads one response header (name in any case).
    pub fn header(&mut self, name: &str, value: &str) {
        let n = name.to_ascii_lowercase();
        let Ok(v) = value.trim().parse::<u64>() else {
            return;
        };
        if n.starts_with("x-mbx-used-weight-") {
            self.used_weight = v;
        } else if n.starts_with("x-mbx-order-count-") {
            // The shortest window is the one that bites first; any is a lower bound.
            self.order_count = v;
        }
    }

    /// A response's status and `Retry-After` (seconds): 429 and 418 hold everything off
    /// until then (at least one second when the venue names no delay). The weight window
    /// of a request we let through since the last header is reset at a minute boundary.
    pub fn status(&mut self, now_ms: u64, status: u16, retry_after: Option<&str>) {
        if status == 429 || status == 418 {
            self.throttled += 1;
            let secs = retry_after
                .and_then(|s| s.trim().parse::<u64>().ok())
                .unwrap_or(1)
                .clamp(1, 24 * 3600);
            self.hold_until_ms = self.hold_until_ms.max(now_ms.saturating_add(secs * 1000));
        }
    }

    /// A new weight window began (the venue's windows are per minute): what was used
    /// is forgotten until the next header says otherwise.
    pub fn new_minute(&mut self) {
        self.used_weight = 0;
        self.order_count = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_holds_every_request_and_then_lets_go() {
        let mut l = VenueLimits::new(0);
        assert!(l.check(1_000).is_ok());
        l.status(1_000, 429, Some("7"));
        assert_eq!(l.check(1_001), Err(Reason::VenueRateLimited));
        assert_eq!(l.check(7_999), Err(Reason::VenueRateLimited));
        assert!(l.check(8_000).is_ok());
        // A ban without a Retry-After still holds for a second.
        l.status(10_000, 418, None);
        assert!(l.check(10_500).is_err());
        assert!(l.check(11_000).is_ok());
        assert_eq!((l.throttled, l.refused), (2, 3));
    }

    #[test]
    fn used_weight_from_headers_caps_requests() {
        let mut l = VenueLimits::new(1_000);
        l.header("X-MBX-USED-WEIGHT-1M", "999");
        l.header("x-mbx-order-count-10s", "12");
        assert_eq!((l.used_weight, l.order_count), (999, 12));
        assert!(l.check(0).is_ok());
        l.header("X-MBX-USED-WEIGHT-1M", "1000");
        assert_eq!(l.check(0), Err(Reason::VenueRateLimited));
        l.new_minute();
        assert!(l.check(0).is_ok());
        // Garbage is ignored, never a panic.
        l.header("X-MBX-USED-WEIGHT-1M", "-5x");
        assert_eq!(l.used_weight, 0);
    }
}
