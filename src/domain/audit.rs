//! The audit log: every admin action and token lifecycle event, with time, actor, tenant,
//! instance and source address, never a secret.
//!
//! Events that follow a successful request are written before the request is answered, so an
//! acknowledged action is on record. Failed credential attempts are different: an attacker
//! decides how many there are, so they go through a bounded queue and are written in batches
//! by a background task; a flood beyond the queue is counted in one log line, not written.

use std::net::IpAddr;

use tokio::sync::mpsc;

use super::clock;
use super::error::DomainError;
use super::model::{AuditFilter, AuditRecord, InstanceId, NewAuditEntry, TenantId};
use crate::store::DynStore;

/// Failed attempts waiting to be written, at most.
const FAILURE_QUEUE: usize = 4_096;
/// Failed attempts written per transaction, at most.
const FAILURE_BATCH: usize = 256;
/// Longest actor name kept; a failed attempt may present anything as a name.
const MAX_ACTOR_LEN: usize = 64;
/// Most entries one listing returns.
pub const MAX_PAGE: u32 = 500;

/// What happened. The words are what the audit log stores and filters by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditAction {
    /// An admin account was created.
    AdminCreated,
    /// An admin signed in to the UI.
    AdminSignedIn,
    /// An admin signed out.
    AdminSignedOut,
    /// An admin API token was issued.
    AdminApiTokenCreated,
    /// An admin API token was revoked.
    AdminApiTokenRevoked,
    /// An admin was disabled: it cannot sign in, its sessions ended, its tokens stopped.
    AdminDisabled,
    /// A disabled admin was enabled again.
    AdminEnabled,
    /// An admin was deleted with its sessions and tokens.
    AdminDeleted,
    /// An admin's password was replaced by a generated one.
    AdminPasswordReset,
    /// A tenant was created.
    TenantCreated,
    /// A tenant's `oauth_key_secret` was replaced.
    TenantSecretRotated,
    /// A tenant's OAuth switch was turned on.
    TenantOAuthEnabled,
    /// A tenant's OAuth switch was turned off.
    TenantOAuthDisabled,
    /// A tenant's OAuth access token format was set.
    TenantTokenFormatSet,
    /// An instance was created.
    InstanceCreated,
    /// An instance was disabled.
    InstanceDisabled,
    /// An instance was enabled again.
    InstanceEnabled,
    /// An instance password was replaced.
    PasswordRotated,
    /// A token was minted.
    TokenIssued,
    /// A token's expiry was moved.
    TokenExtended,
    /// A secureApi token's resources were replaced.
    TokenUpdated,
    /// One token was revoked.
    TokenRevoked,
    /// Every token of an instance, or every secureApi token of a tenant, was revoked.
    TokensRevokedAll,
    /// A credential (instance password, tenant secret, admin password) did not verify.
    SignInFailed,
    /// A WebTag instance's allowed origins were replaced.
    OriginsSet,
    /// An instance's `private_key_jwt` public keys were registered or replaced.
    ClientKeysSet,
    /// An instance's `private_key_jwt` public keys were removed.
    ClientKeysCleared,
    /// A segment was created or its rule replaced.
    SegmentSet,
    /// A segment was deleted.
    SegmentDeleted,
    /// A GDPR request was registered.
    GdprRegistered,
    /// A pending GDPR request was revoked.
    GdprRevoked,
    /// A GDPR access request was fulfilled: an export was made.
    GdprAccess,
    /// A GDPR forget request was fulfilled: a person's data was erased.
    GdprForget,
}

