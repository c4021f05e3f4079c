//! How the data browser shows property values: local dates, relation links, images held in byte
//! vectors, and long strings and vectors shortened with the whole value one click away.

use leptos::ev;
use leptos::prelude::*;
use leptos_router::components::A;
use serde_json::Value as Json;
use shared_types::admin::schema::SchemaProperty;

use crate::api;
use crate::format;

/// Where a value is shown: a table cell, or the object page with more room.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Room {
    Cell,
    Detail,
}

/// A whole value, shown in the value dialog.
#[derive(Clone)]
pub struct Whole {
    pub title: String,
    pub body: WholeBody,
}

#[derive(Clone)]
pub enum WholeBody {
    Text(String),
    /// A `data:` URL of an image.
    Image(String),
}

/// The dialog that shows a [`Whole`] value; closes on its button, a click outside or Escape.
#[component]
pub fn WholeDialog(shown: RwSignal<Option<Whole>>) -> impl IntoView {
    let handle = window_event_listener(ev::keydown, move |ev| {
        if ev.key() == "Escape" {
            shown.set(None);
        }
    });
    on_cleanup(move || handle.remove());
    move || {
        shown.get().map(|whole| {
            let body = match whole.body {
                WholeBody::Text(text) => view! { <pre class="whole-text">{text}</pre> }.into_any(),
                WholeBody::Image(src) => {
                    view! { <img class="whole-image" src=src alt=whole.title.clone()/> }.into_any()
                }
            };
            view! {
                <div class="dialog-backdrop" on:click=move |_| shown.set(None)>
                    <div
                        class="dialog"
                        role="dialog"
                        aria-modal="true"
                        data-test="value-dialog"
                        on:click=|ev| ev.stop_propagation()
                    >
                        <div class="dialog-head">
                            <h2>{whole.title}</h2>
                            <button class="secondary" on:click=move |_| shown.set(None)>
                                "Close"
                            </button>
                        </div>
                        {body}
                    </div>
                </div>
            }
        })
    }
}

/// Renders one property value; `name` titles the dialog with the whole value.
///
/// The property's model type decides the form. Values of properties the model no longer has
/// (`#<id>` keys) come without a property and are shown as plain JSON.
pub fn value_view(
    value: &Json,
    name: &str,
    property: Option<&SchemaProperty>,
    room: Room,
    shown: RwSignal<Option<Whole>>,
) -> AnyView {
    if value.is_null() {
        return view! { <span class="null">"null"</span> }.into_any();
    }
    let ty = property.map_or("", |p| p.type_name.as_str());
    match ty {
        "Date" | "DateNano" => date_view(value),
        "Relation" => relation_view(value, property.and_then(|p| p.relation_target.as_deref())),
        "ByteVector" => match value.as_str() {
            Some(base64) => bytes_view(base64, name, room, shown),
            None => json_view(value, name, room, shown),
        },
        "DateVector" | "DateNanoVector" => match value.as_array() {
            Some(items) => {
                let texts = items.iter().map(|v| date_text(v).0).collect();
                list_view(texts, name, room, shown)
            }
            None => json_view(value, name, room, shown),
        },
        "Flex" => json_view(value, name, room, shown),
        _ => match value {
            Json::String(text) => text_view(text, name, room, shown),
            Json::Array(items) if items.iter().all(|v| !v.is_object() && !v.is_array()) => {
                let texts = items.iter().map(scalar_text).collect();
                list_view(texts, name, room, shown)
            }
            Json::Bool(_) | Json::Number(_) => {
                view! { <span>{value.to_string()}</span> }.into_any()
            }
            _ => json_view(value, name, room, shown),
        },
    }
}

/// The link to an object's page.
pub fn object_href(entity: &str, id: &Json) -> String {
    format!(
        "/data/{}/{}",
        api::segment(entity),
        api::segment(&id_text(id))
    )
}

/// An object id as text: `peer:local` ids are strings, ids of server-made objects numbers.
pub fn id_text(id: &Json) -> String {
    match id {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// How many characters and list items a value shows before it is shortened.
fn limits(room: Room) -> (usize, usize) {
    match room {
        Room::Cell => (48, 6),
        Room::Detail => (600, 40),
    }
}

/// A date value as (local date and time, UTC ISO text for the tooltip).
///
/// The API sends `{"iso", "ms"}` for Date and `{"iso", "ns"}` for DateNano.
fn date_text(value: &Json) -> (String, String) {
    let iso = value
        .get("iso")
        .and_then(Json::as_str)
        .unwrap_or_default()
        .to_owned();
    if let Some(ms) = value
        .get("ms")
        .and_then(Json::as_i64)
        .or_else(|| value.as_i64())
    {
        let frac = ms.rem_euclid(1000);
        let fraction = if frac == 0 {
            String::new()
        } else {
            format!(".{frac:03}")
        };
        return (local_time(ms.div_euclid(1000) * 1000, &fraction), iso);
    }
    if let Some(ns) = value.get("ns").and_then(Json::as_i64) {
        let frac = ns.rem_euclid(1_000_000_000);
        let fraction = if frac == 0 {
            String::new()
        } else {
            format!(".{frac:09}")
        };
        let ms = ns.div_euclid(1_000_000_000) * 1000;
        return (local_time(ms, &fraction), format!("{iso} ({ns} ns)"));
    }
    (value.to_string(), iso)
}

/// Whole seconds (given in ms) as local `YYYY-MM-DD HH:MM:SS`, then `fraction`.
fn local_time(ms: i64, fraction: &str) -> String {
    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms as f64));
    if date.get_time().is_nan() {
        return format!("{ms} ms");
    }
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}{fraction}",
        date.get_full_year(),
        date.get_month() + 1,
        date.get_date(),
        date.get_hours(),
        date.get_minutes(),
        date.get_seconds()
    )
}

