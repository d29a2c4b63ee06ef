//! What crosses the rings: commands into the core and events out of it.

use super::control::{KillState, Mode};
use super::fixed::{Dec, Money, Price, Qty};
use super::ids::{
    AccountId, ClOrdId, InstrumentId, Name, OrderId, OrderType, RequestId, ShortStr, Side, VenueId,
};
use super::order_state::{OmsEvent, OrderState};
use super::rate_limits::{RateLimits, Request};
use super::reason::Reason;
use super::request::ExecutionRequest;
use super::slippage::Slippage;

/// How a command names an order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrderRef {
    /// execd's order id.
    Id(OrderId),
    /// Upstream's request id.
    Request(RequestId),
}

/// Which orders a kill switch or cancel-all covers (R-GATE-2, R-OMS-7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Everything.
    Global,
    /// Every order on the venue of this name.
    Venue(Name),
    /// Every order of the account of this name.
    Account(Name),
    /// Every instrument with this symbol, on every venue.
    Symbol(Name),
}

/// A command for the core thread.
// Ring slots are sized for the largest variant anyway; boxing requests would allocate.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Command {
    /// A new execution request.
    Submit(ExecutionRequest),
    /// Cancel one order.
    Cancel(OrderRef),
    /// Cancel/replace: new quantity and/or limit price.
    Replace {
        /// A working order (not one pending a cancel or another replace).
        order: OrderRef,
        /// New total quantity, filled part included; more than what is filled, on the lot.
        quantity: Option<Dec>,
        /// New limit (a stop order's new trigger), on the tick; none for market orders.
        limit_price: Option<Dec>,
    },
    /// Cancel every open order in scope.
    CancelAll(Scope),
    /// Move the protective orders of a filled parent.
    ModifyProtection {
        /// The parent: the order upstream asked for, not a protective leg.
        order: OrderRef,
        /// New stop-loss trigger, an absolute price on the tick; none leaves it.
        stop_loss: Option<Dec>,
        /// New take-profit limit, an absolute price on the tick; none leaves it.
        take_profit: Option<Dec>,
    },
    /// Set a kill switch; `cancel_open` makes ACTIVE an emergency stop.
    SetKillSwitch {
        /// Which switch.
        scope: Scope,
        /// Its new position.
        state: KillState,
        /// With ACTIVE: cancel the open orders in scope too (filled positions stay).
        cancel_open: bool,
    },
    /// Set an account's mode (R-GATE-1).
    SetMode {
        /// As configured.
        account: Name,
        /// GUIDE (advise only) or AUTONOMOUS.
        mode: Mode,
    },
    /// Set or clear an account's trading halt (R-GATE-3).
    SetHalted {
        /// As configured.
        account: Name,
        /// `true` refuses every new request of the account until cleared.
        halted: bool,
    },
    /// A top of book from a market-data source; the core stamps it with its own time
    /// (staleness is measured on execd's clock).
    Quote {
        /// The venue the instrument trades on, as configured.
        venue: Name,
        /// As configured for that venue.
        symbol: Name,
        /// Rounded to the instrument's price scale.
        bid: Dec,
        /// Rounded to the instrument's price scale.
        ask: Dec,
        /// Size at the bid, at the quantity scale; 0 = unknown.
        bid_size: Dec,
        /// Size at the ask, at the quantity scale; 0 = unknown.
        ask_size: Dec,
    },
    /// Ask for an order's current status.
    Query(OrderRef),
    /// Change an instrument's risk limits while execd runs (R-GATE-7); those not given
    /// stay. Journaled: they hold across a restart on the journal until changed again.
    SetLimits(LimitChange),
    /// Who gives the next command of the same producer, and why (R-OPS-1: every
    /// operator action is journaled with its author). Changes nothing; journaled so the
    /// audit trail names the operator beside the action.
    Operator(OperatorNote),
    /// Reconcile a venue now (R-AUD-4): ask it for its open orders and positions and
    /// compare them with the core's; the report comes as [`CoreEvent::ReconLine`]s
    /// and one [`CoreEvent::ReconReport`].
    Reconcile {
        /// As configured.
        venue: Name,
        /// Why: an operator, or the core itself at start.
        trigger: crate::model::reconcile::ReconTrigger,
        /// After a restart on a journal (R-RES-4): the venue takes no new order until
        /// this reconciliation has found its in-flight orders settled.
        hold: bool,
    },
    /// An operator's decision about a reconciliation's differences: lifts the holds in
    /// its scope, and with `accept_venue` books the venue's positions as the core's.
    ResolveReconciliation(crate::model::reconcile::ReconResolution),
    /// Nothing: only moves simulated time to the envelope's `at_ns`.
    Tick,
    /// Answered with [`CoreEvent::Synced`] once every earlier command is carried out.
    Sync(u64),
    /// An operator's decision on a dead letter (R-RES-3): resend it under the same
    /// ClOrdID through the venue-health checks (`redrive`), or finish it as rejected
    /// (`UNDELIVERABLE`) so upstream knows. Journaled after its [`Command::Operator`].
    DeadLetter {
        /// The dead-lettered order.
        order: OrderId,
        /// `true` resends, `false` discards.
        redrive: bool,
    },
    /// A read of the core's state for an operator (R-OPS-1): answered with at most
    /// `limit` [`CoreEvent::Row`]s, then one [`CoreEvent::RowsEnd`]. Changes nothing
    /// and, like [`Command::Sync`], is never journaled (nor are its answers): old
    /// journals replay unchanged.
    Read {
        /// What to read.
        what: Snapshot,
        /// Where the page starts: an order id for orders, a row index otherwise (0 =
        /// from the start; a `RowsEnd`'s `next` to go on).
        from: u64,
        /// Most rows in this page; the core takes at most [`MAX_ROWS`].
        limit: u16,
    },
}

