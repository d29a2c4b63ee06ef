//! The paper venue (R-VEN-4): a deterministic simulated broker.
//!
//! Everything random (latency, price path, partial fills, slippage, silent orders) comes
//! from one seeded generator, consumed in the order the core calls in, and every answer
//! is scheduled at an event time rather than slept for. Under a simulated clock the same
//! seed and the same requests therefore give the same fills, to the nanosecond.

use super::{Venue, VenueError, VenueEvent, VenueEventKind, VenueOrder};
use crate::config::{PaperSpec, Registry, SimSpec};
use crate::core::due_queue::DueQueue;
use crate::model::fixed::{div_round, Money, Price, Qty};
use crate::model::ids::{AccountId, ClOrdId, InstrumentId, OrderId, OrderType, Side, Tif, VenueId};
use crate::model::instrument::Instrument;
use crate::model::{quote::Quote, reason::Reason};
use crate::oms::slot_set::SlotSet;
use crate::oms::table::table;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// How long a "silent" order waits inside the venue before it is processed: past the
/// default 30 s hard timeout, so the core times it out and then sees a late outcome.
pub const SILENT_HOLD_NS: u64 = 40_000_000_000;
/// Gap between the pieces of a partially filled order.
const PIECE_GAP_NS: u64 = 50_000;
/// Nanoseconds in a UTC day, for DAY expiry.
const DAY_NS: u64 = 86_400_000_000_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    Arrive(u64),
    Cancel {
        order: u64,
        cl: ClOrdId,
    },
    Replace {
        order: u64,
        cl: ClOrdId,
        qty: Qty,
        limit: Price,
    },
    Emit(VenueEventKind),
    /// A snapshot request reached the venue.
    Snapshot,
}

/// Something the venue does at `at`; `seq` orders what falls on the same instant as it
/// was scheduled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Scheduled {
    at: u64,
    seq: u64,
    action: Action,
}

/// The lanes of the venue's `DueQueue`: what it schedules comes in three streams, each
/// in time order as it is written, since messages keep their order on a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stream {
    /// Requests on their way in (`arrival`).
    Inbound = 0,
    /// Silent orders, each an arrival plus the same hold.
    Held = 1,
    /// Answers on their way out (`emit`).
    Answers = 2,
}

impl Ord for Scheduled {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(o.at, o.seq))
    }
}

impl PartialOrd for Scheduled {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}

#[derive(Clone, Copy, Debug)]
struct PaperOrder {
    o: VenueOrder,
    cum: Qty,
    arrived: bool,
    resting: bool,
    triggered: bool,
    expire_at: u64,
    reserved: Money,
}

/// Resting orders of one instrument, as four heaps of (key, order): buy limits (key =
/// limit), sell limits (key = −limit), buy stops (key = −stop), sell stops (key = stop).
/// The top of each heap is the first to cross, so a price step only looks at what trades.
/// Canceled or amended orders leave stale entries behind, dropped when they surface or
/// when a heap grows to twice its live size.
struct Book {
    inst: Instrument,
    heaps: [BinaryHeap<(i64, Reverse<u64>)>; 4],
    live: usize,
}

/// The paper venue's market: a seeded random walk per instrument, stepped at a fixed
/// interval. It has its own generator, so the price path depends only on the seed and
/// the time, never on the orders: a load generator can build the same path and know
/// the market the venue will show.
pub struct PricePath {
    rng: fastrand::Rng,
    interval: u64,
    next_step: u64,
    mids: Vec<Option<(Instrument, SimSpec, i64, Quote)>>,
}

impl PricePath {
    /// The path of venue `id`'s instruments under `seed`, first step at `start_ns`.
    pub fn new(reg: &Registry, id: VenueId, seed: u64, start_ns: u64) -> PricePath {
        let mids = reg
            .instruments
            .iter()
            .zip(&reg.sims)
            .map(|(i, s)| {
                (i.venue == id).then(|| (i.clone(), *s, s.initial_price.0, Quote::default()))
            })
            .collect();
        PricePath {
            // Distinct from the order-handling stream of the same seed.
            rng: fastrand::Rng::with_seed(seed ^ 0x9e37_79b9_7f4a_7c15),
            interval: reg.venues[id.0 as usize].paper.quote_interval_ns,
            next_step: start_ns,
            mids,
        }
    }

    /// When the next step is due.
    pub fn next_step(&self) -> u64 {
        self.next_step
    }

    /// Takes one step; returns its time. Quotes are then readable with [`PricePath::quote`].
    pub fn step(&mut self) -> u64 {
        let now = self.next_step;
        self.next_step += self.interval;
        for (inst, sim, mid, quote) in self.mids.iter_mut().flatten() {
            let tick = inst.tick.0;
            let vol = sim.volatility_ticks as i64;
            let step = if vol > 0 { self.rng.i64(-vol..=vol) } else { 0 };
            let half = (sim.spread_ticks as i64 * tick) / 2;
            *mid = (*mid + step * tick).max(half + 10 * tick);
            let bid = (*mid - half) / tick * tick;
            let ask = bid + sim.spread_ticks as i64 * tick;
            let depth = sim.depth_lots as i64 * inst.lot.0;
            let bid_size = depth / 2 + self.rng.i64(0..=depth.max(1));
            let ask_size = depth / 2 + self.rng.i64(0..=depth.max(1));
            *quote = Quote {
                bid: Price(bid),
                ask: Price(ask),
                bid_size: Qty(bid_size),
                ask_size: Qty(ask_size),
                at_ns: now,
            };
        }
        now
    }

    /// Takes a configuration change (instruments added or removed at the end, limits
    /// and margins changed; ticks, lots and the simulation settings unchanged): the walk
    /// goes on from where it is, and an added instrument of this venue starts at its
    /// initial price at the next step.
    fn reconfigure(&mut self, reg: &Registry, id: VenueId) {
        self.mids.truncate(reg.instruments.len());
        for (m, inst) in self.mids.iter_mut().zip(&reg.instruments) {
            if let Some(m) = m {
                m.0 = inst.clone();
            }
        }
        for (inst, sim) in reg.instruments.iter().zip(&reg.sims).skip(self.mids.len()) {
            self.mids.push(
                (inst.venue == id)
                    .then(|| (inst.clone(), *sim, sim.initial_price.0, Quote::default())),
            );
        }
    }

