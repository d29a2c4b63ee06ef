//! The OCO NewOrderList and reduce-only ExecInst as they go on the wire, checked field
//! by field and against the dictionaries' own validation; the start-time check; the
//! broker's refusal of a list.

use super::*;
use crate::config::Registry;
use crate::model::ids::{AccountId, InstrumentId, OrderType, Side, Tif};
use crate::venue::fix::codec::{frame, Decoder};
use crate::venue::fix::settings::FixSettings;
use std::sync::Arc;

fn spec(extra: &str) -> FixSpec {
    let s: FixSettings = toml::from_str(&format!(
        "SocketConnectPort = 9876\nSenderCompID = \"EXECD\"\nTargetCompID = \"SIM\"\n{extra}"
    ))
    .unwrap();
    s.check().unwrap()
}

fn leg(order: u64, order_type: OrderType, limit: i64, stop: i64) -> Sent {
    Sent {
        order,
        instrument: InstrumentId(0),
        account: AccountId(0),
        side: Side::Sell,
        order_type,
        tif: Tif::Gtc,
        qty: 3,
        limit,
        stop,
        asked: None,
        reduce_only: true,
    }
}

fn cl(order: u64) -> ClOrdId {
    ClOrdId {
        epoch: 0x6b04,
        order: crate::model::ids::OrderId(order),
        version: 0,
    }
}

/// A NewOrderList of a stop-loss and a take-profit, with a session header, as `version`
/// (`FIX.4.4` or `FIXT.1.1`) writes it.
fn encode_list(begin: &str, p: &Protective) -> Vec<u8> {
    let t = Terms {
        account: crate::model::ids::Name::new("alpha").unwrap(),
        symbol: crate::model::ids::Name::new("AAPL").unwrap(),
        price_scale: 2,
        qty_scale: 0,
        fix42: false,
        micros: false,
        exec_inst: p.exec_inst,
    };
    let (sl, tp) = (
        leg(7, OrderType::Stop, 0, 9_500),
        leg(8, OrderType::Limit, 10_500, 0),
    );
    let mut e = Encoder::new(begin, 1024);
    e.start(msg_type::NEW_ORDER_LIST);
    e.bytes(tag::SENDER_COMP_ID, b"EXECD");
    e.uint(tag::MSG_SEQ_NUM, 5);
    e.timestamp(tag::SENDING_TIME, 1_700_000_000_000_000_000, false);
    e.bytes(tag::TARGET_COMP_ID, b"SIM");
    let order = p.list.expect("lists on");
    list_body(
        &mut e,
        &order,
        [(&sl, cl(7), &t), (&tp, cl(8), &t)],
        1_700_000_000_000_000_000,
    );
    e.finish().to_vec()
}

#[test]
fn oco_list_is_refused_at_start_where_the_dictionary_has_no_contingency_type() {
    // FIX 4.4 has no ContingencyType (1385) in NewOrderList.
    let err = Protective::check(&spec("OcoOrderList = true"), None).unwrap_err();
    assert!(err.contains("ContingencyType (1385)"), "{err}");
    // FIX 4.2 is refused by the settings themselves.
    let s: FixSettings = toml::from_str(
        "SocketConnectPort = 1\nSenderCompID = \"A\"\nTargetCompID = \"B\"\nBeginString = \"FIX.4.2\"\nOcoOrderList = true",
    )
    .unwrap();
    assert_eq!(s.check().unwrap_err().0, "OcoOrderList");
    // A reduce-only value the dictionary does not know, and one that is not one char.
    let err = Protective::check(&spec("ReduceOnlyExecInst = \"!\""), None).unwrap_err();
    assert!(err.contains("not an ExecInst (18) value"), "{err}");
    let s: FixSettings = toml::from_str(
        "SocketConnectPort = 1\nSenderCompID = \"A\"\nTargetCompID = \"B\"\nReduceOnlyExecInst = \"EF\"",
    )
    .unwrap();
    assert_eq!(s.check().unwrap_err().0, "ReduceOnlyExecInst");
    // A FIX 4.4 dialect that has it (the overlay in fix-dictionaries/) is taken, and
    // the list it writes validates against it.
    let overlay = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fix-dictionaries/overlays/oco-fix44.xml"
    );
    let d = Dictionary::open("FIX.4.4", &[std::path::Path::new(overlay)]).unwrap();
    let p = Protective::check(
        &spec("OcoOrderList = true\nReduceOnlyExecInst = \"E\""),
        Some(&d),
    )
    .unwrap();
    let f = encode_list("FIX.4.4", &p);
    let mut dec = Decoder::new();
    d.validate(&dec.decode(&f[..frame(&f).unwrap()]).unwrap())
        .unwrap();
    // Nothing asked: nothing checked.
    assert_eq!(
        Protective::check(&spec(""), None).unwrap(),
        Protective::default()
    );
}

