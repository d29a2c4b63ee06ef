//! The `execd` binary through its command line: demo determinism, the daemon's clean
//! shutdown on a signal, and config checking.

mod common;

use common::TempDir;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn execd() -> Command {
    Command::new(env!("CARGO_BIN_EXE_execd"))
}

/// Waits for `child` to exit within `limit`; kills it and fails the test otherwise.
fn wait_within(
    child: &mut std::process::Child,
    limit: Duration,
    what: &str,
) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not stop within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The demo summary without the lines that carry wall-clock timings.
fn demo(orders: u64, seed: u64) -> String {
    let out = execd()
        .args([
            "demo",
            "--orders",
            &orders.to_string(),
            "--seed",
            &seed.to_string(),
        ])
        .output()
        .expect("execd demo runs");
    assert!(
        out.status.success(),
        "demo failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("throughput"), "{text}");
    text.lines()
        .filter(|l| !l.starts_with("latency") && !l.starts_with("throughput"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn demo_is_deterministic_under_a_seed() {
    let a = demo(20_000, 11);
    let b = demo(20_000, 11);
    assert_eq!(a, b, "same seed and count must print the same summary");
    let c = demo(20_000, 12);
    assert_ne!(a, c, "another seed gives another run");
    for needle in [
        "FILLED",
        "rejections by reason",
        "MODE_GUIDE",
        "slippage",
        "reconciliation  18 of 18",
    ] {
        assert!(a.contains(needle), "summary lacks {needle:?}:\n{a}");
    }
}

#[test]
fn run_stops_cleanly_on_sigterm_and_sigint() {
    for sig in ["TERM", "INT"] {
        let mut child = execd()
            .args(["run", "--listen", "off"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("execd run starts");
        std::thread::sleep(Duration::from_millis(300));
        assert!(child.try_wait().unwrap().is_none(), "daemon exited early");
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
        let status = wait_within(
            &mut child,
            Duration::from_secs(10),
            &format!("execd run after SIG{sig}"),
        );
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        assert!(status.success(), "exit {status:?}: {err}");
        assert!(err.contains("stopped cleanly"), "{err}");
    }
}

#[test]
fn check_config_accepts_the_example_and_names_the_bad_key() {
    let dir = TempDir::new("cfg");
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/paper.toml");
    let out = execd().args(["check-config", example]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("ok (1 venues, 6 instruments, 3 accounts)")
    );

    let text = std::fs::read_to_string(example).unwrap();
    let cases = [
        (
            text.replacen("lot = \"0.001\"", "lot = \"0\"", 1),
            "instruments[3].lot",
        ),
        (
            text.replacen("mode = \"AUTONOMOUS\"", "mode = \"YOLO\"", 1),
            "YOLO",
        ),
        (
            text.replacen("timeout_ms = 30000", "timeout_ms = 0", 1),
            "venues[0].timeout_ms",
        ),
        (
            text.replacen("hours = \"24/7\"", "hours = \"always\"", 1),
            "instruments[3].hours",
        ),
        (
            text.replacen("[gate]", "[gate]\nmax_quote_age = 1", 1),
            "max_quote_age",
        ),
    ];
    for (i, (bad, key)) in cases.iter().enumerate() {
        let f = dir.join(format!("bad{i}.toml"));
        std::fs::write(&f, bad).unwrap();
        let out = execd()
            .args(["check-config", f.to_str().unwrap()])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(key),
            "error for case {i} should name {key:?}: {err}"
        );
    }
    let missing = execd()
        .args(["check-config", "/nonexistent/execd.toml"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot read"));
}

#[test]
fn check_config_reports_fix_dictionaries_and_what_overlays_change() {
    let dir = std::env::temp_dir().join(format!("execd-cfg-fix-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let root = env!("CARGO_MANIFEST_DIR");
    let example = std::fs::read_to_string(format!("{root}/examples/fix-sim.toml")).unwrap();
    let overlay = dir.join("broker.xml");
    std::fs::write(
        &overlay,
        r#"<fix>
  <fields>
    <field number="21" name="HandlInst" type="CHAR"><value enum="1" description="AUTO"/></field>
    <field number="20010" name="Desk" type="STRING"/>
  </fields>
  <messages>
    <message name="NewOrderSingle" msgtype="D" msgcat="app">
      <field name="Account" required="Y"/>
      <field name="Desk" required="N"/>
    </message>
    <message name="Heartbeat" msgtype="0" msgcat="admin" mode="replace"/>
  </messages>
</fix>"#,
    )
    .unwrap();
    let ov = overlay.display().to_string();
    let sim_overlay = format!("{root}/fix-dictionaries/overlays/venue-sim.xml");
    let line = "DictionaryOverlays = [\"fix-dictionaries/overlays/venue-sim.xml\"]";
    assert!(
        example.contains(line),
        "the example names the simulator's overlay"
    );
    let cfg = dir.join("fix.toml");
    std::fs::write(
        &cfg,
        example.replace(
            line,
            &format!("DictionaryOverlays = [{sim_overlay:?}, {ov:?}]"),
        ),
    )
    .unwrap();
    let out = execd()
        .args(["check-config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for want in [
        "venue sim:",
        "dictionary FIX.4.4 (built in)",
        "venue-sim.xml: adds field SimLatencyUs (20001, INT)",
        "venue-sim.xml: ExecutionReport (8): adds SimLatencyUs",
        "broker.xml: field HandlInst (21) no longer accepts 2, 3",
        "broker.xml: adds field Desk (20010, STRING)",
        "broker.xml: Heartbeat (0): removes TestReqID",
        "broker.xml: NewOrderSingle (D): Account now required",
        "broker.xml: NewOrderSingle (D): adds Desk",
        "93 messages, 914 fields",
    ] {
        assert!(text.contains(want), "{want:?} missing from:\n{text}");
    }
    // A dictionary file that is not there fails the check and names it.
    for (from, to) in [
        (
            "DataDictionary = \"FIX.4.4\"",
            "DataDictionary = \"brokers/FIX44.xml\"",
        ),
        (line, "DictionaryOverlays = [\"brokers/missing.xml\"]"),
    ] {
        let bad = dir.join("missing.toml");
        std::fs::write(&bad, example.replace(from, to)).unwrap();
        let out = execd()
            .args(["check-config", bad.to_str().unwrap()])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("venues[0].fix")
                && err.contains("brokers/")
                && err.contains("cannot read"),
            "{err}"
        );
    }
    // A built-in dictionary of another version is refused by name.
    let bad = dir.join("version.toml");
    std::fs::write(
        &bad,
        example.replace(
            "DataDictionary = \"FIX.4.4\"",
            "DataDictionary = \"FIX.4.2\"",
        ),
    )
    .unwrap();
    let out = execd()
        .args(["check-config", bad.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("DataDictionary"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn dictionary_command_writes_what_quickfix_loads() {
    let dir = std::env::temp_dir().join(format!("execd-dict-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (base, begin) in [
        ("FIX.4.2", "major=\"4\" minor=\"2\""),
        ("FIX.4.4", "major=\"4\" minor=\"4\""),
        ("FIXT.1.1", "type=\"FIXT\""),
    ] {
        let out = dir.join(format!("{base}.xml"));
        let st = execd()
            .args(["dictionary", base, "--out", out.to_str().unwrap()])
            .status()
            .unwrap();
        assert!(st.success());
        let text = std::fs::read_to_string(&out).unwrap();
        assert!(text.contains(begin), "{base}");
        let d = execd::venue::fix::dictionary::Dictionary::load(&out, &[]).unwrap();
        assert_eq!(
            d.field_count(),
            execd::venue::fix::dictionary::Dictionary::builtin(base)
                .unwrap()
                .field_count()
        );
    }
    let out = execd().args(["dictionary", "FIX.9.9"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A small paper configuration for `execd run --orders`: two instruments trading around
/// the clock, no silent orders, small journal segments; `max_qty` is the per-order limit
/// of both, and `with_eth` whether the second is configured.
fn flow_config(dir: &TempDir, name: &str, max_qty: &str, with_eth: bool) -> std::path::PathBuf {
    let instrument = |symbol: &str, price: &str| {
        format!(
            "[[instruments]]\nsymbol = \"{symbol}\"\nvenue = \"paper\"\ntick = \"0.01\"\nlot = \"1\"\nmax_order_qty = \"{max_qty}\"\nmax_notional = \"10000000\"\nmax_position = \"100000\"\ninitial_price = \"{price}\"\n\n"
        )
    };
    let text = format!(
        "[core]\nmax_orders = 4096\n\n[journal]\nsegment_kb = 256\n\n[[venues]]\nname = \"paper\"\nkind = \"paper\"\n\n[venues.paper]\nsilent_per_mille = 0\n\n{}{}[[accounts]]\nname = \"alpha\"\nmode = \"AUTONOMOUS\"\ncash = \"100000000\"\n",
        instrument("BTC", "100.00"),
        if with_eth { instrument("ETH", "50.00") } else { String::new() },
    );
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// `execd run --orders N --exit --listen off --journal DIR --config CFG`: exit code,
/// standard output and standard error.
fn run_flow(
    cfg: &std::path::Path,
    journal: &std::path::Path,
    orders: u64,
) -> (Option<i32>, String, String) {
    let out = execd()
        .args([
            "run", "--listen", "off", "--exit", "--rate", "500", "--orders",
        ])
        .arg(orders.to_string())
        .arg("--config")
        .arg(cfg)
        .arg("--journal")
        .arg(journal)
        .output()
        .expect("execd run");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn replay_tool(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_execd-replay"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// R-OPS-3 through the binaries: a restart of `execd run` on the same journal with a
/// lower per-order limit starts, enforces the new limit (orders over it rejected with
/// the gate's code, orders under it accepted), keeps the orders from before, and
/// `execd-replay` shows both configurations and verifies the journal.
#[test]
fn run_restarts_on_its_journal_under_a_changed_limit() {
    let dir = TempDir::new("cli-config");
    let journal = dir.join("journal");
    let first = flow_config(&dir, "first.toml", "5", true);
    let (code, out, err) = run_flow(&first, &journal, 40);
    assert_eq!(code, Some(0), "{out}\n{err}");
    // Every new order (1 to 5 lots) is within 5. An amendment of a resting 5-lot order
    // up to 6 may be refused (which orders rest when the flow amends is timing), and that
    // refusal is a command's, not a request's.
    let flow = out
        .lines()
        .find(|l| l.starts_with("flow: ") && l.contains(" submitted, "))
        .unwrap_or_else(|| panic!("no flow summary: {out}"));
    let count = |what: &str| {
        flow.split(", ")
            .find_map(|p| p.trim_start_matches("flow: ").strip_suffix(what))
            .and_then(|n| n.trim().parse::<u64>().ok())
            .unwrap_or_else(|| panic!("no {what:?} in {flow}"))
    };
    assert_eq!(count(" submitted"), count(" accepted"), "{out}");

    let lower = flow_config(&dir, "lower.toml", "3", true);
    let (code, out, err) = run_flow(&lower, &journal, 40);
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(
        err.contains("the configuration changed: configuration 2 applies from record"),
        "{err}"
    );
    assert!(
        out.contains("MAX_ORDER_QTY"),
        "orders of 4 and 5 lots are over the new limit: {out}"
    );
    assert!(!err.contains(" 0 commands replayed"), "{err}");

    let j = journal.to_str().unwrap();
    let (code, out, err) = replay_tool(&["verify", j]);
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(out.contains("2 configurations"), "{out}");
    // Which build wrote what: the start record names the first, a record each restart.
    let build = execd::build_id();
    assert!(
        out.contains(&format!(" by {build}; configuration fingerprint")),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("  restarted at record ")
                && l.ends_with(&format!(") by {build}"))),
        "{out}"
    );
    let (code, restarts, _) = replay_tool(&["export", j, "--format", "csv", "--kind", "restart"]);
    assert_eq!(code, Some(0));
    assert_eq!(
        restarts.lines().count(),
        2,
        "a header and one restart: {restarts}"
    );
    let (code, out, err) = replay_tool(&["configs", j]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("configuration 1: from record 2 "), "{out}");
    assert!(out.contains("configuration 2: from record "), "{out}");
    assert!(
        out.contains("instruments[0].max_order_qty: \"5\" → \"3\""),
        "{out}"
    );

    // Each row carries the configuration in force: requests of both runs are there, and
    // only those under the second were refused for their size, only those of 4 or 5 lots.
    let (code, out, err) = replay_tool(&["export", j, "--format", "jsonl"]);
    assert_eq!(code, Some(0), "{err}");
    let rows: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let requests = |config: u64| {
        rows.iter()
            .filter(|r| r["kind"] == "request" && r["config"] == config)
            .count()
    };
    assert!(
        requests(1) >= 20 && requests(2) >= 20,
        "{} {}",
        requests(1),
        requests(2)
    );
    assert_eq!(rows.iter().filter(|r| r["kind"] == "config").count(), 1);
    let over: Vec<&serde_json::Value> = rows
        .iter()
        .filter(|r| r["kind"] == "rejected" && r["reason"] == "MAX_ORDER_QTY")
        .collect();
    assert!(!over.is_empty() && over.iter().all(|r| r["config"] == 2));
    let size = |req: &serde_json::Value| {
        rows.iter()
            .find(|r| r["kind"] == "request" && r["request_id"] == req["request_id"])
            .map(|r| r["qty"].as_str().unwrap().parse::<u64>().unwrap())
            .unwrap()
    };
    assert!(over.iter().all(|r| size(r) > 3));
    let accepted_later: Vec<&serde_json::Value> = rows
        .iter()
        .filter(|r| r["kind"] == "accepted" && r["config"] == 2)
        .collect();
    assert!(!accepted_later.is_empty() && accepted_later.iter().all(|r| size(r) <= 3));
    // One order's life says which configuration each of its records ran under.
    let id = accepted_later[0]["request_id"].as_str().unwrap();
    let (code, life, err) = replay_tool(&["order", j, id]);
    assert_eq!(code, Some(0), "{err}");
    assert!(life.contains("[configuration 2]"), "{life}");
}

/// Removing an instrument that still has a position or orders is refused at the start
/// with a sentence naming it, exit code 2, and the journal untouched.
#[test]
fn run_refuses_to_drop_an_instrument_still_held() {
    let dir = TempDir::new("cli-config-drop");
    let journal = dir.join("journal");
    let both = flow_config(&dir, "both.toml", "5", true);
    let (code, out, err) = run_flow(&both, &journal, 40);
    assert_eq!(code, Some(0), "{out}\n{err}");
    let before = common::file_tree(&journal);
    let btc_only = flow_config(&dir, "btc.toml", "5", false);
    let (code, out, err) = run_flow(&btc_only, &journal, 1);
    assert_eq!(code, Some(2), "{out}\n{err}");
    assert!(
        err.contains("instrument paper/ETH was removed but "),
        "{err}"
    );
    assert!(err.contains("keep it in the configuration"), "{err}");
    assert!(
        before == common::file_tree(&journal),
        "a refused start changed the journal"
    );
    let (code, _, err) = replay_tool(&["verify", journal.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{err}");
}

/// A `--orders` flow whose FIX venue never logs on (nothing listens on its port) fails:
/// exit 1, and the last line says "stopped with problems" and why, not "cleanly" with
/// nothing submitted.
#[test]
fn run_says_so_when_its_order_flow_never_reached_the_venue() {
    let dir = TempDir::new("no-logon");
    // A port that was free a moment ago: bound, then closed, so a connect is refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let example = std::fs::read_to_string("examples/fix-sim.toml").unwrap();
    assert!(example.contains("SocketConnectPort = 9878"));
    let cfg = dir.join("fix.toml");
    std::fs::write(
        &cfg,
        example.replace(
            "SocketConnectPort = 9878",
            &format!("SocketConnectPort = {port}"),
        ),
    )
    .unwrap();
    let out = execd()
        .args([
            "run",
            "--listen",
            "off",
            "--exit",
            "--orders",
            "5",
            "--logon-wait",
            "1",
        ])
        .arg("--config")
        .arg(&cfg)
        .arg("--journal")
        .arg(dir.join("j"))
        .output()
        .expect("execd run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    // The verdict is the last line, after positions and balances.
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.starts_with(
            "execd: stopped with problems (the order flow: venue sim did not log on within 1 s): 0 submitted"
        ),
        "{last}"
    );
}

/// A journal that cannot grow (a full disk: here a directory stands where its second
/// segment's file must be made) refuses commands JOURNAL_FAILED instead of wedging the
/// core, the run still stops, and it says what was refused: exit 3, "with problems".
#[test]
fn run_on_a_journal_that_cannot_grow_refuses_commands_and_says_so() {
    let dir = TempDir::new("journal-full");
    let cfg = flow_config(&dir, "small-segments.toml", "100", false);
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("segment_kb = 256", "segment_kb = 32");
    std::fs::write(&cfg, text).unwrap();
    let journal = dir.join("journal");
    std::fs::create_dir_all(journal.join("0000000000000001.journal.tmp")).unwrap();
    let mut child = execd()
        .args(["run", "--listen", "off", "--exit", "--rate", "1000"])
        .args(["--orders", "400", "--config"])
        .arg(&cfg)
        .arg("--journal")
        .arg(&journal)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("execd run");
    let status = wait_within(
        &mut child,
        Duration::from_secs(60),
        "execd run on a journal that cannot grow",
    );
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(status.code(), Some(3), "{err}");
    let refused = err
        .lines()
        .find_map(|l| l.strip_prefix("execd: the journal refused writes: "))
        .unwrap_or_else(|| panic!("no journal line:\n{err}"));
    let commands: u64 = refused
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(commands > 0, "{refused}");
    // The verdict is the last line, after positions and balances.
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("execd: stopped with problems (")
            && last.contains("the journal refused writes"),
        "{last}"
    );
    // Each refused submit was answered by its request id: the flow counted it rejected.
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert!(out.contains("flow: rejected: JOURNAL_FAILED "), "{out}");
    // What the journal took is a consistent prefix: it verifies, and once the disk has
    // room again a restart on it carries on.
    let (code, _, err) = replay_tool(&["verify", journal.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{err}");
    std::fs::remove_dir(journal.join("0000000000000001.journal.tmp")).unwrap();
    let (code, _, err) = run_flow(&cfg, &journal, 20);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("execd: stopped cleanly: "), "{err}");
}

/// The demo's kill-switch line says what its drill did: a run too short to lift the
/// switch says it is still set; a short one lifts it.
#[test]
fn demo_says_what_its_kill_switch_drill_did() {
    let line = |orders: u64| {
        demo(orders, 7)
            .lines()
            .find(|l| l.starts_with("kill switch"))
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(
        line(1),
        "kill switch   MSFT ACTIVE with emergency cancel, still ACTIVE at the end (1 events)"
    );
    assert_eq!(
        line(10),
        "kill switch   MSFT ACTIVE with emergency cancel, then OFF (2 events)"
    );
}
