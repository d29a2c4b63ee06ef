//! What a broker's messages mean to the core: execution reports, status answers, cancel
//! rejects, business rejects and position reports become venue events. Every value is
//! input, not truth (R-RES-5): read with checked arithmetic into the instrument's scale
//! and range, and what does not fit is an anomaly with the raw message, never booked.

use super::codec::Msg;
use super::market_data::MarketData;
use super::{msg_type, tag};
use crate::config::Registry;
use crate::model::fixed::Dec;
use crate::model::fixed::{rescale, Money, Price, Qty, MONEY_SCALE};
use crate::model::ids::{
    AccountId, ClOrdId, InstrumentId, Name, OrderId, OrderType, Side, Tif, VenueId,
};
use crate::model::reason::Reason;
use crate::venue::{VenueEvent, VenueEventKind, VenueOrderState};
use std::collections::VecDeque;
use std::sync::Arc;

/// Where a mass status report stands in its answer: the last one (912=Y), and how
/// many there are (911).
fn mass_status_position(msg: &Msg<'_>) -> (bool, Option<u32>) {
    let last = msg.get(tag::LAST_RPT_REQUESTED) == Some(b"Y");
    let total = msg
        .get_u64(tag::TOT_NUM_REPORTS)
        .map(|n| n.min(u32::MAX as u64) as u32);
    (last, total)
}

/// Messages remembered by sequence number, to route a session reject to its order.
pub(super) const SENT_MAP: usize = 4096;

/// Counters an operator reads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FixStats {
    /// Connections established.
    pub connects: u64,
    /// Connection attempts that failed.
    pub connect_failures: u64,
    /// Logons completed.
    pub logons: u64,
    /// Application messages sent.
    pub sent: u64,
    /// Application messages received.
    pub received: u64,
    /// Messages the core asked for while the session was down (left to time out).
    pub unsent: u64,
    /// Reports for orders this core did not send, or that could not be read.
    pub anomalies: u64,
    /// Trade corrections and busts received (reported, not applied).
    pub trade_corrections: u64,
    /// Messages that failed dictionary validation (rejected, still applied).
    pub invalid: u64,
    /// Status requests sent for orders whose outcome was unknown.
    pub status_requests: u64,
    /// Position reports received.
    pub position_reports: u64,
    /// Requests the broker said it does not support (mass status, positions).
    pub unsupported: u64,
    /// Messages from the broker this venue does not handle (answered with 35=j).
    pub unsupported_received: u64,
    /// Reports naming a ClOrdID of ours this session has no record of (logged with the
    /// message; the core decides whether it holds the order).
    pub unknown_orders: u64,
    /// Market data (R-VEN-6): requests, refusals, refreshes, quotes.
    pub market_data: super::market_data::MdStats,
    /// Quotes dropped for a newer one of the same instrument before the core took them
    /// (one per instrument per core cycle reaches the journal).
    pub quotes_conflated: u64,
    /// Writes the session's message store refused (a full disk): the sequence numbers
    /// or the messages a resend would need may not be on disk.
    pub store_errors: u64,
}

/// What the venue remembers of an order: enough to fill in cancels, replaces and status
/// requests, and to check what the broker says of it.
#[derive(Clone, Copy, Debug)]
pub(super) struct Sent {
    /// 0: the slot is empty (order ids start at 1).
    pub(super) order: u64,
    pub(super) instrument: InstrumentId,
    pub(super) account: AccountId,
    pub(super) side: Side,
    pub(super) order_type: OrderType,
    pub(super) tif: Tif,
    /// Quantity, limit and stop as the broker last confirmed them (mantissas).
    pub(super) qty: i64,
    pub(super) limit: i64,
    pub(super) stop: i64,
    /// A replace in flight: the quantity and price (the stop of a stop order, else the
    /// limit) asked for — what a Replaced report that does not restate them means.
    pub(super) asked: Option<(i64, i64)>,
    /// Protective: sent with the broker's reduce-only ExecInst, and replaced with it.
    pub(super) reduce_only: bool,
}

impl Sent {
    pub(super) const EMPTY: Sent = Sent {
        order: 0,
        instrument: InstrumentId(0),
        account: AccountId(0),
        side: Side::Buy,
        order_type: OrderType::Market,
        tif: Tif::Day,
        qty: 0,
        limit: 0,
        stop: 0,
        asked: None,
        reduce_only: false,
    };

