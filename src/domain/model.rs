//! The nouns of the domain, parsed once at the edge so that wrong states cannot be said:
//! environments, instance types, and the records the store hands back.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::clock::UnixTime;

/// Row id of a tenant: the vendor's `tenantId`, a positive integer allocated in order.
pub type TenantId = i64;
/// Row id of an instance.
pub type InstanceId = i64;
/// Row id of a token.
pub type TokenId = i64;

/// What `/oauth/token` hands out: an opaque random string (checked by a lookup here) or an
/// RFC 9068 JWT (which any service can also verify offline against the published keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenFormat {
    /// A random bearer string.
    Opaque,
    /// A signed JWT access token.
    Jwt,
}

impl TokenFormat {
    /// The word used in the config, the CLI, JSON and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenFormat::Opaque => "opaque",
            TokenFormat::Jwt => "jwt",
        }
    }
}

impl fmt::Display for TokenFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for TokenFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "opaque" => Ok(TokenFormat::Opaque),
            "jwt" => Ok(TokenFormat::Jwt),
            other => Err(format!(
                "unknown token format {other:?}: expected opaque or jwt"
            )),
        }
    }
}

/// A JWT signing key as stored: its private half sealed under the data key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKeyRecord {
    /// Key id: the RFC 7638 thumbprint of its public JWK.
    pub kid: String,
    /// Order of keys: the active key is the highest generation whose `active_from` has come.
    pub generation: i64,
    /// `ES256` or `EdDSA`.
    pub algorithm: String,
    /// The PKCS #8 private key, sealed.
    pub sealed_private: Vec<u8>,
    /// The public JWK, as published.
    pub public_jwk: String,
    /// When it was made (and first published).
    pub created_at: UnixTime,
    /// When it starts signing.
    pub active_from: UnixTime,
}

/// The kind of deployment a tenant is; it sets token lifetimes and limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    /// Customer Sandbox.
    Cs,
    /// User acceptance testing.
    Uat,
    /// Production.
    Prod,
}

impl Environment {
    /// The word used in the CLI, JSON and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Cs => "cs",
            Environment::Uat => "uat",
            Environment::Prod => "prod",
        }
    }
}

/// `pad`, not `write_str`, so widths and alignment (`{:<6}` in the CLI's tables) apply.
impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for Environment {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "cs" => Ok(Environment::Cs),
            "uat" => Ok(Environment::Uat),
            "prod" => Ok(Environment::Prod),
            other => Err(format!(
                "unknown environment {other:?}: expected cs, uat or prod"
            )),
        }
    }
}

/// What an integration instance is for; it fixes the username prefix and what the instance
/// may call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum InstanceType {
    /// Integration user: pushes upstream payloads.
    #[serde(rename = "dw-tracker")]
    DwTracker,
    /// 360 Profile user: pulls unified records.
    #[serde(rename = "profiles-360")]
    Profiles360,
    /// WebTag service user: website tracking.
    #[serde(rename = "webtag")]
    Webtag,
}

impl InstanceType {
    /// Every type, in the order the UI lists them.
    pub const ALL: [InstanceType; 3] = [
        InstanceType::DwTracker,
        InstanceType::Profiles360,
        InstanceType::Webtag,
    ];

    /// The word used in the CLI, JSON and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            InstanceType::DwTracker => "dw-tracker",
            InstanceType::Profiles360 => "profiles-360",
            InstanceType::Webtag => "webtag",
        }
    }

    /// The label the self-service UI shows.
    pub fn label(self) -> &'static str {
        match self {
            InstanceType::DwTracker => "DW Tracker",
            InstanceType::Profiles360 => "360 Profiles",
            InstanceType::Webtag => "WebTag",
        }
    }

    /// The prefix of generated usernames, so an operator can tell a user's role at a glance.
    pub fn username_prefix(self) -> &'static str {
        match self {
            InstanceType::DwTracker => "tracker_",
            InstanceType::Profiles360 => "profiles_",
            InstanceType::Webtag => "webtag_",
        }
    }
}

/// `pad`, not `write_str`, so widths and alignment (`{:<13}` in the CLI's tables) apply.
impl fmt::Display for InstanceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for InstanceType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        InstanceType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| {
                format!("unknown instance type {s:?}: expected dw-tracker, profiles-360 or webtag")
            })
    }
}

