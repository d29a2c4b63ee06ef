//! `execd-binance-sim`: Binance Spot or USDⓈ-M futures on 127.0.0.1 — REST, market
//! streams, user data — as the official API documentation describes it, for testing
//! execd's Binance bridge against the protocol rather than against itself. See
//! `tools/binance-sim/README.md` for flags, control commands and what is simulated.

mod auth;
mod control;
mod decimal;
mod errors;
mod exchange;
mod info;
mod market;
mod server;
mod ws;

use auth::{ApiKey, KeyKind};
use clap::Parser;
use exchange::{Exchange, Protocol, Symbol};
use serde_json::json;
use server::{App, Limits, Settings};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Parser, Debug)]
#[command(
    name = "execd-binance-sim",
    about = "Binance Spot / USDⓈ-M protocol simulator on 127.0.0.1"
)]
struct Cli {
    /// `spot` (api.binance.com, /api/v3, WebSocket API user data) or `usdm`
    /// (fapi.binance.com, /fapi, listen-key user data).
    #[arg(long)]
    protocol: String,
    /// 127.0.0.1 port; 0 picks a free one (printed in the `listening` line).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// API key (the X-MBX-APIKEY value) of the HMAC key.
    #[arg(long)]
    api_key: Option<String>,
    /// Environment variable holding the HMAC secret of `--api-key`.
    #[arg(long, default_value = "BINANCE_SIM_SECRET")]
    secret_env: String,
    /// API key of the Ed25519 key.
    #[arg(long)]
    ed25519_api_key: Option<String>,
    /// PEM file with the Ed25519 public key (`-----BEGIN PUBLIC KEY-----`).
    #[arg(long)]
    ed25519_public_key_file: Option<std::path::PathBuf>,
    /// Symbols traded, comma-separated (quote asset: the known suffix USDT, USDC, FDUSD,
    /// BTC, ETH, BNB).
    #[arg(long, default_value = "BTCUSDT,ETHUSDT", value_delimiter = ',')]
    symbols: Vec<String>,
    #[arg(long, default_value = "100")]
    start_price: String,
    #[arg(long, default_value = "0.01")]
    tick_size: String,
    #[arg(long, default_value = "0.001")]
    step_size: String,
    #[arg(long, default_value = "0.001")]
    min_qty: String,
    #[arg(long, default_value = "100000")]
    max_qty: String,
    #[arg(long, default_value = "5")]
    min_notional: String,
    /// Starting balance, ASSET=AMOUNT (repeatable). Spot default: every quote asset
    /// 100000 and every base asset 100; USDⓈ-M: USDT=100000 (the wallet).
    #[arg(long)]
    balance: Vec<String>,
    #[arg(long, default_value_t = 10)]
    commission_bps: i64,
    /// USDⓈ-M leverage for initial margin.
    #[arg(long, default_value_t = 20)]
    leverage: i64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Milliseconds per price step (and bookTicker push).
    #[arg(long, default_value_t = 100)]
    tick_ms: u64,
    /// Largest price step, ± bps, uniform.
    #[arg(long, default_value_t = 5)]
    volatility_bps: i64,
    /// Pieces per fill (1: fills in full).
    #[arg(long, default_value_t = 1)]
    partial_pieces: i64,
    /// REQUEST_WEIGHT per minute (default: spot 6000, USDⓈ-M 2400).
    #[arg(long)]
    weight_limit: Option<u64>,
    /// ORDERS per 10 s (default: spot 100, USDⓈ-M 300).
    #[arg(long)]
    order_limit_10s: Option<u64>,
    /// ORDERS per day on spot, per minute on USDⓈ-M (default: 200000 / 1200).
    #[arg(long)]
    order_limit_long: Option<u64>,
    /// Requests sent inside a Retry-After before the 418 ban.
    #[arg(long, default_value_t = 3)]
    ban_after: u32,
    /// Length of a ban, seconds.
    #[arg(long, default_value_t = 120)]
    ban_secs: i64,
    /// USDⓈ-M listen key validity without a keepalive, minutes.
    #[arg(long, default_value_t = 60)]
    listen_key_minutes: i64,
    /// No control commands on stdin; stop with SIGTERM/SIGINT.
    #[arg(long)]
    no_stdin: bool,
}

fn dec_arg(name: &str, v: &str) -> Result<i64, String> {
    decimal::parse(v).map_err(|_| format!("--{name}: not a decimal with at most 8 places: {v}"))
}

