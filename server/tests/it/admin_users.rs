//! Admin users and sessions over real HTTP (login, cookie and bearer sessions, CSRF, expiry,
//! permissions, first-run setup, throttling, user management), and admin users as sync clients
//! over real WebSockets.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use shared_types::protocol::*;
use sync_server::config::{Config, ObxAdminAuth};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::protocol::{Raw, example_hashes};
use crate::support::{Running, example_model};

const ADMIN: &str = "admin";
const ADMIN_PASSWORD: &str = "correct horse battery";

/// The server in-process with both listeners and the admin user `admin` from the config.
struct Server {
    sync: SocketAddr,
    admin: SocketAddr,
    inner: crate::support::InProcess,
}

impl Server {
    async fn start(dir: &Path, tweak: impl FnOnce(&mut Config)) -> Server {
        let mut config = Config::for_tests(Some(example_model()), dir.join("db"));
        config.log_level = sync_server::logging::LogLevel::Warn;
        config.admin_user = Some(ADMIN.into());
        config.admin_password = Some(ADMIN_PASSWORD.into());
        tweak(&mut config);
        let inner = crate::support::InProcess::start(config).await;
        let sync = inner.sync;
        let admin = inner.admin.expect("admin addr");
        Server { sync, admin, inner }
    }

    async fn stop(self) {
        self.inner.stop().await;
    }

    async fn call(&self, method: &str, path: &str, auth: Auth<'_>, body: Option<Value>) -> Reply {
        request(self.admin, method, path, auth, body).await
    }

    /// Logs in and expects success.
    async fn login(&self, user: &str, password: &str) -> Login {
        let reply = self
            .call(
                "POST",
                "/api/login",
                Auth::None,
                Some(json!({"user": user, "password": password})),
            )
            .await;
        assert_eq!(reply.status, 200, "{reply:?}");
        Login {
            token: reply.json["token"].as_str().expect("token").to_owned(),
            csrf: reply.json["csrfToken"].as_str().expect("csrf").to_owned(),
            cookie: reply.header("set-cookie").expect("cookie").to_owned(),
        }
    }
}

/// How a request authenticates.
#[derive(Clone, Copy)]
pub(crate) enum Auth<'a> {
    None,
    Bearer(&'a str),
    /// The session cookie, with an optional `X-CSRF-Token`.
    Cookie(&'a str, Option<&'a str>),
}

struct Login {
    token: String,
    csrf: String,
    cookie: String,
}

impl Login {
    fn bearer(&self) -> Auth<'_> {
        Auth::Bearer(&self.token)
    }
}

#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) json: Value,
}

impl Reply {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn code(&self) -> &str {
        self.json["error"]["code"].as_str().unwrap_or("")
    }

    #[track_caller]
    pub(crate) fn expect(&self, status: u16, code: &str) {
        assert_eq!((self.status, self.code()), (status, code), "{self:?}");
    }
}

/// A minimal HTTP/1.1 client: one request per connection, JSON bodies.
pub(crate) async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    auth: Auth<'_>,
    body: Option<Value>,
) -> Reply {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    match auth {
        Auth::None => {}
        Auth::Bearer(token) => head.push_str(&format!("Authorization: Bearer {token}\r\n")),
        Auth::Cookie(token, csrf) => {
            head.push_str(&format!("Cookie: theme=dark; sync_session={token}\r\n"));
            if let Some(csrf) = csrf {
                head.push_str(&format!("X-CSRF-Token: {csrf}\r\n"));
            }
        }
    }
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    if !body.is_empty() {
        head.push_str("Content-Type: application/json\r\n");
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(head.as_bytes()).await.expect("write");
    stream.write_all(body.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), stream.read_to_end(&mut raw))
        .await
        .expect("an answer in time")
        .expect("read");
    let text = String::from_utf8(raw).expect("utf-8");
    let (head, body) = text.split_once("\r\n\r\n").expect("head and body");
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let json = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(body).unwrap_or(Value::String(body.to_owned()))
    };
    Reply {
        status,
        headers,
        json,
    }
}

