//! Results that a page shows once: a new instance's credentials, a rotated password, a new
//! `oauth_key_secret`, an administrator's new password or API token. A form that makes one answers with a redirect to a page that shows it
//! (POST-redirect-GET, so reloading never repeats the action), and the secret waits here, in
//! memory only, behind a random id that is no use to anyone but the session that made it. The
//! first view takes it; a reload finds nothing; an unviewed one is forgotten after
//! [`LIFETIME`].
//!
//! Being in one process's memory, a result can only be shown by the server that made it:
//! replicas behind a balancer need sticky sessions for the UI (the admin API is unaffected).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::domain::DomainError;
use crate::domain::admin::{CreatedTenant, IssuedPassword};
use crate::domain::secrets::{self, Secret};

/// How long a result waits for its page.
pub const LIFETIME: Duration = Duration::from_secs(5 * 60);

/// Most results held at once; past it the oldest is dropped (each comes from a signed-in
/// admin's form, so this only bounds memory against a runaway script).
const MAX_HELD: usize = 1_000;

/// Random bytes of an id: 192 bits from the operating system.
const ID_BYTES: usize = 24;

/// What a form produced, to be shown once.
pub enum OnceResult {
    /// A new instance's credentials.
    Created(IssuedPassword),
    /// An instance's new password.
    Rotated(IssuedPassword),
    /// A tenant's new `oauth_key_secret` (new tenant, rotation or OAuth turned on), with the
    /// page's heading.
    TenantSecret {
        /// What happened, e.g. "New oauth_key_secret for acme".
        heading: String,
        /// The status banner.
        flash: &'static str,
        /// The tenant and its secret.
        created: CreatedTenant,
    },
    /// An administrator's new password or API token.
    AdminSecret {
        /// What happened, e.g. "New password for ops".
        heading: String,
        /// The admin it belongs to.
        username: String,
        /// The fields to show: (label, value).
        fields: Vec<(&'static str, String)>,
    },
}

struct Held {
    owner: [u8; 32],
    expires: Instant,
    result: OnceResult,
}

/// The results waiting for their page, by id.
#[derive(Default)]
pub struct OnceResults {
    held: Mutex<HashMap<String, Held>>,
}

/// Whose result: a digest of the session cookie, so the map holds no live credential.
fn owner_of(session: &Secret) -> [u8; 32] {
    Sha256::digest(session.expose().as_bytes()).into()
}

impl OnceResults {
    /// Keeps a result for this session; returns the id of its page.
    pub fn keep(&self, session: &Secret, result: OnceResult) -> Result<String, DomainError> {
        self.keep_at(session, result, Instant::now())
    }

    fn keep_at(
        &self,
        session: &Secret,
        result: OnceResult,
        now: Instant,
    ) -> Result<String, DomainError> {
        let id = secrets::random_urlsafe(ID_BYTES)?;
        let mut held = self.lock();
        held.retain(|_, h| h.expires > now);
        if held.len() >= MAX_HELD {
            let oldest = held
                .iter()
                .min_by_key(|(_, h)| h.expires)
                .map(|(id, _)| id.clone());
            if let Some(oldest) = oldest {
                held.remove(&oldest);
            }
        }
        held.insert(
            id.clone(),
            Held {
                owner: owner_of(session),
                expires: now + LIFETIME,
                result,
            },
        );
        Ok(id)
    }

    /// Takes the result behind `id` if this session made it and it has not expired; after
    /// that, nobody gets it again. Another session's request leaves it where it is.
    pub fn take(&self, session: &Secret, id: &str) -> Option<OnceResult> {
        self.take_at(session, id, Instant::now())
    }

    fn take_at(&self, session: &Secret, id: &str, now: Instant) -> Option<OnceResult> {
        let mut held = self.lock();
        let owner = owner_of(session);
        let found = held.get(id)?;
        if !bool::from(found.owner.ct_eq(&owner)) {
            return None;
        }
        let found = held.remove(id)?;
        (found.expires > now).then_some(found.result)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Held>> {
        // A panic while holding the lock leaves nothing half-written: the map stays usable.
        self.held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::model::{Environment, Tenant};

    fn result() -> OnceResult {
        OnceResult::TenantSecret {
            heading: "New oauth_key_secret for acme".into(),
            flash: "rotated",
            created: CreatedTenant {
                tenant: Tenant {
                    id: 1,
                    name: "acme".into(),
                    environment: Environment::Uat,
                    tenant_hash: "h".into(),
                    oauth_enabled: true,
                    secret_generation: 1,
                    token_format: None,
                    created_at: 0,
                },
                oauth_key_secret: Some(Secret::new("s3cret")),
                tokens_ended: 0,
            },
        }
    }

    #[test]
    fn a_result_is_taken_once_by_its_session_only() {
        let results = OnceResults::default();
        let mine = Secret::new("session-a");
        let theirs = Secret::new("session-b");
        let id = results.keep(&mine, result()).expect("kept");
        assert!(id.len() >= 32, "{id}");
        assert!(results.take(&theirs, &id).is_none());
        assert!(
            results.take(&mine, &id).is_some(),
            "another session took it"
        );
        assert!(results.take(&mine, &id).is_none(), "shown twice");
        assert!(results.take(&mine, "made-up").is_none());
    }

    #[test]
    fn ids_differ() {
        let results = OnceResults::default();
        let session = Secret::new("session");
        let a = results.keep(&session, result()).expect("kept");
        let b = results.keep(&session, result()).expect("kept");
        assert_ne!(a, b);
    }

    #[test]
    fn an_unviewed_result_expires() {
        let results = OnceResults::default();
        let session = Secret::new("session");
        let start = Instant::now();
        let id = results.keep_at(&session, result(), start).expect("kept");
        let later = start + LIFETIME + Duration::from_secs(1);
        assert!(results.take_at(&session, &id, later).is_none());
        // And it is gone, not just hidden.
        assert!(results.take_at(&session, &id, start).is_none());
    }

    #[test]
    fn expired_results_are_dropped_when_new_ones_come() {
        let results = OnceResults::default();
        let session = Secret::new("session");
        let start = Instant::now();
        results.keep_at(&session, result(), start).expect("kept");
        let later = start + LIFETIME + Duration::from_secs(1);
        results.keep_at(&session, result(), later).expect("kept");
        assert_eq!(results.lock().len(), 1);
    }
}
