//! The command line: `sync-server [OPTIONS]`, with the ObjectBox Sync Server's option names.
//!
//! Every field is optional so that `merge` can tell "given" from "default" and let the command
//! line override the file. Defaults are therefore written into the help texts; a test checks them
//! against the constants in `config.rs`.

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::OnceLock;

use clap::builder::TypedValueParser as _;
use clap::{ArgAction, CommandFactory, FromArgMatches, Parser};

const DATABASE: &str = "Database";
const NETWORK: &str = "Network";
const AUTH: &str = "Authentication";
const ADMIN: &str = "Admin web server";
const LOGGING: &str = "Logging";
const LIMITS: &str = "Limits";
const NOT_YET: &str = "Not implemented yet (accepted, reported at startup)";

/// Parses the command line; `args` include argv\[0\].
pub(super) fn parse<I, T>(args: I) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let matches = Cli::command()
        .version(version_text())
        .try_get_matches_from(args)?;
    Cli::from_arg_matches(&matches)
}

/// `0.1.0 (protocol version: 1)`; clap prints it after the command name.
pub(super) fn version_text() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| {
        format!(
            "{} (protocol version: {})",
            crate::VERSION,
            shared_types::protocol::PROTOCOL_VERSION
        )
    })
}

/// Self-hosted data sync server for offline-first clients.
///
/// Settings can also come from a JSON file (sync-server-config.json in the working directory, or
/// --conf); options given here override the file.
#[derive(Debug, Parser)]
#[command(
    name = "sync-server",
    bin_name = "sync-server",
    disable_version_flag = true,
    args_override_self = true,
    after_help = "The JSON file takes the same settings in camelCase (e.g. \"dbDirectory\", \
                  \"logLevel\") plus JSON-only ones such as \"auth\", \"syncFilters\" and \
                  \"clientSchemaValidation\". Keys starting with \"_\" are comments."
)]
pub(super) struct Cli {
    /// Configuration file [default: sync-server-config.json, if it exists]
    #[arg(short = 'c', long = "conf", value_name = "FILE")]
    pub conf: Option<PathBuf>,

    /// Print the version and exit
    #[arg(short = 'v', long = "version", action = ArgAction::Version)]
    version: Option<bool>,

    /// Data model JSON file to create or update the database schema from, e.g.
    /// objectbox-model.json
    #[arg(short = 'm', long = "model", value_name = "FILE", help_heading = DATABASE)]
    pub model: Option<PathBuf>,

    /// Database directory, created if missing [default: objectbox]
    #[arg(short = 'd', long = "db-directory", value_name = "DIR", help_heading = DATABASE)]
    pub db_directory: Option<PathBuf>,

    /// Database size limit with unit K, M, G or T (binary, e.g. 256G); a plain number is bytes;
    /// at least 1M [default: 100G]
    #[arg(long = "db-max-size", value_name = "SIZE", help_heading = DATABASE)]
    pub db_max_size: Option<String>,

    /// Sync endpoint, ws://host:port or wss://host:port (wss needs --cert); port 0 picks a free
    /// port [default: ws://0.0.0.0:9999]
    #[arg(short = 'b', long = "bind", value_name = "URL", help_heading = NETWORK)]
    pub bind: Option<String>,

    /// Directory containing cert.pem (chain) and key.pem for wss:// and an https:// admin bind
    #[arg(long = "cert", value_name = "DIR", help_heading = NETWORK)]
    pub cert: Option<PathBuf>,

    /// Worker threads of the main task pool; 0 means one per CPU [default: 0]
    #[arg(long = "workers", value_name = "N", help_heading = NETWORK)]
    pub workers: Option<usize>,

