//! `GET /metrics`: the Prometheus text exposition format (0.0.4) of what the core
//! publishes (R-OPS-2), the alerts, and the control API's own requests. The core only
//! stores into its atomics (`core::metrics`); every string is made here, on the control
//! thread, when a scraper asks.

use super::alerts::{Board, Kind};
use super::routes::{AppState, Authed};
use crate::config::AlertSpec;
use crate::core::latency::Stage;
use crate::core::metrics::{Buckets, Count};
use crate::core::CoreMetrics;
use crate::model::reason::Reason;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, MutexGuard};

/// What the control thread serves about execd.
pub(crate) struct Monitor {
    /// The core's published counters; none when the API runs without a core (never in
    /// `execd run`).
    pub(crate) core: Option<Arc<CoreMetrics>>,
    venues: Vec<String>,
    // (method, route, status) → requests. Routes are the router's templates, so the
    // number of series is bounded by the routes, not by the ids in the paths.
    http: Mutex<BTreeMap<(&'static str, String, u16), u64>>,
    board: Mutex<Board>,
}

impl Monitor {
    pub(crate) fn new(
        core: Option<Arc<CoreMetrics>>,
        venues: Vec<String>,
        spec: AlertSpec,
    ) -> Monitor {
        Monitor {
            core,
            board: Mutex::new(Board::new(spec, &venues)),
            venues,
            http: Mutex::new(BTreeMap::new()),
        }
    }

    /// The alerts; held only between awaits, never across one.
    pub(crate) fn board(&self) -> MutexGuard<'_, Board> {
        self.board.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn http(&self) -> MutexGuard<'_, BTreeMap<(&'static str, String, u16), u64>> {
        self.http.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Counts every HTTP request by method, route template and status.
pub(crate) async fn count_http(
    State(m): State<Arc<Monitor>>,
    req: Request,
    next: Next,
) -> Response {
    // Methods outside the standard set are one series, so a client cannot make many.
    let method = match req.method().as_str() {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "HEAD" => "HEAD",
        "PATCH" => "PATCH",
        "OPTIONS" => "OPTIONS",
        _ => "OTHER",
    };
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| p.as_str())
        .to_string();
    let resp = next.run(req).await;
    *m.http()
        .entry((method, route, resp.status().as_u16()))
        .or_default() += 1;
    resp
}

/// `GET /metrics`.
pub(crate) async fn serve(_: Authed, State(st): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        render(&st.monitor),
    )
        .into_response()
}

/// The exposition text.
pub(crate) fn render(m: &Monitor) -> String {
    let mut t = Text(String::with_capacity(16 << 10));
    if let Some(c) = &m.core {
        core(&mut t, c, &m.venues);
    }
    {
        let b = m.board();
        rates(&mut t, &b);
        t.family(
            "execd_alert_active",
            "gauge",
            "1 while the alert's threshold is crossed ([alerts] in the configuration; GET /v1/alerts)",
        );
        for a in &b.alerts {
            let mut labels = vec![("alert", a.kind.name())];
            if let Some(v) = &a.venue {
                labels.push(("venue", v.as_str()));
            }
            t.sample("execd_alert_active", &labels, u8::from(a.active));
        }
    }
    t.family(
        "execd_http_requests_total",
        "counter",
        "HTTP requests to the control API by method, route and status",
    );
    for ((method, route, status), n) in m.http().iter() {
        let status = status.to_string();
        t.sample(
            "execd_http_requests_total",
            &[
                ("method", *method),
                ("route", route.as_str()),
                ("status", &status),
            ],
            n,
        );
    }
    t.0
}

