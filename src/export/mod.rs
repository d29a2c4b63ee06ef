//! The export of a journal (R-AUD-3): one row per thing that happened — every request,
//! decision, state change, fill and operator action — rebuilt by replaying the journal
//! with the same engine the live core ran, as CSV or JSON Lines. `execd-replay export`
//! and the control API's `GET /v1/audit` write the same rows through this module.

use crate::calendar::iso8601;
use crate::config::Registry;
use crate::core::recovery::Step;
use crate::model::event::{Command, CoreEvent, OrderRef, OrderStatus, Scope};
use crate::model::fixed::{Fixed, MONEY_SCALE};
use crate::model::ids::{OrderId, OrderType};
use crate::model::request::{ExecutionRequest, Protect};
use serde::Serialize;
use std::io::Write;

pub mod schema;
pub use schema::{Fields, Value, SCHEMA_VERSION};

/// How rows are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// A header line ([`header`]), then one line per row (RFC 4180 quoting).
    Csv,
    /// One JSON object per line.
    Jsonl,
}

/// One line of an export.
#[derive(Serialize, Default, Clone, Debug)]
pub struct Row {
    /// Engine time of the record, Unix nanoseconds.
    pub time_ns: u64,
    /// The same, RFC 3339 UTC.
    pub time: String,
    /// Journal sequence number of the record the row comes from.
    pub seq: u64,
    /// One of [`KINDS`].
    pub kind: &'static str,
    /// execd's order id, when the row is about an order.
    pub order: Option<u64>,
    /// For a protective leg: the order it protects.
    pub parent: Option<u64>,
    /// Upstream's request id.
    pub request_id: String,
    /// Account name.
    pub account: String,
    /// Instrument symbol.
    pub symbol: String,
    /// BUY or SELL.
    pub side: String,
    /// Order state (or switch, mode, session state) after the row.
    pub state: String,
    /// Order or fill quantity.
    pub qty: String,
    /// Filled so far.
    pub cum_qty: String,
    /// Limit, stop or fill price.
    pub price: String,
    /// A rejection code, or the reason an operator gave.
    pub reason: String,
    /// What the row is, in a sentence for a person; every value is in a column or field.
    pub detail: String,
    /// The configuration in force (1: the one the journal started under;
    /// `execd-replay configs` lists them).
    pub config: u32,
    /// The kind's own typed values ([`schema::FIELDS`]): nested in JSON Lines, a column
    /// each in CSV.
    pub fields: Fields,
}

/// Every kind of export row.
pub const KINDS: [&str; 36] = [
    "request",
    "accepted",
    "rejected",
    "duplicate",
    "order",
    "fill",
    "protection",
    "slippage_breach",
    "anomaly",
    "command_rejected",
    "kill_switch",
    "mode",
    "halt",
    "command",
    "venue_session",
    "fill_recovered",
    "venue_mismatch",
    "journal_loss",
    "audit_log",
    "operator",
    "limits",
    "config",
    "reconciliation",
    "reconciliation_report",
    "reconciliation_resolved",
    "protection_overfill",
    "unprotected",
    "start",
    "restart",
    "retry",
    "dead_letter",
    "dead_letter_resolved",
    "balance",
    "fill_assets",
    "venue_limits",
    "venue_backpressure",
];

/// The common columns, first in every CSV line and at the top of every JSON object.
pub const COMMON: &[&str] = &[
    "time_ns",
    "time",
    "seq",
    "kind",
    "order",
    "parent",
    "request_id",
    "account",
    "symbol",
    "side",
    "state",
    "qty",
    "cum_qty",
    "price",
    "reason",
    "detail",
    "config",
];

/// The CSV header: the common columns, then one per typed field.
pub fn header() -> String {
    let mut cols: Vec<String> = COMMON.iter().map(|c| c.to_string()).collect();
    cols.extend(schema::columns());
    cols.join(",")
}

/// Which rows an export keeps (every condition given must hold).
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// From this engine time (ns), inclusive.
    pub from: Option<u64>,
    /// Up to this engine time (ns), exclusive.
    pub to: Option<u64>,
    /// Only this account.
    pub account: Option<String>,
    /// Only this symbol.
    pub symbol: Option<String>,
    /// Only this order and the legs protecting it.
    pub order: Option<u64>,
    /// Only this request id.
    pub request: Option<String>,
    /// Only this kind of row.
    pub kind: Option<String>,
}

impl Filter {
    /// Whether `r` is kept.
    pub fn keeps(&self, r: &Row) -> bool {
        self.from.is_none_or(|t| r.time_ns >= t)
            && self.to.is_none_or(|t| r.time_ns < t)
            && self.account.as_ref().is_none_or(|a| &r.account == a)
            && self.symbol.as_ref().is_none_or(|s| &r.symbol == s)
            && self
                .order
                .is_none_or(|o| r.order == Some(o) || r.parent == Some(o))
            && self.request.as_ref().is_none_or(|q| &r.request_id == q)
            && self.kind.as_ref().is_none_or(|k| r.kind == k)
    }
}

