//! Command records: every state-changing command as the core applied it, with its
//! producer, so replay can apply it again (R-RES-4). Queries change no state but are
//! recorded too: their answers are events the journal holds, and replay must derive
//! them again. Syncs, ticks and operator reads are not (their answers are never
//! recorded), so journals written before reads existed replay unchanged.

use super::bytes::{index_of, pick, CodecError, In, Out, R};
use super::MAX_COMMAND;
use crate::model::event::{Command, LimitChange, OperatorNote, OrderRef};
use crate::model::ids::{OrderId, OrderType, RequestId, Side, Tif};
use crate::model::reconcile::{ReconResolution, ReconTrigger};
use crate::model::request::{ExecutionRequest, Protect, UpstreamContext};

impl Out<'_> {
    fn protect(&mut self, p: Option<Protect>) {
        match p {
            None => self.u8(0),
            Some(Protect::Price(d)) => {
                self.u8(1);
                self.dec(d);
            }
            Some(Protect::OffsetPpm(o)) => {
                self.u8(2);
                self.i64(o);
            }
        }
    }
    fn order_ref(&mut self, r: &OrderRef) {
        match r {
            OrderRef::Id(id) => {
                self.u8(0);
                self.u64(id.0);
            }
            OrderRef::Request(q) => {
                self.u8(1);
                self.str(q);
            }
        }
    }
    fn request(&mut self, r: &ExecutionRequest) {
        self.str(&r.request_id);
        self.str(&r.account);
        self.str(&r.venue);
        self.str(&r.symbol);
        self.u8(r.side as u8);
        self.dec(r.quantity);
        self.u8(r.order_type as u8);
        self.u8(r.tif as u8);
        self.opt_dec(r.limit_price);
        self.opt_dec(r.stop_price);
        self.protect(r.stop_loss);
        self.protect(r.take_profit);
        self.opt_dec(r.reference_price);
        match r.max_slippage_bps {
            None => self.u8(0),
            Some(v) => {
                self.u8(1);
                self.u32(v);
            }
        }
        self.u8(r.reject_on_fill_slippage as u8);
        match r.expire_at_ns {
            None => self.u8(0),
            Some(v) => {
                self.u8(1);
                self.u64(v);
            }
        }
        let c = &r.context;
        self.str(&c.decision_id);
        self.str(&c.strategy);
        self.u8(c.risk_approved as u8);
        self.u8(c.trading_halted as u8);
        self.str(&c.strategy_version);
        self.str(&c.risk_version);
        self.u64(c.config_hash);
    }
}

impl In<'_> {
    fn protect(&mut self) -> R<Option<Protect>> {
        Ok(match self.u8()? {
            0 => None,
            1 => Some(Protect::Price(self.dec()?)),
            2 => Some(Protect::OffsetPpm(self.i64()?)),
            _ => return Err(CodecError("bad protection tag")),
        })
    }
    fn order_ref(&mut self) -> R<OrderRef> {
        Ok(match self.u8()? {
            0 => OrderRef::Id(OrderId(self.u64()?)),
            1 => OrderRef::Request(self.str()?),
            _ => return Err(CodecError("bad order reference")),
        })
    }
    fn request(&mut self) -> R<ExecutionRequest> {
        let request_id: RequestId = self.str()?;
        let account = self.str()?;
        let venue = self.str()?;
        let symbol = self.str()?;
        let side = match self.u8()? {
            0 => Side::Buy,
            1 => Side::Sell,
            _ => return Err(CodecError("bad side")),
        };
        let quantity = self.dec()?;
        let order_type = match self.u8()? {
            0 => OrderType::Market,
            1 => OrderType::Limit,
            2 => OrderType::Stop,
            3 => OrderType::StopLimit,
            _ => return Err(CodecError("bad order type")),
        };
        let tif = match self.u8()? {
            0 => Tif::Gtc,
            1 => Tif::Day,
            2 => Tif::Ioc,
            3 => Tif::Fok,
            _ => return Err(CodecError("bad time in force")),
        };
        let limit_price = self.opt_dec()?;
        let stop_price = self.opt_dec()?;
        let stop_loss = self.protect()?;
        let take_profit = self.protect()?;
        let reference_price = self.opt_dec()?;
        let max_slippage_bps = if self.bool()? {
            Some(self.u32()?)
        } else {
            None
        };
        let reject_on_fill_slippage = self.bool()?;
        let expire_at_ns = if self.bool()? {
            Some(self.u64()?)
        } else {
            None
        };
        let context = UpstreamContext {
            decision_id: self.str()?,
            strategy: self.str()?,
            risk_approved: self.bool()?,
            trading_halted: self.bool()?,
            strategy_version: self.str()?,
            risk_version: self.str()?,
            config_hash: self.u64()?,
        };
        Ok(ExecutionRequest {
            request_id,
            account,
            venue,
            symbol,
            side,
            quantity,
            order_type,
            tif,
            limit_price,
            stop_price,
            stop_loss,
            take_profit,
            reference_price,
            max_slippage_bps,
            reject_on_fill_slippage,
            expire_at_ns,
            context,
        })
    }
}

