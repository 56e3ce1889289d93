//! The admin API's administrators under `/admin/api/admins`: listing, creating, disabling,
//! enabling, deleting them and resetting their passwords, and their API tokens. Passwords and
//! tokens appear only in the answer that issues them.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::ToSchema;

use super::ApiAdmin;
use super::api::json_body;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::{AppState, no_store};
use crate::views::{
    AdminPasswordView, AdminTokenView, AdminView, IssuedAdminTokenView, RevokedView,
};

/// Body of `POST /admin/api/admins`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAdminRequest {
    /// Sign-in name (letters, digits, `.`, `_`, `-`, `@`).
    pub username: String,
}

/// Body of `POST /admin/api/admins/{username}/tokens` (may be empty).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAdminTokenRequest {
    /// How long the token lasts (`1h`, `30d`, …); default `admin_token_lifetime`.
    pub expires_in: Option<String>,
}

/// Every admin, enabled or not.
#[utoipa::path(get, path = "/admin/api/admins", tag = "admin",
    responses((status = 200, description = "OK", body = [AdminView]), (status = 401, description = "No or invalid admin credentials (`invalid_token`)", body = ErrorBody)),
    security(("bearer" = []), ("admin_session" = [])))]
pub async fn list_admins(
    State(state): State<AppState>,
    _admin: ApiAdmin,
) -> Result<Json<Vec<AdminView>>, ApiError> {
    let admins = state.services.accounts.admins().await?;
    Ok(Json(admins.iter().map(AdminView::of).collect()))
}

/// Creates an admin; the answer carries its generated password, this once.
#[utoipa::path(post, path = "/admin/api/admins", tag = "admin",
    request_body = CreateAdminRequest,
    responses((status = 201, description = "Created; carries the password this once", body = AdminPasswordView), (status = 400, description = "Malformed request (`invalid_request`)", body = ErrorBody),
        (status = 401, description = "No or invalid admin credentials (`invalid_token`)", body = ErrorBody), (status = 403, description = "A session write without its X-CSRF-Token (`invalid_csrf_token`)", body = ErrorBody), (status = 409, description = "Name taken", body = ErrorBody)),
    security(("bearer" = []), ("admin_session" = [])))]
pub async fn create_admin(
    State(state): State<AppState>,
    ApiAdmin(admin): ApiAdmin,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request: CreateAdminRequest = json_body(&body)?;
    let (created, password) = state
        .services
        .accounts
        .create(&request.username, &admin.actor())
        .await?;
    let view = AdminPasswordView {
        username: created.username,
        password: password.expose().to_owned(),
    };
    Ok(no_store((StatusCode::CREATED, Json(view)).into_response()))
}

/// Deletes an admin with its sessions and API tokens; the last enabled admin cannot be.
#[utoipa::path(delete, path = "/admin/api/admins/{username}", tag = "admin",
    params(("username" = String, Path, description = "Admin username")),
    responses((status = 204, description = "Deleted"), (status = 401, description = "No or invalid admin credentials (`invalid_token`)", body = ErrorBody),
        (status = 403, description = "A session write without its X-CSRF-Token (`invalid_csrf_token`)", body = ErrorBody), (status = 404, description = "No such admin (`not_found`)", body = ErrorBody), (status = 409, description = "The last enabled admin (`conflict`)", body = ErrorBody)),
    security(("bearer" = []), ("admin_session" = [])))]
pub async fn delete_admin(
    State(state): State<AppState>,
    ApiAdmin(admin): ApiAdmin,
    Path(username): Path<String>,
) -> Result<StatusCode, ApiError> {
    state
        .services
        .accounts
        .delete(&username, &admin.actor())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Disables an admin: it cannot sign in, its sessions end, its API tokens stop working. The
/// last enabled admin cannot be disabled.
#[utoipa::path(post, path = "/admin/api/admins/{username}/disable", tag = "admin",
    params(("username" = String, Path, description = "Admin username")),
    responses((status = 200, description = "OK", body = AdminView), (status = 401, description = "No or invalid admin credentials (`invalid_token`)", body = ErrorBody),
        (status = 403, description = "A session write without its X-CSRF-Token (`invalid_csrf_token`)", body = ErrorBody), (status = 404, description = "No such admin (`not_found`)", body = ErrorBody), (status = 409, description = "The last enabled admin (`conflict`)", body = ErrorBody)),
    security(("bearer" = []), ("admin_session" = [])))]
pub async fn disable_admin(
    State(state): State<AppState>,
    ApiAdmin(admin): ApiAdmin,
    Path(username): Path<String>,
) -> Result<Json<AdminView>, ApiError> {
    let changed = state
        .services
        .accounts
        .set_enabled(&username, false, &admin.actor())
        .await?;
    Ok(Json(AdminView::of(&changed)))
}

/// Enables a disabled admin again.
#[utoipa::path(post, path = "/admin/api/admins/{username}/enable", tag = "admin",
    params(("username" = String, Path, description = "Admin username")),
    responses((status = 200, description = "OK", body = AdminView), (status = 401, description = "No or invalid admin credentials (`invalid_token`)", body = ErrorBody),
        (status = 403, description = "A session write without its X-CSRF-Token (`invalid_csrf_token`)", body = ErrorBody), (status = 404, description = "No such admin (`not_found`)", body = ErrorBody)),
    security(("bearer" = []), ("admin_session" = [])))]
