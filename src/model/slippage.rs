//! Slippage per fill (R-OMS-8): price units, basis points, pips and a category.

use super::fixed::Price;
use super::ids::Side;

/// How bad a fill's slippage was, by pips.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SlipCategory {
    /// ≤ 1 pip (price improvement included).
    Excellent,
    /// ≤ 3 pips.
    Good,
    /// ≤ 5 pips.
    Acceptable,
    /// > 5 pips.
    Poor,
}

impl SlipCategory {
    /// Every category, best first.
    pub const ALL: [SlipCategory; 4] = [
        SlipCategory::Excellent,
        SlipCategory::Good,
        SlipCategory::Acceptable,
        SlipCategory::Poor,
    ];

    /// The name in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            SlipCategory::Excellent => "excellent",
            SlipCategory::Good => "good",
            SlipCategory::Acceptable => "acceptable",
            SlipCategory::Poor => "poor",
        }
    }
}

/// One fill's slippage against the reference price; positive is adverse.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Slippage {
    /// In price mantissa units.
    pub price: i64,
    /// In hundredths of a basis point.
    pub bps_e2: i64,
    /// In hundredths of a pip.
    pub pips_e2: i64,
    /// Category by pips.
    pub category: SlipCategory,
}

/// Slippage of a fill at `fill` against `reference` for an order on `side`.
pub fn slippage(side: Side, reference: Price, fill: Price, pip: Price) -> Slippage {
    let adverse = (fill.0 - reference.0) * side.sign();
    let bps_e2 = if reference.0 > 0 {
        (adverse as i128 * 1_000_000 / reference.0 as i128) as i64
    } else {
        0
    };
    let pips_e2 = if pip.0 > 0 {
        (adverse as i128 * 100 / pip.0 as i128) as i64
    } else {
        0
    };
    let category = match pips_e2 {
        i64::MIN..=100 => SlipCategory::Excellent,
        101..=300 => SlipCategory::Good,
        301..=500 => SlipCategory::Acceptable,
        _ => SlipCategory::Poor,
    };
    Slippage {
        price: adverse,
        bps_e2,
        pips_e2,
        category,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adverse_is_positive_and_categorised() {
        // EURUSD, price scale 5, pip 0.0001 = 10 mantissa units.
        let s = slippage(Side::Buy, Price(108_500), Price(108_520), Price(10));
        assert_eq!(s.price, 20);
        assert_eq!(s.pips_e2, 200);
        assert_eq!(s.category, SlipCategory::Good);
        assert_eq!(s.bps_e2, 184); // 20 / 108500 = 1.84 bp
        let s = slippage(Side::Sell, Price(108_500), Price(108_520), Price(10));
        assert_eq!(s.price, -20, "selling higher is improvement");
        assert_eq!(s.category, SlipCategory::Excellent);
        assert_eq!(
            slippage(Side::Buy, Price(100), Price(110), Price(1)).category,
            SlipCategory::Poor
        );
        assert_eq!(
            slippage(Side::Buy, Price(100), Price(105), Price(1)).category,
            SlipCategory::Acceptable
        );
        assert_eq!(
            slippage(Side::Buy, Price(100), Price(101), Price(1)).category,
            SlipCategory::Excellent
        );
    }
}
