//! The admin JSON API under `/admin/api/`: tenants, instances, their tokens, and the audit
//! log, for scripts (with an admin API token) and signed-in browsers. Secrets appear only in
//! the answer that creates them.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use utoipa::{IntoParams, ToSchema};

use super::ApiAdmin;
use crate::domain::DomainError;
use crate::domain::admin::Admin;
use crate::domain::audit::AuditAction;
use crate::domain::json::{self, JsonError};
use crate::domain::model::{AuditFilter, InstanceType, TokenFormat};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::{AppState, no_store};
use crate::views::{
    AuditView, ClientKeysView, InstanceView, IssuedCredentialsView, OriginsView, RevokedView,
    SegmentView, TenantView, TokenView,
};

/// Body of `POST /admin/api/tenants`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTenantRequest {
    /// Unique name (not a number).
    pub name: String,
    /// `cs`, `uat` or `prod`.
    pub environment: String,
    /// Default true.
    pub oauth_enabled: Option<bool>,
}

/// Body of `POST /admin/api/instances`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInstanceRequest {
    /// Tenant id or name; may be left out when there is only one tenant.
    pub tenant: Option<String>,
    /// Name.
    pub name: String,
    /// `dw-tracker`, `profiles-360` or `webtag`.
    #[serde(rename = "type")]
    pub instance_type: String,
}

/// Body of `PUT /admin/api/tenants/{tenant}/oauth`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OAuthSwitch {
    /// Whether secureApi callers must present `oauth_key_secret`.
    pub enabled: bool,
}

/// Filters of `GET /admin/api/audit`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only this action (`token.revoked`, …).
    pub action: Option<String>,
    /// Only this actor.
    pub actor: Option<String>,
    /// Only this tenant id.
    #[serde(default, deserialize_with = "empty_as_none")]
    pub tenant: Option<i64>,
    /// Only this instance: its id or its username (a username no instance has matches
    /// nothing).
    pub instance: Option<String>,
    /// Only entries with ids below this one (the next page).
    #[serde(default, deserialize_with = "empty_as_none")]
    pub before: Option<i64>,
    /// At most this many (default 100, at most 500).
    pub limit: Option<u32>,
}

/// A number from a query string, where an empty field (an HTML form left blank) means none.
fn empty_as_none<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    let text: Option<String> = Option::deserialize(d)?;
    match text.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(number) => number.parse().map(Some).map_err(serde::de::Error::custom),
    }
}

impl AuditQuery {
    /// The instance filter as typed, an id or a username; blank is none.
    pub fn instance_key(&self) -> Option<&str> {
        self.instance
            .as_deref()
            .map(str::trim)
            .filter(|key| !key.is_empty())
    }

    /// The store filter, refusing an unknown action word; `None` when the instance filter
    /// names a username no instance has, so that nothing can match.
    pub async fn filter(&self, admin: &Admin) -> Result<Option<AuditFilter>, DomainError> {
        let action = match self.action.as_deref().filter(|a| !a.is_empty()) {
            Some(word) => Some(
                AuditAction::parse(word)
                    .ok_or_else(|| {
                        DomainError::InvalidRequest(format!("Unknown action {word:?}."))
                    })?
                    .as_str()
                    .to_owned(),
            ),
            None => None,
        };
        let instance_id = match self.instance_key() {
            Some(key) => match admin.audit_instance(key).await? {
                Some(id) => Some(id),
                None => return Ok(None),
            },
            None => None,
        };
        Ok(Some(AuditFilter {
            action,
            actor: self.actor.clone().filter(|a| !a.is_empty()),
            tenant_id: self.tenant,
            instance_id,
            before: self.before,
            limit: self.limit.unwrap_or(100),
        }))
    }
}

