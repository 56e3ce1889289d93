//! `/forward-auth`: the decision endpoint a gateway calls before it passes a request to an API
//! of its own — nginx `auth_request`, Traefik `ForwardAuth`, Caddy `forward_auth`, Envoy
//! `ext_authz` (HTTP service with a path prefix). It reads which request is meant from the
//! gateway's headers (or, for Envoy, from the path below `/forward-auth`), checks its token
//! exactly as the CDP API does, and lets the configured rules decide: `200` with `X-Auth-*`
//! headers for the API to trust, `401` with `WWW-Authenticate` for no or a dead token, `403`
//! for a token the rules do not allow.
//!
//! It is on the path of every request the gateway serves, so it does what the CDP API's token
//! check does and no more: a keyed hash and a cache lookup, rules parsed at start, and no
//! body ever read (a gateway may forward the original request's `Content-Length`).

use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::guard::{RequestLine, check_binding, presented_token, single_header};
use crate::domain::DomainError;
use crate::domain::forward_auth::{OriginalPath, TokenFacts, is_method_token, kind_word};
use crate::store::BearerContext;

/// The endpoint's path; the original path may follow it (Envoy's `path_prefix`).
pub const PATH: &str = "/forward-auth";

/// The token's tenant id, in decimal.
pub const X_AUTH_TENANT_ID: HeaderName = HeaderName::from_static("x-auth-tenant-id");
/// The instance username, or the `tenant_hash` for secureApi tokens.
pub const X_AUTH_CLIENT_ID: HeaderName = HeaderName::from_static("x-auth-client-id");
/// The token's scopes, space-separated.
pub const X_AUTH_SCOPE: HeaderName = HeaderName::from_static("x-auth-scope");
/// `a1user`, `secureapi` or `oauth`.
pub const X_AUTH_TOKEN_KIND: HeaderName = HeaderName::from_static("x-auth-token-kind");
/// When the token expires, Unix seconds.
pub const X_AUTH_EXPIRES_AT: HeaderName = HeaderName::from_static("x-auth-expires-at");

/// The pairs of headers that name the original request, tried in this order: the method's
/// header and the URI's.
const HEADER_PAIRS: [(&str, &str); 2] = [
    ("X-Original-Method", "X-Original-URI"),
    ("X-Forwarded-Method", "X-Forwarded-Uri"),
];

/// Decides whether the original request may pass.
#[utoipa::path(
    get,
    path = "/forward-auth",
    tag = "forward auth",
    operation_id = "forward_auth",
    description = "The decision endpoint for gateways: any method, also at every path below \
        `/forward-auth` (Envoy ext_authz with `path_prefix: /forward-auth` appends the original \
        path and keeps the original method). The original request is named by `X-Original-Method` \
        + `X-Original-URI` (nginx), else `X-Forwarded-Method` + `X-Forwarded-Uri` (Traefik, Caddy), \
        else by the path below `/forward-auth` and this request's method. The configured \
        `[[forward_auth.rules]]` decide; with none, every request is denied. The body is never read.",
    params(
        ("X-Original-Method" = Option<String>, Header, description = "nginx: the original request's method", example = "GET"),
        ("X-Original-URI" = Option<String>, Header, description = "nginx: the original request target, `/path?query`", example = "/orders/42?expand=lines"),
        ("X-Forwarded-Method" = Option<String>, Header, description = "Traefik, Caddy: the original request's method", example = "GET"),
        ("X-Forwarded-Uri" = Option<String>, Header, description = "Traefik, Caddy: the original request target", example = "/orders/42?expand=lines"),
        ("tenant_hash" = Option<String>, Header, description = "secureApi: when sent, must be the token's tenant"),
    ),
    responses(
        (status = 200, description = "Allowed. Empty body; the headers say who the token is",
            headers(
                ("X-Auth-Tenant-Id" = String, description = "The token's tenant id"),
                ("X-Auth-Client-Id" = String, description = "The instance username, or the tenant_hash for secureApi tokens"),
                ("X-Auth-Scope" = String, description = "The token's scopes, space-separated (`<api>:<resource>` for secureApi tokens)"),
                ("X-Auth-Token-Kind" = String, description = "`a1user`, `secureapi` or `oauth`"),
                ("X-Auth-Expires-At" = String, description = "When the token expires, Unix seconds"),
            )
        ),
        (status = 400, description = "`invalid_request`: no original request, only one header of a pair, a bad method or URI, a path with `.`/`..` segments or an encoded `/` or `\\`", body = ErrorBody),
        (status = 401, description = "`invalid_token`: no token, or an unknown, expired or revoked one", body = ErrorBody),
        (status = 403, description = "`insufficient_scope`: no rule matches, another tenant, or none of the rule's scopes; `instance_disabled`", body = ErrorBody),
    ),
    security(("bearer" = []), ("access_token" = []))
)]
pub async fn check(State(state): State<AppState>, request: Request) -> Response {
    // The body is dropped unread.
    let (parts, _) = request.into_parts();
    match decide(&state, &parts).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn decide(state: &AppState, parts: &Parts) -> Result<Response, ApiError> {
    let original = original_request(parts)?;
    let method = original.method;
    if !is_method_token(method) {
        return Err(ApiError::invalid_request(format!(
            "The original request's method ({}) is not an HTTP method token.",
            original.method_from
        )));
    }
    let path = OriginalPath::parse(original.target).map_err(|why| {
        ApiError::invalid_request(format!(
            "The original request's URI ({}) is refused: {why}.",
            original.target_from
        ))
    })?;
    let headers = &parts.headers;
    let presented = presented_token(headers)?;
    let authn = &state.services.authn;
    let entry = authn.bearer(&presented.token).await?;
    // A bound token's proof is for the original request: its method, and its URL at the
    // origin the gateway names (else the API Host URL). Only DPoP needs it: a plain bearer
    // check (the hot path) reads no more headers.
    let origin = if presented.dpop || entry.token.dpop_jkt.is_some() {
        original_origin(headers)?
    } else {
        None
    };
    let line = RequestLine {
        method,
        path: original.target.split(['?', '#']).next().unwrap_or_default(),
        origin: origin.as_deref(),
    };
    check_binding(
        Some(authn.dpop()),
        headers,
        &presented,
        entry.token.dpop_jkt.as_deref(),
        line,
    )
    .await?;
    if let Some(tenant_hash) = single_header(headers, "tenant_hash")?
        && tenant_hash != entry.tenant.tenant_hash
    {
        return Err(refuse(
            "The token belongs to another tenant than the tenant_hash header names.".to_owned(),
        ));
    }
    let facts = TokenFacts::of(&entry.context);
    state
        .services
        .forward_auth
        .decide(method, &path, &facts)
        .map_err(|refusal| refuse(refusal.describe(method, &path)))?;
    allowed(&entry.context, &facts)
}

/// The origin (`scheme://host`) of the original request, when the gateway sends both
/// `X-Forwarded-Proto` and `X-Forwarded-Host` (Traefik and Caddy do; nginx when configured
/// to, as the documentation shows): what a DPoP proof's `htu` names.
fn original_origin(headers: &axum::http::HeaderMap) -> Result<Option<String>, ApiError> {
    let proto = single_header(headers, "x-forwarded-proto")?;
    let host = single_header(headers, "x-forwarded-host")?;
    Ok(match (proto, host) {
        // A list (several proxies) names the first, the client-facing one.
        (Some(proto), Some(host)) => {
            let first = |v: &str| v.split(',').next().unwrap_or_default().trim().to_owned();
            Some(format!("{}://{}", first(proto), first(host)))
        }
        _ => None,
    })
}

/// The request the gateway asks about.
struct Original<'a> {
    /// Its method, not yet checked.
    method: &'a str,
    /// Its target, `/path?query`, not yet checked.
    target: &'a str,
    /// Where the method was read from, for messages.
    method_from: &'static str,
    /// Where the target was read from, for messages.
    target_from: &'static str,
}

