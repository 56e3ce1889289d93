//! Persistence behind one trait whose methods read like the domain. Each method that must be
//! atomic is one statement or one transaction in every implementation, so two servers (or two
//! requests) racing cannot break a limit.

#[macro_use]
mod sql;
#[macro_use]
mod admin_sql;
pub mod cdp;
#[macro_use]
mod cdp_sql;
#[macro_use]
pub mod cdp_copy;
mod breaker;
mod postgres;
mod sqlite;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use thiserror::Error;

use crate::domain::clock::UnixTime;
use crate::domain::keyring::KeyRecord;
use crate::domain::model::{
    AdminAccount, AdminChange, AdminCredentialId, AdminCredentialKind, AdminCredentialMatch,
    AdminId, AdminTokenListing, AuditFilter, AuditRecord, Environment, Instance,
    InstanceCredentials, InstanceId, InstanceType, NewAuditEntry, NewToken, SigningKeyRecord,
    StoredToken, Tenant, TenantCredentials, TenantId, TokenFormat, TokenId, TokenListing,
};

pub use breaker::Traced as Tx;
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

/// What can go wrong below the domain.
#[derive(Debug, Error)]
pub enum StoreError {
    /// A unique value (name, username, hash) is already taken.
    #[error("{0} is already taken")]
    Conflict(&'static str),
    /// A per-tenant limit on instances would be exceeded.
    #[error("limit reached")]
    LimitReached,
    /// The database URL names no backend we support.
    #[error("unsupported database URL: use sqlite://PATH or postgres://USER@HOST/DB")]
    UnsupportedUrl,
    /// `copy` was pointed at a database that already holds a deployment.
    #[error("the target database is not empty; copy only into a new database")]
    TargetNotEmpty,
    /// The database itself failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// Migrations could not be applied.
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored value is not one the code knows (a corrupted or newer database).
    #[error("unreadable stored value: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// Whether the database cannot serve this now but may shortly: out of reach (connection
    /// refused or reset, no connection within the pool's timeout, marked down by the
    /// [circuit breaker](breaker)), or unable to take writes (disk full, I/O error, locked
    /// past the busy timeout). Callers answer "temporarily unavailable, retry later" instead
    /// of an internal error.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Database(error) => breaker::unavailable(error),
            _ => false,
        }
    }
}

/// A tenant to insert.
#[derive(Debug, Clone)]
pub struct NewTenant {
    /// Unique name.
    pub name: String,
    /// Environment.
    pub environment: Environment,
    /// Public identifier.
    pub tenant_hash: String,
    /// Whether secureApi callers must present a secret.
    pub oauth_enabled: bool,
    /// argon2id PHC string of `oauth_key_secret`, when OAuth is enabled.
    pub oauth_secret_hash: Option<String>,
    /// Creation time.
    pub created_at: UnixTime,
}

/// An instance to insert.
#[derive(Debug, Clone)]
pub struct NewInstance {
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// Display name.
    pub name: String,
    /// Role.
    pub instance_type: InstanceType,
    /// Generated username.
    pub username: String,
    /// Keyed hash of the generated password.
    pub password_hash: Vec<u8>,
    /// Password expiry.
    pub password_expires_at: UnixTime,
    /// Creation time.
    pub created_at: UnixTime,
}

/// A token found by its hash, with the tenant and (for instance tokens) the instance it acts
/// for.
#[derive(Debug, Clone)]
pub struct BearerContext {
    /// The token row.
    pub token: StoredToken,
    /// Its instance; `None` for secureApi tokens.
    pub instance: Option<Instance>,
    /// Its tenant.
    pub tenant: Tenant,
}

/// Every column of a tenant row, for moving a deployment between databases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantRecord {
    /// Row id (kept, since it is the vendor's `tenantId`).
    pub id: TenantId,
    /// Name.
    pub name: String,
    /// `cs`, `uat` or `prod`.
    pub environment: String,
    /// Public identifier.
    pub tenant_hash: String,
    /// OAuth switch.
    pub oauth_enabled: bool,
    /// argon2id PHC string of the secret.
    pub oauth_secret_hash: Option<String>,
    /// Which secret is current (tokens remember theirs).
    pub secret_generation: i64,
    /// `opaque`, `jwt` or none (the deployment's default).
    pub token_format: Option<String>,
    /// Creation time.
    pub created_at: UnixTime,
}

