//! What a hostile FIX peer can make the acceptors hold (SPEC R-RES-5: memory and
//! connections bounded in bytes and count), through the real entry points: the
//! `execd-venue-sim` binary and `execd run` with order-entry sessions, over real sockets.
//! Each test is a defect an attacker found with the release binaries:
//!
//! - frames ahead of a gap grew the session's queue by their size (700 frames of 1 MiB:
//!   +690 MB RSS), now bounded at 8 MiB: Logout, disconnect;
//! - after `accept` failed with EMFILE the simulator never accepted again;
//! - a Logon with `108=18446744073` made a heartbeat deadline wrap round: heartbeats
//!   without end (and a panic in a debug build);
//! - idle and half-frame connections stayed forever, and a session record was kept for
//!   every CompID that ever tried to log on;
//! - a resend larger than the write buffer disconnected even a client that reads.
//!
//! Memory is read from `/proc/<pid>/status`: VmHWM, the peak, so memory held for a while
//! and given back is still seen. Every wait is bounded; children are killed on drop.

mod common;

use common::{TempDir, VenueSim};
use execd::venue::fix::codec::{frame, scan_tag, Encoder};
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(20);
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// A field of `/proc/<pid>/status`, in kB.
fn proc_kb(pid: u32, key: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {key} in /proc/{pid}/status"))
}

/// Open file descriptors of `pid`.
fn fds(pid: u32) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count() as u64
}

/// Lowers the soft limit on open files of child `pid` to `n` (prlimit(2), as
/// `ulimit -n` would have at its start).
fn limit_fds(pid: u32, n: u64) {
    let mut old = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: prlimit(2) on a child we own; both structs outlive the calls.
    let r = unsafe { libc::prlimit(pid as i32, libc::RLIMIT_NOFILE, std::ptr::null(), &mut old) };
    assert_eq!(r, 0, "prlimit read: {}", std::io::Error::last_os_error());
    let new = libc::rlimit {
        rlim_cur: n,
        rlim_max: old.rlim_max,
    };
    // SAFETY: as above.
    let r = unsafe { libc::prlimit(pid as i32, libc::RLIMIT_NOFILE, &new, std::ptr::null_mut()) };
    assert_eq!(r, 0, "prlimit set: {}", std::io::Error::last_os_error());
}

fn poll_until<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + WAIT;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ---------------------------------------------------------------- a raw FIX peer

/// What reading brought.
enum Got {
    Frame(Vec<u8>),
    Closed,
    Nothing,
}

/// A FIX initiator on a plain socket that writes exactly what it is told to.
struct Peer {
    s: TcpStream,
    sender: String,
    target: String,
    seq: u64,
    buf: Vec<u8>,
    pos: usize,
}

fn field(f: &[u8], tag: u32) -> Option<String> {
    scan_tag(f, tag).map(|v| String::from_utf8_lossy(v).into_owned())
}

fn show(f: &[u8]) -> String {
    String::from_utf8_lossy(f).replace('\x01', "|")
}

impl Peer {
    fn connect(port: u16, sender: &str, target: &str) -> Peer {
        let s = TcpStream::connect(("127.0.0.1", port)).expect("connects");
        s.set_nodelay(true).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
        Peer {
            s,
            sender: sender.into(),
            target: target.into(),
            seq: 1,
            buf: Vec::new(),
            pos: 0,
        }
    }

    /// A FIX 4.4 frame numbered `seq` with `body`, SendingTime `sent`.
    fn frame_at(&self, mt: &str, seq: u64, sent: u64, body: &[(u32, &[u8])]) -> Vec<u8> {
        let size: usize = body.iter().map(|(_, v)| v.len() + 12).sum();
        let mut e = Encoder::new("FIX.4.4", size + 512);
        e.start(mt.as_bytes())
            .uint(34, seq)
            .bytes(49, self.sender.as_bytes())
            .timestamp(52, sent, false)
            .bytes(56, self.target.as_bytes());
        for (t, v) in body {
            e.bytes(*t, v);
        }
        e.finish().to_vec()
    }

