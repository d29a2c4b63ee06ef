//! Venue-input records: what an external venue (a FIX session) told the core, with the
//! wire sequence number it came in under and when it was applied. Replay cannot derive
//! these; it feeds them back to a recorded stand-in instead of a live session.

use super::bytes::{CodecError, In, Out};
use super::MAX_EVENT;
use crate::model::fixed::{Money, Price, Qty};
use crate::model::ids::{AccountId, InstrumentId};
use crate::venue::{OrderWindow, RateLimits, Request, VenueEvent, VenueEventKind, VenueOrderState};

// Numbered for the journal: never renumber, only add.
fn order_state_tag(s: VenueOrderState) -> u8 {
    match s {
        VenueOrderState::Working => 1,
        VenueOrderState::Pending => 2,
        VenueOrderState::Filled => 3,
        VenueOrderState::Canceled => 4,
        VenueOrderState::Expired => 5,
        VenueOrderState::Rejected => 6,
        VenueOrderState::Unknown => 7,
    }
}

fn order_state_of(tag: u8) -> Result<VenueOrderState, CodecError> {
    Ok(match tag {
        1 => VenueOrderState::Working,
        2 => VenueOrderState::Pending,
        3 => VenueOrderState::Filled,
        4 => VenueOrderState::Canceled,
        5 => VenueOrderState::Expired,
        6 => VenueOrderState::Rejected,
        7 => VenueOrderState::Unknown,
        _ => return Err(CodecError("unknown venue order state")),
    })
}

fn request_tag(r: Request) -> u8 {
    match r {
        Request::New => 1,
        Request::Cancel => 2,
        Request::Replace => 3,
    }
}

fn request_of(tag: u8) -> Result<Request, CodecError> {
    Ok(match tag {
        1 => Request::New,
        2 => Request::Cancel,
        3 => Request::Replace,
        _ => return Err(CodecError("unknown request kind")),
    })
}

