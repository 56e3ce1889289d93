//! OAuth 2.0 on the wire: the token (RFC 6749 §4.4, §5), introspection (RFC 7662) and
//! revocation (RFC 7009) endpoints, the server metadata (RFC 8414) and the protected-resource
//! metadata of the CDP API (RFC 9728). Clients are instances: their username and password, sent
//! as `client_secret_basic` or `client_secret_post`, or a JWT signed by a key they registered
//! (`private_key_jwt`, RFC 7523).

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::credentials::{Presented, SourceAddress, form_decoded, presented};
use super::error::{ApiError, ErrorBody, ErrorCode};
use super::guard::single_header;
use super::media_type::{Reads, require_readable};
use super::{AppState, no_store};
use crate::domain::a1user::BasicCredentials;
use crate::domain::client_assertion::{JWT_BEARER, PresentedAssertion};
use crate::domain::client_keys::SIGNING_ALGORITHMS;
use crate::domain::clock;
use crate::domain::dpop::{DpopRefusal, ProofTarget};
use crate::domain::jwt::Confirmation;
use crate::domain::oauth::{self, ClientAuthentication, TOKEN_PATH};
use crate::domain::secrets::Secret;

/// The form parameters the three endpoints use. A repeated parameter is an error
/// (RFC 6749 §3.2: parameters MUST NOT be included more than once).
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct OAuthForm {
    /// `client_credentials`.
    grant_type: Option<String>,
    /// Optional scope; the instance type's scope (`dw:tracker`, `dw:a360`, `dw:webtag`).
    scope: Option<String>,
    /// client_secret_post: the instance username.
    client_id: Option<String>,
    /// client_secret_post: the instance password.
    client_secret: Option<String>,
    /// private_key_jwt: `urn:ietf:params:oauth:client-assertion-type:jwt-bearer`.
    client_assertion_type: Option<String>,
    /// private_key_jwt: a JWT signed by a key the instance registered (RFC 7523 §2.2).
    client_assertion: Option<String>,
    /// Introspection and revocation: the token.
    token: Option<String>,
    /// Introspection and revocation: a hint, accepted and not needed (tokens of every
    /// dialect are found by one lookup). Declared so a repeated hint is refused.
    #[allow(dead_code)]
    token_type_hint: Option<String>,
}

/// RFC 6749 §5.1 token response.
#[derive(Debug, Serialize, ToSchema)]
pub struct OAuthTokenResponse {
    access_token: String,
    /// `Bearer`, or `DPoP` when the request carried a DPoP proof and the token is bound to
    /// its key.
    token_type: &'static str,
    expires_in: i64,
    scope: String,
}

/// RFC 7662 introspection response.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct IntrospectionResponse {
    active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    iat: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    token_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tenant_id: Option<String>,
    /// secureApi tokens: their api.
    #[serde(skip_serializing_if = "Option::is_none")]
    api: Option<String>,
    /// Which dialect minted the token: `a1user`, `oauth` or `secure_api`.
    #[serde(skip_serializing_if = "Option::is_none")]
    dialect: Option<&'static str>,
    /// A DPoP-bound token's key: `{"jkt": "<JWK SHA-256 thumbprint>"}` (RFC 9449 §6.2).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    cnf: Option<Confirmation>,
}

/// RFC 8414 authorization server metadata.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServerMetadata {
    issuer: String,
    token_endpoint: String,
    introspection_endpoint: String,
    revocation_endpoint: String,
    /// Where the keys that sign JWT access tokens are published (RFC 7517).
    jwks_uri: String,
    grant_types_supported: Vec<&'static str>,
    /// RFC 8414 §2 makes this member REQUIRED, with no way to say "no authorization
    /// endpoint"; validators such as oauth4webapi check the members present and accept it
    /// empty or absent, while others insist it is there. An empty list is what a
    /// client-credentials-only server can truthfully say: no response type is supported,
    /// because there is no authorization endpoint.
    response_types_supported: Vec<&'static str>,
    token_endpoint_auth_methods_supported: Vec<&'static str>,
    /// Algorithms a `private_key_jwt` assertion may be signed with (`Ed25519` is RFC 9864's
    /// name for `EdDSA` over Ed25519; both are accepted).
    token_endpoint_auth_signing_alg_values_supported: Vec<&'static str>,
    introspection_endpoint_auth_methods_supported: Vec<&'static str>,
    introspection_endpoint_auth_signing_alg_values_supported: Vec<&'static str>,
    revocation_endpoint_auth_methods_supported: Vec<&'static str>,
    revocation_endpoint_auth_signing_alg_values_supported: Vec<&'static str>,
    /// Algorithms a DPoP proof may be signed with (RFC 9449 §5.1).
    dpop_signing_alg_values_supported: Vec<&'static str>,
    scopes_supported: Vec<&'static str>,
}

