//! Property tests for the OMS (R-OMS-1, R-OMS-3, R-OMS-6): the state machine, fill
//! accounting on an order, and position netting.
//!
//! Every expectation is recomputed here from first principles (a set of applied exec
//! ids, i128 sums, our own rounding) rather than by calling the code under test.

use std::cell::RefCell;
use std::collections::HashSet;
use std::ops::Range;

use proptest::prelude::*;

use super::order::{Execution, FillResult, Order, Terms, INLINE_EXEC_IDS};
use super::position::Position;
use super::state::{transition, Anomaly, Effects, Step, Target};
use crate::config::Registry;
use crate::model::fixed::{Money, Price, Qty, MONEY_SCALE};
use crate::model::ids::{OrderId, OrderType, Side, Tif};
use crate::model::instrument::Instrument;
use crate::model::order_state::{OmsEvent, OrderState};

// ---------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------

/// Any event at all.
fn any_event() -> impl Strategy<Value = OmsEvent> {
    prop::sample::select(OmsEvent::ALL.to_vec())
}

/// Any event that does not carry an execution.
fn non_fill_event() -> impl Strategy<Value = OmsEvent> {
    let events: Vec<OmsEvent> = OmsEvent::ALL.into_iter().filter(|e| !e.is_fill()).collect();
    prop::sample::select(events)
}

/// A terminal state.
fn terminal_state() -> impl Strategy<Value = OrderState> {
    let states: Vec<OrderState> = OrderState::ALL
        .into_iter()
        .filter(|s| s.is_terminal())
        .collect();
    prop::sample::select(states)
}

/// One thing that happens to an order: a state-machine event, or an execution report.
#[derive(Clone, Copy, Debug)]
enum Action {
    /// Fed to `Order::apply` directly (never a fill event).
    Event(OmsEvent),
    /// Fed to `Order::record_fill`, then its `Applied` event to `Order::apply`.
    Fill {
        exec: u64,
        px: i64,
        qty: i64,
        fee: i64,
    },
}

/// Fill quantities: mostly small, sometimes large enough to overfill (up to the edge of
/// `i64`, as a corrupt report might carry), sometimes zero or negative.
fn fill_qty() -> impl Strategy<Value = i64> {
    prop_oneof![
        12 => 1i64..=5,
        4 => 0i64..=60,
        2 => 100i64..=1_000,
        1 => i64::MAX - 1_000..=i64::MAX,
        1 => Just(-1i64),
    ]
}

/// An action with exec ids from `exec_ids` (a small range, so duplicates happen).
fn action(exec_ids: Range<u64>) -> impl Strategy<Value = Action> {
    prop_oneof![
        2 => non_fill_event().prop_map(Action::Event),
        3 => (exec_ids, 1i64..=1_000_000, fill_qty(), 0i64..=10_000)
            .prop_map(|(exec, px, qty, fee)| Action::Fill { exec, px, qty, fee }),
    ]
}

/// An order quantity and a random mix of actions.
fn order_run() -> impl Strategy<Value = (i64, Vec<Action>)> {
    (1i64..=200, prop::collection::vec(action(0..16), 0..60))
}

/// A run that is sure to spill exec ids past the inline memory: Sent and Ack, then more
/// than `INLINE_EXEC_IDS` small fills with distinct ids (all of which fit the order),
/// then random actions reusing those ids, so duplicates of inline and overflow ids both
/// occur.
fn overflowing_order_run() -> impl Strategy<Value = (i64, Vec<Action>)> {
    const FIRST_EXEC: u64 = 100;
    let n = INLINE_EXEC_IDS + 1..INLINE_EXEC_IDS + 9;
    let prefix = prop::collection::vec((1i64..=5, 1i64..=1_000_000), n);
    let tail = prop::collection::vec(action(FIRST_EXEC..FIRST_EXEC + 30), 0..60);
    // 5 × (INLINE_EXEC_IDS + 8) = 100: every prefix fill fits.
    (100i64..=400, prefix, tail).prop_map(|(qty, prefix, tail)| {
        let mut actions = vec![Action::Event(OmsEvent::Sent), Action::Event(OmsEvent::Ack)];
        actions.extend(
            prefix
                .into_iter()
                .zip(FIRST_EXEC..)
                .map(|((qty, px), exec)| Action::Fill {
                    exec,
                    px,
                    qty,
                    fee: 1,
                }),
        );
        actions.extend(tail);
        (qty, actions)
    })
}

