//! The a1user dialect on the wire: `POST /authentication?action=login` and the `/token`
//! requests, answered in the vendor's exact shapes. Handlers parse, call one domain method,
//! and map the result.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::credentials::{Presented, SourceAddress, presented, require_basic, require_bearer};
use super::error::{ApiError, Challenge, ErrorBody, ErrorCode};
use super::media_type::{Reads, require_readable};
use crate::domain::a1user::TokenGrant;
use crate::domain::clock;
use crate::domain::json::JsonError;

/// The vendor's token response; the field order is the vendor's.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: i64,
    #[serde(rename = "tenantId")]
    tenant_id: String,
    username: String,
    #[serde(rename = "userType")]
    user_type: &'static str,
    #[serde(rename = "passwordExpiryDate")]
    password_expiry_date: String,
}

impl From<TokenGrant> for TokenResponse {
    fn from(grant: TokenGrant) -> Self {
        TokenResponse {
            access_token: grant.access_token.expose().to_owned(),
            token_type: "bearer",
            expires_in: grant.expires_in,
            tenant_id: grant.tenant_id.to_string(),
            username: grant.username,
            user_type: "CLIENT",
            password_expiry_date: clock::iso_without_zone(grant.password_expires_at),
        }
    }
}

/// `{"revoked": N}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct RevokedResponse {
    revoked: u64,
}

/// The query parameters the a1user requests use. Others are ignored; a repeated one is an
/// error, since which copy to believe would be a guess.
#[derive(Debug, Default, Deserialize)]
struct A1Query {
    scheme: Option<String>,
    action: Option<String>,
}

/// The optional login body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginBody {
    #[serde(rename = "tenantName")]
    tenant_name: Option<String>,
}

fn parse_query(raw: Option<String>) -> Result<A1Query, ApiError> {
    match raw {
        None => Ok(A1Query::default()),
        Some(raw) => serde_urlencoded::from_str(&raw).map_err(|_| {
            ApiError::invalid_request("The query string is malformed or repeats a parameter.")
        }),
    }
}

/// `/token` answers only `scheme=a1user` (the WebTag scheme comes with the CDP API).
fn require_a1user_scheme(query: &A1Query) -> Result<(), ApiError> {
    match query.scheme.as_deref() {
        Some("a1user") => Ok(()),
        None => Err(ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            ErrorCode::UnsupportedScheme,
            "The scheme query parameter is required: use scheme=a1user.",
        )),
        Some(_) => Err(ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            ErrorCode::UnsupportedScheme,
            "Unsupported scheme: use scheme=a1user.",
        )),
    }
}

fn unknown_action(allowed: &str) -> ApiError {
    ApiError::invalid_request(format!("Unknown or missing action: {allowed}."))
}

/// Token responses must not be cached by anything between us and the client (RFC 6749 §5.1).
fn token_response(grant: TokenGrant) -> Response {
    super::no_store(Json(TokenResponse::from(grant)).into_response())
}

/// `POST /authentication?action=login` (Basic): the one-time login.
#[utoipa::path(
    post,
    path = "/authentication",
    tag = "a1user",
    params(("action" = String, Query, description = "Must be `login`")),
    request_body(content = Option<LoginBody>, content_type = "application/json", description = "Empty, or `{\"tenantName\":\"…\"}` which must name the instance's tenant"),
    responses(
        (status = 200, description = "The instance's newest active token, minted if it has none", body = TokenResponse),
        (status = 400, description = "Missing or unknown action, malformed body or header (`invalid_request`)", body = ErrorBody),
        (status = 401, description = "Wrong credentials (`invalid_client`) or expired password (`password_expired`)", body = ErrorBody),
        (status = 403, description = "Instance disabled (`instance_disabled`)", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
    ),
    security(("basic" = []))
)]
pub async fn login(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    source: SourceAddress,
    body: Bytes,
) -> Result<Response, ApiError> {
    let query = parse_query(raw)?;
    if query.action.as_deref() != Some("login") {
        return Err(unknown_action("use action=login"));
    }
    let credentials = require_basic(&headers, source)?;
    require_readable(&headers, &body, Reads::Json)?;
    let tenant_name = parse_login_body(&body)?;
    let grant = state
        .services
        .a1user
        .login(&credentials, tenant_name.as_deref())
        .await?;
    Ok(token_response(grant))
}

/// An empty body (even with `Content-Type: application/json`) is fine; otherwise it must be
/// the JSON object `{"tenantName": "…"}`.
fn parse_login_body(body: &Bytes) -> Result<Option<String>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    crate::domain::json::from_slice::<LoginBody>(body)
        .map(|b| b.tenant_name)
        .map_err(|e| match e {
            JsonError::DuplicateKey { .. } => {
                ApiError::invalid_request(format!("The login body has a duplicate key: {e}."))
            }
            JsonError::Invalid(_) => ApiError::invalid_request(
                "The login body must be empty or a JSON object like {\"tenantName\":\"…\"}.",
            ),
        })
}

