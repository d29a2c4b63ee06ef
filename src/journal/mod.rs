//! The journal (R-AUD-2): append-only, memory-mapped, preallocated segment files.
//!
//! One writer (the core thread) appends records: it writes header and payload into the
//! mapping, then publishes the new end with a release store to the segment header's
//! `committed` field. Readers — the sidecar, recovery, the replay tool, another process —
//! acquire-load `committed` and read only up to it, so they never see half a record.
//! Killing the process loses nothing committed: the pages belong to the kernel. A record
//! torn by a crash lies past `committed`; reopening reports it and wipes it.
//!
//! This module is the storage layer; what the core writes into it (requests, decisions,
//! state changes, venue messages) and recovery from it are built on top.

pub mod record;
pub(crate) mod segment;

pub use record::{Record, RecordHeader};

use memmap2::{Mmap, MmapMut};
use record::{stride, ALIGN, HEADER};
use segment::{committed, SEGMENT_HEADER};
use std::fmt;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::mpsc;

/// Default segment size: 64 MiB.
pub const DEFAULT_SEGMENT_SIZE: usize = 64 << 20;

/// What went wrong with a journal.
#[derive(Debug)]
pub enum JournalError {
    /// The file system failed.
    Io(io::Error),
    /// A committed record or a header is not what was written: bit rot, a foreign file,
    /// or tampering. Nothing after it can be trusted.
    Corrupt {
        /// Segment index.
        segment: u64,
        /// Byte offset in the segment.
        offset: usize,
        /// What is wrong.
        what: &'static str,
    },
    /// A payload larger than a segment can hold.
    TooLarge(usize),
}

impl fmt::Display for JournalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JournalError::Io(e) => write!(f, "journal i/o: {e}"),
            JournalError::Corrupt {
                segment,
                offset,
                what,
            } => {
                write!(
                    f,
                    "journal corrupt in segment {segment} at byte {offset}: {what}"
                )
            }
            JournalError::TooLarge(n) => write!(f, "record of {n} bytes does not fit a segment"),
        }
    }
}

impl std::error::Error for JournalError {}

impl From<io::Error> for JournalError {
    fn from(e: io::Error) -> Self {
        JournalError::Io(e)
    }
}

/// What a scan of a journal found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScanSummary {
    /// Segment files.
    pub segments: u64,
    /// Index of the first segment file (above 0 once older ones were retired).
    pub first_segment: u64,
    /// Sequence number of the first record in the segment files.
    pub first_seq: u64,
    /// Committed records.
    pub records: u64,
    /// Sequence number of the last record (0 if none).
    pub last_seq: u64,
    /// Where the last segment's committed data ends.
    pub end: usize,
    /// A torn record past the end (a crash mid-write): segment and offset.
    pub torn: Option<(u64, usize)>,
}

fn corrupt(segment: u64, offset: usize, what: &'static str) -> JournalError {
    JournalError::Corrupt {
        segment,
        offset,
        what,
    }
}

