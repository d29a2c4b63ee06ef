//! Alerts (R-OPS-2): the thresholds of `[alerts]` checked against what the core
//! publishes, on the control thread every `interval_ms` (never on the core). A crossing
//! and a clearing each make one line on stderr, flip `execd_alert_active`, show in
//! `GET /v1/alerts`, and POST to the webhook when there is one.

use super::metrics::Monitor;
use super::routes::{AppState, Authed};
use crate::calendar::iso8601;
use crate::config::{AlertSpec, Webhook};
use crate::core::metrics::Count;
use crate::core::CoreMetrics;
use crate::model::reason::Reason;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Webhook POSTs in flight at once; past that a transition is logged and not posted, so
/// a webhook that hangs cannot pile up connections.
const MAX_POSTS: usize = 16;

/// What an alert compares against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    SuccessRate,
    TimeoutRate,
    SlippageMean,
    VenueDown,
    SidecarLagRecords,
    SidecarLagSeconds,
}

impl Kind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::SuccessRate => "success_rate",
            Kind::TimeoutRate => "timeout_rate",
            Kind::SlippageMean => "slippage_mean",
            Kind::VenueDown => "venue_down",
            Kind::SidecarLagRecords => "sidecar_lag_records",
            Kind::SidecarLagSeconds => "sidecar_lag_seconds",
        }
    }

    fn unit(self) -> &'static str {
        match self {
            Kind::SuccessRate | Kind::TimeoutRate => "percent",
            Kind::SlippageMean => "pips",
            Kind::VenueDown | Kind::SidecarLagSeconds => "seconds",
            Kind::SidecarLagRecords => "records",
        }
    }

    fn below(self) -> bool {
        self == Kind::SuccessRate
    }
}

/// One alert and where it stands.
pub(crate) struct Alert {
    pub(crate) kind: Kind,
    /// The venue, for `venue_down`.
    pub(crate) venue: Option<String>,
    pub(crate) active: bool,
    // Unix ns of the last crossing or clearing.
    since: Option<u64>,
    // Hundredths (or whole seconds and records); `None`: not enough to judge by.
    value: Option<i64>,
    threshold: i64,
}

impl Alert {
    fn new(kind: Kind, venue: Option<String>, threshold: i64) -> Alert {
        Alert {
            kind,
            venue,
            active: false,
            since: None,
            value: None,
            threshold,
        }
    }

    // Rates and pips are kept in hundredths; seconds and records whole.
    fn text(&self, v: i64) -> String {
        match self.kind {
            Kind::SuccessRate | Kind::TimeoutRate | Kind::SlippageMean => hundredths(v),
            _ => v.to_string(),
        }
    }

    fn crossed(&self, v: i64) -> bool {
        if self.kind.below() {
            v < self.threshold
        } else {
            v > self.threshold
        }
    }

    fn json(&self) -> Value {
        json!({
            "alert": self.kind.name(),
            "venue": self.venue,
            "active": self.active,
            "since": self.since.map(iso8601),
            "value": self.value.map(|v| self.text(v)),
            "threshold": self.text(self.threshold),
            "condition": if self.kind.below() { "below" } else { "above" },
            "unit": self.kind.unit(),
        })
    }

    fn line(&self) -> String {
        let who = match &self.venue {
            Some(v) => format!("{} {v}", self.kind.name()),
            None => self.kind.name().to_string(),
        };
        let value = self.value.map_or("none".into(), |v| self.text(v));
        let cond = if self.kind.below() { "below" } else { "above" };
        format!(
            "{who}: {value} {unit} (threshold: {cond} {} {unit})",
            self.text(self.threshold),
            unit = self.kind.unit()
        )
    }
}

fn hundredths(v: i64) -> String {
    let sign = if v < 0 { "-" } else { "" };
    let a = v.unsigned_abs();
    format!("{sign}{}.{:02}", a / 100, a % 100)
}

/// Counters at one evaluation.
#[derive(Clone, Copy, Default)]
struct Sample {
    at: Option<Instant>,
    accepted: u64,
    rejected: u64,
    advised: u64,
    timeouts: u64,
    slip_count: u64,
    slip_sum_e2: i64,
}

impl Sample {
    fn of(m: &CoreMetrics, at: Instant) -> Sample {
        let pips = m.slippage_pips();
        Sample {
            at: Some(at),
            accepted: m.count(Count::Accepted),
            rejected: m.count(Count::Rejected),
            advised: m.rejected(Reason::ModeGuide),
            timeouts: m.count(Count::Timeouts),
            slip_count: pips.cumulative().last().copied().unwrap_or(0),
            slip_sum_e2: pips.sum(),
        }
    }
}

