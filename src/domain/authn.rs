//! Checking who a request is: instance Basic credentials (a keyed hash and a constant-time
//! compare), tenant secrets (argon2id, off the async runtime behind a bounded pool), and
//! bearer tokens (a keyed hash and one indexed read). Every dialect authenticates here.

use crate::telemetry::metrics::{CredentialKind, metrics};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::sync::Semaphore;

use std::net::IpAddr;

use super::a1user::BasicCredentials;
use super::audit::{Actor, AuditAction, AuditEvent, AuditLog};
use super::client_assertion::{self, AssertionError, Expected, PresentedAssertion};
use super::client_keys::ClientKeySet;
use super::clock::{self, UnixTime};
use super::dpop::Dpop;
use super::error::DomainError;
use super::jwt::{self, JwtAuthority};
use super::model::{AdminAccount, InstanceCredentials, InstanceId, StoredToken, Tenant};
use super::replay::ReplayGuard;
use super::secrets::{self, Secret, ServerKeys};
use super::secure_api::TenantCredentialsPresented;
use super::throttle::{CredentialFingerprint, Throttle};
use super::verified_cache::{Entry, VerifiedCache};
use crate::store::{BearerContext, DynStore};

/// Bearer strings longer than this cannot be ours; refusing them early keeps hashing cheap.
pub const MAX_TOKEN_LEN: usize = 512;

/// A token's last use is recorded at most this often (seconds), so the bearer check, the hot
/// path, writes nothing for nearly every request.
const LAST_USED_RESOLUTION: i64 = 60;

/// An argon2id hash of a random value no one knows, verified when a `tenant_hash` is unknown
/// so that an unknown tenant costs the same as a wrong secret.
const DUMMY_PHC: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$wNwJ6cXhSSrEHyESZaZhl0YJ5mH3ZufFGFrPUFr0hQw";

/// Whether a presented name can be looked up at all. Names we issue are short printable
/// ASCII; one with a NUL or another control character (which PostgreSQL cannot even take as
/// text) or of absurd length is simply unknown, answered like any unknown name.
fn storable(name: &str) -> bool {
    name.len() <= 256 && !name.chars().any(char::is_control)
}

/// Runs argon2id verifications on blocking threads, at most `workers` at once and at most
/// `queue` waiting, so a flood of wrong secrets can use only part of the machine and never
/// the async workers that answer token checks.
#[derive(Clone)]
pub struct SlowHasher {
    running: Arc<Semaphore>,
    admitted: Arc<Semaphore>,
    capacity: usize,
}

impl SlowHasher {
    /// A pool of `workers` concurrent hashes with room for `queue` more waiting.
    pub fn new(workers: usize, queue: usize) -> Self {
        let workers = workers.max(1);
        SlowHasher {
            running: Arc::new(Semaphore::new(workers)),
            admitted: Arc::new(Semaphore::new(workers + queue)),
            capacity: workers + queue,
        }
    }

    /// Hashes running or waiting now, and the most admitted at once, for the metrics.
    pub fn queue(&self) -> (usize, usize) {
        let capacity = self.capacity;
        (
            capacity - self.admitted.available_permits().min(capacity),
            capacity,
        )
    }

    /// One worker per core but one, leaving a core for everything else.
    pub fn for_this_machine() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self::new(cores.saturating_sub(1).max(1), 64)
    }

    /// Verifies `secret` against a PHC string; `Busy` when the pool is full.
    pub async fn verify(&self, secret: Secret, phc: String) -> Result<bool, DomainError> {
        let _admitted = self.admitted.clone().try_acquire_owned().map_err(|_| {
            metrics().slow_hash_rejected();
            DomainError::Busy
        })?;
        let _running = self
            .running
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| DomainError::Busy)?;
        tokio::task::spawn_blocking(move || secrets::argon2_verify(secret.expose(), &phc))
            .await
            .map_err(|e| DomainError::Internal(format!("hashing task failed: {e}")))
    }
}

/// Authenticates instances, tenants and tokens against the store. A handle: clones share one
/// authenticator (its caches and limiter), and cost one reference count, since the token
/// layer clones its verifier for every request.
#[derive(Clone)]
pub struct Authenticator {
    inner: Arc<Inner>,
}

