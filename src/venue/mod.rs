//! Venues (R-VEN-1): one interface, one adapter per kind. The paper venue is here; FIX
//! sessions and REST/WebSocket bridges implement the same trait.

pub mod any;
pub mod bridge;
mod conflate;
pub mod fix;
pub mod paper;
pub mod recorded;

pub use crate::model::rate_limits::{OrderWindow, RateLimits, Request};
pub use any::AnyVenue;
pub use conflate::Conflation;

use crate::model::fixed::{Money, Price, Qty};
use crate::model::ids::{AccountId, ClOrdId, InstrumentId, Name, OrderType, Side, Tif};

/// Decimals of an asset amount ([`VenueEventKind::Balance`], [`VenueEventKind::FillAssets`]):
/// Binance gives every balance and commission at 8.
pub const ASSET_SCALE: u8 = 8;
use crate::model::{quote::Quote, reason::Reason};

/// A new order as a venue receives it. Prices and quantities are mantissas at the
/// instrument's scales.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VenueOrder {
    /// What the venue knows it by (ClOrdID).
    pub cl: ClOrdId,
    /// Interned account; a venue maps it to its own account naming.
    pub account: AccountId,
    /// Interned instrument; a venue maps it to its symbol.
    pub instrument: InstrumentId,
    /// Buy or sell.
    pub side: Side,
    /// Market, limit, stop or stop-limit.
    pub order_type: OrderType,
    /// Time in force.
    pub tif: Tif,
    /// Order quantity.
    pub qty: Qty,
    /// 0 when the type has none.
    pub limit: Price,
    /// 0 when the type has none.
    pub stop: Price,
    /// May only reduce the position (protective orders): never opens or flips one.
    pub reduce_only: bool,
}

