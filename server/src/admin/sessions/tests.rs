use axum::http::{HeaderMap, HeaderValue, Method, header};
use utoipa::OpenApi;

use super::*;

#[test]
fn openapi_documents_every_route_with_its_security() {
    let doc = serde_json::to_value(AuthApi::openapi()).expect("serializable");
    let paths = &doc["paths"];
    for (path, method, secured) in [
        ("/api/login", "post", false),
        ("/api/setup", "get", false),
        ("/api/setup", "post", false),
        ("/api/logout", "post", true),
        ("/api/session", "get", true),
        ("/api/users", "get", true),
        ("/api/users", "post", true),
        ("/api/users/{name}", "delete", true),
        ("/api/users/{name}/password", "put", true),
        ("/api/users/{name}/permissions", "put", true),
    ] {
        let operation = &paths[path][method];
        assert!(operation.is_object(), "{method} {path} missing");
        let security = operation["security"].to_string();
        assert_eq!(
            security.contains("bearer"),
            secured,
            "{method} {path}: {security}"
        );
        if secured {
            assert!(operation["responses"]["401"].is_object(), "{method} {path}");
        }
    }
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["cookie"]["in"], "cookie");
    assert_eq!(schemes["cookie"]["name"], SESSION_COOKIE);
    assert!(doc["components"]["schemas"]["LoginResponse"].is_object());
}

#[test]
fn credentials_are_read_from_bearer_or_cookie() {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::AUTHORIZATION,
        HeaderValue::from_static("bearer abc "),
    );
    assert_eq!(bearer(&headers).as_deref(), Some("abc"));
    headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
    assert_eq!(bearer(&headers), None);

    let mut headers = HeaderMap::new();
    headers.append(
        header::COOKIE,
        HeaderValue::from_static("a=1; sync_sessionx=2"),
    );
    headers.append(
        header::COOKIE,
        HeaderValue::from_static("b=3;sync_session=tok"),
    );
    assert_eq!(cookie(&headers, SESSION_COOKIE).as_deref(), Some("tok"));
    assert_eq!(cookie(&headers, "c"), None);
}

#[test]
fn small_helpers() {
    assert!(constant_time_eq(b"abc", b"abc"));
    assert!(!constant_time_eq(b"abc", b"abd"));
    assert!(!constant_time_eq(b"abc", b"ab"));
    assert!(is_safe(&Method::GET) && is_safe(&Method::HEAD));
    assert!(!is_safe(&Method::POST) && !is_safe(&Method::PATCH) && !is_safe(&Method::DELETE));
    let token = random_hex();
    assert_eq!(token.len(), 2 * TOKEN_BYTES);
    assert_ne!(token, random_hex());
    assert_eq!(user_key("Admin"), user_key("admin"));
    assert_eq!(truncate(&"x".repeat(500)).len(), users::MAX_NAME_LEN);
    let too_many = too_many_attempts(std::time::Duration::from_millis(1500));
    assert_eq!(too_many.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(too_many.headers()[header::RETRY_AFTER], "2");
}

#[test]
fn users_without_admin_reach_only_their_own_things() {
    let user = CurrentUser {
        name: Some("ann".into()),
        permissions: users::Permissions::default(),
        token: None,
        csrf_token: None,
        expires_at_ms: None,
    };
    assert!(open_to_every_user(&Method::POST, "/api/logout", &user));
    assert!(open_to_every_user(&Method::GET, "/api/session", &user));
    assert!(open_to_every_user(
        &Method::PUT,
        "/api/users/ann/password",
        &user
    ));
    assert!(!open_to_every_user(
        &Method::PUT,
        "/api/users/bob/password",
        &user
    ));
    assert!(!open_to_every_user(
        &Method::PUT,
        "/api/users/ann/permissions",
        &user
    ));
    assert!(!open_to_every_user(&Method::GET, "/api/users", &user));
    assert!(!open_to_every_user(&Method::DELETE, "/api/session", &user));
}

#[test]
fn names_and_passwords_are_checked() {
    for ok in ["admin", "a.b_c@d-e", &"x".repeat(users::MAX_NAME_LEN)] {
        assert!(users::check_name(ok).is_ok(), "{ok}");
    }
    for bad in ["", "a b", "a/b", "ä", &"x".repeat(users::MAX_NAME_LEN + 1)] {
        assert!(users::check_name(bad).is_err(), "{bad}");
    }
    assert!(users::check_password("12345678").is_ok());
    let short = users::check_password("1234567").unwrap_err().to_string();
    assert!(
        short.contains("7 characters") && !short.contains("1234567"),
        "{short}"
    );
    assert!(users::check_password(&"x".repeat(users::MAX_PASSWORD_LEN + 1)).is_err());
}
