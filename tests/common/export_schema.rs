//! The audit export's documented schema (docs/audit-export.md), read from the document
//! itself, and checks of exports against it: every column, every value of its type.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// A documented type, as docs/audit-export.md names it.
#[derive(Clone, Debug)]
pub enum Ty {
    Decimal,
    Integer,
    Boolean,
    Time,
    Hex,
    Text,
    Code,
    State,
    Enum(Vec<String>),
}

pub struct Schema {
    /// Common columns, in order.
    pub common: Vec<(String, Ty)>,
    /// Per typed field, the kinds that may carry it (`None`: any).
    pub carried_by: BTreeMap<String, Option<BTreeSet<String>>>,
    /// Typed fields, in order.
    pub fields: Vec<(String, Ty)>,
    /// Row kinds.
    pub kinds: BTreeSet<String>,
}

/// Reads the tables of docs/audit-export.md: `| \`name\` | type | …`.
pub fn schema() -> Schema {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/audit-export.md"))
            .expect("docs/audit-export.md");
    let mut section = "";
    let mut s = Schema {
        carried_by: BTreeMap::new(),
        common: Vec::new(),
        fields: Vec::new(),
        kinds: BTreeSet::new(),
    };
    for line in doc.lines() {
        if let Some(h) = line.strip_prefix("## ") {
            section = match h {
                "Common columns" => "common",
                "Typed fields" => "fields",
                "Kinds" => "kinds",
                _ => "",
            };
            continue;
        }
        let cells: Vec<&str> = line
            .split(" | ")
            .map(|c| c.trim_matches(['|', ' ']))
            .collect();
        let Some(name) = cells
            .first()
            .and_then(|c| c.strip_prefix('`'))
            .and_then(|c| c.strip_suffix('`'))
        else {
            continue;
        };
        if section == "kinds" {
            s.kinds.insert(name.to_string());
            continue;
        }
        if section.is_empty() || cells.len() < 3 {
            continue;
        }
        let ty = cells[1];
        let ty = match ty {
            "decimal" => Ty::Decimal,
            "integer" => Ty::Integer,
            "boolean" => Ty::Boolean,
            "time" => Ty::Time,
            "hex" => Ty::Hex,
            "text" => Ty::Text,
            "code" => Ty::Code,
            "state" => Ty::State,
            "enum" => Ty::Enum(Vec::new()),
            t if t.starts_with("enum: ") => Ty::Enum(
                t["enum: ".len()..]
                    .split(", ")
                    .map(|w| w.to_string())
                    .collect(),
            ),
            t => panic!("docs/audit-export.md: `{name}` has an unknown type {t:?}"),
        };
        match section {
            "common" => s.common.push((name.to_string(), ty)),
            "fields" => {
                // "request, command (replace)": the kinds, without the parentheses.
                let kinds = (cells[2] != "any").then(|| {
                    cells[2]
                        .split(", ")
                        .map(|k| k.split(' ').next().unwrap_or("").to_string())
                        .collect()
                });
                s.carried_by.insert(name.to_string(), kinds);
                s.fields.push((name.to_string(), ty));
            }
            _ => {}
        }
    }
    assert!(s.common.len() >= 17 && s.fields.len() > 50 && s.kinds.len() > 30);
    s
}

impl Schema {
    /// The CSV header the document describes.
    pub fn csv_header(&self) -> Vec<String> {
        let mut h: Vec<String> = self.common.iter().map(|(n, _)| n.clone()).collect();
        for (n, t) in &self.fields {
            h.push(n.clone());
            if matches!(t, Ty::Time) {
                h.push(format!("{n}_ns"));
            }
        }
        h
    }

    fn ty(&self, col: &str) -> Ty {
        if col == "kind" {
            return Ty::Enum(self.kinds.iter().cloned().collect());
        }
        if let Some((_, t)) = self
            .common
            .iter()
            .chain(&self.fields)
            .find(|(n, _)| n == col)
        {
            return t.clone();
        }
        match col.strip_suffix("_ns") {
            Some(base) if matches!(self.ty(base), Ty::Time) => Ty::Integer,
            _ => panic!("column {col} is not in docs/audit-export.md"),
        }
    }
}

fn is_decimal(s: &str) -> bool {
    let s = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = s.split_once('.').unwrap_or((s, "0"));
    !int.is_empty()
        && !frac.is_empty()
        && (int.bytes().chain(frac.bytes())).all(|b| b.is_ascii_digit())
}