/// Encodes `cmd` from producer `origin` into `buf`; returns the length. `None` for
/// commands that change no state and are not journaled (queries, syncs, ticks).
pub fn encode_command(origin: u8, cmd: &Command, buf: &mut [u8; MAX_COMMAND]) -> Option<usize> {
    let mut o = Out::new(buf);
    o.u8(origin);
    match cmd {
        Command::Submit(r) => {
            o.u8(1);
            o.request(r);
        }
        Command::Cancel(r) => {
            o.u8(2);
            o.order_ref(r);
        }
        Command::Replace {
            order,
            quantity,
            limit_price,
        } => {
            o.u8(3);
            o.order_ref(order);
            o.opt_dec(*quantity);
            o.opt_dec(*limit_price);
        }
        Command::CancelAll(s) => {
            o.u8(4);
            o.scope(s);
        }
        Command::ModifyProtection {
            order,
            stop_loss,
            take_profit,
        } => {
            o.u8(5);
            o.order_ref(order);
            o.opt_dec(*stop_loss);
            o.opt_dec(*take_profit);
        }
        Command::SetKillSwitch {
            scope,
            state,
            cancel_open,
        } => {
            o.u8(6);
            o.scope(scope);
            o.u8(*state as u8);
            o.u8(*cancel_open as u8);
        }
        Command::SetMode { account, mode } => {
            o.u8(7);
            o.str(account);
            o.u8(*mode as u8);
        }
        Command::SetHalted { account, halted } => {
            o.u8(8);
            o.str(account);
            o.u8(*halted as u8);
        }
        Command::Quote {
            venue,
            symbol,
            bid,
            ask,
            bid_size,
            ask_size,
        } => {
            o.u8(9);
            o.str(venue);
            o.str(symbol);
            for d in [bid, ask, bid_size, ask_size] {
                o.dec(*d);
            }
        }
        Command::Query(r) => {
            o.u8(10);
            o.order_ref(r);
        }
        Command::SetLimits(c) => {
            o.u8(12);
            o.str(&c.venue);
            o.str(&c.symbol);
            o.opt_dec(c.max_order_qty);
            o.opt_dec(c.max_notional);
            o.opt_dec(c.max_position);
        }
        Command::Operator(n) => {
            o.u8(11);
            o.str(&n.operator);
            o.str(&n.reason);
        }
        Command::Reconcile {
            venue,
            trigger,
            hold,
        } => {
            o.u8(13);
            o.str(venue);
            o.u8(index_of(&ReconTrigger::ALL, trigger));
            o.u8(*hold as u8);
        }
        Command::ResolveReconciliation(r) => {
            o.u8(14);
            o.str(&r.venue);
            o.opt_str(&r.account);
            o.opt_str(&r.symbol);
            o.u8(r.accept_venue as u8);
        }
        Command::DeadLetter { order, redrive } => {
            o.u8(15);
            o.oid(*order);
            o.u8(*redrive as u8);
        }
        Command::Tick | Command::Sync(_) | Command::Read { .. } => return None,
    }
    Some(o.len())
}

