//! Users: list (`GET /api/users`), add (`POST`), delete, change password and edit permissions
//! (`DELETE /api/users/{name}`, `PUT .../password`, `PUT .../permissions`). The server's
//! refusals (yourself, the last admin, a taken name) are shown in its words.

use gloo_net::http::Method;
use leptos::prelude::*;
use leptos::task::spawn_local;
use shared_types::admin::sessions::{
    ChangePasswordRequest, CreateUserRequest, Permissions, SetPermissionsRequest, User,
};

use crate::api::{self, ApiError};
use crate::app::use_auth;
use crate::components::{ErrorBox, Loading, PageHeader};
use crate::format;

/// The shortest password the server accepts (`MIN_PASSWORD_LEN` in the server).
pub const MIN_PASSWORD_LEN: usize = 8;

/// What a row's dialog does.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Dialog {
    Permissions(User),
    Password(User),
    Delete(User),
}

#[component]
pub fn UsersPage() -> impl IntoView {
    let users = LocalResource::new(|| api::get::<Vec<User>>("/api/users"));
    let adding = RwSignal::new(false);
    let dialog = RwSignal::new(None::<Dialog>);
    let notice = RwSignal::new(None::<String>);
    let done = move |message: String| {
        notice.set(Some(message));
        dialog.set(None);
        users.refetch();
    };

    view! {
        <PageHeader title="Users">
            <button data-test="add-user" on:click=move |_| adding.update(|a| *a = !*a)>
                {move || if adding.get() { "Close form" } else { "Add user" }}
            </button>
        </PageHeader>
        <p class="hint">
            "Users of this admin app. With the sync login permission they can also log in as sync clients (the obxAdmin credentials); sync write lets them send changes."
        </p>
        {move || adding.get().then(|| view! {
            <AddUserForm on_done=move |m| {
                adding.set(false);
                done(m);
            }/>
        })}
        {move || notice.get().map(|n| view! { <div class="notice" data-test="users-notice">{n}</div> })}
        {move || match users.get() {
            None => view! { <Loading what="users"/> }.into_any(),
            Some(Err(error)) => view! { <ErrorBox error/> }.into_any(),
            Some(Ok(list)) => view! { <UsersTable users=list dialog/> }.into_any(),
        }}
        {move || dialog.get().map(|d| match d {
            Dialog::Permissions(user) => view! { <PermissionsDialog user dialog on_done=done/> }.into_any(),
            Dialog::Password(user) => view! { <PasswordDialog user dialog on_done=done/> }.into_any(),
            Dialog::Delete(user) => view! { <DeleteDialog user dialog on_done=done/> }.into_any(),
        })}
    }
}

