//! Administration of tenants and instances: what the CLI (and later the admin API and UI) do.
//! Generated secrets are returned once, in [`Secret`]s, and only their hashes are stored.

use crate::telemetry::metrics::{Revoker, metrics};
use std::sync::Arc;

use super::audit::{Actor, AuditAction, AuditEvent, AuditLog};
use super::client_keys::ClientKeySet;
use super::clock::{self, UnixTime};
use super::error::DomainError;
use super::model::{
    Environment, Instance, InstanceId, InstanceType, Tenant, TokenFormat, TokenId, TokenListing,
};
use super::names;
use super::policy::Policy;
use super::secrets::{self, LOWER_ALPHANUMERIC, Secret, ServerKeys};
use super::verified_cache::VerifiedCache;
use crate::store::{DynStore, NewInstance, NewTenant, StoreError};

/// Longest tenant or instance name accepted.
const MAX_NAME_LEN: usize = 100;

/// A tenant just created or changed, with its new `oauth_key_secret` shown this once.
#[derive(Debug)]
pub struct CreatedTenant {
    /// The stored tenant.
    pub tenant: Tenant,
    /// The secret, when OAuth is enabled.
    pub oauth_key_secret: Option<Secret>,
    /// How many secureApi tokens the change ended (those minted with the old secret, or
    /// without a secret check when OAuth was turned on).
    pub tokens_ended: u64,
}

/// An instance with its generated password, shown this once.
#[derive(Debug)]
pub struct IssuedPassword {
    /// The stored instance.
    pub instance: Instance,
    /// Its tenant.
    pub tenant: Tenant,
    /// The password in the clear; only its keyed hash is stored.
    pub password: Secret,
}

/// An instance with what a listing shows about it.
#[derive(Debug)]
pub struct InstanceSummary {
    /// The instance.
    pub instance: Instance,
    /// How many tokens are active now.
    pub active_tokens: u64,
    /// When one of its tokens was last used.
    pub last_used_at: Option<UnixTime>,
}

/// Tenant and instance administration.
#[derive(Clone)]
pub struct Admin {
    store: DynStore,
    keys: Arc<ServerKeys>,
    policy: Arc<Policy>,
    audit: AuditLog,
    tokens: VerifiedCache,
}

impl Admin {
    /// Builds the administration service.
    pub fn new(
        store: DynStore,
        keys: Arc<ServerKeys>,
        policy: Arc<Policy>,
        audit: AuditLog,
        tokens: VerifiedCache,
    ) -> Self {
        Admin {
            store,
            keys,
            policy,
            audit,
            tokens,
        }
    }

    /// The audit log, for the admin pages that read it.
    pub fn audit(&self) -> &AuditLog {
        &self.audit
    }

    /// Records an admin action on a tenant.
    async fn record_tenant(
        &self,
        action: AuditAction,
        actor: &Actor,
        tenant: &Tenant,
        detail: String,
    ) -> Result<(), DomainError> {
        let event = AuditEvent::new(action, actor)
            .tenant(tenant.id)
            .detail(detail);
        self.audit.record(event).await
    }

    /// Records an admin action on an instance.
    async fn record_instance(
        &self,
        action: AuditAction,
        actor: &Actor,
        instance: &Instance,
        detail: String,
    ) -> Result<(), DomainError> {
        let event = AuditEvent::new(action, actor)
            .instance(instance.tenant_id, instance.id)
            .detail(detail);
        self.audit.record(event).await
    }

    /// Creates a tenant with a fresh `tenant_hash` and, unless OAuth is off, a fresh
    /// `oauth_key_secret` (16 hex chars, stored as argon2id).
    pub async fn create_tenant(
        &self,
        name: &str,
        environment: Environment,
        oauth_enabled: bool,
        actor: &Actor,
    ) -> Result<CreatedTenant, DomainError> {
        let name = valid_name(name, "tenant")?;
        names::single_script(name, "tenant")?;
        if name.parse::<i64>().is_ok() {
            return Err(DomainError::InvalidRequest(
                "A tenant name cannot be a number: numbers name tenants by id.".into(),
            ));
        }
        let secret = if oauth_enabled {
            Some(Secret::new(secrets::random_hex(8)?))
        } else {
            None
        };
        let oauth_secret_hash = match &secret {
            Some(secret) => Some(hash_slowly(secret.clone()).await?),
            None => None,
        };
        let tenant = self
            .store
            .create_tenant(NewTenant {
                name: name.to_owned(),
                environment,
                tenant_hash: secrets::random_hex(16)?,
                oauth_enabled,
                oauth_secret_hash,
                created_at: clock::now(),
            })
            .await
            .map_err(|e| {
                conflict(
                    e,
                    format!(
                        "A tenant named {name:?} already exists (names are compared ignoring \
                         case and Unicode compatibility forms)."
                    ),
                )
            })?;
        let detail = format!("{} ({environment})", tenant.name);
        self.record_tenant(AuditAction::TenantCreated, actor, &tenant, detail)
            .await?;
        Ok(CreatedTenant {
            tenant,
            oauth_key_secret: secret,
            tokens_ended: 0,
        })
    }

