//! The JSON shapes of tenants, instances, tokens and audit entries, shared by the admin API and
//! the CLI's `--json` output so that a script sees the same fields from both. Secrets appear
//! only in the views of the answer that issues them.

use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::accounts::IssuedAdminToken;
use crate::domain::admin::{CreatedTenant, InstanceSummary, IssuedPassword};
use crate::domain::clock;
use crate::domain::model::{AdminAccount, AdminTokenListing, AuditRecord, Tenant, TokenListing};

/// A tenant.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantView {
    /// The vendor's tenantId.
    pub id: String,
    /// Unique name.
    pub name: String,
    /// `cs`, `uat` or `prod`.
    pub environment: String,
    /// Public identifier for secureApi.
    pub tenant_hash: String,
    /// Whether secureApi callers must present `oauth_key_secret`.
    pub oauth_enabled: bool,
    /// What `/oauth/token` issues to its instances: `opaque` or `jwt`; null follows the
    /// deployment's `oauth_token_format`.
    pub token_format: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// Only in the answer that issues it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oauth_key_secret: Option<String>,
    /// How many secureApi tokens a secret rotation or turning OAuth on ended, when any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens_ended: Option<u64>,
}

impl TenantView {
    /// The view of a stored tenant.
    pub fn of(tenant: &Tenant) -> Self {
        TenantView {
            id: tenant.id.to_string(),
            name: tenant.name.clone(),
            environment: tenant.environment.to_string(),
            tenant_hash: tenant.tenant_hash.clone(),
            oauth_enabled: tenant.oauth_enabled,
            token_format: tenant.token_format.map(|f| f.as_str().to_owned()),
            created_at: clock::rfc3339(tenant.created_at),
            oauth_key_secret: None,
            tokens_ended: None,
        }
    }

    /// The view of a tenant just created or changed, with its secret when one was issued.
    pub fn created(created: &CreatedTenant) -> Self {
        TenantView {
            oauth_key_secret: created
                .oauth_key_secret
                .as_ref()
                .map(|s| s.expose().to_owned()),
            tokens_ended: Some(created.tokens_ended).filter(|n| *n > 0),
            ..Self::of(&created.tenant)
        }
    }
}

/// An instance as listings show it.
#[derive(Debug, Serialize, ToSchema)]
pub struct InstanceView {
    /// Row id.
    pub id: String,
    /// Owning tenant's id.
    pub tenant_id: String,
    /// Name.
    pub name: String,
    /// `dw-tracker`, `profiles-360` or `webtag`.
    #[serde(rename = "type")]
    pub instance_type: String,
    /// Generated username.
    pub username: String,
    /// RFC 3339.
    pub created_at: String,
    /// ISO 8601 without zone, as the vendor writes `passwordExpiryDate`.
    pub password_expiry_date: String,
    /// Whether an admin disabled it.
    pub disabled: bool,
    /// Active tokens now.
    pub active_tokens: u64,
    /// RFC 3339, when any of its tokens was last used.
    pub last_used_at: Option<String>,
}

impl InstanceView {
    /// The view of an instance summary.
    pub fn of(summary: &InstanceSummary) -> Self {
        let i = &summary.instance;
        InstanceView {
            id: i.id.to_string(),
            tenant_id: i.tenant_id.to_string(),
            name: i.name.clone(),
            instance_type: i.instance_type.to_string(),
            username: i.username.clone(),
            created_at: clock::rfc3339(i.created_at),
            password_expiry_date: clock::iso_without_zone(i.password_expires_at),
            disabled: i.disabled_at.is_some(),
            active_tokens: summary.active_tokens,
            last_used_at: summary.last_used_at.map(clock::rfc3339),
        }
    }
}

/// An instance with its password, shown once: what `instance create --json` prints.
#[derive(Debug, Serialize, ToSchema)]
pub struct IssuedCredentialsView {
    /// Row id.
    pub id: String,
    /// Owning tenant's id.
    pub tenant_id: String,
    /// Name.
    pub name: String,
    /// Type word.
    #[serde(rename = "type")]
    pub instance_type: String,
    /// Where the protected API is.
    pub api_host_url: String,
    /// Where tokens are issued.
    pub auth_host_url: String,
    /// Username.
    pub username: String,
    /// The password, shown this once.
    pub password: String,
    /// ISO 8601 without zone.
    pub password_expiry_date: String,
}

