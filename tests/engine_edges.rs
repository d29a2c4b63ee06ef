//! The engine against a scripted venue: the messy cases real venues produce (resent
//! reports, overfills, fills racing cancels, refusals, silence, outages), fed in exactly.

use execd::calendar::unix_ns;
use execd::config::Registry;
use execd::core::Engine;
use execd::model::event::{Command, CoreEvent, OrderRef};
use execd::model::fixed::{Dec, Money, Price, Qty};
use execd::model::ids::{AccountId, ClOrdId, InstrumentId, Name, OrderId, RequestId, Side};
use execd::model::order_state::{OmsEvent, OrderState};
use execd::model::reason::Reason;
use execd::model::request::ExecutionRequest;
use execd::venue::{
    AnyVenue, Venue, VenueError, VenueEvent, VenueEventKind, VenueOrder, VenueOrderState,
};
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct Script {
    sent: Vec<VenueOrder>,
    cancels: Vec<(ClOrdId, ClOrdId)>,
    queries: Vec<ClOrdId>,
    pending: Vec<VenueEvent>,
    down: bool,
    fail_sends: bool,
    snapshots: u32,
    external: bool,
    /// Answers a snapshot at the instant it is asked, as a FIX venue that can ask
    /// nothing does.
    snapshot_answered_at_once: bool,
}

/// A venue that records what it is sent and answers only what the test tells it to.
#[derive(Clone, Default)]
struct Scripted(Arc<Mutex<Script>>);

impl Venue for Scripted {
    fn is_logged_on(&self) -> bool {
        !self.0.lock().unwrap().down
    }
    fn submit(&mut self, _now: u64, o: &VenueOrder) -> Result<(), VenueError> {
        let mut s = self.0.lock().unwrap();
        if s.fail_sends {
            return Err(VenueError::NotConnected);
        }
        s.sent.push(*o);
        Ok(())
    }
    fn cancel(&mut self, _now: u64, cl: ClOrdId, orig: ClOrdId) -> Result<(), VenueError> {
        self.0.lock().unwrap().cancels.push((cl, orig));
        Ok(())
    }
    fn replace(
        &mut self,
        _: u64,
        _: ClOrdId,
        _: ClOrdId,
        _: Qty,
        _: Price,
    ) -> Result<(), VenueError> {
        Ok(())
    }
    fn poll(&mut self, now: u64, out: &mut Vec<VenueEvent>) {
        let mut s = self.0.lock().unwrap();
        let (due, later): (Vec<_>, Vec<_>) = s.pending.drain(..).partition(|e| e.at_ns <= now);
        s.pending = later;
        out.extend(due);
    }
    fn next_event_at(&self) -> Option<u64> {
        self.0.lock().unwrap().pending.iter().map(|e| e.at_ns).min()
    }
    fn positions(&self, _: AccountId, _: &mut Vec<(InstrumentId, Qty)>) {}
    fn query(&mut self, _now: u64, o: &VenueOrder) {
        self.0.lock().unwrap().queries.push(o.cl);
    }
    fn snapshot(&mut self, _now: u64) -> bool {
        let mut s = self.0.lock().unwrap();
        if s.down {
            return false;
        }
        s.snapshots += 1;
        if s.snapshot_answered_at_once {
            s.pending.push(VenueEvent {
                at_ns: _now,
                kind: VenueEventKind::SnapshotEnd {
                    orders: false,
                    positions: false,
                    foreign: 0,
                },
                src_seq: 0,
            });
        }
        true
    }
    fn is_external(&self) -> bool {
        self.0.lock().unwrap().external
    }
}

struct Rig {
    e: Engine,
    v: Scripted,
    now: u64,
    n: u64,
}

const MS: u64 = 1_000_000;

impl Rig {
    fn new(edit: impl FnOnce(String) -> String) -> Rig {
        let reg =
            Arc::new(Registry::from_toml(&edit(execd::config::DEFAULT_TOML.to_string())).unwrap());
        let v = Scripted::default();
        let now = unix_ns(2026, 1, 5, 15, 0);
        let e = Engine::new(
            reg.clone(),
            vec![AnyVenue::Other(Box::new(v.clone()))],
            1,
            now,
        );
        let mut rig = Rig { e, v, now, n: 0 };
        rig.quote();
        rig
    }

    /// AAPL 190.00 / 190.02, sizes unknown, stamped now: the gate's market data.
    fn quote(&mut self) {
        let quote = Command::Quote {
            venue: Name::new("paper").unwrap(),
            symbol: Name::new("AAPL").unwrap(),
            bid: Dec::new(19_000, 2),
            ask: Dec::new(19_002, 2),
            bid_size: Dec::new(0, 0),
            ask_size: Dec::new(0, 0),
        };
        assert!(self.cmd(quote).is_empty());
    }

    fn cmd(&mut self, c: Command) -> Vec<CoreEvent> {
        let mut out = Vec::new();
        self.e.command(0, &c, &mut out, &mut ());
        out
    }

    fn submit(&mut self, qty: i64) -> (Vec<CoreEvent>, ClOrdId) {
        self.n += 1;
        let mut r =
            ExecutionRequest::market("", "alpha", "paper", "AAPL", Side::Buy, Dec::new(qty, 0));
        r.request_id = RequestId::from_prefixed_u64("e-", self.n).unwrap();
        let out = self.cmd(Command::Submit(r));
        let cl = self
            .v
            .0
            .lock()
            .unwrap()
            .sent
            .last()
            .map(|o| o.cl)
            .unwrap_or_default();
        (out, cl)
    }

    /// The venue says `kind`, 1 ms from now; returns what the engine made of it.
    fn venue(&mut self, kind: VenueEventKind) -> Vec<CoreEvent> {
        self.now += MS;
        self.v.0.lock().unwrap().pending.push(VenueEvent {
            at_ns: self.now,
            kind,
            src_seq: 0,
        });
        self.advance(0)
    }

    fn advance(&mut self, ns: u64) -> Vec<CoreEvent> {
        self.now += ns;
        let mut out = Vec::new();
        self.e.advance_to(self.now, &mut out);
        // Keep the quote fresh as simulated time passes.
        self.quote();
        out
    }

    fn fill(&mut self, cl: ClOrdId, exec_id: u64, qty: i64) -> Vec<CoreEvent> {
        self.venue(VenueEventKind::Fill {
            cl,
            exec_id,
            px: Price(19_002),
            qty: Qty(qty),
            fee: Money(0),
            cum: None,
        })
    }

    fn state(&self, cl: ClOrdId) -> OrderState {
        self.e.book().get(cl.order).unwrap().state()
    }

    fn position(&self) -> Qty {
        let reg = self.e.registry();
        let aapl = reg.instrument_by_names("paper", "AAPL").unwrap().id;
        self.e
            .position(reg.account(&Name::new("alpha").unwrap()).unwrap(), aapl)
            .net
    }
}

fn rejected(evs: &[CoreEvent]) -> Option<Reason> {
    evs.iter().find_map(|e| match e {
        CoreEvent::Rejected { reason, .. } => Some(*reason),
        _ => None,
    })
}

#[test]
fn a_resent_execution_is_applied_once() {
    let mut r = Rig::new(|t| t);
    let (_, cl) = r.submit(100);
    r.venue(VenueEventKind::Ack {
        cl,
        venue_order_id: 9,
    });
    r.fill(cl, 77, 40);
    let again = r.fill(cl, 77, 40);
    assert!(again.is_empty(), "{again:?}");
    assert_eq!(r.e.book().get(cl.order).unwrap().cum_qty(), Qty(40));
    assert_eq!(r.position(), Qty(40));
    assert_eq!(r.e.stats().duplicate_execs, 1);
    r.fill(cl, 78, 60);
    assert_eq!(r.state(cl), OrderState::Filled);
    // Many partial fills: exec ids past the inline memory are still deduplicated.
    let (_, cl2) = r.submit(40);
    for x in 0..40 {
        r.fill(cl2, 1_000 + x, 1);
        r.fill(cl2, 1_000 + x, 1);
    }
    assert_eq!(r.e.book().get(cl2.order).unwrap().cum_qty(), Qty(40));
    assert_eq!(r.e.stats().duplicate_execs, 41);
}

#[test]
fn an_overfill_is_refused_as_an_anomaly() {
    let mut r = Rig::new(|t| t);
    let (_, cl) = r.submit(10);
    r.fill(cl, 1, 8);
    let evs = r.fill(cl, 2, 5);
    assert!(matches!(evs[..], [CoreEvent::Anomaly { .. }]), "{evs:?}");
    assert_eq!(r.e.book().get(cl.order).unwrap().cum_qty(), Qty(8));
    assert_eq!(r.position(), Qty(8));
    assert_eq!(r.state(cl), OrderState::PartiallyFilled);
}

#[test]
fn a_fill_racing_a_cancel_is_booked_flagged_and_reconciled() {
    let mut r = Rig::new(|t| t);
    let (_, cl) = r.submit(10);
    r.venue(VenueEventKind::Ack {
        cl,
        venue_order_id: 1,
    });
    r.cmd(Command::Cancel(OrderRef::Id(cl.order)));
    let (cancel_cl, orig) = *r.v.0.lock().unwrap().cancels.last().unwrap();
    assert_eq!(
        (cancel_cl.version, orig),
        (1, cl),
        "cancel chains OrigClOrdID"
    );
    r.venue(VenueEventKind::Canceled { cl });
    assert_eq!(r.state(cl), OrderState::Canceled);
    let evs = r.fill(cl, 5, 10);
    assert!(
        evs.iter()
            .any(|e| matches!(e, CoreEvent::Fill { late: true, .. })),
        "{evs:?}"
    );
    assert!(evs.iter().any(|e| matches!(
        e,
        CoreEvent::Anomaly {
            state: OrderState::Canceled,
            event: OmsEvent::FinalFill,
            ..
        }
    )));
    assert_eq!(r.state(cl), OrderState::Canceled, "terminal states absorb");
    assert_eq!(r.position(), Qty(10), "the execution is real money");
    assert!(r.e.reconcile().contains(&cl.order));
}

