//! Checks that relate several elements of a parsed model: uniqueness, last IDs, the ID property, references and sync flags.
//!
//! Runs after `parse`, so every element is well-formed on its own. Paths in messages are rebuilt
//! from element positions, which are the positions in the file.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use super::flags;
use super::{Entity, IdUid, Model, ModelError, ModelErrorKind, PropertyType};

/// Validates `model` in place; the only change made is giving the Go-style implicit ID property
/// (the one named `id` when no property has the ID flag) its ID flag.
pub(super) fn validate(model: &mut Model, warnings: &mut Vec<String>) -> Result<(), ModelError> {
    check_unique_ids_and_names(model)?;
    check_unique_uids(model, warnings)?;
    check_last_ids(model, warnings)?;
    for (i, entity) in model.entities.iter_mut().enumerate() {
        choose_id_property(i, entity, warnings)?;
    }
    for (i, entity) in model.entities.iter().enumerate() {
        check_properties(model, i, entity, warnings)?;
        check_relations(model, i, entity, warnings)?;
    }
    warn_id_gaps(model, warnings);
    Ok(())
}

/// Entity IDs and names across the model; property IDs and names, and relation names, within
/// each entity; index and relation IDs across the model.
fn check_unique_ids_and_names(model: &Model) -> Result<(), ModelError> {
    let mut ids = HashMap::new();
    let mut names = HashMap::new();
    for (i, entity) in model.entities.iter().enumerate() {
        if let Some(j) = ids.insert(entity.id.id, i) {
            let other = &model.entities[j];
            return Err(invalid(
                format!("entities[{i}].id"),
                format!(
                    "\"{}\" duplicates ID {} of entity {} (entities[{j}].id \"{}\")",
                    entity.id, entity.id.id, other.name, other.id
                ),
            ));
        }
        if let Some(j) = names.insert(entity.name.to_lowercase(), i) {
            return Err(invalid(
                format!("entities[{i}].name"),
                format!(
                    "\"{}\" duplicates the name of entity {} (entities[{j}]); names are compared ignoring case",
                    entity.name, model.entities[j].name
                ),
            ));
        }
        check_entity_members_unique(i, entity)?;
    }

    let mut index_ids: HashMap<u32, String> = HashMap::new();
    let mut relation_ids: HashMap<u32, String> = HashMap::new();
    for (i, entity) in model.entities.iter().enumerate() {
        for (j, property) in entity.properties.iter().enumerate() {
            let Some(index_id) = property.index_id else {
                continue;
            };
            let label = format!("property {}.{}", entity.name, property.name);
            if let Some(other) = index_ids.insert(index_id.id, label) {
                return Err(invalid(
                    format!("entities[{i}].properties[{j}].indexId"),
                    format!(
                        "\"{index_id}\" duplicates index ID {} of {other}",
                        index_id.id
                    ),
                ));
            }
        }
        for (j, relation) in entity.relations.iter().enumerate() {
            let label = format!("relation {}.{}", entity.name, relation.name);
            if let Some(other) = relation_ids.insert(relation.id.id, label) {
                return Err(invalid(
                    format!("entities[{i}].relations[{j}].id"),
                    format!(
                        "\"{}\" duplicates relation ID {} of {other}",
                        relation.id, relation.id.id
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Property IDs and names, and relation names, within entity `i`.
fn check_entity_members_unique(i: usize, entity: &Entity) -> Result<(), ModelError> {
    let mut ids = HashMap::new();
    let mut names = HashMap::new();
    for (j, property) in entity.properties.iter().enumerate() {
        if let Some(k) = ids.insert(property.id.id, j) {
            let other = &entity.properties[k];
            return Err(invalid(
                format!("entities[{i}].properties[{j}].id"),
                format!(
                    "\"{}\" duplicates ID {} of property {}.{} (properties[{k}].id \"{}\")",
                    property.id, property.id.id, entity.name, other.name, other.id
                ),
            ));
        }
        if let Some(k) = names.insert(property.name.to_lowercase(), j) {
            return Err(invalid(
                format!("entities[{i}].properties[{j}].name"),
                format!(
                    "\"{}\" duplicates the name of property {}.{} (properties[{k}]); names are \
                     compared ignoring case",
                    property.name, entity.name, entity.properties[k].name
                ),
            ));
        }
    }
    let mut names = HashMap::new();
    for (j, relation) in entity.relations.iter().enumerate() {
        if let Some(k) = names.insert(relation.name.to_lowercase(), j) {
            return Err(invalid(
                format!("entities[{i}].relations[{j}].name"),
                format!(
                    "\"{}\" duplicates the name of relation {}.{} (relations[{k}]); names are \
                     compared ignoring case",
                    relation.name, entity.name, entity.relations[k].name
                ),
            ));
        }
    }
    Ok(())
}

/// Every live UID is used once, and never one that is retired. A live UID may be in
/// `newUidPool`: the pool reserves UIDs that later get used (Swift `model19`).
fn check_unique_uids(model: &Model, warnings: &mut Vec<String>) -> Result<(), ModelError> {
    let mut retired: HashMap<u64, String> = HashMap::new();
    for (key, list) in retired_lists(model) {
        for (n, &uid) in list.iter().enumerate() {
            let path = format!("{key}[{n}]");
            match retired.entry(uid) {
                Entry::Occupied(first) => warnings.push(format!(
                    "{path}: UID {uid} is retired more than once (also {})",
                    first.get()
                )),
                Entry::Vacant(slot) => {
                    slot.insert(path);
                }
            }
        }
    }

    let mut live: HashMap<u64, (String, String)> = HashMap::new();
    let mut claim = |id: IdUid, path: String, label: String| -> Result<(), ModelError> {
        if let Some(retired_at) = retired.get(&id.uid) {
            return Err(invalid(
                path,
                format!(
                    "\"{id}\" reuses UID {}, which is retired ({retired_at}); retired UIDs must never be reused",
                    id.uid
                ),
            ));
        }
        match live.entry(id.uid) {
            Entry::Occupied(first) => {
                let (other_label, other_path) = first.get();
                Err(invalid(
                    path,
                    format!(
                        "\"{id}\" reuses UID {} of {other_label} ({other_path}); UIDs must be unique across the model",
                        id.uid
                    ),
                ))
            }
            Entry::Vacant(slot) => {
                slot.insert((label, path));
                Ok(())
            }
        }
    };
    for (i, entity) in model.entities.iter().enumerate() {
        claim(
            entity.id,
            format!("entities[{i}].id"),
            format!("entity {}", entity.name),
        )?;
        for (j, property) in entity.properties.iter().enumerate() {
            let base = format!("entities[{i}].properties[{j}]");
            let label = format!("{}.{}", entity.name, property.name);
            claim(
                property.id,
                format!("{base}.id"),
                format!("property {label}"),
            )?;
            if let Some(index_id) = property.index_id {
                claim(
                    index_id,
                    format!("{base}.indexId"),
                    format!("the index of {label}"),
                )?;
            }
        }
        for (j, relation) in entity.relations.iter().enumerate() {
            let label = format!("relation {}.{}", entity.name, relation.name);
            claim(
                relation.id,
                format!("entities[{i}].relations[{j}].id"),
                label,
            )?;
        }
    }
    Ok(())
}

/// `lastEntityId`, each `lastPropertyId`, `lastIndexId` and `lastRelationId`: at least every ID
/// in use, and the element with that ID must have that UID.
///
/// When no element has that ID, the UID should be a retired one of the same kind (Go, Java and
/// Dart insist). A real file (the Rust binding experiment) has a `lastIndexId` with no index and
/// the UID of its ID property, so that case is only a warning.
fn check_last_ids(model: &Model, warnings: &mut Vec<String>) -> Result<(), ModelError> {
    let mut live = HashMap::new();
    let mut entities = Vec::new();
    let mut indexes = Vec::new();
    let mut relations = Vec::new();
    for entity in &model.entities {
        let label = format!("entity {}", entity.name);
        live.insert(entity.id.uid, label.clone());
        entities.push((entity.id, label));
        for property in &entity.properties {
            live.insert(
                property.id.uid,
                format!("property {}.{}", entity.name, property.name),
            );
            if let Some(index_id) = property.index_id {
                let label = format!("the index of {}.{}", entity.name, property.name);
                live.insert(index_id.uid, label.clone());
                indexes.push((index_id, label));
            }
        }
        for relation in &entity.relations {
            let label = format!("relation {}.{}", entity.name, relation.name);
            live.insert(relation.id.uid, label.clone());
            relations.push((relation.id, label));
        }
    }
    let mut check = |path: &str, last, elements: &[(IdUid, String)], kind: Kind| {
        check_last(
            &LastId {
                path,
                last,
                elements,
                kind,
            },
            model,
            &live,
            warnings,
        )
    };
    check(
        "lastEntityId",
        model.last_entity_id,
        &entities,
        Kind::Entity,
    )?;
    for (i, entity) in model.entities.iter().enumerate() {
        let properties: Vec<_> = entity
            .properties
            .iter()
            .map(|p| (p.id, format!("property {}.{}", entity.name, p.name)))
            .collect();
        check(
            &format!("entities[{i}].lastPropertyId"),
            entity.last_property_id,
            &properties,
            Kind::Property,
        )?;
    }
    check("lastIndexId", model.last_index_id, &indexes, Kind::Index)?;
    check(
        "lastRelationId",
        model.last_relation_id,
        &relations,
        Kind::Relation,
    )
}

/// The kinds of element that have a last ID and a retired list.
#[derive(Clone, Copy)]
enum Kind {
    Entity,
    Property,
    Index,
    Relation,
}

/// One `last*Id` value at `path`, with the live `elements` (ID:UID and label) of its scope.
struct LastId<'a> {
    path: &'a str,
    last: Option<IdUid>,
    elements: &'a [(IdUid, String)],
    kind: Kind,
}

fn check_last(
    last_id: &LastId<'_>,
    model: &Model,
    live: &HashMap<u64, String>,
    warnings: &mut Vec<String>,
) -> Result<(), ModelError> {
    let LastId {
        path,
        last,
        elements,
        kind,
    } = *last_id;
    let (noun, retired_key, retired) = match kind {
        Kind::Entity => ("entity", "retiredEntityUids", &model.retired_entity_uids),
        Kind::Property => (
            "property",
            "retiredPropertyUids",
            &model.retired_property_uids,
        ),
        Kind::Index => ("index", "retiredIndexUids", &model.retired_index_uids),
        Kind::Relation => (
            "relation",
            "retiredRelationUids",
            &model.retired_relation_uids,
        ),
    };
    let highest = elements.iter().max_by_key(|(id, _)| id.id);
    let last = match (last, highest) {
        (None, None) => return Ok(()),
        (None, Some((id, label))) => {
            return Err(invalid(
                path,
                format!(
                    "is unset (absent, \"\" or \"0:0\") but {label} has ID:UID \"{id}\"; it must be at least that"
                ),
            ));
        }
        (Some(last), Some((id, label))) if last.id < id.id => {
            return Err(invalid(
                path,
                format!(
                    "\"{last}\": ID {} is lower than ID {} of {label}",
                    last.id, id.id
                ),
            ));
        }
        (Some(last), _) => last,
    };
    match elements.iter().find(|(id, _)| id.id == last.id) {
        Some((id, label)) if id.uid != last.uid => Err(invalid(
            path,
            format!(
                "\"{last}\" has the ID of {label} but not its UID (\"{id}\"); inconsistent last UID"
            ),
        )),
        Some(_) => Ok(()),
        None if retired.contains(&last.uid) => Ok(()),
        None => {
            let used_by = live
                .get(&last.uid)
                .map_or_else(String::new, |other| format!(" (it is the UID of {other})"));
            warnings.push(format!(
                "{path}: \"{last}\" doesn't match any {noun} with ID {}, and UID {} is not in \
                 {retired_key}{used_by}; tolerated",
                last.id, last.uid
            ));
            Ok(())
        }
    }
}

/// Exactly one ID property of type Long; when none has the ID flag, the single property named
/// `id` (ignoring case) becomes it, as the Go generator decides.
fn choose_id_property(
    i: usize,
    entity: &mut Entity,
    warnings: &mut Vec<String>,
) -> Result<(), ModelError> {
    let flagged: Vec<usize> = (0..entity.properties.len())
        .filter(|&j| entity.properties[j].is_id())
        .collect();
    let j = match flagged.as_slice() {
        [j] => *j,
        [] => {
            let named: Vec<usize> = (0..entity.properties.len())
                .filter(|&j| entity.properties[j].name.eq_ignore_ascii_case("id"))
                .collect();
            let [j] = named.as_slice() else {
                return Err(invalid(
                    format!("entities[{i}].properties"),
                    format!(
                        "entity {} has no ID property: no property has flag ID (1) and none is named \"id\"",
                        entity.name
                    ),
                ));
            };
            let property = &mut entity.properties[*j];
            property.flags |= flags::ID;
            warnings.push(format!(
                "entities[{i}].properties[{j}]: no property of entity {} has flag ID (1); using \
                 property {} as the ID, as the Go generator does",
                entity.name, property.name
            ));
            *j
        }
        [first, second, ..] => {
            return Err(invalid(
                format!("entities[{i}].properties[{second}].flags"),
                format!(
                    "property {}.{} is a second ID property (after {}); an entity has exactly one",
                    entity.name, entity.properties[*second].name, entity.properties[*first].name
                ),
            ));
        }
    };
    let property = &entity.properties[j];
    if let Some(ty) = property.ty
        && ty != PropertyType::Long
    {
        return Err(invalid(
            format!("entities[{i}].properties[{j}].type"),
            format!(
                "{} ({ty}) is not Long (6), but {}.{} is the ID property",
                ty.code(),
                entity.name,
                property.name
            ),
        ));
    }
    if property.flags & flags::UNSIGNED != 0 {
        warnings.push(format!(
            "entities[{i}].properties[{j}].flags: ID property {}.{} has flag UNSIGNED (old Go generator output)",
            entity.name, property.name
        ));
    }
    Ok(())
}

/// Per-property rules of entity `i`: relation targets, sync flags, unique/replace and index flags.
fn check_properties(
    model: &Model,
    i: usize,
    entity: &Entity,
    warnings: &mut Vec<String>,
) -> Result<(), ModelError> {
    let mut clock: Option<&str> = None;
    let mut precedence: Option<&str> = None;
    let mut replace: Option<&str> = None;
    for (j, property) in entity.properties.iter().enumerate() {
        let path = format!("entities[{i}].properties[{j}]");
        let label = format!("{}.{}", entity.name, property.name);
        let flags = property.flags;

        match (&property.relation_target, property.ty) {
            (None, Some(PropertyType::Relation)) => {
                return Err(invalid(
                    path,
                    format!("to-one relation property {label} (type 11) has no relationTarget"),
                ));
            }
            (Some(target), ty) => {
                if model.entity_by_name(target).is_none() {
                    return Err(invalid(
                        format!("{path}.relationTarget"),
                        format!("\"{target}\" names no entity in the model (property {label})"),
                    ));
                }
                if let Some(ty) = ty.filter(|&ty| ty != PropertyType::Relation) {
                    warnings.push(format!(
                        "{path}.relationTarget: property {label} has a relationTarget but type {ty}, not Relation"
                    ));
                }
            }
            (None, _) => {}
        }
        if property.ty == Some(PropertyType::Relation) && flags & flags::UNSIGNED != 0 {
            warnings.push(format!(
                "{path}.flags: relation property {label} has flag UNSIGNED (old Go generator output)"
            ));
        }

        for (bit, bit_name, seen) in [
            (flags::SYNC_CLOCK, "SYNC_CLOCK", &mut clock),
            (flags::SYNC_PRECEDENCE, "SYNC_PRECEDENCE", &mut precedence),
        ] {
            if flags & bit == 0 {
                continue;
            }
            if let Some(first) = seen {
                return Err(invalid(
                    format!("{path}.flags"),
                    format!(
                        "property {label} is a second {bit_name} property (after {first}); at most one per entity"
                    ),
                ));
            }
            *seen = Some(&property.name);
            if property.ty != Some(PropertyType::Long) {
                let ty = property
                    .ty
                    .map_or_else(|| "no type".to_owned(), |ty| format!("type {ty}"));
                return Err(invalid(
                    format!("{path}.flags"),
                    format!("property {label} has flag {bit_name} but {ty}; it must be Long (6)"),
                ));
            }
            if !entity.is_sync_enabled() {
                return Err(invalid(
                    format!("{path}.flags"),
                    format!(
                        "property {label} has flag {bit_name}, but entity {} is not sync-enabled (flag SYNC_ENABLED, 2)",
                        entity.name
                    ),
                ));
            }
        }

        if flags & flags::UNIQUE_ON_CONFLICT_REPLACE != 0 {
            if let Some(first) = replace {
                return Err(invalid(
                    format!("{path}.flags"),
                    format!(
                        "property {label} is a second UNIQUE_ON_CONFLICT_REPLACE property (after {first}); at most one per entity"
                    ),
                ));
            }
            replace = Some(&property.name);
        }
        if entity.is_sync_enabled()
            && flags & flags::UNIQUE != 0
            && flags & flags::UNIQUE_ON_CONFLICT_REPLACE == 0
        {
            return Err(invalid(
                format!("{path}.flags"),
                format!(
                    "{flags}: property {label} of sync-enabled entity {} is UNIQUE without \
                     UNIQUE_ON_CONFLICT_REPLACE, which sync cannot resolve",
                    entity.name
                ),
            ));
        }

        match (flags & flags::INDEX_FLAGS != 0, property.index_id) {
            (true, None) => warnings.push(format!(
                "{path}: property {label} has index flags ({flags}) but no indexId"
            )),
            (false, Some(index_id)) => warnings.push(format!(
                "{path}.indexId: property {label} has index \"{index_id}\" but no index flag (old generator output)"
            )),
            _ => {}
        }
    }
    Ok(())
}

/// Standalone relations of entity `i`: the target must be a live entity, ID and UID both.
fn check_relations(
    model: &Model,
    i: usize,
    entity: &Entity,
    warnings: &mut Vec<String>,
) -> Result<(), ModelError> {
    for (j, relation) in entity.relations.iter().enumerate() {
        let path = format!("entities[{i}].relations[{j}].targetId");
        let label = format!("{}.{}", entity.name, relation.name);
        let target = relation.target_id;
        let Some(found) = model.entity(target.id) else {
            return Err(invalid(
                path,
                format!("\"{target}\" matches no entity (relation {label})"),
            ));
        };
        if found.id.uid != target.uid {
            return Err(invalid(
                path,
                format!(
                    "\"{target}\" has the ID of entity {} but not its UID (\"{}\") (relation {label})",
                    found.name, found.id
                ),
            ));
        }
        if found.is_sync_enabled() != entity.is_sync_enabled() {
            warnings.push(format!(
                "{path}: relation {label} links {} entity {} with {} entity {}; sync cannot follow it",
                sync_word(entity),
                entity.name,
                sync_word(found),
                found.name
            ));
        }
    }
    Ok(())
}

/// Warns when property IDs have gaps that the retired property UIDs cannot account for.
fn warn_id_gaps(model: &Model, warnings: &mut Vec<String>) {
    let mut gaps = Vec::new();
    for (i, entity) in model.entities.iter().enumerate() {
        let highest = entity.properties.iter().map(|p| p.id.id).max().unwrap_or(0);
        let last = entity.last_property_id.map_or(0, |id| id.id).max(highest);
        let missing: Vec<u32> = (1..=last)
            .filter(|&id| entity.property(id).is_none())
            .collect();
        if !missing.is_empty() {
            gaps.push((i, entity, missing));
        }
    }
    let total: usize = gaps.iter().map(|(_, _, missing)| missing.len()).sum();
    if total <= model.retired_property_uids.len() {
        return;
    }
    for (i, entity, missing) in gaps {
        let list: Vec<String> = missing.iter().map(u32::to_string).collect();
        warnings.push(format!(
            "entities[{i}].properties: entity {} has no property with ID {}; the model has {total} \
             such gap(s) but only {} retired property UID(s)",
            entity.name,
            list.join(", "),
            model.retired_property_uids.len()
        ));
    }
}

/// The retired UID lists with their JSON keys.
fn retired_lists(model: &Model) -> [(&'static str, &[u64]); 4] {
    [
        ("retiredEntityUids", &model.retired_entity_uids),
        ("retiredIndexUids", &model.retired_index_uids),
        ("retiredPropertyUids", &model.retired_property_uids),
        ("retiredRelationUids", &model.retired_relation_uids),
    ]
}

fn sync_word(entity: &Entity) -> &'static str {
    if entity.is_sync_enabled() {
        "sync-enabled"
    } else {
        "local"
    }
}

fn invalid(path: impl Into<String>, message: impl Into<String>) -> ModelError {
    ModelError::at(ModelErrorKind::Invalid, path, message)
}
