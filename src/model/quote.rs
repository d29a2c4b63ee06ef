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
    /// Mid price (rounded toward zero to the mantissa). Summed in 128 bits: a quote is
    /// outside input, and two prices near the top of the range must not wrap.
    pub fn mid(&self) -> i64 {
        ((i128::from(self.bid.0) + i128::from(self.ask.0)) / 2) as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mid_of_prices_near_the_top_of_the_range_does_not_wrap() {
        let q = |bid: i64, ask: i64| Quote {
            bid: Price(bid),
            ask: Price(ask),
            ..Quote::default()
        };
        assert_eq!(q(i64::MAX - 1, i64::MAX).mid(), i64::MAX - 1);
        assert_eq!(
            q(4_611_686_018_427_387_904, 4_611_686_018_427_387_905).mid(),
            4_611_686_018_427_387_904
        );
        assert_eq!(q(99, 102).mid(), 100);
        assert_eq!(q(-3, 0).mid(), -1);
    }
}
