//! Property test: several clients make random puts, updates and removes, some while offline,
//! and afterwards every client's store equals the server's state (seen by a fresh client's full
//! sync), object by object and value by value.

use std::collections::BTreeMap;
use std::time::Duration;

use proptest::prelude::*;
use serde_json::json;
use shared_types::protocol::{GlobalId, Value};
use sync_client::{ClientOptions, ClientStore, Event, SyncClient};

use crate::support::{Peer, Server, WAIT};

const PEERS: usize = 3;

#[derive(Debug, Clone)]
enum Action {
    /// A new task with this text.
    Create(u8),
    /// Updates the n-th (mod count) task this peer sees.
    Update(usize, u8),
    /// Removes the n-th (mod count) task this peer sees.
    Remove(usize),
    /// Disconnects; later actions of this peer happen offline until `Online`.
    Offline,
    Online,
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        4 => any::<u8>().prop_map(Action::Create),
        3 => (any::<usize>(), any::<u8>()).prop_map(|(n, t)| Action::Update(n, t)),
        2 => any::<usize>().prop_map(Action::Remove),
        1 => Just(Action::Offline),
        1 => Just(Action::Online),
    ]
}

fn steps() -> impl Strategy<Value = Vec<(usize, Action)>> {
    prop::collection::vec((0..PEERS, action()), 1..40)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn every_client_converges_to_the_server_state(steps in steps()) {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        runtime.block_on(run(steps));
    }
}

async fn run(steps: Vec<(usize, Action)>) {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), |_| {}).await;
    let url = server.url();
    let mut peers: Vec<Peer> = (0..PEERS).map(|_| Peer::new(&url, |_| {})).collect();
    let mut online = [true; PEERS];
    for peer in &peers {
        peer.client.start();
    }
    for (index, action) in steps {
        let peer = &mut peers[index];
        let tasks = peer.store.list("Task").unwrap();
        match action {
            Action::Create(t) => {
                peer.store
                    .put("Task", &json!({ "text": format!("t{t}") }))
                    .unwrap();
            }
            Action::Update(n, t) if !tasks.is_empty() => {
                let id = tasks[n % tasks.len()]["id"].clone();
                peer.store
                    .put("Task", &json!({ "id": id, "text": format!("u{t}") }))
                    .unwrap();
            }
            Action::Remove(n) if !tasks.is_empty() => {
                let id = tasks[n % tasks.len()]["id"].as_u64().unwrap();
                peer.store.remove("Task", id).unwrap();
            }
            Action::Offline if online[index] => {
                peer.client.stop().await;
                online[index] = false;
            }
            Action::Online if !online[index] => {
                reconnect(peer, &url);
                online[index] = true;
            }
            _ => {}
        }
    }
    for (index, peer) in peers.iter_mut().enumerate() {
        if !online[index] {
            reconnect(peer, &url);
        }
    }
    for peer in &mut peers {
        peer.wait_until_acked().await;
    }

    // Nothing is written any more: a fresh client's full sync is the server's state.
    let mut observer = Peer::new(&url, |_| {});
    observer.client.start();
    let head = match observer
        .wait_for(|e| matches!(e, Event::SyncCompleted(_)))
        .await
    {
        Event::SyncCompleted(seq) => seq,
        _ => unreachable!(),
    };
    let expected = snapshot(&observer.store);
    let mut differing = None;
    for (index, peer) in peers.iter_mut().enumerate() {
        wait_for_seq(peer, head).await;
        let got = snapshot(&peer.store);
        if got != expected && differing.is_none() {
            differing = Some((index, got));
        }
    }
    let peer_ids: Vec<u64> = peers.iter().map(|p| p.store.peer_id()).collect();
    for peer in peers.iter().chain([&observer]) {
        peer.client.stop().await;
    }
    server.stop().await;
    if let Some((index, got)) = differing {
        // Explain the difference with the server's log of the objects involved.
        let store = sync_server::store::Store::open(&dir.path().join("db"), 1 << 30).unwrap();
        let ids: Vec<GlobalId> = got
            .keys()
            .chain(expected.keys())
            .filter(|id| got.get(id) != expected.get(id))
            .copied()
            .collect();
        let mut history = String::new();
        for record in store
            .read(|r| r.read_log(1, usize::MAX, usize::MAX))
            .unwrap()
        {
            for op in &record.ops {
                let target = match op {
                    shared_types::protocol::Op::Put { id, .. }
                    | shared_types::protocol::Op::Remove { id, .. } => *id,
                    _ => continue,
                };
                if ids.contains(&target) {
                    history.push_str(&format!(
                        "  seq {} from peer {:?} tx {}: {op:?}\n",
                        record.seq,
                        peer_ids.iter().position(|p| *p == record.origin),
                        record.client_tx_id
                    ));
                }
            }
            if !record.rejected.is_empty() {
                history.push_str(&format!(
                    "  seq {} rejected {:?}\n",
                    record.seq, record.rejected
                ));
            }
        }
        store.close();
        panic!(
            "peer {index} differs from the server (head {head})\n got: {got:?}\n expected: {expected:?}\n differing: {ids:?} (peers {peer_ids:?})\n server log:\n{history}"
        );
    }
}

/// Starts a new sync client on the peer's store (the stopped one cannot be restarted).
fn reconnect(peer: &mut Peer, url: &str) {
    let mut options = ClientOptions::new(url);
    options.initial_backoff = Duration::from_millis(50);
    options.max_backoff = Duration::from_millis(200);
    peer.client = SyncClient::new(peer.store.clone(), options).unwrap();
    peer.events = peer.client.subscribe();
    peer.client.start();
}

/// Waits until the peer applied everything up to `seq`.
async fn wait_for_seq(peer: &mut Peer, seq: u64) {
    tokio::time::timeout(WAIT, async {
        while peer.store.sync_state().unwrap().last_seq < seq {
            // Any event may be the one that moved the position; re-check after each (or after a
            // short poll, since own-transaction entries advance it without an event).
            let _ = tokio::time::timeout(Duration::from_millis(50), peer.events.recv()).await;
        }
    })
    .await
    .expect("the peer catches up in time");
}

/// Every task as global id → values by property id.
fn snapshot(store: &ClientStore) -> BTreeMap<GlobalId, Vec<(u32, Value)>> {
    let entity = store.entity("Task").unwrap().clone();
    let mut out = BTreeMap::new();
    for object in store.list("Task").unwrap() {
        let id = object["id"].as_u64().unwrap();
        let mut values = store.get_values(&entity, id).unwrap().unwrap();
        values.sort_by_key(|(p, _)| *p);
        values.retain(|(_, v)| *v != Value::Null);
        out.insert(store.global_id(&entity, id).unwrap(), values);
    }
    out
}
