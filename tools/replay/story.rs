//! One order's whole story (`execd-replay order DIR ID`): the request as received, the
//! gate's decision, every message sent to the venue with its ClOrdID chain, every answer,
//! fills, protective orders as children, anomalies and the final state, in journal order.
//! Rebuilt by replay: what was sent is read from the order's client-order-id versions as
//! the engine issued them, what came back from the journaled venue inputs (network
//! venues) or the engine's events (the in-process paper venue, which replay reruns).

use execd::calendar::iso8601;
use execd::core::recovery::Step;
use execd::export::{rows, Row, Value};
use execd::model::event::{Command, OrderRef};
use execd::model::fixed::Fixed;
use execd::model::ids::{ClOrdId, OrderId};
use execd::model::order_state::OrderState;
use execd::model::reason::Reason;
use execd::venue::{VenueEvent, VenueEventKind, VenueOrderState};
use std::collections::BTreeMap;

/// Row kinds only a story has: a message execd sent, and a venue's answer.
pub const SENT: &str = "sent";
/// See [`SENT`].
pub const VENUE_ANSWER: &str = "venue_answer";
/// The story's last row: where the order ended.
pub const FINAL: &str = "final";

/// What is followed of one order (and its protective children) through the replay.
#[derive(Default)]
pub struct Story {
    /// The order asked for: an id, or the request id that made it.
    want: Want,
    /// The order, once known, and its children.
    ids: Vec<u64>,
    /// The request id of the order followed (empty for a protective order).
    request: String,
    /// Per order: (working version, last issued version) after the last step.
    versions: BTreeMap<u64, (u16, u16)>,
    /// Every line, in order.
    pub lines: Vec<Row>,
    /// Per order: where it stood after the last step that held it.
    last: BTreeMap<u64, Row>,
    /// Engine time of the last record.
    end_ns: u64,
    /// Sequence number of the last record.
    end_seq: u64,
}

#[derive(Default)]
enum Want {
    #[default]
    Nothing,
    Order(u64),
    Request(String),
}

impl Story {
    /// Follows `id`: an order id, or a request id.
    pub fn new(id: &str) -> Story {
        Story {
            want: match id.parse::<u64>() {
                Ok(n) => Want::Order(n),
                Err(_) => Want::Request(id.to_string()),
            },
            // Known from the start when asked by request id: a request refused before it
            // was given an order id is still told.
            request: match id.parse::<u64>() {
                Ok(_) => String::new(),
                Err(_) => id.to_string(),
            },
            ..Story::default()
        }
    }

    /// The order followed, once found.
    pub fn order(&self) -> Option<u64> {
        self.ids.first().copied()
    }

    /// Whether `order` is the order followed or one of its protective children.
    pub fn follows(&self, order: u64) -> bool {
        self.ids.contains(&order)
    }

    /// Takes one replayed record.
    pub fn step(&mut self, s: &Step<'_>, buf: &mut Vec<Row>) {
        buf.clear();
        rows(s, buf);
        // The request row comes before the row that gives the order its id, in the
        // same record: find the order first, then keep both.
        if self.ids.is_empty() {
            let found = buf.iter().find_map(|r| match (&self.want, r.order) {
                (Want::Order(n), Some(o)) if o == *n => Some((o, r.request_id.clone())),
                (Want::Request(q), Some(o)) if r.request_id == *q => Some((o, q.clone())),
                _ => None,
            });
            if let Some((o, q)) = found {
                self.ids.push(o);
                self.request = q;
            }
        }
        let step_start = self.lines.len();
        for r in buf.drain(..) {
            if let (Some(p), Some(o)) = (r.parent, r.order) {
                if self.follows(p) && !self.follows(o) {
                    self.ids.push(o);
                }
            }
            let keep =
                (r.kind == "request" && !self.request.is_empty() && r.request_id == self.request)
                    || r.order.is_some_and(|o| self.follows(o))
                    || r.parent.is_some_and(|p| self.follows(p));
            if keep {
                self.lines.push(r);
            }
        }
        if let Some((v, ev)) = s.venue_input {
            self.answer(s, v, &ev);
        }
        self.sent(s, step_start);
        self.remember(s);
    }

