//! The data browser: the entities with object counts, a paged table of one entity's objects
//! with a column per property, one object with its relations, and JSON exports.
//!
//! Values are shown by their model type (see [`values`]); the model comes from `GET /api/schema`.
//! Exports stream from the server straight to a file (the session cookie authenticates them).

mod values;

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::NavigateOptions;
use leptos_router::components::A;
use leptos_router::hooks::{use_navigate, use_params_map, use_query_map};
use serde_json::Value as Json;
use shared_types::admin::data::{self as wire, EntityList, EntitySummary};
use shared_types::admin::schema::{CurrentSchema, SchemaEntity, SchemaProperty};

use crate::api::{self, ApiError};
use crate::components::{ErrorBox, Loading, PageHeader, download_url, show_result};
use crate::format;
use values::{Room, Whole, WholeDialog, id_text, object_href, value_view};

/// Objects per page unless the address says otherwise.
const DEFAULT_LIMIT: u64 = 50;

/// The page sizes offered.
const PAGE_SIZES: [u64; 5] = [25, 50, 100, 250, 1000];

/// Tables longer than this get a second pager below them.
const BOTTOM_PAGER_ROWS: usize = 10;

/// Objects read per request while looking for objects that refer to the one shown (the API's
/// largest page).
const SCAN_PAGE: u64 = 1000;

/// Pages read per step of that search before asking to continue.
const SCAN_PAGES_PER_STEP: u32 = 5;

/// Links shown per incoming relation; the count says how many there are in all.
const MAX_INCOMING_LINKS: usize = 100;

#[component]
pub fn EntitiesPage() -> impl IntoView {
    let entities = LocalResource::new(|| api::get::<EntityList>("/api/data/entities"));
    view! {
        <PageHeader title="Data">
            <button class="secondary" data-test="refresh" on:click=move |_| entities.refetch()>
                "Refresh"
            </button>
            <button
                data-test="download-all"
                title="Every object and relation link as one JSON file"
                on:click=|_| download_url("/api/data/export", "sync-server-export.json")
            >
                "Download all (JSON)"
            </button>
        </PageHeader>
        {move || show_result(entities.get(), |list| entity_table(list.entities))}
    }
}

