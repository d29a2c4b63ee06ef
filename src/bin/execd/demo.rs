//! `execd demo`: a deterministic synthetic workload through the real core thread to the
//! paper venue, summarised for a person (R-OPS-4, R-PERF-2).
//!
//! Time is simulated: every request carries an event time from the seeded generator, the
//! venue answers at event times, and the core's clock never moves on its own. So the same
//! seed and count print the same summary on any machine, except the timing lines.

use execd::calendar::unix_ns;
use execd::config::Registry;
use execd::core::latency::Stage;
use execd::core::ManualClock;
use execd::core::{spawn, CoreOptions, CoreReport};
use execd::model::control::KillState;
use execd::model::event::{Command, CoreEvent, OrderRef, Scope};
use execd::model::fixed::{Dec, Fixed, Money};
use execd::model::ids::{Name, OrderType, RequestId, Side, Tif, VenueId};
use execd::model::instrument::Instrument;
use execd::model::order_state::OrderState;
use execd::model::request::{ExecutionRequest, Protect, UpstreamContext};
use execd::model::slippage::SlipCategory;
use execd::venue::paper::PricePath;
use execd::venue::Venue;
use std::collections::{BTreeMap, BinaryHeap};
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Demo settings.
#[derive(Clone, Debug)]
pub struct DemoOptions {
    /// Requests to generate.
    pub orders: u64,
    /// Seed for the workload and the venue.
    pub seed: u64,
    /// Journal directory; an existing journal is recovered and the run carries on after
    /// the last request it holds, up to `orders` in all.
    pub journal: Option<std::path::PathBuf>,
}

/// The highest "demo-N" request a journal holds (0 for none).
fn last_demo_request(dir: &std::path::Path) -> std::io::Result<u64> {
    use execd::core::records::{decode_command, KIND_COMMAND};
    if !dir.exists() {
        return Ok(0);
    }
    let mut last = 0u64;
    execd::journal::scan(dir, |r| {
        if r.header.kind == KIND_COMMAND {
            if let Ok((_, Command::Submit(req))) = decode_command(r.payload) {
                let n = request_number(req.request_id.as_str());
                if n != usize::MAX {
                    last = last.max(n as u64);
                }
            }
        }
    })
    .map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(last)
}

/// Requests between two barriers at which the generator catches up with the fills.
const BARRIER_EVERY: u64 = 250;
/// Sync tokens at and above this are barriers.
const BARRIER_BASE: u64 = 1 << 40;

/// Simulated start: a Monday in the US equity session.
pub fn sim_start() -> u64 {
    unix_ns(2026, 1, 5, 15, 0)
}

#[derive(Default)]
struct Tally {
    accepted: u64,
    rejected: u64,
    duplicates: u64,
    warnings: u64,
    reasons: BTreeMap<&'static str, (u64, &'static str)>,
    fills: u64,
    late_fills: u64,
    slip_n: u64,
    slip_bps_e2: i128,
    slip_pips_e2: i128,
    slip_cat: [u64; 4],
    protections: u64,
    breaches: u64,
    anomalies: BTreeMap<(OrderState, &'static str), u64>,
    command_rejects: BTreeMap<&'static str, u64>,
    kill_events: u64,
    final_state: Vec<Option<(OrderState, bool)>>,
    synced: Option<u64>,
    // What the generator knows of positions: fills it has been told about, by
    // account × instrument, through each order's (key, side sign).
    positions: Vec<i64>,
    // `positions` as it stood at each barrier not yet used, by barrier token.
    snapshots: BTreeMap<u64, Vec<i64>>,
    request_meta: Vec<(u32, i8)>,
    order_meta: Vec<(u32, i8)>,
    recon_reports: u64,
    recon_mismatches: u64,
}

