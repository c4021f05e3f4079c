//! Status: system and info (`GET /api/status`), object counts per entity counted on request
//! (`GET /api/status/counts`), and the run-time log level (`GET`/`PUT /api/log-level`).

use gloo_net::http::Method;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::A;
use shared_types::admin::status::{EntityCounts, LogLevelBody, NetworkInterface, Status};

use crate::api::{self, ApiError};
use crate::components::{ErrorBox, Loading, PageHeader};
use crate::format;

/// The log levels the server accepts, most verbose first, with what each shows.
pub const LOG_LEVELS: [(&str, &str); 8] = [
    ("all", "everything"),
    ("trace", "trace and above"),
    ("verbose", "verbose and above"),
    (
        "debug",
        "debug and above: client connects, messages, transactions",
    ),
    (
        "info",
        "info and above (the default): start-up, schema changes, logins",
    ),
    ("warn", "warnings and errors"),
    ("error", "errors only"),
    ("none", "nothing"),
];

/// Levels at which the "Debug logging" switch shows as on.
const DEBUG_OR_MORE: [&str; 4] = ["all", "trace", "verbose", "debug"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tab {
    System,
    Counts,
}

#[component]
pub fn StatusPage() -> impl IntoView {
    let tab = RwSignal::new(Tab::System);
    let status = LocalResource::new(|| api::get::<Status>("/api/status"));
    view! {
        <PageHeader title="Status">
            <button class="secondary" data-test="refresh-status" on:click=move |_| status.refetch()>
                "Refresh"
            </button>
        </PageHeader>
        <div class="tabs" role="tablist">
            <button class:active=move || tab.get() == Tab::System on:click=move |_| tab.set(Tab::System)>
                "System and info"
            </button>
            <button
                class:active=move || tab.get() == Tab::Counts
                data-test="tab-counts"
                on:click=move |_| tab.set(Tab::Counts)
            >
                "Counts"
            </button>
        </div>
        {move || match tab.get() {
            Tab::System => view! {
                <LogLevelPanel on_change=move || status.refetch()/>
                {move || match status.get() {
                    None => view! { <Loading what="status"/> }.into_any(),
                    Some(Err(error)) => view! { <ErrorBox error/> }.into_any(),
                    Some(Ok(s)) => view! { <SystemInfo status=s/> }.into_any(),
                }}
            }
            .into_any(),
            Tab::Counts => view! { <Counts/> }.into_any(),
        }}
    }
}

/// The facts of `GET /api/status` in panels.
#[component]
fn SystemInfo(status: Status) -> impl IntoView {
    let unknown = || "unknown on this platform".to_owned();
    let db = &status.database;
    let used = if db.max_size_bytes > 0 {
        (db.size_bytes as f64 / db.max_size_bytes as f64 * 100.0).min(100.0)
    } else {
        0.0
    };
    let load = status
        .host
        .load_average
        .map(|[a, b, c]| format!("{a:.2} · {b:.2} · {c:.2}"))
        .unwrap_or_else(unknown);
    view! {
        <div class="grid-cards status-cards" data-test="status-info">
            <section class="panel">
                <h2 class="panel-title">"General"</h2>
                <dl class="facts">
                    <dt>"Version"</dt>
                    <dd data-test="server-version">{status.version.clone()}</dd>
                    <dt>"Uptime"</dt>
                    <dd>{format::duration_s(status.uptime_seconds)}</dd>
                    <dt>"Schema version"</dt>
                    <dd>
                        <A href="/schema/versions">{status.schema_version.to_string()}</A>
                    </dd>
                    <dt>"Connected clients"</dt>
                    <dd data-test="status-clients">{format::count(status.connected_clients)}</dd>
                    <dt>"Dataset"</dt>
                    <dd class="mono">{status.dataset.id.clone()}</dd>
                    <dt>"Dataset created"</dt>
                    <dd>{format::time_ms(status.dataset.created_ms)}</dd>
                </dl>
            </section>
            <section class="panel">
                <h2 class="panel-title">"Process and host"</h2>
                <dl class="facts">
                    <dt>"Process memory (RSS)"</dt>
                    <dd>{status.process_rss_bytes.map(format::bytes).unwrap_or_else(unknown)}</dd>
                    <dt>"Host name"</dt>
                    <dd>{status.host.name.clone().unwrap_or_else(unknown)}</dd>
                    <dt>"CPUs"</dt>
                    <dd>{status.host.cpu_count}</dd>
                    <dt>"Load (1, 5, 15 min)"</dt>
                    <dd>{load}</dd>
                    <dt>"Available memory"</dt>
                    <dd>
                        {status.host.available_memory_bytes.map(format::bytes).unwrap_or_else(unknown)}
                    </dd>
                </dl>
            </section>
            <section class="panel">
                <h2 class="panel-title">"Database"</h2>
                <dl class="facts">
                    <dt>"Directory"</dt>
                    <dd class="mono">{db.directory.clone()}</dd>
                    <dt>"Size"</dt>
                    <dd data-test="db-size">{format::bytes(db.size_bytes)}</dd>
                    <dt>"Maximum size"</dt>
                    <dd>
                        {format::bytes(db.max_size_bytes)} " "
                        <span class="muted">{format!("({used:.1} % used)")}</span>
                        <div class="meter" title=format!("{used:.1} % of the maximum size")>
                            <span style:width=format!("{used:.1}%")></span>
                        </div>
                    </dd>
                    <dt>"Free disk"</dt>
                    <dd>{db.free_disk_bytes.map(format::bytes).unwrap_or_else(unknown)}</dd>
                </dl>
            </section>
        </div>
        <section class="panel">
            <h2 class="panel-title">"Network"</h2>
            <dl class="facts">
                <dt>"Sync listens on"</dt>
                <dd class="mono">{status.sync_listen.clone()}</dd>
                <dt>"Admin listens on"</dt>
                <dd class="mono">{status.admin_listen.clone().unwrap_or_else(|| "off".to_owned())}</dd>
            </dl>
            <Interfaces interfaces=status.interfaces/>
        </section>
    }
}

/// Every interface address with the URLs the server answers on there; addresses the server
/// does not listen on are listed after them.
#[component]
fn Interfaces(interfaces: Vec<NetworkInterface>) -> impl IntoView {
    let mut rows: Vec<_> = interfaces
        .into_iter()
        .flat_map(|i| {
            let name = i.name;
            i.addresses.into_iter().map(move |a| (name.clone(), a))
        })
        .collect();
    rows.sort_by_key(|(_, a)| a.sync_url.is_none() && a.admin_url.is_none());
    if rows.is_empty() {
        return view! { <p class="empty">"No network interfaces reported."</p> }.into_any();
    }
    let url = |u: Option<String>| match u {
        Some(u) => view! { <span class="mono">{u}</span> }.into_any(),
        None => view! { <span class="muted">"—"</span> }.into_any(),
    };
    view! {
        <h3>"Network interfaces"</h3>
        <div class="table-wrap">
            <table data-test="interfaces">
                <thead>
                    <tr>
                        <th>"Interface"</th>
                        <th>"Address"</th>
                        <th>"Sync URL"</th>
                        <th>"Admin URL"</th>
                    </tr>
                </thead>
                <tbody>
                    {rows
                        .into_iter()
                        .map(|(name, a)| {
                            view! {
                                <tr>
                                    <td>{name}</td>
                                    <td class="mono">{a.ip}</td>
                                    <td>{url(a.sync_url)}</td>
                                    <td>{url(a.admin_url)}</td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

/// The log level now and the switch to change it; `on_change` runs after a change.
#[component]
fn LogLevelPanel(on_change: impl Fn() + Copy + Send + Sync + 'static) -> impl IntoView {
    let current = RwSignal::new(None::<String>);
    let error = RwSignal::new(None::<ApiError>);
    let notice = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    spawn_local(async move {
        match api::get::<LogLevelBody>("/api/log-level").await {
            Ok(body) => current.set(Some(body.level)),
            Err(e) => error.set(Some(e)),
        }
    });

    let set_level = move |level: String| {
        busy.set(true);
        error.set(None);
        notice.set(None);
        spawn_local(async move {
            let body = LogLevelBody { level };
            match api::send::<_, LogLevelBody>(Method::PUT, "/api/log-level", &body).await {
                Ok(body) => {
                    notice.set(Some(format!(
                        "The server now logs at level {} (effective at once; the log goes to the server's standard output).",
                        body.level
                    )));
                    current.set(Some(body.level));
                    on_change();
                }
                Err(e) => error.set(Some(e)),
            }
            busy.set(false);
        });
    };
    let debug_on =
        move || current.with(|c| c.as_deref().is_some_and(|c| DEBUG_OR_MORE.contains(&c)));
    let describe = move || {
        current.with(|c| {
            let c = c.as_deref()?;
            LOG_LEVELS
                .iter()
                .find(|(name, _)| *name == c)
                .map(|(_, what)| *what)
        })
    };

    view! {
        <section class="panel" data-test="log-level-panel">
            <h2 class="panel-title">"Logging"</h2>
            {move || match current.get() {
                None if error.with(Option::is_none) => view! { <Loading what="the log level"/> }.into_any(),
                None => ().into_any(),
                Some(level) => view! {
                    <div class="row">
                        <span>"Current level:"</span>
                        <span class="badge accent" data-test="current-log-level">{level.clone()}</span>
                        <span class="muted">{describe}</span>
                    </div>
                    <div class="row log-controls">
                        <label class="inline">
                            <input
                                type="checkbox"
                                data-test="debug-logging"
                                disabled=move || busy.get()
                                prop:checked=debug_on
                                on:change=move |ev| {
                                    let on = event_target_checked(&ev);
                                    set_level(if on { "debug" } else { "info" }.to_owned());
                                }
                            />
                            "Debug logging"
                        </label>
                        <label class="inline">
                            "Log level"
                            <select
                                data-test="log-level"
                                disabled=move || busy.get()
                                prop:value=move || current.get().unwrap_or_default()
                                on:change=move |ev| set_level(event_target_value(&ev))
                            >
                                {LOG_LEVELS
                                    .iter()
                                    .map(|(name, _)| {
                                        let name = *name;
                                        view! {
                                            <option
                                                value=name
                                                prop:selected=move || current.with(|c| c.as_deref() == Some(name))
                                            >
                                                {name}
                                            </option>
                                        }
                                    })
                                    .collect_view()}
                            </select>
                        </label>
                    </div>
                }
                .into_any(),
            }}
            {move || notice.get().map(|n| view! { <div class="notice" data-test="log-level-notice">{n}</div> })}
            {move || error.get().map(|error| view! { <ErrorBox error/> })}
        </section>
    }
}

/// Objects per entity, counted only when asked (it reads every object key).
#[component]
fn Counts() -> impl IntoView {
    let counts = RwSignal::new(None::<Result<EntityCounts, ApiError>>);
    let busy = RwSignal::new(false);
    let counted_at = RwSignal::new(None::<u64>);
    let count = move |_| {
        busy.set(true);
        spawn_local(async move {
            let result = api::get::<EntityCounts>("/api/status/counts").await;
            counts.set(Some(result));
            counted_at.set(Some(js_sys::Date::now() as u64));
            busy.set(false);
        });
    };
    view! {
        <section class="panel">
            <div class="row">
                <button data-test="count-objects" disabled=move || busy.get() on:click=count>
                    {move || if counts.with(Option::is_some) { "Count again" } else { "Count objects" }}
                </button>
                <span class="hint">
                    "Counting reads every object of the current schema, so it runs only on request."
                </span>
            </div>
        </section>
        {move || busy.get().then(|| view! { <Loading what="object counts"/> })}
        {move || match counts.get() {
            None => ().into_any(),
            Some(Err(error)) => view! { <ErrorBox error/> }.into_any(),
            Some(Ok(c)) => view! {
                <p class="hint">
                    {counted_at.get().map(|t| format!("Counted {}.", format::time_ms(t)))}
                </p>
                <CountsTable counts=c/>
            }
            .into_any(),
        }}
    }
}

#[component]
fn CountsTable(counts: EntityCounts) -> impl IntoView {
    if counts.entities.is_empty() {
        return view! { <p class="empty">"The current schema has no entities."</p> }.into_any();
    }
    view! {
        <div class="table-wrap">
            <table data-test="entity-counts">
                <thead>
                    <tr>
                        <th>"Entity"</th>
                        <th class="num">"ID"</th>
                        <th class="num">"UID"</th>
                        <th class="num">"Objects"</th>
                    </tr>
                </thead>
                <tbody>
                    {counts
                        .entities
                        .into_iter()
                        .map(|e| {
                            let href = format!("/data/{}", api::segment(&e.name));
                            view! {
                                <tr>
                                    <td><A href=href>{e.name}</A></td>
                                    <td class="num">{e.id}</td>
                                    <td class="num mono">{e.uid}</td>
                                    <td class="num">{format::count(e.count)}</td>
                                </tr>
                            }
                        })
                        .collect_view()}
                    <tr class="sum">
                        <td>"Total"</td>
                        <td></td>
                        <td></td>
                        <td class="num" data-test="total-count">{format::count(counts.total)}</td>
                    </tr>
                </tbody>
            </table>
        </div>
    }
    .into_any()
}
