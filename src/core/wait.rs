//! How the core thread sleeps in backoff's last phase: in `epoll_wait` (mio `Poll`) on
//! every venue's socket and on the doorbell producers ring ([`Bell`]), so an execution
//! report or a command wakes it at once instead of waiting out a blind park. The wait
//! ends by [`MAX_PARK_NS`] or the engine's next timer, whichever is first.
//!
//! `epoll_wait` counts in milliseconds. A timer due sooner than that (a paper venue's
//! delivery, an order's deadline about to pass), or events held for a producer that does
//! not read them (nothing announces that it read), gets the blind park instead, bounded
//! by the timer; producers still wake it (unpark). So does a box where the `Poll` could
//! not be made (said once).

use super::bell::{Bell, Sleep};
use super::idle::MAX_PARK_NS;
use crate::venue::{AnyVenue, Venue};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use std::io::Write as _;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// The doorbell's token; venue `i`'s socket is `Token(i + 1)`.
pub(crate) const BELL: Token = Token(0);

/// What woke the core, counted (for tests, the metrics endpoint and benchmarks).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IdleCounts {
    /// Waits in `epoll_wait`.
    pub waits: u64,
    /// Of those, ended by a venue socket (readable, writable or closed).
    pub woke_by_socket: u64,
    /// Ended by the doorbell (a producer pushed, a bridge had news).
    pub woke_by_bell: u64,
    /// Ended by their timeout.
    pub timed_out: u64,
    /// Blind parks (a timer due within a millisecond, a producer not reading, or no
    /// `Poll`).
    pub parks: u64,
    /// Times the core looked at its rings after saying it would sleep, and found work.
    pub caught_before_sleep: u64,
    /// Venue sockets registered for the wait (each reconnect registers anew).
    pub sockets_registered: u64,
    /// Wake-ups producers sent (each one system call).
    pub bell_rung: u64,
}

/// The counters as the core publishes them: single writer, plain stores.
#[derive(Debug, Default)]
pub(crate) struct IdleCells {
    waits: AtomicU64,
    woke_by_socket: AtomicU64,
    woke_by_bell: AtomicU64,
    timed_out: AtomicU64,
    parks: AtomicU64,
    caught_before_sleep: AtomicU64,
    sockets_registered: AtomicU64,
    bell_rung: AtomicU64,
    asleep: AtomicBool,
}

impl IdleCells {
    pub(crate) fn read(&self) -> IdleCounts {
        IdleCounts {
            waits: self.waits.load(Relaxed),
            woke_by_socket: self.woke_by_socket.load(Relaxed),
            woke_by_bell: self.woke_by_bell.load(Relaxed),
            timed_out: self.timed_out.load(Relaxed),
            parks: self.parks.load(Relaxed),
            caught_before_sleep: self.caught_before_sleep.load(Relaxed),
            sockets_registered: self.sockets_registered.load(Relaxed),
            bell_rung: self.bell_rung.load(Relaxed),
        }
    }

    /// Whether the core is in `epoll_wait` right now (set just before, cleared after).
    pub(crate) fn asleep(&self) -> bool {
        self.asleep.load(Relaxed)
    }

    fn publish(&self, c: &IdleCounts) {
        self.waits.store(c.waits, Relaxed);
        self.woke_by_socket.store(c.woke_by_socket, Relaxed);
        self.woke_by_bell.store(c.woke_by_bell, Relaxed);
        self.timed_out.store(c.timed_out, Relaxed);
        self.parks.store(c.parks, Relaxed);
        self.caught_before_sleep
            .store(c.caught_before_sleep, Relaxed);
        self.sockets_registered.store(c.sockets_registered, Relaxed);
        self.bell_rung.store(c.bell_rung, Relaxed);
    }
}

/// The core's sleeping place: the `Poll`, what it watches, and what woke it.
pub(crate) struct IdleWait {
    poll: Option<Poll>,
    events: Events,
    bell: Bell,
    /// Per venue: the socket registered for it (descriptor, the venue's socket number).
    watched: Vec<Option<(RawFd, u64)>>,
    /// A registration failed: said once, then tried again at each wait.
    failed_said: bool,
    counts: IdleCounts,
}

impl IdleWait {
    /// Waits in `poll` (made together with `bell`'s waker); without one, parks.
    pub(crate) fn new(poll: Option<Poll>, bell: Bell) -> IdleWait {
        IdleWait {
            poll,
            events: Events::with_capacity(64),
            bell,
            watched: Vec::new(),
            failed_said: false,
            counts: IdleCounts::default(),
        }
    }

    /// Makes room to watch `venues` venues, so no later wait allocates.
    pub(crate) fn size_for(&mut self, venues: usize) {
        self.watched.resize(venues, None);
    }

    /// What woke the core so far.
    pub(crate) fn counts(&self) -> IdleCounts {
        let mut c = self.counts;
        c.bell_rung = self.bell.rung();
        c
    }

