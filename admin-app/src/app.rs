//! The app shell: session check, login gate, navigation and routes.

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::{A, Redirect, Route, Router, Routes};
use leptos_router::hooks::{use_location, use_navigate};
use leptos_router::path;
use shared_types::admin::sessions::SessionInfo;
use shared_types::admin::trial::TrialStatus;

use crate::api;
use crate::pages;

/// The logged-in session, shared by every page through context.
#[derive(Clone, Copy)]
pub struct Auth {
    pub session: RwSignal<Option<SessionInfo>>,
}

impl Auth {
    pub fn set(&self, session: Option<SessionInfo>) {
        api::set_csrf_token(session.as_ref().and_then(|s| s.csrf_token.clone()));
        self.session.set(session);
    }

    /// The logged-in user's name; `None` in unsecured mode.
    pub fn user(&self) -> Option<String> {
        self.session
            .with(|s| s.as_ref().and_then(|s| s.user.clone()))
    }
}

pub fn use_auth() -> Auth {
    expect_context::<Auth>()
}

/// Links in ObjectBox's style (`/#/sync-trial`) open the same page as `/sync-trial`: the router
/// uses paths, so a hash route is turned into its path before the app starts.
pub fn redirect_hash_route() {
    let window = window();
    let Ok(hash) = window.location().hash() else {
        return;
    };
    if let Some(route) = hash.strip_prefix("#/")
        && let Ok(history) = window.history()
    {
        let _ = history.replace_state_with_url(
            &wasm_bindgen::JsValue::NULL,
            "",
            Some(&format!("/{route}")),
        );
    }
}

#[component]
pub fn App() -> impl IntoView {
    let auth = Auth {
        session: RwSignal::new(None),
    };
    provide_context(auth);
    let checked = RwSignal::new(false);
    api::on_unauthorized(move || auth.set(None));
    spawn_local(async move {
        if let Ok(session) = api::get::<SessionInfo>("/api/session").await {
            auth.set(Some(session));
        }
        checked.set(true);
    });

    view! {
        <Router>
            <Show
                when=move || checked.get()
                fallback=|| view! { <div class="boot">"Loading…"</div> }
            >
                <Show
                    when=move || auth.session.with(Option::is_some)
                    fallback=|| view! { <pages::login::LoginPage/> }
                >
                    <Shell/>
                </Show>
            </Show>
        </Router>
    }
}

/// Navigation and the current page.
#[component]
fn Shell() -> impl IntoView {
    let auth = use_auth();
    let menu_open = RwSignal::new(false);
    take_to_trial_once();

    let logout = move |_| {
        spawn_local(async move {
            let _ = api::send_no_content(gloo_net::http::Method::POST, "/api/logout", &()).await;
            auth.set(None);
        });
    };
    let user = move || auth.user().unwrap_or_else(|| "unsecured".to_owned());
    // Close the phone menu after following a link.
    let location = use_location();
    Effect::new(move |_| {
        location.pathname.track();
        menu_open.set(false);
    });

    view! {
        <div class="shell" class:menu-open=move || menu_open.get()>
            <header class="topbar">
                <button
                    class="menu-toggle"
                    aria-label="Menu"
                    on:click=move |_| menu_open.update(|o| *o = !*o)
                >
                    "☰"
                </button>
                <span class="brand">"Sync Server"</span>
                <span class="spacer"></span>
                <span class="user" data-test="current-user">{user}</span>
                <button class="secondary" on:click=logout>
                    "Log out"
                </button>
            </header>
            <nav class="sidebar">
                <A href="/data">"Data"</A>
                <A href="/schema" exact=true>"Schema"</A>
                <A href="/schema/versions">"Schema versions"</A>
                <A href="/stats">"Sync statistics"</A>
                <A href="/history">"Sync history"</A>
                <A href="/events">"Log events"</A>
                <A href="/status">"Status"</A>
                <A href="/users">"Users"</A>
                <A href="/sync-trial">"Sync trial"</A>
            </nav>
            <main class="content">
                <Routes fallback=|| view! { <p class="empty">"This page does not exist."</p> }>
                    <Route path=path!("/") view=|| view! { <Redirect path="/data"/> }/>
                    <Route path=path!("/data") view=pages::data::EntitiesPage/>
                    <Route path=path!("/data/:entity") view=pages::data::ObjectsPage/>
                    <Route path=path!("/data/:entity/:id") view=pages::data::ObjectPage/>
                    <Route path=path!("/schema") view=pages::schema::SchemaPage/>
                    <Route path=path!("/schema/versions") view=pages::versions::VersionsPage/>
                    <Route path=path!("/stats") view=pages::stats::StatsPage/>
                    <Route path=path!("/history") view=pages::history::HistoryPage/>
                    <Route path=path!("/events") view=pages::events::EventsPage/>
                    <Route path=path!("/status") view=pages::status::StatusPage/>
                    <Route path=path!("/users") view=pages::users::UsersPage/>
                    <Route path=path!("/sync-trial") view=pages::trial::TrialPage/>
                </Routes>
            </main>
        </div>
    }
}

/// On the first visit (once per browser tab), an admin is taken to the sync trial page while
/// the trial still needs accepting; after that the admin may go anywhere.
fn take_to_trial_once() {
    const SHOWN: &str = "sync-trial-shown";
    let storage = window().session_storage().ok().flatten();
    if storage
        .as_ref()
        .is_some_and(|s| s.get_item(SHOWN).ok().flatten().is_some())
    {
        return;
    }
    let navigate = use_navigate();
    let location = use_location();
    spawn_local(async move {
        if let Ok(trial) = api::get::<TrialStatus>("/api/trial").await
            && trial.trial_days.is_some()
            && !trial.accepted
        {
            if let Some(storage) = storage {
                let _ = storage.set_item(SHOWN, "1");
            }
            if location.pathname.get_untracked() != "/sync-trial" {
                navigate("/sync-trial", Default::default());
            }
        }
    });
}
