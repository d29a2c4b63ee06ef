//! `execd-venue-sim` end to end: the real binary, real 127.0.0.1 sockets, and a small FIX
//! initiator made of execd's own codec and session. Every test picks its port with
//! `--port 0`, bounds every wait, and kills the simulator when it ends (even on panic).

mod common;

use common::{TempDir, VenueSim as Sim};
use execd::venue::fix::codec::{Decoder, Encoder};
use execd::venue::fix::reject::SessionRejectReason;
use execd::venue::fix::session::{Role, SeqNums, Session, SessionConfig, SessionEvent, SessionIo};
use std::collections::{HashMap, VecDeque};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(10);

fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

// ---------------------------------------------------------------- the initiator

/// A received message, owned; fields read by decoding it again.
#[derive(Clone)]
struct Got(Vec<u8>);

impl Got {
    fn get(&self, tag: u32) -> Option<String> {
        let mut d = Decoder::new();
        let m = d.decode(&self.0).expect("decodes");
        m.get(tag).map(|v| String::from_utf8_lossy(v).into_owned())
    }
    fn s(&self, tag: u32) -> String {
        self.get(tag)
            .unwrap_or_else(|| panic!("no tag {tag} in {}", self.show()))
    }
    fn f(&self, tag: u32) -> f64 {
        self.s(tag).parse().unwrap()
    }
    fn msg_type(&self) -> String {
        self.s(35)
    }
    fn show(&self) -> String {
        String::from_utf8_lossy(&self.0).replace('\x01', "|")
    }
}

#[derive(Default)]
struct CIo {
    out: Vec<u8>,
    store: HashMap<u64, Vec<u8>>,
    apps: VecDeque<Got>,
    events: Vec<SessionEvent>,
}

impl SessionIo for CIo {
    fn send(&mut self, frame: &[u8]) {
        self.out.extend_from_slice(frame);
    }
    fn store(&mut self, seq: u64, frame: &[u8]) {
        self.store.insert(seq, frame.to_vec());
    }
    fn stored(&self, seq: u64) -> Option<&[u8]> {
        self.store.get(&seq).map(|v| v.as_slice())
    }
    fn reset(&mut self, _seqs: SeqNums) {
        self.store.clear();
    }
    fn app(
        &mut self,
        msg: &execd::venue::fix::codec::Msg<'_>,
        _valid: Result<(), SessionRejectReason>,
    ) {
        self.apps.push_back(Got(msg.raw().to_vec()));
    }
    fn event(&mut self, ev: SessionEvent) {
        self.events.push(ev);
    }
}

struct Client {
    stream: TcpStream,
    session: Session,
    io: CIo,
    /// Every session event so far.
    events: Vec<SessionEvent>,
    closed: bool,
}

fn cfg(sender: &str, begin: &str) -> SessionConfig {
    SessionConfig {
        begin_string: begin.into(),
        default_appl_ver_id: (begin == "FIXT.1.1").then(|| "9".into()),
        sender_comp_id: sender.into(),
        target_comp_id: "SIM".into(),
        role: Role::Initiator,
        heartbeat_secs: 30,
        reset_on_logon: false,
        reset_on_logout: false,
        reset_on_disconnect: false,
        username: None,
        password: None,
        logon_timeout_secs: 5,
        logout_timeout_secs: 2,
        schedule: None,
        dictionary: None,
        micros: false,
    }
}

impl Client {
    fn connect(port: u16, sender: &str) -> Client {
        Client::connect_with(
            port,
            cfg(sender, "FIX.4.4"),
            SeqNums {
                next_out: 1,
                next_in: 1,
            },
        )
    }

