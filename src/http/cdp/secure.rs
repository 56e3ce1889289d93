//! The secureApi side of the CDP, in the vendor's shapes: `POST /api/v1/profile/b2b/{resource}`
//! for the customer named by an identifier header, and `POST /api/v1/gdpr/b2b/{action}`.
//! Answers are `{"status":"OK","message":"","data":…}`; errors
//! `{"status":"ERROR","message":…,"error":…}` with the same statuses as everywhere else.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::domain::DomainError;
use crate::domain::audit::Actor;
use crate::domain::cdp::records::normalise_email;
use crate::domain::json::JsonError;
use crate::http::AppState;
use crate::http::credentials::SourceAddress;
use crate::http::error::{ApiError, ErrorCode};
use crate::http::guard::{ErrorStyle, Grant, RequestLine, authorize_resource, single_header};
use crate::http::media_type::{Reads, require_readable};
use crate::store::cdp::CustomerKey;

/// The resources of api `profile` this server answers.
pub const PROFILE_RESOURCES: [&str; 8] = [
    "basic",
    "segments",
    "searchSegments",
    "isCustomerInSegment",
    "campaigns",
    "userActivity",
    "affinity",
    "recommendedProducts",
];

/// The requests of api `gdpr`.
pub const GDPR_ACTIONS: [&str; 3] = [
    "registerGdprRequest",
    "gdprRequestStatus",
    "revokeGdprActions",
];

fn ok(data: Value) -> Response {
    Json(json!({"status": "OK", "message": "", "data": data})).into_response()
}

fn vendor(error: impl Into<ApiError>) -> Response {
    ErrorStyle::SecureApi.render(error.into())
}

fn not_found(what: &str) -> ApiError {
    DomainError::NotFound(what.to_owned()).into()
}

/// The JSON object body; an empty body is `{}`.
fn object_body(body: &Bytes) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    match crate::domain::json::value_from_slice(body) {
        Ok(value @ Value::Object(_)) => Ok(value),
        Err(e @ JsonError::DuplicateKey { .. }) => Err(ApiError::invalid_request(format!(
            "The body has a duplicate key: {e}."
        ))),
        _ => Err(ApiError::invalid_request("The body must be a JSON object.")),
    }
}

/// The customer the identifier headers name (the first present of `email_address`,
/// `mobile_number`, `gcrId`, `customer_code_external`).
fn customer_key(headers: &HeaderMap) -> Result<CustomerKey, ApiError> {
    let named = |name| single_header(headers, name).map(|v| v.filter(|v| !v.is_empty()));
    if let Some(email) = named("email_address")? {
        return Ok(CustomerKey::Email(normalise_email(email)));
    }
    if let Some(phone) = named("mobile_number")? {
        return Ok(CustomerKey::Phone(phone.to_owned()));
    }
    if let Some(gcr) = named("gcrid")? {
        return Ok(CustomerKey::Gcr(gcr.to_owned()));
    }
    if let Some(source) = named("customer_code_external")? {
        return Ok(CustomerKey::SourceNumber(source.to_owned()));
    }
    Err(ApiError::invalid_request(
        "Name the customer with one of the headers email_address, mobile_number, gcrId or customer_code_external.",
    ))
}

/// `POST /api/v1/profile/b2b/{resource}`.
#[utoipa::path(
    post,
    path = "/api/v1/profile/b2b/{resource}",
    tag = "cdp",
    params(
        ("resource" = String, Path, description = "basic, segments, searchSegments, isCustomerInSegment, campaigns, userActivity, affinity, recommendedProducts"),
        ("tenant_hash" = String, Header, description = "The token's tenant"),
        ("email_address" = Option<String>, Header, description = "Names the customer"),
        ("mobile_number" = Option<String>, Header, description = "Names the customer"),
        ("gcrId" = Option<String>, Header, description = "Names the customer (unified id)"),
        ("customer_code_external" = Option<String>, Header, description = "Names the customer (source id)"),
    ),
    request_body(content = Option<Object>, content_type = "application/json", description = "`{\"segment\":…}` for isCustomerInSegment, `{\"pageSize\":n}` for userActivity, `{\"query\":…}` for searchSegments"),
    responses(
        (status = 200, description = "`{\"status\":\"OK\",\"message\":\"\",\"data\":{…}}`", body = Object),
        (status = 400, description = "No identifier header, no tenant_hash, bad body", body = Object),
        (status = 401, description = "No token or a dead one", body = Object),
        (status = 403, description = "The token lacks the resource or belongs to another tenant", body = Object),
        (status = 404, description = "Unknown resource, customer or segment", body = Object),
    ),
    security(("access_token" = []), ("bearer" = []))
)]
pub async fn profile(
    State(state): State<AppState>,
    Path(resource): Path<String>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let line = RequestLine::of(&method, &uri);
    let Some(resource) = PROFILE_RESOURCES.iter().find(|r| **r == resource) else {
        return vendor(not_found(&format!("Resource {resource:?}")));
    };
    let outcome = async {
        let grant =
            authorize_resource(&state.services.authn, &headers, line, "profile", resource).await?;
        let key = customer_key(&headers)?;
        require_readable(&headers, &body, Reads::Json)?;
        let body = object_body(&body)?;
        let data = state
            .services
            .cdp
            .profile(grant.tenant.id, &key, resource, &body)
            .await?;
        Ok::<_, ApiError>(data)
    }
    .await;
    outcome.map_or_else(vendor, ok)
}

