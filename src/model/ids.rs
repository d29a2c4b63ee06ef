//! Identifiers: inline strings for external keys, small integers for interned ones.

use std::fmt;

/// A short ASCII string stored inline, so requests and events are `Copy` and never allocate.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ShortStr<const N: usize> {
    len: u8,
    bytes: [u8; N],
}

/// Why a string does not fit a [`ShortStr`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TooLong {
    /// The capacity that was exceeded.
    pub max: usize,
}

impl fmt::Display for TooLong {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "longer than {} bytes", self.max)
    }
}

impl std::error::Error for TooLong {}

impl<const N: usize> ShortStr<N> {
    /// The empty string.
    pub const EMPTY: Self = ShortStr {
        len: 0,
        bytes: [0; N],
    };

    /// Copies `s` in; fails if it is longer than `N` bytes.
    pub fn new(s: &str) -> Result<Self, TooLong> {
        Self::from_bytes(s.as_bytes())
    }

    /// Copies `b` in; fails if it is longer than `N` bytes or not UTF-8.
    pub fn from_bytes(b: &[u8]) -> Result<Self, TooLong> {
        if b.len() > N || N > 255 || std::str::from_utf8(b).is_err() {
            return Err(TooLong { max: N });
        }
        let mut bytes = [0u8; N];
        bytes[..b.len()].copy_from_slice(b);
        Ok(ShortStr {
            len: b.len() as u8,
            bytes,
        })
    }

    /// As much of `s` as fits, cut at a character boundary (for messages kept in
    /// fixed-size events, where a longer one is better cut than lost).
    pub fn clipped(s: &str) -> Self {
        let mut end = s.len().min(N.min(255));
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        Self::from_bytes(&s.as_bytes()[..end]).unwrap_or(Self::EMPTY)
    }

    /// Writes a number in decimal without allocating (for generated ids).
    pub fn from_prefixed_u64(prefix: &str, mut n: u64) -> Result<Self, TooLong> {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        let total = prefix.len() + digits.len() - i;
        if total > N {
            return Err(TooLong { max: N });
        }
        let mut bytes = [0u8; N];
        bytes[..prefix.len()].copy_from_slice(prefix.as_bytes());
        bytes[prefix.len()..total].copy_from_slice(&digits[i..]);
        Ok(ShortStr {
            len: total as u8,
            bytes,
        })
    }

    /// The string.
    pub fn as_str(&self) -> &str {
        // Only ever filled from &str or checked UTF-8.
        std::str::from_utf8(&self.bytes[..self.len as usize]).unwrap_or("")
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl<const N: usize> std::hash::Hash for ShortStr<N> {
    /// One xxh3 pass over the bytes: well mixed even for look-alike ids ("req-1",
    /// "req-2", …), which a word-at-a-time hasher such as Fx clusters in a hash table.
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(xxhash_rust::xxh3::xxh3_64(self.as_bytes()));
    }
}

impl<const N: usize> Default for ShortStr<N> {
    fn default() -> Self {
        Self::EMPTY
    }
}

impl<const N: usize> fmt::Debug for ShortStr<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

impl<const N: usize> fmt::Display for ShortStr<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Upstream's idempotency key for an execution request.
pub type RequestId = ShortStr<32>;
/// An account, instrument symbol or venue name as upstream spells it.
pub type Name = ShortStr<16>;

/// execd's own order number: a counter, never reused within a journal.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OrderId(pub u64);

/// The client order id sent to a venue: start epoch, order and amendment version.
///
/// The epoch makes ids unique across restarts; the version chains cancel and
/// cancel/replace requests (OrigClOrdID is the same order at the previous version).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ClOrdId {
    /// Distinct per start of the core (the daemon uses Unix seconds), so ids never repeat
    /// across restarts.
    pub epoch: u32,
    /// The order this id belongs to.
    pub order: OrderId,
    /// 0 for the original order, +1 for each cancel or replace request.
    pub version: u16,
}

impl fmt::Display for ClOrdId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:x}-{}-{}", self.epoch, self.order.0, self.version)
    }
}

impl ClOrdId {
    /// Parses the form written by `Display` ("1f-42-0").
    pub fn parse(s: &str) -> Option<ClOrdId> {
        ClOrdId::parse_bytes(s.as_bytes())
    }

    /// The `Display` form written into `buf`, for the FIX encoder: `write!` costs about
    /// 900 instructions, this a tenth of that.
    pub fn write_into<'b>(&self, buf: &'b mut [u8; 40]) -> &'b [u8] {
        let mut scratch = [0u8; 20];
        let mut n = 0;
        for (i, v) in [u64::from(self.epoch), self.order.0, self.version.into()]
            .into_iter()
            .enumerate()
        {
            if i > 0 {
                buf[n] = b'-';
                n += 1;
            }
            let d = if i == 0 {
                digits::<16>(v, &mut scratch)
            } else {
                digits::<10>(v, &mut scratch)
            };
            buf[n..n + d.len()].copy_from_slice(d);
            n += d.len();
        }
        &buf[..n]
    }

    /// `parse` on the bytes of a FIX field: every report a broker sends is read by it, so
    /// it is a loop over the bytes rather than `str::split` and `parse` (≈ 900
    /// instructions). Digits only, no sign; hex digits of either case in the epoch.
    pub fn parse_bytes(b: &[u8]) -> Option<ClOrdId> {
        let mut it = b.splitn(3, |&c| c == b'-');
        let epoch = number(it.next()?, 16, u32::MAX.into())?;
        let order = number(it.next()?, 10, u64::MAX)?;
        let version = number(it.next()?, 10, u16::MAX.into())?;
        Some(ClOrdId {
            epoch: epoch as u32,
            order: OrderId(order),
            version: version as u16,
        })
    }
}

