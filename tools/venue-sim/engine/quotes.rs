//! Market data (R-VEN-6 on the execd side): a MarketDataRequest (35=V) is answered
//! with a snapshot (W) of each symbol's top of book from its price path, and, when it
//! subscribes (263=1), with incremental refreshes (X) of both sides every
//! `--quotes-every-ms` until it unsubscribes (263=2) or its session ends. A symbol
//! named by `--reject-symbol` is unknown here: the request gets a
//! MarketDataRequestReject (Y, MDReqRejReason 0). The book is the path's price less
//! and plus one basis point, in cents, [`QUOTE_SIZE`] on each side.

use super::{Id, OutKind, Sim, SCALE};
use execd::venue::fix::codec::Msg;
use execd::venue::fix::tag;

/// Size on each side of every quote (at the simulator's scale: 1 000 units).
pub const QUOTE_SIZE: i64 = 1_000 * 100_000_000;
/// A cent at the simulator's scale.
const CENT: i64 = 1_000_000;

/// One subscription: a session's request for one symbol.
#[derive(Clone, Copy, Debug)]
pub struct Sub {
    pub(super) sess: u32,
    req_id: Id,
    symbol: Id,
}

/// The book a price makes: bid and ask in cents around it, one basis point away.
pub fn book(price: i64) -> (i64, i64) {
    let half = (price / 10_000).max(1);
    let bid = ((price - half) / CENT * CENT).max(CENT);
    let ask = (price + half + CENT - 1) / CENT * CENT;
    (bid, ask.max(bid + CENT))
}

impl Sim {
    /// A MarketDataRequest.
    pub(super) fn market_data_request(&mut self, now: u64, sess: u32, msg: &Msg<'_>) {
        self.counters.md_requests += 1;
        let req_id = Id::new(msg.get(tag::MD_REQ_ID).unwrap_or(b""));
        let kind = msg.get(tag::SUBSCRIPTION_REQUEST_TYPE);
        if kind == Some(b"2") {
            self.subs
                .retain(|s| !(s.sess == sess && s.req_id == req_id));
            return;
        }
        let reject = |reason: u32, text: &'static str| OutKind::MdReject {
            req_id,
            reason,
            text,
        };
        if !matches!(kind, Some(b"0" | b"1")) {
            self.counters.md_rejects += 1;
            let out = reject(4, "unsupported SubscriptionRequestType");
            return self.send(now, sess, out);
        }
        let symbols: Vec<Id> = msg
            .fields()
            .skip_while(|f| f.tag != tag::NO_RELATED_SYM)
            .filter(|f| f.tag == tag::SYMBOL)
            .map(|f| Id::new(f.value))
            .collect();
        let unknown = symbols.iter().any(|s| {
            self.cfg
                .reject_symbols
                .iter()
                .any(|r| r.as_bytes() == s.as_bytes())
        });
        if symbols.is_empty() || unknown {
            self.counters.md_rejects += 1;
            return self.send(now, sess, reject(0, "unknown symbol"));
        }
        for symbol in symbols {
            let (bid, ask) = book(self.path_price(&symbol, now));
            self.counters.quotes_sent += 1;
            let out = OutKind::MdSnapshot {
                req_id,
                symbol,
                bid,
                ask,
            };
            self.send(now, sess, out);
            if kind == Some(b"1") {
                if self.subs.is_empty() {
                    self.next_quotes = now + self.cfg.quotes_every_ns;
                }
                self.subs.push(Sub {
                    sess,
                    req_id,
                    symbol,
                });
            }
        }
    }

    /// Refreshes every subscription when its time has come (both sides restated, moved
    /// or not: a live feed says so).
    pub(super) fn publish_quotes(&mut self, now: u64) {
        let every = self.cfg.quotes_every_ns;
        if self.subs.is_empty() || every == 0 || self.quotes_paused || now < self.next_quotes {
            return;
        }
        self.next_quotes = now + every;
        for k in 0..self.subs.len() {
            let s = self.subs[k];
            let (bid, ask) = book(self.path_price(&s.symbol, now));
            self.counters.quotes_sent += 1;
            let out = OutKind::MdIncrement {
                req_id: s.req_id,
                symbol: s.symbol,
                bid,
                ask,
            };
            self.send(now, s.sess, out);
        }
    }

    /// When the next refresh is due, if any subscription waits for one.
    pub(super) fn next_quotes_at(&self) -> Option<u64> {
        let live = !self.subs.is_empty() && self.cfg.quotes_every_ns > 0 && !self.quotes_paused;
        live.then_some(self.next_quotes)
    }

    /// Subscriptions held.
    pub fn subscriptions(&self) -> usize {
        self.subs.len()
    }

    /// Stops (or resumes) the refreshes, as a feed that dies (or comes back) would.
    pub fn pause_quotes(&mut self, paused: bool, now: u64) {
        self.quotes_paused = paused;
        if !paused {
            self.next_quotes = now;
        }
    }
}

const _: () = assert!(SCALE == 8, "CENT and QUOTE_SIZE assume eight decimals");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_book_is_in_cents_around_the_price_and_never_crossed() {
        assert_eq!(book(100 * 100_000_000), (9_999_000_000, 10_001_000_000));
        for p in [1, 50_000, 123_456_789, 9_999_999_999] {
            let (b, a) = book(p);
            assert!(
                b >= CENT && a > b && b % CENT == 0 && a % CENT == 0,
                "{p}: {b} {a}"
            );
        }
    }
}
