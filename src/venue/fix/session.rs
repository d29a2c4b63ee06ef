//! The FIX session layer (R-VEN-2): one state machine for initiator and acceptor, fed
//! bytes and time, emitting bytes and events. No sockets and no clock inside, so it is
//! tested without a network and replayed from the journal.
//!
//! Behaviour follows the FIX session protocol, and QuickFIX where the protocol leaves
//! room:
//! - Every message we number is `store`d before it is `send`, admin ones included, so
//!   the store answers for every number of the current sequence (no stale entry from
//!   before a reset can be resent). Resends and GapFills reuse old numbers and are not
//!   stored again.
//! - Serving a ResendRequest: application messages and Reject (35=3) are resent with
//!   PossDupFlag=Y, OrigSendingTime = their SendingTime and a new SendingTime; Heartbeat,
//!   TestRequest, ResendRequest, SequenceReset, Logout and Logon (the protocol's list),
//!   and numbers missing from the store, are collapsed into SequenceReset-GapFills. The
//!   whole range is sent within the call, so it never interleaves with live traffic.
//!   A ResendRequest beyond a gap is served at once (both sides may be waiting for each
//!   other) and its number consumed when its turn comes.
//! - MsgSeqNum too high: the message is queued (bounded, [`MAX_QUEUED`]) and one
//!   ResendRequest `next_in..0` is sent; further messages beyond the gap do not send
//!   another, unless a live (non-PossDup) message is still ahead after the peer has
//!   started answering (the answer did not close the gap). Queued messages are handled
//!   in order as the gap fills; a reset, a disconnect or [`Session::set_seqs`] drops
//!   the queue and the pending request.
//! - Header problems that do not end the session (SendingTime or OrigSendingTime
//!   missing or malformed) and dictionary failures reject the message (35=3), consume
//!   its number, and still deliver an application message to `app` with `Err(reason)`:
//!   a fill is never lost. SendingTime accuracy (373=10) also logs out; CompID problems
//!   (373=9) log out and disconnect, and the message is not delivered (it is not ours).
//!   The dictionary validates application messages; session messages get the session's
//!   own checks (a dictionary quibble must not break recovery).
//! - Decoder errors map to 373=0 (invalid tag), 4 (empty value), 14 (out of order),
//!   99 "Other" (too many fields; 5 on FIX.4.2, which has no 99); a field without `=`
//!   is treated as garbled (ignored, no number consumed), as QuickFIX does.
//! - A Logout is answered (or completes ours) whatever its MsgSeqNum; its number is
//!   consumed only when it is the expected one.
//! - Heartbeats: a TestRequest after HeartBtInt + 20 % of silence, a disconnect after
//!   another HeartBtInt + 20 % without an answer.
//! - Schedule: a connection is refused outside the window; an Active session logs out
//!   when its window ends; the first activity (or timer) in a new window resets both
//!   numbers to 1 ([`Session::session_start`] is the window the numbers belong to; journal
//!   it beside them and restore it with [`Session::set_session_start`]).

use super::codec::{self, DecodeError, Decoder, Encoder, FrameError, Msg, SOH};
use super::dictionary::Dictionary;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Which side opens the connection and sends the first Logon.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Connects and logs on (to brokers).
    Initiator,
    /// Accepts and answers logons (the venue simulator, order-entry clients).
    Acceptor,
}

/// When a session may be connected (QuickFIX's StartTime/EndTime/StartDay/EndDay),
/// in UTC. A session outside its window logs out and does not reconnect; a new window
/// starts with both sequence numbers reset to 1 (daily reset).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    /// Seconds after UTC midnight the window opens.
    pub start_secs: u32,
    /// Seconds after UTC midnight the window closes (may be below start: overnight).
    pub end_secs: u32,
    /// Bit i set = the window opens on weekday i (0 = Sunday … 6 = Saturday).
    pub days: u8,
}

/// A session's settings, named as QuickFIX names them.
#[derive(Clone, Debug)]
pub struct SessionConfig {
    /// BeginString (8): `FIX.4.2`, `FIX.4.4`, `FIXT.1.1`.
    pub begin_string: String,
    /// DefaultApplVerID (1137) sent on Logon for FIXT.1.1, e.g. `9` (FIX 5.0SP2).
    pub default_appl_ver_id: Option<String>,
    /// SenderCompID (49) of our messages.
    pub sender_comp_id: String,
    /// TargetCompID (56) of our messages.
    pub target_comp_id: String,
    /// Initiator or acceptor.
    pub role: Role,
    /// HeartBtInt (108) in seconds, proposed by an initiator; an acceptor adopts the peer's.
    pub heartbeat_secs: u32,
    /// ResetOnLogon: send/accept ResetSeqNumFlag=Y and start both sides at 1.
    pub reset_on_logon: bool,
    /// ResetOnLogout: start at 1 after a clean logout.
    pub reset_on_logout: bool,
    /// ResetOnDisconnect: start at 1 after any disconnect.
    pub reset_on_disconnect: bool,
    /// Username (553) on Logon, if the counterparty wants one.
    pub username: Option<String>,
    /// Password (554) on Logon.
    pub password: Option<String>,
    /// Seconds to wait for the Logon answer before disconnecting.
    pub logon_timeout_secs: u32,
    /// Seconds to wait for the Logout answer before disconnecting.
    pub logout_timeout_secs: u32,
    /// Connection window; None = always.
    pub schedule: Option<Schedule>,
    /// Validate inbound messages against this dictionary (R-VEN-2); None = framing and
    /// header checks only.
    pub dictionary: Option<Arc<Dictionary>>,
    /// SendingTime with microseconds instead of milliseconds.
    pub micros: bool,
}

/// Where the session is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// No connection.
    Disconnected,
    /// Connected; Logon sent (initiator) or awaited (acceptor).
    LogonPending,
    /// Logged on; application messages flow.
    Active,
    /// Logout sent, awaiting the answer.
    LogoutPending,
}

/// Both sequence numbers; what is persisted in the journal and restored after a crash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeqNums {
    /// MsgSeqNum of the next message we send.
    pub next_out: u64,
    /// MsgSeqNum we expect next from the peer.
    pub next_in: u64,
}

/// Why the application could not send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendError {
    /// Not logged on: nothing was sent or numbered, safe to retry later.
    NotLoggedOn,
}

