//! FIX's time formats on the calendar of [`crate::calendar`]: UTCTimestamp
//! (`YYYYMMDD-HH:MM:SS[.sss…]`), UTCTimeOnly (`HH:MM:SS[.sss…]`) and the `YYYYMMDD` dates
//! (UTCDateOnly, LocalMktDate), read strictly and written without allocating.
//!
//! Strict as the specification is, not as lenient as some engines: a date must exist
//! (`20240231` is not one), hours 0–23, minutes 0–59, seconds 0–60 (a leap second), and a
//! fraction has 3, 6, 9 or 12 digits (milli, micro, nano, pico). The codec writes with
//! these, the session reads SendingTime and OrigSendingTime with them, and dictionary
//! validation checks every time-typed field with them, so what one accepts the others do.

use super::codec::put2;
use crate::calendar::{civil_date, days_from_civil, days_in_month, NS_PER_SEC, SECS_PER_DAY};

/// Longest UTCTimestamp [`write_utc_timestamp`] writes (microseconds).
#[cfg(test)]
pub(crate) const MAX_WRITTEN_TIMESTAMP: usize = 24;

/// Writes `unix_ns` as `YYYYMMDD-HH:MM:SS.sss` (`micros` false) or `….ssssss` into `out`
/// and returns its length (21 or 24). Truncates, never rounds: a timestamp never claims a
/// later instant than it was taken at.
#[cfg(test)]
pub(crate) fn write_utc_timestamp(
    unix_ns: u64,
    micros: bool,
    out: &mut [u8; MAX_WRITTEN_TIMESTAMP],
) -> usize {
    out[..8].copy_from_slice(&utc_date(unix_ns));
    out[8] = b'-';
    9 + write_utc_time_of_day(unix_ns, micros, &mut out[9..])
}

/// Writes the time of day of `unix_ns`, `HH:MM:SS.sss` or `HH:MM:SS.ssssss`, into the
/// front of `out` (at least 15 bytes) and returns its length (12 or 15): the part of a
/// UTCTimestamp that changes within a day, for writers that keep the date.
pub(crate) fn write_utc_time_of_day(unix_ns: u64, micros: bool, out: &mut [u8]) -> usize {
    let secs = (unix_ns / NS_PER_SEC % SECS_PER_DAY) as u32;
    put2(&mut out[0..], secs / 3600);
    out[2] = b':';
    put2(&mut out[3..], secs / 60 % 60);
    out[5] = b':';
    put2(&mut out[6..], secs % 60);
    out[8] = b'.';
    let sub_ns = (unix_ns % NS_PER_SEC) as u32;
    if micros {
        let us = sub_ns / 1000;
        put2(&mut out[9..], us / 10_000);
        put2(&mut out[11..], us / 100 % 100);
        put2(&mut out[13..], us % 100);
        15
    } else {
        let ms = sub_ns / 1_000_000;
        out[9] = b'0' + (ms / 100) as u8;
        put2(&mut out[10..], ms % 100);
        12
    }
}

/// The UTC date of `unix_ns` as `YYYYMMDD` (UTCDateOnly).
pub fn utc_date(unix_ns: u64) -> [u8; 8] {
    let (y, m, d) = civil_date(unix_ns);
    let y = y as u32;
    let mut out = [0u8; 8];
    put2(&mut out[0..], y / 100);
    put2(&mut out[2..], y % 100);
    put2(&mut out[4..], m);
    put2(&mut out[6..], d);
    out
}

/// Reads a UTCTimestamp into unix nanoseconds. None if it is not one, or if it lies
/// before 1970. A leap second (`:60`) counts as the first second of the next minute;
/// picoseconds are checked and dropped.
pub fn parse_utc_timestamp(v: &[u8]) -> Option<u64> {
    let (days, secs, nanos) = timestamp_parts(v)?;
    let days = u64::try_from(days).ok()?;
    (days * SECS_PER_DAY + secs as u64)
        .checked_mul(NS_PER_SEC)?
        .checked_add(nanos as u64)
}

/// Whether `v` is a UTCTimestamp, of any year (a format check: [`parse_utc_timestamp`]
/// also needs it to fall after 1970).
pub(crate) fn is_utc_timestamp(v: &[u8]) -> bool {
    timestamp_parts(v).is_some()
}

/// Whether `v` is a UTCTimeOnly (or LocalMktTime, written the same way).
pub(crate) fn is_utc_time_only(v: &[u8]) -> bool {
    time_of_day(v).is_some()
}

/// Whether `v` is a `YYYYMMDD` date that exists (UTCDateOnly, LocalMktDate).
pub(crate) fn is_date(v: &[u8]) -> bool {
    date_days(v).is_some()
}

/// Days since 1970, seconds of the day and nanoseconds of `YYYYMMDD-HH:MM:SS[.f]`.
fn timestamp_parts(v: &[u8]) -> Option<(i64, u32, u32)> {
    if v.len() < 17 || v[8] != b'-' {
        return None;
    }
    let days = date_days(&v[..8])?;
    let (secs, nanos) = time_of_day(&v[9..])?;
    Some((days, secs, nanos))
}

