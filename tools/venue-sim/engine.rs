//! The simulated broker behind the FIX sessions: orders, fill policies, the price path,
//! reject rules, positions, and answers scheduled on one timer heap.
//!
//! No sockets and no sessions here: [`Sim::on_app`] takes a decoded application message
//! and schedules [`Out`]s; the server pops them with [`Sim::pop_due`] when they are due
//! and encodes them for the session they belong to. Prices and quantities are integers
//! at [`SCALE`] decimals; answers are fixed-size values, so the fill path allocates
//! nothing per message once the order table and the heap have grown to their working size.

use execd::model::fixed::Dec;
use execd::venue::fix::codec::{self, Msg};
use execd::venue::fix::dictionary::Dictionary;
use execd::venue::fix::reject::UNSUPPORTED_MESSAGE_TYPE;
use execd::venue::fix::session::is_session_header_tag;
use execd::venue::fix::{msg_type, tag};
use rustc_hash::{FxHashMap, FxHashSet};
use std::cmp::Ordering;
use std::collections::BinaryHeap;

mod book;
mod lists;
mod quotes;
pub use quotes::QUOTE_SIZE;

/// Decimals of every internal price and quantity.
pub const SCALE: u8 = 8;
const ONE: i64 = 100_000_000;

/// How orders are answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// Fill at once: limits at their price, market orders at the path's price.
    Fill,
    /// Fill in `pieces` pieces, `interval_ns` apart, the first right after the New.
    Partial { pieces: u32, interval_ns: u64 },
    /// Limits rest until the price path reaches them; market orders fill at the path's
    /// price ± slippage.
    Book,
    /// QuickFIX's acceptance-test application: NewOrderSingle, SecurityDefinition and
    /// Email are sent back (new session header, the rest as received); a PossResend
    /// NewOrderSingle whose ClOrdID this session already saw is ignored; anything else
    /// gets a BusinessMessageReject (380=3).
    Echo,
}

/// The simulator's settings.
#[derive(Clone, Debug)]
pub struct SimConfig {
    pub policy: Policy,
    pub seed: u64,
    /// At [`SCALE`].
    pub start_price: i64,
    pub tick_ns: u64,
    /// Largest step of the path, in hundredths of a basis point.
    pub volatility_centi_bps: i64,
    pub slippage_bps: i64,
    pub reject_symbols: Vec<String>,
    /// At [`SCALE`].
    pub reject_qty_above: Option<i64>,
    pub reject_every: u64,
    pub latency_ns: u64,
    pub commission_bps: i64,
    /// Closed orders kept for status requests; older ones are forgotten and their slots
    /// reused, so memory stays flat however long a benchmark runs.
    pub keep_closed: usize,
    /// ExecInst (18) value read as "reduce-only": such an order never opens or flips a
    /// position (refused when it cannot reduce, clipped to the position when it fills).
    pub reduce_only_exec_inst: Option<u8>,
    /// Take NewOrderList (35=E) with ContingencyType 1 (one-cancels-other): a leg that
    /// fills cancels the other at once. Off: a list is an unsupported message.
    pub oco_lists: bool,
    /// Under the fill policy, stop orders (40=3) fill at once at their stop price, like
    /// limits at theirs (two legs of a pair hit in the same instant). Off: they rest
    /// until the price path reaches their trigger.
    pub stops_at_once: bool,
    /// Market data subscriptions are refreshed this often (0: a snapshot only).
    pub quotes_every_ns: u64,
}

/// FIX version of a session, for the few places the answers differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ver {
    Fix42,
    Fix44,
    /// FIXT.1.1 with FIX 5.0SP2 application messages.
    Fix50,
}

impl Ver {
    pub fn from_begin(b: &[u8]) -> Option<Ver> {
        match b {
            b"FIX.4.2" => Some(Ver::Fix42),
            b"FIX.4.4" => Some(Ver::Fix44),
            b"FIXT.1.1" => Some(Ver::Fix50),
            _ => None,
        }
    }
}

/// A short string field (ClOrdID, Symbol, Account …) kept inline: no allocation.
/// Longer values are cut at [`Id::CAP`] bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Id {
    len: u8,
    b: [u8; Id::CAP],
}

impl Id {
    pub const CAP: usize = 47;
    pub const EMPTY: Id = Id {
        len: 0,
        b: [0; Id::CAP],
    };
    pub fn new(v: &[u8]) -> Id {
        let n = v.len().min(Id::CAP);
        let mut b = [0; Id::CAP];
        b[..n].copy_from_slice(&v[..n]);
        Id { len: n as u8, b }
    }
    pub fn as_bytes(&self) -> &[u8] {
        &self.b[..self.len as usize]
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl std::fmt::Display for Id {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&String::from_utf8_lossy(self.as_bytes()))
    }
}

impl std::fmt::Debug for Id {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_bytes()))
    }
}

/// ExecType of an execution report, independent of the FIX version (the encoder maps
/// `Trade` to 1/2 and `Status` to ExecTransType 3 under FIX 4.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExecKind {
    New,
    Trade,
    Canceled,
    Replaced,
    Rejected,
    Status,
}

/// The mass-status fields of an ER answering 35=AF.
#[derive(Clone, Copy, Debug)]
pub struct Mass {
    pub req_id: Id,
    pub total: u32,
    pub last: bool,
}

/// An ExecutionReport (35=8).
#[derive(Clone, Copy, Debug)]
pub struct Exec {
    /// 0 = `NONE` (unknown order).
    pub order_id: u64,
    pub cl_ord_id: Id,
    pub orig_cl_ord_id: Id,
    pub exec_id: u64,
    pub kind: ExecKind,
    /// OrdStatus (39).
    pub status: u8,
    pub account: Id,
    pub symbol: Id,
    pub side: u8,
    pub ord_type: u8,
    pub qty: i64,
    /// 0 = none (market).
    pub price: i64,
    pub last_qty: i64,
    pub last_px: i64,
    pub leaves: i64,
    pub cum: i64,
    pub avg: i64,
    /// 0 = not sent.
    pub commission: i64,
    /// OrdRejReason (103), for rejected new orders.
    pub rej_reason: Option<u32>,
    pub text: &'static str,
    pub mass: Option<Mass>,
}

/// An OrderCancelReject (35=9).
#[derive(Clone, Copy, Debug)]
pub struct CxlReject {
    pub order_id: u64,
    pub cl_ord_id: Id,
    pub orig_cl_ord_id: Id,
    pub status: u8,
    /// CxlRejResponseTo (434): 1 cancel, 2 cancel/replace.
    pub response_to: u8,
    /// CxlRejReason (102): 0 too late, 1 unknown order, 99 other.
    pub reason: u32,
    pub text: &'static str,
}

/// One answer, for one session.
#[derive(Clone, Debug)]
pub enum OutKind {
    Exec(Exec),
    CxlReject(CxlReject),
    /// BusinessMessageReject (35=j).
    BizReject {
        ref_seq: u64,
        ref_msg_type: Id,
        reason: u32,
        text: &'static str,
    },
    /// RequestForPositionsAck (35=AO).
    PosAck {
        req_id: Id,
        rpt_id: u64,
        total: u32,
        /// PosReqResult (728): 0 valid, 2 no positions found.
        result: u32,
        account: Id,
    },
    /// PositionReport (35=AP).
    PosReport {
        req_id: Id,
        rpt_id: u64,
        total: u32,
        account: Id,
        symbol: Id,
        long: i64,
        short: i64,
    },
    /// ListStatus (35=N) answering a NewOrderList: taken (ListOrderStatus 3, executing)
    /// or refused whole (7).
    ListStatus {
        list_id: Id,
        legs: [Id; 2],
        rejected: bool,
        text: &'static str,
    },
    /// MarketDataSnapshotFullRefresh (35=W): a symbol's top of book.
    MdSnapshot {
        req_id: Id,
        symbol: Id,
        bid: i64,
        ask: i64,
    },
    /// MarketDataIncrementalRefresh (35=X): both sides of a symbol's top restated.
    MdIncrement {
        req_id: Id,
        symbol: Id,
        bid: i64,
        ask: i64,
    },
    /// MarketDataRequestReject (35=Y) with MDReqRejReason (281).
    MdReject {
        req_id: Id,
        reason: u32,
        text: &'static str,
    },
    /// An application message to send back with the same MsgType: its header fields
    /// the session does not write (97, 115, 128 …) and its body, each as `tag=value<SOH>`
    /// in the order they go out.
    Echo {
        msg_type: Id,
        header: Vec<u8>,
        body: Vec<u8>,
    },
}

