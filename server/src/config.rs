//! The server's settings: command line and `sync-server-config.json` merged into one [`Config`].
//!
//! Option names, JSON keys and defaults follow the ObjectBox Sync Server, so its users can reuse
//! their command lines and configuration files. Precedence is defaults < file < command line.
//!
//! Rules that apply to every option:
//! - Keys starting with `_` are comments, at every level of the file.
//! - An unknown key is an error that names the key with its path and suggests the closest one.
//! - An empty string for a non-path option (e.g. `--bind ""`) means "not set", as in ObjectBox,
//!   whose help writes such defaults as `""`. An empty path is an error.
//! - Options that parse but are not implemented yet are never dropped silently: they are listed in
//!   [`Config::unsupported`] and the caller refuses to start or warns.
//!
//! Invariant: this module reads files (the configuration file, and checks that the certificate
//! files exist) but opens no sockets and no database, and logs nothing; messages for the log are
//! returned as [`Config::notes`] because logging is set up from the config.
//!
//! Size: the one `Config` with every option's documentation, its defaults, and the merge of command line, file and defaults (the parsers are in `cli`, `file` and `values`).

mod cli;
mod file;
mod values;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use crate::logging::LogLevel;

/// The configuration file read from the working directory when `--conf` is not given.
pub const DEFAULT_CONFIG_FILE: &str = "sync-server-config.json";
/// Database directory, relative to the working directory.
pub const DEFAULT_DB_DIRECTORY: &str = "objectbox";
/// Database size limit as written in help and docs.
pub const DEFAULT_DB_MAX_SIZE: &str = "100G";
/// Database size limit in bytes (100 GiB).
pub const DEFAULT_DB_MAX_SIZE_BYTES: u64 = 100 * GIB;
/// The smallest accepted database size limit in bytes (1 MiB).
pub const MIN_DB_MAX_SIZE_BYTES: u64 = MIB;
/// Sync endpoint (WebSocket) address.
pub const DEFAULT_BIND: &str = "ws://0.0.0.0:9999";
/// Port of the sync endpoint when the bind address has none.
pub const DEFAULT_SYNC_PORT: u16 = 9999;
/// Admin HTTP server address.
pub const DEFAULT_ADMIN_BIND: &str = "http://127.0.0.1:9980";
/// Port of the admin HTTP server when the bind address has none.
pub const DEFAULT_ADMIN_PORT: u16 = 9980;
/// Worker threads of the admin HTTP server when `--admin-threads` is not given.
pub const DEFAULT_ADMIN_THREADS: usize = 4;
/// An admin session ends after this long without a request (sliding expiry).
pub const DEFAULT_ADMIN_SESSION_TTL: std::time::Duration =
    std::time::Duration::from_secs(12 * 3600);
/// Log level when neither `--log-level` nor `logLevel` is given.
pub const DEFAULT_LOG_LEVEL: LogLevel = LogLevel::Info;
/// Full-sync messages are split into chunks of this many MiB.
pub const DEFAULT_FULL_SYNC_MESSAGE_SPLIT_MB: f64 = 4.0;
/// The largest sync message in MiB (ObjectBox: 32 MB since 2025-05-27).
pub const DEFAULT_MAX_MESSAGE_SIZE_MB: u64 = 32;
/// Sync connections the server holds at once; more are refused with HTTP 503.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
/// Sync connections from one IP address; more are refused with HTTP 429. 0 (no limit) by default:
/// behind a reverse proxy every client has the proxy's address, and any per-address default
/// would cap such a server below `maxConnections`. Set it when clients connect directly.
pub const DEFAULT_MAX_CONNECTIONS_PER_ADDRESS: usize = 0;
/// Operations (object puts and removes, relation changes) in one client transaction. Above what
/// fits in a message of the default size (the smallest operation takes about 40 bytes), so by
/// default the message size bounds transactions; lower it to shorten the writer's longest
/// transaction.
pub const DEFAULT_MAX_TX_OBJECTS: usize = 1_000_000;
/// Messages per second one connection may send before the server stops reading from it for a
/// while (backpressure). Above what one connection reaches in sync-bench (about 34,000/s), so it
/// never slows a normal client.
pub const DEFAULT_MAX_INBOUND_MESSAGES_PER_SECOND: u32 = 100_000;
/// KiB per second one connection may send before the server stops reading from it for a while
/// (64 MiB/s; one connection reaches about 10 MB/s in sync-bench).
pub const DEFAULT_MAX_INBOUND_KB_PER_SECOND: u64 = 64 * 1024;
/// How long a client may take to send its HTTP request headers (the WebSocket upgrade, or any
/// admin request), and on the sync port, from the WebSocket upgrade to its `Login`.
pub const DEFAULT_HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
/// Default bound of the retained transaction history (`historySizeMaxKb`): 1 GiB. ObjectBox
/// keeps everything by default; a bounded default keeps disks from filling up.
pub const DEFAULT_HISTORY_SIZE_MAX_KB: u64 = 1024 * 1024;
/// When the history exceeds its maximum, pruning removes the oldest entries down to this share of
/// the maximum (if `historySizeTargetKb` is not set), so that it does not run on every commit.
pub const DEFAULT_HISTORY_TARGET_PERCENT: u64 = 90;
/// How long a JWT public key fetched from `publicKeyUrl` is cached.
pub const DEFAULT_JWT_PUBLIC_KEY_CACHE_EXPIRATION_SECONDS: u32 = 300;
/// File name of the TLS certificate inside the certificate directory.
pub const CERT_FILE_NAME: &str = "cert.pem";
/// File name of the TLS private key inside the certificate directory.
pub const KEY_FILE_NAME: &str = "key.pem";
/// Bytes in a KiB, the unit of `historySize*Kb` and `K` in sizes.
pub const KIB: u64 = 1024;
/// Bytes in a MiB, the unit of `*Mb` keys and `M` in sizes.
pub const MIB: u64 = 1024 * KIB;
/// Bytes in a GiB, `G` in sizes.
pub const GIB: u64 = 1024 * MIB;
/// Bytes in a TiB, `T` in sizes.
pub const TIB: u64 = 1024 * GIB;

