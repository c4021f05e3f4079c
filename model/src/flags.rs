//! Bit values and names of property flags (`OBXPropertyFlags`) and entity flags (`OBXEntityFlags`).

/// The property is the object ID: type Long, exactly one per entity.
pub const ID: u32 = 1;
/// Java wrapper type (nullable primitive); Java-internal.
pub const NON_PRIMITIVE_TYPE: u32 = 2;
/// Declared non-null ("unused yet" in the core).
pub const NOT_NULL: u32 = 4;
/// Has a value index.
pub const INDEXED: u32 = 8;
/// Reserved bit, never set by current tooling.
pub const RESERVED: u32 = 16;
/// Values must be unique (always combined with an index).
pub const UNIQUE: u32 = 32;
/// ID assignment is monotonic ("unused yet" in the core).
pub const ID_MONOTONIC_SEQUENCE: u32 = 64;
/// The application may assign object IDs itself.
pub const ID_SELF_ASSIGNABLE: u32 = 128;
/// The index skips null values.
pub const INDEX_PARTIAL_SKIP_NULL: u32 = 256;
/// The index skips zero values (used for to-one relations).
pub const INDEX_PARTIAL_SKIP_ZERO: u32 = 512;
/// The property has no field in the entity class (e.g. a Java `ToOne` target ID).
pub const VIRTUAL: u32 = 1024;
/// The index stores a 32-bit hash of the value.
pub const INDEX_HASH: u32 = 2048;
/// The index stores a 64-bit hash of the value.
pub const INDEX_HASH64: u32 = 4096;
/// The integer is unsigned.
pub const UNSIGNED: u32 = 8192;
/// Time-series ID companion (Date or DateNano).
pub const ID_COMPANION: u32 = 16384;
/// On a unique conflict, the new object replaces the old one.
pub const UNIQUE_ON_CONFLICT_REPLACE: u32 = 32768;
/// Date after which the object expires; at most one per entity.
pub const EXPIRATION_TIME: u32 = 65536;
/// Hybrid logical clock for last-write-wins conflict resolution; Long, at most one per sync entity.
pub const SYNC_CLOCK: u32 = 131_072;
/// Developer-set precedence for conflict resolution; Long, at most one per sync entity.
pub const SYNC_PRECEDENCE: u32 = 262_144;

/// Flags that give a property an index, and so an `indexId`.
pub const INDEX_FLAGS: u32 = INDEXED | UNIQUE | INDEX_HASH | INDEX_HASH64;

/// Every property flag with its name, in ascending bit order.
pub const PROPERTY_FLAG_NAMES: &[(u32, &str)] = &[
    (ID, "ID"),
    (NON_PRIMITIVE_TYPE, "NON_PRIMITIVE_TYPE"),
    (NOT_NULL, "NOT_NULL"),
    (INDEXED, "INDEXED"),
    (RESERVED, "RESERVED"),
    (UNIQUE, "UNIQUE"),
    (ID_MONOTONIC_SEQUENCE, "ID_MONOTONIC_SEQUENCE"),
    (ID_SELF_ASSIGNABLE, "ID_SELF_ASSIGNABLE"),
    (INDEX_PARTIAL_SKIP_NULL, "INDEX_PARTIAL_SKIP_NULL"),
    (INDEX_PARTIAL_SKIP_ZERO, "INDEX_PARTIAL_SKIP_ZERO"),
    (VIRTUAL, "VIRTUAL"),
    (INDEX_HASH, "INDEX_HASH"),
    (INDEX_HASH64, "INDEX_HASH64"),
    (UNSIGNED, "UNSIGNED"),
    (ID_COMPANION, "ID_COMPANION"),
    (UNIQUE_ON_CONFLICT_REPLACE, "UNIQUE_ON_CONFLICT_REPLACE"),
    (EXPIRATION_TIME, "EXPIRATION_TIME"),
    (SYNC_CLOCK, "SYNC_CLOCK"),
    (SYNC_PRECEDENCE, "SYNC_PRECEDENCE"),
];

/// All property flag bits this server knows; other bits are kept and reported as warnings.
pub const KNOWN_PROPERTY_FLAGS: u32 = (SYNC_PRECEDENCE << 1) - 1;

/// Entity flags (`OBXEntityFlags`).
pub mod entity {
    /// Java-internal: the entity class has a no-argument constructor.
    pub const USE_NO_ARG_CONSTRUCTOR: u32 = 1;
    /// Objects of this entity are synchronized.
    pub const SYNC_ENABLED: u32 = 2;
    /// Object IDs are the same on all clients and the server (no ID mapping); fixed at creation.
    pub const SHARED_GLOBAL_IDS: u32 = 4;

    /// All entity flag bits this server knows.
    pub const KNOWN: u32 = USE_NO_ARG_CONSTRUCTOR | SYNC_ENABLED | SHARED_GLOBAL_IDS;
}

/// Every entity flag with its name, in ascending bit order.
pub const ENTITY_FLAG_NAMES: &[(u32, &str)] = &[
    (entity::USE_NO_ARG_CONSTRUCTOR, "USE_NO_ARG_CONSTRUCTOR"),
    (entity::SYNC_ENABLED, "SYNC_ENABLED"),
    (entity::SHARED_GLOBAL_IDS, "SHARED_GLOBAL_IDS"),
];

/// HNSW index flags (`OBXHnswFlags`), the `flags` key of `hnswParams`.
pub mod hnsw {
    /// Log debug information.
    pub const DEBUG_LOGS: u32 = 1;
    /// Log detailed debug information.
    pub const DEBUG_LOGS_DETAILED: u32 = 2;
    /// Turn off SIMD padding of cached vectors.
    pub const VECTOR_CACHE_SIMD_PADDING_OFF: u32 = 4;
    /// Limit the candidates considered when repairing the graph.
    pub const REPARATION_LIMIT_CANDIDATES: u32 = 8;

    /// All HNSW flag bits this server knows.
    pub const KNOWN: u32 = DEBUG_LOGS
        | DEBUG_LOGS_DETAILED
        | VECTOR_CACHE_SIMD_PADDING_OFF
        | REPARATION_LIMIT_CANDIDATES;
}

/// The names of the known bits set in `flags`, in ascending bit order; unknown bits are left out.
#[must_use]
pub fn names(flags: u32, table: &[(u32, &'static str)]) -> Vec<&'static str> {
    table
        .iter()
        .filter(|(bit, _)| flags & bit != 0)
        .map(|&(_, name)| name)
        .collect()
}
