//! `execd ctl`: the command line that speaks to a running `execd run` over its HTTP
//! control API (R-IN-4c). Human-readable lines by default, the server's JSON with
//! `--json`. Exit codes: 0 done; 1 the server refused or the core rejected (its code and
//! sentence are printed); 2 usage, or execd could not be reached (the URL is named).

use clap::{Args, Subcommand, ValueEnum};
use serde_json::{json, Value};
use std::io::Write as _;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Where `ctl` looks for execd unless `--url` or `EXECD_URL` says otherwise.
const DEFAULT_URL: &str = "http://127.0.0.1:8080";

/// `execd ctl …`
#[derive(Args)]
pub struct CtlArgs {
    /// Base URL of execd's control API (default: $EXECD_URL, else http://127.0.0.1:8080).
    #[arg(long, global = true)]
    url: Option<String>,
    /// Print the server's JSON answer as it came.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    cmd: CtlCmd,
}

#[derive(Clone, Copy, ValueEnum)]
#[value(rename_all = "UPPER")]
enum SideArg {
    Buy,
    Sell,
}

#[derive(Clone, Copy, ValueEnum)]
#[value(rename_all = "SCREAMING_SNAKE_CASE")]
enum TypeArg {
    Market,
    Limit,
    Stop,
    StopLimit,
}

#[derive(Clone, Copy, ValueEnum)]
#[value(rename_all = "UPPER")]
enum TifArg {
    Gtc,
    Day,
    Ioc,
    Fok,
}

#[derive(Clone, Copy, ValueEnum)]
#[value(rename_all = "UPPER")]
enum KillArg {
    Off,
    Warning,
    Active,
}

#[derive(Clone, Copy, ValueEnum)]
#[value(rename_all = "UPPER")]
enum ModeArg {
    Guide,
    Autonomous,
}

#[derive(Clone, Copy, ValueEnum)]
#[value(rename_all = "lower")]
enum OnOff {
    On,
    Off,
}