/// Encodes an input from an external venue (a FIX message's effect) for `venue`.
pub fn encode_venue_input(venue: u16, ev: &VenueEvent, buf: &mut [u8; MAX_EVENT]) -> usize {
    let mut o = Out::new(buf);
    o.bytes(&venue.to_le_bytes());
    o.u64(ev.src_seq);
    o.u64(ev.at_ns);
    match ev.kind {
        VenueEventKind::Ack {
            cl: c,
            venue_order_id,
        } => {
            o.u8(1);
            o.cl(c);
            o.u64(venue_order_id);
        }
        VenueEventKind::Rejected { cl: c, reason } => {
            o.u8(2);
            o.cl(c);
            o.reason(Some(reason));
        }
        VenueEventKind::Fill {
            cl: c,
            exec_id,
            px,
            qty,
            fee,
            cum,
        } => {
            // Tag 3 is a fill without CumQty (what journals before it hold), 13 with.
            o.u8(if cum.is_some() { 13 } else { 3 });
            o.cl(c);
            o.u64(exec_id);
            o.i64(px.0);
            o.i64(qty.0);
            o.i64(fee.0);
            if let Some(c) = cum {
                o.i64(c.0);
            }
        }
        VenueEventKind::Canceled { cl: c } => {
            o.u8(4);
            o.cl(c);
        }
        VenueEventKind::CancelRejected { cl: c, reason } => {
            o.u8(5);
            o.cl(c);
            o.reason(Some(reason));
        }
        VenueEventKind::Replaced { cl: c, qty, limit } => {
            o.u8(6);
            o.cl(c);
            o.i64(qty.0);
            o.i64(limit.0);
        }
        VenueEventKind::ReplaceRejected { cl: c, reason } => {
            o.u8(7);
            o.cl(c);
            o.reason(Some(reason));
        }
        VenueEventKind::Expired { cl: c } => {
            o.u8(8);
            o.cl(c);
        }
        VenueEventKind::Quote {
            instrument,
            quote,
            venue_ns,
        } => {
            // Tag 9 is a quote without the venue's time (what journals before it hold),
            // 19 with.
            o.u8(if venue_ns != 0 { 19 } else { 9 });
            o.u32(instrument.0 as u32);
            o.i64(quote.bid.0);
            o.i64(quote.ask.0);
            o.i64(quote.bid_size.0);
            o.i64(quote.ask_size.0);
            o.u64(quote.at_ns);
            if venue_ns != 0 {
                o.u64(venue_ns);
            }
        }
        VenueEventKind::Session { up } => {
            o.u8(10);
            o.u8(up as u8);
        }
        VenueEventKind::Status {
            cl: c,
            state,
            filled,
        } => {
            o.u8(11);
            o.cl(c);
            o.u8(order_state_tag(state));
            match filled {
                Some((q, p)) => {
                    o.u8(1);
                    o.i64(q.0);
                    o.i64(p.0);
                }
                None => o.u8(0),
            }
        }
        VenueEventKind::Restarted => o.u8(12),
        VenueEventKind::Position {
            account,
            instrument,
            qty,
        } => {
            o.u8(14);
            o.u32(account.0 as u32);
            o.u32(instrument.0 as u32);
            o.i64(qty.0);
        }
        VenueEventKind::SnapshotEnd {
            orders,
            positions,
            foreign,
        } => {
            o.u8(15);
            o.u8(orders as u8);
            o.u8(positions as u8);
            o.u32(foreign);
        }
        VenueEventKind::Listed { cl, cum } => {
            o.u8(18);
            o.cl(cl);
            o.i64(cum.0);
        }
        VenueEventKind::NotSent { cl: c } => {
            o.u8(16);
            o.cl(c);
        }
        VenueEventKind::Balance {
            account,
            asset,
            free,
            locked,
            wallet,
        } => {
            o.u8(24);
            o.u32(account.0 as u32);
            o.str(&asset);
            o.i64(free);
            o.i64(locked);
            o.u8(wallet as u8);
        }
        VenueEventKind::FillAssets {
            cl: c,
            exec_id,
            base,
            base_delta,
            quote,
            quote_delta,
            fee_asset,
            fee,
        } => {
            o.u8(25);
            o.cl(c);
            o.u64(exec_id);
            o.str(&base);
            o.i64(base_delta);
            o.str(&quote);
            o.i64(quote_delta);
            o.str(&fee_asset);
            o.i64(fee);
        }
        VenueEventKind::RateLimit(l) => {
            o.u8(21);
            o.u32(l.used_weight);
            o.u32(l.weight_cap);
            for w in l.orders {
                o.u32(w.secs);
                o.u32(w.count);
                o.u32(w.cap);
            }
            o.u32(l.retry_after_ms);
        }
        VenueEventKind::Backpressure { cl: c, request } => {
            o.u8(22);
            o.cl(c);
            o.u8(request_tag(request));
        }
    }
    o.len()
}