    /// The messages the engine issued in this step, from its client-order-id versions.
    /// Each goes before what it caused in the same record (the order's state rows, its
    /// fills): the paper venue answers within the record that sent.
    fn sent(&mut self, s: &Step<'_>, step_start: usize) {
        let mut sent = Vec::new();
        for &id in &self.ids {
            let Some(o) = s.engine.book().get(OrderId(id)) else {
                continue;
            };
            let now = (o.version(), o.last_version());
            let before = self.versions.insert(id, now);
            let cl = |v: u16| ClOrdId {
                epoch: o.epoch(),
                order: OrderId(id),
                version: v,
            };
            let mut push = |message: &str, v: u16, orig: Option<u16>, text: String| {
                let mut r = story_row(s, id, o.terms().parent.map(|p| p.0), SENT, text);
                r.fields
                    .text("message", message)
                    .text("cl_ord_id", cl(v).to_string());
                if let Some(g) = orig {
                    r.fields.text("orig_cl_ord_id", cl(g).to_string());
                }
                sent.push(r);
            };
            // What the step's command asked of this order decides cancel or replace; the
            // engine's own amendments (protective legs resized) show as a pending replace
            // or a new working version.
            let asked_replace = match s.command {
                Some((_, Command::Replace { order, .. })) => refers(s, order, id),
                Some((_, Command::ModifyProtection { order, .. })) => {
                    o.terms().parent.is_some_and(|p| refers(s, order, p.0))
                }
                _ => false,
            };
            // A version issued for a message the venue adapter refused at once: the
            // command_rejected row of this record tells it; nothing went out.
            let refused = self.lines[step_start..]
                .iter()
                .any(|l| l.kind == "command_rejected" && l.order == Some(id));
            let (first_new, last) = match before {
                // First seen after the gate passed it: the new order went out (or was
                // queued for a resend, which the retry rows tell).
                None if !matches!(o.state(), OrderState::Rejected | OrderState::Received) => {
                    push(
                        "new_order",
                        0,
                        None,
                        format!("new order, ClOrdID {}", cl(0)),
                    );
                    (1, 0)
                }
                None => continue,
                Some((_, last)) => (last.wrapping_add(1), last),
            };
            if now.1 == last || refused {
                continue;
            }
            let working = before.map_or(0, |b| b.0);
            for v in first_new..=now.1 {
                let replace =
                    asked_replace || o.state() == OrderState::PendingReplace || now.0 == v;
                let (m, what) = if replace {
                    ("replace", "cancel/replace")
                } else {
                    ("cancel", "cancel")
                };
                push(
                    m,
                    v,
                    Some(working),
                    format!("{what}, ClOrdID {} OrigClOrdID {}", cl(v), cl(working)),
                );
            }
        }
        for r in sent {
            let at = self.lines[step_start..]
                .iter()
                .position(|l| l.order == r.order && matches!(l.kind, "order" | "fill"))
                .map_or(self.lines.len(), |p| step_start + p);
            self.lines.insert(at, r);
        }
    }