/// Every alert, and what the rates are computed from.
pub(crate) struct Board {
    spec: AlertSpec,
    pub(crate) alerts: Vec<Alert>,
    // Oldest first; the first one is at or before the start of the window.
    samples: VecDeque<Sample>,
    venue_down_since: Vec<Option<Instant>>,
    lag_since: Option<Instant>,
    last_copied: u64,
    evaluated_at: Option<u64>,
    /// The sidecar's lag in seconds as last evaluated (a gauge).
    pub(crate) lag_seconds: Option<i64>,
}

impl Board {
    pub(crate) fn new(spec: AlertSpec, venues: &[String]) -> Board {
        let mut alerts = vec![
            Alert::new(Kind::SuccessRate, None, spec.success_rate_below_e2),
            Alert::new(Kind::TimeoutRate, None, spec.timeout_rate_above_e2),
            Alert::new(Kind::SlippageMean, None, spec.slippage_mean_above_pips_e2),
        ];
        for v in venues {
            alerts.push(Alert::new(
                Kind::VenueDown,
                Some(v.clone()),
                spec.venue_down.as_secs() as i64,
            ));
        }
        alerts.push(Alert::new(
            Kind::SidecarLagRecords,
            None,
            spec.sidecar_lag_records.min(i64::MAX as u64) as i64,
        ));
        alerts.push(Alert::new(
            Kind::SidecarLagSeconds,
            None,
            spec.sidecar_lag.as_secs() as i64,
        ));
        Board {
            // Counters start at zero with the process, which is when this is made.
            samples: VecDeque::from([Sample {
                at: Some(Instant::now()),
                ..Sample::default()
            }]),
            venue_down_since: vec![None; venues.len()],
            lag_since: None,
            last_copied: 0,
            evaluated_at: None,
            lag_seconds: None,
            spec,
            alerts,
        }
    }

    /// The window's rate or mean by alert kind, as last evaluated (hundredths).
    pub(crate) fn value(&self, kind: Kind) -> Option<i64> {
        self.alerts
            .iter()
            .find(|a| a.kind == kind)
            .and_then(|a| a.value)
    }

    /// Checks every threshold against `m` at `now`; the alerts that changed, by index.
    fn evaluate(&mut self, m: &CoreMetrics, now: Instant, unix_ns: u64) -> Vec<usize> {
        let cur = Sample::of(m, now);
        let window = self.spec.window;
        let old_enough = |s: &Sample| s.at.is_some_and(|t| now.duration_since(t) >= window);
        while self.samples.len() > 1 && old_enough(&self.samples[1]) {
            self.samples.pop_front();
        }
        let base = self.samples.front().copied().unwrap_or_default();
        self.samples.push_back(cur);
        let min = self.spec.min_requests;
        let accepted = cur.accepted.saturating_sub(base.accepted);
        let failed = cur
            .rejected
            .saturating_sub(base.rejected)
            .saturating_sub(cur.advised.saturating_sub(base.advised));
        let decided = accepted + failed;
        let success = (decided >= min).then(|| (accepted * 10_000 / decided.max(1)) as i64);
        let timeouts = cur.timeouts.saturating_sub(base.timeouts);
        let timeout = (accepted >= min).then(|| (timeouts * 10_000 / accepted.max(1)) as i64);
        let fills = cur.slip_count.saturating_sub(base.slip_count);
        let slip = (fills >= min).then(|| {
            cur.slip_sum_e2.wrapping_sub(base.slip_sum_e2) / (fills.min(i64::MAX as u64) as i64)
        });
        let (lag_records, lag_seconds) = match m.journal() {
            Some((written, copied)) => {
                let lag = written.saturating_sub(copied);
                if lag == 0 || copied != self.last_copied {
                    self.lag_since = None;
                }
                if lag > 0 {
                    self.lag_since.get_or_insert(now);
                }
                self.last_copied = copied;
                let secs = self
                    .lag_since
                    .map_or(0, |t| now.duration_since(t).as_secs());
                (Some(lag.min(i64::MAX as u64) as i64), Some(secs as i64))
            }
            None => (None, None),
        };
        self.lag_seconds = lag_seconds;
        let mut venue = 0;
        let mut changed = Vec::new();
        for (i, a) in self.alerts.iter_mut().enumerate() {
            let value = match a.kind {
                Kind::SuccessRate => success,
                Kind::TimeoutRate => timeout,
                Kind::SlippageMean => slip,
                Kind::SidecarLagRecords => lag_records,
                Kind::SidecarLagSeconds => lag_seconds,
                Kind::VenueDown => {
                    let up = m.venues().get(venue).is_none_or(|c| c.up());
                    let since = &mut self.venue_down_since[venue];
                    venue += 1;
                    if up {
                        *since = None;
                        Some(0)
                    } else {
                        let t = *since.get_or_insert(now);
                        Some(now.duration_since(t).as_secs() as i64)
                    }
                }
            };
            a.value = value;
            let active = value.is_some_and(|v| a.crossed(v));
            if active != a.active {
                a.active = active;
                a.since = Some(unix_ns);
                changed.push(i);
            }
        }
        self.evaluated_at = Some(unix_ns);
        changed
    }