pub(super) fn json_body<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    json::from_slice(body).map_err(|e| match e {
        JsonError::DuplicateKey { .. } => {
            ApiError::invalid_request(format!("The body has a duplicate key: {e}."))
        }
        JsonError::Invalid(_) => {
            ApiError::invalid_request(format!("The body is not the expected JSON: {e}."))
        }
    })
}

fn parse<T: std::str::FromStr<Err = String>>(value: &str) -> Result<T, ApiError> {
    value.parse().map_err(ApiError::invalid_request)
}

/// The tenant an instance goes into: the named one, or the only one.
pub async fn tenant_for_new_instance(
    state: &AppState,
    named: Option<&str>,
) -> Result<String, DomainError> {
    if let Some(tenant) = named.filter(|t| !t.is_empty()) {
        return Ok(tenant.to_owned());
    }
    match state.services.admin.tenants().await?.as_slice() {
        [only] => Ok(only.id.to_string()),
        [] => Err(DomainError::InvalidRequest("Create a tenant first.".into())),
        _ => Err(DomainError::InvalidRequest(
            "There are several tenants: name one.".into(),
        )),
    }
}

/// Every tenant.
#[utoipa::path(get, path = "/admin/api/tenants", tag = "admin",
    responses((status = 200, description = "OK", body = [TenantView]), (status = 401, description = "No or invalid admin credentials (`invalid_token`)", body = ErrorBody)),
    security(("bearer" = []), ("admin_session" = [])))]
pub async fn list_tenants(
    State(state): State<AppState>,
    _admin: ApiAdmin,
) -> Result<Json<Vec<TenantView>>, ApiError> {
    let tenants = state.services.admin.tenants().await?;
    Ok(Json(tenants.iter().map(TenantView::of).collect()))
}

/// Creates a tenant; the answer carries its `oauth_key_secret`, this once.
#[utoipa::path(post, path = "/admin/api/tenants", tag = "admin",
    request_body = CreateTenantRequest,
    responses((status = 201, description = "Created; carries the secret this once", body = TenantView), (status = 400, description = "Malformed request (`invalid_request`)", body = ErrorBody),
        (status = 401, description = "No or invalid admin credentials (`invalid_token`)", body = ErrorBody), (status = 403, description = "A session write without its X-CSRF-Token (`invalid_csrf_token`)", body = ErrorBody), (status = 409, description = "Name taken or limit reached", body = ErrorBody)),
    security(("bearer" = []), ("admin_session" = [])))]
pub async fn create_tenant(
    State(state): State<AppState>,
    ApiAdmin(admin): ApiAdmin,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request: CreateTenantRequest = json_body(&body)?;
    let created = state
        .services
        .admin
        .create_tenant(
            &request.name,
            parse(&request.environment)?,
            request.oauth_enabled.unwrap_or(true),
            &admin.actor(),
        )
        .await?;
    Ok(no_store(
        (StatusCode::CREATED, Json(TenantView::created(&created))).into_response(),
    ))
}

/// Replaces a tenant's `oauth_key_secret`; the answer carries the new one, this once.
#[utoipa::path(post, path = "/admin/api/tenants/{tenant}/rotate-secret", tag = "admin",
    params(("tenant" = String, Path, description = "Tenant id or name")),
    responses((status = 200, description = "OK", body = TenantView), (status = 401, description = "No or invalid admin credentials (`invalid_token`)", body = ErrorBody),
        (status = 403, description = "A session write without its X-CSRF-Token (`invalid_csrf_token`)", body = ErrorBody), (status = 404, description = "No such tenant, instance or token (`not_found`)", body = ErrorBody)),
    security(("bearer" = []), ("admin_session" = [])))]
pub async fn rotate_tenant_secret(
    State(state): State<AppState>,
    ApiAdmin(admin): ApiAdmin,
    Path(tenant): Path<String>,
) -> Result<Response, ApiError> {
    let rotated = state
        .services
        .admin
        .rotate_secret(&tenant, &admin.actor())
        .await?;
    Ok(no_store(
        Json(TenantView::created(&rotated)).into_response(),
    ))
}

