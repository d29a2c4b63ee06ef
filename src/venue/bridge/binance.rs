//! Binance spot and USDⓈ-M futures (R-VEN-1): the requests execd sends and what the
//! venue's answers and streams mean, as pure functions of their text. The bridge's
//! I/O thread (`worker.rs`) does the sending; this file knows the protocol.
//!
//! Current API as documented: spot user data comes from the WebSocket API
//! (`userDataStream.subscribe.signature`; the REST listen key is deprecated), USDⓈ-M
//! user data from a listen key (`POST /fapi/v1/listenKey`, kept alive every 30 min).
//! The user data stream is the one source of order state (acks, fills, cancels,
//! replaces): REST answers are read only for refusals and, after an unknown outcome,
//! for the order's status — so nothing is ever counted twice.
//!
//! Every decimal the venue sends is parsed straight to the instrument's fixed point
//! with checked arithmetic; a value that does not fit (more decimals than the
//! instrument's scale, overflow, garbage) is dropped and counted, never rounded.

use crate::config::Registry;
use crate::model::fixed::{clamp_i64, div_round, write_fixed, Dec, Money, Price, Qty, MONEY_SCALE};
use crate::model::ids::{AccountId, ClOrdId, InstrumentId, Name, OrderType, Side, Tif, VenueId};
use crate::model::quote::Quote;
use crate::model::reason::Reason;
use crate::venue::{VenueEventKind, VenueOrder, VenueOrderState, ASSET_SCALE};
use serde_json::Value;
use std::collections::HashMap;

/// Which Binance API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    /// Spot (`/api/v3`).
    Spot,
    /// USDⓈ-M futures (`/fapi/v1`).
    Usdm,
}

impl Flavor {
    /// Path of the order endpoint.
    pub fn order_path(self) -> &'static str {
        match self {
            Flavor::Spot => "/api/v3/order",
            Flavor::Usdm => "/fapi/v1/order",
        }
    }
    /// Path of the open-orders endpoint.
    pub fn open_orders_path(self) -> &'static str {
        match self {
            Flavor::Spot => "/api/v3/openOrders",
            Flavor::Usdm => "/fapi/v1/openOrders",
        }
    }
    /// Path of the server-time endpoint.
    pub fn time_path(self) -> &'static str {
        match self {
            Flavor::Spot => "/api/v3/time",
            Flavor::Usdm => "/fapi/v1/time",
        }
    }
    /// Path of exchangeInfo.
    pub fn exchange_info_path(self) -> &'static str {
        match self {
            Flavor::Spot => "/api/v3/exchangeInfo",
            Flavor::Usdm => "/fapi/v1/exchangeInfo",
        }
    }
}

/// One instrument as this venue trades it.
#[derive(Clone, Copy, Debug)]
pub struct Sym {
    /// Interned id.
    pub id: InstrumentId,
    /// Price decimals.
    pub price_scale: u8,
    /// Quantity decimals.
    pub qty_scale: u8,
}

/// The venue's symbols, both ways.
#[derive(Clone, Debug)]
pub struct Symbols {
    by_name: HashMap<String, Sym>,
    names: Vec<String>,
    /// Per instrument id (registry-wide), its entry if it trades here.
    by_id: Vec<Option<Sym>>,
    /// Per instrument id, its base and quote assets as exchangeInfo names them.
    assets: Vec<Option<(Name, Name)>>,
}

impl Symbols {
    /// The instruments of venue `v`.
    pub fn of(reg: &Registry, v: VenueId) -> Symbols {
        let mut by_name = HashMap::new();
        let mut by_id = vec![None; reg.instruments.len()];
        let mut names = vec![String::new(); reg.instruments.len()];
        for i in reg.instruments.iter().filter(|i| i.venue == v) {
            let s = Sym {
                id: i.id,
                price_scale: i.price_scale,
                qty_scale: i.qty_scale,
            };
            by_name.insert(i.symbol.as_str().to_ascii_uppercase(), s);
            by_id[i.id.0 as usize] = Some(s);
            names[i.id.0 as usize] = i.symbol.as_str().to_ascii_uppercase();
        }
        Symbols {
            by_name,
            names,
            assets: vec![None; by_id.len()],
            by_id,
        }
    }
    /// Learns each instrument's base and quote assets from exchangeInfo.
    pub fn learn_assets(&mut self, info: &Value) {
        let Some(list) = info.get("symbols").and_then(Value::as_array) else {
            return;
        };
        for s in list {
            let Some(sym) = str_of(s, "symbol").and_then(|n| self.by_name.get(n).copied()) else {
                continue;
            };
            let asset = |k: &str| str_of(s, k).and_then(|a| Name::new(a).ok());
            if let (Some(b), Some(q)) = (asset("baseAsset"), asset("quoteAsset")) {
                self.assets[sym.id.0 as usize] = Some((b, q));
            }
        }
    }
    /// An instrument's (base, quote) assets, once learned.
    pub fn assets_of(&self, id: InstrumentId) -> Option<(Name, Name)> {
        *self.assets.get(id.0 as usize)?
    }
    /// Every asset of the instruments traded here, once each.
    pub fn all_assets(&self) -> Vec<Name> {
        let mut v: Vec<Name> = Vec::new();
        for (b, q) in self.assets.iter().flatten() {
            for a in [b, q] {
                if !v.contains(a) {
                    v.push(*a);
                }
            }
        }
        v
    }
    /// By the venue's symbol.
    pub fn get(&self, name: &str) -> Option<Sym> {
        self.by_name.get(name).copied()
    }
    /// By id: the entry and the venue's symbol.
    pub fn by_id(&self, id: InstrumentId) -> Option<(Sym, &str)> {
        let s = (*self.by_id.get(id.0 as usize)?)?;
        Some((s, self.names[id.0 as usize].as_str()))
    }
    /// Every symbol, lower case (stream names).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.names
            .iter()
            .filter(|n| !n.is_empty())
            .map(String::as_str)
    }
}

