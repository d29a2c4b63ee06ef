//! The sidecar (R-AUD-2): a thread that tails the journal by its committed cursor and
//! does the slow work the core must not — copying every record into a durable audit log
//! (checksummed, fsynced by policy, rotated by size and UTC day, never rewritten) and
//! syncing the journal's own segments to disk.

pub mod audit;
pub mod history;
pub mod recon;

pub use audit::{AuditLog, Fsync};

use crate::journal::record::{RecordHeader, HEADER};
use crate::journal::segment::{self, SEGMENT_HEADER};
use memmap2::Mmap;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
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
    /// Write reconciliation reports as files (`recon`), naming what they hold with this
    /// configuration; `None`: no files.
    pub reports: Option<Arc<crate::config::Registry>>,
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
    /// Reconciliation reports written as files.
    pub reports: u64,
}

/// Where the audit log stands, as the core sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditState {
    /// The sidecar is opening the audit log.
    Starting,
    /// The audit log is open and records reach it.
    Working,
    /// The sidecar stopped on an error: records no longer reach the audit log.
    Failed,
}

const STARTING: u8 = 0;
const WORKING: u8 = 1;
const FAILED: u8 = 2;

#[derive(Default)]
struct HealthInner {
    state: AtomicU8,
    // Sequence number of the last record in the audit log, for the lag metrics.
    copied: AtomicU64,
    error: Mutex<Option<String>>,
}

/// The sidecar's health, shared with the core thread, which reads it once per duty
/// cycle (one relaxed load) and stops new orders when it says the audit log failed.
#[derive(Clone, Default)]
pub struct AuditHealth(Arc<HealthInner>);

impl AuditHealth {
    /// The current state.
    #[inline]
    pub fn state(&self) -> AuditState {
        match self.0.state.load(Ordering::Acquire) {
            STARTING => AuditState::Starting,
            WORKING => AuditState::Working,
            _ => AuditState::Failed,
        }
    }

    /// Sequence number of the last record the audit log holds.
    pub fn copied_seq(&self) -> u64 {
        self.0.copied.load(Ordering::Relaxed)
    }

    /// Why it failed, once it has.
    pub fn failure(&self) -> Option<String> {
        self.0.error.lock().ok().and_then(|e| e.clone())
    }

    /// A health that says failed from the start (no sidecar could be started).
    pub fn failed(why: String) -> AuditHealth {
        let h = AuditHealth::default();
        h.fail(why);
        h
    }

    fn fail(&self, why: String) {
        if let Ok(mut e) = self.0.error.lock() {
            e.get_or_insert(why);
        }
        self.0.state.store(FAILED, Ordering::Release);
    }

    fn working(&self) {
        let _ =
            self.0
                .state
                .compare_exchange(STARTING, WORKING, Ordering::AcqRel, Ordering::Acquire);
    }
}

/// Marks the health failed if the sidecar thread ends without saying how (a panic).
struct FailUnlessDisarmed(Option<AuditHealth>);

impl Drop for FailUnlessDisarmed {
    fn drop(&mut self) {
        if let Some(h) = self.0.take() {
            h.fail("the sidecar thread panicked".into());
        }
    }
}

/// The running sidecar.
pub struct Sidecar {
    stop: Arc<AtomicBool>,
    join: Option<JoinHandle<io::Result<SidecarReport>>>,
    health: AuditHealth,
}

impl Sidecar {
    /// Starts tailing `cfg.journal`. The audit log resumes after the last record it holds.
    pub fn spawn(cfg: SidecarConfig) -> io::Result<Sidecar> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let health = AuditHealth::default();
        let h = health.clone();
        let join = std::thread::Builder::new()
            .name("execd-sidecar".into())
            .spawn(move || {
                let mut guard = FailUnlessDisarmed(Some(h.clone()));
                let r = run(cfg, flag, &h);
                if let Err(e) = &r {
                    h.fail(e.to_string());
                }
                guard.0 = None;
                r
            })?;
        Ok(Sidecar {
            stop,
            join: Some(join),
            health,
        })
    }

    /// Its health, for the core thread.
    pub fn health(&self) -> AuditHealth {
        self.health.clone()
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
        let file = match segment::open_regular(&path) {
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

/// How often the sidecar makes sure the audit file it writes is still the one in the
/// audit directory (not deleted, renamed away or replaced).
const CHECK_EVERY: Duration = Duration::from_millis(100);

fn run(
    cfg: SidecarConfig,
    stop: Arc<AtomicBool>,
    health: &AuditHealth,
) -> io::Result<SidecarReport> {
    let mut log = AuditLog::open(&cfg.audit, cfg.fsync, cfg.max_file_bytes)?;
    let mut report = SidecarReport {
        last_seq: log.last_seq(),
        ..Default::default()
    };
    // Older segments may have been retired: the tail starts at the oldest one there is
    // (records the audit log holds already are skipped by sequence number).
    let first = segment::list(&cfg.journal)?
        .first()
        .map(|s| s.0)
        .unwrap_or(0);
    let mut tail = Tail {
        index: first,
        map: None,
        pos: SEGMENT_HEADER,
    };
    health.0.copied.store(report.last_seq, Ordering::Relaxed);
    health.working();
    let mut files = cfg
        .reports
        .clone()
        .map(|reg| recon::ReportFiles::new(&cfg.journal, reg));
    let mut file_errors = 0u64;
    let mut idle = Duration::from_micros(50);
    let mut last_sync = Instant::now();
    let mut last_check = Instant::now();
    let mut dirty = false;
    loop {
        let stopping = stop.load(Ordering::Acquire);
        let mut copied = 0u64;
        if last_check.elapsed() >= CHECK_EVERY {
            log.check_in_place()?;
            last_check = Instant::now();
        }
        if tail.open(&cfg.journal)? {
            let (map, file) = tail.map.as_ref().expect("opened");
            let bad = |what: &str| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("journal segment {}: {what}", tail.index),
                )
            };
            let end = segment::cursor(map).map_err(bad)?.end.min(map.len());
            let began = Instant::now();
            while tail.pos + HEADER <= end {
                let h: RecordHeader =
                    bytemuck::pod_read_unaligned(&map[tail.pos..tail.pos + HEADER]);
                let next = tail.pos + h.stride();
                if next > end {
                    break;
                }
                // Report files are made from every record read, copied now or before a
                // restart: a file already there is left as it is. One that cannot be
                // written is said (the audit log still holds the report's records).
                if let Some(f) = files.as_mut() {
                    let payload = &map[tail.pos + HEADER..tail.pos + HEADER + h.len as usize];
                    if let Err(e) = f.record(&h, payload) {
                        file_errors += 1;
                        if file_errors <= 10 {
                            eprintln!(
                                "execd: sidecar: reconciliation report of record {} not written: {e}",
                                h.seq
                            );
                        }
                    }
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
            health.0.copied.store(report.last_seq, Ordering::Relaxed);
            // Sealed is set after the writer's last record here was published (in the same
            // word in format 2): if it is set, the end read with it is final.
            let cur = segment::cursor(map).map_err(bad)?;
            if cur.sealed && tail.pos >= cur.end {
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
    report.reports = files.map_or(0, |f| f.written);
    Ok(report)
}
