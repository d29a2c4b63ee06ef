//! Session tests: two sessions wired back to back through in-memory wires, a manual
//! clock, and hand-crafted frames for what a well-behaved peer never sends.

use super::*;
use crate::venue::fix::codec::{Decoder, Encoder, SOH};
use std::collections::HashMap;

/// 2024-01-02 10:00:00 UTC (a Tuesday).
const T0: u64 = 1_704_189_600 * NS;
const SEC: u64 = NS;

#[derive(Default)]
struct Io {
    sent: Vec<Vec<u8>>,
    store: HashMap<u64, Vec<u8>>,
    /// Order of store/send calls: ("store", seq) / ("send", index).
    log: Vec<(&'static str, u64)>,
    apps: Vec<(Vec<u8>, Result<(), SessionRejectReason>)>,
    events: Vec<SessionEvent>,
    /// Resets the session told us of, with how many frames were stored at that moment.
    resets: Vec<(SeqNums, usize)>,
    /// An owner with a bounded output: bytes sent that the peer has not read yet.
    unsent: usize,
    limit: Option<usize>,
}

impl SessionIo for Io {
    fn send(&mut self, frame: &[u8]) {
        self.log.push(("send", self.sent.len() as u64));
        self.sent.push(frame.to_vec());
        if self.limit.is_some() {
            self.unsent += frame.len();
        }
    }
    fn unsent(&self) -> usize {
        self.unsent
    }
    fn unsent_limit(&self) -> usize {
        self.limit.unwrap_or(usize::MAX)
    }
    fn store(&mut self, seq: u64, frame: &[u8]) {
        self.log.push(("store", seq));
        // As the real stores keep it: a number already held keeps its first frame
        // (a resend is not a new original), so only a reset can make room.
        self.store.entry(seq).or_insert_with(|| frame.to_vec());
    }
    fn stored(&self, seq: u64) -> Option<&[u8]> {
        self.store.get(&seq).map(|v| v.as_slice())
    }
    fn reset(&mut self, seqs: SeqNums) {
        self.log.push(("reset", seqs.next_out));
        self.resets.push((seqs, self.store.len()));
        self.store.clear();
    }
    fn app(&mut self, msg: &Msg<'_>, valid: Result<(), SessionRejectReason>) {
        self.apps.push((msg.raw().to_vec(), valid));
    }
    fn event(&mut self, ev: SessionEvent) {
        self.events.push(ev);
    }
}

impl Io {
    fn disconnects(&self) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|e| match e {
                SessionEvent::Disconnect(s) => Some(s.clone()),
                _ => None,
            })
            .collect()
    }
    fn has(&self, ev: &SessionEvent) -> bool {
        self.events.contains(ev)
    }
    fn app_tags(&self, tag: u32) -> Vec<String> {
        self.apps
            .iter()
            .map(|(f, _)| get(f, tag).unwrap_or_default())
            .collect()
    }
}

fn fields(frame: &[u8]) -> Vec<(u32, String)> {
    let mut d = Decoder::new();
    let m = d.decode(frame).expect("our frames decode");
    m.fields()
        .map(|f| (f.tag, String::from_utf8_lossy(f.value).into_owned()))
        .collect()
}

fn get(frame: &[u8], tag: u32) -> Option<String> {
    fields(frame)
        .into_iter()
        .find(|(t, _)| *t == tag)
        .map(|(_, v)| v)
}

fn mt(frame: &[u8]) -> String {
    get(frame, 35).unwrap()
}

fn seq_of(frame: &[u8]) -> u64 {
    get(frame, 34).unwrap().parse().unwrap()
}

fn base_cfg(role: Role) -> SessionConfig {
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
        heartbeat_secs: 30,
        reset_on_logon: false,
        reset_on_logout: false,
        reset_on_disconnect: false,
        username: None,
        password: None,
        logon_timeout_secs: 10,
        logout_timeout_secs: 5,
        schedule: None,
        dictionary: None,
        micros: false,
    }
}

fn fresh() -> SeqNums {
    SeqNums {
        next_out: 1,
        next_in: 1,
    }
}

fn seqs(next_out: u64, next_in: u64) -> SeqNums {
    SeqNums { next_out, next_in }
}

/// Initiator (CLIENT) and acceptor (BROKER) back to back.
struct Pair {
    ini: Session,
    acc: Session,
    ini_io: Io,
    acc_io: Io,
    /// How many of each side's sent frames the other side has been given.
    ini_cursor: usize,
    acc_cursor: usize,
    now: u64,
}

impl Pair {
    fn new() -> Pair {
        Pair::with(
            base_cfg(Role::Initiator),
            fresh(),
            base_cfg(Role::Acceptor),
            fresh(),
        )
    }
    fn with(ic: SessionConfig, is: SeqNums, ac: SessionConfig, as_: SeqNums) -> Pair {
        Pair {
            ini: Session::new(ic, is),
            acc: Session::new(ac, as_),
            ini_io: Io::default(),
            acc_io: Io::default(),
            ini_cursor: 0,
            acc_cursor: 0,
            now: T0,
        }
    }
    fn connect(&mut self) {
        self.acc.on_connected(self.now, &mut self.acc_io);
        self.ini.on_connected(self.now, &mut self.ini_io);
        self.pump();
    }
    fn logged_on() -> Pair {
        let mut p = Pair::new();
        p.connect();
        assert!(p.ini.is_logged_on() && p.acc.is_logged_on());
        p
    }
    /// Delivers everything in flight both ways until nothing moves.
    fn pump(&mut self) {
        loop {
            let mut moved = false;
            while self.ini_cursor < self.ini_io.sent.len() {
                let f = self.ini_io.sent[self.ini_cursor].clone();
                self.ini_cursor += 1;
                self.acc.on_bytes(self.now, &f, &mut self.acc_io);
                moved = true;
            }
            while self.acc_cursor < self.acc_io.sent.len() {
                let f = self.acc_io.sent[self.acc_cursor].clone();
                self.acc_cursor += 1;
                self.ini.on_bytes(self.now, &f, &mut self.ini_io);
                moved = true;
            }
            if !moved {
                break;
            }
        }
    }
    /// Loses what the initiator sent and the acceptor has not seen yet.
    fn drop_from_ini(&mut self) {
        self.ini_cursor = self.ini_io.sent.len();
    }
    fn drop_from_acc(&mut self) {
        self.acc_cursor = self.acc_io.sent.len();
    }
    fn advance(&mut self, secs: u64) {
        self.now += secs * SEC;
        self.ini.on_timer(self.now, &mut self.ini_io);
        self.acc.on_timer(self.now, &mut self.acc_io);
        self.pump();
    }
    fn ini_sends(&mut self, cl_ord_id: &str) -> u64 {
        self.ini
            .send_app(
                self.now,
                b"D",
                |e| {
                    e.bytes(11, cl_ord_id.as_bytes())
                        .bytes(55, b"BTCUSDT")
                        .char(54, b'1');
                },
                &mut self.ini_io,
            )
            .expect("logged on")
    }
    fn acc_sends(&mut self, exec_id: &str) -> u64 {
        self.acc
            .send_app(
                self.now,
                b"8",
                |e| {
                    e.bytes(17, exec_id.as_bytes()).char(150, b'F');
                },
                &mut self.acc_io,
            )
            .expect("logged on")
    }
    fn ini_new_frames(&self, from: usize) -> Vec<Vec<u8>> {
        self.ini_io.sent[from..].to_vec()
    }
    fn acc_new_frames(&self, from: usize) -> Vec<Vec<u8>> {
        self.acc_io.sent[from..].to_vec()
    }
}

/// A hand-crafted frame from the peer's point of view.
struct Craft<'a> {
    begin: &'a str,
    sender: &'a str,
    target: &'a str,
    seq: Option<u64>,
    sending_time: Option<u64>,
    poss_dup: Option<Option<u64>>,
    msg_type: &'a str,
    body: Vec<(u32, String)>,
}

