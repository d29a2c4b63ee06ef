//! `execd run --config examples/binance-sim.toml` end to end against `execd-binance-sim`
//! (issue 13): the real binaries, the synthetic order flow (limits, cancels, amends),
//! orders acked and filled from the user data stream, canceled and replaced — with the
//! user data stream killed and a 429 burst in the middle (spot), and on USDⓈ-M. Bounded
//! waits; both processes are killed when a test ends.

mod common;

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
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

/// The simulator with a flat price path (`--volatility-bps 0`): a marketable order fills
/// on arrival and a resting one never does, so what the venue did is known when the
/// flow ends and does not change afterwards.
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
        "--volatility-bps",
        "0",
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

/// One control command to the simulator; its JSON answer (bounded wait).
fn sim_cmd(p: &mut Proc, line: &str) -> Value {
    let stdin = p.stdin.as_mut().expect("the simulator's stdin");
    writeln!(stdin, "{line}").unwrap();
    stdin.flush().unwrap();
    let deadline = Instant::now() + WAIT;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        let Ok(l) = p.lines.recv_timeout(left) else {
            break;
        };
        let Ok(v) = serde_json::from_str::<Value>(&l) else {
            continue;
        };
        if matches!(v["type"].as_str(), Some("ok" | "error" | "status")) {
            assert_ne!(v["type"], "error", "{line}: {v}");
            return v;
        }
    }
    panic!("no answer to {line:?}");
}

/// A decimal as an integer count of 1e-8 (every quantity here has at most 8 places).
fn units(s: &str) -> i128 {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    assert!(frac.len() <= 8, "{s}");
    let neg = int.starts_with('-');
    let i: i128 = int.trim_start_matches('-').parse().unwrap_or(0);
    let f: i128 = format!("{frac:0<8}").parse().unwrap();
    let v = i * 100_000_000 + f;
    if neg {
        -v
    } else {
        v
    }
}

/// The simulator's fills per symbol: (count, quantity in 1e-8).
fn sim_traded(status: &Value) -> BTreeMap<String, (u64, i128)> {
    status["traded"]
        .as_array()
        .unwrap_or_else(|| panic!("no traded in {status}"))
        .iter()
        .map(|t| {
            (
                t["symbol"].as_str().unwrap().to_string(),
                (
                    t["fills"].as_u64().unwrap(),
                    units(t["qty"].as_str().unwrap()),
                ),
            )
        })
        .collect()
}

fn replay(args: &[&str], journal: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_execd-replay"))
        .arg(args[0])
        .arg(journal)
        .args(&args[1..])
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

/// The fills execd booked, per symbol: (count, quantity in 1e-8); every execution id
/// booked once.
fn booked(journal: &Path) -> BTreeMap<String, (u64, i128)> {
    let rows = replay(&["export", "--format", "jsonl", "--kind", "fill"], journal);
    let mut out: BTreeMap<String, (u64, i128)> = BTreeMap::new();
    let mut ids = BTreeSet::new();
    for l in rows.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
        assert_eq!(v["kind"], "fill", "{l}");
        let id = v["fields"]["exec_id"].to_string();
        assert!(!v["fields"]["exec_id"].is_null(), "{l}");
        assert!(
            ids.insert(id.clone()),
            "execution {id} booked twice: {rows}"
        );
        let e = out
            .entry(v["symbol"].as_str().unwrap().to_string())
            .or_default();
        e.0 += 1;
        e.1 += units(v["qty"].as_str().unwrap());
    }
    out
}

/// The net positions `execd-replay verify` rebuilds from the journal (account alpha),
/// per symbol, in 1e-8.
fn replayed_positions(journal: &Path) -> BTreeMap<String, i128> {
    replay(&["verify"], journal)
        .lines()
        .filter_map(|l| l.trim().strip_prefix("position alpha "))
        .map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            (w[0].to_string(), units(w[1]))
        })
        .collect()
}