/// An answer due at a time.
#[derive(Clone, Debug)]
pub struct Out {
    pub sess: u32,
    pub kind: OutKind,
}

// Answers are kept inline, not boxed: no allocation per scheduled answer.
#[allow(clippy::large_enum_variant)]
enum TaskKind {
    Send(Out),
    /// The next piece of a partial fill; stale when the order's `gen` moved on.
    Piece {
        order: u32,
        gen: u32,
    },
}

struct Task {
    due: u64,
    n: u64,
    kind: TaskKind,
}

impl PartialEq for Task {
    fn eq(&self, o: &Self) -> bool {
        (self.due, self.n) == (o.due, o.n)
    }
}
impl Eq for Task {}
impl PartialOrd for Task {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Task {
    // Reversed: BinaryHeap is a max-heap and we want the earliest first.
    fn cmp(&self, o: &Self) -> Ordering {
        (o.due, o.n).cmp(&(self.due, self.n))
    }
}

/// A seeded random walk, stepped every `tick_ns` (lazily: as many steps as time passed).
#[derive(Debug)]
struct PricePath {
    price: i64,
    next_tick: u64,
    rng: fastrand::Rng,
}

impl PricePath {
    fn step_to(&mut self, now: u64, cfg: &SimConfig) {
        if self.next_tick == 0 {
            self.next_tick = now + cfg.tick_ns;
            return;
        }
        if now < self.next_tick {
            return;
        }
        let mut steps = (now - self.next_tick) / cfg.tick_ns + 1;
        self.next_tick += steps * cfg.tick_ns;
        // After a long idle spell, do not spend the loop on history nobody saw.
        steps = steps.min(10_000);
        let v = cfg.volatility_centi_bps;
        for _ in 0..steps {
            if v == 0 {
                break;
            }
            let r = self.rng.i64(-v..=v) as i128;
            let d = (self.price as i128 * r / 1_000_000) as i64;
            self.price = (self.price + d).max(1);
        }
    }
}

/// The first byte of field `tag` (a CHAR field's value).
fn char_field(msg: &Msg<'_>, tag: u32) -> Option<u8> {
    msg.get(tag).and_then(|v| v.first().copied())
}

/// What a status or positions request's Account and Symbol select: everything when
/// they are absent.
#[derive(Clone, Copy)]
struct Scope<'a> {
    account: Option<&'a [u8]>,
    symbol: Option<&'a [u8]>,
}

impl<'a> Scope<'a> {
    fn of(msg: &Msg<'a>) -> Scope<'a> {
        Scope {
            account: msg.get(tag::ACCOUNT),
            symbol: msg.get(tag::SYMBOL),
        }
    }

    fn covers(&self, account: &Id, symbol: &Id) -> bool {
        self.account.is_none_or(|a| a == account.as_bytes())
            && self.symbol.is_none_or(|s| s == symbol.as_bytes())
    }
}

/// An order as the broker keeps it: fixed-size, so a closed one's slot is reused
/// without allocating. Prices and quantities at [`SCALE`]; `status` is its OrdStatus.
#[derive(Clone, Copy, Debug)]
struct Order {
    sess: u32,
    order_id: u64,
    cl_ord_id: Id,
    orig_cl_ord_id: Id,
    account: Id,
    symbol: Id,
    side: u8,
    ord_type: u8,
    qty: i64,
    price: i64,
    /// StopPx (99) of a stop order.
    stop: i64,
    /// Sent with the reduce-only ExecInst.
    reduce_only: bool,
    /// The other leg of its one-cancels-other list: (slot, epoch).
    oco: Option<(u32, u32)>,
    /// The smallest quantity step the client used (10^(8 - its decimals)).
    unit: i64,
    cum: i64,
    /// Σ qty × px at 2 × SCALE.
    notional: i128,
    status: u8,
    gen: u32,
    pieces_left: u32,
    piece: i64,
    /// Incremented each time the slot is reused; ClOrdID entries carry it.
    epoch: u32,
}

impl Order {
    fn open(&self) -> bool {
        matches!(self.status, b'0' | b'1' | b'5' | b'A' | b'E')
    }
    fn leaves(&self) -> i64 {
        if self.open() {
            self.qty - self.cum
        } else {
            0
        }
    }
    fn avg(&self) -> i64 {
        if self.cum == 0 {
            0
        } else {
            let c = self.cum as i128;
            ((self.notional + c / 2) / c) as i64
        }
    }
    fn buy(&self) -> bool {
        self.side == b'1' || self.side == b'3'
    }
}

/// What the status line counts.
#[derive(Clone, Copy, Debug, Default)]
pub struct Counters {
    pub orders: u64,
    pub fills: u64,
    pub cancels: u64,
    pub replaces: u64,
    pub rejects: u64,
    pub cancel_rejects: u64,
    pub business_rejects: u64,
    pub status_requests: u64,
    pub mass_status_requests: u64,
    pub position_requests: u64,
    pub echoed: u64,
    pub open_orders: u64,
    /// Fills made but, at an operator's request, never reported.
    pub dropped_fills: u64,
    /// One-cancels-other lists taken.
    pub lists: u64,
    /// Legs cancelled because the other leg of their list filled.
    pub oco_cancels: u64,
    /// Reduce-only fills clipped to the position (or cancelled with nothing to reduce).
    pub reduce_only_clipped: u64,
    /// MarketDataRequests received.
    pub md_requests: u64,
    /// MarketDataRequests refused (35=Y).
    pub md_rejects: u64,
    /// Snapshots and incremental refreshes sent.
    pub quotes_sent: u64,
}

/// The broker behind every session: orders, the price paths, and the answers due,
/// keyed by the session each belongs to.
pub struct Sim {
    cfg: SimConfig,
    orders: Vec<Order>,
    /// ClOrdID → (slot, epoch of the order it named).
    by_cl: FxHashMap<(u32, Id), (u32, u32)>,
    /// Closed orders, oldest first; beyond `keep_closed` their slots go to `free`.
    closed: std::collections::VecDeque<u32>,
    free: Vec<u32>,
    resting: Vec<u32>,
    paths: Vec<(Id, PricePath)>,
    positions: FxHashMap<(u32, Id, Id), i64>,
    heap: BinaryHeap<Task>,
    task_n: u64,
    next_order_id: u64,
    next_exec_id: u64,
    next_rpt_id: u64,
    new_orders_seen: u64,
    /// ClOrdIDs of NewOrderSingles each session sent since it logged on (echo policy).
    seen: FxHashSet<(u32, Id)>,
    /// Faults an operator asked for (control commands), so reconciliation has something
    /// to find: fills made but not reported, cancels refused as unknown.
    drop_fills: u32,
    refuse_cancels: u32,
    /// Books of clients not logged on since this start (`book.rs`), by CompID.
    kept: FxHashMap<String, book::Kept>,
    /// Market data subscriptions (`quotes.rs`), and when they are next refreshed.
    subs: Vec<quotes::Sub>,
    next_quotes: u64,
    quotes_paused: bool,
    pub counters: Counters,
}

/// Whether an order on this side reduces a position of `pos` (never one that is flat).
fn reduces(pos: i64, buy: bool) -> bool {
    if buy {
        pos < 0
    } else {
        pos > 0
    }
}

fn leaf_to_scale(d: Dec) -> Option<i64> {
    if d.scale > SCALE {
        // More decimals than we keep: accept only if exact.
        d.to_scale(SCALE)
    } else {
        d.to_scale(SCALE)
    }
}

fn unit_of(d: Dec) -> i64 {
    let s = d.scale.min(SCALE);
    execd::model::fixed::POW10[(SCALE - s) as usize]
}

impl Sim {
    pub fn new(cfg: SimConfig) -> Sim {
        Sim {
            cfg,
            orders: Vec::with_capacity(1 << 16),
            by_cl: FxHashMap::default(),
            closed: std::collections::VecDeque::new(),
            free: Vec::new(),
            resting: Vec::with_capacity(1024),
            paths: Vec::new(),
            positions: FxHashMap::default(),
            heap: BinaryHeap::with_capacity(1 << 12),
            task_n: 0,
            next_order_id: 1,
            next_exec_id: 1,
            next_rpt_id: 1,
            new_orders_seen: 0,
            seen: FxHashSet::default(),
            drop_fills: 0,
            refuse_cancels: 0,
            kept: FxHashMap::default(),
            subs: Vec::new(),
            next_quotes: 0,
            quotes_paused: false,
            counters: Counters::default(),
        }
    }

