//! `execd-replay summary`: what an auditor or a risk manager asks first, per account,
//! symbol and venue — counts by final state and by rejection reason, fills, volume,
//! notional, fees, the slippage distribution and latency per stage — computed from the
//! export's rows alone (docs/audit-export.md), so anyone can recompute it from the CSV.

use execd::export::{Row, Value};
use execd::model::fixed::{Dec, Fixed};
use hdrhistogram::Histogram;
use serde_json::{json, Value as Json};
use std::collections::BTreeMap;

/// One account × symbol × venue.
#[derive(Default)]
struct Group {
    requests: u64,
    accepted: u64,
    rejected: u64,
    duplicates: u64,
    final_states: BTreeMap<String, u64>,
    /// Protective orders (stop-loss, take-profit, flattening) by final state.
    protective_states: BTreeMap<String, u64>,
    rejections: BTreeMap<String, u64>,
    /// Orders the venue refused (or that ended REJECTED after the gate), by reason.
    venue_rejections: BTreeMap<String, u64>,
    /// Protective legs the venue refused, and fills that slipped beyond the request's
    /// limit (protection withheld).
    unprotected: u64,
    slippage_breaches: u64,
    fills: u64,
    late_fills: u64,
    /// Filled quantity, as a decimal sum.
    volume: Sum,
    /// Σ price × quantity.
    notional: Sum,
    fees: Sum,
    slippage_bps: Vec<i64>,
    categories: BTreeMap<String, u64>,
    anomalies: u64,
}

/// An exact sum of decimals of any scale.
#[derive(Default, Clone, Copy)]
struct Sum {
    mant: i128,
    scale: u8,
}

impl Sum {
    fn add(&mut self, mant: i128, scale: u8) {
        // Brought to the larger scale; checked, so a hostile value stops nothing silently.
        let (a, b, s) = if scale > self.scale {
            (
                self.mant
                    .saturating_mul(10i128.pow((scale - self.scale).into())),
                mant,
                scale,
            )
        } else {
            (
                self.mant,
                mant.saturating_mul(10i128.pow((self.scale - scale).into())),
                self.scale,
            )
        };
        self.mant = a.saturating_add(b);
        self.scale = s;
    }

    fn add_dec(&mut self, s: &str) {
        if let Ok(d) = Dec::parse(s) {
            self.add(d.mant.into(), d.scale);
        }
    }

    fn text(&self) -> String {
        match i64::try_from(self.mant) {
            Ok(m) => Fixed(m, self.scale).to_string(),
            Err(_) => "overflow".into(),
        }
    }
}

/// Per-order times (engine ns) of what latency is measured between.
#[derive(Default)]
struct Times {
    key: Option<(String, String, String)>,
    accepted: Option<u64>,
    acked: Option<u64>,
    first_fill: Option<u64>,
    done: Option<u64>,
    state: String,
    protective: bool,
    /// MARKET, IOC or FOK: its time to fill is latency; a resting order's is waiting.
    marketable: bool,
}

/// Latency stages of marketable orders, each from the order's acceptance by the gate.
const STAGES: [&str; 3] = ["ack", "first_fill", "final"];

/// The summary of `rows` whose time is in `[from, to)`.
pub struct Summary {
    groups: BTreeMap<(String, String, String), Group>,
    latency: BTreeMap<&'static str, Histogram<u64>>,
    rows: u64,
    operator_actions: u64,
    command_rejections: u64,
    kill_switches: u64,
    reconciliation_mismatches: u64,
    dead_letters: u64,
    from: Option<u64>,
    to: Option<u64>,
    first_ns: Option<u64>,
    last_ns: u64,
    orders: BTreeMap<u64, Times>,
    /// Time in force of the last request seen, by request id (its accepted row follows
    /// in the same record).
    tif: BTreeMap<String, String>,
}

fn field<'a>(r: &'a Row, name: &str) -> Option<&'a str> {
    match r.fields.get(name) {
        Some(Value::Decimal(s)) | Some(Value::Text(s)) => Some(s.as_str()),
        _ => None,
    }
}

