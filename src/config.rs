//! One configuration file (R-OPS-3): parsed with serde + toml, then checked key by key
//! into the [`Registry`] the core runs on. Errors name the exact offending key.

use crate::entry::settings::{EntrySpec, OrderEntryConfig};
use crate::model::control::Mode;
use crate::model::fixed::{Dec, Money, Price, Qty, MONEY_SCALE};
use crate::model::ids::{AccountId, InstrumentId, Name, VenueId};
use crate::model::instrument::{Instrument, TradingHours};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::Path;

mod alerts;
pub use alerts::{AlertSpec, AlertsConfig, Webhook};

/// The built-in configuration: the paper venue with a handful of instruments.
pub const DEFAULT_TOML: &str = include_str!("../examples/paper.toml");

/// A configuration error, naming the key it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Dotted path of the offending key, e.g. `instruments[2].tick`.
    pub key: String,
    /// What is wrong with it.
    pub msg: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}", self.msg)
        } else {
            write!(f, "{}: {}", self.key, self.msg)
        }
    }
}

impl std::error::Error for ConfigError {}

fn err(key: impl Into<String>, msg: impl Into<String>) -> ConfigError {
    ConfigError {
        key: key.into(),
        msg: msg.into(),
    }
}

/// The range a number in the configuration must be in: every duration, size and count a
/// file can set is listed in [`RANGES`], checked by [`check_ranges`] before anything is
/// multiplied or allocated from it, and named with its range when it is out of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Range {
    /// The key, `[]` standing for an index (`venues[].timeout_ms`).
    pub key: &'static str,
    /// Smallest value allowed.
    pub min: u64,
    /// Largest value allowed.
    pub max: u64,
    /// What the number counts, and why the bound where it is not obvious.
    pub unit: &'static str,
}

const fn range(key: &'static str, min: u64, max: u64, unit: &'static str) -> Range {
    Range {
        key,
        min,
        max,
        unit,
    }
}

/// Every numeric key and its range. Upper bounds keep what is derived from a value
/// (nanoseconds, bytes, allocations) far from overflow and from exhausting the machine:
/// a ring slot is about 350 bytes and an order about 400 with its indexes, a segment is
/// preallocated on disk in full, an audit file is read whole by `execd-replay`.
pub const RANGES: &[Range] = &[
    range("core.pin_core", 0, 4_095, "CPU number"),
    range(
        "core.idle_yield_us",
        0,
        1_000_000,
        "microseconds backoff yields after the last work before it sleeps (up to a second)",
    ),
    range(
        "core.ring_capacity",
        16,
        1 << 20,
        "slots per ring (about 350 bytes each, two rings per producer)",
    ),
    range(
        "core.max_orders",
        16,
        1 << 22,
        "orders held in memory (about 400 bytes each)",
    ),
    range(
        "core.max_request_ids",
        16,
        1 << 24,
        "request ids remembered for the journal's whole life (about 48 bytes each)",
    ),
    range("journal.fsync_ms", 0, 60_000, "milliseconds"),
    range(
        "journal.audit_file_mb",
        1,
        1_024,
        "MiB per audit file (execd-replay reads a file whole)",
    ),
    range("journal.retain_segments", 2, 1_000_000, "segment files"),
    range(
        "journal.segment_kb",
        4,
        1 << 20,
        "KiB per segment file, preallocated on disk in full (at most 1 GiB: the journal format's limit)",
    ),
    range("gate.max_quote_age_ms", 1, 86_400_000, "milliseconds (up to a day)"),
    range("venues[].timeout_ms", 1, 3_600_000, "milliseconds (up to an hour)"),
    range("venues[].max_orders_per_sec", 1, 10_000_000, "orders per second"),
    range("venues[].burst", 1, 10_000_000, "orders"),
    range("venues[].breaker_failures", 1, 1_000_000, "consecutive failures"),
    range(
        "venues[].reconcile_every_s",
        0,
        604_800,
        "seconds between scheduled reconciliations (0: none; up to a week)",
    ),
    range(
        "venues[].breaker_cooldown_ms",
        0,
        3_600_000,
        "milliseconds (up to an hour)",
    ),
    range(
        "venues[].paper.latency_us_min",
        0,
        60_000_000,
        "microseconds (up to a minute)",
    ),
    range(
        "venues[].paper.latency_us_mean_extra",
        0,
        60_000_000,
        "microseconds (up to a minute)",
    ),
    range("venues[].paper.partial_fill_pct", 0, 100, "percent"),
    range(
        "venues[].binance.recv_window_ms",
        1,
        60_000,
        "milliseconds (Binance accepts up to 60 000)",
    ),
    range(
        "venues[].binance.http_timeout_ms",
        100,
        120_000,
        "milliseconds",
    ),
    range(
        "venues[].binance.weight_per_minute",
        1,
        1_000_000,
        "request weight per minute",
    ),
    range("venues[].paper.silent_per_mille", 0, 1_000, "per mille"),
    range("venues[].paper.unsent_first", 0, 1_000_000, "submits"),
    range("venues[].retry_attempts", 0, 100, "resends after the first try"),
    range(
        "venues[].retry_backoff_ms",
        1,
        60_000,
        "milliseconds (up to a minute)",
    ),
    range(
        "venues[].retry_backoff_max_ms",
        1,
        600_000,
        "milliseconds (up to ten minutes)",
    ),
    range(
        "venues[].paper.quote_interval_ms",
        1,
        60_000,
        "milliseconds (up to a minute)",
    ),
    range(
        "instruments[].price_band_bps",
        1,
        10_000,
        "basis points (up to 100 %)",
    ),
    range(
        "instruments[].margin_bps",
        1,
        10_000,
        "basis points of notional (up to 100 %)",
    ),
    range("instruments[].spread_ticks", 1, 1_000_000, "ticks"),
    range("instruments[].volatility_ticks", 0, 1_000_000, "ticks"),
    range("instruments[].depth_lots", 0, 1_000_000_000, "lots"),
    range("accounts[].max_open_orders", 1, 1 << 22, "orders"),
    range(
        "alerts.interval_ms",
        100,
        60_000,
        "milliseconds between checks (up to a minute)",
    ),
    range("alerts.window_s", 1, 86_400, "seconds (up to a day)"),
    range("alerts.min_requests", 1, 1_000_000_000, "requests"),
    range("alerts.venue_down_s", 1, 86_400, "seconds (up to a day)"),
    range("alerts.sidecar_lag_records", 1, 1 << 40, "journal records"),
    range("alerts.sidecar_lag_s", 1, 86_400, "seconds (up to a day)"),
    range(
        "alerts.webhook_timeout_ms",
        1,
        60_000,
        "milliseconds (up to a minute)",
    ),
];

