//! [`TokenManager`]: the a1user token an integration keeps for its lifetime.

use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::error::{Error, ErrorCode};
use crate::types::TokenResponse;
use crate::{Client, Credentials, Secret};

/// How a [`TokenManager`] keeps its token fresh.
#[derive(Debug, Clone)]
pub struct TokenManagerOptions {
    /// Extend the token once less than this fraction of its lifetime remains (0.0..=1.0;
    /// default 0.25: a 180-day token is extended with 45 days left).
    pub refresh_below: f64,
    /// The token lifetime, if known; otherwise the longest `expires_in` seen is taken for it.
    pub lifetime: Option<Duration>,
    /// Warn (a `tracing` warning) on each refresh once the password expires within this
    /// (default 14 days). Rotate it in the web UI and give the manager the new one.
    pub password_warning: Duration,
}

impl Default for TokenManagerOptions {
    fn default() -> Self {
        TokenManagerOptions {
            refresh_below: 0.25,
            lifetime: None,
            password_warning: Duration::from_secs(14 * 24 * 3600),
        }
    }
}

/// A token as the manager hands it out.
#[derive(Debug, Clone)]
pub struct ManagedToken {
    /// The bearer token.
    pub access_token: Secret,
    /// Its tenant id, for the CDP paths.
    pub tenant_id: String,
    /// When it expires (by this process's clock).
    pub expires_at: Instant,
}

/// Keeps one instance's a1user token fresh for the integration's lifetime: logs in once,
/// caches the token in memory, extends it when less than
/// [`refresh_below`](TokenManagerOptions::refresh_below) of its lifetime remains, creates a
/// new one when the server refuses to extend it (`extension_limit_reached`), and logs in again
/// when it was revoked.
///
/// Clones share one cache. However many tasks ask at once, one refresh runs and the others
/// wait for its outcome. If a refresh fails for a passing reason (the server unreachable or
/// busy) while the cached token still lives, the cached token is handed out and the refresh is
/// tried again on the next call.
///
/// ```no_run
/// # async fn demo() -> Result<(), cdp_auth_client::Error> {
/// use cdp_auth_client::{Client, Credentials, TokenManager};
/// let client = Client::new("https://cdp-auth.example.com")?;
/// let tokens = TokenManager::new(client.clone(), Credentials::new("tracker_k2j9x0", "…"));
/// let token = tokens.token().await?; // fresh every time you ask
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct TokenManager {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    client: Client,
    credentials: Credentials,
    options: TokenManagerOptions,
    held: Mutex<Option<Held>>,
}

#[derive(Debug, Clone)]
struct Held {
    token: Secret,
    tenant_id: String,
    expires_at: Instant,
    lifetime: Duration,
}

impl TokenManager {
    /// A manager with the default options. Nothing is sent until the first [`token`](Self::token).
    pub fn new(client: Client, credentials: Credentials) -> Self {
        Self::with_options(client, credentials, TokenManagerOptions::default())
    }

    /// A manager with these options.
    pub fn with_options(
        client: Client,
        credentials: Credentials,
        options: TokenManagerOptions,
    ) -> Self {
        TokenManager {
            inner: Arc::new(Inner {
                client,
                credentials,
                options,
                held: Mutex::new(None),
            }),
        }
    }

    /// The bearer token to send now.
    pub async fn token(&self) -> Result<Secret, Error> {
        self.current().await.map(|t| t.access_token)
    }

    /// The token to send now, with its tenant id and expiry.
    pub async fn current(&self) -> Result<ManagedToken, Error> {
        let mut held = self.inner.held.lock().await;
        let now = Instant::now();
        if let Some(h) = held.as_ref().filter(|h| !self.needs_refresh(h, now)) {
            return Ok(h.managed());
        }
        match self.refresh(held.as_ref()).await {
            Ok(fresh) => {
                let managed = fresh.managed();
                *held = Some(fresh);
                Ok(managed)
            }
            Err(e) => match held.as_ref() {
                Some(old) if transient(&e) && old.expires_at > Instant::now() => {
                    tracing::warn!(error = %e, "cdp-auth token refresh failed; using the cached token until the next try");
                    Ok(old.managed())
                }
                _ => Err(e),
            },
        }
    }

    /// Forgets `token` if it is the cached one (say, after the API answered `invalid_token`
    /// for it), so that the next call logs in again.
    pub async fn invalidate(&self, token: &Secret) {
        let mut held = self.inner.held.lock().await;
        if held.as_ref().is_some_and(|h| &h.token == token) {
            *held = None;
        }
    }

    /// The username this manager logs in as.
    pub fn username(&self) -> &str {
        &self.inner.credentials.username
    }

    fn needs_refresh(&self, held: &Held, now: Instant) -> bool {
        let remaining = held.expires_at.saturating_duration_since(now);
        let fraction = self.inner.options.refresh_below.clamp(0.0, 1.0);
        remaining.is_zero() || remaining < held.lifetime.mul_f64(fraction)
    }

    async fn refresh(&self, held: Option<&Held>) -> Result<Held, Error> {
        let client = &self.inner.client;
        let credentials = &self.inner.credentials;
        let started = Instant::now();
        let response = match held {
            None => client.login(credentials).await?,
            Some(old) => match client.extend(&old.token).await {
                Ok(response) => response,
                Err(e) if e.code() == Some(&ErrorCode::ExtensionLimitReached) => {
                    tracing::info!(
                        username = %credentials.username,
                        "cdp-auth token reached its maximum age; creating a new one"
                    );
                    client.create(credentials).await?
                }
                Err(e) if e.code() == Some(&ErrorCode::InvalidToken) => {
                    client.login(credentials).await?
                }
                Err(e) => return Err(e),
            },
        };
        self.warn_if_password_expires_soon(&response);
        let expires_in = Duration::from_secs(response.expires_in.max(0).unsigned_abs());
        let lifetime = self
            .inner
            .options
            .lifetime
            .unwrap_or(expires_in)
            .max(held.map_or(Duration::ZERO, |h| h.lifetime))
            .max(expires_in);
        Ok(Held {
            token: response.access_token,
            tenant_id: response.tenant_id,
            expires_at: started + expires_in,
            lifetime,
        })
    }

    fn warn_if_password_expires_soon(&self, response: &TokenResponse) {
        let Some(expires_at) = response.password_expires_at() else {
            return;
        };
        let left = expires_at - OffsetDateTime::now_utc();
        if left < self.inner.options.password_warning {
            tracing::warn!(
                username = %response.username,
                password_expiry_date = %response.password_expiry_date,
                days_left = left.whole_days(),
                "the cdp-auth instance password expires soon: rotate it and update the integration"
            );
        }
    }
}

impl Held {
    fn managed(&self) -> ManagedToken {
        ManagedToken {
            access_token: self.token.clone(),
            tenant_id: self.tenant_id.clone(),
            expires_at: self.expires_at,
        }
    }
}

/// Whether trying again later may succeed: no answer, or a busy server.
pub(crate) fn transient(error: &Error) -> bool {
    match error {
        Error::Transport(_) => true,
        Error::Api(e) => e.status >= 500 || e.status == 429,
        _ => false,
    }
}
