//! Data browser bodies: entities with object counts and objects rendered as JSON.

use serde::{Deserialize, Serialize};

/// One entity of the current model and how many objects it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EntitySummary {
    pub name: String,
    pub id: u32,
    pub uid: u64,
    pub sync_enabled: bool,
    pub object_count: u64,
}

/// `GET /api/data/entities`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EntityList {
    pub entities: Vec<EntitySummary>,
}

/// `GET /api/data/entities/{name}/objects`: one page of objects ordered by id.
///
/// Each object is a JSON object: `id` is `"peer:local"` (peer in hex) or the plain local id for
/// objects created on the server (peer 0); then the model's property names. Dates are
/// `{"iso", "ms"}` (DateNano `{"iso", "ns"}`), byte vectors base64 text, other vectors arrays,
/// to-one relations the target's id, Flex values JSON. Values of properties the model no longer
/// has appear under `"#<property id>"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ObjectPage {
    pub entity: String,
    pub offset: u64,
    pub limit: u64,
    /// Objects of the entity in total.
    pub total: u64,
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub objects: Vec<serde_json::Value>,
}