    fn connect_with(port: u16, cfg: SessionConfig, seqs: SeqNums) -> Client {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connects");
        stream.set_nodelay(true).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_millis(5)))
            .unwrap();
        let mut c = Client {
            stream,
            session: Session::new(cfg, seqs),
            io: CIo::default(),
            events: Vec::new(),
            closed: false,
        };
        c.session.on_connected(now_ns(), &mut c.io);
        c.flush();
        c.until("logon", |c| c.session.is_logged_on());
        c
    }

    fn flush(&mut self) {
        if !self.io.out.is_empty() && !self.closed {
            let out = std::mem::take(&mut self.io.out);
            if self.stream.write_all(&out).is_err() {
                self.closed = true;
            }
        }
    }

    /// Reads what is there, runs timers, writes what the session wants written.
    fn pump(&mut self) {
        let mut buf = [0u8; 65536];
        if !self.closed {
            match self.stream.read(&mut buf) {
                Ok(0) => {
                    self.closed = true;
                    self.session.on_disconnected(now_ns(), &mut self.io);
                }
                Ok(n) => self.session.on_bytes(now_ns(), &buf[..n], &mut self.io),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => {
                    self.closed = true;
                    self.session.on_disconnected(now_ns(), &mut self.io);
                }
            }
        }
        if self.session.next_deadline().is_some_and(|d| d <= now_ns()) {
            self.session.on_timer(now_ns(), &mut self.io);
        }
        self.flush();
        self.events.append(&mut self.io.events);
    }

    fn until(&mut self, what: &str, mut done: impl FnMut(&mut Client) -> bool) {
        let end = Instant::now() + WAIT;
        while !done(self) {
            assert!(
                Instant::now() < end,
                "timed out waiting for {what}; events {:?}",
                self.events
            );
            self.pump();
        }
    }

    /// The next application message.
    fn recv(&mut self) -> Got {
        self.until("an application message", |c| !c.io.apps.is_empty());
        self.io.apps.pop_front().unwrap()
    }

    /// The next application message of type `t`, skipping none: it must be next.
    fn expect(&mut self, t: &str) -> Got {
        let m = self.recv();
        assert_eq!(m.msg_type(), t, "expected 35={t}, got {}", m.show());
        m
    }

    /// Nothing more arrives within `d`.
    fn quiet(&mut self, d: Duration) {
        let end = Instant::now() + d;
        while Instant::now() < end {
            self.pump();
        }
        if let Some(m) = self.io.apps.front() {
            panic!("unexpected message {}", m.show());
        }
    }

    fn send(&mut self, t: &str, body: impl FnOnce(&mut Encoder)) -> u64 {
        let seq = self
            .session
            .send_app(now_ns(), t.as_bytes(), body, &mut self.io)
            .expect("logged on");
        self.flush();
        seq
    }

    fn order(&mut self, cl: &str, sym: &str, side: u8, qty: &str, px: Option<&str>) -> u64 {
        let (cl, sym, qty) = (cl.to_string(), sym.to_string(), qty.to_string());
        let px = px.map(|p| p.to_string());
        self.send("D", move |e| {
            e.bytes(11, cl.as_bytes())
                .bytes(1, b"ACC1")
                .bytes(55, sym.as_bytes())
                .char(54, side)
                .timestamp(60, now_ns(), false)
                .bytes(38, qty.as_bytes());
            match &px {
                Some(p) => {
                    e.char(40, b'2').bytes(44, p.as_bytes());
                }
                None => {
                    e.char(40, b'1');
                }
            }
        })
    }

    fn cancel(&mut self, cl: &str, orig: &str) {
        let (cl, orig) = (cl.to_string(), orig.to_string());
        self.send("F", move |e| {
            e.bytes(41, orig.as_bytes())
                .bytes(11, cl.as_bytes())
                .bytes(55, b"X")
                .char(54, b'1')
                .timestamp(60, now_ns(), false);
        });
    }

    fn replace(&mut self, cl: &str, orig: &str, qty: &str, px: &str) {
        let (cl, orig, qty, px) = (
            cl.to_string(),
            orig.to_string(),
            qty.to_string(),
            px.to_string(),
        );
        self.send("G", move |e| {
            e.bytes(41, orig.as_bytes())
                .bytes(11, cl.as_bytes())
                .bytes(55, b"X")
                .char(54, b'1')
                .timestamp(60, now_ns(), false)
                .bytes(38, qty.as_bytes())
                .char(40, b'2')
                .bytes(44, px.as_bytes());
        });
    }

    fn logout(&mut self) {
        self.session.logout(now_ns(), "bye", &mut self.io);
        self.flush();
        self.until("logout", |c| {
            c.events.contains(&SessionEvent::LoggedOut) || c.closed
        });
    }
}

// ---------------------------------------------------------------- tests

#[test]
fn logon_status_and_logout() {
    let mut sim = Sim::start(&[]);
    let mut c = Client::connect(sim.port, "CLI");
    let ev = sim.wait_line(|v| v["type"] == "logon");
    assert_eq!(ev["peer"], "CLI");
    let s = sim.session("CLI");
    assert_eq!(s["logged_on"], true);
    assert_eq!(s["next_in"], 2, "{s}");
    assert_eq!(s["next_out"], 2, "{s}");
    c.logout();
    sim.wait_line(|v| v["type"] == "logout" && v["peer"] == "CLI");
    let fin = sim.quit();
    assert_eq!(fin["orders"], 0);
}

