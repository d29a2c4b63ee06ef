//! Reconciliation (R-AUD-4, R-RES-4) through the real binaries: `execd run` over FIX
//! against `execd-venue-sim`, whose books are made to disagree with execd's by its
//! fault commands (a position it invents, an order it forgets), found by the report,
//! held in the gate, resolved by an operator over the HTTP API; a restart that
//! reconciles before it trades; and SIGKILLs mid-trading, the broker restarting too.

mod common;

use common::{http_text, LineProc, TempDir, VenueSim};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The broker: rests limits away from the market, moves slowly (so they stay resting).
fn sim(store: &Path, extra: &[&str]) -> VenueSim {
    let mut args = vec![
        "--policy",
        "book",
        "--volatility-bps",
        "1",
        "--store",
        store.to_str().unwrap(),
        "--dict-dir",
        "fix-dictionaries",
    ];
    args.extend_from_slice(extra);
    VenueSim::start(&args)
}

fn config(dir: &Path, port: u16) -> PathBuf {
    let text = std::fs::read_to_string("examples/fix-sim.toml")
        .unwrap()
        .replace(
            "SocketConnectPort = 9878",
            &format!("SocketConnectPort = {port}"),
        );
    assert!(text.contains("MassStatusOnLogon = true") && text.contains("PositionsOnLogon = true"));
    // A second account, which execd never trades here: the broker may still hold
    // something for it.
    let text = format!(
        "{text}\n[[accounts]]\nname = \"beta\"\nmode = \"AUTONOMOUS\"\ncash = \"1000000\"\nmax_open_orders = 100\n"
    );
    let p = dir.join("fix-sim.toml");
    std::fs::write(&p, text).unwrap();
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

/// `execd-replay WHAT JOURNAL [ARG]`: standard output, after checking it succeeded.
fn replay(what: &str, journal: &Path, arg: Option<&str>) -> String {
    let mut c = Command::new(env!("CARGO_BIN_EXE_execd-replay"));
    c.arg(what).arg(journal);
    if let Some(a) = arg {
        c.arg(a);
    }
    let out = c.output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "execd-replay {what}: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

fn call(method: &str, url: &str, body: Option<Value>) -> (u16, Value) {
    let b = body.map(|b| b.to_string());
    let (code, text) = http_text(method, url, b.as_deref(), None);
    let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (code, v)
}

fn operator(method: &str, url: &str, body: Value) -> (u16, Value) {
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(20))
        .build();
    let r = agent
        .request(method, url)
        .set("X-Execd-Operator", "dana")
        .set("Content-Type", "application/json")
        .send_string(&body.to_string());
    let r = match r {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{method} {url}: {e}"),
    };
    (r.status(), r.into_json().unwrap())
}

fn quote(url: &str) {
    for (sym, bid, ask) in [("AAPL", "99.99", "100.01"), ("MSFT", "99.99", "100.01")] {
        let (code, v) = call(
            "POST",
            &format!("{url}/v1/quotes"),
            Some(
                json!({"venue": "sim", "symbol": sym, "bid": bid, "ask": ask,
                        "bid_size": "5000", "ask_size": "5000"}),
            ),
        );
        assert_eq!(code, 200, "{v}");
    }
}

fn submit(url: &str, body: Value) -> Value {
    quote(url);
    let (code, v) = call("POST", &format!("{url}/v1/executions"), Some(body));
    assert!(matches!(code, 200 | 201 | 202 | 422), "{code} {v}");
    v
}

fn market(id: &str, sym: &str, side: &str, qty: &str) -> Value {
    json!({"request_id": id, "account": "alpha", "venue": "sim", "symbol": sym,
           "side": side, "quantity": qty, "order_type": "MARKET",
           "context": {"risk_approved": true}})
}

fn reports(url: &str) -> Vec<Value> {
    let (code, v) = call("GET", &format!("{url}/v1/reconciliation"), None);
    assert_eq!(code, 200, "{v}");
    v["reports"].as_array().cloned().unwrap_or_default()
}

/// Waits for report number `n` and returns it whole.
fn report(url: &str, n: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if reports(url).iter().any(|r| r["report"] == n) {
            let (code, v) = call("GET", &format!("{url}/v1/reconciliation/{n}"), None);
            assert_eq!(code, 200, "{v}");
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "no report {n}: {:?}",
            reports(url)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Asks for a reconciliation now and returns its report.
fn reconcile(url: &str) -> Value {
    let n = reports(url).len() as u64;
    let (code, v) = operator(
        "POST",
        &format!("{url}/v1/reconciliation"),
        json!({"venue": "sim", "reason": "test"}),
    );
    assert_eq!(code, 202, "{v}");
    report(url, n + 1)
}

fn lines<'a>(r: &'a Value, status: &str) -> Vec<&'a Value> {
    r["lines"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["status"] == status)
        .collect()
}

fn wait_status(url: &str, request: &str, want: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, v) = call("GET", &format!("{url}/v1/executions/{request}"), None);
        if v["status"] == want {
            return v;
        }
        assert!(Instant::now() < deadline, "{request}: {v}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn every_difference_is_found_held_and_resolved_by_an_operator() {
    let dir = TempDir::new("recon-statuses");
    let mut s = sim(&dir.join("sim"), &[]);
    let cfg = config(&dir, s.port);
    let journal = dir.join("journal");
    let (p, url) = execd(&cfg, &journal);

    // At logon: asked, and nothing to compare yet.
    let first = report(&url, 1);
    assert_eq!(
        (
            &first["result"],
            &first["orders_checked"],
            &first["positions_checked"]
        ),
        (&json!("MATCHED"), &json!(true), &json!(true)),
        "{first}"
    );

    // A position, a resting order, and a position protected by a take-profit leg.
    let v = submit(&url, market("buy-1", "AAPL", "BUY", "10"));
    assert_eq!(v["status"], "FILLED", "{v}");
    let mut rest = market("rest-1", "AAPL", "BUY", "3");
    rest["order_type"] = json!("LIMIT");
    rest["limit_price"] = json!("96.00");
    rest["time_in_force"] = json!("GTC");
    submit(&url, rest);
    let resting = wait_status(&url, "rest-1", "NEW");
    let mut prot = market("prot-1", "MSFT", "BUY", "4");
    prot["take_profit"] = json!("104.00");
    let v = submit(&url, prot);
    assert_eq!(v["status"], "FILLED", "{v}");
    let tp = v["take_profit"]["order_id"]
        .as_u64()
        .expect("a take-profit leg");
    let clean = reconcile(&url);
    assert_eq!(clean["result"], "MATCHED", "{clean:#}");
    assert_eq!(
        lines(&clean, "MATCHED").len(),
        4,
        "two positions, the resting order and the take-profit leg: {clean:#}"
    );

    // The broker loses the take-profit leg: the position is unprotected there.
    // The leg's ClOrdID is its order id under the parent's epoch, first version
    // (`<epoch hex>-<order>-<version>`, as every ClOrdID execd sends).
    let epoch = v["cl_ord_id"]
        .as_str()
        .unwrap()
        .split('-')
        .next()
        .unwrap()
        .to_string();
    let leg_cl = format!("{epoch}-{tp}-0");
    assert_eq!(s.cmd(&format!("forget-order {leg_cl}"))["found"], true);
    let r = reconcile(&url);
    let sltp = lines(&r, "MISSING_SL_TP");
    assert_eq!(sltp.len(), 1, "{r:#}");
    assert_eq!(
        (&sltp[0]["symbol"], &sltp[0]["ours"]),
        (&json!("MSFT"), &json!("4"))
    );
    assert!(
        lines(&r, "MISMATCH")
            .iter()
            .any(|l| l["order"] == tp && l["theirs_state"] == "NOT_LISTED"),
        "{r:#}"
    );
    // Held: a new MSFT order waits for a human; AAPL still trades.
    let v = submit(&url, market("held-1", "MSFT", "BUY", "1"));
    assert_eq!(v["reason"]["code"], "RECONCILIATION_REQUIRED", "{v}");
    let v = submit(&url, market("free-1", "AAPL", "BUY", "1"));
    assert_eq!(v["status"], "FILLED", "{v}");

    // More drift: the resting order lost, AAPL flat at the broker, MSFT larger there,
    // and a position in an account execd never traded.
    let cl = resting["cl_ord_id"].as_str().unwrap().to_string();
    assert_eq!(s.cmd(&format!("forget-order {cl}"))["found"], true);
    s.cmd("invent-position alpha AAPL -11");
    s.cmd("invent-position alpha MSFT 5");
    s.cmd("invent-position beta AAPL 3");
    let r = reconcile(&url);
    assert_eq!(r["result"], "MISMATCH", "{r:#}");
    let line = |status: &str, account: &str, symbol: &str| -> Value {
        lines(&r, status)
            .into_iter()
            .find(|l| l["account"] == account && l["symbol"] == symbol && l["what"] == "position")
            .cloned()
            .unwrap_or_else(|| panic!("no {status} {account} {symbol}: {r:#}"))
    };
    let l = line("MISSING_POSITION", "alpha", "AAPL");
    assert_eq!(
        (&l["ours"], &l["theirs"]),
        (&json!("11"), &json!("0")),
        "{l}"
    );
    let l = line("MISMATCH", "alpha", "MSFT");
    assert_eq!(
        (&l["ours"], &l["theirs"]),
        (&json!("4"), &json!("9")),
        "{l}"
    );
    let l = line("PHANTOM_POSITION", "beta", "AAPL");
    assert_eq!(
        (&l["ours"], &l["theirs"]),
        (&json!("0"), &json!("3")),
        "{l}"
    );
    assert!(
        lines(&r, "MISMATCH")
            .iter()
            .any(|l| l["order"] == resting["order_id"] && l["theirs_state"] == "NOT_LISTED"),
        "{r:#}"
    );
    let v = submit(&url, market("held-2", "AAPL", "BUY", "1"));
    assert_eq!(v["reason"]["code"], "RECONCILIATION_REQUIRED", "{v}");

    // The operator resolves: alpha's AAPL kept as execd has it (they will act at the
    // broker), alpha's MSFT and beta's AAPL accepted from the venue.
    let (code, v) = operator(
        "POST",
        &format!("{url}/v1/reconciliation/resolve"),
        json!({"venue": "sim", "account": "alpha", "symbol": "AAPL", "keep": "ours",
               "reason": "broker ticket 42"}),
    );
    assert_eq!(
        (code, &v["released"], &v["restated"]),
        (200, &json!(1), &json!(0)),
        "{v}"
    );
    let (code, v) = operator(
        "POST",
        &format!("{url}/v1/reconciliation/resolve"),
        json!({"venue": "sim", "keep": "venue", "reason": "broker is right"}),
    );
    assert_eq!((code, &v["restated"]), (200, &json!(2)), "{v}");
    let (_, pos) = call("GET", &format!("{url}/v1/positions"), None);
    let text = pos.to_string();
    assert!(
        text.contains("\"9\"") && text.contains("\"3\""),
        "restated: {pos}"
    );
    // A reason is required.
    let (code, v) = operator(
        "POST",
        &format!("{url}/v1/reconciliation/resolve"),
        json!({"venue": "sim", "keep": "ours", "reason": " "}),
    );
    assert_eq!(code, 400, "{v}");
    let v = submit(&url, market("after-1", "AAPL", "BUY", "1"));
    assert_eq!(
        v["status"], "FILLED",
        "trading again after the resolution: {v}"
    );

    let (code, out) = p.sigterm(30);
    assert_eq!(code, Some(0), "{out:#?}");
    s.quit();

    // The files beside the journal, and the replay tool's view of them.
    let files: Vec<_> = std::fs::read_dir(journal.join("reconciliation"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    // At logon, clean, the lost leg, the drift.
    assert_eq!(
        files.iter().filter(|f| f.ends_with(".json")).count(),
        4,
        "{files:?}"
    );
    assert_eq!(
        files.iter().filter(|f| f.ends_with(".json")).count(),
        files.iter().filter(|f| f.ends_with(".csv")).count(),
        "{files:?}"
    );
    let text = replay("recon", &journal, None);
    assert!(
        text.contains("MISMATCH") && text.contains("operator"),
        "{text}"
    );
    assert!(
        text.contains("by dana (broker ticket 42)") && text.contains("by dana (broker is right)"),
        "{text}"
    );
    // A report whose files are gone (the sidecar could not write them) is still shown,
    // from the journal's records.
    for f in &files {
        if f.contains("-r0002.") {
            std::fs::remove_file(journal.join("reconciliation").join(f)).unwrap();
        }
    }
    let text = replay("recon", &journal, None);
    assert!(text.contains("(journal only) report 2"), "{text}");
    let text = replay("recon", &journal, Some("2"));
    assert!(
        text.contains("report 2 of venue sim") && text.contains("MATCHED"),
        "{text}"
    );
    // The report replays from the journal as the live core made it.
    replay("verify", &journal, None);
    // And its export, FIX frames and all, is of the documented types (docs/audit-export.md):
    // reconciliation lines, reports and resolutions, sessions, quotes, operators.
    let schema = common::schema();
    for format in ["csv", "jsonl"] {
        let out = Command::new(env!("CARGO_BIN_EXE_execd-replay"))
            .args([
                "export",
                journal.to_str().unwrap(),
                "--with-fix",
                "--format",
                format,
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        if format == "csv" {
            let kinds = common::check_csv(&schema, &text);
            for k in [
                "reconciliation",
                "reconciliation_report",
                "reconciliation_resolved",
                "venue_session",
                "fix_frame",
            ] {
                assert!(kinds.contains_key(k), "no {k} rows: {kinds:?}");
            }
        } else {
            common::check_jsonl(&schema, &text);
        }
    }
}

#[test]
fn a_restart_reconciles_before_it_trades() {
    let dir = TempDir::new("recon-restart");
    // Every answer of the broker takes 400 ms: the window between logon and report is
    // wide enough to see.
    let s = sim(&dir.join("sim"), &["--latency-us", "400000"]);
    let cfg = config(&dir, s.port);
    let journal = dir.join("journal");
    let (p, url) = execd(&cfg, &journal);
    report(&url, 1);
    let v = submit(&url, market("before-1", "AAPL", "BUY", "5"));
    assert!(v["status"] == "FILLED" || v["status"] == "NEW", "{v}");
    wait_status(&url, "before-1", "FILLED");
    p.sigkill();

    let (p, url) = execd(&cfg, &journal);
    // At once after the restart: the venue is not reconciled yet.
    let v = submit(&url, market("early-1", "AAPL", "BUY", "1"));
    assert_eq!(v["reason"]["code"], "RECONCILING", "{v}");
    // The report after the restart matches the position execd rebuilt from its journal.
    let deadline = Instant::now() + Duration::from_secs(30);
    let after = loop {
        let all = reports(&url);
        if let Some(r) = all
            .iter()
            .rev()
            .find(|r| r["trigger"] == "start" && r["report"].as_u64() > Some(1))
        {
            break r.clone();
        }
        assert!(Instant::now() < deadline, "{all:?}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(after["result"], "MATCHED", "{after}");
    let v = submit(&url, market("late-1", "AAPL", "BUY", "1"));
    assert!(
        v["status"] == "FILLED" || v["status"] == "NEW" || v["status"] == "PENDING_NEW",
        "trading once reconciled: {v}"
    );
    let (code, out) = p.sigterm(30);
    assert_eq!(code, Some(0), "{out:#?}");
    s.quit();
}

/// Submits protected market orders (a take-profit leg rests at the broker for each) as
/// fast as answers come, until `stop`; errors (execd killed under it) end nothing.
fn trade(url: String, prefix: String, stop: std::sync::Arc<std::sync::atomic::AtomicBool>) {
    use std::sync::atomic::Ordering;
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(5))
        .build();
    let mut k = 0;
    while !stop.load(Ordering::Acquire) {
        k += 1;
        for (sym, bid, ask) in [("AAPL", "99.99", "100.01"), ("MSFT", "99.99", "100.01")] {
            let _ = agent
                .post(&format!("{url}/v1/quotes"))
                .send_json(json!({"venue": "sim", "symbol": sym, "bid": bid, "ask": ask}));
        }
        let mut req = market(
            &format!("{prefix}-{k}"),
            ["AAPL", "MSFT"][k % 2],
            "BUY",
            "1",
        );
        req["take_profit"] = json!("110.00");
        if agent
            .post(&format!("{url}/v1/executions?wait_ms=0"))
            .send_json(req)
            .is_err()
        {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

fn json_reports(journal: &Path) -> Vec<execd::sidecar::recon::ReportFile> {
    execd::sidecar::recon::list(journal)
        .unwrap()
        .into_iter()
        .map(|(_, r)| r)
        .collect()
}

#[test]
fn sigkill_while_protected_orders_trade_and_every_restart_reconciles_matched() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let dir = TempDir::new("recon-chaos");
    let mut s = sim(&dir.join("sim"), &[]);
    let port = s.port.to_string();
    let cfg = config(&dir, s.port);
    let journal = dir.join("journal");
    let mut rng = fastrand::Rng::with_seed(11);
    let rounds = 4;
    for round in 0..=rounds {
        let before = json_reports(&journal).len();
        let (p, url) = execd(&cfg, &journal);
        // This start's reports: the one at logon, and, when orders were in flight at the
        // kill, the one after the broker settled them. The last must be clean.
        let deadline = Instant::now() + Duration::from_secs(30);
        let last = loop {
            let all = json_reports(&journal);
            if let Some(r) = all[before.min(all.len())..]
                .iter()
                .rev()
                .find(|r| r.trigger == "start" && r.in_flight == 0)
            {
                break r.clone();
            }
            assert!(
                Instant::now() < deadline,
                "round {round}: {:#?}",
                &all[before.min(all.len())..]
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        let odd: Vec<_> = last
            .lines
            .iter()
            .filter(|l| l.status != "MATCHED")
            .collect();
        println!(
            "round {round}: report {} after the start, {} lines, in flight at the first {}, {} reports this start",
            last.report,
            last.lines.len(),
            json_reports(&journal)[before..].first().map_or(0, |r| r.in_flight),
            json_reports(&journal).len() - before
        );
        assert_eq!(
            (last.result.as_str(), odd.len()),
            ("MATCHED", 0),
            "round {round}: {odd:#?}"
        );
        if round == rounds {
            let (code, out) = p.sigterm(30);
            assert_eq!(code, Some(0), "{out:#?}");
            break;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let t = {
            let (url, stop) = (url.clone(), stop.clone());
            std::thread::spawn(move || trade(url, format!("r{round}"), stop))
        };
        std::thread::sleep(Duration::from_millis(300 + rng.u64(0..700)));
        p.sigkill();
        stop.store(true, Ordering::Release);
        t.join().unwrap();
        // Every other round the broker restarts too (a clean stop: it keeps its books
        // and sequence numbers in its store, as a broker does).
        if round % 2 == 1 {
            s.quit();
            s = sim(&dir.join("sim"), &["--port", &port]);
        }
    }
    // It traded, and the restarted broker still holds what it did (its counters count
    // this run only; its books came back from its store).
    let st = s.status();
    assert!(
        st["positions"].as_array().is_some_and(|p| !p.is_empty())
            && st["open_orders"].as_u64() > Some(10),
        "{st}"
    );
    s.quit();
    replay("verify", &journal, None);
}
