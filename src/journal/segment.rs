//! Segment files: fixed size, preallocated, memory-mapped, with a 64-byte header whose
//! cursor word is the publication point between the writer and every reader.
//!
//! Format 2 (written since the cursor became checksummed) packs what decides what is
//! committed — the committed end and the sealed flag — into one 64-bit word together with
//! a CRC32C of them and of the fields that never change (magic, format, index, first
//! sequence number). One atomic store publishes all of it, so a reader never sees the end
//! and its check from different moments, and an edited end (a "rolled back" journal) no
//! longer passes for a torn record. Format 1 segments (a plain `committed` and `sealed`)
//! are still read; the writer converts the one it continues.

use bytemuck::{Pod, Zeroable};
use memmap2::{MmapMut, MmapOptions};
use std::fs::{File, FileType, OpenOptions};
use std::io;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// First bytes of every segment.
pub const MAGIC: [u8; 8] = *b"EXECDJ01";
/// Layout version written now: the cursor word carries a CRC32C.
pub const FORMAT: u32 = 2;
/// The first layout: `committed` and `sealed` as plain words, covered by no checksum.
pub const FORMAT_V1: u32 = 1;
/// Size of [`SegmentHeader`]; records start here.
pub const SEGMENT_HEADER: usize = 64;
/// Largest segment: the committed end must fit the cursor word's 31 bits.
pub const MAX_SEGMENT_SIZE: usize = 1 << 30;
/// Byte offset of the cursor word (format 1: `committed`) in the header.
const CURSOR_AT: usize = 32;
/// Byte offset of format 1's `sealed` in the header.
const SEALED_V1_AT: usize = 40;
/// Byte offset of the CRC32C of the header's first 32 bytes (format 2).
const BASE_CRC_AT: usize = 48;
/// The sealed flag in the cursor word's low half.
const SEALED_BIT: u32 = 1 << 31;

/// The header at the start of each segment.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct SegmentHeader {
    /// [`MAGIC`].
    pub magic: [u8; 8],
    /// [`FORMAT`] or [`FORMAT_V1`].
    pub format: u32,
    /// Zero.
    pub reserved0: u32,
    /// Position of this segment in the journal, from 0.
    pub index: u64,
    /// Sequence number of its first record.
    pub first_seq: u64,
    /// Format 2: the cursor word (committed end, sealed bit, CRC32C in the high half).
    /// Format 1: the committed end.
    pub cursor: u64,
    /// Format 1: 1 once the writer moved on. Format 2: zero (the flag is in `cursor`).
    pub sealed_v1: u64,
    /// Format 2: CRC32C of the first 32 bytes (magic, format, index, first_seq).
    pub base_crc: u32,
    /// Zero.
    pub reserved1: u32,
    /// Zero.
    pub reserved2: u64,
}

/// Where a segment's committed data ends, and whether the writer has left it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cursor {
    /// End of the last complete record (bytes from the segment start).
    pub end: usize,
    /// The writer has moved on to the next segment: nothing more is appended here.
    pub sealed: bool,
}

/// The file name of segment `index`.
pub fn file_name(index: u64) -> String {
    format!("{index:016}.journal")
}

/// What kind of special file `t` is, if it is one: a journal or audit directory holds
/// regular files and directories only, and opening a FIFO or a device would block or
/// worse, so such an entry is refused by name instead.
pub fn special_kind(t: &FileType) -> Option<&'static str> {
    if t.is_fifo() {
        Some("a FIFO")
    } else if t.is_socket() {
        Some("a socket")
    } else if t.is_char_device() {
        Some("a character device")
    } else if t.is_block_device() {
        Some("a block device")
    } else {
        None
    }
}

/// The error for a special file where a journal or audit file belongs.
pub fn special_error(path: &Path, kind: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "{} is {kind}, not a regular file: journal and audit directories hold only their own files, so it is refused (never opened)",
            path.display()
        ),
    )
}

/// Refuses special files among the entries of `dir` (following symbolic links); the
/// entries that are regular files, with their paths. A missing `dir` is an error.
pub fn regular_entries(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let p = e.path();
        let mut t = e.file_type()?;
        if t.is_symlink() {
            match std::fs::metadata(&p) {
                Ok(m) => t = m.file_type(),
                // A dangling link is nothing to open; a segment or audit name that
                // dangles is found missing where it is needed.
                Err(_) => continue,
            }
        }
        if let Some(kind) = special_kind(&t) {
            return Err(special_error(&p, kind));
        }
        if t.is_file() {
            out.push(p);
        }
    }
    Ok(out)
}

