//! The simulated account and matching: one account, every symbol's price path as the
//! other side of the book (unlimited size at the top), orders resting until the path
//! crosses them. Spot moves balances (free/locked, commission in the asset received);
//! USDⓈ-M moves one-way positions, the USDT wallet (realized PnL, commission) and
//! checks initial margin at a fixed leverage. Every change queues the user-data events
//! Binance would push; the caller drains them (`take_events`).

use crate::decimal as dec;
use crate::errors::ApiErr;
use crate::market::PricePath;
use serde_json::{json, Value};
use std::collections::BTreeMap;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Protocol {
    Spot,
    Usdm,
}

pub(crate) struct Symbol {
    pub(crate) name: String,
    pub(crate) base: String,
    pub(crate) quote: String,
    pub(crate) tick: i64,
    pub(crate) step: i64,
    pub(crate) min_qty: i64,
    pub(crate) max_qty: i64,
    pub(crate) min_notional: i64,
    pub(crate) path: PricePath,
    /// Fills made and quantity traded, both sides together: what a client's books must
    /// hold once each (the `status` command shows them).
    pub(crate) fills: u64,
    pub(crate) traded: i64,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Kind {
    Market,
    Limit,
    StopLossLimit,
    StopMarket,
    TakeProfitMarket,
}

impl Kind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Market => "MARKET",
            Kind::Limit => "LIMIT",
            Kind::StopLossLimit => "STOP_LOSS_LIMIT",
            Kind::StopMarket => "STOP_MARKET",
            Kind::TakeProfitMarket => "TAKE_PROFIT_MARKET",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Tif {
    Gtc,
    Ioc,
    Fok,
    Gtx,
}

impl Tif {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Tif::Gtc => "GTC",
            Tif::Ioc => "IOC",
            Tif::Fok => "FOK",
            Tif::Gtx => "GTX",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Status {
    New,
    PartiallyFilled,
    Filled,
    Canceled,
    Expired,
}

impl Status {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Status::New => "NEW",
            Status::PartiallyFilled => "PARTIALLY_FILLED",
            Status::Filled => "FILLED",
            Status::Canceled => "CANCELED",
            Status::Expired => "EXPIRED",
        }
    }

    pub(crate) fn open(self) -> bool {
        matches!(self, Status::New | Status::PartiallyFilled)
    }
}

pub(crate) struct Order {
    pub(crate) id: u64,
    pub(crate) sym: usize,
    pub(crate) client_id: String,
    pub(crate) buy: bool,
    pub(crate) kind: Kind,
    pub(crate) tif: Tif,
    pub(crate) price: i64,
    pub(crate) stop: i64,
    pub(crate) qty: i64,
    pub(crate) filled: i64,
    pub(crate) quote: i64,
    pub(crate) status: Status,
    pub(crate) reduce_only: bool,
    pub(crate) time: i64,
    pub(crate) update: i64,
    /// On the book (a stop order only once triggered).
    pub(crate) working: bool,
    pub(crate) working_time: i64,
    /// Spot: what this order still holds locked (quote for buys, base for sells).
    lock_left: i64,
}

impl Order {
    pub(crate) fn side(&self) -> &'static str {
        if self.buy {
            "BUY"
        } else {
            "SELL"
        }
    }

    pub(crate) fn leaves(&self) -> i64 {
        self.qty - self.filled
    }

    pub(crate) fn avg(&self) -> i64 {
        if self.filled == 0 {
            0
        } else {
            dec::div(self.quote, self.filled).unwrap_or(0)
        }
    }
}

pub(crate) struct Fill {
    pub(crate) price: i64,
    pub(crate) qty: i64,
    pub(crate) commission: i64,
    pub(crate) asset: String,
    pub(crate) trade_id: u64,
}

pub(crate) struct NewOrder {
    pub(crate) sym: usize,
    pub(crate) buy: bool,
    pub(crate) kind: Kind,
    pub(crate) tif: Tif,
    pub(crate) price: i64,
    pub(crate) stop: i64,
    pub(crate) qty: i64,
    pub(crate) client_id: Option<String>,
    pub(crate) reduce_only: bool,
}

/// A USDⓈ-M conditional order in the Algo Service (since 2025-12-09 the only way to
/// place STOP_MARKET / TAKE_PROFIT_MARKET).
pub(crate) struct Algo {
    pub(crate) id: u64,
    pub(crate) client_id: String,
    pub(crate) sym: usize,
    pub(crate) buy: bool,
    pub(crate) kind: Kind,
    pub(crate) trigger: i64,
    pub(crate) qty: i64,
    pub(crate) reduce_only: bool,
    pub(crate) status: &'static str,
    pub(crate) time: i64,
    pub(crate) update: i64,
    pub(crate) order_id: Option<u64>,
}

#[derive(Default, Clone, Copy)]
pub(crate) struct Position {
    pub(crate) amt: i64,
    pub(crate) entry: i64,
    pub(crate) realized: i64,
}

#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) orders: u64,
    pub(crate) rejects: u64,
    pub(crate) fills: u64,
    pub(crate) cancels: u64,
    pub(crate) amends: u64,
}

