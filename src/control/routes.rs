//! The routes of the HTTP API, their errors (`{"code","message"}`), the bearer-token
//! check and the JSON answers built from what the core said.

use super::link::{Answer, Ask, Refused, Submitted, View};
use super::wire::{self, dec, money, scope_json, FieldError};
use crate::config::Registry;
use crate::model::control::KillState;
use crate::model::event::{
    Command, CoreEvent, OperatorNote, OrderFilter, OrderRef, OrderRow, OrderStatus,
};
use crate::model::event::{Row, Scope, Snapshot, MAX_ROWS};
use crate::model::ids::{InstrumentId, Name, OrderId, ShortStr};
use crate::model::order_state::OrderState;
use crate::model::reason::Reason;
use crate::secret::Secret;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequestParts, Path, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, oneshot};

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub(super) ask: mpsc::Sender<Ask>,
    pub(super) token: Option<Arc<Secret>>,
    pub(super) reg: Arc<Registry>,
    pub(super) default_wait: Duration,
    pub(super) max_wait: Duration,
    pub(super) stopping: Arc<AtomicBool>,
    pub(super) requests: Arc<AtomicU64>,
    /// The journal the core writes, for the audit export and the event stream.
    pub(super) journal: Option<std::path::PathBuf>,
    pub(super) exports: super::stream::Readers,
    pub(super) streams: super::stream::Readers,
    pub(super) monitor: Arc<super::metrics::Monitor>,
}

/// An error answer: HTTP status, a stable code, a sentence.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    pub(super) fn new(
        status: StatusCode,
        code: &'static str,
        message: impl Into<String>,
    ) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    pub(super) fn field((field, msg): FieldError) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_FIELD",
            format!("{field}: {msg}"),
        )
    }

    pub(super) fn refused(r: Refused) -> ApiError {
        match r {
            Refused::Busy => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "CORE_BUSY",
                "the core's command ring is full; nothing was done, try again",
            ),
            Refused::Stopping => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "SHUTTING_DOWN",
                "execd is shutting down; nothing was done",
            ),
            Refused::NoAnswer => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "CORE_NO_ANSWER",
                "the core did not confirm the command in time; ask for the order's status before trying again",
            ),
        }
    }

    /// A command the core refused, by its reason.
    pub(super) fn reason(r: Reason) -> ApiError {
        let status = match r {
            Reason::UnknownOrder => StatusCode::NOT_FOUND,
            Reason::NotWorking => StatusCode::CONFLICT,
            Reason::JournalFailed | Reason::AuditFailed => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        };
        ApiError::new(status, r.code(), r.text())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(json!({"code": self.code, "message": self.message}));
        if self.status == StatusCode::UNAUTHORIZED {
            return (
                self.status,
                [(header::WWW_AUTHENTICATE, "Bearer realm=\"execd\"")],
                body,
            )
                .into_response();
        }
        (self.status, body).into_response()
    }
}

pub(super) type ApiResult = Result<Response, ApiError>;

/// Proof that the request carries the token (or that none is needed).
pub struct Authed;

impl FromRequestParts<AppState> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, ApiError> {
        st.requests.fetch_add(1, Ordering::Relaxed);
        let Some(token) = &st.token else {
            return Ok(Authed);
        };
        let given = parts
            .headers
            .get(header::AUTHORIZATION)
            .map(|v| v.as_bytes())
            // The scheme is case-insensitive (RFC 9110); the token is not.
            .and_then(|v| {
                (v.len() > 7 && v[..7].eq_ignore_ascii_case(b"bearer ")).then(|| &v[7..])
            });
        match given {
            Some(g) if token.matches(g) => Ok(Authed),
            _ => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "UNAUTHORIZED",
                "this route needs the header Authorization: Bearer <token>, with the token execd was started with (EXECD_API_TOKEN)",
            )),
        }
    }
}

/// The router.
pub fn router(st: AppState, body_limit: usize) -> Router {
    Router::new()
        .route("/v1/health", get(health))
        .route("/v1/executions", post(submit))
        .route("/v1/executions/{request_id}", get(execution))
        .route("/v1/orders", get(list_orders))
        .route("/v1/positions", get(positions))
        .route("/v1/venues", get(venues))
        .route("/v1/orders/{id}", get(order))
        .route("/v1/orders/{id}/cancel", post(cancel))
        .route("/v1/orders/{id}/replace", post(replace))
        .route("/v1/orders/{id}/protection", put(protection))
        .route("/v1/cancel-all", post(cancel_all))
        .route("/v1/kill-switches", put(kill).get(kill_switches))
        .route("/v1/emergency-stop", post(emergency_stop))
        .route("/v1/mode", put(mode).get(modes))
        .route("/v1/halt", put(halt))
        .route(
            "/v1/limits",
            put(super::limits::set).get(super::limits::list),
        )
        .route("/v1/quotes", post(super::quotes::post))
        .route(
            "/v1/reconciliation",
            get(super::recon::list).post(super::recon::run),
        )
        .route("/v1/reconciliation/resolve", post(super::recon::resolve))
        .route("/v1/reconciliation/{report}", get(super::recon::show))
        .route("/v1/dead-letters", get(super::dead_letters::list))
        .route(
            "/v1/dead-letters/{id}/redrive",
            post(super::dead_letters::redrive),
        )
        .route(
            "/v1/dead-letters/{id}/discard",
            post(super::dead_letters::discard),
        )
        .route("/v1/audit", get(super::audit::export))
        .route("/v1/events", get(super::audit::events))
        .route("/metrics", get(super::metrics::serve))
        .route("/v1/alerts", get(super::alerts::serve))
        .fallback(not_found)
        .method_not_allowed_fallback(wrong_method)
        .layer(axum::middleware::from_fn_with_state(
            st.monitor.clone(),
            super::metrics::count_http,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(body_limit))
        .with_state(st)
}

async fn wrong_method() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        "this route does not take that method; the routes are listed in the README",
    )
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "NO_SUCH_ROUTE",
        "no such route (or method); the routes are listed in the README, all under /v1",
    )
}