/// Revokes every active secureApi token of a tenant (after a leak, say): they are refused at
/// once here and within a second on every replica.
#[utoipa::path(delete, path = "/admin/api/tenants/{tenant}/tokens", tag = "admin",
    params(("tenant" = String, Path, description = "Tenant id or name")),
    responses((status = 200, description = "OK", body = RevokedView), (status = 401, description = "No or invalid admin credentials (`invalid_token`)", body = ErrorBody),
        (status = 403, description = "A session write without its X-CSRF-Token (`invalid_csrf_token`)", body = ErrorBody), (status = 404, description = "No such tenant, instance or token (`not_found`)", body = ErrorBody)),
    security(("bearer" = []), ("admin_session" = [])))]
pub async fn revoke_tenant_tokens(
    State(state): State<AppState>,
    ApiAdmin(admin): ApiAdmin,
    Path(tenant): Path<String>,
) -> Result<Json<RevokedView>, ApiError> {
    let revoked = state
        .services
        .admin
        .revoke_tenant_tokens(&tenant, &admin.actor())
        .await?;
    Ok(Json(RevokedView { revoked }))
}

/// Turns a tenant's OAuth requirement on or off.
#[utoipa::path(put, path = "/admin/api/tenants/{tenant}/oauth", tag = "admin",
    params(("tenant" = String, Path, description = "Tenant id or name")),
    request_body = OAuthSwitch,
    responses((status = 200, description = "OK", body = TenantView), (status = 400, description = "Malformed request (`invalid_request`)", body = ErrorBody),
        (status = 401, description = "No or invalid admin credentials (`invalid_token`)", body = ErrorBody), (status = 403, description = "A session write without its X-CSRF-Token (`invalid_csrf_token`)", body = ErrorBody), (status = 404, description = "No such tenant, instance or token (`not_found`)", body = ErrorBody)),
    security(("bearer" = []), ("admin_session" = [])))]
pub async fn set_tenant_oauth(
    State(state): State<AppState>,
    ApiAdmin(admin): ApiAdmin,
    Path(tenant): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let switch: OAuthSwitch = json_body(&body)?;
    let changed = state
        .services
        .admin
        .set_oauth(&tenant, switch.enabled, &admin.actor())
        .await?;
    Ok(no_store(
        Json(TenantView::created(&changed)).into_response(),
    ))
}

/// Body of `PUT /admin/api/tenants/{tenant}/token-format`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenFormatChoice {
    /// `opaque`, `jwt`, or null for the deployment's default (`oauth_token_format`).
    pub format: Option<String>,
}

/// Chooses what `/oauth/token` issues to a tenant's instances.
#[utoipa::path(put, path = "/admin/api/tenants/{tenant}/token-format", tag = "admin",
    params(("tenant" = String, Path, description = "Tenant id or name")),
    request_body = TokenFormatChoice,
    responses((status = 200, description = "OK", body = TenantView), (status = 400, description = "Malformed request or unknown format (`invalid_request`)", body = ErrorBody),
        (status = 401, description = "No or invalid admin credentials (`invalid_token`)", body = ErrorBody), (status = 403, description = "A session write without its X-CSRF-Token (`invalid_csrf_token`)", body = ErrorBody), (status = 404, description = "No such tenant (`not_found`)", body = ErrorBody)),
    security(("bearer" = []), ("admin_session" = [])))]
pub async fn set_tenant_token_format(
    State(state): State<AppState>,
    ApiAdmin(admin): ApiAdmin,
    Path(tenant): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let choice: TokenFormatChoice = json_body(&body)?;
    let format = choice
        .format
        .as_deref()
        .map(str::parse::<TokenFormat>)
        .transpose()
        .map_err(ApiError::invalid_request)?;
    let changed = state
        .services
        .admin
        .set_token_format(&tenant, format, &admin.actor())
        .await?;
    Ok(no_store(Json(TenantView::of(&changed)).into_response()))
}

