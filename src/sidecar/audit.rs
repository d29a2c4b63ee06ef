//! The audit log: the journal's records copied into plain append-only files that say
//! what they are, each record still carrying its CRC32C. A file is created new, appended
//! to, synced, and never opened for writing again; a new one starts past a size limit,
//! at each UTC day, and at each start of the sidecar.

use crate::calendar::civil_date;
use crate::journal::record::{RecordHeader, ALIGN, HEADER};
use crate::journal::segment;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

const DAY_NS: u64 = 86_400_000_000_000;
/// First line of every audit file.
pub const MAGIC_LINE: &str = "EXECD-AUDIT 1";

/// When the audit log (and the journal segment being copied) is fsynced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fsync {
    /// After every batch of records the sidecar copies: nothing copied is ever only in
    /// the page cache when the sidecar reads on (group commit).
    EveryRecord,
    /// At most this many milliseconds after a record was copied.
    EveryMs(u64),
    /// Only when a file is closed (rotation) and at stop.
    OnRotation,
}

/// The open audit log.
pub struct AuditLog {
    dir: PathBuf,
    max_bytes: u64,
    file: Option<BufWriter<File>>,
    // The current file's path and (device, inode): it must stay where it was made.
    current: Option<(PathBuf, u64, u64)>,
    day: u64,
    bytes: u64,
    next_index: u64,
    last_seq: u64,
    files_written: u64,
}

fn describe(first_seq: u64, day: u64) -> String {
    let (y, m, d) = civil_date(day * DAY_NS);
    format!(
        "{MAGIC_LINE} first_seq={first_seq} utc_day={y:04}-{m:02}-{d:02}\n\
         # Records as in the execd journal: a 32-byte little-endian header (payload length u32,\n\
         # kind u16, version u16, sequence u64, time ns u64, CRC32C u32 of header-with-crc-0 and\n\
         # payload, zero u32), then the payload, padded to 8 bytes. Kinds: 1 command, 2 start,\n\
         # 3 time reached, 4 configuration (TOML), 5 event, 6 venue input, 7 journal loss an\n\
         # operator accepted (JSON). Read with execd-replay.\n\n"
    )
}

/// Audit files in `dir`, oldest first. Special files in the directory are refused; a
/// missing directory is an empty log.
pub fn files(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut out: Vec<PathBuf> = match segment::regular_entries(dir) {
        Ok(d) => d
            .into_iter()
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("audit-") && n.ends_with(".log"))
            })
            .collect(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => {
            return Err(io::Error::new(
                e.kind(),
                format!("audit log {}: {e}", dir.display()),
            ))
        }
    };
    // The index (the last number in the name) orders the files; the date does not.
    out.sort_by_key(|p| index_of(p));
    Ok(out)
}

fn index_of(p: &Path) -> u64 {
    p.file_stem()
        .and_then(|s| s.to_str())
        .and_then(|s| s.rsplit('-').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// A record read back from the audit log, with where it is.
pub struct AuditRecord<'a> {
    /// Its header, as in the journal.
    pub header: RecordHeader,
    /// Its payload.
    pub payload: &'a [u8],
    /// The file it is in.
    pub file: &'a Path,
    /// That file's position in [`Reader::files`].
    pub file_index: usize,
    /// Byte offset in that file.
    pub offset: usize,
}

/// What is wrong with an audit file.
#[derive(Debug)]
pub struct AuditDamage {
    /// The file.
    pub file: PathBuf,
    /// Byte offset of the problem.
    pub offset: usize,
    /// What is wrong.
    pub what: String,
}

impl std::fmt::Display for AuditDamage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "audit log {} at byte {}: {}",
            self.file.display(),
            self.offset,
            self.what
        )
    }
}

/// Reads the audit log's files in order, one record at a time, checking each file's
/// description, every CRC and the sequence numbers: within the log they follow each
/// other without a gap (a file's first record may repeat nothing and skip nothing).
/// A record cut at the end of a file (a crash while copying, or a file cut short) ends
/// that file; where it was cut is kept in [`Reader::cut`].
pub struct Reader {
    files: Vec<PathBuf>,
    next_file: usize,
    current: Option<PathBuf>,
    bytes: Vec<u8>,
    pos: usize,
    last_seq: u64,
    records: u64,
    /// The last cut-off record seen: file and byte.
    pub cut: Option<(PathBuf, usize)>,
}

impl Reader {
    /// A reader over the audit log in `dir` (none there: an empty log).
    pub fn open(dir: &Path) -> io::Result<Reader> {
        Ok(Reader::over(files(dir)?))
    }

    /// A reader over these files, in this order.
    pub fn over(files: Vec<PathBuf>) -> Reader {
        Reader {
            files,
            next_file: 0,
            current: None,
            bytes: Vec::new(),
            pos: 0,
            last_seq: 0,
            records: 0,
            cut: None,
        }
    }

