//! Integrations › Instances: the list, Add Instance with its shown-once credentials, and one
//! instance's page with its tokens and actions.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine;
use serde::Deserialize;

use super::once::OnceResult;
use super::pages::{
    ClientKeyRow, CopyField, CredentialsPage, InstancePage, InstanceRow, InstancesPage,
    NewInstancePage, TokenRow,
};
use super::{
    CsrfForm, CsrfOnly, Done, DoneQuery, UiAdmin, UiError, UiForm, display_optional_time,
    display_time, render, see_other,
};
use crate::domain::admin::IssuedPassword;
use crate::domain::model::{InstanceType, Tenant};
use crate::http::admin::api::tenant_for_new_instance;
use crate::http::{AppState, no_store, postman};

fn tenant_label(tenant: &Tenant) -> String {
    format!(
        "{} (tenantId {}, {})",
        tenant.name, tenant.id, tenant.environment
    )
}

/// The instance list.
pub async fn list(State(state): State<AppState>, admin: UiAdmin) -> Result<Response, UiError> {
    let services = &state.services.admin;
    let tenants: HashMap<i64, String> = services
        .tenants()
        .await?
        .into_iter()
        .map(|t| (t.id, t.name))
        .collect();
    let rows = services
        .instances(None)
        .await?
        .into_iter()
        .map(|summary| {
            let i = summary.instance;
            InstanceRow {
                id: i.id,
                type_label: i.instance_type.label(),
                tenant: tenants.get(&i.tenant_id).cloned().unwrap_or_default(),
                created: display_time(i.created_at),
                password_expiry: display_time(i.password_expires_at),
                active_tokens: summary.active_tokens,
                last_used: display_optional_time(summary.last_used_at),
                disabled: i.disabled_at.is_some(),
                name: i.name,
                username: i.username,
            }
        })
        .collect();
    Ok(render(&InstancesPage {
        chrome: admin.chrome("Instances", "instances"),
        rows,
    }))
}

/// The Add Instance form.
pub async fn new_form(State(state): State<AppState>, admin: UiAdmin) -> Result<Response, UiError> {
    let tenants = state
        .services
        .admin
        .tenants()
        .await?
        .iter()
        .map(|t| (t.id, tenant_label(t)))
        .collect();
    Ok(render(&NewInstancePage {
        chrome: admin.chrome("Add Instance", "new"),
        csrf: admin.csrf(),
        types: InstanceType::ALL
            .iter()
            .map(|t| (t.as_str(), t.label()))
            .collect(),
        tenants,
    }))
}

/// The Add Instance form as posted.
#[derive(Deserialize)]
pub struct NewInstanceForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    instance_type: String,
    tenant: Option<String>,
}

impl CsrfForm for NewInstanceForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// Creates the instance; the page it leads to shows its credentials, this once.
pub async fn create(
    State(state): State<AppState>,
    posted: UiForm<NewInstanceForm>,
) -> Result<Response, UiError> {
    let UiForm { admin, form } = posted;
    let back = |e: UiError| e.back_to("/ui/instances/new");
    let instance_type: InstanceType = form
        .instance_type
        .parse()
        .map_err(|e: String| back(UiError::new(StatusCode::BAD_REQUEST, e)))?;
    let tenant = tenant_for_new_instance(&state, form.tenant.as_deref())
        .await
        .map_err(|e| back(e.into()))?;
    let issued = state
        .services
        .admin
        .create_instance(&tenant, &form.name, instance_type, &admin.principal.actor())
        .await
        .map_err(|e| back(e.into()))?;
    let once = admin.keep_once(&state, OnceResult::Created(issued))?;
    Ok(see_other(&format!("/ui/instances/created/{once}")))
}

/// The credentials of the instance just created, the first time this page is opened.
pub async fn created(
    State(state): State<AppState>,
    admin: UiAdmin,
    Path(once): Path<String>,
) -> Result<Response, UiError> {
    match admin.take_once(&state, &once) {
        Some(OnceResult::Created(issued)) => Ok(credentials_page(
            &state,
            &admin,
            "Instance created",
            None,
            &issued,
        )),
        _ => Err(UiError::already_shown(
            "The new instance's password",
            "rotate the password on the instance's page",
            "/ui/instances",
        )),
    }
}

