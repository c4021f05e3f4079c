//! Status, statistics, log level and Prometheus metrics of the admin API over real HTTP, with
//! sync clients over real WebSockets producing the numbers.

use std::net::SocketAddr;
use std::path::Path;

use serde_json::{Value as Json, json};
use shared_types::protocol::*;
use sync_server::config::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::protocol::Raw;
use crate::support::example_model;

/// Entity and property ids of the example model.
const TASK: u32 = 1;
const TASK_TEXT: u32 = 2;

/// The server in-process with both listeners on loopback port 0.
struct Server {
    sync: SocketAddr,
    admin: SocketAddr,
    db_dir: std::path::PathBuf,
    inner: crate::support::InProcess,
}

impl Server {
    /// Starts with the admin API open (`--admin-unsecured-no-authentication`), so these tests do
    /// not depend on logins; `tweak` can change that.
    async fn start(dir: &Path, tweak: impl FnOnce(&mut Config)) -> Server {
        let db_dir = dir.join("db");
        let mut config = Config::for_tests(Some(example_model()), db_dir.clone());
        config.log_level = sync_server::logging::LogLevel::Warn;
        config.admin_unsecured_no_authentication = true;
        tweak(&mut config);
        let inner = crate::support::InProcess::start(config).await;
        let sync = inner.sync;
        let admin = inner.admin.expect("admin addr");
        Server {
            sync,
            admin,
            db_dir,
            inner,
        }
    }

    async fn stop(self) {
        self.inner.stop().await;
    }

    async fn get(&self, path: &str) -> Reply {
        request(self.admin, "GET", path, None).await
    }

    async fn get_ok(&self, path: &str) -> Json {
        let reply = self.get(path).await;
        assert_eq!(reply.status, 200, "GET {path}: {reply:?}");
        reply.json()
    }
}