struct Inner {
    store: DynStore,
    keys: Arc<ServerKeys>,
    hasher: SlowHasher,
    throttle: Throttle,
    audit: AuditLog,
    tokens: VerifiedCache,
    failure_delay: std::time::Duration,
    jwt: JwtAuthority,
    replay: ReplayGuard,
    dpop: Dpop,
}

impl Authenticator {
    /// Builds the authenticator. Refused credentials wait `failure_delay` before their answer
    /// (see [`Policy::failure_delay`](super::policy::Policy::failure_delay)).
    pub fn new(
        store: DynStore,
        keys: Arc<ServerKeys>,
        hasher: SlowHasher,
        throttle: Throttle,
        audit: AuditLog,
        failure_delay: std::time::Duration,
        jwt: JwtAuthority,
    ) -> Self {
        let replay = ReplayGuard::new(store.clone());
        let identity = jwt.identity();
        let dpop = Dpop::new(
            keys.clone(),
            replay.clone(),
            &identity.issuer,
            &identity.resource,
        );
        Authenticator {
            inner: Arc::new(Inner {
                replay,
                dpop,
                store,
                keys,
                hasher,
                throttle,
                audit,
                tokens: VerifiedCache::new(),
                failure_delay,
                jwt,
            }),
        }
    }

    /// Holds a refusal of credentials for the failure delay; other outcomes pass at once.
    async fn slow_refusal<T>(&self, outcome: Result<T, DomainError>) -> Result<T, DomainError> {
        if let Err(
            DomainError::InvalidCredentials
            | DomainError::InvalidClient
            | DomainError::TooManyAttempts { .. }
            | DomainError::Busy,
        ) = &outcome
        {
            tokio::time::sleep(self.inner.failure_delay).await;
        }
        outcome
    }

    /// Password hashes running or waiting, and the most admitted at once.
    pub fn slow_hash_queue(&self) -> (usize, usize) {
        self.inner.hasher.queue()
    }

    /// The cache of recent verifications (for its watcher, and for tests).
    pub fn verified_cache(&self) -> &VerifiedCache {
        &self.inner.tokens
    }

    /// Tokens or credentials changed in this process (revoked, rescoped, instance disabled or
    /// enabled, password or tenant secret replaced): the next check of any of them reads the
    /// database. Other processes learn of it through the store's token epoch.
    pub fn tokens_changed(&self) {
        self.inner.tokens.changed();
    }

    /// Refuses the attempt when its name or address has failed too often, unless this very
    /// credential (its `fingerprint`) verified recently.
    fn admit(
        &self,
        name: &str,
        source: Option<IpAddr>,
        fingerprint: &CredentialFingerprint,
    ) -> Result<(), DomainError> {
        self.inner
            .throttle
            .check(name, source, fingerprint)
            .map_err(|retry_after| {
                metrics().throttled();
                DomainError::TooManyAttempts { retry_after }
            })
    }

    /// Records the outcome of an admitted attempt with the limiter, and a failure in the
    /// process log, the metrics and the audit log (`kind` says which credential failed). A name
    /// that is not `known` (in our store) is logged as a keyed fingerprint, never verbatim:
    /// it may be a password typed into the wrong field.
    async fn settle(
        &self,
        name: &str,
        known: bool,
        source: Option<IpAddr>,
        fingerprint: CredentialFingerprint,
        verified: bool,
        kind: CredentialKind,
    ) {
        if verified {
            self.inner.throttle.verified(fingerprint);
        } else {
            self.inner.throttle.failed(name, source);
            metrics().credential_failed(kind);
            let what = audit_detail(kind);
            let shown = if known {
                name.to_owned()
            } else {
                self.inner.keys.unknown_name(name)
            };
            tracing::info!(name = %shown, source = ?source, what, "failed credential attempt");
            let event =
                AuditEvent::new(AuditAction::SignInFailed, &Actor::new(shown, source)).detail(what);
            self.inner.audit.record_failure(event).await;
        }
    }

    /// DPoP proof checking, for the token endpoint and the resources.
    pub fn dpop(&self) -> &Dpop {
        &self.inner.dpop
    }

    /// The JWT access token authority.
    pub fn jwt(&self) -> &JwtAuthority {
        &self.inner.jwt
    }

