//! Converts objects between JSON keyed by property name and stored values keyed by property id.
//!
//! The JSON forms, by property type: integers (Byte, Short, Char, Int, Long) as JSON integers
//! within the type's range (a Char may also be a one-character string); Float and Double as
//! numbers; Bool as `true`/`false`; String as a string; Date and DateNano as integer milliseconds
//! and nanoseconds since the Unix epoch; a to-one Relation as the target's local id (0 or `null`
//! for none); ByteVector as a base64 string (or an array of byte values); the other vectors as
//! arrays of their element form; Flex as any JSON value. `null` (or a missing key) is "no value".
//!
//! Architecture invariant: this module knows property types and names, never ids of other
//! peers: relation values stay local ids here, and `store` maps them to global ids.

#[cfg(test)]
mod tests;

use base64::Engine as _;
use serde_json::{Map, Number, Value as Json};
use shared_types::value::Value;
use sync_model::{Entity, Property, PropertyType, flags};

/// An object's stored values: `(property id, value)` pairs without the ID property.
pub type Props = Vec<(u32, Value)>;

/// Why a JSON object does not fit an entity.
#[derive(Debug, thiserror::Error, PartialEq)]
#[non_exhaustive]
pub enum Error {
    #[error("{entity}: expected a JSON object, found {found}")]
    NotAnObject { entity: String, found: String },
    #[error("{entity} has no property {property:?}")]
    UnknownProperty { entity: String, property: String },
    #[error("{entity}.{property} ({ty}): expected {expected}, found {found}")]
    WrongType {
        entity: String,
        property: String,
        ty: &'static str,
        expected: &'static str,
        found: String,
    },
    #[error("{entity}.{property} ({ty}): value {value} is out of range {min}..={max}")]
    OutOfRange {
        entity: String,
        property: String,
        ty: &'static str,
        value: String,
        min: i128,
        max: i128,
    },
    #[error("{entity}.{property} has no type in the model and cannot hold a value")]
    Untyped { entity: String, property: String },
    #[error("{entity}.{property} (ByteVector): invalid base64: {message}")]
    Base64 {
        entity: String,
        property: String,
        message: String,
    },
}

/// Converts a JSON object to the object's id (`None` when absent, `null` or 0) and its stored
/// values, in the entity's property order, without the ID property. Keys match property names
/// ignoring case; properties missing from the JSON are stored as null.
pub fn object_from_json(entity: &Entity, json: &Json) -> Result<(Option<u64>, Props), Error> {
    let Json::Object(fields) = json else {
        return Err(Error::NotAnObject {
            entity: entity.name.clone(),
            found: excerpt(json),
        });
    };
    let mut id = None;
    let mut given: Vec<(&Property, &Json)> = Vec::with_capacity(fields.len());
    for (key, value) in fields {
        let property = entity
            .property_by_name(key)
            .ok_or_else(|| Error::UnknownProperty {
                entity: entity.name.clone(),
                property: key.clone(),
            })?;
        if property.is_id() {
            id = id_from_json(entity, property, value)?;
        } else {
            given.push((property, value));
        }
    }
    let mut props = Vec::with_capacity(entity.properties.len());
    for property in entity.properties.iter().filter(|p| !p.is_id()) {
        let value = match given.iter().find(|(p, _)| p.id.id == property.id.id) {
            Some((_, json)) => value_from_json(entity, property, json)?,
            None => Value::Null,
        };
        props.push((property.id.id, value));
    }
    Ok((id, props))
}

/// Converts an object's id and stored values to a JSON object with every property of the entity
/// (the ID property first, `null` for missing values). Values of unknown property ids are left
/// out; a value that does not match its property's type is shown in its generic JSON form.
pub fn object_to_json(entity: &Entity, id: u64, props: &[(u32, Value)]) -> Map<String, Json> {
    let mut out = Map::new();
    for property in &entity.properties {
        if property.is_id() {
            out.insert(property.name.clone(), Json::from(id));
            continue;
        }
        let json = props
            .iter()
            .find(|(pid, _)| *pid == property.id.id)
            .map_or(Json::Null, |(_, v)| value_to_json(property, v));
        out.insert(property.name.clone(), json);
    }
    out
}

/// The JSON text of an object with its keys in the model's property order (the ID property
/// first in generated models), then any other keys. `serde_json`'s map sorts keys by name.
pub fn to_ordered_string(entity: &Entity, object: &Map<String, Json>) -> String {
    let mut parts = Vec::with_capacity(object.len());
    let mut done = Vec::with_capacity(object.len());
    for property in &entity.properties {
        if let Some((key, value)) = object.get_key_value(&property.name) {
            parts.push(format!("{}:{value}", Json::String(key.clone())));
            done.push(key.as_str());
        }
    }
    for (key, value) in object {
        if !done.contains(&key.as_str()) {
            parts.push(format!("{}:{value}", Json::String(key.clone())));
        }
    }
    format!("{{{}}}", parts.join(","))
}