/// A decimal at `scale`, exactly (None: not a decimal, overflow, or finer than scale).
pub fn fixed(v: &Value, scale: u8) -> Option<i64> {
    match v {
        Value::String(s) => Dec::parse(s).ok()?.to_scale(scale),
        Value::Number(n) => Dec::parse(&n.to_string()).ok()?.to_scale(scale),
        _ => None,
    }
}

/// An amount in money units ([`MONEY_SCALE`] decimals), rounded half away from zero
/// when the venue gives more decimals (commissions have 8).
fn money(v: &Value) -> Option<i64> {
    let d = match v {
        Value::String(s) => Dec::parse(s).ok()?,
        _ => return None,
    };
    if d.scale <= MONEY_SCALE {
        return d.to_scale(MONEY_SCALE);
    }
    let k = 10i64.checked_pow((d.scale - MONEY_SCALE) as u32)?;
    let q = d.mant / k;
    let r = d.mant % k;
    Some(if r.abs() * 2 >= k { q + r.signum() } else { q })
}

fn fmt(mant: i64, scale: u8) -> String {
    let mut s = String::new();
    let _ = write_fixed(&mut s, mant, scale);
    s
}

/// A query string under construction (values percent-encoded as Binance reads them).
#[derive(Default, Debug, Clone)]
pub struct Params(pub String);

impl Params {
    /// Appends `k=v`.
    pub fn add(&mut self, k: &str, v: &str) -> &mut Params {
        if !self.0.is_empty() {
            self.0.push('&');
        }
        self.0.push_str(k);
        self.0.push('=');
        super::sign::percent_encode(v, &mut self.0);
        self
    }
}

fn side(s: Side) -> &'static str {
    match s {
        Side::Buy => "BUY",
        Side::Sell => "SELL",
    }
}

/// Binance has no DAY order: crypto trades around the clock. Refused rather than
/// silently made good-till-canceled.
fn tif(t: Tif) -> Result<&'static str, Reason> {
    match t {
        Tif::Gtc => Ok("GTC"),
        Tif::Ioc => Ok("IOC"),
        Tif::Fok => Ok("FOK"),
        Tif::Day => Err(Reason::VenueRejected),
    }
}

/// Whether an order goes to the USDⓈ-M Algo Service (`/fapi/v1/algoOrder`): since
/// 2025-12-09 conditional orders (STOP, STOP_MARKET, …) are placed there, and
/// `/fapi/v1/order` refuses them (-4120).
pub fn is_algo(flavor: Flavor, t: OrderType) -> bool {
    flavor == Flavor::Usdm && t.has_stop()
}

/// A USDⓈ-M conditional order for the Algo Service: `clientAlgoId` carries our client
/// order id, which the order it triggers also carries.
pub fn algo_order(sym: Sym, symbol: &str, o: &VenueOrder) -> Result<Params, Reason> {
    let mut p = Params::default();
    p.add("algoType", "CONDITIONAL")
        .add("symbol", symbol)
        .add("side", side(o.side));
    let limit = o.order_type.has_limit();
    p.add("type", if limit { "STOP" } else { "STOP_MARKET" });
    if limit {
        p.add("timeInForce", tif(o.tif)?);
        p.add("price", &fmt(o.limit.0, sym.price_scale));
    }
    p.add("quantity", &fmt(o.qty.0, sym.qty_scale))
        .add("triggerPrice", &fmt(o.stop.0, sym.price_scale));
    if o.reduce_only {
        p.add("reduceOnly", "true");
    }
    p.add("clientAlgoId", &o.cl.to_string());
    Ok(p)
}

/// The parameters of a new order (unsigned, without timestamp). `cl` goes out as
/// `newClientOrderId`, the same on every retry (R-RES-1).
pub fn new_order(flavor: Flavor, sym: Sym, symbol: &str, o: &VenueOrder) -> Result<Params, Reason> {
    let mut p = Params::default();
    p.add("symbol", symbol).add("side", side(o.side));
    let (ps, qs) = (sym.price_scale, sym.qty_scale);
    let ty = match (flavor, o.order_type) {
        (_, OrderType::Market) => "MARKET",
        (_, OrderType::Limit) => "LIMIT",
        (Flavor::Spot, OrderType::StopLimit) => "STOP_LOSS_LIMIT",
        (Flavor::Spot, OrderType::Stop) => "STOP_LOSS",
        (Flavor::Usdm, OrderType::StopLimit) => "STOP",
        (Flavor::Usdm, OrderType::Stop) => "STOP_MARKET",
    };
    p.add("type", ty);
    if o.order_type.has_limit() {
        p.add("timeInForce", tif(o.tif)?);
    }
    p.add("quantity", &fmt(o.qty.0, qs));
    if o.order_type.has_limit() {
        p.add("price", &fmt(o.limit.0, ps));
    }
    if o.order_type.has_stop() {
        p.add("stopPrice", &fmt(o.stop.0, ps));
    }
    if o.reduce_only {
        if flavor == Flavor::Spot {
            // Spot has no position to reduce: a protective order is just a sell/buy.
        } else {
            p.add("reduceOnly", "true");
        }
    }
    p.add("newClientOrderId", &o.cl.to_string());
    p.add("newOrderRespType", "ACK");
    Ok(p)
}

