//! A FIX session's message store: its sequence numbers, the schedule window they belong
//! to, and the frames it sent, so numbers survive a restart and resend requests are
//! served from what was really sent. [`MessageStore`] is what the session's owner
//! needs of one; [`SessionStore`] is the store execd's FIX venue and
//! `execd-venue-sim` both keep, in memory, or also in a directory of the journal's own
//! memory-mapped, CRC-checked segments.
//!
//! Records in the directory (payloads little-endian): a frame sent (kind 1) or received
//! (2); both numbers reset (3) or set to what a session reports (4), `next_out, next_in`
//! as u64s; the window the numbers belong to (5, its opening in unix ns). A reader skips
//! kinds it does not know, so stores written before 4 and 5 existed open as they did.
//! Opening the directory folds them back into numbers, window and recent frames, then
//! applies the daily-reset rule (`Schedule::enter`), the same rule a live session
//! applies: a restart in a later window starts that window at 1.

use super::codec::{self, frame, Decoder};
use super::session::{Entry, Schedule, SeqNums};
use super::tag;
use crate::journal::{scan, JournalError, JournalWriter};
use std::fmt;
use std::path::{Path, PathBuf};

/// Record kind: a frame we sent (payload: the frame).
const KIND_SENT: u16 = 1;
/// Record kind: a frame we received.
const KIND_RECEIVED: u16 = 2;
/// Record kind: both sequence numbers were reset; nothing sent before can be asked for.
const KIND_RESET: u16 = 3;
/// Record kind: the numbers as the session has them (a `skip`, admin traffic, a
/// SequenceReset: changes no stored frame shows).
const KIND_SEQS: u16 = 4;
/// Record kind: the schedule window the numbers belong to.
const KIND_WINDOW: u16 = 5;

const SEGMENT: usize = 16 << 20;
/// Segment files kept: 128 MiB of history, far more than any resend request reaches
/// back. Older ones are deleted at open and at each sequence reset (after which nothing
/// before it can be asked for), so the store does not grow without bound.
const KEEP_SEGMENTS: usize = 8;
/// Bytes of sent frames one half of the in-memory cache holds at most.
const HALF_BYTES: usize = 64 << 20;
/// `8=FIX.4.2|9=5|35=0|10=000|` and a little: shorter is not a frame.
const MIN_FRAME: usize = 32;

/// What a FIX session's owner keeps for it: numbers that survive a restart, the window
/// they belong to, and sent frames for resends.
pub trait MessageStore {
    /// The numbers a session continues from: as restored, then as recorded since.
    fn seqs(&self) -> SeqNums;
    /// The opening (unix ns) of the schedule window the numbers belong to, if known.
    fn session_start(&self) -> Option<u64>;
    /// A frame numbered `seq` is about to be sent: kept first, so a resend request for
    /// it can always be served.
    fn sent(&mut self, now_ns: u64, seq: u64, frame: &[u8]);
    /// A frame arrived (any that decoded, admin or application).
    fn received(&mut self, now_ns: u64, frame: &[u8]);
    /// Both numbers were reset: every frame sent before is forgotten.
    fn reset(&mut self, now_ns: u64, seqs: SeqNums);
    /// The numbers as the session has them now, when they moved other than by a frame
    /// this store saw.
    fn set_seqs(&mut self, now_ns: u64, seqs: SeqNums);
    /// A sent frame, if still kept.
    fn get(&self, seq: u64) -> Option<&[u8]>;
    /// Makes what was recorded durable (at a clean stop).
    fn sync(&mut self);
}

/// Which way a stored frame went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Sent by this side.
    Out,
    /// Received from the peer.
    In,
}

impl Direction {
    /// "out" or "in".
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Out => "out",
            Direction::In => "in",
        }
    }
}

