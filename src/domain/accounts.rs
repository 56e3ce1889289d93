//! Administrators: accounts (argon2id passwords, generated and shown once), browser sessions
//! with their anti-CSRF tokens, and API tokens for scripts. Session and API tokens are random
//! 256-bit strings stored as keyed hashes, like every other token we generate.

use std::net::IpAddr;
use std::sync::Arc;

use subtle::ConstantTimeEq;

use super::admin::hash_slowly;
use super::audit::{Actor, AuditAction, AuditEvent, AuditLog};
use super::authn::{Authenticator, MAX_TOKEN_LEN};
use super::clock::{self, UnixTime};
use super::error::DomainError;
use super::model::{
    AdminAccount, AdminChange, AdminCredentialId, AdminCredentialKind, AdminTokenListing,
};
use super::policy::Policy;
use super::secrets::{self, Secret, ServerKeys};
use crate::store::{DynStore, StoreError};

/// Prefix of admin API tokens, so a leaked one is recognisable (and greppable) as ours.
pub const API_TOKEN_PREFIX: &str = "cdpa_";
/// Longest admin username.
const MAX_USERNAME_LEN: usize = 64;
/// Longest lifetime an admin API token may be issued with (ten years).
const MAX_API_TOKEN_LIFETIME: i64 = 10 * 365 * 24 * 3600;
/// A credential's last use is recorded at most this often (seconds): one small write a minute
/// per token in use, not one per request.
const LAST_USED_RESOLUTION: i64 = 60;

/// A new admin API token, shown once.
#[derive(Debug)]
pub struct IssuedAdminToken {
    /// Row id, to list and revoke it by.
    pub id: AdminCredentialId,
    /// The token itself.
    pub token: Secret,
    /// When it stops working.
    pub expires_at: UnixTime,
}

/// A signed-in browser session, handed to the browser as a cookie.
#[derive(Debug)]
pub struct AdminSession {
    /// Who signed in.
    pub admin: AdminAccount,
    /// The cookie value.
    pub token: Secret,
    /// When the session ends.
    pub expires_at: UnixTime,
}

/// An authenticated admin request.
#[derive(Debug, Clone)]
pub struct AdminPrincipal {
    /// Who is asking.
    pub admin: AdminAccount,
    /// How they proved it.
    pub kind: AdminCredentialKind,
    /// For sessions: the anti-CSRF token every state-changing request must carry.
    pub csrf: Option<String>,
    /// Where the request came from.
    pub source: Option<IpAddr>,
}

impl AdminPrincipal {
    /// The actor the audit log names.
    pub fn actor(&self) -> Actor {
        Actor::new(self.admin.username.clone(), self.source)
    }

    /// Whether a state-changing request may proceed: API tokens are not sent by browsers on
    /// their own, so only sessions need the anti-CSRF token, compared in constant time.
    pub fn allows_write(&self, presented_csrf: Option<&str>) -> bool {
        match (&self.csrf, presented_csrf) {
            (None, _) => true,
            (Some(expected), Some(presented)) => {
                bool::from(expected.as_bytes().ct_eq(presented.as_bytes()))
            }
            (Some(_), None) => false,
        }
    }
}

/// Admin accounts and their credentials.
#[derive(Clone)]
pub struct Accounts {
    store: DynStore,
    keys: Arc<ServerKeys>,
    authn: Authenticator,
    policy: Arc<Policy>,
    audit: AuditLog,
}

impl Accounts {
    /// Builds the service.
    pub fn new(
        store: DynStore,
        keys: Arc<ServerKeys>,
        authn: Authenticator,
        policy: Arc<Policy>,
        audit: AuditLog,
    ) -> Self {
        Accounts {
            store,
            keys,
            authn,
            policy,
            audit,
        }
    }