/// A cancel of the order known as `orig`; spot also names the cancel itself.
pub fn cancel(flavor: Flavor, symbol: &str, cl: ClOrdId, orig: ClOrdId) -> Params {
    let mut p = Params::default();
    p.add("symbol", symbol)
        .add("origClientOrderId", &orig.to_string());
    if flavor == Flavor::Spot {
        p.add("newClientOrderId", &cl.to_string());
    }
    p
}

/// A replace: spot `POST /api/v3/order/cancelReplace` (STOP_ON_FAILURE: the new order
/// goes in only if the cancel succeeded), USDⓈ-M `PUT /fapi/v1/order` (a LIMIT order's
/// price and quantity amended in place, keeping its client order id). `unfilled`: the
/// spot remainder assumed nothing filled (ONLY_NEW). Returns the path and method.
pub fn replace(
    flavor: Flavor,
    sym: Sym,
    symbol: &str,
    o: &VenueOrder,
    cl: ClOrdId,
    orig: ClOrdId,
    unfilled: bool,
) -> Result<(&'static str, &'static str, Params), Reason> {
    let mut p = Params::default();
    match flavor {
        Flavor::Spot => {
            let mut n = *o;
            n.cl = cl;
            let body = new_order(flavor, sym, symbol, &n)?;
            p.add("cancelReplaceMode", "STOP_ON_FAILURE");
            if unfilled {
                // Sized on nothing filled: a fill before the venue cancels makes the
                // replace fail (nothing placed) rather than place too much.
                p.add("cancelRestrictions", "ONLY_NEW");
            }
            p.add("cancelOrigClientOrderId", &orig.to_string());
            p.0.push('&');
            p.0.push_str(&body.0);
            Ok(("POST", "/api/v3/order/cancelReplace", p))
        }
        Flavor::Usdm => {
            if o.order_type != OrderType::Limit {
                return Err(Reason::VenueRejected);
            }
            p.add("symbol", symbol)
                .add("origClientOrderId", &orig.to_string())
                .add("side", side(o.side))
                .add("quantity", &fmt(o.qty.0, sym.qty_scale))
                .add("price", &fmt(o.limit.0, sym.price_scale));
            Ok(("PUT", "/fapi/v1/order", p))
        }
    }
}

/// A status query by client order id (R-RES-1: asked, never resent).
pub fn query(symbol: &str, cl: ClOrdId) -> Params {
    let mut p = Params::default();
    p.add("symbol", symbol)
        .add("origClientOrderId", &cl.to_string());
    p
}

/// execd's code for a Binance error answer.
pub fn reason_of(code: i64, msg: &str) -> Reason {
    let m = msg.to_ascii_lowercase();
    match code {
        -1003 | -1015 => Reason::VenueRateLimited,
        -2011 | -2013 => Reason::VenueUnknownOrder,
        -2018 | -2019 => Reason::VenueFunds,
        -2010 if m.contains("insufficient") => Reason::VenueFunds,
        _ => Reason::VenueRejected,
    }
}

/// A Binance error body (`{"code":-2010,"msg":"..."}`), if that is what `v` is.
pub fn error_of(v: &Value) -> Option<(i64, &str)> {
    let code = v.get("code")?.as_i64()?;
    (code < 0).then(|| (code, v.get("msg").and_then(Value::as_str).unwrap_or("")))
}

/// An order's state at the venue from its status word.
pub fn state_of(s: &str) -> Option<VenueOrderState> {
    Some(match s {
        "NEW" | "PARTIALLY_FILLED" | "PENDING_NEW" => VenueOrderState::Working,
        "PENDING_CANCEL" => VenueOrderState::Pending,
        "FILLED" => VenueOrderState::Filled,
        "CANCELED" => VenueOrderState::Canceled,
        "EXPIRED" | "EXPIRED_IN_MATCH" => VenueOrderState::Expired,
        "REJECTED" => VenueOrderState::Rejected,
        _ => return None,
    })
}

fn str_of<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k)?.as_str()
}

/// Average price at `ps` decimals of `quote` spent on `qty` (both exact decimals),
/// rounded to nearest; None on zero quantity or overflow.
fn avg_price(quote: &Value, qty: &Value, ps: u8) -> Option<i64> {
    let q = match quote {
        Value::String(s) => Dec::parse(s).ok()?,
        _ => return None,
    };
    let n = match qty {
        Value::String(s) => Dec::parse(s).ok()?,
        _ => return None,
    };
    if n.mant == 0 {
        return None;
    }
    // q.mant/10^q.scale ÷ n.mant/10^n.scale × 10^ps
    let num = (q.mant as i128).checked_mul(10i128.checked_pow(ps as u32 + n.scale as u32)?)?;
    let den = (n.mant as i128).checked_mul(10i128.checked_pow(q.scale as u32)?)?;
    if den <= 0 || num < 0 {
        return None;
    }
    let r = num.checked_add(den / 2)? / den;
    i64::try_from(r).ok()
}

