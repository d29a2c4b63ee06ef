//! The little-endian cursor every record family writes into a caller's buffer (no
//! allocation) and reads back with every length and tag checked: a damaged record is an
//! error, never a panic.

use crate::model::control::{KillState, Mode};
use crate::model::event::Scope;
use crate::model::fixed::Dec;
use crate::model::ids::{ClOrdId, Name, OrderId, ShortStr};
use crate::model::order_state::OrderState;
use crate::model::reason::Reason;

/// Why bytes could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CodecError(pub &'static str);

impl std::fmt::Display for CodecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

pub(super) type R<T> = Result<T, CodecError>;

/// Enums are written as their index in a declared `ALL` list, so the list's order is
/// the encoding: append, never reorder.
pub(super) fn index_of<T: PartialEq>(all: &[T], x: &T) -> u8 {
    all.iter().position(|y| y == x).unwrap_or(0) as u8
}

pub(super) fn pick<T: Copy>(all: &[T], i: u8, what: &'static str) -> R<T> {
    all.get(i as usize).copied().ok_or(CodecError(what))
}

/// Writes into a buffer sized for the largest record of its family.
pub(super) struct Out<'a> {
    buf: &'a mut [u8],
    n: usize,
}

impl<'a> Out<'a> {
    pub(super) fn new(buf: &'a mut [u8]) -> Out<'a> {
        Out { buf, n: 0 }
    }
    /// Bytes written.
    pub(super) fn len(&self) -> usize {
        self.n
    }
    pub(super) fn bytes(&mut self, b: &[u8]) {
        self.buf[self.n..self.n + b.len()].copy_from_slice(b);
        self.n += b.len();
    }
    pub(super) fn u8(&mut self, v: u8) {
        self.bytes(&[v]);
    }
    pub(super) fn u32(&mut self, v: u32) {
        self.bytes(&v.to_le_bytes());
    }
    pub(super) fn u64(&mut self, v: u64) {
        self.bytes(&v.to_le_bytes());
    }
    pub(super) fn i64(&mut self, v: i64) {
        self.bytes(&v.to_le_bytes());
    }
    pub(super) fn str<const N: usize>(&mut self, s: &ShortStr<N>) {
        self.u8(s.as_bytes().len() as u8);
        self.bytes(s.as_bytes());
    }
    pub(super) fn dec(&mut self, d: Dec) {
        self.i64(d.mant);
        self.u8(d.scale);
    }
    pub(super) fn opt_dec(&mut self, d: Option<Dec>) {
        match d {
            None => self.u8(0),
            Some(d) => {
                self.u8(1);
                self.dec(d);
            }
        }
    }
    pub(super) fn oid(&mut self, o: OrderId) {
        self.u64(o.0);
    }
    /// Order ids start at 1, so 0 stands for none.
    pub(super) fn opt_oid(&mut self, o: Option<OrderId>) {
        self.u64(o.map_or(0, |o| o.0));
    }
    pub(super) fn cl(&mut self, c: ClOrdId) {
        self.u32(c.epoch);
        self.oid(c.order);
        self.u32(c.version as u32);
    }
    pub(super) fn reason(&mut self, r: Option<Reason>) {
        self.u8(r.map_or(255, |r| index_of(Reason::ALL, &r)));
    }
    pub(super) fn state(&mut self, s: OrderState) {
        self.u8(index_of(&OrderState::ALL, &s));
    }
    pub(super) fn opt_state(&mut self, s: Option<OrderState>) {
        self.u8(s.map_or(255, |s| index_of(&OrderState::ALL, &s)));
    }
    /// An optional interned id (account, instrument, venue): 0 for none, else id + 1.
    pub(super) fn opt_id(&mut self, id: Option<u16>) {
        self.u32(id.map_or(0, |i| u32::from(i) + 1));
    }
    pub(super) fn opt_str<const N: usize>(&mut self, s: &Option<ShortStr<N>>) {
        match s {
            None => self.u8(0),
            Some(s) => {
                self.u8(1);
                self.str(s);
            }
        }
    }
    pub(super) fn scope(&mut self, s: &Scope) {
        let (tag, name) = match s {
            Scope::Global => (0, Name::EMPTY),
            Scope::Venue(n) => (1, *n),
            Scope::Account(n) => (2, *n),
            Scope::Symbol(n) => (3, *n),
        };
        self.u8(tag);
        self.str(&name);
    }
}

/// Reads a record's payload front to back.
pub(super) struct In<'a> {
    b: &'a [u8],
}

