//! The admin app's files on the admin address: SPA routes answer index.html with 200, assets
//! carry their content type, `/api/` stays JSON, and path traversal never leaves the app.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use sync_server::config::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::example_model;

/// Sends `raw_path` exactly as given (no client-side normalisation); returns (status, head, body).
async fn request(addr: SocketAddr, method: &str, raw_path: &str) -> (u16, String, String) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let head = format!("{method} {raw_path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), stream.read_to_end(&mut raw))
        .await
        .expect("an answer in time")
        .expect("read");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head.to_ascii_lowercase(), body.to_owned())
}

async fn start() -> (tempfile::TempDir, crate::support::InProcess, SocketAddr) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::for_tests(Some(example_model()), dir.path().join("db"));
    config.log_level = sync_server::logging::LogLevel::Warn;
    config.admin_user = Some("root".into());
    config.admin_password = Some("root-password".into());
    let server = crate::support::InProcess::start(config).await;
    let addr = server.admin.expect("admin addr");
    (dir, server, addr)
}

/// The app as trunk built it in this checkout, if it did.
fn built_index() -> Option<String> {
    let dist = Path::new(env!("CARGO_MANIFEST_DIR")).join("../dist/index.html");
    std::fs::read_to_string(dist).ok()
}

#[tokio::test]
async fn app_routes_answer_index_html_and_api_paths_stay_json() {
    let (_dir, server, addr) = start().await;

    match built_index() {
        Some(index) => {
            for path in [
                "/",
                "/data",
                "/data/Task/12",
                "/sync-trial",
                "/schema/versions",
            ] {
                let (status, head, body) = request(addr, "GET", path).await;
                assert_eq!(status, 200, "{path}");
                assert!(head.contains("content-type: text/html"), "{path}: {head}");
                assert!(head.contains("cache-control: no-cache"), "{path}: {head}");
                assert_eq!(body, index, "{path} serves the app's index.html");
            }
            // Every file the index refers to is served with its type and cached for good.
            let mut referenced = 0;
            for part in index.split(['"', '\'']) {
                let Some(name) = part.strip_prefix('/') else {
                    continue;
                };
                let expected = match name.rsplit('.').next() {
                    Some("js") => "javascript",
                    Some("wasm") => "application/wasm",
                    Some("css") => "text/css",
                    _ => continue,
                };
                let (status, head, _) = request(addr, "GET", part).await;
                assert_eq!(status, 200, "{part}");
                assert!(head.contains(expected), "{part}: {head}");
                assert!(head.contains("immutable"), "{part}: {head}");
                referenced += 1;
            }
            assert!(
                referenced >= 2,
                "index.html refers to the app's js and wasm"
            );
            let (status, _, _) = request(addr, "GET", "/missing-file.js").await;
            assert_eq!(status, 404, "a missing file is not a route");
        }
        None => {
            // This checkout has no trunk build: the server says how to get the app.
            let (status, _, body) = request(addr, "GET", "/").await;
            assert_eq!(status, 503);
            assert!(body.contains("trunk build --release"), "{body}");
        }
    }

    let (status, head, body) = request(addr, "GET", "/api/no-such-route").await;
    assert_eq!(status, 404);
    assert!(head.contains("application/json"), "{head}");
    assert!(body.contains("no such route: /api/no-such-route"), "{body}");
    let (status, _, body) = request(addr, "POST", "/data").await;
    assert_eq!(status, 405, "{body}");
    assert!(body.contains("read-only"), "{body}");

    server.stop().await;
}

#[tokio::test]
async fn path_traversal_never_reaches_files_outside_the_app() {
    let (_dir, server, addr) = start().await;
    // Files the server could read if it resolved paths on disk: the workspace manifest (two
    // levels above dist/ in debug builds) and the system's passwd.
    let attempts = [
        "/../Cargo.toml",
        "/../../Cargo.toml",
        "/..%2fCargo.toml",
        "/%2e%2e/Cargo.toml",
        "/%2e%2e%2fCargo.toml",
        "/..\\Cargo.toml",
        "/assets/../../Cargo.toml",
        "/./../Cargo.toml",
        "/../../../../../../etc/passwd",
        "/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "//etc/passwd",
        "/....//....//etc/passwd",
        "/index.html/../../Cargo.toml",
    ];
    for path in attempts {
        let (status, _, body) = request(addr, "GET", path).await;
        assert!(
            !body.contains("[workspace]") && !body.contains("root:x:0:0"),
            "{path} answered a file outside the app (status {status})"
        );
        assert!(
            matches!(status, 200 | 400 | 404 | 503),
            "{path}: status {status}"
        );
        if status == 200 {
            // Only ever the app itself.
            assert_eq!(Some(body), built_index(), "{path}");
        }
    }
    server.stop().await;
}
