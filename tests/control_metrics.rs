//! `GET /metrics`, the alerts and their webhook, end to end: the real `execd run` binary
//! on the paper venue, real HTTP on ports the kernel picks, every wait bounded, every
//! daemon and listener stopped when its test ends however it ends.

mod common;

use common::{LineProc, TempDir};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

const TOKEN: &str = "tok-metrics-8c1f";

struct Daemon {
    proc: LineProc,
    url: String,
    _dir: TempDir,
}

impl Daemon {
    /// `execd run --listen 127.0.0.1:0` on the paper venue without silent orders, with
    /// `extra` appended to the configuration, a token and `args`.
    fn start(extra: &str, args: &[&str]) -> Daemon {
        let dir = TempDir::new("control-metrics");
        let base =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/paper.toml"))
                .unwrap();
        let quiet = base.replacen("silent_per_mille = 1 ", "silent_per_mille = 0 ", 1);
        assert_ne!(quiet, base);
        // The built-in [alerts] section is replaced, not repeated.
        let start = quiet.find("[alerts]").expect("an [alerts] section");
        let end = start + quiet[start..].find("\n[gate]").expect("[gate] after it");
        let cfg_text = format!("{}{}\n{extra}", &quiet[..start], &quiet[end..]);
        let cfg = dir.path().join("metrics.toml");
        std::fs::write(&cfg, cfg_text).unwrap();
        let mut c = Command::new(env!("CARGO_BIN_EXE_execd"));
        c.env_remove("EXECD_URL")
            .env("EXECD_API_TOKEN", TOKEN)
            .args(["run", "--listen", "127.0.0.1:0", "--config"])
            .arg(&cfg)
            .args(args);
        let (proc, url) = LineProc::spawn_api(&mut c);
        Daemon {
            proc,
            url,
            _dir: dir,
        }
    }

    fn call(&self, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
        common::http_text(method, &format!("{}{path}", self.url), body, Some(TOKEN))
    }

    fn json(&self, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
        let (code, text) = self.call(method, path, body);
        let v = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}: {text}"));
        (code, v)
    }

    fn metrics(&self) -> BTreeMap<String, f64> {
        let (code, text) = self.call("GET", "/metrics", None);
        assert_eq!(code, 200, "{text}");
        parse_exposition(&text).unwrap_or_else(|e| panic!("not Prometheus text: {e}\n{text}"))
    }

    /// Polls `/metrics` until `ok` holds (the core publishes every 10 ms), at most 10 s.
    fn metrics_until(
        &self,
        what: &str,
        ok: impl Fn(&BTreeMap<String, f64>) -> bool,
    ) -> BTreeMap<String, f64> {
        let t0 = Instant::now();
        loop {
            let m = self.metrics();
            if ok(&m) {
                return m;
            }
            assert!(t0.elapsed() < Duration::from_secs(10), "{what}: {m:#?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn kill_switch(&self, state: &str) {
        let body = format!(r#"{{"scope":{{"venue":"paper"}},"state":"{state}"}}"#);
        let (code, v) = self.json("PUT", "/v1/kill-switches", Some(&body));
        assert_eq!(code, 200, "{v}");
    }

    fn submit(&self, id: &str) -> Value {
        let body = format!(
            r#"{{"request_id":"{id}","account":"alpha","venue":"paper","symbol":"BTCUSDT","side":"BUY","quantity":"0.01","order_type":"MARKET","reference_price":"97000.00","context":{{"risk_approved":true}}}}"#
        );
        let (code, v) = self.json("POST", "/v1/executions", Some(&body));
        assert!(code == 200 || code == 201, "{code} {v}");
        v
    }

    fn sigterm(self) -> (Option<i32>, Vec<String>) {
        self.proc.sigterm(20)
    }
}

fn is_name(s: &str) -> bool {
    let mut b = s.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_' || c == b':')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b':')
}

/// `name{labels}` → (name, labels in order, the rest of the line).
/// A sample line's parts: its name, its labels in order, and the rest (the value).
type Sample<'a> = (&'a str, Vec<(String, String)>, &'a str);

fn split_sample(line: &str) -> Result<Sample<'_>, String> {
    let end = line
        .find(['{', ' '])
        .ok_or_else(|| format!("no value: {line}"))?;
    let name = &line[..end];
    if !is_name(name) {
        return Err(format!("bad metric name {name:?}"));
    }
    let mut labels = Vec::new();
    let mut rest = &line[end..];
    if let Some(r) = rest.strip_prefix('{') {
        let mut r = r;
        loop {
            if let Some(after) = r.strip_prefix('}') {
                rest = after;
                break;
            }
            let eq = r
                .find('=')
                .ok_or_else(|| format!("label without '=': {line}"))?;
            let key = &r[..eq];
            if !is_name(key) || key.starts_with("__") {
                return Err(format!("bad label name {key:?}: {line}"));
            }
            let mut chars = r[eq + 1..].char_indices();
            if chars.next().map(|c| c.1) != Some('"') {
                return Err(format!("label value not quoted: {line}"));
            }
            let mut value = String::new();
            let mut close = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => match chars.next().map(|c| c.1) {
                        Some('\\') => value.push('\\'),
                        Some('"') => value.push('"'),
                        Some('n') => value.push('\n'),
                        other => return Err(format!("bad escape {other:?}: {line}")),
                    },
                    '"' => {
                        close = Some(i);
                        break;
                    }
                    '\n' => return Err(format!("raw newline in a label: {line}")),
                    c => value.push(c),
                }
            }
            let close = close.ok_or_else(|| format!("unterminated label value: {line}"))?;
            labels.push((key.to_string(), value));
            r = &r[eq + 1 + close + 1..];
            if let Some(after) = r.strip_prefix(',') {
                r = after;
            } else if !r.starts_with('}') {
                return Err(format!("expected ',' or '}}' after a label: {line}"));
            }
        }
    }
    Ok((name, labels, rest))
}