/// `value` of `key` (as written, with its index) checked against the range of `entry`
/// (as listed in [`RANGES`]).
fn in_range(entry: &str, key: String, value: u64) -> Result<u64, ConfigError> {
    let r = RANGES
        .iter()
        .find(|r| r.key == entry)
        .expect("every checked key is listed in RANGES");
    if (r.min..=r.max).contains(&value) {
        Ok(value)
    } else {
        Err(err(
            key,
            format!(
                "{value} is out of range: must be between {} and {}, {}",
                r.min, r.max, r.unit
            ),
        ))
    }
}

/// Checks every number in `cfg` against [`RANGES`]: the one place a configuration's
/// durations, sizes and counts are bounded, run by `check-config` and by every start.
pub fn check_ranges(cfg: &Config) -> Result<(), ConfigError> {
    let c = &cfg.core;
    if let Some(p) = c.pin_core {
        in_range("core.pin_core", "core.pin_core".into(), p as u64)?;
    }
    in_range(
        "core.idle_yield_us",
        "core.idle_yield_us".into(),
        c.idle_yield_us,
    )?;
    in_range(
        "core.ring_capacity",
        "core.ring_capacity".into(),
        c.ring_capacity as u64,
    )?;
    in_range(
        "core.max_orders",
        "core.max_orders".into(),
        c.max_orders as u64,
    )?;
    in_range(
        "core.max_request_ids",
        "core.max_request_ids".into(),
        c.max_request_ids as u64,
    )?;
    let j = &cfg.journal;
    in_range("journal.fsync_ms", "journal.fsync_ms".into(), j.fsync_ms)?;
    in_range(
        "journal.audit_file_mb",
        "journal.audit_file_mb".into(),
        j.audit_file_mb,
    )?;
    if let Some(n) = j.retain_segments {
        in_range(
            "journal.retain_segments",
            "journal.retain_segments".into(),
            n,
        )?;
    }
    in_range(
        "journal.segment_kb",
        "journal.segment_kb".into(),
        j.segment_kb,
    )?;
    in_range(
        "gate.max_quote_age_ms",
        "gate.max_quote_age_ms".into(),
        cfg.gate.max_quote_age_ms,
    )?;
    for (i, v) in cfg.venues.iter().enumerate() {
        let k = |f: &str| format!("venues[{i}].{f}");
        let e = |f: &str| format!("venues[].{f}");
        in_range(&e("timeout_ms"), k("timeout_ms"), v.timeout_ms)?;
        for (f, n) in [
            ("max_orders_per_sec", v.max_orders_per_sec),
            ("burst", v.burst),
            ("breaker_failures", v.breaker_failures),
            ("retry_attempts", v.retry_attempts),
        ] {
            in_range(&e(f), k(f), u64::from(n))?;
        }
        in_range(
            &e("breaker_cooldown_ms"),
            k("breaker_cooldown_ms"),
            v.breaker_cooldown_ms,
        )?;
        if let Some(n) = v.reconcile_every_s {
            in_range(&e("reconcile_every_s"), k("reconcile_every_s"), n)?;
        }
        for (f, n) in [
            ("retry_backoff_ms", v.retry_backoff_ms),
            ("retry_backoff_max_ms", v.retry_backoff_max_ms),
        ] {
            in_range(&e(f), k(f), n)?;
        }
        if let Some(b) = &v.binance {
            for (f, n) in [
                ("binance.recv_window_ms", b.recv_window_ms),
                ("binance.http_timeout_ms", b.http_timeout_ms),
                ("binance.weight_per_minute", b.weight_per_minute),
            ] {
                in_range(&e(f), k(f), n)?;
            }
        }
        let p = &v.paper;
        for (f, n) in [
            ("paper.latency_us_min", p.latency_us_min),
            ("paper.latency_us_mean_extra", p.latency_us_mean_extra),
            ("paper.partial_fill_pct", u64::from(p.partial_fill_pct)),
            ("paper.silent_per_mille", u64::from(p.silent_per_mille)),
            ("paper.unsent_first", u64::from(p.unsent_first)),
            ("paper.quote_interval_ms", p.quote_interval_ms),
        ] {
            in_range(&e(f), k(f), n)?;
        }
    }
    for (i, c) in cfg.instruments.iter().enumerate() {
        for (f, n) in [
            ("price_band_bps", c.price_band_bps),
            ("margin_bps", c.margin_bps),
            ("spread_ticks", c.spread_ticks),
            ("volatility_ticks", c.volatility_ticks),
            ("depth_lots", c.depth_lots),
        ] {
            in_range(
                &format!("instruments[].{f}"),
                format!("instruments[{i}].{f}"),
                u64::from(n),
            )?;
        }
    }
    for (i, a) in cfg.accounts.iter().enumerate() {
        in_range(
            "accounts[].max_open_orders",
            format!("accounts[{i}].max_open_orders"),
            u64::from(a.max_open_orders),
        )?;
    }
    for (k, v) in cfg.alerts.ranged() {
        in_range(k, k.into(), v)?;
    }
    Ok(())
}

/// Milliseconds (already range-checked) as nanoseconds.
fn ms_to_ns(key: String, ms: u64) -> Result<u64, ConfigError> {
    ms.checked_mul(1_000_000)
        .ok_or_else(|| err(key, format!("{ms} ms is too large")))
}

/// Microseconds (already range-checked) as nanoseconds.
fn us_to_ns(key: String, us: u64) -> Result<u64, ConfigError> {
    us.checked_mul(1_000)
        .ok_or_else(|| err(key, format!("{us} µs is too large")))
}

/// The file as written.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Core thread settings.
    #[serde(default)]
    pub core: CoreConfig,
    /// Gate settings that are not per instrument or account.
    #[serde(default)]
    pub gate: GateConfig,
    /// `[[venues]]`, at least one; their order gives the interned venue ids.
    pub venues: Vec<VenueConfig>,
    /// `[[instruments]]`, at least one; their order gives the interned instrument ids.
    pub instruments: Vec<InstrumentConfig>,
    /// `[[accounts]]`, at least one; their order gives the interned account ids.
    pub accounts: Vec<AccountConfig>,
    /// Journal and audit log.
    #[serde(default)]
    pub journal: JournalConfig,
    /// `[[order_entry]]`: FIX sessions upstream systems send orders on (the gateway).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub order_entry: Vec<OrderEntryConfig>,
    /// `[api]`: the HTTP control API of `execd run` (not in the fingerprint: it may
    /// change between restarts of the same journal).
    #[serde(default, skip_serializing_if = "ApiConfig::is_default")]
    pub api: ApiConfig,
    /// `[alerts]`: thresholds on the metrics (not in the fingerprint either).
    #[serde(default, skip_serializing_if = "AlertsConfig::is_default")]
    pub alerts: AlertsConfig,
}

/// `[api]`: where `execd run` serves its HTTP control API.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// `false`: no control API (as `--listen off`).
    pub enabled: bool,
    /// Address and port; beyond loopback only with `EXECD_API_TOKEN` set.
    pub listen: String,
}