/// Every column of an instance row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceRecord {
    /// Row id.
    pub id: InstanceId,
    /// Owner.
    pub tenant_id: TenantId,
    /// Name.
    pub name: String,
    /// Type word.
    pub instance_type: String,
    /// Username.
    pub username: String,
    /// Keyed password hash.
    pub password_hash: Vec<u8>,
    /// Password expiry.
    pub password_expires_at: UnixTime,
    /// Disabled since.
    pub disabled_at: Option<UnixTime>,
    /// Creation time.
    pub created_at: UnixTime,
    /// Registered `private_key_jwt` public keys (a JWK Set), if any.
    pub client_jwks: Option<String>,
}

/// Every column of a token row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    /// Row id.
    pub id: TokenId,
    /// Keyed lookup hash.
    pub token_hash: Vec<u8>,
    /// Dialect word.
    pub kind: String,
    /// Tenant.
    pub tenant_id: TenantId,
    /// Instance, if any.
    pub instance_id: Option<InstanceId>,
    /// Sealed token (a1user).
    pub sealed: Option<Vec<u8>>,
    /// secureApi api.
    pub api: Option<String>,
    /// Scope or resources.
    pub scope: Option<String>,
    /// Issue time.
    pub issued_at: UnixTime,
    /// Expiry.
    pub expires_at: UnixTime,
    /// Revocation time.
    pub revoked_at: Option<UnixTime>,
    /// Last use.
    pub last_used_at: Option<UnixTime>,
    /// Display prefix.
    pub prefix: Option<String>,
    /// secureApi: the tenant secret generation it was minted with.
    pub secret_generation: Option<i64>,
    /// OAuth: the DPoP key thumbprint it is bound to.
    pub dpop_jkt: Option<String>,
}

/// Settings, tenants and instances of a deployment (tokens are moved in batches).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// `settings` rows (the server key fingerprint).
    pub settings: Vec<(String, String)>,
    /// Every tenant.
    pub tenants: Vec<TenantRecord>,
    /// Every instance.
    pub instances: Vec<InstanceRecord>,
    /// The JWT signing keys (sealed under the same data key, so they move as they are).
    pub signing_keys: Vec<SigningKeyRecord>,
}

/// Every column of an admin account row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminRecord {
    /// Row id.
    pub id: AdminId,
    /// Sign-in name.
    pub username: String,
    /// argon2id PHC string of the password.
    pub password_hash: String,
    /// Creation time.
    pub created_at: UnixTime,
    /// When it was disabled, if it is.
    pub disabled_at: Option<UnixTime>,
}

/// Every column of an admin session or API token row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminCredentialRecord {
    /// Row id.
    pub id: i64,
    /// Keyed hash of the credential.
    pub token_hash: Vec<u8>,
    /// Owner.
    pub admin_id: AdminId,
    /// `session` or `api`.
    pub kind: String,
    /// Creation time.
    pub created_at: UnixTime,
    /// Expiry.
    pub expires_at: UnixTime,
    /// Revocation (sign-out) time.
    pub revoked_at: Option<UnixTime>,
    /// Last use, to the minute.
    pub last_used_at: Option<UnixTime>,
}

/// Admin accounts, their credentials and the audit log of a deployment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AdminSnapshot {
    /// Every admin account.
    pub admins: Vec<AdminRecord>,
    /// Every session and API token.
    pub credentials: Vec<AdminCredentialRecord>,
    /// The whole audit log.
    pub audit: Vec<AuditRecord>,
}

/// A one-time identifier to record: its keyed hash and when it stops mattering (after that,
/// the credential it came in is refused for its age anyway).
#[derive(Debug, Clone)]
pub struct SeenJti {
    /// The keyed hash of the identifier, with what it identifies mixed in.
    pub key: Vec<u8>,
    /// Until when a second sighting is a replay.
    pub expires_at: UnixTime,
}

