//! The FIX venue around its session: outbound orders, restarts across session windows,
//! and what the core hears whatever the socket's read boundaries.

use super::*;
use crate::model::ids::OrderId;
use crate::venue::fix::codec::{frame, Decoder};

fn reg() -> Arc<Registry> {
    let text = include_str!("../../../../examples/fix-sim.toml");
    Arc::new(Registry::from_toml(text).expect("example config loads"))
}

const CL: ClOrdId = ClOrdId {
    epoch: 0x6b04,
    order: OrderId(42),
    version: 1,
};

#[test]
fn outbound_orders_carry_what_brokers_require() {
    let reg = reg();
    let s = Sent {
        order: 42,
        instrument: InstrumentId(0),
        account: AccountId(0),
        side: Side::Sell,
        order_type: OrderType::Limit,
        tif: Tif::Day,
        qty: 12,
        limit: 10_050,
        stop: 0,
        asked: None,
        reduce_only: false,
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
        exec_inst: None,
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

/// What the broker says, as one byte stream: a Logon answer, an acknowledgement and a
/// fill of `CL`.
fn broker_stream(now: u64) -> Vec<u8> {
    let cl = CL.to_string();
    let mut out = Vec::new();
    let mut e = Encoder::new("FIX.4.4", 1024);
    let mut msg = |seq: u64, t: &[u8], body: &[(u32, &str)]| {
        e.start(t)
            .uint(34, seq)
            .bytes(49, b"SIM")
            .timestamp(52, now, false)
            .bytes(56, b"EXECD");
        for (tag, v) in body {
            e.bytes(*tag, v.as_bytes());
        }
        out.extend_from_slice(e.finish());
    };
    msg(1, b"A", &[(98, "0"), (108, "30")]);
    let er = |et: &'static str, st: &'static str| {
        vec![
            (6, "100"),
            (11, cl.as_str()),
            (14, if et == "F" { "2" } else { "0" }),
            (17, if et == "F" { "X-2" } else { "X-1" }),
            (31, "100"),
            (32, "2"),
            (37, "B-1"),
            (39, st),
            (54, "1"),
            (55, "AAPL"),
            (150, et),
            (151, "0"),
        ]
    };
    msg(2, b"8", &er("0", "0"));
    msg(3, b"8", &er("F", "2"));
    out
}

#[test]
fn the_core_hears_the_same_whatever_the_read_boundaries() {
    let now = 1_700_000_000_000_000_000;
    let stream = broker_stream(now);
    let heard = |chunk: usize| -> Vec<(VenueEventKind, u64)> {
        let mut v = FixVenue::new(reg(), VenueId(0), None, 0, false, now).unwrap();
        let aapl = v
            .wire
            .map
            .reg
            .instrument_by_names("sim", "AAPL")
            .unwrap()
            .id;
        v.remember(&VenueOrder {
            cl: CL,
            account: AccountId(0),
            instrument: aapl,
            side: Side::Buy,
            order_type: OrderType::Market,
            tif: Tif::Day,
            qty: Qty(2),
            limit: Price(0),
            stop: Price(0),
            reduce_only: false,
        });
        v.wire.now = now;
        v.session.on_connected(now, &mut v.wire);
        v.settle(now);
        // As `pump` does: each read is handed to the session, then settled.
        for c in stream.chunks(chunk) {
            v.session.on_bytes(now, c, &mut v.wire);
            v.settle(now);
        }
        v.wire.events.iter().map(|e| (e.kind, e.src_seq)).collect()
    };
    let whole = heard(stream.len());
    assert!(
        matches!(
            whole.iter().map(|e| e.0).collect::<Vec<_>>()[..],
            [
                VenueEventKind::Session { up: true },
                VenueEventKind::Ack { .. },
                VenueEventKind::Fill { .. }
            ]
        ),
        "{whole:?}"
    );
    assert_eq!(heard(1), whole, "byte by byte");
    assert_eq!(heard(7), whole, "in 7-byte reads");
}

#[test]
fn a_new_order_its_down_session_wrote_nothing_of_is_reported_not_sent() {
    let now = 1_700_000_000_000_000_000;
    let mut v = FixVenue::new(reg(), VenueId(0), None, 0, false, now).unwrap();
    let aapl = v
        .wire
        .map
        .reg
        .instrument_by_names("sim", "AAPL")
        .unwrap()
        .id;
    let order = VenueOrder {
        cl: CL,
        account: AccountId(0),
        instrument: aapl,
        side: Side::Buy,
        order_type: OrderType::Market,
        tif: Tif::Day,
        qty: Qty(2),
        limit: Price(0),
        stop: Price(0),
        reduce_only: false,
    };
    v.wire.now = now;
    v.session.on_connected(now, &mut v.wire);
    v.settle(now);
    // The broker's Logon only: the session is up, and the core hears it.
    let stream = broker_stream(now);
    let logon = frame(&stream).unwrap();
    v.session.on_bytes(now, &stream[..logon], &mut v.wire);
    v.settle(now);
    let mut heard = Vec::new();
    v.poll(now, &mut heard);
    assert!(v.is_logged_on(), "{heard:?}");
    // The connection dies; the core has not polled the news yet when an order comes.
    v.disconnect(now, "connection reset by peer");
    let next_out = v.seqs().next_out;
    assert_eq!(v.submit(now, &order), Ok(()), "the core still sees it up");
    assert_eq!(
        v.seqs().next_out,
        next_out,
        "nothing numbered, nothing stored"
    );
    assert_eq!(v.stats().unsent, 1);
    heard.clear();
    v.poll(now, &mut heard);
    let kinds: Vec<VenueEventKind> = heard.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            VenueEventKind::Session { up: false },
            VenueEventKind::NotSent { cl: CL }
        ]
    );
    // From now on the core knows it is down: a resend is refused outright.
    assert_eq!(v.submit(now, &order), Err(VenueError::NotConnected));
    // A cancel of an order this process never sent is not a transport failure.
    let other = ClOrdId {
        order: OrderId(7),
        ..CL
    };
    assert_eq!(v.cancel(now, other, other), Err(VenueError::UnknownOrder));
}