/// Decodes a journaled command: its producer and the command.
pub fn decode_command(b: &[u8]) -> Result<(u8, Command), CodecError> {
    let mut i = In::new(b);
    let origin = i.u8()?;
    let cmd = match i.u8()? {
        1 => Command::Submit(i.request()?),
        2 => Command::Cancel(i.order_ref()?),
        3 => Command::Replace {
            order: i.order_ref()?,
            quantity: i.opt_dec()?,
            limit_price: i.opt_dec()?,
        },
        4 => Command::CancelAll(i.scope()?),
        5 => Command::ModifyProtection {
            order: i.order_ref()?,
            stop_loss: i.opt_dec()?,
            take_profit: i.opt_dec()?,
        },
        6 => Command::SetKillSwitch {
            scope: i.scope()?,
            state: i.kill_state()?,
            cancel_open: i.bool()?,
        },
        7 => Command::SetMode {
            account: i.str()?,
            mode: i.mode()?,
        },
        8 => Command::SetHalted {
            account: i.str()?,
            halted: i.bool()?,
        },
        9 => Command::Quote {
            venue: i.str()?,
            symbol: i.str()?,
            bid: i.dec()?,
            ask: i.dec()?,
            bid_size: i.dec()?,
            ask_size: i.dec()?,
        },
        10 => Command::Query(i.order_ref()?),
        12 => Command::SetLimits(LimitChange {
            venue: i.str()?,
            symbol: i.str()?,
            max_order_qty: i.opt_dec()?,
            max_notional: i.opt_dec()?,
            max_position: i.opt_dec()?,
        }),
        11 => Command::Operator(OperatorNote {
            operator: i.str()?,
            reason: i.str()?,
        }),
        13 => Command::Reconcile {
            venue: i.str()?,
            trigger: pick(&ReconTrigger::ALL, i.u8()?, "bad reconciliation trigger")?,
            hold: i.bool()?,
        },
        14 => Command::ResolveReconciliation(ReconResolution {
            venue: i.str()?,
            account: i.opt_str()?,
            symbol: i.opt_str()?,
            accept_venue: i.bool()?,
        }),
        15 => Command::DeadLetter {
            order: i.oid()?,
            redrive: i.bool()?,
        },
        _ => return Err(CodecError("unknown command tag")),
    };
    i.end()?;
    Ok((origin, cmd))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::control::{KillState, Mode};
    use crate::model::event::Scope;
    use crate::model::fixed::Dec;
    use crate::model::ids::{Name, ShortStr};

    fn round_trip(cmd: Command) {
        let mut buf = [0u8; MAX_COMMAND];
        let n = encode_command(3, &cmd, &mut buf).expect("journaled");
        assert_eq!(decode_command(&buf[..n]), Ok((3, cmd)));
        // Every truncation is an error, never a panic.
        for k in 0..n {
            assert!(
                decode_command(&buf[..k]).is_err(),
                "{k} of {n} bytes decoded"
            );
        }
    }

    #[test]
    fn every_command_round_trips() {
        let name = |s: &str| Name::new(s).unwrap();
        let mut r = ExecutionRequest::market(
            "req-1",
            "alpha",
            "paper",
            "AAPL",
            Side::Sell,
            Dec::new(15, 1),
        );
        r.order_type = OrderType::StopLimit;
        r.tif = Tif::Day;
        r.limit_price = Some(Dec::new(19_000, 2));
        r.stop_price = Some(Dec::new(19_050, 2));
        r.stop_loss = Some(Protect::OffsetPpm(12_345));
        r.take_profit = Some(Protect::Price(Dec::new(180, 0)));
        r.reference_price = Some(Dec::new(190, 0));
        r.max_slippage_bps = Some(7);
        r.reject_on_fill_slippage = true;
        r.expire_at_ns = Some(u64::MAX - 1);
        r.context.decision_id = RequestId::new("d-9").unwrap();
        r.context.config_hash = 0xfeed;
        round_trip(Command::Submit(r));
        round_trip(Command::Submit(ExecutionRequest::market(
            "x",
            "a",
            "v",
            "s",
            Side::Buy,
            Dec::new(1, 0),
        )));
        round_trip(Command::Cancel(OrderRef::Id(OrderId(77))));
        round_trip(Command::Cancel(OrderRef::Request(
            RequestId::new("req-1").unwrap(),
        )));
        round_trip(Command::Replace {
            order: OrderRef::Id(OrderId(5)),
            quantity: Some(Dec::new(3, 0)),
            limit_price: None,
        });
        round_trip(Command::CancelAll(Scope::Symbol(name("MSFT"))));
        round_trip(Command::ModifyProtection {
            order: OrderRef::Id(OrderId(1)),
            stop_loss: None,
            take_profit: Some(Dec::new(2, 0)),
        });
        round_trip(Command::SetKillSwitch {
            scope: Scope::Global,
            state: KillState::Active,
            cancel_open: true,
        });
        round_trip(Command::SetMode {
            account: name("advisor"),
            mode: Mode::Autonomous,
        });
        round_trip(Command::SetHalted {
            account: name("beta"),
            halted: true,
        });
        round_trip(Command::Quote {
            venue: name("paper"),
            symbol: name("EURUSD"),
            bid: Dec::new(108_500, 5),
            ask: Dec::new(108_510, 5),
            bid_size: Dec::new(0, 0),
            ask_size: Dec::new(1_000_000, 0),
        });
        round_trip(Command::Query(OrderRef::Id(OrderId(5))));
        round_trip(Command::SetLimits(LimitChange {
            venue: name("paper"),
            symbol: name("BTCUSDT"),
            max_order_qty: Some(Dec::parse("0.5").unwrap()),
            max_notional: None,
            max_position: Some(Dec::parse("3").unwrap()),
        }));
        round_trip(Command::Reconcile {
            venue: name("sim"),
            trigger: ReconTrigger::Start,
            hold: true,
        });
        round_trip(Command::ResolveReconciliation(ReconResolution {
            venue: name("sim"),
            account: Some(name("ACC1")),
            symbol: None,
            accept_venue: true,
        }));
        round_trip(Command::Operator(OperatorNote {
            operator: ShortStr::new("alice@desk").unwrap(),
            reason: ShortStr::new(&"why ".repeat(50)).unwrap(),
        }));
        round_trip(Command::DeadLetter {
            order: OrderId(12),
            redrive: true,
        });
        round_trip(Command::DeadLetter {
            order: OrderId(13),
            redrive: false,
        });
        let mut buf = [0u8; MAX_COMMAND];
        assert_eq!(encode_command(0, &Command::Sync(1), &mut buf), None);
        assert_eq!(encode_command(0, &Command::Tick, &mut buf), None);
        // Operator reads change nothing and are never journaled.
        let read = Command::Read {
            what: crate::model::event::Snapshot::Orders(Default::default()),
            from: 0,
            limit: 10,
        };
        assert_eq!(encode_command(0, &read, &mut buf), None);
    }
}