#[test]
fn order_is_acknowledged_and_filled() {
    let mut sim = Sim::start(&["--policy", "fill", "--commission-bps", "10"]);
    let mut c = Client::connect(sim.port, "CLI");
    c.order("o1", "X", b'1', "10", Some("101.5"));
    let new = c.expect("8");
    assert_eq!(
        (new.s(150), new.s(39)),
        ("0".into(), "0".into()),
        "{}",
        new.show()
    );
    assert_eq!(new.s(11), "o1");
    let order_id = new.s(37);
    let fill = c.expect("8");
    assert_eq!(
        (fill.s(150), fill.s(39)),
        ("F".into(), "2".into()),
        "{}",
        fill.show()
    );
    assert_eq!(fill.s(37), order_id);
    assert_ne!(fill.s(17), new.s(17), "exec ids differ");
    assert_eq!(fill.f(32), 10.0);
    assert_eq!(fill.f(31), 101.5);
    assert_eq!(fill.f(14), 10.0);
    assert_eq!(fill.f(151), 0.0);
    assert_eq!(fill.f(6), 101.5);
    assert_eq!(fill.f(12), 1.015, "10 bps of 1015");
    // A market order fills at the path's price.
    c.order("o2", "X", b'2', "3", None);
    c.expect("8");
    let fill = c.expect("8");
    assert_eq!(fill.s(39), "2");
    assert!(fill.f(31) > 0.0);
    let st = sim.status();
    assert_eq!(
        (st["orders"].as_u64(), st["fills"].as_u64()),
        (Some(2), Some(2))
    );
    assert_eq!(st["open_orders"], 0);
    // Positions: one long and one short quantity on the same account/symbol → net 7 long.
    c.send("AN", |e| {
        e.bytes(710, b"pos1")
            .uint(724, 0)
            .bytes(1, b"ACC1")
            .uint(581, 1)
            .uint(715, 20260105)
            .timestamp(60, now_ns(), false);
    });
    let rep = c.expect("AP");
    assert_eq!(
        (rep.s(710), rep.s(727), rep.s(728)),
        ("pos1".into(), "1".into(), "0".into())
    );
    assert_eq!((rep.s(55), rep.f(704), rep.f(705)), ("X".into(), 7.0, 0.0));
    // None for another account: a RequestForPositionsAck saying so.
    c.send("AN", |e| {
        e.bytes(710, b"pos2")
            .uint(724, 0)
            .bytes(1, b"NOBODY")
            .uint(581, 1)
            .uint(715, 20260105)
            .timestamp(60, now_ns(), false);
    });
    let ack = c.expect("AO");
    assert_eq!(
        (ack.s(710), ack.s(727), ack.s(728)),
        ("pos2".into(), "0".into(), "2".into())
    );
    sim.quit();
}

#[test]
fn partial_policy_fills_in_pieces_that_sum_up() {
    let sim = Sim::start(&[
        "--policy",
        "partial",
        "--partial-pieces",
        "3",
        "--partial-interval-us",
        "20000",
    ]);
    let mut c = Client::connect(sim.port, "CLI");
    let t0 = Instant::now();
    c.order("p1", "X", b'1', "100", Some("20.25"));
    assert_eq!(c.expect("8").s(150), "0");
    let mut last = Vec::new();
    let mut cum = 0.0;
    for i in 0..3 {
        let f = c.expect("8");
        assert_eq!(f.s(150), "F");
        cum += f.f(32);
        last.push(f.f(32));
        assert_eq!(f.f(14), cum);
        assert_eq!(f.f(151), 100.0 - cum);
        assert_eq!(f.s(39), if i == 2 { "2" } else { "1" });
        assert_eq!(f.f(6), 20.25);
    }
    assert_eq!(last, vec![33.0, 33.0, 34.0]);
    assert!(
        t0.elapsed() >= Duration::from_millis(40),
        "pieces are spread out"
    );
    c.quiet(Duration::from_millis(100));
    sim.quit();
}

#[test]
fn book_policy_rests_far_limits_and_cancels_them() {
    let mut sim = Sim::start(&[
        "--policy",
        "book",
        "--start-price",
        "100",
        "--tick-ms",
        "1",
        "--volatility-bps",
        "1",
        "--slippage-bps",
        "100",
    ]);
    let mut c = Client::connect(sim.port, "CLI");
    c.order("b1", "X", b'1', "5", Some("50"));
    assert_eq!(c.expect("8").s(150), "0");
    c.quiet(Duration::from_millis(200));
    let st = sim.status();
    assert_eq!(st["open_orders"], 1);
    c.cancel("b1-c", "b1");
    let er = c.expect("8");
    assert_eq!(
        (er.s(150), er.s(39)),
        ("4".into(), "4".into()),
        "{}",
        er.show()
    );
    assert_eq!((er.s(41), er.s(11)), ("b1".into(), "b1-c".into()));
    // Cancelling it again is too late; an order never seen is unknown.
    c.cancel("b1-c2", "b1-c");
    let rj = c.expect("9");
    assert_eq!(
        (rj.s(434), rj.s(102), rj.s(39)),
        ("1".into(), "0".into(), "4".into())
    );
    c.cancel("zz-c", "zz");
    let rj = c.expect("9");
    assert_eq!((rj.s(434), rj.s(102)), ("1".into(), "1".into()));
    // A market buy fills at the path ± 1 %: about 101.
    c.order("m1", "X", b'1', "1", None);
    c.expect("8");
    let f = c.expect("8");
    assert!((100.0..102.5).contains(&f.f(31)), "{}", f.show());
    let st = sim.quit();
    assert_eq!(
        (st["cancels"].as_u64(), st["cancel_rejects"].as_u64()),
        (Some(1), Some(2))
    );
}

