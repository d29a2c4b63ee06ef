//! `execd-replay configs`: the configurations a journal ran under, from which record each
//! applied, and what each changed. Settings are compared as the TOML the journal holds,
//! key by key, so every setting is covered without a list to keep in step; the file holds
//! environment variable names, never secrets, so printing it reveals none.

use execd::calendar::iso8601;
use execd::core::recovery::RecordedConfig;

/// One line per configuration, then one indented line per setting it changed.
pub fn lines(configs: &[RecordedConfig]) -> Vec<String> {
    let mut out = Vec::new();
    let mut before: Option<toml::Value> = None;
    for c in configs {
        let now = toml::Value::try_from(&c.registry.config).unwrap_or(toml::Value::Boolean(false));
        out.push(format!(
            "configuration {}: from record {} ({}), fingerprint {:016x}{}",
            c.number,
            c.seq,
            iso8601(c.ts_ns),
            c.fingerprint,
            if c.number == 1 {
                ", the one the journal started under"
            } else {
                ""
            }
        ));
        if let Some(b) = &before {
            let mut changes = Vec::new();
            diff("", b, &now, &mut changes);
            if changes.is_empty() {
                out.push("  (the file reads the same)".into());
            }
            out.extend(changes.into_iter().map(|c| format!("  {c}")));
        }
        before = Some(now);
    }
    out
}

fn diff(path: &str, a: &toml::Value, b: &toml::Value, out: &mut Vec<String>) {
    use toml::Value::{Array, Table};
    let key = |k: &str| {
        if path.is_empty() {
            k.to_string()
        } else {
            format!("{path}.{k}")
        }
    };
    match (a, b) {
        (Table(x), Table(y)) => {
            for (k, va) in x {
                match y.get(k) {
                    Some(vb) => diff(&key(k), va, vb, out),
                    None => out.push(format!("{}: {} → (absent)", key(k), short(va))),
                }
            }
            for (k, vb) in y.iter().filter(|(k, _)| !x.contains_key(*k)) {
                out.push(format!("{}: (absent) → {}", key(k), short(vb)));
            }
        }
        (Array(x), Array(y)) => {
            for (i, (va, vb)) in x.iter().zip(y).enumerate() {
                diff(&format!("{path}[{i}]"), va, vb, out);
            }
            for (i, v) in x.iter().enumerate().skip(y.len()) {
                out.push(format!("{path}[{i}]: removed {}", short(v)));
            }
            for (i, v) in y.iter().enumerate().skip(x.len()) {
                out.push(format!("{path}[{i}]: added {}", short(v)));
            }
        }
        _ if a != b => out.push(format!("{path}: {} → {}", short(a), short(b))),
        _ => {}
    }
}

/// A value on one line: tables by their name or symbol, when they have one.
fn short(v: &toml::Value) -> String {
    match v {
        toml::Value::Table(t) => match (t.get("venue"), t.get("symbol"), t.get("name")) {
            (Some(venue), Some(symbol), _) => format!(
                "{}/{}",
                venue.as_str().unwrap_or("?"),
                symbol.as_str().unwrap_or("?")
            ),
            (_, _, Some(name)) => name.as_str().unwrap_or("?").to_string(),
            _ => "{…}".into(),
        },
        other => other.to_string(),
    }
}