    /// Steps until every step at or before `t` is taken.
    pub fn advance_to(&mut self, t: u64) {
        while self.next_step <= t {
            self.step();
        }
    }

    /// The current quote of an instrument of this venue.
    pub fn quote(&self, i: InstrumentId) -> Option<Quote> {
        self.mids.get(i.0 as usize)?.as_ref().map(|m| m.3)
    }
}

/// Live orders by the core's order id, in slot `id % capacity`: the core never holds
/// two working orders with the same slot, so this is a collision-free array access. A
/// collision anyway (a foreign id scheme) is refused, never overwritten.
struct Slots {
    orders: Vec<Option<PaperOrder>>,
    /// Which slots hold an order: a reconciliation snapshot walks these instead of every
    /// slot's order (a full table is tens of MB).
    used: SlotSet,
}

impl Slots {
    fn new(capacity: usize) -> Slots {
        // vec! writes every slot: memory is faulted in at start, not mid-session.
        Slots {
            orders: table(capacity.max(1), None),
            used: SlotSet::new(capacity.max(1)),
        }
    }

    fn capacity(&self) -> usize {
        self.orders.len()
    }

    fn at(&self, id: u64) -> usize {
        (id % self.orders.len() as u64) as usize
    }

    fn get(&self, id: &u64) -> Option<&PaperOrder> {
        self.orders[self.at(*id)]
            .as_ref()
            .filter(|p| p.o.cl.order.0 == *id)
    }

    fn get_mut(&mut self, id: &u64) -> Option<&mut PaperOrder> {
        let i = self.at(*id);
        self.orders[i].as_mut().filter(|p| p.o.cl.order.0 == *id)
    }

    fn contains_key(&self, id: &u64) -> bool {
        self.get(id).is_some()
    }

    /// Stores `p` under `id`; false if the slot holds another live order.
    fn insert(&mut self, id: u64, p: PaperOrder) -> bool {
        let i = self.at(id);
        match &self.orders[i] {
            Some(q) if q.o.cl.order.0 != id => false,
            slot => {
                if slot.is_none() {
                    self.used.insert(i);
                }
                self.orders[i] = Some(p);
                true
            }
        }
    }

    fn remove(&mut self, id: &u64) -> Option<PaperOrder> {
        let i = self.at(*id);
        match &self.orders[i] {
            Some(q) if q.o.cl.order.0 == *id => {
                self.used.remove(i);
                self.orders[i].take()
            }
            _ => None,
        }
    }

    /// Every live order, in slot order.
    fn iter(&self) -> impl Iterator<Item = &PaperOrder> {
        self.used.iter().filter_map(|i| self.orders[i].as_ref())
    }
}

/// An order the paper venue still works, as it sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VenueOrderStatus {
    /// Working client order id (the last replace's, once one was applied).
    pub cl: ClOrdId,
    /// Filled so far.
    pub cum_qty: Qty,
    /// Order quantity.
    pub qty: Qty,
}

/// The simulated venue.
pub struct PaperVenue {
    cfg: PaperSpec,
    rng: fastrand::Rng,
    books: Vec<Option<Book>>,
    path: PricePath,
    orders: Slots,
    queue: DueQueue<Scheduled>,
    seq: u64,
    // Inbound and outbound messages keep their order, as on one TCP session.
    last_arrival: u64,
    last_emit: u64,
    next_exec: u64,
    next_venue_id: u64,
    cash: Vec<Money>,
    reserved: Vec<Money>,
    positions: Vec<Qty>,
    n_instruments: usize,
    expiries: BinaryHeap<Reverse<(u64, u64)>>,
    // Submits refused so far by the `unsent_first` fault injection.
    unsent: u32,
}

impl PaperVenue {
    /// A paper venue for venue `id` of the registry, with room for `capacity` live orders.
    pub fn new(reg: &Registry, id: VenueId, capacity: usize, start_ns: u64) -> PaperVenue {
        let spec = &reg.venues[id.0 as usize];
        let books = reg
            .instruments
            .iter()
            .map(|i| {
                (i.venue == id).then(|| Book {
                    inst: i.clone(),
                    heaps: std::array::from_fn(|_| {
                        BinaryHeap::with_capacity(capacity.min(1 << 16))
                    }),
                    live: 0,
                })
            })
            .collect();
        let orders = Slots::new(capacity);
        PaperVenue {
            cfg: spec.paper.clone(),
            rng: fastrand::Rng::with_seed(spec.paper.seed),
            books,
            path: PricePath::new(reg, id, spec.paper.seed, start_ns),
            orders,
            // Requests and answers in flight for a latency's span; silent orders for the
            // hold's: the lanes grow past this if a flow needs it.
            queue: DueQueue::new(&[capacity.min(4096), 64, (capacity * 2).min(8192)], 64),
            seq: 0,
            last_arrival: 0,
            last_emit: 0,
            next_exec: 1,
            next_venue_id: 1,
            cash: reg.accounts.iter().map(|a| a.cash).collect(),
            reserved: vec![Money(0); reg.accounts.len()],
            positions: vec![Qty(0); reg.accounts.len() * reg.instruments.len()],
            n_instruments: reg.instruments.len(),
            expiries: BinaryHeap::with_capacity(capacity.min(1 << 16)),
            unsent: 0,
        }
    }

