//! What the gateway remembers of one session's orders: which core order each ClOrdID
//! is, what the client has been told of it, and the cancel or replace it is waiting
//! for. Bounded: past its capacity the oldest finished order is forgotten.

use crate::model::fixed::Dec;
use crate::model::ids::{InstrumentId, OrderId, ShortStr};
use crate::model::request::ExecutionRequest;
use rustc_hash::FxHashMap;
use std::collections::VecDeque;

/// A ClOrdID (or any id the client names an order by), as long as a request id allows.
pub type ClientId = ShortStr<32>;

/// Most ClOrdIDs one order answers to (its own, its replaces', its cancels'): a client
/// amending one order without end must not grow the gateway's memory without end.
pub const MAX_ALIASES: usize = 256;

/// FIX OrdStatus values the gateway reports (the characters on the wire).
pub mod status {
    /// Nothing reported yet.
    pub const NONE: u8 = 0;
    /// New (acknowledged by the venue).
    pub const NEW: u8 = b'0';
    /// Partially filled.
    pub const PARTIAL: u8 = b'1';
    /// Filled.
    pub const FILLED: u8 = b'2';
    /// Canceled.
    pub const CANCELED: u8 = b'4';
    /// Rejected.
    pub const REJECTED: u8 = b'8';
    /// Pending new (through the gate, sent to the venue).
    pub const PENDING_NEW: u8 = b'A';
    /// Expired.
    pub const EXPIRED: u8 = b'C';

    /// Whether nothing more can happen to the order (bar a late fill).
    pub fn is_terminal(s: u8) -> bool {
        matches!(s, FILLED | CANCELED | REJECTED | EXPIRED)
    }
}

/// A cancel (`F`) or cancel/replace (`G`) the client asked for and has no answer to yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pending {
    /// `b'F'` or `b'G'`: the MsgType of the request.
    pub kind: u8,
    /// The request's own ClOrdID.
    pub cl: ClientId,
    /// New order quantity (replace; a cancel carries the order's).
    pub qty: Dec,
    /// New limit (stop, for stop orders), if the order has one.
    pub px: Option<Dec>,
    /// The core took it (the order went PendingCancel or PendingReplace); not persisted.
    pub acked: bool,
}

/// One side's picture of an order: what the client has been told (`told`) or will be
/// once the reports queued for it go out (`known`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct View {
    /// FIX OrdStatus ([`status`]); [`status::NONE`] before the first report.
    pub status: u8,
    /// Filled quantity, at the instrument's quantity scale.
    pub cum: i64,
    /// Σ price × quantity of the fills, as mantissas at the instrument's scales.
    pub notional: i128,
    /// The ClOrdID the order goes by now (the last replace's).
    pub cl: ClientId,
    /// Order quantity now, as the client wrote it.
    pub qty: Dec,
    /// Limit (stop, for stop orders) now.
    pub px: Option<Dec>,
    /// The cancel or replace waiting for an answer.
    pub pending: Option<Pending>,
}

impl View {
    /// Before anything happened: the order as the client sent it.
    pub fn new(cl: ClientId, req: &ExecutionRequest) -> View {
        View {
            status: status::NONE,
            cum: 0,
            notional: 0,
            cl,
            qty: req.quantity,
            px: order_price(req),
            pending: None,
        }
    }
}

/// The price a replace amends and a report echoes: the limit, or the stop of a stop
/// order.
pub fn order_price(req: &ExecutionRequest) -> Option<Dec> {
    if req.order_type.has_limit() {
        req.limit_price
    } else {
        req.stop_price
    }
}