    /// The price a replace moves: a stop order's stop, any other order's limit.
    pub(super) fn price(&self) -> i64 {
        if self.order_type == OrderType::Stop {
            self.stop
        } else {
            self.limit
        }
    }

    /// With new terms: asked for (`asked`), or confirmed (none left in flight).
    pub(super) fn with_terms(mut self, qty: i64, px: i64, asked: bool) -> Sent {
        if asked {
            self.asked = Some((qty, px));
            return self;
        }
        self.qty = qty;
        if self.order_type == OrderType::Stop {
            self.stop = px;
        } else {
            self.limit = px;
        }
        self.asked = None;
        self
    }
}

/// One of our messages, remembered by its MsgSeqNum so that a session or business
/// reject of it reaches what it was about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Outstanding {
    /// Nothing remembered under this number.
    Nothing,
    /// A NewOrderSingle.
    New(ClOrdId),
    /// An OrderCancelRequest (the cancel's own ClOrdID).
    Cancel(ClOrdId),
    /// An OrderCancelReplaceRequest (the replace's own ClOrdID).
    Replace(ClOrdId),
    /// An OrderStatusRequest.
    Status(ClOrdId),
    /// An OrderMassStatusRequest.
    MassStatus,
    /// A RequestForPositions.
    Positions,
    /// A NewOrderList of two one-cancels-other legs (their ClOrdIDs).
    List(ClOrdId, ClOrdId),
    /// A MarketDataRequest for an instrument.
    MarketData(InstrumentId),
}

/// Turns inbound application messages into venue events.
pub(super) struct Mapping {
    pub(super) reg: Arc<Registry>,
    pub(super) venue: VenueId,
    pub(super) orders: Vec<Sent>,
    pub(super) by_seq: Vec<(u64, Outstanding)>,
    pub(super) stats: FixStats,
    /// Net position per account × instrument as the broker last reported it.
    pub(super) positions: Vec<Option<i64>>,
    /// Inbound messages to answer with a BusinessMessageReject (seq, MsgType).
    pub(super) to_reject: Vec<(u64, [u8; 8], u8)>,
    /// Orders a report about could not be booked (a value out of range): their state is
    /// asked for, so the venue's status answer settles them (never a guess).
    pub(super) to_query: Vec<ClOrdId>,
    /// The legs of the last lists sent, by slot `ListID`'s first leg's order id modulo
    /// [`super::lists::LISTS_KEPT`]: a ListStatus that names only its ListID reaches
    /// both.
    pub(super) lists: Vec<(ClOrdId, ClOrdId)>,
    /// Messages logged (or not shown) so far.
    logged: u64,
    /// A reconciliation's questions being answered.
    pub(super) snap: super::snapshot::Snapshot,
    /// Top of book per instrument, from the broker's market data (R-VEN-6).
    pub(super) md: MarketData,
}

/// Broker messages logged whole before the log thins out (see `Mapping::log`).
const LOG_WHOLE: u64 = 100;
/// Past [`LOG_WHOLE`], one message in this many is logged.
const LOG_EVERY: u64 = 1000;

/// Most orders waiting to be asked about after unreadable reports; beyond it the next
/// logon's questions about every unknown order cover them.
pub(super) const MAX_TO_QUERY: usize = 1024;

/// Why a value from the venue cannot be booked.
type Refusal = &'static str;

impl Mapping {
    /// The mapping of `venue`, remembering up to `slots` orders.
    pub(super) fn new(reg: Arc<Registry>, venue: VenueId, slots: usize) -> Mapping {
        Mapping {
            venue,
            orders: vec![Sent::EMPTY; slots.max(16)],
            by_seq: vec![(0, Outstanding::Nothing); SENT_MAP],
            stats: FixStats::default(),
            positions: vec![None; reg.accounts.len() * reg.instruments.len()],
            to_reject: Vec::new(),
            to_query: Vec::with_capacity(MAX_TO_QUERY),
            snap: Default::default(),
            lists: Vec::new(),
            logged: 0,
            md: MarketData::new(&reg, venue, false),
            reg,
        }
    }

    pub(super) fn slot(&self, order: OrderId) -> usize {
        (order.0 % self.orders.len() as u64) as usize
    }