    /// Takes a configuration change the engine checked (`Engine::reconfigure`): the same
    /// accounts and simulation settings; instruments the same (their limits and margin
    /// rates may differ) or more at the end, or fewer at the end when nothing of them is
    /// held. Every resting order, balance, position and the random streams carry on.
    pub(crate) fn reconfigure(&mut self, reg: &Registry, id: VenueId) {
        let n = reg.instruments.len();
        self.books.truncate(n);
        for (b, inst) in self.books.iter_mut().zip(&reg.instruments) {
            if let Some(b) = b {
                b.inst = inst.clone();
            }
        }
        let capacity = self.orders.capacity();
        for inst in reg.instruments.iter().skip(self.books.len()) {
            self.books.push((inst.venue == id).then(|| Book {
                inst: inst.clone(),
                heaps: std::array::from_fn(|_| BinaryHeap::with_capacity(capacity.min(1 << 16))),
                live: 0,
            }));
        }
        self.path.reconfigure(reg, id);
        if n != self.n_instruments {
            let accounts = self.cash.len();
            let keep = n.min(self.n_instruments);
            let mut positions = vec![Qty(0); accounts * n];
            for a in 0..accounts {
                let from = a * self.n_instruments;
                positions[a * n..a * n + keep].copy_from_slice(&self.positions[from..from + keep]);
            }
            self.positions = positions;
            self.n_instruments = n;
        }
    }

    /// The current top of book of an instrument.
    pub fn quote(&self, i: InstrumentId) -> Option<Quote> {
        self.path.quote(i)
    }

    /// An order the venue still works; `None` once it is done or if it never saw it.
    pub fn order_status(&self, order: OrderId) -> Option<VenueOrderStatus> {
        self.orders.get(&order.0).map(|p| VenueOrderStatus {
            cl: p.o.cl,
            cum_qty: p.cum,
            qty: p.o.qty,
        })
    }

    /// An account's cash at the venue, after its trades and commissions.
    pub fn balance(&self, account: AccountId) -> Money {
        self.cash[account.0 as usize]
    }

    fn schedule(&mut self, stream: Stream, at: u64, action: Action) {
        self.seq += 1;
        self.queue.push(
            stream as usize,
            Scheduled {
                at,
                seq: self.seq,
                action,
            },
        );
    }

    fn one_way_latency(&mut self) -> u64 {
        let extra = if self.cfg.latency_mean_extra_ns == 0 {
            0
        } else {
            // Exponential tail: the shape real venue latency has.
            let u = self.rng.f64().max(1e-12);
            (-(u.ln()) * self.cfg.latency_mean_extra_ns as f64) as u64
        };
        (self.cfg.latency_min_ns + extra) / 2
    }

    fn emit(&mut self, at: u64, kind: VenueEventKind) {
        let at = at.max(self.last_emit);
        self.last_emit = at;
        self.schedule(Stream::Answers, at, Action::Emit(kind));
    }

    /// Refuses a new order the venue cannot take, answering in session order.
    fn refuse(&mut self, now: u64, cl: ClOrdId) -> Result<(), VenueError> {
        let at = self.arrival(now);
        self.emit(
            at,
            VenueEventKind::Rejected {
                cl,
                reason: Reason::VenueRejected,
            },
        );
        Ok(())
    }

    /// A request on the session: it reaches the venue after the wire latency, in order.
    fn inbound(&mut self, now: u64, action: Action) -> Result<(), VenueError> {
        let at = self.arrival(now);
        self.schedule(Stream::Inbound, at, action);
        Ok(())
    }

    fn arrival(&mut self, now: u64) -> u64 {
        let at = (now + self.one_way_latency()).max(self.last_arrival);
        self.last_arrival = at;
        at
    }

    /// Steps the market; quotes go straight out (market data does not queue behind
    /// order answers).
    fn step_prices(&mut self, out: &mut Vec<VenueEvent>) -> u64 {
        let now = self.path.step();
        for idx in 0..self.books.len() {
            if self.books[idx].is_none() {
                continue;
            }
            let Some(quote) = self.path.quote(InstrumentId(idx as u16)) else {
                continue;
            };
            out.push(VenueEvent {
                at_ns: now,
                kind: VenueEventKind::Quote {
                    instrument: InstrumentId(idx as u16),
                    quote,
                    venue_ns: 0,
                },
                src_seq: 0,
            });
        }
        now
    }

    /// Equity (cash + positions at the mid) minus margin used by positions and orders.
    fn free_margin(&self, account: AccountId) -> Money {
        let a = account.0 as usize;
        let mut equity = self.cash[a];
        let mut used = self.reserved[a];
        for (i, b) in self.books.iter().enumerate() {
            let Some(b) = b else { continue };
            let pos = self.positions[a * self.n_instruments + i];
            if pos.0 == 0 {
                continue;
            }
            let mark = Price(self.quote_of(InstrumentId(i as u16)).mid());
            let value = b.inst.notional(mark, pos);
            equity = equity + value;
            used = used + Money(value.0.abs()).bps(b.inst.margin_bps as i64);
        }
        equity - used
    }

    fn quote_of(&self, i: InstrumentId) -> Quote {
        self.path.quote(i).unwrap_or_default()
    }

    fn book(&self, i: InstrumentId) -> &Book {
        self.books[i.0 as usize]
            .as_ref()
            .expect("instrument of this venue")
    }

    /// Marketable now? Returns the price it would trade at.
    fn marketable(&self, p: &PaperOrder) -> Option<Price> {
        let q = self.quote_of(p.o.instrument);
        let touch = match p.o.side {
            Side::Buy => q.ask,
            Side::Sell => q.bid,
        };
        let limit_ok = |limit: Price| match p.o.side {
            Side::Buy => touch <= limit,
            Side::Sell => touch >= limit,
        };
        let effective = if p.o.order_type.has_stop() && !p.triggered {
            OrderType::Stop // not triggered: never marketable
        } else if p.o.order_type.has_limit() {
            OrderType::Limit
        } else {
            OrderType::Market
        };
        match effective {
            OrderType::Market => Some(touch),
            OrderType::Limit if limit_ok(p.o.limit) => Some(touch),
            _ => None,
        }
    }

    fn triggered(&self, p: &PaperOrder) -> bool {
        let q = self.quote_of(p.o.instrument);
        match p.o.side {
            Side::Buy => q.ask >= p.o.stop,
            Side::Sell => q.bid <= p.o.stop,
        }
    }

