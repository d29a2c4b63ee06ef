//! qf-peer: a FIX counterparty built on the real QuickFIX C++ engine (through
//! the `quickfix` crate), driven by line commands on stdin and reporting JSON
//! lines on stdout. See README.md for the protocol.

mod app;
mod fixutil;
mod log;
mod out;
mod seq;

use std::io::BufRead;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand, ValueEnum};
use hdrhistogram::Histogram;
use quickfix::{
    send_to_target, Acceptor, Application, ConnectionHandler, Dictionary, FfiMessageStoreFactory,
    FileMessageStoreFactory, FixSocketServerKind, Initiator, LogFactory, MemoryMessageStoreFactory,
    SessionContainer, SessionId, SessionSettings,
};
use serde_json::{json, Map, Value};

use app::{AcceptorCfg, BenchRun, Peer, Role};
use log::PeerLog;
use out::Out;
use seq::SessionKey;

#[derive(Parser)]
#[command(
    name = "qf-peer",
    version,
    about = "FIX test peer around the QuickFIX C++ engine (stdin commands, JSON lines on stdout)"
)]
struct Cli {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Subcommand)]
enum Mode {
    /// QuickFIX acceptor that executes orders (a broker/executor).
    Acceptor {
        #[command(flatten)]
        common: Common,
        /// Reference price: market orders fill here; limits fill at their limit when they cross it.
        #[arg(long, default_value_t = 100.0)]
        price: f64,
        /// Fill each marketable order in N (equal-ish) pieces.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
        partial: u32,
    },
    /// QuickFIX initiator that sends orders and benchmarks round trips.
    Initiator {
        #[command(flatten)]
        common: Common,
        /// Symbol of the `bench` orders.
        #[arg(long, default_value = "AAPL")]
        symbol: String,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LogMode {
    /// `<store>/qf-peer.log` (falls back to stderr without --store)
    File,
    Stderr,
    None,
}

#[derive(Args)]
struct Common {
    /// TCP port: the acceptor listens on it, the initiator connects to 127.0.0.1:PORT.
    #[arg(long)]
    port: u16,
    /// SenderCompID (default: QFACC for the acceptor, QFINIT for the initiator).
    #[arg(long)]
    sender: Option<String>,
    /// TargetCompID (default: QFINIT for the acceptor, QFACC for the initiator).
    #[arg(long)]
    target: Option<String>,
    /// BeginString.
    #[arg(long, default_value = "FIX.4.4", value_parser = ["FIX.4.2", "FIX.4.4"])]
    begin: String,
    /// Directory for QuickFIX's FileStore (sequence numbers and sent messages survive restarts)
    /// and the message log. Without it: MemoryStore.
    #[arg(long)]
    store: Option<PathBuf>,
    /// HeartBtInt in seconds.
    #[arg(long, default_value_t = 30)]
    heartbeat: u32,
    /// ResetOnLogon=Y (sequence numbers restart at 1 on every logon).
    #[arg(long)]
    reset_on_logon: bool,
    /// QuickFIX data dictionary XML (e.g. FIX44.xml); without it UseDataDictionary=N.
    #[arg(long)]
    data_dictionary: Option<PathBuf>,
    /// Where QuickFIX's log (messages and session events) goes.
    #[arg(long, value_enum, default_value_t = LogMode::File)]
    log: LogMode,
    /// Account (tag 1) put on the initiator's requests.
    #[arg(long)]
    account: Option<String>,
    /// Do not print per-message application events (request/exec_sent/exec/cancel_reject).
    #[arg(long)]
    no_app_events: bool,
    /// Use QuickFIX's single-threaded socket acceptor/initiator (one poll loop) instead of
    /// the threaded one (a thread per connection, the default). Known issue: with the
    /// single-threaded SocketInitiator, `logout` then `logon` leaves the session stuck
    /// ("Timed out waiting for logon response", nothing sent).
    #[arg(long)]
    single_threaded: bool,
    /// Keep running at stdin EOF (then only `quit`, SIGTERM or SIGINT stop it); for
    /// running an acceptor in the background of a shell script.
    #[arg(long)]
    keep_running: bool,
}

static SIGTERM: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigterm(_sig: i32) {
    SIGTERM.store(true, Ordering::SeqCst);
}

extern "C" {
    fn signal(signum: i32, handler: extern "C" fn(i32)) -> usize;
}

fn install_sigterm() {
    const SIGTERM_NUM: i32 = 15;
    const SIGINT_NUM: i32 = 2;
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        signal(SIGTERM_NUM, on_sigterm);
        signal(SIGINT_NUM, on_sigterm);
    }
}

struct Settings {
    pairs: Vec<(&'static str, String)>,
}

impl Settings {
    fn to_quickfix(&self, session_id: &SessionId) -> Result<SessionSettings, String> {
        let mut dict = Dictionary::new();
        for (k, v) in &self.pairs {
            dict.set(k, v.as_str()).map_err(|e| format!("{k}: {e}"))?;
        }
        let mut settings = SessionSettings::new();
        settings
            .set(None, dict)
            .map_err(|e| format!("default settings: {e}"))?;
        settings
            .set(Some(session_id), Dictionary::new())
            .map_err(|e| format!("session settings: {e}"))?;
        Ok(settings)
    }

