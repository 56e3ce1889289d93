//! Replay refusal for one-time identifiers: the `jti` of a `private_key_jwt` client assertion
//! (RFC 7523) and of a DPoP proof (RFC 9449). A `jti` is recorded in the database, which every
//! replica shares, so one accepted by any replica is refused by all until it would have
//! expired anyway.
//!
//! DPoP puts a sighting on every request to a resource, so sightings are group-committed like
//! new tokens ([`super::token_writer`]): requests queue their keys for one writer task, which
//! records everything waiting in one transaction and answers each once it committed. The same
//! task deletes expired sightings now and then.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::clock::{self, UnixTime};
use super::error::DomainError;
use crate::store::{DynStore, SeenJti};

/// Most sightings recorded in one transaction.
pub const MAX_BATCH: usize = 256;

/// Requests that may wait for the writer; more wait to be queued.
const QUEUE: usize = 4_096;

/// How often expired sightings are deleted.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

struct Pending {
    seen: SeenJti,
    reply: oneshot::Sender<Result<bool, DomainError>>,
}

/// Records one-time identifiers and says whether each is seen for the first time.
#[derive(Clone)]
pub struct ReplayGuard {
    store: DynStore,
    queue: Option<mpsc::Sender<Pending>>,
}

impl ReplayGuard {
    /// A guard over `store`. Its task runs on the current tokio runtime; without one (a
    /// synchronous caller) every sighting is recorded on its own.
    pub fn new(store: DynStore) -> Self {
        let queue = tokio::runtime::Handle::try_current().ok().map(|runtime| {
            let (sender, receiver) = mpsc::channel(QUEUE);
            runtime.spawn(record_batches(store.clone(), receiver));
            sender
        });
        ReplayGuard { store, queue }
    }

    /// Records `key` (a keyed hash from [`super::secrets::ServerKeys::one_time_id_hash`]) as
    /// seen until `expires_at`, committed when this returns: `true` the first time, `false`
    /// for a replay (seen before, by any replica, and not yet expired).
    pub async fn first_use(&self, key: Vec<u8>, expires_at: UnixTime) -> Result<bool, DomainError> {
        let seen = SeenJti { key, expires_at };
        let Some(queue) = &self.queue else {
            let fresh = self
                .store
                .first_uses(std::slice::from_ref(&seen), clock::now())
                .await?;
            return Ok(fresh.first().copied().unwrap_or(false));
        };
        let stopped = || DomainError::Internal("the replay guard stopped".into());
        let (reply, answer) = oneshot::channel();
        queue
            .send(Pending { seen, reply })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

/// Takes whatever is waiting, records it in one transaction, answers; prunes expired
/// sightings between batches; until every sender is gone.
async fn record_batches(store: DynStore, mut queue: mpsc::Receiver<Pending>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut pruned_at = tokio::time::Instant::now();
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let (seen, replies): (Vec<SeenJti>, Vec<_>) =
            batch.drain(..).map(|p| (p.seen, p.reply)).unzip();
        match store.first_uses(&seen, clock::now()).await {
            Ok(fresh) => {
                for (reply, fresh) in replies.into_iter().zip(fresh) {
                    let _ = reply.send(Ok(fresh));
                }
            }
            // Each request gets its own answer: record each on its own to tell them.
            Err(error) if seen.len() > 1 => {
                tracing::warn!(%error, sightings = seen.len(), "recording one-time identifiers failed; retrying one by one");
                for (seen, reply) in seen.into_iter().zip(replies) {
                    let outcome = store
                        .first_uses(std::slice::from_ref(&seen), clock::now())
                        .await;
                    let _ = reply.send(
                        outcome
                            .map(|fresh| fresh.first().copied().unwrap_or(false))
                            .map_err(DomainError::from),
                    );
                }
            }
            Err(error) => {
                if let Some(reply) = replies.into_iter().next() {
                    let _ = reply.send(Err(error.into()));
                }
            }
        }
        if pruned_at.elapsed() >= PRUNE_EVERY {
            pruned_at = tokio::time::Instant::now();
            match store.prune_seen_jtis(clock::now()).await {
                Ok(0) => {}
                Ok(deleted) => tracing::debug!(deleted, "pruned expired one-time identifiers"),
                Err(error) => tracing::warn!(%error, "pruning one-time identifiers failed"),
            }
        }
    }
}
