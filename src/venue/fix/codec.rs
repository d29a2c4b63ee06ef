//! FIX tag=value codec for the hot path: a zero-copy, allocation-free scanner and an
//! encoder into a preallocated buffer with an exact BodyLength (DESIGN.md, "FIX").
//!
//! fefix (a dev-dependency here) is the reference decoder the tests compare against.

use super::tag;
use super::time::{utc_date, write_utc_time_of_day};
use crate::calendar::NS_PER_DAY;
use crate::model::fixed::Dec;

/// The field delimiter.
pub const SOH: u8 = 0x01;

/// Most fields one decoded message may hold; more is a decode error, never a panic.
pub(crate) const MAX_FIELDS: usize = 512;

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
    /// `9=` missing, not a number, or not the second field; or the trailer is not where
    /// BodyLength says it is.
    BadBodyLength,
    /// `10=` is not three digits, or does not match the sum of the bytes.
    BadCheckSum,
}

/// Finds the first whole frame at the start of `buf` and returns its length in bytes
/// (from `8=` through the SOH after `10=…`). Checks BodyLength and CheckSum.
///
/// A frame ends at the first `<SOH>10=…<SOH>` from the end BodyLength announces on, as
/// QuickFIX frames: a BodyLength that is too short still frames the message (whose
/// length then does not match, so it is garbled), one that is too long swallows the
/// next message too, and both are dropped whole — what counterparties' conformance
/// tests expect. Nothing after a garbled frame is lost.
pub fn frame(buf: &[u8]) -> Result<usize, FrameError> {
    let garbled = |why| FrameError::Garbled {
        skip: resync(buf),
        why,
    };
    // BeginString: `8=` then 1..=MAX_BEGIN_STRING bytes, no SOH among them, then SOH.
    if !starts_with_prefix(buf, b"8=") {
        return Err(garbled(Garble::NoBeginString));
    }
    if buf.len() < 2 {
        return Err(FrameError::Incomplete);
    }
    let limit = buf.len().min(2 + MAX_BEGIN_STRING + 1);
    let soh = match buf[2..limit].iter().position(|&b| b == SOH) {
        Some(0) => return Err(garbled(Garble::NoBeginString)),
        Some(i) => 2 + i,
        None if limit == buf.len() && buf.len() < 2 + MAX_BEGIN_STRING + 1 => {
            return Err(FrameError::Incomplete)
        }
        None => return Err(garbled(Garble::NoBeginString)),
    };
    // BodyLength: `9=` then 1..=MAX_BODY_LENGTH_DIGITS digits (zero padding allowed,
    // as fefix writes it), value ≤ MAX_BODY_LENGTH, then SOH.
    let rest = &buf[soh + 1..];
    if !starts_with_prefix(rest, b"9=") {
        return Err(garbled(Garble::BadBodyLength));
    }
    if rest.len() < 2 {
        return Err(FrameError::Incomplete);
    }
    let mut body_len: usize = 0;
    let mut i = 2;
    loop {
        let Some(&c) = rest.get(i) else {
            return Err(FrameError::Incomplete);
        };
        match c {
            b'0'..=b'9' if i - 2 < MAX_BODY_LENGTH_DIGITS => {
                body_len = body_len * 10 + (c - b'0') as usize;
                if body_len > MAX_BODY_LENGTH {
                    return Err(garbled(Garble::BadBodyLength));
                }
            }
            SOH if i > 2 => break,
            _ => return Err(garbled(Garble::BadBodyLength)),
        }
        i += 1;
    }
    let body_start = soh + 1 + i + 1;
    let body_end = body_start + body_len;
    if buf.len() < body_end {
        return Err(FrameError::Incomplete);
    }
    // The body ends with the SOH of its last field (or is empty, right after 9='s SOH),
    // so a well-formed frame has `<SOH>10=` starting one byte before body_end.
    let from = body_end - 1;
    let Some(p) = find(&buf[from..], b"\x0110=") else {
        return Err(FrameError::Incomplete);
    };
    let trailer = from + p + 1;
    let Some(q) = buf[trailer + 3..].iter().position(|&b| b == SOH) else {
        return Err(FrameError::Incomplete);
    };
    let total = trailer + 3 + q + 1;
    if trailer != body_end {
        return Err(FrameError::Garbled {
            skip: total,
            why: Garble::BadBodyLength,
        });
    }
    let digits = &buf[trailer + 3..total - 1];
    let bad = FrameError::Garbled {
        skip: total,
        why: Garble::BadCheckSum,
    };
    if digits.len() != 3 || !digits.iter().all(u8::is_ascii_digit) {
        return Err(bad);
    }
    let claimed = (digits[0] - b'0') as u32 * 100
        + (digits[1] - b'0') as u32 * 10
        + (digits[2] - b'0') as u32;
    if claimed != checksum(&buf[..body_end]) as u32 {
        return Err(bad);
    }
    Ok(total)
}

/// Where `pat` first occurs in `hay`.
fn find(hay: &[u8], pat: &[u8]) -> Option<usize> {
    hay.windows(pat.len()).position(|w| w == pat)
}

/// Longest BeginString value accepted (`FIXT.1.1` is 8).
const MAX_BEGIN_STRING: usize = 16;
/// Largest BodyLength accepted; more is garbled, not a reason to wait for 4 GB.
const MAX_BODY_LENGTH: usize = 1 << 20;
/// Most BodyLength digits accepted (zero-padded forms included).
const MAX_BODY_LENGTH_DIGITS: usize = 10;

/// Whether `buf` and `prefix` agree on their common length (so `buf` may still grow
/// into something starting with `prefix`).
fn starts_with_prefix(buf: &[u8], prefix: &[u8]) -> bool {
    let n = buf.len().min(prefix.len());
    buf[..n] == prefix[..n]
}

/// How many bytes to drop from a garbled buffer: up to the next `8=FIX` after position
/// 0, or, if there is none, all but a tail that could be the start of one.
fn resync(buf: &[u8]) -> usize {
    const SYNC: &[u8] = b"8=FIX";
    let n = buf.len();
    let mut i = 1;
    while i < n {
        match buf[i..].iter().position(|&b| b == b'8') {
            None => break,
            Some(p) => i += p,
        }
        if starts_with_prefix(&buf[i..], SYNC) {
            return i;
        }
        i += 1;
    }
    n.max(1)
}

/// The FIX CheckSum of `bytes`: their sum mod 256.
#[inline]
pub fn checksum(bytes: &[u8]) -> u8 {
    // Sum in 32-bit lanes (vectorises); wrapping is harmless mod 256.
    bytes.iter().fold(0u32, |a, &b| a.wrapping_add(b as u32)) as u8
}

/// One field of a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field<'a> {
    /// As it stands in the frame: whether the dictionary knows it is validation's
    /// business, not the codec's.
    pub tag: u32,
    /// Value bytes, without the SOH.
    pub value: &'a [u8],
}

