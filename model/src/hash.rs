//! Schema hashes: SHA-256 over a canonical byte encoding of a model, truncated to 16 bytes.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

use super::{Entity, HnswParams, IdUid, Model, Property, Relation};

/// A 16-byte schema hash, written as 32 lowercase hex characters.
///
/// Both hashes are SHA-256 over the canonical encoding below, truncated to the first 16 bytes.
/// The encoding depends only on the parsed model, so key order, whitespace, `""` versus `"0:0"`
/// and element order in the file do not change it.
///
/// Primitives: integers are fixed-width little-endian; a string is its UTF-8 length as `u32`
/// followed by its bytes; an ID:UID is `u32` ID then `u64` UID, with an absent one written as
/// `0:0`; an optional value is byte 0, or byte 1 followed by the value; a list is its length as
/// `u32` followed by its items. Entities, properties and relations are sorted by ID, retired UID
/// lists ascending.
///
/// Base hash (the data layout; versions with equal base hashes are "data equal"):
///
/// ```text
/// str "sync-server base v1"
/// list of entities:   u64 uid, str name,
///   list of properties: u64 uid, str name, u32 type code (0 when untyped)
/// ```
///
/// Full hash (everything that matters to the schema):
///
/// ```text
/// str "sync-server full v1"
/// id lastEntityId, id lastIndexId, id lastRelationId
/// list retiredEntityUids, list retiredIndexUids, list retiredPropertyUids, list retiredRelationUids
/// list of entities: id, str name, u32 flags, opt str externalName, id lastPropertyId,
///   list of properties: id, str name, u32 type code, u32 flags, id indexId,
///     relation target (byte 0 none | byte 1, u64 target entity UID | byte 2, str unresolved name),
///     opt u32 externalType, opt str externalName,
///     opt hnsw (opt u32 dimensions, opt u32 distance code, opt u32 neighborsPerNode,
///               opt u32 indexingSearchCount, opt u64 probability f64 bits,
///               opt u64 vectorCacheHintSizeKb, opt u32 flags)
///   list of relations: id, str name, id target, opt str externalName, opt u32 externalType
/// ```
///
/// Left out on purpose: `modelVersion` and `modelVersionParserMinimum` (file format, not schema),
/// `version` (unused by ObjectBox), `lastSequenceId` (unused) and `newUidPool` (a generator's
/// scratch list of reserved UIDs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SchemaHash(pub [u8; 16]);

/// Why a string is not a [`SchemaHash`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseSchemaHashError {
    /// The string starts with `0x`.
    #[error("schema hash \"{0}\" must not start with 0x; expected 32 hex characters")]
    HexPrefix(String),
    /// The string does not have 32 characters.
    #[error("schema hash \"{value}\" has {len} characters; expected 32 hex characters")]
    Length {
        /// The rejected text.
        value: String,
        /// Its length in characters.
        len: usize,
    },
    /// The string contains a character that is not a hex digit.
    #[error("schema hash \"{value}\" contains {found:?}, which is not a hex digit")]
    NotHex {
        /// The rejected text.
        value: String,
        /// The first offending character.
        found: char,
    },
}

impl fmt::Display for SchemaHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl FromStr for SchemaHash {
    type Err = ParseSchemaHashError;

    /// Parses 32 hex characters; upper case is accepted, a `0x` prefix is not.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.starts_with("0x") || text.starts_with("0X") {
            return Err(ParseSchemaHashError::HexPrefix(text.to_owned()));
        }
        if let Some(found) = text.chars().find(|c| !c.is_ascii_hexdigit()) {
            return Err(ParseSchemaHashError::NotHex {
                value: text.to_owned(),
                found,
            });
        }
        let mut bytes = [0; 16];
        hex::decode_to_slice(text, &mut bytes).map_err(|_| ParseSchemaHashError::Length {
            value: text.to_owned(),
            len: text.chars().count(),
        })?;
        Ok(Self(bytes))
    }
}

/// Computes the base hash, see [`SchemaHash`].
pub(super) fn base_hash(model: &Model) -> SchemaHash {
    let mut w = Writer::new("sync-server base v1");
    let entities = sorted(&model.entities, |e| e.id.id);
    w.len(entities.len());
    for entity in entities {
        w.u64(entity.id.uid);
        w.str(&entity.name);
        let properties = sorted(&entity.properties, |p| p.id.id);
        w.len(properties.len());
        for property in properties {
            w.u64(property.id.uid);
            w.str(&property.name);
            w.u32(property.ty.map_or(0, super::PropertyType::code));
        }
    }
    w.finish()
}

