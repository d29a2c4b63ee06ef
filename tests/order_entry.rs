//! Order entry over FIX, through the real entry points: `execd run` with order-entry
//! sessions, `execd-venue-sim` as the broker behind it, and upstream clients that are
//! the real QuickFIX engine (`qf-peer initiator`, `interop/quickfix-peer`) or, for what
//! QuickFIX cannot be made to send (a PossResend repeat, garbage, a bad password, FIX
//! 5.0SP2), a raw FIX client of our own on a plain TCP socket.
//!
//! Every scenario checks both ends: QuickFIX's counters and reports against the
//! simulator's `status`, execd's exit lines and `execd-replay` on its journal.
//!
//! qf-peer's path: `EXECD_QF_PEER`, else `interop/quickfix-peer/target/release/qf-peer`.
//! Missing: with `CI=true` the QuickFIX tests fail; otherwise they print SKIP. Every
//! process is killed on drop, every wait is bounded, only 127.0.0.1 is used.

mod common;

use common::{collect, free_port, poll_until, u, JsonProc, TempDir, VenueSim};
use execd::venue::fix::codec::{frame, Decoder, Encoder};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(30);
const ROOT: &str = env!("CARGO_MANIFEST_DIR");
/// The raw client's password, given to execd through the environment only.
const PASSWORD: &str = "pw-Zq8!k2";
const PASSWORD_ENV: &str = "EXECD_TEST_ENTRY_PASSWORD";

// ---------------------------------------------------------------- plumbing

/// Waits for the wall clock's next second: execd's client order ids to the broker carry
/// the start's Unix second, so two starts within one second would repeat them.
fn next_second() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    std::thread::sleep(Duration::from_nanos(
        1_000_000_000 - now.subsec_nanos() as u64 + 5_000_000,
    ));
}

// ---------------------------------------------------------------- execd

/// `execd run` with its output collected; killed on drop.
struct Execd {
    child: Child,
    err: Arc<Mutex<String>>,
}

impl Drop for Execd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Execd {
    /// Starts `execd run` and waits until the order-entry sessions listen and the
    /// broker session is logged on (`sim` sees the logon).
    fn start(config: &Path, journal: &Path, sim: &mut VenueSim) -> Execd {
        let mut child = Command::new(env!("CARGO_BIN_EXE_execd"))
            .args(["run", "--listen", "off", "--config"])
            .arg(config)
            .arg("--journal")
            .arg(journal)
            .env(PASSWORD_ENV, PASSWORD)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("execd starts");
        let _out = collect(child.stdout.take().unwrap());
        let err = collect(child.stderr.take().unwrap());
        let x = Execd { child, err };
        x.wait_stderr("SIGINT or SIGTERM stops");
        sim.wait_line(|v| v["type"] == "logon");
        x
    }

    fn stderr(&self) -> String {
        self.err.lock().unwrap().clone()
    }

    fn wait_stderr(&self, what: &str) {
        poll_until(&format!("execd to say {what:?}"), || {
            self.stderr().contains(what).then_some(())
        });
    }

    fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().unwrap()
    }

    /// SIGTERM, a clean exit, and what it said.
    fn stop(mut self) -> String {
        // SAFETY: kill(2) on a child we own and have not reaped.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let st = poll_until("execd to exit", || self.exited());
        let end = Instant::now() + Duration::from_secs(5);
        while !self.stderr().contains("execd: stopped") && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(10));
        }
        let err = self.stderr();
        assert!(st.success(), "execd exit {st}\n{err}");
        err
    }

    /// SIGKILL: nothing is flushed, nothing said.
    fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The numbers of the session's exit line: (next out, next in, logons, refused logons,
/// orders, cancels/replaces, status requests, quotes, reports, refused messages, invalid,
/// PossDup repeats, resubmitted, remembered).
fn desk_line(stderr: &str, name: &str) -> Vec<u64> {
    let l = stderr
        .lines()
        .find(|l| l.starts_with(&format!("execd: order entry {name}: next sequence numbers")))
        .unwrap_or_else(|| panic!("no exit line for {name}:\n{stderr}"));
    l.split_once("numbers")
        .unwrap()
        .1
        .split(|c: char| !c.is_ascii_digit())
        .filter(|w| !w.is_empty())
        .map(|w| w.parse().unwrap())
        .collect()
}