/// The rows one journal record gives: the command itself, then what the engine emitted.
pub fn rows(s: &Step<'_>, out: &mut Vec<Row>) {
    let e = s.engine;
    let reg = e.registry();
    let base = Row {
        time_ns: s.ts_ns,
        time: iso8601(s.ts_ns),
        seq: s.seq,
        config: s.config.0,
        ..Row::default()
    };
    if let Some(st) = s.started {
        let mut r = Row {
            kind: "start",
            detail: "the journal starts".into(),
            // The configuration record right after it is the one it starts under.
            config: 1,
            ..base.clone()
        };
        r.fields
            .text("build", st.build_text())
            .int("epoch", st.epoch.into())
            .hex("config_fingerprint", st.config_hash);
        out.push(r);
    }
    if let Some(build) = s.restart {
        let mut r = Row {
            kind: "restart",
            detail: "restarted on this journal: this build wrote what follows".into(),
            ..base.clone()
        };
        r.fields.text("build", build);
        out.push(r);
    }
    if s.config_changed {
        let mut r = Row {
            kind: "config",
            detail: "a configuration in force from here on (execd-replay configs lists it)".into(),
            ..base.clone()
        };
        r.fields.hex("config_fingerprint", s.config.1);
        out.push(r);
    }
    // Fill in what the book knows of an order.
    let with_order = |mut r: Row, id: OrderId| -> Row {
        r.order = Some(id.0);
        if let Some(o) = e.book().get(id) {
            let t = o.terms();
            r.parent = t.parent.map(|p| p.0);
            if r.request_id.is_empty() {
                r.request_id = t.request_id.to_string();
            }
            r.account = reg
                .accounts
                .get(t.account.0 as usize)
                .map(|a| a.name.to_string())
                .unwrap_or_default();
            r.symbol = reg
                .instruments
                .get(t.instrument.0 as usize)
                .map(|i| i.symbol.to_string())
                .unwrap_or_default();
            r.side = t.side.as_str().into();
            if let Some(v) = reg.venues.get(t.venue.0 as usize) {
                r.fields.text("venue", v.name.to_string());
            }
        }
        r
    };
    let venue_name = |v: crate::model::ids::VenueId| -> String {
        reg.venues
            .get(v.0 as usize)
            .map(|v| v.name.to_string())
            .unwrap_or_else(|| format!("#{}", v.0))
    };
    let scales = |id: OrderId| -> (u8, u8) {
        e.book()
            .get(id)
            .and_then(|o| reg.instruments.get(o.terms().instrument.0 as usize))
            .map(|i| (i.price_scale, i.qty_scale))
            .unwrap_or((0, 0))
    };
    let operator = |r: &mut Row| {
        if let (Some(n), Some((origin, _))) = (s.note, s.command) {
            r.fields
                .text("operator", n.operator.to_string())
                .int("producer", origin.into());
        }
    };
    if let Some(text) = s.loss {
        out.push(loss_row(text, base.clone()));
    }
    if let Some((v, ev)) = s.venue_input {
        if let Some(r) = asset_row(e, v, &ev.kind, base.clone()) {
            out.push(r);
        }
    }
    if let Some(failed) = s.audit_failed {
        out.push(Row {
            kind: "audit_log",
            state: if failed { "FAILED" } else { "WORKING" }.into(),
            reason: if failed { "AUDIT_FAILED" } else { "" }.into(),
            detail: if failed {
                "the audit sidecar failed: new orders refused from here on"
            } else {
                "the audit log works again: new orders accepted"
            }
            .into(),
            ..base.clone()
        });
    }
    if let Some((origin, cmd)) = s.command {
        match cmd {
            Command::Operator(n) => {
                let mut r = Row {
                    kind: "operator",
                    reason: n.reason.to_string(),
                    detail: "an operator acts: the action is this producer's next command".into(),
                    ..base.clone()
                };
                r.fields
                    .text("operator", n.operator.to_string())
                    .int("producer", origin.into());
                out.push(r);
            }
            Command::Submit(q) => out.push(request_row(q, reg, base.clone())),
            other => {
                let mut r = Row {
                    kind: "command",
                    reason: s.note.map(|n| n.reason.to_string()).unwrap_or_default(),
                    detail: command_text(other),
                    ..base.clone()
                };
                // A command about one order is a row of that order (its story, `--order`).
                let target = match other {
                    Command::Cancel(o)
                    | Command::Replace { order: o, .. }
                    | Command::ModifyProtection { order: o, .. }
                    | Command::Query(o) => match o {
                        OrderRef::Id(id) => Some(*id),
                        OrderRef::Request(q) => e.book().by_request(q),
                    },
                    Command::DeadLetter { order, .. } => Some(*order),
                    _ => None,
                };
                if let Some(id) = target.filter(|id| e.book().get(*id).is_some()) {
                    r = with_order(r, id);
                }
                let scales = target.and_then(|id| e.book().get(id)).and_then(|o| {
                    let stop = matches!(o.terms().order_type, OrderType::Stop);
                    reg.instruments
                        .get(o.terms().instrument.0 as usize)
                        .map(|i| (i.price_scale, i.qty_scale, stop))
                });
                command_fields(other, reg, scales, &mut r);
                operator(&mut r);
                out.push(r);
            }
        }
    }
    for ev in s.events {
        let row = match *ev {
            CoreEvent::Accepted {
                order,
                content_hash,
                warning,
                ..
            } => {
                let mut r = Row {
                    kind: "accepted",
                    detail: if warning {
                        "passed the gate while a kill switch covering it was at WARNING"
                    } else {
                        "passed the gate"
                    }
                    .into(),
                    ..with_order(base.clone(), order)
                };
                r.fields
                    .hex("content_hash", content_hash)
                    .flag("kill_switch_warning", warning);
                if let Some(o) = e.book().get(order) {
                    r.fields
                        .text("order_type", o.terms().order_type.as_str())
                        .text("cl_ord_id", o.cl_ord_id().to_string());
                }
                r
            }
            CoreEvent::Rejected {
                request_id,
                order,
                reason,
            } => {
                // The request is this record's command: its account, symbol and venue are
                // what was asked, even when the gate refused them as unknown.
                let asked = match s.command {
                    Some((_, Command::Submit(q))) if q.request_id == request_id => Some(q),
                    _ => None,
                };
                let mut r = Row {
                    kind: "rejected",
                    request_id: request_id.to_string(),
                    reason: reason.code().into(),
                    detail: reason.text().into(),
                    // Refused before an order id was given (the store or the memory of
                    // request ids full): no order.
                    order: (order.0 != 0).then_some(order.0),
                    ..base.clone()
                };
                if let Some(q) = asked {
                    r.account = q.account.to_string();
                    r.symbol = q.symbol.to_string();
                    r.side = q.side.as_str().into();
                    r.fields.text("venue", q.venue.to_string());
                } else if order.0 != 0 {
                    r = with_order(r, order);
                }
                r.fields.text("reason_text", reason.text());
                r
            }
            CoreEvent::Duplicate {
                request_id,
                order,
                state,
            } => Row {
                kind: "duplicate",
                request_id: request_id.to_string(),
                state: state.as_str().into(),
                detail: "a request id seen before with the same content: no second order".into(),
                ..with_order(base.clone(), order)
            },
            CoreEvent::Order(OrderStatus {
                order,
                state,
                qty,
                cum_qty,
                avg_px,
                reason,
                late,
                ..
            }) => {
                let (ps, qs) = scales(order);
                let mut r = Row {
                    kind: "order",
                    state: state.as_str().into(),
                    qty: Fixed(qty.0, qs).to_string(),
                    cum_qty: Fixed(cum_qty.0, qs).to_string(),
                    price: if cum_qty.0 > 0 {
                        Fixed(avg_px.0, ps).to_string()
                    } else {
                        String::new()
                    },
                    reason: reason.map(|r| r.code().to_string()).unwrap_or_default(),
                    detail: if late {
                        "after the hard timeout".into()
                    } else {
                        String::new()
                    },
                    ..with_order(base.clone(), order)
                };
                r.fields.flag("late", late);
                if cum_qty.0 > 0 {
                    r.fields.fixed("avg_px", avg_px.0, ps);
                }
                if let Some(reason) = reason {
                    r.fields.text("reason_text", reason.text());
                }
                if let Some(o) = e.book().get(order) {
                    // The prices it works at now: a replace shows here.
                    let t = o.terms();
                    if t.limit.0 != 0 {
                        r.fields.fixed("limit_price", t.limit.0, ps);
                    }
                    if t.stop.0 != 0 {
                        r.fields.fixed("stop_price", t.stop.0, ps);
                    }
                    r.fields.text("cl_ord_id", o.cl_ord_id().to_string());
                    if o.venue_order_id() != 0 {
                        r.fields.int("venue_order_id", o.venue_order_id());
                    }
                }
                r
            }
            CoreEvent::Fill {
                order,
                exec_id,
                px,
                qty,
                fee,
                slippage,
                late,
                ..
            } => {
                let (ps, qs) = scales(order);
                let mut r = Row {
                    kind: "fill",
                    qty: Fixed(qty.0, qs).to_string(),
                    price: Fixed(px.0, ps).to_string(),
                    detail: if late {
                        "an execution after the hard timeout".into()
                    } else {
                        "an execution".into()
                    },
                    ..with_order(base.clone(), order)
                };
                r.fields
                    .int("exec_id", exec_id)
                    .set("fee", Value::Decimal(fee.to_string()))
                    .flag("late", late);
                if let Some(sl) = slippage {
                    r.fields
                        .fixed("slippage_price", sl.price, ps)
                        .fixed("slippage_bps", sl.bps_e2, 2)
                        .fixed("slippage_pips", sl.pips_e2, 2)
                        .text("slippage_category", sl.category.as_str());
                }
                r
            }
            CoreEvent::Protection {
                parent,
                stop_loss,
                take_profit,
                qty,
            } => {
                let (ps, qs) = scales(parent);
                let mut r = Row {
                    kind: "protection",
                    qty: Fixed(qty.0, qs).to_string(),
                    detail: "protective orders placed for the filled quantity".into(),
                    ..with_order(base.clone(), parent)
                };
                if let Some((o, p)) = stop_loss {
                    r.fields
                        .int("stop_loss_order", o.0)
                        .fixed("stop_loss", p.0, ps);
                }
                if let Some((o, p)) = take_profit {
                    r.fields
                        .int("take_profit_order", o.0)
                        .fixed("take_profit", p.0, ps);
                }
                r
            }
            CoreEvent::SlippageBreach { order, bps_e2 } => {
                let mut r = Row {
                    kind: "slippage_breach",
                    detail: "the fill slipped beyond the request's limit: protection withheld"
                        .into(),
                    ..with_order(base.clone(), order)
                };
                r.fields.fixed("slippage_bps", bps_e2, 2);
                r
            }
            CoreEvent::ProtectionOverfill { leg, flatten, qty } => {
                let (_, qs) = scales(leg);
                let mut r = Row {
                    kind: "protection_overfill",
                    qty: Fixed(qty.0, qs).to_string(),
                    detail: if flatten.is_some() {
                        "the leg flipped the position; flatten_order flattens the excess (qty)"
                    } else {
                        "the leg flipped the position; the excess (qty) could not be flattened"
                    }
                    .into(),
                    ..with_order(base.clone(), leg)
                };
                if let Some(f) = flatten {
                    r.fields.int("flatten_order", f.0);
                }
                r
            }
            CoreEvent::Unprotected {
                parent,
                leg,
                reason,
            } => {
                let mut r = Row {
                    kind: "unprotected",
                    reason: reason.code().into(),
                    detail: "a protective order (leg_order) refused by the venue".into(),
                    ..with_order(base.clone(), parent)
                };
                r.fields
                    .int("leg_order", leg.0)
                    .text("reason_text", reason.text());
                r
            }
            CoreEvent::Anomaly {
                order,
                state,
                event,
            } => {
                let mut r = Row {
                    kind: "anomaly",
                    state: state.as_str().into(),
                    detail: "an event that does not fit the order's state: ignored, flagged".into(),
                    ..with_order(base.clone(), order)
                };
                r.fields.text("anomaly_event", event.as_str());
                r
            }
            CoreEvent::CommandRejected { order, reason } => {
                let mut r = Row {
                    kind: "command_rejected",
                    reason: reason.code().into(),
                    detail: reason.text().into(),
                    ..base.clone()
                };
                r.fields.text("reason_text", reason.text());
                match order {
                    Some(o) => with_order(r, o),
                    None => r,
                }
            }
            CoreEvent::KillSwitch {
                scope,
                state,
                canceled,
            } => {
                let mut r = Row {
                    kind: "kill_switch",
                    state: state.as_str().into(),
                    reason: s.note.map(|n| n.reason.to_string()).unwrap_or_default(),
                    detail: format!("the kill switch for {} set", scope_text(&scope)),
                    ..base.clone()
                };
                scope_fields(&scope, &mut r);
                r.fields.int("canceled", canceled.into());
                operator(&mut r);
                r
            }
            CoreEvent::ModeChanged { account, mode } => {
                let mut r = Row {
                    kind: "mode",
                    account: account.to_string(),
                    state: mode.as_str().into(),
                    reason: s.note.map(|n| n.reason.to_string()).unwrap_or_default(),
                    ..base.clone()
                };
                operator(&mut r);
                r
            }
            CoreEvent::LimitsChanged(l) => {
                let inst = reg.instruments.get(l.instrument.0 as usize);
                let qs = inst.map(|i| i.qty_scale).unwrap_or(0);
                let mut r = Row {
                    kind: "limits",
                    symbol: inst.map(|i| i.symbol.to_string()).unwrap_or_default(),
                    detail: "the instrument's risk limits in force from here on".into(),
                    ..base.clone()
                };
                if let Some(v) = inst.and_then(|i| reg.venues.get(i.venue.0 as usize)) {
                    r.fields.text("venue", v.name.to_string());
                }
                r.fields
                    .fixed("max_order_qty", l.max_order_qty.0, qs)
                    .set("max_notional", Value::Decimal(l.max_notional.to_string()))
                    .fixed("max_position", l.max_position.0, qs);
                r
            }
            CoreEvent::HaltChanged { account, halted } => {
                let mut r = Row {
                    kind: "halt",
                    account: account.to_string(),
                    state: if halted { "HALTED" } else { "TRADING" }.into(),
                    reason: s.note.map(|n| n.reason.to_string()).unwrap_or_default(),
                    ..base.clone()
                };
                operator(&mut r);
                r
            }
            CoreEvent::VenueSession { venue, up } => {
                let mut r = Row {
                    kind: "venue_session",
                    state: if up { "LOGGED_ON" } else { "LOGGED_OFF" }.into(),
                    ..base.clone()
                };
                r.fields.text("venue", venue.to_string());
                r
            }
            CoreEvent::VenueLimits { venue, limits: l } => {
                let held = l.retry_after_ms > 0;
                let mut r = Row {
                    kind: "venue_limits",
                    state: if held { "HELD" } else { "OPEN" }.into(),
                    detail: if held {
                        "the venue's rate limits as its bridge read them: it said to hold off (429/418), new orders are refused until retry_after_ms passes"
                    } else {
                        "the venue's rate limits as its bridge read them: the gate's order budget from here on"
                    }
                    .into(),
                    ..base.clone()
                };
                let [short, long] = l.orders;
                r.fields
                    .text("venue", venue.to_string())
                    .int("used_weight", l.used_weight.into())
                    .int("weight_cap", l.weight_cap.into())
                    .int("orders_short", short.count.into())
                    .int("orders_short_cap", short.cap.into())
                    .int("orders_short_window_s", short.secs.into())
                    .int("orders_long", long.count.into())
                    .int("orders_long_cap", long.cap.into())
                    .int("orders_long_window_s", long.secs.into())
                    .int("retry_after_ms", l.retry_after_ms.into());
                r
            }
            CoreEvent::VenueBackpressure { order, request } => {
                let reason = crate::model::reason::Reason::VenueBackpressure;
                let mut r = Row {
                    kind: "venue_backpressure",
                    reason: reason.code().into(),
                    detail: format!(
                        "the {} never reached the venue: its bridge's request queue was full",
                        request.word()
                    ),
                    ..with_order(base.clone(), order)
                };
                r.fields
                    .text("message", request.word())
                    .text("reason_text", reason.text());
                r
            }
            CoreEvent::FillRecovered { order, qty, px } => {
                let (ps, qs) = scales(order);
                Row {
                    kind: "fill_recovered",
                    qty: Fixed(qty.0, qs).to_string(),
                    price: Fixed(px.0, ps).to_string(),
                    detail: "booked from the venue's status answer; no report told it".into(),
                    ..with_order(base.clone(), order)
                }
            }
            CoreEvent::VenueMismatch {
                order,
                venue_cum,
                core_cum,
            } => {
                let (_, qs) = scales(order);
                let mut r = Row {
                    kind: "venue_mismatch",
                    qty: Fixed(venue_cum.0, qs).to_string(),
                    cum_qty: Fixed(core_cum.0, qs).to_string(),
                    detail: "the venue reports less filled than the core booked".into(),
                    ..with_order(base.clone(), order)
                };
                r.fields.fixed("venue_cum_qty", venue_cum.0, qs).fixed(
                    "core_cum_qty",
                    core_cum.0,
                    qs,
                );
                r
            }
            CoreEvent::ReconLine(l) => {
                let inst = l.instrument.and_then(|i| reg.instruments.get(i.0 as usize));
                let qs = inst.map_or(0, |i| i.qty_scale);
                let line = match (l.order, l.venue_order) {
                    (Some(_), _) => "order",
                    (None, 0) if l.status == crate::model::reconcile::ReconStatus::UnknownOrder => {
                        "foreign_order"
                    }
                    (None, 0) => "position",
                    (None, _) => "venue_order",
                };
                let mut row = Row {
                    kind: "reconciliation",
                    state: l.status.as_str().into(),
                    account: l
                        .account
                        .and_then(|a| reg.accounts.get(a.0 as usize))
                        .map(|a| a.name.to_string())
                        .unwrap_or_default(),
                    symbol: inst.map(|i| i.symbol.to_string()).unwrap_or_default(),
                    qty: Fixed(l.theirs.0, qs).to_string(),
                    cum_qty: Fixed(l.ours.0, qs).to_string(),
                    detail: match line {
                        "order" => "an order: execd's and the venue's state and filled quantity",
                        "foreign_order" => "an open order at the venue not sent by execd",
                        "position" => "a position: execd's and the venue's",
                        _ => "a venue order execd does not hold",
                    }
                    .into(),
                    ..base.clone()
                };
                row.fields
                    .text("venue", venue_name(l.venue))
                    .int("report", l.report.into())
                    .text("line", line)
                    .fixed("ours_qty", l.ours.0, qs)
                    .fixed("theirs_qty", l.theirs.0, qs);
                if let Some(st) = l.ours_state {
                    row.fields.text("ours_state", st.as_str());
                }
                if line == "order" || line == "venue_order" {
                    row.fields.text(
                        "theirs_state",
                        l.theirs_state.map_or("NOT_LISTED", |x| x.as_str()),
                    );
                }
                if l.venue_order != 0 {
                    row.fields.int("venue_order_id", l.venue_order);
                }
                match l.order {
                    Some(id) => {
                        let (account, symbol) = (row.account.clone(), row.symbol.clone());
                        let mut r = with_order(row, id);
                        r.account = account;
                        r.symbol = symbol;
                        r
                    }
                    None => row,
                }
            }
            CoreEvent::BalanceLine(l) => {
                let a = crate::venue::ASSET_SCALE;
                let mut r = Row {
                    kind: "reconciliation",
                    state: l.status.as_str().into(),
                    account: reg
                        .accounts
                        .get(l.account.0 as usize)
                        .map(|a| a.name.to_string())
                        .unwrap_or_default(),
                    qty: Fixed(l.theirs, a).to_string(),
                    cum_qty: Fixed(l.ours, a).to_string(),
                    detail: "an asset balance: its change by execd's fills and at the venue".into(),
                    ..base.clone()
                };
                r.fields
                    .text("venue", venue_name(l.venue))
                    .int("report", l.report.into())
                    .text("line", "balance")
                    .text("asset", l.asset.to_string())
                    .fixed("ours_qty", l.ours, a)
                    .fixed("theirs_qty", l.theirs, a);
                r
            }
            CoreEvent::ReconReport(rep) => {
                let mut r = Row {
                    kind: "reconciliation_report",
                    state: if rep.matched() { "MATCHED" } else { "MISMATCH" }.into(),
                    detail: "the venue's picture compared with execd's".into(),
                    ..base.clone()
                };
                r.fields
                    .text("venue", venue_name(rep.venue))
                    .int("report", rep.report.into())
                    .text("trigger", rep.trigger.as_str())
                    .int("lines", rep.lines.into())
                    .int("mismatches", rep.mismatches.into())
                    .int("in_flight", rep.in_flight.into())
                    .flag("orders_compared", rep.orders_checked)
                    .flag("positions_compared", rep.positions_checked);
                r
            }
            CoreEvent::ReconResolved {
                venue,
                account,
                instrument,
                accept_venue,
                released,
                restated,
            } => {
                let mut r = Row {
                    kind: "reconciliation_resolved",
                    account: account
                        .and_then(|a| reg.accounts.get(a.0 as usize))
                        .map(|a| a.name.to_string())
                        .unwrap_or_default(),
                    symbol: instrument
                        .and_then(|i| reg.instruments.get(i.0 as usize))
                        .map(|i| i.symbol.to_string())
                        .unwrap_or_default(),
                    state: if accept_venue {
                        "VENUE_ACCEPTED"
                    } else {
                        "CORE_KEPT"
                    }
                    .into(),
                    detail: "an operator resolved reconciliation differences".into(),
                    ..base.clone()
                };
                r.fields
                    .text("venue", venue_name(venue))
                    .flag("accept_venue", accept_venue)
                    .int("holds_lifted", released.into())
                    .int("positions_restated", restated.into());
                r
            }
            CoreEvent::RetryScheduled {
                order,
                attempt,
                due_ns,
            } => {
                let mut r = Row {
                    kind: "retry",
                    state: "PENDING_NEW".into(),
                    detail: "the venue never saw it; it is resent under the same ClOrdID at due_at"
                        .into(),
                    ..with_order(base.clone(), order)
                };
                r.fields
                    .int("attempt", attempt.into())
                    .time("due_at", due_ns);
                r
            }
            CoreEvent::DeadLettered {
                order,
                reason,
                attempts,
            } => {
                let mut r = Row {
                    kind: "dead_letter",
                    state: "PENDING_NEW".into(),
                    reason: reason.code().into(),
                    detail: "not delivered; kept for an operator".into(),
                    ..with_order(base.clone(), order)
                };
                r.fields
                    .int("attempts", attempts.into())
                    .text("reason_text", reason.text());
                r
            }
            CoreEvent::DeadLetterResolved { order, action } => {
                let mut r = Row {
                    kind: "dead_letter_resolved",
                    state: action.word().to_ascii_uppercase(),
                    ..with_order(base.clone(), order)
                };
                r.fields.text("action", action.word());
                r
            }
            CoreEvent::Synced(_)
            | CoreEvent::OrderInstrument { .. }
            | CoreEvent::Row(_)
            | CoreEvent::RowsEnd { .. } => continue,
        };
        out.push(row);
    }
}