    /// A tenant by id (`7`) or by name, compared by its key (`ACME` finds `acme`).
    pub async fn tenant(&self, key: &str) -> Result<Tenant, DomainError> {
        let found = match key.parse::<i64>() {
            Ok(id) => self.store.tenant_by_id(id).await?,
            Err(_) => self.store.tenant_by_name(key).await?,
        };
        found.ok_or_else(|| DomainError::NotFound(format!("Tenant {key:?}")))
    }

    /// Every tenant.
    pub async fn tenants(&self) -> Result<Vec<Tenant>, DomainError> {
        Ok(self.store.tenants().await?)
    }

    /// Replaces a tenant's `oauth_key_secret` with a new one, shown this once; the old one
    /// stops working at once, and so do the secureApi tokens minted with it (in the same
    /// transaction). The OAuth switch stays as it was: a tenant with OAuth off keeps accepting
    /// callers without a secret until it is turned on.
    pub async fn rotate_secret(
        &self,
        key: &str,
        actor: &Actor,
    ) -> Result<CreatedTenant, DomainError> {
        let tenant = self.tenant(key).await?;
        let secret = Secret::new(secrets::random_hex(8)?);
        let hash = hash_slowly(secret.clone()).await?;
        let ended = self
            .store
            .set_tenant_oauth(tenant.id, tenant.oauth_enabled, Some(&hash), clock::now())
            .await?
            .ok_or_else(|| DomainError::NotFound(format!("Tenant {key:?}")))?;
        self.tokens.changed();
        metrics().tokens_revoked(Revoker::Admin, ended);
        self.record_tenant(
            AuditAction::TenantSecretRotated,
            actor,
            &tenant,
            format!("{}: {}", tenant.name, ended_detail(ended)),
        )
        .await?;
        Ok(CreatedTenant {
            tenant: self.tenant(&tenant.id.to_string()).await?,
            oauth_key_secret: Some(secret),
            tokens_ended: ended,
        })
    }

    /// Revokes every active secureApi token of a tenant; returns how many.
    pub async fn revoke_tenant_tokens(&self, key: &str, actor: &Actor) -> Result<u64, DomainError> {
        let tenant = self.tenant(key).await?;
        let revoked = self
            .store
            .revoke_tenant_tokens(tenant.id, clock::now())
            .await?;
        self.tokens.changed();
        metrics().tokens_revoked(Revoker::Admin, revoked);
        self.record_tenant(
            AuditAction::TokensRevokedAll,
            actor,
            &tenant,
            format!("{}: {revoked} secure_api tokens", tenant.name),
        )
        .await?;
        Ok(revoked)
    }

    /// Turns OAuth on or off for a tenant. Turning it on for a tenant that never had a secret
    /// issues one (shown this once); otherwise the existing secret applies again. Turning it
    /// on ends the secureApi tokens minted while it was off (no secret was checked for them),
    /// in the same transaction.
    pub async fn set_oauth(
        &self,
        key: &str,
        enabled: bool,
        actor: &Actor,
    ) -> Result<CreatedTenant, DomainError> {
        let tenant = self.tenant(key).await?;
        let action = if enabled {
            AuditAction::TenantOAuthEnabled
        } else {
            AuditAction::TenantOAuthDisabled
        };
        let (issued, rotated) = if enabled && !self.store.tenant_has_secret(tenant.id).await? {
            let rotated = self.rotate_secret(key, actor).await?;
            (rotated.oauth_key_secret, rotated.tokens_ended)
        } else {
            (None, 0)
        };
        let ended = self
            .store
            .set_tenant_oauth(tenant.id, enabled, None, clock::now())
            .await?
            .ok_or_else(|| DomainError::NotFound(format!("Tenant {key:?}")))?
            + rotated;
        self.tokens.changed();
        let detail = format!("{}: {}", tenant.name, ended_detail(ended));
        self.record_tenant(action, actor, &tenant, detail).await?;
        Ok(CreatedTenant {
            tenant: self.tenant(&tenant.id.to_string()).await?,
            oauth_key_secret: issued,
            tokens_ended: ended,
        })
    }

