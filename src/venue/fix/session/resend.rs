//! Resends both ways: serving the peer's ResendRequest from the store (PossDup copies
//! and SequenceReset-GapFills), asking for a gap in the peer's numbers, and the peer's
//! SequenceResets (GapFill in its turn, Reset at any time).

use super::inbound::{Fault, Ref};
use super::outbound::{is_session_header_tag, write_header, Orig};
use super::state::{PendingResend, Serving};
use super::{Session, SessionEvent, SessionIo, MAX_SEQ_NUM};
use crate::venue::fix::codec::{self, Msg};
use crate::venue::fix::reject::SessionRejectReason;
use crate::venue::fix::{msg_type, tag};

/// FIX 4.2 and earlier said "up to infinity" with EndSeqNo 999999 (later versions: 0).
const FIX42_INFINITY: u64 = 999_999;

/// Room a SequenceReset-GapFill needs in the owner's output (its encoder's capacity).
const GAP_FILL_ROOM: usize = 512;

/// Whether `need` more bytes fit in the half of the owner's bound a resend may fill.
/// With nothing unsent one message always goes, so a bound smaller than a message still
/// moves on.
fn has_room(io: &impl SessionIo, need: usize) -> bool {
    let unsent = io.unsent();
    unsent == 0 || unsent.saturating_add(need) <= io.unsent_limit() / 2
}

impl Session {
    /// Starts serving the peer's ResendRequest from the store: as much of it as the
    /// owner's output has room for now, the rest at [`Session::on_writable`]. Our own
    /// messages numbered meanwhile wait behind it, so it never interleaves with live
    /// traffic; a ResendRequest that comes while one is served is served next.
    pub(super) fn serve_resend(
        &mut self,
        now_ns: u64,
        msg: &Msg<'_>,
        r: &Ref<'_>,
        io: &mut impl SessionIo,
    ) {
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
        let fix42 = self.cfg.begin_string == "FIX.4.2";
        let Some(replay) = self.phase.replay_mut() else {
            return;
        };
        // The last number that went out: messages waiting behind an earlier resend have
        // numbers, but were never sent, so they cannot be sent "again" before they are.
        let last = replay
            .held_from
            .unwrap_or(self.seqs.next_out)
            .saturating_sub(1);
        let begin = begin.max(1);
        let infinity = end == 0 || (fix42 && end == FIX42_INFINITY);
        let end = if infinity || end > last { last } else { end };
        if begin > end {
            return;
        }
        if replay.serving.is_some() {
            replay.next = Some(match replay.next {
                Some((b, e)) => (b.min(begin), e.max(end)),
                None => (begin, end),
            });
            return;
        }
        replay.serving = Some(Serving {
            from: begin,
            next: begin,
            end,
            run: None,
        });
        self.pump_replay(now_ns, io);
    }

    /// The owner's output has room again (its socket took some of it): the resend being
    /// served goes on, then the messages of ours that waited behind it.
    pub fn on_writable(&mut self, now_ns: u64, io: &mut impl SessionIo) {
        self.pump_replay(now_ns, io);
        self.check_output_bound(io);
    }

    /// Writes what the owner's output has room for: the range being served, the next
    /// range asked for meanwhile, then what waited behind them, in that order.
    fn pump_replay(&mut self, now_ns: u64, io: &mut impl SessionIo) {
        loop {
            let Some(replay) = self.phase.replay_mut() else {
                return;
            };
            if let Some(sv) = replay.serving {
                match self.resend_range(now_ns, sv, io) {
                    Some(left) => {
                        if let Some(r) = self.phase.replay_mut() {
                            r.serving = Some(left);
                        }
                        return;
                    }
                    None => {
                        io.event(SessionEvent::Resent {
                            from: sv.from,
                            to: sv.end,
                        });
                        if let Some(r) = self.phase.replay_mut() {
                            r.serving = r.next.take().map(|(b, e)| Serving {
                                from: b,
                                next: b,
                                end: e,
                                run: None,
                            });
                        }
                    }
                }
            } else if replay.held_from.is_some() {
                self.send_held(now_ns, io);
                return;
            } else {
                return;
            }
        }
    }

    /// Resends `sv` as far as there is room: None when the range is done, else where it
    /// stopped. Numbers that cannot be resent are collapsed into one GapFill per run.
    fn resend_range(
        &mut self,
        now_ns: u64,
        mut sv: Serving,
        io: &mut impl SessionIo,
    ) -> Option<Serving> {
        while sv.next <= sv.end {
            let s = sv.next;
            if self.prepare_resend(now_ns, s, io) {
                let need = self.enc.frame().len() + sv.run.map_or(0, |_| GAP_FILL_ROOM);
                if !has_room(io, need) {
                    // Encoded again when there is room (with a later SendingTime).
                    return Some(sv);
                }
                if let Some(g) = sv.run.take() {
                    self.send_gap_fill(now_ns, g, s, io);
                }
                io.send(self.enc.frame());
                self.last_sent_ns = now_ns;
            } else if sv.run.is_none() {
                sv.run = Some(s);
            }
            sv.next += 1;
        }
        if let Some(g) = sv.run {
            if !has_room(io, GAP_FILL_ROOM) {
                return Some(sv);
            }
            self.send_gap_fill(now_ns, g, sv.end + 1, io);
        }
        None
    }