#[test]
fn a_refused_cancel_puts_the_order_back() {
    let mut r = Rig::new(|t| t);
    let (_, cl) = r.submit(10);
    r.venue(VenueEventKind::Ack {
        cl,
        venue_order_id: 1,
    });
    r.fill(cl, 1, 4);
    r.cmd(Command::Cancel(OrderRef::Id(cl.order)));
    assert_eq!(r.state(cl), OrderState::PendingCancel);
    let evs = r.venue(VenueEventKind::CancelRejected {
        cl: ClOrdId { version: 1, ..cl },
        reason: Reason::VenueRejected,
    });
    assert!(
        evs.contains(&CoreEvent::CommandRejected {
            order: Some(cl.order),
            reason: Reason::VenueRejected
        }),
        "{evs:?}"
    );
    assert_eq!(r.state(cl), OrderState::PartiallyFilled);
    // Unacknowledged: back to pending new, and the hard timeout still applies.
    let (_, cl2) = r.submit(10);
    r.cmd(Command::Cancel(OrderRef::Id(cl2.order)));
    r.venue(VenueEventKind::CancelRejected {
        cl: ClOrdId { version: 1, ..cl2 },
        reason: Reason::VenueUnknownOrder,
    });
    assert_eq!(r.state(cl2), OrderState::PendingNew);
    r.advance(61_000 * MS);
    assert_eq!(r.state(cl2), OrderState::TimedOut);
}

#[test]
fn reports_for_unknown_orders_are_counted_not_applied() {
    let mut r = Rig::new(|t| t);
    let (_, cl) = r.submit(10);
    let stranger = ClOrdId { epoch: 99, ..cl };
    assert!(r.fill(stranger, 1, 10).is_empty());
    assert!(r
        .venue(VenueEventKind::Ack {
            cl: ClOrdId {
                order: OrderId(12345),
                ..cl
            },
            venue_order_id: 1
        })
        .is_empty());
    assert_eq!(r.e.stats().unknown_order_events, 2);
    assert_eq!(r.position(), Qty(0));
}

#[test]
fn repeated_timeouts_open_the_circuit_breaker_then_a_probe_closes_it() {
    let mut r = Rig::new(|t| t.replace("breaker_failures = 5", "breaker_failures = 3"));
    let mut cls = Vec::new();
    for _ in 0..3 {
        cls.push(r.submit(1).1);
    }
    let evs = r.advance(30_001 * MS);
    let timed_out = evs
        .iter()
        .filter(|e| matches!(e, CoreEvent::Order(s) if s.state == OrderState::TimedOut))
        .count();
    assert_eq!(timed_out, 3, "{evs:?}");
    // Each timeout sent a cancel and queued reconciliation (R-OMS-4).
    assert_eq!(r.v.0.lock().unwrap().cancels.len(), 3);
    assert_eq!(r.e.reconcile().len(), 3);
    assert_eq!(rejected(&r.submit(1).0), Some(Reason::CircuitOpen));
    // After the cooldown one probe goes; its answer closes the breaker.
    r.advance(10_001 * MS);
    let (evs, probe) = r.submit(1);
    assert!(matches!(evs[0], CoreEvent::Accepted { .. }), "{evs:?}");
    assert_eq!(
        rejected(&r.submit(1).0),
        Some(Reason::CircuitOpen),
        "only one probe"
    );
    r.venue(VenueEventKind::Ack {
        cl: probe,
        venue_order_id: 1,
    });
    assert!(matches!(r.submit(1).0[0], CoreEvent::Accepted { .. }));
}

#[test]
fn throttle_venue_down_and_transport_failures() {
    let mut r = Rig::new(|t| {
        t.replace("burst = 20000", "burst = 3")
            .replace("max_orders_per_sec = 2000000", "max_orders_per_sec = 1")
    });
    for _ in 0..3 {
        assert!(matches!(r.submit(1).0[0], CoreEvent::Accepted { .. }));
    }
    assert_eq!(rejected(&r.submit(1).0), Some(Reason::RateLimited));
    r.advance(1_001 * MS);
    assert!(
        matches!(r.submit(1).0[0], CoreEvent::Accepted { .. }),
        "refilled after a second"
    );

    r.v.0.lock().unwrap().down = true;
    r.advance(5_000 * MS);
    assert_eq!(rejected(&r.submit(1).0), Some(Reason::VenueDown));
    r.v.0.lock().unwrap().down = false;
    r.v.0.lock().unwrap().fail_sends = true;
    let (evs, _) = r.submit(1);
    // Accepted by the gate, but the venue never saw it: resent later, never silently
    // lost (R-RES-1).
    assert!(
        evs.iter()
            .any(|e| matches!(e, CoreEvent::RetryScheduled { attempt: 1, .. })),
        "{evs:?}"
    );
}

/// Every event until `until` ns from now, in steps of 1 ms.
fn run_for(r: &mut Rig, until: u64) -> Vec<CoreEvent> {
    let mut all = Vec::new();
    for _ in 0..until / MS {
        all.extend(r.advance(MS));
    }
    all
}

fn retries(evs: &[CoreEvent]) -> Vec<(u8, u64)> {
    evs.iter()
        .filter_map(|e| match e {
            CoreEvent::RetryScheduled {
                attempt, due_ns, ..
            } => Some((*attempt, *due_ns)),
            _ => None,
        })
        .collect()
}

#[test]
fn an_order_the_venue_never_saw_is_resent_under_the_same_cl_ord_id_with_deterministic_backoff() {
    let run = || {
        let mut r = Rig::new(|t| t);
        r.v.0.lock().unwrap().fail_sends = true;
        let t0 = r.now;
        let (mut evs, _) = r.submit(5);
        let id = match evs[0] {
            CoreEvent::Accepted {
                order, cl_ord_id, ..
            } => {
                assert_eq!(cl_ord_id.order, order);
                order
            }
            ref e => panic!("{e:?}"),
        };
        evs.extend(run_for(&mut r, 400 * MS));
        assert_eq!(r.e.book().get(id).unwrap().state(), OrderState::PendingNew);
        r.v.0.lock().unwrap().fail_sends = false;
        evs.extend(run_for(&mut r, 1_000 * MS));
        (r, id, t0, evs)
    };
    let (r, id, t0, evs) = run();
    let times = retries(&evs);
    // Default policy: 100 ms doubling, jitter in the upper half of each delay.
    assert!(times.len() >= 2, "{evs:?}");
    let mut prev = t0;
    for (i, &(attempt, due)) in times.iter().enumerate() {
        assert_eq!(attempt as usize, i + 1);
        let full = (100 * MS) << i;
        assert!(
            due - prev >= full / 2 && due - prev <= full + MS,
            "{times:?}"
        );
        prev = due;
    }
    let sent = r.v.0.lock().unwrap().sent.clone();
    assert_eq!(sent.len(), 1, "delivered exactly once: {sent:?}");
    assert_eq!(sent[0].cl.order, id);
    assert_eq!(sent[0].cl.version, 0, "the same ClOrdID, not a new one");
    assert_eq!(r.e.book().get(id).unwrap().state(), OrderState::PendingNew);
    assert_eq!(r.e.dead_letters().count(), 0);
    // Same inputs, same resend times.
    let (_, _, _, again) = run();
    assert_eq!(retries(&again), times);
}

#[test]
fn a_venue_rejection_is_never_resent() {
    let mut r = Rig::new(|t| t);
    let (_, cl) = r.submit(5);
    let evs = r.venue(VenueEventKind::Rejected {
        cl,
        reason: Reason::VenueRejected,
    });
    assert_eq!(r.state(cl), OrderState::Rejected);
    assert!(retries(&evs).is_empty());
    run_for(&mut r, 500 * MS);
    assert_eq!(r.v.0.lock().unwrap().sent.len(), 1);
}

