//! Status routes: process, host, network and database facts, object counts per entity, and the
//! run-time log level (the "Debug logging" switch).

pub mod system;

use std::net::{IpAddr, SocketAddr};

use axum::Router;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::routing::get;

use super::{AdminState, ApiError};
use crate::logging::LogLevel;
use shared_types as wire;
use wire::admin::error::ErrorBody;
use wire::admin::status::{
    DatabaseStatus, Dataset, EntityCount, EntityCounts, HostStatus, InterfaceAddress, LogLevelBody,
    NetworkInterface, Status,
};

/// The addresses the two servers actually listen on (after binding, so port 0 is resolved).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listening {
    pub sync: SocketAddr,
    pub sync_tls: bool,
    /// `None` when the admin server is off.
    pub admin: Option<SocketAddr>,
    pub admin_tls: bool,
}

/// The OpenAPI description of the status routes, merged into the admin API document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(status, counts, get_log_level, put_log_level))]
pub struct StatusApi;

/// Routes that need a session.
pub fn protected_routes() -> Router<AdminState> {
    Router::new()
        .route("/api/status", get(status))
        .route("/api/status/counts", get(counts))
        .route("/api/log-level", get(get_log_level).put(put_log_level))
}

/// Process, host, network and database facts.
#[utoipa::path(
    get,
    path = "/api/status",
    tag = "status",
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "Server status", body = Status),
        (status = 401, description = "`unauthorized`: no session", body = ErrorBody),
    ),
)]
pub async fn status(State(state): State<AdminState>) -> Result<axum::Json<Status>, ApiError> {
    let dataset = state.store.dataset()?;
    let size_bytes = state.store.disk_size()?;
    let directory = std::path::absolute(state.store.path())
        .unwrap_or_else(|_| state.store.path().to_path_buf());
    let interfaces = system::interfaces()
        .into_iter()
        .map(|(name, ips)| NetworkInterface {
            name,
            addresses: ips
                .into_iter()
                .map(|ip| InterfaceAddress {
                    ip: ip.to_string(),
                    sync_url: url_on(
                        ip,
                        state.listening.sync,
                        ws_scheme(state.listening.sync_tls),
                    ),
                    admin_url: state.listening.admin.and_then(|admin| {
                        url_on(ip, admin, http_scheme(state.listening.admin_tls))
                    }),
                })
                .collect(),
        })
        .collect();
    Ok(axum::Json(Status {
        version: crate::VERSION.to_owned(),
        uptime_seconds: state.started.elapsed().as_secs(),
        process_rss_bytes: system::process_rss_bytes(),
        database: DatabaseStatus {
            free_disk_bytes: system::free_disk_bytes(&directory),
            directory: directory.display().to_string(),
            size_bytes,
            max_size_bytes: state.store.max_size(),
        },
        host: HostStatus {
            name: system::host_name(),
            cpu_count: std::thread::available_parallelism()
                .map_or(1, |n| u32::try_from(n.get()).unwrap_or(u32::MAX)),
            load_average: system::load_average(),
            available_memory_bytes: system::available_memory_bytes(),
        },
        interfaces,
        sync_listen: format!(
            "{}://{}",
            ws_scheme(state.listening.sync_tls),
            state.listening.sync
        ),
        admin_listen: state
            .listening
            .admin
            .map(|a| format!("{}://{a}", http_scheme(state.listening.admin_tls))),
        connected_clients: state.sync.hub.peer_count() as u64,
        log_level: state.level.get().as_str().to_owned(),
        schema_version: state.schema.record.id,
        dataset: Dataset {
            id: dataset.id,
            created_ms: dataset.created_ms,
        },
    }))
}

/// Objects per entity of the current model, counted now (this reads every object key).
#[utoipa::path(
    get,
    path = "/api/status/counts",
    tag = "status",
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "Object count per entity", body = EntityCounts),
        (status = 401, description = "`unauthorized`: no session", body = ErrorBody),
    ),
)]
pub async fn counts(State(state): State<AdminState>) -> Result<axum::Json<EntityCounts>, ApiError> {
    // Counting walks every key of the entity: keep it off the async workers.
    let counted = tokio::task::spawn_blocking(move || {
        state
            .schema
            .model
            .entities
            .iter()
            .map(|e| {
                Ok(EntityCount {
                    name: e.name.clone(),
                    id: e.id.id,
                    uid: e.id.uid.to_string(),
                    count: state.store.object_count(e.id.uid)?,
                })
            })
            .collect::<Result<Vec<_>, crate::store::Error>>()
    })
    .await
    .map_err(ApiError::internal)??;
    let total = counted.iter().map(|e| e.count).sum();
    Ok(axum::Json(EntityCounts {
        entities: counted,
        total,
    }))
}

/// The current log level.
#[utoipa::path(
    get,
    path = "/api/log-level",
    tag = "status",
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "The current log level", body = LogLevelBody),
        (status = 401, description = "`unauthorized`: no session", body = ErrorBody),
    ),
)]
pub async fn get_log_level(State(state): State<AdminState>) -> axum::Json<LogLevelBody> {
    axum::Json(LogLevelBody {
        level: state.level.get().as_str().to_owned(),
    })
}

/// Changes the log level for the whole process, effective with the next line logged.
#[utoipa::path(
    put,
    path = "/api/log-level",
    tag = "status",
    request_body = LogLevelBody,
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "The new log level", body = LogLevelBody),
        (status = 400, description = "`invalid_request`: unknown level or malformed body", body = ErrorBody),
        (status = 401, description = "`unauthorized`: no session", body = ErrorBody),
    ),
)]
pub async fn put_log_level(
    State(state): State<AdminState>,
    body: Result<axum::Json<LogLevelBody>, JsonRejection>,
) -> Result<axum::Json<LogLevelBody>, ApiError> {
    let axum::Json(body) = body.map_err(|e| {
        if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            return super::schema::json_error(e);
        }
        ApiError::invalid(format!(
            "expected a JSON body like {{\"level\": \"debug\"}}: {}",
            e.body_text()
        ))
    })?;
    let level: LogLevel = body
        .level
        .parse()
        .map_err(|e: crate::logging::UnknownLogLevel| ApiError::invalid(e.to_string()))?;
    // Logged by whichever of the old and new level shows INFO, so a switch to `warn` is
    // still recorded by the old level and a switch to `info` by the new one.
    if level > LogLevel::Info {
        tracing::info!(target: "HttpSv", "Log level set to {level}");
        state.level.set(level);
    } else {
        state.level.set(level);
        tracing::info!(target: "HttpSv", "Log level set to {level}");
    }
    Ok(axum::Json(LogLevelBody {
        level: level.as_str().to_owned(),
    }))
}

fn ws_scheme(tls: bool) -> &'static str {
    if tls { "wss" } else { "ws" }
}

fn http_scheme(tls: bool) -> &'static str {
    if tls { "https" } else { "http" }
}

/// The URL of a server listening on `listen` as reached through `ip`, if it is reachable there:
/// a wildcard address (`0.0.0.0`, `::`) listens on every address of its family (`::` also on
/// IPv4 on Linux's default dual-stack sockets); a specific address only on itself.
pub fn url_on(ip: IpAddr, listen: SocketAddr, scheme: &str) -> Option<String> {
    let reachable = match listen.ip() {
        IpAddr::V4(l) if l.is_unspecified() => ip.is_ipv4(),
        IpAddr::V6(l) if l.is_unspecified() => true,
        l => l == ip,
    };
    reachable.then(|| format!("{scheme}://{}", SocketAddr::new(ip, listen.port())))
}

#[cfg(test)]
mod tests;