/// Everything the server needs to start, after merging defaults, the file and the command line.
///
/// Relative paths are kept relative to the working directory (see [`Config::load_in`]). Secrets
/// are [`Secret`]s, so `Debug` never shows them.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Data model JSON file to create or update the schema from (`-m/--model`, `modelFile`).
    pub model_file: Option<PathBuf>,
    /// Database directory (`-d/--db-directory`, `dbDirectory`).
    pub db_directory: PathBuf,
    /// Database size limit in bytes (`--db-max-size`, `dbMaxSize`).
    pub db_max_size: u64,
    /// Sync endpoint (`-b/--bind`, `bind`).
    pub bind: SyncBind,
    /// Admin HTTP server, or `None` with `--admin-off` (`--admin-bind`, `adminBind`).
    pub admin_bind: Option<AdminBind>,
    /// Admin HTTP worker threads if set; `None` means [`DEFAULT_ADMIN_THREADS`].
    pub admin_threads: Option<usize>,
    /// Directory with [`CERT_FILE_NAME`] and [`KEY_FILE_NAME`] (`--cert`, `certificatePath`);
    /// both files were checked to exist.
    pub certificate_path: Option<PathBuf>,
    /// Worker threads of the main pool; `0` from the user is resolved to the number of CPUs.
    pub workers: usize,
    /// Log level (`--log-level`, `logLevel`, or the deprecated `--debug`/`debugLog`).
    pub log_level: LogLevel,
    /// Accept clients without credentials (`--unsecured-no-authentication`).
    pub unsecured_no_authentication: bool,
    /// Client authentication methods (`auth.*`, `--auth-*`, `--jwt-*`).
    pub auth: AuthConfig,
    /// Sync history limit in KiB (`historySizeMaxKb`); `None` (also `0` in the file) means
    /// [`DEFAULT_HISTORY_SIZE_MAX_KB`]. [`Config::history`] resolves both.
    pub history_size_max_kb: Option<u64>,
    /// History is cleaned down to this size in KiB (`historySizeTargetKb`); below the maximum.
    /// `None` means [`DEFAULT_HISTORY_TARGET_PERCENT`] of the maximum.
    pub history_size_target_kb: Option<u64>,
    /// Full-sync messages are split at this size in MiB (`fullSyncMessageSplitMb`, at least 1).
    pub full_sync_message_split_mb: f64,
    /// The largest sync message in bytes (`maxMessageSizeMb`).
    pub max_message_size: u64,
    /// Connection, transaction and rate limits of sync clients.
    pub limits: Limits,
    /// How clients with an unknown schema are treated (`clientSchemaValidation`).
    pub client_schema_validation: ClientSchemaValidation,
    /// Sync filter expression per type name (`syncFilters`).
    pub sync_filters: BTreeMap<String, String>,
    /// Keep removes in the history without object data (`removeWithoutObjectData`). Refused at
    /// start-up for now (listed in [`Config::unsupported`]): removes never carry object data yet.
    pub remove_without_object_data: bool,
    /// Initial admin user (`--admin-user`, `adminUser`).
    pub admin_user: Option<String>,
    /// Password of the initial admin user (`--admin-password`, `adminPassword`,
    /// env `SYNC_SERVER_ADMIN_PASSWORD`).
    pub admin_password: Option<Secret>,
    /// Open the admin server without login (`--admin-unsecured-no-authentication`).
    pub admin_unsecured_no_authentication: bool,
    /// How long an admin session lives without requests. Not an option: always
    /// [`DEFAULT_ADMIN_SESSION_TTL`], except in tests.
    pub admin_session_ttl: std::time::Duration,
    /// Trial period in days (`--trial-days`, `trialDays`).
    pub trial_days: Option<u32>,
    /// Messages to log once logging is up, in order.
    pub notes: Vec<Note>,
    /// Options that were set but are not implemented yet, each named like
    /// `"--cluster-id / clusterId"` (CLI option / JSON key). The caller refuses to start or warns.
    pub unsupported: Vec<String>,
}

