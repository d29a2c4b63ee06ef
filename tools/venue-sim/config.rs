//! Command line and `--config sim.toml`: every flag has a TOML key of the same name
//! (dashes or underscores); a flag given on the command line wins over the file.

use clap::Parser;
use execd::model::fixed::Dec;
use serde::Deserialize;
use std::path::PathBuf;
use std::sync::Arc;

use crate::engine::{Policy, SimConfig, SCALE};

/// The venue simulator: a FIX acceptor that fills, rests, rejects or echoes orders.
#[derive(Parser, Debug, Default)]
#[command(name = "execd-venue-sim", version, about)]
pub struct Cli {
    /// TOML file with any of the keys below (flags given here override it).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// TCP port on 127.0.0.1 (0 = any free port, printed in the `listening` line).
    #[arg(long)]
    pub port: Option<u16>,
    /// Our SenderCompID.
    #[arg(long)]
    pub sender: Option<String>,
    /// Accept only these peer CompIDs (repeatable, or comma-separated): the
    /// counterparties this acceptor has sessions for. Default: any, except under
    /// `--policy echo`, which plays QuickFIX's acceptance-test acceptor and has its
    /// sessions (TW42, TW44, TW50SP2).
    #[arg(long, value_delimiter = ',')]
    pub target: Vec<String>,
    /// Accept only this BeginString (FIX.4.2, FIX.4.4, FIXT.1.1; default: any of them).
    #[arg(long)]
    pub begin: Option<String>,
    /// Directory for sequence numbers and sent messages (default: memory only).
    #[arg(long)]
    pub store: Option<PathBuf>,
    /// fill | partial | book | echo.
    #[arg(long)]
    pub policy: Option<String>,
    /// Pieces per order under `--policy partial`.
    #[arg(long)]
    pub partial_pieces: Option<u32>,
    /// Microseconds between pieces under `--policy partial`.
    #[arg(long)]
    pub partial_interval_us: Option<u64>,
    /// Seed of the price path.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Price every symbol's path starts at.
    #[arg(long)]
    pub start_price: Option<String>,
    /// Milliseconds per price-path step.
    #[arg(long)]
    pub tick_ms: Option<u64>,
    /// Largest move per step, in basis points (uniform in ±this).
    #[arg(long)]
    pub volatility_bps: Option<f64>,
    /// Market orders under `--policy book` fill this many bps worse than the path.
    #[arg(long)]
    pub slippage_bps: Option<u32>,
    /// Reject new orders for this symbol (repeatable).
    #[arg(long = "reject-symbol")]
    pub reject_symbol: Vec<String>,
    /// Reject new orders with OrderQty above this.
    #[arg(long)]
    pub reject_qty_above: Option<String>,
    /// Reject every Nth new order (1 = all).
    #[arg(long)]
    pub reject_every: Option<u64>,
    /// Delay before each answer, in microseconds.
    #[arg(long)]
    pub latency_us: Option<u64>,
    /// Commission (12, CommType 13=3 absolute) per fill in bps of its notional.
    #[arg(long)]
    pub commission_bps: Option<u32>,
    /// Busy-poll (zero poll timeout): lowest latency, one core at 100 %.
    #[arg(long)]
    pub spin: bool,
    /// Run without reading control commands from stdin (stop with SIGTERM/SIGINT).
    #[arg(long)]
    pub no_stdin: bool,
    /// Log every inbound and outbound message on stderr.
    #[arg(long)]
    pub verbose: bool,
    /// Start both sequence numbers at 1 on every Logon (QuickFIX's ResetOnLogon=Y): a
    /// counterparty that reconnects does not resume its old sequence.
    #[arg(long)]
    pub reset_on_logon: bool,
    /// Disconnect a client whose unread output exceeds this many bytes.
    #[arg(long)]
    pub max_write_buffer: Option<usize>,
    /// HeartBtInt to use if the Logon carries none.
    #[arg(long)]
    pub heartbeat_secs: Option<u32>,
    /// Seconds a connection has to complete a valid Logon before it is closed.
    #[arg(long)]
    pub logon_timeout_secs: Option<u32>,
    /// Counterparties remembered at once; the least recently used one that is not
    /// connected is forgotten to make room for a new one.
    #[arg(long)]
    pub max_sessions: Option<usize>,
    /// Closed orders remembered for status requests (older ones are forgotten).
    #[arg(long)]
    pub keep_closed: Option<usize>,
    /// Read this ExecInst (18) value as reduce-only, as a broker offering it does: such
    /// an order that cannot reduce the position is refused, and a fill never goes
    /// beyond the position (clipped; nothing left to reduce cancels the rest).
    #[arg(long)]
    pub reduce_only_exec_inst: Option<char>,
    /// Take one-cancels-other NewOrderLists (35=E, ContingencyType 1385=1): the first
    /// leg to fill cancels the other in the same instant. Without it a list is
    /// answered as an unsupported message.
    #[arg(long)]
    pub oco_lists: bool,
    /// Fill policy: stop orders fill at once at their stop price (both legs of a
    /// stop-loss / take-profit pair hit in the same instant). Without it they rest until
    /// the price path reaches the trigger.
    #[arg(long)]
    pub stops_at_once: bool,
    /// Market data: each subscription (MarketDataRequest 263=1) is refreshed this often
    /// with an incremental refresh of both sides from the price path (0: the snapshot
    /// only). Default 100.
    #[arg(long)]
    pub quotes_every_ms: Option<u64>,
    /// Validate inbound messages: the complete built-in dictionaries with this
    /// directory's overlays/venue-sim.xml (e.g. the repo's fix-dictionaries); a FIX42.xml,
    /// FIX44.xml, FIXT11.xml or FIX50SP2.xml here replaces the built-in base.
    #[arg(long)]
    pub dict_dir: Option<PathBuf>,
    /// Serve TLS only (with --tls-key): our certificate chain, PEM.
    #[arg(long)]
    pub tls_cert: Option<String>,
    /// The private key of --tls-cert, PEM.
    #[arg(long)]
    pub tls_key: Option<String>,
    /// Require client certificates issued by these CA(s), PEM (mutual TLS).
    #[arg(long)]
    pub tls_client_ca: Option<String>,
}

