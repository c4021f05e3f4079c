//! Sync trial: the terms and the consent with the evaluator's role (`POST /api/trial/accept`),
//! then the trial's status (`GET /api/trial`).

use gloo_net::http::Method;
use leptos::prelude::*;
use leptos::task::spawn_local;
use shared_types::admin::trial::{AcceptTrial, TrialRole, TrialStatus};

use crate::api::{self, ApiError};
use crate::components::{ErrorBox, Loading, PageHeader};
use crate::format;

/// Every role an evaluator can choose, with its words and its `data-test` key.
pub const ROLES: [(TrialRole, &str, &str); 8] = [
    (
        TrialRole::Company1To10,
        "Company with 1–10 employees",
        "1-10",
    ),
    (
        TrialRole::Company11To50,
        "Company with 11–50 employees",
        "11-50",
    ),
    (
        TrialRole::Company51To250,
        "Company with 51–250 employees",
        "51-250",
    ),
    (
        TrialRole::Company251To1000,
        "Company with 251–1,000 employees",
        "251-1000",
    ),
    (
        TrialRole::CompanyOver1000,
        "Company with more than 1,000 employees",
        "1000-plus",
    ),
    (
        TrialRole::ProfessionalIndividual,
        "Professional individual",
        "professional",
    ),
    (TrialRole::Hobbyist, "Hobbyist", "hobbyist"),
    (TrialRole::Student, "Student", "student"),
];

const DAY_MS: u64 = 86_400_000;

#[component]
pub fn TrialPage() -> impl IntoView {
    let trial = LocalResource::new(|| api::get::<TrialStatus>("/api/trial"));
    // The answer of a successful acceptance replaces the loaded status.
    let accepted = RwSignal::new(None::<TrialStatus>);
    view! {
        <PageHeader title="Sync trial"/>
        {move || {
            let status = match accepted.get() {
                Some(status) => Some(Ok(status)),
                None => trial.get(),
            };
            match status {
                None => view! { <Loading what="the trial status"/> }.into_any(),
                Some(Err(error)) => view! { <ErrorBox error/> }.into_any(),
                Some(Ok(s)) if s.trial_days.is_none() => view! { <NoTrial status=s/> }.into_any(),
                Some(Ok(s)) if !s.accepted => view! { <Terms status=s accepted/> }.into_any(),
                Some(Ok(s)) => view! { <TrialState status=s/> }.into_any(),
            }
        }}
    }
}

/// No `--trial-days`: nothing to accept, no expiry.
#[component]
fn NoTrial(status: TrialStatus) -> impl IntoView {
    view! {
        <section class="panel" data-test="trial-none">
            <p>
                "No trial period is configured on this server (" <code>"--trial-days"</code>
                " / " <code>"trialDays"</code>
                "): sync clients are admitted without accepting trial terms, and nothing expires."
            </p>
            <dl class="facts">
                <dt>"Dataset"</dt>
                <dd class="mono">{status.dataset_id}</dd>
                <dt>"Created"</dt>
                <dd>{format::time_ms(status.created_ms)}</dd>
            </dl>
        </section>
    }
}