#[test]
fn replace_changes_the_order_and_refills() {
    let sim = Sim::start(&["--policy", "book", "--volatility-bps", "0"]);
    let mut c = Client::connect(sim.port, "CLI");
    c.order("r1", "X", b'1', "10", Some("50"));
    c.expect("8");
    // Now marketable (path stays at 100): replaced, then filled in full at the path price.
    c.replace("r2", "r1", "20", "150");
    let r = c.expect("8");
    assert_eq!(
        (r.s(150), r.s(39)),
        ("5".into(), "0".into()),
        "{}",
        r.show()
    );
    assert_eq!(
        (r.s(41), r.s(11), r.f(38), r.f(44)),
        ("r1".into(), "r2".into(), 20.0, 150.0)
    );
    let f = c.expect("8");
    assert_eq!(
        (f.s(150), f.s(39), f.f(14), f.f(31)),
        ("F".into(), "2".into(), 20.0, 100.0)
    );
    c.replace("r3", "r2", "30", "150");
    let rj = c.expect("9");
    assert_eq!(
        (rj.s(434), rj.s(102), rj.s(39)),
        ("2".into(), "0".into(), "2".into())
    );
    let st = sim.quit();
    assert_eq!(st["replaces"], 1);
}

#[test]
fn reject_rules() {
    let sim = Sim::start(&[
        "--reject-symbol",
        "BAD",
        "--reject-symbol",
        "WORSE",
        "--reject-qty-above",
        "1000",
        "--reject-every",
        "4",
    ]);
    let mut c = Client::connect(sim.port, "CLI");
    let rejected = |m: &Got| m.s(150) == "8" && m.s(39) == "8" && m.get(103).is_some();
    c.order("x1", "BAD", b'1', "1", Some("1"));
    let m = c.expect("8");
    assert!(rejected(&m), "{}", m.show());
    assert_eq!(m.s(103), "1");
    assert!(m.get(58).is_some());
    c.order("x2", "OK", b'1', "1001", Some("1"));
    let m = c.expect("8");
    assert!(rejected(&m), "{}", m.show());
    c.order("x3", "OK", b'1', "1000", Some("1"));
    assert_eq!(c.expect("8").s(150), "0");
    assert_eq!(c.expect("8").s(150), "F");
    c.order("x4", "OK", b'1', "1", Some("1"));
    let m = c.expect("8");
    assert!(rejected(&m), "every 4th: {}", m.show());
    let st = sim.quit();
    assert_eq!(st["rejects"], 3);
}

