//! One order as the OMS keeps it: identity, terms, state and fills (R-OMS-2, R-OMS-3).
//!
//! Its fields are private: the state changes only through the transition table
//! ([`Order::apply`]), and the facts the table resolves against (acknowledged, filled
//! quantity, amendments) only through the methods that record what the venue said.

use super::state::{transition, Anomaly, Effects, Target};
use crate::model::event::OrderStatus;
use crate::model::fixed::{clamp_i64, div_round, Money, Price, Qty};
use crate::model::ids::{
    AccountId, ClOrdId, InstrumentId, OrderId, OrderType, RequestId, Side, Tif, VenueId,
};
use crate::model::order_state::{OmsEvent, OrderState};
use crate::model::reason::Reason;
use crate::model::request::Level;

/// Exec ids remembered inline per order; more spill into the book's overflow set.
pub(crate) const INLINE_EXEC_IDS: usize = 12;

/// What an order is, as created. Only a replace the venue confirmed changes `qty`,
/// `limit` and `stop` afterwards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Terms {
    /// Empty for protective orders, which upstream never asked for by id.
    pub request_id: RequestId,
    /// Frozen content hash of the request (R-IN-2); 0 for protective orders.
    pub content_hash: u64,
    /// The producer ring it came from: its events go back there.
    pub origin: u8,
    /// Interned account.
    pub account: AccountId,
    /// Interned venue.
    pub venue: VenueId,
    /// Interned instrument.
    pub instrument: InstrumentId,
    /// Buy or sell.
    pub side: Side,
    /// Market, limit, stop or stop-limit.
    pub order_type: OrderType,
    /// Time in force.
    pub tif: Tif,
    /// Order quantity at the instrument's quantity scale; 0 for a request the gate refused.
    pub qty: Qty,
    /// Limit price at the instrument's price scale; 0 when the type has none.
    pub limit: Price,
    /// Stop trigger at the instrument's price scale; 0 when the type has none.
    pub stop: Price,
    /// The price slippage is measured against: upstream's, or the mid at receipt.
    pub reference: Price,
    /// Stop-loss to place once filled.
    pub stop_loss: Option<Level>,
    /// Take-profit to place once filled.
    pub take_profit: Option<Level>,
    /// Upstream's slippage limit, basis points.
    pub max_slippage_bps: Option<u32>,
    /// Withhold protection when a fill slipped beyond `max_slippage_bps`.
    pub reject_on_fill_slippage: bool,
    /// Sent while a kill switch covering it was at WARNING.
    pub warning: bool,
    /// For a protective order: the filled order it protects.
    pub parent: Option<OrderId>,
    /// For a protective order: the other leg of its one-cancels-other pair.
    pub oco: Option<OrderId>,
    /// Engine time (Unix ns) it was received.
    pub received_at: u64,
    /// The request's expiry (Unix ns): no resend goes after it (R-RES-1).
    pub expire_at_ns: Option<u64>,
}

impl Terms {
    /// Terms with every field zero or empty, as an order store's unused slots hold.
    pub const BLANK: Terms = Terms {
        request_id: RequestId::EMPTY,
        content_hash: 0,
        origin: 0,
        account: AccountId(0),
        venue: VenueId(0),
        instrument: InstrumentId(0),
        side: Side::Buy,
        order_type: OrderType::Market,
        tif: Tif::Ioc,
        qty: Qty(0),
        limit: Price(0),
        stop: Price(0),
        reference: Price(0),
        stop_loss: None,
        take_profit: None,
        max_slippage_bps: None,
        reject_on_fill_slippage: false,
        warning: false,
        parent: None,
        oco: None,
        received_at: 0,
        expire_at_ns: None,
    };
}

/// An order: its terms, where it is in its life, and what has been filled.
#[derive(Clone, Copy, Debug)]
pub struct Order {
    id: OrderId,
    epoch: u32,
    terms: Terms,
    state: OrderState,
    cum_qty: Qty,
    // Σ fill price × qty, mantissas: the exact basis of the average price.
    cum_notional: i128,
    fees: Money,
    // Version of the working client order id, and the highest issued (cancel / replace
    // requests take the next one).
    version: u16,
    last_version: u16,
    pending_replace: Option<(Qty, Price)>,
    venue_order_id: u64,
    margin: Money,
    protected_qty: Qty,
    acked: bool,
    late: bool,
    // Part of its fills came from a venue's status answer, not from a report: a report
    // that turns up later for quantity already booked is recognised by its CumQty.
    recovered: bool,
    reason: Option<Reason>,
    next_protective: Option<OrderId>,
    exec_ids: [u64; INLINE_EXEC_IDS],
    n_exec: u8,
}