    /// Registers each venue's socket that changed since the last wait. A socket gone
    /// is only forgotten: closing it took it out of the epoll set, and its descriptor
    /// may already be another venue's. No allocation once `watched` has its size.
    pub(crate) fn watch(&mut self, venues: &[AnyVenue]) {
        let Some(poll) = self.poll.as_ref() else {
            return;
        };
        if self.watched.len() != venues.len() {
            self.watched.resize(venues.len(), None);
        }
        for (i, v) in venues.iter().enumerate() {
            let now = v.wait_socket();
            if now == self.watched[i] {
                continue;
            }
            self.watched[i] = None;
            let Some((fd, _)) = now else { continue };
            let token = Token(i + 1);
            let interest = Interest::READABLE | Interest::WRITABLE;
            let r = match poll
                .registry()
                .register(&mut SourceFd(&fd), token, interest)
            {
                // Still in the set: a descriptor the venue kept open (a second handle
                // on the same socket).
                Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
                    poll.registry()
                        .reregister(&mut SourceFd(&fd), token, interest)
                }
                r => r,
            };
            match r {
                Ok(()) => {
                    self.watched[i] = now;
                    self.counts.sockets_registered += 1;
                }
                Err(e) if !self.failed_said => {
                    self.failed_said = true;
                    let _ = writeln!(
                        std::io::stderr(),
                        "execd: the core cannot watch venue {i}'s socket ({e}); it looks at it every millisecond instead"
                    );
                }
                Err(_) => {}
            }
        }
    }

    /// Sleeps once, unless `work_waiting` (read after the doorbell says the core is
    /// going to sleep: what a producer pushed before that is seen here, what it pushes
    /// after rings the bell). `park_ns`: backoff's blind park; `timer_in`: time to the
    /// engine's next timer, if known; `blind`: something only a look can tell (events
    /// held for a producer) wants the blind park.
    pub(crate) fn sleep(
        &mut self,
        park_ns: u64,
        timer_in: Option<u64>,
        blind: bool,
        work_waiting: impl Fn() -> bool,
        cells: &IdleCells,
    ) {
        let park = park_for(park_ns, timer_in, blind, self.poll.is_some());
        let poll = self.poll.as_mut().filter(|_| park.is_none());
        let how = if poll.is_some() {
            Sleep::Polling
        } else {
            Sleep::Parked
        };
        self.bell.going_to_sleep(how);
        if work_waiting() {
            self.bell.awake();
            self.counts.caught_before_sleep += 1;
            cells.publish(&self.counts());
            return;
        }
        match poll {
            Some(poll) => {
                self.counts.waits += 1;
                cells.asleep.store(true, Relaxed);
                let timeout = Duration::from_nanos(MAX_PARK_NS);
                let r = poll.poll(&mut self.events, Some(timeout));
                cells.asleep.store(false, Relaxed);
                self.bell.awake();
                let (mut bell, mut socket) = (false, false);
                if r.is_ok() {
                    for e in self.events.iter() {
                        if e.token() == BELL {
                            bell = true;
                        } else {
                            socket = true;
                        }
                    }
                }
                let c = &mut self.counts;
                c.woke_by_bell += u64::from(bell);
                c.woke_by_socket += u64::from(socket);
                c.timed_out += u64::from(!bell && !socket);
            }
            None => {
                self.counts.parks += 1;
                let ns = park.unwrap_or(park_ns);
                std::thread::park_timeout(Duration::from_nanos(ns.max(1_000)));
                self.bell.awake();
            }
        }
        cells.publish(&self.counts());
    }
}

/// How long the core parks instead of waiting in `epoll_wait`; none: it waits there.
/// Into epoll only after backoff's yields (`core.idle_yield_us` of quiet): a core woken
/// from epoll on a 2-CPU box often waits for a scheduler tick, while a yielding one stays
/// runnable. It parks where epoll cannot serve: a timer due within the millisecond
/// (epoll counts milliseconds), events held for a producer that does not read them
/// (nothing announces that it read), no `Poll`. Then backoff's growing parks
/// (`park_ns`, from 1 µs), never past the timer: a parked core does not watch its
/// sockets, so the first parks are short and the sockets are read between them.
fn park_for(park_ns: u64, timer_in: Option<u64>, blind: bool, has_poll: bool) -> Option<u64> {
    let limit = timer_in.map_or(MAX_PARK_NS, |t| t.min(MAX_PARK_NS));
    if blind || !has_poll || limit < MAX_PARK_NS {
        Some(park_ns.min(limit))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_core_waits_in_epoll_unless_a_timer_or_a_blind_spot_says_park() {
        let ms = MAX_PARK_NS;
        assert_eq!(park_for(1_000, None, false, true), None);
        assert_eq!(park_for(ms, Some(5 * ms), false, true), None);
        // A timer within the millisecond: the growing park, never past the timer.
        assert_eq!(park_for(1_000, Some(300_000), false, true), Some(1_000));
        assert_eq!(park_for(ms, Some(300_000), false, true), Some(300_000));
        // Blind or without a Poll: the same.
        assert_eq!(park_for(2_000, None, true, true), Some(2_000));
        assert_eq!(park_for(ms, Some(40_000), true, true), Some(40_000));
        assert_eq!(park_for(8_000, None, false, false), Some(8_000));
        assert_eq!(park_for(ms, Some(40_000), false, false), Some(40_000));
        assert_eq!(
            park_for(ms, Some(0), true, true),
            Some(0),
            "overdue: at once"
        );
    }
}