    pub(super) fn sent(&self, order: OrderId) -> Option<&Sent> {
        let s = &self.orders[self.slot(order)];
        (s.order == order.0).then_some(s)
    }

    pub(super) fn instrument(&self, msg: &Msg<'_>, cl: ClOrdId) -> Option<InstrumentId> {
        if let Some(s) = self.sent(cl.order) {
            return Some(s.instrument);
        }
        let sym = Name::from_bytes(msg.get(tag::SYMBOL)?).ok()?;
        self.reg.instrument(self.venue, &sym)
    }

    /// A price (`tag`) at the instrument's scale: present, a decimal, positive, and
    /// representable there (rounded to it; what rounds to nothing is not a price). Fill
    /// prices need not sit on the tick grid: average and sub-tick prices exist.
    pub(super) fn price(
        &self,
        msg: &Msg<'_>,
        tag: u32,
        inst: InstrumentId,
    ) -> Result<i64, Refusal> {
        let d = Dec::parse_bytes(msg.get(tag).ok_or("price missing")?)
            .map_err(|_| "price not a decimal")?;
        let scale = self.reg.instruments[inst.0 as usize].price_scale;
        let v = i64::try_from(rescale(d.mant as i128, d.scale as i32, scale as i32))
            .map_err(|_| "price out of range")?;
        if v <= 0 {
            return Err("price not positive at the instrument's scale");
        }
        Ok(v)
    }

    /// A quantity (`tag`) at the instrument's scale: present, exact there, not negative.
    pub(super) fn quantity(
        &self,
        msg: &Msg<'_>,
        tag: u32,
        inst: InstrumentId,
    ) -> Result<i64, Refusal> {
        let d = Dec::parse_bytes(msg.get(tag).ok_or("quantity missing")?)
            .map_err(|_| "quantity not a decimal")?;
        let scale = self.reg.instruments[inst.0 as usize].qty_scale;
        let v = d
            .to_scale(scale)
            .ok_or("quantity finer than the instrument's lot scale, or out of range")?;
        if v < 0 {
            return Err("quantity negative");
        }
        Ok(v)
    }

    /// Commission (12) as money: absent is 0; never negative (rebates are not
    /// modelled) and never more than the fill's notional.
    fn commission(
        &self,
        msg: &Msg<'_>,
        inst: InstrumentId,
        px: i64,
        qty: i64,
    ) -> Result<i64, Refusal> {
        let Some(raw) = msg.get(tag::COMMISSION) else {
            return Ok(0);
        };
        let d = Dec::parse_bytes(raw).map_err(|_| "commission not a decimal")?;
        let fee = i64::try_from(rescale(d.mant as i128, d.scale as i32, MONEY_SCALE as i32))
            .map_err(|_| "commission out of range")?;
        if fee < 0 {
            return Err("commission negative");
        }
        let i = &self.reg.instruments[inst.0 as usize];
        let notional = Money::notional(Price(px), Qty(qty), i.price_scale, i.qty_scale);
        if fee > notional.0 {
            return Err("commission above the fill's notional");
        }
        Ok(fee)
    }

    /// A fill price on the wrong side of the order's limit: a venue that says a buy
    /// limit at 100.30 filled at 101 is not believed.
    fn through_limit(&self, cl: ClOrdId, px: i64) -> bool {
        let Some(s) = self.sent(cl.order) else {
            return false;
        };
        let limited = matches!(s.order_type, OrderType::Limit | OrderType::StopLimit);
        if !limited || s.limit <= 0 {
            return false;
        }
        if s.side == Side::Buy {
            px > s.limit
        } else {
            px < s.limit
        }
    }

    /// A fill quantity (LastQty) more than the order's quantity — the larger of the
    /// confirmed one and a replace's asked one — is not a fill of this order.
    fn beyond_order(&self, cl: ClOrdId, qty: i64) -> bool {
        let Some(s) = self.sent(cl.order) else {
            return false;
        };
        let most = s.asked.map_or(s.qty, |(q, _)| q.max(s.qty));
        most > 0 && qty > most
    }

