//! Turns the bytes of a model file into a [`Model`], checking JSON syntax, shape, versions and each field on its own.
//!
//! Checks that relate several elements (uniqueness, last IDs, references) live in `validate`.
//! Every error carries the JSON path of the offending value; every warning starts with it.

use serde_json::{Map, Value};

use super::flags;
use super::{
    DistanceType, Entity, HnswParams, IdUid, MIN_MODEL_VERSION, MODEL_VERSION, Model, ModelError,
    ModelErrorKind, Property, PropertyType, Relation,
};

/// Keys of the top-level object, besides the `_note*` comments.
const TOP_KEYS: &[&str] = &[
    "entities",
    "lastEntityId",
    "lastIndexId",
    "lastRelationId",
    "lastSequenceId",
    "modelVersion",
    "modelVersionParserMinimum",
    "retiredEntityUids",
    "retiredIndexUids",
    "retiredPropertyUids",
    "retiredRelationUids",
    "version",
    "newUidPool",
];
const ENTITY_KEYS: &[&str] = &[
    "id",
    "lastPropertyId",
    "name",
    "flags",
    "properties",
    "relations",
    "externalName",
];
const PROPERTY_KEYS: &[&str] = &[
    "id",
    "name",
    "type",
    "flags",
    "indexId",
    "relationTarget",
    "externalType",
    "externalName",
    "hnswParams",
];
const RELATION_KEYS: &[&str] = &["id", "name", "targetId", "externalName", "externalType"];
const HNSW_KEYS: &[&str] = &[
    "dimensions",
    "distance-type",
    "neighbors-per-node",
    "indexing-search-count",
    "reparation-backlink-probability",
    "vector-cache-hint-size-kb",
    "flags",
];

/// Keys that only the pre-1.0 (January 2017) format has.
const PRE_1_0_TOP_KEYS: &[&str] = &[
    "metaVersion",
    "retiredEntityRefIds",
    "retiredPropertyRefIds",
];

/// The advice given with every unsupported-version error.
const REGENERATE: &str = "regenerate the model with a current ObjectBox generator";

/// Longest rendering of an offending value in a message, in characters.
const MAX_VALUE_CHARS: usize = 60;

/// Parses `bytes` into a model whose elements are individually well-formed.
pub(super) fn parse(bytes: &[u8], warnings: &mut Vec<String>) -> Result<Model, ModelError> {
    let bytes = match bytes.strip_prefix(b"\xEF\xBB\xBF") {
        Some(rest) => {
            warnings.push(
                "the model file starts with a UTF-8 byte order mark, which was skipped".into(),
            );
            rest
        }
        None => bytes,
    };
    let root = match crate::strict_json::from_slice(bytes, |_| false) {
        Ok(value) => value,
        Err(err) => return Err(json_error(bytes, &err)),
    };
    let Value::Object(root) = root else {
        return Err(ModelError::at(
            ModelErrorKind::Shape,
            "",
            format!(
                "the model file must hold a JSON object, found {}",
                kind_of(&root)
            ),
        ));
    };
    reject_pre_1_0(&root)?;
    let top = Obj {
        map: &root,
        path: String::new(),
    };
    top.warn_unknown(TOP_KEYS, warnings);

    let model_version = top.opt_u32("modelVersion")?;
    let parser_minimum = top.opt_u32("modelVersionParserMinimum")?;
    check_versions(model_version, parser_minimum)?;

    let entities = top.req_array("entities")?;
    let mut model = Model {
        last_entity_id: top.opt_last_id("lastEntityId")?,
        last_index_id: top.opt_last_id("lastIndexId")?,
        last_relation_id: top.opt_last_id("lastRelationId")?,
        last_sequence_id: top.opt_last_id("lastSequenceId")?,
        retired_entity_uids: top.uid_list("retiredEntityUids")?,
        retired_index_uids: top.uid_list("retiredIndexUids")?,
        retired_property_uids: top.uid_list("retiredPropertyUids")?,
        retired_relation_uids: top.uid_list("retiredRelationUids")?,
        new_uid_pool: top.uid_list("newUidPool")?,
        model_version,
        parser_minimum,
        version: top.opt_u64("version")?,
        entities: Vec::with_capacity(entities.len()),
    };
    if let Some(version) = model.version
        && version != 1
    {
        warnings.push(format!(
            "version: {version} is not 1 (the user version is not used by ObjectBox)"
        ));
    }
    for (i, value) in entities.iter().enumerate() {
        let entity = Obj::of(value, format!("entities[{i}]"))?;
        model.entities.push(parse_entity(&entity, warnings)?);
    }
    Ok(model)
}