/// What the session reports to its owner besides bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionEvent {
    /// Logon completed.
    LoggedOn,
    /// Logout completed (either side started it).
    LoggedOut,
    /// The owner must close the connection now (the reason says why).
    Disconnect(String),
    /// A frame with a bad BodyLength/CheckSum was ignored.
    Garbled(String),
    /// We sent a session reject (35=3).
    RejectSent {
        /// RefSeqNum.
        ref_seq: u64,
        /// SessionRejectReason (373).
        reason: u32,
        /// Text (58).
        text: String,
    },
    /// The peer sent a session reject (35=3) or business reject (35=j) for our message.
    PeerRejected {
        /// RefSeqNum (45).
        ref_seq: u64,
        /// MsgType of the reject (`3` or `j`).
        msg_type: String,
        /// Text (58), if any.
        text: String,
    },
    /// A gap was seen; a ResendRequest was sent for `from..=to` (0 = infinity).
    ResendRequested {
        /// BeginSeqNo.
        from: u64,
        /// EndSeqNo.
        to: u64,
    },
    /// The peer's ResendRequest was served.
    Resent {
        /// First sequence number.
        from: u64,
        /// Last sequence number.
        to: u64,
    },
    /// Sequence numbers changed other than by one message (reset, gap fill, restore).
    SeqReset(SeqNums),
}

/// What the session needs from its owner: a wire, a store of sent messages, and a
/// receiver for application messages and events.
pub trait SessionIo {
    /// Write a whole frame to the connection.
    fn send(&mut self, frame: &[u8]);
    /// A message we numbered `seq` and sent; keep it for resends (journal it).
    fn store(&mut self, seq: u64, frame: &[u8]);
    /// A previously stored message, for serving a ResendRequest.
    fn stored(&self, seq: u64) -> Option<&[u8]>;
    /// An application message, delivered in sequence order exactly once (a PossDup
    /// copy of one already delivered is not delivered again). `valid` is Err with the
    /// reject reason when it failed dictionary validation and a 35=3 was sent for it:
    /// it is still delivered, so an execution is never lost to validation.
    fn app(&mut self, msg: &Msg<'_>, valid: Result<(), u32>);
    /// A session event.
    fn event(&mut self, ev: SessionEvent);
}

#[cfg(test)]
mod tests;

const NS: u64 = 1_000_000_000;
const DAY_SECS: u64 = 86_400;

/// Most bytes the receive buffer holds while waiting for the rest of a frame; a peer
/// that goes beyond (a huge BodyLength, or garbage that never frames) is disconnected.
pub const MAX_RX_BYTES: usize = 2 << 20;

/// Most out-of-order messages kept while a gap is being filled; beyond it the session
/// logs out rather than grow without bound.
pub const MAX_QUEUED: usize = 65_536;

/// QuickFIX's MaxLatency default: how far SendingTime may be from our clock.
pub const DEFAULT_MAX_LATENCY_SECS: u32 = 120;

/// Capacity of the session's encoder (the largest message it can send or resend).
pub const ENCODER_CAPACITY: usize = 64 * 1024;

impl Schedule {
    fn len_secs(&self) -> u64 {
        let (s, e) = (
            self.start_secs as u64 % DAY_SECS,
            self.end_secs as u64 % DAY_SECS,
        );
        if e > s {
            e - s
        } else {
            e + DAY_SECS - s
        }
    }

    fn opens_on(&self, day: u64) -> bool {
        // 1970-01-01 was a Thursday (weekday 4).
        let wd = (day + 4) % 7;
        self.days & (1 << wd) != 0
    }

    /// The opening instant (unix ns) of the window containing `now_ns`, if any.
    pub fn window_start(&self, now_ns: u64) -> Option<u64> {
        let now = now_ns / NS;
        let day = now / DAY_SECS;
        let start = self.start_secs as u64 % DAY_SECS;
        let len = self.len_secs();
        for d in [day, day.wrapping_sub(1)] {
            if d > day {
                continue;
            }
            let open = d * DAY_SECS + start;
            if self.opens_on(d) && open <= now && now < open + len {
                return Some(open * NS);
            }
        }
        None
    }

    /// The first window opening strictly after `after_ns`, if the schedule has any.
    pub fn next_start(&self, after_ns: u64) -> Option<u64> {
        let day = after_ns / NS / DAY_SECS;
        let start = self.start_secs as u64 % DAY_SECS;
        (day..day + 9)
            .filter(|&d| self.opens_on(d))
            .map(|d| (d * DAY_SECS + start) * NS)
            .find(|&t| t > after_ns)
    }