impl<'a> Craft<'a> {
    /// A message the initiator (CLIENT) would send to the acceptor.
    fn to_acc(msg_type: &'a str, seq: u64, now: u64) -> Craft<'a> {
        Craft {
            begin: "FIX.4.4",
            sender: "CLIENT",
            target: "BROKER",
            seq: Some(seq),
            sending_time: Some(now),
            poss_dup: None,
            msg_type,
            body: vec![],
        }
    }
    /// A message the acceptor (BROKER) would send to the initiator.
    fn to_ini(msg_type: &'a str, seq: u64, now: u64) -> Craft<'a> {
        Craft {
            sender: "BROKER",
            target: "CLIENT",
            ..Craft::to_acc(msg_type, seq, now)
        }
    }
    fn f(mut self, tag: u32, v: &str) -> Self {
        self.body.push((tag, v.to_string()));
        self
    }
    fn dup(mut self, orig: Option<u64>) -> Self {
        self.poss_dup = Some(orig);
        self
    }
    fn build(&self) -> Vec<u8> {
        let mut e = Encoder::new(self.begin, 1024);
        e.start(self.msg_type.as_bytes())
            .bytes(49, self.sender.as_bytes())
            .bytes(56, self.target.as_bytes());
        if let Some(s) = self.seq {
            e.uint(34, s);
        }
        if let Some(pd) = self.poss_dup {
            e.flag(43, true);
            if let Some(t) = self.sending_time {
                e.timestamp(52, t, false);
            }
            if let Some(o) = pd {
                e.timestamp(122, o, false);
            }
        } else if let Some(t) = self.sending_time {
            e.timestamp(52, t, false);
        }
        for (t, v) in &self.body {
            e.bytes(*t, v.as_bytes());
        }
        e.finish().to_vec()
    }
}

/// A single acceptor fed by hand, logged on with CLIENT at seq 1.
fn acceptor_logged_on() -> (Session, Io, u64) {
    let mut s = Session::new(base_cfg(Role::Acceptor), fresh());
    let mut io = Io::default();
    s.on_connected(T0, &mut io);
    let logon = Craft::to_acc("A", 1, T0).f(98, "0").f(108, "30").build();
    s.on_bytes(T0, &logon, &mut io);
    assert_eq!(s.state(), State::Active);
    assert_eq!(s.seqs(), seqs(2, 2));
    (s, io, T0)
}

// ---------------------------------------------------------------- logon

#[test]
fn logon_initiator_and_acceptor() {
    let mut ic = base_cfg(Role::Initiator);
    ic.username = Some("alice".into());
    ic.password = Some(crate::secret::Secret::new("s3cret"));
    ic.heartbeat_secs = 20;
    let mut p = Pair::with(ic, fresh(), base_cfg(Role::Acceptor), fresh());
    p.acc.on_connected(p.now, &mut p.acc_io);
    assert_eq!(p.acc.state(), State::LogonPending);
    assert!(p.acc_io.sent.is_empty(), "an acceptor waits for the Logon");
    p.ini.on_connected(p.now, &mut p.ini_io);
    assert_eq!(p.ini.state(), State::LogonPending);
    let logon = &p.ini_io.sent[0];
    assert_eq!(mt(logon), "A");
    assert_eq!(get(logon, 98).as_deref(), Some("0"));
    assert_eq!(get(logon, 108).as_deref(), Some("20"));
    assert_eq!(get(logon, 553).as_deref(), Some("alice"));
    assert_eq!(get(logon, 554).as_deref(), Some("s3cret"));
    // The copy kept in the store (written to disk) is a well-formed frame without it.
    let kept = p.ini_io.store[&1].clone();
    assert_eq!(get(&kept, 554).as_deref(), Some("******"));
    assert_eq!(
        crate::venue::fix::codec::frame(&kept).ok(),
        Some(kept.len())
    );
    assert_eq!(kept.len(), logon.len());
    assert_eq!(get(logon, 141), None);
    assert_eq!(get(logon, 34).as_deref(), Some("1"));
    // Header in tag order after 8, 9, 35, as QuickFIX writes it.
    let tags: Vec<u32> = fields(logon).iter().map(|(t, _)| *t).take(7).collect();
    assert_eq!(tags, vec![8, 9, 35, 34, 49, 52, 56]);
    p.pump();
    assert_eq!(p.ini.state(), State::Active);
    assert_eq!(p.acc.state(), State::Active);
    assert_eq!(p.ini.seqs(), seqs(2, 2));
    assert_eq!(p.acc.seqs(), seqs(2, 2));
    assert!(p.ini_io.has(&SessionEvent::LoggedOn));
    assert!(p.acc_io.has(&SessionEvent::LoggedOn));
    // The acceptor adopts the initiator's HeartBtInt and echoes it.
    assert_eq!(p.acc.heartbeat_secs(), 20);
    assert_eq!(get(&p.acc_io.sent[0], 108).as_deref(), Some("20"));
    assert_eq!(p.acc.next_deadline(), Some(T0 + 20 * SEC));
    // Stored before sent, on both sides.
    assert_eq!(p.ini_io.log[..2], [("store", 1), ("send", 0)]);
    assert_eq!(p.acc_io.log[..2], [("store", 1), ("send", 0)]);
}

#[test]
fn logon_fixt_sends_default_appl_ver_id() {
    let mut ic = base_cfg(Role::Initiator);
    ic.begin_string = "FIXT.1.1".into();
    ic.default_appl_ver_id = Some("9".into());
    let mut ac = base_cfg(Role::Acceptor);
    ac.begin_string = "FIXT.1.1".into();
    ac.default_appl_ver_id = Some("9".into());
    let mut p = Pair::with(ic, fresh(), ac, fresh());
    p.connect();
    assert!(p.ini.is_logged_on() && p.acc.is_logged_on());
    assert_eq!(get(&p.ini_io.sent[0], 1137).as_deref(), Some("9"));
    assert_eq!(get(&p.acc_io.sent[0], 1137).as_deref(), Some("9"));
}

#[test]
fn logon_with_reset_on_logon_starts_both_at_one() {
    let mut ic = base_cfg(Role::Initiator);
    ic.reset_on_logon = true;
    let mut p = Pair::with(ic, seqs(40, 30), base_cfg(Role::Acceptor), seqs(30, 40));
    p.connect();
    assert_eq!(get(&p.ini_io.sent[0], 141).as_deref(), Some("Y"));
    assert_eq!(get(&p.ini_io.sent[0], 34).as_deref(), Some("1"));
    assert_eq!(
        get(&p.acc_io.sent[0], 141).as_deref(),
        Some("Y"),
        "acceptor echoes 141"
    );
    assert_eq!(get(&p.acc_io.sent[0], 34).as_deref(), Some("1"));
    assert!(p.ini.is_logged_on() && p.acc.is_logged_on());
    assert_eq!(p.ini.seqs(), seqs(2, 2));
    assert_eq!(p.acc.seqs(), seqs(2, 2));
    assert!(p.acc_io.has(&SessionEvent::SeqReset(seqs(1, 1))));
    assert!(p.ini_io.has(&SessionEvent::SeqReset(seqs(1, 1))));
    // No resend request anywhere: the reset made both sides agree.
    assert!(p
        .ini_io
        .sent
        .iter()
        .chain(&p.acc_io.sent)
        .all(|f| mt(f) != "2"));
}

#[test]
fn acceptor_configured_reset_on_logon_starts_at_one_without_saying_so() {
    let mut ac = base_cfg(Role::Acceptor);
    ac.reset_on_logon = true;
    // The initiator did not ask; its logon is seq 1 because it is a fresh one.
    let mut p = Pair::with(base_cfg(Role::Initiator), fresh(), ac, seqs(9, 9));
    p.acc_io.store.insert(8, b"stale".to_vec());
    p.connect();
    // ResetSeqNumFlag answers a peer that sent it; QuickFIX's ResetOnLogon acceptor
    // answers a plain Logon plainly (its acceptance tests expect no 141).
    assert_eq!(get(&p.acc_io.sent[0], 141), None);
    assert_eq!(get(&p.acc_io.sent[0], 34).as_deref(), Some("1"));
    assert_eq!(p.acc.seqs(), seqs(2, 2));
    assert_eq!(p.ini.seqs(), seqs(2, 2));
    assert_eq!(p.acc_io.resets, vec![(seqs(1, 1), 1)], "the store was told");
    assert!(!p.acc_io.store.contains_key(&8));
}

#[test]
fn initiator_follows_a_broker_that_resets_on_logon() {
    let mut s = Session::new(base_cfg(Role::Initiator), seqs(10, 20));
    let mut io = Io::default();
    s.on_connected(T0, &mut io);
    assert_eq!(seq_of(&io.sent[0]), 10);
    let answer = Craft::to_ini("A", 1, T0)
        .f(98, "0")
        .f(108, "30")
        .f(141, "Y")
        .build();
    s.on_bytes(T0, &answer, &mut io);
    assert!(s.is_logged_on());
    assert_eq!(s.seqs(), seqs(11, 2));
    // The store hears of it at once: a restart must not restore inbound 20.
    assert_eq!(io.resets, vec![(seqs(11, 1), 1)]);
    assert!(io.has(&SessionEvent::SeqReset(seqs(11, 1))));
}

#[test]
fn logon_timeout_disconnects_both_roles() {
    let mut p = Pair::new();
    p.ini.on_connected(p.now, &mut p.ini_io);
    p.acc.on_connected(p.now, &mut p.acc_io);
    p.drop_from_ini();
    assert_eq!(p.ini.next_deadline(), Some(T0 + 10 * SEC));
    assert_eq!(p.acc.next_deadline(), Some(T0 + 10 * SEC));
    p.advance(9);
    assert_eq!(p.ini.state(), State::LogonPending);
    p.advance(1);
    assert_eq!(p.ini.state(), State::Disconnected);
    assert_eq!(p.acc.state(), State::Disconnected);
    assert_eq!(p.ini_io.disconnects(), vec!["logon timeout".to_string()]);
    assert_eq!(p.acc_io.disconnects(), vec!["logon timeout".to_string()]);
    assert_eq!(p.ini.next_deadline(), None);
}

#[test]
fn acceptor_disconnects_when_first_message_is_not_logon() {
    let mut s = Session::new(base_cfg(Role::Acceptor), fresh());
    let mut io = Io::default();
    s.on_connected(T0, &mut io);
    s.on_bytes(T0, &Craft::to_acc("0", 1, T0).build(), &mut io);
    assert_eq!(s.state(), State::Disconnected);
    assert_eq!(
        io.disconnects(),
        vec!["first message not a Logon".to_string()]
    );
    assert_eq!(s.seqs(), fresh());
}

#[test]
fn initiator_sees_logon_refused() {
    let mut s = Session::new(base_cfg(Role::Initiator), fresh());
    let mut io = Io::default();
    s.on_connected(T0, &mut io);
    s.on_bytes(
        T0,
        &Craft::to_ini("5", 1, T0).f(58, "bad password").build(),
        &mut io,
    );
    assert_eq!(s.state(), State::Disconnected);
    assert_eq!(
        io.disconnects(),
        vec!["logon refused: bad password".to_string()]
    );
}

#[test]
fn acceptor_logon_without_heartbtint_is_refused() {
    let mut s = Session::new(base_cfg(Role::Acceptor), fresh());
    let mut io = Io::default();
    s.on_connected(T0, &mut io);
    s.on_bytes(T0, &Craft::to_acc("A", 1, T0).f(98, "0").build(), &mut io);
    assert_eq!(s.state(), State::Disconnected);
    // Nothing is answered to a Logon that is not accepted (QuickFIX closes too).
    assert!(io.sent.is_empty());
    assert_eq!(
        io.disconnects(),
        vec!["Logon refused: HeartBtInt(108) missing".to_string()]
    );
}

#[test]
fn logon_seq_too_high_completes_then_requests_resend() {
    let mut s = Session::new(base_cfg(Role::Acceptor), seqs(1, 5));
    let mut io = Io::default();
    s.on_connected(T0, &mut io);
    s.on_bytes(
        T0,
        &Craft::to_acc("A", 8, T0).f(98, "0").f(108, "30").build(),
        &mut io,
    );
    assert_eq!(s.state(), State::Active);
    assert_eq!(mt(&io.sent[0]), "A");
    assert_eq!(mt(&io.sent[1]), "2");
    assert_eq!(get(&io.sent[1], 7).as_deref(), Some("5"));
    assert_eq!(get(&io.sent[1], 16).as_deref(), Some("0"));
    assert!(io.has(&SessionEvent::ResendRequested { from: 5, to: 0 }));
    assert_eq!(s.seqs(), seqs(3, 5));
    // The peer gap-fills 5..=8 (its logon included): next expected is 9.
    let gf = Craft::to_acc("4", 5, T0)
        .dup(Some(T0))
        .f(123, "Y")
        .f(36, "9")
        .build();
    s.on_bytes(T0, &gf, &mut io);
    assert_eq!(s.seqs(), seqs(3, 9));
    assert!(!s.resend_pending());
    assert_eq!(s.queued(), 0);
    // Resent app messages up to 8 followed by live 9 would also have worked; now live.
    s.on_bytes(T0, &Craft::to_acc("D", 9, T0).f(11, "x").build(), &mut io);
    assert_eq!(io.apps.len(), 1);
    assert_eq!(s.seqs(), seqs(3, 10));
}

#[test]
fn logon_seq_too_low_logs_out() {
    let mut s = Session::new(base_cfg(Role::Acceptor), seqs(1, 5));
    let mut io = Io::default();
    s.on_connected(T0, &mut io);
    s.on_bytes(
        T0,
        &Craft::to_acc("A", 3, T0).f(98, "0").f(108, "30").build(),
        &mut io,
    );
    assert_eq!(s.state(), State::Disconnected);
    let lo = &io.sent[0];
    assert_eq!(mt(lo), "5");
    assert_eq!(
        get(lo, 58).as_deref(),
        Some("MsgSeqNum too low, expecting 5 but received 3")
    );
    assert_eq!(
        io.disconnects(),
        vec!["MsgSeqNum too low, expecting 5 but received 3".to_string()]
    );
}

// ---------------------------------------------------------------- heartbeats

#[test]
fn heartbeats_when_idle_and_not_when_busy() {
    let mut p = Pair::logged_on();
    assert_eq!(p.ini.next_deadline(), Some(T0 + 30 * SEC));
    p.advance(20);
    p.ini_sends("a");
    p.pump();
    let n = p.ini_io.sent.len();
    p.advance(10); // 30 s after logon: the acceptor is idle, the initiator sent at 20 s
    assert_eq!(
        p.ini_io.sent.len(),
        n,
        "the initiator sent 10 s ago: no heartbeat"
    );
    let hb = p.acc_io.sent.last().unwrap();
    assert_eq!(mt(hb), "0");
    assert_eq!(get(hb, 112), None);
    assert_eq!(p.ini.next_deadline(), Some(T0 + 50 * SEC));
    p.advance(20);
    assert_eq!(mt(p.ini_io.sent.last().unwrap()), "0");
    assert_eq!(p.ini.seqs(), seqs(4, 3));
    assert_eq!(p.acc.seqs(), seqs(3, 4));
    // Nobody sent a TestRequest: traffic kept both sides alive.
    assert!(p
        .ini_io
        .sent
        .iter()
        .chain(&p.acc_io.sent)
        .all(|f| mt(f) != "1"));
}

#[test]
fn test_request_answered_keeps_session() {
    let mut p = Pair::logged_on();
    // The acceptor goes silent (its frames are lost) for a while.
    p.now += 30 * SEC;
    p.acc.on_timer(p.now, &mut p.acc_io);
    p.drop_from_acc();
    p.ini.on_timer(p.now, &mut p.ini_io);
    p.pump();
    // 36 s (HeartBtInt + 20%) after the last message received: TestRequest.
    p.now = T0 + 36 * SEC;
    p.ini.on_timer(p.now, &mut p.ini_io);
    let tr = p.ini_io.sent.last().unwrap().clone();
    assert_eq!(mt(&tr), "1");
    let id = get(&tr, 112).unwrap();
    assert!(!id.is_empty());
    let acc_before = p.acc_io.sent.len();
    p.pump();
    // The answer: a Heartbeat carrying the TestReqID. (The lost heartbeat also shows
    // as a gap, recovered by a ResendRequest and a GapFill.)
    let answers = p.acc_new_frames(acc_before);
    assert_eq!(mt(&answers[0]), "0");
    assert_eq!(get(&answers[0], 112), Some(id));
    assert!(answers.iter().any(|f| mt(f) == "4"));
    assert_eq!(p.ini.seqs().next_in, p.acc.seqs().next_out);
    assert!(!p.ini.resend_pending());
    p.advance(40);
    assert!(p.ini.is_logged_on());
    assert!(p.ini_io.disconnects().is_empty());
}

#[test]
fn heartbeat_timeout_disconnects() {
    let mut p = Pair::logged_on();
    let before = p.ini_io.sent.len();
    // Nothing ever arrives from the acceptor again.
    for _ in 0..80 {
        p.now += SEC;
        p.ini.on_timer(p.now, &mut p.ini_io);
    }
    let sent: Vec<String> = p.ini_io.sent[before..].iter().map(|f| mt(f)).collect();
    assert_eq!(
        sent,
        vec!["0", "1"],
        "a heartbeat at 30 s, the TestRequest at 36 s, then nothing until the answer"
    );
    assert_eq!(p.ini.state(), State::Disconnected);
    assert_eq!(
        p.ini_io.disconnects(),
        vec!["heartbeat timeout".to_string()]
    );
    // Disconnected exactly one grace period (36 s) after the TestRequest.
    let mut q = Pair::logged_on();
    q.now = T0 + 36 * SEC;
    q.ini.on_timer(q.now, &mut q.ini_io);
    assert_eq!(q.ini.next_deadline(), Some(T0 + 72 * SEC));
    q.now = T0 + 71 * SEC;
    q.ini.on_timer(q.now, &mut q.ini_io);
    assert_eq!(q.ini.state(), State::Active);
    q.now = T0 + 72 * SEC;
    q.ini.on_timer(q.now, &mut q.ini_io);
    assert_eq!(q.ini.state(), State::Disconnected);
}

// ---------------------------------------------------------------- application

#[test]
fn app_messages_both_ways() {
    let mut p = Pair::logged_on();
    assert_eq!(p.ini_sends("o1"), 2);
    assert_eq!(p.ini_sends("o2"), 3);
    p.pump();
    assert_eq!(p.acc_io.app_tags(11), vec!["o1", "o2"]);
    assert!(p.acc_io.apps.iter().all(|(_, v)| v.is_ok()));
    assert_eq!(p.acc_sends("e1"), 2);
    p.pump();
    assert_eq!(p.ini_io.app_tags(17), vec!["e1"]);
    assert_eq!(p.ini.seqs(), seqs(4, 3));
    assert_eq!(p.acc.seqs(), seqs(3, 4));
    // Stored before sent.
    let i = p
        .ini_io
        .log
        .iter()
        .position(|e| *e == ("store", 3))
        .unwrap();
    assert_eq!(p.ini_io.log[i + 1].0, "send");
    assert_eq!(seq_of(&p.ini_io.store[&3]), 3);
}

#[test]
fn send_app_refused_when_not_logged_on() {
    let mut s = Session::new(base_cfg(Role::Initiator), fresh());
    let mut io = Io::default();
    assert_eq!(
        s.send_app(T0, b"D", |_| {}, &mut io),
        Err(SendError::NotLoggedOn)
    );
    s.on_connected(T0, &mut io);
    assert_eq!(
        s.send_app(T0, b"D", |_| {}, &mut io),
        Err(SendError::NotLoggedOn)
    );
    assert_eq!(s.seqs(), seqs(2, 1), "only the Logon was numbered");
}

#[test]
fn business_reject_and_peer_rejects() {
    let mut p = Pair::logged_on();
    let s = p.ini_sends("o1");
    p.pump();
    p.acc
        .send_business_reject(p.now, s, b"D", 5, "unknown symbol", &mut p.acc_io)
        .unwrap();
    p.pump();
    let j = p.acc_io.sent.last().unwrap();
    assert_eq!(mt(j), "j");
    assert_eq!(get(j, 45).as_deref(), Some("2"));
    assert_eq!(get(j, 372).as_deref(), Some("D"));
    assert_eq!(get(j, 380).as_deref(), Some("5"));
    assert!(p.ini_io.has(&SessionEvent::PeerRejected {
        ref_seq: 2,
        msg_type: "j".into(),
        text: "unknown symbol".into()
    }));
    assert_eq!(p.ini_io.apps.len(), 1, "35=j is also delivered");
    // A session reject from the peer.
    let n = p.ini.seqs().next_in;
    let r = Craft::to_ini("3", n, p.now)
        .f(45, "2")
        .f(373, "5")
        .f(58, "bad")
        .build();
    p.ini.on_bytes(p.now, &r, &mut p.ini_io);
    assert!(p.ini_io.has(&SessionEvent::PeerRejected {
        ref_seq: 2,
        msg_type: "3".into(),
        text: "bad".into()
    }));
    assert_eq!(p.ini_io.apps.len(), 1, "35=3 is not delivered");
    assert_eq!(p.ini.seqs().next_in, n + 1);
}

// ---------------------------------------------------------------- gaps and resends

#[test]
fn gap_resend_with_possdup_and_gapfill_delivers_in_order_once() {
    let mut p = Pair::logged_on();
    p.ini_sends("o1"); // 2
    p.pump();
    // Lost on the way: app 3, a heartbeat (4), app 5.
    p.ini_sends("o2");
    p.now += 30 * SEC;
    p.ini.on_timer(p.now, &mut p.ini_io); // heartbeat 4
    assert_eq!(mt(p.ini_io.sent.last().unwrap()), "0");
    p.acc.on_timer(p.now, &mut p.acc_io);
    p.ini_sends("o3");
    p.drop_from_ini();
    p.pump();
    let sent_before = p.ini_io.sent.len();
    let acc_before = p.acc_io.sent.len();
    p.now += SEC;
    p.ini_sends("o4"); // 6: the acceptor sees the gap 3..=5
    p.ini_sends("o5"); // 7: queued too
    p.pump();
    let rr: Vec<_> = p
        .acc_new_frames(acc_before)
        .into_iter()
        .filter(|f| mt(f) == "2")
        .collect();
    assert_eq!(rr.len(), 1, "one ResendRequest for the gap");
    assert_eq!(get(&rr[0], 7).as_deref(), Some("3"));
    assert_eq!(get(&rr[0], 16).as_deref(), Some("0"));
    assert!(p
        .acc_io
        .has(&SessionEvent::ResendRequested { from: 3, to: 0 }));
    // What the initiator sent in answer: 3 resent, GapFill 4→5, 5 resent, 6, 7 resent.
    let resent = p.ini_new_frames(sent_before + 2);
    let kinds: Vec<(String, u64, Option<String>)> = resent
        .iter()
        .map(|f| (mt(f), seq_of(f), get(f, 43)))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("D".into(), 3, Some("Y".into())),
            ("4".into(), 4, Some("Y".into())),
            ("D".into(), 5, Some("Y".into())),
            ("D".into(), 6, Some("Y".into())),
            ("D".into(), 7, Some("Y".into())),
        ]
    );
    assert_eq!(get(&resent[1], 123).as_deref(), Some("Y"));
    assert_eq!(get(&resent[1], 36).as_deref(), Some("5"));
    // OrigSendingTime is the original SendingTime; SendingTime is new.
    let orig3 = &p.ini_io.store[&3];
    assert_eq!(get(&resent[0], 122), get(orig3, 52));
    assert_ne!(get(&resent[0], 52), get(orig3, 52));
    assert_eq!(get(&resent[0], 11).as_deref(), Some("o2"));
    assert!(p.ini_io.has(&SessionEvent::Resent { from: 3, to: 7 }));
    // In order, exactly once.
    assert_eq!(p.acc_io.app_tags(11), vec!["o1", "o2", "o3", "o4", "o5"]);
    assert_eq!(p.ini.seqs(), seqs(8, p.acc.seqs().next_out));
    assert_eq!(p.acc.seqs().next_in, 8);
    assert!(!p.acc.resend_pending());
    assert_eq!(p.acc.queued(), 0);
    // And the session carries on.
    p.ini_sends("o6");
    p.pump();
    assert_eq!(p.acc_io.app_tags(11).last().map(String::as_str), Some("o6"));
    assert!(p.acc_io.disconnects().is_empty() && p.ini_io.disconnects().is_empty());
}