pub(crate) struct Exchange {
    pub(crate) proto: Protocol,
    pub(crate) symbols: Vec<Symbol>,
    pub(crate) orders: BTreeMap<u64, Order>,
    pub(crate) algos: BTreeMap<u64, Algo>,
    /// Spot: asset → (free, locked).
    pub(crate) balances: BTreeMap<String, (i64, i64)>,
    /// USDⓈ-M: the USDT wallet and one-way positions by symbol index.
    pub(crate) wallet: i64,
    pub(crate) positions: BTreeMap<usize, Position>,
    pub(crate) leverage: i64,
    pub(crate) commission_bps: i64,
    /// Fills per order: 1 fills in full, N splits every fill into N pieces of the
    /// order's quantity (resting orders: one piece per price step).
    pub(crate) partial_pieces: i64,
    pub(crate) counters: Counters,
    next_order: u64,
    next_trade: u64,
    next_exec: u64,
    next_algo: u64,
    /// Realized PnL of the last USDⓈ-M fill (the `rp` of its ORDER_TRADE_UPDATE).
    last_realized: i64,
    events: Vec<Value>,
}

/// PRICE_FILTER's maxPrice, scaled.
pub(crate) const MAX_PRICE: i64 = 1_000_000 * dec::SCALE;

fn unknown_cancel() -> ApiErr {
    ApiErr::bad(-2011, "Unknown order sent.")
}

fn client_id_for(n: u64) -> String {
    const A: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut h = xxhash_rust::xxh3::xxh3_128(&n.to_le_bytes());
    let mut s = String::from("sim");
    for _ in 0..19 {
        s.push(A[(h % 62) as usize] as char);
        h /= 62;
    }
    s
}

/// Binance's rule for client ids.
pub(crate) fn valid_client_id(s: &str) -> bool {
    (1..=36).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._:/-".contains(&b))
}

impl Exchange {
    pub(crate) fn new(proto: Protocol, symbols: Vec<Symbol>) -> Exchange {
        Exchange {
            proto,
            symbols,
            orders: BTreeMap::new(),
            algos: BTreeMap::new(),
            balances: BTreeMap::new(),
            wallet: 0,
            positions: BTreeMap::new(),
            leverage: 20,
            commission_bps: 10,
            partial_pieces: 1,
            counters: Counters::default(),
            next_order: 1,
            next_trade: 1,
            next_exec: 1,
            next_algo: 1,
            last_realized: 0,
            events: Vec::new(),
        }
    }

    pub(crate) fn take_events(&mut self) -> Vec<Value> {
        std::mem::take(&mut self.events)
    }

    pub(crate) fn symbol(&self, name: &str) -> Option<usize> {
        self.symbols.iter().position(|s| s.name == name)
    }

    pub(crate) fn find(&self, sym: usize, id: Option<u64>, client: Option<&str>) -> Option<u64> {
        if let Some(id) = id {
            return self.orders.get(&id).filter(|o| o.sym == sym).map(|o| o.id);
        }
        let client = client?;
        self.orders
            .values()
            .rev()
            .find(|o| o.sym == sym && o.client_id == client)
            .map(|o| o.id)
    }

    fn spot(&self) -> bool {
        self.proto == Protocol::Spot
    }

    /// The filters of exchangeInfo, in Binance's order: PRICE_FILTER, LOT_SIZE, NOTIONAL.
    fn check_filters(&self, s: &Symbol, price: i64, qty: i64, market: bool) -> Result<(), ApiErr> {
        let spot = self.spot();
        // exchangeInfo's maxPrice (1 000 000) also keeps every notional inside i64.
        if !market && (price <= 0 || price % s.tick != 0 || price > MAX_PRICE) {
            return Err(if spot {
                ApiErr::bad(-1013, "Filter failure: PRICE_FILTER")
            } else {
                ApiErr::bad(-4014, "Price not increased by tick size.")
            });
        }
        if qty <= 0 {
            return Err(if spot {
                ApiErr::bad(-1013, "Filter failure: LOT_SIZE")
            } else {
                ApiErr::bad(-4003, "Quantity less than or equal to zero.")
            });
        }
        if qty < s.min_qty || qty > s.max_qty || (qty - s.min_qty) % s.step != 0 {
            return Err(if spot {
                ApiErr::bad(
                    -1013,
                    if market {
                        "Filter failure: MARKET_LOT_SIZE"
                    } else {
                        "Filter failure: LOT_SIZE"
                    },
                )
            } else if qty % s.step != 0 {
                ApiErr::bad(
                    -1111,
                    "Precision is over the maximum defined for this asset.",
                )
            } else if qty < s.min_qty {
                ApiErr::bad(-4004, "Quantity less than min quantity.")
            } else {
                ApiErr::bad(-4005, "Quantity greater than max quantity.")
            });
        }
        Ok(())
    }

    fn notional_ok(&self, s: &Symbol, px: i64, qty: i64) -> bool {
        dec::mul(px, qty).is_some_and(|n| n >= s.min_notional)
    }

    fn notional_err(&self, s: &Symbol) -> ApiErr {
        if self.spot() {
            ApiErr::bad(-1013, "Filter failure: NOTIONAL")
        } else {
            ApiErr::bad(
                -4164,
                format!(
                    "Order's notional must be no smaller than {} (unless you choose reduce only).",
                    dec::trim(s.min_notional)
                ),
            )
        }
    }

    fn position(&self, sym: usize) -> Position {
        self.positions.get(&sym).copied().unwrap_or_default()
    }

    fn reduces(&self, sym: usize, buy: bool) -> bool {
        let p = self.position(sym).amt;
        (buy && p < 0) || (!buy && p > 0)
    }

