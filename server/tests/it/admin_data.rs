//! The admin API's data, schema, history, events and trial routes against the real server
//! in-process, over HTTP on loopback, with data written through the raw protocol client.

use std::net::SocketAddr;
use std::path::Path;

use serde_json::{Value as Json, json};
use shared_types::protocol::*;
use sync_server::config::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::protocol::Raw;
use crate::support::{example_model, fixture};

const TASK: u32 = 1;
const TASK_TEXT: u32 = 2;
const TASK_CREATED: u32 = 3;
const TASK_PROJECT: u32 = 5;
const PROJECT: u32 = 2;
const PROJECT_NAME: u32 = 2;

/// The server with its admin API open (`admin_unsecured_no_authentication`).
struct Admin {
    sync: SocketAddr,
    http: SocketAddr,
    inner: crate::support::InProcess,
}

impl Admin {
    async fn start(dir: &Path, tweak: impl FnOnce(&mut Config)) -> Admin {
        let mut config = Config::for_tests(Some(example_model()), dir.join("db"));
        config.admin_unsecured_no_authentication = true;
        config.log_level = sync_server::logging::LogLevel::Warn;
        tweak(&mut config);
        let inner = crate::support::InProcess::start(config).await;
        let sync = inner.sync;
        let http = inner.admin.expect("admin addr");
        Admin { sync, http, inner }
    }

    async fn stop(self) {
        self.inner.stop().await;
    }

    async fn get(&self, path: &str) -> Response {
        request(self.http, "GET", path, None).await
    }

    /// GET, expecting 200 and JSON.
    async fn json(&self, path: &str) -> Json {
        let response = self.get(path).await;
        assert_eq!(response.status, 200, "{path}: {}", response.text());
        response.json()
    }

    async fn send(&self, method: &str, path: &str, body: &str) -> Response {
        request(self.http, method, path, Some(body)).await
    }
}

/// An HTTP response, with the body de-chunked and the number of chunks it came in.
struct Response {
    status: u16,
    headers: String,
    body: Vec<u8>,
    chunks: usize,
}