impl Tally {
    fn on(&mut self, e: CoreEvent) {
        match e {
            CoreEvent::Accepted {
                warning,
                request_id,
                order,
                ..
            } => {
                self.accepted += 1;
                self.warnings += warning as u64;
                let n = request_number(request_id.as_str());
                if let Some(&meta) = self.request_meta.get(n) {
                    set_at(&mut self.order_meta, order.0 as usize, meta);
                }
            }
            CoreEvent::Rejected { reason, order, .. } => {
                self.rejected += 1;
                self.reasons
                    .entry(reason.code())
                    .or_insert((0, reason.text()))
                    .0 += 1;
                self.set(order.0, OrderState::Rejected, false);
            }
            CoreEvent::Duplicate { .. } => self.duplicates += 1,
            CoreEvent::Order(s) => {
                if s.state == OrderState::Rejected {
                    if let Some(r) = s.reason {
                        self.reasons.entry(r.code()).or_insert((0, r.text())).0 += 1;
                    }
                }
                self.set(s.order.0, s.state, s.parent.is_some());
            }
            CoreEvent::Fill {
                slippage,
                late,
                order,
                qty,
                ..
            } => {
                self.fills += 1;
                if let Some(&(key, sign)) = self.order_meta.get(order.0 as usize) {
                    if sign != 0 {
                        self.positions[key as usize] += sign as i64 * qty.0;
                    }
                }
                self.late_fills += late as u64;
                if let Some(s) = slippage {
                    self.slip_n += 1;
                    self.slip_bps_e2 += s.bps_e2 as i128;
                    self.slip_pips_e2 += s.pips_e2 as i128;
                    self.slip_cat[s.category as usize] += 1;
                }
            }
            CoreEvent::Protection {
                parent,
                stop_loss,
                take_profit,
                ..
            } => {
                self.protections += 1;
                let (key, sign) = self
                    .order_meta
                    .get(parent.0 as usize)
                    .copied()
                    .unwrap_or((0, 0));
                for (child, _) in [stop_loss, take_profit].into_iter().flatten() {
                    set_at(&mut self.order_meta, child.0 as usize, (key, -sign));
                }
            }
            // The flattening order trades against its leg's side.
            CoreEvent::ProtectionOverfill {
                leg,
                flatten: Some(f),
                ..
            } => {
                let (key, sign) = self
                    .order_meta
                    .get(leg.0 as usize)
                    .copied()
                    .unwrap_or((0, 0));
                set_at(&mut self.order_meta, f.0 as usize, (key, -sign));
            }
            CoreEvent::ProtectionOverfill { flatten: None, .. } | CoreEvent::Unprotected { .. } => {
            }
            CoreEvent::SlippageBreach { .. } => self.breaches += 1,
            CoreEvent::Anomaly { state, event, .. } => {
                *self.anomalies.entry((state, event.as_str())).or_default() += 1
            }
            CoreEvent::CommandRejected { reason, .. } => {
                *self.command_rejects.entry(reason.code()).or_default() += 1
            }
            CoreEvent::KillSwitch { .. } => self.kill_events += 1,
            CoreEvent::Synced(t) => {
                self.synced = Some(t);
                if t >= BARRIER_BASE {
                    self.snapshots.insert(t, self.positions.clone());
                }
            }
            CoreEvent::ReconReport(r) => {
                self.recon_reports += 1;
                self.recon_mismatches += u64::from(r.mismatches);
            }
            CoreEvent::ModeChanged { .. }
            | CoreEvent::ReconLine(_)
            | CoreEvent::BalanceLine(_)
            | CoreEvent::ReconResolved { .. }
            | CoreEvent::HaltChanged { .. }
            | CoreEvent::LimitsChanged(_)
            | CoreEvent::VenueSession { .. }
            | CoreEvent::VenueLimits { .. }
            | CoreEvent::VenueBackpressure { .. }
            | CoreEvent::FillRecovered { .. }
            | CoreEvent::VenueMismatch { .. }
            | CoreEvent::RetryScheduled { .. }
            | CoreEvent::DeadLettered { .. }
            | CoreEvent::DeadLetterResolved { .. }
            | CoreEvent::OrderInstrument { .. }
            | CoreEvent::Row(_)
            | CoreEvent::RowsEnd { .. } => {}
        }
    }

    fn set(&mut self, order: u64, state: OrderState, protective: bool) {
        let i = order as usize;
        if self.final_state.len() <= i {
            self.final_state.resize(i + 1, None);
        }
        self.final_state[i] = Some((state, protective));
    }
}

fn set_at<T: Copy + Default>(v: &mut Vec<T>, i: usize, x: T) {
    if v.len() <= i {
        v.resize(i + 1, T::default());
    }
    v[i] = x;
}

/// The number in "demo-N".
fn request_number(id: &str) -> usize {
    id.strip_prefix("demo-")
        .and_then(|n| n.parse().ok())
        .unwrap_or(usize::MAX)
}