/// The risk limits in force for an instrument (R-GATE-7), at its scales: the
/// configured ones until an operator changes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Which instrument.
    pub instrument: InstrumentId,
    /// Largest quantity of one order.
    pub max_order_qty: Qty,
    /// Largest notional of one order.
    pub max_notional: Money,
    /// Largest net position, either side, counting working orders.
    pub max_position: Qty,
}

impl Limits {
    /// The limits the configuration gives `i`.
    pub fn configured(i: &super::instrument::Instrument) -> Limits {
        Limits {
            instrument: i.id,
            max_order_qty: i.max_order_qty,
            max_notional: i.max_notional,
            max_position: i.max_position,
        }
    }
}

/// New risk limits for one instrument, decimals at most at its scales.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LimitChange {
    /// The venue the instrument trades on, as configured.
    pub venue: Name,
    /// As configured for that venue.
    pub symbol: Name,
    /// Largest quantity of one order.
    pub max_order_qty: Option<Dec>,
    /// Largest notional of one order, account currency.
    pub max_notional: Option<Dec>,
    /// Largest net position, either side, counting working orders.
    pub max_position: Option<Dec>,
}

/// The author of an operator action and the reason given, journaled just before the
/// action itself (the next command from the same producer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OperatorNote {
    /// Who: the name the client stated (`execd ctl --operator`, `X-Execd-Operator`),
    /// or `api` when it stated none.
    pub operator: ShortStr<32>,
    /// Why, as given; may be empty.
    pub reason: ShortStr<200>,
}

/// Most rows one [`Command::Read`] is answered with. With its `RowsEnd`, a page fits
/// the core's preallocated per-producer backlog (4096 events) even on the smallest
/// ring, whatever else is queued before backpressure (half the backlog) stops the
/// reads: the core never blocks, never allocates, never drops an answer for it.
pub const MAX_ROWS: u16 = 1000;

/// Most candidates (order ids, row indexes) one [`Command::Read`] looks at: a read
/// that finds fewer than `limit` rows within them stops early with a `next`, so no
/// read holds the core for long.
pub const MAX_SCAN: u64 = 8192;

