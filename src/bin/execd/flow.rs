//! A paced, seeded order flow for `execd run --orders N`: quotes and requests into the
//! running core in real time, the way an upstream strategy would send them, against
//! whatever venue the configuration names (a FIX broker or `execd-venue-sim`). It
//! places marketable and passive limit orders, cancels and amends some of the resting
//! ones, then cancels what is left and reports what the venue did.

use execd::config::Registry;
use execd::core::Handle;
use execd::model::event::{Command, CoreEvent, OrderRef, Scope};
use execd::model::fixed::Dec;
use execd::model::ids::{Name, OrderId, OrderType, RequestId, Side, Tif, VenueId};
use execd::model::order_state::OrderState;
use execd::model::request::{ExecutionRequest, Protect};
use rustc_hash::FxHashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How to run the flow.
#[derive(Clone, Debug)]
pub struct FlowOptions {
    /// Requests to send.
    pub orders: u64,
    /// Requests per second.
    pub rate: u32,
    /// Seed for prices, sides and sizes.
    pub seed: u64,
    /// Venue to trade on (default: the first).
    pub venue: Option<String>,
    /// How long to wait for the venue to log on before giving up.
    pub logon_wait: Duration,
    /// Stop-loss and take-profit on every order, percent from its fill.
    pub protect: Option<(u32, u32)>,
}

/// What happened to the flow's orders.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FlowReport {
    /// Requests sent.
    pub submitted: u64,
    /// Accepted by the gate and sent to the venue.
    pub accepted: u64,
    /// Refused, by reason code.
    pub rejected: Vec<(String, u64)>,
    /// Fills received.
    pub fills: u64,
    /// Orders that ended filled.
    pub filled: u64,
    /// Orders that ended canceled.
    pub canceled: u64,
    /// Amendments the venue confirmed.
    pub replaced: u64,
    /// Cancels and amendments asked for.
    pub cancel_requests: u64,
    /// Amendments asked for.
    pub replace_requests: u64,
    /// Orders still not finished when the flow gave up waiting.
    pub unfinished: u64,
}

impl FlowReport {
    /// A few lines for the terminal.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "flow: {} submitted, {} accepted, {} fills, {} filled, {} canceled, {} replaced ({} cancels and {} amends asked), {} unfinished",
            self.submitted,
            self.accepted,
            self.fills,
            self.filled,
            self.canceled,
            self.replaced,
            self.cancel_requests,
            self.replace_requests,
            self.unfinished
        );
        if !self.rejected.is_empty() {
            let r: Vec<String> = self
                .rejected
                .iter()
                .map(|(k, n)| format!("{k} {n}"))
                .collect();
            let _ = writeln!(s, "flow: rejected: {}", r.join(", "));
        }
        s
    }
}

#[derive(Clone, Copy)]
struct Live {
    state: OrderState,
    resting: bool,
    /// Order quantity as last confirmed (mantissa), and the instrument.
    qty: i64,
    inst: usize,
}

