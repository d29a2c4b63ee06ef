//! One order as the OMS keeps it: identity, terms, state and fills (R-OMS-2, R-OMS-3).

use super::state::{transition, Anomaly, Target};
use crate::model::event::OrderStatus;
use crate::model::fixed::{clamp_i64, div_round, Money, Price, Qty};
use crate::model::ids::{
    AccountId, ClOrdId, InstrumentId, OrderId, OrderType, RequestId, Side, Tif, VenueId,
};
use crate::model::order_state::{OmsEvent, OrderState};
use crate::model::{reason::Reason, request::Level};

/// Exec ids remembered inline per order; more spill into the book's overflow set.
pub const INLINE_EXEC_IDS: usize = 12;

/// An order.
#[derive(Clone, Copy, Debug)]
pub struct Order {
    /// execd's id.
    pub id: OrderId,
    /// Upstream's request id (empty for protective orders).
    pub request_id: RequestId,
    /// Frozen content hash of the request.
    pub content_hash: u64,
    /// Which producer ring it came from (events go back there).
    pub origin: u8,
    /// The filled order this one protects.
    pub parent: Option<OrderId>,
    /// The other leg of a one-cancels-other pair.
    pub oco: Option<OrderId>,
    /// The next protective order on the same position (a list headed in `Position`).
    pub next_protective: Option<OrderId>,
    /// Account.
    pub account: AccountId,
    /// Venue.
    pub venue: VenueId,
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
    /// Reference price for slippage.
    pub reference: Price,
    /// Stop-loss to place after the fill.
    pub stop_loss: Option<Level>,
    /// Take-profit to place after the fill.
    pub take_profit: Option<Level>,
    /// Maximum acceptable slippage.
    pub max_slippage_bps: Option<u32>,
    /// Withhold protection when a fill slipped too far.
    pub reject_on_fill_slippage: bool,
    /// State.
    pub state: OrderState,
    /// Filled quantity.
    pub cum_qty: Qty,
    /// Σ fill price × qty, mantissas: the exact basis of the average price.
    pub cum_notional: i128,
    /// Commission paid.
    pub fees: Money,
    /// Version of the working client order id.
    pub version: u16,
    /// Highest version issued (cancel / replace requests).
    pub last_version: u16,
    /// Quantity and limit asked for by a pending replace.
    pub pending_replace: Option<(Qty, Price)>,
    /// The venue's order id.
    pub venue_order_id: u64,
    /// Margin still reserved for the unfilled part.
    pub margin: Money,
    /// Quantity already covered by protective orders.
    pub protected_qty: Qty,
    /// Epoch of its client order ids.
    pub epoch: u32,
    /// The venue acknowledged it (or filled it, which implies as much).
    pub acked: bool,
    /// Something arrived after the hard timeout or after a terminal state.
    pub late: bool,
    /// Sent under a WARNING kill switch.
    pub warning: bool,
    /// Why it was rejected.
    pub reason: Option<Reason>,
    /// When it was received (ns).
    pub received_at: u64,
    exec_ids: [u64; INLINE_EXEC_IDS],
    n_exec: u8,
}

/// What applying a fill did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FillResult {
    /// Exec id already applied: ignored (R-OMS-3).
    Duplicate,
    /// Would take the order past its quantity: refused.
    Overfill,
    /// Applied; the event to feed the state machine.
    Applied(OmsEvent),
}