#[test]
fn echo_policy_plays_quickfix_reference_application() {
    let dicts = concat!(env!("CARGO_MANIFEST_DIR"), "/fix-dictionaries");
    let sim = Sim::start(&["--policy", "echo", "--target", "CLI", "--dict-dir", dicts]);
    let mut c = Client::connect(sim.port, "CLI");
    c.order("e1", "X", b'2', "7", Some("1.25"));
    let m = c.expect("D");
    assert_eq!(
        (m.s(11), m.s(55), m.s(54), m.s(38), m.s(44)),
        (
            "e1".into(),
            "X".into(),
            "2".into(),
            "7".into(),
            "1.25".into()
        )
    );
    assert_eq!((m.s(49), m.s(56)), ("SIM".into(), "CLI".into()));
    // Sent in another order, echoed as QuickFIX writes a message: header in tag order
    // after 35, then the body in tag order.
    let tags: Vec<u32> = {
        let mut d = Decoder::new();
        let msg = d.decode(&m.0).unwrap();
        msg.fields().map(|f| f.tag).collect()
    };
    assert_eq!(
        tags,
        [8, 9, 35, 34, 49, 52, 56, 1, 11, 38, 40, 44, 54, 55, 60, 10]
    );
    // A PossResend copy of an order it has seen: ignored; of one it has not: echoed,
    // PossResend and all.
    let resend = |c: &mut Client, cl: &'static str| {
        let pr = [execd::venue::fix::codec::Field {
            tag: 97,
            value: b"Y",
        }];
        c.session
            .send_app_with_header(
                now_ns(),
                b"D",
                &pr,
                |e| {
                    e.bytes(11, cl.as_bytes())
                        .char(21, b'1')
                        .char(40, b'1')
                        .char(54, b'1')
                        .bytes(55, b"X")
                        .timestamp(60, now_ns(), false);
                },
                &mut c.io,
            )
            .unwrap();
        c.flush();
    };
    resend(&mut c, "e1");
    c.quiet(Duration::from_millis(300));
    resend(&mut c, "e2");
    let m = c.expect("D");
    assert_eq!((m.s(11), m.s(97)), ("e2".into(), "Y".into()));
    // SecurityDefinition comes back too; anything else is not supported.
    c.send("d", |e| {
        e.bytes(55, b"X")
            .bytes(320, b"q1")
            .bytes(322, b"r1")
            .uint(323, 1);
    });
    assert_eq!(c.expect("d").s(320), "q1");
    let seq = c.send("R", |e| {
        e.bytes(131, b"q1").uint(146, 0);
    });
    let j = c.expect("j");
    assert_eq!(
        (j.s(45), j.s(58), j.s(372), j.s(380)),
        (
            seq.to_string(),
            "Unsupported Message Type".into(),
            "R".into(),
            "3".into()
        )
    );
    sim.quit();
}

#[test]
fn status_mass_status_and_unsupported_messages() {
    let sim = Sim::start(&["--policy", "book", "--volatility-bps", "0"]);
    let mut c = Client::connect(sim.port, "CLI");
    c.order("s1", "X", b'1', "1", Some("10"));
    c.order("s2", "Y", b'2', "2", Some("1000"));
    c.order("s3", "X", b'1', "3", Some("200"));
    for _ in 0..4 {
        c.expect("8");
    }
    let status = |c: &mut Client, cl: &str| {
        let cl = cl.to_string();
        c.send("H", move |e| {
            e.bytes(11, cl.as_bytes()).bytes(55, b"X").char(54, b'1');
        });
        c.expect("8")
    };
    let m = status(&mut c, "s1");
    assert_eq!(
        (m.s(150), m.s(39), m.f(151)),
        ("I".into(), "0".into(), 1.0),
        "{}",
        m.show()
    );
    let m = status(&mut c, "s3");
    assert_eq!((m.s(150), m.s(39), m.f(14)), ("I".into(), "2".into(), 3.0));
    let m = status(&mut c, "nope");
    assert_eq!(
        (m.s(150), m.s(39), m.s(58)),
        ("I".into(), "8".into(), "unknown order".into())
    );

    c.send("AF", |e| {
        e.bytes(584, b"mass1").uint(585, 7);
    });
    let a = c.expect("8");
    let b = c.expect("8");
    for m in [&a, &b] {
        assert_eq!(
            (m.s(150), m.s(584), m.s(911)),
            ("I".into(), "mass1".into(), "2".into())
        );
    }
    assert_eq!(a.get(912), None);
    assert_eq!(b.s(912), "Y");
    let mut cls = [a.s(11), b.s(11)];
    cls.sort();
    assert_eq!(cls, ["s1".to_string(), "s2".to_string()]);

    let seq = c.send("AE", |e| {
        e.bytes(571, b"t1");
    });
    let j = c.expect("j");
    assert_eq!(
        (j.s(380), j.s(372), j.s(45)),
        ("3".into(), "AE".into(), seq.to_string())
    );
    sim.quit();
}

#[test]
fn skip_makes_a_gap_resolved_by_gap_fill() {
    let mut sim = Sim::start(&[]);
    let mut c = Client::connect(sim.port, "CLI");
    sim.send("skip 5");
    let ok = sim.wait_line(|v| v["type"] == "ok");
    assert_eq!(ok["command"], "skip");
    c.order("g1", "X", b'1', "1", Some("1"));
    // Both reports arrive after the gap is filled.
    c.expect("8");
    c.expect("8");
    assert!(
        c.events
            .iter()
            .any(|e| matches!(e, SessionEvent::ResendRequested { from: 2, .. })),
        "{:?}",
        c.events
    );
    c.quiet(Duration::from_millis(100));
    let s = sim.session("CLI");
    let mine = c.session.seqs();
    assert_eq!(s["next_out"].as_u64(), Some(mine.next_in), "{s}");
    assert_eq!(s["next_in"].as_u64(), Some(mine.next_out), "{s}");
    // Logon 1, skipped 2..=6, New 7, Fill 8.
    assert_eq!(mine.next_in, 9);
    let st = sim.quit();
    assert_eq!(st["resend_requests_served"], 1);
}

