//! Every gate check through the real pipeline, [`Gate::check`]: for each [`Reason`] the
//! gate can give, a request that passes and one that is rejected with exactly that reason.

use super::*;
use crate::calendar::unix_ns;
use crate::model::control::KillState;
use crate::model::ids::{Name, RequestId};

/// What the OMS would report; every account and instrument sees the same numbers.
struct Book {
    open: u32,
    pos: Qty,
    open_buy: Qty,
    open_sell: Qty,
    margin: Money,
}

impl Exposure for Book {
    fn open_orders(&self, _: AccountId) -> u32 {
        self.open
    }
    fn position(&self, _: AccountId, _: InstrumentId) -> (Qty, Qty, Qty) {
        (self.pos, self.open_buy, self.open_sell)
    }
    fn margin_available(&self, _: AccountId) -> Money {
        self.margin
    }
}

/// The paper registry and a gate in its starting state, with a fresh quote on every
/// instrument (one tick either side of the paper start price, 1 000 lots at each touch),
/// an empty book with plenty of margin, the venue logged on, and a clock inside the AAPL
/// session. AAPL therefore quotes 189.99 / 190.01, mid 190.00.
struct Fx {
    reg: Registry,
    gate: Gate,
    book: Book,
    now: u64,
    logged_on: bool,
}

/// The paper venue.
const V: VenueId = VenueId(0);

impl Fx {
    fn new() -> Fx {
        let reg = Registry::default_paper();
        let gate = Gate::new(&reg);
        let book = Book {
            open: 0,
            pos: Qty(0),
            open_buy: Qty(0),
            open_sell: Qty(0),
            margin: Money(1_000_000_000 * 1_000_000),
        };
        let mut fx = Fx {
            reg,
            gate,
            book,
            now: 0,
            logged_on: true,
        };
        fx.set_time(unix_ns(2026, 1, 5, 15, 0)); // Monday 15:00 UTC
        fx
    }

    /// Moves the clock, with every quote fresh at the new time.
    fn set_time(&mut self, now: u64) {
        self.now = now;
        for (inst, sim) in self.reg.instruments.iter().zip(&self.reg.sims) {
            let (mid, tick, depth) = (sim.initial_price.0, inst.tick.0, 1_000 * inst.lot.0);
            self.gate.quotes[inst.id.0 as usize] = Quote {
                bid: Price(mid - tick),
                ask: Price(mid + tick),
                bid_size: Qty(depth),
                ask_size: Qty(depth),
                at_ns: now,
            };
        }
    }

    fn check(&self, r: &ExecutionRequest) -> Result<Checked, Reason> {
        self.gate
            .check(&self.reg, r, self.now, &self.book, self.logged_on)
    }

    fn pass(&self, r: &ExecutionRequest) -> Checked {
        self.check(r)
            .unwrap_or_else(|e| panic!("rejected with {e:?}: {r:?}"))
    }

    fn reject(&self, r: &ExecutionRequest, want: Reason) {
        assert_eq!(self.check(r).err(), Some(want), "{r:?}");
    }

    fn inst(&self, symbol: &str) -> usize {
        let i = self.reg.instrument_by_names("paper", symbol).unwrap();
        i.id.0 as usize
    }

    fn account(&self, name: &str) -> usize {
        self.reg.account(&Name::new(name).unwrap()).unwrap().0 as usize
    }

    fn quote(&mut self, symbol: &str) -> &mut Quote {
        let i = self.inst(symbol);
        &mut self.gate.quotes[i]
    }
}

fn dec(s: &str) -> Dec {
    Dec::parse(s).unwrap()
}

fn req(account: &str, symbol: &str, side: Side, qty: &str) -> ExecutionRequest {
    ExecutionRequest::market("r1", account, "paper", symbol, side, dec(qty))
}

/// A market buy of AAPL for the AUTONOMOUS account.
fn buy(qty: &str) -> ExecutionRequest {
    req("alpha", "AAPL", Side::Buy, qty)
}

fn sell(qty: &str) -> ExecutionRequest {
    req("alpha", "AAPL", Side::Sell, qty)
}

fn limit(mut r: ExecutionRequest, px: &str) -> ExecutionRequest {
    r.order_type = OrderType::Limit;
    r.limit_price = Some(dec(px));
    r
}

fn protect(mut r: ExecutionRequest, sl: Option<Protect>, tp: Option<Protect>) -> ExecutionRequest {
    r.stop_loss = sl;
    r.take_profit = tp;
    r
}