/// Where the control API listens unless told otherwise.
pub const DEFAULT_API_LISTEN: &str = "127.0.0.1:8080";

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            enabled: true,
            listen: DEFAULT_API_LISTEN.to_string(),
        }
    }
}

impl ApiConfig {
    fn is_default(&self) -> bool {
        *self == ApiConfig::default()
    }
}

/// `[journal]`: where the journal lives and how the sidecar keeps its audit log.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct JournalConfig {
    /// Journal directory for `execd run` (`--journal` overrides); none = no journal.
    pub dir: Option<String>,
    /// The audit log is fsynced at most this many milliseconds after a record reached it.
    pub fsync_ms: u64,
    /// Audit files rotate past this size (and at every UTC day).
    pub audit_file_mb: u64,
    /// Keep at most this many journal segment files; older ones are deleted once the
    /// audit log holds (and has synced) their records. None = keep every segment.
    pub retain_segments: Option<u64>,
    /// Size of each journal segment file in KiB.
    pub segment_kb: u64,
}

impl Default for JournalConfig {
    fn default() -> Self {
        JournalConfig {
            dir: None,
            fsync_ms: 10,
            audit_file_mb: 256,
            retain_segments: None,
            segment_kb: 64 << 10,
        }
    }
}

/// `[core]`: the core thread and how much it holds in memory.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct CoreConfig {
    /// Idle strategy of the duty cycle.
    pub idle: IdleKind,
    /// How long `backoff` keeps yielding after the core's last piece of work before it
    /// sleeps in `epoll_wait`: orders that come closer together than this never wait for
    /// the core to wake up, at the price of a CPU kept busy (yielding to any other thread
    /// that wants it) while they do.
    pub idle_yield_us: u64,
    /// Core to pin the core thread to; none = unpinned.
    pub pin_core: Option<usize>,
    /// Capacity of each inbound and outbound ring.
    pub ring_capacity: usize,
    /// Orders held in memory (working ones plus the most recent finished ones).
    pub max_orders: usize,
    /// Request ids remembered for the journal's whole life, so a resend never makes a
    /// second order however old (R-IN-3); once that many are taken, new requests are
    /// refused with `REQUEST_IDS_FULL`.
    pub max_request_ids: usize,
}

/// Default of `core.idle_yield_us`: a flow of an order every 2 ms or faster keeps the core
/// awake; a quieter one pays one wake-up per order (40–70 µs on a 2-vCPU VM, measured in
/// benches/README.md).
pub const DEFAULT_IDLE_YIELD_US: u64 = 2_000;

/// Default of `core.max_request_ids`: a million requests per journal, in 48 MiB.
pub const DEFAULT_MAX_REQUEST_IDS: usize = 1 << 20;

impl Default for CoreConfig {
    fn default() -> Self {
        CoreConfig {
            idle: IdleKind::Backoff,
            idle_yield_us: DEFAULT_IDLE_YIELD_US,
            pin_core: None,
            ring_capacity: 65_536,
            max_orders: 262_144,
            max_request_ids: DEFAULT_MAX_REQUEST_IDS,
        }
    }
}

/// `[core] idle`: what the duty cycle does when a cycle found no work (strategies after
/// Aeron's, carried out by `core::idle`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum IdleKind {
    /// Spin forever: lowest latency, burns a core (production, pinned).
    Spin,
    /// Yield the CPU each idle cycle.
    Yield,
    /// Spin, then yield until `core.idle_yield_us` passed without work, then sleep in
    /// `epoll_wait` on the venues' sockets and the producers' doorbell, up to 1 ms or the
    /// next timer (`core::wait`): the default, and the best choice on a box with few
    /// cores.
    #[default]
    Backoff,
}

/// `[gate]`: checks that are not per instrument or account.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct GateConfig {
    /// A top of book older than this is stale (R-GATE-6).
    pub max_quote_age_ms: u64,
    /// Margin available must be at least required × this (R-GATE-7).
    pub margin_cushion: String,
}

impl Default for GateConfig {
    fn default() -> Self {
        GateConfig {
            max_quote_age_ms: 5_000,
            margin_cushion: "1.2".into(),
        }
    }
}

/// `[[venues]]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct VenueConfig {
    /// What requests and operator commands call it.
    pub name: String,
    /// Adapter: `paper` (the built-in simulated broker), `fix` (a FIX session),
    /// `binance-spot` or `binance-usdm` (REST/WebSocket bridges).
    pub kind: String,
    /// Hard timeout for an acknowledgement (R-OMS-4).
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Order-rate throttle (R-GATE-7).
    #[serde(default = "default_rate")]
    pub max_orders_per_sec: u32,
    /// Orders the throttle lets through at once after a quiet spell.
    #[serde(default = "default_burst")]
    pub burst: u32,
    /// Consecutive failures that open the circuit breaker (R-RES-2).
    #[serde(default = "default_breaker_failures")]
    pub breaker_failures: u32,
    /// How long the breaker stays open before a probe.
    #[serde(default = "default_breaker_cooldown_ms")]
    pub breaker_cooldown_ms: u64,
    /// Seconds between scheduled reconciliations with the venue (R-AUD-4); 0: only at
    /// start, after logons and hard timeouts, and on demand. Default: 300 for FIX
    /// venues, 0 for the paper venue (in-process: it cannot disagree).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconcile_every_s: Option<u64>,
    /// Resends of a new order the venue never saw (a transport failure) before it
    /// becomes a dead letter (R-RES-1, R-RES-3); 0 dead-letters it at once.
    #[serde(default = "default_retry_attempts")]
    pub retry_attempts: u32,
    /// Delay before the first resend; it doubles per attempt, with jitter.
    #[serde(default = "default_retry_backoff_ms")]
    pub retry_backoff_ms: u64,
    /// Longest delay between resends.
    #[serde(default = "default_retry_backoff_max_ms")]
    pub retry_backoff_max_ms: u64,
    /// Paper venue behaviour.
    #[serde(default)]
    pub paper: PaperConfig,
    /// FIX session settings, for `kind = "fix"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fix: Option<crate::venue::fix::settings::FixSettings>,
    /// Binance settings, for `kind = "binance-spot"` and `"binance-usdm"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binance: Option<crate::venue::bridge::settings::BinanceSettings>,
}

fn default_timeout_ms() -> u64 {
    30_000
}
fn default_rate() -> u32 {
    1_000_000
}
fn default_burst() -> u32 {
    10_000
}
fn default_retry_attempts() -> u32 {
    5
}
fn default_retry_backoff_ms() -> u64 {
    100
}
fn default_retry_backoff_max_ms() -> u64 {
    2_000
}
fn default_breaker_failures() -> u32 {
    5
}
fn default_breaker_cooldown_ms() -> u64 {
    10_000
}

