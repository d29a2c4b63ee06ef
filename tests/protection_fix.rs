//! Protective orders at the broker (R-OMS-5), through the real binaries: `execd run`
//! trading over FIX against `execd-venue-sim`.
//!
//! - Where the venue offers them, a filled order's stop-loss and take-profit go out as
//!   one one-cancels-other NewOrderList with the broker's reduce-only ExecInst, and the
//!   take-profit's fill cancels the stop-loss at the broker.
//! - Where it offers neither, both legs executing in the same instant never leave a
//!   position upstream did not ask for: the excess is flattened and reported.

mod common;

use common::{LineProc, TempDir, VenueSim};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The example FIX configuration on `port`, with `edits` (from, to) applied.
fn config_with(dir: &Path, port: u16, edits: &[(&str, &str)]) -> PathBuf {
    let mut text = std::fs::read_to_string("examples/fix-sim.toml").unwrap();
    for (from, to) in edits {
        assert!(text.contains(from), "{from:?} not in the example");
        text = text.replace(from, to);
    }
    let text = text.replace(
        "SocketConnectPort = 9878",
        &format!("SocketConnectPort = {port}"),
    );
    let p = dir.join("fix-sim.toml");
    std::fs::write(&p, text).unwrap();
    p
}

/// `execd run` sending one order with a stop-loss 2 % and a take-profit 3 % from its fill.
fn execd_run(cfg: &Path, journal: &Path) -> LineProc {
    let mut c = Command::new(env!("CARGO_BIN_EXE_execd"));
    c.args([
        "run",
        "--listen",
        "off",
        "--config",
        cfg.to_str().unwrap(),
        "--journal",
    ])
    .arg(journal)
    .args(["--orders", "1", "--rate", "50", "--protect", "2,3"]);
    LineProc::spawn(&mut c)
}

