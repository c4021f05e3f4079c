//! Small building blocks every page uses: loading and error states, page headers, downloads.

use leptos::prelude::*;
use wasm_bindgen::JsCast;

use crate::api::ApiError;

/// The state of a page (or part of one) while its data loads.
#[component]
pub fn Loading(#[prop(optional, into)] what: Option<String>) -> impl IntoView {
    let text = match what {
        Some(what) => format!("Loading {what}…"),
        None => "Loading…".to_owned(),
    };
    view! { <div class="loading" role="status"><span class="spinner"></span>{text}</div> }
}

/// An API error in words.
#[component]
pub fn ErrorBox(error: ApiError) -> impl IntoView {
    view! {
        <div class="error" role="alert">
            <strong>"Error: "</strong>
            {error.to_string()}
        </div>
    }
}

/// The title row of a page, with optional actions on the right.
#[component]
pub fn PageHeader(
    #[prop(into)] title: String,
    #[prop(optional)] children: Option<Children>,
) -> impl IntoView {
    view! {
        <header class="page-header">
            <h1>{title}</h1>
            <div class="actions">{children.map(|c| c())}</div>
        </header>
    }
}

/// Renders a loaded result: the view of the value, or the error.
pub fn show_result<T, V: IntoView + 'static>(
    result: Option<Result<T, ApiError>>,
    view: impl FnOnce(T) -> V,
) -> AnyView {
    match result {
        None => view! { <Loading/> }.into_any(),
        Some(Ok(value)) => view(value).into_any(),
        Some(Err(error)) => view! { <ErrorBox error/> }.into_any(),
    }
}

/// Saves `content` as a file through the browser's download.
pub fn download(filename: &str, content: &str, mime: &str) {
    let parts = js_sys::Array::of1(&wasm_bindgen::JsValue::from_str(content));
    let options = web_sys::BlobPropertyBag::new();
    options.set_type(mime);
    let Ok(blob) = web_sys::Blob::new_with_str_sequence_and_options(&parts, &options) else {
        return;
    };
    let Ok(url) = web_sys::Url::create_object_url_with_blob(&blob) else {
        return;
    };
    let document = document();
    if let Ok(element) = document.create_element("a")
        && let Ok(anchor) = element.dyn_into::<web_sys::HtmlAnchorElement>()
    {
        anchor.set_href(&url);
        anchor.set_download(filename);
        anchor.click();
    }
    let _ = web_sys::Url::revoke_object_url(&url);
}

/// Starts a download of a URL the server answers with an attachment (large exports stream
/// straight to disk instead of through the app's memory).
pub fn download_url(url: &str, filename: &str) {
    let document = document();
    if let Ok(element) = document.create_element("a")
        && let Ok(anchor) = element.dyn_into::<web_sys::HtmlAnchorElement>()
    {
        anchor.set_href(url);
        anchor.set_download(filename);
        anchor.click();
    }
}
