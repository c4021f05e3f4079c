//! Login checks with real keys, real signatures and a real HTTP key server on 127.0.0.1.
//!
//! Size: every credential kind, key format and refusal reason is a case of its own.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode, get_current_timestamp};
use serde_json::json;
use shared_types::shared_secret::shared_secret_proof;

use super::*;
use crate::config::{AuthConfig, JwtConfig, SharedSecret};

const NONCE: [u8; 32] = [9; 32];
const PEER: u64 = 0x1234_5678_9abc_def0;
const SECRET: &str = "correct horse battery staple";

// ---- Shared secret ----

#[tokio::test]
async fn shared_secret_right_wrong_and_replayed() {
    let auth = build(secured(AuthConfig {
        shared_secret: Some(secret(false)),
        ..AuthConfig::default()
    }));
    let proof = |secret: &str, nonce: &[u8], peer| Credential::SharedSecret {
        hmac: shared_secret_proof(secret.as_bytes(), nonce, peer),
    };

    let id = auth
        .authenticate(&[proof(SECRET, &NONCE, PEER)], &NONCE, PEER)
        .await
        .unwrap();
    assert_eq!(id, identity(Method::SharedSecret, None));

    let wrong = auth
        .authenticate(&[proof("guess", &NONCE, PEER)], &NONCE, PEER)
        .await
        .unwrap_err();
    assert!(
        matches!(&wrong, Failure::CredentialsRejected(m) if m.contains("shared secret proof does not match")),
        "{wrong:?}"
    );
    assert_eq!(wrong.login_code(), LoginCode::CredentialsRejected);

    // A proof captured on one connection is worthless on the next (new nonce) or for another peer.
    let replayed = proof(SECRET, &NONCE, PEER);
    let other_nonce = [10u8; 32];
    assert!(matches!(
        auth.authenticate(std::slice::from_ref(&replayed), &other_nonce, PEER)
            .await,
        Err(Failure::CredentialsRejected(_))
    ));
    assert!(matches!(
        auth.authenticate(&[replayed], &NONCE, PEER + 1).await,
        Err(Failure::CredentialsRejected(_))
    ));
    assert!(matches!(
        auth.authenticate(&[Credential::SharedSecret { hmac: vec![] }], &NONCE, PEER)
            .await,
        Err(Failure::CredentialsRejected(_))
    ));
}

// ---- JWT with an inline key ----

#[tokio::test]
async fn jwt_rs256_inline_key() {
    let auth = build(secured(jwt_auth(inline("rsa-a.pub.pem"))));
    let token = sign(Algorithm::RS256, "rsa-a.key.pem", None, claims(json!({})));
    let id = login(&auth, &token).await.unwrap();
    assert_eq!(id.method, Method::Jwt(JwtKind::Id));
    assert_eq!(id.claims.as_ref().unwrap()["sub"], "user-1");
    assert!(id.can_write);

    // Every JWT kind is checked the same way and reported as sent.
    let access = Credential::Jwt {
        kind: JwtKind::Access,
        token: token.clone(),
    };
    let id = auth.authenticate(&[access], &NONCE, PEER).await.unwrap();
    assert_eq!(id.method, Method::Jwt(JwtKind::Access));

    // PS256 is RSA too.
    let token = sign(Algorithm::PS256, "rsa-a.key.pem", None, claims(json!({})));
    login(&auth, &token).await.unwrap();
}

#[tokio::test]
async fn jwt_es256_and_es384_inline_keys() {
    let auth = build(secured(jwt_auth(inline("ec-p256.pub.pem"))));
    let token = sign(Algorithm::ES256, "ec-p256.key.pem", None, claims(json!({})));
    assert_eq!(
        login(&auth, &token).await.unwrap().method,
        Method::Jwt(JwtKind::Id)
    );
    check_rejected(&auth, &tamper(&token), "signature does not match").await;
    // A P-384 signature does not fit the P-256 key.
    let p384 = sign(Algorithm::ES384, "ec-p384.key.pem", None, claims(json!({})));
    check_rejected(
        &auth,
        &p384,
        "algorithm ES384 is not accepted for the EC P-256 key",
    )
    .await;

    let auth = build(secured(jwt_auth(inline("ec-p384.pub.pem"))));
    login(&auth, &p384).await.unwrap();
}

