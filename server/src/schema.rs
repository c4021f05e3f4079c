//! Schema versions: turns the model file given at start-up into the stored, current schema version.
//!
//! The first start stores the model as version 1 (author `server-init`). A later start with a
//! different model checks that it is a legal evolution of the current version, stores it as the
//! next version and switches to it, in one write transaction; a start with the same model (equal
//! full hash) changes nothing. Data of entities that the new model retires is removed in the same
//! transaction; everything else is kept, because objects are keyed by entity UID and their values
//! by property ID, which a legal evolution never reassigns.

use std::path::{Path, PathBuf};

use crate::model::{EvolutionError, Model, ModelError};
use crate::store::{self, SchemaVersionRecord, Store};

/// Author recorded for the version created on first start.
pub const AUTHOR_SERVER_INIT: &str = "server-init";

/// Author recorded for versions created by restarting with a changed model file.
pub const AUTHOR_MODEL_FILE: &str = "model-file";

/// The schema version the server runs on, with its parsed model.
#[derive(Debug, Clone)]
pub struct Schema {
    pub record: SchemaVersionRecord,
    pub model: Model,
}

/// Why the schema could not be set up. Each message says what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error(
        "no data model: the database in {db_dir} has no schema yet and no model file was given; \
         start with --model objectbox-model.json (config key modelFile)"
    )]
    NoModel { db_dir: PathBuf },
    #[error("cannot read model file {path}: {source}")]
    ReadModel {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid model file {path}: {source}")]
    InvalidModel { path: PathBuf, source: ModelError },
    #[error(
        "model file {path} is not a legal update of the current schema version {current}: {source}; \
         the server keeps running only on a model that evolves the stored one"
    )]
    IllegalEvolution {
        path: PathBuf,
        current: u64,
        source: EvolutionError,
    },
    #[error("stored schema version {id} cannot be read: {message}")]
    StoredVersion { id: u64, message: String },
    #[error(transparent)]
    Store(#[from] store::Error),
}

/// Loads the current schema version, creating or updating it from `model_file` if given.
pub fn init(store: &Store, model_file: Option<&Path>) -> Result<Schema, Error> {
    let current = match store.current_schema_version()? {
        Some(id) => Some(load_version(store, id)?),
        None => None,
    };
    let Some(path) = model_file else {
        return current.ok_or_else(|| Error::NoModel {
            db_dir: store.path().to_owned(),
        });
    };

    if current.is_none() {
        tracing::info!(target: "SySvAp", "Database has no schema, loading from {}", path.display());
    }
    let bytes = std::fs::read(path).map_err(|source| Error::ReadModel {
        path: path.to_owned(),
        source,
    })?;
    tracing::info!(target: "SySvAp", "Model file {} loaded, it has {} bytes", path.display(), bytes.len());
    let loaded = Model::from_json(&bytes).map_err(|source| Error::InvalidModel {
        path: path.to_owned(),
        source,
    })?;
    for warning in &loaded.warnings {
        tracing::warn!(target: "SySvAp", "Model file {}: {warning}", path.display());
    }
    let model = loaded.model;
    let model_json = String::from_utf8(bytes).map_err(|e| Error::InvalidModel {
        path: path.to_owned(),
        source: ModelError::new("", format!("model file is not UTF-8: {e}")),
    })?;

    let (id, author, retired) = match &current {
        None => (1, AUTHOR_SERVER_INIT, Vec::new()),
        Some(current) => {
            if current.record.full_hash == model.full_hash().to_string() {
                tracing::debug!(target: "SchVer", "Model file matches schema version ID {}", current.record.id);
                return Ok(current.clone());
            }
            current
                .model
                .check_evolution(&model)
                .map_err(|source| Error::IllegalEvolution {
                    path: path.to_owned(),
                    current: current.record.id,
                    source,
                })?;
            let last_id = store
                .schema_versions()?
                .last()
                .map_or(current.record.id, |v| v.id);
            let retired: Vec<(u64, String)> = current
                .model
                .entities
                .iter()
                .filter(|e| model.entity_by_uid(e.id.uid).is_none())
                .map(|e| (e.id.uid, e.name.clone()))
                .collect();
            (last_id + 1, AUTHOR_MODEL_FILE, retired)
        }
    };

    let record = new_record(id, author, &model, model_json);
    let stored = record.clone();
    let removed = store.write_blocking(move |w| {
        w.put_schema_version(&stored)?;
        w.set_current_schema_version(stored.id)?;
        let mut removed = Vec::new();
        for (uid, name) in retired {
            removed.push((name, w.remove_entity_objects(uid)?));
        }
        Ok(removed)
    })?;
    tracing::info!(target: "SchVer", "Inserted new schema version ID {id}");
    tracing::info!(target: "SySvAp", "Switching schema version ID to {id}");
    for (name, count) in removed {
        tracing::info!(target: "SchVer", "Entity {name} was removed from the model; deleted its {count} objects");
    }
    Ok(Schema { record, model })
}

