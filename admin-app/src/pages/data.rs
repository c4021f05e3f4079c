//! Placeholder: this page is being built.

use leptos::prelude::*;

#[component]
pub fn EntitiesPage() -> impl IntoView {
    view! { <p class="empty">"Coming soon."</p> }
}

#[component]
pub fn ObjectsPage() -> impl IntoView {
    view! { <p class="empty">"Coming soon."</p> }
}

#[component]
pub fn ObjectPage() -> impl IntoView {
    view! { <p class="empty">"Coming soon."</p> }
}
