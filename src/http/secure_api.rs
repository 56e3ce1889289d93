//! The secureApi dialect on the wire: `POST /secureApi/token/{api}/create|update` with the
//! `tenant_hash` and `oauth_key_secret` headers, answered in the vendor's shapes.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::AppState;
use super::credentials::SourceAddress;
use super::error::{ApiError, Challenge, ErrorBody, ErrorCode};
use super::media_type::{Reads, require_readable};
use crate::domain::DomainError;
use crate::domain::json::JsonError;
use crate::domain::secrets::Secret;
use crate::domain::secure_api::TenantCredentialsPresented;

/// Body of a create: the resources the token may use and its validity in minutes.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct CreateRequest {
    /// Resources of the api, e.g. `["basic","segments"]`; at least one.
    resource: Vec<String>,
    /// Minutes the token lives, 1 to `max_validity` (default 1440); 15 when absent.
    validity: Option<u32>,
}

/// Body of an update: the new resource set and the token to update.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct UpdateRequest {
    /// The complete new resource set (it replaces the old one).
    resource: Vec<String>,
    /// The token to update.
    token: String,
}

/// `{"token": "…"}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreateResponse {
    /// ≥ 256 bits of entropy, `[A-Za-z0-9]`.
    token: String,
}

/// `{"message":"Token updated successfully","token":"…","resource":[…]}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct UpdateResponse {
    /// Always `Token updated successfully`.
    message: &'static str,
    /// The same token.
    token: String,
    /// Its new resource set.
    resource: Vec<String>,
}

/// The tenant headers; a missing `tenant_hash` is a 400, before any work is done.
fn tenant_headers(
    headers: &HeaderMap,
    source: SourceAddress,
) -> Result<TenantCredentialsPresented, ApiError> {
    let text = |name: &str| -> Result<Option<String>, ApiError> {
        match headers.get(name) {
            None => Ok(None),
            Some(v) => v
                .to_str()
                .map(|s| Some(s.trim().to_owned()).filter(|s| !s.is_empty()))
                .map_err(|_| {
                    ApiError::invalid_request(format!("The {name} header must be ASCII."))
                }),
        }
    };
    let tenant_hash = text("tenant_hash")?
        .ok_or_else(|| ApiError::invalid_request("The tenant_hash header is required."))?;
    Ok(TenantCredentialsPresented {
        tenant_hash,
        oauth_key_secret: text("oauth_key_secret")?.map(Secret::new),
        source: source.0,
    })
}

/// The body as a JSON object.
fn json_object(body: &Bytes) -> Result<serde_json::Map<String, Value>, ApiError> {
    match crate::domain::json::value_from_slice(body) {
        Ok(Value::Object(map)) => Ok(map),
        Err(e @ JsonError::DuplicateKey { .. }) => Err(ApiError::invalid_request(format!(
            "The body has a duplicate key: {e}."
        ))),
        _ => Err(ApiError::invalid_request(
            "The body must be a JSON object, e.g. {\"resource\":[\"basic\"],\"validity\":300}.",
        )),
    }
}

/// `resource`: an array of strings (an empty or missing one is refused by the domain).
fn resources(body: &serde_json::Map<String, Value>) -> Result<Vec<String>, ApiError> {
    match body.get("resource") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| {
                item.as_str().map(str::to_owned).ok_or_else(|| {
                    ApiError::invalid_request("resource must be an array of strings.")
                })
            })
            .collect(),
        Some(_) => Err(ApiError::invalid_request(
            "resource must be an array of strings.",
        )),
    }
}

/// `validity`: absent or a whole number of minutes (the range is the domain's to check).
fn validity(body: &serde_json::Map<String, Value>) -> Result<Option<i64>, ApiError> {
    match body.get("validity") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(|| {
            ApiError::invalid_request("validity must be a whole number of minutes.")
        }),
        Some(_) => Err(ApiError::invalid_request(
            "validity must be a whole number of minutes.",
        )),
    }
}