    /// Sets the format of a tenant's OAuth access tokens (`None`: the deployment's default).
    /// Tokens already issued keep working; the next `/oauth/token` of its instances uses the
    /// new format (at once here, and on other processes once they see the token epoch move).
    pub async fn set_token_format(
        &self,
        key: &str,
        format: Option<TokenFormat>,
        actor: &Actor,
    ) -> Result<Tenant, DomainError> {
        let tenant = self.tenant(key).await?;
        if !self
            .store
            .set_tenant_token_format(tenant.id, format)
            .await?
        {
            return Err(DomainError::NotFound(format!("Tenant {key:?}")));
        }
        self.tokens.changed();
        let shown = format.map_or("the deployment's default", TokenFormat::as_str);
        let detail = format!("{}: OAuth access tokens are {shown}", tenant.name);
        self.record_tenant(AuditAction::TenantTokenFormatSet, actor, &tenant, detail)
            .await?;
        self.tenant(&tenant.id.to_string()).await
    }

    /// Creates an instance with a generated username and password, within the per-type limit.
    pub async fn create_instance(
        &self,
        tenant: &str,
        name: &str,
        instance_type: InstanceType,
        actor: &Actor,
    ) -> Result<IssuedPassword, DomainError> {
        let tenant = self.tenant(tenant).await?;
        let name = valid_name(name, "instance")?;
        let max = self.policy.max_instances_per_type;
        // A username collision is one in two billion; retry a few times rather than fail.
        for _ in 0..5 {
            let password = secrets::new_instance_password()?;
            let now = clock::now();
            let username = format!(
                "{}{}",
                instance_type.username_prefix(),
                secrets::random_string(LOWER_ALPHANUMERIC, 6)?
            );
            let created = self
                .store
                .create_instance(
                    NewInstance {
                        tenant_id: tenant.id,
                        name: name.to_owned(),
                        instance_type,
                        username,
                        password_hash: self.keys.password_hash(password.expose()),
                        password_expires_at: now + self.policy.password_lifetime_secs(),
                        created_at: now,
                    },
                    max,
                )
                .await;
            match created {
                Ok(instance) => {
                    let detail =
                        format!("{} {} ({instance_type})", instance.name, instance.username);
                    self.record_instance(AuditAction::InstanceCreated, actor, &instance, detail)
                        .await?;
                    return Ok(IssuedPassword {
                        instance,
                        tenant,
                        password,
                    });
                }
                Err(StoreError::Conflict(_)) => continue,
                Err(StoreError::LimitReached) => {
                    return Err(DomainError::InstanceLimitReached {
                        max,
                        instance_type: instance_type.to_string(),
                    });
                }
                Err(other) => return Err(other.into()),
            }
        }
        Err(DomainError::Internal(
            "could not find a free username".into(),
        ))
    }

    /// An instance by id or username.
    pub async fn instance(&self, key: &str) -> Result<Instance, DomainError> {
        let found = match key.parse::<i64>() {
            Ok(id) => self.store.instance_by_id(id).await?,
            Err(_) => self.store.instance_by_username(key).await?,
        };
        found.ok_or_else(|| DomainError::NotFound(format!("Instance {key:?}")))
    }

    /// The instance an audit filter names by its id or its username: an id is taken as it is
    /// (the log may name an instance by id whatever became of it); a username is looked up,
    /// and `None` means no instance has it, so nothing can match.
    pub async fn audit_instance(&self, key: &str) -> Result<Option<InstanceId>, DomainError> {
        match key.parse::<InstanceId>() {
            Ok(id) => Ok(Some(id)),
            Err(_) => Ok(self
                .store
                .instance_by_username(key)
                .await?
                .map(|instance| instance.id)),
        }
    }

    /// Replaces a WebTag instance's allowed origins (`scheme://host[:port]` each); returns
    /// them as stored.
    pub async fn set_origins(
        &self,
        key: &str,
        origins: &[String],
        actor: &Actor,
    ) -> Result<(Instance, Vec<String>), DomainError> {
        let instance = self.instance(key).await?;
        if instance.instance_type != InstanceType::Webtag {
            return Err(DomainError::InvalidRequest(
                "Only WebTag instances have allowed origins.".into(),
            ));
        }
        let mut cleaned: Vec<String> = Vec::new();
        for origin in origins {
            let origin = origin.trim().trim_end_matches('/').to_ascii_lowercase();
            if !crate::domain::cdp::webtag::valid_origin(&origin) {
                return Err(DomainError::InvalidRequest(format!(
                    "{origin:?} is not an origin: use scheme://host[:port], e.g. https://shop.example."
                )));
            }
            if !cleaned.contains(&origin) {
                cleaned.push(origin);
            }
        }
        if cleaned.len() > 50 {
            return Err(DomainError::InvalidRequest(
                "An instance allows at most 50 origins.".into(),
            ));
        }
        self.store
            .set_allowed_origins(instance.id, &cleaned)
            .await?;
        self.audit
            .record(
                AuditEvent::new(AuditAction::OriginsSet, actor)
                    .instance(instance.tenant_id, instance.id)
                    .detail(format!("{} origins", cleaned.len())),
            )
            .await?;
        Ok((instance, cleaned))
    }