    pub fn config(&self) -> &SimConfig {
        &self.cfg
    }

    /// Every position held: (account, symbol, net quantity at [`SCALE`]), summed over
    /// sessions, in name order.
    pub fn net_positions(&self) -> Vec<(String, String, i64)> {
        let mut m: std::collections::BTreeMap<(String, String), i64> = Default::default();
        for ((_, a, s), q) in &self.positions {
            *m.entry((a.to_string(), s.to_string())).or_insert(0) += q;
        }
        m.into_iter().map(|((a, s), q)| (a, s, q)).collect()
    }

    /// When the next scheduled answer or piece is due, or the next path step matters
    /// (only when limits rest under the book policy).
    pub fn next_deadline(&self) -> Option<u64> {
        let h = self.heap.peek().map(|t| t.due);
        let p = if self.resting.is_empty() {
            None
        } else {
            self.paths.iter().map(|(_, p)| p.next_tick).min()
        };
        [h, p, self.next_quotes_at()].into_iter().flatten().min()
    }

    fn push(&mut self, due: u64, kind: TaskKind) {
        self.task_n += 1;
        self.heap.push(Task {
            due,
            n: self.task_n,
            kind,
        });
    }

    fn send(&mut self, now: u64, sess: u32, kind: OutKind) {
        let due = now + self.cfg.latency_ns;
        self.push(due, TaskKind::Send(Out { sess, kind }));
    }

    fn exec_id(&mut self) -> u64 {
        let e = self.next_exec_id;
        self.next_exec_id += 1;
        e
    }

    fn path_price(&mut self, symbol: &Id, now: u64) -> i64 {
        let i = match self.paths.iter().position(|(s, _)| s == symbol) {
            Some(i) => i,
            None => {
                let seed = self.cfg.seed
                    ^ xxhash_rust::xxh3::xxh3_64(symbol.as_bytes())
                    ^ 0x9e37_79b9_7f4a_7c15;
                self.paths.push((
                    *symbol,
                    PricePath {
                        price: self.cfg.start_price,
                        next_tick: 0,
                        rng: fastrand::Rng::with_seed(seed),
                    },
                ));
                self.paths.len() - 1
            }
        };
        let cfg = &self.cfg;
        let p = &mut self.paths[i].1;
        p.step_to(now, cfg);
        p.price
    }

    /// The current path price of `symbol`.
    #[cfg(test)]
    pub fn price_of(&mut self, symbol: &[u8], now: u64) -> i64 {
        self.path_price(&Id::new(symbol), now)
    }

    fn exec(&mut self, o: &Order, kind: ExecKind, last_qty: i64, last_px: i64) -> Exec {
        let commission = if kind == ExecKind::Trade && self.cfg.commission_bps > 0 {
            let n = last_qty as i128 * last_px as i128 / ONE as i128;
            (n * self.cfg.commission_bps as i128 / 10_000) as i64
        } else {
            0
        };
        Exec {
            order_id: o.order_id,
            cl_ord_id: o.cl_ord_id,
            orig_cl_ord_id: o.orig_cl_ord_id,
            exec_id: self.exec_id(),
            kind,
            status: o.status,
            account: o.account,
            symbol: o.symbol,
            side: o.side,
            ord_type: o.ord_type,
            qty: o.qty,
            price: o.price,
            last_qty,
            last_px,
            leaves: o.leaves(),
            cum: o.cum,
            avg: o.avg(),
            commission,
            rej_reason: None,
            text: "",
            mass: None,
        }
    }

    /// Handles one application message from session `sess`; `dict` is the session's
    /// dictionary, if it has one (the echo writes bodies in its order).
    pub fn on_app(&mut self, now: u64, sess: u32, msg: &Msg<'_>, dict: Option<&Dictionary>) {
        if self.cfg.policy == Policy::Echo {
            self.echo(now, sess, msg, dict);
            return;
        }
        match msg.msg_type() {
            msg_type::NEW_ORDER_SINGLE => self.new_order(now, sess, msg),
            msg_type::NEW_ORDER_LIST if self.cfg.oco_lists => self.new_list(now, sess, msg),
            msg_type::ORDER_CANCEL_REQUEST => self.cancel(now, sess, msg),
            msg_type::ORDER_CANCEL_REPLACE_REQUEST => self.replace(now, sess, msg),
            msg_type::ORDER_STATUS_REQUEST => self.status(now, sess, msg),
            msg_type::ORDER_MASS_STATUS_REQUEST => self.mass_status(now, sess, msg),
            msg_type::REQUEST_FOR_POSITIONS => self.positions(now, sess, msg),
            msg_type::MARKET_DATA_REQUEST => self.market_data_request(now, sess, msg),
            _ => self.unsupported(now, sess, msg),
        }
    }

    /// A session logged out or lost its connection: what it sent is forgotten by the
    /// echo policy's duplicate check (as QuickFIX's application forgets on logout).
    pub fn session_ended(&mut self, sess: u32) {
        self.seen.retain(|(s, _)| *s != sess);
        self.subs.retain(|s| s.sess != sess);
    }

    fn unsupported(&mut self, now: u64, sess: u32, msg: &Msg<'_>) {
        self.counters.business_rejects += 1;
        let kind = OutKind::BizReject {
            ref_seq: msg.seq().unwrap_or(0),
            ref_msg_type: Id::new(msg.msg_type()),
            reason: UNSUPPORTED_MESSAGE_TYPE,
            text: "Unsupported Message Type",
        };
        self.send(now, sess, kind);
    }

    fn echo(&mut self, now: u64, sess: u32, msg: &Msg<'_>, dict: Option<&Dictionary>) {
        let mt = msg.msg_type();
        if !matches!(
            mt,
            msg_type::NEW_ORDER_SINGLE | msg_type::SECURITY_DEFINITION | msg_type::EMAIL
        ) {
            return self.unsupported(now, sess, msg);
        }
        if mt == msg_type::NEW_ORDER_SINGLE {
            let cl = Id::new(msg.get(tag::CL_ORD_ID).unwrap_or(b""));
            let fresh = self.seen.insert((sess, cl));
            if !fresh && msg.get(tag::POSS_RESEND) == Some(b"Y") {
                return;
            }
        }
        self.counters.echoed += 1;
        let put = |out: &mut Vec<u8>, tag: u32, v: &[u8]| {
            out.extend_from_slice(itoa(tag).as_bytes());
            out.push(b'=');
            out.extend_from_slice(v);
            out.push(1);
        };
        // The session writes 34, 49, 52, 56 anew; PossDupFlag and OrigSendingTime belong
        // to the copy that came in, not to the answer.
        let header = codec::header_fields_in_order(msg.fields(), is_session_header_tag);
        let mut hb = Vec::new();
        for f in header {
            put(&mut hb, f.tag, f.value);
        }
        let body: Vec<_> = match dict.and_then(|d| d.body_in_order(msg)) {
            Some(b) => b,
            None => msg
                .fields()
                .filter(|f| !codec::is_standard_header_tag(f.tag) && !matches!(f.tag, 10 | 89 | 93))
                .collect(),
        };
        let mut bb = Vec::with_capacity(msg.raw().len());
        for f in body {
            put(&mut bb, f.tag, f.value);
        }
        let kind = OutKind::Echo {
            msg_type: Id::new(mt),
            header: hb,
            body: bb,
        };
        self.send(now, sess, kind);
    }