/// An order as a REST status answer (`GET order`, `openOrders`) or a cancel/replace
/// answer describes it: (its client order id, instrument, state, cum qty, avg px).
pub fn order_status(
    flavor: Flavor,
    syms: &Symbols,
    o: &Value,
) -> Option<(Option<ClOrdId>, InstrumentId, VenueOrderState, Qty, Price)> {
    let sym = syms.get(str_of(o, "symbol")?)?;
    let cl = str_of(o, "clientOrderId").and_then(ClOrdId::parse);
    let state = state_of(str_of(o, "status")?)?;
    // A negative executed quantity is not an answer (it would take back fills booked).
    let cum = fixed(o.get("executedQty")?, sym.qty_scale).filter(|&c| c >= 0)?;
    let avg = if cum == 0 {
        0
    } else {
        match flavor {
            Flavor::Spot => avg_price(
                o.get("cummulativeQuoteQty")?,
                o.get("executedQty")?,
                sym.price_scale,
            )?,
            Flavor::Usdm => fixed(o.get("avgPrice")?, sym.price_scale)?,
        }
    };
    // Something filled at no price, or a negative one, is not an answer either.
    if cum > 0 && avg <= 0 {
        return None;
    }
    Some((cl, sym.id, state, Qty(cum), Price(avg)))
}

/// What earlier venue orders of a replaced order filled, from a status answer for the
/// current one: `total` (the core's quantity) less its `origQty`, since a replace places
/// exactly the remainder (0 for an order never replaced, or on a value that does not fit).
pub fn earlier_fills(syms: &Symbols, total: Qty, o: &Value) -> i64 {
    let Some(sym) = str_of(o, "symbol").and_then(|s| syms.get(s)) else {
        return 0;
    };
    // An order of no or a negative quantity is no answer: it would make more filled
    // earlier than the whole order.
    o.get("origQty")
        .and_then(|q| fixed(q, sym.qty_scale))
        .filter(|&q| q > 0)
        .and_then(|q| total.0.checked_sub(q))
        .map_or(0, |d| d.max(0))
}

/// What order `total` (the core's quantity before a spot cancelReplace) had filled when
/// the venue canceled its old venue order: earlier venue orders' part (`total` less the
/// old one's `origQty`) plus the old one's `executedQty`, from the answer's
/// `cancelResponse`. None when the answer does not say.
pub fn filled_at_replace(syms: &Symbols, total: Qty, answer: &Value) -> Option<i64> {
    let c = answer.get("cancelResponse")?;
    let sym = str_of(c, "symbol").and_then(|s| syms.get(s))?;
    let executed = fixed(c.get("executedQty")?, sym.qty_scale)?;
    c.get("origQty")?;
    earlier_fills(syms, total, c).checked_add(executed)
}

/// A replace the venue was asked for and has not reported yet: its stream tells the
/// old order's cancel and the new one's NEW (spot) or an AMENDMENT (USDⓈ-M); the core
/// hears one `Replaced`.
#[derive(Clone, Copy, Debug)]
pub struct PendingReplace {
    /// The replace request's id (the new working one).
    pub cl: ClOrdId,
    /// The order it replaces.
    pub orig: ClOrdId,
    /// Terms from now on.
    pub qty: Qty,
    /// Limit from now on.
    pub limit: Price,
}

/// What the bridge remembers to read its user data stream.
#[derive(Debug, Default)]
pub struct StreamState {
    /// Replaces in flight, by request.
    pub replaces: Vec<PendingReplace>,
    /// USDⓈ-M conditional orders acked by the Algo Service: the order each triggers
    /// reports NEW again under the same id, which is not a second ack.
    pub algos: Vec<ClOrdId>,
    /// Values that did not fit (bad decimals, unknown symbols): dropped, counted.
    pub invalid: u64,
    /// Open orders (execd's order ids) with executions: (quantity filled by earlier venue
    /// orders a spot cancelReplace closed, quantity the current venue order filled). A
    /// cancelReplace places a new order whose cumulative count starts at 0, so the core's
    /// cumulative quantity is the sum of both.
    pub filled: HashMap<u64, (i64, i64)>,
    /// What `filled`'s two parts cost (price × quantity mantissas): earlier venue orders'
    /// (None when their quantity came from an answer, not from trades seen here) and
    /// the current one's. A status answer's average is its venue order's alone; the
    /// core prices a recovered fill from the order's average.
    pub notional: HashMap<u64, (Option<i128>, i128)>,
}

impl StreamState {
    /// What order `order` filled so far across its venue orders (0 when none).
    pub fn cum_of(&self, order: u64) -> i64 {
        self.filled
            .get(&order)
            .map_or(0, |&(prior, leg)| prior.saturating_add(leg))
    }

    /// Filled by venue orders a cancelReplace closed: added to what a status answer for
    /// the current venue order says.
    pub fn prior_of(&self, order: u64) -> i64 {
        self.filled.get(&order).map_or(0, |f| f.0)
    }

