//! The dataset's identity, the stored schema versions and the small values of `meta`.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::keys::meta_key;
use super::{Error, Read, Result, STORE_FORMAT_VERSION, Store, Write, decode_u64, lmdb, now_ms};

/// One stored schema version. Serialized as JSON inside the `schema-versions` database.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SchemaVersionRecord {
    pub id: u64,
    /// Milliseconds since the Unix epoch.
    pub created_ms: u64,
    /// Who created it: `server-init`, `model-file`, or an admin user name.
    pub author: String,
    /// 32 hex characters.
    pub base_hash: String,
    /// 32 hex characters.
    pub full_hash: String,
    pub entity_count: usize,
    pub property_count: usize,
    pub relation_count: usize,
    pub index_count: usize,
    /// Whether clients on this version may log in.
    pub accept_clients: bool,
    /// The model file exactly as it was given.
    pub model_json: String,
}

/// Identity of a dataset (one database directory): created once, never changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetInfo {
    /// 32 hex characters, random.
    pub id: String,
    /// Milliseconds since the Unix epoch.
    pub created_ms: u64,
}

impl Read<'_> {
    /// The dataset's identity, written on first open.
    pub fn dataset(&self) -> Result<DatasetInfo> {
        let id = self.meta_value(meta_key::DATASET_ID)?.map(hex::encode);
        let created = self.meta_value(meta_key::CREATED_MS)?.map(decode_u64);
        match (id, created) {
            (Some(id), Some(Ok(created_ms))) => Ok(DatasetInfo { id, created_ms }),
            _ => Err(Error::Corrupt {
                what: "meta".into(),
                message: "dataset id or creation time missing".into(),
            }),
        }
    }

    /// The current schema version id, if any schema was stored yet.
    pub fn current_schema_version(&self) -> Result<Option<u64>> {
        self.meta_value(meta_key::CURRENT_SCHEMA)?
            .map(decode_u64)
            .transpose()
    }

    /// All schema versions, oldest first.
    pub fn schema_versions(&self) -> Result<Vec<SchemaVersionRecord>> {
        let iter = self.dbs.schema_versions.iter(self.txn).map_err(lmdb)?;
        iter.map(|entry| entry.map(|(_, v)| v).map_err(lmdb))
            .collect()
    }

    /// One schema version.
    pub fn schema_version(&self, id: u64) -> Result<Option<SchemaVersionRecord>> {
        self.dbs.schema_versions.get(self.txn, &id).map_err(lmdb)
    }

    /// A value of the `meta` database.
    pub fn meta(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.meta_value(key)?.map(<[u8]>::to_vec))
    }

    /// Every `meta` entry whose key starts with `prefix`.
    pub fn meta_with_prefix(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>> {
        let mut out = Vec::new();
        for entry in self.dbs.meta.prefix_iter(self.txn, prefix).map_err(lmdb)? {
            let (key, value) = entry.map_err(lmdb)?;
            out.push((key.to_owned(), value.to_vec()));
        }
        Ok(out)
    }

    /// A u64 value of `meta`; 0 when absent.
    pub(super) fn meta_u64(&self, key: &str) -> Result<u64> {
        self.meta_value(key)?.map_or(Ok(0), decode_u64)
    }

    fn meta_value(&self, key: &str) -> Result<Option<&[u8]>> {
        self.dbs.meta.get(self.txn, key).map_err(lmdb)
    }
}

impl Write<'_, '_> {
    /// Stores a schema version record under its id.
    pub fn put_schema_version(&mut self, record: &SchemaVersionRecord) -> Result<()> {
        self.dbs
            .schema_versions
            .put(self.txn, &record.id, record)
            .map_err(lmdb)
    }

    /// Makes `id` the current schema version.
    pub fn set_current_schema_version(&mut self, id: u64) -> Result<()> {
        self.put_meta(meta_key::CURRENT_SCHEMA, &id.to_be_bytes())
    }

    /// Sets a value of the `meta` database (keys other modules own, e.g. trial acceptance).
    pub fn put_meta(&mut self, key: &str, value: &[u8]) -> Result<()> {
        self.dbs.meta.put(self.txn, key, value).map_err(lmdb)
    }

    /// Removes a value of the `meta` database; returns whether it existed.
    pub fn delete_meta(&mut self, key: &str) -> Result<bool> {
        self.dbs.meta.delete(self.txn, key).map_err(lmdb)
    }

    /// Checks the layout version of an existing database, or writes the identity of a new one.
    pub(super) fn init_meta(&mut self, path: PathBuf) -> Result<()> {
        let stored = self.read().meta_value(meta_key::FORMAT)?.map(decode_u64);
        match stored {
            Some(found) => {
                let found = u32::try_from(found?).unwrap_or(u32::MAX);
                if found > STORE_FORMAT_VERSION {
                    return Err(Error::UnsupportedFormat {
                        path,
                        found,
                        supported: STORE_FORMAT_VERSION,
                    });
                }
            }
            None => {
                let id = uuid::Uuid::new_v4();
                let format = u64::from(STORE_FORMAT_VERSION).to_be_bytes();
                self.put_meta(meta_key::FORMAT, &format)?;
                self.put_meta(meta_key::DATASET_ID, id.as_bytes())?;
                self.put_meta(meta_key::CREATED_MS, &now_ms().to_be_bytes())?;
            }
        }
        Ok(())
    }
}

impl Store {
    /// The dataset's identity, written on first open.
    pub fn dataset(&self) -> Result<DatasetInfo> {
        self.read(|r| r.dataset())
    }

    /// The current schema version id, if any schema was stored yet.
    pub fn current_schema_version(&self) -> Result<Option<u64>> {
        self.read(|r| r.current_schema_version())
    }

    /// All schema versions, oldest first.
    pub fn schema_versions(&self) -> Result<Vec<SchemaVersionRecord>> {
        self.read(|r| r.schema_versions())
    }

    /// One schema version.
    pub fn schema_version(&self, id: u64) -> Result<Option<SchemaVersionRecord>> {
        self.read(|r| r.schema_version(id))
    }

    /// A value of the `meta` database.
    pub fn meta(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.read(|r| r.meta(key))
    }

    /// Every `meta` entry whose key starts with `prefix`.
    pub fn meta_with_prefix(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>> {
        self.read(|r| r.meta_with_prefix(prefix))
    }
}
