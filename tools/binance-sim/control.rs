//! Fault injection and inspection: one command per line on stdin, one JSON object per
//! line on stdout (as execd-venue-sim does).

use crate::decimal as dec;
use crate::server::{lock, App};
use serde_json::{json, Value};
use std::io::{BufRead, Write};
use std::sync::atomic::Ordering;
use std::sync::Arc;

pub(crate) fn emit(v: &Value) {
    let out = std::io::stdout();
    let mut out = out.lock();
    let _ = writeln!(out, "{v}");
    let _ = out.flush();
}

pub(crate) fn status(app: &App, kind: &str) -> Value {
    let ex = lock(&app.ex);
    let l = lock(&app.limits);
    let c = &ex.counters;
    let positions: Vec<Value> = ex
        .positions
        .iter()
        .filter(|(_, p)| p.amt != 0)
        .map(|(i, p)| json!({"symbol": ex.symbols[*i].name, "amount": dec::trim(p.amt), "entry": dec::trim(p.entry)}))
        .collect();
    let prices: Vec<Value> = ex
        .symbols
        .iter()
        .map(|s| json!({"symbol": s.name, "bid": dec::trim(s.path.bid()), "ask": dec::trim(s.path.ask())}))
        .collect();
    let traded: Vec<Value> = ex
        .symbols
        .iter()
        .filter(|s| s.fills > 0)
        .map(|s| json!({"symbol": s.name, "fills": s.fills, "qty": dec::trim(s.traded)}))
        .collect();
    let balances: Vec<Value> = ex
        .balances
        .iter()
        .map(|(a, (free, locked))| json!({"asset": a, "free": dec::trim(*free), "locked": dec::trim(*locked)}))
        .collect();
    json!({
        "type": kind, "requests": app.requests.load(Ordering::Relaxed),
        "orders": c.orders, "rejects": c.rejects, "fills": c.fills, "cancels": c.cancels,
        "amends": c.amends, "open_orders": ex.orders.values().filter(|o| o.status.open()).count(),
        "websockets": app.ws_open.load(Ordering::Relaxed), "throttled": l.throttled,
        "banned": l.banned, "skew_ms": app.skew_ms.load(Ordering::Relaxed),
        "partial_pieces": ex.partial_pieces,
        "quotes": app.quotes_on.load(Ordering::Relaxed), "wallet": dec::trim(ex.wallet),
        "positions": positions, "prices": prices, "traded": traded, "balances": balances
    })
}

pub(crate) fn spawn(app: Arc<App>, quit: tokio::sync::watch::Sender<bool>) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Option<String>>();
    let reader = std::thread::Builder::new()
        .name("binance-sim-stdin".into())
        .spawn(move || {
            for line in std::io::stdin().lock().lines() {
                let Ok(line) = line else { break };
                if tx.send(Some(line)).is_err() {
                    return;
                }
            }
            let _ = tx.send(None);
        });
    if let Err(e) = reader {
        eprintln!("execd-binance-sim: stdin thread: {e}");
        std::process::exit(1);
    }
    tokio::spawn(async move {
        while let Some(line) = rx.recv().await {
            let Some(line) = line else {
                let _ = quit.send(true);
                return;
            };
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            if line == "quit" {
                let _ = quit.send(true);
                return;
            }
            emit(&command(&app, line));
        }
    });
}

fn int_arg(words: &[&str], i: usize) -> Option<i64> {
    words.get(i).and_then(|w| w.parse::<i64>().ok())
}

fn command(app: &App, line: &str) -> Value {
    let words: Vec<&str> = line.split_whitespace().collect();
    let err = |m: &str| json!({"type": "error", "command": line, "message": m});
    match words.as_slice() {
        ["status"] => status(app, "status"),
        ["drop-stream"] => {
            let n = app.ws_open.load(Ordering::Relaxed);
            app.drop_tx.send_modify(|g| *g += 1);
            json!({"type": "ok", "command": "drop-stream", "closed": n})
        }
        ["quotes", on @ ("on" | "off")] => {
            app.quotes_on.store(*on == "on", Ordering::Relaxed);
            json!({"type": "ok", "command": "quotes", "quotes": *on})
        }
        ["throttle", ..] => {
            let (Some(n), secs) = (int_arg(&words, 1), int_arg(&words, 2).unwrap_or(1)) else {
                return err("throttle N [RETRY_AFTER_SECS]");
            };
            let mut l = lock(&app.limits);
            l.throttle_left = n.clamp(0, u32::MAX as i64) as u32;
            l.throttle_secs = secs.max(1);
            json!({"type": "ok", "command": "throttle", "n": n, "retry_after": secs.max(1)})
        }
        ["skew-ms", v] => match v.parse::<i64>() {
            Ok(v) => {
                app.skew_ms.store(v, Ordering::Relaxed);
                json!({"type": "ok", "command": "skew-ms", "skew_ms": v})
            }
            Err(_) => err("skew-ms N"),
        },
        ["ban", ..] => {
            let secs = int_arg(&words, 1).unwrap_or(app.settings.ban_secs).max(1);
            let mut l = lock(&app.limits);
            l.ban_until = app.now_ms() + secs * 1000;
            json!({"type": "ok", "command": "ban", "secs": secs})
        }
        ["unban"] => {
            lock(&app.limits).ban_until = 0;
            json!({"type": "ok", "command": "unban"})
        }
        ["fill-partial", n] => match n.parse::<i64>() {
            Ok(n) if n >= 1 => {
                lock(&app.ex).partial_pieces = n;
                json!({"type": "ok", "command": "fill-partial", "pieces": n})
            }
            _ => err("fill-partial N (N >= 1; 1 = fills in full)"),
        },
        ["balance", asset, amount] => {
            let Ok(v) = dec::parse(amount) else {
                return err("balance ASSET FREE_AMOUNT");
            };
            let now = app.now_ms();
            let asset = asset.to_uppercase();
            let mut ex = lock(&app.ex);
            let delta = ex.set_free(&asset, v, now);
            let events = ex.take_events();
            drop(ex);
            app.publish(events);
            json!({"type": "ok", "command": "balance", "asset": asset, "free": dec::trim(v),
                   "change": dec::trim(delta)})
        }
        ["price", sym, px] => {
            let Ok(px) = dec::parse(px) else {
                return err("price SYMBOL PRICE");
            };
            let now = app.now_ms();
            let mut ex = lock(&app.ex);
            let Some(i) = ex.symbol(&sym.to_uppercase()) else {
                return err("unknown symbol");
            };
            ex.symbols[i].path.set(px);
            ex.match_all(now);
            let events = ex.take_events();
            let mid = dec::trim(ex.symbols[i].path.mid);
            drop(ex);
            app.publish(events);
            json!({"type": "ok", "command": "price", "symbol": sym.to_uppercase(), "mid": mid})
        }
        _ => err("unknown command"),
    }
}