#[test]
fn retries_exhausted_make_a_dead_letter_an_operator_redrives_or_discards() {
    let mut r = Rig::new(|t| t.replace("retry_attempts = 5 ", "retry_attempts = 2 "));
    r.v.0.lock().unwrap().fail_sends = true;
    let (_, _) = r.submit(5);
    let (_, _) = r.submit(6);
    let evs = run_for(&mut r, 2_000 * MS);
    let dead: Vec<(OrderId, Reason, u8)> = evs
        .iter()
        .filter_map(|e| match e {
            CoreEvent::DeadLettered {
                order,
                reason,
                attempts,
            } => Some((*order, *reason, *attempts)),
            _ => None,
        })
        .collect();
    assert_eq!(dead.len(), 2, "{evs:?}");
    assert!(dead
        .iter()
        .all(|d| d.1 == Reason::RetriesExhausted && d.2 == 3));
    let (a, b) = (dead[0].0, dead[1].0);
    assert_eq!(r.e.dead_letters().count(), 2);
    // Past the hard timeout: no status query about orders the venue never saw, and
    // shutting down does not wait for them.
    run_for(&mut r, 31_000 * MS);
    assert!(r.v.0.lock().unwrap().queries.is_empty());
    assert!(!r.e.in_flight());
    assert_eq!(r.e.book().get(a).unwrap().state(), OrderState::PendingNew);

    // A re-drive while the venue is down stays queued.
    r.v.0.lock().unwrap().down = true;
    let evs = r.cmd(Command::DeadLetter {
        order: a,
        redrive: true,
    });
    assert!(matches!(
        evs[..],
        [CoreEvent::CommandRejected {
            reason: Reason::VenueDown,
            ..
        }]
    ));
    assert_eq!(r.e.dead_letters().count(), 2);
    r.v.0.lock().unwrap().down = false;
    r.v.0.lock().unwrap().fail_sends = false;
    let evs = r.cmd(Command::DeadLetter {
        order: a,
        redrive: true,
    });
    assert!(evs
        .iter()
        .any(|e| matches!(e, CoreEvent::DeadLetterResolved { .. })));
    let sent = r.v.0.lock().unwrap().sent.clone();
    assert_eq!(sent.len(), 1);
    assert_eq!((sent[0].cl.order, sent[0].cl.version), (a, 0));
    let evs = r.cmd(Command::DeadLetter {
        order: b,
        redrive: false,
    });
    let st = evs.iter().find_map(|e| match e {
        CoreEvent::Order(s) => Some(*s),
        _ => None,
    });
    assert_eq!(
        st.map(|s| (s.order, s.state, s.reason)),
        Some((b, OrderState::Rejected, Some(Reason::Undeliverable)))
    );
    assert_eq!(r.e.dead_letters().count(), 0);
    // Gone from the queue: a second decision names nothing.
    let evs = r.cmd(Command::DeadLetter {
        order: b,
        redrive: true,
    });
    assert!(matches!(
        evs[..],
        [CoreEvent::CommandRejected {
            reason: Reason::UnknownOrder,
            ..
        }]
    ));
    // The re-driven order goes on normally.
    r.venue(VenueEventKind::Ack {
        cl: sent[0].cl,
        venue_order_id: 1,
    });
    assert_eq!(r.state(sent[0].cl), OrderState::New);
}

#[test]
fn expiry_bounds_resends_and_a_retrying_order_cancels_locally() {
    let mut r = Rig::new(|t| t);
    r.v.0.lock().unwrap().fail_sends = true;
    r.n += 1;
    let mut q = ExecutionRequest::market("", "alpha", "paper", "AAPL", Side::Buy, Dec::new(3, 0));
    q.request_id = RequestId::from_prefixed_u64("x-", 1).unwrap();
    q.expire_at_ns = Some(r.now + 250 * MS);
    let evs = r.cmd(Command::Submit(q));
    let id = match evs[0] {
        CoreEvent::Accepted { order, .. } => order,
        ref e => panic!("{e:?}"),
    };
    let evs = run_for(&mut r, 1_000 * MS);
    assert!(
        evs.iter().any(|e| matches!(
            e,
            CoreEvent::DeadLettered {
                reason: Reason::DeliveryExpired,
                ..
            }
        )),
        "{evs:?}"
    );
    assert!(retries(&evs).iter().all(|&(_, due)| due <= r.now));
    // Its owner cancels it: nothing at the venue to cancel.
    let evs = r.cmd(Command::Cancel(OrderRef::Id(id)));
    assert_eq!(
        r.e.book().get(id).unwrap().state(),
        OrderState::Canceled,
        "{evs:?}"
    );
    assert!(r.v.0.lock().unwrap().cancels.is_empty());
    assert_eq!(r.e.dead_letters().count(), 0);
}

#[test]
fn a_not_sent_report_from_the_venue_is_resent() {
    let mut r = Rig::new(|t| t);
    let (_, cl) = r.submit(5);
    let evs = r.venue(VenueEventKind::NotSent { cl });
    assert_eq!(retries(&evs).len(), 1, "{evs:?}");
    run_for(&mut r, 200 * MS);
    let sent = r.v.0.lock().unwrap().sent.clone();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].cl, sent[1].cl);
}

#[test]
fn a_full_book_refuses_new_orders_but_never_drops_working_ones() {
    let mut r = Rig::new(|t| t.replace("max_orders = 262144", "max_orders = 16"));
    let mut cls = Vec::new();
    for _ in 0..16 {
        let (evs, cl) = r.submit(1);
        assert!(matches!(evs[0], CoreEvent::Accepted { .. }), "{evs:?}");
        cls.push(cl);
    }
    assert_eq!(rejected(&r.submit(1).0), Some(Reason::StoreFull));
    // Finish one: its slot is reused, every working order is still there.
    r.fill(cls[3], 1, 1);
    let (evs, cl) = r.submit(1);
    assert!(matches!(evs[0], CoreEvent::Accepted { .. }), "{evs:?}");
    assert!(cl.order.0 > 16, "ids keep increasing");
    for (i, c) in cls.iter().enumerate().filter(|(i, _)| *i != 3) {
        assert_eq!(r.state(*c), OrderState::PendingNew, "order {i}");
    }
}

#[test]
fn a_fill_that_slipped_too_far_withholds_protection_and_says_so() {
    use execd::model::request::Protect;
    let mut r = Rig::new(|t| t);
    let mut req = ExecutionRequest::market(
        "slip-1",
        "alpha",
        "paper",
        "AAPL",
        Side::Buy,
        Dec::new(10, 0),
    );
    req.reference_price = Some(Dec::new(19_001, 2));
    req.max_slippage_bps = Some(5);
    req.reject_on_fill_slippage = true;
    req.stop_loss = Some(Protect::OffsetPpm(-10_000));
    let out = r.cmd(Command::Submit(req));
    assert!(matches!(out[0], CoreEvent::Accepted { .. }), "{out:?}");
    let cl = r.v.0.lock().unwrap().sent.last().unwrap().cl;
    // 190.20 against 190.01 is 10 bps of slippage, twice the maximum.
    let evs = r.venue(VenueEventKind::Fill {
        cl,
        exec_id: 1,
        px: Price(19_020),
        qty: Qty(10),
        fee: Money(0),
        cum: None,
    });
    assert!(
        evs.contains(&CoreEvent::SlippageBreach {
            order: cl.order,
            bps_e2: 999
        }),
        "{evs:?}"
    );
    assert!(!evs
        .iter()
        .any(|e| matches!(e, CoreEvent::Protection { .. })));
    assert_eq!(
        r.v.0.lock().unwrap().sent.len(),
        1,
        "no protective order sent"
    );
    // Within the maximum, the same request shape is protected as usual.
    let mut ok = req;
    ok.request_id = RequestId::new("slip-2").unwrap();
    r.cmd(Command::Submit(ok));
    let cl = r.v.0.lock().unwrap().sent.last().unwrap().cl;
    let evs = r.venue(VenueEventKind::Fill {
        cl,
        exec_id: 2,
        px: Price(19_002),
        qty: Qty(10),
        fee: Money(0),
        cum: None,
    });
    assert!(
        evs.iter()
            .any(|e| matches!(e, CoreEvent::Protection { .. })),
        "{evs:?}"
    );
    assert_eq!(r.e.stats().slippage_breaches, 1);
}

#[test]
fn a_replace_answered_while_a_cancel_is_in_flight_is_applied_not_an_anomaly() {
    let mut r = Rig::new(|t| t);
    let (_, cl) = r.submit(10);
    r.venue(VenueEventKind::Ack {
        cl,
        venue_order_id: 1,
    });
    let evs = r.cmd(Command::Replace {
        order: OrderRef::Id(cl.order),
        quantity: Some(Dec::new(6, 0)),
        limit_price: None,
    });
    assert_eq!(rejected(&evs), None, "{evs:?}");
    assert_eq!(r.state(cl), OrderState::PendingReplace);
    r.cmd(Command::Cancel(OrderRef::Id(cl.order)));
    assert_eq!(r.state(cl), OrderState::PendingCancel);
    // The venue took the replace first, then the cancel.
    let evs = r.venue(VenueEventKind::Replaced {
        cl: ClOrdId { version: 1, ..cl },
        qty: Qty(6),
        limit: Price(0),
    });
    assert!(
        !evs.iter().any(|e| matches!(e, CoreEvent::Anomaly { .. })),
        "{evs:?}"
    );
    assert_eq!(r.state(cl), OrderState::PendingCancel);
    assert_eq!(r.e.book().get(cl.order).unwrap().terms().qty, Qty(6));
    r.venue(VenueEventKind::Canceled {
        cl: ClOrdId { version: 2, ..cl },
    });
    assert_eq!(r.state(cl), OrderState::Canceled);
}

fn status(cl: ClOrdId, state: VenueOrderState, filled: Option<(i64, i64)>) -> VenueEventKind {
    VenueEventKind::Status {
        cl,
        state,
        filled: filled.map(|(q, p)| (Qty(q), Price(p))),
    }
}

#[test]
fn a_status_answer_books_what_no_report_told_once() {
    let mut r = Rig::new(|t| t);
    let (_, cl) = r.submit(100);
    r.advance(30_001 * MS);
    assert_eq!(r.state(cl), OrderState::TimedOut);
    // Filled at the venue: 60 @ 190.00 then 40 @ 190.05, average 190.02; no report came.
    let evs = r.venue(status(cl, VenueOrderState::Filled, Some((100, 19_002))));
    assert_eq!(r.state(cl), OrderState::Filled, "{evs:?}");
    assert_eq!(r.position(), Qty(100));
    assert!(
        evs.iter().any(|e| matches!(e, CoreEvent::FillRecovered { qty, px, .. } if *qty == Qty(100) && *px == Price(19_002))),
        "{evs:?}"
    );
    assert_eq!(r.e.stats().recovered_fills, 1);
    assert_eq!(r.e.book().get(cl.order).unwrap().avg_px(), Price(19_002));
    // The same answer again changes nothing.
    let again = r.venue(status(cl, VenueOrderState::Filled, Some((100, 19_002))));
    assert!(again.is_empty(), "{again:?}");
    assert_eq!(r.position(), Qty(100));

    // Part of it told by a report, the rest only by the status: the rest is booked at
    // the price that makes the venue's average.
    let (_, cl2) = r.submit(10);
    r.venue(VenueEventKind::Ack {
        cl: cl2,
        venue_order_id: 2,
    });
    r.fill(cl2, 500, 4); // 4 @ 190.02
    r.venue(status(cl2, VenueOrderState::Filled, Some((10, 19_008))));
    let o = r.e.book().get(cl2.order).unwrap();
    assert_eq!(
        (o.state(), o.cum_qty(), o.avg_px()),
        (OrderState::Filled, Qty(10), Price(19_008))
    );
    assert_eq!(r.position(), Qty(110));
}

