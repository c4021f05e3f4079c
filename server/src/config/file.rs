//! The JSON configuration file: parsed to a `serde_json::Value` and walked key by key.
//!
//! Walking by hand, rather than deriving `Deserialize`, lets every message name the key with its
//! path (`auth.jwt.claimAud`), the expected type and the offending value, skip `_` comment keys at
//! every level, and suggest the closest key for a typo.
//!
//! Size: one parser per group of keys of the JSON file, each naming the key path in its errors.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::logging::LogLevel;

use super::{
    AdminBind, AuthConfig, ClientSchemaValidation, ConfigError, GoogleAuth, JwtConfig, Note,
    ObxAdminAuth, SharedSecret, SyncBind, values,
};

/// What the file sets; `None`/`false` means "not in the file".
#[derive(Debug, Default)]
pub(super) struct FileConfig {
    pub db_directory: Option<PathBuf>,
    pub db_max_size: Option<u64>,
    pub model_file: Option<PathBuf>,
    pub bind: Option<SyncBind>,
    pub admin_bind: Option<AdminBind>,
    pub admin_threads: Option<usize>,
    pub certificate_path: Option<PathBuf>,
    pub workers: Option<usize>,
    pub unsecured_no_authentication: bool,
    pub log_level: Option<LogLevel>,
    pub auth: AuthConfig,
    pub sync_filters: BTreeMap<String, String>,
    pub client_schema_validation: ClientSchemaValidation,
    pub history_size_max_kb: Option<u64>,
    pub history_size_target_kb: Option<u64>,
    pub remove_without_object_data: bool,
    pub full_sync_message_split_mb: Option<f64>,
    pub max_message_size_mb: Option<u64>,
    pub max_connections: Option<usize>,
    pub max_connections_per_address: Option<usize>,
    pub max_tx_objects: Option<usize>,
    pub max_inbound_messages_per_second: Option<u32>,
    pub max_inbound_kb_per_second: Option<u64>,
    pub admin_user: Option<String>,
    pub admin_password: Option<String>,
    pub admin_unsecured_no_authentication: bool,
    pub trial_days: Option<u32>,
    // Not implemented yet; kept so the command line and the file can be merged before reporting.
    pub async_tx_slot: Option<u64>,
    pub no_stacks: bool,
    pub cluster_id: Option<String>,
    pub fixed_leader: bool,
    pub fixed_follower: bool,
    pub mongo_url: Option<String>,
    pub mongo_database: Option<String>,
    pub mongo_initial_import: bool,
    /// Keys that exist only in the file, are set and are not implemented yet, e.g. `log.wal`.
    pub unsupported: Vec<String>,
}

