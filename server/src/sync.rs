//! The sync service on `--bind`: WebSocket connections speaking protocol v1 (docs/protocol.md).
//!
//! - `session`: one client's protocol rules, sans I/O.
//! - `connection`: the task per WebSocket that runs a session and does its I/O.
//! - `hub`: what connections share: node-local checks, subscriptions, the peer registry.
//! - `log`: the sequencer every change goes through (`Log`; `LocalLog` in one process).
//! - `apply`: validation, and the deterministic apply of an ordered change.
//! - `limits`: connection slots (in total and per address) and the inbound rate of a connection.
//! - `stats`: the counters, declared once in a table.
//! - `series`: their time series, sampled once a second for the admin statistics.
//!
//! The stored log is `store::log` (append, read, prune); the order of changes is decided only by
//! a `Log`, the seam a replicated log (cluster mode) stands behind.

pub mod apply;
mod connection;
pub mod error;
mod frames;
pub mod hub;
pub mod limits;
pub mod log;
pub mod series;
pub mod session;
pub mod stats;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::sync::watch;

use self::hub::{Hub, Settings};
use self::log::{LocalLog, Retention};
use self::session::Known;
use self::stats::Counters;
use crate::config::Config;
use crate::model::{Model, SchemaHash};
use crate::schema::Schema;
use crate::store::Store;

/// Read buffer of each WebSocket connection. tungstenite's default (128 KiB, allocated up front)
/// dominated the memory of an idle connection (sync-bench measured ~137 KB per connection; with
/// 4 KiB and the boxed login/catch-up futures ~8.7 KB, docs/benchmarks.md); larger messages still
/// arrive whole, the buffer is only the unit of each socket read.
pub const WS_READ_BUFFER_SIZE: usize = 4 * 1024;

/// A schema version as login matching needs it.
#[derive(Debug, Clone)]
pub struct VersionInfo {
    pub id: u64,
    pub full_hash: String,
    pub base_hash: String,
    pub accept_clients: bool,
    pub known: Known,
}

/// Settings of each connection.
#[derive(Debug, Clone)]
pub struct ConnectionSettings {
    pub max_message_size: usize,
    pub full_sync_split_bytes: usize,
    pub strict_schema: bool,
    pub default_hash: Option<String>,
    pub unsecured: bool,
    /// Inbound rate of one connection; 0 means no limit.
    pub max_inbound_messages_per_second: u32,
    pub max_inbound_bytes_per_second: u64,
    /// From the WebSocket upgrade to `Login`.
    pub handshake_timeout: std::time::Duration,
}

/// Everything the sync endpoint needs; one per server.
pub struct SyncService {
    pub hub: Arc<Hub>,
    /// The stored schema versions as login matching needs them; replaced by
    /// [`SyncService::reload_versions`] when the admin API adds a version or changes whether a
    /// version accepts clients, so those changes apply to the next login without a restart.
    versions: std::sync::RwLock<Arc<Vec<VersionInfo>>>,
    pub current_version: u64,
    pub settings: ConnectionSettings,
    pub auth: Arc<crate::credentials::Authenticator>,
    /// Connection slots within `maxConnections` and `maxConnectionsPerAddress`.
    pub admission: Arc<limits::Admission>,
    shutdown: watch::Receiver<bool>,
    next_connection: AtomicU64,
}

impl SyncService {
    /// Sets up the service for the current schema and all stored versions.
    pub fn new(
        store: Store,
        schema: &Schema,
        config: &Config,
        auth: Arc<crate::credentials::Authenticator>,
        shutdown: watch::Receiver<bool>,
    ) -> Result<Arc<SyncService>, crate::store::Error> {
        let model = Arc::new(schema.model.clone());
        let counters = Arc::new(Counters::default());
        let log = LocalLog::new(
            store.clone(),
            model.clone(),
            counters.clone(),
            Retention {
                max_bytes: config.history().max_bytes,
                target_bytes: config.history().target_bytes,
            },
        );
        let hub = Hub::new(
            store.clone(),
            model.clone(),
            counters.clone(),
            Settings {
                max_tx_objects: config.limits.max_tx_objects,
            },
            Arc::new(log),
        );
        let versions = load_versions(&store, &model)?;
        let settings = ConnectionSettings {
            max_message_size: usize::try_from(config.max_message_size).unwrap_or(usize::MAX),
            full_sync_split_bytes: (config.full_sync_message_split_mb * 1024.0 * 1024.0) as usize,
            strict_schema: config.client_schema_validation.strict,
            default_hash: config.client_schema_validation.default_hash.clone(),
            unsecured: config.unsecured_no_authentication,
            max_inbound_messages_per_second: config.limits.max_inbound_messages_per_second,
            max_inbound_bytes_per_second: config.limits.max_inbound_bytes_per_second,
            handshake_timeout: config.limits.handshake_timeout,
        };
        Ok(Arc::new(SyncService {
            hub,
            versions: std::sync::RwLock::new(Arc::new(versions)),
            current_version: schema.record.id,
            settings,
            auth,
            admission: limits::Admission::new(
                config.limits.max_connections,
                config.limits.max_connections_per_address,
                counters,
            ),
            shutdown,
            next_connection: AtomicU64::new(1),
        }))
    }

