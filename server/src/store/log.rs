//! The local transaction log: records by `seq` with a hash chain, its bounds and pruning, and
//! the last applied transaction of each client peer (the duplicate rule's memory).
//!
//! This is the only module that touches the `tx-log` and `peers` databases. The order in which
//! changes reach the log is decided above it, by `sync::log` (one process, or a replicated
//! stream in cluster mode); every node keeps this same local log.

use serde::{Deserialize, Serialize};
use shared_types::protocol::{GlobalId, Op};

use super::keys::meta_key;
use super::{Error, Read, Result, Store, Write, decode_u64, lmdb};

/// One transaction log entry as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogRecord {
    pub seq: u64,
    /// The client peer that sent it (0 for server-side changes).
    pub origin: u64,
    /// The sender's transaction id (0 for server-side changes).
    pub client_tx_id: u64,
    pub time_ms: u64,
    /// The operations as applied (puts that lost a conflict are not here).
    pub ops: Vec<Op>,
    /// Puts of the client that lost a conflict: (entity id, object id).
    pub rejected: Vec<(u32, GlobalId)>,
    /// 16 bytes: SHA-256 over the previous entry's hash and this entry, truncated; see
    /// [`chain_hash`].
    #[serde(with = "serde_bytes")]
    pub hash: Vec<u8>,
}

/// The newest seq ever assigned, and the oldest retained one (`None` if nothing is retained).
pub type LogBounds = (u64, Option<u64>);