    /// USDⓈ-M initial margin in use: positions and open non-reduce-only orders at
    /// `leverage` (unrealized PnL left out: the simulator keeps margin simple).
    fn margin_used(&self) -> i64 {
        let l = self.leverage.max(1);
        let pos: i64 = self
            .positions
            .values()
            .map(|p| dec::mul(p.amt.abs(), p.entry).unwrap_or(0) / l)
            .sum();
        let ord: i64 = self
            .orders
            .values()
            .filter(|o| o.status.open() && !o.reduce_only)
            .map(|o| dec::mul(o.leaves(), o.price).unwrap_or(0) / l)
            .sum();
        pos + ord
    }

    pub(crate) fn available(&self) -> i64 {
        self.wallet - self.margin_used()
    }

    fn bal(&mut self, asset: &str) -> &mut (i64, i64) {
        self.balances.entry(asset.to_string()).or_insert((0, 0))
    }

    /// Validates and accepts an order, runs it against the book once (fills on
    /// arrival), and returns its id with the fills made on arrival.
    pub(crate) fn place(&mut self, n: NewOrder, now: i64) -> Result<(u64, Vec<Fill>), ApiErr> {
        self.counters.orders += 1;
        let r = self.accept(n, now);
        if r.is_err() {
            self.counters.rejects += 1;
        }
        let id = r?;
        let fills = self.run(id, now, true);
        Ok((id, fills))
    }

    fn accept(&mut self, n: NewOrder, now: i64) -> Result<u64, ApiErr> {
        let s = &self.symbols[n.sym];
        let market = matches!(
            n.kind,
            Kind::Market | Kind::StopMarket | Kind::TakeProfitMarket
        );
        self.check_filters(s, n.price, n.qty, market)?;
        if matches!(n.kind, Kind::StopLossLimit) && (n.stop <= 0 || n.stop % s.tick != 0) {
            return Err(ApiErr::bad(-1013, "Filter failure: PRICE_FILTER"));
        }
        let (bid, ask, mid) = (s.path.bid(), s.path.ask(), s.path.mid);
        let px = if market {
            if n.buy {
                ask
            } else {
                bid
            }
        } else {
            n.price
        };
        // USDⓈ-M waives the minimum notional for reduce-only orders.
        let waived = self.proto == Protocol::Usdm && n.reduce_only;
        if !waived && !self.notional_ok(s, px, n.qty) {
            return Err(self.notional_err(s));
        }
        if let Some(c) = &n.client_id {
            let dup = self
                .orders
                .values()
                .any(|o| o.sym == n.sym && o.status.open() && &o.client_id == c);
            if dup {
                return Err(if self.spot() {
                    ApiErr::bad(-2010, "Duplicate order sent.")
                } else {
                    ApiErr::bad(-4116, "ClientOrderId is duplicated.")
                });
            }
        }
        if n.kind == Kind::StopLossLimit {
            // A sell stop-loss fires when the price falls to the stop, a buy when it rises.
            let fires = if n.buy { mid >= n.stop } else { mid <= n.stop };
            if fires {
                return Err(ApiErr::bad(-2010, "Order would trigger immediately."));
            }
        }
        if n.tif == Tif::Gtx {
            let takes = if n.buy {
                n.price >= ask
            } else {
                n.price <= bid
            };
            if takes {
                return Err(ApiErr::bad(
                    -5022,
                    "Due to the order could not be executed as maker, the Post Only order will be rejected. The order will not be recorded in the order history",
                ));
            }
        }
        let (base, quote) = (s.base.clone(), s.quote.clone());
        let mut lock = 0;
        if self.spot() {
            let (asset, need) = if n.buy {
                (quote.clone(), dec::mul_up(n.qty, px).unwrap_or(i64::MAX))
            } else {
                (base.clone(), n.qty)
            };
            if self.bal(&asset).0 < need {
                return Err(ApiErr::bad(
                    -2010,
                    "Account has insufficient balance for requested action.",
                ));
            }
            if !market {
                let b = self.bal(&asset);
                b.0 -= need;
                b.1 += need;
                lock = need;
            }
        } else if n.reduce_only {
            if !self.reduces(n.sym, n.buy) {
                return Err(ApiErr::bad(-2022, "ReduceOnly Order is rejected."));
            }
        } else {
            let need = dec::mul(n.qty, px).unwrap_or(i64::MAX) / self.leverage.max(1);
            if need > self.available() {
                return Err(ApiErr::bad(-2019, "Margin is insufficient."));
            }
        }
        let id = self.next_order;
        self.next_order += 1;
        let client_id = n.client_id.unwrap_or_else(|| client_id_for(id));
        let working = n.kind != Kind::StopLossLimit;
        self.orders.insert(
            id,
            Order {
                id,
                sym: n.sym,
                client_id,
                buy: n.buy,
                kind: n.kind,
                tif: n.tif,
                price: if market { 0 } else { n.price },
                stop: n.stop,
                qty: n.qty,
                filled: 0,
                quote: 0,
                status: Status::New,
                reduce_only: n.reduce_only,
                time: now,
                update: now,
                working,
                working_time: if working { now } else { -1 },
                lock_left: lock,
            },
        );
        self.report(id, "NEW", None, None, now);
        if lock > 0 {
            let a = if n.buy { quote } else { base };
            self.account_event(&[a], now);
        }
        Ok(id)
    }

