//! Tenants: the list with each tenant's environment, tenant_hash and OAuth switch; creating
//! one and rotating its `oauth_key_secret`, each shown once; revoking its secureApi tokens.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::once::OnceResult;
use super::pages::{SecretPage, TenantRow, TenantsPage};
use super::{CsrfForm, CsrfOnly, Done, DoneQuery, UiAdmin, UiError, UiForm, render, see_other};
use crate::domain::admin::CreatedTenant;
use crate::domain::model::{Environment, TokenFormat};
use crate::http::{AppState, no_store};

/// The tenant list and the create form, and what the form that led here did.
pub async fn list(
    State(state): State<AppState>,
    admin: UiAdmin,
    Query(done): Query<DoneQuery>,
) -> Result<Response, UiError> {
    let rows = state
        .services
        .admin
        .tenants()
        .await?
        .into_iter()
        .map(|t| TenantRow {
            id: t.id,
            environment: t.environment.as_str(),
            oauth_enabled: t.oauth_enabled,
            token_format: t.token_format.map_or("default", TokenFormat::as_str),
            name: t.name,
            tenant_hash: t.tenant_hash,
        })
        .collect();
    Ok(render(&TenantsPage {
        chrome: admin
            .chrome("Tenants", "tenants")
            .with_flash_text(done.banner()),
        csrf: admin.csrf(),
        rows,
        default_format: state
            .services
            .authn
            .jwt()
            .settings()
            .default_format
            .as_str(),
    }))
}

/// The create-tenant form as posted.
#[derive(Deserialize)]
pub struct NewTenantForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    environment: String,
    /// Present (`on`) when the checkbox is ticked.
    oauth: Option<String>,
}

impl CsrfForm for NewTenantForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

fn secret_page(
    admin: &UiAdmin,
    heading: String,
    flash: &'static str,
    created: &CreatedTenant,
) -> Response {
    no_store(render(&SecretPage {
        chrome: admin
            .chrome(heading.clone(), "tenants")
            .with_flash(Some(flash)),
        heading,
        tenant_id: created.tenant.id,
        tenant_hash: created.tenant.tenant_hash.clone(),
        oauth_key_secret: created
            .oauth_key_secret
            .as_ref()
            .map(|s| s.expose().to_owned()),
    }))
}

/// Keeps a new `oauth_key_secret` for its page and sends the browser there.
fn to_secret_page(
    state: &AppState,
    admin: &UiAdmin,
    heading: String,
    flash: &'static str,
    created: CreatedTenant,
) -> Result<Response, UiError> {
    let id = created.tenant.id;
    let once = admin.keep_once(
        state,
        OnceResult::TenantSecret {
            heading,
            flash,
            created,
        },
    )?;
    Ok(see_other(&format!("/ui/tenants/{id}/secret/{once}")))
}

/// A tenant's new `oauth_key_secret`, the first time this page is opened.
pub async fn secret(
    State(state): State<AppState>,
    admin: UiAdmin,
    Path((id, once)): Path<(i64, String)>,
) -> Result<Response, UiError> {
    match admin.take_once(&state, &once) {
        Some(OnceResult::TenantSecret {
            heading,
            flash,
            created,
        }) if created.tenant.id == id => Ok(secret_page(&admin, heading, flash, &created)),
        _ => Err(UiError::already_shown(
            "The oauth_key_secret",
            "rotate it on the tenants page",
            "/ui/tenants",
        )),
    }
}

/// Creates a tenant; with OAuth, the page it leads to shows its secret, this once.
pub async fn create(
    State(state): State<AppState>,
    posted: UiForm<NewTenantForm>,
) -> Result<Response, UiError> {
    let UiForm { admin, form } = posted;
    let back = |e: UiError| e.back_to("/ui/tenants");
    let environment: Environment = form
        .environment
        .parse()
        .map_err(|e: String| back(UiError::new(StatusCode::BAD_REQUEST, e)))?;
    let created = state
        .services
        .admin
        .create_tenant(
            &form.name,
            environment,
            form.oauth.is_some(),
            &admin.principal.actor(),
        )
        .await
        .map_err(|e| back(e.into()))?;
    if created.oauth_key_secret.is_none() {
        return Ok(Done::TenantCreated.redirect("/ui/tenants"));
    }
    let heading = format!("Tenant {} created", created.tenant.name);
    to_secret_page(&state, &admin, heading, "Tenant created.", created)
}