impl Response {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn json(&self) -> Json {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.text()))
    }

    fn header(&self, name: &str) -> Option<String> {
        self.headers.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name)
                .then(|| value.trim().to_owned())
        })
    }

    /// The error code of an error answer.
    fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    fn message(&self) -> String {
        self.json()["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

/// A minimal HTTP/1.1 client: one request per connection, chunked bodies decoded.
async fn request(addr: SocketAddr, method: &str, path: &str, body: Option<&str>) -> Response {
    request_with(addr, method, path, body, "").await
}

/// Like [`request`], with extra header lines (each ending in `\r\n`).
async fn request_with(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&str>,
    extra_headers: &str,
) -> Response {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let body = body.unwrap_or("");
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n{extra_headers}\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    stream.write_all(body.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(120),
        stream.read_to_end(&mut raw),
    )
    .await
    .expect("response in time")
    .expect("read");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of headers");
    let headers = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = headers
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    let mut rest = &raw[split + 4..];
    let mut response = Response {
        status,
        headers,
        body: Vec::new(),
        chunks: 0,
    };
    if response
        .header("transfer-encoding")
        .is_some_and(|v| v.contains("chunked"))
    {
        loop {
            let line_end = rest
                .windows(2)
                .position(|w| w == b"\r\n")
                .expect("chunk size");
            let size_text = String::from_utf8_lossy(&rest[..line_end]).into_owned();
            let size = usize::from_str_radix(size_text.trim(), 16).expect("hex chunk size");
            rest = &rest[line_end + 2..];
            if size == 0 {
                break;
            }
            response.body.extend_from_slice(&rest[..size]);
            response.chunks += 1;
            rest = &rest[size + 2..];
        }
    } else {
        response.body = rest.to_vec();
        response.chunks = 1;
    }
    response
}

fn put_task(peer: u64, local: u64, text: &str, created_ms: i64, project: Option<GlobalId>) -> Op {
    let mut props = vec![
        (TASK_TEXT, Value::String(text.into())),
        (TASK_CREATED, Value::Int(created_ms)),
    ];
    if let Some(p) = project {
        props.push((
            TASK_PROJECT,
            Value::List(vec![Value::Int(p.0 as i64), Value::Int(p.1 as i64)]),
        ));
    }
    Op::Put {
        entity: TASK,
        id: GlobalId(peer, local),
        props,
    }
}

/// Sends a transaction and waits for its Ack.
async fn apply(raw: &mut Raw, tx_id: u64, ops: Vec<Op>) {
    raw.send(&ClientMessage::ApplyTx(ApplyTx { tx_id, ops }))
        .await;
    loop {
        match raw.recv().await {
            ServerMessage::Ack { tx_id: got, .. } if got == tx_id => return,
            ServerMessage::Push { .. } => {}
            other => panic!("{other:?}"),
        }
    }
}

const PEER: u64 = 0xA1;

#[tokio::test]
async fn entities_objects_and_values_are_rendered_with_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let server = Admin::start(dir.path(), |_| {}).await;
    let mut raw = Raw::login_ok(server.sync, PEER, 0, RequestUpdatesMode::Manual).await;
    let project = GlobalId(PEER, 1);
    apply(
        &mut raw,
        1,
        vec![Op::Put {
            entity: PROJECT,
            id: project,
            props: vec![(PROJECT_NAME, Value::String("home".into()))],
        }],
    )
    .await;
    let ops = (1..=7)
        .map(|i| {
            put_task(
                PEER,
                i,
                &format!("task {i}"),
                1_700_000_000_123,
                Some(project),
            )
        })
        .collect();
    apply(&mut raw, 2, ops).await;

    let entities = server.json("/api/data/entities").await;
    assert_eq!(
        entities["entities"],
        json!([
            {"name": "Task", "id": 1, "uid": 6_645_479_796_472_661_392_u64, "syncEnabled": true, "objectCount": 7},
            {"name": "Project", "id": 2, "uid": 4_125_913_566_180_238_541_u64, "syncEnabled": true, "objectCount": 1},
        ])
    );

    let page = server
        .json("/api/data/entities/Task/objects?offset=2&limit=3")
        .await;
    assert_eq!(
        (
            page["total"].clone(),
            page["offset"].clone(),
            page["limit"].clone()
        ),
        (json!(7), json!(2), json!(3))
    );
    let ids: Vec<&Json> = page["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| &o["id"])
        .collect();
    assert_eq!(ids, [&json!("A1:3"), &json!("A1:4"), &json!("A1:5")]);
    assert_eq!(
        page["objects"][0],
        json!({
            "id": "A1:3",
            "text": "task 3",
            "dateCreated": {"iso": "2023-11-14T22:13:20.123Z", "ms": 1_700_000_000_123_u64},
            "dateFinished": null,
            "projectId": "A1:1",
            "syncClock": null,
        })
    );
    let default_page = server.json("/api/data/entities/Task/objects").await;
    assert_eq!(default_page["limit"], 50);
    assert_eq!(default_page["objects"].as_array().unwrap().len(), 7);

    let one = server.json("/api/data/entities/Project/objects/A1:1").await;
    assert_eq!(one, json!({"id": "A1:1", "name": "home", "color": null}));

    // Error paths name the bad value.
    let check = |response: Response, status: u16, code: &str, needle: &str| {
        assert_eq!(response.status, status, "{}", response.text());
        assert_eq!(response.code(), code);
        assert!(
            response.message().contains(needle),
            "{}",
            response.message()
        );
    };
    check(
        server.get("/api/data/entities/Nope/objects").await,
        404,
        "not_found",
        "\"Nope\"",
    );
    check(
        server
            .get("/api/data/entities/Task/objects?limit=1001")
            .await,
        400,
        "invalid_request",
        "1001",
    );
    check(
        server.get("/api/data/entities/Task/objects?limit=0").await,
        400,
        "invalid_request",
        "limit 0",
    );
    check(
        server
            .get("/api/data/entities/Task/objects?offset=-1")
            .await,
        400,
        "invalid_request",
        "\"-1\"",
    );
    check(
        server
            .get("/api/data/entities/Task/objects?limit=1&limit=2")
            .await,
        400,
        "invalid_request",
        "limit",
    );
    check(
        server.get("/api/data/entities/Task/objects/zz:x").await,
        400,
        "invalid_request",
        "zz:x",
    );
    check(
        server.get("/api/data/entities/Task/objects/A1:99").await,
        404,
        "not_found",
        "A1:99",
    );
    check(
        server.get("/api/data/export/Nope").await,
        404,
        "not_found",
        "Nope",
    );

    // Exports parse back to the same objects.
    let export = server.get("/api/data/export/Task").await;
    assert_eq!(export.status, 200);
    assert_eq!(
        export.header("content-disposition").as_deref(),
        Some("attachment; filename=\"Task.json\"")
    );
    let parsed = export.json();
    assert_eq!(parsed["entity"], "Task");
    assert_eq!(parsed["objects"].as_array().unwrap().len(), 7);
    assert_eq!(parsed["objects"][2], page["objects"][0]);
    let all = server.get("/api/data/export").await.json();
    let entities: Vec<&str> = all["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["_entity"].as_str().unwrap())
        .collect();
    assert_eq!(entities.len(), 8);
    assert_eq!(all["links"], json!([]));
    assert_eq!(entities.iter().filter(|e| **e == "Project").count(), 1);

    drop(raw);
    server.stop().await;
}

#[tokio::test]
async fn a_large_export_is_streamed_in_many_chunks() {
    const OBJECTS: u64 = 50_000;
    const PER_TX: u64 = 2_000;
    let dir = tempfile::tempdir().unwrap();
    let server = Admin::start(dir.path(), |_| {}).await;
    let mut raw = Raw::login_ok(server.sync, PEER, 0, RequestUpdatesMode::Manual).await;
    for tx in 0..OBJECTS / PER_TX {
        let ops = (0..PER_TX)
            .map(|i| {
                let id = tx * PER_TX + i + 1;
                put_task(PEER, id, &format!("object number {id}"), 0, None)
            })
            .collect();
        apply(&mut raw, tx + 1, ops).await;
    }
    let export = server.get("/api/data/export/Task").await;
    assert_eq!(export.status, 200);
    // Streamed: chunked transfer, one chunk per short read transaction (256 KiB of stored data),
    // so the server never holds the whole export.
    assert!(
        export
            .header("transfer-encoding")
            .is_some_and(|v| v.contains("chunked")),
        "{}",
        export.headers
    );
    assert!(export.chunks >= 5, "only {} chunks", export.chunks);
    let parsed = export.json();
    let objects = parsed["objects"].as_array().unwrap();
    assert_eq!(objects.len() as u64, OBJECTS);
    assert_eq!(objects[0]["id"], "A1:1");
    assert_eq!(objects[49_999]["text"], "object number 50000");
    drop(raw);
    server.stop().await;
}

#[tokio::test]
async fn schema_versions_upload_accept_clients_and_switch() {
    let dir = tempfile::tempdir().unwrap();
    let server = Admin::start(dir.path(), |_| {}).await;

    let current = server.json("/api/schema").await;
    assert_eq!(current["versionId"], 1);
    let task = &current["entities"][0];
    assert_eq!(task["name"], "Task");
    assert_eq!(task["flagNames"], json!(["SYNC_ENABLED"]));
    let project_id = &task["properties"][4];
    assert_eq!(project_id["name"], "projectId");
    assert_eq!(project_id["typeName"], "Relation");
    assert_eq!(project_id["relationTarget"], "Project");
    assert_eq!(
        project_id["flagNames"],
        json!(["INDEXED", "INDEX_PARTIAL_SKIP_ZERO"])
    );
    assert_eq!(task["properties"][5]["flagNames"], json!(["SYNC_CLOCK"]));

    // An illegal model is refused with the start-up check's message; an invalid one too.
    let illegal = std::fs::read_to_string(fixture("evolution/illegal-type-change.json")).unwrap();
    let refused = server.send("POST", "/api/schema/versions", &illegal).await;
    assert_eq!(refused.status, 409, "{}", refused.text());
    assert_eq!(refused.code(), "illegal_evolution");
    assert!(
        refused
            .message()
            .contains("is not a legal update of the current schema version 1"),
        "{}",
        refused.message()
    );
    let invalid = server
        .send("POST", "/api/schema/versions", "{\"entities\": 5}")
        .await;
    assert_eq!(
        (invalid.status, invalid.code().as_str()),
        (400, "invalid_model"),
        "{}",
        invalid.text()
    );
    let bad_flag = server
        .send("POST", "/api/schema/versions?acceptClients=maybe", "{}")
        .await;
    assert_eq!(bad_flag.status, 400);
    assert!(bad_flag.message().contains("\"maybe\""));

    // A legal evolution becomes version 2, refusing clients until allowed.
    let v2 = std::fs::read_to_string(fixture("evolution/v2-add-property-and-entity.json")).unwrap();
    let created = server
        .send("POST", "/api/schema/versions?acceptClients=false", &v2)
        .await;
    assert_eq!(created.status, 201, "{}", created.text());
    let created = created.json();
    assert_eq!(
        (
            &created["id"],
            &created["author"],
            &created["acceptClients"],
            &created["current"]
        ),
        (&json!(2), &json!("admin-api"), &json!(false), &json!(false))
    );
    let again = server.send("POST", "/api/schema/versions", &v2).await;
    assert_eq!((again.status, again.code().as_str()), (409, "same_model"));
    let model = server.get("/api/schema/versions/2/model").await;
    assert_eq!(
        model.header("content-type").as_deref(),
        Some("application/json")
    );
    assert_eq!(model.text(), v2);
    assert_eq!(server.get("/api/schema/versions/9/model").await.status, 404);
    assert_eq!(server.get("/api/schema/versions/x/model").await.status, 400);

    let allowed = server
        .send(
            "PUT",
            "/api/schema/versions/2/accept-clients",
            "{\"acceptClients\": true}",
        )
        .await;
    assert_eq!(allowed.status, 200, "{}", allowed.text());
    assert_eq!(allowed.json()["acceptClients"], true);
    let typo = server
        .send(
            "PUT",
            "/api/schema/versions/2/accept-clients",
            "{\"accept\": true}",
        )
        .await;
    assert_eq!(typo.status, 400);
    assert!(typo.message().contains("accept"), "{}", typo.message());
    assert_eq!(
        server
            .send(
                "PUT",
                "/api/schema/versions/7/accept-clients",
                "{\"acceptClients\": true}"
            )
            .await
            .status,
        404
    );

    let switched = server
        .send("PUT", "/api/schema/current", "{\"id\": 2}")
        .await;
    assert_eq!(switched.status, 200, "{}", switched.text());
    let switched = switched.json();
    assert_eq!(
        (
            &switched["current"],
            &switched["running"],
            &switched["restartRequired"]
        ),
        (&json!(2), &json!(1), &json!(true))
    );
    assert_eq!(
        server
            .send("PUT", "/api/schema/current", "{\"id\": 5}")
            .await
            .status,
        404
    );
    let versions = server.json("/api/schema/versions").await;
    let flags: Vec<(u64, bool, bool)> = versions["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["id"].as_u64().unwrap(),
                v["current"].as_bool().unwrap(),
                v["running"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(flags, [(1, false, true), (2, true, false)]);

    // A client login is counted per schema.
    let mut raw = Raw::login_ok(server.sync, PEER, 0, RequestUpdatesMode::Manual).await;
    // The count is queued at login; a later acknowledged write is committed after it.
    apply(&mut raw, 1, vec![put_task(PEER, 1, "t", 0, None)]).await;
    drop(raw);
    let (full, base) = crate::protocol::example_hashes();
    let clients = server.json("/api/schema/clients").await["clients"].clone();
    assert_eq!(clients[0]["fullHash"], full.as_str());
    assert_eq!(clients[0]["baseHash"], base.as_str());
    assert_eq!(clients[0]["loginCount"], 1);

    // Created and switched versions are log events.
    let events = server.json("/api/events").await;
    let messages: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    assert!(
        messages.contains(&"Switched the current schema version to 2"),
        "{messages:?}"
    );
    assert!(
        messages.contains(&"Schema version 2 created by admin-api"),
        "{messages:?}"
    );
    server.stop().await;

    // The next start runs on version 2 (no model file: the stored current version).
    let server = Admin::start(dir.path(), |c| c.model_file = None).await;
    assert_eq!(server.json("/api/schema").await["versionId"], 2);
    server.stop().await;
}

#[tokio::test]
async fn history_pages_both_ways_and_finds_by_seq() {
    let dir = tempfile::tempdir().unwrap();
    let server = Admin::start(dir.path(), |_| {}).await;
    let empty = server.json("/api/history").await;
    assert_eq!(
        (&empty["headSeq"], &empty["oldestSeq"], &empty["entries"]),
        (&json!(0), &Json::Null, &json!([]))
    );
    let mut raw = Raw::login_ok(server.sync, PEER, 0, RequestUpdatesMode::Manual).await;
    for tx in 1..=5 {
        let ops = (0..tx)
            .map(|i| put_task(PEER, tx * 10 + i, "t", 0, None))
            .collect();
        apply(&mut raw, tx, ops).await;
    }
    let newest = server.json("/api/history?limit=2").await;
    assert_eq!(
        (&newest["headSeq"], &newest["oldestSeq"]),
        (&json!(5), &json!(1))
    );
    let seqs = |page: &Json| -> Vec<u64> {
        page["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["seq"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(seqs(&newest), [5, 4]);
    assert_eq!(
        seqs(&server.json("/api/history?before=4&limit=2").await),
        [3, 2]
    );
    assert_eq!(
        seqs(&server.json("/api/history?from=2&limit=2").await),
        [2, 3]
    );
    let entry = server.json("/api/history/3").await;
    assert_eq!(
        (&entry["origin"], &entry["clientTxId"], &entry["opCount"]),
        (&json!("00000000000000A1"), &json!(3), &json!(3))
    );
    assert!(entry["size"].as_u64().unwrap() > 0);
    assert!(entry["timeMs"].as_u64().unwrap() > 0);
    assert_eq!(server.get("/api/history/99").await.status, 404);
    assert_eq!(server.get("/api/history/x").await.status, 400);
    assert_eq!(server.get("/api/history?limit=5000").await.status, 400);
    assert_eq!(server.get("/api/history?from=1&before=3").await.status, 400);
    drop(raw);
    server.stop().await;
}

#[tokio::test]
async fn events_record_start_and_stop_page_newest_first_and_export() {
    let dir = tempfile::tempdir().unwrap();
    let server = Admin::start(dir.path(), |_| {}).await;
    server.stop().await;
    let server = Admin::start(dir.path(), |_| {}).await;
    let page = server.json("/api/events").await;
    let messages: Vec<String> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap().to_owned())
        .collect();
    let started = format!("Started sync-server {}", sync_server::VERSION);
    assert_eq!(messages, [started.as_str(), "Stopping", started.as_str()]);
    let first = &page["events"][0];
    assert_eq!(
        (&first["type"], &first["component"]),
        (&json!("Important"), &json!("server"))
    );
    assert_eq!(first["serverVersion"], sync_server::VERSION);
    assert_eq!(first["id"].as_str().unwrap().len(), 36);

    let one = server.json("/api/events?limit=1").await;
    let cursor = one["nextBefore"].as_str().unwrap().to_owned();
    let older = server
        .json(&format!("/api/events?before={cursor}&limit=5"))
        .await;
    assert_eq!(older["events"].as_array().unwrap().len(), 2);
    assert_eq!(older["events"][0]["message"], "Stopping");
    assert_eq!(older["nextBefore"], Json::Null);
    let bad = server.get("/api/events?before=xyz").await;
    assert_eq!(bad.status, 400);
    assert!(bad.message().contains("\"xyz\""));

    let export = server.get("/api/events/export").await;
    assert_eq!(export.status, 200);
    assert!(
        export
            .header("content-disposition")
            .unwrap()
            .contains("attachment")
    );
    assert_eq!(export.json().as_array().unwrap().len(), 3);
    server.stop().await;
}

/// Sets the dataset's creation time (meta `created-ms`) while the server is stopped.
fn set_created_ms(db: &Path, created_ms: u64) {
    let store = sync_server::store::Store::open(db, 1 << 30).expect("open");
    store
        .write_blocking(move |w| {
            w.put_meta(
                sync_server::store::meta_key::CREATED_MS,
                &created_ms.to_be_bytes(),
            )
        })
        .expect("write");
    store.close();
}

async fn login_code(addr: SocketAddr) -> (LoginCode, String) {
    let mut raw = Raw::connect(addr).await;
    match raw.login(PEER, 0, RequestUpdatesMode::Manual).await {
        ServerMessage::LoginResult { code, message, .. } => (code, message),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn trial_needs_acceptance_and_expires() {
    let dir = tempfile::tempdir().unwrap();
    // Not configured: no acceptance needed, unlimited.
    let server = Admin::start(dir.path(), |_| {}).await;
    let status = server.json("/api/trial").await;
    assert_eq!(
        (
            &status["trialDays"],
            &status["accepted"],
            &status["clientsAdmitted"]
        ),
        (&Json::Null, &json!(false), &json!(true))
    );
    assert_eq!(status["datasetId"].as_str().unwrap().len(), 32);
    assert!(
        status["howToRestart"]
            .as_str()
            .unwrap()
            .contains("--db-directory")
    );
    assert_eq!(login_code(server.sync).await.0, LoginCode::Ok);
    server.stop().await;

    // Configured: refused until accepted.
    let server = Admin::start(dir.path(), |c| c.trial_days = Some(30)).await;
    let (code, message) = login_code(server.sync).await;
    assert_eq!(code, LoginCode::ReqRejected);
    assert!(
        message.contains("trial terms have not been accepted"),
        "{message}"
    );
    let status = server.json("/api/trial").await;
    assert_eq!(
        (
            &status["trialDays"],
            &status["daysLeft"],
            &status["expired"]
        ),
        (&json!(30), &json!(30), &json!(false))
    );
    let bad = server
        .send("POST", "/api/trial/accept", "{\"role\": \"CEO\"}")
        .await;
    assert_eq!(bad.status, 400);
    assert!(bad.message().contains("CEO"), "{}", bad.message());
    let accepted = server
        .send("POST", "/api/trial/accept", "{\"role\": \"11-50\"}")
        .await;
    assert_eq!(accepted.status, 200, "{}", accepted.text());
    let accepted = accepted.json();
    assert_eq!(
        (
            &accepted["accepted"],
            &accepted["acceptedBy"],
            &accepted["role"]
        ),
        (&json!(true), &json!("admin-api"), &json!("11-50"))
    );
    assert!(accepted["acceptedMs"].as_u64().unwrap() > 0);
    let twice = server
        .send("POST", "/api/trial/accept", "{\"role\": \"student\"}")
        .await;
    assert_eq!(twice.status, 409);
    assert_eq!(login_code(server.sync).await.0, LoginCode::Ok);
    server.stop().await;

    // 31 days later the trial has expired.
    let db = dir.path().join("db");
    let now = u64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap();
    set_created_ms(&db, now - 31 * 86_400_000);
    let server = Admin::start(dir.path(), |c| c.trial_days = Some(30)).await;
    let (code, message) = login_code(server.sync).await;
    assert_eq!(code, LoginCode::TrialExpired);
    assert!(
        message.contains("30-day trial") && message.contains("--db-directory"),
        "{message}"
    );
    let status = server.json("/api/trial").await;
    assert_eq!(
        (
            &status["expired"],
            &status["daysLeft"],
            &status["clientsAdmitted"]
        ),
        (&json!(true), &json!(0), &json!(false))
    );
    server.stop().await;

    // 0 days: unlimited once accepted.
    let server = Admin::start(dir.path(), |c| c.trial_days = Some(0)).await;
    assert_eq!(login_code(server.sync).await.0, LoginCode::Ok);
    let status = server.json("/api/trial").await;
    assert_eq!(
        (
            &status["trialDays"],
            &status["daysLeft"],
            &status["expired"]
        ),
        (&json!(0), &Json::Null, &json!(false))
    );
    server.stop().await;
}

#[tokio::test]
async fn a_logged_in_admin_is_recorded_as_author_and_acceptor() {
    const USER: &str = "alice";
    const PASSWORD: &str = "correct horse battery";
    let dir = tempfile::tempdir().unwrap();
    let server = Admin::start(dir.path(), |c| {
        c.admin_unsecured_no_authentication = false;
        c.admin_user = Some(USER.into());
        c.admin_password = Some(PASSWORD.into());
        c.trial_days = Some(30);
    })
    .await;
    // Every route of these areas needs a session.
    for path in [
        "/api/data/entities",
        "/api/schema",
        "/api/history",
        "/api/events",
        "/api/trial",
    ] {
        assert_eq!(server.get(path).await.status, 401, "{path}");
    }
    let login = server
        .send(
            "POST",
            "/api/login",
            &json!({"user": USER, "password": PASSWORD}).to_string(),
        )
        .await;
    assert_eq!(login.status, 200, "{}", login.text());
    let token = login.json()["token"].as_str().unwrap().to_owned();
    let bearer = format!("Authorization: Bearer {token}\r\n");
    let v2 = std::fs::read_to_string(fixture("evolution/v2-add-property-and-entity.json")).unwrap();
    let created = request_with(
        server.http,
        "POST",
        "/api/schema/versions",
        Some(&v2),
        &bearer,
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.text());
    assert_eq!(created.json()["author"], USER);
    let accepted = request_with(
        server.http,
        "POST",
        "/api/trial/accept",
        Some("{\"role\": \"hobbyist\"}"),
        &bearer,
    )
    .await;
    assert_eq!(accepted.status, 200, "{}", accepted.text());
    assert_eq!(accepted.json()["acceptedBy"], USER);
    server.stop().await;
}

#[tokio::test]
async fn the_whole_database_export_includes_standalone_relations() {
    let dir = tempfile::tempdir().unwrap();
    // The example model with a to-many relation Task.projects → Project.
    let mut model: Json = serde_json::from_slice(&std::fs::read(example_model()).unwrap()).unwrap();
    model["entities"][0]["relations"] = json!([
        {"id": "1:1111111111111111111", "name": "projects", "targetId": "2:4125913566180238541"}
    ]);
    model["lastRelationId"] = json!("1:1111111111111111111");
    let model_path = dir.path().join("model.json");
    std::fs::write(&model_path, model.to_string()).unwrap();
    let server = Admin::start(dir.path(), |c| c.model_file = Some(model_path.clone())).await;
    let mut raw = Raw::connect(server.sync).await;
    let schema = server.json("/api/schema").await;
    assert_eq!(
        schema["entities"][0]["relations"][0]["targetEntity"],
        "Project"
    );
    raw.send(&ClientMessage::Login(Login {
        protocol_version: PROTOCOL_VERSION,
        peer_id: PEER,
        credentials: vec![Credential::None],
        schema_full_hash: schema["fullHash"].as_str().unwrap().to_owned(),
        schema_base_hash: schema["baseHash"].as_str().unwrap().to_owned(),
        last_seq: 0,
        mode: RequestUpdatesMode::Manual,
        last_tx_id: 0,
    }))
    .await;
    match raw.recv().await {
        ServerMessage::LoginResult {
            code: LoginCode::Ok,
            ..
        } => {}
        other => panic!("{other:?}"),
    }
    let project = GlobalId(PEER, 1);
    let task = GlobalId(PEER, 2);
    apply(
        &mut raw,
        1,
        vec![
            Op::Put {
                entity: PROJECT,
                id: project,
                props: vec![(PROJECT_NAME, Value::String("home".into()))],
            },
            put_task(PEER, 2, "t", 0, None),
            Op::RelAdd {
                relation: 1,
                source: task,
                target: project,
            },
        ],
    )
    .await;
    let all = server.get("/api/data/export").await.json();
    assert_eq!(all["objects"].as_array().unwrap().len(), 2);
    assert_eq!(
        all["links"],
        json!([{"relation": "projects", "source": "A1:2", "target": "A1:1"}])
    );
    drop(raw);
    server.stop().await;
}

#[tokio::test]
async fn uploaded_versions_and_accept_clients_apply_to_the_next_login() {
    use shared_types::protocol::{
        ClientMessage, Credential, Login, LoginCode, RequestUpdatesMode, ServerMessage,
    };
    let dir = tempfile::tempdir().unwrap();
    let server = Admin::start(dir.path(), |c| c.client_schema_validation.strict = true).await;
    let v2 = std::fs::read_to_string(fixture("evolution/v2-add-property-and-entity.json")).unwrap();
    let model = sync_server::model::Model::from_json(v2.as_bytes())
        .unwrap()
        .model;
    let login = |peer_id| {
        ClientMessage::Login(Login {
            protocol_version: shared_types::protocol::PROTOCOL_VERSION,
            peer_id,
            credentials: vec![Credential::None],
            schema_full_hash: model.full_hash().to_string(),
            schema_base_hash: model.base_hash().to_string(),
            last_seq: 0,
            mode: RequestUpdatesMode::Manual,
            last_tx_id: 0,
        })
    };
    let code = |message: ServerMessage| match message {
        ServerMessage::LoginResult { code, .. } => code,
        other => panic!("{other:?}"),
    };
    // Unknown to a strict server: refused.
    let mut raw = crate::protocol::Raw::connect(server.sync).await;
    raw.send(&login(1)).await;
    assert_eq!(code(raw.recv().await), LoginCode::UnsupportedDataModel);
    // Uploaded but refusing clients: still refused, without a restart.
    let created = server
        .send("POST", "/api/schema/versions?acceptClients=false", &v2)
        .await;
    assert_eq!(created.status, 201, "{}", created.text());
    let mut raw = crate::protocol::Raw::connect(server.sync).await;
    raw.send(&login(2)).await;
    assert_eq!(code(raw.recv().await), LoginCode::UnsupportedDataModel);
    // Allowed: the next login is accepted on version 2.
    let allowed = server
        .send(
            "PUT",
            "/api/schema/versions/2/accept-clients",
            "{\"acceptClients\": true}",
        )
        .await;
    assert_eq!(allowed.status, 200, "{}", allowed.text());
    let mut raw = crate::protocol::Raw::connect(server.sync).await;
    raw.send(&login(3)).await;
    match raw.recv().await {
        ServerMessage::LoginResult {
            code: LoginCode::Ok,
            schema_version,
            ..
        } => assert_eq!(schema_version, 2),
        other => panic!("{other:?}"),
    }
    server.stop().await;
}
