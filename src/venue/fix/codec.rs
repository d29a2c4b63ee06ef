//! FIX tag=value codec for the hot path: a zero-copy, allocation-free scanner and an
//! encoder into a preallocated buffer with an exact BodyLength (DESIGN.md, "FIX").
//!
//! fefix (a dev-dependency here) is the reference decoder the tests compare against.

use crate::model::fixed::Dec;

/// The field delimiter.
pub const SOH: u8 = 0x01;

/// Most fields one decoded message may hold; more is a decode error, never a panic.
pub const MAX_FIELDS: usize = 512;

/// Why the bytes at the start of a buffer are not (yet) a whole frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// More bytes are needed; nothing is wrong so far.
    Incomplete,
    /// The bytes cannot be a valid frame: drop `skip` bytes (≥ 1) and look again.
    /// FIX says garbled messages are ignored (no reject, no sequence number consumed).
    Garbled {
        /// Bytes to discard before scanning again.
        skip: usize,
        /// What was wrong.
        why: Garble,
    },
}

/// What made a frame garbled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Garble {
    /// The buffer does not start with `8=`.
    NoBeginString,
    /// `9=` missing, not a number, or not the second field.
    BadBodyLength,
    /// The byte at the end of BodyLength is not the start of `10=`.
    NoCheckSum,
    /// `10=` is not three digits and SOH, or does not match the sum of the bytes.
    BadCheckSum,
}

/// Finds the first whole frame at the start of `buf` and returns its length in bytes
/// (from `8=` through the SOH after `10=nnn`). Checks BodyLength and CheckSum.
pub fn frame(buf: &[u8]) -> Result<usize, FrameError> {
    let _ = buf;
    unimplemented!("codec: frame")
}

/// One field of a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field<'a> {
    /// Tag number.
    pub tag: u32,
    /// Value bytes, without the SOH.
    pub value: &'a [u8],
}

/// Why a frame's body could not be scanned into fields; carries what a session
/// reject (35=3, SessionRejectReason 373) needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// A tag that is not a positive decimal number (373=5 is "value incorrect"; FIX uses
    /// 373=0 "invalid tag number" for this).
    InvalidTag {
        /// Byte offset of the bad tag in the frame.
        at: usize,
    },
    /// `tag=` followed directly by SOH (373=4 "tag specified without a value").
    EmptyValue {
        /// The tag.
        tag: u32,
    },
    /// A field without `=` or without its SOH.
    Malformed {
        /// Byte offset in the frame.
        at: usize,
    },
    /// More than [`MAX_FIELDS`] fields.
    TooManyFields,
    /// Header fields 8, 9, 35 not first in that order, or 10 not last (373=14
    /// "tag specified out of required order").
    OutOfOrder {
        /// The tag found where another was required.
        tag: u32,
    },
}

/// A decoded message: the frame and the position of each of its fields, in order.
/// Borrowed from a [`Decoder`], which keeps the field table between messages.
#[derive(Clone, Copy, Debug)]
pub struct Msg<'a> {
    raw: &'a [u8],
    slots: &'a [Slot],
}

/// Where one field sits in a frame.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Slot {
    /// Tag number.
    pub tag: u32,
    /// Offset of the value's first byte.
    pub start: u32,
    /// Offset one past the value's last byte.
    pub end: u32,
}

impl<'a> Msg<'a> {
    /// The whole frame.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }
    /// Fields in wire order, header and trailer included.
    pub fn fields(&self) -> impl Iterator<Item = Field<'a>> + 'a {
        let raw = self.raw;
        self.slots.iter().map(move |s| Field {
            tag: s.tag,
            value: &raw[s.start as usize..s.end as usize],
        })
    }
    /// Number of fields.
    pub fn len(&self) -> usize {
        self.slots.len()
    }
    /// Whether there are no fields (never true for a decoded frame).
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }
    /// The `i`-th field in wire order.
    pub fn field(&self, i: usize) -> Option<Field<'a>> {
        self.slots.get(i).map(|s| Field {
            tag: s.tag,
            value: &self.raw[s.start as usize..s.end as usize],
        })
    }
    /// The value of the first occurrence of `tag`.
    pub fn get(&self, tag: u32) -> Option<&'a [u8]> {
        self.slots
            .iter()
            .find(|s| s.tag == tag)
            .map(|s| &self.raw[s.start as usize..s.end as usize])
    }
    /// The first occurrence of `tag` as an unsigned integer (None if absent or not one).
    pub fn get_u64(&self, tag: u32) -> Option<u64> {
        self.get(tag).and_then(parse_u64)
    }
    /// The first occurrence of `tag` as a decimal.
    pub fn get_dec(&self, tag: u32) -> Option<Dec> {
        self.get(tag).and_then(|v| Dec::parse_bytes(v).ok())
    }
    /// MsgType (35).
    pub fn msg_type(&self) -> &'a [u8] {
        self.get(35).unwrap_or(b"")
    }
    /// MsgSeqNum (34), if present and numeric.
    pub fn seq(&self) -> Option<u64> {
        self.get_u64(34)
    }
}

