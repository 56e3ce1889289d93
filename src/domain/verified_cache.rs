//! What verified recently, kept in memory so the checks in front of every request are a keyed
//! hash and a map lookup instead of a database read (and, for a tenant's `oauth_key_secret`,
//! instead of an argon2id hash):
//! - bearer tokens, by the token's keyed hash;
//! - instance Basic credentials, by the keyed fingerprint of (username, password);
//! - secureApi tenant credentials, by the keyed fingerprint of (`tenant_hash`, secret);
//! - each instance's newest active a1user token (what the daily retrieve answers), for at most
//!   [`NEWEST_MAX_AGE`]: a token minted by this process replaces it at once, one minted by
//!   another process is seen within that time (the older token it hides stays valid).
//!
//! No plaintext secret is held: keys are HMACs under the server key. Only successes are kept;
//! a refusal is always worked out afresh.
//!
//! Correctness rests on one counter, the store's *token epoch*, which every change that takes
//! something away (revoke, new scope, disabled or enabled instance, new password, new tenant
//! secret or OAuth switch) moves forward in its own transaction:
//! - a change made by this process empties the cache at once ([`VerifiedCache::changed`]);
//! - a change made by another process (a replica, or the CLI) is noticed by a watcher that
//!   reads the epoch every [`WATCH_INTERVAL`] and empties the cache when it moved;
//! - a lookup that raced with either never inserts what it read: an entry is only stored if
//!   the local generation is the one seen before the database read.
//!
//! Token entries also expire after [`MAX_AGE`] and never outlive the expiry they were read
//! with, which is why an extend moves no epoch: elsewhere the old copy expires and is read
//! again. Credential entries expire after [`CREDENTIAL_MAX_AGE`].

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use moka::sync::Cache;

use crate::domain::clock::UnixTime;
use crate::domain::model::{InstanceCredentials, InstanceId, StoredToken, Tenant};
use crate::store::{BearerContext, DynStore};

/// How often other processes' changes are looked for; a revoke elsewhere is honoured within
/// about this long.
pub const WATCH_INTERVAL: Duration = Duration::from_millis(250);

/// How long a token entry may serve without a database read, whatever happens.
pub const MAX_AGE: Duration = Duration::from_secs(300);

/// How long a verified credential is remembered: short, so a secret's verification is
/// repeated now and then even when nothing announced a change.
pub const CREDENTIAL_MAX_AGE: Duration = Duration::from_secs(60);

/// How long an instance's newest token is remembered.
pub const NEWEST_MAX_AGE: Duration = Duration::from_secs(1);

/// Most tokens held (each a few hundred bytes).
const CAPACITY: u64 = 100_000;

/// Most credentials of each kind held.
const CREDENTIAL_CAPACITY: u64 = 100_000;

/// A cached verification: the token's context and when its use was last recorded.
pub struct Entry {
    /// The token, its instance and tenant, as read.
    pub context: BearerContext,
    /// Last `last_used_at` written for it (seconds), so the writes stay one a minute.
    pub last_recorded: AtomicI64,
}

impl std::ops::Deref for Entry {
    type Target = BearerContext;

    fn deref(&self) -> &BearerContext {
        &self.context
    }
}

/// Recent verifications (tokens and credentials), keyed by keyed hashes.
#[derive(Clone)]
pub struct VerifiedCache {
    entries: Cache<[u8; 32], Arc<Entry>>,
    instances: Cache<[u8; 32], Arc<InstanceCredentials>>,
    tenants: Cache<[u8; 32], Arc<Tenant>>,
    newest: Cache<InstanceId, Arc<StoredToken>>,
    generation: Arc<AtomicU64>,
    /// Moves when this process mints an a1user token, so a newest-token read that raced the
    /// mint is not stored.
    mints: Arc<AtomicU64>,
}

/// What a newest-token read saw before it began: the generation and the mint count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewestStamp(u64, u64);

impl Default for VerifiedCache {
    fn default() -> Self {
        Self::new()
    }
}

/// Stores `value` under `key` unless the generation moved since `generation` was read, and
/// takes it out again if it moved during the insert.
fn insert_unless_changed<V: Clone + Send + Sync + 'static>(
    cache: &Cache<[u8; 32], V>,
    current: &AtomicU64,
    key: [u8; 32],
    value: V,
    generation: u64,
) {
    if current.load(Ordering::Acquire) == generation {
        cache.insert(key, value);
        if current.load(Ordering::Acquire) != generation {
            cache.invalidate(&key);
        }
    }
}

/// A cache of verified credentials of one kind.
fn credential_cache<V: Clone + Send + Sync + 'static>() -> Cache<[u8; 32], V> {
    Cache::builder()
        .max_capacity(CREDENTIAL_CAPACITY)
        .time_to_live(CREDENTIAL_MAX_AGE)
        .build()
}

