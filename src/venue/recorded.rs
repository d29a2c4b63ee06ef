//! A network venue as replay sees it: its inputs come back from the journal in the
//! order the live core applied them, and what the core sends it goes nowhere (the live
//! session sent it at the time; its own store has the bytes).

use super::{Venue, VenueError, VenueEvent, VenueEventKind, VenueOrder};
use crate::model::fixed::{Price, Qty};
use crate::model::ids::{AccountId, ClOrdId, InstrumentId};
use std::collections::VecDeque;

/// Replays a network venue's journaled inputs.
#[derive(Debug, Default)]
pub struct RecordedVenue {
    queue: VecDeque<VenueEvent>,
    up: bool,
    last_seq: u64,
}

impl RecordedVenue {
    /// A recorded venue, logged off until its journal says otherwise.
    pub fn new() -> RecordedVenue {
        RecordedVenue {
            queue: VecDeque::new(),
            up: false,
            last_seq: 0,
        }
    }

    /// Whether the journal left the session logged on.
    pub fn logged_on(&self) -> bool {
        self.up
    }

    /// Queues a journaled input; `poll` hands it out at its time.
    pub fn push(&mut self, ev: VenueEvent) {
        self.queue.push_back(ev);
    }

    /// The wire sequence number of the last input applied (0 if none).
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }
}

impl Venue for RecordedVenue {
    fn is_logged_on(&self) -> bool {
        self.up
    }
    // The live venue refused only when its session was down, which the journal records.
    fn submit(&mut self, _now: u64, _order: &VenueOrder) -> Result<(), VenueError> {
        if self.up {
            Ok(())
        } else {
            Err(VenueError::NotConnected)
        }
    }
    fn cancel(&mut self, _now: u64, _cl: ClOrdId, _orig: ClOrdId) -> Result<(), VenueError> {
        if self.up {
            Ok(())
        } else {
            Err(VenueError::NotConnected)
        }
    }
    fn replace(
        &mut self,
        _now: u64,
        _cl: ClOrdId,
        _orig: ClOrdId,
        _qty: Qty,
        _limit: Price,
    ) -> Result<(), VenueError> {
        if self.up {
            Ok(())
        } else {
            Err(VenueError::NotConnected)
        }
    }
    fn poll(&mut self, now: u64, out: &mut Vec<VenueEvent>) {
        while self.queue.front().is_some_and(|e| e.at_ns <= now) {
            let Some(ev) = self.queue.pop_front() else {
                break;
            };
            if let VenueEventKind::Session { up } = ev.kind {
                self.up = up;
            }
            self.last_seq = ev.src_seq;
            out.push(ev);
        }
    }
    fn next_event_at(&self) -> Option<u64> {
        self.queue.front().map(|e| e.at_ns)
    }
    fn positions(&self, _account: AccountId, _out: &mut Vec<(InstrumentId, Qty)>) {}
    // The live session was asked when it was up, and its answers are in the journal.
    fn snapshot(&mut self, _now: u64) -> bool {
        self.up
    }
    fn is_external(&self) -> bool {
        true
    }
}
