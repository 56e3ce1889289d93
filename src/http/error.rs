//! The one place where domain errors become HTTP responses: status, the `error` code of SPEC,
//! a human sentence, and the `WWW-Authenticate` challenge on every 401.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::domain::DomainError;

/// Seconds a client is asked to wait (`Retry-After`) while the database is unavailable: a
/// few, since the server notices the database answering again within a second.
pub const UNAVAILABLE_RETRY_AFTER: u64 = 2;

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
    /// `DPoP realm="cdp-auth", error="invalid_dpop_proof"` (RFC 9449 §7.1), with a Bearer
    /// challenge beside it: a DPoP proof was missing or bad.
    DpopInvalidProof,
    /// `DPoP realm="cdp-auth", error="invalid_token"`: the token is DPoP-bound but came as
    /// Bearer, or came as DPoP but is not bound.
    DpopInvalidToken,
}

/// Declares [`ErrorCode`] and its list from one table, so the list cannot miss a code.
macro_rules! error_codes {
    ($($variant:ident = $code:literal, $statuses:literal, $meaning:literal;)+) => {
        /// Every machine-readable `error` code the server answers, in one place: the HTTP
        /// layer can only answer codes listed here, and the documentation's error table is
        /// generated from [`ErrorCode::ALL`] (a test keeps `docs/errors.md` in step).
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum ErrorCode {
            $(
                #[doc = $meaning]
                $variant,
            )+
        }

        impl ErrorCode {
            /// Every code, in the order of the documentation's table.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),+];

            /// The code as it appears in a body's `error` field.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $code,)+
                }
            }

            /// The statuses this code is answered with, as the documentation lists them.
            pub const fn statuses(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $statuses,)+
                }
            }

            /// When this code is answered, in a sentence for the documentation.
            pub const fn meaning(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $meaning,)+
                }
            }
        }
    };
}

error_codes! {
    InvalidRequest = "invalid_request", "400, 409, 414, 422, 431",
        "The request is malformed: a missing or repeated parameter, a bad value, an unreadable body or header (400); a request target over 8 KiB (414) or header fields over 100 or 32 KiB (431); a push reusing an `Idempotency-Key` with another body (422); revoking a GDPR request that is no longer pending (409).";
    UnsupportedMediaType = "unsupported_media_type", "415",
        "The request declares a `Content-Type` the endpoint cannot read (for example JSON sent to `/oauth/token`, which takes form-encoded bodies).";
    InvalidClient = "invalid_client", "401",
        "The client credentials (Basic username and password, `client_secret_post`, or the secureApi `tenant_hash` and `oauth_key_secret`) are missing or wrong. Unknown usernames and wrong passwords answer alike.";
    InvalidToken = "invalid_token", "401",
        "No bearer token was sent, or it is unknown, expired, revoked or of a disabled instance; a DPoP-bound token sent as `Bearer`, or an unbound one sent as `DPoP`.";
    InvalidDpopProof = "invalid_dpop_proof", "400, 401",
        "The `DPoP` proof is missing, malformed, signed wrongly, for another method or URL, too old or too new, reused, or (at a resource) not signed by the key the token is bound to: 400 at `/oauth/token`, 401 at the CDP API and `/forward-auth`.";
    InsufficientScope = "insufficient_scope", "403",
        "The token is valid but may not do this: another tenant, another instance type, a resource it does not hold, a WebTag origin that is not allowed, or (`/forward-auth`) no rule that allows the request.";
    UnsupportedScheme = "unsupported_scheme", "400",
        "`scheme` is missing or not one this endpoint speaks (`a1user`, `a1webtag`).";
    UnsupportedGrantType = "unsupported_grant_type", "400",
        "`/oauth/token` supports `grant_type=client_credentials` only.";
    InvalidScope = "invalid_scope", "400",
        "An OAuth `scope` names something the client may not have.";
    UnauthorizedClient = "unauthorized_client", "400",
        "The token presented belongs to another client than the one authenticated (`/oauth/revoke`).";
    NoActiveToken = "no_active_token", "404",
        "The daily retrieve found no active token for the instance: log in (or create) first.";
    TokenLimitReached = "token_limit_reached", "409",
        "The instance already holds its most active tokens (`max_active_tokens_*`): revoke one first.";
    ExtensionLimitReached = "extension_limit_reached", "400",
        "An extend would push the token past its issue time plus `max_token_age`: create a new token.";
    PasswordExpired = "password_expired", "401",
        "The instance's password has expired: an administrator rotates it.";
    InstanceDisabled = "instance_disabled", "403",
        "The instance is disabled: an administrator enables it again.";
    InstanceLimitReached = "instance_limit_reached", "409",
        "The tenant already holds its most instances of that type (`max_instances_per_type`).";
    InvalidResource = "invalid_resource", "400",
        "A secureApi resource is not one of the api's; the description names the allowed ones.";
    TooManyAttempts = "too_many_attempts", "429",
        "Too many failed credential attempts for this name or address, or a WebTag key over its rate; `Retry-After` says when to try again.";
    PayloadTooLarge = "payload_too_large", "413",
        "The body is larger than the endpoint takes (64 KiB for token requests, `max_push_body` for pushes).";
    NotFound = "not_found", "404",
        "No such endpoint, or no such tenant, instance, customer, segment or request.";
    MethodNotAllowed = "method_not_allowed", "405",
        "The endpoint exists but not for this HTTP method; `Allow` lists the methods it takes.";
    Conflict = "conflict", "409",
        "The change conflicts with what exists, such as a name already taken.";
    InvalidCsrfToken = "invalid_csrf_token", "403",
        "A write from a signed-in browser session did not carry the page's anti-CSRF token.";
    RequestTimeout = "request_timeout", "408",
        "The request body did not arrive in time.";
    TemporarilyUnavailable = "temporarily_unavailable", "503",
        "The service cannot answer now: the database is out of reach or cannot take writes (a full disk, an I/O error), or the password-hashing queue is full. `Retry-After` says when to try again.";
    ServerError = "server_error", "500, 503",
        "An internal failure; nothing about it reaches the body. It is logged for the operator.";
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// An error answer: `{"error": code, "error_description": sentence}`.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Machine-readable code.
    pub code: ErrorCode,
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
    #[schema(value_type = String)]
    error: ErrorCode,
    /// A sentence for humans.
    error_description: &'a str,
    /// Itemised problems, when there are several (a push's invalid records).
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<&'a serde_json::Value>,
}

