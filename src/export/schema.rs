//! The export's typed fields (docs/audit-export.md): every value a row carries beyond
//! its common columns, named once here with its type. CSV gives each its own column
//! (empty where a kind has none); JSON Lines nests them under `fields`.

use crate::calendar::iso8601;
use crate::model::fixed::{Dec, Fixed};
use serde::ser::{Serialize, SerializeMap, Serializer};

/// The version of the export's columns and fields; docs/audit-export.md describes it.
/// Raised when a column or field changes meaning or type (adding one does not).
pub const SCHEMA_VERSION: u32 = 2;

/// What a field's values look like, in both formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Type {
    /// A decimal as a string: `-?digits[.digits]`, at the instrument's precision where
    /// there is one (money at 6 places, basis points and pips at 2).
    Decimal,
    /// A non-negative integer (a JSON number; CSV digits).
    Integer,
    /// `true` or `false` (a JSON boolean; CSV the word).
    Boolean,
    /// RFC 3339 UTC with nanoseconds; every time field has a sibling `<name>_ns` integer.
    Time,
    /// 16 lower-case hex digits (a 64-bit hash or fingerprint).
    Hex,
    /// Free text as received or configured (names, ids, an operator's words).
    Text,
    /// One of the listed words.
    Enum(&'static [&'static str]),
}

impl Type {
    /// How docs/audit-export.md names it.
    pub fn name(self) -> &'static str {
        match self {
            Type::Decimal => "decimal",
            Type::Integer => "integer",
            Type::Boolean => "boolean",
            Type::Time => "time",
            Type::Hex => "hex",
            Type::Text => "text",
            Type::Enum(_) => "enum",
        }
    }
}

/// One typed field.
#[derive(Clone, Copy, Debug)]
pub struct Spec {
    /// Column name in CSV, key under `fields` in JSON Lines.
    pub name: &'static str,
    /// What its values look like.
    pub ty: Type,
}

const fn f(name: &'static str, ty: Type) -> Spec {
    Spec { name, ty }
}

const ORDER_TYPES: &[&str] = &["MARKET", "LIMIT", "STOP", "STOP_LIMIT"];
const TIFS: &[&str] = &["GTC", "DAY", "IOC", "FOK"];
const SLIP: &[&str] = &["excellent", "good", "acceptable", "poor"];
const SCOPES: &[&str] = &["global", "venue", "account", "symbol"];
const COMMANDS: &[&str] = &[
    "cancel",
    "replace",
    "cancel_all",
    "modify_protection",
    "set_kill_switch",
    "set_mode",
    "set_halted",
    "quote",
    "status_query",
    "set_limits",
    "reconcile",
    "resolve_reconciliation",
    "dead_letter",
];
const LINES: &[&str] = &[
    "order",
    "position",
    "venue_order",
    "foreign_order",
    "balance",
];
const TRIGGERS: &[&str] = &["start", "timeout", "schedule", "operator"];
const ACTIONS: &[&str] = &["redriven", "discarded", "canceled", "redrive", "discard"];
const DIRECTIONS: &[&str] = &["out", "in"];
const MESSAGES: &[&str] = &["new_order", "cancel", "replace"];
const ANSWERS: &[&str] = &[
    "ack",
    "rejected",
    "fill",
    "canceled",
    "cancel_rejected",
    "replaced",
    "replace_rejected",
    "expired",
    "status",
    "listed",
    "not_sent",
    "backpressure",
];
const ANOMALY_EVENTS: &[&str] = &[
    "GATE_REJECT",
    "SENT",
    "ACK",
    "VENUE_REJECT",
    "PARTIAL_FILL",
    "FINAL_FILL",
    "CANCEL_SENT",
    "CANCELED",
    "CANCEL_REJECTED",
    "REPLACE_SENT",
    "REPLACED",
    "REPLACE_REJECTED",
    "EXPIRED",
    "TIMEOUT",
];

