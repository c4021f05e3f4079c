//! Objects (stored MessagePack property lists by entity UID and global id) and standalone
//! relation links.

use std::ops::Bound;

use shared_types::protocol::GlobalId;

use super::keys::{link_key, link_prefix, object_key, parse_link_key, parse_object_key};
use super::{Error, Read, Result, Store, Write, lmdb};

/// Where a full sync continues from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapshotCursor {
    Objects(Vec<u8>),
    Links(Vec<u8>),
}

/// One item of a full-sync snapshot.
#[derive(Debug, Clone, PartialEq)]
pub enum SnapshotItem {
    Object {
        entity_uid: u64,
        id: GlobalId,
        props: Vec<u8>,
    },
    Link {
        relation_uid: u64,
        source: GlobalId,
        target: GlobalId,
    },
}

/// Bytes a snapshot or export counts per object besides its value (key and framing).
const OBJECT_OVERHEAD: usize = 24;
/// Bytes a snapshot counts per link.
const LINK_BYTES: usize = 40;

impl Read<'_> {
    /// One object's stored bytes.
    pub fn object(&self, entity_uid: u64, id: GlobalId) -> Result<Option<Vec<u8>>> {
        Ok(self
            .dbs
            .objects
            .get(self.txn, &object_key(entity_uid, id))
            .map_err(lmdb)?
            .map(<[u8]>::to_vec))
    }

    /// Number of objects stored for the entity with this UID.
    pub fn object_count(&self, entity_uid: u64) -> Result<u64> {
        let mut count = 0;
        let prefix = entity_uid.to_be_bytes();
        for entry in self
            .dbs
            .objects
            .prefix_iter(self.txn, &prefix)
            .map_err(lmdb)?
        {
            entry.map_err(lmdb)?;
            count += 1;
        }
        Ok(count)
    }

    /// One page of an entity's objects in id order (skipping `offset`), and the entity's total.
    #[allow(clippy::type_complexity)] // Ids with stored bytes, and a count.
    pub fn objects_page(
        &self,
        entity_uid: u64,
        offset: u64,
        limit: usize,
    ) -> Result<(Vec<(GlobalId, Vec<u8>)>, u64)> {
        let mut page = Vec::new();
        let mut total = 0;
        let prefix = entity_uid.to_be_bytes();
        for entry in self
            .dbs
            .objects
            .prefix_iter(self.txn, &prefix)
            .map_err(lmdb)?
        {
            let (key, value) = entry.map_err(lmdb)?;
            if total >= offset
                && page.len() < limit
                && let Some((_, id)) = parse_object_key(key)
            {
                page.push((id, value.to_vec()));
            }
            total += 1;
        }
        Ok((page, total))
    }

    /// Up to `max_bytes` of objects after the object key `after` (exclusive), of one entity or
    /// of all, in key order, for exports done in short read transactions. Returns the items
    /// (entity UID, id, stored bytes) and the key to continue after, `None` when done.
    #[allow(clippy::type_complexity)] // A plain tuple list; a struct would only rename it.
    pub fn objects_chunk(
        &self,
        entity_uid: Option<u64>,
        after: Option<&[u8]>,
        max_bytes: usize,
    ) -> Result<(Vec<(u64, GlobalId, Vec<u8>)>, Option<Vec<u8>>)> {
        let start = entity_uid.map(u64::to_be_bytes);
        let lower = match (after, &start) {
            (Some(key), _) => Bound::Excluded(key),
            (None, Some(prefix)) => Bound::Included(prefix.as_slice()),
            (None, None) => Bound::Unbounded,
        };
        let iter = self
            .dbs
            .objects
            .range(self.txn, &(lower, Bound::Unbounded))
            .map_err(lmdb)?;
        let mut items = Vec::new();
        let mut bytes = 0;
        for entry in iter {
            let (key, value) = entry.map_err(lmdb)?;
            let Some((uid, id)) = parse_object_key(key) else {
                continue;
            };
            if entity_uid.is_some_and(|wanted| wanted != uid) {
                return Ok((items, None));
            }
            bytes += value.len() + OBJECT_OVERHEAD;
            items.push((uid, id, value.to_vec()));
            if bytes >= max_bytes {
                return Ok((items, Some(key.to_vec())));
            }
        }
        Ok((items, None))
    }

    /// Up to `max_bytes` of stored objects (and then links) after `after` (exclusive), for a
    /// full sync done in short read transactions. Returns the items and the cursor to continue
    /// from, `None` when done.
    pub fn snapshot_chunk(
        &self,
        after: Option<SnapshotCursor>,
        max_bytes: usize,
    ) -> Result<(Vec<SnapshotItem>, Option<SnapshotCursor>)> {
        let mut items = Vec::new();
        let mut bytes = 0;
        let (in_links, start) = match &after {
            None => (false, None),
            Some(SnapshotCursor::Objects(key)) => (false, Some(key.clone())),
            Some(SnapshotCursor::Links(key)) => (true, Some(key.clone())),
        };
        if !in_links {
            let lower = start.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
            let iter = self
                .dbs
                .objects
                .range(self.txn, &(lower, Bound::Unbounded))
                .map_err(lmdb)?;
            for entry in iter {
                let (key, value) = entry.map_err(lmdb)?;
                let Some((entity_uid, id)) = parse_object_key(key) else {
                    continue;
                };
                bytes += value.len() + OBJECT_OVERHEAD;
                items.push(SnapshotItem::Object {
                    entity_uid,
                    id,
                    props: value.to_vec(),
                });
                if bytes >= max_bytes {
                    return Ok((items, Some(SnapshotCursor::Objects(key.to_vec()))));
                }
            }
        }
        let link_start = if in_links { start } else { None };
        let lower = link_start
            .as_deref()
            .map_or(Bound::Unbounded, Bound::Excluded);
        let iter = self
            .dbs
            .links
            .range(self.txn, &(lower, Bound::Unbounded))
            .map_err(lmdb)?;
        for entry in iter {
            let (key, _) = entry.map_err(lmdb)?;
            let Some((relation_uid, source, target)) = parse_link_key(key) else {
                continue;
            };
            bytes += LINK_BYTES;
            items.push(SnapshotItem::Link {
                relation_uid,
                source,
                target,
            });
            if bytes >= max_bytes {
                return Ok((items, Some(SnapshotCursor::Links(key.to_vec()))));
            }
        }
        Ok((items, None))
    }
}