/// A token to insert, with the audit entry that records it.
#[derive(Debug, Clone)]
pub struct TokenIssue {
    /// The token's row.
    pub token: NewToken,
    /// The limit it must stay within, if any (a1user creates).
    pub limit: Option<TokenLimit>,
    /// Written in the same transaction, only if the token is.
    pub audit: NewAuditEntry,
}

/// At most `max` active a1user tokens for the token's instance at `now`.
#[derive(Debug, Clone, Copy)]
pub struct TokenLimit {
    /// The time tokens are active at.
    pub now: UnixTime,
    /// How many may be active.
    pub max: u32,
}

/// What a write that must not race holds a lock on: the instance whose tokens it counts, or
/// the tenant whose instances it counts.
#[derive(Debug, Clone, Copy)]
pub enum LockKey {
    /// Token limits.
    Instance(InstanceId),
    /// Instance limits.
    Tenant(TenantId),
    /// A tenant's customer data: pushes and erasures, so updates are ordered.
    Customers(TenantId),
}

impl LockKey {
    /// One number per lock, for PostgreSQL advisory locks.
    pub(crate) fn advisory_key(self) -> i64 {
        match self {
            LockKey::Instance(id) => id.wrapping_mul(2),
            LockKey::Tenant(id) => id.wrapping_mul(2).wrapping_add(1),
            // Ids are positive, so these never meet the keys above.
            LockKey::Customers(id) => id.wrapping_neg(),
        }
    }
}

/// One connection pool's connections, sampled for the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolUsage {
    /// `read` and `write` on SQLite (one writer connection), `main` on PostgreSQL.
    pub name: &'static str,
    /// Connections open, idle or in use.
    pub open: u32,
    /// Open connections waiting in the pool.
    pub idle: u32,
    /// Most connections the pool opens.
    pub max: u32,
}

/// Pool size and how long start-up keeps retrying an unreachable database.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Connections in the pool (default: 8 for SQLite, 16 for PostgreSQL).
    pub max_connections: Option<u32>,
    /// How long to keep trying to reach the database at start-up.
    pub connect_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            max_connections: None,
            connect_timeout: Duration::from_secs(30),
        }
    }
}

/// Shared handle to whichever backend the database URL selected.
pub type DynStore = Arc<dyn Store>;

