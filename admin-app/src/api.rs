//! The admin API client: JSON over `fetch` with the session cookie and the CSRF header.
//!
//! Every call returns [`ApiError`] with the server's message on failure. A 401 on any call
//! (the session expired or was ended elsewhere) tells the app, which returns to the login page.

use std::cell::RefCell;
use std::fmt;

use gloo_net::http::{Method, RequestBuilder, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use shared_types::admin::error::ErrorBody;

thread_local! {
    static CSRF_TOKEN: RefCell<Option<String>> = const { RefCell::new(None) };
    static ON_UNAUTHORIZED: RefCell<Option<Box<dyn Fn()>>> = const { RefCell::new(None) };
}

/// Remembers the session's CSRF token, sent as `X-CSRF-Token` on every state-changing call.
pub fn set_csrf_token(token: Option<String>) {
    CSRF_TOKEN.with(|t| *t.borrow_mut() = token);
}

/// Registers what to do when the server answers 401 (the session is gone).
pub fn on_unauthorized(f: impl Fn() + 'static) {
    ON_UNAUTHORIZED.with(|cb| *cb.borrow_mut() = Some(Box::new(f)));
}

/// A failed API call, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status; 0 when the server could not be reached.
    pub status: u16,
    /// The server's stable error code (`unauthorized`, `bad_request`, ...), or `network`.
    pub code: String,
    pub message: String,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.status == 0 {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{} (HTTP {})", self.message, self.status)
        }
    }
}

impl ApiError {
    fn network(err: impl fmt::Display) -> ApiError {
        ApiError {
            status: 0,
            code: "network".to_owned(),
            message: format!("The server could not be reached: {err}"),
        }
    }

    fn decode(err: impl fmt::Display) -> ApiError {
        ApiError {
            status: 0,
            code: "decode".to_owned(),
            message: format!("The server's answer could not be read: {err}"),
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// `GET path`, decoding a JSON body.
pub async fn get<T: DeserializeOwned>(path: &str) -> ApiResult<T> {
    let response = send_raw(Method::GET, path, None).await?;
    response.json::<T>().await.map_err(ApiError::decode)
}

/// `GET path`, returning the body as text (exports, model JSON).
pub async fn get_text(path: &str) -> ApiResult<String> {
    let response = send_raw(Method::GET, path, None).await?;
    response.text().await.map_err(ApiError::decode)
}

/// `method path` with a JSON body, decoding a JSON answer.
pub async fn send<B: Serialize, T: DeserializeOwned>(
    method: Method,
    path: &str,
    body: &B,
) -> ApiResult<T> {
    let json = serde_json::to_string(body).map_err(ApiError::decode)?;
    let response = send_raw(method, path, Some(json)).await?;
    response.json::<T>().await.map_err(ApiError::decode)
}

/// `method path` with a JSON body, ignoring the answer's body.
pub async fn send_no_content<B: Serialize>(method: Method, path: &str, body: &B) -> ApiResult<()> {
    let json = serde_json::to_string(body).map_err(ApiError::decode)?;
    send_raw(method, path, Some(json)).await.map(drop)
}

/// `method path` with a raw text body (for example a model file), decoding a JSON answer.
pub async fn send_text<T: DeserializeOwned>(
    method: Method,
    path: &str,
    body: String,
) -> ApiResult<T> {
    let response = send_raw(method, path, Some(body)).await?;
    response.json::<T>().await.map_err(ApiError::decode)
}

async fn send_raw(method: Method, path: &str, body: Option<String>) -> ApiResult<Response> {
    let changes_state = method != Method::GET && method != Method::HEAD;
    let mut request = RequestBuilder::new(path)
        .method(method)
        .header("Accept", "application/json");
    if changes_state && let Some(token) = CSRF_TOKEN.with(|t| t.borrow().clone()) {
        request = request.header("X-CSRF-Token", &token);
    }
    let response = match body {
        Some(body) => {
            request
                .header("Content-Type", "application/json")
                .body(body)
                .map_err(ApiError::network)?
                .send()
                .await
        }
        None => request.send().await,
    }
    .map_err(ApiError::network)?;
    if response.ok() {
        return Ok(response);
    }
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    let (code, message) = match serde_json::from_str::<ErrorBody>(&text) {
        Ok(body) => (body.error.code, body.error.message),
        Err(_) if text.trim().is_empty() => (
            "http".to_owned(),
            format!("{} {}", status, response.status_text()),
        ),
        Err(_) => ("http".to_owned(), text),
    };
    if status == 401 && path != "/api/login" {
        ON_UNAUTHORIZED.with(|cb| {
            if let Some(cb) = cb.borrow().as_ref() {
                cb();
            }
        });
    }
    Err(ApiError {
        status,
        code,
        message,
    })
}

/// Percent-encodes one path segment (entity and user names).
pub fn segment(s: &str) -> String {
    js_sys::encode_uri_component(s).into()
}
