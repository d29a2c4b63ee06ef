//! `execd run` trading over FIX against `execd-venue-sim`, through the real binaries and
//! real sockets: the README's FIX walkthrough, and a crash (SIGKILL) in the middle of
//! trading, after which the restart continues the session's numbering, asks for what it
//! missed, and loses no fill.

mod common;

use common::{LineProc, TempDir, VenueSim};
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The simulator as a book-keeping broker, its store in `store`, validating what execd
/// sends against the same dictionaries.
fn sim(store: &Path) -> VenueSim {
    VenueSim::start(&[
        "--policy",
        "book",
        "--store",
        store.to_str().unwrap(),
        "--dict-dir",
        "fix-dictionaries",
    ])
}

fn config(dir: &Path, port: u16) -> PathBuf {
    config_with(dir, port, &[])
}

/// The example configuration on `port`, with `edits` (from, to) applied to its text.
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
    assert!(text.contains(&format!("SocketConnectPort = {port}")));
    let p = dir.join("fix-sim.toml");
    std::fs::write(&p, text).unwrap();
    p
}

fn execd_run(cfg: &Path, journal: &Path, orders: u64, exit: bool) -> LineProc {
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
    .args(["--orders", &orders.to_string(), "--rate", "400"]);
    if exit {
        c.arg("--exit");
    }
    LineProc::spawn(&mut c)
}

/// `flow: 40 submitted, 40 accepted, 27 fills, …` → the number before `what`.
fn count(line: &str, what: &str) -> u64 {
    let words: Vec<&str> = line
        .split([' ', ',', '('])
        .filter(|w| !w.is_empty())
        .collect();
    let i = words
        .iter()
        .position(|w| *w == what)
        .unwrap_or_else(|| panic!("no {what:?} in {line:?}"));
    words[i - 1].parse().unwrap()
}

fn replay_verify(journal: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_execd-replay"))
        .arg("verify")
        .arg(journal)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "replay verify failed:\n{text}");
    text
}

fn session(status: &serde_json::Value) -> serde_json::Value {
    let s = status["sessions"].as_array().expect("sessions");
    assert_eq!(s.len(), 1, "{status}");
    s[0].clone()
}

