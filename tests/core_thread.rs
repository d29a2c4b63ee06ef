//! The core driven through its real entry point: a Handle on the rtrb rings of a running
//! core thread, the paper venue behind it, simulated time carried by the commands.

mod common;

use common::*;
use execd::config::{Registry, DEFAULT_IDLE_YIELD_US};
use execd::model::event::{Command, CoreEvent, OrderRef, OrderStatus, Scope};
use execd::model::fixed::{Price, Qty};
use execd::model::ids::{AccountId, Name, OrderId, OrderType, RequestId, Side, Tif};
use execd::model::order_state::OrderState;
use execd::model::request::Protect;
use execd::model::{
    control::{KillState, Mode},
    reason::Reason,
};
use execd::venue::Venue;

fn statuses(evs: &[CoreEvent], order: OrderId) -> Vec<OrderStatus> {
    evs.iter()
        .filter_map(|e| match e {
            CoreEvent::Order(s) if s.order == order => Some(*s),
            _ => None,
        })
        .collect()
}

fn accepted(evs: &[CoreEvent]) -> OrderId {
    evs.iter()
        .find_map(|e| match e {
            CoreEvent::Accepted { order, .. } => Some(*order),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no Accepted in {evs:?}"))
}

fn fills(evs: &[CoreEvent], order: OrderId) -> Vec<(Price, Qty, bool)> {
    evs.iter()
        .filter_map(|e| match e {
            CoreEvent::Fill {
                order: o,
                px,
                qty,
                late,
                ..
            } if *o == order => Some((*px, *qty, *late)),
            _ => None,
        })
        .collect()
}

/// The stop-loss and take-profit orders of the first protection placed in `evs`.
fn protection_legs(evs: &[CoreEvent]) -> (OrderId, OrderId) {
    evs.iter()
        .find_map(|e| match e {
            CoreEvent::Protection {
                stop_loss: Some(s),
                take_profit: Some(t),
                ..
            } => Some((s.0, t.0)),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no protection in {evs:?}"))
}

fn name(s: &str) -> Name {
    Name::new(s).unwrap()
}

#[test]
fn market_order_is_acknowledged_filled_and_booked() {
    let mut sim = Sim::new(Registry::default_paper());
    let mut req = market("m-1", "AAPL", Side::Buy, "100");
    req.reference_price = Some(dec("189.95"));
    let evs = sim.submit(req, 1_000_000_000);
    let id = accepted(&evs);
    // The request was frozen at receipt: its content hash comes back with the acceptance.
    assert!(evs.iter().any(|e| matches!(e, CoreEvent::Accepted { content_hash, .. } if *content_hash == req.content_hash())));
    // Every fill carries its slippage against the reference (R-OMS-8).
    let mut with_slippage = 0;
    for e in &evs {
        if let CoreEvent::Fill { px, slippage, .. } = e {
            let s = slippage.expect("a reference price was given");
            assert_eq!(
                s,
                execd::model::slippage::slippage(Side::Buy, Price(18_995), *px, Price(1))
            );
            assert_eq!(s.price, px.0 - 18_995);
            with_slippage += 1;
        }
    }
    assert!(with_slippage > 0);
    let states: Vec<_> = statuses(&evs, id).iter().map(|s| s.state).collect();
    assert_eq!(states.first(), Some(&OrderState::New), "{evs:?}");
    assert_eq!(states.last(), Some(&OrderState::Filled), "{evs:?}");
    let f = fills(&evs, id);
    assert_eq!(f.iter().map(|x| x.1 .0).sum::<i64>(), 100);
    let report = sim.shutdown();
    let e = &report.engine;
    let reg = e.registry();
    let aapl = reg.instrument_by_names("paper", "AAPL").unwrap().id;
    let alpha = reg.account(&name("alpha")).unwrap();
    assert_eq!(e.position(alpha, aapl).net, Qty(100));
    // The engine's book and the venue's agree (what reconciliation will check).
    let mut at_venue = Vec::new();
    e.venue(0).positions(alpha, &mut at_venue);
    assert_eq!(at_venue, vec![(aapl, Qty(100))]);
    assert!(!report.in_flight_at_exit);
}

#[test]
fn same_request_id_twice_returns_the_first_order() {
    let mut sim = Sim::new(Registry::default_paper());
    let req = market("dup-1", "MSFT", Side::Sell, "10");
    let first = sim.submit(req, 1_000_000_000);
    let id = accepted(&first);
    let again = sim.submit(req, 1_000_000);
    assert_eq!(
        again,
        vec![CoreEvent::Duplicate {
            request_id: RequestId::new("dup-1").unwrap(),
            order: id,
            state: OrderState::Filled,
        }]
    );
    // A rejected request is remembered too.
    let mut bad = market("dup-2", "MSFT", Side::Sell, "0");
    bad.quantity = dec("0");
    let r1 = sim.submit(bad, 1_000_000);
    assert!(
        matches!(
            r1[0],
            CoreEvent::Rejected {
                reason: Reason::BadQuantity,
                ..
            }
        ),
        "{r1:?}"
    );
    let r2 = sim.submit(bad, 1_000_000);
    assert!(
        matches!(
            r2[0],
            CoreEvent::Duplicate {
                state: OrderState::Rejected,
                ..
            }
        ),
        "{r2:?}"
    );
    assert_eq!(sim.shutdown().engine.stats().duplicates, 2);
}

#[test]
fn guide_mode_advises_and_autonomous_sends() {
    let mut sim = Sim::new(Registry::default_paper());
    let mut req = market("g-1", "AAPL", Side::Buy, "5");
    req.account = name("advisor");
    let evs = sim.submit(req, 1_000_000);
    assert!(
        matches!(
            evs[0],
            CoreEvent::Rejected {
                reason: Reason::ModeGuide,
                ..
            }
        ),
        "{evs:?}"
    );
    sim.send(Command::SetMode {
        account: name("advisor"),
        mode: Mode::Autonomous,
    });
    req.request_id = RequestId::new("g-2").unwrap();
    let evs = sim.submit(req, 1_000_000_000);
    assert!(evs.iter().any(|e| matches!(
        e,
        CoreEvent::ModeChanged {
            mode: Mode::Autonomous,
            ..
        }
    )));
    accepted(&evs);
}

#[test]
fn kill_switch_blocks_warns_and_emergency_cancels_but_keeps_positions() {
    let mut sim = Sim::new(Registry::default_paper());
    // A filled position and a resting order on BTCUSDT.
    let filled = accepted(&sim.submit(market("k-1", "BTCUSDT", Side::Buy, "0.5"), 1_000_000_000));
    let mut resting = market("k-2", "BTCUSDT", Side::Buy, "0.1");
    resting.order_type = OrderType::Limit;
    resting.tif = Tif::Gtc;
    resting.limit_price = Some(dec("96000.00"));
    let rest_id = accepted(&sim.submit(resting, 1_000_000_000));

    sim.send(Command::SetKillSwitch {
        scope: Scope::Symbol(name("BTCUSDT")),
        state: KillState::Active,
        cancel_open: true,
    });
    let evs = sim.run_for(1_000_000_000);
    assert!(
        evs.iter().any(|e| matches!(
            e,
            CoreEvent::KillSwitch {
                state: KillState::Active,
                canceled: 1,
                ..
            }
        )),
        "{evs:?}"
    );
    assert_eq!(
        statuses(&evs, rest_id).last().unwrap().state,
        OrderState::Canceled
    );
    let blocked = sim.submit(market("k-3", "BTCUSDT", Side::Buy, "0.1"), 1_000_000);
    assert!(
        matches!(
            blocked[0],
            CoreEvent::Rejected {
                reason: Reason::KillSymbol,
                ..
            }
        ),
        "{blocked:?}"
    );
    // Other symbols still trade.
    accepted(&sim.submit(market("k-4", "ETHUSDT", Side::Buy, "1"), 1_000_000));

    sim.send(Command::SetKillSwitch {
        scope: Scope::Global,
        state: KillState::Warning,
        cancel_open: false,
    });
    sim.send(Command::SetKillSwitch {
        scope: Scope::Symbol(name("BTCUSDT")),
        state: KillState::Off,
        cancel_open: false,
    });
    let evs = sim.submit(market("k-5", "BTCUSDT", Side::Sell, "0.1"), 1_000_000_000);
    assert!(
        evs.iter()
            .any(|e| matches!(e, CoreEvent::Accepted { warning: true, .. })),
        "{evs:?}"
    );

    let report = sim.shutdown();
    let e = &report.engine;
    let btc = e
        .registry()
        .instrument_by_names("paper", "BTCUSDT")
        .unwrap()
        .id;
    let alpha = e.registry().account(&name("alpha")).unwrap();
    // The kill switch never closed the filled position: 0.5 bought, 0.1 sold after.
    assert_eq!(e.position(alpha, btc).net, Qty(400));
    assert_eq!(e.book().get(filled).unwrap().state(), OrderState::Filled);
}

#[test]
fn hard_timeout_then_late_fill_is_applied_and_flagged() {
    // Every order is "silent": processed by the venue only after 40 s.
    let reg = config_with(|t| t.replace("silent_per_mille = 1 ", "silent_per_mille = 1000 "));
    let mut sim = Sim::new(reg);
    let mut req = market("t-1", "ETHUSDT", Side::Buy, "2");
    req.stop_loss = Some(Protect::OffsetPpm(-20_000));
    let evs = sim.submit(req, 29_000_000_000);
    let id = accepted(&evs);
    assert!(
        statuses(&evs, id).is_empty(),
        "nothing before the timeout: {evs:?}"
    );
    let evs = sim.run_for(2_000_000_000);
    let st = statuses(&evs, id);
    assert_eq!(
        st.last().map(|s| s.state),
        Some(OrderState::TimedOut),
        "{evs:?}"
    );
    let evs = sim.run_for(15_000_000_000);
    let f = fills(&evs, id);
    assert!(
        !f.is_empty() && f.iter().all(|x| x.2),
        "late fills flagged: {evs:?}"
    );
    let last = statuses(&evs, id).last().copied().unwrap();
    assert_eq!(last.state, OrderState::Filled);
    assert!(last.late);
    // The late fill still gets its stop-loss (R-OMS-4).
    assert!(
        evs.iter()
            .any(|e| matches!(e, CoreEvent::Protection { parent, .. } if *parent == id)),
        "{evs:?}"
    );
    // The timeout started a reconciliation of the venue (R-OMS-4, R-AUD-4), which found
    // the order still in flight, not yet known to the venue's listing.
    assert!(
        sim.recon.iter().any(|e| matches!(
            e,
            CoreEvent::ReconReport(r)
                if r.trigger == execd::model::reconcile::ReconTrigger::Timeout && r.in_flight >= 1
        )),
        "{:?}",
        sim.recon
    );
    // (Its place in the reconciliation queue ended with the report that followed its
    // late fill: the protective leg's own timeout reconciled the venue again.)
    let report = sim.shutdown();
    // The protective order is as silent as its parent: it times out too.
    assert!(report.engine.stats().timeouts >= 1);
    assert!(report.engine.book().get(id).unwrap().late());
}

#[test]
fn stop_loss_and_take_profit_come_from_the_actual_fill_price() {
    let reg = config_with(|t| t.replace("partial_fill_pct = 20", "partial_fill_pct = 0"));
    let mut sim = Sim::new(reg);
    let mut req = market("p-1", "AAPL", Side::Buy, "50");
    req.stop_loss = Some(Protect::OffsetPpm(-10_000)); // 1 % below the fill
    req.take_profit = Some(Protect::Price(dec("250.00")));
    let evs = sim.submit(req, 1_000_000_000);
    let id = accepted(&evs);
    let (px, _, _) = fills(&evs, id)[0];
    let prot = evs
        .iter()
        .find_map(|e| match e {
            CoreEvent::Protection {
                parent,
                stop_loss,
                take_profit,
                qty,
            } if *parent == id => Some((*stop_loss, *take_profit, *qty)),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no protection: {evs:?}"));
    let (sl, tp, qty) = prot;
    assert_eq!(qty, Qty(50));
    // SL = fill × (1 − 0.01), on the 0.01 grid.
    let want = ((px.0 as i128 * 990_000 + 500_000) / 1_000_000) as i64;
    assert_eq!(sl.unwrap().1, Price(want));
    assert_eq!(tp.unwrap().1, Price(25_000));
    let report = sim.shutdown();
    let e = &report.engine;
    let sl_order = e.book().get(sl.unwrap().0).unwrap();
    let tp_order = e.book().get(tp.unwrap().0).unwrap();
    assert_eq!(
        (
            sl_order.terms().order_type,
            sl_order.terms().side,
            sl_order.terms().stop
        ),
        (OrderType::Stop, Side::Sell, Price(want))
    );
    assert_eq!(
        (
            tp_order.terms().order_type,
            tp_order.terms().side,
            tp_order.terms().limit
        ),
        (OrderType::Limit, Side::Sell, Price(25_000))
    );
    assert_eq!(
        sl_order.terms().oco,
        Some(tp_order.id()),
        "one-cancels-other pair"
    );
    assert_eq!(sl_order.terms().parent, Some(id));
}

#[test]
fn resting_limit_can_be_replaced_then_canceled() {
    let mut sim = Sim::new(Registry::default_paper());
    let mut req = market("r-1", "EURUSD", Side::Buy, "100000");
    req.order_type = OrderType::Limit;
    req.tif = Tif::Gtc;
    req.limit_price = Some(dec("1.08000"));
    let evs = sim.submit(req, 1_000_000_000);
    let id = accepted(&evs);
    assert_eq!(statuses(&evs, id).last().unwrap().state, OrderState::New);
    let r = OrderRef::Request(RequestId::new("r-1").unwrap());
    sim.send(Command::Replace {
        order: r,
        quantity: Some(dec("200000")),
        limit_price: Some(dec("1.08010")),
    });
    let evs = sim.run_for(1_000_000_000);
    let st = statuses(&evs, id);
    assert_eq!(
        st.iter().map(|s| s.state).collect::<Vec<_>>(),
        vec![OrderState::PendingReplace, OrderState::Replaced]
    );
    assert_eq!(st[1].qty, Qty(200_000));
    sim.send(Command::Cancel(r));
    let evs = sim.run_for(1_000_000_000);
    let st: Vec<_> = statuses(&evs, id).iter().map(|s| s.state).collect();
    assert_eq!(st, vec![OrderState::PendingCancel, OrderState::Canceled]);
    // A second cancel is refused: the order is no longer working.
    sim.send(Command::Cancel(r));
    let evs = sim.run_for(1_000_000);
    assert_eq!(
        evs,
        vec![CoreEvent::CommandRejected {
            order: Some(id),
            reason: Reason::NotWorking
        }]
    );
    let report = sim.shutdown();
    let o = report.engine.book().get(id).unwrap();
    assert_eq!(
        (o.terms().limit, o.version(), o.last_version()),
        (Price(108_010), 1, 2)
    );
}

#[test]
fn partial_fills_add_up_exactly() {
    let reg = config_with(|t| t.replace("partial_fill_pct = 20", "partial_fill_pct = 100"));
    let mut sim = Sim::new(reg);
    let evs = sim.submit(
        market("pf-1", "ETHUSDT", Side::Sell, "12.34"),
        1_000_000_000,
    );
    let id = accepted(&evs);
    let f = fills(&evs, id);
    assert!(f.len() >= 2, "{evs:?}");
    let cum: i64 = f.iter().map(|x| x.1 .0).sum();
    assert_eq!(cum, 1234);
    let notional: i128 = f.iter().map(|x| x.0 .0 as i128 * x.1 .0 as i128).sum();
    let last = statuses(&evs, id).last().copied().unwrap();
    assert_eq!(last.state, OrderState::Filled);
    assert_eq!(last.cum_qty, Qty(1234));
    let avg = (notional * 2 + cum as i128) / (2 * cum as i128);
    assert_eq!(last.avg_px.0 as i128, avg);
    let states: Vec<_> = statuses(&evs, id).iter().map(|s| s.state).collect();
    assert!(states.contains(&OrderState::PartiallyFilled), "{states:?}");
}

#[test]
fn same_commands_give_the_same_events() {
    let script = |sim: &mut Sim| {
        let mut all = Vec::new();
        for i in 0..200u64 {
            let side = if i % 3 == 0 { Side::Sell } else { Side::Buy };
            let sym = ["AAPL", "MSFT", "EURUSD", "BTCUSDT", "ETHUSDT"][(i % 5) as usize];
            let qty = ["10", "20", "10000", "0.01", "0.5"][(i % 5) as usize];
            let mut req = market(&format!("d-{i}"), sym, side, qty);
            if i % 7 == 0 {
                req.stop_loss = Some(Protect::OffsetPpm(-2_000 * side.sign()));
            }
            all.extend(sim.submit(req, 3_000_000));
        }
        all.extend(sim.run_for(60_000_000_000));
        all
    };
    let a = script(&mut Sim::new(Registry::default_paper()));
    let b = script(&mut Sim::new(Registry::default_paper()));
    assert!(a.len() > 600);
    assert_eq!(a, b);
}

#[test]
fn unknown_orders_and_bad_commands_get_clear_refusals() {
    let mut sim = Sim::new(Registry::default_paper());
    sim.send(Command::Cancel(OrderRef::Id(OrderId(999))));
    sim.send(Command::SetMode {
        account: name("nobody"),
        mode: Mode::Autonomous,
    });
    sim.send(Command::SetKillSwitch {
        scope: Scope::Venue(name("nyse")),
        state: KillState::Active,
        cancel_open: true,
    });
    let evs = sim.run_for(1_000_000);
    assert_eq!(
        evs,
        vec![
            CoreEvent::CommandRejected {
                order: None,
                reason: Reason::UnknownOrder
            },
            CoreEvent::CommandRejected {
                order: None,
                reason: Reason::UnknownAccount
            },
            CoreEvent::CommandRejected {
                order: None,
                reason: Reason::UnknownVenue
            },
        ]
    );
}

#[test]
fn real_clock_core_fills_and_shuts_down_with_nothing_in_flight() {
    use execd::config::IdleKind;
    use execd::core::RealClock;
    use execd::core::{spawn, CoreOptions};
    use std::time::Duration;
    let reg = std::sync::Arc::new(Registry::default_paper());
    let (core, mut hs) = spawn(
        reg,
        CoreOptions {
            idle: IdleKind::Backoff,
            idle_yield: Duration::from_micros(DEFAULT_IDLE_YIELD_US),
            pin_core: None,
            clock: Box::new(RealClock::new()),
            simulated: false,
            epoch: 2,
            grace: Duration::from_secs(5),
            journal: None,
        },
        1,
    )
    .unwrap();
    let h = &mut hs[0];
    // Let the paper venue publish its first quotes, then trade the 24/7 instrument.
    std::thread::sleep(Duration::from_millis(50));
    h.submit(market("rt-1", "BTCUSDT", Side::Buy, "0.01"))
        .unwrap();
    let filled = h.wait_for(
        Duration::from_secs(10),
        |e| matches!(e, CoreEvent::Order(s) if s.state == OrderState::Filled),
        |_| {},
    );
    assert!(filled.is_some(), "no fill within 10 s on the real clock");
    h.submit(market("rt-2", "BTCUSDT", Side::Sell, "0.01"))
        .unwrap();
    let report = core.shutdown();
    assert!(
        !report.in_flight_at_exit,
        "shutdown waits for in-flight orders"
    );
    assert_eq!(report.engine.stats().accepted, 2);
    assert!(report
        .engine
        .book()
        .iter()
        .all(|o| o.state() == OrderState::Filled));
}

#[test]
fn protection_can_be_moved_and_scopes_canceled_and_halts_set() {
    let reg = config_with(|t| t.replace("partial_fill_pct = 20", "partial_fill_pct = 0"));
    let mut sim = Sim::new(reg);
    let mut req = market("mp-1", "MSFT", Side::Buy, "20");
    req.stop_loss = Some(Protect::OffsetPpm(-20_000));
    req.take_profit = Some(Protect::OffsetPpm(20_000));
    let evs = sim.submit(req, 1_000_000_000);
    let parent = accepted(&evs);
    let (sl, tp) = protection_legs(&evs);
    sim.send(Command::ModifyProtection {
        order: OrderRef::Request(RequestId::new("mp-1").unwrap()),
        stop_loss: Some(dec("350.00")),
        take_profit: Some(dec("480.00")),
    });
    let evs = sim.run_for(1_000_000_000);
    for leg in [sl, tp] {
        let st: Vec<_> = statuses(&evs, leg).iter().map(|s| s.state).collect();
        assert_eq!(
            st,
            vec![OrderState::PendingReplace, OrderState::Replaced],
            "{evs:?}"
        );
    }
    sim.send(Command::Query(OrderRef::Id(sl)));
    let q = sim.run_for(1_000_000);
    assert!(
        matches!(q[..], [
            CoreEvent::Order(OrderStatus { state: OrderState::Replaced, parent: Some(p), .. }),
            CoreEvent::OrderInstrument { order, .. },
        ] if p == parent && order == sl),
        "{q:?}"
    );

    // Cancel everything working on the account: both protective legs.
    sim.send(Command::CancelAll(Scope::Account(name("alpha"))));
    let evs = sim.run_for(1_000_000_000);
    for leg in [sl, tp] {
        assert_eq!(
            statuses(&evs, leg).last().unwrap().state,
            OrderState::Canceled,
            "{evs:?}"
        );
    }
    // An operator halt blocks the account until lifted.
    sim.send(Command::SetHalted {
        account: name("alpha"),
        halted: true,
    });
    let evs = sim.submit(market("mp-2", "MSFT", Side::Sell, "20"), 1_000_000);
    assert!(
        evs.iter().any(|e| matches!(
            e,
            CoreEvent::Rejected {
                reason: Reason::TradingHalted,
                ..
            }
        )),
        "{evs:?}"
    );
    sim.send(Command::SetHalted {
        account: name("alpha"),
        halted: false,
    });
    accepted(&sim.submit(market("mp-3", "MSFT", Side::Sell, "20"), 1_000_000_000));
    let report = sim.shutdown();
    let e = &report.engine;
    assert_eq!(e.book().get(sl).unwrap().terms().stop, Price(35_000));
    assert_eq!(e.book().get(tp).unwrap().terms().limit, Price(48_000));
    let msft = e
        .registry()
        .instrument_by_names("paper", "MSFT")
        .unwrap()
        .id;
    assert_eq!(
        e.position(e.registry().account(&name("alpha")).unwrap(), msft)
            .net,
        Qty(0)
    );
}

#[test]
fn protection_is_withdrawn_when_the_position_is_closed_another_way() {
    let reg = config_with(|t| t.replace("partial_fill_pct = 20", "partial_fill_pct = 0"));
    let mut sim = Sim::new(reg);
    let mut req = market("w-1", "ETHUSDT", Side::Buy, "3");
    req.stop_loss = Some(Protect::OffsetPpm(-30_000));
    req.take_profit = Some(Protect::OffsetPpm(30_000));
    let evs = sim.submit(req, 1_000_000_000);
    let (sl, tp) = protection_legs(&evs);
    // Upstream closes the position itself: the SL/TP would have nothing left to protect.
    let evs = sim.submit(market("w-2", "ETHUSDT", Side::Sell, "3"), 1_000_000_000);
    for leg in [sl, tp] {
        assert_eq!(
            statuses(&evs, leg).last().map(|s| s.state),
            Some(OrderState::Canceled),
            "{evs:?}"
        );
    }
    let report = sim.shutdown();
    let e = &report.engine;
    let eth = e
        .registry()
        .instrument_by_names("paper", "ETHUSDT")
        .unwrap()
        .id;
    assert_eq!(
        e.position(e.registry().account(&name("alpha")).unwrap(), eth)
            .net,
        Qty(0)
    );
    assert_eq!(
        e.account(AccountId(0)).open_orders,
        0,
        "nothing left working"
    );
}

#[test]
fn a_core_that_cannot_be_pinned_runs_unpinned() {
    use execd::core::{spawn, CoreOptions};
    let mut opts = CoreOptions::simulated(start());
    opts.pin_core = Some(100_000); // no such CPU
    let (core, mut hs) = spawn(std::sync::Arc::new(Registry::default_paper()), opts, 1).unwrap();
    hs[0]
        .send_at(
            start() + 1_000_000,
            Command::Submit(market("pin-1", "AAPL", Side::Buy, "1")),
        )
        .unwrap();
    let got = hs[0].wait_for(
        std::time::Duration::from_secs(10),
        |e| matches!(e, CoreEvent::Accepted { .. }),
        |_| {},
    );
    assert!(got.is_some(), "the unpinned core still trades");
    let report = core.shutdown();
    assert!(!report.pinned);
}

#[test]
fn a_read_answers_a_full_page_through_the_smallest_ring_then_the_rest_after_its_cursor() {
    use execd::model::event::{OrderFilter, Row, Snapshot, MAX_ROWS};
    let reg = config_with(|t| t.replace("ring_capacity = 65536", "ring_capacity = 16"));
    assert_eq!(reg.core.ring_capacity, 16);
    let mut sim = Sim::new(reg);
    let n = MAX_ROWS as u64 + 100;
    for k in 0..n {
        let mut bad = market(&format!("r{k}"), "MSFT", Side::Sell, "0");
        bad.quantity = dec("0");
        let evs = sim.submit(bad, 1_000);
        assert!(matches!(evs[0], CoreEvent::Rejected { .. }), "{evs:?}");
    }
    let read = |sim: &mut Sim, what, from, limit| {
        sim.send(Command::Read { what, from, limit });
        sim.run_for(1_000)
    };
    let all = Snapshot::Orders(OrderFilter::default());
    // 1000 rows and the end on a 16-slot ring: nothing lost, in id order.
    let evs = read(&mut sim, all, 0, u16::MAX);
    assert_eq!(evs.len(), MAX_ROWS as usize + 1);
    for (i, e) in evs[..MAX_ROWS as usize].iter().enumerate() {
        match e {
            CoreEvent::Row(Row::Order(o)) => {
                assert_eq!(o.order, OrderId(i as u64 + 1));
                assert_eq!(o.state, OrderState::Rejected);
                assert_eq!(o.request_id.as_str(), format!("r{i}"));
            }
            other => panic!("row {i}: {other:?}"),
        }
    }
    let CoreEvent::RowsEnd { next: Some(next) } = evs[MAX_ROWS as usize] else {
        panic!("{:?}", evs.last());
    };
    assert_eq!(next, MAX_ROWS as u64 + 1);
    let evs = read(&mut sim, all, next, 500);
    assert_eq!(evs.len(), 101, "the other 100 and the end");
    assert_eq!(evs[100], CoreEvent::RowsEnd { next: None });
    // A filter nothing matches: no rows, and the end.
    let filled = OrderFilter {
        states: 1 << OrderState::Filled as u16,
        ..OrderFilter::default()
    };
    let evs = read(&mut sim, Snapshot::Orders(filled), 0, 10);
    assert_eq!(evs, vec![CoreEvent::RowsEnd { next: None }]);
    // Modes: one row per account.
    let evs = read(&mut sim, Snapshot::Modes, 0, 10);
    assert_eq!(evs.len(), 4, "{evs:?}");
    assert!(matches!(
        evs[2],
        CoreEvent::Row(Row::Mode {
            mode: Mode::Guide,
            halted: false,
            ..
        })
    ));
    let report = sim.shutdown();
    assert_eq!(report.undelivered, 0);
}

/// The default idle strategy on a real clock: once idle, the core sleeps in
/// `epoll_wait`, and a command pushed by a handle wakes it through the doorbell (one
/// system call, only because it sleeps). A push can land in the microseconds between
/// two waits, when the core's own look finds it: so commands are sent until one found
/// it asleep, each answered.
#[test]
fn a_sleeping_core_is_woken_by_a_handle_push() {
    use execd::core::{spawn, CoreOptions};
    use std::time::{Duration, Instant};
    let (core, mut hs) = spawn(
        std::sync::Arc::new(Registry::default_paper()),
        CoreOptions::real_time(1),
        1,
    )
    .expect("core starts");
    let h = &mut hs[0];
    let m = core.metrics();
    let start = m.idle();
    let mut woken = None;
    for token in 1..=20u64 {
        let end = Instant::now() + Duration::from_secs(30);
        while !m.idle_asleep() {
            assert!(Instant::now() < end, "the core never slept: {:?}", m.idle());
            std::thread::sleep(Duration::from_millis(1));
        }
        let before = m.idle();
        h.send(Command::Sync(token)).expect("room");
        let answered = h.wait_for(
            Duration::from_secs(30),
            |e| matches!(e, CoreEvent::Synced(t) if *t == token),
            |_| {},
        );
        assert!(answered.is_some(), "Sync({token}) answered");
        if m.idle().bell_rung > before.bell_rung {
            woken = Some(m.idle());
            break;
        }
    }
    let woken = woken.unwrap_or_else(|| panic!("no push woke the core: {:?}", m.idle()));
    assert!(woken.waits > start.waits, "{woken:?}");
    let report = core.shutdown();
    assert!(
        report.idle.woke_by_bell >= 1 && report.idle.bell_rung >= 1,
        "{:?}",
        report.idle
    );
}

/// `core.idle_yield_us` as the file sets it: commands that come closer together than it
/// never find the core asleep (no wait in epoll, no park, no doorbell between them); at 0
/// the core sleeps right after its spins, and commands 5 ms apart find it asleep. The
/// window is long (0.5 s) so that a stall of this box cannot make the first case sleep.
#[test]
fn backoff_stays_awake_between_commands_closer_than_its_yield_window() {
    use execd::core::{spawn, CoreOptions};
    use std::time::Duration;
    for (yield_us, gap_ms) in [(500_000u64, 1u64), (0, 5)] {
        let reg = config_with(|t| {
            t.replace(
                "idle_yield_us = 2000 ",
                &format!("idle_yield_us = {yield_us} "),
            )
        });
        assert_eq!(reg.core.idle_yield_us, yield_us);
        let mut opts = CoreOptions::real_time(1);
        opts.idle_yield = Duration::from_micros(reg.core.idle_yield_us);
        let (core, mut hs) = spawn(std::sync::Arc::new(reg), opts, 1).expect("core starts");
        let h = &mut hs[0];
        let m = core.metrics();
        let synced = |h: &mut execd::core::Handle, token: u64| {
            h.send(Command::Sync(token)).expect("room");
            let answer = h.wait_for(
                Duration::from_secs(30),
                |e| matches!(e, CoreEvent::Synced(t) if *t == token),
                |_| {},
            );
            assert!(answer.is_some(), "Sync({token}) answered");
        };
        synced(h, 0);
        let before = m.idle();
        for token in 1..=20 {
            std::thread::sleep(Duration::from_millis(gap_ms));
            synced(h, token);
        }
        let after = m.idle();
        let slept = (after.waits + after.parks) - (before.waits + before.parks);
        let rung = after.bell_rung - before.bell_rung;
        if yield_us > 0 {
            assert_eq!((slept, rung), (0, 0), "{before:?} → {after:?}");
        } else {
            assert!(slept >= 20 && rung >= 1, "{before:?} → {after:?}");
        }
        let report = core.shutdown();
        assert_eq!(report.undelivered, 0);
    }
}

/// A producer that stops reading its events (its backlog full: the core stops taking its
/// commands) with commands still queued does not keep the core from stopping: they are
/// waited for through the grace period, then left — never carried out, never journaled.
#[test]
fn shutdown_ends_even_when_a_producer_stopped_reading_with_commands_queued() {
    use execd::core::{spawn, CoreOptions};
    use std::time::{Duration, Instant};
    let reg = config_with(|t| t.replace("ring_capacity = 65536", "ring_capacity = 16"));
    assert_eq!(reg.core.ring_capacity, 16);
    let mut opts = CoreOptions::real_time(1);
    opts.grace = Duration::from_millis(500);
    let (core, mut hs) = spawn(std::sync::Arc::new(reg), opts, 1).expect("core starts");
    let h = &mut hs[0];
    // Syncs answered but never read: events fill the ring, then the backlog, until the
    // core stops reading this producer and its command ring stays full.
    let end = Instant::now() + Duration::from_secs(30);
    let mut refused = 0;
    let mut token = 0u64;
    while refused < 200 {
        assert!(Instant::now() < end, "the producer never backed up");
        token += 1;
        if h.send(Command::Sync(token)).is_err() {
            refused += 1;
            std::thread::sleep(Duration::from_millis(1));
        } else {
            refused = 0;
        }
    }
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let report = core.shutdown();
        let _ = tx.send(report.undelivered);
    });
    let undelivered = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the core stopped within its grace period (it used to wait forever)");
    assert!(undelivered > 0, "events were held for the producer");
    drop(hs);
}