#[test]
fn timeouts_while_the_venue_is_down_are_asked_about_after_logon_and_spare_the_breaker() {
    let mut r = Rig::new(|t| t.replace("breaker_failures = 5", "breaker_failures = 2"));
    let cls: Vec<ClOrdId> = (0..4).map(|_| r.submit(1).1).collect();
    r.v.0.lock().unwrap().down = true;
    r.advance(30_001 * MS);
    assert!(cls.iter().all(|&c| r.state(c) == OrderState::TimedOut));
    r.v.0.lock().unwrap().down = false;
    r.v.0.lock().unwrap().queries.clear();
    r.venue(VenueEventKind::Session { up: true });
    let asked = r.v.0.lock().unwrap().queries.clone();
    for c in &cls {
        assert!(asked.contains(c), "{c:?} not asked about: {asked:?}");
    }
    // The outage was not the venue failing to answer: new orders go.
    assert!(matches!(r.submit(1).0[0], CoreEvent::Accepted { .. }));
    // The answers settle them: one never arrived, one works (its timeout's cancel is sent
    // again), one was canceled, one filled.
    r.venue(status(cls[0], VenueOrderState::Unknown, None));
    assert_eq!(r.state(cls[0]), OrderState::Rejected);
    assert_eq!(
        r.e.book().get(cls[0].order).unwrap().reason(),
        Some(Reason::VenueUnknownOrder)
    );
    let cancels = r.v.0.lock().unwrap().cancels.len();
    r.venue(status(cls[1], VenueOrderState::Working, Some((0, 0))));
    assert_eq!(r.v.0.lock().unwrap().cancels.len(), cancels + 1);
    r.venue(status(cls[2], VenueOrderState::Canceled, Some((0, 0))));
    assert_eq!(r.state(cls[2]), OrderState::Canceled);
    r.venue(status(cls[3], VenueOrderState::Filled, Some((1, 19_001))));
    assert_eq!(r.state(cls[3]), OrderState::Filled);
    assert_eq!(r.position(), Qty(1));
}

#[test]
fn a_venue_restart_asks_about_every_working_order() {
    let mut r = Rig::new(|t| t);
    let (_, working) = r.submit(5);
    r.venue(VenueEventKind::Ack {
        cl: working,
        venue_order_id: 1,
    });
    let (_, pending) = r.submit(5);
    r.v.0.lock().unwrap().queries.clear();
    r.venue(VenueEventKind::Session { up: true });
    assert_eq!(
        r.v.0.lock().unwrap().queries,
        vec![pending],
        "only the unknown one"
    );
    r.v.0.lock().unwrap().queries.clear();
    r.venue(VenueEventKind::Restarted);
    let mut asked = r.v.0.lock().unwrap().queries.clone();
    asked.sort_by_key(|c| c.order);
    assert_eq!(asked, vec![working, pending]);
    // A working order the venue says works, with nothing new, stays as it is.
    assert!(r
        .venue(status(working, VenueOrderState::Working, Some((0, 0))))
        .is_empty());
    assert_eq!(r.state(working), OrderState::New);
    // A pending one is acknowledged by it.
    r.venue(status(pending, VenueOrderState::Working, Some((0, 0))));
    assert_eq!(r.state(pending), OrderState::New);
}

#[test]
fn a_replace_that_never_reached_the_venue_leaves_the_old_terms() {
    let mut r = Rig::new(|t| t);
    let mut req = ExecutionRequest::market(
        "lim-1",
        "alpha",
        "paper",
        "AAPL",
        Side::Buy,
        Dec::new(10, 0),
    );
    req.order_type = execd::model::ids::OrderType::Limit;
    req.limit_price = Some(Dec::new(18_900, 2));
    assert!(matches!(
        r.cmd(Command::Submit(req))[0],
        CoreEvent::Accepted { .. }
    ));
    let cl = r.v.0.lock().unwrap().sent.last().unwrap().cl;
    r.venue(VenueEventKind::Ack {
        cl,
        venue_order_id: 1,
    });
    r.cmd(Command::Replace {
        order: OrderRef::Id(cl.order),
        quantity: Some(Dec::new(12, 0)),
        limit_price: None,
    });
    assert_eq!(r.state(cl), OrderState::PendingReplace);
    let evs = r.venue(status(cl, VenueOrderState::Working, Some((0, 0))));
    assert_eq!(r.state(cl), OrderState::New, "{evs:?}");
    assert_eq!(
        rejected_command(&evs),
        Some(Reason::VenueTransport),
        "{evs:?}"
    );
    assert_eq!(r.e.book().get(cl.order).unwrap().terms().qty, Qty(10));
}

#[test]
fn a_venue_holding_less_than_booked_is_a_mismatch_and_a_cancel_reject_saying_filled_is_asked_about()
{
    let mut r = Rig::new(|t| t);
    let (_, cl) = r.submit(10);
    r.venue(VenueEventKind::Ack {
        cl,
        venue_order_id: 1,
    });
    r.fill(cl, 1, 6);
    let evs = r.venue(status(cl, VenueOrderState::Working, Some((2, 19_000))));
    assert!(
        evs.iter().any(|e| matches!(e, CoreEvent::VenueMismatch { venue_cum, core_cum, .. } if *venue_cum == Qty(2) && *core_cum == Qty(6))),
        "{evs:?}"
    );
    assert_eq!(
        r.e.book().get(cl.order).unwrap().cum_qty(),
        Qty(6),
        "nothing undone"
    );
    assert_eq!(r.e.stats().anomalies, 1);
    r.v.0.lock().unwrap().queries.clear();
    r.venue(status(cl, VenueOrderState::Filled, None));
    assert_eq!(r.v.0.lock().unwrap().queries, vec![cl]);
    assert_eq!(r.state(cl), OrderState::PartiallyFilled);
}

fn rejected_command(evs: &[CoreEvent]) -> Option<Reason> {
    evs.iter().find_map(|e| match e {
        CoreEvent::CommandRejected { reason, .. } => Some(*reason),
        _ => None,
    })
}

#[test]
fn a_lost_report_turning_up_after_its_recovery_is_not_booked_twice() {
    let mut r = Rig::new(|t| t);
    let (_, cl) = r.submit(10);
    r.venue(VenueEventKind::Ack {
        cl,
        venue_order_id: 1,
    });
    // The venue filled 4 and the report was lost; its status answer says so.
    r.venue(status(cl, VenueOrderState::Working, Some((4, 19_002))));
    assert_eq!(r.e.book().get(cl.order).unwrap().cum_qty(), Qty(4));
    // Then the lost report arrives after all (CumQty 4): already booked.
    let late = |exec_id, qty, cum| VenueEventKind::Fill {
        cl,
        exec_id,
        px: Price(19_002),
        qty: Qty(qty),
        fee: Money(0),
        cum: Some(Qty(cum)),
    };
    assert!(r.venue(late(900, 4, 4)).is_empty());
    assert_eq!(r.position(), Qty(4));
    // The next real fill goes on as usual.
    r.venue(late(901, 6, 10));
    assert_eq!(r.state(cl), OrderState::Filled);
    assert_eq!(r.position(), Qty(10));
    assert_eq!(r.e.stats().anomalies, 0);
}

fn recon(
    evs: &[CoreEvent],
) -> (
    Vec<execd::model::reconcile::ReconLine>,
    Option<execd::model::reconcile::ReconSummary>,
) {
    let lines = evs
        .iter()
        .filter_map(|e| match e {
            CoreEvent::ReconLine(l) => Some(*l),
            _ => None,
        })
        .collect();
    let sum = evs.iter().find_map(|e| match e {
        CoreEvent::ReconReport(r) => Some(*r),
        _ => None,
    });
    (lines, sum)
}

/// An operator keeps execd's state for the whole paper venue.
fn keep_ours_for_the_venue() -> Command {
    Command::ResolveReconciliation(execd::model::reconcile::ReconResolution {
        venue: Name::new("paper").unwrap(),
        account: None,
        symbol: None,
        accept_venue: false,
    })
}

/// The venue's answer is complete: every open order and position told.
fn all_told(r: &mut Rig) -> Vec<CoreEvent> {
    r.venue(VenueEventKind::SnapshotEnd {
        orders: true,
        positions: true,
        foreign: 0,
    })
}

fn reconcile_cmd(hold: bool) -> Command {
    Command::Reconcile {
        venue: Name::new("paper").unwrap(),
        trigger: execd::model::reconcile::ReconTrigger::Operator,
        hold,
    }
}

