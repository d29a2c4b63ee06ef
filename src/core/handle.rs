//! A producer's end of the core: commands in through its own lock-free ring, events
//! back through another (R-IN-4a). Sending never blocks, and wakes the core if it sleeps
//! (the backoff idle strategy's wait); waiting, where asked for, backs off.

use super::bell::Bell;
use super::idle::Idle;
use crate::config::IdleKind;
use crate::model::event::{Command, CoreEvent, Inbound};
use crate::model::request::ExecutionRequest;
use std::time::{Duration, Instant};

/// A producer's end: sends commands, receives events.
pub struct Handle {
    tx: rtrb::Producer<Inbound>,
    rx: rtrb::Consumer<CoreEvent>,
    clock: quanta::Clock,
    bell: Bell,
}

// A full ring hands the command back by value: boxing it would allocate per request.
#[allow(clippy::result_large_err)]
impl Handle {
    pub(crate) fn new(
        tx: rtrb::Producer<Inbound>,
        rx: rtrb::Consumer<CoreEvent>,
        clock: quanta::Clock,
        bell: Bell,
    ) -> Handle {
        Handle {
            tx,
            rx,
            clock,
            bell,
        }
    }

    /// Sends a command now; gives it back if the ring is full.
    #[inline]
    pub fn send(&mut self, cmd: Command) -> Result<(), Command> {
        self.send_at(0, cmd)
    }

    /// Sends a command at event time `at_ns` (simulated clocks); 0 = now.
    #[inline]
    pub fn send_at(&mut self, at_ns: u64, cmd: Command) -> Result<(), Command> {
        let msg = Inbound {
            at_ns,
            stamp: self.clock.raw(),
            cmd,
        };
        self.tx
            .push(msg)
            .map_err(|rtrb::PushError::Full(m)| m.cmd)?;
        // A sleeping core is woken (one system call); an awake one costs a fence.
        self.bell.ring();
        Ok(())
    }

    /// Free slots in the command ring: how many commands [`Handle::send`] takes now.
    #[inline]
    pub fn room(&self) -> usize {
        self.tx.slots()
    }

    /// Submits an execution request now.
    pub fn submit(&mut self, req: ExecutionRequest) -> Result<(), Command> {
        self.send(Command::Submit(req))
    }

    /// Sends, waiting (with backoff) up to `timeout` for room in the ring.
    pub fn send_wait(
        &mut self,
        at_ns: u64,
        mut cmd: Command,
        timeout: Duration,
    ) -> Result<(), Command> {
        let deadline = Instant::now() + timeout;
        let mut idle = Idle::new(IdleKind::Backoff);
        loop {
            match self.send_at(at_ns, cmd) {
                Ok(()) => return Ok(()),
                Err(c) if Instant::now() >= deadline => return Err(c),
                Err(c) => {
                    cmd = c;
                    idle.idle(false);
                }
            }
        }
    }

    /// The next event, if one is waiting.
    #[inline]
    pub fn try_event(&mut self) -> Option<CoreEvent> {
        self.rx.pop().ok()
    }

    /// The next event, waiting (with backoff) up to `timeout`.
    pub fn next_event(&mut self, timeout: Duration) -> Option<CoreEvent> {
        let deadline = Instant::now() + timeout;
        let mut idle = Idle::new(IdleKind::Backoff);
        loop {
            if let Ok(e) = self.rx.pop() {
                return Some(e);
            }
            if Instant::now() >= deadline {
                return None;
            }
            idle.idle(false);
        }
    }

    /// The first event matching `f` within `timeout`; others are passed to `skip`.
    pub fn wait_for(
        &mut self,
        timeout: Duration,
        mut f: impl FnMut(&CoreEvent) -> bool,
        mut skip: impl FnMut(CoreEvent),
    ) -> Option<CoreEvent> {
        let deadline = Instant::now() + timeout;
        while let Some(e) = self.next_event(deadline.saturating_duration_since(Instant::now())) {
            if f(&e) {
                return Some(e);
            }
            skip(e);
        }
        None
    }

    /// The raw clock this handle stamps with.
    pub fn clock(&self) -> &quanta::Clock {
        &self.clock
    }
}