    /// Sends the messages of ours that waited behind a resend, from the store, as they
    /// were numbered (not PossDup: they never went out), as far as there is room.
    fn send_held(&mut self, now_ns: u64, io: &mut impl SessionIo) {
        let Some(from) = self.phase.replay().and_then(|r| r.held_from) else {
            return;
        };
        let upto = self.seqs.next_out;
        let mut s = from;
        let mut sent = 0;
        while s < upto {
            match io.stored(s) {
                Some(f) => {
                    if !has_room(io, f.len()) {
                        break;
                    }
                    self.resend_buf.clear();
                    self.resend_buf.extend_from_slice(f);
                    io.send(&self.resend_buf);
                    sent += self.resend_buf.len();
                }
                // A store that lost it: like a number missing from a resend.
                None => {
                    if !has_room(io, GAP_FILL_ROOM) {
                        break;
                    }
                    self.send_gap_fill(now_ns, s, s + 1, io);
                }
            }
            self.last_sent_ns = now_ns;
            s += 1;
        }
        if let Some(r) = self.phase.replay_mut() {
            r.held_bytes = r.held_bytes.saturating_sub(sent);
            if s < upto {
                r.held_from = Some(s);
            } else {
                r.held_from = None;
                r.held_bytes = 0;
            }
        }
    }

    /// Disconnects a peer whose unread output, with what waits behind a resend, went
    /// past the owner's bound: it is not reading.
    pub(super) fn check_output_bound(&mut self, io: &mut impl SessionIo) {
        if self.phase.replay().is_some_and(|r| r.overflow) {
            self.disconnect(
                "the peer does not read: output waiting behind a resend is over its bound",
                io,
            );
        }
    }