#[tokio::test]
async fn jwt_inline_certificate_and_pkcs1_keys() {
    for (key_file, alg, signer) in [
        ("rsa-a.cert.pem", Algorithm::RS256, "rsa-a.key.pem"),
        ("rsa-a.pkcs1.pub.pem", Algorithm::RS512, "rsa-a.key.pem"),
        ("ec-p256.cert.pem", Algorithm::ES256, "ec-p256.key.pem"),
    ] {
        let auth = build(secured(jwt_auth(inline(key_file))));
        let token = sign(alg, signer, None, claims(json!({})));
        assert!(login(&auth, &token).await.is_ok(), "{key_file}");
        let other = sign(Algorithm::RS256, "rsa-b.key.pem", None, claims(json!({})));
        assert!(login(&auth, &other).await.is_err(), "{key_file}");
    }
}

#[tokio::test]
async fn jwt_rejections() {
    let mut jwt = inline("rsa-a.pub.pem");
    jwt.claim_aud = vec!["app".into(), "app2".into()];
    jwt.claim_iss = Some("https://issuer".into());
    let auth = build(secured(jwt_auth(jwt)));
    let now = get_current_timestamp();
    let rs256 = |claims_json| sign(Algorithm::RS256, "rsa-a.key.pem", None, claims(claims_json));
    let good = json!({"aud": "app", "iss": "https://issuer"});

    login(&auth, &rs256(good.clone())).await.unwrap();
    // `aud` may be an array; one match is enough.
    login(
        &auth,
        &rs256(json!({"aud": ["other", "app2"], "iss": "https://issuer"})),
    )
    .await
    .unwrap();
    // Within the leeway.
    login(
        &auth,
        &rs256(json!({"aud": "app", "iss": "https://issuer", "exp": now - 30, "nbf": now + 30})),
    )
    .await
    .unwrap();

    let public_pem = fixture("rsa-a.pub.pem");
    let valid = rs256(good.clone());
    let payload = valid.split('.').nth(1).unwrap();
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "wrong signature",
            sign(
                Algorithm::RS256,
                "rsa-b.key.pem",
                None,
                claims(good.clone()),
            ),
            "signature does not match",
        ),
        (
            "tampered claims",
            tamper(&valid),
            "signature does not match",
        ),
        (
            "expired",
            rs256(json!({"aud": "app", "iss": "https://issuer", "exp": now - 3600})),
            "expired",
        ),
        (
            "nbf in the future",
            rs256(json!({"aud": "app", "iss": "https://issuer", "nbf": now + 3600})),
            "not valid yet",
        ),
        (
            "no exp",
            rs256(json!({"aud": "app", "iss": "https://issuer", "exp": null})),
            "exp claim",
        ),
        (
            "wrong aud",
            rs256(json!({"aud": "other", "iss": "https://issuer"})),
            "aud does not match",
        ),
        (
            "missing aud",
            rs256(json!({"iss": "https://issuer"})),
            "aud claim is missing",
        ),
        (
            "wrong iss",
            rs256(json!({"aud": "app", "iss": "https://evil"})),
            "iss does not match",
        ),
        (
            "missing iss",
            rs256(json!({"aud": "app"})),
            "iss claim is missing",
        ),
        (
            "alg none",
            format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}."),
            "unsupported algorithm",
        ),
        (
            "HS256 with the public key as secret",
            encode(
                &Header::new(Algorithm::HS256),
                &claims(good.clone()),
                &EncodingKey::from_secret(public_pem.as_bytes()),
            )
            .unwrap(),
            "algorithm HS256 is not accepted for the RSA key",
        ),
        ("garbage", "not-a-jwt".to_owned(), "malformed token"),
        ("empty", String::new(), "malformed token"),
    ];
    for (name, token, expected) in cases {
        let failure = login(&auth, &token).await.unwrap_err();
        let Failure::CredentialsRejected(message) = &failure else {
            panic!("{name}: {failure:?}");
        };
        assert!(message.contains(expected), "{name}: {message}");
        assert!(message.starts_with("JWT ID token: "), "{name}: {message}");
        if !token.is_empty() {
            assert!(!message.contains(&token), "{name} leaks the token");
        }
    }
}

#[tokio::test]
async fn jwt_aud_not_checked_without_claim_aud() {
    let auth = build(secured(jwt_auth(inline("rsa-a.pub.pem"))));
    let token = sign(
        Algorithm::RS256,
        "rsa-a.key.pem",
        None,
        claims(json!({"aud": "anything", "iss": "anyone"})),
    );
    login(&auth, &token).await.unwrap();
}