#[test]
fn execd_run_trades_over_fix_with_the_simulator() {
    let dir = TempDir::new("fix-flow");
    let mut s = sim(&dir.join("sim"));
    let cfg = config(&dir, s.port);
    let journal = dir.join("journal");
    let (code, lines) = execd_run(&cfg, &journal, 60, true).finish(60);
    let flow = lines
        .iter()
        .find(|l| l.starts_with("flow: ") && l.contains("submitted"))
        .cloned()
        .unwrap_or_else(|| panic!("no flow summary: {lines:#?}"));
    assert_eq!(code, Some(0), "execd run failed: {lines:#?}");
    let (submitted, accepted) = (count(&flow, "submitted"), count(&flow, "accepted"));
    assert!(submitted >= 40, "{flow}");
    assert_eq!(accepted, submitted, "{flow}\n{lines:#?}");
    assert!(count(&flow, "fills") > 0, "{flow}");
    assert_eq!(count(&flow, "unfinished"), 0, "{flow}");
    // The venue saw exactly what execd sent, and ended with nothing open.
    let st = s.status();
    assert_eq!(st["orders"].as_u64(), Some(accepted), "{st}");
    assert_eq!(st["fills"].as_u64(), Some(count(&flow, "fills")), "{st}");
    assert_eq!(st["open_orders"].as_u64(), Some(0), "{st}");
    let sess = session(&st);
    assert_eq!(
        sess["logged_on"], false,
        "execd logged out at the end: {st}"
    );
    // Both sides agree on the numbers execd printed as it stopped.
    let fix = lines
        .iter()
        .find(|l| l.contains("next sequence numbers out"))
        .expect("session counters at exit");
    let out: u64 = fix
        .split("out ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let inn: u64 = fix
        .split(" in ")
        .nth(1)
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(sess["next_in"].as_u64(), Some(out), "{fix} / {st}");
    assert_eq!(sess["next_out"].as_u64(), Some(inn), "{fix} / {st}");
    // The journal alone rebuilds the same state (venue inputs replayed, events checked).
    let v = replay_verify(&journal);
    assert!(v.contains(&format!("accepted {accepted}")), "{v}");
    fix_frames_in_the_audit_trail(&journal, &v);
}

/// The raw FIX frames are part of the trail (R-AUD-1): `verify` checks the session
/// store beside the journal, `order` lists an order's frames both ways, and a damaged
/// store is refused with its place named.
fn fix_frames_in_the_audit_trail(journal: &Path, verified: &str) {
    assert!(
        verified.contains("FIX store sim: ")
            && verified.contains("every frame's BodyLength and CheckSum checked"),
        "{verified}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_execd-replay"))
        .arg("order")
        .arg(journal)
        .arg("1")
        .output()
        .unwrap();
    let life = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{life}");
    let frames: Vec<&str> = life
        .lines()
        .skip_while(|l| !l.starts_with("FIX frames about order 1 ("))
        .skip(1)
        .collect();
    assert!(
        frames
            .iter()
            .any(|l| l.contains("FIX sim out") && l.contains("|35=D|")),
        "the NewOrderSingle sent: {life}"
    );
    assert!(
        frames
            .iter()
            .any(|l| l.contains("FIX sim in ") && l.contains("|35=8|")),
        "an ExecutionReport received: {life}"
    );
    assert!(
        frames
            .iter()
            .all(|l| l.contains("|11=") && l.ends_with('|')),
        "{life}"
    );
    // Another order's frames are not listed.
    assert!(!frames.iter().any(|l| l.contains("-2-0|")), "{life}");
    // The story tells what the venue answered, from the journaled inputs.
    assert!(
        life.contains("venue_answer")
            && life.contains("acknowledged ")
            && life.contains("execution "),
        "{life}"
    );

    // The export carries them too, with --with-fix, as rows of the order.
    let export = |extra: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_execd-replay"))
            .arg("export")
            .arg(journal)
            .args(["--format", "jsonl", "--order", "1"])
            .args(extra)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .collect::<Vec<_>>()
    };
    let rows = export(&["--with-fix"]);
    // Every value of its documented type (docs/audit-export.md), frames too.
    let jsonl: Vec<String> = rows.iter().map(|r| r.to_string()).collect();
    common::check_jsonl(&common::schema(), &jsonl.join("\n"));
    let frames: Vec<_> = rows.iter().filter(|r| r["kind"] == "fix_frame").collect();
    assert!(frames.iter().all(|r| r["order"] == 1), "{frames:#?}");
    assert!(
        frames.iter().any(|r| r["state"] == "out"
            && r["fields"]["venue"] == "sim"
            && r["fields"]["msg_type"] == "D"
            && r["fields"]["frame"].as_str().unwrap().starts_with("8=FIX")
            && r["fields"]["frame"].as_str().unwrap().contains("|35=D|")),
        "{rows:#?}"
    );
    assert!(frames.iter().any(|r| r["state"] == "in"), "{rows:#?}");
    let times: Vec<u64> = rows
        .iter()
        .map(|r| r["time_ns"].as_u64().unwrap())
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "in time order: {times:?}"
    );
    assert!(
        !export(&[]).iter().any(|r| r["kind"] == "fix_frame"),
        "only when asked"
    );

    // A byte changed inside a stored frame: the store's record no longer checks.
    let store = journal.join("fix").join("sim");
    let seg = std::fs::read_dir(&store)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "journal"))
        .expect("a store segment");
    let mut bytes = std::fs::read(&seg).unwrap();
    let at = bytes
        .windows(5)
        .position(|w| w == b"\x0135=D")
        .expect("a NewOrderSingle in the store")
        + 4;
    bytes[at] = b'G';
    std::fs::write(&seg, &bytes).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_execd-replay"))
        .arg("verify")
        .arg(journal)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("CORRUPT: FIX store "), "{err}");
    // Its first line (what `verify DIR | head -1` shows) does not say ok.
    let first = String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    assert!(first.contains(": DAMAGED: "), "{first}");
    // An export with the frames, and the order's story, refuse rather than leave the
    // unreadable store's frames out and look complete.
    for args in [
        vec!["export", "--format", "jsonl", "--with-fix"],
        vec!["order", "1"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_execd-replay"))
            .arg(args[0])
            .arg(journal)
            .args(&args[1..])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains("CORRUPT: FIX store "), "{args:?}: {err}");
    }
    // Without the frames, the journal's own rows are still all there.
    assert!(!export(&[]).is_empty());
}