impl<'a> In<'a> {
    pub(super) fn new(b: &'a [u8]) -> In<'a> {
        In { b }
    }
    /// A record is exactly its fields: anything after them is damage.
    pub(super) fn end(&self) -> R<()> {
        if self.b.is_empty() {
            Ok(())
        } else {
            Err(CodecError("trailing bytes"))
        }
    }
    pub(super) fn take(&mut self, n: usize) -> R<&[u8]> {
        if self.b.len() < n {
            return Err(CodecError("record ends early"));
        }
        let (h, t) = self.b.split_at(n);
        self.b = t;
        Ok(h)
    }
    pub(super) fn u8(&mut self) -> R<u8> {
        Ok(self.take(1)?[0])
    }
    pub(super) fn bool(&mut self) -> R<bool> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(CodecError("bad flag")),
        }
    }
    pub(super) fn u32(&mut self) -> R<u32> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().map_err(|_| CodecError("u32"))?,
        ))
    }
    pub(super) fn u64(&mut self) -> R<u64> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().map_err(|_| CodecError("u64"))?,
        ))
    }
    pub(super) fn i64(&mut self) -> R<i64> {
        Ok(self.u64()? as i64)
    }
    pub(super) fn str<const N: usize>(&mut self) -> R<ShortStr<N>> {
        let n = self.u8()? as usize;
        ShortStr::from_bytes(self.take(n)?).map_err(|_| CodecError("bad string"))
    }
    pub(super) fn dec(&mut self) -> R<Dec> {
        let mant = self.i64()?;
        let scale = self.u8()?;
        if scale > 18 {
            return Err(CodecError("bad decimal scale"));
        }
        Ok(Dec { mant, scale })
    }
    pub(super) fn opt_dec(&mut self) -> R<Option<Dec>> {
        Ok(if self.bool()? {
            Some(self.dec()?)
        } else {
            None
        })
    }
    pub(super) fn oid(&mut self) -> R<OrderId> {
        Ok(OrderId(self.u64()?))
    }
    pub(super) fn opt_oid(&mut self) -> R<Option<OrderId>> {
        let v = self.u64()?;
        Ok((v != 0).then_some(OrderId(v)))
    }
    pub(super) fn cl(&mut self) -> R<ClOrdId> {
        Ok(ClOrdId {
            epoch: self.u32()?,
            order: self.oid()?,
            version: u16::try_from(self.u32()?).map_err(|_| CodecError("bad version"))?,
        })
    }
    pub(super) fn reason(&mut self) -> R<Option<Reason>> {
        match self.u8()? {
            255 => Ok(None),
            i => pick(Reason::ALL, i, "bad reason").map(Some),
        }
    }
    pub(super) fn some_reason(&mut self) -> R<Reason> {
        self.reason()?.ok_or(CodecError("missing reason"))
    }
    pub(super) fn state(&mut self) -> R<OrderState> {
        pick(&OrderState::ALL, self.u8()?, "bad order state")
    }
    pub(super) fn opt_state(&mut self) -> R<Option<OrderState>> {
        match self.u8()? {
            255 => Ok(None),
            i => pick(&OrderState::ALL, i, "bad order state").map(Some),
        }
    }
    pub(super) fn opt_id(&mut self) -> R<Option<u16>> {
        match self.u32()? {
            0 => Ok(None),
            n => u16::try_from(n - 1)
                .map(Some)
                .map_err(|_| CodecError("bad id")),
        }
    }
    pub(super) fn opt_str<const N: usize>(&mut self) -> R<Option<ShortStr<N>>> {
        Ok(if self.bool()? {
            Some(self.str()?)
        } else {
            None
        })
    }
    pub(super) fn kill_state(&mut self) -> R<KillState> {
        match self.u8()? {
            0 => Ok(KillState::Off),
            1 => Ok(KillState::Warning),
            2 => Ok(KillState::Active),
            _ => Err(CodecError("bad kill-switch state")),
        }
    }
    pub(super) fn mode(&mut self) -> R<Mode> {
        match self.u8()? {
            0 => Ok(Mode::Guide),
            1 => Ok(Mode::Autonomous),
            _ => Err(CodecError("bad mode")),
        }
    }
    pub(super) fn scope(&mut self) -> R<Scope> {
        let tag = self.u8()?;
        let name: Name = self.str()?;
        Ok(match tag {
            0 => Scope::Global,
            1 => Scope::Venue(name),
            2 => Scope::Account(name),
            3 => Scope::Symbol(name),
            _ => return Err(CodecError("bad scope")),
        })
    }
}