    /// The files it reads.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// Position in [`Reader::files`] of the file being read (the next one to read when
    /// none is loaded yet).
    pub fn file_index(&self) -> usize {
        self.next_file.saturating_sub(1)
    }

    /// Sequence number of the last record read (0 before the first).
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// Records read so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    fn damage(&self, path: &Path, offset: usize, what: impl Into<String>) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidData,
            AuditDamage {
                file: path.to_path_buf(),
                offset,
                what: what.into(),
            }
            .to_string(),
        )
    }

    /// Loads the next file; `false` when there is none.
    fn load_next(&mut self) -> io::Result<bool> {
        let Some(path) = self.files.get(self.next_file).cloned() else {
            return Ok(false);
        };
        self.next_file += 1;
        self.bytes.clear();
        segment::open_regular(&path)?.read_to_end(&mut self.bytes)?;
        let bytes = &self.bytes;
        let end_of_description = bytes.windows(2).position(|w| w == b"\n\n").map(|p| p + 2);
        let magic = MAGIC_LINE.as_bytes();
        let start = match end_of_description {
            Some(start) if bytes.starts_with(magic) => start,
            // Cut off while its description was being written (a crash as the file was
            // made): it holds no records.
            None if magic.starts_with(&bytes[..bytes.len().min(magic.len())]) => bytes.len(),
            _ => return Err(self.damage(&path, 0, "not an execd audit file")),
        };
        let first_line = &bytes[..start.min(bytes.len())];
        let declared = std::str::from_utf8(first_line)
            .ok()
            .and_then(|t| t.lines().next())
            .and_then(|l| l.split(' ').find_map(|w| w.strip_prefix("first_seq=")))
            .and_then(|n| n.parse::<u64>().ok());
        self.pos = start.div_ceil(ALIGN) * ALIGN;
        if self.pos + HEADER <= self.bytes.len() {
            let h: RecordHeader =
                bytemuck::pod_read_unaligned(&self.bytes[self.pos..self.pos + HEADER]);
            if declared.is_some_and(|d| d != h.seq) {
                return Err(self.damage(
                    &path,
                    self.pos,
                    format!(
                        "the file says it begins with record {} but its first record is {}",
                        declared.unwrap_or(0),
                        h.seq
                    ),
                ));
            }
        }
        self.current = Some(path);
        Ok(true)
    }

    /// The next record, checked; `None` at the end of the log.
    pub fn next_record(&mut self) -> io::Result<Option<AuditRecord<'_>>> {
        loop {
            if self.current.is_some() && self.pos + HEADER <= self.bytes.len() {
                let path = self.current.as_deref().expect("a file is loaded");
                let pos = self.pos;
                let h: RecordHeader = bytemuck::pod_read_unaligned(&self.bytes[pos..pos + HEADER]);
                let next = pos.saturating_add(h.stride());
                if next > self.bytes.len() {
                    // Cut: a crash while copying leaves this; the next file (if any)
                    // must carry on right after the last whole record.
                    self.cut = Some((path.to_path_buf(), pos));
                    self.pos = self.bytes.len();
                    continue;
                }
                let payload = &self.bytes[pos + HEADER..pos + HEADER + h.len as usize];
                if h.compute_crc(payload) != h.crc {
                    return Err(self.damage(path, pos, "CRC mismatch"));
                }
                if h.seq == 0 || h.seq > crate::journal::MAX_SEQ {
                    return Err(self.damage(path, pos, "sequence number out of range (1 to 2^62)"));
                }
                if self.records > 0 && h.seq != self.last_seq + 1 {
                    let what = if h.seq > self.last_seq + 1 {
                        format!(
                            "records {}..{} are missing: record {} follows record {}",
                            self.last_seq + 1,
                            h.seq - 1,
                            h.seq,
                            self.last_seq
                        )
                    } else {
                        format!(
                            "record {} follows record {}: sequence numbers go back",
                            h.seq, self.last_seq
                        )
                    };
                    return Err(self.damage(path, pos, what));
                }
                self.pos = next;
                self.last_seq = h.seq;
                self.records += 1;
                let file = self.current.as_deref().expect("a file is loaded");
                return Ok(Some(AuditRecord {
                    header: h,
                    payload: &self.bytes[pos + HEADER..pos + HEADER + h.len as usize],
                    file,
                    file_index: self.next_file - 1,
                    offset: pos,
                }));
            }
            if !self.load_next()? {
                return Ok(None);
            }
        }
    }
}