fn new_user(name: &str, admin: bool, sync_login: bool, sync_write: bool) -> Value {
    json!({
        "name": name,
        "password": format!("{name}-password"),
        "permissions": {"admin": admin, "syncLogin": sync_login, "syncWrite": sync_write},
    })
}

#[tokio::test]
async fn login_cookie_and_bearer_sessions_csrf_and_logout() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), |_| {}).await;

    server
        .call("GET", "/api/session", Auth::None, None)
        .await
        .expect(401, "unauthorized");
    server
        .call("GET", "/api/users", Auth::Bearer("00ff"), None)
        .await
        .expect(401, "unauthorized");
    server
        .call(
            "POST",
            "/api/login",
            Auth::None,
            Some(json!({"user": ADMIN, "password": "wrong password"})),
        )
        .await
        .expect(401, "invalid_credentials");
    server
        .call(
            "POST",
            "/api/login",
            Auth::None,
            Some(json!({"user": "nobody", "password": ADMIN_PASSWORD})),
        )
        .await
        .expect(401, "invalid_credentials");
    server
        .call(
            "POST",
            "/api/login",
            Auth::None,
            Some(json!({"user": ADMIN})),
        )
        .await
        .expect(422, "invalid_request");

    let login = server.login(ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(login.token.len(), 64);
    assert_ne!(login.token, login.csrf);
    for part in [
        format!("sync_session={}", login.token).as_str(),
        "HttpOnly",
        "SameSite=Strict",
        "Path=/",
    ] {
        assert!(login.cookie.contains(part), "{part} in {}", login.cookie);
    }

    // Bearer: no CSRF token needed.
    let session = server
        .call("GET", "/api/session", login.bearer(), None)
        .await;
    assert_eq!(session.status, 200, "{session:?}");
    assert_eq!(session.json["user"], ADMIN);
    assert_eq!(session.json["csrfToken"], login.csrf.as_str());
    assert_eq!(
        session.json["permissions"],
        json!({"admin": true, "syncLogin": true, "syncWrite": true})
    );
    assert_eq!(session.json["unsecured"], false);
    let created = server
        .call(
            "POST",
            "/api/users",
            login.bearer(),
            Some(new_user("by-bearer", false, true, false)),
        )
        .await;
    assert_eq!(created.status, 201, "{created:?}");

    // Cookie: reads pass, changes need the CSRF header with the session's token.
    let users = server
        .call("GET", "/api/users", Auth::Cookie(&login.token, None), None)
        .await;
    assert_eq!(users.status, 200, "{users:?}");
    let body = Some(new_user("by-cookie", false, true, true));
    server
        .call(
            "POST",
            "/api/users",
            Auth::Cookie(&login.token, None),
            body.clone(),
        )
        .await
        .expect(403, "csrf");
    server
        .call(
            "POST",
            "/api/users",
            Auth::Cookie(&login.token, Some(&login.token)),
            body.clone(),
        )
        .await
        .expect(403, "csrf");
    let created = server
        .call(
            "POST",
            "/api/users",
            Auth::Cookie(&login.token, Some(&login.csrf)),
            body,
        )
        .await;
    assert_eq!(created.status, 201, "{created:?}");
    assert_eq!(
        created.json,
        json!({
            "name": "by-cookie",
            "permissions": {"admin": false, "syncLogin": true, "syncWrite": true},
            "createdMs": created.json["createdMs"],
        })
    );
    let names: Vec<Value> = server
        .call("GET", "/api/users", login.bearer(), None)
        .await
        .json
        .as_array()
        .expect("array")
        .iter()
        .map(|u| u["name"].clone())
        .collect();
    assert_eq!(
        names,
        [json!(ADMIN), json!("by-bearer"), json!("by-cookie")]
    );
    // No password hash leaves the server.
    let listed = server.call("GET", "/api/users", login.bearer(), None).await;
    assert!(!listed.json.to_string().contains("argon2"), "{listed:?}");

    // Logout with the cookie needs CSRF too; afterwards the token is dead for both ways.
    server
        .call(
            "POST",
            "/api/logout",
            Auth::Cookie(&login.token, None),
            None,
        )
        .await
        .expect(403, "csrf");
    let other = server.login(ADMIN, ADMIN_PASSWORD).await;
    let out = server
        .call(
            "POST",
            "/api/logout",
            Auth::Cookie(&login.token, Some(&login.csrf)),
            None,
        )
        .await;
    assert_eq!(out.status, 204, "{out:?}");
    assert!(
        out.header("set-cookie")
            .is_some_and(|c| c.contains("Max-Age=0"))
    );
    server
        .call("GET", "/api/session", login.bearer(), None)
        .await
        .expect(401, "unauthorized");
    server
        .call(
            "GET",
            "/api/session",
            Auth::Cookie(&login.token, None),
            None,
        )
        .await
        .expect(401, "unauthorized");
    // Other sessions of the same user live on.
    assert_eq!(
        server
            .call("GET", "/api/session", other.bearer(), None)
            .await
            .status,
        200
    );
    server.stop().await;
}

