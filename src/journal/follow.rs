//! Following a live journal: records handed over as the writer commits them, in order,
//! each checked (CRC, sequence) like a scan checks it. The control API's event stream
//! reads the journal this way while the core writes it; it never blocks the writer
//! (readers only acquire-load the committed end) and never sees half a record.

use super::segment::{self, SEGMENT_HEADER};
use super::{corrupt, map_segment, record_at, JournalError, RecordHeader, HEADER};
use memmap2::Mmap;
use std::path::{Path, PathBuf};

/// The sequence number the next record committed will carry: where a reader that wants
/// only what comes from now on starts. Reads the newest segment's headers only.
pub fn next_seq(dir: &Path) -> Result<u64, JournalError> {
    let segments = segment::list(dir)?;
    let Some((index, path)) = segments.last() else {
        return Ok(1);
    };
    let map = map_segment(path)?;
    if map.len() < SEGMENT_HEADER {
        return Err(corrupt(*index, 0, "file shorter than a segment header"));
    }
    let first = segment::header(&map).first_seq;
    let end = segment::cursor(&map)
        .map_err(|w| corrupt(*index, 0, w))?
        .end
        .min(map.len());
    let (mut pos, mut n) = (SEGMENT_HEADER, 0u64);
    while pos + HEADER <= end {
        let h: RecordHeader = bytemuck::pod_read_unaligned(&map[pos..pos + HEADER]);
        pos = pos.saturating_add(h.stride());
        if pos > end {
            return Err(corrupt(*index, pos, "record runs past the committed end"));
        }
        n += 1;
    }
    Ok(first + n)
}

/// A reader at a sequence number that moves on as records are committed.
pub struct Follower {
    dir: PathBuf,
    index: u64,
    map: Option<Mmap>,
    pos: usize,
    next_seq: u64,
    /// The last record passed over on the way to `next_seq`.
    skipped: Option<u64>,
}

impl Follower {
    /// A follower whose first record will be `next_seq` (1 = the journal's first).
    /// Fails if the segment holding it was retired (its records are in the audit log).
    pub fn at(dir: &Path, next_seq: u64) -> Result<Follower, JournalError> {
        let segments = segment::list(dir)?;
        let mut index = segments.first().map(|s| s.0).unwrap_or(0);
        let mut found = segments.is_empty() && next_seq <= 1;
        for (i, path) in &segments {
            let map = map_segment(path)?;
            if map.len() < SEGMENT_HEADER {
                return Err(corrupt(*i, 0, "file shorter than a segment header"));
            }
            let h = segment::header(&map);
            if h.first_seq > next_seq {
                break;
            }
            index = *i;
            found = true;
        }
        if !found {
            return Err(JournalError::Corrupt {
                segment: index,
                offset: 0,
                what: "the record asked for is older than the journal's first segment (retired to the audit log)",
            });
        }
        Ok(Follower {
            dir: dir.to_path_buf(),
            index,
            map: None,
            pos: SEGMENT_HEADER,
            next_seq,
            skipped: None,
        })
    }

    /// The sequence number of the next record it will hand over.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Hands every record committed since the last call to `f`, at most `max`; how
    /// many. Zero when nothing new is committed (or the next segment is not made yet).
    pub fn poll(
        &mut self,
        max: usize,
        mut f: impl FnMut(&RecordHeader, &[u8]),
    ) -> Result<usize, JournalError> {
        let mut n = 0;
        while n < max {
            if self.map.is_none() {
                let path = self.dir.join(segment::file_name(self.index));
                match map_segment(&path) {
                    Ok(m) if m.len() >= SEGMENT_HEADER => self.map = Some(m),
                    // Being made: its header is not there yet.
                    Ok(_) => return Ok(n),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        // Not made yet, or retired (copied to the audit log and deleted)
                        // while this reader lagged: then the journal has moved past it.
                        if segment::list(&self.dir)?
                            .iter()
                            .any(|(i, _)| *i > self.index)
                        {
                            return Err(JournalError::Io(std::io::Error::new(
                                std::io::ErrorKind::NotFound,
                                format!(
                                    "journal segment {} was retired to the audit log before this reader got to it; reading on from record {} needs a new reader (reconnect with Last-Event-ID)",
                                    self.index, self.next_seq
                                ),
                            )));
                        }
                        return Ok(n);
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            let map = self.map.as_ref().expect("mapped above");
            let cur = segment::cursor(map).map_err(|w| corrupt(self.index, 0, w))?;
            let end = cur.end.min(map.len());
            while n < max && self.pos < end {
                let expected = self.next_seq;
                if self.pos + HEADER > end {
                    return Err(corrupt(
                        self.index,
                        self.pos,
                        "record header runs past the committed end",
                    ));
                }
                // Records before the one asked for are checked against their own
                // sequence number, then skipped.
                let at: RecordHeader =
                    bytemuck::pod_read_unaligned(&map[self.pos..self.pos + HEADER]);
                // Skipped ones must still follow each other.
                let follows = self.skipped.is_none_or(|p| at.seq == p + 1);
                let want = if at.seq < expected && follows {
                    at.seq
                } else {
                    expected
                };
                let (h, next) = record_at(map, self.pos, end, want)
                    .map_err(|w| corrupt(self.index, self.pos, w))?;
                if h.seq < expected {
                    self.skipped = Some(h.seq);
                } else {
                    f(
                        &h,
                        &map[self.pos + HEADER..self.pos + HEADER + h.len as usize],
                    );
                    self.next_seq += 1;
                    n += 1;
                }
                self.pos = next;
            }
            if cur.sealed && self.pos >= end {
                self.index += 1;
                self.map = None;
                self.pos = SEGMENT_HEADER;
                continue;
            }
            break;
        }
        Ok(n)
    }
}