/// The workload generator: a seeded stream of requests against the venue's own price path.
struct Workload<'a> {
    reg: &'a Registry,
    rng: fastrand::Rng,
    path: PricePath,
    venue: Name,
    accounts: Vec<Name>,
    tradable: Vec<&'a Instrument>,
    n: u64,
}

fn dec(mant: i64, scale: u8) -> Dec {
    Dec::new(mant, scale)
}

impl<'a> Workload<'a> {
    fn new(reg: &'a Registry, seed: u64, start: u64) -> Self {
        let venue = VenueId(0);
        let tradable: Vec<&Instrument> = reg
            .instruments
            .iter()
            .filter(|i| i.tradable && i.venue == venue)
            .collect();
        Workload {
            reg,
            rng: fastrand::Rng::with_seed(seed),
            path: PricePath::new(reg, venue, reg.venues[0].paper.seed, start),
            venue: reg.venues[0].name,
            accounts: reg.accounts.iter().map(|a| a.name).collect(),
            tradable,
            n: 0,
        }
    }

    /// The next request at time `t`; `positions` is what the generator knows of fills,
    /// and `meta` records the request's (position key, side) for later fills.
    fn request(
        &mut self,
        t: u64,
        positions: &[i64],
        meta: &mut Vec<(u32, i8)>,
    ) -> ExecutionRequest {
        self.path.advance_to(t);
        self.n += 1;
        let r = &mut self.rng;
        let inst = self.tradable[r.usize(0..self.tradable.len())];
        let q = self.path.quote(inst.id).unwrap_or_default();
        let (mid, tick, lot) = (q.mid() / inst.tick.0 * inst.tick.0, inst.tick.0, inst.lot.0);
        // The first account carries most of the flow, the second most of the rest.
        let n_acct = self.accounts.len();
        let acct = match r.u32(0..100) {
            _ if n_acct == 1 => 0,
            0..=79 => 0,
            80..=96 => 1,
            _ => (2 + r.usize(0..n_acct.saturating_sub(2).max(1))).min(n_acct - 1),
        };
        // Lean against the position, as a real strategy would: flat is the target.
        let key = acct * self.reg.instruments.len() + inst.id.0 as usize;
        let max_lots = (inst.max_order_qty.0 / lot / 20).max(1);
        let lots = r.i64(1..=max_lots);
        let lean = positions.get(key).copied().unwrap_or(0) * 100 / inst.max_position.0.max(1);
        let side = if r.i64(-100..=100) > lean {
            Side::Buy
        } else {
            Side::Sell
        };
        let order_type = match r.u32(0..100) {
            0..=49 => OrderType::Market,
            50..=84 => OrderType::Limit,
            85..=94 => OrderType::Stop,
            _ => OrderType::StopLimit,
        };
        let tif = match order_type {
            OrderType::Market => {
                if r.bool() {
                    Tif::Ioc
                } else {
                    Tif::Fok
                }
            }
            _ => match r.u32(0..10) {
                0..=5 => Tif::Gtc,
                6..=7 => Tif::Day,
                _ => Tif::Ioc,
            },
        };
        let s = side.sign();
        let ps = inst.price_scale;
        // Limits from an eighth of the fat-finger band passive to half of it aggressive;
        // stops a few ticks beyond the market.
        let eighth_band = (mid as i128 * inst.price_band_bps as i128 / 80_000) as i64;
        let limit = mid + s * (r.i64(-1..=4) * eighth_band / tick * tick);
        let stop = mid + s * r.i64(2..=12) * tick;
        let mut req = ExecutionRequest {
            request_id: RequestId::from_prefixed_u64("demo-", self.n).unwrap_or_default(),
            account: self.accounts[acct],
            venue: self.venue,
            symbol: inst.symbol,
            side,
            quantity: dec(lots * lot, inst.qty_scale),
            order_type,
            tif,
            limit_price: order_type.has_limit().then(|| {
                dec(
                    if order_type == OrderType::StopLimit {
                        stop + s * 2 * tick
                    } else {
                        limit
                    },
                    ps,
                )
            }),
            stop_price: order_type.has_stop().then(|| dec(stop, ps)),
            stop_loss: None,
            take_profit: None,
            reference_price: Some(dec(mid + r.i64(-2..=2) * tick, ps)),
            max_slippage_bps: Some(25),
            reject_on_fill_slippage: r.u32(0..4) == 0,
            expire_at_ns: Some(t + 5_000_000_000),
            context: UpstreamContext {
                decision_id: RequestId::from_prefixed_u64("dec-", self.n).unwrap_or_default(),
                strategy: Name::new("demo-mr").unwrap_or_default(),
                risk_approved: true,
                trading_halted: false,
                strategy_version: Name::new("1.4.2").unwrap_or_default(),
                risk_version: Name::new("7").unwrap_or_default(),
                config_hash: 0x5eed,
            },
        };
        if r.u32(0..6) == 0 {
            // Protective levels as offsets from the fill: 0.1 %–0.6 % away.
            req.stop_loss = Some(Protect::OffsetPpm(-s * r.i64(1_000..=6_000)));
            req.take_profit = Some(Protect::OffsetPpm(s * r.i64(1_000..=6_000)));
        }
        // About 3 % of requests are wrong in a way the gate must catch.
        match r.u32(0..1000) {
            0..=3 => req.quantity = dec(lots * lot + lot / 2 + 1, inst.qty_scale + 1),
            4..=7 => req.limit_price = Some(dec(mid * 10 + 5, ps + 1)),
            8..=10 => req.expire_at_ns = Some(t - 1),
            11..=13 => req.symbol = Name::new("TSLA").unwrap_or_default(),
            14..=15 => req.symbol = Name::new("DELISTED").unwrap_or_default(),
            16..=18 => req.stop_loss = Some(Protect::OffsetPpm(s * 10_000)),
            19..=20 => req.context.risk_approved = false,
            21..=23 => {
                req.order_type = OrderType::Limit;
                req.tif = Tif::Gtc;
                req.stop_price = None;
                req.limit_price = Some(dec(mid + s * mid / 10 / tick * tick, ps));
            }
            24..=26 => req.quantity = dec(inst.max_order_qty.0 + lot, inst.qty_scale),
            27..=28 => req.context.trading_halted = true,
            29..=30 => req.order_type = OrderType::Limit,
            _ => {}
        }
        set_at(meta, self.n as usize, (key as u32, s as i8));
        req
    }
}

