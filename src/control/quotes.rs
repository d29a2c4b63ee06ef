//! `POST /v1/quotes`: a top of book from upstream into the gate (R-VEN-6, R-GATE-6), for
//! venues that send none of their own. Journaled like every command, so a replay makes
//! the same gate decisions; staleness is measured from when the core took it.

use super::link::Ask;
use super::routes::{
    body, call, no_query, now_rfc3339, ok, refusal, ApiError, ApiResult, AppState, Authed,
};
use super::wire;
use crate::model::event::Command;
use crate::model::fixed::Dec;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use serde_json::json;

pub(super) async fn post(
    _: Authed,
    State(st): State<AppState>,
    RawQuery(q): RawQuery,
    b: Result<Bytes, BytesRejection>,
) -> ApiResult {
    no_query(&q)?;
    let b: wire::QuoteBody = body(b, false)?;
    let Some(inst) = st
        .reg
        .venue(&b.venue.0)
        .and_then(|v| st.reg.instrument(v, &b.symbol.0))
        .map(|i| &st.reg.instruments[i.0 as usize])
    else {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "UNKNOWN_INSTRUMENT",
            format!("{} is not configured on venue {}", b.symbol.0, b.venue.0),
        ));
    };
    let zero = Dec::new(0, 0);
    let (bid_size, ask_size) = (
        b.bid_size.map_or(zero, |d| d.0),
        b.ask_size.map_or(zero, |d| d.0),
    );
    for (field, d, scale) in [
        ("bid", b.bid.0, inst.price_scale),
        ("ask", b.ask.0, inst.price_scale),
        ("bid_size", bid_size, inst.qty_scale),
        ("ask_size", ask_size, inst.qty_scale),
    ] {
        if d.mant < 0 || d.to_scale(scale).is_none() {
            return Err(ApiError::field((
                field,
                format!("must be zero or more with at most {scale} decimals"),
            )));
        }
    }
    if b.bid.0.mant == 0 || b.ask.0.mant == 0 {
        return Err(ApiError::field((
            "bid",
            "bid and ask must both be greater than zero".to_string(),
        )));
    }
    let cmd = Command::Quote {
        venue: b.venue.0,
        symbol: b.symbol.0,
        bid: b.bid.0,
        ask: b.ask.0,
        bid_size,
        ask_size,
    };
    let a = call(&st, |reply| Ask::Command {
        cmd,
        by: None,
        reply,
    })
    .await?;
    if let Some(r) = refusal(&a) {
        return Err(ApiError::reason(r));
    }
    ok(
        StatusCode::OK,
        json!({"venue": b.venue.0.as_str(), "symbol": b.symbol.0.as_str(), "as_of": now_rfc3339()}),
    )
}
