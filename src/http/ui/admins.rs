//! Administrators: each with its state and live API tokens; disabling, enabling, deleting,
//! resetting a password and issuing or revoking a token. A new password or token is shown
//! once, on the page the form redirects to.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde::Deserialize;

use super::once::OnceResult;
use super::pages::{AdminRow, AdminSecretPage, AdminTokenRow, AdminsPage, CopyField};
use super::{
    CsrfForm, CsrfOnly, Done, DoneQuery, UiAdmin, UiError, UiForm, display_optional_time,
    display_time, render, see_other,
};
use crate::domain::clock;
use crate::http::admin::admins::parse_lifetime;
use crate::http::{AppState, no_store};

const BACK: &str = "/ui/admins";

/// Every admin with its tokens, the add form, and what the form that led here did.
pub async fn list(
    State(state): State<AppState>,
    admin: UiAdmin,
    Query(done): Query<DoneQuery>,
) -> Result<Response, UiError> {
    let accounts = &state.services.accounts;
    let mut rows = Vec::new();
    for account in accounts.admins().await? {
        let (_, tokens) = accounts.api_tokens(&account.username).await?;
        rows.push(AdminRow {
            is_me: account.id == admin.principal.admin.id,
            enabled: account.enabled(),
            created: display_time(account.created_at),
            tokens: tokens
                .iter()
                .map(|t| AdminTokenRow {
                    id: t.id,
                    created: display_time(t.created_at),
                    expires: display_time(t.expires_at),
                    last_used: display_optional_time(t.last_used_at),
                })
                .collect(),
            username: account.username,
        });
    }
    Ok(render(&AdminsPage {
        chrome: admin
            .chrome("Administrators", "admins")
            .with_flash(done.message()),
        csrf: admin.csrf(),
        rows,
    }))
}

/// Keeps a new password or token for its page and sends the browser there.
fn to_secret_page(
    state: &AppState,
    admin: &UiAdmin,
    heading: String,
    username: String,
    fields: Vec<(&'static str, String)>,
) -> Result<Response, UiError> {
    let once = admin.keep_once(
        state,
        OnceResult::AdminSecret {
            heading,
            username,
            fields,
        },
    )?;
    Ok(see_other(&format!("/ui/admins/shown/{once}")))
}

/// An admin's new password or API token, the first time this page is opened.
pub async fn shown(
    State(state): State<AppState>,
    admin: UiAdmin,
    Path(once): Path<String>,
) -> Result<Response, UiError> {
    match admin.take_once(&state, &once) {
        Some(OnceResult::AdminSecret {
            heading, fields, ..
        }) => {
            let fields = fields
                .into_iter()
                .map(|(label, value)| CopyField {
                    id: field_id(label),
                    label,
                    value,
                })
                .collect();
            Ok(no_store(render(&AdminSecretPage {
                chrome: admin.chrome(heading.clone(), "admins"),
                heading,
                fields,
            })))
        }
        _ => Err(UiError::already_shown(
            "The password or token",
            "reset the password or create another token",
            BACK,
        )),
    }
}

fn field_id(label: &str) -> &'static str {
    match label {
        "Username" => "admin_username",
        "Password" => "admin_password",
        "Token" => "admin_token",
        "Token id" => "admin_token_id",
        _ => "admin_expires",
    }
}

/// The add-admin form as posted.
#[derive(Deserialize)]
pub struct NewAdminForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    username: String,
}

impl CsrfForm for NewAdminForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// Adds an admin; the page it leads to shows its generated password, this once.
pub async fn create(
    State(state): State<AppState>,
    posted: UiForm<NewAdminForm>,
) -> Result<Response, UiError> {
    let UiForm { admin, form } = posted;
    let (created, password) = state
        .services
        .accounts
        .create(form.username.trim(), &admin.principal.actor())
        .await
        .map_err(|e| UiError::from(e).back_to(BACK))?;
    let heading = format!("Administrator {} added", created.username);
    let fields = vec![
        ("Username", created.username.clone()),
        ("Password", password.expose().to_owned()),
    ];
    to_secret_page(&state, &admin, heading, created.username, fields)
}

