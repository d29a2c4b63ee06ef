//! The FIX session layer (R-VEN-2): one state machine for initiator and acceptor, fed
//! bytes and time, emitting bytes and events. No sockets and no clock inside, so it is
//! tested without a network and replayed from the journal.
//!
//! Behaviour follows the FIX session protocol, and QuickFIX where the protocol leaves
//! room (its acceptance suite, `tests/quickfix_acceptance.rs`, passes against the
//! simulator built on this session):
//! - Every message we number is `store`d before it is `send`, admin ones included, so
//!   the store answers for every number of the current sequence. A reset of both
//!   numbers is told to the owner at once ([`SessionIo::reset`]), so a ResendRequest
//!   handled right after it, in the same read, never sees what came before the reset.
//!   Resends and GapFills reuse old numbers and are not stored again.
//! - Header fields go out in tag order after 8, 9, 35 (34, 43, 49, 52, 56, then 97, 115,
//!   122, 128 …): counterparties compare field by field.
//! - Serving a ResendRequest: application messages the owner agrees to
//!   ([`SessionIo::may_resend`]) and Reject (35=3) are resent with PossDupFlag=Y,
//!   OrigSendingTime = their SendingTime and a new SendingTime; Heartbeat, TestRequest,
//!   ResendRequest, SequenceReset, Logout and Logon (the protocol's list), application
//!   messages the owner refuses, and numbers missing from the store are collapsed into
//!   SequenceReset-GapFills. The whole range is sent within the call, so it never
//!   interleaves with live traffic. A ResendRequest beyond a gap is served at once
//!   (both sides may be waiting for each other) and its number consumed when its turn
//!   comes.
//! - MsgSeqNum too high: the message is queued (bounded, [`MAX_QUEUED`]) and one
//!   ResendRequest `next_in..0` is sent; further messages beyond the gap do not send
//!   another, unless a live (non-PossDup) message is still ahead after the peer has
//!   started answering (the answer did not close the gap). Queued messages are handled
//!   in order as the gap fills; a reset, a disconnect or [`Session::set_seqs`] drops
//!   the queue and the pending request.
//! - MsgSeqNum too low: without PossDupFlag, Logout and disconnect; with it, the copy is
//!   ignored once its OrigSendingTime checks out (missing: reject 373=1; later than its
//!   SendingTime: reject 373=10 and Logout).
//! - A message in sequence is validated (the dictionary if the session has one — admin
//!   messages too —, else value presence and SendingTime), then its SendingTime accuracy
//!   and CompIDs are checked; a failure rejects it (35=3, reverse-routed: 115/116/144 of
//!   the message come back as 128/129/145 and the other way round), consumes its number,
//!   and still delivers an application message to `app` with `Err(reason)`: a fill is
//!   never lost. SendingTime accuracy (373=10) and CompID (373=9) problems also log out
//!   and wait for the answer; a CompID problem's message is not delivered (it is not
//!   ours). A missing SenderCompID or TargetCompID is a missing required tag (373=1).
//! - Until a Logon is accepted nothing is answered: a bad Logon (not valid, wrong
//!   CompIDs or BeginString, SendingTime off, no DefaultApplVerID on FIXT.1.1, garbled)
//!   closes the connection. A Logon with ResetSeqNumFlag=Y while logged on resets both
//!   numbers and is answered with one.
//! - Garbled frames (wrong BodyLength or CheckSum, 8/9/35 out of order, a field without
//!   `=`) are ignored, no number consumed; a garbled Logon disconnects. Other decoder
//!   errors are rejected: 373=0 with the bad tag as RefTagID, or 99 "Other" for too
//!   many fields.
//! - A Logout is answered (or completes ours) whatever its MsgSeqNum; its number is
//!   consumed only when it is the expected one. A message with another BeginString is
//!   answered with a Logout "Incorrect BeginString".
//! - Heartbeats: a TestRequest (TestReqID `TEST`) after HeartBtInt + 20 % of silence, a
//!   disconnect after another HeartBtInt + 20 % without an answer.
//! - Schedule: a connection is refused outside the window; an Active session logs out
//!   when its window ends; the first activity (or timer) in a new window resets both
//!   numbers to 1 ([`Session::session_start`] is the window the numbers belong to; journal
//!   it beside them and restore it with [`Session::set_session_start`]).

