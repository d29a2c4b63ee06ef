//! How broker messages become venue events: every ExecType/OrdStatus a broker sends,
//! and what is refused as unreadable or impossible.

use super::*;
use crate::venue::fix::codec::{frame, Decoder, Encoder};

fn reg() -> Arc<Registry> {
    let text = include_str!("../../../../examples/fix-sim.toml");
    Arc::new(Registry::from_toml(text).expect("example config loads"))
}

const CL: ClOrdId = ClOrdId {
    epoch: 0x6b04,
    order: OrderId(42),
    version: 1,
};

fn mapping() -> Mapping {
    let reg = reg();
    Mapping::new(reg, VenueId(0), 64)
}

/// Builds a message of `msg_type` with `fields` after the header, and maps it.
fn map(m: &mut Mapping, begin: &str, msg_type: &[u8], fields: &[(u32, &str)]) -> Vec<VenueEvent> {
    let mut e = Encoder::new(begin, 1024);
    e.start(msg_type)
        .bytes(49, b"SIM")
        .bytes(56, b"EXECD")
        .uint(34, 7)
        .timestamp(52, 1_700_000_000_000_000_000, false);
    for (t, v) in fields {
        e.bytes(*t, v.as_bytes());
    }
    let f = e.finish().to_vec();
    let n = frame(&f).expect("whole frame");
    let mut d = Decoder::new();
    let msg = d.decode(&f[..n]).expect("decodes");
    let mut q = VecDeque::new();
    m.on_app(&mut q, 5, &msg);
    q.into_iter().collect()
}

fn report(
    m: &mut Mapping,
    exec_type: &str,
    status: &str,
    extra: &[(u32, &str)],
) -> Vec<VenueEvent> {
    let cl = CL.to_string();
    let mut f = vec![
        (37, "B-77"),
        (11, cl.as_str()),
        (17, "X-1"),
        (150, exec_type),
        (39, status),
        (55, "AAPL"),
        (54, "1"),
    ];
    f.extend_from_slice(extra);
    map(m, "FIX.4.4", b"8", &f)
}

/// `CL` as this session sent it: a buy limit for 10 AAPL at 101.00.
fn with_order(m: &mut Mapping) {
    let aapl = m.reg.instrument_by_names("sim", "AAPL").unwrap().id;
    let slot = m.slot(CL.order);
    m.orders[slot] = Sent {
        order: CL.order.0,
        instrument: aapl,
        account: crate::model::ids::AccountId(0),
        side: crate::model::ids::Side::Buy,
        order_type: crate::model::ids::OrderType::Limit,
        tif: crate::model::ids::Tif::Day,
        qty: 10,
        limit: 10_100,
        stop: 0,
        asked: None,
        reduce_only: false,
    };
}

fn kinds(evs: &[VenueEvent]) -> Vec<VenueEventKind> {
    evs.iter().map(|e| e.kind).collect()
}

#[test]
fn new_fill_cancel_replace_reject_expire() {
    let mut m = mapping();
    with_order(&mut m);
    let ack = report(&mut m, "0", "0", &[]);
    assert!(matches!(
        kinds(&ack)[..],
        [VenueEventKind::Ack { cl: CL, venue_order_id }] if venue_order_id == xxhash_rust::xxh3::xxh3_64(b"B-77")
    ));
    assert_eq!(
        ack[0].src_seq, 7,
        "the inbound MsgSeqNum is kept for restarts"
    );
    let fill = report(
        &mut m,
        "F",
        "1",
        &[
            (31, "100.125"),
            (32, "3"),
            (12, "0.25"),
            (14, "3"),
            (151, "2"),
        ],
    );
    // LastPx is rounded to the instrument's tick scale (0.01): 100.125 → 100.13.
    assert_eq!(
        kinds(&fill),
        [VenueEventKind::Fill {
            cl: CL,
            exec_id: xxhash_rust::xxh3::xxh3_64(b"X-1"),
            px: Price(10013),
            qty: Qty(3),
            fee: Money(250_000),
            cum: Some(Qty(3)),
        }]
    );
    assert_eq!(
        kinds(&report(&mut m, "4", "4", &[])),
        [VenueEventKind::Canceled { cl: CL }]
    );
    assert_eq!(
        kinds(&report(&mut m, "5", "0", &[(38, "7"), (44, "99.5")])),
        [VenueEventKind::Replaced {
            cl: CL,
            qty: Qty(7),
            limit: Price(9950)
        }]
    );
    assert_eq!(
        kinds(&report(&mut m, "8", "8", &[(103, "3")])),
        [VenueEventKind::Rejected {
            cl: CL,
            reason: Reason::VenueFunds
        }]
    );
    assert_eq!(
        kinds(&report(&mut m, "C", "C", &[])),
        [VenueEventKind::Expired { cl: CL }]
    );
}

