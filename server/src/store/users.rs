//! Stored admin user records: raw values by user name. Their format (JSON with an argon2id
//! hash and permissions) belongs to `crate::users`.

use super::{Read, Result, Write, lmdb};

impl Read<'_> {
    /// Number of users.
    pub fn user_count(&self) -> Result<u64> {
        self.dbs.users.len(self.txn).map_err(lmdb)
    }

    /// Every user's name and stored record, ordered by name.
    pub fn users(&self) -> Result<Vec<(String, Vec<u8>)>> {
        let mut out = Vec::new();
        for entry in self.dbs.users.iter(self.txn).map_err(lmdb)? {
            let (name, raw) = entry.map_err(lmdb)?;
            out.push((name.to_owned(), raw.to_vec()));
        }
        Ok(out)
    }

    /// One user's stored record.
    pub fn user(&self, name: &str) -> Result<Option<Vec<u8>>> {
        Ok(self
            .dbs
            .users
            .get(self.txn, name)
            .map_err(lmdb)?
            .map(<[u8]>::to_vec))
    }
}

impl Write<'_, '_> {
    /// Stores a user's record under their name.
    pub fn put_user(&mut self, name: &str, record: &[u8]) -> Result<()> {
        self.dbs.users.put(self.txn, name, record).map_err(lmdb)
    }

    /// Deletes a user's record; returns whether it existed.
    pub fn delete_user(&mut self, name: &str) -> Result<bool> {
        self.dbs.users.delete(self.txn, name).map_err(lmdb)
    }
}