    /// What a status answer says order `order`'s current venue order filled (`leg`),
    /// after `prior` from earlier ones: kept unless the stream already knows more, so a
    /// restart or a stream gap does not make a later replace or trade forget it.
    pub fn seed(&mut self, order: u64, prior: i64, leg: i64, leg_avg: Price) {
        if leg <= 0 {
            return;
        }
        let total = prior.saturating_add(leg);
        if total > self.cum_of(order) {
            let known = self.notional.get(&order).and_then(|n| n.0);
            let earlier = known.filter(|_| self.prior_of(order) == prior);
            let earlier = if prior == 0 { Some(0) } else { earlier };
            self.filled.insert(order, (prior, leg));
            self.notional
                .insert(order, (earlier, i128::from(leg) * i128::from(leg_avg.0)));
        }
    }

    /// The order's average over all its venue orders, given the current one's filled
    /// `leg` at `leg_avg` after `prior` from earlier ones: what the core prices a
    /// recovered fill from. When what earlier ones cost is not known here (after a
    /// restart) the current one's average stands for them too.
    pub fn average_of(&self, order: u64, prior: i64, leg: i64, leg_avg: Price) -> Price {
        let known = self
            .notional
            .get(&order)
            .and_then(|n| n.0)
            .filter(|_| prior > 0 && self.prior_of(order) == prior);
        let Some(earlier) = known else {
            return leg_avg;
        };
        let total = i128::from(prior) + i128::from(leg);
        let cost = earlier + i128::from(leg_avg.0) * i128::from(leg);
        Price(clamp_i64(div_round(cost, total)))
    }

    /// The order is done: nothing about it is kept.
    fn forget(&mut self, order: u64) {
        self.filled.remove(&order);
        self.notional.remove(&order);
    }

    fn take_replace(&mut self, f: impl Fn(&PendingReplace) -> bool) -> Option<PendingReplace> {
        let i = self.replaces.iter().position(f)?;
        Some(self.replaces.swap_remove(i))
    }
}

/// The event inside a stream message: raw (`{"e":...}`), combined
/// (`{"stream":..,"data":{..}}`) or WebSocket API (`{"subscriptionId":0,"event":{..}}`).
pub fn unwrap_event(v: &Value) -> &Value {
    v.get("data").or_else(|| v.get("event")).unwrap_or(v)
}

/// A bookTicker message (spot has no `e`; USDⓈ-M says `"e":"bookTicker"`), stamped with
/// our receive time `at_ns`.
pub fn book_ticker(syms: &Symbols, v: &Value, at_ns: u64) -> Option<(InstrumentId, Quote)> {
    let v = unwrap_event(v);
    if v.get("e").is_some_and(|e| e != "bookTicker") {
        return None;
    }
    let sym = syms.get(str_of(v, "s")?)?;
    let (ps, qs) = (sym.price_scale, sym.qty_scale);
    Some((
        sym.id,
        Quote {
            bid: Price(fixed(v.get("b")?, ps)?),
            ask: Price(fixed(v.get("a")?, ps)?),
            bid_size: Qty(fixed(v.get("B")?, qs)?),
            ask_size: Qty(fixed(v.get("A")?, qs)?),
            at_ns,
        },
    ))
}

/// A user data stream event, as core events (appended to `out`): spot executionReport,
/// USDⓈ-M ORDER_TRADE_UPDATE and ACCOUNT_UPDATE (positions of `account`). Returns
/// whether the message was one of ours and well formed.
pub fn user_event(
    syms: &Symbols,
    st: &mut StreamState,
    account: AccountId,
    v: &Value,
    out: &mut Vec<VenueEventKind>,
) -> bool {
    let v = unwrap_event(v);
    let ok = match str_of(v, "e") {
        Some("executionReport") => execution(syms, st, v, false, out),
        Some("ORDER_TRADE_UPDATE") => match v.get("o") {
            Some(o) => execution(syms, st, o, true, out),
            None => false,
        },
        Some("ACCOUNT_UPDATE") => account_update(syms, account, v, out),
        Some("outboundAccountPosition") => account_position(account, v, out),
        Some("ALGO_UPDATE") => match v.get("o") {
            Some(o) => algo_update(syms, st, o, out),
            None => false,
        },
        // balanceUpdate (a deposit, a withdrawal: the outboundAccountPosition that
        // follows carries the balance), listen key expiry and the rest change no order:
        // kept in the wire log only.
        _ => return true,
    };
    if !ok {
        st.invalid += 1;
    }
    ok
}

