//! `execd-replay recon`: the reconciliation reports the sidecar wrote beside a journal
//! (R-AUD-4), listed or shown one by one, and the operators' resolutions the journal
//! holds, with who resolved what and why.

use execd::calendar::iso8601;
use execd::core::records::{decode_command, KIND_COMMAND};
use execd::model::event::Command;
use execd::sidecar::recon::{self, ReportFile};
use std::path::Path;

/// The report files, and any report the journal holds that has no file (the sidecar
/// was off, or could not write it), in report order.
fn reports(dir: &Path) -> Result<Vec<(String, ReportFile)>, String> {
    let mut reports = recon::list(dir).map_err(|e| e.to_string())?;
    let reg = execd::core::recovery::journal_configs(dir)
        .map_err(|e| e.to_string())?
        .pop()
        .map(|c| c.registry);
    let Some(reg) = reg else {
        return Ok(reports);
    };
    let mut records = Vec::new();
    execd::journal::scan(dir, |r| {
        if r.header.kind == execd::core::records::KIND_EVENT {
            records.push((r.header, r.payload.to_vec()));
        }
    })
    .map_err(|e| e.to_string())?;
    for r in recon::from_records(&reg, records) {
        if !reports.iter().any(|(_, f)| f.report == r.report) {
            let stem = format!("(journal only) report {}", r.report);
            reports.push((stem, r));
        }
    }
    reports.sort_by_key(|(_, r)| r.report);
    Ok(reports)
}

/// One line per report, oldest first, then one per resolution.
pub fn list(dir: &Path) -> Result<Vec<String>, String> {
    let reports = reports(dir)?;
    let mut out = Vec::new();
    if reports.is_empty() {
        out.push(format!(
            "no reconciliation reports in {}",
            dir.join(recon::FOLDER).display()
        ));
    }
    for (stem, r) in &reports {
        out.push(format!(
            "{stem}  report {:>4}  venue {:<10} {:<9} {:<8}  {} lines, {} to resolve, {} in flight{}",
            r.report,
            r.venue,
            r.trigger,
            r.result,
            r.lines.len(),
            r.mismatches,
            r.in_flight,
            checked(r)
        ));
    }
    for line in resolutions(dir)? {
        out.push(line);
    }
    Ok(out)
}

/// One report, by number or file name: its summary, then a line per order and position.
pub fn show(dir: &Path, which: &str, json: bool) -> Result<Vec<String>, String> {
    let reports = reports(dir)?;
    let found = reports
        .iter()
        .find(|(stem, r)| stem == which || which.parse::<u32>().ok() == Some(r.report))
        .ok_or_else(|| format!("no reconciliation report {which} in {}", dir.display()))?;
    let r = &found.1;
    if json {
        return Ok(vec![
            serde_json::to_string_pretty(r).map_err(|e| e.to_string())?
        ]);
    }
    let mut out = vec![
        format!(
            "report {} of venue {} ({}): {}, asked {}, answered {}, journal record {}",
            r.report, r.venue, r.trigger, r.result, r.asked, r.answered, r.seq
        ),
        format!(
            "{} lines, {} to resolve, {} orders in flight not compared{}",
            r.lines.len(),
            r.mismatches,
            r.in_flight,
            checked(r)
        ),
    ];
    for l in &r.lines {
        let id = match (l.order, l.venue_order) {
            (Some(o), _) => format!("order {o}"),
            (None, Some(v)) => format!("venue order {v}"),
            (None, None) if l.what == "order" => "venue order (not execd's)".into(),
            (None, None) => "position".into(),
        };
        let states = if l.what == "order" {
            format!("  ours {} theirs {}", l.ours_state, l.theirs_state)
        } else {
            String::new()
        };
        out.push(format!(
            "  {:<16} {:<8} {:<10} {:<26} ours {:>14} theirs {:>14}{states}",
            l.status, l.account, l.symbol, id, l.ours, l.theirs
        ));
    }
    Ok(out)
}

fn checked(r: &ReportFile) -> String {
    match (r.orders_checked, r.positions_checked) {
        (true, true) => String::new(),
        (true, false) => "; positions not available from the venue".into(),
        (false, true) => "; open orders not available from the venue".into(),
        (false, false) => "; the venue gave neither orders nor positions".into(),
    }
}

/// Each resolution command in the journal, with the operator note the same producer
/// sent just before it.
fn resolutions(dir: &Path) -> Result<Vec<String>, String> {
    let mut notes: std::collections::HashMap<u8, (String, String)> = Default::default();
    let mut out = Vec::new();
    execd::journal::scan(dir, |r| {
        if r.header.kind != KIND_COMMAND {
            return;
        }
        match decode_command(r.payload) {
            Ok((origin, Command::Operator(n))) => {
                notes.insert(origin, (n.operator.to_string(), n.reason.to_string()));
            }
            Ok((origin, Command::ResolveReconciliation(x))) => {
                let (who, why) = notes.remove(&origin).unwrap_or_default();
                out.push(format!(
                    "resolved {}  venue {}{}{}: {} by {} ({})",
                    iso8601(r.header.ts_ns),
                    x.venue,
                    x.account
                        .map(|a| format!(" account {a}"))
                        .unwrap_or_default(),
                    x.symbol.map(|s| format!(" symbol {s}")).unwrap_or_default(),
                    if x.accept_venue {
                        "the venue's positions accepted"
                    } else {
                        "the core's state kept"
                    },
                    if who.is_empty() { "?" } else { &who },
                    if why.is_empty() {
                        "no reason given"
                    } else {
                        &why
                    }
                ));
            }
            Ok((origin, _)) => {
                notes.remove(&origin);
            }
            Err(_) => {}
        }
    })
    .map_err(|e| e.to_string())?;
    Ok(out)
}
