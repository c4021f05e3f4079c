//! Schema versions: the stored versions (view or download a model, allow or refuse its clients,
//! make it current), the upload of a new version, and the client schemas seen at login.
//!
//! A switch stores the new current version; the running server keeps its model until its next
//! start, which the server's answer says and the table shows (current and running marked apart).

mod upload;

use gloo_net::http::Method;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::A;
use serde_json::Value as Json;
use shared_types::admin::schema::{
    AcceptClients, ClientSchemaList, SchemaVersion, SchemaVersionList, SwitchResult, SwitchVersion,
};

use crate::api::{self, ApiError, ApiResult};
use crate::components::{ErrorBox, Loading, PageHeader, download_url, show_result};
use crate::format;
use upload::UploadPanel;

/// Hash characters shown in the tables; the whole hash is in the tooltip and the version dialog.
const SHORT_HASH: usize = 8;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Tab {
    Versions,
    Clients,
}

#[component]
pub fn VersionsPage() -> impl IntoView {
    let tab = RwSignal::new(Tab::Versions);
    let versions = LocalResource::new(|| api::get::<SchemaVersionList>("/api/schema/versions"));
    view! {
        <PageHeader title="Schema versions">
            <A href="/schema" attr:class="button secondary">
                "Current model"
            </A>
        </PageHeader>
        <div class="tabs" role="tablist">
            <button
                role="tab"
                data-test="tab-versions"
                class:active=move || tab.get() == Tab::Versions
                on:click=move |_| tab.set(Tab::Versions)
            >
                "Schema versions"
            </button>
            <button
                role="tab"
                data-test="tab-clients"
                class:active=move || tab.get() == Tab::Clients
                on:click=move |_| tab.set(Tab::Clients)
            >
                "Client schemas"
            </button>
        </div>
        {move || match tab.get() {
            Tab::Versions => view! { <VersionsTab versions/> }.into_any(),
            Tab::Clients => view! { <ClientsTab versions/> }.into_any(),
        }}
    }
}

/// A model JSON loading for the version dialog.
#[derive(Clone)]
struct Viewing {
    version: SchemaVersion,
    json: Option<ApiResult<String>>,
}

#[component]
fn VersionsTab(versions: LocalResource<ApiResult<SchemaVersionList>>) -> impl IntoView {
    let uploading = RwSignal::new(false);
    let notice = RwSignal::new(None::<String>);
    let error = RwSignal::new(None::<ApiError>);
    let viewing = RwSignal::new(None::<Viewing>);
    let confirm = RwSignal::new(None::<(u64, u64)>);
    // Escape closes whichever dialog is open.
    let handle = window_event_listener(leptos::ev::keydown, move |ev| {
        if ev.key() == "Escape" {
            viewing.set(None);
            confirm.set(None);
        }
    });
    on_cleanup(move || handle.remove());

    let saved = Callback::new(move |version: SchemaVersion| {
        uploading.set(false);
        error.set(None);
        notice.set(Some(format!(
            "Saved schema version {} ({} entities, {} properties). Clients on it are {}.",
            version.id,
            version.entity_count,
            version.property_count,
            if version.accept_clients {
                "accepted"
            } else {
                "refused"
            }
        )));
        versions.refetch();
    });
    let cancel = Callback::new(move |()| uploading.set(false));
    let actions = Actions {
        versions,
        notice,
        error,
        viewing,
        confirm,
    };

    view! {
        <div class="row toolbar">
            <button
                data-test="new-version"
                on:click=move |_| {
                    notice.set(None);
                    error.set(None);
                    uploading.update(|u| *u = !*u);
                }
            >
                "New version"
            </button>
            <button class="secondary" data-test="refresh" on:click=move |_| versions.refetch()>
                "Refresh"
            </button>
        </div>
        {move || {
            uploading
                .get()
                .then(|| {
                    let current = versions
                        .get_untracked()
                        .and_then(Result::ok)
                        .and_then(|l| l.versions.iter().find(|v| v.current).map(|v| v.id));
                    view! { <UploadPanel current on_saved=saved on_cancel=cancel/> }
                })
        }}
        {move || notice.get().map(|n| view! { <div class="notice" data-test="versions-notice">{n}</div> })}
        {move || error.get().map(|error| view! { <ErrorBox error/> })}
        {move || show_result(versions.get(), move |list| versions_table(list.versions, actions))}
        <VersionDialog viewing/>
        <SwitchDialog confirm actions/>
    }
}

