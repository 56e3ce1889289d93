//! Group commit for new tokens. Every token a client is handed is written, with the audit
//! entry recording it, before the answer: one transaction per request would make the database
//! commit the bottleneck of token creation (SQLite has one writer; each commit takes file
//! locks and log writes). Requests instead queue their rows for one writer task, which takes
//! everything waiting (up to [`MAX_BATCH`]) into one transaction and answers each request once
//! that transaction committed. An idle server writes a lone request at once, so nothing waits
//! for a batch to fill.

use tokio::sync::{mpsc, oneshot};

use super::error::DomainError;
use crate::store::{DynStore, StoreError, TokenIssue};

/// Most tokens written in one transaction.
pub const MAX_BATCH: usize = 128;

/// Requests that may wait for the writer; more wait to be queued.
const QUEUE: usize = 1_024;

struct Pending {
    issue: TokenIssue,
    reply: oneshot::Sender<Result<bool, DomainError>>,
}

/// Writes new tokens and their audit entries, many requests to a transaction.
#[derive(Clone)]
pub struct TokenWriter {
    store: DynStore,
    queue: Option<mpsc::Sender<Pending>>,
}

impl TokenWriter {
    /// A writer for `store`. Its task runs on the current tokio runtime; without one (a
    /// synchronous caller) every token is written on its own.
    pub fn new(store: DynStore) -> Self {
        let queue = tokio::runtime::Handle::try_current().ok().map(|runtime| {
            let (sender, receiver) = mpsc::channel(QUEUE);
            runtime.spawn(write_batches(store.clone(), receiver));
            sender
        });
        TokenWriter { store, queue }
    }

    /// Writes the token and its audit entry, committed when this returns; false when the
    /// token's limit refused it (nothing is written then).
    pub async fn issue(&self, issue: TokenIssue) -> Result<bool, DomainError> {
        let Some(queue) = &self.queue else {
            return Ok(self.store.insert_tokens(&[issue]).await?[0]);
        };
        let (reply, answer) = oneshot::channel();
        queue
            .send(Pending { issue, reply })
            .await
            .map_err(|_| DomainError::Internal("the token writer stopped".into()))?;
        answer
            .await
            .map_err(|_| DomainError::Internal("the token writer stopped".into()))?
    }
}

/// Takes whatever is waiting, writes it in one transaction, answers; until every sender is
/// gone.
async fn write_batches(store: DynStore, mut queue: mpsc::Receiver<Pending>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let (issues, replies): (Vec<TokenIssue>, Vec<_>) =
            batch.drain(..).map(|p| (p.issue, p.reply)).unzip();
        match store.insert_tokens(&issues).await {
            Ok(inserted) => {
                for (reply, inserted) in replies.into_iter().zip(inserted) {
                    let _ = reply.send(Ok(inserted));
                }
            }
            // One bad row must not fail the others: write each on its own to tell which.
            Err(error) if issues.len() > 1 => {
                tracing::warn!(%error, tokens = issues.len(), "a token batch failed; writing them one by one");
                for (issue, reply) in issues.into_iter().zip(replies) {
                    let outcome = store.insert_tokens(std::slice::from_ref(&issue)).await;
                    let _ = reply.send(first(outcome));
                }
            }
            Err(error) => {
                if let Some(reply) = replies.into_iter().next() {
                    let _ = reply.send(Err(error.into()));
                }
            }
        }
    }
}

fn first(outcome: Result<Vec<bool>, StoreError>) -> Result<bool, DomainError> {
    Ok(outcome?.first().copied().unwrap_or(false))
}