/// Digits of `v` in base `R` (10 or 16, lower-case), written at the end of `out`.
fn digits<const R: u64>(mut v: u64, out: &mut [u8; 20]) -> &[u8] {
    let mut i = out.len();
    loop {
        i -= 1;
        out[i] = b"0123456789abcdef"[(v % R) as usize];
        v /= R;
        if v == 0 {
            return &out[i..];
        }
    }
}

/// A non-empty run of digits in `radix` (10 or 16) that is at most `max`.
fn number(b: &[u8], radix: u64, max: u64) -> Option<u64> {
    if b.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for &c in b {
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' if radix == 16 => c - b'a' + 10,
            b'A'..=b'F' if radix == 16 => c - b'A' + 10,
            _ => return None,
        };
        n = n.checked_mul(radix)?.checked_add(d.into())?;
    }
    (n <= max).then_some(n)
}

/// An interned account (index into the configured accounts).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AccountId(pub u16);
/// An interned instrument (index into the configured instruments).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct InstrumentId(pub u16);
/// An interned venue (index into the configured venues).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VenueId(pub u16);

/// Buy or sell. (Discriminants are the journal's encoding: never renumber.)
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Side {
    /// Increases the position.
    Buy = 0,
    /// Decreases the position.
    Sell = 1,
}

impl Side {
    /// +1 for a buy, -1 for a sell.
    pub fn sign(self) -> i64 {
        match self {
            Side::Buy => 1,
            Side::Sell => -1,
        }
    }

    /// The other side.
    pub fn opposite(self) -> Side {
        match self {
            Side::Buy => Side::Sell,
            Side::Sell => Side::Buy,
        }
    }

    /// "BUY" / "SELL".
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Buy => "BUY",
            Side::Sell => "SELL",
        }
    }
}

/// Order type (R-IN-1). (Discriminants are the journal's encoding: never renumber.)
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum OrderType {
    /// Fill at the market.
    Market = 0,
    /// Fill at the limit price or better.
    Limit = 1,
    /// Becomes a market order when the stop price trades.
    Stop = 2,
    /// Becomes a limit order when the stop price trades.
    StopLimit = 3,
}

impl OrderType {
    /// The name upstream uses.
    pub fn as_str(self) -> &'static str {
        match self {
            OrderType::Market => "MARKET",
            OrderType::Limit => "LIMIT",
            OrderType::Stop => "STOP",
            OrderType::StopLimit => "STOP_LIMIT",
        }
    }

    /// Whether the order carries a limit price.
    pub fn has_limit(self) -> bool {
        matches!(self, OrderType::Limit | OrderType::StopLimit)
    }

    /// Whether the order carries a stop price.
    pub fn has_stop(self) -> bool {
        matches!(self, OrderType::Stop | OrderType::StopLimit)
    }
}

/// Time in force (R-IN-1). (Discriminants are the journal's encoding: never renumber.)
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Tif {
    /// Good till canceled.
    Gtc = 0,
    /// Good for the trading day.
    Day = 1,
    /// Immediate or cancel.
    Ioc = 2,
    /// Fill or kill.
    Fok = 3,
}

impl Tif {
    /// The name upstream uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Tif::Gtc => "GTC",
            Tif::Day => "DAY",
            Tif::Ioc => "IOC",
            Tif::Fok => "FOK",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_str_round_trips_and_bounds() {
        let s = ShortStr::<8>::new("abc").unwrap();
        assert_eq!(s.as_str(), "abc");
        assert!(ShortStr::<2>::new("abc").is_err());
        let n = ShortStr::<16>::from_prefixed_u64("req-", 9012).unwrap();
        assert_eq!(n.as_str(), "req-9012");
        assert!(ShortStr::<4>::from_prefixed_u64("req-", 1).is_err());
    }

    #[test]
    fn cl_ord_id_round_trips() {
        let c = ClOrdId {
            epoch: 0x1f,
            order: OrderId(42),
            version: 3,
        };
        assert_eq!(c.to_string(), "1f-42-3");
        assert_eq!(ClOrdId::parse("1f-42-3"), Some(c));
        assert_eq!(ClOrdId::parse("1f-42"), None);
        assert_eq!(ClOrdId::parse("zz-1-0"), None);
        assert_eq!(ClOrdId::parse("1F-42-3"), Some(c));
        let max = ClOrdId {
            epoch: u32::MAX,
            order: OrderId(u64::MAX),
            version: u16::MAX,
        };
        assert_eq!(ClOrdId::parse(&max.to_string()), Some(max));
        for id in [c, max, ClOrdId::default()] {
            let mut buf = [0u8; 40];
            assert_eq!(id.write_into(&mut buf), id.to_string().as_bytes());
            assert_eq!(ClOrdId::parse_bytes(id.write_into(&mut buf)), Some(id));
        }
        for bad in [
            "",
            "1f-42-3-",
            "1f-42-3-0",
            "-42-3",
            "1f--3",
            "1f-42-",
            "+1f-42-3",
            "1f-+42-3",
            "1f-42-+3",
            "1f-4a-3",
            "1f-42-3 ",
            "100000000-42-3",
            "1f-18446744073709551616-3",
            "1f-42-65536",
            "1f-99999999999999999999999-3",
        ] {
            assert_eq!(ClOrdId::parse(bad), None, "{bad:?}");
        }
    }
}
