//! Event records: every event the core emitted, with the producer it went to — what
//! upstream was told, kept as a fact so replay can prove it derives the same.

use super::bytes::{index_of, pick, CodecError, In, Out};
use super::MAX_EVENT;
use crate::model::event::{CoreEvent, DeadLetterAction, Limits, OrderStatus};
use crate::model::fixed::{Money, Price, Qty};
use crate::model::ids::{AccountId, InstrumentId, VenueId};
use crate::model::order_state::OmsEvent;
use crate::model::rate_limits::{OrderWindow, RateLimits, Request};
use crate::model::reconcile::{BalanceLine, ReconLine, ReconStatus, ReconSummary, ReconTrigger};
use crate::model::slippage::{SlipCategory, Slippage};

/// Encodes an event from the core; `None` for syncs, which carry no fact.
pub fn encode_event(origin: u8, ev: &CoreEvent, buf: &mut [u8; MAX_EVENT]) -> Option<usize> {
    let mut o = Out::new(buf);
    o.u8(origin);
    match *ev {
        CoreEvent::Accepted {
            request_id,
            order,
            cl_ord_id,
            content_hash,
            warning,
        } => {
            o.u8(1);
            o.str(&request_id);
            o.oid(order);
            o.cl(cl_ord_id);
            o.u64(content_hash);
            o.u8(warning as u8);
        }
        CoreEvent::Rejected {
            request_id,
            order,
            reason,
        } => {
            o.u8(2);
            o.str(&request_id);
            o.oid(order);
            o.reason(Some(reason));
        }
        CoreEvent::Duplicate {
            request_id,
            order,
            state,
        } => {
            o.u8(3);
            o.str(&request_id);
            o.oid(order);
            o.state(state);
        }
        CoreEvent::Order(s) => {
            o.u8(4);
            o.oid(s.order);
            o.str(&s.request_id);
            o.opt_oid(s.parent);
            o.state(s.state);
            o.i64(s.qty.0);
            o.i64(s.cum_qty.0);
            o.i64(s.avg_px.0);
            o.reason(s.reason);
            o.u8(s.late as u8);
        }
        CoreEvent::Fill {
            order,
            instrument,
            exec_id,
            px,
            qty,
            fee,
            slippage,
            late,
        } => {
            o.u8(5);
            o.oid(order);
            o.u32(instrument.0 as u32);
            o.u64(exec_id);
            o.i64(px.0);
            o.i64(qty.0);
            o.i64(fee.0);
            match slippage {
                None => o.u8(0),
                Some(s) => {
                    o.u8(1);
                    o.i64(s.price);
                    o.i64(s.bps_e2);
                    o.i64(s.pips_e2);
                    o.u8(index_of(&SlipCategory::ALL, &s.category));
                }
            }
            o.u8(late as u8);
        }
        CoreEvent::Protection {
            parent,
            stop_loss,
            take_profit,
            qty,
        } => {
            o.u8(6);
            o.oid(parent);
            for leg in [stop_loss, take_profit] {
                o.opt_oid(leg.map(|l| l.0));
                o.i64(leg.map_or(0, |l| l.1 .0));
            }
            o.i64(qty.0);
        }
        CoreEvent::SlippageBreach { order, bps_e2 } => {
            o.u8(7);
            o.oid(order);
            o.i64(bps_e2);
        }
        CoreEvent::Anomaly {
            order,
            state,
            event,
        } => {
            o.u8(8);
            o.oid(order);
            o.state(state);
            o.u8(index_of(&OmsEvent::ALL, &event));
        }
        CoreEvent::CommandRejected { order, reason } => {
            o.u8(9);
            o.opt_oid(order);
            o.reason(Some(reason));
        }
        CoreEvent::KillSwitch {
            scope,
            state,
            canceled,
        } => {
            o.u8(10);
            o.scope(&scope);
            o.u8(state as u8);
            o.u32(canceled);
        }
        CoreEvent::ModeChanged { account, mode } => {
            o.u8(11);
            o.str(&account);
            o.u8(mode as u8);
        }
        CoreEvent::HaltChanged { account, halted } => {
            o.u8(12);
            o.str(&account);
            o.u8(halted as u8);
        }
        CoreEvent::VenueLimits { venue, limits: l } => {
            o.u8(32);
            o.str(&venue);
            o.u32(l.used_weight);
            o.u32(l.weight_cap);
            for w in l.orders {
                o.u32(w.secs);
                o.u32(w.count);
                o.u32(w.cap);
            }
            o.u32(l.retry_after_ms);
        }
        CoreEvent::VenueBackpressure { order, request } => {
            o.u8(33);
            o.oid(order);
            o.u8(match request {
                Request::New => 1,
                Request::Cancel => 2,
                Request::Replace => 3,
            });
        }
        CoreEvent::VenueSession { venue, up } => {
            o.u8(13);
            o.str(&venue);
            o.u8(up as u8);
        }
        CoreEvent::FillRecovered { order, qty, px } => {
            o.u8(14);
            o.oid(order);
            o.i64(qty.0);
            o.i64(px.0);
        }
        CoreEvent::LimitsChanged(l) => {
            o.u8(16);
            o.u32(l.instrument.0 as u32);
            o.i64(l.max_order_qty.0);
            o.i64(l.max_notional.0);
            o.i64(l.max_position.0);
        }
        CoreEvent::VenueMismatch {
            order,
            venue_cum,
            core_cum,
        } => {
            o.u8(15);
            o.oid(order);
            o.i64(venue_cum.0);
            o.i64(core_cum.0);
        }
        CoreEvent::ReconLine(l) => {
            o.u8(17);
            o.u32(l.report);
            o.u32(l.venue.0 as u32);
            o.u8(index_of(&ReconStatus::ALL, &l.status));
            o.opt_id(l.account.map(|a| a.0));
            o.opt_id(l.instrument.map(|i| i.0));
            o.opt_oid(l.order);
            o.u64(l.venue_order);
            o.opt_state(l.ours_state);
            o.opt_state(l.theirs_state);
            o.i64(l.ours.0);
            o.i64(l.theirs.0);
        }
        CoreEvent::ReconReport(r) => {
            o.u8(18);
            o.u32(r.report);
            o.u32(r.venue.0 as u32);
            o.u8(index_of(&ReconTrigger::ALL, &r.trigger));
            o.u64(r.asked_ns);
            o.u32(r.lines);
            o.u32(r.mismatches);
            o.u32(r.in_flight);
            o.u8(r.orders_checked as u8);
            o.u8(r.positions_checked as u8);
        }
        CoreEvent::ReconResolved {
            venue,
            account,
            instrument,
            accept_venue,
            released,
            restated,
        } => {
            o.u8(19);
            o.u32(venue.0 as u32);
            o.opt_id(account.map(|a| a.0));
            o.opt_id(instrument.map(|i| i.0));
            o.u8(accept_venue as u8);
            o.u32(released);
            o.u32(restated);
        }
        CoreEvent::ProtectionOverfill { leg, flatten, qty } => {
            o.u8(23);
            o.oid(leg);
            o.opt_oid(flatten);
            o.i64(qty.0);
        }
        CoreEvent::Unprotected {
            parent,
            leg,
            reason,
        } => {
            o.u8(24);
            o.oid(parent);
            o.oid(leg);
            o.reason(Some(reason));
        }
        CoreEvent::DeadLettered {
            order,
            reason,
            attempts,
        } => {
            o.u8(20);
            o.oid(order);
            o.reason(Some(reason));
            o.u8(attempts);
        }
        CoreEvent::DeadLetterResolved { order, action } => {
            o.u8(21);
            o.oid(order);
            o.u8(index_of(&DeadLetterAction::ALL, &action));
        }
        CoreEvent::RetryScheduled {
            order,
            attempt,
            due_ns,
        } => {
            o.u8(22);
            o.oid(order);
            o.u8(attempt);
            o.u64(due_ns);
        }
        CoreEvent::BalanceLine(l) => {
            o.u8(34);
            o.u32(l.report);
            o.u32(l.venue.0 as u32);
            o.u32(l.account.0 as u32);
            o.str(&l.asset);
            o.u8(index_of(&ReconStatus::ALL, &l.status));
            o.i64(l.ours);
            o.i64(l.theirs);
        }
        CoreEvent::Synced(_)
        | CoreEvent::OrderInstrument { .. }
        | CoreEvent::Row(_)
        | CoreEvent::RowsEnd { .. } => return None,
    }
    Some(o.len())
}

