//! Schema routes: the current model, stored versions, uploads, client access, switching, and
//! the client schemas seen at login.
//!
//! Uploads are validated exactly as a model file at start-up (`schema::add_version`). A switch
//! stores the new current version; the running server keeps its model until its next start
//! (ObjectBox restarts the server on a switch; we say so in the answer and the log).
//!
//! A new upload and a changed `acceptClients` flag apply to the next client login at once
//! (`SyncService::reload_versions`); which model the server applies transactions against
//! changes only with a switch and a restart.

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use serde::Deserialize;
use shared_types as wire;
use utoipa::OpenApi;
use wire::admin::error::ErrorBody;
use wire::admin::events::EventType;
use wire::admin::schema::{
    AcceptClients, ClientSchema, ClientSchemaList, CurrentSchema, SchemaEntity, SchemaProperty,
    SchemaRelation, SchemaVersion, SchemaVersionList, SwitchResult, SwitchVersion,
};

use super::sessions::CurrentUser;
use super::{AdminState, ApiError};
use crate::events::{self, Event};
use crate::schema::{self, UpdateError};
use crate::store::SchemaVersionRecord;

/// Largest model JSON an upload may have.
pub const MAX_MODEL_BYTES: usize = 16 * 1024 * 1024;

/// The schema area's OpenAPI paths.
#[derive(OpenApi)]
#[openapi(paths(
    current,
    versions,
    version_model,
    upload,
    accept_clients,
    switch,
    clients
))]
pub struct SchemaApi;

/// The schema routes (behind the session guard).
pub fn routes() -> Router<AdminState> {
    Router::new()
        .route("/api/schema", get(current))
        .route("/api/schema/versions", get(versions).post(upload))
        .route("/api/schema/versions/{id}/model", get(version_model))
        .route(
            "/api/schema/versions/{id}/accept-clients",
            put(accept_clients),
        )
        .route("/api/schema/current", put(switch))
        .route("/api/schema/clients", get(clients))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_MODEL_BYTES))
}

/// `?acceptClients=` of an upload.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct UploadQuery {
    /// Whether clients on the new version may log in (default true).
    accept_clients: Option<String>,
}

/// The model the server runs on, with type and flag names.
#[utoipa::path(get, path = "/api/schema", tag = "schema",
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = CurrentSchema)))]
async fn current(State(state): State<AdminState>) -> axum::Json<CurrentSchema> {
    let model = &state.schema.model;
    let entities = model
        .entities
        .iter()
        .map(|e| SchemaEntity {
            name: e.name.clone(),
            id: e.id.id,
            uid: e.id.uid,
            flags: e.flags,
            flag_names: e.flag_names().into_iter().map(str::to_owned).collect(),
            properties: e
                .properties
                .iter()
                .map(|p| SchemaProperty {
                    name: p.name.clone(),
                    id: p.id.id,
                    uid: p.id.uid,
                    type_code: p.ty.map_or(0, crate::model::PropertyType::code),
                    type_name: p
                        .ty
                        .map_or_else(|| "Unknown".to_owned(), |t| t.name().to_owned()),
                    flags: p.flags,
                    flag_names: p.flag_names().into_iter().map(str::to_owned).collect(),
                    index_id: p.index_id.map(|i| i.to_string()),
                    relation_target: p.relation_target.clone(),
                })
                .collect(),
            relations: e
                .relations
                .iter()
                .map(|r| SchemaRelation {
                    name: r.name.clone(),
                    id: r.id.id,
                    uid: r.id.uid,
                    target_entity: model.entity_by_uid(r.target_id.uid).map(|t| t.name.clone()),
                    target_id: r.target_id.to_string(),
                })
                .collect(),
        })
        .collect();
    axum::Json(CurrentSchema {
        version_id: state.schema.record.id,
        base_hash: state.schema.record.base_hash.clone(),
        full_hash: state.schema.record.full_hash.clone(),
        entities,
    })
}