/// A strict reader of the text exposition format 0.0.4: every sample belongs to a family
/// declared by `# TYPE` (once, before its samples), which has a `# HELP`; names and labels
/// are well formed, values are numbers, no series appears twice, and every histogram's
/// buckets grow to an `+Inf` bucket equal to its `_count`. Returns `name{k="v",…}` →
/// value, labels in the order written.
fn parse_exposition(text: &str) -> Result<BTreeMap<String, f64>, String> {
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut helps = BTreeSet::new();
    let mut out = BTreeMap::new();
    // Per histogram series (name + labels other than le): bucket values in order.
    let mut buckets: BTreeMap<String, Vec<(String, f64)>> = BTreeMap::new();
    if !text.ends_with('\n') {
        return Err("the text must end with a newline".into());
    }
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(c) = line.strip_prefix("# ") {
            let mut w = c.splitn(3, ' ');
            match (w.next(), w.next(), w.next()) {
                (Some("HELP"), Some(n), Some(_)) if is_name(n) => {
                    if !helps.insert(n.to_string()) {
                        return Err(format!("HELP twice for {n}"));
                    }
                }
                (Some("TYPE"), Some(n), Some(t)) if is_name(n) => {
                    if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&t) {
                        return Err(format!("unknown type {t}"));
                    }
                    if out.keys().any(|k: &String| {
                        k == n
                            || k.starts_with(&format!("{n}{{"))
                            || k.starts_with(&format!("{n}_"))
                    }) {
                        return Err(format!("TYPE for {n} after its samples"));
                    }
                    if types.insert(n.to_string(), t.to_string()).is_some() {
                        return Err(format!("TYPE twice for {n}"));
                    }
                }
                _ => return Err(format!("bad comment line: {line}")),
            }
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let (name, labels, rest) = split_sample(line)?;
        let value_text = rest
            .strip_prefix(' ')
            .ok_or_else(|| format!("no space before the value: {line}"))?;
        let value_text = value_text.split(' ').next().unwrap_or_default();
        let value = match value_text {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            "NaN" => f64::NAN,
            v => v
                .parse::<f64>()
                .map_err(|_| format!("bad value {v:?}: {line}"))?,
        };
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s)
                    .filter(|f| types.get(*f).is_some_and(|t| t == "histogram"))
            })
            .unwrap_or(name);
        let t = types
            .get(family)
            .ok_or_else(|| format!("{name}: no # TYPE before it"))?;
        if !helps.contains(family) {
            return Err(format!("{family}: no # HELP"));
        }
        if t == "histogram" && family == name {
            return Err(format!(
                "{name}: a histogram sample must be _bucket, _sum or _count"
            ));
        }
        if t == "counter" && value < 0.0 {
            return Err(format!("{name}: a counter below zero"));
        }
        let key = format!(
            "{name}{}",
            if labels.is_empty() {
                String::new()
            } else {
                let l: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
                format!("{{{}}}", l.join(","))
            }
        );
        if out.insert(key.clone(), value).is_some() {
            return Err(format!("series twice: {key}"));
        }
        if t == "histogram" {
            let others: Vec<String> = labels
                .iter()
                .filter(|(k, _)| k != "le")
                .map(|(k, v)| format!("{k}={v:?}"))
                .collect();
            let series = format!("{family}{{{}}}", others.join(","));
            if name.ends_with("_bucket") {
                let le = labels
                    .iter()
                    .find(|(k, _)| k == "le")
                    .ok_or_else(|| format!("a bucket without le: {line}"))?;
                buckets
                    .entry(series)
                    .or_default()
                    .push((le.1.clone(), value));
            } else if name.ends_with("_count") {
                let b = buckets
                    .get(&series)
                    .ok_or_else(|| format!("{series}: _count before its buckets"))?;
                match b.last() {
                    Some((le, top)) if le == "+Inf" && *top == value => {}
                    _ => return Err(format!("{series}: the +Inf bucket is not the count")),
                }
            }
        }
    }
    for (series, b) in &buckets {
        let mut prev = (f64::NEG_INFINITY, 0.0);
        for (le, v) in b {
            let bound = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse::<f64>()
                    .map_err(|_| format!("{series}: le {le:?}"))?
            };
            if bound <= prev.0 || *v < prev.1 {
                return Err(format!("{series}: buckets out of order at le={le}"));
            }
            prev = (bound, *v);
        }
        if prev.0 != f64::INFINITY {
            return Err(format!("{series}: no +Inf bucket"));
        }
    }
    Ok(out)
}