    fn fill_price(&mut self, p: &PaperOrder, touch: Price, resting_limit: bool) -> Price {
        let inst = &self.book(p.o.instrument).inst;
        let tick = inst.tick.0;
        if resting_limit {
            // A resting limit that the market crossed trades at its limit.
            return p.o.limit;
        }
        // Marketable orders pay slippage, rounded to the grid, never beyond their limit.
        let raw = touch.0 as i128 * self.cfg.slippage_bps_e2 as i128;
        let slip_ticks = div_round(raw, 1_000_000 * tick as i128) as i64;
        let slip_ticks = if slip_ticks > 0 {
            self.rng.i64(0..=slip_ticks)
        } else {
            0
        };
        let px = touch.0 + p.o.side.sign() * slip_ticks * tick;
        let px = if p.o.order_type.has_limit() {
            match p.o.side {
                Side::Buy => px.min(p.o.limit.0),
                Side::Sell => px.max(p.o.limit.0),
            }
        } else {
            px
        };
        Price(px)
    }

    fn arrive(&mut self, now: u64, order: u64) {
        let Some(mut p) = self.orders.get(&order).copied() else {
            return;
        };
        p.arrived = true;
        let out = now + self.one_way_latency();
        let inst = self.book(p.o.instrument).inst.clone();
        // Margin account: the part of the order that opens or grows a position needs
        // margin (and commission) out of equity not already in use.
        let px = match p.o.order_type {
            OrderType::Limit | OrderType::StopLimit => p.o.limit,
            OrderType::Stop => p.o.stop,
            OrderType::Market => {
                let q = self.quote_of(p.o.instrument);
                match p.o.side {
                    Side::Buy => q.ask,
                    Side::Sell => q.bid,
                }
            }
        };
        let a = p.o.account.0 as usize;
        let pos = self.positions[a * self.n_instruments + p.o.instrument.0 as usize].0;
        let reducing = if pos.signum() == -p.o.side.sign() {
            pos.abs().min(p.o.qty.0)
        } else {
            0
        };
        let notional = inst.notional(px, Qty(p.o.qty.0 - reducing));
        let fee = Money(div_round(
            inst.notional(px, p.o.qty).0 as i128 * self.cfg.commission_bps_e2 as i128,
            1_000_000,
        ) as i64);
        let need = notional.bps(inst.margin_bps as i64) + fee;
        if !p.o.reduce_only && need > self.free_margin(p.o.account) {
            self.orders.remove(&order);
            self.emit(
                out,
                VenueEventKind::Rejected {
                    cl: p.o.cl,
                    reason: Reason::VenueFunds,
                },
            );
            return;
        }
        if !p.o.reduce_only {
            p.reserved = need;
            self.reserved[a] = self.reserved[a] + need;
        }
        let venue_order_id = self.next_venue_id;
        self.next_venue_id += 1;
        self.emit(
            out,
            VenueEventKind::Ack {
                cl: p.o.cl,
                venue_order_id,
            },
        );
        if p.o.order_type.has_stop() {
            p.triggered = self.triggered(&p);
        }
        self.orders.insert(order, p);
        self.try_execute(out, order, false);
    }

    /// Executes what can execute now; rests, cancels or completes the rest.
    fn try_execute(&mut self, at: u64, order: u64, resting: bool) {
        let Some(p) = self.orders.get(&order).copied() else {
            return;
        };
        let Some(touch) = self.marketable(&p) else {
            match p.o.tif {
                Tif::Ioc | Tif::Fok if !p.o.order_type.has_stop() || p.triggered => {
                    self.finish(order);
                    self.emit(at, VenueEventKind::Canceled { cl: p.o.cl });
                }
                _ if !p.resting => self.rest(order, &p),
                _ => {}
            }
            return;
        };
        let mut leaves = p.o.qty.0 - p.cum.0;
        let lot = self.book(p.o.instrument).inst.lot.0;
        let mut cancel_rest = false;
        if p.o.reduce_only {
            // Reduce-only: never more than the position it closes; nothing if flat or flipped.
            let pos = self.positions
                [p.o.account.0 as usize * self.n_instruments + p.o.instrument.0 as usize]
                .0;
            let reducible = if pos.signum() == -p.o.side.sign() {
                pos.abs()
            } else {
                0
            };
            if reducible < leaves {
                leaves = reducible;
                cancel_rest = true;
            }
            if leaves == 0 {
                self.finish(order);
                self.emit(at, VenueEventKind::Canceled { cl: p.o.cl });
                return;
            }
        }
        let pieces = if p.o.tif != Tif::Fok
            && leaves >= 2 * lot
            && self.rng.u32(0..100) < self.cfg.partial_fill_pct
        {
            self.rng.i64(2..=4).min(leaves / lot)
        } else {
            1
        };
        let px = self.fill_price(&p, touch, resting && p.o.order_type == OrderType::Limit);
        let mut remaining = leaves;
        let mut t = at;
        for k in 0..pieces {
            let q = if k + 1 == pieces {
                remaining
            } else {
                let lots = remaining / lot;
                (self.rng.i64(1..=(lots - (pieces - k - 1)).max(1))) * lot
            };
            remaining -= q;
            self.fill(t, order, px, Qty(q));
            t += PIECE_GAP_NS;
        }
        if cancel_rest && self.orders.contains_key(&order) {
            self.finish(order);
            self.emit(t, VenueEventKind::Canceled { cl: p.o.cl });
        }
    }

