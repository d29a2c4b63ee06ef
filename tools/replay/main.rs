//! `execd-replay`: what an auditor runs on a journal (R-AUD-3). It checks every CRC and
//! sequence number, rebuilds the engine from the journal with the same code the live core
//! ran, and exports what happened — every request, decision, state change, fill and
//! operator action — as CSV or JSON Lines, or tells one order's life in order, or lists
//! the configurations the journal ran under.

use clap::{Parser, Subcommand, ValueEnum};
use execd::calendar::iso8601;
use execd::config::Registry;
use execd::core::records::{KIND_LOSS, KIND_RESTART};
use execd::core::recovery::{self, RecoveryError, Step};
use execd::export::{header, rows, write_row, Filter, Row, KINDS};
use execd::journal::{scan, JournalError};
use execd::model::event::CoreEvent;
use execd::model::fixed::Fixed;
use execd::sidecar::history::{self, History, Refusal};
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

mod configs;
mod fix_frames;
mod recon;
mod story;
mod summary;

#[derive(Parser)]
#[command(
    name = "execd-replay",
    version,
    about = "Verify, export and explain execd journals"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Check every CRC and sequence number, rebuild the state, print counts.
    Verify {
        /// Journal directory.
        dir: PathBuf,
    },
    /// Export what happened, filtered, as CSV or JSON Lines on standard output.
    Export {
        /// Journal directory.
        dir: PathBuf,
        /// From this time (RFC 3339 UTC, e.g. 2026-01-05T15:00:00Z, or Unix ns).
        #[arg(long)]
        from: Option<String>,
        /// Up to (excluding) this time.
        #[arg(long)]
        to: Option<String>,
        /// Only this account.
        #[arg(long)]
        account: Option<String>,
        /// Only this symbol.
        #[arg(long)]
        symbol: Option<String>,
        /// Only this order id.
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
        order: Option<u64>,
        /// Only this request id.
        #[arg(long)]
        request: Option<String>,
        /// Only this kind of row (`fix_frame` with `--with-fix`).
        #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(
            KINDS.iter().copied().chain([fix_frames::FIX_FRAME])
        ))]
        kind: Option<String>,
        /// Also the raw FIX frames sent and received (rows of kind `fix_frame`, from the
        /// session stores beside the journal), in time order among the others.
        #[arg(long)]
        with_fix: bool,
        /// Output format.
        #[arg(long, value_enum)]
        format: FormatArg,
    },
    /// The configurations the journal ran under: from which record each applied, and
    /// what each changed.
    Configs {
        /// Journal directory.
        dir: PathBuf,
    },
    /// Reconciliation reports written beside the journal (R-AUD-4): all of them, or one
    /// by number or file name, and who resolved what.
    Recon {
        /// Journal directory.
        dir: PathBuf,
        /// A report's number (or file name without extension) to show whole.
        report: Option<String>,
        /// With a report: print its JSON file.
        #[arg(long)]
        json: bool,
    },
    /// The dead letters still open at the end of the journal (R-RES-3): orders that
    /// could not be delivered to their venue and wait for an operator.
    DeadLetters {
        /// Journal directory.
        dir: PathBuf,
    },
    /// One order's whole story, in order: the request as received, the gate's decision,
    /// every message sent with its ClOrdID chain, every venue answer, fills, protective
    /// orders, anomalies, the final state, and the FIX frames about it.
    Order {
        /// Journal directory.
        dir: PathBuf,
        /// Order id, or the request id that created it.
        id: String,
        /// `text` for a person, `jsonl` for machines (export rows, docs/audit-export.md).
        #[arg(long, value_enum, default_value = "text")]
        format: StoryFormat,
    },
    /// What an auditor or risk manager asks first: per account, symbol and venue, counts
    /// by final state and by rejection reason, fills, volume, fees, the slippage
    /// distribution and latency percentiles per stage (engine time).
    Summary {
        /// Journal directory.
        dir: PathBuf,
        /// Requests received from this time (RFC 3339 UTC or Unix ns); the orders they
        /// made are followed to the end of the journal.
        #[arg(long)]
        from: Option<String>,
        /// Requests received before (excluding) this time.
        #[arg(long)]
        to: Option<String>,
        /// `text` for a person, `json` for machines.
        #[arg(long, value_enum, default_value = "text")]
        format: SummaryFormat,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum StoryFormat {
    Text,
    Jsonl,
}

#[derive(Clone, Copy, ValueEnum)]
enum SummaryFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum FormatArg {
    Csv,
    Jsonl,
}

impl From<FormatArg> for execd::export::Format {
    fn from(f: FormatArg) -> Self {
        match f {
            FormatArg::Csv => execd::export::Format::Csv,
            FormatArg::Jsonl => execd::export::Format::Jsonl,
        }
    }
}

/// Set once standard output's reader has gone away (`verify DIR | head -1`).
static STDOUT_GONE: AtomicBool = AtomicBool::new(false);

/// One line on standard output. A reader that went away is not an error worth a panic
/// or a message: the rest of the output is dropped and the command finishes, its exit
/// code still the verdict.
macro_rules! say {
    ($($t:tt)*) => { say_line(format_args!($($t)*)) };
}

fn say_line(args: std::fmt::Arguments<'_>) {
    if STDOUT_GONE.load(Ordering::Relaxed) {
        return;
    }
    let mut o = std::io::stdout().lock();
    if o.write_fmt(args).and_then(|_| o.write_all(b"\n")).is_err() {
        STDOUT_GONE.store(true, Ordering::Relaxed);
    }
}

/// One line on standard error; never panics (a closed stderr drops it).
macro_rules! warn {
    ($($t:tt)*) => {{
        let _ = writeln!(std::io::stderr(), $($t)*);
    }};
}

/// Exit codes: 0 the journal checks (or the export is complete); 1 it is refused —
/// damaged, incomplete, altered, or its audit log disagrees — with the sentence saying
/// where; 2 usage, or nothing to read (no such directory, no journal in it, I/O).
const EXIT_REFUSED: u8 = 1;
const EXIT_USAGE: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::Verify { dir } => verify(&dir),
        Cmd::Export {
            dir,
            from,
            to,
            account,
            symbol,
            order,
            request,
            kind,
            with_fix,
            format,
        } => (|| {
            let filter = Filter {
                from: from.as_deref().map(parse_time).transpose()?,
                to: to.as_deref().map(parse_time).transpose()?,
                account,
                symbol,
                order,
                request,
                kind,
            };
            export(&dir, &filter, format.into(), with_fix)
        })(),
        Cmd::Order { dir, id, format } => order_life(&dir, &id, format),
        Cmd::Summary {
            dir,
            from,
            to,
            format,
        } => (|| {
            let from = from.as_deref().map(parse_time).transpose()?;
            let to = to.as_deref().map(parse_time).transpose()?;
            summarise(&dir, from, to, format)
        })(),
        Cmd::Configs { dir } => list_configs(&dir),
        Cmd::Recon { dir, report, json } => {
            let lines = match &report {
                None => recon::list(&dir),
                Some(r) => recon::show(&dir, r, json),
            };
            match lines {
                Ok(lines) => {
                    for l in lines {
                        say!("{l}");
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    warn!("execd-replay: {e}");
                    Ok(ExitCode::from(EXIT_USAGE))
                }
            }
        }
        Cmd::DeadLetters { dir } => dead_letters(&dir),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            warn!("execd-replay: {e}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

/// Refused histories exit 1 with the sentence a start would refuse them with; what
/// cannot be read at all (a missing directory, permissions) exits 2.
fn refused_exit(r: &Refusal) -> ExitCode {
    match r {
        Refusal::Journal(JournalError::Io(e)) if e.kind() != std::io::ErrorKind::InvalidInput => {
            warn!("execd-replay: {e}");
            ExitCode::from(EXIT_USAGE)
        }
        _ => {
            warn!("CORRUPT: {r}");
            ExitCode::from(EXIT_REFUSED)
        }
    }
}

/// The checked history of `dir`, or the exit code that refuses it. A directory with no
/// journal in it is an error, not an empty "ok".
fn checked(dir: &Path) -> Result<History, ExitCode> {
    let h = history::check(dir).map_err(|r| refused_exit(&r))?;
    if h.journal.segments == 0 {
        warn!(
            "execd-replay: {} holds no journal (no segment files named like 0000000000000000.journal)",
            dir.display()
        );
        return Err(ExitCode::from(EXIT_USAGE));
    }
    Ok(h)
}

/// Corruption is exit 1 with the exact place; other failures exit 2.
fn corrupt_exit(e: &RecoveryError) -> Option<ExitCode> {
    match e {
        RecoveryError::Refused(r) => Some(refused_exit(r)),
        RecoveryError::Journal(JournalError::Io(_)) => None,
        RecoveryError::Journal(j) => {
            warn!("CORRUPT: {j}");
            Some(ExitCode::from(EXIT_REFUSED))
        }
        RecoveryError::Record { seq, what } => {
            warn!("CORRUPT: journal record {seq}: {what}");
            Some(ExitCode::from(EXIT_REFUSED))
        }
        _ => None,
    }
}

fn registry(dir: &Path) -> Result<Arc<Registry>, RecoveryError> {
    recovery::journal_config(dir).map(Arc::new)
}

fn progress(total: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(total);
    pb.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} records {per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    pb
}

/// Checks the history, then replays the journal, handing each step to `f`; a refused
/// history is refused here exactly as `verify` refuses it.
fn replay(dir: &Path, mut f: impl FnMut(Step<'_>)) -> Result<Result<(), ExitCode>, String> {
    let total = match checked(dir) {
        Ok(h) => h.journal.records,
        Err(code) => return Ok(Err(code)),
    };
    let reg = match registry(dir) {
        Ok(r) => r,
        Err(e) => return corrupt_exit(&e).map(Err).ok_or_else(|| e.to_string()),
    };
    let pb = progress(total);
    let r = recovery::replay_with(
        dir,
        reg,
        Some(|s: Step<'_>| {
            pb.inc(1);
            f(s)
        }),
    );
    pb.finish_and_clear();
    match r {
        Ok(_) => Ok(Ok(())),
        Err(e) => corrupt_exit(&e).map(Err).ok_or_else(|| e.to_string()),
    }
}

fn list_configs(dir: &Path) -> Result<ExitCode, String> {
    if let Err(code) = checked(dir) {
        return Ok(code);
    }
    match recovery::journal_start(dir).and_then(|st| Ok((st, recovery::journal_configs(dir)?))) {
        Ok((st, all)) => {
            say!("{}", started_line(&st));
            for line in configs::lines(&all) {
                say!("{line}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => corrupt_exit(&e).ok_or_else(|| e.to_string()),
    }
}

fn verify(dir: &Path) -> Result<ExitCode, String> {
    let hist = match checked(dir) {
        Ok(h) => h,
        Err(code) => return Ok(code),
    };
    let summary = hist.journal;
    let reg = match registry(dir) {
        Ok(r) => r,
        Err(e) => return corrupt_exit(&e).ok_or_else(|| e.to_string()),
    };
    let (engine, rec) = match recovery::replay(dir, reg) {
        Ok(x) => x,
        Err(e) => return corrupt_exit(&e).ok_or_else(|| e.to_string()),
    };
    let started = match recovery::journal_start(dir) {
        Ok(st) => st,
        Err(e) => return corrupt_exit(&e).ok_or_else(|| e.to_string()),
    };
    // The raw venue messages: each FIX session store beside the journal, every record's
    // CRC and every frame's BodyLength and CheckSum. Checked before the first line, which
    // says whether everything checked.
    let fix_checks: Vec<_> = fix_frames::stores(dir)
        .into_iter()
        .map(|st| {
            let c = fix_frames::check(&st);
            (st, c)
        })
        .collect();
    let mut damaged = Vec::new();
    for (st, c) in &fix_checks {
        if let Some(e) = &c.unreadable {
            damaged.push(format!("FIX store {}: {e}", st.dir.display()));
        }
        for (record, why) in &c.malformed {
            damaged.push(format!(
                "FIX store {} record {record}: the frame {why}",
                st.dir.display()
            ));
        }
    }
    if damaged.is_empty() {
        say!("journal {}: ok", dir.display());
    } else {
        say!(
            "journal {}: DAMAGED: its journal checks, a FIX session store beside it does not (CORRUPT below)",
            dir.display()
        );
    }
    say!("  {}", started_line(&started));
    say!(
        "  {} segments, {} records (sequence {}..{}), every header checksum, CRC and sequence number checked",
        summary.segments,
        summary.records,
        summary.first_seq.max(1),
        summary.last_seq
    );
    if summary.format_v1 > 0 {
        say!(
            "  {} segments in the first format (their committed end carries no checksum)",
            summary.format_v1
        );
    }
    if summary.first_seq > 1 {
        say!(
            "  records 1..{} are in retired segments: read back from the audit log",
            summary.first_seq - 1
        );
    }
    if let Some((seg, off)) = summary.torn {
        say!("  a torn record after the last commit (segment {seg}, byte {off}) is not part of the journal");
    }
    say!(
        "  {} commands replayed; engine time {}",
        rec.commands,
        iso8601(engine.now())
    );
    if rec.configs > 1 {
        say!(
            "  {} configurations, each replayed from the record that put it in force (`execd-replay configs` lists them); the last: fingerprint {:016x}",
            rec.configs,
            engine.registry().fingerprint()
        );
    }
    let a = &hist.audit;
    if a.files > 0 {
        say!(
            "  audit log: {} records in {} files (sequence {}..{}), each checked against its CRC and the one before it; {} compared with the journal's record of the same number: identical",
            a.records,
            a.files,
            a.first_seq,
            a.last_seq,
            a.compared
        );
        match hist.not_yet_copied() {
            None => say!("  audit log and journal hold the same records: identical to the journal"),
            Some((from, to)) => say!(
                "  NOT identical: journal records {from}..{to} are not in the audit log yet (the sidecar copies them at the next start){}",
                match &a.cut {
                    Some((f, at)) => format!("; {} ends in a cut record at byte {at}", f.display()),
                    None => String::new(),
                }
            ),
        }
    } else {
        say!("  no audit log beside the journal");
    }
    let _ = scan(dir, |r| {
        if r.header.kind == KIND_LOSS {
            say!("  {}", describe_loss(r.header.seq, r.payload));
        }
        if r.header.kind == KIND_RESTART {
            say!(
                "  restarted at record {} ({}) by {}",
                r.header.seq,
                iso8601(r.header.ts_ns),
                String::from_utf8_lossy(r.payload)
            );
        }
    });
    for (st, c) in &fix_checks {
        say!(
            "  FIX store {}: {} frames sent, {} received{}",
            st.venue,
            c.out,
            c.inbound,
            if c.malformed.is_empty() && c.unreadable.is_none() {
                ", every record's CRC and every frame's BodyLength and CheckSum checked"
            } else {
                ": DAMAGED"
            }
        );
    }
    let mut states: BTreeMap<&str, u64> = BTreeMap::new();
    for o in engine.book().iter() {
        *states.entry(o.state().as_str()).or_default() += 1;
    }
    say!(
        "  orders held {} ({}); retired from memory {}",
        engine.book().len(),
        states
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", "),
        engine.book().retired()
    );
    let (ids, most) = engine.book().request_ids();
    say!("  request ids remembered {ids} of {most} (core.max_request_ids; then new ones are refused)");
    let s = engine.stats();
    say!(
        "  requests {} accepted {} rejected {} duplicates {} fills {} anomalies {} timeouts {}",
        s.submitted,
        s.accepted,
        s.rejected,
        s.duplicates,
        s.fills,
        s.anomalies,
        s.timeouts
    );
    // The configuration in force at the end: instruments may have been added since the
    // first.
    let reg = engine.registry();
    for a in &reg.accounts {
        for i in &reg.instruments {
            let p = engine.position(a.id, i.id);
            if p.net.0 != 0 {
                say!(
                    "  position {} {} {} @ {}",
                    a.name,
                    i.symbol,
                    Fixed(p.net.0, i.qty_scale),
                    Fixed(p.avg_entry().0, i.price_scale)
                );
            }
        }
    }
    if !damaged.is_empty() {
        for d in &damaged {
            warn!("CORRUPT: {d}");
        }
        return Ok(ExitCode::from(EXIT_REFUSED));
    }
    Ok(ExitCode::SUCCESS)
}

/// Who started the journal, when, under which configuration (R-AUD-1).
fn started_line(st: &recovery::Started) -> String {
    format!(
        "started {} by {}; configuration fingerprint {:016x}; client-order-id epoch {}",
        iso8601(st.start_ns),
        st.build_text(),
        st.config_hash,
        st.epoch
    )
}

/// One line for a record of an accepted journal loss.
fn describe_loss(seq: u64, payload: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(payload).unwrap_or_default();
    let by = &v["accepted_by"];
    format!(
        "journal loss accepted at record {seq} by {} (uid {}) on {}: {:?}; refused because: {}; kept through record {}{}; set aside: {}",
        by["user"].as_str().unwrap_or("?"),
        by["uid"],
        by["host"].as_str().unwrap_or("?"),
        v["reason"].as_str().unwrap_or(""),
        v["refused"].as_str().unwrap_or("?"),
        v["kept_through"],
        match v["restored_from_audit"].as_array() {
            Some(r) if r.len() == 2 => format!(", records {}..{} restored from the audit log", r[0], r[1]),
            _ => String::new(),
        },
        v["set_aside"]
            .as_array()
            .map(|a| a.iter().filter_map(|p| p.as_str()).collect::<Vec<_>>().join(", "))
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "nothing".into()),
    )
}

fn export(
    dir: &Path,
    filter: &Filter,
    format: execd::export::Format,
    with_fix: bool,
) -> Result<ExitCode, String> {
    // Frames are merged by time: each is written before the first journal row after it.
    let mut frames = std::collections::VecDeque::new();
    if with_fix {
        let stores = fix_frames::stores(dir);
        if !stores.is_empty() {
            let epoch = match recovery::journal_start(dir) {
                Ok(st) => st.epoch,
                Err(e) => return corrupt_exit(&e).ok_or_else(|| e.to_string()),
            };
            match fix_frames::rows(&stores, epoch) {
                Ok(rows) => frames.extend(rows),
                Err(e) => {
                    warn!("CORRUPT: {e}");
                    return Ok(ExitCode::from(EXIT_REFUSED));
                }
            }
        }
    }
    let stdout = std::io::stdout();
    let mut w = std::io::BufWriter::new(stdout.lock());
    let mut err: Option<std::io::Error> = None;
    // A reader that went away (`| head`) has what it wanted: stop at once, quietly.
    let check = |r: std::io::Result<()>, err: &mut Option<std::io::Error>| {
        if let Err(e) = r {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
            err.get_or_insert(e);
        }
    };
    let mut buf = Vec::new();
    let mut want_header = matches!(format, execd::export::Format::Csv);
    let r = replay(dir, |s| {
        if std::mem::take(&mut want_header) {
            check(writeln!(w, "{}", header()), &mut err);
        }
        buf.clear();
        rows(&s, &mut buf);
        for row in buf.iter().filter(|r| filter.keeps(r)) {
            while frames
                .front()
                .is_some_and(|f: &Row| f.time_ns <= row.time_ns)
            {
                let f = frames.pop_front().expect("a front");
                if err.is_none() && filter.keeps(&f) {
                    check(write_row(&mut w, &f, format), &mut err);
                }
            }
            if err.is_none() {
                check(write_row(&mut w, row, format), &mut err);
            }
        }
    })?;
    if let Err(code) = r {
        return Ok(code);
    }
    if want_header {
        check(writeln!(w, "{}", header()), &mut err);
    }
    for f in frames.iter().filter(|f| filter.keeps(f)) {
        if err.is_none() {
            check(write_row(&mut w, f, format), &mut err);
        }
    }
    check(w.flush(), &mut err);
    if let Some(e) = err {
        return Err(e.to_string());
    }
    Ok(ExitCode::SUCCESS)
}

fn dead_letters(dir: &Path) -> Result<ExitCode, String> {
    let mut open = Vec::new();
    let mut names = Vec::new();
    let r = replay(dir, |s| {
        // The queue changes only with these events: read it again only then.
        let touched = s.events.iter().any(|e| {
            matches!(
                e,
                CoreEvent::DeadLettered { .. } | CoreEvent::DeadLetterResolved { .. }
            )
        });
        if touched {
            open = s.engine.dead_letters().collect();
            names = s.engine.registry().venues.iter().map(|v| v.name).collect();
        }
    })?;
    if let Err(code) = r {
        return Ok(code);
    }
    say!("{} open dead letters", open.len());
    for d in &open {
        say!(
            "order {}  request {}  cl_ord_id {}  venue {}  {}  tries {}  since {}",
            d.order.0,
            if d.request_id.is_empty() {
                "-"
            } else {
                d.request_id.as_str()
            },
            d.cl_ord_id,
            names
                .get(d.venue.0 as usize)
                .map(|n| n.as_str())
                .unwrap_or("?"),
            d.reason.code(),
            d.attempts,
            iso8601(d.since_ns)
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn order_life(dir: &Path, id: &str, format: StoryFormat) -> Result<ExitCode, String> {
    let mut story = story::Story::new(id);
    let mut buf = Vec::new();
    let mut changed = false;
    let r = replay(dir, |s| {
        changed |= s.config.0 > 1;
        story.step(&s, &mut buf);
    })?;
    if let Err(code) = r {
        return Ok(code);
    }
    if story.order().is_none() && story.lines.is_empty() {
        warn!("execd-replay: no order {id} in {}", dir.display());
        return Ok(ExitCode::from(1));
    }
    story.finish();
    // The raw messages exchanged with the venue about it, from the FIX session stores.
    let stores = fix_frames::stores(dir);
    let mut frames = Vec::new();
    if story.order().is_some() {
        let epoch = recovery::journal_start(dir)
            .map_err(|e| e.to_string())?
            .epoch;
        // A bridge venue's REST and WebSocket messages about it, as its wire log kept them.
        let read = fix_frames::rows(&stores, epoch).and_then(|fix| {
            let bridge = fix_frames::bridge_rows(dir, epoch, |o| story.follows(o))?;
            Ok((fix, bridge))
        });
        match read {
            Ok((fix, bridge)) => {
                frames = fix
                    .into_iter()
                    .filter(|f| f.order.is_some_and(|x| story.follows(x)))
                    .collect();
                frames.extend(bridge);
            }
            Err(e) => {
                warn!("CORRUPT: {e}");
                return Ok(ExitCode::from(EXIT_REFUSED));
            }
        }
    }
    match format {
        StoryFormat::Text => {
            say!(
                "order {} ({} lines; `--format jsonl` for every field)",
                story.order().map(|o| o.to_string()).unwrap_or(id.into()),
                story.lines.len()
            );
            for l in story::text(&story.lines, changed) {
                say!("{l}");
            }
            let text = |f: &Row, k: &str| match f.fields.get(k) {
                Some(execd::export::Value::Text(t)) => t.clone(),
                _ => String::new(),
            };
            let (fix, bridge): (Vec<&Row>, Vec<&Row>) =
                frames.iter().partition(|f| f.kind == fix_frames::FIX_FRAME);
            if let (Some(o), false) = (story.order(), fix.is_empty()) {
                say!("FIX frames about order {o} ({}):", fix.len());
                for f in fix {
                    say!(
                        "{}  FIX {} {:<3} {}",
                        f.time,
                        text(f, "venue"),
                        f.state,
                        text(f, "frame")
                    );
                }
            }
            if let (Some(o), false) = (story.order(), bridge.is_empty()) {
                say!("venue messages about order {o} ({}):", bridge.len());
                for f in bridge {
                    say!(
                        "{}  {} {:<3} {}",
                        f.time,
                        text(f, "venue"),
                        f.state,
                        text(f, "payload")
                    );
                }
            }
        }
        StoryFormat::Jsonl => {
            let stdout = std::io::stdout();
            let mut w = std::io::BufWriter::new(stdout.lock());
            let mut all: Vec<&Row> = story.lines.iter().chain(frames.iter()).collect();
            // Frames in time order among the rest; the closing line stays last.
            all.sort_by_key(|r| (r.kind == story::FINAL, r.time_ns));
            for r in all {
                if let Err(e) = write_row(&mut w, r, execd::export::Format::Jsonl) {
                    if e.kind() == std::io::ErrorKind::BrokenPipe {
                        return Ok(ExitCode::SUCCESS);
                    }
                    return Err(e.to_string());
                }
            }
            w.flush().map_err(|e| e.to_string())?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn summarise(
    dir: &Path,
    from: Option<u64>,
    to: Option<u64>,
    format: SummaryFormat,
) -> Result<ExitCode, String> {
    let mut sum = summary::Summary::new(from, to);
    let mut buf = Vec::new();
    let r = replay(dir, |s| {
        buf.clear();
        rows(&s, &mut buf);
        for row in &buf {
            sum.add(row);
        }
    })?;
    if let Err(code) = r {
        return Ok(code);
    }
    sum.finish();
    match format {
        SummaryFormat::Text => {
            for l in sum.text() {
                say!("{l}");
            }
        }
        SummaryFormat::Json => say!("{}", sum.json()),
    }
    Ok(ExitCode::SUCCESS)
}

/// "2026-01-05T15:00:00Z" (optionally with fractional seconds) or plain Unix ns.
fn parse_time(s: &str) -> Result<u64, String> {
    if let Ok(ns) = s.parse::<u64>() {
        return Ok(ns);
    }
    execd::calendar::parse_rfc3339(s).ok_or_else(|| {
        format!("{s:?}: expected RFC 3339 UTC like 2026-01-05T15:00:00Z, or Unix nanoseconds")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use execd::calendar::unix_ns;

    #[test]
    fn times_round_trip() {
        let t = parse_time("2026-01-05T15:00:01.5Z").unwrap();
        assert_eq!(t, unix_ns(2026, 1, 5, 15, 0) + 1_500_000_000);
        assert_eq!(iso8601(t), "2026-01-05T15:00:01.500000000Z");
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(parse_time("123").unwrap(), 123);
        assert!(parse_time("yesterday").is_err());
        assert!(parse_time("2026-13-05T15:00:00Z").is_err());
        assert!(parse_time("99999999999-01-05T15:00:00Z").is_err());
        assert!(parse_time("-5-01-05T15:00:00Z").is_err());
    }
}
