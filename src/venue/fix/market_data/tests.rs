//! Market data from a broker (R-VEN-6): snapshots and incremental refreshes become the
//! top of book the gate reads, rejects mark an instrument as unfed, and what cannot be
//! read is refused whole.

use super::*;
use crate::venue::fix::codec::{frame, Decoder, Encoder};
use crate::venue::fix::dictionary::Dictionary;
use crate::venue::fix::reports::Mapping;
use std::sync::Arc;

fn mapping() -> Mapping {
    let text = include_str!("../../../../examples/fix-sim.toml");
    let reg = Arc::new(Registry::from_toml(text).expect("example config loads"));
    let mut m = Mapping::new(reg, VenueId(0), 64);
    m.md.enabled = true;
    m
}

fn aapl(m: &Mapping) -> InstrumentId {
    m.reg.instrument_by_names("sim", "AAPL").unwrap().id
}

/// A frame of `msg_type` with `fields` after the header.
fn frame_of(begin: &str, msg_type: &[u8], fields: &[(u32, &str)]) -> Vec<u8> {
    let mut e = Encoder::new(begin, 1024);
    e.start(msg_type)
        .bytes(49, b"SIM")
        .bytes(56, b"EXECD")
        .uint(34, 7)
        .timestamp(52, 1_700_000_000_000_000_000, false);
    for (t, v) in fields {
        e.bytes(*t, v.as_bytes());
    }
    e.finish().to_vec()
}

/// Maps a message received at engine time `now`.
fn map(m: &mut Mapping, now: u64, msg_type: &[u8], fields: &[(u32, &str)]) -> Vec<VenueEvent> {
    let f = frame_of("FIX.4.4", msg_type, fields);
    let n = frame(&f).expect("whole frame");
    let mut d = Decoder::new();
    let msg = d.decode(&f[..n]).expect("decodes");
    let mut q = VecDeque::new();
    m.on_app(&mut q, now, &msg);
    q.into_iter().collect()
}

fn quote_of(evs: &[VenueEvent]) -> Vec<(InstrumentId, Quote)> {
    evs.iter()
        .filter_map(|e| match e.kind {
            VenueEventKind::Quote {
                instrument,
                quote,
                venue_ns,
            } => {
                // The broker's SendingTime, kept beside our receive time.
                assert_eq!(venue_ns, 1_700_000_000_000_000_000);
                Some((instrument, quote))
            }
            _ => None,
        })
        .collect()
}

const SNAPSHOT: &[(u32, &str)] = &[
    (262, "md-0-1"),
    (55, "AAPL"),
    (268, "2"),
    (269, "0"),
    (270, "99.99"),
    (271, "500"),
    (269, "1"),
    (270, "100.01"),
    (271, "300"),
];

#[test]
fn a_snapshot_then_updates_keep_the_top_of_book_stamped_on_our_clock() {
    let mut m = mapping();
    let i = aapl(&m);
    let q = quote_of(&map(&mut m, 1_000, b"W", SNAPSHOT));
    assert_eq!(q.len(), 1, "{q:?}");
    assert_eq!(q[0].0, i);
    assert_eq!(
        q[0].1,
        Quote {
            bid: Price(9_999),
            ask: Price(10_001),
            bid_size: Qty(500),
            ask_size: Qty(300),
            // When it arrived here, not the broker's SendingTime.
            at_ns: 1_000,
        }
    );
    // A change of the bid: the ask stays as it was.
    let x = [
        (262, "md-0-1"),
        (268, "1"),
        (279, "1"),
        (269, "0"),
        (55, "AAPL"),
        (270, "100.00"),
        (271, "10"),
    ];
    let q = quote_of(&map(&mut m, 2_000, b"X", &x));
    assert_eq!(q.len(), 1);
    assert_eq!(
        (q[0].1.bid, q[0].1.ask, q[0].1.bid_size),
        (Price(10_000), Price(10_001), Qty(10))
    );
    assert_eq!(q[0].1.at_ns, 2_000);
    // The same again moves nothing, but says the feed is alive: told with its new time.
    let q = quote_of(&map(&mut m, 3_000, b"X", &x));
    assert_eq!((q[0].1.bid, q[0].1.at_ns), (Price(10_000), 3_000));
    // A new best bid, then the old one deleted, in one refresh: the new one stays.
    let moved = [
        (268, "2"),
        (279, "0"),
        (269, "0"),
        (55, "AAPL"),
        (270, "100.00"),
        (271, "7"),
        (279, "2"),
        (269, "0"),
        (55, "AAPL"),
        (270, "99.99"),
    ];
    let q = quote_of(&map(&mut m, 3_500, b"X", &moved));
    assert_eq!(
        (q[0].1.bid, q[0].1.bid_size),
        (Price(10_000), Qty(7)),
        "{q:?}"
    );
    // The offer deleted: one-sided, told as it is (the gate refuses to trade on it).
    let del = [(268, "1"), (279, "2"), (269, "1"), (55, "AAPL")];
    let q = quote_of(&map(&mut m, 4_000, b"X", &del));
    assert_eq!((q[0].1.bid, q[0].1.ask), (Price(10_000), Price(0)));
    // Trades and other entry types are not the top of book.
    let trade = [
        (268, "1"),
        (279, "0"),
        (269, "2"),
        (55, "AAPL"),
        (270, "100.5"),
    ];
    assert!(quote_of(&map(&mut m, 5_000, b"X", &trade)).is_empty());
    assert!(m.md.to_reject.is_empty());
    assert_eq!(m.md.stats.quotes, 5);
}