/// What administration asks of storage beyond the token store: admin accounts and their
/// credentials, the audit log, and per-token listings.
#[async_trait]
pub trait AdminStore: Send + Sync + 'static {
    /// Inserts an admin account; `Conflict` when the username (by its comparison key,
    /// [`name_key`](crate::domain::names::name_key)) is taken.
    async fn create_admin(
        &self,
        username: &str,
        password_hash: &str,
        now: UnixTime,
    ) -> Result<AdminAccount, StoreError>;
    /// An admin account with its argon2id password hash, by username (by its comparison key,
    /// so `OPS` finds `ops`).
    async fn admin_password(
        &self,
        username: &str,
    ) -> Result<Option<(AdminAccount, String)>, StoreError>;
    /// Stores a new session or API token (by its keyed hash).
    async fn insert_admin_credential(
        &self,
        admin: AdminId,
        kind: AdminCredentialKind,
        token_hash: &[u8],
        now: UnixTime,
        expires_at: UnixTime,
    ) -> Result<AdminCredentialId, StoreError>;
    /// A live credential of this kind, with its owner, if the owner is enabled.
    async fn admin_by_credential(
        &self,
        kind: AdminCredentialKind,
        token_hash: &[u8],
        now: UnixTime,
    ) -> Result<Option<AdminCredentialMatch>, StoreError>;
    /// Records a credential's use at `now`, unless a later use is already recorded.
    async fn touch_admin_credential(
        &self,
        credential: AdminCredentialId,
        now: UnixTime,
    ) -> Result<(), StoreError>;
    /// Every admin account, by username.
    async fn admins(&self) -> Result<Vec<AdminAccount>, StoreError>;
    /// The live (unrevoked, unexpired) API tokens of an admin, newest first.
    async fn admin_api_tokens(
        &self,
        admin: AdminId,
        now: UnixTime,
    ) -> Result<Vec<AdminTokenListing>, StoreError>;
    /// Revokes one live API token (of `admin`, when given); its owner, or `None` when there
    /// was no such live token.
    async fn revoke_admin_api_token(
        &self,
        token: AdminCredentialId,
        admin: Option<AdminId>,
        now: UnixTime,
    ) -> Result<Option<AdminId>, StoreError>;
    /// Disables an admin and ends its sessions, or enables it again; disabling the last
    /// enabled admin is refused.
    async fn set_admin_disabled(
        &self,
        admin: AdminId,
        disabled: bool,
        now: UnixTime,
    ) -> Result<AdminChange, StoreError>;
    /// Deletes an admin with its sessions and tokens, unless it is the last enabled one.
    async fn delete_admin(&self, admin: AdminId) -> Result<AdminChange, StoreError>;
    /// Replaces an admin's password hash and ends its sessions.
    async fn set_admin_password(
        &self,
        admin: AdminId,
        password_hash: &str,
        now: UnixTime,
    ) -> Result<(), StoreError>;
    /// Ends a session (or API token); unknown hashes are ignored.
    async fn revoke_admin_credential(
        &self,
        token_hash: &[u8],
        now: UnixTime,
    ) -> Result<(), StoreError>;

    /// Appends audit entries in one transaction.
    async fn append_audit(&self, entries: &[NewAuditEntry]) -> Result<(), StoreError>;
    /// Audit entries matching `filter`, newest first.
    async fn audit_entries(&self, filter: &AuditFilter) -> Result<Vec<AuditRecord>, StoreError>;

    /// The active tokens of an instance, newest first.
    async fn instance_tokens(
        &self,
        instance: InstanceId,
        now: UnixTime,
    ) -> Result<Vec<TokenListing>, StoreError>;
    /// Revokes one active token, only if it belongs to `instance`; returns how many (0 or 1).
    async fn revoke_instance_token(
        &self,
        instance: InstanceId,
        token: TokenId,
        now: UnixTime,
    ) -> Result<u64, StoreError>;
    /// Records that a bearer check accepted the token at `now`.
    async fn touch_token(&self, token: TokenId, now: UnixTime) -> Result<(), StoreError>;
    /// When any token of the instance was last used.
    async fn instance_last_used(
        &self,
        instance: InstanceId,
    ) -> Result<Option<UnixTime>, StoreError>;

    /// Admin accounts, credentials and audit log, every column.
    async fn export_admin(&self) -> Result<AdminSnapshot, StoreError>;
    /// Inserts them with their ids, in one transaction.
    async fn import_admin(&self, snapshot: &AdminSnapshot) -> Result<(), StoreError>;
}

/// Everything the domain asks of storage.
#[async_trait]
pub trait Store: AdminStore + cdp::CdpStore + cdp_copy::CdpTransfer {
    /// Whether the database answers, has every migration this build knows applied, and (on
    /// SQLite) takes a write; an error while it is out of reach or its disk is full.
    async fn ready(&self) -> Result<bool, StoreError>;
    /// Each connection pool's connections, for the metrics; reads no database.
    fn pool_usage(&self) -> Vec<PoolUsage>;
    /// Which server key the database expects and its sealed data key, if it has been set up.
    async fn key_record(&self) -> Result<Option<KeyRecord>, StoreError>;
    /// Records the keys of a new deployment, unless another process did first (then the
    /// caller reads back the winner's record).
    async fn init_key_record(&self, record: &KeyRecord) -> Result<(), StoreError>;
    /// Every JWT signing key, oldest generation first.
    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError>;
    /// Adds a signing key and deletes those of generations below `prune_before` (long
    /// unpublished); `false` when another process took the generation first.
    async fn add_signing_key(
        &self,
        key: &SigningKeyRecord,
        prune_before: i64,
    ) -> Result<bool, StoreError>;
    /// Makes every key that would start signing later start now (a rotation "at once" that
    /// promotes the key already published ahead of its time); how many did.
    async fn activate_signing_keys(&self, now: UnixTime) -> Result<u64, StoreError>;
    /// Records one-time identifiers (client assertion and DPoP proof `jti`s, as keyed hashes)
    /// until they expire, in one transaction: for each, `true` when it was unseen (or its
    /// earlier sighting has expired), `false` for a replay. Every replica writes here, so a
    /// `jti` one of them accepted is refused by all.
    async fn first_uses(&self, batch: &[SeenJti], now: UnixTime) -> Result<Vec<bool>, StoreError>;
    /// Deletes the one-time identifiers expired before `now`; how many.
    async fn prune_seen_jtis(&self, now: UnixTime) -> Result<u64, StoreError>;
    /// Sets a tenant's OAuth token format (`None`: the deployment's default) and moves the
    /// token epoch, so every process's cached credentials see it; `false` when there is no
    /// such tenant.
    async fn set_tenant_token_format(
        &self,
        id: TenantId,
        format: Option<TokenFormat>,
    ) -> Result<bool, StoreError>;
    /// Replaces the key record if it still names the server key `expected_fingerprint`;
    /// returns whether it did. Atomic.
    async fn rotate_key_record(
        &self,
        expected_fingerprint: &str,
        record: &KeyRecord,
    ) -> Result<bool, StoreError>;