/// The request as upstream sent it: every field, at the instrument's precision where
/// the instrument is configured and the value is exact there, as given otherwise.
/// A bridge venue's word on an asset balance, or what one of our fills moved in the
/// venue's assets (commission in its own asset); amounts at the venue's asset scale.
fn asset_row(
    e: &crate::core::Engine,
    venue: u16,
    k: &crate::venue::VenueEventKind,
    base: Row,
) -> Option<Row> {
    use crate::venue::{VenueEventKind as K, ASSET_SCALE as A};
    let reg = e.registry();
    let venue_name = reg
        .venues
        .get(venue as usize)
        .map(|v| v.name.to_string())
        .unwrap_or_default();
    match *k {
        K::Balance {
            account,
            asset,
            free,
            locked,
            wallet,
        } => {
            let mut r = Row {
                kind: "balance",
                account: reg
                    .accounts
                    .get(account.0 as usize)
                    .map(|a| a.name.to_string())
                    .unwrap_or_default(),
                qty: Fixed(free.saturating_add(locked), A).to_string(),
                detail: "an asset balance as the venue said it".into(),
                ..base
            };
            r.fields
                .text("venue", venue_name)
                .text("asset", asset.to_string())
                .fixed("free", free, A)
                .fixed("locked", locked, A)
                .flag("wallet", wallet);
            Some(r)
        }
        K::FillAssets {
            cl,
            exec_id,
            base: b,
            base_delta,
            quote,
            quote_delta,
            fee_asset,
            fee,
        } => {
            let o = e.book().get(cl.order).filter(|o| o.epoch() == cl.epoch);
            let mut r = Row {
                kind: "fill_assets",
                order: Some(cl.order.0),
                account: o
                    .and_then(|o| reg.accounts.get(o.terms().account.0 as usize))
                    .map(|a| a.name.to_string())
                    .unwrap_or_default(),
                symbol: o
                    .and_then(|o| reg.instruments.get(o.terms().instrument.0 as usize))
                    .map(|i| i.symbol.to_string())
                    .unwrap_or_default(),
                detail:
                    "what an execution moved in the venue's assets, commission in its own asset"
                        .into(),
                ..base
            };
            r.fields
                .text("venue", venue_name)
                .int("exec_id", exec_id)
                .text("base_asset", b.to_string())
                .fixed("base_change", base_delta, A)
                .text("quote_asset", quote.to_string())
                .fixed("quote_change", quote_delta, A)
                .fixed("fee", fee, A)
                .text("fee_asset", fee_asset.to_string());
            Some(r)
        }
        _ => None,
    }
}

