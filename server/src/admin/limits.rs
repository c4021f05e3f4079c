//! Request body limits of the admin API, and the one place where an oversized body becomes
//! `413 payload_too_large` naming the limit.
//!
//! Bodies are read only by the handlers' extractors, within axum's `DefaultBodyLimit` (this
//! module's general limit, and [`super::schema::MAX_MODEL_BYTES`] on the schema routes), so no
//! more than the limit is ever buffered. A declared `Content-Length` over the limit is refused
//! before routing and authentication; a chunked body over it fails in its extractor, and
//! [`enforce`] turns that rejection (413 in whatever shape) into the JSON error.

use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::ApiError;

/// The largest request body of every admin route except schema uploads: the API's JSON bodies
/// (logins, users, settings) are a few hundred bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Middleware: refuses bodies whose declared length is over the route's limit, and gives every
/// 413 the JSON error body.
pub async fn enforce(request: Request, next: Next) -> Response {
    let limit = limit_for(request.uri().path());
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return too_large(limit).into_response();
    }
    let response = next.run(request).await;
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return too_large(limit).into_response();
    }
    response
}

/// The body limit of a route: the schema routes (model uploads) have their own.
pub fn limit_for(path: &str) -> usize {
    if path.starts_with("/api/schema") {
        super::schema::MAX_MODEL_BYTES
    } else {
        MAX_BODY_BYTES
    }
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("the request body is larger than this route accepts ({limit} bytes)"),
    )
}