fn replay(args: &[&str]) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_execd-replay"))
        .args(args)
        .output()
        .expect("execd-replay runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "execd-replay {args:?} failed:\n{text}");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The journal's events, checked by `execd-replay verify` first.
fn journal_events(journal: &Path) -> Vec<Value> {
    replay(&["verify", journal.to_str().unwrap()]);
    replay(&["export", journal.to_str().unwrap(), "--format", "jsonl"])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn count(events: &[Value], kind: &str, state: Option<&str>) -> usize {
    events
        .iter()
        .filter(|e| e["kind"] == kind && state.is_none_or(|s| e["state"] == s))
        .count()
}

/// The orders the journal shows in `state` (a status query repeats a state: counted once).
fn orders_in(events: &[Value], state: &str) -> BTreeSet<u64> {
    events
        .iter()
        .filter(|e| e["kind"] == "order" && e["state"] == state)
        .filter_map(|e| e["order"].as_u64())
        .collect()
}

// ---------------------------------------------------------------- configuration

/// `examples/fix-sim.toml` (execd trading with the simulator on `sim_port`) plus the
/// order-entry sessions, all on `entry_port`:
/// - `desk`: QuickFIX's QFINIT, FIX 4.4, validated against the built-in dictionary;
/// - `d42`: QuickFIX's QF42, FIX 4.2;
/// - `locked`: QFLOCK, with a password (which QuickFIX's peer cannot send);
/// - `raw`: our raw client RAW, FIX 4.4, Username and the password from the environment;
/// - `d50`: raw client RAW50, FIX 5.0SP2 over FIXT.1.1;
/// - `md`: raw client MD, sending tops of book (not risk approved: no orders);
/// - `away`: raw client AWAY, keeping at most 4 reports while it is not logged on.
fn config(dir: &Path, sim_port: u16, entry_port: u16) -> PathBuf {
    config_with(dir, sim_port, entry_port, &[])
}

/// [`config`] with more (from, to) edits of the example's text.
fn config_with(dir: &Path, sim_port: u16, entry_port: u16, edits: &[(&str, &str)]) -> PathBuf {
    let mut text = std::fs::read_to_string(format!("{ROOT}/examples/fix-sim.toml")).unwrap();
    for (from, to) in edits {
        assert!(text.contains(from), "examples/fix-sim.toml has no {from:?}");
        text = text.replace(from, to);
    }
    for (from, to) in [
        (
            "SocketConnectPort = 9878",
            format!("SocketConnectPort = {sim_port}"),
        ),
        ("ReconnectInterval = 30", "ReconnectInterval = 1".into()),
        // Quotes arrive once, from the `md` session.
        (
            "max_quote_age_ms = 5000",
            "max_quote_age_ms = 86400000".into(),
        ),
        // The simulator's prices walk; resting orders sit 15 % away.
        ("price_band_bps = 500", "price_band_bps = 2500".into()),
    ] {
        assert!(text.contains(from), "examples/fix-sim.toml has no {from:?}");
        text = text.replace(from, &to);
    }
    let session = |name: &str, peer: &str, begin: &str, extra: &str, risk: bool, top: &str| {
        let dict = if begin == "FIXT.1.1" {
            "TransportDataDictionary = \"FIXT.1.1\"\nAppDataDictionary = \"FIX.5.0SP2\"".to_string()
        } else {
            format!("DataDictionary = \"{begin}\"")
        };
        format!(
            "\n[[order_entry]]\nname = \"{name}\"\naccount = \"alpha\"\nvenue = \"sim\"\nrisk_approved = {risk}\n{top}\n\
             [order_entry.fix]\nSocketAcceptPort = {entry_port}\nBeginString = \"{begin}\"\n\
             SenderCompID = \"EXECD\"\nTargetCompID = \"{peer}\"\n{dict}\n{extra}\n"
        )
    };
    let pw = format!("Username = \"raw\"\nPasswordEnv = \"{PASSWORD_ENV}\"");
    text += &session("desk", "QFINIT", "FIX.4.4", "", true, "");
    text += &session("d42", "QF42", "FIX.4.2", "", true, "");
    text += &session("locked", "QFLOCK", "FIX.4.4", &pw, true, "");
    text += &session("raw", "RAW", "FIX.4.4", &pw, true, "");
    text += &session("d50", "RAW50", "FIXT.1.1", "", true, "");
    text += &session("md", "MD", "FIX.4.4", "", false, "");
    text += &session(
        "away",
        "AWAY",
        "FIX.4.4",
        "",
        true,
        "max_queued_reports = 4",
    );
    let p = dir.join("execd.toml");
    std::fs::write(&p, text).unwrap();
    p
}

/// The broker: the simulator resting limits until its price path reaches them, its
/// numbers in `dir/sim`, with `extra` flags.
fn sim(dir: &Path, extra: &[&str]) -> VenueSim {
    let store = dir.join("sim");
    let mut args = vec![
        "--policy",
        "book",
        "--store",
        store.to_str().unwrap(),
        "--dict-dir",
        "fix-dictionaries",
    ];
    args.extend_from_slice(extra);
    VenueSim::start(&args)
}

// ---------------------------------------------------------------- a raw FIX client

type Fields = Vec<(u32, String)>;

fn get(f: &Fields, tag: u32) -> Option<&str> {
    f.iter().find(|(t, _)| *t == tag).map(|(_, v)| v.as_str())
}

fn show(f: &Fields) -> String {
    f.iter().map(|(t, v)| format!("{t}={v}|")).collect()
}

/// A FIX initiator on a plain socket: it writes exactly what it is told to.
struct Raw {
    s: TcpStream,
    begin: String,
    sender: String,
    seq: u64,
    buf: Vec<u8>,
    dec: Decoder,
}

fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

impl Raw {
    fn connect(port: u16, begin: &str, sender: &str) -> Raw {
        let s = TcpStream::connect(("127.0.0.1", port)).expect("connects");
        s.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        s.set_nodelay(true).unwrap();
        Raw {
            s,
            begin: begin.into(),
            sender: sender.into(),
            seq: 1,
            buf: Vec::new(),
            dec: Decoder::new(),
        }
    }

    /// A message with our next MsgSeqNum; `header` fields go before SenderCompID.
    fn send_with<S: AsRef<str>>(
        &mut self,
        mt: &str,
        header: &[(u32, &str)],
        body: &[(u32, S)],
    ) -> u64 {
        let mut e = Encoder::new(&self.begin, 8192);
        e.start(mt.as_bytes()).uint(34, self.seq);
        for (t, v) in header {
            e.bytes(*t, v.as_bytes());
        }
        e.bytes(49, self.sender.as_bytes())
            .timestamp(52, now_ns(), false)
            .bytes(56, b"EXECD");
        for (t, v) in body {
            e.bytes(*t, v.as_ref().as_bytes());
        }
        let f = e.finish().to_vec();
        self.write(&f);
        self.seq += 1;
        self.seq - 1
    }

    fn send<S: AsRef<str>>(&mut self, mt: &str, body: &[(u32, S)]) -> u64 {
        self.send_with(mt, &[], body)
    }

    fn write(&mut self, b: &[u8]) {
        self.s.write_all(b).expect("write");
    }

    /// The next frame before `until`: `Some(None)` when the connection closed.
    fn read(&mut self, until: Instant) -> Option<Option<Fields>> {
        loop {
            if let Ok(n) = frame(&self.buf) {
                let m = self
                    .dec
                    .decode(&self.buf[..n])
                    .expect("execd's frames decode");
                let f = m
                    .fields()
                    .map(|x| (x.tag, String::from_utf8_lossy(x.value).into_owned()))
                    .collect();
                self.buf.drain(..n);
                return Some(Some(f));
            }
            if Instant::now() >= until {
                return None;
            }
            let mut b = [0u8; 65536];
            match self.s.read(&mut b) {
                Ok(0) => return Some(None),
                Ok(n) => self.buf.extend_from_slice(&b[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => return Some(None),
            }
        }
    }

    /// The first message matching `pred`, answering test requests on the way.
    fn expect(&mut self, what: &str, pred: impl Fn(&Fields) -> bool) -> Fields {
        let until = Instant::now() + WAIT;
        let mut seen = Vec::new();
        loop {
            match self.read(until) {
                Some(Some(f)) if pred(&f) => return f,
                Some(Some(f)) => {
                    if get(&f, 35) == Some("1") {
                        let id = get(&f, 112).unwrap_or("").to_string();
                        self.send("0", &[(112, id.as_str())]);
                    }
                    seen.push(show(&f));
                }
                Some(None) => panic!(
                    "{}: connection closed waiting for {what}; saw {seen:#?}",
                    self.sender
                ),
                None => panic!("{}: no {what} within {WAIT:?}; saw {seen:#?}", self.sender),
            }
        }
    }

    /// The next message of type `mt`.
    fn expect_type(&mut self, mt: &str) -> Fields {
        self.expect(&format!("35={mt}"), |f| get(f, 35) == Some(mt))
    }

    /// An execution report for `cl` with ExecType `et`.
    fn expect_exec(&mut self, cl: &str, et: &str) -> Fields {
        self.expect(&format!("ExecutionReport 11={cl} 150={et}"), |f| {
            get(f, 35) == Some("8") && get(f, 11) == Some(cl) && get(f, 150) == Some(et)
        })
    }

    fn logon(&mut self, extra: &[(u32, &str)]) -> Fields {
        let mut body = vec![(98, "0"), (108, "30")];
        body.extend_from_slice(extra);
        self.send("A", &body);
        self.expect_type("A")
    }

    /// Whether the other side closes the connection within `d` without sending a thing.
    fn closed_silently(&mut self, d: Duration) -> bool {
        matches!(self.read(Instant::now() + d), Some(None))
    }

    /// A round trip through the session: everything sent before is handled.
    fn ping(&mut self, id: &str) {
        self.send("1", &[(112, id)]);
        self.expect(&format!("Heartbeat {id}"), |f| {
            get(f, 35) == Some("0") && get(f, 112) == Some(id)
        });
    }

    fn logout(&mut self) {
        self.send::<&str>("5", &[]);
        self.expect_type("5");
    }
}

/// Tops of book for AAPL and MSFT around 100, from the `md` session: the gate needs
/// market data, and the broker sends none.
fn send_quotes(port: u16) {
    let mut md = Raw::connect(port, "FIX.4.4", "MD");
    md.logon(&[]);
    for sym in ["AAPL", "MSFT"] {
        md.send(
            "W",
            &[
                (55, sym),
                (268, "2"),
                (269, "0"),
                (270, "99.99"),
                (271, "100000"),
                (269, "1"),
                (270, "100.01"),
                (271, "100000"),
            ],
        );
    }
    // The quotes went to the core ahead of anything sent after this answer.
    md.ping("quotes");
    md.logout();
}

// ---------------------------------------------------------------- QuickFIX

struct Qf {
    p: JsonProc,
}

impl Qf {
    /// `qf-peer initiator` as `sender`, to execd's EXECD on `port`.
    fn initiator(bin: &Path, port: u16, sender: &str, store: &Path, extra: &[&str]) -> Qf {
        let mut args: Vec<String> = [
            "initiator",
            "--port",
            &port.to_string(),
            "--sender",
            sender,
            "--target",
            "EXECD",
            "--store",
            store.to_str().unwrap(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        let mut p = JsonProc::spawn("qf-peer", bin, &args);
        p.wait_type("ready");
        Qf { p }
    }

    fn status_until(&mut self, what: &str, f: impl Fn(&Value) -> bool) -> Value {
        let end = Instant::now() + WAIT;
        loop {
            let s = self.p.status();
            if f(&s) {
                return s;
            }
            assert!(
                Instant::now() < end,
                "qf-peer: timed out waiting for {what}; last {s}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The first report for `cl` with ExecType `et`.
    fn exec(&mut self, cl: &str, et: &str) -> Value {
        self.p.wait_for(&format!("exec {cl} {et}"), |v| {
            v["type"] == "exec" && v["cl_ord_id"] == cl && v["exec_type"] == et
        })
    }

    /// Every report seen so far.
    fn execs(&mut self) -> Vec<Value> {
        self.p.seen("exec")
    }
}

/// A qf-peer number that may be printed as a string or a number.
fn num(v: &Value) -> f64 {
    v.as_f64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        .unwrap_or(f64::NAN)
}

/// A NewOrderSingle's body: market without a price, limit with one.
fn order(cl: &str, sym: &str, side: &str, qty: &str, px: Option<&str>) -> Vec<(u32, String)> {
    let mut f = vec![
        (11, cl.to_string()),
        (21, "1".to_string()),
        (38, qty.to_string()),
        (40, if px.is_some() { "2" } else { "1" }.to_string()),
    ];
    if let Some(p) = px {
        f.push((44, p.to_string()));
    }
    f.extend([
        (54, side.to_string()),
        (55, sym.to_string()),
        (60, "20260101-00:00:00".to_string()),
    ]);
    f
}

/// Every file under `dir`, read whole.
fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.push((p.clone(), std::fs::read(&p).unwrap_or_default()));
            }
        }
    }
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

// ================================================================ raw clients

/// What QuickFIX cannot be made to send, from a raw socket: bad credentials, garbage
/// before and after a Logon, a PossResend repeat, a fresh repeat, values that fit no
/// number, instructions execd does not carry out, unknown message types and
/// instruments, FIX 5.0SP2. Each gets its answer; the daemon trades on, and the
/// password is nowhere on disk or in its output.
#[test]
fn raw_clients_trade_and_nothing_they_send_crashes_the_gateway() {
    let dir = TempDir::new("entry-raw");
    // The broker refuses orders above 500: the venue's rejections come back too.
    let mut s = sim(&dir, &["--reject-qty-above", "500"]);
    let port = free_port();
    let cfg = config(&dir, s.port, port);
    let journal = dir.join("journal");
    let x = Execd::start(&cfg, &journal, &mut s);
    send_quotes(port);

    // Credentials: wrong or missing, the connection closes without an answer.
    for creds in [
        vec![(553, "raw"), (554, "wrong")],
        vec![(554, PASSWORD)],
        vec![(553, "someone"), (554, PASSWORD)],
    ] {
        let mut bad = Raw::connect(port, "FIX.4.4", "RAW");
        let mut body = vec![(98, "0"), (108, "30")];
        body.extend(creds.iter().copied());
        bad.send("A", &body);
        assert!(bad.closed_silently(WAIT), "refused silently: {creds:?}");
    }
    // Not a Logon first, or garbage: closed, nothing answered.
    let mut g = Raw::connect(port, "FIX.4.4", "RAW");
    g.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    g.send("D", &order("g1", "AAPL", "1", "1", None));
    assert!(g.closed_silently(WAIT));
    // A CompID no session has.
    let mut n = Raw::connect(port, "FIX.4.4", "NOBODY");
    n.send("A", &[(98, "0"), (108, "30")]);
    assert!(n.closed_silently(WAIT));

    // A stranger holding as many idle connections as the gateway lets wait for a Logon
    // does not lock clients out: the one that waited longest is closed to make room.
    let idle: Vec<std::net::TcpStream> = (0..256)
        .map(|_| std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect"))
        .collect();
    let mut r = Raw::connect(port, "FIX.4.4", "RAW");
    // 49 KB of tiny broken frames before the Logon: stepped over without an answer, and
    // the Logon after them binds.
    r.write(&b"8=FIX\x01x".repeat(7_000));
    r.logon(&[(553, "raw"), (554, PASSWORD)]);
    drop(idle);
    // A market order: pending new, new, filled.
    r.send("D", &order("m1", "AAPL", "1", "10", None));
    let a = r.expect_exec("m1", "A");
    let order_id = get(&a, 37).unwrap().to_string();
    assert!(order_id.parse::<u64>().is_ok(), "{}", show(&a));
    assert_eq!(get(&a, 39), Some("A"));
    r.expect_exec("m1", "0");
    let f = r.expect_exec("m1", "F");
    assert_eq!(
        (get(&f, 39), get(&f, 14), get(&f, 151), get(&f, 32)),
        (Some("2"), Some("10"), Some("0"), Some("10")),
        "{}",
        show(&f)
    );
    let px: f64 = get(&f, 31).unwrap().parse().unwrap();
    assert!((80.0..120.0).contains(&px), "{}", show(&f));
    assert!(
        get(&f, 17).unwrap().starts_with(&format!("{order_id}-F-")),
        "{}",
        show(&f)
    );
    // A PossResend repeat: the order's status, not a second order (R-IN-3).
    r.send_with("D", &[(97, "Y")], &order("m1", "AAPL", "1", "10", None));
    let st = r.expect_exec("m1", "I");
    assert_eq!(
        (get(&st, 39), get(&st, 37)),
        (Some("2"), Some(order_id.as_str())),
        "{}",
        show(&st)
    );
    // A fresh repeat: refused as a duplicate.
    r.send("D", &order("m1", "AAPL", "1", "10", None));
    let d = r.expect_exec("m1", "8");
    assert!(
        get(&d, 58).unwrap().starts_with("DUPLICATE_CLORDID: "),
        "{}",
        show(&d)
    );
    assert_eq!(get(&d, 103), Some("6"));
    // A ClOrdID too long for a request id.
    let long = "L".repeat(40);
    r.send("D", &order(&long, "AAPL", "1", "1", None));
    let l = r.expect_exec(&long, "8");
    assert!(
        get(&l, 58).unwrap().starts_with("CLORDID_TOO_LONG: "),
        "{}",
        show(&l)
    );
    // A quantity no number holds: refused by the dictionary (35=3) or by the gateway,
    // never guessed at.
    r.send("D", &order("q1", "AAPL", "1", "99999999999999999999", None));
    let q = r.expect("an answer to q1", |f| {
        get(f, 35) == Some("3") || (get(f, 35) == Some("8") && get(f, 11) == Some("q1"))
    });
    if get(&q, 35) == Some("8") {
        assert!(
            get(&q, 58).unwrap().starts_with("BAD_FIELD: OrderQty(38)"),
            "{}",
            show(&q)
        );
    }
    // An instruction execd does not carry out: refused, not ignored.
    let mut floor = order("mf1", "AAPL", "1", "10", Some("100"));
    floor.push((111, "5".into()));
    r.send("D", &floor);
    let m = r.expect_exec("mf1", "8");
    assert!(
        get(&m, 58)
            .unwrap()
            .starts_with("UNSUPPORTED: MaxFloor(111)"),
        "{}",
        show(&m)
    );
    // The gate's refusal, with its reason code.
    r.send("D", &order("big", "AAPL", "1", "6000", None));
    let b = r.expect_exec("big", "8");
    assert!(
        get(&b, 58).unwrap().starts_with("MAX_ORDER_QTY: "),
        "{}",
        show(&b)
    );
    assert_eq!((get(&b, 39), get(&b, 103)), (Some("8"), Some("3")));
    // The venue's refusal: passed the gate, sent, rejected by the broker.
    r.send("D", &order("vr1", "AAPL", "1", "600", None));
    r.expect_exec("vr1", "A");
    let v = r.expect_exec("vr1", "8");
    // The simulator says OrdRejReason 3 (over a limit), which execd reads as funds.
    assert!(
        get(&v, 58)
            .unwrap()
            .starts_with("VENUE_INSUFFICIENT_FUNDS: "),
        "{}",
        show(&v)
    );
    assert_eq!(get(&v, 103), Some("3"), "{}", show(&v));
    // A message the dictionary refuses (no Side): the session's 35=3, and nothing else.
    let mut no_side = order("ns1", "AAPL", "1", "1", None);
    no_side.retain(|(t, _)| *t != 54);
    let seq = r.send("D", &no_side);
    let rj = r.expect_type("3");
    assert_eq!(
        (get(&rj, 45), get(&rj, 371), get(&rj, 373)),
        (Some(seq.to_string().as_str()), Some("54"), Some("1")),
        "{}",
        show(&rj)
    );
    r.ping("after-reject");
    // Garbage on a live session, a frame with a wrong checksum: ignored.
    r.write(b"\x01\x01garbage=1\x01");
    r.write(b"8=FIX.4.4\x019=5\x0135=0\x0110=000\x01");
    r.ping("alive");
    // A message type order entry does not handle.
    let seq = r.send("B", &[(148, "hi"), (33, "1"), (58, "x")]);
    let j = r.expect_type("j");
    assert_eq!(
        (get(&j, 380), get(&j, 45), get(&j, 372)),
        (Some("3"), Some(seq.to_string().as_str()), Some("B")),
        "{}",
        show(&j)
    );
    // A top of book for an instrument execd does not know.
    let seq = r.send(
        "W",
        &[
            (55, "NOPE"),
            (268, "2"),
            (269, "0"),
            (270, "1"),
            (269, "1"),
            (270, "2"),
        ],
    );
    let j = r.expect_type("j");
    assert_eq!(
        (get(&j, 380), get(&j, 45)),
        (Some("2"), Some(seq.to_string().as_str())),
        "{}",
        show(&j)
    );
    assert!(
        get(&j, 58).unwrap().starts_with("UNKNOWN_INSTRUMENT: "),
        "{}",
        show(&j)
    );
    // A cancel of an order nobody sent.
    r.send(
        "F",
        &[
            (11, "c1"),
            (41, "nosuch"),
            (38, "1"),
            (54, "1"),
            (55, "AAPL"),
            (60, "20260101-00:00:00"),
        ],
    );
    let c = r.expect_type("9");
    assert_eq!(
        (get(&c, 11), get(&c, 41), get(&c, 102), get(&c, 434)),
        (Some("c1"), Some("nosuch"), Some("1"), Some("1")),
        "{}",
        show(&c)
    );
    r.logout();

    // FIX 5.0SP2 over FIXT.1.1: a marketable sell limit.
    let mut t = Raw::connect(port, "FIXT.1.1", "RAW50");
    t.logon(&[(1137, "9")]);
    t.send("D", &order("n1", "MSFT", "2", "5", Some("80")));
    t.expect_exec("n1", "A");
    t.expect_exec("n1", "0");
    let f = t.expect_exec("n1", "F");
    assert_eq!(
        (get(&f, 39), get(&f, 14), get(&f, 54)),
        (Some("2"), Some("5"), Some("2")),
        "{}",
        show(&f)
    );
    t.logout();

    let st = s.status();
    let err = x.stop();
    assert!(!err.contains(PASSWORD), "the password is in execd's output");
    for (p, b) in files(&journal) {
        assert!(
            !contains(&b, PASSWORD.as_bytes()),
            "the password is in {}",
            p.display()
        );
    }
    // The broker saw exactly the orders that passed the gate: two filled, one refused.
    assert_eq!(
        (u(&st, "orders"), u(&st, "fills"), u(&st, "rejects")),
        (3, 2, 1),
        "{st}"
    );
    let ev = journal_events(&journal);
    assert_eq!(count(&ev, "fill", None), 2);
    assert_eq!(orders_in(&ev, "FILLED").len(), 2);
    let raw = desk_line(&err, "raw");
    assert_eq!(
        raw[3], 3,
        "three refused logons on the raw session (wrong password, no user, wrong user): {raw:?}"
    );
    assert!(
        err.contains("Logon refused: no session for SenderCompID \"NOBODY\""),
        "{err}"
    );
}

// ================================================================ QuickFIX

/// QuickFIX's initiator trades through the gateway: a market order and a marketable
/// limit filled, a resting limit replaced, asked about and canceled, a gate rejection
/// with its reason code, a duplicate ClOrdID and a cancel of an unknown order refused.
/// QuickFIX's counters agree with the broker's and with the journal, and the two
/// sides' sequence numbers agree when execd stops.
#[test]
fn quickfix_orders_are_executed_and_reported() {
    let qfb = need_qf!();
    let dir = TempDir::new("entry-qf");
    let mut s = sim(&dir, &[]);
    let port = free_port();
    let cfg = config(&dir, s.port, port);
    let journal = dir.join("journal");
    let x = Execd::start(&cfg, &journal, &mut s);
    send_quotes(port);
    let mut qf = Qf::initiator(&qfb, port, "QFINIT", &dir.join("qf"), &[]);
    qf.p.cmd("wait-logon 20");

    qf.p.cmd("order m1 AAPL buy 10");
    qf.p.cmd("order l1 AAPL buy 20 105");
    qf.p.cmd("order r1 MSFT buy 30 85");
    qf.p.cmd("order big AAPL buy 6000");
    for cl in ["m1", "l1"] {
        let a = qf.exec(cl, "A");
        assert_eq!(a["ord_status"], "A", "{a}");
        qf.exec(cl, "0");
        let f = qf.exec(cl, "F");
        assert_eq!(
            (f["ord_status"].as_str(), num(&f["leaves_qty"])),
            (Some("2"), 0.0),
            "{f}"
        );
        assert_eq!(num(&f["cum_qty"]), num(&f["last_qty"]), "{f}");
        assert!(
            f["exec_id"].as_str().unwrap().starts_with(&format!(
                "{}-F-",
                f["order_id"].as_str().unwrap_or(&f["order_id"].to_string())
            )),
            "{f}"
        );
    }
    let r = qf.exec("r1", "0");
    assert_eq!(
        (r["ord_status"].as_str(), num(&r["leaves_qty"])),
        (Some("0"), 30.0),
        "{r}"
    );
    let b = qf.exec("big", "8");
    assert!(
        b["text"].as_str().unwrap().starts_with("MAX_ORDER_QTY: "),
        "{b}"
    );

    // Replace the resting order (quantity and price), ask about it, cancel it.
    qf.p.cmd("replace r1a r1 MSFT buy 40 86");
    let rp = qf.exec("r1a", "5");
    assert_eq!(
        (
            rp["orig_cl_ord_id"].as_str(),
            num(&rp["order_qty"]),
            num(&rp["price"])
        ),
        (Some("r1"), 40.0, 86.0),
        "{rp}"
    );
    qf.p.cmd("orderstatus r1a MSFT buy");
    let st = qf.exec("r1a", "I");
    assert_eq!(
        (st["ord_status"].as_str(), num(&st["order_qty"])),
        (Some("0"), 40.0),
        "{st}"
    );
    qf.p.cmd("cancel r1c r1a MSFT buy 40");
    let c = qf.exec("r1c", "4");
    assert_eq!(
        (c["orig_cl_ord_id"].as_str(), c["ord_status"].as_str()),
        (Some("r1a"), Some("4")),
        "{c}"
    );

    // The same ClOrdID again: no second order. A cancel of an order nobody sent.
    qf.p.cmd("order m1 AAPL buy 10");
    let d = qf.p.wait_for("the duplicate's reject", |v| {
        v["type"] == "exec" && v["cl_ord_id"] == "m1" && v["exec_type"] == "8"
    });
    assert!(
        d["text"]
            .as_str()
            .unwrap()
            .starts_with("DUPLICATE_CLORDID: "),
        "{d}"
    );
    qf.p.cmd("cancel x1 nosuch AAPL buy 1");
    let cr = qf.p.wait_type("cancel_reject");
    assert_eq!(
        (
            cr["cl_ord_id"].as_str(),
            cr["reason"].as_str(),
            cr["response_to"].as_str()
        ),
        (Some("x1"), Some("1"), Some("1")),
        "{cr}"
    );

    let q = qf.status_until("every report", |v| u(v, "exec_reports") >= 12);
    let st = s.status();
    // QuickFIX and the broker agree: three orders reached the venue (the gate kept the
    // big one, the gateway the duplicate), two filled, one replaced and canceled.
    assert_eq!(u(&q, "orders"), 5, "{q}");
    assert_eq!(
        (
            u(&st, "orders"),
            u(&st, "fills"),
            u(&st, "replaces"),
            u(&st, "cancels")
        ),
        (3, 2, 1, 1),
        "{st}"
    );
    assert_eq!(
        (
            u(&q, "fills"),
            u(&q, "filled_orders"),
            u(&q, "replaces"),
            u(&q, "cancels")
        ),
        (2, 2, 1, 1),
        "{q}"
    );
    assert_eq!(
        (
            u(&q, "orders_rejected"),
            u(&q, "cancel_rejects"),
            u(&q, "open_orders")
        ),
        (2, 1, 0),
        "{q}"
    );
    assert_eq!(
        u(&q, "rejects_received"),
        0,
        "execd's reports all passed QuickFIX: {q}"
    );

    let err = x.stop();
    let q = qf.status_until("execd's logout", |v| v["logged_on"] == false);
    let desk = desk_line(&err, "desk");
    assert_eq!(
        (u(&q, "next_target_seq"), u(&q, "next_sender_seq")),
        (desk[0], desk[1]),
        "QuickFIX (next target, next sender) vs execd (next out, next in): {q}\n{err}"
    );
    assert_eq!(
        u(&q, "logouts_received"),
        1,
        "execd logged QuickFIX out as it stopped: {q}"
    );
    let ev = journal_events(&journal);
    assert_eq!(count(&ev, "fill", None), 2);
    assert_eq!(orders_in(&ev, "FILLED").len(), 2);
    assert_eq!(orders_in(&ev, "CANCELED").len(), 1);
    assert_eq!(orders_in(&ev, "REPLACED").len(), 1);
}

/// Fill reports per ClOrdID among QuickFIX's reports (PossDup copies of reports it
/// already had are reported by qf-peer as `duplicate`, not as `exec`).
fn fills_by_cl(execs: &[Value]) -> BTreeMap<String, Vec<Value>> {
    let mut m: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for e in execs {
        if e["exec_type"] == "F" || e["exec_type"] == "1" || e["exec_type"] == "2" {
            m.entry(e["cl_ord_id"].as_str().unwrap_or("").to_string())
                .or_default()
                .push(e.clone());
        }
    }
    m
}

/// execd is killed (SIGKILL) while the broker's answers to eight orders are on their
/// way, QuickFIX sends one more order while it is down, and execd restarts on the same
/// journal: QuickFIX reconnects, both sides continue their numbering, what each missed
/// is resent, every fill reaches QuickFIX under the right ClOrdID exactly once, and no
/// order reaches the broker twice.
#[test]
fn sigkill_mid_flow_then_restart_loses_and_doubles_nothing() {
    let qfb = need_qf!();
    let dir = TempDir::new("entry-kill");
    // The broker answers 300 ms late: orders are in flight when execd dies.
    let mut s = sim(&dir, &["--latency-us", "300000"]);
    let port = free_port();
    let cfg = config(&dir, s.port, port);
    let journal = dir.join("journal");
    let x = Execd::start(&cfg, &journal, &mut s);
    send_quotes(port);
    let mut qf = Qf::initiator(&qfb, port, "QFINIT", &dir.join("qf"), &[]);
    qf.p.cmd("wait-logon 20");
    qf.p.cmd("order rest MSFT buy 7 85");
    qf.exec("rest", "0");
    let mut cls: Vec<String> = (1..=8).map(|i| format!("k{i}")).collect();
    for cl in &cls {
        qf.p.cmd(&format!("order {cl} AAPL buy 3"));
    }
    // Through the gate and sent; the broker's answers are 300 ms away.
    qf.exec("k8", "A");
    let before = qf.p.status();
    assert_eq!(u(&before, "fills"), 0, "killed before any fill: {before}");
    x.kill();
    // QuickFIX sends while execd is down: the order goes out on the resend after logon.
    qf.p.cmd("order late AAPL sell 2");
    cls.push("late".into());
    next_second();
    let x = Execd::start(&cfg, &journal, &mut s);
    qf.status_until("QuickFIX logged on again", |v| {
        u(v, "logons") >= 2 && v["logged_on"] == true
    });
    for cl in &cls {
        qf.p.wait_for(&format!("{cl} filled"), |v| {
            v["type"] == "exec" && v["cl_ord_id"] == cl.as_str() && v["ord_status"] == "2"
        });
    }
    // An order entered before the crash is still the client's to cancel.
    qf.p.cmd("cancel restc rest MSFT buy 7");
    qf.exec("restc", "4");

    let q = qf.status_until("every fill", |v| u(v, "fills") >= 9);
    let execs = qf.execs();
    let fills = fills_by_cl(&execs);
    for cl in &cls {
        let f = fills.get(cl).map(|v| v.as_slice()).unwrap_or(&[]);
        assert_eq!(f.len(), 1, "{cl}: one fill report, not {}: {f:?}", f.len());
        let want = if cl == "late" { 2.0 } else { 3.0 };
        assert_eq!(
            (num(&f[0]["cum_qty"]), num(&f[0]["last_qty"])),
            (want, want),
            "{:?}",
            f[0]
        );
    }
    assert_eq!(
        fills.len(),
        cls.len(),
        "fills only for these orders: {fills:?}"
    );
    let ids: Vec<&str> = execs
        .iter()
        .filter(|e| e["exec_type"] != "I")
        .filter_map(|e| e["exec_id"].as_str())
        .collect();
    let distinct: BTreeSet<&str> = ids.iter().copied().collect();
    assert_eq!(
        distinct.len(),
        ids.len(),
        "an ExecID reported twice: {ids:?}"
    );
    // The broker got each order once.
    let st = s.status();
    assert_eq!(
        (u(&st, "orders"), u(&st, "fills"), u(&st, "cancels")),
        (10, 9, 1),
        "{st}"
    );
    assert_eq!((u(&q, "fills"), u(&q, "filled_orders")), (9, 9), "{q}");
    assert_eq!(u(&q, "rejects_received"), 0, "{q}");
    // Numbering continued on both sides: no reset, and QuickFIX resent what it sent
    // while execd was away.
    assert!(
        u(&q, "next_sender_seq") > u(&before, "next_sender_seq"),
        "{before} {q}"
    );
    assert_eq!(u(&q, "sequence_resets_received"), 0, "{q}");
    assert!(
        u(&q, "resend_requests_received") >= 1,
        "execd asked for what it missed: {q}"
    );

    let err = x.stop();
    let q = qf.status_until("execd's logout", |v| v["logged_on"] == false);
    let desk = desk_line(&err, "desk");
    assert_eq!(
        (u(&q, "next_target_seq"), u(&q, "next_sender_seq")),
        (desk[0], desk[1]),
        "QuickFIX vs execd: {q}\n{err}"
    );
    let ev = journal_events(&journal);
    assert_eq!(count(&ev, "fill", None), 9);
    assert_eq!(orders_in(&ev, "FILLED").len(), 9);
    assert_eq!(orders_in(&ev, "CANCELED").len(), 1);
}

/// QuickFIX restarted as a new process with ResetOnLogon (its numbers gone): both
/// sides start again at 1, the orders of its first life are still its own (asked about,
/// canceled), and their ClOrdIDs are still refused as duplicates.
#[test]
fn quickfix_restarted_with_reset_on_logon() {
    let qfb = need_qf!();
    let dir = TempDir::new("entry-reset");
    let mut s = sim(&dir, &[]);
    let port = free_port();
    let cfg = config(&dir, s.port, port);
    let journal = dir.join("journal");
    let x = Execd::start(&cfg, &journal, &mut s);
    send_quotes(port);
    let mut qf = Qf::initiator(
        &qfb,
        port,
        "QFINIT",
        &dir.join("qf1"),
        &["--reset-on-logon"],
    );
    qf.p.cmd("wait-logon 20");
    qf.p.cmd("order a1 AAPL buy 4");
    qf.p.cmd("order a2 MSFT buy 5 85");
    qf.exec("a1", "F");
    qf.exec("a2", "0");
    let first = qf.p.quit();
    assert_eq!(first["clean_logout"], true, "{first}");

    let mut qf = Qf::initiator(
        &qfb,
        port,
        "QFINIT",
        &dir.join("qf2"),
        &["--reset-on-logon"],
    );
    qf.p.cmd("wait-logon 20");
    let fresh = qf.p.status();
    assert_eq!(
        (u(&fresh, "next_sender_seq"), u(&fresh, "next_target_seq")),
        (2, 2),
        "numbering started again: {fresh}"
    );
    qf.p.cmd("orderstatus a2 MSFT buy");
    let st = qf.exec("a2", "I");
    assert_eq!(
        (st["ord_status"].as_str(), num(&st["cum_qty"])),
        (Some("0"), 0.0),
        "{st}"
    );
    qf.p.cmd("cancel a2c a2 MSFT buy 5");
    let c = qf.exec("a2c", "4");
    assert_eq!(c["orig_cl_ord_id"], "a2", "{c}");
    qf.p.cmd("order a1 AAPL buy 1");
    let d = qf.exec("a1", "8");
    assert!(
        d["text"]
            .as_str()
            .unwrap()
            .starts_with("DUPLICATE_CLORDID: "),
        "{d}"
    );
    qf.p.cmd("order b1 AAPL buy 2");
    qf.exec("b1", "F");
    let q = qf.status_until("every report", |v| u(v, "exec_reports") >= 6);

    let st = s.status();
    assert_eq!(
        (u(&st, "orders"), u(&st, "fills"), u(&st, "cancels")),
        (3, 2, 1),
        "{st}"
    );
    assert_eq!(u(&q, "rejects_received"), 0, "{q}");
    let err = x.stop();
    let q = qf.status_until("execd's logout", |v| v["logged_on"] == false);
    let desk = desk_line(&err, "desk");
    assert_eq!(
        (u(&q, "next_target_seq"), u(&q, "next_sender_seq")),
        (desk[0], desk[1]),
        "{q}\n{err}"
    );
    journal_events(&journal);
}

/// A FIX 4.2 session through QuickFIX: fills are ExecType 1/2 with ExecTransType 0.
#[test]
fn quickfix_fix42_session() {
    let qfb = need_qf!();
    let dir = TempDir::new("entry-42");
    let mut s = sim(&dir, &[]);
    let port = free_port();
    let cfg = config(&dir, s.port, port);
    let x = Execd::start(&cfg, &dir.join("journal"), &mut s);
    send_quotes(port);
    let mut qf = Qf::initiator(&qfb, port, "QF42", &dir.join("qf"), &["--begin", "FIX.4.2"]);
    qf.p.cmd("wait-logon 20");
    qf.p.cmd("order f1 MSFT sell 6");
    qf.exec("f1", "A");
    let f = qf.exec("f1", "2");
    assert_eq!(
        (f["ord_status"].as_str(), num(&f["cum_qty"])),
        (Some("2"), 6.0),
        "{f}"
    );
    qf.p.cmd("order f2 MSFT buy 1 85");
    qf.exec("f2", "0");
    qf.p.cmd("orderstatus f2 MSFT buy");
    // FIX 4.2 answers a status request with ExecTransType 3 and ExecType = OrdStatus.
    let st = qf.p.wait_for("f2's status", |v| {
        v["type"] == "exec"
            && v["cl_ord_id"] == "f2"
            && v["exec_id"].as_str().is_some_and(|i| i.contains("-I-"))
    });
    assert_eq!(st["exec_type"], "0", "{st}");
    let q = qf.status_until("the fill", |v| u(v, "fills") == 1);
    assert_eq!(
        (u(&q, "filled_orders"), u(&q, "rejects_received")),
        (1, 0),
        "{q}"
    );
    x.stop();
}

/// Logons QuickFIX makes with a CompID no session has, or without the password a
/// session wants, are refused: closed without an answer, again at every reconnection,
/// while the right client trades alongside.
#[test]
fn quickfix_with_a_wrong_comp_id_or_no_password_is_refused() {
    let qfb = need_qf!();
    let dir = TempDir::new("entry-refused");
    let mut s = sim(&dir, &[]);
    let port = free_port();
    let cfg = config(&dir, s.port, port);
    let x = Execd::start(&cfg, &dir.join("journal"), &mut s);
    let mut stranger = Qf::initiator(&qfb, port, "QFNOBODY", &dir.join("qf-n"), &[]);
    let mut locked = Qf::initiator(&qfb, port, "QFLOCK", &dir.join("qf-l"), &[]);
    let mut ok = Qf::initiator(&qfb, port, "QFINIT", &dir.join("qf-ok"), &[]);
    ok.p.cmd("wait-logon 20");
    x.wait_stderr("Logon refused: no session for SenderCompID \"QFNOBODY\"");
    x.wait_stderr("Logon refused: wrong Username or Password");
    // Give them time to retry: still not logged on.
    std::thread::sleep(Duration::from_secs(2));
    for q in [&mut stranger, &mut locked] {
        let st = q.p.status();
        assert_eq!(
            (st["logged_on"].as_bool(), u(&st, "logons")),
            (Some(false), 0),
            "{st}"
        );
    }
    let st = ok.p.status();
    assert_eq!(st["logged_on"], true, "{st}");
    let err = x.stop();
    let locked_line = desk_line(&err, "locked");
    assert!(
        locked_line[3] >= 2,
        "refused at every attempt: {locked_line:?}"
    );
    assert_eq!(locked_line[2], 0, "{locked_line:?}");
}

/// The example configuration checks; without its password variable it names the key.
#[test]
fn example_config_checks_and_names_a_missing_password_variable() {
    let run = |env: bool| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_execd"));
        c.args(["check-config", &format!("{ROOT}/examples/order-entry.toml")]);
        c.env_remove("EXECD_ENTRY_PASSWORD");
        if env {
            c.env("EXECD_ENTRY_PASSWORD", "not-shown-anywhere");
        }
        c.output().unwrap()
    };
    let o = run(true);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.contains("2 order-entry sessions"), "{out}");
    assert!(
        out.contains("order entry algo: 127.0.0.1:9890 as EXECD for ALGO (FIXT.1.1)"),
        "{out}"
    );
    assert!(!out.contains("not-shown-anywhere"), "{out}");
    let o = run(false);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains(
            "order_entry[1].fix.PasswordEnv: environment variable EXECD_ENTRY_PASSWORD is not set"
        ),
        "{err}"
    );
    // A dictionary that is not there is named by its key.
    let dir = TempDir::new("entry-check");
    let text = std::fs::read_to_string(format!("{ROOT}/examples/order-entry.toml")).unwrap();
    let bad = text.replacen(
        "DataDictionary = \"FIX.4.4\"",
        "DataDictionary = \"/nonexistent/FIX44.xml\"",
        1,
    );
    assert_ne!(bad, text);
    let p = dir.join("bad.toml");
    std::fs::write(&p, bad).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_execd"))
        .arg("check-config")
        .arg(&p)
        .env("EXECD_ENTRY_PASSWORD", "x")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("order_entry[0].fix.DataDictionary: ")
            && err.contains("/nonexistent/FIX44.xml"),
        "{err}"
    );
}

/// A burst far larger than the core's inbound ring (16 slots here): the gateway keeps
/// what the ring cannot take and stops reading the socket until there is room, so TCP
/// holds the client back. Nothing is dropped or refused; every order is filled once.
#[test]
fn a_burst_larger_than_the_core_ring_is_held_back_not_dropped() {
    let dir = TempDir::new("entry-burst");
    let mut s = sim(&dir, &[]);
    let port = free_port();
    let cfg = config_with(
        &dir,
        s.port,
        port,
        &[("ring_capacity = 65536", "ring_capacity = 16")],
    );
    let journal = dir.join("journal");
    let x = Execd::start(&cfg, &journal, &mut s);
    send_quotes(port);
    let mut r = Raw::connect(port, "FIX.4.4", "RAW");
    r.logon(&[(553, "raw"), (554, PASSWORD)]);
    const N: usize = 600;
    // One write: the gateway reads far more than the ring holds at once.
    let mut burst = Vec::new();
    for i in 0..N {
        let mut e = Encoder::new("FIX.4.4", 1024);
        e.start(b"D")
            .uint(34, r.seq)
            .bytes(49, b"RAW")
            .timestamp(52, now_ns(), false)
            .bytes(56, b"EXECD");
        for (t, v) in order(&format!("b{i}"), "AAPL", "1", "1", None) {
            e.bytes(t, v.as_bytes());
        }
        burst.extend_from_slice(e.finish());
        r.seq += 1;
    }
    r.write(&burst);
    let mut filled = BTreeSet::new();
    while filled.len() < N {
        let f = r.expect("fills", |f| {
            get(f, 35) == Some("8") && get(f, 150) == Some("F")
                || get(f, 35) == Some("3")
                || get(f, 150) == Some("8")
        });
        assert_eq!(get(&f, 150), Some("F"), "{}", show(&f));
        assert!(
            filled.insert(get(&f, 11).unwrap().to_string()),
            "a second fill: {}",
            show(&f)
        );
    }
    r.logout();
    let st = s.status();
    assert_eq!(
        (u(&st, "orders"), u(&st, "fills")),
        (N as u64, N as u64),
        "{st}"
    );
    let err = x.stop();
    let held: u64 = err
        .lines()
        .find(|l| l.contains("client input held back"))
        .and_then(|l| l.split("held back ").nth(1))
        .and_then(|t| t.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no held-back count:\n{err}"));
    assert!(held > 0, "the ring filled and the socket waited: {err}");
    let raw = desk_line(&err, "raw");
    assert_eq!((raw[4], raw[9]), (N as u64, 0), "{raw:?}");
}

/// A client that stops reading and drops its connection gets, after it logs on again,
/// everything it missed: the reports the session had numbered come again on its
/// ResendRequest (PossDup), each once, and no order is doubled.
#[test]
fn a_client_that_drops_the_connection_gets_what_it_missed() {
    let dir = TempDir::new("entry-drop");
    let mut s = sim(&dir, &["--latency-us", "50000"]);
    let port = free_port();
    let cfg = config(&dir, s.port, port);
    let x = Execd::start(&cfg, &dir.join("journal"), &mut s);
    send_quotes(port);
    let mut r = Raw::connect(port, "FIX.4.4", "RAW");
    let logon = r.logon(&[(553, "raw"), (554, PASSWORD)]);
    let mut expected: u64 = get(&logon, 34).unwrap().parse::<u64>().unwrap() + 1;
    r.send("D", &order("d1", "AAPL", "1", "4", None));
    r.expect_exec("d1", "A");
    expected += 1;
    // Then it reads nothing more and goes: the reports for d1 and d2 are numbered and
    // written to a socket whose unread data the kernel throws away.
    r.send("D", &order("d2", "AAPL", "1", "5", None));
    std::thread::sleep(Duration::from_millis(300));
    let seq = r.seq;
    drop(r);

    let mut r = Raw::connect(port, "FIX.4.4", "RAW");
    r.seq = seq;
    let logon = r.logon(&[(553, "raw"), (554, PASSWORD)]);
    let theirs: u64 = get(&logon, 34).unwrap().parse().unwrap();
    assert!(
        theirs > expected,
        "execd numbered reports the client never read"
    );
    r.send("2", &[(7, expected.to_string()), (16, "0".to_string())]);
    let mut got: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut resent = 0;
    while !["d1", "d2"]
        .iter()
        .all(|cl| got.contains_key(&(cl.to_string(), "F".into())))
    {
        let f = r.expect("reports", |f| get(f, 35) == Some("8"));
        resent += (get(&f, 43) == Some("Y")) as usize;
        *got.entry((get(&f, 11).unwrap().into(), get(&f, 150).unwrap().into()))
            .or_default() += 1;
    }
    r.ping("done");
    let d2: Vec<&str> = ["A", "0", "F"]
        .into_iter()
        .filter(|t| got.get(&("d2".into(), t.to_string())) == Some(&1))
        .collect();
    assert_eq!(d2, ["A", "0", "F"], "each of d2's reports once: {got:?}");
    assert_eq!(got.get(&("d1".into(), "F".into())), Some(&1), "{got:?}");
    assert!(got.values().all(|&n| n == 1), "nothing twice: {got:?}");
    if theirs > expected {
        assert!(
            resent > 0,
            "what was numbered while away came again as PossDup"
        );
    }
    r.logout();
    let st = s.status();
    assert_eq!((u(&st, "orders"), u(&st, "fills")), (2, 2), "{st}");
    x.stop();
}

/// More reports than a session keeps for an absent client: they are dropped, and at its
/// next Logon the core is asked about every order it has not seen finish; each gets one
/// report with its whole fill (ExecID `<order>-F-c<cum>`), none is lost or doubled.
#[test]
fn reports_overflowing_for_an_absent_client_are_rebuilt_from_the_core() {
    let dir = TempDir::new("entry-away");
    // Answers come 300 ms late: after the client has gone.
    let mut s = sim(&dir, &["--latency-us", "300000"]);
    let port = free_port();
    let cfg = config(&dir, s.port, port);
    let x = Execd::start(&cfg, &dir.join("journal"), &mut s);
    send_quotes(port);
    let mut r = Raw::connect(port, "FIX.4.4", "AWAY");
    r.logon(&[]);
    let cls: Vec<String> = (1..=5).map(|i| format!("w{i}")).collect();
    for (i, cl) in cls.iter().enumerate() {
        r.send("D", &order(cl, "AAPL", "1", &(i + 1).to_string(), None));
    }
    for cl in &cls {
        r.expect_exec(cl, "A");
    }
    r.logout();
    drop(r);
    // Ten reports (New and fill each) for a client allowed four.
    std::thread::sleep(Duration::from_millis(900));
    let mut r = Raw::connect(port, "FIX.4.4", "AWAY");
    r.seq = 8;
    let logon = r.logon(&[]);
    let theirs: u64 = get(&logon, 34).unwrap().parse().unwrap();
    assert_eq!(theirs, 8, "nothing was numbered while it was away");
    let mut fills: BTreeMap<String, Vec<Fields>> = BTreeMap::new();
    while fills.len() < cls.len() {
        let f = r.expect("fills", |f| {
            get(f, 35) == Some("8") && get(f, 150) == Some("F")
        });
        fills
            .entry(get(&f, 11).unwrap().into())
            .or_default()
            .push(f);
    }
    r.ping("done");
    for (i, cl) in cls.iter().enumerate() {
        let f = &fills[cl];
        assert_eq!(f.len(), 1, "{cl}: {f:?}");
        let q = (i + 1).to_string();
        assert_eq!(
            (get(&f[0], 39), get(&f[0], 14), get(&f[0], 32)),
            (Some("2"), Some(q.as_str()), Some(q.as_str())),
            "{}",
            show(&f[0])
        );
        assert!(
            get(&f[0], 17).unwrap().ends_with(&format!("-F-c{q}")),
            "{}",
            show(&f[0])
        );
    }
    r.logout();
    let err = x.stop();
    let away = desk_line(&err, "away");
    assert_eq!(
        (away[4], away[14]),
        (5, 1),
        "five orders, one overflow rebuilt: {away:?}"
    );
}
