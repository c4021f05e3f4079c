//! Secrets never reach the log: the real binary at the most verbose level, every kind of login
//! (admin setup, admin login, sync logins with a shared secret, a JWT and an admin user), right
//! and wrong, and then a search of everything it printed for each secret.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use shared_types::protocol::*;

use crate::admin_users::{Auth, request};
use crate::protocol::{Raw, example_hashes};
use crate::support::{Running, example_model, fixture};

const SHARED_SECRET: &str = "shared-SECRET-7f3a9c";
const FIRST_PASSWORD: &str = "first-PASSWORD-51d0";
const WRONG_PASSWORD: &str = "wrong-PASSWORD-0b77";
const SYNC_PASSWORD: &str = "sync-PASSWORD-c2e8";
const NEW_SYNC_PASSWORD: &str = "new-sync-PASSWORD-9a41";

/// Credentials from the connection's nonce and the peer id.
type MakeCredentials = Box<dyn Fn(&[u8], u64) -> Vec<Credential>>;

#[tokio::test]
async fn no_secret_reaches_the_log_even_at_the_most_verbose_level() {
    let dir = tempfile::tempdir().unwrap();
    let public_key = std::fs::read_to_string(fixture("auth/rsa-a.pub.pem")).unwrap();
    std::fs::write(
        dir.path().join("sync-server-config.json"),
        json!({
            "auth": {
                "sharedSecret": SHARED_SECRET,
                "jwt": {"publicKey": public_key},
                "obxAdmin": true,
            },
            "logLevel": "all",
        })
        .to_string(),
    )
    .unwrap();
    let model = example_model();
    let mut server = Running::start(dir.path(), &["--model", model.to_str().unwrap()]);
    let line = server.wait_for("POST /api/setup with setup token");
    let setup_token = line.rsplit(' ').next().expect("token").to_owned();
    let admin = server.admin_addr.expect("admin address");
    let sync = server.sync_addr;

    // Admin: setup, a wrong and a right login, a user with a password, a password change.
    let setup = request(
        admin,
        "POST",
        "/api/setup",
        Auth::None,
        Some(json!({"setupToken": setup_token, "user": "root", "password": FIRST_PASSWORD})),
    )
    .await;
    assert_eq!(setup.status, 200, "{setup:?}");
    let setup_session = setup.json["token"].as_str().expect("token").to_owned();
    let wrong = request(
        admin,
        "POST",
        "/api/login",
        Auth::None,
        Some(json!({"user": "root", "password": WRONG_PASSWORD})),
    )
    .await;
    assert_eq!(wrong.status, 401, "{wrong:?}");
    let login = request(
        admin,
        "POST",
        "/api/login",
        Auth::None,
        Some(json!({"user": "root", "password": FIRST_PASSWORD})),
    )
    .await;
    assert_eq!(login.status, 200, "{login:?}");
    let session = login.json["token"].as_str().expect("token").to_owned();
    let csrf = login.json["csrfToken"].as_str().expect("csrf").to_owned();
    let created = request(
        admin,
        "POST",
        "/api/users",
        Auth::Cookie(&session, Some(&csrf)),
        Some(json!({"name": "syncer", "password": SYNC_PASSWORD,
                    "permissions": {"admin": false, "syncLogin": true, "syncWrite": true}})),
    )
    .await;
    assert_eq!(created.status, 201, "{created:?}");
    let changed = request(
        admin,
        "PUT",
        "/api/users/syncer/password",
        Auth::Bearer(&session),
        Some(json!({"newPassword": NEW_SYNC_PASSWORD})),
    )
    .await;
    assert!(changed.status < 300, "{changed:?}");

    // Sync: shared secret, JWT, admin user; each right and wrong.
    let now = jsonwebtoken::get_current_timestamp();
    let key =
        EncodingKey::from_rsa_pem(&std::fs::read(fixture("auth/rsa-a.key.pem")).unwrap()).unwrap();
    let jwt = jsonwebtoken::encode(
        &Header::new(Algorithm::RS256),
        &json!({"sub": "device-1", "iat": now, "exp": now + 3600}),
        &key,
    )
    .unwrap();
    let forged = format!("{}AAAA", &jwt[..jwt.len() - 4]);
    let cases: Vec<(u64, MakeCredentials, LoginCode)> = vec![
        (
            1,
            Box::new(|nonce, peer| {
                let hmac = shared_types::shared_secret::shared_secret_proof(
                    SHARED_SECRET.as_bytes(),
                    nonce,
                    peer,
                );
                vec![Credential::SharedSecret { hmac }]
            }),
            LoginCode::Ok,
        ),
        (
            2,
            Box::new(|nonce, peer| {
                let hmac = shared_types::shared_secret::shared_secret_proof(
                    b"not the secret",
                    nonce,
                    peer,
                );
                vec![Credential::SharedSecret { hmac }]
            }),
            LoginCode::CredentialsRejected,
        ),
        (
            3,
            Box::new({
                let jwt = jwt.clone();
                move |_, _| {
                    vec![Credential::Jwt {
                        kind: JwtKind::Id,
                        token: jwt.clone(),
                    }]
                }
            }),
            LoginCode::Ok,
        ),
        (
            4,
            Box::new({
                let forged = forged.clone();
                move |_, _| {
                    vec![Credential::Jwt {
                        kind: JwtKind::Id,
                        token: forged.clone(),
                    }]
                }
            }),
            LoginCode::CredentialsRejected,
        ),
        (
            5,
            Box::new(|_, _| {
                vec![Credential::UserPassword {
                    user: "syncer".into(),
                    password: NEW_SYNC_PASSWORD.into(),
                }]
            }),
            LoginCode::Ok,
        ),
        (
            6,
            Box::new(|_, _| {
                vec![Credential::UserPassword {
                    user: "syncer".into(),
                    password: WRONG_PASSWORD.into(),
                }]
            }),
            LoginCode::CredentialsRejected,
        ),
    ];
    let (full, base) = example_hashes();
    for (peer, credentials, expected) in cases {
        let mut raw = Raw::connect(sync).await;
        raw.send(&ClientMessage::Login(Login {
            protocol_version: PROTOCOL_VERSION,
            peer_id: peer,
            credentials: credentials(&raw.nonce, peer),
            schema_full_hash: full.clone(),
            schema_base_hash: base.clone(),
            last_seq: 0,
            mode: RequestUpdatesMode::Auto,
            last_tx_id: 0,
        }))
        .await;
        match raw.recv().await {
            ServerMessage::LoginResult { code, message, .. } => {
                assert_eq!(code, expected, "peer {peer}: {message}");
            }
            other => panic!("{other:?}"),
        }
    }
    let logout = request(
        admin,
        "POST",
        "/api/logout",
        Auth::Bearer(&setup_session),
        None,
    )
    .await;
    assert!(logout.status < 300, "{logout:?}");

    let (code, log) = server.terminate();
    assert_eq!(code, 0);
    let log = log.join("\n");
    // The level really was the most verbose one.
    assert!(log.contains("[DEBUG]"), "{log}");
    let signature = jwt.rsplit('.').next().expect("signature");
    for (what, secret) in [
        ("shared secret", SHARED_SECRET),
        ("setup password", FIRST_PASSWORD),
        ("wrong password", WRONG_PASSWORD),
        ("user password", SYNC_PASSWORD),
        ("changed password", NEW_SYNC_PASSWORD),
        ("JWT", jwt.as_str()),
        ("JWT signature", signature),
        ("forged JWT", forged.as_str()),
        ("session token from setup", setup_session.as_str()),
        ("session token from login", session.as_str()),
        ("CSRF token", csrf.as_str()),
    ] {
        let lines: Vec<&str> = log.lines().filter(|l| l.contains(secret)).collect();
        assert!(lines.is_empty(), "the {what} is in the log: {lines:?}");
    }
    // The setup token is logged once, on purpose, and not again when it is used.
    assert_eq!(log.matches(&setup_token).count(), 1, "{log}");
}
