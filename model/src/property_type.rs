//! Property type codes (`OBXPropertyType`) and HNSW vector-index parameters.

use std::fmt;

/// The value type of a property, with the codes used in the model JSON and on the wire.
///
/// Code 0 (Unknown) and the reserved codes 14 to 21 are not types a usable model can have, so
/// they have no variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[repr(u8)]
pub enum PropertyType {
    /// A boolean, 1 byte.
    Bool = 1,
    /// A signed or unsigned 8-bit integer.
    Byte = 2,
    /// A 16-bit integer.
    Short = 3,
    /// A 16-bit character.
    Char = 4,
    /// A 32-bit integer.
    Int = 5,
    /// A 64-bit integer; every ID property has this type.
    Long = 6,
    /// A 32-bit float.
    Float = 7,
    /// A 64-bit float.
    Double = 8,
    /// A UTF-8 string.
    String = 9,
    /// Milliseconds since the Unix epoch, as a 64-bit integer.
    Date = 10,
    /// A to-one relation: the target object's ID, with `relationTarget` naming the entity.
    Relation = 11,
    /// Nanoseconds since the Unix epoch, as a 64-bit integer.
    DateNano = 12,
    /// A FlexBuffers value (scalars, strings, lists, maps with string keys).
    Flex = 13,
    /// A vector of booleans, 1 byte each.
    BoolVector = 22,
    /// A byte vector (also bytes, Int8 vectors, MongoDB IDs).
    ByteVector = 23,
    /// A vector of 16-bit integers.
    ShortVector = 24,
    /// A vector of 16-bit characters.
    CharVector = 25,
    /// A vector of 32-bit integers.
    IntVector = 26,
    /// A vector of 64-bit integers.
    LongVector = 27,
    /// A vector of 32-bit floats; the only type an HNSW index accepts.
    FloatVector = 28,
    /// A vector of 64-bit floats.
    DoubleVector = 29,
    /// A vector of UTF-8 strings.
    StringVector = 30,
    /// A vector of millisecond dates.
    DateVector = 31,
    /// A vector of nanosecond dates.
    DateNanoVector = 32,
}

impl PropertyType {
    /// Every property type, in code order.
    pub const ALL: [Self; 24] = [
        Self::Bool,
        Self::Byte,
        Self::Short,
        Self::Char,
        Self::Int,
        Self::Long,
        Self::Float,
        Self::Double,
        Self::String,
        Self::Date,
        Self::Relation,
        Self::DateNano,
        Self::Flex,
        Self::BoolVector,
        Self::ByteVector,
        Self::ShortVector,
        Self::CharVector,
        Self::IntVector,
        Self::LongVector,
        Self::FloatVector,
        Self::DoubleVector,
        Self::StringVector,
        Self::DateVector,
        Self::DateNanoVector,
    ];

    /// The numeric code, as in the model JSON `type` key.
    #[must_use]
    pub const fn code(self) -> u32 {
        self as u32
    }

    /// The type for a code, or `None` for 0 (Unknown), the reserved 14 to 21 and unknown codes.
    #[must_use]
    pub fn from_code(code: u32) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.code() == code)
    }

    /// The name used by the ObjectBox APIs, e.g. `"Long"` or `"FloatVector"`.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Bool => "Bool",
            Self::Byte => "Byte",
            Self::Short => "Short",
            Self::Char => "Char",
            Self::Int => "Int",
            Self::Long => "Long",
            Self::Float => "Float",
            Self::Double => "Double",
            Self::String => "String",
            Self::Date => "Date",
            Self::Relation => "Relation",
            Self::DateNano => "DateNano",
            Self::Flex => "Flex",
            Self::BoolVector => "BoolVector",
            Self::ByteVector => "ByteVector",
            Self::ShortVector => "ShortVector",
            Self::CharVector => "CharVector",
            Self::IntVector => "IntVector",
            Self::LongVector => "LongVector",
            Self::FloatVector => "FloatVector",
            Self::DoubleVector => "DoubleVector",
            Self::StringVector => "StringVector",
            Self::DateVector => "DateVector",
            Self::DateNanoVector => "DateNanoVector",
        }
    }

    /// Whether this is one of the vector types (codes 22 to 32).
    #[must_use]
    pub const fn is_vector(self) -> bool {
        self as u32 >= Self::BoolVector as u32
    }
}

impl fmt::Display for PropertyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The distance function of an HNSW index (`OBXVectorDistanceType`), the `distance-type` key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DistanceType {
    /// Not set; the core's default (Euclidean) applies.
    Unknown,
    /// Squared Euclidean distance.
    Euclidean,
    /// Cosine distance.
    Cosine,
    /// Dot product of normalized vectors.
    DotProduct,
    /// Haversine distance on latitude/longitude pairs.
    Geo,
    /// Dot product of vectors that are not normalized.
    DotProductNonNormalized,
}

impl DistanceType {
    /// Every distance type, for lookups by name.
    pub const ALL: [Self; 6] = [
        Self::Unknown,
        Self::Euclidean,
        Self::Cosine,
        Self::DotProduct,
        Self::Geo,
        Self::DotProductNonNormalized,
    ];

    /// The C API code.
    #[must_use]
    pub const fn code(self) -> u32 {
        match self {
            Self::Unknown => 0,
            Self::Euclidean => 1,
            Self::Cosine => 2,
            Self::DotProduct => 3,
            Self::Geo => 6,
            Self::DotProductNonNormalized => 10,
        }
    }

    /// The name as written in `hnswParams.distance-type`.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Unknown => "Unknown",
            Self::Euclidean => "Euclidean",
            Self::Cosine => "Cosine",
            Self::DotProduct => "DotProduct",
            Self::Geo => "Geo",
            Self::DotProductNonNormalized => "DotProductNonNormalized",
        }
    }

    /// The distance type with this exact name, if any.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.name() == name)
    }
}

/// Parameters of an HNSW vector index, from the `hnswParams` object (Go/C/C++ generator only).
///
/// Every field is optional in the file; absent means the core's default.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct HnswParams {
    /// Number of vector dimensions, at least 1.
    pub dimensions: Option<u32>,
    /// The distance function.
    pub distance_type: Option<DistanceType>,
    /// Maximum number of graph neighbours per node.
    pub neighbors_per_node: Option<u32>,
    /// Number of candidates considered when inserting.
    pub indexing_search_count: Option<u32>,
    /// Probability (0.0 to 1.0) of repairing a backlink.
    pub reparation_backlink_probability: Option<f64>,
    /// Size hint of the vector cache in KiB.
    pub vector_cache_hint_size_kb: Option<u64>,
    /// HNSW flags, see [`crate::flags::hnsw`].
    pub flags: Option<u32>,
}