    fn as_cfg_text(&self, begin: &str, sender: &str, target: &str) -> String {
        let mut s = String::from("[DEFAULT]\n");
        for (k, v) in &self.pairs {
            s.push_str(&format!("{k}={v}\n"));
        }
        s.push_str(&format!(
            "[SESSION]\nBeginString={begin}\nSenderCompID={sender}\nTargetCompID={target}\n"
        ));
        s
    }
}

fn yn(b: bool) -> String {
    if b { "Y" } else { "N" }.to_string()
}

struct Ctx<'a> {
    peer: &'a Peer,
    role: Role,
    session_id: SessionId,
    key: SessionKey,
    symbol: String,
    stdin: Receiver<Option<String>>,
    begin: String,
    port: u16,
    keep_running: bool,
}

fn main() {
    let cli = Cli::parse();
    let (role, common, price, partial, symbol) = match cli.mode {
        Mode::Acceptor {
            common,
            price,
            partial,
        } => (Role::Acceptor, common, price, partial, String::new()),
        Mode::Initiator { common, symbol } => (Role::Initiator, common, 100.0, 1, symbol),
    };
    match run(role, common, price, partial, symbol) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("qf-peer: {e}");
            std::process::exit(2);
        }
    }
}

fn run(role: Role, c: Common, price: f64, partial: u32, symbol: String) -> Result<i32, String> {
    install_sigterm();
    let (def_sender, def_target) = match role {
        Role::Acceptor => ("QFACC", "QFINIT"),
        Role::Initiator => ("QFINIT", "QFACC"),
    };
    let sender = c.sender.clone().unwrap_or_else(|| def_sender.into());
    let target = c.target.clone().unwrap_or_else(|| def_target.into());

    let mut pairs: Vec<(&'static str, String)> = vec![
        (
            "ConnectionType",
            match role {
                Role::Acceptor => "acceptor",
                Role::Initiator => "initiator",
            }
            .into(),
        ),
        ("NonStopSession", "Y".into()),
        ("HeartBtInt", c.heartbeat.to_string()),
        ("ResetOnLogon", yn(c.reset_on_logon)),
        ("ResetOnLogout", "N".into()),
        ("ResetOnDisconnect", "N".into()),
        ("PersistMessages", "Y".into()),
        ("SocketNodelay", "Y".into()),
        ("CheckLatency", "N".into()),
        ("LogonTimeout", "10".into()),
        ("LogoutTimeout", "2".into()),
    ];
    match role {
        Role::Acceptor => {
            pairs.push(("SocketAcceptPort", c.port.to_string()));
            pairs.push(("SocketReuseAddress", "Y".into()));
        }
        Role::Initiator => {
            pairs.push(("SocketConnectHost", "127.0.0.1".into()));
            pairs.push(("SocketConnectPort", c.port.to_string()));
            pairs.push(("ReconnectInterval", "1".into()));
        }
    }
    match &c.data_dictionary {
        Some(dd) => {
            pairs.push(("UseDataDictionary", "Y".into()));
            pairs.push(("DataDictionary", dd.display().to_string()));
        }
        None => pairs.push(("UseDataDictionary", "N".into())),
    }
    if let Some(store) = &c.store {
        std::fs::create_dir_all(store)
            .map_err(|e| format!("cannot create store dir {}: {e}", store.display()))?;
        pairs.push(("FileStorePath", store.display().to_string()));
    }
    let settings_def = Settings { pairs };

    let session_id = SessionId::try_new(&c.begin, &sender, &target, "")
        .map_err(|e| format!("session id: {e}"))?;
    let settings = settings_def.to_quickfix(&session_id)?;

    let quiet = Arc::new(AtomicBool::new(false));
    let peer_log = match (c.log, &c.store) {
        (LogMode::None, _) => PeerLog::none(quiet.clone()),
        (LogMode::Stderr, _) | (LogMode::File, None) => PeerLog::stderr(quiet.clone()),
        (LogMode::File, Some(store)) => PeerLog::file(&store.join("qf-peer.log"), quiet.clone())
            .map_err(|e| format!("cannot open log file: {e}"))?,
    };
    peer_log.line(
        "CFG",
        &settings_def
            .as_cfg_text(&c.begin, &sender, &target)
            .replace('\n', " "),
    );
    let log_factory = LogFactory::try_new(&peer_log).map_err(|e| format!("log factory: {e}"))?;

    let out = Arc::new(Out::start());
    let peer = Peer::new(
        role,
        c.begin == "FIX.4.2",
        out.clone(),
        !c.no_app_events,
        AcceptorCfg { price, partial },
        c.account.clone(),
        quiet,
    );
    let app = Application::try_new(&peer).map_err(|e| format!("application: {e}"))?;
    let kind = if c.single_threaded {
        FixSocketServerKind::SingleThreaded
    } else {
        FixSocketServerKind::MultiThreaded
    };

    // stdin reader: lines, then None at EOF
    let (tx, rx) = channel::<Option<String>>();
    std::thread::Builder::new()
        .name("qf-peer-stdin".into())
        .spawn(move || {
            let stdin = std::io::stdin();
            for line in stdin.lock().lines() {
                match line {
                    Ok(l) => {
                        if tx.send(Some(l)).is_err() {
                            return;
                        }
                    }
                    Err(_) => break,
                }
            }
            let _ = tx.send(None);
        })
        .map_err(|e| format!("stdin thread: {e}"))?;

    let ctx = Ctx {
        peer: &peer,
        role,
        key: SessionKey::new(&c.begin, &sender, &target),
        session_id,
        symbol,
        stdin: rx,
        begin: c.begin.clone(),
        port: c.port,
        keep_running: c.keep_running,
    };

    let code = match &c.store {
        Some(_) => {
            let store =
                FileMessageStoreFactory::try_new(&settings).map_err(|e| format!("store: {e}"))?;
            with_store(&ctx, &settings, &app, &store, &log_factory, kind)
        }
        None => {
            let store = MemoryMessageStoreFactory::new();
            with_store(&ctx, &settings, &app, &store, &log_factory, kind)
        }
    };
    out.close();
    code
}

