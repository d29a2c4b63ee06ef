//! A venue's own rate limits as it reports them (R-VEN-3): the request weight and order
//! counts it says were used (Binance: `X-MBX-USED-WEIGHT-1M`, `X-MBX-ORDER-COUNT-10S`
//! response headers), and the "slow down" answers — HTTP 429, or 418 once an IP is
//! banned — with their `Retry-After`. While the venue has said to wait, nothing is sent:
//! an order is refused at once with [`Reason::VenueRateLimited`] (a clear answer, never
//! a hang, and never a request that would extend a ban).

use crate::model::rate_limits::{OrderWindow, RateLimits};
use crate::model::reason::Reason;
use serde_json::Value;

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
    /// The venue's published REQUEST_WEIGHT per minute (exchangeInfo; 0: unknown).
    pub venue_weight_cap: u64,
    /// Its order-count windows (short, long) with the counts its headers gave, and the
    /// Unix ms window each count belongs to.
    pub orders: [OrderWindow; 2],
    order_window_of: [u64; 2],
    /// The minute `used_weight` belongs to.
    weight_minute: u64,
    /// What the core was last told, and when (Unix ms).
    told: Option<RateLimits>,
    told_at_ms: u64,
}

/// How full a budget is, in quarters: a report goes to the core when this changes, not
/// per request.
fn quarter(used: u64, cap: u64) -> u64 {
    if cap == 0 {
        return 0;
    }
    (used.saturating_mul(4) / cap).min(4)
}

/// A window named like Binance's header suffixes and `rateLimits` intervals, in seconds;
/// None for a zero-length window (the venue's word, so it must not reach a division).
fn window_secs(num: u64, unit: &str) -> Option<u32> {
    if num == 0 {
        return None;
    }
    let per = match unit {
        "s" | "second" => 1,
        "m" | "minute" => 60,
        "h" | "hour" => 3_600,
        "d" | "day" => 86_400,
        _ => return None,
    };
    u32::try_from(num.checked_mul(per)?).ok()
}