/// A frame as a store directory keeps it (R-AUD-1: the raw venue messages).
#[derive(Clone, Copy, Debug)]
pub struct StoredFrame<'a> {
    /// The store record's sequence number.
    pub record: u64,
    /// When it was stored (unix ns, the session's clock).
    pub ts_ns: u64,
    /// Which way it went.
    pub direction: Direction,
    /// The frame, SOH-delimited.
    pub frame: &'a [u8],
    /// Why the frame is not one well-formed FIX message (BeginString first, BodyLength
    /// second and right, a CheckSum that matches, nothing after it), if it is not.
    pub malformed: Option<&'static str>,
}

/// Every frame sent and received that the store in `dir` still holds, oldest first
/// (the store deletes its oldest segments beyond 128 MiB and at each sequence reset).
/// Records are CRC-checked by the scan; each frame is checked as FIX.
pub fn read_frames(
    dir: &Path,
    mut f: impl FnMut(StoredFrame<'_>),
) -> Result<crate::journal::ScanSummary, JournalError> {
    scan(dir, |r| {
        let direction = match r.header.kind {
            KIND_SENT => Direction::Out,
            KIND_RECEIVED => Direction::In,
            _ => return,
        };
        let malformed = match frame(r.payload) {
            Ok(n) if n == r.payload.len() => None,
            Ok(_) => Some("bytes follow the frame's CheckSum"),
            Err(codec::FrameError::Incomplete) => Some("cut short before its CheckSum"),
            Err(codec::FrameError::Garbled { why, .. }) => Some(match why {
                codec::Garble::NoBeginString => "does not start with BeginString (8=)",
                codec::Garble::BadBodyLength => {
                    "BodyLength (9) is missing, not second, or not where the CheckSum starts"
                }
                codec::Garble::BadCheckSum => "CheckSum (10) is not three digits or does not match",
            }),
        };
        f(StoredFrame {
            record: r.header.seq,
            ts_ns: r.header.ts_ns,
            direction,
            frame: r.payload,
            malformed,
        })
    })
}

/// Why a store could not be opened.
#[derive(Debug)]
pub struct StoreError {
    /// The store's directory.
    pub dir: PathBuf,
    /// What the journal said.
    pub error: JournalError,
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "store {}: {}", self.dir.display(), self.error)
    }
}

impl std::error::Error for StoreError {}

/// The message store of one FIX session: in memory, and in a journal directory when
/// opened with one. Appends the journal refuses (a full disk) are counted in
/// [`SessionStore::errors`], never a panic.
pub struct SessionStore {
    writer: Option<JournalWriter>,
    dir: Option<PathBuf>,
    recent: Recent,
    seqs: SeqNums,
    window: Option<u64>,
    schedule: Option<Schedule>,
    /// Appends or deletions the file system refused.
    pub errors: u64,
    // The numbers the daily reset at open replaced (restored from an earlier window).
    reset_at_open: Option<SeqNums>,
}

const FRESH: SeqNums = SeqNums {
    next_out: 1,
    next_in: 1,
};

impl SessionStore {
    /// The store of a session with `schedule` at `now_ns`: in memory only without a
    /// `dir` (numbers start at 1 with each process), else in `dir` (created if need be)
    /// and restored from it. Keeps at least the last `keep` sent frames in memory for
    /// resends (at most 2 × `keep`, within 128 MiB).
    pub fn open(
        dir: Option<&Path>,
        keep: usize,
        schedule: Option<&Schedule>,
        now_ns: u64,
    ) -> Result<SessionStore, StoreError> {
        let mut store = SessionStore {
            writer: None,
            dir: None,
            recent: Recent::new(keep),
            seqs: FRESH,
            window: None,
            schedule: schedule.cloned(),
            errors: 0,
            reset_at_open: None,
        };
        if let Some(dir) = dir {
            store.restore(dir).map_err(|error| StoreError {
                dir: dir.to_path_buf(),
                error,
            })?;
        }
        store.enter_window(now_ns);
        Ok(store)
    }

    /// The numbers restored from an earlier window that opening replaced with 1/1 (the
    /// daily reset), if it did.
    pub fn reset_at_open(&self) -> Option<SeqNums> {
        self.reset_at_open
    }