/// The stored schema versions, oldest first.
#[utoipa::path(get, path = "/api/schema/versions", tag = "schema",
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = SchemaVersionList)))]
async fn versions(
    State(state): State<AdminState>,
) -> Result<axum::Json<SchemaVersionList>, ApiError> {
    let current = state.store.current_schema_version()?;
    let versions = state
        .store
        .schema_versions()?
        .iter()
        .map(|r| to_wire(r, current, state.schema.record.id))
        .collect();
    Ok(axum::Json(SchemaVersionList { versions }))
}

/// One version's model JSON, exactly as it was given.
#[utoipa::path(get, path = "/api/schema/versions/{id}/model", tag = "schema",
    security(("bearer" = []), ("cookie" = [])),
    params(("id" = String, Path, description = "Schema version id")),
    responses((status = 200, description = "The model JSON", content_type = "application/json"),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn version_model(
    State(state): State<AdminState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let record = state
        .store
        .schema_version(id)?
        .ok_or_else(|| ApiError::not_found(format!("no schema version {id}")))?;
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        record.model_json,
    )
        .into_response())
}

/// Stores an uploaded model (the raw `objectbox-model.json`) as a new schema version.
#[utoipa::path(post, path = "/api/schema/versions", tag = "schema",
    security(("bearer" = []), ("cookie" = [])), params(UploadQuery),
    request_body(content = Object, description = "The model JSON", content_type = "application/json"),
    responses((status = 201, body = SchemaVersion),
        (status = 400, description = "`invalid_model`", body = ErrorBody),
        (status = 409, description = "`illegal_evolution` or `same_model`", body = ErrorBody)))]
async fn upload(
    State(state): State<AdminState>,
    user: Option<axum::Extension<CurrentUser>>,
    query: Result<Query<UploadQuery>, QueryRejection>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(super::data::query_error)?;
    let accept = match query.accept_clients.as_deref() {
        None | Some("true") => true,
        Some("false") => false,
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "invalid acceptClients {other:?}: expected true or false"
            )));
        }
    };
    let author = user
        .and_then(|u| u.0.name)
        .unwrap_or_else(|| schema::AUTHOR_ADMIN_API.to_owned());
    let store = state.store.clone();
    let by = author.clone();
    let record = super::data::blocking(move || {
        schema::add_version(&store, &body, &by, accept).map_err(update_error)
    })
    .await?;
    // Logins on the new version's hashes are matched from now on.
    state.sync.reload_versions()?;
    events::record(
        &state.store,
        Event::new(
            EventType::Important,
            "schema",
            format!("Schema version {} created by {author}", record.id),
        )
        .with("schemaVersion", record.id)
        .with("fullHash", &record.full_hash),
    );
    let current = state.store.current_schema_version()?;
    let body = to_wire(&record, current, state.schema.record.id);
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