/// Filter of `GET /admin/api/instances`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InstancesQuery {
    /// Only this tenant (id or name).
    pub tenant: Option<String>,
}

/// Instances, of one tenant or all.
#[utoipa::path(get, path = "/admin/api/instances", tag = "admin",
    params(InstancesQuery),
    responses((status = 200, description = "OK", body = [InstanceView]), (status = 401, description = "No or invalid admin credentials (`invalid_token`)", body = ErrorBody), (status = 404, description = "No such tenant, instance or token (`not_found`)", body = ErrorBody)),
    security(("bearer" = []), ("admin_session" = [])))]
pub async fn list_instances(
    State(state): State<AppState>,
    _admin: ApiAdmin,
    Query(query): Query<InstancesQuery>,
) -> Result<Json<Vec<InstanceView>>, ApiError> {
    let instances = state
        .services
        .admin
        .instances(query.tenant.as_deref())
        .await?;
    Ok(Json(instances.iter().map(InstanceView::of).collect()))
}

/// Creates an instance; the answer carries its password, this once.
#[utoipa::path(post, path = "/admin/api/instances", tag = "admin",
    request_body = CreateInstanceRequest,
    responses((status = 201, description = "Created; carries the secret this once", body = IssuedCredentialsView), (status = 400, description = "Malformed request (`invalid_request`)", body = ErrorBody),
        (status = 401, description = "No or invalid admin credentials (`invalid_token`)", body = ErrorBody), (status = 403, description = "A session write without its X-CSRF-Token (`invalid_csrf_token`)", body = ErrorBody), (status = 404, description = "No such tenant, instance or token (`not_found`)", body = ErrorBody),
        (status = 409, description = "Name taken or limit reached", body = ErrorBody)),
    security(("bearer" = []), ("admin_session" = [])))]
pub async fn create_instance(
    State(state): State<AppState>,
    ApiAdmin(admin): ApiAdmin,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request: CreateInstanceRequest = json_body(&body)?;
    let instance_type: InstanceType = parse(&request.instance_type)?;
    let tenant = tenant_for_new_instance(&state, request.tenant.as_deref()).await?;
    let issued = state
        .services
        .admin
        .create_instance(&tenant, &request.name, instance_type, &admin.actor())
        .await?;
    let view = IssuedCredentialsView::of(&issued, &state.api_host_url, &state.auth_host_url);
    Ok(no_store((StatusCode::CREATED, Json(view)).into_response()))
}

/// One instance.
#[utoipa::path(get, path = "/admin/api/instances/{instance}", tag = "admin",
    params(("instance" = String, Path, description = "Instance id or username")),
    responses((status = 200, description = "OK", body = InstanceView), (status = 401, description = "No or invalid admin credentials (`invalid_token`)", body = ErrorBody), (status = 404, description = "No such tenant, instance or token (`not_found`)", body = ErrorBody)),
    security(("bearer" = []), ("admin_session" = [])))]
pub async fn show_instance(
    State(state): State<AppState>,
    _admin: ApiAdmin,
    Path(instance): Path<String>,
) -> Result<Json<InstanceView>, ApiError> {
    let summary = state.services.admin.instance_summary(&instance).await?;
    Ok(Json(InstanceView::of(&summary)))
}

/// The active tokens of an instance.
#[utoipa::path(get, path = "/admin/api/instances/{instance}/tokens", tag = "admin",
    params(("instance" = String, Path, description = "Instance id or username")),
    responses((status = 200, description = "OK", body = [TokenView]), (status = 401, description = "No or invalid admin credentials (`invalid_token`)", body = ErrorBody), (status = 404, description = "No such tenant, instance or token (`not_found`)", body = ErrorBody)),
    security(("bearer" = []), ("admin_session" = [])))]
