//! The control plane (R-OPS-1, R-IN-4b): an HTTP/JSON API served on its own thread,
//! beside the core. The thread runs a small single-threaded async runtime (tokio,
//! `current_thread`) confined to it: axum serves the routes, and one task, the
//! [`link`], owns the core's [`Handle`] for this producer. Commands cross into the core
//! on the handle's ring; the core's answers come back on the handle's own event ring
//! and are routed to the waiting requests. The core never awaits anything, and is never
//! blocked: a full ring is a 503.
//!
//! Stopping: the server stops accepting first, answers what is in flight, then the link
//! answers what it still holds and the thread ends.

mod alerts;
mod audit;
mod dead_letters;
mod limits;
pub mod link;
mod metrics;
mod quotes;
mod recon;
mod routes;
mod stream;
pub mod wire;

use crate::config::Registry;
use crate::core::{CoreMetrics, Handle};
use crate::secret::Secret;
use link::{Link, LinkStats};
use metrics::Monitor;
use routes::AppState;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// The environment variable that holds the API's bearer token.
pub const TOKEN_ENV: &str = "EXECD_API_TOKEN";

/// Largest request body taken, bytes.
pub const BODY_LIMIT: usize = 64 * 1024;

/// How to serve the API.
pub struct ControlOptions {
    /// Where to listen (port 0: any free port; the bound address is in
    /// [`ControlThread::addr`]).
    pub listen: SocketAddr,
    /// Bearer token every route but `/v1/health` needs; none = open, loopback only.
    pub token: Option<Secret>,
    /// How long a submit waits for its outcome unless `?wait_ms=` says otherwise.
    pub default_wait: Duration,
    /// Longest `?wait_ms=` taken.
    pub max_wait: Duration,
    /// The journal the core writes (`GET /v1/audit` and `GET /v1/events` read it); none
    /// when execd runs without one.
    pub journal: Option<std::path::PathBuf>,
    /// What the core publishes (`CoreThread::metrics`), for `/metrics` and the alerts;
    /// without it they show only the API's own requests.
    pub metrics: Option<Arc<CoreMetrics>>,
}

impl ControlOptions {
    /// Defaults around `listen`: token from [`TOKEN_ENV`] when set, 5 s waits, 60 s at most.
    pub fn new(listen: SocketAddr, token: Option<Secret>) -> ControlOptions {
        ControlOptions {
            listen,
            token,
            default_wait: Duration::from_secs(5),
            max_wait: Duration::from_secs(60),
            journal: None,
            metrics: None,
        }
    }
}

/// The token from the environment: none when the variable is unset; an empty one is
/// refused (it would let anybody in who sends an empty token).
pub fn token_from_env() -> Result<Option<Secret>, String> {
    match std::env::var_os(TOKEN_ENV) {
        None => Ok(None),
        Some(_) => Secret::from_env(TOKEN_ENV).map(Some),
    }
}

/// Why `listen` is refused: beyond loopback without a token the API would let anybody
/// on the network trade.
pub fn check_listen(listen: &SocketAddr, token: &Option<Secret>) -> Result<(), String> {
    if !listen.ip().is_loopback() && token.is_none() {
        return Err(format!(
            "refusing to serve the control API on {listen} without a token: beyond loopback every request must carry one; set {TOKEN_ENV}, or listen on 127.0.0.1"
        ));
    }
    Ok(())
}

/// What the control thread did, for the exit summary.
#[derive(Clone, Copy, Debug, Default)]
pub struct ControlReport {
    /// HTTP requests on routes that check the token.
    pub requests: u64,
    /// What the link to the core did.
    pub link: LinkStats,
}

/// The running control thread.
pub struct ControlThread {
    addr: SocketAddr,
    stopping: Arc<AtomicBool>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    join: Option<JoinHandle<ControlReport>>,
}

impl ControlThread {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Whether the thread has ended (it should not before [`ControlThread::stop`]).
    pub fn is_finished(&self) -> bool {
        self.join.as_ref().is_none_or(|j| j.is_finished())
    }

    /// Stops accepting connections, answers what is in flight (health and new requests
    /// on open connections hear 503 SHUTTING_DOWN), and joins the thread.
    pub fn stop(mut self) -> Result<ControlReport, String> {
        self.stopping.store(true, Ordering::Release);
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        match self.join.take().map(|j| j.join()) {
            Some(Ok(r)) => Ok(r),
            Some(Err(_)) => Err("the control thread panicked".into()),
            None => Err("the control thread was already stopped".into()),
        }
    }
}

impl Drop for ControlThread {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::Release);
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(j) = self.join.take() {
            let _ = j.join();
        }
    }
}

/// One line on standard error from the control thread (operator actions).
pub(crate) fn note(line: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "execd: control API: {line}");
}

/// Binds `opts.listen` (so a port in use is an error now, not later) and starts the
/// control thread with the core's `handle` for this producer.
pub fn start(
    reg: Arc<Registry>,
    handle: Handle,
    opts: ControlOptions,
) -> Result<ControlThread, String> {
    check_listen(&opts.listen, &opts.token)?;
    let listener = std::net::TcpListener::bind(opts.listen)
        .map_err(|e| format!("the control API cannot listen on {}: {e}", opts.listen))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("the control API's socket: {e}"))?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("the control API's socket: {e}"))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .map_err(|e| format!("the control API's runtime did not start: {e}"))?;
    let stopping = Arc::new(AtomicBool::new(false));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let requests = Arc::new(AtomicU64::new(0));
    let venues = reg
        .venues
        .iter()
        .map(|v| v.name.as_str().to_string())
        .collect();
    let monitor = Arc::new(Monitor::new(opts.metrics, venues, reg.alerts.clone()));
    let st = AppState {
        monitor: monitor.clone(),
        ask: tokio::sync::mpsc::channel(1).0,
        token: opts.token.map(Arc::new),
        reg: reg.clone(),
        default_wait: opts.default_wait,
        max_wait: opts.max_wait,
        stopping: stopping.clone(),
        requests: requests.clone(),
        journal: opts.journal,
        exports: stream::Readers::new(stream::MAX_EXPORTS),
        streams: stream::Readers::new(stream::MAX_STREAMS),
    };
    let join = std::thread::Builder::new()
        .name("execd-control".into())
        .spawn(move || {
            rt.block_on(async move {
                let (ask_tx, ask_rx) = tokio::sync::mpsc::channel(1024);
                let link = tokio::spawn(Link::new(handle, reg).run(ask_rx, st.stopping.clone()));
                tokio::spawn(alerts::watch(monitor, st.stopping.clone()));
                let app = routes::router(AppState { ask: ask_tx, ..st }, BODY_LIMIT);
                match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => {
                        let served = axum::serve(l, app)
                            .with_graceful_shutdown(async {
                                let _ = stop_rx.await;
                            })
                            .await;
                        if let Err(e) = served {
                            note(&format!("the server stopped: {e}"));
                        }
                    }
                    Err(e) => note(&format!("the socket could not be served: {e}")),
                }
                // The router (and with it every sender of asks) is gone: the link
                // answers what it holds and ends.
                let link = link.await.unwrap_or_default();
                ControlReport {
                    requests: requests.load(Ordering::Relaxed),
                    link,
                }
            })
        })
        .map_err(|e| format!("the control thread did not start: {e}"))?;
    Ok(ControlThread {
        addr,
        stopping,
        stop: Some(stop_tx),
        join: Some(join),
    })
}