    /// The server keys, for minting.
    pub fn keys(&self) -> &ServerKeys {
        &self.inner.keys
    }

    /// Checks Basic credentials. An unknown username and a wrong password do the same work (one
    /// read, one keyed hash, one constant-time compare) and fail with the same error. Only a
    /// caller who knows the password learns that it expired or that the instance is disabled.
    /// Credentials that verified recently are recognised by their keyed fingerprint alone.
    pub async fn instance(
        &self,
        credentials: &BasicCredentials,
    ) -> Result<Arc<InstanceCredentials>, DomainError> {
        let outcome = self.check_instance(credentials).await;
        if let Ok(owner) = &outcome {
            crate::telemetry::record_tenant(owner.tenant.id);
        }
        self.slow_refusal(outcome).await
    }

    async fn check_instance(
        &self,
        credentials: &BasicCredentials,
    ) -> Result<Arc<InstanceCredentials>, DomainError> {
        let (name, source) = (&credentials.username, credentials.source);
        let fingerprint = self
            .inner
            .keys
            .credential_fingerprint(name, credentials.password.expose());
        if let Some(owner) = self.inner.tokens.instance(&fingerprint) {
            return usable(owner);
        }
        self.admit(name, source, &fingerprint)?;
        let generation = self.inner.tokens.generation();
        let found = if storable(name) {
            self.inner.store.credentials_by_username(name).await?
        } else {
            None
        };
        let verified = self.inner.keys.verify_password(
            credentials.password.expose(),
            found.as_ref().map(|c| c.password_hash.as_slice()),
        ) && found.is_some();
        let known = found.is_some();
        self.settle(
            name,
            known,
            source,
            fingerprint,
            verified,
            CredentialKind::InstancePassword,
        )
        .await;
        let owner = match found {
            Some(owner) if verified => usable(Arc::new(owner))?,
            _ => return Err(DomainError::InvalidCredentials),
        };
        // Only usable credentials are kept, so enabling an instance takes effect at once.
        self.inner
            .tokens
            .insert_instance(fingerprint, owner.clone(), generation);
        Ok(owner)
    }

    /// Checks a `private_key_jwt` client assertion (RFC 7523 §2.2): signed by one of the keys
    /// the instance registered, its claims naming this client and one of `audiences`, and its
    /// `jti` unseen by any replica (the replay guard records it). Every refusal is the wrong-password
    /// refusal, and is counted by the same limiter. A key cannot be guessed, so the limiter's
    /// exemption for a credential that verified recently is keyed by the client and the key id
    /// the header names: a working integration keeps working while its name is hammered.
    /// The password's expiry does not apply: the key is a credential of its own.
    pub async fn instance_by_assertion(
        &self,
        presented: &PresentedAssertion,
        audiences: &[String],
    ) -> Result<Arc<InstanceCredentials>, DomainError> {
        let outcome = self.check_assertion(presented, audiences).await;
        self.slow_refusal(outcome).await
    }

    async fn check_assertion(
        &self,
        presented: &PresentedAssertion,
        audiences: &[String],
    ) -> Result<Arc<InstanceCredentials>, DomainError> {
        let assertion = presented.assertion.expose();
        let claimed = client_assertion::claimed_client(assertion);
        let name = presented
            .client_id
            .clone()
            .or_else(|| claimed.clone())
            .unwrap_or_default();
        let source = presented.source;
        let kid = client_assertion::key_id(assertion).unwrap_or_default();
        let fingerprint = self
            .inner
            .keys
            .credential_fingerprint(&name, &format!("private_key_jwt\0{kid}"));
        self.admit(&name, source, &fingerprint)?;
        let found = if storable(&name) && claimed.as_deref() == Some(name.as_str()) {
            self.inner.store.credentials_by_username(&name).await?
        } else {
            None
        };
        let known = found.is_some();
        let verified = match &found {
            None => Err(AssertionError::Subject),
            Some(owner) => match owner.client_jwks.as_deref() {
                None => Err(AssertionError::NoKey),
                Some(stored) => match ClientKeySet::stored(stored) {
                    Ok(keys) => {
                        let expected = Expected {
                            client_id: &owner.instance.username,
                            audiences,
                            now: clock::now(),
                        };
                        client_assertion::verify(assertion, &keys, &expected)
                    }
                    Err(error) => {
                        tracing::warn!(%error, instance = owner.instance.id, "registered client keys are unreadable; register them again");
                        Err(AssertionError::NoKey)
                    }
                },
            },
        };
        let fresh = match &verified {
            Ok(accepted) => {
                let key =
                    self.inner
                        .keys
                        .one_time_id_hash("client_assertion", &name, &accepted.jti);
                self.inner
                    .replay
                    .first_use(key, accepted.expires_at)
                    .await?
            }
            Err(_) => false,
        };
        if let Err(reason) = &verified {
            tracing::debug!(%reason, "client assertion refused");
        } else if !fresh {
            tracing::debug!("client assertion refused: its jti was used before");
        }
        let accepted = verified.is_ok() && fresh;
        self.settle(
            &name,
            known,
            source,
            fingerprint,
            accepted,
            CredentialKind::ClientAssertion,
        )
        .await;
        match found {
            Some(owner) if accepted => {
                if owner.instance.disabled_at.is_some() {
                    return Err(DomainError::InstanceDisabled);
                }
                Ok(Arc::new(owner))
            }
            _ => Err(DomainError::InvalidCredentials),
        }
    }