#[test]
fn one_resend_request_per_gap_and_another_for_a_new_gap() {
    let (mut s, mut io, now) = acceptor_logged_on();
    let d = |seq: u64| {
        Craft::to_acc("D", seq, now)
            .f(11, &format!("o{seq}"))
            .build()
    };
    s.on_bytes(now, &d(4), &mut io); // gap 2..=3
    s.on_bytes(now, &d(5), &mut io);
    s.on_bytes(now, &d(7), &mut io); // still waiting: no new request
    let rrs = |io: &Io| io.sent.iter().filter(|f| mt(f) == "2").count();
    assert_eq!(rrs(&io), 1);
    assert_eq!(s.queued(), 3);
    // The peer answers with 2 and 3 only.
    let pd = |seq: u64| {
        Craft::to_acc("D", seq, now)
            .dup(Some(now))
            .f(11, &format!("o{seq}"))
            .build()
    };
    s.on_bytes(now, &pd(2), &mut io);
    s.on_bytes(now, &pd(3), &mut io);
    // 4, 5 were queued and now delivered; 6 was lost and the peer's answer missed it.
    assert_eq!(io.app_tags(11), vec!["o2", "o3", "o4", "o5"]);
    assert_eq!(s.seqs().next_in, 6);
    assert!(s.resend_pending(), "7 is queued beyond the hole at 6");
    // A live message after the peer answered, still beyond the hole: ask again.
    s.on_bytes(now, &d(8), &mut io);
    assert_eq!(rrs(&io), 2);
    let last_rr = io.sent.iter().rev().find(|f| mt(f) == "2").unwrap();
    assert_eq!(get(last_rr, 7).as_deref(), Some("6"));
    s.on_bytes(now, &pd(6), &mut io);
    assert_eq!(
        io.app_tags(11),
        vec!["o2", "o3", "o4", "o5", "o6", "o7", "o8"]
    );
    assert_eq!(s.seqs().next_in, 9);
    assert!(!s.resend_pending());
}

#[test]
fn too_low_without_possdup_logs_out() {
    let (mut s, mut io, now) = acceptor_logged_on();
    s.on_bytes(now, &Craft::to_acc("D", 2, now).build(), &mut io);
    s.on_bytes(now, &Craft::to_acc("D", 2, now).build(), &mut io);
    let lo = io.sent.last().unwrap();
    assert_eq!(mt(lo), "5");
    let text = "MsgSeqNum too low, expecting 3 but received 2";
    assert_eq!(get(lo, 58).as_deref(), Some(text));
    assert_eq!(io.disconnects(), vec![text.to_string()]);
    assert_eq!(s.state(), State::Disconnected);
    assert_eq!(io.apps.len(), 1);
}

#[test]
fn duplicate_with_possdup_is_ignored() {
    let (mut s, mut io, now) = acceptor_logged_on();
    s.on_bytes(now, &Craft::to_acc("D", 2, now).f(11, "a").build(), &mut io);
    let dup = Craft::to_acc("D", 2, now).dup(Some(now)).f(11, "a").build();
    let n = io.sent.len();
    s.on_bytes(now + SEC, &dup, &mut io);
    assert_eq!(io.apps.len(), 1, "never delivered twice");
    assert_eq!(io.sent.len(), n, "no answer");
    assert_eq!(s.seqs(), seqs(2, 3));
    assert_eq!(s.state(), State::Active);
}

#[test]
fn sequence_reset_reset_mode_ignores_own_seq_and_refuses_to_lower() {
    let (mut s, mut io, now) = acceptor_logged_on();
    // Reset mode with an arbitrary MsgSeqNum (even a low one) moves next_in up.
    let r = Craft::to_acc("4", 1, now).f(36, "20").build();
    s.on_bytes(now, &r, &mut io);
    assert_eq!(s.seqs(), seqs(2, 20));
    assert!(io.has(&SessionEvent::SeqReset(seqs(2, 20))));
    assert!(io.sent.iter().all(|f| mt(f) != "2" && mt(f) != "5"));
    // Lowering: reject 373=5, the standard text and no RefTagID (as QuickFIX's
    // acceptance tests expect); next_in unchanged.
    let r = Craft::to_acc("4", 20, now).f(36, "10").f(123, "N").build();
    s.on_bytes(now, &r, &mut io);
    let rej = io.sent.last().unwrap();
    assert_eq!(mt(rej), "3");
    assert_eq!(get(rej, 373).as_deref(), Some("5"));
    assert_eq!(get(rej, 371), None);
    assert_eq!(
        get(rej, 58).as_deref(),
        Some("Value is incorrect (out of range) for this tag")
    );
    assert_eq!(get(rej, 45).as_deref(), Some("20"));
    assert_eq!(s.seqs().next_in, 20);
    assert_eq!(s.state(), State::Active);
}