pub async fn list_tokens(
    State(state): State<AppState>,
    _admin: ApiAdmin,
    Path(instance): Path<String>,
) -> Result<Json<Vec<TokenView>>, ApiError> {
    let tokens = state.services.admin.instance_tokens(&instance).await?;
    Ok(Json(tokens.iter().map(TokenView::of).collect()))
}

/// Revokes every active token of an instance.
#[utoipa::path(delete, path = "/admin/api/instances/{instance}/tokens", tag = "admin",
    params(("instance" = String, Path, description = "Instance id or username")),
    responses((status = 200, description = "OK", body = RevokedView), (status = 401, description = "No or invalid admin credentials (`invalid_token`)", body = ErrorBody),
        (status = 403, description = "A session write without its X-CSRF-Token (`invalid_csrf_token`)", body = ErrorBody), (status = 404, description = "No such tenant, instance or token (`not_found`)", body = ErrorBody)),
    security(("bearer" = []), ("admin_session" = [])))]
pub async fn revoke_all_tokens(
    State(state): State<AppState>,
    ApiAdmin(admin): ApiAdmin,
    Path(instance): Path<String>,
) -> Result<Json<RevokedView>, ApiError> {
    let revoked = state
        .services
        .admin
        .revoke_all(&instance, &admin.actor())
        .await?;
    Ok(Json(RevokedView { revoked }))
}

/// Revokes one active token of an instance.
#[utoipa::path(delete, path = "/admin/api/instances/{instance}/tokens/{token}", tag = "admin",
    params(("instance" = String, Path, description = "Instance id or username"),
        ("token" = i64, Path, description = "Token id from the token listing")),
    responses((status = 200, description = "OK", body = RevokedView), (status = 400, description = "A token id that is not a number (`invalid_request`)", body = ErrorBody),(status = 401, description = "No or invalid admin credentials (`invalid_token`)", body = ErrorBody),
        (status = 403, description = "A session write without its X-CSRF-Token (`invalid_csrf_token`)", body = ErrorBody), (status = 404, description = "No such tenant, instance or token (`not_found`)", body = ErrorBody)),
    security(("bearer" = []), ("admin_session" = [])))]
pub async fn revoke_token(
    State(state): State<AppState>,
    ApiAdmin(admin): ApiAdmin,
    Path((instance, token)): Path<(String, i64)>,
) -> Result<Json<RevokedView>, ApiError> {
    state
        .services
        .admin
        .revoke_token(&instance, token, &admin.actor())
        .await?;
    Ok(Json(RevokedView { revoked: 1 }))
}

/// Replaces an instance's password; the answer carries the new one, this once.
#[utoipa::path(post, path = "/admin/api/instances/{instance}/rotate-password", tag = "admin",
    params(("instance" = String, Path, description = "Instance id or username")),
    responses((status = 200, description = "OK", body = IssuedCredentialsView), (status = 401, description = "No or invalid admin credentials (`invalid_token`)", body = ErrorBody),
        (status = 403, description = "A session write without its X-CSRF-Token (`invalid_csrf_token`)", body = ErrorBody), (status = 404, description = "No such tenant, instance or token (`not_found`)", body = ErrorBody)),
    security(("bearer" = []), ("admin_session" = [])))]
pub async fn rotate_password(
    State(state): State<AppState>,
    ApiAdmin(admin): ApiAdmin,
    Path(instance): Path<String>,
) -> Result<Response, ApiError> {
    let issued = state
        .services
        .admin
        .rotate_password(&instance, &admin.actor())
        .await?;
    let view = IssuedCredentialsView::of(&issued, &state.api_host_url, &state.auth_host_url);
    Ok(no_store(Json(view).into_response()))
}

