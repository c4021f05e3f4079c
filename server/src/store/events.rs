//! Stored log events: raw values by time-ordered key. Their format belongs to `crate::events`.

use std::ops::Bound;

use super::{Read, Result, Store, Write, lmdb};

impl Read<'_> {
    /// Stored log events newest first, below the key `before` (exclusive), at most `limit`.
    #[allow(clippy::type_complexity)] // Key and value bytes; the `events` module owns both.
    pub fn events_before(
        &self,
        before: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let upper = before.map_or(Bound::Unbounded, Bound::Excluded);
        let range = (Bound::Unbounded, upper);
        let mut out = Vec::new();
        for entry in self.dbs.events.rev_range(self.txn, &range).map_err(lmdb)? {
            let (key, value) = entry.map_err(lmdb)?;
            out.push((key.to_vec(), value.to_vec()));
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }
}

impl Write<'_, '_> {
    /// Stores a log event and then drops the oldest events beyond `keep`.
    pub fn put_event(&mut self, key: &[u8], value: &[u8], keep: u64) -> Result<()> {
        self.dbs.events.put(self.txn, key, value).map_err(lmdb)?;
        let mut excess = self
            .dbs
            .events
            .len(self.txn)
            .map_err(lmdb)?
            .saturating_sub(keep);
        while excess > 0 {
            let Some(oldest) = self
                .dbs
                .events
                .first(self.txn)
                .map_err(lmdb)?
                .map(|(k, _)| k.to_vec())
            else {
                break;
            };
            self.dbs.events.delete(self.txn, &oldest).map_err(lmdb)?;
            excess -= 1;
        }
        Ok(())
    }
}

impl Store {}