#[tokio::test]
async fn sessions_expire() {
    let dir = tempfile::tempdir().unwrap();
    // A zero time to live: every session is over by its first use.
    let server = Server::start(dir.path(), |c| c.admin_session_ttl = Duration::ZERO).await;
    let login = server.login(ADMIN, ADMIN_PASSWORD).await;
    let reply = server
        .call("GET", "/api/session", login.bearer(), None)
        .await;
    reply.expect(401, "unauthorized");
    assert!(
        reply.json["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("expired")),
        "{reply:?}"
    );
    // Gone for good, not just late.
    server
        .call("GET", "/api/session", login.bearer(), None)
        .await
        .expect(401, "unauthorized");
    server.stop().await;
}

#[tokio::test]
async fn users_without_the_admin_permission_only_reach_their_own_session_and_password() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), |_| {}).await;
    let admin = server.login(ADMIN, ADMIN_PASSWORD).await;
    for name in ["viewer", "other"] {
        let created = server
            .call(
                "POST",
                "/api/users",
                admin.bearer(),
                Some(new_user(name, false, true, false)),
            )
            .await;
        assert_eq!(created.status, 201, "{created:?}");
    }
    let viewer = server.login("viewer", "viewer-password").await;

    let session = server
        .call("GET", "/api/session", viewer.bearer(), None)
        .await;
    assert_eq!(session.status, 200, "{session:?}");
    assert_eq!(session.json["permissions"]["admin"], false);
    server
        .call("GET", "/api/users", viewer.bearer(), None)
        .await
        .expect(403, "forbidden");
    server
        .call(
            "POST",
            "/api/users",
            viewer.bearer(),
            Some(new_user("sneaky", true, true, true)),
        )
        .await
        .expect(403, "forbidden");
    server
        .call(
            "PUT",
            "/api/users/viewer/permissions",
            viewer.bearer(),
            Some(json!({"permissions": {"admin": true, "syncLogin": true, "syncWrite": true}})),
        )
        .await
        .expect(403, "forbidden");
    server
        .call(
            "PUT",
            "/api/users/other/password",
            viewer.bearer(),
            Some(json!({"newPassword": "taken over!"})),
        )
        .await
        .expect(403, "forbidden");
    server
        .call("GET", "/api/no-such-admin-route", viewer.bearer(), None)
        .await
        .expect(404, "not_found");

    // Their own password: only with the current one.
    server
        .call(
            "PUT",
            "/api/users/viewer/password",
            viewer.bearer(),
            Some(json!({"newPassword": "a new password"})),
        )
        .await
        .expect(403, "wrong_password");
    server
        .call(
            "PUT",
            "/api/users/viewer/password",
            viewer.bearer(),
            Some(json!({"currentPassword": "not it at all", "newPassword": "a new password"})),
        )
        .await
        .expect(403, "wrong_password");
    let changed = server
        .call(
            "PUT",
            "/api/users/viewer/password",
            viewer.bearer(),
            Some(json!({"currentPassword": "viewer-password", "newPassword": "a new password"})),
        )
        .await;
    assert_eq!(changed.status, 204, "{changed:?}");
    server
        .call(
            "POST",
            "/api/login",
            Auth::None,
            Some(json!({"user": "viewer", "password": "viewer-password"})),
        )
        .await
        .expect(401, "invalid_credentials");
    let second = server.login("viewer", "a new password").await;

    // An admin sets it without the current password; the user's sessions end.
    let reset = server
        .call(
            "PUT",
            "/api/users/viewer/password",
            admin.bearer(),
            Some(json!({"newPassword": "reset by admin"})),
        )
        .await;
    assert_eq!(reset.status, 204, "{reset:?}");
    for session in [&viewer, &second] {
        server
            .call("GET", "/api/session", session.bearer(), None)
            .await
            .expect(401, "unauthorized");
    }
    server.login("viewer", "reset by admin").await;
    server
        .call(
            "PUT",
            "/api/users/viewer/password",
            admin.bearer(),
            Some(json!({"newPassword": "short"})),
        )
        .await
        .expect(400, "invalid_request");

    // Granting admin takes effect on the next request of a live session.
    let viewer = server.login("viewer", "reset by admin").await;
    let granted = server
        .call(
            "PUT",
            "/api/users/viewer/permissions",
            admin.bearer(),
            Some(json!({"permissions": {"admin": true, "syncLogin": false, "syncWrite": false}})),
        )
        .await;
    assert_eq!(granted.status, 200, "{granted:?}");
    assert_eq!(granted.json["permissions"]["admin"], true);
    assert_eq!(
        server
            .call("GET", "/api/users", viewer.bearer(), None)
            .await
            .status,
        200
    );
    server.stop().await;
}

