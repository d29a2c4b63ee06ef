//! The pre-execution gate (R-GATE-1…8): nothing reaches a venue unless every check passes.
//!
//! Each check is a small function returning a [`Reason`] on failure; none allocates. The
//! gate owns what operators and market data set (kill switches, modes, halts, quotes,
//! throttles, breakers); exposure (open orders, positions, margin) comes from the OMS
//! through [`Exposure`].

mod health;
mod hold;
mod kill;
mod venue_budget;

pub(crate) use health::{Breaker, BreakerState, Throttle};
pub(crate) use kill::KillHit;
pub use kill::KillSwitches;

pub use hold::Holds;
pub use venue_budget::VenueBudget;

use crate::config::Registry;
use crate::model::control::{KillState, Mode};
use crate::model::event::Limits;
use crate::model::fixed::{clamp_i64, rescale, Dec, Money, Price, Qty};
use crate::model::ids::{AccountId, InstrumentId, OrderType, Side, VenueId};
use crate::model::instrument::Instrument;
use crate::model::quote::Quote;
use crate::model::reason::Reason;
use crate::model::request::{ExecutionRequest, Level, Protect};

/// A request that passed every check: names interned, prices and quantities as
/// mantissas at the instrument's scales, on its grids.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Checked {
    /// The account it trades for.
    pub account: AccountId,
    /// The venue it goes to.
    pub venue: VenueId,
    /// Known and tradable on that venue.
    pub instrument: InstrumentId,
    /// Positive, a multiple of the lot, within the order limits.
    pub qty: Qty,
    /// On the tick; 0 when the order type has no limit.
    pub limit: Price,
    /// On the tick; 0 when the order type has no stop.
    pub stop: Price,
    /// Upstream's reference price (rounded to the tick scale), or the mid when it gave
    /// none: what slippage and the fat-finger band are measured against.
    pub reference: Price,
    /// On the right side of the entry price.
    pub stop_loss: Option<Level>,
    /// On the right side of the entry price.
    pub take_profit: Option<Level>,
    /// What the order reserves while it works (none for the part that reduces a position).
    pub margin: Money,
    /// A kill switch covering it is at WARNING.
    pub warning: bool,
}

/// A replace as the gate sees it: the order's terms now and the ones asked for.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ReplaceAsk {
    pub account: AccountId,
    pub venue: VenueId,
    pub side: Side,
    pub order_type: OrderType,
    pub old_qty: Qty,
    pub old_limit: Price,
    pub old_stop: Price,
    pub qty: Qty,
    pub limit: Price,
    pub stop: Price,
}

/// An account's and position's exposure, as the OMS knows it.
pub trait Exposure {
    /// Working orders on the account.
    fn open_orders(&self, a: AccountId) -> u32;
    /// Net position and working buy / sell quantity.
    fn position(&self, a: AccountId, i: InstrumentId) -> (Qty, Qty, Qty);
    /// Equity minus margin in use.
    fn margin_available(&self, a: AccountId) -> Money;
}

/// The gate's own state: what operators and market data set, dense by interned id.
#[derive(Clone, Debug)]
pub struct Gate {
    /// Set by operator commands.
    pub kill: KillSwitches,
    pub(crate) modes: Vec<Mode>,
    pub(crate) halted: Vec<bool>,
    /// The latest top of book per instrument, from venues and upstream.
    pub quotes: Vec<Quote>,
    pub(crate) throttles: Vec<Throttle>,
    pub(crate) breakers: Vec<Breaker>,
    /// Per venue: its own rate limits as it reported them, and the orders sent since.
    pub(crate) budgets: Vec<VenueBudget>,
    /// Per instrument: the configured risk limits, as operators changed them since.
    pub(crate) limits: Vec<Limits>,
    max_quote_age_ns: u64,
    cushion_bps: u32,
    /// The audit log failed: every new order is refused (set through a journaled record,
    /// so replay refuses the same ones).
    pub(crate) audit_failed: bool,
    /// Scopes reconciliation holds (R-AUD-4, R-RES-4).
    pub holds: Holds,
}