impl Read<'_> {
    /// The newest seq ever assigned and the oldest seq still retained (`None` if the log is
    /// empty, e.g. after pruning everything or before the first transaction).
    pub fn log_bounds(&self) -> Result<LogBounds> {
        let head = self.meta_u64(meta_key::LOG_HEAD)?;
        let oldest = self
            .dbs
            .tx_log
            .first(self.txn)
            .map_err(lmdb)?
            .map(|(seq, _)| seq);
        Ok((head, oldest))
    }

    /// Retained log entries with `seq >= from`, in order, at most `max_count` of them and
    /// stopping after the one that reaches `max_bytes`.
    pub fn read_log(
        &self,
        from: u64,
        max_count: usize,
        max_bytes: usize,
    ) -> Result<Vec<LogRecord>> {
        let mut out = Vec::new();
        let mut bytes = 0;
        for entry in self.dbs.tx_log.range(self.txn, &(from..)).map_err(lmdb)? {
            let (seq, raw) = entry.map_err(lmdb)?;
            bytes += raw.len();
            out.push(decode_record(seq, raw)?);
            if out.len() >= max_count || bytes >= max_bytes {
                break;
            }
        }
        Ok(out)
    }

    /// Retained log entries with their stored size: oldest first from `from` (inclusive), or
    /// newest first below `before` (exclusive; `None` for the head), at most `limit`.
    pub fn log_page(
        &self,
        from: Option<u64>,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<(LogRecord, usize)>> {
        use std::ops::Bound;
        let mut out = Vec::new();
        let mut push = |seq: u64, raw: &[u8]| -> Result<bool> {
            out.push((decode_record(seq, raw)?, raw.len()));
            Ok(out.len() < limit)
        };
        if let Some(from) = from {
            for entry in self.dbs.tx_log.range(self.txn, &(from..)).map_err(lmdb)? {
                let (seq, raw) = entry.map_err(lmdb)?;
                if !push(seq, raw)? {
                    break;
                }
            }
        } else {
            let upper = before.map_or(Bound::Unbounded, Bound::Excluded);
            let range = (Bound::Unbounded, upper);
            for entry in self.dbs.tx_log.rev_range(self.txn, &range).map_err(lmdb)? {
                let (seq, raw) = entry.map_err(lmdb)?;
                if !push(seq, raw)? {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// One retained log entry and its stored size.
    pub fn log_entry(&self, seq: u64) -> Result<Option<(LogRecord, usize)>> {
        match self.dbs.tx_log.get(self.txn, &seq).map_err(lmdb)? {
            Some(raw) => Ok(Some((decode_record(seq, raw)?, raw.len()))),
            None => Ok(None),
        }
    }

    /// The last client transaction applied for a peer (its tx id), and the seq it got.
    pub fn peer_state(&self, peer: u64) -> Result<Option<(u64, u64)>> {
        let Some(raw) = self.dbs.peers.get(self.txn, &peer).map_err(lmdb)? else {
            return Ok(None);
        };
        if raw.len() != 16 {
            return Err(Error::Corrupt {
                what: format!("peer {peer:x}"),
                message: format!("{} bytes", raw.len()),
            });
        }
        Ok(Some((decode_u64(&raw[..8])?, decode_u64(&raw[8..])?)))
    }

    /// Checks the retained log: every entry's hash chains from the previous one (the first
    /// retained entry is trusted as the anchor, unless it is seq 1, which chains from 16 zero
    /// bytes), seqs have no gaps, the newest entry is the head and the stored size is the sum
    /// of the entries. Returns the number of entries checked.
    pub fn verify_log_chain(&self) -> Result<u64> {
        let corrupt = |seq: u64, message: String| Error::Corrupt {
            what: format!("tx-log {seq}"),
            message,
        };
        let mut previous: Option<LogRecord> = None;
        let mut count = 0;
        let mut bytes = 0;
        for entry in self.dbs.tx_log.iter(self.txn).map_err(lmdb)? {
            let (seq, raw) = entry.map_err(lmdb)?;
            let record = decode_record(seq, raw)?;
            if record.seq != seq {
                return Err(corrupt(seq, format!("stored as seq {}", record.seq)));
            }
            let prev_hash = match &previous {
                Some(prev) if seq != prev.seq + 1 => {
                    return Err(corrupt(seq, format!("gap after seq {}", prev.seq)));
                }
                Some(prev) => Some(prev.hash.as_slice()),
                None if seq == 1 => Some(&[0; 16][..]),
                None => None,
            };
            if prev_hash.is_some_and(|prev| chain_hash(prev, &record) != record.hash) {
                return Err(corrupt(
                    seq,
                    "hash does not chain from the previous entry".into(),
                ));
            }
            bytes += raw.len() as u64;
            previous = Some(record);
            count += 1;
        }
        let head = self.meta_u64(meta_key::LOG_HEAD)?;
        let newest = previous.map_or(0, |r| r.seq);
        if newest != head {
            return Err(corrupt(
                newest,
                format!("the newest entry is not the head {head}"),
            ));
        }
        let stored = self.meta_u64(meta_key::LOG_BYTES)?;
        if stored != bytes {
            return Err(Error::Corrupt {
                what: format!("meta {}", meta_key::LOG_BYTES),
                message: format!("{stored}, but the retained entries hold {bytes} bytes"),
            });
        }
        Ok(count)
    }
}

impl Write<'_, '_> {
    /// Appends a record with the next seq, chaining its hash to the newest entry, and records
    /// the peer's tx id. `time_ms` is the commit time as the sequencer decided it (never read
    /// from the clock here, so every node writes the same record). Returns the stored record.
    pub fn append_log(
        &mut self,
        origin: u64,
        client_tx_id: u64,
        time_ms: u64,
        ops: Vec<Op>,
        rejected: Vec<(u32, GlobalId)>,
    ) -> Result<LogRecord> {
        let head = self.read().meta_u64(meta_key::LOG_HEAD)?;
        let prev_hash = match self.dbs.tx_log.last(self.txn).map_err(lmdb)? {
            Some((seq, raw)) => match stored_hash(raw) {
                Some(hash) => hash.to_vec(),
                None => decode_record(seq, raw)?.hash,
            },
            None => vec![0; 16],
        };
        let mut record = LogRecord {
            seq: head + 1,
            origin,
            client_tx_id,
            time_ms,
            ops,
            rejected,
            hash: Vec::new(),
        };
        // The operations are encoded once: the hash covers these bytes and the stored record
        // embeds them.
        let corrupt = |message: String| Error::Corrupt {
            what: "tx-log".into(),
            message,
        };
        let ops_raw = rmp_serde::to_vec(&record.ops).map_err(|e| corrupt(e.to_string()))?;
        record.hash = chain_hash_of_encoded_ops(&prev_hash, &record, &ops_raw);
        let raw = encode_record(&record, &ops_raw).map_err(corrupt)?;
        self.dbs
            .tx_log
            .put(self.txn, &record.seq, &raw)
            .map_err(lmdb)?;
        self.put_meta(meta_key::LOG_HEAD, &record.seq.to_be_bytes())?;
        let total = self.read().meta_u64(meta_key::LOG_BYTES)? + raw.len() as u64;
        self.put_meta(meta_key::LOG_BYTES, &total.to_be_bytes())?;
        if origin != 0 {
            let mut value = [0; 16];
            value[..8].copy_from_slice(&client_tx_id.to_be_bytes());
            value[8..].copy_from_slice(&record.seq.to_be_bytes());
            self.dbs
                .peers
                .put(self.txn, &origin, &value)
                .map_err(lmdb)?;
        }
        Ok(record)
    }

    /// Deletes the oldest entries while the retained log is larger than `max_bytes`, down to
    /// `target_bytes`. Returns how many entries were removed.
    pub fn prune_log(&mut self, max_bytes: u64, target_bytes: u64) -> Result<u64> {
        let mut total = self.read().meta_u64(meta_key::LOG_BYTES)?;
        if total <= max_bytes {
            return Ok(0);
        }
        let mut removed = 0;
        while total > target_bytes {
            let Some((seq, len)) = self
                .dbs
                .tx_log
                .first(self.txn)
                .map_err(lmdb)?
                .map(|(seq, raw)| (seq, raw.len()))
            else {
                break;
            };
            // Keep the newest entry, so the hash chain always has an anchor.
            let newest = self.dbs.tx_log.last(self.txn).map_err(lmdb)?;
            if Some(seq) == newest.map(|(s, _)| s) {
                break;
            }
            self.dbs.tx_log.delete(self.txn, &seq).map_err(lmdb)?;
            total = total.saturating_sub(len as u64);
            removed += 1;
        }
        self.put_meta(meta_key::LOG_BYTES, &total.to_be_bytes())?;
        Ok(removed)
    }
}

impl Store {
    /// See [`Read::log_bounds`].
    pub fn log_bounds(&self) -> Result<LogBounds> {
        self.read(|r| r.log_bounds())
    }

    /// See [`Read::log_entry`].
    pub fn log_entry(&self, seq: u64) -> Result<Option<(LogRecord, usize)>> {
        self.read(|r| r.log_entry(seq))
    }

    /// See [`Read::verify_log_chain`].
    pub fn verify_log_chain(&self) -> Result<u64> {
        self.read(|r| r.verify_log_chain())
    }

    /// The last client transaction applied for a peer, and the seq it got.
    pub fn peer_state(&self, peer: u64) -> Result<Option<(u64, u64)>> {
        self.read(|r| r.peer_state(peer))
    }

    /// The log's head seq and the last transaction applied for `peer` (its tx id, 0 if none),
    /// read in one transaction so that they agree.
    pub fn head_and_peer(&self, peer: u64) -> Result<(u64, u64)> {
        self.read(|r| {
            let head = r.meta_u64(meta_key::LOG_HEAD)?;
            let tx = r.peer_state(peer)?.map_or(0, |(tx, _)| tx);
            Ok((head, tx))
        })
    }
}

/// The hash of a log record chained to the previous one: the first 16 bytes of SHA-256 over
/// `prev_hash ‖ seq ‖ origin ‖ client_tx_id ‖ time_ms` (u64 big-endian each) `‖ MessagePack(ops)`.
pub fn chain_hash(prev_hash: &[u8], record: &LogRecord) -> Vec<u8> {
    chain_hash_of_encoded_ops(
        prev_hash,
        record,
        &rmp_serde::to_vec(&record.ops).unwrap_or_default(),
    )
}

// Helpers below.

/// [`chain_hash`] with `MessagePack(ops)` already encoded.
pub(super) fn chain_hash_of_encoded_ops(
    prev_hash: &[u8],
    record: &LogRecord,
    ops_raw: &[u8],
) -> Vec<u8> {
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    hasher.update(prev_hash);
    for n in [
        record.seq,
        record.origin,
        record.client_tx_id,
        record.time_ms,
    ] {
        hasher.update(n.to_be_bytes());
    }
    hasher.update(ops_raw);
    hasher.finalize()[..16].to_vec()
}

/// Encodes a record as `rmp_serde::to_vec(record)` does (a 7-element array in field order), but
/// with its operations already encoded as `ops_raw` (`rmp_serde::to_vec(&record.ops)`), so they
/// are not encoded twice. A test checks the bytes against `rmp_serde`.
pub(super) fn encode_record(record: &LogRecord, ops_raw: &[u8]) -> Result<Vec<u8>, String> {
    let mut raw = Vec::with_capacity(ops_raw.len() + 64 + 16 * record.rejected.len());
    let fail = |e: &dyn std::fmt::Display| e.to_string();
    rmp::encode::write_array_len(&mut raw, 7).map_err(|e| fail(&e))?;
    for n in [
        record.seq,
        record.origin,
        record.client_tx_id,
        record.time_ms,
    ] {
        rmp::encode::write_uint(&mut raw, n).map_err(|e| fail(&e))?;
    }
    raw.extend_from_slice(ops_raw);
    rmp_serde::encode::write(&mut raw, &record.rejected).map_err(|e| fail(&e))?;
    rmp::encode::write_bin(&mut raw, &record.hash).map_err(|e| fail(&e))?;
    Ok(raw)
}

/// The hash of an encoded [`LogRecord`] without decoding it: the record is a MessagePack array
/// whose last element is the 16-byte hash (`bin8` marker 0xc4, length 16). Appending reads the
/// previous entry's hash this way, so it does not decode every operation of a large entry again.
/// `None` if the bytes do not end that way (the caller then decodes the record).
pub(super) fn stored_hash(raw: &[u8]) -> Option<&[u8]> {
    let tail = raw.len().checked_sub(18).map(|start| &raw[start..])?;
    (tail[0] == 0xc4 && tail[1] == 16).then(|| &tail[2..])
}

pub(super) fn decode_record(seq: u64, raw: &[u8]) -> Result<LogRecord> {
    rmp_serde::from_slice(raw).map_err(|e| Error::Corrupt {
        what: format!("tx-log {seq}"),
        message: e.to_string(),
    })
}