/// The same keys in a TOML file.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct FileCfg {
    #[serde(alias = "port")]
    port: Option<u16>,
    sender: Option<String>,
    #[serde(default, deserialize_with = "one_or_many")]
    target: Option<Vec<String>>,
    begin: Option<String>,
    store: Option<PathBuf>,
    policy: Option<String>,
    #[serde(alias = "partial-pieces")]
    partial_pieces: Option<u32>,
    #[serde(alias = "partial-interval-us")]
    partial_interval_us: Option<u64>,
    seed: Option<u64>,
    #[serde(alias = "start-price")]
    start_price: Option<String>,
    #[serde(alias = "tick-ms")]
    tick_ms: Option<u64>,
    #[serde(alias = "volatility-bps")]
    volatility_bps: Option<f64>,
    #[serde(alias = "slippage-bps")]
    slippage_bps: Option<u32>,
    #[serde(alias = "reject-symbol", alias = "reject-symbols")]
    reject_symbol: Option<Vec<String>>,
    #[serde(alias = "reject-qty-above")]
    reject_qty_above: Option<String>,
    #[serde(alias = "reject-every")]
    reject_every: Option<u64>,
    #[serde(alias = "latency-us")]
    latency_us: Option<u64>,
    #[serde(alias = "commission-bps")]
    commission_bps: Option<u32>,
    spin: Option<bool>,
    #[serde(alias = "no-stdin")]
    no_stdin: Option<bool>,
    verbose: Option<bool>,
    #[serde(alias = "reset-on-logon")]
    reset_on_logon: Option<bool>,
    #[serde(alias = "max-write-buffer")]
    max_write_buffer: Option<usize>,
    #[serde(alias = "heartbeat-secs")]
    heartbeat_secs: Option<u32>,
    #[serde(alias = "logon-timeout-secs")]
    logon_timeout_secs: Option<u32>,
    #[serde(alias = "max-sessions")]
    max_sessions: Option<usize>,
    #[serde(alias = "dict-dir")]
    dict_dir: Option<PathBuf>,
    #[serde(alias = "keep-closed")]
    keep_closed: Option<usize>,
    #[serde(alias = "reduce-only-exec-inst")]
    reduce_only_exec_inst: Option<char>,
    #[serde(alias = "oco-lists")]
    oco_lists: Option<bool>,
    #[serde(alias = "stops-at-once")]
    stops_at_once: Option<bool>,
    #[serde(alias = "quotes-every-ms")]
    quotes_every_ms: Option<u64>,
    #[serde(alias = "tls-cert")]
    tls_cert: Option<String>,
    #[serde(alias = "tls-key")]
    tls_key: Option<String>,
    #[serde(alias = "tls-client-ca")]
    tls_client_ca: Option<String>,
}