/// Parses the file's text. `path` is only used in messages; warnings go to `notes`.
pub(super) fn parse(
    path: &Path,
    text: &str,
    notes: &mut Vec<Note>,
) -> Result<FileConfig, ConfigError> {
    // Repeated keys are refused (except `_` comments): a repeated key silently overriding the
    // first is almost always a mistake in a config file.
    let value = sync_model::strict_json::from_slice(text.as_bytes(), |key| key.starts_with('_'))
        .map_err(|e| ConfigError::Json {
            path: path.to_owned(),
            line: e.line(),
            column: e.column(),
            message: json_reason(&e),
        })?;
    let Value::Object(map) = &value else {
        return Err(ConfigError::Invalid {
            what: format!("configuration file {}", path.display()),
            message: format!("expected a JSON object {{ ... }}, found {}", found(&value)),
        });
    };
    let top = Obj {
        path,
        prefix: String::new(),
        map,
    };
    top.check_keys(TOP_KEYS)?;
    let mut f = FileConfig {
        db_directory: top.path_buf("dbDirectory")?,
        db_max_size: top.db_max_size("dbMaxSize")?,
        model_file: top.path_buf("modelFile")?,
        bind: top.parsed("bind")?,
        admin_bind: top.parsed("adminBind")?,
        admin_threads: top.positive("adminThreads")?,
        certificate_path: top.path_buf("certificatePath")?,
        workers: top.uint("workers")?,
        unsecured_no_authentication: top.flag("unsecuredNoAuthentication")?,
        remove_without_object_data: top.flag("removeWithoutObjectData")?,
        admin_user: top.text("adminUser")?,
        admin_password: top.text("adminPassword")?,
        admin_unsecured_no_authentication: top.flag("adminUnsecuredNoAuthentication")?,
        trial_days: top.uint("trialDays")?,
        async_tx_slot: top.uint("asyncTxSlot")?,
        no_stacks: top.flag("noStacks")?,
        cluster_id: top.text("clusterId")?,
        fixed_leader: top.flag("fixedLeader")?,
        fixed_follower: top.flag("fixedFollower")?,
        ..FileConfig::default()
    };

    f.log_level = match top.text("logLevel")? {
        Some(s) => Some(values::log_level(&s).map_err(|r| top.invalid("logLevel", r))?),
        None => None,
    };
    if let Some(debug) = top.bool("debugLog")? {
        notes.push(Note::warn(format!(
            "debugLog in {} is deprecated, use \"logLevel\": \"debug\"",
            path.display()
        )));
        if debug && f.log_level.is_none() {
            f.log_level = Some(LogLevel::Debug);
        }
    }
    if let Some(log) = top.object("log", LOG_KEYS)? {
        for key in LOG_KEYS {
            if log.flag(key)? {
                f.unsupported.push(log.key(key));
            }
        }
    }

    if let Some(auth) = top.object("auth", AUTH_KEYS)? {
        f.auth = parse_auth(&auth)?;
    }
    if let Some(filters) = top.object("syncFilters", &[])? {
        for (name, value) in filters.entries() {
            let Value::String(expr) = value else {
                return Err(filters.wrong_type(name, "a filter expression string", value));
            };
            f.sync_filters.insert(name.clone(), expr.clone());
        }
    }
    if let Some(csv) = top.object("clientSchemaValidation", SCHEMA_VALIDATION_KEYS)? {
        f.client_schema_validation = parse_schema_validation(&csv)?;
    }
    parse_history(&top, &mut f)?;
    f.full_sync_message_split_mb = top.number("fullSyncMessageSplitMb")?;
    if let Some(mb) = f.full_sync_message_split_mb
        && mb < 1.0
    {
        return Err(top.invalid(
            "fullSyncMessageSplitMb",
            "must be a number of MiB, at least 1".into(),
        ));
    }
    f.max_message_size_mb = top.positive("maxMessageSizeMb")?;
    f.max_connections = top.positive("maxConnections")?;
    f.max_connections_per_address = top.uint("maxConnectionsPerAddress")?;
    f.max_tx_objects = top.positive("maxTxObjects")?;
    f.max_inbound_messages_per_second = top.uint("maxInboundMessagesPerSecond")?;
    f.max_inbound_kb_per_second = top.uint("maxInboundKbPerSecond")?;

    if top.get("serversToConnect").is_some() {
        parse_servers_to_connect(&top)?;
        f.unsupported.push("serversToConnect".to_owned());
    }
    if top.flag("preferredLeader")? {
        f.unsupported.push("preferredLeader".to_owned());
    }
    if top.uint::<u64>("maxReaders")?.is_some() {
        f.unsupported.push("maxReaders".to_owned());
    }
    if let Some(mongo) = top.object("mongoDb", MONGO_KEYS)? {
        f.mongo_url = mongo.text("url")?;
        f.mongo_database = mongo.text("database")?;
        f.mongo_initial_import = mongo.flag("automaticInitialImport")?;
        if mongo.uint::<u64>("maxPropertySizeToMongoDb")?.is_some() {
            f.unsupported.push(mongo.key("maxPropertySizeToMongoDb"));
        }
        for key in &MONGO_KEYS[4..] {
            if mongo.flag(key)? {
                f.unsupported.push(mongo.key(key));
            }
        }
    }
    Ok(f)
}