/// Reads one entity object.
fn parse_entity(obj: &Obj<'_>, warnings: &mut Vec<String>) -> Result<Entity, ModelError> {
    obj.warn_unknown(ENTITY_KEYS, warnings);
    let id = obj.req_id("id")?;
    let name = obj.req_name("name", "entity")?;
    let flags = obj.opt_u32("flags")?.unwrap_or(0);
    if flags & !flags::entity::KNOWN != 0 {
        warnings.push(format!(
            "{}: entity {name} has unknown flag bits {:#x} (kept as they are)",
            obj.path_of("flags"),
            flags & !flags::entity::KNOWN
        ));
    }
    let last_property_id = obj.opt_last_id("lastPropertyId")?;
    let external_name = obj.opt_str("externalName")?;

    let mut properties = Vec::new();
    for (j, value) in obj.req_array("properties")?.iter().enumerate() {
        let property = Obj::of(value, obj.path_of(&format!("properties[{j}]")))?;
        properties.push(parse_property(&property, &name, warnings)?);
    }
    let mut relations = Vec::new();
    if let Some(list) = obj.opt_array("relations")? {
        for (j, value) in list.iter().enumerate() {
            let relation = Obj::of(value, obj.path_of(&format!("relations[{j}]")))?;
            relations.push(parse_relation(&relation, warnings)?);
        }
    }
    Ok(Entity {
        id,
        name,
        flags,
        last_property_id,
        properties,
        relations,
        external_name,
    })
}

/// Reads one property object of entity `entity`.
fn parse_property(
    obj: &Obj<'_>,
    entity: &str,
    warnings: &mut Vec<String>,
) -> Result<Property, ModelError> {
    obj.warn_unknown(PROPERTY_KEYS, warnings);
    let id = obj.req_id("id")?;
    let name = obj.req_name("name", "property")?;
    let ty = match obj.opt_u32("type")? {
        Some(code) => Some(PropertyType::from_code(code).ok_or_else(|| {
            let why = match code {
                0 => "0 (Unknown) is not a usable property type",
                14..=21 => "is a reserved property type code",
                _ => "is not a known property type code",
            };
            let value = if code == 0 {
                String::new()
            } else {
                format!("{code} ")
            };
            obj.error(
                ModelErrorKind::Invalid,
                "type",
                format!("{value}{why} (valid: 1-13, 22-32)"),
            )
        })?),
        None => {
            warnings.push(format!(
                "{}: property {entity}.{name} has no type (as in modelVersion 4 files); the server \
                 refuses values for it until the model is regenerated",
                obj.path
            ));
            None
        }
    };
    let flags = obj.opt_u32("flags")?.unwrap_or(0);
    if flags & !flags::KNOWN_PROPERTY_FLAGS != 0 {
        warnings.push(format!(
            "{}: property {entity}.{name} has unknown flag bits {:#x} (kept as they are)",
            obj.path_of("flags"),
            flags & !flags::KNOWN_PROPERTY_FLAGS
        ));
    }
    let index_id = obj.opt_id("indexId")?;
    let relation_target = obj.opt_str("relationTarget")?;
    let external_type = obj.opt_u32("externalType")?;
    let external_name = obj.opt_str("externalName")?;
    let hnsw = match obj.opt_object("hnswParams")? {
        Some(params) => {
            if ty != Some(PropertyType::FloatVector) {
                let ty = ty.map_or_else(|| "no type".to_owned(), |ty| format!("type {ty}"));
                return Err(obj.error(
                    ModelErrorKind::Invalid,
                    "hnswParams",
                    format!(
                        "property {entity}.{name} has {ty}, but an HNSW index needs a FloatVector"
                    ),
                ));
            }
            Some(parse_hnsw(&params, warnings)?)
        }
        None => None,
    };
    Ok(Property {
        id,
        name,
        ty,
        flags,
        index_id,
        relation_target,
        external_type,
        external_name,
        hnsw,
    })
}