    /// Reads what `dir` holds, then appends to it.
    fn restore(&mut self, dir: &Path) -> Result<(), JournalError> {
        let mut dec = Decoder::new();
        let mut last_ns = None;
        if dir.is_dir() {
            scan(dir, |r| {
                last_ns = Some(r.header.ts_ns.max(last_ns.unwrap_or(0)));
                let p = r.payload;
                match r.header.kind {
                    KIND_SENT => {
                        if let Some(q) = seq_of(&mut dec, p) {
                            self.seqs.next_out = self.seqs.next_out.max(q + 1);
                            self.recent.put(q, p);
                        }
                    }
                    KIND_RECEIVED => {
                        if let Some(q) = seq_of(&mut dec, p) {
                            self.seqs.next_in = self.seqs.next_in.max(q + 1);
                        }
                    }
                    KIND_RESET => {
                        if let Some(s) = seqs_of(p) {
                            self.seqs = s;
                            self.recent.clear();
                        }
                    }
                    KIND_SEQS => {
                        if let Some(s) = seqs_of(p) {
                            self.move_seqs(s);
                        }
                    }
                    KIND_WINDOW if p.len() == 8 => self.window = Some(u64_at(p, 0)),
                    _ => {}
                }
            })?;
        }
        // A store written before windows were recorded: its numbers belong to the window
        // of its last record (any later window is a new one).
        if let (None, Some(s), Some(t)) = (self.window, &self.schedule, last_ns) {
            self.window = Some(s.window_start(t).unwrap_or(t));
        }
        let (writer, _) = JournalWriter::open(dir, SEGMENT)?;
        self.writer = Some(writer);
        self.dir = Some(dir.to_path_buf());
        self.retire(KEEP_SEGMENTS);
        self.rewrite_window(last_ns.unwrap_or(0));
        Ok(())
    }

    /// The daily-reset rule at `now_ns`: numbers from an earlier window start again at
    /// 1, and the window open now is the one they belong to.
    fn enter_window(&mut self, now_ns: u64) {
        let Some(s) = &self.schedule else {
            return;
        };
        if let Entry::Inside { start, reset } = s.enter(self.window, now_ns) {
            if reset {
                self.reset_at_open = Some(self.seqs);
                self.reset(now_ns, FRESH);
            }
            self.record_window(now_ns, start);
        }
    }

    fn record_window(&mut self, now_ns: u64, start: u64) {
        if self.window != Some(start) {
            self.window = Some(start);
            self.rewrite_window(now_ns);
        }
    }

    /// Writes the window again into the newest segment: retiring older segments must
    /// not lose it.
    fn rewrite_window(&mut self, now_ns: u64) {
        if let Some(start) = self.window {
            self.append(KIND_WINDOW, now_ns, &start.to_le_bytes());
        }
    }

    /// Numbers set from outside: frames kept under numbers about to be used again are
    /// dropped.
    fn move_seqs(&mut self, seqs: SeqNums) {
        if seqs.next_out < self.seqs.next_out {
            self.recent.forget_from(seqs.next_out);
        }
        self.seqs = seqs;
    }

    /// Deletes all but the newest `keep` segment files, oldest first. Restoring needs
    /// only the newest records: numbers are the highest seen since the last reset.
    fn retire(&mut self, keep: usize) {
        let Some(dir) = self.dir.as_ref() else {
            return;
        };
        let Ok(list) = crate::journal::segment::list(dir) else {
            return;
        };
        for (_, path) in list.iter().take(list.len().saturating_sub(keep.max(1))) {
            if std::fs::remove_file(path).is_err() {
                self.errors += 1;
                return;
            }
        }
    }

    fn append(&mut self, kind: u16, now_ns: u64, payload: &[u8]) {
        if let Some(w) = self.writer.as_mut() {
            if w.append(kind, 1, now_ns, payload).is_err() {
                self.errors += 1;
            }
        }
    }
}