fn entity_table(entities: Vec<EntitySummary>) -> AnyView {
    if entities.is_empty() {
        return view! { <p class="empty">"The model has no entities."</p> }.into_any();
    }
    let total: u64 = entities.iter().map(|e| e.object_count).sum();
    let rows = entities
        .into_iter()
        .map(|e| {
            let name = e.name.clone();
            let href = format!("/data/{}", api::segment(&e.name));
            let file = format!("{}.json", e.name);
            let export = format!("/api/data/export/{}", api::segment(&e.name));
            let sync = if e.sync_enabled {
                view! { <span class="badge ok">"sync"</span> }
            } else {
                view! { <span class="badge">"local only"</span> }
            };
            view! {
                <tr data-test="entity-row" data-entity=e.name>
                    <td>
                        <A href=href attr:data-test="entity-link">
                            {name}
                        </A>
                    </td>
                    <td class="num" data-test="object-count">
                        {format::count(e.object_count)}
                    </td>
                    <td class="mono">{format!("{}:{}", e.id, e.uid)}</td>
                    <td>{sync}</td>
                    <td>
                        <button
                            class="link"
                            data-test="download-entity"
                            on:click=move |_| download_url(&export, &file)
                        >
                            "Download JSON"
                        </button>
                    </td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <div class="table-wrap">
            <table data-test="entities-table">
                <thead>
                    <tr>
                        <th>"Entity"</th>
                        <th class="num">"Objects"</th>
                        <th>"ID:UID"</th>
                        <th>"Sync"</th>
                        <th>"Export"</th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
                <tfoot>
                    <tr>
                        <td>"Total"</td>
                        <td class="num">{format::count(total)}</td>
                        <td colspan="3"></td>
                    </tr>
                </tfoot>
            </table>
        </div>
    }
    .into_any()
}

#[component]
pub fn ObjectsPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let entity = Memo::new(move |_| params.with(|p| p.get("entity").unwrap_or_default()));
    let offset = Memo::new(move |_| {
        query.with(|q| {
            q.get("offset")
                .and_then(|s| s.parse::<u64>().ok())
                .unwrap_or(0)
        })
    });
    let limit = Memo::new(move |_| {
        query.with(|q| {
            q.get("limit")
                .and_then(|s| s.parse::<u64>().ok())
                .filter(|l| (1..=1000).contains(l))
                .unwrap_or(DEFAULT_LIMIT)
        })
    });
    let schema = LocalResource::new(|| api::get::<CurrentSchema>("/api/schema"));
    let page = LocalResource::new(move || {
        let path = format!(
            "/api/data/entities/{}/objects?offset={}&limit={}",
            api::segment(&entity.get()),
            offset.get(),
            limit.get()
        );
        async move { api::get::<wire::ObjectPage>(&path).await }
    });
    let shown = RwSignal::new(None::<Whole>);
    let navigate = use_navigate();
    let go = Callback::new(move |(offset, limit): (u64, u64)| {
        navigate(
            &format!(
                "/data/{}?offset={offset}&limit={limit}",
                api::segment(&entity.get_untracked())
            ),
            NavigateOptions::default(),
        );
    });
    let export = move |_| {
        let name = entity.get_untracked();
        download_url(
            &format!("/api/data/export/{}", api::segment(&name)),
            &format!("{name}.json"),
        );
    };

    view! {
        <nav class="crumbs">
            <A href="/data">"Data"</A>
            " › "
            <span>{move || entity.get()}</span>
        </nav>
        <header class="page-header">
            <h1>{move || entity.get()}</h1>
            <div class="actions">
                <button class="secondary" data-test="refresh" on:click=move |_| page.refetch()>
                    "Refresh"
                </button>
                <button data-test="download-entity" on:click=export>
                    "Download JSON"
                </button>
            </div>
        </header>
        <FindById entity/>
        {move || match (schema.get(), page.get()) {
            (Some(Err(error)), _) | (_, Some(Err(error))) => view! { <ErrorBox error/> }.into_any(),
            (Some(Ok(schema)), Some(Ok(page))) => {
                let Some(model) = schema.entities.iter().find(|e| e.name == page.entity) else {
                    return view! {
                        <p class="empty">"The current model has no entity " {page.entity} "."</p>
                    }
                    .into_any();
                };
                objects_table(model, page, go, shown)
            }
            _ => view! { <Loading what="objects"/> }.into_any(),
        }}
        <WholeDialog shown/>
    }
}

/// A form that opens an object by its id.
#[component]
fn FindById(entity: Memo<String>) -> impl IntoView {
    let id = RwSignal::new(String::new());
    let navigate = use_navigate();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let text = id.get_untracked().trim().to_owned();
        if !text.is_empty() {
            navigate(
                &object_href(&entity.get_untracked(), &Json::String(text)),
                NavigateOptions::default(),
            );
        }
    };
    view! {
        <form class="row find-id" on:submit=submit>
            <input
                name="object-id"
                placeholder="Object id (e.g. 12 or 1A2B:7)"
                aria-label="Object id"
                prop:value=move || id.get()
                on:input=move |ev| id.set(event_target_value(&ev))
            />
            <button class="secondary" type="submit">
                "Open"
            </button>
        </form>
    }
}

/// A table column: a property of the model, or a key only the objects have (`#<id>` values
/// of properties the model no longer has, `_error` of an object that did not decode).
struct Column {
    key: String,
    property: Option<SchemaProperty>,
}

fn columns(model: &SchemaEntity, objects: &[Json]) -> Vec<Column> {
    let mut columns: Vec<Column> = model
        .properties
        .iter()
        .filter(|p| !is_id(p))
        .map(|p| Column {
            key: p.name.clone(),
            property: Some(p.clone()),
        })
        .collect();
    for object in objects {
        if let Json::Object(map) = object {
            for key in map.keys() {
                if key != "id" && !columns.iter().any(|c| &c.key == key) {
                    columns.push(Column {
                        key: key.clone(),
                        property: None,
                    });
                }
            }
        }
    }
    columns
}

fn is_id(property: &SchemaProperty) -> bool {
    property.flag_names.iter().any(|f| f == "ID")
}