/// Reads one standalone relation object.
fn parse_relation(obj: &Obj<'_>, warnings: &mut Vec<String>) -> Result<Relation, ModelError> {
    obj.warn_unknown(RELATION_KEYS, warnings);
    let id = obj.req_id("id")?;
    let name = obj.req_name("name", "relation")?;
    let target_id = match obj.get("targetId") {
        None => {
            return Err(obj.error(
                ModelErrorKind::Invalid,
                "",
                format!("standalone relation {name} has no targetId (the target entity's ID:UID)"),
            ));
        }
        Some(Value::String(s)) if s.is_empty() => {
            return Err(obj.error(
                ModelErrorKind::Invalid,
                "targetId",
                format!(
                    "\"\" is empty; standalone relation {name} needs its target entity's ID:UID"
                ),
            ));
        }
        Some(_) => obj.req_id("targetId")?,
    };
    let external_name = obj.opt_str("externalName")?;
    let external_type = obj.opt_u32("externalType")?;
    Ok(Relation {
        id,
        name,
        target_id,
        external_name,
        external_type,
    })
}

/// Reads an `hnswParams` object.
fn parse_hnsw(obj: &Obj<'_>, warnings: &mut Vec<String>) -> Result<HnswParams, ModelError> {
    obj.warn_unknown(HNSW_KEYS, warnings);
    let dimensions = obj.opt_u32("dimensions")?;
    if dimensions == Some(0) {
        return Err(obj.error(ModelErrorKind::Invalid, "dimensions", "0 is less than 1"));
    }
    let distance_type = match obj.opt_str("distance-type")? {
        Some(name) => Some(DistanceType::from_name(&name).ok_or_else(|| {
            let known: Vec<_> = DistanceType::ALL.iter().map(|d| d.name()).collect();
            obj.error(
                ModelErrorKind::Invalid,
                "distance-type",
                format!(
                    "\"{name}\" is not a known distance type (known: {})",
                    known.join(", ")
                ),
            )
        })?),
        None => None,
    };
    let reparation_backlink_probability = match obj.get("reparation-backlink-probability") {
        None => None,
        Some(value) => match value.as_f64() {
            Some(p) if (0.0..=1.0).contains(&p) => Some(p),
            _ => {
                return Err(obj.error(
                    ModelErrorKind::Shape,
                    "reparation-backlink-probability",
                    format!("{} is not a number from 0.0 to 1.0", render(value)),
                ));
            }
        },
    };
    let flags = obj.opt_u32("flags")?;
    if let Some(bits) = flags
        && bits & !flags::hnsw::KNOWN != 0
    {
        warnings.push(format!(
            "{}: unknown HNSW flag bits {:#x} (kept as they are)",
            obj.path_of("flags"),
            bits & !flags::hnsw::KNOWN
        ));
    }
    Ok(HnswParams {
        dimensions,
        distance_type,
        neighbors_per_node: obj.opt_u32("neighbors-per-node")?,
        indexing_search_count: obj.opt_u32("indexing-search-count")?,
        reparation_backlink_probability,
        vector_cache_hint_size_kb: obj.opt_u64("vector-cache-hint-size-kb")?,
        flags,
    })
}

/// Rejects the pre-1.0 format (numeric `id`s with a separate `refId`, `metaVersion`).
fn reject_pre_1_0(root: &Map<String, Value>) -> Result<(), ModelError> {
    let mut found = PRE_1_0_TOP_KEYS
        .iter()
        .find(|k| root.contains_key(**k))
        .map(|k| (*k).to_owned());
    if found.is_none()
        && let Some(Value::Array(entities)) = root.get("entities")
    {
        'outer: for (i, entity) in entities.iter().enumerate() {
            if entity.get("refId").is_some() {
                found = Some(format!("entities[{i}].refId"));
                break;
            }
            if let Some(Value::Array(properties)) = entity.get("properties") {
                for (j, property) in properties.iter().enumerate() {
                    if property.get("refId").is_some() {
                        found = Some(format!("entities[{i}].properties[{j}].refId"));
                        break 'outer;
                    }
                }
            }
        }
    }
    match found {
        Some(key) => Err(ModelError::at(
            ModelErrorKind::Version,
            "",
            format!(
                "pre-1.0 ObjectBox model format (found \"{key}\"; numeric ids with refId and \
                 metaVersion) is not supported; {REGENERATE}"
            ),
        )),
        None => Ok(()),
    }
}