/// Replaces the tenant's `oauth_key_secret`; the page it leads to shows the new one, this once.
pub async fn rotate_secret(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    posted: UiForm<CsrfOnly>,
) -> Result<Response, UiError> {
    let rotated = state
        .services
        .admin
        .rotate_secret(&id.to_string(), &posted.admin.principal.actor())
        .await
        .map_err(|e| UiError::from(e).back_to("/ui/tenants"))?;
    let heading = format!("New oauth_key_secret for {}", rotated.tenant.name);
    to_secret_page(
        &state,
        &posted.admin,
        heading,
        "oauth_key_secret rotated: the old one, and the secureApi tokens minted with it, no longer work.",
        rotated,
    )
}

/// Revokes every active secureApi token of the tenant; the banner says how many.
pub async fn revoke_tokens(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    posted: UiForm<CsrfOnly>,
) -> Result<Response, UiError> {
    let revoked = state
        .services
        .admin
        .revoke_tenant_tokens(&id.to_string(), &posted.admin.principal.actor())
        .await
        .map_err(|e| UiError::from(e).back_to("/ui/tenants"))?;
    Ok(Done::TenantTokensRevoked.redirect_counted("/ui/tenants", revoked))
}

/// The OAuth switch as posted.
#[derive(Deserialize)]
pub struct OAuthForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    enabled: String,
}

impl CsrfForm for OAuthForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// Turns OAuth on or off; turning it on for a tenant that never had a secret shows the new one.
pub async fn set_oauth(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    posted: UiForm<OAuthForm>,
) -> Result<Response, UiError> {
    let UiForm { admin, form } = posted;
    let enabled = match form.enabled.as_str() {
        "on" => true,
        "off" => false,
        _ => {
            return Err(
                UiError::new(StatusCode::BAD_REQUEST, "Choose on or off.").back_to("/ui/tenants")
            );
        }
    };
    let changed = state
        .services
        .admin
        .set_oauth(&id.to_string(), enabled, &admin.principal.actor())
        .await
        .map_err(|e| UiError::from(e).back_to("/ui/tenants"))?;
    if changed.oauth_key_secret.is_some() {
        let heading = format!("OAuth on for {}", changed.tenant.name);
        let flash = Done::OAuthOn.message();
        return to_secret_page(&state, &admin, heading, flash, changed);
    }
    let done = if enabled {
        Done::OAuthOn
    } else {
        Done::OAuthOff
    };
    Ok(done.redirect("/ui/tenants"))
}

/// The token-format form as posted.
#[derive(Deserialize)]
pub struct TokenFormatForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    format: String,
}

impl CsrfForm for TokenFormatForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// Chooses what `/oauth/token` issues to the tenant's instances.
pub async fn set_token_format(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    posted: UiForm<TokenFormatForm>,
) -> Result<Response, UiError> {
    let UiForm { admin, form } = posted;
    let format = match form.format.as_str() {
        "default" => None,
        word => Some(word.parse::<TokenFormat>().map_err(|_| {
            UiError::new(StatusCode::BAD_REQUEST, "Choose opaque, jwt or default.")
                .back_to("/ui/tenants")
        })?),
    };
    state
        .services
        .admin
        .set_token_format(&id.to_string(), format, &admin.principal.actor())
        .await
        .map_err(|e| UiError::from(e).back_to("/ui/tenants"))?;
    Ok(Done::TokenFormatSet.redirect("/ui/tenants"))
}