fn objects_table(
    model: &SchemaEntity,
    page: wire::ObjectPage,
    go: Callback<(u64, u64)>,
    shown: RwSignal<Option<Whole>>,
) -> AnyView {
    let (offset, limit, total) = (page.offset, page.limit, page.total);
    let pager = move || pager(offset, limit, total, go);
    if page.objects.is_empty() {
        let text = if page.total == 0 {
            format!("No {} objects yet.", page.entity)
        } else {
            "No objects on this page.".to_owned()
        };
        return view! {
            <p class="empty" data-test="no-objects">{text}</p>
            {pager()}
        }
        .into_any();
    }
    let columns = columns(model, &page.objects);
    let head = columns
        .iter()
        .map(|c| {
            let ty = c.property.as_ref().map_or_else(
                || "not in the model".to_owned(),
                |p| match &p.relation_target {
                    Some(target) => format!("→ {target}"),
                    None => p.type_name.clone(),
                },
            );
            view! {
                <th>
                    {c.key.clone()}
                    <span class="col-type">{ty}</span>
                </th>
            }
        })
        .collect_view();
    let rows = page
        .objects
        .iter()
        .map(|object| {
            let id = object.get("id").cloned().unwrap_or(Json::Null);
            let href = object_href(&page.entity, &id);
            let cells = columns
                .iter()
                .map(|c| {
                    let value = object.get(&c.key).unwrap_or(&Json::Null);
                    view! { <td>{value_view(value, &c.key, c.property.as_ref(), Room::Cell, shown)}</td> }
                })
                .collect_view();
            view! {
                <tr data-test="object-row">
                    <td class="id-cell">
                        <A href=href attr:data-test="object-link">
                            {id_text(&id)}
                        </A>
                    </td>
                    {cells}
                </tr>
            }
        })
        .collect_view();
    view! {
        {pager()}
        <div class="table-wrap">
            <table class="objects" data-test="objects-table">
                <thead>
                    <tr>
                        <th class="id-cell">"id"<span class="col-type">"ID"</span></th>
                        {head}
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
        {(page.objects.len() > BOTTOM_PAGER_ROWS).then(pager)}
    }
    .into_any()
}

/// Paging controls: the range shown, first/previous/next/last and the page size.
fn pager(offset: u64, limit: u64, total: u64, go: Callback<(u64, u64)>) -> AnyView {
    let last = if total == 0 {
        0
    } else {
        (total - 1) / limit * limit
    };
    let end = (offset + limit).min(total);
    let range = if total == 0 {
        "No objects".to_owned()
    } else if offset >= total {
        format!("Past the end ({} objects)", format::count(total))
    } else {
        format!(
            "{}–{} of {}",
            format::count(offset + 1),
            format::count(end),
            format::count(total)
        )
    };
    let sizes = PAGE_SIZES
        .iter()
        .map(|&size| view! { <option value=size.to_string() selected={size == limit}>{size}</option> })
        .collect_view();
    view! {
        <div class="pager">
            <button class="secondary" disabled={offset == 0} on:click=move |_| go.run((0, limit))>
                "« First"
            </button>
            <button
                class="secondary"
                data-test="prev-page"
                disabled={offset == 0}
                on:click=move |_| go.run((offset.saturating_sub(limit), limit))
            >
                "‹ Previous"
            </button>
            <span data-test="page-range">{range}</span>
            <button
                class="secondary"
                data-test="next-page"
                disabled={end >= total}
                on:click=move |_| go.run((offset + limit, limit))
            >
                "Next ›"
            </button>
            <button class="secondary" disabled={offset >= last} on:click=move |_| go.run((last, limit))>
                "Last »"
            </button>
            <label class="inline">
                "Per page"
                <select on:change=move |ev| {
                    if let Ok(size) = event_target_value(&ev).parse::<u64>() {
                        go.run((offset / size * size, size));
                    }
                }>{sizes}</select>
            </label>
        </div>
    }
    .into_any()
}

#[component]
pub fn ObjectPage() -> impl IntoView {
    let params = use_params_map();
    let entity = Memo::new(move |_| params.with(|p| p.get("entity").unwrap_or_default()));
    let id = Memo::new(move |_| params.with(|p| p.get("id").unwrap_or_default()));
    let schema = LocalResource::new(|| api::get::<CurrentSchema>("/api/schema"));
    let object = LocalResource::new(move || {
        let path = format!(
            "/api/data/entities/{}/objects/{}",
            api::segment(&entity.get()),
            api::segment(&id.get())
        );
        async move { api::get::<Json>(&path).await }
    });
    let shown = RwSignal::new(None::<Whole>);
    view! {
        <nav class="crumbs">
            <A href="/data">"Data"</A>
            " › "
            <A href=move || format!("/data/{}", api::segment(&entity.get()))>
                {move || entity.get()}
            </A>
            " › "
            <span>{move || id.get()}</span>
        </nav>
        <header class="page-header">
            <h1>{move || format!("{} {}", entity.get(), id.get())}</h1>
            <div class="actions">
                <button class="secondary" data-test="refresh" on:click=move |_| object.refetch()>
                    "Refresh"
                </button>
            </div>
        </header>
        {move || match (schema.get(), object.get()) {
            (Some(Err(error)), _) | (_, Some(Err(error))) => view! { <ErrorBox error/> }.into_any(),
            (Some(Ok(schema)), Some(Ok(object))) => {
                object_view(&schema, &entity.get_untracked(), &object, shown)
            }
            _ => view! { <Loading what="the object"/> }.into_any(),
        }}
        <WholeDialog shown/>
    }
}

