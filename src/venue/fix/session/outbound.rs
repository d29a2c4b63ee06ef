//! What the session writes: the header in tag order (as QuickFIX writes it, and
//! counterparties compare it field by field), numbering and storing before sending, and
//! one function per message the session sends of its own accord.

use super::{tag, SendError, Session, SessionConfig, SessionIo, NS};
use crate::venue::fix::codec::{self, Encoder, Field};
use crate::venue::fix::msg_type;

/// Header fields the session writes itself on every message it sends.
const SESSION_HEADER_TAGS: [u32; 9] = [
    tag::BEGIN_STRING,
    tag::BODY_LENGTH,
    tag::MSG_TYPE,
    tag::MSG_SEQ_NUM,
    tag::POSS_DUP_FLAG,
    tag::SENDER_COMP_ID,
    tag::SENDING_TIME,
    tag::TARGET_COMP_ID,
    tag::ORIG_SENDING_TIME,
];

/// Whether the session writes `tag` itself on every message it sends (so a header the
/// owner passes along leaves it out).
pub fn is_session_header_tag(tag: u32) -> bool {
    SESSION_HEADER_TAGS.contains(&tag)
}

/// The OrigSendingTime (122) of a PossDup message.
#[derive(Clone, Copy)]
pub(super) enum Orig<'a> {
    /// As stored with the original.
    Stored(&'a [u8]),
    /// The new SendingTime (a GapFill, or an original without one).
    Now,
}

/// Starts a message in `enc` and writes its header in tag order: 34, 43 (with `orig`),
/// 49, 52, 56, 122 (with `orig`), merged with `extra` (sorted by tag; the session's own
/// tags among them are skipped).
pub(super) fn write_header(
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

impl Session {
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
        if !self.is_logged_on() {
            return Err(SendError::NotLoggedOn);
        }
        let seq = self.send_next(now_ns, msg_type, header, io, |enc, _| body(enc));
        self.check_output_bound(io);
        Ok(seq)
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
        let appl = self.fixt_appl_ver_id().map(str::to_owned);
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

    /// The DefaultApplVerID this session states, on FIXT.1.1 only.
    fn fixt_appl_ver_id(&self) -> Option<&str> {
        if self.cfg.begin_string == "FIXT.1.1" {
            self.cfg.default_appl_ver_id.as_deref()
        } else {
            None
        }
    }

    /// Takes the next outbound MsgSeqNum for a new message (header fields `header`, body
    /// written by `body`), stores the frame, then sends it: the store answers for every
    /// number before the peer can ask for it. While a resend is being served the frame
    /// waits in the store instead, and follows the resend. Returns the number.
    pub(super) fn send_next(
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
        if msg_type == msg_type::LOGON && cfg.password.is_some() {
            // The store writes frames to disk: the password does not go with it. A
            // Logon is never resent (admin messages are gap-filled), so the copy only
            // has to stay a well-formed frame.
            io.store(seq, &without_password(frame));
        } else {
            io.store(seq, frame);
        }
        self.seqs.next_out = seq + 1;
        // A message that waits counts as sent for the heartbeat: the peer gets it as
        // soon as it reads what is ahead of it.
        self.last_sent_ns = now_ns;
        match self.phase.replay_mut().filter(|r| r.busy()) {
            Some(r) => {
                r.held_from.get_or_insert(seq);
                r.held_bytes += frame.len();
                r.overflow |= io.unsent().saturating_add(r.held_bytes) > io.unsent_limit();
            }
            None => io.send(frame),
        }
        seq
    }

    /// Our Logon: `opening` an initiator's connection (with its credentials), or
    /// answering the peer's. It states the heartbeat interval in effect, ResetSeqNumFlag
    /// when `reset`, and DefaultApplVerID on FIXT.
    pub(super) fn send_logon(
        &mut self,
        now_ns: u64,
        opening: bool,
        reset: bool,
        io: &mut impl SessionIo,
    ) {
        let hb = self.hb_ns / NS;
        let appl = self.fixt_appl_ver_id().map(str::to_owned);
        self.send_next(now_ns, msg_type::LOGON, &[], io, |enc, cfg| {
            enc.uint(tag::ENCRYPT_METHOD, 0).uint(tag::HEART_BT_INT, hb);
            if reset {
                enc.flag(tag::RESET_SEQ_NUM_FLAG, true);
            }
            if opening {
                if let Some(u) = &cfg.username {
                    enc.bytes(tag::USERNAME, u.as_bytes());
                }
                if let Some(p) = &cfg.password {
                    enc.bytes(tag::PASSWORD, p.expose());
                }
            }
            if let Some(v) = &appl {
                enc.bytes(tag::DEFAULT_APPL_VER_ID, v.as_bytes());
            }
        });
    }

    /// A Logout, with `text` in Text (58) unless empty.
    pub(super) fn send_logout(&mut self, now_ns: u64, text: &str, io: &mut impl SessionIo) {
        self.send_next(now_ns, msg_type::LOGOUT, &[], io, |enc, _| {
            if !text.is_empty() {
                enc.bytes(tag::TEXT, text.as_bytes());
            }
        });
    }

    /// A Heartbeat: on our interval, or answering the peer's TestRequest `test_req_id`.
    pub(super) fn send_heartbeat(
        &mut self,
        now_ns: u64,
        test_req_id: Option<&[u8]>,
        io: &mut impl SessionIo,
    ) {
        self.send_next(now_ns, msg_type::HEARTBEAT, &[], io, |enc, _| {
            if let Some(id) = test_req_id {
                enc.bytes(tag::TEST_REQ_ID, id);
            }
        });
    }
}

/// `frame` with the value of Password (554) replaced by `*`s of the same length and the
/// CheckSum written again.
fn without_password(frame: &[u8]) -> Vec<u8> {
    let mut f = frame.to_vec();
    let Some(at) = f.windows(5).position(|w| w == b"\x01554=") else {
        return f;
    };
    let start = at + 5;
    let end = f[start..]
        .iter()
        .position(|&b| b == 0x01)
        .map_or(f.len(), |n| start + n);
    f[start..end].fill(b'*');
    // The trailer is the last 7 bytes: `10=NNN` and SOH.
    if let Some(body) = f.len().checked_sub(7) {
        let sum = codec::checksum(&f[..body]);
        f[body + 3..body + 6].copy_from_slice(format!("{sum:03}").as_bytes());
    }
    f
}
