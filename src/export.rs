//! The export of a journal (R-AUD-3): one row per thing that happened — every request,
//! decision, state change, fill and operator action — rebuilt by replaying the journal
//! with the same engine the live core ran, as CSV or JSON Lines. `execd-replay export`
//! and the control API's `GET /v1/audit` write the same rows through this module.

use crate::calendar::iso8601;
use crate::core::recovery::Step;
use crate::model::event::{Command, CoreEvent, OrderRef, OrderStatus, Scope};
use crate::model::fixed::{Dec, Fixed};
use crate::model::ids::OrderId;
use serde::Serialize;
use std::io::Write;

/// How rows are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// A header line ([`COLUMNS`]), then one line per row (RFC 4180 quoting).
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
    /// The rest, for a person.
    pub detail: String,
    /// The configuration in force (1: the one the journal started under;
    /// `execd-replay configs` lists them).
    pub config: u32,
}

/// Every kind of export row.
pub const KINDS: [&str; 32] = [
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
];

/// The CSV header.
pub const COLUMNS: &str = "time_ns,time,seq,kind,order,parent,request_id,account,symbol,side,state,qty,cum_qty,price,reason,detail,config";

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
        out.push(Row {
            kind: "start",
            detail: format!(
                "journal started by {}; client-order-id epoch {}; configuration fingerprint {:016x}",
                st.build_text(),
                st.epoch,
                st.config_hash
            ),
            // The configuration record right after it is the one it starts under.
            config: 1,
            ..base.clone()
        });
    }
    if let Some(build) = s.restart {
        out.push(Row {
            kind: "restart",
            detail: format!("restarted on this journal by {build}: it wrote what follows"),
            ..base.clone()
        });
    }
    if s.config_changed {
        out.push(Row {
            kind: "config",
            detail: format!(
                "configuration {} (fingerprint {:016x}) in force from here on",
                s.config.0, s.config.1
            ),
            ..base.clone()
        });
    }
    // Fill in what the book knows of an order.
    let with_order = |mut r: Row, id: OrderId| -> Row {
        r.order = Some(id.0);
        if let Some(o) = e.book().get(id) {
            r.parent = o.terms().parent.map(|p| p.0);
            if r.request_id.is_empty() {
                r.request_id = o.terms().request_id.to_string();
            }
            r.account = reg
                .accounts
                .get(o.terms().account.0 as usize)
                .map(|a| a.name.to_string())
                .unwrap_or_default();
            r.symbol = reg
                .instruments
                .get(o.terms().instrument.0 as usize)
                .map(|i| i.symbol.to_string())
                .unwrap_or_default();
            r.side = o.terms().side.as_str().into();
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
    if let Some(text) = s.loss {
        let v: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
        out.push(Row {
            kind: "journal_loss",
            reason: v["reason"].as_str().unwrap_or("").into(),
            detail: text.into(),
            ..base.clone()
        });
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
            Command::Operator(n) => out.push(Row {
                kind: "operator",
                reason: n.reason.to_string(),
                detail: format!(
                    "operator {} (producer {origin}): the action is this producer's next command",
                    n.operator
                ),
                ..base.clone()
            }),
            Command::Submit(q) => out.push(Row {
                kind: "request",
                request_id: q.request_id.to_string(),
                account: q.account.to_string(),
                symbol: q.symbol.to_string(),
                side: q.side.as_str().into(),
                qty: q.quantity.to_string(),
                price: q.limit_price.or(q.stop_price).map(|d| d.to_string()).unwrap_or_default(),
                detail: format!(
                    "{} {} hash={:016x} decision={} strategy={} risk_approved={} halted={} versions={}/{} config={:x}",
                    q.order_type.as_str(),
                    q.tif.as_str(),
                    q.content_hash(),
                    q.context.decision_id,
                    q.context.strategy,
                    q.context.risk_approved,
                    q.context.trading_halted,
                    q.context.strategy_version,
                    q.context.risk_version,
                    q.context.config_hash
                ),
                ..base.clone()
            }),
            other => out.push(Row {
                kind: "command",
                reason: s.note.map(|n| n.reason.to_string()).unwrap_or_default(),
                detail: format!("{}{}", command_text(other), by_operator(s)),
                ..base.clone()
            }),
        }
    }
    for ev in s.events {
        let row = match *ev {
            CoreEvent::Accepted {
                order,
                content_hash,
                warning,
                ..
            } => Row {
                kind: "accepted",
                detail: format!(
                    "hash={content_hash:016x}{}",
                    if warning { " kill-switch WARNING" } else { "" }
                ),
                ..with_order(base.clone(), order)
            },
            CoreEvent::Rejected {
                request_id,
                order,
                reason,
            } => Row {
                kind: "rejected",
                request_id: request_id.to_string(),
                reason: reason.code().into(),
                detail: reason.text().into(),
                ..with_order(base.clone(), order)
            },
            CoreEvent::Duplicate {
                request_id,
                order,
                state,
            } => Row {
                kind: "duplicate",
                request_id: request_id.to_string(),
                state: state.as_str().into(),
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
                Row {
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
                    detail: if late { "late".into() } else { String::new() },
                    ..with_order(base.clone(), order)
                }
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
                Row {
                    kind: "fill",
                    qty: Fixed(qty.0, qs).to_string(),
                    price: Fixed(px.0, ps).to_string(),
                    detail: format!(
                        "exec={exec_id} fee={fee}{}{}",
                        slippage
                            .map(|s| format!(
                                " slippage_bps={} pips={} {}",
                                Fixed(s.bps_e2, 2),
                                Fixed(s.pips_e2, 2),
                                s.category.as_str()
                            ))
                            .unwrap_or_default(),
                        if late { " late" } else { "" }
                    ),
                    ..with_order(base.clone(), order)
                }
            }
            CoreEvent::Protection {
                parent,
                stop_loss,
                take_profit,
                qty,
            } => {
                let (ps, qs) = scales(parent);
                Row {
                    kind: "protection",
                    qty: Fixed(qty.0, qs).to_string(),
                    detail: format!(
                        "stop_loss={} take_profit={}",
                        stop_loss
                            .map(|(o, p)| format!("{}@{}", o.0, Fixed(p.0, ps)))
                            .unwrap_or("-".into()),
                        take_profit
                            .map(|(o, p)| format!("{}@{}", o.0, Fixed(p.0, ps)))
                            .unwrap_or("-".into())
                    ),
                    ..with_order(base.clone(), parent)
                }
            }
            CoreEvent::SlippageBreach { order, bps_e2 } => Row {
                kind: "slippage_breach",
                detail: format!("slippage_bps={} protection withheld", Fixed(bps_e2, 2)),
                ..with_order(base.clone(), order)
            },
            CoreEvent::ProtectionOverfill { leg, flatten, qty } => {
                let (_, qs) = scales(leg);
                Row {
                    kind: "protection_overfill",
                    qty: Fixed(qty.0, qs).to_string(),
                    detail: match flatten {
                        Some(f) => format!(
                            "position flipped by the leg; order {} flattens the excess",
                            f.0
                        ),
                        None => {
                            "position flipped by the leg; the excess could not be flattened".into()
                        }
                    },
                    ..with_order(base.clone(), leg)
                }
            }
            CoreEvent::Unprotected {
                parent,
                leg,
                reason,
            } => Row {
                kind: "unprotected",
                reason: reason.code().into(),
                detail: format!(
                    "protective order {} refused by the venue: {}",
                    leg.0,
                    reason.text()
                ),
                ..with_order(base.clone(), parent)
            },
            CoreEvent::Anomaly {
                order,
                state,
                event,
            } => Row {
                kind: "anomaly",
                state: state.as_str().into(),
                detail: format!("{} does not fit {}", event.as_str(), state.as_str()),
                ..with_order(base.clone(), order)
            },
            CoreEvent::CommandRejected { order, reason } => {
                let r = Row {
                    kind: "command_rejected",
                    reason: reason.code().into(),
                    detail: reason.text().into(),
                    ..base.clone()
                };
                match order {
                    Some(o) => with_order(r, o),
                    None => r,
                }
            }
            CoreEvent::KillSwitch {
                scope,
                state,
                canceled,
            } => Row {
                kind: "kill_switch",
                state: state.as_str().into(),
                reason: s.note.map(|n| n.reason.to_string()).unwrap_or_default(),
                detail: format!(
                    "{} canceled={canceled}{}",
                    scope_text(&scope),
                    by_operator(s)
                ),
                ..base.clone()
            },
            CoreEvent::ModeChanged { account, mode } => Row {
                kind: "mode",
                account: account.to_string(),
                state: mode.as_str().into(),
                reason: s.note.map(|n| n.reason.to_string()).unwrap_or_default(),
                detail: by_operator(s).trim_start_matches("; ").into(),
                ..base.clone()
            },
            CoreEvent::LimitsChanged(l) => {
                let inst = reg.instruments.get(l.instrument.0 as usize);
                let qs = inst.map(|i| i.qty_scale).unwrap_or(0);
                Row {
                    kind: "limits",
                    symbol: inst.map(|i| i.symbol.to_string()).unwrap_or_default(),
                    detail: format!(
                        "venue={} max_order_qty={} max_notional={} max_position={}",
                        inst.and_then(|i| reg.venues.get(i.venue.0 as usize))
                            .map(|v| v.name.to_string())
                            .unwrap_or_default(),
                        Fixed(l.max_order_qty.0, qs),
                        l.max_notional,
                        Fixed(l.max_position.0, qs)
                    ),
                    ..base.clone()
                }
            }
            CoreEvent::HaltChanged { account, halted } => Row {
                kind: "halt",
                account: account.to_string(),
                state: if halted { "HALTED" } else { "TRADING" }.into(),
                reason: s.note.map(|n| n.reason.to_string()).unwrap_or_default(),
                detail: by_operator(s).trim_start_matches("; ").into(),
                ..base.clone()
            },
            CoreEvent::VenueSession { venue, up } => Row {
                kind: "venue_session",
                detail: format!("venue={venue}"),
                state: if up { "LOGGED_ON" } else { "LOGGED_OFF" }.into(),
                ..base.clone()
            },
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
                Row {
                    kind: "venue_mismatch",
                    qty: Fixed(venue_cum.0, qs).to_string(),
                    cum_qty: Fixed(core_cum.0, qs).to_string(),
                    detail: "the venue reports less filled (qty) than the core booked (cum_qty)"
                        .into(),
                    ..with_order(base.clone(), order)
                }
            }
            CoreEvent::ReconLine(l) => {
                let inst = l.instrument.and_then(|i| reg.instruments.get(i.0 as usize));
                let qs = inst.map_or(0, |i| i.qty_scale);
                let st = |x: Option<crate::model::order_state::OrderState>, none: &str| {
                    x.map_or(none.to_string(), |x| x.as_str().to_string())
                };
                let what = match (l.order, l.venue_order) {
                    (Some(_), _) => format!(
                        "order: ours {} theirs {}; filled: ours cum_qty, theirs qty",
                        st(l.ours_state, "-"),
                        st(l.theirs_state, "NOT_LISTED")
                    ),
                    (None, 0) if l.status == crate::model::reconcile::ReconStatus::UnknownOrder => {
                        "an open order at the venue not sent by execd".into()
                    }
                    (None, 0) => "position: ours cum_qty, theirs qty".into(),
                    (None, n) => format!("venue order {n} not held by execd"),
                };
                let row = Row {
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
                    detail: format!(
                        "report {} venue {}: {what}",
                        l.report,
                        venue_name(l.venue)
                    ),
                    ..base.clone()
                };
                match l.order {
                    Some(id) => Row {
                        account: row.account.clone(),
                        symbol: row.symbol.clone(),
                        ..with_order(row, id)
                    },
                    None => row,
                }
            }
            CoreEvent::ReconReport(r) => Row {
                kind: "reconciliation_report",
                state: if r.matched() { "MATCHED" } else { "MISMATCH" }.into(),
                detail: format!(
                    "report {} venue {} ({}): {} lines, {} to resolve, {} in flight; orders {}, positions {}",
                    r.report,
                    venue_name(r.venue),
                    r.trigger.as_str(),
                    r.lines,
                    r.mismatches,
                    r.in_flight,
                    if r.orders_checked { "compared" } else { "not available" },
                    if r.positions_checked { "compared" } else { "not available" },
                ),
                ..base.clone()
            },
            CoreEvent::ReconResolved {
                venue,
                account,
                instrument,
                accept_venue,
                released,
                restated,
            } => Row {
                kind: "reconciliation_resolved",
                account: account
                    .and_then(|a| reg.accounts.get(a.0 as usize))
                    .map(|a| a.name.to_string())
                    .unwrap_or_default(),
                symbol: instrument
                    .and_then(|i| reg.instruments.get(i.0 as usize))
                    .map(|i| i.symbol.to_string())
                    .unwrap_or_default(),
                state: if accept_venue { "VENUE_ACCEPTED" } else { "CORE_KEPT" }.into(),
                detail: format!(
                    "venue {}: {released} holds lifted, {restated} positions restated to the venue's",
                    venue_name(venue)
                ),
                ..base.clone()
            },
            CoreEvent::RetryScheduled {
                order,
                attempt,
                due_ns,
            } => Row {
                kind: "retry",
                state: "PENDING_NEW".into(),
                detail: format!(
                    "the venue never saw it; resent under the same ClOrdID at {} (tries so far {attempt})",
                    iso8601(due_ns)
                ),
                ..with_order(base.clone(), order)
            },
            CoreEvent::DeadLettered {
                order,
                reason,
                attempts,
            } => Row {
                kind: "dead_letter",
                state: "PENDING_NEW".into(),
                reason: reason.code().into(),
                detail: format!("not delivered after {attempts} tries; kept for an operator"),
                ..with_order(base.clone(), order)
            },
            CoreEvent::DeadLetterResolved { order, action } => Row {
                kind: "dead_letter_resolved",
                state: action.word().to_ascii_uppercase(),
                detail: format!("dead letter {}", action.word()),
                ..with_order(base.clone(), order)
            },
            CoreEvent::Synced(_)
            | CoreEvent::OrderInstrument { .. }
            | CoreEvent::Row(_)
            | CoreEvent::RowsEnd { .. } => continue,
        };
        out.push(row);
    }
}