#[test]
fn a_crash_mid_trading_loses_no_fill_and_numbering_continues() {
    let dir = TempDir::new("fix-crash");
    let mut s = sim(&dir.join("sim"));
    let cfg = config(&dir, s.port);
    let journal = dir.join("journal");
    // Trade for a while, then kill -9: no logout, frames possibly in flight both ways.
    let mut first = execd_run(&cfg, &journal, 2_000, false);
    assert!(
        first.wait_line("execd: running", 30).is_some(),
        "{:#?}",
        first.seen
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let st = s.status();
        if st["fills"].as_u64().unwrap_or(0) >= 40 {
            break;
        }
        assert!(Instant::now() < deadline, "no trading: {st}");
        std::thread::sleep(Duration::from_millis(100));
    }
    first.sigkill();
    std::thread::sleep(Duration::from_millis(200));
    let before = session(&s.status());
    let sim_in_before = before["next_in"].as_u64().unwrap();
    assert!(sim_in_before > 40, "{before}");

    // The restart logs on with the numbers it kept (a reset would be refused as "too
    // low" or start over at 1), asks for what it missed, and trades on.
    let (code, lines) = execd_run(&cfg, &journal, 30, true).finish(60);
    assert_eq!(code, Some(0), "restart failed: {lines:#?}");
    let flow = lines
        .iter()
        .find(|l| l.starts_with("flow: ") && l.contains("submitted"))
        .cloned()
        .unwrap_or_else(|| panic!("no flow summary: {lines:#?}"));
    assert!(count(&flow, "accepted") > 0, "{flow}");
    let st = s.status();
    let after = session(&st);
    assert!(
        after["next_in"].as_u64().unwrap() > sim_in_before,
        "numbering continued: {before} → {after}"
    );
    assert_eq!(st["session_rejects_sent"].as_u64().unwrap_or(0), 0, "{st}");
    // Every fill the venue sent is in execd's journal exactly once.
    let v = replay_verify(&journal);
    let fills: u64 = v
        .split("fills ")
        .nth(1)
        .and_then(|t| t.split(' ').next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no fill count in {v}"));
    assert_eq!(Some(fills), st["fills"].as_u64(), "execd {v}\nsim {st}");
}

#[test]
fn fix42_and_fixt_sessions_trade_too() {
    let cases: [(&str, &[(&str, &str)]); 2] = [
        (
            "fix42",
            &[
                ("BeginString = \"FIX.4.4\"", "BeginString = \"FIX.4.2\""),
                (
                    "DataDictionary = \"FIX.4.4\"",
                    "DataDictionary = \"FIX.4.2\"",
                ),
            ],
        ),
        (
            "fixt",
            &[
                ("BeginString = \"FIX.4.4\"", "BeginString = \"FIXT.1.1\""),
                (
                    "DataDictionary = \"FIX.4.4\"",
                    "TransportDataDictionary = \"FIXT.1.1\"\nAppDataDictionary = \"FIX.5.0SP2\"",
                ),
            ],
        ),
    ];
    for (name, edits) in cases {
        let dir = TempDir::new(&format!("fix-{name}"));
        let mut s = sim(&dir.join("sim"));
        let cfg = config_with(&dir, s.port, edits);
        let (code, lines) = execd_run(&cfg, &dir.join("journal"), 30, true).finish(60);
        assert_eq!(code, Some(0), "{name}: {lines:#?}");
        let flow = lines
            .iter()
            .find(|l| l.starts_with("flow: ") && l.contains("submitted"))
            .cloned()
            .unwrap_or_else(|| panic!("{name}: no flow summary: {lines:#?}"));
        assert_eq!(
            count(&flow, "accepted"),
            count(&flow, "submitted"),
            "{name}: {flow}"
        );
        assert!(count(&flow, "fills") > 0, "{name}: {flow}");
        let fix = lines
            .iter()
            .find(|l| l.contains("next sequence numbers out"))
            .unwrap();
        assert!(
            fix.contains(" 0 invalid"),
            "{name}: the venue's messages validate: {fix}"
        );
        let st = s.status();
        assert_eq!(st["session_rejects_sent"].as_u64(), Some(0), "{name}: {st}");
        assert_eq!(
            st["fills"].as_u64(),
            Some(count(&flow, "fills")),
            "{name}: {st}"
        );
    }
}

#[test]
fn two_fix_sessions_in_one_core() {
    let dir = TempDir::new("fix-two");
    let mut s = sim(&dir.join("sim"));
    let base = std::fs::read_to_string(config(&dir, s.port)).unwrap();
    // A second broker session (another CompID at the same simulator), with its own symbol.
    let second = format!(
        r#"
[[venues]]
name = "sim2"
kind = "fix"

[venues.fix]
SocketConnectPort = {port}
SenderCompID = "EXECD2"
TargetCompID = "SIM"
HeartBtInt = 30

[[instruments]]
symbol = "IBM"
venue = "sim2"
tick = "0.01"
lot = "1"
hours = "24/7"
price_band_bps = 500
margin_bps = 2500
max_order_qty = "5000"
max_notional = "1000000"
max_position = "20000"
initial_price = "100.00"
spread_ticks = 2
volatility_ticks = 2
depth_lots = 2000
"#,
        port = s.port
    );
    // Venues and instruments before the accounts table keeps the TOML arrays together.
    let (head, accounts) = base.split_at(base.find("[[accounts]]").unwrap());
    let cfg = dir.join("two.toml");
    std::fs::write(&cfg, format!("{head}{second}\n{accounts}")).unwrap();
    let mut c = Command::new(env!("CARGO_BIN_EXE_execd"));
    c.args([
        "run",
        "--listen",
        "off",
        "--config",
        cfg.to_str().unwrap(),
        "--journal",
    ])
    .arg(dir.join("journal"))
    .args([
        "--orders", "30", "--rate", "400", "--venue", "sim2", "--exit",
    ]);
    let (code, lines) = LineProc::spawn(&mut c).finish(60);
    assert_eq!(code, Some(0), "{lines:#?}");
    let flow = lines
        .iter()
        .find(|l| l.starts_with("flow: ") && l.contains("submitted"))
        .cloned()
        .unwrap_or_else(|| panic!("no flow summary: {lines:#?}"));
    assert!(count(&flow, "fills") > 0, "{flow}");
    // Both sessions logged on and off cleanly; only the second one traded.
    for name in ["sim", "sim2"] {
        let l = lines
            .iter()
            .find(|l| l.contains(&format!("fix venue {name}: next sequence numbers")))
            .unwrap_or_else(|| panic!("{name}: {lines:#?}"));
        assert!(l.contains("1 logons"), "{l}");
    }
    let st = s.status();
    let sessions = st["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2, "{st}");
    assert_eq!(
        st["orders"].as_u64(),
        Some(count(&flow, "accepted")),
        "{st}"
    );
}

/// Every file under `dir` that holds `needle`.
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
fn the_broker_password_comes_from_the_environment_and_is_written_nowhere() {
    const VAR: &str = "EXECD_TEST_BROKER_PASSWORD";
    const PW: &str = "pw-Zq7-not-in-any-file";
    let dir = TempDir::new("fix-password");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let execd = |cfg: &Path, journal: &Path| {
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
        .env_remove(VAR);
        c
    };
    // A password in the file is refused, naming the key and what to do instead.
    let cfg = config_with(
        &dir,
        port,
        &[("# Username = \"trader1\"\n", "Password = \"hunter2\"\n")],
    );
    let out = Command::new(env!("CARGO_BIN_EXE_execd"))
        .args(["check-config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("fix.Password") && err.contains("PasswordEnv"),
        "{err}"
    );
    let cfg = config_with(
        &dir,
        port,
        &[(
            "# Username = \"trader1\"\n# PasswordEnv",
            "Username = \"trader1\"\nPasswordEnv",
        )],
    );
    // Without the variable neither check-config nor the daemon accepts it, and both
    // name the variable.
    let out = Command::new(env!("CARGO_BIN_EXE_execd"))
        .args(["check-config", cfg.to_str().unwrap()])
        .env_remove("EXECD_BROKER_PASSWORD")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        !out.status.success() && err.contains("PasswordEnv"),
        "{err}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_execd"))
        .args(["check-config", cfg.to_str().unwrap()])
        .env("EXECD_BROKER_PASSWORD", PW)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success() && said.contains("password from EXECD_BROKER_PASSWORD (set)"),
        "{said}"
    );
    assert!(!said.contains(PW), "{said}");
    let (code, lines) = LineProc::spawn(&mut execd(&cfg, &dir.join("j0"))).finish(60);
    assert_eq!(code, Some(2), "{lines:#?}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("EXECD_BROKER_PASSWORD") && l.contains("not set")),
        "{lines:#?}"
    );
    // With it, the Logon carries it; the journal, the session's store and the log do not.
    let cfg = config_with(
        &dir,
        port,
        &[(
            "# Username = \"trader1\"\n# PasswordEnv = \"EXECD_BROKER_PASSWORD\"",
            "Username = \"trader1\"\nPasswordEnv = \"EXECD_TEST_BROKER_PASSWORD\"",
        )],
    );
    let journal = dir.join("journal");
    let p = LineProc::spawn(execd(&cfg, &journal).env(VAR, PW));
    listener.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut conn = loop {
        match listener.accept() {
            Ok((c, _)) => break c,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => panic!("execd never connected: {e}"),
        }
    };
    conn.set_nonblocking(false).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut logon = Vec::new();
    let mut buf = [0u8; 4096];
    while !logon.windows(4).any(|w| w == b"\x0110=") || logon.last() != Some(&1) {
        let n = conn.read(&mut buf).expect("the Logon");
        assert!(
            n > 0,
            "closed before a Logon: {:?}",
            String::from_utf8_lossy(&logon)
        );
        logon.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&logon).replace('\x01', "|");
    assert!(
        text.contains("|35=A|") && text.contains(&format!("|554={PW}|")),
        "{text}"
    );
    assert!(text.contains("|553=trader1|"), "{text}");
    drop(conn);
    std::thread::sleep(Duration::from_millis(300));
    let lines = p.sigkill();
    assert!(!lines.iter().any(|l| l.contains(PW)), "{lines:#?}");
    assert_eq!(
        files_holding(dir.path(), PW.as_bytes()),
        Vec::<PathBuf>::new()
    );
    // The Logon is in the session's store, its password blanked.
    let blanked = format!("\x01554={}\x01", "*".repeat(PW.len()));
    assert_eq!(files_holding(&journal, blanked.as_bytes()).len(), 1);
}

