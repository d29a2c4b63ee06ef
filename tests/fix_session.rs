//! FIX session through its public API only: an initiator and an acceptor back to back,
//! with connections that die mid-flight (frames lost both ways) and come back. Whatever
//! the interleaving, every application message is delivered exactly once, in order,
//! and both sides end with the same sequence numbers.

use execd::venue::fix::codec::Msg;
use execd::venue::fix::reject::SessionRejectReason;
use execd::venue::fix::session::{
    Role, SeqNums, Session, SessionConfig, SessionEvent, SessionIo, State,
};
use proptest::prelude::*;
use std::collections::HashMap;

const T0: u64 = 1_704_189_600_000_000_000;
const SEC: u64 = 1_000_000_000;

#[derive(Default)]
struct Io {
    sent: Vec<Vec<u8>>,
    store: HashMap<u64, Vec<u8>>,
    delivered: Vec<String>,
    events: Vec<SessionEvent>,
}

impl SessionIo for Io {
    fn send(&mut self, frame: &[u8]) {
        self.sent.push(frame.to_vec());
    }
    fn store(&mut self, seq: u64, frame: &[u8]) {
        self.store.insert(seq, frame.to_vec());
    }
    fn stored(&self, seq: u64) -> Option<&[u8]> {
        self.store.get(&seq).map(Vec::as_slice)
    }
    fn reset(&mut self, _seqs: SeqNums) {
        self.store.clear();
    }
    fn app(&mut self, msg: &Msg<'_>, valid: Result<(), SessionRejectReason>) {
        assert_eq!(valid, Ok(()));
        self.delivered
            .push(String::from_utf8_lossy(msg.get(11).unwrap_or(b"?")).into_owned());
    }
    fn event(&mut self, ev: SessionEvent) {
        self.events.push(ev);
    }
}

fn cfg(role: Role) -> SessionConfig {
    let (s, t) = match role {
        Role::Initiator => ("CLIENT", "BROKER"),
        Role::Acceptor => ("BROKER", "CLIENT"),
    };
    SessionConfig {
        begin_string: "FIX.4.4".into(),
        default_appl_ver_id: None,
        sender_comp_id: s.into(),
        target_comp_id: t.into(),
        role,
        heartbeat_secs: 10,
        reset_on_logon: false,
        reset_on_logout: false,
        reset_on_disconnect: false,
        username: None,
        password: None,
        logon_timeout_secs: 5,
        logout_timeout_secs: 5,
        schedule: None,
        dictionary: None,
        micros: false,
    }
}

struct Side {
    s: Session,
    io: Io,
    /// Frames of `io.sent` already handed to the other side (or lost).
    cursor: usize,
    /// ClOrdIDs this side sent (accepted by send_app), in order.
    sent_ids: Vec<String>,
}

struct World {
    a: Side,
    b: Side,
    now: u64,
    n: u64,
}

impl World {
    fn new() -> World {
        let one = SeqNums {
            next_out: 1,
            next_in: 1,
        };
        let side = |role| Side {
            s: Session::new(cfg(role), one),
            io: Io::default(),
            cursor: 0,
            sent_ids: vec![],
        };
        World {
            a: side(Role::Initiator),
            b: side(Role::Acceptor),
            now: T0,
            n: 0,
        }
    }
    fn connect(&mut self) {
        self.b.s.on_connected(self.now, &mut self.b.io);
        self.a.s.on_connected(self.now, &mut self.a.io);
        self.pump(usize::MAX);
    }
    /// Delivers up to `budget` frames in flight, alternating directions.
    fn pump(&mut self, mut budget: usize) {
        while budget > 0 {
            let mut moved = false;
            if self.a.cursor < self.a.io.sent.len() {
                let f = self.a.io.sent[self.a.cursor].clone();
                self.a.cursor += 1;
                self.b.s.on_bytes(self.now, &f, &mut self.b.io);
                moved = true;
                budget -= 1;
            }
            if budget > 0 && self.b.cursor < self.b.io.sent.len() {
                let f = self.b.io.sent[self.b.cursor].clone();
                self.b.cursor += 1;
                self.a.s.on_bytes(self.now, &f, &mut self.a.io);
                moved = true;
                budget -= 1;
            }
            if !moved {
                break;
            }
        }
        self.owners_close();
    }
    /// Owners close connections a session asked to close.
    fn owners_close(&mut self) {
        if self.a.s.state() == State::Disconnected || self.b.s.state() == State::Disconnected {
            self.crash_connection();
        }
    }
    /// The connection dies: whatever is in flight is lost both ways.
    fn crash_connection(&mut self) {
        self.a.cursor = self.a.io.sent.len();
        self.b.cursor = self.b.io.sent.len();
        self.a.s.on_disconnected(self.now, &mut self.a.io);
        self.b.s.on_disconnected(self.now, &mut self.b.io);
    }
    fn send(&mut self, from_a: bool) {
        self.n += 1;
        let id = format!("m{}", self.n);
        let side = if from_a { &mut self.a } else { &mut self.b };
        let r = side.s.send_app(
            self.now,
            b"D",
            |e| {
                e.bytes(11, id.as_bytes());
            },
            &mut side.io,
        );
        if r.is_ok() {
            side.sent_ids.push(id);
        }
    }
    fn advance(&mut self, secs: u64) {
        self.now += secs * SEC;
        self.a.s.on_timer(self.now, &mut self.a.io);
        self.b.s.on_timer(self.now, &mut self.b.io);
    }
}