    /// Checks secureApi tenant credentials: the `tenant_hash`, and the `oauth_key_secret` when
    /// the tenant has OAuth on. An unknown tenant verifies a dummy hash, so it costs and
    /// answers the same as a wrong secret. Credentials that verified recently are recognised by
    /// their keyed fingerprint, without another argon2id hash: a client creating many tokens
    /// pays for its secret once a minute, not once a token.
    pub async fn tenant(
        &self,
        credentials: &TenantCredentialsPresented,
    ) -> Result<Arc<Tenant>, DomainError> {
        let outcome = self.check_tenant(credentials).await;
        if let Ok(tenant) = &outcome {
            crate::telemetry::record_tenant(tenant.id);
        }
        self.slow_refusal(outcome).await
    }

    async fn check_tenant(
        &self,
        credentials: &TenantCredentialsPresented,
    ) -> Result<Arc<Tenant>, DomainError> {
        let (tenant_hash, source) = (credentials.tenant_hash.as_str(), credentials.source);
        let secret = credentials.oauth_key_secret.as_ref();
        let presented = secret.cloned().unwrap_or_else(|| Secret::new(""));
        let fingerprint = self
            .inner
            .keys
            .credential_fingerprint(tenant_hash, presented.expose());
        if let Some(tenant) = self.inner.tokens.tenant(&fingerprint) {
            return Ok(tenant);
        }
        self.admit(tenant_hash, source, &fingerprint)?;
        let generation = self.inner.tokens.generation();
        let mut known = false;
        let outcome = self
            .verify_tenant(tenant_hash, secret, presented, &mut known)
            .await;
        if !matches!(outcome, Err(DomainError::Busy | DomainError::Store(_))) {
            self.settle(
                tenant_hash,
                known,
                source,
                fingerprint,
                outcome.is_ok(),
                CredentialKind::TenantSecret,
            )
            .await;
        }
        let tenant = Arc::new(outcome?);
        self.inner
            .tokens
            .insert_tenant(fingerprint, tenant.clone(), generation);
        Ok(tenant)
    }

    /// Checks an admin's username and password (argon2id, in the bounded pool). An unknown
    /// username verifies a dummy hash, so it costs and answers the same as a wrong password.
    pub async fn admin(
        &self,
        username: &str,
        password: &Secret,
        source: Option<IpAddr>,
    ) -> Result<AdminAccount, DomainError> {
        let outcome = self.check_admin(username, password, source).await;
        self.slow_refusal(outcome).await
    }

