//! Login, and the first-run setup of the first admin user with the setup token from the log.

use gloo_net::http::Method;
use leptos::prelude::*;
use leptos::task::spawn_local;
use shared_types::admin::sessions::{
    LoginRequest, LoginResponse, SessionInfo, SetupRequest, SetupStatus,
};

use crate::api;
use crate::app::use_auth;
use crate::components::ErrorBox;

#[component]
pub fn LoginPage() -> impl IntoView {
    let setup = LocalResource::new(|| api::get::<SetupStatus>("/api/setup"));
    view! {
        <div class="login-page">
            <div class="login-card">
                <div class="brand">"Sync Server"</div>
                {move || match setup.get() {
                    None => view! { <p>"Loading…"</p> }.into_any(),
                    Some(Ok(status)) if status.needs_setup => view! { <SetupForm/> }.into_any(),
                    _ => view! { <LoginForm/> }.into_any(),
                }}
            </div>
        </div>
    }
}

#[component]
fn LoginForm() -> impl IntoView {
    let auth = use_auth();
    let user = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let error = RwSignal::new(None::<api::ApiError>);
    let busy = RwSignal::new(false);

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        busy.set(true);
        error.set(None);
        let request = LoginRequest {
            user: user.get_untracked(),
            password: password.get_untracked(),
        };
        spawn_local(async move {
            match api::send::<_, LoginResponse>(Method::POST, "/api/login", &request).await {
                Ok(login) => auth.set(Some(session_of(login))),
                Err(e) => error.set(Some(e)),
            }
            busy.set(false);
        });
    };

    view! {
        <form class="stack" on:submit=submit>
            <h1>"Log in"</h1>
            <label>
                "User"
                <input
                    name="user"
                    autocomplete="username"
                    required
                    prop:value=move || user.get()
                    on:input=move |ev| user.set(event_target_value(&ev))
                />
            </label>
            <label>
                "Password"
                <input
                    name="password"
                    type="password"
                    autocomplete="current-password"
                    required
                    prop:value=move || password.get()
                    on:input=move |ev| password.set(event_target_value(&ev))
                />
            </label>
            {move || error.get().map(|error| view! { <ErrorBox error/> })}
            <button type="submit" disabled=move || busy.get()>
                "Log in"
            </button>
        </form>
    }
}

#[component]
fn SetupForm() -> impl IntoView {
    let auth = use_auth();
    let token = RwSignal::new(String::new());
    let user = RwSignal::new("admin".to_owned());
    let password = RwSignal::new(String::new());
    let repeat = RwSignal::new(String::new());
    let error = RwSignal::new(None::<api::ApiError>);
    let busy = RwSignal::new(false);

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if password.get_untracked() != repeat.get_untracked() {
            error.set(Some(api::ApiError {
                status: 0,
                code: "mismatch".to_owned(),
                message: "The two passwords differ.".to_owned(),
            }));
            return;
        }
        busy.set(true);
        error.set(None);
        let request = SetupRequest {
            setup_token: token.get_untracked(),
            user: user.get_untracked(),
            password: password.get_untracked(),
        };
        spawn_local(async move {
            match api::send::<_, LoginResponse>(Method::POST, "/api/setup", &request).await {
                Ok(login) => auth.set(Some(session_of(login))),
                Err(e) => error.set(Some(e)),
            }
            busy.set(false);
        });
    };

    view! {
        <form class="stack" on:submit=submit>
            <h1>"Create the first admin"</h1>
            <p class="hint">
                "No admin user exists yet. The server printed a one-time setup token in its log \
                 (\"POST /api/setup with setup token …\"); paste it here."
            </p>
            <label>
                "Setup token"
                <input
                    name="setup-token"
                    required
                    prop:value=move || token.get()
                    on:input=move |ev| token.set(event_target_value(&ev))
                />
            </label>
            <label>
                "User"
                <input
                    name="user"
                    autocomplete="username"
                    required
                    prop:value=move || user.get()
                    on:input=move |ev| user.set(event_target_value(&ev))
                />
            </label>
            <label>
                "Password"
                <input
                    name="password"
                    type="password"
                    autocomplete="new-password"
                    required
                    prop:value=move || password.get()
                    on:input=move |ev| password.set(event_target_value(&ev))
                />
            </label>
            <label>
                "Repeat password"
                <input
                    name="password-repeat"
                    type="password"
                    autocomplete="new-password"
                    required
                    prop:value=move || repeat.get()
                    on:input=move |ev| repeat.set(event_target_value(&ev))
                />
            </label>
            {move || error.get().map(|error| view! { <ErrorBox error/> })}
            <button type="submit" disabled=move || busy.get()>
                "Create admin and log in"
            </button>
        </form>
    }
}

fn session_of(login: LoginResponse) -> SessionInfo {
    SessionInfo {
        user: Some(login.user),
        permissions: login.permissions,
        expires_at_ms: Some(login.expires_at_ms),
        csrf_token: Some(login.csrf_token),
        unsecured: false,
    }
}