impl Write<'_, '_> {
    /// Stores an object's bytes.
    pub fn put_object(&mut self, entity_uid: u64, id: GlobalId, bytes: &[u8]) -> Result<()> {
        self.dbs
            .objects
            .put(self.txn, &object_key(entity_uid, id), bytes)
            .map_err(lmdb)
    }

    /// Stores an object only if there is none under its key; returns whether it did. One B-tree
    /// search for a new object, where a lookup and then a put take two.
    pub fn insert_object(&mut self, entity_uid: u64, id: GlobalId, bytes: &[u8]) -> Result<bool> {
        let key = object_key(entity_uid, id);
        match self
            .dbs
            .objects
            .put_with_flags(self.txn, heed::PutFlags::NO_OVERWRITE, &key, bytes)
        {
            Ok(()) => Ok(true),
            Err(heed::Error::Mdb(heed::MdbError::KeyExist)) => Ok(false),
            Err(e) => Err(Error::Lmdb(e)),
        }
    }

    /// Removes an object; returns whether it existed.
    pub fn remove_object(&mut self, entity_uid: u64, id: GlobalId) -> Result<bool> {
        self.dbs
            .objects
            .delete(self.txn, &object_key(entity_uid, id))
            .map_err(lmdb)
    }

    /// Removes every object of an entity (used when a model update retires the entity).
    pub fn remove_entity_objects(&mut self, entity_uid: u64) -> Result<u64> {
        let objects = self.dbs.objects;
        delete_prefix(self, objects, &entity_uid.to_be_bytes())
    }

    /// Adds a standalone relation link.
    pub fn add_link(
        &mut self,
        relation_uid: u64,
        source: GlobalId,
        target: GlobalId,
    ) -> Result<()> {
        self.dbs
            .links
            .put(self.txn, &link_key(relation_uid, source, target), &[])
            .map_err(lmdb)
    }

    /// Removes a standalone relation link; returns whether it existed.
    pub fn remove_link(
        &mut self,
        relation_uid: u64,
        source: GlobalId,
        target: GlobalId,
    ) -> Result<bool> {
        self.dbs
            .links
            .delete(self.txn, &link_key(relation_uid, source, target))
            .map_err(lmdb)
    }

    /// Removes every link of `relation_uid` whose source is `source`.
    pub fn remove_links_from(&mut self, relation_uid: u64, source: GlobalId) -> Result<()> {
        let links = self.dbs.links;
        delete_prefix(self, links, &link_prefix(relation_uid, source))?;
        Ok(())
    }
}

/// Deletes every entry of `db` whose key starts with `prefix`; returns how many.
fn delete_prefix(
    w: &mut Write<'_, '_>,
    db: heed::Database<heed::types::Bytes, heed::types::Bytes>,
    prefix: &[u8],
) -> Result<u64> {
    let mut removed = 0;
    let mut iter = db.prefix_iter_mut(w.txn, prefix).map_err(lmdb)?;
    while let Some(entry) = iter.next() {
        entry.map_err(lmdb)?;
        // SAFETY: heed requires that no reference into the database is alive while the cursor
        // deletes; the entry's borrowed key and value were dropped above.
        unsafe { iter.del_current() }.map_err(lmdb)?;
        removed += 1;
    }
    Ok(removed)
}

impl Store {
    /// Number of objects stored for the entity with this UID.
    pub fn object_count(&self, entity_uid: u64) -> Result<u64> {
        self.read(|r| r.object_count(entity_uid))
    }

    /// One object's stored bytes.
    pub fn object(&self, entity_uid: u64, id: GlobalId) -> Result<Option<Vec<u8>>> {
        self.read(|r| r.object(entity_uid, id))
    }
}