#[test]
fn gap_fill_is_never_treated_as_reset() {
    let (mut s, mut io, now) = acceptor_logged_on();
    // A GapFill ahead of a gap is queued like any message, not applied.
    let gf = Craft::to_acc("4", 5, now)
        .dup(Some(now))
        .f(123, "Y")
        .f(36, "50")
        .build();
    s.on_bytes(now, &gf, &mut io);
    assert_eq!(s.seqs().next_in, 2);
    assert_eq!(mt(io.sent.last().unwrap()), "2");
    assert_eq!(s.queued(), 1);
    // A GapFill below expected with PossDup: ignored.
    let low = Craft::to_acc("4", 1, now)
        .dup(Some(now))
        .f(123, "Y")
        .f(36, "40")
        .build();
    s.on_bytes(now, &low, &mut io);
    assert_eq!(s.seqs().next_in, 2);
    // The gap fills (2..=4 resent), then the queued GapFill applies in its turn.
    for seq in 2..5 {
        let m = Craft::to_acc("D", seq, now)
            .dup(Some(now))
            .f(11, &seq.to_string())
            .build();
        s.on_bytes(now, &m, &mut io);
    }
    assert_eq!(s.seqs().next_in, 50);
    assert_eq!(io.app_tags(11), vec!["2", "3", "4"]);
    assert!(!s.resend_pending());
    // A GapFill below expected without PossDup: too low, logout.
    let low = Craft::to_acc("4", 3, now).f(123, "Y").f(36, "60").build();
    s.on_bytes(now, &low, &mut io);
    assert_eq!(s.state(), State::Disconnected);
}

#[test]
fn sequence_reset_past_a_gap_ends_the_pending_resend() {
    let (mut s, mut io, now) = acceptor_logged_on();
    s.on_bytes(
        now,
        &Craft::to_acc("D", 5, now).f(11, "five").build(),
        &mut io,
    );
    assert!(s.resend_pending());
    assert_eq!(s.queued(), 1);
    // The peer cannot resend and resets past everything it sent.
    s.on_bytes(now, &Craft::to_acc("4", 6, now).f(36, "7").build(), &mut io);
    assert_eq!(s.seqs().next_in, 7);
    assert!(!s.resend_pending());
    assert_eq!(s.queued(), 0);
    assert!(
        io.apps.is_empty(),
        "5 was skipped by the reset, never delivered"
    );
    s.on_bytes(
        now,
        &Craft::to_acc("D", 7, now).f(11, "seven").build(),
        &mut io,
    );
    assert_eq!(io.app_tags(11), vec!["seven"]);
}

#[test]
fn gap_fill_that_does_not_advance_is_rejected() {
    let (mut s, mut io, now) = acceptor_logged_on();
    let gf = Craft::to_acc("4", 2, now)
        .dup(Some(now))
        .f(123, "Y")
        .f(36, "2")
        .build();
    s.on_bytes(now, &gf, &mut io);
    let rej = io.sent.last().unwrap();
    assert_eq!(mt(rej), "3");
    assert_eq!(get(rej, 373).as_deref(), Some("5"));
    assert_eq!(s.seqs().next_in, 3, "the GapFill itself was consumed");
}

#[test]
fn reset_logon_and_resend_request_in_one_read_never_resend_the_old_sequence() {
    // A session that has traded: frames 1..=4 stored (Logon, then reports), numbers at 5.
    let (mut s, mut io, now) = acceptor_logged_on();
    for i in 0..3 {
        s.send_app(
            now,
            b"8",
            |e| {
                e.bytes(17, format!("old-{i}").as_bytes());
            },
            &mut io,
        )
        .unwrap();
    }
    assert_eq!(s.seqs(), seqs(5, 2));
    assert_eq!(io.store.len(), 4);
    // The peer starts again, and in the same read asks for a heartbeat and then for
    // everything from 1: Logon 141=Y (1), TestRequest (2), ResendRequest (3).
    let mut bytes = Craft::to_acc("A", 1, now)
        .f(98, "0")
        .f(108, "30")
        .f(141, "Y")
        .build();
    bytes.extend(Craft::to_acc("1", 2, now).f(112, "T").build());
    bytes.extend(Craft::to_acc("2", 3, now).f(7, "1").f(16, "0").build());
    let before = io.sent.len();
    s.on_bytes(now, &bytes, &mut io);
    // The store was emptied at the reset, before anything after the Logon was read.
    assert_eq!(io.resets, vec![(seqs(1, 1), 4)]);
    let answer = &io.sent[before..];
    let kinds: Vec<(String, u64)> = answer.iter().map(|f| (mt(f), seq_of(f))).collect();
    assert_eq!(
        kinds,
        vec![
            ("A".into(), 1),
            ("0".into(), 2),
            ("4".into(), 1), // Logon and Heartbeat gap-filled: no old report
        ]
    );
    assert_eq!(get(&answer[0], 141).as_deref(), Some("Y"));
    assert_eq!(get(&answer[2], 36).as_deref(), Some("3"));
    assert!(answer.iter().all(|f| get(f, 17).is_none()));
    assert_eq!(s.seqs(), seqs(3, 4));
    assert!(s.is_logged_on());
}

#[test]
fn the_owner_decides_which_application_messages_are_resent() {
    struct Refusing(Io);
    impl SessionIo for Refusing {
        fn send(&mut self, f: &[u8]) {
            self.0.send(f)
        }
        fn store(&mut self, seq: u64, f: &[u8]) {
            self.0.store(seq, f)
        }
        fn stored(&self, seq: u64) -> Option<&[u8]> {
            self.0.stored(seq)
        }
        fn reset(&mut self, seqs: SeqNums) {
            self.0.reset(seqs)
        }
        // Orders are not sent twice; reports are.
        fn may_resend(&mut self, _seq: u64, msg: &Msg<'_>) -> bool {
            msg.msg_type() != b"D"
        }
        fn app(&mut self, m: &Msg<'_>, v: Result<(), SessionRejectReason>) {
            self.0.app(m, v)
        }
        fn event(&mut self, ev: SessionEvent) {
            self.0.event(ev)
        }
    }
    let mut s = Session::new(base_cfg(Role::Acceptor), fresh());
    let mut io = Refusing(Io::default());
    s.on_connected(T0, &mut io);
    let logon = Craft::to_acc("A", 1, T0).f(98, "0").f(108, "30").build();
    s.on_bytes(T0, &logon, &mut io);
    for t in [b"D", b"8", b"D", b"D", b"8"] {
        s.send_app(
            T0,
            t,
            |e| {
                e.bytes(11, b"x");
            },
            &mut io,
        )
        .unwrap();
    }
    let before = io.0.sent.len();
    s.on_bytes(
        T0,
        &Craft::to_acc("2", 2, T0).f(7, "1").f(16, "0").build(),
        &mut io,
    );
    let got: Vec<(String, u64, Option<String>)> = io.0.sent[before..]
        .iter()
        .map(|f| (mt(f), seq_of(f), get(f, 36)))
        .collect();
    assert_eq!(
        got,
        vec![
            ("4".into(), 1, Some("3".into())),
            ("8".into(), 3, None),
            ("4".into(), 4, Some("6".into())),
            ("8".into(), 6, None),
        ]
    );
}

#[test]
fn resend_request_right_after_reset_logon_does_not_stick() {
    let mut ic = base_cfg(Role::Initiator);
    ic.reset_on_logon = true;
    let mut p = Pair::with(ic, seqs(100, 90), base_cfg(Role::Acceptor), seqs(90, 100));
    // The acceptor holds stale messages from before the reset.
    p.acc_io.store.insert(
        1,
        Craft::to_ini("8", 1, T0 - 3600 * SEC)
            .f(17, "stale")
            .build(),
    );
    p.acc_io.store.insert(
        3,
        Craft::to_ini("8", 3, T0 - 3600 * SEC)
            .f(17, "stale3")
            .build(),
    );
    p.connect();
    assert_eq!(p.ini.seqs(), seqs(2, 2));
    // The initiator asks for everything from 1 straight after the reset logon.
    let rr = Craft::to_acc("2", 2, p.now).f(7, "1").f(16, "0").build();
    p.ini.set_seqs(seqs(3, 2)); // it "sent" that frame
    let before = p.acc_io.sent.len();
    p.acc.on_bytes(p.now, &rr, &mut p.acc_io);
    let answer = p.acc_new_frames(before);
    assert_eq!(
        answer.len(),
        1,
        "only a GapFill for the Logon, nothing stale"
    );
    assert_eq!(mt(&answer[0]), "4");
    assert_eq!(seq_of(&answer[0]), 1);
    assert_eq!(get(&answer[0], 36).as_deref(), Some("2"));
    p.pump(); // the initiator ignores the PossDup GapFill below its expectation
    assert_eq!(p.acc.seqs(), seqs(2, 3));
    assert_eq!(p.ini.seqs(), seqs(3, 2));
    p.ini_sends("o1");
    p.acc_sends("e1");
    p.pump();
    assert_eq!(p.acc_io.app_tags(11), vec!["o1"]);
    assert_eq!(p.ini_io.app_tags(17), vec!["e1"]);
    assert!(!p.ini.resend_pending() && !p.acc.resend_pending());
    assert!(p.ini.is_logged_on() && p.acc.is_logged_on());
}

#[test]
fn resend_request_ahead_of_a_gap_is_served_at_once() {
    // Both sides lost messages: each must serve the other's request even though the
    // request itself arrives beyond a gap, or they wait for each other forever.
    let mut p = Pair::logged_on();
    p.ini_sends("o1");
    p.acc_sends("e1");
    p.drop_from_ini();
    p.drop_from_acc();
    p.ini_sends("o2");
    p.acc_sends("e2");
    p.pump();
    assert_eq!(p.acc_io.app_tags(11), vec!["o1", "o2"]);
    assert_eq!(p.ini_io.app_tags(17), vec!["e1", "e2"]);
    assert_eq!(p.ini.seqs().next_in, p.acc.seqs().next_out);
    assert_eq!(p.acc.seqs().next_in, p.ini.seqs().next_out);
    assert!(!p.ini.resend_pending() && !p.acc.resend_pending());
    assert_eq!(p.ini.queued() + p.acc.queued(), 0);
}

#[test]
fn resend_of_a_range_with_end_and_missing_store_entries() {
    let mut p = Pair::logged_on();
    for i in 0..5 {
        p.ini_sends(&format!("o{i}")); // 2..=6
    }
    p.pump();
    p.ini_io.store.remove(&4); // lost from the store: gap filled
    let before = p.ini_io.sent.len();
    let n = p.acc.seqs().next_out;
    let rr = Craft::to_ini("2", n, p.now).f(7, "3").f(16, "5").build();
    p.acc.set_seqs(seqs(n + 1, p.acc.seqs().next_in));
    p.ini.on_bytes(p.now, &rr, &mut p.ini_io);
    let out: Vec<(String, u64)> = p
        .ini_new_frames(before)
        .iter()
        .map(|f| (mt(f), seq_of(f)))
        .collect();
    assert_eq!(out, vec![("D".into(), 3), ("4".into(), 4), ("D".into(), 5)]);
    assert_eq!(get(&p.ini_io.sent[before + 1], 36).as_deref(), Some("5"));
    assert!(p.ini_io.has(&SessionEvent::Resent { from: 3, to: 5 }));
    assert_eq!(p.ini.seqs().next_out, 7, "resends do not consume numbers");
}

// ---------------------------------------------------------------- framing

#[test]
fn garbled_frames_are_ignored_without_consuming_seq() {
    let (mut s, mut io, now) = acceptor_logged_on();
    let mut bad = Craft::to_acc("D", 2, now).f(11, "x").build();
    let l = bad.len();
    bad[l - 2] = if bad[l - 2] == b'9' { b'0' } else { b'9' }; // checksum digit
    s.on_bytes(now, &bad, &mut io);
    assert!(io
        .events
        .iter()
        .any(|e| matches!(e, SessionEvent::Garbled(_))));
    assert_eq!(s.seqs().next_in, 2);
    assert!(io.sent.len() == 1, "no reject, no resend request");
    s.on_bytes(now, b"garbage with no begin string", &mut io);
    assert_eq!(s.seqs().next_in, 2);
    s.on_bytes(
        now,
        &Craft::to_acc("D", 2, now).f(11, "ok").build(),
        &mut io,
    );
    assert_eq!(io.app_tags(11), vec!["ok"]);
    assert_eq!(s.seqs().next_in, 3);
    assert_eq!(s.buffered(), 0);
}

