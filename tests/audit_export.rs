//! The audit export as an auditor reads it (R-AUD-3, docs/audit-export.md): a standard CSV
//! parser and `serde_json` over real journals, every value checked against the type the
//! document gives it (the document is parsed here, so it cannot drift from the export);
//! one order's story and the summary through `execd-replay`; a golden export of a seeded
//! demo run compared byte for byte (`EXECD_BLESS=1 cargo test --test audit_export`
//! rewrites it after an intended change, to be reviewed in the diff).

mod common;

use common::{check_csv, check_jsonl, http_text, schema, LineProc, TempDir};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

fn replay(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_execd-replay"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn demo(dir: &Path, orders: &str, seed: &str) {
    let out = Command::new(env!("CARGO_BIN_EXE_execd"))
        .args(["demo", "--orders", orders, "--seed", seed, "--journal"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A run through the control API that gives most kinds of rows: fills with protection,
/// a replace and a cancel, gate rejections, kill switches, mode, halt, limits, a quote,
/// operator notes, an emergency stop.
fn api_journal(dir: &Path) -> u64 {
    let (proc, url) = LineProc::spawn_api(
        Command::new(env!("CARGO_BIN_EXE_execd"))
            .args(["run", "--listen", "127.0.0.1:0", "--journal"])
            .arg(dir),
    );
    let call = |method: &str, path: &str, body: &str, op: Option<&str>| -> Value {
        let (code, text) = match op {
            None => http_text(method, &format!("{url}{path}"), Some(body), None),
            Some(who) => {
                let r = ureq::request(method, &format!("{url}{path}"))
                    .set("X-Execd-Operator", who)
                    .set("Content-Type", "application/json")
                    .send_string(body);
                match r {
                    Ok(r) => (r.status(), r.into_string().unwrap()),
                    Err(ureq::Error::Status(c, r)) => (c, r.into_string().unwrap()),
                    Err(e) => panic!("{e}"),
                }
            }
        };
        assert!(code < 500, "{method} {path}: {code} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    };
    let filled = call(
        "POST",
        "/v1/executions",
        r#"{"request_id":"t-1","account":"alpha","venue":"paper","symbol":"BTCUSDT","side":"BUY","quantity":"0.01","order_type":"MARKET","stop_loss_offset":"-0.02","take_profit_offset":"0.03","reference_price":"97000","max_slippage_bps":50,"context":{"decision_id":"d-1","strategy":"momo","risk_approved":true,"strategy_version":"v3","risk_version":"r2"}}"#,
        None,
    );
    assert_eq!(filled["status"], "FILLED", "{filled}");
    let resting = call(
        "POST",
        "/v1/executions?wait_ms=200",
        r#"{"request_id":"t-2","account":"alpha","venue":"paper","symbol":"BTCUSDT","side":"BUY","quantity":"0.02","order_type":"LIMIT","limit_price":"95200.00","context":{"decision_id":"d-2","strategy":"momo","risk_approved":true}}"#,
        None,
    );
    let id = resting["order_id"].as_u64().expect("an order id");
    let replaced = call(
        "POST",
        &format!("/v1/orders/{id}/replace?wait_ms=500"),
        r#"{"quantity":"0.03","limit_price":"95300.00"}"#,
        None,
    );
    assert_eq!(replaced["status"], "REPLACED", "{replaced}");
    let canceled = call(
        "POST",
        &format!("/v1/orders/{id}/cancel?wait_ms=500"),
        r#"{"reason":"desk call"}"#,
        Some("alice"),
    );
    assert_eq!(canceled["status"], "CANCELED", "{canceled}");
    call(
        "PUT",
        "/v1/kill-switches",
        r#"{"scope":{"venue":"paper"},"state":"ACTIVE","reason":"drill"}"#,
        Some("bob"),
    );
    let refused = call(
        "POST",
        "/v1/executions",
        r#"{"request_id":"t-3","account":"alpha","venue":"paper","symbol":"BTCUSDT","side":"SELL","quantity":"0.01","order_type":"MARKET","context":{"risk_approved":true}}"#,
        None,
    );
    assert_eq!(refused["status"], "REJECTED", "{refused}");
    call(
        "PUT",
        "/v1/kill-switches",
        r#"{"scope":{"venue":"paper"},"state":"OFF"}"#,
        Some("bob"),
    );
    call(
        "PUT",
        "/v1/mode",
        r#"{"account":"alpha","mode":"GUIDE","reason":"watch"}"#,
        Some("carol"),
    );
    call(
        "PUT",
        "/v1/mode",
        r#"{"account":"alpha","mode":"AUTONOMOUS"}"#,
        Some("carol"),
    );
    call(
        "PUT",
        "/v1/halt",
        r#"{"account":"alpha","halted":true}"#,
        None,
    );
    call(
        "PUT",
        "/v1/halt",
        r#"{"account":"alpha","halted":false}"#,
        None,
    );
    call(
        "PUT",
        "/v1/limits",
        r#"{"venue":"paper","symbol":"BTCUSDT","max_order_qty":"0.5","reason":"desk"}"#,
        Some("dave"),
    );
    call(
        "POST",
        "/v1/quotes",
        r#"{"venue":"paper","symbol":"BTCUSDT","bid":"97000.1","ask":"97001.2","bid_size":"1.5"}"#,
        None,
    );
    call(
        "POST",
        "/v1/emergency-stop",
        r#"{"reason":"end of drill"}"#,
        Some("erin"),
    );
    let (code, lines) = proc.sigterm(20);
    // Emergency stop leaves the global switch ACTIVE, nothing open: a clean stop.
    assert_eq!(code, Some(0), "{lines:#?}");
    id
}

#[test]
fn every_value_of_an_export_is_of_its_documented_type() {
    let s = schema();
    // The document lists exactly the kinds the code writes.
    let mut code_kinds: BTreeSet<String> =
        execd::export::KINDS.iter().map(|k| k.to_string()).collect();
    code_kinds.insert("fix_frame".into());
    let story_kinds = ["sent", "venue_answer", "final", "venue_message"];
    for k in story_kinds {
        code_kinds.insert(k.into());
    }
    assert_eq!(s.kinds, code_kinds, "kinds in docs/audit-export.md");
    // And exactly the columns.
    assert_eq!(s.csv_header().join(","), execd::export::header());

    let dir = TempDir::new("audit-types");
    let d = dir.path().to_str().unwrap();
    api_journal(dir.path());
    let (code, csv_text, err) = replay(&["export", d, "--format", "csv"]);
    assert_eq!(code, Some(0), "{err}");
    let kinds = check_csv(&s, &csv_text);
    for k in [
        "start",
        "request",
        "accepted",
        "rejected",
        "order",
        "fill",
        "protection",
        "command",
        "operator",
        "kill_switch",
        "mode",
        "halt",
        "limits",
    ] {
        assert!(kinds.contains_key(k), "no {k} rows: {kinds:?}");
    }
    let (code, jsonl, err) = replay(&["export", d, "--format", "jsonl"]);
    assert_eq!(code, Some(0), "{err}");
    let rows = check_jsonl(&s, &jsonl);
    assert_eq!(
        rows.len(),
        kinds.values().sum::<usize>(),
        "the same rows in both formats"
    );

    // What was asked is all there, typed: the request as received.
    let req = rows
        .iter()
        .find(|r| r["kind"] == "request" && r["request_id"] == "t-1")
        .unwrap();
    let f = &req["fields"];
    assert_eq!(req["qty"], "0.010", "at the instrument's precision: {req}");
    assert_eq!(f["order_type"], "MARKET");
    assert_eq!(f["time_in_force"], "IOC");
    assert_eq!(f["stop_loss_offset"], "-0.020000");
    assert_eq!(f["take_profit_offset"], "0.030000");
    assert_eq!(f["reference_price"], "97000.00");
    assert_eq!(f["max_slippage_bps"], 50);
    assert_eq!(f["decision_id"], "d-1");
    assert_eq!(f["strategy"], "momo");
    assert_eq!(f["strategy_version"], "v3");
    assert_eq!(f["risk_approved"], true);
    assert_eq!(f["content_hash"].as_str().unwrap().len(), 16);
    // A fill: price, fee and slippage as numbers an auditor can add up.
    let fill = rows.iter().find(|r| r["kind"] == "fill").unwrap();
    assert!(
        fill["fields"]["fee"].as_str().is_some() && fill["fields"]["exec_id"].is_u64(),
        "{fill}"
    );
    assert!(
        fill["fields"]["slippage_bps"].is_string()
            && fill["fields"]["slippage_category"].is_string(),
        "{fill}"
    );
    // Operators are named on their actions; the quote's values are typed.
    let ks = rows
        .iter()
        .find(|r| r["kind"] == "kill_switch" && r["state"] == "ACTIVE")
        .unwrap();
    assert_eq!(
        (
            ks["fields"]["operator"].as_str(),
            ks["fields"]["scope"].as_str(),
            ks["fields"]["scope_name"].as_str()
        ),
        (Some("bob"), Some("venue"), Some("paper")),
        "{ks}"
    );
    let quote = rows
        .iter()
        .find(|r| r["fields"]["command"] == "quote")
        .unwrap();
    assert_eq!(
        (
            quote["fields"]["bid"].as_str(),
            quote["fields"]["ask"].as_str(),
            quote["fields"]["bid_size"].as_str()
        ),
        (Some("97000.10"), Some("97001.20"), Some("1.500")),
        "{quote}"
    );
    let rej = rows.iter().find(|r| r["kind"] == "rejected").unwrap();
    assert_eq!(rej["reason"], "KILL_VENUE");
    assert!(rej["fields"]["reason_text"]
        .as_str()
        .unwrap()
        .contains("kill switch"));
}

#[test]
fn an_orders_story_tells_what_was_asked_sent_answered_and_where_it_ended() {
    let s = schema();
    let dir = TempDir::new("audit-story");
    let d = dir.path().to_str().unwrap();
    let id = api_journal(dir.path());
    let (code, text, err) = replay(&["order", d, &id.to_string()]);
    assert_eq!(code, Some(0), "{err}");
    // The request in full, the gate's decision, the ClOrdID chain, the end.
    for want in [
        "request ",
        "t-2 alpha BUY 0.020 BTCUSDT",
        "limit_price 95200.00",
        "decision_id d-2",
        "accepted",
        "new order, ClOrdID",
        "cancel/replace, ClOrdID",
        "OrigClOrdID",
        "cancel, ClOrdID",
        "REPLACED",
        "CANCELED",
        "final",
        "where it stood at the end of the journal",
    ] {
        assert!(text.contains(want), "no {want:?} in\n{text}");
    }
    let (code, jsonl, err) = replay(&["order", d, "t-2", "--format", "jsonl"]);
    assert_eq!(code, Some(0), "{err}");
    let rows = check_jsonl(&s, &jsonl);
    let sent: Vec<&Value> = rows.iter().filter(|r| r["kind"] == "sent").collect();
    let msgs: Vec<&str> = sent
        .iter()
        .map(|r| r["fields"]["message"].as_str().unwrap())
        .collect();
    assert_eq!(msgs, ["new_order", "replace", "cancel"], "{jsonl}");
    // Each cancel or replace names the ClOrdID that worked before it.
    assert_eq!(
        sent[1]["fields"]["orig_cl_ord_id"],
        sent[0]["fields"]["cl_ord_id"]
    );
    assert_eq!(
        sent[2]["fields"]["orig_cl_ord_id"],
        sent[1]["fields"]["cl_ord_id"]
    );
    let last = rows.last().unwrap();
    assert_eq!(
        (last["kind"].as_str(), last["state"].as_str()),
        (Some("final"), Some("CANCELED")),
        "{last}"
    );
    assert_eq!(rows[0]["kind"], "request", "{jsonl}");

    // The filled order: its fill with price, fee and slippage, its protective children.
    let (code, jsonl, err) = replay(&["order", d, "t-1", "--format", "jsonl"]);
    assert_eq!(code, Some(0), "{err}");
    let rows = check_jsonl(&s, &jsonl);
    let fill = rows
        .iter()
        .find(|r| r["kind"] == "fill")
        .expect("a fill row");
    assert!(
        fill["price"].as_str().is_some_and(|p| !p.is_empty())
            && fill["fields"]["fee"].is_string()
            && fill["fields"]["slippage_bps"].is_string(),
        "{fill}"
    );
    let legs: BTreeSet<u64> = rows
        .iter()
        .filter_map(|r| r["parent"].as_u64().and(r["order"].as_u64()))
        .collect();
    assert_eq!(legs.len(), 2, "stop-loss and take-profit legs: {jsonl}");
    let sent_legs = rows
        .iter()
        .filter(|r| r["kind"] == "sent" && r["parent"].is_u64())
        .count();
    assert!(sent_legs >= 2, "{jsonl}");
    let last = rows.last().unwrap();
    assert_eq!(
        (last["kind"].as_str(), last["state"].as_str()),
        (Some("final"), Some("FILLED")),
        "{last}"
    );
    assert!(
        last["detail"]
            .as_str()
            .unwrap()
            .contains("protective orders: "),
        "{last}"
    );

    // A request the gate refused: asked, refused, nothing sent, ended there.
    let (code, jsonl, err) = replay(&["order", d, "t-3", "--format", "jsonl"]);
    assert_eq!(code, Some(0), "{err}");
    let rows = check_jsonl(&s, &jsonl);
    let kinds: Vec<&str> = rows.iter().map(|r| r["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["request", "rejected", "final"], "{jsonl}");
    assert_eq!(
        (rows[1]["account"].as_str(), rows[1]["symbol"].as_str()),
        (Some("alpha"), Some("BTCUSDT"))
    );
    assert_eq!(
        (
            rows[2]["state"].as_str(),
            rows[2]["reason"].as_str(),
            rows[2]["qty"].as_str()
        ),
        (Some("REJECTED"), Some("KILL_VENUE"), Some("0.010")),
        "{jsonl}"
    );

    let (code, _, err) = replay(&["order", d, "no-such-request"]);
    assert_eq!(code, Some(1), "{err}");
}

#[test]
fn the_summary_adds_up_to_the_export() {
    let dir = TempDir::new("audit-summary");
    let d = dir.path().to_str().unwrap();
    demo(dir.path(), "400", "11");
    let (code, jsonl, err) = replay(&["export", d, "--format", "jsonl"]);
    assert_eq!(code, Some(0), "{err}");
    let rows: Vec<Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let (code, text, err) = replay(&["summary", d]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        text.contains("final states: ")
            && text.contains("latency of marketable orders, accepted -> final"),
        "{text}"
    );
    let (code, json, err) = replay(&["summary", d, "--format", "json"]);
    assert_eq!(code, Some(0), "{err}");
    let sum: Value = serde_json::from_str(&json).unwrap();
    let groups = sum["groups"].as_array().unwrap();
    let total = |k: &str| groups.iter().map(|g| g[k].as_u64().unwrap()).sum::<u64>();
    let count = |k: &str| rows.iter().filter(|r| r["kind"] == k).count() as u64;
    assert_eq!(total("fills"), count("fill") + count("fill_recovered"));
    // Per account, symbol and venue, as the export's own rows count them: requests and
    // gate rejections by what was asked, one final state per request that made an order
    // or was refused.
    let key = |r: &Value| {
        (
            r["account"].as_str().unwrap().to_string(),
            r["symbol"].as_str().unwrap().to_string(),
            r["fields"]["venue"]
                .as_str()
                .or(r["venue"].as_str())
                .unwrap_or("")
                .to_string(),
        )
    };
    let mut want: BTreeMap<(String, String, String), (u64, u64, u64)> = BTreeMap::new();
    for r in &rows {
        let e = want.entry(key(r)).or_default();
        match r["kind"].as_str().unwrap() {
            "request" => e.0 += 1,
            "rejected" => e.1 += 1,
            "accepted" => e.2 += 1,
            _ => {}
        }
    }
    let mut rejected_somewhere = 0;
    let sum_of = |v: &Value| -> u64 {
        v.as_object()
            .unwrap()
            .values()
            .map(|v| v.as_u64().unwrap())
            .sum()
    };
    for g in groups {
        let (requests, rejected, accepted) = want.get(&key(g)).copied().unwrap_or_default();
        assert_eq!(g["requests"].as_u64(), Some(requests), "{g}");
        assert_eq!(g["rejected"].as_u64(), Some(rejected), "{g}");
        assert_eq!(g["accepted"].as_u64(), Some(accepted), "{g}");
        let finals = sum_of(&g["final_states"]);
        assert_eq!(
            finals,
            rejected + accepted,
            "one final state per order: {g}"
        );
        assert_eq!(sum_of(&g["rejections"]), rejected, "{g}");
        rejected_somewhere += rejected;
    }
    assert!(
        rejected_somewhere > 0 && total("requests") > 300,
        "a workload with refusals: {sum}"
    );
    // A window: fewer requests, none outside it.
    let mid = rows[rows.len() / 2]["time"].as_str().unwrap().to_string();
    let (code, json, _) = replay(&["summary", d, "--format", "json", "--to", &mid]);
    assert_eq!(code, Some(0));
    let early: Value = serde_json::from_str(&json).unwrap();
    let early_requests: u64 = early["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["requests"].as_u64().unwrap())
        .sum();
    let want = rows
        .iter()
        .filter(|r| r["kind"] == "request" && r["time"].as_str().unwrap() < mid.as_str())
        .count() as u64;
    assert_eq!(early_requests, want);
    assert!(early_requests < total("requests"));
}

/// A seeded demo's export is the same on every machine and every build, but for the
/// build's name: compared with the committed one, byte for byte.
#[test]
fn a_seeded_runs_export_matches_the_golden_one() {
    let dir = TempDir::new("audit-golden");
    let d = dir.path().to_str().unwrap();
    demo(dir.path(), "40", "7");
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let build = execd::build_id();
    for (format, file) in [("csv", "demo-export.csv"), ("jsonl", "demo-export.jsonl")] {
        let (code, out, err) = replay(&["export", d, "--format", format]);
        assert_eq!(code, Some(0), "{err}");
        match format {
            "csv" => drop(check_csv(&schema(), &out)),
            _ => drop(check_jsonl(&schema(), &out)),
        }
        let out = out.replace(&build, "BUILD");
        let path = golden.join(file);
        if std::env::var_os("EXECD_BLESS").is_some() {
            std::fs::create_dir_all(&golden).unwrap();
            std::fs::write(&path, &out).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (EXECD_BLESS=1 writes it)", path.display()));
        if out != want {
            let (n, (a, b)) = out
                .lines()
                .zip(want.lines())
                .enumerate()
                .find(|(_, (a, b))| a != b)
                .unwrap_or((0, ("(lengths differ)", "")));
            panic!(
                "{file} differs from the golden export at line {}:\n got  {a}\n want {b}",
                n + 1
            );
        }
    }
    let (code, text, err) = replay(&["summary", d]);
    assert_eq!(code, Some(0), "{err}");
    assert!(text.contains("requests "), "{text}");
}