/// What a venue reports about an order (by the client order id it was sent under), its
/// session, or the market.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VenueEventKind {
    /// The venue took the order.
    Ack {
        /// The order's.
        cl: ClOrdId,
        /// The venue's own id for it (numeric ids as is, others hashed).
        venue_order_id: u64,
    },
    /// The venue refused the order.
    Rejected {
        /// The order's.
        cl: ClOrdId,
        /// The venue's reason, mapped to execd's codes.
        reason: Reason,
    },
    /// An execution.
    Fill {
        /// The order's working id.
        cl: ClOrdId,
        /// Unique per venue: the key that keeps a resent report from counting twice.
        exec_id: u64,
        /// Execution price.
        px: Price,
        /// Executed quantity.
        qty: Qty,
        /// Commission, in money units.
        fee: Money,
        /// The order's cumulative quantity the venue reports with this fill (FIX
        /// CumQty), when it does: a report for quantity the core already booked from a
        /// status answer is recognised by it.
        cum: Option<Qty>,
    },
    /// Order canceled (requested, IOC/FOK remainder, or unsolicited).
    Canceled {
        /// The order's (or the cancel request's).
        cl: ClOrdId,
    },
    /// A cancel was refused.
    CancelRejected {
        /// The cancel request's.
        cl: ClOrdId,
        /// Why, mapped to execd's codes.
        reason: Reason,
    },
    /// A cancel/replace was applied.
    Replaced {
        /// The replace request's, now the working one.
        cl: ClOrdId,
        /// The order's quantity from now on.
        qty: Qty,
        /// Its limit from now on (its trigger, for a stop order).
        limit: Price,
    },
    /// A cancel/replace was refused.
    ReplaceRejected {
        /// The replace request's.
        cl: ClOrdId,
        /// Why, mapped to execd's codes.
        reason: Reason,
    },
    /// Order expired (DAY).
    Expired {
        /// The order's.
        cl: ClOrdId,
    },
    /// The venue's session went up (logged on) or down. Journaled like any venue input,
    /// so a replay sees the venue as the gate saw it.
    Session {
        /// `true` from the logon on.
        up: bool,
    },
    /// Top of book.
    Quote {
        /// Interned instrument.
        instrument: InstrumentId,
        /// Stamped with the time it arrived (engine time): what staleness is measured
        /// from (R-GATE-6).
        quote: Quote,
        /// The venue's own time for it (FIX SendingTime), Unix ns; 0 = not told. Kept
        /// for the record (journaled), never used for staleness.
        venue_ns: u64,
    },
    /// Where an order stands at the venue, as it answered a status query (FIX
    /// ExecType=I, a mass status report) or said in passing (an OrderCancelReject's
    /// OrdStatus). The engine settles an order whose outcome it did not know from it,
    /// and books what the venue filled that no report told (R-RES-1).
    Status {
        /// The order (any version of its client order id).
        cl: ClOrdId,
        /// Its state at the venue.
        state: VenueOrderState,
        /// Cumulative quantity and average price at the venue; `None` when the message
        /// does not carry them (an OrderCancelReject).
        filled: Option<(Qty, Price)>,
    },
    /// The venue started its message numbering over (FIX: a Logon or SequenceReset with
    /// a reset): what it sent before and this core did not apply will never be resent,
    /// so every order working there has an unknown outcome until asked about.
    Restarted,
    /// A position the venue holds (FIX PositionReport; the paper venue's book), net of
    /// long and short, in answer to a snapshot or unsolicited.
    Position {
        /// Whose.
        account: AccountId,
        /// What.
        instrument: InstrumentId,
        /// Net quantity (negative: short).
        qty: Qty,
    },
    /// An open order the venue lists in answer to [`Venue::snapshot`], as it stands
    /// there; compared, never applied (a status answer settles, a listing only reports).
    Listed {
        /// The order (its working client order id).
        cl: ClOrdId,
        /// Quantity the venue filled so far.
        cum: Qty,
    },
    /// The venue finished answering [`Venue::snapshot`]: every open order it has was
    /// told as a [`VenueEventKind::Status`] and every position as a
    /// [`VenueEventKind::Position`] before this. A part the venue cannot give (no
    /// positions in FIX 4.2, a request it refused or left unanswered) is `false`.
    SnapshotEnd {
        /// Its open orders were all listed.
        orders: bool,
        /// Its positions were all reported.
        positions: bool,
        /// Open orders it listed that are not this core's (no ClOrdID of ours).
        foreign: u32,
    },
    /// A new order the venue adapter wrote nothing of: its session went down before the
    /// core was told (FIX: the session was not logged on). The venue never saw it, so it
    /// is safe to resend under the same ClOrdID (R-RES-1). Journaled like any input.
    NotSent {
        /// The order's.
        cl: ClOrdId,
    },
    /// An asset the venue holds for an account, as it said at a (re)connection or a
    /// snapshot (Binance `GET /api/v3/account`, `/fapi/v3/account`) or in its account
    /// events since (`outboundAccountPosition`, `ACCOUNT_UPDATE`). Amounts at
    /// [`ASSET_SCALE`] decimals.
    Balance {
        /// Whose.
        account: AccountId,
        /// The venue's asset code (BTC, USDT, BNB).
        asset: Name,
        /// Available.
        free: i64,
        /// Held by open orders.
        locked: i64,
        /// A futures margin wallet: it also moves with realized profit and funding, so
        /// it is shown, not reconciled against fills. Spot holdings (`false`) move only
        /// by trades (and deposits and withdrawals): they are reconciled.
        wallet: bool,
    },
    /// What one of this core's fills moved in the venue's assets (spot), as the venue
    /// reported the execution: follows its [`VenueEventKind::Fill`]. Amounts at
    /// [`ASSET_SCALE`] decimals; the commission is kept in its own asset (Binance: the
    /// asset received, or BNB), never taken for money.
    FillAssets {
        /// The order's working id.
        cl: ClOrdId,
        /// The fill's execution id (as in its `Fill`).
        exec_id: u64,
        /// The instrument's base asset and its change (+ on a buy).
        base: Name,
        /// Signed change of `base`, commission not deducted.
        base_delta: i64,
        /// The quote asset.
        quote: Name,
        /// Signed change of `quote` (− on a buy), commission not deducted.
        quote_delta: i64,
        /// The asset the commission was charged in.
        fee_asset: Name,
        /// The commission (≥ 0), in `fee_asset`.
        fee: i64,
    },
    /// The venue's own rate limits as its bridge last read them (R-VEN-3): told when
    /// they change meaningfully (a threshold crossed, a 429/418, a hold released), not
    /// per request. Journaled, so the gate's venue budget (R-GATE-7) replays the same.
    RateLimit(RateLimits),
    /// A request the adapter could not queue for its I/O thread (its ring was full):
    /// nothing went out. Told as an input, not as an error of the call, so the journal
    /// records it and a replay takes the same path (R-VEN-3).
    Backpressure {
        /// The request's client order id (the order's for a new order).
        cl: ClOrdId,
        /// Which request it was.
        request: Request,
    },
}

/// An order's state as a venue reports it (FIX OrdStatus, 39).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VenueOrderState {
    /// Working: new, partially filled, pending new, suspended, done for the day (39 =
    /// 0, 1, A, 9, 3, 7, and 5 in FIX 4.2).
    Working,
    /// A cancel or replace of ours is being processed there (39 = 6, E).
    Pending,
    /// Completely filled (39 = 2, or B calculated).
    Filled,
    /// Canceled (39 = 4).
    Canceled,
    /// Expired (39 = C).
    Expired,
    /// Rejected (39 = 8).
    Rejected,
    /// The venue does not know the order (39 = 8 with OrdRejReason 5, unknown order):
    /// it never reached the venue.
    Unknown,
}