/// Converts one stored value to JSON by its property's type.
pub fn value_to_json(property: &Property, value: &Value) -> Json {
    let unsigned = property.flags & flags::UNSIGNED != 0;
    match (property.ty, value) {
        (Some(PropertyType::ByteVector), Value::Bytes(b)) => {
            Json::String(base64::engine::general_purpose::STANDARD.encode(b))
        }
        (Some(PropertyType::Long), Value::Int(i)) if unsigned && *i < 0 => Json::from(*i as u64),
        (Some(PropertyType::Relation), Value::Int(i)) => Json::from(*i as u64),
        (Some(PropertyType::LongVector), Value::List(items)) if unsigned => Json::Array(
            items
                .iter()
                .map(|v| match v {
                    Value::Int(i) if *i < 0 => Json::from(*i as u64),
                    other => generic_to_json(other),
                })
                .collect(),
        ),
        (_, other) => generic_to_json(other),
    }
}

/// Converts a stored value to JSON without knowing its type (Flex, or a mismatched value).
/// Bytes become base64; floats that JSON cannot hold (NaN, infinities) become `null`.
pub fn generic_to_json(value: &Value) -> Json {
    match value {
        Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(i) => Json::from(*i),
        Value::Float(f) => Number::from_f64(*f).map_or(Json::Null, Json::Number),
        Value::String(s) => Json::String(s.clone()),
        Value::Bytes(b) => Json::String(base64::engine::general_purpose::STANDARD.encode(b)),
        Value::List(items) => Json::Array(items.iter().map(generic_to_json).collect()),
        Value::Map(entries) => Json::Object(
            entries
                .iter()
                .map(|(k, v)| (k.clone(), generic_to_json(v)))
                .collect(),
        ),
    }
}

/// Converts one JSON value to the stored value of `property` of `entity`.
pub fn value_from_json(entity: &Entity, property: &Property, json: &Json) -> Result<Value, Error> {
    if json.is_null() {
        return Ok(Value::Null);
    }
    let Some(ty) = property.ty else {
        return Err(Error::Untyped {
            entity: entity.name.clone(),
            property: property.name.clone(),
        });
    };
    let cx = Cx {
        entity,
        property,
        ty,
    };
    use PropertyType as T;
    match ty {
        T::Bool => cx.bool(json).map(Value::Bool),
        T::Byte | T::Short | T::Char | T::Int | T::Long | T::Date | T::DateNano => {
            cx.int(ty, json).map(Value::Int)
        }
        T::Relation => {
            let id = cx.int(ty, json)?;
            Ok(if id == 0 { Value::Null } else { Value::Int(id) })
        }
        T::Float | T::Double => cx.float(ty, json).map(Value::Float),
        T::String => cx.string(json).map(Value::String),
        T::Flex => Ok(flex_from_json(json)),
        T::ByteVector => cx.bytes(json).map(Value::Bytes),
        T::BoolVector => cx.list(json, |j| cx.bool(j).map(Value::Bool)),
        T::ShortVector => cx.list(json, |j| cx.int(T::Short, j).map(Value::Int)),
        T::CharVector => cx.list(json, |j| cx.int(T::Char, j).map(Value::Int)),
        T::IntVector => cx.list(json, |j| cx.int(T::Int, j).map(Value::Int)),
        T::LongVector => cx.list(json, |j| cx.int(T::Long, j).map(Value::Int)),
        T::DateVector => cx.list(json, |j| cx.int(T::Date, j).map(Value::Int)),
        T::DateNanoVector => cx.list(json, |j| cx.int(T::DateNano, j).map(Value::Int)),
        T::FloatVector => cx.list(json, |j| cx.float(T::Float, j).map(Value::Float)),
        T::DoubleVector => cx.list(json, |j| cx.float(T::Double, j).map(Value::Float)),
        T::StringVector => cx.list(json, |j| cx.string(j).map(Value::String)),
        // `PropertyType` is non-exhaustive: a type added later is kept as generic JSON.
        _ => Ok(flex_from_json(json)),
    }
}

/// The inclusive range of JSON integers an integer type accepts: signed or unsigned values of
/// its width (the model's UNSIGNED flag only changes how values are shown).
fn int_range(ty: PropertyType) -> (i128, i128) {
    match ty {
        PropertyType::Byte => (i128::from(i8::MIN), i128::from(u8::MAX)),
        PropertyType::Short => (i128::from(i16::MIN), i128::from(u16::MAX)),
        PropertyType::Char => (0, i128::from(u16::MAX)),
        PropertyType::Int => (i128::from(i32::MIN), i128::from(u32::MAX)),
        PropertyType::Relation => (0, i128::from(u64::MAX)),
        _ => (i128::from(i64::MIN), i128::from(u64::MAX)),
    }
}