fn at(px: &str) -> Option<Protect> {
    Some(Protect::Price(dec(px)))
}

fn ppm(o: i64) -> Option<Protect> {
    Some(Protect::OffsetPpm(o))
}

#[test]
fn missing_request_id() {
    let fx = Fx::new();
    fx.pass(&buy("10"));
    let mut r = buy("10");
    r.request_id = RequestId::EMPTY;
    fx.reject(&r, Reason::MissingRequestId);
}

#[test]
fn unknown_account() {
    let fx = Fx::new();
    fx.pass(&req("beta", "AAPL", Side::Buy, "10"));
    fx.reject(
        &req("nobody", "AAPL", Side::Buy, "10"),
        Reason::UnknownAccount,
    );
}

#[test]
fn unknown_venue() {
    let fx = Fx::new();
    fx.pass(&buy("10"));
    let mut r = buy("10");
    r.venue = Name::new("nyse").unwrap();
    fx.reject(&r, Reason::UnknownVenue);
}

#[test]
fn unknown_instrument() {
    let fx = Fx::new();
    fx.pass(&req("alpha", "MSFT", Side::Buy, "10"));
    fx.reject(
        &req("alpha", "GOOG", Side::Buy, "10"),
        Reason::UnknownInstrument,
    );
}

#[test]
fn kill_global() {
    let mut fx = Fx::new();
    fx.pass(&buy("10"));
    fx.gate.kill.global = KillState::Active;
    fx.reject(&buy("10"), Reason::KillGlobal);
}

#[test]
fn kill_venue() {
    let mut fx = Fx::new();
    fx.pass(&buy("10"));
    fx.gate.kill.venue[V.0 as usize] = KillState::Active;
    fx.reject(&buy("10"), Reason::KillVenue);
}

#[test]
fn kill_account() {
    let mut fx = Fx::new();
    let alpha = fx.account("alpha");
    fx.gate.kill.account[alpha] = KillState::Active;
    fx.reject(&buy("10"), Reason::KillAccount);
    fx.pass(&req("beta", "AAPL", Side::Buy, "10"));
}

#[test]
fn kill_symbol() {
    let mut fx = Fx::new();
    let aapl = fx.inst("AAPL");
    fx.gate.kill.instrument[aapl] = KillState::Active;
    fx.reject(&buy("10"), Reason::KillSymbol);
    fx.pass(&req("alpha", "MSFT", Side::Buy, "10"));
}

#[test]
fn kill_warning_passes_flagged() {
    let fx = Fx::new();
    assert!(!fx.pass(&buy("10")).warning);
    let (a, i) = (fx.account("alpha"), fx.inst("AAPL"));
    let switches: [&dyn Fn(&mut KillSwitches); 4] = [
        &|k| k.global = KillState::Warning,
        &|k| k.venue[V.0 as usize] = KillState::Warning,
        &|k| k.account[a] = KillState::Warning,
        &|k| k.instrument[i] = KillState::Warning,
    ];
    for set in switches {
        let mut fx = Fx::new();
        set(&mut fx.gate.kill);
        assert!(fx.pass(&buy("10")).warning, "{:?}", fx.gate.kill);
        // ACTIVE anywhere beats WARNING elsewhere.
        fx.gate.kill.instrument[i] = KillState::Active;
        fx.reject(&buy("10"), Reason::KillSymbol);
    }
}

#[test]
fn trading_halted_upstream() {
    let fx = Fx::new();
    fx.pass(&buy("10"));
    let mut r = buy("10");
    r.context.trading_halted = true;
    fx.reject(&r, Reason::TradingHalted);
}

#[test]
fn trading_halted_operator() {
    let mut fx = Fx::new();
    let alpha = fx.account("alpha");
    fx.gate.halted[alpha] = true;
    fx.reject(&buy("10"), Reason::TradingHalted);
    fx.pass(&req("beta", "AAPL", Side::Buy, "10"));
}

#[test]
fn risk_not_approved() {
    let fx = Fx::new();
    fx.pass(&buy("10"));
    let mut r = buy("10");
    r.context.risk_approved = false;
    fx.reject(&r, Reason::RiskNotApproved);
}

#[test]
fn expired() {
    let fx = Fx::new();
    let mut r = buy("10");
    r.expire_at_ns = Some(fx.now + 1);
    fx.pass(&r);
    r.expire_at_ns = Some(fx.now);
    fx.reject(&r, Reason::Expired);
}

