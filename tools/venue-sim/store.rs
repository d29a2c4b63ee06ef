//! Sequence numbers and sent messages per CompID pair: in memory, and with `--store DIR`
//! on disk so that a restarted simulator continues its numbers and can serve resends.
//!
//! Files, per pair `<sender>-<peer>`:
//! - `<pair>.seqs`: one line `next_out next_in`, replaced (write + rename) when they
//!   changed: at most every [`SEQS_EVERY_NS`] while messages flow, and at once on
//!   disconnect, `skip` and exit. After a SIGKILL `next_out` is recovered from the
//!   messages file; `next_in` may lag, which the peer's next message turns into a
//!   ResendRequest;
//! - `<pair>.msgs`: append-only records `seq (u64 LE) | len (u32 LE) | frame`; a reset to
//!   1 truncates it. A torn last record (crash mid-write) is ignored when loading.
//!
//! Memory keeps the most recent frames in two arenas used in turn (no allocation per
//! message, no copying): between [`ARENA_MAX`]/2 and [`ARENA_MAX`] bytes of the latest
//! frames are kept; a resend of older numbers becomes a gap fill.

use execd::venue::fix::session::SeqNums;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Least time between two rewrites of the seqs file while messages flow.
pub const SEQS_EVERY_NS: u64 = 10_000_000;

/// Bytes of sent frames kept in memory per pair.
pub const ARENA_MAX: usize = 64 << 20;

pub struct PairStore {
    /// Two halves used in turn: when the current one is full the other is cleared
    /// (keeping its capacity) and becomes current, so old frames are dropped in O(1).
    arena: [Vec<u8>; 2],
    /// Per half: (seq, offset, len), seq increasing.
    index: [Vec<(u64, usize, u32)>; 2],
    cur: usize,
    seqs: SeqNums,
    dirty: bool,
    seqs_written_ns: u64,
    seqs_path: Option<PathBuf>,
    msgs: Option<std::io::BufWriter<File>>,
}

fn io_err(p: &Path, e: std::io::Error) -> String {
    format!("{}: {e}", p.display())
}

