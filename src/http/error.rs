//! The one place where domain errors become HTTP responses: status, the `error` code of SPEC,
//! a human sentence, and the `WWW-Authenticate` challenge on every 401.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::domain::DomainError;

/// Realm named in every challenge.
pub const REALM: &str = "cdp-auth";

/// Which credentials a 401 asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Challenge {
    /// Not a 401.
    None,
    /// `Basic realm="cdp-auth"`.
    Basic,
    /// `Bearer realm="cdp-auth"`: no token was sent (RFC 6750 §3.1: no error attribute).
    BearerMissing,
    /// `Bearer realm="cdp-auth", error="invalid_token"`.
    BearerInvalid,
    /// Either kind will do (`DELETE /token`).
    BasicOrBearer,
    /// `Bearer realm="cdp-auth", error="insufficient_scope"` (RFC 6750 §3.1, with a 403).
    BearerInsufficientScope,
    /// secureApi: the `tenant_hash` and `oauth_key_secret` headers.
    TenantHeaders,
}

/// An error answer: `{"error": code, "error_description": sentence}`.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Machine-readable code from SPEC's list.
    pub code: &'static str,
    /// A sentence for humans; never holds a secret.
    pub description: String,
    /// The challenge sent with a 401.
    pub challenge: Challenge,
    /// Seconds for a `Retry-After` header (429, 503).
    pub retry_after: Option<u64>,
    /// Itemised problems (a push's per-record errors), sent as `errors`.
    pub details: Option<Box<serde_json::Value>>,
}

/// The body of every error answer.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody<'a> {
    /// Machine-readable code (`invalid_request`, `invalid_client`, `invalid_token`, …).
    error: &'a str,
    /// A sentence for humans.
    error_description: &'a str,
    /// Itemised problems, when there are several (a push's invalid records).
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<&'a serde_json::Value>,
}

impl ApiError {
    /// An error with no challenge.
    pub fn new(status: StatusCode, code: &'static str, description: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            description: description.into(),
            challenge: Challenge::None,
            retry_after: None,
            details: None,
        }
    }

    /// `400 invalid_request`.
    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    /// Adds a challenge.
    pub fn with_challenge(mut self, challenge: Challenge) -> Self {
        self.challenge = challenge;
        self
    }

    /// `401 invalid_client` asking for Basic credentials.
    pub fn basic_required(description: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "invalid_client", description)
            .with_challenge(Challenge::Basic)
    }

    /// `401 invalid_token` asking for a Bearer token.
    pub fn bearer_required(description: impl Into<String>, challenge: Challenge) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "invalid_token", description).with_challenge(challenge)
    }

    /// The error code and sentence used for a bare status from the framework (unknown route,
    /// wrong method, oversized body…), so every error is JSON.
    pub fn for_status(status: StatusCode) -> Self {
        let (code, description) = match status {
            StatusCode::NOT_FOUND => ("not_found", "No such endpoint."),
            StatusCode::METHOD_NOT_ALLOWED => (
                "method_not_allowed",
                "This endpoint does not accept that HTTP method.",
            ),
            StatusCode::PAYLOAD_TOO_LARGE => {
                ("payload_too_large", "The request body is too large.")
            }
            StatusCode::REQUEST_TIMEOUT => ("request_timeout", "The request took too long."),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => (
                "invalid_request",
                "The request body has an unsupported content type.",
            ),
            s if s.is_server_error() => ("server_error", "An internal error occurred."),
            _ => ("invalid_request", "The request is malformed."),
        };
        Self::new(status, code, description)
    }
}

