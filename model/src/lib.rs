//! The data model: loads and validates `objectbox-model.json` into the one in-memory [`Model`] that server and client use.
//!
//! - [`Model::from_json`] parses the file, rejects every inconsistency a client generator could
//!   leave behind (each error names the JSON path and the offending value) and returns the
//!   tolerable oddities of real files as warnings.
//! - [`Model::base_hash`] and [`Model::full_hash`] identify a schema version, independent of key
//!   order and whitespace.
//! - [`Model::check_evolution`] decides whether a new model may follow a stored one.
//!
//! Architecture invariant: this module knows nothing about storage, sessions or the wire. It does
//! not derive serde traits on its types; other modules convert at their edge. Identity is the UID:
//! names are only labels, and two models with the same UIDs but differently spelled names (as the
//! Go and C++ clients of the same app have) describe the same data.

mod evolution;
pub mod flags;
mod hash;
mod id_uid;
mod parse;
mod property_type;
pub mod strict_json;
mod validate;

#[cfg(test)]
mod tests;

use std::fmt;

pub use evolution::{ElementKind, EvolutionError};
pub use hash::{ParseSchemaHashError, SchemaHash};
pub use id_uid::{IdUid, ParseIdUidError};
pub use property_type::{DistanceType, HnswParams, PropertyType};

/// The model format version this server writes and understands completely.
pub const MODEL_VERSION: u32 = 5;

/// The oldest `modelVersion` accepted. Version 4 files lack property types; they load with
/// warnings and their untyped properties cannot hold values.
pub const MIN_MODEL_VERSION: u32 = 4;

/// A validated data model: entities with their properties, indexes and relations, plus the ID
/// bookkeeping that keeps UIDs from being reused.
///
/// Element order is the order of the file; IDs and UIDs, not positions, identify elements.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Model {
    /// All entities, sync-enabled or local, in file order.
    pub entities: Vec<Entity>,
    /// The highest entity ID ever handed out (possibly a retired entity's), `None` if none yet.
    pub last_entity_id: Option<IdUid>,
    /// The highest index ID ever handed out, `None` if none yet.
    pub last_index_id: Option<IdUid>,
    /// The highest standalone relation ID ever handed out, `None` if none yet.
    pub last_relation_id: Option<IdUid>,
    /// Unused by ObjectBox (sequences are not implemented); kept because generators write it.
    pub last_sequence_id: Option<IdUid>,
    /// UIDs of removed entities; never to be reused.
    pub retired_entity_uids: Vec<u64>,
    /// UIDs of removed indexes; never to be reused.
    pub retired_index_uids: Vec<u64>,
    /// UIDs of removed properties; never to be reused.
    pub retired_property_uids: Vec<u64>,
    /// UIDs of removed standalone relations; never to be reused.
    pub retired_relation_uids: Vec<u64>,
    /// UIDs reserved by a generator for future elements (Java, Swift); they may already be live.
    pub new_uid_pool: Vec<u64>,
    /// The `modelVersion` of the file format, if present.
    pub model_version: Option<u32>,
    /// The `modelVersionParserMinimum`: the oldest parser that can read the file, if present.
    pub parser_minimum: Option<u32>,
    /// The user-defined `version` ("not really used" by ObjectBox), if present.
    pub version: Option<u64>,
}

/// An entity (a type of object), sync-enabled or local.
#[derive(Debug, Clone, PartialEq)]
pub struct Entity {
    /// The entity's ID:UID.
    pub id: IdUid,
    /// The type name, unique across entities ignoring case.
    pub name: String,
    /// Entity flags, see [`flags::entity`]; unknown bits are kept.
    pub flags: u32,
    /// The highest property ID ever handed out in this entity (possibly a retired property's).
    pub last_property_id: Option<IdUid>,
    /// Properties in file order; exactly one of them is the ID property.
    pub properties: Vec<Property>,
    /// Standalone (to-many) relations in file order.
    pub relations: Vec<Relation>,
    /// Name in an external system such as a MongoDB collection.
    pub external_name: Option<String>,
}

/// A property (field) of an entity.
#[derive(Debug, Clone, PartialEq)]
pub struct Property {
    /// The property's ID:UID; the ID is unique within its entity and is the FlatBuffers slot + 1.
    pub id: IdUid,
    /// The property name, unique within its entity ignoring case.
    pub name: String,
    /// The value type; `None` only for untyped legacy properties, which cannot hold values.
    pub ty: Option<PropertyType>,
    /// Property flags, see [`flags`]; unknown bits are kept.
    pub flags: u32,
    /// The ID:UID of the property's index, if it has one.
    pub index_id: Option<IdUid>,
    /// For a to-one relation: the target entity's name.
    pub relation_target: Option<String>,
    /// `OBXExternalPropertyType` code for external systems (MongoDB).
    pub external_type: Option<u32>,
    /// Name in an external system such as a MongoDB field.
    pub external_name: Option<String>,
    /// HNSW vector-index parameters (FloatVector only).
    pub hnsw: Option<HnswParams>,
}