#[test]
fn execd_run_trades_binance_spot_sim_through_a_killed_stream_and_429s() {
    let (mut s, port) = sim("spot");
    let dir = tmp("spot");
    let cfg = config(&dir, port, false);
    let mut e = execd(&cfg, &dir.join("journal"), 80);
    // Mid-flow, once orders rest at the venue (a flat path: they stay there), the user
    // data stream is killed, then three requests get 429.
    std::thread::sleep(Duration::from_millis(800));
    let deadline = Instant::now() + WAIT;
    let resting = loop {
        let n = sim_cmd(&mut s, "status")["open_orders"].as_u64().unwrap();
        if n >= 2 {
            break n;
        }
        assert!(Instant::now() < deadline, "no order came to rest");
        std::thread::sleep(Duration::from_millis(50));
    };
    let dropped = sim_cmd(&mut s, "drop-stream");
    assert!(dropped["closed"].as_u64() > Some(0), "{dropped}");
    std::thread::sleep(Duration::from_millis(300));
    sim_cmd(&mut s, "throttle 3 1");
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
    let subscribes = log
        .iter()
        .filter(|(sent, t)| *sent && t.contains("userDataStream.subscribe.signature"))
        .count();
    assert!(
        subscribes >= 2,
        "{subscribes} user data subscriptions: never resubscribed"
    );
    let resub = log
        .iter()
        .rposition(|(sent, t)| *sent && t.contains("userDataStream.subscribe.signature"))
        .unwrap();
    // Orders rested at the venue when the stream went (`resting`): after the gap they
    // were asked about, by client order id.
    let queries = log[resub..]
        .iter()
        .filter(|(sent, t)| *sent && t.starts_with("GET /api/v3/order?"))
        .count();
    assert!(
        queries > 0,
        "{resting} orders rested at the gap; no status query after it"
    );
    let mut posts: Vec<&str> = log
        .iter()
        .filter(|(sent, t)| *sent && t.starts_with("POST /api/v3/order?"))
        .filter_map(|(_, t)| t.split("newClientOrderId=").nth(1)?.split('&').next())
        .collect();
    let n = posts.len();
    posts.sort_unstable();
    posts.dedup();
    assert_eq!(posts.len(), n, "a new order was sent twice");
    // Every fill the venue made is on execd's books exactly once, through the outage
    // (the path is flat: what rests at the venue now never fills later).
    let st = sim_cmd(&mut s, "status");
    let venue = sim_traded(&st);
    assert_eq!(venue["BTCUSDT"].0, fills, "{st}");
    assert_eq!(booked(&dir.join("journal")), venue, "{st}");
    // The journal replays to the same state (recovery compares replayed events).
    replay(&["verify"], &dir.join("journal"));
    // An order's story shows what went over REST and the user data stream about it.
    let story = replay(&["order", "1"], &dir.join("journal"));
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
    let (mut s, port) = sim("usdm");
    let dir = tmp("usdm");
    let cfg = config(&dir, port, true);
    let journal = dir.join("journal");
    let mut e = execd(&cfg, &journal, 40);
    let (out, ok) = finish(&mut e, Duration::from_secs(90));
    let [_, accepted, fills, canceled, replaced, unfinished] = flow(&out);
    assert!(ok, "{out:#?}");
    assert!(accepted > 0 && fills > 0, "{out:#?}");
    assert!(canceled > 0 && replaced > 0, "{out:#?}");
    assert_eq!(unfinished, 0, "{out:#?}");
    let stop = out.iter().find(|l| l.contains("stopped")).unwrap();
    assert!(stop.contains("stopped cleanly"), "{stop}");
    // Every venue fill booked once; the position execd rebuilds from its journal is the
    // venue's.
    let st = sim_cmd(&mut s, "status");
    assert_eq!(booked(&journal), sim_traded(&st), "{st}");
    let venue: BTreeMap<String, i128> = st["positions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["symbol"].as_str().unwrap().to_string(),
                units(p["amount"].as_str().unwrap()),
            )
        })
        .collect();
    assert_eq!(replayed_positions(&journal), venue, "{st}");
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
        .unwrap_or_else(|| panic!("{stop}"));
    // Passive orders rested when the first process died (a flat path: they never fill)
    // and are still working.
    assert!(working > 0, "{stop}");
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
    replay(&["verify"], &journal);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A market buy of one lot through the control API: the HTTP status and the answer.