/// Where a listener binds: `scheme://host:port`, the scheme telling whether it uses TLS. One
/// type for both listeners; `S` gives the schemes and default port ([`SyncBind`], [`AdminBind`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Bind<S> {
    /// `wss://` or `https://`: TLS with the certificate from [`Config::certificate_path`] (the
    /// admin server uses the same pair; ObjectBox takes one PEM file there instead).
    pub tls: bool,
    /// Host name or IP address, IPv6 without brackets.
    pub host: String,
    /// Port; `0` picks a free one.
    pub port: u16,
    scheme: std::marker::PhantomData<S>,
}

/// What tells the two listeners' addresses apart.
pub trait Scheme {
    /// The plain and the TLS scheme, e.g. `("ws", "wss")`.
    const SCHEMES: (&'static str, &'static str);
    /// The port when the address has none.
    const DEFAULT_PORT: u16;
    /// The host of the default address.
    const DEFAULT_HOST: &'static str;
}

/// The sync endpoint's schemes: `ws://` and `wss://`, default [`DEFAULT_BIND`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SyncScheme;

/// The admin server's schemes: `http://` and `https://`, default [`DEFAULT_ADMIN_BIND`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AdminScheme;

impl Scheme for SyncScheme {
    const SCHEMES: (&'static str, &'static str) = ("ws", "wss");
    const DEFAULT_PORT: u16 = DEFAULT_SYNC_PORT;
    const DEFAULT_HOST: &'static str = "0.0.0.0";
}

impl Scheme for AdminScheme {
    const SCHEMES: (&'static str, &'static str) = ("http", "https");
    const DEFAULT_PORT: u16 = DEFAULT_ADMIN_PORT;
    const DEFAULT_HOST: &'static str = "127.0.0.1";
}

/// Where the sync WebSocket endpoint listens: `ws://host:port` or `wss://host:port`.
pub type SyncBind = Bind<SyncScheme>;

/// Where the admin HTTP server listens: `http://host:port` or `https://host:port`.
pub type AdminBind = Bind<AdminScheme>;

/// A secret from the configuration (a password, the shared secret). `Debug` prints
/// `"<redacted>"`, so no formatted config, error or log line shows it; read it with `Deref`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

/// The resolved history bounds in bytes (see [`Config::history`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryLimits {
    /// Pruning starts when the retained log is larger.
    pub max_bytes: u64,
    /// Pruning removes the oldest entries down to this.
    pub target_bytes: u64,
}

/// Limits on what sync clients may hold and send. Each names its option in the error a client
/// gets when it reaches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Sync connections at once (`--max-connections`, `maxConnections`); at least 1.
    pub max_connections: usize,
    /// Sync connections from one IP address; 0 means no limit (`--max-connections-per-address`,
    /// `maxConnectionsPerAddress`).
    pub max_connections_per_address: usize,
    /// Operations in one client transaction (`--max-tx-objects`, `maxTxObjects`); at least 1.
    pub max_tx_objects: usize,
    /// Messages per second one connection may send; 0 means no limit
    /// (`--max-inbound-messages-per-second`, `maxInboundMessagesPerSecond`).
    pub max_inbound_messages_per_second: u32,
    /// Bytes per second one connection may send; 0 means no limit
    /// (`--max-inbound-kb-per-second`, `maxInboundKbPerSecond`, in KiB).
    pub max_inbound_bytes_per_second: u64,
    /// Not an option: always [`DEFAULT_HANDSHAKE_TIMEOUT`], except in tests.
    pub handshake_timeout: std::time::Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_connections_per_address: DEFAULT_MAX_CONNECTIONS_PER_ADDRESS,
            max_tx_objects: DEFAULT_MAX_TX_OBJECTS,
            max_inbound_messages_per_second: DEFAULT_MAX_INBOUND_MESSAGES_PER_SECOND,
            max_inbound_bytes_per_second: DEFAULT_MAX_INBOUND_KB_PER_SECOND * KIB,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
        }
    }
}

/// Client authentication methods. Each configured method is an authenticator.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthConfig {
    /// `auth.sharedSecret`.
    pub shared_secret: Option<SharedSecret>,
    /// `auth.google`.
    pub google: Option<GoogleAuth>,
    /// `--auth-obx-admin`, `auth.obxAdmin`.
    pub obx_admin: Option<ObxAdminAuth>,
    /// `auth.jwt`, `--jwt-*`.
    pub jwt: Option<JwtConfig>,
    /// Credential types clients must present, from `--auth-required`, as the C enum names of
    /// `OBXSyncCredentialsType`, e.g. `SHARED_SECRET_SIPPED` or `JWT_ID`.
    pub required: Vec<String>,
}

/// A shared secret clients prove they know (`auth.sharedSecret`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedSecret {
    /// The secret; never empty.
    pub value: Secret,
    /// Clients must present it.
    pub required: bool,
}

