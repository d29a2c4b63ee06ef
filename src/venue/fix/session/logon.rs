//! Logging on and off, and the connection's end: the Logon exchange (with its refusals
//! and resets), the Logout handshake, and disconnecting.

use super::state::{Phase, Queued, State};
use super::{secs_ns, tag, Role, Session, SessionEvent, SessionIo, MAX_HEARTBEAT_SECS};
use crate::venue::fix::codec::{self, Msg};

impl Session {
    /// A connection is up: an initiator sends Logon, an acceptor waits for one.
    pub fn on_connected(&mut self, now_ns: u64, io: &mut impl SessionIo) {
        self.phase = Phase::Disconnected;
        self.clear_connection();
        if !self.check_window(now_ns, io) {
            io.event(SessionEvent::Disconnect("outside session window".into()));
            return;
        }
        self.phase = Phase::LogonPending {
            deadline: now_ns.saturating_add(secs_ns(self.cfg.logon_timeout_secs.into())),
        };
        self.last_recv_ns = now_ns;
        self.last_sent_ns = now_ns;
        self.hb_ns = secs_ns(self.cfg.heartbeat_secs.into());
        if self.cfg.role == Role::Initiator {
            let reset = self.cfg.reset_on_logon;
            if reset {
                self.reset_seqs(io);
            }
            self.send_logon(now_ns, true, reset, io);
        }
    }

    /// The connection is gone (either side closed it, or the owner did after a
    /// [`SessionEvent::Disconnect`]).
    pub fn on_disconnected(&mut self, now_ns: u64, io: &mut impl SessionIo) {
        let _ = now_ns;
        if self.state() != State::Disconnected {
            self.phase = Phase::Disconnected;
            self.clear_connection();
            if self.cfg.reset_on_disconnect {
                self.reset_seqs(io);
            }
        }
    }

    /// Starts the logout handshake (or, if not logged on, just disconnects).
    pub fn logout(&mut self, now_ns: u64, text: &str, io: &mut impl SessionIo) {
        match self.state() {
            State::Disconnected | State::LogoutPending => {}
            State::LogonPending => self.disconnect(text, io),
            State::Active => {
                self.send_logout(now_ns, text, io);
                // A gap being repaired stays open: the peer may still resend. A resend
                // being served goes on, and the Logout waits behind it.
                let gap = self.phase.gap_mut().map(std::mem::take).unwrap_or_default();
                let replay = self
                    .phase
                    .replay_mut()
                    .map(std::mem::take)
                    .unwrap_or_default();
                let wait = secs_ns(self.cfg.logout_timeout_secs.into());
                self.phase = Phase::LogoutPending {
                    deadline: now_ns.saturating_add(wait),
                    gap,
                    replay,
                };
            }
        }
    }