impl Gate {
    /// A gate in the configured starting state.
    pub fn new(reg: &Registry) -> Gate {
        Gate {
            kill: KillSwitches::new(reg.venues.len(), reg.accounts.len(), reg.instruments.len()),
            modes: reg.accounts.iter().map(|a| a.mode).collect(),
            halted: vec![false; reg.accounts.len()],
            quotes: vec![Quote::default(); reg.instruments.len()],
            throttles: reg
                .venues
                .iter()
                .map(|v| Throttle::new(v.max_orders_per_sec, v.burst))
                .collect(),
            breakers: reg
                .venues
                .iter()
                .map(|v| Breaker::new(v.breaker_failures, v.breaker_cooldown_ns))
                .collect(),
            budgets: vec![VenueBudget::default(); reg.venues.len()],
            limits: reg.instruments.iter().map(Limits::configured).collect(),
            max_quote_age_ns: reg.max_quote_age_ns,
            cushion_bps: reg.margin_cushion_bps,
            audit_failed: false,
            holds: Holds::new(reg.venues.len(), reg.accounts.len(), reg.instruments.len()),
        }
    }

    /// Takes a checked configuration change (`Engine::reconfigure`): venues and
    /// accounts are the same, instruments the same or more. Switches, halts, quotes,
    /// buckets and breakers carry on; an account's mode follows the configuration only
    /// where the configuration's own mode changed, so an operator's `SetMode` survives a
    /// restart that did not touch it.
    pub(crate) fn reconfigure(&mut self, old: &Registry, new: &Registry) {
        self.kill
            .instrument
            .resize(new.instruments.len(), KillState::Off);
        self.quotes.resize(new.instruments.len(), Quote::default());
        for (t, v) in self.throttles.iter_mut().zip(&new.venues) {
            t.retune(v.max_orders_per_sec, v.burst);
        }
        for (b, v) in self.breakers.iter_mut().zip(&new.venues) {
            b.retune(v.breaker_failures, v.breaker_cooldown_ns);
        }
        for ((m, was), now) in self.modes.iter_mut().zip(&old.accounts).zip(&new.accounts) {
            if was.mode != now.mode {
                *m = now.mode;
            }
        }
        // Like modes: a limit follows the configuration where the configuration's own
        // value changed; one an operator set live and the file did not touch stays.
        for (i, now) in new.instruments.iter().enumerate() {
            let set = Limits::configured(now);
            match (self.limits.get_mut(i), old.instruments.get(i)) {
                (Some(l), Some(was)) => {
                    let was = Limits::configured(was);
                    if was.max_order_qty != set.max_order_qty {
                        l.max_order_qty = set.max_order_qty;
                    }
                    if was.max_notional != set.max_notional {
                        l.max_notional = set.max_notional;
                    }
                    if was.max_position != set.max_position {
                        l.max_position = set.max_position;
                    }
                }
                _ => self.limits.push(set),
            }
        }
        self.limits.truncate(new.instruments.len());
        self.max_quote_age_ns = new.max_quote_age_ns;
        self.cushion_bps = new.margin_cushion_bps;
        self.holds
            .resize(new.venues.len(), new.accounts.len(), new.instruments.len());
    }

