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
    /// Who is acting, journaled with every operator action (default: $EXECD_OPERATOR,
    /// else $USER).
    #[arg(long, global = true)]
    operator: Option<String>,
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
enum Decision {
    Redrive,
    Discard,
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
        /// Why (journaled with the operator's name).
        #[arg(long)]
        reason: Option<String>,
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
        /// Why (journaled with the operator's name).
        #[arg(long)]
        reason: Option<String>,
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
        /// Why (journaled with the operator's name).
        #[arg(long)]
        reason: Option<String>,
    },
    /// Set a kill switch.
    Kill {
        /// global, venue:NAME, account:NAME or symbol:NAME.
        #[arg(long, default_value = "global")]
        scope: String,
        /// OFF, WARNING or ACTIVE.
        #[arg(long, ignore_case = true)]
        state: KillArg,
        /// Why (journaled with the operator's name, shown in execd's log and the answer).
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
    /// Without arguments: every account's mode and halt flag. With an account and a
    /// mode: set it, GUIDE (advise only) or AUTONOMOUS.
    Mode {
        /// The account.
        #[arg(requires = "mode")]
        account: Option<String>,
        /// GUIDE or AUTONOMOUS.
        #[arg(ignore_case = true)]
        mode: Option<ModeArg>,
        /// Why (journaled with the operator's name).
        #[arg(long)]
        reason: Option<String>,
    },
    /// Orders held, oldest first, as a table: one page (--limit), or every page (--all).
    Orders {
        /// Order states, comma-separated (FILLED,CANCELED…), or open (every working state).
        #[arg(long)]
        status: Option<String>,
        /// Only this account's.
        #[arg(long)]
        account: Option<String>,
        /// Only this symbol's.
        #[arg(long)]
        symbol: Option<String>,
        /// Only this venue's.
        #[arg(long)]
        venue: Option<String>,
        /// Orders per page (server default 100, at most 1000).
        #[arg(long)]
        limit: Option<u16>,
        /// Start after a page's next_cursor.
        #[arg(long)]
        cursor: Option<String>,
        /// Follow the cursors to the last page.
        #[arg(long)]
        all: bool,
    },
    /// Accounts' money and every position with activity.
    Positions,
    /// Kill switches: global, and every other that is set.
    Kills,
    /// Every venue: kind, session up, breaker, open orders.
    Venues,
    /// Without options: every instrument's risk limits in force. With --venue, --symbol
    /// and at least one limit: change them (journaled with --operator and --reason).
    Limits {
        /// The venue.
        #[arg(long, requires = "symbol")]
        venue: Option<String>,
        /// The symbol on that venue.
        #[arg(long, requires = "venue")]
        symbol: Option<String>,
        /// Largest quantity of one order.
        #[arg(long, requires = "venue")]
        max_order_qty: Option<String>,
        /// Largest notional of one order.
        #[arg(long, requires = "venue")]
        max_notional: Option<String>,
        /// Largest net position, either side.
        #[arg(long, requires = "venue")]
        max_position: Option<String>,
        /// Why (journaled with the operator's name).
        #[arg(long)]
        reason: Option<String>,
    },
    /// Reconciliation with the venues (R-AUD-4): the reports, one whole (--report N), a
    /// run on demand (--run VENUE), or a resolution of a venue's differences
    /// (--resolve VENUE --keep venue|ours --reason "…", optionally --account/--symbol).
    Recon {
        /// Show this report whole.
        #[arg(long, conflicts_with_all = ["run", "resolve"])]
        report: Option<u32>,
        /// Ask this venue now.
        #[arg(long, conflicts_with = "resolve")]
        run: Option<String>,
        /// Resolve this venue's differences.
        #[arg(long, requires_all = ["keep", "reason"])]
        resolve: Option<String>,
        /// With --resolve: only this account's.
        #[arg(long, requires = "resolve")]
        account: Option<String>,
        /// With --resolve: only this symbol's.
        #[arg(long, requires = "resolve")]
        symbol: Option<String>,
        /// With --resolve: whose state stands: venue (book its positions) or ours.
        #[arg(long, requires = "resolve", value_parser = ["venue", "ours"])]
        keep: Option<String>,
        /// Why (journaled with the operator's name).
        #[arg(long)]
        reason: Option<String>,
    },
    /// Without arguments: orders never delivered to their venue, waiting for an
    /// operator. With an order id and redrive or discard: decide (journaled with
    /// --operator and --reason, required).
    DeadLetters {
        /// The dead letter's order id.
        #[arg(requires = "decision")]
        order: Option<u64>,
        /// redrive (resend, same ClOrdID) or discard (finish as REJECTED).
        #[arg(ignore_case = true, requires = "reason")]
        decision: Option<Decision>,
        /// Why (journaled with the operator's name).
        #[arg(long)]
        reason: Option<String>,
    },
    /// Halt an account's trading (on) or resume it (off).
    Halt {
        /// The account.
        account: String,
        /// on or off.
        #[arg(ignore_case = true)]
        halted: OnOff,
        /// Why (journaled with the operator's name).
        #[arg(long)]
        reason: Option<String>,
    },
    /// Whether execd is up and its core carries out commands.
    Health,
    /// The audit export of the journal (the rows of `execd-replay export`), to standard
    /// output as it streams.
    Audit {
        /// From this time (RFC 3339 UTC or Unix ns).
        #[arg(long)]
        from: Option<String>,
        /// Up to (excluding) this time.
        #[arg(long)]
        to: Option<String>,
        /// csv or jsonl.
        #[arg(long, default_value = "csv")]
        format: String,
        /// Only this account.
        #[arg(long)]
        account: Option<String>,
        /// Only this symbol.
        #[arg(long)]
        symbol: Option<String>,
        /// Only this kind of row (request, fill, operator, …).
        #[arg(long)]
        kind: Option<String>,
    },
    /// Follow what happens, one line per event, until interrupted (--json: each event's
    /// row as JSON).
    Events {
        /// Start at this journal sequence number (default: only what happens from now).
        #[arg(long)]
        from_seq: Option<u64>,
        /// Only this account.
        #[arg(long)]
        account: Option<String>,
        /// Only this kind of row.
        #[arg(long)]
        kind: Option<String>,
    },
    /// The Prometheus metrics, as the server wrote them.
    Metrics,
    /// Every alert, active or not, as a table.
    Alerts,
}

