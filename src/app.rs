//! Opening a deployment: the store, the server key checked against it, and the domain
//! services built on both. `serve` and every CLI command start here.

use std::sync::Arc;

use thiserror::Error;

use crate::config::Config;
use crate::domain::a1user::A1User;
use crate::domain::admin::Admin;
use crate::domain::policy::Policy;
use crate::domain::secrets::ServerKeys;
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
    /// Tenant and instance administration.
    pub admin: Admin,
    /// The store, for health checks.
    pub store: DynStore,
}

impl Services {
    /// Opens the database (applying migrations), loads or creates the server key, and checks
    /// that the key is the one the database was set up with.
    pub async fn open(config: &Config) -> Result<Self, OpenError> {
        let store = store::open(&config.database).await?;
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
        Ok(Self::from_parts(store, keys, config.policy.clone()))
    }

    /// Builds the services from their parts.
    pub fn from_parts(store: DynStore, keys: ServerKeys, policy: Policy) -> Self {
        let keys = Arc::new(keys);
        let policy = Arc::new(policy);
        Services {
            a1user: A1User::new(store.clone(), keys.clone(), policy.clone()),
            admin: Admin::new(store.clone(), keys, policy),
            store,
        }
    }
}