/// Disables an admin.
pub async fn disable(
    State(state): State<AppState>,
    Path(username): Path<String>,
    posted: UiForm<CsrfOnly>,
) -> Result<Response, UiError> {
    set_enabled(state, username, posted, false).await
}

/// Enables an admin again.
pub async fn enable(
    State(state): State<AppState>,
    Path(username): Path<String>,
    posted: UiForm<CsrfOnly>,
) -> Result<Response, UiError> {
    set_enabled(state, username, posted, true).await
}

async fn set_enabled(
    state: AppState,
    username: String,
    posted: UiForm<CsrfOnly>,
    enabled: bool,
) -> Result<Response, UiError> {
    let accounts = &state.services.accounts;
    accounts
        .set_enabled(&username, enabled, &posted.admin.principal.actor())
        .await
        .map_err(|e| UiError::from(e).back_to(BACK))?;
    if !enabled && username == posted.admin.principal.admin.username {
        // Our own session just ended.
        return Ok(see_other("/ui/login"));
    }
    let done = if enabled {
        Done::AdminEnabled
    } else {
        Done::AdminDisabled
    };
    Ok(done.redirect(BACK))
}

/// Deletes an admin with its sessions and tokens.
pub async fn delete(
    State(state): State<AppState>,
    Path(username): Path<String>,
    posted: UiForm<CsrfOnly>,
) -> Result<Response, UiError> {
    state
        .services
        .accounts
        .delete(&username, &posted.admin.principal.actor())
        .await
        .map_err(|e| UiError::from(e).back_to(BACK))?;
    if username == posted.admin.principal.admin.username {
        return Ok(see_other("/ui/login"));
    }
    Ok(Done::AdminDeleted.redirect(BACK))
}

/// Replaces an admin's password; the page it leads to shows the new one, this once.
pub async fn reset_password(
    State(state): State<AppState>,
    Path(username): Path<String>,
    posted: UiForm<CsrfOnly>,
) -> Result<Response, UiError> {
    let admin = posted.admin;
    let (changed, password) = state
        .services
        .accounts
        .reset_password(&username, &admin.principal.actor())
        .await
        .map_err(|e| UiError::from(e).back_to(BACK))?;
    let heading = format!("New password for {}", changed.username);
    let fields = vec![
        ("Username", changed.username.clone()),
        ("Password", password.expose().to_owned()),
    ];
    to_secret_page(&state, &admin, heading, changed.username, fields)
}

/// The create-token form as posted.
#[derive(Deserialize)]
pub struct NewTokenForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    expires_in: String,
}

impl CsrfForm for NewTokenForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// Issues an API token; the page it leads to shows it, this once.
pub async fn create_token(
    State(state): State<AppState>,
    Path(username): Path<String>,
    posted: UiForm<NewTokenForm>,
) -> Result<Response, UiError> {
    let UiForm { admin, form } = posted;
    let back = |e: UiError| e.back_to(BACK);
    let lifetime = match form.expires_in.trim() {
        "" => None,
        text => Some(parse_lifetime(text).map_err(|e| back(e.into()))?),
    };
    let issued = state
        .services
        .accounts
        .create_api_token(&username, lifetime, &admin.principal.actor())
        .await
        .map_err(|e| back(e.into()))?;
    let heading = format!("New API token for {username}");
    let fields = vec![
        ("Token", issued.token.expose().to_owned()),
        ("Token id", issued.id.to_string()),
        ("Expires", clock::rfc3339(issued.expires_at)),
    ];
    to_secret_page(&state, &admin, heading, username, fields)
}

/// Revokes one API token.
pub async fn revoke_token(
    State(state): State<AppState>,
    Path((username, token)): Path<(String, i64)>,
    posted: UiForm<CsrfOnly>,
) -> Result<Response, UiError> {
    state
        .services
        .accounts
        .revoke_api_token(token, Some(&username), &posted.admin.principal.actor())
        .await
        .map_err(|e| UiError::from(e).back_to(BACK))?;
    Ok(Done::AdminTokenRevoked.redirect(BACK))
}