/// Runs the flow on `h` until done, `stop` is set, or the venue never logs on.
pub fn run(
    reg: &Registry,
    h: &mut Handle,
    opts: &FlowOptions,
    stop: &AtomicBool,
) -> Result<FlowReport, String> {
    let venue = match &opts.venue {
        Some(v) => reg
            .venue(&Name::new(v).map_err(|_| format!("bad venue name {v:?}"))?)
            .ok_or_else(|| format!("no venue named {v:?}"))?,
        None => VenueId(0),
    };
    let vname = reg.venues[venue.0 as usize].name;
    let insts: Vec<usize> = reg
        .instruments
        .iter()
        .filter(|i| i.venue == venue && i.tradable)
        .map(|i| i.id.0 as usize)
        .collect();
    if insts.is_empty() {
        return Err(format!(
            "venue {} has no tradable instruments",
            vname.as_str()
        ));
    }
    let mut rng = fastrand::Rng::with_seed(opts.seed);
    let mut mids: Vec<i64> = reg.sims.iter().map(|s| s.initial_price.0).collect();
    let mut rep = FlowReport::default();
    let mut live: FxHashMap<OrderId, Live> = FxHashMap::default();
    let mut by_req: FxHashMap<RequestId, (bool, i64, usize)> = FxHashMap::default();
    let mut rejected: FxHashMap<&'static str, u64> = FxHashMap::default();
    let quote = |h: &mut Handle, mids: &[i64]| {
        for &i in &insts {
            let inst = &reg.instruments[i];
            let sim = &reg.sims[i];
            let t = inst.tick.0;
            let m = mids[i];
            let half = (sim.spread_ticks.max(2) as i64 / 2) * t;
            let size = Dec::new(inst.lot.0 * sim.depth_lots.max(1) as i64, inst.qty_scale);
            let _ = h.send(Command::Quote {
                venue: vname,
                symbol: inst.symbol,
                bid: Dec::new(m - half, inst.price_scale),
                ask: Dec::new(m + half, inst.price_scale),
                bid_size: size,
                ask_size: size,
            });
        }
    };

    // Wait for the venue: a request sent to a venue that is not logged on is refused.
    let t0 = Instant::now();
    let mut up = false;
    while !up {
        if stop.load(Ordering::Acquire) {
            return Ok(rep);
        }
        if t0.elapsed() > opts.logon_wait {
            return Err(format!(
                "venue {} did not log on within {} s",
                vname.as_str(),
                opts.logon_wait.as_secs()
            ));
        }
        if let Some(CoreEvent::VenueSession { venue: v, up: u }) =
            h.next_event(Duration::from_millis(100))
        {
            if v == vname {
                up = u;
            }
        }
        // An in-process venue (paper) is up from the start and never says so.
        up |= !reg.venues[venue.0 as usize].is_network();
    }
    quote(h, &mids);

    // Request ids unique per start (milliseconds): a restart on the same journal must not repeat them
    // (the core would answer "duplicate", rightly).
    let prefix = format!(
        "flow-{:x}-",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    );
    let interval = Duration::from_secs_f64(1.0 / opts.rate.max(1) as f64);
    let start = Instant::now();
    let mut next_quote = Instant::now();
    let mut n = 0u64;
    let handle_event = |e: CoreEvent,
                        rep: &mut FlowReport,
                        live: &mut FxHashMap<OrderId, Live>,
                        by_req: &mut FxHashMap<RequestId, (bool, i64, usize)>,
                        rejected: &mut FxHashMap<&'static str, u64>| {
        match e {
            CoreEvent::Accepted {
                request_id, order, ..
            } => {
                rep.accepted += 1;
                if let Some((resting, qty, inst)) = by_req.remove(&request_id) {
                    live.insert(
                        order,
                        Live {
                            state: OrderState::PendingNew,
                            resting,
                            qty,
                            inst,
                        },
                    );
                }
            }
            CoreEvent::Rejected {
                request_id, reason, ..
            } => {
                by_req.remove(&request_id);
                *rejected.entry(reason.code()).or_default() += 1;
            }
            CoreEvent::Duplicate { request_id, .. } => {
                by_req.remove(&request_id);
                *rejected.entry("DUPLICATE").or_default() += 1;
            }
            CoreEvent::Fill { .. } => rep.fills += 1,
            CoreEvent::Order(s) => {
                if let Some(l) = live.get_mut(&s.order) {
                    l.state = s.state;
                    // An amendment the venue confirmed: the Replaced state, or — when a
                    // cancel was already on its way — just the new quantity.
                    let amended = s.state == OrderState::Replaced || s.qty.0 != l.qty;
                    l.qty = s.qty.0;
                    match s.state {
                        OrderState::Filled => rep.filled += 1,
                        OrderState::Canceled => rep.canceled += 1,
                        _ => {}
                    }
                    if amended {
                        rep.replaced += 1;
                    }
                    if s.state == OrderState::Replaced {
                        l.state = OrderState::New;
                    }
                }
            }
            CoreEvent::CommandRejected { reason, .. } => {
                *rejected.entry(reason.code()).or_default() += 1;
            }
            _ => {}
        }
    };

    while n < opts.orders && !stop.load(Ordering::Acquire) {
        while let Some(e) = h.try_event() {
            handle_event(e, &mut rep, &mut live, &mut by_req, &mut rejected);
        }
        let now = Instant::now();
        if now >= next_quote {
            for &i in &insts {
                let inst = &reg.instruments[i];
                let step = rng.i64(-1..=1) * inst.tick.0;
                mids[i] = (mids[i] + step).max(inst.tick.0 * 10);
            }
            quote(h, &mids);
            next_quote = now + Duration::from_millis(100);
        }
        let due = start + interval * n as u32;
        if now < due {
            std::thread::sleep((due - now).min(Duration::from_millis(5)));
            continue;
        }
        n += 1;
        // Every fifth request works a resting order instead: amend or cancel one.
        if n % 5 == 0 {
            let resting: Vec<OrderId> = live
                .iter()
                .filter(|(_, l)| l.resting && l.state == OrderState::New)
                .map(|(id, _)| *id)
                .take(4)
                .collect();
            if let Some(&id) = resting.get(rng.usize(0..resting.len().max(1))) {
                if rng.bool() {
                    rep.cancel_requests += 1;
                    let _ = h.send(Command::Cancel(OrderRef::Id(id)));
                } else if let Some(l) = live.get(&id) {
                    // Amend the size by one lot, up (down when it is larger than one lot).
                    let inst = &reg.instruments[l.inst];
                    let lot = inst.lot.0;
                    let qty = if l.qty > lot && rng.bool() {
                        l.qty - lot
                    } else {
                        l.qty + lot
                    };
                    rep.replace_requests += 1;
                    let _ = h.send(Command::Replace {
                        order: OrderRef::Id(id),
                        quantity: Some(Dec::new(qty, inst.qty_scale)),
                        limit_price: None,
                    });
                }
                if let Some(l) = live.get_mut(&id) {
                    l.state = OrderState::PendingCancel;
                }
                continue;
            }
        }
        let i = insts[rng.usize(0..insts.len())];
        let inst = &reg.instruments[i];
        let side = if rng.bool() { Side::Buy } else { Side::Sell };
        let s = side.sign();
        // Two in three cross the spread; the rest rest 2 % away from the market.
        let aggressive = rng.u32(0..3) != 0;
        let m = mids[i];
        let off = if aggressive {
            3 * inst.tick.0 * 10
        } else {
            -(m / 50 / inst.tick.0) * inst.tick.0
        };
        let px = (m + s * off).max(inst.tick.0);
        let lots = rng.i64(1..=5);
        let req = ExecutionRequest {
            request_id: RequestId::from_prefixed_u64(&prefix, n).unwrap_or_default(),
            order_type: OrderType::Limit,
            tif: Tif::Gtc,
            limit_price: Some(Dec::new(px, inst.price_scale)),
            quantity: Dec::new(lots * inst.lot.0, inst.qty_scale),
            side,
            // Offsets from the fill, signed for the side: a buy's stop-loss under it.
            stop_loss: opts
                .protect
                .map(|(sl, _)| Protect::OffsetPpm(-s * sl as i64 * 10_000)),
            take_profit: opts
                .protect
                .map(|(_, tp)| Protect::OffsetPpm(s * tp as i64 * 10_000)),
            ..base_request(reg, i, vname)
        };
        by_req.insert(req.request_id, (!aggressive, lots * inst.lot.0, i));
        rep.submitted += 1;
        if h.send(Command::Submit(req)).is_err() {
            by_req.remove(&req.request_id);
            *rejected.entry("RING_FULL").or_default() += 1;
        }
    }
    // Done sending: cancel what still rests, then wait for every order to finish.
    let _ = h.send(Command::CancelAll(Scope::Venue(vname)));
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline && !stop.load(Ordering::Acquire) {
        match h.next_event(Duration::from_millis(50)) {
            Some(e) => handle_event(e, &mut rep, &mut live, &mut by_req, &mut rejected),
            None => {
                if by_req.is_empty() && live.values().all(|l| l.state.is_terminal()) {
                    break;
                }
            }
        }
    }
    rep.unfinished =
        live.values().filter(|l| !l.state.is_terminal()).count() as u64 + by_req.len() as u64;
    let mut r: Vec<(String, u64)> = rejected
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    r.sort();
    rep.rejected = r;
    Ok(rep)
}

fn base_request(reg: &Registry, i: usize, venue: Name) -> ExecutionRequest {
    let inst = &reg.instruments[i];
    let acct = reg.accounts[0].name;
    let mut r = ExecutionRequest::market(
        "flow-0",
        acct.as_str(),
        venue.as_str(),
        inst.symbol.as_str(),
        Side::Buy,
        Dec::new(inst.lot.0, inst.qty_scale),
    );
    r.context.strategy = Name::new("flow").unwrap_or_default();
    r
}