/// What a [`Command::Read`] reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Snapshot {
    /// Held orders, by order id ascending.
    Orders(OrderFilter),
    /// Accounts (every one), then positions with a quantity, open orders or P&L.
    Positions,
    /// Kill switches: global always, every other scope that is not OFF.
    KillSwitches,
    /// Every account's mode and halt flag.
    Modes,
    /// Every venue: session, breaker, open orders.
    Venues,
    /// Every instrument's risk limits in force.
    Limits,
    /// Open dead letters, oldest first (R-RES-3).
    DeadLetters,
}

/// Which orders a [`Snapshot::Orders`] read returns; every field set must match.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OrderFilter {
    /// Bit `1 << state as u16` per state wanted; 0 = every state.
    pub states: u16,
    /// Only this account's.
    pub account: Option<AccountId>,
    /// Only orders on this venue.
    pub venue: Option<VenueId>,
    /// Only instruments with this symbol (on any venue).
    pub symbol: Option<Name>,
}

/// One row of a [`Command::Read`]'s answer. Prices and quantities are mantissas at the
/// instrument's scales, money at [`super::fixed::MONEY_SCALE`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Row {
    /// A held order.
    Order(OrderRow),
    /// An account's money.
    Account {
        /// The account.
        account: AccountId,
        /// Cash.
        cash: Money,
        /// Realised P&L.
        realised: Money,
        /// Commissions paid.
        fees: Money,
        /// Margin reserved by working orders.
        order_margin: Money,
        /// Margin used by open positions.
        position_margin: Money,
        /// Equity minus margin in use.
        margin_available: Money,
        /// Working orders.
        open_orders: u32,
    },
    /// A position of an account in an instrument.
    Position {
        /// The account.
        account: AccountId,
        /// The instrument.
        instrument: InstrumentId,
        /// Net quantity (negative: short).
        net: Qty,
        /// Average entry price of the open quantity (0 when flat).
        avg: Price,
        /// Realised P&L.
        realised: Money,
        /// At the mid of the latest quote; none without a two-sided quote.
        unrealised: Option<Money>,
        /// Commissions paid.
        fees: Money,
        /// Working buy quantity.
        open_buy: Qty,
        /// Working sell quantity.
        open_sell: Qty,
    },
    /// An asset balance at a venue that holds assets (after the positions of a
    /// [`Snapshot::Positions`] read).
    Balance {
        /// The venue.
        venue: VenueId,
        /// Its state.
        holding: crate::core::Holding,
    },
    /// A kill switch.
    Switch {
        /// Its scope; an instrument's switch is under its symbol, with `instrument` set.
        scope: Scope,
        /// For an instrument's switch, which one (a symbol may trade on several venues).
        instrument: Option<InstrumentId>,
        /// Its position.
        state: KillState,
    },
    /// An account's mode and halt flag.
    Mode {
        /// The account.
        account: AccountId,
        /// Its mode.
        mode: Mode,
        /// Halted: new requests are refused.
        halted: bool,
    },
    /// A venue's health.
    Venue {
        /// The venue.
        venue: VenueId,
        /// Its session is up (paper venues always are).
        up: bool,
        /// 0 closed, 1 open, 2 half-open.
        breaker: u8,
        /// Working orders held for it.
        open_orders: u32,
        /// A FIX venue's next sequence numbers, out and in; none for other venues.
        fix_seqs: Option<(u64, u64)>,
        /// A FIX venue's last lost or refused connection: engine time and why.
        last_error: Option<(u64, ShortStr<64>)>,
    },
    /// An instrument's risk limits in force.
    Limits(Limits),
    /// An open dead letter.
    DeadLetter(DeadLetterRow),
}

/// An order that could not be delivered, as [`Row::DeadLetter`] reports it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DeadLetterRow {
    /// execd's id.
    pub order: OrderId,
    /// Upstream's id; empty for protective legs.
    pub request_id: RequestId,
    /// What the venue would know it by (it never saw it).
    pub cl_ord_id: ClOrdId,
    /// The venue.
    pub venue: VenueId,
    /// Why it is a dead letter.
    pub reason: Reason,
    /// Tries made (the first send and every resend).
    pub attempts: u8,
    /// When it became a dead letter (engine time, Unix ns).
    pub since_ns: u64,
}

