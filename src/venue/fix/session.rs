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
//!   SequenceReset-GapFills. A range is sent as far as the owner's output has room
//!   ([`SessionIo::unsent`] up to half of [`SessionIo::unsent_limit`]) and goes on at
//!   [`Session::on_writable`]; messages of ours numbered meanwhile (live ones, answers,
//!   heartbeats) wait in the store and follow it, so a resend never interleaves with
//!   live traffic, however large it is. If what waits goes past the owner's bound the
//!   peer is not reading: disconnected. A ResendRequest that comes while one is served
//!   is served next; one beyond a gap is served at once (both sides may be waiting for
//!   each other) and its number consumed when its turn comes.
//! - MsgSeqNum too high: the message is queued (at most 65 536 messages and 8 MiB) and
//!   one ResendRequest `next_in..0` is sent; further messages beyond the gap do not
//!   send another, unless a live (non-PossDup) message is still ahead after the peer has
//!   started answering (the answer did not close the gap). Queued messages are handled
//!   in order as the gap fills; a reset, a disconnect or [`Session::set_seqs`] drops
//!   the queue and the pending request. Beyond either bound: Logout, disconnect.
//! - What the peer says it is counting or timing is range-checked before any arithmetic:
//!   MsgSeqNum and NewSeqNo at most [`MAX_SEQ_NUM`] (beyond: Logout and disconnect, or
//!   a reject for NewSeqNo), HeartBtInt at most [`MAX_HEARTBEAT_SECS`] (beyond: the
//!   Logon is refused with a Logout saying why); BeginSeqNo and EndSeqNo are clamped to
//!   what we sent; BodyLength is bounded by the codec (1 MiB).
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
//!   closes the connection. A HeartBtInt out of range is the exception, answered with a
//!   Logout that says so, as QuickFIX/J refuses a negative one: a setting a human on the
//!   other side has to fix. A Logon with ResetSeqNumFlag=Y while logged on resets both
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
//!   numbers to 1 ([`Session::session_start`] is the window the numbers belong to). The
//!   message store (`super::store`) records that window and applies the same rule to
//!   the numbers it restores; hand its window to [`Session::set_session_start`].

//!
//! One file per concern under `session/`: `state` (where the session is and what each
//! state holds), `inbound` (framing, header and sequence checks, rejects), `resend`
//! (serving and asking for resends, SequenceReset), `timers` (heartbeats, test
//! requests, deadlines), `schedule` (windows and the daily reset), `logon` (Logon,
//! Logout, disconnecting) and `outbound` (header order, numbering, the messages the
//! session sends of its own accord).

mod inbound;
mod logon;
mod outbound;
mod resend;
mod schedule;
mod state;
mod timers;

pub use outbound::is_session_header_tag;
pub(crate) use schedule::Entry;
pub use schedule::Schedule;
pub use state::State;

use super::codec::{Decoder, Encoder, Msg};
use super::dictionary::{Dictionary, Layouts};
use super::reject::SessionRejectReason;
use super::{msg_type, tag};
use crate::calendar::NS_PER_SEC as NS;
use crate::secret::Secret;
use state::Phase;
use std::sync::Arc;

/// Which side opens the connection and sends the first Logon.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Connects and logs on (to brokers).
    Initiator,
    /// Accepts and answers logons (the venue simulator, order-entry clients).
    Acceptor,
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
    /// Which side logs on first.
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
    /// Password (554) on an initiator's Logon (from the environment; the copy of the
    /// Logon kept in the message store has it blanked).
    pub password: Option<Secret>,
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
    /// Bytes handed to [`SessionIo::send`] that have not left yet. A resend is written
    /// while this stays under half of [`SessionIo::unsent_limit`], and goes on at
    /// [`Session::on_writable`].
    fn unsent(&self) -> usize {
        0
    }
    /// The owner's bound on [`SessionIo::unsent`]: beyond it the peer is not reading and
    /// the connection goes. Without one (the default) a resend is written whole.
    fn unsent_limit(&self) -> usize {
        usize::MAX
    }
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
    /// What happened besides application messages, in the order it happened, within
    /// the call that caused it.
    fn event(&mut self, ev: SessionEvent);
}

#[cfg(test)]
mod tests;

/// Most bytes the receive buffer holds while waiting for the rest of a frame; a peer
/// that goes beyond (a huge BodyLength, or garbage that never frames) is disconnected.
pub(crate) const MAX_RX_BYTES: usize = 2 << 20;

/// Most out-of-order messages kept while a gap is being filled; beyond it the session
/// logs out rather than grow without bound.
pub(crate) const MAX_QUEUED: usize = 65_536;

/// Most bytes of out-of-order messages kept while a gap is being filled: eight frames
/// of the largest BodyLength the codec takes (1 MiB), and what 65 536 messages of
/// 128 bytes (a small ExecutionReport) come to, so the count and the bytes bind at about
/// the same traffic. A real peer's burst during one resend round trip is far below.
pub(crate) const MAX_QUEUED_BYTES: usize = 8 << 20;

/// Largest MsgSeqNum or NewSeqNo a peer may send: 115 days of 100 000 messages a second
/// without a reset, and far enough from `u64::MAX` that counting on from it cannot
/// overflow.
pub const MAX_SEQ_NUM: u64 = 999_999_999_999;

/// Largest HeartBtInt (108) a peer may ask for: a day. QuickFIX has no maximum (C++
/// reads it into a 32-bit int, where a huge value wraps around); no venue uses more
/// than minutes, and a day keeps every deadline computed from it far from overflowing.
pub const MAX_HEARTBEAT_SECS: u64 = 86_400;