    /// A report that cannot be booked: an anomaly with the raw message, and the order's
    /// state asked for, so a real execution among the garbage is learned from the
    /// venue's status answer rather than lost.
    fn refuse(&mut self, cl: ClOrdId, why: Refusal, msg: &Msg<'_>) {
        self.anomaly(why, msg);
        if self.to_query.len() < MAX_TO_QUERY && !self.to_query.contains(&cl) {
            self.to_query.push(cl);
        }
    }

    pub(super) fn push(
        &mut self,
        q: &mut VecDeque<VenueEvent>,
        now: u64,
        seq: u64,
        kind: VenueEventKind,
    ) {
        q.push_back(VenueEvent {
            at_ns: now,
            kind,
            src_seq: seq,
        });
    }

    pub(super) fn anomaly(&mut self, what: &str, msg: &Msg<'_>) {
        self.stats.anomalies += 1;
        self.log(what, msg);
    }

    /// An operator needs the message itself: logged whole, the first [`LOG_WHOLE`],
    /// then one in [`LOG_EVERY`] with how many went unshown — a broker sending garbage
    /// by the million must not turn the core thread into a writer of stderr. The
    /// counters in the summary count every one.
    fn log(&mut self, what: &str, msg: &Msg<'_>) {
        self.logged += 1;
        if self.logged > LOG_WHOLE && self.logged % LOG_EVERY != 0 {
            return;
        }
        let unshown = match self.logged {
            n if n > LOG_WHOLE => format!(" ({} similar lines not shown)", LOG_EVERY - 1),
            _ => String::new(),
        };
        eprintln!(
            "execd: fix venue {}: {what}: {}{unshown}",
            self.reg.venues[self.venue.0 as usize].name.as_str(),
            String::from_utf8_lossy(msg.raw()).replace('\x01', "|")
        );
    }

    pub(super) fn on_app(&mut self, q: &mut VecDeque<VenueEvent>, now: u64, msg: &Msg<'_>) {
        self.stats.received += 1;
        let seq = msg.seq().unwrap_or(0);
        match msg.msg_type() {
            msg_type::EXECUTION_REPORT => self.on_report(q, now, seq, msg),
            msg_type::ORDER_CANCEL_REJECT => {
                let Some(cl) = cl_of(msg.get(tag::CL_ORD_ID)) else {
                    return self.anomaly("cancel reject for an unknown ClOrdID", msg);
                };
                let reason = match msg.get(tag::CXL_REJ_REASON) {
                    Some(b"1") => Reason::VenueUnknownOrder,
                    _ => Reason::VenueRejected,
                };
                let kind = match msg.get(tag::CXL_REJ_RESPONSE_TO) {
                    Some(b"2") => VenueEventKind::ReplaceRejected { cl, reason },
                    _ => VenueEventKind::CancelRejected { cl, reason },
                };
                self.push(q, now, seq, kind);
                // "Too late: it is filled / canceled / expired" says where the order is,
                // which the core may not know (the report that told it was lost). Its
                // quantities are not here: for a fill the core asks.
                if let Some(
                    state @ (VenueOrderState::Filled
                    | VenueOrderState::Canceled
                    | VenueOrderState::Expired),
                ) = venue_state(msg)
                {
                    let filled = None;
                    self.push(q, now, seq, VenueEventKind::Status { cl, state, filled });
                }
            }
            msg_type::POSITION_REPORT => self.on_position(q, now, seq, msg),
            msg_type::MARKET_DATA_SNAPSHOT_FULL_REFRESH
            | msg_type::MARKET_DATA_INCREMENTAL_REFRESH
                if self.md.enabled =>
            {
                let reg = &self.reg;
                if let Err(m) = self.md.on_refresh(reg, q, now, seq, msg) {
                    self.md.stats.malformed += 1;
                    let t = msg.msg_type().first().copied().unwrap_or(b'X');
                    if self.md.to_reject.len() < self.md.to_reject.capacity() {
                        self.md.to_reject.push((seq, t, m));
                    }
                    self.log(m.why, msg);
                }
            }
            msg_type::MARKET_DATA_REQUEST_REJECT if self.md.enabled => {
                let reg = &self.reg;
                if let Err(why) = self.md.on_reject(reg, msg) {
                    self.anomaly(why, msg);
                }
            }
            msg_type::LIST_STATUS => self.on_list_status(q, now, seq, msg),
            // No positions to report (728=2), or the request refused: a reconciliation
            // waiting on it is told.
            msg_type::REQUEST_FOR_POSITIONS_ACK => {
                let account = msg
                    .get(tag::ACCOUNT)
                    .and_then(|a| Name::from_bytes(a).ok())
                    .and_then(|a| self.reg.account(&a))
                    .map(|a| a.0 as usize);
                let total = msg
                    .get_u64(tag::TOTAL_NUM_POS_REPORTS)
                    .map(|n| n.min(u32::MAX as u64) as u32);
                let result = msg.get(tag::POS_REQ_RESULT);
                let none = result == Some(b"2") || total == Some(0);
                let refused = !none && result.is_some_and(|r| r != b"0");
                if self.snap.answers(msg.get(tag::POS_REQ_ID)) {
                    self.snap.positions_ack(account, total, none, refused);
                }
            }
            msg_type::BUSINESS_MESSAGE_REJECT => {
                // A business reject of one of our requests: route it to what it was about.
                let by_ref = msg.get_u64(tag::REF_SEQ_NUM).map(|r| self.by_seq(r));
                let by_id = || cl_of(msg.get(tag::BUSINESS_REJECT_REF_ID)).map(Outstanding::New);
                match by_ref.filter(|o| *o != Outstanding::Nothing).or_else(by_id) {
                    Some(what) => self.refused(q, now, seq, what, Reason::VenueRejected),
                    None => self.anomaly("business reject of nothing we sent", msg),
                }
            }
            // Anything else this venue does not handle: BusinessMessageReject, 380=3.
            other => {
                self.stats.unsupported_received += 1;
                let mut t = [0u8; 8];
                let n = other.len().min(8);
                t[..n].copy_from_slice(&other[..n]);
                if self.to_reject.len() < 1024 {
                    self.to_reject.push((seq, t, n as u8));
                }
            }
        }
    }