/// The shown-once page: the four fields SPEC names, each copyable, and the Postman downloads,
/// the environment carrying the password in a `data:` URL that exists only in this page.
fn credentials_page(
    state: &AppState,
    admin: &UiAdmin,
    heading: &'static str,
    flash: Option<&'static str>,
    issued: &IssuedPassword,
) -> Response {
    let instance = &issued.instance;
    let password = issued.password.expose();
    let environment = postman::environment(
        instance,
        &issued.tenant,
        &state.api_host_url,
        &state.auth_host_url,
        password,
    );
    let environment_data_url = format!(
        "data:application/json;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(environment.to_string())
    );
    let field = |id, label, value: &str| CopyField {
        id,
        label,
        value: value.to_owned(),
    };
    let page = CredentialsPage {
        chrome: admin.chrome(heading, "new").with_flash(flash),
        heading,
        instance_id: instance.id,
        instance_name: instance.name.clone(),
        type_label: instance.instance_type.label(),
        tenant_label: tenant_label(&issued.tenant),
        fields: vec![
            field("api_host_url", "API Host URL", &state.api_host_url),
            field(
                "auth_host_url",
                "Authentication Host URL",
                &state.auth_host_url,
            ),
            field("username", "UserName", &instance.username),
            field("password", "Password", password),
        ],
        collection_file: postman::file_name(instance, "collection"),
        environment_file: postman::file_name(instance, "environment"),
        environment_data_url,
    };
    no_store(render(&page))
}

/// One instance: details, actions, tokens, and what the form that led here did.
pub async fn show(
    State(state): State<AppState>,
    admin: UiAdmin,
    Path(id): Path<i64>,
    Query(done): Query<DoneQuery>,
) -> Result<Response, UiError> {
    let services = &state.services.admin;
    let key = id.to_string();
    let summary = services.instance_summary(&key).await?;
    let tenant = services
        .tenant(&summary.instance.tenant_id.to_string())
        .await?;
    let tokens = services
        .instance_tokens(&key)
        .await?
        .into_iter()
        .map(|t| TokenRow {
            id: t.id,
            prefix: t.prefix.unwrap_or_default(),
            kind: t.kind.as_str(),
            created: display_time(t.issued_at),
            expires: display_time(t.expires_at),
            last_used: display_optional_time(t.last_used_at),
        })
        .collect();
    let i = summary.instance;
    let keys = services.client_keys(&i).await?;
    let view = crate::views::ClientKeysView::of(&i, keys.as_ref());
    let client_jwks = view
        .jwks
        .as_ref()
        .and_then(|jwks| serde_json::to_string_pretty(jwks).ok())
        .unwrap_or_default();
    let client_keys = view
        .keys
        .into_iter()
        .map(|key| ClientKeyRow {
            kid: key.kid.unwrap_or_else(|| "—".into()),
            kty: key.kty,
            algorithms: key.algorithms.join(" "),
            thumbprint: key.thumbprint,
        })
        .collect();
    let origins = if i.instance_type == InstanceType::Webtag {
        Some(services.origins(&i).await?.join("\n"))
    } else {
        None
    };
    Ok(render(&InstancePage {
        origins,
        client_keys,
        client_jwks,
        chrome: admin
            .chrome(i.name.clone(), "instances")
            .with_flash(done.message()),
        csrf: admin.csrf(),
        id: i.id,
        type_label: i.instance_type.label(),
        tenant_label: tenant_label(&tenant),
        created: display_time(i.created_at),
        password_expiry: display_time(i.password_expires_at),
        disabled: i.disabled_at.is_some(),
        auth_host_url: state.auth_host_url.clone(),
        api_host_url: state.api_host_url.clone(),
        tokens,
        name: i.name,
        username: i.username,
    }))
}

fn instance_page(id: i64) -> String {
    format!("/ui/instances/{id}")
}

/// Replaces the password; the page it leads to shows the new one, this once.
pub async fn rotate_password(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    posted: UiForm<CsrfOnly>,
) -> Result<Response, UiError> {
    let issued = state
        .services
        .admin
        .rotate_password(&id.to_string(), &posted.admin.principal.actor())
        .await
        .map_err(|e| UiError::from(e).back_to(instance_page(id)))?;
    let id = issued.instance.id;
    let once = posted
        .admin
        .keep_once(&state, OnceResult::Rotated(issued))?;
    Ok(see_other(&format!("{}/password/{once}", instance_page(id))))
}

