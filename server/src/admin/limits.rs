//! Request body limits of the admin API, and the one place where an oversized body becomes
//! `413 payload_too_large` naming the limit.
//!
//! Bodies are read only by the handlers' extractors, within axum's `DefaultBodyLimit` (this
//! module's general limit, and [`super::schema::MAX_MODEL_BYTES`] on the schema routes), so no
//! more than the limit is ever buffered. A declared `Content-Length` over the limit is refused
//! before routing and authentication; a chunked body over it fails in its extractor, and
//! [`enforce`] turns that rejection (413 in whatever shape) into the JSON error.
//!
//! Bodies within the general limit are read here, before the handler, with the handshake
//! timeout: a client that sends its body slowly or never (slowloris) gets 408 instead of holding
//! a connection and a task for ever. Schema uploads are read by their handler after the login
//! check, so an anonymous client cannot make the server buffer 16 MiB.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{AdminState, ApiError};

/// The largest request body of every admin route except schema uploads: the API's JSON bodies
/// (logins, users, settings) are a few hundred bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Middleware: refuses bodies whose declared length is over the route's limit, and gives every
/// 413 the JSON error body.
pub async fn enforce(State(state): State<AdminState>, request: Request, next: Next) -> Response {
    let limit = limit_for(request.uri().path());
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return too_large(limit).into_response();
    }
    let chunked = request.headers().contains_key(header::TRANSFER_ENCODING);
    let request = if limit == MAX_BODY_BYTES && (declared.is_some_and(|n| n > 0) || chunked) {
        let timeout = state.config.limits.handshake_timeout;
        let (parts, body) = request.into_parts();
        match tokio::time::timeout(timeout, axum::body::to_bytes(body, limit)).await {
            Ok(Ok(bytes)) => Request::from_parts(parts, Body::from(bytes)),
            Ok(Err(e)) if is_length_limit(&e) => {
                return too_large(limit).into_response();
            }
            Ok(Err(e)) => {
                return ApiError::invalid(format!("cannot read the request body: {e}"))
                    .into_response();
            }
            Err(_) => {
                return ApiError::new(
                    StatusCode::REQUEST_TIMEOUT,
                    "request_timeout",
                    format!(
                        "the request body did not arrive within {} s",
                        timeout.as_secs_f64()
                    ),
                )
                .into_response();
            }
        }
    } else {
        request
    };
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

/// Whether reading a body failed because it was longer than the limit.
fn is_length_limit(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(error) = source {
        if error.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = error.source();
    }
    false
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("the request body is larger than this route accepts ({limit} bytes)"),
    )
}