/// Opens `path` for reading without ever blocking on it: a FIFO or device slipped in
/// after the directory was listed is refused, not waited on.
pub fn open_regular(path: &Path) -> io::Result<File> {
    let f = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?;
    check_regular(path, &f)?;
    Ok(f)
}

fn check_regular(path: &Path, f: &File) -> io::Result<()> {
    let t = f.metadata()?.file_type();
    match special_kind(&t) {
        Some(kind) => Err(special_error(path, kind)),
        None if !t.is_file() => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is not a regular file", path.display()),
        )),
        None => Ok(()),
    }
}

/// Segment files in `dir`, by index. Special files in the directory are refused.
pub fn list(dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    for p in regular_entries(dir)? {
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

fn word(map: &[u8], at: usize) -> &AtomicU64 {
    assert!(map.len() >= SEGMENT_HEADER && at + 8 <= SEGMENT_HEADER && at % 8 == 0);
    // SAFETY: the mapping is page-aligned and at least a header long, so the 8 bytes at
    // `at` (a multiple of 8 inside the header) are in bounds and 8-byte aligned; AtomicU64
    // has the layout of u64 and every access to these fields, by any process, goes
    // through atomics.
    unsafe { &*(map.as_ptr().add(at) as *const AtomicU64) }
}

/// CRC32C of the header's fixed part (magic, format, index, first sequence number).
pub fn base_crc(map: &[u8]) -> u32 {
    crc32c::crc32c(&map[..32])
}

/// The check of a cursor word's low half: CRC32C continued from the fixed part's, over
/// the four bytes. One hardware instruction where the CPU has one (it runs on every
/// append); the same value as `crc32c_append(base, &low.to_le_bytes())` everywhere.
#[inline]
pub fn cursor_check(base: u32, low: u32) -> u32 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("sse4.2") {
            // SAFETY: the CPU has SSE 4.2, checked just above.
            return unsafe { crc_u32_sse42(base, low) };
        }
    }
    crc32c::crc32c_append(base, &low.to_le_bytes())
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse4.2")]
unsafe fn crc_u32_sse42(base: u32, low: u32) -> u32 {
    !std::arch::x86_64::_mm_crc32_u32(!base, low)
}

/// The cursor word for `end` and `sealed` under a header whose fixed part has `base`.
#[inline]
pub fn cursor_word(base: u32, end: usize, sealed: bool) -> u64 {
    let low = end as u32 | if sealed { SEALED_BIT } else { 0 };
    (u64::from(cursor_check(base, low)) << 32) | u64::from(low)
}

/// Publishes a new committed end (release: everything written before it is visible to
/// whoever acquires it). Format 2 segments only; the writer converts a format 1 segment
/// before continuing it.
#[inline]
pub fn publish(map: &[u8], base: u32, end: usize, sealed: bool) {
    word(map, CURSOR_AT).store(cursor_word(base, end, sealed), Ordering::Release);
}

/// Reads a segment's cursor (acquire), checking it where the format carries a check.
pub fn cursor(map: &[u8]) -> Result<Cursor, &'static str> {
    let format = u32::from_le_bytes([map[8], map[9], map[10], map[11]]);
    let w = word(map, CURSOR_AT).load(Ordering::Acquire);
    match format {
        FORMAT_V1 => Ok(Cursor {
            end: usize::try_from(w).unwrap_or(usize::MAX),
            sealed: word(map, SEALED_V1_AT).load(Ordering::Acquire) == 1,
        }),
        FORMAT => {
            let stored = u32::from_le_bytes(
                map[BASE_CRC_AT..BASE_CRC_AT + 4]
                    .try_into()
                    .expect("four bytes"),
            );
            let base = base_crc(map);
            let low = w as u32;
            if stored != base || (w >> 32) as u32 != cursor_check(base, low) {
                return Err(
                    "the header's committed end or sealed flag does not match its checksum (the header was altered)",
                );
            }
            Ok(Cursor {
                end: (low & !SEALED_BIT) as usize,
                sealed: low & SEALED_BIT != 0,
            })
        }
        _ => Err("not an execd journal segment of a known format"),
    }
}

