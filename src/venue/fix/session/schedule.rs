//! When a session may be connected, and the daily reset: numbers belong to the window
//! they were used in, and a new window starts them again at 1. The rule is
//! [`Schedule::enter`], applied by a live session at every connection and timer and by
//! the message store to the numbers it restores after a restart.

use super::{Session, SessionIo};
use crate::calendar::{weekday, NS_PER_SEC, SECS_PER_DAY};

/// When a session may be connected (QuickFIX's StartTime/EndTime/StartDay/EndDay),
/// in UTC. A session outside its window logs out and does not reconnect; a new window
/// starts with both sequence numbers reset to 1 (daily reset).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    /// Seconds after UTC midnight the window opens.
    pub start_secs: u32,
    /// Seconds after UTC midnight the window closes; at or below `start_secs` it closes
    /// the next day (an overnight window; equal: 24 hours).
    pub end_secs: u32,
    /// Bit i set = the window opens on weekday i (0 = Sunday … 6 = Saturday).
    pub days: u8,
}

/// What the daily-reset rule says of numbers at an instant ([`Schedule::enter`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Entry {
    /// Between windows: no connection; the numbers keep the window they belong to.
    Outside,
    /// Inside the window that opened at `start`; `reset`: the numbers belonged to an
    /// earlier one and start again at 1.
    Inside {
        /// Opening of the window (unix ns).
        start: u64,
        /// Whether both numbers go back to 1.
        reset: bool,
    },
}

impl Schedule {
    fn len_secs(&self) -> u64 {
        let (s, e) = (
            self.start_secs as u64 % SECS_PER_DAY,
            self.end_secs as u64 % SECS_PER_DAY,
        );
        if e > s {
            e - s
        } else {
            e + SECS_PER_DAY - s
        }
    }

    fn opens_on(&self, day: u64) -> bool {
        self.days & (1 << weekday(day)) != 0
    }

    /// The opening instant (unix ns) of the window containing `now_ns`, if any.
    pub(crate) fn window_start(&self, now_ns: u64) -> Option<u64> {
        let now = now_ns / NS_PER_SEC;
        let day = now / SECS_PER_DAY;
        let start = self.start_secs as u64 % SECS_PER_DAY;
        let len = self.len_secs();
        // Today's window, or yesterday's still open (overnight).
        for d in [day, day.wrapping_sub(1)] {
            if d > day {
                continue;
            }
            let open = d * SECS_PER_DAY + start;
            if self.opens_on(d) && open <= now && now < open + len {
                return Some(open * NS_PER_SEC);
            }
        }
        None
    }

    /// The first window opening strictly after `after_ns`, if the schedule has any.
    pub(crate) fn next_start(&self, after_ns: u64) -> Option<u64> {
        let day = after_ns / NS_PER_SEC / SECS_PER_DAY;
        let start = self.start_secs as u64 % SECS_PER_DAY;
        // A week and a bit covers every weekday mask.
        (day..day + 9)
            .filter(|&d| self.opens_on(d))
            .map(|d| (d * SECS_PER_DAY + start) * NS_PER_SEC)
            .find(|&t| t > after_ns)
    }

    /// The closing instant of the window that opened at `start_ns`.
    pub(crate) fn window_end(&self, start_ns: u64) -> u64 {
        start_ns + self.len_secs() * NS_PER_SEC
    }

    /// The daily-reset rule: numbers that belong to the window opened at `belongs` (None:
    /// to no window yet) meet the instant `now_ns`. Inside a window they belong to it
    /// from then on, and start again at 1 if they belonged to another one; numbers that
    /// belonged to none keep their values.
    pub(crate) fn enter(&self, belongs: Option<u64>, now_ns: u64) -> Entry {
        match self.window_start(now_ns) {
            None => Entry::Outside,
            Some(start) => Entry::Inside {
                start,
                reset: belongs.is_some_and(|b| b != start),
            },
        }
    }
}

impl Session {
    /// Applies the schedule at `now_ns`: false outside every window; a new window resets
    /// both numbers.
    pub(super) fn check_window(&mut self, now_ns: u64, io: &mut impl SessionIo) -> bool {
        let Some(s) = &self.cfg.schedule else {
            return true;
        };
        match s.enter(self.session_start, now_ns) {
            Entry::Outside => false,
            Entry::Inside { start, reset } => {
                if reset {
                    self.reset_seqs(io);
                }
                self.session_start = Some(start);
                true
            }
        }
    }

    /// Still inside the window this connection started in.
    pub(super) fn still_in_window(&self, now_ns: u64) -> bool {
        match &self.cfg.schedule {
            None => true,
            Some(s) => {
                let now = s.window_start(now_ns);
                now.is_some() && now == self.session_start
            }
        }
    }

    /// When the window the numbers belong to closes, if the session has a schedule.
    pub(super) fn window_end(&self) -> Option<u64> {
        match (&self.cfg.schedule, self.session_start) {
            (Some(s), Some(start)) => Some(s.window_end(start)),
            _ => None,
        }
    }

    /// When the next window opens, for a session waiting between windows.
    pub(super) fn next_window(&self) -> Option<u64> {
        match (&self.cfg.schedule, self.session_start) {
            (Some(s), Some(start)) => s.next_start(start),
            _ => None,
        }
    }
}