    /// One look at the book for an open order: triggers stops, fills what crosses.
    fn run(&mut self, id: u64, now: i64, mut arrival: bool) -> Vec<Fill> {
        let mut fills = Vec::new();
        let Some(o) = self.orders.get(&id) else {
            return fills;
        };
        if !o.status.open() {
            return fills;
        }
        let s = &self.symbols[o.sym];
        let (bid, ask, mid) = (s.path.bid(), s.path.ask(), s.path.mid);
        let (buy, kind, price, stop, tif) = (o.buy, o.kind, o.price, o.stop, o.tif);
        if !o.working {
            let fires = if buy { mid >= stop } else { mid <= stop };
            if !fires {
                return fills;
            }
            if let Some(o) = self.orders.get_mut(&id) {
                o.working = true;
                o.working_time = now;
            }
            // A triggered stop enters the book now: it takes if it can, like a new order.
            arrival = true;
        }
        let touch = if buy { ask } else { bid };
        match kind {
            Kind::Market | Kind::StopMarket | Kind::TakeProfitMarket => {
                self.fill_pieces(id, touch, false, true, now, &mut fills);
            }
            Kind::Limit | Kind::StopLossLimit => {
                let crosses = if buy { price >= ask } else { price <= bid };
                if crosses {
                    // Taking on arrival: at the touch, in full; resting: at the limit.
                    let (px, all) = if arrival {
                        (touch, true)
                    } else {
                        (price, false)
                    };
                    self.fill_pieces(id, px, !arrival, all, now, &mut fills);
                } else if arrival && matches!(tif, Tif::Ioc | Tif::Fok) {
                    self.expire(id, now);
                }
            }
        }
        fills
    }

    fn fill_pieces(
        &mut self,
        id: u64,
        px: i64,
        maker: bool,
        all: bool,
        now: i64,
        fills: &mut Vec<Fill>,
    ) {
        loop {
            let Some(o) = self.orders.get(&id) else {
                return;
            };
            if !o.status.open() {
                return;
            }
            let step = self.symbols[o.sym].step;
            let leaves = o.leaves();
            let mut q = leaves;
            if self.partial_pieces > 1 {
                let piece = (o.qty / self.partial_pieces + step - 1) / step * step;
                q = piece.clamp(step.min(leaves), leaves);
            }
            match self.fill(id, q, px, maker, now) {
                Some(f) => fills.push(f),
                None => return,
            }
            if !all {
                return;
            }
        }
    }

    fn expire(&mut self, id: u64, now: i64) {
        self.release(id);
        if let Some(o) = self.orders.get_mut(&id) {
            o.status = Status::Expired;
            o.update = now;
        }
        self.report(id, "EXPIRED", None, None, now);
    }

    /// Gives back what a closing spot order still holds.
    fn release(&mut self, id: u64) {
        let Some(o) = self.orders.get_mut(&id) else {
            return;
        };
        let left = std::mem::take(&mut o.lock_left);
        if left == 0 {
            return;
        }
        let s = &self.symbols[o.sym];
        let asset = if o.buy {
            s.quote.clone()
        } else {
            s.base.clone()
        };
        let b = self.bal(&asset);
        b.0 += left;
        b.1 -= left;
    }

    fn fill(&mut self, id: u64, mut q: i64, px: i64, maker: bool, now: i64) -> Option<Fill> {
        let o = self.orders.get(&id)?;
        let (sym, buy, reduce_only, price, qty, filled) =
            (o.sym, o.buy, o.reduce_only, o.price, o.qty, o.filled);
        if self.proto == Protocol::Usdm && reduce_only {
            let p = self.position(sym).amt;
            let room = if buy && p < 0 {
                -p
            } else if !buy && p > 0 {
                p
            } else {
                0
            };
            q = q.min(room);
            if q == 0 {
                self.expire(id, now);
                return None;
            }
        }
        let cost = dec::mul(q, px)?;
        let last = filled + q == qty;
        let s = &self.symbols[sym];
        let (base, quote) = (s.base.clone(), s.quote.clone());
        let trade_id = self.next_trade;
        self.next_trade += 1;
        let bps = i128::from(self.commission_bps);
        let (commission, asset);
        if self.spot() {
            let lock_left = self.orders.get(&id).map_or(0, |o| o.lock_left);
            if buy {
                commission = (i128::from(q) * bps / 10_000) as i64;
                asset = base.clone();
                if lock_left > 0 {
                    let rel = if last {
                        lock_left
                    } else {
                        dec::mul_up(q, price)?.min(lock_left)
                    };
                    if let Some(o) = self.orders.get_mut(&id) {
                        o.lock_left -= rel;
                    }
                    let b = self.bal(&quote);
                    b.1 -= rel;
                    b.0 += rel - cost;
                } else {
                    self.bal(&quote).0 -= cost;
                }
                self.bal(&base).0 += q - commission;
            } else {
                commission = (i128::from(cost) * bps / 10_000) as i64;
                asset = quote.clone();
                if lock_left > 0 {
                    let rel = if last { lock_left } else { q.min(lock_left) };
                    if let Some(o) = self.orders.get_mut(&id) {
                        o.lock_left -= rel;
                    }
                    let b = self.bal(&base);
                    b.1 -= rel;
                    b.0 += rel - q;
                } else {
                    self.bal(&base).0 -= q;
                }
                self.bal(&quote).0 += cost - commission;
            }
        } else {
            commission = (i128::from(cost) * bps / 10_000) as i64;
            asset = quote.clone();
            let p = self.positions.entry(sym).or_default();
            let signed = if buy { q } else { -q };
            let mut realized = 0;
            if p.amt == 0 || (p.amt > 0) == buy {
                let old = dec::mul(p.amt.abs(), p.entry)?;
                p.amt += signed;
                p.entry = dec::div(old + cost, p.amt.abs())?;
            } else {
                let closing = q.min(p.amt.abs());
                let diff = if p.amt > 0 {
                    px - p.entry
                } else {
                    p.entry - px
                };
                realized = dec::mul(closing, diff)?;
                p.amt += signed;
                if p.amt == 0 {
                    p.entry = 0;
                } else if (p.amt > 0) == buy {
                    p.entry = px;
                }
            }
            p.realized += realized;
            self.wallet += realized - commission;
            self.last_realized = realized;
        }
        let o = self.orders.get_mut(&id)?;
        o.filled += q;
        o.quote += cost;
        o.update = now;
        o.status = if o.filled == o.qty {
            Status::Filled
        } else {
            Status::PartiallyFilled
        };
        self.counters.fills += 1;
        let s = &mut self.symbols[sym];
        s.fills += 1;
        s.traded += q;
        let f = Fill {
            price: px,
            qty: q,
            commission,
            asset,
            trade_id,
        };
        self.report(id, "TRADE", Some((&f, maker)), None, now);
        if self.spot() {
            self.account_event(&[base, quote], now);
        } else {
            self.futures_account_event(sym, now);
        }
        Some(f)
    }