fn request_row(q: &ExecutionRequest, reg: &Registry, base: Row) -> Row {
    let inst = reg.instrument_by_names(q.venue.as_str(), q.symbol.as_str());
    let (ps, qs) = (inst.map(|i| i.price_scale), inst.map(|i| i.qty_scale));
    let mut r = Row {
        kind: "request",
        request_id: q.request_id.to_string(),
        account: q.account.to_string(),
        symbol: q.symbol.to_string(),
        side: q.side.as_str().into(),
        detail: "an execution request as upstream sent it".into(),
        ..base
    };
    r.qty = schema::dec_text(q.quantity, qs);
    let f = &mut r.fields;
    f.text("venue", q.venue.to_string())
        .text("order_type", q.order_type.as_str())
        .text("time_in_force", q.tif.as_str())
        .opt_dec("limit_price", q.limit_price, ps)
        .opt_dec("stop_price", q.stop_price, ps)
        .opt_dec("reference_price", q.reference_price, ps);
    for (level, (price, offset)) in [
        (q.stop_loss, ("stop_loss", "stop_loss_offset")),
        (q.take_profit, ("take_profit", "take_profit_offset")),
    ] {
        match level {
            Some(Protect::Price(d)) => {
                f.dec(price, d, ps);
            }
            // Parts per million of the fill price, written as the fraction upstream gave.
            Some(Protect::OffsetPpm(ppm)) => {
                f.fixed(offset, ppm, 6);
            }
            None => {}
        }
    }
    if let Some(b) = q.max_slippage_bps {
        f.int("max_slippage_bps", b.into());
    }
    f.flag("reject_on_fill_slippage", q.reject_on_fill_slippage);
    if let Some(t) = q.expire_at_ns {
        f.time("expire_at", t);
    }
    let c = &q.context;
    f.hex("content_hash", q.content_hash());
    // What upstream left out stays absent, not an empty string.
    for (name, v) in [
        ("decision_id", c.decision_id.to_string()),
        ("strategy", c.strategy.to_string()),
        ("strategy_version", c.strategy_version.to_string()),
        ("risk_version", c.risk_version.to_string()),
    ] {
        if !v.is_empty() {
            f.text(name, v);
        }
    }
    f.flag("risk_approved", c.risk_approved)
        .flag("trading_halted", c.trading_halted);
    if c.config_hash != 0 {
        f.hex("upstream_config_hash", c.config_hash);
    }
    r.price = f
        .get("limit_price")
        .or(f.get("stop_price"))
        .and_then(|v| match v {
            Value::Decimal(d) => Some(d.clone()),
            _ => None,
        })
        .unwrap_or_default();
    r
}