    /// Runs every check in order; the first failure is the answer. Pure: a passing
    /// request changes nothing until the order is sent (the throttle and breaker are
    /// charged then).
    pub fn check(
        &self,
        reg: &Registry,
        req: &ExecutionRequest,
        now: u64,
        exposure: &impl Exposure,
        venue_logged_on: bool,
    ) -> Result<Checked, Reason> {
        if req.request_id.is_empty() {
            return Err(Reason::MissingRequestId);
        }
        if self.audit_failed {
            return Err(Reason::AuditFailed);
        }
        let (account, venue, inst) = resolve(reg, req)?;
        let warning = kill_switch(&self.kill, venue, account, inst.id)?;
        halted(req, self.halted[account.0 as usize])?;
        // A scope held for reconciliation, like a kill switch: whatever else the request
        // carries, nothing is sent there until a human has looked.
        self.holds.check(venue, account, inst.id)?;
        risk_approved(req)?;
        not_expired(req, now)?;
        let qty = quantity(inst, req.quantity)?;
        let (limit, stop) = prices(inst, req)?;
        tradable(inst, now)?;
        let quote = market_data(
            &self.quotes[inst.id.0 as usize],
            now,
            self.max_quote_age_ns,
            inst,
        )?;
        let reference = reference_price(inst, req.reference_price, quote)?;
        price_band(inst, reference, quote, limit, stop)?;
        let entry = entry_price(req.order_type, limit, stop, reference);
        let (stop_loss, take_profit) =
            protection(inst, req.side, entry, req.stop_loss, req.take_profit)?;
        liquidity(quote, req.side, req.order_type, limit, qty)?;
        let lim = &self.limits[inst.id.0 as usize];
        order_size(inst, lim, entry, qty)?;
        let (pos, open_buy, open_sell) = exposure.position(account, inst.id);
        position_limit(lim, req.side, qty, pos, open_buy, open_sell)?;
        open_orders(
            exposure.open_orders(account),
            reg.accounts[account.0 as usize].max_open_orders,
        )?;
        let margin = margin_required(inst, req.side, entry, qty, pos);
        margin_check(margin, exposure.margin_available(account), self.cushion_bps)?;
        venue_health(venue_logged_on, &self.breakers[venue.0 as usize], now)?;
        throttle(&self.throttles[venue.0 as usize], now)?;
        venue_budget(&self.budgets[venue.0 as usize], now)?;
        mode(self.modes[account.0 as usize])?;
        Ok(Checked {
            account,
            venue,
            instrument: inst.id,
            qty,
            limit,
            stop,
            reference,
            stop_loss,
            take_profit,
            margin,
            warning,
        })
    }

    /// The gate on a replace (R-GATE-3, -6, -7): one that only lowers the quantity at
    /// the same price reduces risk and always passes; one that raises the quantity or
    /// moves a price is checked as a new order would be at its new terms — the audit
    /// log, kill switches at ACTIVE, the operator's halt, reconciliation holds, fresh
    /// market data, the price band around the market, order size and notional, and the
    /// worst-case position with the added quantity.
    pub(crate) fn check_replace(
        &self,
        inst: &Instrument,
        ask: &ReplaceAsk,
        now: u64,
        exposure: &impl Exposure,
    ) -> Result<(), Reason> {
        let moved = ask.limit != ask.old_limit || ask.stop != ask.old_stop;
        if !moved && ask.qty <= ask.old_qty {
            return Ok(());
        }
        if self.audit_failed {
            return Err(Reason::AuditFailed);
        }
        kill_switch(&self.kill, ask.venue, ask.account, inst.id)?;
        if self.halted[ask.account.0 as usize] {
            return Err(Reason::TradingHalted);
        }
        self.holds.check(ask.venue, ask.account, inst.id)?;
        let quote = market_data(
            &self.quotes[inst.id.0 as usize],
            now,
            self.max_quote_age_ns,
            inst,
        )?;
        let mid = Price(quote.mid());
        price_band(inst, mid, quote, ask.limit, ask.stop)?;
        let entry = entry_price(ask.order_type, ask.limit, ask.stop, mid);
        let lim = &self.limits[inst.id.0 as usize];
        order_size(inst, lim, entry, ask.qty)?;
        let added = Qty(ask.qty.0.saturating_sub(ask.old_qty.0).max(0));
        let (pos, open_buy, open_sell) = exposure.position(ask.account, inst.id);
        position_limit(lim, ask.side, added, pos, open_buy, open_sell)
    }

    /// Venue `v`'s order budget as the gate counts it.
    pub fn budget(&self, v: VenueId) -> Option<&VenueBudget> {
        self.budgets.get(v.0 as usize)
    }

    /// Whether new orders are refused because the audit log failed.
    pub fn audit_failed(&self) -> bool {
        self.audit_failed
    }

    /// Books a sent order against the throttle and breaker.
    pub(crate) fn on_send(&mut self, venue: VenueId, now: u64) {
        self.throttles[venue.0 as usize].take(now);
        self.breakers[venue.0 as usize].on_send(now);
        self.budgets[venue.0 as usize].on_send(now);
    }
}