/// A JSON body into `T`; an empty body reads as `{}` when `empty_ok`.
pub(super) fn body<T: DeserializeOwned>(
    b: Result<Bytes, BytesRejection>,
    empty_ok: bool,
) -> Result<T, ApiError> {
    let b = match b {
        Ok(b) => b,
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "BODY_TOO_LARGE",
                "the body is larger than the API takes (64 KiB)",
            ))
        }
        Err(e) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "BAD_BODY",
                format!("the body could not be read: {}", e.body_text()),
            ))
        }
    };
    let text: &[u8] = if b.iter().all(u8::is_ascii_whitespace) && empty_ok {
        b"{}"
    } else {
        &b
    };
    let de = &mut serde_json::Deserializer::from_slice(text);
    let parsed: Result<T, _> = serde_path_to_error::deserialize(de);
    parsed.map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        use serde_json::error::Category;
        match inner.classify() {
            Category::Syntax | Category::Eof | Category::Io => ApiError::new(
                StatusCode::BAD_REQUEST,
                "MALFORMED_JSON",
                format!("the body is not valid JSON: {inner}"),
            ),
            Category::Data => {
                let msg = inner.to_string();
                let (code, at) = if msg.starts_with("unknown field") {
                    ("UNKNOWN_FIELD", path.as_str())
                } else if msg.starts_with("missing field") {
                    ("MISSING_FIELD", path.as_str())
                } else {
                    ("INVALID_FIELD", path.as_str())
                };
                let message = if at == "." || at.is_empty() {
                    msg
                } else {
                    format!("{at}: {msg}")
                };
                ApiError::new(StatusCode::BAD_REQUEST, code, message)
            }
        }
    })
}

/// `?wait_ms=N` (0 to the maximum), else the default.
fn wait(st: &AppState, q: &Option<String>) -> Result<Duration, ApiError> {
    let Some(q) = q else {
        return Ok(st.default_wait);
    };
    let mut wait = st.default_wait;
    for pair in q.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if k != "wait_ms" {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "UNKNOWN_PARAMETER",
                format!("{k}: unknown query parameter (only wait_ms is taken)"),
            ));
        }
        let ms: u64 = v.parse().map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "INVALID_PARAMETER",
                format!("wait_ms: {v:?} is not a number of milliseconds"),
            )
        })?;
        if Duration::from_millis(ms) > st.max_wait {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "INVALID_PARAMETER",
                format!("wait_ms: {ms} is more than {}", st.max_wait.as_millis()),
            ));
        }
        wait = Duration::from_millis(ms);
    }
    Ok(wait)
}

pub(super) fn no_query(q: &Option<String>) -> Result<(), ApiError> {
    match q.as_deref() {
        None | Some("") => Ok(()),
        Some(q) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "UNKNOWN_PARAMETER",
            format!("{q}: this route takes no query parameters"),
        )),
    }
}

pub(super) async fn call<T>(
    st: &AppState,
    make: impl FnOnce(oneshot::Sender<Result<T, Refused>>) -> Ask,
) -> Result<T, ApiError> {
    if st.stopping.load(Ordering::Acquire) {
        return Err(ApiError::refused(Refused::Stopping));
    }
    let (tx, rx) = oneshot::channel();
    st.ask
        .send(make(tx))
        .await
        .map_err(|_| ApiError::refused(Refused::Stopping))?;
    rx.await
        .map_err(|_| ApiError::refused(Refused::Stopping))?
        .map_err(ApiError::refused)
}

async fn command(st: &AppState, cmd: Command) -> Result<Answer, ApiError> {
    call(st, |reply| Ask::Command {
        cmd,
        by: None,
        reply,
    })
    .await
}

/// An operator's action: journaled with who gave it and why, just before it.
pub(super) async fn action(
    st: &AppState,
    by: &Operator,
    reason: &Option<String>,
    cmd: Command,
) -> Result<Answer, ApiError> {
    check_reason(reason)?;
    let note = OperatorNote {
        operator: by.0,
        // check_reason bounds it to the note's capacity.
        reason: ShortStr::new(reason.as_deref().unwrap_or("")).unwrap_or_default(),
    };
    call(st, |reply| Ask::Command {
        cmd,
        by: Some(Box::new(note)),
        reply,
    })
    .await
}

/// The one path parameter of a route (an order id, a request id), as text; a segment
/// that is not UTF-8 once percent-decoded is a 400 in the API's own form, not axum's
/// plain-text one.
pub struct Seg(pub(super) String);

impl Seg {
    /// The segment, percent-decoded.
    pub(super) fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromRequestParts<AppState> for Seg {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, ApiError> {
        match Path::<String>::from_request_parts(parts, st).await {
            Ok(Path(s)) => Ok(Seg(s)),
            Err(e) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "INVALID_FIELD",
                format!("the path: {}", e.body_text()),
            )),
        }
    }
}

/// The header naming the operator behind a request.
pub const OPERATOR_HEADER: &str = "x-execd-operator";

/// Who is acting: the `X-Execd-Operator` header (`execd ctl --operator`), or `api` when
/// the client names nobody. The name is the client's word: whoever holds the token may
/// state any name, so the journal records it as stated.
pub struct Operator(pub(super) ShortStr<32>);

impl FromRequestParts<AppState> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, ApiError> {
        let Some(v) = parts.headers.get(OPERATOR_HEADER) else {
            return Ok(Operator(ShortStr::new("api").unwrap_or_default()));
        };
        let ok = |b: &u8| b.is_ascii_alphanumeric() || b"._@-".contains(b);
        match std::str::from_utf8(v.as_bytes()) {
            Ok(name) if !name.is_empty() && name.len() <= 32 && name.bytes().all(|b| ok(&b)) => {
                Ok(Operator(ShortStr::new(name).unwrap_or_default()))
            }
            _ => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "INVALID_FIELD",
                "X-Execd-Operator: must be 1 to 32 letters, digits or . _ @ -",
            )),
        }
    }
}

pub(super) fn now_rfc3339() -> String {
    let ns = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    crate::calendar::iso8601(ns)
}

fn reason_json(r: Reason) -> Value {
    json!({"code": r.code(), "message": r.text()})
}