/// Computes the full hash, see [`SchemaHash`].
pub(super) fn full_hash(model: &Model) -> SchemaHash {
    let mut w = Writer::new("sync-server full v1");
    w.id(model.last_entity_id);
    w.id(model.last_index_id);
    w.id(model.last_relation_id);
    for list in [
        &model.retired_entity_uids,
        &model.retired_index_uids,
        &model.retired_property_uids,
        &model.retired_relation_uids,
    ] {
        let mut list = list.clone();
        list.sort_unstable();
        w.len(list.len());
        for uid in list {
            w.u64(uid);
        }
    }
    let entities = sorted(&model.entities, |e| e.id.id);
    w.len(entities.len());
    for entity in entities {
        full_entity(&mut w, model, entity);
    }
    w.finish()
}

fn full_entity(w: &mut Writer, model: &Model, entity: &Entity) {
    w.id(Some(entity.id));
    w.str(&entity.name);
    w.u32(entity.flags);
    w.opt_str(entity.external_name.as_deref());
    w.id(entity.last_property_id);
    let properties = sorted(&entity.properties, |p| p.id.id);
    w.len(properties.len());
    for property in properties {
        full_property(w, model, property);
    }
    let relations = sorted(&entity.relations, |r| r.id.id);
    w.len(relations.len());
    for relation in relations {
        full_relation(w, relation);
    }
}

fn full_property(w: &mut Writer, model: &Model, property: &Property) {
    w.id(Some(property.id));
    w.str(&property.name);
    w.u32(property.ty.map_or(0, super::PropertyType::code));
    w.u32(property.flags);
    w.id(property.index_id);
    // The target is hashed by UID, so spelling the name in another case changes nothing.
    match &property.relation_target {
        None => w.u8(0),
        Some(name) => match model.entity_by_name(name) {
            Some(target) => {
                w.u8(1);
                w.u64(target.id.uid);
            }
            None => {
                w.u8(2);
                w.str(name);
            }
        },
    }
    w.opt_u32(property.external_type);
    w.opt_str(property.external_name.as_deref());
    match &property.hnsw {
        None => w.u8(0),
        Some(hnsw) => {
            w.u8(1);
            full_hnsw(w, hnsw);
        }
    }
}

fn full_hnsw(w: &mut Writer, hnsw: &HnswParams) {
    w.opt_u32(hnsw.dimensions);
    w.opt_u32(hnsw.distance_type.map(super::DistanceType::code));
    w.opt_u32(hnsw.neighbors_per_node);
    w.opt_u32(hnsw.indexing_search_count);
    w.opt_u64(hnsw.reparation_backlink_probability.map(f64::to_bits));
    w.opt_u64(hnsw.vector_cache_hint_size_kb);
    w.opt_u32(hnsw.flags);
}

fn full_relation(w: &mut Writer, relation: &Relation) {
    w.id(Some(relation.id));
    w.str(&relation.name);
    w.id(Some(relation.target_id));
    w.opt_str(relation.external_name.as_deref());
    w.opt_u32(relation.external_type);
}

/// The elements of `items` ordered by `key`, keeping file order among equal keys.
fn sorted<T>(items: &[T], key: impl Fn(&T) -> u32) -> Vec<&T> {
    let mut refs: Vec<&T> = items.iter().collect();
    refs.sort_by_key(|item| key(item));
    refs
}

/// Feeds the canonical encoding into SHA-256.
struct Writer(Sha256);

impl Writer {
    fn new(domain: &str) -> Self {
        let mut w = Self(Sha256::new());
        w.str(domain);
        w
    }

    fn u8(&mut self, v: u8) {
        self.0.update([v]);
    }

    fn u32(&mut self, v: u32) {
        self.0.update(v.to_le_bytes());
    }

    fn u64(&mut self, v: u64) {
        self.0.update(v.to_le_bytes());
    }

    /// A length or count; models never come close to `u32::MAX` elements or bytes.
    fn len(&mut self, n: usize) {
        self.u32(u32::try_from(n).unwrap_or(u32::MAX));
    }

    fn str(&mut self, s: &str) {
        self.len(s.len());
        self.0.update(s.as_bytes());
    }

    fn id(&mut self, id: Option<IdUid>) {
        let id = id.unwrap_or(IdUid::new(0, 0));
        self.u32(id.id);
        self.u64(id.uid);
    }

    fn opt_str(&mut self, s: Option<&str>) {
        match s {
            None => self.u8(0),
            Some(s) => {
                self.u8(1);
                self.str(s);
            }
        }
    }

    fn opt_u32(&mut self, v: Option<u32>) {
        match v {
            None => self.u8(0),
            Some(v) => {
                self.u8(1);
                self.u32(v);
            }
        }
    }

    fn opt_u64(&mut self, v: Option<u64>) {
        match v {
            None => self.u8(0),
            Some(v) => {
                self.u8(1);
                self.u64(v);
            }
        }
    }

    fn finish(self) -> SchemaHash {
        let digest = self.0.finalize();
        let mut bytes = [0; 16];
        bytes.copy_from_slice(&digest[..16]);
        SchemaHash(bytes)
    }
}