    /// The next message, numbered.
    fn next_frame(&mut self, mt: &str, body: &[(u32, &[u8])]) -> Vec<u8> {
        let f = self.frame_at(mt, self.seq, now_ns(), body);
        self.seq += 1;
        f
    }

    fn send(&mut self, mt: &str, body: &[(u32, &[u8])]) {
        let f = self.next_frame(mt, body);
        self.s.write_all(&f).expect("write");
    }

    /// The next frame before `until`.
    fn read(&mut self, until: Instant) -> Got {
        loop {
            if let Ok(n) = frame(&self.buf[self.pos..]) {
                let f = self.buf[self.pos..self.pos + n].to_vec();
                self.pos += n;
                if self.pos > 1 << 20 {
                    self.buf.drain(..self.pos);
                    self.pos = 0;
                }
                return Got::Frame(f);
            }
            if Instant::now() >= until {
                return Got::Nothing;
            }
            let mut b = [0u8; 1 << 16];
            match self.s.read(&mut b) {
                Ok(0) => return Got::Closed,
                Ok(n) => self.buf.extend_from_slice(&b[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => return Got::Closed,
            }
        }
    }

    /// The first frame of type `mt`; panics if the connection closes first.
    fn expect(&mut self, mt: &str) -> Vec<u8> {
        let until = Instant::now() + WAIT;
        loop {
            match self.read(until) {
                Got::Frame(f) if field(&f, 35).as_deref() == Some(mt) => return f,
                Got::Frame(_) => {}
                Got::Closed => panic!("{}: closed waiting for 35={mt}", self.sender),
                Got::Nothing => panic!("{}: no 35={mt} within {WAIT:?}", self.sender),
            }
        }
    }

    /// Every frame until the other side closes the connection (within `d`).
    fn until_closed(&mut self, d: Duration) -> Vec<Vec<u8>> {
        let until = Instant::now() + d;
        let mut got = Vec::new();
        loop {
            match self.read(until) {
                Got::Frame(f) => got.push(f),
                Got::Closed => return got,
                Got::Nothing => panic!(
                    "{}: still open after {d:?}; got {:?}",
                    self.sender,
                    got.iter().map(|f| show(f)).collect::<Vec<_>>()
                ),
            }
        }
    }

    fn logon(&mut self, heartbeat: &str) -> Vec<u8> {
        self.send("A", &[(98, b"0"), (108, heartbeat.as_bytes())]);
        self.expect("A")
    }
}

/// A NewOrderSingle for 1 of X at market (the simulator's `fill` policy fills it).
fn order(p: &mut Peer, cl: &str) -> Vec<u8> {
    let t = now_ns();
    let mut ts = Encoder::new("FIX.4.4", 64);
    ts.start(b"0").timestamp(60, t, false);
    let tt = scan_tag(ts.finish(), 60).unwrap().to_vec();
    p.next_frame(
        "D",
        &[
            (1, b"ACC1"),
            (11, cl.as_bytes()),
            (38, b"1"),
            (40, b"1"),
            (54, b"1"),
            (55, b"X"),
            (60, &tt),
        ],
    )
}

/// Bulk beyond a gap: `n` frames of `size` bytes of Text from `p`, numbered past the
/// next number it should send (so the one it skips is the hole), written from another
/// thread until the other side stops taking them, while `p` reads.
fn flood_ahead_of_a_gap(p: &Peer, n: usize, size: usize) -> std::thread::JoinHandle<()> {
    let text = vec![b'x'; size];
    let hole = p.seq;
    let frames: Vec<Vec<u8>> = (0..n as u64)
        .map(|i| p.frame_at("B", hole + 1 + i, now_ns(), &[(58, &text), (148, b"news")]))
        .collect();
    let mut w = p.s.try_clone().unwrap();
    std::thread::spawn(move || {
        for f in frames {
            if w.write_all(&f).is_err() {
                return;
            }
        }
    })
}

// ---------------------------------------------------------------- execd

/// `execd run` with `examples/order-entry.toml` on a free port (its sessions DESK1 and
/// ALGO, the paper venue), LogonTimeout 1 s; killed on drop.
struct Execd {
    child: Child,
    err: Arc<Mutex<String>>,
    port: u16,
    _dir: TempDir,
}

impl Drop for Execd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Execd {
    fn start(tag: &str) -> Execd {
        let dir = TempDir::new(tag);
        let port = free_port();
        let mut text =
            std::fs::read_to_string(format!("{ROOT}/examples/order-entry.toml")).unwrap();
        for (from, to) in [
            (
                "SocketAcceptPort = 9890",
                format!("SocketAcceptPort = {port}"),
            ),
            ("# LogonTimeout = 10", "LogonTimeout = 1".into()),
        ] {
            assert!(
                text.contains(from),
                "examples/order-entry.toml has no {from:?}"
            );
            text = text.replacen(from, &to, 1);
        }
        let config = dir.path().join("execd.toml");
        std::fs::write(&config, text).unwrap();
        let journal: PathBuf = dir.path().join("journal");
        let mut child = Command::new(env!("CARGO_BIN_EXE_execd"))
            .args(["run", "--listen", "off", "--config"])
            .arg(&config)
            .arg("--journal")
            .arg(&journal)
            .env("EXECD_ENTRY_PASSWORD", "pw")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("execd starts");
        let err = Arc::new(Mutex::new(String::new()));
        let e = err.clone();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { return };
                let mut g = e.lock().unwrap();
                g.push_str(&line);
                g.push('\n');
            }
        });
        let x = Execd {
            child,
            err,
            port,
            _dir: dir,
        };
        poll_until("execd to run", || {
            x.stderr().contains("SIGINT or SIGTERM stops").then_some(())
        });
        x
    }

    fn stderr(&self) -> String {
        self.err.lock().unwrap().clone()
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

// ---------------------------------------------------------------- the gap queue

/// The peak memory of `pid` grows by less than `max_mb` while `p` sends 48 frames of
/// almost 1 MiB beyond a hole in its numbers; the session logs it out saying why.
fn gap_queue_stays_bounded(pid: u32, p: &mut Peer, max_mb: u64) {
    let before = proc_kb(pid, "VmHWM");
    let writer = flood_ahead_of_a_gap(p, 48, (1 << 20) - 256);
    let got = p.until_closed(WAIT);
    writer.join().unwrap();
    let grown = proc_kb(pid, "VmHWM").saturating_sub(before) / 1024;
    let logout = got
        .iter()
        .find(|f| field(f, 35).as_deref() == Some("5"))
        .unwrap_or_else(|| panic!("no Logout; got {} frames", got.len()));
    assert_eq!(
        field(logout, 58).as_deref(),
        Some("more than 8 MiB queued ahead of a gap")
    );
    assert!(
        grown < max_mb,
        "peak memory grew by {grown} MB for 48 MB sent ahead of a gap"
    );
}

#[test]
fn frames_ahead_of_a_gap_are_bounded_in_bytes_in_the_simulator() {
    let mut sim = VenueSim::start(&[]);
    let mut p = Peer::connect(sim.port, "BULK", "SIM");
    p.logon("30");
    gap_queue_stays_bounded(sim.child.id(), &mut p, 32);
    let ev = sim.wait_line(|v| v["type"] == "disconnect");
    assert_eq!(ev["reason"], "more than 8 MiB queued ahead of a gap");
    sim.quit();
}

#[test]
fn frames_ahead_of_a_gap_are_bounded_in_bytes_in_order_entry() {
    let mut x = Execd::start("bounds-gap");
    let mut p = Peer::connect(x.port, "DESK1", "EXECD");
    p.logon("30");
    gap_queue_stays_bounded(x.pid(), &mut p, 32);
    assert!(x.alive());
    poll_until("execd to say why", || {
        x.stderr()
            .contains("disconnected: more than 8 MiB queued ahead of a gap")
            .then_some(())
    });
}

// ---------------------------------------------------------------- HeartBtInt

/// A Logon asking for a heartbeat every 585 years is refused with a Logout that says
/// why, and nothing else comes (it was a flood of heartbeats).
fn huge_heartbeat_is_refused(port: u16, sender: &str, target: &str) {
    let mut p = Peer::connect(port, sender, target);
    p.send("A", &[(98, b"0"), (108, b"18446744073")]);
    let got = p.until_closed(Duration::from_secs(5));
    let types: Vec<String> = got.iter().filter_map(|f| field(f, 35)).collect();
    assert_eq!(
        types,
        vec!["5"],
        "{:?}",
        got.iter().map(|f| show(f)).collect::<Vec<_>>()
    );
    assert_eq!(
        field(&got[0], 58).as_deref(),
        Some("Logon refused: HeartBtInt(108) 18446744073 out of range (0 to 86400 seconds)")
    );
}

#[test]
fn a_huge_heartbeat_interval_is_refused_at_logon_by_the_simulator() {
    let mut sim = VenueSim::start(&[]);
    huge_heartbeat_is_refused(sim.port, "HB", "SIM");
    // Nothing is remembered of the refused peer, and the simulator is well.
    let st = sim.status();
    assert_eq!(st["sessions"].as_array().unwrap().len(), 0, "{st}");
    let mut ok = Peer::connect(sim.port, "HB", "SIM");
    ok.logon("86400");
    sim.quit();
}

#[test]
fn a_huge_heartbeat_interval_is_refused_at_logon_by_order_entry() {
    let mut x = Execd::start("bounds-hb");
    huge_heartbeat_is_refused(x.port, "DESK1", "EXECD");
    assert!(x.alive());
    let mut ok = Peer::connect(x.port, "DESK1", "EXECD");
    let answer = ok.logon("30");
    assert_eq!(field(&answer, 108).as_deref(), Some("30"));
}

// ---------------------------------------------------------------- logon timeout

/// An idle connection, one that sends half a Logon, and one that sends garbage are all
/// closed after the logon timeout (1 s), not before, and without an answer.
fn strangers_are_closed_after_the_logon_timeout(port: u16) {
    let t0 = Instant::now();
    let idle = Peer::connect(port, "IDLE", "X");
    let mut half = Peer::connect(port, "HALF", "X");
    half.s
        .write_all(b"8=FIX.4.4\x019=300\x0135=A\x0134=1\x0149=HALF\x01")
        .unwrap();
    let mut junk = Peer::connect(port, "JUNK", "X");
    junk.s.write_all(&[b'z'; 4000]).unwrap();
    for mut p in [idle, half, junk] {
        let got = p.until_closed(Duration::from_secs(5));
        assert!(got.is_empty(), "{}: answered {}", p.sender, got.len());
        let after = t0.elapsed();
        assert!(
            after >= Duration::from_millis(900),
            "{}: closed after {after:?}, before the logon timeout",
            p.sender
        );
    }
    assert!(t0.elapsed() < Duration::from_secs(4), "{:?}", t0.elapsed());
}

#[test]
fn idle_and_half_frame_connections_are_closed_by_the_simulator_after_the_logon_timeout() {
    let sim = VenueSim::start(&["--logon-timeout-secs", "1"]);
    strangers_are_closed_after_the_logon_timeout(sim.port);
    // A client that logs on is not hurried by it.
    let mut ok = Peer::connect(sim.port, "OK", "SIM");
    ok.logon("30");
    std::thread::sleep(Duration::from_millis(1500));
    ok.send("1", &[(112, b"still")]);
    let hb = ok.expect("0");
    assert_eq!(field(&hb, 112).as_deref(), Some("still"));
    sim.quit();
}

#[test]
fn at_most_256_connections_wait_for_their_logon_in_the_simulator() {
    let t0 = Instant::now();
    let mut sim = VenueSim::start(&["--logon-timeout-secs", "5"]);
    // Beyond 256 waiting for their Logon, a connection is closed at once.
    let waiting: Vec<TcpStream> = (0..300)
        .map(|_| TcpStream::connect(("127.0.0.1", sim.port)).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let closed_at_once = waiting
        .iter()
        .filter(|s| {
            s.set_nonblocking(true).unwrap();
            let mut b = [0u8; 16];
            !matches!((&**s).read(&mut b), Err(e) if e.kind() == ErrorKind::WouldBlock)
        })
        .count();
    assert_eq!(closed_at_once, 300 - 256);
    let st = sim.status();
    assert_eq!(st["waiting_for_logon"], 256, "{st}");
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    poll_until("the waiting connections to be closed", || {
        (sim.status()["connections"] == 0).then_some(())
    });
    drop(waiting);
    let st = sim.quit();
    assert_eq!(st["connections_refused"], 300, "{st}");
}

#[test]
fn idle_and_half_frame_connections_are_closed_by_order_entry_after_the_logon_timeout() {
    let mut x = Execd::start("bounds-idle");
    strangers_are_closed_after_the_logon_timeout(x.port);
    assert!(x.alive());
}

// ---------------------------------------------------------------- session records

/// `n` connections from distinct CompIDs (`tag` and a number from `from`), each with a
/// Logon whose SendingTime is an hour off: the session refuses it (no answer) after the
/// simulator made a record, and a store, for the CompID. 100 at a time.
fn refused_logons(port: u16, tag: &str, from: usize, n: usize) {
    let stale = now_ns() - 3_600_000_000_000;
    for b in (from..from + n).step_by(100) {
        let mut peers: Vec<Peer> = (b..(b + 100).min(from + n))
            .map(|i| Peer::connect(port, &format!("{tag}{i}"), "SIM"))
            .collect();
        for p in &mut peers {
            let f = p.frame_at("A", 1, stale, &[(98, b"0"), (108, b"30")]);
            p.s.write_all(&f).unwrap();
        }
        for p in &mut peers {
            assert!(p.until_closed(WAIT).is_empty(), "{} answered", p.sender);
        }
    }
}

#[test]
fn refused_logons_from_thousands_of_comp_ids_keep_nothing() {
    let mut sim = VenueSim::start(&[]);
    let pid = sim.child.id();
    refused_logons(sim.port, "S", 0, 200);
    let before = proc_kb(pid, "VmRSS");
    let n = 2_000;
    refused_logons(sim.port, "S", 200, n);
    let grown = proc_kb(pid, "VmRSS").saturating_sub(before);
    assert!(
        grown * 1024 / (n as u64) < 512,
        "{grown} kB more after {n} refused logons"
    );
    let st = sim.status();
    assert_eq!(st["sessions"].as_array().unwrap().len(), 0, "{st}");
    assert_eq!(st["connections_accepted"], 200 + n, "{st}");
    sim.quit();
    // With --store, nothing on disk either.
    let store = TempDir::new("bounds-strangers");
    let sim = VenueSim::start(&["--store", store.path().to_str().unwrap()]);
    refused_logons(sim.port, "D", 0, 20);
    let left: Vec<_> = std::fs::read_dir(store.path())
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "left behind: {left:?}");
    let mut ok = Peer::connect(sim.port, "KEPT", "SIM");
    ok.logon("30");
    assert!(store.path().join("SIM-KEPT").is_dir());
    sim.quit();
}

#[test]
fn sessions_are_evicted_least_recently_used_and_connected_ones_never() {
    let mut sim = VenueSim::start(&["--max-sessions", "2"]);
    let peers = |sim: &VenueSim, names: &[&str]| -> Vec<Peer> {
        names
            .iter()
            .map(|n| {
                let mut p = Peer::connect(sim.port, n, "SIM");
                p.logon("30");
                p
            })
            .collect()
    };
    let names = |sim: &mut VenueSim| -> Vec<String> {
        sim.status()["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["peer"].as_str().unwrap().to_string())
            .collect()
    };
    // Both connected: a third is refused, not squeezed in.
    let mut ab = peers(&sim, &["A", "B"]);
    let mut c = Peer::connect(sim.port, "C", "SIM");
    c.send("A", &[(98, b"0"), (108, b"30")]);
    assert!(c.until_closed(WAIT).is_empty());
    assert_eq!(names(&mut sim), vec!["A", "B"]);
    // A leaves first, B after: C takes A's place.
    let a = ab.remove(0);
    drop(a);
    sim.wait_line(|v| v["type"] == "disconnect" && v["peer"] == "A");
    std::thread::sleep(Duration::from_millis(5));
    let mut b = ab.remove(0);
    b.send("0", &[]);
    drop(b);
    sim.wait_line(|v| v["type"] == "disconnect" && v["peer"] == "B");
    let _c = peers(&sim, &["C"]);
    sim.wait_line(|v| v["type"] == "evicted" && v["peer"] == "A");
    assert_eq!(names(&mut sim), vec!["B", "C"]);
    // B is still known: it continues where it was (2 in, 3 expected from it).
    let s = sim.session("B");
    assert_eq!(
        (s["next_in"].as_u64(), s["next_out"].as_u64()),
        (Some(3), Some(2))
    );
    let mut b = Peer::connect(sim.port, "B", "SIM");
    b.seq = 3;
    let answer = b.logon("30");
    assert_eq!(field(&answer, 34).as_deref(), Some("2"));
    assert_eq!(sim.status()["sessions_evicted"], 1);
    sim.quit();
}

// ---------------------------------------------------------------- resends

#[test]
fn a_resend_of_50_000_messages_reaches_a_client_that_reads_and_not_one_that_does_not() {
    let mut sim = VenueSim::start(&["--policy", "fill"]);
    let mut p = Peer::connect(sim.port, "BIG", "SIM");
    p.logon("30");
    // 25 000 orders, each acknowledged and filled: 50 000 execution reports, 2 to 50 001.
    let orders = 25_000;
    let until = Instant::now() + WAIT;
    let mut reports = 0;
    for batch in 0..orders / 500 {
        let mut bytes = Vec::new();
        for i in 0..500 {
            bytes.extend(order(&mut p, &format!("o{}", batch * 500 + i)));
        }
        p.s.write_all(&bytes).unwrap();
        while reports < (batch + 1) * 1_000 {
            match p.read(until) {
                Got::Frame(f) if field(&f, 35).as_deref() == Some("8") => reports += 1,
                Got::Frame(_) => {}
                _ => panic!("no report {reports} in time"),
            }
        }
    }
    let last = 2 * orders as u64 + 1;
    // Everything again, and in the same write a TestRequest: its Heartbeat is live
    // traffic and comes after the whole resend.
    let mut ask = p.next_frame("2", &[(7, b"1"), (16, b"0")]);
    ask.extend(p.next_frame("1", &[(112, b"after")]));
    p.s.write_all(&ask).unwrap();
    let mut next_dup = 2;
    let until = Instant::now() + WAIT;
    let heartbeat = loop {
        let Got::Frame(f) = p.read(until) else {
            panic!("closed or silent after {} of the resend", next_dup - 2);
        };
        let seq: u64 = field(&f, 34).unwrap().parse().unwrap();
        let mt = field(&f, 35).unwrap();
        if field(&f, 43).as_deref() == Some("Y") {
            if mt == "4" {
                assert_eq!(seq, 1, "only the Logon is gap-filled");
                continue;
            }
            assert_eq!((mt.as_str(), seq), ("8", next_dup), "{}", show(&f));
            next_dup += 1;
        } else {
            assert_eq!(mt, "0", "live traffic during the resend: {}", show(&f));
            break f;
        }
    };
    assert_eq!(next_dup, last + 1, "the whole resend, then the Heartbeat");
    assert_eq!(field(&heartbeat, 112).as_deref(), Some("after"));
    assert_eq!(field(&heartbeat, 34), Some((last + 1).to_string()));
    let st = sim.status();
    assert_eq!(st["write_overflows"], 0, "{st}");
    assert_eq!(st["resend_requests_served"], 1, "{st}");

    // The same client again, with a small receive buffer, asks for everything and
    // then reads nothing while it keeps sending orders: what waits behind the resend
    // reaches the write buffer's bound (4 MiB) and it is disconnected.
    drop(p);
    sim.wait_line(|v| v["type"] == "disconnect" && v["peer"] == "BIG");
    let mut p = Peer::connect(sim.port, "BIG", "SIM");
    let small: libc::c_int = 64 << 10;
    // SAFETY: setsockopt(2) on our own socket with a c_int that outlives the call.
    let r = unsafe {
        libc::setsockopt(
            p.s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&small as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(r, 0);
    p.seq = orders as u64 + 4;
    p.logon("30");
    p.send("2", &[(7, b"1"), (16, b"0")]);
    let t0 = Instant::now();
    let mut sent = 0;
    while sent < 100_000 && t0.elapsed() < WAIT {
        let f = order(&mut p, &format!("n{sent}"));
        if p.s.write_all(&f).is_err() {
            break;
        }
        sent += 1;
        if sent % 1_000 == 0 && sim.seen("disconnect").len() > 1 {
            break;
        }
    }
    let ev = sim.wait_line(|v| v["type"] == "disconnect" && v["peer"] == "BIG");
    assert_eq!(
        ev["reason"],
        "the peer does not read: output waiting behind a resend is over its bound"
    );
    assert!(sent > 1_000, "disconnected after {sent} orders");
    sim.quit();
}

// ---------------------------------------------------------------- file descriptors

/// `n` connections that do nothing.
fn hog(port: u16, n: usize) -> Vec<TcpStream> {
    (0..n)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).expect("connects (backlog)"))
        .collect()
}

#[test]
fn the_simulator_accepts_again_once_file_descriptors_are_free() {
    let mut sim = VenueSim::start(&[]);
    let pid = sim.child.id();
    // Room for 4 more descriptors, then 24 connections: most wait in the backlog.
    limit_fds(pid, fds(pid) + 4);
    let hogs = hog(sim.port, 24);
    poll_until("accept to fail", || {
        (sim.status()["accept_failures"].as_u64() > Some(0)).then_some(())
    });
    // A client that comes now waits in the backlog behind them, its Logon written.
    let mut p = Peer::connect(sim.port, "LATE", "SIM");
    p.send("A", &[(98, b"0"), (108, b"30")]);
    // The hogs go; no new connection comes to wake the listener.
    drop(hogs);
    let answer = p.expect("A");
    assert_eq!(field(&answer, 56).as_deref(), Some("LATE"));
    let st = sim.status();
    assert_eq!(st["connections_accepted"], 24 + 1, "{st}");
    sim.quit();
}

#[test]
fn order_entry_accepts_again_once_file_descriptors_are_free() {
    let mut x = Execd::start("bounds-fds");
    let pid = x.pid();
    limit_fds(pid, fds(pid) + 4);
    let hogs = hog(x.port, 24);
    poll_until("execd to report accept failing", || {
        x.stderr().contains("order entry: accept:").then_some(())
    });
    let mut p = Peer::connect(x.port, "DESK1", "EXECD");
    p.send("A", &[(98, b"0"), (108, b"30")]);
    drop(hogs);
    let answer = p.expect("A");
    assert_eq!(field(&answer, 56).as_deref(), Some("DESK1"));
    assert!(x.alive());
}