impl Summary {
    /// An empty summary of the window `[from, to)`.
    pub fn new(from: Option<u64>, to: Option<u64>) -> Summary {
        Summary {
            groups: BTreeMap::new(),
            latency: STAGES
                .iter()
                .map(|s| (*s, Histogram::new(3).expect("3 significant figures")))
                .collect(),
            rows: 0,
            operator_actions: 0,
            command_rejections: 0,
            kill_switches: 0,
            reconciliation_mismatches: 0,
            dead_letters: 0,
            from,
            to,
            first_ns: None,
            last_ns: 0,
            orders: BTreeMap::new(),
            tif: BTreeMap::new(),
        }
    }

    /// Takes one export row. Requests are picked by when they were received (the window);
    /// the orders they made are followed to the end of the journal, whenever that is.
    pub fn add(&mut self, r: &Row) {
        let in_window =
            !(self.from.is_some_and(|t| r.time_ns < t) || self.to.is_some_and(|t| r.time_ns >= t));
        // Rows of an order (or a protective leg of one) the window picked.
        let followed = |o: Option<u64>| o.is_some_and(|o| self.orders.contains_key(&o));
        let of_followed = followed(r.order) || followed(r.parent);
        if !in_window && !of_followed {
            return;
        }
        self.rows += 1;
        self.first_ns.get_or_insert(r.time_ns);
        self.last_ns = self.last_ns.max(r.time_ns);
        let key = (
            r.account.clone(),
            r.symbol.clone(),
            field(r, "venue").unwrap_or("").to_string(),
        );
        if in_window {
            match r.kind {
                "operator" => self.operator_actions += 1,
                "command_rejected" => self.command_rejections += 1,
                "kill_switch" => self.kill_switches += 1,
                "dead_letter" => self.dead_letters += 1,
                "reconciliation" if r.state != "MATCHED" => self.reconciliation_mismatches += 1,
                _ => {}
            }
        }
        let g = || key.clone();
        match r.kind {
            "request" if in_window => {
                self.groups.entry(g()).or_default().requests += 1;
                if let Some(t) = field(r, "time_in_force") {
                    self.tif.insert(r.request_id.clone(), t.to_string());
                }
            }
            "duplicate" if in_window => self.groups.entry(g()).or_default().duplicates += 1,
            "rejected" if in_window => {
                let grp = self.groups.entry(g()).or_default();
                grp.rejected += 1;
                *grp.rejections.entry(r.reason.clone()).or_default() += 1;
                *grp.final_states.entry("REJECTED".into()).or_default() += 1;
            }
            "accepted" if in_window => {
                self.groups.entry(g()).or_default().accepted += 1;
                if let Some(o) = r.order {
                    let tif = self.tif.remove(&r.request_id).unwrap_or_default();
                    let t = self.orders.entry(o).or_default();
                    t.accepted = Some(r.time_ns);
                    t.key = Some(key.clone());
                    t.marketable =
                        field(r, "order_type") == Some("MARKET") || tif == "IOC" || tif == "FOK";
                }
            }
            "anomaly" if of_followed => self.groups.entry(g()).or_default().anomalies += 1,
            "unprotected" if of_followed => self.groups.entry(g()).or_default().unprotected += 1,
            "slippage_breach" if of_followed => {
                self.groups.entry(g()).or_default().slippage_breaches += 1
            }
            "fill" | "fill_recovered" if of_followed => {
                let grp = self.groups.entry(g()).or_default();
                grp.fills += 1;
                if r.fields.get("late") == Some(&Value::Boolean(true)) {
                    grp.late_fills += 1;
                }
                grp.volume.add_dec(&r.qty);
                if let (Ok(q), Ok(p)) = (Dec::parse(&r.qty), Dec::parse(&r.price)) {
                    grp.notional.add(
                        i128::from(q.mant).saturating_mul(p.mant.into()),
                        q.scale.saturating_add(p.scale),
                    );
                }
                if let Some(fee) = field(r, "fee") {
                    grp.fees.add_dec(fee);
                }
                if let Some(b) = field(r, "slippage_bps").and_then(|b| Dec::parse(b).ok()) {
                    grp.slippage_bps.push(b.to_scale(2).unwrap_or(b.mant));
                }
                if let Some(c) = field(r, "slippage_category") {
                    *grp.categories.entry(c.to_string()).or_default() += 1;
                }
                if let Some(t) = r.order.and_then(|o| self.orders.get_mut(&o)) {
                    t.first_fill.get_or_insert(r.time_ns);
                }
            }
            "order" if of_followed => {
                let Some(o) = r.order else { return };
                // A protective leg is followed with the order it protects.
                let t = self.orders.entry(o).or_default();
                if t.key.is_none() {
                    t.key = Some(key.clone());
                }
                t.state = r.state.clone();
                t.protective = r.parent.is_some();
                if r.state == "NEW" || r.state == "PARTIALLY_FILLED" || r.state == "FILLED" {
                    t.acked.get_or_insert(r.time_ns);
                }
                if is_final(&r.state) {
                    t.done.get_or_insert(r.time_ns);
                }
                if r.state == "REJECTED" && !r.reason.is_empty() {
                    *self
                        .groups
                        .entry(g())
                        .or_default()
                        .venue_rejections
                        .entry(r.reason.clone())
                        .or_default() += 1;
                }
            }
            _ => {}
        }
    }

