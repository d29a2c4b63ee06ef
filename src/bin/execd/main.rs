//! The `execd` command line.

mod ctl;
mod demo;
mod flow;

use clap::{Parser, Subcommand};
use demo::DemoOptions;
use execd::config::Registry;
use execd::control::{self, ControlOptions};
use execd::core::latency_report;
use execd::core::recovery::{self, AcceptLoss};
use execd::core::RealClock;
use execd::core::{spawn, CoreOptions};
use execd::entry;
use execd::model::order_state::OrderState;
use execd::venue::fix::dictionary::{self, Dictionary};
use execd::venue::fix::settings::DictionaryFiles;
use flow::FlowOptions;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Exit code of a run that stopped but needs a human: OMS or FIX anomalies, orders whose
/// outcome is still unknown, fills only a status answer told, slippage breaches, an
/// audit log that failed.
const EXIT_PROBLEMS: u8 = 3;

/// Most requests `demo` or `run --orders` take: more is a typo, not a test (10 M
/// requests take the demo about 20 s here; the paced flow, hours).
const MAX_ORDERS: u64 = 10_000_000;

/// Highest request rate `run --orders` paces at, per second.
const MAX_RATE: u32 = 100_000;

/// One line on standard error that a closed stderr cannot turn into a panic.
macro_rules! note {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($t)*);
    }};
}

/// Text on standard output. A reader that went away (`| head`, `| true`) is not an
/// error worth a panic: the rest is dropped, and the command finishes with the exit code
/// that says how it went.
fn say(text: &str) {
    use std::io::Write as _;
    let mut o = std::io::stdout().lock();
    let _ = o.write_all(text.as_bytes()).and_then(|()| o.flush());
}