/// Loads one stored version and parses its model.
pub fn load_version(store: &Store, id: u64) -> Result<Schema, Error> {
    let record = store
        .schema_version(id)?
        .ok_or_else(|| Error::StoredVersion {
            id,
            message: "it is missing from the database".into(),
        })?;
    let loaded =
        Model::from_json(record.model_json.as_bytes()).map_err(|e| Error::StoredVersion {
            id,
            message: e.to_string(),
        })?;
    Ok(Schema {
        record,
        model: loaded.model,
    })
}

fn new_record(id: u64, author: &str, model: &Model, model_json: String) -> SchemaVersionRecord {
    let counts = model.counts();
    SchemaVersionRecord {
        id,
        created_ms: store::now_ms(),
        author: author.to_owned(),
        base_hash: model.base_hash().to_string(),
        full_hash: model.full_hash().to_string(),
        entity_count: counts.entities,
        property_count: counts.properties,
        relation_count: counts.relations,
        index_count: counts.indexes,
        accept_clients: true,
        model_json,
    }
}

/// Author recorded for versions uploaded through the admin API without a logged-in user.
pub const AUTHOR_ADMIN_API: &str = "admin-api";

/// Prefix of the `meta` keys counting logins per client schema: `client-schema:{full}:{base}`
/// → login count and last login in ms (2 × u64 BE).
pub const CLIENT_SCHEMA_KEY_PREFIX: &str = "client-schema:";

