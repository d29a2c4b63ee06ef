//! What crosses the rings: commands into the core and events out of it.

use super::control::{KillState, Mode};
use super::fixed::{Dec, Money, Price, Qty};
use super::ids::{ClOrdId, InstrumentId, Name, OrderId, RequestId};
use super::order_state::{OmsEvent, OrderState};
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
    /// One venue.
    Venue(Name),
    /// One account.
    Account(Name),
    /// One symbol, on every venue.
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
        /// The order.
        order: OrderRef,
        /// New total quantity.
        quantity: Option<Dec>,
        /// New limit price.
        limit_price: Option<Dec>,
    },
    /// Cancel every open order in scope.
    CancelAll(Scope),
    /// Move the protective orders of a filled parent.
    ModifyProtection {
        /// The parent order.
        order: OrderRef,
        /// New stop-loss trigger.
        stop_loss: Option<Dec>,
        /// New take-profit limit.
        take_profit: Option<Dec>,
    },
    /// Set a kill switch; `cancel_open` makes ACTIVE an emergency stop.
    SetKillSwitch {
        /// Scope.
        scope: Scope,
        /// New state.
        state: KillState,
        /// Cancel open orders in scope too.
        cancel_open: bool,
    },
    /// Set an account's mode (R-GATE-1).
    SetMode {
        /// Account.
        account: Name,
        /// Mode.
        mode: Mode,
    },
    /// Set or clear an account's trading halt (R-GATE-3).
    SetHalted {
        /// Account.
        account: Name,
        /// Halted?
        halted: bool,
    },
    /// A top of book from a market-data source.
    Quote {
        /// Venue.
        venue: Name,
        /// Symbol.
        symbol: Name,
        /// Best bid.
        bid: Dec,
        /// Best ask.
        ask: Dec,
        /// Size at the bid (0 = unknown).
        bid_size: Dec,
        /// Size at the ask (0 = unknown).
        ask_size: Dec,
    },
    /// Ask for an order's current status.
    Query(OrderRef),
    /// Nothing: only moves simulated time to the envelope's `at_ns`.
    Tick,
    /// Answered with [`CoreEvent::Synced`] once every earlier command is carried out.
    Sync(u64),
}

/// A command in its envelope.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Inbound {
    /// Event time in Unix ns under a simulated clock; 0 = now (real clock).
    pub at_ns: u64,
    /// Raw clock stamp taken by the producer, for the ring-hop latency.
    pub stamp: u64,
    /// The command.
    pub cmd: Command,
}

/// An event from the core thread.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum CoreEvent {
    /// Through the gate and handed to the venue.
    Accepted {
        /// Upstream's id.
        request_id: RequestId,
        /// Order id.
        order: OrderId,
        /// Client order id sent to the venue.
        cl_ord_id: ClOrdId,
        /// Frozen content hash (R-IN-2).
        content_hash: u64,
        /// A kill switch in WARNING state covered it.
        warning: bool,
    },
    /// Refused; nothing was sent.
    Rejected {
        /// Upstream's id.
        request_id: RequestId,
        /// Order id (every request gets one, rejected or not).
        order: OrderId,
        /// Why.
        reason: Reason,
    },
    /// The request id was seen before (R-IN-3): the first order's current status.
    Duplicate {
        /// Upstream's id.
        request_id: RequestId,
        /// The first order.
        order: OrderId,
        /// Its state now.
        state: OrderState,
    },
    /// An order changed state (or its status was asked for).
    Order(OrderStatus),
    /// An execution applied to an order.
    Fill {
        /// Order.
        order: OrderId,
        /// Instrument.
        instrument: InstrumentId,
        /// Venue execution id.
        exec_id: u64,
        /// Fill price.
        px: Price,
        /// Fill quantity.
        qty: Qty,
        /// Commission.
        fee: Money,
        /// Slippage against the reference price, if there was one.
        slippage: Option<Slippage>,
        /// Arrived after the hard timeout (or after a terminal state).
        late: bool,
    },
    /// Stop-loss / take-profit orders placed for a filled parent (R-OMS-5).
    Protection {
        /// The filled parent.
        parent: OrderId,
        /// Stop-loss order and trigger.
        stop_loss: Option<(OrderId, Price)>,
        /// Take-profit order and limit.
        take_profit: Option<(OrderId, Price)>,
        /// Quantity protected.
        qty: Qty,
    },
    /// A fill slipped beyond the request's maximum and protection was withheld.
    SlippageBreach {
        /// Order.
        order: OrderId,
        /// Slippage in hundredths of a basis point.
        bps_e2: i64,
    },
    /// An event that did not fit the order's state (R-OMS-1).
    Anomaly {
        /// Order.
        order: OrderId,
        /// State it was in.
        state: OrderState,
        /// Event that did not fit.
        event: OmsEvent,
    },
    /// A command could not be carried out.
    CommandRejected {
        /// The order it named, if any.
        order: Option<OrderId>,
        /// Why.
        reason: Reason,
    },
    /// A kill switch changed (broadcast).
    KillSwitch {
        /// Scope.
        scope: Scope,
        /// New state.
        state: KillState,
        /// Orders it canceled.
        canceled: u32,
    },
    /// An account's mode changed.
    ModeChanged {
        /// Account.
        account: Name,
        /// Mode.
        mode: Mode,
    },
    /// Every command before the matching [`Command::Sync`] is carried out.
    Synced(u64),
    /// A network venue's session logged on or off (the gate refuses orders while off).
    VenueSession {
        /// The venue.
        venue: Name,
        /// Logged on.
        up: bool,
    },
    /// An account's halt flag changed.
    HaltChanged {
        /// Account.
        account: Name,
        /// Halted?
        halted: bool,
    },
}

/// An order's state and quantities, as reported to upstream.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OrderStatus {
    /// Order.
    pub order: OrderId,
    /// Upstream's id (empty for protective orders).
    pub request_id: RequestId,
    /// The parent, for protective orders.
    pub parent: Option<OrderId>,
    /// State now.
    pub state: OrderState,
    /// Order quantity.
    pub qty: Qty,
    /// Filled so far.
    pub cum_qty: Qty,
    /// Average fill price.
    pub avg_px: Price,
    /// Reason, for rejections.
    pub reason: Option<Reason>,
    /// A fill or other outcome arrived after the hard timeout.
    pub late: bool,
}