#[derive(Subcommand)]
enum CtlCmd {
    /// Submit an execution request and wait for its outcome. The operator who types it
    /// is its risk approval (context.risk_approved = true).
    Submit {
        /// A configured account.
        #[arg(long)]
        account: String,
        /// A configured venue.
        #[arg(long)]
        venue: String,
        /// The symbol as configured for that venue.
        #[arg(long)]
        symbol: String,
        /// BUY or SELL.
        #[arg(long, ignore_case = true)]
        side: SideArg,
        /// Final size, a decimal ("0.01").
        #[arg(long)]
        quantity: String,
        /// MARKET (default), LIMIT, STOP, STOP_LIMIT.
        #[arg(long = "type", ignore_case = true, default_value = "MARKET")]
        order_type: TypeArg,
        /// Limit price (LIMIT, STOP_LIMIT).
        #[arg(long)]
        limit_price: Option<String>,
        /// Stop trigger (STOP, STOP_LIMIT).
        #[arg(long)]
        stop_price: Option<String>,
        /// Time in force (default: IOC for MARKET, else GTC).
        #[arg(long, ignore_case = true)]
        tif: Option<TifArg>,
        /// Stop-loss price, placed after the fill.
        #[arg(long)]
        stop_loss: Option<String>,
        /// Take-profit price, placed after the fill.
        #[arg(long)]
        take_profit: Option<String>,
        /// The price intended: reference for slippage and the price band.
        #[arg(long)]
        reference_price: Option<String>,
        /// Idempotency key (default: generated); the same id twice never makes a second order.
        #[arg(long)]
        request_id: Option<String>,
        /// How long to wait for the outcome, ms (the server's default: 5000).
        #[arg(long)]
        wait_ms: Option<u64>,
    },
    /// An execution by its request id.
    Execution {
        /// The request id.
        id: String,
    },
    /// An order by its order id.
    Order {
        /// The order id.
        id: u64,
    },
    /// Cancel an order and wait for the venue's answer.
    Cancel {
        /// The order id.
        id: u64,
        /// How long to wait for the venue, ms.
        #[arg(long)]
        wait_ms: Option<u64>,
    },
    /// Cancel/replace: a new quantity and/or limit price.
    Replace {
        /// The order id.
        id: u64,
        /// New total quantity.
        #[arg(long)]
        quantity: Option<String>,
        /// New limit price.
        #[arg(long)]
        limit_price: Option<String>,
    },
    /// Cancel every open order, or those of one venue, account or symbol.
    CancelAll {
        /// Only this venue's.
        #[arg(long, conflicts_with_all = ["account", "symbol"])]
        venue: Option<String>,
        /// Only this account's.
        #[arg(long, conflicts_with = "symbol")]
        account: Option<String>,
        /// Only this symbol's.
        #[arg(long)]
        symbol: Option<String>,
    },
    /// Set a kill switch.
    Kill {
        /// global, venue:NAME, account:NAME or symbol:NAME.
        #[arg(long, default_value = "global")]
        scope: String,
        /// OFF, WARNING or ACTIVE.
        #[arg(long, ignore_case = true)]
        state: KillArg,
        /// Why (shown in execd's log and the answer).
        #[arg(long)]
        reason: Option<String>,
        /// With ACTIVE: cancel the open orders in scope too.
        #[arg(long)]
        cancel_open: bool,
    },
    /// Global kill switch ACTIVE and every open order canceled (filled positions stay).
    EmergencyStop {
        /// Why.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Set an account's mode: GUIDE (advise only) or AUTONOMOUS.
    Mode {
        /// The account.
        account: String,
        /// GUIDE or AUTONOMOUS.
        #[arg(ignore_case = true)]
        mode: ModeArg,
    },
    /// Halt an account's trading (on) or resume it (off).
    Halt {
        /// The account.
        account: String,
        /// on or off.
        #[arg(ignore_case = true)]
        halted: OnOff,
    },
    /// Whether execd is up and its core carries out commands.
    Health,
}

fn out(text: &str) {
    let mut o = std::io::stdout().lock();
    let _ = o.write_all(text.as_bytes()).and_then(|()| o.flush());
}

fn err(text: &str) {
    let _ = writeln!(std::io::stderr(), "execd ctl: {text}");
}

fn scope_body(scope: &str) -> Result<Value, String> {
    if scope.eq_ignore_ascii_case("global") {
        return Ok(json!({}));
    }
    match scope.split_once(':') {
        Some((k @ ("venue" | "account" | "symbol"), v)) if !v.is_empty() => Ok(json!({ k: v })),
        _ => Err(format!(
            "--scope {scope:?}: expected global, venue:NAME, account:NAME or symbol:NAME"
        )),
    }
}

fn generated_id() -> String {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    format!("ctl-{ms}-{}", std::process::id())
}

fn with_wait(path: &str, wait: Option<u64>) -> String {
    match wait {
        Some(w) => format!("{path}?wait_ms={w}"),
        None => path.to_string(),
    }
}

/// Runs one `execd ctl` command.
pub fn run(a: CtlArgs) -> ExitCode {
    let base = a
        .url
        .or_else(|| std::env::var("EXECD_URL").ok().filter(|u| !u.is_empty()))
        .unwrap_or_else(|| DEFAULT_URL.to_string());
    let base = base.trim_end_matches('/').to_string();
    let mut wait = Duration::from_secs(5);
    let (method, path, body): (&str, String, Option<Value>) = match a.cmd {
        CtlCmd::Submit {
            account,
            venue,
            symbol,
            side,
            quantity,
            order_type,
            limit_price,
            stop_price,
            tif,
            stop_loss,
            take_profit,
            reference_price,
            request_id,
            wait_ms,
        } => {
            let mut b = json!({
                "request_id": request_id.unwrap_or_else(generated_id),
                "account": account,
                "venue": venue,
                "symbol": symbol,
                "side": match side { SideArg::Buy => "BUY", SideArg::Sell => "SELL" },
                "quantity": quantity,
                "order_type": match order_type {
                    TypeArg::Market => "MARKET",
                    TypeArg::Limit => "LIMIT",
                    TypeArg::Stop => "STOP",
                    TypeArg::StopLimit => "STOP_LIMIT",
                },
                "context": {"risk_approved": true},
            });
            let m = b.as_object_mut().expect("an object");
            for (k, v) in [
                ("limit_price", limit_price),
                ("stop_price", stop_price),
                ("stop_loss", stop_loss),
                ("take_profit", take_profit),
                ("reference_price", reference_price),
            ] {
                if let Some(v) = v {
                    m.insert(k.into(), json!(v));
                }
            }
            if let Some(t) = tif {
                let t = match t {
                    TifArg::Gtc => "GTC",
                    TifArg::Day => "DAY",
                    TifArg::Ioc => "IOC",
                    TifArg::Fok => "FOK",
                };
                m.insert("time_in_force".into(), json!(t));
            }
            if let Some(w) = wait_ms {
                wait = Duration::from_millis(w);
            }
            ("POST", with_wait("/v1/executions", wait_ms), Some(b))
        }
        CtlCmd::Execution { id } => ("GET", format!("/v1/executions/{}", encode(&id)), None),
        CtlCmd::Order { id } => ("GET", format!("/v1/orders/{id}"), None),
        CtlCmd::Cancel { id, wait_ms } => {
            if let Some(w) = wait_ms {
                wait = Duration::from_millis(w);
            }
            (
                "POST",
                with_wait(&format!("/v1/orders/{id}/cancel"), wait_ms),
                Some(json!({})),
            )
        }
        CtlCmd::Replace {
            id,
            quantity,
            limit_price,
        } => {
            let mut b = json!({});
            if let Some(q) = quantity {
                b["quantity"] = json!(q);
            }
            if let Some(p) = limit_price {
                b["limit_price"] = json!(p);
            }
            ("POST", format!("/v1/orders/{id}/replace"), Some(b))
        }
        CtlCmd::CancelAll {
            venue,
            account,
            symbol,
        } => {
            let scope = match (venue, account, symbol) {
                (Some(v), _, _) => json!({"venue": v}),
                (_, Some(a), _) => json!({"account": a}),
                (_, _, Some(s)) => json!({"symbol": s}),
                _ => json!({}),
            };
            (
                "POST",
                "/v1/cancel-all".into(),
                Some(json!({"scope": scope})),
            )
        }
        CtlCmd::Kill {
            scope,
            state,
            reason,
            cancel_open,
        } => {
            let scope = match scope_body(&scope) {
                Ok(s) => s,
                Err(e) => {
                    err(&e);
                    return ExitCode::from(2);
                }
            };
            let state = match state {
                KillArg::Off => "OFF",
                KillArg::Warning => "WARNING",
                KillArg::Active => "ACTIVE",
            };
            (
                "PUT",
                "/v1/kill-switches".into(),
                Some(
                    json!({"scope": scope, "state": state, "reason": reason, "cancel_open": cancel_open}),
                ),
            )
        }
        CtlCmd::EmergencyStop { reason } => (
            "POST",
            "/v1/emergency-stop".into(),
            Some(json!({"reason": reason})),
        ),
        CtlCmd::Mode { account, mode } => (
            "PUT",
            "/v1/mode".into(),
            Some(json!({"account": account, "mode": match mode {
                ModeArg::Guide => "GUIDE",
                ModeArg::Autonomous => "AUTONOMOUS",
            }})),
        ),
        CtlCmd::Halt { account, halted } => (
            "PUT",
            "/v1/halt".into(),
            Some(json!({"account": account, "halted": matches!(halted, OnOff::On)})),
        ),
        CtlCmd::Health => ("GET", "/v1/health".into(), None),
    };
    let url = format!("{base}{path}");
    let token = match std::env::var(execd::control::TOKEN_ENV) {
        Ok(t) if !t.is_empty() => Some(t),
        _ => None,
    };
    let agent = ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(5))
        .timeout(wait + Duration::from_secs(10))
        .build();
    let mut req = agent.request(method, &url);
    if let Some(t) = &token {
        req = req.set("Authorization", &format!("Bearer {t}"));
    }
    let res = match body {
        Some(b) => req.send_json(b),
        None => req.call(),
    };
    let (status, text) = match res {
        Ok(r) => (r.status(), r.into_string()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_string()),
        Err(ureq::Error::Transport(t)) => {
            err(&format!("cannot reach execd at {base}: {t}"));
            return ExitCode::from(2);
        }
    };
    let text = match text {
        Ok(t) => t,
        Err(e) => {
            err(&format!("{url}: the answer could not be read: {e}"));
            return ExitCode::from(2);
        }
    };
    let v: Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(_) => {
            err(&format!(
                "{url}: HTTP {status} with an answer that is not JSON; is this execd's control API?"
            ));
            return ExitCode::from(2);
        }
    };
    if a.json {
        out(&format!("{v}\n"));
    }
    if !(200..300).contains(&status) {
        let code = v["code"].as_str().unwrap_or("HTTP_ERROR");
        let msg = v["message"].as_str().unwrap_or("");
        if v.get("status").is_some() && !a.json {
            // Health: the body is a status.
            out(&human(&v));
        }
        err(&format!("{code}: {msg} (HTTP {status})"));
        return ExitCode::from(1);
    }
    if !a.json {
        out(&human(&v));
    }
    if v["status"] == "REJECTED" {
        let code = v["reason"]["code"].as_str().unwrap_or("REJECTED");
        let msg = v["reason"]["message"].as_str().unwrap_or("");
        err(&format!("rejected: {code}: {msg}"));
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}

