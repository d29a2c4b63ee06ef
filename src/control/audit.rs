//! `GET /v1/audit` (the export, R-AUD-3) and `GET /v1/events` (the live stream of what
//! happens, resumable by journal sequence number): both read the journal, not the core
//! (see [`super::stream`]).

use super::routes::{bad_param, query_pairs, ApiError, ApiResult, AppState, Authed};
use super::stream::{self, Output};
use crate::export::{Filter, Format, KINDS};
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use std::path::PathBuf;

fn journal(st: &AppState) -> Result<PathBuf, ApiError> {
    st.journal.clone().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "NO_JOURNAL",
            "execd runs without a journal (start it with --journal DIR): there is no audit trail to read",
        )
    })
}

/// "2026-01-05T15:00:00Z" (fractions allowed) or Unix nanoseconds.
fn time(field: &str, v: &str) -> Result<u64, ApiError> {
    if let Ok(ns) = v.parse::<u64>() {
        return Ok(ns);
    }
    crate::calendar::parse_rfc3339(v).ok_or_else(|| {
        bad_param(
            field,
            format!("{v:?} is not RFC 3339 UTC (2026-01-05T15:00:00Z) or Unix nanoseconds"),
        )
    })
}

/// The filters `execd-replay export` takes, under the same names; `extra` handles the
/// route's own parameters (true when it took one).
fn filter(
    q: &Option<String>,
    mut extra: impl FnMut(&str, &str) -> Result<bool, ApiError>,
) -> Result<Filter, ApiError> {
    let mut f = Filter::default();
    for (k, v) in query_pairs(q)? {
        match k.as_str() {
            "from" => f.from = Some(time("from", &v)?),
            "to" => f.to = Some(time("to", &v)?),
            "account" => f.account = Some(v),
            "symbol" => f.symbol = Some(v),
            "order" => {
                f.order = Some(
                    v.parse::<u64>()
                        .ok()
                        .filter(|o| *o > 0)
                        .ok_or_else(|| bad_param("order", format!("{v:?} is not an order id")))?,
                )
            }
            "request_id" => f.request = Some(v),
            "kind" => {
                if !KINDS.contains(&v.as_str()) {
                    return Err(bad_param(
                        "kind",
                        format!("{v:?} is not a kind of row; one of {}", KINDS.join(", ")),
                    ));
                }
                f.kind = Some(v)
            }
            other => {
                if !extra(other, &v)? {
                    return Err(ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "UNKNOWN_PARAMETER",
                        format!("{other}: unknown query parameter"),
                    ));
                }
            }
        }
    }
    if let (Some(a), Some(b)) = (f.from, f.to) {
        if a >= b {
            return Err(bad_param("to", "must be later than from"));
        }
    }
    Ok(f)
}

fn slot(readers: &stream::Readers, what: &str) -> Result<stream::Slot, ApiError> {
    readers.take().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "READERS_BUSY",
            format!(
                "{} {what} are running already (each replays the journal); try again when one ends",
                readers.max()
            ),
        )
    })
}

fn reader_failed(e: String) -> ApiError {
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "READER_FAILED", e)
}

/// `GET /v1/audit?from=&to=&format=csv|jsonl` and the export's filters.
pub(super) async fn export(
    _: Authed,
    State(st): State<AppState>,
    RawQuery(q): RawQuery,
) -> ApiResult {
    let mut format = Format::Jsonl;
    let filter = filter(&q, |k, v| match k {
        "format" => {
            format = match v {
                "csv" => Format::Csv,
                "jsonl" => Format::Jsonl,
                _ => return Err(bad_param("format", format!("{v:?}: csv or jsonl"))),
            };
            Ok(true)
        }
        _ => Ok(false),
    })?;
    let dir = journal(&st)?;
    let slot = slot(&st.exports, "exports")?;
    let rx = stream::start(
        dir,
        filter,
        Output::Export(format),
        slot,
        st.stopping.clone(),
    )
    .map_err(reader_failed)?;
    let kind = match format {
        Format::Csv => "text/csv; charset=utf-8",
        Format::Jsonl => "application/x-ndjson",
    };
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, kind)],
        Body::from_stream(body(rx)),
    )
        .into_response())
}