impl MessageStore for SessionStore {
    fn seqs(&self) -> SeqNums {
        self.seqs
    }

    fn session_start(&self) -> Option<u64> {
        self.window
    }

    fn sent(&mut self, now_ns: u64, seq: u64, frame: &[u8]) {
        self.append(KIND_SENT, now_ns, frame);
        self.recent.put(seq, frame);
        self.seqs.next_out = self.seqs.next_out.max(seq + 1);
        // Numbers that belonged to no window yet belong to this one.
        if self.window.is_none() {
            if let Some(start) = self.schedule.as_ref().and_then(|s| s.window_start(now_ns)) {
                self.record_window(now_ns, start);
            }
        }
    }

    fn received(&mut self, now_ns: u64, frame: &[u8]) {
        self.append(KIND_RECEIVED, now_ns, frame);
        if let Some(q) = codec::scan_tag(frame, tag::MSG_SEQ_NUM).and_then(codec::parse_u64) {
            self.seqs.next_in = self.seqs.next_in.max(q + 1);
        }
    }

    fn reset(&mut self, now_ns: u64, seqs: SeqNums) {
        self.append(KIND_RESET, now_ns, &seqs_bytes(seqs));
        self.seqs = seqs;
        self.recent.clear();
        self.retire(1);
        // A reset inside a window starts numbers that belong to it.
        if let Some(start) = self.schedule.as_ref().and_then(|s| s.window_start(now_ns)) {
            self.window = Some(start);
        }
        self.rewrite_window(now_ns);
    }

    fn set_seqs(&mut self, now_ns: u64, seqs: SeqNums) {
        if seqs != self.seqs {
            self.append(KIND_SEQS, now_ns, &seqs_bytes(seqs));
            self.move_seqs(seqs);
        }
    }

    fn get(&self, seq: u64) -> Option<&[u8]> {
        self.recent.get(seq)
    }

    fn sync(&mut self) {
        if let Some(w) = self.writer.as_ref() {
            if w.sync().is_err() {
                self.errors += 1;
            }
        }
    }
}

fn seq_of(dec: &mut Decoder, f: &[u8]) -> Option<u64> {
    let n = frame(f).ok()?;
    dec.decode(&f[..n]).ok()?.seq()
}

fn u64_at(p: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&p[at..at + 8]);
    u64::from_le_bytes(a)
}

fn seqs_of(p: &[u8]) -> Option<SeqNums> {
    (p.len() == 16).then(|| SeqNums {
        next_out: u64_at(p, 0),
        next_in: u64_at(p, 8),
    })
}

fn seqs_bytes(s: SeqNums) -> [u8; 16] {
    let mut p = [0u8; 16];
    p[..8].copy_from_slice(&s.next_out.to_le_bytes());
    p[8..].copy_from_slice(&s.next_in.to_le_bytes());
    p
}

/// The most recent sent frames, in two halves used in turn: when the current half holds
/// `keep` frames or [`HALF_BYTES`], the other is cleared (keeping its capacity) and
/// becomes current. Old frames go in O(1). Both halves are reserved whole at start
/// (address space; the kernel backs pages as they are first written), so storing a
/// frame never allocates, however long the session has run.
struct Recent {
    arena: [Vec<u8>; 2],
    /// Per half: (seq, offset, len), seq increasing.
    index: [Vec<(u64, usize, u32)>; 2],
    cur: usize,
    keep: usize,
}

impl Recent {
    fn new(keep: usize) -> Recent {
        // The index is reserved whole too, so `keep` is capped where a half's bytes
        // would end it anyway: no FIX frame is shorter than MIN_FRAME bytes.
        let keep = keep.clamp(1, HALF_BYTES / MIN_FRAME);
        let half = || Vec::with_capacity(HALF_BYTES);
        let index = || Vec::with_capacity(keep);
        Recent {
            arena: [half(), half()],
            index: [index(), index()],
            cur: 0,
            keep,
        }
    }