/// Why a frame's body could not be scanned into fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// A tag that is not a positive decimal number: a session reject with 373=0.
    InvalidTag {
        /// Byte offset of the bad tag in the frame.
        at: usize,
        /// The tag as a signed number, when it is one (`0`, `-1`): the RefTagID (371)
        /// QuickFIX puts in its reject.
        tag: Option<i64>,
    },
    /// A field without `=` or without its SOH: the frame is garbled.
    Malformed {
        /// Byte offset in the frame.
        at: usize,
    },
    /// More fields than a decoder holds (512).
    TooManyFields,
    /// Header fields 8, 9, 35 not first in that order, or 10 not last: the frame is
    /// garbled (QuickFIX drops it as an invalid message).
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
    /// Where the first occurrence of each tag below [`INDEXED_TAGS`] is, valid where its
    /// generation is `gen`.
    marks: &'a [Mark; INDEXED_TAGS],
    gen: u32,
}

/// Tags below this are found by index, not by a scan: every tag of the standard header,
/// trailer and the order-flow messages.
const INDEXED_TAGS: usize = 1024;

/// The slot of a tag's first occurrence in the message decoded at generation `gen`.
#[derive(Clone, Copy, Debug, Default)]
struct Mark {
    gen: u32,
    slot: u32,
}

