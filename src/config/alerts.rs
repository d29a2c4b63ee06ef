//! `[alerts]`: the thresholds the control thread checks the core's metrics against
//! (R-OPS-2), as written and as checked.

use super::{err, in_range, parse_dec, ConfigError};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// `[alerts]` as written. Rates are percents and slippage pips, as decimal strings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsConfig {
    /// How often the thresholds are checked, milliseconds.
    pub interval_ms: u64,
    /// Rates and mean slippage are over the last this many seconds.
    pub window_s: u64,
    /// Fewer requests (or fills) than this in the window: too few to judge a rate by,
    /// and its alert clears.
    pub min_requests: u64,
    /// Percent of requests the gate passed (GUIDE-mode advice is not a failure).
    pub success_rate_below: String,
    /// Percent of orders sent that hit their hard timeout.
    pub timeout_rate_above: String,
    /// Mean slippage of fills with a reference price, pips (positive is adverse).
    pub slippage_mean_above_pips: String,
    /// A venue's session down this long, seconds.
    pub venue_down_s: u64,
    /// Journal records not yet in the audit log.
    pub sidecar_lag_records: u64,
    /// The audit log behind the journal and not catching up for this long, seconds.
    pub sidecar_lag_s: u64,
    /// `http://host:port/path`: a JSON POST per alert raised or cleared.
    pub webhook: Option<String>,
    /// Longest a webhook POST may take, milliseconds.
    pub webhook_timeout_ms: u64,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            interval_ms: 1_000,
            window_s: 300,
            min_requests: 20,
            success_rate_below: "90".into(),
            timeout_rate_above: "5".into(),
            slippage_mean_above_pips: "5".into(),
            venue_down_s: 30,
            sidecar_lag_records: 100_000,
            sidecar_lag_s: 30,
            webhook: None,
            webhook_timeout_ms: 2_000,
        }
    }
}

impl AlertsConfig {
    pub(super) fn is_default(&self) -> bool {
        *self == AlertsConfig::default()
    }

    /// The numbers checked against `RANGES` (name in `RANGES`, value).
    pub(super) fn ranged(&self) -> [(&'static str, u64); 7] {
        [
            ("alerts.interval_ms", self.interval_ms),
            ("alerts.window_s", self.window_s),
            ("alerts.min_requests", self.min_requests),
            ("alerts.venue_down_s", self.venue_down_s),
            ("alerts.sidecar_lag_records", self.sidecar_lag_records),
            ("alerts.sidecar_lag_s", self.sidecar_lag_s),
            ("alerts.webhook_timeout_ms", self.webhook_timeout_ms),
        ]
    }
}

/// Where webhook POSTs go. Only the host and port are ever logged: the path may carry a
/// token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    /// Host name or address.
    pub host: String,
    /// TCP port (80 unless the URL says).
    pub port: u16,
    /// Path and query, starting with `/`.
    pub path: String,
}

/// `[alerts]`, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertSpec {
    /// How often the thresholds are checked.
    pub interval: Duration,
    /// The window of the rates.
    pub window: Duration,
    /// Fewest requests (fills for slippage) in the window to judge a rate by.
    pub min_requests: u64,
    /// Hundredths of a percent.
    pub success_rate_below_e2: i64,
    /// Hundredths of a percent.
    pub timeout_rate_above_e2: i64,
    /// Hundredths of a pip.
    pub slippage_mean_above_pips_e2: i64,
    /// How long a venue may be down.
    pub venue_down: Duration,
    /// Records the audit log may be behind.
    pub sidecar_lag_records: u64,
    /// How long the audit log may be behind without catching up.
    pub sidecar_lag: Duration,
    /// Where to POST transitions.
    pub webhook: Option<Webhook>,
    /// Longest a POST may take.
    pub webhook_timeout: Duration,
}

impl Default for AlertSpec {
    fn default() -> Self {
        check(&AlertsConfig::default()).expect("the default alerts are valid")
    }
}

/// A decimal with at most 2 decimals between 0 and `max`, in hundredths.
fn hundredths(key: &str, s: &str, max: i64, what: &str) -> Result<i64, ConfigError> {
    parse_dec(key, s)?
        .to_scale(2)
        .filter(|v| (0..=max * 100).contains(v))
        .ok_or_else(|| {
            err(
                key,
                format!(
                    "{s:?} must be a number between 0 and {max} ({what}) with at most 2 decimals"
                ),
            )
        })
}