impl IssuedCredentialsView {
    /// The view of freshly issued credentials.
    pub fn of(issued: &IssuedPassword, api_host_url: &str, auth_host_url: &str) -> Self {
        let i = &issued.instance;
        IssuedCredentialsView {
            id: i.id.to_string(),
            tenant_id: i.tenant_id.to_string(),
            name: i.name.clone(),
            instance_type: i.instance_type.to_string(),
            api_host_url: api_host_url.to_owned(),
            auth_host_url: auth_host_url.to_owned(),
            username: i.username.clone(),
            password: issued.password.expose().to_owned(),
            password_expiry_date: clock::iso_without_zone(i.password_expires_at),
        }
    }
}

/// One active token of an instance; never the token itself.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenView {
    /// Row id, to revoke it by.
    pub id: String,
    /// `a1user` or `oauth`.
    pub kind: String,
    /// The token's first characters.
    pub prefix: Option<String>,
    /// RFC 3339.
    pub issued_at: String,
    /// RFC 3339.
    pub expires_at: String,
    /// RFC 3339.
    pub last_used_at: Option<String>,
}

impl TokenView {
    /// The view of a listing row.
    pub fn of(token: &TokenListing) -> Self {
        TokenView {
            id: token.id.to_string(),
            kind: token.kind.as_str().to_owned(),
            prefix: token.prefix.clone(),
            issued_at: clock::rfc3339(token.issued_at),
            expires_at: clock::rfc3339(token.expires_at),
            last_used_at: token.last_used_at.map(clock::rfc3339),
        }
    }
}

/// An administrator: never its password or tokens.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminView {
    /// Sign-in name.
    pub username: String,
    /// False once disabled: it cannot sign in and its API tokens do not work.
    pub enabled: bool,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339, when disabled.
    pub disabled_at: Option<String>,
}

impl AdminView {
    /// The view of an account.
    pub fn of(admin: &AdminAccount) -> Self {
        AdminView {
            username: admin.username.clone(),
            enabled: admin.enabled(),
            created_at: clock::rfc3339(admin.created_at),
            disabled_at: admin.disabled_at.map(clock::rfc3339),
        }
    }
}

/// An admin with a generated password, in the one answer that shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminPasswordView {
    /// Sign-in name.
    pub username: String,
    /// The generated password, shown this once.
    pub password: String,
}

/// A live admin API token as listings show it: never the token or its hash.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminTokenView {
    /// Row id, to revoke it by.
    pub id: i64,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub expires_at: String,
    /// RFC 3339, to the minute; none if never used.
    pub last_used_at: Option<String>,
}

impl AdminTokenView {
    /// The view of a listing row.
    pub fn of(token: &AdminTokenListing) -> Self {
        AdminTokenView {
            id: token.id,
            created_at: clock::rfc3339(token.created_at),
            expires_at: clock::rfc3339(token.expires_at),
            last_used_at: token.last_used_at.map(clock::rfc3339),
        }
    }
}

/// A new admin API token, in the one answer that shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct IssuedAdminTokenView {
    /// The token (`cdpa_…`), shown this once.
    pub token: String,
    /// Row id, to list and revoke it by.
    pub id: i64,
    /// RFC 3339.
    pub expires_at: String,
}

impl IssuedAdminTokenView {
    /// The view of a new token.
    pub fn of(issued: &IssuedAdminToken) -> Self {
        IssuedAdminTokenView {
            token: issued.token.expose().to_owned(),
            id: issued.id,
            expires_at: clock::rfc3339(issued.expires_at),
        }
    }
}

/// One audit-log entry.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditView {
    /// Row id (pass as `before` for the next page).
    pub id: i64,
    /// RFC 3339.
    pub at: String,
    /// Admin username, instance username, tenant hash, or `cli`.
    pub actor: String,
    /// What happened (`token.issued`, `instance.created`, …).
    pub action: String,
    /// Tenant concerned.
    pub tenant_id: Option<String>,
    /// Instance concerned.
    pub instance_id: Option<String>,
    /// Source address of the request.
    pub source: Option<String>,
    /// More about it; never a secret.
    pub detail: String,
}

