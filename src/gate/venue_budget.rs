//! A venue's own rate limits as the gate keeps them (R-GATE-7, R-VEN-3): its new-order
//! budgets per window, its request weight, and a 429/418's Retry-After. The venue's
//! numbers arrive as journaled inputs ([`RateLimits`]); between two reports the gate
//! counts the orders it sends itself, so it does not wait for a response header to learn
//! it overshot. Everything is on engine time: a replay rebuilds the same decisions.

use crate::model::rate_limits::RateLimits;

const NS_PER_SEC: u64 = 1_000_000_000;

/// One fixed window (Binance counts per interval aligned to Unix time): what was used
/// in it and how much it allows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Window {
    len_ns: u64,
    cap: u64,
    /// Which window `used` counts (`now / len_ns`).
    index: u64,
    used: u64,
}

impl Window {
    fn used_at(&self, now: u64) -> u64 {
        if self.len_ns == 0 || now / self.len_ns != self.index {
            0
        } else {
            self.used
        }
    }

    fn allows(&self, now: u64) -> bool {
        self.cap == 0 || self.used_at(now) < self.cap
    }

    fn roll(&mut self, now: u64) {
        if self.len_ns > 0 && now / self.len_ns != self.index {
            self.index = now / self.len_ns;
            self.used = 0;
        }
    }

    /// The venue's numbers. Its count covers what it had received when it answered;
    /// orders this core sent after that are still on their way, so the larger of the
    /// two counts stands (never under-counting) until the window ends.
    fn report(&mut self, now: u64, secs: u32, used: u32, cap: u32) {
        let len_ns = u64::from(secs).saturating_mul(NS_PER_SEC);
        if len_ns != self.len_ns {
            *self = Window {
                len_ns,
                ..Window::default()
            };
        }
        self.cap = u64::from(cap);
        if len_ns == 0 {
            return;
        }
        self.roll(now);
        self.used = self.used.max(u64::from(used));
    }

    fn count(&mut self, now: u64) {
        if self.len_ns > 0 {
            self.roll(now);
            self.used = self.used.saturating_add(1);
        }
    }

    fn uncount(&mut self, now: u64) {
        if self.len_ns > 0 {
            self.roll(now);
            self.used = self.used.saturating_sub(1);
        }
    }

    /// When it next allows one (`now` if it does): the start of the next window.
    fn free_at(&self, now: u64) -> u64 {
        if self.allows(now) {
            now
        } else {
            self.index.saturating_add(1).saturating_mul(self.len_ns)
        }
    }
}

/// A venue's limits for the gate; with no report yet (every non-bridge venue) it allows
/// everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VenueBudget {
    orders: [Window; 2],
    weight: Window,
    hold_until_ns: u64,
}

impl VenueBudget {
    /// Whether a new order may go to the venue at `now`.
    pub fn allows(&self, now: u64) -> bool {
        now >= self.hold_until_ns
            && self.orders.iter().all(|w| w.allows(now))
            && self.weight.allows(now)
    }

    /// A new order (or a replace: Binance counts a cancelReplace or a modify as an
    /// order) went out: it counts in every order window until the venue's next report
    /// says otherwise.
    pub fn on_send(&mut self, now: u64) {
        for w in &mut self.orders {
            w.count(now);
        }
    }

    /// One counted at `on_send` never reached the venue (its adapter wrote nothing):
    /// it is not counted, so its resend counts once. Taken from the window of `now`;
    /// the adapter tells it at the engine time of the send, so that is the window it
    /// was counted in (were it heard in the next, the venue's next report, of which
    /// the larger count stands, puts back what was taken).
    pub fn on_unsent(&mut self, now: u64) {
        for w in &mut self.orders {
            w.uncount(now);
        }
    }

    /// The earliest engine time from `now` on at which [`VenueBudget::allows`] may
    /// hold again: after the hold and the end of every full window (a report may free
    /// it sooner).
    pub fn free_at(&self, now: u64) -> u64 {
        self.orders
            .iter()
            .chain(std::iter::once(&self.weight))
            .map(|w| w.free_at(now))
            .fold(now.max(self.hold_until_ns), u64::max)
    }

    /// The venue's report, applied at `now`: counts and caps as it told them, and its
    /// hold (a Retry-After) from now on — a report without one releases it.
    pub fn on_report(&mut self, now: u64, l: &RateLimits) {
        for (w, r) in self.orders.iter_mut().zip(l.orders) {
            w.report(now, r.secs, r.count, r.cap);
        }
        // The venue's weight is per minute; none of it is counted here (what a request
        // weighs is the venue's business), only what it said.
        let mut weight = Window {
            len_ns: 60 * NS_PER_SEC,
            cap: u64::from(l.weight_cap),
            index: now / (60 * NS_PER_SEC),
            used: u64::from(l.used_weight),
        };
        if l.weight_cap == 0 {
            weight = Window::default();
        }
        self.weight = weight;
        self.hold_until_ns = now.saturating_add(u64::from(l.retry_after_ms) * 1_000_000);
    }