/// An order the link has a view of.
fn view_json(reg: &Registry, v: &View) -> Value {
    let inst = reg.instruments.get(v.instrument.0 as usize);
    let (ps, qs) = inst.map(|i| (i.price_scale, i.qty_scale)).unwrap_or((0, 0));
    let known = inst.is_some();
    let mut o = json!({
        "status": v.state().as_str(),
        "final": v.state().is_terminal(),
        "order_id": v.order.0,
        "request_id": v.request_id.as_str(),
    });
    let m = o.as_object_mut().expect("an object");
    if let Some(i) = inst.filter(|_| known) {
        m.insert(
            "venue".into(),
            json!(wire::venue_name(reg, i.id.0 as usize).as_str()),
        );
        m.insert("symbol".into(), json!(i.symbol.as_str()));
    }
    if let Some(c) = v.cl_ord_id {
        m.insert("cl_ord_id".into(), json!(c.to_string()));
    }
    if let Some(p) = v.parent {
        m.insert("parent_order_id".into(), json!(p.0));
    }
    let qty = v.status.map(|s| s.qty).or(v.qty);
    if known {
        if let Some(q) = qty {
            m.insert("quantity".into(), json!(dec(q.0, qs)));
        }
        let cum = v
            .status
            .map(|s| s.cum_qty.0)
            .unwrap_or_else(|| v.fills.iter().map(|f| f.qty.0).sum());
        m.insert("filled_quantity".into(), json!(dec(cum, qs)));
        let avg = v.status.map(|s| s.avg_px.0).unwrap_or(0);
        m.insert(
            "average_price".into(),
            if cum > 0 && avg > 0 {
                json!(dec(avg, ps))
            } else {
                Value::Null
            },
        );
        let fills: Vec<Value> = v
            .fills
            .iter()
            .map(|f| {
                let mut fj = json!({
                    "exec_id": f.exec_id,
                    "price": dec(f.px.0, ps),
                    "quantity": dec(f.qty.0, qs),
                    "fee": money(f.fee.0),
                    "late": f.late,
                });
                if let Some(s) = f.slippage {
                    fj["slippage"] = json!({
                        "price": dec(s.price, ps),
                        "bps": dec(s.bps_e2, 2),
                        "pips": dec(s.pips_e2, 2),
                        "category": s.category.as_str(),
                    });
                }
                fj
            })
            .collect();
        m.insert("fills".into(), Value::Array(fills));
        if let Some((id, px)) = v.stop_loss {
            m.insert(
                "stop_loss".into(),
                json!({"order_id": id.0, "price": dec(px.0, ps)}),
            );
        }
        if let Some((id, px)) = v.take_profit {
            m.insert(
                "take_profit".into(),
                json!({"order_id": id.0, "price": dec(px.0, ps)}),
            );
        }
    }
    if let Some(b) = v.slippage_breach {
        m.insert("slippage_breach_bps".into(), json!(dec(b, 2)));
    }
    if v.warning {
        m.insert("kill_switch_warning".into(), json!(true));
    }
    if let Some(r) = v.reason.or(v.status.and_then(|s| s.reason)) {
        m.insert("reason".into(), reason_json(r));
    }
    if v.status.is_some_and(|s| s.late) {
        m.insert("late".into(), json!(true));
    }
    m.insert("as_of".into(), json!(now_rfc3339()));
    o
}

/// An order's status as the core answered a query, for an order the link has no view
/// of (another producer's, or from before a restart): scaled by the instrument the core
/// named with it.
fn status_json(reg: &Registry, s: &OrderStatus, inst: Option<InstrumentId>) -> Value {
    let mut o = json!({
        "status": s.state.as_str(),
        "final": s.state.is_terminal(),
        "order_id": s.order.0,
        "request_id": s.request_id.as_str(),
    });
    let m = o.as_object_mut().expect("an object");
    if let Some(p) = s.parent {
        m.insert("parent_order_id".into(), json!(p.0));
    }
    match inst.and_then(|i| reg.instruments.get(i.0 as usize)) {
        Some(i) => {
            m.insert(
                "venue".into(),
                json!(wire::venue_name(reg, i.id.0 as usize).as_str()),
            );
            m.insert("symbol".into(), json!(i.symbol.as_str()));
            m.insert("quantity".into(), json!(dec(s.qty.0, i.qty_scale)));
            m.insert(
                "filled_quantity".into(),
                json!(dec(s.cum_qty.0, i.qty_scale)),
            );
            m.insert(
                "average_price".into(),
                if s.cum_qty.0 > 0 {
                    json!(dec(s.avg_px.0, i.price_scale))
                } else {
                    Value::Null
                },
            );
        }
        None => {
            m.insert(
                "note".into(),
                json!("quantities and prices are not shown: the core did not name the order's instrument"),
            );
        }
    }
    if let Some(r) = s.reason {
        m.insert("reason".into(), reason_json(r));
    }
    if s.late {
        m.insert("late".into(), json!(true));
    }
    m.insert("as_of".into(), json!(now_rfc3339()));
    o
}

/// The first refusal among a command's events, if any.
pub(super) fn refusal(a: &Answer) -> Option<Reason> {
    a.events.iter().find_map(|e| match e {
        CoreEvent::CommandRejected { reason, .. } => Some(*reason),
        _ => None,
    })
}

/// The instrument the core named for `order` in a query's answer.
fn instrument_in(a: &Answer, order: OrderId) -> Option<InstrumentId> {
    a.events.iter().find_map(|e| match e {
        CoreEvent::OrderInstrument {
            order: o,
            instrument,
        } if *o == order => Some(*instrument),
        _ => None,
    })
}

/// The status of `order` in a command's answer, as JSON.
fn order_in(reg: &Registry, a: &Answer, order: Option<OrderId>) -> Option<Value> {
    a.events.iter().rev().find_map(|e| match e {
        CoreEvent::Order(s) if order.is_none_or(|o| o == s.order) => {
            Some(match a.views.get(&s.order) {
                Some(v) => {
                    let mut v = v.clone();
                    v.status = Some(*s);
                    view_json(reg, &v)
                }
                None => status_json(reg, s, instrument_in(a, s.order)),
            })
        }
        _ => None,
    })
}