#[test]
fn bad_settings_are_named() {
    let error = |auth: AuthConfig| {
        Authenticator::from_config(&secured(auth))
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        error(jwt_auth(inline("rsa-a.key.pem"))),
        "invalid auth.jwt.publicKey: found a private key (BEGIN PRIVATE KEY); configure the \
         public key or certificate instead"
    );
    let e = error(jwt_auth(JwtConfig {
        public_key: Some("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n".into()),
        ..JwtConfig::default()
    }));
    assert!(
        e.starts_with("invalid auth.jwt.publicKey: BEGIN PUBLIC KEY holds no"),
        "{e}"
    );
    let e = error(jwt_auth(JwtConfig {
        public_key: Some("ssh-rsa AAAA".into()),
        ..JwtConfig::default()
    }));
    assert_eq!(
        e,
        r#"invalid auth.jwt.publicKey: not PEM (no "-----BEGIN " line), found "ssh-rsa AAAA""#
    );
    assert_eq!(
        error(jwt_auth(url("ftp://keys.example/jwks"))),
        r#"invalid JWT public key URL "ftp://keys.example/jwks" (--jwt-public-key-url / auth.jwt.publicKeyUrl): the URL must start with http:// or https://"#
    );
    assert_eq!(
        error(AuthConfig {
            required: vec!["JWT_ACCESS".into()],
            shared_secret: Some(secret(false)),
            ..AuthConfig::default()
        }),
        "credential type JWT_ACCESS is required (--auth-required) but auth.jwt is not configured"
    );
    assert_eq!(
        error(AuthConfig {
            required: vec!["GOOGLE_AUTH".into()],
            ..AuthConfig::default()
        }),
        "GOOGLE_AUTH in --auth-required is not supported yet"
    );
    assert_eq!(
        error(AuthConfig {
            required: vec!["OBX_ADMIN_USER".into()],
            ..AuthConfig::default()
        }),
        "credential type OBX_ADMIN_USER is required (--auth-required) but auth.obxAdmin is not \
         configured"
    );
}

// ---- Admin users (auth.obxAdmin) ----

#[tokio::test]
async fn admin_users_log_in_with_their_sync_permissions_and_can_be_required() {
    let dir = tempfile::tempdir().unwrap();
    let store = crate::store::Store::open(dir.path(), 1 << 24).unwrap();
    let users = crate::users::Users::new(store.clone());
    let perms = |sync_login, sync_write| crate::users::Permissions {
        admin: false,
        sync_login,
        sync_write,
    };
    users
        .create("rw", "rw-password", perms(true, true))
        .await
        .unwrap();
    users
        .create("ro", "ro-password", perms(true, false))
        .await
        .unwrap();
    users
        .create("none", "none-password", perms(false, true))
        .await
        .unwrap();
    let password = |user: &str, password: &str| Credential::UserPassword {
        user: user.into(),
        password: password.into(),
    };

    let auth = build(secured(AuthConfig {
        obx_admin: Some(crate::config::ObxAdminAuth { required: true }),
        shared_secret: Some(secret(false)),
        ..AuthConfig::default()
    }))
    .with_admin_users(users.clone());
    assert!(
        auth.describe()
            .contains(&"admin users with the sync login permission".to_owned())
    );
    let login = |credentials: Vec<Credential>| {
        let auth = &auth;
        async move { auth.authenticate(&credentials, &NONCE, PEER).await }
    };
    let rw = login(vec![password("rw", "rw-password")]).await.unwrap();
    assert_eq!((rw.method, rw.can_write), (Method::AdminUser, true));
    let ro = login(vec![password("ro", "ro-password")]).await.unwrap();
    assert_eq!((ro.method, ro.can_write), (Method::AdminUser, false));
    for (credentials, expected) in [
        (
            vec![password("none", "none-password")],
            "lacks the sync login permission",
        ),
        (vec![password("rw", "wrong")], "wrong user name or password"),
        (
            vec![password("ghost", "rw-password")],
            "wrong user name or password",
        ),
    ] {
        let failure = login(credentials).await.unwrap_err();
        assert!(
            matches!(&failure, Failure::CredentialsRejected(m) | Failure::NoPermission(m) if m.contains(expected)),
            "{failure:?}"
        );
    }
    // Required: a valid shared secret alone is not enough.
    let proof = shared_secret_proof(SECRET.as_bytes(), &NONCE, PEER);
    let failure = login(vec![Credential::SharedSecret {
        hmac: proof.clone(),
    }])
    .await
    .unwrap_err();
    assert!(
        matches!(failure, Failure::MissingRequired(_)),
        "{failure:?}"
    );
    let both = login(vec![
        Credential::SharedSecret { hmac: proof },
        password("ro", "ro-password"),
    ])
    .await
    .unwrap();
    assert_eq!((both.method, both.can_write), (Method::SharedSecret, false));
    drop((auth, users));
    store.close();
}