fn with_store<S: FfiMessageStoreFactory>(
    ctx: &Ctx,
    settings: &SessionSettings,
    app: &Application<Peer>,
    store: &S,
    log_factory: &LogFactory<PeerLog>,
    kind: FixSocketServerKind,
) -> Result<i32, String> {
    match ctx.role {
        Role::Acceptor => {
            let mut acceptor = Acceptor::try_new(settings, app, store, log_factory, kind)
                .map_err(|e| format!("acceptor: {e}"))?;
            serve(ctx, &mut acceptor)
        }
        Role::Initiator => {
            let mut initiator = Initiator::try_new(settings, app, store, log_factory, kind)
                .map_err(|e| format!("initiator: {e}"))?;
            serve(ctx, &mut initiator)
        }
    }
}

fn logged_on<C: SessionContainer>(ctx: &Ctx, container: &C) -> bool {
    container
        .session(ctx.session_id.clone())
        .and_then(|mut s| s.is_logged_on())
        .unwrap_or(false)
}

fn status_json<C: SessionContainer>(ctx: &Ctx, container: &C, kind: &str) -> Value {
    let mut m = Map::new();
    m.insert("type".into(), json!(kind));
    m.insert(
        "mode".into(),
        json!(match ctx.role {
            Role::Acceptor => "acceptor",
            Role::Initiator => "initiator",
        }),
    );
    m.insert("logged_on".into(), json!(logged_on(ctx, container)));
    m.insert(
        "next_sender_seq".into(),
        ctx.key
            .next_sender()
            .map(|v| json!(v))
            .unwrap_or(Value::Null),
    );
    m.insert(
        "next_target_seq".into(),
        ctx.key
            .next_target()
            .map(|v| json!(v))
            .unwrap_or(Value::Null),
    );
    m.insert("open_orders".into(), json!(ctx.peer.open_orders()));
    m.insert("known_orders".into(), json!(ctx.peer.known_orders()));
    ctx.peer.counters.to_json(&mut m);
    Value::Object(m)
}