    fn fill(&mut self, at: u64, order: u64, px: Price, qty: Qty) {
        let Some(mut p) = self.orders.get(&order).copied() else {
            return;
        };
        let inst = &self.book(p.o.instrument).inst;
        let notional = inst.notional(px, qty);
        let fee = Money(div_round(
            notional.0 as i128 * self.cfg.commission_bps_e2 as i128,
            1_000_000,
        ) as i64);
        let a = p.o.account.0 as usize;
        let pi = a * self.n_instruments + p.o.instrument.0 as usize;
        match p.o.side {
            Side::Buy => {
                self.cash[a] = self.cash[a] - notional - fee;
                self.positions[pi].0 += qty.0;
            }
            Side::Sell => {
                self.cash[a] = self.cash[a] + notional - fee;
                self.positions[pi].0 -= qty.0;
            }
        }
        p.cum.0 += qty.0;
        let exec_id = self.next_exec;
        self.next_exec += 1;
        let done = p.cum == p.o.qty;
        self.orders.insert(order, p);
        if done {
            self.finish(order);
        }
        self.emit(
            at,
            VenueEventKind::Fill {
                cl: p.o.cl,
                exec_id,
                px,
                qty,
                fee,
                cum: Some(p.cum),
            },
        );
    }

    fn finish(&mut self, order: u64) {
        if let Some(p) = self.orders.remove(&order) {
            let a = p.o.account.0 as usize;
            self.reserved[a] = self.reserved[a] - p.reserved;
            if p.resting {
                self.unrest(&p);
            }
        }
    }

    /// Lists every order that has reached the venue and is still open, and every
    /// position, then says it is done: the answer goes out in session order, after
    /// whatever the venue said before.
    fn on_snapshot(&mut self, now: u64) {
        // The fixed part of the latency only: a reconciliation draws nothing from the
        // random stream, so what orders meet does not depend on when one ran.
        let out = now + self.cfg.latency_min_ns / 2;
        let mut listed = Vec::new();
        for p in self.orders.iter() {
            if p.arrived {
                listed.push((p.o.cl.order.0, p.o.cl, p.cum));
            }
        }
        listed.sort_unstable_by_key(|l| l.0);
        for (_, cl, cum) in listed {
            self.emit(out, VenueEventKind::Listed { cl, cum });
        }
        for k in 0..self.positions.len() {
            let qty = self.positions[k];
            if qty.0 != 0 {
                let account = AccountId((k / self.n_instruments) as u16);
                let instrument = InstrumentId((k % self.n_instruments) as u16);
                self.emit(
                    out,
                    VenueEventKind::Position {
                        account,
                        instrument,
                        qty,
                    },
                );
            }
        }
        self.emit(
            out,
            VenueEventKind::SnapshotEnd {
                orders: true,
                positions: true,
                foreign: 0,
            },
        );
    }

    fn on_cancel(&mut self, now: u64, order: u64, cl: ClOrdId) {
        let out = now + self.one_way_latency();
        match self.orders.get(&order).copied() {
            // Not processed yet (a silent order): the venue does not know it.
            Some(p) if !p.arrived => self.emit(
                out,
                VenueEventKind::CancelRejected {
                    cl,
                    reason: Reason::VenueUnknownOrder,
                },
            ),
            Some(p) => {
                self.finish(order);
                self.emit(out, VenueEventKind::Canceled { cl: p.o.cl });
            }
            None => self.emit(
                out,
                VenueEventKind::CancelRejected {
                    cl,
                    reason: Reason::VenueUnknownOrder,
                },
            ),
        }
    }

    fn on_replace(&mut self, now: u64, order: u64, cl: ClOrdId, qty: Qty, limit: Price) {
        let out = now + self.one_way_latency();
        let Some(mut p) = self.orders.get(&order).copied() else {
            self.emit(
                out,
                VenueEventKind::ReplaceRejected {
                    cl,
                    reason: Reason::VenueUnknownOrder,
                },
            );
            return;
        };
        if qty <= p.cum || !p.arrived {
            self.emit(
                out,
                VenueEventKind::ReplaceRejected {
                    cl,
                    reason: Reason::VenueRejected,
                },
            );
            return;
        }
        if p.resting {
            // Re-rest under the new price: the old heap entry goes stale.
            self.unrest(&p);
            p.resting = false;
        }
        p.o.cl = cl;
        p.o.qty = qty;
        // The one price a replace carries is the limit, or the trigger of a plain stop.
        let price = if p.o.order_type.has_limit() {
            &mut p.o.limit
        } else {
            &mut p.o.stop
        };
        if limit.0 > 0 {
            *price = limit;
        }
        let price = *price;
        self.orders.insert(order, p);
        self.emit(
            out,
            VenueEventKind::Replaced {
                cl,
                qty,
                limit: price,
            },
        );
        self.try_execute(out, order, true);
    }

    /// Which heap an order rests in, and its key there.
    fn rest_key(p: &PaperOrder) -> (usize, i64) {
        match (p.o.order_type.has_stop() && !p.triggered, p.o.side) {
            (false, Side::Buy) => (0, p.o.limit.0),
            (false, Side::Sell) => (1, -p.o.limit.0),
            (true, Side::Buy) => (2, -p.o.stop.0),
            (true, Side::Sell) => (3, p.o.stop.0),
        }
    }

    fn rest(&mut self, order: u64, p: &PaperOrder) {
        let (h, key) = Self::rest_key(p);
        let b = self.books[p.o.instrument.0 as usize]
            .as_mut()
            .expect("book");
        b.heaps[h].push((key, Reverse(order)));
        b.live += 1;
        if p.expire_at != u64::MAX {
            self.expiries.push(Reverse((p.expire_at, order)));
        }
        if let Some(p) = self.orders.get_mut(&order) {
            p.resting = true;
        }
    }

    fn unrest(&mut self, p: &PaperOrder) {
        let i = p.o.instrument.0 as usize;
        let Some(b) = self.books[i].as_mut() else {
            return;
        };
        b.live = b.live.saturating_sub(1);
        let live = b.live;
        for h in 0..4 {
            let Some(b) = self.books[i].as_mut() else {
                return;
            };
            if b.heaps[h].len() <= 2 * live + 64 {
                continue;
            }
            let mut heap = std::mem::take(&mut b.heaps[h]);
            heap.retain(|&(key, Reverse(o))| {
                self.orders
                    .get(&o)
                    .is_some_and(|q| q.resting && Self::rest_key(q) == (h, key))
            });
            if let Some(b) = self.books[i].as_mut() {
                b.heaps[h] = heap;
            }
        }
    }

