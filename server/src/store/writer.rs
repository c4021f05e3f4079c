//! The writer thread: the single owner of every LMDB write transaction.
//!
//! Requests arrive on a bounded channel. The writer takes one, then whatever else is already
//! queued (up to [`MAX_REQUESTS_PER_COMMIT`]), runs each in a nested transaction of one write
//! transaction (so one failing request does not undo the others), commits once (group commit),
//! and only then answers every request, in commit order.

use std::sync::mpsc;
use std::thread;

use heed::{Env, RwTxn, WithoutTls};

use super::{Dbs, Error, Result, Write, full_error};

/// How many queued write requests the writer folds into one commit at most.
pub const MAX_REQUESTS_PER_COMMIT: usize = 4096;

/// How many write requests may wait for the writer before senders block.
pub const WRITE_QUEUE_DEPTH: usize = 16_384;

/// The writer's queue and thread, owned by the store until it closes.
pub(super) struct Handle {
    pub(super) sender: mpsc::SyncSender<Job>,
    pub(super) writer: thread::JoinHandle<()>,
}

impl Handle {
    /// Drops the queue (the writer commits what is queued, then ends) and waits for the thread.
    pub(super) fn stop(self) {
        drop(self.sender);
        let _ = self.writer.join();
    }
}

/// What the writer calls once the commit holding a request is durable (or failed).
type Completion = Box<dyn FnOnce(Result<()>) + Send>;

/// A write request: runs inside a nested transaction; `Err(())` means it failed, has already
/// answered its caller, and its nested transaction must be aborted.
pub(super) type Job =
    Box<dyn FnOnce(&mut RwTxn<'_>, &Dbs) -> std::result::Result<Completion, ()> + Send>;

/// Starts the writer thread on `receiver`.
pub(super) fn spawn(
    env: Env<WithoutTls>,
    dbs: Dbs,
    max_size: u64,
    receiver: mpsc::Receiver<Job>,
) -> std::io::Result<thread::JoinHandle<()>> {
    thread::Builder::new()
        .name("lmdb-writer".into())
        .spawn(move || run(&env, dbs, max_size, &receiver))
}

/// Queues `f` and arranges for `on_done` to get its result after the commit.
pub(super) fn submit<R, F, C>(
    sender: &mpsc::SyncSender<Job>,
    max_size: u64,
    f: F,
    on_done: C,
) -> Result<()>
where
    R: Send + 'static,
    F: FnOnce(&mut Write<'_, '_>) -> Result<R> + Send + 'static,
    C: FnOnce(Result<R>) + Send + 'static,
{
    let job: Job = Box::new(move |txn, dbs| {
        let mut write = Write { txn, dbs };
        match f(&mut write).map_err(|e| full_error(e, max_size)) {
            Ok(value) => Ok(Box::new(move |committed: Result<()>| {
                on_done(committed.map(|()| value));
            }) as Completion),
            Err(e) => {
                on_done(Err(e));
                Err(())
            }
        }
    });
    sender.send(job).map_err(|_| Error::WriterStopped)
}

/// The writer thread's loop; ends when every sender is gone and the queue is drained.
fn run(env: &Env<WithoutTls>, dbs: Dbs, max_size: u64, receiver: &mpsc::Receiver<Job>) {
    while let Ok(first) = receiver.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_REQUESTS_PER_COMMIT {
            match receiver.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let mut wtxn = match env.write_txn() {
            Ok(wtxn) => wtxn,
            Err(e) => {
                tracing::error!(target: "Store", "cannot begin write transaction: {e}");
                // The requests cannot run without a transaction; dropping them drops their reply
                // channels, which their callers see as `WriterStopped`.
                tracing::error!(target: "Store", "dropping {} write requests", batch.len());
                continue;
            }
        };
        let mut completions = Vec::with_capacity(batch.len());
        for job in batch {
            let mut nested = match env.nested_write_txn(&mut wtxn) {
                Ok(nested) => nested,
                Err(e) => {
                    tracing::error!(target: "Store", "cannot begin nested write transaction: {e}");
                    continue;
                }
            };
            if let Ok(completion) = job(&mut nested, &dbs) {
                match nested.commit() {
                    Ok(()) => completions.push(completion),
                    Err(e) => completion(Err(full_error(Error::Lmdb(e), max_size))),
                }
            }
            // A failed job's nested transaction is aborted when `nested` drops here.
        }
        let committed = wtxn
            .commit()
            .map_err(|e| full_error(Error::Lmdb(e), max_size));
        match &committed {
            // Every request of the batch hears of it; the sync hub logs full storage once a
            // minute, so a full disk does not log once per commit.
            Err(e) if e.is_full() => tracing::debug!(target: "Store", "commit failed: {e}"),
            Err(e) => tracing::error!(target: "Store", "commit failed: {e}"),
            Ok(()) => {}
        }
        for completion in completions {
            let result = match &committed {
                Ok(()) => Ok(()),
                Err(Error::Full { max_size }) => Err(Error::Full {
                    max_size: *max_size,
                }),
                Err(Error::DiskFull { message }) => Err(Error::DiskFull {
                    message: message.clone(),
                }),
                Err(e) => Err(Error::Corrupt {
                    what: "commit".into(),
                    message: e.to_string(),
                }),
            };
            completion(result);
        }
    }
}