#[tokio::test]
async fn user_management_validates_and_keeps_an_admin() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), |_| {}).await;
    let admin = server.login(ADMIN, ADMIN_PASSWORD).await;
    let create = |body: Value| server.call("POST", "/api/users", admin.bearer(), Some(body));

    let bob = create(new_user("bob", false, true, true)).await;
    assert_eq!(bob.status, 201, "{bob:?}");
    create(new_user("bob", false, true, true))
        .await
        .expect(409, "conflict");
    create(new_user("bad/name", false, true, true))
        .await
        .expect(400, "invalid_request");
    create(new_user("", false, true, true))
        .await
        .expect(400, "invalid_request");
    create(json!({"name": "short", "password": "1234567", "permissions": {"admin": false, "syncLogin": false, "syncWrite": false}}))
        .await
        .expect(400, "invalid_request");
    create(json!({"name": "nopermissions", "password": "12345678"}))
        .await
        .expect(422, "invalid_request");

    server
        .call("DELETE", "/api/users/nobody", admin.bearer(), None)
        .await
        .expect(404, "not_found");
    server
        .call(
            "PUT",
            "/api/users/nobody/permissions",
            admin.bearer(),
            Some(json!({"permissions": {"admin": true, "syncLogin": true, "syncWrite": true}})),
        )
        .await
        .expect(404, "not_found");
    server
        .call(
            "PUT",
            "/api/users/nobody/password",
            admin.bearer(),
            Some(json!({"newPassword": "whatever it is"})),
        )
        .await
        .expect(404, "not_found");

    // Not yourself, and never the last admin.
    server
        .call("DELETE", "/api/users/admin", admin.bearer(), None)
        .await
        .expect(409, "conflict");
    server
        .call(
            "PUT",
            "/api/users/admin/permissions",
            admin.bearer(),
            Some(json!({"permissions": {"admin": false, "syncLogin": true, "syncWrite": true}})),
        )
        .await
        .expect(409, "last_admin");

    // With a second admin, the first can go; the deleted user's session ends with it.
    let promoted = server
        .call(
            "PUT",
            "/api/users/bob/permissions",
            admin.bearer(),
            Some(json!({"permissions": {"admin": true, "syncLogin": false, "syncWrite": false}})),
        )
        .await;
    assert_eq!(promoted.status, 200, "{promoted:?}");
    let bob = server.login("bob", "bob-password").await;
    let deleted = server
        .call("DELETE", "/api/users/admin", bob.bearer(), None)
        .await;
    assert_eq!(deleted.status, 204, "{deleted:?}");
    server
        .call("GET", "/api/session", admin.bearer(), None)
        .await
        .expect(401, "unauthorized");
    server
        .call(
            "PUT",
            "/api/users/bob/permissions",
            bob.bearer(),
            Some(json!({"permissions": {"admin": false, "syncLogin": true, "syncWrite": true}})),
        )
        .await
        .expect(409, "last_admin");
    let users = server.call("GET", "/api/users", bob.bearer(), None).await;
    assert_eq!(users.json.as_array().map(Vec::len), Some(1), "{users:?}");
    server.stop().await;
}