fn core(t: &mut Text, c: &CoreMetrics, venues: &[String]) {
    t.family(
        "execd_requests_total",
        "counter",
        "Execution requests since this start by what the core answered",
    );
    for (status, n) in [
        ("accepted", Count::Accepted),
        ("rejected", Count::Rejected),
        ("duplicate", Count::Duplicates),
    ] {
        t.sample("execd_requests_total", &[("status", status)], c.count(n));
    }
    t.family(
        "execd_rejections_total",
        "counter",
        "Requests rejected since this start by reason code",
    );
    for r in Reason::ALL {
        t.sample(
            "execd_rejections_total",
            &[("reason", r.code())],
            c.rejected(*r),
        );
    }
    for (name, n, help) in [
        ("execd_fills_total", Count::Fills, "Fills applied"),
        (
            "execd_late_fills_total",
            Count::LateFills,
            "Fills after a hard timeout or a terminal state",
        ),
        (
            "execd_timeouts_total",
            Count::Timeouts,
            "Orders that hit their hard timeout",
        ),
        (
            "execd_anomalies_total",
            Count::Anomalies,
            "Venue events that did not fit the order state machine",
        ),
        (
            "execd_duplicate_executions_total",
            Count::DuplicateExecs,
            "Resent execution ids ignored",
        ),
        (
            "execd_retries_total",
            Count::Retries,
            "Resends scheduled for new orders the venue never saw",
        ),
        (
            "execd_dead_letters_total",
            Count::DeadLetters,
            "Orders that could not be delivered and became dead letters",
        ),
        (
            "execd_dead_letters_refused_total",
            Count::DeadLettersRefused,
            "Undelivered orders rejected because the dead-letter queue was full",
        ),
    ] {
        t.family(name, "counter", help);
        t.sample(name, &[], c.count(n));
    }
    t.histogram(
        "execd_slippage_bps",
        "Slippage of fills with a reference price, basis points (positive is adverse)",
        &[],
        c.slippage_bps(),
        2,
    );
    t.histogram(
        "execd_slippage_pips",
        "Slippage of fills with a reference price, pips (positive is adverse)",
        &[],
        c.slippage_pips(),
        2,
    );
    t.family(
        "execd_stage_latency_seconds",
        "histogram",
        "Time of each stage of a submit on the core thread (total: gate to confirmation)",
    );
    for s in Stage::ALL {
        t.buckets(
            "execd_stage_latency_seconds",
            &[("stage", s.name())],
            c.stage(s),
            9,
        );
    }
    t.family(
        "execd_venue_up",
        "gauge",
        "1 while the venue's session is logged on (paper: always)",
    );
    for (v, cell) in venues.iter().zip(c.venues()) {
        t.sample("execd_venue_up", &[("venue", v)], u8::from(cell.up()));
    }
    t.family(
        "execd_venue_breaker_state",
        "gauge",
        "The venue's circuit breaker: 0 closed, 1 open, 2 half-open",
    );
    for (v, cell) in venues.iter().zip(c.venues()) {
        t.sample("execd_venue_breaker_state", &[("venue", v)], cell.breaker());
    }
    t.family(
        "execd_quotes_conflated_total",
        "counter",
        "Venue quotes dropped for a newer one of the same instrument within one core cycle (one per instrument per cycle is journaled)",
    );
    t.sample("execd_quotes_conflated_total", &[], c.quotes_conflated());
    let idle = c.idle();
    t.family(
        "execd_core_idle_waits_total",
        "counter",
        "Waits of the idle core in epoll_wait (idle = backoff), by what ended them: a venue socket, the producers' doorbell, the timeout",
    );
    for (by, n) in [
        ("socket", idle.woke_by_socket),
        ("doorbell", idle.woke_by_bell),
        ("timeout", idle.timed_out),
    ] {
        t.sample("execd_core_idle_waits_total", &[("ended_by", by)], n);
    }
    t.family(
        "execd_core_idle_parks_total",
        "counter",
        "Blind parks of the idle core: a timer due within a millisecond, a producer not reading its events",
    );
    t.sample("execd_core_idle_parks_total", &[], idle.parks);
    if let Some((written, copied)) = c.journal() {
        t.family(
            "execd_journal_last_seq",
            "gauge",
            "Sequence number of the last journal record written",
        );
        t.sample("execd_journal_last_seq", &[], written);
        t.family(
            "execd_audit_last_seq",
            "gauge",
            "Sequence number of the last record copied into the audit log",
        );
        t.sample("execd_audit_last_seq", &[], copied);
        t.family(
            "execd_audit_lag_records",
            "gauge",
            "Journal records not yet in the audit log",
        );
        t.sample(
            "execd_audit_lag_records",
            &[],
            written.saturating_sub(copied),
        );
    }
}