fn serve<C: ConnectionHandler + SessionContainer>(
    ctx: &Ctx,
    container: &mut C,
) -> Result<i32, String> {
    container.start().map_err(|e| format!("start: {e}"))?;
    let out = &ctx.peer.out;
    out.emit(json!({
        "type": "ready",
        "mode": match ctx.role { Role::Acceptor => "acceptor", Role::Initiator => "initiator" },
        "port": ctx.port,
        "begin": ctx.begin,
        "session": ctx.session_id.to_repr(),
        "next_sender_seq": ctx.key.next_sender().ok(),
        "next_target_seq": ctx.key.next_target().ok(),
    }));

    let mut stdin_open = true;
    loop {
        if SIGTERM.load(Ordering::SeqCst) {
            break;
        }
        if !stdin_open {
            std::thread::sleep(Duration::from_millis(100));
            continue;
        }
        let line = match ctx.stdin.recv_timeout(Duration::from_millis(100)) {
            Ok(Some(l)) => l,
            Ok(None) | Err(RecvTimeoutError::Disconnected) => {
                if ctx.keep_running {
                    stdin_open = false;
                    continue;
                }
                break;
            }
            Err(RecvTimeoutError::Timeout) => continue,
        };
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some(&cmd) = words.first() else { continue };
        if cmd.starts_with('#') {
            continue;
        }
        if cmd == "quit" || cmd == "exit" {
            break;
        }
        let reply = command(ctx, container, cmd, &words[1..]);
        out.emit(reply);
    }

    // clean shutdown: logout, wait (bounded) for it to complete, stop, final status
    let deadline = Instant::now() + Duration::from_secs(5);
    if let Ok(mut s) = container.session(ctx.session_id.clone()) {
        let _ = s.logout();
    }
    while logged_on(ctx, container) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let clean = !logged_on(ctx, container);
    let _ = container.stop();
    let mut fin = status_json(ctx, container, "final");
    if let Value::Object(m) = &mut fin {
        m.insert("clean_logout".into(), json!(clean));
        m.insert(
            "reason".into(),
            json!(if SIGTERM.load(Ordering::SeqCst) {
                "signal"
            } else {
                "quit"
            }),
        );
    }
    out.emit(fin);
    Ok(0)
}

fn ok(cmd: &str, extra: Value) -> Value {
    let mut m = Map::new();
    m.insert("type".into(), json!("ok"));
    m.insert("cmd".into(), json!(cmd));
    if let Value::Object(e) = extra {
        m.extend(e);
    }
    Value::Object(m)
}

fn err(cmd: &str, e: impl std::fmt::Display) -> Value {
    json!({"type":"error","cmd":cmd,"error":e.to_string()})
}

fn side_code(s: &str) -> Option<&'static str> {
    match s.to_ascii_lowercase().as_str() {
        "buy" | "b" | "1" => Some("1"),
        "sell" | "s" | "2" => Some("2"),
        "short" | "sellshort" | "5" => Some("5"),
        _ => None,
    }
}

fn is_num(s: &str) -> bool {
    s.parse::<f64>().map(|v| v.is_finite()).unwrap_or(false)
}

const HELP: &str = "status | wait-logon [SECS] | logout | logon | skip N | set-next-target N | test-request [ID] | quit \
| (initiator) order CLORDID SYMBOL buy|sell QTY [LIMITPX] | cancel NEWCLORDID ORIGCLORDID SYMBOL SIDE QTY \
| replace NEWCLORDID ORIGCLORDID SYMBOL SIDE QTY PX | orderstatus CLORDID SYMBOL SIDE | bench N [--inflight K]";

