//! Message layouts a dictionary has found sound, kept per session so that a counterparty
//! repeating a layout (a broker's ExecutionReports look alike, message after message)
//! pays only for the checks of its values (R-VEN-2 on the hot path of R-PERF-1).
//!
//! What `Dictionary::validate` checks besides values — tags known and defined for the
//! message, their order and repeats, groups and their counts, required tags — follows
//! from the MsgType, the tags in wire order and the value of each group count alone
//! (and from every value being non-empty). A message that matches a remembered layout in
//! all of those would pass those checks again, so only the format and enumeration of its
//! values are checked; anything else goes through the whole validation.

use super::codec::{parse_u64, Msg};

/// Layouts kept per session: enough for the messages of an order's life and the session's
/// own; more distinct layouts than this evict the oldest.
const SLOTS: usize = 16;
/// Longer messages are validated in full every time.
const MAX_FIELDS: usize = 64;
/// Longer MsgTypes are validated in full every time.
const MAX_MSG_TYPE: usize = 8;

#[derive(Clone, Copy)]
struct Layout {
    /// Number of fields; 0 for an empty slot (no message has none).
    len: u8,
    /// Where MsgType (35) first appears.
    msg_type_at: u8,
    msg_type_len: u8,
    msg_type: [u8; MAX_MSG_TYPE],
    /// Bit i: field i opened a repeating group; its count is `counts[i]`.
    count_at: u64,
    tags: [u32; MAX_FIELDS],
    counts: [u64; MAX_FIELDS],
}

const EMPTY: Layout = Layout {
    len: 0,
    msg_type_at: 0,
    msg_type_len: 0,
    msg_type: [0; MAX_MSG_TYPE],
    count_at: 0,
    tags: [0; MAX_FIELDS],
    counts: [0; MAX_FIELDS],
};

/// The layouts one dictionary found sound; allocated once, with the session.
pub struct Layouts {
    /// The dictionary (and its options) these were found sound by; another one starts
    /// them afresh.
    dictionary: u64,
    slots: Box<[Layout; SLOTS]>,
    /// The slot the next new layout takes.
    next: usize,
    hits: u64,
}

impl std::fmt::Debug for Layouts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kept = self.slots.iter().filter(|l| l.len > 0).count();
        f.debug_struct("Layouts")
            .field("kept", &kept)
            .field("hits", &self.hits)
            .finish()
    }
}

impl Default for Layouts {
    fn default() -> Self {
        Layouts::new()
    }
}

impl Layouts {
    /// None remembered yet.
    pub fn new() -> Layouts {
        Layouts {
            dictionary: 0,
            slots: Box::new([EMPTY; SLOTS]),
            next: 0,
            hits: 0,
        }
    }

    /// Messages whose layout was found here (their values alone were checked).
    pub fn hits(&self) -> u64 {
        self.hits
    }

    /// Whether `msg` has a layout dictionary `dictionary` found sound, with no empty value.
    pub(super) fn knows(&mut self, dictionary: u64, msg: &Msg<'_>) -> bool {
        if self.dictionary != dictionary {
            *self.slots = [EMPTY; SLOTS];
            self.dictionary = dictionary;
            self.next = 0;
            return false;
        }
        let n = msg.len();
        if n == 0 || n > MAX_FIELDS {
            return false;
        }
        let found = self
            .slots
            .iter()
            .any(|l| l.len as usize == n && l.matches(msg));
        self.hits += u64::from(found);
        found
    }

    /// Remembers the layout of `msg`, which `dictionary` just found sound; `count_at` has
    /// bit i set where field i opened a repeating group.
    pub(super) fn remember(&mut self, dictionary: u64, msg: &Msg<'_>, count_at: u64) {
        let n = msg.len();
        if self.dictionary != dictionary || n == 0 || n > MAX_FIELDS {
            return;
        }
        let Some((at, mt)) = msg.fields().enumerate().find(|(_, f)| f.tag == 35) else {
            return;
        };
        let mt = mt.value;
        if mt.len() > MAX_MSG_TYPE {
            return;
        }
        let l = &mut self.slots[self.next];
        self.next = (self.next + 1) % SLOTS;
        l.len = n as u8;
        l.msg_type_at = at as u8;
        l.msg_type_len = mt.len() as u8;
        l.msg_type[..mt.len()].copy_from_slice(mt);
        l.count_at = count_at;
        for (i, f) in msg.fields().enumerate() {
            l.tags[i] = f.tag;
            l.counts[i] = if count_at >> i & 1 == 1 {
                parse_u64(f.value).unwrap_or(u64::MAX)
            } else {
                0
            };
        }
    }
}

impl Layout {
    fn matches(&self, msg: &Msg<'_>) -> bool {
        for i in 0..self.len as usize {
            let Some(f) = msg.field(i) else {
                return false;
            };
            if f.tag != self.tags[i] || f.value.is_empty() {
                return false;
            }
            if self.count_at >> i & 1 == 1 && parse_u64(f.value) != Some(self.counts[i]) {
                return false;
            }
        }
        msg.field(self.msg_type_at as usize)
            .is_some_and(|f| f.value == &self.msg_type[..self.msg_type_len as usize])
    }
}
