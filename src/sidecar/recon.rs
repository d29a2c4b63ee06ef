//! Reconciliation reports as files (R-AUD-4): as the sidecar drains the journal it
//! gathers each report's lines and, at its summary, writes one JSON and one CSV file
//! under `<journal dir>/reconciliation/`, named by the report's time, venue and number.
//! A file is created once and never rewritten: a restart that reads the same records
//! again finds it there and leaves it.

use crate::calendar::iso8601;
use crate::config::Registry;
use crate::core::records::{decode_event, KIND_EVENT};
use crate::journal::record::RecordHeader;
use crate::model::event::CoreEvent;
use crate::model::fixed::Fixed;
use crate::model::reconcile::{BalanceLine, ReconLine, ReconSummary};
use serde::{Deserialize, Serialize};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The folder beside the journal's segments.
pub const FOLDER: &str = "reconciliation";

/// Event tags (the byte after the producer) of a report's records.
const LINE_TAG: u8 = 17;
const SUMMARY_TAG: u8 = 18;
const BALANCE_TAG: u8 = 34;

/// One line as the files hold it: names and decimals, no ids to look up.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineRecord {
    /// MATCHED, MISMATCH, PHANTOM_POSITION, MISSING_POSITION, MISSING_SL_TP, UNKNOWN_ORDER,
    /// IN_FLIGHT, REBASED (balance lines).
    pub status: String,
    /// `order`, `position` or `balance` (an asset's change since execd first heard its
    /// balance: `symbol` names the asset, `ours`/`theirs` at 8 decimals).
    pub what: String,
    /// Account name (empty when the venue named none of ours).
    pub account: String,
    /// Symbol (empty when unknown).
    pub symbol: String,
    /// execd's order id, for order lines of orders it holds.
    pub order: Option<u64>,
    /// The order number in a venue's ClOrdID that execd does not hold.
    pub venue_order: Option<u64>,
    /// Order lines: execd's state.
    pub ours_state: String,
    /// Order lines: the venue's (NOT_LISTED: not open there).
    pub theirs_state: String,
    /// Position lines: execd's net position; order lines: its filled quantity.
    pub ours: String,
    /// The venue's.
    pub theirs: String,
}

/// A whole report as its JSON file holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportFile {
    /// The report's number (from 1, for the journal's life).
    pub report: u32,
    /// The venue asked.
    pub venue: String,
    /// start, timeout, schedule, operator.
    pub trigger: String,
    /// When it was asked for (RFC 3339 UTC) and when the venue finished answering.
    pub asked: String,
    /// When the venue finished answering.
    pub answered: String,
    /// Journal sequence number of the summary record.
    pub seq: u64,
    /// MATCHED (nothing to resolve) or MISMATCH.
    pub result: String,
    /// Lines other than MATCHED.
    pub mismatches: u32,
    /// Orders still waiting for the venue's answer, not compared.
    pub in_flight: u32,
    /// Whether the venue listed its open orders.
    pub orders_checked: bool,
    /// Whether it reported positions.
    pub positions_checked: bool,
    /// One per order and position.
    pub lines: Vec<LineRecord>,
}

/// Gathers reports from journal records and writes them.
pub struct ReportFiles {
    dir: PathBuf,
    reg: std::sync::Arc<Registry>,
    lines: Vec<ReconLine>,
    balances: Vec<BalanceLine>,
    /// Report numbers with a file already (read from the folder before the first write):
    /// a report is written once even if a renamed venue would name it differently now.
    existing: Option<std::collections::HashSet<u32>>,
    /// Reports written by this process.
    pub written: u64,
}

impl ReportFiles {
    /// Reports go to `<journal>/reconciliation/`.
    pub fn new(journal: &Path, reg: std::sync::Arc<Registry>) -> ReportFiles {
        ReportFiles {
            dir: journal.join(FOLDER),
            reg,
            lines: Vec::new(),
            balances: Vec::new(),
            existing: None,
            written: 0,
        }
    }

