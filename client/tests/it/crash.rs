//! Client crashes: the `sync-client` process is killed with SIGKILL while it writes (`import`,
//! one local transaction per line), while it uploads its queue (`sync`), and while it catches
//! up (a delta download of many log entries, and a full sync of many chunks). After every kill
//! each local transaction is still queued or already in the server's log (none lost, none
//! applied twice) and every put whose id the CLI printed is stored; on restart the client
//! resumes and finally holds exactly the server's data.
//!
//! `SYNC_CRASH_ITERATIONS` sets the kills of each kind (default [`DEFAULT_KILLS`]) and
//! `SYNC_CRASH_SEED` repeats a run's random choices; the seed is printed at the start.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use shared_types::protocol::{ClientMessage, GlobalId, Op, Value, decode_client};
use sync_client::ClientStore;
use sync_server::store::Store;

use crate::oracle::{Content, client_content, content_hash, first_difference, server_content};
use crate::support::{Server, WAIT, example_model, example_model_path};

/// Kills of each kind in the default (CI) mode.
const DEFAULT_KILLS: u64 = 5;

/// Lines per `import` run; the kill comes after a random number of them.
const IMPORT_LINES: u64 = 120;

/// Full-sync and catch-up messages are split at this size, so a catch-up is many messages (each
/// applied in its own local transaction) and a kill can land between them.
const SPLIT_MB: f64 = 1.0 / 1024.0;

#[test]
fn killed_while_writing_and_uploading_the_queue_loses_nothing() {
    let (kills, mut rng) = settings("write/upload");
    let mut h = Harness::start();
    let client = h.dir.path().join("client");
    let mut committed = Vec::new();
    let (mut import_kills, mut upload_kills, mut mid_upload) = (0, 0, 0);
    for round in 0..kills {
        // Local writes, killed after a random number of committed puts.
        let texts: Vec<String> = (0..IMPORT_LINES).map(|n| format!("w{round}-{n}")).collect();
        committed.extend(import(&client, &texts, Some(rng.below(IMPORT_LINES))));
        import_kills += 1;
        h.check_queue(&client, &committed);

        // Upload, killed once a random part of the queue is acknowledged (or at a random
        // moment before that).
        let queued = queue_len(&client);
        let target = queued.saturating_sub(1 + rng.below(queued.max(1)));
        let early = (rng.below(4) == 0).then(|| rng.below(20));
        let outcome = h.sync_until(&client, |state, polls| match early {
            Some(at) => polls >= at,
            None => state.queue_len <= target,
        });
        if outcome.killed {
            upload_kills += 1;
            mid_upload +=
                u64::from(outcome.after.queue_len > 0 && outcome.after.queue_len < queued);
        }
        h.check_queue(&client, &committed);
    }
    assert!(h.sync(&client), "a last sync uploads the rest");
    assert_eq!(queue_len(&client), 0);
    h.check_queue(&client, &committed);
    h.check_converged(&[&client]);
    eprintln!(
        "client crash test (write/upload): {} SIGKILLs ({import_kills} during import, {upload_kills} \
         during sync, {mid_upload} with the queue partly acknowledged), {} committed puts \
         checked, lost 0, duplicated 0",
        import_kills + upload_kills,
        committed.len()
    );
    h.stop();
}

