//! [`GrantManager`]: a secureApi scoped token kept valid.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::error::{Error, ErrorCode};
use crate::{Client, Secret, TenantCredentials};

/// How a [`GrantManager`] asks for its tokens.
#[derive(Debug, Clone)]
pub struct GrantOptions {
    /// The `validity` each created token asks for, in minutes (default 15).
    pub validity_minutes: u32,
    /// Create the next token once less than this remains (default 60 s; keep it below the
    /// validity, or every call creates a token).
    pub renew_before: Duration,
}

impl Default for GrantOptions {
    fn default() -> Self {
        GrantOptions {
            validity_minutes: 15,
            renew_before: Duration::from_secs(60),
        }
    }
}

/// Keeps a secureApi token for one tenant, api and resource set: creates it on first use,
/// creates the next one before [`validity`](GrantOptions::validity_minutes) runs out, and
/// updates its resources on demand. Clones share the token; one create runs at a time.
///
/// ```no_run
/// # async fn demo() -> Result<(), cdp_auth_client::Error> {
/// use cdp_auth_client::{Client, GrantManager, TenantCredentials};
/// let client = Client::new("https://cdp-auth.example.com")?;
/// let tenant = TenantCredentials::new("0123456789abcdef0123456789abcdef", "0123456789abcdef");
/// let grant = GrantManager::new(client, tenant, "profile", vec!["basic".into()]);
/// let token = grant.token().await?;
/// grant.set_resources(vec!["basic".into(), "segments".into()]).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct GrantManager {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    client: Client,
    tenant: TenantCredentials,
    api: String,
    options: GrantOptions,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    resources: Vec<String>,
    held: Option<(Secret, Instant)>,
}

impl GrantManager {
    /// A manager for these resources of `api`, with the default options.
    pub fn new(
        client: Client,
        tenant: TenantCredentials,
        api: impl Into<String>,
        resources: Vec<String>,
    ) -> Self {
        Self::with_options(client, tenant, api, resources, GrantOptions::default())
    }

    /// A manager with these options.
    pub fn with_options(
        client: Client,
        tenant: TenantCredentials,
        api: impl Into<String>,
        resources: Vec<String>,
        options: GrantOptions,
    ) -> Self {
        GrantManager {
            inner: Arc::new(Inner {
                client,
                tenant,
                api: api.into(),
                options,
                state: Mutex::new(State {
                    resources,
                    held: None,
                }),
            }),
        }
    }

    /// The token to send now (in the `access_token` header), created if need be.
    pub async fn token(&self) -> Result<Secret, Error> {
        let mut state = self.inner.state.lock().await;
        let renew_before = self.inner.options.renew_before;
        if let Some((token, expires_at)) = &state.held
            && expires_at.saturating_duration_since(Instant::now()) > renew_before
        {
            return Ok(token.clone());
        }
        let started = Instant::now();
        let validity = self.inner.options.validity_minutes;
        let created = self
            .inner
            .client
            .secure_create(
                &self.inner.tenant,
                &self.inner.api,
                &state.resources,
                Some(validity),
            )
            .await?;
        let expires_at = started + Duration::from_secs(u64::from(validity) * 60);
        state.held = Some((created.token.clone(), expires_at));
        Ok(created.token)
    }

    /// Replaces the resource set: the current token is updated on the server (its expiry
    /// stays), and later tokens are created with these resources.
    pub async fn set_resources(&self, resources: Vec<String>) -> Result<(), Error> {
        let mut state = self.inner.state.lock().await;
        if let Some((token, expires_at)) = &state.held
            && *expires_at > Instant::now()
        {
            let updated = self
                .inner
                .client
                .secure_update(&self.inner.tenant, &self.inner.api, token, &resources)
                .await;
            match updated {
                Ok(_) => {}
                Err(e) if e.code() == Some(&ErrorCode::InvalidToken) => state.held = None,
                Err(e) => return Err(e),
            }
        }
        state.resources = resources;
        Ok(())
    }

    /// The resources tokens are created with.
    pub async fn resources(&self) -> Vec<String> {
        self.inner.state.lock().await.resources.clone()
    }

    /// Forgets the current token, so that the next call creates one.
    pub async fn invalidate(&self) {
        self.inner.state.lock().await.held = None;
    }
}