/// Disables an instance: its password and tokens stop working until it is enabled.
#[utoipa::path(post, path = "/admin/api/instances/{instance}/disable", tag = "admin",
    params(("instance" = String, Path, description = "Instance id or username")),
    responses((status = 200, description = "OK", body = InstanceView), (status = 401, description = "No or invalid admin credentials (`invalid_token`)", body = ErrorBody),
        (status = 403, description = "A session write without its X-CSRF-Token (`invalid_csrf_token`)", body = ErrorBody), (status = 404, description = "No such tenant, instance or token (`not_found`)", body = ErrorBody)),
    security(("bearer" = []), ("admin_session" = [])))]
pub async fn disable_instance(
    State(state): State<AppState>,
    ApiAdmin(admin): ApiAdmin,
    Path(instance): Path<String>,
) -> Result<Json<InstanceView>, ApiError> {
    let admin_service = &state.services.admin;
    let instance = admin_service
        .disable_instance(&instance, &admin.actor())
        .await?;
    let summary = admin_service
        .instance_summary(&instance.id.to_string())
        .await?;
    Ok(Json(InstanceView::of(&summary)))
}

/// Enables a disabled instance again.
#[utoipa::path(post, path = "/admin/api/instances/{instance}/enable", tag = "admin",
    params(("instance" = String, Path, description = "Instance id or username")),
    responses((status = 200, description = "OK", body = InstanceView), (status = 401, description = "No or invalid admin credentials (`invalid_token`)", body = ErrorBody),
        (status = 403, description = "A session write without its X-CSRF-Token (`invalid_csrf_token`)", body = ErrorBody), (status = 404, description = "No such tenant, instance or token (`not_found`)", body = ErrorBody)),
    security(("bearer" = []), ("admin_session" = [])))]
pub async fn enable_instance(
    State(state): State<AppState>,
    ApiAdmin(admin): ApiAdmin,
    Path(instance): Path<String>,
) -> Result<Json<InstanceView>, ApiError> {
    let admin_service = &state.services.admin;
    let instance = admin_service
        .enable_instance(&instance, &admin.actor())
        .await?;
    let summary = admin_service
        .instance_summary(&instance.id.to_string())
        .await?;
    Ok(Json(InstanceView::of(&summary)))
}

/// The audit log, newest first.
#[utoipa::path(get, path = "/admin/api/audit", tag = "admin",
    params(AuditQuery),
    responses((status = 200, description = "OK", body = [AuditView]), (status = 400, description = "Malformed request (`invalid_request`)", body = ErrorBody), (status = 401, description = "No or invalid admin credentials (`invalid_token`)", body = ErrorBody)),
    security(("bearer" = []), ("admin_session" = [])))]
pub async fn audit(
    State(state): State<AppState>,
    _admin: ApiAdmin,
    Query(query): Query<AuditQuery>,
) -> Result<Json<Vec<AuditView>>, ApiError> {
    let admin = &state.services.admin;
    let entries = match query.filter(admin).await? {
        Some(filter) => admin.audit().entries(filter).await?,
        None => Vec::new(),
    };
    Ok(Json(entries.iter().map(AuditView::of).collect()))
}

/// Body of `PUT /admin/api/instances/{instance}/origins`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OriginsRequest {
    /// `scheme://host[:port]` of each site allowed to send WebTag events.
    pub origins: Vec<String>,
}

/// Replaces the origins a WebTag instance's browser key may be used from.
#[utoipa::path(put, path = "/admin/api/instances/{instance}/origins", tag = "admin",
    params(("instance" = String, Path, description = "Instance id or username")),
    request_body = OriginsRequest,
    responses((status = 200, description = "OK", body = OriginsView), (status = 400, description = "Not a WebTag instance, or a malformed origin (`invalid_request`)", body = ErrorBody),
        (status = 401, description = "No or invalid admin credentials (`invalid_token`)", body = ErrorBody), (status = 403, description = "A session write without its X-CSRF-Token (`invalid_csrf_token`)", body = ErrorBody), (status = 404, description = "No such instance (`not_found`)", body = ErrorBody)),
    security(("bearer" = []), ("admin_session" = [])))]