/// `[venues.paper]`: the simulated venue (R-VEN-4).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PaperConfig {
    /// Seed for latency, slippage, partial fills and price paths.
    pub seed: u64,
    /// Fixed part of the venue's response latency.
    pub latency_us_min: u64,
    /// Mean of the exponential part on top.
    pub latency_us_mean_extra: u64,
    /// Slippage on marketable fills, basis points (a decimal string).
    pub slippage_bps: String,
    /// Commission, basis points of notional (a decimal string).
    pub commission_bps: String,
    /// Percent of orders that fill in several pieces.
    pub partial_fill_pct: u32,
    /// Per mille of orders whose answer is held past the hard timeout.
    pub silent_per_mille: u32,
    /// Fault injection: the first N submits are refused as if the connection were
    /// down (the venue never sees them), to exercise retries and dead letters.
    pub unsent_first: u32,
    /// Price path step.
    pub quote_interval_ms: u64,
}

impl Default for PaperConfig {
    fn default() -> Self {
        PaperConfig {
            seed: 1,
            latency_us_min: 50,
            latency_us_mean_extra: 100,
            slippage_bps: "0.5".into(),
            commission_bps: "1".into(),
            partial_fill_pct: 20,
            silent_per_mille: 0,
            unsent_first: 0,
            quote_interval_ms: 10,
        }
    }
}

/// `[[instruments]]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct InstrumentConfig {
    /// As upstream and the venue spell it.
    pub symbol: String,
    /// The `name` of the venue it trades on.
    pub venue: String,
    /// Price grid, e.g. "0.01".
    pub tick: String,
    /// Quantity grid, e.g. "1" or "0.001".
    pub lot: String,
    /// Pip size; defaults to the tick.
    pub pip: Option<String>,
    /// "24/7", or days and UTC hours: "mon-fri 14:30-21:00".
    #[serde(default = "default_hours")]
    pub hours: String,
    /// `false` refuses every order for it (R-GATE-5).
    #[serde(default = "yes")]
    pub tradable: bool,
    /// Widest acceptable spread (price).
    pub max_spread: Option<String>,
    /// Fat-finger band, basis points.
    #[serde(default = "default_band")]
    pub price_band_bps: u32,
    /// Margin as basis points of notional.
    #[serde(default = "default_margin")]
    pub margin_bps: u32,
    /// Largest order quantity, a decimal string on the lot.
    pub max_order_qty: String,
    /// Largest order notional, in account currency.
    pub max_notional: String,
    /// Largest absolute net position per account, a decimal string on the lot.
    pub max_position: String,
    /// Paper venue: starting mid price.
    pub initial_price: String,
    /// Paper venue: spread in ticks.
    #[serde(default = "one")]
    pub spread_ticks: u32,
    /// Paper venue: largest move per step, in ticks.
    #[serde(default = "one")]
    pub volatility_ticks: u32,
    /// Paper venue: visible size at the touch, in lots.
    #[serde(default = "default_depth")]
    pub depth_lots: u32,
}

fn default_hours() -> String {
    "24/7".into()
}
fn yes() -> bool {
    true
}
fn one() -> u32 {
    1
}
fn default_band() -> u32 {
    500
}
fn default_margin() -> u32 {
    10_000
}
fn default_depth() -> u32 {
    1_000
}

/// `[[accounts]]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AccountConfig {
    /// What requests and operator commands call it.
    pub name: String,
    /// GUIDE (advise only, the default) or AUTONOMOUS (R-GATE-1).
    #[serde(default)]
    pub mode: Mode,
    /// Starting cash (account currency).
    pub cash: String,
    /// Open-order limit (R-GATE-7).
    #[serde(default = "default_open_orders")]
    pub max_open_orders: u32,
}

fn default_open_orders() -> u32 {
    10_000
}

/// A venue after checking.
#[derive(Debug, Clone)]
pub struct VenueSpec {
    /// Its index in [`Registry::venues`].
    pub id: VenueId,
    /// What requests call it.
    pub name: Name,
    /// Hard timeout in ns.
    pub timeout_ns: u64,
    /// Throttle rate, orders per second.
    pub max_orders_per_sec: u32,
    /// Orders the throttle lets through at once.
    pub burst: u32,
    /// Consecutive failures that open the circuit breaker.
    pub breaker_failures: u32,
    /// How long the breaker stays open before one probe may pass, ns.
    pub breaker_cooldown_ns: u64,
    /// Time between scheduled reconciliations; 0: none.
    pub reconcile_every_ns: u64,
    /// Resending new orders the venue never saw (R-RES-1).
    pub retry: RetryPolicy,
    /// Paper-venue behaviour (used only when the venue is the paper venue).
    pub paper: PaperSpec,
    /// FIX session settings, checked (`kind = "fix"` only).
    pub fix: Option<crate::venue::fix::settings::FixSpec>,
    /// Binance bridge settings, checked (`kind = "binance-spot"`/`"binance-usdm"` only).
    pub binance: Option<crate::venue::bridge::settings::BinanceSpec>,
}

impl VenueSpec {
    /// Whether the venue is outside the process (FIX or a bridge): its events are
    /// journaled inputs, replayed from the journal.
    pub fn is_network(&self) -> bool {
        self.fix.is_some() || self.binance.is_some()
    }
}

/// How a venue's undelivered new orders are resent (R-RES-1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Resends after the first try.
    pub attempts: u32,
    /// Delay before the first resend, ns; doubles per attempt.
    pub base_ns: u64,
    /// Longest delay, ns (never below `base_ns`).
    pub max_ns: u64,
}

/// Paper venue settings after checking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaperSpec {
    /// Seeds latency, slippage, partial fills and price paths.
    pub seed: u64,
    /// Fixed part of the one-way latency, ns.
    pub latency_min_ns: u64,
    /// Mean of the exponential part of the latency on top, ns.
    pub latency_mean_extra_ns: u64,
    /// Slippage in hundredths of a bp.
    pub slippage_bps_e2: i64,
    /// Commission in hundredths of a bp.
    pub commission_bps_e2: i64,
    /// Percent of orders that fill in several pieces.
    pub partial_fill_pct: u32,
    /// Per mille of orders whose answer is held past the hard timeout.
    pub silent_per_mille: u32,
    /// The first this many submits are refused as a transport failure.
    pub unsent_first: u32,
    /// Time between price-path steps, ns.
    pub quote_interval_ns: u64,
}

/// Paper venue price-path settings for one instrument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimSpec {
    /// Starting mid, on the tick.
    pub initial_price: Price,
    /// Spread of the simulated book, in ticks.
    pub spread_ticks: u32,
    /// Largest move per step, in ticks.
    pub volatility_ticks: u32,
    /// Visible size at the touch, in lots.
    pub depth_lots: u32,
}