    /// A PositionReport: the first PositionQty entry's long minus short quantity, told
    /// to the core (journaled) and kept for `positions`.
    fn on_position(&mut self, q: &mut VecDeque<VenueEvent>, now: u64, seq: u64, msg: &Msg<'_>) {
        let account = msg
            .get(tag::ACCOUNT)
            .and_then(|a| Name::from_bytes(a).ok())
            .and_then(|a| self.reg.account(&a));
        let inst = msg
            .get(tag::SYMBOL)
            .and_then(|s| Name::from_bytes(s).ok())
            .and_then(|s| self.reg.instrument(self.venue, &s));
        let total = msg
            .get_u64(tag::TOTAL_NUM_POS_REPORTS)
            .map(|n| n.min(u32::MAX as u64) as u32);
        let ours = self.snap.answers(msg.get(tag::POS_REQ_ID));
        let (Some(a), Some(i)) = (account, inst) else {
            // Still one of the reports announced for the account: counted, so the answer
            // completes (the account's positions are then not all known: an anomaly).
            if let (Some(a), true) = (account, ours) {
                self.snap.position_report(a.0 as usize, total);
            }
            return self.anomaly("position report for an unknown account or symbol", msg);
        };
        // A side not reported holds nothing; one reported must be readable.
        let side = |tag| match msg.get(tag) {
            None => Ok(0),
            Some(_) => self.quantity(msg, tag, i),
        };
        let (long, short) = match (side(tag::LONG_QTY), side(tag::SHORT_QTY)) {
            (Ok(l), Ok(s)) => (l, s),
            (Err(why), _) | (_, Err(why)) => return self.anomaly(why, msg),
        };
        let k = a.0 as usize * self.reg.instruments.len() + i.0 as usize;
        let Some(net) = long.checked_sub(short) else {
            return self.anomaly("position report whose long minus short overflows", msg);
        };
        self.positions[k] = Some(net);
        self.stats.position_reports += 1;
        if ours {
            self.snap.position_report(a.0 as usize, total);
        }
        self.push(
            q,
            now,
            seq,
            VenueEventKind::Position {
                account: a,
                instrument: i,
                qty: Qty(net),
            },
        );
    }

    /// What our message `seq` was, if it is still remembered.
    pub(super) fn by_seq(&self, seq: u64) -> Outstanding {
        let (s, what) = self.by_seq[(seq % SENT_MAP as u64) as usize];
        if s == seq {
            what
        } else {
            Outstanding::Nothing
        }
    }