/// `secs` in nanoseconds, saturating: a deadline too far away is simply never reached.
pub(crate) fn secs_ns(secs: u64) -> u64 {
    secs.saturating_mul(NS)
}

/// QuickFIX's MaxLatency default: how far SendingTime may be from our clock.
const DEFAULT_MAX_LATENCY_SECS: u32 = 120;

/// Capacity of the session's encoder (the largest message it can send or resend).
const ENCODER_CAPACITY: usize = 64 * 1024;

/// One FIX session, initiator or acceptor: bytes ([`Session::on_bytes`]), time
/// ([`Session::on_timer`]) and the connection's coming and going go in; frames, stored
/// messages, application messages and events go out through a [`SessionIo`] within the
/// same call. Nothing inside blocks or reads a clock.
#[derive(Debug)]
pub struct Session {
    cfg: SessionConfig,
    phase: Phase,
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
    /// Opening of the schedule window the sequence numbers belong to.
    session_start: Option<u64>,
    max_latency_ns: u64,
    /// Inbound layouts the dictionary found sound: a repeat has its values checked only.
    layouts: Layouts,
}

impl Session {
    /// A session starting from `seqs` (1/1 when new, or restored from the journal).
    pub fn new(cfg: SessionConfig, seqs: SeqNums) -> Session {
        let enc = Encoder::new(&cfg.begin_string, ENCODER_CAPACITY);
        let genc = Encoder::new(&cfg.begin_string, 512);
        let hb_ns = secs_ns(cfg.heartbeat_secs.into());
        Session {
            cfg,
            phase: Phase::Disconnected,
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
            session_start: None,
            max_latency_ns: secs_ns(DEFAULT_MAX_LATENCY_SECS.into()),
            layouts: Layouts::new(),
        }
    }
    /// The settings it was made with.
    pub fn config(&self) -> &SessionConfig {
        &self.cfg
    }
    /// Where it is, without what the state holds.
    pub fn state(&self) -> State {
        self.phase.state()
    }
    /// Whether application messages may be sent.
    pub fn is_logged_on(&self) -> bool {
        self.state() == State::Active
    }
    /// The sequence numbers now.
    pub fn seqs(&self) -> SeqNums {
        self.seqs
    }
    /// Overrides the sequence numbers (operator action or restore). Messages queued
    /// ahead of a gap and an outstanding ResendRequest are forgotten, and so is a
    /// resend being served with what waits behind it (the numbers it was about moved).
    pub fn set_seqs(&mut self, seqs: SeqNums) {
        self.seqs = seqs;
        self.forget_gap();
        self.forget_replay();
    }
    /// The heartbeat interval in effect (the peer's for an acceptor once logged on).
    pub fn heartbeat_secs(&self) -> u64 {
        self.hb_ns / NS
    }
    /// How far an inbound SendingTime may be from `now` (QuickFIX's MaxLatency;
    /// 120 s by default); 0 turns the check off.
    pub fn set_max_latency_secs(&mut self, secs: u32) {
        self.max_latency_ns = secs_ns(secs.into());
    }
    /// The opening (unix ns) of the schedule window the sequence numbers belong to.
    pub fn session_start(&self) -> Option<u64> {
        self.session_start
    }
    /// Restores [`Session::session_start`] after a crash, so that a restart in a later
    /// window still performs the daily reset.
    pub fn set_session_start(&mut self, start_ns: Option<u64>) {
        self.session_start = start_ns;
    }
    /// Whether the schedule allows a connection at `now_ns` (always true without one).
    pub fn in_window(&self, now_ns: u64) -> bool {
        match &self.cfg.schedule {
            None => true,
            Some(s) => s.window_start(now_ns).is_some(),
        }
    }
    /// Messages received ahead of a gap, waiting for it to be filled.
    pub fn queued(&self) -> usize {
        self.phase.gap().map_or(0, |g| g.queue.len())
    }
    /// Bytes buffered towards an incomplete frame.
    pub fn buffered(&self) -> usize {
        self.rx.len()
    }
    /// Whether a ResendRequest we sent is still being answered.
    pub fn resend_pending(&self) -> bool {
        self.phase.gap().is_some_and(|g| g.resend.is_some())
    }
    /// Whether a resend we serve, or our messages waiting behind it, need room in the
    /// owner's output: call [`Session::on_writable`] once some of it has drained.
    pub fn output_waiting(&self) -> bool {
        self.phase.replay().is_some_and(|r| r.busy())
    }

    /// Both numbers start again at 1: the owner forgets what it stored (before anything
    /// after the reset is handled), and a gap being repaired no longer exists.
    fn reset_seqs(&mut self, io: &mut impl SessionIo) {
        let fresh = SeqNums {
            next_out: 1,
            next_in: 1,
        };
        self.forget_gap();
        self.forget_replay();
        io.reset(fresh);
        if self.seqs != fresh {
            self.seqs = fresh;
            io.event(SessionEvent::SeqReset(fresh));
        }
    }

    fn forget_gap(&mut self) {
        if let Some(g) = self.phase.gap_mut() {
            g.clear();
        }
    }

    /// Our numbers moved under a resend being served: what it was about, and what
    /// waited behind it, no longer exists.
    fn forget_replay(&mut self) {
        if let Some(r) = self.phase.replay_mut() {
            *r = Default::default();
        }
    }

    /// What is left of one connection's bytes is forgotten (not the sequence numbers).
    fn clear_connection(&mut self) {
        self.rx.clear();
        self.skipped = 0;
    }
}