    /// Orders counted in window `i` (0: short, 1: long) at `now`, and its cap.
    pub fn orders(&self, i: usize, now: u64) -> (u64, u64) {
        self.orders
            .get(i)
            .map_or((0, 0), |w| (w.used_at(now), w.cap))
    }

    /// Until when the venue said to hold off (engine ns; in the past: no hold).
    pub fn hold_until(&self) -> u64 {
        self.hold_until_ns
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::rate_limits::OrderWindow;

    const S: u64 = NS_PER_SEC;

    fn report(count_10s: u32, cap_10s: u32, retry_ms: u32) -> RateLimits {
        RateLimits {
            used_weight: 10,
            weight_cap: 6_000,
            orders: [
                OrderWindow {
                    secs: 10,
                    count: count_10s,
                    cap: cap_10s,
                },
                OrderWindow {
                    secs: 86_400,
                    count: count_10s,
                    cap: 1_000,
                },
            ],
            retry_after_ms: retry_ms,
        }
    }

    #[test]
    fn no_report_no_limit() {
        let mut b = VenueBudget::default();
        for i in 0..10_000 {
            assert!(b.allows(i));
            b.on_send(i);
        }
    }

    #[test]
    fn orders_sent_are_counted_before_the_venue_says_so_and_the_window_frees_them() {
        let mut b = VenueBudget::default();
        let t0 = 1_700_000_000 * S; // a 10 s boundary
        b.on_report(t0, &report(0, 3, 0));
        for k in 0..3 {
            assert!(b.allows(t0 + k), "order {k}");
            b.on_send(t0 + k);
        }
        assert!(!b.allows(t0 + 5), "the fourth in the window is refused");
        assert_eq!(b.orders(0, t0 + 5), (3, 3));
        // The venue's report of fewer (it has not seen the last yet) does not free one.
        b.on_report(t0 + 6, &report(2, 3, 0));
        assert!(!b.allows(t0 + 7));
        // The next window starts empty.
        assert!(b.allows(t0 + 10 * S));
        assert_eq!(b.orders(0, t0 + 10 * S), (0, 3));
        // The venue counting more than we did wins.
        b.on_report(t0 + 11 * S, &report(3, 3, 0));
        assert!(!b.allows(t0 + 11 * S));
        // The day window keeps counting across 10 s windows.
        assert_eq!(b.orders(1, t0 + 11 * S).0, 3);
    }

    #[test]
    fn retry_after_holds_until_it_passes_or_a_report_releases_it() {
        let mut b = VenueBudget::default();
        let t0 = 1_000 * S;
        b.on_report(t0, &report(0, 0, 2_000));
        assert!(!b.allows(t0));
        assert!(!b.allows(t0 + 2 * S - 1));
        assert!(b.allows(t0 + 2 * S));
        b.on_report(t0 + 3 * S, &report(0, 0, 60_000));
        assert!(!b.allows(t0 + 4 * S));
        b.on_report(t0 + 5 * S, &report(0, 0, 0));
        assert!(b.allows(t0 + 5 * S));
    }

    #[test]
    fn reported_weight_at_the_cap_refuses_until_the_minute_ends() {
        let mut b = VenueBudget::default();
        let t0 = 60 * 1_000 * S;
        let mut r = report(0, 0, 0);
        r.used_weight = 6_000;
        b.on_report(t0 + S, &r);
        assert!(!b.allows(t0 + 2 * S));
        assert!(b.allows(t0 + 60 * S));
    }

    #[test]
    fn an_order_that_never_reached_the_venue_is_not_counted_and_free_at_says_when() {
        let mut b = VenueBudget::default();
        let t0 = 1_700_000_000 * S;
        b.on_report(t0, &report(0, 2, 0));
        b.on_send(t0);
        b.on_unsent(t0);
        // Its resend counts once.
        b.on_send(t0 + 1);
        assert_eq!(b.orders(0, t0 + 1), (1, 2));
        assert_eq!(b.free_at(t0 + 1), t0 + 1);
        b.on_send(t0 + 2);
        assert!(!b.allows(t0 + 3));
        assert_eq!(b.free_at(t0 + 3), t0 + 10 * S);
        assert!(b.allows(b.free_at(t0 + 3)));
        // Never below zero.
        b.on_unsent(t0 + 10 * S);
        assert_eq!(b.orders(0, t0 + 10 * S).0, 0);
        // A Retry-After longer than the window: its end.
        b.on_report(t0 + 11 * S, &report(0, 2, 30_000));
        assert_eq!(b.free_at(t0 + 11 * S), t0 + 41 * S);
        assert!(b.allows(t0 + 41 * S));
    }

    #[test]
    fn a_changed_window_length_starts_over() {
        let mut b = VenueBudget::default();
        b.on_report(0, &report(5, 5, 0));
        assert!(!b.allows(1));
        let mut r = report(0, 5, 0);
        r.orders[0].secs = 60;
        b.on_report(2, &r);
        assert!(b.allows(3));
    }
}