#[test]
fn fix42_partial_and_fill_exec_types() {
    let mut m = mapping();
    let cl = CL.to_string();
    for (et, st) in [("1", "1"), ("2", "2")] {
        let evs = map(
            &mut m,
            "FIX.4.2",
            b"8",
            &[
                (37, "9"),
                (11, cl.as_str()),
                (17, "55"),
                (20, "0"),
                (150, et),
                (39, st),
                (55, "MSFT"),
                (31, "101"),
                (32, "1"),
            ],
        );
        assert!(
            matches!(
                kinds(&evs)[..],
                [VenueEventKind::Fill {
                    exec_id: 55,
                    px: Price(10100),
                    qty: Qty(1),
                    ..
                }]
            ),
            "{et}: {evs:?}"
        );
    }
    // In FIX 4.4 ExecType 1/2 do not exist: nothing is applied from them.
    assert!(report(&mut m, "2", "2", &[(31, "1"), (32, "1")]).is_empty());
    // A FIX 4.2 bust (ExecTransType 1) or correction (2) of execution 55: a new ExecID,
    // the ExecType of the execution it names. Booked, it would count the fill twice.
    let (corrections, anomalies) = (m.stats.trade_corrections, m.stats.anomalies);
    for trans in ["1", "2"] {
        let evs = map(
            &mut m,
            "FIX.4.2",
            b"8",
            &[
                (37, "9"),
                (11, cl.as_str()),
                (17, "56"),
                (19, "55"),
                (20, trans),
                (150, "1"),
                (39, "1"),
                (55, "MSFT"),
                (31, "101"),
                (32, "1"),
            ],
        );
        assert!(evs.is_empty(), "ExecTransType {trans}: {evs:?}");
    }
    assert_eq!(m.stats.trade_corrections, corrections + 2);
    assert_eq!(m.stats.anomalies, anomalies + 2);
    assert_eq!(m.to_query, [CL], "the order's state is asked for instead");
}

#[test]
fn pending_states_change_nothing_and_status_answers_say_where_the_order_stands() {
    let mut m = mapping();
    for (et, st) in [("A", "A"), ("6", "6"), ("E", "E"), ("3", "3")] {
        assert!(report(&mut m, et, st, &[]).is_empty(), "{et}/{st}");
    }
    let filled = |cum: i64, avg: i64| Some((Qty(cum), Price(avg)));
    for (et, st, state) in [
        ("I", "0", VenueOrderState::Working),
        ("I", "1", VenueOrderState::Working),
        ("I", "6", VenueOrderState::Pending),
        ("I", "2", VenueOrderState::Filled),
        ("I", "4", VenueOrderState::Canceled),
        ("D", "C", VenueOrderState::Expired),
        ("I", "8", VenueOrderState::Rejected),
    ] {
        assert_eq!(
            kinds(&report(&mut m, et, st, &[(14, "3"), (6, "101.5")])),
            [VenueEventKind::Status {
                cl: CL,
                state,
                filled: filled(3, 10150),
            }],
            "{et}/{st}"
        );
    }
    // The venue does not know it (OrdRejReason 5): it never got there.
    assert_eq!(
        kinds(&report(
            &mut m,
            "I",
            "8",
            &[(14, "0"), (6, "0"), (103, "5")]
        )),
        [VenueEventKind::Status {
            cl: CL,
            state: VenueOrderState::Unknown,
            filled: filled(0, 0),
        }]
    );
    // FIX 4.2 answers a status request with ExecTransType 3 and ExecType = OrdStatus: a
    // status, not a fill.
    let cl = CL.to_string();
    let evs = map(
        &mut m,
        "FIX.4.2",
        b"8",
        &[
            (6, "100"),
            (11, cl.as_str()),
            (14, "5"),
            (17, "X-2"),
            (20, "3"),
            (37, "B-77"),
            (39, "2"),
            (54, "1"),
            (55, "AAPL"),
            (150, "2"),
        ],
    );
    assert_eq!(
        kinds(&evs),
        [VenueEventKind::Status {
            cl: CL,
            state: VenueOrderState::Filled,
            filled: filled(5, 10000),
        }]
    );
    // Without CumQty/AvgPx a status answer settles nothing: an anomaly, not a guess.
    let before = m.stats.anomalies;
    assert!(report(&mut m, "I", "2", &[]).is_empty());
    assert_eq!(m.stats.anomalies, before + 1);
}