/// secureApi callers authenticate with headers, not a standard scheme; name them in the
/// challenge.
fn map_error(error: DomainError) -> ApiError {
    let error = ApiError::from(error);
    if error.status == axum::http::StatusCode::UNAUTHORIZED
        && error.code == ErrorCode::InvalidClient
    {
        error.with_challenge(Challenge::TenantHeaders)
    } else {
        error
    }
}

/// Creates a scoped token.
#[utoipa::path(
    post,
    path = "/secureApi/token/{api}/create",
    tag = "secureApi",
    params(
        ("api" = String, Path, description = "A configured api: `profile` or `gdpr` by default"),
        ("tenant_hash" = String, Header, description = "The tenant's hash (32 hex chars)"),
        ("oauth_key_secret" = Option<String>, Header, description = "Required when the tenant has OAuth on"),
    ),
    request_body(content = CreateRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The new token", body = CreateResponse),
        (status = 400, description = "Missing tenant_hash, malformed body, bad validity (`invalid_request`) or unknown resource (`invalid_resource`)", body = ErrorBody),
        (status = 401, description = "Unknown tenant or wrong secret (`invalid_client`)", body = ErrorBody),
        (status = 404, description = "Unknown api", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 503, description = "Secret verification pool full; retry", body = ErrorBody),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    Path(api): Path<String>,
    headers: HeaderMap,
    source: SourceAddress,
    body: Bytes,
) -> Result<Response, ApiError> {
    let credentials = tenant_headers(&headers, source)?;
    require_readable(&headers, &body, Reads::Json)?;
    let body = json_object(&body)?;
    let (resources, validity) = (resources(&body)?, validity(&body)?);
    let token = state
        .services
        .secure_api
        .create(&api, &credentials, &resources, validity)
        .await
        .map_err(map_error)?;
    Ok(super::no_store(
        Json(CreateResponse {
            token: token.expose().to_owned(),
        })
        .into_response(),
    ))
}

/// Replaces the resource set of a token.
#[utoipa::path(
    post,
    path = "/secureApi/token/{api}/update",
    tag = "secureApi",
    params(
        ("api" = String, Path, description = "The api the token was created for"),
        ("tenant_hash" = String, Header, description = "The tenant's hash"),
        ("oauth_key_secret" = Option<String>, Header, description = "Required when the tenant has OAuth on"),
    ),
    request_body(content = UpdateRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The token with its new resources", body = UpdateResponse),
        (status = 400, description = "Missing tenant_hash or token, malformed body (`invalid_request`) or unknown resource (`invalid_resource`)", body = ErrorBody),
        (status = 401, description = "Unknown tenant or wrong secret (`invalid_client`); unknown, expired or foreign token (`invalid_token`)", body = ErrorBody),
        (status = 404, description = "Unknown api", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 503, description = "Secret verification pool full; retry", body = ErrorBody),
    )
)]
pub async fn update(
    State(state): State<AppState>,
    Path(api): Path<String>,
    headers: HeaderMap,
    source: SourceAddress,
    body: Bytes,
) -> Result<Response, ApiError> {
    let credentials = tenant_headers(&headers, source)?;
    require_readable(&headers, &body, Reads::Json)?;
    let body = json_object(&body)?;
    let resources = resources(&body)?;
    let token = match body.get("token") {
        Some(Value::String(token)) if !token.is_empty() => Secret::new(token.as_str()),
        _ => return Err(ApiError::invalid_request("token is required (a string).")),
    };
    let resource = state
        .services
        .secure_api
        .update(&api, &credentials, &token, &resources)
        .await
        .map_err(map_error)?;
    Ok(super::no_store(
        Json(UpdateResponse {
            message: "Token updated successfully",
            token: token.expose().to_owned(),
            resource,
        })
        .into_response(),
    ))
}