pub async fn set_origins(
    State(state): State<AppState>,
    ApiAdmin(admin): ApiAdmin,
    Path(instance): Path<String>,
    body: Bytes,
) -> Result<Json<OriginsView>, ApiError> {
    let request: OriginsRequest = json_body(&body)?;
    let (instance, origins) = state
        .services
        .admin
        .set_origins(&instance, &request.origins, &admin.actor())
        .await?;
    Ok(Json(OriginsView::of(&instance, origins)))
}

/// The instance's registered `private_key_jwt` keys.
#[utoipa::path(get, path = "/admin/api/instances/{instance}/jwks", tag = "admin",
    params(("instance" = String, Path, description = "Instance id or username")),
    responses((status = 200, description = "OK", body = ClientKeysView),
        (status = 401, description = "No or invalid admin credentials (`invalid_token`)", body = ErrorBody), (status = 404, description = "No such instance (`not_found`)", body = ErrorBody)),
    security(("bearer" = []), ("admin_session" = [])))]
pub async fn show_jwks(
    State(state): State<AppState>,
    _admin: ApiAdmin,
    Path(instance): Path<String>,
) -> Result<Json<ClientKeysView>, ApiError> {
    let admin = &state.services.admin;
    let instance = admin.instance(&instance).await?;
    let keys = admin.client_keys(&instance).await?;
    Ok(Json(ClientKeysView::of(&instance, keys.as_ref())))
}

/// Registers the public keys (a JWK Set, RFC 7517) the instance signs `private_key_jwt`
/// assertions with, replacing any before; an empty set (`{"keys":[]}`) clears them, as DELETE
/// does. The password keeps working.
#[utoipa::path(put, path = "/admin/api/instances/{instance}/jwks", tag = "admin",
    params(("instance" = String, Path, description = "Instance id or username")),
    request_body(content = Object, description = "A JWK Set `{\"keys\":[…]}` of public EC P-256, OKP Ed25519 or RSA (≥ 2048 bits) keys; at most 10 keys, 16 KiB", content_type = "application/json"),
    responses((status = 200, description = "OK", body = ClientKeysView), (status = 400, description = "Not a JWK Set, a private or symmetric key, an unsupported kty or crv, too many keys (`invalid_request`)", body = ErrorBody),
        (status = 401, description = "No or invalid admin credentials (`invalid_token`)", body = ErrorBody), (status = 403, description = "A session write without its X-CSRF-Token (`invalid_csrf_token`)", body = ErrorBody), (status = 404, description = "No such instance (`not_found`)", body = ErrorBody)),
    security(("bearer" = []), ("admin_session" = [])))]
pub async fn set_jwks(
    State(state): State<AppState>,
    ApiAdmin(admin): ApiAdmin,
    Path(instance): Path<String>,
    body: Bytes,
) -> Result<Json<ClientKeysView>, ApiError> {
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::invalid_request("The body must be a JWK Set in UTF-8 JSON."))?;
    let (instance, keys) = state
        .services
        .admin
        .set_client_keys(&instance, text, &admin.actor())
        .await?;
    Ok(Json(ClientKeysView::of(&instance, keys.as_ref())))
}

/// Removes the instance's `private_key_jwt` keys: it authenticates by password only again.
#[utoipa::path(delete, path = "/admin/api/instances/{instance}/jwks", tag = "admin",
    params(("instance" = String, Path, description = "Instance id or username")),
    responses((status = 200, description = "OK", body = ClientKeysView),
        (status = 401, description = "No or invalid admin credentials (`invalid_token`)", body = ErrorBody), (status = 403, description = "A session write without its X-CSRF-Token (`invalid_csrf_token`)", body = ErrorBody), (status = 404, description = "No such instance (`not_found`)", body = ErrorBody)),
    security(("bearer" = []), ("admin_session" = [])))]