#[test]
fn orders_the_venue_does_not_list_and_orders_it_has_that_execd_does_not_are_held_until_resolved() {
    use execd::model::reconcile::ReconStatus;
    let mut r = Rig::new(|t| t);
    let (_, cl) = r.submit(10);
    r.venue(VenueEventKind::Ack {
        cl,
        venue_order_id: 7,
    });
    assert!(r.cmd(reconcile_cmd(false)).is_empty());
    assert_eq!(r.v.0.lock().unwrap().snapshots, 1);
    // A second ask while the first is answered waits for it: one question at a time.
    assert!(r.cmd(reconcile_cmd(false)).is_empty());
    assert_eq!(r.v.0.lock().unwrap().snapshots, 1);
    let stranger = ClOrdId {
        epoch: cl.epoch,
        order: OrderId(999),
        version: 0,
    };
    r.venue(VenueEventKind::Listed {
        cl: stranger,
        cum: Qty(0),
    });
    let evs = r.venue(VenueEventKind::SnapshotEnd {
        orders: true,
        positions: true,
        foreign: 1,
    });
    let (lines, sum) = recon(&evs);
    let sum = sum.expect("a report");
    let statuses: Vec<_> = lines
        .iter()
        .map(|l| (l.status, l.order, l.venue_order))
        .collect();
    assert_eq!(
        statuses,
        vec![
            (ReconStatus::Mismatch, Some(cl.order), 0),
            (ReconStatus::UnknownOrder, None, 999),
            (ReconStatus::UnknownOrder, None, 0),
        ],
        "{evs:?}"
    );
    assert_eq!((sum.lines, sum.mismatches, sum.in_flight), (3, 3, 0));
    // The one asked for meanwhile follows.
    assert_eq!(r.v.0.lock().unwrap().snapshots, 2);
    let (evs, _) = r.submit(1);
    assert_eq!(rejected(&evs), Some(Reason::ReconciliationRequired));
    // An operator keeps execd's state: every hold of the venue lifts.
    let evs = r.cmd(keep_ours_for_the_venue());
    assert!(
        evs.iter().any(|e| matches!(
            e,
            CoreEvent::ReconResolved {
                released: 2,
                restated: 0,
                ..
            }
        )),
        "{evs:?}"
    );
    let (evs, _) = r.submit(1);
    assert_eq!(rejected(&evs), None, "{evs:?}");
}

#[test]
fn a_restart_holds_a_network_venue_until_its_orders_in_flight_are_settled() {
    let mut r = Rig::new(|t| t);
    r.v.0.lock().unwrap().external = true;
    let (_, cl) = r.submit(10);
    // As after a restart: the order's outcome is unknown, and the core's start command
    // holds the venue.
    r.cmd(reconcile_cmd(true));
    let (evs, _) = r.submit(1);
    assert_eq!(rejected(&evs), Some(Reason::Reconciling));
    let evs = all_told(&mut r);
    let (_, sum) = recon(&evs);
    assert_eq!(sum.unwrap().in_flight, 1, "{evs:?}");
    let (evs, _) = r.submit(1);
    assert_eq!(rejected(&evs), Some(Reason::Reconciling), "still in flight");
    // The venue settles it: execd asks once more, and that report lifts the hold.
    r.venue(VenueEventKind::Ack {
        cl,
        venue_order_id: 7,
    });
    assert_eq!(r.v.0.lock().unwrap().snapshots, 2);
    r.venue(VenueEventKind::Listed { cl, cum: Qty(0) });
    let evs = all_told(&mut r);
    let (lines, sum) = recon(&evs);
    assert!(sum.unwrap().matched(), "{lines:?}");
    let (evs, _) = r.submit(1);
    assert_eq!(rejected(&evs), None, "{evs:?}");
}

#[test]
fn a_venue_that_goes_down_mid_answer_is_asked_again_at_logon() {
    let mut r = Rig::new(|t| t);
    r.cmd(reconcile_cmd(false));
    r.v.0.lock().unwrap().down = true;
    r.venue(VenueEventKind::Session { up: false });
    // Half an answer makes no report.
    let evs = all_told(&mut r);
    assert_eq!(recon(&evs).1, None, "{evs:?}");
    r.v.0.lock().unwrap().down = false;
    r.venue(VenueEventKind::Session { up: true });
    assert_eq!(r.v.0.lock().unwrap().snapshots, 2);
    let evs = all_told(&mut r);
    assert_eq!(
        recon(&evs).1.map(|s| s.trigger),
        Some(execd::model::reconcile::ReconTrigger::Operator)
    );
}

#[test]
fn a_venue_with_a_schedule_is_reconciled_every_interval_from_the_start_on() {
    let mut r = Rig::new(|t| {
        t.replacen(
            "kind = \"paper\"",
            "kind = \"paper\"\nreconcile_every_s = 60",
            1,
        )
    });
    assert_eq!(r.e.registry().venues[0].reconcile_every_ns, 60_000_000_000);
    // The schedule starts with the core's start command (journaled, so a replay sets the
    // same timers), not with the engine.
    r.advance(120_000_000_000);
    assert_eq!(r.v.0.lock().unwrap().snapshots, 0);
    r.cmd(Command::Reconcile {
        venue: Name::new("paper").unwrap(),
        trigger: execd::model::reconcile::ReconTrigger::Start,
        hold: false,
    });
    let end = VenueEventKind::SnapshotEnd {
        orders: true,
        positions: true,
        foreign: 0,
    };
    r.venue(end);
    let mut triggers = Vec::new();
    for _ in 0..3 {
        r.advance(60_000_000_000);
        let evs = r.venue(end);
        triggers.push(recon(&evs).1.map(|s| s.trigger));
    }
    assert_eq!(r.v.0.lock().unwrap().snapshots, 4);
    assert!(
        triggers
            .iter()
            .all(|t| *t == Some(execd::model::reconcile::ReconTrigger::Schedule)),
        "{triggers:?}"
    );
}

/// What the engine would journal: the venue inputs, with the stamps they carry, and
/// the events.
#[derive(Default)]
struct Journaled(Vec<(u64, VenueEventKind)>, Vec<CoreEvent>);

impl execd::core::Outbox for Journaled {
    fn emit(&mut self, _: u8, ev: CoreEvent) {
        self.1.push(ev);
    }
    fn broadcast(&mut self, ev: CoreEvent) {
        self.1.push(ev);
    }
    fn venue_input(&mut self, _: u16, ev: &VenueEvent) {
        self.0.push((ev.at_ns, ev.kind));
    }
}

#[test]
fn a_network_venue_answering_a_timer_at_its_own_instant_is_journaled_just_after_it() {
    // Timers journal nothing, and replay hands a venue's input over before a timer of
    // the same instant. An answer stamped at the timer's instant would be replayed
    // before the timer that asked for it: the journal would not replay.
    let mut r = Rig::new(|t| {
        t.replacen(
            "kind = \"paper\"",
            "kind = \"paper\"\nreconcile_every_s = 60",
            1,
        )
    });
    {
        let mut s = r.v.0.lock().unwrap();
        s.external = true;
        s.snapshot_answered_at_once = true;
    }
    let start = r.now;
    r.cmd(Command::Reconcile {
        venue: Name::new("paper").unwrap(),
        trigger: execd::model::reconcile::ReconTrigger::Start,
        hold: false,
    });
    let mut j = Journaled::default();
    r.e.advance_to(start + 1, &mut j);
    assert_eq!(j.0.len(), 1, "the start's own answer: {:?}", j.0);
    // Asked by a command at `start`: nothing to move, a command is journaled.
    assert_eq!(j.0[0].0, start);
    let due = start + 60_000_000_000;
    let mut j = Journaled::default();
    r.e.advance_to(due + 10, &mut j);
    assert_eq!(r.v.0.lock().unwrap().snapshots, 2);
    assert_eq!(j.0.len(), 1, "{:?}", j.0);
    assert_eq!(j.0[0].0, due + 1, "stamped just after the schedule's timer");
    // An input that was there before the timer keeps its stamp.
    r.v.0.lock().unwrap().pending.push(VenueEvent {
        at_ns: due + 5,
        kind: VenueEventKind::Session { up: true },
        src_seq: 0,
    });
    let mut j = Journaled::default();
    r.e.advance_to(due + 20, &mut j);
    assert_eq!(j.0[0], (due + 5, VenueEventKind::Session { up: true }));
}

#[test]
fn an_answer_held_back_behind_a_timer_waits_for_every_timer_of_that_instant() {
    // Two network venues reconciled every minute from the same start: their schedule
    // timers fall due at the same instant. The first one's answer, given at once, is
    // journaled just after that instant; replay then fires both timers before it. Live
    // must do the same, or the second reconciliation is asked 1 ns later live than in
    // replay, and the journal does not replay.
    let toml = execd::config::DEFAULT_TOML.replacen(
        "kind = \"paper\"",
        "kind = \"paper\"\nreconcile_every_s = 60",
        1,
    ) + "\n[[venues]]\nname = \"second\"\nkind = \"paper\"\nreconcile_every_s = 60\n";
    let reg = Arc::new(Registry::from_toml(&toml).unwrap());
    let venues = [Scripted::default(), Scripted::default()];
    for v in &venues {
        let mut s = v.0.lock().unwrap();
        s.external = true;
        s.snapshot_answered_at_once = true;
    }
    let start = unix_ns(2026, 1, 5, 15, 0);
    let mut e = Engine::new(
        reg,
        venues
            .iter()
            .map(|v| AnyVenue::Other(Box::new(v.clone())))
            .collect(),
        1,
        start,
    );
    for name in ["paper", "second"] {
        let mut j = Journaled::default();
        let start_cmd = Command::Reconcile {
            venue: Name::new(name).unwrap(),
            trigger: execd::model::reconcile::ReconTrigger::Start,
            hold: false,
        };
        e.command(0, &start_cmd, &mut j, &mut ());
    }
    let mut j = Journaled::default();
    e.advance_to(start + 1, &mut j);
    let due = start + 60_000_000_000;
    let mut j = Journaled::default();
    e.advance_to(due + 10, &mut j);
    let stamps: Vec<u64> = j.0.iter().map(|(at, _)| *at).collect();
    assert_eq!(
        stamps,
        [due + 1, due + 1],
        "both answers just after the timers"
    );
    let asked: Vec<u64> =
        j.1.iter()
            .filter_map(|ev| match ev {
                CoreEvent::ReconReport(r) => Some(r.asked_ns),
                _ => None,
            })
            .collect();
    assert_eq!(asked, [due, due], "both asked at the timers' instant");
}

