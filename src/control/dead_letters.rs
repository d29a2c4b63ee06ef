//! `GET /v1/dead-letters` and `POST /v1/dead-letters/{order}/redrive|discard` (R-RES-3):
//! the orders that could not be delivered to their venue, and an operator's decision on
//! each — journaled with who and why (the operator note first, then one
//! `Command::DeadLetter`).

use super::routes::{
    action, body, no_query, now_rfc3339, ok, path_order, read_all, refusal, ApiError, ApiResult,
    AppState, Authed, Operator, Seg,
};
use crate::calendar::iso8601;
use crate::model::event::{Command, CoreEvent, DeadLetterAction, Row, Snapshot};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use serde_json::{json, Value};

/// `GET /v1/dead-letters`: every open dead letter, oldest first.
pub(super) async fn list(
    _: Authed,
    State(st): State<AppState>,
    RawQuery(q): RawQuery,
) -> ApiResult {
    no_query(&q)?;
    let letters: Vec<Value> = read_all(&st, Snapshot::DeadLetters)
        .await?
        .iter()
        .filter_map(|r| match r {
            Row::DeadLetter(d) => Some(json!({
                "order_id": d.order.0,
                "request_id": d.request_id.as_str(),
                "cl_ord_id": d.cl_ord_id.to_string(),
                "venue": st.reg.venues.get(d.venue.0 as usize).map(|v| v.name.as_str()),
                "reason": {"code": d.reason.code(), "message": d.reason.text()},
                "attempts": d.attempts,
                "since": iso8601(d.since_ns),
            })),
            _ => None,
        })
        .collect();
    ok(
        StatusCode::OK,
        json!({"dead_letters": letters, "as_of": now_rfc3339()}),
    )
}

/// The body of a decision: why, required (the journal keeps it beside the operator).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct DecisionBody {
    reason: String,
}

/// `POST /v1/dead-letters/{order}/redrive`.
pub(super) async fn redrive(
    a: Authed,
    by: Operator,
    st: State<AppState>,
    id: Seg,
    q: RawQuery,
    b: Result<Bytes, BytesRejection>,
) -> ApiResult {
    decide(a, by, st, id, q, b, true).await
}

/// `POST /v1/dead-letters/{order}/discard`.
pub(super) async fn discard(
    a: Authed,
    by: Operator,
    st: State<AppState>,
    id: Seg,
    q: RawQuery,
    b: Result<Bytes, BytesRejection>,
) -> ApiResult {
    decide(a, by, st, id, q, b, false).await
}

async fn decide(
    _: Authed,
    by: Operator,
    State(st): State<AppState>,
    id: Seg,
    RawQuery(q): RawQuery,
    b: Result<Bytes, BytesRejection>,
    redrive: bool,
) -> ApiResult {
    no_query(&q)?;
    let order = path_order(id.as_str())?;
    let d: DecisionBody = body(b, false)?;
    if d.reason.trim().is_empty() {
        return Err(ApiError::field((
            "reason",
            "is required: say why (it is journaled with the operator)".to_string(),
        )));
    }
    let a = action(
        &st,
        &by,
        &Some(d.reason),
        Command::DeadLetter { order, redrive },
    )
    .await?;
    if let Some(r) = refusal(&a) {
        return Err(ApiError::reason(r));
    }
    let resolved = a.events.iter().find_map(|e| match e {
        CoreEvent::DeadLetterResolved { order: o, action } if *o == order => Some(*action),
        _ => None,
    });
    let Some(done) = resolved else {
        return Err(ApiError::reason(crate::model::reason::Reason::UnknownOrder));
    };
    // Where the order is now: PENDING_NEW (resent, or retrying again), or REJECTED.
    let state = a.events.iter().rev().find_map(|e| match e {
        CoreEvent::Order(s) if s.order == order => Some(s.state.as_str()),
        _ => None,
    });
    let again = a.events.iter().any(|e| {
        matches!(e, CoreEvent::RetryScheduled { order: o, .. } | CoreEvent::DeadLettered { order: o, .. } if *o == order)
    });
    ok(
        StatusCode::OK,
        json!({
            "order_id": order.0,
            "action": done.word(),
            "order_status": state.unwrap_or(if done == DeadLetterAction::Discarded { "REJECTED" } else { "PENDING_NEW" }),
            "delivered": done == DeadLetterAction::Redriven && !again,
            "as_of": now_rfc3339(),
        }),
    )
}