/// Decodes a journaled event: its producer and the event.
pub fn decode_event(b: &[u8]) -> Result<(u8, CoreEvent), CodecError> {
    let mut i = In::new(b);
    let origin = i.u8()?;
    let ev = match i.u8()? {
        1 => CoreEvent::Accepted {
            request_id: i.str()?,
            order: i.oid()?,
            cl_ord_id: i.cl()?,
            content_hash: i.u64()?,
            warning: i.bool()?,
        },
        2 => CoreEvent::Rejected {
            request_id: i.str()?,
            order: i.oid()?,
            reason: i.some_reason()?,
        },
        3 => CoreEvent::Duplicate {
            request_id: i.str()?,
            order: i.oid()?,
            state: i.state()?,
        },
        4 => CoreEvent::Order(OrderStatus {
            order: i.oid()?,
            request_id: i.str()?,
            parent: i.opt_oid()?,
            state: i.state()?,
            qty: Qty(i.i64()?),
            cum_qty: Qty(i.i64()?),
            avg_px: Price(i.i64()?),
            reason: i.reason()?,
            late: i.bool()?,
        }),
        5 => CoreEvent::Fill {
            order: i.oid()?,
            instrument: InstrumentId(
                u16::try_from(i.u32()?).map_err(|_| CodecError("bad instrument"))?,
            ),
            exec_id: i.u64()?,
            px: Price(i.i64()?),
            qty: Qty(i.i64()?),
            fee: Money(i.i64()?),
            slippage: if i.bool()? {
                Some(Slippage {
                    price: i.i64()?,
                    bps_e2: i.i64()?,
                    pips_e2: i.i64()?,
                    category: pick(&SlipCategory::ALL, i.u8()?, "bad category")?,
                })
            } else {
                None
            },
            late: i.bool()?,
        },
        6 => {
            let parent = i.oid()?;
            let mut legs = [None, None];
            for leg in legs.iter_mut() {
                let id = i.opt_oid()?;
                let px = Price(i.i64()?);
                *leg = id.map(|id| (id, px));
            }
            CoreEvent::Protection {
                parent,
                stop_loss: legs[0],
                take_profit: legs[1],
                qty: Qty(i.i64()?),
            }
        }
        7 => CoreEvent::SlippageBreach {
            order: i.oid()?,
            bps_e2: i.i64()?,
        },
        8 => CoreEvent::Anomaly {
            order: i.oid()?,
            state: i.state()?,
            event: pick(&OmsEvent::ALL, i.u8()?, "bad event")?,
        },
        9 => CoreEvent::CommandRejected {
            order: i.opt_oid()?,
            reason: i.some_reason()?,
        },
        10 => CoreEvent::KillSwitch {
            scope: i.scope()?,
            state: i.kill_state()?,
            canceled: i.u32()?,
        },
        11 => CoreEvent::ModeChanged {
            account: i.str()?,
            mode: i.mode()?,
        },
        12 => CoreEvent::HaltChanged {
            account: i.str()?,
            halted: i.bool()?,
        },
        32 => {
            let venue = i.str()?;
            let used_weight = i.u32()?;
            let weight_cap = i.u32()?;
            let mut orders = [OrderWindow::default(); 2];
            for w in &mut orders {
                w.secs = i.u32()?;
                w.count = i.u32()?;
                w.cap = i.u32()?;
            }
            CoreEvent::VenueLimits {
                venue,
                limits: RateLimits {
                    used_weight,
                    weight_cap,
                    orders,
                    retry_after_ms: i.u32()?,
                },
            }
        }
        33 => CoreEvent::VenueBackpressure {
            order: i.oid()?,
            request: match i.u8()? {
                1 => Request::New,
                2 => Request::Cancel,
                3 => Request::Replace,
                _ => return Err(CodecError("unknown request kind")),
            },
        },
        13 => CoreEvent::VenueSession {
            venue: i.str()?,
            up: i.bool()?,
        },
        14 => CoreEvent::FillRecovered {
            order: i.oid()?,
            qty: Qty(i.i64()?),
            px: Price(i.i64()?),
        },
        15 => CoreEvent::VenueMismatch {
            order: i.oid()?,
            venue_cum: Qty(i.i64()?),
            core_cum: Qty(i.i64()?),
        },
        16 => CoreEvent::LimitsChanged(Limits {
            instrument: InstrumentId(
                u16::try_from(i.u32()?).map_err(|_| CodecError("bad instrument"))?,
            ),
            max_order_qty: Qty(i.i64()?),
            max_notional: Money(i.i64()?),
            max_position: Qty(i.i64()?),
        }),
        17 => CoreEvent::ReconLine(ReconLine {
            report: i.u32()?,
            venue: venue_id(i.u32()?)?,
            status: pick(&ReconStatus::ALL, i.u8()?, "bad reconciliation status")?,
            account: i.opt_id()?.map(AccountId),
            instrument: i.opt_id()?.map(InstrumentId),
            order: i.opt_oid()?,
            venue_order: i.u64()?,
            ours_state: i.opt_state()?,
            theirs_state: i.opt_state()?,
            ours: Qty(i.i64()?),
            theirs: Qty(i.i64()?),
        }),
        18 => CoreEvent::ReconReport(ReconSummary {
            report: i.u32()?,
            venue: venue_id(i.u32()?)?,
            trigger: pick(&ReconTrigger::ALL, i.u8()?, "bad reconciliation trigger")?,
            asked_ns: i.u64()?,
            lines: i.u32()?,
            mismatches: i.u32()?,
            in_flight: i.u32()?,
            orders_checked: i.bool()?,
            positions_checked: i.bool()?,
        }),
        19 => CoreEvent::ReconResolved {
            venue: venue_id(i.u32()?)?,
            account: i.opt_id()?.map(AccountId),
            instrument: i.opt_id()?.map(InstrumentId),
            accept_venue: i.bool()?,
            released: i.u32()?,
            restated: i.u32()?,
        },
        23 => CoreEvent::ProtectionOverfill {
            leg: i.oid()?,
            flatten: i.opt_oid()?,
            qty: Qty(i.i64()?),
        },
        24 => CoreEvent::Unprotected {
            parent: i.oid()?,
            leg: i.oid()?,
            reason: i.some_reason()?,
        },
        20 => CoreEvent::DeadLettered {
            order: i.oid()?,
            reason: i.some_reason()?,
            attempts: i.u8()?,
        },
        21 => CoreEvent::DeadLetterResolved {
            order: i.oid()?,
            action: pick(&DeadLetterAction::ALL, i.u8()?, "bad dead-letter action")?,
        },
        22 => CoreEvent::RetryScheduled {
            order: i.oid()?,
            attempt: i.u8()?,
            due_ns: i.u64()?,
        },
        34 => CoreEvent::BalanceLine(BalanceLine {
            report: i.u32()?,
            venue: venue_id(i.u32()?)?,
            account: AccountId(u16::try_from(i.u32()?).map_err(|_| CodecError("bad account"))?),
            asset: i.str()?,
            status: pick(&ReconStatus::ALL, i.u8()?, "bad reconciliation status")?,
            ours: i.i64()?,
            theirs: i.i64()?,
        }),
        _ => return Err(CodecError("unknown event tag")),
    };
    i.end()?;
    Ok((origin, ev))
}