/// Parses an unsigned decimal integer field value (no sign, at most 19 digits).
pub fn parse_u64(v: &[u8]) -> Option<u64> {
    if v.is_empty() || v.len() > 19 {
        return None;
    }
    let mut n: u64 = 0;
    for &c in v {
        if !c.is_ascii_digit() {
            return None;
        }
        n = n * 10 + (c - b'0') as u64;
    }
    Some(n)
}

/// Scans frames into [`Msg`]s, reusing one preallocated field table.
#[derive(Debug)]
pub struct Decoder {
    slots: Vec<Slot>,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::new()
    }
}

impl Decoder {
    /// A decoder with room for [`MAX_FIELDS`] fields, allocated once.
    pub fn new() -> Decoder {
        Decoder {
            slots: Vec::with_capacity(MAX_FIELDS),
        }
    }

    /// Scans one whole frame (as returned by [`frame`]) without allocating.
    pub fn decode<'a>(&'a mut self, frame: &'a [u8]) -> Result<Msg<'a>, DecodeError> {
        let _ = frame;
        unimplemented!("codec: decode")
    }
}

/// Writes messages into one preallocated buffer. Header fields go first in standard
/// order (the session writes 35, 49, 56, 34, 52 … right after [`Encoder::start`]);
/// [`Encoder::finish`] puts `8=…|9=<exact length>|` in front and `10=nnn|` at the end
/// without moving the body.
#[derive(Debug)]
pub struct Encoder {
    buf: Vec<u8>,
    /// Where the frame starts inside `buf` after `finish` (the prefix is right-aligned
    /// into reserved space before the body).
    head: usize,
    begin_string: [u8; 16],
    begin_len: u8,
}

impl Encoder {
    /// An encoder for `begin_string` (e.g. `FIX.4.4`, `FIXT.1.1`) with `capacity` bytes.
    pub fn new(begin_string: &str, capacity: usize) -> Encoder {
        let _ = (begin_string, capacity);
        unimplemented!("codec: Encoder::new")
    }
    /// Starts a message of type `msg_type`: clears the buffer and writes `35=`.
    pub fn start(&mut self, msg_type: &[u8]) -> &mut Self {
        let _ = msg_type;
        unimplemented!("codec: start")
    }
    /// A string/char/data field, written as is (the caller keeps SOH out of it).
    pub fn bytes(&mut self, tag: u32, v: &[u8]) -> &mut Self {
        let _ = (tag, v);
        unimplemented!("codec: bytes")
    }
    /// An unsigned integer field.
    pub fn uint(&mut self, tag: u32, v: u64) -> &mut Self {
        let _ = (tag, v);
        unimplemented!("codec: uint")
    }
    /// A signed integer field.
    pub fn int(&mut self, tag: u32, v: i64) -> &mut Self {
        let _ = (tag, v);
        unimplemented!("codec: int")
    }
    /// A one-character field.
    pub fn char(&mut self, tag: u32, v: u8) -> &mut Self {
        let _ = (tag, v);
        unimplemented!("codec: char")
    }
    /// A Boolean field (`Y`/`N`).
    pub fn flag(&mut self, tag: u32, v: bool) -> &mut Self {
        self.char(tag, if v { b'Y' } else { b'N' })
    }
    /// A decimal field from a fixed-point mantissa and scale, exact (no float), with
    /// trailing zeros after the point trimmed (`1.50` → `1.5`, `2.00` → `2`).
    pub fn fixed(&mut self, tag: u32, mant: i64, scale: u8) -> &mut Self {
        let _ = (tag, mant, scale);
        unimplemented!("codec: fixed")
    }
    /// A UTCTimestamp field `YYYYMMDD-HH:MM:SS.sss` (millis) or `.ssssss` (micros) from
    /// unix nanoseconds.
    pub fn timestamp(&mut self, tag: u32, unix_ns: u64, micros: bool) -> &mut Self {
        let _ = (tag, unix_ns, micros);
        unimplemented!("codec: timestamp")
    }
    /// Closes the message: writes BeginString, the exact BodyLength and the CheckSum,
    /// and returns the whole frame.
    pub fn finish(&mut self) -> &[u8] {
        unimplemented!("codec: finish")
    }
    /// The last finished frame.
    pub fn frame(&self) -> &[u8] {
        &self.buf[self.head..]
    }
}