#[test]
fn bad_quantity() {
    let fx = Fx::new();
    fx.pass(&buy("1"));
    fx.reject(&buy("0"), Reason::BadQuantity);
    fx.reject(&buy("-5"), Reason::BadQuantity);
}

#[test]
fn qty_not_lot() {
    let fx = Fx::new();
    fx.pass(&buy("10.000"));
    fx.pass(&req("alpha", "BTCUSDT", Side::Buy, "0.002"));
    fx.pass(&req("alpha", "EURUSD", Side::Buy, "2000"));
    // Finer than the lot's scale (AAPL lot 1, BTC lot 0.001).
    fx.reject(&buy("1.5"), Reason::QtyNotLot);
    fx.reject(
        &req("alpha", "BTCUSDT", Side::Buy, "0.0015"),
        Reason::QtyNotLot,
    );
    // Right scale, not a multiple (EURUSD lot 1000).
    fx.reject(
        &req("alpha", "EURUSD", Side::Buy, "1500"),
        Reason::QtyNotLot,
    );
}

#[test]
fn price_off_tick() {
    let fx = Fx::new();
    fx.pass(&limit(buy("10"), "190.00"));
    fx.pass(&limit(buy("10"), "190.0000"));
    fx.reject(&limit(buy("10"), "190.005"), Reason::PriceOffTick);
    let mut stop = buy("10");
    stop.order_type = OrderType::Stop;
    stop.stop_price = Some(dec("190.50"));
    fx.pass(&stop);
    stop.stop_price = Some(dec("190.505"));
    fx.reject(&stop, Reason::PriceOffTick);
    fx.reject(
        &protect(buy("10"), at("189.005"), None),
        Reason::PriceOffTick,
    );
}

#[test]
fn bad_price_fields() {
    let fx = Fx::new();
    let mut r = buy("10");
    r.order_type = OrderType::StopLimit;
    r.stop_price = Some(dec("190.50"));
    r.limit_price = Some(dec("190.60"));
    fx.pass(&r);
    r.stop_price = None; // STOP_LIMIT needs both
    fx.reject(&r, Reason::BadPriceFields);
    r.order_type = OrderType::Market; // MARKET takes neither
    fx.reject(&r, Reason::BadPriceFields);
    let mut r = limit(buy("10"), "190.00");
    r.limit_price = None;
    fx.reject(&r, Reason::BadPriceFields);
    r.order_type = OrderType::Stop;
    fx.reject(&r, Reason::BadPriceFields);
}

#[test]
fn bad_price() {
    let fx = Fx::new();
    fx.pass(&limit(buy("10"), "190.00"));
    fx.reject(&limit(buy("10"), "0"), Reason::BadPrice);
    fx.reject(&limit(buy("10"), "-190.00"), Reason::BadPrice);
    let mut r = buy("10");
    r.reference_price = Some(dec("190.00"));
    fx.pass(&r);
    r.reference_price = Some(dec("0.00"));
    fx.reject(&r, Reason::BadPrice);
    fx.reject(&protect(buy("10"), at("0"), None), Reason::BadPrice);
}

#[test]
fn not_tradable() {
    let fx = Fx::new();
    fx.pass(&buy("10"));
    fx.reject(
        &req("alpha", "DELISTED", Side::Buy, "10"),
        Reason::NotTradable,
    );
}

#[test]
fn session_closed() {
    let mut fx = Fx::new();
    let monday = |h, m| unix_ns(2026, 1, 5, h, m);
    for t in [monday(14, 30), monday(20, 59)] {
        fx.set_time(t);
        fx.pass(&buy("10"));
    }
    let saturday = unix_ns(2026, 1, 10, 15, 0);
    for t in [monday(14, 29), monday(21, 0), saturday] {
        fx.set_time(t);
        fx.reject(&buy("10"), Reason::SessionClosed);
    }
    fx.pass(&req("alpha", "BTCUSDT", Side::Buy, "0.01")); // 24/7
}

#[test]
fn no_market_data() {
    let mut fx = Fx::new();
    fx.pass(&buy("10"));
    *fx.quote("AAPL") = Quote::default();
    fx.reject(&buy("10"), Reason::NoMarketData);
}

#[test]
fn stale_market_data() {
    let mut fx = Fx::new();
    let oldest = fx.now - fx.reg.max_quote_age_ns;
    fx.quote("AAPL").at_ns = oldest;
    fx.pass(&buy("10"));
    fx.quote("AAPL").at_ns = oldest - 1;
    fx.reject(&buy("10"), Reason::StaleMarketData);
}