impl VerifiedCache {
    /// An empty cache.
    pub fn new() -> Self {
        VerifiedCache {
            entries: Cache::builder()
                .max_capacity(CAPACITY)
                .time_to_live(MAX_AGE)
                .build(),
            instances: credential_cache(),
            tenants: credential_cache(),
            newest: Cache::builder()
                .max_capacity(CREDENTIAL_CAPACITY)
                .time_to_live(NEWEST_MAX_AGE)
                .build(),
            generation: Arc::new(AtomicU64::new(0)),
            mints: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The generation to pass to the inserts for a database read starting now.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The entry for a token hash, unless it expired.
    pub fn get(&self, hash: &[u8], now: UnixTime) -> Option<Arc<Entry>> {
        let key: [u8; 32] = hash.try_into().ok()?;
        let entry = self.entries.get(&key)?;
        if entry.context.token.expires_at > now {
            Some(entry)
        } else {
            self.entries.invalidate(&key);
            None
        }
    }

    /// Stores a context read from the database, unless tokens changed since the read began
    /// (`generation` is what [`VerifiedCache::generation`] said before it).
    pub fn insert(
        &self,
        hash: &[u8],
        context: BearerContext,
        generation: u64,
    ) -> Option<Arc<Entry>> {
        let key: [u8; 32] = hash.try_into().ok()?;
        let entry = Arc::new(Entry {
            last_recorded: AtomicI64::new(context.token.last_used_at.unwrap_or(i64::MIN)),
            context,
        });
        insert_unless_changed(
            &self.entries,
            &self.generation,
            key,
            entry.clone(),
            generation,
        );
        Some(entry)
    }

    /// The instance whose Basic credentials have this fingerprint, if they verified recently.
    pub fn instance(&self, fingerprint: &[u8; 32]) -> Option<Arc<InstanceCredentials>> {
        self.instances.get(fingerprint)
    }

    /// Remembers Basic credentials that verified (read at `generation`).
    pub fn insert_instance(
        &self,
        fingerprint: [u8; 32],
        owner: Arc<InstanceCredentials>,
        generation: u64,
    ) {
        insert_unless_changed(
            &self.instances,
            &self.generation,
            fingerprint,
            owner,
            generation,
        );
    }

    /// The tenant whose secureApi credentials have this fingerprint, if they verified
    /// recently.
    pub fn tenant(&self, fingerprint: &[u8; 32]) -> Option<Arc<Tenant>> {
        self.tenants.get(fingerprint)
    }

    /// Remembers tenant credentials that verified (read at `generation`).
    pub fn insert_tenant(&self, fingerprint: [u8; 32], tenant: Arc<Tenant>, generation: u64) {
        insert_unless_changed(
            &self.tenants,
            &self.generation,
            fingerprint,
            tenant,
            generation,
        );
    }

    /// The stamp to pass to [`VerifiedCache::insert_newest`] for a read starting now.
    pub fn newest_stamp(&self) -> NewestStamp {
        NewestStamp(
            self.generation.load(Ordering::Acquire),
            self.mints.load(Ordering::Acquire),
        )
    }

    /// The instance's newest active a1user token, if read recently and not expired.
    pub fn newest(&self, instance: InstanceId, now: UnixTime) -> Option<Arc<StoredToken>> {
        self.newest
            .get(&instance)
            .filter(|token| token.expires_at > now)
    }

    /// Remembers an instance's newest active token, unless tokens changed or one was minted
    /// since the read began.
    pub fn insert_newest(&self, instance: InstanceId, token: Arc<StoredToken>, stamp: NewestStamp) {
        if self.newest_stamp() == stamp {
            self.newest.insert(instance, token);
            if self.newest_stamp() != stamp {
                self.newest.invalidate(&instance);
            }
        }
    }

    /// This process minted an a1user token for `instance`: its newest token is read afresh.
    pub fn minted(&self, instance: InstanceId) {
        self.mints.fetch_add(1, Ordering::AcqRel);
        self.newest.invalidate(&instance);
    }

    /// A token of `instance` was extended: its entry and the instance's newest token are read
    /// afresh. (A read that raced the extend may store the old expiry again; that copy only
    /// expires early and is read again then.)
    pub fn extended(&self, token_hash: &[u8], instance: InstanceId) {
        if let Ok(key) = <[u8; 32]>::try_from(token_hash) {
            self.entries.invalidate(&key);
        }
        self.newest.invalidate(&instance);
    }

    /// Tokens or credentials changed: forget everything.
    pub fn changed(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.entries.invalidate_all();
        self.instances.invalidate_all();
        self.tenants.invalidate_all();
        self.newest.invalidate_all();
    }

    /// Watches the store's token epoch and empties the cache whenever another process moved
    /// it. While the database is out of reach (or cannot serve: a full disk), nothing can be
    /// revoked, so the cache keeps answering for up to `stale_if_error` after the last epoch
    /// read that succeeded; past that, or after any other failure, it is emptied and every
    /// check goes to the database (and fails until it answers). Runs until the process ends.
    pub fn spawn_watcher(
        &self,
        store: DynStore,
        stale_if_error: Duration,
    ) -> tokio::task::JoinHandle<()> {
        let cache = self.clone();
        tokio::spawn(async move {
            let mut seen = None;
            let mut last_contact = Instant::now();
            let mut failing = false;
            let mut tick = tokio::time::interval(WATCH_INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                match store.token_epoch().await {
                    Ok(epoch) => {
                        last_contact = Instant::now();
                        if std::mem::take(&mut failing) {
                            tracing::info!("the token epoch can be read again");
                        }
                        if seen != Some(epoch) {
                            if seen.is_some() {
                                cache.changed();
                            }
                            seen = Some(epoch);
                        }
                    }
                    Err(error)
                        if error.is_unavailable() && last_contact.elapsed() < stale_if_error =>
                    {
                        if !std::mem::replace(&mut failing, true) {
                            tracing::warn!(%error, ?stale_if_error, "database unavailable; verified tokens are answered from the cache meanwhile");
                        }
                    }
                    Err(error) => {
                        // Unable to tell whether tokens changed elsewhere: trust nothing.
                        if !std::mem::replace(&mut failing, true) || !cache.is_empty() {
                            tracing::warn!(%error, "cannot read the token epoch; dropping the verified cache");
                        }
                        cache.changed();
                        seen = None;
                    }
                }
            }
        })
    }

    /// Token entries held now (approximate).
    pub fn len(&self) -> u64 {
        self.entries.run_pending_tasks();
        self.entries.entry_count()
    }

    /// Whether no token is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::model::{Environment, StoredToken, Tenant, TokenKind};

    fn context(expires_at: UnixTime) -> BearerContext {
        BearerContext {
            token: StoredToken {
                id: 1,
                kind: TokenKind::OAuth,
                tenant_id: 1,
                instance_id: None,
                sealed: None,
                token_hash: vec![7; 32],
                api: None,
                scope: None,
                issued_at: 0,
                expires_at,
                last_used_at: None,
                dpop_jkt: None,
            },
            instance: None,
            tenant: Tenant {
                id: 1,
                name: "acme".into(),
                environment: Environment::Cs,
                tenant_hash: "0".repeat(32),
                oauth_enabled: false,
                secret_generation: 1,
                token_format: None,
                created_at: 0,
            },
        }
    }

    #[test]
    fn a_change_empties_the_cache_and_a_read_that_raced_it_is_not_stored() {
        let cache = VerifiedCache::new();
        let hash = [7u8; 32];
        let before = cache.generation();
        cache.insert(&hash, context(100), before);
        assert!(cache.get(&hash, 50).is_some());

        cache.changed();
        assert!(
            cache.get(&hash, 50).is_none(),
            "a change forgets every token"
        );

        // A read that began before the change must not repopulate the cache.
        cache.insert(&hash, context(100), before);
        assert!(cache.get(&hash, 50).is_none());
        cache.insert(&hash, context(100), cache.generation());
        assert!(cache.get(&hash, 50).is_some());
    }

    #[test]
    fn a_change_forgets_verified_credentials_and_a_racing_read_is_not_stored() {
        let cache = VerifiedCache::new();
        let fingerprint = [9u8; 32];
        let tenant = Arc::new(context(100).tenant);
        let before = cache.generation();
        cache.insert_tenant(fingerprint, tenant.clone(), before);
        assert!(cache.tenant(&fingerprint).is_some());

        cache.changed();
        assert!(
            cache.tenant(&fingerprint).is_none(),
            "a change forgets secrets"
        );
        cache.insert_tenant(fingerprint, tenant.clone(), before);
        assert!(
            cache.tenant(&fingerprint).is_none(),
            "a verification that began before the change is not remembered"
        );
        cache.insert_tenant(fingerprint, tenant, cache.generation());
        assert!(cache.tenant(&fingerprint).is_some());
    }

    #[test]
    fn an_expired_token_is_not_served_from_the_cache() {
        let cache = VerifiedCache::new();
        let hash = [7u8; 32];
        cache.insert(&hash, context(100), cache.generation());
        assert!(cache.get(&hash, 99).is_some());
        assert!(cache.get(&hash, 100).is_none());
    }
}
