//! Prices, quantities and balances as integers of 10⁻⁸ (Binance's finest precision):
//! exact arithmetic, no floats, every product checked.

pub(crate) const SCALE: i64 = 100_000_000;

/// Why a decimal parameter was refused: Binance tells malformed values apart from
/// values finer than it can hold.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum DecErr {
    Malformed,
    TooPrecise,
}

/// A non-negative decimal as sent in a request ("0.1", "1.00000000", "5").
pub(crate) fn parse(s: &str) -> Result<i64, DecErr> {
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, f),
        None => (s, ""),
    };
    if int.is_empty() && frac.is_empty() {
        return Err(DecErr::Malformed);
    }
    if !int.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DecErr::Malformed);
    }
    let frac_trim = frac.trim_end_matches('0');
    if frac_trim.len() > 8 {
        return Err(DecErr::TooPrecise);
    }
    let mut v: i64 = 0;
    for b in int.bytes() {
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add(i64::from(b - b'0')))
            .ok_or(DecErr::Malformed)?;
    }
    v = v.checked_mul(SCALE).ok_or(DecErr::Malformed)?;
    let mut f: i64 = 0;
    for (i, b) in frac_trim.bytes().enumerate() {
        f += i64::from(b - b'0') * 10_i64.pow(7 - i as u32);
    }
    v.checked_add(f).ok_or(DecErr::Malformed)
}

/// Fixed decimals, as spot prints every amount ("0.10000000").
pub(crate) fn fixed(v: i64, dp: u32) -> String {
    let neg = v < 0;
    let a = v.unsigned_abs();
    let int = a / SCALE as u64;
    let frac = a % SCALE as u64;
    let sign = if neg { "-" } else { "" };
    if dp == 0 {
        return format!("{sign}{int}");
    }
    let frac = frac / 10_u64.pow(8 - dp.min(8));
    format!("{sign}{int}.{frac:0width$}", width = dp.min(8) as usize)
}

/// Trailing zeros dropped, as futures prints quantities and prices ("0.001", "100").
pub(crate) fn trim(v: i64) -> String {
    let s = fixed(v, 8);
    let s = s.trim_end_matches('0');
    s.trim_end_matches('.').to_string()
}

/// a × b for two scaled values, truncated toward zero.
pub(crate) fn mul(a: i64, b: i64) -> Option<i64> {
    i64::try_from(i128::from(a) * i128::from(b) / i128::from(SCALE)).ok()
}

/// a × b rounded up (what is locked for a buy must cover its cost).
pub(crate) fn mul_up(a: i64, b: i64) -> Option<i64> {
    let p = i128::from(a) * i128::from(b);
    let s = i128::from(SCALE);
    i64::try_from((p + s - 1).div_euclid(s)).ok()
}

/// a ÷ b for two scaled values.
pub(crate) fn div(a: i64, b: i64) -> Option<i64> {
    if b == 0 {
        return None;
    }
    i64::try_from(i128::from(a) * i128::from(SCALE) / i128::from(b)).ok()
}

/// Decimals a step needs (0.001 → 3): the precision futures reports per symbol.
pub(crate) fn places(step: i64) -> u32 {
    let mut dp = 8;
    let mut s = step;
    while dp > 0 && s % 10 == 0 {
        s /= 10;
        dp -= 1;
    }
    dp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_binance_decimals() {
        assert_eq!(parse("0.1"), Ok(10_000_000));
        assert_eq!(parse("1.00000000"), Ok(SCALE));
        assert_eq!(parse("5"), Ok(5 * SCALE));
        assert_eq!(parse(".5"), Ok(SCALE / 2));
        assert_eq!(parse("0.000000001"), Err(DecErr::TooPrecise));
        assert_eq!(parse("0.0000000010"), Err(DecErr::TooPrecise));
        assert_eq!(parse("0.100000000000"), Ok(10_000_000));
        assert_eq!(parse("-1"), Err(DecErr::Malformed));
        assert_eq!(parse("1e3"), Err(DecErr::Malformed));
        assert_eq!(parse(""), Err(DecErr::Malformed));
        assert_eq!(parse("99999999999999999999"), Err(DecErr::Malformed));
        assert_eq!(fixed(10_000_000, 8), "0.10000000");
        assert_eq!(fixed(-150_000_000, 2), "-1.50");
        assert_eq!(trim(100_000), "0.001");
        assert_eq!(trim(100 * SCALE), "100");
        assert_eq!(places(100_000), 3);
        assert_eq!(places(SCALE), 0);
        assert_eq!(mul(2 * SCALE, SCALE / 4), Some(SCALE / 2));
        assert_eq!(mul_up(1, 1), Some(1));
        assert_eq!(div(SCALE, 4 * SCALE), Some(SCALE / 4));
    }
}
