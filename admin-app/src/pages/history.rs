//! Sync history: the transaction log page by page (`GET /api/history`), found by sequence
//! number (`GET /api/history/{seq}`), and downloaded as JSON (the page, or a range of seqs).

use leptos::prelude::*;
use leptos::task::spawn_local;
use shared_types::admin::history::{HistoryEntry, HistoryPage};

use crate::api::{self, ApiError};
use crate::components::{ErrorBox, Loading, PageHeader, download};
use crate::format;

/// The page sizes offered.
pub const PAGE_SIZES: [u64; 4] = [25, 50, 100, 500];

/// Entries fetched per request while downloading a range (the server's maximum).
pub const RANGE_BATCH: u64 = 1000;

/// The most entries one range download collects, to keep the browser's memory in bounds.
pub const MAX_RANGE: u64 = 200_000;

/// The origin of changes made on the server rather than by a client.
const SERVER_ORIGIN: &str = "0000000000000000";

/// Which part of the log a page shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Window {
    /// The newest entries.
    Newest,
    /// Entries with a seq below this one, newest first.
    Before(u64),
    /// Entries from this seq on, oldest first (shown newest first).
    From(u64),
}

#[component]
pub fn HistoryPage() -> impl IntoView {
    let window = RwSignal::new(Window::Newest);
    let limit = RwSignal::new(50u64);
    let highlight = RwSignal::new(None::<u64>);
    let find_error = RwSignal::new(None::<ApiError>);
    let page = LocalResource::new(move || {
        let (window, limit) = (window.get(), limit.get());
        async move {
            let query = match window {
                Window::Newest => format!("limit={limit}"),
                Window::Before(seq) => format!("before={seq}&limit={limit}"),
                Window::From(seq) => format!("from={seq}&limit={limit}"),
            };
            let mut page = api::get::<HistoryPage>(&format!("/api/history?{query}")).await?;
            if matches!(window, Window::From(_)) {
                page.entries.reverse();
            }
            Ok::<_, ApiError>(page)
        }
    });

    let find = move |seq: u64| {
        find_error.set(None);
        spawn_local(async move {
            match api::get::<HistoryEntry>(&format!("/api/history/{seq}")).await {
                Ok(_) => {
                    highlight.set(Some(seq));
                    window.set(Window::Before(seq.saturating_add(1)));
                }
                Err(e) => find_error.set(Some(e)),
            }
        });
    };

    view! {
        <PageHeader title="Sync history">
            <button class="secondary" data-test="history-refresh" on:click=move |_| page.refetch()>
                "Refresh"
            </button>
        </PageHeader>
        <p class="hint">
            "Every transaction the server applied, from clients and from the server itself, as kept in the transaction log."
        </p>
        <FindBySeq find/>
        {move || find_error.get().map(|error| view! { <ErrorBox error/> })}
        {move || match page.get() {
            None => view! { <Loading what="the history"/> }.into_any(),
            Some(Err(error)) => view! { <ErrorBox error/> }.into_any(),
            Some(Ok(p)) => view! { <HistoryView page=p window limit highlight/> }.into_any(),
        }}
        <RangeDownload/>
    }
}

#[component]
fn FindBySeq(find: impl Fn(u64) + Copy + 'static) -> impl IntoView {
    let text = RwSignal::new(String::new());
    let invalid = RwSignal::new(false);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        match text.get_untracked().trim().parse::<u64>() {
            Ok(seq) => {
                invalid.set(false);
                find(seq);
            }
            Err(_) => invalid.set(true),
        }
    };
    view! {
        <form class="row find-form" on:submit=submit>
            <label class="inline">
                "Find sequence number"
                <input
                    data-test="find-seq"
                    inputmode="numeric"
                    placeholder="e.g. 42"
                    size="12"
                    prop:value=move || text.get()
                    on:input=move |ev| text.set(event_target_value(&ev))
                />
            </label>
            <button type="submit" class="secondary">"Find"</button>
            {move || invalid.get().then(|| view! {
                <span class="error inline-error">"Enter a whole number of 0 or more."</span>
            })}
        </form>
    }
}