    /// The closing instant of the window that opened at `start_ns`.
    pub fn window_end(&self, start_ns: u64) -> u64 {
        start_ns + self.len_secs() * NS
    }
}

/// Parses a UTCTimestamp `YYYYMMDD-HH:MM:SS[.f…]` into unix nanoseconds.
pub fn parse_utc_timestamp(v: &[u8]) -> Option<u64> {
    if v.len() < 17 || v[8] != b'-' || v[11] != b':' || v[14] != b':' {
        return None;
    }
    let num = |a: usize, b: usize| -> Option<u64> {
        let mut n = 0u64;
        for &c in &v[a..b] {
            if !c.is_ascii_digit() {
                return None;
            }
            n = n * 10 + (c - b'0') as u64;
        }
        Some(n)
    };
    let (y, m, d) = (num(0, 4)?, num(4, 6)?, num(6, 8)?);
    let (hh, mm, ss) = (num(9, 11)?, num(12, 14)?, num(15, 17)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    let mut frac_ns = 0u64;
    if v.len() > 17 {
        if v[17] != b'.' || v.len() == 18 || v.len() > 27 {
            return None;
        }
        let digits = v.len() - 18;
        frac_ns = num(18, v.len())? * 10u64.pow(9 - digits as u32);
    }
    // Days from civil (Howard Hinnant).
    let (y, m) = (y as i64, m as i64);
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    if days < 0 {
        return None;
    }
    let secs = days as u64 * DAY_SECS + hh * 3600 + mm * 60 + ss;
    Some(secs * NS + frac_ns)
}

/// Session-level MsgTypes that a resend replaces with a SequenceReset-GapFill (the FIX
/// session protocol's list: Heartbeat, TestRequest, ResendRequest, SequenceReset,
/// Logout, Logon). Reject (3) is not on the list: it is resent like an application
/// message.
fn gap_filled_on_resend(msg_type: &[u8]) -> bool {
    matches!(msg_type, b"0" | b"1" | b"2" | b"4" | b"5" | b"A")
}

/// Session-level (admin) MsgTypes, handled by the session and not delivered.
fn is_admin(msg_type: &[u8]) -> bool {
    matches!(msg_type, b"0" | b"1" | b"2" | b"3" | b"4" | b"5" | b"A")
}

/// The text FIX engines put in 58 for a SessionRejectReason.
fn reason_text(reason: u32) -> &'static str {
    match reason {
        0 => "Invalid tag number",
        1 => "Required tag missing",
        2 => "Tag not defined for this message type",
        3 => "Undefined tag",
        4 => "Tag specified without a value",
        5 => "Value is incorrect (out of range) for this tag",
        6 => "Incorrect data format for value",
        9 => "CompID problem",
        10 => "SendingTime accuracy problem",
        11 => "Invalid MsgType",
        13 => "Tag appears more than once",
        14 => "Tag specified out of required order",
        _ => "Other",
    }
}

/// Finds the value of the first `tag` in a raw frame (for frames the decoder refused).
fn scan_tag(frame: &[u8], tag: u32) -> Option<&[u8]> {
    let mut i = 0;
    while i < frame.len() {
        let end = frame[i..]
            .iter()
            .position(|&c| c == SOH)
            .map_or(frame.len(), |p| i + p);
        let field = &frame[i..end];
        if let Some(eq) = field.iter().position(|&c| c == b'=') {
            if codec::parse_u64(&field[..eq]) == Some(tag as u64) {
                return Some(&field[eq + 1..]);
            }
        }
        i = end + 1;
    }
    None
}

/// A message that arrived ahead of a gap.
#[derive(Debug)]
enum Queued {
    /// The whole frame, handled when its turn comes.
    Frame(Vec<u8>),
    /// Already acted on (a Logon or ResendRequest): its turn only consumes the number.
    Consumed,
}

/// A ResendRequest we sent and whose answer has not completed yet.
#[derive(Clone, Copy, Debug)]
struct PendingResend {
    /// The highest sequence number seen ahead of the gap; done once next_in passes it.
    hi: u64,
    /// A resent (PossDup) message or GapFill has arrived since we asked.
    answered: bool,
}

/// What is wrong with a message's header, found before its sequence number is handled.
#[derive(Clone, Copy, Debug)]
struct HeaderFault {
    reason: u32,
    tag: u32,
    /// The session logs out after the reject (SendingTime accuracy).
    fatal: bool,
}

/// One FIX session.
#[derive(Debug)]
pub struct Session {
    cfg: SessionConfig,
    state: State,
    seqs: SeqNums,
    enc: Encoder,
    /// Encoder for GapFills written between resent messages.
    genc: Encoder,
    /// Inbound decoder; taken out while a frame borrowed from it is handled.
    dec: Option<Decoder>,
    /// Decoder for stored messages being resent.
    rdec: Decoder,
    /// Receive buffer; taken out while its frames are handled.
    rx: Vec<u8>,
    /// Heartbeat interval in effect (ns); 0 = none.
    hb_ns: u64,
    last_sent_ns: u64,
    last_recv_ns: u64,
    /// When our outstanding TestRequest went out.
    test_req_ns: Option<u64>,
    test_req_counter: u64,
    logon_deadline: Option<u64>,
    logout_deadline: Option<u64>,
    queue: BTreeMap<u64, Queued>,
    resend: Option<PendingResend>,
    /// Opening of the schedule window the sequence numbers belong to.
    session_start: Option<u64>,
    max_latency_ns: u64,
}

impl Session {
    /// A session starting from `seqs` (1/1 when new, or restored from the journal).
    pub fn new(cfg: SessionConfig, seqs: SeqNums) -> Session {
        let enc = Encoder::new(&cfg.begin_string, ENCODER_CAPACITY);
        let genc = Encoder::new(&cfg.begin_string, 512);
        let hb_ns = cfg.heartbeat_secs as u64 * NS;
        Session {
            cfg,
            state: State::Disconnected,
            seqs,
            enc,
            genc,
            dec: Some(Decoder::new()),
            rdec: Decoder::new(),
            rx: Vec::with_capacity(64 * 1024),
            hb_ns,
            last_sent_ns: 0,
            last_recv_ns: 0,
            test_req_ns: None,
            test_req_counter: 0,
            logon_deadline: None,
            logout_deadline: None,
            queue: BTreeMap::new(),
            resend: None,
            session_start: None,
            max_latency_ns: DEFAULT_MAX_LATENCY_SECS as u64 * NS,
        }
    }
    /// The settings.
    pub fn config(&self) -> &SessionConfig {
        &self.cfg
    }
    /// Where it is.
    pub fn state(&self) -> State {
        self.state
    }
    /// Whether application messages may be sent.
    pub fn is_logged_on(&self) -> bool {
        self.state == State::Active
    }
    /// The sequence numbers now.
    pub fn seqs(&self) -> SeqNums {
        self.seqs
    }
    /// Overrides the sequence numbers (operator action or restore). Messages queued
    /// ahead of a gap and an outstanding ResendRequest are forgotten.
    pub fn set_seqs(&mut self, seqs: SeqNums) {
        self.seqs = seqs;
        self.queue.clear();
        self.resend = None;
    }
    /// The heartbeat interval in effect (the peer's for an acceptor once logged on).
    pub fn heartbeat_secs(&self) -> u64 {
        self.hb_ns / NS
    }
    /// How far an inbound SendingTime may be from `now` (QuickFIX's MaxLatency;
    /// 120 s by default); 0 turns the check off.
    pub fn set_max_latency_secs(&mut self, secs: u32) {
        self.max_latency_ns = secs as u64 * NS;
    }
    /// The opening (unix ns) of the schedule window the sequence numbers belong to, for
    /// the owner to journal beside them.
    pub fn session_start(&self) -> Option<u64> {
        self.session_start
    }
    /// Restores [`Session::session_start`] after a crash, so that a restart in a later
    /// window still performs the daily reset.
    pub fn set_session_start(&mut self, start_ns: Option<u64>) {
        self.session_start = start_ns;
    }
    /// Messages received ahead of a gap, waiting for it to be filled.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }
    /// Bytes buffered towards an incomplete frame.
    pub fn buffered(&self) -> usize {
        self.rx.len()
    }
    /// Whether a ResendRequest we sent is still being answered.
    pub fn resend_pending(&self) -> bool {
        self.resend.is_some()
    }

