//! The server's answers, as typed values. Each keeps the keys it does not name in `extra`, so
//! re-serialising an answer prints every key the server sent.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::PrimitiveDateTime;
use time::macros::format_description;

use crate::Secret;

/// The a1user token response (login, retrieve, extend, create; WebTag create adds
/// `accessKey`, kept in `extra`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenResponse {
    /// The bearer token (UUID-shaped).
    pub access_token: Secret,
    /// `bearer`.
    pub token_type: String,
    /// Whole seconds until the token expires.
    pub expires_in: i64,
    /// The tenant id, for the CDP paths (`/v2/{tenantId}/…`).
    #[serde(rename = "tenantId")]
    pub tenant_id: String,
    /// The instance's username.
    pub username: String,
    /// `CLIENT`.
    #[serde(rename = "userType")]
    pub user_type: String,
    /// When the instance's password stops working: ISO 8601 without zone, UTC.
    #[serde(rename = "passwordExpiryDate")]
    pub password_expiry_date: String,
    /// Any further keys.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl TokenResponse {
    /// `passwordExpiryDate` as a UTC date and time, if it parses.
    pub fn password_expires_at(&self) -> Option<time::OffsetDateTime> {
        let format = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
        PrimitiveDateTime::parse(&self.password_expiry_date, &format)
            .ok()
            .map(PrimitiveDateTime::assume_utc)
    }
}

/// `{"revoked": N}`: how many tokens a revoke ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revoked {
    /// Tokens revoked.
    pub revoked: u64,
}

/// The secureApi create answer, `{"token": "…"}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SecureToken {
    /// The scoped token (≥ 256 bits, `[A-Za-z0-9]`).
    pub token: Secret,
    /// Any further keys.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The secureApi update answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SecureTokenUpdate {
    /// `Token updated successfully`.
    pub message: String,
    /// The same token.
    pub token: Secret,
    /// Its resource set now.
    pub resource: Vec<String>,
    /// Any further keys.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// How an OAuth client presents its credentials to the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientAuth {
    /// HTTP Basic (`client_secret_basic`).
    #[default]
    Basic,
    /// `client_id` and `client_secret` in the form body (`client_secret_post`).
    Post,
}

/// RFC 6749 §5.1 token response.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OAuthToken {
    /// The bearer token.
    pub access_token: Secret,
    /// `Bearer`.
    pub token_type: String,
    /// Seconds until it expires.
    pub expires_in: i64,
    /// The granted scope (`dw:tracker`, `dw:a360`, `dw:webtag`).
    #[serde(default)]
    pub scope: Option<String>,
    /// Any further keys.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// RFC 7662 introspection response; only `active` is present for an inactive token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Introspection {
    /// Whether the token is active (and the caller may know of it).
    pub active: bool,
    /// The instance username (or the tenant, for secureApi tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The instance username.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Its scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Expiry, seconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    /// Issue time, seconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// `Bearer`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    /// The token's tenant id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// Any further keys (`dialect`, `api`…).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// RFC 8414 authorization server metadata.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServerMetadata {
    /// The issuer: the auth host URL.
    pub issuer: String,
    /// `POST` here for tokens.
    pub token_endpoint: String,
    /// RFC 7662 endpoint.
    #[serde(default)]
    pub introspection_endpoint: Option<String>,
    /// RFC 7009 endpoint.
    #[serde(default)]
    pub revocation_endpoint: Option<String>,
    /// `client_credentials`.
    #[serde(default)]
    pub grant_types_supported: Vec<String>,
    /// `client_secret_basic`, `client_secret_post`.
    #[serde(default)]
    pub token_endpoint_auth_methods_supported: Vec<String>,
    /// Any further keys.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}
