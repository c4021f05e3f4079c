//! Log events: the events the server stored (start, stop, schema changes, errors, ...), newest
//! first, paged by cursor (`GET /api/events`), and downloaded as JSON (`GET
//! /api/events/export`).

use leptos::prelude::*;
use shared_types::admin::events::{EventPage, EventType, LogEvent};

use crate::api;
use crate::components::{ErrorBox, Loading, PageHeader, download, download_url};
use crate::format;

/// The page sizes offered.
pub const PAGE_SIZES: [u64; 3] = [50, 100, 500];

/// The types offered by the filter, most severe last.
const TYPES: [EventType; 6] = [
    EventType::Debug,
    EventType::Info,
    EventType::Important,
    EventType::Warning,
    EventType::Error,
    EventType::Crash,
];

#[component]
pub fn EventsPage() -> impl IntoView {
    // The `before` cursor of every page visited so far; the last one is shown.
    let cursors = RwSignal::new(vec![None::<String>]);
    let limit = RwSignal::new(100u64);
    let filter = RwSignal::new(None::<EventType>);
    let page = LocalResource::new(move || {
        let before = cursors.with(|c| c.last().cloned().flatten());
        let limit = limit.get();
        async move {
            let mut path = format!("/api/events?limit={limit}");
            if let Some(before) = before {
                path.push_str(&format!("&before={}", api::segment(&before)));
            }
            api::get::<EventPage>(&path).await
        }
    });

    let set_limit = move |ev| {
        if let Ok(n) = event_target_value(&ev).parse::<u64>() {
            cursors.set(vec![None]);
            limit.set(n);
        }
    };
    let set_filter = move |ev| {
        let value = event_target_value(&ev);
        filter.set(TYPES.into_iter().find(|t| type_name(*t) == value));
    };

    view! {
        <PageHeader title="Log events">
            <button class="secondary" data-test="events-refresh" on:click=move |_| page.refetch()>
                "Refresh"
            </button>
            <button
                data-test="events-export"
                on:click=move |_| download_url("/api/events/export", "sync-server-events.json")
            >
                "Download all (JSON)"
            </button>
        </PageHeader>
        <p class="hint">
            "Important events the server keeps across restarts (the newest 10,000): start and stop, schema changes, trial acceptance, errors in handlers."
        </p>
        <div class="row filters">
            <label class="inline">
                "Type"
                <select data-test="events-type" on:change=set_filter>
                    <option value="">"All types"</option>
                    {TYPES
                        .into_iter()
                        .map(|t| view! { <option value=type_name(t)>{type_name(t)}</option> })
                        .collect_view()}
                </select>
            </label>
            <label class="inline">
                "Per page"
                <select on:change=set_limit>
                    {PAGE_SIZES
                        .into_iter()
                        .map(|n| view! { <option value=n selected=n == 100>{n}</option> })
                        .collect_view()}
                </select>
            </label>
        </div>
        {move || match page.get() {
            None => view! { <Loading what="log events"/> }.into_any(),
            Some(Err(error)) => view! { <ErrorBox error/> }.into_any(),
            Some(Ok(p)) => view! { <EventsView page=p cursors filter/> }.into_any(),
        }}
    }
}

#[component]
fn EventsView(
    page: EventPage,
    cursors: RwSignal<Vec<Option<String>>>,
    filter: RwSignal<Option<EventType>>,
) -> impl IntoView {
    let number = cursors.with_untracked(Vec::len);
    let next = page.next_before.clone();
    let json = serde_json::to_string_pretty(&page.events).unwrap_or_default();
    let count = page.events.len();
    let pager = view! {
        <div class="pager">
            <button class="secondary" disabled=number == 1 on:click=move |_| cursors.set(vec![None])>
                "Newest"
            </button>
            <button
                class="secondary"
                data-test="events-newer"
                disabled=number == 1
                on:click=move |_| cursors.update(|c| {
                    c.pop();
                })
            >
                "‹ Newer"
            </button>
            <span data-test="events-page">{format!("Page {number} · {count} events")}</span>
            <button
                class="secondary"
                data-test="events-older"
                disabled=next.is_none()
                on:click=move |_| {
                    if let Some(cursor) = next.clone() {
                        cursors.update(|c| c.push(Some(cursor)));
                    }
                }
            >
                "Older ›"
            </button>
            <button
                class="secondary"
                on:click=move |_| download(&format!("sync-server-events-page-{number}.json"), &json, "application/json")
            >
                "Download page (JSON)"
            </button>
        </div>
    };
    if page.events.is_empty() {
        return view! { {pager} <p class="empty">"No log events stored."</p> }.into_any();
    }
    let events = StoredValue::new(page.events);
    let rows = move || {
        let wanted = filter.get();
        events.with_value(|events| {
            let shown: Vec<LogEvent> = events
                .iter()
                .filter(|e| wanted.is_none_or(|t| e.kind == t))
                .cloned()
                .collect();
            if shown.is_empty() {
                return view! {
                    <tr>
                        <td colspan="6" class="empty">"No events of this type on this page."</td>
                    </tr>
                }
                .into_any();
            }
            shown.into_iter().map(event_row).collect_view().into_any()
        })
    };
    view! {
        {pager}
        <div class="table-wrap">
            <table data-test="events-table">
                <thead>
                    <tr>
                        <th>"Time"</th>
                        <th>"Type"</th>
                        <th>"Component"</th>
                        <th>"Message"</th>
                        <th>"Details"</th>
                        <th>"Server version"</th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
    }
    .into_any()
}

// Helpers below.

fn event_row(e: LogEvent) -> impl IntoView {
    let mut details: Vec<String> = e.extra.iter().map(|(k, v)| format!("{k}={v}")).collect();
    if let Some(peer) = &e.peer_id {
        details.insert(0, format!("peer={peer}"));
    }
    view! {
        <tr data-test="event-row">
            <td>{format::time_ms(e.time_ms)}</td>
            <td><span class=format!("badge {}", type_class(e.kind))>{type_name(e.kind)}</span></td>
            <td>{e.component}</td>
            <td class="wrap message">{e.message}</td>
            <td class="wrap mono details">{details.join(" ")}</td>
            <td class="muted">{e.server_version}</td>
        </tr>
    }
}

fn type_name(t: EventType) -> &'static str {
    match t {
        EventType::Debug => "Debug",
        EventType::Info => "Info",
        EventType::Important => "Important",
        EventType::Warning => "Warning",
        EventType::Error => "Error",
        EventType::Crash => "Crash",
        EventType::Unknown => "Other",
    }
}

fn type_class(t: EventType) -> &'static str {
    match t {
        EventType::Important => "accent",
        EventType::Warning => "warn",
        EventType::Error | EventType::Crash => "danger",
        _ => "",
    }
}