#[derive(Clone, Debug)]
enum Act {
    Send { from_a: bool },
    Deliver(usize),
    Advance(u64),
    Crash,
    Reconnect,
}

fn act() -> impl Strategy<Value = Act> {
    prop_oneof![
        6 => any::<bool>().prop_map(|from_a| Act::Send { from_a }),
        4 => (1usize..6).prop_map(Act::Deliver),
        1 => (1u64..15).prop_map(Act::Advance),
        1 => Just(Act::Crash),
        1 => Just(Act::Reconnect),
    ]
}

fn run(acts: &[Act]) -> World {
    let mut w = World::new();
    w.connect();
    for a in acts {
        match a {
            Act::Send { from_a } => w.send(*from_a),
            Act::Deliver(k) => w.pump(*k),
            Act::Advance(s) => {
                w.advance(*s);
                w.owners_close();
            }
            Act::Crash => w.crash_connection(),
            Act::Reconnect => {
                if w.a.s.state() == State::Disconnected || w.b.s.state() == State::Disconnected {
                    w.crash_connection();
                    w.connect();
                }
            }
        }
    }
    // Heal: a live connection, a message each way to expose any trailing gap, quiet.
    if !(w.a.s.is_logged_on() && w.b.s.is_logged_on()) {
        w.crash_connection();
        w.connect();
    }
    w.pump(usize::MAX);
    w.send(true);
    w.send(false);
    w.pump(usize::MAX);
    w
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn delivered_exactly_once_in_order_across_lost_connections(
        acts in proptest::collection::vec(act(), 0..60)
    ) {
        let w = run(&acts);
        prop_assert!(w.a.s.is_logged_on() && w.b.s.is_logged_on());
        prop_assert_eq!(&w.b.io.delivered, &w.a.sent_ids);
        prop_assert_eq!(&w.a.io.delivered, &w.b.sent_ids);
        prop_assert_eq!(w.a.s.seqs().next_in, w.b.s.seqs().next_out);
        prop_assert_eq!(w.b.s.seqs().next_in, w.a.s.seqs().next_out);
        prop_assert!(!w.a.s.resend_pending() && !w.b.s.resend_pending());
        prop_assert_eq!(w.a.s.queued() + w.b.s.queued(), 0);
    }
}

#[test]
fn a_quiet_pair_stays_up_on_heartbeats() {
    let mut w = World::new();
    w.connect();
    for _ in 0..100 {
        w.advance(1);
        w.pump(usize::MAX);
    }
    assert!(w.a.s.is_logged_on() && w.b.s.is_logged_on());
    assert!(w
        .a
        .io
        .events
        .iter()
        .all(|e| !matches!(e, SessionEvent::Disconnect(_))));
    // 100 s at HeartBtInt 10: about ten heartbeats each way, no test requests.
    assert!((9..=12).contains(&(w.a.s.seqs().next_out - 2)));
    assert_eq!(w.a.s.seqs().next_in, w.b.s.seqs().next_out);
}