    /// Closes the per-order counts: final states and latency.
    pub fn finish(&mut self) {
        for t in self.orders.values() {
            let Some(key) = &t.key else { continue };
            let grp = self.groups.entry(key.clone()).or_default();
            let state = if t.state.is_empty() {
                "RECEIVED"
            } else {
                &t.state
            };
            let by = if t.protective {
                &mut grp.protective_states
            } else {
                &mut grp.final_states
            };
            *by.entry(state.to_string()).or_default() += 1;
            let Some(a) = t.accepted.filter(|_| t.marketable) else {
                continue;
            };
            for (stage, at) in STAGES.iter().zip([t.acked, t.first_fill, t.done]) {
                if let (Some(at), Some(h)) = (at, self.latency.get_mut(stage)) {
                    let _ = h.record(at.saturating_sub(a));
                }
            }
        }
    }

    /// The summary for a person.
    pub fn text(&self) -> Vec<String> {
        let mut out = Vec::new();
        let span = match self.first_ns {
            Some(f) => format!(
                "{} .. {}",
                execd::calendar::iso8601(f),
                execd::calendar::iso8601(self.last_ns)
            ),
            None => "no rows".into(),
        };
        out.push(format!("summary: {} export rows, {span}", self.rows));
        for ((account, symbol, venue), g) in &self.groups {
            if g.requests + g.fills + g.accepted + g.rejected == 0 && g.final_states.is_empty() {
                continue;
            }
            out.push(format!(
                "{} {} {}: requests {}, accepted {}, rejected {}, duplicates {}",
                or_dash(account),
                or_dash(symbol),
                or_dash(venue),
                g.requests,
                g.accepted,
                g.rejected,
                g.duplicates
            ));
            out.push(format!("  final states: {}", counts(&g.final_states)));
            if !g.protective_states.is_empty() {
                out.push(format!(
                    "  protective orders: {}",
                    counts(&g.protective_states)
                ));
            }
            if !g.rejections.is_empty() {
                out.push(format!("  gate rejections: {}", counts(&g.rejections)));
            }
            if !g.venue_rejections.is_empty() {
                out.push(format!(
                    "  rejected after the gate: {}",
                    counts(&g.venue_rejections)
                ));
            }
            if g.unprotected + g.slippage_breaches > 0 {
                out.push(format!(
                    "  protective legs refused {}, protection withheld for slippage {}",
                    g.unprotected, g.slippage_breaches
                ));
            }
            out.push(format!(
                "  fills {} (late {}), volume {}, notional {}, fees {}",
                g.fills,
                g.late_fills,
                g.volume.text(),
                g.notional.text(),
                g.fees.text()
            ));
            if !g.slippage_bps.is_empty() {
                let p = percentiles(&g.slippage_bps);
                out.push(format!(
                    "  slippage bps: n {}, min {}, p50 {}, p90 {}, p99 {}, max {}; {}",
                    g.slippage_bps.len(),
                    p[0],
                    p[1],
                    p[2],
                    p[3],
                    p[4],
                    counts(&g.categories)
                ));
            }
            if g.anomalies > 0 {
                out.push(format!("  anomalies {}", g.anomalies));
            }
        }
        for stage in STAGES {
            let Some(h) = self.latency.get(stage).filter(|h| !h.is_empty()) else {
                continue;
            };
            out.push(format!(
                "latency of marketable orders, accepted -> {stage} (engine time): n {}, p50 {}, p99 {}, p99.9 {}, max {}",
                h.len(),
                micros(h.value_at_quantile(0.5)),
                micros(h.value_at_quantile(0.99)),
                micros(h.value_at_quantile(0.999)),
                micros(h.max())
            ));
        }
        out.push(format!(
            "operator actions {}, kill switch changes {}, command rejections {}, reconciliation lines to resolve {}, dead letters {}",
            self.operator_actions,
            self.kill_switches,
            self.command_rejections,
            self.reconciliation_mismatches,
            self.dead_letters
        ));
        out
    }