/// What the rows' buttons change, shared by the table and the dialogs.
#[derive(Clone, Copy)]
struct Actions {
    versions: LocalResource<ApiResult<SchemaVersionList>>,
    notice: RwSignal<Option<String>>,
    error: RwSignal<Option<ApiError>>,
    viewing: RwSignal<Option<Viewing>>,
    /// (version to make current, version the server runs on) awaiting confirmation.
    confirm: RwSignal<Option<(u64, u64)>>,
}

impl Actions {
    fn view(self, version: SchemaVersion) {
        let id = version.id;
        self.viewing.set(Some(Viewing {
            version,
            json: None,
        }));
        spawn_local(async move {
            let json = api::get_text(&format!("/api/schema/versions/{id}/model"))
                .await
                .map(|text| pretty(&text));
            self.viewing.update(|v| {
                if let Some(v) = v.as_mut().filter(|v| v.version.id == id) {
                    v.json = Some(json);
                }
            });
        });
    }

    fn set_accept(self, id: u64, accept_clients: bool) {
        self.error.set(None);
        spawn_local(async move {
            let path = format!("/api/schema/versions/{id}/accept-clients");
            match api::send::<_, SchemaVersion>(
                Method::PUT,
                &path,
                &AcceptClients { accept_clients },
            )
            .await
            {
                Ok(_) => self.notice.set(Some(format!(
                    "Clients on schema version {id} are now {}.",
                    if accept_clients {
                        "accepted"
                    } else {
                        "refused"
                    }
                ))),
                Err(e) => self.error.set(Some(e)),
            }
            // Also puts the checkbox back when the change was refused.
            self.versions.refetch();
        });
    }

    fn switch(self, id: u64) {
        self.error.set(None);
        spawn_local(async move {
            match api::send::<_, SwitchResult>(
                Method::PUT,
                "/api/schema/current",
                &SwitchVersion { id },
            )
            .await
            {
                Ok(result) => self.notice.set(Some(sentence(&result.message))),
                Err(e) => self.error.set(Some(e)),
            }
            self.versions.refetch();
        });
    }
}

fn versions_table(mut versions: Vec<SchemaVersion>, actions: Actions) -> AnyView {
    if versions.is_empty() {
        return view! { <p class="empty">"No schema versions are stored."</p> }.into_any();
    }
    // Newest first.
    versions.sort_by_key(|v| std::cmp::Reverse(v.id));
    let running = versions.iter().find(|v| v.running).map(|v| v.id);
    let current = versions.iter().find(|v| v.current).map(|v| v.id);
    let pending = match (current, running) {
        (Some(current), Some(running)) if current != running => Some(view! {
            <div class="notice warn-notice" data-test="restart-pending">
                {format!(
                    "Version {current} is the current version; the server runs on version {running} until its next start."
                )}
            </div>
        }),
        _ => None,
    };
    let rows = versions
        .into_iter()
        .map(|v| version_row(v, running.unwrap_or(0), actions))
        .collect_view();
    view! {
        {pending}
        <div class="table-wrap">
            <table data-test="versions-table">
                <thead>
                    <tr>
                        <th>"ID"</th>
                        <th>"Created"</th>
                        <th>"Clients allowed"</th>
                        <th>"Base hash"</th>
                        <th>"Full hash"</th>
                        <th class="num" title="entities | properties | standalone relations | indexes">
                            "Counts"
                            <span class="col-type">"ent | prop | rel | idx"</span>
                        </th>
                        <th class="num">"Size"</th>
                        <th>"Author"</th>
                        <th>"Actions"</th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
        <p class="hint">
            "Current: the version the server runs on after its next start. Running: the version \
             it runs on now. Clients allowed: whether clients with that schema may log in."
        </p>
    }
    .into_any()
}