fn is_time(s: &str) -> bool {
    // 2026-11-30T12:00:00.000000000Z
    let b = s.as_bytes();
    b.len() == 30
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'.'
        && b[29] == b'Z'
        && execd::calendar::parse_rfc3339(s).is_some()
}

/// Whether a CSV cell (or a JSON string's text) is of type `t`.
fn text_ok(t: &Ty, s: &str) -> bool {
    match t {
        Ty::Decimal => is_decimal(s),
        Ty::Integer => {
            !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && s.parse::<u64>().is_ok()
        }
        Ty::Boolean => s == "true" || s == "false",
        Ty::Time => is_time(s),
        Ty::Hex => {
            s.len() == 16
                && s.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        }
        Ty::Text => !s.contains('\u{1}'),
        Ty::Code => {
            s.bytes().next().is_some_and(|b| b.is_ascii_uppercase())
                && s.bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        }
        Ty::State => {
            s.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
                && s.bytes().all(|b| b.is_ascii_alphabetic() || b == b'_')
        }
        Ty::Enum(words) => words.is_empty() || words.iter().any(|w| w == s),
    }
}

/// Whether a JSON value is of type `t` (integers and booleans as JSON's own).
fn json_ok(t: &Ty, v: &Value) -> bool {
    match (t, v) {
        (Ty::Integer, Value::Number(n)) => n.is_u64(),
        (Ty::Boolean, Value::Bool(_)) => true,
        (Ty::Integer | Ty::Boolean, _) => false,
        (t, Value::String(s)) => text_ok(t, s),
        _ => false,
    }
}

/// Checks one CSV export against the document: the header, then every cell. The kinds seen.
pub fn check_csv(s: &Schema, csv_text: &str) -> BTreeMap<String, usize> {
    let mut rd = csv::Reader::from_reader(csv_text.as_bytes());
    let header: Vec<String> = rd
        .headers()
        .unwrap()
        .iter()
        .map(|h| h.to_string())
        .collect();
    assert_eq!(
        header,
        s.csv_header(),
        "CSV header against docs/audit-export.md"
    );
    let types: Vec<Ty> = header.iter().map(|h| s.ty(h)).collect();
    let mut kinds = BTreeMap::new();
    for (n, rec) in rd.records().enumerate() {
        let rec = rec.unwrap_or_else(|e| panic!("CSV record {n}: {e}"));
        assert_eq!(rec.len(), header.len(), "record {n}");
        let kind = rec.get(3).unwrap().to_string();
        for (i, cell) in rec.iter().enumerate() {
            if cell.is_empty() {
                assert!(
                    !["time_ns", "time", "seq", "kind", "config"].contains(&header[i].as_str()),
                    "record {n}: {} empty",
                    header[i]
                );
                continue;
            }
            // `reason` is a code unless an operator gave it (their words: text).
            let ok = if header[i] == "reason" {
                text_ok(&Ty::Text, cell)
            } else {
                text_ok(&types[i], cell)
            };
            assert!(
                ok,
                "record {n} ({kind}): {} = {cell:?} is not {:?}",
                header[i], types[i]
            );
            assert!(
                !cell.contains("{ ") && !cell.contains("Dec {") && !cell.contains("Some("),
                "Debug text in {}: {cell}",
                header[i]
            );
        }
        *kinds.entry(kind).or_default() += 1;
    }
    kinds
}

/// Checks one JSON Lines export: the common keys in order, then `fields`, every value typed.
pub fn check_jsonl(s: &Schema, text: &str) -> Vec<Value> {
    let mut rows = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let v: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("line {n}: {e}: {line}"));
        let obj = v.as_object().expect("an object");
        let keys: Vec<&String> = obj.keys().collect();
        let mut want: Vec<String> = s.common.iter().map(|(n, _)| n.clone()).collect();
        want.push("fields".into());
        let mut got: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
        got.sort();
        want.sort();
        assert_eq!(got, want, "line {n}: keys");
        for (name, ty) in &s.common {
            let val = &obj[name];
            let ok = match (name.as_str(), val) {
                ("order" | "parent", Value::Null) => true,
                (_, Value::String(t)) if t.is_empty() => true,
                ("reason", Value::String(_)) => true,
                _ => json_ok(ty, val),
            };
            assert!(ok, "line {n}: {name} = {val} is not {ty:?}");
        }
        for (k, val) in obj["fields"].as_object().expect("fields is an object") {
            let ty = s.ty(k);
            assert!(
                json_ok(&ty, val),
                "line {n}: fields.{k} = {val} is not {ty:?}"
            );
        }
        rows.push(v);
    }
    rows
}