/// The summary, pager, table and page download of one page.
#[component]
fn HistoryView(
    page: HistoryPage,
    window: RwSignal<Window>,
    limit: RwSignal<u64>,
    highlight: RwSignal<Option<u64>>,
) -> impl IntoView {
    let Some(oldest) = page.oldest_seq else {
        return view! {
            <p class="empty" data-test="history-empty">
                "The transaction log is empty: no client or server change has been applied yet."
            </p>
        }
        .into_any();
    };
    let head = page.head_seq;
    let top = page.entries.first().map(|e| e.seq);
    let bottom = page.entries.last().map(|e| e.seq);
    let at_newest = top.is_none_or(|t| t >= head);
    let at_oldest = bottom.is_none_or(|b| b <= oldest);
    let range = match (top, bottom) {
        (Some(t), Some(b)) => format!("Showing seq {} to {}", format::count(b), format::count(t)),
        _ => "No entries here".to_owned(),
    };
    let json = serde_json::to_string_pretty(&page.entries).unwrap_or_default();
    let filename = match (bottom, top) {
        (Some(b), Some(t)) => format!("sync-history-{b}-{t}.json"),
        _ => "sync-history.json".to_owned(),
    };
    let page_size = move |ev| {
        if let Ok(n) = event_target_value(&ev).parse::<u64>() {
            limit.set(n);
        }
    };

    let pager = view! {
        <div class="pager">
            <button class="secondary" disabled=at_newest on:click=move |_| {
                highlight.set(None);
                window.set(Window::Newest);
            }>"Newest"</button>
            <button
                class="secondary"
                data-test="history-newer"
                disabled=at_newest
                on:click=move |_| {
                    // The `limit` entries above this page (seqs are consecutive).
                    if let Some(t) = top {
                        window.set(Window::Before(t.saturating_add(1 + limit.get_untracked())));
                    }
                }
            >
                "‹ Newer"
            </button>
            <span data-test="history-range">{range}</span>
            <button
                class="secondary"
                data-test="history-older"
                disabled=at_oldest
                on:click=move |_| {
                    if let Some(b) = bottom {
                        window.set(Window::Before(b));
                    }
                }
            >
                "Older ›"
            </button>
            <button class="secondary" disabled=at_oldest on:click=move |_| {
                highlight.set(None);
                window.set(Window::From(oldest));
            }>"Oldest"</button>
            <label class="inline">
                "Per page"
                <select on:change=page_size>
                    {PAGE_SIZES
                        .into_iter()
                        .map(|n| view! { <option value=n selected=n == limit.get_untracked()>{n}</option> })
                        .collect_view()}
                </select>
            </label>
            <button
                class="secondary"
                data-test="history-download-page"
                on:click=move |_| download(&filename, &json, "application/json")
            >
                "Download page (JSON)"
            </button>
        </div>
    };

    view! {
        <p class="facts-line" data-test="history-summary">
            "Newest seq " <strong>{format::count(head)}</strong>
            " · oldest retained seq " <strong data-test="history-oldest">{format::count(oldest)}</strong>
        </p>
        {pager}
        <div class="table-wrap">
            <table data-test="history-table">
                <thead>
                    <tr>
                        <th class="num">"Seq"</th>
                        <th>"Time"</th>
                        <th>"Origin"</th>
                        <th class="num">"Client TX ID"</th>
                        <th class="num">"Operations"</th>
                        <th class="num">"Rejected puts"</th>
                        <th class="num">"Size"</th>
                    </tr>
                </thead>
                <tbody>
                    {page
                        .entries
                        .into_iter()
                        .map(|e| {
                            let seq = e.seq;
                            let origin = if e.origin == SERVER_ORIGIN {
                                view! { <span class="badge">"server"</span> }.into_any()
                            } else {
                                view! { <span class="mono">{e.origin}</span> }.into_any()
                            };
                            let rejected = e.rejected_count;
                            view! {
                                <tr
                                    data-test="history-row"
                                    data-seq=seq
                                    class:current=move || highlight.get() == Some(seq)
                                >
                                    <td class="num">{seq}</td>
                                    <td>{format::time_ms(e.time_ms)}</td>
                                    <td>{origin}</td>
                                    <td class="num">{e.client_tx_id}</td>
                                    <td class="num">{format::count(e.op_count as u64)}</td>
                                    <td class="num" class:warn-text={rejected > 0}>{rejected}</td>
                                    <td class="num">{format::bytes(e.size as u64)}</td>
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

/// Downloads the entries of a seq range as one JSON array, fetched page by page.
#[component]
fn RangeDownload() -> impl IntoView {
    let from = RwSignal::new(String::new());
    let to = RwSignal::new(String::new());
    let progress = RwSignal::new(None::<String>);
    let error = RwSignal::new(None::<ApiError>);
    let busy = RwSignal::new(false);

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        error.set(None);
        let parse = |s: String| s.trim().parse::<u64>().ok();
        let (Some(first), Some(last)) = (parse(from.get_untracked()), parse(to.get_untracked()))
        else {
            error.set(Some(local_error(
                "Enter the first and last sequence number as whole numbers.",
            )));
            return;
        };
        if last < first {
            error.set(Some(local_error(
                "The last sequence number is below the first.",
            )));
            return;
        }
        busy.set(true);
        spawn_local(async move {
            match fetch_range(first, last, progress).await {
                Ok(entries) => {
                    let json = serde_json::to_string_pretty(&entries).unwrap_or_default();
                    download(
                        &format!("sync-history-{first}-{last}.json"),
                        &json,
                        "application/json",
                    );
                    progress.set(Some(format!(
                        "Downloaded {} entries.",
                        format::count(entries.len() as u64)
                    )));
                }
                Err(e) => {
                    progress.set(None);
                    error.set(Some(e));
                }
            }
            busy.set(false);
        });
    };

    view! {
        <section class="panel range-download">
            <h2 class="panel-title">"Download a range as JSON"</h2>
            <form class="row" on:submit=submit>
                <label class="inline">
                    "From seq"
                    <input
                        data-test="range-from"
                        inputmode="numeric"
                        size="10"
                        prop:value=move || from.get()
                        on:input=move |ev| from.set(event_target_value(&ev))
                    />
                </label>
                <label class="inline">
                    "to seq"
                    <input
                        data-test="range-to"
                        inputmode="numeric"
                        size="10"
                        prop:value=move || to.get()
                        on:input=move |ev| to.set(event_target_value(&ev))
                    />
                </label>
                <button type="submit" data-test="range-download" disabled=move || busy.get()>
                    "Download"
                </button>
            </form>
            <p class="hint">
                {format!("Entries without their operations; at most {} per download.", format::count(MAX_RANGE))}
            </p>
            {move || progress.get().map(|p| view! { <div class="notice">{p}</div> })}
            {move || error.get().map(|error| view! { <ErrorBox error/> })}
        </section>
    }
}

// Helpers below.

/// Entries `first..=last` that are still retained, oldest first.
async fn fetch_range(
    first: u64,
    last: u64,
    progress: RwSignal<Option<String>>,
) -> Result<Vec<HistoryEntry>, ApiError> {
    let mut entries = Vec::new();
    let mut next = first;
    loop {
        let limit = RANGE_BATCH.min(last - next + 1);
        let page =
            api::get::<HistoryPage>(&format!("/api/history?from={next}&limit={limit}")).await?;
        let done = (page.entries.len() as u64) < limit;
        for entry in page.entries {
            if entry.seq > last {
                return Ok(entries);
            }
            next = entry.seq + 1;
            entries.push(entry);
        }
        if entries.len() as u64 >= MAX_RANGE {
            return Err(local_error(&format!(
                "The range holds more than {} entries; download a smaller one.",
                format::count(MAX_RANGE)
            )));
        }
        progress.set(Some(format!(
            "Fetched {} entries…",
            format::count(entries.len() as u64)
        )));
        if done || next > last {
            return Ok(entries);
        }
    }
}

fn local_error(message: &str) -> ApiError {
    ApiError {
        status: 0,
        code: "input".to_owned(),
        message: message.to_owned(),
    }
}