#[tokio::test]
async fn failed_logins_are_throttled_per_address_and_user() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), |_| {}).await;
    let attempt = |user: &'static str, password: &'static str| {
        server.call(
            "POST",
            "/api/login",
            Auth::None,
            Some(json!({"user": user, "password": password})),
        )
    };
    for _ in 0..5 {
        attempt(ADMIN, "guess")
            .await
            .expect(401, "invalid_credentials");
    }
    // Now even the right password waits; so do other users from the same address.
    for user in [ADMIN, "someone-else"] {
        let reply = attempt(user, ADMIN_PASSWORD).await;
        reply.expect(429, "too_many_attempts");
        let retry: u64 = reply
            .header("retry-after")
            .and_then(|v| v.parse().ok())
            .expect("Retry-After");
        assert!((1..=60).contains(&retry), "{reply:?}");
    }
    server.stop().await;
}

#[tokio::test]
async fn unsecured_admin_mode_needs_no_login_but_keeps_the_last_admin() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), |c| c.admin_unsecured_no_authentication = true).await;
    let session = server.call("GET", "/api/session", Auth::None, None).await;
    assert_eq!(session.status, 200, "{session:?}");
    assert_eq!(session.json["unsecured"], true);
    assert_eq!(session.json["user"], Value::Null);
    let users = server.call("GET", "/api/users", Auth::None, None).await;
    assert_eq!(users.status, 200, "{users:?}");
    server
        .call("DELETE", "/api/users/admin", Auth::None, None)
        .await
        .expect(409, "last_admin");
    // Recovery: set the lost password.
    let reset = server
        .call(
            "PUT",
            "/api/users/admin/password",
            Auth::None,
            Some(json!({"newPassword": "recovered password"})),
        )
        .await;
    assert_eq!(reset.status, 204, "{reset:?}");
    server.login(ADMIN, "recovered password").await;
    server.stop().await;
}

#[tokio::test]
async fn first_start_without_an_admin_prints_a_one_time_setup_token() {
    let dir = tempfile::tempdir().unwrap();
    let model = example_model();
    let mut server = Running::start(
        dir.path(),
        &[
            "--unsecured-no-authentication",
            "--model",
            model.to_str().unwrap(),
        ],
    );
    let line = server.wait_for("POST /api/setup with setup token");
    assert!(
        line.contains("[WARN ] [HttpSv] No admin user yet"),
        "{line}"
    );
    let token = line.rsplit(' ').next().expect("token").to_owned();
    assert_eq!(token.len(), 64, "{line}");
    let admin = server.admin_addr.expect("admin address");

    let status = request(admin, "GET", "/api/setup", Auth::None, None).await;
    assert_eq!(status.json, json!({"needsSetup": true}));
    // No open door: protected routes and logins are closed until setup.
    request(admin, "GET", "/api/users", Auth::None, None)
        .await
        .expect(401, "unauthorized");
    let setup = |setup_token: &str, user: &str| {
        request(
            admin,
            "POST",
            "/api/setup",
            Auth::None,
            Some(
                json!({"setupToken": setup_token, "user": user, "password": "first admin password"}),
            ),
        )
    };
    setup(&"0".repeat(64), "mallory")
        .await
        .expect(403, "invalid_setup_token");
    setup(&token, "bad name!")
        .await
        .expect(400, "invalid_request");
    let done = setup(&token, "first").await;
    assert_eq!(done.status, 200, "{done:?}");
    assert_eq!(done.json["user"], "first");
    let bearer = done.json["token"].as_str().expect("token").to_owned();
    setup(&token, "second").await.expect(409, "already_set_up");
    let status = request(admin, "GET", "/api/setup", Auth::None, None).await;
    assert_eq!(status.json, json!({"needsSetup": false}));
    let users = request(admin, "GET", "/api/users", Auth::Bearer(&bearer), None).await;
    assert_eq!(users.status, 200, "{users:?}");
    assert_eq!(users.json[0]["name"], "first");
    assert_eq!(users.json[0]["permissions"]["admin"], true);

    let (code, log) = server.terminate();
    assert_eq!(code, 0);
    let log = log.join("\n");
    assert_eq!(log.matches(&token).count(), 1, "{log}");
    assert!(!log.contains("first admin password"), "{log}");
    assert!(log.contains("Created admin user first"), "{log}");
}

