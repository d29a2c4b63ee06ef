//! The record format: a fixed 32-byte header and a payload, 8-byte aligned, CRC32C over
//! both. The header is a `Pod` struct, read and written without copying field by field.

use bytemuck::{Pod, Zeroable};

/// Size of [`RecordHeader`] in bytes.
pub const HEADER: usize = 32;
/// Records start on multiples of this.
pub const ALIGN: usize = 8;

/// The fixed part of every record.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct RecordHeader {
    /// Payload length in bytes (padding not included).
    pub len: u32,
    /// What the payload is.
    pub kind: u16,
    /// Version of that kind's layout.
    pub version: u16,
    /// Journal-wide sequence number, from 1, without gaps.
    pub seq: u64,
    /// When it happened, Unix ns (engine time).
    pub ts_ns: u64,
    /// CRC32C of the header (with this field zero) and the payload.
    pub crc: u32,
    /// Zero.
    pub reserved: u32,
}

impl RecordHeader {
    /// Bytes the record takes, header and padded payload.
    pub fn stride(&self) -> usize {
        stride(self.len as usize)
    }

    /// The CRC this header and payload should carry.
    pub fn compute_crc(&self, payload: &[u8]) -> u32 {
        let mut h = *self;
        h.crc = 0;
        let c = crc32c::crc32c(bytemuck::bytes_of(&h));
        crc32c::crc32c_append(c, payload)
    }
}

/// Bytes a record with a `len`-byte payload takes.
pub fn stride(len: usize) -> usize {
    HEADER + len.div_ceil(ALIGN) * ALIGN
}

/// A record read back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    /// Its header.
    pub header: RecordHeader,
    /// Its payload.
    pub payload: &'a [u8],
    /// Segment it is in.
    pub segment: u64,
    /// Byte offset in that segment.
    pub offset: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_32_bytes_and_crc_covers_everything() {
        assert_eq!(std::mem::size_of::<RecordHeader>(), HEADER);
        let h = RecordHeader {
            len: 3,
            kind: 7,
            version: 1,
            seq: 9,
            ts_ns: 11,
            crc: 0,
            reserved: 0,
        };
        let c = h.compute_crc(b"abc");
        assert_ne!(c, h.compute_crc(b"abd"));
        assert_ne!(c, RecordHeader { seq: 10, ..h }.compute_crc(b"abc"));
        assert_eq!(c, RecordHeader { crc: 12345, ..h }.compute_crc(b"abc"));
        assert_eq!(stride(0), 32);
        assert_eq!(stride(1), 40);
        assert_eq!(stride(8), 40);
    }
}