#[derive(Debug)]
struct Reply {
    status: u16,
    /// Header lines, lower-cased names.
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn json(&self) -> Json {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Asserts a 400 `invalid_request` whose message names `value`.
    fn assert_invalid(&self, value: &str) {
        assert_eq!(self.status, 400, "{self:?}");
        let body = self.json();
        assert_eq!(body["error"]["code"], "invalid_request", "{body}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(value), "{message:?} names {value:?}");
    }
}

/// A minimal async HTTP/1.1 request (the server runs on the same runtime, so no blocking I/O).
async fn request(addr: SocketAddr, method: &str, path: &str, body: Option<&str>) -> Reply {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let body = body.unwrap_or("");
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    stream.write_all(body.as_bytes()).await.expect("write");
    let mut raw = String::new();
    tokio::time::timeout(
        crate::support::LINE_TIMEOUT,
        stream.read_to_string(&mut raw),
    )
    .await
    .expect("a reply in time")
    .expect("read");
    let (head, body) = raw.split_once("\r\n\r\n").expect("head and body");
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Reply {
        status,
        headers,
        body: body.to_owned(),
    }
}

/// Writes `count` tasks as one client transaction each and waits for their ACKs.
async fn write_tasks(raw: &mut Raw, peer: u64, count: u64) {
    for n in 1..=count {
        raw.send(&ClientMessage::ApplyTx(ApplyTx {
            tx_id: n,
            ops: vec![Op::Put {
                entity: TASK,
                id: GlobalId(peer, n),
                props: vec![(TASK_TEXT, Value::String(format!("task {n}")))],
            }],
        }))
        .await;
        loop {
            match raw.recv().await {
                ServerMessage::Ack { tx_id, .. } if tx_id == n => break,
                ServerMessage::Push { .. } => {}
                other => panic!("expected Ack {n}, got {other:?}"),
            }
        }
    }
}

async fn client(server: &Server, peer: u64) -> Raw {
    let mut raw = Raw::login_ok(server.sync, peer, 0, RequestUpdatesMode::Auto).await;
    raw.until_complete().await;
    raw
}

#[tokio::test]
async fn status_reports_process_host_network_and_database() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), |_| {}).await;
    let status = server.get_ok("/api/status").await;

    assert_eq!(status["version"], sync_server::VERSION);
    assert!(status["uptimeSeconds"].as_u64().is_some(), "{status}");
    assert!(
        status["processRssBytes"].as_u64() > Some(1 << 20),
        "{status}"
    );
    let db = &status["database"];
    let directory = db["directory"].as_str().unwrap();
    assert!(Path::new(directory).is_absolute(), "{directory}");
    assert_eq!(
        std::fs::canonicalize(directory).unwrap(),
        std::fs::canonicalize(&server.db_dir).unwrap()
    );
    assert!(db["sizeBytes"].as_u64() > Some(0), "{db}");
    assert_eq!(
        db["maxSizeBytes"],
        sync_server::config::DEFAULT_DB_MAX_SIZE_BYTES
    );
    assert!(db["freeDiskBytes"].as_u64() > Some(0), "{db}");

    let host = &status["host"];
    assert!(!host["name"].as_str().unwrap().is_empty(), "{host}");
    assert!(host["cpuCount"].as_u64() >= Some(1), "{host}");
    assert_eq!(
        host["loadAverage"].as_array().map(Vec::len),
        Some(3),
        "{host}"
    );
    assert!(host["availableMemoryBytes"].as_u64() > Some(0), "{host}");

    // Both servers listen on 127.0.0.1 only: the loopback address has both URLs, no other
    // address has any.
    assert_eq!(status["syncListen"], format!("ws://{}", server.sync));
    assert_eq!(status["adminListen"], format!("http://{}", server.admin));
    let addresses: Vec<&Json> = status["interfaces"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|i| i["addresses"].as_array().unwrap())
        .collect();
    let loopback = addresses
        .iter()
        .find(|a| a["ip"] == "127.0.0.1")
        .unwrap_or_else(|| panic!("no 127.0.0.1 in {addresses:?}"));
    assert_eq!(loopback["syncUrl"], format!("ws://{}", server.sync));
    assert_eq!(loopback["adminUrl"], format!("http://{}", server.admin));
    for other in addresses.iter().filter(|a| a["ip"] != "127.0.0.1") {
        assert!(
            other["syncUrl"].is_null() && other["adminUrl"].is_null(),
            "{other}"
        );
    }

    let levels = [
        "all", "trace", "verbose", "debug", "info", "warn", "error", "none",
    ];
    assert!(
        levels.contains(&status["logLevel"].as_str().unwrap()),
        "{status}"
    );
    assert_eq!(status["schemaVersion"], 1);
    let dataset_id = status["dataset"]["id"].as_str().unwrap();
    assert_eq!(dataset_id.len(), 32, "{dataset_id}");
    assert!(status["dataset"]["createdMs"].as_u64() > Some(1_600_000_000_000));
    assert_eq!(status["connectedClients"], 0);

    let _client = client(&server, 0xA).await;
    assert_eq!(server.get_ok("/api/status").await["connectedClients"], 1);
    server.stop().await;
}

#[tokio::test]
async fn counts_per_entity_follow_the_objects_written() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), |_| {}).await;
    let empty = server.get_ok("/api/status/counts").await;
    assert_eq!(
        empty,
        json!({
            "entities": [
                {"name": "Task", "id": 1, "uid": uid_of(&empty, "Task"), "count": 0},
                {"name": "Project", "id": 2, "uid": uid_of(&empty, "Project"), "count": 0},
            ],
            "total": 0
        })
    );

    let mut raw = client(&server, 0xA).await;
    write_tasks(&mut raw, 0xA, 3).await;
    let counts = server.get_ok("/api/status/counts").await;
    let by_name: Vec<(&str, u64)> = counts["entities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["name"].as_str().unwrap(), e["count"].as_u64().unwrap()))
        .collect();
    assert_eq!(by_name, vec![("Task", 3), ("Project", 0)]);
    assert_eq!(counts["total"], 3);
    server.stop().await;
}