fn split_symbol(s: &str) -> Result<(String, String), String> {
    for q in ["USDT", "USDC", "FDUSD", "BTC", "ETH", "BNB"] {
        if let Some(base) = s.strip_suffix(q) {
            if !base.is_empty() {
                return Ok((base.to_string(), q.to_string()));
            }
        }
    }
    Err(format!("--symbols: cannot tell the quote asset of {s}"))
}

fn build(cli: Cli) -> Result<(App, u16, bool, u64), String> {
    let proto = match cli.protocol.as_str() {
        "spot" => Protocol::Spot,
        "usdm" => Protocol::Usdm,
        p => return Err(format!("--protocol: spot or usdm, not {p}")),
    };
    let tick = dec_arg("tick-size", &cli.tick_size)?;
    let step = dec_arg("step-size", &cli.step_size)?;
    let min_qty = dec_arg("min-qty", &cli.min_qty)?;
    let max_qty = dec_arg("max-qty", &cli.max_qty)?;
    let min_notional = dec_arg("min-notional", &cli.min_notional)?;
    let start = dec_arg("start-price", &cli.start_price)?;
    if tick <= 0 || step <= 0 || min_qty <= 0 || start <= 0 {
        return Err("tick, step, min-qty and start-price must be greater than 0".into());
    }
    let mut symbols = Vec::new();
    for name in cli.symbols.iter().filter(|s| !s.is_empty()) {
        let name = name.to_uppercase();
        let (base, quote) = split_symbol(&name)?;
        let path = market::PricePath::new(&name, cli.seed, start, tick, cli.volatility_bps.max(0));
        symbols.push(Symbol {
            name,
            base,
            quote,
            tick,
            step,
            min_qty,
            max_qty,
            min_notional,
            path,
            fills: 0,
            traded: 0,
        });
    }
    if symbols.is_empty() {
        return Err("--symbols: none".into());
    }
    let mut ex = Exchange::new(proto, symbols);
    ex.commission_bps = cli.commission_bps.max(0);
    ex.leverage = cli.leverage.max(1);
    ex.partial_pieces = cli.partial_pieces.max(1);
    let mut given = BTreeMap::new();
    for b in &cli.balance {
        let (a, v) = b
            .split_once('=')
            .ok_or_else(|| format!("--balance: ASSET=AMOUNT, not {b}"))?;
        given.insert(a.to_uppercase(), dec_arg("balance", v)?);
    }
    match proto {
        Protocol::Spot => {
            for s in &ex.symbols {
                ex.balances
                    .entry(s.quote.clone())
                    .or_insert((100_000 * decimal::SCALE, 0));
                ex.balances
                    .entry(s.base.clone())
                    .or_insert((100 * decimal::SCALE, 0));
            }
            for (a, v) in given {
                ex.balances.insert(a, (v, 0));
            }
        }
        Protocol::Usdm => {
            ex.wallet = given
                .get("USDT")
                .copied()
                .unwrap_or(100_000 * decimal::SCALE)
        }
    }
    let mut keys = Vec::new();
    if let Some(name) = cli.api_key {
        // The secret comes from the environment only: never a flag (shell history, ps).
        let secret = std::env::var(&cli.secret_env)
            .map_err(|_| format!("--api-key needs the HMAC secret in ${}", cli.secret_env))?;
        keys.push(ApiKey {
            name,
            kind: KeyKind::Hmac(secret.into_bytes()),
        });
    }
    match (cli.ed25519_api_key, cli.ed25519_public_key_file) {
        (Some(name), Some(file)) => {
            let pem =
                std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            let pk = auth::ed25519_public_key(&pem)?;
            keys.push(ApiKey {
                name,
                kind: KeyKind::Ed25519(Box::new(pk)),
            });
        }
        (None, None) => {}
        _ => return Err("--ed25519-api-key and --ed25519-public-key-file go together".into()),
    }
    if keys.is_empty() {
        return Err("no API key: give --api-key (with the secret in the environment) and/or --ed25519-api-key with --ed25519-public-key-file".into());
    }
    let spot = proto == Protocol::Spot;
    let settings = Settings {
        weight_limit: cli.weight_limit.unwrap_or(if spot { 6000 } else { 2400 }),
        order_limit_10s: cli.order_limit_10s.unwrap_or(if spot { 100 } else { 300 }),
        order_limit_long: cli
            .order_limit_long
            .unwrap_or(if spot { 200_000 } else { 1200 }),
        ban_after: cli.ban_after.max(1),
        ban_secs: cli.ban_secs.max(1),
        listen_key_ms: cli.listen_key_minutes.max(1) * 60_000,
    };
    let limits = Limits::new();
    let (user_tx, _) = tokio::sync::broadcast::channel(4096);
    let (market_tx, _) = tokio::sync::broadcast::channel(4096);
    let (drop_tx, _) = tokio::sync::watch::channel(0);
    let app = App {
        proto,
        ex: Mutex::new(ex),
        keys,
        skew_ms: AtomicI64::new(0),
        limits: Mutex::new(limits),
        settings,
        user_tx,
        market_tx,
        drop_tx,
        quotes_on: AtomicBool::new(true),
        ws_open: AtomicUsize::new(0),
        listen_keys: Mutex::new(BTreeMap::new()),
        requests: AtomicU64::new(0),
        key_seq: AtomicU64::new(0),
    };
    Ok((app, cli.port, cli.no_stdin, cli.tick_ms.max(1)))
}