pub async fn enable_admin(
    State(state): State<AppState>,
    ApiAdmin(admin): ApiAdmin,
    Path(username): Path<String>,
) -> Result<Json<AdminView>, ApiError> {
    let changed = state
        .services
        .accounts
        .set_enabled(&username, true, &admin.actor())
        .await?;
    Ok(Json(AdminView::of(&changed)))
}

/// Replaces an admin's password with a generated one, in the answer this once; its sessions
/// end, its API tokens keep working.
#[utoipa::path(post, path = "/admin/api/admins/{username}/reset-password", tag = "admin",
    params(("username" = String, Path, description = "Admin username")),
    responses((status = 200, description = "OK; carries the password this once", body = AdminPasswordView), (status = 401, description = "No or invalid admin credentials (`invalid_token`)", body = ErrorBody),
        (status = 403, description = "A session write without its X-CSRF-Token (`invalid_csrf_token`)", body = ErrorBody), (status = 404, description = "No such admin (`not_found`)", body = ErrorBody)),
    security(("bearer" = []), ("admin_session" = [])))]
pub async fn reset_admin_password(
    State(state): State<AppState>,
    ApiAdmin(admin): ApiAdmin,
    Path(username): Path<String>,
) -> Result<Response, ApiError> {
    let (changed, password) = state
        .services
        .accounts
        .reset_password(&username, &admin.actor())
        .await?;
    let view = AdminPasswordView {
        username: changed.username,
        password: password.expose().to_owned(),
    };
    Ok(no_store(Json(view).into_response()))
}

/// An admin's live API tokens: ids and times, never a token.
#[utoipa::path(get, path = "/admin/api/admins/{username}/tokens", tag = "admin",
    params(("username" = String, Path, description = "Admin username")),
    responses((status = 200, description = "OK", body = [AdminTokenView]), (status = 401, description = "No or invalid admin credentials (`invalid_token`)", body = ErrorBody), (status = 404, description = "No such admin (`not_found`)", body = ErrorBody)),
    security(("bearer" = []), ("admin_session" = [])))]
pub async fn list_admin_tokens(
    State(state): State<AppState>,
    _admin: ApiAdmin,
    Path(username): Path<String>,
) -> Result<Json<Vec<AdminTokenView>>, ApiError> {
    let (_, tokens) = state.services.accounts.api_tokens(&username).await?;
    Ok(Json(tokens.iter().map(AdminTokenView::of).collect()))
}

/// Issues an API token for an admin; the answer carries it, this once.
#[utoipa::path(post, path = "/admin/api/admins/{username}/tokens", tag = "admin",
    params(("username" = String, Path, description = "Admin username")),
    request_body = CreateAdminTokenRequest,
    responses((status = 201, description = "Created; carries the token this once", body = IssuedAdminTokenView), (status = 400, description = "Malformed request or lifetime (`invalid_request`)", body = ErrorBody),
        (status = 401, description = "No or invalid admin credentials (`invalid_token`)", body = ErrorBody), (status = 403, description = "A session write without its X-CSRF-Token (`invalid_csrf_token`)", body = ErrorBody), (status = 404, description = "No such admin (`not_found`)", body = ErrorBody), (status = 409, description = "The admin is disabled (`conflict`)", body = ErrorBody)),
    security(("bearer" = []), ("admin_session" = [])))]
pub async fn create_admin_token(
    State(state): State<AppState>,
    ApiAdmin(admin): ApiAdmin,
    Path(username): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request: CreateAdminTokenRequest = if body.iter().all(u8::is_ascii_whitespace) {
        CreateAdminTokenRequest::default()
    } else {
        json_body(&body)?
    };
    let lifetime = request
        .expires_in
        .as_deref()
        .map(parse_lifetime)
        .transpose()?;
    let issued = state
        .services
        .accounts
        .create_api_token(&username, lifetime, &admin.actor())
        .await?;
    let view = IssuedAdminTokenView::of(&issued);
    Ok(no_store((StatusCode::CREATED, Json(view)).into_response()))
}

/// Revokes one of an admin's API tokens.
#[utoipa::path(delete, path = "/admin/api/admins/{username}/tokens/{token}", tag = "admin",
    params(("username" = String, Path, description = "Admin username"),
        ("token" = i64, Path, description = "Token id from the token listing")),
    responses((status = 200, description = "OK", body = RevokedView), (status = 400, description = "A token id that is not a number (`invalid_request`)", body = ErrorBody), (status = 401, description = "No or invalid admin credentials (`invalid_token`)", body = ErrorBody),
        (status = 403, description = "A session write without its X-CSRF-Token (`invalid_csrf_token`)", body = ErrorBody), (status = 404, description = "No such admin or live token (`not_found`)", body = ErrorBody)),
    security(("bearer" = []), ("admin_session" = [])))]
pub async fn revoke_admin_token(
    State(state): State<AppState>,
    ApiAdmin(admin): ApiAdmin,
    Path((username, token)): Path<(String, i64)>,
) -> Result<Json<RevokedView>, ApiError> {
    state
        .services
        .accounts
        .revoke_api_token(token, Some(&username), &admin.actor())
        .await?;
    Ok(Json(RevokedView { revoked: 1 }))
}

/// A token lifetime as written (`1h`, `30d`), in seconds.
pub fn parse_lifetime(text: &str) -> Result<i64, ApiError> {
    humantime::parse_duration(text.trim())
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .map_err(|e| ApiError::invalid_request(format!("expires_in {text:?}: {e}.")))
}
