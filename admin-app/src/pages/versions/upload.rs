//! The upload of a new schema version: a model file chosen or pasted, its contents and its
//! changes against the current version shown before saving, and the "accept clients" choice.
//!
//! The browser only reads the file to show what it holds; the server validates it exactly as a
//! model file at start-up and says why when it refuses one.

use gloo_net::http::Method;
use leptos::prelude::*;
use leptos::task::spawn_local;
use serde_json::Value as Json;
use shared_types::admin::schema::SchemaVersion;

use crate::api::{self, ApiError};
use crate::components::ErrorBox;

#[component]
pub fn UploadPanel(
    /// The stored current version, which the changes are listed against.
    current: Option<u64>,
    on_saved: Callback<SchemaVersion>,
    on_cancel: Callback<()>,
) -> impl IntoView {
    let text = RwSignal::new(String::new());
    let file_name = RwSignal::new(None::<String>);
    let accept = RwSignal::new(true);
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<ApiError>);
    let base = LocalResource::new(move || async move {
        match current {
            Some(id) => api::get::<Json>(&format!("/api/schema/versions/{id}/model"))
                .await
                .ok(),
            None => None,
        }
    });
    let summary = Memo::new(move |_| text.with(|t| (!t.trim().is_empty()).then(|| summarize(t))));

    let choose = move |ev: leptos::ev::Event| {
        let input: web_sys::HtmlInputElement = event_target(&ev);
        let Some(file) = input.files().and_then(|files| files.get(0)) else {
            return;
        };
        file_name.set(Some(file.name()));
        error.set(None);
        spawn_local(async move {
            match wasm_bindgen_futures::JsFuture::from(file.text()).await {
                Ok(content) => text.set(content.as_string().unwrap_or_default()),
                Err(_) => error.set(Some(local_error("The file could not be read."))),
            }
        });
    };
    let save = move |_| {
        busy.set(true);
        error.set(None);
        let body = text.get_untracked();
        let path = format!(
            "/api/schema/versions?acceptClients={}",
            accept.get_untracked()
        );
        spawn_local(async move {
            match api::send_text::<SchemaVersion>(Method::POST, &path, body).await {
                Ok(version) => on_saved.run(version),
                Err(e) => error.set(Some(e)),
            }
            busy.set(false);
        });
    };

    let preview = move || {
        summary.get().map(|summary| match summary {
            Err(message) => view! { <div class="error" data-test="upload-parse-error">{message}</div> }.into_any(),
            Ok(summary) => {
                let counts = summary.counts();
                let model = summary.model;
                let entities = summary
                    .entities
                    .iter()
                    .map(|(name, properties)| view! { <li><code>{name.clone()}</code>" " <span class="muted">{format!("{properties} properties")}</span></li> })
                    .collect_view();
                let changes = move || {
                    let base = base.get().flatten();
                    let label = current.map_or_else(String::new, |id| format!(" from version {id}"));
                    base.map(|base| {
                        let lines = changes(&base, &model);
                        let items = if lines.is_empty() {
                            view! { <li class="muted">"none (the same entities and properties)"</li> }.into_any()
                        } else {
                            lines.into_iter().map(|l| view! { <li><code>{l}</code></li> }).collect_view().into_any()
                        };
                        view! {
                            <h4>"Changes" {label}</h4>
                            <ul class="links" data-test="upload-changes">{items}</ul>
                        }
                    })
                };
                view! {
                    <div class="notice" data-test="upload-counts">
                        <strong>{counts}</strong>
                    </div>
                    <ul class="links">{entities}</ul>
                    {changes}
                }
                .into_any()
            }
        })
    };
    let can_save = move || !busy.get() && summary.with(|s| matches!(s, Some(Ok(_))));

    view! {
        <section class="panel stack" data-test="upload-panel">
            <h2>"New schema version"</h2>
            <p class="hint">
                "Choose an objectbox-model.json or paste its content. Its contents are shown here \
                 before anything is saved; the server checks it like a model file at start-up."
            </p>
            <label>
                "Model file"
                <input type="file" accept=".json,application/json" data-test="upload-file" on:change=choose/>
            </label>
            {move || file_name.get().map(|name| view! { <span class="hint">"Read " <code>{name}</code></span> })}
            <label>
                "Schema model JSON"
                <textarea
                    rows="8"
                    spellcheck="false"
                    data-test="upload-text"
                    prop:value=move || text.get()
                    on:input=move |ev| text.set(event_target_value(&ev))
                ></textarea>
            </label>
            {preview}
            <label class="inline">
                <input
                    type="checkbox"
                    data-test="upload-accept"
                    prop:checked=move || accept.get()
                    on:change=move |ev| accept.set(event_target_checked(&ev))
                />
                "Enabled: accept connections from clients with this schema"
            </label>
            {move || error.get().map(|error| view! { <ErrorBox error/> })}
            <div class="row">
                <button data-test="upload-save" disabled=move || !can_save() on:click=save>
                    {move || if busy.get() { "Saving…" } else { "Save version" }}
                </button>
                <button class="secondary" on:click=move |_| on_cancel.run(())>
                    "Cancel"
                </button>
            </div>
        </section>
    }
}

