//! The bytes of journaled commands: a small, explicit little-endian encoding of
//! [`Command`], written without allocating into a caller's buffer and read back with
//! every length and tag checked — a damaged record is an error, never a panic.

use crate::model::control::{KillState, Mode};
use crate::model::event::{Command, OrderRef, Scope};
use crate::model::fixed::Dec;
use crate::model::ids::{Name, OrderId, OrderType, RequestId, ShortStr, Side, Tif};
use crate::model::request::{ExecutionRequest, Protect, UpstreamContext};

/// Record kind: a command as the core applied it (payload: origin, then the command).
pub const KIND_COMMAND: u16 = 1;
/// Record kind: how this journal's engine was started (epoch, start time, config hash).
pub const KIND_START: u16 = 2;
/// Record kind: engine time reached (written at a clean stop; no payload), so a restart
/// does not deliver again what was delivered before it.
pub const KIND_TIME: u16 = 3;
/// Record kind: the configuration as TOML text, so a journal describes itself.
pub const KIND_CONFIG: u16 = 4;
/// Largest encoded command.
pub const MAX_COMMAND: usize = 512;

/// Why bytes could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CodecError(pub &'static str);

impl std::fmt::Display for CodecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

struct Out<'a> {
    buf: &'a mut [u8],
    n: usize,
}

impl Out<'_> {
    fn bytes(&mut self, b: &[u8]) {
        self.buf[self.n..self.n + b.len()].copy_from_slice(b);
        self.n += b.len();
    }
    fn u8(&mut self, v: u8) {
        self.bytes(&[v]);
    }
    fn u32(&mut self, v: u32) {
        self.bytes(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.bytes(&v.to_le_bytes());
    }
    fn i64(&mut self, v: i64) {
        self.bytes(&v.to_le_bytes());
    }
    fn str<const N: usize>(&mut self, s: &ShortStr<N>) {
        self.u8(s.as_bytes().len() as u8);
        self.bytes(s.as_bytes());
    }
    fn dec(&mut self, d: Dec) {
        self.i64(d.mant);
        self.u8(d.scale);
    }
    fn opt_dec(&mut self, d: Option<Dec>) {
        match d {
            None => self.u8(0),
            Some(d) => {
                self.u8(1);
                self.dec(d);
            }
        }
    }
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
    fn scope(&mut self, s: &Scope) {
        let (tag, name) = match s {
            Scope::Global => (0, Name::EMPTY),
            Scope::Venue(n) => (1, *n),
            Scope::Account(n) => (2, *n),
            Scope::Symbol(n) => (3, *n),
        };
        self.u8(tag);
        self.str(&name);
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

/// Encodes `cmd` from producer `origin` into `buf`; returns the length. `None` for
/// commands that change no state and are not journaled (queries, syncs, ticks).
pub fn encode(origin: u8, cmd: &Command, buf: &mut [u8; MAX_COMMAND]) -> Option<usize> {
    let mut o = Out { buf, n: 0 };
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
        Command::Query(_) | Command::Tick | Command::Sync(_) => return None,
    }
    Some(o.n)
}

struct In<'a> {
    b: &'a [u8],
}

type R<T> = Result<T, CodecError>;

