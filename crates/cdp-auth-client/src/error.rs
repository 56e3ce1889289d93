//! The errors a call can end in: the server's answer ([`ApiError`]), or no usable answer at
//! all ([`Error::Transport`], [`Error::Decode`]).

use std::fmt;
use std::time::Duration;

use serde_json::Value;

/// What went wrong with a call.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server answered with an error status; see [`ApiError`] (boxed: it is large, and
    /// `Result`s stay small).
    #[error(transparent)]
    Api(Box<ApiError>),
    /// The request did not complete: connection refused, timeout, TLS failure…
    #[error("cannot reach the server: {}", chain(.0))]
    Transport(#[source] reqwest::Error),
    /// The server answered with a success status but a body this client cannot read.
    #[error("unexpected answer from the server (HTTP {status}): {message}")]
    Decode {
        /// The HTTP status.
        status: u16,
        /// What could not be read.
        message: String,
    },
    /// A base URL or argument this client was given is unusable.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

impl From<ApiError> for Error {
    fn from(error: ApiError) -> Self {
        Error::Api(Box::new(error))
    }
}

impl Error {
    /// The server's error code, when the server answered with one.
    pub fn code(&self) -> Option<&ErrorCode> {
        match self {
            Error::Api(e) => Some(&e.code),
            _ => None,
        }
    }

    /// The server's error, when the server answered with one.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            Error::Api(e) => Some(e),
            _ => None,
        }
    }
}

/// An error with its causes, which say what failed (refused, timed out, bad certificate…).
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// An error answer from the server, in either shape it uses:
/// `{"error":"<code>","error_description":"<sentence>"}` (the token dialects, OAuth and the
/// a1user side of the CDP API) or `{"status":"ERROR","message":"<sentence>","error":"<code>"}`
/// (the secureApi side of the CDP API).
#[derive(Debug, Clone, thiserror::Error)]
pub struct ApiError {
    /// The HTTP status (400, 401, 403, 404, 409, 413, 422, 429, 503…).
    pub status: u16,
    /// The `error` code.
    pub code: ErrorCode,
    /// The human sentence: `error_description`, or `message` in the secureApi CDP shape.
    pub description: String,
    /// `Retry-After`, in seconds, on 429 and 503 answers.
    pub retry_after: Option<Duration>,
    /// The `WWW-Authenticate` challenge of a 401 (and of some 403s).
    pub www_authenticate: Option<String>,
    /// The whole body, for fields beyond these (e.g. a rejected push's `errors` list).
    pub body: Value,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.description.is_empty() {
            write!(f, "HTTP {}: {}", self.status, self.code)
        } else {
            f.write_str(&self.description)
        }
    }
}

impl ApiError {
    /// Reads an error answer; a body in neither shape still yields an error with the status.
    pub(crate) fn from_parts(
        status: u16,
        body: &[u8],
        retry_after: Option<Duration>,
        www_authenticate: Option<String>,
    ) -> Self {
        let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let text = |key: &str| body.get(key).and_then(Value::as_str).map(str::to_owned);
        let code = text("error").map_or_else(
            || ErrorCode::Other(format!("http_{status}")),
            |c| ErrorCode::from(c.as_str()),
        );
        let description = text("error_description")
            .or_else(|| text("message"))
            .unwrap_or_default();
        ApiError {
            status,
            code,
            description,
            retry_after,
            www_authenticate,
            body,
        }
    }
}