fn venue_id(n: u32) -> Result<VenueId, CodecError> {
    u16::try_from(n)
        .map(VenueId)
        .map_err(|_| CodecError("bad venue"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::control::{KillState, Mode};
    use crate::model::event::Scope;
    use crate::model::ids::{ClOrdId, Name, OrderId, RequestId};
    use crate::model::order_state::OrderState;
    use crate::model::reason::Reason;

    #[test]
    fn every_event_round_trips() {
        let rid = RequestId::new("r-1").unwrap();
        let events = [
            CoreEvent::Accepted {
                request_id: rid,
                order: OrderId(3),
                cl_ord_id: ClOrdId {
                    epoch: 9,
                    order: OrderId(3),
                    version: 2,
                },
                content_hash: 77,
                warning: true,
            },
            CoreEvent::Rejected {
                request_id: rid,
                order: OrderId(0),
                reason: Reason::StoreFull,
            },
            CoreEvent::Duplicate {
                request_id: rid,
                order: OrderId(3),
                state: OrderState::TimedOut,
            },
            CoreEvent::Order(OrderStatus {
                order: OrderId(4),
                request_id: RequestId::EMPTY,
                parent: Some(OrderId(3)),
                state: OrderState::PartiallyFilled,
                qty: Qty(10),
                cum_qty: Qty(4),
                avg_px: Price(-5),
                reason: Some(Reason::VenueFunds),
                late: true,
            }),
            CoreEvent::Fill {
                order: OrderId(4),
                instrument: InstrumentId(2),
                exec_id: 99,
                px: Price(123),
                qty: Qty(4),
                fee: Money(-1),
                slippage: Some(Slippage {
                    price: -3,
                    bps_e2: 12,
                    pips_e2: 40,
                    category: SlipCategory::Poor,
                }),
                late: false,
            },
            CoreEvent::Protection {
                parent: OrderId(4),
                stop_loss: Some((OrderId(5), Price(100))),
                take_profit: None,
                qty: Qty(4),
            },
            CoreEvent::SlippageBreach {
                order: OrderId(4),
                bps_e2: 999,
            },
            CoreEvent::Anomaly {
                order: OrderId(4),
                state: OrderState::Filled,
                event: OmsEvent::Ack,
            },
            CoreEvent::CommandRejected {
                order: None,
                reason: Reason::UnknownOrder,
            },
            CoreEvent::KillSwitch {
                scope: Scope::Account(Name::new("a").unwrap()),
                state: KillState::Warning,
                canceled: 3,
            },
            CoreEvent::ModeChanged {
                account: Name::new("a").unwrap(),
                mode: Mode::Guide,
            },
            CoreEvent::LimitsChanged(Limits {
                instrument: InstrumentId(3),
                max_order_qty: Qty(5),
                max_notional: Money(7_000_000),
                max_position: Qty(11),
            }),
            CoreEvent::HaltChanged {
                account: Name::new("a").unwrap(),
                halted: true,
            },
            CoreEvent::FillRecovered {
                order: OrderId(8),
                qty: Qty(3),
                px: Price(10_001),
            },
            CoreEvent::VenueMismatch {
                order: OrderId(8),
                venue_cum: Qty(1),
                core_cum: Qty(4),
            },
            CoreEvent::VenueSession {
                venue: Name::new("broker").unwrap(),
                up: true,
            },
            CoreEvent::ReconLine(ReconLine {
                report: 4,
                venue: VenueId(1),
                status: ReconStatus::PhantomPosition,
                account: Some(AccountId(0)),
                instrument: Some(InstrumentId(2)),
                order: None,
                venue_order: 0,
                ours_state: None,
                theirs_state: Some(OrderState::New),
                ours: Qty(0),
                theirs: Qty(-300),
            }),
            CoreEvent::ReconReport(ReconSummary {
                report: 4,
                venue: VenueId(1),
                trigger: ReconTrigger::Timeout,
                asked_ns: 1_700_000_000_000_000_000,
                lines: 3,
                mismatches: 1,
                in_flight: 2,
                orders_checked: true,
                positions_checked: false,
            }),
            CoreEvent::ReconResolved {
                venue: VenueId(0),
                account: None,
                instrument: Some(InstrumentId(3)),
                accept_venue: true,
                released: 2,
                restated: 1,
            },
            CoreEvent::ProtectionOverfill {
                leg: OrderId(6),
                flatten: Some(OrderId(9)),
                qty: Qty(2),
            },
            CoreEvent::ProtectionOverfill {
                leg: OrderId(6),
                flatten: None,
                qty: Qty(2),
            },
            CoreEvent::Unprotected {
                parent: OrderId(4),
                leg: OrderId(5),
                reason: Reason::VenueRejected,
            },
            CoreEvent::DeadLettered {
                order: OrderId(9),
                reason: Reason::RetriesExhausted,
                attempts: 6,
            },
            CoreEvent::DeadLetterResolved {
                order: OrderId(9),
                action: DeadLetterAction::Discarded,
            },
            CoreEvent::DeadLetterResolved {
                order: OrderId(9),
                action: DeadLetterAction::Redriven,
            },
            CoreEvent::RetryScheduled {
                order: OrderId(10),
                attempt: 2,
                due_ns: 1_700_000_000_123_456_789,
            },
            CoreEvent::BalanceLine(BalanceLine {
                report: 4,
                venue: VenueId(1),
                account: AccountId(0),
                asset: Name::new("BTC").unwrap(),
                status: ReconStatus::Mismatch,
                ours: 99_900,
                theirs: -1,
            }),
            CoreEvent::BalanceLine(BalanceLine {
                report: 5,
                venue: VenueId(1),
                account: AccountId(0),
                asset: Name::new("USDT").unwrap(),
                status: ReconStatus::Rebased,
                ours: -5,
                theirs: 7,
            }),
            CoreEvent::BalanceLine(BalanceLine {
                report: 5,
                venue: VenueId(1),
                account: AccountId(0),
                asset: Name::new("BNB").unwrap(),
                status: ReconStatus::InFlight,
                ours: 3,
                theirs: 0,
            }),
            CoreEvent::VenueLimits {
                venue: Name::new("binance").unwrap(),
                limits: RateLimits {
                    used_weight: 7,
                    weight_cap: 6_000,
                    orders: [
                        OrderWindow {
                            secs: 10,
                            count: 3,
                            cap: 5,
                        },
                        OrderWindow {
                            secs: 86_400,
                            count: 9,
                            cap: 200_000,
                        },
                    ],
                    retry_after_ms: 2_000,
                },
            },
            CoreEvent::VenueBackpressure {
                order: OrderId(11),
                request: Request::New,
            },
            CoreEvent::VenueBackpressure {
                order: OrderId(11),
                request: Request::Replace,
            },
        ];
        let mut buf = [0u8; MAX_EVENT];
        for ev in events {
            let n = encode_event(7, &ev, &mut buf).unwrap();
            assert_eq!(decode_event(&buf[..n]), Ok((7, ev)));
            for k in 0..n {
                assert!(decode_event(&buf[..k]).is_err());
            }
        }
        assert_eq!(encode_event(0, &CoreEvent::Synced(1), &mut buf), None);
        let end = CoreEvent::RowsEnd { next: Some(3) };
        assert_eq!(encode_event(0, &end, &mut buf), None);
        let row = crate::model::event::Row::Mode {
            account: crate::model::ids::AccountId(0),
            mode: Mode::Guide,
            halted: false,
        };
        assert_eq!(encode_event(0, &CoreEvent::Row(row), &mut buf), None);
    }
}