/// Checks every segment, header and committed record of the journal in `dir` — magic,
/// sizes, CRCs, sequence continuity — and hands each record to `f`, in order.
pub fn scan(dir: &Path, mut f: impl FnMut(Record<'_>)) -> Result<ScanSummary, JournalError> {
    let mut sum = ScanSummary::default();
    let mut expected_seq = 1;
    let segments = segment::list(dir)?;
    // Older segments may have been retired (their records live on in the audit log): the
    // journal then starts at a later segment and sequence number.
    let first_index = segments.first().map(|s| s.0).unwrap_or(0);
    for (n, (index, path)) in segments.into_iter().enumerate() {
        if index != first_index + n as u64 {
            return Err(corrupt(
                index,
                0,
                "segment files are not numbered consecutively",
            ));
        }
        let file = File::open(&path)?;
        // SAFETY: read-only view; the writer only appends past `committed`, which is read
        // with acquire ordering before any record bytes below it.
        let map = unsafe { Mmap::map(&file)? };
        if map.len() < SEGMENT_HEADER {
            return Err(corrupt(index, 0, "file shorter than a segment header"));
        }
        let h = segment::header(&map);
        if h.magic != segment::MAGIC || h.format != segment::FORMAT || h.index != index {
            return Err(corrupt(
                index,
                0,
                "not an execd journal segment of this format",
            ));
        }
        if n == 0 {
            expected_seq = h.first_seq;
            sum.first_seq = h.first_seq;
            sum.first_segment = index;
        }
        if h.first_seq != expected_seq {
            return Err(corrupt(
                index,
                0,
                "first sequence number does not follow the previous segment",
            ));
        }
        let end = h.committed as usize;
        if end < SEGMENT_HEADER || end > map.len() {
            return Err(corrupt(
                index,
                segment::SEGMENT_HEADER / 2,
                "committed end out of range",
            ));
        }
        let mut pos = SEGMENT_HEADER;
        while pos < end {
            if pos + HEADER > end {
                return Err(corrupt(
                    index,
                    pos,
                    "record header runs past the committed end",
                ));
            }
            let rh: RecordHeader = bytemuck::pod_read_unaligned(&map[pos..pos + HEADER]);
            let next = pos + rh.stride();
            if next > end {
                return Err(corrupt(index, pos, "record runs past the committed end"));
            }
            let payload = &map[pos + HEADER..pos + HEADER + rh.len as usize];
            if rh.compute_crc(payload) != rh.crc {
                return Err(corrupt(index, pos, "CRC mismatch"));
            }
            if rh.seq != expected_seq {
                return Err(corrupt(index, pos, "sequence number out of order"));
            }
            f(Record {
                header: rh,
                payload,
                segment: index,
                offset: pos,
            });
            expected_seq += 1;
            sum.records += 1;
            pos = next;
        }
        sum.segments += 1;
        sum.end = end;
        sum.torn = (end + HEADER <= map.len() && map[end..end + HEADER].iter().any(|&b| b != 0))
            .then_some((index, end));
    }
    sum.last_seq = expected_seq - 1;
    Ok(sum)
}

/// Sequence number of the first record in the journal's segment files (above 1 once
/// older segments were retired); `None` for an empty journal.
pub fn first_seq(dir: &Path) -> io::Result<Option<u64>> {
    let Some((_, path)) = segment::list(dir)?.into_iter().next() else {
        return Ok(None);
    };
    let file = File::open(path)?;
    // SAFETY: read-only view of the header.
    let map = unsafe { Mmap::map(&file)? };
    if map.len() < SEGMENT_HEADER {
        return Ok(None);
    }
    Ok(Some(segment::header(&map).first_seq))
}

/// The single writer of a journal.
pub struct JournalWriter {
    dir: PathBuf,
    segment_size: usize,
    map: MmapMut,
    index: u64,
    pos: usize,
    next_seq: u64,
    // The next segment is prepared on a helper thread while this one fills.
    ask: Option<mpsc::SyncSender<Chore>>,
    ready: mpsc::Receiver<io::Result<segment::Prepared>>,
    preparer: Option<std::thread::JoinHandle<()>>,
}

impl Drop for JournalWriter {
    fn drop(&mut self) {
        self.ask.take();
        if let Some(t) = self.preparer.take() {
            let _ = t.join();
        }
        // An unused prepared segment is left as a .tmp file; the next open removes it.
    }
}

/// Slow work around segments, done off the writer's thread.
enum Chore {
    /// Prepare segment N.
    Prepare(u64),
    /// Unmap a finished segment (tearing down a 64 MiB mapping takes milliseconds).
    Retire(MmapMut),
}

type Preparer = (
    mpsc::SyncSender<Chore>,
    mpsc::Receiver<io::Result<segment::Prepared>>,
    std::thread::JoinHandle<()>,
);

/// Starts the thread that prepares segments ahead of need and retires used ones.
fn spawn_preparer(dir: PathBuf, size: usize) -> io::Result<Preparer> {
    // Bounded: its slots are allocated here, so asking (two chores a segment) never
    // allocates on the writer's thread. Full means 32 segments of chores are pending,
    // and the writer would be waiting for a prepared segment anyway.
    let (ask, asked) = mpsc::sync_channel::<Chore>(64);
    let (done, ready) = mpsc::channel();
    let t = std::thread::Builder::new()
        .name("execd-journal-prep".into())
        .spawn(move || {
            for chore in asked {
                match chore {
                    Chore::Prepare(index) => {
                        if done.send(segment::prepare(&dir, index, size)).is_err() {
                            break;
                        }
                    }
                    Chore::Retire(map) => {
                        let _ = map.flush_async();
                        drop(map);
                    }
                }
            }
        })?;
    Ok((ask, ready, t))
}

impl JournalWriter {
    /// Opens the journal in `dir` (creating it if needed), checks everything committed,
    /// wipes a torn record left by a crash, and positions after the last record.
    pub fn open(
        dir: &Path,
        segment_size: usize,
    ) -> Result<(JournalWriter, ScanSummary), JournalError> {
        if segment_size < SEGMENT_HEADER + 2 * HEADER || segment_size % ALIGN != 0 {
            return Err(JournalError::TooLarge(segment_size));
        }
        std::fs::create_dir_all(dir)?;
        segment::remove_stale(dir)?;
        let summary = scan(dir, |_| {})?;
        let (map, index, pos, next_seq) = if summary.segments == 0 {
            (
                segment::create(dir, 0, 1, segment_size)?,
                0,
                SEGMENT_HEADER,
                1,
            )
        } else {
            let index = summary.first_segment + summary.segments - 1;
            let mut map = segment::open_mut(&dir.join(segment::file_name(index)))?;
            let end = summary.end;
            if summary.torn.is_some() {
                // Wipe the partial record so no reader mistakes it for data later.
                let rh: RecordHeader = bytemuck::pod_read_unaligned(&map[end..end + HEADER]);
                let stop = end.saturating_add(rh.stride()).min(map.len());
                map[end..stop].fill(0);
                map.flush_range(end, stop - end)?;
            }
            (map, index, end, summary.last_seq + 1)
        };
        let segment_size = map.len();
        let (ask, ready, preparer) = spawn_preparer(dir.to_path_buf(), segment_size)?;
        let _ = ask.send(Chore::Prepare(index + 1));
        let w = JournalWriter {
            dir: dir.to_path_buf(),
            segment_size,
            map,
            index,
            pos,
            next_seq,
            ask: Some(ask),
            ready,
            preparer: Some(preparer),
        };
        Ok((w, summary))
    }

    /// Appends a record; returns its sequence number. Allocation-free; a system call only
    /// when a segment fills and the next one is created.
    #[inline]
    pub fn append(
        &mut self,
        kind: u16,
        version: u16,
        ts_ns: u64,
        payload: &[u8],
    ) -> Result<u64, JournalError> {
        let need = stride(payload.len());
        if need > self.segment_size - SEGMENT_HEADER {
            return Err(JournalError::TooLarge(payload.len()));
        }
        if self.pos + need > self.map.len() {
            self.roll()?;
        }
        let seq = self.next_seq;
        let mut h = RecordHeader {
            len: payload.len() as u32,
            kind,
            version,
            seq,
            ts_ns,
            crc: 0,
            reserved: 0,
        };
        h.crc = h.compute_crc(payload);
        let at = self.pos;
        self.map[at..at + HEADER].copy_from_slice(bytemuck::bytes_of(&h));
        self.map[at + HEADER..at + HEADER + payload.len()].copy_from_slice(payload);
        self.map[at + HEADER + payload.len()..at + need].fill(0);
        self.pos = at + need;
        self.next_seq += 1;
        // Publish: everything above is visible to whoever acquires this value.
        committed(&self.map).store(self.pos as u64, Ordering::Release);
        Ok(seq)
    }

    fn roll(&mut self) -> Result<(), JournalError> {
        // Normally ready long ago; waits only if segments fill faster than they are made.
        let prepared = match self.ready.recv() {
            Ok(p) => p?,
            Err(_) => segment::prepare(&self.dir, self.index + 1, self.segment_size)?,
        };
        let next = segment::install(prepared, self.next_seq)?;
        let old = std::mem::replace(&mut self.map, next);
        // Sealed only once the successor exists: a reader that sees the flag finds it.
        segment::sealed(&old).store(1, Ordering::Release);
        if let Some(ask) = &self.ask {
            let _ = ask.send(Chore::Prepare(self.index + 2));
            let _ = ask.send(Chore::Retire(old));
        }
        self.index += 1;
        self.pos = SEGMENT_HEADER;
        Ok(())
    }

    /// Forces everything written so far to disk (msync). The sidecar owns durability
    /// policy; this is for shutdown and tests.
    pub fn sync(&self) -> io::Result<()> {
        self.map.flush()
    }

    /// The journal's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Sequence number the next record will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Current segment and offset.
    pub fn position(&self) -> (u64, usize) {
        (self.index, self.pos)
    }
}

#[cfg(test)]
mod tests;
