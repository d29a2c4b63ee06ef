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
    // Saturating: both prices come from outside (a venue's fill, a quote or a limit).
    let adverse = fill
        .0
        .saturating_sub(reference.0)
        .saturating_mul(side.sign());
    let bps_e2 = if reference.0 > 0 {
        ratio(adverse, 1_000_000, reference.0)
    } else {
        0
    };
    let pips_e2 = if pip.0 > 0 {
        ratio(adverse, 100, pip.0)
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

/// `num × scale / den`, truncated, saturating at the ends of `i64`; `den` > 0. In 64 bits where the product fits (every
/// fill of a real price): two of these per fill through the 128-bit division routine
/// cost more than the rest of the slippage.
#[inline]
fn ratio(num: i64, scale: i64, den: i64) -> i64 {
    match num.checked_mul(scale) {
        Some(p) => p / den,
        None => (num as i128 * scale as i128 / den as i128)
            .clamp(i64::MIN as i128, i64::MAX as i128) as i64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_at_the_ends_of_the_range_saturate_instead_of_wrapping() {
        let s = slippage(Side::Buy, Price(-5), Price(i64::MAX), Price(1));
        assert_eq!((s.price, s.pips_e2), (i64::MAX, i64::MAX));
        let s = slippage(Side::Sell, Price(i64::MAX), Price(1), Price(1));
        assert_eq!(s.price, i64::MAX - 1);
        assert_eq!(s.category, SlipCategory::Poor);
    }

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

    #[test]
    fn ratio_truncates_as_the_128_bit_division_does_on_both_paths_and_saturates() {
        let nums = [
            0,
            1,
            -1,
            20,
            -20,
            99_999,
            i64::MAX / 100,
            i64::MAX / 100 + 1,
            i64::MAX,
            i64::MIN + 1,
        ];
        for num in nums {
            for scale in [100, 1_000_000] {
                for den in [1, 3, 10, 108_500, i64::MAX] {
                    let wide = (num as i128 * scale as i128 / den as i128)
                        .clamp(i64::MIN as i128, i64::MAX as i128)
                        as i64;
                    assert_eq!(ratio(num, scale, den), wide, "{num} × {scale} / {den}");
                }
            }
        }
    }
}