/// The terms, the role and the consent.
#[component]
fn Terms(status: TrialStatus, accepted: RwSignal<Option<TrialStatus>>) -> impl IntoView {
    let role = RwSignal::new(None::<TrialRole>);
    let consent = RwSignal::new(false);
    let error = RwSignal::new(None::<ApiError>);
    let busy = RwSignal::new(false);
    let days = status.trial_days.unwrap_or(0);
    let period = if days == 0 {
        "The trial has no time limit on this server, but its terms must be accepted once per dataset before sync clients are admitted.".to_owned()
    } else {
        format!(
            "The trial period is {days} days per dataset, counted from the dataset's creation on {}: it ends on {}.",
            format::time_ms(status.created_ms),
            format::time_ms(status.created_ms + u64::from(days) * DAY_MS)
        )
    };

    let accept = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Some(role) = role.get_untracked() else {
            return;
        };
        busy.set(true);
        error.set(None);
        spawn_local(async move {
            let body = AcceptTrial { role };
            match api::send::<_, TrialStatus>(Method::POST, "/api/trial/accept", &body).await {
                Ok(status) => accepted.set(Some(status)),
                Err(e) => error.set(Some(e)),
            }
            busy.set(false);
        });
    };

    view! {
        <form class="panel stack trial-terms" data-test="trial-terms" on:submit=accept>
            <h2 class="panel-title">"Trial terms"</h2>
            <ul class="terms">
                <li>"This sync server is used for evaluation: to try sync with your own data model and clients."</li>
                <li>{period}</li>
                <li>
                    "Sync clients are refused until an admin accepts these terms. "
                    {(days > 0).then_some("After the period ends, client logins are refused again; the data stays where it is.")}
                </li>
                <li>{status.how_to_restart.clone()}</li>
                <li>"The acceptance is recorded once for this dataset with your user name, the time and the role you choose below, and appears in the log events."</li>
            </ul>
            <fieldset class="roles">
                <legend>"Which describes you best?"</legend>
                {ROLES
                    .into_iter()
                    .map(|(r, label, key)| {
                        view! {
                            <label class="inline">
                                <input
                                    type="radio"
                                    name="trial-role"
                                    data-test=format!("role-{key}")
                                    prop:checked=move || role.get() == Some(r)
                                    on:change=move |_| role.set(Some(r))
                                />
                                {label}
                            </label>
                        }
                    })
                    .collect_view()}
            </fieldset>
            <label class="inline consent">
                <input
                    type="checkbox"
                    data-test="trial-consent"
                    prop:checked=move || consent.get()
                    on:change=move |ev| consent.set(event_target_checked(&ev))
                />
                "I have read the trial terms and accept them."
            </label>
            {move || error.get().map(|error| view! { <ErrorBox error/> })}
            <div class="row">
                <button
                    type="submit"
                    data-test="trial-accept"
                    disabled=move || busy.get() || !consent.get() || role.with(Option::is_none)
                >
                    "Accept and start the trial"
                </button>
                <span class="hint">
                    {move || if role.with(Option::is_none) {
                        "Choose a role and tick the consent to continue."
                    } else if !consent.get() {
                        "Tick the consent to continue."
                    } else {
                        "No account or sign-up is needed: everything stays on this server."
                    }}
                </span>
            </div>
        </form>
        <section class="panel">
            <h2 class="panel-title">"Dataset"</h2>
            <dl class="facts">
                <dt>"Dataset"</dt>
                <dd class="mono">{status.dataset_id.clone()}</dd>
                <dt>"Created"</dt>
                <dd>{format::time_ms(status.created_ms)}</dd>
                <dt>"Clients admitted"</dt>
                <dd><span class="badge warn">"no, the terms are not accepted yet"</span></dd>
            </dl>
        </section>
    }
}

/// The accepted trial: how long it runs and whether clients get in.
#[component]
fn TrialState(status: TrialStatus) -> impl IntoView {
    let days = status.trial_days.unwrap_or(0);
    let left = match (days, status.days_left) {
        (0, _) | (_, None) => view! { <span class="big-number">"∞"</span> " no time limit" }.into_any(),
        (_, Some(left)) => view! {
            <span class="big-number" data-test="trial-days-left">{left}</span>
            {format!(" of {days} days left · ends {}", format::time_ms(status.created_ms + u64::from(days) * DAY_MS))}
        }
        .into_any(),
    };
    let role = status
        .role
        .and_then(|r| ROLES.iter().find(|(x, _, _)| *x == r))
        .map(|(_, label, _)| *label)
        .unwrap_or("—");
    let admitted = if status.clients_admitted {
        view! { <span class="badge ok" data-test="trial-admitted">"yes"</span> }.into_any()
    } else {
        view! { <span class="badge warn" data-test="trial-admitted">"no"</span> }.into_any()
    };
    view! {
        {status.expired.then(|| view! {
            <div class="error" role="alert" data-test="trial-expired">
                <strong>"The trial period of this dataset has ended; sync clients are refused. "</strong>
                {status.how_to_restart.clone()}
            </div>
        })}
        <section class="panel" data-test="trial-status">
            <h2 class="panel-title">"Trial status"</h2>
            <p class="trial-left">{left}</p>
            <dl class="facts">
                <dt>"Dataset"</dt>
                <dd class="mono" data-test="trial-dataset">{status.dataset_id.clone()}</dd>
                <dt>"Created"</dt>
                <dd>{format::time_ms(status.created_ms)}</dd>
                <dt>"Accepted by"</dt>
                <dd data-test="trial-accepted-by">{status.accepted_by.clone().unwrap_or_default()}</dd>
                <dt>"Accepted"</dt>
                <dd>{status.accepted_ms.map(format::time_ms).unwrap_or_default()}</dd>
                <dt>"Role"</dt>
                <dd>{role}</dd>
                <dt>"Clients admitted"</dt>
                <dd>{admitted}</dd>
            </dl>
        </section>
        {(!status.expired).then(|| view! {
            <p class="hint">{status.how_to_restart.clone()}</p>
        })}
    }
}