    /// Inserts a tenant; `Conflict` when the name (by its comparison key) or hash is taken.
    async fn create_tenant(&self, tenant: NewTenant) -> Result<Tenant, StoreError>;
    /// A tenant by id.
    async fn tenant_by_id(&self, id: TenantId) -> Result<Option<Tenant>, StoreError>;
    /// A tenant by name: by its comparison key
    /// ([`name_key`](crate::domain::names::name_key)), so `ACME` finds `acme`.
    async fn tenant_by_name(&self, name: &str) -> Result<Option<Tenant>, StoreError>;
    /// Every tenant, oldest first.
    async fn tenants(&self) -> Result<Vec<Tenant>, StoreError>;
    /// A tenant by `tenant_hash`, with its secret's hash: the secureApi credential check.
    async fn tenant_credentials(
        &self,
        tenant_hash: &str,
    ) -> Result<Option<TenantCredentials>, StoreError>;
    /// Turns OAuth on or off; with `Some(hash)` also replaces the secret and starts a new
    /// secret generation. In the same transaction, revokes the tenant's active secureApi
    /// tokens the new state no longer honours (minted with an older secret, or without a
    /// secret check once OAuth is on). How many, or `None` if there is no such tenant.
    async fn set_tenant_oauth(
        &self,
        id: TenantId,
        enabled: bool,
        secret_hash: Option<&str>,
        now: UnixTime,
    ) -> Result<Option<u64>, StoreError>;
    /// Revokes every active secureApi token of a tenant; returns how many.
    async fn revoke_tenant_tokens(
        &self,
        tenant: TenantId,
        now: UnixTime,
    ) -> Result<u64, StoreError>;
    /// Whether the tenant has ever had an `oauth_key_secret`.
    async fn tenant_has_secret(&self, id: TenantId) -> Result<bool, StoreError>;

    /// Inserts an instance unless the tenant already holds `max_per_type` of its type
    /// (`LimitReached`) or the username is taken (`Conflict`). Atomic.
    async fn create_instance(
        &self,
        instance: NewInstance,
        max_per_type: u32,
    ) -> Result<Instance, StoreError>;
    /// An instance by id.
    async fn instance_by_id(&self, id: InstanceId) -> Result<Option<Instance>, StoreError>;
    /// An instance by username.
    async fn instance_by_username(&self, username: &str) -> Result<Option<Instance>, StoreError>;
    /// Instances, of one tenant or all, oldest first.
    async fn instances(&self, tenant: Option<TenantId>) -> Result<Vec<Instance>, StoreError>;
    /// What a Basic check needs, in one read.
    async fn credentials_by_username(
        &self,
        username: &str,
    ) -> Result<Option<InstanceCredentials>, StoreError>;
    /// Disables (`Some(time)`) or enables (`None`) an instance; false if it does not exist.
    async fn set_instance_disabled(
        &self,
        id: InstanceId,
        disabled_at: Option<UnixTime>,
    ) -> Result<bool, StoreError>;
    /// Registers an instance's `private_key_jwt` public keys (a checked JWK Set), or clears
    /// them with `None`, and moves the token epoch; false if it does not exist.
    async fn set_client_jwks(&self, id: InstanceId, jwks: Option<&str>)
    -> Result<bool, StoreError>;
    /// An instance's registered `private_key_jwt` public keys, if any.
    async fn client_jwks(&self, id: InstanceId) -> Result<Option<String>, StoreError>;
    /// Replaces an instance's password hash and expiry; false if it does not exist.
    async fn set_instance_password(
        &self,
        id: InstanceId,
        password_hash: &[u8],
        expires_at: UnixTime,
    ) -> Result<bool, StoreError>;