/// A tenant as stored: one CDP customer account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    /// The vendor's `tenantId`.
    pub id: TenantId,
    /// Unique display name; login bodies may name it as `tenantName`.
    pub name: String,
    /// Deployment kind, which sets lifetimes and limits.
    pub environment: Environment,
    /// Public identifier for the secureApi dialect (32 lowercase hex chars).
    pub tenant_hash: String,
    /// Whether secureApi callers must present `oauth_key_secret`.
    pub oauth_enabled: bool,
    /// Which `oauth_key_secret` is current: 1 for the first, one more at each rotation.
    /// secureApi tokens remember the generation they were minted with, and end with it.
    pub secret_generation: i64,
    /// The format of its OAuth access tokens; `None` follows the deployment's default.
    pub token_format: Option<TokenFormat>,
    /// When the tenant was created.
    pub created_at: UnixTime,
}

/// An instance as stored, without its password hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    /// Row id.
    pub id: InstanceId,
    /// The tenant it belongs to.
    pub tenant_id: TenantId,
    /// Name the data engineer gave it.
    pub name: String,
    /// Its role.
    pub instance_type: InstanceType,
    /// Generated username (prefix + 6 lowercase alphanumerics).
    pub username: String,
    /// After this moment the password no longer logs in.
    pub password_expires_at: UnixTime,
    /// Set while the instance is disabled.
    pub disabled_at: Option<UnixTime>,
    /// When the instance was created.
    pub created_at: UnixTime,
}

/// What a Basic-credential check needs in one read: the instance, its tenant and the keyed
/// hash of its password.
#[derive(Debug, Clone)]
pub struct InstanceCredentials {
    /// The instance the username names.
    pub instance: Instance,
    /// The tenant that owns it.
    pub tenant: Tenant,
    /// HMAC-SHA256 of the password under the server's password key.
    pub password_hash: Vec<u8>,
    /// The public keys registered for `private_key_jwt` (a JWK Set, checked when
    /// registered), if any.
    pub client_jwks: Option<String>,
}

/// Which dialect minted a token; each is looked up the same way but answers differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenKind {
    /// a1user: long-lived, retrievable daily, extendable, limited per instance.
    A1user,
    /// OAuth 2.0 client_credentials: short-lived, never handed out again.
    OAuth,
    /// secureApi: bound to a tenant, an api and a resource set.
    SecureApi,
}

impl TokenKind {
    /// The word stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::A1user => "a1user",
            TokenKind::OAuth => "oauth",
            TokenKind::SecureApi => "secure_api",
        }
    }
}

impl FromStr for TokenKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "a1user" => Ok(TokenKind::A1user),
            "oauth" => Ok(TokenKind::OAuth),
            "secure_api" => Ok(TokenKind::SecureApi),
            other => Err(format!("unknown token kind {other:?}")),
        }
    }
}

/// A token row as the store returns it for a bearer check or a retrieve.
#[derive(Debug, Clone)]
pub struct StoredToken {
    /// Row id.
    pub id: TokenId,
    /// Which dialect minted it.
    pub kind: TokenKind,
    /// The tenant it acts for.
    pub tenant_id: TenantId,
    /// The instance it belongs to (none for secureApi tokens, which belong to a tenant).
    pub instance_id: Option<InstanceId>,
    /// a1user tokens only: the token encrypted under the server's sealing key, so retrieve
    /// can hand the same string back without the database ever holding it in the clear.
    pub sealed: Option<Vec<u8>>,
    /// The keyed hash the token is looked up by.
    pub token_hash: Vec<u8>,
    /// secureApi tokens: the api they were created for.
    pub api: Option<String>,
    /// OAuth scope, or the secureApi resource set, space-separated.
    pub scope: Option<String>,
    /// When it was minted; `max_token_age` counts from here.
    pub issued_at: UnixTime,
    /// When it stops working unless extended.
    pub expires_at: UnixTime,
    /// When a bearer check last accepted it (kept to the minute).
    pub last_used_at: Option<UnixTime>,
    /// OAuth tokens bound to a DPoP key: its JWK SHA-256 thumbprint (`cnf.jkt`). Such a token
    /// is accepted only with a proof signed by that key.
    pub dpop_jkt: Option<String>,
}

