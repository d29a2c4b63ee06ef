//! Hot-path micro-benchmarks: the pre-trade gate and the order state machine per request,
//! and a whole request on the engine (gate → OMS → paper venue → answers → events)
//! without the rings.
//! Baseline in the same run: hashing the request (the least any request costs).

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use execd::calendar::unix_ns;
use execd::config::Registry;
use execd::core::venues::build_venues;
use execd::core::Engine;
use execd::gate::{Exposure, Gate};
use execd::model::event::{Command, CoreEvent};
use execd::model::fixed::{Dec, Money, Price, Qty};
use execd::model::ids::{AccountId, InstrumentId, OrderId, RequestId, Side};
use execd::model::order_state::OmsEvent;
use execd::model::quote::Quote;
use execd::model::request::ExecutionRequest;
use execd::oms::{Execution, FillResult, Order, Terms};
use std::sync::Arc;

struct Flat;

impl Exposure for Flat {
    fn open_orders(&self, _: AccountId) -> u32 {
        3
    }
    fn position(&self, _: AccountId, _: InstrumentId) -> (Qty, Qty, Qty) {
        (Qty(100), Qty(0), Qty(0))
    }
    fn margin_available(&self, _: AccountId) -> Money {
        Money(1_000_000_000_000)
    }
}

fn setup() -> (Registry, Gate, ExecutionRequest, u64) {
    let reg = Registry::default_paper();
    let now = unix_ns(2026, 1, 5, 15, 0);
    let mut gate = Gate::new(&reg);
    let aapl = reg.instrument_by_names("paper", "AAPL").unwrap().id;
    gate.quotes[aapl.0 as usize] = Quote {
        bid: Price(19_000),
        ask: Price(19_002),
        bid_size: Qty(5_000),
        ask_size: Qty(5_000),
        at_ns: now,
    };
    let mut req = ExecutionRequest::market(
        "bench-1",
        "alpha",
        "paper",
        "AAPL",
        Side::Buy,
        Dec::new(100, 0),
    );
    req.reference_price = Some(Dec::new(19_001, 2));
    (reg, gate, req, now)
}

fn gate_and_state_machine(c: &mut Criterion) {
    let (reg, gate, req, now) = setup();
    let mut g = c.benchmark_group("per_request");
    g.bench_function("baseline_content_hash", |b| {
        b.iter(|| black_box(&req).content_hash())
    });
    g.bench_function("gate_check", |b| {
        b.iter(|| gate.check(&reg, black_box(&req), now, &Flat, true).unwrap())
    });
    g.bench_function("gate_plus_state_machine", |b| {
        b.iter(|| {
            let r = black_box(&req);
            let c = gate.check(&reg, r, now, &Flat, true).unwrap();
            let terms = Terms {
                request_id: r.request_id,
                content_hash: r.content_hash(),
                account: c.account,
                venue: c.venue,
                instrument: c.instrument,
                side: r.side,
                order_type: r.order_type,
                tif: r.tif,
                qty: c.qty,
                limit: c.limit,
                stop: c.stop,
                reference: c.reference,
                received_at: now,
                expire_at_ns: None,
                ..Terms::BLANK
            };
            let mut o = Order::new(OrderId(1), 1, terms, c.margin);
            o.apply(OmsEvent::Sent).unwrap();
            o.apply(OmsEvent::Ack).unwrap();
            let fill = Execution {
                exec_id: 7,
                px: Price(19_002),
                qty: c.qty,
                fee: Money(0),
            };
            let ev = match o.record_fill(&fill, |_| false, |_| {}) {
                FillResult::Applied(ev) => ev,
                other => panic!("{other:?}"),
            };
            o.apply(ev).unwrap();
            black_box(o.state())
        })
    });
    g.finish();
}