#[derive(Parser)]
#[command(
    name = "execd",
    version,
    about = "Order-execution core for co-located trading"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Drive synthetic execution requests through the core to the paper venue and summarise.
    Demo {
        /// Requests to generate (1 to 10 000 000).
        #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..=MAX_ORDERS))]
        orders: u64,
        /// Seed for the workload and the venue: same seed, same summary.
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Configuration file (default: the built-in paper configuration).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Journal into this directory; on an existing journal, carry on after its last request.
        #[arg(long)]
        journal: Option<PathBuf>,
        /// Start on a journal that would be refused (records lost, altered, an audit log
        /// ahead of it), keeping what can be trusted and setting the rest aside; the
        /// reason, who gave it and what was done are journaled.
        #[arg(long, value_name = "REASON", value_parser = reason)]
        accept_journal_loss: Option<String>,
    },
    /// Run the daemon until SIGINT or SIGTERM.
    Run {
        /// Configuration file (default: the built-in paper configuration).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Journal directory: recovered from at start, appended to while running.
        #[arg(long)]
        journal: Option<PathBuf>,
        /// Start on a journal that would be refused (records lost, altered, an audit log
        /// ahead of it), keeping what can be trusted and setting the rest aside; the
        /// reason, who gave it and what was done are journaled.
        #[arg(long, value_name = "REASON", value_parser = reason)]
        accept_journal_loss: Option<String>,
        /// Send this many synthetic limit orders (0 to 10 000 000, with cancels and
        /// amends) once the venue is logged on, and print what became of them.
        #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=MAX_ORDERS))]
        orders: u64,
        /// Requests per second for --orders (1 to 100 000).
        #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=MAX_RATE as i64))]
        rate: u32,
        /// Seed for --orders.
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Venue for --orders (default: the first configured).
        #[arg(long)]
        venue: Option<String>,
        /// --orders with protection: stop-loss and take-profit this far from the fill,
        /// in percent (`2,3`: a buy's stop-loss 2 % under, its take-profit 3 % over).
        #[arg(long, value_name = "SL%,TP%", value_parser = protect_pct)]
        protect: Option<(u32, u32)>,
        /// Seconds --orders waits for its venue to log on before it gives up (1 to 3 600).
        #[arg(long, value_name = "SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
        logon_wait: u64,
        /// Stop after the --orders flow has finished instead of running on.
        #[arg(long)]
        exit: bool,
        /// Serve the HTTP control API on ADDR (default: [api] listen in the
        /// configuration, 127.0.0.1:8080); `off` serves none. Beyond loopback only with a
        /// token in EXECD_API_TOKEN.
        #[arg(long, value_name = "ADDR|off")]
        listen: Option<String>,
        /// At exit, write each core stage's latency histogram, each submit → its fill
        /// delivered, the socket read that brought that fill → its delivery, and each FIX
        /// venue's order written → fill read, into DIR as
        /// HdrHistogram `.hgrm` text (µs);
        /// `cargo run --example latency_plot -- DIR` draws them (benches/README.md).
        #[arg(long, value_name = "DIR")]
        latency_report: Option<PathBuf>,
    },
    /// Talk to a running `execd run` over its HTTP control API: submit, cancel, kill
    /// switches, modes, health (exit 0 done, 1 refused or rejected, 2 usage or no
    /// connection).
    Ctl(ctl::CtlArgs),
    /// Check a configuration file and name the offending key on error; for FIX venues,
    /// load each dictionary and say what its overlays add, change or remove.
    CheckConfig {
        /// The file.
        file: PathBuf,
    },
    /// Write a FIX dictionary in the QuickFIX XML form (what QuickFIX loads as its
    /// DataDictionary): a built-in version (FIX.4.2, FIX.4.4, FIXT.1.1, FIX.5.0SP2) or
    /// a file, with overlays applied.
    Dictionary {
        /// The base: a built-in version or a QuickFIX-format XML file.
        base: String,
        /// Overlays to apply, in order.
        #[arg(long = "overlay")]
        overlays: Vec<PathBuf>,
        /// Write here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// An operator's reason for `--accept-journal-loss`: journaled, so one bounded line.
fn reason(s: &str) -> Result<String, String> {
    recovery::check_reason(s).map_err(str::to_string)?;
    Ok(s.trim().to_string())
}

fn load(path: &Option<PathBuf>) -> Result<Registry, String> {
    match path {
        Some(p) => Registry::load(p).map_err(|e| format!("{}: {e}", p.display())),
        None => Ok(Registry::default_paper()),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Demo {
            orders,
            seed,
            config,
            journal,
            accept_journal_loss,
        } => {
            let reg = match load(&config) {
                Ok(r) => r,
                Err(e) => return fail(&e),
            };
            if let Err(e) = accept_loss(journal.as_deref(), &reg, accept_journal_loss) {
                return fail(&e);
            }
            let opts = DemoOptions {
                orders,
                seed,
                journal,
            };
            match demo::run(reg, &opts) {
                Ok(done) => {
                    say(&done.summary);
                    let mut status = ExitCode::SUCCESS;
                    if let Some(why) = done.audit_failure {
                        note!("execd: the audit log failed during the demo: {why}; orders after that were refused (AUDIT_FAILED)");
                        status = ExitCode::from(EXIT_PROBLEMS);
                    }
                    if !done.journal_refused.is_none() {
                        note!(
                            "execd: the journal refused writes: {}",
                            done.journal_refused
                        );
                        status = ExitCode::from(EXIT_PROBLEMS);
                    }
                    if done.anomalies > 0 {
                        note!("execd: {} OMS anomalies in the demo (events the order state machine refused; `anomalies` above)", done.anomalies);
                        status = ExitCode::from(EXIT_PROBLEMS);
                    }
                    status
                }
                Err(e) => fail(&e),
            }
        }
        Cmd::Run {
            config,
            journal,
            accept_journal_loss,
            orders,
            rate,
            seed,
            venue,
            protect,
            logon_wait,
            exit,
            listen,
            latency_report,
        } => match load(&config) {
            Ok(reg) => {
                let api = match api_options(&reg, listen.as_deref()) {
                    Ok(a) => a,
                    Err(e) => return fail(&e),
                };
                let journal = journal.or_else(|| reg.config.journal.dir.clone().map(PathBuf::from));
                if let Err(e) = accept_loss(journal.as_deref(), &reg, accept_journal_loss) {
                    return fail(&e);
                }
                let flow = (orders > 0).then_some(FlowOptions {
                    orders,
                    rate,
                    seed,
                    venue,
                    logon_wait: Duration::from_secs(logon_wait),
                    protect,
                });
                run(reg, journal, flow, exit, api, latency_report)
            }
            Err(e) => fail(&e),
        },
        Cmd::Ctl(args) => ctl::run(args),
        Cmd::CheckConfig { file } => match Registry::load(&file) {
            Ok(r) => {
                let mut report = Vec::new();
                let api = &r.config.api;
                if api.enabled {
                    // Checked at load: an address. Beyond loopback it needs the token.
                    let local = api
                        .listen
                        .parse::<SocketAddr>()
                        .is_ok_and(|a| a.ip().is_loopback());
                    let token = match control::token_from_env() {
                        Ok(t) => t.is_some(),
                        Err(e) => return fail(&format!("{}: api: {e}", file.display())),
                    };
                    if !local && !token {
                        return fail(&format!(
                            "{}: api.listen: {:?} is beyond loopback and {} is not set: execd run would refuse to start",
                            file.display(),
                            api.listen,
                            control::TOKEN_ENV
                        ));
                    }
                    report.push(format!(
                        "control API on {} ({})",
                        api.listen,
                        if token {
                            format!("token from {} (set)", control::TOKEN_ENV)
                        } else {
                            "no token: loopback only".to_string()
                        }
                    ));
                } else {
                    report.push("control API off ([api] enabled = false)".to_string());
                }
                for (i, v) in r.venues.iter().enumerate() {
                    // The secret must be there when the daemon starts; its value is not shown.
                    if let Some(var) = v.fix.as_ref().and_then(|f| f.password_env.as_ref()) {
                        if let Err(e) = execd::secret::Secret::from_env(var) {
                            return fail(&format!(
                                "{}: venues[{i}].fix.PasswordEnv: {e}",
                                file.display()
                            ));
                        }
                        report.push(format!(
                            "venue {}: password from {var} (set)",
                            v.name.as_str()
                        ));
                    }
                    let Some(files) = v
                        .fix
                        .as_ref()
                        .and_then(|f| f.dictionary.as_ref().map(|d| (d, f)))
                    else {
                        continue;
                    };
                    match fix_dictionary_report(files.0, &files.1.overlays) {
                        Ok(lines) => {
                            report.push(format!("venue {}:", v.name.as_str()));
                            report.extend(lines.into_iter().map(|l| format!("  {l}")));
                        }
                        Err(e) => {
                            return fail(&format!("{}: venues[{i}].fix: {e}", file.display()))
                        }
                    }
                }
                for (i, e) in r.order_entry.iter().enumerate() {
                    // The secret must be there when the daemon starts; its value is not shown.
                    let pw = match e.password() {
                        Ok(p) => p,
                        Err((k, m)) => {
                            return fail(&format!(
                                "{}: order_entry[{i}].fix.{k}: {m}",
                                file.display()
                            ))
                        }
                    };
                    report.push(format!(
                        "order entry {}: {}:{} as {} for {} ({}), account {}, venue {}, risk {}{}{}",
                        e.name,
                        e.host,
                        e.port,
                        e.session.sender_comp_id,
                        e.session.target_comp_id,
                        e.session.begin_string,
                        e.account,
                        e.venue,
                        if e.risk_approved {
                            "approved by the session"
                        } else {
                            "not approved (the gate refuses every order)"
                        },
                        e.username
                            .as_ref()
                            .map(|u| format!(", Username {u}"))
                            .unwrap_or_default(),
                        match (&e.password_env, pw) {
                            (Some(v), Some(_)) => format!(", password from {v} (set)"),
                            _ => ", no password".to_string(),
                        }
                    ));
                    if let Some(files) = &e.dictionary {
                        match fix_dictionary_report(files, &e.overlays) {
                            Ok(lines) => report.extend(lines.into_iter().map(|l| format!("  {l}"))),
                            Err(err) => {
                                return fail(&format!(
                                    "{}: order_entry[{i}].fix.{}: {err}",
                                    file.display(),
                                    dictionary_key(files, &err)
                                ))
                            }
                        }
                    }
                }
                say(&format!(
                    "{}: ok ({} venues, {} instruments, {} accounts{})\n",
                    file.display(),
                    r.venues.len(),
                    r.instruments.len(),
                    r.accounts.len(),
                    match r.order_entry.len() {
                        0 => String::new(),
                        n => format!(", {n} order-entry sessions"),
                    }
                ));
                for l in report {
                    say(&format!("{l}\n"));
                }
                ExitCode::SUCCESS
            }
            Err(e) => fail(&format!("{}: {e}", file.display())),
        },
        Cmd::Dictionary {
            base,
            overlays,
            out,
        } => {
            let ov: Vec<&std::path::Path> = overlays.iter().map(PathBuf::as_path).collect();
            let d = match base.as_str() {
                "FIX.5.0SP2" => Dictionary::open_fixt("FIXT.1.1", &base, &ov),
                b => Dictionary::open(b, &ov),
            };
            let d = match d {
                Ok(d) => d,
                Err(e) => return fail(&e.to_string()),
            };
            match out {
                None => {
                    say(d.merged_xml());
                    ExitCode::SUCCESS
                }
                Some(p) => match std::fs::write(&p, d.merged_xml()) {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(e) => fail(&format!("{}: {e}", p.display())),
                },
            }
        }
    }
}

/// An operator's `--accept-journal-loss REASON`, carried out before the core starts:
/// says what was refused and what was kept, restored and set aside (all of it also in
/// the journal's record of it). Without a journal it means nothing, and says so.
fn accept_loss(
    journal: Option<&std::path::Path>,
    reg: &Registry,
    reason: Option<String>,
) -> Result<(), String> {
    let Some(reason) = reason else { return Ok(()) };
    let Some(dir) = journal else {
        return Err("--accept-journal-loss needs a journal (--journal DIR)".into());
    };
    let size = (reg.config.journal.segment_kb as usize) << 10;
    match recovery::accept_loss(dir, size, &AcceptLoss { reason }) {
        Ok(Some(a)) => {
            note!(
                "execd: {}: journal loss accepted, journaled as record {}: it was refused because {}; kept through record {}{}; set aside (renamed, not deleted): {}",
                dir.display(),
                a.record,
                a.refused,
                a.kept_through,
                match a.restored {
                    Some((from, to)) => format!(", records {from}..{to} restored from the audit log"),
                    None => String::new(),
                },
                if a.set_aside.is_empty() {
                    "nothing".to_string()
                } else {
                    a.set_aside
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            );
            Ok(())
        }
        Ok(None) => {
            note!(
                "execd: --accept-journal-loss: the journal in {} is not refused; nothing was done",
                dir.display()
            );
            Ok(())
        }
        Err(e) => Err(format!("cannot start: {}: {e}", dir.display())),
    }
}

/// Loads a FIX venue's dictionary the way the venue will, and says what it is made of.
fn fix_dictionary_report(
    files: &DictionaryFiles,
    overlays: &[String],
) -> Result<Vec<String>, String> {
    let ov: Vec<&std::path::Path> = overlays.iter().map(std::path::Path::new).collect();
    let r = match files {
        DictionaryFiles::Single(base) => dictionary::describe(base, None, &ov),
        DictionaryFiles::Fixt { transport, app } => dictionary::describe(transport, Some(app), &ov),
    };
    r.map_err(|e| e.to_string())
}

/// One line per order-entry session, as the daemon stops.
fn print_entry_report(r: &entry::EntryReport) {
    for d in &r.desks {
        let s = &d.stats;
        note!(
            "execd: order entry {}: next sequence numbers out {} in {}; {} logons, {} refused logons, {} orders, {} cancels/replaces, {} status requests, {} quotes, {} reports sent, {} refused messages, {} invalid, {} PossDup repeats ignored, {} resubmitted after a restart, {} orders remembered, {} report overflows rebuilt{}",
            d.name,
            d.seqs.next_out,
            d.seqs.next_in,
            s.logons,
            s.refused,
            s.orders,
            s.amends,
            s.status_requests,
            s.quotes,
            s.reports,
            s.refusals,
            s.invalid,
            s.duplicates_ignored,
            s.resubmitted,
            d.orders,
            s.resyncs,
            if d.log_errors + d.store_errors > 0 {
                format!(
                    "; {} order-log appends and {} session-store writes FAILED",
                    d.log_errors, d.store_errors
                )
            } else {
                String::new()
            }
        );
    }
    note!(
        "execd: order entry: {} connections accepted, {} refused before a session took them; client input held back {} times while the core's ring was full",
        r.connections, r.refused, r.held_back
    );
}

/// Which dictionary key a loading error is about: the file it names, else the overlays.
fn dictionary_key(files: &DictionaryFiles, err: &str) -> &'static str {
    match files {
        DictionaryFiles::Single(base) if err.contains(base.as_str()) => "DataDictionary",
        DictionaryFiles::Fixt { transport, .. } if err.contains(transport.as_str()) => {
            "TransportDataDictionary"
        }
        DictionaryFiles::Fixt { app, .. } if err.contains(app.as_str()) => "AppDataDictionary",
        _ => "DictionaryOverlays",
    }
}

/// Where and how to serve the control API: `--listen` over `[api]`; `None` = off. The
/// token comes from the environment; beyond loopback without one is refused.
fn api_options(reg: &Registry, listen: Option<&str>) -> Result<Option<ControlOptions>, String> {
    let addr = match listen {
        Some(l) if l.eq_ignore_ascii_case("off") => return Ok(None),
        Some(l) => l.parse::<SocketAddr>().map_err(|_| {
            format!("--listen {l:?}: expected an address and port like 127.0.0.1:8080, or off")
        })?,
        None if !reg.config.api.enabled => return Ok(None),
        // Checked when the configuration was loaded.
        None => reg
            .config
            .api
            .listen
            .parse::<SocketAddr>()
            .map_err(|_| format!("api.listen {:?} is not an address", reg.config.api.listen))?,
    };
    let token = control::token_from_env()?;
    control::check_listen(&addr, &token)?;
    Ok(Some(ControlOptions::new(addr, token)))
}

fn fail(msg: &str) -> ExitCode {
    note!("execd: {msg}");
    ExitCode::from(2)
}

/// Producer indices of `execd run`, fixed so a journal's orders find their way back to
/// the same producer after a restart: 0 the in-process order flow, 1 the order-entry
/// gateway (an idle ring when none is configured), 2 the control API.
const PRODUCERS: usize = 3;
const ENTRY_PRODUCER: usize = 1;
const CONTROL_PRODUCER: usize = 2;

fn run(
    reg: Registry,
    journal: Option<PathBuf>,
    flow: Option<FlowOptions>,
    exit: bool,
    api: Option<ControlOptions>,
    latency_report: Option<PathBuf>,
) -> ExitCode {
    // Found now, not after the whole run: a report directory that cannot be made.
    if let Some(dir) = &latency_report {
        if let Err(e) = std::fs::create_dir_all(dir) {
            return fail(&format!("--latency-report {}: {e}", dir.display()));
        }
    }
    // Set by a signal only; `term` also by the end of a flow with --exit.
    let signalled = Arc::new(AtomicBool::new(false));
    let term = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // A second signal while stopping exits at once (the operator means it): what
        // was acknowledged is in the journal already, whose pages belong to the kernel,
        // and the next start copies it into the audit log. Registered first, so the
        // first signal finds the flag unset and only sets it.
        if let Err(e) = signal_hook::flag::register_conditional_shutdown(
            sig,
            i32::from(EXIT_PROBLEMS),
            signalled.clone(),
        )
        .and_then(|_| signal_hook::flag::register(sig, signalled.clone()))
        .and_then(|_| signal_hook::flag::register(sig, term.clone()))
        {
            return fail(&format!("cannot install signal handler: {e}"));
        }
    }
    // Seconds since the epoch: distinct per start, so client order ids never repeat.
    let epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as u32)
        .unwrap_or(1);
    let reg = Arc::new(reg);
    let opts = CoreOptions {
        idle: reg.core.idle,
        idle_yield: Duration::from_micros(reg.core.idle_yield_us),
        pin_core: reg.core.pin_core,
        clock: Box::new(RealClock::new()),
        simulated: false,
        epoch,
        grace: Duration::from_secs(5),
        journal: journal.clone(),
    };
    let (core, mut handles) = match spawn(reg.clone(), opts, PRODUCERS) {
        Ok(x) => x,
        Err(e) => return fail(&format!("cannot start: {e}")),
    };
    // Unused producers keep their handles, drained below: the core tells every producer
    // of kill switches and modes, and an undrained ring would hold those forever.
    let control_handle = handles.remove(CONTROL_PRODUCER);
    let entry_handle = handles.remove(ENTRY_PRODUCER);
    let mut idle = Vec::new();
    let gateway = if reg.order_entry.is_empty() {
        idle.push(entry_handle);
        None
    } else {
        match entry::start(reg.clone(), entry_handle, journal.as_deref()) {
            Ok(g) => Some(g),
            Err(e) => {
                core.shutdown();
                return fail(&format!("cannot start: {e}"));
            }
        }
    };
    let control = match api {
        None => {
            idle.push(control_handle);
            None
        }
        Some(mut opts) => {
            opts.journal = journal.clone();
            let secured = opts.token.is_some();
            opts.metrics = Some(core.metrics());
            match control::start(reg.clone(), control_handle, opts) {
                Ok(c) => {
                    note!(
                        "execd: control API on http://{} ({})",
                        c.addr(),
                        if secured {
                            "a bearer token from EXECD_API_TOKEN is required"
                        } else {
                            "no token: open to local users only"
                        }
                    );
                    Some(c)
                }
                Err(e) => {
                    if let Some(g) = gateway {
                        let _ = g.stop();
                    }
                    core.shutdown();
                    return fail(&format!("cannot start: {e}"));
                }
            }
        }
    };
    if let (Some(r), Some(dir)) = (core.recovered(), &journal) {
        note!(
            "execd: journal {}: {} records, {} commands replayed, {} orders in flight queued for reconciliation{}",
            dir.display(),
            r.journal.records,
            r.commands,
            r.in_flight,
            match r.journal.torn {
                Some((seg, off)) => format!("; a torn record at segment {seg} byte {off} was cut off"),
                None => String::new(),
            }
        );
        if let Some(seq) = r.config_changed {
            note!(
                "execd: journal {}: the configuration changed: configuration {} applies from record {seq} on (`execd-replay configs` lists them)",
                dir.display(),
                r.configs
            );
        }
    }
    note!(
        "execd: running ({} venues, {} instruments, {} accounts); SIGINT or SIGTERM stops",
        reg.venues.len(),
        reg.instruments.len(),
        reg.accounts.len()
    );
    let mut status = ExitCode::SUCCESS;
    // What went wrong outside the engine's own counts (a flow that failed, a part that
    // did not stop, writes the disk refused): the last line names it, and the exit
    // status is not 0.
    let mut failed: Vec<String> = Vec::new();
    if let Some(f) = flow {
        note!(
            "execd: order flow: {} requests at {} per second (about {} s once the venue is up)",
            f.orders,
            f.rate,
            f.orders / u64::from(f.rate.max(1))
        );
        match flow::run(&reg, &mut handles[0], &f, &term) {
            // Orders the flow left working at a venue (GTC, known) are not a failure, as
            // a daemon stopped with orders working is not: the verdict counts them, and
            // any whose outcome is unknown is a problem there.
            Ok(r) => say(&r.summary()),
            Err(e) => {
                note!("execd: order flow: {e}");
                failed.push(format!("the order flow: {e}"));
                status = ExitCode::from(1);
            }
        }
        if exit {
            term.store(true, Ordering::Release);
        }
    }
    while !term.load(Ordering::Acquire)
        && !core.is_finished()
        && !gateway.as_ref().is_some_and(|g| g.is_finished())
        && !control.as_ref().is_some_and(|c| c.is_finished())
    {
        // The in-process handle is idle once the flow is done; keep its ring drained.
        for h in handles.iter_mut().chain(idle.iter_mut()) {
            while h.try_event().is_some() {}
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    if !term.load(Ordering::Acquire) {
        // Nobody asked it to stop: a part of it ended on its own, and a supervisor must
        // see a failure to restart it.
        let what = if core.is_finished() {
            "the core thread ended"
        } else if gateway.as_ref().is_some_and(|g| g.is_finished()) {
            "order entry ended"
        } else {
            "the control API ended"
        };
        note!("execd: stopping without a signal: {what}");
        failed.push(format!("stopped without a signal: {what}"));
        status = ExitCode::from(1);
    }
    // The control API stops first: no new commands, in-flight requests answered while
    // the core still runs.
    if let Some(c) = control {
        note!("execd: stopping: the control API answers what is in flight and closes");
        match c.stop() {
            Ok(r) => note!(
                "execd: control API: {} requests (health checks aside), {} commands to the core, {} refused while its ring was full, {} unanswered, {} repeated request ids answered with the first order, {} refused for a different payload",
                r.requests,
                r.link.commands,
                r.link.busy,
                r.link.unanswered,
                r.link.duplicates,
                r.link.conflicts
            ),
            Err(e) => {
                note!("execd: {e}");
                failed.push(format!("the control API: {e}"));
                status = ExitCode::from(1);
            }
        }
    }
    if let Some(g) = gateway {
        note!("execd: stopping: logging order-entry clients out");
        match g.stop() {
            Ok(r) => {
                print_entry_report(&r);
                let lost: u64 = r.desks.iter().map(|d| d.log_errors + d.store_errors).sum();
                if lost > 0 {
                    failed.push(format!("order entry: {lost} writes to disk refused"));
                }
            }
            Err(e) => {
                note!("execd: {e}");
                failed.push(format!("order entry: {e}"));
                status = ExitCode::from(1);
            }
        }
    }
    note!("execd: stopping: draining rings and in-flight orders");
    let report = core.shutdown();
    let s = &report.engine.stats();
    if let (Some(a), Some(dir)) = (report.audit, &journal) {
        note!(
            "execd: audit log {}: {} records copied this run (through sequence {}), {} files",
            dir.join("audit").display(),
            a.records,
            a.last_seq,
            a.files
        );
    }
    for (i, v) in reg.venues.iter().enumerate() {
        if let Some(f) = report.engine.venue(i).fix() {
            let (st, q) = (f.stats(), f.seqs());
            note!(
                "execd: fix venue {}: next sequence numbers out {} in {}; {} logons, {} sent, {} received, {} anomalies, {} invalid, {} unsent, {} status requests, {} position reports, {} requests unsupported, {} reports for orders it has no record of{}",
                v.name.as_str(),
                q.next_out,
                q.next_in,
                st.logons,
                st.sent,
                st.received,
                st.anomalies,
                st.invalid,
                st.unsent,
                st.status_requests,
                st.position_reports,
                st.unsupported,
                st.unknown_orders,
                if st.store_errors > 0 {
                    format!("; {} session-store writes FAILED", st.store_errors)
                } else {
                    String::new()
                }
            );
            if st.store_errors > 0 {
                failed.push(format!(
                    "fix venue {}: {} session-store writes refused",
                    v.name.as_str(),
                    st.store_errors
                ));
            }
            let md = st.market_data;
            if md.requests > 0 {
                note!(
                    "execd: fix venue {}: market data: {} requests, {} instruments refused, {} refreshes, {} malformed, {} quotes, {} conflated",
                    v.name.as_str(),
                    md.requests,
                    md.refused,
                    md.refreshes,
                    md.malformed,
                    md.quotes,
                    st.quotes_conflated
                );
            }
        }
    }
    let fix_anomalies: u64 = (0..reg.venues.len())
        .filter_map(|i| report.engine.venue(i).fix().map(|f| f.stats().anomalies))
        .sum();
    let (mut unknown_outcome, mut working) = (0u64, 0u64);
    // Never seen by the venue: a known outcome, kept for an operator (R-RES-3).
    let dead_letters = report.engine.dead_letters().count() as u64;
    for o in report.engine.book().iter() {
        let st = o.state();
        if report.engine.dead_letters().any(|d| d.order == o.id()) {
            continue;
        }
        if matches!(
            st,
            OrderState::PendingNew
                | OrderState::PendingCancel
                | OrderState::PendingReplace
                | OrderState::TimedOut
        ) {
            unknown_outcome += 1;
        } else if st.is_working() {
            working += 1;
        }
    }
    if let Some(why) = &report.audit_failure {
        note!("execd: the audit log failed: {why}; records from then on reached no audit log and new orders were refused (AUDIT_FAILED)");
    }
    // Positions and the latency report before the verdict, so that it is the last line.
    position_lines(&report.engine);
    balance_lines(&report.engine);
    if let Some(dir) = &latency_report {
        let venues = reg.venues.iter().enumerate().filter_map(|(i, v)| {
            let f = report.engine.venue(i).fix()?;
            Some((
                format!("wire-to-fill-{}", v.name.as_str()),
                f.wire_to_fill().histogram(),
            ))
        });
        let hists = latency_report::stages(&report.latency).chain(venues);
        match latency_report::write_dir(dir, hists) {
            Ok(files) => note!(
                "execd: latency report: {} histograms (.hgrm, µs) in {}",
                files.len(),
                dir.display()
            ),
            Err(e) => {
                note!("execd: latency report {}: {e}", dir.display());
                failed.push(format!("the latency report: {e}"));
                status = ExitCode::from(1);
            }
        }
    }
    let refused = &report.journal_refused;
    if !refused.is_none() {
        note!("execd: the journal refused writes: {refused}");
        failed.push("the journal refused writes".into());
    }
    // Each of these needs a human: the run did not end the way it should have.
    let problems = u64::from(report.audit_failure.is_some())
        + refused.commands
        + refused.records
        + u64::from(refused.sync.is_some())
        + s.anomalies
        + fix_anomalies
        + unknown_outcome
        + dead_letters
        + s.recovered_fills
        + s.slippage_breaches
        + s.unknown_order_events;
    let how = if failed.is_empty() {
        String::new()
    } else {
        format!(" ({})", failed.join("; "))
    };
    note!(
        "execd: stopped {}{how}: {} submitted, {} accepted, {} rejected, {} fills ({} late); {} OMS anomalies, {} FIX anomalies, {} unfinished orders (outcome unknown), {} dead letters (never delivered, kept for an operator), {} recovered fills, {} reports for unknown orders, {} slippage breaches; {} orders still working at venues",
        if problems == 0 && failed.is_empty() {
            "cleanly"
        } else {
            "with problems"
        },
        s.submitted,
        s.accepted,
        s.rejected,
        s.fills,
        s.late_fills,
        s.anomalies,
        fix_anomalies,
        unknown_outcome,
        dead_letters,
        s.recovered_fills,
        s.unknown_order_events,
        s.slippage_breaches,
        working,
    );
    if (problems > 0 || !failed.is_empty()) && status == ExitCode::SUCCESS {
        return ExitCode::from(EXIT_PROBLEMS);
    }
    status
}

/// `SL%,TP%` for --protect: two whole percentages, each 1 to 50.
fn protect_pct(s: &str) -> Result<(u32, u32), String> {
    let pct = |v: &str| match v.trim().parse::<u32>() {
        Ok(p) if (1..=50).contains(&p) => Ok(p),
        _ => Err(format!("{v:?} is not a whole percentage from 1 to 50")),
    };
    let (sl, tp) = s.split_once(',').ok_or("expected SL%,TP% such as 2,3")?;
    Ok((pct(sl)?, pct(tp)?))
}

/// One line per asset balance a venue holds (Binance): as the venue last said it, its
/// change since execd first heard it, and the change execd's own fills and commissions
/// made (a reconciliation compares the two).
fn balance_lines(e: &execd::core::Engine) {
    use execd::model::fixed::Fixed;
    use execd::venue::ASSET_SCALE as A;
    let reg = e.registry();
    for v in &reg.venues {
        for h in e.holdings(v.id) {
            note!(
                "execd: balance {} {} {}: free {} locked {}{}",
                v.name,
                reg.accounts
                    .get(h.account.0 as usize)
                    .map_or("?", |a| a.name.as_str()),
                h.asset,
                Fixed(h.free, A),
                Fixed(h.locked, A),
                if h.wallet {
                    " (wallet)".to_string()
                } else {
                    format!(
                        ", change {} at the venue, {} by execd's fills (fees {})",
                        Fixed(h.venue_change(), A),
                        Fixed(h.moved, A),
                        Fixed(h.fees, A)
                    )
                }
            );
        }
    }
}

/// One line per position with activity: net, average entry, realised P&L and the
/// unrealised P&L at the mid of the latest quote (`GET /v1/positions` values it the
/// same way).
fn position_lines(e: &execd::core::Engine) {
    use execd::model::fixed::{Fixed, Price, MONEY_SCALE};
    let reg = e.registry();
    for a in &reg.accounts {
        for i in &reg.instruments {
            let p = e.position(a.id, i.id);
            if p.net.0 == 0 && p.realised.0 == 0 {
                continue;
            }
            let q = &e.gate().quotes[i.id.0 as usize];
            let unrealised = if q.bid.0 > 0 && q.ask.0 > 0 {
                format!(
                    "unrealised {} at the mid {}",
                    Fixed(p.unrealised(i, Price(q.mid())).0, MONEY_SCALE),
                    Fixed(q.mid(), i.price_scale)
                )
            } else {
                "unrealised unknown (no two-sided quote)".into()
            };
            note!(
                "execd: position {} {}: net {} @ {}, realised {}, {unrealised}",
                a.name,
                i.symbol,
                Fixed(p.net.0, i.qty_scale),
                Fixed(p.avg_entry().0, i.price_scale),
                Fixed(p.realised.0, MONEY_SCALE)
            );
        }
    }
}
