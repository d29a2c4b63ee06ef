//! The audit log: the journal's records copied into plain append-only files that say
//! what they are, each record still carrying its CRC32C. A file is created new, appended
//! to, synced, and never opened for writing again; a new one starts past a size limit,
//! at each UTC day, and at each start of the sidecar.

use crate::calendar::civil_date;
use crate::journal::record::{RecordHeader, ALIGN, HEADER};
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
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
         # 3 time reached, 4 configuration (TOML). Read with execd-replay.\n\n"
    )
}

/// Audit files in `dir`, oldest first.
pub fn files(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut out: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(d) => d
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("audit-") && n.ends_with(".log"))
            })
            .collect(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e),
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

/// Reads every complete, CRC-checked record of the audit log in `dir`, in order. A
/// partial record at the end of a file (a crash while copying) ends that file; a bad CRC
/// anywhere is an error naming the file and byte.
pub fn scan(dir: &Path, f: impl FnMut(&RecordHeader, &[u8])) -> io::Result<u64> {
    scan_files(&files(dir)?, f)
}

/// Sequence number of the last complete record in the audit log (0 if none). Reads
/// only the newest files, not the whole log.
pub fn last_seq(dir: &Path) -> io::Result<u64> {
    let all = files(dir)?;
    for k in (0..all.len()).rev() {
        let last = scan_files(&all[k..k + 1], |_, _| {})?;
        if last > 0 {
            return Ok(last);
        }
    }
    Ok(0)
}

fn scan_files(paths: &[PathBuf], mut f: impl FnMut(&RecordHeader, &[u8])) -> io::Result<u64> {
    let mut last = 0;
    for path in paths {
        let mut bytes = Vec::new();
        File::open(path)?.read_to_end(&mut bytes)?;
        let bad = |at: usize, what: &str| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: byte {at}: {what}", path.display()),
            )
        };
        let end_of_description = bytes.windows(2).position(|w| w == b"\n\n").map(|p| p + 2);
        let magic = MAGIC_LINE.as_bytes();
        let start = match end_of_description {
            Some(start) if bytes.starts_with(magic) => start,
            // Cut off while its description was being written (a crash as the file was
            // made): it holds no records.
            None if magic.starts_with(&bytes[..bytes.len().min(magic.len())]) => continue,
            _ => return Err(bad(0, "not an execd audit file")),
        };
        let mut pos = start.div_ceil(ALIGN) * ALIGN;
        while pos + HEADER <= bytes.len() {
            let h: RecordHeader = bytemuck::pod_read_unaligned(&bytes[pos..pos + HEADER]);
            let next = pos + h.stride();
            if next > bytes.len() {
                break; // torn by a crash: the journal still has it, the next file gets it
            }
            let payload = &bytes[pos + HEADER..pos + HEADER + h.len as usize];
            if h.compute_crc(payload) != h.crc {
                return Err(bad(pos, "CRC mismatch"));
            }
            f(&h, payload);
            last = h.seq;
            pos = next;
        }
    }
    Ok(last)
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

    fn close(&mut self) -> io::Result<()> {
        self.sync()?;
        self.file = None;
        Ok(())
    }
}

impl Drop for AuditLog {
    fn drop(&mut self) {
        let _ = self.close();
    }
}