/// Where one field sits in a frame: its value is `start..end`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Slot {
    tag: u32,
    start: u32,
    end: u32,
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
    #[inline]
    pub fn get(&self, tag: u32) -> Option<&'a [u8]> {
        let slot = match self.marks.get(tag as usize) {
            Some(m) if m.gen == self.gen => self.slots.get(m.slot as usize),
            Some(_) => None,
            None => self.slots.iter().find(|s| s.tag == tag),
        };
        slot.map(|s| &self.raw[s.start as usize..s.end as usize])
    }
    /// The first occurrence of `tag` as an unsigned integer (None if absent or not one).
    #[inline]
    pub fn get_u64(&self, tag: u32) -> Option<u64> {
        self.get(tag).and_then(parse_u64)
    }
    /// The first occurrence of `tag` as a decimal.
    pub fn get_dec(&self, tag: u32) -> Option<Dec> {
        self.get(tag).and_then(|v| Dec::parse_bytes(v).ok())
    }
    /// MsgType (35).
    #[inline]
    pub fn msg_type(&self) -> &'a [u8] {
        self.get(tag::MSG_TYPE).unwrap_or(b"")
    }
    /// MsgSeqNum (34), if present and numeric.
    #[inline]
    pub fn seq(&self) -> Option<u64> {
        self.get_u64(tag::MSG_SEQ_NUM)
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

/// The value of the first `tag` in a raw frame, without decoding it: for frames the
/// decoder refused, which still have to be answered about.
pub fn scan_tag(frame: &[u8], tag: u32) -> Option<&[u8]> {
    let mut i = 0;
    while i < frame.len() {
        let end = frame[i..]
            .iter()
            .position(|&c| c == SOH)
            .map_or(frame.len(), |p| i + p);
        let field = &frame[i..end];
        if let Some(eq) = field.iter().position(|&c| c == b'=') {
            if parse_u64(&field[..eq]) == Some(tag as u64) {
                return Some(&field[eq + 1..]);
            }
        }
        i = end + 1;
    }
    None
}

/// BeginString, BodyLength and MsgType: the first three fields of every message, in
/// this order, and nowhere else.
pub(crate) const LEADING_TAGS: [u32; 3] = [tag::BEGIN_STRING, tag::BODY_LENGTH, tag::MSG_TYPE];

/// Most digits in a tag number (FIX tags fit in 5; user-defined ones stay below 10^9).
const MAX_TAG_DIGITS: usize = 9;

/// The data field whose byte length the field `len_tag` gives, for the length-prefixed
/// data fields of FIX 4.2 – 5.0SP2 (the length field immediately precedes its data
/// field, whose value may then contain SOH). MaxMessageSize (383) is typed Length but
/// announces no data field.
pub const fn data_tag_of(len_tag: u32) -> Option<u32> {
    Some(match len_tag {
        tag::SECURE_DATA_LEN => tag::SECURE_DATA,
        tag::SIGNATURE_LENGTH => tag::SIGNATURE,
        tag::RAW_DATA_LENGTH => tag::RAW_DATA,
        tag::XML_DATA_LEN => tag::XML_DATA,
        tag::ENCODED_ISSUER_LEN => tag::ENCODED_ISSUER,
        tag::ENCODED_SECURITY_DESC_LEN => tag::ENCODED_SECURITY_DESC,
        tag::ENCODED_LIST_EXEC_INST_LEN => tag::ENCODED_LIST_EXEC_INST,
        tag::ENCODED_TEXT_LEN => tag::ENCODED_TEXT,
        tag::ENCODED_SUBJECT_LEN => tag::ENCODED_SUBJECT,
        tag::ENCODED_HEADLINE_LEN => tag::ENCODED_HEADLINE,
        tag::ENCODED_ALLOC_TEXT_LEN => tag::ENCODED_ALLOC_TEXT,
        tag::ENCODED_UNDERLYING_ISSUER_LEN => tag::ENCODED_UNDERLYING_ISSUER,
        tag::ENCODED_UNDERLYING_SECURITY_DESC_LEN => tag::ENCODED_UNDERLYING_SECURITY_DESC,
        tag::ENCODED_LIST_STATUS_TEXT_LEN => tag::ENCODED_LIST_STATUS_TEXT,
        tag::ENCODED_LEG_ISSUER_LEN => tag::ENCODED_LEG_ISSUER,
        tag::ENCODED_LEG_SECURITY_DESC_LEN => tag::ENCODED_LEG_SECURITY_DESC,
        tag::SECURITY_XML_LEN => tag::SECURITY_XML,
        tag::DERIVATIVE_ENCODED_ISSUER_LEN => tag::DERIVATIVE_ENCODED_ISSUER,
        tag::DERIVATIVE_ENCODED_SECURITY_DESC_LEN => tag::DERIVATIVE_ENCODED_SECURITY_DESC,
        tag::DERIVATIVE_SECURITY_XML_LEN => tag::DERIVATIVE_SECURITY_XML,
        tag::ENCODED_MKT_SEGM_DESC_LEN => tag::ENCODED_MKT_SEGM_DESC,
        tag::ENCRYPTED_PASSWORD_LEN => tag::ENCRYPTED_PASSWORD,
        tag::ENCRYPTED_NEW_PASSWORD_LEN => tag::ENCRYPTED_NEW_PASSWORD,
        tag::ENCODED_SECURITY_LIST_DESC_LEN => tag::ENCODED_SECURITY_LIST_DESC,
        _ => return None,
    })
}

/// Tags below [`INDEXED_TAGS`] that announce a data field's length, one bit each:
/// every field the decoder scans asks, and nearly all answer no.
const LEN_TAG_BITS: [u64; INDEXED_TAGS / 64] = {
    let mut bits = [0u64; INDEXED_TAGS / 64];
    let mut t = 0;
    while t < INDEXED_TAGS {
        if data_tag_of(t as u32).is_some() {
            bits[t / 64] |= 1 << (t % 64);
        }
        t += 1;
    }
    bits
};

/// [`data_tag_of`], answering from [`LEN_TAG_BITS`] for the common tags.
#[inline(always)]
fn data_tag_of_fast(tag: u32) -> Option<u32> {
    let t = tag as usize;
    if t < INDEXED_TAGS && LEN_TAG_BITS[t / 64] & (1 << (t % 64)) == 0 {
        return None;
    }
    data_tag_of(tag)
}

/// Where the first SOH at or after `from` is. Eight bytes at a time: a field value is
/// a handful of bytes, and a byte-at-a-time search was a quarter of decoding.
#[inline(always)]
fn find_soh(frame: &[u8], from: usize) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut i = from;
    while let Some(chunk) = frame.get(i..i + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        // SOH bytes become zero; the lowest zero byte sets the lowest flagged high bit
        // (a borrow can only flag bytes above a real zero).
        let x = u64::from_le_bytes(word) ^ ONES;
        let zero = x.wrapping_sub(ONES) & !x & HIGH;
        if zero != 0 {
            return Some(i + (zero.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    frame[i..].iter().position(|&b| b == SOH).map(|p| i + p)
}

/// The error for a tag that is not a valid one at `at`, with its value when the text
/// is a (signed) number.
fn invalid_tag(frame: &[u8], at: usize) -> DecodeError {
    let end = frame[at..]
        .iter()
        .position(|&c| c == b'=' || c == SOH)
        .map_or(frame.len(), |p| at + p);
    let text = &frame[at..end];
    let (neg, digits) = match text.strip_prefix(b"-") {
        Some(d) => (true, d),
        None => (false, text),
    };
    let tag = (!digits.is_empty() && digits.len() <= 18 && digits.iter().all(u8::is_ascii_digit))
        .then(|| {
            let n = digits.iter().fold(0i64, |n, &c| n * 10 + (c - b'0') as i64);
            if neg {
                -n
            } else {
                n
            }
        });
    DecodeError::InvalidTag { at, tag }
}

/// Scans frames into [`Msg`]s, reusing one preallocated field table and a tag index
/// (ten reads of a 26-field ExecutionReport by scanning cost more than decoding it).
#[derive(Debug)]
pub struct Decoder {
    slots: Vec<Slot>,
    marks: Box<[Mark; INDEXED_TAGS]>,
    /// Bumped per decode: marks of earlier messages are stale without being cleared.
    gen: u32,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::new()
    }
}

impl Decoder {
    /// A decoder with room for 512 fields, allocated once.
    pub fn new() -> Decoder {
        Decoder {
            slots: Vec::with_capacity(MAX_FIELDS),
            marks: Box::new([Mark::default(); INDEXED_TAGS]),
            gen: 0,
        }
    }

    /// Scans one whole frame (as returned by [`frame`]) without allocating.
    pub fn decode<'a>(&'a mut self, frame: &'a [u8]) -> Result<Msg<'a>, DecodeError> {
        self.slots.clear();
        self.gen = self.gen.wrapping_add(1);
        if self.gen == 0 {
            // Once in 2³² messages: forget every mark rather than trust a wrapped one.
            self.marks.fill(Mark::default());
            self.gen = 1;
        }
        let gen = self.gen;
        if frame.is_empty() || frame.len() > u32::MAX as usize {
            return Err(DecodeError::Malformed { at: 0 });
        }
        let n = frame.len();
        let mut pos = 0;
        // A data field's tag and length, announced by the field just scanned.
        let mut data: Option<(u32, usize)> = None;
        while pos < n {
            // Tag: a positive decimal without leading zeros, then `=`.
            let tag_at = pos;
            let mut tag: u32 = 0;
            loop {
                match frame.get(pos) {
                    Some(&c @ b'0'..=b'9') => {
                        if (c == b'0' && pos == tag_at) || pos - tag_at >= MAX_TAG_DIGITS {
                            return Err(invalid_tag(frame, tag_at));
                        }
                        tag = tag * 10 + (c - b'0') as u32;
                        pos += 1;
                    }
                    Some(b'=') if pos > tag_at => break,
                    Some(&SOH) | None => return Err(DecodeError::Malformed { at: tag_at }),
                    Some(_) => return Err(invalid_tag(frame, tag_at)),
                }
            }
            pos += 1; // '='
            let start = pos;
            let end = match data.take() {
                Some((data_tag, len)) if data_tag == tag => {
                    // Length-prefixed: may hold SOH; must be followed by one.
                    match start.checked_add(len) {
                        Some(end) if end < n && frame[end] == SOH => end,
                        _ => return Err(DecodeError::Malformed { at: tag_at }),
                    }
                }
                _ => match find_soh(frame, start) {
                    Some(end) => end,
                    None => return Err(DecodeError::Malformed { at: tag_at }),
                },
            };
            let i = self.slots.len();
            let required = LEADING_TAGS.get(i).copied();
            if required.is_some_and(|r| r != tag) || (i >= 3 && LEADING_TAGS.contains(&tag)) {
                return Err(DecodeError::OutOfOrder { tag });
            }
            if i == MAX_FIELDS {
                return Err(DecodeError::TooManyFields);
            }
            if let Some(data_tag) = data_tag_of_fast(tag) {
                if let Some(len) = parse_u64(&frame[start..end]) {
                    data = usize::try_from(len).ok().map(|len| (data_tag, len));
                }
            }
            if let Some(m) = self.marks.get_mut(tag as usize) {
                if m.gen != gen {
                    *m = Mark {
                        gen,
                        slot: i as u32,
                    };
                }
            }
            self.slots.push(Slot {
                tag,
                start: start as u32,
                end: end as u32,
            });
            pos = end + 1;
            if tag == tag::CHECK_SUM && pos < n {
                return Err(DecodeError::OutOfOrder { tag });
            }
        }
        match self.slots.last() {
            Some(s) if s.tag == tag::CHECK_SUM && self.slots.len() >= 4 => {}
            Some(s) => return Err(DecodeError::OutOfOrder { tag: s.tag }),
            None => return Err(DecodeError::Malformed { at: 0 }),
        }
        Ok(Msg {
            raw: frame,
            slots: &self.slots,
            marks: &self.marks,
            gen,
        })
    }
}

/// Whether `tag` belongs to the standard header of FIX 4.2 – 5.0SP2 (FIXT.1.1
/// included): where a message's header ends when it is re-sent or echoed.
pub const fn is_standard_header_tag(tag: u32) -> bool {
    matches!(
        tag,
        tag::BEGIN_STRING
            | tag::BODY_LENGTH
            | tag::MSG_TYPE
            | tag::MSG_SEQ_NUM
            | tag::POSS_DUP_FLAG
            | tag::SENDER_COMP_ID
            | tag::SENDER_SUB_ID
            | tag::SENDING_TIME
            | tag::TARGET_COMP_ID
            | tag::TARGET_SUB_ID
            | tag::SECURE_DATA_LEN
            | tag::SECURE_DATA
            | tag::POSS_RESEND
            | tag::ON_BEHALF_OF_COMP_ID
            | tag::ON_BEHALF_OF_SUB_ID
            | tag::ORIG_SENDING_TIME
            | tag::DELIVER_TO_COMP_ID
            | tag::DELIVER_TO_SUB_ID
            | tag::SENDER_LOCATION_ID
            | tag::TARGET_LOCATION_ID
            | tag::ON_BEHALF_OF_LOCATION_ID
            | tag::DELIVER_TO_LOCATION_ID
            | tag::XML_DATA_LEN
            | tag::XML_DATA
            | tag::MESSAGE_ENCODING
            | tag::LAST_MSG_SEQ_NUM_PROCESSED
            | tag::ON_BEHALF_OF_SENDING_TIME
            | tag::NO_HOPS
            | tag::HOP_COMP_ID
            | tag::HOP_SENDING_TIME
            | tag::HOP_REF_ID
            | tag::APPL_VER_ID
            | tag::CSTM_APPL_VER_ID
            | tag::APPL_EXT_ID
    )
}

/// The standard-header fields among `fields` other than those `own` claims, in the order
/// QuickFIX writes a header: by tag, the NoHops group (627) kept together with its
/// instances. For re-sending or echoing a message under a new session header.
pub fn header_fields_in_order<'a>(
    fields: impl Iterator<Item = Field<'a>>,
    own: impl Fn(u32) -> bool,
) -> Vec<Field<'a>> {
    let mut units: Vec<(u32, Vec<Field<'a>>)> = Vec::new();
    let mut in_hops = false;
    for f in fields {
        if !is_standard_header_tag(f.tag) || own(f.tag) {
            in_hops = false;
            continue;
        }
        match f.tag {
            tag::HOP_COMP_ID..=tag::HOP_REF_ID if in_hops => {
                if let Some(u) = units.last_mut() {
                    u.1.push(f);
                }
            }
            _ => {
                in_hops = f.tag == tag::NO_HOPS;
                units.push((f.tag, vec![f]));
            }
        }
    }
    units.sort_by_key(|u| u.0);
    units.into_iter().flat_map(|u| u.1).collect()
}

/// Writes messages into one preallocated buffer. Fields go out in the order they are
/// written: the session writes the header in tag order after 35 (34, 49, 52, 56, then
/// any others), as QuickFIX does and counterparties' conformance tests compare, and
/// callers write body fields in tag order too. [`Encoder::finish`] puts
/// `8=…|9=<exact length>|` in front and `10=nnn|` at the end without moving the body.
#[derive(Debug)]
pub struct Encoder {
    buf: Vec<u8>,
    /// Where the frame starts inside `buf` after `finish` (the prefix is right-aligned
    /// into reserved space before the body).
    head: usize,
    begin_string: [u8; 16],
    begin_len: u8,
    /// The day (Unix ns / day) whose `YYYYMMDD-` is in `date`: timestamps of one day
    /// share it, and the calendar arithmetic behind it is most of a timestamp's cost.
    day: u64,
    date: [u8; 9],
}

impl Encoder {
    /// An encoder for `begin_string` (e.g. `FIX.4.4`, `FIXT.1.1`) with `capacity` bytes.
    ///
    /// # Panics
    /// If `begin_string` is empty, longer than 16 bytes or contains SOH (a configuration
    /// error, caught at start-up).
    pub fn new(begin_string: &str, capacity: usize) -> Encoder {
        let bs = begin_string.as_bytes();
        assert!(
            !bs.is_empty() && bs.len() <= 16 && !bs.contains(&SOH),
            "BeginString must be 1..=16 bytes without SOH: {begin_string:?}"
        );
        let mut begin = [0u8; 16];
        begin[..bs.len()].copy_from_slice(bs);
        let reserve = Self::reserve(bs.len());
        let mut buf = Vec::with_capacity(reserve + capacity.max(64));
        buf.resize(reserve, 0);
        Encoder {
            buf,
            head: reserve,
            begin_string: begin,
            begin_len: bs.len() as u8,
            day: u64::MAX,
            date: [0; 9],
        }
    }

    /// Bytes reserved in front of the body for `8=<begin>|9=<up to 20 digits>|`.
    fn reserve(begin_len: usize) -> usize {
        2 + begin_len + 1 + 2 + 20 + 1
    }

    fn body_start(&self) -> usize {
        Self::reserve(self.begin_len as usize)
    }

    /// Starts a message of type `msg_type`: clears the buffer and writes `35=`.
    pub fn start(&mut self, msg_type: &[u8]) -> &mut Self {
        let b = self.body_start();
        self.buf.truncate(b);
        self.head = b;
        self.bytes(tag::MSG_TYPE, msg_type)
    }

    /// `tag=`: the tags of real messages have 1 to 4 digits, written without a loop.
    #[inline(always)]
    fn tag(&mut self, tag: u32) {
        let mut out = [0u8; 21];
        let n = match tag {
            0..=9 => {
                out[0] = b'0' + tag as u8;
                1
            }
            10..=99 => {
                put2(&mut out, tag);
                2
            }
            100..=999 => {
                out[0] = b'0' + (tag / 100) as u8;
                put2(&mut out[1..], tag % 100);
                3
            }
            1000..=9999 => {
                put2(&mut out, tag / 100);
                put2(&mut out[2..], tag % 100);
                4
            }
            _ => {
                let mut t = [0u8; 20];
                let d = fmt_u64(tag as u64, &mut t);
                out[..d.len()].copy_from_slice(d);
                d.len()
            }
        };
        out[n] = b'=';
        self.buf.extend_from_slice(&out[..n + 1]);
    }

    /// A string/char/data field, written as is (the caller keeps SOH out of it).
    #[inline]
    pub fn bytes(&mut self, tag: u32, v: &[u8]) -> &mut Self {
        self.tag(tag);
        self.buf.extend_from_slice(v);
        self.buf.push(SOH);
        self
    }
    /// An unsigned integer field.
    #[inline]
    pub fn uint(&mut self, tag: u32, v: u64) -> &mut Self {
        self.integer(tag, false, v)
    }
    /// A signed integer field.
    pub fn int(&mut self, tag: u32, v: i64) -> &mut Self {
        self.integer(tag, v < 0, v.unsigned_abs())
    }
    // Always inlined: `uint` then compiles without the sign test.
    #[inline(always)]
    fn integer(&mut self, tag: u32, negative: bool, abs: u64) -> &mut Self {
        let mut t = [0u8; 20];
        let d = fmt_u64(abs, &mut t);
        self.tag(tag);
        if negative {
            self.buf.push(b'-');
        }
        self.buf.extend_from_slice(d);
        self.buf.push(SOH);
        self
    }
    /// A one-character field.
    #[inline]
    pub fn char(&mut self, tag: u32, v: u8) -> &mut Self {
        self.tag(tag);
        self.buf.extend_from_slice(&[v, SOH]);
        self
    }
    /// A Boolean field (`Y`/`N`).
    pub fn flag(&mut self, tag: u32, v: bool) -> &mut Self {
        self.char(tag, if v { b'Y' } else { b'N' })
    }
    /// A decimal field from a fixed-point mantissa and scale, exact (no float), with
    /// trailing zeros after the point trimmed (`1.50` → `1.5`, `2.00` → `2`).
    #[inline]
    pub fn fixed(&mut self, tag: u32, mant: i64, scale: u8) -> &mut Self {
        let (mut abs, mut scale) = (mant.unsigned_abs(), scale as usize);
        while scale > 0 && abs % 10 == 0 {
            abs /= 10;
            scale -= 1;
        }
        let mut t = [0u8; 20];
        let d = fmt_u64(abs, &mut t);
        self.tag(tag);
        if mant < 0 {
            self.buf.push(b'-');
        }
        if scale == 0 {
            self.buf.extend_from_slice(d);
        } else if d.len() > scale {
            let (int, frac) = d.split_at(d.len() - scale);
            self.buf.extend_from_slice(int);
            self.buf.push(b'.');
            self.buf.extend_from_slice(frac);
        } else {
            self.buf.extend_from_slice(b"0.");
            for _ in d.len()..scale {
                self.buf.push(b'0');
            }
            self.buf.extend_from_slice(d);
        }
        self.buf.push(SOH);
        self
    }
    /// A UTCTimestamp field `YYYYMMDD-HH:MM:SS.sss` (millis) or `.ssssss` (micros) from
    /// unix nanoseconds.
    #[inline]
    pub fn timestamp(&mut self, tag: u32, unix_ns: u64, micros: bool) -> &mut Self {
        let day = unix_ns / NS_PER_DAY;
        if day != self.day {
            self.date[..8].copy_from_slice(&utc_date(unix_ns));
            self.date[8] = b'-';
            self.day = day;
        }
        let mut out = [0u8; 16];
        let n = write_utc_time_of_day(unix_ns, micros, &mut out);
        out[n] = SOH;
        self.tag(tag);
        self.buf.extend_from_slice(&self.date);
        self.buf.extend_from_slice(&out[..n + 1]);
        self
    }
    /// Closes the message: writes BeginString, the exact BodyLength and the CheckSum,
    /// and returns the whole frame.
    pub fn finish(&mut self) -> &[u8] {
        let b = self.body_start();
        let body_len = self.buf.len() - b;
        let mut t = [0u8; 20];
        let digits = fmt_u64(body_len as u64, &mut t);
        let bl = self.begin_len as usize;
        let head = b - (2 + bl + 1 + 2 + digits.len() + 1);
        let pre = &mut self.buf[head..b];
        pre[..2].copy_from_slice(b"8=");
        pre[2..2 + bl].copy_from_slice(&self.begin_string[..bl]);
        pre[2 + bl] = SOH;
        pre[3 + bl..5 + bl].copy_from_slice(b"9=");
        pre[5 + bl..5 + bl + digits.len()].copy_from_slice(digits);
        pre[5 + bl + digits.len()] = SOH;
        self.head = head;
        let sum = checksum(&self.buf[head..]);
        self.buf.extend_from_slice(&[
            b'1',
            b'0',
            b'=',
            b'0' + sum / 100,
            b'0' + sum / 10 % 10,
            b'0' + sum % 10,
            SOH,
        ]);
        &self.buf[head..]
    }
    /// The last finished frame.
    pub fn frame(&self) -> &[u8] {
        &self.buf[self.head..]
    }
}

/// Two ASCII digits for each of 0..100.
const DIGIT_PAIRS: &[u8; 200] = b"\
0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// Formats `v` in decimal into the end of `out`, returning the digits.
#[inline]
fn fmt_u64(mut v: u64, out: &mut [u8; 20]) -> &[u8] {
    let mut i = out.len();
    while v >= 100 {
        let r = (v % 100) as usize * 2;
        v /= 100;
        i -= 2;
        out[i..i + 2].copy_from_slice(&DIGIT_PAIRS[r..r + 2]);
    }
    if v >= 10 {
        let r = v as usize * 2;
        i -= 2;
        out[i..i + 2].copy_from_slice(&DIGIT_PAIRS[r..r + 2]);
    } else {
        i -= 1;
        out[i] = b'0' + v as u8;
    }
    &out[i..]
}

/// Writes `n` (< 100) as two digits: one table lookup, cheaper than dividing.
#[inline]
pub(crate) fn put2(out: &mut [u8], n: u32) {
    let r = n as usize * 2;
    out[..2].copy_from_slice(&DIGIT_PAIRS[r..r + 2]);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `|` → SOH, and a correct BodyLength and CheckSum around the body (which starts
    /// at `35=`): `msg("FIX.4.4", "35=0|34=1|")`.
    fn msg(begin: &str, body: &str) -> Vec<u8> {
        let body = body.replace('|', "\x01");
        let mut v = format!("8={begin}\x019={}\x01{body}", body.len()).into_bytes();
        let sum = checksum(&v);
        v.extend_from_slice(format!("10={sum:03}\x01").as_bytes());
        v
    }

    fn soh(s: &str) -> Vec<u8> {
        s.replace('|', "\x01").into_bytes()
    }

    fn decode_ok(frame: &[u8]) -> Vec<(u32, Vec<u8>)> {
        let mut d = Decoder::new();
        let m = d.decode(frame).unwrap();
        m.fields().map(|f| (f.tag, f.value.to_vec())).collect()
    }

    fn decode_err(frame: &[u8]) -> DecodeError {
        Decoder::new().decode(frame).unwrap_err()
    }

    const HB: &str = "35=0|49=A|56=B|34=12|52=20100304-07:59:30|";

    #[test]
    fn frames_a_known_message() {
        // fefix's documentation example (its CheckSum 185 is for '|' as the separator; 187 with SOH, by hand).
        let m = soh("8=FIX.4.4|9=42|35=0|49=A|56=B|34=12|52=20100304-07:59:30|10=187|");
        assert_eq!(frame(&m), Ok(m.len()));
        assert_eq!(msg("FIX.4.4", HB), m);
        let f = decode_ok(&m);
        let tags: Vec<u32> = f.iter().map(|f| f.0).collect();
        assert_eq!(tags, [8, 9, 35, 49, 56, 34, 52, 10]);
        assert_eq!(f[6].1, b"20100304-07:59:30");
    }

    #[test]
    fn frame_accepts_zero_padded_body_length() {
        let body = soh(HB);
        let mut v = format!("8=FIX.4.4\x019={:06}\x01", body.len()).into_bytes();
        v.extend_from_slice(&body);
        let sum = checksum(&v);
        v.extend_from_slice(format!("10={sum:03}\x01").as_bytes());
        assert_eq!(frame(&v), Ok(v.len()));
        assert_eq!(decode_ok(&v)[1].1, b"000042");
    }

    #[test]
    fn every_cut_of_a_frame_is_incomplete() {
        let m = msg("FIX.4.4", "35=D|11=abc|95=3|96=a\x01b|55=X|");
        for cut in 0..m.len() {
            assert_eq!(frame(&m[..cut]), Err(FrameError::Incomplete), "cut {cut}");
        }
        assert_eq!(frame(&m), Ok(m.len()));
    }

    #[test]
    fn two_frames_back_to_back() {
        let a = msg("FIX.4.4", HB);
        let b = msg("FIXT.1.1", "35=A|98=0|108=30|1137=9|");
        let mut both = a.clone();
        both.extend_from_slice(&b);
        let n = frame(&both).unwrap();
        assert_eq!(n, a.len());
        assert_eq!(frame(&both[n..]), Ok(b.len()));
        assert_eq!(decode_ok(&both[n..])[0].1, b"FIXT.1.1");
    }

    #[test]
    fn garbage_before_a_frame_is_skipped_to_it() {
        let m = msg("FIX.4.4", HB);
        let mut v = b"xx8=F\x01junk".to_vec();
        v.extend_from_slice(&m);
        let mut at = 0;
        let mut skips = 0;
        loop {
            match frame(&v[at..]) {
                Ok(n) => {
                    assert_eq!(&v[at..at + n], &m[..]);
                    break;
                }
                Err(FrameError::Garbled { skip, .. }) => {
                    assert!(skip >= 1);
                    at += skip;
                    skips += 1;
                }
                Err(FrameError::Incomplete) => panic!("incomplete at {at}"),
            }
        }
        assert!(skips <= 3);
        // Plain garbage with no sync point is dropped whole, except a tail that could
        // still begin one.
        assert_eq!(
            frame(b"hello"),
            Err(FrameError::Garbled {
                skip: 5,
                why: Garble::NoBeginString
            })
        );
        assert_eq!(
            frame(b"hello8=FI"),
            Err(FrameError::Garbled {
                skip: 5,
                why: Garble::NoBeginString
            })
        );
    }

    #[test]
    fn bad_begin_string() {
        let e = |b: &[u8]| match frame(b) {
            Err(FrameError::Garbled { why, skip }) => {
                assert!(skip >= 1 && skip <= b.len());
                why
            }
            other => panic!("{other:?}"),
        };
        assert_eq!(e(b"9=5\x01"), Garble::NoBeginString);
        assert_eq!(e(b"8=\x019=5\x01"), Garble::NoBeginString);
        assert_eq!(e(b"8=FIX.4.4.4.4.4.4.4.4.4.4"), Garble::NoBeginString);
    }

    #[test]
    fn bad_body_length() {
        let e = |b: &[u8]| match frame(b) {
            Err(FrameError::Garbled { why, .. }) => why,
            other => panic!("{other:?}"),
        };
        assert_eq!(e(b"8=FIX.4.4\x0135=0\x01"), Garble::BadBodyLength);
        assert_eq!(e(b"8=FIX.4.4\x019=\x01"), Garble::BadBodyLength);
        assert_eq!(e(b"8=FIX.4.4\x019=-5\x01"), Garble::BadBodyLength);
        assert_eq!(e(b"8=FIX.4.4\x019=5x\x01"), Garble::BadBodyLength);
        // Huge or endless digits: garbled at once, no overflow, no waiting.
        assert_eq!(
            e(b"8=FIX.4.4\x019=99999999999999999999999"),
            Garble::BadBodyLength
        );
        assert_eq!(e(b"8=FIX.4.4\x019=1048577"), Garble::BadBodyLength);
        assert_eq!(e(b"8=FIX.4.4\x019=00000000000"), Garble::BadBodyLength);
        // At the cap it waits.
        assert_eq!(
            frame(b"8=FIX.4.4\x019=1048576\x01"),
            Err(FrameError::Incomplete)
        );
    }

    #[test]
    fn a_wrong_body_length_drops_the_frame_and_only_it() {
        let m = msg("FIX.4.4", HB);
        let s = String::from_utf8(m.clone()).unwrap();
        // Too short: the frame still ends at its own trailer, and is garbled whole.
        for wrong in ["9=41\x01", "9=30\x01", "9=0\x01"] {
            let mut v = s.replacen("9=42\x01", wrong, 1).into_bytes();
            let n = v.len();
            v.extend_from_slice(&m);
            assert_eq!(
                frame(&v),
                Err(FrameError::Garbled {
                    skip: n,
                    why: Garble::BadBodyLength
                }),
                "{wrong:?}"
            );
            assert_eq!(frame(&v[n..]), Ok(m.len()), "the next frame survives");
        }
        // Too long: it waits for a trailer, and swallows the next message with it.
        let long = s.replacen("9=42\x01", "9=43\x01", 1).into_bytes();
        assert_eq!(frame(&long), Err(FrameError::Incomplete));
        let mut two = long.clone();
        two.extend_from_slice(&m);
        assert_eq!(
            frame(&two),
            Err(FrameError::Garbled {
                skip: two.len(),
                why: Garble::BadBodyLength
            })
        );
    }

    #[test]
    fn missing_checksum_field() {
        let body = soh(HB);
        let mut v = format!("8=FIX.4.4\x019={}\x01", body.len()).into_bytes();
        v.extend_from_slice(&body);
        v.extend_from_slice(b"11=185\x01");
        assert_eq!(frame(&v), Err(FrameError::Incomplete));
        // Decoding without the trailer: 10 must be last.
        let mut raw = format!("8=FIX.4.4\x019={}\x01", body.len()).into_bytes();
        raw.extend_from_slice(&body);
        assert_eq!(decode_err(&raw), DecodeError::OutOfOrder { tag: 52 });
    }

    #[test]
    fn wrong_checksum_skips_the_whole_frame() {
        let m = msg("FIX.4.4", HB);
        let n = m.len();
        for bad in [&b"000"[..], b"18x", b"1855", b"86", b"0"] {
            let mut v = m[..n - 4].to_vec();
            v.extend_from_slice(bad);
            v.push(SOH);
            let k = v.len();
            v.extend_from_slice(&m);
            assert_eq!(
                frame(&v),
                Err(FrameError::Garbled {
                    skip: k,
                    why: Garble::BadCheckSum
                }),
                "{bad:?}"
            );
            assert_eq!(frame(&v[k..]), Ok(n));
        }
    }

    #[test]
    fn frame_never_claims_more_than_the_buffer() {
        let m = msg("FIX.4.4", HB);
        for i in 0..m.len() {
            for b in [0u8, 1, b'=', b'8', b'9', b'0', 0xff] {
                let mut v = m.clone();
                v[i] = b;
                match frame(&v) {
                    Ok(n) => assert!(n <= v.len()),
                    Err(FrameError::Garbled { skip, .. }) => assert!(skip >= 1 && skip <= v.len()),
                    Err(FrameError::Incomplete) => {}
                }
                let _ = Decoder::new().decode(&v);
            }
        }
    }

    #[test]
    fn empty_values_are_fields_validation_rejects() {
        let m = msg("FIX.4.4", "35=D|11=|55=X|");
        assert_eq!(frame(&m), Ok(m.len()));
        let f = decode_ok(&m);
        assert_eq!(f[3], (11, vec![]));
        assert_eq!(f[4], (55, b"X".to_vec()));
    }

    #[test]
    fn invalid_tags() {
        let m = msg("FIX.4.4", "35=D|1x=2|");
        let at = m.windows(3).position(|w| w == b"1x=").unwrap();
        assert_eq!(decode_err(&m), DecodeError::InvalidTag { at, tag: None });
        let tag = |body: &str| match decode_err(&msg("FIX.4.4", body)) {
            DecodeError::InvalidTag { tag, .. } => tag,
            other => panic!("{body}: {other:?}"),
        };
        assert_eq!(tag("35=D|=2|"), None);
        assert_eq!(tag("35=D|0=2|"), Some(0));
        assert_eq!(tag("35=D|011=2|"), Some(11));
        assert_eq!(tag("35=D|12345678901=2|"), Some(12_345_678_901));
        assert_eq!(tag("35=D|-1=2|"), Some(-1));
    }

    #[test]
    fn malformed_fields() {
        // A tag without '=' before SOH.
        let m = msg("FIX.4.4", "35=D|55|");
        let at = m.windows(3).position(|w| w == b"55\x01").unwrap();
        assert_eq!(decode_err(&m), DecodeError::Malformed { at });
        // A value without its SOH (bytes cut inside the trailer).
        assert!(matches!(
            decode_err(b"8=FIX.4.4\x019=5\x0135=0"),
            DecodeError::Malformed { .. }
        ));
        assert_eq!(decode_err(b""), DecodeError::Malformed { at: 0 });
        assert_eq!(decode_err(b"8"), DecodeError::Malformed { at: 0 });
    }

    /// The tag index answers like a scan: the first occurrence, nothing for a tag the
    /// message lacks even when the message before had it, large tags by scanning.
    #[test]
    fn indexed_reads_match_a_scan_across_messages() {
        let mut d = Decoder::new();
        let a = msg("FIX.4.4", "35=8|34=1|11=A|11=B|1385=1|5000=x|");
        let m = d.decode(&a).unwrap();
        assert_eq!(m.get(11), Some(&b"A"[..]), "the first occurrence");
        assert_eq!(m.get(1385), Some(&b"1"[..]));
        assert_eq!(m.get(5000), Some(&b"x"[..]), "beyond the index: scanned");
        assert_eq!(m.get(37), None);
        let b = msg("FIX.4.4", "35=0|34=2|");
        let m = d.decode(&b).unwrap();
        assert_eq!(
            m.get(11),
            None,
            "the previous message's field is not this one's"
        );
        assert_eq!(m.get(1385), None);
        assert_eq!(m.seq(), Some(2));
        // A failed decode leaves nothing behind for the next.
        assert!(d.decode(&soh("8=FIX.4.4|9=5|35=8|11=Z|x|")).is_err());
        let m = d.decode(&b).unwrap();
        assert_eq!(m.get(11), None);
        // The generation wrapping forgets every mark instead of trusting one.
        d.gen = u32::MAX;
        let first = d.decode(&a).unwrap().get(11).map(<[u8]>::to_vec);
        assert_eq!((d.gen, first.as_deref()), (1, Some(&b"A"[..])));
    }

    /// Timestamps keep the day's date between calls and change it at midnight, both ways.
    #[test]
    fn timestamps_across_midnight_keep_their_dates_right() {
        let day = 1_767_571_200_000_000_000u64; // 2026-01-05T00:00:00Z
        let mut e = Encoder::new("FIX.4.4", 256);
        let mut stamp = |t: u64| {
            e.start(b"0").timestamp(52, t, true);
            let f = e.finish().to_vec();
            String::from_utf8(scan_tag(&f, 52).unwrap().to_vec()).unwrap()
        };
        assert_eq!(stamp(day - 1), "20260104-23:59:59.999999");
        assert_eq!(stamp(day), "20260105-00:00:00.000000");
        assert_eq!(stamp(day - 1_000), "20260104-23:59:59.999999");
        assert_eq!(
            stamp(day + 86_400_000_000_000 * 365),
            "20270105-00:00:00.000000"
        );
    }

    #[test]
    fn header_order() {
        for (frame, tag) in [
            ("9=5|8=FIX.4.4|35=0|10=000|", 9),
            ("8=FIX.4.4|35=0|9=5|10=000|", 35),
            ("8=FIX.4.4|9=5|49=A|35=0|10=000|", 49),
            ("8=FIX.4.4|9=5|10=000|", 10),
            ("8=FIX.4.4|9=5|35=0|10=000|49=A|", 10),
            ("8=FIX.4.4|9=5|35=0|35=0|10=000|", 35),
            ("8=FIX.4.4|9=5|35=0|8=FIX.4.4|10=000|", 8),
        ] {
            assert_eq!(
                decode_err(&soh(frame)),
                DecodeError::OutOfOrder { tag },
                "{frame}"
            );
        }
        assert!(Decoder::new()
            .decode(&soh("8=FIX.4.4|9=5|35=0|10=000|"))
            .is_ok());
    }

    #[test]
    fn repeated_tags_and_groups_keep_wire_order() {
        // NewOrderMultileg-like: an empty group, a nested group, repeated tags.
        let body = "35=AB|11=1|453=0|555=2|600=A|539=2|524=P1|524=P2|600=B|539=0|55=X|";
        let m = msg("FIX.4.4", body);
        let mut d = Decoder::new();
        let msg = d.decode(&m).unwrap();
        let tags: Vec<u32> = msg.fields().map(|f| f.tag).collect();
        assert_eq!(
            tags,
            [8, 9, 35, 11, 453, 555, 600, 539, 524, 524, 600, 539, 55, 10]
        );
        assert_eq!(msg.get(600), Some(&b"A"[..]));
        assert_eq!(msg.get_u64(453), Some(0));
        assert_eq!(msg.field(9).unwrap().value, b"P2");
        assert_eq!(msg.msg_type(), b"AB");
        assert_eq!(msg.len(), 14);
    }

    #[test]
    fn data_fields_may_hold_soh_and_equals() {
        let m = msg(
            "FIX.4.4",
            "35=D|95=8|96=a\x01b=c\x0110|212=2|213=\x01\x01|58=t|",
        );
        assert_eq!(frame(&m), Ok(m.len()));
        let f = decode_ok(&m);
        assert_eq!(f[4], (96, b"a\x01b=c\x0110".to_vec()));
        assert_eq!(f[6], (213, b"\x01\x01".to_vec()));
        assert_eq!(f[7], (58, b"t".to_vec()));
        // Every pair in the table works.
        let mut t = 1;
        while t < 2000 {
            if let Some(data) = data_tag_of(t) {
                let m = msg("FIX.4.4", &format!("35=n|{t}=3|{data}=\x01=\x01|"));
                assert_eq!(decode_ok(&m)[4], (data, b"\x01=\x01".to_vec()), "{t}");
            }
            t += 1;
        }
        // The length must be followed by its data field to apply.
        let m = msg("FIX.4.4", "35=D|95=7|58=x|96=y|");
        assert_eq!(decode_ok(&m)[5], (96, b"y".to_vec()));
        // A length longer than the frame, or not ending at a SOH, is malformed.
        let m = msg("FIX.4.4", "35=D|95=99|96=ab|");
        assert!(matches!(decode_err(&m), DecodeError::Malformed { .. }));
        let m = msg("FIX.4.4", "35=D|95=1|96=ab|");
        assert!(matches!(decode_err(&m), DecodeError::Malformed { .. }));
        // A non-numeric length leaves the data field to the plain scan (the validator
        // rejects the length's value).
        let m = msg("FIX.4.4", "35=D|95=x|96=ab|");
        assert_eq!(decode_ok(&m)[4], (96, b"ab".to_vec()));
        // MaxMessageSize is typed Length but announces nothing.
        let m = msg("FIX.4.4", "35=A|383=2|98=0|");
        assert_eq!(decode_ok(&m)[4], (98, b"0".to_vec()));
    }

    #[test]
    fn too_many_fields() {
        let mut body = String::from("35=0|");
        for i in 0..MAX_FIELDS - 4 {
            body.push_str(&format!("{}=x|", 100 + i));
        }
        let m = msg("FIX.4.4", &body);
        let mut d = Decoder::new();
        assert_eq!(d.decode(&m).unwrap().len(), MAX_FIELDS);
        assert_eq!(d.slots.capacity(), MAX_FIELDS);
        body.push_str("7=y|");
        let m = msg("FIX.4.4", &body);
        assert_eq!(d.decode(&m).unwrap_err(), DecodeError::TooManyFields);
        assert_eq!(d.slots.capacity(), MAX_FIELDS);
    }

    #[test]
    fn header_fields_in_quickfix_order_keep_hops_together() {
        let m = msg(
            "FIX.4.4",
            "35=D|49=A|128=X|56=B|34=2|97=Y|627=2|628=H1|629=20240101-00:00:00|628=H2|115=O|52=20240101-00:00:00|11=c|",
        );
        let mut d = Decoder::new();
        let msg = d.decode(&m).unwrap();
        let own = |t: u32| matches!(t, 8 | 9 | 35 | 34 | 49 | 52 | 56);
        let got: Vec<(u32, &[u8])> = header_fields_in_order(msg.fields(), own)
            .into_iter()
            .map(|f| (f.tag, f.value))
            .collect();
        assert_eq!(
            got,
            vec![
                (97, &b"Y"[..]),
                (115, b"O"),
                (128, b"X"),
                (627, b"2"),
                (628, b"H1"),
                (629, b"20240101-00:00:00"),
                (628, b"H2"),
            ]
        );
    }

    #[test]
    fn encoder_writes_exact_frames() {
        let mut e = Encoder::new("FIX.4.4", 256);
        e.start(b"0")
            .bytes(49, b"A")
            .bytes(56, b"B")
            .uint(34, 12)
            .bytes(52, b"20100304-07:59:30");
        let f = e.finish().to_vec();
        assert_eq!(f, msg("FIX.4.4", HB));
        assert_eq!(e.frame(), &f[..]);
        // Reuse: a second message in the same buffer.
        e.start(b"D")
            .int(1, -5)
            .char(54, b'1')
            .flag(43, true)
            .flag(97, false);
        let f = e.finish().to_vec();
        assert_eq!(f, msg("FIX.4.4", "35=D|1=-5|54=1|43=Y|97=N|"));
        assert_eq!(frame(&f), Ok(f.len()));
    }

    #[test]
    fn encoder_does_not_allocate_within_capacity_and_grows_past_it() {
        let mut e = Encoder::new("FIXT.1.1", 128);
        let cap = e.buf.capacity();
        let ptr = e.buf.as_ptr();
        for i in 0..100 {
            e.start(b"8")
                .uint(34, i)
                .bytes(11, b"ord-1")
                .fixed(44, 12345, 2);
            e.finish();
        }
        assert_eq!((e.buf.capacity(), e.buf.as_ptr()), (cap, ptr));
        let long = vec![b'x'; 5000];
        e.start(b"B").bytes(58, &long);
        let f = e.finish().to_vec();
        assert_eq!(frame(&f), Ok(f.len()));
        assert_eq!(decode_ok(&f)[3].1, long);
        assert_eq!(decode_ok(&f)[1].1, b"5009");
    }

    #[test]
    fn integers() {
        let mut e = Encoder::new("FIX.4.4", 256);
        e.start(b"0");
        for v in [0u64, 9, 10, 99, 100, 12345, u64::MAX] {
            e.uint(1, v);
        }
        for v in [0i64, -1, 7, -100, i64::MIN, i64::MAX] {
            e.int(2, v);
        }
        let f = e.finish().to_vec();
        let vals: Vec<String> = decode_ok(&f)[3..16]
            .iter()
            .map(|f| String::from_utf8(f.1.clone()).unwrap())
            .collect();
        assert_eq!(
            vals,
            [
                "0",
                "9",
                "10",
                "99",
                "100",
                "12345",
                "18446744073709551615",
                "0",
                "-1",
                "7",
                "-100",
                "-9223372036854775808",
                "9223372036854775807"
            ]
        );
    }

    #[test]
    fn fixed_point_decimals() {
        let cases: &[(i64, u8, &str)] = &[
            (150, 2, "1.5"),
            (200, 2, "2"),
            (0, 5, "0"),
            (0, 0, "0"),
            (5, 0, "5"),
            (50, 0, "50"),
            (-5, 1, "-0.5"),
            (-123456, 3, "-123.456"),
            (1, 8, "0.00000001"),
            (-1, 18, "-0.000000000000000001"),
            (i64::MAX, 18, "9.223372036854775807"),
            (i64::MIN, 18, "-9.223372036854775808"),
            (i64::MIN, 0, "-9223372036854775808"),
            (123, 3, "0.123"),
            (1230, 3, "1.23"),
            (7, 20, "0.00000000000000000007"),
        ];
        let mut e = Encoder::new("FIX.4.4", 256);
        for &(mant, scale, want) in cases {
            e.start(b"0").fixed(44, mant, scale);
            let f = e.finish().to_vec();
            let got = decode_ok(&f)[3].1.clone();
            assert_eq!(String::from_utf8(got).unwrap(), want, "{mant} e-{scale}");
            if scale <= 18 && mant != i64::MIN {
                let d = Dec::parse_bytes(want.as_bytes()).unwrap();
                assert_eq!(d.to_scale(scale), Some(mant), "{want}");
            }
        }
    }

    #[test]
    fn timestamps_are_written_in_place() {
        use crate::calendar::unix_ns;
        let t = unix_ns(2024, 2, 29, 23, 59) + 58_123_456_789;
        let mut e = Encoder::new("FIX.4.4", 256);
        e.start(b"0")
            .timestamp(52, t, false)
            .timestamp(60, t, true)
            .timestamp(122, 0, false);
        let f = e.finish().to_vec();
        let d = decode_ok(&f);
        assert_eq!(d[3].1, b"20240229-23:59:58.123");
        assert_eq!(d[4].1, b"20240229-23:59:58.123456");
        assert_eq!(d[5].1, b"19700101-00:00:00.000");
    }

    #[test]
    fn soh_search_finds_the_first_soh_at_every_offset_and_length() {
        // Every place an SOH can sit relative to an 8-byte word, with bytes around it
        // that a carry or borrow could confuse (0x00, 0x02, 0x81, 0xFF).
        for len in 0..40 {
            for soh_at in (0..len).map(Some).chain([None]) {
                for fill in [b'A', 0x00, 0x02, 0x81, 0xFF] {
                    let mut buf = vec![fill; len];
                    if let Some(at) = soh_at {
                        buf[at] = SOH;
                        if at + 1 < len {
                            buf[at + 1] = SOH;
                        }
                    }
                    for from in 0..=len {
                        let want = buf[from..].iter().position(|&b| b == SOH).map(|p| from + p);
                        assert_eq!(find_soh(&buf, from), want, "{len} {soh_at:?} {fill} {from}");
                    }
                }
            }
        }
    }

    #[test]
    fn length_tag_table_agrees_with_data_tag_of() {
        for t in 0..4096 {
            assert_eq!(data_tag_of_fast(t), data_tag_of(t), "{t}");
        }
    }
}