/// A journal loss an operator accepted, from its JSON record.
fn loss_row(text: &str, base: Row) -> Row {
    let v: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
    let mut r = Row {
        kind: "journal_loss",
        reason: v["reason"].as_str().unwrap_or("").into(),
        detail: "an operator accepted a journal that was refused".into(),
        ..base
    };
    let by = &v["accepted_by"];
    let f = &mut r.fields;
    for (name, val) in [
        ("accepted_by_user", &by["user"]),
        ("accepted_by_host", &by["host"]),
        ("refused", &v["refused"]),
    ] {
        if let Some(s) = val.as_str() {
            f.text(name, s);
        }
    }
    if let Some(u) = by["uid"].as_u64() {
        f.int("accepted_by_uid", u);
    }
    if let Some(k) = v["kept_through"].as_u64() {
        f.int("kept_through", k);
    }
    if let Some([a, b]) = v["restored_from_audit"].as_array().map(|a| a.as_slice()) {
        if let (Some(a), Some(b)) = (a.as_u64(), b.as_u64()) {
            f.int("restored_from", a).int("restored_to", b);
        }
    }
    if let Some(a) = v["set_aside"].as_array() {
        let paths: Vec<&str> = a.iter().filter_map(|p| p.as_str()).collect();
        f.text("set_aside", paths.join("; "));
    }
    r
}