/// Why an admin change of the schema versions was refused. Messages name the offending value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UpdateError {
    #[error("invalid model: {0}")]
    InvalidModel(ModelError),
    #[error("the model is not a legal update of the current schema version {current}: {source}")]
    IllegalEvolution {
        current: u64,
        source: EvolutionError,
    },
    #[error("the model equals schema version {0}")]
    SameModel(u64),
    #[error("no schema version {0}")]
    NoSuchVersion(u64),
    #[error(transparent)]
    Schema(#[from] Error),
    #[error(transparent)]
    Store(#[from] store::Error),
}

/// Stores an uploaded model as the next schema version, validated exactly as a model file at
/// start-up: it must parse and be a legal evolution of the stored current version. The current
/// version does not change; see [`switch_current`].
pub fn add_version(
    store: &Store,
    json: &[u8],
    author: &str,
    accept_clients: bool,
) -> Result<SchemaVersionRecord, UpdateError> {
    let loaded = Model::from_json(json).map_err(UpdateError::InvalidModel)?;
    for warning in &loaded.warnings {
        tracing::warn!(target: "SchVer", "Uploaded model: {warning}");
    }
    let model_json = String::from_utf8(json.to_vec()).map_err(|e| {
        UpdateError::InvalidModel(ModelError::new("", format!("model is not UTF-8: {e}")))
    })?;
    let model = loaded.model;
    let versions = store.schema_versions()?;
    if let Some(same) = versions
        .iter()
        .find(|v| v.full_hash == model.full_hash().to_string())
    {
        return Err(UpdateError::SameModel(same.id));
    }
    let current_id = store
        .current_schema_version()?
        .ok_or(UpdateError::NoSuchVersion(0))?;
    let current = load_version(store, current_id)?;
    current
        .model
        .check_evolution(&model)
        .map_err(|source| UpdateError::IllegalEvolution {
            current: current_id,
            source,
        })?;
    let id = versions.last().map_or(current_id, |v| v.id) + 1;
    let mut record = new_record(id, author, &model, model_json);
    record.accept_clients = accept_clients;
    let stored = record.clone();
    store.write_blocking(move |w| w.put_schema_version(&stored))?;
    tracing::info!(target: "SchVer", "Inserted new schema version ID {id} (by {author})");
    Ok(record)
}

/// Allows or refuses clients on one stored version (the only change a stored version takes).
pub fn set_accept_clients(
    store: &Store,
    id: u64,
    accept: bool,
) -> Result<SchemaVersionRecord, UpdateError> {
    let mut record = store
        .schema_version(id)?
        .ok_or(UpdateError::NoSuchVersion(id))?;
    record.accept_clients = accept;
    let stored = record.clone();
    store.write_blocking(move |w| w.put_schema_version(&stored))?;
    tracing::info!(target: "SchVer", "Schema version ID {id} accepts clients: {accept}");
    Ok(record)
}

/// Makes a stored version the current one, if it is a legal evolution of the current one, and
/// removes the objects of entities it retires, in one write. The server keeps running on the
/// model it started with; the new current version applies from its next start.
pub fn switch_current(store: &Store, id: u64) -> Result<SchemaVersionRecord, UpdateError> {
    let target = load_version(store, id).map_err(|e| match e {
        Error::StoredVersion { .. } if store.schema_version(id).ok().flatten().is_none() => {
            UpdateError::NoSuchVersion(id)
        }
        other => UpdateError::Schema(other),
    })?;
    let current_id = store
        .current_schema_version()?
        .ok_or(UpdateError::NoSuchVersion(0))?;
    if current_id == id {
        return Ok(target.record);
    }
    let current = load_version(store, current_id)?;
    current
        .model
        .check_evolution(&target.model)
        .map_err(|source| UpdateError::IllegalEvolution {
            current: current_id,
            source,
        })?;
    let retired: Vec<u64> = current
        .model
        .entities
        .iter()
        .filter(|e| target.model.entity_by_uid(e.id.uid).is_none())
        .map(|e| e.id.uid)
        .collect();
    store.write_blocking(move |w| {
        w.set_current_schema_version(id)?;
        for uid in retired {
            w.remove_entity_objects(uid)?;
        }
        Ok(())
    })?;
    tracing::info!(target: "SySvAp", "Switching schema version ID to {id}; it takes effect at the next start of the server");
    Ok(target.record)
}

/// Counts a client login with these schema hashes. Queues the write and returns at once (one
/// small request that the writer folds into its next commit), so logins never wait for it.
pub fn record_client_login(store: &Store, full_hash: &str, base_hash: &str) {
    let key = format!("{CLIENT_SCHEMA_KEY_PREFIX}{full_hash}:{base_hash}");
    let now = store::now_ms();
    let submitted = store.submit_with(
        move |w| {
            let count = w
                .read()
                .meta(&key)?
                .and_then(|v| v.get(..8).and_then(|b| b.try_into().ok()))
                .map_or(0, u64::from_be_bytes);
            let mut value = [0; 16];
            value[..8].copy_from_slice(&(count + 1).to_be_bytes());
            value[8..].copy_from_slice(&now.to_be_bytes());
            w.put_meta(&key, &value)
        },
        |result: store::Result<()>| {
            if let Err(e) = result {
                tracing::warn!(target: "SchVer", "cannot count client schema login: {e}");
            }
        },
    );
    if let Err(e) = submitted {
        tracing::warn!(target: "SchVer", "cannot count client schema login: {e}");
    }
}

/// Client schemas seen at login: (full hash, base hash, login count, last login ms).
pub fn client_schemas(store: &Store) -> store::Result<Vec<(String, String, u64, u64)>> {
    let mut out = Vec::new();
    for (key, value) in store.meta_with_prefix(CLIENT_SCHEMA_KEY_PREFIX)? {
        let rest = &key[CLIENT_SCHEMA_KEY_PREFIX.len()..];
        let (full, base) = rest.split_once(':').unwrap_or((rest, ""));
        let part = |i: usize| {
            value
                .get(i..i + 8)
                .and_then(|b| b.try_into().ok())
                .map_or(0, u64::from_be_bytes)
        };
        out.push((full.to_owned(), base.to_owned(), part(0), part(8)));
    }
    Ok(out)
}
