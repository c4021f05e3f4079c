//! Placeholder: this page is being built.

use leptos::prelude::*;

#[component]
pub fn StatsPage() -> impl IntoView {
    view! { <p class="empty">"Coming soon."</p> }
}
