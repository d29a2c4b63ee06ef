//! Where a session is, and what each state holds: a deadline while a Logon or Logout is
//! awaited; the outstanding TestRequest, the repair of a gap in the peer's numbers and
//! the resend we are serving while logged on. Leaving a state drops what it held, so
//! nothing of one connection (or one logon) can leak into the next.

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
        replay: Replay,
    },
    /// A gap's repair, and a resend being served, go on while the Logout is awaited: the
    /// peer may still resend, and the Logout waits behind the resend.
    LogoutPending {
        /// When the peer must have answered (unix ns).
        deadline: u64,
        gap: Gap,
        replay: Replay,
    },
}

impl Phase {
    /// Just logged on: nothing outstanding.
    pub(super) fn active() -> Phase {
        Phase::Active {
            test_request: None,
            gap: Gap::default(),
            replay: Replay::default(),
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

    /// The resend we serve, in the states that have one.
    pub(super) fn replay(&self) -> Option<&Replay> {
        match self {
            Phase::Active { replay, .. } | Phase::LogoutPending { replay, .. } => Some(replay),
            _ => None,
        }
    }

    pub(super) fn replay_mut(&mut self) -> Option<&mut Replay> {
        match self {
            Phase::Active { replay, .. } | Phase::LogoutPending { replay, .. } => Some(replay),
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
    /// Bytes of the frames in `queue`.
    pub(super) queued_bytes: usize,
    /// Our ResendRequest, until its answer has closed the gap.
    pub(super) resend: Option<PendingResend>,
}

impl Gap {
    /// Forgets the hole (the numbers were reset or set).
    pub(super) fn clear(&mut self) {
        self.queue.clear();
        self.queued_bytes = 0;
        self.resend = None;
    }

    /// Takes the first queued message out, keeping the byte count.
    pub(super) fn pop_first(&mut self) -> Option<(u64, Queued)> {
        let (k, q) = self.queue.pop_first()?;
        self.queued_bytes -= q.bytes();
        Some((k, q))
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

impl Queued {
    /// Bytes it keeps.
    pub(super) fn bytes(&self) -> usize {
        match self {
            Queued::Frame(f) => f.len(),
            Queued::Consumed => 0,
        }
    }
}

/// Our side of resends: the peer's ResendRequest being served, as far as the owner's
/// output has had room, and our own messages numbered meanwhile. Those wait in the
/// store (where every numbered message already is, so holding them costs nothing) and go
/// out once the resend is done: a resend never interleaves with live traffic, however
/// long the peer takes to read it.
#[derive(Debug, Default)]
pub(super) struct Replay {
    /// The ResendRequest being served.
    pub(super) serving: Option<Serving>,
    /// ResendRequests that came while one was served, merged into one range (a peer
    /// that asks again has lost patience, not new messages: the union is what it wants).
    pub(super) next: Option<(u64, u64)>,
    /// The first of our messages numbered since the resend began: it and every number
    /// after it wait in the store.
    pub(super) held_from: Option<u64>,
    /// Their bytes.
    pub(super) held_bytes: usize,
    /// What waits went past the owner's bound: the peer does not read.
    pub(super) overflow: bool,
}

impl Replay {
    /// Whether our output must wait: a resend is being served, or what waited behind one
    /// has not all gone out yet.
    pub(super) fn busy(&self) -> bool {
        self.serving.is_some() || self.held_from.is_some()
    }
}

/// A range of ours being resent.
#[derive(Clone, Copy, Debug)]
pub(super) struct Serving {
    /// The first number asked for (the [`super::SessionEvent::Resent`] event names it).
    pub(super) from: u64,
    /// The next number to look at.
    pub(super) next: u64,
    /// The last number of the range.
    pub(super) end: u64,
    /// The first of a run of numbers to gap-fill, not written yet.
    pub(super) run: Option<u64>,
}

/// A ResendRequest we sent and whose answer has not completed yet.
#[derive(Clone, Copy, Debug)]
pub(super) struct PendingResend {
    /// The highest sequence number seen ahead of the gap; done once next_in passes it.
    pub(super) hi: u64,
    /// A resent (PossDup) message or GapFill has arrived since we asked.
    pub(super) answered: bool,
    /// When we asked, or when the resend timer last found the gap closing.
    pub(super) since: u64,
    /// A number of the gap was consumed since `since`.
    pub(super) moved: bool,
    /// We asked a second time, the first request having gone unanswered.
    pub(super) asked_again: bool,
}

impl PendingResend {
    /// Asked at `now` because of the peer's message `hi`, beyond the gap.
    pub(super) fn new(hi: u64, now: u64) -> PendingResend {
        PendingResend {
            hi,
            answered: false,
            since: now,
            moved: false,
            asked_again: false,
        }
    }
}