#[test]
fn drop_and_reconnect_continue_numbering_also_across_restarts() {
    let dir = TempDir::new("venue-sim-store");
    let store = dir.to_str().unwrap().to_string();
    let mut sim = Sim::start(&["--store", &store]);
    let mut c = Client::connect(sim.port, "CLI");
    c.order("d1", "X", b'1', "1", Some("1"));
    c.expect("8");
    c.expect("8");
    sim.send("drop");
    sim.wait_line(|v| v["type"] == "disconnect");
    c.until("the drop", |c| c.closed);
    let seqs = c.session.seqs();
    assert_eq!(
        seqs,
        SeqNums {
            next_out: 3,
            next_in: 4
        }
    );

    let mut c = Client::connect_with(sim.port, cfg("CLI", "FIX.4.4"), seqs);
    c.order("d2", "X", b'1', "1", Some("1"));
    c.expect("8");
    c.expect("8");
    assert!(
        !c.events
            .iter()
            .any(|e| matches!(e, SessionEvent::ResendRequested { .. })),
        "no gap: {:?}",
        c.events
    );
    c.logout();
    let seqs = c.session.seqs();
    drop(c);
    sim.quit();

    // A new simulator on the same store carries on where the last one stopped.
    let mut sim = Sim::start(&["--store", &store]);
    let mut c = Client::connect_with(sim.port, cfg("CLI", "FIX.4.4"), seqs);
    let logon = sim.wait_line(|v| v["type"] == "logon");
    assert_eq!(
        logon["next_in"].as_u64(),
        Some(seqs.next_out + 1),
        "{logon}"
    );
    c.order("d3", "X", b'1', "1", Some("1"));
    c.expect("8");
    c.expect("8");
    assert!(
        !c.events
            .iter()
            .any(|e| matches!(e, SessionEvent::ResendRequested { .. })),
        "no gap after the restart: {:?}",
        c.events
    );
    assert_eq!(c.session.seqs().next_in, seqs.next_in + 3);
    sim.quit();
}

/// A frame with a correct BodyLength and checksum around `body` (`35=…|` onwards).
fn raw_frame(body: &str) -> Vec<u8> {
    let body = body.replace('|', "\x01");
    let mut f = format!("8=FIX.4.4\x019={}\x01{}", body.len(), body).into_bytes();
    let sum: u32 = f.iter().map(|&b| b as u32).sum();
    f.extend_from_slice(format!("10={:03}\x01", sum % 256).as_bytes());
    f
}

fn stamp() -> String {
    let mut e = Encoder::new("FIX.4.4", 256);
    e.start(b"0").timestamp(52, now_ns(), false);
    let f = e.finish().to_vec();
    let s = String::from_utf8(f).unwrap();
    let i = s.find("52=").unwrap();
    s[i + 3..i + 3 + 21].to_string()
}

#[test]
fn garbled_frames_are_ignored() {
    let mut sim = Sim::start(&[]);
    let mut c = Client::connect(sim.port, "CLI");
    let next = c.session.seqs().next_out;
    let mut bad = raw_frame(&format!(
        "35=D|49=CLI|56=SIM|34={next}|52={}|11=g|55=X|54=1|38=1|40=1|",
        stamp()
    ));
    let n = bad.len();
    bad[n - 2] = if bad[n - 2] == b'0' { b'1' } else { b'0' }; // wrong checksum
    c.stream.write_all(&bad).unwrap();
    c.quiet(Duration::from_millis(300));
    let st = sim.status();
    assert_eq!(st["garbled"], 1, "{st}");
    assert_eq!(st["session_rejects_sent"], 0);
    assert_eq!(st["orders"], 0);
    assert_eq!(
        st["sessions"][0]["next_in"].as_u64(),
        Some(next),
        "no number consumed"
    );
    // The session goes on with the same number.
    c.order("ok", "X", b'1', "1", Some("1"));
    c.expect("8");
    sim.quit();
}