impl Order {
    /// A new order in state Received.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: OrderId,
        epoch: u32,
        request_id: RequestId,
        origin: u8,
        account: AccountId,
        venue: VenueId,
        instrument: InstrumentId,
        side: Side,
        order_type: OrderType,
        tif: Tif,
        qty: Qty,
        received_at: u64,
    ) -> Order {
        Order {
            id,
            request_id,
            content_hash: 0,
            origin,
            parent: None,
            oco: None,
            next_protective: None,
            account,
            venue,
            instrument,
            side,
            order_type,
            tif,
            qty,
            limit: Price(0),
            stop: Price(0),
            reference: Price(0),
            stop_loss: None,
            take_profit: None,
            max_slippage_bps: None,
            reject_on_fill_slippage: false,
            state: OrderState::Received,
            cum_qty: Qty(0),
            cum_notional: 0,
            fees: Money(0),
            version: 0,
            last_version: 0,
            pending_replace: None,
            venue_order_id: 0,
            margin: Money(0),
            protected_qty: Qty(0),
            epoch,
            acked: false,
            late: false,
            warning: false,
            reason: None,
            received_at,
            exec_ids: [0; INLINE_EXEC_IDS],
            n_exec: 0,
        }
    }

    /// The working client order id.
    pub fn cl_ord_id(&self) -> ClOrdId {
        self.cl_at(self.version)
    }

    /// The client order id at a version.
    pub fn cl_at(&self, version: u16) -> ClOrdId {
        ClOrdId {
            epoch: self.epoch,
            order: self.id,
            version,
        }
    }

    /// Issues the next client order id version (for a cancel or replace request).
    pub fn next_version(&mut self) -> u16 {
        self.last_version = self.last_version.wrapping_add(1);
        self.last_version
    }

    /// Quantity still open.
    pub fn leaves(&self) -> Qty {
        if self.state.is_terminal() {
            Qty(0)
        } else {
            Qty((self.qty.0 - self.cum_qty.0).max(0))
        }
    }

    /// Average fill price (0 before the first fill).
    pub fn avg_px(&self) -> Price {
        if self.cum_qty.0 == 0 {
            Price(0)
        } else {
            Price(clamp_i64(div_round(
                self.cum_notional,
                self.cum_qty.0 as i128,
            )))
        }
    }

    /// Feeds the state machine; on success the state changes, on an anomaly it does not.
    pub fn apply(&mut self, ev: OmsEvent) -> Result<super::state::Effects, Anomaly> {
        let step = transition(self.state, ev)?;
        self.state = match step.to {
            Target::State(s) => s,
            // A refused cancel or replace leaves the order where the venue has it.
            Target::Working => {
                if self.cum_qty.0 > 0 {
                    OrderState::PartiallyFilled
                } else if self.acked {
                    OrderState::New
                } else {
                    OrderState::PendingNew
                }
            }
        };
        Ok(step.effects)
    }

    /// Whether the inline exec-id memory is full (later ids go to the book's overflow).
    pub fn inline_execs_full(&self) -> bool {
        self.n_exec as usize >= INLINE_EXEC_IDS
    }

    /// Whether this exec id was applied already (inline part only).
    fn seen_inline(&self, exec_id: u64) -> bool {
        self.exec_ids[..(self.n_exec as usize).min(INLINE_EXEC_IDS)].contains(&exec_id)
    }

    /// Records a fill's quantities. `seen_overflow` answers for exec ids beyond the inline
    /// ones and `remember_overflow` stores them; both are the book's.
    pub fn record_fill(
        &mut self,
        exec_id: u64,
        px: Price,
        qty: Qty,
        fee: Money,
        seen_overflow: impl FnOnce(u64) -> bool,
        remember_overflow: impl FnOnce(u64),
    ) -> FillResult {
        if self.seen_inline(exec_id)
            || (self.n_exec as usize >= INLINE_EXEC_IDS && seen_overflow(exec_id))
        {
            return FillResult::Duplicate;
        }
        if qty.0 <= 0 || qty.0 > self.qty.0 - self.cum_qty.0 {
            return FillResult::Overfill;
        }
        if (self.n_exec as usize) < INLINE_EXEC_IDS {
            self.exec_ids[self.n_exec as usize] = exec_id;
            self.n_exec += 1;
        } else {
            remember_overflow(exec_id);
        }
        self.acked = true;
        self.cum_qty.0 += qty.0;
        self.cum_notional += px.0 as i128 * qty.0 as i128;
        self.fees = self.fees + fee;
        if self.cum_qty == self.qty {
            FillResult::Applied(OmsEvent::FinalFill)
        } else {
            FillResult::Applied(OmsEvent::PartialFill)
        }
    }

    /// The status report for upstream.
    pub fn status(&self) -> OrderStatus {
        OrderStatus {
            order: self.id,
            request_id: self.request_id,
            parent: self.parent,
            state: self.state,
            qty: self.qty,
            cum_qty: self.cum_qty,
            avg_px: self.avg_px(),
            reason: self.reason,
            late: self.late,
        }
    }
}
