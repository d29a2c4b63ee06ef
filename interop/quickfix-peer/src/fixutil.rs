//! Small helpers for building and reading FIX messages.

use std::time::{SystemTime, UNIX_EPOCH};

use quickfix::{FieldMap, Message};

/// FIX UTCTimestamp with milliseconds: `YYYYMMDD-HH:MM:SS.sss`.
pub fn utc_timestamp() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs();
    let millis = now.subsec_millis();
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}{m:02}{d:02}-{:02}:{:02}:{:02}.{millis:03}",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian calendar.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Render a quantity/price the way FIX wants it: no exponent, no trailing zeros.
pub fn fmt_num(v: f64) -> String {
    let s = format!("{v:.8}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".to_string()
    } else {
        s.to_string()
    }
}

pub fn new_message(msg_type: &str) -> Message {
    let mut msg = Message::new();
    msg.with_header_mut(|h| h.set_field(35, msg_type))
        .expect("set MsgType");
    msg
}

pub fn msg_type(msg: &Message) -> String {
    msg.with_header(|h| h.get_field(35)).unwrap_or_default()
}

pub fn header_field(msg: &Message, tag: i32) -> Option<String> {
    msg.with_header(|h| h.get_field(tag))
}

pub fn is_poss_dup(msg: &Message) -> bool {
    header_field(msg, 43).as_deref() == Some("Y")
}

/// Set a field, ignoring the (only theoretical) interior-NUL error.
pub fn set(msg: &mut Message, tag: i32, value: &str) {
    let _ = msg.set_field(tag, value);
}

pub fn set_opt(msg: &mut Message, tag: i32, value: Option<&str>) {
    if let Some(v) = value {
        set(msg, tag, v);
    }
}

/// A JSON value for a FIX field: a number when it parses as one, else a string, else null.
pub fn json_num(v: Option<String>) -> serde_json::Value {
    match v {
        None => serde_json::Value::Null,
        Some(s) => match s.parse::<f64>() {
            Ok(n) if n.is_finite() => serde_json::json!(n),
            _ => serde_json::Value::String(s),
        },
    }
}

pub fn json_str(v: Option<String>) -> serde_json::Value {
    v.map(serde_json::Value::String)
        .unwrap_or(serde_json::Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
    }

    #[test]
    fn numbers() {
        assert_eq!(fmt_num(100.0), "100");
        assert_eq!(fmt_num(100.5), "100.5");
        assert_eq!(fmt_num(0.1 + 0.2), "0.3");
        assert_eq!(fmt_num(0.0), "0");
    }
}
