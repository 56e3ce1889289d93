//! PostgreSQL, for deployments that outgrow one machine: any number of `serve` processes may
//! share one database. Limits are kept by transaction-scoped advisory locks, so two replicas
//! racing to mint a token count each other's rows.

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{Postgres, Row, query};

use super::breaker::{Breaker, GuardedPool};
use super::{
    AdminCredentialRecord, AdminRecord, AdminSnapshot, AdminStore, BearerContext, InstanceRecord,
    LockKey, NewInstance, NewTenant, SeenJti, Snapshot, Store, StoreError, StoreOptions,
    TenantRecord, TokenIssue, TokenRecord,
};
use crate::domain::clock::UnixTime;
use crate::domain::keyring::KeyRecord;
use crate::domain::model::{
    AdminAccount, AdminChange, AdminCredentialId, AdminCredentialKind, AdminCredentialMatch,
    AdminId, AdminTokenListing, AuditFilter, AuditRecord, Instance, InstanceCredentials,
    InstanceId, NewAuditEntry, NewToken, SigningKeyRecord, StoredToken, Tenant, TenantCredentials,
    TenantId, TokenFormat, TokenId, TokenListing,
};

static MIGRATOR: Migrator = sqlx::migrate!("migrations/postgres");

/// PostgreSQL through sqlx.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: GuardedPool<Postgres>,
    /// The pool writes go through: the same pool (PostgreSQL takes concurrent writers).
    writer: GuardedPool<Postgres>,
}

impl PostgresStore {
    /// The one pool reads and writes share.
    fn pools(&self) -> Vec<super::PoolUsage> {
        vec![self.pool.usage("main")]
    }

    /// Connects, waiting and retrying while the server is not reachable yet (a database that
    /// starts after us is normal in a deployment), then applies migrations. Concurrent
    /// replicas starting together are safe: sqlx serialises migrations with an advisory lock.
    pub async fn open(url: &str, options: &StoreOptions) -> Result<Self, StoreError> {
        let connect = PgConnectOptions::from_str(url)?;
        let deadline = Instant::now() + options.connect_timeout;
        let mut delay = Duration::from_millis(200);
        let pool = loop {
            // Each attempt gets at most two seconds, so the wait is logged as it goes.
            let remaining = deadline.saturating_duration_since(Instant::now());
            let attempt = PgPoolOptions::new()
                .max_connections(options.max_connections.unwrap_or(16))
                .acquire_timeout(
                    remaining.clamp(Duration::from_millis(200), Duration::from_secs(2)),
                )
                .connect_with(connect.clone())
                .await;
            match attempt {
                Ok(pool) => break pool,
                Err(error) if Instant::now() + delay < deadline && retryable(&error) => {
                    tracing::warn!(%error, retry_in_ms = delay.as_millis() as u64, "database not reachable yet");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
                Err(error) => return Err(error.into()),
            }
        };
        MIGRATOR.run(&pool).await?;
        fill_name_keys(&pool).await?;
        let pool = GuardedPool::new(pool, Arc::new(Breaker::default()));
        Ok(PostgresStore {
            writer: pool.clone(),
            pool,
        })
    }

    /// A transaction holding the advisory lock for `key` until it ends.
    async fn begin_exclusive(&self, key: LockKey) -> Result<super::Tx<Postgres>, StoreError> {
        self.begin_locked(&[key]).await
    }

    /// A transaction holding the advisory locks for `keys` (in the order given: callers sort
    /// them, so two transactions never wait on each other in a circle).
    async fn begin_locked(&self, keys: &[LockKey]) -> Result<super::Tx<Postgres>, StoreError> {
        let mut tx = self.pool.begin().await?;
        for key in keys {
            query("SELECT pg_advisory_xact_lock($1)")
                .bind(key.advisory_key())
                .execute(&mut *tx)
                .await?;
        }
        Ok(tx)
    }

    /// Readiness reads only: PostgreSQL is ready while it answers (a write here would leave a
    /// dead row behind at every check).
    async fn probe_write(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Deleted rows are gone from every dump at once; vacuum reclaims their space.
    async fn after_erase(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Moves each sequence past the ids a copy inserted explicitly.
    async fn after_import(&self) -> Result<(), StoreError> {
        for statement in [
            "SELECT setval(pg_get_serial_sequence('tenants', 'id'), COALESCE((SELECT MAX(id) FROM tenants), 0) + 1, false)",
            "SELECT setval(pg_get_serial_sequence('instances', 'id'), COALESCE((SELECT MAX(id) FROM instances), 0) + 1, false)",
            "SELECT setval(pg_get_serial_sequence('tokens', 'id'), COALESCE((SELECT MAX(id) FROM tokens), 0) + 1, false)",
            "SELECT setval(pg_get_serial_sequence('admins', 'id'), COALESCE((SELECT MAX(id) FROM admins), 0) + 1, false)",
            "SELECT setval(pg_get_serial_sequence('admin_credentials', 'id'), COALESCE((SELECT MAX(id) FROM admin_credentials), 0) + 1, false)",
            "SELECT setval(pg_get_serial_sequence('audit_log', 'id'), COALESCE((SELECT MAX(id) FROM audit_log), 0) + 1, false)",
            "SELECT setval(pg_get_serial_sequence('cdp_customers', 'id'), COALESCE((SELECT MAX(id) FROM cdp_customers), 0) + 1, false)",
            "SELECT setval(pg_get_serial_sequence('cdp_records', 'id'), COALESCE((SELECT MAX(id) FROM cdp_records), 0) + 1, false)",
            "SELECT setval(pg_get_serial_sequence('cdp_events', 'id'), COALESCE((SELECT MAX(id) FROM cdp_events), 0) + 1, false)",
            "SELECT setval(pg_get_serial_sequence('cdp_segments', 'id'), COALESCE((SELECT MAX(id) FROM cdp_segments), 0) + 1, false)",
            "SELECT setval(pg_get_serial_sequence('gdpr_requests', 'id'), COALESCE((SELECT MAX(id) FROM gdpr_requests), 0) + 1, false)",
        ] {
            query(statement).execute(&self.pool).await?;
        }
        Ok(())
    }
}

/// Connection refused, DNS not ready, the server still starting: worth waiting for. A wrong
/// password or a missing database is not.
fn retryable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut => true,
        sqlx::Error::Database(db) => db.code().as_deref() == Some("57P03"),
        _ => false,
    }
}

impl_sql_store!(PostgresStore, Postgres, PgRow, MIGRATOR);
impl_admin_sql_store!(PostgresStore, Postgres, PgRow);
impl_cdp_sql_store!(
    PostgresStore,
    Postgres,
    PgRow,
    customer_data_columns!("json_agg", "json_build_array", "'[]'::json")
);
impl_cdp_copy!(PostgresStore, Postgres, PgRow);