impl PairStore {
    /// A store in memory only, or loaded from (and written to) `dir`.
    pub fn open(dir: Option<&Path>, sender: &str, peer: &str) -> Result<PairStore, String> {
        let mut s = PairStore {
            arena: [Vec::with_capacity(1 << 20), Vec::new()],
            index: [Vec::with_capacity(1 << 12), Vec::new()],
            cur: 0,
            seqs: SeqNums {
                next_out: 1,
                next_in: 1,
            },
            dirty: false,
            seqs_written_ns: 0,
            seqs_path: None,
            msgs: None,
        };
        let Some(dir) = dir else {
            return Ok(s);
        };
        std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
        let pair = format!("{}-{}", sanitize(sender), sanitize(peer));
        let seqs_path = dir.join(format!("{pair}.seqs"));
        let msgs_path = dir.join(format!("{pair}.msgs"));
        if let Ok(text) = std::fs::read_to_string(&seqs_path) {
            let mut it = text.split_whitespace().map(|w| w.parse::<u64>());
            if let (Some(Ok(o)), Some(Ok(i))) = (it.next(), it.next()) {
                if o >= 1 && i >= 1 {
                    s.seqs = SeqNums {
                        next_out: o,
                        next_in: i,
                    };
                }
            }
        }
        let mut good_len = 0u64;
        if let Ok(mut f) = File::open(&msgs_path) {
            let mut all = Vec::new();
            f.read_to_end(&mut all).map_err(|e| io_err(&msgs_path, e))?;
            let mut at = 0usize;
            while at + 12 <= all.len() {
                let seq = u64::from_le_bytes(all[at..at + 8].try_into().unwrap_or([0; 8]));
                let len = u32::from_le_bytes(all[at + 8..at + 12].try_into().unwrap_or([0; 4]));
                let end = at + 12 + len as usize;
                if end > all.len() {
                    break;
                }
                s.put_mem(seq, &all[at + 12..end]);
                at = end;
            }
            good_len = at as u64;
            // Numbers stored but not in the seqs file (killed before it was rewritten).
            if let Some(last) = s.last_seq() {
                if last >= s.seqs.next_out {
                    s.seqs.next_out = last + 1;
                }
            }
        }
        let mut f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&msgs_path)
            .map_err(|e| io_err(&msgs_path, e))?;
        f.set_len(good_len).map_err(|e| io_err(&msgs_path, e))?;
        f.seek(SeekFrom::End(0))
            .map_err(|e| io_err(&msgs_path, e))?;
        s.msgs = Some(std::io::BufWriter::with_capacity(1 << 16, f));
        s.seqs_path = Some(seqs_path);
        s.dirty = true;
        s.flush();
        Ok(s)
    }

    /// Whether numbers wait to be written to disk.
    pub fn dirty(&self) -> bool {
        self.dirty && self.seqs_path.is_some()
    }

    pub fn seqs(&self) -> SeqNums {
        self.seqs
    }

    /// Records the session's numbers; a reset to 1 forgets the sent messages.
    pub fn set_seqs(&mut self, seqs: SeqNums) {
        if seqs == self.seqs {
            return;
        }
        if seqs.next_out < self.seqs.next_out {
            if self.first_seq().is_some_and(|f| f >= seqs.next_out) {
                self.clear();
            } else {
                // Numbers go back, not before all we kept: drop what they will overwrite.
                self.forget_from(seqs.next_out);
            }
        }
        self.seqs = seqs;
        self.dirty = true;
    }

    /// Both numbers were reset: nothing sent before can be asked for again.
    pub fn reset(&mut self, seqs: SeqNums) {
        self.clear();
        self.seqs = seqs;
        self.dirty = true;
    }

    fn first_seq(&self) -> Option<u64> {
        let old = self.index[self.cur ^ 1].first().map(|e| e.0);
        old.or_else(|| self.index[self.cur].first().map(|e| e.0))
    }

    fn last_seq(&self) -> Option<u64> {
        let new = self.index[self.cur].last().map(|e| e.0);
        new.or_else(|| self.index[self.cur ^ 1].last().map(|e| e.0))
    }

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
        if let Some(w) = &mut self.msgs {
            let _ = w.flush();
            let f = w.get_mut();
            let _ = f.set_len(0);
            let _ = f.seek(SeekFrom::Start(0));
        }
    }

    fn put_mem(&mut self, seq: u64, frame: &[u8]) {
        if self.last_seq().is_some_and(|l| l >= seq) {
            self.forget_from(seq);
        }
        if self.arena[self.cur].len() + frame.len() > ARENA_MAX / 2
            && !self.index[self.cur].is_empty()
        {
            self.cur ^= 1;
            self.arena[self.cur].clear();
            self.index[self.cur].clear();
        }
        let c = self.cur;
        self.index[c].push((seq, self.arena[c].len(), frame.len() as u32));
        self.arena[c].extend_from_slice(frame);
    }

    /// A frame we sent as `seq`.
    pub fn put(&mut self, seq: u64, frame: &[u8]) {
        self.put_mem(seq, frame);
        if let Some(w) = &mut self.msgs {
            let _ = w.write_all(&seq.to_le_bytes());
            let _ = w.write_all(&(frame.len() as u32).to_le_bytes());
            let _ = w.write_all(frame);
        }
    }

    /// The frame sent as `seq`, if still kept.
    pub fn get(&self, seq: u64) -> Option<&[u8]> {
        (0..2).find_map(|h| {
            let i = self.index[h].binary_search_by_key(&seq, |e| e.0).ok()?;
            let (_, off, len) = self.index[h][i];
            self.arena[h].get(off..off + len as usize)
        })
    }

    /// Writes the buffered frames, and the numbers if they changed and the last write is
    /// [`SEQS_EVERY_NS`] old.
    pub fn flush_at(&mut self, now_ns: u64) {
        if self.dirty && now_ns.saturating_sub(self.seqs_written_ns) < SEQS_EVERY_NS {
            if let Some(w) = &mut self.msgs {
                let _ = w.flush();
            }
            return;
        }
        self.seqs_written_ns = now_ns;
        self.flush();
    }

    /// Writes what changed to disk now (no fsync: a crash of the machine may lose the tail).
    pub fn flush(&mut self) {
        if let Some(w) = &mut self.msgs {
            let _ = w.flush();
        }
        if self.dirty {
            self.dirty = false;
            if let Some(p) = &self.seqs_path {
                let line = format!("{} {}\n", self.seqs.next_out, self.seqs.next_in);
                let tmp = p.with_extension("seqs.tmp");
                if std::fs::write(&tmp, line).is_ok() {
                    let _ = std::fs::rename(&tmp, p);
                }
            }
        }
    }
}

/// CompIDs as file names: anything but `[A-Za-z0-9._-]` becomes `_`.
fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arena_halves_take_turns() {
        let mut s = PairStore::open(None, "SIM", "CLI").unwrap();
        let frame = vec![b'x'; 1 << 20];
        let n = (ARENA_MAX / frame.len()) as u64 * 2;
        for seq in 1..=n {
            s.put(seq, &frame);
        }
        assert!(s.get(n).is_some());
        assert!(s
            .get(n - (ARENA_MAX / frame.len()) as u64 / 2 + 1)
            .is_some());
        assert!(s.get(1).is_none(), "the oldest are gone");
        assert!(s.arena.iter().all(|a| a.len() <= ARENA_MAX / 2));
    }

    #[test]
    fn persists_frames_and_numbers() {
        let dir = std::env::temp_dir().join(format!("venue-sim-store-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        {
            let mut s = PairStore::open(Some(&dir), "SIM", "CLI").unwrap();
            assert_eq!(s.seqs().next_out, 1);
            s.put(1, b"one");
            s.put(2, b"two");
            s.set_seqs(SeqNums {
                next_out: 3,
                next_in: 5,
            });
            s.flush();
            s.put(3, b"three");
            s.flush();
        }
        let mut s = PairStore::open(Some(&dir), "SIM", "CLI").unwrap();
        assert_eq!(
            s.seqs(),
            SeqNums {
                next_out: 4,
                next_in: 5
            }
        );
        assert_eq!(s.get(2), Some(&b"two"[..]));
        assert_eq!(s.get(3), Some(&b"three"[..]));
        assert_eq!(s.get(4), None);
        // Numbers that go back (not to 1) forget what they will overwrite.
        s.set_seqs(SeqNums {
            next_out: 3,
            next_in: 5,
        });
        assert_eq!(s.get(3), None);
        assert_eq!(s.get(2), Some(&b"two"[..]));
        s.set_seqs(SeqNums {
            next_out: 1,
            next_in: 1,
        });
        assert_eq!(s.get(1), None);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