// ---- JWT keys from publicKeyUrl ----

#[tokio::test]
async fn jwks_with_rsa_ec_and_x5c_keys() {
    let mut rsa = jwk(Algorithm::RS256, "rsa-a.key.pem", "rsa");
    rsa["use"] = json!("sig");
    let keys = json!({"keys": [
        // Entries that can't verify signatures are skipped, not fatal.
        {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
        {"kty": "RSA", "kid": "enc", "use": "enc", "n": rsa["n"], "e": rsa["e"]},
        rsa,
        jwk(Algorithm::ES256, "ec-p256.key.pem", "ec"),
        {"kty": "RSA", "kid": "x5c", "x5c": [certificate_base64("rsa-b")]},
    ]});
    let server = KeyServer::start(keys.to_string()).await;
    let auth = build(secured(jwt_auth(url(&server.url))));

    for (alg, key, kid) in [
        (Algorithm::RS256, "rsa-a.key.pem", "rsa"),
        (Algorithm::ES256, "ec-p256.key.pem", "ec"),
        (Algorithm::RS256, "rsa-b.key.pem", "x5c"),
    ] {
        let token = sign(alg, key, Some(kid), claims(json!({})));
        assert!(login(&auth, &token).await.is_ok(), "{kid}");
    }
    // The right key for the wrong kid does not verify.
    let token = sign(
        Algorithm::RS256,
        "rsa-a.key.pem",
        Some("x5c"),
        claims(json!({})),
    );
    check_rejected(&auth, &token, "signature does not match").await;
    // A symmetric JWK is never used: no HS256 token verifies.
    let token = encode(
        &header(Algorithm::HS256, Some("hmac")),
        &claims(json!({})),
        &EncodingKey::from_secret(b"secret"),
    )
    .unwrap();
    check_rejected(&auth, &token, r#"no public key with kid "hmac""#).await;
    // Without a kid, every key is tried.
    let token = sign(Algorithm::ES256, "ec-p256.key.pem", None, claims(json!({})));
    login(&auth, &token).await.unwrap();
    assert_eq!(server.hits(), 1, "the keys are cached");
}

#[tokio::test]
async fn x509_map_and_pem_documents() {
    let map = json!({
        "k-rsa": fixture("rsa-a.cert.pem"),
        "k-ec": fixture("ec-p256.cert.pem"),
    });
    let server = KeyServer::start(map.to_string()).await;
    let auth = build(secured(jwt_auth(url(&server.url))));
    let rsa = sign(
        Algorithm::RS256,
        "rsa-a.key.pem",
        Some("k-rsa"),
        claims(json!({})),
    );
    let ec = sign(
        Algorithm::ES256,
        "ec-p256.key.pem",
        Some("k-ec"),
        claims(json!({})),
    );
    login(&auth, &rsa).await.unwrap();
    login(&auth, &ec).await.unwrap();
    let swapped = sign(
        Algorithm::ES256,
        "ec-p256.key.pem",
        Some("k-rsa"),
        claims(json!({})),
    );
    check_rejected(
        &auth,
        &swapped,
        "algorithm ES256 is not accepted for the RSA key",
    )
    .await;

    for document in ["rsa-a.pub.pem", "rsa-a.cert.pem"] {
        let server = KeyServer::start(fixture(document)).await;
        let auth = build(secured(jwt_auth(url(&server.url))));
        // A lone PEM key has no kid and is tried for any token.
        let token = sign(
            Algorithm::RS256,
            "rsa-a.key.pem",
            Some("any"),
            claims(json!({})),
        );
        assert!(login(&auth, &token).await.is_ok(), "{document}");
        let other = sign(Algorithm::RS256, "rsa-b.key.pem", None, claims(json!({})));
        assert!(login(&auth, &other).await.is_err(), "{document}");
    }
}

#[tokio::test]
async fn unreachable_or_useless_url_is_auth_unreachable() {
    // A port that was free a moment ago: nothing listens there.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let auth = build(secured(jwt_auth(url(&format!(
        "http://127.0.0.1:{port}/keys"
    )))));
    let token = sign(Algorithm::RS256, "rsa-a.key.pem", None, claims(json!({})));
    let failure = login(&auth, &token).await.unwrap_err();
    assert!(
        matches!(failure, Failure::AuthUnreachable(_)),
        "{failure:?}"
    );
    assert_eq!(failure.login_code(), LoginCode::AuthUnreachable);
    // Within the retry interval the failure is returned without another attempt.
    let again = login(&auth, &token).await.unwrap_err();
    assert_eq!(again, failure);

    let server = KeyServer::start("<html>login page</html>".to_owned()).await;
    let auth = build(secured(jwt_auth(url(&server.url))));
    let failure = login(&auth, &token).await.unwrap_err();
    assert!(
        matches!(&failure, Failure::AuthUnreachable(m) if m.contains("serves no usable key")),
        "{failure:?}"
    );
}