/// One client order.
#[derive(Clone, Debug)]
pub struct ClientOrder {
    /// The ClOrdID of its NewOrderSingle (the request id's suffix).
    pub key: ClientId,
    /// The request as submitted to the core.
    pub req: ExecutionRequest,
    /// MsgSeqNum of its NewOrderSingle.
    pub in_seq: u64,
    /// The core's order, once it answered.
    pub order: Option<OrderId>,
    /// Its instrument, when configured (for the scales of fills).
    pub inst: Option<InstrumentId>,
    /// What the client will know once queued reports are out.
    pub known: View,
    /// What the client has been sent (persisted).
    pub told: View,
    /// Commands about it still in flight to the core (it is not forgotten meanwhile).
    pub busy: u16,
    /// ClOrdIDs it answers to besides its key.
    pub aliases: Vec<ClientId>,
}

/// The session is full of orders that are not finished.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Full;

/// One session's orders.
pub struct Book {
    slots: Vec<Option<ClientOrder>>,
    free: Vec<u32>,
    by_cl: FxHashMap<ClientId, u32>,
    by_order: FxHashMap<OrderId, u32>,
    /// Slots whose told state is final, oldest first: the first to forget.
    finished: VecDeque<u32>,
    cap: usize,
}

impl Book {
    /// An empty book for up to `cap` orders.
    pub fn new(cap: usize) -> Book {
        Book {
            slots: Vec::with_capacity(cap.min(1 << 16)),
            free: Vec::new(),
            by_cl: FxHashMap::default(),
            by_order: FxHashMap::default(),
            finished: VecDeque::new(),
            cap: cap.max(1),
        }
    }

    /// Orders held.
    pub fn len(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    /// The order in `slot`.
    pub fn get(&self, slot: u32) -> Option<&ClientOrder> {
        self.slots.get(slot as usize)?.as_ref()
    }

    /// The order in `slot`, to change.
    pub fn get_mut(&mut self, slot: u32) -> Option<&mut ClientOrder> {
        self.slots.get_mut(slot as usize)?.as_mut()
    }

    /// The order a ClOrdID names (its own or any alias).
    pub fn find(&self, cl: &[u8]) -> Option<u32> {
        let id = ClientId::from_bytes(cl).ok()?;
        self.by_cl.get(&id).copied()
    }

    /// The order with `key` as its own ClOrdID.
    pub fn by_key(&self, key: &ClientId) -> Option<u32> {
        self.by_cl
            .get(key)
            .copied()
            .filter(|&s| self.get(s).is_some_and(|o| o.key == *key))
    }

    /// The client order the core knows as `order`.
    pub fn by_order(&self, order: OrderId) -> Option<u32> {
        self.by_order.get(&order).copied()
    }

    /// Every order with its slot.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &ClientOrder)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, o)| o.as_ref().map(|o| (i as u32, o)))
    }

    /// Stores a new order, forgetting the oldest finished one if the book is full.
    /// Returns its slot. `grow` ignores the capacity (restoring what was there).
    pub fn insert(&mut self, o: ClientOrder, grow: bool) -> Result<u32, Full> {
        if self.len() >= self.cap && !grow {
            self.forget_oldest()?;
        }
        let key = o.key;
        let order = o.order;
        let slot = match self.free.pop() {
            Some(s) => {
                self.slots[s as usize] = Some(o);
                s
            }
            None => {
                self.slots.push(Some(o));
                (self.slots.len() - 1) as u32
            }
        };
        self.by_cl.insert(key, slot);
        if let Some(id) = order {
            self.by_order.insert(id, slot);
        }
        Ok(slot)
    }

    fn forget_oldest(&mut self) -> Result<(), Full> {
        for _ in 0..self.finished.len() {
            let Some(s) = self.finished.pop_front() else {
                break;
            };
            match self.get(s) {
                Some(o) if status::is_terminal(o.told.status) && o.busy == 0 => {
                    self.remove(s);
                    return Ok(());
                }
                // Still waited on: its turn comes again.
                Some(o) if status::is_terminal(o.told.status) => self.finished.push_back(s),
                // The slot went to a newer order, which queues itself when it finishes.
                _ => {}
            }
        }
        Err(Full)
    }