fn date_view(value: &Json) -> AnyView {
    let (local, iso) = date_text(value);
    view! { <time class="date" title=iso>{local}</time> }.into_any()
}

fn relation_view(value: &Json, target: Option<&str>) -> AnyView {
    let id = id_text(value);
    match target {
        _ if id == "0" => view! { <span class="null" title="Not set (0)">"none"</span> }.into_any(),
        Some(target) => {
            let href = object_href(target, value);
            view! {
                <A href=href attr:data-test="relation-link" attr:title=format!("{target} {id}")>
                    {format!("→ {id}")}
                </A>
            }
            .into_any()
        }
        None => view! { <span>{id}</span> }.into_any(),
    }
}

/// A string, shortened to the room's length with the whole text in the dialog.
fn text_view(text: &str, name: &str, room: Room, shown: RwSignal<Option<Whole>>) -> AnyView {
    let (max_chars, _) = limits(room);
    let chars = text.chars().count();
    let class = if room == Room::Detail {
        "text wrap-text"
    } else {
        "text"
    };
    if chars <= max_chars {
        return view! { <span class=class>{text.to_owned()}</span> }.into_any();
    }
    let short: String = text.chars().take(max_chars).collect();
    let whole = Whole {
        title: name.to_owned(),
        body: WholeBody::Text(text.to_owned()),
    };
    view! {
        <span class=class>{short}"…"</span>
        " "
        {more_button(format!("{} chars", format::count(chars as u64)), whole, shown)}
    }
    .into_any()
}

/// A vector's first items, with every item in the dialog.
fn list_view(
    items: Vec<String>,
    name: &str,
    room: Room,
    shown: RwSignal<Option<Whole>>,
) -> AnyView {
    let (max_chars, max_items) = limits(room);
    let all = format!("[{}]", items.join(", "));
    if items.len() <= max_items && all.chars().count() <= max_chars {
        return view! { <span class="vector">{all}</span> }.into_any();
    }
    let shown_items = items.len().min(max_items);
    let short = format!("[{}, …]", items[..shown_items].join(", "));
    let whole = Whole {
        title: format!("{name} ({} items)", format::count(items.len() as u64)),
        body: WholeBody::Text(all),
    };
    view! {
        <span class="vector">{shorten(&short, max_chars)}</span>
        " "
        {more_button(format!("{} items", format::count(items.len() as u64)), whole, shown)}
    }
    .into_any()
}

/// Flex values and anything without a better form: compact JSON, pretty in the dialog.
fn json_view(value: &Json, name: &str, room: Room, shown: RwSignal<Option<Whole>>) -> AnyView {
    let compact = value.to_string();
    let (max_chars, _) = limits(room);
    if compact.chars().count() <= max_chars {
        return view! { <code class="json">{compact}</code> }.into_any();
    }
    let pretty = serde_json::to_string_pretty(value).unwrap_or(compact.clone());
    let whole = Whole {
        title: name.to_owned(),
        body: WholeBody::Text(pretty),
    };
    view! {
        <code class="json">{shorten(&compact, max_chars)}</code>
        " "
        {more_button("JSON".to_owned(), whole, shown)}
    }
    .into_any()
}

/// A byte vector (base64 from the API): an image when its first bytes say so, else a hex
/// preview with the whole value in the dialog.
fn bytes_view(base64: &str, name: &str, room: Room, shown: RwSignal<Option<Whole>>) -> AnyView {
    let size = decoded_len(base64);
    // The magic bytes (and an SVG's opening tag) are in the first kilobyte.
    let head_len = base64.len().min(1368) / 4 * 4;
    let head = decode_base64(&base64[..head_len]);
    if let Some(kind) = image_kind(&head) {
        let src = format!("data:{};base64,{base64}", kind.mime());
        let label = format!("{} image, {}", kind.name(), format::bytes(size as u64));
        let whole = Whole {
            title: format!("{name}: {label}"),
            body: WholeBody::Image(src.clone()),
        };
        let caption =
            (room == Room::Detail).then(|| view! { <div class="hint">{label.clone()}</div> });
        let title = label.clone();
        return view! {
            <button
                class="link image-button"
                title=title
                on:click=move |_| shown.set(Some(whole.clone()))
            >
                <img class="value-image" src=src alt=label data-test="value-image"/>
            </button>
            {caption}
        }
        .into_any();
    }
    let preview_bytes = if room == Room::Cell { 8 } else { 32 };
    let preview = hex_bytes(&head[..head.len().min(preview_bytes)]);
    let ellipsis = if size > preview_bytes { " …" } else { "" };
    let whole = Whole {
        title: format!("{name} ({})", format::bytes(size as u64)),
        body: WholeBody::Text(bytes_text(base64, size)),
    };
    view! {
        <code class="bytes">{preview}{ellipsis}</code>
        " "
        {more_button(format!("{} bytes", format::count(size as u64)), whole, shown)}
    }
    .into_any()
}