    async fn check_admin(
        &self,
        username: &str,
        password: &Secret,
        source: Option<IpAddr>,
    ) -> Result<AdminAccount, DomainError> {
        let fingerprint = self
            .inner
            .keys
            .credential_fingerprint(username, password.expose());
        self.admit(username, source, &fingerprint)?;
        let found = if storable(username) {
            self.inner.store.admin_password(username).await?
        } else {
            None
        };
        let (account, phc) = match found {
            Some((account, phc)) => (Some(account), phc),
            None => (None, DUMMY_PHC.to_owned()),
        };
        // A disabled admin's right password is refused like a wrong one.
        let verified = self.inner.hasher.verify(password.clone(), phc).await?
            && account.as_ref().is_some_and(AdminAccount::enabled);
        let known = account.is_some();
        self.settle(
            username,
            known,
            source,
            fingerprint,
            verified,
            CredentialKind::AdminPassword,
        )
        .await;
        match account {
            Some(account) if verified => Ok(account),
            _ => Err(DomainError::InvalidCredentials),
        }
    }

    async fn verify_tenant(
        &self,
        tenant_hash: &str,
        secret: Option<&Secret>,
        presented: Secret,
        known: &mut bool,
    ) -> Result<Tenant, DomainError> {
        let found = if storable(tenant_hash) {
            self.inner.store.tenant_credentials(tenant_hash).await?
        } else {
            None
        };
        *known = found.is_some();
        match found {
            Some(found) if !found.tenant.oauth_enabled => Ok(found.tenant),
            Some(found) => {
                let phc = found.oauth_secret_hash.clone();
                let known = phc.is_some();
                let verified = self
                    .inner
                    .hasher
                    .verify(presented, phc.unwrap_or_else(|| DUMMY_PHC.to_owned()))
                    .await?;
                if verified && known && secret.is_some() {
                    Ok(found.tenant)
                } else {
                    Err(DomainError::InvalidClient)
                }
            }
            None => {
                self.inner
                    .hasher
                    .verify(presented, DUMMY_PHC.to_owned())
                    .await?;
                Err(DomainError::InvalidClient)
            }
        }
    }

    /// Resolves a bearer token of any dialect to its active row, tenant and instance: one
    /// keyed hash and a cache lookup, or one indexed read on a miss. A JWT access token is
    /// cached the same way, by a keyed hash of the whole JWT, so its signature is checked on
    /// the miss only; its row (found by its `jti`) says whether it was revoked. Tokens of a
    /// disabled instance are refused.
    pub async fn bearer(&self, token: &Secret) -> Result<Arc<Entry>, DomainError> {
        let outcome = self.find_bearer(token).await;
        match &outcome {
            Ok(entry) => crate::telemetry::record_tenant(entry.tenant.id),
            Err(DomainError::InvalidToken) => metrics().credential_failed(CredentialKind::Token),
            Err(_) => {}
        }
        outcome
    }

    async fn find_bearer(&self, token: &Secret) -> Result<Arc<Entry>, DomainError> {
        let token = token.expose();
        let is_jwt = jwt::looks_like_jwt(token);
        let longest = if is_jwt {
            jwt::MAX_JWT_LEN
        } else {
            MAX_TOKEN_LEN
        };
        if token.is_empty() || token.len() > longest {
            return Err(DomainError::InvalidToken);
        }
        let hash = self.inner.keys.token_hash(token);
        let now = clock::now();
        let cached = self.inner.tokens.get(&hash, now);
        metrics().token_cache(cached.is_some());
        let entry = match cached {
            Some(entry) => entry,
            None => {
                let generation = self.inner.tokens.generation();
                let context = if is_jwt {
                    self.jwt_row(token, now).await?
                } else {
                    self.inner
                        .store
                        .active_token_by_hash(&hash, now)
                        .await?
                        .ok_or(DomainError::InvalidToken)?
                };
                // Only usable tokens are kept: a refusal is always read afresh, so enabling
                // an instance takes effect at once everywhere.
                if context
                    .instance
                    .as_ref()
                    .is_some_and(|i| i.disabled_at.is_some())
                {
                    return Err(DomainError::InstanceDisabled);
                }
                self.inner
                    .tokens
                    .insert(&hash, context, generation)
                    .ok_or(DomainError::InvalidToken)?
            }
        };
        if entry
            .instance
            .as_ref()
            .is_some_and(|i| i.disabled_at.is_some())
        {
            return Err(DomainError::InstanceDisabled);
        }
        self.note_use(&entry, now);
        Ok(entry)
    }

