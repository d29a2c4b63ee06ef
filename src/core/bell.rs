//! The core's doorbell: how a thread that just put something on one of the core's rings
//! wakes a core thread that went to sleep (the `backoff` idle strategy), without a system
//! call per push while the core is awake (R-PERF-1).
//!
//! The protocol, which loses no wake-up:
//! - the core says it is going to sleep (`POLLING` in `epoll_wait`, or `PARKED`), then
//!   looks at every ring once more, and only then sleeps;
//! - a producer pushes, then looks at the state: asleep, it swaps in `AWAKE` and wakes
//!   the core (the first producer to see it asleep does; the others see `AWAKE`).
//!
//! A full fence on each side between the write and the read makes them sequentially
//! consistent: either the core's second look sees the push, or the producer sees the
//! core asleep. A wake-up that comes after the core woke by itself is spurious and costs
//! one empty cycle.

use std::sync::atomic::{fence, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::Thread;

const AWAKE: u8 = 0;
const POLLING: u8 = 1;
const PARKED: u8 = 2;

/// How the core sleeps, which decides how it is woken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Sleep {
    /// In `epoll_wait` (mio `Poll`): woken through the `mio::Waker` (an eventfd write).
    Polling,
    /// In `thread::park_timeout`: woken by `unpark`.
    Parked,
}

/// A clonable handle on the core's doorbell; every producer of the core holds one.
#[derive(Clone)]
pub struct Bell(Arc<Inner>);

struct Inner {
    state: AtomicU8,
    waker: Option<mio::Waker>,
    core: OnceLock<Thread>,
    rung: AtomicU64,
}

impl std::fmt::Debug for Bell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bell")
            .field("state", &self.0.state.load(Ordering::Relaxed))
            .field("rung", &self.rung())
            .finish()
    }
}

impl Bell {
    /// A doorbell that wakes a core sleeping in the `mio::Poll` `waker` belongs to (or,
    /// without one, only a parked core).
    pub(crate) fn new(waker: Option<mio::Waker>) -> Bell {
        Bell(Arc::new(Inner {
            state: AtomicU8::new(AWAKE),
            waker,
            core: OnceLock::new(),
            rung: AtomicU64::new(0),
        }))
    }

    /// Called by a producer right after it pushed onto a ring the core reads: wakes the
    /// core if it sleeps. A fence and a load while the core is awake.
    #[inline]
    pub fn ring(&self) {
        fence(Ordering::SeqCst);
        if self.0.state.load(Ordering::Relaxed) != AWAKE {
            self.wake();
        }
    }

    #[cold]
    fn wake(&self) {
        let how = self.0.state.swap(AWAKE, Ordering::AcqRel);
        match how {
            POLLING => {
                if let Some(w) = &self.0.waker {
                    // Fails only if the eventfd is gone: the core then wakes by its
                    // timeout.
                    let _ = w.wake();
                }
            }
            PARKED => {
                if let Some(t) = self.0.core.get() {
                    t.unpark();
                }
            }
            _ => return,
        }
        self.0.rung.fetch_add(1, Ordering::Relaxed);
    }

    /// Wake-ups producers sent (each a system call) since the core started.
    pub fn rung(&self) -> u64 {
        self.0.rung.load(Ordering::Relaxed)
    }

    /// Whether the core is asleep right now (for tests and metrics).
    pub fn asleep(&self) -> bool {
        self.0.state.load(Ordering::Relaxed) != AWAKE
    }

    // The core's side.

    /// The thread that sleeps: the one calling this (once, at the core's start).
    pub(crate) fn bind_core(&self) {
        let _ = self.0.core.set(std::thread::current());
    }

    /// The core is going to sleep: after this it must look at its rings once more, and
    /// sleep only if they are empty.
    #[inline]
    pub(crate) fn going_to_sleep(&self, how: Sleep) {
        let s = match how {
            Sleep::Polling => POLLING,
            Sleep::Parked => PARKED,
        };
        self.0.state.store(s, Ordering::SeqCst);
        fence(Ordering::SeqCst);
    }