fn version_row(v: SchemaVersion, running: u64, actions: Actions) -> impl IntoView {
    let id = v.id;
    let marks = view! {
        {v.current.then(|| view! { <span class="badge accent" data-test="current-mark">"current"</span> })}
        {v.running.then(|| view! { <span class="badge ok" data-test="running-mark">"running"</span> })}
    };
    let counts = format!(
        "{} | {} | {} | {}",
        v.entity_count, v.property_count, v.relation_count, v.index_count
    );
    let file = format!("objectbox-model-v{id}.json");
    let switch = (!v.current).then(|| {
        view! {
            <button
                class="link"
                data-test="make-current"
                on:click=move |_| actions.confirm.set(Some((id, running)))
            >
                "Make current"
            </button>
        }
    });
    let accept = v.accept_clients;
    let version = v.clone();
    view! {
        <tr class:current=v.current data-test="version-row" data-version=id.to_string()>
            <td>
                <span class:strong=v.current>{id}</span>
                " "
                {marks}
            </td>
            <td>{format::time_ms(v.created_ms)}</td>
            <td>
                <input
                    type="checkbox"
                    data-test="accept-clients"
                    aria-label=format!("Accept clients on version {id}")
                    prop:checked=accept
                    on:change=move |ev| actions.set_accept(id, event_target_checked(&ev))
                />
            </td>
            <td class="mono" title=v.base_hash.clone()>{short(&v.base_hash)}</td>
            <td class="mono" title=v.full_hash.clone()>{short(&v.full_hash)}</td>
            <td class="num">{counts}</td>
            <td class="num">{format::bytes(v.size as u64)}</td>
            <td>{v.author}</td>
            <td class="row-actions">
                <button class="link" data-test="view-version" on:click=move |_| actions.view(version.clone())>
                    "View"
                </button>
                <button
                    class="link"
                    data-test="download-version"
                    on:click=move |_| download_url(&format!("/api/schema/versions/{id}/model"), &file)
                >
                    "Download"
                </button>
                {switch}
            </td>
        </tr>
    }
}

/// A version's facts and model JSON.
#[component]
fn VersionDialog(viewing: RwSignal<Option<Viewing>>) -> impl IntoView {
    move || {
        viewing.get().map(|Viewing { version, json }| {
            let id = version.id;
            let body = match json {
                None => view! { <Loading what="the model"/> }.into_any(),
                Some(Ok(text)) => view! { <pre data-test="version-json">{text}</pre> }.into_any(),
                Some(Err(error)) => view! { <ErrorBox error/> }.into_any(),
            };
            view! {
                <div class="dialog-backdrop" on:click=move |_| viewing.set(None)>
                    <div
                        class="dialog"
                        role="dialog"
                        aria-modal="true"
                        data-test="version-dialog"
                        on:click=|ev| ev.stop_propagation()
                    >
                        <div class="dialog-head">
                            <h2>{format!("Schema version {id}")}</h2>
                            <button
                                class="secondary"
                                on:click=move |_| {
                                    download_url(
                                        &format!("/api/schema/versions/{id}/model"),
                                        &format!("objectbox-model-v{id}.json"),
                                    );
                                }
                            >
                                "Download"
                            </button>
                            <button class="secondary" on:click=move |_| viewing.set(None)>
                                "Close"
                            </button>
                        </div>
                        <dl class="facts">
                            <dt>"Created"</dt>
                            <dd>{format!("{} by {}", format::time_ms(version.created_ms), version.author)}</dd>
                            <dt>"Base hash"</dt>
                            <dd class="mono">{version.base_hash}</dd>
                            <dt>"Full hash"</dt>
                            <dd class="mono">{version.full_hash}</dd>
                            <dt>"Contents"</dt>
                            <dd>
                                {format!(
                                    "{} entities, {} properties, {} standalone relations, {} indexes; {}",
                                    version.entity_count,
                                    version.property_count,
                                    version.relation_count,
                                    version.index_count,
                                    format::bytes(version.size as u64)
                                )}
                            </dd>
                        </dl>
                        {body}
                    </div>
                </div>
            }
        })
    }
}