fn engine_round_trip(c: &mut Criterion) {
    let reg = Arc::new(Registry::default_paper());
    let start = unix_ns(2026, 1, 5, 15, 0);
    let mut g = c.benchmark_group("engine");
    // One long-lived engine on the paper venue: each iteration submits a market order
    // and moves simulated time 1 ms on, so its acknowledgement, fills and the market's
    // quotes are processed too — everything the core thread does per request.
    let mut e = Engine::new(reg.clone(), build_venues(&reg, start), 1, start);
    let mut out: Vec<CoreEvent> = Vec::with_capacity(4096);
    let mut now = start + 1_000_000;
    e.advance_to(now, &mut out);
    let mut n = 0u64;
    g.bench_function("request_and_venue_round_trip", |b| {
        b.iter(|| {
            n += 1;
            let side = if n % 2 == 0 { Side::Buy } else { Side::Sell };
            let sym = ["AAPL", "MSFT", "ETHUSDT"][(n % 3) as usize];
            let qty = if n % 3 == 2 {
                Dec::new(1, 0)
            } else {
                Dec::new(10, 0)
            };
            let mut req = ExecutionRequest::market("", "alpha", "paper", sym, side, qty);
            req.request_id = RequestId::from_prefixed_u64("b-", n).unwrap();
            out.clear();
            e.command(0, &Command::Submit(req), &mut out, &mut ());
            now += 1_000_000;
            e.advance_to(now, &mut out);
            black_box(out.len())
        })
    });
    g.finish();
}

/// Quote → gate-visible on the core (R-VEN-6): a FIX MarketDataIncrementalRefresh's
/// bytes decoded, read into the venue's top of book (the FIX venue's own code, through
/// its probe), conflated, handed to the engine as the journaled venue input it becomes,
/// and applied: the next gate check sees it. Socket reads and the session's sequence
/// checks are left out (the FIX benches cover them). Criterion's estimate, then p50 and
/// p99 of single quotes timed one by one.
fn quote_to_gate(c: &mut Criterion) {
    use execd::venue::fix::codec::{Decoder, Encoder};
    use execd::venue::fix::probe::ReportProbe;
    use execd::venue::{Conflation, VenueEvent};
    use std::time::Instant;

    let text = std::fs::read_to_string("examples/fix-sim.toml").expect("examples/fix-sim.toml");
    let reg = Arc::new(Registry::from_toml(&text).expect("the example loads"));
    let venue = reg
        .venue(&execd::model::ids::Name::new("sim").unwrap())
        .expect("venue sim");
    let aapl = reg.instrument_by_names("sim", "AAPL").unwrap().id;
    let start = unix_ns(2026, 1, 5, 15, 0);
    let mut e = Engine::new(reg.clone(), build_venues(&reg, start), 1, start);
    let mut probe = ReportProbe::new(reg.clone(), venue).with_market_data();
    let mut conflation = Conflation::new(reg.instruments.len());
    let mut enc = Encoder::new("FIX.4.4", 512);
    enc.start(b"X")
        .bytes(49, b"SIM")
        .bytes(56, b"EXECD")
        .uint(34, 1_000)
        .timestamp(52, start, false)
        .bytes(262, b"md-0-1")
        .uint(268, 2);
    for (side, px) in [(b'0', 9_999), (b'1', 10_001)] {
        enc.char(279, b'1')
            .char(269, side)
            .bytes(55, b"AAPL")
            .fixed(270, px, 2)
            .uint(271, 1_000);
    }
    let frame = enc.finish().to_vec();
    let mut dec = Decoder::new();
    let mut evs: Vec<VenueEvent> = Vec::with_capacity(16);
    let mut out: Vec<CoreEvent> = Vec::with_capacity(1024);
    let mut now = start;
    let vi = venue.0 as usize;
    let mut one = || {
        now += 1_000;
        evs.clear();
        out.clear();
        let msg = dec.decode(&frame).expect("decodes");
        probe.read_into(now, &msg, &mut evs);
        conflation.apply(&mut evs, 0);
        for ev in evs.drain(..) {
            e.feed_recorded(vi, ev);
        }
        e.advance_to(now, &mut out);
        let q = e.gate().quotes[aapl.0 as usize];
        debug_assert_eq!(q.at_ns, now);
        black_box(q)
    };
    let mut g = c.benchmark_group("market_data");
    g.bench_function("fix_refresh_to_gate", |b| b.iter(&mut one));
    g.finish();
    let n = 100_000;
    let mut ns: Vec<u64> = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        black_box(one());
        ns.push(t.elapsed().as_nanos() as u64);
    }
    ns.sort_unstable();
    println!(
        "market_data/fix_refresh_to_gate: {n} quotes timed one by one: p50 {} ns, p99 {} ns, p99.9 {} ns, max {} ns",
        ns[n / 2],
        ns[n * 99 / 100],
        ns[n * 999 / 1000],
        ns[n - 1]
    );
}

criterion_group!(
    benches,
    gate_and_state_machine,
    engine_round_trip,
    quote_to_gate
);
criterion_main!(benches);
