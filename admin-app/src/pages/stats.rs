//! Sync statistics: a chart per counter and gauge of `GET /api/stats`, or combined charts, at
//! one resolution, updated every second while the page is visible.

mod chart;

use std::time::Duration;

use leptos::leptos_dom::helpers::IntervalHandle;
use leptos::prelude::*;
use leptos::task::spawn_local;
use shared_types::admin::stats::{Resolution, Series, SeriesKind, Stats, Unit};

use self::chart::{Chart, ChartSpec, Line, PALETTE};
use crate::api::{self, ApiError};
use crate::components::{ErrorBox, Loading, PageHeader};
use crate::format;

/// How often the page asks for new figures while auto-update is on and the page is visible.
pub const UPDATE_EVERY: Duration = Duration::from_secs(1);

/// The combined charts: a title and the series drawn on it, by name. Series of one chart share
/// a unit.
const COMPOSITES: [(&str, &[&str]); 4] = [
    (
        "Transactions",
        &[
            "clientTxsApplied",
            "clientTxOpsApplied",
            "txsSentHistoric",
            "txsSentNew",
            "skippedTxDups",
            "putConflicts",
            "fullSyncs",
        ],
    ),
    (
        "Communication",
        &[
            "connects",
            "loginSuccesses",
            "messagesReceived",
            "messagesSent",
            "heartbeatsReceived",
        ],
    ),
    (
        "Communication bytes",
        &["bytesReceived", "bytesSent", "clientTxBytesApplied"],
    ),
    (
        "Errors and failures",
        &[
            "errorsProtocol",
            "errorsHandler",
            "heartbeatFailures",
            "loginFailuresCredentials",
            "loginFailuresAuthUnavailable",
            "loginFailuresOther",
        ],
    ),
];