    /// A connection is up: an initiator sends Logon, an acceptor waits for one.
    pub fn on_connected(&mut self, now_ns: u64, io: &mut impl SessionIo) {
        self.clear_connection();
        if !self.check_window(now_ns, io) {
            io.event(SessionEvent::Disconnect("outside session window".into()));
            return;
        }
        self.state = State::LogonPending;
        self.last_recv_ns = now_ns;
        self.last_sent_ns = now_ns;
        self.logon_deadline = Some(now_ns + self.cfg.logon_timeout_secs as u64 * NS);
        self.hb_ns = self.cfg.heartbeat_secs as u64 * NS;
        if self.cfg.role == Role::Initiator {
            if self.cfg.reset_on_logon {
                self.reset_seqs(io);
            }
            let hb = self.cfg.heartbeat_secs as u64;
            let reset = self.cfg.reset_on_logon;
            self.send_admin(now_ns, b"A", io, |enc, cfg| {
                enc.uint(98, 0).uint(108, hb);
                if reset {
                    enc.flag(141, true);
                }
                if let Some(u) = &cfg.username {
                    enc.bytes(553, u.as_bytes());
                }
                if let Some(p) = &cfg.password {
                    enc.bytes(554, p.as_bytes());
                }
                if cfg.begin_string == "FIXT.1.1" {
                    if let Some(v) = &cfg.default_appl_ver_id {
                        enc.bytes(1137, v.as_bytes());
                    }
                }
            });
        }
    }

    /// Bytes arrived; every whole frame among them (and those buffered before) is handled.
    pub fn on_bytes(&mut self, now_ns: u64, bytes: &[u8], io: &mut impl SessionIo) {
        if self.state == State::Disconnected {
            return;
        }
        let mut rx = std::mem::take(&mut self.rx);
        let mut dec = self.dec.take().expect("decoder present between calls");
        rx.extend_from_slice(bytes);
        let mut pos = 0;
        let mut garbled = 0usize;
        let mut why = None;
        while self.state != State::Disconnected && pos < rx.len() {
            match codec::frame(&rx[pos..]) {
                Ok(n) => {
                    if garbled > 0 {
                        io.event(SessionEvent::Garbled(format!("{garbled} bytes: {why:?}")));
                        garbled = 0;
                    }
                    let f = &rx[pos..pos + n];
                    pos += n;
                    self.handle_frame(now_ns, f, &mut dec, io);
                }
                Err(FrameError::Incomplete) => break,
                Err(FrameError::Garbled { skip, why: w }) => {
                    garbled += skip.max(1);
                    why = Some(w);
                    pos += skip.max(1);
                }
            }
        }
        if garbled > 0 {
            io.event(SessionEvent::Garbled(format!("{garbled} bytes: {why:?}")));
        }
        let pos = pos.min(rx.len());
        rx.drain(..pos);
        if self.state == State::Disconnected {
            rx.clear();
        } else if rx.len() > MAX_RX_BYTES {
            rx.clear();
            self.disconnect("receive buffer overflow: no whole frame", io);
        }
        self.rx = rx;
        self.dec = Some(dec);
    }

    /// The connection is gone (either side closed it, or the owner did after a
    /// [`SessionEvent::Disconnect`]).
    pub fn on_disconnected(&mut self, now_ns: u64, io: &mut impl SessionIo) {
        let _ = now_ns;
        if self.state != State::Disconnected {
            self.state = State::Disconnected;
            self.clear_connection();
            if self.cfg.reset_on_disconnect {
                self.reset_seqs(io);
            }
        }
    }

    /// Time passed: heartbeats, test requests, logon/logout timeouts, schedule.
    pub fn on_timer(&mut self, now_ns: u64, io: &mut impl SessionIo) {
        match self.state {
            State::Disconnected => {
                self.check_window(now_ns, io);
            }
            State::LogonPending => {
                if !self.still_in_window(now_ns) {
                    self.disconnect("outside session window", io);
                } else if self.logon_deadline.is_some_and(|d| now_ns >= d) {
                    self.disconnect("logon timeout", io);
                }
            }
            State::Active => {
                if !self.still_in_window(now_ns) {
                    self.logout(now_ns, "end of session window", io);
                    return;
                }
                self.heartbeat_timers(now_ns, io);
            }
            State::LogoutPending => {
                if self.logout_deadline.is_some_and(|d| now_ns >= d) {
                    self.disconnect("logout timeout", io);
                }
            }
        }
    }

    /// The next instant `on_timer` has something to do, if any.
    pub fn next_deadline(&self) -> Option<u64> {
        let window_end = match (&self.cfg.schedule, self.session_start) {
            (Some(s), Some(start)) => Some(s.window_end(start)),
            _ => None,
        };
        let min = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (Some(x), Some(y)) => Some(x.min(y)),
            (x, None) => x,
            (None, y) => y,
        };
        match self.state {
            State::Disconnected => match (&self.cfg.schedule, self.session_start) {
                (Some(s), Some(start)) => s.next_start(start),
                _ => None,
            },
            State::LogonPending => min(self.logon_deadline, window_end),
            State::Active => {
                let mut d = window_end;
                if self.hb_ns > 0 {
                    d = min(d, Some(self.last_sent_ns + self.hb_ns));
                    let recv = match self.test_req_ns {
                        Some(t) => t + self.grace_ns(),
                        None => self.last_recv_ns + self.grace_ns(),
                    };
                    d = min(d, Some(recv));
                }
                d
            }
            State::LogoutPending => self.logout_deadline,
        }
    }

    /// Whether the schedule allows a connection at `now_ns` (always true without one).
    pub fn in_window(&self, now_ns: u64) -> bool {
        match &self.cfg.schedule {
            None => true,
            Some(s) => s.window_start(now_ns).is_some(),
        }
    }

    /// Sends an application message: the session writes the header (35, 49, 56, 34, 52),
    /// `body` writes the rest, then it is numbered, stored and sent. Returns its MsgSeqNum.
    pub fn send_app(
        &mut self,
        now_ns: u64,
        msg_type: &[u8],
        body: impl FnOnce(&mut Encoder),
        io: &mut impl SessionIo,
    ) -> Result<u64, SendError> {
        if self.state != State::Active {
            return Err(SendError::NotLoggedOn);
        }
        Ok(self.send_admin(now_ns, msg_type, io, |enc, _| body(enc)))
    }

