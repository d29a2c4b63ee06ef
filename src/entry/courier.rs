//! The gateway's end of the core's rings. Commands go out in the order they were
//! taken; each is followed by a `Sync`, whose `Synced` answer marks the point where
//! everything the core said about that command has arrived — so an answer that names
//! no order (an unknown order, an unknown instrument) is known to belong to it.
//!
//! The core never waits for the gateway: a full inbound ring keeps commands here, in
//! order, and the gateway stops reading its clients' sockets until they are gone (TCP
//! pushes back on the clients).

use super::book::ClientId;
use super::reports::Echo;
use crate::core::Handle;
use crate::model::event::{Command, CoreEvent};
use std::collections::VecDeque;

/// A status request waiting for the core's answer: what the report echoes.
#[derive(Clone, Debug, PartialEq)]
pub struct StatusAsk {
    /// The ClOrdID the client asked about.
    pub cl: Echo,
    /// Its OrdStatusReqID (790).
    pub req_id: Option<Echo>,
    /// MsgSeqNum of the request.
    pub in_seq: u64,
}

/// What a command was for, to act on its answers.
#[derive(Clone, Debug, PartialEq)]
pub enum OpKind {
    /// A new order (`recovery`: submitted again after a restart, its first fate unknown).
    Submit {
        /// The order's slot in its session's book.
        slot: u32,
        /// Sent again after a restart.
        recovery: bool,
    },
    /// The client's cancel.
    Cancel {
        /// The order's slot.
        slot: u32,
        /// The cancel's ClOrdID (a later request on the same order is another op).
        cl: ClientId,
    },
    /// The client's cancel/replace.
    Replace {
        /// The order's slot.
        slot: u32,
        /// The replace's ClOrdID.
        cl: ClientId,
    },
    /// The client's status request (or a PossResend repeat of a NewOrderSingle).
    Status {
        /// The order's slot.
        slot: u32,
        /// What the answer echoes (boxed: rare, and large next to the others).
        ask: Box<StatusAsk>,
    },
    /// After a restart: where is this order now?
    Recover {
        /// The order's slot.
        slot: u32,
    },
    /// A top of book from the client.
    Quote {
        /// MsgSeqNum of the snapshot.
        in_seq: u64,
    },
}

impl OpKind {
    /// The order slot the command is about, if any.
    pub fn slot(&self) -> Option<u32> {
        match self {
            OpKind::Submit { slot, .. }
            | OpKind::Cancel { slot, .. }
            | OpKind::Replace { slot, .. }
            | OpKind::Status { slot, .. }
            | OpKind::Recover { slot } => Some(*slot),
            OpKind::Quote { .. } => None,
        }
    }
}

/// A command in flight, and the session it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Op {
    /// Index of the session.
    pub desk: u16,
    /// What it was for.
    pub kind: OpKind,
}

/// Commands to the core and their answers.
pub struct Courier {
    handle: Handle,
    queue: VecDeque<Command>,
    inflight: VecDeque<(u64, Op)>,
    next_token: u64,
    /// Commands handed to the core.
    pub sent: u64,
}

impl Courier {
    /// Over the producer handle the core gave the gateway.
    pub fn new(handle: Handle) -> Courier {
        Courier {
            handle,
            queue: VecDeque::with_capacity(4096),
            inflight: VecDeque::with_capacity(4096),
            next_token: 1,
            sent: 0,
        }
    }

    /// Sends `cmd` for `op` (now, or as soon as the ring has room).
    pub fn send(&mut self, cmd: Command, op: Op) {
        let token = self.next_token;
        self.next_token += 1;
        self.queue.push_back(cmd);
        self.queue.push_back(Command::Sync(token));
        self.inflight.push_back((token, op));
        self.pump();
    }

    /// Moves waiting commands into the ring; whether any moved.
    pub fn pump(&mut self) -> bool {
        let mut moved = false;
        while let Some(&c) = self.queue.front() {
            if self.handle.send(c).is_err() {
                break;
            }
            self.queue.pop_front();
            if !matches!(c, Command::Sync(_)) {
                self.sent += 1;
            }
            moved = true;
        }
        moved
    }

    /// Commands wait for room in the ring: read no more client input.
    pub fn blocked(&self) -> bool {
        !self.queue.is_empty()
    }

    /// The oldest command whose `Synced` has not arrived: the one an answer that names
    /// no order belongs to.
    pub fn front(&self) -> Option<&Op> {
        self.inflight.front().map(|(_, op)| op)
    }

    /// The command `token` was for, now fully answered.
    pub fn synced(&mut self, token: u64) -> Option<Op> {
        match self.inflight.front() {
            Some((t, _)) if *t == token => self.inflight.pop_front().map(|(_, op)| op),
            _ => None,
        }
    }

    /// The next event from the core, if one is waiting.
    pub fn event(&mut self) -> Option<CoreEvent> {
        self.handle.try_event()
    }
}
