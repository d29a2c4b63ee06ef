//! Fixed-point numbers: prices, quantities and money as scaled integers.
//!
//! Order, fill and position math never touches `f64`: a float cannot represent 0.1,
//! and a cumulative quantity that drifts by one ulp is a reconciliation break.

use std::fmt;

/// Powers of ten up to 10^18, the largest that fits an `i64`.
pub const POW10: [i64; 19] = [
    1,
    10,
    100,
    1_000,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
    1_000_000_000,
    10_000_000_000,
    100_000_000_000,
    1_000_000_000_000,
    10_000_000_000_000,
    100_000_000_000_000,
    1_000_000_000_000_000,
    10_000_000_000_000_000,
    100_000_000_000_000_000,
    1_000_000_000_000_000_000,
];

/// Decimal places of [`Money`]: micro-units of the account currency.
pub const MONEY_SCALE: u8 = 6;

/// A price as an integer mantissa at its instrument's price scale.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Price(pub i64);

/// A quantity as an integer mantissa at its instrument's quantity scale.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Qty(pub i64);

/// An amount of account currency in micro-units ([`MONEY_SCALE`] decimals).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Money(pub i64);

/// A decimal as it arrives from outside (JSON, FIX, config): mantissa and scale.
///
/// It is converted to an instrument's scale exactly or not at all.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Dec {
    /// The digits, with the decimal point removed.
    pub mant: i64,
    /// How many of those digits are after the decimal point.
    pub scale: u8,
}

/// Why a decimal string could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecError {
    /// No digits at all.
    Empty,
    /// A character that is not a digit, sign or single point.
    Invalid,
    /// More than 18 significant digits or more than 18 decimals.
    Overflow,
}

impl fmt::Display for DecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DecError::Empty => "empty number",
            DecError::Invalid => "not a decimal number",
            DecError::Overflow => "number has too many digits",
        })
    }
}

impl std::error::Error for DecError {}

impl Dec {
    /// A decimal from mantissa and scale.
    pub const fn new(mant: i64, scale: u8) -> Dec {
        Dec { mant, scale }
    }

    /// Parses "123", "-0.0025", "+7." without allocating or going through a float.
    pub fn parse(s: &str) -> Result<Dec, DecError> {
        Self::parse_bytes(s.as_bytes())
    }

    /// Parses ASCII decimal bytes, as found in a FIX field or a JSON number.
    pub fn parse_bytes(b: &[u8]) -> Result<Dec, DecError> {
        let (neg, digits) = match b.first() {
            None => return Err(DecError::Empty),
            Some(b'-') => (true, &b[1..]),
            Some(b'+') => (false, &b[1..]),
            Some(_) => (false, b),
        };
        if digits.is_empty() {
            return Err(DecError::Empty);
        }
        let mut mant: i64 = 0;
        let mut scale: u8 = 0;
        let mut seen_point = false;
        let mut seen_digit = false;
        for &c in digits {
            match c {
                b'0'..=b'9' => {
                    seen_digit = true;
                    mant = mant
                        .checked_mul(10)
                        .and_then(|m| m.checked_add((c - b'0') as i64))
                        .ok_or(DecError::Overflow)?;
                    if seen_point {
                        scale += 1;
                        if scale > 18 {
                            return Err(DecError::Overflow);
                        }
                    }
                }
                b'.' if !seen_point => seen_point = true,
                _ => return Err(DecError::Invalid),
            }
        }
        if !seen_digit {
            return Err(DecError::Empty);
        }
        Ok(Dec {
            mant: if neg { -mant } else { mant },
            scale,
        })
    }

    /// The mantissa at `scale`, if the value is exactly representable there.
    pub fn to_scale(self, scale: u8) -> Option<i64> {
        if self.scale <= scale {
            let k = *POW10.get((scale - self.scale) as usize)?;
            self.mant.checked_mul(k)
        } else {
            let k = *POW10.get((self.scale - scale) as usize)?;
            if self.mant % k == 0 {
                Some(self.mant / k)
            } else {
                None
            }
        }
    }
}

impl fmt::Display for Dec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_fixed(f, self.mant, self.scale)
    }
}

/// Writes `mant` at `scale` decimals ("-12.50") without floats.
pub(crate) fn write_fixed(f: &mut impl fmt::Write, mant: i64, scale: u8) -> fmt::Result {
    if scale == 0 {
        return write!(f, "{mant}");
    }
    let k = POW10[scale as usize] as u64;
    let sign = if mant < 0 { "-" } else { "" };
    let abs = mant.unsigned_abs();
    write!(
        f,
        "{sign}{}.{:0width$}",
        abs / k,
        abs % k,
        width = scale as usize
    )
}

/// A value with its scale, for display.
pub struct Fixed(pub i64, pub u8);

