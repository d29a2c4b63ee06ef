//! Quote conflation (R-VEN-6): of the quotes one poll hands the core, only the newest
//! per instrument goes on, where it stood among the other events. A venue ticking
//! faster than the core cycles then costs one journaled quote per instrument per cycle,
//! and the gate sees the same top of book it would have seen after every tick. Done in
//! the live adapter, before the journal: replay feeds back what was kept.

use super::{VenueEvent, VenueEventKind};

/// Per instrument, where its last quote of the current poll stands. Sized once; never
/// allocates.
#[derive(Debug)]
pub struct Conflation {
    /// Per instrument: the poll that last saw a quote of it, and that quote's index.
    seen: Vec<(u64, usize)>,
    polls: u64,
}

impl Conflation {
    /// For `instruments` instruments (a quote of one beyond them is left alone).
    pub fn new(instruments: usize) -> Conflation {
        Conflation {
            seen: vec![(0, 0); instruments],
            polls: 0,
        }
    }

    /// Drops from `out[from..]` every quote followed there by a newer one of the same
    /// instrument; the order of what stays is unchanged. Returns how many were dropped.
    pub fn apply(&mut self, out: &mut Vec<VenueEvent>, from: usize) -> u64 {
        self.polls += 1;
        let poll = self.polls;
        let mut dropped = 0u64;
        for (k, ev) in out.iter().enumerate().skip(from) {
            if let VenueEventKind::Quote { instrument, .. } = ev.kind {
                if let Some(s) = self.seen.get_mut(instrument.0 as usize) {
                    if s.0 == poll {
                        dropped += 1;
                    }
                    *s = (poll, k);
                }
            }
        }
        if dropped == 0 {
            return 0;
        }
        let mut w = from;
        for r in from..out.len() {
            let keep = match out[r].kind {
                VenueEventKind::Quote { instrument, .. } => self
                    .seen
                    .get(instrument.0 as usize)
                    .is_none_or(|s| s.1 == r),
                _ => true,
            };
            if keep {
                out[w] = out[r];
                w += 1;
            }
        }
        out.truncate(w);
        dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::fixed::Price;
    use crate::model::ids::InstrumentId;
    use crate::model::quote::Quote;

    fn quote(i: u16, bid: i64, at: u64) -> VenueEvent {
        VenueEvent {
            at_ns: at,
            kind: VenueEventKind::Quote {
                instrument: InstrumentId(i),
                quote: Quote {
                    bid: Price(bid),
                    ask: Price(bid + 2),
                    at_ns: at,
                    ..Quote::default()
                },
                venue_ns: 0,
            },
            src_seq: at,
        }
    }

    fn bid(e: &VenueEvent) -> (u16, i64) {
        match e.kind {
            VenueEventKind::Quote {
                instrument, quote, ..
            } => (instrument.0, quote.bid.0),
            _ => (u16::MAX, 0),
        }
    }

    #[test]
    fn keeps_the_newest_quote_per_instrument_in_place() {
        let mut c = Conflation::new(3);
        let session = VenueEvent {
            at_ns: 5,
            kind: VenueEventKind::Session { up: true },
            src_seq: 5,
        };
        // Something of an earlier poll stays untouched in front.
        let mut out = vec![session];
        out.extend([
            quote(0, 100, 1),
            quote(1, 200, 2),
            quote(0, 101, 3),
            session,
            quote(0, 102, 4),
            quote(7, 1, 4),
        ]);
        assert_eq!(c.apply(&mut out, 1), 2);
        assert_eq!(out.len(), 5);
        assert_eq!(out[0], session);
        assert_eq!(bid(&out[1]), (1, 200));
        assert_eq!(out[2], session);
        assert_eq!(bid(&out[3]), (0, 102));
        // Out of range: passed on, never indexed.
        assert_eq!(bid(&out[4]), (7, 1));
        // The next poll starts afresh: one quote of instrument 1 is not a repeat.
        let mut next = vec![quote(1, 201, 9)];
        assert_eq!(c.apply(&mut next, 0), 0);
        assert_eq!(next.len(), 1);
    }
}