fn uid_of(counts: &Json, name: &str) -> Json {
    counts["entities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == name)
        .map(|e| e["uid"].clone())
        .unwrap_or_else(|| panic!("{name} in {counts}"))
}

#[tokio::test]
async fn log_level_can_be_read_and_changed() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), |_| {}).await;
    let put = |body: &'static str| request(server.admin, "PUT", "/api/log-level", Some(body));

    let before = server.get_ok("/api/log-level").await;
    assert!(before["level"].is_string(), "{before}");

    let reply = put(r#"{"level": "debug"}"#).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json(), json!({"level": "debug"}));
    // The level is process-wide and other tests run in this process: read it back right away.
    assert_eq!(server.get_ok("/api/log-level").await["level"], "debug");
    assert_eq!(server.get_ok("/api/status").await["logLevel"], "debug");

    put(r#"{"level": "loud"}"#).await.assert_invalid("loud");
    put(r#"{"lvl": "info"}"#).await.assert_invalid("level");
    put("not json").await.assert_invalid("JSON");

    // Back to what the tests run with.
    let reply = put(r#"{"level": "WARN"}"#).await;
    assert_eq!(reply.json(), json!({"level": "warn"}));
    server.stop().await;
}

#[tokio::test]
async fn stats_validate_the_resolution_and_show_connects_at_every_resolution() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), |_| {}).await;
    server
        .get("/api/stats?resolution=weekly")
        .await
        .assert_invalid("weekly");
    server
        .get("/api/stats?resolution=")
        .await
        .assert_invalid("\"\"");
    server
        .get("/api/stats?window=5")
        .await
        .assert_invalid("window");
    server
        .get("/api/stats?resolution=%FF")
        .await
        .assert_invalid("unknown resolution");

    let mut a = client(&server, 0xA).await;
    let _b = client(&server, 0xB).await;
    write_tasks(&mut a, 0xA, 2).await;

    // Each answer includes a live reading up to the request, so no waiting for the sampler.
    for (resolution, seconds, retained) in [
        ("second", 1, 60),
        ("minute", 60, 60),
        ("hour", 3600, 24),
        ("day", 86_400, 30),
    ] {
        let stats = server
            .get_ok(&format!("/api/stats?resolution={resolution}"))
            .await;
        assert_eq!(stats["resolution"], resolution);
        assert_eq!(stats["intervalSeconds"], seconds);
        assert_eq!(stats["retained"], retained);
        assert_eq!(stats["lastPartial"], true);
        let points = stats["timestamps"].as_array().unwrap().len();
        assert!(points >= 1 && points <= retained, "{stats}");
        let stamps: Vec<i64> = stats["timestamps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_i64().unwrap())
            .collect();
        assert!(stamps.windows(2).all(|w| w[0] < w[1]), "{stamps:?}");
        assert!(
            stamps.iter().all(|t| t % (seconds * 1000) == 0),
            "{stamps:?}"
        );

        let series = |name: &str| -> Json {
            stats["series"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["name"] == name)
                .cloned()
                .unwrap_or_else(|| panic!("no series {name}"))
        };
        let sum = |name: &str| -> u64 {
            let s = series(name);
            assert_eq!(s["kind"], "counter", "{s}");
            let values = s["values"].as_array().unwrap();
            assert_eq!(values.len(), points, "{s}");
            values.iter().map(|v| v.as_u64().unwrap()).sum()
        };
        assert_eq!(sum("connects"), 2, "{resolution}");
        assert_eq!(sum("loginSuccesses"), 2, "{resolution}");
        assert_eq!(sum("clientTxsApplied"), 2, "{resolution}");
        assert_eq!(sum("clientTxOpsApplied"), 2, "{resolution}");
        assert!(sum("bytesReceived") > 0, "{resolution}");
        assert_eq!(series("bytesReceived")["unit"], "bytes");

        let clients = series("connectedClients");
        assert_eq!(clients["kind"], "gauge");
        assert_eq!(clients["unit"], "clients");
        assert!(clients.get("values").is_none(), "{clients}");
        for key in ["min", "avg", "max"] {
            assert_eq!(clients[key].as_array().unwrap().len(), points, "{clients}");
        }
        assert_eq!(clients["max"][points - 1], 2, "{clients}");
        let head = series("txLogHead");
        assert_eq!(head["unit"], "seq");
        assert_eq!(head["max"][points - 1], 2, "{head}");
    }
    // The default is seconds.
    assert_eq!(server.get_ok("/api/stats").await["resolution"], "second");

    let current = server.get_ok("/api/stats/current").await;
    assert_eq!(current["connects"], 2);
    assert_eq!(current["connectedClients"], 2);
    assert_eq!(current["loginSuccesses"], 2);
    assert_eq!(current["clientTxsApplied"], 2);
    assert_eq!(current["txLogHead"], 2);
    server.stop().await;
}

/// The metrics every ObjectBox dashboard may use, with their types.
const OBJECTBOX_METRICS: &[(&str, &str)] = &[
    ("obx_uptime", "counter"),
    ("obx_connected_clients", "gauge"),
    ("obx_connects", "counter"),
    ("obx_login_successes", "counter"),
    ("obx_heartbeats_received", "counter"),
    ("obx_client_failures", "counter"),
    ("obx_errors", "counter"),
    ("obx_messages", "counter"),
    ("obx_message_bytes", "counter"),
    ("obx_full_syncs", "counter"),
    ("obx_txs_applied", "counter"),
    ("obx_client_tx_ops_applied", "counter"),
    ("obx_client_tx_bytes_applied", "counter"),
    ("obx_skipped_tx_dups", "counter"),
    ("obx_txs_sent", "counter"),
    ("obx_client_txs_behind", "gauge"),
    ("obx_tx_history_sequence", "counter"),
];

#[tokio::test]
async fn prometheus_text_parses_and_has_the_objectbox_names_without_a_session() {
    let dir = tempfile::tempdir().unwrap();
    // With admin authentication on: the metrics need no session, the status does.
    let server = Server::start(dir.path(), |c| {
        c.admin_unsecured_no_authentication = false;
    })
    .await;
    assert_eq!(server.get("/api/status").await.status, 401);

    let mut raw = client(&server, 0xA).await;
    write_tasks(&mut raw, 0xA, 1).await;
    let reply = server.get("/api/sync/prometheus").await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(
        reply.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let scrape = parse(&reply.body);

    for (name, kind) in OBJECTBOX_METRICS {
        let samples: Vec<_> = scrape
            .samples
            .iter()
            .filter(|s| s.metric == *name)
            .collect();
        assert!(!samples.is_empty(), "{name} missing in\n{}", reply.body);
        assert!(scrape.docs.contains_key(*name), "# HELP for {name}");
        for sample in samples {
            let matches = matches!(
                (&sample.value, *kind),
                (prometheus_parse::Value::Counter(_), "counter")
                    | (prometheus_parse::Value::Gauge(_), "gauge")
            );
            assert!(matches, "{name} is a {kind}: {:?}", sample.value);
        }
    }
    let value = |name: &str, label: Option<(&str, &str)>| -> f64 {
        let sample = scrape
            .samples
            .iter()
            .find(|s| s.metric == name && label.is_none_or(|(k, v)| s.labels.get(k) == Some(v)))
            .unwrap_or_else(|| panic!("{name} {label:?}"));
        match sample.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            ref other => panic!("{other:?}"),
        }
    };
    assert_eq!(value("obx_connects", None), 1.0);
    assert_eq!(value("obx_connected_clients", None), 1.0);
    assert_eq!(value("obx_login_successes", None), 1.0);
    assert_eq!(value("obx_txs_applied", Some(("from", "client"))), 1.0);
    assert_eq!(value("obx_txs_applied", Some(("from", "local"))), 0.0);
    assert_eq!(value("obx_client_tx_ops_applied", None), 1.0);
    assert_eq!(value("obx_tx_history_sequence", None), 1.0);
    assert!(value("obx_messages", Some(("type", "recv"))) >= 2.0);
    assert!(value("obx_message_bytes", Some(("type", "sent"))) > 0.0);
    assert!(value("obx_db_size_bytes", None) > 0.0);
    for failure in [
        "login",
        "login_auth_unavailable",
        "login_user_bad_credentials",
        "login_user_no_permission",
        "msg_sent",
        "heartbeat",
        "disconnect",
    ] {
        assert_eq!(value("obx_client_failures", Some(("type", failure))), 0.0);
    }
    for error in ["protocol", "in_handler"] {
        assert_eq!(value("obx_errors", Some(("type", error))), 0.0);
    }
    for sent in ["historic", "new"] {
        value("obx_txs_sent", Some(("type", sent)));
    }

    // `/metrics` is the same exposition.
    let alias = server.get("/metrics").await;
    assert_eq!(alias.status, 200);
    let names = |s: &prometheus_parse::Scrape| {
        let mut names: Vec<String> = s.samples.iter().map(|s| s.metric.clone()).collect();
        names.dedup();
        names
    };
    assert_eq!(names(&parse(&alias.body)), names(&scrape));
    server.stop().await;
}

fn parse(text: &str) -> prometheus_parse::Scrape {
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    prometheus_parse::Scrape::parse(lines).expect("valid Prometheus text")
}