fn api_buy(url: &str, id: &str) -> (u16, Value) {
    let body = serde_json::json!({"request_id": id, "account": "alpha", "venue": "binance",
        "symbol": "BTCUSDT", "side": "BUY", "quantity": "0.001", "order_type": "MARKET",
        "context": {"risk_approved": true}});
    let (code, text) = common::http_text(
        "POST",
        &format!("{url}/v1/executions"),
        Some(&body.to_string()),
        None,
    );
    let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (code, v)
}

/// Whether the gate let the order through (it may still be on its way to the venue).
fn passed(code: u16, v: &Value) -> bool {
    matches!(code, 200..=202) && v["status"] != "REJECTED"
}

/// Buys until `want` holds of an answer (bounded); returns it.
fn buy_until(url: &str, tag: &str, want: impl Fn(u16, &Value) -> bool) -> (u16, Value) {
    let deadline = Instant::now() + Duration::from_secs(20);
    for k in 0.. {
        let (code, v) = api_buy(url, &format!("{tag}-{k}"));
        if want(code, &v) {
            return (code, v);
        }
        assert!(Instant::now() < deadline, "{tag}: never: {code} {v}");
        std::thread::sleep(Duration::from_millis(100));
    }
    unreachable!()
}

/// The Binance twin of tests/market_data.rs: bookTicker pushes from the simulator are
/// the only quotes execd has (no flow, nothing posted upstream). Fresh, an order passes
/// the gate; the pushes stop with the stream left open (`quotes off`: a silent feed, not
/// a dropped one) and within `max_quote_age_ms` orders are refused STALE_MARKET_DATA;
/// they resume and orders pass again. The journal replays to the same decisions.
#[test]
fn binance_sim_book_tickers_drive_the_gate_fresh_passes_silent_goes_stale() {
    let (mut s, port) = sim("spot");
    let dir = tmp("gate");
    let cfg = config(&dir, port, false);
    let text = std::fs::read_to_string(&cfg).unwrap();
    assert!(text.contains("max_quote_age_ms = 5000"));
    std::fs::write(
        &cfg,
        text.replace("max_quote_age_ms = 5000", "max_quote_age_ms = 1000"),
    )
    .unwrap();
    let journal = dir.join("journal");
    let mut c = Command::new(env!("CARGO_BIN_EXE_execd"));
    c.env_remove("EXECD_API_TOKEN")
        .args(["run", "--listen", "127.0.0.1:0", "--config"])
        .arg(&cfg)
        .arg("--journal")
        .arg(&journal)
        .env("E2E_BINANCE_KEY", KEY)
        .env("E2E_BINANCE_SECRET", SECRET);
    let (p, url) = common::LineProc::spawn_api(&mut c);

    let (_, v) = buy_until(&url, "fresh", passed);
    assert!(v["status"].is_string(), "{v}");
    let before = sim_cmd(&mut s, "status");
    let sockets = before["websockets"].as_u64().unwrap();

    let silent = Instant::now();
    sim_cmd(&mut s, "quotes off");
    let (code, v) = buy_until(&url, "stale", |c, v| {
        !passed(c, v) && v.to_string().contains("STALE_MARKET_DATA")
    });
    // Stale on execd's clock once the last push is older than the limit: not before.
    assert!(
        silent.elapsed() >= Duration::from_millis(900),
        "stale after {:?}: {code} {v}",
        silent.elapsed()
    );
    // The feed went silent; nothing was disconnected.
    let during = sim_cmd(&mut s, "status");
    assert_eq!(during["websockets"].as_u64(), Some(sockets), "{during}");
    assert_eq!(during["quotes"], false, "{during}");

    sim_cmd(&mut s, "quotes on");
    buy_until(&url, "again", passed);

    let (code, lines) = p.sigterm(30);
    assert_eq!(code, Some(0), "{lines:#?}");
    // Replay rebuilds the same gate decisions (verify compares every replayed event).
    replay(&["verify"], &journal);
    let rows = replay(
        &["export", "--format", "jsonl", "--kind", "rejected"],
        &journal,
    );
    assert!(rows.contains("STALE_MARKET_DATA"), "{rows}");
    let _ = std::fs::remove_dir_all(&dir);
}

fn api(url: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let text = body.map(|b| b.to_string());
    let (code, t) = common::http_text(method, &format!("{url}{path}"), text.as_deref(), None);
    (code, serde_json::from_str(&t).unwrap_or(Value::String(t)))
}