pub(super) fn ok(status: StatusCode, v: Value) -> ApiResult {
    Ok((status, Json(v)).into_response())
}

async fn health(State(st): State<AppState>) -> Response {
    let stopping = st.stopping.load(Ordering::Acquire);
    // One budget of 2 s for the whole probe: the core's Sync, then which venues are up.
    let probe = async {
        call(&st, |reply| Ask::Ping { reply }).await?;
        let mut venues = Vec::new();
        for r in read_all(&st, Snapshot::Venues).await? {
            if let Row::Venue { venue, up, .. } = r {
                let name = st.reg.venues.get(venue.0 as usize).map(|v| v.name.as_str());
                venues.push(json!({"venue": name, "up": up}));
            }
        }
        Ok::<_, ApiError>(venues)
    };
    let venues = if stopping {
        None
    } else {
        tokio::time::timeout(Duration::from_secs(2), probe)
            .await
            .ok()
            .and_then(Result::ok)
    };
    let ready = venues.is_some();
    // A venue down does not make execd unready (others may trade), but a probe or an
    // operator needs to see it.
    let down = venues.iter().flatten().filter(|v| v["up"] == false).count();
    // The journal's last record and the audit log's (the sidecar's lag), as the core
    // last published them; none without a journal.
    let journal = st
        .monitor
        .core
        .as_ref()
        .and_then(|c| c.journal())
        .map(|(written, copied)| {
            json!({
                "last_seq": written,
                "audit_last_seq": copied,
                "audit_lag_records": written.saturating_sub(copied),
            })
        });
    let body = json!({
        "status": if !ready { "unavailable" } else if down > 0 { "degraded" } else { "ok" },
        "journal": journal,
        "live": true,
        "ready": ready,
        "core": if ready { "running" } else if stopping { "stopping" } else { "not answering" },
        "accepting": ready,
        "venues": venues,
        "venues_down": down,
        "as_of": now_rfc3339(),
    });
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body)).into_response()
}

async fn submit(
    _: Authed,
    State(st): State<AppState>,
    RawQuery(q): RawQuery,
    b: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let wait = wait(&st, &q)?;
    let b: wire::SubmitBody = body(b, false)?;
    let req = b.into_request().map_err(ApiError::field)?;
    let inst = st
        .reg
        .venue(&req.venue)
        .and_then(|v| st.reg.instrument(v, &req.symbol));
    let got = call(&st, |reply| Ask::Submit { req, wait, reply }).await?;
    match got {
        Submitted::Conflict { first } => Err(ApiError::new(
            StatusCode::CONFLICT,
            "REQUEST_ID_REUSED",
            format!(
                "request id {} was already used for a different request (order {}); nothing was sent",
                req.request_id, first.0
            ),
        )),
        Submitted::Known { order, state } => {
            // The core knows the id from before this run's view: its status, no more.
            let a = command(&st, Command::Query(OrderRef::Id(order))).await?;
            let s = a.events.iter().find_map(|e| match e {
                CoreEvent::Order(s) => Some(*s),
                _ => None,
            });
            match s {
                Some(s) => {
                    let inst = instrument_in(&a, s.order).or(inst);
                    let mut v = status_json(&st.reg, &s, inst);
                    v["duplicate"] = json!(true);
                    ok(StatusCode::OK, v)
                }
                // Retired from the core's order store long ago: the core still remembers
                // the request id and the state the order finished in (R-IN-3), no more.
                None => ok(
                    StatusCode::OK,
                    json!({
                        "status": state.as_str(),
                        "final": state.is_terminal(),
                        "order_id": order.0,
                        "request_id": req.request_id.as_str(),
                        "duplicate": true,
                        "note": "the order has left the core's order store: its final status is all that is kept (no quantities or prices)",
                        "as_of": now_rfc3339(),
                    }),
                ),
            }
        }
        Submitted::Order {
            view,
            done,
            duplicate,
        } => {
            let mut v = view_json(&st.reg, &view);
            v["final"] = json!(done);
            if duplicate {
                v["duplicate"] = json!(true);
            }
            let rejected = view.state() == OrderState::Rejected;
            let code = if duplicate || rejected {
                StatusCode::OK
            } else if done {
                StatusCode::CREATED
            } else {
                StatusCode::ACCEPTED
            };
            ok(code, v)
        }
    }
}

async fn query(st: &AppState, r: OrderRef) -> ApiResult {
    ok(StatusCode::OK, order_status(st, r).await?)
}

/// An order's status as the core holds it now.
async fn order_status(st: &AppState, r: OrderRef) -> Result<Value, ApiError> {
    let a = command(st, Command::Query(r)).await?;
    if let Some(reason) = refusal(&a) {
        return Err(match reason {
            Reason::UnknownOrder => ApiError::new(
                StatusCode::NOT_FOUND,
                "UNKNOWN_ORDER",
                match r {
                    OrderRef::Id(id) => format!("no order {} is held", id.0),
                    OrderRef::Request(q) => format!("no execution with request id {q} is held"),
                },
            ),
            other => ApiError::reason(other),
        });
    }
    order_in(&st.reg, &a, None).ok_or(ApiError::refused(Refused::NoAnswer))
}

async fn execution(
    _: Authed,
    State(st): State<AppState>,
    Seg(rid): Seg,
    RawQuery(q): RawQuery,
) -> ApiResult {
    no_query(&q)?;
    let r = wire::request_id(&rid).ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_FIELD",
            "request_id: must be 1 to 32 bytes",
        )
    })?;
    query(&st, OrderRef::Request(r)).await
}

pub(super) fn path_order(id: &str) -> Result<OrderId, ApiError> {
    wire::order_id(id).map(OrderId).ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_FIELD",
            format!("order id: {id:?} is not an order id (a positive integer)"),
        )
    })
}