/// Percent-encodes what a path segment cannot hold.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// An answer as `key: value` lines; fills one a line.
fn human(v: &Value) -> String {
    let mut s = String::new();
    let Some(m) = v.as_object() else {
        return format!("{v}\n");
    };
    let plain = |x: &Value| match x {
        Value::String(t) => t.clone(),
        other => other.to_string(),
    };
    // What an operator looks for first, then the rest, the time last.
    const FIRST: [&str; 9] = [
        "status",
        "state",
        "order_id",
        "request_id",
        "venue",
        "symbol",
        "quantity",
        "filled_quantity",
        "average_price",
    ];
    let mut keys: Vec<&String> = m.keys().filter(|k| k.as_str() != "as_of").collect();
    keys.sort_by_key(|k| FIRST.iter().position(|f| f == k).unwrap_or(FIRST.len()));
    keys.extend(m.keys().filter(|k| k.as_str() == "as_of"));
    for k in keys {
        let x = &m[k.as_str()];
        match (k.as_str(), x) {
            (_, Value::Array(a)) if a.is_empty() => s.push_str(&format!("{k}: none\n")),
            ("fills", Value::Array(fills)) => {
                s.push_str(&format!("fills: {}\n", fills.len()));
                for f in fills {
                    s.push_str(&format!(
                        "  fill {} {} at {} fee {}{}\n",
                        plain(&f["exec_id"]),
                        plain(&f["quantity"]),
                        plain(&f["price"]),
                        plain(&f["fee"]),
                        match f.get("slippage") {
                            Some(sl) => format!(
                                ", slippage {} bps ({})",
                                plain(&sl["bps"]),
                                plain(&sl["category"])
                            ),
                            None => String::new(),
                        }
                    ));
                }
            }
            ("reason", Value::Object(r)) => s.push_str(&format!(
                "reason: {}: {}\n",
                r.get("code").map(plain).unwrap_or_default(),
                r.get("message").map(plain).unwrap_or_default()
            )),
            (_, Value::Null) => {}
            (_, Value::Object(o)) => {
                let inner: Vec<String> =
                    o.iter().map(|(k, x)| format!("{k} {}", plain(x))).collect();
                s.push_str(&format!("{k}: {}\n", inner.join(", ")));
            }
            (_, Value::Array(a)) => {
                let inner: Vec<String> = a.iter().map(plain).collect();
                s.push_str(&format!("{k}: {}\n", inner.join(" ")));
            }
            _ => s.push_str(&format!("{k}: {}\n", plain(x))),
        }
    }
    s
}