/// Sets a segment's cursor by hand, keeping its format (recovery accepted by an
/// operator only; the writer publishes through [`publish`]).
pub fn rewrite_cursor(map: &mut [u8], end: usize, sealed: bool) {
    let h = header(map);
    if h.format == FORMAT_V1 {
        word(map, CURSOR_AT).store(end as u64, Ordering::Release);
        word(map, SEALED_V1_AT).store(u64::from(sealed), Ordering::Release);
    } else {
        write_header(map, h.index, h.first_seq, end, sealed);
    }
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
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(&tmp)?;
    check_regular(&tmp, &file)?;
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

/// Writes a format 2 header: fixed part, its CRC, and the cursor at `end` / `sealed`.
pub fn write_header(map: &mut [u8], index: u64, first_seq: u64, end: usize, sealed: bool) -> u32 {
    let mut header = SegmentHeader {
        magic: MAGIC,
        format: FORMAT,
        index,
        first_seq,
        ..Default::default()
    };
    let base = crc32c::crc32c(&bytemuck::bytes_of(&header)[..32]);
    header.base_crc = base;
    header.cursor = cursor_word(base, end, sealed);
    map[..SEGMENT_HEADER].copy_from_slice(bytemuck::bytes_of(&header));
    base
}

/// Writes the header of a prepared segment and gives it its real name. Cheap: one
/// rename, no allocation. (The directory is fsynced by the sidecar, not here.) Returns
/// the mapping and the CRC of its header's fixed part, which every publish needs.
pub fn install(mut p: Prepared, first_seq: u64) -> io::Result<(MmapMut, u32)> {
    let base = write_header(&mut p.map, p.index, first_seq, SEGMENT_HEADER, false);
    if p.path.exists() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{} exists", p.path.display()),
        ));
    }
    std::fs::rename(&p.tmp, &p.path)?;
    Ok((p.map, base))
}

/// Creates segment `index` at once (prepare + install, then fsync the directory).
pub fn create(dir: &Path, index: u64, first_seq: u64, size: usize) -> io::Result<(MmapMut, u32)> {
    let made = install(prepare(dir, index, size)?, first_seq)?;
    File::open(dir)?.sync_all()?;
    Ok(made)
}

/// Removes segments prepared but never installed (a crash before they were needed).
pub fn remove_stale(dir: &Path) -> io::Result<()> {
    for p in regular_entries(dir)? {
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
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?;
    check_regular(path, &file)?;
    let size = file.metadata()?.len() as usize;
    map_file(&file, size)
}

fn map_file(file: &File, size: usize) -> io::Result<MmapMut> {
    // SAFETY: execd's writer is the only one writing this file; other processes only read
    // it, through the cursor, which is published after the bytes it covers.
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

/// Reads a segment header as stored (the cursor word as it is, unchecked).
pub fn header(map: &[u8]) -> SegmentHeader {
    let mut h: SegmentHeader = bytemuck::pod_read_unaligned(&map[..SEGMENT_HEADER]);
    h.cursor = word(map, CURSOR_AT).load(Ordering::Acquire);
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cursor_check_is_crc32c_however_it_is_computed() {
        let mut rng = fastrand::Rng::with_seed(3);
        for _ in 0..10_000 {
            let (base, low) = (rng.u32(..), rng.u32(..));
            assert_eq!(
                cursor_check(base, low),
                crc32c::crc32c_append(base, &low.to_le_bytes())
            );
        }
    }

    #[test]
    fn an_edited_cursor_fails_its_check() {
        let mut map = vec![0u64; 8];
        let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut map);
        let base = write_header(bytes, 3, 1000, 4096, false);
        assert_eq!(
            cursor(bytes),
            Ok(Cursor {
                end: 4096,
                sealed: false
            })
        );
        publish(bytes, base, 8192, true);
        assert_eq!(
            cursor(bytes),
            Ok(Cursor {
                end: 8192,
                sealed: true
            })
        );
        // Lower the end by hand, as an attacker with a hex editor would.
        bytes[CURSOR_AT + 1] = 0x08;
        assert!(cursor(bytes).is_err());
        // Or keep the cursor and change the segment's first sequence number.
        publish(bytes, base, 8192, true);
        bytes[24] ^= 1;
        assert!(cursor(bytes).is_err());
    }
}