/// `POST /api/v1/gdpr/b2b/{action}`.
#[utoipa::path(
    post,
    path = "/api/v1/gdpr/b2b/{action}",
    tag = "cdp",
    params(
        ("action" = String, Path, description = "registerGdprRequest, gdprRequestStatus, revokeGdprActions"),
        ("tenant_hash" = String, Header, description = "The token's tenant"),
        ("reqParamValue" = Option<String>, Header, description = "registerGdprRequest: the email, mobile number or gcrId naming the person"),
    ),
    request_body(content = Object, content_type = "application/json", description = "register: `{\"reqType\",\"reqParam\",\"reqSource\"}`; status and revoke: `{\"requestId\"}`"),
    responses(
        (status = 200, description = "`{\"status\":\"OK\",\"message\":\"\",\"data\":{…}}`", body = Object),
        (status = 400, description = "Bad body or headers", body = Object),
        (status = 401, description = "No token or a dead one", body = Object),
        (status = 403, description = "The token lacks the resource or belongs to another tenant", body = Object),
        (status = 404, description = "Unknown action or request", body = Object),
        (status = 409, description = "Revoking a request that is no longer pending", body = Object),
    ),
    security(("access_token" = []), ("bearer" = []))
)]
pub async fn gdpr(
    State(state): State<AppState>,
    Path(action): Path<String>,
    source: SourceAddress,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let line = RequestLine::of(&method, &uri);
    let Some(action) = GDPR_ACTIONS.iter().find(|a| **a == action) else {
        return vendor(not_found(&format!("GDPR action {action:?}")));
    };
    let outcome = async {
        let grant =
            authorize_resource(&state.services.authn, &headers, line, "gdpr", action).await?;
        require_readable(&headers, &body, Reads::Json)?;
        let body = object_body(&body)?;
        gdpr_action(&state, &grant, action, &body, &headers, source).await
    }
    .await;
    outcome.map_or_else(vendor, ok)
}

async fn gdpr_action(
    state: &AppState,
    grant: &Grant,
    action: &str,
    body: &Value,
    headers: &HeaderMap,
    source: SourceAddress,
) -> Result<Value, ApiError> {
    let cdp = &state.services.cdp;
    let actor = Actor::new(grant.tenant.tenant_hash.clone(), source.0);
    let request_id = || {
        body.get("requestId")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::invalid_request("The body must carry \"requestId\"."))
    };
    match action {
        "registerGdprRequest" => {
            let value = single_header(headers, "reqParamValue")?;
            let id = cdp
                .register_gdpr(&grant.tenant, body, value, &actor)
                .await?;
            Ok(json!({"requestId": id, "status": "pending"}))
        }
        "gdprRequestStatus" => Ok(cdp.gdpr_status(&grant.tenant, request_id()?).await?),
        _ => {
            let id = request_id()?;
            match cdp.revoke_gdpr(&grant.tenant, id, &actor).await {
                Ok(()) => Ok(json!({"requestId": id, "status": "revoked"})),
                Err(DomainError::Conflict(message)) => Err(ApiError::new(
                    StatusCode::CONFLICT,
                    ErrorCode::InvalidRequest,
                    message,
                )),
                Err(other) => Err(other.into()),
            }
        }
    }
}