/// An account after checking.
#[derive(Debug, Clone)]
pub struct AccountSpec {
    /// Its index in [`Registry::accounts`].
    pub id: AccountId,
    /// What requests call it.
    pub name: Name,
    /// GUIDE or AUTONOMOUS at start; operators may change it.
    pub mode: Mode,
    /// Starting cash, in money units.
    pub cash: Money,
    /// Working orders the account may have at once (R-GATE-7).
    pub max_open_orders: u32,
}

/// Everything the core runs on, checked and interned.
#[derive(Debug, Clone)]
pub struct Registry {
    /// `[core]` as written (checked).
    pub core: CoreConfig,
    /// A top of book older than this is stale, ns.
    pub max_quote_age_ns: u64,
    /// Margin cushion in basis points (12 000 = 1.2×).
    pub margin_cushion_bps: u32,
    /// By venue id.
    pub venues: Vec<VenueSpec>,
    /// By instrument id.
    pub instruments: Vec<Instrument>,
    /// Paper price-path settings by instrument id.
    pub sims: Vec<SimSpec>,
    /// By account id.
    pub accounts: Vec<AccountSpec>,
    /// Order-entry sessions, checked (the gateway's, not the core's: not in the
    /// fingerprint, so they may change between restarts of the same journal).
    pub order_entry: Vec<EntrySpec>,
    /// Alert thresholds (the control thread's: not in the fingerprint).
    pub alerts: AlertSpec,
    /// The configuration it was built from (written into journals, so they describe
    /// themselves).
    pub config: Config,
    venue_by_name: FxHashMap<Name, VenueId>,
    account_by_name: FxHashMap<Name, AccountId>,
    instrument_by_key: FxHashMap<(VenueId, Name), InstrumentId>,
}

impl Registry {
    /// The built-in default.
    pub fn default_paper() -> Registry {
        Registry::from_toml(DEFAULT_TOML).expect("the embedded default config is valid")
    }