    /// Cancels an open order; `cancel_client` is the cancel's own client id (spot).
    pub(crate) fn cancel(&mut self, id: u64, cancel_client: &str, now: i64) -> Result<(), ApiErr> {
        match self.orders.get(&id) {
            Some(o) if o.status.open() => {}
            _ => return Err(unknown_cancel()),
        }
        self.release(id);
        let o = self.orders.get_mut(&id).ok_or_else(unknown_cancel)?;
        o.status = Status::Canceled;
        o.update = now;
        let (sym, buy, had_lock) = (o.sym, o.buy, o.kind != Kind::Market);
        self.counters.cancels += 1;
        self.report(id, "CANCELED", None, Some(cancel_client), now);
        if self.spot() && had_lock {
            let s = &self.symbols[sym];
            let a = if buy { s.quote.clone() } else { s.base.clone() };
            self.account_event(&[a], now);
        }
        Ok(())
    }

    /// USDⓈ-M order modify (PUT /fapi/v1/order): a LIMIT order's price and quantity.
    pub(crate) fn amend(&mut self, id: u64, qty: i64, price: i64, now: i64) -> Result<(), ApiErr> {
        let o = match self.orders.get(&id) {
            Some(o) if o.status.open() => o,
            _ => return Err(ApiErr::bad(-2013, "Order does not exist.")),
        };
        if o.kind != Kind::Limit {
            return Err(ApiErr::bad(
                -4028,
                "Price or quantity not allowed for this order type.",
            ));
        }
        if qty <= o.filled {
            return Err(ApiErr::bad(-4003, "Quantity less than or equal to zero."));
        }
        if qty == o.qty && price == o.price {
            return Err(ApiErr::bad(-5027, "No need to modify the order."));
        }
        let s = &self.symbols[o.sym];
        self.check_filters(s, price, qty, false)?;
        if !o.reduce_only && !self.notional_ok(s, price, qty) {
            return Err(self.notional_err(s));
        }
        let o = self.orders.get_mut(&id).ok_or_else(unknown_cancel)?;
        o.qty = qty;
        o.price = price;
        o.update = now;
        self.counters.amends += 1;
        self.report(id, "AMENDMENT", None, None, now);
        self.run(id, now, true);
        Ok(())
    }

