//! Market data from a FIX broker drives the gate (R-VEN-6, R-GATE-6), through the real
//! binaries: `execd run` with `MarketData = true` subscribes at `execd-venue-sim`, whose
//! price paths quote both symbols; no quote is ever posted upstream. Fresh quotes let
//! orders through, a feed that stops makes them stale on execd's own clock, a symbol
//! the broker refuses (35=Y) has no market data, and a replay of the journal rebuilds
//! the same decisions.

mod common;

use common::{http_text, LineProc, TempDir, VenueSim};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The example FIX configuration on `port`, subscribing to market data, quotes older
/// than a second stale, with `edits` (from, to) applied.
fn config(dir: &Path, port: u16, edits: &[(&str, &str)]) -> PathBuf {
    let text = std::fs::read_to_string("examples/fix-sim.toml").unwrap();
    let mut out = text.clone();
    let edits = edits.iter().map(|(f, t)| (*f, t.to_string()));
    for (from, to) in [
        (
            "SocketConnectPort = 9878",
            format!("SocketConnectPort = {port}"),
        ),
        (
            "max_quote_age_ms = 5000",
            "max_quote_age_ms = 1000".to_string(),
        ),
        (
            "MassStatusOnLogon = true",
            "MarketData = true\nMassStatusOnLogon = true".to_string(),
        ),
    ]
    .into_iter()
    .chain(edits)
    {
        assert!(out.contains(from), "{from:?} not in the example");
        out = out.replacen(from, &to, 1);
    }
    let p = dir.join("fix-sim.toml");
    std::fs::write(&p, out).unwrap();
    p
}

fn execd(cfg: &Path, journal: &Path) -> (LineProc, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_execd"));
    c.env_remove("EXECD_API_TOKEN")
        .args(["run", "--listen", "127.0.0.1:0", "--config"])
        .arg(cfg)
        .arg("--journal")
        .arg(journal);
    LineProc::spawn_api(&mut c)
}

/// A market buy of 10 `sym`: the HTTP status and the answer.
fn buy(url: &str, id: &str, sym: &str) -> (u16, Value) {
    let body = json!({"request_id": id, "account": "alpha", "venue": "sim", "symbol": sym,
        "side": "BUY", "quantity": "10", "order_type": "MARKET",
        "context": {"risk_approved": true}});
    let (code, text) = http_text(
        "POST",
        &format!("{url}/v1/executions"),
        Some(&body.to_string()),
        None,
    );
    let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (code, v)
}

/// Whether the gate let the order through (it may still be on its way to the broker).
fn passed(code: u16, v: &Value) -> bool {
    matches!(code, 200..=202) && v["status"] != "REJECTED"
}

/// Buys until `want` holds of an answer (bounded); returns it.
fn buy_until(url: &str, tag: &str, sym: &str, want: impl Fn(u16, &Value) -> bool) -> (u16, Value) {
    let deadline = Instant::now() + Duration::from_secs(20);
    for k in 0.. {
        let (code, v) = buy(url, &format!("{tag}-{k}"), sym);
        if want(code, &v) {
            return (code, v);
        }
        assert!(Instant::now() < deadline, "{tag}: never: {code} {v}");
        std::thread::sleep(Duration::from_millis(100));
    }
    unreachable!()
}

fn refused_for(code: u16, v: &Value, reason: &str) -> bool {
    !passed(code, v) && v.to_string().contains(reason)
}