#[test]
fn bad_market_data() {
    let mut fx = Fx::new();
    fx.pass(&buy("10"));
    for (bid, ask) in [(19001, 18999), (19000, 19000), (0, 19001)] {
        let q = fx.quote("AAPL");
        (q.bid, q.ask) = (Price(bid), Price(ask));
        fx.reject(&buy("10"), Reason::BadMarketData);
    }
}

#[test]
fn spread_too_wide() {
    let mut fx = Fx::new();
    let q = fx.quote("AAPL"); // max_spread 0.10
    (q.bid, q.ask) = (Price(18995), Price(19005));
    fx.pass(&buy("10"));
    fx.quote("AAPL").ask = Price(19006);
    fx.reject(&buy("10"), Reason::SpreadTooWide);
}

#[test]
fn price_band_reference_vs_mid() {
    let fx = Fx::new();
    // AAPL band 300 bps around the mid 190.00: 184.30 … 195.70.
    let with_ref = |px| {
        let mut r = buy("10");
        r.reference_price = Some(dec(px));
        r
    };
    fx.pass(&with_ref("195.70"));
    fx.pass(&with_ref("184.30"));
    fx.reject(&with_ref("195.71"), Reason::PriceBand);
    fx.reject(&with_ref("184.29"), Reason::PriceBand);
}

#[test]
fn price_band_limit_vs_reference() {
    let fx = Fx::new();
    // No reference: the band is around the mid 190.00.
    fx.pass(&limit(buy("10"), "195.70"));
    fx.pass(&limit(sell("10"), "184.30"));
    fx.reject(&limit(buy("10"), "195.71"), Reason::PriceBand);
    fx.reject(&limit(sell("10"), "184.29"), Reason::PriceBand);
    // With one, around the reference: 195.00 × 1.03 = 200.85.
    let mut r = limit(buy("10"), "200.85");
    fx.reject(&r, Reason::PriceBand);
    r.reference_price = Some(dec("195.00"));
    fx.pass(&r);
    r.limit_price = Some(dec("200.86"));
    fx.reject(&r, Reason::PriceBand);
}

#[test]
fn bad_protection_buy() {
    let fx = Fx::new();
    // A market buy's entry is the reference, here the mid 190.00: SL below, TP above.
    let r = |sl, tp| protect(buy("10"), sl, tp);
    let ok = fx.pass(&r(at("189.00"), at("191.00")));
    assert_eq!(ok.stop_loss, Some(Level::Abs(Price(18_900))));
    assert_eq!(ok.take_profit, Some(Level::Abs(Price(19_100))));
    let ok = fx.pass(&r(ppm(-20_000), ppm(20_000)));
    assert_eq!(ok.stop_loss, Some(Level::OffsetPpm(-20_000)));
    assert_eq!(ok.take_profit, Some(Level::OffsetPpm(20_000)));
    for (sl, tp) in [
        (at("191.00"), None),
        (at("190.00"), None),
        (None, at("189.00")),
        (None, at("190.00")),
        (ppm(20_000), None),
        (ppm(0), None),
        (ppm(-1_000_000), None),
        (ppm(i64::MIN), None),
        (None, ppm(-20_000)),
    ] {
        fx.reject(&r(sl, tp), Reason::BadProtection);
    }
    // A limit buy's entry is its limit, not the mid.
    let r = |sl| protect(limit(buy("10"), "189.50"), sl, None);
    fx.pass(&r(at("189.40")));
    fx.reject(&r(at("189.60")), Reason::BadProtection);
}

#[test]
fn bad_protection_sell() {
    let fx = Fx::new();
    // Mirrored: SL above, TP below the entry 190.00.
    let r = |sl, tp| protect(sell("10"), sl, tp);
    fx.pass(&r(at("191.00"), at("189.00")));
    fx.pass(&r(ppm(20_000), ppm(-20_000)));
    for (sl, tp) in [
        (at("189.00"), None),
        (at("190.00"), None),
        (None, at("191.00")),
        (ppm(-20_000), None),
        (None, ppm(20_000)),
        (None, ppm(-1_000_000)),
        (None, ppm(i64::MIN)),
    ] {
        fx.reject(&r(sl, tp), Reason::BadProtection);
    }
}