/// Steps the price paths, fills what crosses, pushes bookTickers, expires listen keys.
async fn ticker(app: Arc<App>, tick_ms: u64) {
    let mut iv = tokio::time::interval(std::time::Duration::from_millis(tick_ms));
    loop {
        iv.tick().await;
        let now = app.now_ms();
        let mut ex = server::lock(&app.ex);
        ex.tick(now);
        let events = ex.take_events();
        let tickers: Vec<_> = (0..ex.symbols.len())
            .map(|i| (i, app.book_ticker(&ex, i, now)))
            .collect();
        drop(ex);
        app.publish(events);
        if app.quotes_on.load(Ordering::Relaxed) {
            for (i, t) in tickers {
                let _ = app.market_tx.send((i, Arc::new(t)));
            }
        }
        let expired: Vec<String> = {
            let mut keys = server::lock(&app.listen_keys);
            let gone: Vec<String> = keys
                .iter()
                .filter(|(_, e)| **e <= now)
                .map(|(k, _)| k.clone())
                .collect();
            for k in &gone {
                keys.remove(k);
            }
            gone
        };
        for k in expired {
            let ev = json!({"e": "listenKeyExpired", "E": now, "listenKey": k});
            let _ = app
                .user_tx
                .send(server::UserMsg::KeyGone(k, Some(Arc::new(ev))));
        }
    }
}

fn main() {
    let (app, port, no_stdin, tick_ms) = match build(Cli::parse()) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("execd-binance-sim: {e}");
            std::process::exit(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("execd-binance-sim: runtime: {e}");
            std::process::exit(1);
        }
    };
    let app = Arc::new(app);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        if let Err(e) = signal_hook::flag::register(sig, Arc::clone(&stop)) {
            eprintln!("execd-binance-sim: signal handler: {e}");
            std::process::exit(1);
        }
    }
    let result: Result<(), String> = rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .map_err(|e| format!("listen: {e}"))?;
        let bound = listener.local_addr().map_err(|e| e.to_string())?;
        let proto = if app.proto == Protocol::Spot {
            "spot"
        } else {
            "usdm"
        };
        control::emit(&json!({"type": "listening", "port": bound.port(), "protocol": proto}));
        use axum::routing::get;
        let router = axum::Router::new()
            .route("/ws-api/v3", get(ws::ws_api))
            .route("/ws", get(ws::bare))
            .route("/ws/{name}", get(ws::raw))
            .route("/stream", get(ws::combined))
            .route("/public/ws", get(ws::bare))
            .route("/public/ws/{name}", get(ws::raw))
            .route("/public/stream", get(ws::combined))
            .route("/market/ws", get(ws::bare))
            .route("/market/ws/{name}", get(ws::raw))
            .route("/market/stream", get(ws::combined))
            .route("/private/ws", get(ws::private_query))
            .route("/private/ws/{name}", get(ws::raw))
            .route("/private/stream", get(ws::combined))
            .fallback(server::rest)
            .with_state(Arc::clone(&app));
        tokio::spawn(ticker(Arc::clone(&app), tick_ms));
        let (quit_tx, mut quit_rx) = tokio::sync::watch::channel(false);
        if !no_stdin {
            control::spawn(Arc::clone(&app), quit_tx.clone());
        }
        let stop2 = Arc::clone(&stop);
        tokio::spawn(async move {
            let mut iv = tokio::time::interval(std::time::Duration::from_millis(100));
            loop {
                iv.tick().await;
                if stop2.load(std::sync::atomic::Ordering::Relaxed) {
                    let _ = quit_tx.send(true);
                    return;
                }
            }
        });
        axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = quit_rx.wait_for(|q| *q).await;
            })
            .await
            .map_err(|e| e.to_string())?;
        control::emit(&control::status(&app, "final"));
        Ok(())
    });
    if let Err(e) = result {
        eprintln!("execd-binance-sim: {e}");
        std::process::exit(1);
    }
    // Open WebSockets would hold a graceful shutdown forever; the process just ends.
    std::process::exit(0);
}