    /// A new conditional order in the Algo Service.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn place_algo(
        &mut self,
        sym: usize,
        buy: bool,
        kind: Kind,
        trigger: i64,
        qty: i64,
        reduce_only: bool,
        client_id: Option<String>,
        now: i64,
    ) -> Result<u64, ApiErr> {
        let s = &self.symbols[sym];
        if trigger <= 0 || trigger % s.tick != 0 {
            return Err(ApiErr::bad(-4014, "Price not increased by tick size."));
        }
        self.check_filters(s, trigger, qty, true)?;
        let mid = s.path.mid;
        if fires(kind, buy, trigger, mid) {
            return Err(ApiErr::bad(-2021, "Order would immediately trigger."));
        }
        if reduce_only && !self.reduces(sym, buy) {
            return Err(ApiErr::bad(-2022, "ReduceOnly Order is rejected."));
        }
        if let Some(c) = &client_id {
            if self
                .algos
                .values()
                .any(|a| a.status == "NEW" && &a.client_id == c)
            {
                return Err(ApiErr::bad(-4116, "ClientOrderId is duplicated."));
            }
        }
        let id = self.next_algo;
        self.next_algo += 1;
        let client_id = client_id.unwrap_or_else(|| client_id_for(id | 1 << 62));
        self.algos.insert(
            id,
            Algo {
                id,
                client_id,
                sym,
                buy,
                kind,
                trigger,
                qty,
                reduce_only,
                status: "NEW",
                time: now,
                update: now,
                order_id: None,
            },
        );
        self.algo_event(id, now);
        Ok(id)
    }

    pub(crate) fn cancel_algo(&mut self, id: u64, now: i64) -> Result<(), ApiErr> {
        match self.algos.get_mut(&id) {
            Some(a) if a.status == "NEW" => {
                a.status = "CANCELED";
                a.update = now;
            }
            _ => return Err(ApiErr::bad(-2011, "Unknown order sent.")),
        }
        self.algo_event(id, now);
        Ok(())
    }

    /// One price step: paths move, stops trigger, resting orders fill.
    pub(crate) fn tick(&mut self, now: i64) {
        for s in &mut self.symbols {
            s.path.step();
        }
        self.match_all(now);
    }

    pub(crate) fn match_all(&mut self, now: i64) {
        let open: Vec<u64> = self
            .orders
            .values()
            .filter(|o| o.status.open())
            .map(|o| o.id)
            .collect();
        for id in open {
            self.run(id, now, false);
        }
        let algos: Vec<u64> = self
            .algos
            .values()
            .filter(|a| a.status == "NEW" || a.status == "TRIGGERED")
            .map(|a| a.id)
            .collect();
        for id in algos {
            self.run_algo(id, now);
        }
    }

    fn run_algo(&mut self, id: u64, now: i64) {
        let Some(a) = self.algos.get(&id) else {
            return;
        };
        if a.status == "TRIGGERED" {
            let done = a
                .order_id
                .and_then(|o| self.orders.get(&o))
                .is_none_or(|o| !o.status.open());
            if done {
                if let Some(a) = self.algos.get_mut(&id) {
                    a.status = "FINISHED";
                    a.update = now;
                }
                self.algo_event(id, now);
            }
            return;
        }
        let mid = self.symbols[a.sym].path.mid;
        if !fires(a.kind, a.buy, a.trigger, mid) {
            return;
        }
        // TRIGGERING goes out before the order's own events, as the Algo Service
        // forwards the order to the matching engine only then.
        if let Some(a) = self.algos.get_mut(&id) {
            a.status = "TRIGGERING";
            a.update = now;
        }
        self.algo_event(id, now);
        let Some(a) = self.algos.get(&id) else {
            return;
        };
        let n = NewOrder {
            sym: a.sym,
            buy: a.buy,
            kind: Kind::Market,
            tif: Tif::Gtc,
            price: 0,
            stop: 0,
            qty: a.qty,
            client_id: Some(a.client_id.clone()),
            reduce_only: a.reduce_only,
        };
        match self.place(n, now) {
            Ok((oid, _)) => {
                if let Some(a) = self.algos.get_mut(&id) {
                    a.status = "TRIGGERED";
                    a.order_id = Some(oid);
                    a.update = now;
                }
                self.algo_event(id, now);
                self.run_algo(id, now);
            }
            Err(_) => {
                if let Some(a) = self.algos.get_mut(&id) {
                    a.status = "REJECTED";
                    a.update = now;
                }
                self.algo_event(id, now);
            }
        }
    }

    // ---- user-data events -------------------------------------------------------

    fn report(
        &mut self,
        id: u64,
        x: &str,
        fill: Option<(&Fill, bool)>,
        cancel_client: Option<&str>,
        now: i64,
    ) {
        let Some(o) = self.orders.get(&id) else {
            return;
        };
        let exec_id = self.next_exec;
        self.next_exec += 1;
        let s = &self.symbols[o.sym];
        let ev = if self.spot() {
            let f8 = |v: i64| dec::fixed(v, 8);
            let (l, lp, n, na, t, m, y) = match fill {
                Some((f, maker)) => (
                    f8(f.qty),
                    f8(f.price),
                    f8(f.commission),
                    Value::from(f.asset.clone()),
                    f.trade_id as i64,
                    maker,
                    f8(dec::mul(f.qty, f.price).unwrap_or(0)),
                ),
                None => (f8(0), f8(0), "0".to_string(), Value::Null, -1, false, f8(0)),
            };
            let mut ev = json!({
                "e": "executionReport", "E": now, "s": s.name,
                "c": cancel_client.unwrap_or(&o.client_id),
                "S": o.side(), "o": o.kind.name(), "f": o.tif.name(),
                "q": f8(o.qty), "p": f8(o.price), "P": f8(o.stop), "F": f8(0),
                "g": -1, "C": if cancel_client.is_some() { o.client_id.as_str() } else { "" },
                "x": x, "X": o.status.name(), "r": "NONE", "i": o.id,
                "l": l, "z": f8(o.filled), "L": lp, "n": n, "N": na, "T": now, "t": t,
                "I": exec_id, "w": o.status.open() && o.working, "m": m, "M": false,
                "O": o.time, "Z": f8(o.quote), "Y": y, "Q": f8(0),
                "V": "EXPIRE_MAKER"
            });
            if o.working_time >= 0 {
                ev["W"] = json!(o.working_time);
            }
            ev
        } else {
            let t = |v: i64| dec::trim(v);
            let (l, lp, n, tid, m) = match fill {
                Some((f, maker)) => (t(f.qty), t(f.price), t(f.commission), f.trade_id, maker),
                None => ("0".into(), "0".into(), "0".into(), 0, false),
            };
            let rp = if fill.is_some() {
                t(self.last_realized)
            } else {
                "0".into()
            };
            let open_notional = |buy: bool| {
                if o.status.open() && o.buy == buy {
                    dec::mul(o.leaves(), o.price).unwrap_or(0)
                } else {
                    0
                }
            };
            json!({
                "e": "ORDER_TRADE_UPDATE", "E": now, "T": now,
                "o": {
                    "s": s.name, "c": o.client_id, "S": o.side(), "o": o.kind.name(),
                    "f": o.tif.name(), "q": t(o.qty), "p": t(o.price), "ap": t(o.avg()),
                    "sp": t(o.stop), "x": x, "X": o.status.name(), "i": o.id,
                    "l": l, "z": t(o.filled), "L": lp, "N": "USDT", "n": n, "T": now,
                    "t": tid, "b": t(open_notional(true)), "a": t(open_notional(false)),
                    "m": m, "R": o.reduce_only, "wt": "CONTRACT_PRICE", "ot": o.kind.name(),
                    "ps": "BOTH", "cp": false, "rp": rp, "pP": false, "si": 0, "ss": 0,
                    "V": "EXPIRE_MAKER", "pm": "NONE", "gtd": 0, "er": "0"
                }
            })
        };
        self.events.push(ev);
    }

    /// Sets an asset's free balance from outside trading (a deposit or withdrawal, or a
    /// test changing it behind the client's back): `balanceUpdate`, then the
    /// `outboundAccountPosition` Binance sends with it. Returns the change.
    pub(crate) fn set_free(&mut self, asset: &str, free: i64, now: i64) -> i64 {
        let b = self.bal(asset);
        let delta = free - b.0;
        b.0 = free;
        self.events
            .push(json!({"e": "balanceUpdate", "E": now, "a": asset,
            "d": dec::fixed(delta, 8), "T": now}));
        self.account_event(&[asset.to_string()], now);
        delta
    }

    fn account_event(&mut self, assets: &[String], now: i64) {
        let b: Vec<Value> = assets
            .iter()
            .map(|a| {
                let (f, l) = self.balances.get(a).copied().unwrap_or((0, 0));
                json!({"a": a, "f": dec::fixed(f, 8), "l": dec::fixed(l, 8)})
            })
            .collect();
        self.events
            .push(json!({"e": "outboundAccountPosition", "E": now, "u": now, "B": b}));
    }

    fn futures_account_event(&mut self, sym: usize, now: i64) {
        let p = self.position(sym);
        let s = &self.symbols[sym];
        let up = unrealized(&p, s.path.mid);
        let t = |v: i64| dec::trim(v);
        self.events.push(json!({
            "e": "ACCOUNT_UPDATE", "E": now, "T": now,
            "a": {
                "m": "ORDER",
                "B": [{"a": "USDT", "wb": t(self.wallet), "cw": t(self.wallet), "bc": "0"}],
                "P": [{
                    "s": s.name, "pa": t(p.amt), "ep": t(p.entry), "bep": t(p.entry),
                    "cr": t(p.realized), "up": t(up), "mt": "cross", "iw": "0", "ps": "BOTH"
                }]
            }
        }));
    }

    fn algo_event(&mut self, id: u64, now: i64) {
        let Some(a) = self.algos.get(&id) else {
            return;
        };
        let s = &self.symbols[a.sym];
        let ev = json!({
            "e": "ALGO_UPDATE", "T": now, "E": now,
            "o": {
                "caid": a.client_id, "aid": a.id, "at": "CONDITIONAL", "o": a.kind.name(),
                "s": s.name, "S": if a.buy { "BUY" } else { "SELL" }, "ps": "BOTH",
                "f": "GTC", "q": dec::trim(a.qty), "X": a.status,
                "ai": a.order_id.map(|o| o.to_string()).unwrap_or_default(),
                "tp": dec::trim(a.trigger), "p": "0", "V": "EXPIRE_MAKER",
                "wt": "CONTRACT_PRICE", "pm": "NONE", "cp": false, "pP": false,
                "R": a.reduce_only, "tt": 0, "gtd": 0
            }
        });
        self.events.push(ev);
    }

    // ---- REST shapes ----------------------------------------------------------------

    /// Spot order as GET /api/v3/order and openOrders show it.
    pub(crate) fn spot_order_json(&self, o: &Order) -> Value {
        let f8 = |v: i64| dec::fixed(v, 8);
        let mut j = json!({
            "symbol": self.symbols[o.sym].name, "orderId": o.id, "orderListId": -1,
            "clientOrderId": o.client_id, "price": f8(o.price), "origQty": f8(o.qty),
            "executedQty": f8(o.filled), "cummulativeQuoteQty": f8(o.quote),
            "status": o.status.name(), "timeInForce": o.tif.name(), "type": o.kind.name(),
            "side": o.side(), "stopPrice": f8(o.stop), "icebergQty": f8(0), "time": o.time,
            "updateTime": o.update, "isWorking": o.working, "origQuoteOrderQty": f8(0),
            "selfTradePreventionMode": "EXPIRE_MAKER"
        });
        if o.working_time >= 0 {
            j["workingTime"] = json!(o.working_time);
        }
        j
    }

    /// Spot new-order response (ACK / RESULT / FULL) and the cancel response.
    pub(crate) fn spot_response(&self, o: &Order, resp: &str, fills: &[Fill], now: i64) -> Value {
        let f8 = |v: i64| dec::fixed(v, 8);
        let mut j = json!({
            "symbol": self.symbols[o.sym].name, "orderId": o.id, "orderListId": -1,
            "clientOrderId": o.client_id, "transactTime": now
        });
        if resp == "ACK" {
            return j;
        }
        for (k, v) in [
            ("price", json!(f8(o.price))),
            ("origQty", json!(f8(o.qty))),
            ("executedQty", json!(f8(o.filled))),
            ("origQuoteOrderQty", json!(f8(0))),
            ("cummulativeQuoteQty", json!(f8(o.quote))),
            ("status", json!(o.status.name())),
            ("timeInForce", json!(o.tif.name())),
            ("type", json!(o.kind.name())),
            ("side", json!(o.side())),
        ] {
            j[k] = v;
        }
        if o.kind == Kind::StopLossLimit {
            j["stopPrice"] = json!(f8(o.stop));
        }
        if o.working_time >= 0 {
            j["workingTime"] = json!(o.working_time);
        }
        if resp == "FULL" {
            j["fills"] = fills
                .iter()
                .map(|f| {
                    json!({"price": f8(f.price), "qty": f8(f.qty), "commission": f8(f.commission),
                           "commissionAsset": f.asset, "tradeId": f.trade_id})
                })
                .collect();
        }
        j["selfTradePreventionMode"] = json!("EXPIRE_MAKER");
        j
    }

    pub(crate) fn spot_cancel_json(&self, o: &Order, cancel_client: &str, now: i64) -> Value {
        let f8 = |v: i64| dec::fixed(v, 8);
        json!({
            "symbol": self.symbols[o.sym].name, "origClientOrderId": o.client_id,
            "orderId": o.id, "orderListId": -1, "clientOrderId": cancel_client,
            "transactTime": now, "price": f8(o.price), "origQty": f8(o.qty),
            "executedQty": f8(o.filled), "origQuoteOrderQty": f8(0),
            "cummulativeQuoteQty": f8(o.quote), "status": o.status.name(),
            "timeInForce": o.tif.name(), "type": o.kind.name(), "side": o.side(),
            "selfTradePreventionMode": "EXPIRE_MAKER"
        })
    }

    /// USDⓈ-M order as every /fapi order endpoint returns it.
    pub(crate) fn futures_order_json(&self, o: &Order) -> Value {
        let t = |v: i64| dec::trim(v);
        json!({
            "avgPrice": t(o.avg()), "clientOrderId": o.client_id, "cumQty": t(o.filled),
            "cumQuote": t(o.quote), "executedQty": t(o.filled), "orderId": o.id,
            "origQty": t(o.qty), "origType": o.kind.name(), "price": t(o.price),
            "reduceOnly": o.reduce_only, "side": o.side(), "positionSide": "BOTH",
            "status": o.status.name(), "stopPrice": t(o.stop), "closePosition": false,
            "symbol": self.symbols[o.sym].name, "time": o.time, "timeInForce": o.tif.name(),
            "type": o.kind.name(), "updateTime": o.update, "workingType": "CONTRACT_PRICE",
            "priceProtect": false, "priceMatch": "NONE",
            "selfTradePreventionMode": "EXPIRE_MAKER", "goodTillDate": 0
        })
    }

    pub(crate) fn algo_json(&self, id: u64) -> Option<Value> {
        let a = self.algos.get(&id)?;
        let t = |v: i64| dec::trim(v);
        let (exec, avg) = a
            .order_id
            .and_then(|o| self.orders.get(&o))
            .map_or((0, 0), |o| (o.filled, o.avg()));
        Some(json!({
            "algoId": a.id, "clientAlgoId": a.client_id, "algoType": "CONDITIONAL",
            "orderType": a.kind.name(), "symbol": self.symbols[a.sym].name,
            "side": if a.buy { "BUY" } else { "SELL" }, "positionSide": "BOTH",
            "timeInForce": "GTC", "quantity": t(a.qty), "algoStatus": a.status,
            "actualOrderId": a.order_id.map(|o| o.to_string()).unwrap_or_default(),
            "actualPrice": t(avg), "executedQty": t(exec), "triggerPrice": t(a.trigger),
            "price": "0", "icebergQuantity": null, "tpTriggerPrice": "0", "tpPrice": "0",
            "slTriggerPrice": "0", "slPrice": "0", "tpOrderType": "", "selfTradePreventionMode": "EXPIRE_MAKER",
            "workingType": "CONTRACT_PRICE", "priceMatch": "NONE", "closePosition": false,
            "priceProtect": false, "reduceOnly": a.reduce_only, "createTime": a.time,
            "updateTime": a.update, "triggerTime": 0, "goodTillDate": 0
        }))
    }

    pub(crate) fn unrealized_of(&self, sym: usize) -> i64 {
        unrealized(&self.position(sym), self.symbols[sym].path.mid)
    }
}

fn fires(kind: Kind, buy: bool, trigger: i64, mid: i64) -> bool {
    match (kind, buy) {
        (Kind::StopMarket, true) | (Kind::TakeProfitMarket, false) => mid >= trigger,
        (Kind::StopMarket, false) | (Kind::TakeProfitMarket, true) => mid <= trigger,
        _ => false,
    }
}

fn unrealized(p: &Position, mark: i64) -> i64 {
    dec::mul(p.amt, mark - p.entry).unwrap_or(0)
}