fn replay(what: &str, journal: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_execd-replay"))
        .arg(what)
        .arg(journal)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "execd-replay {what}: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

#[test]
fn broker_quotes_drive_the_gate_fresh_passes_stale_and_refused_do_not() {
    let dir = TempDir::new("market-data");
    // MSFT is unknown to this broker: its MarketDataRequest is refused with 35=Y.
    let mut s = VenueSim::start(&[
        "--policy",
        "fill",
        "--quotes-every-ms",
        "50",
        "--reject-symbol",
        "MSFT",
        "--dict-dir",
        "fix-dictionaries",
    ]);
    let cfg = config(&dir, s.port, &[]);
    let journal = dir.join("journal");
    let (mut p, url) = execd(&cfg, &journal);

    // Logged on and quoted by the broker alone: an order passes the gate.
    let (_, v) = buy_until(&url, "fresh", "AAPL", passed);
    assert!(v["status"].is_string(), "{v}");
    let st = s.status();
    assert_eq!(st["md_requests"].as_u64(), Some(2), "{st}");
    assert_eq!(st["md_rejects"].as_u64(), Some(1), "{st}");
    assert_eq!(st["md_subscriptions"].as_u64(), Some(1), "{st}");
    assert!(
        p.wait_line("no market data for MSFT: unknown symbol", 10)
            .is_some(),
        "the refusal is logged"
    );
    // The refused symbol never has a quote.
    let (code, v) = buy(&url, "refused", "MSFT");
    assert!(refused_for(code, &v, "NO_MARKET_DATA"), "{code} {v}");

    // The feed stops: within a second and a bit the last quote is stale on our clock.
    s.cmd("quotes off");
    let (_, v) = buy_until(&url, "stale", "AAPL", |c, v| {
        refused_for(c, v, "STALE_MARKET_DATA")
    });
    assert!(!passed(400, &v));
    // It comes back: orders pass again.
    s.cmd("quotes on");
    buy_until(&url, "again", "AAPL", passed);

    let metrics = http_text("GET", &format!("{url}/metrics"), None, None).1;
    assert!(
        metrics.contains("\nexecd_quotes_conflated_total "),
        "{metrics}"
    );
    let (code, lines) = p.sigterm(30);
    assert_eq!(code, Some(0), "{lines:#?}");
    // Every snapshot and refresh the broker sent validated against execd's dictionary.
    assert!(
        lines
            .iter()
            .any(|l| l.contains("next sequence numbers out") && l.contains(" 0 invalid")),
        "{lines:#?}"
    );
    let md = lines
        .iter()
        .find(|l| l.contains("market data:"))
        .unwrap_or_else(|| panic!("no market data summary: {lines:#?}"));
    assert!(
        md.contains("2 requests, 1 instruments refused") && md.contains(" 0 malformed"),
        "{md}"
    );
    let st = s.quit();
    assert_eq!(st["session_rejects_sent"].as_u64(), Some(0), "{st}");

    // The journal holds the quotes as venue inputs: a replay makes the same decisions
    // (verify compares every replayed event with the journaled one).
    let out = replay("verify", &journal);
    assert!(!out.is_empty());
    let export = Command::new(env!("CARGO_BIN_EXE_execd-replay"))
        .args([
            "export",
            journal.to_str().unwrap(),
            "--format",
            "jsonl",
            "--kind",
            "rejected",
        ])
        .output()
        .unwrap();
    let rows = String::from_utf8_lossy(&export.stdout).to_string();
    for reason in ["STALE_MARKET_DATA", "NO_MARKET_DATA"] {
        assert!(rows.contains(reason), "{reason} in {rows}");
    }
}

#[test]
fn a_fix42_session_asks_and_reads_in_its_own_dictionary() {
    let dir = TempDir::new("market-data-42");
    let mut s = VenueSim::start(&[
        "--policy",
        "fill",
        "--quotes-every-ms",
        "20",
        "--dict-dir",
        "fix-dictionaries",
    ]);
    let cfg = config(
        &dir,
        s.port,
        &[
            ("BeginString = \"FIX.4.4\"", "BeginString = \"FIX.4.2\""),
            (
                "DataDictionary = \"FIX.4.4\"",
                "DataDictionary = \"FIX.4.2\"",
            ),
        ],
    );
    let journal = dir.join("journal");
    let (p, url) = execd(&cfg, &journal);
    buy_until(&url, "aapl", "AAPL", passed);
    buy_until(&url, "msft", "MSFT", passed);
    let st = s.status();
    assert_eq!(st["md_subscriptions"].as_u64(), Some(2), "{st}");
    let (code, lines) = p.sigterm(30);
    assert_eq!(code, Some(0), "{lines:#?}");
    // The 4.2 requests validated at the broker, its 4.2 refreshes at execd.
    assert!(
        lines
            .iter()
            .any(|l| l.contains("next sequence numbers out") && l.contains(" 0 invalid")),
        "{lines:#?}"
    );
    assert!(
        lines.iter().any(
            |l| l.contains("market data: 2 requests, 0 instruments refused")
                && l.contains(" 0 malformed")
        ),
        "{lines:#?}"
    );
    let st = s.quit();
    assert_eq!(st["session_rejects_sent"].as_u64(), Some(0), "{st}");
    assert_eq!(st["business_rejects"].as_u64(), Some(0), "{st}");
    replay("verify", &journal);
}