    /// A network venue's journaled answer about one of the followed orders.
    fn answer(&mut self, s: &Step<'_>, venue: u16, ev: &VenueEvent) {
        use VenueEventKind as K;
        let cl = match ev.kind {
            K::Ack { cl, .. }
            | K::Rejected { cl, .. }
            | K::Fill { cl, .. }
            | K::Canceled { cl }
            | K::CancelRejected { cl, .. }
            | K::Replaced { cl, .. }
            | K::ReplaceRejected { cl, .. }
            | K::Expired { cl }
            | K::Status { cl, .. }
            | K::Listed { cl, .. }
            | K::NotSent { cl }
            | K::Backpressure { cl, .. } => cl,
            _ => return,
        };
        let id = cl.order.0;
        if !self.follows(id) {
            return;
        }
        let reg = s.engine.registry();
        let (ps, qs) = s
            .engine
            .book()
            .get(cl.order)
            .and_then(|o| reg.instruments.get(o.terms().instrument.0 as usize))
            .map_or((0, 0), |i| (i.price_scale, i.qty_scale));
        let parent = s
            .engine
            .book()
            .get(cl.order)
            .and_then(|o| o.terms().parent.map(|p| p.0));
        let (answer, text) = match ev.kind {
            K::Ack { venue_order_id, .. } => (
                "ack",
                format!("acknowledged {cl}: venue order id {venue_order_id}"),
            ),
            K::Rejected { reason, .. } => (
                "rejected",
                format!("rejected {cl}: {} ({})", reason.code(), reason.text()),
            ),
            K::Fill {
                exec_id, px, qty, ..
            } => (
                "fill",
                format!(
                    "execution {exec_id} on {cl}: {} @ {}",
                    Fixed(qty.0, qs),
                    Fixed(px.0, ps)
                ),
            ),
            K::Canceled { .. } => ("canceled", format!("canceled {cl}")),
            K::CancelRejected { reason, .. } => (
                "cancel_rejected",
                format!("cancel {cl} refused: {}", reason.code()),
            ),
            K::Replaced { qty, limit, .. } => (
                "replaced",
                format!(
                    "replaced: {cl} works {} at {}",
                    Fixed(qty.0, qs),
                    Fixed(limit.0, ps)
                ),
            ),
            K::ReplaceRejected { reason, .. } => (
                "replace_rejected",
                format!("cancel/replace {cl} refused: {}", reason.code()),
            ),
            K::Expired { .. } => ("expired", format!("expired {cl}")),
            K::Status { state, filled, .. } => (
                "status",
                format!(
                    "status of {cl}: {}{}",
                    venue_state(state),
                    filled
                        .map(|(q, p)| format!(", filled {} at {}", Fixed(q.0, qs), Fixed(p.0, ps)))
                        .unwrap_or_default()
                ),
            ),
            K::Listed { cum, .. } => (
                "listed",
                format!("listed open {cl}, filled {}", Fixed(cum.0, qs)),
            ),
            K::NotSent { .. } => (
                "not_sent",
                format!("{cl} never reached the venue (session down)"),
            ),
            K::Backpressure { request, .. } => (
                "backpressure",
                format!(
                    "{} {cl} never reached the venue: {} ({})",
                    request.word(),
                    Reason::VenueBackpressure.code(),
                    Reason::VenueBackpressure.text()
                ),
            ),
            _ => return,
        };
        let mut r = story_row(s, id, parent, VENUE_ANSWER, text);
        r.fields
            .text("answer", answer)
            .text("cl_ord_id", cl.to_string());
        if let Some(v) = reg.venues.get(venue as usize) {
            r.fields.text("venue", v.name.to_string());
        }
        match ev.kind {
            K::Ack { venue_order_id, .. } => {
                r.fields.int("venue_order_id", venue_order_id);
            }
            K::Fill {
                exec_id,
                px,
                qty,
                fee,
                ..
            } => {
                r.qty = Fixed(qty.0, qs).to_string();
                r.price = Fixed(px.0, ps).to_string();
                r.fields
                    .int("exec_id", exec_id)
                    .set("fee", execd::export::Value::Decimal(fee.to_string()));
            }
            K::Rejected { reason, .. }
            | K::CancelRejected { reason, .. }
            | K::ReplaceRejected { reason, .. } => {
                r.reason = reason.code().into();
                r.fields.text("reason_text", reason.text());
            }
            K::Backpressure { request, .. } => {
                let reason = Reason::VenueBackpressure;
                r.reason = reason.code().into();
                r.fields
                    .text("reason_text", reason.text())
                    .text("message", request.word());
            }
            _ => {}
        }
        self.lines.push(r);
    }

    /// Notes where each followed order stands after this step, for the closing line.
    fn remember(&mut self, s: &Step<'_>) {
        let reg = s.engine.registry();
        for &id in &self.ids {
            let Some(o) = s.engine.book().get(OrderId(id)) else {
                continue;
            };
            let (ps, qs) = reg
                .instruments
                .get(o.terms().instrument.0 as usize)
                .map_or((0, 0), |i| (i.price_scale, i.qty_scale));
            let mut r = Row {
                kind: FINAL,
                order: Some(id),
                parent: o.terms().parent.map(|p| p.0),
                request_id: o.terms().request_id.to_string(),
                state: o.state().as_str().into(),
                qty: Fixed(o.terms().qty.0, qs).to_string(),
                cum_qty: Fixed(o.cum_qty().0, qs).to_string(),
                price: if o.cum_qty().0 > 0 {
                    Fixed(o.avg_px().0, ps).to_string()
                } else {
                    String::new()
                },
                reason: o.reason().map(|r| r.code().to_string()).unwrap_or_default(),
                config: s.config.0,
                ..Row::default()
            };
            r.fields
                .set("fee", execd::export::Value::Decimal(o.fees().to_string()))
                .text("cl_ord_id", o.cl_ord_id().to_string());
            if o.venue_order_id() != 0 {
                r.fields.int("venue_order_id", o.venue_order_id());
            }
            if o.cum_qty().0 > 0 {
                r.fields.fixed("avg_px", o.avg_px().0, ps);
            }
            self.last.insert(id, r);
        }
        self.end_ns = s.ts_ns.max(self.end_ns);
        self.end_seq = s.seq.max(self.end_seq);
    }