impl ApiError {
    /// An error with no challenge.
    pub fn new(status: StatusCode, code: ErrorCode, description: impl Into<String>) -> Self {
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
        Self::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidRequest,
            description,
        )
    }

    /// Adds a challenge.
    pub fn with_challenge(mut self, challenge: Challenge) -> Self {
        self.challenge = challenge;
        self
    }

    /// `401 invalid_client` asking for Basic credentials.
    pub fn basic_required(description: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::InvalidClient,
            description,
        )
        .with_challenge(Challenge::Basic)
    }

    /// `400 invalid_dpop_proof`: the token endpoint refused a request's DPoP proof.
    pub fn dpop_proof_refused(description: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidDpopProof,
            description,
        )
    }

    /// `401 invalid_dpop_proof` with a DPoP challenge: a resource refused the proof that came
    /// with a bound token.
    pub fn dpop_proof_required(description: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::InvalidDpopProof,
            description,
        )
        .with_challenge(Challenge::DpopInvalidProof)
    }

    /// `401 invalid_token` with a DPoP challenge: a bound token came as Bearer, or an unbound
    /// one as DPoP.
    pub fn dpop_scheme_mismatch(description: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::InvalidToken,
            description,
        )
        .with_challenge(Challenge::DpopInvalidToken)
    }

    /// `401 invalid_token` asking for a Bearer token.
    pub fn bearer_required(description: impl Into<String>, challenge: Challenge) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::InvalidToken,
            description,
        )
        .with_challenge(challenge)
    }

    /// The error code and sentence used for a bare status from the framework (unknown route,
    /// wrong method, oversized body…), so every error is JSON.
    pub fn for_status(status: StatusCode) -> Self {
        let (code, description) = match status {
            StatusCode::NOT_FOUND => (ErrorCode::NotFound, "No such endpoint."),
            StatusCode::METHOD_NOT_ALLOWED => (
                ErrorCode::MethodNotAllowed,
                "This endpoint does not accept that HTTP method.",
            ),
            StatusCode::PAYLOAD_TOO_LARGE => {
                (ErrorCode::PayloadTooLarge, "The request body is too large.")
            }
            StatusCode::REQUEST_TIMEOUT => {
                (ErrorCode::RequestTimeout, "The request took too long.")
            }
            StatusCode::UNSUPPORTED_MEDIA_TYPE => (
                ErrorCode::UnsupportedMediaType,
                "The request body has a content type this endpoint cannot read.",
            ),
            s if s.is_server_error() => (ErrorCode::ServerError, "An internal error occurred."),
            _ => (ErrorCode::InvalidRequest, "The request is malformed."),
        };
        Self::new(status, code, description)
    }
}

/// The DPoP challenge a resource answers beside its Bearer one (RFC 9449 §7.1), with the
/// error when there is one: tokens may come either way, and `algs` tells a client which
/// proofs it may sign.
fn dpop_challenge(error: Option<&str>) -> HeaderValue {
    let error = error.map_or(String::new(), |e| format!(" error=\"{e}\","));
    let algs = crate::domain::dpop::PROOF_ALGORITHMS.join(" ");
    HeaderValue::from_str(&format!("DPoP realm=\"cdp-auth\",{error} algs=\"{algs}\""))
        .expect("the challenge is printable ASCII")
}