#[test]
fn oco_list_goes_out_field_by_field_in_the_dictionarys_group_order() {
    let s = spec(
        "BeginString = \"FIXT.1.1\"\nDefaultApplVerID = \"9\"\nOcoOrderList = true\nReduceOnlyExecInst = \"E\"",
    );
    let d = Dictionary::builtin("FIX.5.0SP2").unwrap();
    let p = Protective::check(&s, Some(&d)).unwrap();
    assert_eq!(p.exec_inst, Some(b'E'));
    let f = encode_list("FIXT.1.1", &p);
    let n = frame(&f).unwrap();
    let mut dec = Decoder::new();
    let msg = dec.decode(&f[..n]).unwrap();
    // The dictionary's own validation takes it: group order, counts, required fields.
    d.validate(&msg).unwrap();
    let body: Vec<(u32, String)> = msg
        .fields()
        .filter(|f| !crate::venue::fix::codec::is_standard_header_tag(f.tag) && f.tag != 10)
        .map(|f| (f.tag, String::from_utf8_lossy(f.value).into_owned()))
        .collect();
    let ts = "20231114-22:13:20.000".to_string();
    let want: Vec<(u32, String)> = [
        (66, "6b04-7-0"),
        (394, "3"),
        (1385, "1"),
        (68, "2"),
        (73, "2"),
    ]
    .into_iter()
    .map(|(t, v)| (t, v.to_string()))
    .collect();
    assert_eq!(body[..5], want[..]);
    let group = d
        .group_fields(msg_type::NEW_ORDER_LIST, tag::NO_ORDERS)
        .unwrap();
    let rank = |t: u32| group.iter().position(|&g| g == t).unwrap();
    let rest = &body[5..];
    let split = rest.iter().skip(1).position(|(t, _)| *t == 11).unwrap() + 1;
    let (sl, tp) = rest.split_at(split);
    for (leg, want) in [
        (
            sl,
            vec![
                (11, "6b04-7-0"),
                (67, "1"),
                (1, "alpha"),
                (18, "E"),
                (55, "AAPL"),
                (54, "2"),
                (60, ts.as_str()),
                (38, "3"),
                (40, "3"),
                (99, "95"),
                (59, "1"),
            ],
        ),
        (
            tp,
            vec![
                (11, "6b04-8-0"),
                (67, "2"),
                (1, "alpha"),
                (18, "E"),
                (55, "AAPL"),
                (54, "2"),
                (60, ts.as_str()),
                (38, "3"),
                (40, "2"),
                (44, "105"),
                (59, "1"),
            ],
        ),
    ] {
        let mut want: Vec<(u32, String)> =
            want.into_iter().map(|(t, v)| (t, v.to_string())).collect();
        // In the group's definition order, ClOrdID first.
        want.sort_by_key(|(t, _)| rank(*t));
        assert_eq!(leg, &want[..]);
        assert_eq!(leg[0].0, 11);
    }
}