    /// Forgets the order in `slot` and every id it answers to.
    pub fn remove(&mut self, slot: u32) {
        let Some(o) = self.slots.get_mut(slot as usize).and_then(|o| o.take()) else {
            return;
        };
        for cl in std::iter::once(&o.key).chain(o.aliases.iter()) {
            if self.by_cl.get(cl) == Some(&slot) {
                self.by_cl.remove(cl);
            }
        }
        if let Some(id) = o.order {
            if self.by_order.get(&id) == Some(&slot) {
                self.by_order.remove(&id);
            }
        }
        self.free.push(slot);
    }

    /// The core's order id for `slot`, now known.
    pub fn set_order(&mut self, slot: u32, id: OrderId) {
        if let Some(o) = self.get_mut(slot) {
            o.order = Some(id);
            self.by_order.insert(id, slot);
        }
    }

    /// `cl` names the order in `slot` too; false when it already names another order or
    /// the order has too many names.
    pub fn alias(&mut self, slot: u32, cl: ClientId) -> bool {
        match self.by_cl.get(&cl) {
            Some(&s) if s == slot => return true,
            Some(_) => return false,
            None => {}
        }
        let Some(o) = self.slots.get_mut(slot as usize).and_then(|o| o.as_mut()) else {
            return false;
        };
        if o.aliases.len() >= MAX_ALIASES {
            return false;
        }
        o.aliases.push(cl);
        self.by_cl.insert(cl, slot);
        true
    }

    /// Whether `slot` may take one more alias.
    pub fn has_room_for_alias(&self, slot: u32) -> bool {
        self.get(slot)
            .is_some_and(|o| o.aliases.len() < MAX_ALIASES)
    }

    /// The client has now been told the order is finished: it may be forgotten later.
    pub fn finished(&mut self, slot: u32) {
        self.finished.push_back(slot);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ids::Side;

    fn order(cl: &str) -> ClientOrder {
        let req = ExecutionRequest::market(cl, "alpha", "sim", "AAPL", Side::Buy, Dec::new(10, 0));
        let key = ClientId::new(cl).unwrap();
        ClientOrder {
            key,
            req,
            in_seq: 1,
            order: None,
            inst: None,
            known: View::new(key, &req),
            told: View::new(key, &req),
            busy: 0,
            aliases: Vec::new(),
        }
    }

    #[test]
    fn ids_aliases_and_forgetting_the_oldest_finished() {
        let mut b = Book::new(2);
        let a = b.insert(order("a"), false).unwrap();
        let c = b.insert(order("c"), false).unwrap();
        assert_eq!(
            b.insert(order("d"), false),
            Err(Full),
            "nothing finished yet"
        );
        b.set_order(a, OrderId(7));
        assert!(b.alias(a, ClientId::new("a2").unwrap()));
        assert!(
            !b.alias(c, ClientId::new("a2").unwrap()),
            "a2 names a already"
        );
        assert_eq!(b.find(b"a2"), Some(a));
        assert_eq!(b.by_order(OrderId(7)), Some(a));
        b.get_mut(a).unwrap().told.status = status::FILLED;
        b.finished(a);
        let d = b.insert(order("d"), false).unwrap();
        assert_eq!(d, a, "a's slot is reused");
        assert_eq!(b.find(b"a"), None);
        assert_eq!(b.find(b"a2"), None);
        assert_eq!(b.by_order(OrderId(7)), None);
        assert_eq!(b.by_key(&ClientId::new("d").unwrap()), Some(d));
        assert_eq!(b.len(), 2);
    }

    #[test]
    fn an_order_with_commands_in_flight_is_not_forgotten() {
        let mut b = Book::new(1);
        let a = b.insert(order("a"), false).unwrap();
        let o = b.get_mut(a).unwrap();
        o.told.status = status::CANCELED;
        o.busy = 1;
        b.finished(a);
        assert_eq!(b.insert(order("b"), false), Err(Full));
        assert!(b.insert(order("b"), true).is_ok(), "a restore may grow it");
    }
}
