//! Recovery of the gateway's memory, at the crash points a test cannot time from the
//! outside: the order log is left as a crash at that point leaves it (a record written,
//! the next step not taken), then the core and the gateway start again on the journal
//! (the paper venue, real sockets on 127.0.0.1) and a client sees what comes of it.

use super::book::{Pending, View};
use super::order_log::{Entry, OrderLog};
use super::requests::{client_id, new_order};
use crate::config::Registry;
use crate::core::{spawn, CoreOptions, CoreReport};
use crate::model::ids::OrderId;
use crate::venue::fix::codec::{frame, Decoder, Encoder};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn registry(port: u16) -> Arc<Registry> {
    let text = include_str!("../../examples/order-entry.toml");
    // The password session needs its variable in the environment; these tests use desk1.
    let text = text
        .split("\n[[order_entry]]\nname = \"algo\"")
        .next()
        .unwrap()
        .replace(
            "SocketAcceptPort = 9890",
            &format!("SocketAcceptPort = {port}"),
        );
    Arc::new(Registry::from_toml(&text).expect("the example, cut to desk1"))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn temp(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("execd-entry-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// The core and the gateway on `journal`, until the returned closure stops them.
struct Daemon {
    core: crate::core::CoreThread,
    gateway: super::EntryGateway,
}

impl Daemon {
    fn start(reg: &Arc<Registry>, journal: &Path) -> Daemon {
        let mut opts = CoreOptions::real_time(1);
        opts.journal = Some(journal.to_path_buf());
        let (core, mut handles) = spawn(reg.clone(), opts, 2).expect("core starts");
        let h = handles.pop().unwrap();
        let gateway = super::start(reg.clone(), h, Some(journal)).expect("gateway starts");
        Daemon { core, gateway }
    }

    fn stop(self) -> (super::EntryReport, CoreReport) {
        let r = self.gateway.stop().expect("the gateway stops");
        (r, self.core.shutdown())
    }
}

type Fields = Vec<(u32, String)>;

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

fn get(f: &Fields, tag: u32) -> Option<&str> {
    f.iter().find(|(t, _)| *t == tag).map(|(_, v)| v.as_str())
}

/// DESK1, a FIX 4.4 client that answers nothing unasked.
struct Client {
    s: TcpStream,
    seq: u64,
    /// The number of this connection's Logon: a gap before it is filled, after it the
    /// messages must come again (only the Logon, which the session consumes anyway).
    first: u64,
    buf: Vec<u8>,
    dec: Decoder,
}

impl Client {
    fn connect(port: u16, seq: u64) -> Client {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        Client {
            s,
            seq,
            first: seq,
            buf: Vec::new(),
            dec: Decoder::new(),
        }
    }

    fn send(&mut self, mt: &[u8], body: &[(u32, &str)]) {
        let mut e = Encoder::new("FIX.4.4", 4096);
        e.start(mt)
            .uint(34, self.seq)
            .bytes(49, b"DESK1")
            .timestamp(52, now(), false)
            .bytes(56, b"EXECD");
        for (t, v) in body {
            e.bytes(*t, v.as_bytes());
        }
        self.s.write_all(e.finish()).unwrap();
        self.seq += 1;
    }

    /// Answers a ResendRequest from `begin` with a GapFill up to this connection's
    /// Logon: what came before was administrative (this client keeps no messages).
    fn gap_fill(&mut self, begin: u64) {
        let mut e = Encoder::new("FIX.4.4", 512);
        e.start(b"4")
            .uint(34, begin)
            .flag(43, true)
            .bytes(49, b"DESK1")
            .timestamp(52, now(), false)
            .bytes(56, b"EXECD")
            .timestamp(122, now(), false)
            .uint(36, self.first)
            .flag(123, true);
        self.s.write_all(e.finish()).unwrap();
    }

    fn expect(&mut self, what: &str, pred: impl Fn(&Fields) -> bool) -> Fields {
        let end = Instant::now() + Duration::from_secs(20);
        let mut seen = Vec::new();
        loop {
            if let Ok(n) = frame(&self.buf) {
                let f: Fields = self
                    .dec
                    .decode(&self.buf[..n])
                    .unwrap()
                    .fields()
                    .map(|x| (x.tag, String::from_utf8_lossy(x.value).into_owned()))
                    .collect();
                self.buf.drain(..n);
                if pred(&f) {
                    return f;
                }
                if get(&f, 35) == Some("2") {
                    let begin = get(&f, 7).and_then(|b| b.parse().ok()).unwrap_or(1);
                    self.gap_fill(begin);
                }
                seen.push(f);
                continue;
            }
            assert!(Instant::now() < end, "no {what}; saw {seen:?}");
            let mut b = [0u8; 8192];
            match self.s.read(&mut b) {
                Ok(0) => panic!("closed waiting for {what}; saw {seen:?}"),
                Ok(n) => self.buf.extend_from_slice(&b[..n]),
                Err(_) => {}
            }
        }
    }

    fn logon(&mut self) {
        self.send(b"A", &[(98, "0"), (108, "30")]);
        self.expect("Logon", |f| get(f, 35) == Some("A"));
    }

    fn exec(&mut self, cl: &str, et: &str) -> Fields {
        self.expect(&format!("ER {cl} {et}"), |f| {
            get(f, 35) == Some("8") && get(f, 11) == Some(cl) && get(f, 150) == Some(et)
        })
    }

    fn logout(&mut self) {
        self.send(b"5", &[]);
        self.expect("Logout", |f| get(f, 35) == Some("5"));
    }
}

/// A resting buy limit far below the paper venue's price (GTC: the paper venue expires
/// DAY orders at midnight UTC).
const RESTING: [(u32, &str); 8] = [
    (11, "r1"),
    (38, "0.01"),
    (40, "2"),
    (44, "58000"),
    (54, "1"),
    (55, "BTCUSDT"),
    (59, "1"),
    (60, "20260101-00:00:00"),
];

fn desk_dir(journal: &Path) -> PathBuf {
    journal.join("entry").join("desk1")
}

/// The last STATE of `key` in the desk's order log, and the log to append to.
fn last_state(journal: &Path, key: &str) -> (OrderLog, Option<OrderId>, View) {
    let (log, entries) = OrderLog::open(&desk_dir(journal)).unwrap();
    let (order, view) = entries
        .iter()
        .rev()
        .find_map(|e| match e {
            Entry::State {
                key: k,
                order,
                view,
                ..
            } if k.as_str() == key => Some((*order, *view)),
            _ => None,
        })
        .expect("a STATE for the key");
    (log, order, view)
}

/// A crash after the gateway logged a NewOrderSingle and before the core recorded it:
/// the restart submits it (the same request id), once, and the client hears of it.
#[test]
fn an_order_the_core_never_recorded_is_submitted_again_once() {
    let port = free_port();
    let reg = registry(port);
    let journal = temp("resubmit");
    {
        let (mut log, _) = OrderLog::open(&desk_dir(&journal)).unwrap();
        let spec = &reg.order_entry[0];
        let cl = client_id(&spec.name, b"lost1").unwrap();
        let mut e = Encoder::new("FIX.4.4", 1024);
        e.start(b"D").uint(34, 2);
        for (t, v) in [
            (11, "lost1"),
            (38, "0.01"),
            (40, "1"),
            (54, "1"),
            (55, "BTCUSDT"),
        ] {
            e.bytes(t, v.as_bytes());
        }
        let f = e.finish().to_vec();
        let mut d = Decoder::new();
        let req = new_order(&d.decode(&f).unwrap(), spec, &cl).unwrap();
        log.order(1, &cl, 2, &req);
    }
    let d = Daemon::start(&reg, &journal);
    let mut c = Client::connect(port, 1);
    c.logon();
    c.exec("lost1", "A");
    let f = c.exec("lost1", "F");
    assert_eq!(get(&f, 39), Some("2"));
    c.logout();
    let (r, core) = d.stop();
    assert_eq!(r.desks[0].stats.resubmitted, 1);
    assert_eq!(core.engine.stats().accepted, 1);

    // Its fate is known now: the next restart submits nothing.
    let d = Daemon::start(&reg, &journal);
    let (r, core) = d.stop();
    assert_eq!(r.desks[0].stats.resubmitted, 0);
    let s = core.engine.stats();
    assert_eq!(
        (s.submitted, s.duplicates),
        (1, 0),
        "the one order, replayed; none new"
    );
    let _ = std::fs::remove_dir_all(&journal);
}

/// A crash after the gateway logged a cancel and before the core got it: after the
/// restart the core is asked about the order, finds it working, gets the cancel, and
/// the client hears of it under the cancel's ClOrdID.
#[test]
fn a_cancel_the_core_never_got_is_sent_after_a_restart() {
    let port = free_port();
    let reg = registry(port);
    let journal = temp("cancel");
    let d = Daemon::start(&reg, &journal);
    let mut c = Client::connect(port, 1);
    c.logon();
    c.send(b"D", &RESTING);
    c.exec("r1", "0");
    c.logout();
    d.stop();
    let (mut log, order, mut view) = last_state(&journal, "r1");
    view.pending = Some(Pending {
        kind: b'F',
        cl: client_id(&reg.order_entry[0].name, b"r1c").unwrap(),
        qty: view.qty,
        px: view.px,
        acked: false,
    });
    log.state(2, &view.cl, order, &view, 0);
    drop(log);

    let d = Daemon::start(&reg, &journal);
    let mut c = Client::connect(port, c.seq);
    c.logon();
    let x = c.exec("r1c", "4");
    assert_eq!((get(&x, 41), get(&x, 39)), (Some("r1"), Some("4")));
    c.logout();
    let (_, core) = d.stop();
    let o = core.engine.book().get(order.unwrap()).unwrap();
    assert_eq!(o.state(), crate::model::order_state::OrderState::Canceled);
    let _ = std::fs::remove_dir_all(&journal);
}

/// The last record announces a report with the MsgSeqNum it would get. If the store has
/// no frame with that number it never left, and the order goes back to what the client
/// had; if it has, the report counts as sent.
#[test]
fn a_report_announced_but_never_sent_does_not_count_as_told() {
    for (stored, want) in [(false, "0"), (true, "2")] {
        let port = free_port();
        let reg = registry(port);
        let journal = temp(if stored { "told" } else { "untold" });
        let d = Daemon::start(&reg, &journal);
        let mut c = Client::connect(port, 1);
        c.logon();
        c.send(b"D", &RESTING);
        c.exec("r1", "0");
        c.logout();
        let (r, _) = d.stop();
        let next_out = r.desks[0].seqs.next_out;
        // "Filled", announced as the next report (not stored) or as the last one (stored).
        let (mut log, order, mut view) = last_state(&journal, "r1");
        view.status = b'2';
        let out_seq = if stored { next_out - 1 } else { next_out };
        log.state(2, &view.cl, order, &view, out_seq);
        drop(log);

        let d = Daemon::start(&reg, &journal);
        let mut c = Client::connect(port, c.seq);
        c.logon();
        c.send(b"H", &[(11, "r1"), (54, "1"), (55, "BTCUSDT"), (790, "q")]);
        let st = c.exec("r1", "I");
        assert_eq!(get(&st, 39), Some(want), "stored: {stored}");
        c.logout();
        d.stop();
        let _ = std::fs::remove_dir_all(&journal);
    }
}