    /// Registers an instance's `private_key_jwt` public keys from a JWK Set (JSON), replacing
    /// any registered before; an empty set (`{"keys":[]}`) clears them. The set is checked
    /// first (public keys of supported kinds only, see [`ClientKeySet::parse`]); the password
    /// keeps working either way. Audit-logged with the keys' thumbprints.
    pub async fn set_client_keys(
        &self,
        key: &str,
        jwks: &str,
        actor: &Actor,
    ) -> Result<(Instance, Option<ClientKeySet>), DomainError> {
        let instance = self.instance(key).await?;
        let Some(keys) = ClientKeySet::parse(jwks)? else {
            let instance = self
                .clear_client_keys(&instance.id.to_string(), actor)
                .await?;
            return Ok((instance, None));
        };
        self.store
            .set_client_jwks(instance.id, Some(keys.json()))
            .await?;
        self.tokens.changed();
        let thumbprints: Vec<&str> = keys.keys().iter().map(|k| k.thumbprint.as_str()).collect();
        let detail = format!("{} keys: {}", thumbprints.len(), thumbprints.join(" "));
        self.record_instance(AuditAction::ClientKeysSet, actor, &instance, detail)
            .await?;
        Ok((instance, Some(keys)))
    }

    /// Removes an instance's `private_key_jwt` keys: it authenticates by password only again.
    pub async fn clear_client_keys(
        &self,
        key: &str,
        actor: &Actor,
    ) -> Result<Instance, DomainError> {
        let instance = self.instance(key).await?;
        self.store.set_client_jwks(instance.id, None).await?;
        self.tokens.changed();
        let detail = instance.username.clone();
        self.record_instance(AuditAction::ClientKeysCleared, actor, &instance, detail)
            .await?;
        Ok(instance)
    }

    /// An instance's registered `private_key_jwt` keys, if any.
    pub async fn client_keys(
        &self,
        instance: &Instance,
    ) -> Result<Option<ClientKeySet>, DomainError> {
        match self.store.client_jwks(instance.id).await? {
            None => Ok(None),
            Some(stored) => Ok(Some(ClientKeySet::stored(&stored)?)),
        }
    }

    /// A WebTag instance's allowed origins.
    pub async fn origins(&self, instance: &Instance) -> Result<Vec<String>, DomainError> {
        Ok(self.store.allowed_origins(instance.id).await?)
    }

    /// Instances of one tenant (id or name) or of all, with their active token counts.
    pub async fn instances(
        &self,
        tenant: Option<&str>,
    ) -> Result<Vec<InstanceSummary>, DomainError> {
        let tenant_id = match tenant {
            Some(key) => Some(self.tenant(key).await?.id),
            None => None,
        };
        let mut summaries = Vec::new();
        for instance in self.store.instances(tenant_id).await? {
            summaries.push(self.summarise(instance).await?);
        }
        Ok(summaries)
    }

    /// One instance with its active token count.
    pub async fn instance_summary(&self, key: &str) -> Result<InstanceSummary, DomainError> {
        let instance = self.instance(key).await?;
        self.summarise(instance).await
    }

    async fn summarise(&self, instance: Instance) -> Result<InstanceSummary, DomainError> {
        let active_tokens = self
            .store
            .count_active_tokens(instance.id, clock::now())
            .await?;
        let last_used_at = self.store.instance_last_used(instance.id).await?;
        Ok(InstanceSummary {
            instance,
            active_tokens,
            last_used_at,
        })
    }

    /// The active tokens of an instance (never the tokens themselves), newest first.
    pub async fn instance_tokens(&self, key: &str) -> Result<Vec<TokenListing>, DomainError> {
        let instance = self.instance(key).await?;
        Ok(self
            .store
            .instance_tokens(instance.id, clock::now())
            .await?)
    }