/// What became of a dead letter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeadLetterAction {
    /// Resent by an operator.
    Redriven,
    /// Finished as rejected by an operator.
    Discarded,
    /// Canceled by its owner before it was delivered.
    Canceled,
}

impl DeadLetterAction {
    /// Every action, in journal order.
    pub const ALL: [DeadLetterAction; 3] = [
        DeadLetterAction::Redriven,
        DeadLetterAction::Discarded,
        DeadLetterAction::Canceled,
    ];

    /// Its word in exports and the API.
    pub fn word(self) -> &'static str {
        match self {
            DeadLetterAction::Redriven => "redriven",
            DeadLetterAction::Discarded => "discarded",
            DeadLetterAction::Canceled => "canceled",
        }
    }
}

/// A held order as [`Row::Order`] reports it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OrderRow {
    /// execd's id.
    pub order: OrderId,
    /// Upstream's id; empty for protective legs.
    pub request_id: RequestId,
    /// For protective legs, the order they protect.
    pub parent: Option<OrderId>,
    /// What the venue knows it by.
    pub cl_ord_id: ClOrdId,
    /// The account.
    pub account: AccountId,
    /// The venue.
    pub venue: VenueId,
    /// The instrument (for the scales).
    pub instrument: InstrumentId,
    /// Buy or sell.
    pub side: Side,
    /// Market, limit, stop or stop-limit.
    pub order_type: OrderType,
    /// Where it is.
    pub state: OrderState,
    /// Order quantity (0 for a request the gate refused).
    pub qty: Qty,
    /// Limit price; 0 when none.
    pub limit: Price,
    /// Filled so far.
    pub cum_qty: Qty,
    /// Average fill price; 0 before the first fill.
    pub avg_px: Price,
    /// Why it was refused.
    pub reason: Option<Reason>,
    /// When the core received the request (engine time, Unix ns).
    pub created_ns: u64,
}

/// A command in its envelope.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Inbound {
    /// Event time in Unix ns under a simulated clock; 0 = now (real clock).
    pub(crate) at_ns: u64,
    /// Raw TSC stamp taken by the producer, for the ring-hop latency.
    pub(crate) stamp: u64,
    pub(crate) cmd: Command,
}