#[component]
fn UsersTable(users: Vec<User>, dialog: RwSignal<Option<Dialog>>) -> impl IntoView {
    let me = use_auth().user();
    if users.is_empty() {
        return view! { <p class="empty">"No users."</p> }.into_any();
    }
    view! {
        <div class="table-wrap">
            <table class="users-table" data-test="users-table">
                <thead>
                    <tr>
                        <th>"Name"</th>
                        <th>"Permissions"</th>
                        <th>"Created"</th>
                        <th>"Actions"</th>
                    </tr>
                </thead>
                <tbody>
                    {users
                        .into_iter()
                        .map(|user| {
                            let is_me = me.as_deref() == Some(user.name.as_str());
                            let p = user.permissions;
                            let (u1, u2, u3) = (user.clone(), user.clone(), user.clone());
                            view! {
                                <tr data-test="user-row" data-user=user.name.clone()>
                                    <td>
                                        <strong>{user.name.clone()}</strong>
                                        {is_me.then(|| view! { " " <span class="badge accent">"you"</span> })}
                                    </td>
                                    <td class="perms" data-test="user-permissions">{permission_badges(p)}</td>
                                    <td class="created">{format::time_ms(user.created_ms)}</td>
                                    <td class="actions">
                                        <button
                                            class="secondary"
                                            data-test="edit-permissions"
                                            on:click=move |_| dialog.set(Some(Dialog::Permissions(u1.clone())))
                                        >
                                            "Permissions"
                                        </button>
                                        <button
                                            class="secondary"
                                            data-test="change-password"
                                            on:click=move |_| dialog.set(Some(Dialog::Password(u2.clone())))
                                        >
                                            "Password"
                                        </button>
                                        <button
                                            class="danger"
                                            data-test="delete-user"
                                            on:click=move |_| dialog.set(Some(Dialog::Delete(u3.clone())))
                                        >
                                            "Delete"
                                        </button>
                                    </td>
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

#[component]
fn AddUserForm(on_done: impl Fn(String) + Copy + Send + Sync + 'static) -> impl IntoView {
    let name = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let repeat = RwSignal::new(String::new());
    let permissions = RwSignal::new(Permissions {
        admin: false,
        sync_login: true,
        sync_write: true,
    });
    let error = RwSignal::new(None::<ApiError>);
    let busy = RwSignal::new(false);

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if let Some(problem) = password_problem(&password.get_untracked(), &repeat.get_untracked())
        {
            error.set(Some(local_error(&problem)));
            return;
        }
        busy.set(true);
        error.set(None);
        let request = CreateUserRequest {
            name: name.get_untracked().trim().to_owned(),
            password: password.get_untracked(),
            permissions: permissions.get_untracked(),
        };
        spawn_local(async move {
            match api::send::<_, User>(Method::POST, "/api/users", &request).await {
                Ok(user) => on_done(format!("User {} created.", user.name)),
                Err(e) => error.set(Some(e)),
            }
            busy.set(false);
        });
    };

    view! {
        <form class="panel stack user-form" data-test="add-user-form" on:submit=submit>
            <h2 class="panel-title">"Add a user"</h2>
            <div class="form-grid">
                <label>
                    "Name"
                    <input
                        data-test="new-user-name"
                        autocomplete="off"
                        required
                        maxlength="64"
                        pattern="[A-Za-z0-9._@\\-]+"
                        title="A-Z, a-z, 0-9, '.', '_', '@' and '-'"
                        prop:value=move || name.get()
                        on:input=move |ev| name.set(event_target_value(&ev))
                    />
                </label>
                <label>
                    "Password"
                    <input
                        type="password"
                        data-test="new-user-password"
                        autocomplete="new-password"
                        required
                        prop:value=move || password.get()
                        on:input=move |ev| password.set(event_target_value(&ev))
                    />
                </label>
                <label>
                    "Repeat password"
                    <input
                        type="password"
                        data-test="new-user-repeat"
                        autocomplete="new-password"
                        required
                        prop:value=move || repeat.get()
                        on:input=move |ev| repeat.set(event_target_value(&ev))
                    />
                </label>
            </div>
            <PermissionBoxes permissions/>
            {move || error.get().map(|error| view! { <ErrorBox error/> })}
            <div class="row">
                <button type="submit" data-test="create-user" disabled=move || busy.get()>
                    "Create user"
                </button>
                <span class="hint">{format!("Names use A-Z, a-z, 0-9, '.', '_', '@' and '-'; passwords have at least {MIN_PASSWORD_LEN} characters.")}</span>
            </div>
        </form>
    }
}

/// The three permission checkboxes, bound to `permissions`.
#[component]
fn PermissionBoxes(permissions: RwSignal<Permissions>) -> impl IntoView {
    type Field = fn(&mut Permissions) -> &mut bool;
    let boxes: [(&str, &str, &str, Field); 3] = [
        (
            "admin",
            "Admin",
            "may use this admin app and its API",
            |p| &mut p.admin,
        ),
        (
            "sync-login",
            "Sync login",
            "may log in as a sync client",
            |p| &mut p.sync_login,
        ),
        (
            "sync-write",
            "Sync write",
            "may send changes as a sync client",
            |p| &mut p.sync_write,
        ),
    ];
    view! {
        <fieldset class="permissions">
            <legend>"Permissions"</legend>
            {boxes
                .into_iter()
                .map(|(key, label, what, field)| {
                    view! {
                        <label class="inline">
                            <input
                                type="checkbox"
                                data-test=format!("perm-{key}")
                                prop:checked=move || {
                                    let mut p = permissions.get();
                                    *field(&mut p)
                                }
                                on:change=move |ev| {
                                    let on = event_target_checked(&ev);
                                    permissions.update(|p| *field(p) = on);
                                }
                            />
                            <strong>{label}</strong>
                            <span class="muted">{what}</span>
                        </label>
                    }
                })
                .collect_view()}
        </fieldset>
    }
}

#[component]
fn PermissionsDialog(
    user: User,
    dialog: RwSignal<Option<Dialog>>,
    on_done: impl Fn(String) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let is_me = use_auth().user().as_deref() == Some(user.name.as_str());
    let permissions = RwSignal::new(user.permissions);
    let error = RwSignal::new(None::<ApiError>);
    let busy = RwSignal::new(false);
    let name = user.name.clone();
    let save = move |_| {
        busy.set(true);
        error.set(None);
        let name = name.clone();
        let request = SetPermissionsRequest {
            permissions: permissions.get_untracked(),
        };
        spawn_local(async move {
            let path = format!("/api/users/{}/permissions", api::segment(&name));
            match api::send::<_, User>(Method::PUT, &path, &request).await {
                Ok(user) => on_done(format!("Permissions of {} saved.", user.name)),
                Err(e) => error.set(Some(e)),
            }
            busy.set(false);
        });
    };
    view! {
        <DialogFrame title=format!("Permissions of {}", user.name) dialog>
            <PermissionBoxes permissions/>
            {(is_me).then(|| view! {
                <p class="hint">"Without the admin permission you can no longer use this app after saving."</p>
            })}
            {move || error.get().map(|error| view! { <ErrorBox error/> })}
            <div class="row dialog-actions">
                <button data-test="save-permissions" disabled=move || busy.get() on:click=save.clone()>
                    "Save"
                </button>
                <button class="secondary" on:click=move |_| dialog.set(None)>"Cancel"</button>
            </div>
        </DialogFrame>
    }
}

#[component]
fn PasswordDialog(
    user: User,
    dialog: RwSignal<Option<Dialog>>,
    on_done: impl Fn(String) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let is_me = use_auth().user().as_deref() == Some(user.name.as_str());
    let current = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let repeat = RwSignal::new(String::new());
    let error = RwSignal::new(None::<ApiError>);
    let busy = RwSignal::new(false);
    let name = StoredValue::new(user.name.clone());
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if let Some(problem) = password_problem(&password.get_untracked(), &repeat.get_untracked())
        {
            error.set(Some(local_error(&problem)));
            return;
        }
        busy.set(true);
        error.set(None);
        let name = name.get_value();
        let request = ChangePasswordRequest {
            current_password: is_me.then(|| current.get_untracked()),
            new_password: password.get_untracked(),
        };
        spawn_local(async move {
            let path = format!("/api/users/{}/password", api::segment(&name));
            match api::send_no_content(Method::PUT, &path, &request).await {
                Ok(()) if is_me => {
                    on_done("Your password was changed; your other sessions ended.".to_owned());
                }
                Ok(()) => on_done(format!("Password of {name} changed; their sessions ended.")),
                Err(e) => error.set(Some(e)),
            }
            busy.set(false);
        });
    };
    view! {
        <DialogFrame title=format!("Password of {}", user.name) dialog>
            <form class="stack" on:submit=submit>
                {is_me.then(|| view! {
                    <label>
                        "Current password"
                        <input
                            type="password"
                            data-test="current-password"
                            autocomplete="current-password"
                            required
                            prop:value=move || current.get()
                            on:input=move |ev| current.set(event_target_value(&ev))
                        />
                    </label>
                })}
                <label>
                    "New password"
                    <input
                        type="password"
                        data-test="new-password"
                        autocomplete="new-password"
                        required
                        prop:value=move || password.get()
                        on:input=move |ev| password.set(event_target_value(&ev))
                    />
                </label>
                <label>
                    "Repeat new password"
                    <input
                        type="password"
                        data-test="repeat-password"
                        autocomplete="new-password"
                        required
                        prop:value=move || repeat.get()
                        on:input=move |ev| repeat.set(event_target_value(&ev))
                    />
                </label>
                {move || error.get().map(|error| view! { <ErrorBox error/> })}
                <div class="row dialog-actions">
                    <button type="submit" data-test="save-password" disabled=move || busy.get()>
                        "Change password"
                    </button>
                    <button type="button" class="secondary" on:click=move |_| dialog.set(None)>
                        "Cancel"
                    </button>
                </div>
            </form>
        </DialogFrame>
    }
}

#[component]
fn DeleteDialog(
    user: User,
    dialog: RwSignal<Option<Dialog>>,
    on_done: impl Fn(String) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let error = RwSignal::new(None::<ApiError>);
    let busy = RwSignal::new(false);
    let name = StoredValue::new(user.name.clone());
    let confirm = move |_| {
        busy.set(true);
        error.set(None);
        let name = name.get_value();
        spawn_local(async move {
            let path = format!("/api/users/{}", api::segment(&name));
            match api::send_no_content(Method::DELETE, &path, &()).await {
                Ok(()) => on_done(format!("User {name} deleted.")),
                Err(e) => error.set(Some(refusal(e))),
            }
            busy.set(false);
        });
    };
    view! {
        <DialogFrame title=format!("Delete {}?", user.name) dialog>
            <p>
                "The user " <strong>{user.name.clone()}</strong>
                " is removed and their sessions end at once. This cannot be undone."
            </p>
            {move || error.get().map(|error| view! { <ErrorBox error/> })}
            <div class="row dialog-actions">
                <button class="danger" data-test="confirm-delete" disabled=move || busy.get() on:click=confirm>
                    "Delete"
                </button>
                <button class="secondary" on:click=move |_| dialog.set(None)>"Cancel"</button>
            </div>
        </DialogFrame>
    }
}

/// A modal dialog over the page; the backdrop and Escape close it.
#[component]
fn DialogFrame(
    #[prop(into)] title: String,
    dialog: RwSignal<Option<Dialog>>,
    children: Children,
) -> impl IntoView {
    view! {
        <div
            class="dialog-backdrop"
            on:click=move |_| dialog.set(None)
            on:keydown=move |ev| {
                if ev.key() == "Escape" {
                    dialog.set(None);
                }
            }
        >
            <div
                class="dialog user-dialog"
                role="dialog"
                aria-modal="true"
                data-test="user-dialog"
                on:click=|ev| ev.stop_propagation()
            >
                <h2>{title}</h2>
                {children()}
            </div>
        </div>
    }
}

// Helpers below.

/// A badge per permission the user has.
fn permission_badges(p: Permissions) -> AnyView {
    let badges: Vec<(&str, &str)> = [
        (p.admin, "admin", "accent"),
        (p.sync_login, "sync login", "ok"),
        (p.sync_write, "sync write", "ok"),
    ]
    .into_iter()
    .filter(|(on, _, _)| *on)
    .map(|(_, name, class)| (name, class))
    .collect();
    if badges.is_empty() {
        return view! { <span class="muted">"none"</span> }.into_any();
    }
    badges
        .into_iter()
        .map(|(name, class)| view! { <span class=format!("badge {class}")>{name}</span> " " })
        .collect_view()
        .into_any()
}

fn password_problem(password: &str, repeat: &str) -> Option<String> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        Some(format!(
            "The password is too short: use at least {MIN_PASSWORD_LEN} characters."
        ))
    } else if password != repeat {
        Some("The two passwords differ.".to_owned())
    } else {
        None
    }
}

/// Names the refusals of `DELETE /api/users/{name}` before the server's own words.
fn refusal(e: ApiError) -> ApiError {
    let why = match e.code.as_str() {
        "last_admin" => "Refused: at least one user must keep the admin permission. ",
        "conflict" => "Refused: you cannot delete the user you are logged in as. ",
        _ => return e,
    };
    ApiError {
        message: format!("{why}({})", e.message),
        ..e
    }
}

fn local_error(message: &str) -> ApiError {
    ApiError {
        status: 0,
        code: "input".to_owned(),
        message: message.to_owned(),
    }
}