    /// The next resting order of `book` the current quote crosses, taken off its heap.
    fn next_crossed(&mut self, book: usize) -> Option<(usize, u64)> {
        let q = self.quote_of(InstrumentId(book as u16));
        let b = self.books[book].as_mut()?;
        for h in 0..4 {
            while let Some(&(key, Reverse(order))) = b.heaps[h].peek() {
                let valid = self
                    .orders
                    .get(&order)
                    .is_some_and(|p| p.resting && Self::rest_key(p) == (h, key));
                if !valid {
                    b.heaps[h].pop();
                    continue;
                }
                let crossed = match h {
                    0 => key >= q.ask.0,
                    1 => -key <= q.bid.0,
                    2 => -key <= q.ask.0,
                    _ => key >= q.bid.0,
                };
                if !crossed {
                    break;
                }
                b.heaps[h].pop();
                b.live = b.live.saturating_sub(1);
                return Some((h, order));
            }
        }
        None
    }

    fn on_step(&mut self, out: &mut Vec<VenueEvent>) {
        let now = self.step_prices(out);
        while let Some(&Reverse((at, order))) = self.expiries.peek() {
            if at > now {
                break;
            }
            self.expiries.pop();
            let Some(p) = self.orders.get(&order).copied() else {
                continue;
            };
            if p.expire_at == at {
                self.finish(order);
                self.emit(now, VenueEventKind::Expired { cl: p.o.cl });
            }
        }
        for book in 0..self.books.len() {
            while let Some((h, order)) = self.next_crossed(book) {
                let Some(p) = self.orders.get_mut(&order) else {
                    continue;
                };
                p.resting = false;
                if h >= 2 {
                    p.triggered = true;
                }
                // A resting limit trades at its limit; a triggered stop goes to the market.
                self.try_execute(now, order, h < 2);
            }
        }
    }
}

impl Venue for PaperVenue {
    // An in-process venue: its session is always up.
    fn is_logged_on(&self) -> bool {
        true
    }

    fn submit(&mut self, now: u64, o: &VenueOrder) -> Result<(), VenueError> {
        if self.unsent < self.cfg.unsent_first {
            // Fault injection: as if the connection were down; nothing arrives.
            self.unsent += 1;
            return Err(VenueError::NotConnected);
        }
        if !matches!(self.books.get(o.instrument.0 as usize), Some(Some(_))) {
            // Not an instrument of this venue: refuse it like a real venue would.
            return self.refuse(now, o.cl);
        }
        let silent =
            self.cfg.silent_per_mille > 0 && self.rng.u32(0..1000) < self.cfg.silent_per_mille;
        let expire_at = match o.tif {
            Tif::Day => (now / DAY_NS + 1) * DAY_NS,
            _ => u64::MAX,
        };
        let stored = self.orders.insert(
            o.cl.order.0,
            PaperOrder {
                o: *o,
                cum: Qty(0),
                arrived: false,
                resting: false,
                triggered: false,
                expire_at,
                reserved: Money(0),
            },
        );
        if !stored {
            return self.refuse(now, o.cl);
        }
        let at = self.arrival(now);
        if silent {
            self.schedule(
                Stream::Held,
                at + SILENT_HOLD_NS,
                Action::Arrive(o.cl.order.0),
            );
        } else {
            self.schedule(Stream::Inbound, at, Action::Arrive(o.cl.order.0));
        }
        Ok(())
    }

    fn cancel(&mut self, now: u64, cl: ClOrdId, _orig: ClOrdId) -> Result<(), VenueError> {
        self.inbound(
            now,
            Action::Cancel {
                order: cl.order.0,
                cl,
            },
        )
    }

    fn replace(
        &mut self,
        now: u64,
        cl: ClOrdId,
        _orig: ClOrdId,
        qty: Qty,
        limit: Price,
    ) -> Result<(), VenueError> {
        self.inbound(
            now,
            Action::Replace {
                order: cl.order.0,
                cl,
                qty,
                limit,
            },
        )
    }

    fn poll(&mut self, now: u64, out: &mut Vec<VenueEvent>) {
        loop {
            let next_action = self.queue.peek().map_or(u64::MAX, |s| s.at);
            let step = self.path.next_step();
            if step <= now && step <= next_action {
                self.on_step(out);
                continue;
            }
            if next_action > now {
                break;
            }
            let Some(s) = self.queue.pop() else {
                break;
            };
            match s.action {
                Action::Arrive(order) => self.arrive(s.at, order),
                Action::Cancel { order, cl } => self.on_cancel(s.at, order, cl),
                Action::Replace {
                    order,
                    cl,
                    qty,
                    limit,
                } => self.on_replace(s.at, order, cl, qty, limit),
                Action::Snapshot => self.on_snapshot(s.at),
                Action::Emit(kind) => out.push(VenueEvent {
                    at_ns: s.at,
                    kind,
                    src_seq: 0,
                }),
            }
        }
    }

    fn next_event_at(&self) -> Option<u64> {
        let q = self.queue.peek().map_or(u64::MAX, |s| s.at);
        Some(q.min(self.path.next_step()))
    }

    fn snapshot(&mut self, now: u64) -> bool {
        let at = (now + self.cfg.latency_min_ns / 2).max(self.last_arrival);
        self.last_arrival = at;
        self.schedule(Stream::Inbound, at, Action::Snapshot);
        true
    }