/// A message's fields after the header.
type Fields<'a> = &'a [(u32, &'a str)];

#[test]
fn a_refresh_that_cannot_be_read_is_rejected_whole_and_applies_nothing() {
    use SessionRejectReason as R;
    let mut m = mapping();
    map(&mut m, 1_000, b"W", SNAPSHOT);
    let cases: &[(Fields, R, u32)] = &[
        // Price not a decimal.
        (
            &[
                (268, "1"),
                (279, "1"),
                (269, "0"),
                (55, "AAPL"),
                (270, "1o0"),
            ],
            R::IncorrectDataFormat,
            270,
        ),
        // Negative size.
        (
            &[
                (268, "1"),
                (279, "1"),
                (269, "0"),
                (55, "AAPL"),
                (270, "100"),
                (271, "-5"),
            ],
            R::ValueIsIncorrect,
            271,
        ),
        // Not configured on this venue.
        (
            &[
                (268, "1"),
                (279, "1"),
                (269, "0"),
                (55, "NOPE"),
                (270, "100"),
            ],
            R::ValueIsIncorrect,
            55,
        ),
        // Two announced, one there.
        (
            &[
                (268, "2"),
                (279, "1"),
                (269, "0"),
                (55, "AAPL"),
                (270, "100"),
            ],
            R::IncorrectNumInGroupCount,
            268,
        ),
        // An unknown update action.
        (
            &[
                (268, "1"),
                (279, "7"),
                (269, "0"),
                (55, "AAPL"),
                (270, "100"),
            ],
            R::ValueIsIncorrect,
            279,
        ),
        // A bid without a price.
        (
            &[(268, "1"), (279, "0"), (269, "0"), (55, "AAPL")],
            R::RequiredTagMissing,
            270,
        ),
        // A price at zero after rounding to the instrument's cents.
        (
            &[
                (268, "1"),
                (279, "1"),
                (269, "0"),
                (55, "AAPL"),
                (270, "0.001"),
            ],
            R::ValueIsIncorrect,
            270,
        ),
        // Out of range.
        (
            &[
                (268, "1"),
                (279, "1"),
                (269, "0"),
                (55, "AAPL"),
                (270, "99999999999999999"),
            ],
            R::IncorrectDataFormat,
            270,
        ),
        // Entries before the group's first field: a second entry that is the first
        // entry's fields out of order (the first half of the message is fine).
        (
            &[
                (268, "1"),
                (269, "0"),
                (279, "1"),
                (55, "AAPL"),
                (270, "100"),
            ],
            R::RepeatingGroupFieldsOutOfOrder,
            269,
        ),
        // No entries at all, no count.
        (&[(262, "md-0-1")], R::RequiredTagMissing, 268),
    ];
    for (k, (fields, reason, tag)) in cases.iter().enumerate() {
        let evs = map(&mut m, 2_000 + k as u64, b"X", fields);
        assert!(evs.is_empty(), "case {k}: {evs:?}");
        let (seq, t, f) =
            m.md.to_reject
                .pop()
                .unwrap_or_else(|| panic!("case {k}: not rejected"));
        assert_eq!(
            (seq, t, f.reason, f.tag),
            (7, b'X', *reason, Some(*tag)),
            "case {k}: {}",
            f.why
        );
    }
    assert_eq!(m.md.stats.malformed, cases.len() as u64);
    // Nothing of them was applied: a good update shows the snapshot's offer still there.
    let ok = [
        (268, "1"),
        (279, "1"),
        (269, "0"),
        (55, "AAPL"),
        (270, "99.98"),
    ];
    let q = quote_of(&map(&mut m, 9_000, b"X", &ok));
    assert_eq!(
        (q[0].1.bid, q[0].1.ask, q[0].1.ask_size),
        (Price(9_998), Price(10_001), Qty(300))
    );
    // A snapshot of something not ours, even under one of our MDReqIDs.
    let evs = map(
        &mut m,
        9_500,
        b"W",
        &[(262, "md-0-1"), (55, "NOPE"), (268, "0")],
    );
    assert!(evs.is_empty());
    assert_eq!(
        m.md.to_reject.pop().map(|r| r.2.reason),
        Some(R::ValueIsIncorrect)
    );
    // Without a Symbol, our MDReqID names the instrument.
    let w = [(262, "md-0-1"), (268, "1"), (269, "1"), (270, "100.02")];
    let q = quote_of(&map(&mut m, 9_600, b"W", &w));
    assert_eq!(
        (q[0].0, q[0].1.bid, q[0].1.ask),
        (aapl(&m), Price(0), Price(10_002))
    );
}

#[test]
fn a_refused_request_marks_the_instrument_unfed_until_the_next_logon() {
    let mut m = mapping();
    let i = aapl(&m);
    let evs = map(
        &mut m,
        1_000,
        b"Y",
        &[(262, "md-0-1"), (281, "0"), (58, "unknown symbol")],
    );
    assert!(evs.is_empty());
    assert!(m.md.has_no_feed(i));
    assert_eq!(m.md.stats.refused, 1);
    // Said again: counted once.
    map(&mut m, 1_001, b"Y", &[(262, "md-0-2"), (281, "3")]);
    assert_eq!(m.md.stats.refused, 1);
    // A reject of a request that was not ours is an anomaly, not a crash.
    map(&mut m, 1_002, b"Y", &[(262, "theirs"), (281, "0")]);
    assert_eq!(m.stats.anomalies, 1);
    // A session reject of the request (routed by its sequence number) does the same
    // for another instrument.
    let msft = m.reg.instrument_by_names("sim", "MSFT").unwrap().id;
    let mut q = VecDeque::new();
    m.refused(
        &mut q,
        1_003,
        8,
        crate::venue::fix::reports::Outstanding::MarketData(msft),
        crate::model::reason::Reason::VenueRejected,
    );
    assert!(q.is_empty() && m.md.has_no_feed(msft));
    // The next logon asks again.
    m.md.start_round();
    assert!(!m.md.has_no_feed(i) && !m.md.has_no_feed(msft));
}

#[test]
fn without_market_data_a_refresh_is_an_unsupported_message() {
    let mut m = mapping();
    m.md.enabled = false;
    assert!(map(&mut m, 1_000, b"W", SNAPSHOT).is_empty());
    assert_eq!(m.to_reject.len(), 1);
    assert_eq!(m.md.stats.quotes, 0);
}

#[test]
fn the_request_and_the_refreshes_fit_every_versions_dictionary() {
    let mut id = [0u8; 32];
    let n = MarketData::req_id(InstrumentId(3), 12, &mut id);
    assert_eq!(&id[..n], b"md-3-12");
    for (begin, dict) in [("FIX.4.2", "FIX.4.2"), ("FIX.4.4", "FIX.4.4")] {
        let d = Dictionary::builtin(dict).unwrap();
        let mut e = Encoder::new(begin, 1024);
        e.start(b"V")
            .bytes(49, b"EXECD")
            .bytes(56, b"SIM")
            .uint(34, 2)
            .timestamp(52, 1_700_000_000_000_000_000, false);
        MarketData::request_body(&mut e, &id[..n], b"AAPL");
        let f = e.finish().to_vec();
        let mut dec = Decoder::new();
        let msg = dec.decode(&f).unwrap();
        assert_eq!(d.validate(&msg), Ok(()), "{begin} V");
        // The layouts execd-venue-sim writes.
        for (t, fields) in [
            ("W", SNAPSHOT.to_vec()),
            (
                "X",
                vec![
                    (262, "md-0-1"),
                    (268, "1"),
                    (279, "1"),
                    (269, "0"),
                    (55, "AAPL"),
                    (270, "100"),
                    (271, "5"),
                ],
            ),
            ("Y", vec![(58, "no"), (262, "md-0-1"), (281, "0")]),
        ] {
            let f = frame_of(begin, t.as_bytes(), &fields);
            let msg = dec.decode(&f).unwrap();
            assert_eq!(d.validate(&msg), Ok(()), "{begin} {t}");
        }
    }
}