#[test]
fn reduce_only_exec_inst_goes_on_protective_orders_only() {
    let reg: Arc<Registry> =
        Arc::new(Registry::from_toml(include_str!("../../../../examples/fix-sim.toml")).unwrap());
    let inst = &reg.instruments[0];
    let mut t = Terms {
        account: reg.accounts[0].name,
        symbol: inst.symbol,
        price_scale: inst.price_scale,
        qty_scale: inst.qty_scale,
        fix42: false,
        micros: false,
        exec_inst: Some(b'E'),
    };
    let d = Dictionary::builtin("FIX.4.4").unwrap();
    for exec_inst in [Some(b'E'), None] {
        t.exec_inst = exec_inst;
        let mut e = Encoder::new("FIX.4.4", 512);
        e.start(msg_type::NEW_ORDER_SINGLE);
        e.bytes(tag::SENDER_COMP_ID, b"EXECD");
        e.uint(tag::MSG_SEQ_NUM, 5);
        e.timestamp(tag::SENDING_TIME, 1_700_000_000_000_000_000, false);
        e.bytes(tag::TARGET_COMP_ID, b"SIM");
        let s = leg(7, OrderType::Stop, 0, 9_500);
        super::super::venue::order_fields(&mut e, &t, &s, cl(7), None, 1_700_000_000_000_000_000);
        let f = e.finish().to_vec();
        let n = frame(&f).unwrap();
        let mut dec = Decoder::new();
        let msg = dec.decode(&f[..n]).unwrap();
        d.validate(&msg).unwrap();
        assert_eq!(
            msg.get(tag::EXEC_INST),
            exec_inst.as_ref().map(std::slice::from_ref)
        );
    }
}

#[test]
fn a_refused_list_rejects_both_legs() {
    let reg: Arc<Registry> =
        Arc::new(Registry::from_toml(include_str!("../../../../examples/fix-sim.toml")).unwrap());
    let mut m = Mapping::new(reg, crate::model::ids::VenueId(0), 64);
    let mut q = VecDeque::new();
    let status = |body: &str| -> Vec<u8> {
        let mut e = Encoder::new("FIX.4.4", 512);
        e.start(msg_type::LIST_STATUS);
        for kv in body.split('|') {
            let (k, v) = kv.split_once('=').unwrap();
            e.bytes(k.parse().unwrap(), v.as_bytes());
        }
        e.finish().to_vec()
    };
    let reject = |q: &VecDeque<VenueEvent>| -> Vec<ClOrdId> {
        q.iter()
            .filter_map(|e| match e.kind {
                VenueEventKind::Rejected { cl, reason } => {
                    assert_eq!(reason, Reason::VenueRejected);
                    Some(cl)
                }
                _ => None,
            })
            .collect()
    };
    // Naming its legs.
    let f = status("66=6b04-7-0|68=2|82=1|83=1|429=2|431=7|73=2|11=6b04-7-0|14=0|39=8|151=0|84=0|6=0|11=6b04-8-0|14=0|39=8|151=0|84=0|6=0");
    let mut dec = Decoder::new();
    m.on_list_status(&mut q, 1, 3, &dec.decode(&f).unwrap());
    assert_eq!(reject(&q), vec![cl(7), cl(8)]);
    // Naming only the ListID: the legs remembered under it.
    q.clear();
    m.remember_list(cl(7), cl(8));
    let f = status("66=6b04-7-0|68=2|82=1|83=1|429=2|431=7");
    m.on_list_status(&mut q, 1, 4, &dec.decode(&f).unwrap());
    assert_eq!(reject(&q), vec![cl(7), cl(8)]);
    // Taken: nothing to book (the legs' reports say it).
    q.clear();
    let f = status("66=6b04-7-0|68=2|82=1|83=1|429=2|431=3");
    m.on_list_status(&mut q, 1, 5, &dec.decode(&f).unwrap());
    assert!(q.is_empty());
    // A business reject of the list's message refuses both legs too.
    m.refused(
        &mut q,
        1,
        6,
        crate::venue::fix::reports::Outstanding::List(cl(7), cl(8)),
        Reason::VenueRejected,
    );
    assert_eq!(reject(&q), vec![cl(7), cl(8)]);
}