#[tokio::test]
async fn admin_user_from_the_command_line_and_environment() {
    let dir = tempfile::tempdir().unwrap();
    let model = example_model();
    let mut cmd = crate::support::sync_server(dir.path());
    cmd.args([
        "--bind",
        "ws://127.0.0.1:0",
        "--admin-bind",
        "127.0.0.1:0",
        "--unsecured-no-authentication",
        "--admin-user",
        "root",
        "--model",
    ])
    .arg(&model)
    .env("SYNC_SERVER_ADMIN_PASSWORD", "from the environment");
    let server = Running::spawn(cmd);
    let admin = server.admin_addr.expect("admin address");
    let login = request(
        admin,
        "POST",
        "/api/login",
        Auth::None,
        Some(json!({"user": "root", "password": "from the environment"})),
    )
    .await;
    assert_eq!(login.status, 200, "{login:?}");
    let (code, log) = server.terminate();
    assert_eq!(code, 0);
    let log = log.join("\n");
    assert!(
        log.contains("[INFO ] [HttpSv] Created admin user root"),
        "{log}"
    );
    assert!(!log.contains("from the environment"), "{log}");
    assert!(!log.contains("setup token"), "{log}");
}

#[tokio::test]
async fn admin_users_log_in_as_sync_clients_and_need_the_write_permission() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), |c| {
        c.unsecured_no_authentication = false;
        c.auth.obx_admin = Some(ObxAdminAuth { required: false });
    })
    .await;
    let admin = server.login(ADMIN, ADMIN_PASSWORD).await;
    for user in [
        new_user("writer", false, true, true),
        new_user("reader", false, true, false),
        new_user("outsider", true, false, true),
    ] {
        let created = server
            .call("POST", "/api/users", admin.bearer(), Some(user))
            .await;
        assert_eq!(created.status, 201, "{created:?}");
    }
    let (full, base) = example_hashes();
    let login = |peer_id: u64, user: &str, password: &str| {
        ClientMessage::Login(shared_types::protocol::Login {
            protocol_version: PROTOCOL_VERSION,
            peer_id,
            credentials: vec![Credential::UserPassword {
                user: user.into(),
                password: password.into(),
            }],
            schema_full_hash: full.clone(),
            schema_base_hash: base.clone(),
            last_seq: 0,
            mode: RequestUpdatesMode::Auto,
            last_tx_id: 0,
        })
    };
    let connect = |peer_id: u64, user: &'static str, password: &'static str| {
        let message = login(peer_id, user, password);
        async move {
            let mut raw = Raw::connect(server.sync).await;
            raw.send(&message).await;
            let result = raw.recv().await;
            (raw, result)
        }
    };

    for (peer, user, password, reason) in [
        (
            1,
            "outsider",
            "outsider-password",
            "lacks the sync login permission",
        ),
        (2, "writer", "wrong password", "wrong user name or password"),
        (
            3,
            "nobody",
            "nobody-password",
            "wrong user name or password",
        ),
    ] {
        let (_, result) = connect(peer, user, password).await;
        match result {
            ServerMessage::LoginResult {
                code: LoginCode::CredentialsRejected,
                message,
                ..
            } => {
                assert!(message.contains(reason), "{user}: {message}");
                assert!(!message.contains(password), "{message}");
            }
            other => panic!("{user}: expected CredentialsRejected, got {other:?}"),
        }
    }

    let (mut reader, result) = connect(0xB, "reader", "reader-password").await;
    assert!(
        matches!(
            result,
            ServerMessage::LoginResult {
                code: LoginCode::Ok,
                ..
            }
        ),
        "{result:?}"
    );
    reader.until_complete().await;
    let (mut writer, result) = connect(0xA, "writer", "writer-password").await;
    assert!(
        matches!(
            result,
            ServerMessage::LoginResult {
                code: LoginCode::Ok,
                ..
            }
        ),
        "{result:?}"
    );
    writer.until_complete().await;

    let put = |peer: u64, text: &str| Op::Put {
        entity: 1,
        id: GlobalId(peer, 1),
        props: vec![
            (2, shared_types::protocol::Value::String(text.into())),
            (6, shared_types::protocol::Value::Int(1)),
        ],
    };
    // The reader may not write, every time, and stays connected.
    for tx_id in [1, 2] {
        reader
            .send(&ClientMessage::ApplyTx(ApplyTx {
                tx_id,
                ops: vec![put(0xB, "from the reader")],
            }))
            .await;
        match reader.recv().await {
            ServerMessage::TxRejected {
                tx_id: id, code, ..
            } => {
                assert_eq!((id, code), (tx_id, TxErrorCode::NoPermission));
            }
            other => panic!("expected TxRejected, got {other:?}"),
        }
    }
    // The writer may, and the reader receives it.
    writer
        .send(&ClientMessage::ApplyTx(ApplyTx {
            tx_id: 1,
            ops: vec![put(0xA, "from the writer")],
        }))
        .await;
    assert!(
        matches!(writer.recv().await, ServerMessage::Ack { tx_id: 1, .. }),
        "writer's Ack"
    );
    match reader.recv().await {
        ServerMessage::Push { txs } => {
            assert_eq!(txs.len(), 1);
            assert!(
                matches!(
                    &txs[0].ops[..],
                    [Op::Put {
                        id: GlobalId(0xA, 1),
                        ..
                    }]
                ),
                "{txs:?}"
            );
        }
        other => panic!("expected a push, got {other:?}"),
    }

    // Guessing a password over sync logins is slowed down too.
    for peer in 10..15 {
        let (_, result) = connect(peer, "writer", "a guess").await;
        assert!(
            matches!(
                result,
                ServerMessage::LoginResult {
                    code: LoginCode::CredentialsRejected,
                    ..
                }
            ),
            "{result:?}"
        );
    }
    match connect(15, "writer", "writer-password").await.1 {
        ServerMessage::LoginResult {
            code: LoginCode::CredentialsRejected,
            message,
            ..
        } => assert!(message.contains("too many failed attempts"), "{message}"),
        other => panic!("expected CredentialsRejected, got {other:?}"),
    }
    server.stop().await;
}

#[test]
fn a_bad_initial_admin_stops_start_up_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let model = example_model();
    for (args, expected) in [
        (
            &["--admin-user", "root", "--admin-password", "short"][..],
            "cannot create the admin user from --admin-user: the password has 5 characters; use \
             at least 8",
        ),
        (
            &[
                "--admin-user",
                "bad name",
                "--admin-password",
                "long enough",
            ][..],
            "invalid user name \"bad name\"",
        ),
        (
            &["--admin-password", "long enough"][..],
            "--admin-password / adminPassword is set but --admin-user / adminUser is not",
        ),
    ] {
        let output = crate::support::run_to_end(
            crate::support::sync_server(dir.path())
                .args(["--unsecured-no-authentication", "--admin-off", "--model"])
                .arg(&model)
                .args(args)
                .env_remove("SYNC_SERVER_ADMIN_PASSWORD"),
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!stderr.contains("long enough"), "{stderr}");
    }
}
