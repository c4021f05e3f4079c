//! The limits the server is compared with: raw heed puts (storage) and a plain
//! tokio-tungstenite broadcast server (network).

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Result;
use futures_util::{SinkExt, StreamExt};
use heed::EnvOpenOptions;
use heed::types::Bytes as RawBytes;
use tokio::net::TcpListener;
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::Message;

/// Map size of the baseline LMDB environment (sparse; only written pages use disk).
const BASELINE_MAP_SIZE: usize = 16 << 30;
/// Frames the broadcast server buffers per subscriber before one lags.
const BROADCAST_CAPACITY: usize = 1024;

/// Puts `objects` (key, value) into a fresh LMDB environment in `dir`, committing after every
/// `per_commit` puts (and at the end). Returns the elapsed time, commits included.
pub fn heed_puts(
    dir: &Path,
    objects: &[([u8; 24], Vec<u8>)],
    per_commit: usize,
) -> Result<Duration> {
    with_fresh(dir, |env, db| {
        let started = Instant::now();
        for chunk in objects.chunks(per_commit.max(1)) {
            let mut wtxn = env.write_txn()?;
            for (key, value) in chunk {
                db.put(&mut wtxn, key, value)?;
            }
            wtxn.commit()?;
        }
        Ok(started.elapsed())
    })
}

/// Puts `objects` into a fresh LMDB environment in `dir` in one transaction (not timed), then
/// times one read transaction that walks them all with a cursor and copies each value out (what
/// a full sync must at least do to read the data). Returns the elapsed time of the walk.
pub fn heed_scan(dir: &Path, objects: &[([u8; 24], Vec<u8>)]) -> Result<Duration> {
    with_fresh(dir, |env, db| {
        let mut wtxn = env.write_txn()?;
        for (key, value) in objects {
            db.put(&mut wtxn, key, value)?;
        }
        wtxn.commit()?;

        let started = Instant::now();
        let rtxn = env.read_txn()?;
        let mut copied = Vec::with_capacity(objects.len());
        for entry in db.iter(&rtxn)? {
            let (_, value) = entry?;
            copied.push(value.to_vec());
        }
        drop(rtxn);
        let elapsed = started.elapsed();
        anyhow::ensure!(copied.len() == objects.len(), "the scan missed objects");
        Ok(elapsed)
    })
}

/// Runs `f` on a fresh LMDB environment in `dir` (durable default flags) with one `objects`
/// database.
fn with_fresh<R>(
    dir: &Path,
    f: impl FnOnce(&heed::Env, heed::Database<'_, RawBytes, RawBytes>) -> Result<R>,
) -> Result<R> {
    std::fs::create_dir_all(dir)?;
    let mut options = EnvOpenOptions::new();
    options.map_size(BASELINE_MAP_SIZE).max_dbs(1);
    // SAFETY: the directory is fresh and private to the caller; the environment is opened once
    // and nothing else maps or modifies its files while it is open.
    let env = unsafe { options.open(dir) }?;
    let wtxn = env.write_txn()?;
    let db = env
        .create_databases_and_commit(wtxn, |opener, wtxn| -> heed::Result<_> {
            let db = opener.create_database::<RawBytes, RawBytes>(wtxn, Some("objects"))?;
            Ok(heed::CommitOrAbort::<_, ()>::Commit(db))
        })?
        .unwrap_commit();
    f(&env, db)
}

/// A plain WebSocket broadcast server: every binary frame a client sends goes to every other
/// connected client. Returns its address; it runs until the runtime ends.
pub async fn start_broadcast_server() -> Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    // Each connection holds a receiver; the sending connection's id travels with the frame so
    // it is not echoed back.
    let (tx, _) = broadcast::channel::<Frame>(BROADCAST_CAPACITY);
    tokio::spawn(async move {
        let mut next_id = 0u64;
        while let Ok((stream, _)) = listener.accept().await {
            next_id += 1;
            let id = next_id;
            let tx = tx.clone();
            let mut rx = tx.subscribe();
            tokio::spawn(async move {
                let _ = stream.set_nodelay(true);
                let Ok(ws) = tokio_tungstenite::accept_async(stream).await else {
                    return;
                };
                let (mut sink, mut stream) = ws.split();
                loop {
                    tokio::select! {
                        frame = stream.next() => match frame {
                            Some(Ok(Message::Binary(data))) => {
                                let _ = tx.send(Frame { from: id, data });
                            }
                            Some(Ok(_)) => {}
                            _ => return,
                        },
                        frame = rx.recv() => match frame {
                            Ok(frame) if frame.from != id => {
                                if sink.send(Message::Binary(frame.data)).await.is_err() {
                                    return;
                                }
                            }
                            Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                            Err(broadcast::error::RecvError::Closed) => return,
                        },
                    }
                }
            });
        }
    });
    Ok(addr)
}

/// One frame on its way to every other connection of the broadcast server.
#[derive(Clone)]
struct Frame {
    from: u64,
    data: bytes::Bytes,
}

/// The hidden `broadcast` mode: the broadcast server in a process of its own (a multi-thread
/// runtime like the sync server's). Prints `port N`, then serves until stdin closes.
// Standard output is the protocol with the bench.
#[allow(clippy::print_stdout)]
pub fn broadcast_process() -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let addr = start_broadcast_server().await?;
        println!("port {}", addr.port());
        tokio::task::spawn_blocking(|| {
            use std::io::Read;
            let _ = std::io::stdin().read_to_end(&mut Vec::new());
        })
        .await?;
        anyhow::Ok(())
    })?;
    // The connection tasks would keep the runtime's drop waiting on nothing useful.
    std::process::exit(0)
}