async fn order(
    _: Authed,
    State(st): State<AppState>,
    Seg(id): Seg,
    RawQuery(q): RawQuery,
) -> ApiResult {
    let mut events = false;
    for (k, v) in query_pairs(&q)? {
        match (k.as_str(), v.as_str()) {
            ("events", "true") => events = true,
            ("events", "false") => events = false,
            ("events", _) => return Err(bad_param("events", "true or false")),
            (other, _) => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "UNKNOWN_PARAMETER",
                    format!("{other}: unknown query parameter (only events is taken)"),
                ))
            }
        }
    }
    let id = path_order(&id)?;
    let mut v = order_status(&st, OrderRef::Id(id)).await?;
    if !events {
        return ok(StatusCode::OK, v);
    }
    // The order's whole story, from the journal: what the core holds is its present.
    let (rows, truncated) = super::audit::order_events(&st, id.0).await?;
    v["events"] = Value::Array(rows);
    v["events_truncated"] = json!(truncated);
    ok(StatusCode::OK, v)
}

/// Carries out a cancel or replace and waits (bounded) for the venue's answer when the
/// link follows the order.
async fn amend(
    st: &AppState,
    by: &Operator,
    reason: &Option<String>,
    id: OrderId,
    cmd: Command,
    wait: Duration,
) -> ApiResult {
    let a = action(st, by, reason, cmd).await?;
    if let Some(r) = refusal(&a) {
        return Err(ApiError::reason(r));
    }
    if a.views.contains_key(&id) && !wait.is_zero() {
        if let Ok(Submitted::Order { view, .. }) = call(st, |reply| Ask::Watch {
            order: id,
            wait,
            reply,
        })
        .await
        {
            let pending = matches!(
                view.state(),
                OrderState::PendingCancel | OrderState::PendingReplace
            );
            let code = if pending {
                StatusCode::ACCEPTED
            } else {
                StatusCode::OK
            };
            return ok(code, view_json(&st.reg, &view));
        }
    }
    match order_in(&st.reg, &a, Some(id)) {
        Some(v) => ok(StatusCode::ACCEPTED, v),
        None => Err(ApiError::refused(Refused::NoAnswer)),
    }
}

async fn cancel(
    _: Authed,
    by: Operator,
    State(st): State<AppState>,
    Seg(id): Seg,
    RawQuery(q): RawQuery,
    b: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let wait = wait(&st, &q)?;
    let id = path_order(&id)?;
    let c: CancelBody = body(b, true)?;
    amend(
        &st,
        &by,
        &c.reason,
        id,
        Command::Cancel(OrderRef::Id(id)),
        wait,
    )
    .await
}

/// A cancel's body: empty, `{}`, or the reason.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CancelBody {
    #[serde(default)]
    reason: Option<String>,
}

async fn replace(
    _: Authed,
    by: Operator,
    State(st): State<AppState>,
    Seg(id): Seg,
    RawQuery(q): RawQuery,
    b: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let wait = wait(&st, &q)?;
    let id = path_order(&id)?;
    let r: wire::ReplaceBody = body(b, false)?;
    if r.quantity.is_none() && r.limit_price.is_none() {
        return Err(ApiError::field((
            "quantity",
            "give quantity, limit_price or both".to_string(),
        )));
    }
    let cmd = Command::Replace {
        order: OrderRef::Id(id),
        quantity: r.quantity.map(|d| d.0),
        limit_price: r.limit_price.map(|d| d.0),
    };
    amend(&st, &by, &r.reason, id, cmd, wait).await
}

async fn protection(
    _: Authed,
    by: Operator,
    State(st): State<AppState>,
    Seg(id): Seg,
    RawQuery(q): RawQuery,
    b: Result<Bytes, BytesRejection>,
) -> ApiResult {
    no_query(&q)?;
    let id = path_order(&id)?;
    let p: wire::ProtectionBody = body(b, false)?;
    if p.stop_loss.is_none() && p.take_profit.is_none() {
        return Err(ApiError::field((
            "stop_loss",
            "give stop_loss, take_profit or both".to_string(),
        )));
    }
    let a = action(
        &st,
        &by,
        &p.reason,
        Command::ModifyProtection {
            order: OrderRef::Id(id),
            stop_loss: p.stop_loss.map(|d| d.0),
            take_profit: p.take_profit.map(|d| d.0),
        },
    )
    .await?;
    if let Some(r) = refusal(&a) {
        return Err(ApiError::reason(r));
    }
    let legs: Vec<Value> = a
        .events
        .iter()
        .filter_map(|e| match e {
            CoreEvent::Order(s) => Some(json!({"order_id": s.order.0, "status": s.state.as_str()})),
            _ => None,
        })
        .collect();
    ok(
        StatusCode::ACCEPTED,
        json!({"order_id": id.0, "legs": legs, "as_of": now_rfc3339()}),
    )
}

/// Orders a cancel-all or emergency stop sent cancels for.
fn canceled(a: &Answer) -> Vec<u64> {
    a.events
        .iter()
        .filter_map(|e| match e {
            CoreEvent::Order(s) => Some(s.order.0),
            _ => None,
        })
        .collect()
}

async fn cancel_all(
    _: Authed,
    by: Operator,
    State(st): State<AppState>,
    RawQuery(q): RawQuery,
    b: Result<Bytes, BytesRejection>,
) -> ApiResult {
    no_query(&q)?;
    let c: wire::CancelAllBody = body(b, true)?;
    let scope = c.scope.scope().map_err(ApiError::field)?;
    check_scope(&st.reg, &scope)?;
    let a = action(&st, &by, &c.reason, Command::CancelAll(scope)).await?;
    if let Some(r) = refusal(&a) {
        return Err(ApiError::reason(r));
    }
    let ids = canceled(&a);
    ok(
        StatusCode::OK,
        json!({"scope": scope_json(&scope), "cancels_sent": ids.len(), "orders": ids, "as_of": now_rfc3339()}),
    )
}

