//! Placeholder: this page is being built.

use leptos::prelude::*;

#[component]
pub fn VersionsPage() -> impl IntoView {
    view! { <p class="empty">"Coming soon."</p> }
}