#[test]
fn garbage_forever_does_not_grow_memory() {
    let (mut s, mut io, now) = acceptor_logged_on();
    let junk = vec![b'x'; 64 * 1024];
    for _ in 0..64 {
        s.on_bytes(now, &junk, &mut io);
        assert!(s.buffered() < 64 * 1024);
    }
    assert_eq!(s.state(), State::Active);
    // A frame that claims a huge body and never ends: capped, then disconnected.
    s.on_bytes(now, b"8=FIX.4.4\x019=1000000\x0135=D\x01", &mut io);
    let mut fed = 0;
    while s.state() == State::Active && fed < 4 * MAX_RX_BYTES {
        s.on_bytes(now, &junk, &mut io);
        fed += junk.len();
        assert!(s.buffered() <= MAX_RX_BYTES + junk.len());
    }
    assert!(s.buffered() <= MAX_RX_BYTES);
}

#[test]
fn partial_frames_at_every_split_point() {
    let now = T0;
    let mut stream = Craft::to_acc("A", 1, now).f(98, "0").f(108, "30").build();
    stream.extend(Craft::to_acc("D", 2, now).f(11, "a").build());
    stream.extend(Craft::to_acc("0", 3, now).build());
    stream.extend(Craft::to_acc("D", 4, now).f(11, "b").build());
    for split in 0..=stream.len() {
        for split2 in [split, (split + 7).min(stream.len())] {
            let mut s = Session::new(base_cfg(Role::Acceptor), fresh());
            let mut io = Io::default();
            s.on_connected(now, &mut io);
            s.on_bytes(now, &stream[..split], &mut io);
            s.on_bytes(now, &stream[split..split2], &mut io);
            s.on_bytes(now, &stream[split2..], &mut io);
            assert_eq!(io.app_tags(11), vec!["a", "b"], "split at {split}/{split2}");
            assert_eq!(s.seqs(), seqs(2, 5));
            assert_eq!(s.buffered(), 0);
            assert!(!io
                .events
                .iter()
                .any(|e| matches!(e, SessionEvent::Garbled(_))));
        }
    }
}

#[test]
fn byte_at_a_time() {
    let mut p = Pair::new();
    p.acc.on_connected(p.now, &mut p.acc_io);
    p.ini.on_connected(p.now, &mut p.ini_io);
    p.ini_sends_err();
    let logon = p.ini_io.sent[0].clone();
    for b in &logon {
        p.acc
            .on_bytes(p.now, std::slice::from_ref(b), &mut p.acc_io);
    }
    assert!(p.acc.is_logged_on());
}

impl Pair {
    fn ini_sends_err(&mut self) {
        assert!(self
            .ini
            .send_app(self.now, b"D", |_| {}, &mut self.ini_io)
            .is_err());
    }
}

// ---------------------------------------------------------------- rejects

#[test]
fn reject_reasons_carry_ref_tag_and_msg_type() {
    let (mut s, mut io, now) = acceptor_logged_on();
    // Tag without a value: 373=4, 371=tag.
    let mut f = Craft::to_acc("D", 2, now).f(11, "X").build();
    // Re-frame by hand: empty 11.
    f = reframe(&f, b"11=X\x01", b"11=\x01");
    s.on_bytes(now, &f, &mut io);
    let rej = io.sent.last().unwrap();
    assert_eq!(mt(rej), "3");
    assert_eq!(get(rej, 45).as_deref(), Some("2"));
    assert_eq!(get(rej, 371).as_deref(), Some("11"));
    assert_eq!(get(rej, 372).as_deref(), Some("D"));
    assert_eq!(get(rej, 373).as_deref(), Some("4"));
    assert!(get(rej, 58).is_some());
    assert_eq!(
        s.seqs().next_in,
        3,
        "a rejected message consumes its number"
    );
    assert!(io.has(&SessionEvent::RejectSent {
        ref_seq: 2,
        reason: SessionRejectReason::TagSpecifiedWithoutValue,
        text: "Tag specified without a value".into()
    }));
    // Invalid tag number: 373=0.
    let f = reframe(
        &Craft::to_acc("D", 3, now).f(11, "X").build(),
        b"11=X",
        b"1a=X",
    );
    s.on_bytes(now, &f, &mut io);
    assert_eq!(get(io.sent.last().unwrap(), 373).as_deref(), Some("0"));
    assert_eq!(s.seqs().next_in, 4);
    // 8, 9, 35 out of order: not a valid frame, ignored (QuickFIX drops it; the
    // acceptance tests send the message again), no number consumed.
    let f = reframe(
        &Craft::to_acc("D", 4, now).build(),
        b"35=D\x0149=CLIENT",
        b"49=CLIENT\x0135=D",
    );
    let n = io.sent.len();
    s.on_bytes(now, &f, &mut io);
    assert_eq!(io.sent.len(), n, "no answer");
    assert_eq!(s.seqs().next_in, 4);
    s.on_bytes(now, &Craft::to_acc("D", 4, now).f(11, "Y").build(), &mut io);
    assert_eq!(s.seqs().next_in, 5);
    // TestRequest without TestReqID: 373=1, 371=112.
    s.on_bytes(now, &Craft::to_acc("1", 5, now).build(), &mut io);
    let rej = io.sent.last().unwrap();
    assert_eq!(get(rej, 373).as_deref(), Some("1"));
    assert_eq!(get(rej, 371).as_deref(), Some("112"));
    assert_eq!(get(rej, 372).as_deref(), Some("1"));
    // App message without SendingTime: rejected 373=1/52, still delivered, flagged.
    let mut c = Craft::to_acc("8", 6, now).f(17, "fill-1");
    c.sending_time = None;
    s.on_bytes(now, &c.build(), &mut io);
    let rej = io.sent.last().unwrap();
    assert_eq!(get(rej, 373).as_deref(), Some("1"));
    assert_eq!(get(rej, 371).as_deref(), Some("52"));
    assert_eq!(
        io.apps.last().unwrap().1,
        Err(SessionRejectReason::RequiredTagMissing)
    );
    assert_eq!(
        get(&io.apps.last().unwrap().0, 17).as_deref(),
        Some("fill-1")
    );
    // PossDup in sequence without OrigSendingTime: accepted (OrigSendingTime is
    // checked on copies of what was already received, as QuickFIX checks it).
    let c = Craft::to_acc("8", 7, now).dup(None).f(17, "fill-2");
    let n = io.sent.len();
    s.on_bytes(now, &c.build(), &mut io);
    assert_eq!(io.sent.len(), n);
    assert_eq!(io.apps.last().unwrap().1, Ok(()));
    assert_eq!(s.seqs().next_in, 8);
    // A copy below the expected number without it: 373=1 naming 122, nothing consumed.
    let c = Craft::to_acc("8", 6, now).dup(None).f(17, "fill-1");
    s.on_bytes(now, &c.build(), &mut io);
    let rej = io.sent.last().unwrap();
    assert_eq!(get(rej, 373).as_deref(), Some("1"));
    assert_eq!(get(rej, 371).as_deref(), Some("122"));
    assert_eq!(s.seqs().next_in, 8);
    assert_eq!(s.state(), State::Active);
}

/// Replaces `from` by `to` in a frame and fixes BodyLength and CheckSum.
fn reframe(frame: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let i = frame.windows(from.len()).position(|w| w == from).unwrap();
    let mut body_and_all = frame[..i].to_vec();
    body_and_all.extend_from_slice(to);
    body_and_all.extend_from_slice(&frame[i + from.len()..]);
    // Strip 8=, 9= and 10=, rebuild.
    let s = body_and_all;
    let first = s.iter().position(|&b| b == SOH).unwrap() + 1;
    let second = first + s[first..].iter().position(|&b| b == SOH).unwrap() + 1;
    let ck = s.len() - 7;
    let body = &s[second..ck];
    let mut out = s[..first].to_vec();
    out.extend_from_slice(format!("9={}\x01", body.len()).as_bytes());
    out.extend_from_slice(body);
    let sum = out.iter().fold(0u32, |a, &b| a + b as u32) % 256;
    out.extend_from_slice(format!("10={sum:03}\x01").as_bytes());
    out
}

#[test]
fn comp_id_mismatch_rejects_and_logs_out() {
    let (mut s, mut io, now) = acceptor_logged_on();
    let mut c = Craft::to_acc("D", 2, now);
    c.sender = "EVE";
    s.on_bytes(now, &c.build(), &mut io);
    let n = io.sent.len();
    assert_eq!(mt(&io.sent[n - 2]), "3");
    assert_eq!(get(&io.sent[n - 2], 373).as_deref(), Some("9"));
    assert_eq!(get(&io.sent[n - 2], 371), None);
    assert_eq!(get(&io.sent[n - 2], 58).as_deref(), Some("CompID problem"));
    assert_eq!(mt(&io.sent[n - 1]), "5");
    assert_eq!(get(&io.sent[n - 1], 58), None, "the reject said why");
    // The Logout handshake runs: the peer's answer ends it.
    assert_eq!(s.state(), State::LogoutPending);
    assert!(io.apps.is_empty(), "not ours: not delivered");
    assert_eq!(s.seqs().next_in, 3);
    s.on_bytes(now, &Craft::to_acc("5", 3, now).build(), &mut io);
    assert_eq!(s.state(), State::Disconnected);
    // TargetCompID wrong: the same.
    let (mut s, mut io, now) = acceptor_logged_on();
    let mut c = Craft::to_acc("D", 2, now);
    c.target = "OTHER";
    s.on_bytes(now, &c.build(), &mut io);
    assert_eq!(get(&io.sent[io.sent.len() - 2], 373).as_deref(), Some("9"));
    // Missing altogether: a required tag missing, no logout.
    let (mut s, mut io, now) = acceptor_logged_on();
    let f = reframe(&Craft::to_acc("0", 2, now).build(), b"56=BROKER\x01", b"");
    s.on_bytes(now, &f, &mut io);
    let rej = io.sent.last().unwrap();
    assert_eq!(get(rej, 373).as_deref(), Some("1"));
    assert_eq!(get(rej, 371).as_deref(), Some("56"));
    assert_eq!(s.state(), State::Active);
    assert_eq!(s.seqs().next_in, 3);
}

#[test]
fn begin_string_mismatch_logs_out() {
    let (mut s, mut io, now) = acceptor_logged_on();
    let mut c = Craft::to_acc("D", 2, now);
    c.begin = "FIX.4.2";
    s.on_bytes(now, &c.build(), &mut io);
    let lo = io.sent.last().unwrap();
    assert_eq!(mt(lo), "5");
    assert_eq!(get(lo, 58).as_deref(), Some("Incorrect BeginString"));
    assert_eq!(s.state(), State::LogoutPending);
    assert_eq!(s.seqs().next_in, 3, "consumed, as QuickFIX does");
    assert!(io.apps.is_empty());
    // Unanswered, the logout times out.
    s.on_timer(now + 5 * SEC, &mut io);
    assert_eq!(s.state(), State::Disconnected);
}