/// Every typed field, in CSV column order (after the common columns).
pub const FIELDS: &[Spec] = &[
    f("venue", Type::Text),
    f("order_type", Type::Enum(ORDER_TYPES)),
    f("time_in_force", Type::Enum(TIFS)),
    f("limit_price", Type::Decimal),
    f("stop_price", Type::Decimal),
    f("stop_loss", Type::Decimal),
    f("stop_loss_offset", Type::Decimal),
    f("take_profit", Type::Decimal),
    f("take_profit_offset", Type::Decimal),
    f("reference_price", Type::Decimal),
    f("max_slippage_bps", Type::Integer),
    f("reject_on_fill_slippage", Type::Boolean),
    f("expire_at", Type::Time),
    f("content_hash", Type::Hex),
    f("decision_id", Type::Text),
    f("strategy", Type::Text),
    f("strategy_version", Type::Text),
    f("risk_version", Type::Text),
    f("risk_approved", Type::Boolean),
    f("trading_halted", Type::Boolean),
    f("upstream_config_hash", Type::Hex),
    f("kill_switch_warning", Type::Boolean),
    f("reason_text", Type::Text),
    f("cl_ord_id", Type::Text),
    f("orig_cl_ord_id", Type::Text),
    f("venue_order_id", Type::Integer),
    f("avg_px", Type::Decimal),
    f("late", Type::Boolean),
    f("exec_id", Type::Integer),
    f("fee", Type::Decimal),
    f("slippage_price", Type::Decimal),
    f("slippage_bps", Type::Decimal),
    f("slippage_pips", Type::Decimal),
    f("slippage_category", Type::Enum(SLIP)),
    f("stop_loss_order", Type::Integer),
    f("take_profit_order", Type::Integer),
    f("flatten_order", Type::Integer),
    f("leg_order", Type::Integer),
    f("anomaly_event", Type::Enum(ANOMALY_EVENTS)),
    f("scope", Type::Enum(SCOPES)),
    f("scope_name", Type::Text),
    f("canceled", Type::Integer),
    f("cancel_open", Type::Boolean),
    f("operator", Type::Text),
    f("producer", Type::Integer),
    f("command", Type::Enum(COMMANDS)),
    f("target_order", Type::Integer),
    f("target_request", Type::Text),
    f("bid", Type::Decimal),
    f("ask", Type::Decimal),
    f("bid_size", Type::Decimal),
    f("ask_size", Type::Decimal),
    f("max_order_qty", Type::Decimal),
    f("max_notional", Type::Decimal),
    f("max_position", Type::Decimal),
    f("venue_cum_qty", Type::Decimal),
    f("core_cum_qty", Type::Decimal),
    f("report", Type::Integer),
    f("line", Type::Enum(LINES)),
    f("ours_state", Type::Text),
    f("theirs_state", Type::Text),
    f("ours_qty", Type::Decimal),
    f("theirs_qty", Type::Decimal),
    f("trigger", Type::Enum(TRIGGERS)),
    f("hold", Type::Boolean),
    f("lines", Type::Integer),
    f("mismatches", Type::Integer),
    f("in_flight", Type::Integer),
    f("orders_compared", Type::Boolean),
    f("positions_compared", Type::Boolean),
    f("accept_venue", Type::Boolean),
    f("holds_lifted", Type::Integer),
    f("positions_restated", Type::Integer),
    f("attempt", Type::Integer),
    f("due_at", Type::Time),
    f("attempts", Type::Integer),
    f("action", Type::Enum(ACTIONS)),
    f("build", Type::Text),
    f("epoch", Type::Integer),
    f("config_fingerprint", Type::Hex),
    f("accepted_by_user", Type::Text),
    f("accepted_by_uid", Type::Integer),
    f("accepted_by_host", Type::Text),
    f("refused", Type::Text),
    f("kept_through", Type::Integer),
    f("restored_from", Type::Integer),
    f("restored_to", Type::Integer),
    f("set_aside", Type::Text),
    f("direction", Type::Enum(DIRECTIONS)),
    f("msg_type", Type::Text),
    f("msg_seq_num", Type::Integer),
    f("frame", Type::Text),
    f("message", Type::Enum(MESSAGES)),
    f("answer", Type::Enum(ANSWERS)),
    f("payload", Type::Text),
    f("asset", Type::Text),
    f("free", Type::Decimal),
    f("locked", Type::Decimal),
    f("wallet", Type::Boolean),
    f("base_asset", Type::Text),
    f("base_change", Type::Decimal),
    f("quote_asset", Type::Text),
    f("quote_change", Type::Decimal),
    f("fee_asset", Type::Text),
    f("used_weight", Type::Integer),
    f("weight_cap", Type::Integer),
    f("orders_short", Type::Integer),
    f("orders_short_cap", Type::Integer),
    f("orders_short_window_s", Type::Integer),
    f("orders_long", Type::Integer),
    f("orders_long_cap", Type::Integer),
    f("orders_long_window_s", Type::Integer),
    f("retry_after_ms", Type::Integer),
];