/// Decodes [`encode_venue_input`]'s bytes: the venue and its event.
pub fn decode_venue_input(b: &[u8]) -> Result<(u16, VenueEvent), CodecError> {
    let mut i = In::new(b);
    let v = i.take(2)?;
    let venue = u16::from_le_bytes([v[0], v[1]]);
    let src_seq = i.u64()?;
    let at_ns = i.u64()?;
    let kind = match i.u8()? {
        1 => VenueEventKind::Ack {
            cl: i.cl()?,
            venue_order_id: i.u64()?,
        },
        2 => VenueEventKind::Rejected {
            cl: i.cl()?,
            reason: i.some_reason()?,
        },
        tag @ (3 | 13) => VenueEventKind::Fill {
            cl: i.cl()?,
            exec_id: i.u64()?,
            px: Price(i.i64()?),
            qty: Qty(i.i64()?),
            fee: Money(i.i64()?),
            cum: if tag == 13 { Some(Qty(i.i64()?)) } else { None },
        },
        4 => VenueEventKind::Canceled { cl: i.cl()? },
        5 => VenueEventKind::CancelRejected {
            cl: i.cl()?,
            reason: i.some_reason()?,
        },
        6 => VenueEventKind::Replaced {
            cl: i.cl()?,
            qty: Qty(i.i64()?),
            limit: Price(i.i64()?),
        },
        7 => VenueEventKind::ReplaceRejected {
            cl: i.cl()?,
            reason: i.some_reason()?,
        },
        8 => VenueEventKind::Expired { cl: i.cl()? },
        tag @ (9 | 19) => VenueEventKind::Quote {
            instrument: InstrumentId(
                u16::try_from(i.u32()?).map_err(|_| CodecError("bad instrument"))?,
            ),
            quote: crate::model::quote::Quote {
                bid: Price(i.i64()?),
                ask: Price(i.i64()?),
                bid_size: Qty(i.i64()?),
                ask_size: Qty(i.i64()?),
                at_ns: i.u64()?,
            },
            venue_ns: if tag == 19 { i.u64()? } else { 0 },
        },
        10 => VenueEventKind::Session { up: i.bool()? },
        11 => VenueEventKind::Status {
            cl: i.cl()?,
            state: order_state_of(i.u8()?)?,
            filled: match i.u8()? {
                0 => None,
                1 => Some((Qty(i.i64()?), Price(i.i64()?))),
                _ => return Err(CodecError("bad status fill flag")),
            },
        },
        12 => VenueEventKind::Restarted,
        14 => VenueEventKind::Position {
            account: AccountId(u16::try_from(i.u32()?).map_err(|_| CodecError("bad account"))?),
            instrument: InstrumentId(
                u16::try_from(i.u32()?).map_err(|_| CodecError("bad instrument"))?,
            ),
            qty: Qty(i.i64()?),
        },
        15 => VenueEventKind::SnapshotEnd {
            orders: i.bool()?,
            positions: i.bool()?,
            foreign: i.u32()?,
        },
        18 => VenueEventKind::Listed {
            cl: i.cl()?,
            cum: Qty(i.i64()?),
        },
        16 => VenueEventKind::NotSent { cl: i.cl()? },
        24 => VenueEventKind::Balance {
            account: AccountId(u16::try_from(i.u32()?).map_err(|_| CodecError("bad account"))?),
            asset: i.str()?,
            free: i.i64()?,
            locked: i.i64()?,
            wallet: i.bool()?,
        },
        25 => VenueEventKind::FillAssets {
            cl: i.cl()?,
            exec_id: i.u64()?,
            base: i.str()?,
            base_delta: i.i64()?,
            quote: i.str()?,
            quote_delta: i.i64()?,
            fee_asset: i.str()?,
            fee: i.i64()?,
        },
        21 => {
            let used_weight = i.u32()?;
            let weight_cap = i.u32()?;
            let mut orders = [OrderWindow::default(); 2];
            for w in &mut orders {
                w.secs = i.u32()?;
                w.count = i.u32()?;
                w.cap = i.u32()?;
            }
            VenueEventKind::RateLimit(RateLimits {
                used_weight,
                weight_cap,
                orders,
                retry_after_ms: i.u32()?,
            })
        }
        22 => VenueEventKind::Backpressure {
            cl: i.cl()?,
            request: request_of(i.u8()?)?,
        },
        _ => return Err(CodecError("unknown venue input tag")),
    };
    i.end()?;
    Ok((
        venue,
        VenueEvent {
            at_ns,
            kind,
            src_seq,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ids::{ClOrdId, OrderId};
    use crate::model::reason::Reason;

    #[test]
    fn every_venue_input_round_trips() {
        let cl = ClOrdId {
            epoch: 7,
            order: OrderId(42),
            version: 3,
        };
        let kinds = [
            VenueEventKind::Ack {
                cl,
                venue_order_id: 9,
            },
            VenueEventKind::Rejected {
                cl,
                reason: Reason::VenueFunds,
            },
            VenueEventKind::Fill {
                cl,
                exec_id: 5,
                px: Price(10_001),
                qty: Qty(3),
                fee: Money(-2),
                cum: Some(Qty(7)),
            },
            VenueEventKind::Fill {
                cl,
                exec_id: 6,
                px: Price(10_001),
                qty: Qty(3),
                fee: Money(0),
                cum: None,
            },
            VenueEventKind::Canceled { cl },
            VenueEventKind::CancelRejected {
                cl,
                reason: Reason::VenueUnknownOrder,
            },
            VenueEventKind::Replaced {
                cl,
                qty: Qty(4),
                limit: Price(99),
            },
            VenueEventKind::ReplaceRejected {
                cl,
                reason: Reason::VenueRejected,
            },
            VenueEventKind::Expired { cl },
            VenueEventKind::Quote {
                instrument: InstrumentId(2),
                quote: crate::model::quote::Quote {
                    bid: Price(1),
                    ask: Price(2),
                    bid_size: Qty(3),
                    ask_size: Qty(4),
                    at_ns: 5,
                },
                venue_ns: 0,
            },
            VenueEventKind::Quote {
                instrument: InstrumentId(2),
                quote: crate::model::quote::Quote {
                    bid: Price(1),
                    ask: Price(2),
                    bid_size: Qty(3),
                    ask_size: Qty(4),
                    at_ns: 5,
                },
                venue_ns: 4,
            },
            VenueEventKind::Session { up: true },
            VenueEventKind::Position {
                account: crate::model::ids::AccountId(1),
                instrument: InstrumentId(2),
                qty: Qty(-500),
            },
            VenueEventKind::SnapshotEnd {
                orders: true,
                positions: false,
                foreign: 2,
            },
            VenueEventKind::Listed { cl, cum: Qty(3) },
            VenueEventKind::Status {
                cl,
                state: VenueOrderState::Filled,
                filled: Some((Qty(10), Price(10_050))),
            },
            VenueEventKind::Status {
                cl,
                state: VenueOrderState::Unknown,
                filled: None,
            },
            VenueEventKind::Restarted,
            VenueEventKind::NotSent { cl },
            VenueEventKind::Balance {
                account: crate::model::ids::AccountId(1),
                asset: crate::model::ids::Name::new("USDT").unwrap(),
                free: 99_899_899_000_000,
                locked: 100_000_000,
                wallet: false,
            },
            VenueEventKind::Balance {
                account: crate::model::ids::AccountId(0),
                asset: crate::model::ids::Name::new("BNFCR").unwrap(),
                free: -5,
                locked: 0,
                wallet: true,
            },
            VenueEventKind::FillAssets {
                cl,
                exec_id: 12,
                base: crate::model::ids::Name::new("BTC").unwrap(),
                base_delta: 100_000,
                quote: crate::model::ids::Name::new("USDT").unwrap(),
                quote_delta: -10_000_000_000,
                fee_asset: crate::model::ids::Name::new("BTC").unwrap(),
                fee: 100,
            },
            VenueEventKind::RateLimit(RateLimits {
                used_weight: 1_199,
                weight_cap: 6_000,
                orders: [
                    OrderWindow {
                        secs: 10,
                        count: 50,
                        cap: 100,
                    },
                    OrderWindow {
                        secs: 86_400,
                        count: 70_000,
                        cap: 200_000,
                    },
                ],
                retry_after_ms: 7_000,
            }),
            VenueEventKind::RateLimit(RateLimits::default()),
            VenueEventKind::Backpressure {
                cl,
                request: Request::New,
            },
            VenueEventKind::Backpressure {
                cl,
                request: Request::Cancel,
            },
            VenueEventKind::Backpressure {
                cl,
                request: Request::Replace,
            },
        ];
        let mut buf = [0u8; MAX_EVENT];
        for (i, kind) in kinds.into_iter().enumerate() {
            let ev = VenueEvent {
                at_ns: 1_000 + i as u64,
                kind,
                src_seq: 77,
            };
            let n = encode_venue_input(3, &ev, &mut buf);
            assert_eq!(decode_venue_input(&buf[..n]), Ok((3, ev)), "{kind:?}");
        }
        for s in [
            VenueOrderState::Working,
            VenueOrderState::Pending,
            VenueOrderState::Filled,
            VenueOrderState::Canceled,
            VenueOrderState::Expired,
            VenueOrderState::Rejected,
            VenueOrderState::Unknown,
        ] {
            assert_eq!(order_state_of(order_state_tag(s)), Ok(s));
        }
    }
}