fn get(m: &BTreeMap<String, f64>, key: &str) -> f64 {
    *m.get(key)
        .unwrap_or_else(|| panic!("no {key} in {:#?}", m.keys().collect::<Vec<_>>()))
}

#[test]
fn the_strict_parser_refuses_what_prometheus_would() {
    let good = "# HELP a_total x\n# TYPE a_total counter\na_total{k=\"v\\\"\"} 1\n";
    assert!(parse_exposition(good).is_ok());
    for bad in [
        "a_total 1\n",                                                       // no TYPE
        "# HELP a x\n# TYPE a gauge\na{k=\"v} 1\n",                          // unterminated
        "# HELP a x\n# TYPE a gauge\na 1\na 2\n",                            // twice
        "# HELP a x\n# TYPE a gauge\na one\n",                               // not a number
        "# HELP h x\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_count 1\n",
        "# HELP h x\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_count 2\n", // no +Inf
    ] {
        assert!(parse_exposition(bad).is_err(), "{bad}");
    }
}

#[test]
fn metrics_are_prometheus_text_need_the_token_and_move_with_rejections_and_fills() {
    let journal = TempDir::new("metrics-journal");
    let d = Daemon::start("", &["--journal", journal.path().to_str().unwrap()]);
    let (code, body) = common::http_text("GET", &format!("{}/metrics", d.url), None, None);
    assert_eq!(code, 401, "{body}");
    assert!(body.contains("UNAUTHORIZED"), "{body}");
    let (code, _) = common::http_text("GET", &format!("{}/metrics", d.url), None, Some("wrong"));
    assert_eq!(code, 401);

    let m0 = d.metrics_until("the venue is published", |m| {
        m.get("execd_venue_up{venue=\"paper\"}") == Some(&1.0)
    });
    assert_eq!(
        get(&m0, "execd_rejections_total{reason=\"KILL_VENUE\"}"),
        0.0
    );
    assert_eq!(get(&m0, "execd_slippage_pips_count"), 0.0);
    assert_eq!(get(&m0, "execd_venue_breaker_state{venue=\"paper\"}"), 0.0);
    assert_eq!(get(&m0, "execd_alert_active{alert=\"success_rate\"}"), 0.0);

    d.kill_switch("ACTIVE");
    let v = d.submit("m-rej-1");
    assert_eq!(v["reason"]["code"], "KILL_VENUE", "{v}");
    d.kill_switch("OFF");
    let v = d.submit("m-fill-1");
    assert_eq!(v["status"], "FILLED", "{v}");
    assert!(v["fills"][0]["slippage"]["pips"].is_string(), "{v}");

    let m = d.metrics_until("the rejection, the fill and their latency", |m| {
        m.get("execd_rejections_total{reason=\"KILL_VENUE\"}") == Some(&1.0)
            && m.get("execd_requests_total{status=\"accepted\"}") == Some(&1.0)
            && m.get("execd_slippage_pips_count") == Some(&1.0)
            && m.get("execd_fills_total").is_some_and(|f| *f >= 1.0)
    });
    assert_eq!(get(&m, "execd_requests_total{status=\"rejected\"}"), 1.0);
    assert_eq!(
        get(&m, "execd_rejections_total{reason=\"MODE_GUIDE\"}"),
        0.0
    );
    assert_eq!(get(&m, "execd_slippage_bps_count"), 1.0);
    assert_eq!(
        get(&m, "execd_slippage_bps_bucket{le=\"+Inf\"}"),
        1.0,
        "the fill is in the histogram"
    );
    // Both submits went through the gate; the confirmation of each was timed.
    assert_eq!(
        get(&m, "execd_stage_latency_seconds_count{stage=\"gate\"}"),
        2.0
    );
    assert_eq!(
        get(&m, "execd_stage_latency_seconds_count{stage=\"total\"}"),
        2.0
    );
    assert!(get(&m, "execd_stage_latency_seconds_sum{stage=\"total\"}") > 0.0);
    // The journal is written and the sidecar copies it.
    assert!(get(&m, "execd_journal_last_seq") > 0.0);
    let m = d.metrics_until("the audit log catches up", |m| {
        m.get("execd_audit_lag_records") == Some(&0.0)
            && m.get("execd_audit_last_seq") == m.get("execd_journal_last_seq")
    });
    assert!(get(&m, "execd_audit_last_seq") > 0.0);
    // The control API counts itself, by route template, not by the path asked.
    assert!(
        get(
            &m,
            "execd_http_requests_total{method=\"POST\",route=\"/v1/executions\",status=\"201\"}"
        ) >= 1.0
    );
    assert!(
        get(
            &m,
            "execd_http_requests_total{method=\"GET\",route=\"/metrics\",status=\"401\"}"
        ) >= 2.0
    );
    assert!(
        get(
            &m,
            "execd_http_requests_total{method=\"PUT\",route=\"/v1/kill-switches\",status=\"200\"}"
        ) >= 2.0
    );
    let (code, _) = d.call("GET", "/v1/orders/987654", None);
    assert_eq!(code, 404);
    let m = d.metrics();
    assert_eq!(
        get(
            &m,
            "execd_http_requests_total{method=\"GET\",route=\"/v1/orders/{id}\",status=\"404\"}"
        ),
        1.0
    );
    assert!(!m.keys().any(|k| k.contains("987654")), "{m:#?}");

    // `execd ctl metrics` prints the same text.
    let out = Command::new(env!("CARGO_BIN_EXE_execd"))
        .args(["ctl", "--url", &d.url, "metrics"])
        .env("EXECD_API_TOKEN", TOKEN)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let parsed = parse_exposition(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(
        get(&parsed, "execd_rejections_total{reason=\"KILL_VENUE\"}"),
        1.0
    );

    let (code, lines) = d.sigterm();
    assert_eq!(code, Some(0), "{lines:#?}");
    assert!(lines.iter().all(|l| !l.contains(TOKEN)), "{lines:#?}");
}

/// A webhook receiver on 127.0.0.1: every POST body, answered 204; stops with the test.
struct Hook {
    port: u16,
    bodies: mpsc::Receiver<(String, Value)>,
    stop: Arc<AtomicBool>,
    join: Option<std::thread::JoinHandle<()>>,
}

impl Hook {
    fn start() -> Hook {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        let port = l.local_addr().unwrap().port();
        let (tx, rx) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let join = std::thread::spawn(move || {
            while !flag.load(Ordering::Acquire) {
                let Ok((mut s, _)) = l.accept() else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                s.set_nonblocking(false).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let (head, body) = loop {
                    let n = s.read(&mut chunk).unwrap_or(0);
                    if n == 0 {
                        break (String::new(), String::new());
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_string();
                    if let Some(i) = text.find("\r\n\r\n") {
                        let head = text[..i].to_string();
                        let len: usize = head
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse().unwrap())
                            })
                            .unwrap_or(0);
                        if text.len() >= i + 4 + len {
                            break (head, text[i + 4..i + 4 + len].to_string());
                        }
                    }
                };
                let _ = s.write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
                let v = serde_json::from_str(&body).unwrap_or(Value::Null);
                let request_line = head.lines().next().unwrap_or_default().to_string();
                if tx.send((request_line, v)).is_err() {
                    return;
                }
            }
        });
        Hook {
            port,
            bodies: rx,
            stop,
            join: Some(join),
        }
    }

    /// The next POST for `alert` in `state`, within `secs`.
    fn wait(&self, alert: &str, state: &str, secs: u64) -> (String, Value) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let left = deadline
                .checked_duration_since(Instant::now())
                .unwrap_or_else(|| panic!("no webhook POST for {alert} {state}"));
            let (line, v) = self
                .bodies
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no webhook POST for {alert} {state}"));
            if v["alert"] == alert && v["state"] == state {
                return (line, v);
            }
        }
    }
}