/// A scope naming something not configured is refused before it reaches the core (the
/// core refuses an unknown venue or account too, but cancel-all would just match
/// nothing).
fn check_scope(reg: &Registry, s: &Scope) -> Result<(), ApiError> {
    let bad = |r: Reason, what: &str, n: &str| {
        Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            r.code(),
            format!("scope.{what}: {n:?}: {}", r.text()),
        ))
    };
    match s {
        Scope::Global => Ok(()),
        Scope::Venue(v) if reg.venue(v).is_none() => bad(Reason::UnknownVenue, "venue", v.as_str()),
        Scope::Account(a) if reg.account(a).is_none() => {
            bad(Reason::UnknownAccount, "account", a.as_str())
        }
        Scope::Symbol(y) if !reg.instruments.iter().any(|i| i.symbol == *y) => {
            bad(Reason::UnknownInstrument, "symbol", y.as_str())
        }
        _ => Ok(()),
    }
}

fn check_reason(r: &Option<String>) -> Result<(), ApiError> {
    match r {
        Some(r) if r.len() > 200 || r.chars().any(char::is_control) => Err(ApiError::field((
            "reason",
            "must be one line of at most 200 bytes".to_string(),
        ))),
        _ => Ok(()),
    }
}

async fn set_kill(
    st: &AppState,
    by: &Operator,
    scope: Scope,
    state: KillState,
    cancel_open: bool,
    reason: Option<String>,
) -> ApiResult {
    check_scope(&st.reg, &scope)?;
    let a = action(
        st,
        by,
        &reason,
        Command::SetKillSwitch {
            scope,
            state,
            cancel_open,
        },
    )
    .await?;
    if let Some(r) = refusal(&a) {
        return Err(ApiError::reason(r));
    }
    let Some((canceled_n, st_now)) = a.events.iter().find_map(|e| match e {
        CoreEvent::KillSwitch {
            canceled, state, ..
        } => Some((*canceled, *state)),
        _ => None,
    }) else {
        return Err(ApiError::refused(Refused::NoAnswer));
    };
    let scope_text = scope_json(&scope).to_string();
    crate::control::note(&format!(
        "kill switch {scope_text} set to {} by {}{}{}",
        st_now.as_str(),
        by.0,
        if canceled_n > 0 {
            format!(", {canceled_n} cancels sent")
        } else {
            String::new()
        },
        reason
            .as_deref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default()
    ));
    ok(
        StatusCode::OK,
        json!({
            "scope": scope_json(&scope),
            "state": st_now.as_str(),
            "cancels_sent": canceled_n,
            "orders": canceled(&a),
            "reason": reason,
            "as_of": now_rfc3339(),
        }),
    )
}

async fn kill(
    _: Authed,
    by: Operator,
    State(st): State<AppState>,
    RawQuery(q): RawQuery,
    b: Result<Bytes, BytesRejection>,
) -> ApiResult {
    no_query(&q)?;
    let k: wire::KillBody = body(b, false)?;
    check_reason(&k.reason)?;
    let scope = k.scope.scope().map_err(ApiError::field)?;
    set_kill(&st, &by, scope, k.state, k.cancel_open, k.reason).await
}

async fn emergency_stop(
    _: Authed,
    by: Operator,
    State(st): State<AppState>,
    RawQuery(q): RawQuery,
    b: Result<Bytes, BytesRejection>,
) -> ApiResult {
    no_query(&q)?;
    let e: wire::EmergencyBody = body(b, true)?;
    check_reason(&e.reason)?;
    set_kill(&st, &by, Scope::Global, KillState::Active, true, e.reason).await
}

async fn mode(
    _: Authed,
    by: Operator,
    State(st): State<AppState>,
    RawQuery(q): RawQuery,
    b: Result<Bytes, BytesRejection>,
) -> ApiResult {
    no_query(&q)?;
    let m: wire::ModeBody = body(b, false)?;
    let account = m.account.0;
    let cmd = Command::SetMode {
        account,
        mode: m.mode,
    };
    account_setting(&st, &by, &m.reason, account, cmd, |e| match e {
        CoreEvent::ModeChanged { mode, .. } => Some(("mode", json!(mode.as_str()))),
        _ => None,
    })
    .await
}

async fn halt(
    _: Authed,
    by: Operator,
    State(st): State<AppState>,
    RawQuery(q): RawQuery,
    b: Result<Bytes, BytesRejection>,
) -> ApiResult {
    no_query(&q)?;
    let h: wire::HaltBody = body(b, false)?;
    let account = h.account.0;
    let cmd = Command::SetHalted {
        account,
        halted: h.halted,
    };
    account_setting(&st, &by, &h.reason, account, cmd, |e| match e {
        CoreEvent::HaltChanged { halted, .. } => Some(("halted", json!(halted))),
        _ => None,
    })
    .await
}

/// Sends an account's setting (mode, halt) and answers with the value the core's event
/// confirms, under `key`.
async fn account_setting(
    st: &AppState,
    by: &Operator,
    reason: &Option<String>,
    account: Name,
    cmd: Command,
    confirmed: impl Fn(&CoreEvent) -> Option<(&'static str, Value)>,
) -> ApiResult {
    let a = action(st, by, reason, cmd).await?;
    if let Some(r) = refusal(&a) {
        return Err(ApiError::reason(r));
    }
    match a.events.iter().find_map(confirmed) {
        Some((key, v)) => ok(
            StatusCode::OK,
            json!({"account": account.as_str(), key: v, "as_of": now_rfc3339()}),
        ),
        None => Err(ApiError::refused(Refused::NoAnswer)),
    }
}

// ---- Reads (slice 2): pages of the core's state, through `Command::Read`. ----

/// Default page size of `GET /v1/orders`.
const DEFAULT_LIMIT: u16 = 100;

pub(super) fn bad_param(field: &str, msg: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "INVALID_PARAMETER",
        format!("{field}: {msg}"),
    )
}

/// Query pairs `k=v` (percent-decoded; `+` is a space).
pub(super) fn query_pairs(q: &Option<String>) -> Result<Vec<(String, String)>, ApiError> {
    let q = q.as_deref().unwrap_or("");
    axum::extract::Query::<Vec<(String, String)>>::try_from_uri(
        &format!("/?{q}")
            .parse()
            .map_err(|_| bad_param("query", "not a valid query string"))?,
    )
    .map(|axum::extract::Query(v)| v)
    .map_err(|e| bad_param("query", e.body_text()))
}

