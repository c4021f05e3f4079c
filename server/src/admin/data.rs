//! The data browser: entities with object counts, pages of objects as JSON, streamed exports.
//!
//! Objects are rendered with the model the server runs on (see [`render`] for the JSON shape).
//! Exports read the store in short read transactions of [`EXPORT_CHUNK_BYTES`] and stream each
//! chunk as it is rendered, so their memory does not grow with the data.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Map, Value as Json, json};
use shared_types as wire;
use shared_types::protocol::{GlobalId, Value};
use utoipa::OpenApi;
use wire::admin::data::{EntityList, EntitySummary, ObjectPage};
use wire::admin::error::ErrorBody;

use super::{AdminState, ApiError};
use crate::model::{Entity, PropertyType, flags};
use crate::store::{SnapshotCursor, SnapshotItem, Store};

/// Objects per page when the request gives no `limit`.
pub const DEFAULT_PAGE_LIMIT: u64 = 50;

/// The largest `limit` a page request may ask for.
pub const MAX_PAGE_LIMIT: u64 = 1000;

/// Stored bytes read per read transaction while exporting.
pub const EXPORT_CHUNK_BYTES: usize = 256 * 1024;

/// The data browser's OpenAPI paths.
#[derive(OpenApi)]
#[openapi(paths(entities, objects, object, export_entity, export_all))]
pub struct DataApi;

/// The data browser's routes (behind the session guard).
pub fn routes() -> Router<AdminState> {
    Router::new()
        .route("/api/data/entities", get(entities))
        .route("/api/data/entities/{name}/objects", get(objects))
        .route("/api/data/entities/{name}/objects/{id}", get(object))
        .route("/api/data/export", get(export_all))
        .route("/api/data/export/{name}", get(export_entity))
}

/// Paging of `GET /api/data/entities/{name}/objects`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Objects to skip (default 0).
    offset: Option<String>,
    /// Objects to return, 1 to 1000 (default 50).
    limit: Option<String>,
}

/// The entities of the current model with their object counts.
#[utoipa::path(get, path = "/api/data/entities", tag = "data",
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = EntityList), (status = 401, body = ErrorBody)))]
async fn entities(State(state): State<AdminState>) -> Result<axum::Json<EntityList>, ApiError> {
    let store = state.store.clone();
    let model = state.schema.model.clone();
    let entities = blocking(move || {
        model
            .entities
            .iter()
            .map(|e| {
                Ok(EntitySummary {
                    name: e.name.clone(),
                    id: e.id.id,
                    uid: e.id.uid,
                    sync_enabled: e.is_sync_enabled(),
                    object_count: store.object_count(e.id.uid)?,
                })
            })
            .collect::<Result<Vec<_>, ApiError>>()
    })
    .await?;
    Ok(axum::Json(EntityList { entities }))
}