/// Google Sign-In ID tokens (`auth.google`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoogleAuth {
    /// Accepted OAuth client IDs; at least one.
    pub client_ids: Vec<String>,
    /// Clients must present a Google token.
    pub required: bool,
}

/// Admin users as sync users (`--auth-obx-admin`, `auth.obxAdmin`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObxAdminAuth {
    /// Clients must present admin user credentials.
    pub required: bool,
}

/// JWT validation (`auth.jwt`, `--jwt-*`). Exactly one of the key sources is set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JwtConfig {
    /// Inline PKCS#8 PEM public key (`publicKey`).
    pub public_key: Option<String>,
    /// Where to fetch the key(s) (`publicKeyUrl`, `--jwt-public-key-url`).
    pub public_key_url: Option<String>,
    /// Accepted `aud` values; empty means not checked (`claimAud`, `--jwt-claim-aud`).
    pub claim_aud: Vec<String>,
    /// Expected `iss` (`claimIss`, `--jwt-claim-iss`).
    pub claim_iss: Option<String>,
    /// Cache time for fetched keys; `None` means
    /// [`DEFAULT_JWT_PUBLIC_KEY_CACHE_EXPIRATION_SECONDS`]. Only set with `public_key_url`.
    pub public_key_cache_expiration_seconds: Option<u32>,
    /// Clients must present an ID token (`required`).
    pub required: bool,
    /// Clients must present an access token (`requiredAccess`).
    pub required_access: bool,
    /// Clients must present a refresh token (`requiredRefresh`).
    pub required_refresh: bool,
    /// Clients must present a custom token (`requiredCustom`).
    pub required_custom: bool,
}

/// How clients whose schema hash is unknown are treated (`clientSchemaValidation`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientSchemaValidation {
    /// Reject clients whose schema does not resolve to a known, enabled version.
    pub strict: bool,
    /// Treat unknown clients as this schema: 32 lower-case hex characters. Never with `strict`.
    pub default_hash: Option<String>,
}

/// A message for the log, produced before logging is set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// How to log it.
    pub level: NoteLevel,
    /// The message, e.g. `Loaded configuration file sync-server-config.json`.
    pub message: String,
}

/// The log level of a [`Note`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoteLevel {
    /// Informational, e.g. which configuration file was loaded.
    Info,
    /// Something the user should fix, e.g. a deprecated option.
    Warn,
}

/// Why the configuration could not be loaded. Every message names the option and its value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// Help or version was requested, or the command line is malformed: call `exit()` on it.
    #[error(transparent)]
    Clap(#[from] clap::Error),
    /// The file given with `--conf` does not exist.
    #[error("configuration file {} not found (given with --conf)", .path.display())]
    FileNotFound {
        /// The path, resolved against the working directory.
        path: PathBuf,
    },
    /// The configuration file exists but cannot be read.
    #[error("cannot read configuration file {}: {source}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The configuration file is not valid JSON (or repeats a key).
    #[error("invalid JSON in {} at line {line}, column {column}: {message}", .path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong there.
        message: String,
    },
    /// The file has a key this server does not know.
    #[error("unknown key \"{key}\" in {}{}", .path.display(), did_you_mean(.suggestion.as_deref()))]
    UnknownKey {
        /// The file.
        path: PathBuf,
        /// The key with its path, e.g. `auth.jwt.claimAudd`.
        key: String,
        /// The closest known key with its path, e.g. `auth.jwt.claimAud`.
        suggestion: Option<String>,
    },
    /// A key in the file has a value of the wrong JSON type.
    #[error("wrong type for {key} in {}: expected {expected}, found {found}", .path.display())]
    WrongType {
        /// The file.
        path: PathBuf,
        /// The key with its path.
        key: String,
        /// What the key takes, e.g. `a non-negative integer`.
        expected: &'static str,
        /// The value as (shortened) JSON.
        found: String,
    },
    /// A value has the right type but is not acceptable.
    #[error("invalid value {value} for {option}: {reason}")]
    InvalidValue {
        /// The option, e.g. `--bind` or `bind in sync-server-config.json`.
        option: String,
        /// The value, quoted.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Options that are fine alone but not together, or refer to something that is missing.
    #[error("invalid {what}: {message}")]
    Invalid {
        /// The options, e.g. `--cert / certificatePath`.
        what: String,
        /// What is wrong.
        message: String,
    },
}