/// The conversion context: names for error messages.
struct Cx<'a> {
    entity: &'a Entity,
    property: &'a Property,
    ty: PropertyType,
}

impl Cx<'_> {
    fn wrong(&self, expected: &'static str, json: &Json) -> Error {
        Error::WrongType {
            entity: self.entity.name.clone(),
            property: self.property.name.clone(),
            ty: self.ty.name(),
            expected,
            found: excerpt(json),
        }
    }

    fn bool(&self, json: &Json) -> Result<bool, Error> {
        json.as_bool()
            .ok_or_else(|| self.wrong("true or false", json))
    }

    fn string(&self, json: &Json) -> Result<String, Error> {
        json.as_str()
            .map(str::to_owned)
            .ok_or_else(|| self.wrong("a string", json))
    }

    /// An integer of `ty`'s range, stored as i64 (u64 above `i64::MAX` as two's complement).
    fn int(&self, ty: PropertyType, json: &Json) -> Result<i64, Error> {
        let value: i128 = match json {
            Json::Number(n) => {
                if let Some(i) = n.as_i64() {
                    i128::from(i)
                } else if let Some(u) = n.as_u64() {
                    i128::from(u)
                } else {
                    return Err(self.wrong("an integer", json));
                }
            }
            Json::String(s) if ty == PropertyType::Char => {
                let mut units = s.encode_utf16();
                match (units.next(), units.next()) {
                    (Some(unit), None) => i128::from(unit),
                    _ => return Err(self.wrong("an integer or a one-character string", json)),
                }
            }
            _ => return Err(self.wrong("an integer", json)),
        };
        let (min, max) = int_range(ty);
        if value < min || value > max {
            return Err(Error::OutOfRange {
                entity: self.entity.name.clone(),
                property: self.property.name.clone(),
                ty: self.ty.name(),
                value: value.to_string(),
                min,
                max,
            });
        }
        // Values above i64::MAX are u64 and travel as their two's complement.
        Ok(value as i64)
    }

    fn float(&self, ty: PropertyType, json: &Json) -> Result<f64, Error> {
        let value = json.as_f64().ok_or_else(|| self.wrong("a number", json))?;
        if ty == PropertyType::Float && value.is_finite() && value.abs() > f64::from(f32::MAX) {
            return Err(self.wrong("a number within the 32-bit float range", json));
        }
        Ok(value)
    }

    fn bytes(&self, json: &Json) -> Result<Vec<u8>, Error> {
        match json {
            Json::String(s) => base64::engine::general_purpose::STANDARD
                .decode(s)
                .map_err(|e| Error::Base64 {
                    entity: self.entity.name.clone(),
                    property: self.property.name.clone(),
                    message: e.to_string(),
                }),
            Json::Array(items) => items
                .iter()
                .map(|j| self.int(PropertyType::Byte, j).map(|b| b as u8))
                .collect(),
            _ => Err(self.wrong("a base64 string or an array of bytes", json)),
        }
    }

    fn list(
        &self,
        json: &Json,
        element: impl Fn(&Json) -> Result<Value, Error>,
    ) -> Result<Value, Error> {
        let Json::Array(items) = json else {
            return Err(self.wrong("an array", json));
        };
        items
            .iter()
            .map(element)
            .collect::<Result<_, _>>()
            .map(Value::List)
    }
}

/// Flex takes any JSON: integers stay integers (u64 above `i64::MAX` becomes a float).
fn flex_from_json(json: &Json) -> Value {
    match json {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Json::String(s) => Value::String(s.clone()),
        Json::Array(items) => Value::List(items.iter().map(flex_from_json).collect()),
        Json::Object(fields) => Value::Map(
            fields
                .iter()
                .map(|(k, v)| (k.clone(), flex_from_json(v)))
                .collect(),
        ),
    }
}

/// The id of an object given in JSON: a non-negative integer, 0 or `null` for "new".
fn id_from_json(entity: &Entity, property: &Property, json: &Json) -> Result<Option<u64>, Error> {
    match json {
        Json::Null => Ok(None),
        Json::Number(n) => match n.as_u64() {
            Some(0) => Ok(None),
            Some(id) => Ok(Some(id)),
            None => Err(id_error(entity, property, json)),
        },
        _ => Err(id_error(entity, property, json)),
    }
}

fn id_error(entity: &Entity, property: &Property, json: &Json) -> Error {
    Error::WrongType {
        entity: entity.name.clone(),
        property: property.name.clone(),
        ty: "Long",
        expected: "a non-negative integer id (0 or absent for a new object)",
        found: excerpt(json),
    }
}

/// The JSON text of a value, shortened for error messages.
fn excerpt(json: &Json) -> String {
    const MAX: usize = 60;
    let text = json.to_string();
    if text.len() <= MAX {
        return text;
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}