/// One page of an entity's objects, ordered by id.
#[utoipa::path(get, path = "/api/data/entities/{name}/objects", tag = "data",
    security(("bearer" = []), ("cookie" = [])),
    params(("name" = String, Path, description = "Entity name"), PageQuery),
    responses((status = 200, body = ObjectPage), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
async fn objects(
    State(state): State<AdminState>,
    Path(name): Path<String>,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<axum::Json<ObjectPage>, ApiError> {
    let Query(query) = query.map_err(query_error)?;
    let entity = find_entity(&state, &name)?.clone();
    let offset = parse_u64("offset", query.offset.as_deref(), 0, u64::MAX)?;
    let limit = parse_u64(
        "limit",
        query.limit.as_deref(),
        DEFAULT_PAGE_LIMIT,
        MAX_PAGE_LIMIT,
    )?;
    if limit == 0 {
        return Err(ApiError::invalid("limit 0 is out of range: use 1 to 1000"));
    }
    let store = state.store.clone();
    let uid = entity.id.uid;
    let (page, total) = blocking(move || {
        store
            .read(|r| r.objects_page(uid, offset, usize::try_from(limit).unwrap_or(usize::MAX)))
            .map_err(ApiError::from)
    })
    .await?;
    let objects = page
        .into_iter()
        .map(|(id, bytes)| render(&entity, id, &bytes))
        .collect();
    Ok(axum::Json(ObjectPage {
        entity: entity.name,
        offset,
        limit,
        total,
        objects,
    }))
}

/// One object by id (`peer:local` with the peer in hex, or the plain local id for peer 0).
#[utoipa::path(get, path = "/api/data/entities/{name}/objects/{id}", tag = "data",
    security(("bearer" = []), ("cookie" = [])),
    params(("name" = String, Path, description = "Entity name"),
        ("id" = String, Path, description = "Object id: `peer:local` (peer in hex) or a number")),
    responses((status = 200, body = Object), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
async fn object(
    State(state): State<AdminState>,
    Path((name, id_text)): Path<(String, String)>,
) -> Result<axum::Json<Json>, ApiError> {
    let entity = find_entity(&state, &name)?;
    let id = parse_object_id(&id_text).ok_or_else(|| {
        ApiError::invalid(format!(
            "invalid object id {id_text:?}: use peer:local (peer in hex) or a number"
        ))
    })?;
    let bytes = state.store.object(entity.id.uid, id)?.ok_or_else(|| {
        ApiError::not_found(format!("no {} object with id {id_text}", entity.name))
    })?;
    Ok(axum::Json(render(entity, id, &bytes)))
}

/// Downloads one entity's objects as a JSON file, streamed.
#[utoipa::path(get, path = "/api/data/export/{name}", tag = "data",
    security(("bearer" = []), ("cookie" = [])),
    params(("name" = String, Path, description = "Entity name")),
    responses((status = 200, description = "`{\"entity\", \"objects\": [...]}`, streamed",
        content_type = "application/json"), (status = 404, body = ErrorBody)))]
async fn export_entity(
    State(state): State<AdminState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let entity = find_entity(&state, &name)?;
    let head = json!({
        "format": "sync-server-export",
        "schemaVersion": state.schema.record.id,
        "entity": entity.name,
    });
    Ok(export(
        &state,
        Some(entity.id.uid),
        head,
        &format!("{}.json", entity.name),
    ))
}

/// Downloads every object and standalone relation link of the database as a JSON file, streamed.
#[utoipa::path(get, path = "/api/data/export", tag = "data",
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, description = "`{\"objects\": [{\"_entity\", ...}], \"links\": [{\"relation\", \"source\", \"target\"}]}`, streamed",
        content_type = "application/json")))]
async fn export_all(State(state): State<AdminState>) -> Response {
    let head = json!({
        "format": "sync-server-export",
        "schemaVersion": state.schema.record.id,
    });
    export(&state, None, head, "sync-server-export.json")
}

/// Renders a stored object as JSON with the entity's property names.
///
/// `id` first, then properties in model order; values of properties the model does not know
/// come last as `"#<id>"`. A value that does not decode is reported under `"_error"`.
pub fn render(entity: &Entity, id: GlobalId, bytes: &[u8]) -> Json {
    let mut out = Map::new();
    out.insert("id".into(), render_id(id));
    let props = match shared_types::protocol::decode_props(bytes) {
        Ok(props) => props,
        Err(e) => {
            out.insert(
                "_error".into(),
                Json::String(format!("undecodable object: {e}")),
            );
            return Json::Object(out);
        }
    };
    for property in &entity.properties {
        if property.is_id() {
            continue;
        }
        let value = props
            .iter()
            .find(|(p, _)| *p == property.id.id)
            .map_or(Json::Null, |(_, v)| {
                render_value(property.ty, property.flags & flags::UNSIGNED != 0, v)
            });
        out.insert(property.name.clone(), value);
    }
    for (p, value) in &props {
        if entity.property(*p).is_none() {
            out.insert(format!("#{p}"), render_value(None, false, value));
        }
    }
    Json::Object(out)
}

/// An object id as the API shows it: the plain number for peer 0, else `peer:local`.
pub fn render_id(id: GlobalId) -> Json {
    if id.0 == 0 {
        Json::from(id.1)
    } else {
        Json::String(format!("{:X}:{}", id.0, id.1))
    }
}

