//! The HTTP control API and `execd ctl`, end to end: the real `execd run` binary (the
//! built-in paper venue, or a configuration file), real HTTP on a port the kernel picks,
//! every wait bounded, every daemon killed when its test ends however it ends.

mod common;

use common::{LineProc, TempDir};
use serde_json::Value;
use std::process::Command;
use std::time::{Duration, Instant};

const TOKEN_VAR: &str = "EXECD_API_TOKEN";

/// A running `execd run` with its control API.
struct Daemon {
    proc: LineProc,
    url: String,
    _dir: Option<TempDir>,
}

/// The built-in paper configuration, but with no "silent" orders: the paper venue
/// answers 0.1 % of orders only after the 30 s hard timeout (R-OMS-4 practice), which
/// would make a test that waits 5 s for a fill, and a clean stop, a matter of luck.
fn quiet_config(dir: &TempDir) -> std::path::PathBuf {
    let base = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/paper.toml"))
        .unwrap();
    let quiet = base.replacen("silent_per_mille = 1 ", "silent_per_mille = 0 ", 1);
    assert_ne!(quiet, base);
    let p = dir.path().join("quiet.toml");
    std::fs::write(&p, quiet).unwrap();
    p
}

/// Runs to its end within 30 s.
trait Bounded {
    fn output_bounded(&mut self) -> std::process::Output;
}

impl Bounded for Command {
    fn output_bounded(&mut self) -> std::process::Output {
        common::run_cmd_for(self, Duration::from_secs(30))
    }
}

fn execd() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_execd"));
    c.env_remove(TOKEN_VAR).env_remove("EXECD_URL");
    c
}

impl Daemon {
    /// `execd run --listen 127.0.0.1:0` plus `args`, with `env`, on the paper venue
    /// without silent orders.
    fn start(args: &[&str], env: &[(&str, &str)]) -> Daemon {
        let dir = TempDir::new("control-quiet");
        let cfg = quiet_config(&dir);
        let mut c = execd();
        c.args(["run", "--listen", "127.0.0.1:0", "--config"])
            .arg(cfg)
            .args(args);
        let mut d = Daemon::spawn(c, env);
        d._dir = Some(dir);
        d
    }

    /// The same with no configuration: the built-in one.
    fn builtin(env: &[(&str, &str)]) -> Daemon {
        let mut c = execd();
        c.args(["run", "--listen", "127.0.0.1:0"]);
        Daemon::spawn(c, env)
    }

    fn spawn(mut c: Command, env: &[(&str, &str)]) -> Daemon {
        for (k, v) in env {
            c.env(k, v);
        }
        let (proc, url) = LineProc::spawn_api(&mut c);
        Daemon {
            proc,
            url,
            _dir: None,
        }
    }

    /// SIGTERM; the exit code and every line.
    fn sigterm(self) -> (Option<i32>, Vec<String>) {
        self.proc.sigterm(20)
    }

    fn call(&self, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
        http(method, &format!("{}{path}", self.url), body, None)
    }

    fn submit(&self, body: &str) -> (u16, Value) {
        self.call("POST", "/v1/executions", Some(body))
    }
}

/// One HTTP exchange: the status and the JSON body.
fn http(method: &str, url: &str, body: Option<&str>, token: Option<&str>) -> (u16, Value) {
    let (status, text) = common::http_text(method, url, body, token);
    let v = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{url}: not JSON ({e}): {text}"));
    (status, v)
}

fn market(id: &str, qty: &str) -> String {
    format!(
        r#"{{"request_id":"{id}","account":"alpha","venue":"paper","symbol":"BTCUSDT","side":"BUY","quantity":"{qty}","order_type":"MARKET","context":{{"risk_approved":true}}}}"#
    )
}

/// A buy limit 1.9 % under the paper price: inside the price band, resting.
fn resting(id: &str) -> String {
    format!(
        r#"{{"request_id":"{id}","account":"alpha","venue":"paper","symbol":"BTCUSDT","side":"BUY","quantity":"0.01","order_type":"LIMIT","limit_price":"95200.00","context":{{"risk_approved":true}}}}"#
    )
}