/// Top-level keys, in the order of the ObjectBox docs.
const TOP_KEYS: &[&str] = &[
    "dbDirectory",
    "dbMaxSize",
    "modelFile",
    "bind",
    "adminBind",
    "adminThreads",
    "certificatePath",
    "workers",
    "asyncTxSlot",
    "maxReaders",
    "unsecuredNoAuthentication",
    "logLevel",
    "debugLog",
    "noStacks",
    "log",
    "auth",
    "syncFilters",
    "clientSchemaValidation",
    "historySizeMaxKb",
    "historySizeTargetKb",
    "removeWithoutObjectData",
    "fullSyncMessageSplitMb",
    "clusterId",
    "serversToConnect",
    "fixedFollower",
    "fixedLeader",
    "preferredLeader",
    "mongoDb",
    "adminUser",
    "adminPassword",
    "adminUnsecuredNoAuthentication",
    "trialDays",
    "maxMessageSizeMb",
    "maxConnections",
    "maxConnectionsPerAddress",
    "maxTxObjects",
    "maxInboundMessagesPerSecond",
    "maxInboundKbPerSecond",
];

/// Per-component debug log switches under `log`.
const LOG_KEYS: &[&str] = &[
    "transactionRead",
    "transactionWrite",
    "queries",
    "queryParameters",
    "asyncQueue",
    "cacheHits",
    "cacheAll",
    "tree",
    "exceptionStackTrace",
    "threadingSelfTest",
    "wal",
    "idMapping",
    "syncFilterVariables",
];

const AUTH_KEYS: &[&str] = &["sharedSecret", "google", "obxAdmin", "jwt"];
const SHARED_SECRET_KEYS: &[&str] = &["value", "required"];
const GOOGLE_KEYS: &[&str] = &["clientIds", "required"];
const OBX_ADMIN_KEYS: &[&str] = &["required"];
const JWT_KEYS: &[&str] = &[
    "publicKey",
    "publicKeyUrl",
    "claimAud",
    "claimIss",
    "publicKeyCacheExpirationSeconds",
    "required",
    "requiredAccess",
    "requiredRefresh",
    "requiredCustom",
];
const SCHEMA_VALIDATION_KEYS: &[&str] = &["strict", "defaultHash"];
const SERVER_TO_CONNECT_KEYS: &[&str] = &["url", "credentialsType", "credentials"];
/// `mongoDb` keys: the first four have other types, the rest are booleans.
const MONGO_KEYS: &[&str] = &[
    "url",
    "database",
    "automaticInitialImport",
    "maxPropertySizeToMongoDb",
    "skipOversizedDocumentsToMongoDb",
    "strictConversionsFromMongoDb",
    "strictConversionsToMongoDb",
    "emptyListForAbsentValuesFromMongoDb",
    "omitNullValuesToMongoDb",
];