    fn reject_new(&mut self, now: u64, o: &mut Order, reason: u32, text: &'static str) {
        o.status = b'8';
        self.counters.rejects += 1;
        let mut e = self.exec(o, ExecKind::Rejected, 0, 0);
        e.rej_reason = Some(reason);
        e.text = text;
        self.send(now, o.sess, OutKind::Exec(e));
    }

    fn new_order(&mut self, now: u64, sess: u32, msg: &Msg<'_>) {
        let o = self.order_from(sess, |t| msg.get(t));
        if let Some(o) = self.check_new(now, o) {
            let idx = self.open_new(now, o);
            self.evaluate(now, idx, true);
        }
    }

    /// A new order as its fields (`get`) describe it, numbered.
    fn order_from<'m>(&mut self, sess: u32, get: impl Fn(u32) -> Option<&'m [u8]>) -> Order {
        self.counters.orders += 1;
        self.new_orders_seen += 1;
        let dec = |t| get(t).and_then(|v| Dec::parse_bytes(v).ok());
        let qty_dec = dec(tag::ORDER_QTY);
        let first = |t| get(t).and_then(|v: &[u8]| v.first().copied());
        let reduce_only = match (self.cfg.reduce_only_exec_inst, get(tag::EXEC_INST)) {
            // ExecInst is a space-separated list of instructions.
            (Some(c), Some(v)) => v.split(|&b| b == b' ').any(|i| i == [c]),
            _ => false,
        };
        let o = Order {
            sess,
            order_id: self.next_order_id,
            cl_ord_id: Id::new(get(tag::CL_ORD_ID).unwrap_or(b"")),
            orig_cl_ord_id: Id::EMPTY,
            account: Id::new(get(tag::ACCOUNT).unwrap_or(b"")),
            symbol: Id::new(get(tag::SYMBOL).unwrap_or(b"")),
            side: first(tag::SIDE).unwrap_or(0),
            ord_type: first(tag::ORD_TYPE).unwrap_or(b'1'),
            qty: qty_dec.and_then(leaf_to_scale).unwrap_or(0),
            price: dec(tag::PRICE).and_then(leaf_to_scale).unwrap_or(0),
            stop: dec(tag::STOP_PX).and_then(leaf_to_scale).unwrap_or(0),
            reduce_only,
            oco: None,
            unit: qty_dec.map(unit_of).unwrap_or(1),
            cum: 0,
            notional: 0,
            status: b'0',
            gen: 0,
            pieces_left: 0,
            piece: 0,
            epoch: 0,
        };
        self.next_order_id += 1;
        o
    }

    /// The order if it may be taken; else it is rejected (told and kept closed).
    fn check_new(&mut self, now: u64, mut o: Order) -> Option<Order> {
        let why = self.refusal(&o);
        if let Some((reason, text)) = why {
            if o.ord_type != b'2' {
                o.price = 0;
            }
            self.reject_new(now, &mut o, reason, text);
            if !o.cl_ord_id.is_empty() && self.known(o.sess, o.cl_ord_id).is_none() {
                let idx = self.alloc(o);
                self.closed(idx);
            }
            return None;
        }
        Some(o)
    }

    /// Takes a checked order: acknowledged (ER New) and stored; the policy runs next.
    fn open_new(&mut self, now: u64, mut o: Order) -> u32 {
        if o.ord_type == b'1' {
            o.price = 0;
        }
        self.counters.open_orders += 1;
        let e = self.exec(&o, ExecKind::New, 0, 0);
        self.send(now, o.sess, OutKind::Exec(e));
        self.alloc(o)
    }

    /// The position a session holds in an account and symbol.
    fn position(&self, o: &Order) -> i64 {
        self.positions
            .get(&(o.sess, o.account, o.symbol))
            .copied()
            .unwrap_or(0)
    }

    /// Why a new order is refused, if it is: OrdRejReason and text, most basic first.
    fn refusal(&self, o: &Order) -> Option<(u32, &'static str)> {
        let sess = o.sess;
        let why: Option<(u32, &'static str)> = if o.cl_ord_id.is_empty() {
            Some((99, "missing ClOrdID (11)"))
        } else if self.known(sess, o.cl_ord_id).is_some() {
            Some((6, "duplicate ClOrdID"))
        } else if o.symbol.is_empty() {
            Some((1, "missing Symbol (55)"))
        } else if !matches!(o.side, b'1'..=b'6') {
            Some((99, "missing or unsupported Side (54)"))
        } else if o.qty <= 0 {
            Some((13, "OrderQty (38) missing, not positive or too precise"))
        } else if !matches!(o.ord_type, b'1' | b'2' | b'3') {
            Some((
                11,
                "only market (40=1), limit (40=2) and stop (40=3) orders",
            ))
        } else if o.ord_type == b'2' && o.price <= 0 {
            Some((99, "limit order without a positive Price (44)"))
        } else if o.ord_type == b'3' && o.stop <= 0 {
            Some((99, "stop order without a positive StopPx (99)"))
        } else if o.reduce_only && !reduces(self.position(o), o.buy()) {
            Some((99, "reduce-only order would open or increase a position"))
        } else if self
            .cfg
            .reject_symbols
            .iter()
            .any(|s| s.as_bytes() == o.symbol.as_bytes())
        {
            Some((1, "symbol rejected by the simulator"))
        } else if self.cfg.reject_qty_above.is_some_and(|m| o.qty > m) {
            Some((3, "quantity above the simulator's limit"))
        } else if self.cfg.reject_every > 0 && self.new_orders_seen % self.cfg.reject_every == 0 {
            Some((99, "rejected by reject-every"))
        } else {
            None
        };
        why
    }

    /// After a New or a Replace: fill, plan pieces, or rest, per the policy.
    fn evaluate(&mut self, now: u64, idx: u32, arrival: bool) {
        let o = self.orders[idx as usize];
        if !o.open() || o.leaves() <= 0 {
            return;
        }
        match self.cfg.policy {
            Policy::Fill | Policy::Echo if o.ord_type == b'3' && !self.cfg.stops_at_once => {
                self.rest_or_trigger(now, idx);
            }
            Policy::Fill | Policy::Echo => {
                let px = match o.ord_type {
                    b'2' => o.price,
                    b'3' => o.stop,
                    _ => self.path_price(&o.symbol, now),
                };
                self.fill(now, idx, o.leaves(), px);
            }
            Policy::Partial {
                pieces,
                interval_ns,
            } => {
                let units = (o.leaves() / o.unit).max(1);
                let n = (pieces as i64).min(units);
                let o = &mut self.orders[idx as usize];
                o.gen = o.gen.wrapping_add(1);
                o.pieces_left = n as u32;
                o.piece = (units / n) * o.unit;
                let gen = o.gen;
                // The first piece goes right after the New (same due time, later in the
                // heap), the rest `interval_ns` apart.
                let _ = arrival;
                let _ = interval_ns;
                self.push(now, TaskKind::Piece { order: idx, gen });
            }
            Policy::Book => {
                let market = self.path_price(&o.symbol, now);
                if o.ord_type == b'1' {
                    let slip = market as i128 * self.cfg.slippage_bps as i128 / 10_000;
                    let px = if o.buy() {
                        market + slip as i64
                    } else {
                        (market - slip as i64).max(1)
                    };
                    self.fill(now, idx, o.leaves(), px);
                } else if o.ord_type == b'3' {
                    self.rest_or_trigger(now, idx);
                } else if (o.buy() && market <= o.price) || (!o.buy() && market >= o.price) {
                    self.fill(now, idx, o.leaves(), market);
                } else if !self.resting.contains(&idx) {
                    self.resting.push(idx);
                }
            }
        }
    }