impl AuditAction {
    /// Every action, in the order the audit page offers them as filters.
    pub const ALL: [AuditAction; 33] = [
        AuditAction::TokenIssued,
        AuditAction::TokenExtended,
        AuditAction::TokenUpdated,
        AuditAction::TokenRevoked,
        AuditAction::TokensRevokedAll,
        AuditAction::SignInFailed,
        AuditAction::InstanceCreated,
        AuditAction::InstanceDisabled,
        AuditAction::InstanceEnabled,
        AuditAction::PasswordRotated,
        AuditAction::TenantCreated,
        AuditAction::TenantSecretRotated,
        AuditAction::TenantOAuthEnabled,
        AuditAction::TenantOAuthDisabled,
        AuditAction::TenantTokenFormatSet,
        AuditAction::AdminCreated,
        AuditAction::AdminSignedIn,
        AuditAction::AdminSignedOut,
        AuditAction::AdminApiTokenCreated,
        AuditAction::AdminApiTokenRevoked,
        AuditAction::AdminDisabled,
        AuditAction::AdminEnabled,
        AuditAction::AdminDeleted,
        AuditAction::AdminPasswordReset,
        AuditAction::OriginsSet,
        AuditAction::ClientKeysSet,
        AuditAction::ClientKeysCleared,
        AuditAction::SegmentSet,
        AuditAction::SegmentDeleted,
        AuditAction::GdprRegistered,
        AuditAction::GdprRevoked,
        AuditAction::GdprAccess,
        AuditAction::GdprForget,
    ];

    /// The stored word.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::AdminCreated => "admin.created",
            AuditAction::AdminSignedIn => "admin.signed_in",
            AuditAction::AdminSignedOut => "admin.signed_out",
            AuditAction::AdminApiTokenCreated => "admin.api_token_created",
            AuditAction::AdminApiTokenRevoked => "admin.api_token_revoked",
            AuditAction::AdminDisabled => "admin.disabled",
            AuditAction::AdminEnabled => "admin.enabled",
            AuditAction::AdminDeleted => "admin.deleted",
            AuditAction::AdminPasswordReset => "admin.password_reset",
            AuditAction::TenantCreated => "tenant.created",
            AuditAction::TenantSecretRotated => "tenant.secret_rotated",
            AuditAction::TenantOAuthEnabled => "tenant.oauth_enabled",
            AuditAction::TenantOAuthDisabled => "tenant.oauth_disabled",
            AuditAction::TenantTokenFormatSet => "tenant.token_format_set",
            AuditAction::InstanceCreated => "instance.created",
            AuditAction::InstanceDisabled => "instance.disabled",
            AuditAction::InstanceEnabled => "instance.enabled",
            AuditAction::PasswordRotated => "instance.password_rotated",
            AuditAction::TokenIssued => "token.issued",
            AuditAction::TokenExtended => "token.extended",
            AuditAction::TokenUpdated => "token.updated",
            AuditAction::TokenRevoked => "token.revoked",
            AuditAction::TokensRevokedAll => "token.revoked_all",
            AuditAction::SignInFailed => "sign_in.failed",
            AuditAction::OriginsSet => "instance.origins_set",
            AuditAction::ClientKeysSet => "instance.client_keys_set",
            AuditAction::ClientKeysCleared => "instance.client_keys_cleared",
            AuditAction::SegmentSet => "segment.set",
            AuditAction::SegmentDeleted => "segment.deleted",
            AuditAction::GdprRegistered => "gdpr.registered",
            AuditAction::GdprRevoked => "gdpr.revoked",
            AuditAction::GdprAccess => "gdpr.access",
            AuditAction::GdprForget => "gdpr.forget",
        }
    }

    /// The action a stored word names.
    pub fn parse(word: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == word)
    }
}

/// Who did it and from where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// An admin username, an instance username, a tenant hash, or `cli`.
    pub name: String,
    /// The request's source address (none for the CLI).
    pub source: Option<IpAddr>,
}

impl Actor {
    /// An operator at the command line.
    pub fn cli() -> Self {
        Actor {
            name: "cli".into(),
            source: None,
        }
    }

    /// A named caller from an address.
    pub fn new(name: impl Into<String>, source: Option<IpAddr>) -> Self {
        Actor {
            name: name.into(),
            source,
        }
    }
}

/// One event to record.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    /// What happened.
    pub action: AuditAction,
    /// Who did it.
    pub actor: Actor,
    /// The tenant concerned.
    pub tenant_id: Option<TenantId>,
    /// The instance concerned.
    pub instance_id: Option<InstanceId>,
    /// More about it (a token prefix, a count, a dialect), never a secret.
    pub detail: String,
}