pub async fn clear_jwks(
    State(state): State<AppState>,
    ApiAdmin(admin): ApiAdmin,
    Path(instance): Path<String>,
) -> Result<Json<ClientKeysView>, ApiError> {
    let instance = state
        .services
        .admin
        .clear_client_keys(&instance, &admin.actor())
        .await?;
    Ok(Json(ClientKeysView::of(&instance, None)))
}

/// Body of `PUT /admin/api/tenants/{tenant}/segments/{name}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SegmentRequest {
    /// The rule deciding membership (see the README's "Segments").
    #[schema(value_type = Object)]
    pub rule: serde_json::Value,
}

/// A tenant's segments.
#[utoipa::path(get, path = "/admin/api/tenants/{tenant}/segments", tag = "admin",
    params(("tenant" = String, Path, description = "Tenant id or name")),
    responses((status = 200, description = "OK", body = Vec<SegmentView>), (status = 401, description = "No or invalid admin credentials (`invalid_token`)", body = ErrorBody), (status = 404, description = "No such tenant (`not_found`)", body = ErrorBody)),
    security(("bearer" = []), ("admin_session" = [])))]
pub async fn list_segments(
    State(state): State<AppState>,
    _admin: ApiAdmin,
    Path(tenant): Path<String>,
) -> Result<Json<Vec<SegmentView>>, ApiError> {
    let tenant = state.services.admin.tenant(&tenant).await?;
    let segments = state.services.cdp.segments(tenant.id).await?;
    Ok(Json(segments.iter().map(SegmentView::of).collect()))
}

/// Creates a segment or replaces its rule.
#[utoipa::path(put, path = "/admin/api/tenants/{tenant}/segments/{name}", tag = "admin",
    params(("tenant" = String, Path, description = "Tenant id or name"), ("name" = String, Path, description = "Segment name")),
    request_body = SegmentRequest,
    responses((status = 200, description = "OK", body = SegmentView), (status = 400, description = "Invalid rule or name (`invalid_request`)", body = ErrorBody),
        (status = 401, description = "No or invalid admin credentials (`invalid_token`)", body = ErrorBody), (status = 403, description = "A session write without its X-CSRF-Token (`invalid_csrf_token`)", body = ErrorBody), (status = 404, description = "No such tenant (`not_found`)", body = ErrorBody)),
    security(("bearer" = []), ("admin_session" = [])))]
pub async fn put_segment(
    State(state): State<AppState>,
    ApiAdmin(admin): ApiAdmin,
    Path(path): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<SegmentView>, ApiError> {
    let (tenant, name) = path;
    let request: SegmentRequest = json_body(&body)?;
    let tenant = state.services.admin.tenant(&tenant).await?;
    let segment = state
        .services
        .cdp
        .put_segment(tenant.id, &name, request.rule, &admin.actor())
        .await?;
    Ok(Json(SegmentView::of(&segment)))
}

/// Deletes a segment.
#[utoipa::path(delete, path = "/admin/api/tenants/{tenant}/segments/{name}", tag = "admin",
    params(("tenant" = String, Path, description = "Tenant id or name"), ("name" = String, Path, description = "Segment name")),
    responses((status = 204, description = "Deleted"),
        (status = 401, description = "No or invalid admin credentials (`invalid_token`)", body = ErrorBody), (status = 403, description = "A session write without its X-CSRF-Token (`invalid_csrf_token`)", body = ErrorBody), (status = 404, description = "No such tenant or segment (`not_found`)", body = ErrorBody)),
    security(("bearer" = []), ("admin_session" = [])))]
pub async fn delete_segment(
    State(state): State<AppState>,
    ApiAdmin(admin): ApiAdmin,
    Path(path): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let (tenant, name) = path;
    let tenant = state.services.admin.tenant(&tenant).await?;
    state
        .services
        .cdp
        .delete_segment(tenant.id, &name, &admin.actor())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
