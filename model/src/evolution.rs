//! Rules for replacing a stored model version with a new one, and a readable diff between two versions.
//!
//! Elements are matched by UID only; names are labels, so a rename is just a rename.

use std::collections::HashMap;
use std::fmt;

use super::flags;
use super::{Model, PropertyType};

/// What a UID names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ElementKind {
    /// An entity.
    Entity,
    /// A property of an entity.
    Property,
    /// The index of a property.
    Index,
    /// A standalone (to-many) relation.
    Relation,
}

/// Why a new model version may not follow the current one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EvolutionError {
    /// An element kept its UID but got another ID.
    #[error(
        "{kind} {name} (UID {uid}) changed its ID from {old_id} to {new_id}; an existing element must keep its ID"
    )]
    IdChanged {
        /// What the UID names.
        kind: ElementKind,
        /// The element's label in the new model, e.g. `Task.text`.
        name: String,
        /// The shared UID.
        uid: u64,
        /// The ID in the current model.
        old_id: u32,
        /// The ID in the new model.
        new_id: u32,
    },
    /// A UID names a different kind of element than before.
    #[error("UID {uid} was {old} and is now {new}; a UID cannot name another kind of element")]
    KindChanged {
        /// The shared UID.
        uid: u64,
        /// The element in the current model, e.g. `entity Task`.
        old: String,
        /// The element in the new model.
        new: String,
    },
    /// A property UID now belongs to another entity.
    #[error(
        "property {name} (UID {uid}) moved from entity {old_entity} to entity {new_entity}; a property cannot change its entity"
    )]
    PropertyMoved {
        /// The property's label in the new model.
        name: String,
        /// The property UID.
        uid: u64,
        /// The entity it belongs to in the current model.
        old_entity: String,
        /// The entity it belongs to in the new model.
        new_entity: String,
    },
    /// A UID retired in the current model is used by a live element again.
    #[error(
        "{kind} UID {uid} is retired in the current model but live again as {name}; retired UIDs must stay retired"
    )]
    RetiredRevived {
        /// The list the UID is retired in.
        kind: ElementKind,
        /// The retired UID.
        uid: u64,
        /// The live element in the new model, e.g. `property Task.text`.
        name: String,
    },
    /// A UID retired in the current model is no longer listed as retired.
    #[error(
        "{kind} UID {uid} is retired in the current model but missing from {list} in the new one; retired UIDs must stay retired"
    )]
    RetiredDropped {
        /// The list the UID is retired in.
        kind: ElementKind,
        /// The retired UID.
        uid: u64,
        /// The JSON key of the list, e.g. `retiredPropertyUids`.
        list: &'static str,
    },
    /// A property changed its type under the same UID.
    #[error(
        "property {name} (UID {uid}) changed its type from {old} to {new}; data is not converted, so give the property a new UID instead"
    )]
    TypeChanged {
        /// The property's label in the new model.
        name: String,
        /// The property UID.
        uid: u64,
        /// The type in the current model.
        old: PropertyType,
        /// The type in the new model.
        new: PropertyType,
    },
    /// SYNC_ENABLED was switched on or off for an existing entity.
    #[error(
        "entity {name} (UID {uid}) changed SYNC_ENABLED from {old} to {new}; sync cannot be switched on or off for an existing entity, give it a new UID instead"
    )]
    SyncToggled {
        /// The entity name in the new model.
        name: String,
        /// The entity UID.
        uid: u64,
        /// Whether the entity was sync-enabled in the current model.
        old: bool,
        /// Whether it is sync-enabled in the new model.
        new: bool,
    },
    /// SHARED_GLOBAL_IDS was switched on or off for an existing entity.
    #[error(
        "entity {name} (UID {uid}) changed SHARED_GLOBAL_IDS from {old} to {new}; it is fixed when the entity is introduced"
    )]
    SharedGlobalIdsToggled {
        /// The entity name in the new model.
        name: String,
        /// The entity UID.
        uid: u64,
        /// Whether the flag was set in the current model.
        old: bool,
        /// Whether it is set in the new model.
        new: bool,
    },
}