/// What a demo run gives: the summary, and whether the audit log failed on the way.
pub struct DemoDone {
    /// For a person, on standard output.
    pub summary: String,
    /// Why the audit log failed, if it did (orders after that were refused).
    pub audit_failure: Option<String>,
    /// What the journal refused (a full disk).
    pub journal_refused: execd::core::JournalRefused,
    /// Events the order state machine refused (recorded, state unchanged).
    pub anomalies: u64,
}

/// Runs the demo and builds its summary.
pub fn run(reg: Registry, opts: &DemoOptions) -> Result<DemoDone, String> {
    run_io(reg, opts).map_err(|e| e.to_string())
}

fn run_io(reg: Registry, opts: &DemoOptions) -> std::io::Result<DemoDone> {
    // The seed drives the venue too: it goes into the configuration, so a journal of
    // this run describes it completely.
    let mut cfg = reg.config.clone();
    for (i, v) in cfg.venues.iter_mut().enumerate() {
        v.paper.seed = opts
            .seed
            .wrapping_mul(0x100_0000_01b3)
            .wrapping_add(i as u64);
    }
    let reg = Registry::from_config(&cfg).map_err(|e| std::io::Error::other(e.to_string()))?;
    if !reg.instruments.iter().any(|i| i.tradable && i.venue.0 == 0) {
        return Err(std::io::Error::other(
            "the demo needs at least one tradable instrument on the first venue",
        ));
    }
    let reg = Arc::new(reg);
    let start = sim_start();
    let clock = ManualClock::at(start);
    let (core, mut handles) = spawn(
        reg.clone(),
        CoreOptions {
            idle: reg.core.idle,
            idle_yield: Duration::from_micros(reg.core.idle_yield_us),
            pin_core: reg.core.pin_core,
            clock: Box::new(clock),
            simulated: true,
            epoch: 1,
            grace: Duration::from_secs(5),
            journal: opts.journal.clone(),
        },
        1,
    )
    .map_err(|e| std::io::Error::other(format!("cannot start: {e}")))?;
    // Resuming on a journal: carry on after the last request it holds (read after the
    // start, which refuses a journal that lost records rather than resume on it).
    let resume_after = match &opts.journal {
        Some(dir) => last_demo_request(dir)?,
        None => 0,
    };
    let recovered_to = core.recovered().map(|r| r.last_ts).unwrap_or(0);
    let h = &mut handles[0];
    let mut tally = Tally {
        positions: vec![0; reg.instruments.len() * reg.accounts.len()],
        ..Tally::default()
    };
    // A resumed run draws new requests (a fresh stream for the rest), numbered on.
    let seed = if resume_after > 0 {
        opts.seed ^ resume_after.rotate_left(17)
    } else {
        opts.seed
    };
    let mut work = Workload::new(&reg, seed, start);
    work.n = resume_after;
    let mut view = vec![0i64; reg.instruments.len() * reg.accounts.len()];
    // Scheduled follow-ups: (time, kind, request number).
    let mut later: BinaryHeap<std::cmp::Reverse<(u64, u8, u64)>> = BinaryHeap::new();
    let send = |h: &mut execd::core::Handle, tally: &mut Tally, at: u64, cmd: Command| {
        let mut cmd = cmd;
        loop {
            match h.send_at(at, cmd) {
                Ok(()) => return,
                Err(c) => {
                    cmd = c;
                    while let Some(e) = h.try_event() {
                        tally.on(e);
                    }
                    std::hint::spin_loop();
                }
            }
        }
    };
    // One second of market before the first request, so quotes exist.
    let mut t = (start + 1_000_000_000).max(recovered_to + 1_000_000);
    let mut last_barrier: Option<u64> = None;
    let kill_on = opts.orders / 2;
    // At least one request later, so that a short run lifts the switch it set.
    let kill_off = kill_on + (opts.orders / 50).max(1);
    // What of the drill this run carried out (a resumed run may have passed it).
    let mut drill_steps = Vec::new();
    // The kill-switch drill uses the second tradable instrument (MSFT by default).
    let drill = work.tradable[1.min(work.tradable.len() - 1)].symbol;
    let wall = Instant::now();
    for i in resume_after.min(opts.orders)..opts.orders {
        // About 1 000 requests per simulated second, so the market moves between them.
        t += 200_000 + work.rng.u64(0..1_600_000);
        while let Some(&std::cmp::Reverse((at, kind, n))) = later.peek() {
            if at > t {
                break;
            }
            later.pop();
            let r = OrderRef::Request(RequestId::from_prefixed_u64("demo-", n).unwrap_or_default());
            let cmd = match kind {
                0 => Command::Cancel(r),
                _ => Command::Replace {
                    order: r,
                    quantity: None,
                    limit_price: None,
                },
            };
            send(h, &mut tally, at, cmd);
        }
        if i == kill_on || i == kill_off {
            let state = if i == kill_on {
                KillState::Active
            } else {
                KillState::Off
            };
            drill_steps.push(state);
            send(
                h,
                &mut tally,
                t,
                Command::SetKillSwitch {
                    scope: Scope::Symbol(drill),
                    state,
                    cancel_open: true,
                },
            );
        }
        if i > 0 && i % BARRIER_EVERY == 0 {
            // Barriers keep the generator's view of fills deterministic without stalling
            // the pipeline: mark this point, and lean on the positions as they stood at
            // the previous mark (every event before it is in by then, none after it).
            send(h, &mut tally, t, Command::Sync(BARRIER_BASE + i));
            if let Some(previous) = last_barrier.replace(BARRIER_BASE + i) {
                while !tally.snapshots.contains_key(&previous) {
                    match h.next_event(Duration::from_secs(60)) {
                        Some(e) => tally.on(e),
                        None => return Err(std::io::Error::other("core thread stopped answering")),
                    }
                }
                // Exactly the previous barrier's view, whatever else has arrived since.
                view = tally.snapshots.remove(&previous).unwrap_or_default();
                tally.snapshots.retain(|&k, _| k > previous);
            }
        }
        let req = work.request(t, &view, &mut tally.request_meta);
        let n = work.n;
        // Some resting orders are amended; all are canceled a second later, as a
        // strategy pulls stale orders (a refusal means it filled meanwhile).
        if req.order_type.has_limit() && req.tif != Tif::Ioc {
            if work.rng.u32(0..10) == 0 {
                later.push(std::cmp::Reverse((t + 20_000_000, 1, n)));
            }
            later.push(std::cmp::Reverse((t + 1_000_000_000, 0, n)));
        }
        send(h, &mut tally, t, Command::Submit(req));
        if work.rng.u32(0..200) == 0 {
            // An upstream retry of the same request: must not create a second order.
            send(h, &mut tally, t + 1_000, Command::Submit(req));
        }
        while let Some(e) = h.try_event() {
            tally.on(e);
        }
    }
    send(h, &mut tally, t, Command::Sync(1));
    while tally.synced != Some(1) {
        match h.next_event(Duration::from_secs(60)) {
            Some(e) => tally.on(e),
            None => return Err(std::io::Error::other("core thread stopped answering")),
        }
    }
    let elapsed = wall.elapsed();
    // Let simulated time run on so timeouts, late answers and resting orders play out.
    send(h, &mut tally, t + 45_000_000_000, Command::Sync(2));
    while tally.synced != Some(2) {
        match h.next_event(Duration::from_secs(60)) {
            Some(e) => tally.on(e),
            None => return Err(std::io::Error::other("core thread stopped answering")),
        }
    }
    let report = core.shutdown();
    while let Some(e) = handles[0].try_event() {
        tally.on(e);
    }
    Ok(DemoDone {
        summary: summarise(
            &reg,
            opts,
            &tally,
            &report,
            elapsed,
            (drill, &drill_steps),
            opts.orders - resume_after.min(opts.orders),
        ),
        anomalies: tally.anomalies.values().sum(),
        audit_failure: report.audit_failure.clone(),
        journal_refused: report.journal_refused.clone(),
    })
}