#[tokio::test]
async fn unknown_kid_refetches_at_most_once_per_interval() {
    let key_a = json!({"keys": [jwk(Algorithm::RS256, "rsa-a.key.pem", "a")]});
    let key_b = json!({"keys": [jwk(Algorithm::RS256, "rsa-b.key.pem", "b")]});
    let server = KeyServer::start(key_a.to_string()).await;
    let token_a = sign(
        Algorithm::RS256,
        "rsa-a.key.pem",
        Some("a"),
        claims(json!({})),
    );
    let token_b = sign(
        Algorithm::RS256,
        "rsa-b.key.pem",
        Some("b"),
        claims(json!({})),
    );

    // Default timings: the keys were fetched just now, so a kid miss does not refetch.
    let auth = build(secured(jwt_auth(url(&server.url))));
    login(&auth, &token_a).await.unwrap();
    server.serve(key_b.to_string());
    check_rejected(&auth, &token_b, r#"no public key with kid "b""#).await;
    check_rejected(&auth, &token_b, r#"no public key with kid "b""#).await;
    assert_eq!(server.hits(), 1);

    // Once the interval has passed, a kid miss refetches and finds the rotated key.
    server.serve(key_a.to_string());
    let timings = Timings {
        kid_miss_refetch_interval: Duration::ZERO,
        ..Timings::default()
    };
    let auth = Authenticator::with_timings(&secured(jwt_auth(url(&server.url))), timings).unwrap();
    login(&auth, &token_a).await.unwrap();
    server.serve(key_b.to_string());
    login(&auth, &token_b).await.unwrap();
    assert_eq!(server.hits(), 3);
}

#[tokio::test]
async fn keys_expire_after_the_cache_time() {
    let keys = json!({"keys": [jwk(Algorithm::RS256, "rsa-a.key.pem", "a")]});
    let server = KeyServer::start(keys.to_string()).await;
    let token = sign(
        Algorithm::RS256,
        "rsa-a.key.pem",
        Some("a"),
        claims(json!({})),
    );

    let cached = build(secured(jwt_auth(url(&server.url))));
    for _ in 0..3 {
        login(&cached, &token).await.unwrap();
    }
    assert_eq!(server.hits(), 1);

    let mut jwt = url(&server.url);
    jwt.public_key_cache_expiration_seconds = Some(0);
    let uncached = build(secured(jwt_auth(jwt)));
    for _ in 0..3 {
        login(&uncached, &token).await.unwrap();
    }
    assert_eq!(server.hits(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_logins_fetch_once() {
    let keys = json!({"keys": [jwk(Algorithm::RS256, "rsa-a.key.pem", "a")]});
    let server = KeyServer::start(keys.to_string()).await;
    let auth = Arc::new(build(secured(jwt_auth(url(&server.url)))));
    let token = sign(
        Algorithm::RS256,
        "rsa-a.key.pem",
        Some("a"),
        claims(json!({})),
    );
    let logins: Vec<_> = (0..8)
        .map(|_| {
            let (auth, token) = (Arc::clone(&auth), token.clone());
            tokio::spawn(async move { login(&auth, &token).await })
        })
        .collect();
    for login in logins {
        login.await.unwrap().unwrap();
    }
    assert_eq!(server.hits(), 1);
}

// ---- Combining credentials ----

#[tokio::test]
async fn required_kinds() {
    let mut auth_config = jwt_auth(inline("rsa-a.pub.pem"));
    auth_config.shared_secret = Some(secret(false));
    auth_config.required = vec!["JWT_ACCESS".into()];
    let auth = build(secured(auth_config));
    let token = sign(Algorithm::RS256, "rsa-a.key.pem", None, claims(json!({})));
    let bad_token = tamper(&token);
    let shared = Credential::SharedSecret {
        hmac: shared_secret_proof(SECRET.as_bytes(), &NONCE, PEER),
    };
    let jwt = |kind, token: &str| Credential::Jwt {
        kind,
        token: token.to_owned(),
    };

    let missing = auth
        .authenticate(std::slice::from_ref(&shared), &NONCE, PEER)
        .await
        .unwrap_err();
    assert_eq!(
        missing,
        Failure::MissingRequired("a valid JWT access token is required".into())
    );
    assert_eq!(missing.login_code(), LoginCode::CredentialsRejected);
    // An ID token is not an access token.
    assert!(matches!(
        auth.authenticate(&[jwt(JwtKind::Id, &token)], &NONCE, PEER)
            .await,
        Err(Failure::MissingRequired(_))
    ));
    // The first valid credential names the method; the required one must be valid too.
    let id = auth
        .authenticate(
            &[shared.clone(), jwt(JwtKind::Access, &token)],
            &NONCE,
            PEER,
        )
        .await
        .unwrap();
    assert_eq!(id.method, Method::SharedSecret);
    let failure = auth
        .authenticate(
            &[shared.clone(), jwt(JwtKind::Access, &bad_token)],
            &NONCE,
            PEER,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&failure, Failure::CredentialsRejected(m) if m.starts_with("JWT access token: the signature")),
        "{failure:?}"
    );

    // The config flags require kinds as --auth-required does.
    let mut auth_config = jwt_auth(inline("rsa-a.pub.pem"));
    auth_config.shared_secret = Some(secret(true));
    auth_config.jwt.as_mut().unwrap().required = true;
    let auth = build(secured(auth_config));
    assert!(matches!(
        auth.authenticate(&[jwt(JwtKind::Id, &token)], &NONCE, PEER)
            .await,
        Err(Failure::MissingRequired(m)) if m == "a valid shared secret is required"
    ));
    let id = auth
        .authenticate(&[jwt(JwtKind::Id, &token), shared], &NONCE, PEER)
        .await
        .unwrap();
    assert_eq!(id.method, Method::Jwt(JwtKind::Id));
    assert!(id.claims.is_some());
}

#[tokio::test]
async fn any_valid_credential_admits() {
    let mut auth_config = jwt_auth(inline("rsa-a.pub.pem"));
    auth_config.shared_secret = Some(secret(false));
    let auth = build(secured(auth_config));
    let token = sign(Algorithm::RS256, "rsa-a.key.pem", None, claims(json!({})));
    let good_secret = Credential::SharedSecret {
        hmac: shared_secret_proof(SECRET.as_bytes(), &NONCE, PEER),
    };
    let bad_secret = Credential::SharedSecret { hmac: vec![0; 32] };
    let good_jwt = Credential::Jwt {
        kind: JwtKind::Custom,
        token: token.clone(),
    };
    let bad_jwt = Credential::Jwt {
        kind: JwtKind::Custom,
        token: tamper(&token),
    };

    let login = |credentials: Vec<Credential>| {
        let auth = &auth;
        async move { auth.authenticate(&credentials, &NONCE, PEER).await }
    };
    assert_eq!(
        login(vec![bad_jwt.clone(), good_secret.clone()])
            .await
            .unwrap()
            .method,
        Method::SharedSecret
    );
    assert_eq!(
        login(vec![good_jwt, bad_secret.clone()])
            .await
            .unwrap()
            .method,
        Method::Jwt(JwtKind::Custom)
    );
    let failure = login(vec![bad_jwt, bad_secret]).await.unwrap_err();
    let Failure::CredentialsRejected(message) = failure else {
        panic!("{failure:?}");
    };
    assert!(
        message.starts_with("JWT custom token: the signature does not match")
            && message.contains("; the shared secret proof does not match"),
        "{message}"
    );
}

#[tokio::test]
async fn secured_server_rejects_missing_and_unsupported_credentials() {
    let auth = build(secured(AuthConfig {
        shared_secret: Some(secret(false)),
        ..AuthConfig::default()
    }));
    let cases: Vec<(Vec<Credential>, &str)> = vec![
        (vec![], "no credentials were given"),
        (
            vec![Credential::None],
            "this server requires authentication",
        ),
        (
            vec![Credential::UserPassword {
                user: "admin".into(),
                password: "hunter2".into(),
            }],
            "user and password credentials are not accepted (auth.obxAdmin is not set)",
        ),
        (
            vec![Credential::Jwt {
                kind: JwtKind::Id,
                token: "a.b.c".into(),
            }],
            "JWT ID token credentials are not accepted (auth.jwt is not set)",
        ),
    ];
    for (credentials, expected) in cases {
        let failure = auth
            .authenticate(&credentials, &NONCE, PEER)
            .await
            .unwrap_err();
        assert!(
            matches!(&failure, Failure::CredentialsRejected(m) if m.contains(expected) && !m.contains("hunter2")),
            "{credentials:?}: {failure:?}"
        );
    }
}

#[tokio::test]
async fn unsecured_mode() {
    let none = identity(Method::None, None);
    let open = build(unsecured(AuthConfig::default()));
    assert!(open.is_unsecured());
    for credentials in [
        vec![],
        vec![Credential::None],
        vec![Credential::SharedSecret { hmac: vec![1, 2] }],
        vec![Credential::UserPassword {
            user: "u".into(),
            password: "p".into(),
        }],
    ] {
        assert_eq!(
            open.authenticate(&credentials, &NONCE, PEER).await,
            Ok(none.clone()),
            "{credentials:?}"
        );
    }

    // With an authenticator configured, its credentials are still checked.
    let mixed = build(unsecured(AuthConfig {
        shared_secret: Some(secret(false)),
        ..AuthConfig::default()
    }));
    assert_eq!(
        mixed.authenticate(&[Credential::None], &NONCE, PEER).await,
        Ok(none)
    );
    let good = Credential::SharedSecret {
        hmac: shared_secret_proof(SECRET.as_bytes(), &NONCE, PEER),
    };
    assert_eq!(
        mixed
            .authenticate(&[good], &NONCE, PEER)
            .await
            .unwrap()
            .method,
        Method::SharedSecret
    );
    assert!(matches!(
        mixed
            .authenticate(
                &[Credential::SharedSecret { hmac: vec![0; 32] }],
                &NONCE,
                PEER
            )
            .await,
        Err(Failure::CredentialsRejected(_))
    ));
    assert!(
        !build(secured(AuthConfig {
            shared_secret: Some(secret(false)),
            ..AuthConfig::default()
        }))
        .is_unsecured()
    );
}

#[tokio::test]
async fn describe_never_shows_the_secret() {
    let mut auth_config = jwt_auth(JwtConfig {
        public_key_url: Some("https://user:pw@keys.example/jwks.json".into()),
        claim_aud: vec!["app".into()],
        claim_iss: Some("https://issuer".into()),
        required_access: true,
        ..JwtConfig::default()
    });
    auth_config.shared_secret = Some(secret(false));
    let auth = build(unsecured(auth_config));
    assert_eq!(
        auth.describe(),
        [
            "unsecured (no authentication)",
            "shared secret",
            "JWT (publicKeyUrl https://***@keys.example/jwks.json, claimAud app, claimIss https://issuer)",
            "required: JWT access token",
        ]
    );
    let debug = format!("{auth:?}");
    assert!(!debug.contains(SECRET) && !debug.contains("pw@"), "{debug}");

    let inline = build(secured(jwt_auth(inline("ec-p256.cert.pem"))));
    assert_eq!(inline.describe(), ["JWT (publicKey EC P-256)"]);
}

// ---- Helpers ----

/// Logs in with one JWT ID token.
async fn login(auth: &Authenticator, token: &str) -> Result<Identity, Failure> {
    let credential = Credential::Jwt {
        kind: JwtKind::Id,
        token: token.to_owned(),
    };
    auth.authenticate(&[credential], &NONCE, PEER).await
}

/// Asserts that `token` is rejected with a message containing `expected`.
async fn check_rejected(auth: &Authenticator, token: &str, expected: &str) {
    match login(auth, token).await {
        Err(Failure::CredentialsRejected(message)) => {
            assert!(message.contains(expected), "{message}");
        }
        other => panic!("expected a rejection containing {expected:?}, got {other:?}"),
    }
}

fn build(config: Config) -> Authenticator {
    Authenticator::from_config(&config).unwrap()
}

fn secured(auth: AuthConfig) -> Config {
    Config {
        unsecured_no_authentication: false,
        auth,
        ..Config::for_tests(None, "db".into())
    }
}

fn unsecured(auth: AuthConfig) -> Config {
    Config {
        unsecured_no_authentication: true,
        ..secured(auth)
    }
}

fn secret(required: bool) -> SharedSecret {
    SharedSecret {
        value: SECRET.into(),
        required,
    }
}

fn jwt_auth(jwt: JwtConfig) -> AuthConfig {
    AuthConfig {
        jwt: Some(jwt),
        ..AuthConfig::default()
    }
}

fn inline(file: &str) -> JwtConfig {
    JwtConfig {
        public_key: Some(fixture(file)),
        ..JwtConfig::default()
    }
}

fn url(url: &str) -> JwtConfig {
    JwtConfig {
        public_key_url: Some(url.to_owned()),
        ..JwtConfig::default()
    }
}

fn identity(method: Method, claims: Option<serde_json::Value>) -> Identity {
    Identity {
        method,
        claims,
        can_write: true,
        user: None,
    }
}

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/auth/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Claims valid for an hour, with `overrides` merged in (`null` removes a claim).
fn claims(overrides: serde_json::Value) -> serde_json::Value {
    let now = get_current_timestamp();
    let mut claims = json!({"sub": "user-1", "iat": now, "exp": now + 3600});
    for (k, v) in overrides.as_object().unwrap() {
        if v.is_null() {
            claims.as_object_mut().unwrap().remove(k);
        } else {
            claims[k] = v.clone();
        }
    }
    claims
}

fn header(alg: Algorithm, kid: Option<&str>) -> Header {
    Header {
        kid: kid.map(str::to_owned),
        ..Header::new(alg)
    }
}

/// Signs `claims` with the private key in the fixture `key_file`.
fn sign(alg: Algorithm, key_file: &str, kid: Option<&str>, claims: serde_json::Value) -> String {
    encode(&header(alg, kid), &claims, &encoding_key(alg, key_file)).unwrap()
}

fn encoding_key(alg: Algorithm, key_file: &str) -> EncodingKey {
    let pem = fixture(key_file);
    match alg {
        Algorithm::ES256 | Algorithm::ES384 => EncodingKey::from_ec_pem(pem.as_bytes()).unwrap(),
        _ => EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
    }
}

/// The public JWK (n/e or x/y) of the private key in `key_file`, published under `kid`.
fn jwk(alg: Algorithm, key_file: &str, kid: &str) -> serde_json::Value {
    let mut jwk = Jwk::from_encoding_key(&encoding_key(alg, key_file), alg).unwrap();
    jwk.common.key_id = Some(kid.to_owned());
    serde_json::to_value(jwk).unwrap()
}

/// The base64 DER of the fixture certificate `{name}.cert.pem`, as in a JWK's `x5c`.
fn certificate_base64(name: &str) -> String {
    fixture(&format!("{name}.cert.pem"))
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect()
}

/// `token` with one claim changed and the original signature.
fn tamper(token: &str) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    let forged = sign(
        Algorithm::RS256,
        "rsa-b.key.pem",
        None,
        claims(json!({"sub": "admin"})),
    );
    let forged_payload = forged.split('.').nth(1).unwrap();
    format!("{}.{}.{}", parts[0], forged_payload, parts[2])
}

/// An HTTP server on 127.0.0.1 serving one document at `/keys` and counting requests.
struct KeyServer {
    url: String,
    body: Arc<Mutex<String>>,
    hits: Arc<AtomicUsize>,
}

impl KeyServer {
    async fn start(body: String) -> KeyServer {
        let body = Arc::new(Mutex::new(body));
        let hits = Arc::new(AtomicUsize::new(0));
        let app = axum::Router::new().route(
            "/keys",
            axum::routing::get({
                let (body, hits) = (Arc::clone(&body), Arc::clone(&hits));
                move || async move {
                    hits.fetch_add(1, Ordering::SeqCst);
                    body.lock().unwrap().clone()
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/keys", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        KeyServer { url, body, hits }
    }

    /// Serves `body` from now on.
    fn serve(&self, body: String) {
        *self.body.lock().unwrap() = body;
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}