    fn json(&self) -> Value {
        json!({
            "evaluated_at": self.evaluated_at.map(iso8601),
            "window_s": self.spec.window.as_secs(),
            "min_requests": self.spec.min_requests,
            "alerts": self.alerts.iter().map(Alert::json).collect::<Vec<_>>(),
        })
    }
}

fn unix_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Evaluates the alerts every `interval` until `stopping`.
pub(crate) async fn watch(monitor: Arc<Monitor>, stopping: Arc<AtomicBool>) {
    let Some(core) = monitor.core.clone() else {
        return;
    };
    let spec = monitor.board().spec.clone();
    let posts = Arc::new(AtomicUsize::new(0));
    let mut tick = tokio::time::interval(spec.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if stopping.load(Ordering::Acquire) {
            return;
        }
        let at = unix_ns();
        let posted: Vec<(String, String)> = {
            let mut board = monitor.board();
            let changed = board.evaluate(&core, Instant::now(), at);
            changed
                .into_iter()
                .map(|i| {
                    let a = &board.alerts[i];
                    let (line, state) = if a.active {
                        (format!("execd: ALERT {}", a.line()), "raised")
                    } else {
                        (format!("execd: alert cleared {}", a.line()), "cleared")
                    };
                    let mut body = a.json();
                    body["state"] = json!(state);
                    body["at"] = json!(iso8601(at));
                    (line, body.to_string())
                })
                .collect()
        };
        for (line, body) in posted {
            let _ = writeln!(std::io::stderr(), "{line}");
            if let Some(w) = &spec.webhook {
                post_later(w.clone(), body, spec.webhook_timeout, posts.clone());
            }
        }
    }
}

/// POSTs `body` to the webhook on its own task, within `timeout`; a failure is logged
/// (with the host only: the path may hold a token) and not retried.
fn post_later(w: Webhook, body: String, timeout: Duration, posts: Arc<AtomicUsize>) {
    if posts.fetch_add(1, Ordering::AcqRel) >= MAX_POSTS {
        posts.fetch_sub(1, Ordering::AcqRel);
        let _ = writeln!(
            std::io::stderr(),
            "execd: alert webhook to {}:{}: {MAX_POSTS} posts still pending; this one is dropped",
            w.host,
            w.port
        );
        return;
    }
    tokio::spawn(async move {
        let done = tokio::time::timeout(timeout, post(&w, &body)).await;
        posts.fetch_sub(1, Ordering::AcqRel);
        let why = match done {
            Ok(Ok(())) => return,
            Ok(Err(e)) => e,
            Err(_) => format!("no answer within {} ms", timeout.as_millis()),
        };
        let _ = writeln!(
            std::io::stderr(),
            "execd: alert webhook to {}:{} failed: {why}",
            w.host,
            w.port
        );
    });
}

async fn post(w: &Webhook, body: &str) -> Result<(), String> {
    let mut s = tokio::net::TcpStream::connect((w.host.as_str(), w.port))
        .await
        .map_err(|e| format!("connect: {}", e.kind()))?;
    let host = if w.host.contains(':') {
        format!("[{}]:{}", w.host, w.port)
    } else {
        format!("{}:{}", w.host, w.port)
    };
    let req = format!(
        "POST {} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: execd\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        w.path,
        body.len()
    );
    s.write_all(req.as_bytes())
        .await
        .map_err(|e| format!("send: {}", e.kind()))?;
    let mut head = [0u8; 64];
    let mut n = 0;
    while n < 12 {
        match s.read(&mut head[n..]).await {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) => return Err(format!("read: {}", e.kind())),
        }
    }
    // "HTTP/1.1 204 …": the status is the second word.
    let status = std::str::from_utf8(&head[..n])
        .ok()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse::<u16>().ok());
    match status {
        Some(c) if (200..300).contains(&c) => Ok(()),
        Some(c) => Err(format!("it answered {c}")),
        None => Err("no HTTP answer".into()),
    }
}

