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

pub mod follow;
pub mod record;
pub(crate) mod segment;

pub use record::{Record, RecordHeader};

use memmap2::{Mmap, MmapMut};
use record::{stride, ALIGN, HEADER};
use segment::SEGMENT_HEADER;
use std::fmt;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

/// Highest sequence number a journal may reach: far beyond any real journal (a billion
/// records a second for 146 years), far enough from `u64::MAX` that nothing overflows.
pub const MAX_SEQ: u64 = 1 << 62;

/// Default segment size: 64 MiB.
pub const DEFAULT_SEGMENT_SIZE: usize = 64 << 20;

/// What went wrong with a journal.
#[derive(Debug)]
pub enum JournalError {
    /// The file system failed, or refused something (a special file where a segment
    /// belongs is refused this way, with its path and what it is).
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
    /// A segment file the journal must have is not there: the segment files skip a
    /// number, or the last one is sealed (the writer went on to a successor that is gone).
    /// Either way records were deleted, and carrying on would reuse their sequence numbers.
    MissingSegment {
        /// The missing segment's index.
        segment: u64,
        /// The next segment file present, if any.
        next: Option<u64>,
    },
    /// A payload larger than a segment can hold, or a segment size out of range.
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
            JournalError::MissingSegment {
                segment,
                next: Some(n),
            } => write!(
                f,
                "journal segment {segment} is missing: the segment files jump from {} to {n} (a segment was deleted or renamed)",
                segment.saturating_sub(1)
            ),
            JournalError::MissingSegment {
                segment,
                next: None,
            } => write!(
                f,
                "journal segment {segment} is missing: segment {} is sealed, so the journal went on after it (its tail was deleted or renamed)",
                segment.saturating_sub(1)
            ),
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
    /// Segments still in the first format (their cursor carries no checksum).
    pub format_v1: u64,
}

fn corrupt(segment: u64, offset: usize, what: &'static str) -> JournalError {
    JournalError::Corrupt {
        segment,
        offset,
        what,
    }
}

/// The record at `pos` if it is whole below `end`, matches its CRC and carries
/// `expected`; with the offset of the next one.
fn record_at(
    map: &[u8],
    pos: usize,
    end: usize,
    expected: u64,
) -> Result<(RecordHeader, usize), &'static str> {
    if pos + HEADER > end {
        return Err("record header runs past the committed end");
    }
    let rh: RecordHeader = bytemuck::pod_read_unaligned(&map[pos..pos + HEADER]);
    let next = pos.saturating_add(rh.stride());
    if next > end {
        return Err("record runs past the committed end");
    }
    if rh.compute_crc(&map[pos + HEADER..pos + HEADER + rh.len as usize]) != rh.crc {
        return Err("CRC mismatch");
    }
    if rh.seq != expected {
        return Err("sequence number out of order");
    }
    Ok((rh, next))
}

/// Maps a segment file read-only, refusing anything but a regular file.
fn map_segment(path: &Path) -> io::Result<Mmap> {
    let file = segment::open_regular(path)?;
    // SAFETY: read-only view; the writer only appends past the cursor, which is read
    // with acquire ordering before any record bytes below it.
    unsafe { Mmap::map(&file) }
}