    fn last_seq(&self) -> Option<u64> {
        let new = self.index[self.cur].last().map(|e| e.0);
        new.or_else(|| self.index[self.cur ^ 1].last().map(|e| e.0))
    }

    fn put(&mut self, seq: u64, frame: &[u8]) {
        // A number already kept keeps its first frame: only a reset, or numbers moved
        // back, make room for it again.
        if self.last_seq().is_some_and(|l| l >= seq) {
            return;
        }
        let c = self.cur;
        let full =
            self.index[c].len() >= self.keep || self.arena[c].len() + frame.len() > HALF_BYTES;
        if full && !self.index[c].is_empty() {
            self.cur ^= 1;
            self.arena[self.cur].clear();
            self.index[self.cur].clear();
        }
        let c = self.cur;
        self.index[c].push((seq, self.arena[c].len(), frame.len() as u32));
        self.arena[c].extend_from_slice(frame);
    }

    fn get(&self, seq: u64) -> Option<&[u8]> {
        (0..2).find_map(|h| {
            let i = self.index[h].binary_search_by_key(&seq, |e| e.0).ok()?;
            let (_, off, len) = self.index[h][i];
            self.arena[h].get(off..off + len as usize)
        })
    }

    /// Drops the frames numbered `seq` and above.
    fn forget_from(&mut self, seq: u64) {
        for ix in &mut self.index {
            let keep = ix.partition_point(|e| e.0 < seq);
            ix.truncate(keep);
        }
    }