fn object_view(
    schema: &CurrentSchema,
    entity: &str,
    object: &Json,
    shown: RwSignal<Option<Whole>>,
) -> AnyView {
    let Some(model) = schema.entities.iter().find(|e| e.name == entity) else {
        return view! { <p class="empty">"The current model has no entity " {entity.to_owned()} "."</p> }
            .into_any();
    };
    let id = object.get("id").cloned().unwrap_or(Json::Null);
    let facts = columns(model, std::slice::from_ref(object))
        .into_iter()
        .map(|c| {
            let value = object.get(&c.key).unwrap_or(&Json::Null);
            let ty = c.property.as_ref().map_or_else(
                || "not in the current model".to_owned(),
                |p| p.type_name.clone(),
            );
            let value = value_view(value, &c.key, c.property.as_ref(), Room::Detail, shown);
            view! {
                <dt>
                    {c.key.clone()}
                    <span class="col-type">{ty}</span>
                </dt>
                <dd data-test=format!("prop-{}", c.key)>{value}</dd>
            }
        })
        .collect_view();

    let outgoing = model
        .properties
        .iter()
        .filter_map(|p| {
            let target = p.relation_target.clone()?;
            let value = object.get(&p.name).cloned().unwrap_or(Json::Null);
            let link = if value.is_null() || id_text(&value) == "0" {
                view! { <span class="null">"not set"</span> }.into_any()
            } else {
                let text = format!("{target} {}", id_text(&value));
                view! {
                    <A href=object_href(&target, &value) attr:data-test="outgoing-link">
                        {text}
                    </A>
                }
                .into_any()
            };
            Some(view! {
                <li>
                    <code>{p.name.clone()}</code>
                    " → "
                    {link}
                </li>
            })
        })
        .collect_view();
    let standalone = standalone_relations(schema, model);
    let incoming = schema
        .entities
        .iter()
        .flat_map(|source| {
            source
                .properties
                .iter()
                .filter(|p| p.relation_target.as_deref() == Some(entity))
                .map(|p| (source.name.clone(), p.name.clone()))
        })
        .map(|(source, property)| {
            view! { <IncomingScan source property target=id.clone()/> }
        })
        .collect_view();
    let has_outgoing = model.properties.iter().any(|p| p.relation_target.is_some());
    let has_incoming = schema
        .entities
        .iter()
        .flat_map(|e| &e.properties)
        .any(|p| p.relation_target.as_deref() == Some(entity));

    view! {
        <div class="panel">
            <dl class="facts object-facts" data-test="object-facts">
                <dt>"id"<span class="col-type">"ID"</span></dt>
                <dd data-test="prop-id">{id_text(&id)}</dd>
                {facts}
            </dl>
        </div>
        <h2>"Relations"</h2>
        <div class="panel stack">
            <section>
                <h3>"Outgoing (to-one)"</h3>
                {if has_outgoing {
                    view! { <ul class="links">{outgoing}</ul> }.into_any()
                } else {
                    view! { <p class="hint">"This entity has no to-one relations."</p> }.into_any()
                }}
            </section>
            <section>
                <h3>"Incoming (to-one)"</h3>
                {if has_incoming {
                    incoming.into_any()
                } else {
                    view! { <p class="hint">"No entity has a to-one relation to this one."</p> }
                        .into_any()
                }}
            </section>
            {standalone}
        </div>
    }
    .into_any()
}