fn scope_fields(scope: &Scope, r: &mut Row) {
    let (word, name) = match scope {
        Scope::Global => ("global", None),
        Scope::Venue(v) => ("venue", Some(v)),
        Scope::Account(a) => ("account", Some(a)),
        Scope::Symbol(y) => ("symbol", Some(y)),
    };
    r.fields.text("scope", word);
    if let Some(n) = name {
        r.fields.text("scope_name", n.to_string());
    }
}

fn name_target(o: &OrderRef, r: &mut Row) {
    match o {
        OrderRef::Id(id) => {
            r.fields.int("target_order", id.0);
        }
        OrderRef::Request(q) => {
            r.fields.text("target_request", q.to_string());
        }
    }
}

/// A command's values as typed fields; decimals at the instrument's precision where the
/// command names one.
/// `target` is the price and quantity scales of the order the command names, and whether
/// it is a stop order (whose replace moves its trigger, not a limit).
fn command_fields(c: &Command, reg: &Registry, target: Option<(u8, u8, bool)>, r: &mut Row) {
    let (ps, qs) = (target.map(|t| t.0), target.map(|t| t.1));
    let name = match c {
        Command::Cancel(o) => {
            name_target(o, r);
            "cancel"
        }
        Command::Replace {
            order,
            quantity,
            limit_price,
        } => {
            name_target(order, r);
            let stop = target.is_some_and(|t| t.2);
            let price = if stop { "stop_price" } else { "limit_price" };
            r.fields.opt_dec(price, *limit_price, ps);
            if let Some(q) = quantity {
                r.qty = schema::dec_text(*q, qs);
            }
            "replace"
        }
        Command::CancelAll(scope) => {
            scope_fields(scope, r);
            "cancel_all"
        }
        Command::ModifyProtection {
            order,
            stop_loss,
            take_profit,
        } => {
            name_target(order, r);
            r.fields.opt_dec("stop_loss", *stop_loss, None).opt_dec(
                "take_profit",
                *take_profit,
                None,
            );
            "modify_protection"
        }
        Command::SetKillSwitch {
            scope,
            state,
            cancel_open,
        } => {
            scope_fields(scope, r);
            r.state = state.as_str().into();
            r.fields.flag("cancel_open", *cancel_open);
            "set_kill_switch"
        }
        Command::SetMode { account, mode } => {
            r.account = account.to_string();
            r.state = mode.as_str().into();
            "set_mode"
        }
        Command::SetHalted { account, halted } => {
            r.account = account.to_string();
            r.state = if *halted { "HALTED" } else { "TRADING" }.into();
            "set_halted"
        }
        Command::Quote {
            venue,
            symbol,
            bid,
            ask,
            bid_size,
            ask_size,
        } => {
            let inst = reg.instrument_by_names(venue.as_str(), symbol.as_str());
            let (ps, qs) = (inst.map(|i| i.price_scale), inst.map(|i| i.qty_scale));
            r.symbol = symbol.to_string();
            r.fields
                .text("venue", venue.to_string())
                .dec("bid", *bid, ps)
                .dec("ask", *ask, ps)
                .dec("bid_size", *bid_size, qs)
                .dec("ask_size", *ask_size, qs);
            "quote"
        }
        Command::Query(o) => {
            name_target(o, r);
            "status_query"
        }
        Command::SetLimits(l) => {
            let inst = reg.instrument_by_names(l.venue.as_str(), l.symbol.as_str());
            let qs = inst.map(|i| i.qty_scale);
            r.symbol = l.symbol.to_string();
            r.fields
                .text("venue", l.venue.to_string())
                .opt_dec("max_order_qty", l.max_order_qty, qs)
                .opt_dec("max_notional", l.max_notional, Some(MONEY_SCALE))
                .opt_dec("max_position", l.max_position, qs);
            "set_limits"
        }
        Command::Reconcile {
            venue,
            trigger,
            hold,
        } => {
            r.fields
                .text("venue", venue.to_string())
                .text("trigger", trigger.as_str())
                .flag("hold", *hold);
            "reconcile"
        }
        Command::ResolveReconciliation(res) => {
            r.fields
                .text("venue", res.venue.to_string())
                .flag("accept_venue", res.accept_venue);
            if let Some(a) = res.account {
                r.account = a.to_string();
            }
            if let Some(y) = res.symbol {
                r.symbol = y.to_string();
            }
            "resolve_reconciliation"
        }
        Command::DeadLetter { order, redrive } => {
            r.fields
                .int("target_order", order.0)
                .text("action", if *redrive { "redrive" } else { "discard" });
            "dead_letter"
        }
        Command::Tick
        | Command::Sync(_)
        | Command::Read { .. }
        | Command::Operator(_)
        | Command::Submit(_) => return,
    };
    r.fields.text("command", name);
}

