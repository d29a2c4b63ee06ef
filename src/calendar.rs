//! UTC calendar arithmetic on Unix nanoseconds: dates for audit file names, FIX session
//! windows and timestamps, without a time-zone library. Depends on nothing.
//!
//! Dates are proleptic Gregorian, converted with Howard Hinnant's `days_from_civil` and
//! `civil_from_days`: exact for every day a `u64` of nanoseconds reaches (to 2554).

/// Nanoseconds in a second.
pub const NS_PER_SEC: u64 = 1_000_000_000;
/// Seconds in a UTC day (leap seconds are not counted, as in Unix time).
pub const SECS_PER_DAY: u64 = 86_400;
/// Nanoseconds in a UTC day.
pub const NS_PER_DAY: u64 = SECS_PER_DAY * NS_PER_SEC;

/// Days from 1970-01-01 to `year`-`month`-`day` (negative before it). The date is not
/// checked: [`days_in_month`] says which days a month has.
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = month as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date `days` after 1970-01-01: (year, month, day).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// How many days `month` (1–12) of `year` has; 0 for a month that does not exist.
pub fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        _ => 0,
    }
}

/// The weekday of the day `days` after 1970-01-01: 0 = Sunday … 6 = Saturday.
pub fn weekday(days: u64) -> u32 {
    // 1970-01-01 was a Thursday.
    ((days + 4) % 7) as u32
}

/// Unix ns of a UTC date and time, for fixed simulated start times.
pub fn unix_ns(year: i64, month: u32, day: u32, hour: u32, minute: u32) -> u64 {
    let days = days_from_civil(year, month, day);
    ((days * 86_400 + hour as i64 * 3600 + minute as i64 * 60) * 1_000_000_000) as u64
}

/// The UTC date of Unix ns: (year, month, day).
pub fn civil_date(ns: u64) -> (i64, u32, u32) {
    civil_from_days((ns / NS_PER_DAY) as i64)
}

/// Unix ns as "2026-01-05T15:00:00.123456789Z".
pub fn iso8601(ns: u64) -> String {
    let (y, m, d) = civil_date(ns);
    let secs = ns / NS_PER_SEC % SECS_PER_DAY;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:09}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60,
        ns % NS_PER_SEC
    )
}

/// "2026-01-05T15:00:00Z", optionally with up to 9 fractional digits, as Unix ns
/// (years 1970 to 2261); `None` for anything else.
pub fn parse_rfc3339(s: &str) -> Option<u64> {
    let body = s.strip_suffix('Z')?;
    let (date, time) = body.split_once('T')?;
    let d: Vec<&str> = date.split('-').collect();
    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    let t: Vec<&str> = hms.split(':').collect();
    if d.len() != 3 || t.len() != 3 || frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = |x: &str| x.parse::<u32>().ok();
    let (y, mo, da, h, mi, se) = (
        d[0].parse::<i64>().ok()?,
        n(d[1])?,
        n(d[2])?,
        n(t[0])?,
        n(t[1])?,
        n(t[2])?,
    );
    // Unix nanoseconds in an i64 reach 2262.
    if !(1970..=2261).contains(&y)
        || !(1..=12).contains(&mo)
        || !(1..=31).contains(&da)
        || h > 23
        || mi > 59
        || se > 60
    {
        return None;
    }
    let nanos = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<9}").parse::<u64>().ok()?
    };
    unix_ns(y, mo, da, h, mi)
        .checked_add(se as u64 * 1_000_000_000)
        .and_then(|t| t.checked_add(nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_dates() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000000000Z");
        let t = unix_ns(2026, 1, 5, 15, 0) + 1_500_000_000;
        assert_eq!(iso8601(t), "2026-01-05T15:00:01.500000000Z");
        assert_eq!(civil_date(unix_ns(2024, 2, 29, 23, 59)), (2024, 2, 29));
    }

    #[test]
    fn civil_dates() {
        assert_eq!(unix_ns(1970, 1, 1, 0, 0), 0);
        assert_eq!(unix_ns(2026, 1, 5, 0, 0) / NS_PER_DAY, 20458);
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_454), (2026, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        for days in (-800_000..800_000).step_by(97) {
            let (y, m, d) = civil_from_days(days);
            assert!(d >= 1 && d <= days_in_month(y, m), "{days}");
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn months_and_weekdays() {
        assert_eq!(days_in_month(2024, 2), 29);
        assert_eq!(days_in_month(2100, 2), 28);
        assert_eq!(days_in_month(2000, 2), 29);
        assert_eq!(days_in_month(2023, 4), 30);
        assert_eq!(days_in_month(2023, 13), 0);
        assert_eq!(weekday(0), 4);
        // 2024-01-02 was a Tuesday.
        assert_eq!(weekday(days_from_civil(2024, 1, 2) as u64), 2);
    }
}