fn execution(
    syms: &Symbols,
    st: &mut StreamState,
    o: &Value,
    usdm: bool,
    out: &mut Vec<VenueEventKind>,
) -> bool {
    let Some(sym) = str_of(o, "s").and_then(|s| syms.get(s)) else {
        return false;
    };
    let orig = str_of(o, "C").and_then(ClOrdId::parse);
    let Some(x) = str_of(o, "x") else {
        return false;
    };
    // A cancel names itself in `c` and the order in `C`: one of ours canceled under an
    // id not ours (by hand, or the bridge cutting an oversized replace) is still ours.
    let ours = str_of(o, "c").and_then(ClOrdId::parse);
    let ours = if x == "CANCELED" { ours.or(orig) } else { ours };
    // Not ours (placed by hand or another program): nothing for the core.
    let Some(c) = ours else {
        return true;
    };
    let venue_order_id = o.get("i").and_then(Value::as_u64).unwrap_or(0);
    match x {
        "NEW" => {
            if st.algos.contains(&c) {
                // The triggered order of a conditional order already acked.
            } else if let Some(r) = st.take_replace(|r| r.cl == c) {
                // A new venue order: its count starts over, what the old one filled stays.
                if let Some(f) = st.filled.get_mut(&c.order.0) {
                    f.0 = f.0.saturating_add(f.1);
                    f.1 = 0;
                }
                if let Some(n) = st.notional.get_mut(&c.order.0) {
                    n.0 = n.0.and_then(|p| p.checked_add(n.1));
                    n.1 = 0;
                }
                out.push(VenueEventKind::Replaced {
                    cl: r.cl,
                    qty: r.qty,
                    limit: r.limit,
                });
            } else {
                out.push(VenueEventKind::Ack {
                    cl: c,
                    venue_order_id,
                });
            }
        }
        "AMENDMENT" => {
            // USDⓈ-M modify: the order keeps its id; the core's replace request is the
            // one whose original it names.
            if let Some(r) = st.take_replace(|r| r.orig.order == c.order) {
                out.push(VenueEventKind::Replaced {
                    cl: r.cl,
                    qty: r.qty,
                    limit: r.limit,
                });
            }
        }
        "CANCELED" => {
            // The cancel half of a spot cancelReplace: the core hears the Replaced.
            let target = orig.unwrap_or(c);
            if st.replaces.iter().any(|r| r.orig == target) {
                return true;
            }
            st.forget(c.order.0);
            out.push(VenueEventKind::Canceled { cl: c });
        }
        "EXPIRED" | "EXPIRED_IN_MATCH" => {
            st.forget(c.order.0);
            out.push(VenueEventKind::Expired { cl: c })
        }
        // Self-trade prevention: the order is gone when its status says so (a maker
        // expired by another's prevention reports the same way).
        "TRADE_PREVENTION" if str_of(o, "X") == Some("EXPIRED_IN_MATCH") => {
            st.forget(c.order.0);
            out.push(VenueEventKind::Expired { cl: c })
        }
        "REJECTED" => {
            st.forget(c.order.0);
            out.push(VenueEventKind::Rejected {
                cl: c,
                reason: Reason::VenueRejected,
            })
        }
        "TRADE" => {
            let (ps, qs) = (sym.price_scale, sym.qty_scale);
            let (Some(px), Some(qty), Some(cum), Some(exec_id)) = (
                o.get("L").and_then(|v| fixed(v, ps)),
                o.get("l").and_then(|v| fixed(v, qs)),
                o.get("z").and_then(|v| fixed(v, qs)),
                o.get("t").and_then(Value::as_u64),
            ) else {
                return false;
            };
            // A trade has a price and a quantity, and its order's cumulative quantity
            // includes it; anything else is not booked (it would reach positions and P&L).
            if px <= 0 || qty <= 0 || cum < qty {
                return false;
            }
            let prior = st.prior_of(c.order.0);
            let Some(total) = prior.checked_add(cum) else {
                return false;
            };
            if str_of(o, "X") == Some("PARTIALLY_FILLED") {
                // Only quantity not counted yet adds to the cost (an answer may have
                // seeded part of it).
                let before = st.filled.get(&c.order.0).map_or(0, |f| f.1);
                let new = i128::from(cum.saturating_sub(before).clamp(0, qty.max(0)));
                let n = st
                    .notional
                    .entry(c.order.0)
                    .or_insert((if prior == 0 { Some(0) } else { None }, 0));
                n.1 = n.1.saturating_add(new * i128::from(px));
                st.filled.insert(c.order.0, (prior, cum));
            } else {
                st.forget(c.order.0);
            }
            // Commission counts as money only in the quote asset (the account's
            // currency, USDT on USDⓈ-M); one paid in BNB or the base asset is kept in its
            // asset (`FillAssets`), never taken for money.
            let assets = syms.assets_of(sym.id);
            let fee_asset = str_of(o, "N").filter(|a| !a.is_empty());
            let in_quote = match (assets, fee_asset) {
                (Some((_, q)), Some(a)) => q.as_str() == a,
                (None, Some(a)) => str_of(o, "s").unwrap_or("").ends_with(a),
                _ => false,
            };
            let fee = if in_quote {
                o.get("n").and_then(money).unwrap_or(0)
            } else {
                0
            };
            out.push(VenueEventKind::Fill {
                cl: c,
                exec_id: if usdm { exec_id | 1 << 63 } else { exec_id },
                px: Price(px),
                qty: Qty(qty),
                fee: Money(fee),
                cum: Some(Qty(total)),
            });
            if !usdm && assets.is_some() {
                match fill_assets(o, c, exec_id, assets, fee_asset) {
                    Some(k) => out.push(k),
                    None => st.invalid += 1,
                }
            }
        }
        // CALCULATED (liquidation), TRADE_PREVENTION, REPLACED (spot amend keep
        // priority) and future kinds: the status query after a reconnect settles them.
        _ => {}
    }
    true
}

