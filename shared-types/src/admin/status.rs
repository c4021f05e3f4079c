//! Bodies of the status routes: process, host, network, database and the log level.

use serde::{Deserialize, Serialize};

/// `GET /api/status`. Values the platform cannot tell (e.g. outside Linux) are `null`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// The server version, e.g. `0.1.0`.
    pub version: String,
    pub uptime_seconds: u64,
    /// Resident memory of the server process in bytes.
    pub process_rss_bytes: Option<u64>,
    pub database: DatabaseStatus,
    pub host: HostStatus,
    /// Every network interface with its addresses.
    pub interfaces: Vec<NetworkInterface>,
    /// Where the sync endpoint listens, e.g. `ws://0.0.0.0:9999`.
    pub sync_listen: String,
    /// Where the admin server listens, e.g. `http://127.0.0.1:9980`.
    pub admin_listen: Option<String>,
    /// Logged-in sync clients now.
    pub connected_clients: u64,
    /// The current log level (`all`, `trace`, `verbose`, `debug`, `info`, `warn`, `error`,
    /// `none`).
    pub log_level: String,
    /// The schema version the server runs on.
    pub schema_version: u64,
    pub dataset: Dataset,
}

/// The database and the disk it lives on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct DatabaseStatus {
    /// The database directory, absolute.
    pub directory: String,
    /// Size of `data.mdb` in bytes.
    pub size_bytes: u64,
    /// The configured limit (`--db-max-size`) in bytes.
    pub max_size_bytes: u64,
    /// Space left for unprivileged users on the file system of the directory.
    pub free_disk_bytes: Option<u64>,
}

/// The machine the server runs on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct HostStatus {
    pub name: Option<String>,
    /// CPUs this process may use.
    pub cpu_count: u32,
    /// Load averages over 1, 5 and 15 minutes.
    pub load_average: Option<[f64; 3]>,
    /// Memory available for new work (`MemAvailable`) in bytes.
    pub available_memory_bytes: Option<u64>,
}

/// A network interface and its addresses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct NetworkInterface {
    /// E.g. `eth0`, `lo`.
    pub name: String,
    pub addresses: Vec<InterfaceAddress>,
}

/// One address of an interface, with the URLs the server is reachable on through it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct InterfaceAddress {
    /// E.g. `192.168.1.5` or `fe80::1`.
    pub ip: String,
    /// The sync endpoint on this address, if it listens there.
    pub sync_url: Option<String>,
    /// The admin server on this address, if it listens there.
    pub admin_url: Option<String>,
}

/// The dataset's identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Dataset {
    /// 32 hex characters.
    pub id: String,
    /// Creation time in milliseconds since the Unix epoch.
    pub created_ms: u64,
}

/// `GET /api/status/counts`: objects per entity of the current model, counted on request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct EntityCounts {
    pub entities: Vec<EntityCount>,
    /// The sum over all entities.
    pub total: u64,
}

/// Objects of one entity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct EntityCount {
    pub name: String,
    pub id: u32,
    /// The entity UID as a decimal string (it does not fit in a JavaScript number).
    pub uid: String,
    pub count: u64,
}

/// `GET /api/log-level` answer and `PUT /api/log-level` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct LogLevelBody {
    /// One of `all`, `trace`, `verbose`, `debug`, `info`, `warn`, `error`, `none`.
    pub level: String,
}