/// The standalone (many-to-many) relations from and to the entity. The API lists their links
/// only in the full export, so that is where the page sends the reader.
fn standalone_relations(schema: &CurrentSchema, model: &SchemaEntity) -> Option<AnyView> {
    let mut lines: Vec<String> = model
        .relations
        .iter()
        .map(|r| {
            format!(
                "{}.{} → {}",
                model.name,
                r.name,
                r.target_entity.as_deref().unwrap_or(&r.target_id)
            )
        })
        .collect();
    for source in &schema.entities {
        for r in &source.relations {
            if r.target_entity.as_deref() == Some(&model.name) && source.name != model.name {
                lines.push(format!("{}.{} → {}", source.name, r.name, model.name));
            }
        }
    }
    if lines.is_empty() {
        return None;
    }
    let items = lines
        .into_iter()
        .map(|l| view! { <li><code>{l}</code></li> })
        .collect_view();
    Some(
        view! {
            <section>
                <h3>"Standalone (many-to-many)"</h3>
                <ul class="links">{items}</ul>
                <p class="hint">
                    "Links of standalone relations are part of the full export (\"links\"). "
                    <button
                        class="link"
                        on:click=|_| download_url("/api/data/export", "sync-server-export.json")
                    >
                        "Download all (JSON)"
                    </button>
                </p>
            </section>
        }
        .into_any(),
    )
}

/// The objects of `source` whose to-one `property` points at `target`, found by reading the
/// source entity's objects page by page ([`SCAN_PAGES_PER_STEP`] pages per step).
#[component]
fn IncomingScan(source: String, property: String, target: Json) -> impl IntoView {
    let found = RwSignal::new(Vec::<Json>::new());
    let scanned = RwSignal::new(0u64);
    let total = RwSignal::new(None::<u64>);
    let error = RwSignal::new(None::<ApiError>);
    let busy = RwSignal::new(false);
    let names = StoredValue::new((source.clone(), property.clone(), target));
    let scan = move || {
        busy.set(true);
        spawn_local(async move {
            let Some((source, property, target)) = names.try_get_value() else {
                return;
            };
            for _ in 0..SCAN_PAGES_PER_STEP {
                let (Some(offset), Some(known)) =
                    (scanned.try_get_untracked(), total.try_get_untracked())
                else {
                    return;
                };
                if known.is_some_and(|t| offset >= t) {
                    break;
                }
                let path = format!(
                    "/api/data/entities/{}/objects?offset={offset}&limit={SCAN_PAGE}",
                    api::segment(&source)
                );
                match api::get::<wire::ObjectPage>(&path).await {
                    Ok(page) => {
                        let read = page.objects.len() as u64;
                        let hits: Vec<Json> = page
                            .objects
                            .into_iter()
                            .filter(|o| o.get(&property) == Some(&target))
                            .filter_map(|o| o.get("id").cloned())
                            .collect();
                        found.update(|f| f.extend(hits));
                        total.set(Some(page.total));
                        scanned.set(offset + read);
                        if read == 0 {
                            break;
                        }
                    }
                    Err(e) => {
                        error.set(Some(e));
                        break;
                    }
                }
            }
            busy.set(false);
        });
    };
    scan();

    let heading = format!("{source}.{property}");
    let status = move || {
        let hits = found.with(Vec::len) as u64;
        let scanned = scanned.get();
        match total.get() {
            None => "Looking…".to_owned(),
            Some(total) if scanned >= total => format!(
                "{} of {} {source} objects refer to this one.",
                format::count(hits),
                format::count(total)
            ),
            Some(total) => format!(
                "{} found in the first {} of {} {source} objects.",
                format::count(hits),
                format::count(scanned),
                format::count(total)
            ),
        }
    };
    let more = move || {
        total.get().is_some_and(|t| scanned.get() < t).then(|| {
            view! {
                <button class="secondary" disabled=move || busy.get() on:click=move |_| scan()>
                    "Search further"
                </button>
            }
        })
    };
    let links = move || {
        let entity = names.with_value(|(source, _, _)| source.clone());
        let ids = found.get();
        let extra = ids.len().saturating_sub(MAX_INCOMING_LINKS);
        let items = ids
            .into_iter()
            .take(MAX_INCOMING_LINKS)
            .map(|id| {
                let text = format!("{entity} {}", id_text(&id));
                view! {
                    <li>
                        <A href=object_href(&entity, &id) attr:data-test="incoming-link">
                            {text}
                        </A>
                    </li>
                }
            })
            .collect_view();
        view! {
            <ul class="links">{items}</ul>
            {(extra > 0).then(|| view! { <p class="hint">{format!("and {extra} more")}</p> })}
        }
    };
    view! {
        <div class="incoming" data-test="incoming">
            <div class="row">
                <code>{heading}</code>
                <span class="hint">{status}</span>
                {more}
            </div>
            {links}
            {move || error.get().map(|error| view! { <ErrorBox error/> })}
        </div>
    }
}