/// Looks up account, venue and instrument (R-GATE-5: the instrument must be known).
pub(crate) fn resolve<'r>(
    reg: &'r Registry,
    req: &ExecutionRequest,
) -> Result<(AccountId, VenueId, &'r Instrument), Reason> {
    let account = reg.account(&req.account).ok_or(Reason::UnknownAccount)?;
    let venue = reg.venue(&req.venue).ok_or(Reason::UnknownVenue)?;
    let inst = reg
        .instrument(venue, &req.symbol)
        .ok_or(Reason::UnknownInstrument)?;
    Ok((account, venue, &reg.instruments[inst.0 as usize]))
}

/// R-GATE-2: ACTIVE blocks, WARNING passes flagged.
pub(crate) fn kill_switch(
    k: &KillSwitches,
    v: VenueId,
    a: AccountId,
    i: InstrumentId,
) -> Result<bool, Reason> {
    match k.check(v, a, i) {
        KillHit::Clear(warning) => Ok(warning),
        KillHit::Global => Err(Reason::KillGlobal),
        KillHit::Venue => Err(Reason::KillVenue),
        KillHit::Account => Err(Reason::KillAccount),
        KillHit::Symbol => Err(Reason::KillSymbol),
    }
}

/// R-GATE-3: upstream's halt flag, or the operator's.
pub(crate) fn halted(req: &ExecutionRequest, operator_halt: bool) -> Result<(), Reason> {
    if req.context.trading_halted || operator_halt {
        Err(Reason::TradingHalted)
    } else {
        Ok(())
    }
}

/// Upstream risk approval is required before anything is sent.
pub(crate) fn risk_approved(req: &ExecutionRequest) -> Result<(), Reason> {
    if req.context.risk_approved {
        Ok(())
    } else {
        Err(Reason::RiskNotApproved)
    }
}

/// R-GATE-4: not expired.
pub(crate) fn not_expired(req: &ExecutionRequest, now: u64) -> Result<(), Reason> {
    match req.expire_at_ns {
        Some(t) if now >= t => Err(Reason::Expired),
        _ => Ok(()),
    }
}

/// R-GATE-4: quantity > 0 and a multiple of the lot.
pub(crate) fn quantity(inst: &Instrument, q: Dec) -> Result<Qty, Reason> {
    if q.mant <= 0 {
        return Err(Reason::BadQuantity);
    }
    let v = q.to_scale(inst.qty_scale).ok_or(Reason::QtyNotLot)?;
    if v % inst.lot.0 != 0 {
        return Err(Reason::QtyNotLot);
    }
    Ok(Qty(v))
}

fn on_grid(inst: &Instrument, d: Dec) -> Result<Price, Reason> {
    if d.mant <= 0 {
        return Err(Reason::BadPrice);
    }
    let v = d.to_scale(inst.price_scale).ok_or(Reason::PriceOffTick)?;
    let p = Price(v);
    if !inst.on_tick(p) {
        return Err(Reason::PriceOffTick);
    }
    Ok(p)
}

/// R-GATE-4: the prices the order type needs are present, positive and on the tick grid.
pub(crate) fn prices(inst: &Instrument, req: &ExecutionRequest) -> Result<(Price, Price), Reason> {
    let t = req.order_type;
    if t.has_limit() != req.limit_price.is_some() || t.has_stop() != req.stop_price.is_some() {
        return Err(Reason::BadPriceFields);
    }
    let limit = req.limit_price.map(|d| on_grid(inst, d)).transpose()?;
    let stop = req.stop_price.map(|d| on_grid(inst, d)).transpose()?;
    Ok((limit.unwrap_or_default(), stop.unwrap_or_default()))
}

/// R-GATE-5: tradable and inside trading hours.
pub(crate) fn tradable(inst: &Instrument, now: u64) -> Result<(), Reason> {
    if !inst.tradable {
        return Err(Reason::NotTradable);
    }
    if !inst.hours.is_open(now) {
        return Err(Reason::SessionClosed);
    }
    Ok(())
}

