//! A session's message store: every frame sent and received, appended to a journal of
//! its own (the same memory-mapped, CRC-checked segments as the core's), so sequence
//! numbers survive a crash and resend requests are served from what was really sent.
//! The most recent sent frames are also kept in memory for resends.

use super::codec::{frame, Decoder};
use super::session::SeqNums;
use crate::journal::{scan, JournalError, JournalWriter};
use std::collections::VecDeque;
use std::path::Path;

/// Record kind: a frame we sent (payload: the frame).
pub const KIND_SENT: u16 = 1;
/// Record kind: a frame we received.
pub const KIND_RECEIVED: u16 = 2;
/// Record kind: both sequence numbers were reset (payload: next_out, next_in, LE u64).
pub const KIND_RESET: u16 = 3;

const SEGMENT: usize = 16 << 20;
/// Segment files kept: 128 MiB of history, far more than any resend request reaches
/// back. Older ones are deleted at open and at each sequence reset (after which nothing
/// before it can be asked for), so the store does not grow without bound.
const KEEP_SEGMENTS: usize = 8;

/// The store of one FIX session.
pub struct SessionStore {
    writer: Option<JournalWriter>,
    dir: Option<std::path::PathBuf>,
    sent: VecDeque<(u64, Vec<u8>)>,
    spare: Vec<Vec<u8>>,
    keep: usize,
    /// Appends the journal refused (a full disk): counted and reported, never a panic.
    pub errors: u64,
}

/// What a store held when it was opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Restored {
    /// Sequence numbers as the stored frames leave them, if any were stored.
    pub seqs: Option<SeqNums>,
    /// Frames read.
    pub frames: u64,
    /// When the last record was written (unix ns; 0 if none): which session window the
    /// restored numbers belong to.
    pub last_ns: u64,
}

fn seq_of(dec: &mut Decoder, f: &[u8]) -> Option<u64> {
    let n = frame(f).ok()?;
    dec.decode(&f[..n]).ok()?.seq()
}

impl SessionStore {
    /// A store in memory only: sequence numbers start again with each process.
    pub fn memory(keep: usize) -> SessionStore {
        SessionStore {
            writer: None,
            dir: None,
            sent: VecDeque::with_capacity(keep.min(65_536)),
            spare: Vec::new(),
            keep: keep.max(1),
            errors: 0,
        }
    }

    /// Opens (or creates) the store in `dir`, keeping the last `keep` sent frames in
    /// memory, and says what it held.
    pub fn open(dir: &Path, keep: usize) -> Result<(SessionStore, Restored), JournalError> {
        let mut store = SessionStore::memory(keep);
        let mut rest = Restored::default();
        let mut seqs: Option<SeqNums> = None;
        let mut dec = Decoder::new();
        if dir.is_dir() {
            scan(dir, |r| {
                rest.frames += 1;
                rest.last_ns = rest.last_ns.max(r.header.ts_ns);
                let s = seqs.get_or_insert(SeqNums {
                    next_out: 1,
                    next_in: 1,
                });
                match r.header.kind {
                    KIND_SENT => {
                        if let Some(q) = seq_of(&mut dec, r.payload) {
                            s.next_out = s.next_out.max(q + 1);
                            store.keep_sent(q, r.payload);
                        }
                    }
                    KIND_RECEIVED => {
                        if let Some(q) = seq_of(&mut dec, r.payload) {
                            s.next_in = s.next_in.max(q + 1);
                        }
                    }
                    KIND_RESET if r.payload.len() == 16 => {
                        let mut a = [0u8; 8];
                        a.copy_from_slice(&r.payload[..8]);
                        s.next_out = u64::from_le_bytes(a);
                        a.copy_from_slice(&r.payload[8..]);
                        s.next_in = u64::from_le_bytes(a);
                        store.sent.clear();
                    }
                    _ => {}
                }
            })?;
        }
        rest.seqs = seqs;
        let (writer, _) = JournalWriter::open(dir, SEGMENT)?;
        store.writer = Some(writer);
        store.dir = Some(dir.to_path_buf());
        store.retire(KEEP_SEGMENTS);
        Ok((store, rest))
    }