fn challenge_header(challenge: Challenge) -> Vec<HeaderValue> {
    let basic = || HeaderValue::from_static("Basic realm=\"cdp-auth\", charset=\"UTF-8\"");
    let bearer = || HeaderValue::from_static("Bearer realm=\"cdp-auth\"");
    let dpop = || dpop_challenge(None);
    match challenge {
        Challenge::None => vec![],
        Challenge::Basic => vec![basic()],
        Challenge::BearerMissing => vec![bearer(), dpop()],
        Challenge::BearerInvalid => vec![
            HeaderValue::from_static("Bearer realm=\"cdp-auth\", error=\"invalid_token\""),
            dpop(),
        ],
        Challenge::DpopInvalidProof => vec![dpop_challenge(Some("invalid_dpop_proof")), bearer()],
        Challenge::DpopInvalidToken => vec![dpop_challenge(Some("invalid_token")), bearer()],
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
            DomainError::InvalidClient => ApiError::new(
                StatusCode::UNAUTHORIZED,
                ErrorCode::InvalidClient,
                description,
            )
            .with_challenge(Challenge::Basic),
            DomainError::Busy => {
                let mut error = ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    ErrorCode::TemporarilyUnavailable,
                    description,
                );
                error.retry_after = Some(1);
                error
            }
            DomainError::TooManyAttempts { retry_after } => {
                let mut error = ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    ErrorCode::TooManyAttempts,
                    description,
                );
                error.retry_after = Some(retry_after);
                error
            }
            DomainError::InvalidResource { .. } => ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidResource,
                description,
            ),
            DomainError::NotYourToken => ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::UnauthorizedClient,
                description,
            ),
            DomainError::InvalidScope { .. } => ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidScope,
                description,
            ),
            DomainError::InvalidToken => {
                ApiError::bearer_required(description, Challenge::BearerInvalid)
            }
            DomainError::InsufficientScope(_) => ApiError::new(
                StatusCode::FORBIDDEN,
                ErrorCode::InsufficientScope,
                description,
            )
            .with_challenge(Challenge::BearerInsufficientScope),
            DomainError::PasswordExpired => ApiError::new(
                StatusCode::UNAUTHORIZED,
                ErrorCode::PasswordExpired,
                description,
            )
            .with_challenge(Challenge::Basic),
            DomainError::InstanceDisabled => ApiError::new(
                StatusCode::FORBIDDEN,
                ErrorCode::InstanceDisabled,
                description,
            ),
            DomainError::NoActiveToken => {
                ApiError::new(StatusCode::NOT_FOUND, ErrorCode::NoActiveToken, description)
            }
            DomainError::TokenLimitReached { .. } => ApiError::new(
                StatusCode::CONFLICT,
                ErrorCode::TokenLimitReached,
                description,
            ),
            DomainError::ExtensionLimitReached => ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::ExtensionLimitReached,
                description,
            ),
            DomainError::InstanceLimitReached { .. } => ApiError::new(
                StatusCode::CONFLICT,
                ErrorCode::InstanceLimitReached,
                description,
            ),
            DomainError::NotFound(_) => {
                ApiError::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, description)
            }
            DomainError::Conflict(_) => {
                ApiError::new(StatusCode::CONFLICT, ErrorCode::Conflict, description)
            }
            DomainError::InvalidRequest(_) => ApiError::invalid_request(description),
            DomainError::Store(store) if store.is_unavailable() => {
                tracing::warn!(error = %store, "database unavailable");
                let mut error = ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    ErrorCode::TemporarilyUnavailable,
                    "The database is out of reach or cannot take writes now; retry shortly.",
                );
                error.retry_after = Some(UNAVAILABLE_RETRY_AFTER);
                error
            }
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

/// The error table of `docs/errors.md`, rendered from [`ErrorCode::ALL`].
pub fn error_table_markdown() -> String {
    let mut table = String::from("| `error` | status | when |\n|---|---|---|\n");
    for code in ErrorCode::ALL {
        table.push_str(&format!(
            "| `{}` | {} | {} |\n",
            code.as_str(),
            code.statuses(),
            code.meaning()
        ));
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/errors.md");
    const BEGIN: &str = "<!-- error table: generated from src/http/error.rs -->\n";
    const END: &str = "<!-- end of error table -->";

    /// The documented table is the code's list, so a new code cannot go undocumented. Run with
    /// `CDP_AUTH_UPDATE_DOCS=1` to rewrite the table after changing the list.
    #[test]
    fn the_documented_error_table_lists_every_code_the_server_answers() {
        let doc = std::fs::read_to_string(DOC).expect("docs/errors.md");
        let (before, rest) = doc.split_once(BEGIN).expect("the table's start marker");
        let (_, after) = rest.split_once(END).expect("the table's end marker");
        let current = format!("{before}{BEGIN}{}{END}{after}", error_table_markdown());
        if std::env::var_os("CDP_AUTH_UPDATE_DOCS").is_some() {
            std::fs::write(DOC, &current).expect("rewrite docs/errors.md");
            return;
        }
        assert_eq!(
            doc, current,
            "docs/errors.md is out of step with ErrorCode: run the test with CDP_AUTH_UPDATE_DOCS=1"
        );
    }

    #[test]
    fn codes_are_unique_and_snake_case() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            assert!(seen.insert(code.as_str()), "{code} listed twice");
            assert!(
                code.as_str()
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{code} is not snake_case"
            );
        }
    }
}