/// "; by operator NAME (producer N)" when an operator's note introduced the step's
/// command: its rows name who acted (the reason goes in the reason column).
fn by_operator(s: &Step<'_>) -> String {
    match (s.note, s.command) {
        (Some(n), Some((origin, _))) => {
            format!("; by operator {} (producer {origin})", n.operator)
        }
        _ => String::new(),
    }
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

/// A command other than a submit, in words (decimals as given, enums by name).
fn command_text(c: &Command) -> String {
    let opt = |label: &str, d: &Option<Dec>| d.map(|d| format!(" {label}={d}")).unwrap_or_default();
    match c {
        Command::Cancel(r) => format!("cancel {}", order_text(r)),
        Command::Replace {
            order,
            quantity,
            limit_price,
        } => format!(
            "replace {}{}{}",
            order_text(order),
            opt("quantity", quantity),
            opt("limit_price", limit_price)
        ),
        Command::CancelAll(scope) => format!("cancel all: {}", scope_text(scope)),
        Command::ModifyProtection {
            order,
            stop_loss,
            take_profit,
        } => format!(
            "modify protection of {}{}{}",
            order_text(order),
            opt("stop_loss", stop_loss),
            opt("take_profit", take_profit)
        ),
        Command::SetKillSwitch {
            scope,
            state,
            cancel_open,
        } => format!(
            "kill switch {} to {}{}",
            scope_text(scope),
            state.as_str(),
            if *cancel_open {
                ", cancel open orders"
            } else {
                ""
            }
        ),
        Command::SetMode { account, mode } => format!("mode of {account} to {}", mode.as_str()),
        Command::SetHalted { account, halted } => {
            format!("{} {account}", if *halted { "halt" } else { "resume" })
        }
        Command::Quote {
            venue,
            symbol,
            bid,
            ask,
            bid_size,
            ask_size,
        } => format!(
            "quote {venue}/{symbol} bid={bid} ask={ask} bid_size={bid_size} ask_size={ask_size}"
        ),
        Command::Query(r) => format!("status query for {}", order_text(r)),
        Command::SetLimits(l) => format!(
            "limits of {}/{}{}{}{}",
            l.venue,
            l.symbol,
            opt("max_order_qty", &l.max_order_qty),
            opt("max_notional", &l.max_notional),
            opt("max_position", &l.max_position)
        ),
        Command::Operator(n) => format!("operator {}: {}", n.operator, n.reason),
        Command::Submit(q) => format!("submit {}", q.request_id),
        Command::Reconcile {
            venue,
            trigger,
            hold,
        } => format!(
            "reconcile venue {venue} ({}){}",
            trigger.as_str(),
            if *hold {
                ", no new order there until it is done"
            } else {
                ""
            }
        ),
        Command::ResolveReconciliation(r) => format!(
            "resolve reconciliation of venue {}{}{}: {}",
            r.venue,
            r.account
                .map(|a| format!(" account {a}"))
                .unwrap_or_default(),
            r.symbol.map(|y| format!(" symbol {y}")).unwrap_or_default(),
            if r.accept_venue {
                "accept the venue's positions"
            } else {
                "keep the core's state"
            }
        ),
        Command::DeadLetter { order, redrive } => format!(
            "{} dead letter order {}",
            if *redrive { "re-drive" } else { "discard" },
            order.0
        ),
        Command::Tick | Command::Sync(_) | Command::Read { .. } => String::new(),
    }
}

/// One CSV field, quoted as RFC 4180 wants when it must be.
pub(crate) fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
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
            let fields = [
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
            let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
            writeln!(w, "{}", line.join(","))
        }
    }
}