    fn fill(&mut self, now: u64, idx: u32, qty: i64, px: i64) {
        let o = self.orders[idx as usize];
        let mut qty = qty.min(o.qty - o.cum);
        if qty <= 0 || !o.open() {
            return;
        }
        if o.reduce_only {
            // Never beyond the position: what is left of it is all it may take.
            let pos = self.position(&o);
            let room = if reduces(pos, o.buy()) { pos.abs() } else { 0 };
            if qty > room {
                self.counters.reduce_only_clipped += 1;
                qty = room;
            }
            if qty == 0 {
                self.cancel_unsolicited(now, idx);
                return;
            }
        }
        // One-cancels-other: the other leg goes first, in the same instant.
        if let Some((other, epoch)) = o.oco {
            if self
                .orders
                .get(other as usize)
                .is_some_and(|p| p.epoch == epoch)
            {
                self.orders[idx as usize].oco = None;
                if self.orders[other as usize].open() {
                    self.counters.oco_cancels += 1;
                }
                self.cancel_unsolicited(now, other);
            }
        }
        let o = &mut self.orders[idx as usize];
        o.cum += qty;
        o.notional += qty as i128 * px as i128;
        o.status = if o.cum >= o.qty { b'2' } else { b'1' };
        let o = *o;
        if o.status == b'2' {
            self.counters.open_orders -= 1;
            self.closed(idx);
        }
        self.counters.fills += 1;
        let signed = if o.buy() { qty } else { -qty };
        *self
            .positions
            .entry((o.sess, o.account, o.symbol))
            .or_insert(0) += signed;
        if self.drop_fills > 0 {
            // The broker booked it and lost the report: only its books say so now.
            self.drop_fills -= 1;
            self.counters.dropped_fills += 1;
            return;
        }
        let e = self.exec(&o, ExecKind::Trade, qty, px);
        self.send(now, o.sess, OutKind::Exec(e));
    }

    /// The next `n` fills are made without an execution report.
    pub fn drop_next_fills(&mut self, n: u32) {
        self.drop_fills = n;
    }

    /// The next `n` cancel requests are refused as for an unknown order (CxlRejReason 1).
    pub fn refuse_next_cancels(&mut self, n: u32) {
        self.refuse_cancels = n;
    }

    /// Adds `qty` (at the sim's scale) to a position of every session: one the client
    /// never traded. Returns how many sessions' books changed.
    pub fn invent_position(
        &mut self,
        sessions: &[u32],
        account: &[u8],
        symbol: &[u8],
        qty: i64,
    ) -> usize {
        for &sess in sessions {
            *self
                .positions
                .entry((sess, Id::new(account), Id::new(symbol)))
                .or_insert(0) += qty;
        }
        sessions.len()
    }

    /// Closes an open order by its ClOrdID without telling anyone, as a broker that lost
    /// it would. Returns whether one was found.
    pub fn forget_order(&mut self, cl: &[u8]) -> bool {
        let cl = Id::new(cl);
        let Some(idx) = self
            .by_cl
            .iter()
            .find(|((_, c), _)| *c == cl)
            .map(|(_, (idx, _))| *idx)
        else {
            return false;
        };
        let o = &mut self.orders[idx as usize];
        if !o.open() {
            return false;
        }
        o.status = b'4';
        o.gen = o.gen.wrapping_add(1);
        self.counters.open_orders -= 1;
        self.closed(idx);
        true
    }

    /// Parses a quantity as the sim keeps them.
    pub fn qty_of(text: &str) -> Option<i64> {
        Dec::parse(text).ok().and_then(leaf_to_scale)
    }

    fn piece(&mut self, now: u64, idx: u32, gen: u32) {
        let Some(o) = self.orders.get(idx as usize).copied() else {
            return;
        };
        if o.gen != gen || !o.open() || o.pieces_left == 0 {
            return;
        }
        let qty = if o.pieces_left == 1 {
            o.leaves()
        } else {
            o.piece.min(o.leaves())
        };
        let px = if o.ord_type == b'2' {
            o.price
        } else {
            self.path_price(&o.symbol, now)
        };
        self.orders[idx as usize].pieces_left -= 1;
        self.fill(now, idx, qty, px);
        let o = self.orders[idx as usize];
        if o.open() && o.pieces_left > 0 {
            if let Policy::Partial { interval_ns, .. } = self.cfg.policy {
                self.push(now + interval_ns, TaskKind::Piece { order: idx, gen });
            }
        }
    }

    /// Cancels an order of the broker's own accord (the other leg of a list filled, a
    /// reduce-only order with nothing left to reduce): ER Canceled, 41 = 11.
    fn cancel_unsolicited(&mut self, now: u64, idx: u32) {
        let o = &mut self.orders[idx as usize];
        if !o.open() {
            return;
        }
        o.status = b'4';
        o.orig_cl_ord_id = o.cl_ord_id;
        o.gen = o.gen.wrapping_add(1);
        o.oco = None;
        let o = *o;
        self.counters.open_orders -= 1;
        self.counters.cancels += 1;
        self.closed(idx);
        let mut e = self.exec(&o, ExecKind::Canceled, 0, 0);
        e.leaves = 0;
        self.send(now, o.sess, OutKind::Exec(e));
    }

    /// A stop order fills at the path's price once the path reaches its trigger; until
    /// then it rests.
    fn rest_or_trigger(&mut self, now: u64, idx: u32) {
        let o = self.orders[idx as usize];
        let market = self.path_price(&o.symbol, now);
        if (o.buy() && market >= o.stop) || (!o.buy() && market <= o.stop) {
            self.fill(now, idx, o.leaves(), market);
        } else if !self.resting.contains(&idx) {
            self.resting.push(idx);
        }
    }

    /// Steps the price paths and fills resting limits they reached.
    pub fn on_time(&mut self, now: u64) {
        self.publish_quotes(now);
        if self.resting.is_empty() {
            return;
        }
        let mut i = 0;
        while i < self.resting.len() {
            let idx = self.resting[i];
            let o = self.orders[idx as usize];
            if !o.open() || !matches!(o.ord_type, b'2' | b'3') {
                self.resting.swap_remove(i);
                continue;
            }
            if o.ord_type == b'3' {
                let market = self.path_price(&o.symbol, now);
                if (o.buy() && market >= o.stop) || (!o.buy() && market <= o.stop) {
                    self.resting.swap_remove(i);
                    self.fill(now, idx, o.leaves(), market);
                    continue;
                }
                i += 1;
                continue;
            }
            let market = self.path_price(&o.symbol, now);
            if (o.buy() && market <= o.price) || (!o.buy() && market >= o.price) {
                self.resting.swap_remove(i);
                self.fill(now, idx, o.leaves(), o.price);
                continue;
            }
            i += 1;
        }
    }

    /// The next answer due at or before `now`, running partial-fill pieces on the way.
    pub fn pop_due(&mut self, now: u64) -> Option<Out> {
        loop {
            if self.heap.peek()?.due > now {
                return None;
            }
            let t = self.heap.pop()?;
            match t.kind {
                TaskKind::Send(out) => return Some(out),
                TaskKind::Piece { order, gen } => self.piece(t.due.max(now), order, gen),
            }
        }
    }

    fn find(&self, sess: u32, cl: &[u8]) -> Option<u32> {
        self.known(sess, Id::new(cl))
    }

    /// The slot of the order `cl` names, if it is still kept.
    fn known(&self, sess: u32, cl: Id) -> Option<u32> {
        let &(idx, epoch) = self.by_cl.get(&(sess, cl))?;
        let o = self.orders.get(idx as usize)?;
        (o.epoch == epoch).then_some(idx)
    }

    /// Stores a new order (in a reused slot if one is free) under its ClOrdID.
    fn alloc(&mut self, mut o: Order) -> u32 {
        let idx = match self.free.pop() {
            Some(i) => {
                let old = &self.orders[i as usize];
                o.epoch = old.epoch.wrapping_add(1);
                o.gen = old.gen.wrapping_add(1);
                self.orders[i as usize] = o;
                i
            }
            None => {
                self.orders.push(o);
                (self.orders.len() - 1) as u32
            }
        };
        self.by_cl.insert((o.sess, o.cl_ord_id), (idx, o.epoch));
        idx
    }