#[test]
fn killed_while_catching_up_resumes_and_converges() {
    let (kills, mut rng) = settings("catch-up");
    let mut h = Harness::start();
    let feeder = h.dir.path().join("feeder");
    let delta = h.dir.path().join("delta");
    let mut committed: BTreeMap<PathBuf, Vec<(u64, String)>> = BTreeMap::new();

    // The delta client has a position; then others write a lot while it has local changes
    // queued (its offline queue during the catch-up).
    committed.insert(delta.clone(), import(&delta, &texts("d0", 3), None));
    assert!(h.sync(&delta));
    let mut mid_delta = 0;
    let mut delta_kills = 0;
    let mut edits = BTreeMap::new();
    for round in 0..kills {
        let start = status(&delta).last_seq;
        let head = h.feed(&feeder, round);
        committed.entry(delta.clone()).or_default().extend(import(
            &delta,
            &texts(&format!("d{}", round + 1), 2),
            None,
        ));
        // An offline edit of another client's object, queued while the catch-up brings newer
        // entries of that client: the edit must win.
        if let Some((id, gid)) = pick_feeder_task(&delta, &mut rng) {
            let text = format!("edit{round}");
            let output = cli(&delta, None)
                .args(["put", "Task", &format!(r#"{{"id":{id},"text":"{text}"}}"#)])
                .output()
                .expect("put runs");
            assert!(output.status.success(), "put: {output:?}");
            edits.insert(gid, text);
        }
        // Kill once the catch-up passed a random point between the old position and the head.
        let point = start + 1 + rng.below(head - start);
        let outcome = h.sync_until(&delta, |state, _| state.last_seq >= point);
        assert!(outcome.killed || status(&delta).last_seq >= head);
        if outcome.killed {
            delta_kills += 1;
            if outcome.after.last_seq > start && outcome.after.last_seq < head {
                mid_delta += 1;
            }
        }
        h.check_queue(&delta, &committed[&delta]);
    }

    // Full syncs. From here on the server keeps almost no log, so every client that falls behind
    // gets a full sync. Each fresh client is killed in the middle of its first full sync (its
    // puts still queued), then, once synced, in the middle of a full sync after the feeder's
    // next batch pruned the log past its position (its puts acknowledged and not protected by
    // the queue; one more put queued). Every restart begins the full sync again.
    h.history_kb = Some(1);
    h.stop();
    h.start_server();
    let (mut mid_full, mut mid_full_acked, mut full_kills) = (0, 0, 0);
    let mut fresh = Vec::new();
    let mut round = kills;
    while full_kills < kills {
        let dir = h.dir.path().join(format!("fresh{}", fresh.len()));
        let name = format!("f{}", fresh.len());
        committed.insert(dir.clone(), import(&dir, &texts(&name, 2), None));
        for acked in [false, true] {
            if acked {
                assert!(h.sync(&dir), "{} syncs", dir.display());
                round += 1;
                h.feed(&feeder, round);
                let more = import(&dir, &texts(&format!("{name}-more"), 1), None);
                committed.get_mut(&dir).expect("dir").extend(more);
            }
            for _ in 0..2 {
                // Kill after the full sync was seen in progress a random number of times.
                let (wait, mut seen) = (rng.below(8), 0);
                let outcome = h.sync_until(&dir, |state, _| {
                    seen += u64::from(state.full_sync_in_progress);
                    seen > wait
                });
                if !outcome.killed {
                    break;
                }
                full_kills += 1;
                if outcome.after.full_sync_in_progress {
                    mid_full += 1;
                    mid_full_acked += u64::from(acked);
                    // The position stays 0 until a full sync ends.
                    assert_eq!(outcome.after.last_seq, 0);
                }
                h.check_queue(&dir, &committed[&dir]);
            }
        }
        fresh.push(dir);
        assert!(
            fresh.len() as u64 <= 2 * kills + 2,
            "full syncs never got killed"
        );
    }
    assert!(mid_delta > 0, "no kill landed in a delta catch-up");
    assert!(mid_full > 0, "no kill landed in a full sync");
    assert!(
        mid_full_acked > 0,
        "no kill landed in a full sync of a client with acknowledged puts"
    );

    // Every client finishes, then every client has what every other one uploaded.
    let all: Vec<&Path> = [&feeder, &delta]
        .into_iter()
        .chain(&fresh)
        .map(PathBuf::as_path)
        .collect();
    for _ in 0..2 {
        for dir in &all {
            assert!(h.sync(dir), "{} syncs", dir.display());
        }
    }
    for (dir, committed) in &committed {
        h.check_queue(dir, committed);
    }
    let server = h.check_converged(&all);
    assert!(!edits.is_empty());
    for (gid, text) in &edits {
        assert_eq!(
            server[&(1, *gid)].iter().find(|(pid, _)| *pid == 2),
            Some(&(2, Value::String(text.clone()))),
            "the offline edit of {gid:?} is on the server"
        );
    }
    eprintln!(
        "client crash test (catch-up): {} SIGKILLs ({delta_kills} during delta catch-up, \
         {mid_delta} of them between old position and head; {full_kills} during full sync, \
         {mid_full} of them with the full sync in progress, {mid_full_acked} of those with \
         acknowledged own puts), {} clients converged, lost 0",
        delta_kills + full_kills,
        all.len()
    );
    h.stop();
}

/// The in-process server on a temporary directory, stopped for each check of its database and
/// started again on a new port (the CLI gets the URL with every run).
struct Harness {
    runtime: tokio::runtime::Runtime,
    dir: tempfile::TempDir,
    server: Option<Server>,
    url: String,
    /// The server's `historySizeMaxKb` (`None`: the default, far more than these tests write).
    history_kb: Option<u64>,
}

impl Harness {
    fn start() -> Harness {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let dir = tempfile::tempdir().expect("temp dir");
        let mut h = Harness {
            runtime,
            dir,
            server: None,
            url: String::new(),
            history_kb: None,
        };
        h.start_server();
        h
    }

    fn start_server(&mut self) {
        let history_kb = self.history_kb;
        let server = self.runtime.block_on(Server::start(self.dir.path(), |c| {
            c.full_sync_message_split_mb = SPLIT_MB;
            c.history_size_max_kb = history_kb;
        }));
        self.url = server.url();
        self.server = Some(server);
    }

    fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            self.runtime.block_on(server.stop());
        }
    }

    /// Runs `f` on the server's database while the server is stopped.
    fn with_server_store<R>(&mut self, f: impl FnOnce(&Store) -> R) -> R {
        self.stop();
        // `run` has returned, so the server's database is closed and opens at once.
        let store = Store::open(&self.dir.path().join("db"), 1 << 30).expect("server LMDB");
        store.verify_log_chain().expect("the hash chain verifies");
        let result = f(&store);
        store.close();
        self.start_server();
        result
    }

    /// Runs `sync` to its end; whether it succeeded.
    fn sync(&self, dir: &Path) -> bool {
        let output = cli(dir, Some(&self.url))
            .arg("sync")
            .output()
            .expect("sync-client runs");
        if !output.status.success() {
            eprintln!("sync failed: {}", String::from_utf8_lossy(&output.stderr));
        }
        output.status.success()
    }

    /// Runs `sync` and kills it with SIGKILL as soon as `kill_when` accepts the store's state
    /// (polled from this process, with the number of polls so far); `killed` is false if it
    /// finished first.
    fn sync_until(
        &self,
        dir: &Path,
        mut kill_when: impl FnMut(&sync_client::store::SyncState, u64) -> bool,
    ) -> Outcome {
        let mut child = cli(dir, Some(&self.url))
            .arg("sync")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sync-client runs");
        // Reading the store while the CLI writes it: LMDB allows other processes to read.
        let store = ClientStore::open(dir, example_model()).expect("store");
        let started = Instant::now();
        let mut polls = 0;
        let killed = loop {
            if let Some(status) = child.try_wait().expect("wait") {
                assert!(status.success(), "sync failed: {status}");
                break false;
            }
            let state = store.sync_state().expect("state");
            if kill_when(&state, polls) {
                kill(&mut child);
                break true;
            }
            polls += 1;
            assert!(started.elapsed() < WAIT, "sync hangs");
            std::thread::sleep(Duration::from_millis(2));
        };
        drop(store);
        Outcome {
            killed,
            after: status(dir),
        }
    }

    /// The feeder writes a batch of large objects and uploads them; returns the new head.
    fn feed(&self, feeder: &Path, round: u64) -> u64 {
        let texts: Vec<String> = (0..60)
            .map(|n| format!("feed{round}-{n}-{}", "x".repeat(1500)))
            .collect();
        import(feeder, &texts, None);
        assert!(self.sync(feeder), "the feeder uploads");
        status(feeder).last_seq
    }

    /// After a kill: every local transaction of `dir` is queued or applied on the server (in its
    /// log, or covered by its `peers` entry once pruned from the log), none is in the log twice,
    /// a queued one that the server already has is the same transaction, and every committed put
    /// (local id, text) is stored locally and carried by exactly one of those transactions (or,
    /// its transaction pruned, is on the server).
    fn check_queue(&mut self, dir: &Path, committed: &[(u64, String)]) {
        let store = ClientStore::open(dir, example_model()).expect("store");
        let state = store.sync_state().expect("state");
        let peer = state.peer_id;
        let queued: BTreeMap<u64, Vec<Op>> = store
            .queued_frames(0)
            .expect("queue")
            .into_iter()
            .map(|(tx_id, frame)| match decode_client(&frame) {
                Ok(ClientMessage::ApplyTx(tx)) => {
                    assert_eq!(tx.tx_id, tx_id);
                    (tx_id, tx.ops)
                }
                other => panic!("queued tx {tx_id}: {other:?}"),
            })
            .collect();
        let (logged, applied_up_to, server) = self.with_server_store(|server| {
            let mut logged = BTreeMap::new();
            for record in server
                .read(|r| r.read_log(1, usize::MAX, usize::MAX))
                .expect("log")
            {
                if record.origin == peer {
                    let again = logged.insert(record.client_tx_id, record.ops);
                    assert!(again.is_none(), "tx {} applied twice", record.client_tx_id);
                }
            }
            // The last tx id applied for the peer; it covers entries pruned from the log.
            let applied = server
                .peer_state(peer)
                .expect("peer")
                .map_or(0, |(tx, _)| tx);
            (logged, applied, server_content(server, &example_model()))
        });
        let mut carried: BTreeMap<GlobalId, Vec<(u64, Option<String>)>> = BTreeMap::new();
        for tx_id in 1..=state.last_tx_id {
            let ops = match (queued.get(&tx_id), logged.get(&tx_id)) {
                (Some(q), Some(l)) => {
                    assert_eq!(q, l, "tx {tx_id}: queued and logged differ");
                    q
                }
                (Some(ops), None) | (None, Some(ops)) => ops,
                (None, None) => {
                    // Applied and pruned from the log since.
                    assert!(
                        tx_id <= applied_up_to,
                        "tx {tx_id} is neither queued nor on the server"
                    );
                    continue;
                }
            };
            for op in ops {
                if let Op::Put { id, props, .. } = op {
                    let text = props.iter().find_map(|(pid, v)| match v {
                        Value::String(s) if *pid == 2 => Some(s.clone()),
                        _ => None,
                    });
                    carried.entry(*id).or_default().push((tx_id, text));
                }
            }
        }
        assert!(queued.keys().all(|tx| *tx <= state.last_tx_id));
        for (id, text) in committed {
            // Also while a full sync is unfinished: it replaces local data, it never hides it.
            let local = store.get("Task", *id).expect("get");
            let stored = local.as_ref().and_then(|o| o["text"].as_str());
            assert_eq!(stored, Some(text.as_str()), "committed put {id} is stored");
            let puts = carried
                .get(&GlobalId(peer, *id))
                .cloned()
                .unwrap_or_default();
            if puts.is_empty() {
                // Its transaction was pruned from the log: the object is on the server.
                let props = server.get(&(1, GlobalId(peer, *id)));
                assert!(
                    props.is_some_and(|p| p.contains(&(2, Value::String(text.clone())))),
                    "committed put {id} is neither queued, in the log nor on the server"
                );
            } else {
                assert_eq!(
                    puts.iter().map(|(_, t)| t.as_deref()).collect::<Vec<_>>(),
                    [Some(text.as_str())],
                    "committed put {id} travels in exactly one transaction: {puts:?}"
                );
            }
        }
    }

    /// Every client in `dirs` holds exactly the server's objects (compared by content hash).
    /// Returns the server's objects.
    fn check_converged(&mut self, dirs: &[&Path]) -> Content {
        let server = self.with_server_store(|store| server_content(store, &example_model()));
        let expected = content_hash(&server);
        for dir in dirs {
            let store = ClientStore::open(dir, example_model()).expect("store");
            let state = store.sync_state().expect("state");
            assert_eq!(state.queue_len, 0, "{}: queue", dir.display());
            let got = client_content(&store);
            assert_eq!(
                content_hash(&got),
                expected,
                "{} differs from the server: {}",
                dir.display(),
                first_difference(&got, &server)
            );
        }
        server
    }
}

/// How a killed (or finished) `sync` left the store.
struct Outcome {
    killed: bool,
    after: sync_client::store::SyncState,
}

fn settings(name: &str) -> (u64, Rng) {
    let kills = env_u64("SYNC_CRASH_ITERATIONS").unwrap_or(DEFAULT_KILLS);
    let seed = env_u64("SYNC_CRASH_SEED").unwrap_or_else(|| getrandom::u64().expect("seed"));
    eprintln!(
        "client crash test ({name}): seed {seed}, {kills} kills of each kind \
         (SYNC_CRASH_SEED={seed} repeats it)"
    );
    (kills, Rng(seed))
}

fn cli(dir: &Path, server: Option<&str>) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sync-client"));
    cmd.arg("--model")
        .arg(example_model_path())
        .arg("--dir")
        .arg(dir);
    if let Some(url) = server {
        cmd.args(["--server", url, "--timeout", "60"]);
    }
    cmd
}