#[test]
fn insufficient_liquidity() {
    let mut fx = Fx::new();
    // 1 000 shares at each touch.
    fx.pass(&buy("1000"));
    fx.pass(&sell("1000"));
    fx.reject(&buy("1001"), Reason::InsufficientLiquidity);
    fx.reject(&sell("1001"), Reason::InsufficientLiquidity);
    fx.reject(&limit(buy("1001"), "190.01"), Reason::InsufficientLiquidity);
    // A limit that does not cross rests: no check.
    fx.pass(&limit(buy("1001"), "190.00"));
    // Unknown depth: no check.
    fx.quote("AAPL").ask_size = Qty(0);
    fx.pass(&buy("1001"));
}

#[test]
fn max_order_qty() {
    let fx = Fx::new();
    // Resting limit so depth does not matter; AAPL max 5 000.
    fx.pass(&limit(buy("5000"), "189.00"));
    fx.reject(&limit(buy("5001"), "189.00"), Reason::MaxOrderQty);
}

#[test]
fn max_notional() {
    let fx = Fx::new();
    // MSFT max notional 1 000 000, at the entry (limit) price.
    let r = |qty| limit(req("alpha", "MSFT", Side::Buy, qty), "400.00");
    fx.pass(&r("2500"));
    fx.reject(&r("2501"), Reason::MaxNotional);
}

#[test]
fn max_position() {
    let mut fx = Fx::new();
    // AAPL max position 20 000; working orders on the same side count.
    (fx.book.pos, fx.book.open_buy) = (Qty(19_000), Qty(990));
    fx.pass(&buy("10"));
    fx.reject(&buy("11"), Reason::MaxPosition);
    (fx.book.pos, fx.book.open_buy, fx.book.open_sell) = (Qty(-19_000), Qty(0), Qty(990));
    fx.pass(&sell("10"));
    fx.reject(&sell("11"), Reason::MaxPosition);
    // Already beyond the limit (a limit lowered by config): reducing is allowed,
    // adding is not.
    (fx.book.pos, fx.book.open_buy, fx.book.open_sell) = (Qty(25_000), Qty(0), Qty(0));
    fx.pass(&sell("100"));
    fx.reject(&buy("1"), Reason::MaxPosition);
}

#[test]
fn price_band_stop_vs_reference() {
    let fx = Fx::new();
    // A stop trigger is band-checked like a limit: 190.00 × 1.03 = 195.70.
    let stop = |px: &str| {
        let mut r = buy("10");
        r.order_type = OrderType::Stop;
        r.stop_price = Some(dec(px));
        r
    };
    fx.pass(&stop("195.70"));
    fx.reject(&stop("195.71"), Reason::PriceBand);
    fx.reject(&stop("1000.00"), Reason::PriceBand);
}

#[test]
fn max_open_orders() {
    let mut fx = Fx::new();
    let max = fx.reg.accounts[fx.account("alpha")].max_open_orders;
    fx.book.open = max - 1;
    fx.pass(&buy("10"));
    fx.book.open = max;
    fx.reject(&buy("10"), Reason::MaxOpenOrders);
}

#[test]
fn insufficient_margin() {
    let mut fx = Fx::new();
    // 10 × 190.00 × 25 % = 475.00 required; × 1.2 cushion = 570.00.
    fx.book.margin = Money(570_000_000);
    assert_eq!(fx.pass(&buy("10")).margin, Money(475_000_000));
    fx.book.margin = Money(569_999_999);
    fx.reject(&buy("10"), Reason::InsufficientMargin);
    // Reducing a position needs no margin; only the part beyond it does.
    (fx.book.pos, fx.book.margin) = (Qty(10), Money(0));
    assert_eq!(fx.pass(&sell("10")).margin, Money(0));
    fx.reject(&sell("11"), Reason::InsufficientMargin);
}

#[test]
fn venue_down() {
    let mut fx = Fx::new();
    fx.pass(&buy("10"));
    fx.logged_on = false;
    fx.reject(&buy("10"), Reason::VenueDown);
}

#[test]
fn circuit_open() {
    let mut fx = Fx::new();
    let (failures, cooldown) = {
        let v = &fx.reg.venues[V.0 as usize];
        (v.breaker_failures, v.breaker_cooldown_ns)
    };
    for _ in 1..failures {
        fx.gate.breakers[V.0 as usize].on_failure(fx.now);
    }
    fx.pass(&buy("10"));
    fx.gate.breakers[V.0 as usize].on_failure(fx.now);
    fx.reject(&buy("10"), Reason::CircuitOpen);
    fx.set_time(fx.now + cooldown); // half-open: a probe may go
    fx.pass(&buy("10"));
}