/// The `error` codes the server documents; any other arrives as [`ErrorCode::Other`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// 400 (422 for a reused `Idempotency-Key`): a malformed request.
    InvalidRequest,
    /// 401: wrong username/password, `tenant_hash` or `oauth_key_secret`.
    InvalidClient,
    /// 401: an unknown, expired or revoked bearer token.
    InvalidToken,
    /// 403: a token of the wrong tenant or instance type, or without the resource.
    InsufficientScope,
    /// 400: `scheme` missing or not one the request takes.
    UnsupportedScheme,
    /// 404: a retrieve found no active token.
    NoActiveToken,
    /// 409: a create beyond `max_active_tokens`.
    TokenLimitReached,
    /// 400: an extend would pass issue time + `max_token_age`; create a new token instead.
    ExtensionLimitReached,
    /// 401: the right password, past its expiry date.
    PasswordExpired,
    /// 403: the instance is disabled.
    InstanceDisabled,
    /// 429: too many failed credential attempts; see [`ApiError::retry_after`].
    TooManyAttempts,
    /// 400: a secureApi resource the api does not have.
    InvalidResource,
    /// 413: the body is too large.
    PayloadTooLarge,
    /// 400: an OAuth grant type other than `client_credentials`.
    UnsupportedGrantType,
    /// 400: an OAuth scope the client may not have.
    InvalidScope,
    /// 404: no such route, api, customer or request.
    NotFound,
    /// 405: the wrong HTTP method.
    MethodNotAllowed,
    /// 503: the server is busy; see [`ApiError::retry_after`].
    TemporarilyUnavailable,
    /// A code this client does not know (or `http_<status>` when the body had none).
    Other(String),
}

impl ErrorCode {
    /// The code as the server spells it.
    pub fn as_str(&self) -> &str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidClient => "invalid_client",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::InsufficientScope => "insufficient_scope",
            ErrorCode::UnsupportedScheme => "unsupported_scheme",
            ErrorCode::NoActiveToken => "no_active_token",
            ErrorCode::TokenLimitReached => "token_limit_reached",
            ErrorCode::ExtensionLimitReached => "extension_limit_reached",
            ErrorCode::PasswordExpired => "password_expired",
            ErrorCode::InstanceDisabled => "instance_disabled",
            ErrorCode::TooManyAttempts => "too_many_attempts",
            ErrorCode::InvalidResource => "invalid_resource",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            ErrorCode::InvalidScope => "invalid_scope",
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
            ErrorCode::Other(code) => code,
        }
    }
}

impl From<&str> for ErrorCode {
    fn from(code: &str) -> Self {
        match code {
            "invalid_request" => ErrorCode::InvalidRequest,
            "invalid_client" => ErrorCode::InvalidClient,
            "invalid_token" => ErrorCode::InvalidToken,
            "insufficient_scope" => ErrorCode::InsufficientScope,
            "unsupported_scheme" => ErrorCode::UnsupportedScheme,
            "no_active_token" => ErrorCode::NoActiveToken,
            "token_limit_reached" => ErrorCode::TokenLimitReached,
            "extension_limit_reached" => ErrorCode::ExtensionLimitReached,
            "password_expired" => ErrorCode::PasswordExpired,
            "instance_disabled" => ErrorCode::InstanceDisabled,
            "too_many_attempts" => ErrorCode::TooManyAttempts,
            "invalid_resource" => ErrorCode::InvalidResource,
            "payload_too_large" => ErrorCode::PayloadTooLarge,
            "unsupported_grant_type" => ErrorCode::UnsupportedGrantType,
            "invalid_scope" => ErrorCode::InvalidScope,
            "not_found" => ErrorCode::NotFound,
            "method_not_allowed" => ErrorCode::MethodNotAllowed,
            "temporarily_unavailable" => ErrorCode::TemporarilyUnavailable,
            other => ErrorCode::Other(other.to_owned()),
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_token_dialect_shape() {
        let e = ApiError::from_parts(
            429,
            br#"{"error":"too_many_attempts","error_description":"Too many."}"#,
            Some(Duration::from_secs(30)),
            None,
        );
        assert_eq!(e.code, ErrorCode::TooManyAttempts);
        assert_eq!(e.description, "Too many.");
        assert_eq!(e.retry_after, Some(Duration::from_secs(30)));
    }

    #[test]
    fn reads_the_secure_api_cdp_shape() {
        let e = ApiError::from_parts(
            403,
            br#"{"status":"ERROR","message":"No.","error":"insufficient_scope"}"#,
            None,
            None,
        );
        assert_eq!(e.code, ErrorCode::InsufficientScope);
        assert_eq!(e.to_string(), "No.");
    }

    #[test]
    fn survives_a_body_in_neither_shape() {
        let e = ApiError::from_parts(502, b"<html>bad gateway</html>", None, None);
        assert_eq!(e.code, ErrorCode::Other("http_502".into()));
    }
}