use super::codec::{self, scan_tag, DecodeError, Decoder, Encoder, Field, FrameError, Msg};
use super::dictionary::Dictionary;
use super::reject::SessionRejectReason;
use super::time::parse_utc_timestamp;
use super::{msg_type, tag};
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
        /// RefSeqNum (0 when the message had none).
        ref_seq: u64,
        /// SessionRejectReason (373).
        reason: SessionRejectReason,
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
    /// The sequence numbers were just reset to `seqs` (both to 1, or the peer's to 1 when
    /// a broker answers our Logon with ResetSeqNumFlag): forget every stored message and
    /// record the numbers now. Called at the moment of the reset, before anything after
    /// it in the same read is handled, so a ResendRequest right behind a reset Logon is
    /// served from the new sequence only.
    fn reset(&mut self, seqs: SeqNums);
    /// Whether stored application message `seq` may be sent again in answer to a
    /// ResendRequest; refused ones are gap-filled like admin messages (a broker that
    /// does not de-duplicate must not get an old order twice).
    fn may_resend(&mut self, seq: u64, msg: &Msg<'_>) -> bool {
        let _ = (seq, msg);
        true
    }
    /// An application message, delivered in sequence order exactly once (a PossDup
    /// copy of one already delivered is not delivered again). `valid` is Err with the
    /// reject reason when it failed validation and a 35=3 was sent for it: it is still
    /// delivered, so an execution is never lost to validation.
    fn app(&mut self, msg: &Msg<'_>, valid: Result<(), SessionRejectReason>);
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

/// Routing fields a reply carries back: 115→128, 116→129, 144→145 and the other way
/// round (QuickFIX's reverse route), empty ones left out.
const REVERSE_ROUTE: [(u32, u32); 6] = [
    (tag::ON_BEHALF_OF_COMP_ID, tag::DELIVER_TO_COMP_ID),
    (tag::ON_BEHALF_OF_SUB_ID, tag::DELIVER_TO_SUB_ID),
    (tag::ON_BEHALF_OF_LOCATION_ID, tag::DELIVER_TO_LOCATION_ID),
    (tag::DELIVER_TO_COMP_ID, tag::ON_BEHALF_OF_COMP_ID),
    (tag::DELIVER_TO_SUB_ID, tag::ON_BEHALF_OF_SUB_ID),
    (tag::DELIVER_TO_LOCATION_ID, tag::ON_BEHALF_OF_LOCATION_ID),
];

/// The reverse route of a message, as header fields sorted by tag, from a lookup of
/// its fields (a decoded message or a raw frame).
fn reverse_route<'a>(get: impl Fn(u32) -> Option<&'a [u8]>) -> ([Field<'a>; 6], usize) {
    let mut out = [Field { tag: 0, value: b"" }; 6];
    let mut n = 0;
    for (from, to) in REVERSE_ROUTE {
        if let Some(v) = get(from).filter(|v| !v.is_empty()) {
            out[n] = Field { tag: to, value: v };
            n += 1;
        }
    }
    out[..n].sort_by_key(|f| f.tag);
    (out, n)
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

/// A reason to reject a message and the RefTagID (371) to name, if any.
#[derive(Clone, Copy, Debug)]
struct Fault {
    reason: SessionRejectReason,
    /// Signed: a reject about an invalid tag names it as it came (`0`, `-1`).
    tag: Option<i64>,
}

impl Fault {
    fn new(reason: SessionRejectReason, tag: Option<u32>) -> Fault {
        Fault {
            reason,
            tag: tag.map(i64::from),
        }
    }
}

/// What a reject refers to: the message's MsgSeqNum, MsgType and reverse route.
struct Ref<'a> {
    seq: Option<u64>,
    msg_type: &'a [u8],
    route: &'a [Field<'a>],
}