/// Allows or refuses clients on one version.
#[utoipa::path(put, path = "/api/schema/versions/{id}/accept-clients", tag = "schema",
    security(("bearer" = []), ("cookie" = [])),
    params(("id" = String, Path, description = "Schema version id")),
    request_body = AcceptClients,
    responses((status = 200, body = SchemaVersion), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
async fn accept_clients(
    State(state): State<AdminState>,
    Path(id): Path<String>,
    body: Result<axum::Json<AcceptClients>, axum::extract::rejection::JsonRejection>,
) -> Result<axum::Json<SchemaVersion>, ApiError> {
    let id = parse_id(&id)?;
    let axum::Json(body) = body.map_err(json_error)?;
    let store = state.store.clone();
    let record = super::data::blocking(move || {
        schema::set_accept_clients(&store, id, body.accept_clients).map_err(update_error)
    })
    .await?;
    state.sync.reload_versions()?;
    let current = state.store.current_schema_version()?;
    Ok(axum::Json(to_wire(
        &record,
        current,
        state.schema.record.id,
    )))
}

/// Makes a stored version the current one; it applies from the server's next start.
#[utoipa::path(put, path = "/api/schema/current", tag = "schema",
    security(("bearer" = []), ("cookie" = [])), request_body = SwitchVersion,
    responses((status = 200, body = SwitchResult), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn switch(
    State(state): State<AdminState>,
    body: Result<axum::Json<SwitchVersion>, axum::extract::rejection::JsonRejection>,
) -> Result<axum::Json<SwitchResult>, ApiError> {
    let axum::Json(body) = body.map_err(json_error)?;
    let store = state.store.clone();
    let id = body.id;
    let record =
        super::data::blocking(move || schema::switch_current(&store, id).map_err(update_error))
            .await?;
    let running = state.schema.record.id;
    let restart_required = record.id != running;
    let message = if restart_required {
        format!(
            "schema version {} is now current; the server runs on version {running} until it is \
             restarted (restart it to switch; start it without --model, or with that version's \
             model file)",
            record.id
        )
    } else {
        format!("schema version {} is current and running", record.id)
    };
    events::record(
        &state.store,
        Event::new(
            EventType::Important,
            "schema",
            format!("Switched the current schema version to {}", record.id),
        )
        .with("schemaVersion", record.id)
        .with("restartRequired", restart_required),
    );
    Ok(axum::Json(SwitchResult {
        current: record.id,
        running,
        restart_required,
        message,
    }))
}

/// Client schemas seen at login, with login counts.
#[utoipa::path(get, path = "/api/schema/clients", tag = "schema",
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = ClientSchemaList)))]
async fn clients(
    State(state): State<AdminState>,
) -> Result<axum::Json<ClientSchemaList>, ApiError> {
    let clients = schema::client_schemas(&state.store)?
        .into_iter()
        .map(
            |(full_hash, base_hash, login_count, last_login_ms)| ClientSchema {
                full_hash,
                base_hash,
                login_count,
                last_login_ms,
            },
        )
        .collect();
    Ok(axum::Json(ClientSchemaList { clients }))
}

fn to_wire(record: &SchemaVersionRecord, current: Option<u64>, running: u64) -> SchemaVersion {
    SchemaVersion {
        id: record.id,
        created_ms: record.created_ms,
        author: record.author.clone(),
        base_hash: record.base_hash.clone(),
        full_hash: record.full_hash.clone(),
        entity_count: record.entity_count,
        property_count: record.property_count,
        relation_count: record.relation_count,
        index_count: record.index_count,
        size: record.model_json.len(),
        accept_clients: record.accept_clients,
        current: current == Some(record.id),
        running: running == record.id,
    }
}

fn parse_id(text: &str) -> Result<u64, ApiError> {
    text.parse().map_err(|_| {
        ApiError::invalid(format!(
            "invalid schema version id {text:?}: expected a positive integer"
        ))
    })
}

/// A JSON body that did not parse: 400 with serde's message, which names the field.
pub(super) fn json_error(e: axum::extract::rejection::JsonRejection) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        // `limits::enforce` gives it the message naming the limit.
        return ApiError::new(e.status(), "payload_too_large", e.body_text());
    }
    ApiError::invalid(format!("invalid request body: {}", e.body_text()))
}

fn update_error(e: UpdateError) -> ApiError {
    match e {
        UpdateError::InvalidModel(_) => {
            ApiError::new(StatusCode::BAD_REQUEST, "invalid_model", e.to_string())
        }
        UpdateError::IllegalEvolution { .. } => {
            ApiError::new(StatusCode::CONFLICT, "illegal_evolution", e.to_string())
        }
        UpdateError::SameModel(_) => {
            ApiError::new(StatusCode::CONFLICT, "same_model", e.to_string())
        }
        UpdateError::NoSuchVersion(_) => ApiError::not_found(e.to_string()),
        UpdateError::Schema(e) => ApiError::internal(e),
        UpdateError::Store(e) => ApiError::internal(e),
    }
}
