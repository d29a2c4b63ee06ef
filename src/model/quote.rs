//! Top of book per instrument, as the gate sees it (R-GATE-6).

use super::fixed::{Price, Qty};

/// Best bid and offer with sizes (0 = size unknown) and when it was seen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Quote {
    /// Best bid.
    pub bid: Price,
    /// Best ask.
    pub ask: Price,
    /// Size at the bid.
    pub bid_size: Qty,
    /// Size at the ask.
    pub ask_size: Qty,
    /// Unix ns when received; 0 = never.
    pub at_ns: u64,
}

impl Quote {
    /// Mid price (rounded down to the mantissa).
    pub fn mid(&self) -> i64 {
        (self.bid.0 + self.ask.0) / 2
    }
}