/// A fill on a position: side, price mantissa, quantity mantissa, fee.
fn position_fill() -> impl Strategy<Value = (Side, i64, i64, i64)> {
    (
        prop_oneof![Just(Side::Buy), Just(Side::Sell)],
        1i64..=100_000,
        1i64..=500,
        0i64..=5_000,
    )
}

// ---------------------------------------------------------------------------------------
// Harnesses
// ---------------------------------------------------------------------------------------

/// The transition table driven through `Order::apply`, with the two facts
/// `Target::Working` resolves against set as the engine and `record_fill` set them: an
/// acknowledgement marks the order acked, an accepted fill adds to `cum_qty`.
struct Machine {
    order: Order,
}

impl Machine {
    fn new() -> Machine {
        Machine {
            order: new_order(i64::MAX),
        }
    }

    fn state(&self) -> OrderState {
        self.order.state()
    }

    /// Feeds one event, checking R-OMS-1 on the way: `Order::apply` agrees with
    /// `transition`; an anomaly names the state and event and leaves the state alone; a
    /// terminal state accepts nothing; nothing leads back to Received.
    fn feed(&mut self, ev: OmsEvent) -> Result<Result<Step, Anomaly>, TestCaseError> {
        let before = self.order.state();
        let table = transition(before, ev);
        if table.is_ok() {
            self.order
                .force_fact(ev == OmsEvent::Ack || ev.is_fill(), i64::from(ev.is_fill()));
        }
        let applied = self.order.apply(ev);
        prop_assert_eq!(applied, table.map(|step| step.effects));
        match table {
            Err(a) => {
                prop_assert_eq!(
                    a,
                    Anomaly {
                        state: before,
                        event: ev
                    }
                );
                prop_assert_eq!(self.order.state(), before, "an anomaly changes nothing");
            }
            Ok(step) => {
                prop_assert!(!before.is_terminal(), "{:?} accepted {:?}", before, ev);
                let want = match step.to {
                    Target::State(s) => s,
                    Target::Working if self.order.cum_qty().0 > 0 => OrderState::PartiallyFilled,
                    Target::Working if self.order.acked() => OrderState::New,
                    Target::Working => OrderState::PendingNew,
                };
                prop_assert_eq!(self.order.state(), want);
                prop_assert_ne!(
                    self.order.state(),
                    OrderState::Received,
                    "nothing leads back"
                );
            }
        }
        Ok(table)
    }
}

/// Runs `events` from Received; returns every result and the final state.
fn run_machine(
    events: &[OmsEvent],
) -> Result<(Vec<Result<Step, Anomaly>>, OrderState), TestCaseError> {
    let mut m = Machine::new();
    let mut results = Vec::with_capacity(events.len());
    for &ev in events {
        results.push(m.feed(ev)?);
    }
    Ok((results, m.state()))
}

fn new_order(qty: i64) -> Order {
    let terms = Terms {
        order_type: OrderType::Limit,
        tif: Tif::Gtc,
        qty: Qty(qty),
        ..Terms::BLANK
    };
    Order::new(OrderId(1), 1, terms, Money(0))
}

/// Half away from zero, for non-negative numerators (our own, not `div_round`).
fn round_div_nonneg(n: i128, d: i128) -> i128 {
    assert!(n >= 0 && d > 0);
    (2 * n + d) / (2 * d)
}

/// What one action did to an order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Event(Result<Effects, Anomaly>),
    Fill(FillResult, Option<Result<Effects, Anomaly>>),
}

/// Where an order ended up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Final {
    state: OrderState,
    cum_qty: Qty,
    cum_notional: i128,
    fees: Money,
    avg_px: Price,
}