/// R-GATE-6: a recent, sane top of book with an acceptable spread.
pub(crate) fn market_data<'q>(
    q: &'q Quote,
    now: u64,
    max_age: u64,
    inst: &Instrument,
) -> Result<&'q Quote, Reason> {
    if q.at_ns == 0 {
        return Err(Reason::NoMarketData);
    }
    if now.saturating_sub(q.at_ns) > max_age {
        return Err(Reason::StaleMarketData);
    }
    if q.bid.0 <= 0 || q.ask.0 <= 0 || q.bid >= q.ask {
        return Err(Reason::BadMarketData);
    }
    if let Some(max) = inst.max_spread {
        if q.ask.0 - q.bid.0 > max.0 {
            return Err(Reason::SpreadTooWide);
        }
    }
    Ok(q)
}

/// Upstream's reference price at the instrument's scale (rounded), or the mid.
pub(crate) fn reference_price(
    inst: &Instrument,
    r: Option<Dec>,
    q: &Quote,
) -> Result<Price, Reason> {
    match r {
        None => Ok(Price(q.mid())),
        Some(d) if d.mant <= 0 => Err(Reason::BadPrice),
        Some(d) => Ok(Price(clamp_i64(rescale(
            d.mant as i128,
            d.scale as i32,
            inst.price_scale as i32,
        )))),
    }
}

fn within_band(a: Price, b: Price, band_bps: u32) -> bool {
    let diff = (a.0 as i128 - b.0 as i128).abs();
    diff * 10_000 <= b.0 as i128 * band_bps as i128
}

/// R-GATE-6 fat finger: the reference must be near the market and the limit near the reference.
pub(crate) fn price_band(
    inst: &Instrument,
    reference: Price,
    q: &Quote,
    limit: Price,
    stop: Price,
) -> Result<(), Reason> {
    if !within_band(reference, Price(q.mid()), inst.price_band_bps) {
        return Err(Reason::PriceBand);
    }
    // A stop trigger is as much a fat-finger risk as a limit.
    for px in [limit, stop] {
        if px.0 > 0 && !within_band(px, reference, inst.price_band_bps) {
            return Err(Reason::PriceBand);
        }
    }
    Ok(())
}

/// The price an order expects to trade at: its limit, else its stop, else the reference.
pub(crate) fn entry_price(t: OrderType, limit: Price, stop: Price, reference: Price) -> Price {
    match t {
        OrderType::Limit | OrderType::StopLimit => limit,
        OrderType::Stop => stop,
        OrderType::Market => reference,
    }
}

/// R-GATE-4: SL below and TP above the entry for a buy, mirrored for a sell; absolute
/// levels on the tick grid.
pub(crate) fn protection(
    inst: &Instrument,
    side: Side,
    entry: Price,
    sl: Option<Protect>,
    tp: Option<Protect>,
) -> Result<(Option<Level>, Option<Level>), Reason> {
    // +1 where the level must be above the entry, -1 where below.
    let check = |p: Option<Protect>, above_for_buy: bool| -> Result<Option<Level>, Reason> {
        let want = if above_for_buy { 1 } else { -1 } * side.sign();
        match p {
            None => Ok(None),
            Some(Protect::OffsetPpm(o)) => {
                if o.signum() != want || o.unsigned_abs() >= 1_000_000 {
                    return Err(Reason::BadProtection);
                }
                Ok(Some(Level::OffsetPpm(o)))
            }
            Some(Protect::Price(d)) => {
                let px = on_grid(inst, d)?;
                if (px.0 - entry.0).signum() != want {
                    return Err(Reason::BadProtection);
                }
                Ok(Some(Level::Abs(px)))
            }
        }
    };
    Ok((check(sl, false)?, check(tp, true)?))
}

/// R-GATE-6: visible size at the touch covers a marketable order (when depth is known).
pub(crate) fn liquidity(
    q: &Quote,
    side: Side,
    t: OrderType,
    limit: Price,
    qty: Qty,
) -> Result<(), Reason> {
    let marketable = match t {
        OrderType::Market => true,
        OrderType::Limit => match side {
            Side::Buy => limit >= q.ask,
            Side::Sell => limit <= q.bid,
        },
        OrderType::Stop | OrderType::StopLimit => false,
    };
    let size = match side {
        Side::Buy => q.ask_size,
        Side::Sell => q.bid_size,
    };
    if marketable && size.0 > 0 && size < qty {
        return Err(Reason::InsufficientLiquidity);
    }
    Ok(())
}