/// A route whose answer is a stream, not one JSON document.
enum Streamed {
    /// Copied to standard output as it comes.
    Export,
    /// Server-Sent Events, printed one line each.
    Events,
}

/// `?k=v&…` of the parameters given.
fn query(params: &[(&str, Option<String>)]) -> String {
    let q: Vec<String> = params
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", encode(v))))
        .collect();
    if q.is_empty() {
        String::new()
    } else {
        format!("?{}", q.join("&"))
    }
}

/// Reads a stream route's answer to its end (or the reader's): 0 done, 1 refused, 2
/// unreachable or cut off.
fn stream_out(req: ureq::Request, base: &str, kind: Streamed, json: bool) -> ExitCode {
    use std::io::{BufRead as _, Read as _};
    let r = match req.call() {
        Ok(r) => r,
        Err(ureq::Error::Status(code, r)) => {
            let v: Value = r.into_json().unwrap_or_default();
            err(&format!(
                "{}: {} (HTTP {code})",
                v["code"].as_str().unwrap_or("HTTP_ERROR"),
                v["message"].as_str().unwrap_or("")
            ));
            return ExitCode::from(1);
        }
        Err(e) => {
            err(&format!("cannot reach execd at {base}: {e}"));
            return ExitCode::from(2);
        }
    };
    let mut reader = std::io::BufReader::new(r.into_reader());
    let mut stdout = std::io::stdout().lock();
    let cut = |e: std::io::Error| {
        err(&format!("the stream was cut off: {e}"));
        ExitCode::from(2)
    };
    // A reader of our output that went away (`| head`) has what it wanted; any other
    // write error (a full disk) lost output, and says so.
    let unwritten = |e: std::io::Error| {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            ExitCode::SUCCESS
        } else {
            err(&format!("cannot write standard output: {e}"));
            ExitCode::from(2)
        }
    };
    match kind {
        Streamed::Export => {
            let mut buf = [0u8; 64 * 1024];
            loop {
                match reader.read(&mut buf) {
                    Ok(0) => {
                        return match stdout.flush() {
                            Ok(()) => ExitCode::SUCCESS,
                            Err(e) => unwritten(e),
                        }
                    }
                    Ok(n) => {
                        if let Err(e) = stdout.write_all(&buf[..n]) {
                            return unwritten(e);
                        }
                    }
                    Err(e) => return cut(e),
                }
            }
        }
        Streamed::Events => {
            let mut line = String::new();
            let mut event = String::new();
            loop {
                line.clear();
                match reader.read_line(&mut line) {
                    Ok(0) => return ExitCode::SUCCESS,
                    Ok(_) => {}
                    Err(e) => return cut(e),
                }
                if let Some(name) = line.trim_end().strip_prefix("event: ") {
                    event = name.to_string();
                    continue;
                }
                let Some(data) = line.trim_end().strip_prefix("data: ") else {
                    continue;
                };
                if event == "error" {
                    let v: Value = serde_json::from_str(data).unwrap_or_default();
                    err(&format!(
                        "{}: {}",
                        v["code"].as_str().unwrap_or("STREAM_ERROR"),
                        v["message"].as_str().unwrap_or(data)
                    ));
                    return ExitCode::from(2);
                }
                let text = if json {
                    data.to_string()
                } else {
                    let v: Value = serde_json::from_str(data).unwrap_or_default();
                    let f = |k: &str| match &v[k] {
                        Value::Null => String::new(),
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    let mut l = format!("#{} {} {}", f("seq"), f("time"), f("kind"));
                    for (label, k) in [
                        ("order ", "order"),
                        ("", "request_id"),
                        ("", "account"),
                        ("", "symbol"),
                        ("", "side"),
                        ("", "state"),
                        ("qty ", "qty"),
                        ("filled ", "cum_qty"),
                        ("@ ", "price"),
                        ("", "reason"),
                    ] {
                        let x = f(k);
                        if !x.is_empty() {
                            l.push_str(&format!(" {label}{x}"));
                        }
                    }
                    // The kind's typed values (docs/audit-export.md), then the sentence
                    // only when there are none.
                    match v["fields"].as_object() {
                        Some(m) if !m.is_empty() => {
                            for (k, x) in m.iter().filter(|(k, _)| !k.ends_with("_ns")) {
                                match x {
                                    Value::String(s) => l.push_str(&format!(" {k}={s}")),
                                    other => l.push_str(&format!(" {k}={other}")),
                                }
                            }
                        }
                        _ => {
                            let d = f("detail");
                            if !d.is_empty() {
                                l.push_str(&format!(" {d}"));
                            }
                        }
                    }
                    l
                };
                if let Err(e) = writeln!(stdout, "{text}").and_then(|_| stdout.flush()) {
                    return unwritten(e);
                }
            }
        }
    }
}