/// An order run's trace and how many fills it applied.
struct OrderRun {
    outcomes: Vec<Outcome>,
    last: Final,
    applied: usize,
    spilled: usize,
}

/// Drives an order through `actions` the way the engine does, checking R-OMS-3 after
/// every step against an independent model of the applied fills.
fn run_order(qty: i64, actions: &[Action]) -> Result<OrderRun, TestCaseError> {
    let mut o = new_order(qty);
    // The book's overflow memory, for exec ids beyond the inline ones.
    let overflow: RefCell<HashSet<u64>> = RefCell::new(HashSet::new());
    // The model: applied exec ids and exact sums.
    let mut applied: HashSet<u64> = HashSet::new();
    let (mut cum_qty, mut cum_notional, mut fees) = (0i64, 0i128, 0i64);
    let mut outcomes = Vec::with_capacity(actions.len());

    for &a in actions {
        let outcome = match a {
            Action::Event(ev) => {
                let before = o.state();
                let r = o.apply(ev);
                if r.is_err() {
                    prop_assert_eq!(o.state(), before, "an anomaly changes nothing");
                }
                Outcome::Event(r)
            }
            Action::Fill {
                exec,
                px,
                qty: q,
                fee,
            } => {
                let expected = if applied.contains(&exec) {
                    FillResult::Duplicate
                } else if q <= 0 || q > qty - cum_qty {
                    FillResult::Overfill
                } else if cum_qty + q == qty {
                    FillResult::Applied(OmsEvent::FinalFill)
                } else {
                    FillResult::Applied(OmsEvent::PartialFill)
                };
                let inline_full = applied.len() >= INLINE_EXEC_IDS;
                let spilled_before = overflow.borrow().len();
                let x = Execution {
                    exec_id: exec,
                    px: Price(px),
                    qty: Qty(q),
                    fee: Money(fee),
                };
                let got = o.record_fill(
                    &x,
                    |id| overflow.borrow().contains(&id),
                    |id| {
                        overflow.borrow_mut().insert(id);
                    },
                );
                prop_assert_eq!(got, expected, "exec {} qty {} at cum {}", exec, q, cum_qty);
                let spilled = overflow.borrow().len() - spilled_before;
                let mut applied_result = None;
                if let FillResult::Applied(ev) = got {
                    applied.insert(exec);
                    cum_qty += q;
                    cum_notional += px as i128 * q as i128;
                    fees += fee;
                    prop_assert_eq!(spilled, usize::from(inline_full), "spills only when full");
                    let before = o.state();
                    let r = o.apply(ev);
                    if r.is_err() {
                        prop_assert_eq!(o.state(), before, "an anomaly changes nothing");
                    }
                    applied_result = Some(r);
                } else {
                    prop_assert_eq!(spilled, 0, "a refused fill is not remembered");
                }
                Outcome::Fill(got, applied_result)
            }
        };
        outcomes.push(outcome);

        // Invariants after every step.
        prop_assert!(
            o.cum_qty().0 <= o.terms().qty.0,
            "{:?} > {:?}",
            o.cum_qty(),
            o.terms().qty
        );
        prop_assert_eq!(o.cum_qty(), Qty(cum_qty));
        prop_assert_eq!(o.cum_notional(), cum_notional);
        prop_assert_eq!(o.fees(), Money(fees));
        let want_avg = if cum_qty == 0 {
            0
        } else {
            round_div_nonneg(cum_notional, cum_qty as i128) as i64
        };
        prop_assert_eq!(o.avg_px(), Price(want_avg));
        if o.state() == OrderState::Filled {
            prop_assert_eq!(o.cum_qty(), o.terms().qty, "Filled only when complete");
        }
        prop_assert_eq!(
            overflow.borrow().len(),
            applied.len().saturating_sub(INLINE_EXEC_IDS)
        );
    }

    let spilled = overflow.borrow().len();
    Ok(OrderRun {
        outcomes,
        last: Final {
            state: o.state(),
            cum_qty: o.cum_qty(),
            cum_notional: o.cum_notional(),
            fees: o.fees(),
            avg_px: o.avg_px(),
        },
        applied: applied.len(),
        spilled,
    })
}

