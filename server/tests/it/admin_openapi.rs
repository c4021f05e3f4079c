//! The OpenAPI document against the real routes: every documented route exists with its
//! method, and every route documented as needing a session refuses requests without one.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use sync_server::config::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::example_model;

/// One request per connection; returns (status, JSON body or Null).
async fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> (u16, Value) {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(token) = token {
        head.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    if !body.is_empty() {
        head.push_str("Content-Type: application/json\r\n");
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    let mut stream = TcpStream::connect(addr).await.expect("connect");
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
        .expect("status");
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

#[tokio::test]
async fn every_documented_route_exists_and_protected_ones_need_a_session() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::for_tests(Some(example_model()), dir.path().join("db"));
    config.log_level = sync_server::logging::LogLevel::Warn;
    config.admin_user = Some("root".into());
    config.admin_password = Some("root-password".into());
    let server = crate::support::InProcess::start(config).await;
    let addr = server.admin.expect("admin addr");

    let (status, doc) = call(addr, "GET", "/api/openapi.json", None, "").await;
    assert_eq!(status, 200);
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "{doc}"
    );
    let (status, login) = call(
        addr,
        "POST",
        "/api/login",
        None,
        r#"{"user":"root","password":"root-password"}"#,
    )
    .await;
    assert_eq!(status, 200, "{login}");
    let token = login["token"].as_str().expect("token").to_owned();

    let paths = doc["paths"].as_object().expect("paths");
    assert!(paths.len() >= 30, "only {} paths documented", paths.len());
    let mut checked = 0;
    for (path, operations) in paths {
        let concrete = path
            .replace("{name}", "Task")
            .replace("{id}", "1")
            .replace("{seq}", "1");
        for (method, operation) in operations.as_object().expect("operations") {
            let method = method.to_uppercase();
            // `[{}]` (an empty requirement) means the route is open.
            let secured = operation["security"].as_array().is_some_and(|s| {
                !s.is_empty()
                    && s.iter()
                        .all(|r| r.as_object().is_some_and(|o| !o.is_empty()))
            });
            let (status, body) = call(addr, &method, &concrete, None, "").await;
            if secured {
                assert_eq!(status, 401, "{method} {path} without a session: {body}");
                assert_eq!(body["error"]["code"], "unauthorized", "{method} {path}");
            } else {
                assert_ne!(
                    status, 401,
                    "{method} {path} is documented as public: {body}"
                );
            }
            if path == "/api/logout" {
                continue; // It would end the session the rest of the walk uses.
            }
            let (status, body) = call(addr, &method, &concrete, Some(&token), "").await;
            let no_route = body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("no such route"));
            assert!(
                status != 405 && !no_route,
                "{method} {path} is documented but not routed ({status}: {body})"
            );
            checked += 1;
        }
    }
    assert!(checked >= 30, "{checked}");
    server.stop().await;
}