    /// A request of ours refused outright (35=3 or 35=j): to its order; a question the
    /// broker does not answer (status, mass status, positions) is noted, not an error.
    pub(super) fn refused(
        &mut self,
        q: &mut VecDeque<VenueEvent>,
        now: u64,
        seq: u64,
        what: Outstanding,
        reason: Reason,
    ) {
        let kind = match what {
            Outstanding::New(cl) => VenueEventKind::Rejected { cl, reason },
            // The broker refused the list: neither leg works there.
            Outstanding::List(a, b) => {
                self.push(q, now, seq, VenueEventKind::Rejected { cl: a, reason });
                VenueEventKind::Rejected { cl: b, reason }
            }
            Outstanding::Cancel(cl) => VenueEventKind::CancelRejected { cl, reason },
            Outstanding::Replace(cl) => VenueEventKind::ReplaceRejected { cl, reason },
            Outstanding::MarketData(i) => {
                let reg = self.reg.clone();
                let why = match reason {
                    Reason::VenueRejected => "the broker rejected the MarketDataRequest",
                    _ => "the MarketDataRequest was refused",
                };
                self.md.refused(&reg, i, why);
                return;
            }
            Outstanding::Status(_) | Outstanding::MassStatus | Outstanding::Positions => {
                self.stats.unsupported += 1;
                match what {
                    Outstanding::MassStatus => self.snap.orders_refused(),
                    Outstanding::Positions => self.snap.positions_refused(),
                    _ => {}
                }
                self.snap.settle(q, now, seq);
                return;
            }
            Outstanding::Nothing => return,
        };
        self.push(q, now, seq, kind);
    }