/// Polls an order until `want` (bounded).
fn order_reaches(d: &Daemon, id: u64, want: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (code, v) = d.call("GET", &format!("/v1/orders/{id}"), None);
        assert_eq!(code, 200, "{v}");
        if v["status"] == want {
            return v;
        }
        assert!(Instant::now() < deadline, "order {id} never {want}: {v}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn summary(lines: &[String]) -> &str {
    lines
        .iter()
        .find(|l| l.contains("execd: stopped"))
        .map(String::as_str)
        .unwrap_or_else(|| panic!("no summary: {lines:#?}"))
}

#[test]
fn a_submit_fills_the_same_request_twice_is_one_order_and_sigterm_stops_cleanly() {
    let d = Daemon::start(&[], &[]);
    let (code, h) = d.call("GET", "/v1/health", None);
    assert_eq!((code, h["ready"].clone()), (200, Value::Bool(true)), "{h}");
    assert!(h["journal"].is_null(), "no journal: {h}");

    let (code, v) = d.submit(&market("r1", "0.01"));
    assert_eq!(code, 201, "{v}");
    assert_eq!(v["status"], "FILLED", "{v}");
    assert_eq!(v["final"], true);
    assert_eq!(v["request_id"], "r1");
    assert_eq!(v["quantity"], "0.010");
    assert_eq!(v["filled_quantity"], "0.010");
    assert!(
        v["cl_ord_id"].as_str().is_some_and(|c| !c.is_empty()),
        "{v}"
    );
    let fills = v["fills"].as_array().expect("fills");
    assert!(!fills.is_empty(), "{v}");
    let px: f64 = v["average_price"].as_str().unwrap().parse().unwrap();
    assert!((90_000.0..110_000.0).contains(&px), "{v}");
    assert!(v["as_of"].as_str().unwrap().ends_with('Z'));
    let order = v["order_id"].as_u64().expect("an order id");

    // The same request again: the first order, no second one.
    let (code, again) = d.submit(&market("r1", "0.01"));
    assert_eq!(code, 200, "{again}");
    assert_eq!(again["order_id"].as_u64(), Some(order));
    assert_eq!(again["duplicate"], true);
    assert_eq!(again["status"], "FILLED");
    // The same id with another payload: refused, nothing sent.
    let (code, e) = d.submit(&market("r1", "0.02"));
    assert_eq!(code, 409, "{e}");
    assert_eq!(e["code"], "REQUEST_ID_REUSED");
    assert!(e["message"].as_str().unwrap().contains("r1"));

    let (code, x) = d.call("GET", "/v1/executions/r1", None);
    assert_eq!((code, x["order_id"].as_u64()), (200, Some(order)), "{x}");
    assert_eq!(x["status"], "FILLED");
    let (code, o) = d.call("GET", &format!("/v1/orders/{order}"), None);
    assert_eq!(
        (code, o["request_id"].clone()),
        (200, Value::from("r1")),
        "{o}"
    );
    let (code, e) = d.call("GET", "/v1/orders/424242", None);
    assert_eq!(
        (code, e["code"].clone()),
        (404, Value::from("UNKNOWN_ORDER")),
        "{e}"
    );
    let (code, e) = d.call("GET", "/v1/executions/nope", None);
    assert_eq!(
        (code, e["code"].clone()),
        (404, Value::from("UNKNOWN_ORDER")),
        "{e}"
    );
    let (code, e) = d.call("GET", "/v1/orders/abc", None);
    assert_eq!(
        (code, e["code"].clone()),
        (400, Value::from("INVALID_FIELD")),
        "{e}"
    );

    let (code, lines) = d.sigterm();
    assert_eq!(code, Some(0), "{lines:#?}");
    let s = summary(&lines);
    // Two submits reached the core (the second one a duplicate), one order was made.
    assert!(
        s.contains("stopped cleanly: 2 submitted, 1 accepted, 0 rejected"),
        "{s}"
    );
    assert!(
        lines.iter().any(|l| l.contains("control API: ")
            && l.contains("1 repeated request ids answered with the first order, 1 refused for a different payload")),
        "{lines:#?}"
    );
}

#[test]
fn malformed_bodies_are_refused_naming_the_field_and_never_reach_the_core() {
    let d = Daemon::builtin(&[]);
    let (code, e) = d.submit(r#"{"request_id": "r1", "account""#);
    assert_eq!(
        (code, e["code"].clone()),
        (400, Value::from("MALFORMED_JSON")),
        "{e}"
    );
    let wrong_type = market("r1", "0.01").replace(r#""0.01""#, "0.01");
    let (code, e) = d.submit(&wrong_type);
    assert_eq!(
        (code, e["code"].clone()),
        (400, Value::from("INVALID_FIELD")),
        "{e}"
    );
    assert!(
        e["message"].as_str().unwrap().starts_with("quantity: "),
        "{e}"
    );
    let unknown = market("r1", "0.01").replace(r#""side""#, r#""colour":"red","side""#);
    let (code, e) = d.submit(&unknown);
    assert_eq!(
        (code, e["code"].clone()),
        (400, Value::from("UNKNOWN_FIELD")),
        "{e}"
    );
    assert!(e["message"].as_str().unwrap().contains("colour"), "{e}");
    let missing = market("r1", "0.01").replace(r#""account":"alpha","#, "");
    let (code, e) = d.submit(&missing);
    assert_eq!(
        (code, e["code"].clone()),
        (400, Value::from("MISSING_FIELD")),
        "{e}"
    );
    assert!(e["message"].as_str().unwrap().contains("account"), "{e}");
    let nested =
        market("r1", "0.01").replace(r#""risk_approved":true"#, r#""risk_approved":"yes""#);
    let (code, e) = d.submit(&nested);
    assert_eq!(code, 400, "{e}");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .starts_with("context.risk_approved: "),
        "{e}"
    );
    let bad_side = market("r1", "0.01").replace("BUY", "UP");
    let (code, e) = d.submit(&bad_side);
    assert_eq!(code, 400, "{e}");
    assert!(e["message"].as_str().unwrap().starts_with("side: "), "{e}");
    let big = format!("{}{}", " ".repeat(70 * 1024), market("r1", "0.01"));
    let (code, e) = d.submit(&big);
    assert_eq!(
        (code, e["code"].clone()),
        (413, Value::from("BODY_TOO_LARGE")),
        "{e}"
    );
    let (code, e) = d.call("POST", "/v1/executions?wait=1", Some(&market("r1", "0.01")));
    assert_eq!(
        (code, e["code"].clone()),
        (400, Value::from("UNKNOWN_PARAMETER")),
        "{e}"
    );
    let (code, e) = d.call("PUT", "/v1/kill-switches", Some(r#"{"state":"MAYBE"}"#));
    assert_eq!(code, 400, "{e}");
    assert!(e["message"].as_str().unwrap().starts_with("state: "), "{e}");
    let (code, e) = d.call("GET", "/v1/nowhere", None);
    assert_eq!(
        (code, e["code"].clone()),
        (404, Value::from("NO_SUCH_ROUTE")),
        "{e}"
    );
    let (code, e) = d.call("DELETE", "/v1/executions", None);
    assert_eq!(
        (code, e["code"].clone()),
        (405, Value::from("METHOD_NOT_ALLOWED")),
        "{e}"
    );
    let (code, e) = d.call("POST", "/v1/orders/1/cancel", Some(r#"{"why":"x"}"#));
    assert_eq!(
        (code, e["code"].clone()),
        (400, Value::from("UNKNOWN_FIELD")),
        "{e}"
    );

    let (code, lines) = d.sigterm();
    assert_eq!(code, Some(0), "{lines:#?}");
    assert!(
        summary(&lines).contains("stopped cleanly: 0 submitted"),
        "{lines:#?}"
    );
}

#[test]
fn with_a_token_every_route_but_health_needs_it_and_it_is_never_shown() {
    let secret = "tok-5f3a9c1e7d";
    let d = Daemon::builtin(&[(TOKEN_VAR, secret)]);
    let url = |p: &str| format!("{}{p}", d.url);
    let halt = r#"{"account":"alpha","halted":false}"#;
    let (code, e) = http("PUT", &url("/v1/halt"), Some(halt), None);
    assert_eq!(
        (code, e["code"].clone()),
        (401, Value::from("UNAUTHORIZED")),
        "{e}"
    );
    let (code, e) = http("PUT", &url("/v1/halt"), Some(halt), Some("tok-5f3a9c1e7"));
    assert_eq!(code, 401, "{e}");
    let (code, e) = http("GET", &url("/v1/orders/1"), None, Some("nope"));
    assert_eq!(code, 401, "{e}");
    // A refused token is refused before the body is even read.
    let (code, _) = http("POST", &url("/v1/executions"), Some("{"), None);
    assert_eq!(code, 401);
    // Every route but health, the journal's readers and the live changes included.
    for (method, path) in [
        ("GET", "/v1/orders"),
        ("GET", "/v1/positions"),
        ("GET", "/v1/venues"),
        ("GET", "/v1/kill-switches"),
        ("GET", "/v1/mode"),
        ("GET", "/v1/limits"),
        ("PUT", "/v1/limits"),
        ("GET", "/v1/audit"),
        ("GET", "/v1/events"),
        ("GET", "/v1/executions/x"),
        ("POST", "/v1/orders/1/cancel"),
        ("POST", "/v1/cancel-all"),
        ("POST", "/v1/emergency-stop"),
    ] {
        let (code, e) = http(method, &url(path), (method != "GET").then_some("{}"), None);
        assert_eq!(
            (code, e["code"].as_str()),
            (401, Some("UNAUTHORIZED")),
            "{method} {path}"
        );
    }
    let (code, v) = http("PUT", &url("/v1/halt"), Some(halt), Some(secret));
    assert_eq!(
        (code, v["halted"].clone()),
        (200, Value::Bool(false)),
        "{v}"
    );
    let lower = format!("bearer {secret}");
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(20))
        .build();
    let r = agent
        .put(&url("/v1/halt"))
        .set("Authorization", &lower)
        .send_string(halt)
        .expect("the scheme is case-insensitive");
    assert_eq!(r.status(), 200);
    let (code, v) = http("GET", &url("/v1/health"), None, None);
    assert_eq!((code, v["status"].clone()), (200, Value::from("ok")), "{v}");
    assert!(!v.to_string().contains(secret));

    let (code, lines) = d.sigterm();
    assert_eq!(code, Some(0), "{lines:#?}");
    assert!(
        lines.iter().any(|l| l.contains("bearer token")),
        "{lines:#?}"
    );
    assert!(lines.iter().all(|l| !l.contains(secret)), "{lines:#?}");
}

#[test]
fn beyond_loopback_without_a_token_execd_refuses_to_start() {
    let out = execd()
        .args(["run", "--listen", "0.0.0.0:0"])
        .output_bounded();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("0.0.0.0:0") && err.contains(TOKEN_VAR),
        "{err}"
    );
    let out = execd()
        .args(["run", "--listen", "nowhere"])
        .output_bounded();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--listen"), "{err}");
    // An empty token would let in whoever sends an empty one.
    let out = execd()
        .args(["run", "--listen", "127.0.0.1:0"])
        .env(TOKEN_VAR, "")
        .output_bounded();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains(TOKEN_VAR) && err.contains("empty"), "{err}");
    // With a token it serves there.
    let mut c = execd();
    c.args(["run", "--listen", "0.0.0.0:0"]);
    let d = Daemon::spawn(c, &[(TOKEN_VAR, "t0ken")]);
    assert!(d.url.starts_with("http://0.0.0.0:"), "{}", d.url);
    let (code, _) = d.sigterm();
    assert_eq!(code, Some(0));
}

#[test]
fn a_kill_switch_rejects_with_its_code_until_it_is_off() {
    let d = Daemon::start(&[], &[]);
    let (code, v) = d.call(
        "PUT",
        "/v1/kill-switches",
        Some(r#"{"scope":{"venue":"paper"},"state":"ACTIVE","reason":"venue drill"}"#),
    );
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["state"], "ACTIVE");
    assert_eq!(v["scope"]["venue"], "paper");
    let (code, v) = d.submit(&market("k1", "0.01"));
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["status"], "REJECTED", "{v}");
    assert_eq!(v["reason"]["code"], "KILL_VENUE", "{v}");
    assert!(v["reason"]["message"]
        .as_str()
        .unwrap()
        .contains("kill switch"));
    let (code, v) = d.call(
        "PUT",
        "/v1/kill-switches",
        Some(r#"{"scope":{"venue":"paper"},"state":"OFF"}"#),
    );
    assert_eq!((code, v["state"].clone()), (200, Value::from("OFF")), "{v}");
    let (code, v) = d.submit(&market("k2", "0.01"));
    assert_eq!(
        (code, v["status"].clone()),
        (201, Value::from("FILLED")),
        "{v}"
    );
    assert!(v.get("kill_switch_warning").is_none(), "{v}");
    // WARNING: the order goes, flagged.
    let (code, v) = d.call(
        "PUT",
        "/v1/kill-switches",
        Some(r#"{"scope":{"account":"alpha"},"state":"WARNING"}"#),
    );
    assert_eq!(
        (code, v["state"].clone()),
        (200, Value::from("WARNING")),
        "{v}"
    );
    let (code, v) = d.submit(&market("k3", "0.01"));
    assert_eq!(
        (code, v["status"].clone()),
        (201, Value::from("FILLED")),
        "{v}"
    );
    assert_eq!(v["kill_switch_warning"], true, "{v}");
    // An unknown venue is refused with the core's code.
    let (code, e) = d.call(
        "PUT",
        "/v1/kill-switches",
        Some(r#"{"scope":{"venue":"moon"},"state":"ACTIVE"}"#),
    );
    assert_eq!(
        (code, e["code"].clone()),
        (422, Value::from("UNKNOWN_VENUE")),
        "{e}"
    );
    let (code, lines) = d.sigterm();
    assert_eq!(code, Some(0), "{lines:#?}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("kill switch") && l.contains("venue drill")),
        "{lines:#?}"
    );
}

#[test]
fn cancel_and_emergency_stop_cancel_resting_limits() {
    let d = Daemon::start(&[], &[]);
    let (code, v) = d.call("POST", "/v1/executions?wait_ms=200", Some(&resting("l1")));
    assert_eq!(code, 202, "{v}");
    assert_eq!(v["status"], "NEW", "{v}");
    assert_eq!(v["final"], false);
    let first = v["order_id"].as_u64().unwrap();
    let (code, v) = d.call("POST", &format!("/v1/orders/{first}/cancel"), None);
    assert_eq!(
        (code, v["status"].clone()),
        (200, Value::from("CANCELED")),
        "{v}"
    );
    let (code, e) = d.call("POST", &format!("/v1/orders/{first}/cancel"), None);
    assert_eq!(
        (code, e["code"].clone()),
        (409, Value::from("ORDER_NOT_WORKING")),
        "{e}"
    );

    let (code, v) = d.call("POST", "/v1/executions?wait_ms=200", Some(&resting("l2")));
    assert_eq!(
        (code, v["status"].clone()),
        (202, Value::from("NEW")),
        "{v}"
    );
    let second = v["order_id"].as_u64().unwrap();
    let (code, v) = d.call("POST", "/v1/emergency-stop", Some(r#"{"reason":"drill"}"#));
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["state"], "ACTIVE");
    assert_eq!(v["scope"]["global"], true);
    assert_eq!(v["cancels_sent"], 1, "{v}");
    assert_eq!(v["orders"][0].as_u64(), Some(second), "{v}");
    order_reaches(&d, second, "CANCELED");
    let (code, v) = d.submit(&market("after", "0.01"));
    assert_eq!(
        (code, v["reason"]["code"].clone()),
        (200, Value::from("KILL_GLOBAL")),
        "{v}"
    );
    let (code, lines) = d.sigterm();
    assert_eq!(code, Some(0), "{lines:#?}");
    assert!(
        summary(&lines).contains("0 orders still working"),
        "{lines:#?}"
    );
}

#[test]
fn guide_mode_advises_and_sends_nothing() {
    let d = Daemon::start(&[], &[]);
    let (code, v) = d.call(
        "PUT",
        "/v1/mode",
        Some(r#"{"account":"alpha","mode":"GUIDE"}"#),
    );
    assert_eq!(
        (code, v["mode"].clone()),
        (200, Value::from("GUIDE")),
        "{v}"
    );
    let (code, v) = d.submit(&market("g1", "0.01"));
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["status"], "REJECTED");
    assert_eq!(v["reason"]["code"], "MODE_GUIDE", "{v}");
    assert_eq!(v["fills"].as_array().map(Vec::len), Some(0));
    let (code, v) = d.call(
        "PUT",
        "/v1/mode",
        Some(r#"{"account":"alpha","mode":"AUTONOMOUS"}"#),
    );
    assert_eq!(code, 200, "{v}");
    let (code, v) = d.submit(&market("g2", "0.01"));
    assert_eq!(
        (code, v["status"].clone()),
        (201, Value::from("FILLED")),
        "{v}"
    );
    let (code, e) = d.call(
        "PUT",
        "/v1/mode",
        Some(r#"{"account":"ghost","mode":"GUIDE"}"#),
    );
    assert_eq!(
        (code, e["code"].clone()),
        (422, Value::from("UNKNOWN_ACCOUNT")),
        "{e}"
    );
    let (code, v) = d.call(
        "PUT",
        "/v1/halt",
        Some(r#"{"account":"alpha","halted":true}"#),
    );
    assert_eq!((code, v["halted"].clone()), (200, Value::Bool(true)), "{v}");
    let (code, v) = d.submit(&market("h1", "0.01"));
    assert_eq!(
        (code, v["reason"]["code"].clone()),
        (200, Value::from("TRADING_HALTED")),
        "{v}"
    );
    let (code, lines) = d.sigterm();
    assert_eq!(code, Some(0), "{lines:#?}");
    // GUIDE and the halt refused, nothing else was sent.
    assert!(
        summary(&lines).contains("3 submitted, 1 accepted, 2 rejected"),
        "{lines:#?}"
    );
}

#[test]
fn the_api_follows_the_configuration_file() {
    let dir = TempDir::new("control-cfg");
    let base = std::fs::read_to_string(quiet_config(&dir)).unwrap();
    let with = |listen: &str, enabled: bool| {
        let text = base
            .replace(
                r#"listen = "127.0.0.1:8080""#,
                &format!(r#"listen = "{listen}""#),
            )
            .replace("enabled = true", &format!("enabled = {enabled}"));
        assert_ne!(text, base);
        let p = dir.path().join(format!(
            "{}-{enabled}.toml",
            listen.replace([':', '.'], "_")
        ));
        std::fs::write(&p, text).unwrap();
        p
    };
    // [api] listen from the file.
    let cfg = with("127.0.0.1:0", true);
    let mut c = execd();
    c.args(["run", "--config", cfg.to_str().unwrap()]);
    let d = Daemon::spawn(c, &[]);
    let eth = r#"{"request_id":"e1","account":"beta","venue":"paper","symbol":"ETHUSDT","side":"SELL","quantity":"0.50","order_type":"MARKET","context":{"risk_approved":true}}"#;
    let (code, v) = d.submit(eth);
    assert_eq!(
        (code, v["status"].clone()),
        (201, Value::from("FILLED")),
        "{v}"
    );
    assert_eq!(v["symbol"], "ETHUSDT");
    assert_eq!(v["filled_quantity"], "0.50");
    assert_eq!(d.sigterm().0, Some(0));
    // [api] enabled = false: no API.
    let cfg = with("127.0.0.1:0", false);
    let mut c = execd();
    c.args(["run", "--config", cfg.to_str().unwrap()]);
    let mut p = LineProc::spawn(&mut c);
    assert!(p.wait_line("running (", 30).is_some(), "{:#?}", p.seen);
    assert!(
        p.seen.iter().all(|l| !l.contains("control API on")),
        "{:#?}",
        p.seen
    );
    drop(p);
    let out = execd()
        .args(["check-config", cfg.to_str().unwrap()])
        .output_bounded();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("control API off"), "{said}");
    // Beyond loopback from the file without a token: refused, by check-config too.
    let cfg = with("0.0.0.0:0", true);
    let out = execd()
        .args(["check-config", cfg.to_str().unwrap()])
        .output_bounded();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("api.listen") && err.contains(TOKEN_VAR),
        "{err}"
    );
    let out = execd()
        .args(["run", "--config", cfg.to_str().unwrap()])
        .output_bounded();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains(TOKEN_VAR), "{err}");
    // A listen that is not an address: check-config names the key.
    let cfg = with("port eighty", true);
    let out = execd()
        .args(["check-config", cfg.to_str().unwrap()])
        .output_bounded();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("api.listen"), "{err}");
}

/// `execd ctl …` against `url`: exit code, stdout, stderr.
fn ctl(url: &str, args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let mut c = execd();
    c.arg("ctl").args(["--url", url]).args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    let out = common::run_cmd_for(&mut c, Duration::from_secs(30));
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn field(out: &str, key: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}: ")))
        .unwrap_or_else(|| panic!("no {key} in {out}"))
        .to_string()
}

#[test]
fn execd_ctl_submits_cancels_kills_and_says_so_with_its_exit_code() {
    let token = "ctl-t0ken";
    let d = Daemon::start(&[], &[(TOKEN_VAR, token)]);
    let env = [(TOKEN_VAR, token)];
    let u = d.url.as_str();
    let buy = [
        "submit",
        "--account",
        "alpha",
        "--venue",
        "paper",
        "--symbol",
        "BTCUSDT",
        "--side",
        "BUY",
        "--quantity",
        "0.01",
    ];
    let (code, out, err) = ctl(u, &buy, &env);
    assert_eq!(code, Some(0), "{out}{err}");
    assert_eq!(field(&out, "status"), "FILLED", "{out}");
    assert_eq!(field(&out, "filled_quantity"), "0.010", "{out}");
    assert!(out.contains("  fill "), "{out}");

    let mut limit = buy.to_vec();
    limit.extend([
        "--type",
        "LIMIT",
        "--limit-price",
        "95200.00",
        "--wait-ms",
        "200",
        "--request-id",
        "lim1",
    ]);
    let (code, out, err) = ctl(u, &limit, &env);
    assert_eq!(code, Some(0), "{out}{err}");
    assert_eq!(field(&out, "status"), "NEW", "{out}");
    let id = field(&out, "order_id");
    let (code, out, err) = ctl(u, &["--json", "execution", "lim1"], &env);
    assert_eq!(code, Some(0), "{out}{err}");
    let v: Value = serde_json::from_str(out.trim()).expect("--json prints the JSON");
    assert_eq!(v["order_id"].to_string(), id);
    let (code, out, err) = ctl(u, &["cancel", &id], &env);
    assert_eq!(code, Some(0), "{out}{err}");
    assert_eq!(field(&out, "status"), "CANCELED", "{out}");
    let (code, out, err) = ctl(u, &["cancel", &id], &env);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(err.contains("ORDER_NOT_WORKING"), "{err}");

    let (code, out, err) = ctl(
        u,
        &[
            "kill",
            "--scope",
            "symbol:BTCUSDT",
            "--state",
            "ACTIVE",
            "--reason",
            "ctl drill",
        ],
        &env,
    );
    assert_eq!(code, Some(0), "{out}{err}");
    assert_eq!(field(&out, "state"), "ACTIVE", "{out}");
    let (code, out, err) = ctl(u, &buy, &env);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(err.contains("KILL_SYMBOL"), "{err}");
    assert_eq!(field(&out, "status"), "REJECTED", "{out}");
    let (code, out, err) = ctl(
        u,
        &["kill", "--scope", "symbol:BTCUSDT", "--state", "off"],
        &env,
    );
    assert_eq!(
        (code, field(&out, "state")),
        (Some(0), "OFF".into()),
        "{out}{err}"
    );

    let (code, out, err) = ctl(u, &["--json", "health"], &[]);
    assert_eq!(code, Some(0), "{out}{err}");
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["status"], "ok");
    // Refusals: exit 1 with the code; no token is a refusal too.
    let (code, _, err) = ctl(u, &["order", "999999"], &env);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("UNKNOWN_ORDER"), "{err}");
    let (code, _, err) = ctl(u, &["mode", "alpha", "GUIDE"], &[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("UNAUTHORIZED") && !err.contains(token),
        "{err}"
    );
    // Usage and connection errors: exit 2, naming the URL.
    let (code, _, err) = ctl(
        u,
        &["kill", "--scope", "planet:earth", "--state", "OFF"],
        &env,
    );
    assert_eq!(code, Some(2), "{err}");
    let (code, _, err) = ctl("http://127.0.0.1:1", &["health"], &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("http://127.0.0.1:1"), "{err}");

    let (code, lines) = d.sigterm();
    assert_eq!(code, Some(0), "{lines:#?}");
    assert!(
        summary(&lines).contains("3 submitted, 2 accepted, 1 rejected"),
        "{lines:#?}"
    );
}

#[test]
fn sigterm_answers_what_is_in_flight_then_stops() {
    let d = Daemon::start(&[], &[]);
    let url = format!("{}/v1/executions?wait_ms=20000", d.url);
    // A resting limit waits for an outcome that will not come before the signal.
    let waiting = std::thread::spawn(move || http("POST", &url, Some(&resting("w1")), None));
    std::thread::sleep(Duration::from_millis(500));
    let t0 = Instant::now();
    let (code, lines) = d.sigterm();
    let (status, v) = waiting.join().expect("the request was answered");
    assert_eq!(status, 202, "{v}");
    assert_eq!(v["status"], "NEW", "{v}");
    assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
    assert_eq!(code, Some(0), "{lines:#?}");
    let stop = lines
        .iter()
        .position(|l| l.contains("stopping: the control API"))
        .expect("the control API stops");
    let core = lines
        .iter()
        .position(|l| l.contains("stopping: draining rings"))
        .expect("the core stops");
    assert!(
        stop < core,
        "the control API stops before the core: {lines:#?}"
    );
    assert!(
        summary(&lines).contains("1 submitted, 1 accepted"),
        "{lines:#?}"
    );
}

#[test]
fn after_a_restart_on_the_journal_a_request_id_still_makes_one_order() {
    let dir = TempDir::new("control-journal");
    let journal = dir.path().join("j");
    let j = journal.to_str().unwrap();
    let d = Daemon::start(&["--journal", j], &[]);
    let (code, v) = d.submit(&market("once", "0.01"));
    assert_eq!(
        (code, v["status"].clone()),
        (201, Value::from("FILLED")),
        "{v}"
    );
    let order = v["order_id"].as_u64().unwrap();
    // Reads are not journaled: the restart and execd-replay below see none of them.
    for path in [
        "/v1/orders",
        "/v1/positions",
        "/v1/kill-switches",
        "/v1/mode",
        "/v1/venues",
    ] {
        let (code, v) = d.call("GET", path, None);
        assert_eq!(code, 200, "{path}: {v}");
    }
    let (code, lines) = d.sigterm();
    assert_eq!(code, Some(0), "{lines:#?}");

    // The control API is producer 2 in every run: its journaled commands replay.
    let d = Daemon::start(&["--journal", j], &[]);
    assert!(
        d.proc.seen.iter().any(|l| l.contains("commands replayed")),
        "{:#?}",
        d.proc.seen
    );
    let (code, v) = d.submit(&market("once", "0.01"));
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["duplicate"], true, "{v}");
    assert_eq!(v["order_id"].as_u64(), Some(order), "{v}");
    assert_eq!(v["status"], "FILLED");
    assert_eq!(v["filled_quantity"], "0.010", "{v}");
    // The link has no view of it after the restart: the core names its instrument.
    let (code, v) = d.call("GET", "/v1/executions/once", None);
    assert_eq!((code, v["order_id"].as_u64()), (200, Some(order)), "{v}");
    assert_eq!(v["filled_quantity"], "0.010", "{v}");
    assert_eq!(v["symbol"], "BTCUSDT", "{v}");
    let (code, v) = d.submit(&market("twice", "0.01"));
    assert_eq!(
        (code, v["status"].clone()),
        (201, Value::from("FILLED")),
        "{v}"
    );
    assert!(v["order_id"].as_u64().unwrap() > order, "{v}");
    // After the restart the core lists both, the first from the replayed journal.
    let (code, v) = d.call("GET", "/v1/orders?status=FILLED", None);
    assert_eq!(code, 200, "{v}");
    let ids: Vec<&str> = v["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["request_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["once", "twice"], "{v}");
    let (_, v) = d.call("GET", "/v1/positions", None);
    assert_eq!(v["positions"][0]["net_quantity"], "0.020", "{v}");
    let (code, lines) = d.sigterm();
    assert_eq!(code, Some(0), "{lines:#?}");
    let verify = common::run_cmd_for(
        Command::new(env!("CARGO_BIN_EXE_execd-replay")).args(["verify", j]),
        Duration::from_secs(60),
    );
    assert!(
        verify.status.success(),
        "{}{}",
        common::text(&verify.stdout),
        common::text(&verify.stderr)
    );
}

#[test]
fn replace_moves_a_resting_limit_and_protection_moves_the_stop_loss() {
    let d = Daemon::start(&[], &[]);
    let (code, v) = d.call("POST", "/v1/executions?wait_ms=200", Some(&resting("r1")));
    assert_eq!(
        (code, v["status"].clone()),
        (202, Value::from("NEW")),
        "{v}"
    );
    let id = v["order_id"].as_u64().unwrap();
    let (code, v) = d.call(
        "POST",
        &format!("/v1/orders/{id}/replace"),
        Some(r#"{"quantity":"0.02","limit_price":"95300.00"}"#),
    );
    assert_eq!(
        (code, v["status"].clone()),
        (200, Value::from("REPLACED")),
        "{v}"
    );
    assert_eq!(v["quantity"], "0.020", "{v}");
    let (code, e) = d.call(
        "POST",
        &format!("/v1/orders/{id}/replace"),
        Some(r#"{"limit_price":"95300.005"}"#),
    );
    assert_eq!(
        (code, e["code"].clone()),
        (422, Value::from("PRICE_OFF_TICK")),
        "{e}"
    );

    // Offsets from the fill price: legs placed, then the stop-loss moved.
    let body = market("p1", "0.01").replace(
        r#""context""#,
        r#""stop_loss_offset":"-0.02","take_profit_offset":"0.03","context""#,
    );
    let (code, v) = d.submit(&body);
    assert_eq!(
        (code, v["status"].clone()),
        (201, Value::from("FILLED")),
        "{v}"
    );
    let parent = v["order_id"].as_u64().unwrap();
    let avg: f64 = v["average_price"].as_str().unwrap().parse().unwrap();
    let sl: f64 = v["stop_loss"]["price"]
        .as_str()
        .expect("a stop-loss")
        .parse()
        .unwrap();
    let tp: f64 = v["take_profit"]["price"]
        .as_str()
        .expect("a take-profit")
        .parse()
        .unwrap();
    assert!(
        (sl - avg * 0.98).abs() < 0.02 && (tp - avg * 1.03).abs() < 0.02,
        "{v}"
    );
    let leg = v["stop_loss"]["order_id"].as_u64().unwrap();
    let (code, v) = d.call(
        "PUT",
        &format!("/v1/orders/{parent}/protection"),
        Some(r#"{"stop_loss":"90000.00"}"#),
    );
    assert_eq!(code, 202, "{v}");
    // The answer lists the order updates seen while the command was carried out: the
    // stop-loss leg being replaced, and possibly the take-profit leg's own acknowledgement
    // arriving at the same moment (its place in the list is a race).
    let legs = v["legs"].as_array().expect("legs");
    assert!(
        legs.iter()
            .any(|l| l["order_id"].as_u64() == Some(leg) && l["status"] == "PENDING_REPLACE"),
        "{v}"
    );
    let leg_now = order_reaches(&d, leg, "REPLACED");
    assert_eq!(
        leg_now["parent_order_id"].as_u64(),
        Some(parent),
        "{leg_now}"
    );
    // Protection of an order that has none working: refused.
    let (code, e) = d.call(
        "PUT",
        &format!("/v1/orders/{id}/protection"),
        Some(r#"{"take_profit":"99000.00"}"#),
    );
    assert_eq!(
        (code, e["code"].clone()),
        (409, Value::from("ORDER_NOT_WORKING")),
        "{e}"
    );
    let (code, v) = d.call(
        "POST",
        "/v1/cancel-all",
        Some(r#"{"scope":{"symbol":"BTCUSDT"}}"#),
    );
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["cancels_sent"], 3, "the limit and both legs: {v}");
    assert_eq!(d.sigterm().0, Some(0));
}

#[test]
fn concurrent_requests_each_get_their_own_answer() {
    let d = Daemon::start(&[], &[]);
    let url = d.url.clone();
    let workers: Vec<_> = (0..8)
        .map(|w| {
            let url = url.clone();
            std::thread::spawn(move || {
                let mut got = Vec::new();
                for i in 0..10 {
                    let id = format!("c{w}-{i}");
                    let (code, v) = http(
                        "POST",
                        &format!("{url}/v1/executions"),
                        Some(&market(&id, "0.01")),
                        None,
                    );
                    assert_eq!(
                        (code, v["status"].clone()),
                        (201, Value::from("FILLED")),
                        "{v}"
                    );
                    assert_eq!(v["request_id"], id.as_str(), "{v}");
                    let order = v["order_id"].as_u64().unwrap();
                    // Read back by request id while others trade.
                    let (code, x) = http("GET", &format!("{url}/v1/executions/{id}"), None, None);
                    assert_eq!((code, x["order_id"].as_u64()), (200, Some(order)), "{x}");
                    got.push(order);
                }
                got
            })
        })
        .collect();
    let mut orders: Vec<u64> = workers
        .into_iter()
        .flat_map(|w| w.join().expect("a worker"))
        .collect();
    orders.sort_unstable();
    orders.dedup();
    assert_eq!(orders.len(), 80, "one order per request: {orders:?}");
    let (code, lines) = d.sigterm();
    assert_eq!(code, Some(0), "{lines:#?}");
    assert!(
        summary(&lines).contains("80 submitted, 80 accepted, 0 rejected"),
        "{lines:#?}"
    );
}

/// A decimal string as a mantissa at `scale` (exact for what the API prints).
fn mant(s: &str, scale: u32) -> i128 {
    let neg = s.starts_with('-');
    let s = s.trim_start_matches('-');
    let (i, f) = s.split_once('.').unwrap_or((s, ""));
    assert!(
        f.len() as u32 <= scale,
        "{s} has more than {scale} decimals"
    );
    let m = format!("{i}{f:0<width$}", width = scale as usize)
        .parse::<i128>()
        .unwrap();
    if neg {
        -m
    } else {
        m
    }
}

/// Every order of `GET /v1/orders?{q}` by request id, following the cursors; the pages'
/// sizes too.
fn list_all(d: &Daemon, q: &str) -> (Vec<String>, Vec<usize>) {
    let mut ids = Vec::new();
    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/orders?{q}&cursor={c}"),
            None => format!("/v1/orders?{q}"),
        };
        let (code, v) = d.call("GET", &path, None);
        assert_eq!(code, 200, "{path}: {v}");
        let list = v["orders"].as_array().expect("orders");
        pages.push(list.len());
        let mut last = 0;
        for o in list {
            let id = o["order_id"].as_u64().unwrap();
            assert!(id > last, "not by order id ascending: {v}");
            last = id;
            ids.push(o["request_id"].as_str().unwrap().to_string());
        }
        match v["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => {
                assert!(v["next_cursor"].is_null(), "{v}");
                break;
            }
        }
        assert!(pages.len() < 100, "cursors never end: {pages:?}");
    }
    (ids, pages)
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn strings(a: &[&str]) -> Vec<String> {
    sorted(a.iter().map(|s| s.to_string()).collect())
}

#[test]
fn reads_list_orders_by_filter_and_page_and_positions_match_the_fills() {
    let d = Daemon::start(&[], &[]);
    // Three filled BTC buys for alpha: the fills, for the position.
    let (mut qty, mut notional, mut fees) = (0i128, 0i128, 0f64);
    for id in ["m1", "m2", "m3"] {
        let (code, v) = d.submit(&market(id, "0.01"));
        assert_eq!((code, v["status"].as_str()), (201, Some("FILLED")), "{v}");
        let fills = v["fills"].as_array().unwrap();
        assert!(!fills.is_empty(), "{v}");
        for f in fills {
            let q = mant(f["quantity"].as_str().unwrap(), 3);
            qty += q;
            notional += q * mant(f["price"].as_str().unwrap(), 2);
            fees += f["fee"].as_str().unwrap().parse::<f64>().unwrap();
        }
    }
    let eth = r#"{"request_id":"e1","account":"beta","venue":"paper","symbol":"ETHUSDT","side":"SELL","quantity":"0.5","order_type":"MARKET","context":{"risk_approved":true}}"#;
    let (code, v) = d.submit(eth);
    assert_eq!((code, v["status"].as_str()), (201, Some("FILLED")), "{v}");
    let eth_avg = v["average_price"].as_str().unwrap().to_string();
    let (code, v) = d.call("POST", "/v1/executions?wait_ms=200", Some(&resting("r1")));
    assert_eq!((code, v["status"].as_str()), (202, Some("NEW")), "{v}");
    let r1 = v["order_id"].as_u64().unwrap();
    let (code, v) = d.call("POST", "/v1/executions?wait_ms=200", Some(&resting("r2")));
    assert_eq!(code, 202, "{v}");
    let r2 = v["order_id"].as_u64().unwrap();
    let (code, v) = d.call("POST", &format!("/v1/orders/{r2}/cancel"), None);
    assert_eq!((code, v["status"].as_str()), (200, Some("CANCELED")), "{v}");
    let refused =
        market("x1", "0.01").replace(r#""risk_approved":true"#, r#""risk_approved":false"#);
    let (_, v) = d.submit(&refused);
    assert_eq!(v["status"], "REJECTED", "{v}");

    let all = strings(&["m1", "m2", "m3", "e1", "r1", "r2", "x1"]);
    let (ids, pages) = list_all(&d, "");
    assert_eq!(sorted(ids), all);
    assert_eq!(pages, vec![7]);
    // Each filter.
    for (q, want) in [
        ("status=open", vec!["r1"]),
        ("status=FILLED", vec!["m1", "m2", "m3", "e1"]),
        ("status=CANCELED,REJECTED", vec!["r2", "x1"]),
        ("status=NEW&status=canceled", vec!["r1", "r2"]),
        ("account=beta", vec!["e1"]),
        ("symbol=ETHUSDT", vec!["e1"]),
        ("symbol=BTCUSDT&status=FILLED", vec!["m1", "m2", "m3"]),
        (
            "venue=paper&account=alpha",
            vec!["m1", "m2", "m3", "r1", "r2", "x1"],
        ),
        ("account=advisor", vec![]),
    ] {
        let (ids, _) = list_all(&d, q);
        assert_eq!(sorted(ids), strings(&want), "{q}");
    }
    // Pages of 2 and of 1: every order exactly once, across the cursors.
    for (limit, n) in [(2, 4), (1, 7)] {
        let (ids, pages) = list_all(&d, &format!("limit={limit}"));
        assert_eq!(ids.len(), 7, "{ids:?}");
        assert_eq!(sorted(ids), all);
        assert!(
            pages.len() >= n && pages.iter().all(|&p| p <= limit),
            "{pages:?}"
        );
    }
    let (ids, pages) = list_all(&d, "limit=2&account=alpha&status=FILLED,CANCELED");
    assert_eq!(sorted(ids), strings(&["m1", "m2", "m3", "r2"]));
    assert!(pages.len() >= 2, "{pages:?}");

    // What an item says.
    let (_, v) = d.call("GET", "/v1/orders?status=open", None);
    let o = &v["orders"][0];
    assert_eq!(o["order_id"].as_u64(), Some(r1), "{v}");
    for (k, want) in [
        ("request_id", "r1"),
        ("account", "alpha"),
        ("venue", "paper"),
        ("symbol", "BTCUSDT"),
        ("side", "BUY"),
        ("order_type", "LIMIT"),
        ("quantity", "0.010"),
        ("limit_price", "95200.00"),
        ("status", "NEW"),
        ("filled_quantity", "0.000"),
    ] {
        assert_eq!(o[k].as_str(), Some(want), "{k}: {o}");
    }
    assert!(o["average_price"].is_null(), "{o}");
    assert!(
        o["cl_ord_id"].as_str().is_some_and(|c| !c.is_empty()),
        "{o}"
    );
    assert!(
        o["created_at"]
            .as_str()
            .is_some_and(|c| c.starts_with("20")),
        "{o}"
    );
    let (_, v) = d.call("GET", "/v1/orders?account=beta", None);
    let e = &v["orders"][0];
    assert_eq!(
        (e["side"].as_str(), e["order_type"].as_str()),
        (Some("SELL"), Some("MARKET"))
    );
    assert_eq!(e["average_price"].as_str(), Some(eth_avg.as_str()), "{e}");
    assert!(e["limit_price"].is_null(), "{e}");
    let (_, v) = d.call("GET", "/v1/orders?status=REJECTED", None);
    assert_eq!(v["orders"][0]["reason"]["code"], "RISK_NOT_APPROVED", "{v}");

    // Bad parameters name themselves.
    for (q, code) in [
        ("limit=0", "INVALID_PARAMETER"),
        ("limit=1001", "INVALID_PARAMETER"),
        ("status=BOGUS", "INVALID_PARAMETER"),
        ("account=nobody", "INVALID_PARAMETER"),
        ("symbol=NOPE", "INVALID_PARAMETER"),
        ("cursor=abc", "INVALID_PARAMETER"),
        ("sort=asc", "UNKNOWN_PARAMETER"),
    ] {
        let (c, e) = d.call("GET", &format!("/v1/orders?{q}"), None);
        assert_eq!((c, e["code"].as_str()), (400, Some(code)), "{q}: {e}");
    }

    // Positions: what the fills add up to.
    let (code, v) = d.call("GET", "/v1/positions", None);
    assert_eq!(code, 200, "{v}");
    let pos = v["positions"].as_array().unwrap();
    assert_eq!(pos.len(), 2, "{v}");
    let btc = pos
        .iter()
        .find(|p| p["account"] == "alpha" && p["symbol"] == "BTCUSDT")
        .unwrap_or_else(|| panic!("{v}"));
    assert_eq!(mant(btc["net_quantity"].as_str().unwrap(), 3), qty, "{btc}");
    assert_eq!(qty, 30);
    let avg = mant(btc["average_cost"].as_str().unwrap(), 2);
    let want = (notional * 2 + qty) / (2 * qty); // half up, positive
    assert_eq!(avg, want, "{btc}: notional {notional} qty {qty}");
    let f: f64 = btc["fees"].as_str().unwrap().parse().unwrap();
    assert!((f - fees).abs() < 1e-6, "{btc}: fees {fees}");
    assert_eq!(btc["venue"], "paper");
    assert_eq!(btc["open_buy_quantity"], "0.010", "r1 works: {btc}");
    let e = pos
        .iter()
        .find(|p| p["account"] == "beta" && p["symbol"] == "ETHUSDT")
        .unwrap_or_else(|| panic!("{v}"));
    assert_eq!(e["net_quantity"], "-0.50", "{e}");
    assert_eq!(e["average_cost"].as_str(), Some(eth_avg.as_str()), "{e}");
    let accounts = v["accounts"].as_array().unwrap();
    assert_eq!(accounts.len(), 3, "{v}");
    assert_eq!(accounts[0]["account"], "alpha");
    assert_eq!(accounts[0]["open_orders"], 1, "{v}");
    assert_eq!(accounts[0]["cash"], "50000000.000000", "{v}");

    // Venues: the paper venue, up, one open order.
    let (code, v) = d.call("GET", "/v1/venues", None);
    assert_eq!(code, 200, "{v}");
    let p = &v["venues"][0];
    assert_eq!(
        (p["venue"].as_str(), p["kind"].as_str(), p["up"].as_bool()),
        (Some("paper"), Some("paper"), Some(true)),
        "{v}"
    );
    assert_eq!(
        (p["breaker"].as_str(), p["open_orders"].as_u64()),
        (Some("CLOSED"), Some(1)),
        "{v}"
    );
    let (code, e) = d.call("GET", "/v1/venues?x=1", None);
    assert_eq!(
        (code, e["code"].as_str()),
        (400, Some("UNKNOWN_PARAMETER")),
        "{e}"
    );
}

#[test]
fn reads_show_kill_switches_and_modes_as_set_and_ctl_prints_them() {
    let d = Daemon::start(&[], &[]);
    let u = d.url.as_str();
    let (code, v) = d.call("GET", "/v1/kill-switches", None);
    assert_eq!(code, 200, "{v}");
    assert_eq!(
        v["kill_switches"],
        serde_json::json!([{"scope": {"global": true}, "state": "OFF"}]),
        "only the global switch, OFF: {v}"
    );
    for body in [
        r#"{"scope":{"account":"beta"},"state":"WARNING"}"#,
        r#"{"scope":{"symbol":"ETHUSDT"},"state":"ACTIVE"}"#,
    ] {
        let (code, v) = d.call("PUT", "/v1/kill-switches", Some(body));
        assert_eq!(code, 200, "{v}");
    }
    let (_, v) = d.call("GET", "/v1/kill-switches", None);
    assert_eq!(
        v["kill_switches"],
        serde_json::json!([
            {"scope": {"global": true}, "state": "OFF"},
            {"scope": {"account": "beta"}, "state": "WARNING"},
            {"scope": {"symbol": "ETHUSDT"}, "state": "ACTIVE", "venue": "paper"},
        ]),
        "{v}"
    );
    let (_, v) = d.call("GET", "/v1/mode", None);
    let modes = |v: &Value| -> Vec<(String, String, bool)> {
        v["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                (
                    a["account"].as_str().unwrap().to_string(),
                    a["mode"].as_str().unwrap().to_string(),
                    a["halted"].as_bool().unwrap(),
                )
            })
            .collect()
    };
    let s = |a: &str, m: &str, h: bool| (a.to_string(), m.to_string(), h);
    assert_eq!(
        modes(&v),
        vec![
            s("alpha", "AUTONOMOUS", false),
            s("beta", "AUTONOMOUS", false),
            s("advisor", "GUIDE", false)
        ]
    );
    let (code, _) = d.call(
        "PUT",
        "/v1/mode",
        Some(r#"{"account":"beta","mode":"GUIDE"}"#),
    );
    assert_eq!(code, 200);
    let (code, _) = d.call(
        "PUT",
        "/v1/halt",
        Some(r#"{"account":"alpha","halted":true}"#),
    );
    assert_eq!(code, 200);
    let (_, v) = d.call("GET", "/v1/mode", None);
    assert_eq!(
        modes(&v),
        vec![
            s("alpha", "AUTONOMOUS", true),
            s("beta", "GUIDE", false),
            s("advisor", "GUIDE", false)
        ]
    );

    // execd ctl: the same as tables, exit 0.
    let (code, out, err) = ctl(u, &["kills"], &[]);
    assert_eq!(code, Some(0), "{out}{err}");
    let lines: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(lines[0], ["SCOPE", "VENUE", "STATE"], "{out}");
    assert!(lines.contains(&vec!["global", "-", "OFF"]), "{out}");
    assert!(
        lines.contains(&vec!["account:beta", "-", "WARNING"]),
        "{out}"
    );
    assert!(
        lines.contains(&vec!["symbol:ETHUSDT", "paper", "ACTIVE"]),
        "{out}"
    );
    let (code, out, err) = ctl(u, &["mode"], &[]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        out.lines()
            .any(|l| l.split_whitespace().eq(["alpha", "AUTONOMOUS", "true"])),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.split_whitespace().eq(["beta", "GUIDE", "false"])),
        "{out}"
    );
    let (code, out, err) = ctl(u, &["mode", "beta"], &[]);
    assert_eq!(
        code,
        Some(2),
        "an account without a mode is a usage error: {out}{err}"
    );
    let (code, out, err) = ctl(u, &["venues"], &[]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        out.lines().any(|l| l
            .split_whitespace()
            .eq(["paper", "paper", "true", "CLOSED", "0", "-", "-"])),
        "{out}"
    );

    // Orders and positions through ctl, after trading.
    let (code, out, err) = ctl(u, &["halt", "alpha", "off"], &[]);
    assert_eq!(code, Some(0), "{out}{err}");
    for id in ["c1", "c2", "c3"] {
        let (code, v) = d.submit(&market(id, "0.01"));
        assert_eq!((code, v["status"].as_str()), (201, Some("FILLED")), "{v}");
    }
    let (code, v) = d.call("POST", "/v1/executions?wait_ms=200", Some(&resting("c4")));
    assert_eq!((code, v["status"].as_str()), (202, Some("NEW")), "{v}");
    let (code, out, err) = ctl(u, &["orders", "--status", "open"], &[]);
    assert_eq!(code, Some(0), "{out}{err}");
    let rows: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows[0][..3], ["ORDER", "REQUEST", "ACCOUNT"], "{out}");
    assert_eq!(rows.len(), 3, "header, one order, the count: {out}");
    assert_eq!(
        rows[1][1..11],
        ["c4", "alpha", "paper", "BTCUSDT", "BUY", "LIMIT", "0.010", "95200.00", "NEW", "0.000"],
        "{out}"
    );
    assert_eq!(rows[2], ["1", "orders"], "{out}");
    let (code, out, err) = ctl(u, &["orders", "--limit", "2"], &[]);
    assert_eq!(code, Some(0), "{out}{err}");
    let cursor = out
        .lines()
        .last()
        .and_then(|l| l.strip_prefix("2 orders; more after --cursor "))
        .unwrap_or_else(|| panic!("{out}"))
        .to_string();
    let (code, out, err) = ctl(u, &["orders", "--limit", "2", "--cursor", &cursor], &[]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        out.lines()
            .any(|l| l.split_whitespace().nth(1) == Some("c3")),
        "{out}"
    );
    let (code, out, err) = ctl(u, &["--json", "orders", "--limit", "1", "--all"], &[]);
    assert_eq!(code, Some(0), "{out}{err}");
    let v: Value = serde_json::from_str(out.trim()).expect("--json prints the JSON");
    let got: Vec<&str> = v["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["request_id"].as_str().unwrap())
        .collect();
    assert_eq!(got, ["c1", "c2", "c3", "c4"], "{v}");
    assert!(v["next_cursor"].is_null(), "{v}");
    let (code, out, err) = ctl(u, &["orders", "--status", "BOGUS"], &[]);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(err.contains("INVALID_PARAMETER"), "{err}");
    let (code, out, err) = ctl(u, &["positions"], &[]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        out.lines().any(|l| {
            let c: Vec<&str> = l.split_whitespace().collect();
            c.len() >= 4 && c[..4] == ["alpha", "paper", "BTCUSDT", "0.030"]
        }),
        "{out}"
    );
    assert!(
        out.lines()
            .next()
            .is_some_and(|l| l.starts_with("ACCOUNT  CASH")),
        "{out}"
    );
    let (code, out, err) = ctl(u, &["--json", "positions"], &[]);
    assert_eq!(code, Some(0), "{out}{err}");
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["positions"][0]["net_quantity"], "0.030", "{v}");
}

/// `GET` of `path` as text (exports are not JSON).
fn get_text(d: &Daemon, path: &str) -> (u16, String) {
    let r = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(30))
        .build()
        .get(&format!("{}{path}", d.url))
        .call();
    match r {
        Ok(r) => (r.status(), r.into_string().unwrap()),
        Err(ureq::Error::Status(c, r)) => (c, r.into_string().unwrap()),
        Err(e) => panic!("{path}: {e}"),
    }
}

fn replay_export(dir: &str, args: &[&str]) -> String {
    let out = common::run_cmd_for(
        Command::new(env!("CARGO_BIN_EXE_execd-replay"))
            .args(["export", dir])
            .args(args),
        Duration::from_secs(60),
    );
    assert!(out.status.success(), "{}", common::text(&out.stderr));
    common::text(&out.stdout)
}

#[test]
fn operator_actions_are_journaled_with_who_and_why_and_the_audit_route_exports_what_execd_replay_does(
) {
    let dir = TempDir::new("control-audit");
    let journal = dir.path().join("j");
    let j = journal.to_str().unwrap();
    let d = Daemon::start(&["--journal", j], &[]);
    for i in 0..3 {
        let (code, v) = d.submit(&market(&format!("a{i}"), "0.01"));
        assert_eq!(code, 201, "{v}");
    }
    let (code, v) = d.submit(&resting("rest"));
    assert_eq!(code, 202, "{v}");
    let resting_id = v["order_id"].as_u64().unwrap().to_string();
    let env = [("EXECD_OPERATOR", "")];
    let (code, out, err) = ctl(
        &d.url,
        &[
            "--operator",
            "alice",
            "cancel",
            &resting_id,
            "--reason",
            "stale quote, desk call",
        ],
        &env,
    );
    assert_eq!(code, Some(0), "{out}{err}");
    let (code, out, err) = ctl(
        &d.url,
        &[
            "--operator",
            "bob",
            "kill",
            "--scope",
            "venue:paper",
            "--state",
            "warning",
            "--reason",
            "venue slow",
        ],
        &env,
    );
    assert_eq!(code, Some(0), "{out}{err}");
    // A name the journal would not take is refused before anything is done.
    let (code, _, err) = ctl(
        &d.url,
        &["--operator", "eve smith", "halt", "alpha", "on"],
        &env,
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("X-Execd-Operator"), "{err}");

    // Everything up to now: the live export and execd-replay's of the same range agree.
    let (code, live) = get_text(&d, "/v1/audit?format=csv");
    assert_eq!(code, 200, "{live}");
    let last = live.lines().last().unwrap();
    let to = last.split(',').next().unwrap().parse::<u64>().unwrap() + 1;
    let (code, live) = get_text(&d, &format!("/v1/audit?format=csv&to={to}"));
    assert_eq!(code, 200);
    let (code, live_jsonl) = get_text(&d, &format!("/v1/audit?to={to}&account=alpha"));
    assert_eq!(code, 200);
    let (code, ops) = get_text(&d, "/v1/audit?kind=operator");
    assert_eq!(code, 200);
    let (code, by_ctl, err) = ctl(
        &d.url,
        &["audit", "--kind", "operator", "--format", "jsonl"],
        &env,
    );
    assert_eq!((code, by_ctl.as_str()), (Some(0), ops.as_str()), "{err}");
    // Output that cannot be written (a full disk) is not a success.
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    let mut c = execd();
    c.arg("ctl")
        .args(["--url", &d.url, "audit", "--format", "jsonl"])
        .stdout(full);
    for (k, v) in &env {
        c.env(k, v);
    }
    let mut child = c
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("execd ctl starts");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("execd ctl audit > /dev/full did not finish within 30 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(err.contains("cannot write standard output"), "{err}");
    let (code, _, err) = ctl(&d.url, &["audit", "--kind", "nope"], &env);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("INVALID_PARAMETER: kind"), "{err}");
    for (q, want) in [
        ("kind=nope", "INVALID_PARAMETER"),
        ("format=xml", "INVALID_PARAMETER"),
        ("from=yesterday", "INVALID_PARAMETER"),
        ("colour=red", "UNKNOWN_PARAMETER"),
    ] {
        let (code, v) = d.call("GET", &format!("/v1/audit?{q}"), None);
        assert_eq!((code, v["code"].as_str()), (400, Some(want)), "{q}: {v}");
    }
    let (code, lines) = d.sigterm();
    assert_eq!(code, Some(0), "{lines:#?}");

    let to = to.to_string();
    assert_eq!(live, replay_export(j, &["--format", "csv", "--to", &to]));
    assert_eq!(
        live_jsonl,
        replay_export(j, &["--format", "jsonl", "--to", &to, "--account", "alpha"])
    );
    assert!(live.lines().count() > 10, "{live}");
    // Each action follows the note naming its operator, with the reason given.
    let rows: Vec<Value> = ops
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2, "{ops}");
    assert_eq!(rows[0]["reason"], "stale quote, desk call");
    assert_eq!(rows[0]["fields"]["operator"], "alice", "{ops}");
    assert_eq!(rows[1]["reason"], "venue slow");
    assert_eq!(rows[1]["fields"]["operator"], "bob", "{ops}");
    let all = replay_export(j, &["--format", "jsonl"]);
    let all: Vec<Value> = all
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // (Only the API sends commands here, so its next command is the next one.)
    // The action's own rows name the operator and carry the reason too.
    let wants = [
        ("cancel", "alice", Some(resting_id.parse::<u64>().unwrap())),
        ("set_kill_switch", "bob", None),
    ];
    let switch = all
        .iter()
        .find(|r| r["kind"] == "kill_switch" && r["state"] == "WARNING")
        .expect("the kill switch row");
    assert_eq!(switch["reason"], "venue slow", "{switch}");
    let f = &switch["fields"];
    assert_eq!(
        (
            f["scope"].as_str(),
            f["scope_name"].as_str(),
            f["canceled"].as_u64(),
            f["operator"].as_str(),
            f["producer"].as_u64()
        ),
        (Some("venue"), Some("paper"), Some(0), Some("bob"), Some(2)),
        "{switch}"
    );
    for (note, want) in rows.iter().zip(wants) {
        let at = all
            .iter()
            .position(|r| r == note)
            .expect("the note in the full export");
        let next = all[at + 1..]
            .iter()
            .find(|r| r["kind"] == "command")
            .unwrap();
        let f = &next["fields"];
        assert_eq!(f["command"], want.0, "{next}");
        assert_eq!(f["operator"], want.1, "{next}");
        assert_eq!(f["producer"], 2, "{next}");
        if let Some(id) = want.2 {
            assert_eq!(f["target_order"], id, "{next}");
        }
        assert_eq!(next["reason"], note["reason"], "{next}");
        assert!(next["seq"].as_u64() > note["seq"].as_u64(), "{next}");
    }
}

/// An open `GET /v1/events` and the events read from it so far.
struct Stream {
    lines: std::io::Lines<std::io::BufReader<Box<dyn std::io::Read + Send + Sync>>>,
}

impl Stream {
    fn open(d: &Daemon, query: &str, last_id: Option<u64>) -> Stream {
        let mut r = ureq::AgentBuilder::new()
            .timeout_read(Duration::from_secs(20))
            .build()
            .get(&format!("{}/v1/events{query}", d.url));
        if let Some(id) = last_id {
            r = r.set("Last-Event-ID", &id.to_string());
        }
        let r = r.call().expect("the stream opens");
        assert_eq!(r.header("content-type"), Some("text/event-stream"));
        use std::io::BufRead as _;
        Stream {
            lines: std::io::BufReader::new(r.into_reader()).lines(),
        }
    }

    /// Events (id if any, kind, row) until `stop` says so (bounded by the read timeout).
    fn until(&mut self, mut stop: impl FnMut(&Value) -> bool) -> Vec<(Option<u64>, Value)> {
        let mut got = Vec::new();
        let (mut id, mut data) = (None, None);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            let line = self.lines.next().expect("the stream stays open").unwrap();
            if let Some(v) = line.strip_prefix("id: ") {
                id = Some(v.parse().unwrap());
            } else if let Some(v) = line.strip_prefix("data: ") {
                data = Some(serde_json::from_str::<Value>(v).unwrap());
            } else if line.is_empty() {
                if let Some(v) = data.take() {
                    let done = stop(&v);
                    got.push((id.take(), v));
                    if done {
                        return got;
                    }
                }
            }
        }
        panic!("the stream never said what was awaited: {got:#?}");
    }
}

fn filled(request: &str) -> impl FnMut(&Value) -> bool + '_ {
    move |v| v["kind"] == "order" && v["request_id"] == request && v["state"] == "FILLED"
}

#[test]
fn the_event_stream_tells_what_happens_and_resumes_after_a_reconnect() {
    let d = Daemon::builtin(&[]);
    let (code, v) = d.call("GET", "/v1/events", None);
    assert_eq!((code, v["code"].as_str()), (404, Some("NO_JOURNAL")), "{v}");
    let (code, lines) = d.sigterm();
    assert_eq!(code, Some(0), "{lines:#?}");

    let dir = TempDir::new("control-events");
    let journal = dir.path().join("j");
    let d = Daemon::start(&["--journal", journal.to_str().unwrap()], &[]);
    let (code, _) = d.submit(&market("before", "0.01"));
    assert_eq!(code, 201);
    // From now on: nothing of "before".
    let mut live = Stream::open(&d, "", None);
    let (code, _) = d.submit(&market("s1", "0.01"));
    assert_eq!(code, 201);
    let got = live.until(filled("s1"));
    assert!(
        got.iter().all(|(_, v)| v["request_id"] != "before"),
        "{got:#?}"
    );
    let kinds: Vec<&str> = got
        .iter()
        .map(|(_, v)| v["kind"].as_str().unwrap())
        .collect();
    for k in ["request", "accepted", "fill"] {
        assert!(kinds.contains(&k), "{kinds:?}");
    }
    let last = got.iter().rev().find_map(|(id, _)| *id).expect("an id");
    drop(live);

    // While nobody listens: another order. The reconnect resumes after the last id.
    let (code, _) = d.submit(&market("s2", "0.01"));
    assert_eq!(code, 201);
    let mut again = Stream::open(&d, "", Some(last));
    let got = again.until(filled("s2"));
    assert!(
        got.iter().all(|(_, v)| v["seq"].as_u64().unwrap() > last),
        "{got:#?}"
    );
    assert!(got
        .iter()
        .any(|(_, v)| v["kind"] == "request" && v["request_id"] == "s2"));
    drop(again);

    // From the start, filtered: the whole history of one request.
    let mut history = Stream::open(&d, "?from_seq=1&request_id=before", None);
    let got = history.until(filled("before"));
    assert_eq!(got[0].1["kind"], "request", "{got:#?}");
    drop(history);
    let (code, v) = d.call("GET", "/v1/events?from_seq=0", None);
    assert_eq!(
        (code, v["code"].as_str()),
        (400, Some("INVALID_PARAMETER")),
        "{v}"
    );
    let (code, lines) = d.sigterm();
    assert_eq!(code, Some(0), "{lines:#?}");
}

#[test]
fn a_second_signal_exits_at_once_and_loses_nothing_acknowledged() {
    let dir = TempDir::new("control-second-signal");
    let journal = dir.path().join("j");
    let j = journal.to_str().unwrap();
    let d = Daemon::start(&["--journal", j], &[]);
    let (code, v) = d.submit(&market("kept", "0.01"));
    assert_eq!((code, v["status"].as_str()), (201, Some("FILLED")), "{v}");
    // An open stream makes the first stop take a while (its reader notices within 20 ms).
    let _stream = Stream::open(&d, "?from_seq=1", None);
    // Signals of one kind that arrive before the first is handled merge into one: keep
    // signalling until it exits, so one lands while it is stopping.
    let mut d = d;
    let pid = d.proc.child.id() as libc::pid_t;
    let deadline = Instant::now() + Duration::from_secs(10);
    while d.proc.child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "{:#?}", d.proc.seen);
        // SAFETY: a signal to our own child, which has not been reaped yet.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        std::thread::sleep(Duration::from_micros(300));
    }
    let (code, lines) = d.proc.finish(20);
    assert_eq!(code, Some(3), "{lines:#?}");
    assert!(
        !lines.iter().any(|l| l.contains("execd: stopped")),
        "{lines:#?}"
    );

    let d = Daemon::start(&["--journal", j], &[]);
    let (code, v) = d.call("GET", "/v1/executions/kept", None);
    assert_eq!((code, v["status"].as_str()), (200, Some("FILLED")), "{v}");
    assert_eq!(v["filled_quantity"], "0.010", "{v}");
    let (code, lines) = d.sigterm();
    assert_eq!(code, Some(0), "{lines:#?}");
}

#[test]
fn an_order_comes_with_its_event_log_from_the_journal_when_asked() {
    let dir = TempDir::new("control-order-log");
    let journal = dir.path().join("j");
    let d = Daemon::start(&["--journal", journal.to_str().unwrap()], &[]);
    let (code, v) = d.submit(&resting("logged"));
    assert_eq!(code, 202, "{v}");
    let id = v["order_id"].as_u64().unwrap();
    let (code, v) = d.call("POST", &format!("/v1/orders/{id}/cancel"), Some("{}"));
    assert_eq!((code, v["status"].as_str()), (200, Some("CANCELED")), "{v}");
    let (code, plain) = d.call("GET", &format!("/v1/orders/{id}"), None);
    assert_eq!(code, 200, "{plain}");
    assert!(plain.get("events").is_none(), "{plain}");
    let (code, v) = d.call("GET", &format!("/v1/orders/{id}?events=true"), None);
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["status"], "CANCELED", "{v}");
    assert_eq!(v["events_truncated"], false, "{v}");
    let rows = v["events"].as_array().unwrap();
    let story: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r["kind"].as_str().unwrap(), r["state"].as_str().unwrap()))
        .collect();
    // Accepted, acknowledged, cancel asked (by the API's operator note's action), canceled.
    assert_eq!(story.first(), Some(&("accepted", "")), "{story:?}");
    assert!(story.contains(&("order", "NEW")), "{story:?}");
    assert!(story.contains(&("order", "PENDING_CANCEL")), "{story:?}");
    assert_eq!(story.last(), Some(&("order", "CANCELED")), "{story:?}");
    assert!(rows.iter().all(|r| r["order"].as_u64() == Some(id)), "{v}");
    // The sidecar catches up: health shows the journal and the audit log level.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (code, h) = d.call("GET", "/v1/health", None);
        assert_eq!(code, 200, "{h}");
        let j = &h["journal"];
        if j["last_seq"].as_u64() > Some(5) && j["audit_lag_records"] == 0 {
            assert_eq!(j["audit_last_seq"], j["last_seq"], "{h}");
            break;
        }
        assert!(Instant::now() < deadline, "{h}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (code, e) = d.call("GET", &format!("/v1/orders/{id}?events=maybe"), None);
    assert_eq!(
        (code, e["code"].as_str()),
        (400, Some("INVALID_PARAMETER")),
        "{e}"
    );
    let (code, lines) = d.sigterm();
    assert_eq!(code, Some(0), "{lines:#?}");
}