impl Config {
    /// Parses the command line (`args` include argv\[0\]) and the configuration file.
    ///
    /// Relative paths, including the default configuration file, are relative to the process's
    /// working directory.
    pub fn load<I, T>(args: I) -> Result<Config, ConfigError>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        Config::load_in(Path::new(""), args)
    }

    /// Like [`Config::load`], but relative paths (the default configuration file, `--conf`,
    /// model, database and certificate paths) are resolved against `cwd`. For tests.
    pub fn load_in<I, T>(cwd: &Path, args: I) -> Result<Config, ConfigError>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let cli = cli::parse(args)?;
        let mut notes = Vec::new();
        let file = read_file(cwd, cli.conf.as_deref(), &mut notes)?;
        merge(cwd, cli, file, notes)
    }

    /// The configuration of a start without command-line options whose configuration file
    /// (named `path` in messages) holds `bytes`; nothing is read from disk except that a
    /// `certificatePath` is checked. Relative paths resolve against `cwd`. For fuzzing.
    pub fn from_file_bytes(cwd: &Path, path: &Path, bytes: &[u8]) -> Result<Config, ConfigError> {
        let cli = cli::parse(["sync-server"])?;
        // The same error `read_to_string` gives a file that is not UTF-8.
        let text = std::str::from_utf8(bytes).map_err(|e| ConfigError::Read {
            path: path.to_owned(),
            source: io::Error::new(io::ErrorKind::InvalidData, e),
        })?;
        let mut notes = Vec::new();
        let file = file::parse(path, text, &mut notes)?;
        merge(cwd, cli, file, notes)
    }

    /// A config for tests: defaults, the given model file and database directory, sync on
    /// `ws://127.0.0.1:0`, admin on `http://127.0.0.1:0`, and no authentication.
    pub fn for_tests(model_file: Option<PathBuf>, db_directory: PathBuf) -> Config {
        Config {
            model_file,
            db_directory,
            bind: SyncBind::new(false, "127.0.0.1", 0),
            admin_bind: Some(AdminBind::new(false, "127.0.0.1", 0)),
            unsecured_no_authentication: true,
            ..Config::defaults()
        }
    }

    /// True if any client authenticator is configured: shared secret, JWT, admin users or Google.
    /// The server needs one unless [`Config::unsecured_no_authentication`] is set; both together
    /// are allowed.
    pub fn has_authenticator(&self) -> bool {
        let a = &self.auth;
        a.shared_secret.is_some() || a.jwt.is_some() || a.obx_admin.is_some() || a.google.is_some()
    }

    /// The version line printed by `--version`, e.g. `0.1.0 (protocol version: 1)`.
    pub fn version_text() -> &'static str {
        cli::version_text()
    }
}

impl Config {
    /// The history bounds in bytes, with the defaults applied.
    pub fn history(&self) -> HistoryLimits {
        let max_bytes = self
            .history_size_max_kb
            .unwrap_or(DEFAULT_HISTORY_SIZE_MAX_KB)
            .saturating_mul(KIB);
        let target_bytes = self
            .history_size_target_kb
            .map_or(max_bytes / 100 * DEFAULT_HISTORY_TARGET_PERCENT, |kb| {
                kb.saturating_mul(KIB)
            });
        HistoryLimits {
            max_bytes,
            target_bytes,
        }
    }
}

impl<S: Scheme> Bind<S> {
    /// A bind address from its parts.
    pub fn new(tls: bool, host: &str, port: u16) -> Bind<S> {
        Bind {
            tls,
            host: host.to_owned(),
            port,
            scheme: std::marker::PhantomData,
        }
    }

    /// `host:port` for binding a listener, with brackets around IPv6 addresses.
    pub fn host_port(&self) -> String {
        host_port(&self.host, self.port)
    }
}

impl<S: Scheme> Default for Bind<S> {
    /// [`DEFAULT_BIND`] or [`DEFAULT_ADMIN_BIND`].
    fn default() -> Self {
        Bind::new(false, S::DEFAULT_HOST, S::DEFAULT_PORT)
    }
}

impl<S: Scheme> fmt::Display for Bind<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls { S::SCHEMES.1 } else { S::SCHEMES.0 };
        write!(f, "{scheme}://{}", self.host_port())
    }
}

impl<S: Scheme> std::str::FromStr for Bind<S> {
    type Err = String;

    /// Parses `scheme://host:port`, `[::1]:port` or `host` (the plain scheme and the default
    /// port when missing). The error is the reason, without the value.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (tls, host, port) = values::parse_bind(s, S::SCHEMES, S::DEFAULT_PORT)?;
        Ok(Bind::new(tls, &host, port))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"<redacted>\"")
    }
}

