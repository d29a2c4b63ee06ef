//! `GET|PUT /v1/limits`: the risk limits in force per instrument (R-GATE-7), and an
//! operator's change of them while execd runs, journaled with who and why.

use super::routes::{
    action, body, no_query, now_rfc3339, ok, read_all, refusal, ApiError, ApiResult, AppState,
    Authed, Operator,
};
use super::wire::{self, dec, money};
use crate::config::Registry;
use crate::model::event::{Command, CoreEvent, LimitChange, Limits, Row, Snapshot};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use serde_json::{json, Value};

fn limits_json(reg: &Registry, l: &Limits) -> Value {
    let inst = reg.instruments.get(l.instrument.0 as usize);
    let qs = inst.map(|i| i.qty_scale).unwrap_or(0);
    json!({
        "venue": inst.and_then(|i| reg.venues.get(i.venue.0 as usize)).map(|v| v.name.as_str()),
        "symbol": inst.map(|i| i.symbol.as_str()),
        "max_order_qty": dec(l.max_order_qty.0, qs),
        "max_notional": money(l.max_notional.0),
        "max_position": dec(l.max_position.0, qs),
    })
}

/// `GET /v1/limits`: every instrument's limits in force.
pub(super) async fn list(
    _: Authed,
    State(st): State<AppState>,
    RawQuery(q): RawQuery,
) -> ApiResult {
    no_query(&q)?;
    let limits: Vec<Value> = read_all(&st, Snapshot::Limits)
        .await?
        .iter()
        .filter_map(|r| match r {
            Row::Limits(l) => Some(limits_json(&st.reg, l)),
            _ => None,
        })
        .collect();
    ok(
        StatusCode::OK,
        json!({"limits": limits, "as_of": now_rfc3339()}),
    )
}

/// `PUT /v1/limits`: new limits for one instrument (those not given stay).
pub(super) async fn set(
    _: Authed,
    by: Operator,
    State(st): State<AppState>,
    RawQuery(q): RawQuery,
    b: Result<Bytes, BytesRejection>,
) -> ApiResult {
    no_query(&q)?;
    let l: wire::LimitsBody = body(b, false)?;
    if l.max_order_qty.is_none() && l.max_notional.is_none() && l.max_position.is_none() {
        return Err(ApiError::field((
            "max_order_qty",
            "give max_order_qty, max_notional, max_position or several".to_string(),
        )));
    }
    let Some(inst) = st
        .reg
        .venue(&l.venue.0)
        .and_then(|v| st.reg.instrument(v, &l.symbol.0))
    else {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "UNKNOWN_INSTRUMENT",
            format!("{} is not configured on venue {}", l.symbol.0, l.venue.0),
        ));
    };
    let change = LimitChange {
        venue: l.venue.0,
        symbol: l.symbol.0,
        max_order_qty: l.max_order_qty.map(|d| d.0),
        max_notional: l.max_notional.map(|d| d.0),
        max_position: l.max_position.map(|d| d.0),
    };
    let a = action(&st, &by, &l.reason, Command::SetLimits(change)).await?;
    if let Some(r) = refusal(&a) {
        return Err(ApiError::reason(r));
    }
    match a.events.iter().find_map(|e| match e {
        CoreEvent::LimitsChanged(now) if now.instrument == inst => Some(now),
        _ => None,
    }) {
        Some(now) => {
            let mut v = limits_json(&st.reg, now);
            v["reason"] = json!(l.reason);
            v["as_of"] = json!(now_rfc3339());
            super::note(&format!(
                "limits of {}/{} set by {}: {v}",
                l.venue.0, l.symbol.0, by.0
            ));
            ok(StatusCode::OK, v)
        }
        None => Err(ApiError::refused(super::link::Refused::NoAnswer)),
    }
}