/// Reads every page of `what` from the start (scopes, accounts and venues are bounded by
/// the configuration).
pub(super) async fn read_all(st: &AppState, what: Snapshot) -> Result<Vec<Row>, ApiError> {
    let mut rows = Vec::new();
    let mut from = Some(0);
    while let Some(f) = from {
        let (page, next) = read_page(st, what, f, MAX_ROWS).await?;
        rows.extend(page);
        from = next;
    }
    Ok(rows)
}

/// One read: its rows and where the next page starts.
async fn read_page(
    st: &AppState,
    what: Snapshot,
    from: u64,
    limit: u16,
) -> Result<(Vec<Row>, Option<u64>), ApiError> {
    let a = command(st, Command::Read { what, from, limit }).await?;
    let mut rows = Vec::new();
    let mut end = None;
    for e in a.events {
        match e {
            CoreEvent::Row(r) => rows.push(r),
            CoreEvent::RowsEnd { next } => end = Some(next),
            _ => {}
        }
    }
    match end {
        Some(next) => Ok((rows, next)),
        None => Err(ApiError::refused(Refused::NoAnswer)),
    }
}

fn order_row_json(reg: &Registry, r: &OrderRow) -> Value {
    let inst = reg.instruments.get(r.instrument.0 as usize);
    let (ps, qs) = inst.map_or((0, 0), |i| (i.price_scale, i.qty_scale));
    let mut o = json!({
        "order_id": r.order.0,
        "request_id": r.request_id.as_str(),
        "cl_ord_id": r.cl_ord_id.to_string(),
        "account": reg.accounts.get(r.account.0 as usize).map(|a| a.name.as_str()),
        "venue": reg.venues.get(r.venue.0 as usize).map(|v| v.name.as_str()),
        "symbol": inst.map(|i| i.symbol.as_str()),
        "side": r.side.as_str(),
        "order_type": r.order_type.as_str(),
        "quantity": dec(r.qty.0, qs),
        "limit_price": if r.limit.0 != 0 { json!(dec(r.limit.0, ps)) } else { Value::Null },
        "status": r.state.as_str(),
        "final": r.state.is_terminal(),
        "filled_quantity": dec(r.cum_qty.0, qs),
        "average_price": if r.cum_qty.0 > 0 { json!(dec(r.avg_px.0, ps)) } else { Value::Null },
        "created_at": crate::calendar::iso8601(r.created_ns),
    });
    let m = o.as_object_mut().expect("an object");
    if let Some(p) = r.parent {
        m.insert("parent_order_id".into(), json!(p.0));
    }
    if let Some(reason) = r.reason {
        m.insert("reason".into(), reason_json(reason));
    }
    o
}

/// `GET /v1/orders`: held orders by order id ascending (oldest first), filtered; the
/// cursor is where the next page starts.
async fn list_orders(_: Authed, State(st): State<AppState>, RawQuery(q): RawQuery) -> ApiResult {
    let reg = &st.reg;
    let mut f = OrderFilter::default();
    let mut limit = DEFAULT_LIMIT;
    let mut from = 0u64;
    for (k, v) in query_pairs(&q)? {
        let name =
            |field: &str| Name::new(&v).map_err(|_| bad_param(field, format!("{v:?} is too long")));
        match k.as_str() {
            "status" => {
                for s in v.split(',').filter(|s| !s.is_empty()) {
                    let s = s.trim().to_ascii_uppercase();
                    if s == "OPEN" {
                        for st in OrderState::ALL {
                            if !st.is_terminal() {
                                f.states |= 1 << st as u16;
                            }
                        }
                        continue;
                    }
                    let st = OrderState::ALL
                        .into_iter()
                        .find(|x| x.as_str() == s)
                        .ok_or_else(|| {
                            bad_param(
                                "status",
                                format!("{s:?} is not an order state (or OPEN)"),
                            )
                        })?;
                    f.states |= 1 << st as u16;
                }
            }
            "account" => {
                let n = name("account")?;
                f.account = Some(
                    reg.account(&n)
                        .ok_or_else(|| bad_param("account", format!("{v:?} is not configured")))?,
                );
            }
            "venue" => {
                let n = name("venue")?;
                f.venue = Some(
                    reg.venue(&n)
                        .ok_or_else(|| bad_param("venue", format!("{v:?} is not configured")))?,
                );
            }
            "symbol" => {
                let n = name("symbol")?;
                if !reg.instruments.iter().any(|i| i.symbol == n) {
                    return Err(bad_param("symbol", format!("{v:?} is not configured")));
                }
                f.symbol = Some(n);
            }
            "limit" => {
                limit = v
                    .parse::<u16>()
                    .ok()
                    .filter(|n| (1..=MAX_ROWS).contains(n))
                    .ok_or_else(|| bad_param("limit", format!("{v:?} is not between 1 and {MAX_ROWS}")))?;
            }
            "cursor" => {
                from = v
                    .parse()
                    .map_err(|_| bad_param("cursor", format!("{v:?} is not a cursor this API gave")))?;
            }
            _ => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "UNKNOWN_PARAMETER",
                    format!("{k}: unknown query parameter (status, account, symbol, venue, limit, cursor are taken)"),
                ))
            }
        }
    }
    // Each read looks at a bounded number of ids: go on until the page is full or the
    // book is read to its end.
    let mut orders = Vec::new();
    let mut next = Some(from);
    while let Some(f0) = next {
        let want = limit - orders.len() as u16;
        if want == 0 {
            break;
        }
        let (rows, n) = read_page(&st, Snapshot::Orders(f), f0, want).await?;
        for r in rows {
            if let Row::Order(o) = r {
                orders.push(order_row_json(reg, &o));
            }
        }
        next = n;
    }
    ok(
        StatusCode::OK,
        json!({
            "orders": orders,
            "next_cursor": next.map(|n| n.to_string()),
            "as_of": now_rfc3339(),
        }),
    )
}

