//! The sync server's admin web app: a client-side-rendered Leptos single-page app.
//!
//! The server embeds the trunk build (`dist/`) and serves it on the admin address; every page
//! talks to the admin REST API through [`api`] with the request and response types of
//! `shared-types`.

mod api;
mod app;
mod components;
mod format;
mod pages;

fn main() {
    console_error_panic_hook::set_once();
    app::redirect_hash_route();
    leptos::mount::mount_to_body(app::App);
}