#[test]
fn before_a_journaled_reconcile_command_the_engine_starts_none_of_its_own() {
    // A journal written before reconciliation existed has timeouts and logons but no
    // Reconcile command: replayed, it must emit exactly what it did then.
    let mut r = Rig::new(|t| t);
    let (_, _cl) = r.submit(10);
    let evs = r.advance(40_000_000_000);
    assert!(
        evs.iter()
            .any(|e| matches!(e, CoreEvent::Order(s) if s.state == OrderState::TimedOut)),
        "{evs:?}"
    );
    assert_eq!(r.v.0.lock().unwrap().snapshots, 0);
    r.venue(VenueEventKind::Session { up: true });
    assert_eq!(r.v.0.lock().unwrap().snapshots, 0);
}

#[test]
fn a_venue_that_cannot_list_orders_still_holds_a_restart_until_they_are_settled_or_resolved() {
    let mut r = Rig::new(|t| t);
    r.v.0.lock().unwrap().external = true;
    let (_, _cl) = r.submit(10);
    r.cmd(reconcile_cmd(true));
    let evs = r.venue(VenueEventKind::SnapshotEnd {
        orders: false,
        positions: true,
        foreign: 0,
    });
    assert_eq!(recon(&evs).1.map(|s| s.in_flight), Some(1), "{evs:?}");
    let (evs, _) = r.submit(1);
    assert_eq!(rejected(&evs), Some(Reason::Reconciling));
    // The venue never answers about it: an operator's word for the whole venue ends the
    // wait (R-RES-4: reconciled "or resolved").
    let evs = r.cmd(keep_ours_for_the_venue());
    assert!(
        evs.iter()
            .any(|e| matches!(e, CoreEvent::ReconResolved { released: 1, .. })),
        "{evs:?}"
    );
    let (evs, _) = r.submit(1);
    assert_eq!(rejected(&evs), None, "{evs:?}");
}

#[test]
fn protection_on_its_way_to_the_venue_is_not_reported_missing() {
    use execd::model::reconcile::ReconStatus;
    use execd::model::request::Protect;
    let mut r = Rig::new(|t| t);
    r.n += 1;
    let mut q = ExecutionRequest::market("", "alpha", "paper", "AAPL", Side::Buy, Dec::new(10, 0));
    q.request_id = RequestId::from_prefixed_u64("p-", r.n).unwrap();
    q.take_profit = Some(Protect::OffsetPpm(30_000));
    r.cmd(Command::Submit(q));
    let cl = r.v.0.lock().unwrap().sent.last().unwrap().cl;
    r.venue(VenueEventKind::Ack {
        cl,
        venue_order_id: 1,
    });
    r.fill(cl, 1, 10);
    let leg = r.v.0.lock().unwrap().sent.last().unwrap().cl;
    assert_ne!(leg.order, cl.order, "a take-profit leg was sent");
    r.cmd(reconcile_cmd(false));
    let aapl =
        r.e.registry()
            .instrument_by_names("paper", "AAPL")
            .unwrap()
            .id;
    r.venue(VenueEventKind::Position {
        account: AccountId(0),
        instrument: aapl,
        qty: Qty(10),
    });
    let evs = all_told(&mut r);
    let (lines, sum) = recon(&evs);
    assert_eq!(
        lines.iter().map(|l| l.status).collect::<Vec<_>>(),
        vec![ReconStatus::Matched],
        "{evs:?}"
    );
    assert_eq!(sum.unwrap().in_flight, 1, "the leg, not yet acknowledged");
    // Once acknowledged and still not listed, it is missing.
    r.venue(VenueEventKind::Ack {
        cl: leg,
        venue_order_id: 2,
    });
    r.cmd(reconcile_cmd(false));
    r.venue(VenueEventKind::Position {
        account: AccountId(0),
        instrument: aapl,
        qty: Qty(10),
    });
    let evs = all_told(&mut r);
    let (lines, _) = recon(&evs);
    let mut st: Vec<_> = lines.iter().map(|l| l.status).collect();
    st.sort_by_key(|s| s.as_str());
    assert_eq!(
        st,
        vec![ReconStatus::Mismatch, ReconStatus::MissingSlTp],
        "{evs:?}"
    );
}

/// Emulated one-cancels-other (R-OMS-5): a leg's partial fill cancels its sibling before
/// anything else is said or sent; when the sibling fills anyway, the position it flips
/// is flattened for exactly the excess and reported; a refused leg is reported.
#[test]
fn both_legs_filling_never_leave_a_position_upstream_did_not_ask_for() {
    use execd::model::ids::OrderType;
    use execd::model::request::Protect;
    let mut r = Rig::new(|t| t);
    let mut req = ExecutionRequest::market(
        "oco-1",
        "alpha",
        "paper",
        "AAPL",
        Side::Buy,
        Dec::new(10, 0),
    );
    req.stop_loss = Some(Protect::OffsetPpm(-10_000));
    req.take_profit = Some(Protect::OffsetPpm(20_000));
    r.cmd(Command::Submit(req));
    let parent = r.v.0.lock().unwrap().sent[0].cl;
    let evs = r.fill(parent, 1, 10);
    assert!(
        evs.iter()
            .any(|e| matches!(e, CoreEvent::Protection { .. })),
        "{evs:?}"
    );
    let (sl, tp) = {
        let s = r.v.0.lock().unwrap();
        assert_eq!(s.sent.len(), 3);
        assert!(s.sent[1].reduce_only && s.sent[2].reduce_only);
        assert_eq!(
            (s.sent[1].order_type, s.sent[2].order_type),
            (OrderType::Stop, OrderType::Limit)
        );
        (s.sent[1].cl, s.sent[2].cl)
    };
    // The take-profit fills 4 of 10: the stop-loss's cancel is the first thing out,
    // before the fill is even reported.
    let evs = r.fill(tp, 2, 4);
    assert_eq!(r.v.0.lock().unwrap().cancels.last().map(|c| c.1), Some(sl));
    match &evs[0] {
        CoreEvent::Order(s) => {
            assert_eq!((s.order, s.state), (sl.order, OrderState::PendingCancel))
        }
        e => panic!("the sibling's cancel first, not {e:?}"),
    }
    assert_eq!(r.position(), Qty(6));
    // Too late: the stop-loss had already executed in full at the venue. The position
    // flips to -4, which nobody asked for: a market buy of exactly 4 goes out.
    let evs = r.fill(sl, 3, 10);
    assert_eq!(r.position(), Qty(-4));
    let flatten = {
        let s = r.v.0.lock().unwrap();
        let f = *s.sent.last().unwrap();
        assert_eq!(
            (f.order_type, f.side, f.qty, f.reduce_only),
            (OrderType::Market, Side::Buy, Qty(4), true)
        );
        f.cl
    };
    assert!(
        evs.contains(&CoreEvent::ProtectionOverfill {
            leg: sl.order,
            flatten: Some(flatten.order),
            qty: Qty(4),
        }),
        "{evs:?}"
    );
    r.fill(flatten, 4, 4);
    assert_eq!(r.position(), Qty(0), "flat again");
    assert_eq!(r.v.0.lock().unwrap().sent.len(), 4, "nothing more sent");

    // A venue that refuses a leg leaves the position without it: said so.
    let mut req =
        ExecutionRequest::market("oco-2", "alpha", "paper", "AAPL", Side::Buy, Dec::new(5, 0));
    req.stop_loss = Some(Protect::OffsetPpm(-10_000));
    r.cmd(Command::Submit(req));
    let parent = r.v.0.lock().unwrap().sent.last().unwrap().cl;
    r.fill(parent, 5, 5);
    let leg = r.v.0.lock().unwrap().sent.last().unwrap().cl;
    let evs = r.venue(VenueEventKind::Rejected {
        cl: leg,
        reason: Reason::VenueRejected,
    });
    assert!(
        evs.contains(&CoreEvent::Unprotected {
            parent: parent.order,
            leg: leg.order,
            reason: Reason::VenueRejected,
        }),
        "{evs:?}"
    );
}

/// R-IN-3 for the journal's whole life: a request id is remembered long after the book
/// retired its order, and a resend is told that order's final state; when every request
/// id the journal can remember is taken, new ones are refused, never an old one forgotten.
#[test]
fn a_request_id_is_never_forgotten_however_many_orders_follow() {
    let mut r = Rig::new(|t| {
        t.replace("max_orders = 262144", "max_orders = 16")
            .replace("max_request_ids = 1048576", "max_request_ids = 200")
    });
    let mut first = None;
    for i in 0..150 {
        let (evs, cl) = r.submit(1);
        assert!(matches!(evs[0], CoreEvent::Accepted { .. }), "{i}: {evs:?}");
        r.fill(cl, 1, 1);
        first.get_or_insert(cl.order);
    }
    assert!(r.e.book().retired() > 100, "the first orders left the book");
    assert!(r.e.book().get(first.unwrap()).is_none());
    let sent = r.v.0.lock().unwrap().sent.len();
    let mut again =
        ExecutionRequest::market("", "alpha", "paper", "AAPL", Side::Buy, Dec::new(1, 0));
    again.request_id = RequestId::from_prefixed_u64("e-", 1).unwrap();
    let out = r.cmd(Command::Submit(again));
    assert!(
        matches!(
            out[..],
            [CoreEvent::Duplicate { order, state: OrderState::Filled, .. }] if Some(order) == first
        ),
        "{out:?}"
    );
    assert_eq!(r.v.0.lock().unwrap().sent.len(), sent, "nothing sent");
    // 150 remembered of 200: 50 more fit, the 51st new id is refused.
    for i in 0..50 {
        let (evs, cl) = r.submit(1);
        assert!(matches!(evs[0], CoreEvent::Accepted { .. }), "{i}: {evs:?}");
        r.fill(cl, 1, 1);
    }
    assert_eq!(r.e.book().request_ids(), (200, 200));
    assert_eq!(rejected(&r.submit(1).0), Some(Reason::RequestIdsFull));
    let out = r.cmd(Command::Submit(again));
    assert!(matches!(out[..], [CoreEvent::Duplicate { .. }]), "{out:?}");
}

