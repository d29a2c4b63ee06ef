//! Machine-readable reason codes with the sentence an operator reads (R-GATE-*).

macro_rules! reasons {
    ($($(#[$m:meta])* $name:ident = $code:literal, $text:literal;)*) => {
        /// Why a request was rejected, by the gate or by the venue.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Reason {
            $($(#[$m])* $name,)*
        }

        impl Reason {
            /// Every reason, in declaration order.
            pub const ALL: &'static [Reason] = &[$(Reason::$name,)*];

            /// The stable code, e.g. `QTY_NOT_LOT`.
            pub fn code(self) -> &'static str {
                match self { $(Reason::$name => $code,)* }
            }

            /// A sentence for a human.
            pub fn text(self) -> &'static str {
                match self { $(Reason::$name => $text,)* }
            }
        }
    };
}

reasons! {
    /// The account is in GUIDE mode: every check passed but nothing is sent.
    ModeGuide = "MODE_GUIDE", "account is in GUIDE mode: the request passed every check but was not sent";
    /// Global kill switch ACTIVE.
    KillGlobal = "KILL_GLOBAL", "the global kill switch is active";
    /// Venue kill switch ACTIVE.
    KillVenue = "KILL_VENUE", "the kill switch for this venue is active";
    /// Account kill switch ACTIVE.
    KillAccount = "KILL_ACCOUNT", "the kill switch for this account is active";
    /// Symbol kill switch ACTIVE.
    KillSymbol = "KILL_SYMBOL", "the kill switch for this symbol is active";
    /// Upstream portfolio state or an operator halted trading.
    TradingHalted = "TRADING_HALTED", "trading is halted for this account";
    /// Upstream risk did not approve.
    RiskNotApproved = "RISK_NOT_APPROVED", "the request carries no risk approval";
    /// The request id (idempotency key) is missing.
    MissingRequestId = "MISSING_REQUEST_ID", "the request has no request id";
    /// The request's expiry time has passed.
    Expired = "REQUEST_EXPIRED", "the request expired before it could be sent";
    /// Quantity zero or negative.
    BadQuantity = "BAD_QUANTITY", "quantity must be greater than zero";
    /// Quantity not a multiple of the lot size.
    QtyNotLot = "QTY_NOT_LOT", "quantity is not a multiple of the instrument's lot size";
    /// A price is not on the tick grid.
    PriceOffTick = "PRICE_OFF_TICK", "a price is not on the instrument's tick grid";
    /// A price the order type needs is missing, or one it cannot use is present.
    BadPriceFields = "BAD_PRICE_FIELDS", "the prices given do not fit the order type";
    /// A price is zero or negative.
    BadPrice = "BAD_PRICE", "prices must be greater than zero";
    /// Stop-loss / take-profit on the wrong side of the entry.
    BadProtection = "BAD_SL_TP", "stop-loss must be below and take-profit above the entry for a buy (mirrored for a sell)";
    /// Account not configured.
    UnknownAccount = "UNKNOWN_ACCOUNT", "the account is not configured";
    /// Venue not configured.
    UnknownVenue = "UNKNOWN_VENUE", "the venue is not configured";
    /// Instrument not configured on that venue.
    UnknownInstrument = "UNKNOWN_INSTRUMENT", "the instrument is not configured on this venue";
    /// Instrument configured as not tradable.
    NotTradable = "NOT_TRADABLE", "the instrument is not tradable";
    /// Outside the instrument's trading hours.
    SessionClosed = "SESSION_CLOSED", "the venue session for this instrument is closed";
    /// No top of book received yet.
    NoMarketData = "NO_MARKET_DATA", "no market data for this instrument";
    /// Top of book older than allowed.
    StaleMarketData = "STALE_MARKET_DATA", "the market data for this instrument is stale";
    /// Crossed, locked or non-positive quote.
    BadMarketData = "BAD_MARKET_DATA", "the top of book is not sane (crossed or non-positive)";
    /// Spread wider than allowed.
    SpreadTooWide = "SPREAD_TOO_WIDE", "the spread is wider than the configured maximum";
    /// Limit or reference price outside the fat-finger band.
    PriceBand = "PRICE_BAND", "the price is outside the allowed band around the reference";
    /// Not enough visible liquidity at the touch.
    InsufficientLiquidity = "INSUFFICIENT_LIQUIDITY", "visible liquidity is smaller than the order";
    /// Order larger than the per-order quantity limit.
    MaxOrderQty = "MAX_ORDER_QTY", "the order quantity exceeds the per-order limit";
    /// Order notional larger than allowed.
    MaxNotional = "MAX_NOTIONAL", "the order notional exceeds the per-order limit";
    /// The resulting position would exceed the limit.
    MaxPosition = "MAX_POSITION", "the resulting position would exceed the position limit";
    /// Too many open orders on the account.
    MaxOpenOrders = "MAX_OPEN_ORDERS", "the account has too many open orders";
    /// Order rate throttle for the venue.
    RateLimited = "RATE_LIMITED", "the order rate limit for this venue is exhausted";
    /// Margin available below required × cushion.
    InsufficientMargin = "INSUFFICIENT_MARGIN", "margin available is below what the order requires";
    /// The venue session is not logged on.
    VenueDown = "VENUE_DOWN", "the venue session is not logged on";
    /// The venue's circuit breaker is open.
    CircuitOpen = "CIRCUIT_OPEN", "the venue's circuit breaker is open after repeated failures";
    /// The live order store is full of working orders.
    StoreFull = "ORDER_STORE_FULL", "too many working orders are held; none can be retired";
    /// The venue rejected the order for lack of funds.
    VenueFunds = "VENUE_INSUFFICIENT_FUNDS", "the venue rejected the order: insufficient funds";
    /// The venue rejected the order for another reason.
    VenueRejected = "VENUE_REJECTED", "the venue rejected the order";
    /// The venue does not know the order.
    VenueUnknownOrder = "VENUE_UNKNOWN_ORDER", "the venue does not know this order";
    /// The venue could not be reached.
    VenueTransport = "VENUE_TRANSPORT", "the order could not be handed to the venue";
    /// The order cannot be canceled or replaced in its current state.
    NotWorking = "ORDER_NOT_WORKING", "the order is not in a state that allows this";
    /// No such order.
    UnknownOrder = "UNKNOWN_ORDER", "no such order";
    /// The journal could not record the command, so it was not carried out.
    JournalFailed = "JOURNAL_FAILED", "the journal could not record the command; nothing was done";
    /// The audit sidecar stopped on an error: what happens would reach no durable audit
    /// log, so no new order is sent until a restart with a working one.
    AuditFailed = "AUDIT_FAILED", "the audit log failed: no new order is sent until execd restarts with a working audit log";
    /// A reconciliation found a difference in this account/venue/symbol scope; an
    /// operator must resolve it first (R-AUD-4).
    ReconciliationRequired = "RECONCILIATION_REQUIRED", "a reconciliation with the venue found a difference in this scope that an operator has not resolved";
    /// After a restart the venue takes no new order until its in-flight orders are
    /// settled and its reconciliation is clean or resolved (R-RES-4).
    Reconciling = "RECONCILING", "the venue is being reconciled after a restart: orders in flight are settled and positions compared first";
    /// Every request id the journal can remember (`core.max_request_ids`) is taken: a
    /// new one is refused rather than an old one forgotten (R-IN-3).
    RequestIdsFull = "REQUEST_IDS_FULL", "the journal remembers as many request ids as it can (core.max_request_ids); restart on a new journal or with a larger core.max_request_ids";
    /// Every resend of an order the venue never saw failed (R-RES-1): a dead letter.
    RetriesExhausted = "RETRIES_EXHAUSTED", "the order could not be handed to the venue within its retries";
    /// The order's expiry or the venue's hard timeout came before it could be handed to
    /// the venue: a dead letter.
    DeliveryExpired = "DELIVERY_EXPIRED", "the order expired before it could be handed to the venue";
    /// The dead-letter queue is full: new orders for the venue are refused rather than
    /// risk one that could not be kept (R-RES-3).
    DeadLettersFull = "DEAD_LETTERS_FULL", "the dead-letter queue is full; new orders for this venue are refused";
    /// An operator discarded the dead letter: it never reached the venue.
    Undeliverable = "UNDELIVERABLE", "the order never reached the venue and an operator discarded it";
    /// The venue said to slow down (HTTP 429, or 418 once banned) and its Retry-After
    /// has not passed, its reported request weight reached the cap, or its order-count
    /// budget per window is used up: nothing was sent (R-VEN-3, R-GATE-7).
    VenueRateLimited = "VENUE_RATE_LIMITED", "the venue's own rate limit is exhausted (it answered 429/418 and its Retry-After has not passed, or its order-count budget is used up): nothing was sent";
    /// The venue adapter's queue to its I/O thread was full (R-VEN-3): the request did
    /// not go out.
    VenueBackpressure = "VENUE_BACKPRESSURE", "the venue bridge's request queue was full: nothing was sent";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_upper_snake() {
        let mut seen = std::collections::HashSet::new();
        for r in Reason::ALL {
            assert!(seen.insert(r.code()), "duplicate {}", r.code());
            assert!(r
                .code()
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b == b'_'));
            assert!(!r.text().is_empty());
        }
    }
}