    /// The peer's Logon (`seq` its MsgSeqNum): accepted (answered by an acceptor, or by
    /// anyone when it resets the numbers), refused (the connection closes, unanswered
    /// before we are logged on), or a copy of one already seen.
    pub(super) fn on_logon(
        &mut self,
        now_ns: u64,
        msg: &Msg<'_>,
        seq: u64,
        poss_dup: bool,
        queued: bool,
        io: &mut impl SessionIo,
    ) {
        let peer_reset = msg.get(tag::RESET_SEQ_NUM_FLAG) == Some(b"Y");
        let relogon = self.state() != State::LogonPending;
        if relogon && !peer_reset {
            if seq < self.seqs.next_in && poss_dup {
                return; // a resent copy of the Logon
            }
            self.logout_and_disconnect(now_ns, "unexpected Logon while logged on", io);
            return;
        }
        if let Some((why, tell)) = self.logon_refusal(now_ns, msg, queued) {
            if relogon || tell {
                self.logout_and_disconnect(now_ns, &why, io);
            } else {
                self.disconnect(&why, io);
            }
            return;
        }
        let acceptor = self.cfg.role == Role::Acceptor;
        let mut answer = acceptor;
        let mut reset_out = false;
        if peer_reset && (relogon || acceptor) {
            // The peer starts both sequences again, mid-session too: so do we, and say so.
            self.reset_seqs(io);
            reset_out = true;
            answer = true;
        } else if acceptor && self.cfg.reset_on_logon {
            self.reset_seqs(io);
        } else if !acceptor && peer_reset && self.seqs.next_in != 1 {
            // The broker started its sequence again: what the store holds belongs to
            // the old one (and a restart must not restore the old inbound number).
            self.seqs.next_in = 1;
            self.forget_gap();
            io.reset(self.seqs);
            io.event(SessionEvent::SeqReset(self.seqs));
        }
        if acceptor && !relogon {
            // In range: `logon_refusal` checked it.
            self.hb_ns = secs_ns(msg.get_u64(tag::HEART_BT_INT).unwrap_or(0));
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
        if answer {
            self.send_logon(now_ns, false, reset_out, io);
        }
        self.phase = Phase::active();
        if !relogon {
            io.event(SessionEvent::LoggedOn);
        }
        if seq > self.seqs.next_in {
            if self.enqueue(now_ns, seq, Queued::Consumed, io) {
                self.ask_resend(now_ns, seq, poss_dup, io);
            }
        } else {
            self.seqs.next_in += 1;
        }
    }

    /// Why a Logon is not accepted, if it is not, and whether to say so: nothing is
    /// answered to such a Logon (QuickFIX's way, which its acceptance suite checks),
    /// except a HeartBtInt out of range, refused with a Logout saying why (QuickFIX/J
    /// refuses a negative one so): the other side's setting, for a human to fix.
    fn logon_refusal(
        &mut self,
        now_ns: u64,
        msg: &Msg<'_>,
        queued: bool,
    ) -> Option<(String, bool)> {
        let acceptor = self.cfg.role == Role::Acceptor;
        let heartbeat = msg.get(tag::HEART_BT_INT);
        let sent = match self.validate(msg) {
            Err(f) => return Some((format!("Logon refused: {}", f.reason.text()), false)),
            Ok(sent) => sent,
        };
        let why = if self.cfg.begin_string == "FIXT.1.1"
            && msg.get(tag::DEFAULT_APPL_VER_ID).is_none()
        {
            "DefaultApplVerID(1137) missing"
        } else if self.time_off(now_ns, sent, queued) {
            "SendingTime accuracy problem"
        } else if !self.comp_ids_ok(msg) {
            "CompID problem"
        } else if acceptor && heartbeat.is_none() {
            "HeartBtInt(108) missing"
        } else if acceptor
            && heartbeat
                .and_then(codec::parse_u64)
                .is_none_or(|h| h > MAX_HEARTBEAT_SECS)
        {
            let text = format!(
                "Logon refused: HeartBtInt(108) {} out of range (0 to {MAX_HEARTBEAT_SECS} seconds)",
                String::from_utf8_lossy(heartbeat.unwrap_or_default())
            );
            return Some((text, true));
        } else {
            return None;
        };
        Some((format!("Logon refused: {why}"), false))
    }

    /// The peer's Logout, whatever its MsgSeqNum (consumed only when it is the expected
    /// one): answered if we did not start the handshake, then the connection ends.
    pub(super) fn on_logout(
        &mut self,
        now_ns: u64,
        msg: &Msg<'_>,
        seq: u64,
        io: &mut impl SessionIo,
    ) {
        if seq == self.seqs.next_in {
            self.seqs.next_in += 1;
        }
        match self.state() {
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

    /// The owner must drop the connection: report it and forget the connection.
    pub(super) fn disconnect(&mut self, why: &str, io: &mut impl SessionIo) {
        if self.state() == State::Disconnected {
            return;
        }
        self.phase = Phase::Disconnected;
        self.clear_connection();
        io.event(SessionEvent::Disconnect(why.to_string()));
        if self.cfg.reset_on_disconnect {
            self.reset_seqs(io);
        }
    }

    /// A Logout saying `why`, and the connection ends without waiting for an answer.
    /// What waited behind a resend would never go out now: the Logout goes straight
    /// out, so the peer learns why.
    pub(super) fn logout_and_disconnect(
        &mut self,
        now_ns: u64,
        why: &str,
        io: &mut impl SessionIo,
    ) {
        if let Some(r) = self.phase.replay_mut() {
            *r = Default::default();
        }
        self.send_logout(now_ns, why, io);
        self.disconnect(why, io);
    }
}
