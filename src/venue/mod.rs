//! Venues (R-VEN-1): one interface, one adapter per kind. The paper venue is here; FIX
//! sessions and REST/WebSocket bridges implement the same trait.

pub mod any;
pub mod fix;
pub mod paper;
pub mod recorded;

pub use any::AnyVenue;

use crate::model::fixed::{Money, Price, Qty};
use crate::model::ids::{AccountId, ClOrdId, InstrumentId, OrderType, Side, Tif};
use crate::model::{quote::Quote, reason::Reason};

/// A new order as a venue receives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VenueOrder {
    /// Client order id.
    pub cl: ClOrdId,
    /// Account.
    pub account: AccountId,
    /// Instrument.
    pub instrument: InstrumentId,
    /// Side.
    pub side: Side,
    /// Type.
    pub order_type: OrderType,
    /// Time in force.
    pub tif: Tif,
    /// Quantity.
    pub qty: Qty,
    /// Limit price (0 = none).
    pub limit: Price,
    /// Stop price (0 = none).
    pub stop: Price,
    /// May only reduce the position (protective orders): never opens or flips one.
    pub reduce_only: bool,
}

/// What a venue reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VenueEventKind {
    /// Order acknowledged.
    Ack {
        /// Client order id.
        cl: ClOrdId,
        /// The venue's id for it.
        venue_order_id: u64,
    },
    /// Order rejected.
    Rejected {
        /// Client order id.
        cl: ClOrdId,
        /// Why.
        reason: Reason,
    },
    /// An execution.
    Fill {
        /// Client order id.
        cl: ClOrdId,
        /// Execution id, unique per venue.
        exec_id: u64,
        /// Price.
        px: Price,
        /// Quantity.
        qty: Qty,
        /// Commission.
        fee: Money,
    },
    /// Order canceled (requested, IOC/FOK remainder, or unsolicited).
    Canceled {
        /// Client order id.
        cl: ClOrdId,
    },
    /// A cancel was refused.
    CancelRejected {
        /// Client order id of the cancel request.
        cl: ClOrdId,
        /// Why.
        reason: Reason,
    },
    /// A cancel/replace was applied.
    Replaced {
        /// Client order id of the replace request, now the working one.
        cl: ClOrdId,
        /// New quantity.
        qty: Qty,
        /// New limit.
        limit: Price,
    },
    /// A cancel/replace was refused.
    ReplaceRejected {
        /// Client order id of the replace request.
        cl: ClOrdId,
        /// Why.
        reason: Reason,
    },
    /// Order expired (DAY).
    Expired {
        /// Client order id.
        cl: ClOrdId,
    },
    /// The venue's session went up (logged on) or down. Journaled like any venue input,
    /// so a replay sees the venue as the gate saw it.
    Session {
        /// Logged on.
        up: bool,
    },
    /// Top of book.
    Quote {
        /// Instrument.
        instrument: InstrumentId,
        /// The quote.
        quote: Quote,
    },
}

/// A venue event and when it happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VenueEvent {
    /// Unix ns.
    pub at_ns: u64,
    /// What.
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
}

/// The interface every venue adapter implements. Calls never block and never allocate
/// in steady state; answers come back through `poll`.
pub trait Venue: Send {
    /// Whether the session is logged on (R-GATE-8).
    fn is_logged_on(&self) -> bool;
    /// Sends a new order.
    fn submit(&mut self, now: u64, order: &VenueOrder) -> Result<(), VenueError>;
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
    /// Asks the venue for an order's state (FIX OrderStatusRequest) when its outcome is
    /// unknown — after a hard timeout or a fill racing a cancel (R-RES-1: a query, never a
    /// blind resend). The answer, if any, comes back through `poll`. In-process venues
    /// already answer every order, so they do nothing.
    fn query(&mut self, now: u64, order: &VenueOrder) {
        let _ = (now, order);
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