impl ElementKind {
    /// The lower-case noun, e.g. `"property"`.
    #[must_use]
    pub const fn noun(self) -> &'static str {
        match self {
            Self::Entity => "entity",
            Self::Property => "property",
            Self::Index => "index",
            Self::Relation => "relation",
        }
    }

    /// The JSON key of the retired list for this kind.
    #[must_use]
    pub const fn retired_key(self) -> &'static str {
        match self {
            Self::Entity => "retiredEntityUids",
            Self::Property => "retiredPropertyUids",
            Self::Index => "retiredIndexUids",
            Self::Relation => "retiredRelationUids",
        }
    }
}

impl fmt::Display for ElementKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.noun())
    }
}

/// Implements [`Model::check_evolution`].
pub(super) fn check(current: &Model, next: &Model) -> Result<Vec<String>, EvolutionError> {
    let old = Elements::of(current);
    let new = Elements::of(next);

    for element in &new.list {
        if let Some(before) = old.by_uid(element.uid) {
            compare(before, element)?;
        } else if let Some(kind) = retired_kind(current, element.uid) {
            return Err(EvolutionError::RetiredRevived {
                kind,
                uid: element.uid,
                name: element.describe(),
            });
        }
    }
    for kind in [
        ElementKind::Entity,
        ElementKind::Property,
        ElementKind::Index,
        ElementKind::Relation,
    ] {
        let still_retired = retired(next, kind);
        for &uid in retired(current, kind) {
            if !still_retired.contains(&uid) {
                return Err(EvolutionError::RetiredDropped {
                    kind,
                    uid,
                    list: kind.retired_key(),
                });
            }
        }
    }

    let mut warnings = Vec::new();
    for element in &old.list {
        if new.by_uid(element.uid).is_none() && retired_kind(next, element.uid).is_none() {
            warnings.push(format!(
                "{} (UID {}) was removed without being retired; add its UID to {} so it is never reused",
                element.describe(),
                element.uid,
                element.kind.retired_key()
            ));
        }
    }
    Ok(warnings)
}

/// Implements [`Model::diff_summary`].
pub(super) fn diff_summary(current: &Model, next: &Model) -> Vec<String> {
    let old = Elements::of(current);
    let new = Elements::of(next);
    let mut lines = Vec::new();
    for element in &new.list {
        match old.by_uid(element.uid) {
            None => lines.push(format!(
                "added {} ({})",
                element.describe(),
                element.id_text()
            )),
            Some(before) => {
                if before.name != element.name && element.kind != ElementKind::Index {
                    lines.push(format!("renamed {} to {}", before.describe(), element.name));
                }
                if before.flags != element.flags && element.kind != ElementKind::Index {
                    lines.push(format!(
                        "changed flags of {}: {} -> {}",
                        element.describe(),
                        before.flag_text(),
                        element.flag_text()
                    ));
                }
            }
        }
    }
    for element in &old.list {
        if new.by_uid(element.uid).is_none() {
            lines.push(format!(
                "removed {} ({})",
                element.describe(),
                element.id_text()
            ));
        }
    }
    lines
}

/// One live element of a model, flattened for UID lookups.
struct Element {
    kind: ElementKind,
    uid: u64,
    id: u32,
    /// The element's own name: `Task`, `text` (also for its index) or `tags`.
    name: String,
    /// The qualified name: `Task`, `Task.text` or `Task.tags`.
    label: String,
    /// The owning entity's UID and name, for properties, indexes and relations.
    owner: Option<(u64, String)>,
    ty: Option<PropertyType>,
    flags: u32,
}

impl Element {
    fn describe(&self) -> String {
        match self.kind {
            ElementKind::Index => format!("the index of {}", self.label),
            kind => format!("{kind} {}", self.label),
        }
    }

    fn id_text(&self) -> String {
        format!("{}:{}", self.id, self.uid)
    }

    fn flag_text(&self) -> String {
        let table = if self.kind == ElementKind::Entity {
            flags::ENTITY_FLAG_NAMES
        } else {
            flags::PROPERTY_FLAG_NAMES
        };
        let names = flags::names(self.flags, table);
        if names.is_empty() {
            self.flags.to_string()
        } else {
            format!("{} ({})", self.flags, names.join("|"))
        }
    }
}

/// All live elements of a model in file order, with a UID index.
struct Elements {
    list: Vec<Element>,
    index: HashMap<u64, usize>,
}

