//! Reconciliation over HTTP (R-AUD-4, R-OPS-1): the reports the sidecar wrote beside the
//! journal, a reconciliation run on demand, and an operator's resolution of the
//! differences, journaled with who and why.

use super::routes::{
    action, body, no_query, now_rfc3339, ok, refusal, ApiError, ApiResult, AppState, Authed,
    Operator, Seg,
};
use super::wire::{self, Keep};
use crate::model::event::{Command, CoreEvent};
use crate::model::reconcile::{ReconResolution, ReconTrigger};
use crate::sidecar::recon::{self as files, ReportFile};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use serde_json::{json, Value};

fn reports(st: &AppState) -> Result<Vec<(String, ReportFile)>, ApiError> {
    let Some(dir) = &st.journal else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "NO_JOURNAL",
            "execd runs without a journal: reconciliation reports are written beside it (--journal DIR)",
        ));
    };
    let dir = dir.clone();
    files::list(&dir).map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "REPORTS_UNREADABLE",
            format!("the reconciliation reports cannot be read: {e}"),
        )
    })
}

fn summary(stem: &str, r: &ReportFile) -> Value {
    json!({
        "report": r.report,
        "file": stem,
        "venue": r.venue,
        "trigger": r.trigger,
        "asked": r.asked,
        "answered": r.answered,
        "result": r.result,
        "lines": r.lines.len(),
        "mismatches": r.mismatches,
        "in_flight": r.in_flight,
        "orders_checked": r.orders_checked,
        "positions_checked": r.positions_checked,
    })
}

/// `GET /v1/reconciliation`: every report's summary, oldest first.
pub(super) async fn list(
    _: Authed,
    State(st): State<AppState>,
    RawQuery(q): RawQuery,
) -> ApiResult {
    no_query(&q)?;
    let all = reports(&st)?;
    let list: Vec<Value> = all.iter().map(|(s, r)| summary(s, r)).collect();
    ok(
        StatusCode::OK,
        json!({"reports": list, "as_of": now_rfc3339()}),
    )
}

/// `GET /v1/reconciliation/{report}`: one report whole (its JSON file).
pub(super) async fn show(
    _: Authed,
    State(st): State<AppState>,
    Seg(which): Seg,
    RawQuery(q): RawQuery,
) -> ApiResult {
    no_query(&q)?;
    let n: u32 = which
        .parse()
        .map_err(|_| ApiError::field(("report", format!("{which:?} is not a report number"))))?;
    let all = reports(&st)?;
    match all.into_iter().find(|(_, r)| r.report == n) {
        Some((_, r)) => ok(StatusCode::OK, serde_json::to_value(r).unwrap_or_default()),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "UNKNOWN_REPORT",
            format!(
                "no reconciliation report {n} (yet: a report is written once the venue answered)"
            ),
        )),
    }
}

/// `POST /v1/reconciliation`: ask a venue now; the report follows once it answered.
pub(super) async fn run(
    _: Authed,
    by: Operator,
    State(st): State<AppState>,
    RawQuery(q): RawQuery,
    b: Result<Bytes, BytesRejection>,
) -> ApiResult {
    no_query(&q)?;
    let r: wire::ReconcileBody = body(b, false)?;
    if st.reg.venue(&r.venue.0).is_none() {
        return Err(unknown_venue(r.venue.0.as_str()));
    }
    let cmd = Command::Reconcile {
        venue: r.venue.0,
        trigger: ReconTrigger::Operator,
        hold: false,
    };
    let a = action(&st, &by, &r.reason, cmd).await?;
    if let Some(why) = refusal(&a) {
        return Err(ApiError::reason(why));
    }
    super::note(&format!(
        "reconciliation of venue {} asked by {}",
        r.venue.0, by.0
    ));
    ok(
        StatusCode::ACCEPTED,
        json!({
            "venue": r.venue.0.as_str(),
            "asked": now_rfc3339(),
            "report": "written once the venue has answered: GET /v1/reconciliation",
        }),
    )
}

/// `POST /v1/reconciliation/resolve`: an operator's decision about the differences in a
/// scope: lifts its holds, and with `keep: venue` books the venue's positions.
pub(super) async fn resolve(
    _: Authed,
    by: Operator,
    State(st): State<AppState>,
    RawQuery(q): RawQuery,
    b: Result<Bytes, BytesRejection>,
) -> ApiResult {
    no_query(&q)?;
    let r: wire::ResolveBody = body(b, false)?;
    if r.reason.trim().is_empty() {
        return Err(ApiError::field((
            "reason",
            "say why: the journal keeps it beside your name".to_string(),
        )));
    }
    let Some(v) = st.reg.venue(&r.venue.0) else {
        return Err(unknown_venue(r.venue.0.as_str()));
    };
    if let Some(a) = &r.account {
        if st.reg.account(&a.0).is_none() {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "UNKNOWN_ACCOUNT",
                format!("account {} is not configured", a.0),
            ));
        }
    }
    if let Some(s) = &r.symbol {
        if st.reg.instrument(v, &s.0).is_none() {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "UNKNOWN_INSTRUMENT",
                format!("{} is not configured on venue {}", s.0, r.venue.0),
            ));
        }
    }
    let res = ReconResolution {
        venue: r.venue.0,
        account: r.account.map(|a| a.0),
        symbol: r.symbol.map(|s| s.0),
        accept_venue: r.keep == Keep::Venue,
    };
    let reason = Some(r.reason.clone());
    let a = action(&st, &by, &reason, Command::ResolveReconciliation(res)).await?;
    if let Some(why) = refusal(&a) {
        return Err(ApiError::reason(why));
    }
    match a.events.iter().find_map(|e| match e {
        CoreEvent::ReconResolved {
            released, restated, ..
        } => Some((*released, *restated)),
        _ => None,
    }) {
        Some((released, restated)) => {
            super::note(&format!(
                "reconciliation of venue {} resolved by {} (keep {}): {released} holds lifted, {restated} positions restated: {}",
                r.venue.0,
                by.0,
                if res.accept_venue { "venue" } else { "ours" },
                r.reason
            ));
            ok(
                StatusCode::OK,
                json!({
                    "venue": r.venue.0.as_str(),
                    "account": r.account.map(|a| a.0.to_string()),
                    "symbol": r.symbol.map(|s| s.0.to_string()),
                    "keep": if res.accept_venue { "venue" } else { "ours" },
                    "released": released,
                    "restated": restated,
                    "operator": by.0.as_str(),
                    "reason": r.reason,
                    "as_of": now_rfc3339(),
                }),
            )
        }
        None => Err(ApiError::refused(super::link::Refused::NoAnswer)),
    }
}

fn unknown_venue(v: &str) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "UNKNOWN_VENUE",
        format!("venue {v} is not configured"),
    )
}