/// `target = "A"` or `target = ["A", "B"]`.
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(Some(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    }))
}

/// Everything the simulator runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub port: u16,
    pub sender: String,
    /// Peer CompIDs with a session here; empty = any.
    pub targets: Vec<String>,
    pub begin: Option<String>,
    pub reset_on_logon: bool,
    pub store: Option<PathBuf>,
    pub spin: bool,
    pub no_stdin: bool,
    pub verbose: bool,
    pub max_write_buffer: usize,
    pub heartbeat_secs: u32,
    pub logon_timeout_secs: u32,
    pub max_sessions: usize,
    pub dict_dir: Option<PathBuf>,
    /// TLS-only listener.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    pub sim: SimConfig,
}

/// The BeginStrings the simulator speaks.
pub const BEGIN_STRINGS: [&str; 3] = ["FIX.4.2", "FIX.4.4", "FIXT.1.1"];

/// The counterparties QuickFIX's acceptance-test acceptor has sessions for (its
/// `test/setup.sh`): what `--policy echo` accepts unless `--target` says otherwise.
const REFERENCE_ACCEPTOR_TARGETS: [&str; 3] = ["TW42", "TW44", "TW50SP2"];

fn dec8(key: &str, s: &str) -> Result<i64, String> {
    let d = Dec::parse(s).map_err(|e| format!("{key}: {s:?}: {e}"))?;
    d.to_scale(SCALE)
        .ok_or_else(|| format!("{key}: {s:?}: more than {SCALE} decimals or too large"))
}