    /// Sends a BusinessMessageReject (35=j) for the peer's message `ref_seq` of type
    /// `ref_msg_type` with BusinessRejectReason (380) `reason`.
    pub fn send_business_reject(
        &mut self,
        now_ns: u64,
        ref_seq: u64,
        ref_msg_type: &[u8],
        reason: u32,
        text: &str,
        io: &mut impl SessionIo,
    ) -> Result<u64, SendError> {
        self.send_app(
            now_ns,
            b"j",
            |enc| {
                enc.uint(45, ref_seq)
                    .bytes(372, ref_msg_type)
                    .uint(380, reason as u64);
                if !text.is_empty() {
                    enc.bytes(58, text.as_bytes());
                }
            },
            io,
        )
    }

    /// Starts the logout handshake (or, if not logged on, just disconnects).
    pub fn logout(&mut self, now_ns: u64, text: &str, io: &mut impl SessionIo) {
        match self.state {
            State::Disconnected | State::LogoutPending => {}
            State::LogonPending => self.disconnect(text, io),
            State::Active => {
                self.send_logout(now_ns, text, io);
                self.state = State::LogoutPending;
                self.logout_deadline = Some(now_ns + self.cfg.logout_timeout_secs as u64 * NS);
            }
        }
    }

    // ----- internals -----

    /// What is left of one connection is forgotten (not the sequence numbers).
    fn clear_connection(&mut self) {
        self.rx.clear();
        self.queue.clear();
        self.resend = None;
        self.test_req_ns = None;
        self.logon_deadline = None;
        self.logout_deadline = None;
    }

    fn reset_seqs(&mut self, io: &mut impl SessionIo) {
        let fresh = SeqNums {
            next_out: 1,
            next_in: 1,
        };
        self.queue.clear();
        self.resend = None;
        if self.seqs != fresh {
            self.seqs = fresh;
            io.event(SessionEvent::SeqReset(fresh));
        }
    }

    /// The schedule allows `now`; a new window resets both sequence numbers.
    fn check_window(&mut self, now_ns: u64, io: &mut impl SessionIo) -> bool {
        let Some(s) = &self.cfg.schedule else {
            return true;
        };
        match s.window_start(now_ns) {
            None => false,
            Some(ws) => {
                if self.session_start != Some(ws) {
                    if self.session_start.is_some() {
                        self.reset_seqs(io);
                    }
                    self.session_start = Some(ws);
                }
                true
            }
        }
    }

    /// Still inside the window this connection started in.
    fn still_in_window(&self, now_ns: u64) -> bool {
        match &self.cfg.schedule {
            None => true,
            Some(s) => {
                s.window_start(now_ns).is_some() && s.window_start(now_ns) == self.session_start
            }
        }
    }

    fn grace_ns(&self) -> u64 {
        self.hb_ns + self.hb_ns / 5
    }

    fn heartbeat_timers(&mut self, now_ns: u64, io: &mut impl SessionIo) {
        if self.hb_ns == 0 {
            return;
        }
        if let Some(t) = self.test_req_ns {
            if now_ns >= t + self.grace_ns() {
                self.disconnect("heartbeat timeout", io);
                return;
            }
        } else if now_ns >= self.last_recv_ns + self.grace_ns() {
            self.test_req_counter += 1;
            let id = format!("TEST{}", self.test_req_counter);
            self.send_admin(now_ns, b"1", io, |enc, _| {
                enc.bytes(112, id.as_bytes());
            });
            self.test_req_ns = Some(now_ns);
        }
        if now_ns >= self.last_sent_ns + self.hb_ns {
            self.send_admin(now_ns, b"0", io, |_, _| {});
        }
    }

    /// Numbers, stores and sends one message of ours.
    fn send_admin(
        &mut self,
        now_ns: u64,
        msg_type: &[u8],
        io: &mut impl SessionIo,
        body: impl FnOnce(&mut Encoder, &SessionConfig),
    ) -> u64 {
        let seq = self.seqs.next_out;
        let cfg = &self.cfg;
        self.enc
            .start(msg_type)
            .bytes(49, cfg.sender_comp_id.as_bytes())
            .bytes(56, cfg.target_comp_id.as_bytes())
            .uint(34, seq)
            .timestamp(52, now_ns, cfg.micros);
        body(&mut self.enc, cfg);
        let frame = self.enc.finish();
        io.store(seq, frame);
        io.send(frame);
        self.seqs.next_out = seq + 1;
        self.last_sent_ns = now_ns;
        seq
    }

    fn send_logout(&mut self, now_ns: u64, text: &str, io: &mut impl SessionIo) {
        self.send_admin(now_ns, b"5", io, |enc, _| {
            if !text.is_empty() {
                enc.bytes(58, text.as_bytes());
            }
        });
    }

    /// The owner must drop the connection: report it and forget the connection.
    fn disconnect(&mut self, why: &str, io: &mut impl SessionIo) {
        if self.state == State::Disconnected {
            return;
        }
        self.state = State::Disconnected;
        self.clear_connection();
        io.event(SessionEvent::Disconnect(why.to_string()));
        if self.cfg.reset_on_disconnect {
            self.reset_seqs(io);
        }
    }

    fn logout_and_disconnect(&mut self, now_ns: u64, why: &str, io: &mut impl SessionIo) {
        self.send_logout(now_ns, why, io);
        self.disconnect(why, io);
    }

    fn send_reject(
        &mut self,
        now_ns: u64,
        (ref_seq, ref_tag, ref_msg_type): (u64, Option<u32>, &[u8]),
        reason: u32,
        text: &str,
        io: &mut impl SessionIo,
    ) {
        let with_reason = self.cfg.begin_string.as_str() >= "FIX.4.2"
            || self.cfg.begin_string.starts_with("FIXT");
        self.send_admin(now_ns, b"3", io, |enc, _| {
            enc.uint(45, ref_seq);
            if with_reason {
                if let Some(t) = ref_tag {
                    enc.uint(371, t as u64);
                }
                if !ref_msg_type.is_empty() {
                    enc.bytes(372, ref_msg_type);
                }
                enc.uint(373, reason as u64);
            }
            enc.bytes(58, text.as_bytes());
        });
        io.event(SessionEvent::RejectSent {
            ref_seq,
            reason,
            text: text.to_string(),
        });
    }