impl fmt::Display for Fixed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_fixed(f, self.0, self.1)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_fixed(f, self.0, MONEY_SCALE)
    }
}

/// Divides rounding half away from zero (commercial rounding).
#[inline]
pub(crate) fn div_round(n: i128, d: i128) -> i128 {
    debug_assert!(d > 0);
    // Nearly every value fits 64 bits, where division is a hardware instruction rather
    // than a 128-bit software routine.
    if let (Ok(n), Ok(d)) = (i64::try_from(n), i64::try_from(d)) {
        let (q, r) = (n / d, n % d);
        return if 2 * r.unsigned_abs() >= d.unsigned_abs() {
            q as i128 + n.signum() as i128
        } else {
            q as i128
        };
    }
    let q = n / d;
    let r = n % d;
    if 2 * r.abs() >= d {
        q + n.signum()
    } else {
        q
    }
}

/// Saturating conversion from the wide intermediate type.
pub(crate) fn clamp_i64(v: i128) -> i64 {
    v.clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

impl Money {
    /// price × quantity in money units, given both scales.
    #[inline]
    pub fn notional(px: Price, qty: Qty, px_scale: u8, qty_scale: u8) -> Money {
        let (from, to) = (px_scale as u32 + qty_scale as u32, MONEY_SCALE as u32);
        // Nearly every notional fits 64 bits, where checked hardware multiplies and a
        // hardware division give it exactly; a margin check computes one per instrument
        // held. Scales above money's occur too (a price in cents times a quantity in
        // 10^-8 of a coin), hence the division.
        if let Some(raw) = px.0.checked_mul(qty.0) {
            if from <= to {
                if let Some(m) = raw.checked_mul(POW10[(to - from) as usize]) {
                    return Money(m);
                }
            } else if let Some(&k) = POW10.get((from - to) as usize) {
                return Money(div_round(raw as i128, k as i128) as i64);
            }
        }
        Money::notional_wide(px, qty, from)
    }

    // Out of line so that the common path above stays small enough to inline.
    #[inline(never)]
    fn notional_wide(px: Price, qty: Qty, from: u32) -> Money {
        let raw = px.0 as i128 * qty.0 as i128;
        Money(clamp_i64(rescale(raw, from as i32, MONEY_SCALE as i32)))
    }

    /// `self × bps / 10 000`, rounded.
    pub fn bps(self, bps: i64) -> Money {
        Money(clamp_i64(div_round(self.0 as i128 * bps as i128, 10_000)))
    }
}

/// Moves a wide value from `from` decimals to `to` decimals, rounding; saturating at
/// the ends of i128 (every caller clamps or range-checks the result, and a product of
/// two i64 values a venue sent can come within 10^4 of the end).
// Always inlined: as a call, its prologue and epilogue cost as much as its 64-bit path
// (callgrind, the demo's core thread).
#[inline(always)]
pub(crate) fn rescale(v: i128, from: i32, to: i32) -> i128 {
    if from == to {
        v
    } else if from < to {
        // A value that fits 64 bits times at most 10^18 stays far inside i128: one
        // widening hardware multiply, where the saturating 128-bit one costs dozens of
        // instructions (rescale ran 1.25 M times in a 100 000-request demo).
        if let (Ok(n), Some(&p)) = (i64::try_from(v), POW10.get((to - from) as usize)) {
            return n as i128 * p as i128;
        }
        v.saturating_mul(pow10_wide(to - from))
    } else {
        div_round(v, pow10_wide(from - to))
    }
}

fn pow10_wide(k: i32) -> i128 {
    match POW10.get(k as usize) {
        Some(&p) => p as i128,
        None => 10i128.pow(k as u32),
    }
}

// Saturating, as `Money`'s are: quantities come from outside (venue reports, restated
// positions, limits), and a wrapped sum would turn a large position into a small one.
impl std::ops::Add for Qty {
    type Output = Qty;
    fn add(self, o: Qty) -> Qty {
        Qty(self.0.saturating_add(o.0))
    }
}

impl std::ops::Sub for Qty {
    type Output = Qty;
    fn sub(self, o: Qty) -> Qty {
        Qty(self.0.saturating_sub(o.0))
    }
}

impl std::ops::Add for Money {
    type Output = Money;
    fn add(self, o: Money) -> Money {
        Money(self.0.saturating_add(o.0))
    }
}

impl std::ops::Sub for Money {
    type Output = Money;
    fn sub(self, o: Money) -> Money {
        Money(self.0.saturating_sub(o.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rescales_exactly() {
        assert_eq!(Dec::parse("12.50").unwrap(), Dec::new(1250, 2));
        assert_eq!(Dec::parse("-0.0025").unwrap(), Dec::new(-25, 4));
        assert_eq!(Dec::parse("7").unwrap().to_scale(2), Some(700));
        assert_eq!(Dec::parse("1.2300").unwrap().to_scale(2), Some(123));
        assert_eq!(Dec::parse("1.2345").unwrap().to_scale(2), None);
        assert_eq!(Dec::parse(""), Err(DecError::Empty));
        assert_eq!(Dec::parse("-"), Err(DecError::Empty));
        assert_eq!(Dec::parse("1.2.3"), Err(DecError::Invalid));
        assert_eq!(Dec::parse("1e5"), Err(DecError::Invalid));
        assert_eq!(Dec::parse("99999999999999999999"), Err(DecError::Overflow));
    }

    #[test]
    fn formats_without_floats() {
        assert_eq!(Fixed(-1250, 2).to_string(), "-12.50");
        assert_eq!(Fixed(5, 3).to_string(), "0.005");
        assert_eq!(Money(1_500_000).to_string(), "1.500000");
    }

    #[test]
    fn notional_and_rounding() {
        // 101.25 × 3.5 = 354.375
        let m = Money::notional(Price(10125), Qty(35), 2, 1);
        assert_eq!(m, Money(354_375_000));
        assert_eq!(m.bps(10), Money(354_375));
        assert_eq!(div_round(5, 2), 3);
        assert_eq!(div_round(-5, 2), -3);
        assert_eq!(div_round(4, 3), 1);
        assert_eq!(div_round(-4, 3), -1);
        assert_eq!(div_round(i64::MAX as i128 * 4 + 2, 4), i64::MAX as i128 + 1);
        assert_eq!(
            div_round(-(i64::MAX as i128) * 4 - 2, 4),
            -(i64::MAX as i128) - 1
        );
        // LastPx 92233720368547758.07 × LastQty 2^63−1: far beyond money, not a panic.
        let huge = Money::notional(Price(i64::MAX), Qty(i64::MAX), 2, 0);
        assert_eq!(huge, Money(i64::MAX));
        assert_eq!(rescale(12_345, 4, 2), 123);
        assert_eq!(rescale(12_355, 4, 2), 124);
        assert_eq!(rescale(7, 0, 20), 7 * 10i128.pow(20));
    }

    #[test]
    fn notional_takes_the_same_value_on_the_64_bit_path_and_the_wide_one() {
        // The reference: exact 128-bit arithmetic, saturated, then rounded half away
        // from zero by hand, independent of `rescale` and `div_round`.
        let reference = |px: i64, qty: i64, ps: u8, qs: u8| {
            let raw = px as i128 * qty as i128;
            let (from, to) = (ps as u32 + qs as u32, MONEY_SCALE as u32);
            let wide = if from <= to {
                raw.checked_mul(10i128.pow(to - from))
                    .unwrap_or(if raw > 0 { i128::MAX } else { i128::MIN })
            } else {
                let k = 10i128.pow(from - to);
                let (q, r) = (raw / k, raw % k);
                if 2 * r.abs() >= k {
                    q + raw.signum()
                } else {
                    q
                }
            };
            Money(wide.clamp(i64::MIN as i128, i64::MAX as i128) as i64)
        };
        let edges = [
            0,
            1,
            -1,
            5,
            -5,
            7,
            99_999,
            3_037_000_499,
            i64::MAX / 10,
            i64::MAX,
            i64::MIN,
        ];
        for px in edges {
            for qty in edges {
                for (ps, qs) in [
                    (0, 0),
                    (2, 0),
                    (5, 0),
                    (2, 3),
                    (4, 2),
                    (6, 2),
                    (2, 8),
                    (9, 9),
                    (12, 12),
                ] {
                    assert_eq!(
                        Money::notional(Price(px), Qty(qty), ps, qs),
                        reference(px, qty, ps, qs),
                        "{px} × {qty} at scales {ps}, {qs}"
                    );
                }
            }
        }
    }

    #[test]
    fn rescaling_up_is_exact_or_saturates_on_both_paths() {
        // The 64-bit path, the wide path and their edge, against checked arithmetic.
        let values = [
            0i128,
            1,
            -1,
            12_345,
            i64::MAX as i128,
            i64::MIN as i128,
            i64::MAX as i128 + 1,
            i64::MIN as i128 - 1,
            1 << 100,
            -(1 << 100),
            i128::MAX,
            i128::MIN,
        ];
        for v in values {
            for k in 1..=24 {
                let want = v.checked_mul(10i128.pow(k as u32)).unwrap_or(if v > 0 {
                    i128::MAX
                } else {
                    i128::MIN
                });
                assert_eq!(rescale(v, 2, 2 + k), want, "{v} × 10^{k}");
            }
        }
    }
}