/// The paper AAPL instrument, optionally re-scaled so money conversion has to round.
fn instrument(price_scale: u8, qty_scale: u8) -> Instrument {
    let reg = Registry::default_paper();
    let mut inst = reg
        .instrument_by_names("paper", "AAPL")
        .expect("AAPL in the paper config")
        .clone();
    inst.price_scale = price_scale;
    inst.qty_scale = qty_scale;
    inst
}

/// `raw` at `from` decimals in money units: exact when widening, else half away from
/// zero (our own conversion, independent of `rescale`).
fn to_money(raw: i128, from: i32) -> i128 {
    let to = MONEY_SCALE as i32;
    if from <= to {
        raw * 10i128.pow((to - from) as u32)
    } else {
        let d = 10i128.pow((from - to) as u32);
        raw.signum() * round_div_nonneg(raw.abs(), d)
    }
}

// ---------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// R-OMS-1: any event sequence from Received is handled without a panic; an anomaly
    /// leaves the state as it was (checked inside `Machine::feed`).
    #[test]
    fn state_machine_never_panics_and_anomalies_change_nothing(
        events in prop::collection::vec(any_event(), 0..64),
    ) {
        run_machine(&events)?;
    }

    /// R-OMS-1: once an order is terminal, every later event is an anomaly and the state
    /// stays put, whether the terminal state was reached by a walk or taken directly.
    #[test]
    fn terminal_states_absorb_every_event(
        walk in prop::collection::vec(any_event(), 0..32),
        start in terminal_state(),
        after in prop::collection::vec(any_event(), 1..32),
    ) {
        let mut m = Machine::new();
        for ev in walk {
            let _ = m.feed(ev)?;
        }
        let reached = m.state();
        for s in [reached, start].into_iter().filter(|s| s.is_terminal()) {
            let mut m = Machine::new();
            m.order.force_state(s);
            for &ev in &after {
                prop_assert_eq!(m.feed(ev)?, Err(Anomaly { state: s, event: ev }));
                prop_assert_eq!(m.state(), s);
            }
        }
    }

    /// R-OMS-1: the table is a pure function: the same events give the same results and
    /// the same final state.
    #[test]
    fn state_machine_is_deterministic(
        events in prop::collection::vec(any_event(), 0..64),
    ) {
        let first = run_machine(&events)?;
        let second = run_machine(&events)?;
        prop_assert_eq!(first, second);
    }

    /// R-OMS-3: fills on an order never exceed its quantity, a repeated exec id is a
    /// duplicate that changes nothing, the average price is the exact notional over the
    /// filled quantity, rounded, and Filled means completely filled.
    #[test]
    fn order_fill_accounting_is_exact((qty, actions) in order_run()) {
        run_order(qty, &actions)?;
    }

    /// R-OMS-3 past the inline exec-id memory: ids beyond `INLINE_EXEC_IDS` go to the
    /// overflow set and duplicates of them are still caught.
    #[test]
    fn order_dedup_holds_past_inline_exec_ids((qty, actions) in overflowing_order_run()) {
        let run = run_order(qty, &actions)?;
        prop_assert!(run.applied > INLINE_EXEC_IDS);
        prop_assert_eq!(run.spilled, run.applied - INLINE_EXEC_IDS);
    }

    /// The same actions on the same order give the same outcomes and the same order.
    #[test]
    fn order_runs_are_deterministic((qty, actions) in order_run()) {
        let a = run_order(qty, &actions)?;
        let b = run_order(qty, &actions)?;
        prop_assert_eq!(a.outcomes, b.outcomes);
        prop_assert_eq!(a.last, b.last);
    }

    /// R-OMS-6: netting keeps the signed sum of fills, and realised + unrealised at any
    /// mark equals the total P&L Σ(−side·px·qty) + net·mark, give or take one money unit
    /// of rounding per fill plus one for the mark (exact when no rounding is needed).
    #[test]
    fn position_netting_conserves_pnl(
        (price_scale, qty_scale) in prop::sample::select(vec![(2u8, 0u8), (0, 0), (4, 4), (6, 3)]),
        fills in prop::collection::vec(position_fill(), 1..40),
        mark in 1i64..=100_000,
    ) {
        let inst = instrument(price_scale, qty_scale);
        let mut p = Position::default();
        let (mut net, mut cash_raw, mut fees, mut realised) = (0i64, 0i128, 0i64, 0i64);
        for &(side, px, qty, fee) in &fills {
            realised += p.apply_fill(&inst, side, Price(px), Qty(qty), Money(fee)).0;
            fees += fee;
            net += side.sign() * qty;
            cash_raw -= side.sign() as i128 * px as i128 * qty as i128;
            prop_assert_eq!(p.net, Qty(net));
            if net == 0 {
                prop_assert_eq!(p.cost, 0, "a flat position carries no cost");
            }
        }
        prop_assert_eq!(p.realised, Money(realised), "returned P&L adds up");
        prop_assert_eq!(p.fees, Money(fees), "fees add up");

        let from = (inst.price_scale + inst.qty_scale) as i32;
        let total_raw = cash_raw + net as i128 * mark as i128;
        let want = to_money(total_raw, from);
        let got = p.realised.0 as i128 + p.unrealised(&inst, Price(mark)).0 as i128;
        if from <= MONEY_SCALE as i32 {
            prop_assert_eq!(got, want);
        } else {
            let slack = fills.len() as i128 + 1;
            prop_assert!(
                (got - want).abs() <= slack,
                "realised+unrealised {} vs total {} (slack {})", got, want, slack
            );
        }
    }
}

