//! What the peer sends, from bytes to effects: framing, then for each message the header
//! checks (first message a Logon, BeginString, CompIDs, MsgSeqNum present), the sequence
//! checks (ahead of a gap: queued; behind: a PossDup copy or a reason to log out; in
//! sequence: validated, then acted on), and session rejects (35=3) for what fails.

use super::state::{Phase, Queued, State};
use super::MAX_SEQ_NUM;
use super::{Session, SessionEvent, SessionIo, MAX_QUEUED, MAX_QUEUED_BYTES, MAX_RX_BYTES};
use crate::venue::fix::codec::{self, scan_tag, DecodeError, Decoder, Field, FrameError, Msg};
use crate::venue::fix::reject::SessionRejectReason;
use crate::venue::fix::time::parse_utc_timestamp;
use crate::venue::fix::{msg_type, tag};
use std::cmp::Ordering;

/// Where a message stands in the peer's sequence: its MsgSeqNum, and whether it says
/// it may be a copy of one sent before (PossDupFlag).
#[derive(Clone, Copy, Debug)]
struct Number {
    seq: u64,
    poss_dup: bool,
}

/// A reason to reject a message and the RefTagID (371) to name, if any.
#[derive(Clone, Copy, Debug)]
pub(super) struct Fault {
    pub(super) reason: SessionRejectReason,
    /// Signed: a reject about an invalid tag names it as it came (`0`, `-1`).
    tag: Option<i64>,
}

impl Fault {
    pub(super) fn new(reason: SessionRejectReason, tag: Option<u32>) -> Fault {
        Fault {
            reason,
            tag: tag.map(i64::from),
        }
    }
}

/// What a reject refers to: the message's MsgSeqNum, MsgType and reverse route.
pub(super) struct Ref<'a> {
    pub(super) seq: Option<u64>,
    msg_type: &'a [u8],
    route: &'a [Field<'a>],
}

/// Routing fields a reply carries back, QuickFIX's reverse route: OnBehalfOf… of the
/// message become DeliverTo… of the answer, and the other way round.
const REVERSE_ROUTE: [(u32, u32); 6] = [
    (tag::ON_BEHALF_OF_COMP_ID, tag::DELIVER_TO_COMP_ID),
    (tag::ON_BEHALF_OF_SUB_ID, tag::DELIVER_TO_SUB_ID),
    (tag::ON_BEHALF_OF_LOCATION_ID, tag::DELIVER_TO_LOCATION_ID),
    (tag::DELIVER_TO_COMP_ID, tag::ON_BEHALF_OF_COMP_ID),
    (tag::DELIVER_TO_SUB_ID, tag::ON_BEHALF_OF_SUB_ID),
    (tag::DELIVER_TO_LOCATION_ID, tag::ON_BEHALF_OF_LOCATION_ID),
];

/// The reverse route of a message, as header fields sorted by tag, from a lookup of
/// its fields (a decoded message or a raw frame); empty ones are left out.
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

/// The PeerRejected event of a Reject or BusinessMessageReject.
fn peer_rejected(msg: &Msg<'_>, kind: &str) -> SessionEvent {
    SessionEvent::PeerRejected {
        ref_seq: msg.get_u64(tag::REF_SEQ_NUM).unwrap_or(0),
        msg_type: kind.into(),
        text: String::from_utf8_lossy(msg.get(tag::TEXT).unwrap_or(b"")).into_owned(),
    }
}