/// The whole of a byte vector for the dialog: a hex dump (the first [`HEX_DUMP_BYTES`]) and
/// the complete base64 text.
fn bytes_text(base64: &str, size: usize) -> String {
    /// Bytes shown in the hex dump; the base64 below it always holds everything.
    const HEX_DUMP_BYTES: usize = 64 * 1024;
    let bytes = decode_base64(base64);
    let mut out = String::new();
    for (row, chunk) in bytes.chunks(16).take(HEX_DUMP_BYTES / 16).enumerate() {
        out.push_str(&format!("{:08x}  {}\n", row * 16, hex_bytes(chunk)));
    }
    if size > HEX_DUMP_BYTES {
        out.push_str(&format!(
            "… (the first {} of {} shown)\n",
            format::bytes(HEX_DUMP_BYTES as u64),
            format::bytes(size as u64)
        ));
    }
    out.push_str("\nBase64:\n");
    out.push_str(base64);
    out
}

fn more_button(label: String, whole: Whole, shown: RwSignal<Option<Whole>>) -> impl IntoView {
    view! {
        <button
            class="link more"
            data-test="show-whole"
            on:click=move |_| shown.set(Some(whole.clone()))
        >
            {label}
        </button>
    }
}

fn scalar_text(value: &Json) -> String {
    match value {
        Json::Null => "null".to_owned(),
        other => other.to_string(),
    }
}

fn shorten(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        text.to_owned()
    } else {
        let mut short: String = text.chars().take(max_chars).collect();
        short.push('…');
        short
    }
}

fn hex_bytes(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Image formats recognised in byte vectors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ImageKind {
    Png,
    Jpeg,
    Gif,
    Webp,
    Svg,
}

impl ImageKind {
    fn mime(self) -> &'static str {
        match self {
            ImageKind::Png => "image/png",
            ImageKind::Jpeg => "image/jpeg",
            ImageKind::Gif => "image/gif",
            ImageKind::Webp => "image/webp",
            ImageKind::Svg => "image/svg+xml",
        }
    }

    fn name(self) -> &'static str {
        match self {
            ImageKind::Png => "PNG",
            ImageKind::Jpeg => "JPEG",
            ImageKind::Gif => "GIF",
            ImageKind::Webp => "WEBP",
            ImageKind::Svg => "SVG",
        }
    }
}

/// Recognises an image by its first bytes (an SVG by its opening tag).
fn image_kind(head: &[u8]) -> Option<ImageKind> {
    if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Some(ImageKind::Png);
    }
    if head.starts_with(&[0xff, 0xd8, 0xff]) {
        return Some(ImageKind::Jpeg);
    }
    if head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a") {
        return Some(ImageKind::Gif);
    }
    if head.len() >= 12 && head.starts_with(b"RIFF") && &head[8..12] == b"WEBP" {
        return Some(ImageKind::Webp);
    }
    let text = String::from_utf8_lossy(head);
    let text = text.trim_start_matches('\u{feff}').trim_start();
    let prolog =
        text.starts_with("<?xml") || text.starts_with("<!--") || text.starts_with("<!DOCTYPE svg");
    if text.starts_with("<svg") || (prolog && text.contains("<svg")) {
        return Some(ImageKind::Svg);
    }
    None
}

/// The number of bytes standard (padded) base64 text decodes to.
fn decoded_len(base64: &str) -> usize {
    let padding = base64.bytes().rev().take_while(|&b| b == b'=').count();
    (base64.len() / 4 * 3).saturating_sub(padding)
}

/// Decodes standard base64; characters outside the alphabet end the input.
fn decode_base64(text: &str) -> Vec<u8> {
    fn sextet(c: u8) -> Option<u32> {
        match c {
            b'A'..=b'Z' => Some(u32::from(c - b'A')),
            b'a'..=b'z' => Some(u32::from(c - b'a') + 26),
            b'0'..=b'9' => Some(u32::from(c - b'0') + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    }
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let mut acc = 0u32;
    let mut bits = 0;
    for c in text.bytes() {
        let Some(v) = sextet(c) else { break };
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}