fn parse_auth(auth: &Obj<'_>) -> Result<AuthConfig, ConfigError> {
    let mut out = AuthConfig::default();
    if let Some(value) = auth.get("sharedSecret") {
        const EXPECTED: &str = r#"a string or an object {"value": "...", "required": true}"#;
        let (secret, required) = match value {
            Value::String(s) => (s.clone(), false),
            Value::Object(_) => {
                let obj = auth
                    .object("sharedSecret", SHARED_SECRET_KEYS)?
                    .ok_or_else(|| auth.wrong_type("sharedSecret", EXPECTED, value))?;
                let secret = obj
                    .string("value")?
                    .ok_or_else(|| obj.missing("value", "the secret"))?;
                (secret, obj.flag("required")?)
            }
            other => return Err(auth.wrong_type("sharedSecret", EXPECTED, other)),
        };
        if secret.is_empty() {
            return Err(auth.invalid("sharedSecret", "the secret must not be empty".into()));
        }
        out.shared_secret = Some(SharedSecret {
            value: secret.into(),
            required,
        });
    }
    if let Some(google) = auth.object("google", GOOGLE_KEYS)? {
        let client_ids = google.strings("clientIds")?.unwrap_or_default();
        if client_ids.is_empty() || client_ids.iter().any(String::is_empty) {
            return Err(google.missing("clientIds", "a list of one or more non-empty client IDs"));
        }
        out.google = Some(GoogleAuth {
            client_ids,
            required: google.flag("required")?,
        });
    }
    match auth.get("obxAdmin") {
        None | Some(Value::Bool(false)) => {}
        Some(Value::Bool(true)) => out.obx_admin = Some(ObxAdminAuth { required: false }),
        Some(Value::Object(_)) => {
            if let Some(obx) = auth.object("obxAdmin", OBX_ADMIN_KEYS)? {
                out.obx_admin = Some(ObxAdminAuth {
                    required: obx.flag("required")?,
                });
            }
        }
        Some(other) => {
            return Err(auth.wrong_type(
                "obxAdmin",
                r#"true, false or an object {"required": true}"#,
                other,
            ));
        }
    }
    if let Some(jwt) = auth.object("jwt", JWT_KEYS)? {
        let claim_aud = match jwt.get("claimAud") {
            None => Vec::new(),
            Some(Value::String(s)) if s.is_empty() => Vec::new(),
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(_)) => jwt.strings("claimAud")?.unwrap_or_default(),
            Some(other) => {
                return Err(jwt.wrong_type("claimAud", "a string or an array of strings", other));
            }
        };
        out.jwt = Some(JwtConfig {
            public_key: jwt.text("publicKey")?,
            public_key_url: jwt.text("publicKeyUrl")?,
            claim_aud,
            claim_iss: jwt.text("claimIss")?,
            public_key_cache_expiration_seconds: jwt.uint("publicKeyCacheExpirationSeconds")?,
            required: jwt.flag("required")?,
            required_access: jwt.flag("requiredAccess")?,
            required_refresh: jwt.flag("requiredRefresh")?,
            required_custom: jwt.flag("requiredCustom")?,
        });
    }
    Ok(out)
}

fn parse_schema_validation(obj: &Obj<'_>) -> Result<ClientSchemaValidation, ConfigError> {
    let strict = obj.flag("strict")?;
    let default_hash = match obj.text("defaultHash")? {
        Some(hash) if hash.len() == 32 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Some(hash.to_ascii_lowercase())
        }
        Some(_) => {
            return Err(obj.invalid(
                "defaultHash",
                "expected a schema hash of 32 hexadecimal characters without 0x".into(),
            ));
        }
        None => None,
    };
    if strict && default_hash.is_some() {
        return Err(ConfigError::Invalid {
            what: format!(
                "{} in {}",
                obj.prefix.trim_end_matches('.'),
                obj.path.display()
            ),
            message: "strict cannot be combined with defaultHash: unknown clients are either \
                      rejected (strict) or treated as the default schema"
                .to_owned(),
        });
    }
    Ok(ClientSchemaValidation {
        strict,
        default_hash,
    })
}

/// `historySizeMaxKb` and `historySizeTargetKb`; `0` means "not set" for both.
fn parse_history(top: &Obj<'_>, f: &mut FileConfig) -> Result<(), ConfigError> {
    f.history_size_max_kb = top.uint("historySizeMaxKb")?.filter(|kb| *kb > 0);
    f.history_size_target_kb = top.uint("historySizeTargetKb")?.filter(|kb| *kb > 0);
    match (f.history_size_max_kb, f.history_size_target_kb) {
        (Some(max), Some(target)) if target >= max => Err(top.invalid(
            "historySizeTargetKb",
            format!("must be less than historySizeMaxKb ({max})"),
        )),
        (None, Some(_)) => Err(top.invalid(
            "historySizeTargetKb",
            "needs historySizeMaxKb: the target is what the history is cut down to once it \
             reaches the maximum"
                .into(),
        )),
        _ => Ok(()),
    }
}

