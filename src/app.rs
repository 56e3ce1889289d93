//! Opening a deployment: the store, the server key checked against it, and the domain
//! services built on both. `serve` and every CLI command start here.

use std::sync::Arc;

use thiserror::Error;

use crate::config::{Config, KeySource};
use crate::domain::a1user::A1User;
use crate::domain::accounts::Accounts;
use crate::domain::admin::Admin;
use crate::domain::audit::AuditLog;
use crate::domain::authn::{Authenticator, SlowHasher};
use crate::domain::cdp::{Cdp, CdpSettings};
use crate::domain::forward_auth::Rules;
use crate::domain::jwt::{JwtAuthority, JwtIdentity, JwtSettings};
use crate::domain::keyring::KeyEncryptionKey;
use crate::domain::oauth::OAuth;
use crate::domain::policy::Policy;
use crate::domain::secrets::{SERVER_KEY_LEN, ServerKeys};
use crate::domain::secure_api::{SecureApi, SecureApiPolicy};
use crate::domain::throttle::Throttle;
use crate::domain::token_writer::TokenWriter;
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

/// Loads the server key (creating the key file for a new deployment) and returns it with the
/// data key it unseals. A new deployment gets a fresh data key; if another process set the
/// deployment up at the same moment, its record wins and must open with the same key.
pub async fn unlock(
    store: &DynStore,
    source: &KeySource,
) -> Result<(KeyEncryptionKey, [u8; SERVER_KEY_LEN]), OpenError> {
    let recorded = store.key_record().await?;
    let master = keyfile::load_or_create(source, recorded.is_some())?;
    let kek = KeyEncryptionKey::new(&master);
    let record = match recorded {
        Some(record) => record,
        None => {
            let fresh = kek
                .new_record()
                .map_err(|e| KeyError::Random(e.to_string()))?;
            store.init_key_record(&fresh).await?;
            store.key_record().await?.ok_or(KeyError::Mismatch)?
        }
    };
    let data_key = kek.data_key(&record).ok_or(KeyError::Mismatch)?;
    Ok((kek, data_key))
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
    /// Admin accounts, sessions and API tokens.
    pub accounts: Accounts,
    /// The customer data the tokens unlock.
    pub cdp: Cdp,
    /// Bearer checks, for the token layer in front of the CDP routes.
    pub authn: Authenticator,
    /// The forward-auth rules `/forward-auth` decides by, parsed once from the configuration.
    pub forward_auth: Arc<Rules>,
    /// The store, for health checks.
    pub store: DynStore,
}

impl Services {
    /// Opens the database (applying migrations), loads or creates the server key, and unseals
    /// the data key with it (refusing a server key the database was not set up with).
    pub async fn open(config: &Config) -> Result<Self, OpenError> {
        let store = store::open(&config.database, &config.store).await?;
        let (_, data_key) = unlock(&store, &config.server_key).await?;
        let identity = JwtIdentity {
            issuer: config.auth_host_url.clone(),
            audience: config
                .jwt
                .audience
                .clone()
                .unwrap_or_else(|| config.api_host_url.clone()),
            resource: config.api_host_url.clone(),
        };
        let services = Self::from_parts(
            store,
            ServerKeys::from_master(&data_key),
            config.policy.clone(),
            config.secure_api.clone(),
            config.cdp.clone(),
            (config.jwt.clone(), identity),
        );
        Ok(Services {
            forward_auth: Arc::new(config.forward_auth.clone()),
            ..services
        })
    }

    /// Builds the services from their parts, with no forward-auth rules (every request
    /// denied) until the caller sets them.
    pub fn from_parts(
        store: DynStore,
        keys: ServerKeys,
        policy: Policy,
        secure_api: SecureApiPolicy,
        cdp: CdpSettings,
        (jwt, identity): (JwtSettings, JwtIdentity),
    ) -> Self {
        let keys = Arc::new(keys);
        let jwt = JwtAuthority::new(store.clone(), keys.clone(), jwt, identity);
        let policy = Arc::new(policy);
        let hasher = SlowHasher::for_this_machine();
        let throttle = Throttle::new(policy.max_failed_attempts, policy.failed_attempts_window);
        let audit = AuditLog::new(store.clone());
        let authn = Authenticator::new(
            store.clone(),
            keys.clone(),
            hasher,
            throttle,
            audit.clone(),
            policy.failure_delay,
            jwt,
        );
        let tokens = authn.verified_cache().clone();
        let writer = TokenWriter::new(store.clone());
        Services {
            a1user: A1User::new(
                store.clone(),
                authn.clone(),
                policy.clone(),
                audit.clone(),
                writer.clone(),
            ),
            secure_api: SecureApi::new(
                store.clone(),
                authn.clone(),
                Arc::new(secure_api),
                audit.clone(),
                writer.clone(),
            ),
            oauth: OAuth::new(
                store.clone(),
                authn.clone(),
                policy.clone(),
                audit.clone(),
                writer,
            ),
            accounts: Accounts::new(
                store.clone(),
                keys.clone(),
                authn.clone(),
                policy.clone(),
                audit.clone(),
            ),
            cdp: Cdp::new(store.clone(), keys.clone(), audit.clone(), cdp),
            authn,
            forward_auth: Arc::new(Rules::default()),
            admin: Admin::new(store.clone(), keys, policy, audit, tokens),
            store,
        }
    }
}