    /// The summary for machines.
    pub fn json(&self) -> Json {
        let groups: Vec<Json> = self
            .groups
            .iter()
            .map(|((account, symbol, venue), g)| {
                let p = (!g.slippage_bps.is_empty()).then(|| percentiles(&g.slippage_bps));
                json!({
                    "account": account, "symbol": symbol, "venue": venue,
                    "requests": g.requests, "accepted": g.accepted, "rejected": g.rejected,
                    "duplicates": g.duplicates, "final_states": g.final_states,
                    "protective_states": g.protective_states,
                    "rejections": g.rejections, "venue_rejections": g.venue_rejections,
                    "unprotected": g.unprotected, "slippage_breaches": g.slippage_breaches,
                    "fills": g.fills, "late_fills": g.late_fills,
                    "volume": g.volume.text(), "notional": g.notional.text(), "fees": g.fees.text(),
                    "slippage_bps": p.map(|p| json!({
                        "n": g.slippage_bps.len(), "min": p[0], "p50": p[1], "p90": p[2],
                        "p99": p[3], "max": p[4], "categories": g.categories,
                    })),
                    "anomalies": g.anomalies,
                })
            })
            .collect();
        let latency: BTreeMap<&str, Json> = self
            .latency
            .iter()
            .filter(|(_, h)| !h.is_empty())
            .map(|(s, h)| {
                (
                    *s,
                    json!({
                        "n": h.len(),
                        "p50_ns": h.value_at_quantile(0.5),
                        "p99_ns": h.value_at_quantile(0.99),
                        "p999_ns": h.value_at_quantile(0.999),
                        "max_ns": h.max(),
                    }),
                )
            })
            .collect();
        json!({
            "rows": self.rows,
            "first": self.first_ns.map(execd::calendar::iso8601),
            "last": self.first_ns.map(|_| execd::calendar::iso8601(self.last_ns)),
            "groups": groups,
            "latency_of_marketable_orders_from_accepted": latency,
            "operator_actions": self.operator_actions,
            "kill_switch_changes": self.kill_switches,
            "command_rejections": self.command_rejections,
            "reconciliation_lines_to_resolve": self.reconciliation_mismatches,
            "dead_letters": self.dead_letters,
        })
    }
}

fn is_final(state: &str) -> bool {
    matches!(state, "FILLED" | "CANCELED" | "REJECTED" | "EXPIRED")
}

fn or_dash(s: &str) -> &str {
    if s.is_empty() {
        "-"
    } else {
        s
    }
}

fn counts(m: &BTreeMap<String, u64>) -> String {
    if m.is_empty() {
        return "none".into();
    }
    m.iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// min, p50, p90, p99, max of hundredths of a basis point, as decimals (nearest rank).
fn percentiles(v: &[i64]) -> [String; 5] {
    let mut s = v.to_vec();
    s.sort_unstable();
    let at = |q: f64| {
        let i = ((q * s.len() as f64).ceil() as usize).clamp(1, s.len()) - 1;
        Fixed(s[i], 2).to_string()
    };
    [
        Fixed(s[0], 2).to_string(),
        at(0.5),
        at(0.9),
        at(0.99),
        Fixed(s[s.len() - 1], 2).to_string(),
    ]
}

/// A duration for a person: µs below a millisecond, ms below a second, else s.
fn micros(ns: u64) -> String {
    match ns {
        0..1_000_000 => format!("{}.{:03} µs", ns / 1000, ns % 1000),
        1_000_000..1_000_000_000 => format!("{}.{:03} ms", ns / 1_000_000, ns / 1000 % 1000),
        _ => format!("{}.{:03} s", ns / 1_000_000_000, ns / 1_000_000 % 1000),
    }
}