/// Checks the shape of `serversToConnect`: an array of `{url, credentialsType, credentials}`.
fn parse_servers_to_connect(top: &Obj<'_>) -> Result<(), ConfigError> {
    let Some(Value::Array(items)) = top.get("serversToConnect") else {
        let value = top.get("serversToConnect").unwrap_or(&Value::Null);
        return Err(top.wrong_type("serversToConnect", "an array of objects", value));
    };
    for (i, item) in items.iter().enumerate() {
        let Value::Object(map) = item else {
            return Err(top.wrong_type(&format!("serversToConnect[{i}]"), "an object", item));
        };
        let server = Obj {
            path: top.path,
            prefix: format!("{}serversToConnect[{i}].", top.prefix),
            map,
        };
        server.check_keys(SERVER_TO_CONNECT_KEYS)?;
        server
            .text("url")?
            .ok_or_else(|| server.missing("url", "the peer's ws:// or wss:// URL"))?;
        server.text("credentialsType")?;
        server.text("credentials")?;
    }
    Ok(())
}

/// One JSON object of the file, with the key path that leads to it for messages.
struct Obj<'a> {
    path: &'a Path,
    /// `""` at the top level, else the path with a trailing dot, e.g. `"auth.jwt."`.
    prefix: String,
    map: &'a Map<String, Value>,
}

impl<'a> Obj<'a> {
    /// Fails on the first key that is neither known nor a `_` comment.
    fn check_keys(&self, known: &[&str]) -> Result<(), ConfigError> {
        for key in self.map.keys() {
            if !key.starts_with('_') && !known.contains(&key.as_str()) {
                return Err(ConfigError::UnknownKey {
                    path: self.path.to_owned(),
                    key: self.key(key),
                    suggestion: closest(key, known).map(|k| self.key(k)),
                });
            }
        }
        Ok(())
    }

    /// The non-comment entries, in file order.
    fn entries(&self) -> impl Iterator<Item = (&'a String, &'a Value)> {
        self.map.iter().filter(|(k, _)| !k.starts_with('_'))
    }