/// What a spot execution moved in the account's assets, exactly as the venue gave it:
/// base `l` (+ on a buy), quote `Y` (last quote quantity, − on a buy; `l`×`L` when absent),
/// commission `n` in `N`. None when the assets are unknown or a value does not fit.
fn fill_assets(
    o: &Value,
    cl: ClOrdId,
    exec_id: u64,
    assets: Option<(Name, Name)>,
    fee_asset: Option<&str>,
) -> Option<VenueEventKind> {
    let (base, quote) = assets?;
    let qty = fixed(o.get("l")?, ASSET_SCALE)?;
    let cost = match o.get("Y").and_then(|y| fixed(y, ASSET_SCALE)) {
        Some(y) if y != 0 || qty == 0 => y,
        _ => {
            let px = fixed(o.get("L")?, ASSET_SCALE)?;
            i64::try_from(i128::from(qty) * i128::from(px) / 100_000_000).ok()?
        }
    };
    let fee = match fee_asset {
        Some(_) => fixed(o.get("n")?, ASSET_SCALE)?,
        None => 0,
    };
    let fee_asset = match fee_asset {
        Some(a) => Name::new(a).ok()?,
        None => quote,
    };
    let buy = str_of(o, "S")? == "BUY";
    Some(VenueEventKind::FillAssets {
        cl,
        exec_id,
        base,
        base_delta: if buy { qty } else { -qty },
        quote,
        quote_delta: if buy { -cost } else { cost },
        fee_asset,
        fee,
    })
}

/// Spot `outboundAccountPosition` (`B`: asset, free, locked): balances that changed.
fn account_position(account: AccountId, v: &Value, out: &mut Vec<VenueEventKind>) -> bool {
    let Some(list) = v.get("B").and_then(Value::as_array) else {
        return false;
    };
    let mut ok = true;
    for b in list {
        match balance_of(account, b, "a", "f", "l", false) {
            Some(k) => out.push(k),
            None => ok = false,
        }
    }
    ok
}

fn balance_of(
    account: AccountId,
    b: &Value,
    asset: &str,
    free: &str,
    locked: &str,
    wallet: bool,
) -> Option<VenueEventKind> {
    Some(VenueEventKind::Balance {
        account,
        asset: Name::new(str_of(b, asset)?).ok()?,
        free: fixed(b.get(free)?, ASSET_SCALE)?,
        locked: match b.get(locked) {
            Some(l) => fixed(l, ASSET_SCALE)?,
            None => 0,
        },
        wallet,
    })
}

/// Balances from the account endpoint: spot `GET /api/v3/account` (`balances`: asset,
/// free, locked), USDⓈ-M `GET /fapi/v3/account` (`assets`: asset, walletBalance — a
/// margin wallet). Spot assets of the instruments traded here that it does not list
/// are told as 0, so every one has a starting point; one listed with an amount that does
/// not fit is left out. Whether every entry fitted.
pub fn balances(
    flavor: Flavor,
    syms: &Symbols,
    account: AccountId,
    v: &Value,
    out: &mut Vec<VenueEventKind>,
) -> bool {
    let (key, free, wallet) = match flavor {
        Flavor::Spot => ("balances", "free", false),
        Flavor::Usdm => ("assets", "walletBalance", true),
    };
    let Some(list) = v.get(key).and_then(Value::as_array) else {
        return false;
    };
    let mut ok = true;
    let mut seen = Vec::new();
    for b in list {
        // Seen before its amounts are read: an asset whose amount does not fit is left
        // out, never taken for an empty one below.
        if let Some(asset) = str_of(b, "asset").and_then(|a| Name::new(a).ok()) {
            seen.push(asset);
        }
        match balance_of(account, b, "asset", free, "locked", wallet) {
            Some(k) => out.push(k),
            None => ok = false,
        }
    }
    if flavor == Flavor::Spot {
        for asset in syms.all_assets() {
            if !seen.contains(&asset) {
                out.push(VenueEventKind::Balance {
                    account,
                    asset,
                    free: 0,
                    locked: 0,
                    wallet: false,
                });
            }
        }
    }
    ok
}

/// ALGO_UPDATE: the Algo Service's word on a conditional order (NEW: acked;
/// CANCELED, EXPIRED, REJECTED: done before it triggered; TRIGGERING, TRIGGERED,
/// FINISHED: its triggered order's own ORDER_TRADE_UPDATEs say the rest).
fn algo_update(
    syms: &Symbols,
    st: &mut StreamState,
    o: &Value,
    out: &mut Vec<VenueEventKind>,
) -> bool {
    if str_of(o, "s").and_then(|s| syms.get(s)).is_none() {
        return false;
    }
    let Some(c) = str_of(o, "caid").and_then(ClOrdId::parse) else {
        return true;
    };
    match str_of(o, "X") {
        Some("NEW") if !st.algos.contains(&c) => {
            // Bounded: the oldest acked conditional orders are forgotten first.
            if st.algos.len() >= 65_536 {
                st.algos.remove(0);
            }
            st.algos.push(c);
            let venue_order_id = o.get("aid").and_then(Value::as_u64).unwrap_or(0);
            out.push(VenueEventKind::Ack {
                cl: c,
                venue_order_id,
            });
        }
        Some(x @ ("CANCELED" | "EXPIRED" | "REJECTED")) => {
            st.algos.retain(|a| *a != c);
            out.push(match x {
                "CANCELED" => VenueEventKind::Canceled { cl: c },
                "EXPIRED" => VenueEventKind::Expired { cl: c },
                _ => VenueEventKind::Rejected {
                    cl: c,
                    reason: Reason::VenueRejected,
                },
            });
        }
        _ => {}
    }
    true
}