    /// Re-encodes stored message `s` into the encoder with PossDupFlag and
    /// OrigSendingTime, its header in tag order. False when it must be gap filled
    /// instead: missing, unreadable, a session-level message, or an application message
    /// the owner will not send again.
    fn prepare_resend(&mut self, now_ns: u64, s: u64, io: &mut impl SessionIo) -> bool {
        let Some(stored) = io.stored(s) else {
            return false;
        };
        // Copied out of the store, so the owner can be asked about it below.
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
            let trailer = matches!(
                f.tag,
                tag::CHECK_SUM | tag::SIGNATURE | tag::SIGNATURE_LENGTH
            );
            if !codec::is_standard_header_tag(f.tag) && !trailer {
                self.enc.bytes(f.tag, f.value);
            }
        }
        self.enc.finish();
        true
    }

    /// A SequenceReset-GapFill under the old number `seq`, moving the peer to `new_seq`.
    /// Written with its own encoder: the main one may hold the next message to resend.
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

    /// The peer's message `seq` is beyond a gap: asks for everything from the expected
    /// number on (`next_in..0`), unless our outstanding request already covers it. A live
    /// message still ahead after the peer answered means the answer did not close the
    /// gap: then we ask again.
    pub(super) fn ask_resend(
        &mut self,
        now_ns: u64,
        seq: u64,
        poss_dup: bool,
        io: &mut impl SessionIo,
    ) {
        if let Some(r) = self.phase.gap_mut().and_then(|g| g.resend.as_mut()) {
            if !r.answered || poss_dup {
                r.hi = r.hi.max(seq);
                return;
            }
        }
        self.send_resend_request(now_ns, io);
        if let Some(g) = self.phase.gap_mut() {
            g.resend = Some(PendingResend::new(seq, now_ns));
        }
    }

    /// ResendRequest `next_in..0`.
    fn send_resend_request(&mut self, now_ns: u64, io: &mut impl SessionIo) {
        let from = self.seqs.next_in;
        self.send_next(now_ns, msg_type::RESEND_REQUEST, &[], io, |enc, _| {
            enc.uint(tag::BEGIN_SEQ_NO, from).uint(tag::END_SEQ_NO, 0);
        });
        io.event(SessionEvent::ResendRequested { from, to: 0 });
    }

    /// How long our ResendRequest may go without the gap closing any further:
    /// HeartBtInt + 20 %, the silence a peer is allowed, or 30 s without heartbeats.
    fn resend_patience_ns(&self) -> u64 {
        if self.hb_ns > 0 {
            self.grace_ns()
        } else {
            30_000_000_000
        }
    }

    /// When [`Session::resend_timer`] next has something to look at.
    pub(super) fn resend_deadline(&self) -> Option<u64> {
        let r = self.phase.gap()?.resend?;
        Some(r.since.saturating_add(self.resend_patience_ns()))
    }

    /// Our ResendRequest went unanswered: the peer lost it, or dropped it (a peer with a
    /// gap of its own may drop everything ahead of it, a ResendRequest included). Every
    /// message after the gap waits in our queue meanwhile, fills included, so waiting
    /// for ever would leave the owner blind while the peer trades. Nothing closing the
    /// gap for [`Session::resend_patience_ns`]: asked once more; as long again: logged
    /// out, and the next logon repairs the gap afresh (the queue is dropped with the
    /// connection, and the peer resends it all). Patience is not counted while our own
    /// output waits behind a resend we serve: our ResendRequest waits there too, and the
    /// peer has not seen it yet.
    pub(super) fn resend_timer(&mut self, now_ns: u64, io: &mut impl SessionIo) {
        let patience = self.resend_patience_ns();
        let held = self.phase.replay().is_some_and(|r| r.busy());
        let Some(r) = self.phase.gap_mut().and_then(|g| g.resend.as_mut()) else {
            return;
        };
        if now_ns < r.since.saturating_add(patience) {
            return;
        }
        r.since = now_ns;
        if std::mem::take(&mut r.moved) || held {
            // Still closing, if slowly, or not asked yet as far as the peer knows:
            // patience starts over.
            return;
        }
        if !r.asked_again {
            r.asked_again = true;
            // What arrives beyond the gap from now on waits for this request's answer,
            // not a third request (`ask_resend`).
            r.answered = false;
            self.send_resend_request(now_ns, io);
        } else {
            self.logout(now_ns, "ResendRequest unanswered", io);
        }
    }

    /// SequenceReset in Reset mode: its own MsgSeqNum is neither checked nor consumed.
    pub(super) fn on_sequence_reset(
        &mut self,
        now_ns: u64,
        msg: &Msg<'_>,
        r: &Ref<'_>,
        queued: bool,
        io: &mut impl SessionIo,
    ) {
        let sent = match self.validate(msg) {
            Ok(sent) => sent,
            Err(f) => return self.send_reject(now_ns, r, f, io),
        };
        // Here a CompID problem outranks a SendingTime one.
        let reason = if !self.comp_ids_ok(msg) {
            SessionRejectReason::CompIdProblem
        } else if self.time_off(now_ns, sent, queued) {
            SessionRejectReason::SendingTimeAccuracyProblem
        } else {
            return self.move_next_in(now_ns, msg, r, None, io);
        };
        self.send_reject(now_ns, r, Fault::new(reason, None), io);
        self.logout(now_ns, "", io);
    }

    /// SequenceReset-GapFill in its turn (next_in already counts it).
    pub(super) fn on_gap_fill(
        &mut self,
        now_ns: u64,
        msg: &Msg<'_>,
        r: &Ref<'_>,
        io: &mut impl SessionIo,
    ) {
        self.move_next_in(now_ns, msg, r, Some(r.seq.unwrap_or(0)), io);
    }

    /// Moves the expected inbound number up to NewSeqNo (36). Moving it back is
    /// refused: a Reset (`gap_fill` None) may name the expected number itself, a GapFill
    /// (`gap_fill` its own MsgSeqNum) must name one beyond its own.
    fn move_next_in(
        &mut self,
        now_ns: u64,
        msg: &Msg<'_>,
        r: &Ref<'_>,
        gap_fill: Option<u64>,
        io: &mut impl SessionIo,
    ) {
        let Some(new) = msg.get_u64(tag::NEW_SEQ_NO) else {
            let missing = Some(tag::NEW_SEQ_NO);
            let f = Fault::new(SessionRejectReason::RequiredTagMissing, missing);
            self.send_reject(now_ns, r, f, io);
            return;
        };
        if new > MAX_SEQ_NUM {
            // Moving there would leave the next message's number beyond counting.
            let f = Fault::new(SessionRejectReason::ValueIsIncorrect, Some(tag::NEW_SEQ_NO));
            self.send_reject(now_ns, r, f, io);
            return;
        }
        if new > self.seqs.next_in {
            self.seqs.next_in = new;
            if let Some(p) = self.phase.gap_mut().and_then(|g| g.resend.as_mut()) {
                // A reset into the gap closes part of it, as a GapFill does.
                p.moved = true;
            }
            io.event(SessionEvent::SeqReset(self.seqs));
            return;
        }
        // A Reset back below the expected number names no tag; a GapFill that does not
        // move past itself names NewSeqNo.
        let refused = match gap_fill {
            None => (new < self.seqs.next_in).then_some(None),
            Some(seq) => (new <= seq).then_some(Some(tag::NEW_SEQ_NO)),
        };
        if let Some(ref_tag) = refused {
            let f = Fault::new(SessionRejectReason::ValueIsIncorrect, ref_tag);
            self.send_reject(now_ns, r, f, io);
        }
    }
}