fn challenge_header(challenge: Challenge) -> Vec<HeaderValue> {
    let basic = || HeaderValue::from_static("Basic realm=\"cdp-auth\", charset=\"UTF-8\"");
    let bearer = || HeaderValue::from_static("Bearer realm=\"cdp-auth\"");
    match challenge {
        Challenge::None => vec![],
        Challenge::Basic => vec![basic()],
        Challenge::BearerMissing => vec![bearer()],
        Challenge::BearerInvalid => vec![HeaderValue::from_static(
            "Bearer realm=\"cdp-auth\", error=\"invalid_token\"",
        )],
        Challenge::BasicOrBearer => vec![basic(), bearer()],
        Challenge::BearerInsufficientScope => vec![HeaderValue::from_static(
            "Bearer realm=\"cdp-auth\", error=\"insufficient_scope\"",
        )],
        Challenge::TenantHeaders => vec![HeaderValue::from_static(
            "SecureApi realm=\"cdp-auth\", headers=\"tenant_hash oauth_key_secret\"",
        )],
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&ErrorBody {
            error: self.code,
            error_description: &self.description,
            errors: self.details.as_deref(),
        })
        .unwrap_or_default();
        let mut response = (self.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        for value in challenge_header(self.challenge) {
            headers.append(header::WWW_AUTHENTICATE, value);
        }
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<DomainError> for ApiError {
    fn from(error: DomainError) -> Self {
        let description = error.to_string();
        match error {
            DomainError::InvalidCredentials => ApiError::basic_required(description),
            DomainError::InvalidClient => {
                ApiError::new(StatusCode::UNAUTHORIZED, "invalid_client", description)
                    .with_challenge(Challenge::Basic)
            }
            DomainError::Busy => {
                let mut error = ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "temporarily_unavailable",
                    description,
                );
                error.retry_after = Some(1);
                error
            }
            DomainError::TooManyAttempts { retry_after } => {
                let mut error = ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too_many_attempts",
                    description,
                );
                error.retry_after = Some(retry_after);
                error
            }
            DomainError::InvalidResource { .. } => {
                ApiError::new(StatusCode::BAD_REQUEST, "invalid_resource", description)
            }
            DomainError::NotYourToken => {
                ApiError::new(StatusCode::BAD_REQUEST, "unauthorized_client", description)
            }
            DomainError::InvalidScope { .. } => {
                ApiError::new(StatusCode::BAD_REQUEST, "invalid_scope", description)
            }
            DomainError::InvalidToken => {
                ApiError::bearer_required(description, Challenge::BearerInvalid)
            }
            DomainError::InsufficientScope(_) => {
                ApiError::new(StatusCode::FORBIDDEN, "insufficient_scope", description)
                    .with_challenge(Challenge::BearerInsufficientScope)
            }
            DomainError::PasswordExpired => {
                ApiError::new(StatusCode::UNAUTHORIZED, "password_expired", description)
                    .with_challenge(Challenge::Basic)
            }
            DomainError::InstanceDisabled => {
                ApiError::new(StatusCode::FORBIDDEN, "instance_disabled", description)
            }
            DomainError::NoActiveToken => {
                ApiError::new(StatusCode::NOT_FOUND, "no_active_token", description)
            }
            DomainError::TokenLimitReached { .. } => {
                ApiError::new(StatusCode::CONFLICT, "token_limit_reached", description)
            }
            DomainError::ExtensionLimitReached => ApiError::new(
                StatusCode::BAD_REQUEST,
                "extension_limit_reached",
                description,
            ),
            DomainError::InstanceLimitReached { .. } => {
                ApiError::new(StatusCode::CONFLICT, "instance_limit_reached", description)
            }
            DomainError::NotFound(_) => {
                ApiError::new(StatusCode::NOT_FOUND, "not_found", description)
            }
            DomainError::Conflict(_) => {
                ApiError::new(StatusCode::CONFLICT, "conflict", description)
            }
            DomainError::InvalidRequest(_) => ApiError::invalid_request(description),
            DomainError::Store(store) => {
                tracing::error!(error = %store, "storage failure");
                ApiError::for_status(StatusCode::SERVICE_UNAVAILABLE)
            }
            DomainError::Internal(message) => {
                tracing::error!(error = %message, "internal failure");
                ApiError::for_status(StatusCode::INTERNAL_SERVER_ERROR)
            }
        }
    }
}