/// An answer on standard output. A reader that went away (`| head`) is no error; any
/// other failure to write it (a full disk) lost the answer: exit 2, saying so.
fn out(text: &str) {
    let mut o = std::io::stdout().lock();
    if let Err(e) = o.write_all(text.as_bytes()).and_then(|()| o.flush()) {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            err(&format!("cannot write standard output: {e}"));
            std::process::exit(2);
        }
    }
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
    let operator = a.operator;
    let mut wait = Duration::from_secs(5);
    let mut table = None;
    let mut follow: Option<String> = None;
    let mut streamed: Option<Streamed> = None;
    // An answer that is not JSON (the Prometheus text), printed as it came.
    let mut raw = false;
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
        CtlCmd::Cancel {
            id,
            wait_ms,
            reason,
        } => {
            if let Some(w) = wait_ms {
                wait = Duration::from_millis(w);
            }
            (
                "POST",
                with_wait(&format!("/v1/orders/{id}/cancel"), wait_ms),
                Some(json!({ "reason": reason })),
            )
        }
        CtlCmd::Replace {
            id,
            quantity,
            limit_price,
            reason,
        } => {
            let mut b = json!({ "reason": reason });
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
            reason,
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
                Some(json!({"scope": scope, "reason": reason})),
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
        CtlCmd::Mode {
            account: Some(account),
            mode: Some(mode),
            reason,
        } => (
            "PUT",
            "/v1/mode".into(),
            Some(
                json!({"account": account, "reason": reason, "mode": match mode {
                    ModeArg::Guide => "GUIDE",
                    ModeArg::Autonomous => "AUTONOMOUS",
                }}),
            ),
        ),
        CtlCmd::Mode { .. } => {
            table = Some(Table::Modes);
            ("GET", "/v1/mode".into(), None)
        }
        CtlCmd::Orders {
            status,
            account,
            symbol,
            venue,
            limit,
            cursor,
            all,
        } => {
            let mut q = Vec::new();
            for (k, v) in [
                ("status", status),
                ("account", account),
                ("symbol", symbol),
                ("venue", venue),
                ("limit", limit.map(|l| l.to_string())),
            ] {
                if let Some(v) = v {
                    q.push(format!("{k}={}", encode(&v)));
                }
            }
            let base_path = format!("/v1/orders?{}", q.join("&"));
            follow = all.then(|| base_path.clone());
            table = Some(Table::Orders);
            let path = match cursor {
                Some(c) => format!("{base_path}&cursor={}", encode(&c)),
                None => base_path,
            };
            ("GET", path, None)
        }
        CtlCmd::Positions => {
            table = Some(Table::Positions);
            ("GET", "/v1/positions".into(), None)
        }
        CtlCmd::Kills => {
            table = Some(Table::Kills);
            ("GET", "/v1/kill-switches".into(), None)
        }
        CtlCmd::Venues => {
            table = Some(Table::Venues);
            ("GET", "/v1/venues".into(), None)
        }
        CtlCmd::Limits {
            venue: Some(venue),
            symbol,
            max_order_qty,
            max_notional,
            max_position,
            reason,
        } => (
            "PUT",
            "/v1/limits".into(),
            Some(json!({
                "venue": venue,
                "symbol": symbol,
                "max_order_qty": max_order_qty,
                "max_notional": max_notional,
                "max_position": max_position,
                "reason": reason,
            })),
        ),
        CtlCmd::Limits { .. } => {
            table = Some(Table::Limits);
            ("GET", "/v1/limits".into(), None)
        }
        CtlCmd::Recon {
            report: Some(n), ..
        } => ("GET", format!("/v1/reconciliation/{n}"), None),
        CtlCmd::Recon {
            run: Some(venue),
            reason,
            ..
        } => (
            "POST",
            "/v1/reconciliation".into(),
            Some(json!({"venue": venue, "reason": reason})),
        ),
        CtlCmd::Recon {
            resolve: Some(venue),
            account,
            symbol,
            keep,
            reason,
            ..
        } => (
            "POST",
            "/v1/reconciliation/resolve".into(),
            Some(json!({
                "venue": venue,
                "account": account,
                "symbol": symbol,
                "keep": keep,
                "reason": reason.unwrap_or_default(),
            })),
        ),
        CtlCmd::Recon { .. } => {
            table = Some(Table::Recon);
            ("GET", "/v1/reconciliation".into(), None)
        }
        CtlCmd::Halt {
            account,
            halted,
            reason,
        } => (
            "PUT",
            "/v1/halt".into(),
            Some(
                json!({"account": account, "halted": matches!(halted, OnOff::On), "reason": reason}),
            ),
        ),
        CtlCmd::DeadLetters {
            order: Some(order),
            decision: Some(d),
            reason,
        } => (
            "POST",
            format!(
                "/v1/dead-letters/{order}/{}",
                match d {
                    Decision::Redrive => "redrive",
                    Decision::Discard => "discard",
                }
            ),
            Some(json!({ "reason": reason })),
        ),
        CtlCmd::DeadLetters { .. } => {
            table = Some(Table::DeadLetters);
            ("GET", "/v1/dead-letters".into(), None)
        }
        CtlCmd::Health => ("GET", "/v1/health".into(), None),
        CtlCmd::Audit {
            from,
            to,
            format,
            account,
            symbol,
            kind,
        } => {
            streamed = Some(Streamed::Export);
            let q = query(&[
                ("from", from),
                ("to", to),
                ("format", Some(format)),
                ("account", account),
                ("symbol", symbol),
                ("kind", kind),
            ]);
            ("GET", format!("/v1/audit{q}"), None)
        }
        CtlCmd::Events {
            from_seq,
            account,
            kind,
        } => {
            streamed = Some(Streamed::Events);
            let q = query(&[
                ("from_seq", from_seq.map(|s| s.to_string())),
                ("account", account),
                ("kind", kind),
            ]);
            ("GET", format!("/v1/events{q}"), None)
        }
        CtlCmd::Metrics => {
            raw = true;
            ("GET", "/metrics".into(), None)
        }
        CtlCmd::Alerts => {
            table = Some(Table::Alerts);
            ("GET", "/v1/alerts".into(), None)
        }
    };
    let url = format!("{base}{path}");
    // A name given is sent as given (the server says if it will not take it); $USER
    // only when the server would take it, else the server's default ("api").
    let fits = |o: &String| {
        (1..=32).contains(&o.len())
            && o.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._@-".contains(&b))
    };
    let operator = operator
        .or_else(|| std::env::var("EXECD_OPERATOR").ok())
        .filter(|o| !o.is_empty())
        .or_else(|| std::env::var("USER").ok().filter(fits));
    let token = match std::env::var(execd::control::TOKEN_ENV) {
        Ok(t) if !t.is_empty() => Some(t),
        _ => None,
    };
    if let Some(kind) = streamed {
        // No overall timeout: a stream lasts as long as it has to.
        let mut req = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(5))
            .build()
            .get(&url);
        if let Some(t) = &token {
            req = req.set("Authorization", &format!("Bearer {t}"));
        }
        return stream_out(req, &base, kind, a.json);
    }
    let agent = ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(5))
        .timeout(wait + Duration::from_secs(10))
        .build();
    let ask = |method: &str, url: &str, body: Option<Value>| -> Result<(u16, Value), String> {
        let mut req = agent.request(method, url);
        if let Some(t) = &token {
            req = req.set("Authorization", &format!("Bearer {t}"));
        }
        if let Some(o) = &operator {
            req = req.set("X-Execd-Operator", o);
        }
        let res = match body {
            Some(b) => req.send_json(b),
            None => req.call(),
        };
        let (status, text) = match res {
            Ok(r) => (r.status(), r.into_string()),
            Err(ureq::Error::Status(code, r)) => (code, r.into_string()),
            Err(ureq::Error::Transport(t)) => {
                return Err(format!("cannot reach execd at {base}: {t}"));
            }
        };
        let text = text.map_err(|e| format!("{url}: the answer could not be read: {e}"))?;
        if raw && (200..300).contains(&status) {
            return Ok((status, Value::String(text)));
        }
        let v = serde_json::from_str(&text).map_err(|_| {
            format!(
                "{url}: HTTP {status} with an answer that is not JSON; is this execd's control API?"
            )
        })?;
        Ok((status, v))
    };
    let (status, mut v) = match ask(method, &url, body) {
        Ok(x) => x,
        Err(e) => {
            err(&e);
            return ExitCode::from(2);
        }
    };
    // --all: the next pages, into one list.
    if let Some(p) = &follow {
        while (200..300).contains(&status) {
            let Some(c) = v["next_cursor"].as_str().map(str::to_string) else {
                break;
            };
            let (s2, v2) = match ask("GET", &format!("{base}{p}&cursor={}", encode(&c)), None) {
                Ok(x) => x,
                Err(e) => {
                    err(&e);
                    return ExitCode::from(2);
                }
            };
            if !(200..300).contains(&s2) {
                let code = v2["code"].as_str().unwrap_or("HTTP_ERROR");
                err(&format!(
                    "{code}: {} (HTTP {s2})",
                    v2["message"].as_str().unwrap_or("")
                ));
                return ExitCode::from(1);
            }
            let more = v2["orders"].as_array().cloned().unwrap_or_default();
            if let Some(list) = v["orders"].as_array_mut() {
                list.extend(more);
            }
            v["next_cursor"] = v2["next_cursor"].clone();
        }
    }
    if let (true, Value::String(text)) = (raw, &v) {
        out(text);
        return ExitCode::SUCCESS;
    }
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
        match table {
            Some(t) => out(&tabulate(t, &v)),
            None => out(&human(&v)),
        }
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

