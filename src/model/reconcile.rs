//! Reconciliation (R-AUD-4, R-RES-4): the venue's picture of orders and positions
//! compared with the core's, one line per order and per position, and what an operator
//! decides about a difference. Fixed size, like every event that crosses a ring.

use super::fixed::Qty;
use super::ids::{AccountId, InstrumentId, Name, OrderId, VenueId};
use super::order_state::OrderState;

/// What one line of a report found. Named as auditors read them (`MATCHED`, …).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReconStatus {
    /// Both sides agree.
    Matched,
    /// Both sides know it and disagree (an order open on one side only, a position of
    /// another size).
    Mismatch,
    /// The venue holds a position the core does not.
    PhantomPosition,
    /// The core holds a position the venue does not.
    MissingPosition,
    /// A position the core protected (SL/TP placed) with no protective order working at
    /// the venue.
    MissingSlTp,
    /// The venue has an open order the core did not send or no longer holds.
    UnknownOrder,
    /// A balance line whose asset moved by a fill the venue has not confirmed with a
    /// balance yet (Binance tells the fill, then the account): not compared, counted
    /// in the summary's `in_flight`.
    InFlight,
    /// A balance line whose start was taken again from the venue's word after a stream
    /// gap or a restart (fills recovered through status answers move no assets here):
    /// ours and theirs are the changes set aside then. Not a mismatch.
    Rebased,
}

impl ReconStatus {
    /// Every status, in journal tag order.
    pub const ALL: [ReconStatus; 8] = [
        ReconStatus::Matched,
        ReconStatus::Mismatch,
        ReconStatus::PhantomPosition,
        ReconStatus::MissingPosition,
        ReconStatus::MissingSlTp,
        ReconStatus::UnknownOrder,
        ReconStatus::InFlight,
        ReconStatus::Rebased,
    ];

    /// The name reports and exports use.
    pub fn as_str(self) -> &'static str {
        match self {
            ReconStatus::Matched => "MATCHED",
            ReconStatus::Mismatch => "MISMATCH",
            ReconStatus::PhantomPosition => "PHANTOM_POSITION",
            ReconStatus::MissingPosition => "MISSING_POSITION",
            ReconStatus::MissingSlTp => "MISSING_SL_TP",
            ReconStatus::UnknownOrder => "UNKNOWN_ORDER",
            ReconStatus::InFlight => "IN_FLIGHT",
            ReconStatus::Rebased => "REBASED",
        }
    }
}

/// Why a reconciliation ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReconTrigger {
    /// At start, after recovery (R-RES-4), or when an external venue's session came up.
    Start,
    /// After an order's hard timeout (R-OMS-4).
    Timeout,
    /// The venue's `reconcile_every_s` schedule.
    Schedule,
    /// An operator asked for it.
    Operator,
}

impl ReconTrigger {
    /// Every trigger, in journal tag order.
    pub const ALL: [ReconTrigger; 4] = [
        ReconTrigger::Start,
        ReconTrigger::Timeout,
        ReconTrigger::Schedule,
        ReconTrigger::Operator,
    ];

    /// The name reports use.
    pub fn as_str(self) -> &'static str {
        match self {
            ReconTrigger::Start => "start",
            ReconTrigger::Timeout => "timeout",
            ReconTrigger::Schedule => "schedule",
            ReconTrigger::Operator => "operator",
        }
    }
}

/// One line of a report: an order (`order` set, or a venue's order the core does not
/// hold) or a position (`order` none). Quantities are mantissas at the instrument's
/// quantity scale.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReconLine {
    /// The report it belongs to (numbered from 1 for the journal's life).
    pub report: u32,
    /// Which venue was asked.
    pub venue: VenueId,
    /// What was found.
    pub status: ReconStatus,
    /// Whose; `None` when the venue named an account the configuration does not have.
    pub account: Option<AccountId>,
    /// What; `None` for a venue order the core cannot place.
    pub instrument: Option<InstrumentId>,
    /// The core's order, for order lines; `None` for positions and unknown orders.
    pub order: Option<OrderId>,
    /// The venue's ClOrdID sequence for an order line the core does not hold (its
    /// order number), else 0.
    pub venue_order: u64,
    /// Order lines: the core's state (`None`: the core does not hold it).
    pub ours_state: Option<OrderState>,
    /// Order lines: the venue's state (`None`: the venue did not list it as open).
    pub theirs_state: Option<OrderState>,
    /// Position lines: the core's net position; order lines: its filled quantity.
    pub ours: Qty,
    /// Position lines: the venue's net position; order lines: the quantity the venue
    /// reported filled (0 when it did not say).
    pub theirs: Qty,
}

/// The end of a report: how it came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReconSummary {
    /// The report's number.
    pub report: u32,
    /// Which venue was asked.
    pub venue: VenueId,
    /// Why it ran.
    pub trigger: ReconTrigger,
    /// When it was asked for (engine time, Unix ns); the summary's own time is when
    /// the venue finished answering.
    pub asked_ns: u64,
    /// Lines in the report.
    pub lines: u32,
    /// Lines other than MATCHED: each holds its scope until resolved.
    pub mismatches: u32,
    /// Orders still waiting for the venue's answer (status queries out): not compared,
    /// and the venue takes no new order after a restart until they are settled. Also
    /// counts balance lines IN_FLIGHT (a fill's assets without the venue's balance
    /// after it), which hold nothing.
    pub in_flight: u32,
    /// Whether the venue listed its open orders (a venue that cannot is not compared).
    pub orders_checked: bool,
    /// Whether the venue reported positions.
    pub positions_checked: bool,
}

impl ReconSummary {
    /// Whether nothing needs a human.
    pub fn matched(&self) -> bool {
        self.mismatches == 0
    }
}

/// One balance line of a report (spot venues): an asset's change since execd first saw
/// its balance, by execd's own fills (commission included, in the asset it was charged
/// in) and by the venue's balance. Amounts at [`crate::venue::ASSET_SCALE`] decimals.
/// A mismatch holds the venue until resolved, as a position mismatch of no single
/// symbol does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BalanceLine {
    /// The report it belongs to.
    pub report: u32,
    /// Which venue was asked.
    pub venue: VenueId,
    /// Whose.
    pub account: AccountId,
    /// The venue's asset code.
    pub asset: Name,
    /// MATCHED or MISMATCH.
    pub status: ReconStatus,
    /// The change execd's fills and commissions made.
    pub ours: i64,
    /// The change of the venue's balance (free + locked).
    pub theirs: i64,
}

/// An operator's decision about a report's differences (journaled with who and why in
/// the operator note before it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReconResolution {
    /// The venue whose differences are resolved.
    pub venue: Name,
    /// Only this account's (all when none).
    pub account: Option<Name>,
    /// Only this symbol's (all when none).
    pub symbol: Option<Name>,
    /// `true`: the venue is right: the core books the venue's positions as its own
    /// (a restatement, journaled). `false`: the core is right and the operator will act
    /// at the venue; only the hold is lifted.
    pub accept_venue: bool,
}