/// Asks before making a version current, saying when it takes effect.
#[component]
fn SwitchDialog(confirm: RwSignal<Option<(u64, u64)>>, actions: Actions) -> impl IntoView {
    move || {
        confirm.get().map(|(id, running)| {
            let effect = if id == running {
                "The server already runs on this version, so it applies at once.".to_owned()
            } else {
                format!(
                    "The server keeps running on version {running} until it is restarted; \
                     version {id} applies from its next start."
                )
            };
            view! {
                <div class="dialog-backdrop" on:click=move |_| confirm.set(None)>
                    <div
                        class="dialog"
                        role="dialog"
                        aria-modal="true"
                        data-test="switch-dialog"
                        on:click=|ev| ev.stop_propagation()
                    >
                        <h2>{format!("Make version {id} current?")}</h2>
                        <p>{effect}</p>
                        <div class="row">
                            <button
                                data-test="confirm-switch"
                                on:click=move |_| {
                                    confirm.set(None);
                                    actions.switch(id);
                                }
                            >
                                "Make current"
                            </button>
                            <button class="secondary" on:click=move |_| confirm.set(None)>
                                "Cancel"
                            </button>
                        </div>
                    </div>
                </div>
            }
        })
    }
}

#[component]
fn ClientsTab(versions: LocalResource<ApiResult<SchemaVersionList>>) -> impl IntoView {
    let clients = LocalResource::new(|| api::get::<ClientSchemaList>("/api/schema/clients"));
    view! {
        <p class="hint">
            "The schemas clients sent at login, matched to the stored versions by full hash, \
             then by base hash (\"data equal\")."
        </p>
        {move || {
            let known = versions.get().and_then(Result::ok).map(|l| l.versions).unwrap_or_default();
            show_result(clients.get(), move |list| clients_table(list, &known))
        }}
    }
}

fn clients_table(list: ClientSchemaList, versions: &[SchemaVersion]) -> AnyView {
    if list.clients.is_empty() {
        return view! { <p class="empty" data-test="no-clients">"No client has logged in yet."</p> }
            .into_any();
    }
    let rows = list
        .clients
        .into_iter()
        .map(|c| {
            let matched = if let Some(v) = versions.iter().find(|v| v.full_hash == c.full_hash) {
                view! { <span class="badge ok">{format!("version {}", v.id)}</span> }.into_any()
            } else if let Some(v) = versions.iter().find(|v| v.base_hash == c.base_hash) {
                view! { <span class="badge">{format!("data equal to version {}", v.id)}</span> }
                    .into_any()
            } else {
                view! { <span class="badge warn">"unknown"</span> }.into_any()
            };
            view! {
                <tr data-test="client-schema-row">
                    <td>{matched}</td>
                    <td class="mono" title=c.base_hash.clone()>{short(&c.base_hash)}</td>
                    <td class="mono" title=c.full_hash.clone()>{short(&c.full_hash)}</td>
                    <td class="num">{format::count(c.login_count)}</td>
                    <td>{format::time_ms(c.last_login_ms)}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <div class="table-wrap">
            <table data-test="client-schemas-table">
                <thead>
                    <tr>
                        <th>"Schema"</th>
                        <th>"Base hash"</th>
                        <th>"Full hash"</th>
                        <th class="num">"Logins"</th>
                        <th>"Last login"</th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
    }
    .into_any()
}

fn short(hash: &str) -> String {
    hash.chars().take(SHORT_HASH).collect()
}

/// Model JSON indented for reading; text that does not parse is shown as it is.
fn pretty(text: &str) -> String {
    serde_json::from_str::<Json>(text)
        .ok()
        .and_then(|json| serde_json::to_string_pretty(&json).ok())
        .unwrap_or_else(|| text.to_owned())
}

/// The server's message as a sentence: capitalised, with a full stop.
fn sentence(message: &str) -> String {
    let mut chars = message.chars();
    let mut out: String = chars
        .next()
        .map(|c| c.to_uppercase().collect())
        .unwrap_or_default();
    out.push_str(chars.as_str());
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}