/// R-GATE-7: per-order quantity and notional.
pub(crate) fn order_size(
    inst: &Instrument,
    lim: &Limits,
    entry: Price,
    qty: Qty,
) -> Result<(), Reason> {
    if qty > lim.max_order_qty {
        return Err(Reason::MaxOrderQty);
    }
    if inst.notional(entry, qty) > lim.max_notional {
        return Err(Reason::MaxNotional);
    }
    Ok(())
}

/// R-GATE-7: the worst-case position if every working order on this side fills.
pub(crate) fn position_limit(
    lim: &Limits,
    side: Side,
    qty: Qty,
    pos: Qty,
    open_buy: Qty,
    open_sell: Qty,
) -> Result<(), Reason> {
    // In 128 bits: limits (raised through the API) and positions (restated from a
    // venue) near the top of the range must not wrap into a pass.
    let (pos, buy, sell, qty) = (
        i128::from(pos.0),
        i128::from(open_buy.0),
        i128::from(open_sell.0),
        i128::from(qty.0),
    );
    let (before, worst) = match side {
        Side::Buy => (pos + buy, pos + buy + qty),
        Side::Sell => (pos - sell, pos - sell - qty),
    };
    // An order that brings an over-limit position back towards the limit is allowed:
    // refusing it would keep the account stuck beyond its limit.
    if worst.abs() > i128::from(lim.max_position.0) && worst.abs() > before.abs() {
        return Err(Reason::MaxPosition);
    }
    Ok(())
}

/// R-GATE-7: open-order count.
pub(crate) fn open_orders(open: u32, max: u32) -> Result<(), Reason> {
    if open >= max {
        Err(Reason::MaxOpenOrders)
    } else {
        Ok(())
    }
}

/// Margin an order needs: none for the part that reduces the position.
pub(crate) fn margin_required(
    inst: &Instrument,
    side: Side,
    entry: Price,
    qty: Qty,
    pos: Qty,
) -> Money {
    let reducing = if pos.0.signum() == -side.sign() {
        pos.0.abs().min(qty.0)
    } else {
        0
    };
    let opening = Qty(qty.0 - reducing);
    inst.notional(entry, opening).bps(inst.margin_bps as i64)
}

/// R-GATE-7: margin available ≥ required × cushion.
pub(crate) fn margin_check(
    required: Money,
    available: Money,
    cushion_bps: u32,
) -> Result<(), Reason> {
    let need = required.0 as i128 * cushion_bps as i128 / 10_000;
    if required.0 > 0 && (available.0 as i128) < need {
        return Err(Reason::InsufficientMargin);
    }
    Ok(())
}

/// R-GATE-8: session logged on, breaker not open.
pub(crate) fn venue_health(logged_on: bool, b: &Breaker, now: u64) -> Result<(), Reason> {
    if !logged_on {
        return Err(Reason::VenueDown);
    }
    if !b.allows(now) {
        return Err(Reason::CircuitOpen);
    }
    Ok(())
}

/// R-GATE-7: order-rate throttle.
pub(crate) fn throttle(t: &Throttle, now: u64) -> Result<(), Reason> {
    if t.available(now) {
        Ok(())
    } else {
        Err(Reason::RateLimited)
    }
}

/// R-GATE-7, R-VEN-3: the venue's own order-count budget and Retry-After. Only new
/// orders are held to it: cancels reduce risk and always go.
pub(crate) fn venue_budget(b: &VenueBudget, now: u64) -> Result<(), Reason> {
    if b.allows(now) {
        Ok(())
    } else {
        Err(Reason::VenueRateLimited)
    }
}

/// R-GATE-1: GUIDE never sends.
pub(crate) fn mode(m: Mode) -> Result<(), Reason> {
    match m {
        Mode::Autonomous => Ok(()),
        Mode::Guide => Err(Reason::ModeGuide),
    }
}

#[cfg(test)]
mod tests;
