//! Time: heartbeats and test requests while logged on, the Logon and Logout deadlines,
//! and the schedule's window opening and closing.

use super::state::{Phase, State};
use super::{msg_type, tag, Session, SessionIo};

/// The TestReqID of our TestRequests: fixed, as QuickFIX's is (its acceptance tests read
/// it back); any message from the peer answers it anyway.
const TEST_REQ_ID: &[u8] = b"TEST";

impl Session {
    /// Time passed: heartbeats, test requests, logon/logout timeouts, schedule.
    pub fn on_timer(&mut self, now_ns: u64, io: &mut impl SessionIo) {
        match self.phase {
            Phase::Disconnected => {
                self.check_window(now_ns, io);
            }
            Phase::LogonPending { deadline } => {
                if !self.still_in_window(now_ns) {
                    self.disconnect("outside session window", io);
                } else if now_ns >= deadline {
                    self.disconnect("logon timeout", io);
                }
            }
            Phase::Active { test_request, .. } => {
                if !self.still_in_window(now_ns) {
                    self.logout(now_ns, "end of session window", io);
                } else {
                    self.resend_timer(now_ns, io);
                    // Nothing but a resend goes out after our Logout.
                    if self.state() == State::Active {
                        self.heartbeat_timers(now_ns, test_request, io);
                    }
                }
            }
            Phase::LogoutPending { deadline, .. } => {
                if now_ns >= deadline {
                    self.disconnect("logout timeout", io);
                }
            }
        }
        self.check_output_bound(io);
    }

    /// The next instant `on_timer` has something to do, if any.
    pub fn next_deadline(&self) -> Option<u64> {
        let earliest = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (Some(x), Some(y)) => Some(x.min(y)),
            (x, None) => x,
            (None, y) => y,
        };
        match &self.phase {
            Phase::Disconnected => self.next_window(),
            Phase::LogonPending { deadline } => earliest(Some(*deadline), self.window_end()),
            Phase::Active { test_request, .. } => {
                let heartbeat = (self.hb_ns > 0).then(|| match test_request {
                    Some(t) => t.saturating_add(self.grace_ns()),
                    None => (self.last_sent_ns.saturating_add(self.hb_ns))
                        .min(self.last_recv_ns.saturating_add(self.grace_ns())),
                });
                earliest(
                    earliest(self.window_end(), heartbeat),
                    self.resend_deadline(),
                )
            }
            Phase::LogoutPending { deadline, .. } => Some(*deadline),
        }
    }

    /// How long the peer may stay silent: HeartBtInt + 20 %, as QuickFIX allows.
    pub(super) fn grace_ns(&self) -> u64 {
        self.hb_ns.saturating_add(self.hb_ns / 5)
    }

    /// A TestRequest after a silence longer than the grace, a disconnect when it stays
    /// unanswered as long again, and our Heartbeat when we have been quiet for an interval.
    fn heartbeat_timers(
        &mut self,
        now_ns: u64,
        test_request: Option<u64>,
        io: &mut impl SessionIo,
    ) {
        if self.hb_ns == 0 {
            return;
        }
        // While a TestRequest is outstanding nothing else goes out (QuickFIX sends no
        // heartbeat then): the peer's answer, or the disconnect, comes next.
        if let Some(t) = test_request {
            if now_ns >= t.saturating_add(self.grace_ns()) {
                self.disconnect("heartbeat timeout", io);
            }
        } else if now_ns >= self.last_recv_ns.saturating_add(self.grace_ns()) {
            self.send_test_request(now_ns, io);
        } else if now_ns >= self.last_sent_ns.saturating_add(self.hb_ns) {
            self.send_heartbeat(now_ns, None, io);
        }
    }

    /// A TestRequest, remembered as outstanding until the peer says anything.
    fn send_test_request(&mut self, now_ns: u64, io: &mut impl SessionIo) {
        self.send_next(now_ns, msg_type::TEST_REQUEST, &[], io, |enc, _| {
            enc.bytes(tag::TEST_REQ_ID, TEST_REQ_ID);
        });
        if let Phase::Active { test_request, .. } = &mut self.phase {
            *test_request = Some(now_ns);
        }
    }
}