    /// Re-reads the stored schema versions for login matching.
    pub fn reload_versions(&self) -> Result<(), crate::store::Error> {
        let versions = load_versions(&self.hub.store, &self.hub.model)?;
        *self
            .versions
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(versions);
        Ok(())
    }

    /// Matches a client's schema hashes to a version: full hash, then base hash; unknown hashes
    /// go to the default hash's version, or the current one unless validation is strict.
    pub fn match_schema(&self, full_hash: &str, base_hash: &str) -> Option<VersionInfo> {
        let versions = self
            .versions
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let full = full_hash.to_ascii_lowercase();
        let base = base_hash.to_ascii_lowercase();
        let found = versions
            .iter()
            .rev()
            .find(|v| v.full_hash == full)
            .or_else(|| versions.iter().rev().find(|v| v.base_hash == base));
        match found {
            Some(v) => Some(v)
                .filter(|v| v.accept_clients || !self.settings.strict_schema)
                .cloned(),
            None if self.settings.strict_schema => None,
            None => match &self.settings.default_hash {
                Some(hash) => versions
                    .iter()
                    .rev()
                    .find(|v| v.full_hash == *hash || v.base_hash == *hash)
                    .cloned(),
                None => versions
                    .iter()
                    .find(|v| v.id == self.current_version)
                    .cloned(),
            },
        }
    }

    /// The sync port's router: WebSocket upgrades, and a plain-text answer to other GETs.
    pub fn router(self: Arc<Self>) -> Router {
        Router::new().fallback(entry).with_state(self)
    }
}

/// The stored schema versions with what each knows of the current model.
fn load_versions(store: &Store, model: &Model) -> Result<Vec<VersionInfo>, crate::store::Error> {
    let mut versions = Vec::new();
    for record in store.schema_versions()? {
        let known = match crate::model::Model::from_json(record.model_json.as_bytes()) {
            Ok(loaded) => known_of(&loaded.model, model),
            Err(_) => Known::default(),
        };
        versions.push(VersionInfo {
            id: record.id,
            full_hash: record.full_hash,
            base_hash: record.base_hash,
            accept_clients: record.accept_clients,
            known,
        });
    }
    Ok(versions)
}

/// Which entities and relations of the current model a client on `version` knows: those whose
/// UIDs its version's model has, by their IDs in the current model.
fn known_of(version: &Model, current: &Model) -> Known {
    let entities = current
        .entities
        .iter()
        .filter(|e| version.entity_by_uid(e.id.uid).is_some())
        .map(|e| e.id.id)
        .collect();
    let relations = current
        .entities
        .iter()
        .flat_map(|e| e.relations.iter())
        .filter(|r| {
            version
                .entities
                .iter()
                .any(|ve| ve.relations.iter().any(|vr| vr.id.uid == r.id.uid))
        })
        .map(|r| r.id.id)
        .collect();
    let properties = current
        .entities
        .iter()
        .flat_map(|e| e.properties.iter().map(move |p| (e, p)))
        .filter(|(e, p)| {
            version
                .entity_by_uid(e.id.uid)
                .is_some_and(|ve| ve.properties.iter().any(|vp| vp.id.uid == p.id.uid))
        })
        .map(|(e, p)| (e.id.id, p.id.id))
        .collect();
    Known {
        entities: Some(entities),
        relations: Some(relations),
        properties: Some(std::sync::Arc::new(properties)),
    }
}

/// Whether a hash string is a well-formed schema hash.
pub fn is_schema_hash(s: &str) -> bool {
    s.parse::<SchemaHash>().is_ok()
}

async fn entry(
    State(service): State<Arc<SyncService>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let wants_upgrade = request
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if !wants_upgrade {
        return probe(&service);
    }
    let (mut parts, _) = request.into_parts();
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    // The slot lives as long as the connection task; a failed upgrade drops it with the closure.
    let slot = match service.admission.admit(addr.ip()) {
        Ok(slot) => slot,
        Err(refusal) => return refusal.into_response(),
    };
    let max = service.settings.max_message_size;
    let id = service.next_connection.fetch_add(1, Ordering::Relaxed);
    upgrade
        .read_buffer_size(WS_READ_BUFFER_SIZE)
        .max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| connection::run(service, socket, addr, id, slot))
}

fn probe(service: &SyncService) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!(
            "sync-server {} is running: this is the sync endpoint (WebSocket, protocol version {}); schema version {}\n",
            crate::VERSION,
            shared_types::protocol::PROTOCOL_VERSION,
            service.current_version
        ),
    )
        .into_response()
}
