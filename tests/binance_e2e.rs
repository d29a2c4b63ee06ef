//! `execd run --config examples/binance-sim.toml` end to end against `execd-binance-sim`
//! (issue 13): the real binaries, the synthetic order flow (limits, cancels, amends),
//! orders acked and filled from the user data stream, canceled and replaced — with the
//! user data stream killed and a 429 burst in the middle (spot), and on USDⓈ-M. Bounded
//! waits; both processes are killed when a test ends.

use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

const KEY: &str = "e2e-api-key";
const SECRET: &str = "e2e-secret-not-real";
const WAIT: Duration = Duration::from_secs(10);

struct Proc {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(mut cmd: Command) -> Proc {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    let (tx, lines) = std::sync::mpsc::channel();
    for out in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
    }
    let stdin = child.stdin.take();
    Proc {
        child,
        stdin,
        lines,
    }
}

fn sim(protocol: &str) -> (Proc, u16) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_execd-binance-sim"));
    // The flow's orders are a few lots of 0.001 at ~100: under Binance's usual minimum
    // notional, so the simulator's is lowered.
    c.args([
        "--protocol",
        protocol,
        "--port",
        "0",
        "--api-key",
        KEY,
        "--min-notional",
        "0.01",
    ])
    .env("BINANCE_SIM_SECRET", SECRET);
    let p = spawn(c);
    let first = p.lines.recv_timeout(WAIT).expect("listening line");
    let v: Value = serde_json::from_str(&first).unwrap();
    assert_eq!(v["type"], "listening", "{first}");
    let port = v["port"].as_u64().unwrap() as u16;
    (p, port)
}