impl Config {
    /// Merges the command line over the file over the defaults, and checks it.
    pub fn from_cli(cli: Cli) -> Result<Config, String> {
        let file: FileCfg = match &cli.config {
            None => FileCfg::default(),
            Some(p) => {
                let text =
                    std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
                toml::from_str(&text).map_err(|e| format!("{}: {e}", p.display()))?
            }
        };
        let policy_name = cli.policy.or(file.policy).unwrap_or_else(|| "fill".into());
        let pieces = cli.partial_pieces.or(file.partial_pieces).unwrap_or(4);
        let interval_us = cli
            .partial_interval_us
            .or(file.partial_interval_us)
            .unwrap_or(1_000);
        let policy = match policy_name.as_str() {
            "fill" => Policy::Fill,
            "partial" => {
                if pieces == 0 {
                    return Err("partial-pieces: must be at least 1".into());
                }
                Policy::Partial {
                    pieces,
                    interval_ns: interval_us.saturating_mul(1_000),
                }
            }
            "book" => Policy::Book,
            "echo" => Policy::Echo,
            other => {
                return Err(format!(
                    "policy: {other:?} is not one of fill, partial, book, echo"
                ))
            }
        };
        let start_price = dec8(
            "start-price",
            &cli.start_price
                .or(file.start_price)
                .unwrap_or_else(|| "100".into()),
        )?;
        if start_price <= 0 {
            return Err("start-price: must be greater than 0".into());
        }
        let tick_ms = cli.tick_ms.or(file.tick_ms).unwrap_or(10);
        if tick_ms == 0 {
            return Err("tick-ms: must be at least 1".into());
        }
        let vol = cli.volatility_bps.or(file.volatility_bps).unwrap_or(5.0);
        if !(0.0..=10_000.0).contains(&vol) {
            return Err("volatility-bps: must be within 0..=10000".into());
        }
        let mut reject_symbols = cli.reject_symbol;
        if reject_symbols.is_empty() {
            reject_symbols = file.reject_symbol.unwrap_or_default();
        }
        let reject_qty_above = match cli.reject_qty_above.or(file.reject_qty_above) {
            None => None,
            Some(s) => Some(dec8("reject-qty-above", &s)?),
        };
        let begin = cli.begin.or(file.begin);
        if let Some(b) = &begin {
            if !BEGIN_STRINGS.contains(&b.as_str()) {
                return Err(format!(
                    "begin: {b:?} is not one of {}",
                    BEGIN_STRINGS.join(", ")
                ));
            }
        }
        let sender = cli.sender.or(file.sender).unwrap_or_else(|| "SIM".into());
        if sender.is_empty() || sender.bytes().any(|b| b == 1 || b == b'=') {
            return Err("sender: must be a non-empty CompID".into());
        }
        let mut targets = if cli.target.is_empty() {
            file.target.unwrap_or_default()
        } else {
            cli.target
        };
        if targets.is_empty() && policy == Policy::Echo {
            targets = REFERENCE_ACCEPTOR_TARGETS.map(String::from).to_vec();
        }
        if let Some(t) = targets
            .iter()
            .find(|t| t.is_empty() || t.bytes().any(|b| b == 1 || b == b'='))
        {
            return Err(format!("target: {t:?} is not a CompID"));
        }
        let tls = match (
            cli.tls_cert.or(file.tls_cert),
            cli.tls_key.or(file.tls_key),
            cli.tls_client_ca.or(file.tls_client_ca),
        ) {
            (None, None, None) => None,
            (Some(cert), Some(key), ca) => Some(
                execd::venue::fix::transport::server_config(&cert, &key, ca.as_deref())
                    .map_err(|e| format!("tls: {e}"))?,
            ),
            (_, None, _) => return Err("tls-key: --tls-cert needs its key".into()),
            (None, _, _) => return Err("tls-cert: --tls-key/--tls-client-ca need it".into()),
        };
        let max_write_buffer = cli
            .max_write_buffer
            .or(file.max_write_buffer)
            .unwrap_or(4 << 20);
        // One message of the largest size the session writes must fit.
        if max_write_buffer < 64 << 10 {
            return Err("max-write-buffer: must be at least 65536".into());
        }
        let logon_timeout_secs = cli
            .logon_timeout_secs
            .or(file.logon_timeout_secs)
            .unwrap_or(10);
        if !(1..=3600).contains(&logon_timeout_secs) {
            return Err("logon-timeout-secs: must be 1 to 3600".into());
        }
        let max_sessions = cli.max_sessions.or(file.max_sessions).unwrap_or(1024);
        let reduce_only_exec_inst = match cli.reduce_only_exec_inst.or(file.reduce_only_exec_inst) {
            None => None,
            Some(c) if c.is_ascii_graphic() => Some(c as u8),
            Some(c) => {
                return Err(format!(
                    "reduce-only-exec-inst: {c:?} is not an ExecInst character"
                ))
            }
        };
        if max_sessions == 0 {
            return Err("max-sessions: must be at least 1".into());
        }
        Ok(Config {
            tls,
            port: cli.port.or(file.port).unwrap_or(0),
            sender,
            targets,
            begin,
            reset_on_logon: cli.reset_on_logon || file.reset_on_logon.unwrap_or(false),
            store: cli.store.or(file.store),
            spin: cli.spin || file.spin.unwrap_or(false),
            no_stdin: cli.no_stdin || file.no_stdin.unwrap_or(false),
            verbose: cli.verbose || file.verbose.unwrap_or(false),
            max_write_buffer,
            heartbeat_secs: cli.heartbeat_secs.or(file.heartbeat_secs).unwrap_or(30),
            logon_timeout_secs,
            max_sessions,
            dict_dir: cli.dict_dir.or(file.dict_dir),
            sim: SimConfig {
                policy,
                seed: cli.seed.or(file.seed).unwrap_or(1),
                start_price,
                tick_ns: tick_ms * 1_000_000,
                volatility_centi_bps: (vol * 100.0).round() as i64,
                slippage_bps: cli.slippage_bps.or(file.slippage_bps).unwrap_or(0) as i64,
                reject_symbols,
                reject_qty_above,
                reject_every: cli.reject_every.or(file.reject_every).unwrap_or(0),
                latency_ns: cli
                    .latency_us
                    .or(file.latency_us)
                    .unwrap_or(0)
                    .saturating_mul(1_000),
                commission_bps: cli.commission_bps.or(file.commission_bps).unwrap_or(0) as i64,
                keep_closed: cli.keep_closed.or(file.keep_closed).unwrap_or(100_000),
                reduce_only_exec_inst,
                oco_lists: cli.oco_lists || file.oco_lists.unwrap_or(false),
                stops_at_once: cli.stops_at_once || file.stops_at_once.unwrap_or(false),
                quotes_every_ns: cli
                    .quotes_every_ms
                    .or(file.quotes_every_ms)
                    .unwrap_or(100)
                    .saturating_mul(1_000_000),
            },
        })
    }
}