fn texts(prefix: &str, n: u64) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}

/// Runs `import Task` with one object per text, killing it after `kill_after` printed ids
/// (`None`: lets it finish). Returns (local id, text) of every put it reported committed.
fn import(dir: &Path, texts: &[String], kill_after: Option<u64>) -> Vec<(u64, String)> {
    let mut child = cli(dir, None)
        .args(["import", "Task"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("sync-client runs");
    let mut stdin = child.stdin.take().expect("stdin");
    let input: String = texts
        .iter()
        .map(|t| format!("{}\n", serde_json::json!({ "text": t })))
        .collect();
    // Writes fail once the process is killed; that is expected.
    let feeder = std::thread::spawn(move || {
        let _ = stdin.write_all(input.as_bytes());
    });
    let mut ids = Vec::new();
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    if kill_after == Some(0) {
        kill(&mut child);
    }
    for line in lines.by_ref() {
        let line = line.expect("stdout");
        ids.push(line.trim().parse::<u64>().expect("an id per line"));
        if Some(ids.len() as u64) == kill_after {
            kill(&mut child);
        }
    }
    let status = child.wait().expect("wait");
    feeder.join().expect("stdin writer");
    if kill_after.is_none() {
        assert!(status.success(), "import failed: {status}");
        assert_eq!(ids.len(), texts.len());
    }
    ids.into_iter().zip(texts.iter().cloned()).collect()
}

/// The local id and global id of a random task of the feeder that `dir` has received.
fn pick_feeder_task(dir: &Path, rng: &mut Rng) -> Option<(u64, GlobalId)> {
    let store = ClientStore::open(dir, example_model()).expect("store");
    let entity = store.entity("Task").expect("Task").clone();
    let ids: Vec<u64> = store
        .list("Task")
        .expect("list")
        .iter()
        .filter(|o| o["text"].as_str().is_some_and(|t| t.starts_with("feed")))
        .filter_map(|o| o["id"].as_u64())
        .collect();
    let id = *ids.get(usize::try_from(rng.below(ids.len() as u64)).ok()?)?;
    Some((id, store.global_id(&entity, id).expect("global id")))
}

fn kill(child: &mut Child) {
    // `Child::kill` sends SIGKILL on Unix; an already exited child is fine.
    let _ = child.kill();
    let _ = child.wait();
}

fn status(dir: &Path) -> sync_client::store::SyncState {
    let store = ClientStore::open(dir, example_model()).expect("store");
    store.sync_state().expect("state")
}

fn queue_len(dir: &Path) -> u64 {
    status(dir).queue_len
}

/// SplitMix64: a small seeded generator, so that a run's random choices repeat with its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn env_u64(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    Some(
        value
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value:?} is not a number")),
    )
}