    /// Looks at one journal record; writes a report's files at its summary.
    pub fn record(&mut self, h: &RecordHeader, payload: &[u8]) -> io::Result<()> {
        if h.kind != KIND_EVENT || payload.len() < 2 {
            return Ok(());
        }
        if ![LINE_TAG, SUMMARY_TAG, BALANCE_TAG].contains(&payload[1]) {
            return Ok(());
        }
        match decode_event(payload) {
            Ok((_, CoreEvent::ReconLine(l))) => {
                // A new report's first line drops what an interrupted one left.
                if self.lines.first().is_some_and(|f| f.report != l.report) {
                    self.lines.clear();
                }
                self.lines.push(l);
            }
            Ok((_, CoreEvent::BalanceLine(l))) => {
                if self.balances.first().is_some_and(|f| f.report != l.report) {
                    self.balances.clear();
                }
                self.balances.push(l);
            }
            Ok((_, CoreEvent::ReconReport(s))) => {
                self.lines.retain(|l| l.report == s.report);
                self.balances.retain(|l| l.report == s.report);
                let lines = std::mem::take(&mut self.lines);
                let balances = std::mem::take(&mut self.balances);
                if self.existing().contains(&s.report) {
                    return Ok(());
                }
                let file = report_file(&self.reg, &s, &lines, &balances, h.ts_ns, h.seq);
                if self.write(&file, h.ts_ns)? {
                    self.written += 1;
                    self.existing().insert(s.report);
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn existing(&mut self) -> &mut std::collections::HashSet<u32> {
        let dir = &self.dir;
        self.existing.get_or_insert_with(|| {
            let mut set = std::collections::HashSet::new();
            if let Ok(rd) = std::fs::read_dir(dir) {
                for e in rd.flatten() {
                    let name = e.file_name();
                    let name = name.to_string_lossy();
                    if let Some(n) = name
                        .strip_suffix(".json")
                        .and_then(|x| x.rsplit_once("-r"))
                        .and_then(|(_, n)| n.parse::<u32>().ok())
                    {
                        set.insert(n);
                    }
                }
            }
            set
        })
    }

    /// Writes the pair; `false` if it was there already (never rewritten). Each file is
    /// written whole under a hidden temporary name, synced, then linked to its name
    /// (which fails if the name exists): a reader, or a start after a crash, sees a
    /// report complete or not at all.
    fn write(&self, r: &ReportFile, ts: u64) -> io::Result<bool> {
        std::fs::create_dir_all(&self.dir)?;
        let stem = file_stem(ts, &r.venue, r.report);
        let mut json = serde_json::to_vec_pretty(r).map_err(io::Error::other)?;
        json.push(b'\n');
        // The CSV first: the JSON is what lists reports, so a listed report has both.
        put(&self.dir, &format!("{stem}.csv"), to_csv(r).as_bytes())?;
        let made = put(&self.dir, &format!("{stem}.json"), &json)?;
        if made {
            std::fs::File::open(&self.dir)?.sync_all()?;
        }
        Ok(made)
    }
}

/// `bytes` as `dir/name`, unless that exists; whether it was written.
fn put(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<bool> {
    let target = dir.join(name);
    if target.exists() {
        return Ok(false);
    }
    let tmp = dir.join(format!(".{name}.tmp"));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    let linked = std::fs::hard_link(&tmp, &target);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    }
}

/// `20261130T075129.123456789Z-sim-r0003`: sorts by time.
pub fn file_stem(ts: u64, venue: &str, report: u32) -> String {
    let iso = iso8601(ts);
    let compact: String = iso.chars().filter(|c| *c != '-' && *c != ':').collect();
    let venue: String = venue
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("{compact}-{venue}-r{report:04}")
}

/// The CSV file: a header row, then one row per line; the summary is in the JSON.
pub const CSV_HEADER: &str =
    "report,venue,status,what,account,symbol,order,venue_order,ours_state,theirs_state,ours,theirs";

fn to_csv(r: &ReportFile) -> String {
    let mut s = String::from(CSV_HEADER);
    s.push('\n');
    let opt = |o: Option<u64>| o.map(|v| v.to_string()).unwrap_or_default();
    for l in &r.lines {
        let fields = [
            r.report.to_string(),
            r.venue.clone(),
            l.status.clone(),
            l.what.clone(),
            l.account.clone(),
            l.symbol.clone(),
            opt(l.order),
            opt(l.venue_order),
            l.ours_state.clone(),
            l.theirs_state.clone(),
            l.ours.clone(),
            l.theirs.clone(),
        ];
        let quoted: Vec<String> = fields.iter().map(|f| crate::export::csv_field(f)).collect();
        s.push_str(&quoted.join(","));
        s.push('\n');
    }
    s
}

/// A report in names and decimals.
pub fn report_file(
    reg: &Registry,
    s: &ReconSummary,
    lines: &[ReconLine],
    balances: &[BalanceLine],
    ts: u64,
    seq: u64,
) -> ReportFile {
    let venue = reg
        .venues
        .get(s.venue.0 as usize)
        .map(|v| v.name.to_string())
        .unwrap_or_else(|| format!("#{}", s.venue.0));
    ReportFile {
        report: s.report,
        venue,
        trigger: s.trigger.as_str().into(),
        asked: iso8601(s.asked_ns),
        answered: iso8601(ts),
        seq,
        result: if s.matched() { "MATCHED" } else { "MISMATCH" }.into(),
        mismatches: s.mismatches,
        in_flight: s.in_flight,
        orders_checked: s.orders_checked,
        positions_checked: s.positions_checked,
        lines: lines
            .iter()
            .map(|l| line_record(reg, l))
            .chain(balances.iter().map(|l| balance_record(reg, l)))
            .collect(),
    }
}

fn balance_record(reg: &Registry, l: &BalanceLine) -> LineRecord {
    let a = crate::venue::ASSET_SCALE;
    LineRecord {
        status: l.status.as_str().into(),
        what: "balance".into(),
        account: reg
            .accounts
            .get(l.account.0 as usize)
            .map(|a| a.name.to_string())
            .unwrap_or_default(),
        symbol: l.asset.to_string(),
        order: None,
        venue_order: None,
        ours_state: String::new(),
        theirs_state: String::new(),
        ours: Fixed(l.ours, a).to_string(),
        theirs: Fixed(l.theirs, a).to_string(),
    }
}

fn line_record(reg: &Registry, l: &ReconLine) -> LineRecord {
    let inst = l.instrument.and_then(|i| reg.instruments.get(i.0 as usize));
    let qs = inst.map_or(0, |i| i.qty_scale);
    let is_order = l.order.is_some() || l.venue_order != 0 || l.theirs_state.is_some();
    LineRecord {
        status: l.status.as_str().into(),
        what: if is_order { "order" } else { "position" }.into(),
        account: l
            .account
            .and_then(|a| reg.accounts.get(a.0 as usize))
            .map(|a| a.name.to_string())
            .unwrap_or_default(),
        symbol: inst.map(|i| i.symbol.to_string()).unwrap_or_default(),
        order: l.order.map(|o| o.0),
        venue_order: (l.venue_order != 0).then_some(l.venue_order),
        ours_state: match (is_order, l.ours_state) {
            (false, _) => String::new(),
            (true, Some(s)) => s.as_str().into(),
            (true, None) => "NOT_HELD".into(),
        },
        theirs_state: match (is_order, l.theirs_state) {
            (false, _) => String::new(),
            (true, Some(_)) => "OPEN".into(),
            (true, None) => "NOT_LISTED".into(),
        },
        ours: Fixed(l.ours.0, qs).to_string(),
        theirs: Fixed(l.theirs.0, qs).to_string(),
    }
}

/// The reports under a journal directory, oldest first: (stem, parsed JSON).
pub fn list(journal: &Path) -> io::Result<Vec<(String, ReportFile)>> {
    let dir = journal.join(FOLDER);
    let mut out = Vec::new();
    let rd = match std::fs::read_dir(&dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for e in rd {
        let p = e?.path();
        let hidden = p
            .file_name()
            .and_then(|n| n.to_str())
            .is_none_or(|n| n.starts_with('.'));
        if hidden || p.extension().and_then(|x| x.to_str()) != Some("json") {
            continue;
        }
        let text = std::fs::read_to_string(&p)?;
        // A file someone put there (or damaged) is said, and the others still listed.
        let r: ReportFile = match serde_json::from_str(&text) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("execd: {}: not a reconciliation report: {e}", p.display());
                continue;
            }
        };
        let stem = p
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string();
        out.push((stem, r));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// The reports a journal holds as records, made the way the sidecar makes its files:
/// what `execd-replay recon` shows when a file is missing (the sidecar was off, or could
/// not write it). Names come from `reg`.
pub fn from_records(
    reg: &Registry,
    records: impl IntoIterator<Item = (RecordHeader, Vec<u8>)>,
) -> Vec<ReportFile> {
    let mut lines: Vec<ReconLine> = Vec::new();
    let mut balances: Vec<BalanceLine> = Vec::new();
    let mut out = Vec::new();
    for (h, payload) in records {
        if h.kind != KIND_EVENT || payload.len() < 2 {
            continue;
        }
        match decode_event(&payload) {
            Ok((_, CoreEvent::ReconLine(l))) => {
                if lines.first().is_some_and(|f| f.report != l.report) {
                    lines.clear();
                }
                lines.push(l);
            }
            Ok((_, CoreEvent::BalanceLine(l))) => {
                if balances.first().is_some_and(|f| f.report != l.report) {
                    balances.clear();
                }
                balances.push(l);
            }
            Ok((_, CoreEvent::ReconReport(s))) => {
                lines.retain(|l| l.report == s.report);
                balances.retain(|l| l.report == s.report);
                out.push(report_file(reg, &s, &lines, &balances, h.ts_ns, h.seq));
                lines.clear();
                balances.clear();
            }
            _ => {}
        }
    }
    out
}