    /// A counter every change that takes something away from existing tokens or credentials
    /// (revoke, new scope, instance disabled or enabled, new password, new tenant secret or
    /// OAuth switch) moves forward, in the change's transaction: verified caches watch it. An
    /// extend does not move it: cached copies expire at the old time and are read again.
    async fn token_epoch(&self) -> Result<i64, StoreError>;

    /// Replaces an active token's scope (the secureApi resource set); false if not active.
    async fn set_token_scope(
        &self,
        id: TokenId,
        scope: &str,
        now: UnixTime,
    ) -> Result<bool, StoreError>;
    /// The instance's newest a1user token that is neither revoked nor expired at `now`.
    async fn newest_active_token(
        &self,
        instance: InstanceId,
        now: UnixTime,
    ) -> Result<Option<StoredToken>, StoreError>;
    /// Inserts `token` only if the instance has no active a1user token at `now`. Atomic: two racing
    /// logins mint one token between them. Returns whether it was inserted.
    async fn insert_token_if_none_active(
        &self,
        token: &NewToken,
        now: UnixTime,
    ) -> Result<bool, StoreError>;
    /// Inserts many tokens in one transaction (group commit), each with its audit entry, each
    /// within its instance's limit when it has one. Whether each was inserted, in order.
    async fn insert_tokens(&self, batch: &[TokenIssue]) -> Result<Vec<bool>, StoreError>;
    /// The active token (of any kind) with this lookup hash, with its tenant and instance: the
    /// bearer check, one indexed read.
    async fn active_token_by_hash(
        &self,
        token_hash: &[u8],
        now: UnixTime,
    ) -> Result<Option<BearerContext>, StoreError>;
    /// Moves an active token's expiry; false if it is no longer active.
    async fn extend_token(
        &self,
        id: TokenId,
        expires_at: UnixTime,
        now: UnixTime,
    ) -> Result<bool, StoreError>;
    /// Revokes one active token; returns how many were revoked (0 or 1).
    async fn revoke_token(&self, id: TokenId, now: UnixTime) -> Result<u64, StoreError>;
    /// Revokes every active token of an instance; returns how many.
    async fn revoke_instance_tokens(
        &self,
        instance: InstanceId,
        now: UnixTime,
    ) -> Result<u64, StoreError>;
    /// How many active tokens (of every kind) the instance holds.
    async fn count_active_tokens(
        &self,
        instance: InstanceId,
        now: UnixTime,
    ) -> Result<u64, StoreError>;

    /// Whether the database holds no deployment yet (no tenants, no settings).
    async fn is_empty(&self) -> Result<bool, StoreError>;
    /// Settings, tenants and instances, every column.
    async fn export_head(&self) -> Result<Snapshot, StoreError>;
    /// Up to `limit` token rows with ids above `after`, in id order.
    async fn export_tokens(
        &self,
        after: TokenId,
        limit: u32,
    ) -> Result<Vec<TokenRecord>, StoreError>;
    /// Inserts settings, tenants and instances with their ids, in one transaction.
    async fn import_head(&self, snapshot: &Snapshot) -> Result<(), StoreError>;
    /// Inserts token rows with their ids, in one transaction.
    async fn import_tokens(&self, tokens: &[TokenRecord]) -> Result<(), StoreError>;
    /// Makes the next allocated ids follow the imported ones.
    async fn finish_import(&self) -> Result<(), StoreError>;
}

/// Opens (creating a SQLite file if needed) the database a URL names and brings its schema
/// up to date, retrying an unreachable server for `options.connect_timeout`.
pub async fn open(url: &str, options: &StoreOptions) -> Result<DynStore, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::open(url, options).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PostgresStore::open(url, options).await?))
    } else {
        Err(StoreError::UnsupportedUrl)
    }
}