/// `GET /v1/events[?from_seq=N]`: Server-Sent Events, one per export row; `id` is the
/// journal sequence number, so a client that reconnects with `Last-Event-ID` resumes
/// after it. With neither, the stream starts with what happens next.
pub(super) async fn events(
    _: Authed,
    State(st): State<AppState>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> ApiResult {
    let mut from_seq: Option<u64> = None;
    let filter = filter(&q, |k, v| match k {
        "from_seq" => {
            from_seq = Some(v.parse::<u64>().ok().filter(|s| *s > 0).ok_or_else(|| {
                bad_param(
                    "from_seq",
                    format!("{v:?} is not a journal sequence number"),
                )
            })?);
            Ok(true)
        }
        _ => Ok(false),
    })?;
    if filter.from.is_some() || filter.to.is_some() {
        return Err(bad_param(
            "from",
            "the stream starts at a sequence number (from_seq, or Last-Event-ID); times are for /v1/audit",
        ));
    }
    // The browser's (and any SSE client's) resume: after the last id it saw.
    if let Some(v) = headers.get("last-event-id") {
        let last = std::str::from_utf8(v.as_bytes())
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "INVALID_FIELD",
                    "Last-Event-ID: must be a journal sequence number this stream sent",
                )
            })?;
        from_seq = Some(from_seq.unwrap_or(0).max(last.saturating_add(1)));
    }
    let dir = journal(&st)?;
    // "From now": from the record after the last one committed as the request came,
    // fixed here, so whatever the client does once it has the answer is in the stream.
    let from_seq = match from_seq {
        Some(s) => s,
        // Off the runtime's only thread: it maps and walks the newest segment.
        None => {
            let d = dir.clone();
            tokio::task::spawn_blocking(move || crate::journal::follow::next_seq(&d))
                .await
                .map_err(|e| reader_failed(e.to_string()))?
                .map_err(|e| reader_failed(e.to_string()))?
        }
    };
    let slot = slot(&st.streams, "event streams")?;
    let rx = stream::start(
        dir,
        filter,
        Output::Events { from_seq },
        slot,
        st.stopping.clone(),
    )
    .map_err(reader_failed)?;
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(body(rx)),
    )
        .into_response())
}

/// Most rows of an order's event log in `GET /v1/orders/{id}?events=true`.
const MAX_ORDER_EVENTS: usize = 10_000;

/// An order's event log: the export rows of the order and of the legs protecting it,
/// read from the journal; and whether there were more than [`MAX_ORDER_EVENTS`].
pub(super) async fn order_events(
    st: &AppState,
    order: u64,
) -> Result<(Vec<serde_json::Value>, bool), ApiError> {
    let dir = journal(st)?;
    let slot = slot(&st.exports, "exports")?;
    let filter = Filter {
        order: Some(order),
        ..Filter::default()
    };
    let mut rx = stream::start(
        dir,
        filter,
        Output::Export(Format::Jsonl),
        slot,
        st.stopping.clone(),
    )
    .map_err(reader_failed)?;
    let mut text = Vec::new();
    while let Some(chunk) = rx.recv().await {
        text.extend_from_slice(&chunk.map_err(|e| reader_failed(e.to_string()))?);
    }
    let mut rows = Vec::new();
    for line in text.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        if rows.len() == MAX_ORDER_EVENTS {
            return Ok((rows, true));
        }
        rows.push(serde_json::from_slice(line).map_err(|e| reader_failed(e.to_string()))?);
    }
    Ok((rows, false))
}

type Chunk = Result<axum::body::Bytes, std::io::Error>;

fn body(
    rx: tokio::sync::mpsc::Receiver<Chunk>,
) -> impl futures_util::Stream<Item = Chunk> + Send + 'static {
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) })
}