    /// Revokes one active token of an instance; `NotFound` if it has no such active token.
    pub async fn revoke_token(
        &self,
        key: &str,
        token: TokenId,
        actor: &Actor,
    ) -> Result<(), DomainError> {
        let instance = self.instance(key).await?;
        let listing = self
            .store
            .instance_tokens(instance.id, clock::now())
            .await?
            .into_iter()
            .find(|t| t.id == token);
        let revoked = self
            .store
            .revoke_instance_token(instance.id, token, clock::now())
            .await?;
        self.tokens.changed();
        metrics().tokens_revoked(Revoker::Admin, revoked);
        let Some(listing) = listing.filter(|_| revoked > 0) else {
            return Err(DomainError::NotFound(format!("Active token {token}")));
        };
        let detail = format!(
            "{} token {}…",
            listing.kind.as_str(),
            listing.prefix.unwrap_or_default()
        );
        self.record_instance(AuditAction::TokenRevoked, actor, &instance, detail)
            .await
    }

    /// Revokes every active token of an instance; returns how many.
    pub async fn revoke_all(&self, key: &str, actor: &Actor) -> Result<u64, DomainError> {
        let instance = self.instance(key).await?;
        let revoked = self
            .store
            .revoke_instance_tokens(instance.id, clock::now())
            .await?;
        self.tokens.changed();
        metrics().tokens_revoked(Revoker::Admin, revoked);
        self.record_instance(
            AuditAction::TokensRevokedAll,
            actor,
            &instance,
            format!("{revoked} tokens"),
        )
        .await?;
        Ok(revoked)
    }

    /// Disables an instance: its password stops logging in and its tokens stop working until
    /// it is enabled again.
    pub async fn disable_instance(
        &self,
        key: &str,
        actor: &Actor,
    ) -> Result<Instance, DomainError> {
        let instance = self.instance(key).await?;
        let at = instance.disabled_at.unwrap_or_else(clock::now);
        self.store
            .set_instance_disabled(instance.id, Some(at))
            .await?;
        self.tokens.changed();
        let detail = instance.username.clone();
        self.record_instance(AuditAction::InstanceDisabled, actor, &instance, detail)
            .await?;
        self.instance(&instance.id.to_string()).await
    }

    /// Enables a disabled instance again.
    pub async fn enable_instance(&self, key: &str, actor: &Actor) -> Result<Instance, DomainError> {
        let instance = self.instance(key).await?;
        self.store.set_instance_disabled(instance.id, None).await?;
        self.tokens.changed();
        let detail = instance.username.clone();
        self.record_instance(AuditAction::InstanceEnabled, actor, &instance, detail)
            .await?;
        self.instance(&instance.id.to_string()).await
    }

    /// Replaces an instance's password with a new generated one (shown once) and restarts its
    /// expiry. Existing tokens stay valid.
    pub async fn rotate_password(
        &self,
        key: &str,
        actor: &Actor,
    ) -> Result<IssuedPassword, DomainError> {
        let instance = self.instance(key).await?;
        let tenant = self.tenant(&instance.tenant_id.to_string()).await?;
        let password = secrets::new_instance_password()?;
        let expires_at = clock::now() + self.policy.password_lifetime_secs();
        self.store
            .set_instance_password(
                instance.id,
                &self.keys.password_hash(password.expose()),
                expires_at,
            )
            .await?;
        self.tokens.changed();
        let detail = instance.username.clone();
        self.record_instance(AuditAction::PasswordRotated, actor, &instance, detail)
            .await?;
        let instance = self.instance(&instance.id.to_string()).await?;
        Ok(IssuedPassword {
            instance,
            tenant,
            password,
        })
    }
}

/// argon2id is slow on purpose; keep it off the async worker threads.
pub(crate) async fn hash_slowly(secret: Secret) -> Result<String, DomainError> {
    tokio::task::spawn_blocking(move || secrets::argon2_hash(secret.expose()))
        .await
        .map_err(|e| DomainError::Internal(format!("hashing task failed: {e}")))?
}

/// "3 secure_api tokens ended", for audit details.
fn ended_detail(ended: u64) -> String {
    match ended {
        1 => "1 secure_api token ended".to_owned(),
        n => format!("{n} secure_api tokens ended"),
    }
}

fn conflict(error: StoreError, message: String) -> DomainError {
    match error {
        StoreError::Conflict(_) => DomainError::Conflict(message),
        other => other.into(),
    }
}

fn valid_name<'a>(name: &'a str, what: &str) -> Result<&'a str, DomainError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_LEN {
        return Err(DomainError::InvalidRequest(format!(
            "The {what} name must have 1 to {MAX_NAME_LEN} characters."
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(DomainError::InvalidRequest(format!(
            "The {what} name cannot contain control characters."
        )));
    }
    Ok(name)
}