/// Which request the gateway asks about, from the first pair of headers present, else from
/// the path below `/forward-auth`.
fn original_request(parts: &Parts) -> Result<Original<'_>, ApiError> {
    for (method_header, uri_header) in HEADER_PAIRS {
        let method = single_header(&parts.headers, method_header)?;
        let target = single_header(&parts.headers, uri_header)?;
        match (method, target) {
            (None, None) => continue,
            (Some(method), Some(target)) => {
                return Ok(Original {
                    method,
                    target,
                    method_from: method_header,
                    target_from: uri_header,
                });
            }
            (Some(_), None) | (None, Some(_)) => {
                let (sent, missing) = if method.is_some() {
                    (method_header, uri_header)
                } else {
                    (uri_header, method_header)
                };
                return Err(ApiError::invalid_request(format!(
                    "{sent} came without {missing}: send both, or neither."
                )));
            }
        }
    }
    let full = parts
        .uri
        .path_and_query()
        .map_or(parts.uri.path(), |target| target.as_str());
    match full.strip_prefix(PATH).filter(|rest| rest.starts_with('/')) {
        Some(target) => Ok(Original {
            method: parts.method.as_str(),
            target,
            method_from: "this request's method",
            target_from: "the path below /forward-auth",
        }),
        None => Err(ApiError::invalid_request(
            "No original request: send X-Original-Method and X-Original-URI (nginx), \
             X-Forwarded-Method and X-Forwarded-Uri (Traefik, Caddy), or append the original \
             path to /forward-auth (Envoy).",
        )),
    }
}

fn refuse(why: String) -> ApiError {
    ApiError::from(DomainError::InsufficientScope(why))
}

/// `200`, empty, with the headers the API behind the gateway may trust.
fn allowed(context: &BearerContext, facts: &TokenFacts<'_>) -> Result<Response, ApiError> {
    let client_id = match &context.instance {
        Some(instance) => instance.username.as_str(),
        None => context.tenant.tenant_hash.as_str(),
    };
    let unprintable = |_| DomainError::Internal("a token's facts are not header text".into());
    let mut response = StatusCode::OK.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(X_AUTH_TENANT_ID, HeaderValue::from(context.tenant.id));
    headers.insert(
        X_AUTH_CLIENT_ID,
        HeaderValue::from_str(client_id).map_err(unprintable)?,
    );
    headers.insert(
        X_AUTH_SCOPE,
        HeaderValue::try_from(facts.scopes.to_string()).map_err(unprintable)?,
    );
    headers.insert(
        X_AUTH_TOKEN_KIND,
        HeaderValue::from_static(kind_word(context.token.kind)),
    );
    headers.insert(
        X_AUTH_EXPIRES_AT,
        HeaderValue::from(context.token.expires_at),
    );
    Ok(response)
}