impl std::ops::Deref for Secret {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Secret {
        Secret(value.to_owned())
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Secret {
        Secret(value)
    }
}

// Helpers below.

impl Config {
    /// Every default, with the worker count resolved.
    fn defaults() -> Config {
        Config {
            model_file: None,
            db_directory: PathBuf::from(DEFAULT_DB_DIRECTORY),
            db_max_size: DEFAULT_DB_MAX_SIZE_BYTES,
            bind: SyncBind::default(),
            admin_bind: Some(AdminBind::default()),
            admin_threads: None,
            certificate_path: None,
            workers: resolve_workers(0),
            log_level: DEFAULT_LOG_LEVEL,
            unsecured_no_authentication: false,
            auth: AuthConfig::default(),
            history_size_max_kb: None,
            history_size_target_kb: None,
            full_sync_message_split_mb: DEFAULT_FULL_SYNC_MESSAGE_SPLIT_MB,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE_MB * MIB,
            limits: Limits::default(),
            client_schema_validation: ClientSchemaValidation::default(),
            sync_filters: BTreeMap::new(),
            remove_without_object_data: false,
            admin_user: None,
            admin_password: None,
            admin_unsecured_no_authentication: false,
            admin_session_ttl: DEFAULT_ADMIN_SESSION_TTL,
            trial_days: None,
            notes: Vec::new(),
            unsupported: Vec::new(),
        }
    }
}

/// Names in [`Config::unsupported`], as "CLI option / JSON key".
mod unsupported {
    pub const ADMIN_THREADS: &str = "--admin-threads / adminThreads";
    pub const AUTH_GOOGLE: &str = "auth.google";
    pub const AUTH_REQUIRED_GOOGLE: &str = "GOOGLE_AUTH in --auth-required";
    pub const SYNC_FILTERS: &str = "syncFilters";
    pub const CLUSTER_ID: &str = "--cluster-id / clusterId";
    pub const FIXED_LEADER: &str = "--fixed-leader / fixedLeader";
    pub const FIXED_FOLLOWER: &str = "--fixed-follower / fixedFollower";
    pub const MONGO_URL: &str = "--mongo-url / mongoDb.url";
    pub const MONGO_DB: &str = "--mongo-db / mongoDb.database";
    pub const MONGO_INITIAL_IMPORT: &str =
        "--mongo-initial-import / mongoDb.automaticInitialImport";
    pub const NO_STACKS: &str = "--no-stacks / noStacks";
    pub const ASYNC_TX_SLOT: &str = "--async-tx-slot / asyncTxSlot";
    pub const RESTORE_BACKUP: &str = "--restore-backup";
    pub const BACKUP_OVERWRITES_DB: &str = "--backup-overwrites-db";
    pub const REMOVE_WITHOUT_OBJECT_DATA: &str = "removeWithoutObjectData";
}

/// Reads the configuration file, if any, and notes which one was used.
fn read_file(
    cwd: &Path,
    explicit: Option<&Path>,
    notes: &mut Vec<Note>,
) -> Result<file::FileConfig, ConfigError> {
    let path = cwd.join(explicit.unwrap_or(Path::new(DEFAULT_CONFIG_FILE)));
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            notes.push(Note::info(format!(
                "Loaded configuration file {}",
                path.display()
            )));
            file::parse(&path, &text, notes)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound && explicit.is_none() => {
            notes.push(Note::info(format!(
                "Default configuration file {DEFAULT_CONFIG_FILE} not found"
            )));
            Ok(file::FileConfig::default())
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(ConfigError::FileNotFound { path }),
        Err(source) => Err(ConfigError::Read { path, source }),
    }
}

/// Applies the file over the defaults and the command line over both, then checks the result.
fn merge(
    cwd: &Path,
    cli: cli::Cli,
    file: file::FileConfig,
    mut notes: Vec<Note>,
) -> Result<Config, ConfigError> {
    let defaults = Config::defaults();
    let mut unsupported = Vec::new();
    let auth = merge_auth(&cli, file.auth)?;

    let db_max_size = match non_empty(cli.db_max_size) {
        Some(s) => values::db_max_size(&s).map_err(|r| cli_invalid("--db-max-size", &s, r))?,
        None => file.db_max_size.unwrap_or(defaults.db_max_size),
    };
    let bind = match non_empty(cli.bind) {
        Some(s) => s.parse().map_err(|r| cli_invalid("--bind", &s, r))?,
        None => file.bind.unwrap_or(defaults.bind),
    };
    let admin_bind_arg = non_empty(cli.admin_bind);
    // Parse the address even with --admin-off, so that a typo is reported rather than hidden.
    let parsed_admin_bind: AdminBind = match &admin_bind_arg {
        Some(s) => s.parse().map_err(|r| cli_invalid("--admin-bind", s, r))?,
        None => file.admin_bind.unwrap_or_default(),
    };
    let admin_bind = if cli.admin_off {
        if let Some(s) = &admin_bind_arg {
            notes.push(Note::warn(format!(
                "--admin-bind {s} is ignored because of --admin-off"
            )));
        }
        None
    } else {
        Some(parsed_admin_bind)
    };

    let log_level = match non_empty(cli.log_level) {
        Some(s) => values::log_level(&s).map_err(|r| cli_invalid("--log-level", &s, r))?,
        None if cli.debug => LogLevel::Debug,
        None => file.log_level.unwrap_or(DEFAULT_LOG_LEVEL),
    };
    if cli.debug {
        notes.push(Note::warn(
            "--debug is deprecated, use --log-level debug".to_owned(),
        ));
    }

    let certificate_path = cli.cert.or(file.certificate_path).map(|p| cwd.join(p));
    if let Some(dir) = &certificate_path {
        check_certificate_dir(dir)?;
    }
    let https_admin = admin_bind.as_ref().filter(|a| a.tls);
    if certificate_path.is_none() {
        let needs_certificate = |what: &str, url: String| ConfigError::Invalid {
            what: what.to_owned(),
            message: format!(
                "{url} needs a certificate directory with {CERT_FILE_NAME} and \
                 {KEY_FILE_NAME}; set --cert or certificatePath"
            ),
        };
        if bind.tls {
            return Err(needs_certificate("--bind / bind", bind.to_string()));
        }
        if let Some(admin) = https_admin {
            return Err(needs_certificate(
                "--admin-bind / adminBind",
                admin.to_string(),
            ));
        }
    } else if !bind.tls && https_admin.is_none() {
        notes.push(Note::warn(format!(
            "--cert / certificatePath has no effect because neither the bind address {bind} is \
             wss:// nor the admin bind address is https://"
        )));
    }

    let max_message_size = cli
        .max_message_size_mb
        .or(file.max_message_size_mb)
        .unwrap_or(DEFAULT_MAX_MESSAGE_SIZE_MB)
        .saturating_mul(MIB);
    let limits = Limits {
        max_connections: cli
            .max_connections
            .or(file.max_connections)
            .unwrap_or(DEFAULT_MAX_CONNECTIONS),
        max_connections_per_address: cli
            .max_connections_per_address
            .or(file.max_connections_per_address)
            .unwrap_or(DEFAULT_MAX_CONNECTIONS_PER_ADDRESS),
        max_tx_objects: cli
            .max_tx_objects
            .or(file.max_tx_objects)
            .unwrap_or(DEFAULT_MAX_TX_OBJECTS),
        max_inbound_messages_per_second: cli
            .max_inbound_messages_per_second
            .or(file.max_inbound_messages_per_second)
            .unwrap_or(DEFAULT_MAX_INBOUND_MESSAGES_PER_SECOND),
        max_inbound_bytes_per_second: cli
            .max_inbound_kb_per_second
            .or(file.max_inbound_kb_per_second)
            .unwrap_or(DEFAULT_MAX_INBOUND_KB_PER_SECOND)
            .saturating_mul(KIB),
        handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
    };
    let full_sync_message_split_mb = file
        .full_sync_message_split_mb
        .unwrap_or(DEFAULT_FULL_SYNC_MESSAGE_SPLIT_MB);
    if full_sync_message_split_mb * MIB as f64 > max_message_size as f64 {
        return Err(ConfigError::Invalid {
            what: "fullSyncMessageSplitMb".to_owned(),
            message: format!(
                "{full_sync_message_split_mb} is larger than the maximum message size of {} MiB \
                 (maxMessageSizeMb)",
                max_message_size / MIB
            ),
        });
    }

    let config = Config {
        model_file: cli.model.or(file.model_file).map(|p| cwd.join(p)),
        db_directory: cwd.join(
            cli.db_directory
                .or(file.db_directory)
                .unwrap_or(defaults.db_directory),
        ),
        db_max_size,
        bind,
        admin_bind,
        admin_threads: cli.admin_threads.or(file.admin_threads),
        certificate_path,
        workers: resolve_workers(cli.workers.or(file.workers).unwrap_or(0)),
        log_level,
        unsecured_no_authentication: cli.unsecured_no_authentication
            || file.unsecured_no_authentication,
        auth,
        history_size_max_kb: file.history_size_max_kb,
        history_size_target_kb: file.history_size_target_kb,
        full_sync_message_split_mb,
        max_message_size,
        limits,
        client_schema_validation: file.client_schema_validation,
        sync_filters: file.sync_filters,
        remove_without_object_data: file.remove_without_object_data,
        admin_user: non_empty(cli.admin_user).or(file.admin_user),
        admin_password: non_empty(cli.admin_password)
            .or(file.admin_password)
            .map(Secret::from),
        admin_unsecured_no_authentication: cli.admin_unsecured_no_authentication
            || file.admin_unsecured_no_authentication,
        admin_session_ttl: DEFAULT_ADMIN_SESSION_TTL,
        trial_days: cli.trial_days.or(file.trial_days),
        notes,
        unsupported: Vec::new(),
    };

    // Everything below is parsed and validated, but its feature is not implemented yet.
    let a = &config.auth;
    let cluster_id = non_empty(cli.cluster_id).or(file.cluster_id);
    let mongo_url = non_empty(cli.mongo_url).or(file.mongo_url);
    let mongo_db = non_empty(cli.mongo_db).or(file.mongo_database);
    let async_tx_slot = cli.async_tx_slot.or(file.async_tx_slot);
    let reported = [
        (config.admin_threads.is_some(), unsupported::ADMIN_THREADS),
        (a.google.is_some(), unsupported::AUTH_GOOGLE),
        (
            a.required.iter().any(|r| r == "GOOGLE_AUTH"),
            unsupported::AUTH_REQUIRED_GOOGLE,
        ),
        (!config.sync_filters.is_empty(), unsupported::SYNC_FILTERS),
        (cluster_id.is_some(), unsupported::CLUSTER_ID),
        (
            cli.fixed_leader || file.fixed_leader,
            unsupported::FIXED_LEADER,
        ),
        (
            cli.fixed_follower || file.fixed_follower,
            unsupported::FIXED_FOLLOWER,
        ),
        (mongo_url.is_some(), unsupported::MONGO_URL),
        (mongo_db.is_some(), unsupported::MONGO_DB),
        (
            cli.mongo_initial_import || file.mongo_initial_import,
            unsupported::MONGO_INITIAL_IMPORT,
        ),
        (cli.no_stacks || file.no_stacks, unsupported::NO_STACKS),
        (async_tx_slot.is_some(), unsupported::ASYNC_TX_SLOT),
        (cli.restore_backup.is_some(), unsupported::RESTORE_BACKUP),
        (cli.backup_overwrites_db, unsupported::BACKUP_OVERWRITES_DB),
        (
            config.remove_without_object_data,
            unsupported::REMOVE_WITHOUT_OBJECT_DATA,
        ),
    ];
    unsupported.extend(
        reported
            .into_iter()
            .filter(|(set, _)| *set)
            .map(|(_, name)| name.to_owned()),
    );
    unsupported.extend(file.unsupported);
    Ok(Config {
        unsupported,
        ..config
    })
}

/// Applies the `--auth-*` and `--jwt-*` options over `auth` from the file, then checks JWT.
fn merge_auth(cli: &cli::Cli, mut auth: AuthConfig) -> Result<AuthConfig, ConfigError> {
    if cli.auth_obx_admin {
        auth.obx_admin
            .get_or_insert(ObxAdminAuth { required: false });
    }
    let url = non_empty(cli.jwt_public_key_url.clone());
    let aud = non_empty(cli.jwt_claim_aud.clone());
    let iss = non_empty(cli.jwt_claim_iss.clone());
    if url.is_some() || aud.is_some() || iss.is_some() {
        let jwt = auth.jwt.get_or_insert_with(JwtConfig::default);
        if let Some(url) = url {
            // The command line overrides the file's key source, whichever it was.
            jwt.public_key_url = Some(url);
            jwt.public_key = None;
        }
        if let Some(aud) = aud {
            jwt.claim_aud = vec![aud];
        }
        if let Some(iss) = iss {
            jwt.claim_iss = Some(iss);
        }
    }
    if let Some(jwt) = &auth.jwt {
        let what = || "auth.jwt / --jwt-public-key-url".to_owned();
        match (&jwt.public_key, &jwt.public_key_url) {
            (None, None) => {
                return Err(ConfigError::Invalid {
                    what: what(),
                    message: "JWT validation needs a public key: set --jwt-public-key-url, \
                              auth.jwt.publicKeyUrl or auth.jwt.publicKey"
                        .to_owned(),
                });
            }
            (Some(_), Some(_)) => {
                return Err(ConfigError::Invalid {
                    what: what(),
                    message: "set either auth.jwt.publicKey or a public key URL, not both"
                        .to_owned(),
                });
            }
            (Some(_), None) if jwt.public_key_cache_expiration_seconds.is_some() => {
                return Err(ConfigError::Invalid {
                    what: what(),
                    message: "auth.jwt.publicKeyCacheExpirationSeconds only applies to a public \
                              key URL, not to auth.jwt.publicKey"
                        .to_owned(),
                });
            }
            _ => {}
        }
    }
    if let Some(list) = non_empty(cli.auth_required.clone()) {
        auth.required =
            values::auth_required(&list).map_err(|r| cli_invalid("--auth-required", &list, r))?;
    }
    Ok(auth)
}

/// Checks that `dir` is a directory holding both TLS files.
fn check_certificate_dir(dir: &Path) -> Result<(), ConfigError> {
    let invalid = |message| ConfigError::Invalid {
        what: "--cert / certificatePath".to_owned(),
        message,
    };
    if !dir.is_dir() {
        return Err(invalid(format!(
            "certificate directory {} does not exist or is not a directory",
            dir.display()
        )));
    }
    for name in [CERT_FILE_NAME, KEY_FILE_NAME] {
        if !dir.join(name).is_file() {
            return Err(invalid(format!(
                "certificate directory {} has no {name}; it must contain {CERT_FILE_NAME} and \
                 {KEY_FILE_NAME}",
                dir.display()
            )));
        }
    }
    Ok(())
}

/// Workers `0` means one per hardware thread.
fn resolve_workers(workers: usize) -> usize {
    if workers > 0 {
        return workers;
    }
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// `host:port`, with brackets around an IPv6 host.
fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// An empty string option means "not set".
fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.is_empty())
}

/// An [`ConfigError::InvalidValue`] for a command-line option.
fn cli_invalid(option: &str, value: &str, reason: String) -> ConfigError {
    ConfigError::InvalidValue {
        option: option.to_owned(),
        value: format!("{value:?}"),
        reason,
    }
}

/// The tail of an unknown-key message.
fn did_you_mean(suggestion: Option<&str>) -> String {
    suggestion
        .map(|s| format!("; did you mean \"{s}\"?"))
        .unwrap_or_default()
}

impl Note {
    fn info(message: String) -> Note {
        Note {
            level: NoteLevel::Info,
            message,
        }
    }

    fn warn(message: String) -> Note {
        Note {
            level: NoteLevel::Warn,
            message,
        }
    }
}