/// Parses an object id given in a URL.
pub fn parse_object_id(text: &str) -> Option<GlobalId> {
    match text.split_once(':') {
        Some((peer, local)) => Some(GlobalId(
            u64::from_str_radix(peer, 16).ok()?,
            local.parse().ok()?,
        )),
        None => Some(GlobalId(0, text.parse().ok()?)),
    }
}

/// ISO 8601 UTC text for milliseconds since the Unix epoch (`1970-01-01T00:00:00.000Z`).
pub fn iso_from_ms(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let rest = ms.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3_600_000,
        rest / 60_000 % 60,
        rest / 1000 % 60,
        rest % 1000
    )
}

fn render_value(ty: Option<PropertyType>, unsigned: bool, value: &Value) -> Json {
    match (ty, value) {
        (_, Value::Null) => Json::Null,
        (Some(PropertyType::Date), Value::Int(ms)) => json!({"iso": iso_from_ms(*ms), "ms": ms}),
        (Some(PropertyType::DateNano), Value::Int(ns)) => {
            json!({"iso": iso_from_ms(ns.div_euclid(1_000_000)), "ns": ns})
        }
        (Some(PropertyType::Relation), Value::List(parts)) => match parts.as_slice() {
            [Value::Int(peer), Value::Int(local)] => {
                render_id(GlobalId(*peer as u64, *local as u64))
            }
            _ => plain(value),
        },
        (Some(PropertyType::Relation), Value::Int(local)) => Json::from(*local),
        (Some(PropertyType::DateVector), Value::List(items)) => Json::Array(
            items
                .iter()
                .map(|v| render_value(Some(PropertyType::Date), false, v))
                .collect(),
        ),
        (Some(PropertyType::DateNanoVector), Value::List(items)) => Json::Array(
            items
                .iter()
                .map(|v| render_value(Some(PropertyType::DateNano), false, v))
                .collect(),
        ),
        (_, Value::Int(i)) if unsigned && *i < 0 => Json::from(*i as u64),
        _ => plain(value),
    }
}

/// A value without model knowledge: bytes as base64 text, maps and lists as JSON.
fn plain(value: &Value) -> Json {
    match value {
        Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(i) => Json::from(*i),
        Value::Float(f) => serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number),
        Value::String(s) => Json::String(s.clone()),
        Value::Bytes(b) => Json::String(base64(b)),
        Value::List(items) => Json::Array(items.iter().map(plain).collect()),
        Value::Map(entries) => {
            Json::Object(entries.iter().map(|(k, v)| (k.clone(), plain(v))).collect())
        }
    }
}

fn find_entity<'a>(state: &'a AdminState, name: &str) -> Result<&'a Entity, ApiError> {
    state.schema.model.entity_by_name(name).ok_or_else(|| {
        ApiError::not_found(format!("no entity named {name:?} in the current model"))
    })
}

/// Parses an optional decimal query parameter in `0..=max`.
pub(super) fn parse_u64(
    name: &str,
    text: Option<&str>,
    default: u64,
    max: u64,
) -> Result<u64, ApiError> {
    let Some(text) = text else {
        return Ok(default);
    };
    match text.parse::<u64>() {
        Ok(n) if n <= max => Ok(n),
        Ok(n) => Err(ApiError::invalid(format!(
            "{name} {n} is out of range: at most {max}"
        ))),
        Err(_) => Err(ApiError::invalid(format!(
            "invalid {name} {text:?}: expected a non-negative integer"
        ))),
    }
}

/// A query string that did not parse (e.g. a repeated parameter): 400 naming the problem.
pub(super) fn query_error(e: QueryRejection) -> ApiError {
    ApiError::invalid(format!("invalid query string: {}", e.body_text()))
}

/// Runs store reads off the async runtime.
pub(super) async fn blocking<R: Send + 'static>(
    f: impl FnOnce() -> Result<R, ApiError> + Send + 'static,
) -> Result<R, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(ApiError::internal)?
}

/// Where an export stream stands.
struct ExportState {
    store: Store,
    model: std::sync::Arc<crate::model::Model>,
    /// `Some` for one entity's objects; `None` for the whole database (objects, then links).
    entity_uid: Option<u64>,
    /// Where one entity's export continues (an object key).
    after: Option<Vec<u8>>,
    /// Where the whole database's export continues.
    cursor: Option<SnapshotCursor>,
    /// The JSON text before the first object; taken by the first chunk.
    head: Option<String>,
    /// Whether the whole-database export has reached the `links` array.
    in_links: bool,
    first: bool,
    done: bool,
}

