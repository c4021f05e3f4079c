//! Statistics routes: the time series of the sync counters, the raw counters, and the
//! Prometheus text endpoint.
//!
//! The series are recorded by `sync::series` once a second; a request copies one ring and adds
//! a live reading, so the answer is current to the request without waiting for the sampler.

pub mod prometheus;

use std::collections::HashMap;

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::routing::get;

use super::{AdminState, ApiError};
use crate::sync::series::{self, Kind, Level, SERIES, Unit};
use crate::sync::stats::DEFS;
use shared_types as wire;
use wire::admin::error::ErrorBody;
use wire::admin::stats::{CurrentCounters, Resolution, Series, SeriesKind, Stats};

/// The resolution when the query names none.
pub const DEFAULT_RESOLUTION: Resolution = Resolution::Second;

/// The OpenAPI description of the statistics routes, merged into the admin API document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(stats, current, prometheus::metrics))]
pub struct StatsApi;

/// Routes that need a session.
pub fn protected_routes() -> Router<AdminState> {
    Router::new()
        .route("/api/stats", get(stats))
        .route("/api/stats/current", get(current))
}

/// Routes without a session: the Prometheus endpoint (as ObjectBox) and its `/metrics` alias.
pub fn public_routes() -> Router<AdminState> {
    Router::new()
        .route("/api/sync/prometheus", get(prometheus::metrics))
        .route("/metrics", get(prometheus::metrics))
}

/// Every series at one resolution.
#[utoipa::path(
    get,
    path = "/api/stats",
    tag = "stats",
    params(
        ("resolution" = Option<String>, Query,
         description = "second (default), minute, hour or day"),
    ),
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "Every series at the resolution, oldest point first", body = Stats),
        (status = 400, description = "`invalid_request`: unknown resolution or query parameter", body = ErrorBody),
        (status = 401, description = "`unauthorized`: no session", body = ErrorBody),
    ),
)]
pub async fn stats(
    State(state): State<AdminState>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<axum::Json<Stats>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::invalid(e.body_text()))?;
    if let Some(unknown) = query.keys().find(|k| k.as_str() != "resolution") {
        return Err(ApiError::invalid(format!(
            "unknown query parameter {unknown:?}; /api/stats takes only resolution"
        )));
    }
    let resolution = match query.get("resolution") {
        None => DEFAULT_RESOLUTION,
        Some(value) => parse_resolution(value)?,
    };
    let live = live_reading(&state);
    let snapshot = state
        .series
        .snapshot(level(resolution), series::now_ms(), Some(&live));
    Ok(axum::Json(to_wire(resolution, &snapshot)))
}

/// Every counter since start.
#[utoipa::path(
    get,
    path = "/api/stats/current",
    tag = "stats",
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "Counters since start and gauges now", body = CurrentCounters),
        (status = 401, description = "`unauthorized`: no session", body = ErrorBody),
    ),
)]
pub async fn current(State(state): State<AdminState>) -> axum::Json<CurrentCounters> {
    axum::Json(current_counters(&state))
}

/// The counters now, as the wire type; shared with the Prometheus text.
pub fn current_counters(state: &AdminState) -> CurrentCounters {
    let c = &state.sync.hub.counters;
    let head = state.store.log_bounds().map_or(0, |(head, _)| head);
    CurrentCounters {
        uptime_seconds: state.started.elapsed().as_secs(),
        connected_clients: state.sync.hub.peer_count() as u64,
        tx_log_head: head,
        counters: DEFS
            .iter()
            .map(|def| (def.name.to_owned(), c.get(def.counter)))
            .collect(),
    }
}

fn parse_resolution(value: &str) -> Result<Resolution, ApiError> {
    Resolution::ALL
        .into_iter()
        .find(|r| r.as_str() == value)
        .ok_or_else(|| {
            ApiError::invalid(format!(
                "unknown resolution {value:?}; expected one of: second, minute, hour, day"
            ))
        })
}

fn level(resolution: Resolution) -> Level {
    match resolution {
        Resolution::Second => Level::Second,
        Resolution::Minute => Level::Minute,
        Resolution::Hour => Level::Hour,
        Resolution::Day => Level::Day,
    }
}

fn live_reading(state: &AdminState) -> series::Reading {
    series::read_hub(&state.sync.hub, 0)
}

fn to_wire(resolution: Resolution, snapshot: &series::Snapshot) -> Stats {
    let buckets = &snapshot.buckets;
    let series = SERIES
        .iter()
        .enumerate()
        .map(|(i, def)| {
            let mut out = Series {
                name: def.name.to_owned(),
                label: def.label.to_owned(),
                unit: match def.unit {
                    Unit::Count => wire::admin::stats::Unit::Count,
                    Unit::Bytes => wire::admin::stats::Unit::Bytes,
                    Unit::Clients => wire::admin::stats::Unit::Clients,
                    Unit::Seq => wire::admin::stats::Unit::Seq,
                },
                kind: SeriesKind::Counter,
                values: None,
                min: None,
                avg: None,
                max: None,
            };
            match def.kind {
                Kind::Counter => {
                    out.values = Some(
                        buckets
                            .iter()
                            .map(|b| u64::try_from(b.aggs[i].sum).unwrap_or(u64::MAX))
                            .collect(),
                    );
                }
                Kind::Gauge => {
                    out.kind = SeriesKind::Gauge;
                    let clamp = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
                    out.min = Some(buckets.iter().map(|b| clamp(b.aggs[i].min)).collect());
                    out.avg = Some(buckets.iter().map(|b| b.aggs[i].avg(b.samples)).collect());
                    out.max = Some(buckets.iter().map(|b| clamp(b.aggs[i].max)).collect());
                }
            }
            out
        })
        .collect();
    Stats {
        resolution,
        interval_seconds: snapshot.level.seconds().unsigned_abs(),
        retained: u32::try_from(snapshot.level.capacity()).unwrap_or(u32::MAX),
        timestamps: buckets.iter().map(|b| b.start_s * 1000).collect(),
        last_partial: snapshot.last_partial,
        series,
    }
}

#[cfg(test)]
mod tests;