#[test]
fn invalid_tag_gets_a_session_reject() {
    let dicts = concat!(env!("CARGO_MANIFEST_DIR"), "/fix-dictionaries");
    let mut sim = Sim::start(&["--dict-dir", dicts]);
    let mut c = Client::connect(sim.port, "CLI");
    let next = c.session.seqs().next_out;
    // Tag 4999 is defined nowhere (and not in a user-defined range): 373=0, 371=4999.
    // Then a tag that is not a number at all: 373=0 too, without a RefTagID.
    for (i, bad) in ["4999=x", "4x=y"].iter().enumerate() {
        let seq = next + i as u64;
        let f = raw_frame(&format!(
            "35=D|49=CLI|56=SIM|34={seq}|52={}|11=t{i}|1=A|55=X|54=1|60={}|38=1|40=1|{bad}|",
            stamp(),
            stamp()
        ));
        c.stream.write_all(&f).unwrap();
    }
    // Read the answers off the wire ourselves: the initiator session would swallow 35=3.
    let rejects = raw_until(&mut c.stream, |frames| {
        frames.iter().filter(|f| f.msg_type() == "3").count() >= 2
    });
    let rejects: Vec<&Got> = rejects.iter().filter(|f| f.msg_type() == "3").collect();
    assert_eq!(
        (
            rejects[0].s(45),
            rejects[0].s(373),
            rejects[0].s(371),
            rejects[0].s(372)
        ),
        (next.to_string(), "0".into(), "4999".into(), "D".into()),
        "{}",
        rejects[0].show()
    );
    assert_eq!(
        (rejects[1].s(45), rejects[1].s(373)),
        ((next + 1).to_string(), "0".into()),
        "{}",
        rejects[1].show()
    );
    let st = sim.status();
    assert_eq!(st["session_rejects_sent"], 2);
    assert_eq!(st["orders"], 0, "a rejected message is not acted on");
    assert_eq!(
        st["sessions"][0]["next_in"].as_u64(),
        Some(next + 2),
        "both consumed"
    );
    sim.quit();
}

/// Reads whole frames off `s` until `done` says so (bounded).
fn raw_until(s: &mut TcpStream, done: impl Fn(&[Got]) -> bool) -> Vec<Got> {
    let end = Instant::now() + WAIT;
    let mut buf = Vec::new();
    let mut frames = Vec::new();
    let mut chunk = [0u8; 4096];
    while !done(&frames) {
        assert!(Instant::now() < end, "timed out; got {}", frames.len());
        match s.read(&mut chunk) {
            Ok(0) => panic!("connection closed"),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(_) => continue,
        }
        while let Ok(n) = execd::venue::fix::codec::frame(&buf) {
            frames.push(Got(buf[..n].to_vec()));
            buf.drain(..n);
        }
    }
    frames
}

#[test]
fn fix42_uses_its_exec_types() {
    let sim = Sim::start(&["--policy", "partial", "--partial-pieces", "2"]);
    let mut c = Client::connect_with(
        sim.port,
        cfg("OLD", "FIX.4.2"),
        SeqNums {
            next_out: 1,
            next_in: 1,
        },
    );
    c.order("f1", "X", b'1', "2", Some("3"));
    let n = c.expect("8");
    assert_eq!(
        (n.s(20), n.s(150), n.s(39)),
        ("0".into(), "0".into(), "0".into())
    );
    let p = c.expect("8");
    assert_eq!((p.s(150), p.s(39)), ("1".into(), "1".into()));
    let f = c.expect("8");
    assert_eq!((f.s(150), f.s(39)), ("2".into(), "2".into()));
    sim.quit();
}

#[test]
fn wrong_target_comp_id_is_refused_and_sigterm_exits_cleanly() {
    let mut sim = Sim::start(&["--target", "ONLY", "--no-stdin"]);
    let mut s = TcpStream::connect(("127.0.0.1", sim.port)).unwrap();
    s.write_all(&raw_frame(&format!(
        "35=A|49=OTHER|56=SIM|34=1|52={}|98=0|108=30|",
        stamp()
    )))
    .unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    let mut buf = [0u8; 256];
    assert_eq!(s.read(&mut buf).unwrap_or(0), 0, "closed without an answer");
    unsafe_kill_term(sim.child.id());
    let fin = sim.wait_line(|v| v["type"] == "final");
    assert_eq!(fin["connections_refused"], 1);
}