    fn positions(&self, account: AccountId, out: &mut Vec<(InstrumentId, Qty)>) {
        let base = account.0 as usize * self.n_instruments;
        for i in 0..self.n_instruments {
            let q = self.positions[base + i];
            if q.0 != 0 {
                out.push((InstrumentId(i as u16), q));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::unix_ns;

    const MS: u64 = 1_000_000;

    fn reg(edit: impl FnOnce(String) -> String) -> Registry {
        Registry::from_toml(&edit(crate::config::DEFAULT_TOML.to_string())).unwrap()
    }

    fn start() -> u64 {
        unix_ns(2026, 1, 5, 15, 0)
    }

    struct Rig {
        reg: Registry,
        v: PaperVenue,
        now: u64,
        next: u64,
    }

    impl Rig {
        fn new(reg: Registry) -> Rig {
            Self::at(reg, start())
        }

        fn at(reg: Registry, t: u64) -> Rig {
            let v = PaperVenue::new(&reg, VenueId(0), 1024, t);
            Rig {
                reg,
                v,
                now: t,
                next: 1,
            }
        }

        fn inst(&self, sym: &str) -> &Instrument {
            self.reg.instrument_by_names("paper", sym).unwrap()
        }

        fn order(
            &mut self,
            account: u16,
            sym: &str,
            side: Side,
            t: OrderType,
            tif: Tif,
            qty: i64,
        ) -> VenueOrder {
            let id = self.next;
            self.next += 1;
            VenueOrder {
                cl: ClOrdId {
                    epoch: 1,
                    order: OrderId(id),
                    version: 0,
                },
                account: AccountId(account),
                instrument: self.inst(sym).id,
                side,
                order_type: t,
                tif,
                qty: Qty(qty),
                limit: Price(0),
                stop: Price(0),
                reduce_only: false,
            }
        }

        /// Runs the market in 5 ms steps (at most 100 s) until something fills.
        fn run_until_fill(&mut self) -> Vec<VenueEvent> {
            let mut got = Vec::new();
            for _ in 0..20_000 {
                got.extend(self.run(5 * MS));
                if !fills(&got).is_empty() {
                    break;
                }
            }
            got
        }

        /// Runs the venue for `ns` and returns its answers (quotes left out).
        fn run(&mut self, ns: u64) -> Vec<VenueEvent> {
            self.now += ns;
            let mut out = Vec::new();
            self.v.poll(self.now, &mut out);
            out.retain(|e| !matches!(e.kind, VenueEventKind::Quote { .. }));
            out
        }
    }

    /// The venue said one thing: it refused order `cl` for `reason`.
    fn assert_only_rejection(evs: &[VenueEvent], cl: ClOrdId, reason: Reason) {
        let kinds: Vec<_> = evs.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, vec![VenueEventKind::Rejected { cl, reason }]);
    }

    fn fills(evs: &[VenueEvent]) -> Vec<(Price, Qty, Money)> {
        evs.iter()
            .filter_map(|e| match e.kind {
                VenueEventKind::Fill { px, qty, fee, .. } => Some((px, qty, fee)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn market_order_is_acked_then_filled_within_slippage_and_charged_commission() {
        let mut r = Rig::new(reg(|t| t));
        r.run(MS);
        let ask = r.v.quote(r.inst("AAPL").id).unwrap().ask;
        let o = r.order(0, "AAPL", Side::Buy, OrderType::Market, Tif::Ioc, 300);
        r.v.submit(r.now, &o).unwrap();
        let evs = r.run(MS);
        assert!(matches!(evs[0].kind, VenueEventKind::Ack { .. }), "{evs:?}");
        let f = fills(&evs);
        assert_eq!(f.iter().map(|x| x.1 .0).sum::<i64>(), 300);
        let inst = r.inst("AAPL").clone();
        for (px, qty, fee) in f {
            // 0.5 bp of ~190 is under one tick: a buy pays the ask or at most a tick more.
            assert!(
                px >= ask && px.0 <= ask.0 + inst.tick.0,
                "{px:?} vs ask {ask:?}"
            );
            assert_eq!(
                fee,
                Money(div_round(inst.notional(px, qty).0 as i128 * 100, 1_000_000) as i64)
            );
        }
        // Answers keep their order, like one TCP session.
        assert!(evs.windows(2).all(|w| w[0].at_ns <= w[1].at_ns));
        let mut pos = Vec::new();
        r.v.positions(AccountId(0), &mut pos);
        assert_eq!(pos, vec![(inst.id, Qty(300))]);
    }

    #[test]
    fn same_seed_same_answers_other_seed_other_answers() {
        let script = |seed: u64| {
            let mut r = Rig::new(reg(|t| t.replace("seed = 7", &format!("seed = {seed}"))));
            let mut all = Vec::new();
            for i in 0..50 {
                let side = if i % 2 == 0 { Side::Buy } else { Side::Sell };
                let o = r.order(0, "ETHUSDT", side, OrderType::Market, Tif::Ioc, 100 + i);
                r.v.submit(r.now, &o).unwrap();
                all.extend(r.run(3 * MS));
            }
            all
        };
        assert_eq!(script(1), script(1));
        assert_ne!(script(1), script(2));
    }

    #[test]
    fn passive_limit_rests_until_the_market_crosses_it_and_fills_at_its_limit() {
        let mut r = Rig::new(reg(|t| t));
        r.run(MS);
        let q = r.v.quote(r.inst("BTCUSDT").id).unwrap();
        let mut o = r.order(0, "BTCUSDT", Side::Buy, OrderType::Limit, Tif::Gtc, 10);
        o.limit = Price(q.bid.0 - 500); // $5 under the bid
        r.v.submit(r.now, &o).unwrap();
        let evs = r.run(MS);
        assert_eq!(evs.len(), 1, "only the ack: {evs:?}");
        let got = r.run_until_fill();
        let f = fills(&got);
        assert_eq!(
            f,
            vec![(o.limit, Qty(10), f[0].2)],
            "fills at the limit once crossed"
        );
    }

    #[test]
    fn ioc_that_cannot_trade_is_canceled_and_reduce_only_never_opens() {
        let mut r = Rig::new(reg(|t| t));
        r.run(MS);
        let q = r.v.quote(r.inst("AAPL").id).unwrap();
        let mut o = r.order(0, "AAPL", Side::Buy, OrderType::Limit, Tif::Ioc, 10);
        o.limit = Price(q.bid.0 - 100);
        r.v.submit(r.now, &o).unwrap();
        let evs = r.run(MS);
        assert!(
            matches!(evs.last().unwrap().kind, VenueEventKind::Canceled { .. }),
            "{evs:?}"
        );
        assert!(fills(&evs).is_empty());
        // Flat account: a reduce-only sell has nothing to reduce.
        let mut ro = r.order(0, "AAPL", Side::Sell, OrderType::Market, Tif::Ioc, 10);
        ro.reduce_only = true;
        r.v.submit(r.now, &ro).unwrap();
        let evs = r.run(MS);
        assert!(fills(&evs).is_empty(), "{evs:?}");
        assert!(matches!(
            evs.last().unwrap().kind,
            VenueEventKind::Canceled { .. }
        ));
        // Long 6: a reduce-only sell of 10 fills 6 and cancels the rest.
        let buy = r.order(0, "AAPL", Side::Buy, OrderType::Market, Tif::Fok, 6);
        r.v.submit(r.now, &buy).unwrap();
        r.run(MS);
        let mut ro = r.order(0, "AAPL", Side::Sell, OrderType::Market, Tif::Ioc, 10);
        ro.reduce_only = true;
        r.v.submit(r.now, &ro).unwrap();
        let evs = r.run(MS);
        assert_eq!(fills(&evs).iter().map(|f| f.1 .0).sum::<i64>(), 6);
        assert!(matches!(
            evs.last().unwrap().kind,
            VenueEventKind::Canceled { .. }
        ));
    }

    #[test]
    fn insufficient_funds_are_rejected() {
        let mut r = Rig::new(reg(|t| t));
        r.run(MS);
        // beta has 2 000 000 of cash; 25 BTC at ~97 000 with 100 % margin is ~2 425 000.
        let o = r.order(1, "BTCUSDT", Side::Buy, OrderType::Market, Tif::Ioc, 25_000);
        r.v.submit(r.now, &o).unwrap();
        assert_only_rejection(&r.run(MS), o.cl, Reason::VenueFunds);
        // 15 BTC (~1 455 000) fits.
        let o = r.order(1, "BTCUSDT", Side::Buy, OrderType::Market, Tif::Ioc, 15_000);
        r.v.submit(r.now, &o).unwrap();
        assert_eq!(
            fills(&r.run(MS)).iter().map(|f| f.1 .0).sum::<i64>(),
            15_000
        );
    }

    #[test]
    fn an_instrument_of_another_venue_is_refused_not_a_panic() {
        let mut r = Rig::new(reg(|t| t));
        let mut o = r.order(0, "AAPL", Side::Buy, OrderType::Market, Tif::Ioc, 1);
        o.instrument = InstrumentId(999);
        r.v.submit(r.now, &o).unwrap();
        assert_only_rejection(&r.run(MS), o.cl, Reason::VenueRejected);
    }

    #[test]
    fn cancel_replace_and_unknown_orders() {
        let mut r = Rig::new(reg(|t| t));
        r.run(MS);
        let q = r.v.quote(r.inst("EURUSD").id).unwrap();
        let mut o = r.order(0, "EURUSD", Side::Sell, OrderType::Limit, Tif::Gtc, 100_000);
        o.limit = Price(q.ask.0 + 200);
        r.v.submit(r.now, &o).unwrap();
        r.run(MS);
        let v1 = ClOrdId { version: 1, ..o.cl };
        r.v.replace(r.now, v1, o.cl, Qty(200_000), Price(q.ask.0 + 300))
            .unwrap();
        let evs = r.run(MS);
        assert_eq!(
            evs[0].kind,
            VenueEventKind::Replaced {
                cl: v1,
                qty: Qty(200_000),
                limit: Price(q.ask.0 + 300)
            }
        );
        assert_eq!(r.v.order_status(o.cl.order).unwrap().qty, Qty(200_000));
        let v2 = ClOrdId { version: 2, ..o.cl };
        r.v.cancel(r.now, v2, v1).unwrap();
        let evs = r.run(MS);
        assert_eq!(evs[0].kind, VenueEventKind::Canceled { cl: v1 });
        assert!(r.v.order_status(o.cl.order).is_none());
        r.v.cancel(r.now, v2, v1).unwrap();
        let evs = r.run(MS);
        assert_eq!(
            evs[0].kind,
            VenueEventKind::CancelRejected {
                cl: v2,
                reason: Reason::VenueUnknownOrder
            }
        );
    }

    #[test]
    fn day_orders_expire_at_midnight_utc() {
        let mut r = Rig::at(reg(|t| t), unix_ns(2026, 1, 5, 23, 59));
        r.run(MS);
        let q = r.v.quote(r.inst("BTCUSDT").id).unwrap();
        let mut o = r.order(0, "BTCUSDT", Side::Buy, OrderType::Limit, Tif::Day, 1);
        o.limit = Price(q.bid.0 / 2 / 100 * 100); // far below: never fills
        r.v.submit(r.now, &o).unwrap();
        r.run(MS);
        let midnight = unix_ns(2026, 1, 6, 0, 0);
        let evs = r.run(midnight - r.now + 10 * MS);
        let exp: Vec<_> = evs
            .iter()
            .filter(|e| matches!(e.kind, VenueEventKind::Expired { .. }))
            .collect();
        assert_eq!(exp.len(), 1, "{evs:?}");
        assert!(exp[0].at_ns >= midnight && exp[0].at_ns < midnight + 10 * MS);
    }

    #[test]
    fn stop_triggers_when_the_market_reaches_it() {
        let mut r = Rig::new(reg(|t| t));
        r.run(MS);
        let q = r.v.quote(r.inst("ETHUSDT").id).unwrap();
        let mut o = r.order(0, "ETHUSDT", Side::Buy, OrderType::Stop, Tif::Gtc, 100);
        o.stop = Price(q.ask.0 + 300); // $3 above the ask
        r.v.submit(r.now, &o).unwrap();
        let evs = r.run(MS);
        assert!(fills(&evs).is_empty());
        let got = r.run_until_fill();
        let f = fills(&got);
        assert!(!f.is_empty(), "never triggered");
        assert!(
            f[0].0 >= o.stop,
            "a buy stop fills at or above its trigger: {f:?}"
        );
    }
}