/// RFC 9728 protected resource metadata of the CDP API.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResourceMetadata {
    /// The API Host URL.
    resource: String,
    /// The issuer that grants tokens for it.
    authorization_servers: Vec<String>,
    /// Tokens go in the `Authorization` header only.
    bearer_methods_supported: Vec<&'static str>,
    /// Algorithms a DPoP proof may be signed with.
    dpop_signing_alg_values_supported: Vec<&'static str>,
    scopes_supported: Vec<&'static str>,
}

const AUTH_METHODS: [&str; 3] = [
    "client_secret_basic",
    "client_secret_post",
    "private_key_jwt",
];

fn form(body: &Bytes) -> Result<OAuthForm, ApiError> {
    serde_urlencoded::from_bytes(body).map_err(|_| {
        ApiError::invalid_request(
            "The body must be application/x-www-form-urlencoded with each parameter at most once.",
        )
    })
}

/// The client's credentials, by exactly one method (RFC 6749 §2.3: a client MUST NOT use
/// more than one per request). Two at once, or an assertion type we do not know, is a
/// malformed request (`400 invalid_request`, as RFC 6749 §5.2 has it for a repeated or
/// unsupported parameter), kept apart from failed authentication (`401 invalid_client`),
/// which says the credentials were wrong.
fn client(
    headers: &HeaderMap,
    source: SourceAddress,
    form: &OAuthForm,
) -> Result<ClientAuthentication, ApiError> {
    let assertion = match (
        form.client_assertion_type.as_deref(),
        form.client_assertion.as_deref(),
    ) {
        (None, None) => None,
        (Some(JWT_BEARER), Some(assertion)) => Some(assertion),
        (Some(JWT_BEARER), None) | (None, Some(_)) => {
            return Err(ApiError::invalid_request(
                "private_key_jwt needs both client_assertion_type and client_assertion.",
            ));
        }
        (Some(_), _) => {
            return Err(ApiError::invalid_request(format!(
                "Unsupported client_assertion_type; the one supported is {JWT_BEARER}."
            )));
        }
    };
    let posted = (form.client_id.as_deref(), form.client_secret.as_deref());
    let presented = presented(headers, source)?;
    if let Some(assertion) = assertion {
        return match (presented, form.client_secret.as_deref()) {
            (Presented::Missing, None) => Ok(ClientAuthentication::Assertion(PresentedAssertion {
                assertion: Secret::new(assertion),
                client_id: form.client_id.clone(),
                source: source.0,
            })),
            _ => Err(ApiError::invalid_request(
                "Use one client authentication method: a client assertion, Basic or client_secret, not more.",
            )),
        };
    }
    let credentials = match (presented, posted) {
        (Presented::Basic(credentials), (None, None)) => form_decoded(credentials)?,
        (Presented::Basic(_), _) => {
            return Err(ApiError::invalid_request(
                "Use one client authentication method: Basic or client_id/client_secret, not both.",
            ));
        }
        (Presented::Missing, (Some(id), Some(secret))) => BasicCredentials {
            username: id.to_owned(),
            password: Secret::new(secret),
            source: source.0,
        },
        _ => {
            return Err(ApiError::basic_required(
                "Client authentication is required (client_secret_basic, client_secret_post or private_key_jwt).",
            ));
        }
    };
    Ok(ClientAuthentication::Secret(credentials))
}