/// A standalone (to-many) relation of an entity.
#[derive(Debug, Clone, PartialEq)]
pub struct Relation {
    /// The relation's ID:UID; the ID is unique across the model.
    pub id: IdUid,
    /// The relation name, unique within its entity ignoring case.
    pub name: String,
    /// The target entity's ID:UID.
    pub target_id: IdUid,
    /// Name in an external system.
    pub external_name: Option<String>,
    /// `OBXExternalPropertyType` code for external systems, e.g. 124 (MongoIdVector).
    pub external_type: Option<u32>,
}

/// A successfully loaded model with the warnings worth logging.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    /// The validated model.
    pub model: Model,
    /// Tolerated oddities, each prefixed with its JSON path, e.g. an unknown key or a legacy flag.
    pub warnings: Vec<String>,
}

/// Why a model file was rejected. Displays as `<path>: <message>`, or only the message when the
/// problem concerns the whole file.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ModelError {
    /// What kind of problem this is.
    pub kind: ModelErrorKind,
    /// JSON path of the offending element, e.g. `entities[0].properties[1].id`; empty for the file.
    pub path: String,
    /// What is wrong, including the offending value.
    pub message: String,
}

/// The broad class of a [`ModelError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ModelErrorKind {
    /// The bytes are not valid JSON (truncated, merge conflict, duplicate key...).
    Syntax,
    /// A key is missing or has the wrong JSON type, or an ID:UID is malformed.
    Shape,
    /// The file format version is not supported (too old, too new, pre-1.0).
    Version,
    /// The content is inconsistent (duplicates, dangling references, bad last IDs...).
    Invalid,
}

/// How many elements a model has, for logs and the admin UI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ModelCounts {
    /// Number of entities.
    pub entities: usize,
    /// Number of properties over all entities.
    pub properties: usize,
    /// Number of standalone (to-many) relations; to-one relations are counted as properties.
    pub relations: usize,
    /// Number of properties with an index.
    pub indexes: usize,
}

impl Model {
    /// Parses and validates the bytes of an `objectbox-model.json` file.
    ///
    /// # Errors
    /// Returns the first problem found, with its JSON path and the offending value.
    pub fn from_json(bytes: &[u8]) -> Result<Loaded, ModelError> {
        let mut warnings = Vec::new();
        let mut model = parse::parse(bytes, &mut warnings)?;
        validate::validate(&mut model, &mut warnings)?;
        Ok(Loaded { model, warnings })
    }

    /// The entity with this ID.
    #[must_use]
    pub fn entity(&self, id: u32) -> Option<&Entity> {
        self.entities.iter().find(|e| e.id.id == id)
    }

    /// The entity with this UID.
    #[must_use]
    pub fn entity_by_uid(&self, uid: u64) -> Option<&Entity> {
        self.entities.iter().find(|e| e.id.uid == uid)
    }

    /// The entity with this name, ignoring case.
    #[must_use]
    pub fn entity_by_name(&self, name: &str) -> Option<&Entity> {
        self.entities.iter().find(|e| same_name(&e.name, name))
    }

    /// The sync-enabled entities, in file order.
    pub fn sync_entities(&self) -> impl Iterator<Item = &Entity> {
        self.entities.iter().filter(|e| e.is_sync_enabled())
    }

    /// Counts entities, properties, standalone relations and indexes.
    #[must_use]
    pub fn counts(&self) -> ModelCounts {
        let mut counts = ModelCounts {
            entities: self.entities.len(),
            ..ModelCounts::default()
        };
        for entity in &self.entities {
            counts.properties += entity.properties.len();
            counts.relations += entity.relations.len();
            counts.indexes += entity
                .properties
                .iter()
                .filter(|p| p.index_id.is_some())
                .count();
        }
        counts
    }

    /// The hash that identifies the data layout: entity and property UIDs, names and types.
    ///
    /// Versions with equal base hashes are "data equal". See [`SchemaHash`] for the encoding.
    #[must_use]
    pub fn base_hash(&self) -> SchemaHash {
        hash::base_hash(self)
    }

    /// The hash over everything semantically meaningful: all IDs, flags, indexes, relations,
    /// external names and types, HNSW parameters, retired UIDs and last IDs.
    ///
    /// See [`SchemaHash`] for the encoding.
    #[must_use]
    pub fn full_hash(&self) -> SchemaHash {
        hash::full_hash(self)
    }