/// A new token row.
#[derive(Debug, Clone)]
pub struct NewToken {
    /// Which dialect mints it.
    pub kind: TokenKind,
    /// The tenant it acts for.
    pub tenant_id: TenantId,
    /// Owner instance, except for secureApi tokens.
    pub instance_id: Option<InstanceId>,
    /// Keyed hash of the token string (the lookup key).
    pub token_hash: Vec<u8>,
    /// The token string, sealed (a1user only).
    pub sealed: Option<Vec<u8>>,
    /// secureApi: the api.
    pub api: Option<String>,
    /// OAuth scope or secureApi resources, space-separated.
    pub scope: Option<String>,
    /// Issue time.
    pub issued_at: UnixTime,
    /// Expiry time.
    pub expires_at: UnixTime,
    /// The first characters of the token, shown to operators to tell tokens apart.
    pub prefix: String,
    /// secureApi: the tenant's secret generation its `oauth_key_secret` was checked against;
    /// `None` when minted without a secret check (OAuth off) and for other dialects.
    pub secret_generation: Option<i64>,
    /// OAuth: the thumbprint of the DPoP key the token is bound to, if any.
    pub dpop_jkt: Option<String>,
}

/// A tenant with the argon2id hash of its `oauth_key_secret`, for secureApi checks.
#[derive(Debug, Clone)]
pub struct TenantCredentials {
    /// The tenant.
    pub tenant: Tenant,
    /// PHC string of the secret, if one was ever issued.
    pub oauth_secret_hash: Option<String>,
}

/// Row id of an admin account.
pub type AdminId = i64;

/// An administrator of the deployment: signs in to the UI, calls the admin API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminAccount {
    /// Row id.
    pub id: AdminId,
    /// Sign-in name.
    pub username: String,
    /// When the account was created.
    pub created_at: UnixTime,
    /// When it was disabled; a disabled admin cannot sign in and its credentials do not work.
    pub disabled_at: Option<UnixTime>,
}

impl AdminAccount {
    /// Whether the admin may sign in and use its credentials.
    pub fn enabled(&self) -> bool {
        self.disabled_at.is_none()
    }
}

/// Row id of an admin session or API token.
pub type AdminCredentialId = i64;

/// A live admin credential as an authentication finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminCredentialMatch {
    /// Its (enabled) owner.
    pub admin: AdminAccount,
    /// The credential's row id.
    pub id: AdminCredentialId,
    /// When it was last used, as recorded (at most once a minute).
    pub last_used_at: Option<UnixTime>,
}

/// One admin API token as listings show it: never the token nor its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminTokenListing {
    /// Row id, by which it is revoked.
    pub id: AdminCredentialId,
    /// When it was issued.
    pub created_at: UnixTime,
    /// When it stops working.
    pub expires_at: UnixTime,
    /// When it was last used (to the minute), if ever.
    pub last_used_at: Option<UnixTime>,
}

/// What a guarded change to an admin account came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminChange {
    /// Done.
    Done,
    /// No such admin.
    NotFound,
    /// Refused: it would leave no enabled admin.
    LastEnabled,
}

/// What an admin credential is: a browser session (cookie, expires, needs a CSRF token on every
/// write) or an API token for scripts (Bearer, long-lived).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminCredentialKind {
    /// A signed-in browser.
    Session,
    /// A script's API token.
    Api,
}

impl AdminCredentialKind {
    /// The word stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            AdminCredentialKind::Session => "session",
            AdminCredentialKind::Api => "api",
        }
    }
}

/// One token of an instance as the admin pages list it: never the token itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenListing {
    /// Row id, by which an admin revokes it.
    pub id: TokenId,
    /// Which dialect minted it.
    pub kind: TokenKind,
    /// The first characters of the token, if recorded.
    pub prefix: Option<String>,
    /// Issue time.
    pub issued_at: UnixTime,
    /// Expiry time.
    pub expires_at: UnixTime,
    /// Last accepted use.
    pub last_used_at: Option<UnixTime>,
}

/// An audit-log entry to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAuditEntry {
    /// When it happened.
    pub at: UnixTime,
    /// Who: an admin username, an instance username, `cli`, or the name a failed attempt gave.
    pub actor: String,
    /// What (`instance.created`, `token.revoked`, …).
    pub action: String,
    /// The tenant concerned.
    pub tenant_id: Option<TenantId>,
    /// The instance concerned.
    pub instance_id: Option<InstanceId>,
    /// The source address of the request.
    pub source: Option<String>,
    /// More about it, never a secret.
    pub detail: String,
}

/// An audit-log entry as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// Row id, increasing with time.
    pub id: i64,
    /// The entry.
    pub entry: NewAuditEntry,
}

/// Which audit entries to list, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Only this action.
    pub action: Option<String>,
    /// Only this actor.
    pub actor: Option<String>,
    /// Only this tenant.
    pub tenant_id: Option<TenantId>,
    /// Only this instance.
    pub instance_id: Option<InstanceId>,
    /// Only entries older than this id (the next page).
    pub before: Option<i64>,
    /// At most this many.
    pub limit: u32,
}