/// `GET /token?scheme=a1user` (Basic): the daily retrieve.
#[utoipa::path(
    get,
    path = "/token",
    tag = "a1user",
    params(("scheme" = String, Query, description = "Must be `a1user`")),
    responses(
        (status = 200, description = "The newest active token", body = TokenResponse),
        (status = 400, description = "Missing or unknown scheme (`unsupported_scheme`), malformed request (`invalid_request`)", body = ErrorBody),
        (status = 401, description = "Wrong credentials (`invalid_client`) or expired password (`password_expired`)", body = ErrorBody),
        (status = 403, description = "Instance disabled", body = ErrorBody),
        (status = 404, description = "No active token (`no_active_token`)", body = ErrorBody),
    ),
    security(("basic" = []))
)]
pub async fn retrieve(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    source: SourceAddress,
) -> Result<Response, ApiError> {
    let query = parse_query(raw)?;
    require_a1user_scheme(&query)?;
    if query.action.is_some() {
        return Err(unknown_action("GET /token takes no action"));
    }
    let credentials = require_basic(&headers, source)?;
    let grant = state.services.a1user.retrieve(&credentials).await?;
    Ok(token_response(grant))
}

/// `POST /token?scheme=a1user&action=extend|create`: extend (Bearer) moves the token's
/// expiry to now + lifetime; create (Basic) mints another token.
#[utoipa::path(
    post,
    path = "/token",
    tag = "a1user",
    params(
        ("scheme" = String, Query, description = "`a1user`, or `a1webtag` (with `action=create`) for a WebTag instance's token and browser `accessKey`"),
        ("action" = String, Query, description = "`extend` (Bearer) or `create` (Basic)"),
    ),
    responses(
        (status = 200, description = "The extended or new token (`scheme=a1webtag` adds `accessKey`)", body = TokenResponse),
        (status = 400, description = "`unsupported_scheme`, `invalid_request`, or `extension_limit_reached`", body = ErrorBody),
        (status = 401, description = "`invalid_token`, `invalid_client` or `password_expired`", body = ErrorBody),
        (status = 403, description = "Instance disabled, or `scheme=a1webtag` for an instance that is not a WebTag (`insufficient_scope`)", body = ErrorBody),
        (status = 409, description = "Too many active tokens (`token_limit_reached`)", body = ErrorBody),
    ),
    security(("bearer" = []), ("basic" = []))
)]
pub async fn extend_or_create(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    source: SourceAddress,
) -> Result<Response, ApiError> {
    let query = parse_query(raw)?;
    if query.scheme.as_deref() == Some("a1webtag") {
        if query.action.as_deref() != Some("create") {
            return Err(unknown_action("scheme=a1webtag takes action=create"));
        }
        return webtag_create(&state, &require_basic(&headers, source)?).await;
    }
    require_a1user_scheme(&query)?;
    let a1user = &state.services.a1user;
    let grant = match query.action.as_deref() {
        Some("extend") => a1user.extend(&require_bearer(&headers)?, source.0).await?,
        Some("create") => a1user.create(&require_basic(&headers, source)?).await?,
        _ => return Err(unknown_action("use action=extend or action=create")),
    };
    Ok(token_response(grant))
}

/// The token response of a WebTag instance, plus its browser `accessKey`.
#[derive(Debug, Serialize)]
pub struct WebTagTokenResponse {
    #[serde(flatten)]
    token: TokenResponse,
    /// The browser-safe key for `/v2/{tenantId}/dw/tracker?scheme=a1webtag&accessKey=…`.
    #[serde(rename = "accessKey")]
    access_key: String,
}

/// `POST /token?scheme=a1webtag&action=create`: a new token for a WebTag instance and the
/// browser key bound to it.
async fn webtag_create(
    state: &AppState,
    credentials: &crate::domain::a1user::BasicCredentials,
) -> Result<Response, ApiError> {
    let (grant, token_hash) = state.services.a1user.create_webtag(credentials).await?;
    let key = state.services.cdp.issue_webtag_key(&token_hash).await?;
    let body = WebTagTokenResponse {
        token: TokenResponse::from(grant),
        access_key: key.expose().to_owned(),
    };
    Ok(super::no_store(Json(body).into_response()))
}

/// `DELETE /token?scheme=a1user`: Bearer revokes that token, Basic revokes them all.
#[utoipa::path(
    delete,
    path = "/token",
    tag = "a1user",
    params(("scheme" = String, Query, description = "Must be `a1user`")),
    responses(
        (status = 200, description = "How many tokens were revoked", body = RevokedResponse),
        (status = 400, description = "`unsupported_scheme` or `invalid_request`", body = ErrorBody),
        (status = 401, description = "`invalid_token`, `invalid_client` or `password_expired`", body = ErrorBody),
        (status = 403, description = "Instance disabled", body = ErrorBody),
    ),
    security(("bearer" = []), ("basic" = []))
)]
pub async fn revoke(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    source: SourceAddress,
) -> Result<Response, ApiError> {
    let query = parse_query(raw)?;
    require_a1user_scheme(&query)?;
    if query.action.is_some() {
        return Err(unknown_action("DELETE /token takes no action"));
    }
    let a1user = &state.services.a1user;
    let revoked = match presented(&headers, source)? {
        Presented::Bearer(token) => a1user.revoke(&token, source.0).await?,
        Presented::Basic(credentials) => a1user.revoke_all(&credentials).await?,
        Presented::Missing | Presented::Dpop(_) | Presented::Other => {
            return Err(ApiError::new(
                axum::http::StatusCode::UNAUTHORIZED,
                ErrorCode::InvalidClient,
                "Send a Bearer token to revoke it, or Basic credentials to revoke every token.",
            )
            .with_challenge(Challenge::BasicOrBearer));
        }
    };
    Ok(Json(RevokedResponse { revoked }).into_response())
}
