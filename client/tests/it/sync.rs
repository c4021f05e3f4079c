//! Peers syncing through the real server.

use serde_json::json;
use shared_types::protocol::LoginCode;
use sync_client::engine::Retry;
use sync_client::{Credentials, Event};
use sync_server::config::SharedSecret;

use crate::support::{Peer, Server};

fn texts(objects: &[serde_json::Map<String, serde_json::Value>]) -> Vec<String> {
    let mut texts: Vec<String> = objects
        .iter()
        .map(|o| o["text"].as_str().unwrap_or_default().to_owned())
        .collect();
    texts.sort();
    texts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_peers_converge_on_puts_updates_relations_and_removes() {
    let dir = tempfile::tempdir().expect("dir");
    let server = Server::start(dir.path(), |_| {}).await;
    let mut a = Peer::new(&server.url(), |_| {});
    let mut b = Peer::new(&server.url(), |_| {});

    let project = a
        .store
        .put("Project", &json!({"name": "Home"}))
        .expect("put");
    let task = a
        .store
        .put("Task", &json!({"text": "dishes", "projectId": project}))
        .expect("put");
    a.client.start();
    a.wait_for(|e| matches!(e, Event::SyncCompleted(_))).await;
    a.wait_until_acked().await;

    b.client.start();
    b.wait_until("Task", |tasks| texts(tasks) == ["dishes"])
        .await;
    let b_task = b.store.list("Task").expect("list").remove(0);
    let b_project = b_task["projectId"].as_u64().expect("relation mapped");
    let project_on_b = b
        .store
        .get("Project", b_project)
        .expect("get")
        .expect("present");
    assert_eq!(project_on_b["name"], json!("Home"));

    // B edits the task; A, live, sees it.
    let b_id = b_task["id"].as_u64().expect("id");
    b.store
        .put(
            "Task",
            &json!({"id": b_id, "text": "dishes done", "projectId": b_project}),
        )
        .expect("put");
    b.wait_until_acked().await;
    a.wait_until("Task", |tasks| texts(tasks) == ["dishes done"])
        .await;
    let on_a = a
        .store
        .get("Task", task)
        .expect("get")
        .expect("same object");
    assert_eq!(on_a["projectId"], json!(project));

    // A removes it; B sees the remove.
    assert!(a.store.remove("Task", task).expect("remove"));
    a.wait_until_acked().await;
    b.wait_until("Task", <[_]>::is_empty).await;

    a.client.stop().await;
    b.client.stop().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_changes_are_sent_when_the_server_returns() {
    let dir = tempfile::tempdir().expect("dir");
    let server = Server::start(dir.path(), |_| {}).await;
    let port = server.addr.port();
    let mut a = Peer::new(&server.url(), |_| {});
    a.client.start();
    a.wait_for(|e| matches!(e, Event::SyncCompleted(_))).await;

    server.stop().await;
    a.wait_for(|e| *e == Event::Disconnected).await;
    for text in ["one", "two", "three"] {
        a.store
            .put("Task", &json!({ "text": text }))
            .expect("put offline");
    }
    a.wait_for(|e| matches!(e, Event::ConnectFailed { .. }))
        .await;
    assert_eq!(a.client.outgoing_queue_len().expect("len"), 3);

    let server = Server::start(dir.path(), |c| c.bind.port = port).await;
    a.wait_until_acked().await;
    let mut b = Peer::new(&server.url(), |_| {});
    b.client.start();
    b.wait_until("Task", |tasks| texts(tasks) == ["one", "three", "two"])
        .await;
    a.client.stop().await;
    b.client.stop().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_peer_gets_a_full_sync_and_keeps_its_offline_changes() {
    let dir = tempfile::tempdir().expect("dir");
    let server = Server::start(dir.path(), |_| {}).await;
    let mut a = Peer::new(&server.url(), |_| {});
    a.store
        .put("Task", &json!({"text": "from a"}))
        .expect("put");
    a.client.start();
    a.wait_until_acked().await;

    let mut c = Peer::new(&server.url(), |_| {});
    let mine = c
        .store
        .put("Task", &json!({"text": "from c"}))
        .expect("put");
    c.client.start();
    c.wait_for(|e| matches!(e, Event::SyncCompleted(_))).await;
    c.wait_until_acked().await;
    c.wait_until("Task", |tasks| texts(tasks) == ["from a", "from c"])
        .await;
    assert_eq!(
        c.store.get("Task", mine).expect("get").expect("kept")["text"],
        json!("from c")
    );
    a.wait_until("Task", |tasks| texts(tasks) == ["from a", "from c"])
        .await;
    a.client.stop().await;
    c.client.stop().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_secret_login_and_rejected_credentials() {
    let dir = tempfile::tempdir().expect("dir");
    let server = Server::start(dir.path(), |c| {
        c.unsecured_no_authentication = false;
        c.auth.shared_secret = Some(SharedSecret {
            value: "s3cret".into(),
            required: false,
        });
    })
    .await;
    let mut peer = Peer::new(&server.url(), |o| {
        o.credentials = Credentials::SharedSecret(b"wrong".to_vec());
    });
    peer.client.start();
    let failed = peer
        .wait_for(|e| matches!(e, Event::LoginFailed { .. }))
        .await;
    assert!(matches!(
        failed,
        Event::LoginFailed {
            code: LoginCode::CredentialsRejected,
            ..
        }
    ));
    peer.wait_for(|e| *e == Event::Disconnected).await;
    assert_eq!(
        peer.client.status().blocked,
        Some((LoginCode::CredentialsRejected, Retry::WhenCredentialsChange))
    );

    peer.client
        .set_credentials(Credentials::SharedSecret(b"s3cret".to_vec()));
    peer.wait_for(|e| matches!(e, Event::LoggedIn { .. })).await;
    peer.wait_for(|e| matches!(e, Event::SyncCompleted(_)))
        .await;
    peer.client.stop().await;
    server.stop().await;
}