/// Which window of `secs` seconds `now_ms` falls in; a zero-length window (never built,
/// but a window slot may be unset) is window 0 rather than a division by zero.
fn window_of(now_ms: u64, secs: u32) -> u64 {
    now_ms.checked_div(u64::from(secs) * 1000).unwrap_or(0)
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

    /// The caps exchangeInfo publishes (`rateLimits`: REQUEST_WEIGHT per minute, ORDERS
    /// per window); what it does not give stays as it was. Values that are not numbers
    /// are ignored, never a panic.
    pub fn exchange_info(&mut self, info: &Value) {
        let Some(list) = info.get("rateLimits").and_then(Value::as_array) else {
            return;
        };
        let mut orders: Vec<OrderWindow> = Vec::new();
        for l in list {
            let kind = l.get("rateLimitType").and_then(Value::as_str).unwrap_or("");
            let unit = l
                .get("interval")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_ascii_lowercase();
            let num = l.get("intervalNum").and_then(Value::as_u64).unwrap_or(0);
            let limit = l.get("limit").and_then(Value::as_u64).unwrap_or(0);
            let Some(secs) = window_secs(num, &unit) else {
                continue;
            };
            match kind {
                "REQUEST_WEIGHT" if secs == 60 => self.venue_weight_cap = limit,
                "ORDERS" => orders.push(OrderWindow {
                    secs,
                    count: 0,
                    cap: u32::try_from(limit).unwrap_or(u32::MAX),
                }),
                _ => {}
            }
        }
        orders.sort_by_key(|w| w.secs);
        // The shortest and the longest: the two Binance publishes per market.
        if let (Some(short), Some(long)) = (orders.first(), orders.last()) {
            self.orders[0] = *short;
            self.orders[1] = if orders.len() > 1 {
                *long
            } else {
                OrderWindow::default()
            };
            self.order_window_of = [0; 2];
        }
    }

    /// Reads one response header (name in any case) received at `now_ms`.
    pub fn header(&mut self, now_ms: u64, name: &str, value: &str) {
        let n = name.to_ascii_lowercase();
        let Ok(v) = value.trim().parse::<u64>() else {
            return;
        };
        if n.starts_with("x-mbx-used-weight-") {
            self.used_weight = v;
            self.weight_minute = now_ms / 60_000;
        } else if let Some(suffix) = n.strip_prefix("x-mbx-order-count-") {
            // The shortest window is the one that bites first; any is a lower bound.
            self.order_count = v;
            let digits = suffix.bytes().take_while(u8::is_ascii_digit).count();
            let Some(secs) = suffix[..digits]
                .parse::<u64>()
                .ok()
                .and_then(|num| window_secs(num, &suffix[digits..]))
            else {
                return;
            };
            let slot = match self.orders.iter().position(|w| w.secs == secs) {
                Some(i) => i,
                None => match self.orders.iter().position(|w| w.secs == 0) {
                    Some(i) => {
                        self.orders[i].secs = secs;
                        i
                    }
                    None => return,
                },
            };
            self.orders[slot].count = u32::try_from(v).unwrap_or(u32::MAX);
            self.order_window_of[slot] = window_of(now_ms, secs);
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

    /// The state at `now_ms` as the core is to see it: counts of windows that have
    /// ended are 0, the hold is what is left of it.
    pub fn state(&self, now_ms: u64) -> RateLimits {
        let mut orders = self.orders;
        for (w, of) in orders.iter_mut().zip(self.order_window_of) {
            if w.secs == 0 || window_of(now_ms, w.secs) != of {
                w.count = 0;
            }
        }
        let used_weight = if now_ms / 60_000 == self.weight_minute {
            self.used_weight
        } else {
            0
        };
        let cap = if self.weight_cap > 0 {
            self.weight_cap
        } else {
            self.venue_weight_cap
        };
        RateLimits {
            used_weight: u32::try_from(used_weight).unwrap_or(u32::MAX),
            weight_cap: u32::try_from(cap).unwrap_or(u32::MAX),
            orders,
            retry_after_ms: u32::try_from(self.hold_until_ms.saturating_sub(now_ms))
                .unwrap_or(u32::MAX),
        }
    }

    /// What to tell the core now, if anything: only when it changed meaningfully since
    /// the last report — caps, a budget crossing a quarter of its cap (up, or down when
    /// a window ends), a new hold (429/418) or its release — so the journal holds a
    /// handful of these, not one per request.
    pub fn report(&mut self, now_ms: u64) -> Option<RateLimits> {
        let now = self.state(now_ms);
        let changed = match &self.told {
            None => true,
            Some(was) => {
                let held = |l: &RateLimits| l.retry_after_ms > 0;
                let caps = |l: &RateLimits| (l.weight_cap, l.orders.map(|w| (w.secs, w.cap)));
                let level = |l: &RateLimits| {
                    (
                        quarter(l.used_weight.into(), l.weight_cap.into()),
                        l.orders.map(|w| quarter(w.count.into(), w.cap.into())),
                    )
                };
                caps(was) != caps(&now)
                    || level(was) != level(&now)
                    || held(was) != held(&now)
                    // A longer hold than the one told (a second 429, a ban).
                    || self.hold_until_ms > self.told_hold_until(was)
            }
        };
        if !changed {
            return None;
        }
        self.told = Some(now);
        self.told_at_ms = now_ms;
        Some(now)
    }

    fn told_hold_until(&self, was: &RateLimits) -> u64 {
        self.told_at_ms
            .saturating_add(u64::from(was.retry_after_ms))
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
        l.header(0, "X-MBX-USED-WEIGHT-1M", "999");
        l.header(0, "x-mbx-order-count-10s", "12");
        assert_eq!((l.used_weight, l.order_count), (999, 12));
        assert!(l.check(0).is_ok());
        l.header(0, "X-MBX-USED-WEIGHT-1M", "1000");
        assert_eq!(l.check(0), Err(Reason::VenueRateLimited));
        l.new_minute();
        assert!(l.check(0).is_ok());
        // Garbage is ignored, never a panic.
        l.header(0, "X-MBX-USED-WEIGHT-1M", "-5x");
        assert_eq!(l.used_weight, 0);
    }

    #[test]
    fn caps_come_from_exchange_info_and_counts_from_headers() {
        let info = serde_json::json!({"rateLimits": [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
            {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 5},
            {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000},
            {"rateLimitType": "ORDERS", "interval": "FORTNIGHT", "intervalNum": "x", "limit": -1}
        ]});
        let mut l = VenueLimits::new(0);
        l.exchange_info(&info);
        let t = 1_700_000_000_000; // a 10 s and minute boundary
        l.header(t, "X-MBX-ORDER-COUNT-10S", "2");
        l.header(t, "X-MBX-ORDER-COUNT-1D", "40");
        l.header(t, "X-MBX-USED-WEIGHT-1M", "7");
        let s = l.state(t + 1);
        assert_eq!(s.weight_cap, 6000);
        assert_eq!(s.used_weight, 7);
        assert_eq!(
            s.orders,
            [
                OrderWindow {
                    secs: 10,
                    count: 2,
                    cap: 5
                },
                OrderWindow {
                    secs: 86_400,
                    count: 40,
                    cap: 200_000
                }
            ]
        );
        // The 10 s window ended: its count is gone; the day's stays.
        let later = l.state(t + 10_000);
        assert_eq!((later.orders[0].count, later.orders[1].count), (0, 40));
        // USDⓈ-M names its long window per minute.
        let mut u = VenueLimits::new(0);
        u.header(t, "X-MBX-ORDER-COUNT-1M", "3");
        u.header(t, "X-MBX-ORDER-COUNT-10S", "1");
        assert_eq!(
            u.state(t).orders[0],
            OrderWindow {
                secs: 60,
                count: 3,
                cap: 0
            }
        );
        assert_eq!(
            u.state(t).orders[1],
            OrderWindow {
                secs: 10,
                count: 1,
                cap: 0
            }
        );
    }

    #[test]
    fn reports_go_out_on_thresholds_holds_and_releases_only() {
        let info = serde_json::json!({"rateLimits": [
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100}
        ]});
        let mut l = VenueLimits::new(0);
        l.exchange_info(&info);
        let t = 1_700_000_000_000;
        assert!(l.report(t).is_some(), "the caps, first");
        assert!(l.report(t).is_none());
        let mut told = 0;
        for n in 1..=60 {
            l.header(t + n, "X-MBX-ORDER-COUNT-10S", &n.to_string());
            told += l.report(t + n).is_some() as u32;
        }
        assert_eq!(told, 2, "25 % and 50 % crossed, nothing per order");
        l.status(t + 100, 429, Some("3"));
        let r = l.report(t + 100).expect("a hold is told at once");
        assert_eq!(r.retry_after_ms, 3_000);
        assert!(
            l.report(t + 200).is_none(),
            "the same hold is not told again"
        );
        l.status(t + 300, 418, Some("120"));
        assert_eq!(l.report(t + 300).map(|r| r.retry_after_ms), Some(120_000));
        let r = l.report(t + 300 + 120_000).expect("the release is told");
        assert_eq!(r.retry_after_ms, 0);
        assert_eq!(r.orders[0].count, 0, "and the 10 s window has ended since");
    }

    #[test]
    fn zero_and_absurd_windows_from_the_venue_are_ignored_not_a_panic() {
        let t = 1_700_000_000_000;
        let mut l = VenueLimits::new(0);
        for (name, value) in [
            ("x-mbx-order-count-0s", "3"),
            ("x-mbx-order-count-0d", "3"),
            ("x-mbx-order-count-s", "3"),
            ("x-mbx-order-count-99999999999999999999999s", "3"),
            ("x-mbx-order-count-18446744073709551615d", "3"),
            ("x-mbx-order-count-5000000d", "3"),
            ("x-mbx-order-count-4294967296s", "3"),
            ("x-mbx-order-count-10s", "18446744073709551615"),
        ] {
            l.header(t, name, value);
            let _ = l.state(t + 1);
            let _ = l.report(t + 1);
        }
        // Only the one sane window was taken.
        assert_eq!(l.orders[0].secs, 10);
        assert_eq!(l.orders[0].count, u32::MAX);
        assert_eq!(l.orders[1].secs, 0);
        let info = serde_json::json!({"rateLimits": [
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 0, "limit": 5},
            {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 0, "limit": 9},
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 0, "limit": 6000},
            {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": u64::MAX, "limit": 9}
        ]});
        let mut l = VenueLimits::new(0);
        l.exchange_info(&info);
        l.header(t, "x-mbx-order-count-0s", "1");
        let s = l.state(t);
        assert_eq!(s.weight_cap, 0);
        assert_eq!(s.orders, [OrderWindow::default(); 2]);
        let _ = l.report(t);
    }
}