#[test]
fn market_data_is_asked_for_at_logon_and_a_cycles_refreshes_reach_the_core_conflated() {
    let now = 1_700_000_000_000_000_000;
    let mut v = FixVenue::new(reg(), VenueId(0), None, 0, false, now).unwrap();
    v.spec.market_data = true;
    v.wire.map.md.enabled = true;
    v.wire.now = now;
    v.session.on_connected(now, &mut v.wire);
    v.settle(now);
    let mut e = Encoder::new("FIX.4.4", 1024);
    let mut stream = Vec::new();
    let mut msg = |seq: u64, t: &[u8], body: &[(u32, &str)]| {
        e.start(t)
            .uint(34, seq)
            .bytes(49, b"SIM")
            .timestamp(52, now, false)
            .bytes(56, b"EXECD");
        for (tag, v) in body {
            e.bytes(*tag, v.as_bytes());
        }
        stream.extend_from_slice(e.finish());
    };
    msg(1, b"A", &[(98, "0"), (108, "30")]);
    // Three refreshes of AAPL's bid and one that cannot be read, in one read.
    for (seq, px) in [(2, "99.97"), (3, "99.98"), (4, "99.99")] {
        let body = [
            (262, "md-0-1"),
            (268, "1"),
            (279, "1"),
            (269, "0"),
            (55, "AAPL"),
            (270, px),
        ];
        msg(seq, b"X", &body);
    }
    msg(
        5,
        b"X",
        &[(268, "1"), (279, "1"), (269, "0"), (55, "AAPL"), (270, "x")],
    );
    let later = now + 1_000;
    v.wire.now = later;
    v.session.on_bytes(later, &stream, &mut v.wire);
    v.settle(later);
    // After the logon: one MarketDataRequest per instrument of the venue, in the store.
    let sent: Vec<String> = (1..v.seqs().next_out)
        .filter_map(|s| v.wire.store.get(s))
        .map(|f| String::from_utf8_lossy(f).replace('\x01', "|"))
        .collect();
    let requests: Vec<&String> = sent.iter().filter(|f| f.contains("|35=V|")).collect();
    assert_eq!(requests.len(), 2, "{sent:#?}");
    for (r, sym) in requests.iter().zip(["AAPL", "MSFT"]) {
        for want in [
            "|263=1|",
            "|264=1|",
            "|265=1|",
            "|267=2|269=0|269=1|",
            "|146=1|",
        ] {
            assert!(r.contains(want), "{want} in {r}");
        }
        assert!(r.contains(&format!("|55={sym}|")), "{r}");
    }
    // The unreadable one: a session reject naming it and the bad tag.
    assert!(
        sent.iter()
            .any(|f| f.contains("|35=3|") && f.contains("|45=5|") && f.contains("|371=270|")),
        "{sent:#?}"
    );
    let mut heard = Vec::new();
    v.poll(later, &mut heard);
    let quotes: Vec<_> = heard
        .iter()
        .filter_map(|e| match e.kind {
            VenueEventKind::Quote { quote, .. } => Some((quote.bid, quote.at_ns, e.src_seq)),
            _ => None,
        })
        .collect();
    assert_eq!(quotes, [(Price(9_999), later, 4)], "{heard:?}");
    assert_eq!(v.quotes_conflated(), 2);
    let st = v.stats();
    assert_eq!(
        (
            st.market_data.requests,
            st.market_data.quotes,
            st.market_data.malformed
        ),
        (2, 3, 1)
    );
}

/// A message of a type the dictionary does not know gets the session's Reject (35=3,
/// 373=11) and nothing more: not a BusinessMessageReject for its type on top.
#[test]
fn a_message_type_the_dictionary_does_not_know_is_rejected_once() {
    use crate::venue::fix::store::MessageStore;
    let now = 1_700_000_000_000_000_000;
    let mut stream = broker_stream(now);
    let mut e = Encoder::new("FIX.4.4", 256);
    e.start(b"ZZ")
        .uint(34, 4)
        .bytes(49, b"SIM")
        .timestamp(52, now, false)
        .bytes(56, b"EXECD")
        .bytes(58, b"what is this");
    stream.extend_from_slice(e.finish());
    let mut v = FixVenue::new(reg(), VenueId(0), None, 0, false, now).unwrap();
    v.wire.now = now;
    v.session.on_connected(now, &mut v.wire);
    v.settle(now);
    v.session.on_bytes(now, &stream, &mut v.wire);
    v.settle(now);
    let mut dec = Decoder::new();
    let sent: Vec<String> = (1..v.session.seqs().next_out)
        .filter_map(|seq| {
            let f = v.wire.store.get(seq)?;
            let n = frame(f).ok()?;
            let m = dec.decode(&f[..n]).ok()?;
            let t = String::from_utf8_lossy(m.msg_type()).into_owned();
            let why = m
                .get(373)
                .or(m.get(380))
                .map(|r| String::from_utf8_lossy(r).into_owned());
            Some(format!("{t}/{}", why.unwrap_or_default()))
        })
        .collect();
    assert_eq!(
        sent.iter()
            .filter(|s| s.starts_with("3/") || s.starts_with("j/"))
            .collect::<Vec<_>>(),
        ["3/11"],
        "sent: {sent:?}"
    );
}