    /// Sends a ResendRequest from next_in to infinity, unless one already covers `seq`.
    fn on_gap(&mut self, now_ns: u64, seq: u64, poss_dup: bool, io: &mut impl SessionIo) {
        if let Some(r) = &mut self.resend {
            // A live message still ahead after the peer answered means the answer did
            // not close the gap: ask again. Otherwise the outstanding request covers it.
            if !r.answered || poss_dup {
                r.hi = r.hi.max(seq);
                return;
            }
        }
        let from = self.seqs.next_in;
        self.send_admin(now_ns, b"2", io, |enc, _| {
            enc.uint(7, from).uint(16, 0);
        });
        self.resend = Some(PendingResend {
            hi: seq,
            answered: false,
        });
        io.event(SessionEvent::ResendRequested { from, to: 0 });
    }

    fn enqueue(&mut self, now_ns: u64, seq: u64, q: Queued, io: &mut impl SessionIo) -> bool {
        if self.queue.len() >= MAX_QUEUED && !self.queue.contains_key(&seq) {
            self.logout_and_disconnect(now_ns, "too many messages queued ahead of a gap", io);
            return false;
        }
        self.queue.insert(seq, q);
        true
    }

    fn handle_frame(
        &mut self,
        now_ns: u64,
        frame: &[u8],
        dec: &mut Decoder,
        io: &mut impl SessionIo,
    ) {
        self.process(now_ns, frame, dec, io, false);
        self.drain_queue(now_ns, dec, io);
    }

    /// Handles queued messages whose turn has come.
    fn drain_queue(&mut self, now_ns: u64, dec: &mut Decoder, io: &mut impl SessionIo) {
        while self.state != State::Disconnected {
            while let Some((&k, _)) = self.queue.first_key_value() {
                if k < self.seqs.next_in {
                    self.queue.pop_first();
                } else {
                    break;
                }
            }
            match self.queue.first_key_value() {
                Some((&k, _)) if k == self.seqs.next_in => {
                    let (_, q) = self.queue.pop_first().expect("first entry");
                    match q {
                        Queued::Consumed => self.seqs.next_in += 1,
                        Queued::Frame(v) => self.process(now_ns, &v, dec, io, true),
                    }
                }
                _ => break,
            }
        }
        if let Some(r) = self.resend {
            if self.seqs.next_in > r.hi && self.queue.is_empty() {
                self.resend = None;
            }
        }
    }

    fn on_decode_error(
        &mut self,
        now_ns: u64,
        frame: &[u8],
        e: DecodeError,
        io: &mut impl SessionIo,
    ) {
        let (reason, tag) = match e {
            DecodeError::Malformed { at } => {
                io.event(SessionEvent::Garbled(format!(
                    "malformed field at byte {at}"
                )));
                return;
            }
            DecodeError::InvalidTag { .. } => (0, None),
            DecodeError::EmptyValue { tag } => (4, Some(tag)),
            DecodeError::OutOfOrder { tag } => (14, Some(tag)),
            DecodeError::TooManyFields => (
                if self.cfg.begin_string == "FIX.4.2" {
                    5
                } else {
                    99
                },
                None,
            ),
        };
        let msg_type = scan_tag(frame, 35).unwrap_or(b"");
        if self.state == State::LogonPending {
            self.disconnect("invalid first message: not a valid Logon", io);
            return;
        }
        let Some(seq) = scan_tag(frame, 34).and_then(codec::parse_u64) else {
            self.logout_and_disconnect(now_ns, "MsgSeqNum(34) missing", io);
            return;
        };
        let poss_dup = scan_tag(frame, 43) == Some(b"Y");
        if seq > self.seqs.next_in {
            // Not queued: the resend brings it again, and it is rejected in its turn.
            self.on_gap(now_ns, seq, poss_dup, io);
        } else if seq == self.seqs.next_in {
            self.seqs.next_in += 1;
            if poss_dup {
                if let Some(r) = &mut self.resend {
                    r.answered = true;
                }
            }
            let text = reason_text(reason);
            self.send_reject(now_ns, (seq, tag, msg_type), reason, text, io);
        }
    }