fn summarise(
    reg: &Registry,
    opts: &DemoOptions,
    t: &Tally,
    report: &CoreReport,
    elapsed: Duration,
    (drill, drill_steps): (Name, &[KillState]),
    sent: u64,
) -> String {
    let rps = sent as f64 / elapsed.as_secs_f64();
    let mut s = String::new();
    let e = &report.engine;
    let st = &e.stats();
    let _ = writeln!(
        s,
        "execd demo: {} requests{}, seed {}, paper venue, simulated clock from 2026-01-05T15:00:00Z",
        opts.orders,
        if sent < opts.orders {
            format!(" ({sent} in this run, the rest in the journal already)")
        } else {
            String::new()
        },
        opts.seed
    );
    let _ = writeln!(s, "requests      submitted {}  accepted {}  rejected {}  duplicates {}  (kill-switch WARNING {})", st.submitted, t.accepted, t.rejected, t.duplicates, t.warnings);
    let mut parents: BTreeMap<&str, u64> = BTreeMap::new();
    let mut children: BTreeMap<&str, u64> = BTreeMap::new();
    for (state, protective) in t.final_state.iter().flatten() {
        let m = if *protective {
            &mut children
        } else {
            &mut parents
        };
        *m.entry(state.as_str()).or_default() += 1;
    }
    let _ = writeln!(s, "final status of requested orders");
    for (k, v) in &parents {
        let _ = writeln!(s, "  {k:<18} {v}");
    }
    let _ = writeln!(s, "final status of protective orders");
    for (k, v) in &children {
        let _ = writeln!(s, "  {k:<18} {v}");
    }
    let _ = writeln!(s, "rejections by reason");
    let mut reasons: Vec<_> = t.reasons.iter().collect();
    reasons.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then(a.0.cmp(b.0)));
    for (code, (n, text)) in reasons {
        let _ = writeln!(s, "  {code:<26} {n:>8}  {text}");
    }
    if !t.command_rejects.is_empty() {
        let _ = writeln!(
            s,
            "cancel/replace refusals (ORDER_NOT_WORKING: the order had filled or ended first)"
        );
        for (code, n) in &t.command_rejects {
            let _ = writeln!(s, "  {code:<26} {n:>8}");
        }
    }
    let _ = writeln!(
        s,
        "fills         {}  (late after timeout {}; resent exec ids ignored {}; timeouts {})",
        t.fills, t.late_fills, st.duplicate_execs, st.timeouts
    );
    if t.slip_n > 0 {
        let n = t.slip_n as f64;
        let _ = writeln!(
            s,
            "slippage      mean {:.3} bps, mean {:.3} pips over {} fills; {}",
            t.slip_bps_e2 as f64 / 100.0 / n,
            t.slip_pips_e2 as f64 / 100.0 / n,
            t.slip_n,
            SlipCategory::ALL
                .iter()
                .map(|c| format!("{} {}", c.as_str(), t.slip_cat[*c as usize]))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let _ = writeln!(
        s,
        "protection    {} SL/TP placements, {} orders; {} withheld for slippage",
        t.protections, st.protective_orders, t.breaches
    );
    let _ = writeln!(
        s,
        "anomalies     {}  (recorded, state unchanged){}",
        t.anomalies.values().sum::<u64>(),
        t.anomalies
            .iter()
            .map(|((st, ev), n)| format!("; {ev} in {}: {n}", st.as_str()))
            .collect::<String>()
    );
    let drilled = match drill_steps {
        [KillState::Active, KillState::Off] => "ACTIVE with emergency cancel, then OFF",
        [KillState::Active] => "ACTIVE with emergency cancel, still ACTIVE at the end",
        [KillState::Off] => "OFF (set ACTIVE before this run)",
        _ => "not exercised in this run",
    };
    let _ = writeln!(
        s,
        "kill switch   {} {drilled} ({} events)",
        drill.as_str(),
        t.kill_events
    );
    let _ = writeln!(
        s,
        "positions (account symbol: net @ avg entry, realised, fees)"
    );
    let mut mismatches = 0;
    let mut pairs = 0;
    for a in &reg.accounts {
        let mut venue_pos = Vec::new();
        e.venue(0).positions(a.id, &mut venue_pos);
        for i in &reg.instruments {
            let p = e.position(a.id, i.id);
            let at_venue = venue_pos
                .iter()
                .find(|(vi, _)| *vi == i.id)
                .map(|v| v.1 .0)
                .unwrap_or(0);
            pairs += 1;
            if at_venue != p.net.0 {
                mismatches += 1;
            }
            if p.net.0 == 0 && p.realised == Money(0) && p.fees == Money(0) {
                continue;
            }
            let _ = writeln!(
                s,
                "  {:<8} {:<8} {:>14} @ {:<12} realised {:>16} fees {:>14}",
                a.name.as_str(),
                i.symbol.as_str(),
                Fixed(p.net.0, i.qty_scale).to_string(),
                Fixed(p.avg_entry().0, i.price_scale).to_string(),
                p.realised.to_string(),
                p.fees.to_string()
            );
        }
    }
    let _ = writeln!(
        s,
        "reconciliation  {} of {} account/instrument positions match the venue at the end; {} reports during the run, {} differences to resolve",
        pairs - mismatches,
        pairs,
        t.recon_reports,
        t.recon_mismatches
    );
    if let (Some(dir), Some(next)) = (&opts.journal, report.journal_next_seq) {
        let _ = writeln!(s, "journal       {} records in {}", next - 1, dir.display());
        if let Some(r) = report.recovered.filter(|r| r.commands > 0) {
            let _ = writeln!(
                s,
                "recovered     {} commands from the journal at start ({} orders in flight queued for reconciliation)",
                r.commands, r.in_flight
            );
        }
        if let Some(a) = report.audit {
            let _ = writeln!(
                s,
                "audit log     {} records in {} files in {}",
                a.records,
                a.files,
                dir.join("audit").display()
            );
        }
    }
    let _ = writeln!(
        s,
        "orders held {}  retired {}  awaiting reconciliation {}",
        e.book().len(),
        e.book().retired(),
        e.reconcile().len()
    );
    let _ = writeln!(
        s,
        "latency per request on the core thread, ns (ring: queued behind earlier requests; events: venue\nanswers delivered first; total: gate to confirmation)"
    );
    for stage in Stage::ALL {
        let h = report.latency.stage(stage);
        let _ = writeln!(
            s,
            "latency {:<8} p50 {:>8} p99 {:>8} p99.9 {:>8} max {:>10}",
            stage.name(),
            h.value_at_quantile(0.5),
            h.value_at_quantile(0.99),
            h.value_at_quantile(0.999),
            h.max()
        );
    }
    let _ = writeln!(
        s,
        "throughput {:.0} requests/s ({} requests in {:.3} s wall, core pinned: {})",
        rps,
        opts.orders,
        elapsed.as_secs_f64(),
        report.pinned
    );
    s
}