impl Drop for Hook {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(j) = self.join.take() {
            let _ = j.join();
        }
    }
}

fn alert<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["alerts"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["alert"] == name))
        .unwrap_or_else(|| panic!("no {name} in {v}"))
}

#[test]
fn a_run_of_rejections_raises_the_success_rate_alert_which_posts_and_clears() {
    let hook = Hook::start();
    let extra = format!(
        "[alerts]\ninterval_ms = 100\nwindow_s = 2\nmin_requests = 3\nwebhook = \"http://127.0.0.1:{}/hooks/s3cr3t-path\"\nwebhook_timeout_ms = 3000\n",
        hook.port
    );
    let d = Daemon::start(&extra, &[]);
    let (code, _) = common::http_text("GET", &format!("{}/v1/alerts", d.url), None, None);
    assert_eq!(code, 401);
    let (code, v) = d.json("GET", "/v1/alerts", None);
    assert_eq!(code, 200, "{v}");
    let a = alert(&v, "success_rate");
    assert_eq!(
        (a["active"].clone(), a["threshold"].clone()),
        (Value::Bool(false), Value::from("90.00")),
        "{v}"
    );
    assert_eq!(alert(&v, "venue_down")["venue"], "paper", "{v}");

    d.kill_switch("ACTIVE");
    for i in 0..4 {
        let v = d.submit(&format!("a-rej-{i}"));
        assert_eq!(v["status"], "REJECTED", "{v}");
    }
    let (line, raised) = hook.wait("success_rate", "raised", 10);
    assert!(line.starts_with("POST /hooks/s3cr3t-path "), "{line}");
    assert_eq!(raised["value"], "0.00", "{raised}");
    assert_eq!(raised["threshold"], "90.00", "{raised}");
    assert_eq!(raised["active"], true, "{raised}");
    let (_, v) = d.json("GET", "/v1/alerts", None);
    let a = alert(&v, "success_rate");
    assert_eq!(a["active"], true, "{v}");
    let since = a["since"].as_str().unwrap_or_else(|| panic!("{v}"));
    assert!(since.ends_with('Z') && since.contains('T'), "{since}");
    assert_eq!(a["unit"], "percent");
    let m = d.metrics();
    assert_eq!(get(&m, "execd_alert_active{alert=\"success_rate\"}"), 1.0);
    assert_eq!(get(&m, "execd_success_rate"), 0.0);

    let out = Command::new(env!("CARGO_BIN_EXE_execd"))
        .args(["ctl", "--url", &d.url, "alerts"])
        .env("EXECD_API_TOKEN", TOKEN)
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{out:?}");
    assert!(table.starts_with("ALERT"), "{table}");
    let row = table
        .lines()
        .find(|l| l.starts_with("success_rate"))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(
        row.contains("ACTIVE") && row.contains("below 90.00"),
        "{table}"
    );

    // Fills from now on: once the rejections leave the 2 s window, it clears.
    d.kill_switch("OFF");
    let t0 = Instant::now();
    let mut n = 0;
    let cleared = loop {
        let v = d.submit(&format!("a-fill-{n}"));
        assert_eq!(v["status"], "FILLED", "{v}");
        n += 1;
        if let Ok((_, v)) = hook.bodies.recv_timeout(Duration::from_millis(200)) {
            if v["alert"] == "success_rate" && v["state"] == "cleared" {
                break v;
            }
        }
        assert!(t0.elapsed() < Duration::from_secs(15), "never cleared");
    };
    assert_eq!(cleared["active"], false, "{cleared}");
    let (_, v) = d.json("GET", "/v1/alerts", None);
    assert_eq!(alert(&v, "success_rate")["active"], false, "{v}");
    let out = Command::new(env!("CARGO_BIN_EXE_execd"))
        .args(["ctl", "--url", &d.url, "--json", "alerts"])
        .env("EXECD_API_TOKEN", TOKEN)
        .output()
        .unwrap();
    let j: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out:?}"));
    assert_eq!(alert(&j, "success_rate")["active"], false, "{j}");

    let (code, lines) = d.sigterm();
    assert_eq!(code, Some(0), "{lines:#?}");
    let raised = lines
        .iter()
        .filter(|l| l.starts_with("execd: ALERT success_rate"))
        .count();
    let cleared = lines
        .iter()
        .filter(|l| l.starts_with("execd: alert cleared success_rate"))
        .count();
    assert_eq!((raised, cleared), (1, 1), "{lines:#?}");
    assert!(lines.iter().all(|l| !l.contains("s3cr3t")), "{lines:#?}");
}

#[test]
fn a_webhook_that_does_not_answer_is_logged_by_host_and_not_retried() {
    // A port nobody listens on: bind one, then close it.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let extra = format!(
        "[alerts]\ninterval_ms = 100\nwindow_s = 60\nmin_requests = 1\nwebhook = \"http://127.0.0.1:{port}/x/s3cr3t\"\nwebhook_timeout_ms = 500\n"
    );
    let d = Daemon::start(&extra, &[]);
    d.kill_switch("ACTIVE");
    d.submit("w-rej-1");
    let (code, lines) = {
        let mut d = d;
        let line = d.proc.wait_line("alert webhook to", 10);
        assert!(line.is_some(), "{:#?}", d.proc.seen);
        d.sigterm()
    };
    assert_eq!(code, Some(0), "{lines:#?}");
    let failed: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("alert webhook to"))
        .collect();
    assert_eq!(failed.len(), 1, "one transition, one attempt: {lines:#?}");
    assert!(
        failed[0].contains(&format!("127.0.0.1:{port} failed")),
        "{failed:?}"
    );
    assert!(lines.iter().all(|l| !l.contains("s3cr3t")), "{lines:#?}");
}