/// An Algo Service status answer (`GET /fapi/v1/algoOrder`) for an order that has not
/// triggered: where it stands (a triggered one is asked about as an order).
pub fn algo_state(v: &Value) -> Option<VenueOrderState> {
    Some(match str_of(v, "algoStatus")? {
        "NEW" | "TRIGGERING" => VenueOrderState::Working,
        "CANCELED" => VenueOrderState::Canceled,
        "EXPIRED" => VenueOrderState::Expired,
        "REJECTED" => VenueOrderState::Rejected,
        _ => return None,
    })
}

fn account_update(
    syms: &Symbols,
    account: AccountId,
    v: &Value,
    out: &mut Vec<VenueEventKind>,
) -> bool {
    let mut ok = true;
    // `B`: the wallets that changed (asset `a`, wallet balance `wb`).
    if let Some(bs) = v
        .get("a")
        .and_then(|a| a.get("B"))
        .and_then(Value::as_array)
    {
        for b in bs {
            match balance_of(account, b, "a", "wb", "-", true) {
                Some(k) => out.push(k),
                None => ok = false,
            }
        }
    }
    let Some(ps) = v
        .get("a")
        .and_then(|a| a.get("P"))
        .and_then(Value::as_array)
    else {
        return ok;
    };
    for p in ps {
        let Some(sym) = str_of(p, "s").and_then(|s| syms.get(s)) else {
            continue;
        };
        match p.get("pa").and_then(|q| fixed(q, sym.qty_scale)) {
            Some(q) => out.push(VenueEventKind::Position {
                account,
                instrument: sym.id,
                qty: Qty(q),
            }),
            None => ok = false,
        }
    }
    ok
}

/// USDⓈ-M positions (`GET /fapi/v3/positionRisk`): one-way mode, `positionAmt` net.
pub fn positions(
    syms: &Symbols,
    account: AccountId,
    v: &Value,
    out: &mut Vec<VenueEventKind>,
) -> bool {
    let Some(arr) = v.as_array() else {
        return false;
    };
    let mut ok = true;
    for p in arr {
        let Some(sym) = str_of(p, "symbol").and_then(|s| syms.get(s)) else {
            continue;
        };
        match p.get("positionAmt").and_then(|q| fixed(q, sym.qty_scale)) {
            Some(q) => out.push(VenueEventKind::Position {
                account,
                instrument: sym.id,
                qty: Qty(q),
            }),
            None => ok = false,
        }
    }
    ok
}

/// Checks exchangeInfo's filters against execd's instruments (R-VEN-1): every
/// configured tick must be a multiple of the venue's `tickSize` and every lot of its
/// `stepSize` (so whatever passes the gate is on the venue's grid), and an instrument's
/// `max_notional` must reach the venue's minimum notional. The error names the
/// instrument and the field.
pub fn check_filters(reg: &Registry, venue: VenueId, info: &Value) -> Result<(), String> {
    let symbols = info
        .get("symbols")
        .and_then(Value::as_array)
        .ok_or("exchangeInfo has no symbols")?;
    for inst in reg.instruments.iter().filter(|i| i.venue == venue) {
        let name = inst.symbol.as_str();
        let s = symbols
            .iter()
            .find(|s| str_of(s, "symbol").is_some_and(|n| n.eq_ignore_ascii_case(name)))
            .ok_or_else(|| format!("instrument {name}: the venue lists no such symbol"))?;
        let filters = s.get("filters").and_then(Value::as_array);
        let filter =
            |t: &str| filters.and_then(|f| f.iter().find(|x| str_of(x, "filterType") == Some(t)));
        let grid = |t: &str, k: &str, scale: u8, ours: i64, field: &str| -> Result<(), String> {
            let Some(f) = filter(t) else { return Ok(()) };
            let theirs = f
                .get(k)
                .and_then(|v| fixed(v, scale))
                .ok_or_else(|| format!("instrument {name}: {field}: the venue's {t}.{k} {} has more decimals than the instrument's scale ({scale})", f.get(k).unwrap_or(&Value::Null)))?;
            if theirs > 0 && (ours <= 0 || ours % theirs != 0) {
                return Err(format!(
                    "instrument {name}: {field} {} is not a multiple of the venue's {t}.{k} {}",
                    fmt(ours, scale),
                    fmt(theirs, scale)
                ));
            }
            Ok(())
        };
        grid(
            "PRICE_FILTER",
            "tickSize",
            inst.price_scale,
            inst.tick.0,
            "tick",
        )?;
        grid("LOT_SIZE", "stepSize", inst.qty_scale, inst.lot.0, "lot")?;
        let min = filter("NOTIONAL")
            .and_then(|f| f.get("minNotional"))
            .or_else(|| {
                filter("MIN_NOTIONAL")
                    .and_then(|f| f.get("minNotional").or_else(|| f.get("notional")))
            });
        if let Some(m) = min {
            let m = fixed(m, MONEY_SCALE).ok_or_else(|| {
                format!("instrument {name}: max_notional: the venue's minimum notional {m} is not a decimal execd can hold")
            })?;
            if inst.max_notional.0 < m {
                return Err(format!(
                    "instrument {name}: max_notional {} is below the venue's minimum notional {}",
                    fmt(inst.max_notional.0, MONEY_SCALE),
                    fmt(m, MONEY_SCALE)
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