    /// Handles one whole frame (live, or from the queue when `queued`).
    fn process(
        &mut self,
        now_ns: u64,
        frame: &[u8],
        dec: &mut Decoder,
        io: &mut impl SessionIo,
        queued: bool,
    ) {
        if !queued {
            self.last_recv_ns = now_ns;
            self.test_req_ns = None;
        }
        let msg = match dec.decode(frame) {
            Ok(m) => m,
            Err(e) => return self.on_decode_error(now_ns, frame, e, io),
        };
        let mt = msg.msg_type();
        if msg.get(8) != Some(self.cfg.begin_string.as_bytes()) {
            let text = format!(
                "Incorrect BeginString: expected {} but received {}",
                self.cfg.begin_string,
                String::from_utf8_lossy(msg.get(8).unwrap_or(b""))
            );
            self.logout_and_disconnect(now_ns, &text, io);
            return;
        }
        if self.state == State::LogonPending && mt != b"A" {
            if mt == b"5" {
                let text = String::from_utf8_lossy(msg.get(58).unwrap_or(b"")).into_owned();
                self.disconnect(&format!("logon refused: {text}"), io);
            } else {
                self.disconnect("first message not a Logon", io);
            }
            return;
        }
        let seq = msg.seq();
        let comp_tag = if msg.get(49) != Some(self.cfg.target_comp_id.as_bytes()) {
            Some(49)
        } else if msg.get(56) != Some(self.cfg.sender_comp_id.as_bytes()) {
            Some(56)
        } else {
            None
        };
        if let Some(tag) = comp_tag {
            if mt != b"A" {
                let ref_seq = seq.unwrap_or(0);
                if seq == Some(self.seqs.next_in) {
                    self.seqs.next_in += 1;
                }
                self.send_reject(now_ns, (ref_seq, Some(tag), mt), 9, reason_text(9), io);
            }
            self.logout_and_disconnect(now_ns, "CompID problem", io);
            return;
        }
        let Some(seq) = seq else {
            self.logout_and_disconnect(now_ns, "MsgSeqNum(34) missing", io);
            return;
        };
        let poss_dup = msg.get(43) == Some(b"Y");
        let fault = self.header_fault(now_ns, &msg, poss_dup, queued);
        if mt == b"A" {
            self.on_logon(now_ns, &msg, seq, poss_dup, fault, io);
            return;
        }
        if mt == b"5" {
            self.on_logout(now_ns, &msg, seq, io);
            return;
        }
        if let Some(f) = fault.filter(|f| f.fatal) {
            // SendingTime accuracy: reject, log out and wait for the answer. The message
            // is still consumed (and an application message still delivered, flagged).
            let expected = seq == self.seqs.next_in;
            if expected {
                self.seqs.next_in += 1;
            }
            self.send_reject(
                now_ns,
                (seq, Some(f.tag), mt),
                f.reason,
                reason_text(f.reason),
                io,
            );
            if expected && !is_admin(mt) {
                io.app(&msg, Err(f.reason));
            }
            self.logout(now_ns, reason_text(f.reason), io);
            return;
        }
        if mt == b"4" && msg.get(123) != Some(b"Y") {
            self.on_sequence_reset(now_ns, &msg, seq, io);
            return;
        }
        if seq > self.seqs.next_in {
            if mt == b"2" {
                // Served now (a peer waiting for our resend must not wait for its own);
                // its number is consumed when its turn comes.
                self.serve_resend(now_ns, &msg, seq, io);
                if self.state == State::Disconnected
                    || !self.enqueue(now_ns, seq, Queued::Consumed, io)
                {
                    return;
                }
            } else if !self.enqueue(now_ns, seq, Queued::Frame(frame.to_vec()), io) {
                return;
            }
            self.on_gap(now_ns, seq, poss_dup, io);
            return;
        }
        if seq < self.seqs.next_in {
            if !poss_dup {
                let text = format!(
                    "MsgSeqNum too low, expecting {} but received {}",
                    self.seqs.next_in, seq
                );
                self.logout_and_disconnect(now_ns, &text, io);
            }
            // A PossDup copy of what we already have: ignored, never delivered twice.
            return;
        }
        // In sequence.
        self.seqs.next_in += 1;
        if let Some(r) = &mut self.resend {
            if poss_dup || mt == b"4" {
                r.answered = true;
            }
        }
        if let Some(f) = fault {
            self.send_reject(
                now_ns,
                (seq, Some(f.tag), mt),
                f.reason,
                reason_text(f.reason),
                io,
            );
            if !is_admin(mt) {
                io.app(&msg, Err(f.reason));
            }
            return;
        }
        match mt {
            b"0" => {}
            b"1" => match msg.get(112) {
                Some(id) => {
                    self.send_admin(now_ns, b"0", io, |enc, _| {
                        enc.bytes(112, id);
                    });
                }
                None => self.send_reject(now_ns, (seq, Some(112), mt), 1, reason_text(1), io),
            },
            b"2" => self.serve_resend(now_ns, &msg, seq, io),
            b"3" => io.event(SessionEvent::PeerRejected {
                ref_seq: msg.get_u64(45).unwrap_or(0),
                msg_type: "3".into(),
                text: String::from_utf8_lossy(msg.get(58).unwrap_or(b"")).into_owned(),
            }),
            b"4" => self.on_gap_fill(now_ns, &msg, seq, io),
            _ => {
                if mt == b"j" {
                    io.event(SessionEvent::PeerRejected {
                        ref_seq: msg.get_u64(45).unwrap_or(0),
                        msg_type: "j".into(),
                        text: String::from_utf8_lossy(msg.get(58).unwrap_or(b"")).into_owned(),
                    });
                }
                let verdict = match &self.cfg.dictionary {
                    Some(d) => d.validate(&msg),
                    None => Ok(()),
                };
                match verdict {
                    Ok(()) => io.app(&msg, Ok(())),
                    Err(inv) => {
                        self.send_reject(now_ns, (seq, inv.ref_tag, mt), inv.reason, inv.text, io);
                        io.app(&msg, Err(inv.reason));
                    }
                }
            }
        }
    }

    /// SendingTime and OrigSendingTime checks.
    fn header_fault(
        &self,
        now_ns: u64,
        msg: &Msg<'_>,
        poss_dup: bool,
        queued: bool,
    ) -> Option<HeaderFault> {
        let fault = |reason, tag, fatal| Some(HeaderFault { reason, tag, fatal });
        let sent = match msg.get(52) {
            None => return fault(1, 52, false),
            Some(v) => match parse_utc_timestamp(v) {
                None => return fault(6, 52, false),
                Some(t) => t,
            },
        };
        if !queued && self.max_latency_ns > 0 && now_ns.abs_diff(sent) > self.max_latency_ns {
            return fault(10, 52, true);
        }
        if poss_dup && msg.msg_type() != b"4" {
            match msg.get(122) {
                None => return fault(1, 122, false),
                Some(v) => match parse_utc_timestamp(v) {
                    None => return fault(6, 122, false),
                    Some(orig) if orig > sent => return fault(10, 122, true),
                    Some(_) => {}
                },
            }
        }
        None
    }

    fn on_logon(
        &mut self,
        now_ns: u64,
        msg: &Msg<'_>,
        seq: u64,
        poss_dup: bool,
        fault: Option<HeaderFault>,
        io: &mut impl SessionIo,
    ) {
        if self.state != State::LogonPending {
            if seq < self.seqs.next_in && poss_dup {
                return; // a resent copy of the Logon
            }
            self.logout_and_disconnect(now_ns, "unexpected Logon while logged on", io);
            return;
        }
        if let Some(f) = fault {
            let text = format!("Logon refused: {}", reason_text(f.reason));
            self.logout_and_disconnect(now_ns, &text, io);
            return;
        }
        let peer_reset = msg.get(141) == Some(b"Y");
        let peer_hb = msg.get_u64(108);
        let mut reset_out = false;
        match self.cfg.role {
            Role::Acceptor => {
                let Some(hb) = peer_hb else {
                    self.logout_and_disconnect(now_ns, "HeartBtInt(108) missing", io);
                    return;
                };
                if peer_reset || self.cfg.reset_on_logon {
                    self.reset_seqs(io);
                    reset_out = true;
                }
                self.hb_ns = hb * NS;
            }
            Role::Initiator => {
                if peer_reset && self.seqs.next_in != 1 {
                    self.seqs.next_in = 1;
                    self.queue.clear();
                    self.resend = None;
                    io.event(SessionEvent::SeqReset(self.seqs));
                }
            }
        }
        if seq < self.seqs.next_in {
            let text = format!(
                "MsgSeqNum too low, expecting {} but received {}",
                self.seqs.next_in, seq
            );
            self.logout_and_disconnect(now_ns, &text, io);
            return;
        }
        let too_high = seq > self.seqs.next_in;
        if self.cfg.role == Role::Acceptor {
            let hb = self.hb_ns / NS;
            self.send_admin(now_ns, b"A", io, |enc, cfg| {
                enc.uint(98, 0).uint(108, hb);
                if reset_out {
                    enc.flag(141, true);
                }
                if cfg.begin_string == "FIXT.1.1" {
                    if let Some(v) = &cfg.default_appl_ver_id {
                        enc.bytes(1137, v.as_bytes());
                    }
                }
            });
        }
        self.state = State::Active;
        self.logon_deadline = None;
        io.event(SessionEvent::LoggedOn);
        if too_high {
            if self.enqueue(now_ns, seq, Queued::Consumed, io) {
                self.on_gap(now_ns, seq, poss_dup, io);
            }
        } else {
            self.seqs.next_in += 1;
        }
    }