    /// An order reached a final state; the oldest closed one beyond `keep_closed` is
    /// forgotten.
    fn closed(&mut self, idx: u32) {
        self.closed.push_back(idx);
        while self.closed.len() > self.cfg.keep_closed {
            let Some(old) = self.closed.pop_front() else {
                break;
            };
            let o = self.orders[old as usize];
            for cl in [o.cl_ord_id, o.orig_cl_ord_id] {
                if self.by_cl.get(&(o.sess, cl)) == Some(&(old, o.epoch)) {
                    self.by_cl.remove(&(o.sess, cl));
                }
            }
            self.free.push(old);
        }
    }

    fn cxl_reject(
        &mut self,
        now: u64,
        sess: u32,
        msg: &Msg<'_>,
        found: Option<&Order>,
        (response_to, reason, text): (u8, u32, &'static str),
    ) {
        self.counters.cancel_rejects += 1;
        let r = CxlReject {
            order_id: found.map(|o| o.order_id).unwrap_or(0),
            cl_ord_id: Id::new(msg.get(tag::CL_ORD_ID).unwrap_or(b"")),
            orig_cl_ord_id: Id::new(msg.get(tag::ORIG_CL_ORD_ID).unwrap_or(b"")),
            status: found.map(|o| o.status).unwrap_or(b'8'),
            response_to,
            reason,
            text,
        };
        self.send(now, sess, OutKind::CxlReject(r));
    }

    /// The open order a cancel (`response_to` 1) or replace (2) names by OrigClOrdID,
    /// with its new ClOrdID; otherwise answers OrderCancelReject and gives None.
    fn amendable(
        &mut self,
        now: u64,
        sess: u32,
        msg: &Msg<'_>,
        response_to: u8,
    ) -> Option<(u32, Order, Id)> {
        let Some(idx) = self.find(sess, msg.get(tag::ORIG_CL_ORD_ID).unwrap_or(b"")) else {
            self.cxl_reject(now, sess, msg, None, (response_to, 1, "unknown order"));
            return None;
        };
        let o = self.orders[idx as usize];
        if !o.open() {
            let text = if response_to == 1 {
                "too late to cancel"
            } else {
                "too late to replace"
            };
            self.cxl_reject(now, sess, msg, Some(&o), (response_to, 0, text));
            return None;
        }
        let new_cl = Id::new(msg.get(tag::CL_ORD_ID).unwrap_or(b""));
        if new_cl.is_empty() || (new_cl != o.cl_ord_id && self.known(sess, new_cl).is_some()) {
            let why = (response_to, 6, "missing or duplicate ClOrdID");
            self.cxl_reject(now, sess, msg, Some(&o), why);
            return None;
        }
        Some((idx, o, new_cl))
    }

    fn cancel(&mut self, now: u64, sess: u32, msg: &Msg<'_>) {
        let Some((idx, found, new_cl)) = self.amendable(now, sess, msg, 1) else {
            return;
        };
        if self.refuse_cancels > 0 {
            self.refuse_cancels -= 1;
            let why = (1, 1, "unknown order (refused by the operator)");
            self.cxl_reject(now, sess, msg, Some(&found), why);
            return;
        }
        let o = &mut self.orders[idx as usize];
        o.status = b'4';
        o.orig_cl_ord_id = o.cl_ord_id;
        o.cl_ord_id = new_cl;
        o.gen = o.gen.wrapping_add(1);
        let o = *o;
        self.by_cl.insert((sess, new_cl), (idx, o.epoch));
        self.counters.open_orders -= 1;
        self.counters.cancels += 1;
        self.closed(idx);
        let mut e = self.exec(&o, ExecKind::Canceled, 0, 0);
        e.leaves = 0;
        self.send(now, sess, OutKind::Exec(e));
    }

    fn replace(&mut self, now: u64, sess: u32, msg: &Msg<'_>) {
        let Some((idx, o, new_cl)) = self.amendable(now, sess, msg, 2) else {
            return;
        };
        let qty_dec = msg.get_dec(tag::ORDER_QTY);
        let qty = match qty_dec {
            None => o.qty,
            Some(d) => match leaf_to_scale(d) {
                Some(q) => q,
                None => {
                    self.cxl_reject(now, sess, msg, Some(&o), (2, 99, "bad OrderQty (38)"));
                    return;
                }
            },
        };
        if qty <= o.cum {
            let why = (2, 99, "new quantity not above the filled quantity");
            self.cxl_reject(now, sess, msg, Some(&o), why);
            return;
        }
        let price = if o.ord_type == b'2' {
            match msg.get_dec(tag::PRICE).map(leaf_to_scale) {
                None => o.price,
                Some(Some(p)) if p > 0 => p,
                Some(_) => {
                    self.cxl_reject(now, sess, msg, Some(&o), (2, 99, "bad Price (44)"));
                    return;
                }
            }
        } else {
            0
        };
        // A stop order moves its trigger (a stop-loss moved by its protection).
        let stop = if o.ord_type == b'3' {
            match msg.get_dec(tag::STOP_PX).map(leaf_to_scale) {
                None => o.stop,
                Some(Some(p)) if p > 0 => p,
                Some(_) => {
                    self.cxl_reject(now, sess, msg, Some(&o), (2, 99, "bad StopPx (99)"));
                    return;
                }
            }
        } else {
            0
        };
        let o = &mut self.orders[idx as usize];
        o.orig_cl_ord_id = o.cl_ord_id;
        o.cl_ord_id = new_cl;
        o.qty = qty;
        o.price = price;
        o.stop = stop;
        if let Some(d) = qty_dec {
            o.unit = o.unit.min(unit_of(d));
        }
        let o = *o;
        self.by_cl.insert((sess, new_cl), (idx, o.epoch));
        self.counters.replaces += 1;
        let e = self.exec(&o, ExecKind::Replaced, 0, 0);
        self.send(now, sess, OutKind::Exec(e));
        self.evaluate(now, idx, false);
    }

    fn status(&mut self, now: u64, sess: u32, msg: &Msg<'_>) {
        self.counters.status_requests += 1;
        let cl = msg.get(tag::CL_ORD_ID).unwrap_or(b"");
        let e = match self.find(sess, cl) {
            Some(idx) => {
                let o = self.orders[idx as usize];
                self.exec(&o, ExecKind::Status, 0, 0)
            }
            None => {
                let dummy = Order {
                    sess,
                    order_id: 0,
                    cl_ord_id: Id::new(cl),
                    orig_cl_ord_id: Id::EMPTY,
                    account: Id::new(msg.get(tag::ACCOUNT).unwrap_or(b"")),
                    symbol: Id::new(msg.get(tag::SYMBOL).unwrap_or(b"")),
                    side: char_field(msg, tag::SIDE).unwrap_or(b'1'),
                    ord_type: b'1',
                    qty: 0,
                    price: 0,
                    stop: 0,
                    reduce_only: false,
                    oco: None,
                    unit: 1,
                    cum: 0,
                    notional: 0,
                    status: b'8',
                    gen: 0,
                    pieces_left: 0,
                    piece: 0,
                    epoch: 0,
                };
                let mut e = self.exec(&dummy, ExecKind::Status, 0, 0);
                e.text = "unknown order";
                e
            }
        };
        self.send(now, sess, OutKind::Exec(e));
    }

    fn mass_status(&mut self, now: u64, sess: u32, msg: &Msg<'_>) {
        self.counters.mass_status_requests += 1;
        let req_id = Id::new(msg.get(tag::MASS_STATUS_REQ_ID).unwrap_or(b""));
        let scope = Scope::of(msg);
        let wanted = |o: &Order| o.sess == sess && o.open() && scope.covers(&o.account, &o.symbol);
        let total = self.orders.iter().filter(|o| wanted(o)).count() as u32;
        if total == 0 {
            let mut e = Exec {
                order_id: 0,
                cl_ord_id: Id::new(b"NONE"),
                orig_cl_ord_id: Id::EMPTY,
                exec_id: self.exec_id(),
                kind: ExecKind::Status,
                status: b'8',
                account: Id::new(scope.account.unwrap_or(b"")),
                symbol: Id::new(scope.symbol.unwrap_or(b"NONE")),
                side: b'1',
                ord_type: b'1',
                qty: 0,
                price: 0,
                last_qty: 0,
                last_px: 0,
                leaves: 0,
                cum: 0,
                avg: 0,
                commission: 0,
                rej_reason: None,
                text: "no open orders",
                mass: None,
            };
            e.mass = Some(Mass {
                req_id,
                total: 0,
                last: true,
            });
            self.send(now, sess, OutKind::Exec(e));
            return;
        }
        let mut n = 0;
        for i in 0..self.orders.len() {
            let o = self.orders[i];
            if !wanted(&o) {
                continue;
            }
            n += 1;
            let mut e = self.exec(&o, ExecKind::Status, 0, 0);
            e.mass = Some(Mass {
                req_id,
                total,
                last: n == total,
            });
            self.send(now, sess, OutKind::Exec(e));
        }
    }

    /// The next PosMaintRptID.
    fn rpt_id(&mut self) -> u64 {
        self.next_rpt_id += 1;
        self.next_rpt_id - 1
    }

    fn positions(&mut self, now: u64, sess: u32, msg: &Msg<'_>) {
        self.counters.position_requests += 1;
        let req_id = Id::new(msg.get(tag::POS_REQ_ID).unwrap_or(b""));
        let scope = Scope::of(msg);
        let mut found: Vec<(Id, Id, i64)> = self
            .positions
            .iter()
            .filter(|((s, a, y), q)| *s == sess && **q != 0 && scope.covers(a, y))
            .map(|((_, a, y), q)| (*a, *y, *q))
            .collect();
        found.sort_by(|a, b| {
            (a.0.as_bytes(), a.1.as_bytes()).cmp(&(b.0.as_bytes(), b.1.as_bytes()))
        });
        let total = found.len() as u32;
        if total == 0 {
            // Nothing to report: a RequestForPositionsAck saying so (728=2).
            let rpt_id = self.rpt_id();
            self.send(
                now,
                sess,
                OutKind::PosAck {
                    req_id,
                    rpt_id,
                    total,
                    result: 2,
                    account: Id::new(scope.account.unwrap_or(b"")),
                },
            );
        }
        for (account, symbol, q) in found {
            let rpt_id = self.rpt_id();
            self.send(
                now,
                sess,
                OutKind::PosReport {
                    req_id,
                    rpt_id,
                    total,
                    account,
                    symbol,
                    long: q.max(0),
                    short: (-q).max(0),
                },
            );
        }
    }
}

/// A small integer as decimal text, without allocating.
pub struct Itoa {
    buf: [u8; 20],
    start: usize,
}

impl Itoa {
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[self.start..]
    }
}