/// A fixed case through the overflow path, readable on its own: 14 fills, then
/// duplicates of an inline id and an overflow id, then an overfill.
#[test]
fn overflow_dedup_example() {
    let mut actions = vec![Action::Event(OmsEvent::Sent), Action::Event(OmsEvent::Ack)];
    actions.extend((0..14).map(|i| Action::Fill {
        exec: 1_000 + i,
        px: 10_000 + i as i64,
        qty: 1,
        fee: 0,
    }));
    for exec in [1_000, 1_013] {
        actions.push(Action::Fill {
            exec,
            px: 1,
            qty: 1,
            fee: 0,
        });
    }
    actions.push(Action::Fill {
        exec: 2_000,
        px: 1,
        qty: 7,
        fee: 0,
    });
    let run = run_order(20, &actions).expect("properties hold");
    assert_eq!((run.applied, run.spilled), (14, 2));
    let n = actions.len();
    assert_eq!(
        run.outcomes[n - 3],
        Outcome::Fill(FillResult::Duplicate, None)
    );
    assert_eq!(
        run.outcomes[n - 2],
        Outcome::Fill(FillResult::Duplicate, None)
    );
    assert_eq!(
        run.outcomes[n - 1],
        Outcome::Fill(FillResult::Overfill, None)
    );
    assert_eq!(run.last.state, OrderState::PartiallyFilled);
    assert_eq!(run.last.cum_qty, Qty(14));
}

/// Regression: a fill quantity near `i64::MAX` on a partly filled order used to overflow
/// the overfill check (`cum_qty + qty`), a panic in debug and an accepted overfill in
/// release. It is an overfill and changes nothing.
#[test]
fn huge_fill_qty_is_an_overfill_not_an_overflow() {
    let actions = [
        Action::Fill {
            exec: 1,
            px: 100,
            qty: 5,
            fee: 0,
        },
        Action::Fill {
            exec: 2,
            px: 100,
            qty: i64::MAX - 2,
            fee: 0,
        },
    ];
    let run = run_order(27, &actions).expect("properties hold");
    assert_eq!(run.outcomes[1], Outcome::Fill(FillResult::Overfill, None));
    assert_eq!(run.last.cum_qty, Qty(5));
}