fn command<C: ConnectionHandler + SessionContainer>(
    ctx: &Ctx,
    container: &mut C,
    cmd: &str,
    args: &[&str],
) -> Value {
    let peer = ctx.peer;
    match cmd {
        "status" => status_json(ctx, container, "status"),
        "help" => ok(cmd, json!({ "help": HELP })),
        "logout" => match container.session(ctx.session_id.clone()) {
            Ok(mut s) => match s.logout() {
                Ok(()) => ok(cmd, json!({})),
                Err(e) => err(cmd, e),
            },
            Err(e) => err(cmd, e),
        },
        "logon" => match container.session(ctx.session_id.clone()) {
            Ok(mut s) => match s.logon() {
                Ok(()) => ok(cmd, json!({})),
                Err(e) => err(cmd, e),
            },
            Err(e) => err(cmd, e),
        },
        "skip" => {
            let Some(n) = args.first().and_then(|a| a.parse::<u64>().ok()) else {
                return err(cmd, "usage: skip N");
            };
            let cur = match ctx.key.next_sender() {
                Ok(v) => v,
                Err(e) => return err(cmd, e),
            };
            match ctx.key.set_next_sender(cur + n) {
                Ok(()) => ok(cmd, json!({"next_sender_seq": cur + n, "was": cur})),
                Err(e) => err(cmd, e),
            }
        }
        "set-next-target" | "set-next-sender" => {
            let Some(n) = args.first().and_then(|a| a.parse::<u64>().ok()) else {
                return err(cmd, format!("usage: {cmd} N"));
            };
            let res = if cmd == "set-next-target" {
                ctx.key.set_next_target(n)
            } else {
                ctx.key.set_next_sender(n)
            };
            match res {
                Ok(()) => ok(
                    cmd,
                    json!({
                        "next_sender_seq": ctx.key.next_sender().ok(),
                        "next_target_seq": ctx.key.next_target().ok(),
                    }),
                ),
                Err(e) => err(cmd, e),
            }
        }
        "wait-logon" => {
            let secs = args
                .first()
                .and_then(|a| a.parse::<f64>().ok())
                .unwrap_or(30.0);
            let deadline = Instant::now() + Duration::from_secs_f64(secs.max(0.0));
            loop {
                if logged_on(ctx, container) {
                    return ok(cmd, json!({"logged_on": true}));
                }
                if Instant::now() >= deadline || SIGTERM.load(Ordering::SeqCst) {
                    return err(cmd, "not logged on");
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        "test-request" => {
            let id = args
                .first()
                .map(|s| s.to_string())
                .unwrap_or_else(|| format!("TR-{}", ctx.key.next_sender().unwrap_or(0)));
            let mut m = fixutil::new_message("1");
            fixutil::set(&mut m, 112, &id);
            match send_to_target(m, &ctx.session_id) {
                Ok(()) => ok(cmd, json!({"test_req_id": id})),
                Err(e) => err(cmd, e),
            }
        }
        "order" | "cancel" | "replace" | "orderstatus" | "bench" if ctx.role != Role::Initiator => {
            err(cmd, "only the initiator sends orders")
        }
        "order" => {
            if !(4..=5).contains(&args.len()) || !is_num(args[3]) {
                return err(cmd, "usage: order CLORDID SYMBOL buy|sell QTY [LIMITPX]");
            }
            let Some(side) = side_code(args[2]) else {
                return err(cmd, "side must be buy or sell");
            };
            if args.len() == 5 && !is_num(args[4]) {
                return err(cmd, "limit price must be a number");
            }
            let msg = peer.new_order_single(args[0], args[1], side, args[3], args.get(4).copied());
            peer.track_sent_order(args[0]);
            send_app(ctx, container, cmd, msg, args[0])
        }
        "cancel" => {
            if args.len() != 5 || !is_num(args[4]) {
                return err(
                    cmd,
                    "usage: cancel NEWCLORDID ORIGCLORDID SYMBOL buy|sell QTY",
                );
            }
            let Some(side) = side_code(args[3]) else {
                return err(cmd, "side must be buy or sell");
            };
            let msg = peer.cancel_request(args[0], args[1], args[2], side, args[4]);
            peer.counters
                .cancel_requests
                .fetch_add(1, Ordering::Relaxed);
            send_app(ctx, container, cmd, msg, args[0])
        }
        "replace" => {
            if args.len() != 6 || !is_num(args[4]) || !is_num(args[5]) {
                return err(
                    cmd,
                    "usage: replace NEWCLORDID ORIGCLORDID SYMBOL buy|sell QTY PX",
                );
            }
            let Some(side) = side_code(args[3]) else {
                return err(cmd, "side must be buy or sell");
            };
            let msg = peer.replace_request(args[0], args[1], args[2], side, args[4], args[5]);
            peer.counters
                .replace_requests
                .fetch_add(1, Ordering::Relaxed);
            send_app(ctx, container, cmd, msg, args[0])
        }
        "orderstatus" => {
            if args.len() != 3 {
                return err(cmd, "usage: orderstatus CLORDID SYMBOL buy|sell");
            }
            let Some(side) = side_code(args[2]) else {
                return err(cmd, "side must be buy or sell");
            };
            let msg = peer.status_request(args[0], args[1], side);
            peer.counters
                .status_requests
                .fetch_add(1, Ordering::Relaxed);
            send_app(ctx, container, cmd, msg, args[0])
        }
        "bench" => bench(ctx, container, args),
        _ => err(cmd, format!("unknown command; commands: {HELP}")),
    }
}

fn send_app<C: SessionContainer>(
    ctx: &Ctx,
    container: &C,
    cmd: &str,
    msg: quickfix::Message,
    cl_ord_id: &str,
) -> Value {
    let logged = logged_on(ctx, container);
    match send_to_target(msg, &ctx.session_id) {
        Ok(()) => ok(
            cmd,
            json!({"cl_ord_id": cl_ord_id, "logged_on": logged, "seq": ctx.key.next_sender().ok().map(|n| n.saturating_sub(1))}),
        ),
        Err(e) => err(cmd, e),
    }
}

fn bench<C: SessionContainer>(ctx: &Ctx, container: &C, args: &[&str]) -> Value {
    let cmd = "bench";
    let usage = "usage: bench N [--inflight K]";
    let Some(n) = args.first().and_then(|a| a.parse::<u64>().ok()) else {
        return err(cmd, usage);
    };
    let mut inflight = 1u64;
    let mut i = 1;
    while i < args.len() {
        match args[i] {
            "--inflight" => {
                let Some(k) = args.get(i + 1).and_then(|a| a.parse::<u64>().ok()) else {
                    return err(cmd, usage);
                };
                inflight = k.max(1);
                i += 2;
            }
            _ => return err(cmd, usage),
        }
    }
    if n == 0 {
        return err(cmd, "N must be positive");
    }
    if !logged_on(ctx, container) {
        return err(cmd, "not logged on");
    }
    let peer = ctx.peer;
    let hist = Histogram::<u64>::new_with_bounds(1, 3_600_000_000_000, 3).expect("histogram");
    let (done_tx, done_rx) = channel::<()>();
    let prefix = peer.unique_prefix();
    let first = inflight.min(n);
    *peer.bench.lock().unwrap_or_else(|e| e.into_inner()) = Some(BenchRun {
        total: n,
        started: first,
        done: 0,
        filled: 0,
        pending: Default::default(),
        hist,
        prefix: prefix.clone(),
        symbol: ctx.symbol.clone(),
        done_tx,
    });
    peer.quiet.store(true, Ordering::SeqCst);
    let t0 = Instant::now();
    for k in 1..=first {
        peer.bench_send(&format!("{prefix}-{k}"), &ctx.symbol, &ctx.session_id);
    }
    // wait for completion; give up after 10 s without progress
    let mut last_done = 0;
    let mut last_progress = Instant::now();
    let mut timed_out = false;
    loop {
        match done_rx.recv_timeout(Duration::from_millis(200)) {
            Ok(()) => break,
            Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => {
                let done = peer
                    .bench
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .as_ref()
                    .map(|b| b.done)
                    .unwrap_or(0);
                if done != last_done {
                    last_done = done;
                    last_progress = Instant::now();
                } else if last_progress.elapsed() > Duration::from_secs(10) {
                    timed_out = true;
                    break;
                }
            }
        }
    }
    let elapsed = t0.elapsed();
    let run = peer
        .bench
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
        .expect("bench state");
    peer.quiet.store(false, Ordering::SeqCst);
    let us = |ns: u64| (ns as f64 / 100.0).round() / 10.0;
    let h = &run.hist;
    let secs = elapsed.as_secs_f64();
    json!({
        "type": "bench",
        "orders": run.total,
        "sent": run.started,
        "completed": run.done,
        "filled": run.filled,
        "inflight": inflight,
        "timed_out": timed_out,
        "p50_us": us(h.value_at_quantile(0.50)),
        "p90_us": us(h.value_at_quantile(0.90)),
        "p99_us": us(h.value_at_quantile(0.99)),
        "p999_us": us(h.value_at_quantile(0.999)),
        "max_us": us(h.max()),
        "min_us": us(h.min()),
        "mean_us": (h.mean() / 100.0).round() / 10.0,
        "elapsed_s": (secs * 1000.0).round() / 1000.0,
        "orders_per_s": if secs > 0.0 { (run.done as f64 / secs).round() } else { 0.0 },
    })
}