    /// The closing line: where the order (and each protective child) stood at the end of
    /// the journal.
    pub fn finish(&mut self) {
        // Refused by the gate: nothing was sent; the end is the refusal.
        let refused = self
            .lines
            .iter()
            .rev()
            .find(|l| l.kind == "rejected")
            .cloned();
        let accepted = self.lines.iter().any(|l| l.kind == "accepted");
        if let (Some(rej), false) = (refused, accepted) {
            let asked = self.lines.iter().find(|l| l.kind == "request");
            let mut r = Row {
                kind: FINAL,
                state: "REJECTED".into(),
                detail: "refused by the gate: nothing was sent to the venue".into(),
                qty: asked.map(|a| a.qty.clone()).unwrap_or_default(),
                cum_qty: String::new(),
                time_ns: self.end_ns,
                time: iso8601(self.end_ns),
                seq: self.end_seq,
                fields: Default::default(),
                ..rej
            };
            if let Some(Value::Text(v)) = rej_venue(&self.lines) {
                r.fields.text("venue", v);
            }
            self.lines.push(r);
            return;
        }
        let Some(&id) = self.ids.first() else {
            return;
        };
        let anomalies = self.lines.iter().filter(|l| l.kind == "anomaly").count();
        let children: Vec<String> = self.ids[1..]
            .iter()
            .filter_map(|c| self.last.get(c).map(|k| format!("{c} {}", k.state)))
            .collect();
        let Some(mut r) = self.last.get(&id).cloned() else {
            return;
        };
        r.time_ns = self.end_ns;
        r.time = iso8601(self.end_ns);
        r.seq = self.end_seq;
        r.detail = format!(
            "where it stood at the end of the journal{}{}",
            if children.is_empty() {
                String::new()
            } else {
                format!("; protective orders: {}", children.join(", "))
            },
            if anomalies > 0 {
                format!("; {anomalies} anomalies")
            } else {
                String::new()
            }
        );
        self.lines.push(r);
    }
}

/// The venue the request named.
fn rej_venue(lines: &[Row]) -> Option<Value> {
    lines
        .iter()
        .find(|l| l.kind == "request")
        .and_then(|l| l.fields.get("venue").cloned())
}

/// Whether `r` names order `id` (by id, or by the request id that made it).
fn refers(s: &Step<'_>, r: &OrderRef, id: u64) -> bool {
    match r {
        OrderRef::Id(o) => o.0 == id,
        OrderRef::Request(q) => s.engine.book().by_request(q) == Some(OrderId(id)),
    }
}

fn story_row(
    s: &Step<'_>,
    order: u64,
    parent: Option<u64>,
    kind: &'static str,
    text: String,
) -> Row {
    Row {
        time_ns: s.ts_ns,
        time: iso8601(s.ts_ns),
        seq: s.seq,
        kind,
        order: Some(order),
        parent,
        detail: text,
        config: s.config.0,
        ..Row::default()
    }
}

fn venue_state(s: VenueOrderState) -> &'static str {
    match s {
        VenueOrderState::Working => "working",
        VenueOrderState::Pending => "a cancel or replace pending",
        VenueOrderState::Filled => "filled",
        VenueOrderState::Canceled => "canceled",
        VenueOrderState::Expired => "expired",
        VenueOrderState::Rejected => "rejected",
        VenueOrderState::Unknown => "unknown to the venue",
    }
}

/// The story for a person: the request in full, then one line per row.
pub fn text(lines: &[Row], with_config: bool) -> Vec<String> {
    let mut out = Vec::new();
    for r in lines {
        let who = match (r.order, r.parent) {
            (Some(o), Some(p)) => format!("order {o} (protects {p})"),
            (Some(o), None) => format!("order {o}"),
            _ => "upstream".into(),
        };
        let mut line = format!("{}  #{:<8} {:<22} {:<16}", r.time, r.seq, who, r.kind);
        if r.kind == "request" {
            line.push_str(&format!(
                " {} {} {} {} {}",
                r.request_id, r.account, r.side, r.qty, r.symbol
            ));
            out.push(line.trim_end().to_string());
            out.push(format!("      {}", fields_text(r)));
            continue;
        }
        for (label, v) in [
            ("", &r.state),
            ("qty ", &r.qty),
            ("filled ", &r.cum_qty),
            ("@ ", &r.price),
            ("", &r.reason),
        ] {
            if !v.is_empty() {
                line.push_str(&format!(" {label}{v}"));
            }
        }
        if !r.detail.is_empty() {
            line.push_str(&format!("  {}", r.detail));
        }
        let f = fields_text(r);
        if !f.is_empty() && r.kind != SENT {
            line.push_str(&format!("  [{f}]"));
        }
        if with_config {
            line.push_str(&format!("  [configuration {}]", r.config));
        }
        out.push(line.trim_end().to_string());
    }
    out
}

/// A row's typed fields as `name value` pairs, in schema order.
fn fields_text(r: &Row) -> String {
    let v = serde_json::to_value(&r.fields).unwrap_or_default();
    let Some(m) = v.as_object() else {
        return String::new();
    };
    execd::export::schema::columns()
        .iter()
        .filter(|c| !c.ends_with("_ns"))
        .filter_map(|c| {
            m.get(c.as_str()).map(|x| match x {
                serde_json::Value::String(s) => format!("{c} {s}"),
                other => format!("{c} {other}"),
            })
        })
        .collect::<Vec<_>>()
        .join(", ")
}