/// The TestReqID of our TestRequests: fixed, as QuickFIX's is (its acceptance tests read
/// it back); any message from the peer answers it anyway.
const TEST_REQ_ID: &[u8] = b"TEST";

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
    /// A stored message being resent, copied out of the store so the owner can be asked
    /// about it.
    resend_buf: Vec<u8>,
    /// Receive buffer; taken out while its frames are handled.
    rx: Vec<u8>,
    /// Bytes dropped because they began no frame, not reported yet.
    skipped: usize,
    /// Heartbeat interval in effect (ns); 0 = none.
    hb_ns: u64,
    last_sent_ns: u64,
    last_recv_ns: u64,
    /// When our outstanding TestRequest went out.
    test_req_ns: Option<u64>,
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
            resend_buf: Vec::new(),
            rx: Vec::with_capacity(64 * 1024),
            skipped: 0,
            hb_ns,
            last_sent_ns: 0,
            last_recv_ns: 0,
            test_req_ns: None,
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
            self.send_admin(now_ns, msg_type::LOGON, io, |enc, cfg| {
                enc.uint(tag::ENCRYPT_METHOD, 0).uint(tag::HEART_BT_INT, hb);
                if reset {
                    enc.flag(tag::RESET_SEQ_NUM_FLAG, true);
                }
                if let Some(u) = &cfg.username {
                    enc.bytes(tag::USERNAME, u.as_bytes());
                }
                if let Some(p) = &cfg.password {
                    enc.bytes(tag::PASSWORD, p.as_bytes());
                }
                if cfg.begin_string == "FIXT.1.1" {
                    if let Some(v) = &cfg.default_appl_ver_id {
                        enc.bytes(tag::DEFAULT_APPL_VER_ID, v.as_bytes());
                    }
                }
            });
        }
    }

    /// Bytes arrived; every whole frame among them (and those buffered before) is handled,
    /// one after the other, each with all its effects before the next.
    pub fn on_bytes(&mut self, now_ns: u64, bytes: &[u8], io: &mut impl SessionIo) {
        if self.state == State::Disconnected {
            return;
        }
        let mut rx = std::mem::take(&mut self.rx);
        let mut dec = self.dec.take().expect("decoder present between calls");
        rx.extend_from_slice(bytes);
        let mut pos = 0;
        while self.state != State::Disconnected && pos < rx.len() {
            match codec::frame(&rx[pos..]) {
                Ok(n) => {
                    self.report_skipped(io);
                    let f = &rx[pos..pos + n];
                    pos += n;
                    self.handle_frame(now_ns, f, &mut dec, io);
                }
                Err(FrameError::Incomplete) => break,
                Err(FrameError::Garbled {
                    skip,
                    why: codec::Garble::NoBeginString,
                }) => {
                    // Bytes that begin no frame: counted until the next frame shows, so
                    // the report is the same however the bytes were read.
                    let skip = skip.clamp(1, rx.len() - pos);
                    self.skipped += skip;
                    pos += skip;
                }
                Err(FrameError::Garbled { skip, why }) => {
                    self.report_skipped(io);
                    let skip = skip.clamp(1, rx.len() - pos);
                    let frame = &rx[pos..pos + skip];
                    pos += skip;
                    io.event(SessionEvent::Garbled(format!("{skip} bytes: {why:?}")));
                    // A frame that is whole but wrong may still say it is a Logon: one
                    // that is not valid ends the connection.
                    if scan_tag(frame, tag::MSG_TYPE) == Some(msg_type::LOGON) {
                        self.disconnect("Logon message is not valid", io);
                    }
                }
            }
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

    /// Reports the bytes skipped since the last frame, if any.
    fn report_skipped(&mut self, io: &mut impl SessionIo) {
        if self.skipped > 0 {
            io.event(SessionEvent::Garbled(format!(
                "{} bytes before a frame",
                self.skipped
            )));
            self.skipped = 0;
        }
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
                    let next = match self.test_req_ns {
                        Some(t) => t + self.grace_ns(),
                        None => (self.last_sent_ns + self.hb_ns)
                            .min(self.last_recv_ns + self.grace_ns()),
                    };
                    d = min(d, Some(next));
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

    /// Sends an application message: the session writes the header (35, 34, 49, 52, 56),
    /// `body` writes the rest — in tag order, as counterparties expect —, then it is
    /// numbered, stored and sent. Returns its MsgSeqNum.
    pub fn send_app(
        &mut self,
        now_ns: u64,
        msg_type: &[u8],
        body: impl FnOnce(&mut Encoder),
        io: &mut impl SessionIo,
    ) -> Result<u64, SendError> {
        self.send_app_with_header(now_ns, msg_type, &[], body, io)
    }

    /// [`Session::send_app`] with more header fields (PossResend 97, OnBehalfOfCompID
    /// 115, DeliverToCompID 128 …), sorted by tag; the session merges them with its own
    /// in tag order. 8, 9, 35, 34, 43, 49, 52, 56 and 122 among them are the session's
    /// and are left out.
    pub fn send_app_with_header(
        &mut self,
        now_ns: u64,
        msg_type: &[u8],
        header: &[Field<'_>],
        body: impl FnOnce(&mut Encoder),
        io: &mut impl SessionIo,
    ) -> Result<u64, SendError> {
        if self.state != State::Active {
            return Err(SendError::NotLoggedOn);
        }
        Ok(self.send_numbered(now_ns, msg_type, header, io, |enc, _| body(enc)))
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
        let appl = (self.cfg.begin_string == "FIXT.1.1")
            .then(|| self.cfg.default_appl_ver_id.clone())
            .flatten();
        self.send_app(
            now_ns,
            msg_type::BUSINESS_MESSAGE_REJECT,
            |enc| {
                enc.uint(tag::REF_SEQ_NUM, ref_seq);
                if !text.is_empty() {
                    enc.bytes(tag::TEXT, text.as_bytes());
                }
                enc.bytes(tag::REF_MSG_TYPE, ref_msg_type)
                    .uint(tag::BUSINESS_REJECT_REASON, reason as u64);
                // QuickFIX carries its DefaultApplVerID in the body of its business
                // rejects on FIXT sessions; counterparties built on it expect it there.
                if let Some(v) = &appl {
                    enc.bytes(tag::DEFAULT_APPL_VER_ID, v.as_bytes());
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
        self.skipped = 0;
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
        io.reset(fresh);
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
        // While a TestRequest is outstanding nothing else goes out (QuickFIX sends no
        // heartbeat then): the peer's answer, or the disconnect, comes next.
        if let Some(t) = self.test_req_ns {
            if now_ns >= t + self.grace_ns() {
                self.disconnect("heartbeat timeout", io);
            }
        } else if now_ns >= self.last_recv_ns + self.grace_ns() {
            self.send_admin(now_ns, msg_type::TEST_REQUEST, io, |enc, _| {
                enc.bytes(tag::TEST_REQ_ID, TEST_REQ_ID);
            });
            self.test_req_ns = Some(now_ns);
        } else if now_ns >= self.last_sent_ns + self.hb_ns {
            self.send_admin(now_ns, msg_type::HEARTBEAT, io, |_, _| {});
        }
    }

    /// Numbers, stores and sends one admin message of ours.
    fn send_admin(
        &mut self,
        now_ns: u64,
        msg_type: &[u8],
        io: &mut impl SessionIo,
        body: impl FnOnce(&mut Encoder, &SessionConfig),
    ) -> u64 {
        self.send_numbered(now_ns, msg_type, &[], io, body)
    }

    /// Numbers, stores and sends one message of ours with extra header fields `header`.
    fn send_numbered(
        &mut self,
        now_ns: u64,
        msg_type: &[u8],
        header: &[Field<'_>],
        io: &mut impl SessionIo,
        body: impl FnOnce(&mut Encoder, &SessionConfig),
    ) -> u64 {
        let seq = self.seqs.next_out;
        let cfg = &self.cfg;
        write_header(&mut self.enc, cfg, msg_type, seq, now_ns, None, header);
        body(&mut self.enc, cfg);
        let frame = self.enc.finish();
        io.store(seq, frame);
        io.send(frame);
        self.seqs.next_out = seq + 1;
        self.last_sent_ns = now_ns;
        seq
    }

    fn send_logout(&mut self, now_ns: u64, text: &str, io: &mut impl SessionIo) {
        self.send_admin(now_ns, msg_type::LOGOUT, io, |enc, _| {
            if !text.is_empty() {
                enc.bytes(tag::TEXT, text.as_bytes());
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

    /// Sends a session reject (35=3) about the message `r` refers to. Its body: RefSeqNum
    /// (45), the reason's text (58), RefTagID (371) when the fault names a tag,
    /// RefMsgType (372) and SessionRejectReason (373) — left out on FIX 4.2 for the
    /// values 4.2 does not define.
    fn send_reject(&mut self, now_ns: u64, r: &Ref<'_>, f: Fault, io: &mut impl SessionIo) {
        let fix42 = self.cfg.begin_string == "FIX.4.2";
        let text = f.reason.text();
        self.send_numbered(now_ns, msg_type::REJECT, r.route, io, |enc, _| {
            if let Some(seq) = r.seq {
                enc.uint(tag::REF_SEQ_NUM, seq);
            }
            enc.bytes(tag::TEXT, text.as_bytes());
            if let Some(t) = f.tag {
                enc.int(tag::REF_TAG_ID, t);
            }
            if !r.msg_type.is_empty() {
                enc.bytes(tag::REF_MSG_TYPE, r.msg_type);
            }
            if !fix42 || f.reason.in_fix42() {
                enc.uint(tag::SESSION_REJECT_REASON, f.reason.code() as u64);
            }
        });
        io.event(SessionEvent::RejectSent {
            ref_seq: r.seq.unwrap_or(0),
            reason: f.reason,
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
        self.send_admin(now_ns, msg_type::RESEND_REQUEST, io, |enc, _| {
            enc.uint(tag::BEGIN_SEQ_NO, from).uint(tag::END_SEQ_NO, 0);
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

    /// Consumes the expected number `seq` (when it is the expected one) and notes what
    /// it says about an outstanding ResendRequest.
    fn consume(&mut self, seq: u64, poss_dup: bool, msg_type: &[u8]) -> bool {
        if seq != self.seqs.next_in {
            return false;
        }
        self.seqs.next_in += 1;
        if let Some(r) = &mut self.resend {
            if poss_dup || msg_type == msg_type::SEQUENCE_RESET {
                r.answered = true;
            }
        }
        true
    }

    fn on_decode_error(
        &mut self,
        now_ns: u64,
        frame: &[u8],
        e: DecodeError,
        io: &mut impl SessionIo,
    ) {
        let msg_type = scan_tag(frame, tag::MSG_TYPE).unwrap_or(b"");
        let fault = match e {
            DecodeError::Malformed { at } => {
                io.event(SessionEvent::Garbled(format!(
                    "malformed field at byte {at}"
                )));
                return self.garbled_logon(msg_type, io);
            }
            DecodeError::OutOfOrder { tag } => {
                io.event(SessionEvent::Garbled(format!("tag {tag} out of order")));
                return self.garbled_logon(msg_type, io);
            }
            DecodeError::InvalidTag { tag, .. } => Fault {
                reason: SessionRejectReason::InvalidTagNumber,
                tag,
            },
            DecodeError::TooManyFields => Fault::new(SessionRejectReason::Other, None),
        };
        if self.state == State::LogonPending {
            self.disconnect("invalid first message: not a valid Logon", io);
            return;
        }
        let Some(seq) = scan_tag(frame, tag::MSG_SEQ_NUM).and_then(codec::parse_u64) else {
            self.logout_and_disconnect(now_ns, "MsgSeqNum(34) missing", io);
            return;
        };
        let poss_dup = scan_tag(frame, tag::POSS_DUP_FLAG) == Some(b"Y");
        if seq > self.seqs.next_in {
            // Not queued: the resend brings it again, and it is rejected in its turn.
            self.on_gap(now_ns, seq, poss_dup, io);
        } else if self.consume(seq, poss_dup, msg_type) {
            let (route, n) = reverse_route(|t| scan_tag(frame, t));
            let r = Ref {
                seq: Some(seq),
                msg_type,
                route: &route[..n],
            };
            self.send_reject(now_ns, &r, fault, io);
        }
    }

    /// A frame that is not valid: ignored, unless it is a Logon.
    fn garbled_logon(&mut self, msg_type: &[u8], io: &mut impl SessionIo) {
        if msg_type == msg_type::LOGON {
            self.disconnect("Logon message is not valid", io);
        }
    }

    /// Dictionary validation, or without a dictionary what every message must have:
    /// values, and a SendingTime that reads.
    fn validate(&self, msg: &Msg<'_>) -> Result<(), Fault> {
        match &self.cfg.dictionary {
            Some(d) => d
                .validate(msg)
                .map_err(|i| Fault::new(i.reason, i.ref_tag))?,
            None => {
                if let Some(f) = msg.fields().find(|f| f.value.is_empty()) {
                    return Err(Fault::new(
                        SessionRejectReason::TagSpecifiedWithoutValue,
                        Some(f.tag),
                    ));
                }
            }
        }
        match msg.get(tag::SENDING_TIME) {
            None => Err(Fault::new(
                SessionRejectReason::RequiredTagMissing,
                Some(tag::SENDING_TIME),
            )),
            Some(v) if parse_utc_timestamp(v).is_none() => Err(Fault::new(
                SessionRejectReason::IncorrectDataFormat,
                Some(tag::SENDING_TIME),
            )),
            Some(_) => Ok(()),
        }
    }

    /// SendingTime further from our clock than MaxLatency allows (queued messages were
    /// timely when they arrived).
    fn time_off(&self, now_ns: u64, msg: &Msg<'_>, queued: bool) -> bool {
        let sent = msg.get(tag::SENDING_TIME).and_then(parse_utc_timestamp);
        !queued
            && self.max_latency_ns > 0
            && sent.is_some_and(|t| now_ns.abs_diff(t) > self.max_latency_ns)
    }

    /// The message is addressed from our counterparty to us.
    fn comp_ids_ok(&self, msg: &Msg<'_>) -> bool {
        msg.get(tag::SENDER_COMP_ID) == Some(self.cfg.target_comp_id.as_bytes())
            && msg.get(tag::TARGET_COMP_ID) == Some(self.cfg.sender_comp_id.as_bytes())
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
        if self.state == State::LogonPending && mt != msg_type::LOGON {
            if mt == msg_type::LOGOUT {
                let text = String::from_utf8_lossy(msg.get(tag::TEXT).unwrap_or(b"")).into_owned();
                self.disconnect(&format!("logon refused: {text}"), io);
            } else {
                self.disconnect("first message not a Logon", io);
            }
            return;
        }
        let seq = msg.seq();
        if msg.get(tag::BEGIN_STRING) != Some(self.cfg.begin_string.as_bytes()) {
            match (self.state, mt) {
                (State::LogonPending, _) => self.disconnect("Incorrect BeginString", io),
                (_, msg_type::LOGOUT) => self.on_logout(now_ns, &msg, seq.unwrap_or(0), io),
                _ => {
                    if let Some(s) = seq {
                        self.consume(s, false, mt);
                    }
                    self.logout(now_ns, "Incorrect BeginString", io);
                }
            }
            return;
        }
        let (route, n) = reverse_route(|t| msg.get(t));
        let route = &route[..n];
        let r = Ref {
            seq,
            msg_type: mt,
            route,
        };
        // Without both CompIDs the message cannot be placed in any session: a missing
        // required tag, before anything else is looked at.
        let comp_ids = [tag::SENDER_COMP_ID, tag::TARGET_COMP_ID];
        if let Some(missing) = comp_ids.into_iter().find(|&t| msg.get(t).is_none()) {
            if mt == msg_type::LOGON {
                self.disconnect("Logon without SenderCompID or TargetCompID", io);
                return;
            }
            if let Some(s) = seq {
                self.consume(s, false, mt);
            }
            let f = Fault::new(SessionRejectReason::RequiredTagMissing, Some(missing));
            self.send_reject(now_ns, &r, f, io);
            return;
        }
        let Some(seq) = seq else {
            if mt == msg_type::LOGON {
                self.disconnect("Logon without MsgSeqNum", io);
            } else {
                self.logout_and_disconnect(now_ns, "MsgSeqNum(34) missing", io);
            }
            return;
        };
        let r = Ref {
            seq: Some(seq),
            ..r
        };
        let poss_dup = msg.get(tag::POSS_DUP_FLAG) == Some(b"Y");
        match mt {
            msg_type::LOGON => return self.on_logon(now_ns, &msg, seq, poss_dup, queued, io),
            msg_type::LOGOUT => return self.on_logout(now_ns, &msg, seq, io),
            msg_type::SEQUENCE_RESET if msg.get(tag::GAP_FILL_FLAG) != Some(b"Y") => {
                return self.on_sequence_reset(now_ns, &msg, &r, queued, io)
            }
            _ => {}
        }
        if seq > self.seqs.next_in {
            if mt == msg_type::RESEND_REQUEST {
                // Served now (a peer waiting for our resend must not wait for its own);
                // its number is consumed when its turn comes.
                self.serve_resend(now_ns, &msg, &r, io);
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
            if mt == msg_type::RESEND_REQUEST {
                // A ResendRequest is served whatever its number (QuickFIX does not check
                // it): one that is too low consumes nothing.
                if self.validate(&msg).is_ok() {
                    self.serve_resend(now_ns, &msg, &r, io);
                }
                return;
            }
            if !poss_dup {
                let text = format!(
                    "MsgSeqNum too low, expecting {} but received {}",
                    self.seqs.next_in, seq
                );
                self.logout_and_disconnect(now_ns, &text, io);
            } else if mt != msg_type::SEQUENCE_RESET {
                self.check_orig_sending_time(now_ns, &msg, &r, io);
            }
            // A PossDup copy of what we already have: ignored, never delivered twice.
            return;
        }
        // In sequence.
        if let Err(f) = self.validate(&msg) {
            self.consume(seq, poss_dup, mt);
            self.send_reject(now_ns, &r, f, io);
            if !msg_type::is_admin(mt) {
                io.app(&msg, Err(f.reason));
            }
            return;
        }
        if self.time_off(now_ns, &msg, queued) {
            self.consume(seq, poss_dup, mt);
            let f = Fault::new(SessionRejectReason::SendingTimeAccuracyProblem, None);
            self.send_reject(now_ns, &r, f, io);
            if !msg_type::is_admin(mt) {
                io.app(&msg, Err(f.reason));
            }
            // The reject says why; the Logout after it carries no text.
            self.logout(now_ns, "", io);
            return;
        }
        if !self.comp_ids_ok(&msg) {
            self.consume(seq, poss_dup, mt);
            let f = Fault::new(SessionRejectReason::CompIdProblem, None);
            self.send_reject(now_ns, &r, f, io);
            self.logout(now_ns, "", io);
            return;
        }
        self.consume(seq, poss_dup, mt);
        match mt {
            msg_type::HEARTBEAT => {}
            msg_type::TEST_REQUEST => match msg.get(tag::TEST_REQ_ID) {
                Some(id) => {
                    self.send_admin(now_ns, msg_type::HEARTBEAT, io, |enc, _| {
                        enc.bytes(tag::TEST_REQ_ID, id);
                    });
                }
                None => {
                    let f = Fault::new(
                        SessionRejectReason::RequiredTagMissing,
                        Some(tag::TEST_REQ_ID),
                    );
                    self.send_reject(now_ns, &r, f, io);
                }
            },
            msg_type::RESEND_REQUEST => self.serve_resend(now_ns, &msg, &r, io),
            msg_type::REJECT => io.event(SessionEvent::PeerRejected {
                ref_seq: msg.get_u64(tag::REF_SEQ_NUM).unwrap_or(0),
                msg_type: "3".into(),
                text: String::from_utf8_lossy(msg.get(tag::TEXT).unwrap_or(b"")).into_owned(),
            }),
            msg_type::SEQUENCE_RESET => self.on_gap_fill(now_ns, &msg, &r, io),
            _ => {
                if mt == msg_type::BUSINESS_MESSAGE_REJECT {
                    io.event(SessionEvent::PeerRejected {
                        ref_seq: msg.get_u64(tag::REF_SEQ_NUM).unwrap_or(0),
                        msg_type: "j".into(),
                        text: String::from_utf8_lossy(msg.get(tag::TEXT).unwrap_or(b""))
                            .into_owned(),
                    });
                }
                io.app(&msg, Ok(()));
            }
        }
    }

    /// A PossDup copy of a message already received: its OrigSendingTime must be there
    /// and not later than its SendingTime.
    fn check_orig_sending_time(
        &mut self,
        now_ns: u64,
        msg: &Msg<'_>,
        r: &Ref<'_>,
        io: &mut impl SessionIo,
    ) {
        let sent = msg.get(tag::SENDING_TIME).and_then(parse_utc_timestamp);
        match msg.get(tag::ORIG_SENDING_TIME).map(parse_utc_timestamp) {
            None => {
                let f = Fault::new(
                    SessionRejectReason::RequiredTagMissing,
                    Some(tag::ORIG_SENDING_TIME),
                );
                self.send_reject(now_ns, r, f, io);
            }
            Some(None) => {
                let f = Fault::new(
                    SessionRejectReason::IncorrectDataFormat,
                    Some(tag::ORIG_SENDING_TIME),
                );
                self.send_reject(now_ns, r, f, io);
            }
            Some(Some(orig)) if sent.is_some_and(|s| orig > s) => {
                let f = Fault::new(SessionRejectReason::SendingTimeAccuracyProblem, None);
                self.send_reject(now_ns, r, f, io);
                self.logout(now_ns, "", io);
            }
            Some(Some(_)) => {}
        }
    }

    fn on_logon(
        &mut self,
        now_ns: u64,
        msg: &Msg<'_>,
        seq: u64,
        poss_dup: bool,
        queued: bool,
        io: &mut impl SessionIo,
    ) {
        let peer_reset = msg.get(tag::RESET_SEQ_NUM_FLAG) == Some(b"Y");
        let relogon = self.state != State::LogonPending;
        if relogon && !peer_reset {
            if seq < self.seqs.next_in && poss_dup {
                return; // a resent copy of the Logon
            }
            self.logout_and_disconnect(now_ns, "unexpected Logon while logged on", io);
            return;
        }
        // Nothing is answered to a Logon that is not accepted: the connection closes.
        let refusal = if let Err(f) = self.validate(msg) {
            Some(format!("Logon refused: {}", f.reason.text()))
        } else if self.cfg.begin_string == "FIXT.1.1" && msg.get(tag::DEFAULT_APPL_VER_ID).is_none()
        {
            Some("Logon refused: DefaultApplVerID(1137) missing".to_string())
        } else if self.time_off(now_ns, msg, queued) {
            Some("Logon refused: SendingTime accuracy problem".to_string())
        } else if !self.comp_ids_ok(msg) {
            Some("Logon refused: CompID problem".to_string())
        } else if self.cfg.role == Role::Acceptor && msg.get_u64(tag::HEART_BT_INT).is_none() {
            Some("Logon refused: HeartBtInt(108) missing".to_string())
        } else {
            None
        };
        if let Some(why) = refusal {
            if relogon {
                self.logout_and_disconnect(now_ns, &why, io);
            } else {
                self.disconnect(&why, io);
            }
            return;
        }
        let mut answer = self.cfg.role == Role::Acceptor;
        let mut reset_out = false;
        if peer_reset && (relogon || self.cfg.role == Role::Acceptor) {
            // The peer starts both sequences again, mid-session too: so do we, and say so.
            self.reset_seqs(io);
            reset_out = true;
            answer = true;
        } else if self.cfg.role == Role::Acceptor && self.cfg.reset_on_logon {
            self.reset_seqs(io);
        } else if self.cfg.role == Role::Initiator && peer_reset && self.seqs.next_in != 1 {
            // The broker started its sequence again: what the store holds belongs to
            // the old one (and a restart must not restore the old inbound number).
            self.seqs.next_in = 1;
            self.queue.clear();
            self.resend = None;
            io.reset(self.seqs);
            io.event(SessionEvent::SeqReset(self.seqs));
        }
        if self.cfg.role == Role::Acceptor && !relogon {
            self.hb_ns = msg.get_u64(tag::HEART_BT_INT).unwrap_or(0) * NS;
        }
        // A reset Logon carries whatever number the peer gave it; it is the first of
        // the new sequence.
        let seq = if peer_reset { self.seqs.next_in } else { seq };
        if seq < self.seqs.next_in {
            let text = format!(
                "MsgSeqNum too low, expecting {} but received {}",
                self.seqs.next_in, seq
            );
            self.logout_and_disconnect(now_ns, &text, io);
            return;
        }
        let too_high = seq > self.seqs.next_in;
        if answer {
            let hb = self.hb_ns / NS;
            self.send_admin(now_ns, msg_type::LOGON, io, |enc, cfg| {
                enc.uint(tag::ENCRYPT_METHOD, 0).uint(tag::HEART_BT_INT, hb);
                if reset_out {
                    enc.flag(tag::RESET_SEQ_NUM_FLAG, true);
                }
                if cfg.begin_string == "FIXT.1.1" {
                    if let Some(v) = &cfg.default_appl_ver_id {
                        enc.bytes(tag::DEFAULT_APPL_VER_ID, v.as_bytes());
                    }
                }
            });
        }
        self.state = State::Active;
        self.logon_deadline = None;
        if !relogon {
            io.event(SessionEvent::LoggedOn);
        }
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
        let why = match msg.get(tag::TEXT) {
            Some(t) if !t.is_empty() => format!("logged out: {}", String::from_utf8_lossy(t)),
            _ => "logged out".to_string(),
        };
        self.disconnect(&why, io);
    }

    /// SequenceReset in Reset mode: its own MsgSeqNum is neither checked nor consumed.
    fn on_sequence_reset(
        &mut self,
        now_ns: u64,
        msg: &Msg<'_>,
        r: &Ref<'_>,
        queued: bool,
        io: &mut impl SessionIo,
    ) {
        if let Err(f) = self.validate(msg) {
            self.send_reject(now_ns, r, f, io);
            return;
        }
        if self.time_off(now_ns, msg, queued) || !self.comp_ids_ok(msg) {
            let reason = if self.comp_ids_ok(msg) {
                SessionRejectReason::SendingTimeAccuracyProblem
            } else {
                SessionRejectReason::CompIdProblem
            };
            self.send_reject(now_ns, r, Fault::new(reason, None), io);
            self.logout(now_ns, "", io);
            return;
        }
        let Some(new) = msg.get_u64(tag::NEW_SEQ_NO) else {
            let f = Fault::new(
                SessionRejectReason::RequiredTagMissing,
                Some(tag::NEW_SEQ_NO),
            );
            self.send_reject(now_ns, r, f, io);
            return;
        };
        if new > self.seqs.next_in {
            self.seqs.next_in = new;
            io.event(SessionEvent::SeqReset(self.seqs));
        } else if new < self.seqs.next_in {
            let f = Fault::new(SessionRejectReason::ValueIsIncorrect, None);
            self.send_reject(now_ns, r, f, io);
        }
    }

    /// SequenceReset-GapFill in its turn (next_in already counts it).
    fn on_gap_fill(&mut self, now_ns: u64, msg: &Msg<'_>, r: &Ref<'_>, io: &mut impl SessionIo) {
        let seq = r.seq.unwrap_or(0);
        let Some(new) = msg.get_u64(tag::NEW_SEQ_NO) else {
            let f = Fault::new(
                SessionRejectReason::RequiredTagMissing,
                Some(tag::NEW_SEQ_NO),
            );
            self.send_reject(now_ns, r, f, io);
            return;
        };
        if new > self.seqs.next_in {
            self.seqs.next_in = new;
            io.event(SessionEvent::SeqReset(self.seqs));
        } else if new <= seq {
            let f = Fault::new(SessionRejectReason::ValueIsIncorrect, Some(tag::NEW_SEQ_NO));
            self.send_reject(now_ns, r, f, io);
        }
    }

    /// Serves the peer's ResendRequest from the store, all of it before returning.
    fn serve_resend(&mut self, now_ns: u64, msg: &Msg<'_>, r: &Ref<'_>, io: &mut impl SessionIo) {
        let (Some(begin), Some(end)) =
            (msg.get_u64(tag::BEGIN_SEQ_NO), msg.get_u64(tag::END_SEQ_NO))
        else {
            let missing = if msg.get_u64(tag::BEGIN_SEQ_NO).is_none() {
                tag::BEGIN_SEQ_NO
            } else {
                tag::END_SEQ_NO
            };
            let f = Fault::new(SessionRejectReason::RequiredTagMissing, Some(missing));
            self.send_reject(now_ns, r, f, io);
            return;
        };
        let last = self.seqs.next_out - 1;
        let begin = begin.max(1);
        // FIX 4.2 and earlier said "infinity" with 999999.
        let infinity = end == 0 || (self.cfg.begin_string == "FIX.4.2" && end == 999_999);
        let end = if infinity || end > last { last } else { end };
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
    /// OrigSendingTime, its header in tag order. False when it must be gap filled
    /// instead: missing, unreadable, a session-level message, or an application message
    /// the owner will not send again.
    fn prepare_resend(&mut self, now_ns: u64, s: u64, io: &mut impl SessionIo) -> bool {
        let Some(stored) = io.stored(s) else {
            return false;
        };
        self.resend_buf.clear();
        self.resend_buf.extend_from_slice(stored);
        let Ok(m) = self.rdec.decode(&self.resend_buf) else {
            return false;
        };
        let mt = m.msg_type();
        if msg_type::is_gap_filled_on_resend(mt) || m.seq() != Some(s) {
            return false;
        }
        if !msg_type::is_admin(mt) && !io.may_resend(s, &m) {
            return false;
        }
        // The stored header's own fields (97, 115, 128 …) go out again, in tag order
        // around the session's.
        let extra = codec::header_fields_in_order(m.fields(), is_session_header_tag);
        let orig = m.get(tag::SENDING_TIME);
        write_header(
            &mut self.enc,
            &self.cfg,
            mt,
            s,
            now_ns,
            Some(orig.map_or(Orig::Now, Orig::Stored)),
            &extra,
        );
        for f in m.fields() {
            if !codec::is_standard_header_tag(f.tag)
                && !matches!(
                    f.tag,
                    tag::CHECK_SUM | tag::SIGNATURE | tag::SIGNATURE_LENGTH
                )
            {
                self.enc.bytes(f.tag, f.value);
            }
        }
        self.enc.finish();
        true
    }

    fn send_gap_fill(&mut self, now_ns: u64, seq: u64, new_seq: u64, io: &mut impl SessionIo) {
        write_header(
            &mut self.genc,
            &self.cfg,
            msg_type::SEQUENCE_RESET,
            seq,
            now_ns,
            Some(Orig::Now),
            &[],
        );
        self.genc
            .uint(tag::NEW_SEQ_NO, new_seq)
            .flag(tag::GAP_FILL_FLAG, true);
        let frame = self.genc.finish();
        io.send(frame);
        self.last_sent_ns = now_ns;
    }
}

/// Header fields the session writes itself on every message it sends.
pub fn is_session_header_tag(tag: u32) -> bool {
    matches!(
        tag,
        tag::BEGIN_STRING
            | tag::BODY_LENGTH
            | tag::MSG_TYPE
            | tag::MSG_SEQ_NUM
            | tag::POSS_DUP_FLAG
            | tag::SENDER_COMP_ID
            | tag::SENDING_TIME
            | tag::TARGET_COMP_ID
            | tag::ORIG_SENDING_TIME
    )
}

/// The OrigSendingTime (122) of a PossDup message.
#[derive(Clone, Copy)]
enum Orig<'a> {
    /// As stored with the original.
    Stored(&'a [u8]),
    /// The new SendingTime (a GapFill, or an original without one).
    Now,
}

/// Starts a message in `enc` and writes its header in tag order: 34, 43 (with `orig`),
/// 49, 52, 56, 122 (with `orig`), merged with `extra` (sorted by tag; the session's own
/// tags among them are skipped).
fn write_header(
    enc: &mut Encoder,
    cfg: &SessionConfig,
    msg_type: &[u8],
    seq: u64,
    now_ns: u64,
    orig: Option<Orig<'_>>,
    extra: &[Field<'_>],
) {
    enc.start(msg_type);
    let mut x = extra
        .iter()
        .filter(|f| !is_session_header_tag(f.tag))
        .peekable();
    let mut upto = |enc: &mut Encoder, limit: u32| {
        while let Some(f) = x.next_if(|f| f.tag < limit) {
            enc.bytes(f.tag, f.value);
        }
    };
    upto(enc, tag::MSG_SEQ_NUM);
    enc.uint(tag::MSG_SEQ_NUM, seq);
    if orig.is_some() {
        upto(enc, tag::POSS_DUP_FLAG);
        enc.flag(tag::POSS_DUP_FLAG, true);
    }
    upto(enc, tag::SENDER_COMP_ID);
    enc.bytes(tag::SENDER_COMP_ID, cfg.sender_comp_id.as_bytes());
    upto(enc, tag::SENDING_TIME);
    enc.timestamp(tag::SENDING_TIME, now_ns, cfg.micros);
    upto(enc, tag::TARGET_COMP_ID);
    enc.bytes(tag::TARGET_COMP_ID, cfg.target_comp_id.as_bytes());
    if let Some(o) = orig {
        upto(enc, tag::ORIG_SENDING_TIME);
        match o {
            Orig::Stored(v) => enc.bytes(tag::ORIG_SENDING_TIME, v),
            Orig::Now => enc.timestamp(tag::ORIG_SENDING_TIME, now_ns, cfg.micros),
        };
    }
    upto(enc, u32::MAX);
}