impl AuditEvent {
    /// An event with no tenant, instance or detail yet.
    pub fn new(action: AuditAction, actor: &Actor) -> Self {
        AuditEvent {
            action,
            actor: actor.clone(),
            tenant_id: None,
            instance_id: None,
            detail: String::new(),
        }
    }

    /// Names the tenant.
    pub fn tenant(mut self, tenant: TenantId) -> Self {
        self.tenant_id = Some(tenant);
        self
    }

    /// Names the instance (and its tenant).
    pub fn instance(mut self, tenant: TenantId, instance: InstanceId) -> Self {
        self.tenant_id = Some(tenant);
        self.instance_id = Some(instance);
        self
    }

    /// Adds a detail.
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = detail.into();
        self
    }

    pub(crate) fn into_entry(self) -> NewAuditEntry {
        NewAuditEntry {
            at: clock::now(),
            actor: printable(&self.actor.name),
            action: self.action.as_str().to_owned(),
            tenant_id: self.tenant_id,
            instance_id: self.instance_id,
            source: self.actor.source.map(|ip| ip.to_string()),
            detail: self.detail,
        }
    }
}

/// A name as the log keeps it: control characters dropped (PostgreSQL refuses NUL in text, and
/// a terminal would interpret the others) and cut to a sane length.
fn printable(name: &str) -> String {
    name.chars()
        .filter(|c| !c.is_control())
        .take(MAX_ACTOR_LEN)
        .collect()
}

/// Appends to and reads the audit log.
#[derive(Clone)]
pub struct AuditLog {
    store: DynStore,
    failures: Option<mpsc::Sender<NewAuditEntry>>,
}

impl AuditLog {
    /// The audit log over `store`. Inside a Tokio runtime it starts the writer of failed
    /// attempts; outside one (never in `serve`) failed attempts are written inline.
    pub fn new(store: DynStore) -> Self {
        let failures = tokio::runtime::Handle::try_current().ok().map(|runtime| {
            let (sender, receiver) = mpsc::channel(FAILURE_QUEUE);
            runtime.spawn(write_failures(store.clone(), receiver));
            sender
        });
        AuditLog { store, failures }
    }

    /// Records an event before the caller answers.
    pub async fn record(&self, event: AuditEvent) -> Result<(), DomainError> {
        self.store.append_audit(&[event.into_entry()]).await?;
        Ok(())
    }

    /// Queues a failed credential attempt, never waiting: past the queue's capacity the
    /// attempt is counted in the process log instead.
    pub async fn record_failure(&self, event: AuditEvent) {
        let entry = event.into_entry();
        match &self.failures {
            Some(queue) => {
                if queue.try_send(entry).is_err() {
                    tracing::warn!("audit queue full: a failed attempt was not written");
                }
            }
            None => {
                if let Err(error) = self.store.append_audit(&[entry]).await {
                    tracing::warn!(%error, "could not write a failed attempt to the audit log");
                }
            }
        }
    }

    /// Entries matching `filter`, newest first (at most [`MAX_PAGE`]).
    pub async fn entries(&self, mut filter: AuditFilter) -> Result<Vec<AuditRecord>, DomainError> {
        filter.limit = filter.limit.clamp(1, MAX_PAGE);
        Ok(self.store.audit_entries(&filter).await?)
    }
}

/// Writes queued failed attempts in batches until every sender is gone.
async fn write_failures(store: DynStore, mut queue: mpsc::Receiver<NewAuditEntry>) {
    let mut batch = Vec::with_capacity(FAILURE_BATCH);
    while queue.recv_many(&mut batch, FAILURE_BATCH).await > 0 {
        if let Err(error) = store.append_audit(&batch).await {
            tracing::warn!(%error, lost = batch.len(), "could not write failed attempts to the audit log");
        }
        batch.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_word_parses_back() {
        for action in AuditAction::ALL {
            assert_eq!(AuditAction::parse(action.as_str()), Some(action));
        }
        assert_eq!(AuditAction::parse("nope"), None);
    }

    #[test]
    fn actor_names_lose_control_characters_and_length() {
        assert_eq!(printable("a\0b\nc"), "abc");
        assert_eq!(printable(&"x".repeat(500)).len(), MAX_ACTOR_LEN);
    }
}