    /// Reads and checks a file.
    pub fn load(path: &Path) -> Result<Registry, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| err("", format!("cannot read {}: {e}", path.display())))?;
        Registry::from_toml(&text)
    }

    /// Parses and checks TOML text.
    pub fn from_toml(text: &str) -> Result<Registry, ConfigError> {
        let cfg: Config = toml::from_str(text).map_err(|e| {
            // toml reports the line and the key; keep its message whole.
            err("", e.to_string().trim_end().to_string())
        })?;
        Registry::from_config(&cfg)
    }

    /// Checks a parsed config.
    pub fn from_config(cfg: &Config) -> Result<Registry, ConfigError> {
        check_ranges(cfg)?;
        if cfg.api.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(err(
                "api.listen",
                format!(
                    "{:?} is not an address and port like \"127.0.0.1:8080\"",
                    cfg.api.listen
                ),
            ));
        }
        let cushion = parse_dec("gate.margin_cushion", &cfg.gate.margin_cushion)?
            .to_scale(4)
            .filter(|v| (10_000..=1_000_000).contains(v))
            .ok_or_else(|| {
                err(
                    "gate.margin_cushion",
                    "must be a number between 1 and 100 with at most 4 decimals",
                )
            })?;
        if cfg.venues.is_empty() {
            return Err(err("venues", "at least one venue is required"));
        }
        let mut venues = Vec::new();
        let mut venue_by_name = FxHashMap::default();
        for (i, v) in cfg.venues.iter().enumerate() {
            let k = |f: &str| format!("venues[{i}].{f}");
            let name = name(&k("name"), &v.name)?;
            let flavor = match v.kind.as_str() {
                "binance-spot" => Some(crate::venue::bridge::binance::Flavor::Spot),
                "binance-usdm" => Some(crate::venue::bridge::binance::Flavor::Usdm),
                _ => None,
            };
            let binance = match (flavor, &v.binance) {
                (Some(f), Some(b)) => Some(
                    b.check(f)
                        .map_err(|(key, msg)| err(k(&format!("binance.{key}")), msg))?,
                ),
                (Some(_), None) => {
                    return Err(err(
                        k("binance"),
                        "a Binance venue needs its [venues.binance] settings (api_key_env and secret_key_env or ed25519_key_env)",
                    ))
                }
                (None, Some(_)) => {
                    return Err(err(
                        k("binance"),
                        "only a venue of kind \"binance-spot\" or \"binance-usdm\" takes Binance settings",
                    ))
                }
                (None, None) => None,
            };
            let fix = match (v.kind.as_str(), &v.fix) {
                ("paper", None) => None,
                ("binance-spot" | "binance-usdm", None) => None,
                ("binance-spot" | "binance-usdm", Some(_)) => {
                    return Err(err(
                        k("fix"),
                        "only a venue of kind \"fix\" takes FIX settings",
                    ))
                }
                ("paper", Some(_)) => {
                    return Err(err(
                        k("fix"),
                        "only a venue of kind \"fix\" takes FIX settings",
                    ))
                }
                ("fix", Some(f)) => Some(
                    f.check()
                        .map_err(|(key, msg)| err(k(&format!("fix.{key}")), msg))?,
                ),
                ("fix", None) => {
                    return Err(err(k("fix"), "a FIX venue needs its [venues.fix] settings"))
                }
                _ => {
                    return Err(err(
                        k("kind"),
                        format!(
                            "unknown venue kind {:?} (supported: \"paper\", \"fix\", \"binance-spot\", \"binance-usdm\")",
                            v.kind
                        ),
                    ))
                }
            };
            if venue_by_name.insert(name, VenueId(i as u16)).is_some() {
                return Err(err(k("name"), format!("duplicate venue {:?}", v.name)));
            }
            let p = &v.paper;
            let bps = |f: &str, s: &str| -> Result<i64, ConfigError> {
                parse_dec(&k(f), s)?
                    .to_scale(2)
                    .filter(|v| (0..=100_000).contains(v))
                    .ok_or_else(|| {
                        err(
                            k(f),
                            "must be between 0 and 1000 bps with at most 2 decimals",
                        )
                    })
            };
            venues.push(VenueSpec {
                id: VenueId(i as u16),
                name,
                timeout_ns: ms_to_ns(k("timeout_ms"), v.timeout_ms)?,
                max_orders_per_sec: v.max_orders_per_sec,
                burst: v.burst,
                breaker_failures: v.breaker_failures,
                breaker_cooldown_ns: ms_to_ns(k("breaker_cooldown_ms"), v.breaker_cooldown_ms)?,
                reconcile_every_ns: v.reconcile_every_s.unwrap_or(
                    if fix.is_some() || binance.is_some() {
                        300
                    } else {
                        0
                    },
                ) * 1_000_000_000,
                retry: RetryPolicy {
                    attempts: v.retry_attempts,
                    base_ns: ms_to_ns(k("retry_backoff_ms"), v.retry_backoff_ms)?,
                    max_ns: ms_to_ns(k("retry_backoff_max_ms"), v.retry_backoff_max_ms)?
                        .max(ms_to_ns(k("retry_backoff_ms"), v.retry_backoff_ms)?),
                },
                paper: PaperSpec {
                    seed: p.seed,
                    latency_min_ns: us_to_ns(k("paper.latency_us_min"), p.latency_us_min)?,
                    latency_mean_extra_ns: us_to_ns(
                        k("paper.latency_us_mean_extra"),
                        p.latency_us_mean_extra,
                    )?,
                    slippage_bps_e2: bps("paper.slippage_bps", &p.slippage_bps)?,
                    commission_bps_e2: bps("paper.commission_bps", &p.commission_bps)?,
                    partial_fill_pct: p.partial_fill_pct,
                    silent_per_mille: p.silent_per_mille,
                    unsent_first: p.unsent_first,
                    quote_interval_ns: ms_to_ns(k("paper.quote_interval_ms"), p.quote_interval_ms)?,
                },
                fix,
                binance,
            });
        }
        if cfg.instruments.is_empty() {
            return Err(err("instruments", "at least one instrument is required"));
        }
        let mut instruments = Vec::new();
        let mut sims = Vec::new();
        let mut instrument_by_key = FxHashMap::default();
        for (i, c) in cfg.instruments.iter().enumerate() {
            let k = |f: &str| format!("instruments[{i}].{f}");
            let symbol = name(&k("symbol"), &c.symbol)?;
            let venue = *venue_by_name
                .get(&name(&k("venue"), &c.venue)?)
                .ok_or_else(|| err(k("venue"), format!("no venue named {:?}", c.venue)))?;
            let tick = positive(&k("tick"), &c.tick)?;
            let lot = positive(&k("lot"), &c.lot)?;
            let price_scale = tick.scale;
            let qty_scale = lot.scale;
            let px = |f: &str, s: &str| -> Result<Price, ConfigError> {
                let d = positive(&k(f), s)?;
                let v = d.to_scale(price_scale).ok_or_else(|| {
                    err(k(f), format!("has more decimals than the tick {}", c.tick))
                })?;
                if v % tick.mant != 0 {
                    return Err(err(
                        k(f),
                        format!("is not a multiple of the tick {}", c.tick),
                    ));
                }
                Ok(Price(v))
            };
            let qty = |f: &str, s: &str| -> Result<Qty, ConfigError> {
                let d = positive(&k(f), s)?;
                let v = d.to_scale(qty_scale).ok_or_else(|| {
                    err(k(f), format!("has more decimals than the lot {}", c.lot))
                })?;
                Ok(Qty(v))
            };
            let pip = match &c.pip {
                Some(p) => px("pip", p)?,
                None => Price(tick.mant),
            };
            let max_spread = c
                .max_spread
                .as_ref()
                .map(|s| px("max_spread", s))
                .transpose()?;
            let max_notional = positive(&k("max_notional"), &c.max_notional)?
                .to_scale(MONEY_SCALE)
                .ok_or_else(|| err(k("max_notional"), "too many decimals or too large"))?;
            // What the paper venue derives from these must fit its integers.
            if (c.spread_ticks as i64)
                .checked_mul(tick.mant)
                .is_none_or(|v| v > i64::MAX / 4)
            {
                return Err(err(
                    k("spread_ticks"),
                    format!("{} ticks of {} do not fit a price", c.spread_ticks, c.tick),
                ));
            }
            if (c.volatility_ticks as i64)
                .checked_mul(tick.mant)
                .is_none_or(|v| v > i64::MAX / 4)
            {
                return Err(err(
                    k("volatility_ticks"),
                    format!(
                        "{} ticks of {} do not fit a price",
                        c.volatility_ticks, c.tick
                    ),
                ));
            }
            if (c.depth_lots as i64)
                .checked_mul(lot.mant)
                .is_none_or(|v| v > i64::MAX / 4)
            {
                return Err(err(
                    k("depth_lots"),
                    format!("{} lots of {} do not fit a quantity", c.depth_lots, c.lot),
                ));
            }
            let id = InstrumentId(i as u16);
            if instrument_by_key.insert((venue, symbol), id).is_some() {
                return Err(err(
                    k("symbol"),
                    format!("duplicate instrument {:?} on {:?}", c.symbol, c.venue),
                ));
            }
            instruments.push(Instrument {
                id,
                symbol,
                venue,
                price_scale,
                qty_scale,
                tick: Price(tick.mant),
                lot: Qty(lot.mant),
                pip,
                hours: parse_hours(&k("hours"), &c.hours)?,
                tradable: c.tradable,
                max_spread,
                price_band_bps: c.price_band_bps,
                margin_bps: c.margin_bps,
                max_order_qty: qty("max_order_qty", &c.max_order_qty)?,
                max_notional: Money(max_notional),
                max_position: qty("max_position", &c.max_position)?,
            });
            sims.push(SimSpec {
                initial_price: px("initial_price", &c.initial_price)?,
                spread_ticks: c.spread_ticks,
                volatility_ticks: c.volatility_ticks,
                depth_lots: c.depth_lots,
            });
        }
        if cfg.accounts.is_empty() {
            return Err(err("accounts", "at least one account is required"));
        }
        let mut accounts = Vec::new();
        let mut account_by_name = FxHashMap::default();
        for (i, a) in cfg.accounts.iter().enumerate() {
            let k = |f: &str| format!("accounts[{i}].{f}");
            let n = name(&k("name"), &a.name)?;
            let id = AccountId(i as u16);
            if account_by_name.insert(n, id).is_some() {
                return Err(err(k("name"), format!("duplicate account {:?}", a.name)));
            }
            let cash = parse_dec(&k("cash"), &a.cash)?
                .to_scale(MONEY_SCALE)
                .filter(|v| *v >= 0)
                .ok_or_else(|| err(k("cash"), "must be ≥ 0 with at most 6 decimals"))?;
            accounts.push(AccountSpec {
                id,
                name: n,
                mode: a.mode,
                cash: Money(cash),
                max_open_orders: a.max_open_orders,
            });
        }
        if venues.len() > u16::MAX as usize || instruments.len() > u16::MAX as usize {
            return Err(err("", "too many venues or instruments"));
        }
        let order_entry = check_order_entry(cfg, &venue_by_name, &account_by_name)?;
        Ok(Registry {
            core: cfg.core.clone(),
            max_quote_age_ns: ms_to_ns("gate.max_quote_age_ms".into(), cfg.gate.max_quote_age_ms)?,
            margin_cushion_bps: cushion as u32,
            venues,
            instruments,
            sims,
            accounts,
            order_entry,
            alerts: alerts::check(&cfg.alerts)?,
            config: cfg.clone(),
            venue_by_name,
            account_by_name,
            instrument_by_key,
        })
    }

    /// The configuration as TOML text, which [`Registry::from_toml`] reads back.
    pub fn to_toml(&self) -> String {
        toml::to_string(&self.config).unwrap_or_default()
    }

    /// A hash of everything that decides how the core behaves, so a journal written under
    /// one configuration is never replayed under another.
    pub fn fingerprint(&self) -> u64 {
        let text = format!(
            "{:?}|{}|{}|{:?}|{:?}|{:?}|{:?}",
            self.core.max_orders,
            self.max_quote_age_ns,
            self.margin_cushion_bps,
            self.venues,
            self.instruments,
            self.sims,
            self.accounts
        );
        // Only when set: journals from before the setting keep their fingerprint.
        let text = match self.core.max_request_ids {
            DEFAULT_MAX_REQUEST_IDS => text,
            n => format!("{text}|request_ids={n}"),
        };
        xxhash_rust::xxh3::xxh3_64(text.as_bytes())
    }

    /// Venue by name.
    pub fn venue(&self, name: &Name) -> Option<VenueId> {
        self.venue_by_name.get(name).copied()
    }

    /// Account by name.
    pub fn account(&self, name: &Name) -> Option<AccountId> {
        self.account_by_name.get(name).copied()
    }

    /// Instrument by venue and symbol.
    pub fn instrument(&self, venue: VenueId, symbol: &Name) -> Option<InstrumentId> {
        self.instrument_by_key.get(&(venue, *symbol)).copied()
    }

    /// Instrument by venue name and symbol, for callers outside the hot path.
    pub fn instrument_by_names(&self, venue: &str, symbol: &str) -> Option<&Instrument> {
        let v = self.venue(&Name::new(venue).ok()?)?;
        let id = self.instrument(v, &Name::new(symbol).ok()?)?;
        Some(&self.instruments[id.0 as usize])
    }
}