pub fn itoa(mut n: u32) -> Itoa {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    Itoa { buf, start: i }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(policy: Policy) -> SimConfig {
        SimConfig {
            policy,
            seed: 7,
            start_price: 100 * ONE,
            tick_ns: 1_000_000,
            volatility_centi_bps: 500,
            slippage_bps: 10,
            reject_symbols: vec!["BAD".into()],
            reject_qty_above: Some(1_000 * ONE),
            reject_every: 0,
            latency_ns: 0,
            commission_bps: 0,
            keep_closed: 2,
            reduce_only_exec_inst: Some(b'E'),
            oco_lists: true,
            stops_at_once: false,
            quotes_every_ns: 0,
        }
    }

    #[test]
    fn price_path_is_seeded_and_moves() {
        let mut a = Sim::new(cfg(Policy::Book));
        let mut b = Sim::new(cfg(Policy::Book));
        let pa: Vec<i64> = (0..50)
            .map(|i| a.price_of(b"X", 1 + i * 1_000_000))
            .collect();
        let pb: Vec<i64> = (0..50)
            .map(|i| b.price_of(b"X", 1 + i * 1_000_000))
            .collect();
        assert_eq!(pa, pb);
        assert!(pa.iter().any(|&p| p != 100 * ONE));
    }

    fn on(sim: &mut Sim, t: &[u8], fields: &[(u32, &str)]) -> Vec<Out> {
        use execd::venue::fix::codec::{Decoder, Encoder};
        let mut e = Encoder::new("FIX.4.4", 1024);
        e.start(t).bytes(49, b"C").bytes(56, b"S").uint(34, 1);
        for (tag, v) in fields {
            e.bytes(*tag, v.as_bytes());
        }
        let frame = e.finish().to_vec();
        let mut d = Decoder::new();
        let m = d.decode(&frame).unwrap();
        sim.on_app(1, 0, &m, None);
        std::iter::from_fn(|| sim.pop_due(1)).collect()
    }

    #[test]
    fn market_data_is_a_snapshot_then_refreshes_until_unsubscribed_unknown_refused() {
        let mut sim = Sim::new(SimConfig {
            quotes_every_ns: 1_000_000,
            ..cfg(Policy::Fill)
        });
        let req = |kind: &'static str, id: &'static str, sym: &'static str| {
            [
                (262, id),
                (263, kind),
                (264, "1"),
                (265, "1"),
                (267, "2"),
                (269, "0"),
                (269, "1"),
                (146, "1"),
                (55, sym),
            ]
        };
        let out = on(&mut sim, b"V", &req("1", "m1", "AAPL"));
        assert!(
            matches!(&out[..], [Out { kind: OutKind::MdSnapshot { bid, ask, .. }, .. }] if bid < ask),
            "{out:?}"
        );
        assert_eq!(sim.subscriptions(), 1);
        let at = 2_000_001;
        sim.on_time(at);
        let refreshes: Vec<Out> = std::iter::from_fn(|| sim.pop_due(at)).collect();
        assert!(
            matches!(
                &refreshes[..],
                [Out {
                    kind: OutKind::MdIncrement { .. },
                    ..
                }]
            ),
            "{refreshes:?}"
        );
        // Unsubscribed: nothing more.
        let out = on(
            &mut sim,
            b"V",
            &[(262, "m1"), (263, "2"), (146, "1"), (55, "AAPL")],
        );
        assert!(out.is_empty(), "{out:?}");
        assert_eq!(sim.subscriptions(), 0);
        sim.on_time(9_000_000);
        assert!(sim.pop_due(9_000_000).is_none());
        // A symbol this broker does not know: 35=Y, unknown symbol.
        let out = on(&mut sim, b"V", &req("1", "m2", "BAD"));
        assert!(
            matches!(
                &out[..],
                [Out {
                    kind: OutKind::MdReject { reason: 0, .. },
                    ..
                }]
            ),
            "{out:?}"
        );
        assert_eq!((sim.subscriptions(), sim.counters.md_rejects), (0, 1));
    }

    fn exec(o: &Out) -> Exec {
        match &o.kind {
            OutKind::Exec(e) => *e,
            k => panic!("{k:?}"),
        }
    }

    fn kinds(out: &[Out]) -> Vec<(String, ExecKind, u8, i64)> {
        out.iter()
            .filter_map(|o| match &o.kind {
                OutKind::Exec(e) => Some((e.cl_ord_id.to_string(), e.kind, e.status, e.last_qty)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn an_oco_list_fills_one_leg_and_cancels_the_other_in_the_same_instant() {
        let mut sim = Sim::new(SimConfig {
            keep_closed: 100,
            ..cfg(Policy::Fill)
        });
        // Long 2 first.
        on(
            &mut sim,
            b"D",
            &[
                (11, "p"),
                (1, "a"),
                (55, "X"),
                (54, "1"),
                (38, "2"),
                (40, "1"),
            ],
        );
        let leg = |cl: &'static str, ord_type: &'static str, px: (u32, &'static str)| {
            vec![
                (11, cl),
                (67, if cl == "sl" { "1" } else { "2" }),
                (1, "a"),
                (18, "E"),
                (55, "X"),
                (54, "2"),
                (38, "2"),
                (40, ord_type),
                px,
            ]
        };
        let mut f = vec![(66, "L1"), (394, "3"), (1385, "1"), (68, "2"), (73, "2")];
        f.extend(leg("sl", "3", (99, "50")));
        f.extend(leg("tp", "2", (44, "150")));
        let out = on(&mut sim, b"E", &f);
        assert!(matches!(
            out[0].kind,
            OutKind::ListStatus {
                rejected: false,
                ..
            }
        ));
        // The stop rests (the path is far from 50), the limit fills, and the stop is
        // cancelled before the fill is reported.
        assert_eq!(
            kinds(&out),
            vec![
                ("sl".into(), ExecKind::New, b'0', 0),
                ("tp".into(), ExecKind::New, b'0', 0),
                ("sl".into(), ExecKind::Canceled, b'4', 0),
                ("tp".into(), ExecKind::Trade, b'2', 2 * ONE),
            ]
        );
        assert_eq!((sim.counters.lists, sim.counters.oco_cancels), (1, 1));
        assert_eq!(sim.net_positions(), vec![("a".into(), "X".into(), 0)]);
        // A list whose leg cannot reduce (flat now) is refused whole.
        let mut f = vec![(66, "L2"), (394, "3"), (1385, "1"), (68, "2"), (73, "2")];
        f.extend(leg("sl2", "3", (99, "50")));
        f.extend(leg("tp2", "2", (44, "150")));
        let out = on(&mut sim, b"E", &f);
        assert_eq!(out.len(), 1);
        match &out[0].kind {
            OutKind::ListStatus {
                rejected,
                text,
                legs,
                ..
            } => {
                assert!(*rejected);
                assert!(text.contains("reduce-only"), "{text}");
                assert_eq!(legs[1].to_string(), "tp2");
            }
            k => panic!("{k:?}"),
        }
    }

    #[test]
    fn reduce_only_never_opens_or_flips_a_position() {
        let mut sim = Sim::new(SimConfig {
            keep_closed: 100,
            stops_at_once: true,
            ..cfg(Policy::Fill)
        });
        on(
            &mut sim,
            b"D",
            &[
                (11, "p"),
                (1, "a"),
                (55, "X"),
                (54, "1"),
                (38, "2"),
                (40, "1"),
            ],
        );
        // Two reduce-only sells of 2 against a long 2: the first fills, the second has
        // nothing left to reduce and is cancelled.
        let sell = |cl| {
            [
                (11, cl),
                (1, "a"),
                (18, "E"),
                (55, "X"),
                (54, "2"),
                (38, "2"),
                (40, "3"),
                (99, "90"),
            ]
        };
        let out = on(&mut sim, b"D", &sell("s1"));
        assert_eq!(
            kinds(&out)[1],
            ("s1".into(), ExecKind::Trade, b'2', 2 * ONE)
        );
        let out = on(&mut sim, b"D", &sell("s2"));
        assert_eq!(
            kinds(&out)[0].1,
            ExecKind::Rejected,
            "flat: refused on arrival"
        );
        assert_eq!(sim.net_positions(), vec![("a".into(), "X".into(), 0)]);
        // A resting stop's trigger moves with a replace (StopPx 99), and it fires there.
        let mut sim2 = Sim::new(SimConfig {
            keep_closed: 100,
            ..cfg(Policy::Fill)
        });
        let out = on(
            &mut sim2,
            b"D",
            &[
                (11, "st"),
                (1, "a"),
                (55, "X"),
                (54, "2"),
                (38, "1"),
                (40, "3"),
                (99, "50"),
            ],
        );
        assert_eq!(kinds(&out), vec![("st".into(), ExecKind::New, b'0', 0)]);
        let out = on(
            &mut sim2,
            b"G",
            &[
                (11, "st2"),
                (41, "st"),
                (1, "a"),
                (55, "X"),
                (54, "2"),
                (38, "1"),
                (40, "3"),
                (99, "200"),
            ],
        );
        assert_eq!(kinds(&out)[0].1, ExecKind::Replaced);
        assert_eq!(
            kinds(&out)[1].1,
            ExecKind::Trade,
            "the path (~100) is under 200: {out:?}"
        );
        // Without the ExecInst the same sell opens a short, as a broker would.
        let out = on(
            &mut sim,
            b"D",
            &[
                (11, "s3"),
                (1, "a"),
                (55, "X"),
                (54, "2"),
                (38, "2"),
                (40, "3"),
                (99, "90"),
            ],
        );
        assert_eq!(kinds(&out)[1].1, ExecKind::Trade);
        assert_eq!(
            sim.net_positions(),
            vec![("a".into(), "X".into(), -2 * ONE)]
        );
    }

    #[test]
    fn the_books_come_back_after_a_restart_for_the_client_that_held_them() {
        let mut a = Sim::new(cfg(Policy::Book));
        // A resting limit (far from the path) and a filled market order: an open order,
        // a closed one a status request may ask about, and a position.
        let rest = [
            (11, "rest"),
            (55, "X"),
            (54, "1"),
            (38, "2"),
            (40, "2"),
            (44, "50"),
        ];
        on(&mut a, b"D", &rest);
        on(
            &mut a,
            b"D",
            &[(11, "mkt"), (55, "X"), (54, "1"), (38, "3"), (40, "1")],
        );
        assert_eq!(a.counters.open_orders, 1);
        let book = a.book_json(|sess| (sess == 0).then(|| "CLIENT".to_string()));
        let text = book.to_string();
        let mut b = Sim::new(cfg(Policy::Book));
        b.load_book(&serde_json::from_str(&text).unwrap()).unwrap();
        assert_eq!(
            b.counters.open_orders, 0,
            "nothing until the client logs on"
        );
        b.adopt("CLIENT", 0);
        assert_eq!(b.counters.open_orders, 1);
        assert_eq!(
            b.positions.get(&(0, Id::EMPTY, Id::new(b"X"))),
            Some(&(3 * ONE))
        );
        let st = on(&mut b, b"H", &[(11, "rest")]);
        assert_eq!(exec(&st[0]).status, b'0', "still working");
        let st = on(&mut b, b"H", &[(11, "mkt")]);
        assert_eq!((exec(&st[0]).status, exec(&st[0]).cum), (b'2', 3 * ONE));
        // Written again, the same books (nothing doubled by the round trip).
        let again = b.book_json(|sess| (sess == 0).then(|| "CLIENT".to_string()));
        assert_eq!(again["positions"], book["positions"]);
        assert_eq!(
            again["orders"].as_array().map(|o| o.len()),
            book["orders"].as_array().map(|o| o.len())
        );
    }

    #[test]
    fn closed_orders_beyond_keep_closed_are_forgotten_and_slots_reused() {
        let mut sim = Sim::new(cfg(Policy::Fill));
        for i in 0..10 {
            let cl = format!("c{i}");
            let out = on(
                &mut sim,
                b"D",
                &[
                    (11, &cl),
                    (55, "X"),
                    (54, "1"),
                    (38, "1"),
                    (40, "2"),
                    (44, "5"),
                ],
            );
            assert_eq!(out.len(), 2);
            assert_eq!(exec(&out[1]).status, b'2');
        }
        assert!(sim.orders.len() <= 3, "slots reused: {}", sim.orders.len());
        // The last two are remembered, older ones are unknown now.
        let st = on(&mut sim, b"H", &[(11, "c9")]);
        assert_eq!((exec(&st[0]).status, exec(&st[0]).cum), (b'2', ONE));
        let st = on(&mut sim, b"H", &[(11, "c0")]);
        assert_eq!(
            (exec(&st[0]).status, exec(&st[0]).text),
            (b'8', "unknown order")
        );
        // A forgotten ClOrdID may be used again; a remembered one may not.
        let c0 = [
            (11, "c0"),
            (55, "X"),
            (54, "1"),
            (38, "1"),
            (40, "2"),
            (44, "5"),
        ];
        let out = on(&mut sim, b"D", &c0);
        assert_eq!(exec(&out[0]).status, b'0');
        let out = on(&mut sim, b"D", &c0);
        assert_eq!(exec(&out[0]).rej_reason, Some(6), "duplicate");
    }

    #[test]
    fn id_truncates_and_compares() {
        let long = [b'a'; 100];
        assert_eq!(Id::new(&long).as_bytes().len(), Id::CAP);
        assert_eq!(Id::new(b"x"), Id::new(b"x"));
        assert_eq!(itoa(0).as_bytes(), b"0");
        assert_eq!(itoa(4294967295).as_bytes(), b"4294967295");
    }
}