/// `http://host[:port][/path]`; nothing else (no TLS client on the control thread, and
/// credentials in the URL would reach places they should not).
fn webhook(url: &str) -> Result<Webhook, ConfigError> {
    let key = "alerts.webhook";
    let bad = |why: &str| err(key, format!("{why}; expected http://host:port/path"));
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| bad("only http:// URLs are supported"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.contains('@') {
        return Err(bad("credentials in the URL are not supported"));
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => {
            let port = p
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| bad("the port must be between 1 and 65535"))?;
            (h, port)
        }
        _ => (authority, 80),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty()
        || host
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
    {
        return Err(bad("no host"));
    }
    if path
        .bytes()
        .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
    {
        return Err(bad(
            "the path must not contain spaces or control characters",
        ));
    }
    Ok(Webhook {
        host: host.to_string(),
        port,
        path: path.to_string(),
    })
}

/// Checks `[alerts]` (its numbers are range-checked already).
pub(super) fn check(a: &AlertsConfig) -> Result<AlertSpec, ConfigError> {
    for (k, v) in a.ranged() {
        in_range(k, k.into(), v)?;
    }
    Ok(AlertSpec {
        interval: Duration::from_millis(a.interval_ms),
        window: Duration::from_secs(a.window_s),
        min_requests: a.min_requests,
        success_rate_below_e2: hundredths(
            "alerts.success_rate_below",
            &a.success_rate_below,
            100,
            "percent",
        )?,
        timeout_rate_above_e2: hundredths(
            "alerts.timeout_rate_above",
            &a.timeout_rate_above,
            100,
            "percent",
        )?,
        slippage_mean_above_pips_e2: hundredths(
            "alerts.slippage_mean_above_pips",
            &a.slippage_mean_above_pips,
            1_000_000,
            "pips",
        )?,
        venue_down: Duration::from_secs(a.venue_down_s),
        sidecar_lag_records: a.sidecar_lag_records,
        sidecar_lag: Duration::from_secs(a.sidecar_lag_s),
        webhook: a.webhook.as_deref().map(webhook).transpose()?,
        webhook_timeout: Duration::from_millis(a.webhook_timeout_ms),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(f: impl FnOnce(&mut AlertsConfig)) -> Result<AlertSpec, String> {
        let mut a = AlertsConfig::default();
        f(&mut a);
        check(&a).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_are_the_requirement() {
        let s = AlertSpec::default();
        assert_eq!(s.success_rate_below_e2, 9_000);
        assert_eq!(s.slippage_mean_above_pips_e2, 500);
        assert_eq!(s.webhook, None);
    }

    #[test]
    fn bad_values_name_the_key_and_why() {
        let e = with(|a| a.success_rate_below = "101".into()).unwrap_err();
        assert!(
            e.contains("alerts.success_rate_below") && e.contains("between 0 and 100"),
            "{e}"
        );
        let e = with(|a| a.timeout_rate_above = "0.001".into()).unwrap_err();
        assert!(e.contains("at most 2 decimals"), "{e}");
        let e = with(|a| a.window_s = 0).unwrap_err();
        assert!(
            e.contains("alerts.window_s") && e.contains("out of range"),
            "{e}"
        );
        let e = with(|a| a.webhook = Some("https://h/x".into())).unwrap_err();
        assert!(e.contains("only http://"), "{e}");
        let e = with(|a| a.webhook = Some("http://u:secret@h/x".into())).unwrap_err();
        assert!(e.contains("credentials") && !e.contains("secret"), "{e}");
        let e = with(|a| a.webhook = Some("http://h:0/x".into())).unwrap_err();
        assert!(e.contains("port"), "{e}");
    }

    #[test]
    fn webhooks_parse_host_port_and_path() {
        let w = webhook("http://127.0.0.1:9000/hooks/abc?t=1").unwrap();
        assert_eq!(
            (w.host.as_str(), w.port, w.path.as_str()),
            ("127.0.0.1", 9000, "/hooks/abc?t=1")
        );
        let w = webhook("http://alerts.example").unwrap();
        assert_eq!(
            (w.host.as_str(), w.port, w.path.as_str()),
            ("alerts.example", 80, "/")
        );
        let w = webhook("http://[::1]:81/").unwrap();
        assert_eq!((w.host.as_str(), w.port), ("::1", 81));
    }
}