    fn on_report(&mut self, q: &mut VecDeque<VenueEvent>, now: u64, seq: u64, msg: &Msg<'_>) {
        let Some(cl) = cl_of(msg.get(tag::CL_ORD_ID)) else {
            // "No open orders" in answer to our mass status request is not a surprise:
            // no order of ours named (none, or a placeholder such as 11=NONE) and either
            // none counted (TotNumReports 911=0) or OrdStatus rejected, as brokers say it.
            // A working or filled order we cannot read is.
            if msg.get(tag::MASS_STATUS_REQ_ID).is_some()
                && msg.get(tag::EXEC_TYPE) == Some(b"I")
                && (msg.get(tag::TOT_NUM_REPORTS) == Some(b"0")
                    || msg.get(tag::ORD_STATUS) == Some(b"8"))
            {
                if self.snap.answers(msg.get(tag::MASS_STATUS_REQ_ID)) {
                    self.snap.no_orders();
                }
                return;
            }
            // An open order at the broker that this core did not send: a reconciliation
            // reports it (UNKNOWN_ORDER).
            if let Some(id) = msg.get(tag::MASS_STATUS_REQ_ID) {
                if self.snap.answers(Some(id)) {
                    let (last, total) = mass_status_position(msg);
                    self.snap.order_report(last, total, false);
                }
            }
            return self.anomaly("execution report for an order this core did not send", msg);
        };
        if self.sent(cl.order).is_none() {
            // Shaped like ours, but not one this session sent or was told of at start:
            // said out loud, and handed on (the core may still hold a finished order).
            self.stats.unknown_orders += 1;
            self.log("report for an order this session has no record of", msg);
        }
        // ExecType is one character: `FF` is not a fill, it is unreadable.
        let exec_type = match msg.get(tag::EXEC_TYPE) {
            Some(&[c]) => c,
            _ => return self.refuse(cl, "execution report without a one-character ExecType", msg),
        };
        let fix42 = msg.get(tag::BEGIN_STRING) == Some(b"FIX.4.2");
        // Answers to a status request (ExecType I; FIX 4.2: ExecTransType 3 "status"),
        // restatements, and mass status reports say where the order stands.
        if exec_type == b'I'
            || exec_type == b'D'
            || msg.get(tag::MASS_STATUS_REQ_ID).is_some()
            || (fix42 && msg.get(tag::EXEC_TRANS_TYPE) == Some(b"3"))
        {
            if let Some(id) = msg.get(tag::MASS_STATUS_REQ_ID) {
                if self.snap.answers(Some(id)) {
                    let (last, total) = mass_status_position(msg);
                    self.snap.order_report(last, total, true);
                }
            }
            return self.on_status(q, now, seq, cl, msg);
        }
        // FIX 4.2 busts and corrects an execution with ExecTransType 1 (cancel) or 2
        // (correct), a new ExecID and the ExecType of the execution it names (ExecRefID):
        // booked as a fill it would count twice. As 4.4's G and H: said, not applied.
        if fix42 && matches!(msg.get(tag::EXEC_TRANS_TYPE), Some(b"1" | b"2")) {
            self.stats.trade_corrections += 1;
            return self.refuse(
                cl,
                "trade correction/bust not applied (FIX 4.2 ExecTransType 1/2)",
                msg,
            );
        }
        // FIX 4.2 reports executions as ExecType 1/2 (partial/fill); 4.4 and later as F.
        let fix42_fill = fix42 && matches!(exec_type, b'1' | b'2');
        let kind = match exec_type {
            b'0' => VenueEventKind::Ack {
                cl,
                venue_order_id: id_of(msg.get(tag::ORDER_ID)),
            },
            b'F' | b'1' | b'2' if exec_type == b'F' || fix42_fill => {
                let Some(inst) = self.instrument(msg, cl) else {
                    return self.refuse(cl, "fill for an unknown instrument", msg);
                };
                // Commission (12) is taken as an amount of account currency (CommType 3).
                let read = self.price(msg, tag::LAST_PX, inst).and_then(|px| {
                    let qty = self.quantity(msg, tag::LAST_QTY, inst)?;
                    if qty == 0 {
                        return Err("fill of no quantity");
                    }
                    if self.through_limit(cl, px) {
                        return Err("fill price through the order's limit");
                    }
                    if self.beyond_order(cl, qty) {
                        return Err("fill larger than the order");
                    }
                    Ok((px, qty, self.commission(msg, inst, px, qty)?))
                });
                let (px, qty, fee) = match read {
                    Ok(v) => v,
                    Err(why) => return self.refuse(cl, why, msg),
                };
                VenueEventKind::Fill {
                    cl,
                    exec_id: id_of(msg.get(tag::EXEC_ID)),
                    px: Price(px),
                    qty: Qty(qty),
                    fee: Money(fee),
                    cum: self.quantity(msg, tag::CUM_QTY, inst).ok().map(Qty),
                }
            }
            b'4' => VenueEventKind::Canceled { cl },
            b'5' => {
                let Some(inst) = self.instrument(msg, cl) else {
                    return self.refuse(cl, "replace for an unknown instrument", msg);
                };
                let Some(s) = self.sent(cl.order).copied() else {
                    return self.refuse(cl, "replace of an order this session did not send", msg);
                };
                // What the report does not restate stays as asked (or as it was).
                let (asked_qty, asked_px) = s.asked.unwrap_or((s.qty, s.price()));
                let qty = match msg.get(tag::ORDER_QTY) {
                    None => asked_qty,
                    Some(_) => match self.quantity(msg, tag::ORDER_QTY, inst) {
                        // Bounded against a broker's nonsense, not against the limits in
                        // force: what was asked passed the gate (limits an operator raised
                        // live included), but after a restart the request is not always
                        // known here, so the configured limit bounds it too.
                        Ok(q)
                            if q > 0
                                && q <= asked_qty.max(s.qty).max(
                                    self.reg.instruments[inst.0 as usize].max_order_qty.0,
                                ) =>
                        {
                            q
                        }
                        Ok(_) => {
                            return self.refuse(
                                cl,
                                "replaced quantity zero, or more than was asked and than the instrument's configured limit",
                                msg,
                            )
                        }
                        Err(why) => return self.refuse(cl, why, msg),
                    },
                };
                let px_tag = if s.order_type == OrderType::Stop {
                    99
                } else {
                    44
                };
                let px = match msg.get(px_tag) {
                    None => asked_px,
                    Some(_) => match self.price(msg, px_tag, inst) {
                        Ok(p) => p,
                        Err(why) => return self.refuse(cl, why, msg),
                    },
                };
                let i = self.slot(cl.order);
                self.orders[i] = s.with_terms(qty, px, false);
                VenueEventKind::Replaced {
                    cl,
                    qty: Qty(qty),
                    limit: Price(px),
                }
            }
            b'8' => VenueEventKind::Rejected {
                cl,
                reason: match msg.get(tag::ORD_REJ_REASON) {
                    Some(b"3") => Reason::VenueFunds,
                    Some(b"5") => Reason::VenueUnknownOrder,
                    _ => Reason::VenueRejected,
                },
            },
            b'C' => VenueEventKind::Expired { cl },
            b'G' | b'H' => {
                // The OMS has no fill correction yet: report loudly, apply nothing.
                self.stats.trade_corrections += 1;
                return self.refuse(cl, "trade correction/bust not applied", msg);
            }
            // Pending new/cancel/replace, done for day, calculated, stopped, suspended,
            // triggered, clearing hold/release, locked/released: nothing the core books.
            b'6' | b'A' | b'E' | b'3' | b'B' | b'7' | b'9' | b'L' | b'J' | b'K' | b'M' | b'N' => {
                return
            }
            // FIX 4.2's partial fill / fill on a later version: not a value there, and
            // too close to a fill to ignore; the status answer says what happened.
            b'1' | b'2' => return self.refuse(cl, "ExecType 1/2 outside FIX 4.2", msg),
            _ => return self.refuse(cl, "unknown ExecType", msg),
        };
        self.push(q, now, seq, kind);
    }
}