    /// Deletes all but the newest `keep` segment files, oldest first. Restoring needs
    /// only the newest frames: sequence numbers are the highest seen since the last reset.
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

    fn keep_sent(&mut self, seq: u64, f: &[u8]) {
        // A resend carries a number already kept: the original stays the source.
        if self.sent.back().is_some_and(|(s, _)| *s >= seq) {
            return;
        }
        let mut buf = if self.sent.len() >= self.keep {
            self.sent.pop_front().map(|(_, b)| b).unwrap_or_default()
        } else {
            self.spare.pop().unwrap_or_default()
        };
        buf.clear();
        buf.extend_from_slice(f);
        self.sent.push_back((seq, buf));
    }

    fn append(&mut self, kind: u16, now: u64, payload: &[u8]) {
        if let Some(w) = self.writer.as_mut() {
            if w.append(kind, 1, now, payload).is_err() {
                self.errors += 1;
            }
        }
    }

    /// A frame numbered `seq` is about to be sent: journaled first.
    pub fn sent(&mut self, now: u64, seq: u64, f: &[u8]) {
        self.append(KIND_SENT, now, f);
        self.keep_sent(seq, f);
    }

    /// A frame arrived (any frame that decoded, admin or application).
    pub fn received(&mut self, now: u64, f: &[u8]) {
        self.append(KIND_RECEIVED, now, f);
    }

    /// Both sequence numbers were reset: earlier frames can no longer be asked for.
    pub fn reset(&mut self, now: u64, seqs: SeqNums) {
        let mut p = [0u8; 16];
        p[..8].copy_from_slice(&seqs.next_out.to_le_bytes());
        p[8..].copy_from_slice(&seqs.next_in.to_le_bytes());
        self.append(KIND_RESET, now, &p);
        while let Some((_, b)) = self.sent.pop_front() {
            self.spare.push(b);
        }
        self.retire(1);
    }

    /// A sent frame, if still kept.
    pub fn get(&self, seq: u64) -> Option<&[u8]> {
        let i = self.sent.binary_search_by_key(&seq, |(s, _)| *s).ok()?;
        Some(&self.sent[i].1)
    }

    /// Flushes the store to disk (at a clean stop).
    pub fn sync(&self) {
        if let Some(w) = self.writer.as_ref() {
            let _ = w.sync();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame_for(seq: u64) -> Vec<u8> {
        let mut e = super::super::codec::Encoder::new("FIX.4.4", 256);
        e.start(b"0")
            .bytes(49, b"A")
            .bytes(56, b"B")
            .uint(34, seq)
            .timestamp(52, 1_700_000_000_000_000_000, false);
        e.finish().to_vec()
    }

    #[test]
    fn sequence_numbers_survive_a_reopen_and_a_reset_retires_history() {
        let dir = std::env::temp_dir().join(format!("execd-store-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        {
            let (mut s, r) = SessionStore::open(&dir, 10).unwrap();
            assert_eq!(r.seqs, None);
            for q in 1..=5 {
                s.sent(q, q, &frame_for(q));
            }
            s.received(6, &frame_for(9));
            assert_eq!(s.get(3), Some(&frame_for(3)[..]));
            assert_eq!(s.get(6), None);
        }
        {
            let (mut s, r) = SessionStore::open(&dir, 10).unwrap();
            assert_eq!(
                r.seqs,
                Some(SeqNums {
                    next_out: 6,
                    next_in: 10
                })
            );
            assert_eq!(s.get(5), Some(&frame_for(5)[..]), "kept for resends");
            s.reset(
                7,
                SeqNums {
                    next_out: 1,
                    next_in: 1,
                },
            );
            assert_eq!(s.get(5), None);
            s.sent(8, 1, &frame_for(1));
        }
        let (_, r) = SessionStore::open(&dir, 10).unwrap();
        assert_eq!(
            r.seqs,
            Some(SeqNums {
                next_out: 2,
                next_in: 1
            })
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