fn rates(t: &mut Text, b: &Board) {
    // Over the alerts' window; absent while the window holds too few requests.
    for (name, kind, scale, help) in [
        ("execd_success_rate", Kind::SuccessRate, 4, "Share of requests the gate passed over the alert window (GUIDE advice excluded), 0 to 1"),
        ("execd_timeout_rate", Kind::TimeoutRate, 4, "Share of orders sent that timed out over the alert window, 0 to 1"),
        ("execd_slippage_mean_pips", Kind::SlippageMean, 2, "Mean slippage of fills over the alert window, pips"),
    ] {
        t.family(name, "gauge", help);
        if let Some(v) = b.value(kind) {
            t.sample(name, &[], decimal(v as i128, scale));
        }
    }
    if let Some(s) = b.lag_seconds {
        t.family(
            "execd_audit_lag_seconds",
            "gauge",
            "How long the audit log has been behind the journal without catching up",
        );
        t.sample("execd_audit_lag_seconds", &[], s);
    }
}

/// `mant` × 10^-`scale` as the shortest exact decimal.
fn decimal(mant: i128, scale: u32) -> String {
    let p = 10i128.pow(scale);
    let sign = if mant < 0 { "-" } else { "" };
    let a = mant.unsigned_abs();
    let (int, frac) = (a / p as u128, a % p as u128);
    if frac == 0 {
        return format!("{sign}{int}");
    }
    let f = format!("{frac:0width$}", width = scale as usize);
    format!("{sign}{int}.{}", f.trim_end_matches('0'))
}

struct Text(String);

impl Text {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}");
        let _ = writeln!(self.0, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], v: impl std::fmt::Display) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (k, val)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                let _ = write!(self.0, "{k}=\"");
                for ch in val.chars() {
                    match ch {
                        '\\' => self.0.push_str("\\\\"),
                        '"' => self.0.push_str("\\\""),
                        '\n' => self.0.push_str("\\n"),
                        c => self.0.push(c),
                    }
                }
                self.0.push('"');
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {v}");
    }

    fn histogram(
        &mut self,
        name: &str,
        help: &str,
        labels: &[(&str, &str)],
        b: &Buckets,
        scale: u32,
    ) {
        self.family(name, "histogram", help);
        self.buckets(name, labels, b, scale);
    }

    /// The `_bucket`, `_sum` and `_count` series of `b`, whose values are at `scale`.
    fn buckets(&mut self, name: &str, labels: &[(&str, &str)], b: &Buckets, scale: u32) {
        let counts = b.cumulative();
        let bucket = format!("{name}_bucket");
        for (i, n) in counts.iter().enumerate() {
            let le = match b.bounds().get(i) {
                Some(&bound) => decimal(bound as i128, scale),
                None => "+Inf".to_string(),
            };
            let mut l = labels.to_vec();
            l.push(("le", le.as_str()));
            self.sample(&bucket, &l, n);
        }
        self.sample(
            &format!("{name}_sum"),
            labels,
            decimal(b.sum() as i128, scale),
        );
        self.sample(
            &format!("{name}_count"),
            labels,
            counts.last().copied().unwrap_or(0),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_exact_and_short() {
        assert_eq!(decimal(250, 9), "0.00000025");
        assert_eq!(decimal(10_000_000_000, 9), "10");
        assert_eq!(decimal(-150, 2), "-1.5");
        assert_eq!(decimal(0, 4), "0");
    }

    #[test]
    fn label_values_are_escaped() {
        let mut t = Text(String::new());
        t.sample("m", &[("a", "x\"y\\z\nw")], 1);
        assert_eq!(t.0, "m{a=\"x\\\"y\\\\z\\nw\"} 1\n");
    }

    #[test]
    fn every_family_has_help_and_type_and_the_core_is_in_it() {
        let m = Monitor::new(
            Some(Arc::new(CoreMetrics::new(1))),
            vec!["paper".into()],
            AlertSpec::default(),
        );
        let text = render(&m);
        for name in [
            "execd_requests_total",
            "execd_stage_latency_seconds",
            "execd_venue_up",
            "execd_quotes_conflated_total",
            "execd_core_idle_waits_total",
            "execd_core_idle_parks_total",
            "execd_alert_active",
        ] {
            assert!(text.contains(&format!("# TYPE {name} ")), "{name}: {text}");
        }
        assert!(text.contains("execd_stage_latency_seconds_bucket{stage=\"gate\",le=\"+Inf\"} 0\n"));
        assert!(text.contains("execd_rejections_total{reason=\"KILL_VENUE\"} 0\n"));
    }
}