#[test]
fn exec_type_and_ord_status_are_one_character() {
    let mut m = mapping();
    let before = m.stats.anomalies;
    assert!(report(&mut m, "FF", "2", &[(31, "1"), (32, "1")]).is_empty());
    assert!(report(&mut m, "", "2", &[(31, "1"), (32, "1")]).is_empty());
    assert!(report(&mut m, "I", "22", &[(14, "1"), (6, "1")]).is_empty());
    assert_eq!(m.stats.anomalies, before + 3);
}

#[test]
fn a_fill_larger_than_the_order_is_refused_and_asked_about() {
    let mut m = mapping();
    with_order(&mut m);
    // CL is for 10: 11 at once is not a fill of it.
    assert!(report(&mut m, "F", "2", &[(31, "100"), (32, "11")]).is_empty());
    assert_eq!((m.stats.anomalies, &m.to_query[..]), (1, &[CL][..]));
    // 10 is.
    assert_eq!(
        report(&mut m, "F", "2", &[(31, "100"), (32, "10")]).len(),
        1
    );
}

#[test]
fn a_mass_status_report_of_an_order_we_cannot_read_is_an_anomaly() {
    let mut m = mapping();
    // "No open orders": no ClOrdID at all, or a placeholder, with nothing counted or
    // OrdStatus rejected.
    assert!(map(
        &mut m,
        "FIX.4.4",
        b"8",
        &[(150, "I"), (39, "8"), (584, "m1")]
    )
    .is_empty());
    let none = [
        (11, "NONE"),
        (37, "NONE"),
        (150, "I"),
        (39, "8"),
        (584, "m1"),
        (911, "0"),
    ];
    assert!(map(&mut m, "FIX.4.4", b"8", &none).is_empty());
    assert_eq!(m.stats.anomalies, 0);
    // An order, but not one of ours.
    let evs = map(
        &mut m,
        "FIX.4.4",
        b"8",
        &[(11, "35=8"), (150, "I"), (39, "0"), (584, "m1")],
    );
    assert!(evs.is_empty());
    assert_eq!(m.stats.anomalies, 1);
}

#[test]
fn an_exec_type_no_version_defines_is_an_anomaly_and_a_question_not_silence() {
    let mut m = mapping();
    with_order(&mut m);
    // Z is no ExecType; 2 (fill) exists only in FIX 4.2. Either could hide a fill: the
    // order's state is asked for instead of the report being dropped without a word.
    assert!(report(&mut m, "Z", "2", &[(31, "100"), (32, "1")]).is_empty());
    assert!(report(&mut m, "2", "2", &[(31, "100"), (32, "1")]).is_empty());
    assert_eq!(m.stats.anomalies, 2);
    assert_eq!(m.to_query, [CL]);
    // Pending and informational types change nothing and are not anomalies.
    for benign in ["6", "A", "E", "3", "B", "7", "9", "L"] {
        assert!(report(&mut m, benign, "0", &[]).is_empty(), "{benign}");
    }
    assert_eq!(m.stats.anomalies, 2);
}

#[test]
fn trade_corrections_are_reported_not_applied() {
    let mut m = mapping();
    assert!(report(&mut m, "H", "4", &[]).is_empty());
    assert!(report(&mut m, "G", "2", &[(31, "1"), (32, "1")]).is_empty());
    assert_eq!(m.stats.trade_corrections, 2);
    assert_eq!(m.stats.anomalies, 2);
}

