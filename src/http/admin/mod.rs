//! Who is an admin request: an API token (`Authorization: Bearer cdpa_…`) for scripts, or the
//! session cookie of a signed-in browser. Sessions must also prove each write came from our own
//! pages (the anti-CSRF token); API tokens are never sent by a browser on its own, so they
//! need not.

pub mod admins;
pub mod api;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum_extra::extract::cookie::CookieJar;

use super::AppState;
use super::credentials::{Presented, SourceAddress, presented};
use super::error::{ApiError, Challenge, ErrorCode};
use crate::domain::accounts::AdminPrincipal;
use crate::domain::model::AdminCredentialKind;
use crate::domain::secrets::Secret;

/// The cookie holding a browser's admin session.
pub const SESSION_COOKIE: &str = "cdp_auth_session";
/// The header scripts using a session (rather than an API token) send the anti-CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// A request's admin, with the session token when it came by cookie (to sign it out).
#[derive(Debug, Clone)]
pub struct Authenticated {
    /// Who is asking.
    pub principal: AdminPrincipal,
    /// The session cookie's value, for sessions.
    pub session: Option<Secret>,
}

/// The session cookie's value, if the request carries one.
pub fn session_cookie(headers: &HeaderMap) -> Option<Secret> {
    CookieJar::from_headers(headers)
        .get(SESSION_COOKIE)
        .map(|cookie| Secret::new(cookie.value()))
}

/// Finds the admin behind a request: `Ok(None)` when it presents nothing, an error when it
/// presents a credential that is not a live admin credential.
pub async fn authenticate(
    parts: &mut Parts,
    state: &AppState,
) -> Result<Option<Authenticated>, ApiError> {
    let source = SourceAddress::from_request_parts(parts, state)
        .await
        .unwrap_or(SourceAddress(None));
    let accounts = &state.services.accounts;
    match presented(&parts.headers, source)? {
        Presented::Bearer(token) => {
            match accounts
                .authenticate(AdminCredentialKind::Api, &token, source.0)
                .await?
            {
                Some(principal) => Ok(Some(Authenticated {
                    principal,
                    session: None,
                })),
                None => Err(ApiError::bearer_required(
                    "The admin API token is invalid, expired or revoked.",
                    Challenge::BearerInvalid,
                )),
            }
        }
        Presented::Missing => {
            let Some(session) = session_cookie(&parts.headers) else {
                return Ok(None);
            };
            let principal = accounts
                .authenticate(AdminCredentialKind::Session, &session, source.0)
                .await?;
            Ok(principal.map(|principal| Authenticated {
                principal,
                session: Some(session),
            }))
        }
        Presented::Basic(_) | Presented::Dpop(_) | Presented::Other => {
            Err(ApiError::bearer_required(
                "Send an admin API token as a Bearer token, or sign in at /ui/.",
                Challenge::BearerMissing,
            ))
        }
    }
}

/// An admin request to `/admin/api/` or `/postman/`: 401 JSON when not authenticated; 403
/// when a session writes without its anti-CSRF token in `X-CSRF-Token`.
#[derive(Debug, Clone)]
pub struct ApiAdmin(pub AdminPrincipal);

impl FromRequestParts<AppState> for ApiAdmin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(found) = authenticate(parts, state).await? else {
            return Err(ApiError::bearer_required(
                "Send an admin API token as a Bearer token, or sign in at /ui/.",
                Challenge::BearerMissing,
            ));
        };
        if !parts.method.is_safe() {
            let presented = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
            if !found.principal.allows_write(presented) {
                return Err(csrf_refused());
            }
        }
        Ok(ApiAdmin(found.principal))
    }
}

/// `403 invalid_csrf_token`.
pub fn csrf_refused() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        ErrorCode::InvalidCsrfToken,
        "This write did not carry the session's anti-CSRF token; reload the page and try again.",
    )
}

/// `Set-Cookie` attributes every session cookie carries: not readable by scripts, never sent
/// by other sites, and over HTTPS only when the service is served over HTTPS.
pub fn cookie_attributes(secure: bool, max_age_secs: i64) -> String {
    let mut attributes = format!("Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}");
    if secure {
        attributes.push_str("; Secure");
    }
    attributes
}

/// A `Set-Cookie` value.
pub fn set_cookie(name: &str, value: &str, secure: bool, max_age_secs: i64) -> header::HeaderValue {
    let cookie = format!(
        "{name}={value}; {}",
        cookie_attributes(secure, max_age_secs)
    );
    header::HeaderValue::from_str(&cookie)
        .unwrap_or_else(|_| header::HeaderValue::from_static("invalid=; Max-Age=0"))
}