/// The rotated password, the first time this page is opened.
pub async fn rotated(
    State(state): State<AppState>,
    admin: UiAdmin,
    Path((id, once)): Path<(i64, String)>,
) -> Result<Response, UiError> {
    match admin.take_once(&state, &once) {
        Some(OnceResult::Rotated(issued)) if issued.instance.id == id => Ok(credentials_page(
            &state,
            &admin,
            "Password rotated",
            Some("Password rotated: the old one no longer works."),
            &issued,
        )),
        _ => Err(UiError::already_shown(
            "The rotated password",
            "rotate the password again",
            instance_page(id),
        )),
    }
}

/// Disables the instance.
pub async fn disable(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    posted: UiForm<CsrfOnly>,
) -> Result<Response, UiError> {
    state
        .services
        .admin
        .disable_instance(&id.to_string(), &posted.admin.principal.actor())
        .await
        .map_err(|e| UiError::from(e).back_to(instance_page(id)))?;
    Ok(Done::Disabled.redirect(&instance_page(id)))
}

/// Enables the instance.
pub async fn enable(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    posted: UiForm<CsrfOnly>,
) -> Result<Response, UiError> {
    state
        .services
        .admin
        .enable_instance(&id.to_string(), &posted.admin.principal.actor())
        .await
        .map_err(|e| UiError::from(e).back_to(instance_page(id)))?;
    Ok(Done::Enabled.redirect(&instance_page(id)))
}

/// The allowed-origins form as posted: one origin per line.
#[derive(Deserialize)]
pub struct OriginsForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    origins: String,
}

impl CsrfForm for OriginsForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// Replaces a WebTag instance's allowed origins.
pub async fn set_origins(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    posted: UiForm<OriginsForm>,
) -> Result<Response, UiError> {
    let UiForm { admin, form } = posted;
    let origins: Vec<String> = form
        .origins
        .split(|c: char| c == '\n' || c == ',' || c.is_whitespace())
        .filter(|o| !o.is_empty())
        .map(str::to_owned)
        .collect();
    state
        .services
        .admin
        .set_origins(&id.to_string(), &origins, &admin.principal.actor())
        .await
        .map_err(|e| UiError::from(e).back_to(instance_page(id)))?;
    Ok(Done::OriginsSaved.redirect(&instance_page(id)))
}

/// The client-keys form as posted: a JWK Set, pasted.
#[derive(Deserialize)]
pub struct ClientKeysForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    jwks: String,
}

impl CsrfForm for ClientKeysForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// Registers the instance's private_key_jwt keys (an empty set clears them).
pub async fn set_client_keys(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    posted: UiForm<ClientKeysForm>,
) -> Result<Response, UiError> {
    let UiForm { admin, form } = posted;
    let (_, keys) = state
        .services
        .admin
        .set_client_keys(&id.to_string(), &form.jwks, &admin.principal.actor())
        .await
        .map_err(|e| UiError::from(e).back_to(instance_page(id)))?;
    let done = if keys.is_some() {
        Done::ClientKeysSaved
    } else {
        Done::ClientKeysCleared
    };
    Ok(done.redirect(&instance_page(id)))
}

/// Removes the instance's private_key_jwt keys.
pub async fn clear_client_keys(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    posted: UiForm<CsrfOnly>,
) -> Result<Response, UiError> {
    state
        .services
        .admin
        .clear_client_keys(&id.to_string(), &posted.admin.principal.actor())
        .await
        .map_err(|e| UiError::from(e).back_to(instance_page(id)))?;
    Ok(Done::ClientKeysCleared.redirect(&instance_page(id)))
}

/// Revokes every token of the instance.
pub async fn revoke_all(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    posted: UiForm<CsrfOnly>,
) -> Result<Response, UiError> {
    state
        .services
        .admin
        .revoke_all(&id.to_string(), &posted.admin.principal.actor())
        .await
        .map_err(|e| UiError::from(e).back_to(instance_page(id)))?;
    Ok(Done::RevokedAll.redirect(&instance_page(id)))
}

/// Revokes one token of the instance.
pub async fn revoke_token(
    State(state): State<AppState>,
    Path((id, token)): Path<(i64, i64)>,
    posted: UiForm<CsrfOnly>,
) -> Result<Response, UiError> {
    state
        .services
        .admin
        .revoke_token(&id.to_string(), token, &posted.admin.principal.actor())
        .await
        .map_err(|e| UiError::from(e).back_to(instance_page(id)))?;
    Ok(Done::Revoked.redirect(&instance_page(id)))
}