    /// The core is awake again (woken, timed out, or it found work before sleeping).
    #[inline]
    pub(crate) fn awake(&self) {
        self.0.state.store(AWAKE, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mio::{Events, Poll, Token};
    use std::sync::atomic::AtomicBool;
    use std::time::{Duration, Instant};

    const WAKER: Token = Token(0);

    fn bell() -> (Poll, Bell) {
        let poll = Poll::new().unwrap();
        let waker = mio::Waker::new(poll.registry(), WAKER).unwrap();
        (poll, Bell::new(Some(waker)))
    }

    #[test]
    fn an_awake_core_is_not_woken() {
        let (mut poll, b) = bell();
        b.ring();
        b.ring();
        assert_eq!(b.rung(), 0, "no system call while the core is awake");
        let mut ev = Events::with_capacity(4);
        poll.poll(&mut ev, Some(Duration::ZERO)).unwrap();
        assert!(ev.is_empty(), "nothing was written to the eventfd");
    }

    #[test]
    fn a_polling_core_is_woken_once_however_many_producers_ring() {
        let (mut poll, b) = bell();
        b.going_to_sleep(Sleep::Polling);
        assert!(b.asleep());
        b.ring();
        b.ring();
        assert_eq!(
            b.rung(),
            1,
            "the first producer wakes it, the second sees it awake"
        );
        assert!(!b.asleep());
        let mut ev = Events::with_capacity(4);
        // A wake-up written before the wait is not lost: the wait returns at once.
        poll.poll(&mut ev, Some(Duration::from_secs(10))).unwrap();
        assert!(ev.iter().any(|e| e.token() == WAKER));
        b.awake();
    }

    #[test]
    fn a_parked_core_is_unparked() {
        let b = Bell::new(None);
        let (tx, rx) = std::sync::mpsc::channel();
        let core = {
            let b = b.clone();
            std::thread::spawn(move || {
                b.bind_core();
                b.going_to_sleep(Sleep::Parked);
                tx.send(()).unwrap();
                let t0 = Instant::now();
                // Spurious returns are allowed: park until the bell is answered.
                while b.asleep() && t0.elapsed() < Duration::from_secs(10) {
                    std::thread::park_timeout(Duration::from_secs(10));
                }
                b.awake();
                !b.asleep()
            })
        };
        rx.recv().unwrap();
        // The core may not have reached `park` yet: the unpark token is kept for it.
        b.ring();
        assert!(core.join().unwrap());
        assert_eq!(b.rung(), 1);
    }

    /// The race the protocol closes, run many times: a producer pushes while the core
    /// goes to sleep. Either the core's second look finds the item or the producer wakes
    /// it; a lost wake-up would leave the core in a 10 s wait and fail the test.
    #[test]
    fn no_wake_up_is_lost_between_the_core_falling_asleep_and_a_push() {
        let (mut poll, b) = bell();
        let (mut tx, mut rx) = rtrb::RingBuffer::<u32>::new(4);
        let stop = Arc::new(AtomicBool::new(false));
        const ROUNDS: u32 = 2_000;
        let producer = {
            let b = b.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                for i in 0..ROUNDS {
                    while tx.push(i).is_err() {
                        if stop.load(Ordering::Relaxed) {
                            return;
                        }
                        std::thread::yield_now();
                    }
                    b.ring();
                    // Alternate between pushing at once and letting the core fall asleep.
                    if i % 2 == 0 {
                        std::thread::yield_now();
                    }
                }
            })
        };
        let mut events = Events::with_capacity(4);
        let mut got = 0;
        let start = Instant::now();
        while got < ROUNDS {
            if rx.pop().is_ok() {
                got += 1;
                continue;
            }
            b.going_to_sleep(Sleep::Polling);
            if !rx.is_empty() {
                b.awake();
                continue;
            }
            match poll.poll(&mut events, Some(Duration::from_secs(10))) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                r => {
                    r.unwrap();
                    // Only the waker can end this wait early; a lost wake-up ends it
                    // by the timeout, with no event.
                    assert!(!events.is_empty(), "a wake-up was lost after {got} items");
                }
            }
            b.awake();
            assert!(start.elapsed() < Duration::from_secs(120), "too slow");
        }
        stop.store(true, Ordering::Relaxed);
        producer.join().unwrap();
    }
}