/// One execution as a venue reported it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Execution {
    /// The venue's execution id: the key that keeps a resent report from counting twice.
    pub exec_id: u64,
    /// Price at the instrument's price scale.
    pub px: Price,
    /// Quantity at the instrument's quantity scale.
    pub qty: Qty,
    /// Commission, in money units.
    pub fee: Money,
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
    /// A new order in state Received, reserving `margin` for its unfilled quantity.
    pub fn new(id: OrderId, epoch: u32, terms: Terms, margin: Money) -> Order {
        Order {
            id,
            epoch,
            terms,
            state: OrderState::Received,
            cum_qty: Qty(0),
            cum_notional: 0,
            fees: Money(0),
            version: 0,
            last_version: 0,
            pending_replace: None,
            venue_order_id: 0,
            margin,
            protected_qty: Qty(0),
            acked: false,
            late: false,
            recovered: false,
            reason: None,
            next_protective: None,
            exec_ids: [0; INLINE_EXEC_IDS],
            n_exec: 0,
        }
    }

    /// A request the gate refused, kept so a resend of its request id gets this answer.
    pub(crate) fn rejected(id: OrderId, epoch: u32, terms: Terms, reason: Reason) -> Order {
        let mut o = Order::new(id, epoch, terms, Money(0));
        o.reason = Some(reason);
        let _ = o.apply(OmsEvent::GateReject);
        o
    }

    /// execd's id.
    #[inline]
    pub fn id(&self) -> OrderId {
        self.id
    }

    /// What the order is.
    #[inline]
    pub fn terms(&self) -> &Terms {
        &self.terms
    }

    /// Where it is in its life.
    #[inline]
    pub fn state(&self) -> OrderState {
        self.state
    }

    /// Filled quantity.
    #[inline]
    pub fn cum_qty(&self) -> Qty {
        self.cum_qty
    }

    /// Commission paid on its fills.
    pub fn fees(&self) -> Money {
        self.fees
    }

    /// Margin still reserved for its unfilled part.
    pub fn margin(&self) -> Money {
        self.margin
    }

    /// Filled quantity already covered by protective orders.
    pub(crate) fn protected_qty(&self) -> Qty {
        self.protected_qty
    }

    /// Whether the venue acknowledged it (or filled it, which implies as much).
    pub fn acked(&self) -> bool {
        self.acked
    }

    /// Whether something arrived after its hard timeout or after a terminal state.
    pub fn late(&self) -> bool {
        self.late
    }

    /// Why it was rejected.
    pub fn reason(&self) -> Option<Reason> {
        self.reason
    }

    /// The venue's id for it (0 until acknowledged).
    pub fn venue_order_id(&self) -> u64 {
        self.venue_order_id
    }

    /// Version of the working client order id.
    pub fn version(&self) -> u16 {
        self.version
    }

    /// Highest client order id version issued.
    pub fn last_version(&self) -> u16 {
        self.last_version
    }

    /// The next protective order on the same position (a list headed in `Position`).
    pub(crate) fn next_protective(&self) -> Option<OrderId> {
        self.next_protective
    }

    /// Whether it protects a filled parent.
    #[inline]
    pub fn is_protective(&self) -> bool {
        self.terms.parent.is_some()
    }

    /// Epoch of its client order ids.
    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    /// The working client order id.
    pub fn cl_ord_id(&self) -> ClOrdId {
        self.cl_at(self.version)
    }

    fn cl_at(&self, version: u16) -> ClOrdId {
        ClOrdId {
            epoch: self.epoch,
            order: self.id,
            version,
        }
    }

    /// Issues the client order id of a cancel request; returns it and the working one it
    /// names (OrigClOrdID).
    pub(crate) fn cancel_ids(&mut self) -> (ClOrdId, ClOrdId) {
        self.last_version = self.last_version.wrapping_add(1);
        (self.cl_at(self.last_version), self.cl_ord_id())
    }

    /// Issues the client order id of a replace asking for `qty` at `px`; returns it and
    /// the working one it names.
    pub(crate) fn request_replace(&mut self, qty: Qty, px: Price) -> (ClOrdId, ClOrdId) {
        self.pending_replace = Some((qty, px));
        self.cancel_ids()
    }

    /// Quantity still open.
    pub fn leaves(&self) -> Qty {
        if self.state.is_terminal() {
            Qty(0)
        } else {
            Qty((self.terms.qty.0 - self.cum_qty.0).max(0))
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

    /// Sum of fill price × quantity (mantissas), the numerator of the average price.
    pub(crate) fn cum_notional(&self) -> i128 {
        self.cum_notional
    }

    /// Feeds the state machine; on success the state changes, on an anomaly it does not.
    pub fn apply(&mut self, ev: OmsEvent) -> Result<Effects, Anomaly> {
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

    /// The venue acknowledged it under `venue_order_id`; after the hard timeout that is
    /// late news.
    pub(crate) fn record_ack(&mut self, venue_order_id: u64) {
        self.venue_order_id = venue_order_id;
        self.acked = true;
        if self.state == OrderState::TimedOut {
            self.late = true;
        }
    }

    /// The venue (or the way to it) refused the order.
    pub(crate) fn record_reject(&mut self, reason: Reason) {
        self.reason = Some(reason);
    }

    /// Something arrived after the hard timeout or after a terminal state.
    pub(crate) fn mark_late(&mut self) {
        self.late = true;
    }

    /// A venue's status answer filled part of it (see `recovered`).
    pub(crate) fn mark_recovered(&mut self) {
        self.recovered = true;
    }

    /// Whether part of its fills came from a venue's status answer.
    pub fn recovered(&self) -> bool {
        self.recovered
    }

    /// The venue applied a replace (client order id version `version`): the order now
    /// has `qty`, and `px` as its limit (or its stop, for a stop order). Returns how much
    /// the quantity grew, or `None` when no replace was waiting for this answer (the
    /// state machine then reports it).
    pub(crate) fn record_replace(&mut self, version: u16, qty: Qty, px: Price) -> Option<i64> {
        let racing_cancel =
            self.state == OrderState::PendingCancel && self.pending_replace.is_some();
        if self.state != OrderState::PendingReplace && !racing_cancel {
            return None;
        }
        let delta = qty.0 - self.terms.qty.0;
        self.terms.qty = qty;
        if self.terms.order_type.has_limit() {
            self.terms.limit = px;
        } else if self.terms.order_type.has_stop() {
            self.terms.stop = px;
        }
        self.version = version;
        self.pending_replace = None;
        Some(delta)
    }

    /// The venue refused the replace in flight.
    pub(crate) fn replace_refused(&mut self) {
        self.pending_replace = None;
    }

    /// Whether the inline exec-id memory is full (later ids go to the book's overflow).
    pub(crate) fn inline_execs_full(&self) -> bool {
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
        x: &Execution,
        seen_overflow: impl FnOnce(u64) -> bool,
        remember_overflow: impl FnOnce(u64),
    ) -> FillResult {
        let Execution {
            exec_id,
            px,
            qty,
            fee,
        } = *x;
        if self.seen_inline(exec_id)
            || (self.n_exec as usize >= INLINE_EXEC_IDS && seen_overflow(exec_id))
        {
            return FillResult::Duplicate;
        }
        if qty.0 <= 0 || qty.0 > self.terms.qty.0 - self.cum_qty.0 {
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
        if self.cum_qty == self.terms.qty {
            FillResult::Applied(OmsEvent::FinalFill)
        } else {
            FillResult::Applied(OmsEvent::PartialFill)
        }
    }

    /// Releases the share of the reserved margin that a fill of `qty` used, given the
    /// quantity that was open before it; returns it.
    pub(crate) fn release_fill_margin(&mut self, qty: Qty, open_before: Qty) -> Money {
        let released = if open_before.0 > 0 {
            Money(clamp_i64(div_round(
                self.margin.0 as i128 * qty.0 as i128,
                open_before.0 as i128,
            )))
        } else {
            Money(0)
        };
        self.margin = self.margin - released;
        released
    }

    /// The order left the working set: hands back the margin it still reserved.
    pub(crate) fn take_margin(&mut self) -> Money {
        std::mem::take(&mut self.margin)
    }

    /// Protective orders now cover everything filled so far (or protection was withheld
    /// for it).
    pub(crate) fn mark_protected(&mut self) {
        self.protected_qty = self.cum_qty;
    }

    /// Relinks the position's list of protective orders behind this one.
    pub(crate) fn link_next_protective(&mut self, next: Option<OrderId>) {
        self.next_protective = next;
    }

    /// The status report for upstream.
    pub fn status(&self) -> OrderStatus {
        OrderStatus {
            order: self.id,
            request_id: self.terms.request_id,
            parent: self.terms.parent,
            state: self.state,
            qty: self.terms.qty,
            cum_qty: self.cum_qty,
            avg_px: self.avg_px(),
            reason: self.reason,
            late: self.late,
        }
    }
}

/// Direct access for property tests that start the state machine from a given point.
#[cfg(test)]
impl Order {
    pub(super) fn force_state(&mut self, s: OrderState) {
        self.state = s;
    }

    pub(super) fn force_fact(&mut self, acked: bool, extra_filled: i64) {
        self.acked |= acked;
        self.cum_qty.0 += extra_filled;
    }
}