/// A decimal as received, at `scale` when it is exact there (`0.01` at 3 places:
/// `0.010`), as given otherwise (a request the gate refused for its precision).
pub fn dec_text(d: Dec, scale: Option<u8>) -> String {
    match scale.and_then(|s| d.to_scale(s).map(|m| (m, s))) {
        Some((m, s)) => Fixed(m, s).to_string(),
        None => d.to_string(),
    }
}

/// A typed value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// Already rendered at its precision.
    Decimal(String),
    /// A count, id or number.
    Integer(u64),
    /// A flag.
    Boolean(bool),
    /// Unix ns; written as RFC 3339 with a `_ns` sibling.
    Time(u64),
    /// A 64-bit hash or fingerprint.
    Hex(u64),
    /// Text or an enum's word.
    Text(String),
}

/// A row's typed fields, in the order they were set.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Fields(Vec<(&'static str, Value)>);

impl Fields {
    /// Whether none is set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The value of `name`, if set.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// Sets `name` (replacing an earlier value). Names outside [`FIELDS`] are a bug the
    /// schema test catches; in release they are still written (JSON) but have no column.
    pub fn set(&mut self, name: &'static str, v: Value) -> &mut Self {
        debug_assert!(
            FIELDS.iter().any(|s| s.name == name),
            "field {name} is not in the export schema"
        );
        match self.0.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = v,
            None => self.0.push((name, v)),
        }
        self
    }

    /// A decimal at `scale`.
    pub fn fixed(&mut self, name: &'static str, mant: i64, scale: u8) -> &mut Self {
        self.set(name, Value::Decimal(Fixed(mant, scale).to_string()))
    }

    /// A decimal as received, shown at `scale` when it is exact there.
    pub fn dec(&mut self, name: &'static str, d: Dec, scale: Option<u8>) -> &mut Self {
        self.set(name, Value::Decimal(dec_text(d, scale)))
    }

    /// An optional decimal as received.
    pub fn opt_dec(&mut self, name: &'static str, d: Option<Dec>, scale: Option<u8>) -> &mut Self {
        if let Some(d) = d {
            self.dec(name, d, scale);
        }
        self
    }

    /// An integer.
    pub fn int(&mut self, name: &'static str, v: u64) -> &mut Self {
        self.set(name, Value::Integer(v))
    }

    /// A flag.
    pub fn flag(&mut self, name: &'static str, v: bool) -> &mut Self {
        self.set(name, Value::Boolean(v))
    }

    /// Text (an enum's word too).
    pub fn text(&mut self, name: &'static str, v: impl Into<String>) -> &mut Self {
        self.set(name, Value::Text(v.into()))
    }

    /// A time, Unix ns.
    pub fn time(&mut self, name: &'static str, ns: u64) -> &mut Self {
        self.set(name, Value::Time(ns))
    }

    /// A 64-bit hash.
    pub fn hex(&mut self, name: &'static str, v: u64) -> &mut Self {
        self.set(name, Value::Hex(v))
    }

    /// The CSV cells of every schema column, in [`FIELDS`] order (time fields give two).
    pub(crate) fn csv_cells(&self, out: &mut Vec<String>) {
        for s in FIELDS {
            let v = self.get(s.name);
            match (s.ty, v) {
                (Type::Time, Some(Value::Time(ns))) => {
                    out.push(iso8601(*ns));
                    out.push(ns.to_string());
                }
                (Type::Time, _) => {
                    out.push(String::new());
                    out.push(String::new());
                }
                (_, Some(v)) => out.push(cell(v)),
                (_, None) => out.push(String::new()),
            }
        }
    }
}