    /// The key with its path, e.g. `auth.jwt.claimAud`.
    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key)
    }

    fn bool(&self, key: &str) -> Result<Option<bool>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(v) => Err(self.wrong_type(key, "true or false", v)),
        }
    }

    /// A boolean that defaults to false.
    fn flag(&self, key: &str) -> Result<bool, ConfigError> {
        Ok(self.bool(key)?.unwrap_or(false))
    }

    fn string(&self, key: &str) -> Result<Option<String>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(v) => Err(self.wrong_type(key, "a string", v)),
        }
    }

    /// A string where empty means "not set".
    fn text(&self, key: &str) -> Result<Option<String>, ConfigError> {
        Ok(self.string(key)?.filter(|s| !s.is_empty()))
    }

    /// A non-empty path.
    fn path_buf(&self, key: &str) -> Result<Option<PathBuf>, ConfigError> {
        match self.string(key)? {
            Some(s) if s.is_empty() => Err(self.invalid(key, "the path must not be empty".into())),
            s => Ok(s.map(PathBuf::from)),
        }
    }

    /// A string parsed with `FromStr`, whose error is the reason; empty means "not set".
    fn parsed<T: std::str::FromStr<Err = String>>(
        &self,
        key: &str,
    ) -> Result<Option<T>, ConfigError> {
        match self.text(key)? {
            Some(s) => s.parse().map(Some).map_err(|r| self.invalid(key, r)),
            None => Ok(None),
        }
    }

    /// A non-negative integer that fits `T`.
    fn uint<T: TryFrom<u64>>(&self, key: &str) -> Result<Option<T>, ConfigError> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        let n = v
            .as_u64()
            .ok_or_else(|| self.wrong_type(key, "a non-negative integer", v))?;
        T::try_from(n)
            .map(Some)
            .map_err(|_| self.invalid(key, "the number is too large".into()))
    }

    /// An integer of at least 1.
    fn positive<T: TryFrom<u64>>(&self, key: &str) -> Result<Option<T>, ConfigError> {
        if self.get(key).and_then(Value::as_u64) == Some(0) {
            return Err(self.invalid(key, "must be at least 1".into()));
        }
        self.uint(key)
    }

    fn number(&self, key: &str) -> Result<Option<f64>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_f64()
                .map(Some)
                .ok_or_else(|| self.wrong_type(key, "a number", v)),
        }
    }

    /// `dbMaxSize`: a size string like `"100G"`, or a number of bytes.
    fn db_max_size(&self, key: &str) -> Result<Option<u64>, ConfigError> {
        let bytes = match self.get(key) {
            None => return Ok(None),
            Some(Value::String(s)) if s.is_empty() => return Ok(None),
            Some(Value::String(s)) => values::db_max_size(s),
            Some(v @ Value::Number(_)) => match v.as_u64() {
                Some(n) => values::check_db_max_size(n),
                None => Err("expected a whole number of bytes or a string like \"100G\"".into()),
            },
            Some(v) => {
                return Err(self.wrong_type(
                    key,
                    r#"a size string like "100G" or a number of bytes"#,
                    v,
                ));
            }
        };
        bytes.map(Some).map_err(|r| self.invalid(key, r))
    }

    /// An array of strings.
    fn strings(&self, key: &str) -> Result<Option<Vec<String>>, ConfigError> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        let Value::Array(items) = v else {
            return Err(self.wrong_type(key, "an array of strings", v));
        };
        items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::String(s) => Ok(s.clone()),
                other => Err(self.wrong_type(&format!("{key}[{i}]"), "a string", other)),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    /// A nested object whose keys are checked against `known`; an empty `known` allows any key.
    fn object(&self, key: &str, known: &[&str]) -> Result<Option<Obj<'a>>, ConfigError> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        let Value::Object(map) = v else {
            return Err(self.wrong_type(key, "an object { ... }", v));
        };
        let obj = Obj {
            path: self.path,
            prefix: format!("{}{key}.", self.prefix),
            map,
        };
        if !known.is_empty() {
            obj.check_keys(known)?;
        }
        Ok(Some(obj))
    }

    fn wrong_type(&self, key: &str, expected: &'static str, value: &Value) -> ConfigError {
        ConfigError::WrongType {
            path: self.path.to_owned(),
            key: self.key(key),
            expected,
            found: found(value),
        }
    }

    /// An [`ConfigError::InvalidValue`] for `key`, quoting the value from the file.
    fn invalid(&self, key: &str, reason: String) -> ConfigError {
        ConfigError::InvalidValue {
            option: format!("{} in {}", self.key(key), self.path.display()),
            value: self.get(key).map_or_else(|| "(missing)".to_owned(), found),
            reason,
        }
    }

    fn missing(&self, key: &str, what: &str) -> ConfigError {
        ConfigError::Invalid {
            what: format!(
                "{} in {}",
                self.prefix.trim_end_matches('.'),
                self.path.display()
            ),
            message: format!("\"{key}\" must be set to {what}"),
        }
    }
}

/// The known key closest to a misspelt one, if any is close enough.
fn closest<'k>(key: &str, known: &[&'k str]) -> Option<&'k str> {
    let key = key.to_ascii_lowercase();
    known
        .iter()
        .map(|k| (strsim::jaro_winkler(&key, &k.to_ascii_lowercase()), *k))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k)
}

/// A value for an error message: JSON, shortened if long.
fn found(value: &Value) -> String {
    const MAX_CHARS: usize = 60;
    let text = value.to_string();
    if text.chars().count() <= MAX_CHARS {
        return text;
    }
    let short: String = text.chars().take(MAX_CHARS).collect();
    format!("{short}...")
}

/// The reason part of a JSON error, without serde's "at line L column C" suffix.
fn json_reason(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    text.strip_suffix(&suffix).unwrap_or(&text).to_owned()
}