/// Issues a token for `grant_type=client_credentials`.
#[utoipa::path(
    post,
    path = "/oauth/token",
    tag = "OAuth 2.0",
    request_body(content = OAuthForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "RFC 6749 §5.1 token response", body = OAuthTokenResponse),
        (status = 400, description = "`invalid_request`, `unsupported_grant_type`, `invalid_scope`", body = ErrorBody),
        (status = 401, description = "`invalid_client`, `password_expired`", body = ErrorBody),
        (status = 403, description = "`instance_disabled`", body = ErrorBody),
    ),
    security(("basic" = []), ())
)]
pub async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    source: SourceAddress,
    body: Bytes,
) -> Result<Response, ApiError> {
    require_readable(&headers, &body, Reads::Form)?;
    let form = form(&body)?;
    match form.grant_type.as_deref() {
        Some("client_credentials") => {}
        None => {
            return Err(ApiError::invalid_request(
                "grant_type is required, in a form-encoded body (Content-Type: application/x-www-form-urlencoded): grant_type=client_credentials.",
            ));
        }
        Some(_) => {
            return Err(ApiError::new(
                axum::http::StatusCode::BAD_REQUEST,
                ErrorCode::UnsupportedGrantType,
                "Only grant_type=client_credentials is supported.",
            ));
        }
    }
    let client = client(&headers, source, &form)?;
    let dpop_jkt = token_request_proof(&state, &headers).await?;
    let grant = state
        .services
        .oauth
        .client_credentials(&client, form.scope.as_deref(), dpop_jkt)
        .await?;
    Ok(no_store(
        Json(OAuthTokenResponse {
            access_token: grant.access_token.expose().to_owned(),
            token_type: if grant.dpop_bound { "DPoP" } else { "Bearer" },
            expires_in: grant.expires_in,
            scope: grant.scope,
        })
        .into_response(),
    ))
}

/// The thumbprint of the key a token request's `DPoP` proof (RFC 9449 §5) was signed with, if
/// it carried one: the new token is bound to that key. A bad proof is `400
/// invalid_dpop_proof`, and no token is issued.
async fn token_request_proof(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<String>, ApiError> {
    let Some(proof) = single_header(headers, "dpop")? else {
        return Ok(None);
    };
    let dpop = state.services.authn.dpop();
    let target = ProofTarget {
        method: "POST",
        urls: dpop.token_endpoint_urls(),
        access_token: None,
        now: clock::now(),
    };
    match dpop.check(proof, &target).await {
        Ok(jkt) => Ok(Some(jkt)),
        Err(DpopRefusal::Proof(why)) => Err(ApiError::dpop_proof_refused(why.0)),
        Err(DpopRefusal::Unavailable(error)) => Err(error.into()),
    }
}

fn required_token(form: &OAuthForm) -> Result<Secret, ApiError> {
    form.token
        .as_deref()
        .map(Secret::new)
        .ok_or_else(|| ApiError::invalid_request("token is required."))
}

/// Tells whether a token of any dialect is active, to a caller of the same tenant.
#[utoipa::path(
    post,
    path = "/oauth/introspect",
    tag = "OAuth 2.0",
    request_body(content = OAuthForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "RFC 7662 response; `{\"active\":false}` for unknown, dead or foreign tokens", body = IntrospectionResponse),
        (status = 400, description = "`invalid_request`", body = ErrorBody),
        (status = 401, description = "`invalid_client`", body = ErrorBody),
    ),
    security(("basic" = []), ())
)]
pub async fn introspect(
    State(state): State<AppState>,
    headers: HeaderMap,
    source: SourceAddress,
    body: Bytes,
) -> Result<Response, ApiError> {
    require_readable(&headers, &body, Reads::Form)?;
    let form = form(&body)?;
    let client = client(&headers, source, &form)?;
    let token = required_token(&form)?;
    let found = state.services.oauth.introspect(&client, &token).await?;
    let response = match found {
        None => IntrospectionResponse::default(),
        Some(found) => IntrospectionResponse {
            active: true,
            client_id: Some(found.client_id),
            username: found.username,
            scope: Some(found.scope),
            exp: Some(found.exp),
            iat: Some(found.iat),
            token_type: Some(if found.dpop_jkt.is_some() {
                "DPoP"
            } else {
                "Bearer"
            }),
            tenant_id: Some(found.tenant_id),
            api: found.api,
            dialect: Some(found.kind.as_str()),
            cnf: found.dpop_jkt.map(|jkt| Confirmation { jkt }),
        },
    };
    Ok(no_store(Json(response).into_response()))
}