#[test]
fn risk_limits_change_live_are_journaled_and_hold_across_a_restart() {
    let dir = TempDir::new("control-limits");
    let journal = dir.path().join("j");
    let j = journal.to_str().unwrap();
    let d = Daemon::start(&["--journal", j], &[]);
    let btc = |v: &Value| -> Value {
        v["limits"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["symbol"] == "BTCUSDT")
            .cloned()
            .unwrap()
    };
    let (code, v) = d.call("GET", "/v1/limits", None);
    assert_eq!(code, 200, "{v}");
    assert_eq!(btc(&v)["max_order_qty"], "5.000", "{v}");
    let (code, out, err) = ctl(
        &d.url,
        &[
            "--operator",
            "risk-desk",
            "limits",
            "--venue",
            "paper",
            "--symbol",
            "BTCUSDT",
            "--max-order-qty",
            "0.02",
            "--reason",
            "volatile open",
        ],
        &[],
    );
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("0.020"), "{out}");
    let (code, v) = d.submit(&market("big", "0.03"));
    assert_eq!((code, v["status"].as_str()), (200, Some("REJECTED")), "{v}");
    assert_eq!(v["reason"]["code"], "MAX_ORDER_QTY", "{v}");
    let (code, v) = d.submit(&market("small", "0.02"));
    assert_eq!((code, v["status"].as_str()), (201, Some("FILLED")), "{v}");
    // Off the lot, not a number, nothing to change, an instrument not configured.
    for (body, status, code_want) in [
        (
            r#"{"venue":"paper","symbol":"BTCUSDT","max_order_qty":"0.0001"}"#,
            422,
            "BAD_QUANTITY",
        ),
        (
            r#"{"venue":"paper","symbol":"BTCUSDT","max_position":1}"#,
            400,
            "INVALID_FIELD",
        ),
        (
            r#"{"venue":"paper","symbol":"BTCUSDT","max_order_qty":"0"}"#,
            422,
            "BAD_QUANTITY",
        ),
        (
            r#"{"venue":"paper","symbol":"BTCUSDT","max_notional":"-5"}"#,
            422,
            "BAD_QUANTITY",
        ),
        (
            r#"{"venue":"paper","symbol":"BTCUSDT","max_position":"99999999999999999999"}"#,
            400,
            "INVALID_FIELD",
        ),
        (
            r#"{"venue":"paper","symbol":"BTCUSDT"}"#,
            400,
            "INVALID_FIELD",
        ),
        (
            r#"{"venue":"paper","symbol":"DOGEUSDT","max_position":"1"}"#,
            422,
            "UNKNOWN_INSTRUMENT",
        ),
    ] {
        let (code, v) = d.call("PUT", "/v1/limits", Some(body));
        assert_eq!(
            (code, v["code"].as_str()),
            (status, Some(code_want)),
            "{body}: {v}"
        );
    }
    let (code, lines) = d.sigterm();
    assert_eq!(code, Some(0), "{lines:#?}");

    // The journal replays the change: the limit holds after the restart.
    let d = Daemon::start(&["--journal", j], &[]);
    let (_, v) = d.call("GET", "/v1/limits", None);
    assert_eq!(btc(&v)["max_order_qty"], "0.020", "{v}");
    let (code, v) = d.submit(&market("big-again", "0.03"));
    assert_eq!(
        (code, v["reason"]["code"].as_str()),
        (200, Some("MAX_ORDER_QTY")),
        "{v}"
    );
    let (code, out, _) = ctl(&d.url, &["limits"], &[]);
    assert_eq!(code, Some(0));
    assert!(
        out.lines()
            .any(|l| l.contains("BTCUSDT") && l.contains("0.020")),
        "{out}"
    );
    let (code, lines) = d.sigterm();
    assert_eq!(code, Some(0), "{lines:#?}");
    let rows = replay_export(j, &["--format", "jsonl", "--kind", "limits"]);
    assert_eq!(rows.lines().count(), 1, "{rows}");
    assert!(rows.contains(r#""max_order_qty":"0.020""#), "{rows}");
    let ops = replay_export(j, &["--format", "jsonl", "--kind", "operator"]);
    assert!(
        ops.contains(r#""operator":"risk-desk""#) && ops.contains("volatile open"),
        "{ops}"
    );
}

/// R-IN-3 for the journal's whole life, through the binary: with `core.max_orders` 16,
/// a request id resent after 60 more orders (its order long retired from the book) is
/// still a duplicate of the first order, with its final status, and makes no order;
/// the same after a restart, where recovery rebuilt the memory from the journal.
#[test]
fn a_request_id_resent_long_after_its_order_left_the_book_makes_no_second_order() {
    let dir = TempDir::new("control-request-ids");
    let cfg = dir.path().join("small.toml");
    let text = std::fs::read_to_string(quiet_config(&dir)).unwrap();
    let small = text.replacen("max_orders = 262144 ", "max_orders = 16 ", 1);
    assert_ne!(small, text);
    std::fs::write(&cfg, small).unwrap();
    let journal = dir.path().join("j");
    let args = ["--journal", journal.to_str().unwrap()];
    let start = || {
        let mut c = execd();
        c.args(["run", "--listen", "127.0.0.1:0", "--config"])
            .arg(&cfg)
            .args(args);
        Daemon::spawn(c, &[])
    };
    let d = start();
    let (code, v) = d.submit(&market("first", "0.01"));
    assert_eq!(
        (code, v["status"].clone()),
        (201, Value::from("FILLED")),
        "{v}"
    );
    let first = v["order_id"].as_u64().unwrap();
    for i in 0..60 {
        let (code, v) = d.submit(&market(&format!("later-{i}"), "0.01"));
        assert_eq!(code, 201, "{i}: {v}");
    }
    let (code, v) = d.call("GET", &format!("/v1/orders/{first}"), None);
    assert_eq!(code, 404, "retired from the book: {v}");
    let resend = |d: &Daemon| {
        let (code, v) = d.submit(&market("first", "0.01"));
        assert_eq!(code, 200, "{v}");
        assert_eq!(v["duplicate"], true, "{v}");
        assert_eq!(v["order_id"].as_u64(), Some(first), "{v}");
        assert_eq!(v["status"], "FILLED", "{v}");
    };
    resend(&d);
    let (code, v) = d.call("GET", "/v1/positions", None);
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["positions"][0]["net_quantity"], "0.610", "{v}");
    let u = v["positions"][0]["unrealised_pnl"]
        .as_str()
        .expect("valued at the mid");
    assert!(u.parse::<f64>().is_ok(), "{v}");
    let (code, lines) = d.sigterm();
    assert_eq!(code, Some(0), "{lines:#?}");
    assert!(
        summary(&lines).contains("62 submitted, 61 accepted"),
        "{lines:#?}"
    );
    // The run summary values the position at the mid too: net × (mid − entry).
    let pos = lines
        .iter()
        .find(|l| l.starts_with("execd: position alpha BTCUSDT: net 0.610 @ "))
        .unwrap_or_else(|| panic!("{lines:#?}"));
    let num = |after: &str| -> f64 {
        pos.split(after)
            .nth(1)
            .unwrap()
            .split([' ', ','])
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    let (net, avg, unrealised, mid) = (num("net "), num(" @ "), num("unrealised "), num("mid "));
    assert!(
        (net * (mid - avg) - unrealised).abs() < 0.01,
        "{net} × ({mid} − {avg}) vs {unrealised}: {pos}"
    );

    let d = start();
    resend(&d);
    let (code, lines) = d.sigterm();
    assert_eq!(code, Some(0), "{lines:#?}");
    // 62 replayed, one more now: the resend again made no order.
    assert!(
        summary(&lines).contains("63 submitted, 61 accepted"),
        "{lines:#?}"
    );
}

/// `method path` on `d` as operator `who`: the status and the JSON body.
fn as_operator(d: &Daemon, who: &str, method: &str, path: &str, body: &str) -> (u16, Value) {
    let r = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(20))
        .build()
        .request(method, &format!("{}{path}", d.url))
        .set("X-Execd-Operator", who)
        .set("Content-Type", "application/json")
        .send_string(body);
    let resp = match r {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{path}: {e}"),
    };
    let code = resp.status();
    (
        code,
        serde_json::from_str(&resp.into_string().unwrap()).unwrap(),
    )
}

/// Polls `GET /v1/dead-letters` until it lists `n` (bounded).
fn dead_letters(d: &Daemon, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (code, v) = d.call("GET", "/v1/dead-letters", None);
        assert_eq!(code, 200, "{v}");
        let all = v["dead_letters"].as_array().unwrap().clone();
        if all.len() == n {
            return all;
        }
        assert!(Instant::now() < deadline, "never {n} dead letters: {v}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn replay_tool(args: &[&str]) -> String {
    let out = common::run_cmd_for(
        Command::new(env!("CARGO_BIN_EXE_execd-replay")).args(args),
        Duration::from_secs(60),
    );
    assert!(out.status.success(), "{}", common::text(&out.stderr));
    common::text(&out.stdout)
}

#[test]
fn undelivered_orders_are_retried_then_dead_lettered_survive_a_restart_and_are_redriven_or_discarded(
) {
    let dir = TempDir::new("control-dead-letters");
    // The paper venue refuses its first 6 submits as a transport failure: with 2
    // resends each, two orders become dead letters (R-RES-1, R-RES-3).
    let base = std::fs::read_to_string(quiet_config(&dir)).unwrap();
    let cfg_text = base
        .replacen("retry_attempts = 5 ", "retry_attempts = 2 ", 1)
        .replacen("retry_backoff_ms = 100 ", "retry_backoff_ms = 20 ", 1)
        .replacen("unsent_first = 0 ", "unsent_first = 6 ", 1)
        // Six transport failures in a row open the breaker (R-RES-2); a re-drive goes
        // through the gate's venue checks, so let it half-open soon.
        .replacen(
            "breaker_cooldown_ms = 10000 ",
            "breaker_cooldown_ms = 100 ",
            1,
        );
    for set in [
        "retry_attempts = 2 ",
        "retry_backoff_ms = 20 ",
        "unsent_first = 6 ",
        "breaker_cooldown_ms = 100 ",
    ] {
        assert!(cfg_text.contains(set), "{set}");
    }
    let cfg = dir.path().join("faulty.toml");
    std::fs::write(&cfg, cfg_text).unwrap();
    let journal = dir.path().join("j");
    let j = journal.to_str().unwrap();
    let start = || {
        let mut c = execd();
        c.args(["run", "--listen", "127.0.0.1:0", "--config"])
            .arg(&cfg)
            .args(["--journal", j]);
        Daemon::spawn(c, &[])
    };
    let d = start();
    let (code, a) = d.submit(&market("dl-a", "0.01"));
    assert_eq!(
        (code, a["status"].as_str()),
        (202, Some("PENDING_NEW")),
        "{a}"
    );
    let (_, b) = d.submit(&market("dl-b", "0.01"));
    let (a, b) = (
        a["order_id"].as_u64().unwrap(),
        b["order_id"].as_u64().unwrap(),
    );
    let letters = dead_letters(&d, 2);
    for (l, id) in letters.iter().zip([a, b]) {
        assert_eq!(l["order_id"].as_u64(), Some(id), "{l}");
        assert_eq!(l["reason"]["code"], "RETRIES_EXHAUSTED", "{l}");
        assert_eq!(l["attempts"], 3, "{l}");
        assert_eq!(l["venue"], "paper");
    }
    let (_, v) = d.call("GET", &format!("/v1/orders/{a}"), None);
    assert_eq!(
        v["status"], "PENDING_NEW",
        "upstream sees it accepted and pending: {v}"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (_, m) = common::http_text("GET", &format!("{}/metrics", d.url), None, None);
        if m.contains("\nexecd_dead_letters_total 2\n") {
            assert!(m.contains("\nexecd_retries_total 4\n"), "{m}");
            break;
        }
        assert!(Instant::now() < deadline, "{m}");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Dead letters need a human: the stop says so (exit 3), without waiting for them.
    let (code, lines) = d.sigterm();
    assert_eq!(code, Some(3), "{lines:#?}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("0 unfinished orders (outcome unknown), 2 dead letters")),
        "{lines:#?}"
    );

    // The journal holds them: execd-replay lists both, with their resends.
    let listed = replay_tool(&["dead-letters", j]);
    assert!(listed.starts_with("2 open dead letters"), "{listed}");
    assert!(
        listed.contains(&format!("order {a}  request dl-a")),
        "{listed}"
    );
    assert!(listed.contains("RETRIES_EXHAUSTED  tries 3"), "{listed}");
    let resends = replay_tool(&["export", j, "--kind", "retry", "--format", "jsonl"]);
    assert_eq!(resends.lines().count(), 4, "{resends}");

    // A restart replays them: still there, still pending.
    let d = start();
    let letters = dead_letters(&d, 2);
    assert_eq!(letters[0]["order_id"].as_u64(), Some(a));
    assert!(
        d.proc
            .seen
            .iter()
            .any(|l| l.contains("0 orders in flight queued")),
        "dead letters are not asked about: {:#?}",
        d.proc.seen
    );
    // A decision needs a reason, and names a dead letter.
    let path = |id: u64, what: &str| format!("/v1/dead-letters/{id}/{what}");
    let (code, v) = as_operator(&d, "alice", "POST", &path(a, "redrive"), "{}");
    assert_eq!(code, 400, "{v}");
    let (code, v) = as_operator(
        &d,
        "alice",
        "POST",
        &path(999, "redrive"),
        r#"{"reason":"x"}"#,
    );
    assert_eq!(
        (code, v["code"].as_str()),
        (404, Some("UNKNOWN_ORDER")),
        "{v}"
    );
    let (code, v) = as_operator(
        &d,
        "alice",
        "POST",
        &path(a, "redrive"),
        r#"{"reason":"venue is back"}"#,
    );
    assert_eq!((code, v["action"].as_str()), (200, Some("redriven")), "{v}");
    assert_eq!(v["delivered"], true, "{v}");
    order_reaches(&d, a, "FILLED");
    // execd ctl lists what is left and discards it.
    let (code, out, err) = ctl(&d.url, &["dead-letters"], &[]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.contains("RETRIES_EXHAUSTED") && out.contains("dl-b"),
        "{out}"
    );
    assert!(!out.contains("dl-a"), "{out}");
    let (code, out, err) = ctl(
        &d.url,
        &[
            "--operator",
            "bob",
            "dead-letters",
            &b.to_string(),
            "discard",
            "--reason",
            "stale signal",
        ],
        &[],
    );
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("order_status: REJECTED"), "{out}");
    let v = order_reaches(&d, b, "REJECTED");
    assert_eq!(v["reason"]["code"], "UNDELIVERABLE", "{v}");
    dead_letters(&d, 0);
    let (code, lines) = d.sigterm();
    assert_eq!(code, Some(0), "{lines:#?}");

    // Both decisions survive a restart, and the journal says who took them and why.
    let d = start();
    dead_letters(&d, 0);
    order_reaches(&d, a, "FILLED");
    order_reaches(&d, b, "REJECTED");
    let (code, lines) = d.sigterm();
    assert_eq!(code, Some(0), "{lines:#?}");
    assert!(replay_tool(&["dead-letters", j]).starts_with("0 open dead letters"));
    let ops = replay_tool(&["export", j, "--kind", "operator", "--format", "jsonl"]);
    assert!(
        ops.contains("alice") && ops.contains("venue is back"),
        "{ops}"
    );
    assert!(ops.contains("bob") && ops.contains("stale signal"), "{ops}");
    let resolved = replay_tool(&[
        "export",
        j,
        "--kind",
        "dead_letter_resolved",
        "--format",
        "jsonl",
    ]);
    assert!(
        resolved.contains("REDRIVEN") && resolved.contains("DISCARDED"),
        "{resolved}"
    );
    let verify = replay_tool(&["verify", j]);
    assert!(!verify.is_empty());
}
