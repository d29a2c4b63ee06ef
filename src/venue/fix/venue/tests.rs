//! How broker messages become venue events: every ExecType/OrdStatus a broker sends.

use super::*;
use crate::venue::fix::codec::{frame, Decoder};

fn reg() -> Arc<Registry> {
    let text = include_str!("../../../../examples/fix-sim.toml");
    Arc::new(Registry::from_toml(text).expect("example config loads"))
}

fn mapping() -> Mapping {
    let reg = reg();
    Mapping {
        venue: VenueId(0),
        orders: vec![Sent::default(); 64],
        by_seq: vec![(0, 0, ClOrdId::default()); SENT_MAP],
        stats: FixStats::default(),
        positions: vec![None; reg.accounts.len() * reg.instruments.len()],
        to_reject: Vec::new(),
        reg,
    }
}

const CL: ClOrdId = ClOrdId {
    epoch: 0x6b04,
    order: OrderId(42),
    version: 1,
};

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

fn kinds(evs: &[VenueEvent]) -> Vec<VenueEventKind> {
    evs.iter().map(|e| e.kind).collect()
}

#[test]
fn new_fill_cancel_replace_reject_expire() {
    let mut m = mapping();
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
}

#[test]
fn pending_states_change_nothing_and_status_answers_close_finished_orders() {
    let mut m = mapping();
    for (et, st) in [
        ("A", "A"),
        ("6", "6"),
        ("E", "E"),
        ("3", "3"),
        ("I", "0"),
        ("I", "1"),
        ("D", "0"),
    ] {
        assert!(report(&mut m, et, st, &[]).is_empty(), "{et}/{st}");
    }
    assert_eq!(
        kinds(&report(&mut m, "I", "4", &[])),
        [VenueEventKind::Canceled { cl: CL }]
    );
    assert_eq!(
        kinds(&report(&mut m, "D", "C", &[])),
        [VenueEventKind::Expired { cl: CL }]
    );
    assert!(matches!(
        kinds(&report(&mut m, "I", "8", &[]))[..],
        [VenueEventKind::Rejected { .. }]
    ));
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
    assert_eq!(
        kinds(&evs),
        [VenueEventKind::CancelRejected {
            cl: CL,
            reason: Reason::VenueRejected
        }]
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
    m.by_seq[(12 % SENT_MAP as u64) as usize] = (12, b'G', CL);
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
fn outbound_orders_carry_what_brokers_require() {
    let reg = reg();
    let s = Sent {
        order: 42,
        instrument: 0,
        account: 0,
        side: Side::Sell as u8,
        order_type: OrderType::Limit as u8,
        tif: Tif::Day as u8,
        qty: 12,
        limit: 10_050,
        stop: 0,
    };
    let mut e = Encoder::new("FIX.4.2", 512);
    e.start(b"D");
    let inst = &reg.instruments[0];
    let t = Terms {
        account: reg.accounts[0].name,
        symbol: inst.symbol,
        price_scale: inst.price_scale,
        qty_scale: inst.qty_scale,
        fix42: true,
        micros: false,
    };
    order_fields(&mut e, &t, &s, CL, None, 1_700_000_000_000_000_000);
    let f = e.finish().to_vec();
    let n = frame(&f).unwrap();
    let mut d = Decoder::new();
    let msg = d.decode(&f[..n]).unwrap();
    let get = |t| {
        std::str::from_utf8(msg.get(t).unwrap())
            .unwrap()
            .to_string()
    };
    assert_eq!(get(11), "6b04-42-1");
    assert_eq!(get(1), "alpha");
    assert_eq!(get(21), "1", "FIX 4.2 requires HandlInst");
    assert_eq!(get(55), "AAPL");
    assert_eq!(get(54), "2");
    assert_eq!(get(38), "12");
    assert_eq!(get(40), "2");
    assert_eq!(get(44), "100.5");
    assert_eq!(get(59), "0");
    assert!(msg.get(99).is_none());
    assert_eq!(get(60), "20231114-22:13:20.000");
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
    assert!(evs.is_empty());
    let msft = m.reg.instrument_by_names("sim", "MSFT").unwrap().id;
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
    m.by_seq[(30 % SENT_MAP as u64) as usize] = (30, b'N', ClOrdId::default());
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
fn a_restart_in_the_next_daily_window_starts_at_one_and_within_it_carries_on() {
    use crate::venue::fix::store::{MessageStore, SessionStore};
    let day = 86_400_000_000_000u64;
    let today = 20_000 * day + 3_600_000_000_000; // 01:00 UTC
    let with_schedule = include_str!("../../../../examples/fix-sim.toml").replace(
        "HeartBtInt = 30",
        "HeartBtInt = 30\nStartTime = \"00:00:00\"\nEndTime = \"23:59:00\"",
    );
    for (text, last, want_out) in [
        (with_schedule.as_str(), today - day, 1), // yesterday's numbers: a new day
        (with_schedule.as_str(), today - 60_000_000_000, 6), // earlier today: carry on
        (
            include_str!("../../../../examples/fix-sim.toml"),
            today - day,
            6,
        ), // no schedule
    ] {
        let dir = std::env::temp_dir().join(format!(
            "execd-fix-window-{}-{last}-{}",
            std::process::id(),
            text.len()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        {
            let mut s = SessionStore::open(Some(&dir), 16, None, last).unwrap();
            for q in 1..=5u64 {
                let mut e = Encoder::new("FIX.4.4", 256);
                e.start(b"0")
                    .bytes(49, b"EXECD")
                    .bytes(56, b"SIM")
                    .uint(34, q)
                    .timestamp(52, last, false);
                s.sent(last, q, e.finish());
            }
        }
        let reg = Arc::new(Registry::from_toml(text).unwrap());
        let v = FixVenue::new(reg, VenueId(0), Some(&dir), 0, false, today).unwrap();
        assert_eq!(v.seqs().next_out, want_out, "last activity {last}");
        let _ = std::fs::remove_dir_all(&dir);
    }
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