fn cell(v: &Value) -> String {
    match v {
        Value::Decimal(s) | Value::Text(s) => s.clone(),
        Value::Integer(n) => n.to_string(),
        Value::Boolean(b) => b.to_string(),
        Value::Time(ns) => iso8601(*ns),
        Value::Hex(h) => format!("{h:016x}"),
    }
}

impl Serialize for Fields {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let times = self
            .0
            .iter()
            .filter(|(_, v)| matches!(v, Value::Time(_)))
            .count();
        let mut m = ser.serialize_map(Some(self.0.len() + times))?;
        for (name, v) in &self.0 {
            match v {
                Value::Decimal(s) | Value::Text(s) => m.serialize_entry(name, s)?,
                Value::Integer(n) => m.serialize_entry(name, n)?,
                Value::Boolean(b) => m.serialize_entry(name, b)?,
                Value::Hex(h) => m.serialize_entry(name, &format!("{h:016x}"))?,
                Value::Time(ns) => {
                    m.serialize_entry(name, &iso8601(*ns))?;
                    m.serialize_entry(&format!("{name}_ns"), ns)?;
                }
            }
        }
        m.end()
    }
}

/// The CSV names of the typed columns, in order (`<name>` and `<name>_ns` for times).
pub fn columns() -> Vec<String> {
    let mut out = Vec::new();
    for s in FIELDS {
        out.push(s.name.to_string());
        if s.ty == Type::Time {
            out.push(format!("{}_ns", s.name));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_never_collide_with_a_time_sibling() {
        let cols = columns();
        let mut seen = std::collections::HashSet::new();
        for c in &cols {
            assert!(seen.insert(c.clone()), "{c} twice");
        }
        for c in crate::export::COMMON {
            assert!(!seen.contains(*c), "{c} is a common column too");
        }
    }

    /// The documented words are the code's: a new variant must reach the schema.
    #[test]
    fn enums_list_every_word_the_code_writes() {
        use crate::model::{
            order_state::OmsEvent, reconcile::ReconTrigger, slippage::SlipCategory,
        };
        let words = |ws: &[&str]| ws.iter().map(|w| w.to_string()).collect::<Vec<_>>();
        assert_eq!(
            words(ANOMALY_EVENTS),
            OmsEvent::ALL.map(|e| e.as_str().to_string()).to_vec()
        );
        assert_eq!(
            words(SLIP),
            SlipCategory::ALL.map(|e| e.as_str().to_string()).to_vec()
        );
        assert_eq!(
            words(TRIGGERS),
            ReconTrigger::ALL.map(|e| e.as_str().to_string()).to_vec()
        );
        for a in crate::model::event::DeadLetterAction::ALL {
            assert!(ACTIONS.contains(&a.word()));
        }
    }

    #[test]
    fn times_are_written_twice_and_hashes_as_hex() {
        let mut f = Fields::default();
        f.time("expire_at", 1_500_000_000).hex("content_hash", 0xab);
        let j = serde_json::to_value(&f).unwrap();
        assert_eq!(j["expire_at"], "1970-01-01T00:00:01.500000000Z");
        assert_eq!(j["expire_at_ns"], 1_500_000_000u64);
        assert_eq!(j["content_hash"], "00000000000000ab");
        let mut cells = Vec::new();
        f.csv_cells(&mut cells);
        assert_eq!(cells.len(), columns().len());
        assert!(cells.contains(&"1500000000".to_string()));
    }
}