#[test]
fn cancel_rejects_and_business_rejects_reach_their_order() {
    let mut m = mapping();
    let cl = CL.to_string();
    let evs = map(
        &mut m,
        "FIX.4.4",
        b"9",
        &[
            (37, "1"),
            (11, cl.as_str()),
            (41, "x"),
            (39, "2"),
            (434, "1"),
            (102, "0"),
        ],
    );
    // Too late, it is filled: the refusal, and where the order stands (the quantities
    // are not in a cancel reject; the core asks for them).
    assert_eq!(
        kinds(&evs),
        [
            VenueEventKind::CancelRejected {
                cl: CL,
                reason: Reason::VenueRejected
            },
            VenueEventKind::Status {
                cl: CL,
                state: VenueOrderState::Filled,
                filled: None
            }
        ]
    );
    let evs = map(
        &mut m,
        "FIX.4.4",
        b"9",
        &[
            (37, "1"),
            (11, cl.as_str()),
            (41, "x"),
            (39, "0"),
            (434, "2"),
            (102, "1"),
        ],
    );
    assert_eq!(
        kinds(&evs),
        [VenueEventKind::ReplaceRejected {
            cl: CL,
            reason: Reason::VenueUnknownOrder
        }]
    );
    // A business reject names our message by its MsgSeqNum.
    m.by_seq[(12 % SENT_MAP as u64) as usize] = (12, Outstanding::Replace(CL));
    let evs = map(
        &mut m,
        "FIX.4.4",
        b"j",
        &[(45, "12"), (372, "G"), (380, "3")],
    );
    assert_eq!(
        kinds(&evs),
        [VenueEventKind::ReplaceRejected {
            cl: CL,
            reason: Reason::VenueRejected
        }]
    );
}

#[test]
fn reports_for_orders_we_did_not_send_are_anomalies_not_panics() {
    let mut m = mapping();
    let evs = map(
        &mut m,
        "FIX.4.4",
        b"8",
        &[
            (37, "1"),
            (11, "someone-else"),
            (17, "1"),
            (150, "F"),
            (39, "2"),
        ],
    );
    assert!(evs.is_empty());
    let evs = map(
        &mut m,
        "FIX.4.4",
        b"8",
        &[(37, "1"), (17, "1"), (150, "F"), (39, "2")],
    );
    assert!(evs.is_empty());
    // A fill for an unknown symbol and an order never sent: reported, not guessed.
    let cl = CL.to_string();
    let evs = map(
        &mut m,
        "FIX.4.4",
        b"8",
        &[
            (37, "1"),
            (11, cl.as_str()),
            (17, "1"),
            (150, "F"),
            (39, "2"),
            (55, "TSLA"),
            (31, "1"),
            (32, "1"),
        ],
    );
    assert!(evs.is_empty());
    assert_eq!(m.stats.anomalies, 3);
}

#[test]
fn position_reports_become_the_venues_positions() {
    let mut m = mapping();
    let evs = map(
        &mut m,
        "FIX.4.4",
        b"AP",
        &[
            (721, "P1"),
            (1, "alpha"),
            (55, "MSFT"),
            (702, "1"),
            (703, "TQ"),
            (704, "15"),
            (705, "40"),
        ],
    );
    let msft = m.reg.instrument_by_names("sim", "MSFT").unwrap().id;
    // Told to the core (journaled) as well as kept.
    assert_eq!(
        evs.iter().map(|e| e.kind).collect::<Vec<_>>(),
        vec![VenueEventKind::Position {
            account: crate::model::ids::AccountId(0),
            instrument: msft,
            qty: Qty(-25)
        }]
    );
    let k = msft.0 as usize;
    assert_eq!(m.positions[k], Some(-25));
    assert_eq!(m.stats.position_reports, 1);
    // Unknown accounts are reported, not booked.
    map(
        &mut m,
        "FIX.4.4",
        b"AP",
        &[(1, "nobody"), (55, "MSFT"), (704, "1")],
    );
    assert_eq!(m.stats.anomalies, 1);
}

#[test]
fn mass_status_answers_and_unsupported_requests_are_quiet() {
    let mut m = mapping();
    let evs = map(
        &mut m,
        "FIX.4.4",
        b"8",
        &[
            (37, "NONE"),
            (17, "1"),
            (150, "I"),
            (39, "8"),
            (584, "abc"),
            (911, "0"),
        ],
    );
    assert!(evs.is_empty());
    m.by_seq[(30 % SENT_MAP as u64) as usize] = (30, Outstanding::Positions);
    let evs = map(
        &mut m,
        "FIX.4.4",
        b"j",
        &[(45, "30"), (372, "AN"), (380, "3")],
    );
    assert!(evs.is_empty());
    assert_eq!((m.stats.anomalies, m.stats.unsupported), (0, 1));
}