impl Elements {
    fn of(model: &Model) -> Self {
        let mut list = Vec::new();
        for entity in &model.entities {
            list.push(Element {
                kind: ElementKind::Entity,
                uid: entity.id.uid,
                id: entity.id.id,
                name: entity.name.clone(),
                label: entity.name.clone(),
                owner: None,
                ty: None,
                flags: entity.flags,
            });
            let owner = Some((entity.id.uid, entity.name.clone()));
            for property in &entity.properties {
                let label = format!("{}.{}", entity.name, property.name);
                list.push(Element {
                    kind: ElementKind::Property,
                    uid: property.id.uid,
                    id: property.id.id,
                    name: property.name.clone(),
                    label: label.clone(),
                    owner: owner.clone(),
                    ty: property.ty,
                    flags: property.flags,
                });
                if let Some(index_id) = property.index_id {
                    list.push(Element {
                        kind: ElementKind::Index,
                        uid: index_id.uid,
                        id: index_id.id,
                        name: property.name.clone(),
                        label,
                        owner: owner.clone(),
                        ty: None,
                        flags: 0,
                    });
                }
            }
            for relation in &entity.relations {
                list.push(Element {
                    kind: ElementKind::Relation,
                    uid: relation.id.uid,
                    id: relation.id.id,
                    name: relation.name.clone(),
                    label: format!("{}.{}", entity.name, relation.name),
                    owner: owner.clone(),
                    ty: None,
                    flags: 0,
                });
            }
        }
        // The first element wins if a UID repeats, which a validated model never does.
        let mut index = HashMap::new();
        for (n, element) in list.iter().enumerate() {
            index.entry(element.uid).or_insert(n);
        }
        Self { list, index }
    }

    fn by_uid(&self, uid: u64) -> Option<&Element> {
        self.index.get(&uid).map(|&n| &self.list[n])
    }
}

/// The rules for one element present (by UID) in both models.
fn compare(before: &Element, after: &Element) -> Result<(), EvolutionError> {
    let uid = after.uid;
    if before.kind != after.kind {
        return Err(EvolutionError::KindChanged {
            uid,
            old: before.describe(),
            new: after.describe(),
        });
    }
    if let (Some((old_owner, old_entity)), Some((new_owner, new_entity))) =
        (&before.owner, &after.owner)
        && old_owner != new_owner
        && after.kind == ElementKind::Property
    {
        return Err(EvolutionError::PropertyMoved {
            name: after.label.clone(),
            uid,
            old_entity: old_entity.clone(),
            new_entity: new_entity.clone(),
        });
    }
    if before.id != after.id {
        return Err(EvolutionError::IdChanged {
            kind: after.kind,
            name: after.label.clone(),
            uid,
            old_id: before.id,
            new_id: after.id,
        });
    }
    // An untyped legacy property may gain a type; a typed one may not change or lose it.
    if let (Some(old), Some(new)) = (before.ty, after.ty)
        && old != new
    {
        return Err(EvolutionError::TypeChanged {
            name: after.label.clone(),
            uid,
            old,
            new,
        });
    }
    if after.kind == ElementKind::Entity {
        let sync = |flags: u32| flags & flags::entity::SYNC_ENABLED != 0;
        let shared = |flags: u32| flags & flags::entity::SHARED_GLOBAL_IDS != 0;
        if sync(before.flags) != sync(after.flags) {
            return Err(EvolutionError::SyncToggled {
                name: after.label.clone(),
                uid,
                old: sync(before.flags),
                new: sync(after.flags),
            });
        }
        if shared(before.flags) != shared(after.flags) {
            return Err(EvolutionError::SharedGlobalIdsToggled {
                name: after.label.clone(),
                uid,
                old: shared(before.flags),
                new: shared(after.flags),
            });
        }
    }
    Ok(())
}

/// The retired list of `kind` in `model`.
fn retired(model: &Model, kind: ElementKind) -> &[u64] {
    match kind {
        ElementKind::Entity => &model.retired_entity_uids,
        ElementKind::Property => &model.retired_property_uids,
        ElementKind::Index => &model.retired_index_uids,
        ElementKind::Relation => &model.retired_relation_uids,
    }
}

/// The kind of retired list `uid` is in, if any.
fn retired_kind(model: &Model, uid: u64) -> Option<ElementKind> {
    [
        ElementKind::Entity,
        ElementKind::Property,
        ElementKind::Index,
        ElementKind::Relation,
    ]
    .into_iter()
    .find(|&kind| retired(model, kind).contains(&uid))
}