    /// The row of a JWT access token whose signature and claims check out, if it is still
    /// active and is the token its claims describe.
    async fn jwt_row(&self, token: &str, now: UnixTime) -> Result<BearerContext, DomainError> {
        let claims = self.inner.jwt.verify(token).await?;
        let context = self
            .inner
            .store
            .active_token_by_hash(&self.inner.keys.jwt_id_hash(&claims.jti), now)
            .await?
            .ok_or(DomainError::InvalidToken)?;
        let same_client = context
            .instance
            .as_ref()
            .is_some_and(|instance| instance.username == claims.client_id);
        if !same_client || context.tenant.id.to_string() != claims.tenant_id {
            return Err(DomainError::InvalidToken);
        }
        Ok(context)
    }

    /// The instance's newest active a1user token: from the cache when read within the last
    /// second, else one indexed read.
    pub async fn newest_token(
        &self,
        instance: InstanceId,
        now: UnixTime,
    ) -> Result<Option<Arc<StoredToken>>, DomainError> {
        if let Some(token) = self.inner.tokens.newest(instance, now) {
            return Ok(Some(token));
        }
        let stamp = self.inner.tokens.newest_stamp();
        let Some(token) = self.inner.store.newest_active_token(instance, now).await? else {
            return Ok(None);
        };
        let token = Arc::new(token);
        self.inner
            .tokens
            .insert_newest(instance, token.clone(), stamp);
        Ok(Some(token))
    }

    /// A token of `instance` lives longer now: this process reads it afresh. Other processes
    /// need not hear of it: their copies expire at the old time and are read again then.
    pub fn token_extended(&self, token_hash: &[u8], instance: InstanceId) {
        self.inner.tokens.extended(token_hash, instance);
    }

    /// This process minted an a1user token for `instance` (the newest one now).
    pub fn token_minted(&self, instance: InstanceId) {
        self.inner.tokens.minted(instance);
    }

    /// Records the token's use, at most once a minute per token and off the request's path.
    fn note_use(&self, entry: &Entry, now: UnixTime) {
        let last = entry.last_recorded.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= LAST_USED_RESOLUTION
            && entry
                .last_recorded
                .compare_exchange(last, now, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            let store = self.inner.store.clone();
            let id = entry.token.id;
            tokio::spawn(async move {
                if let Err(error) = store.touch_token(id, now).await {
                    tracing::debug!(%error, "could not record a token's last use");
                }
            });
        }
    }
}

/// Verified credentials may still not be used: the instance is disabled, or the password has
/// expired. Worked out on every request, cached or not.
/// How a failed credential is named in the audit log and the process log.
fn audit_detail(kind: CredentialKind) -> &'static str {
    match kind {
        CredentialKind::InstancePassword => "instance password",
        CredentialKind::TenantSecret => "oauth_key_secret",
        CredentialKind::ClientAssertion => "client assertion",
        CredentialKind::AdminPassword => "admin password",
        CredentialKind::Token => "token",
        CredentialKind::DpopProof => "DPoP proof",
    }
}

fn usable(owner: Arc<InstanceCredentials>) -> Result<Arc<InstanceCredentials>, DomainError> {
    if owner.instance.disabled_at.is_some() {
        return Err(DomainError::InstanceDisabled);
    }
    if owner.instance.password_expires_at <= clock::now() {
        return Err(DomainError::PasswordExpired);
    }
    Ok(owner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dummy_hash_is_a_valid_phc_string_of_the_configured_cost() {
        use argon2::password_hash::phc::PasswordHash;
        let parsed = PasswordHash::new(DUMMY_PHC).unwrap();
        assert_eq!(parsed.algorithm.as_str(), "argon2id");
        assert!(DUMMY_PHC.contains("m=19456,t=2,p=1"));
        assert!(!secrets::argon2_verify("", DUMMY_PHC));
    }

    #[tokio::test]
    async fn a_full_pool_answers_busy_instead_of_queueing_forever() {
        let hasher = SlowHasher::new(1, 0);
        let phc = secrets::argon2_hash("x").unwrap();
        let slow = {
            let hasher = hasher.clone();
            let phc = phc.clone();
            tokio::spawn(async move { hasher.verify(Secret::new("x"), phc).await })
        };
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        let refused = hasher.verify(Secret::new("x"), phc).await;
        assert!(matches!(refused, Err(DomainError::Busy)));
        assert!(slow.await.unwrap().unwrap());
    }
}