/// Revokes a token; answers 200 for unknown tokens too (RFC 7009 §2.2).
#[utoipa::path(
    post,
    path = "/oauth/revoke",
    tag = "OAuth 2.0",
    request_body(content = OAuthForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Revoked, or nothing to revoke"),
        (status = 400, description = "`invalid_request`; `unauthorized_client` for a token of another client", body = ErrorBody),
        (status = 401, description = "`invalid_client`", body = ErrorBody),
    ),
    security(("basic" = []), ())
)]
pub async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    source: SourceAddress,
    body: Bytes,
) -> Result<Response, ApiError> {
    require_readable(&headers, &body, Reads::Form)?;
    let form = form(&body)?;
    let client = client(&headers, source, &form)?;
    let token = required_token(&form)?;
    state.services.oauth.revoke(&client, &token).await?;
    Ok(no_store(Json(serde_json::json!({})).into_response()))
}

/// The server's OAuth metadata.
#[utoipa::path(
    get,
    path = "/.well-known/oauth-authorization-server",
    tag = "OAuth 2.0",
    responses((status = 200, description = "RFC 8414 metadata", body = ServerMetadata))
)]
pub async fn metadata(State(state): State<AppState>) -> Json<ServerMetadata> {
    let base = &state.auth_host_url;
    Json(ServerMetadata {
        issuer: base.clone(),
        token_endpoint: format!("{base}{TOKEN_PATH}"),
        introspection_endpoint: format!("{base}/oauth/introspect"),
        revocation_endpoint: format!("{base}/oauth/revoke"),
        jwks_uri: format!("{base}{JWKS_PATH}"),
        grant_types_supported: vec!["client_credentials"],
        response_types_supported: vec![],
        token_endpoint_auth_methods_supported: AUTH_METHODS.to_vec(),
        token_endpoint_auth_signing_alg_values_supported: SIGNING_ALGORITHMS.to_vec(),
        introspection_endpoint_auth_methods_supported: AUTH_METHODS.to_vec(),
        introspection_endpoint_auth_signing_alg_values_supported: SIGNING_ALGORITHMS.to_vec(),
        revocation_endpoint_auth_methods_supported: AUTH_METHODS.to_vec(),
        revocation_endpoint_auth_signing_alg_values_supported: SIGNING_ALGORITHMS.to_vec(),
        dpop_signing_alg_values_supported: SIGNING_ALGORITHMS.to_vec(),
        scopes_supported: oauth::all_scopes(),
    })
}

/// The CDP API's protected resource metadata: who grants its tokens and how they are sent.
#[utoipa::path(
    get,
    path = "/.well-known/oauth-protected-resource",
    tag = "OAuth 2.0",
    responses((status = 200, description = "RFC 9728 protected resource metadata", body = ResourceMetadata))
)]
pub async fn resource_metadata(State(state): State<AppState>) -> Json<ResourceMetadata> {
    Json(ResourceMetadata {
        resource: state.api_host_url.clone(),
        authorization_servers: vec![state.auth_host_url.clone()],
        bearer_methods_supported: vec!["header"],
        dpop_signing_alg_values_supported: SIGNING_ALGORITHMS.to_vec(),
        scopes_supported: oauth::all_scopes(),
    })
}

/// Where the JWT signing keys are published.
pub const JWKS_PATH: &str = "/.well-known/jwks.json";

/// The public keys that sign JWT access tokens: the active one, the next one (published ahead
/// of its first signature) and retired ones whose tokens may not have expired yet. Verifiers
/// may cache it for five minutes; a key is always published longer ahead than that.
#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    tag = "OAuth 2.0",
    responses((
        status = 200,
        description = "RFC 7517 JWK set: `{\"keys\":[{\"kty\",\"crv\",\"x\",\"y\",\"kid\",\"alg\",\"use\"}]}`",
        content_type = "application/jwk-set+json",
        body = serde_json::Value
    ))
)]
pub async fn jwks(State(state): State<AppState>) -> Response {
    let body = state.services.authn.jwt().jwks_json();
    let max_age = crate::domain::jwt::JWKS_MAX_AGE.as_secs();
    (
        [
            (
                axum::http::header::CONTENT_TYPE,
                "application/jwk-set+json".to_owned(),
            ),
            (
                axum::http::header::CACHE_CONTROL,
                format!("public, max-age={max_age}"),
            ),
        ],
        body.to_string(),
    )
        .into_response()
}
