//! Segment files: fixed size, preallocated, memory-mapped, with a 64-byte header whose
//! `committed` field is the publication point between the writer and every reader.

use bytemuck::{Pod, Zeroable};
use memmap2::{MmapMut, MmapOptions};
use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// First bytes of every segment.
pub const MAGIC: [u8; 8] = *b"EXECDJ01";
/// Layout version of segments and record headers.
pub const FORMAT: u32 = 1;
/// Size of [`SegmentHeader`]; records start here.
pub const SEGMENT_HEADER: usize = 64;
/// Byte offset of `committed` in the header.
const COMMITTED_AT: usize = 32;
/// Byte offset of `sealed` in the header.
const SEALED_AT: usize = 40;

/// The header at the start of each segment.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct SegmentHeader {
    /// [`MAGIC`].
    pub magic: [u8; 8],
    /// [`FORMAT`].
    pub format: u32,
    /// Zero.
    pub reserved0: u32,
    /// Position of this segment in the journal, from 0.
    pub index: u64,
    /// Sequence number of its first record.
    pub first_seq: u64,
    /// End of the last complete record (bytes from the segment start).
    pub committed: u64,
    /// 1 once the writer has moved on to the next segment.
    pub sealed: u64,
    /// Zero.
    pub reserved: [u64; 2],
}

/// The file name of segment `index`.
pub fn file_name(index: u64) -> String {
    format!("{index:016}.journal")
}

/// Segment files in `dir`, by index.
pub fn list(dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        let Some(name) = p.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if let Some(i) = name
            .strip_suffix(".journal")
            .and_then(|s| s.parse::<u64>().ok())
        {
            out.push((i, p));
        }
    }
    out.sort();
    Ok(out)
}

/// The committed cursor inside a mapped segment.
pub fn committed(map: &[u8]) -> &AtomicU64 {
    assert!(map.len() >= SEGMENT_HEADER);
    // SAFETY: the mapping is page-aligned and at least a header long, so the 8 bytes at
    // offset 32 are in bounds and 8-byte aligned; AtomicU64 has the layout of u64 and every
    // access to this field, by any process, goes through atomics.
    unsafe { &*(map.as_ptr().add(COMMITTED_AT) as *const AtomicU64) }
}

/// A segment made ready ahead of time under a temporary name: blocks reserved, every
/// page mapped and already written once (zeros), so appends into it never fault.
pub struct Prepared {
    tmp: PathBuf,
    // The name it takes when installed, made here so installing does not allocate.
    path: PathBuf,
    index: u64,
    /// The mapping.
    pub map: MmapMut,
}

/// Prepares segment `index` of `size` bytes (slow: reserves disk blocks, which makes a
/// full disk fail here rather than as SIGBUS on a later write, and touches every page).
pub fn prepare(dir: &Path, index: u64, size: usize) -> io::Result<Prepared> {
    let path = dir.join(file_name(index));
    let tmp = dir.join(format!("{}.tmp", file_name(index)));
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)?;
    reserve(&file, size)?;
    let mut map = map_file(&file, size)?;
    // Make every page present and writable now: a first write to a clean shared page
    // costs a fault that would otherwise land on the hot path, microseconds a page.
    // MADV_POPULATE_WRITE does it in one call; older kernels get a write per page.
    if map.advise(memmap2::Advice::PopulateWrite).is_err() {
        for page in (0..size).step_by(4096) {
            map[page] = 0;
        }
    }
    Ok(Prepared {
        tmp,
        path,
        index,
        map,
    })
}

/// Writes the header of a prepared segment and gives it its real name. Cheap: one
/// rename, no allocation. (The directory is fsynced by the sidecar, not here.)
pub fn install(mut p: Prepared, first_seq: u64) -> io::Result<MmapMut> {
    let header = SegmentHeader {
        magic: MAGIC,
        format: FORMAT,
        index: p.index,
        first_seq,
        committed: SEGMENT_HEADER as u64,
        ..Default::default()
    };
    p.map[..SEGMENT_HEADER].copy_from_slice(bytemuck::bytes_of(&header));
    if p.path.exists() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{} exists", p.path.display()),
        ));
    }
    std::fs::rename(&p.tmp, &p.path)?;
    Ok(p.map)
}

/// Creates segment `index` at once (prepare + install, then fsync the directory).
pub fn create(dir: &Path, index: u64, first_seq: u64, size: usize) -> io::Result<MmapMut> {
    let map = install(prepare(dir, index, size)?, first_seq)?;
    File::open(dir)?.sync_all()?;
    Ok(map)
}

/// Removes segments prepared but never installed (a crash before they were needed).
pub fn remove_stale(dir: &Path) -> io::Result<()> {
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        if p.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.ends_with(".journal.tmp"))
        {
            std::fs::remove_file(&p)?;
        }
    }
    Ok(())
}

/// Maps an existing segment for writing.
pub fn open_mut(path: &Path) -> io::Result<MmapMut> {
    let file = OpenOptions::new().read(true).write(true).open(path)?;
    let size = file.metadata()?.len() as usize;
    map_file(&file, size)
}

fn map_file(file: &File, size: usize) -> io::Result<MmapMut> {
    // SAFETY: execd's writer is the only one writing this file; other processes only read
    // it, through `committed`, which is published after the bytes it covers.
    unsafe { MmapOptions::new().len(size).populate().map_mut(file) }
}

fn reserve(file: &File, size: usize) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: plain syscall on an open descriptor.
    let rc = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, size as libc::off_t) };
    match rc {
        0 => Ok(()),
        // Filesystems without fallocate (some tmpfs, network FS): fall back to a sparse file.
        libc::EOPNOTSUPP | libc::EINVAL => file.set_len(size as u64),
        e => Err(io::Error::from_raw_os_error(e)),
    }
}

/// The sealed flag inside a mapped segment: set (release) once the writer has moved to
/// the next segment, after its last record here was published.
pub fn sealed(map: &[u8]) -> &AtomicU64 {
    assert!(map.len() >= SEGMENT_HEADER);
    // SAFETY: as for `committed`: in bounds, 8-byte aligned, only accessed atomically.
    unsafe { &*(map.as_ptr().add(SEALED_AT) as *const AtomicU64) }
}

/// Reads a segment header.
pub fn header(map: &[u8]) -> SegmentHeader {
    let mut h: SegmentHeader = bytemuck::pod_read_unaligned(&map[..SEGMENT_HEADER]);
    h.committed = committed(map).load(Ordering::Acquire);
    h
}