/// Checks every segment, header and committed record of the journal in `dir` — magic,
/// sizes, header checksums, CRCs, sequence continuity, no segment missing in the middle
/// or at the end — and hands each record to `f`, in order.
pub fn scan(dir: &Path, mut f: impl FnMut(Record<'_>)) -> Result<ScanSummary, JournalError> {
    let mut sum = ScanSummary::default();
    let mut expected_seq = 1;
    let segments = segment::list(dir)?;
    // Older segments may have been retired (their records live on in the audit log): the
    // journal then starts at a later segment and sequence number.
    let first_index = segments.first().map(|s| s.0).unwrap_or(0);
    let count = segments.len();
    let mut seen_v2 = false;
    for (n, (index, path)) in segments.into_iter().enumerate() {
        let want = first_index + n as u64;
        if index != want {
            return Err(JournalError::MissingSegment {
                segment: want,
                next: Some(index),
            });
        }
        let map = map_segment(&path)?;
        if map.len() < SEGMENT_HEADER {
            return Err(corrupt(index, 0, "file shorter than a segment header"));
        }
        let h = segment::header(&map);
        if h.magic != segment::MAGIC
            || !(h.format == segment::FORMAT || h.format == segment::FORMAT_V1)
            || h.index != index
        {
            return Err(corrupt(
                index,
                0,
                "not an execd journal segment of a known format",
            ));
        }
        if h.format == segment::FORMAT_V1 {
            // Formats only ever go up: an old segment after a new one was put there.
            if seen_v2 {
                return Err(corrupt(index, 8, "a format 1 segment after a format 2 one"));
            }
            sum.format_v1 += 1;
        } else {
            seen_v2 = true;
        }
        if n == 0 {
            if h.first_seq == 0 || h.first_seq > MAX_SEQ {
                return Err(corrupt(
                    index,
                    24,
                    "first sequence number out of range (1 to 2^62)",
                ));
            }
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
        let cur = segment::cursor(&map).map_err(|what| corrupt(index, 32, what))?;
        let end = cur.end;
        if end < SEGMENT_HEADER || end > map.len() || end % ALIGN != 0 {
            return Err(corrupt(index, 32, "committed end out of range"));
        }
        let mut pos = SEGMENT_HEADER;
        while pos < end {
            let (rh, next) = record_at(&map, pos, end, expected_seq)
                .map_err(|what| corrupt(index, pos, what))?;
            f(Record {
                header: rh,
                payload: &map[pos + HEADER..pos + HEADER + rh.len as usize],
                segment: index,
                offset: pos,
            });
            expected_seq += 1;
            sum.records += 1;
            pos = next;
        }
        // A crash leaves at most one record past the cursor (the writer publishes each
        // before writing the next); two that check and continue the sequence mean the
        // cursor was moved back over committed records.
        // (A live writer may have moved on since `end` was read: then it is no problem.)
        if let Ok((_, next)) = record_at(&map, end, map.len(), expected_seq) {
            if record_at(&map, next, map.len(), expected_seq + 1).is_ok()
                && segment::cursor(&map).map(|c| c.end) == Ok(end)
            {
                return Err(corrupt(
                    index,
                    end,
                    "records past the committed end continue the sequence: the committed end was lowered",
                ));
            }
        }
        sum.segments += 1;
        sum.end = end;
        sum.torn = (end + HEADER <= map.len() && map[end..end + HEADER].iter().any(|&b| b != 0))
            .then_some((index, end));
        // The writer seals a segment only once its successor exists; a live writer may
        // have made that successor since the directory was listed.
        if n + 1 == count && cur.sealed && !dir.join(segment::file_name(index + 1)).exists() {
            return Err(JournalError::MissingSegment {
                segment: index + 1,
                next: None,
            });
        }
    }
    sum.last_seq = expected_seq - 1;
    Ok(sum)
}

/// The journal's segment files in `dir`, by index (special files in it are refused).
pub fn segment_files(dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    segment::list(dir)
}

/// Sequence number of the first record in the journal's segment files (above 1 once
/// older segments were retired); `None` for an empty journal.
pub fn first_seq(dir: &Path) -> io::Result<Option<u64>> {
    let Some((_, path)) = segment::list(dir)?.into_iter().next() else {
        return Ok(None);
    };
    let map = map_segment(&path)?;
    if map.len() < SEGMENT_HEADER {
        return Ok(None);
    }
    Ok(Some(segment::header(&map).first_seq))
}

/// What a lenient walk of a journal found: the longest run of records, from the first
/// segment on, that check (headers, CRCs, sequence), whatever the cursors say.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Walked {
    /// Index of the first segment file.
    pub first_segment: u64,
    /// Sequence number the first segment starts at (1 for an empty journal).
    pub first_seq: u64,
    /// The last record of the run (`first_seq - 1` when there is none).
    pub last_seq: u64,
    /// Its time.
    pub last_ts: u64,
    /// Where the run ends: segment and the byte after its last record; `None` when not
    /// even the first segment's header checks.
    pub end: Option<(u64, usize)>,
    /// Segment files past the run (the segment it ends in excluded).
    pub beyond: Vec<u64>,
}

/// Walks the journal the way a salvager must: cursors are not trusted (one of them may
/// be what was altered), records are — as far as each checks and continues the
/// sequence. Hands each such record to `f`. Only for a journal no writer has open.
pub fn walk_valid(dir: &Path, mut f: impl FnMut(Record<'_>)) -> Result<Walked, JournalError> {
    let segments = segment::list(dir)?;
    let mut w = Walked {
        first_seq: 1,
        ..Walked::default()
    };
    let Some(&(first_index, _)) = segments.first() else {
        return Ok(w);
    };
    w.first_segment = first_index;
    let mut expected = 1u64;
    let mut stopped = false;
    for (n, (index, path)) in segments.iter().enumerate() {
        if stopped || *index != first_index + n as u64 {
            stopped = true;
            w.beyond.push(*index);
            continue;
        }
        let map = map_segment(path)?;
        let ok = map.len() >= SEGMENT_HEADER && {
            let h = segment::header(&map);
            h.magic == segment::MAGIC
                && (h.format == segment::FORMAT || h.format == segment::FORMAT_V1)
                && h.index == *index
                && (1..=MAX_SEQ).contains(&h.first_seq)
                && (n == 0 || h.first_seq == expected)
        };
        if !ok {
            stopped = true;
            w.beyond.push(*index);
            continue;
        }
        if n == 0 {
            expected = segment::header(&map).first_seq;
            w.first_seq = expected;
            w.last_seq = expected.saturating_sub(1);
        }
        let mut pos = SEGMENT_HEADER;
        while let Ok((rh, next)) = record_at(&map, pos, map.len(), expected) {
            f(Record {
                header: rh,
                payload: &map[pos + HEADER..pos + HEADER + rh.len as usize],
                segment: *index,
                offset: pos,
            });
            w.last_seq = rh.seq;
            w.last_ts = rh.ts_ns;
            expected += 1;
            pos = next;
        }
        w.end = Some((*index, pos));
    }
    Ok(w)
}

/// What [`cut`] changed.
#[derive(Clone, Debug, Default)]
pub struct CutReport {
    /// Files renamed aside (whole segments past the cut, and copies of the segment cut
    /// in the middle, as they were): kept, never deleted.
    pub set_aside: Vec<PathBuf>,
    /// Segments whose header was rewritten, with the 64 header bytes they had.
    pub rewritten: Vec<(u64, Vec<u8>)>,
}

/// Makes the journal end right after record `through` (at most what [`walk_valid`]
/// finds; `first_seq - 1` for an empty journal): every cursor before it is set to what
/// its records say, bytes past it are zeroed (the segment copied aside first when they
/// hold anything), later segments are renamed aside with `suffix`. `through = 0` on a
/// journal whose first header does not check sets every segment aside. Only for a
/// journal no writer has open.
pub fn cut(dir: &Path, through: u64, suffix: &str) -> Result<CutReport, JournalError> {
    let mut ends: Vec<(u64, usize)> = Vec::new();
    let mut cut_at: Option<(u64, usize)> = None;
    let walked = walk_valid(dir, |r| {
        if r.header.seq <= through {
            let next = r.offset + r.header.stride();
            match ends.last_mut() {
                Some(e) if e.0 == r.segment => e.1 = next,
                _ => ends.push((r.segment, next)),
            }
            if r.header.seq == through {
                cut_at = Some((r.segment, next));
            }
        }
    })?;
    let mut report = CutReport::default();
    let aside = |index: u64, report: &mut CutReport| -> Result<(), JournalError> {
        let from = dir.join(segment::file_name(index));
        let to = dir.join(format!("{}.{suffix}", segment::file_name(index)));
        std::fs::rename(&from, &to)?;
        report.set_aside.push(to);
        Ok(())
    };
    if through > walked.last_seq || (walked.end.is_some() && through + 1 < walked.first_seq) {
        return Err(JournalError::Corrupt {
            segment: walked.first_segment,
            offset: 0,
            what: "cannot cut the journal where it holds no record",
        });
    }
    // The segment the journal ends in: the one holding `through`, or the first one when
    // it keeps no record of its own.
    let keep = match (cut_at, walked.end) {
        (Some(c), _) => Some(c),
        (None, Some(_)) => Some((walked.first_segment, SEGMENT_HEADER)),
        (None, None) => None,
    };
    let listed = segment::list(dir)?;
    for (index, path) in listed {
        match keep {
            Some((k, pos)) if index <= k => {
                let mut map = segment::open_mut(&path)?;
                let (end, sealed) = if index == k {
                    (pos, false)
                } else {
                    let e = ends.iter().find(|e| e.0 == index).map(|e| e.1);
                    (e.unwrap_or(SEGMENT_HEADER), true)
                };
                let was = map[..SEGMENT_HEADER].to_vec();
                if index == k && map[end..].iter().any(|&b| b != 0) {
                    let copy = dir.join(format!("{}.{suffix}", segment::file_name(index)));
                    std::fs::write(&copy, &map[..])?;
                    report.set_aside.push(copy);
                    map[end..].fill(0);
                }
                let now = segment::cursor(&map).ok();
                if now != Some(segment::Cursor { end, sealed }) {
                    segment::rewrite_cursor(&mut map, end, sealed);
                    report.rewritten.push((index, was));
                }
                map.flush()?;
            }
            _ => aside(index, &mut report)?,
        }
    }
    File::open(dir)?.sync_all()?;
    Ok(report)
}

/// The single writer of a journal.
pub struct JournalWriter {
    dir: PathBuf,
    segment_size: usize,
    map: MmapMut,
    // CRC of the current segment's fixed header part: every publish extends it.
    base: u32,
    index: u64,
    pos: usize,
    next_seq: u64,
    // The next segment is prepared on a helper thread while this one fills.
    ask: Option<mpsc::SyncSender<Chore>>,
    ready: mpsc::Receiver<io::Result<segment::Prepared>>,
    preparer: Option<std::thread::JoinHandle<()>>,
    /// The last preparation of the next segment failed with this (a full disk): it is
    /// asked for again, and appends are refused until it arrives rather than each one
    /// waiting for the preparer.
    failed: Option<io::ErrorKind>,
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
                        let prepared = segment::prepare(&dir, index, size);
                        let failed = prepared.is_err();
                        if done.send(prepared).is_err() {
                            break;
                        }
                        if failed {
                            // The writer asks again at once; a full disk is retried ten
                            // times a second, not in a loop.
                            std::thread::sleep(std::time::Duration::from_millis(100));
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
        if segment_size < SEGMENT_HEADER + 2 * HEADER
            || segment_size % ALIGN != 0
            || segment_size > segment::MAX_SEGMENT_SIZE
        {
            return Err(JournalError::TooLarge(segment_size));
        }
        std::fs::create_dir_all(dir)?;
        segment::remove_stale(dir)?;
        let summary = scan(dir, |_| {})?;
        let (map, base, index, pos, next_seq) = if summary.segments == 0 {
            let (map, base) = segment::create(dir, 0, 1, segment_size)?;
            (map, base, 0, SEGMENT_HEADER, 1)
        } else {
            let index = summary.first_segment + summary.segments - 1;
            let mut map = segment::open_mut(&dir.join(segment::file_name(index)))?;
            if map.len() > segment::MAX_SEGMENT_SIZE {
                return Err(JournalError::TooLarge(map.len()));
            }
            let end = summary.end;
            if summary.torn.is_some() {
                // Wipe the partial record so no reader mistakes it for data later.
                let rh: RecordHeader = bytemuck::pod_read_unaligned(&map[end..end + HEADER]);
                let stop = end.saturating_add(rh.stride()).min(map.len());
                map[end..stop].fill(0);
                map.flush_range(end, stop - end)?;
            }
            // The segment being continued gets the checksummed header (a format 1
            // segment is converted here, once; sealed ones before it stay as they are).
            let h = segment::header(&map);
            let base = segment::write_header(&mut map, index, h.first_seq, end, false);
            map.flush_range(0, SEGMENT_HEADER)?;
            (map, base, index, end, summary.last_seq + 1)
        };
        // New segments take the size asked for now; the one continued keeps its own (a
        // record it cannot hold goes to the next segment).
        let (ask, ready, preparer) = spawn_preparer(dir.to_path_buf(), segment_size)?;
        let _ = ask.send(Chore::Prepare(index + 1));
        let w = JournalWriter {
            dir: dir.to_path_buf(),
            segment_size,
            map,
            base,
            index,
            pos,
            next_seq,
            ask: Some(ask),
            ready,
            preparer: Some(preparer),
            failed: None,
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
        // After a refusal nothing lands in what is left of the segment either, until the
        // next one arrives: the journal stays a prefix of what happened, not a record
        // with holes that a replay would not reproduce.
        if self.pos + need > self.map.len() || self.failed.is_some() {
            self.roll()?;
        }
        let seq = self.next_seq;
        let h = RecordHeader {
            len: payload.len() as u32,
            kind,
            version,
            seq,
            ts_ns,
            crc: 0,
            reserved: 0,
        };
        let at = self.pos;
        let end = at + HEADER + payload.len();
        self.map[at..at + HEADER].copy_from_slice(bytemuck::bytes_of(&h));
        self.map[at + HEADER..end].copy_from_slice(payload);
        self.map[end..at + need].fill(0);
        // One CRC call over the record as written (its CRC field still zero) rather than
        // one for the header and one for the payload: the same value, and on the order
        // path each call's setup costs about as much as the bytes.
        let crc = crc32c::crc32c(&self.map[at..end]);
        debug_assert_eq!(crc, h.compute_crc(payload));
        let crc_at = at + std::mem::offset_of!(RecordHeader, crc);
        self.map[crc_at..crc_at + 4].copy_from_slice(&crc.to_ne_bytes());
        self.pos = at + need;
        self.next_seq += 1;
        // Publish, with the checksum that keeps the end from being edited back.
        segment::publish(&self.map, self.base, self.pos, false);
        Ok(seq)
    }

    fn roll(&mut self) -> Result<(), JournalError> {
        // Normally ready long ago; waits only if segments fill faster than they are made
        // (a slow disk, a loaded machine). It polls rather than blocking in `recv`: a
        // thread's first blocking receive allocates its wait context, which would be an
        // allocation on the core thread exactly when the machine is under load.
        let mut waited = 0u32;
        let prepared = loop {
            match self.ready.try_recv() {
                Ok(p) => break p,
                Err(mpsc::TryRecvError::Empty) => {
                    if let Some(kind) = self.failed {
                        // Still failing (or not yet asked again): refuse this record now.
                        return Err(io::Error::from(kind).into());
                    }
                    waited = waited.saturating_add(1);
                    if waited < 64 {
                        std::thread::yield_now();
                    } else {
                        std::thread::sleep(std::time::Duration::from_micros(50));
                    }
                }
                Err(mpsc::TryRecvError::Disconnected) => {
                    break segment::prepare(&self.dir, self.index + 1, self.segment_size)
                }
            }
        };
        let installed = prepared.and_then(|p| segment::install(p, self.next_seq));
        let (next, base) = match installed {
            Ok(next) => {
                self.failed = None;
                next
            }
            Err(e) => {
                // Ask again, or the next roll would wait for an answer that never comes.
                self.failed = Some(e.kind());
                if let Some(ask) = &self.ask {
                    let _ = ask.send(Chore::Prepare(self.index + 1));
                }
                return Err(e.into());
            }
        };
        let old = std::mem::replace(&mut self.map, next);
        // Sealed only once the successor exists: a reader that sees the flag finds it.
        segment::publish(&old, self.base, self.pos, true);
        self.base = base;
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