#[test]
fn sending_time_accuracy() {
    let (mut s, mut io, now) = acceptor_logged_on();
    // 119 s off: fine.
    s.on_bytes(
        now + 119 * SEC,
        &Craft::to_acc("0", 2, now).build(),
        &mut io,
    );
    assert_eq!(s.state(), State::Active);
    // 121 s off: reject 373=10 and logout, awaiting the answer.
    s.on_bytes(
        now + 121 * SEC,
        &Craft::to_acc("8", 3, now).f(17, "late").build(),
        &mut io,
    );
    let n = io.sent.len();
    assert_eq!(mt(&io.sent[n - 2]), "3");
    assert_eq!(get(&io.sent[n - 2], 373).as_deref(), Some("10"));
    assert_eq!(get(&io.sent[n - 2], 371), None);
    assert_eq!(mt(&io.sent[n - 1]), "5");
    assert_eq!(s.state(), State::LogoutPending);
    assert_eq!(
        io.apps.last().unwrap().1,
        Err(SessionRejectReason::SendingTimeAccuracyProblem),
        "the fill is still delivered"
    );
    assert_eq!(s.seqs().next_in, 4);
    // A PossDup copy of something received, with OrigSendingTime later than its
    // SendingTime: 373=10 and logout.
    let (mut s, mut io, now) = acceptor_logged_on();
    s.on_bytes(now, &Craft::to_acc("8", 2, now).build(), &mut io);
    let c = Craft::to_acc("8", 2, now).dup(Some(now + SEC));
    s.on_bytes(now, &c.build(), &mut io);
    let n = io.sent.len();
    assert_eq!(get(&io.sent[n - 2], 373).as_deref(), Some("10"));
    assert_eq!(get(&io.sent[n - 2], 45).as_deref(), Some("2"));
    assert_eq!(s.state(), State::LogoutPending);
    // The check can be turned off.
    let (mut s, mut io, now) = acceptor_logged_on();
    s.set_max_latency_secs(0);
    s.on_bytes(
        now + 3600 * SEC,
        &Craft::to_acc("0", 2, now).build(),
        &mut io,
    );
    assert_eq!(s.state(), State::Active);
}

// ---------------------------------------------------------------- logout

#[test]
fn logout_initiated_by_initiator() {
    let mut p = Pair::logged_on();
    p.ini.logout(p.now, "done for today", &mut p.ini_io);
    assert_eq!(p.ini.state(), State::LogoutPending);
    assert_eq!(
        get(p.ini_io.sent.last().unwrap(), 58).as_deref(),
        Some("done for today")
    );
    assert!(p.ini.send_app(p.now, b"D", |_| {}, &mut p.ini_io).is_err());
    p.pump();
    assert_eq!(mt(p.acc_io.sent.last().unwrap()), "5");
    for io in [&p.ini_io, &p.acc_io] {
        assert!(io.has(&SessionEvent::LoggedOut));
        assert_eq!(io.disconnects().len(), 1);
    }
    assert_eq!(p.ini.state(), State::Disconnected);
    assert_eq!(p.acc.state(), State::Disconnected);
    assert_eq!(p.ini.seqs(), seqs(3, 3));
    assert_eq!(p.acc.seqs(), seqs(3, 3));
}

#[test]
fn logout_initiated_by_acceptor_with_reset_on_logout() {
    let mut ic = base_cfg(Role::Initiator);
    ic.reset_on_logout = true;
    let mut ac = base_cfg(Role::Acceptor);
    ac.reset_on_logout = true;
    let mut p = Pair::with(ic, fresh(), ac, fresh());
    p.connect();
    p.acc.logout(p.now, "maintenance", &mut p.acc_io);
    p.pump();
    assert!(p.ini_io.has(&SessionEvent::LoggedOut));
    assert!(p.acc_io.has(&SessionEvent::LoggedOut));
    assert_eq!(
        p.ini_io.disconnects(),
        vec!["logged out: maintenance".to_string()]
    );
    assert_eq!(p.ini.seqs(), fresh());
    assert_eq!(p.acc.seqs(), fresh());
}

#[test]
fn logout_timeout_disconnects() {
    let mut p = Pair::logged_on();
    p.ini.logout(p.now, "bye", &mut p.ini_io);
    p.drop_from_ini();
    assert_eq!(p.ini.next_deadline(), Some(T0 + 5 * SEC));
    p.now += 4 * SEC;
    p.ini.on_timer(p.now, &mut p.ini_io);
    assert_eq!(p.ini.state(), State::LogoutPending);
    // Messages still arriving meanwhile (fills!) are delivered.
    p.acc_sends("late-fill");
    p.pump();
    assert_eq!(p.ini_io.app_tags(17), vec!["late-fill"]);
    p.now += SEC;
    p.ini.on_timer(p.now, &mut p.ini_io);
    assert_eq!(p.ini.state(), State::Disconnected);
    assert_eq!(p.ini_io.disconnects(), vec!["logout timeout".to_string()]);
    assert!(!p.ini_io.has(&SessionEvent::LoggedOut));
}

#[test]
fn reset_on_disconnect() {
    let mut ic = base_cfg(Role::Initiator);
    ic.reset_on_disconnect = true;
    let mut p = Pair::with(ic, fresh(), base_cfg(Role::Acceptor), fresh());
    p.connect();
    p.ini_sends("x");
    p.pump();
    p.ini.on_disconnected(p.now, &mut p.ini_io);
    assert_eq!(p.ini.state(), State::Disconnected);
    assert_eq!(p.ini.seqs(), fresh());
    assert!(p.ini_io.has(&SessionEvent::SeqReset(fresh())));
    // Without the option the numbers survive a disconnect.
    p.acc.on_disconnected(p.now, &mut p.acc_io);
    assert_eq!(p.acc.seqs(), seqs(2, 3));
}

// ---------------------------------------------------------------- restore

#[test]
fn restore_from_seqs_after_crash() {
    let mut p = Pair::logged_on();
    p.ini_sends("o1");
    p.acc_sends("e1");
    p.pump();
    p.ini_sends("o2"); // sent and stored, then the process dies before it leaves
    p.drop_from_ini();
    let journal_seqs = p.ini.seqs();
    let store = std::mem::take(&mut p.ini_io.store);
    let acc_seqs = p.acc.seqs();
    p.acc.on_disconnected(p.now, &mut p.acc_io);
    // A new process: new session from the journal, the store from the journal too.
    let mut ini = Session::new(base_cfg(Role::Initiator), journal_seqs);
    assert_eq!(ini.seqs(), seqs(4, 3));
    assert_eq!(ini.state(), State::Disconnected);
    let mut q = Pair {
        ini: Session::new(base_cfg(Role::Initiator), fresh()),
        acc: Session::new(base_cfg(Role::Acceptor), acc_seqs),
        ini_io: Io {
            store,
            ..Io::default()
        },
        acc_io: Io::default(),
        ini_cursor: 0,
        acc_cursor: 0,
        now: p.now + 60 * SEC,
    };
    std::mem::swap(&mut q.ini, &mut ini);
    q.connect();
    assert!(q.ini.is_logged_on() && q.acc.is_logged_on());
    // The logon (seq 4) revealed the gap at 3; o2 came back as a PossDup resend.
    assert_eq!(q.acc_io.app_tags(11), vec!["o2"]);
    assert_eq!(get(&q.acc_io.apps[0].0, 43).as_deref(), Some("Y"));
    assert_eq!(q.ini.seqs().next_in, q.acc.seqs().next_out);
    assert_eq!(q.acc.seqs().next_in, q.ini.seqs().next_out);
}

// ---------------------------------------------------------------- schedule

#[test]
fn schedule_window_and_daily_reset() {
    // 08:00–17:00 UTC, Monday to Friday.
    let sched = Schedule {
        start_secs: 8 * 3600,
        end_secs: 17 * 3600,
        days: 0b0011_1110,
    };
    let day = 86_400 * SEC;
    let tue_0800 = T0 - 2 * 3600 * SEC;
    assert_eq!(sched.window_start(T0), Some(tue_0800));
    assert_eq!(sched.window_start(tue_0800 - SEC), None);
    assert_eq!(sched.window_start(tue_0800 + 9 * 3600 * SEC), None);
    assert_eq!(sched.next_start(T0), Some(tue_0800 + day));
    // Saturday and Sunday closed: Friday → Monday.
    let fri_0800 = tue_0800 + 3 * day;
    assert_eq!(sched.next_start(fri_0800), Some(fri_0800 + 3 * day));

    let mut ic = base_cfg(Role::Initiator);
    ic.schedule = Some(sched.clone());
    let mut ac = base_cfg(Role::Acceptor);
    ac.schedule = Some(sched.clone());
    let mut p = Pair::with(ic, fresh(), ac, fresh());
    assert!(p.ini.in_window(T0));
    assert!(!p.ini.in_window(T0 + 8 * 3600 * SEC));
    p.connect();
    assert_eq!(p.ini.session_start(), Some(tue_0800));
    p.ini_sends("o1");
    p.pump();
    // Heartbeats all afternoon, then 17:00: logout, disconnect.
    while p.ini.state() != State::Disconnected {
        let d = p.ini.next_deadline().unwrap();
        assert!(d <= tue_0800 + 9 * 3600 * SEC + 6 * SEC);
        let step = (d.saturating_sub(p.now) / SEC).max(1);
        p.advance(step);
    }
    assert!(p.now >= tue_0800 + 9 * 3600 * SEC);
    assert!(p.ini_io.has(&SessionEvent::LoggedOut));
    assert!(p.ini.seqs().next_out > 1);
    // Outside the window a connection is refused.
    p.ini.on_connected(p.now, &mut p.ini_io);
    assert_eq!(p.ini.state(), State::Disconnected);
    assert_eq!(
        p.ini_io.disconnects().last().map(String::as_str),
        Some("outside session window")
    );
    // The next deadline is tomorrow's opening: the daily reset.
    assert_eq!(p.ini.next_deadline(), Some(tue_0800 + day));
    p.now = tue_0800 + day;
    p.ini.on_timer(p.now, &mut p.ini_io);
    assert_eq!(p.ini.seqs(), fresh());
    assert!(p.ini_io.has(&SessionEvent::SeqReset(fresh())));
    assert_eq!(p.ini.session_start(), Some(tue_0800 + day));
    // The acceptor resets when the connection comes in the new window.
    p.acc.on_disconnected(p.now, &mut p.acc_io);
    p.acc.on_connected(p.now, &mut p.acc_io);
    assert_eq!(p.acc.seqs(), fresh());
    p.ini.on_connected(p.now, &mut p.ini_io);
    p.pump();
    assert!(p.ini.is_logged_on() && p.acc.is_logged_on());
    assert_eq!(p.ini.seqs(), seqs(2, 2));
}

#[test]
fn overnight_schedule() {
    // 22:00 → 06:00 every day.
    let s = Schedule {
        start_secs: 22 * 3600,
        end_secs: 6 * 3600,
        days: 0x7f,
    };
    let midnight = (T0 / (86_400 * SEC)) * 86_400 * SEC;
    assert_eq!(
        s.window_start(midnight + 3600 * SEC),
        Some(midnight - 2 * 3600 * SEC)
    );
    assert_eq!(s.window_start(midnight + 7 * 3600 * SEC), None);
    assert_eq!(
        s.window_start(midnight + 23 * 3600 * SEC),
        Some(midnight + 22 * 3600 * SEC)
    );
    assert_eq!(
        s.window_end(midnight + 22 * 3600 * SEC),
        midnight + 30 * 3600 * SEC
    );
}

#[test]
fn sending_time_is_read_strictly() {
    // 31 February read leniently is 2 March: "SendingTime accuracy" (373=10) and a
    // logout. It is no timestamp at all: an incorrect data format (373=6), and the
    // session stays up.
    let (mut s, mut io, now) = acceptor_logged_on();
    let mut c = Craft::to_acc("D", 2, now)
        .f(52, "20240231-10:00:00")
        .f(11, "x");
    c.sending_time = None;
    s.on_bytes(now, &c.build(), &mut io);
    let reject = io.sent.last().unwrap();
    assert_eq!(mt(reject), "3");
    assert_eq!(get(reject, 373).as_deref(), Some("6"));
    assert_eq!(get(reject, 371).as_deref(), Some("52"));
    assert_eq!(s.state(), State::Active);
}

#[test]
fn many_sessions_are_independent() {
    let mut a = Pair::logged_on();
    let mut b = Pair::logged_on();
    a.ini_sends("a1");
    a.pump();
    assert_eq!(a.ini.seqs(), seqs(3, 2));
    assert_eq!(b.ini.seqs(), seqs(2, 2));
    b.advance(1);
    assert_eq!(a.acc_io.app_tags(11), vec!["a1"]);
    assert!(b.acc_io.apps.is_empty());
}

// ---------------------------------------------------------------- properties

mod prop {
    use super::*;
    use proptest::prelude::*;