fn unsafe_kill_term(pid: u32) {
    let ok = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

#[test]
fn fixt11_sessions_trade_like_fix44() {
    let sim = Sim::start(&["--begin", "FIXT.1.1"]);
    let mut c = Client::connect_with(
        sim.port,
        cfg("NEW", "FIXT.1.1"),
        SeqNums {
            next_out: 1,
            next_in: 1,
        },
    );
    c.order("n1", "X", b'1', "0.5", Some("2"));
    let n = c.expect("8");
    assert_eq!((n.s(8), n.s(150)), ("FIXT.1.1".into(), "0".into()));
    let f = c.expect("8");
    assert_eq!((f.s(150), f.s(39), f.f(32)), ("F".into(), "2".into(), 0.5));
    c.logout();
    sim.quit();
}

#[test]
fn latency_delays_answers_without_stalling_the_loop() {
    let mut sim = Sim::start(&["--latency-us", "400000"]);
    let mut c = Client::connect(sim.port, "CLI");
    let t0 = Instant::now();
    c.order("l1", "X", b'1', "1", Some("1"));
    // The loop still answers control commands meanwhile, and has taken the order.
    while sim.status()["orders"] != 1 {
        assert!(t0.elapsed() < Duration::from_secs(5));
    }
    assert!(
        t0.elapsed() < Duration::from_millis(400),
        "status was not held up"
    );
    assert!(c.io.apps.is_empty());
    let new = c.expect("8");
    assert_eq!(new.s(20001), "400000", "SimLatencyUs");
    assert!(
        t0.elapsed() >= Duration::from_millis(400),
        "{:?}",
        t0.elapsed()
    );
    c.expect("8");
    sim.quit();
}

#[test]
fn a_client_that_does_not_read_is_disconnected() {
    let mut sim = Sim::start(&["--max-write-buffer", "65536"]);
    let mut c = Client::connect(sim.port, "CLI");
    // Orders without ever reading the answers: the kernel's buffers fill, then ours.
    let end = Instant::now() + WAIT;
    let mut n = 0;
    while !c.closed && Instant::now() < end && n < 200_000 {
        c.order(&format!("w{n}"), "X", b'1', "1", Some("1"));
        n += 1;
    }
    let ev = sim.wait_line(|v| v["type"] == "disconnect");
    assert!(
        ev["reason"].as_str().unwrap().contains("write buffer full"),
        "{ev}"
    );
    let st = sim.quit();
    assert_eq!(st["write_overflows"], 1, "{st}");
}

#[test]
fn answers_due_while_disconnected_follow_the_next_logon() {
    let mut sim = Sim::start(&[
        "--policy",
        "partial",
        "--partial-pieces",
        "3",
        "--partial-interval-us",
        "300000",
    ]);
    let mut c = Client::connect(sim.port, "CLI");
    c.order("q1", "X", b'1', "3", Some("5"));
    assert_eq!(c.expect("8").s(150), "0");
    assert_eq!(c.expect("8").f(14), 1.0);
    sim.send("drop");
    sim.wait_line(|v| v["type"] == "disconnect");
    c.until("the drop", |c| c.closed);
    // Both remaining pieces fall due while nobody is connected.
    std::thread::sleep(Duration::from_millis(700));
    let s = sim.session("CLI");
    assert_eq!(
        (s["connected"].as_bool(), s["pending"].as_u64()),
        (Some(false), Some(2)),
        "{s}"
    );
    let seqs = c.session.seqs();
    let mut c = Client::connect_with(sim.port, cfg("CLI", "FIX.4.4"), seqs);
    let a = c.expect("8");
    let b = c.expect("8");
    assert_eq!((a.f(14), b.f(14), b.s(39)), (2.0, 3.0, "2".into()));
    sim.quit();
}

#[test]
fn config_file_logout_command_and_stdin_eof() {
    let dir = TempDir::new("venue-sim-config");
    let path = dir.join("sim.toml");
    std::fs::write(
        &path,
        "policy = \"fill\"\nsender = \"BROKER\"\nreject-symbol = [\"NOPE\"]\ncommission_bps = 5\n",
    )
    .unwrap();
    let mut sim = Sim::start(&["--config", path.to_str().unwrap()]);
    let mut conf = cfg("CLI", "FIX.4.4");
    conf.target_comp_id = "BROKER".into();
    let mut c = Client::connect_with(
        sim.port,
        conf,
        SeqNums {
            next_out: 1,
            next_in: 1,
        },
    );
    c.order("c1", "NOPE", b'1', "1", Some("1"));
    assert_eq!(c.expect("8").s(39), "8");
    c.order("c2", "X", b'1', "1", Some("100"));
    c.expect("8");
    assert_eq!(c.expect("8").f(12), 0.05);
    // The operator logs everyone out; the client answers and the connection closes.
    sim.send("logout");
    assert_eq!(sim.wait_line(|v| v["type"] == "ok")["sessions"], 1);
    c.until("the logout", |c| {
        c.events.contains(&SessionEvent::LoggedOut) || c.closed
    });
    sim.wait_line(|v| v["type"] == "logout");
    // Closing stdin stops it like `quit`.
    drop(sim.stdin.take());
    let fin = sim.wait_line(|v| v["type"] == "final");
    assert_eq!(
        (fin["orders"].as_u64(), fin["rejects"].as_u64()),
        (Some(2), Some(1))
    );
    let end = Instant::now() + WAIT;
    while sim.child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < end, "no exit after stdin EOF");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(sim.child.try_wait().unwrap().unwrap().success());
}
