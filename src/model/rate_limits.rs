//! A venue's own limits on what a client may send (R-VEN-3): request weight and new-order
//! counts per window, and the "slow down" answers, as a venue bridge reads and reports
//! them. Plain values: journaled as venue inputs and kept by the gate (R-GATE-7).

/// A request to a venue, by kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    /// A new order.
    New,
    /// A cancel.
    Cancel,
    /// A cancel/replace (amend).
    Replace,
}

impl Request {
    /// The export's word for it.
    pub fn word(self) -> &'static str {
        match self {
            Request::New => "new_order",
            Request::Cancel => "cancel",
            Request::Replace => "replace",
        }
    }
}

/// One of a venue's order-count windows (Binance `ORDERS` limits: spot 10 s and 1 day,
/// USDⓈ-M 10 s and 1 minute), as it reported it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OrderWindow {
    /// The window's length in seconds (0: none known).
    pub secs: u32,
    /// New orders the venue counted in the current window.
    pub count: u32,
    /// Most it takes per window (0: no cap known).
    pub cap: u32,
}

/// A venue's rate-limit state as its bridge last read it (response headers,
/// exchangeInfo `rateLimits`, 429/418 answers).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RateLimits {
    /// Request weight used in the current minute.
    pub used_weight: u32,
    /// Request weight per minute it allows (0: none known).
    pub weight_cap: u32,
    /// Its short and long order-count windows.
    pub orders: [OrderWindow; 2],
    /// Nothing may be sent for this long from when this is applied (a 429/418's
    /// Retry-After, ms); 0: no hold.
    pub retry_after_ms: u32,
}