    /// Creates an admin with a generated password (24 alphanumerics, shown once, stored as
    /// argon2id).
    pub async fn create(
        &self,
        username: &str,
        actor: &Actor,
    ) -> Result<(AdminAccount, Secret), DomainError> {
        let username = valid_username(username)?;
        let password = secrets::new_instance_password()?;
        let hash = hash_slowly(password.clone()).await?;
        let admin = self
            .store
            .create_admin(username, &hash, clock::now())
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => DomainError::Conflict(format!(
                    "An admin named {username:?} already exists (usernames are compared \
                         ignoring case)."
                )),
                other => other.into(),
            })?;
        self.audit
            .record(AuditEvent::new(AuditAction::AdminCreated, actor).detail(username))
            .await?;
        Ok((admin, password))
    }

    /// Signs an admin in: checks the password (rate limited like every credential) and opens
    /// a session for `admin_session_lifetime`.
    pub async fn sign_in(
        &self,
        username: &str,
        password: &Secret,
        source: Option<IpAddr>,
    ) -> Result<AdminSession, DomainError> {
        let admin = self.authn.admin(username, password, source).await?;
        let now = clock::now();
        let expires_at = now + self.policy.admin_session_lifetime_secs();
        let (_, token) = self
            .issue(&admin, AdminCredentialKind::Session, now, expires_at)
            .await?;
        let actor = Actor::new(admin.username.clone(), source);
        self.audit
            .record(AuditEvent::new(AuditAction::AdminSignedIn, &actor))
            .await?;
        Ok(AdminSession {
            admin,
            token,
            expires_at,
        })
    }

    /// Ends a session. Unknown or expired sessions are simply gone already.
    pub async fn sign_out(
        &self,
        principal: &AdminPrincipal,
        token: &Secret,
    ) -> Result<(), DomainError> {
        self.store
            .revoke_admin_credential(
                &self.keys.admin_credential_hash(token.expose()),
                clock::now(),
            )
            .await?;
        self.audit
            .record(AuditEvent::new(
                AuditAction::AdminSignedOut,
                &principal.actor(),
            ))
            .await
    }

    /// Every admin, enabled or not, by username.
    pub async fn admins(&self) -> Result<Vec<AdminAccount>, DomainError> {
        Ok(self.store.admins().await?)
    }

    /// An admin by username; `NotFound` when there is none.
    pub async fn admin(&self, username: &str) -> Result<AdminAccount, DomainError> {
        let found = if valid_username(username).is_ok() {
            self.store.admin_password(username).await?
        } else {
            None
        };
        found
            .map(|(admin, _)| admin)
            .ok_or_else(|| DomainError::NotFound(format!("Admin {username:?}")))
    }

    /// Issues an API token for scripts calling `/admin/api/`, shown once. It lasts
    /// `lifetime` seconds, or `admin_token_lifetime` when none is given.
    pub async fn create_api_token(
        &self,
        username: &str,
        lifetime: Option<i64>,
        actor: &Actor,
    ) -> Result<IssuedAdminToken, DomainError> {
        let lifetime = lifetime.unwrap_or_else(|| self.policy.admin_token_lifetime_secs());
        if !(1..=MAX_API_TOKEN_LIFETIME).contains(&lifetime) {
            return Err(DomainError::InvalidRequest(
                "An admin API token lasts from one second to ten years.".into(),
            ));
        }
        let admin = self.admin(username).await?;
        if !admin.enabled() {
            return Err(DomainError::Conflict(format!(
                "Admin {username:?} is disabled: enable it before issuing it a token."
            )));
        }
        let now = clock::now();
        let expires_at = now + lifetime;
        let (id, token) = self
            .issue(&admin, AdminCredentialKind::Api, now, expires_at)
            .await?;
        let detail = format!("{username} token {id}");
        self.audit
            .record(AuditEvent::new(AuditAction::AdminApiTokenCreated, actor).detail(detail))
            .await?;
        Ok(IssuedAdminToken {
            id,
            token,
            expires_at,
        })
    }

    /// The live API tokens of an admin: ids and times, never a token or its hash.
    pub async fn api_tokens(
        &self,
        username: &str,
    ) -> Result<(AdminAccount, Vec<AdminTokenListing>), DomainError> {
        let admin = self.admin(username).await?;
        let tokens = self.store.admin_api_tokens(admin.id, clock::now()).await?;
        Ok((admin, tokens))
    }

    /// Revokes one live API token, of the admin named when one is; `NotFound` otherwise.
    pub async fn revoke_api_token(
        &self,
        token: AdminCredentialId,
        username: Option<&str>,
        actor: &Actor,
    ) -> Result<(), DomainError> {
        let owner = match username {
            Some(username) => Some(self.admin(username).await?.id),
            None => None,
        };
        let not_found = || DomainError::NotFound(format!("Admin API token {token}"));
        let owner = self
            .store
            .revoke_admin_api_token(token, owner, clock::now())
            .await?
            .ok_or_else(not_found)?;
        let owner_name = self
            .store
            .admins()
            .await?
            .into_iter()
            .find(|a| a.id == owner)
            .map(|a| a.username)
            .unwrap_or_default();
        let detail = format!("{owner_name} token {token}");
        self.audit
            .record(AuditEvent::new(AuditAction::AdminApiTokenRevoked, actor).detail(detail))
            .await
    }

    /// Disables an admin (its sessions end, its API tokens and password stop working) or
    /// enables it again. The last enabled admin cannot be disabled.
    pub async fn set_enabled(
        &self,
        username: &str,
        enabled: bool,
        actor: &Actor,
    ) -> Result<AdminAccount, DomainError> {
        let admin = self.admin(username).await?;
        let change = self
            .store
            .set_admin_disabled(admin.id, !enabled, clock::now())
            .await?;
        changed(change, username, "disable")?;
        let action = if enabled {
            AuditAction::AdminEnabled
        } else {
            AuditAction::AdminDisabled
        };
        self.audit
            .record(AuditEvent::new(action, actor).detail(username))
            .await?;
        self.admin(username).await
    }

    /// Deletes an admin with its sessions and API tokens. The last enabled admin cannot be
    /// deleted.
    pub async fn delete(&self, username: &str, actor: &Actor) -> Result<(), DomainError> {
        let admin = self.admin(username).await?;
        let change = self.store.delete_admin(admin.id).await?;
        changed(change, username, "delete")?;
        self.audit
            .record(AuditEvent::new(AuditAction::AdminDeleted, actor).detail(username))
            .await
    }

    /// Replaces an admin's password with a generated one (shown once) and ends its sessions;
    /// its API tokens keep working.
    pub async fn reset_password(
        &self,
        username: &str,
        actor: &Actor,
    ) -> Result<(AdminAccount, Secret), DomainError> {
        let admin = self.admin(username).await?;
        let password = secrets::new_instance_password()?;
        let hash = hash_slowly(password.clone()).await?;
        self.store
            .set_admin_password(admin.id, &hash, clock::now())
            .await?;
        self.audit
            .record(AuditEvent::new(AuditAction::AdminPasswordReset, actor).detail(username))
            .await?;
        Ok((admin, password))
    }

    /// The admin a session cookie or API token belongs to, if it is live: one keyed hash and
    /// one indexed read.
    pub async fn authenticate(
        &self,
        kind: AdminCredentialKind,
        token: &Secret,
        source: Option<IpAddr>,
    ) -> Result<Option<AdminPrincipal>, DomainError> {
        let token = token.expose();
        if token.is_empty() || token.len() > MAX_TOKEN_LEN {
            return Ok(None);
        }
        let hash = self.keys.admin_credential_hash(token);
        let now = clock::now();
        let Some(found) = self.store.admin_by_credential(kind, &hash, now).await? else {
            return Ok(None);
        };
        if found
            .last_used_at
            .is_none_or(|last| now - last >= LAST_USED_RESOLUTION)
        {
            // A lost update only blurs the listing's "last used"; the request goes on.
            if let Err(error) = self.store.touch_admin_credential(found.id, now).await {
                tracing::debug!(%error, "could not record an admin credential's last use");
            }
        }
        let admin = found.admin;
        let csrf = match kind {
            AdminCredentialKind::Session => Some(self.keys.csrf_token(token)),
            AdminCredentialKind::Api => None,
        };
        Ok(Some(AdminPrincipal {
            admin,
            kind,
            csrf,
            source,
        }))
    }

    async fn issue(
        &self,
        admin: &AdminAccount,
        kind: AdminCredentialKind,
        now: UnixTime,
        expires_at: UnixTime,
    ) -> Result<(AdminCredentialId, Secret), DomainError> {
        let random = secrets::random_urlsafe(32)?;
        let token = match kind {
            AdminCredentialKind::Session => random,
            AdminCredentialKind::Api => format!("{API_TOKEN_PREFIX}{random}"),
        };
        let id = self
            .store
            .insert_admin_credential(
                admin.id,
                kind,
                &self.keys.admin_credential_hash(&token),
                now,
                expires_at,
            )
            .await?;
        Ok((id, Secret::new(token)))
    }
}