/// A venue event and when it happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VenueEvent {
    /// When it happened (engine time, Unix ns): the engine applies it then.
    pub at_ns: u64,
    /// What happened.
    pub kind: VenueEventKind,
    /// Where it came from on the wire: the inbound MsgSeqNum of a FIX venue's message
    /// (0 for in-process venues). Journaled, so a restart knows what was applied.
    pub src_seq: u64,
}

/// Why a venue could not take a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VenueError {
    /// Not logged on / not connected: the venue never saw it, safe to retry.
    NotConnected,
    /// Outbound buffer full: the venue never saw it, safe to retry.
    Backpressure,
    /// The adapter holds no such order to cancel or amend (sent by an earlier process
    /// whose details it never saw): not a transport failure.
    UnknownOrder,
}

/// The interface every venue adapter implements. Calls never block and never allocate
/// in steady state; answers come back through `poll`.
pub trait Venue: Send {
    /// Whether the session is logged on (R-GATE-8).
    fn is_logged_on(&self) -> bool;
    /// Sends a new order.
    fn submit(&mut self, now: u64, order: &VenueOrder) -> Result<(), VenueError>;
    /// Sends a position's stop-loss and take-profit, linked one-cancels-other, and says
    /// for each whether it went out. A venue that links them itself (FIX: a
    /// NewOrderList, `OcoOrderList`) sends them together; any other sends them one by
    /// one and the core emulates the link (R-OMS-5).
    fn submit_oco(&mut self, now: u64, legs: [&VenueOrder; 2]) -> [Result<(), VenueError>; 2] {
        [self.submit(now, legs[0]), self.submit(now, legs[1])]
    }
    /// Sends a cancel: `cl` is the request's id, `orig` the working one.
    fn cancel(&mut self, now: u64, cl: ClOrdId, orig: ClOrdId) -> Result<(), VenueError>;
    /// Sends a cancel/replace.
    fn replace(
        &mut self,
        now: u64,
        cl: ClOrdId,
        orig: ClOrdId,
        qty: Qty,
        limit: Price,
    ) -> Result<(), VenueError>;
    /// Appends every event due at or before `now`, in time order.
    fn poll(&mut self, now: u64, out: &mut Vec<VenueEvent>);
    /// When the next event is due, if any is pending.
    fn next_event_at(&self) -> Option<u64>;
    /// Positions held for an account.
    fn positions(&self, account: AccountId, out: &mut Vec<(InstrumentId, Qty)>);
    /// Quotes this venue dropped for a newer one of the same instrument before the core
    /// took them ([`Conflation`]), since it started.
    fn quotes_conflated(&self) -> u64 {
        0
    }
    /// Whether events come from outside the process (a network venue): those are
    /// journaled as inputs, since replay cannot derive them.
    fn is_external(&self) -> bool {
        false
    }
    /// Network I/O and session timers, once per duty cycle; never blocks. Returns
    /// whether anything happened. In-process venues have nothing to do.
    fn pump(&mut self, now: u64) -> bool {
        let _ = now;
        false
    }
    /// Raw TSC stamp of the last socket read that returned bytes (0: none, or no socket):
    /// where the answers the core is about to deliver arrived, for their latency.
    fn read_stamp(&self) -> u64 {
        0
    }
    /// The socket this venue's answers arrive on, if it has one now, with a number that
    /// changes whenever the socket is replaced (a reconnect). The core's idle wait
    /// watches it (epoll) and registers it again when the number changes: a closed
    /// socket leaves the wait by itself, and a new one may get the same descriptor, so
    /// the number, not the descriptor, says whether it is the same socket.
    fn wait_socket(&self) -> Option<(std::os::fd::RawFd, u64)> {
        None
    }
    /// Whether input waits that the next `pump` takes and no socket announces (a
    /// bridge's event ring, filled by its own thread): the core looks before it sleeps.
    fn input_waiting(&self) -> bool {
        false
    }
    /// Asks the venue for an order's state (FIX OrderStatusRequest) when its outcome is
    /// unknown — after a hard timeout or a fill racing a cancel (R-RES-1: a query, never a
    /// blind resend). The answer, if any, comes back through `poll`. In-process venues
    /// already answer every order, so they do nothing.
    fn query(&mut self, now: u64, order: &VenueOrder) {
        let _ = (now, order);
    }
    /// Asks the venue for its whole picture (R-AUD-4): every open order (as
    /// [`VenueEventKind::Status`]), every position, then one
    /// [`VenueEventKind::SnapshotEnd`], all through `poll`. Returns whether it will
    /// answer (a venue that is down, or one that cannot tell, says `false`).
    fn snapshot(&mut self, now: u64) -> bool {
        let _ = now;
        false
    }
    /// Begins a clean stop (FIX: the logout handshake); `pump` carries it on.
    fn close(&mut self, now: u64) {
        let _ = now;
    }
    /// Whether a clean stop has finished (nothing left to say to the venue).
    fn closed(&self) -> bool {
        true
    }
}
