//! Opening a deployment: the store, the server key checked against it, and the domain
//! services built on both. `serve` and every CLI command start here.

use std::sync::Arc;

use thiserror::Error;

use crate::config::Config;
use crate::domain::a1user::A1User;
use crate::domain::admin::Admin;
use crate::domain::authn::{Authenticator, SlowHasher};
use crate::domain::oauth::OAuth;
use crate::domain::policy::Policy;
use crate::domain::secrets::ServerKeys;
use crate::domain::secure_api::{SecureApi, SecureApiPolicy};
use crate::domain::throttle::Throttle;
use crate::keyfile::{self, KeyError};
use crate::store::{self, DynStore, StoreError};

/// Why a deployment could not be opened.
#[derive(Debug, Error)]
pub enum OpenError {
    /// The database.
    #[error("database: {0}")]
    Store(#[from] StoreError),
    /// The server key.
    #[error("server key: {0}")]
    Key(#[from] KeyError),
}

/// The domain services of one deployment, cheap to clone.
#[derive(Clone)]
pub struct Services {
    /// The a1user token authority.
    pub a1user: A1User,
    /// The secureApi token authority.
    pub secure_api: SecureApi,
    /// The OAuth 2.0 endpoints.
    pub oauth: OAuth,
    /// Tenant and instance administration.
    pub admin: Admin,
    /// The store, for health checks.
    pub store: DynStore,
}

impl Services {
    /// Opens the database (applying migrations), loads or creates the server key, and checks
    /// that the key is the one the database was set up with.
    pub async fn open(config: &Config) -> Result<Self, OpenError> {
        let store = store::open(&config.database, &config.store).await?;
        let recorded = store.server_key_fingerprint().await?;
        let master = keyfile::load_or_create(&config.server_key, recorded.is_some())?;
        let keys = ServerKeys::from_master(&master);
        match recorded {
            Some(fingerprint) if fingerprint != keys.fingerprint() => {
                return Err(KeyError::Mismatch.into());
            }
            Some(_) => {}
            None => {
                store
                    .set_server_key_fingerprint(&keys.fingerprint())
                    .await?;
                // Another process may have recorded its key first; make sure it is ours.
                if store.server_key_fingerprint().await?.as_deref() != Some(&keys.fingerprint()) {
                    return Err(KeyError::Mismatch.into());
                }
            }
        }
        Ok(Self::from_parts(
            store,
            keys,
            config.policy.clone(),
            config.secure_api.clone(),
        ))
    }

    /// Builds the services from their parts.
    pub fn from_parts(
        store: DynStore,
        keys: ServerKeys,
        policy: Policy,
        secure_api: SecureApiPolicy,
    ) -> Self {
        let keys = Arc::new(keys);
        let policy = Arc::new(policy);
        let hasher = SlowHasher::for_this_machine();
        let throttle = Throttle::new(policy.max_failed_attempts, policy.failed_attempts_window);
        let authn = Authenticator::new(store.clone(), keys.clone(), hasher, throttle);
        Services {
            a1user: A1User::new(store.clone(), authn.clone(), policy.clone()),
            secure_api: SecureApi::new(store.clone(), authn.clone(), Arc::new(secure_api)),
            oauth: OAuth::new(store.clone(), authn, policy.clone()),
            admin: Admin::new(store.clone(), keys, policy),
            store,
        }
    }
}