impl AuditView {
    /// The view of a stored entry.
    pub fn of(record: &AuditRecord) -> Self {
        let e = &record.entry;
        AuditView {
            id: record.id,
            at: clock::rfc3339(e.at),
            actor: e.actor.clone(),
            action: e.action.clone(),
            tenant_id: e.tenant_id.map(|id| id.to_string()),
            instance_id: e.instance_id.map(|id| id.to_string()),
            source: e.source.clone(),
            detail: e.detail.clone(),
        }
    }
}

/// `{"revoked": N}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct RevokedView {
    /// How many tokens were revoked.
    pub revoked: u64,
}

/// A WebTag instance's allowed origins.
#[derive(Debug, Serialize, ToSchema)]
pub struct OriginsView {
    /// Instance id.
    pub id: String,
    /// Username.
    pub username: String,
    /// Origins its browser key may be used from.
    pub origins: Vec<String>,
}

impl OriginsView {
    /// The view of an instance and its origins.
    pub fn of(instance: &crate::domain::model::Instance, origins: Vec<String>) -> Self {
        OriginsView {
            id: instance.id.to_string(),
            username: instance.username.clone(),
            origins,
        }
    }
}

/// One registered `private_key_jwt` public key, as shown: never the key itself is needed to
/// tell keys apart, its id and RFC 7638 thumbprint do.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientKeyView {
    /// Its `kid`, if it has one.
    pub kid: Option<String>,
    /// `EC`, `OKP` or `RSA`.
    pub kty: &'static str,
    /// The algorithms it verifies assertions signed with.
    pub algorithms: Vec<&'static str>,
    /// RFC 7638 JWK SHA-256 thumbprint, base64url.
    pub thumbprint: String,
}

/// An instance's registered `private_key_jwt` keys.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientKeysView {
    /// Instance id.
    pub id: String,
    /// Username (the OAuth `client_id`, and an assertion's `iss` and `sub`).
    pub username: String,
    /// The keys; empty when none are registered (then only the password authenticates).
    pub keys: Vec<ClientKeyView>,
    /// The JWK Set as stored (public members only); null when none is registered.
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<serde_json::Value>,
}

impl ClientKeysView {
    /// The view of an instance and its keys.
    pub fn of(
        instance: &crate::domain::model::Instance,
        keys: Option<&crate::domain::client_keys::ClientKeySet>,
    ) -> Self {
        use crate::domain::client_keys::KeyKind;
        let views = keys.map_or_else(Vec::new, |set| {
            set.keys()
                .iter()
                .map(|key| ClientKeyView {
                    kid: key.kid.clone(),
                    kty: match key.kind {
                        KeyKind::P256 => "EC",
                        KeyKind::Ed25519 => "OKP",
                        KeyKind::Rsa => "RSA",
                    },
                    algorithms: match (key.kind, key.alg) {
                        (KeyKind::P256, _) => vec!["ES256"],
                        (KeyKind::Ed25519, _) => vec!["EdDSA", "Ed25519"],
                        (KeyKind::Rsa, Some(jsonwebtoken::Algorithm::PS256)) => vec!["PS256"],
                        (KeyKind::Rsa, Some(_)) => vec!["RS256"],
                        (KeyKind::Rsa, None) => vec!["RS256", "PS256"],
                    },
                    thumbprint: key.thumbprint.clone(),
                })
                .collect()
        });
        ClientKeysView {
            id: instance.id.to_string(),
            username: instance.username.clone(),
            keys: views,
            jwks: keys.and_then(|set| serde_json::from_str(set.json()).ok()),
        }
    }
}

/// A segment and its rule.
#[derive(Debug, Serialize, ToSchema)]
pub struct SegmentView {
    /// Unique name within the tenant.
    pub name: String,
    /// The rule (see the README's "Segments").
    #[schema(value_type = Object)]
    pub rule: serde_json::Value,
    /// RFC 3339.
    pub created_at: String,
}

impl SegmentView {
    /// The view of a segment.
    pub fn of(segment: &crate::domain::cdp::model::Segment) -> Self {
        SegmentView {
            name: segment.name.clone(),
            rule: segment.rule.clone(),
            created_at: clock::rfc3339(segment.created_at),
        }
    }
}
