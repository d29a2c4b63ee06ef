//! Where an order is in its life, and what can happen to it (R-OMS-1): the alphabet of
//! the OMS's transition table, reported to upstream in statuses and anomalies.

/// Where an order is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OrderState {
    /// Taken in, not yet through the gate.
    Received,
    /// Refused by the gate or the venue. Terminal.
    Rejected,
    /// Sent, not yet acknowledged.
    PendingNew,
    /// Acknowledged by the venue, nothing filled.
    New,
    /// Some quantity filled, the rest working.
    PartiallyFilled,
    /// Fully filled. Terminal.
    Filled,
    /// Cancel sent, not yet answered.
    PendingCancel,
    /// Canceled (by request, IOC/FOK remainder or the venue). Terminal.
    Canceled,
    /// Cancel/replace sent, not yet answered.
    PendingReplace,
    /// Amended by cancel/replace and working again.
    Replaced,
    /// Expired at the venue (DAY, GTD). Terminal.
    Expired,
    /// No acknowledgement within the hard timeout: cancel sent, reconciliation queued.
    TimedOut,
}

impl OrderState {
    /// Every state.
    pub const ALL: [OrderState; 12] = [
        OrderState::Received,
        OrderState::Rejected,
        OrderState::PendingNew,
        OrderState::New,
        OrderState::PartiallyFilled,
        OrderState::Filled,
        OrderState::PendingCancel,
        OrderState::Canceled,
        OrderState::PendingReplace,
        OrderState::Replaced,
        OrderState::Expired,
        OrderState::TimedOut,
    ];

    /// Terminal states absorb every later event.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            OrderState::Rejected | OrderState::Filled | OrderState::Canceled | OrderState::Expired
        )
    }

    /// Acknowledged and able to fill, cancel or replace.
    pub fn is_working(self) -> bool {
        matches!(
            self,
            OrderState::New | OrderState::PartiallyFilled | OrderState::Replaced
        )
    }

    /// The name in reports and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            OrderState::Received => "RECEIVED",
            OrderState::Rejected => "REJECTED",
            OrderState::PendingNew => "PENDING_NEW",
            OrderState::New => "NEW",
            OrderState::PartiallyFilled => "PARTIALLY_FILLED",
            OrderState::Filled => "FILLED",
            OrderState::PendingCancel => "PENDING_CANCEL",
            OrderState::Canceled => "CANCELED",
            OrderState::PendingReplace => "PENDING_REPLACE",
            OrderState::Replaced => "REPLACED",
            OrderState::Expired => "EXPIRED",
            OrderState::TimedOut => "TIMED_OUT",
        }
    }
}

/// What happened to an order. Fills are classified by the caller: a fill that
/// completes the order quantity is `FinalFill`, any other `PartialFill`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OmsEvent {
    /// The gate refused the request.
    GateReject,
    /// The gate passed it and it was handed to the venue.
    Sent,
    /// The venue acknowledged it.
    Ack,
    /// The venue rejected it.
    VenueReject,
    /// A fill that leaves quantity open.
    PartialFill,
    /// A fill that completes the order.
    FinalFill,
    /// A cancel was sent.
    CancelSent,
    /// The venue canceled the order (requested or not).
    Canceled,
    /// The venue refused a cancel.
    CancelRejected,
    /// A cancel/replace was sent.
    ReplaceSent,
    /// The venue applied the cancel/replace.
    Replaced,
    /// The venue refused the cancel/replace.
    ReplaceRejected,
    /// The venue expired the order.
    Expired,
    /// The hard timeout passed with no acknowledgement or fill.
    Timeout,
}

impl OmsEvent {
    /// Every event.
    pub const ALL: [OmsEvent; 14] = [
        OmsEvent::GateReject,
        OmsEvent::Sent,
        OmsEvent::Ack,
        OmsEvent::VenueReject,
        OmsEvent::PartialFill,
        OmsEvent::FinalFill,
        OmsEvent::CancelSent,
        OmsEvent::Canceled,
        OmsEvent::CancelRejected,
        OmsEvent::ReplaceSent,
        OmsEvent::Replaced,
        OmsEvent::ReplaceRejected,
        OmsEvent::Expired,
        OmsEvent::Timeout,
    ];

    /// The name in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            OmsEvent::GateReject => "GATE_REJECT",
            OmsEvent::Sent => "SENT",
            OmsEvent::Ack => "ACK",
            OmsEvent::VenueReject => "VENUE_REJECT",
            OmsEvent::PartialFill => "PARTIAL_FILL",
            OmsEvent::FinalFill => "FINAL_FILL",
            OmsEvent::CancelSent => "CANCEL_SENT",
            OmsEvent::Canceled => "CANCELED",
            OmsEvent::CancelRejected => "CANCEL_REJECTED",
            OmsEvent::ReplaceSent => "REPLACE_SENT",
            OmsEvent::Replaced => "REPLACED",
            OmsEvent::ReplaceRejected => "REPLACE_REJECTED",
            OmsEvent::Expired => "EXPIRED",
            OmsEvent::Timeout => "TIMEOUT",
        }
    }

    /// Whether this event carries an execution.
    pub fn is_fill(self) -> bool {
        matches!(self, OmsEvent::PartialFill | OmsEvent::FinalFill)
    }
}