#[test]
fn messages_the_venue_does_not_handle_are_queued_for_a_business_reject() {
    let mut m = mapping();
    assert!(map(&mut m, "FIX.4.4", b"W", &[(262, "md1"), (55, "AAPL")]).is_empty());
    assert_eq!(m.to_reject.len(), 1);
    let (seq, t, n) = m.to_reject[0];
    assert_eq!((seq, &t[..n as usize]), (7, &b"W"[..]));
    assert_eq!((m.stats.unsupported_received, m.stats.anomalies), (1, 0));
}

#[test]
fn values_a_broker_sends_are_checked_before_they_are_booked() {
    let mut m = mapping();
    with_order(&mut m);
    fn fill<'a>(extra: &[(u32, &'a str)]) -> Vec<(u32, &'a str)> {
        let mut f = vec![(14, "3")];
        f.extend_from_slice(extra);
        f
    }
    let refused: [(&str, Vec<(u32, &str)>); 13] = [
        (
            "LastPx beyond i64",
            fill(&[(31, "9223372036854775807"), (32, "3")]),
        ),
        ("LastPx negative", fill(&[(31, "-100.00"), (32, "3")])),
        (
            "LastPx rounds to nothing",
            fill(&[(31, "0.000000001"), (32, "3")]),
        ),
        (
            "LastPx through the buy limit",
            fill(&[(31, "101.01"), (32, "3")]),
        ),
        ("LastPx missing", fill(&[(32, "3")])),
        ("LastQty zero", fill(&[(31, "100"), (32, "0")])),
        ("LastQty negative", fill(&[(31, "100"), (32, "-3")])),
        (
            "LastQty finer than a lot",
            fill(&[(31, "100"), (32, "0.5")]),
        ),
        ("LastQty not a number", fill(&[(31, "100"), (32, "3x")])),
        (
            "Commission beyond i64",
            fill(&[(12, "9223372036854775807"), (31, "100"), (32, "3")]),
        ),
        (
            "Commission negative",
            fill(&[(12, "-1000000"), (31, "100"), (32, "3")]),
        ),
        (
            "Commission above the notional",
            fill(&[(12, "300.01"), (31, "100"), (32, "3")]),
        ),
        (
            "Commission garbage",
            fill(&[(12, "1e3"), (31, "100"), (32, "3")]),
        ),
    ];
    for (what, f) in &refused {
        let before = m.stats.anomalies;
        m.to_query.clear();
        assert!(report(&mut m, "F", "1", f).is_empty(), "{what}: booked");
        assert_eq!(m.stats.anomalies, before + 1, "{what}: not an anomaly");
        assert_eq!(m.to_query, vec![CL], "{what}: its status is not asked for");
    }
    // The same fill with sane values is booked.
    assert!(matches!(
        kinds(&report(
            &mut m,
            "F",
            "1",
            &fill(&[(12, "0.3"), (31, "100.99"), (32, "3")])
        ))[..],
        [VenueEventKind::Fill {
            qty: Qty(3),
            px: Price(10099),
            fee: Money(300_000),
            ..
        }]
    ));

    // Replaced: what it does not restate stays as asked; what it restates is checked.
    let slot = m.slot(CL.order);
    m.orders[slot] = m.orders[slot].with_terms(12, 10_050, true);
    assert_eq!(
        kinds(&report(&mut m, "5", "0", &[])),
        [VenueEventKind::Replaced {
            cl: CL,
            qty: Qty(12),
            limit: Price(10_050)
        }],
        "a Replaced without 38/44 keeps the asked terms"
    );
    for (what, f) in [
        (
            "qty beyond the instrument's limit",
            vec![(38, "99999999999")],
        ),
        ("qty negative", vec![(38, "-5")]),
        ("qty zero", vec![(38, "0")]),
        ("price negative", vec![(38, "5"), (44, "-1")]),
    ] {
        let before = m.stats.anomalies;
        assert!(report(&mut m, "5", "0", &f).is_empty(), "{what}");
        assert_eq!(m.stats.anomalies, before + 1, "{what}");
    }
    assert_eq!(
        m.sent(CL.order).unwrap().qty,
        12,
        "refused restatements change nothing"
    );

    // A status answer with an average through the limit settles nothing.
    let before = m.stats.anomalies;
    assert!(report(&mut m, "I", "2", &[(14, "12"), (6, "150")]).is_empty());
    assert_eq!(m.stats.anomalies, before + 1);
}