impl Mapping {
    /// A status answer: where the order stands, and what it filled (CumQty, AvgPx — an
    /// answer without them cannot settle anything and is an anomaly).
    fn on_status(
        &mut self,
        q: &mut VecDeque<VenueEvent>,
        now: u64,
        seq: u64,
        cl: ClOrdId,
        msg: &Msg<'_>,
    ) {
        let Some(state) = venue_state(msg) else {
            return self.anomaly("status answer without a readable OrdStatus", msg);
        };
        let filled = match self.instrument(msg, cl) {
            Some(inst) => self.quantity(msg, tag::CUM_QTY, inst).and_then(|cum| {
                if cum == 0 {
                    return Ok((Qty(0), Price(0)));
                }
                let avg = self.price(msg, tag::AVG_PX, inst)?;
                if self.through_limit(cl, avg) {
                    return Err("average price through the order's limit");
                }
                Ok((Qty(cum), Price(avg)))
            }),
            // "Unknown order" answers carry no symbol of ours; nothing was filled.
            None if state == VenueOrderState::Unknown => Ok((Qty(0), Price(0))),
            None => Err("status answer for an unknown instrument"),
        };
        match filled {
            Ok(f) => {
                let filled = Some(f);
                self.push(q, now, seq, VenueEventKind::Status { cl, state, filled });
            }
            // Not asked again: this was the answer to asking.
            Err(why) => self.anomaly(why, msg),
        }
    }
}

/// An order's state as a report's OrdStatus (39) gives it; `None` if unreadable.
fn venue_state(msg: &Msg<'_>) -> Option<VenueOrderState> {
    let Some(&[s]) = msg.get(tag::ORD_STATUS) else {
        return None;
    };
    Some(match s {
        b'0' | b'1' | b'A' | b'9' | b'3' | b'7' | b'5' => VenueOrderState::Working,
        b'6' | b'E' => VenueOrderState::Pending,
        b'2' | b'B' => VenueOrderState::Filled,
        b'4' => VenueOrderState::Canceled,
        b'C' => VenueOrderState::Expired,
        // "Unknown order": OrdRejReason 5, or no OrderID the venue could give.
        b'8' if msg.get(tag::ORD_REJ_REASON) == Some(b"5")
            || matches!(msg.get(tag::ORDER_ID), None | Some(b"NONE")) =>
        {
            VenueOrderState::Unknown
        }
        b'8' => VenueOrderState::Rejected,
        _ => return None,
    })
}

/// Parses a ClOrdID this core wrote.
pub(super) fn cl_of(v: Option<&[u8]>) -> Option<ClOrdId> {
    ClOrdId::parse_bytes(v?)
}

/// A venue's id string as a number: itself if numeric, else its hash.
pub(super) fn id_of(v: Option<&[u8]>) -> u64 {
    match v {
        None => 0,
        Some(b) => super::codec::parse_u64(b).unwrap_or_else(|| xxhash_rust::xxh3::xxh3_64(b)),
    }
}

#[cfg(test)]
mod tests;