    /// Checks that `next` may replace `self` (the stored current version) as the schema.
    ///
    /// Errors: an entity, property, index or relation whose UID is in both models but with a
    /// different ID, kind or (for a property) entity; a UID retired in `self` that is no longer
    /// retired in `next` or is live again; a property type changed under the same UID; the
    /// SYNC_ENABLED or SHARED_GLOBAL_IDS flag switched on an existing entity. Renames are fine.
    ///
    /// Returns warnings on success: an element of `self` that is neither in `next` nor retired
    /// there has been dropped without being retired (its UID could be handed out again by a
    /// generator), which is worth a log line but, as the official tooling also tolerates ID gaps
    /// without retired UIDs, not a rejection.
    ///
    /// # Errors
    /// Returns the first violation, naming the element and both values.
    pub fn check_evolution(&self, next: &Model) -> Result<Vec<String>, EvolutionError> {
        evolution::check(self, next)
    }

    /// Lines describing added, removed and renamed entities, properties and relations, and index
    /// and sync-flag changes, from `self` to `next`, for logs.
    #[must_use]
    pub fn diff_summary(&self, next: &Model) -> Vec<String> {
        evolution::diff_summary(self, next)
    }
}

impl Entity {
    /// Whether objects of this entity are synchronized (flag SYNC_ENABLED).
    #[must_use]
    pub fn is_sync_enabled(&self) -> bool {
        self.flags & flags::entity::SYNC_ENABLED != 0
    }

    /// Whether object IDs are shared between all peers (flag SHARED_GLOBAL_IDS).
    #[must_use]
    pub fn has_shared_global_ids(&self) -> bool {
        self.flags & flags::entity::SHARED_GLOBAL_IDS != 0
    }

    /// The ID property.
    ///
    /// # Panics
    /// If the entity has no property with the ID flag, which [`Model::from_json`] never returns.
    #[must_use]
    pub fn id_property(&self) -> &Property {
        self.properties
            .iter()
            .find(|p| p.is_id())
            .expect("a validated entity has exactly one ID property")
    }

    /// The property with this ID.
    #[must_use]
    pub fn property(&self, id: u32) -> Option<&Property> {
        self.properties.iter().find(|p| p.id.id == id)
    }

    /// The property with this UID.
    #[must_use]
    pub fn property_by_uid(&self, uid: u64) -> Option<&Property> {
        self.properties.iter().find(|p| p.id.uid == uid)
    }

    /// The property with this name, ignoring case.
    #[must_use]
    pub fn property_by_name(&self, name: &str) -> Option<&Property> {
        self.properties.iter().find(|p| same_name(&p.name, name))
    }

    /// The standalone relation with this ID.
    #[must_use]
    pub fn relation(&self, id: u32) -> Option<&Relation> {
        self.relations.iter().find(|r| r.id.id == id)
    }

    /// The property with the SYNC_CLOCK flag, if any.
    #[must_use]
    pub fn sync_clock_property(&self) -> Option<&Property> {
        self.properties
            .iter()
            .find(|p| p.flags & flags::SYNC_CLOCK != 0)
    }

    /// The property with the SYNC_PRECEDENCE flag, if any.
    #[must_use]
    pub fn sync_precedence_property(&self) -> Option<&Property> {
        self.properties
            .iter()
            .find(|p| p.flags & flags::SYNC_PRECEDENCE != 0)
    }

    /// Names of the known entity flags set, e.g. `["SYNC_ENABLED"]`.
    #[must_use]
    pub fn flag_names(&self) -> Vec<&'static str> {
        flags::names(self.flags, flags::ENTITY_FLAG_NAMES)
    }
}

impl Property {
    /// Whether this is the entity's ID property (flag ID).
    #[must_use]
    pub fn is_id(&self) -> bool {
        self.flags & flags::ID != 0
    }

    /// Names of the known property flags set, e.g. `["INDEXED", "INDEX_PARTIAL_SKIP_ZERO"]`.
    #[must_use]
    pub fn flag_names(&self) -> Vec<&'static str> {
        flags::names(self.flags, flags::PROPERTY_FLAG_NAMES)
    }
}

impl ModelError {
    /// Creates an [`ModelErrorKind::Invalid`] error at `path` (empty for the whole file).
    #[must_use]
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self::at(ModelErrorKind::Invalid, path, message)
    }

    /// Creates an error of `kind` at `path` (empty for the whole file).
    #[must_use]
    pub fn at(kind: ModelErrorKind, path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            kind,
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for ModelError {}

/// Compares two entity, property or relation names the way the ObjectBox core does: ignoring case.
fn same_name(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b) || a.to_lowercase() == b.to_lowercase()
}