/// The error of a guarded change that did not happen.
fn changed(change: AdminChange, username: &str, verb: &str) -> Result<(), DomainError> {
    match change {
        AdminChange::Done => Ok(()),
        AdminChange::NotFound => Err(DomainError::NotFound(format!("Admin {username:?}"))),
        AdminChange::LastEnabled => Err(DomainError::Conflict(format!(
            "Cannot {verb} {username:?}: it is the last enabled admin, and the deployment \
             would be locked out. Create or enable another admin first."
        ))),
    }
}

/// Admin usernames: 1 to 64 of letters, digits and `.`, `_`, `-`, `@`.
fn valid_username(username: &str) -> Result<&str, DomainError> {
    let ok = !username.is_empty()
        && username.len() <= MAX_USERNAME_LEN
        && username
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-@".contains(c));
    if ok {
        Ok(username)
    } else {
        Err(DomainError::InvalidRequest(format!(
            "An admin username has 1 to {MAX_USERNAME_LEN} letters, digits, '.', '_', '-' or '@'."
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(csrf: Option<&str>) -> AdminPrincipal {
        AdminPrincipal {
            admin: AdminAccount {
                id: 1,
                username: "ops".into(),
                created_at: 0,
                disabled_at: None,
            },
            kind: if csrf.is_some() {
                AdminCredentialKind::Session
            } else {
                AdminCredentialKind::Api
            },
            csrf: csrf.map(str::to_owned),
            source: None,
        }
    }

    #[test]
    fn sessions_need_their_own_csrf_token_to_write() {
        let session = principal(Some("abc"));
        assert!(session.allows_write(Some("abc")));
        assert!(!session.allows_write(Some("abd")));
        assert!(!session.allows_write(None));
        assert!(principal(None).allows_write(None));
    }

    #[test]
    fn usernames_are_plain() {
        assert!(valid_username("ops@example.com").is_ok());
        assert!(valid_username("").is_err());
        assert!(valid_username("a b").is_err());
        assert!(valid_username(&"a".repeat(65)).is_err());
    }
}