#[test]
fn the_control_api_shows_a_fix_venues_sequence_numbers_and_last_error() {
    let dir = TempDir::new("fix-api-seqs");
    let mut s = sim(&dir.join("sim"));
    let cfg = config(&dir, s.port);
    let mut c = Command::new(env!("CARGO_BIN_EXE_execd"));
    c.env_remove("EXECD_API_TOKEN").args([
        "run",
        "--listen",
        "127.0.0.1:0",
        "--config",
        cfg.to_str().unwrap(),
    ]);
    let (p, url) = LineProc::spawn_api(&mut c);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let v: serde_json::Value = ureq::get(&format!("{url}/v1/venues"))
            .call()
            .unwrap()
            .into_json()
            .unwrap();
        let venue = &v["venues"][0];
        assert_eq!(venue["kind"], "fix", "{v}");
        let sess = session(&s.status());
        // Both sides agree once execd is logged on and nothing is in flight (a
        // heartbeat between the two reads moves them: ask again).
        if venue["up"] == true
            && venue["next_sender_seq_num"].as_u64() == sess["next_in"].as_u64()
            && venue["next_target_seq_num"].as_u64() == sess["next_out"].as_u64()
        {
            assert!(venue["next_sender_seq_num"].as_u64().unwrap() > 1, "{v}");
            break;
        }
        assert!(Instant::now() < deadline, "{v} / {sess}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let v: serde_json::Value = ureq::get(&format!("{url}/v1/venues"))
        .call()
        .unwrap()
        .into_json()
        .unwrap();
    assert!(v["venues"][0]["last_error"].is_null(), "no error yet: {v}");
    // The broker goes away: the venue is down and says why, and since when.
    s.quit();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let v: serde_json::Value = ureq::get(&format!("{url}/v1/venues"))
            .call()
            .unwrap()
            .into_json()
            .unwrap();
        let venue = &v["venues"][0];
        if venue["up"] == false && venue["last_error"].is_object() {
            let e = &venue["last_error"];
            assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
            assert!(e["at"].as_str().is_some_and(|t| t.ends_with('Z')), "{v}");
            // execd is up and ready; health says which venue is not.
            let h: serde_json::Value = ureq::get(&format!("{url}/v1/health"))
                .call()
                .unwrap()
                .into_json()
                .unwrap();
            assert_eq!(
                (&h["status"], &h["ready"], &h["venues_down"]),
                (&"degraded".into(), &true.into(), &1.into()),
                "{h}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "{v}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let (code, lines) = p.sigterm(30);
    assert_eq!(code, Some(0), "{lines:#?}");
}

/// The core with the default idle strategy in-process against the simulator: the
/// example configuration on `port` (no logon questions: this is about the idle wait).
mod asleep {
    use super::common::VenueSim;
    use execd::config::{IdleKind, Registry};
    use execd::core::{spawn, CoreMetrics, CoreOptions, CoreThread, Handle, IdleCounts};
    use execd::model::event::{Command, CoreEvent};
    use execd::model::fixed::Dec;
    use execd::model::ids::{Name, RequestId, Side};
    use execd::model::request::ExecutionRequest;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    const WAIT: Duration = Duration::from_secs(30);

    /// A broker that fills each order in three pieces 400 ms apart: the core has
    /// normally gone back to sleep when the second and third arrive.
    fn slow_filler() -> VenueSim {
        VenueSim::start(&[
            "--policy",
            "partial",
            "--partial-pieces",
            "3",
            "--partial-interval-us",
            "400000",
            "--dict-dir",
            "fix-dictionaries",
        ])
    }

    fn core(port: u16) -> (CoreThread, Handle) {
        let text = std::fs::read_to_string("examples/fix-sim.toml")
            .unwrap()
            .replace(
                "SocketConnectPort = 9878",
                &format!("SocketConnectPort = {port}"),
            )
            .replace("MassStatusOnLogon = true", "MassStatusOnLogon = false")
            .replace("PositionsOnLogon = true", "PositionsOnLogon = false");
        let reg = Arc::new(Registry::from_toml(&text).unwrap());
        let mut opts = CoreOptions::real_time(3);
        assert_eq!(
            opts.idle,
            IdleKind::Backoff,
            "the default is what is tested"
        );
        opts.grace = Duration::from_secs(2);
        let (core, mut hs) = spawn(reg, opts, 1).expect("core starts");
        (core, hs.remove(0))
    }

    fn logged_on(h: &mut Handle) {
        let up = h.wait_for(
            WAIT,
            |e| matches!(e, CoreEvent::VenueSession { up: true, .. }),
            |_| {},
        );
        assert!(up.is_some(), "the FIX session logs on");
        let quote = Command::Quote {
            venue: Name::new("sim").unwrap(),
            symbol: Name::new("AAPL").unwrap(),
            bid: Dec::new(9_999, 2),
            ask: Dec::new(10_001, 2),
            bid_size: Dec::new(1_000, 0),
            ask_size: Dec::new(1_000, 0),
        };
        h.send_wait(0, quote, WAIT).expect("room");
    }

    /// Until the core is in `epoll_wait`.
    fn until_asleep(m: &CoreMetrics) {
        let end = Instant::now() + WAIT;
        while !m.idle_asleep() {
            assert!(Instant::now() < end, "the core never slept: {:?}", m.idle());
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Buys 3 AAPL and waits for the order to be done; returns its fills.
    fn trade(h: &mut Handle, n: u64) -> u64 {
        let mut r = ExecutionRequest::market("", "alpha", "sim", "AAPL", Side::Buy, Dec::new(3, 0));
        r.request_id = RequestId::from_prefixed_u64("sleep-", n).unwrap();
        h.submit(r).expect("room");
        let (mut fills, end) = (0, Instant::now() + WAIT);
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match h.next_event(left) {
                Some(CoreEvent::Fill { .. }) => fills += 1,
                Some(CoreEvent::Rejected { reason, .. }) => panic!("rejected: {reason:?}"),
                Some(CoreEvent::Order(s)) if s.state.is_terminal() => return fills,
                Some(_) => {}
                None => panic!("order {n} not done within {WAIT:?} ({fills} fills)"),
            }
        }
    }

    /// Trades from a sleeping core until one order's submit found it asleep and one of
    /// the broker's delayed fills did too, each order filled. Either can miss: a push
    /// can land in the few microseconds between two waits (then the core's own look
    /// finds it and no wake-up is needed), and on a loaded box the core's yields
    /// before it sleeps (`core.idle_yield_us`) can outlast the broker's delay. So up to
    /// 20 orders.
    fn trade_while_asleep(h: &mut Handle, m: &CoreMetrics, first: u64) -> (IdleCounts, u64) {
        let before = m.idle();
        let mut n = first;
        loop {
            until_asleep(m);
            assert_eq!(trade(h, n), 3, "order {n} filled in three pieces");
            n += 1;
            let now = m.idle();
            let rung = now.bell_rung > before.bell_rung;
            let by_socket = now.woke_by_socket > before.woke_by_socket;
            if (rung && by_socket) || n - first == 20 {
                return (now, n);
            }
        }
    }

    #[test]
    fn a_sleeping_core_wakes_for_a_command_and_for_the_brokers_fills() {
        let sim = slow_filler();
        let (core, mut h) = core(sim.port);
        let m = core.metrics();
        logged_on(&mut h);
        let before = m.idle();
        let (after, n) = trade_while_asleep(&mut h, &m, 0);
        assert!(
            after.bell_rung > before.bell_rung && after.woke_by_bell > before.woke_by_bell,
            "a submit woke the sleeping core through its doorbell: {before:?} → {after:?}"
        );
        assert!(
            after.woke_by_socket > before.woke_by_socket,
            "the broker's fills woke it through the socket: {before:?} → {after:?}"
        );
        assert!(after.sockets_registered >= 1, "{after:?}");
        let report = core.shutdown();
        assert!(report.idle.waits >= after.waits, "{:?}", report.idle);
        assert_eq!(report.engine.stats().fills, 3 * n, "every piece booked");
        drop(sim);
    }

    /// The broker drops the connection: the session reconnects on a new socket (which
    /// may reuse the old descriptor), the core registers it, and the next fills wake
    /// the core through it.
    #[test]
    fn a_reconnected_session_is_watched_on_its_new_socket() {
        let mut sim = slow_filler();
        let (core, mut h) = core(sim.port);
        let m = core.metrics();
        logged_on(&mut h);
        let (first, n) = trade_while_asleep(&mut h, &m, 0);
        let dropped = sim.cmd("drop");
        assert_eq!(dropped["closed"], 1, "{dropped}");
        let down = h.wait_for(
            WAIT,
            |e| matches!(e, CoreEvent::VenueSession { up: false, .. }),
            |_| {},
        );
        assert!(down.is_some(), "the core saw the session go down");
        logged_on(&mut h);
        // Registered at the core's first wait with the new socket (published after it).
        let end = Instant::now() + WAIT;
        let before = loop {
            let c = m.idle();
            if c.sockets_registered > first.sockets_registered {
                break c;
            }
            assert!(
                Instant::now() < end,
                "the new socket was never registered: {c:?}"
            );
            std::thread::sleep(Duration::from_millis(1));
        };
        let (after, _) = trade_while_asleep(&mut h, &m, n);
        assert!(
            after.woke_by_socket > before.woke_by_socket,
            "fills on the new socket woke the core: {before:?} → {after:?}"
        );
        core.shutdown();
        drop(sim);
    }
}