/// `[[order_entry]]`: each session on its own, then against the venues and accounts and
/// each other (names, and one session per CompID pair on an address).
fn check_order_entry(
    cfg: &Config,
    venues: &FxHashMap<Name, VenueId>,
    accounts: &FxHashMap<Name, AccountId>,
) -> Result<Vec<EntrySpec>, ConfigError> {
    let mut out: Vec<EntrySpec> = Vec::new();
    for (i, e) in cfg.order_entry.iter().enumerate() {
        let k = |f: &str| format!("order_entry[{i}].{f}");
        let s = e.check().map_err(|(key, msg)| err(k(&key), msg))?;
        if !accounts.contains_key(&s.account) {
            return Err(err(
                k("account"),
                format!("no account named {:?}", e.account),
            ));
        }
        if !venues.contains_key(&s.venue) {
            return Err(err(k("venue"), format!("no venue named {:?}", e.venue)));
        }
        if out.iter().any(|o| o.name == s.name) {
            return Err(err(k("name"), format!("duplicate session {:?}", e.name)));
        }
        let same_pair = |o: &EntrySpec| {
            o.port == s.port
                && o.session.sender_comp_id == s.session.sender_comp_id
                && o.session.target_comp_id == s.session.target_comp_id
        };
        if out.iter().any(same_pair) {
            return Err(err(
                k("fix.TargetCompID"),
                "another session on this port has the same SenderCompID and TargetCompID: a Logon could not tell them apart",
            ));
        }
        out.push(s);
    }
    Ok(out)
}

fn name(key: &str, s: &str) -> Result<Name, ConfigError> {
    if s.is_empty() {
        return Err(err(key, "must not be empty"));
    }
    Name::new(s).map_err(|e| err(key, format!("{s:?} is {e}")))
}

fn parse_dec(key: &str, s: &str) -> Result<Dec, ConfigError> {
    Dec::parse(s).map_err(|e| err(key, format!("{s:?}: {e}")))
}

fn positive(key: &str, s: &str) -> Result<Dec, ConfigError> {
    let d = parse_dec(key, s)?;
    if d.mant <= 0 {
        return Err(err(key, format!("{s:?} must be greater than 0")));
    }
    Ok(d)
}