/// Reads every complete, CRC-checked record of the audit log in `dir`, in order, with
/// sequence numbers that follow each other. A partial record at the end of a file (a
/// crash while copying) ends that file; a bad CRC, a gap or a foreign file anywhere is
/// an error naming the file and byte. The last sequence number (0 for an empty log).
pub fn scan(dir: &Path, mut f: impl FnMut(&RecordHeader, &[u8])) -> io::Result<u64> {
    let mut r = Reader::open(dir)?;
    while let Some(rec) = r.next_record()? {
        f(&rec.header, rec.payload);
    }
    Ok(r.last_seq())
}

/// Sequence number of the last complete record in the audit log (0 if none). Reads
/// only the newest files, not the whole log.
pub fn last_seq(dir: &Path) -> io::Result<u64> {
    let all = files(dir)?;
    for k in (0..all.len()).rev() {
        let mut r = Reader::over(all[k..k + 1].to_vec());
        while r.next_record()?.is_some() {}
        if r.last_seq() > 0 {
            return Ok(r.last_seq());
        }
    }
    Ok(0)
}

impl AuditLog {
    /// Opens the audit log in `dir`, positioned after the last record it holds.
    pub fn open(dir: &Path, _fsync: Fsync, max_bytes: u64) -> io::Result<AuditLog> {
        std::fs::create_dir_all(dir)?;
        let last_seq = last_seq(dir)?;
        let next_index = files(dir)?.last().map(|p| index_of(p) + 1).unwrap_or(0);
        Ok(AuditLog {
            dir: dir.to_path_buf(),
            max_bytes: max_bytes.max(4096),
            file: None,
            current: None,
            day: 0,
            bytes: 0,
            next_index,
            last_seq,
            files_written: 0,
        })
    }

    /// Sequence number of the last record held.
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// Files created by this log since it was opened.
    pub fn files_written(&self) -> u64 {
        self.files_written
    }

    fn rotate(&mut self, first_seq: u64, day: u64) -> io::Result<()> {
        self.close()?;
        let (y, m, d) = civil_date(day * DAY_NS);
        let path = self.dir.join(format!(
            "audit-{y:04}{m:02}{d:02}-{:06}.log",
            self.next_index
        ));
        // create_new: an audit file is never opened for writing twice.
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)?;
        let mut head = describe(first_seq, day).into_bytes();
        head.resize(head.len().div_ceil(ALIGN) * ALIGN, b'\n');
        // The description goes to disk at once: a file never exists without it for long.
        (&file).write_all(&head)?;
        file.sync_data()?;
        File::open(&self.dir)?.sync_all()?;
        let meta = file.metadata()?;
        self.current = Some((path, meta.dev(), meta.ino()));
        let w = BufWriter::with_capacity(1 << 20, file);
        self.file = Some(w);
        self.day = day;
        self.bytes = head.len() as u64;
        self.next_index += 1;
        self.files_written += 1;
        Ok(())
    }

    /// Appends one journal record.
    pub fn append(&mut self, h: &RecordHeader, payload: &[u8]) -> io::Result<()> {
        let day = h.ts_ns / DAY_NS;
        let stride = h.stride() as u64;
        if self.file.is_none() || day != self.day || self.bytes + stride > self.max_bytes {
            self.rotate(h.seq, day)?;
        }
        let w = self.file.as_mut().expect("rotated");
        w.write_all(bytemuck::bytes_of(h))?;
        w.write_all(payload)?;
        let pad = h.stride() - HEADER - payload.len();
        w.write_all(&[0u8; ALIGN][..pad])?;
        self.bytes += stride;
        self.last_seq = h.seq;
        Ok(())
    }

    /// Writes out buffered records and fsyncs the current file.
    pub fn sync(&mut self) -> io::Result<()> {
        if let Some(w) = self.file.as_mut() {
            w.flush()?;
            w.get_ref().sync_data()?;
        }
        Ok(())
    }

    /// Makes sure the file being written is still the one in the audit directory:
    /// records written into a file that was deleted, renamed away or replaced would
    /// reach no audit log at all, while the sidecar believed them safe.
    pub fn check_in_place(&self) -> io::Result<()> {
        let (Some(w), Some((path, dev, ino))) = (self.file.as_ref(), self.current.as_ref()) else {
            return Ok(());
        };
        let gone = |what: String| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("the audit file {} {what}", path.display()),
            )
        };
        if w.get_ref().metadata()?.nlink() == 0 {
            return Err(gone("was deleted while it was being written".into()));
        }
        match std::fs::metadata(path) {
            Ok(m) if m.dev() == *dev && m.ino() == *ino => Ok(()),
            Ok(_) => Err(gone(
                "was replaced by another file while it was being written".into(),
            )),
            Err(e) => Err(gone(format!("is no longer there ({e})"))),
        }
    }

    fn close(&mut self) -> io::Result<()> {
        self.sync()?;
        self.file = None;
        self.current = None;
        Ok(())
    }
}

impl Drop for AuditLog {
    fn drop(&mut self) {
        let _ = self.close();
    }
}