fn export(state: &AdminState, entity_uid: Option<u64>, head: Json, file: &str) -> Response {
    // `{"format":…,"objects":[` — the head object without its closing brace, then the array.
    let mut head_text = head.to_string();
    head_text.pop();
    head_text.push_str(",\"objects\":[\n");
    let start = ExportState {
        store: state.store.clone(),
        model: std::sync::Arc::new(state.schema.model.clone()),
        entity_uid,
        after: None,
        cursor: None,
        head: Some(head_text),
        in_links: false,
        first: true,
        done: false,
    };
    let stream = futures_util::stream::unfold(start, |mut st| async move {
        if st.done {
            return None;
        }
        let mut text = st.head.take().unwrap_or_default();
        match st.next_items().await {
            Ok(items) => {
                for item in items {
                    st.push_item(&mut text, item);
                }
            }
            Err(e) => {
                st.done = true;
                return Some((Err(e), st));
            }
        }
        if st.done {
            if st.entity_uid.is_none() && !st.in_links {
                text.push_str("\n],\"links\":[");
            }
            text.push_str("\n]}\n");
        }
        Some((Ok::<Bytes, std::io::Error>(Bytes::from(text)), st))
    });
    (
        [
            (header::CONTENT_TYPE, "application/json".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file}\""),
            ),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}

impl ExportState {
    /// Reads the next chunk in one short read transaction off the runtime; sets `done` after
    /// the last one.
    async fn next_items(&mut self) -> Result<Vec<SnapshotItem>, std::io::Error> {
        let store = self.store.clone();
        if let Some(uid) = self.entity_uid {
            let after = self.after.take();
            let (items, next) = tokio::task::spawn_blocking(move || {
                store.read(|r| r.objects_chunk(Some(uid), after.as_deref(), EXPORT_CHUNK_BYTES))
            })
            .await
            .map_err(std::io::Error::other)?
            .map_err(std::io::Error::other)?;
            self.done = next.is_none();
            self.after = next;
            let items = items.into_iter();
            Ok(items
                .map(|(entity_uid, id, props)| SnapshotItem::Object {
                    entity_uid,
                    id,
                    props,
                })
                .collect())
        } else {
            let cursor = self.cursor.take();
            let (items, next) = tokio::task::spawn_blocking(move || {
                store.read(|r| r.snapshot_chunk(cursor, EXPORT_CHUNK_BYTES))
            })
            .await
            .map_err(std::io::Error::other)?
            .map_err(std::io::Error::other)?;
            self.done = next.is_none();
            self.cursor = next;
            Ok(items)
        }
    }

    /// Appends one object or link to `text`, opening the `links` array at the first link.
    fn push_item(&mut self, text: &mut String, item: SnapshotItem) {
        let value = match item {
            SnapshotItem::Object {
                entity_uid,
                id,
                props,
            } => {
                let Some(entity) = self.model.entity_by_uid(entity_uid) else {
                    return;
                };
                let mut object = render(entity, id, &props);
                if self.entity_uid.is_none()
                    && let Json::Object(map) = &mut object
                {
                    map.insert("_entity".into(), Json::String(entity.name.clone()));
                }
                object
            }
            SnapshotItem::Link {
                relation_uid,
                source,
                target,
            } => {
                if !self.in_links {
                    text.push_str("\n],\"links\":[\n");
                    self.in_links = true;
                    self.first = true;
                }
                let relation = self
                    .model
                    .entities
                    .iter()
                    .flat_map(|e| &e.relations)
                    .find(|r| r.id.uid == relation_uid)
                    .map_or(Json::from(relation_uid), |r| Json::String(r.name.clone()));
                json!({"relation": relation, "source": render_id(source), "target": render_id(target)})
            }
        };
        if !self.first {
            text.push_str(",\n");
        }
        self.first = false;
        text.push_str(&value.to_string());
    }
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Standard base64 with padding.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