    fn on_logout(&mut self, now_ns: u64, msg: &Msg<'_>, seq: u64, io: &mut impl SessionIo) {
        if seq == self.seqs.next_in {
            self.seqs.next_in += 1;
        }
        match self.state {
            State::LogoutPending => io.event(SessionEvent::LoggedOut),
            State::Active => {
                self.send_logout(now_ns, "", io);
                io.event(SessionEvent::LoggedOut);
            }
            _ => {}
        }
        if self.cfg.reset_on_logout {
            self.reset_seqs(io);
        }
        let why = match msg.get(58) {
            Some(t) if !t.is_empty() => format!("logged out: {}", String::from_utf8_lossy(t)),
            _ => "logged out".to_string(),
        };
        self.disconnect(&why, io);
    }

    /// SequenceReset in Reset mode: its own MsgSeqNum is not checked.
    fn on_sequence_reset(&mut self, now_ns: u64, msg: &Msg<'_>, seq: u64, io: &mut impl SessionIo) {
        let Some(new) = msg.get_u64(36) else {
            self.send_reject(now_ns, (seq, Some(36), b"4"), 1, reason_text(1), io);
            return;
        };
        if new > self.seqs.next_in {
            self.seqs.next_in = new;
            io.event(SessionEvent::SeqReset(self.seqs));
        } else if new < self.seqs.next_in {
            let text = format!(
                "Value is incorrect (out of range) for this tag: NewSeqNo {} below expected {}",
                new, self.seqs.next_in
            );
            self.send_reject(now_ns, (seq, Some(36), b"4"), 5, &text, io);
        }
    }

    /// SequenceReset-GapFill in its turn (next_in already counts it).
    fn on_gap_fill(&mut self, now_ns: u64, msg: &Msg<'_>, seq: u64, io: &mut impl SessionIo) {
        let Some(new) = msg.get_u64(36) else {
            self.send_reject(now_ns, (seq, Some(36), b"4"), 1, reason_text(1), io);
            return;
        };
        if new > self.seqs.next_in {
            self.seqs.next_in = new;
            io.event(SessionEvent::SeqReset(self.seqs));
        } else if new <= seq {
            let text = format!(
                "Value is incorrect (out of range) for this tag: NewSeqNo {new} not above MsgSeqNum {seq}"
            );
            self.send_reject(now_ns, (seq, Some(36), b"4"), 5, &text, io);
        }
    }

    /// Serves the peer's ResendRequest from the store, all of it before returning.
    fn serve_resend(&mut self, now_ns: u64, msg: &Msg<'_>, seq: u64, io: &mut impl SessionIo) {
        let (Some(begin), Some(end)) = (msg.get_u64(7), msg.get_u64(16)) else {
            let tag = if msg.get_u64(7).is_none() { 7 } else { 16 };
            self.send_reject(now_ns, (seq, Some(tag), b"2"), 1, reason_text(1), io);
            return;
        };
        let last = self.seqs.next_out - 1;
        let begin = begin.max(1);
        let end = if end == 0 || end > last { last } else { end };
        if begin > end {
            return;
        }
        let mut run: Option<u64> = None;
        for s in begin..=end {
            if self.prepare_resend(now_ns, s, io) {
                if let Some(g) = run.take() {
                    self.send_gap_fill(now_ns, g, s, io);
                }
                io.send(self.enc.frame());
                self.last_sent_ns = now_ns;
            } else if run.is_none() {
                run = Some(s);
            }
        }
        if let Some(g) = run {
            self.send_gap_fill(now_ns, g, end + 1, io);
        }
        io.event(SessionEvent::Resent {
            from: begin,
            to: end,
        });
    }

    /// Re-encodes stored message `s` into the encoder with PossDupFlag and
    /// OrigSendingTime. False when it must be gap filled instead: missing, unreadable,
    /// or a session-level message.
    fn prepare_resend(&mut self, now_ns: u64, s: u64, io: &impl SessionIo) -> bool {
        let Some(stored) = io.stored(s) else {
            return false;
        };
        let Ok(m) = self.rdec.decode(stored) else {
            return false;
        };
        let mt = m.msg_type();
        if gap_filled_on_resend(mt) || m.seq() != Some(s) {
            return false;
        }
        let cfg = &self.cfg;
        let enc = &mut self.enc;
        enc.start(mt)
            .bytes(49, cfg.sender_comp_id.as_bytes())
            .bytes(56, cfg.target_comp_id.as_bytes())
            .uint(34, s)
            .flag(43, true)
            .timestamp(52, now_ns, cfg.micros);
        match m.get(52) {
            Some(orig) => enc.bytes(122, orig),
            None => enc.timestamp(122, now_ns, cfg.micros),
        };
        for f in m.fields() {
            if !matches!(f.tag, 8 | 9 | 35 | 49 | 56 | 34 | 43 | 52 | 122 | 10) {
                enc.bytes(f.tag, f.value);
            }
        }
        enc.finish();
        true
    }

    fn send_gap_fill(&mut self, now_ns: u64, seq: u64, new_seq: u64, io: &mut impl SessionIo) {
        let cfg = &self.cfg;
        self.genc
            .start(b"4")
            .bytes(49, cfg.sender_comp_id.as_bytes())
            .bytes(56, cfg.target_comp_id.as_bytes())
            .uint(34, seq)
            .flag(43, true)
            .timestamp(52, now_ns, cfg.micros)
            .timestamp(122, now_ns, cfg.micros)
            .flag(123, true)
            .uint(36, new_seq);
        let frame = self.genc.finish();
        io.send(frame);
        self.last_sent_ns = now_ns;
    }
}
