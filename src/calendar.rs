//! UTC calendar arithmetic on Unix nanoseconds: dates for audit file names, FIX session
//! windows and timestamps, without a time-zone library. Depends on nothing.

/// Unix ns of a UTC date and time, for fixed simulated start times.
pub fn unix_ns(year: i64, month: u32, day: u32, hour: u32, minute: u32) -> u64 {
    // Days from civil, proleptic Gregorian (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = month as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    ((days * 86_400 + hour as i64 * 3600 + minute as i64 * 60) * 1_000_000_000) as u64
}

/// The UTC date of Unix ns: (year, month, day).
pub(crate) fn civil_date(ns: u64) -> (i64, u32, u32) {
    let days = (ns / 86_400_000_000_000) as i64;
    // Civil from days (Howard Hinnant's algorithm).
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

/// Unix ns as "2026-01-05T15:00:00.123456789Z".
pub fn iso8601(ns: u64) -> String {
    let (y, m, d) = civil_date(ns);
    let secs = ns / 1_000_000_000 % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:09}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60,
        ns % 1_000_000_000
    )
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
        assert_eq!(unix_ns(2026, 1, 5, 0, 0) / 86_400_000_000_000, 20458);
    }
}
