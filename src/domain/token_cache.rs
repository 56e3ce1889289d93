//! Verified bearer tokens, kept in memory so the check in front of every request is a keyed
//! hash and a map lookup instead of a database read.
//!
//! Correctness rests on one counter, the store's *token epoch*, which every change to existing
//! tokens (revoke, extend, new scope, disabled instance) moves forward in its own transaction:
//! - a change made by this process empties the cache at once ([`TokenCache::changed`]);
//! - a change made by another process (a replica, or the CLI) is noticed by a watcher that
//!   reads the epoch every [`WATCH_INTERVAL`] and empties the cache when it moved;
//! - a lookup that raced with either never inserts what it read: an entry is only stored if
//!   the local generation is the one seen before the database read.
//!
//! Entries also expire after [`MAX_AGE`] and never outlive their token's expiry.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use moka::sync::Cache;

use crate::domain::clock::UnixTime;
use crate::store::{BearerContext, DynStore};

/// How often other processes' changes are looked for; a revoke elsewhere is honoured within
/// about this long.
pub const WATCH_INTERVAL: Duration = Duration::from_millis(250);

/// How long an entry may serve without a database read, whatever happens.
pub const MAX_AGE: Duration = Duration::from_secs(300);

/// Most tokens held (each a few hundred bytes).
const CAPACITY: u64 = 100_000;

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

/// The cache of verified tokens, keyed by the token's keyed hash.
#[derive(Clone)]
pub struct TokenCache {
    entries: Cache<[u8; 32], Arc<Entry>>,
    generation: Arc<AtomicU64>,
}

impl Default for TokenCache {
    fn default() -> Self {
        Self::new()
    }
}

impl TokenCache {
    /// An empty cache.
    pub fn new() -> Self {
        TokenCache {
            entries: Cache::builder()
                .max_capacity(CAPACITY)
                .time_to_live(MAX_AGE)
                .build(),
            generation: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The generation to pass to [`TokenCache::insert`] for a database read starting now.
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
    /// (`generation` is what [`TokenCache::generation`] said before it).
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
        if self.generation() == generation {
            self.entries.insert(key, entry.clone());
            // A change that landed during the insert must not leave it behind.
            if self.generation() != generation {
                self.entries.invalidate(&key);
            }
        }
        Some(entry)
    }

    /// Tokens changed: forget everything.
    pub fn changed(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.entries.invalidate_all();
    }

    /// Watches the store's token epoch and empties the cache whenever another process moved
    /// it. Runs until the process ends.
    pub fn spawn_watcher(&self, store: DynStore) -> tokio::task::JoinHandle<()> {
        let cache = self.clone();
        tokio::spawn(async move {
            let mut seen = None;
            let mut tick = tokio::time::interval(WATCH_INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                match store.token_epoch().await {
                    Ok(epoch) if seen != Some(epoch) => {
                        if seen.is_some() {
                            cache.changed();
                        }
                        seen = Some(epoch);
                    }
                    Ok(_) => {}
                    Err(error) => {
                        // Unable to tell whether tokens changed elsewhere: trust nothing.
                        tracing::warn!(%error, "cannot read the token epoch; dropping the token cache");
                        cache.changed();
                        seen = None;
                    }
                }
            }
        })
    }

    /// Entries held now (approximate).
    pub fn len(&self) -> u64 {
        self.entries.run_pending_tasks();
        self.entries.entry_count()
    }

    /// Whether nothing is held.
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
            },
            instance: None,
            tenant: Tenant {
                id: 1,
                name: "acme".into(),
                environment: Environment::Cs,
                tenant_hash: "0".repeat(32),
                oauth_enabled: false,
                created_at: 0,
            },
        }
    }

    #[test]
    fn a_change_empties_the_cache_and_a_read_that_raced_it_is_not_stored() {
        let cache = TokenCache::new();
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
    fn an_expired_token_is_not_served_from_the_cache() {
        let cache = TokenCache::new();
        let hash = [7u8; 32];
        cache.insert(&hash, context(100), cache.generation());
        assert!(cache.get(&hash, 99).is_some());
        assert!(cache.get(&hash, 100).is_none());
    }
}