/// A replace is an order at new terms: one that adds risk (a higher quantity, a moved
/// price) passes the gate as a new order would (price band, size, kill switches), one
/// that only cuts the quantity always goes out, even under a kill switch.
#[test]
fn a_replace_that_adds_risk_passes_the_gate_and_one_that_cuts_it_always_goes_out() {
    use execd::model::control::KillState;
    use execd::model::event::Scope;
    use execd::model::ids::{OrderType, Tif};
    let mut r = Rig::new(|t| t);
    let mut req =
        ExecutionRequest::market("", "alpha", "paper", "AAPL", Side::Buy, Dec::new(10, 0));
    req.request_id = RequestId::new("rest-1").unwrap();
    req.order_type = OrderType::Limit;
    req.tif = Tif::Gtc;
    req.limit_price = Some(Dec::new(18_950, 2));
    let evs = r.cmd(Command::Submit(req));
    assert_eq!(rejected(&evs), None, "{evs:?}");
    let cl = r.v.0.lock().unwrap().sent.last().unwrap().cl;
    r.venue(VenueEventKind::Ack {
        cl,
        venue_order_id: 7,
    });
    let replace = |q: Option<i64>, px: Option<i64>| Command::Replace {
        order: OrderRef::Id(cl.order),
        quantity: q.map(|q| Dec::new(q, 0)),
        limit_price: px.map(|p| Dec::new(p, 2)),
    };
    // A fat finger: far outside the band around the market.
    let evs = r.cmd(replace(None, Some(9_999_999_900)));
    assert_eq!(rejected_command(&evs), Some(Reason::PriceBand), "{evs:?}");
    // More than an order may be.
    let evs = r.cmd(replace(Some(6_000), None));
    assert_eq!(rejected_command(&evs), Some(Reason::MaxOrderQty), "{evs:?}");
    assert_eq!(r.state(cl), OrderState::New, "nothing was sent");
    // Under a kill switch a larger order is refused; a smaller one goes out.
    r.cmd(Command::SetKillSwitch {
        scope: Scope::Venue(Name::new("paper").unwrap()),
        state: KillState::Active,
        cancel_open: false,
    });
    let evs = r.cmd(replace(Some(20), None));
    assert_eq!(rejected_command(&evs), Some(Reason::KillVenue), "{evs:?}");
    let evs = r.cmd(replace(Some(4), None));
    assert_eq!(rejected_command(&evs), None, "{evs:?}");
    assert_eq!(r.state(cl), OrderState::PendingReplace);
}

fn limits(count_10s: u32, cap_10s: u32, retry_after_ms: u32) -> VenueEventKind {
    VenueEventKind::RateLimit(execd::venue::RateLimits {
        used_weight: 1,
        weight_cap: 6_000,
        orders: [
            execd::venue::OrderWindow {
                secs: 10,
                count: count_10s,
                cap: cap_10s,
            },
            execd::venue::OrderWindow {
                secs: 86_400,
                count: count_10s,
                cap: 200_000,
            },
        ],
        retry_after_ms,
    })
}

fn gate_reason(evs: &[CoreEvent]) -> Option<Reason> {
    evs.iter().find_map(|e| match e {
        CoreEvent::Rejected { reason, .. } => Some(*reason),
        _ => None,
    })
}

/// R-GATE-7: the venue's order budget, as its bridge reported it, counts the orders the
/// core sends itself; the one over it is refused at the gate and never sent; a cancel
/// still goes; the next window (engine time) takes orders again; a Retry-After holds
/// new orders until it passes.
#[test]
fn a_venues_order_budget_and_retry_after_refuse_new_orders_at_the_gate_not_cancels() {
    let mut r = Rig::new(|t| t);
    let evs = r.venue(limits(1, 3, 0));
    assert!(
        evs.iter().any(
            |e| matches!(e, CoreEvent::VenueLimits { limits, .. } if limits.orders[0].cap == 3)
        ),
        "{evs:?}"
    );
    let (a, first) = r.submit(1);
    assert!(matches!(a[0], CoreEvent::Accepted { .. }), "{a:?}");
    let (a, _) = r.submit(1);
    assert!(matches!(a[0], CoreEvent::Accepted { .. }), "{a:?}");
    // One the venue counted and two sent since: the window is full before any header
    // says so.
    let (a, _) = r.submit(1);
    assert_eq!(gate_reason(&a), Some(Reason::VenueRateLimited), "{a:?}");
    assert_eq!(r.v.0.lock().unwrap().sent.len(), 2, "nothing sent");
    // A cancel reduces risk: never held to the budget.
    r.venue(VenueEventKind::Ack {
        cl: first,
        venue_order_id: 1,
    });
    r.cmd(Command::Cancel(OrderRef::Id(first.order)));
    assert_eq!(r.v.0.lock().unwrap().cancels.len(), 1);
    // The venue's report of fewer (it has not seen the last yet) frees nothing.
    r.venue(limits(2, 3, 0));
    let (a, _) = r.submit(1);
    assert_eq!(gate_reason(&a), Some(Reason::VenueRateLimited), "{a:?}");
    // The next 10 s window.
    r.advance(10_000 * MS);
    let (a, _) = r.submit(1);
    assert!(matches!(a[0], CoreEvent::Accepted { .. }), "{a:?}");
    // A 429 with Retry-After 2 s: held until then.
    r.venue(limits(0, 3, 2_000));
    let (a, _) = r.submit(1);
    assert_eq!(gate_reason(&a), Some(Reason::VenueRateLimited), "{a:?}");
    r.advance(1_990 * MS);
    let (a, _) = r.submit(1);
    assert_eq!(gate_reason(&a), Some(Reason::VenueRateLimited), "{a:?}");
    r.advance(20 * MS);
    let (a, _) = r.submit(1);
    assert!(matches!(a[0], CoreEvent::Accepted { .. }), "{a:?}");
}

/// A full ring between the core and a bridge's I/O thread is told as a venue input:
/// the new order is resent like one never delivered, a cancel is refused
/// VENUE_BACKPRESSURE and the order works as before.
#[test]
fn backpressure_is_a_venue_input_a_new_order_is_resent_a_cancel_refused() {
    let mut r = Rig::new(|t| t);
    let (_, cl) = r.submit(1);
    let evs = r.venue(VenueEventKind::Backpressure {
        cl,
        request: execd::venue::Request::New,
    });
    assert!(
        evs.iter().any(|e| matches!(
            e,
            CoreEvent::VenueBackpressure {
                request: execd::venue::Request::New,
                ..
            }
        )),
        "{evs:?}"
    );
    assert!(
        evs.iter()
            .any(|e| matches!(e, CoreEvent::RetryScheduled { attempt: 1, .. })),
        "{evs:?}"
    );
    // The resend goes out under the same client order id.
    r.advance(2_000 * MS);
    let sent = r.v.0.lock().unwrap().sent.clone();
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_eq!(sent[1].cl, cl);
    r.venue(VenueEventKind::Ack {
        cl,
        venue_order_id: 1,
    });
    assert_eq!(r.state(cl), OrderState::New);
    r.cmd(Command::Cancel(OrderRef::Id(cl.order)));
    let (ccl, _) = *r.v.0.lock().unwrap().cancels.last().unwrap();
    let evs = r.venue(VenueEventKind::Backpressure {
        cl: ccl,
        request: execd::venue::Request::Cancel,
    });
    assert_eq!(
        rejected_command(&evs),
        Some(Reason::VenueBackpressure),
        "{evs:?}"
    );
    assert_eq!(r.state(cl), OrderState::New);
}

fn balance(asset: &str, free: i64) -> VenueEventKind {
    VenueEventKind::Balance {
        account: AccountId(0),
        asset: Name::new(asset).unwrap(),
        free,
        locked: 0,
        wallet: false,
    }
}

/// A buy of `qty` AAPL at 190.02 with a commission of 1 in USD, as a spot venue tells
/// what the fill moved.
fn fill_assets(cl: ClOrdId, exec_id: u64, qty: i64) -> VenueEventKind {
    VenueEventKind::FillAssets {
        cl,
        exec_id,
        base: Name::new("AAPL").unwrap(),
        base_delta: qty,
        quote: Name::new("USD").unwrap(),
        quote_delta: -19_002 * qty,
        fee_asset: Name::new("USD").unwrap(),
        fee: 1,
    }
}

fn balance_lines(
    evs: &[CoreEvent],
) -> Vec<(String, execd::model::reconcile::ReconStatus, i64, i64)> {
    evs.iter()
        .filter_map(|e| match e {
            CoreEvent::BalanceLine(l) => {
                Some((l.asset.as_str().to_string(), l.status, l.ours, l.theirs))
            }
            _ => None,
        })
        .collect()
}

/// The venue's open orders told, no positions (a spot venue holds assets).
fn orders_told(r: &mut Rig, open: &[(ClOrdId, i64)]) -> Vec<CoreEvent> {
    for &(cl, cum) in open {
        r.venue(VenueEventKind::Listed { cl, cum: Qty(cum) });
    }
    r.venue(VenueEventKind::SnapshotEnd {
        orders: true,
        positions: false,
        foreign: 0,
    })
}