#[test]
fn rate_limited() {
    let mut fx = Fx::new();
    fx.gate.throttles[V.0 as usize] = Throttle::new(1, 1);
    fx.pass(&buy("10"));
    fx.gate.on_send(V, fx.now);
    fx.reject(&buy("10"), Reason::RateLimited);
    fx.set_time(fx.now + 1_000_000_000); // one token a second
    fx.pass(&buy("10"));
}

#[test]
fn mode_guide() {
    let mut fx = Fx::new();
    let advisor = req("advisor", "AAPL", Side::Buy, "10");
    fx.reject(&advisor, Reason::ModeGuide);
    // GUIDE is the last check: any other failure is reported first.
    fx.reject(&req("advisor", "AAPL", Side::Buy, "0"), Reason::BadQuantity);
    let (a, alpha) = (fx.account("advisor"), fx.account("alpha"));
    fx.gate.modes[a] = Mode::Autonomous;
    fx.pass(&advisor);
    fx.pass(&buy("10"));
    fx.gate.modes[alpha] = Mode::Guide;
    fx.reject(&buy("10"), Reason::ModeGuide);
}

#[test]
fn passing_request_is_converted() {
    let fx = Fx::new();
    // BTC: price scale 2, quantity scale 3, quote 96 999.99 / 97 000.01.
    let mut r = limit(req("alpha", "BTCUSDT", Side::Buy, "0.5"), "97000.5");
    r.reference_price = Some(dec("97000.004")); // rounded to the price scale
    let btc = fx.inst("BTCUSDT");
    assert_eq!(
        fx.pass(&r),
        Checked {
            account: AccountId(fx.account("alpha") as u16),
            venue: V,
            instrument: InstrumentId(btc as u16),
            qty: Qty(500),
            limit: Price(9_700_050),
            stop: Price(0),
            reference: Price(9_700_000),
            stop_loss: None,
            take_profit: None,
            margin: Money(48_500_250_000), // 0.5 × 97 000.50, fully margined
            warning: false,
        }
    );
    // No reference: the mid.
    assert_eq!(fx.pass(&buy("10")).reference, Price(19_000));
}

#[test]
fn check_is_pure_until_on_send() {
    let mut fx = Fx::new();
    let r = buy("10");
    // One token: checking any number of times leaves it; sending takes it.
    fx.gate.throttles[V.0 as usize] = Throttle::new(1, 1);
    let first = fx.pass(&r);
    assert_eq!(fx.pass(&r), first);
    fx.gate.on_send(V, fx.now);
    fx.reject(&r, Reason::RateLimited);
    // Half-open breaker: checking leaves the single probe; sending uses it.
    let mut fx = Fx::new();
    fx.gate.breakers[V.0 as usize] = Breaker::new(1, 1_000);
    fx.gate.breakers[V.0 as usize].on_failure(fx.now - 1_000);
    fx.pass(&r);
    fx.pass(&r);
    fx.gate.on_send(V, fx.now);
    fx.reject(&r, Reason::CircuitOpen);
}

/// R-GATE-7 at the ends of the range: a limit raised near `i64::MAX`, or a position
/// restated that large, must not wrap a worst case into a pass.
#[test]
fn position_limit_near_the_top_of_the_range_does_not_wrap() {
    let lim = Limits {
        instrument: InstrumentId(0),
        max_order_qty: Qty(i64::MAX),
        max_notional: Money(i64::MAX),
        max_position: Qty(i64::MAX - 10),
    };
    let big = Qty(i64::MAX / 2 + 1);
    // Position and working buys already at the limit: one more lot would go past it.
    assert_eq!(
        position_limit(
            &lim,
            Side::Buy,
            Qty(20),
            big,
            Qty(i64::MAX / 2 - 20),
            Qty(0)
        ),
        Err(Reason::MaxPosition)
    );
    // Two halves of the range buying: the worst case is beyond i64, refused.
    assert_eq!(
        position_limit(&lim, Side::Buy, big, big, Qty(0), Qty(0)),
        Err(Reason::MaxPosition)
    );
    // Selling it down is allowed, however far over.
    assert_eq!(
        position_limit(&lim, Side::Sell, big, Qty(i64::MAX), Qty(0), Qty(0)),
        Ok(())
    );
    assert_eq!(
        position_limit(&lim, Side::Sell, big, Qty(-big.0), Qty(0), Qty(0)),
        Err(Reason::MaxPosition)
    );
}
