//! The current model: a diagram of the entities and their relations, then each entity with its
//! properties (type and flag names, indexes, relation targets) and standalone relations.

mod diagram;

use leptos::prelude::*;
use leptos_router::components::A;
use shared_types::admin::schema::{CurrentSchema, SchemaEntity};

use crate::api;
use crate::components::{PageHeader, download, download_url, show_result};

#[component]
pub fn SchemaPage() -> impl IntoView {
    let schema = LocalResource::new(|| api::get::<CurrentSchema>("/api/schema"));
    view! {
        <PageHeader title="Schema">
            <A href="/schema/versions" attr:class="button secondary">
                "Schema versions"
            </A>
        </PageHeader>
        {move || show_result(schema.get(), schema_view)}
    }
}

fn schema_view(schema: CurrentSchema) -> AnyView {
    let version = schema.version_id;
    let svg = diagram::svg(&schema.entities);
    let svg_file = svg.clone();
    let properties: usize = schema.entities.iter().map(|e| e.properties.len()).sum();
    let relations: usize = schema.entities.iter().map(|e| e.relations.len()).sum();
    let indexes = schema
        .entities
        .iter()
        .flat_map(|e| &e.properties)
        .filter(|p| p.index_id.is_some())
        .count();
    let counts = format!(
        "{} entities, {properties} properties, {relations} standalone relations, {indexes} indexes",
        schema.entities.len()
    );
    let entities = schema.entities.iter().map(entity_view).collect_view();
    view! {
        <div class="panel">
            <dl class="facts" data-test="schema-facts">
                <dt>"Schema version"</dt>
                <dd>
                    <A href="/schema/versions">{version.to_string()}</A>
                </dd>
                <dt>"Base hash"</dt>
                <dd class="mono">{schema.base_hash}</dd>
                <dt>"Full hash"</dt>
                <dd class="mono">{schema.full_hash}</dd>
                <dt>"Contents"</dt>
                <dd>{counts}</dd>
            </dl>
            <div class="row actions-row">
                <button
                    class="secondary"
                    data-test="download-model"
                    on:click=move |_| {
                        download_url(
                            &format!("/api/schema/versions/{version}/model"),
                            &format!("objectbox-model-v{version}.json"),
                        );
                    }
                >
                    "Download model JSON"
                </button>
            </div>
        </div>
        <div class="section-head">
            <h2>"Diagram"</h2>
            <button
                class="secondary"
                data-test="download-diagram"
                on:click=move |_| {
                    download(&format!("schema-v{version}.svg"), &svg_file, "image/svg+xml");
                }
            >
                "Download SVG"
            </button>
        </div>
        <p class="hint legend">
            <span class="legend-line"></span>
            " to-one relation (property → target)   "
            <span class="legend-line dashed"></span>
            " standalone relation (many-to-many)"
        </p>
        <div class="diagram-wrap" inner_html=svg></div>
        <h2>"Entities"</h2>
        {entities}
    }
    .into_any()
}

fn entity_view(entity: &SchemaEntity) -> impl IntoView {
    let flags = flag_badges(&entity.flag_names, entity.flags);
    let browse = format!("/data/{}", api::segment(&entity.name));
    let rows = entity
        .properties
        .iter()
        .map(|p| {
            let index = p.index_id.clone().unwrap_or_default();
            let target = p.relation_target.clone().map(|t| {
                let href = format!("/data/{}", api::segment(&t));
                view! { <A href=href>{t}</A> }
            });
            view! {
                <tr data-test="schema-property">
                    <td><strong>{p.name.clone()}</strong></td>
                    <td class="mono">{format!("{}:{}", p.id, p.uid)}</td>
                    <td>
                        {p.type_name.clone()}
                        <span class="muted">{format!(" ({})", p.type_code)}</span>
                    </td>
                    <td>{flag_badges(&p.flag_names, p.flags)}</td>
                    <td class="mono">{index}</td>
                    <td>{target}</td>
                </tr>
            }
        })
        .collect_view();
    let relations = (!entity.relations.is_empty()).then(|| {
        let rows = entity
            .relations
            .iter()
            .map(|r| {
                let target = match &r.target_entity {
                    Some(t) => {
                        let href = format!("/data/{}", api::segment(t));
                        let name = t.clone();
                        view! { <A href=href>{name}</A> }.into_any()
                    }
                    None => view! { <span class="muted">"unknown entity"</span> }.into_any(),
                };
                view! {
                    <tr>
                        <td><strong>{r.name.clone()}</strong></td>
                        <td class="mono">{format!("{}:{}", r.id, r.uid)}</td>
                        <td>{target}<span class="muted mono">{format!(" ({})", r.target_id)}</span></td>
                    </tr>
                }
            })
            .collect_view();
        view! {
            <h4>"Standalone relations"</h4>
            <div class="table-wrap">
                <table>
                    <thead>
                        <tr>
                            <th>"Name"</th>
                            <th>"ID:UID"</th>
                            <th>"Target"</th>
                        </tr>
                    </thead>
                    <tbody>{rows}</tbody>
                </table>
            </div>
        }
    });
    view! {
        <section class="panel entity-panel" data-test="schema-entity" data-entity=entity.name.clone()>
            <div class="row entity-head">
                <h3>{entity.name.clone()}</h3>
                <code>{format!("{}:{}", entity.id, entity.uid)}</code>
                {flags}
                <span class="spacer"></span>
                <A href=browse>"Browse objects"</A>
            </div>
            <div class="table-wrap">
                <table>
                    <thead>
                        <tr>
                            <th>"Property"</th>
                            <th>"ID:UID"</th>
                            <th>"Type"</th>
                            <th>"Flags"</th>
                            <th>"Index"</th>
                            <th>"Relation to"</th>
                        </tr>
                    </thead>
                    <tbody>{rows}</tbody>
                </table>
            </div>
            {relations}
        </section>
    }
}

/// Flag names as badges; the numeric value is in the tooltip.
fn flag_badges(names: &[String], flags: u32) -> AnyView {
    if names.is_empty() {
        return view! { <span class="muted">"—"</span> }.into_any();
    }
    let title = format!("flags = {flags}");
    names
        .iter()
        .map(|n| view! { <span class="badge flag" title=title.clone()>{n.clone()}</span> " " })
        .collect_view()
        .into_any()
}