/// Applies the version policy: `modelVersion` 4 and 5 are read; a newer one only when its
/// `modelVersionParserMinimum` says a version-5 parser can read it; a missing `modelVersion` only
/// with such a parser minimum (older Python binding output).
fn check_versions(version: Option<u32>, parser_minimum: Option<u32>) -> Result<(), ModelError> {
    let err =
        |path: &str, message: String| Err(ModelError::at(ModelErrorKind::Version, path, message));
    // A parser minimum of 0 says nothing, as for the Go generator.
    let parser_minimum = parser_minimum.filter(|&minimum| minimum > 0);
    if let Some(minimum) = parser_minimum
        && minimum > MODEL_VERSION
    {
        let version = version.map_or_else(|| "absent".to_owned(), |v| v.to_string());
        return err(
            "",
            format!(
                "modelVersionParserMinimum {minimum} is newer than this server's model parser (version {MODEL_VERSION}; \
                 modelVersion is {version}); upgrade the server or generate the model with an older \
                 ObjectBox generator"
            ),
        );
    }
    match (version, parser_minimum) {
        (Some(v), _) if v < MIN_MODEL_VERSION => {
            err("", format!("modelVersion {v} is too old; {REGENERATE}"))
        }
        (Some(v), None) if v > MODEL_VERSION => err(
            "",
            format!(
                "modelVersion {v} is newer than this server supports ({MODEL_VERSION}) and no \
                 modelVersionParserMinimum says it can be read by an older parser"
            ),
        ),
        (None, None) => err(
            "",
            format!(
                "modelVersion is missing (and there is no modelVersionParserMinimum); {REGENERATE}"
            ),
        ),
        _ => Ok(()),
    }
}

/// Builds the error for bytes that are not one valid JSON value.
fn json_error(bytes: &[u8], err: &serde_json::Error) -> ModelError {
    let (line, column) = (err.line(), err.column());
    let full = err.to_string();
    let suffix = format!(" at line {line} column {column}");
    let detail = full.strip_suffix(&suffix).unwrap_or(&full);
    let mut message =
        format!("model file is not valid JSON at line {line} column {column}: {detail}");
    if let Some(marker_line) = find_conflict_marker(bytes) {
        message.push_str(&format!(
            "; it looks like an unresolved merge conflict (\"<<<<<<<\" at line {marker_line}): \
             resolve it as the ObjectBox docs describe, keeping every UID"
        ));
    }
    ModelError::at(ModelErrorKind::Syntax, "", message)
}

/// The 1-based line of the first `<<<<<<<` conflict marker, if any.
fn find_conflict_marker(bytes: &[u8]) -> Option<usize> {
    let at = bytes.windows(7).position(|w| w == b"<<<<<<<")?;
    Some(1 + bytes[..at].iter().filter(|&&b| b == b'\n').count())
}

/// A JSON object being read, with its path for messages.
struct Obj<'a> {
    map: &'a Map<String, Value>,
    path: String,
}

impl<'a> Obj<'a> {
    /// Wraps `value`, which must be an object.
    fn of(value: &'a Value, path: String) -> Result<Self, ModelError> {
        match value {
            Value::Object(map) => Ok(Self { map, path }),
            other => Err(ModelError::at(
                ModelErrorKind::Shape,
                path,
                format!(
                    "{} is not an object (found {})",
                    render(other),
                    kind_of(other)
                ),
            )),
        }
    }

    fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key)
    }

    /// The path of `key` inside this object.
    fn path_of(&self, key: &str) -> String {
        match (self.path.is_empty(), key.is_empty()) {
            (_, true) => self.path.clone(),
            (true, false) => key.to_owned(),
            (false, false) if key.starts_with('[') => format!("{}{key}", self.path),
            (false, false) => format!("{}.{key}", self.path),
        }
    }

    fn error(&self, kind: ModelErrorKind, key: &str, message: impl Into<String>) -> ModelError {
        ModelError::at(kind, self.path_of(key), message)
    }

    fn wrong_type(&self, key: &str, value: &Value, expected: &str) -> ModelError {
        self.error(
            ModelErrorKind::Shape,
            key,
            format!(
                "{} is not {expected} (found {})",
                render(value),
                kind_of(value)
            ),
        )
    }

    /// Warns about keys outside `known`; `_note*` comment keys are silently ignored.
    fn warn_unknown(&self, known: &[&str], warnings: &mut Vec<String>) {
        for key in self.map.keys() {
            if !key.starts_with("_note") && !known.contains(&key.as_str()) {
                warnings.push(format!("{}: unknown key, ignored", self.path_of(key)));
            }
        }
    }

    fn req_array(&self, key: &str) -> Result<&'a Vec<Value>, ModelError> {
        self.opt_array(key)?
            .ok_or_else(|| self.error(ModelErrorKind::Shape, key, "missing (an array is required)"))
    }

    fn opt_array(&self, key: &str) -> Result<Option<&'a Vec<Value>>, ModelError> {
        match self.get(key) {
            None => Ok(None),
            // Go writes a nil slice as null (`"retiredRelationUids": null` in a real file).
            Some(Value::Null) if key != "entities" && key != "properties" => Ok(None),
            Some(Value::Array(items)) => Ok(Some(items)),
            Some(other) => Err(self.wrong_type(key, other, "an array")),
        }
    }

    fn opt_object(&self, key: &str) -> Result<Option<Obj<'a>>, ModelError> {
        self.get(key)
            .map(|value| Obj::of(value, self.path_of(key)))
            .transpose()
    }

    fn opt_str(&self, key: &str) -> Result<Option<String>, ModelError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(self.wrong_type(key, other, "a string")),
        }
    }

    /// A required, non-empty name of an element of kind `what`.
    fn req_name(&self, key: &str, what: &str) -> Result<String, ModelError> {
        match self.opt_str(key)? {
            None => Err(self.error(
                ModelErrorKind::Shape,
                key,
                format!("missing; every {what} needs a name"),
            )),
            Some(name) if name.trim().is_empty() => Err(self.error(
                ModelErrorKind::Invalid,
                key,
                format!(
                    "{} is empty; every {what} needs a name",
                    render(&Value::String(name))
                ),
            )),
            Some(name) => Ok(name),
        }
    }

    fn opt_u64(&self, key: &str) -> Result<Option<u64>, ModelError> {
        match self.get(key) {
            None => Ok(None),
            Some(value) => value
                .as_u64()
                .map(Some)
                .ok_or_else(|| self.wrong_type(key, value, "a non-negative integer")),
        }
    }

    fn opt_u32(&self, key: &str) -> Result<Option<u32>, ModelError> {
        let Some(value) = self.opt_u64(key)? else {
            return Ok(None);
        };
        u32::try_from(value).map(Some).map_err(|_| {
            self.error(
                ModelErrorKind::Shape,
                key,
                format!("{value} is out of range (at most {})", u32::MAX),
            )
        })
    }

    /// A required ID:UID string (never "none").
    fn req_id(&self, key: &str) -> Result<IdUid, ModelError> {
        self.opt_id(key)?.ok_or_else(|| {
            self.error(
                ModelErrorKind::Shape,
                key,
                "missing (an \"ID:UID\" string is required)",
            )
        })
    }

    /// An optional ID:UID string; when present it must be a real pair, not `""` or `"0:0"`.
    fn opt_id(&self, key: &str) -> Result<Option<IdUid>, ModelError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => s
                .parse::<IdUid>()
                .map(Some)
                .map_err(|e| self.error(ModelErrorKind::Shape, key, e.to_string())),
            Some(other) => Err(self.wrong_type(key, other, "an \"ID:UID\" string")),
        }
    }

    /// A `last*Id` value, where absent, `""` and `"0:0"` all mean none.
    fn opt_last_id(&self, key: &str) -> Result<Option<IdUid>, ModelError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => IdUid::parse_optional(s)
                .map_err(|e| self.error(ModelErrorKind::Shape, key, e.to_string())),
            Some(other) => Err(self.wrong_type(key, other, "an \"ID:UID\" string")),
        }
    }

    /// A list of UIDs (JSON numbers up to `u64::MAX`, never 0); absent or null means empty.
    fn uid_list(&self, key: &str) -> Result<Vec<u64>, ModelError> {
        let Some(items) = self.opt_array(key)? else {
            return Ok(Vec::new());
        };
        items
            .iter()
            .enumerate()
            .map(|(i, value)| match value.as_u64() {
                Some(uid) if uid > 0 => Ok(uid),
                _ => Err(self.error(
                    ModelErrorKind::Shape,
                    &format!("{key}[{i}]"),
                    format!(
                        "{} is not a UID (an integer from 1 to {})",
                        render(value),
                        u64::MAX
                    ),
                )),
            })
            .collect()
    }
}

/// A compact, length-limited rendering of a JSON value for messages.
fn render(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() <= MAX_VALUE_CHARS {
        return text;
    }
    let cut: String = text.chars().take(MAX_VALUE_CHARS).collect();
    format!("{cut}...")
}

/// The JSON type of `value`, with an article, for messages.
fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a fractional number",
        Value::Number(n) if n.is_i64() && !n.is_u64() => "a negative number",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