    fn stream(n: usize, dup_at: Option<usize>) -> Vec<u8> {
        let now = T0;
        let mut out = Craft::to_acc("A", 1, now).f(98, "0").f(108, "30").build();
        for i in 0..n {
            let seq = 2 + i as u64;
            out.extend(
                Craft::to_acc("D", seq, now)
                    .f(11, &format!("o{seq}"))
                    .build(),
            );
            if dup_at == Some(i) {
                out.extend(
                    Craft::to_acc("D", seq, now)
                        .dup(Some(now))
                        .f(11, &format!("o{seq}"))
                        .build(),
                );
                out.extend(b"xx\x01junk\x01".iter());
            }
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn chunking_does_not_change_what_is_delivered(
            n in 1usize..12,
            cuts in proptest::collection::vec(0usize..4000, 0..30),
            dup in proptest::option::of(0usize..12),
        ) {
            let bytes = stream(n, dup.filter(|d| *d < n));
            let run = |cuts: &[usize]| {
                let mut s = Session::new(base_cfg(Role::Acceptor), fresh());
                let mut io = Io::default();
                s.on_connected(T0, &mut io);
                let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
                cuts.sort_unstable();
                let mut at = 0;
                for c in cuts.into_iter().chain([bytes.len()]) {
                    s.on_bytes(T0, &bytes[at..c], &mut io);
                    at = c;
                }
                (io.app_tags(11), s.seqs(), io.sent.len())
            };
            let whole = run(&[]);
            prop_assert_eq!(whole.0.len(), n);
            prop_assert_eq!(run(&cuts), whole);
        }
    }
}

// ---------------------------------------------------------------- dictionary

fn fix44() -> Arc<Dictionary> {
    Arc::new(Dictionary::builtin("FIX.4.4").expect("FIX.4.4 is built in"))
}

fn exec_report(seq: u64, now: u64) -> Craft<'static> {
    Craft::to_ini("8", seq, now)
        .f(37, "ord-1")
        .f(17, "exec-1")
        .f(150, "F")
        .f(39, "2")
        .f(55, "BTCUSDT")
        .f(54, "1")
        .f(151, "0")
        .f(14, "1")
        .f(6, "100")
}

#[test]
fn validation_failure_rejects_and_still_delivers() {
    let mut ic = base_cfg(Role::Initiator);
    ic.dictionary = Some(fix44());
    let mut p = Pair::with(ic, fresh(), base_cfg(Role::Acceptor), fresh());
    p.connect();
    assert!(
        p.ini.is_logged_on(),
        "admin messages pass: {:?}",
        p.ini_io.events
    );
    // A valid ExecutionReport: delivered, no reject.
    let n = p.ini.seqs().next_in;
    let before = p.ini_io.sent.len();
    p.ini
        .on_bytes(p.now, &exec_report(n, p.now).build(), &mut p.ini_io);
    assert_eq!(
        p.ini_io.apps.last().unwrap().1,
        Ok(()),
        "{:?}",
        p.ini_io.events
    );
    assert_eq!(p.ini_io.sent.len(), before);
    // A fill without OrderID (37): reject 373=1 371=37, and still delivered, flagged.
    let mut c = exec_report(n + 1, p.now);
    c.body.retain(|(t, _)| *t != 37);
    p.ini.on_bytes(p.now, &c.build(), &mut p.ini_io);
    let rej = p.ini_io.sent.last().unwrap();
    assert_eq!(mt(rej), "3");
    assert_eq!(get(rej, 45), Some((n + 1).to_string()));
    assert_eq!(get(rej, 371).as_deref(), Some("37"));
    assert_eq!(get(rej, 372).as_deref(), Some("8"));
    assert_eq!(get(rej, 373).as_deref(), Some("1"));
    let (raw, valid) = p.ini_io.apps.last().unwrap();
    assert_eq!(*valid, Err(SessionRejectReason::RequiredTagMissing));
    assert_eq!(get(raw, 17).as_deref(), Some("exec-1"));
    // A user-defined tag (5000–9999) the dictionary does not know: accepted.
    let before = p.ini_io.sent.len();
    let c = exec_report(n + 2, p.now).f(9999, "x");
    p.ini.on_bytes(p.now, &c.build(), &mut p.ini_io);
    assert_eq!(p.ini_io.apps.last().unwrap().1, Ok(()));
    assert_eq!(p.ini_io.sent.len(), before);
    // An undefined tag outside the user range: rejected, still delivered.
    let c = exec_report(n + 3, p.now).f(4000, "x");
    p.ini.on_bytes(p.now, &c.build(), &mut p.ini_io);
    let rej = p.ini_io.sent.last().unwrap();
    assert_eq!(mt(rej), "3");
    assert_eq!(get(rej, 371).as_deref(), Some("4000"));
    assert!(p.ini_io.apps.last().unwrap().1.is_err());
    assert_eq!(p.ini_io.apps.len(), 4);
    // An unknown MsgType: 373=11.
    let c = Craft::to_ini("ZZ", n + 4, p.now);
    p.ini.on_bytes(p.now, &c.build(), &mut p.ini_io);
    let rej = p.ini_io.sent.last().unwrap();
    assert_eq!(get(rej, 373).as_deref(), Some("11"));
    assert_eq!(get(rej, 372).as_deref(), Some("ZZ"));
    assert_eq!(
        p.ini.seqs().next_in,
        n + 5,
        "rejected messages consume their numbers"
    );
    assert!(p.ini.is_logged_on());
    let rejects = p
        .ini_io
        .events
        .iter()
        .filter(|e| matches!(e, SessionEvent::RejectSent { .. }))
        .count();
    assert_eq!(rejects, 3);
}

// ---------------------------------------------------------------- bounds

/// An acceptor's answer to a Logon from CLIENT asking for HeartBtInt `hb`.
fn logon_with_heartbeat(hb: &str) -> (Session, Io) {
    let mut s = Session::new(base_cfg(Role::Acceptor), fresh());
    let mut io = Io::default();
    s.on_connected(T0, &mut io);
    let logon = Craft::to_acc("A", 1, T0).f(98, "0").f(108, hb).build();
    s.on_bytes(T0, &logon, &mut io);
    (s, io)
}

#[test]
fn heartbtint_beyond_a_day_is_refused_with_a_logout_saying_why() {
    for hb in ["18446744073", "86401", "99999999999999999999", "-5"] {
        let (s, io) = logon_with_heartbeat(hb);
        assert_eq!(s.state(), State::Disconnected, "108={hb}");
        assert_eq!(io.sent.len(), 1, "108={hb}: one Logout, nothing else");
        assert_eq!(mt(&io.sent[0]), "5");
        let text = get(&io.sent[0], tag::TEXT).unwrap();
        assert_eq!(
            text,
            format!("Logon refused: HeartBtInt(108) {hb} out of range (0 to 86400 seconds)")
        );
        assert_eq!(io.disconnects(), vec![text]);
        assert!(!io.has(&SessionEvent::LoggedOn));
    }
    // A day is the most, and its deadlines are where they should be.
    let (s, io) = logon_with_heartbeat("86400");
    assert!(s.is_logged_on(), "{:?}", io.events);
    assert_eq!(s.heartbeat_secs(), 86_400);
    assert_eq!(s.next_deadline(), Some(T0 + 86_400 * SEC));
}

#[test]
fn heartbeats_of_a_long_interval_never_overflow_a_deadline() {
    // What the configuration allows (u32 seconds) for our own interval: deadlines
    // saturate instead of wrapping round to "now", which sent heartbeats without end.
    let mut cfg = base_cfg(Role::Initiator);
    cfg.heartbeat_secs = u32::MAX;
    cfg.logon_timeout_secs = u32::MAX;
    let mut s = Session::new(cfg, fresh());
    let mut io = Io::default();
    let late = u64::MAX - 10 * SEC;
    s.on_connected(late, &mut io);
    assert_eq!(s.next_deadline(), Some(u64::MAX));
    s.on_timer(late + SEC, &mut io);
    assert_eq!(io.sent.len(), 1, "the Logon only");
}

#[test]
fn sequence_numbers_beyond_counting_are_refused() {
    let (mut s, mut io, now) = acceptor_logged_on();
    // NewSeqNo past the most: rejected (373=5 naming 36), the expected number stays.
    let reset = Craft::to_acc("4", 2, now)
        .f(36, &(MAX_SEQ_NUM + 1).to_string())
        .build();
    s.on_bytes(now, &reset, &mut io);
    let rej = io.sent.last().unwrap();
    assert_eq!(mt(rej), "3");
    assert_eq!(get(rej, 373).as_deref(), Some("5"));
    assert_eq!(get(rej, 371).as_deref(), Some("36"));
    assert_eq!(s.seqs().next_in, 2);
    assert!(s.is_logged_on());
    // The most is taken.
    let reset = Craft::to_acc("4", 2, now)
        .f(36, &MAX_SEQ_NUM.to_string())
        .build();
    s.on_bytes(now, &reset, &mut io);
    assert_eq!(s.seqs().next_in, MAX_SEQ_NUM);
    // A MsgSeqNum past it: Logout saying so, disconnected.
    let hb = Craft::to_acc("0", MAX_SEQ_NUM + 1, now).build();
    s.on_bytes(now, &hb, &mut io);
    assert_eq!(s.state(), State::Disconnected);
    let logout = io.sent.last().unwrap();
    assert_eq!(mt(logout), "5");
    assert_eq!(
        get(logout, 58).as_deref(),
        Some("MsgSeqNum(34) out of range")
    );
}

/// A frame from CLIENT numbered `seq` carrying `bytes` of Text: bulk ahead of a gap.
fn big_frame(seq: u64, bytes: usize, now: u64) -> Vec<u8> {
    let mut e = Encoder::new("FIX.4.4", bytes + 512);
    e.start(b"B")
        .uint(34, seq)
        .bytes(49, b"CLIENT")
        .timestamp(52, now, false)
        .bytes(56, b"BROKER")
        .bytes(148, b"news")
        .bytes(58, &vec![b'x'; bytes]);
    e.finish().to_vec()
}

#[test]
fn messages_ahead_of_a_gap_are_bounded_in_bytes() {
    let (mut s, mut io, now) = acceptor_logged_on();
    // 512 KiB each, beyond a hole at 2: sixteen fit in 8 MiB, the seventeenth does not.
    let size = 512 << 10;
    let mut kept = 0;
    for seq in 3..40 {
        s.on_bytes(now, &big_frame(seq, size, now), &mut io);
        if s.state() == State::Disconnected {
            break;
        }
        kept += 1;
        assert!(s.queued() * size <= MAX_QUEUED_BYTES);
    }
    assert_eq!(
        kept,
        MAX_QUEUED_BYTES / (size + 100),
        "{:?}",
        io.disconnects()
    );
    let logout = io.sent.last().unwrap();
    assert_eq!(mt(logout), "5");
    let why = "more than 8 MiB queued ahead of a gap";
    assert_eq!(get(logout, 58).as_deref(), Some(why));
    assert_eq!(io.disconnects(), vec![why.to_string()]);
    assert_eq!(s.queued(), 0, "what a disconnect leaves is dropped");
}

/// An acceptor logged on with CLIENT that has sent `n` ExecutionReports (numbers 2 to
/// n + 1), all read by the peer; its output is bounded at `limit` bytes from then on.
fn acceptor_with_history(n: u64, limit: usize) -> (Session, Io, u64) {
    let (mut s, mut io, now) = acceptor_logged_on();
    for i in 0..n {
        s.send_app(
            now,
            b"8",
            |e| {
                e.bytes(17, format!("e{i}").as_bytes()).char(150, b'F');
            },
            &mut io,
        )
        .unwrap();
    }
    io.sent.clear();
    io.limit = Some(limit);
    (s, io, now)
}

