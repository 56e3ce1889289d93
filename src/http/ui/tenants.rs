//! Tenants: the list with each tenant's environment, tenant_hash and OAuth switch; creating
//! one and rotating its `oauth_key_secret`, each shown once.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::pages::{SecretPage, TenantRow, TenantsPage};
use super::{CsrfForm, CsrfOnly, UiAdmin, UiError, UiForm, render, see_other};
use crate::domain::admin::CreatedTenant;
use crate::domain::model::Environment;
use crate::http::{AppState, no_store};

/// The tenant list and the create form.
pub async fn list(State(state): State<AppState>, admin: UiAdmin) -> Result<Response, UiError> {
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
            name: t.name,
            tenant_hash: t.tenant_hash,
        })
        .collect();
    Ok(render(&TenantsPage {
        chrome: admin.chrome("Tenants", "tenants"),
        csrf: admin.csrf(),
        rows,
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

fn secret_page(admin: &UiAdmin, heading: String, created: &CreatedTenant) -> Response {
    no_store(render(&SecretPage {
        chrome: admin.chrome(heading.clone(), "tenants"),
        heading,
        tenant_id: created.tenant.id,
        tenant_hash: created.tenant.tenant_hash.clone(),
        oauth_key_secret: created
            .oauth_key_secret
            .as_ref()
            .map(|s| s.expose().to_owned()),
    }))
}

/// Creates a tenant and shows its identifiers and secret, this once.
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
    let heading = format!("Tenant {} created", created.tenant.name);
    Ok(secret_page(&admin, heading, &created))
}

/// Replaces the tenant's `oauth_key_secret` and shows the new one, this once.
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
    Ok(secret_page(&posted.admin, heading, &rotated))
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
        return Ok(secret_page(&admin, heading, &changed));
    }
    Ok(see_other("/ui/tenants"))
}