fn config(dir: &Path, port: u16, usdm: bool) -> PathBuf {
    let mut text = include_str!("../examples/binance-sim.toml")
        .replace("127.0.0.1:9901", &format!("127.0.0.1:{port}"))
        .replace("BINANCE_SIM_KEY", "E2E_BINANCE_KEY")
        .replace("BINANCE_SIM_SECRET", "E2E_BINANCE_SECRET");
    if usdm {
        text = text.replace("kind = \"binance-spot\"", "kind = \"binance-usdm\"");
        text = text
            .lines()
            .filter(|l| !l.starts_with("ws_api_url"))
            .collect::<Vec<_>>()
            .join("\n");
    }
    let path = dir.join("binance.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn execd(cfg: &Path, journal: &Path, orders: u32) -> Proc {
    let mut c = Command::new(env!("CARGO_BIN_EXE_execd"));
    c.args(["run", "--config"])
        .arg(cfg)
        .arg("--journal")
        .arg(journal)
        .args([
            "--orders",
            &orders.to_string(),
            "--rate",
            "40",
            "--exit",
            "--listen",
            "off",
        ])
        .env("E2E_BINANCE_KEY", KEY)
        .env("E2E_BINANCE_SECRET", SECRET);
    spawn(c)
}

/// Every line until the process exits (bounded), and its status.
fn finish(p: &mut Proc, within: Duration) -> (Vec<String>, bool) {
    let deadline = Instant::now() + within;
    let mut out = Vec::new();
    loop {
        while let Ok(l) = p.lines.try_recv() {
            out.push(l);
        }
        if let Ok(Some(st)) = p.child.try_wait() {
            std::thread::sleep(Duration::from_millis(100));
            while let Ok(l) = p.lines.try_recv() {
                out.push(l);
            }
            return (out, st.success());
        }
        assert!(Instant::now() < deadline, "execd did not finish: {out:#?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The flow's summary numbers: submitted, accepted, fills, canceled, replaced,
/// unfinished.
fn flow(out: &[String]) -> [u64; 6] {
    let l = out
        .iter()
        .find(|l| l.starts_with("flow: ") && l.contains("submitted"))
        .unwrap_or_else(|| panic!("no flow line: {out:#?}"));
    let num = |word: &str| -> u64 {
        let i = l.find(word).unwrap_or_else(|| panic!("{word} in {l}"));
        l[..i]
            .trim_end()
            .rsplit([' ', '('])
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    [
        num(" submitted"),
        num(" accepted"),
        num(" fills"),
        num(" canceled"),
        num(" replaced"),
        num(" unfinished"),
    ]
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("execd-e2e-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn execd_run_trades_binance_spot_sim_through_a_killed_stream_and_429s() {
    let (mut s, port) = sim("spot");
    let dir = tmp("spot");
    let cfg = config(&dir, port, false);
    let mut e = execd(&cfg, &dir.join("journal"), 80);
    // Mid-flow: the user data stream is killed, then three requests get 429.
    std::thread::sleep(Duration::from_millis(1200));
    let stdin = s.stdin.as_mut().unwrap();
    writeln!(stdin, "drop-stream").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    writeln!(stdin, "throttle 3 1").unwrap();
    stdin.flush().unwrap();
    let (out, ok) = finish(&mut e, Duration::from_secs(90));
    let [submitted, accepted, fills, canceled, replaced, unfinished] = flow(&out);
    assert!(ok, "{out:#?}");
    assert!(submitted > 0 && accepted > 0, "{out:#?}");
    assert!(fills > 0, "no fill from the user data stream: {out:#?}");
    // Some cancels and amends fall into the outage (refused: VENUE_DOWN,
    // VENUE_RATE_LIMITED); the others went through.
    assert!(canceled + replaced > 0, "{out:#?}");
    let stop = out
        .iter()
        .find(|l| l.contains("stopped"))
        .unwrap_or_else(|| panic!("{out:#?}"));
    assert!(stop.contains("0 OMS anomalies"), "{stop}");
    // Nothing of unknown outcome is left: every order is settled or known working.
    assert!(
        stop.contains("0 unfinished orders (outcome unknown)"),
        "{stop}"
    );
    // What the flow left unfinished is what rests at the venue (cancels refused while
    // the stream was down): GTC orders, known working, not lost.
    assert!(
        stop.contains(&format!("{unfinished} orders still working at venues")),
        "{stop}"
    );
    // The stream was lost and came back; then every working order was asked about
    // (after the 429's Retry-After), never sent again.
    assert!(
        out.iter().any(|l| l.contains("user data stream lost")),
        "{out:#?}"
    );
    let mut log = Vec::new();
    execd::venue::bridge::wire::read_messages(
        &dir.join("journal").join("bridge").join("binance"),
        |_, sent, t| log.push((sent, t.to_string())),
    )
    .unwrap();
    let resub = log
        .iter()
        .rposition(|(sent, t)| *sent && t.contains("userDataStream.subscribe.signature"))
        .unwrap();
    assert!(resub > 0, "never resubscribed");
    if unfinished > 0 {
        assert!(
            log[resub..]
                .iter()
                .any(|(sent, t)| *sent && t.starts_with("GET /api/v3/order?")),
            "no status query after the gap"
        );
    }
    let mut posts: Vec<&str> = log
        .iter()
        .filter(|(sent, t)| *sent && t.starts_with("POST /api/v3/order?"))
        .filter_map(|(_, t)| t.split("newClientOrderId=").nth(1)?.split('&').next())
        .collect();
    let n = posts.len();
    posts.sort_unstable();
    posts.dedup();
    assert_eq!(posts.len(), n, "a new order was sent twice");
    // The journal replays to the same state (recovery compares replayed events).
    let v = Command::new(env!("CARGO_BIN_EXE_execd-replay"))
        .arg("verify")
        .arg(dir.join("journal"))
        .output()
        .unwrap();
    assert!(
        v.status.success(),
        "{}{}",
        String::from_utf8_lossy(&v.stdout),
        String::from_utf8_lossy(&v.stderr)
    );
    // An order's story shows what went over REST and the user data stream about it.
    let story = Command::new(env!("CARGO_BIN_EXE_execd-replay"))
        .arg("order")
        .arg(dir.join("journal"))
        .arg("1")
        .output()
        .unwrap();
    let story = String::from_utf8_lossy(&story.stdout).to_string();
    assert!(
        story.contains("venue messages about order 1 (")
            && story.contains("POST /api/v3/order?")
            && story.contains("executionReport")
            && !story.contains(SECRET),
        "{story}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn execd_run_trades_binance_usdm_sim() {
    let (_s, port) = sim("usdm");
    let dir = tmp("usdm");
    let cfg = config(&dir, port, true);
    let mut e = execd(&cfg, &dir.join("journal"), 40);
    let (out, ok) = finish(&mut e, Duration::from_secs(90));
    let [_, accepted, fills, canceled, replaced, unfinished] = flow(&out);
    assert!(ok, "{out:#?}");
    assert!(accepted > 0 && fills > 0, "{out:#?}");
    assert!(canceled > 0 && replaced > 0, "{out:#?}");
    assert_eq!(unfinished, 0, "{out:#?}");
    let stop = out.iter().find(|l| l.contains("stopped")).unwrap();
    assert!(stop.contains("stopped cleanly"), "{stop}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// SIGKILL mid-flow, then a restart on the same journal: the journal replays, the venue
/// counts as a gap (every order left working is asked about by client order id), nothing
/// is of unknown outcome afterwards, and no order was ever sent twice.
#[test]
fn execd_killed_mid_flow_restarts_and_asks_about_every_working_order() {
    let (_s, port) = sim("spot");
    let dir = tmp("kill");
    let cfg = config(&dir, port, false);
    let journal = dir.join("journal");
    let mut first = execd(&cfg, &journal, 400);
    std::thread::sleep(Duration::from_millis(3000));
    first.child.kill().unwrap(); // SIGKILL
    let _ = first.child.wait();
    // The restart runs with no flow of its own; SIGTERM once it has reconnected and
    // asked about what the first left working (bounded: the simulator may hold it off
    // with a 429 for a while, which it waits out).
    let subscribes = |log: &[(bool, String)]| {
        log.iter()
            .filter(|(sent, t)| *sent && t.contains("userDataStream.subscribe"))
            .count()
    };
    let read = |journal: &Path| {
        let mut log = Vec::new();
        let _ = execd::venue::bridge::wire::read_messages(
            &journal.join("bridge").join("binance"),
            |_, sent, t| log.push((sent, t.to_string())),
        );
        log
    };
    let before = subscribes(&read(&journal));
    let mut second = execd(&cfg, &journal, 0);
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let log = read(&journal);
        let at = log
            .iter()
            .rposition(|(sent, t)| *sent && t.contains("userDataStream.subscribe"));
        let asked = subscribes(&log) > before
            && at.is_some_and(|i| {
                log[i..]
                    .iter()
                    .any(|(sent, t)| *sent && t.starts_with("GET /api/v3/openOrders"))
            });
        if asked || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_millis(1000));
    let term = Command::new("kill")
        .args(["-TERM", &second.child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let (out, ok) = finish(&mut second, Duration::from_secs(60));
    assert!(ok, "{out:#?}");
    let replayed = out
        .iter()
        .find(|l| l.contains("commands replayed"))
        .unwrap_or_else(|| panic!("{out:#?}"));
    assert!(!replayed.contains(" 0 commands replayed"), "{replayed}");
    let stop = out
        .iter()
        .find(|l| l.contains("stopped"))
        .unwrap_or_else(|| panic!("{out:#?}"));
    assert!(
        stop.contains("0 unfinished orders (outcome unknown)"),
        "{stop}"
    );
    assert!(stop.contains("0 OMS anomalies"), "{stop}");
    let mut log = Vec::new();
    execd::venue::bridge::wire::read_messages(
        &journal.join("bridge").join("binance"),
        |_, sent, t| log.push((sent, t.to_string())),
    )
    .unwrap();
    let mut posts: Vec<&str> = log
        .iter()
        .filter(|(sent, t)| *sent && t.starts_with("POST /api/v3/order?"))
        .filter_map(|(_, t)| t.split("newClientOrderId=").nth(1)?.split('&').next())
        .collect();
    assert!(!posts.is_empty());
    let n = posts.len();
    posts.sort_unstable();
    posts.dedup();
    assert_eq!(posts.len(), n, "a new order was sent twice");
    let working = stop
        .split("; ")
        .find_map(|p| p.strip_suffix(" orders still working at venues"))
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(0);
    if working > 0 {
        // Asked by the restarted process (after its own subscription).
        let from = log
            .iter()
            .rposition(|(sent, t)| *sent && t.contains("userDataStream.subscribe"))
            .unwrap();
        let queries = log[from..]
            .iter()
            .filter(|(sent, t)| *sent && t.starts_with("GET /api/v3/order?"))
            .count() as u64;
        assert!(
            queries >= working,
            "{queries} status queries for {working} working orders"
        );
    }
    let v = Command::new(env!("CARGO_BIN_EXE_execd-replay"))
        .arg("verify")
        .arg(&journal)
        .output()
        .unwrap();
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stderr));
    let _ = std::fs::remove_dir_all(&dir);
}