/// R-AUD-4: balance lines do not cry wolf. A resent fill moves the assets once; a fill
/// whose balance the venue has not told yet is IN_FLIGHT, not a mismatch that holds the
/// venue; after a stream gap, fills recovered through status answers (which carry no
/// assets) restart the comparison from the venue's word, shown as REBASED lines; a real
/// difference is still a mismatch.
#[test]
fn balance_lines_count_a_fill_once_wait_for_its_balance_and_rebase_after_a_gap() {
    use execd::model::reconcile::ReconStatus::*;
    let mut r = Rig::new(|t| t);
    r.venue(balance("AAPL", 0));
    r.venue(balance("USD", 1_000_000));
    let (_, cl) = r.submit(10);
    r.venue(VenueEventKind::Ack {
        cl,
        venue_order_id: 1,
    });
    r.fill(cl, 1, 4);
    r.venue(fill_assets(cl, 1, 4));
    // The executionReport resent: neither the fill nor its assets count twice.
    r.fill(cl, 1, 4);
    r.venue(fill_assets(cl, 1, 4));
    assert_eq!(r.e.stats().duplicate_fill_assets, 1);
    // Reconciled before the venue's balance after the fill: in flight, nothing held.
    r.cmd(reconcile_cmd(false));
    let evs = orders_told(&mut r, &[(cl, 4)]);
    assert_eq!(
        balance_lines(&evs),
        vec![
            ("AAPL".into(), InFlight, 4, 0),
            ("USD".into(), InFlight, -76_009, 0)
        ],
        "{evs:?}"
    );
    let (_, sum) = recon(&evs);
    let sum = sum.unwrap();
    assert_eq!((sum.mismatches, sum.in_flight), (0, 2), "{sum:?}");
    let (a, cl2) = r.submit(1);
    assert!(matches!(a[0], CoreEvent::Accepted { .. }), "{a:?}");
    // The balances come: matched.
    r.venue(balance("AAPL", 4));
    r.venue(balance("USD", 1_000_000 - 76_009));
    r.cmd(reconcile_cmd(false));
    let evs = orders_told(&mut r, &[(cl, 4), (cl2, 0)]);
    assert_eq!(
        balance_lines(&evs),
        vec![
            ("AAPL".into(), Matched, 4, 4),
            ("USD".into(), Matched, -76_009, -76_009)
        ],
        "{evs:?}"
    );

    // The stream drops; 6 more fill meanwhile. The balances read at reconnect hold
    // them, then the gap is told, then the fill comes back through a status answer.
    r.venue(balance("AAPL", 10));
    r.venue(balance("USD", 1_000_000 - 190_021));
    r.venue(VenueEventKind::Restarted);
    r.venue(status(cl, VenueOrderState::Filled, Some((10, 19_002))));
    assert_eq!(r.state(cl), OrderState::Filled);
    r.cmd(reconcile_cmd(false));
    let evs = orders_told(&mut r, &[(cl2, 0)]);
    assert_eq!(
        balance_lines(&evs),
        vec![
            ("AAPL".into(), Rebased, 4, 10),
            ("USD".into(), Rebased, -76_009, -190_021)
        ],
        "{evs:?}"
    );
    assert_eq!(recon(&evs).1.unwrap().mismatches, 0);

    // From the new start, a balance that moves with no fill of ours is a mismatch
    // that holds the venue (the next balance after the gap is the start as well).
    r.venue(balance("USD", 1_000_000 - 190_021));
    r.venue(balance("USD", 1_000_000 - 190_000));
    r.cmd(reconcile_cmd(false));
    let evs = orders_told(&mut r, &[(cl2, 0)]);
    assert_eq!(
        balance_lines(&evs),
        vec![("USD".into(), Mismatch, 0, 21)],
        "{evs:?}"
    );
    assert_eq!(recon(&evs).1.unwrap().mismatches, 1);
}

/// A cancel asked before the venue's backpressure on the new order was heard: the
/// order never reached the venue, so it ends CANCELED here and is never resent, not
/// after the hard timeout and its status query either.
#[test]
fn an_order_canceled_before_its_backpressure_is_heard_ends_canceled_and_is_never_resent() {
    let mut r = Rig::new(|t| t);
    let (_, cl) = r.submit(1);
    r.cmd(Command::Cancel(OrderRef::Id(cl.order)));
    assert_eq!(r.state(cl), OrderState::PendingCancel);
    let evs = r.venue(VenueEventKind::Backpressure {
        cl,
        request: execd::venue::Request::New,
    });
    assert_eq!(r.state(cl), OrderState::Canceled, "{evs:?}");
    assert!(
        !evs.iter()
            .any(|e| matches!(e, CoreEvent::RetryScheduled { .. })),
        "{evs:?}"
    );
    // The cancel's own answer, whatever it is, changes nothing.
    let (ccl, _) = *r.v.0.lock().unwrap().cancels.last().unwrap();
    r.venue(VenueEventKind::CancelRejected {
        cl: ccl,
        reason: Reason::VenueUnknownOrder,
    });
    r.advance(60_000 * MS);
    assert_eq!(r.state(cl), OrderState::Canceled);
    assert_eq!(
        r.v.0.lock().unwrap().sent.len(),
        1,
        "sent once, never again"
    );
    assert!(r.v.0.lock().unwrap().queries.is_empty());
}

/// The paper venue's short order window: (counted, cap).
fn budget(r: &Rig) -> (u64, u64) {
    let v = execd::model::ids::VenueId(0);
    r.e.gate().budget(v).unwrap().orders(0, r.now)
}

/// R-GATE-7: what the gate counts against the venue's order budget is what reached the
/// venue. A new order the adapter could not hand over is not counted, so its resend
/// counts once; a replace (Binance counts a cancelReplace as an order) is counted, and
/// still goes when the budget is spent.
#[test]
fn the_venue_budget_counts_a_backpressured_order_once_and_counts_replaces() {
    let mut r = Rig::new(|t| t);
    r.venue(limits(0, 3, 0));
    let (_, cl) = r.submit(10);
    r.venue(VenueEventKind::Backpressure {
        cl,
        request: execd::venue::Request::New,
    });
    r.advance(2_000 * MS);
    assert_eq!(r.v.0.lock().unwrap().sent.len(), 2, "resent");
    assert_eq!(budget(&r), (1, 3));
    r.venue(VenueEventKind::Ack {
        cl,
        venue_order_id: 1,
    });
    let replace = Command::Replace {
        order: OrderRef::Id(cl.order),
        quantity: Some(Dec::new(5, 0)),
        limit_price: None,
    };
    let evs = r.cmd(replace);
    assert_eq!(rejected_command(&evs), None, "{evs:?}");
    assert_eq!(budget(&r), (2, 3));
    let (a, _) = r.submit(1);
    assert!(matches!(a[0], CoreEvent::Accepted { .. }), "{a:?}");
    // Spent: a new order is refused, a replace that cuts risk still goes, counted.
    let (a, _) = r.submit(1);
    assert_eq!(gate_reason(&a), Some(Reason::VenueRateLimited), "{a:?}");
    r.venue(VenueEventKind::Replaced {
        cl: ClOrdId { version: 1, ..cl },
        qty: Qty(5),
        limit: Price(0),
    });
    let evs = r.cmd(Command::Replace {
        order: OrderRef::Id(cl.order),
        quantity: Some(Dec::new(4, 0)),
        limit_price: None,
    });
    assert_eq!(rejected_command(&evs), None, "{evs:?}");
    assert_eq!(r.state(cl), OrderState::PendingReplace);
    assert_eq!(budget(&r), (4, 3));
}

/// A resend due while the venue's Retry-After holds is put off until the hold ends (a
/// new order sent into it would be refused for good), same attempt; one the hold
/// outlasts the delivery deadline of becomes a dead letter, not a venue rejection.
#[test]
fn a_resend_due_during_a_retry_after_waits_for_it_to_pass() {
    let mut r = Rig::new(|t| t);
    let (_, cl) = r.submit(1);
    r.venue(VenueEventKind::Backpressure {
        cl,
        request: execd::venue::Request::New,
    });
    let hold_from = r.now + MS;
    r.venue(limits(0, 0, 5_000));
    let evs = r.advance(2_000 * MS);
    assert_eq!(
        r.v.0.lock().unwrap().sent.len(),
        1,
        "not sent into the hold"
    );
    assert!(
        evs.iter().any(|e| matches!(
            e,
            CoreEvent::RetryScheduled { attempt: 1, due_ns, .. } if *due_ns == hold_from + 5_000 * MS
        )),
        "{evs:?}"
    );
    assert_eq!(r.e.stats().retries_deferred, 1);
    r.advance(3_000 * MS);
    let sent = r.v.0.lock().unwrap().sent.clone();
    assert_eq!(sent.len(), 2, "sent once the hold passed");
    assert_eq!(sent[1].cl, cl);
    assert_eq!(r.state(cl), OrderState::PendingNew);

    // A hold longer than what is left of the delivery deadline: a dead letter.
    let (_, cl2) = r.submit(1);
    r.venue(VenueEventKind::Backpressure {
        cl: cl2,
        request: execd::venue::Request::New,
    });
    r.venue(limits(0, 0, 60_000));
    let evs = r.advance(2_000 * MS);
    assert!(
        evs.iter().any(|e| matches!(
            e,
            CoreEvent::DeadLettered {
                reason: Reason::DeliveryExpired,
                ..
            }
        )),
        "{evs:?}"
    );
    assert_eq!(r.v.0.lock().unwrap().sent.len(), 3);
    assert_eq!(r.state(cl2), OrderState::PendingNew);
}