/// "global", "venue paper", "account alpha", "symbol BTCUSDT".
fn scope_text(s: &Scope) -> String {
    match s {
        Scope::Global => "global".into(),
        Scope::Venue(v) => format!("venue {v}"),
        Scope::Account(a) => format!("account {a}"),
        Scope::Symbol(y) => format!("symbol {y}"),
    }
}

fn order_text(r: &OrderRef) -> String {
    match r {
        OrderRef::Id(id) => format!("order {}", id.0),
        OrderRef::Request(q) => format!("request {q}"),
    }
}

/// A command other than a submit, in a sentence (its values are the row's fields).
fn command_text(c: &Command) -> String {
    match c {
        Command::Cancel(r) => format!("cancel {}", order_text(r)),
        Command::Replace { order, .. } => format!("replace {}", order_text(order)),
        Command::CancelAll(scope) => format!("cancel every open order: {}", scope_text(scope)),
        Command::ModifyProtection { order, .. } => {
            format!("modify the protection of {}", order_text(order))
        }
        Command::SetKillSwitch { scope, .. } => format!("kill switch for {}", scope_text(scope)),
        Command::SetMode { account, .. } => format!("mode of account {account}"),
        Command::SetHalted { account, halted } => format!(
            "{} account {account}",
            if *halted { "halt" } else { "resume" }
        ),
        Command::Quote { .. } => "a top of book from upstream".into(),
        Command::Query(r) => format!("ask the venue where {} stands", order_text(r)),
        Command::SetLimits(_) => "change an instrument's risk limits".into(),
        Command::Reconcile { hold, .. } => if *hold {
            "reconcile with the venue; no new order there until it is done"
        } else {
            "reconcile with the venue"
        }
        .into(),
        Command::ResolveReconciliation(r) => if r.accept_venue {
            "resolve reconciliation differences: accept the venue's positions"
        } else {
            "resolve reconciliation differences: keep execd's state"
        }
        .into(),
        Command::DeadLetter { order, redrive } => format!(
            "{} the dead letter of order {}",
            if *redrive { "re-drive" } else { "discard" },
            order.0
        ),
        Command::Tick
        | Command::Sync(_)
        | Command::Read { .. }
        | Command::Operator(_)
        | Command::Submit(_) => String::new(),
    }
}

/// One CSV field, quoted as RFC 4180 wants when it must be.
pub(crate) fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Writes one row (and its line end) in format `f`.
pub fn write_row(w: &mut impl Write, r: &Row, f: Format) -> std::io::Result<()> {
    match f {
        Format::Jsonl => {
            serde_json::to_writer(&mut *w, r).map_err(std::io::Error::other)?;
            writeln!(w)
        }
        Format::Csv => {
            let opt = |o: Option<u64>| o.map(|v| v.to_string()).unwrap_or_default();
            let mut fields = vec![
                r.time_ns.to_string(),
                r.time.clone(),
                r.seq.to_string(),
                r.kind.to_string(),
                opt(r.order),
                opt(r.parent),
                r.request_id.clone(),
                r.account.clone(),
                r.symbol.clone(),
                r.side.clone(),
                r.state.clone(),
                r.qty.clone(),
                r.cum_qty.clone(),
                r.price.clone(),
                r.reason.clone(),
                r.detail.clone(),
                r.config.to_string(),
            ];
            r.fields.csv_cells(&mut fields);
            let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
            writeln!(w, "{}", line.join(","))
        }
    }
}