/// Polls the simulator's status until `done` (bounded).
fn wait_sim(s: &mut VenueSim, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let st = s.status();
        if done(&st) {
            return st;
        }
        assert!(Instant::now() < deadline, "never {what}: {st}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn flat(st: &Value) -> bool {
    st["positions"].as_array().is_some_and(|p| {
        p.iter()
            .all(|p| p["qty"].as_str().unwrap().parse::<f64>().unwrap() == 0.0)
    })
}

fn replay(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_execd-replay"))
        .args(args)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "execd-replay {args:?}: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// The journal's export rows of `kind`.
fn rows(journal: &Path, kind: &str) -> Vec<Value> {
    let j = journal.to_str().unwrap();
    replay(&["export", j, "--format", "jsonl", "--kind", kind])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn files_holding(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().map_while(Result::ok) {
        let p = e.path();
        if p.is_dir() {
            found.extend(files_holding(&p, needle));
        } else if std::fs::read(&p).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle)) {
            found.push(p);
        }
    }
    found
}

#[test]
fn protection_goes_to_the_broker_as_a_reduce_only_oco_list() {
    let dir = TempDir::new("protect-oco");
    // A broker that links the legs and honours reduce-only, validating what it gets
    // against the FIX 5.0SP2 dictionary (which has ContingencyType).
    let mut s = VenueSim::start(&[
        "--policy",
        "fill",
        "--oco-lists",
        "--reduce-only-exec-inst",
        "E",
        "--dict-dir",
        "fix-dictionaries",
    ]);
    let cfg = config_with(
        &dir,
        s.port,
        &[
            (
                "BeginString = \"FIX.4.4\"",
                "BeginString = \"FIXT.1.1\"\nOcoOrderList = true\nReduceOnlyExecInst = \"E\"",
            ),
            (
                "DataDictionary = \"FIX.4.4\"",
                "TransportDataDictionary = \"FIXT.1.1\"\nAppDataDictionary = \"FIX.5.0SP2\"",
            ),
        ],
    );
    let journal = dir.join("journal");
    let p = execd_run(&cfg, &journal);
    // The parent and the take-profit filled (it fills at once: a limit at the fill
    // policy), the broker cancelled the stop-loss itself, nothing is left open.
    let st = wait_sim(&mut s, "the list done", |st| {
        st["lists"].as_u64() == Some(1)
            && st["oco_cancels"].as_u64() == Some(1)
            && st["open_orders"].as_u64() == Some(0)
    });
    let (code, lines) = p.sigterm(30);
    assert_eq!(code, Some(0), "{lines:#?}");
    // The broker's answers (ListStatus included) validate against execd's dictionary.
    assert!(
        lines
            .iter()
            .any(|l| l.contains("next sequence numbers out") && l.contains(" 0 invalid")),
        "{lines:#?}"
    );
    assert_eq!(st["fills"].as_u64(), Some(2), "{st}");
    assert_eq!(
        st["session_rejects_sent"].as_u64(),
        Some(0),
        "valid lists: {st}"
    );
    assert_eq!(st["business_rejects"].as_u64(), Some(0), "{st}");
    assert!(flat(&st), "{st}");
    // What went on the wire: one NewOrderList, OCO, both legs reduce-only.
    let fix = journal.join("fix");
    for needle in ["\x0135=E\x01", "\x011385=1\x01", "\x0118=E\x01"] {
        assert!(
            !files_holding(&fix, needle.as_bytes()).is_empty(),
            "{needle:?} was sent"
        );
    }
    // The journal: the legs, the take-profit filled and the stop-loss canceled there.
    let prot = rows(&journal, "protection");
    assert_eq!(prot.len(), 1, "{prot:?}");
    let orders = rows(&journal, "order");
    let last_state = |id: u64| {
        orders
            .iter()
            .rev()
            .find(|r| r["order"].as_u64() == Some(id))
            .map(|r| r["state"].as_str().unwrap().to_string())
    };
    let leg = |name: &str| -> u64 { prot[0]["fields"][name].as_u64().unwrap() };
    let (sl, tp) = (leg("stop_loss_order"), leg("take_profit_order"));
    assert_eq!(last_state(tp).as_deref(), Some("FILLED"), "{orders:?}");
    assert_eq!(last_state(sl).as_deref(), Some("CANCELED"), "{orders:?}");
    assert!(rows(&journal, "protection_overfill").is_empty());
    assert!(rows(&journal, "unprotected").is_empty());
    replay(&["verify", journal.to_str().unwrap()]);
}

#[test]
fn emulated_oco_flattens_what_both_legs_filling_at_once_opened() {
    let dir = TempDir::new("protect-race");
    // A broker with neither OCO nor reduce-only, where both legs execute on arrival.
    let mut s = VenueSim::start(&[
        "--policy",
        "fill",
        "--stops-at-once",
        "--dict-dir",
        "fix-dictionaries",
    ]);
    let cfg = config_with(&dir, s.port, &[]);
    let journal = dir.join("journal");
    let p = execd_run(&cfg, &journal);
    // Parent, stop-loss, take-profit and the flattening market order: four fills, and
    // the position at the broker back to flat.
    let st = wait_sim(&mut s, "flat after four fills", |st| {
        st["fills"].as_u64() == Some(4) && st["open_orders"].as_u64() == Some(0) && flat(st)
    });
    let (code, lines) = p.sigterm(30);
    // The position was, for a moment, one upstream never asked for: a human looks (exit
    // 3, one OMS anomaly), though it is flat again.
    assert_eq!(code, Some(3), "{lines:#?}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("stopped with problems") && l.contains(" 1 OMS anomalies")),
        "{lines:#?}"
    );
    assert_eq!(st["lists"].as_u64(), Some(0), "{st}");
    // Reported: which leg over-filled, by how much, and the order that flattened it.
    let over = rows(&journal, "protection_overfill");
    assert_eq!(over.len(), 1, "{over:?}");
    let prot = rows(&journal, "protection");
    assert_eq!(prot.len(), 1, "{prot:?}");
    assert_eq!(over[0]["qty"], prot[0]["qty"], "the whole leg was excess");
    assert!(over[0]["fields"]["flatten_order"].is_u64(), "{over:?}");
    // Not a single order of the sim's was on the broker's reduce-only list.
    assert!(files_holding(&journal.join("fix"), b"\x0118=E\x01").is_empty());
    // Replay rebuilds the same events, the flattening order included.
    replay(&["verify", journal.to_str().unwrap()]);
}

#[test]
fn a_refused_list_leaves_the_position_reported_unprotected() {
    let dir = TempDir::new("protect-refused");
    // Every second new order is refused: the parent passes, the list's first leg does
    // not, so the broker refuses the whole list.
    let mut s = VenueSim::start(&[
        "--policy",
        "fill",
        "--oco-lists",
        "--reject-every",
        "2",
        "--dict-dir",
        "fix-dictionaries",
    ]);
    let cfg = config_with(
        &dir,
        s.port,
        &[
            (
                "BeginString = \"FIX.4.4\"",
                "BeginString = \"FIXT.1.1\"\nOcoOrderList = true",
            ),
            (
                "DataDictionary = \"FIX.4.4\"",
                "TransportDataDictionary = \"FIXT.1.1\"\nAppDataDictionary = \"FIX.5.0SP2\"",
            ),
        ],
    );
    let journal = dir.join("journal");
    let p = execd_run(&cfg, &journal);
    let st = wait_sim(&mut s, "the list refused", |st| {
        st["rejects"].as_u64() == Some(1)
    });
    // Give execd the moment to read the refusal before stopping it.
    let deadline = Instant::now() + Duration::from_secs(10);
    while rows_live(&journal) < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let (code, lines) = p.sigterm(30);
    assert_eq!(code, Some(3), "a human is needed: {lines:#?}");
    assert_eq!(st["lists"].as_u64(), Some(0), "{st}");
    assert_eq!(st["fills"].as_u64(), Some(1), "only the parent: {st}");
    // Both legs rejected, each reported: the position stands without protection.
    let un = rows(&journal, "unprotected");
    assert_eq!(un.len(), 2, "{un:?}");
    let prot = rows(&journal, "protection");
    assert_eq!(prot.len(), 1, "{prot:?}");
    for r in &un {
        assert_eq!(r["order"], prot[0]["order"], "about the parent: {r}");
        assert_eq!(r["reason"], "VENUE_REJECTED", "{r}");
    }
    assert!(
        !flat(&s.status()),
        "the parent's position stays, unprotected"
    );
    replay(&["verify", journal.to_str().unwrap()]);
}

/// How many `unprotected` rows the journal holds so far (read while execd runs).
fn rows_live(journal: &Path) -> usize {
    let out = Command::new(env!("CARGO_BIN_EXE_execd-replay"))
        .args([
            "export",
            journal.to_str().unwrap(),
            "--format",
            "jsonl",
            "--kind",
            "unprotected",
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).lines().count()
}

#[test]
fn a_venue_whose_dictionary_cannot_carry_them_is_refused_at_start() {
    let dir = TempDir::new("protect-refused-start");
    // FIX 4.4 has no ContingencyType: OcoOrderList cannot be honoured, so execd does
    // not start (rather than find out at the first fill). No broker is needed.
    let cfg = config_with(
        &dir,
        9,
        &[(
            "BeginString = \"FIX.4.4\"",
            "BeginString = \"FIX.4.4\"\nOcoOrderList = true",
        )],
    );
    let (code, lines) = execd_run(&cfg, &dir.join("journal")).finish(30);
    assert_eq!(code, Some(2), "{lines:#?}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("OcoOrderList") && l.contains("ContingencyType (1385)")),
        "{lines:#?}"
    );
    // With the overlay that adds it, the same session starts (and waits for its broker).
    let cfg = config_with(
        &dir,
        9,
        &[
            (
                "BeginString = \"FIX.4.4\"",
                "BeginString = \"FIX.4.4\"\nOcoOrderList = true",
            ),
            (
                "overlays/venue-sim.xml\"]",
                "overlays/venue-sim.xml\", \"fix-dictionaries/overlays/oco-fix44.xml\"]",
            ),
        ],
    );
    let mut p = execd_run(&cfg, &dir.join("journal2"));
    assert!(p.wait_line("running (", 30).is_some(), "it starts");
    let (code, lines) = p.sigterm(30);
    assert!(matches!(code, Some(0 | 1)), "{lines:#?}");
}
