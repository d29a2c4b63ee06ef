//! Top of book per instrument, as the gate sees it (R-GATE-6).

use super::fixed::{Price, Qty};

/// Best bid and offer with sizes (0 = size unknown) and when it was seen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Quote {
    /// Best bid, at the instrument's price scale.
    pub bid: Price,
    /// Best ask, at the instrument's price scale.
    pub ask: Price,
    /// Size at the bid, at the instrument's quantity scale.
    pub bid_size: Qty,
    /// Size at the ask, at the instrument's quantity scale.
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
