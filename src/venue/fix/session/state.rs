//! Where a session is, and what each state holds: a deadline while a Logon or Logout is
//! awaited; the outstanding TestRequest and the repair of a gap in the peer's numbers
//! while logged on. Leaving a state drops what it held, so nothing of one connection
//! (or one logon) can leak into the next.

use std::collections::BTreeMap;

/// Where the session is: [`super::Session::state`] answers with this, and owners
/// match on it.
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

/// A [`State`] with the data only that state has.
#[derive(Debug)]
pub(super) enum Phase {
    Disconnected,
    LogonPending {
        /// When the Logon must have been accepted (unix ns).
        deadline: u64,
    },
    Active {
        /// When our outstanding TestRequest went out; any message from the peer answers it.
        test_request: Option<u64>,
        gap: Gap,
    },
    /// A gap's repair goes on while the Logout is awaited: the peer may still resend.
    LogoutPending {
        /// When the peer must have answered (unix ns).
        deadline: u64,
        gap: Gap,
    },
}

impl Phase {
    /// Just logged on: nothing outstanding.
    pub(super) fn active() -> Phase {
        Phase::Active {
            test_request: None,
            gap: Gap::default(),
        }
    }

    pub(super) fn state(&self) -> State {
        match self {
            Phase::Disconnected => State::Disconnected,
            Phase::LogonPending { .. } => State::LogonPending,
            Phase::Active { .. } => State::Active,
            Phase::LogoutPending { .. } => State::LogoutPending,
        }
    }

    /// The repair of a gap in the peer's numbers, in the states that have one.
    pub(super) fn gap(&self) -> Option<&Gap> {
        match self {
            Phase::Active { gap, .. } | Phase::LogoutPending { gap, .. } => Some(gap),
            _ => None,
        }
    }

    pub(super) fn gap_mut(&mut self) -> Option<&mut Gap> {
        match self {
            Phase::Active { gap, .. } | Phase::LogoutPending { gap, .. } => Some(gap),
            _ => None,
        }
    }
}

/// What a logged-on session holds while the peer's numbers have a hole: the messages
/// that arrived beyond it, and the ResendRequest that asked for it.
#[derive(Debug, Default)]
pub(super) struct Gap {
    /// Messages received ahead of the expected number, by MsgSeqNum.
    pub(super) queue: BTreeMap<u64, Queued>,
    /// Our ResendRequest, until its answer has closed the gap.
    pub(super) resend: Option<PendingResend>,
}

impl Gap {
    /// Forgets the hole (the numbers were reset or set).
    pub(super) fn clear(&mut self) {
        self.queue.clear();
        self.resend = None;
    }
}

/// A message that arrived ahead of a gap.
#[derive(Debug)]
pub(super) enum Queued {
    /// The whole frame, handled when its turn comes.
    Frame(Vec<u8>),
    /// Already acted on (a Logon or ResendRequest): its turn only consumes the number.
    Consumed,
}

/// A ResendRequest we sent and whose answer has not completed yet.
#[derive(Clone, Copy, Debug)]
pub(super) struct PendingResend {
    /// The highest sequence number seen ahead of the gap; done once next_in passes it.
    pub(super) hi: u64,
    /// A resent (PossDup) message or GapFill has arrived since we asked.
    pub(super) answered: bool,
}