#[component]
pub fn StatsPage() -> impl IntoView {
    let resolution = RwSignal::new(Resolution::Second);
    let composite = RwSignal::new(false);
    let auto = RwSignal::new(true);
    let visible = RwSignal::new(page_visible());
    let stats = RwSignal::new(None::<Stats>);
    let error = RwSignal::new(None::<ApiError>);
    let updated = RwSignal::new(None::<u64>);
    // Answers to an older resolution are dropped; one request at a time.
    let generation = StoredValue::new(0u32);
    let in_flight = StoredValue::new(false);

    let fetch = move || {
        if in_flight.get_value() {
            return;
        }
        in_flight.set_value(true);
        let asked = generation.get_value();
        let res = resolution.get_untracked();
        spawn_local(async move {
            let result =
                api::get::<Stats>(&format!("/api/stats?resolution={}", res.as_str())).await;
            in_flight.set_value(false);
            if generation.get_value() != asked {
                return;
            }
            match result {
                Ok(s) => {
                    stats.set(Some(s));
                    error.set(None);
                    updated.set(Some(js_sys::Date::now() as u64));
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };

    // A new resolution: forget the old figures and load at once.
    Effect::new(move |_| {
        resolution.track();
        generation.update_value(|g| *g += 1);
        in_flight.set_value(false);
        stats.set(None);
        error.set(None);
        fetch();
    });

    // Follow the page's visibility: the interval runs only while it is shown.
    let listener = StoredValue::new_local(Some(window_event_listener_untyped(
        "visibilitychange",
        move |_| visible.set(page_visible()),
    )));
    let interval = StoredValue::new(None::<IntervalHandle>);
    Effect::new(move |_| {
        if let Some(handle) = interval.get_value() {
            handle.clear();
        }
        interval.set_value(None);
        if auto.get() && visible.get() {
            fetch();
            interval.set_value(set_interval_with_handle(fetch, UPDATE_EVERY).ok());
        }
    });
    on_cleanup(move || {
        if let Some(handle) = interval.get_value() {
            handle.clear();
        }
        listener.update_value(|l| {
            if let Some(l) = l.take() {
                l.remove();
            }
        });
    });

    let resolution_buttons = Resolution::ALL
        .into_iter()
        .map(|r| {
            view! {
                <button
                    class:active=move || resolution.get() == r
                    data-test=format!("resolution-{}", r.as_str())
                    on:click=move |_| resolution.set(r)
                >
                    {capitalized(r.as_str())}
                </button>
            }
        })
        .collect_view();

    let loaded = Memo::new(move |_| stats.with(Option::is_some));
    let failed = Memo::new(move |_| error.with(Option::is_some));
    let status_line = move || {
        let when = updated.get().map(format::time_ms);
        match (auto.get(), visible.get(), when) {
            (true, true, Some(t)) => format!("Updating every second · last {t}"),
            (true, false, _) => "Paused while the page is hidden".to_owned(),
            (_, _, Some(t)) => format!("Updated {t}"),
            _ => String::new(),
        }
    };

    view! {
        <PageHeader title="Sync statistics">
            <label class="inline">
                <input
                    type="checkbox"
                    data-test="auto-update"
                    prop:checked=move || auto.get()
                    on:change=move |ev| auto.set(event_target_checked(&ev))
                />
                "Auto-update"
            </label>
            <button
                class="secondary"
                disabled=move || auto.get()
                on:click=move |_| fetch()
            >
                "Refresh"
            </button>
        </PageHeader>
        <div class="stats-controls">
            <div class="tabs" role="tablist" aria-label="Resolution">{resolution_buttons}</div>
            <div class="tabs" role="tablist" aria-label="View">
                <button
                    class:active=move || !composite.get()
                    on:click=move |_| composite.set(false)
                >
                    "Every series"
                </button>
                <button
                    class:active=move || composite.get()
                    data-test="composite"
                    on:click=move |_| composite.set(true)
                >
                    "Composite"
                </button>
            </div>
        </div>
        <p class="hint">
            {move || retention_hint(resolution.get())} " " {status_line}
        </p>
        {move || error.get().map(|error| view! { <ErrorBox error/> })}
        // Memos, so that the charts are built once and only their figures change each second.
        {move || match (loaded.get(), failed.get()) {
            (true, _) => view! { <Charts stats composite/> }.into_any(),
            (false, false) => view! { <Loading what="statistics"/> }.into_any(),
            (false, true) => ().into_any(),
        }}
    }
}

/// The chart cards: one per series, or the composites followed by the gauges and any series no
/// composite names.
#[component]
fn Charts(stats: RwSignal<Option<Stats>>, composite: RwSignal<bool>) -> impl IntoView {
    let ids = Memo::new(move |_| {
        let composite = composite.get();
        stats.with(|s| {
            s.as_ref()
                .map(|s| chart_ids(s, composite))
                .unwrap_or_default()
        })
    });
    view! {
        <div class="charts">
            <For
                each=move || ids.get()
                key=|id| id.clone()
                children=move |id| {
                    let key = id.clone();
                    let spec = Signal::derive(move || {
                        stats.with(|s| s.as_ref().and_then(|s| spec_of(s, &key)))
                            .unwrap_or_else(|| empty_spec(&key))
                    });
                    let caption = caption_of(&id);
                    view! { <Chart spec test_id=format!("chart-{}", chart_name(&id)) caption/> }
                }
            />
        </div>
    }
}

// Helpers below.

/// Chart ids: `s:<series name>` for one series, `c:<index>` for a composite.
fn chart_ids(stats: &Stats, composite: bool) -> Vec<String> {
    if !composite {
        return stats
            .series
            .iter()
            .map(|s| format!("s:{}", s.name))
            .collect();
    }
    let in_composite = |name: &str| COMPOSITES.iter().any(|(_, names)| names.contains(&name));
    let mut ids: Vec<String> = (0..COMPOSITES.len()).map(|i| format!("c:{i}")).collect();
    ids.extend(
        stats
            .series
            .iter()
            .filter(|s| !in_composite(&s.name))
            .map(|s| format!("s:{}", s.name)),
    );
    ids
}

/// The name in the chart's `data-test`: the series name, or the composite's title in kebab case.
fn chart_name(id: &str) -> String {
    match id.split_once(':') {
        Some(("c", i)) => i
            .parse::<usize>()
            .ok()
            .and_then(|i| COMPOSITES.get(i))
            .map(|(title, _)| title.to_lowercase().replace(' ', "-"))
            .unwrap_or_default(),
        Some((_, name)) => name.to_owned(),
        None => id.to_owned(),
    }
}

fn caption_of(id: &str) -> Option<String> {
    id.starts_with("c:")
        .then(|| "Several series, one line each".to_owned())
}

fn spec_of(stats: &Stats, id: &str) -> Option<ChartSpec> {
    let base = |title: String, unit: Unit, lines: Vec<Line>| ChartSpec {
        title,
        unit,
        interval_ms: i64::try_from(stats.interval_seconds * 1000).unwrap_or(i64::MAX),
        retained: stats.retained,
        timestamps: stats.timestamps.clone(),
        last_partial: stats.last_partial,
        lines,
    };
    match id.split_once(':')? {
        ("s", name) => {
            let series = stats.series.iter().find(|s| s.name == name)?;
            let title = format!("{} ({})", series.label, unit_text(series, stats.resolution));
            Some(base(title, series.unit, vec![line_of(series, 0)]))
        }
        ("c", index) => {
            let (title, names) = COMPOSITES.get(index.parse::<usize>().ok()?)?;
            let members: Vec<&Series> = names
                .iter()
                .filter_map(|n| stats.series.iter().find(|s| s.name == *n))
                .collect();
            let first = members.first()?;
            let title = format!("{title} ({})", unit_text(first, stats.resolution));
            let lines = members
                .iter()
                .enumerate()
                .map(|(i, s)| line_of(s, i))
                .collect();
            Some(base(title, first.unit, lines))
        }
        _ => None,
    }
}

/// A chart with no points, for the moment between two answers.
fn empty_spec(id: &str) -> ChartSpec {
    ChartSpec {
        title: chart_name(id),
        unit: Unit::Count,
        interval_ms: 1000,
        retained: 60,
        timestamps: Vec::new(),
        last_partial: false,
        lines: Vec::new(),
    }
}

/// A counter as its values; a gauge as its average inside a min-max band.
fn line_of(series: &Series, index: usize) -> Line {
    let color = PALETTE[index % PALETTE.len()];
    match series.kind {
        SeriesKind::Counter => Line {
            label: series.label.clone(),
            color,
            values: series.values.iter().flatten().map(|v| *v as f64).collect(),
            band: None,
        },
        SeriesKind::Gauge => {
            let floats = |v: &Option<Vec<i64>>| -> Vec<f64> {
                v.iter().flatten().map(|x| *x as f64).collect()
            };
            Line {
                label: "avg".to_owned(),
                color,
                values: series.avg.clone().unwrap_or_default(),
                band: Some((floats(&series.min), floats(&series.max))),
            }
        }
    }
}

/// The unit in a chart title: `messages per second`, `bytes per minute`, `clients`.
fn unit_text(series: &Series, resolution: Resolution) -> String {
    let what = match series.unit {
        Unit::Count => "count",
        Unit::Bytes => "bytes",
        Unit::Clients => "clients",
        Unit::Seq => "sequence number",
    };
    match series.kind {
        SeriesKind::Counter => format!("{what} per {}", resolution.as_str()),
        SeriesKind::Gauge => format!("{what}, min/avg/max per {}", resolution.as_str()),
    }
}

fn retention_hint(resolution: Resolution) -> &'static str {
    match resolution {
        Resolution::Second => "The last 60 seconds.",
        Resolution::Minute => "The last 60 minutes.",
        Resolution::Hour => "The last 24 hours.",
        Resolution::Day => "The last 30 days (UTC days).",
    }
}

fn capitalized(s: &str) -> String {
    let mut chars = s.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

fn page_visible() -> bool {
    document().visibility_state() == web_sys::VisibilityState::Visible
}