/// An event from the core thread. Prices are mantissas at the instrument's price scale,
/// quantities at its quantity scale, money at [`super::fixed::MONEY_SCALE`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum CoreEvent {
    /// Through the gate and handed to the venue.
    Accepted {
        /// As the request carried it.
        request_id: RequestId,
        /// execd's id for it, the key of every later event about it.
        order: OrderId,
        /// What the venue knows it by; cancels and replaces chain from it.
        cl_ord_id: ClOrdId,
        /// xxh3 of the request as received, frozen (R-IN-2).
        content_hash: u64,
        /// A kill switch covering it was at WARNING.
        warning: bool,
    },
    /// Refused; nothing was sent.
    Rejected {
        /// As the request carried it.
        request_id: RequestId,
        /// Every request gets one, refused or not; 0 when the order store was full.
        order: OrderId,
        /// The first check that failed.
        reason: Reason,
    },
    /// The request id was seen before (R-IN-3): the first order's current status.
    Duplicate {
        /// As the request carried it.
        request_id: RequestId,
        /// The order the first request made.
        order: OrderId,
        /// Where that order is now.
        state: OrderState,
    },
    /// An order changed state (or its status was asked for).
    Order(OrderStatus),
    /// An execution applied to an order.
    Fill {
        /// The order it filled (a protective leg is an order too).
        order: OrderId,
        /// Interned instrument, for the scales of `px` and `qty`.
        instrument: InstrumentId,
        /// The venue's execution id; a resent report with the same id is never applied
        /// twice.
        exec_id: u64,
        /// Execution price.
        px: Price,
        /// Executed quantity.
        qty: Qty,
        /// Commission charged for it.
        fee: Money,
        /// Against the order's reference price, when it had one.
        slippage: Option<Slippage>,
        /// Arrived after the hard timeout (or after a terminal state).
        late: bool,
    },
    /// Stop-loss / take-profit orders placed for a filled parent (R-OMS-5).
    Protection {
        /// The filled order they protect.
        parent: OrderId,
        /// The stop order and its trigger, when the request asked for a stop-loss.
        stop_loss: Option<(OrderId, Price)>,
        /// The limit order and its limit, when the request asked for a take-profit.
        take_profit: Option<(OrderId, Price)>,
        /// Filled quantity not protected before: each leg's quantity.
        qty: Qty,
    },
    /// A fill slipped beyond the request's maximum and protection was withheld; a human
    /// decides.
    SlippageBreach {
        /// The filled order.
        order: OrderId,
        /// How far its average fill slipped, in hundredths of a basis point.
        bps_e2: i64,
    },
    /// A protective leg filled beyond the position it protected — both legs of a pair
    /// executed in the same instant at a venue that does not link or limit them — and
    /// flipped it; the excess is sent back as a market order (R-OMS-5). An anomaly: the
    /// position was briefly one upstream never asked for.
    ProtectionOverfill {
        /// The leg whose fill flipped the position.
        leg: OrderId,
        /// The market order flattening the excess (`None`: it could not be placed).
        flatten: Option<OrderId>,
        /// The excess: the opposite position the leg opened.
        qty: Qty,
    },
    /// The venue refused a protective leg (a refused OCO list refuses both): the
    /// position lacks that protection and a human decides (R-OMS-5).
    Unprotected {
        /// The filled order the leg was to protect.
        parent: OrderId,
        /// The refused leg.
        leg: OrderId,
        /// Why, as the venue said.
        reason: Reason,
    },
    /// An event that did not fit the order's state (R-OMS-1): reported, state unchanged.
    Anomaly {
        /// The order it was about.
        order: OrderId,
        /// The state it stayed in.
        state: OrderState,
        /// What did not fit.
        event: OmsEvent,
    },
    /// A command could not be carried out.
    CommandRejected {
        /// The order it named, if it named one that exists.
        order: Option<OrderId>,
        /// Why.
        reason: Reason,
    },
    /// A kill switch changed (to every producer).
    KillSwitch {
        /// Which switch.
        scope: Scope,
        /// Its new position.
        state: KillState,
        /// Cancels sent by an emergency stop.
        canceled: u32,
    },
    /// An account's mode changed (to every producer).
    ModeChanged {
        /// As configured.
        account: Name,
        /// Its new mode.
        mode: Mode,
    },
    /// Every command before the matching [`Command::Sync`] is carried out.
    Synced(u64),
    /// A venue's own rate limits as its bridge reported them (R-VEN-3): what the gate's
    /// venue budget works from from here on (R-GATE-7).
    VenueLimits {
        /// As configured.
        venue: Name,
        /// As reported.
        limits: RateLimits,
    },
    /// A request the venue adapter could not queue for its I/O thread (the ring between
    /// them was full): nothing went out. A new order is resent like one never
    /// delivered; a cancel or replace is refused with `VENUE_BACKPRESSURE`.
    VenueBackpressure {
        /// The order it was about.
        order: OrderId,
        /// Which request.
        request: Request,
    },
    /// A network venue's session logged on or off (the gate refuses orders while off).
    VenueSession {
        /// As configured.
        venue: Name,
        /// `true` from the logon on.
        up: bool,
    },
    /// A fill that no execution report told and a venue's status answer revealed (a
    /// report lost across a disconnect or a sequence reset): booked by the
    /// [`CoreEvent::Fill`] just before, its commission unknown, and flagged here for
    /// reconciliation (R-RES-1, R-AUD-4).
    FillRecovered {
        /// The order it filled.
        order: OrderId,
        /// Quantity the venue filled beyond what reports told.
        qty: Qty,
        /// The price that makes the order's average the venue's.
        px: Price,
    },
    /// A venue's status answer reports less filled than the core booked: nothing is
    /// undone; a human reconciles.
    VenueMismatch {
        /// The order.
        order: OrderId,
        /// Cumulative quantity at the venue.
        venue_cum: Qty,
        /// Cumulative quantity the core booked.
        core_cum: Qty,
    },
    /// Follows the [`CoreEvent::Order`] that answers a [`Command::Query`]: the instrument
    /// the order trades, whose scales its quantities and prices are at. Like
    /// [`CoreEvent::Synced`] it is not journaled (the journaled query and status imply
    /// it, and replay derives it again).
    OrderInstrument {
        /// The order queried.
        order: OrderId,
        /// Its instrument.
        instrument: InstrumentId,
    },
    /// One row answering a [`Command::Read`]; never journaled.
    Row(Row),
    /// The end of a [`Command::Read`]'s answer; never journaled. `next`: where the next
    /// page starts, when there may be more rows.
    RowsEnd {
        /// The `from` of the next page; none when this page ended the read.
        next: Option<u64>,
    },
    /// An instrument's risk limits changed (to every producer).
    LimitsChanged(Limits),
    /// One line of a reconciliation report (to every producer).
    ReconLine(crate::model::reconcile::ReconLine),
    /// One balance line of a reconciliation report (to every producer, before the
    /// report's summary, which counts it).
    BalanceLine(crate::model::reconcile::BalanceLine),
    /// A reconciliation report is complete (to every producer, after its lines).
    ReconReport(crate::model::reconcile::ReconSummary),
    /// An operator resolved a venue's differences (to every producer): `released` holds
    /// lifted, `restated` positions booked as the venue reported them.
    ReconResolved {
        /// The venue.
        venue: VenueId,
        /// The account in scope (all when none).
        account: Option<AccountId>,
        /// The instrument in scope (all the venue's when none).
        instrument: Option<InstrumentId>,
        /// The venue's state was accepted.
        accept_venue: bool,
        /// Holds lifted.
        released: u32,
        /// Positions restated to the venue's.
        restated: u32,
    },
    /// An account's halt flag changed (to every producer).
    HaltChanged {
        /// As configured.
        account: Name,
        /// `true`: new requests are refused.
        halted: bool,
    },
    /// An order the venue never saw will be resent under the same ClOrdID at `due_ns`
    /// (R-RES-1); it stays PENDING_NEW meanwhile.
    RetryScheduled {
        /// The order.
        order: OrderId,
        /// Tries so far (the first send is 1).
        attempt: u8,
        /// Engine time of the resend.
        due_ns: u64,
    },
    /// An order could not be delivered and is kept for an operator (R-RES-3); it stays
    /// PENDING_NEW until re-driven, discarded or canceled.
    DeadLettered {
        /// The order.
        order: OrderId,
        /// Why.
        reason: Reason,
        /// Tries made.
        attempts: u8,
    },
    /// A dead letter left the queue.
    DeadLetterResolved {
        /// The order.
        order: OrderId,
        /// What became of it.
        action: DeadLetterAction,
    },
}

/// An order's state and quantities, as reported to upstream. Prices and quantities are
/// mantissas at the instrument's scales.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OrderStatus {
    /// execd's id.
    pub order: OrderId,
    /// Empty for protective orders.
    pub request_id: RequestId,
    /// For protective orders, the filled order they protect.
    pub parent: Option<OrderId>,
    /// Where it is now.
    pub state: OrderState,
    /// Order quantity (after any replace).
    pub qty: Qty,
    /// Filled so far.
    pub cum_qty: Qty,
    /// Average fill price, rounded half away from zero; 0 before the first fill.
    pub avg_px: Price,
    /// Set for rejections.
    pub reason: Option<Reason>,
    /// A fill or other outcome arrived after the hard timeout.
    pub late: bool,
}
