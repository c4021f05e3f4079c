//! The admin web app: the trunk build (`dist/`) embedded in the binary, served at the admin
//! address for every path outside `/api/`.
//!
//! Release builds carry the files inside the binary, so `sync-server` alone serves the app;
//! debug builds read `dist/` from disk at run time (a `trunk build` shows without a rebuild).
//! The app routes by path, so any path that is not a file (`/data/Task/12`) is answered with
//! `index.html` and status 200. Paths are looked up in the embedded table only (never decoded
//! into file-system paths); `..` segments and backslashes are refused before any lookup.

use axum::body::Body;
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use super::error::ApiError;

#[derive(rust_embed::Embed)]
#[folder = "../dist"]
#[allow_missing = true]
struct Assets;

/// Answers every request no API route took: app files, the app for its own routes, JSON 404s
/// under `/api/`.
pub async fn serve(method: Method, uri: Uri) -> Response {
    let path = uri.path();
    if path == "/api" || path.starts_with("/api/") || path == "/metrics" {
        return ApiError::not_found(format!("no such route: {path}")).into_response();
    }
    if method != Method::GET && method != Method::HEAD {
        return ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!("{method} is not allowed on {path}: the admin app's files are read-only"),
        )
        .into_response();
    }
    let relative = path.trim_start_matches('/');
    if !is_safe(relative) {
        return ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_path",
            format!("the path {path} is not allowed"),
        )
        .into_response();
    }
    if !relative.is_empty()
        && let Some(file) = Assets::get(relative)
    {
        return file_response(relative, file);
    }
    // The last segment looks like a file name (`x.js`, `y.png`): a missing file, not a route.
    let last = relative.rsplit('/').next().unwrap_or_default();
    if last.contains('.') {
        return ApiError::not_found(format!("no such file: {path}")).into_response();
    }
    match Assets::get("index.html") {
        Some(index) => file_response("index.html", index),
        None => not_built(),
    }
}

/// True when the path stays inside the app's folder.
fn is_safe(relative: &str) -> bool {
    !relative.contains('\\')
        && !relative.contains('\0')
        && !relative.starts_with('/')
        && relative
            .split('/')
            .all(|segment| segment != ".." && segment != ".")
}

fn file_response(name: &str, file: rust_embed::EmbeddedFile) -> Response {
    // trunk names the wasm, js and css after their content hash: they never change, so they
    // may be cached for good; index.html must be fetched again to find new ones.
    let cache = if name == "index.html" {
        "no-cache"
    } else {
        "public, max-age=31536000, immutable"
    };
    let mut response = Response::new(Body::from(file.data.into_owned()));
    let headers = response.headers_mut();
    if let Ok(mime) = HeaderValue::from_str(file.metadata.mimetype()) {
        headers.insert(header::CONTENT_TYPE, mime);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// The binary was built before the app: say how to get it; the API works regardless.
fn not_built() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "The admin app is not part of this build. Build it with `trunk build --release` \
         (see the README), then build the server again. The admin API under /api/ works \
         without it.\n",
    )
        .into_response()
}