/// `GET /v1/alerts`: every alert, active or not.
pub(crate) async fn serve(_: Authed, State(st): State<AppState>) -> Response {
    Json(st.monitor.board().json()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::EngineStats;
    use crate::model::event::CoreEvent;
    use crate::model::fixed::{Money, Price, Qty};
    use crate::model::ids::{InstrumentId, OrderId};
    use crate::model::slippage::{SlipCategory, Slippage};

    fn stats(accepted: u64, rejected: u64) -> EngineStats {
        EngineStats {
            accepted,
            rejected,
            ..Default::default()
        }
    }

    fn spec() -> AlertSpec {
        AlertSpec {
            min_requests: 2,
            window: Duration::from_secs(10),
            ..AlertSpec::default()
        }
    }

    #[test]
    fn success_rate_crosses_below_and_clears_when_the_window_moves_on() {
        let m = CoreMetrics::new(1);
        let mut b = Board::new(spec(), &["paper".into()]);
        let t0 = Instant::now();
        assert!(
            b.evaluate(&m, t0, 1).is_empty(),
            "nothing decided, nothing raised"
        );
        m.publish_stats(&stats(1, 4));
        let changed = b.evaluate(&m, t0 + Duration::from_secs(1), 2);
        assert_eq!(changed, vec![0]);
        assert!(b.alerts[0].active);
        assert_eq!(b.alerts[0].value, Some(2_000));
        assert_eq!(b.alerts[0].json()["value"], "20.00");
        assert_eq!(b.alerts[0].json()["threshold"], "90.00");
        // Twelve seconds on, the rejections are out of the window: too few to judge.
        let changed = b.evaluate(&m, t0 + Duration::from_secs(12), 3);
        assert_eq!(changed, vec![0]);
        assert!(!b.alerts[0].active);
        assert_eq!(b.alerts[0].value, None);
    }

    fn fill(pips_e2: i64) -> CoreEvent {
        CoreEvent::Fill {
            order: OrderId(1),
            instrument: InstrumentId(0),
            exec_id: 1,
            px: Price(1),
            qty: Qty(1),
            fee: Money(0),
            slippage: Some(Slippage {
                price: 1,
                bps_e2: 1,
                pips_e2,
                category: SlipCategory::Poor,
            }),
            late: false,
        }
    }

    #[test]
    fn slippage_venue_and_sidecar_alerts_cross_above_and_clear() {
        let m = CoreMetrics::new(1);
        let spec = AlertSpec {
            venue_down: Duration::from_secs(5),
            sidecar_lag_records: 50,
            sidecar_lag: Duration::from_secs(3),
            ..spec()
        };
        let mut b = Board::new(spec, &["paper".into()]);
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        m.publish_venue(0, true, 0);
        m.publish_journal(10, 10);
        assert!(b.evaluate(&m, t0, 1).is_empty());
        m.publish_venue(0, false, 0);
        m.publish_journal(100, 10);
        m.observe(&fill(600));
        m.observe(&fill(800));
        // At once: the mean (7 pips) and the records behind; the venue and the sidecar
        // have not been down or stuck for long yet.
        assert_eq!(b.evaluate(&m, at(1), 2), vec![2, 4]);
        assert_eq!(b.alerts[2].json()["value"], "7.00");
        assert_eq!(b.alerts[4].json()["value"], "90");
        assert_eq!(b.evaluate(&m, at(7), 3), vec![3, 5]);
        assert_eq!(b.alerts[3].venue.as_deref(), Some("paper"));
        assert_eq!(b.alerts[3].json()["value"], "6");
        m.publish_venue(0, true, 0);
        m.publish_journal(100, 100);
        assert_eq!(b.evaluate(&m, at(8), 4), vec![3, 4, 5]);
        assert!(b
            .alerts
            .iter()
            .all(|a| !a.active || a.kind == Kind::SlippageMean));
    }

    #[test]
    fn values_print_as_decimals() {
        assert_eq!(hundredths(9_000), "90.00");
        assert_eq!(hundredths(-5), "-0.05");
        assert_eq!(hundredths(123_456), "1234.56");
    }
}