/// Polls `f` (bounded) until it gives something.
fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "never: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Polls order `id` through the API (bounded) until `want` holds of it; its JSON.
fn order_until(url: &str, id: u64, what: &str, want: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, o) = api(url, "GET", &format!("/v1/orders/{id}"), None);
        if want(&o) {
            return o;
        }
        assert!(Instant::now() < deadline, "never: {what}: {o}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The simulator's spot balances: asset → free + locked, in 1e-8.
fn sim_balances(status: &Value) -> BTreeMap<String, i128> {
    status["balances"]
        .as_array()
        .unwrap_or_else(|| panic!("no balances in {status}"))
        .iter()
        .map(|b| {
            (
                b["asset"].as_str().unwrap().to_string(),
                units(b["free"].as_str().unwrap()) + units(b["locked"].as_str().unwrap()),
            )
        })
        .collect()
}

/// What `GET /v1/positions` says of each asset: (free + locked, change at the venue,
/// change by execd's fills, fees), in 1e-8.
fn api_balances(url: &str) -> BTreeMap<String, [i128; 4]> {
    let (code, v) = api(url, "GET", "/v1/positions", None);
    assert_eq!(code, 200, "{v}");
    v["balances"]
        .as_array()
        .unwrap_or_else(|| panic!("no balances: {v}"))
        .iter()
        .map(|b| {
            let n = |k: &str| units(b[k].as_str().unwrap_or_else(|| panic!("{k} in {b}")));
            assert_eq!(b["venue"], "binance", "{b}");
            assert_eq!(b["wallet"], false, "{b}");
            (
                b["asset"].as_str().unwrap().to_string(),
                [
                    n("free") + n("locked"),
                    n("venue_change"),
                    n("execd_change"),
                    n("fees"),
                ],
            )
        })
        .collect()
}

/// Binance spot balances and fees through the real binaries (issue 13): execd reads the
/// account at connection and follows `outboundAccountPosition`; a market buy pays its
/// commission in the base asset (the simulator's `--commission-bps 10`), so execd's BTC
/// change is quantity − fee, and what `GET /v1/positions` shows equals the simulator's
/// account. A resting buy partly filled, then replaced to a larger total: cancelReplace
/// gets what is left (total − filled), never the whole again, and the order ends filled
/// at its new total. A balance changed behind execd's back is a reconciliation line
/// (MISMATCH) that holds the venue; the export has the fees in their asset.
#[test]
fn binance_spot_balances_fees_and_a_replace_after_a_partial_fill() {
    let (mut s, port) = sim("spot");
    let dir = tmp("balances");
    let cfg = config(&dir, port, false);
    let journal = dir.join("journal");
    let mut c = Command::new(env!("CARGO_BIN_EXE_execd"));
    c.env_remove("EXECD_API_TOKEN")
        .args(["run", "--listen", "127.0.0.1:0", "--config"])
        .arg(&cfg)
        .arg("--journal")
        .arg(&journal)
        .env("E2E_BINANCE_KEY", KEY)
        .env("E2E_BINANCE_SECRET", SECRET);
    let (p, url) = common::LineProc::spawn_api(&mut c);
    // Balances as the venue had them before any trade: a starting point, no change.
    let start = wait_for("balances at connection", || {
        let b = api_balances(&url);
        (b.contains_key("BTC") && b.contains_key("USDT")).then_some(b)
    });
    let sim0 = sim_balances(&sim_cmd(&mut s, "status"));
    assert_eq!(start["BTC"][0], sim0["BTC"], "{start:?} {sim0:?}");
    assert_eq!(start["BTC"][1..], [0, 0, 0], "{start:?}");

    // A market buy of 0.001 at ~100: the commission (10 bps) is 0.000001 BTC.
    let (_, v) = buy_until(&url, "mkt", passed);
    let id = v["order_id"].as_u64().unwrap_or_else(|| panic!("{v}"));
    order_until(&url, id, "the market buy filled", |o| {
        o["status"] == "FILLED"
    });
    let after = wait_for("the balances moved", || {
        let b = api_balances(&url);
        (b["BTC"][2] != 0 && b["BTC"][1] == b["BTC"][2]).then_some(b)
    });
    assert_eq!(
        after["BTC"][2],
        100_000 - 100,
        "qty − fee in BTC: {after:?}"
    );
    assert_eq!(after["BTC"][3], 100, "{after:?}");
    assert!(after["USDT"][2] < 0 && after["USDT"][3] == 0, "{after:?}");
    assert_eq!(after["USDT"][1], after["USDT"][2], "{after:?}");
    let sim1 = sim_balances(&sim_cmd(&mut s, "status"));
    for a in ["BTC", "USDT"] {
        assert_eq!(after[a][0], sim1[a], "{a}: execd {after:?} sim {sim1:?}");
    }

    // A resting buy of 0.004, filled a piece (0.001) per price step while the market
    // crosses it: the market dips to it and straight back (a piece or a few), then the
    // order is replaced to a total of 0.006 below the market.
    sim_cmd(&mut s, "fill-partial 4");
    let body = serde_json::json!({"request_id": "rest-1", "account": "alpha",
        "venue": "binance", "symbol": "BTCUSDT", "side": "BUY", "quantity": "0.004",
        "order_type": "LIMIT", "time_in_force": "GTC", "limit_price": "99.50",
        "context": {"risk_approved": true}});
    let (code, v) = api(&url, "POST", "/v1/executions", Some(body));
    assert!(passed(code, &v), "{code} {v}");
    let id = v["order_id"].as_u64().unwrap_or_else(|| panic!("{v}"));
    order_until(&url, id, "the limit buy rests", |o| o["status"] == "NEW");
    sim_cmd(&mut s, "price BTCUSDT 99.40");
    sim_cmd(&mut s, "price BTCUSDT 100.00");
    let o = order_until(&url, id, "partly filled", |o| {
        o["status"] == "PARTIALLY_FILLED" && o["filled_quantity"] != "0.000"
    });
    std::thread::sleep(Duration::from_millis(300));
    let o2 = order_until(&url, id, "partly filled, settled", |_| true);
    assert_eq!(o["filled_quantity"], o2["filled_quantity"], "{o} {o2}");
    let filled = units(o["filled_quantity"].as_str().unwrap());
    let left = 600_000 - filled;
    let (code, v) = api(
        &url,
        "POST",
        &format!("/v1/orders/{id}/replace"),
        Some(serde_json::json!({"quantity": "0.006", "limit_price": "99.00"})),
    );
    assert!(matches!(code, 200..=202), "{code} {v}");
    order_until(&url, id, "replaced", |o| {
        o["quantity"] == "0.006" && o["final"] == false && o["status"] != "PENDING_REPLACE"
    });
    // The new venue order is for the remainder.
    let mut log = Vec::new();
    execd::venue::bridge::wire::read_messages(
        &journal.join("bridge").join("binance"),
        |_, sent, t| log.push((sent, t.to_string())),
    )
    .unwrap();
    let cr = log
        .iter()
        .find(|(sent, t)| *sent && t.starts_with("POST /api/v3/order/cancelReplace?"))
        .unwrap_or_else(|| panic!("no cancelReplace: {log:#?}"));
    let rest = format!("0.{:03}", left / 100_000);
    assert!(
        cr.1.contains(&format!("&quantity={rest}&")),
        "{rest}: {}",
        cr.1
    );
    let q = format!("\"q\":\"0.{:08}\"", left);
    assert!(
        log.iter()
            .any(|(sent, t)| !*sent && t.contains("\"x\":\"NEW\"") && t.contains(&q)),
        "the venue's new order is not for {rest}"
    );
    for px in ["98.90", "98.80", "98.70", "98.60"] {
        let (_, o) = api(&url, "GET", &format!("/v1/orders/{id}"), None);
        if o["status"] == "FILLED" {
            break;
        }
        sim_cmd(&mut s, &format!("price BTCUSDT {px}"));
        std::thread::sleep(Duration::from_millis(200));
    }
    let o = order_until(&url, id, "filled at the new total", |o| {
        o["status"] == "FILLED"
    });
    assert_eq!(o["filled_quantity"], "0.006", "{o}");
    let st = sim_cmd(&mut s, "status");
    assert_eq!(st["open_orders"], 0, "{st}");
    assert_eq!(sim_traded(&st)["BTCUSDT"].1, 700_000, "0.001 + 0.006: {st}");
    let sim2 = sim_balances(&st);
    let now = wait_for("balances current", || {
        let b = api_balances(&url);
        (b["BTC"][0] == sim2["BTC"] && b["USDT"][0] == sim2["USDT"]).then_some(b)
    });
    for a in ["BTC", "USDT"] {
        assert_eq!(now[a][1], now[a][2], "{a} venue vs execd change: {now:?}");
    }
    assert_eq!(now["BTC"][3], 700, "fees in BTC: {now:?}");

    // Behind execd's back: 5 BTC more at the venue. A reconciliation finds it.
    let btc = sim2["BTC"] + 500_000_000;
    sim_cmd(
        &mut s,
        &format!("balance BTC {}.{:08}", btc / 100_000_000, btc % 100_000_000),
    );
    let (code, v) = api(
        &url,
        "POST",
        "/v1/reconciliation",
        Some(serde_json::json!({"venue": "binance"})),
    );
    assert!(matches!(code, 200..=202), "{code} {v}");
    wait_for("a report with the balance mismatch", || {
        let (_, v) = api(&url, "GET", "/v1/reconciliation", None);
        v["reports"]
            .as_array()?
            .iter()
            .any(|r| r["mismatches"].as_u64() > Some(0))
            .then_some(())
    });
    // The report's file has the line; the venue takes no new order until it is resolved.
    let (_, list) = api(&url, "GET", "/v1/reconciliation", None);
    let n = list["reports"]
        .as_array()
        .and_then(|r| r.iter().rev().find(|r| r["mismatches"].as_u64() > Some(0)))
        .and_then(|r| r["report"].as_u64())
        .unwrap_or_else(|| panic!("{list}"));
    let (_, rep) = api(&url, "GET", &format!("/v1/reconciliation/{n}"), None);
    assert!(
        rep["lines"]
            .as_array()
            .is_some_and(|l| l.iter().any(|l| l["what"] == "balance"
                && l["symbol"] == "BTC"
                && l["status"] == "MISMATCH"
                && l["theirs"] == "5.00699300"
                && l["ours"] == "0.00699300")),
        "{rep}"
    );
    let (code, v) = api_buy(&url, "held");
    assert!(!passed(code, &v), "a held venue took an order: {code} {v}");
    // The deposit is real: the venue's balances are accepted, and the comparison starts
    // over from them.
    let (code, v) = api(
        &url,
        "POST",
        "/v1/reconciliation/resolve",
        Some(serde_json::json!({"venue": "binance", "keep": "venue",
            "reason": "a deposit of 5 BTC, confirmed"})),
    );
    assert_eq!(code, 200, "{v}");
    assert!(v["restated"].as_u64() >= Some(1), "{v}");
    buy_until(&url, "resolved", passed);
    wait_for("the last buy in both changes", || {
        let b = api_balances(&url);
        (b["BTC"][2] > 0 && b["BTC"][1] == b["BTC"][2]).then_some(())
    });
    let (code, lines) = p.sigterm(30);
    assert!(code.is_some(), "{lines:#?}");
    let line = lines
        .iter()
        .find(|l| l.contains("execd: balance binance alpha BTC:"))
        .unwrap_or_else(|| panic!("{lines:#?}"));
    let change = line
        .split(", change ")
        .nth(1)
        .unwrap_or_else(|| panic!("{line}"));
    let (theirs, rest) = change.split_once(" at the venue, ").unwrap();
    let ours = rest.split_whitespace().next().unwrap();
    assert_eq!(theirs, ours, "{line}");
    assert!(units(ours) > 0, "{line}");
    replay(&["verify"], &journal);
    let rows = replay(
        &["export", "--format", "jsonl", "--kind", "reconciliation"],
        &journal,
    );
    assert!(
        rows.lines().any(|l| l.contains("\"line\":\"balance\"")
            && l.contains("\"asset\":\"BTC\"")
            && l.contains("MISMATCH")),
        "{rows}"
    );
    let fees = replay(
        &["export", "--format", "jsonl", "--kind", "fill_assets"],
        &journal,
    );
    let first: Value =
        serde_json::from_str(fees.lines().next().expect("fill_assets rows")).unwrap();
    assert_eq!(first["fields"]["fee_asset"], "BTC", "{first}");
    assert_eq!(first["fields"]["fee"], "0.00000100", "{first}");
    assert_eq!(first["fields"]["base_change"], "0.00100000", "{first}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// USDⓈ-M: the margin wallet execd reports at its stop (read at connection, kept from
/// ACCOUNT_UPDATE's `B`) is the simulator's after a flow with fills (realized PnL and
/// USDT commission in it); a wallet is shown, not reconciled against fills.
#[test]
fn binance_usdm_wallet_execd_reports_is_the_simulators() {
    let (mut s, port) = sim("usdm");
    let dir = tmp("usdm-wallet");
    let cfg = config(&dir, port, true);
    let mut e = execd(&cfg, &dir.join("journal"), 40);
    let (out, ok) = finish(&mut e, Duration::from_secs(90));
    assert!(ok, "{out:#?}");
    let [_, _, fills, ..] = flow(&out);
    assert!(fills > 0, "{out:#?}");
    let st = sim_cmd(&mut s, "status");
    let wallet = units(st["wallet"].as_str().unwrap_or_else(|| panic!("{st}")));
    assert_ne!(wallet, 10_000_000_000_000, "fills moved the wallet: {st}");
    let line = out
        .iter()
        .find(|l| l.starts_with("execd: balance binance alpha USDT: free "))
        .unwrap_or_else(|| panic!("no wallet line: {out:#?}"));
    assert!(line.ends_with("(wallet)"), "{line}");
    let free = line["execd: balance binance alpha USDT: free ".len()..]
        .split_whitespace()
        .next()
        .unwrap();
    assert_eq!(units(free), wallet, "{line} vs {st}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The simulator with extra flags (order-count caps and the like), otherwise as [`sim`].
fn sim_with(protocol: &str, extra: &[&str]) -> (Proc, u16) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_execd-binance-sim"));
    c.args([
        "--protocol",
        protocol,
        "--port",
        "0",
        "--api-key",
        KEY,
        "--min-notional",
        "0.01",
        "--volatility-bps",
        "0",
    ])
    .args(extra)
    .env("BINANCE_SIM_SECRET", SECRET);
    let p = spawn(c);
    let first = p.lines.recv_timeout(WAIT).expect("listening line");
    let v: Value = serde_json::from_str(&first).unwrap();
    assert_eq!(v["type"], "listening", "{first}");
    let port = v["port"].as_u64().unwrap() as u16;
    (p, port)
}

/// Waits (bounded) until the wall clock is early in a 10 s window, so a burst of orders
/// falls into one window of the venue's ORDERS limit (Binance's windows, the simulator's
/// and the gate's are aligned to Unix time).
fn early_in_ten_seconds() {
    let deadline = Instant::now() + Duration::from_secs(12);
    loop {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis()
            % 10_000;
        if ms < 1_500 {
            return;
        }
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn rate_limited(code: u16, v: &Value) -> bool {
    !passed(code, v) && v.to_string().contains("VENUE_RATE_LIMITED")
}

/// R-GATE-7, R-VEN-3 through the real binaries: the simulator publishes an ORDERS cap
/// of 3 per 10 s in exchangeInfo; the bridge tells the core (a journaled venue input),
/// and the gate counts the orders it sends itself. The fourth order in a window is
/// refused VENUE_RATE_LIMITED at the gate — the simulator never sees it (its order and
/// throttle counters say so: no -1015) — and orders pass again in the next window. Then a
/// 429 with Retry-After 3: new orders are held at the gate until it passes, with no
/// request reaching the simulator meanwhile. The journal replays to the same decisions
/// and the export shows the venue's limits as the gate had them.
#[test]
fn binance_order_count_budget_and_retry_after_hold_new_orders_at_the_gate() {
    let (mut s, port) = sim_with("spot", &["--order-limit-10s", "3"]);
    let dir = tmp("budget");
    let cfg = config(&dir, port, false);
    let journal = dir.join("journal");
    let mut c = Command::new(env!("CARGO_BIN_EXE_execd"));
    c.env_remove("EXECD_API_TOKEN")
        .args(["run", "--listen", "127.0.0.1:0", "--config"])
        .arg(&cfg)
        .arg("--journal")
        .arg(&journal)
        .env("E2E_BINANCE_KEY", KEY)
        .env("E2E_BINANCE_SECRET", SECRET);
    let (p, url) = common::LineProc::spawn_api(&mut c);
    // Up, with fresh quotes: one order through.
    buy_until(&url, "warm", passed);

    // A burst inside one window: three pass (what the window had left), the rest are
    // refused at the gate.
    early_in_ten_seconds();
    let before = sim_cmd(&mut s, "status");
    let mut passes = 0u64;
    let mut refused = 0u64;
    for k in 0..6 {
        let (code, v) = api_buy(&url, &format!("burst-{k}"));
        if passed(code, &v) {
            passes += 1;
        } else {
            assert!(rate_limited(code, &v), "burst-{k}: {code} {v}");
            refused += 1;
        }
    }
    assert!(
        refused >= 3 && passes <= 3,
        "{passes} passed, {refused} refused"
    );
    std::thread::sleep(Duration::from_millis(500));
    let after = sim_cmd(&mut s, "status");
    let reached = after["orders"].as_u64().unwrap() - before["orders"].as_u64().unwrap();
    assert_eq!(
        reached, passes,
        "only what the gate let through reached the venue"
    );
    assert_eq!(
        after["throttled"], before["throttled"],
        "the venue never had to refuse an order (-1015): {after}"
    );
    // The next window takes orders again.
    let freed = Instant::now();
    buy_until(&url, "next-window", passed);
    assert!(freed.elapsed() < Duration::from_secs(11));

    // A 429 with Retry-After: 3 s: the order it answers is refused by the venue, then
    // new ones wait at the gate until it passes.
    early_in_ten_seconds();
    sim_cmd(&mut s, "throttle 1 3");
    let (code, v) = api_buy(&url, "throttled");
    let hit = Instant::now();
    let mut status = |k: &str| sim_cmd(&mut s, "status")[k].as_u64().unwrap();
    let _ = (code, v);
    let deadline = Instant::now() + WAIT;
    while status("throttled") == before["throttled"].as_u64().unwrap() {
        assert!(
            Instant::now() < deadline,
            "the simulator never answered 429"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let (requests, throttled) = (status("requests"), status("throttled"));
    let (code, v) = buy_until(&url, "held", rate_limited);
    assert!(hit.elapsed() < Duration::from_secs(3), "{code} {v}");
    let (code, v) = buy_until(&url, "after-hold", passed);
    assert!(
        hit.elapsed() >= Duration::from_millis(2_000),
        "passed {:?} after a 3 s Retry-After: {code} {v}",
        hit.elapsed()
    );
    // Nothing was sent while the venue said to wait: no violation, no ban.
    let end = sim_cmd(&mut s, "status");
    assert_eq!(end["throttled"].as_u64(), Some(throttled), "{end}");
    assert_eq!(end["banned"].as_u64(), Some(0), "{end}");
    assert!(end["requests"].as_u64().unwrap() > requests);

    let (code, lines) = p.sigterm(30);
    assert_eq!(code, Some(0), "{lines:#?}");
    // Replay rebuilds the same gate decisions from the journaled limits.
    replay(&["verify"], &journal);
    let rows = replay(
        &["export", "--format", "jsonl", "--kind", "rejected"],
        &journal,
    );
    assert!(rows.contains("VENUE_RATE_LIMITED"), "{rows}");
    let limits = replay(
        &["export", "--format", "jsonl", "--kind", "venue_limits"],
        &journal,
    );
    let rows: Vec<Value> = limits
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        rows.iter()
            .any(|r| r["fields"]["orders_short_cap"] == 3
                && r["fields"]["orders_short_window_s"] == 10),
        "{limits}"
    );
    assert!(
        rows.iter().any(|r| r["state"] == "HELD"),
        "the 429's hold is journaled: {limits}"
    );
    // Reports on thresholds, holds and releases only: far fewer than requests.
    assert!(rows.len() < 40, "{} limit reports", rows.len());
    let _ = std::fs::remove_dir_all(&dir);
}
