//! A client for cdp-auth and compatible servers: the a1user and
//! secureApi token dialects, the OAuth 2.0 endpoints, the first CDP API calls, and managers
//! that keep an integration's tokens fresh.
//!
//! # A guide for integration developers
//!
//! An administrator creates your integration *instance* (web UI: Integrations › Instances ›
//! Add Instance, or `cdp-auth instance create`) and hands you its **Authentication Host URL**,
//! **API Host URL**, **UserName** and **Password** (shown once). Keep the password in your
//! secret store; give it to the client as a [`Secret`], whose `Debug` prints `***`.
//!
//! **Pushing or pulling with an a1user token** — keep one [`TokenManager`] for the life of your
//! process and ask it for the token before each call. It logs in once, caches the token,
//! extends it before it runs out, creates a new one when the server will extend it no further,
//! and warns through `tracing` when the password nears its expiry date:
//!
//! ```no_run
//! use cdp_auth_client::{Client, Credentials, PullQuery, Record, TokenManager};
//!
//! # async fn demo() -> Result<(), cdp_auth_client::Error> {
//! let client = Client::new("https://auth.cdp.example.com")?
//!     .with_api_url("https://api.cdp.example.com")?;
//! let tracker = TokenManager::new(
//!     client.clone(),
//!     Credentials::new("tracker_k2j9x0", std::env::var("TRACKER_PASSWORD").unwrap()),
//! );
//!
//! let token = tracker.current().await?;
//! let records = [Record::new("C-1001")
//!     .email("ann.lee@example.com")
//!     .name("Ann", "Lee")
//!     .event("productBrowsed", Some("SKU-42"), "2026-11-20T10:00:00Z")];
//! let accepted = client
//!     .push(&token.access_token, &token.tenant_id, &records, Some("orders-2026-11-23-001"))
//!     .await?;
//! println!("{} records accepted", accepted.accepted);
//! # Ok(()) }
//! ```
//!
//! A 360 Profiles instance pulls the same way, with [`Client::customers`] (one page) or
//! [`Client::all_customers`] (following `_links.next`); resume a delta pull with
//! [`PullQuery::updated_since`] set to the last customer's `updated_at`.
//!
//! **secureApi** — a [`GrantManager`] holds a token scoped to a tenant, an api and a resource
//! set, creates the next one before its validity runs out, and updates its resources:
//! `GrantManager::new(client, TenantCredentials::new(hash, secret), "profile", vec!["basic".into()])`.
//!
//! **Single requests** — [`Client`] has one method per request: [`login`](Client::login),
//! [`retrieve`](Client::retrieve), [`extend`](Client::extend), [`create`](Client::create),
//! [`revoke`](Client::revoke), [`revoke_all`](Client::revoke_all);
//! [`secure_create`](Client::secure_create), [`secure_update`](Client::secure_update);
//! [`oauth_token`](Client::oauth_token), [`introspect`](Client::introspect),
//! [`oauth_revoke`](Client::oauth_revoke), [`metadata`](Client::metadata);
//! [`push`](Client::push), [`customers`](Client::customers).
//!
//! **Errors** — a call fails with [`Error::Api`] when the server answered with an error: match
//! on [`ApiError::code`] ([`ErrorCode::InvalidClient`], [`ErrorCode::TooManyAttempts`] with
//! [`ApiError::retry_after`], …) and show [`ApiError::description`] to people. It fails with
//! [`Error::Transport`] when no answer came; that one is worth retrying.
//!
//! The `cdp-auth` binary puts CLI words on this crate: `cdp-auth token login|retrieve|…` and
//! `cdp-auth secure-token create|update`.

mod cdp;
mod client;
mod error;
mod grant;
mod manager;
mod secret;
mod types;

pub use cdp::{Accepted, Customer, CustomerPage, PullQuery, Record};
pub use client::{Client, install_tls_provider};
pub use error::{ApiError, Error, ErrorCode};
pub use grant::{GrantManager, GrantOptions};
pub use manager::{ManagedToken, TokenManager, TokenManagerOptions};
pub use secret::{Credentials, Secret, TenantCredentials};
pub use types::{
    ClientAuth, Introspection, OAuthToken, Revoked, SecureToken, SecureTokenUpdate, ServerMetadata,
    TokenResponse,
};