/// Which list a read answers with, for its table.
#[derive(Clone, Copy)]
enum Table {
    Orders,
    Positions,
    Kills,
    Modes,
    Venues,
    Limits,
    Alerts,
    Recon,
    DeadLetters,
}

/// Rows under a header, each column as wide as its widest cell.
fn grid(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut w: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.len());
        }
    }
    let line = |cells: Vec<&str>| {
        let s: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<width$}", width = w[i]))
            .collect();
        format!("{}\n", s.join("  ").trim_end())
    };
    let mut s = line(header.to_vec());
    for r in rows {
        s.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    s
}

/// A read's answer as a table (and what follows it: the next cursor).
fn tabulate(t: Table, v: &Value) -> String {
    let cell = |x: &Value| match x {
        Value::Null => "-".to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let list = |key: &str| v[key].as_array().cloned().unwrap_or_default();
    let rows = |key: &str, cols: &[&str]| -> Vec<Vec<String>> {
        list(key)
            .iter()
            .map(|r| cols.iter().map(|c| cell(&r[*c])).collect())
            .collect()
    };
    match t {
        Table::Alerts => {
            let r: Vec<Vec<String>> = list("alerts")
                .iter()
                .map(|a| {
                    vec![
                        cell(&a["alert"]),
                        cell(&a["venue"]),
                        if a["active"] == true { "ACTIVE" } else { "ok" }.to_string(),
                        cell(&a["value"]),
                        format!("{} {}", cell(&a["condition"]), cell(&a["threshold"])),
                        cell(&a["unit"]),
                        cell(&a["since"]),
                    ]
                })
                .collect();
            let mut s = grid(
                &[
                    "ALERT",
                    "VENUE",
                    "STATE",
                    "VALUE",
                    "THRESHOLD",
                    "UNIT",
                    "SINCE",
                ],
                &r,
            );
            s.push_str(&format!(
                "{} active of {}; rates over the last {} s\n",
                r.iter().filter(|c| c[2] == "ACTIVE").count(),
                r.len(),
                cell(&v["window_s"])
            ));
            s
        }
        Table::Orders => {
            let cols = [
                "order_id",
                "request_id",
                "account",
                "venue",
                "symbol",
                "side",
                "order_type",
                "quantity",
                "limit_price",
                "status",
                "filled_quantity",
                "average_price",
                "created_at",
            ];
            let r = rows("orders", &cols);
            let mut s = grid(
                &[
                    "ORDER", "REQUEST", "ACCOUNT", "VENUE", "SYMBOL", "SIDE", "TYPE", "QTY",
                    "LIMIT", "STATUS", "FILLED", "AVG_PX", "CREATED",
                ],
                &r,
            );
            s.push_str(&format!("{} orders", r.len()));
            match v["next_cursor"].as_str() {
                Some(c) => s.push_str(&format!("; more after --cursor {c}\n")),
                None => s.push('\n'),
            }
            s
        }
        Table::Positions => {
            let mut s = grid(
                &[
                    "ACCOUNT",
                    "CASH",
                    "REALISED",
                    "FEES",
                    "MARGIN_USED",
                    "MARGIN_FREE",
                    "OPEN",
                ],
                &list("accounts")
                    .iter()
                    .map(|a| {
                        let used = format!(
                            "{}+{}",
                            cell(&a["order_margin"]),
                            cell(&a["position_margin"])
                        );
                        vec![
                            cell(&a["account"]),
                            cell(&a["cash"]),
                            cell(&a["realised_pnl"]),
                            cell(&a["fees"]),
                            used,
                            cell(&a["margin_available"]),
                            cell(&a["open_orders"]),
                        ]
                    })
                    .collect::<Vec<_>>(),
            );
            s.push('\n');
            let cols = [
                "account",
                "venue",
                "symbol",
                "net_quantity",
                "average_cost",
                "realised_pnl",
                "unrealised_pnl",
                "fees",
            ];
            let r = rows("positions", &cols);
            if r.is_empty() {
                s.push_str("no positions\n");
            } else {
                s.push_str(&grid(
                    &[
                        "ACCOUNT",
                        "VENUE",
                        "SYMBOL",
                        "NET",
                        "AVG_COST",
                        "REALISED",
                        "UNREALISED",
                        "FEES",
                    ],
                    &r,
                ));
            }
            s
        }
        Table::Kills => {
            let r: Vec<Vec<String>> = list("kill_switches")
                .iter()
                .map(|k| {
                    let scope = match k["scope"].as_object().and_then(|o| o.iter().next()) {
                        Some((name, _)) if name == "global" => "global".to_string(),
                        Some((name, x)) => format!("{name}:{}", cell(x)),
                        None => "-".into(),
                    };
                    vec![scope, cell(&k["venue"]), cell(&k["state"])]
                })
                .collect();
            grid(&["SCOPE", "VENUE", "STATE"], &r)
        }
        Table::DeadLetters => {
            let r: Vec<Vec<String>> = list("dead_letters")
                .iter()
                .map(|d| {
                    let mut row: Vec<String> = ["order_id", "request_id", "cl_ord_id", "venue"]
                        .iter()
                        .map(|c| cell(&d[*c]))
                        .collect();
                    row.push(cell(&d["reason"]["code"]));
                    row.push(cell(&d["attempts"]));
                    row.push(cell(&d["since"]));
                    row
                })
                .collect();
            if r.is_empty() {
                "no dead letters\n".to_string()
            } else {
                grid(
                    &[
                        "ORDER",
                        "REQUEST",
                        "CL_ORD_ID",
                        "VENUE",
                        "REASON",
                        "TRIES",
                        "SINCE",
                    ],
                    &r,
                )
            }
        }
        Table::Modes => grid(
            &["ACCOUNT", "MODE", "HALTED"],
            &rows("accounts", &["account", "mode", "halted"]),
        ),
        Table::Recon => grid(
            &[
                "REPORT",
                "VENUE",
                "TRIGGER",
                "ANSWERED",
                "RESULT",
                "LINES",
                "TO_RESOLVE",
                "IN_FLIGHT",
            ],
            &rows(
                "reports",
                &[
                    "report",
                    "venue",
                    "trigger",
                    "answered",
                    "result",
                    "lines",
                    "mismatches",
                    "in_flight",
                ],
            ),
        ),
        Table::Limits => grid(
            &[
                "VENUE",
                "SYMBOL",
                "MAX_ORDER_QTY",
                "MAX_NOTIONAL",
                "MAX_POSITION",
            ],
            &rows(
                "limits",
                &[
                    "venue",
                    "symbol",
                    "max_order_qty",
                    "max_notional",
                    "max_position",
                ],
            ),
        ),
        Table::Venues => grid(
            &[
                "VENUE",
                "KIND",
                "UP",
                "BREAKER",
                "OPEN_ORDERS",
                "NEXT_SEQ_OUT",
                "NEXT_SEQ_IN",
            ],
            &rows(
                "venues",
                &[
                    "venue",
                    "kind",
                    "up",
                    "breaker",
                    "open_orders",
                    "next_sender_seq_num",
                    "next_target_seq_num",
                ],
            ),
        ),
    }
}