/// `GET /v1/positions`: every account's money and every position with activity.
async fn positions(_: Authed, State(st): State<AppState>, RawQuery(q): RawQuery) -> ApiResult {
    no_query(&q)?;
    let reg = &st.reg;
    let mut accounts = Vec::new();
    let mut positions = Vec::new();
    let mut balances = Vec::new();
    for r in read_all(&st, Snapshot::Positions).await? {
        match r {
            Row::Account {
                account,
                cash,
                realised,
                fees,
                order_margin,
                position_margin,
                margin_available,
                open_orders,
            } => accounts.push(json!({
                "account": reg.accounts.get(account.0 as usize).map(|a| a.name.as_str()),
                "cash": money(cash.0),
                "realised_pnl": money(realised.0),
                "fees": money(fees.0),
                "order_margin": money(order_margin.0),
                "position_margin": money(position_margin.0),
                "margin_available": money(margin_available.0),
                "open_orders": open_orders,
            })),
            Row::Position {
                account,
                instrument,
                net,
                avg,
                realised,
                unrealised,
                fees,
                open_buy,
                open_sell,
            } => {
                let inst = reg.instruments.get(instrument.0 as usize);
                let (ps, qs) = inst.map_or((0, 0), |i| (i.price_scale, i.qty_scale));
                positions.push(json!({
                    "account": reg.accounts.get(account.0 as usize).map(|a| a.name.as_str()),
                    "venue": wire::venue_name(reg, instrument.0 as usize).as_str(),
                    "symbol": inst.map(|i| i.symbol.as_str()),
                    "net_quantity": dec(net.0, qs),
                    "average_cost": if net.0 != 0 { json!(dec(avg.0, ps)) } else { Value::Null },
                    "realised_pnl": money(realised.0),
                    "unrealised_pnl": unrealised.map(|m| money(m.0)),
                    "fees": money(fees.0),
                    "open_buy_quantity": dec(open_buy.0, qs),
                    "open_sell_quantity": dec(open_sell.0, qs),
                }));
            }
            Row::Balance { venue, holding: h } => {
                let a = crate::venue::ASSET_SCALE;
                balances.push(json!({
                    "venue": reg.venues.get(venue.0 as usize).map(|v| v.name.as_str()),
                    "account": reg.accounts.get(h.account.0 as usize).map(|a| a.name.as_str()),
                    "asset": h.asset.as_str(),
                    "free": dec(h.free, a),
                    "locked": dec(h.locked, a),
                    "wallet": h.wallet,
                    "venue_change": dec(h.venue_change(), a),
                    "execd_change": dec(h.moved, a),
                    "fees": dec(h.fees, a),
                }));
            }
            _ => {}
        }
    }
    ok(
        StatusCode::OK,
        json!({"accounts": accounts, "positions": positions, "balances": balances,
               "as_of": now_rfc3339()}),
    )
}

/// `GET /v1/kill-switches`: the global switch, and every other that is not OFF.
async fn kill_switches(_: Authed, State(st): State<AppState>, RawQuery(q): RawQuery) -> ApiResult {
    no_query(&q)?;
    let reg = &st.reg;
    let mut switches = Vec::new();
    for r in read_all(&st, Snapshot::KillSwitches).await? {
        if let Row::Switch {
            scope,
            instrument,
            state,
        } = r
        {
            let mut s = json!({"scope": scope_json(&scope), "state": state.as_str()});
            if let Some(i) = instrument {
                s["venue"] = json!(wire::venue_name(reg, i.0 as usize).as_str());
            }
            switches.push(s);
        }
    }
    ok(
        StatusCode::OK,
        json!({"kill_switches": switches, "as_of": now_rfc3339()}),
    )
}

/// `GET /v1/mode`: every account's mode and halt flag.
async fn modes(_: Authed, State(st): State<AppState>, RawQuery(q): RawQuery) -> ApiResult {
    no_query(&q)?;
    let reg = &st.reg;
    let mut accounts = Vec::new();
    for r in read_all(&st, Snapshot::Modes).await? {
        if let Row::Mode {
            account,
            mode,
            halted,
        } = r
        {
            accounts.push(json!({
                "account": reg.accounts.get(account.0 as usize).map(|a| a.name.as_str()),
                "mode": mode.as_str(),
                "halted": halted,
            }));
        }
    }
    ok(
        StatusCode::OK,
        json!({"accounts": accounts, "as_of": now_rfc3339()}),
    )
}

/// `GET /v1/venues`: every venue's kind, session, breaker and open orders.
async fn venues(_: Authed, State(st): State<AppState>, RawQuery(q): RawQuery) -> ApiResult {
    no_query(&q)?;
    let reg = &st.reg;
    let mut venues = Vec::new();
    for r in read_all(&st, Snapshot::Venues).await? {
        if let Row::Venue {
            venue,
            up,
            breaker,
            open_orders,
            fix_seqs,
            last_error,
        } = r
        {
            let spec = reg.venues.get(venue.0 as usize);
            let mut v = json!({
                "venue": spec.map(|v| v.name.as_str()),
                "kind": match spec {
                    Some(v) if v.fix.is_some() => "fix",
                    Some(v) => match v.binance.as_ref().map(|b| b.flavor) {
                        Some(crate::venue::bridge::binance::Flavor::Spot) => "binance-spot",
                        Some(crate::venue::bridge::binance::Flavor::Usdm) => "binance-usdm",
                        None => "paper",
                    },
                    None => "paper",
                },
                "up": up,
                "breaker": match breaker { 0 => "CLOSED", 1 => "OPEN", _ => "HALF_OPEN" },
                "open_orders": open_orders,
            });
            if let Some((next_out, next_in)) = fix_seqs {
                // FIX's own names: what the next message sent (34) and the next one
                // expected from the broker will carry.
                v["next_sender_seq_num"] = json!(next_out);
                v["next_target_seq_num"] = json!(next_in);
                v["last_error"] = match last_error {
                    Some((at, why)) => {
                        json!({"at": crate::calendar::iso8601(at), "message": why.as_str()})
                    }
                    None => Value::Null,
                };
            }
            venues.push(v);
        }
    }
    ok(
        StatusCode::OK,
        json!({"venues": venues, "as_of": now_rfc3339()}),
    )
}