impl In<'_> {
    fn take(&mut self, n: usize) -> R<&[u8]> {
        if self.b.len() < n {
            return Err(CodecError("record ends early"));
        }
        let (h, t) = self.b.split_at(n);
        self.b = t;
        Ok(h)
    }
    fn u8(&mut self) -> R<u8> {
        Ok(self.take(1)?[0])
    }
    fn bool(&mut self) -> R<bool> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(CodecError("bad flag")),
        }
    }
    fn u32(&mut self) -> R<u32> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().map_err(|_| CodecError("u32"))?,
        ))
    }
    fn u64(&mut self) -> R<u64> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().map_err(|_| CodecError("u64"))?,
        ))
    }
    fn i64(&mut self) -> R<i64> {
        Ok(self.u64()? as i64)
    }
    fn str<const N: usize>(&mut self) -> R<ShortStr<N>> {
        let n = self.u8()? as usize;
        ShortStr::from_bytes(self.take(n)?).map_err(|_| CodecError("bad string"))
    }
    fn dec(&mut self) -> R<Dec> {
        let mant = self.i64()?;
        let scale = self.u8()?;
        if scale > 18 {
            return Err(CodecError("bad decimal scale"));
        }
        Ok(Dec { mant, scale })
    }
    fn opt_dec(&mut self) -> R<Option<Dec>> {
        Ok(if self.bool()? {
            Some(self.dec()?)
        } else {
            None
        })
    }
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
    fn kill_state(&mut self) -> R<KillState> {
        match self.u8()? {
            0 => Ok(KillState::Off),
            1 => Ok(KillState::Warning),
            2 => Ok(KillState::Active),
            _ => Err(CodecError("bad kill-switch state")),
        }
    }
    fn mode(&mut self) -> R<Mode> {
        match self.u8()? {
            0 => Ok(Mode::Guide),
            1 => Ok(Mode::Autonomous),
            _ => Err(CodecError("bad mode")),
        }
    }
    fn scope(&mut self) -> R<Scope> {
        let tag = self.u8()?;
        let name: Name = self.str()?;
        Ok(match tag {
            0 => Scope::Global,
            1 => Scope::Venue(name),
            2 => Scope::Account(name),
            3 => Scope::Symbol(name),
            _ => return Err(CodecError("bad scope")),
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

/// Decodes a journaled command: its producer and the command.
pub fn decode(b: &[u8]) -> Result<(u8, Command), CodecError> {
    let mut i = In { b };
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
        _ => return Err(CodecError("unknown command tag")),
    };
    if !i.b.is_empty() {
        return Err(CodecError("trailing bytes"));
    }
    Ok((origin, cmd))
}

/// The start record: the client-order-id epoch, the engine's start time and the hash of
/// the configuration it ran with.
pub fn encode_start(epoch: u32, start_ns: u64, config_hash: u64) -> [u8; 20] {
    let mut b = [0u8; 20];
    b[..4].copy_from_slice(&epoch.to_le_bytes());
    b[4..12].copy_from_slice(&start_ns.to_le_bytes());
    b[12..].copy_from_slice(&config_hash.to_le_bytes());
    b
}

/// Reads a start record.
pub fn decode_start(b: &[u8]) -> Result<(u32, u64, u64), CodecError> {
    let mut i = In { b };
    let epoch = i.u32()?;
    let start = i.u64()?;
    let hash = i.u64()?;
    Ok((epoch, start, hash))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(cmd: Command) {
        let mut buf = [0u8; MAX_COMMAND];
        let n = encode(3, &cmd, &mut buf).expect("journaled");
        assert_eq!(decode(&buf[..n]), Ok((3, cmd)));
        // Every truncation is an error, never a panic.
        for k in 0..n {
            assert!(decode(&buf[..k]).is_err(), "{k} of {n} bytes decoded");
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
        let mut buf = [0u8; MAX_COMMAND];
        assert_eq!(encode(0, &Command::Sync(1), &mut buf), None);
    }

    #[test]
    fn every_event_round_trips() {
        use crate::model::event::{CoreEvent, OrderStatus};
        use crate::model::fixed::{Money, Price, Qty};
        use crate::model::ids::{ClOrdId, InstrumentId};
        use crate::model::order_state::{OmsEvent, OrderState};
        use crate::model::reason::Reason;
        use crate::model::slippage::{SlipCategory, Slippage};
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
            CoreEvent::HaltChanged {
                account: Name::new("a").unwrap(),
                halted: true,
            },
            CoreEvent::VenueSession {
                venue: Name::new("broker").unwrap(),
                up: true,
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
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(decode(&[]).is_err());
        assert!(decode(&[0, 99]).is_err());
        assert!(decode(&[0, 2, 7, 0]).is_err());
        let mut rng = fastrand::Rng::with_seed(1);
        for _ in 0..10_000 {
            let n = rng.usize(0..200);
            let b: Vec<u8> = (0..n).map(|_| rng.u8(..)).collect();
            let _ = decode(&b); // must not panic
            let _ = decode_event(&b);
        }
        assert_eq!(decode_start(&encode_start(7, 9, 11)), Ok((7, 9, 11)));
    }
}

/// Record kind: an event the core emitted (payload: producer, then the event) — what
/// upstream was told, kept as a fact so replay can prove it derives the same.
pub const KIND_EVENT: u16 = 5;
/// Largest encoded event.
pub const MAX_EVENT: usize = 160;
/// Record kind: an input from an external venue (payload: venue, wire sequence number,
/// time, the venue event) — replay feeds it back instead of a live session.
pub const KIND_VENUE: u16 = 6;
/// Producer number of a broadcast event.
pub const BROADCAST: u8 = 255;

mod events {
    use super::*;
    use crate::model::event::{CoreEvent, OrderStatus};
    use crate::model::fixed::{Money, Price, Qty};
    use crate::model::ids::{ClOrdId, InstrumentId};
    use crate::model::order_state::{OmsEvent, OrderState};
    use crate::model::reason::Reason;
    use crate::model::slippage::{SlipCategory, Slippage};
    use crate::venue::{VenueEvent, VenueEventKind};

    fn index_of<T: PartialEq>(all: &[T], x: &T) -> u8 {
        all.iter().position(|y| y == x).unwrap_or(0) as u8
    }

    fn pick<T: Copy>(all: &[T], i: u8, what: &'static str) -> Result<T, CodecError> {
        all.get(i as usize).copied().ok_or(CodecError(what))
    }

    impl Out<'_> {
        fn oid(&mut self, o: OrderId) {
            self.u64(o.0);
        }
        fn opt_oid(&mut self, o: Option<OrderId>) {
            self.u64(o.map_or(0, |o| o.0));
        }
        fn reason(&mut self, r: Option<Reason>) {
            self.u8(r.map_or(255, |r| index_of(Reason::ALL, &r)));
        }
        fn state(&mut self, s: OrderState) {
            self.u8(index_of(&OrderState::ALL, &s));
        }
    }

    impl In<'_> {
        fn oid(&mut self) -> R<OrderId> {
            Ok(OrderId(self.u64()?))
        }
        fn opt_oid(&mut self) -> R<Option<OrderId>> {
            let v = self.u64()?;
            Ok((v != 0).then_some(OrderId(v)))
        }
        fn reason(&mut self) -> R<Option<Reason>> {
            match self.u8()? {
                255 => Ok(None),
                i => pick(Reason::ALL, i, "bad reason").map(Some),
            }
        }
        fn state(&mut self) -> R<OrderState> {
            pick(&OrderState::ALL, self.u8()?, "bad order state")
        }
    }

    /// Encodes an event from the core; `None` for syncs, which carry no fact.
    pub fn encode_event(origin: u8, ev: &CoreEvent, buf: &mut [u8; MAX_EVENT]) -> Option<usize> {
        let mut o = Out { buf, n: 0 };
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
                o.u32(cl_ord_id.epoch);
                o.oid(cl_ord_id.order);
                o.u32(cl_ord_id.version as u32);
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
            CoreEvent::VenueSession { venue, up } => {
                o.u8(13);
                o.str(&venue);
                o.u8(up as u8);
            }
            CoreEvent::Synced(_) => return None,
        }
        Some(o.n)
    }

    /// Decodes a journaled event: its producer and the event.
    pub fn decode_event(b: &[u8]) -> Result<(u8, CoreEvent), CodecError> {
        let mut i = In { b };
        let origin = i.u8()?;
        let ev = match i.u8()? {
            1 => CoreEvent::Accepted {
                request_id: i.str()?,
                order: i.oid()?,
                cl_ord_id: ClOrdId {
                    epoch: i.u32()?,
                    order: i.oid()?,
                    version: u16::try_from(i.u32()?).map_err(|_| CodecError("bad version"))?,
                },
                content_hash: i.u64()?,
                warning: i.bool()?,
            },
            2 => CoreEvent::Rejected {
                request_id: i.str()?,
                order: i.oid()?,
                reason: i.reason()?.ok_or(CodecError("missing reason"))?,
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
                reason: i.reason()?.ok_or(CodecError("missing reason"))?,
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
            13 => CoreEvent::VenueSession {
                venue: i.str()?,
                up: i.bool()?,
            },
            _ => return Err(CodecError("unknown event tag")),
        };
        if !i.b.is_empty() {
            return Err(CodecError("trailing bytes"));
        }
        Ok((origin, ev))
    }

    /// Encodes an input from an external venue (a FIX message's effect) for `venue`.
    pub fn encode_venue_input(venue: u16, ev: &VenueEvent, buf: &mut [u8; MAX_EVENT]) -> usize {
        let mut o = Out { buf, n: 0 };
        o.bytes(&venue.to_le_bytes());
        o.u64(ev.src_seq);
        o.u64(ev.at_ns);
        let cl = |o: &mut Out<'_>, c: ClOrdId| {
            o.u32(c.epoch);
            o.oid(c.order);
            o.u32(c.version as u32);
        };
        match ev.kind {
            VenueEventKind::Ack {
                cl: c,
                venue_order_id,
            } => {
                o.u8(1);
                cl(&mut o, c);
                o.u64(venue_order_id);
            }
            VenueEventKind::Rejected { cl: c, reason } => {
                o.u8(2);
                cl(&mut o, c);
                o.reason(Some(reason));
            }
            VenueEventKind::Fill {
                cl: c,
                exec_id,
                px,
                qty,
                fee,
            } => {
                o.u8(3);
                cl(&mut o, c);
                o.u64(exec_id);
                o.i64(px.0);
                o.i64(qty.0);
                o.i64(fee.0);
            }
            VenueEventKind::Canceled { cl: c } => {
                o.u8(4);
                cl(&mut o, c);
            }
            VenueEventKind::CancelRejected { cl: c, reason } => {
                o.u8(5);
                cl(&mut o, c);
                o.reason(Some(reason));
            }
            VenueEventKind::Replaced { cl: c, qty, limit } => {
                o.u8(6);
                cl(&mut o, c);
                o.i64(qty.0);
                o.i64(limit.0);
            }
            VenueEventKind::ReplaceRejected { cl: c, reason } => {
                o.u8(7);
                cl(&mut o, c);
                o.reason(Some(reason));
            }
            VenueEventKind::Expired { cl: c } => {
                o.u8(8);
                cl(&mut o, c);
            }
            VenueEventKind::Quote { instrument, quote } => {
                o.u8(9);
                o.u32(instrument.0 as u32);
                o.i64(quote.bid.0);
                o.i64(quote.ask.0);
                o.i64(quote.bid_size.0);
                o.i64(quote.ask_size.0);
                o.u64(quote.at_ns);
            }
            VenueEventKind::Session { up } => {
                o.u8(10);
                o.u8(up as u8);
            }
        }
        o.n
    }

    /// Decodes [`encode_venue_input`]'s bytes: the venue and its event.
    pub fn decode_venue_input(b: &[u8]) -> Result<(u16, VenueEvent), CodecError> {
        let mut i = In { b };
        let v = i.take(2)?;
        let venue = u16::from_le_bytes([v[0], v[1]]);
        let src_seq = i.u64()?;
        let at_ns = i.u64()?;
        fn cl(i: &mut In<'_>) -> R<ClOrdId> {
            Ok(ClOrdId {
                epoch: i.u32()?,
                order: i.oid()?,
                version: u16::try_from(i.u32()?).map_err(|_| CodecError("bad version"))?,
            })
        }
        let reason = |i: &mut In<'_>| i.reason()?.ok_or(CodecError("missing reason"));
        let kind = match i.u8()? {
            1 => VenueEventKind::Ack {
                cl: cl(&mut i)?,
                venue_order_id: i.u64()?,
            },
            2 => VenueEventKind::Rejected {
                cl: cl(&mut i)?,
                reason: reason(&mut i)?,
            },
            3 => VenueEventKind::Fill {
                cl: cl(&mut i)?,
                exec_id: i.u64()?,
                px: Price(i.i64()?),
                qty: Qty(i.i64()?),
                fee: Money(i.i64()?),
            },
            4 => VenueEventKind::Canceled { cl: cl(&mut i)? },
            5 => VenueEventKind::CancelRejected {
                cl: cl(&mut i)?,
                reason: reason(&mut i)?,
            },
            6 => VenueEventKind::Replaced {
                cl: cl(&mut i)?,
                qty: Qty(i.i64()?),
                limit: Price(i.i64()?),
            },
            7 => VenueEventKind::ReplaceRejected {
                cl: cl(&mut i)?,
                reason: reason(&mut i)?,
            },
            8 => VenueEventKind::Expired { cl: cl(&mut i)? },
            9 => VenueEventKind::Quote {
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
            },
            10 => VenueEventKind::Session { up: i.bool()? },
            _ => return Err(CodecError("unknown venue input tag")),
        };
        if !i.b.is_empty() {
            return Err(CodecError("trailing bytes"));
        }
        Ok((
            venue,
            VenueEvent {
                at_ns,
                kind,
                src_seq,
            },
        ))
    }
}

pub use events::{decode_event, decode_venue_input, encode_event, encode_venue_input};
