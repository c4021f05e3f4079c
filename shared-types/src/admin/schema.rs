//! Schema bodies: the current model, stored schema versions, client schemas seen at login.

use serde::{Deserialize, Serialize};

/// `GET /api/schema`: the model the server runs on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CurrentSchema {
    pub version_id: u64,
    pub base_hash: String,
    pub full_hash: String,
    pub entities: Vec<SchemaEntity>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SchemaEntity {
    pub name: String,
    pub id: u32,
    pub uid: u64,
    pub flags: u32,
    pub flag_names: Vec<String>,
    pub properties: Vec<SchemaProperty>,
    /// Standalone (many-to-many) relations.
    pub relations: Vec<SchemaRelation>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SchemaProperty {
    pub name: String,
    pub id: u32,
    pub uid: u64,
    /// The type code of the model JSON.
    pub type_code: u32,
    /// E.g. `String`, `DateNano`, `FloatVector`.
    pub type_name: String,
    pub flags: u32,
    pub flag_names: Vec<String>,
    /// `"id:uid"` of the property's index, if it has one.
    pub index_id: Option<String>,
    /// The target entity of a to-one relation.
    pub relation_target: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SchemaRelation {
    pub name: String,
    pub id: u32,
    pub uid: u64,
    pub target_entity: Option<String>,
    pub target_id: String,
}

/// One stored schema version (without its model JSON; see `GET /api/schema/versions/{id}/model`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SchemaVersion {
    pub id: u64,
    pub created_ms: u64,
    pub author: String,
    pub base_hash: String,
    pub full_hash: String,
    pub entity_count: usize,
    pub property_count: usize,
    pub relation_count: usize,
    pub index_count: usize,
    /// Size of the model JSON in bytes.
    pub size: usize,
    pub accept_clients: bool,
    /// The version stored as current (what the server runs on after its next start).
    pub current: bool,
    /// The version this server process runs on.
    pub running: bool,
}

/// `GET /api/schema/versions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SchemaVersionList {
    pub versions: Vec<SchemaVersion>,
}

/// `PUT /api/schema/versions/{id}/accept-clients`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AcceptClients {
    pub accept_clients: bool,
}

/// `PUT /api/schema/current`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SwitchVersion {
    pub id: u64,
}

/// The answer to a switch of the current version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SwitchResult {
    pub current: u64,
    pub running: u64,
    /// Whether the server must be restarted to run on `current`.
    pub restart_required: bool,
    pub message: String,
}

/// A client schema seen at login.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClientSchema {
    pub full_hash: String,
    pub base_hash: String,
    pub login_count: u64,
    pub last_login_ms: u64,
}

/// `GET /api/schema/clients`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClientSchemaList {
    pub clients: Vec<ClientSchema>,
}