impl Session {
    /// Bytes arrived; every whole frame among them (and those buffered before) is handled,
    /// one after the other, each with all its effects before the next.
    pub fn on_bytes(&mut self, now_ns: u64, bytes: &[u8], io: &mut impl SessionIo) {
        if self.state() == State::Disconnected {
            return;
        }
        let mut rx = std::mem::take(&mut self.rx);
        let mut dec = self.dec.take().expect("decoder present between calls");
        rx.extend_from_slice(bytes);
        let mut pos = 0;
        while self.state() != State::Disconnected && pos < rx.len() {
            match codec::frame(&rx[pos..]) {
                Ok(n) => {
                    self.report_skipped(io);
                    let f = &rx[pos..pos + n];
                    pos += n;
                    self.process(now_ns, f, &mut dec, io, false);
                    self.drain_queue(now_ns, &mut dec, io);
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
                    self.garbled_logon(scan_tag(frame, tag::MSG_TYPE).unwrap_or(b""), io);
                }
            }
        }
        let pos = pos.min(rx.len());
        rx.drain(..pos);
        if self.state() == State::Disconnected {
            rx.clear();
        } else if rx.len() > MAX_RX_BYTES {
            rx.clear();
            self.disconnect("receive buffer overflow: no whole frame", io);
        }
        self.rx = rx;
        self.dec = Some(dec);
        self.check_output_bound(io);
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
            if let Phase::Active { test_request, .. } = &mut self.phase {
                *test_request = None;
            }
        }
        let msg = match dec.decode(frame) {
            Ok(m) => m,
            Err(e) => return self.on_decode_error(now_ns, frame, e, io),
        };
        let mt = msg.msg_type();
        let (route, n) = reverse_route(|t| msg.get(t));
        let r = Ref {
            seq: msg.seq(),
            msg_type: mt,
            route: &route[..n],
        };
        let Some(seq) = self.check_header(now_ns, &msg, &r, io) else {
            return;
        };
        let poss_dup = msg.get(tag::POSS_DUP_FLAG) == Some(b"Y");
        let n = Number { seq, poss_dup };
        // Logon, Logout and SequenceReset-Reset follow rules of their own for their number.
        match mt {
            msg_type::LOGON => return self.on_logon(now_ns, &msg, seq, poss_dup, queued, io),
            msg_type::LOGOUT => return self.on_logout(now_ns, &msg, seq, io),
            msg_type::SEQUENCE_RESET if msg.get(tag::GAP_FILL_FLAG) != Some(b"Y") => {
                return self.on_sequence_reset(now_ns, &msg, &r, queued, io)
            }
            _ => {}
        }
        match seq.cmp(&self.seqs.next_in) {
            Ordering::Greater => self.ahead_of_gap(now_ns, frame, &msg, n, &r, io),
            Ordering::Less => self.behind(now_ns, &msg, n, &r, io),
            Ordering::Equal => self.in_sequence(now_ns, &msg, n, queued, &r, io),
        }
    }

    /// What every message must get right before its number counts: a Logon first,
    /// our BeginString, both CompIDs, a MsgSeqNum. Returns the MsgSeqNum; None when the
    /// message was dealt with here.
    fn check_header(
        &mut self,
        now_ns: u64,
        msg: &Msg<'_>,
        r: &Ref<'_>,
        io: &mut impl SessionIo,
    ) -> Option<u64> {
        let mt = r.msg_type;
        if self.state() == State::LogonPending && mt != msg_type::LOGON {
            if mt == msg_type::LOGOUT {
                let text = String::from_utf8_lossy(msg.get(tag::TEXT).unwrap_or(b""));
                self.disconnect(&format!("logon refused: {text}"), io);
            } else {
                self.disconnect("first message not a Logon", io);
            }
            return None;
        }
        if msg.get(tag::BEGIN_STRING) != Some(self.cfg.begin_string.as_bytes()) {
            match (self.state(), mt) {
                (State::LogonPending, _) => self.disconnect("Incorrect BeginString", io),
                (_, msg_type::LOGOUT) => self.on_logout(now_ns, msg, r.seq.unwrap_or(0), io),
                _ => {
                    if let Some(s) = r.seq {
                        self.consume(s, false, mt);
                    }
                    self.logout(now_ns, "Incorrect BeginString", io);
                }
            }
            return None;
        }
        // Without both CompIDs the message cannot be placed in any session: a missing
        // required tag, before anything else is looked at.
        let comp_ids = [tag::SENDER_COMP_ID, tag::TARGET_COMP_ID];
        if let Some(missing) = comp_ids.into_iter().find(|&t| msg.get(t).is_none()) {
            if mt == msg_type::LOGON {
                self.disconnect("Logon without SenderCompID or TargetCompID", io);
                return None;
            }
            if let Some(s) = r.seq {
                self.consume(s, false, mt);
            }
            let f = Fault::new(SessionRejectReason::RequiredTagMissing, Some(missing));
            self.send_reject(now_ns, r, f, io);
            return None;
        }
        let why = match r.seq {
            None => "MsgSeqNum(34) missing",
            // A number nobody counts to: counting on from it would overflow.
            Some(s) if s > MAX_SEQ_NUM => "MsgSeqNum(34) out of range",
            Some(s) => return Some(s),
        };
        if mt == msg_type::LOGON {
            self.disconnect(&format!("Logon refused: {why}"), io);
        } else {
            self.logout_and_disconnect(now_ns, why, io);
        }
        None
    }

    /// A message beyond the number we expect: kept until the gap before it fills, and
    /// the gap asked for. A ResendRequest is served at once (a peer waiting for our
    /// resend must not wait for its own); its number is consumed when its turn comes.
    fn ahead_of_gap(
        &mut self,
        now_ns: u64,
        frame: &[u8],
        msg: &Msg<'_>,
        n: Number,
        r: &Ref<'_>,
        io: &mut impl SessionIo,
    ) {
        let kept = if msg.msg_type() == msg_type::RESEND_REQUEST {
            self.serve_resend(now_ns, msg, r, io);
            self.state() != State::Disconnected && self.enqueue(now_ns, n.seq, Queued::Consumed, io)
        } else {
            self.enqueue(now_ns, n.seq, Queued::Frame(frame.to_vec()), io)
        };
        if kept {
            self.ask_resend(now_ns, n.seq, n.poss_dup, io);
        }
    }

    /// A message below the number we expect: a PossDup copy of one we have is ignored
    /// once its OrigSendingTime checks out; anything else means the peer lost count.
    fn behind(
        &mut self,
        now_ns: u64,
        msg: &Msg<'_>,
        n: Number,
        r: &Ref<'_>,
        io: &mut impl SessionIo,
    ) {
        let mt = msg.msg_type();
        if mt == msg_type::RESEND_REQUEST {
            // A ResendRequest is served whatever its number (QuickFIX does not check
            // it): one that is too low consumes nothing.
            if self.validate(msg).is_ok() {
                self.serve_resend(now_ns, msg, r, io);
            }
            return;
        }
        if !n.poss_dup {
            let text = format!(
                "MsgSeqNum too low, expecting {} but received {}",
                self.seqs.next_in, n.seq
            );
            self.logout_and_disconnect(now_ns, &text, io);
        } else if mt != msg_type::SEQUENCE_RESET {
            self.check_orig_sending_time(now_ns, msg, r, io);
        }
        // A PossDup copy of what we already have: ignored, never delivered twice.
    }

    /// The message we expect: its number is consumed whatever follows. Validation,
    /// SendingTime accuracy and CompIDs decide whether it is rejected (an application
    /// message is still delivered, so a fill is never lost; a message for other CompIDs
    /// is not ours); otherwise the session acts on it or the owner gets it.
    fn in_sequence(
        &mut self,
        now_ns: u64,
        msg: &Msg<'_>,
        n: Number,
        queued: bool,
        r: &Ref<'_>,
        io: &mut impl SessionIo,
    ) {
        let mt = msg.msg_type();
        self.consume(n.seq, n.poss_dup, mt);
        // SendingTime and CompID problems also log out (the reject says why; the Logout
        // carries no text).
        let refusal = match self.validate(msg) {
            Err(f) => Some((f, false)),
            Ok(sent) if self.time_off(now_ns, sent, queued) => {
                let f = Fault::new(SessionRejectReason::SendingTimeAccuracyProblem, None);
                Some((f, true))
            }
            Ok(_) if !self.comp_ids_ok(msg) => {
                Some((Fault::new(SessionRejectReason::CompIdProblem, None), true))
            }
            Ok(_) => None,
        };
        if let Some((f, then_logout)) = refusal {
            self.send_reject(now_ns, r, f, io);
            if f.reason != SessionRejectReason::CompIdProblem && !msg_type::is_admin(mt) {
                io.app(msg, Err(f.reason));
            }
            if then_logout {
                self.logout(now_ns, "", io);
            }
            return;
        }
        match mt {
            msg_type::HEARTBEAT => {}
            msg_type::TEST_REQUEST => match msg.get(tag::TEST_REQ_ID) {
                Some(id) => self.send_heartbeat(now_ns, Some(id), io),
                None => {
                    let missing = Some(tag::TEST_REQ_ID);
                    let f = Fault::new(SessionRejectReason::RequiredTagMissing, missing);
                    self.send_reject(now_ns, r, f, io);
                }
            },
            msg_type::RESEND_REQUEST => self.serve_resend(now_ns, msg, r, io),
            msg_type::REJECT => io.event(peer_rejected(msg, "3")),
            msg_type::SEQUENCE_RESET => self.on_gap_fill(now_ns, msg, r, io),
            _ => {
                if mt == msg_type::BUSINESS_MESSAGE_REJECT {
                    io.event(peer_rejected(msg, "j"));
                }
                io.app(msg, Ok(()));
            }
        }
    }

    /// Keeps a message that arrived ahead of a gap; false (after logging out) when the
    /// queue is full.
    pub(super) fn enqueue(
        &mut self,
        now_ns: u64,
        seq: u64,
        q: Queued,
        io: &mut impl SessionIo,
    ) -> bool {
        let Some(gap) = self.phase.gap_mut() else {
            return false;
        };
        let replaced = gap.queue.get(&seq).map(Queued::bytes);
        let bytes = gap.queued_bytes - replaced.unwrap_or(0) + q.bytes();
        let why = if replaced.is_none() && gap.queue.len() >= MAX_QUEUED {
            "too many messages queued ahead of a gap"
        } else if bytes > MAX_QUEUED_BYTES {
            "more than 8 MiB queued ahead of a gap"
        } else {
            gap.queued_bytes = bytes;
            gap.queue.insert(seq, q);
            return true;
        };
        self.logout_and_disconnect(now_ns, why, io);
        false
    }

    /// Handles queued messages whose turn has come.
    fn drain_queue(&mut self, now_ns: u64, dec: &mut Decoder, io: &mut impl SessionIo) {
        loop {
            let next_in = self.seqs.next_in;
            let Some(gap) = self.phase.gap_mut() else {
                return;
            };
            while gap
                .queue
                .first_key_value()
                .is_some_and(|(&k, _)| k < next_in)
            {
                gap.pop_first();
            }
            match gap.queue.first_key_value() {
                Some((&k, _)) if k == next_in => {
                    let Some((_, q)) = gap.pop_first() else {
                        break;
                    };
                    match q {
                        Queued::Consumed => self.seqs.next_in += 1,
                        Queued::Frame(v) => self.process(now_ns, &v, dec, io, true),
                    }
                }
                _ => break,
            }
        }
        let next_in = self.seqs.next_in;
        if let Some(gap) = self.phase.gap_mut() {
            if gap.resend.is_some_and(|r| next_in > r.hi) && gap.queue.is_empty() {
                gap.resend = None;
            }
        }
    }

    /// Consumes the expected number `seq` (when it is the expected one) and notes what
    /// it says about an outstanding ResendRequest.
    pub(super) fn consume(&mut self, seq: u64, poss_dup: bool, mt: &[u8]) -> bool {
        if seq != self.seqs.next_in {
            return false;
        }
        self.seqs.next_in += 1;
        if let Some(r) = self.phase.gap_mut().and_then(|g| g.resend.as_mut()) {
            r.moved = true;
            if poss_dup || mt == msg_type::SEQUENCE_RESET {
                r.answered = true;
            }
        }
        true
    }

    /// A frame the decoder refused: garbled ones are ignored (a garbled Logon ends the
    /// connection); an invalid tag or too many fields is rejected in its turn.
    fn on_decode_error(
        &mut self,
        now_ns: u64,
        frame: &[u8],
        e: DecodeError,
        io: &mut impl SessionIo,
    ) {
        let mt = scan_tag(frame, tag::MSG_TYPE).unwrap_or(b"");
        let fault = match e {
            DecodeError::Malformed { at } => {
                io.event(SessionEvent::Garbled(format!(
                    "malformed field at byte {at}"
                )));
                return self.garbled_logon(mt, io);
            }
            DecodeError::OutOfOrder { tag } => {
                io.event(SessionEvent::Garbled(format!("tag {tag} out of order")));
                return self.garbled_logon(mt, io);
            }
            DecodeError::InvalidTag { tag, .. } => Fault {
                reason: SessionRejectReason::InvalidTagNumber,
                tag,
            },
            DecodeError::TooManyFields => Fault::new(SessionRejectReason::Other, None),
        };
        if self.state() == State::LogonPending {
            self.disconnect("invalid first message: not a valid Logon", io);
            return;
        }
        let seq = scan_tag(frame, tag::MSG_SEQ_NUM).and_then(codec::parse_u64);
        let Some(seq) = seq.filter(|&s| s <= MAX_SEQ_NUM) else {
            self.logout_and_disconnect(now_ns, "MsgSeqNum(34) missing or out of range", io);
            return;
        };
        let poss_dup = scan_tag(frame, tag::POSS_DUP_FLAG) == Some(b"Y");
        if seq > self.seqs.next_in {
            // Not queued: the resend brings it again, and it is rejected in its turn.
            self.ask_resend(now_ns, seq, poss_dup, io);
        } else if self.consume(seq, poss_dup, mt) {
            let (route, n) = reverse_route(|t| scan_tag(frame, t));
            let r = Ref {
                seq: Some(seq),
                msg_type: mt,
                route: &route[..n],
            };
            self.send_reject(now_ns, &r, fault, io);
        }
    }

    /// A frame that is not valid: ignored, unless it is a Logon.
    fn garbled_logon(&mut self, mt: &[u8], io: &mut impl SessionIo) {
        if mt == msg_type::LOGON {
            self.disconnect("Logon message is not valid", io);
        }
    }

    /// Dictionary validation, or without a dictionary what every message must have:
    /// values, and a SendingTime that reads.
    pub(super) fn validate(&mut self, msg: &Msg<'_>) -> Result<u64, Fault> {
        match &self.cfg.dictionary {
            Some(d) => d
                .validate_seen(msg, &mut self.layouts)
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
        let sending_time = Some(tag::SENDING_TIME);
        match msg.get(tag::SENDING_TIME) {
            None => Err(Fault::new(
                SessionRejectReason::RequiredTagMissing,
                sending_time,
            )),
            Some(v) => parse_utc_timestamp(v).ok_or(Fault::new(
                SessionRejectReason::IncorrectDataFormat,
                sending_time,
            )),
        }
    }

    /// SendingTime (`sent`, as `validate` read it) further from our clock than MaxLatency
    /// allows (queued messages were timely when they arrived).
    pub(super) fn time_off(&self, now_ns: u64, sent: u64, queued: bool) -> bool {
        !queued && self.max_latency_ns > 0 && now_ns.abs_diff(sent) > self.max_latency_ns
    }

    /// The message is addressed from our counterparty to us.
    pub(super) fn comp_ids_ok(&self, msg: &Msg<'_>) -> bool {
        msg.get(tag::SENDER_COMP_ID) == Some(self.cfg.target_comp_id.as_bytes())
            && msg.get(tag::TARGET_COMP_ID) == Some(self.cfg.sender_comp_id.as_bytes())
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
        let orig = Some(tag::ORIG_SENDING_TIME);
        match msg.get(tag::ORIG_SENDING_TIME).map(parse_utc_timestamp) {
            None => {
                let f = Fault::new(SessionRejectReason::RequiredTagMissing, orig);
                self.send_reject(now_ns, r, f, io);
            }
            Some(None) => {
                let f = Fault::new(SessionRejectReason::IncorrectDataFormat, orig);
                self.send_reject(now_ns, r, f, io);
            }
            Some(Some(o)) if sent.is_some_and(|s| o > s) => {
                let f = Fault::new(SessionRejectReason::SendingTimeAccuracyProblem, None);
                self.send_reject(now_ns, r, f, io);
                self.logout(now_ns, "", io);
            }
            Some(Some(_)) => {}
        }
    }

    /// Sends a session reject (35=3) of the peer's message `ref_seq` (of type
    /// `ref_msg_type`) that passed the session's checks but whose content the
    /// application cannot use (a market data refresh it cannot read: R-VEN-6). Nothing
    /// is sent unless logged on.
    pub fn reject_app(
        &mut self,
        now_ns: u64,
        ref_seq: u64,
        ref_msg_type: &[u8],
        reason: SessionRejectReason,
        ref_tag: Option<u32>,
        io: &mut impl SessionIo,
    ) {
        if !self.is_logged_on() {
            return;
        }
        let r = Ref {
            seq: Some(ref_seq),
            msg_type: ref_msg_type,
            route: &[],
        };
        self.send_reject(now_ns, &r, Fault::new(reason, ref_tag), io);
    }

    /// Sends a session reject (35=3) about the message `r` refers to, reverse-routed.
    /// Its body: RefSeqNum (45), the reason's text (58), RefTagID (371) when the fault
    /// names a tag, RefMsgType (372) and SessionRejectReason (373) — left out on FIX 4.2
    /// for the values 4.2 does not define.
    pub(super) fn send_reject(
        &mut self,
        now_ns: u64,
        r: &Ref<'_>,
        f: Fault,
        io: &mut impl SessionIo,
    ) {
        let fix42 = self.cfg.begin_string == "FIX.4.2";
        let text = f.reason.text();
        self.send_next(now_ns, msg_type::REJECT, r.route, io, |enc, _| {
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
}