/// What a model file holds, read in the browser.
#[derive(Clone, PartialEq)]
struct Summary {
    model: Json,
    /// Entity names with their property counts.
    entities: Vec<(String, usize)>,
    properties: usize,
    relations: usize,
    indexes: usize,
}

impl Summary {
    fn counts(&self) -> String {
        format!(
            "{} entities, {} properties, {} standalone relations, {} indexes",
            self.entities.len(),
            self.properties,
            self.relations,
            self.indexes
        )
    }
}

fn summarize(text: &str) -> Result<Summary, String> {
    let model: Json =
        serde_json::from_str(text).map_err(|e| format!("This is not valid JSON: {e}"))?;
    let entities = model
        .get("entities")
        .and_then(Json::as_array)
        .ok_or("This is not a model file: it has no \"entities\" array.")?;
    let mut summary = Summary {
        model: Json::Null,
        entities: Vec::new(),
        properties: 0,
        relations: 0,
        indexes: 0,
    };
    for entity in entities {
        let properties = list(entity, "properties");
        summary.entities.push((name(entity), properties.len()));
        summary.properties += properties.len();
        summary.relations += list(entity, "relations").len();
        summary.indexes += properties
            .iter()
            .filter(|p| p.get("indexId").is_some())
            .count();
    }
    summary.model = model;
    Ok(summary)
}

/// The entities and properties added, removed, renamed or retyped from `old` to `new`, matched
/// by UID as the server does.
fn changes(old: &Json, new: &Json) -> Vec<String> {
    let old_entities = list(old, "entities");
    let new_entities = list(new, "entities");
    let mut out = Vec::new();
    for entity in new_entities {
        let Some(before) = old_entities.iter().find(|e| uid(e) == uid(entity)) else {
            out.push(format!("+ entity {}", name(entity)));
            continue;
        };
        if name(before) != name(entity) {
            out.push(format!(
                "renamed entity {} → {}",
                name(before),
                name(entity)
            ));
        }
        let (old_props, new_props) = (list(before, "properties"), list(entity, "properties"));
        for p in new_props {
            match old_props.iter().find(|q| uid(q) == uid(p)) {
                None => out.push(format!(
                    "+ property {}.{} ({})",
                    name(entity),
                    name(p),
                    type_name(p)
                )),
                Some(q) => {
                    if name(q) != name(p) {
                        out.push(format!(
                            "renamed property {}.{} → {}",
                            name(entity),
                            name(q),
                            name(p)
                        ));
                    }
                    if type_name(q) != type_name(p) {
                        out.push(format!(
                            "type of {}.{}: {} → {}",
                            name(entity),
                            name(p),
                            type_name(q),
                            type_name(p)
                        ));
                    }
                }
            }
        }
        for q in old_props {
            if !new_props.iter().any(|p| uid(p) == uid(q)) {
                out.push(format!("− property {}.{}", name(entity), name(q)));
            }
        }
    }
    for entity in old_entities {
        if !new_entities.iter().any(|e| uid(e) == uid(entity)) {
            out.push(format!("− entity {}", name(entity)));
        }
    }
    out
}

fn list<'a>(value: &'a Json, key: &str) -> &'a [Json] {
    value
        .get(key)
        .and_then(Json::as_array)
        .map_or(&[], Vec::as_slice)
}

fn name(value: &Json) -> String {
    value
        .get("name")
        .and_then(Json::as_str)
        .unwrap_or("?")
        .to_owned()
}

/// The UID half of an `"id:uid"` text.
fn uid(value: &Json) -> Option<&str> {
    value
        .get("id")
        .and_then(Json::as_str)
        .and_then(|id| id.split_once(':'))
        .map(|(_, uid)| uid)
}

/// A property's type name from its code in the model JSON.
fn type_name(property: &Json) -> String {
    const NAMES: [(u64, &str); 24] = [
        (1, "Bool"),
        (2, "Byte"),
        (3, "Short"),
        (4, "Char"),
        (5, "Int"),
        (6, "Long"),
        (7, "Float"),
        (8, "Double"),
        (9, "String"),
        (10, "Date"),
        (11, "Relation"),
        (12, "DateNano"),
        (13, "Flex"),
        (22, "BoolVector"),
        (23, "ByteVector"),
        (24, "ShortVector"),
        (25, "CharVector"),
        (26, "IntVector"),
        (27, "LongVector"),
        (28, "FloatVector"),
        (29, "DoubleVector"),
        (30, "StringVector"),
        (31, "DateVector"),
        (32, "DateNanoVector"),
    ];
    let code = property.get("type").and_then(Json::as_u64).unwrap_or(0);
    NAMES
        .iter()
        .find(|(c, _)| *c == code)
        .map_or_else(|| format!("type {code}"), |(_, n)| (*n).to_owned())
}

fn local_error(message: &str) -> ApiError {
    ApiError {
        status: 0,
        code: "local".to_owned(),
        message: message.to_owned(),
    }
}
