//! The sidecar (R-AUD-2): a thread that tails the journal by its committed cursor and
//! does the slow work the core must not — copying every record into a durable audit log
//! (checksummed, fsynced by policy, rotated by size and UTC day, never rewritten) and
//! syncing the journal's own segments to disk.

pub mod audit;

pub use audit::{AuditLog, Fsync};

use crate::journal::record::{RecordHeader, HEADER};
use crate::journal::segment::{self, SEGMENT_HEADER};
use memmap2::Mmap;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Sidecar settings.
#[derive(Clone, Debug)]
pub struct SidecarConfig {
    /// The journal to tail.
    pub journal: PathBuf,
    /// Where the audit log goes.
    pub audit: PathBuf,
    /// When to fsync.
    pub fsync: Fsync,
    /// Start a new audit file past this size.
    pub max_file_bytes: u64,
    /// Keep at most this many journal segment files (None = all).
    pub retain_segments: Option<u64>,
}

/// What the sidecar did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SidecarReport {
    /// Records copied into the audit log.
    pub records: u64,
    /// Sequence number of the last one.
    pub last_seq: u64,
    /// Audit files written.
    pub files: u64,
    /// Times the journal and the audit log were synced to disk.
    pub syncs: u64,
    /// Time spent copying records (syncs and idle waits excluded).
    pub copy_time: Duration,
    /// Journal segment files deleted after their records reached the audit log.
    pub retired: u64,
}

/// The running sidecar.
pub struct Sidecar {
    stop: Arc<AtomicBool>,
    join: Option<JoinHandle<io::Result<SidecarReport>>>,
}

impl Sidecar {
    /// Starts tailing `cfg.journal`. The audit log resumes after the last record it holds.
    pub fn spawn(cfg: SidecarConfig) -> io::Result<Sidecar> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let join = std::thread::Builder::new()
            .name("execd-sidecar".into())
            .spawn(move || run(cfg, flag))?;
        Ok(Sidecar {
            stop,
            join: Some(join),
        })
    }

    /// Drains what the journal holds, syncs everything and stops.
    pub fn stop(mut self) -> io::Result<SidecarReport> {
        self.stop.store(true, Ordering::Release);
        match self.join.take().map(|j| j.join()) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(io::Error::other("the sidecar thread panicked")),
            None => Ok(SidecarReport::default()),
        }
    }
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(j) = self.join.take() {
            let _ = j.join();
        }
    }
}

/// Where the tail is: a mapped segment and the offset of the next record to copy.
struct Tail {
    index: u64,
    map: Option<(Mmap, File)>,
    pos: usize,
}

impl Tail {
    fn open(&mut self, dir: &Path) -> io::Result<bool> {
        if self.map.is_some() {
            return Ok(true);
        }
        let path = dir.join(segment::file_name(self.index));
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e),
        };
        // SAFETY: read-only; only bytes below the acquired `committed` are read.
        let map = unsafe { Mmap::map(&file)? };
        if map.len() < SEGMENT_HEADER {
            return Ok(false);
        }
        self.map = Some((map, file));
        Ok(true)
    }
}

/// Deletes segment files up to `done` (fully copied) beyond the newest `keep`, oldest
/// first, syncing the directory after each so a crash leaves a contiguous journal.
fn retire(dir: &Path, done: u64, keep: u64) -> io::Result<u64> {
    let live = done + 1;
    let mut n = 0;
    for (index, path) in segment::list(dir)? {
        if index > done || index + keep > live {
            break;
        }
        std::fs::remove_file(&path)?;
        File::open(dir)?.sync_all()?;
        n += 1;
    }
    Ok(n)
}

fn run(cfg: SidecarConfig, stop: Arc<AtomicBool>) -> io::Result<SidecarReport> {
    let mut log = AuditLog::open(&cfg.audit, cfg.fsync, cfg.max_file_bytes)?;
    let mut report = SidecarReport {
        last_seq: log.last_seq(),
        ..Default::default()
    };
    let mut tail = Tail {
        index: 0,
        map: None,
        pos: SEGMENT_HEADER,
    };
    let mut idle = Duration::from_micros(50);
    let mut last_sync = Instant::now();
    let mut dirty = false;
    loop {
        let stopping = stop.load(Ordering::Acquire);
        let mut copied = 0u64;
        if tail.open(&cfg.journal)? {
            let (map, file) = tail.map.as_ref().expect("opened");
            let end = segment::committed(map).load(Ordering::Acquire) as usize;
            let began = Instant::now();
            while tail.pos + HEADER <= end {
                let h: RecordHeader =
                    bytemuck::pod_read_unaligned(&map[tail.pos..tail.pos + HEADER]);
                let next = tail.pos + h.stride();
                if next > end {
                    break;
                }
                // Records already in the audit log (a restart) are skipped, not copied twice.
                if h.seq > report.last_seq {
                    log.append(
                        &h,
                        &map[tail.pos + HEADER..tail.pos + HEADER + h.len as usize],
                    )?;
                    report.last_seq = h.seq;
                    report.records += 1;
                    copied += 1;
                }
                tail.pos = next;
            }
            report.copy_time += began.elapsed();
            // Sealed is set after the writer's last record here was published: if it is
            // set, `committed` read after it is final.
            let sealed = segment::sealed(map).load(Ordering::Acquire) == 1;
            if sealed && tail.pos >= segment::committed(map).load(Ordering::Acquire) as usize {
                // Everything of this segment is copied: make it durable and move on.
                file.sync_data()?;
                let done = tail.index;
                tail.index += 1;
                tail.map = None;
                tail.pos = SEGMENT_HEADER;
                if let Some(keep) = cfg.retain_segments {
                    // Only what the audit log holds on disk may leave the journal.
                    log.sync()?;
                    report.retired += retire(&cfg.journal, done, keep)?;
                }
                continue;
            }
            dirty |= copied > 0;
            let due = dirty
                && match cfg.fsync {
                    Fsync::EveryRecord => true,
                    Fsync::EveryMs(ms) => last_sync.elapsed() >= Duration::from_millis(ms),
                    Fsync::OnRotation => false,
                };
            if due || (stopping && copied == 0) {
                file.sync_data()?;
                log.sync()?;
                report.syncs += 1;
                last_sync = Instant::now();
                dirty = false;
            }
        }
        if stopping && copied == 0 {
            break;
        }
        if copied == 0 {
            std::thread::sleep(idle);
            idle = (idle * 2).min(Duration::from_millis(2));
        } else {
            idle = Duration::from_micros(50);
        }
    }
    report.files = log.files_written();
    Ok(report)
}