/// Days since 1970 of `YYYYMMDD`, if that day exists.
fn date_days(v: &[u8]) -> Option<i64> {
    if v.len() != 8 {
        return None;
    }
    let (y, m, d) = (number(&v[0..4])?, number(&v[4..6])?, number(&v[6..8])?);
    let y = i64::from(y);
    (d >= 1 && d <= days_in_month(y, m)).then(|| days_from_civil(y, m, d))
}

/// Seconds of the day and nanoseconds of `HH:MM:SS[.f]`.
fn time_of_day(v: &[u8]) -> Option<(u32, u32)> {
    if v.len() < 8 || v[2] != b':' || v[5] != b':' {
        return None;
    }
    let (h, m, s) = (number(&v[0..2])?, number(&v[3..5])?, number(&v[6..8])?);
    if h > 23 || m > 59 || s > 60 {
        return None;
    }
    let nanos = match &v[8..] {
        [] => 0,
        [b'.', f @ ..] if matches!(f.len(), 3 | 6 | 9 | 12) => {
            let (ns, pico) = f.split_at(f.len().min(9));
            if !pico.is_empty() {
                number(pico)?;
            }
            number(ns)? * 10u32.pow(9 - ns.len() as u32)
        }
        _ => return None,
    };
    Some((h * 3600 + m * 60 + s, nanos))
}

/// Up to 9 decimal digits (at least one) as a number.
fn number(v: &[u8]) -> Option<u32> {
    if v.is_empty() || v.len() > 9 {
        return None;
    }
    v.iter().try_fold(0u32, |n, &c| {
        c.is_ascii_digit().then(|| n * 10 + (c - b'0') as u32)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::unix_ns;

    fn written(t: u64, micros: bool) -> String {
        let mut out = [0u8; MAX_WRITTEN_TIMESTAMP];
        let n = write_utc_timestamp(t, micros, &mut out);
        String::from_utf8(out[..n].to_vec()).unwrap()
    }

    #[test]
    fn timestamps_both_ways() {
        let t = unix_ns(2024, 2, 29, 23, 59) + 58_123_456_789;
        assert_eq!(written(t, false), "20240229-23:59:58.123");
        assert_eq!(written(t, true), "20240229-23:59:58.123456");
        assert_eq!(written(0, false), "19700101-00:00:00.000");
        assert_eq!(
            parse_utc_timestamp(written(t, false).as_bytes()),
            Some(t - 456_789)
        );
        assert_eq!(
            parse_utc_timestamp(written(t, true).as_bytes()),
            Some(t - 789)
        );
        assert_eq!(parse_utc_timestamp(b"20240229-23:59:58.123456789"), Some(t));
        assert_eq!(
            parse_utc_timestamp(b"20240229-23:59:58.123456789012"),
            Some(t)
        );
        assert_eq!(
            parse_utc_timestamp(b"20240229-23:59:58"),
            Some(t - 123_456_789)
        );
        assert_eq!(parse_utc_timestamp(b"19700101-00:00:00"), Some(0));
        assert_eq!(
            parse_utc_timestamp(b"20261231-23:59:60"),
            Some(unix_ns(2027, 1, 1, 0, 0))
        );
        for bad in [
            &b""[..],
            b"20230229-00:00:00",
            b"20240231-00:00:00",
            b"20241301-00:00:00",
            b"20240100-00:00:00",
            b"20240101-24:00:00",
            b"20240101-00:60:00",
            b"20240101-00:00:61",
            b"20240101-00:00:00.",
            b"20240101-00:00:00.12",
            b"20240101-00:00:00.1234",
            b"20240101-00:00:00,123",
            b"20240101-00:00:00.12x",
            b"20240101-00:00:00.123456789x12",
            b"20240101T00:00:00",
            b"20240102 10:00:00",
            b"2024010-00:00:00.000",
            b"19691231-23:59:59",
            b"+0240101-00:00:00",
        ] {
            let text = String::from_utf8_lossy(bad);
            assert_eq!(parse_utc_timestamp(bad), None, "{text}");
        }
        // A format check knows no epoch.
        assert!(is_utc_timestamp(b"19691231-23:59:59") && !is_utc_timestamp(b"20240231-00:00:00"));
        // Round trip over a spread of instants.
        let mut t = 0u64;
        while t < 4_000_000_000_000_000_000 {
            assert_eq!(
                parse_utc_timestamp(written(t, true).as_bytes()),
                Some(t / 1000 * 1000)
            );
            t = t * 3 + 987_654_321_123;
        }
    }

    #[test]
    fn times_and_dates() {
        assert!(is_utc_time_only(b"23:59:60") && is_utc_time_only(b"12:00:00.123456"));
        assert!(!is_utc_time_only(b"24:00:00") && !is_utc_time_only(b"12:00:00.1"));
        assert!(!is_utc_time_only(b"12:00") && !is_utc_time_only(b"12-00-00"));
        assert!(is_date(b"20240229") && !is_date(b"20230229") && !is_date(b"2024022"));
        assert!(!is_date(b"20240431") && !is_date(b"20240001"));
        assert_eq!(&utc_date(unix_ns(2026, 1, 5, 15, 0)), b"20260105");
    }
}