    // Not a doc comment: rustdoc would read "[INSECURE]" as a link.
    #[arg(
        long = "unsecured-no-authentication",
        help_heading = AUTH,
        help = "[INSECURE] Accept every client without checking credentials; for development only"
    )]
    pub unsecured_no_authentication: bool,

    /// Admin web server address, http://host:port or https://host:port (https needs --cert;
    /// plain host:port is http); use 0.0.0.0 inside Docker [default: http://127.0.0.1:9980]
    #[arg(long = "admin-bind", value_name = "URL", help_heading = ADMIN)]
    pub admin_bind: Option<String>,

    /// Do not start the admin web server
    #[arg(long = "admin-off", help_heading = ADMIN)]
    pub admin_off: bool,

    /// Sync connections the server holds at once; more are refused with HTTP 503
    /// [default: 10000]
    #[arg(long = "max-connections", value_name = "N", help_heading = LIMITS,
          value_parser = clap::value_parser!(u32).range(1..).map(|n| n as usize))]
    pub max_connections: Option<usize>,

    /// Sync connections from one IP address, more are refused with HTTP 429; 0 means no limit
    /// (behind a reverse proxy all clients share its address) [default: 0]
    #[arg(long = "max-connections-per-address", value_name = "N", help_heading = LIMITS)]
    pub max_connections_per_address: Option<usize>,

    /// Largest sync message a client may send, in MiB [default: 32]
    #[arg(long = "max-message-size-mb", value_name = "MB", help_heading = LIMITS,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub max_message_size_mb: Option<u64>,

    /// Operations (puts, removes, relation changes) in one client transaction; larger ones are
    /// rejected [default: 1000000]
    #[arg(long = "max-tx-objects", value_name = "N", help_heading = LIMITS,
          value_parser = clap::value_parser!(u32).range(1..).map(|n| n as usize))]
    pub max_tx_objects: Option<usize>,

    /// Messages per second one connection may send; above it the server reads more slowly
    /// (backpressure); 0 means no limit [default: 100000]
    #[arg(long = "max-inbound-messages-per-second", value_name = "N", help_heading = LIMITS)]
    pub max_inbound_messages_per_second: Option<u32>,

    /// KiB per second one connection may send; above it the server reads more slowly
    /// (backpressure); 0 means no limit [default: 65536]
    #[arg(long = "max-inbound-kb-per-second", value_name = "KB", help_heading = LIMITS)]
    pub max_inbound_kb_per_second: Option<u64>,

    /// Log level: all, trace, verbose, debug, info, warn, error or none [default: info]
    #[arg(long = "log-level", value_name = "LEVEL", help_heading = LOGGING)]
    pub log_level: Option<String>,

    /// Deprecated: use --log-level debug
    #[arg(long = "debug", help_heading = LOGGING)]
    pub debug: bool,

    /// Use admin users (with sync permissions) to authenticate clients
    #[arg(long = "auth-obx-admin", help_heading = AUTH)]
    pub auth_obx_admin: bool,

    /// Comma-separated credential types clients must present, e.g. JWT_ID,SHARED_SECRET_SIPPED
    #[arg(long = "auth-required", value_name = "LIST", help_heading = AUTH)]
    pub auth_required: Option<String>,

    /// URL of the public key(s) for JWT validation (JWKS, x509 JSON or PEM)
    #[arg(long = "jwt-public-key-url", value_name = "URL", help_heading = AUTH)]
    pub jwt_public_key_url: Option<String>,

    /// Expected JWT "aud" (audience) claim
    #[arg(long = "jwt-claim-aud", value_name = "AUD", help_heading = AUTH)]
    pub jwt_claim_aud: Option<String>,

    /// Expected JWT "iss" (issuer) claim
    #[arg(long = "jwt-claim-iss", value_name = "ISS", help_heading = AUTH)]
    pub jwt_claim_iss: Option<String>,

    /// Worker threads of the admin web server [default: 4]
    #[arg(long = "admin-threads", value_name = "N", help_heading = NOT_YET,
          value_parser = clap::value_parser!(u32).range(1..).map(|n| n as usize))]
    pub admin_threads: Option<usize>,

    /// Name of the admin user to create on first start
    #[arg(long = "admin-user", value_name = "NAME", help_heading = ADMIN)]
    pub admin_user: Option<String>,

    /// Password of the admin user (prefer the environment variable to keep it out of `ps`)
    #[arg(long = "admin-password", value_name = "PASSWORD", env = "SYNC_SERVER_ADMIN_PASSWORD",
          hide_env_values = true, help_heading = ADMIN)]
    pub admin_password: Option<String>,

    #[arg(
        long = "admin-unsecured-no-authentication",
        help_heading = ADMIN,
        help = "[INSECURE] Open the admin web server without login, e.g. to recover a lost password"
    )]
    pub admin_unsecured_no_authentication: bool,

    /// Trial period in days (0 = unlimited); clients are admitted once an admin accepts the terms
    #[arg(long = "trial-days", value_name = "N", help_heading = ADMIN)]
    pub trial_days: Option<u32>,

    /// Cluster ID, identical on all peers; turns on cluster mode
    #[arg(long = "cluster-id", value_name = "ID", help_heading = NOT_YET)]
    pub cluster_id: Option<String>,

    /// Make this server the only cluster leader (danger: can cause data inconsistencies)
    #[arg(long = "fixed-leader", help_heading = NOT_YET)]
    pub fixed_leader: bool,

    /// Never let this server become the cluster leader
    #[arg(long = "fixed-follower", help_heading = NOT_YET)]
    pub fixed_follower: bool,

    /// MongoDB connection string for the MongoDB connector [default: 127.0.0.1:27017]
    #[arg(long = "mongo-url", value_name = "URL", help_heading = NOT_YET)]
    pub mongo_url: Option<String>,

    /// Name of the primary MongoDB database; do not change it after the first full sync
    /// [default: objectbox_sync]
    #[arg(long = "mongo-db", value_name = "NAME", help_heading = NOT_YET)]
    pub mongo_db: Option<String>,

    /// Start the full import from MongoDB automatically
    #[arg(long = "mongo-initial-import", help_heading = NOT_YET)]
    pub mongo_initial_import: bool,

    /// Do not print stack traces when logging errors
    #[arg(long = "no-stacks", help_heading = NOT_YET)]
    pub no_stacks: bool,

    /// Delay in microseconds that fills a slot when async transactions come too fast (fewer,
    /// larger transactions) [default: 3000]
    #[arg(long = "async-tx-slot", value_name = "MICROS", help_heading = NOT_YET)]
    pub async_tx_slot: Option<u64>,

    /// Restore the database from a backup file, only if no database exists yet
    #[arg(long = "restore-backup", value_name = "FILE", help_heading = NOT_YET)]
    pub restore_backup: Option<PathBuf>,

    /// With --restore-backup: restore even if a database exists (overwrites it permanently)
    #[arg(long = "backup-overwrites-db", requires = "restore_backup", help_heading = NOT_YET)]
    pub backup_overwrites_db: bool,
}