#[test]
fn a_resend_beyond_the_output_bound_goes_out_in_pieces_with_live_traffic_behind_it() {
    let n = 2_000;
    let limit = 64 << 10;
    let (mut s, mut io, now) = acceptor_with_history(n, limit);
    // The peer asks for everything, and in the same read for a heartbeat.
    let mut bytes = Craft::to_acc("2", 2, now).f(7, "1").f(16, "0").build();
    bytes.extend(Craft::to_acc("1", 3, now).f(112, "ping").build());
    s.on_bytes(now, &bytes, &mut io);
    assert!(s.output_waiting());
    assert!(
        io.unsent <= limit / 2,
        "{} bytes written at once",
        io.unsent
    );
    // Live traffic meanwhile is numbered and stored, not sent.
    let live = s
        .send_app(
            now,
            b"8",
            |e| {
                e.bytes(17, b"live").char(150, b'F');
            },
            &mut io,
        )
        .unwrap();
    assert_eq!(live, n + 3, "after the Heartbeat answering the TestRequest");
    let mut rounds = 0;
    while s.output_waiting() {
        // The peer reads what was written; the owner says so.
        io.unsent = 0;
        s.on_writable(now, &mut io);
        assert!(io.unsent <= limit / 2 + 512);
        rounds += 1;
        assert!(rounds < 1_000);
    }
    assert!(rounds > 5, "written in pieces: {rounds}");
    assert!(s.is_logged_on());
    // What the peer read, in order: the resend whole (the Logon gap-filled, every
    // report PossDup), then the live messages as numbered, once each.
    let seen: Vec<(u64, String, Option<String>)> = io
        .sent
        .iter()
        .map(|f| (seq_of(f), mt(f), get(f, 43)))
        .collect();
    let mut want = vec![(1, "4".to_string(), Some("Y".to_string()))];
    want.extend((2..=n + 1).map(|s| (s, "8".to_string(), Some("Y".to_string()))));
    want.push((n + 2, "0".to_string(), None));
    want.push((n + 3, "8".to_string(), None));
    assert!(
        seen == want,
        "first difference at {:?}",
        seen.iter().zip(&want).position(|(a, b)| a != b)
    );
    assert_eq!(get(&io.sent[n as usize + 1], 112).as_deref(), Some("ping"));
    assert!(io.has(&SessionEvent::Resent { from: 1, to: n + 1 }));
    // With nothing left to wait behind, messages go straight out again.
    let before = io.sent.len();
    s.send_app(
        now,
        b"8",
        |e| {
            e.bytes(17, b"after").char(150, b'F');
        },
        &mut io,
    )
    .unwrap();
    assert_eq!(io.sent.len(), before + 1);
}

#[test]
fn a_resend_asked_for_while_one_is_served_follows_it() {
    let (mut s, mut io, now) = acceptor_with_history(500, 16 << 10);
    s.on_bytes(
        now,
        &Craft::to_acc("2", 2, now).f(7, "100").f(16, "0").build(),
        &mut io,
    );
    assert!(s.output_waiting());
    s.on_bytes(
        now,
        &Craft::to_acc("2", 3, now).f(7, "2").f(16, "10").build(),
        &mut io,
    );
    while s.output_waiting() {
        io.unsent = 0;
        s.on_writable(now, &mut io);
    }
    let seqs: Vec<u64> = io.sent.iter().map(|f| seq_of(f)).collect();
    let want: Vec<u64> = (100..=501).chain(2..=10).collect();
    assert_eq!(seqs, want);
    assert!(io.has(&SessionEvent::Resent { from: 100, to: 501 }));
    assert!(io.has(&SessionEvent::Resent { from: 2, to: 10 }));
}

#[test]
fn a_peer_that_does_not_read_a_resend_is_disconnected_at_the_bound() {
    let limit = 64 << 10;
    let (mut s, mut io, now) = acceptor_with_history(2_000, limit);
    s.on_bytes(
        now,
        &Craft::to_acc("2", 2, now).f(7, "1").f(16, "0").build(),
        &mut io,
    );
    assert!(s.output_waiting());
    // It keeps sending, never reading: its answers wait behind the resend until the
    // bound is reached.
    let mut seq = 3;
    while s.is_logged_on() {
        s.on_writable(now, &mut io);
        let ping = format!("p{seq}");
        s.on_bytes(
            now,
            &Craft::to_acc("1", seq, now).f(112, &ping).build(),
            &mut io,
        );
        seq += 1;
        assert!(seq < 10_000);
    }
    assert_eq!(
        io.disconnects(),
        vec![
            "the peer does not read: output waiting behind a resend is over its bound".to_string()
        ]
    );
    assert!(io.unsent <= limit / 2);
    // Disconnected by the answer that took what waited past the bound, not before.
    let waited: Vec<usize> = (2_002..s.seqs().next_out)
        .map(|q| io.store[&q].len())
        .collect();
    let total: usize = waited.iter().sum();
    assert!(io.unsent + total > limit);
    assert!(io.unsent + total - waited.last().unwrap() <= limit);
    assert!(!s.output_waiting());
}

#[test]
fn a_reset_forgets_a_resend_being_served() {
    let (mut s, mut io, now) = acceptor_with_history(2_000, 16 << 10);
    s.on_bytes(
        now,
        &Craft::to_acc("2", 2, now).f(7, "1").f(16, "0").build(),
        &mut io,
    );
    assert!(s.output_waiting());
    let logon = Craft::to_acc("A", 3, now)
        .f(98, "0")
        .f(108, "30")
        .f(141, "Y")
        .build();
    s.on_bytes(now, &logon, &mut io);
    assert!(
        !s.output_waiting(),
        "numbers start again: nothing of the old ones goes out"
    );
    let answer = io.sent.last().unwrap();
    assert_eq!((mt(answer), seq_of(answer)), ("A".to_string(), 1));
}

// ---------------------------------------------------------------- our ResendRequest unanswered

fn count_mt(io: &Io, t: &str) -> usize {
    io.sent.iter().filter(|f| mt(f) == t).count()
}

/// A peer that drops our ResendRequest (one with a gap of its own may drop everything
/// ahead of it) while it goes on sending: everything it sends waits behind the gap. After
/// HeartBtInt + 20 % with the gap not closing we ask again; as long again, we log out.
#[test]
fn an_unanswered_resend_request_is_sent_again_then_the_session_logs_out() {
    let (mut s, mut io, t) = acceptor_logged_on();
    s.on_bytes(t, &Craft::to_acc("D", 4, t).f(11, "a").build(), &mut io);
    assert_eq!(count_mt(&io, "2"), 1);
    let patience = 36 * SEC;
    assert!(s.next_deadline().is_some_and(|d| d <= t + patience));
    let at = |secs: u64| t + secs * SEC;
    s.on_bytes(
        at(10),
        &Craft::to_acc("D", 5, at(10)).f(11, "b").build(),
        &mut io,
    );
    s.on_timer(at(35), &mut io);
    assert_eq!(count_mt(&io, "2"), 1, "not before HeartBtInt + 20 %");
    s.on_timer(at(36), &mut io);
    assert_eq!(count_mt(&io, "2"), 2, "asked again");
    let again = io.sent.iter().rev().find(|f| mt(f) == "2").unwrap();
    assert_eq!(get(again, 7).as_deref(), Some("2"));
    assert_eq!(get(again, 16).as_deref(), Some("0"));
    assert!(s.next_deadline().is_some_and(|d| d <= at(72)));
    s.on_bytes(
        at(40),
        &Craft::to_acc("D", 6, at(40)).f(11, "c").build(),
        &mut io,
    );
    s.on_timer(at(71), &mut io);
    assert_eq!(s.state(), State::Active);
    s.on_timer(at(72), &mut io);
    assert_eq!(s.state(), State::LogoutPending);
    let logout = io.sent.last().unwrap();
    assert_eq!(mt(logout), "5");
    assert_eq!(get(logout, 58).as_deref(), Some("ResendRequest unanswered"));
    assert!(io.apps.is_empty(), "nothing ahead of the gap was delivered");
    assert_eq!(count_mt(&io, "2"), 2);
}

/// A peer that answers, if slowly: each number of the gap it fills starts our patience
/// over, and a closed gap is never asked about again.
#[test]
fn a_resend_answered_slowly_is_not_asked_again() {
    let (mut s, mut io, t) = acceptor_logged_on();
    let at = |secs: u64| t + secs * SEC;
    s.on_bytes(t, &Craft::to_acc("D", 4, t).f(11, "a").build(), &mut io);
    assert_eq!(count_mt(&io, "2"), 1);
    let resent =
        |seq: u64, now: u64, cl: &str| Craft::to_acc("D", seq, now).dup(Some(t)).f(11, cl).build();
    s.on_bytes(at(20), &resent(2, at(20), "x"), &mut io);
    s.on_timer(at(36), &mut io);
    assert_eq!(count_mt(&io, "2"), 1, "the gap was closing");
    s.on_bytes(at(50), &resent(3, at(50), "y"), &mut io);
    assert!(!s.resend_pending());
    assert_eq!(io.apps.len(), 3, "2 and 3 resent, then 4 from the queue");
    for (secs, seq) in [(72, 5), (90, 6), (110, 7), (130, 8)] {
        s.on_bytes(
            at(secs),
            &Craft::to_acc("0", seq, at(secs)).build(),
            &mut io,
        );
        s.on_timer(at(secs), &mut io);
    }
    assert_eq!(count_mt(&io, "2"), 1);
    assert_eq!(s.state(), State::Active);
}

/// A silent peer: our second ResendRequest and a TestRequest went out together, and when
/// both go unanswered the Logout comes first, not a disconnect for the heartbeat (nothing
/// but a resend goes out after a Logout).
#[test]
fn a_silent_peer_with_our_resend_unanswered_gets_our_logout_first() {
    let (mut s, mut io, t) = acceptor_logged_on();
    let at = |secs: u64| t + secs * SEC;
    s.on_bytes(t, &Craft::to_acc("D", 4, t).f(11, "a").build(), &mut io);
    s.on_timer(at(36), &mut io);
    assert_eq!((count_mt(&io, "2"), count_mt(&io, "1")), (2, 1));
    s.on_timer(at(72), &mut io);
    assert_eq!(s.state(), State::LogoutPending);
    assert!(io.disconnects().is_empty(), "{:?}", io.disconnects());
    assert_eq!(mt(io.sent.last().unwrap()), "5");
}

/// Our ResendRequest numbered while we serve the peer's: it waits behind that resend,
/// and so does patience: not asked again, no Logout, however long the peer takes to
/// read; counted from when it went out.
#[test]
fn patience_with_our_resend_request_starts_when_it_went_out() {
    let limit = 64 << 10;
    let (mut s, mut io, now) = acceptor_with_history(2_000, limit);
    let at = |secs: u64| now + secs * SEC;
    // The peer asks for everything, and its next message shows a gap (4, not 3).
    let mut bytes = Craft::to_acc("2", 2, now).f(7, "1").f(16, "0").build();
    bytes.extend(Craft::to_acc("D", 4, now).f(11, "a").build());
    s.on_bytes(now, &bytes, &mut io);
    assert!(s.output_waiting() && s.resend_pending());
    assert_eq!(count_mt(&io, "2"), 0, "ours waits behind the resend");
    for (secs, seq) in [(30, 5), (60, 6), (90, 7)] {
        // The peer is alive (its messages wait beyond the gap) but reads nothing.
        s.on_bytes(
            at(secs),
            &Craft::to_acc("0", seq, at(secs)).build(),
            &mut io,
        );
        s.on_timer(at(secs + 6), &mut io);
        assert_eq!(s.state(), State::Active, "at {} s", secs + 6);
    }
    let mut rounds = 0;
    while s.output_waiting() {
        io.unsent = 0;
        s.on_writable(at(100), &mut io);
        rounds += 1;
        assert!(rounds < 1_000);
    }
    assert_eq!(count_mt(&io, "2"), 1, "went out with the rest");
    s.on_bytes(at(120), &Craft::to_acc("0", 8, at(120)).build(), &mut io);
    s.on_timer(at(131), &mut io);
    assert_eq!(count_mt(&io, "2"), 1);
    s.on_timer(at(132), &mut io);
    assert_eq!(
        count_mt(&io, "2"),
        2,
        "36 s after the last look that found it held"
    );
}

/// The peer answered part of the gap, then stopped: after we ask again, a live message
/// beyond the gap waits for that request's answer rather than making a third request.
#[test]
fn asking_again_waits_for_its_own_answer() {
    let (mut s, mut io, t) = acceptor_logged_on();
    let at = |secs: u64| t + secs * SEC;
    s.on_bytes(t, &Craft::to_acc("D", 21, t).f(11, "z").build(), &mut io);
    for seq in 2..=5 {
        let m = Craft::to_acc("D", seq, at(10))
            .dup(Some(t))
            .f(11, "r")
            .build();
        s.on_bytes(at(10), &m, &mut io);
    }
    s.on_timer(at(36), &mut io);
    assert_eq!(count_mt(&io, "2"), 1, "the gap was closing");
    s.on_timer(at(72), &mut io);
    assert_eq!(count_mt(&io, "2"), 2, "asked again");
    s.on_bytes(
        at(73),
        &Craft::to_acc("D", 22, at(73)).f(11, "y").build(),
        &mut io,
    );
    assert_eq!(count_mt(&io, "2"), 2, "no third request a second later");
    assert!(s.resend_pending());
}