    fn clear(&mut self) {
        for h in 0..2 {
            self.arena[h].clear();
            self.index[h].clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::unix_ns;

    fn frame_for(seq: u64) -> Vec<u8> {
        let mut e = codec::Encoder::new("FIX.4.4", 256);
        e.start(b"0")
            .bytes(49, b"A")
            .bytes(56, b"B")
            .uint(34, seq)
            .timestamp(52, 1_700_000_000_000_000_000, false);
        e.finish().to_vec()
    }

    fn seqs(next_out: u64, next_in: u64) -> SeqNums {
        SeqNums { next_out, next_in }
    }

    struct Dir(PathBuf);
    impl Dir {
        fn new(name: &str) -> Dir {
            let d = std::env::temp_dir().join(format!("execd-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&d);
            Dir(d)
        }
        fn open(&self, schedule: Option<&Schedule>, now: u64) -> SessionStore {
            SessionStore::open(Some(&self.0), 10, schedule, now).unwrap()
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn sequence_numbers_survive_a_reopen_and_a_reset_retires_history() {
        let dir = Dir::new("store");
        {
            let mut s = dir.open(None, 0);
            assert_eq!(s.seqs(), seqs(1, 1));
            for q in 1..=5 {
                s.sent(q, q, &frame_for(q));
            }
            s.received(6, &frame_for(9));
            assert_eq!(s.seqs(), seqs(6, 10));
            assert_eq!(s.get(3), Some(&frame_for(3)[..]));
            assert_eq!(s.get(6), None);
        }
        {
            let mut s = dir.open(None, 0);
            assert_eq!(s.seqs(), seqs(6, 10));
            assert_eq!(s.get(5), Some(&frame_for(5)[..]), "kept for resends");
            s.reset(7, seqs(1, 1));
            assert_eq!(s.get(5), None);
            s.sent(8, 1, &frame_for(1));
        }
        assert_eq!(dir.open(None, 0).seqs(), seqs(2, 1));
    }

    #[test]
    fn numbers_set_by_the_session_are_restored_exactly() {
        let dir = Dir::new("store-seqs");
        {
            let mut s = dir.open(None, 0);
            for q in 1..=4 {
                s.sent(q, q, &frame_for(q));
            }
            // Admin traffic the store never saw, then numbers moved back to 3.
            s.set_seqs(5, seqs(5, 7));
            s.set_seqs(6, seqs(3, 7));
            assert_eq!(s.get(3), None, "about to be used again");
            assert_eq!(s.get(2), Some(&frame_for(2)[..]));
        }
        let s = dir.open(None, 0);
        assert_eq!(s.seqs(), seqs(3, 7));
        assert_eq!((s.get(2).is_some(), s.get(3)), (true, None));
    }

    #[test]
    fn a_restart_in_a_later_window_starts_at_one() {
        // Every day 08:00–17:00 UTC.
        let sched = Schedule {
            start_secs: 8 * 3600,
            end_secs: 17 * 3600,
            days: 0x7f,
        };
        let monday_9 = unix_ns(2024, 1, 1, 9, 0);
        let monday_8 = unix_ns(2024, 1, 1, 8, 0);
        let dir = Dir::new("store-window");
        {
            let mut s = dir.open(Some(&sched), monday_9);
            assert_eq!(s.session_start(), Some(monday_8));
            s.sent(monday_9, 1, &frame_for(1));
            s.received(monday_9, &frame_for(1));
        }
        // Same window, evening, next morning before the opening: numbers carry on.
        for t in [monday_9 + 3_600_000_000_000, unix_ns(2024, 1, 2, 7, 0)] {
            let s = dir.open(Some(&sched), t);
            assert_eq!((s.seqs(), s.session_start()), (seqs(2, 2), Some(monday_8)));
        }
        let tuesday_8 = unix_ns(2024, 1, 2, 8, 0);
        let s = dir.open(Some(&sched), tuesday_8 + 1);
        assert_eq!((s.seqs(), s.session_start()), (seqs(1, 1), Some(tuesday_8)));
        assert_eq!(s.get(1), None);
        drop(s);
        let s = dir.open(Some(&sched), tuesday_8 + 2);
        assert_eq!(s.seqs(), seqs(1, 1), "the reset was recorded");
    }

    #[test]
    fn stored_frames_read_back_in_order_and_damage_is_named() {
        let d = Dir::new("read-frames");
        let mut s = d.open(None, 1);
        let good = frame_for(1);
        s.sent(5, 1, &good);
        s.received(6, &frame_for(1));
        let mut bad = frame_for(2);
        let n = bad.len();
        bad[n - 3] = if bad[n - 3] == b'9' { b'0' } else { b'9' }; // checksum digit
        s.received(7, &bad);
        s.sync();
        drop(s);
        let mut got = Vec::new();
        read_frames(&d.0, |f| {
            got.push((f.ts_ns, f.direction, f.frame.to_vec(), f.malformed))
        })
        .unwrap();
        assert_eq!(got.len(), 3, "window and sequence records are not frames");
        assert_eq!(
            (got[0].0, got[0].1, &got[0].2, got[0].3),
            (5, Direction::Out, &good, None)
        );
        assert_eq!((got[1].1, got[1].3), (Direction::In, None));
        assert_eq!(
            got[2].3,
            Some("CheckSum (10) is not three digits or does not match")
        );
    }

    #[test]
    fn memory_only_keeps_numbers_and_recent_frames() {
        let mut s = SessionStore::open(None, 2, None, 0).unwrap();
        for q in 1..=5 {
            s.sent(q, q, &frame_for(q));
        }
        assert_eq!(s.seqs(), seqs(6, 1));
        // At least the last 2, at most the last 4.
        assert!(s.get(5).is_some() && s.get(4).is_some() && s.get(1).is_none());
        s.reset(6, seqs(1, 1));
        assert_eq!((s.seqs(), s.get(5)), (seqs(1, 1), None));
    }

    #[test]
    fn cache_halves_take_turns_within_their_bytes() {
        let mut r = Recent::new(usize::MAX);
        let frame = vec![b'x'; 1 << 20];
        let per_half = (HALF_BYTES / frame.len()) as u64;
        for seq in 1..=per_half * 3 {
            r.put(seq, &frame);
        }
        assert!(r.get(per_half * 3).is_some() && r.get(per_half * 2 + 1).is_some());
        assert!(r.get(per_half).is_none(), "the oldest are gone");
        assert!(r.arena.iter().all(|a| a.len() <= HALF_BYTES));
    }
}