/// Parses "24/7" or "`<days>` HH:MM-HH:MM" (UTC), days as "mon-fri", "sat,sun" or "daily".
pub fn parse_hours(key: &str, s: &str) -> Result<TradingHours, ConfigError> {
    let bad = || {
        err(
            key,
            format!("{s:?}: expected \"24/7\" or e.g. \"mon-fri 14:30-21:00\" (UTC)"),
        )
    };
    let s = s.trim();
    if s == "24/7" {
        return Ok(TradingHours::ALWAYS);
    }
    let (days, times) = s.split_once(' ').ok_or_else(bad)?;
    const NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let day = |d: &str| NAMES.iter().position(|n| *n == d);
    let mut mask = 0u8;
    if days == "daily" {
        mask = 0x7f;
    } else {
        for part in days.split(',') {
            match part.split_once('-') {
                Some((a, b)) => {
                    let (a, b) = (day(a).ok_or_else(bad)?, day(b).ok_or_else(bad)?);
                    let mut d = a;
                    loop {
                        mask |= 1 << d;
                        if d == b {
                            break;
                        }
                        d = (d + 1) % 7;
                    }
                }
                None => mask |= 1 << day(part).ok_or_else(bad)?,
            }
        }
    }
    let (open, close) = times.trim().split_once('-').ok_or_else(bad)?;
    let hm = |t: &str| -> Option<u16> {
        let (h, m) = t.split_once(':')?;
        let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
        // Checked before computed: `then_some` would evaluate `h * 60` for any hour.
        if h <= 24 && m < 60 && h * 60 + m <= 1440 {
            Some(h * 60 + m)
        } else {
            None
        }
    };
    let open_min = hm(open).ok_or_else(bad)?;
    let close_min = hm(close).ok_or_else(bad)?;
    if open_min == close_min {
        return Err(err(
            key,
            format!("{s:?}: opens and closes at the same minute"),
        ));
    }
    Ok(TradingHours {
        days: mask,
        open_min,
        close_min,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_is_valid() {
        let r = Registry::default_paper();
        assert!(!r.instruments.is_empty());
        assert!(r.instrument_by_names("paper", "AAPL").is_some());
    }

    #[test]
    fn errors_name_the_key() {
        let bad = DEFAULT_TOML.replacen("tick = \"0.01\"", "tick = \"-0.01\"", 1);
        let e = Registry::from_toml(&bad).unwrap_err();
        assert_eq!(e.key, "instruments[0].tick", "{e}");
        let bad = DEFAULT_TOML.replacen("kind = \"paper\"", "kind = \"nyse\"", 1);
        assert_eq!(Registry::from_toml(&bad).unwrap_err().key, "venues[0].kind");
        let bad = DEFAULT_TOML.replacen("[core]", "[core]\nbogus = 1", 1);
        let e = Registry::from_toml(&bad).unwrap_err();
        assert!(e.to_string().contains("bogus"), "{e}");
    }

    /// The attacker's values: each was multiplied unchecked (timeouts of 0.29 s, a demo
    /// spinning forever), allocated (2^63 ring slots panicked, 2^32 aborted on 1.5 TB) or
    /// preallocated (a 77 GB segment filled the disk). Each is refused by key and range.
    #[test]
    fn values_that_overflow_or_exhaust_the_machine_are_refused_by_key_and_range() {
        let cases = [
            (
                "timeout_ms = 30000",
                "timeout_ms = 18446744073710",
                "venues[0].timeout_ms",
            ),
            (
                "quote_interval_ms = 5",
                "quote_interval_ms = 18446744073709",
                "venues[0].paper.quote_interval_ms",
            ),
            (
                "max_quote_age_ms = 5000",
                "max_quote_age_ms = 18446744073710",
                "gate.max_quote_age_ms",
            ),
            (
                "breaker_cooldown_ms = 10000",
                "breaker_cooldown_ms = 18446744073710",
                "venues[0].breaker_cooldown_ms",
            ),
            (
                "latency_us_min = 40",
                "latency_us_min = 18446744073709552",
                "venues[0].paper.latency_us_min",
            ),
            (
                "latency_us_mean_extra = 60",
                "latency_us_mean_extra = 18446744073709552",
                "venues[0].paper.latency_us_mean_extra",
            ),
            (
                "ring_capacity = 65536",
                "ring_capacity = 9223372036854775807",
                "core.ring_capacity",
            ),
            (
                "ring_capacity = 65536",
                "ring_capacity = 4294967296",
                "core.ring_capacity",
            ),
            (
                "segment_kb = 65536",
                "segment_kb = 4294967296",
                "journal.segment_kb",
            ),
            (
                "audit_file_mb = 256",
                "audit_file_mb = 17592186044416",
                "journal.audit_file_mb",
            ),
            (
                "max_orders = 262144",
                "max_orders = 4294967295",
                "core.max_orders",
            ),
            (
                "fsync_ms = 10",
                "fsync_ms = 18446744073710",
                "journal.fsync_ms",
            ),
            (
                "max_orders_per_sec = 2000000",
                "max_orders_per_sec = 0",
                "venues[0].max_orders_per_sec",
            ),
            ("burst = 20000", "burst = 4294967295", "venues[0].burst"),
            (
                "partial_fill_pct = 20",
                "partial_fill_pct = 101",
                "venues[0].paper.partial_fill_pct",
            ),
            (
                "silent_per_mille = 1",
                "silent_per_mille = 1001",
                "venues[0].paper.silent_per_mille",
            ),
            (
                "price_band_bps = 300",
                "price_band_bps = 4294967295",
                "instruments[0].price_band_bps",
            ),
            (
                "margin_bps = 2500",
                "margin_bps = 0",
                "instruments[0].margin_bps",
            ),
            (
                "spread_ticks = 2",
                "spread_ticks = 4294967295",
                "instruments[0].spread_ticks",
            ),
            (
                "depth_lots = 2000",
                "depth_lots = 4294967295",
                "instruments[0].depth_lots",
            ),
            (
                "max_open_orders = 50000",
                "max_open_orders = 0",
                "accounts[0].max_open_orders",
            ),
            ("[core]", "[core]\npin_core = 100000", "core.pin_core"),
            (
                "# retain_segments = 8",
                "retain_segments = 1",
                "journal.retain_segments",
            ),
            (
                "idle_yield_us = 2000 ",
                "idle_yield_us = 5000000 ",
                "core.idle_yield_us",
            ),
        ];
        for (from, to, key) in cases {
            assert!(DEFAULT_TOML.contains(from), "{from}");
            let e = Registry::from_toml(&DEFAULT_TOML.replacen(from, to, 1))
                .err()
                .unwrap_or_else(|| panic!("{to} was accepted"));
            assert_eq!(e.key, key, "{to}: {e}");
            let r = RANGES
                .iter()
                .find(|r| key.replace(|c: char| c.is_ascii_digit(), "") == r.key)
                .unwrap_or_else(|| panic!("{key} is not in RANGES"));
            assert!(
                e.msg.contains(&format!("between {} and {}", r.min, r.max)),
                "{to}: {e}"
            );
        }
        // A margin cushion of a million is no cushion either.
        let e = Registry::from_toml(&DEFAULT_TOML.replacen(
            "margin_cushion = \"1.2\"",
            "margin_cushion = \"1000000\"",
            1,
        ))
        .unwrap_err();
        assert_eq!(e.key, "gate.margin_cushion");
        // And a tick so large that the spread in ticks no longer fits a price.
        let e = Registry::from_toml(
            &DEFAULT_TOML
                .replacen("tick = \"0.01\"", "tick = \"1000000000000000\"", 1)
                .replacen(
                    "max_spread = \"0.10\"",
                    "max_spread = \"2000000000000000\"",
                    1,
                )
                .replacen(
                    "initial_price = \"190.00\"",
                    "initial_price = \"3000000000000000\"",
                    1,
                )
                .replacen("spread_ticks = 2", "spread_ticks = 1000000", 1),
        )
        .unwrap_err();
        assert_eq!(e.key, "instruments[0].spread_ticks", "{e}");
    }

    #[test]
    fn every_range_is_checked_and_every_default_is_inside_its_range() {
        let r = Registry::default_paper();
        assert!(check_ranges(&r.config).is_ok());
        for range in RANGES {
            assert!(range.min <= range.max, "{range:?}");
        }
        // Each entry of RANGES is looked up by some check (a typo would panic there).
        let src = [include_str!("config.rs"), include_str!("config/alerts.rs")].concat();
        for range in RANGES {
            let short = range.key.rsplit(['.', ']']).next().unwrap_or(range.key);
            assert!(
                src.matches(short).count() >= 2,
                "{} is never checked",
                range.key
            );
        }
    }

    #[test]
    fn config_round_trips_through_toml() {
        let r = Registry::default_paper();
        let back = Registry::from_toml(&r.to_toml()).unwrap();
        assert_eq!(back.fingerprint(), r.fingerprint());
    }

    #[test]
    fn hours_parse() {
        let h = parse_hours("k", "mon-fri 14:30-21:00").unwrap();
        assert_eq!(h.days, 0b1_1111);
        assert_eq!((h.open_min, h.close_min), (870, 1260));
        assert_eq!(
            parse_hours("k", "sat,sun 00:00-24:00").unwrap().days,
            0b110_0000
        );
        assert_eq!(
            parse_hours("k", "fri-mon 22:00-21:00").unwrap().days,
            0b111_0001
        );
        assert!(parse_hours("k", "mon 25:00-26:00").is_err());
        assert!(parse_hours("k", "someday 10:00-11:00").is_err());
    }
}
