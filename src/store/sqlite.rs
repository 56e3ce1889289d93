//! The embedded default: one SQLite file in WAL mode. Every limit check is a single
//! `INSERT … SELECT … WHERE` statement, so SQLite's one-writer rule makes it atomic without
//! read-then-write transactions (which could fail with `SQLITE_BUSY` on upgrade).

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Row, query};

use super::{BearerContext, NewInstance, NewTenant, Store, StoreError};
use crate::domain::clock::UnixTime;
use crate::domain::model::{
    Instance, InstanceCredentials, InstanceId, NewToken, StoredToken, Tenant, TenantCredentials,
    TenantId, TokenId,
};

/// Columns of an instance row, aliased so joins can read them unambiguously.
macro_rules! instance_columns {
    () => {
        "i.id AS i_id, i.tenant_id AS i_tenant_id, i.name AS i_name, i.type AS i_type, \
         i.username AS i_username, i.password_expires_at AS i_password_expires_at, \
         i.disabled_at AS i_disabled_at, i.created_at AS i_created_at"
    };
}

/// Columns of a tenant row.
macro_rules! tenant_columns {
    () => {
        "t.id AS t_id, t.name AS t_name, t.environment AS t_environment, \
         t.tenant_hash AS t_tenant_hash, t.oauth_enabled AS t_oauth_enabled, \
         t.created_at AS t_created_at"
    };
}

/// Columns of a token row.
macro_rules! token_columns {
    () => {
        "k.id AS k_id, k.kind AS k_kind, k.tenant_id AS k_tenant_id, \
         k.instance_id AS k_instance_id, k.sealed AS k_sealed, k.token_hash AS k_token_hash, \
         k.api AS k_api, k.scope AS k_scope, k.issued_at AS k_issued_at, \
         k.expires_at AS k_expires_at"
    };
}

/// A token is active while it is neither revoked nor expired.
macro_rules! active {
    ($alias:literal) => {
        concat!(
            $alias,
            ".revoked_at IS NULL AND ",
            $alias,
            ".expires_at > ?"
        )
    };
}

/// SQLite through sqlx: a small pool of connections to one database file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if missing) the database, switches it to WAL, and applies migrations.
    ///
    /// `synchronous = NORMAL` in WAL mode keeps every committed transaction across a crash of
    /// the process (`kill -9`), which is the guarantee a client's 2xx relies on; only a power
    /// loss can drop the last commits.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .min_connections(1)
            .connect_with(options)
            .await?;
        sqlx::migrate!("migrations/sqlite").run(&pool).await?;
        Ok(SqliteStore { pool })
    }
}

fn unique_violation(error: sqlx::Error, what: &'static str) -> StoreError {
    match &error {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(what),
        _ => StoreError::Database(error),
    }
}

fn tenant_from(row: &SqliteRow) -> Result<Tenant, StoreError> {
    let environment: String = row.try_get("t_environment")?;
    Ok(Tenant {
        id: row.try_get("t_id")?,
        name: row.try_get("t_name")?,
        environment: environment.parse().map_err(StoreError::Corrupt)?,
        tenant_hash: row.try_get("t_tenant_hash")?,
        oauth_enabled: row.try_get("t_oauth_enabled")?,
        created_at: row.try_get("t_created_at")?,
    })
}

fn instance_from(row: &SqliteRow) -> Result<Instance, StoreError> {
    let instance_type: String = row.try_get("i_type")?;
    Ok(Instance {
        id: row.try_get("i_id")?,
        tenant_id: row.try_get("i_tenant_id")?,
        name: row.try_get("i_name")?,
        instance_type: instance_type.parse().map_err(StoreError::Corrupt)?,
        username: row.try_get("i_username")?,
        password_expires_at: row.try_get("i_password_expires_at")?,
        disabled_at: row.try_get("i_disabled_at")?,
        created_at: row.try_get("i_created_at")?,
    })
}

fn token_from(row: &SqliteRow) -> Result<StoredToken, StoreError> {
    let kind: String = row.try_get("k_kind")?;
    Ok(StoredToken {
        id: row.try_get("k_id")?,
        kind: kind.parse().map_err(StoreError::Corrupt)?,
        tenant_id: row.try_get("k_tenant_id")?,
        instance_id: row.try_get("k_instance_id")?,
        sealed: row.try_get("k_sealed")?,
        token_hash: row.try_get("k_token_hash")?,
        api: row.try_get("k_api")?,
        scope: row.try_get("k_scope")?,
        issued_at: row.try_get("k_issued_at")?,
        expires_at: row.try_get("k_expires_at")?,
    })
}

#[async_trait]
impl Store for SqliteStore {
    async fn server_key_fingerprint(&self) -> Result<Option<String>, StoreError> {
        let row = query("SELECT value FROM settings WHERE name = 'server_key_fingerprint'")
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get("value")).transpose()?)
    }

    async fn set_server_key_fingerprint(&self, fingerprint: &str) -> Result<(), StoreError> {
        query("INSERT OR IGNORE INTO settings (name, value) VALUES ('server_key_fingerprint', ?)")
            .bind(fingerprint)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn create_tenant(&self, tenant: NewTenant) -> Result<Tenant, StoreError> {
        let row = query(
            "INSERT INTO tenants (name, environment, tenant_hash, oauth_enabled, \
             oauth_secret_hash, created_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(&tenant.name)
        .bind(tenant.environment.as_str())
        .bind(&tenant.tenant_hash)
        .bind(tenant.oauth_enabled)
        .bind(&tenant.oauth_secret_hash)
        .bind(tenant.created_at)
        .fetch_one(&self.pool)
        .await
        .map_err(|e| unique_violation(e, "tenant name"))?;
        Ok(Tenant {
            id: row.try_get("id")?,
            name: tenant.name,
            environment: tenant.environment,
            tenant_hash: tenant.tenant_hash,
            oauth_enabled: tenant.oauth_enabled,
            created_at: tenant.created_at,
        })
    }

    async fn tenant_by_id(&self, id: TenantId) -> Result<Option<Tenant>, StoreError> {
        query(concat!(
            "SELECT ",
            tenant_columns!(),
            " FROM tenants t WHERE t.id = ?"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(tenant_from)
        .transpose()
    }

    async fn tenant_by_name(&self, name: &str) -> Result<Option<Tenant>, StoreError> {
        query(concat!(
            "SELECT ",
            tenant_columns!(),
            " FROM tenants t WHERE t.name = ?"
        ))
        .bind(name)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(tenant_from)
        .transpose()
    }

    async fn tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        query(concat!(
            "SELECT ",
            tenant_columns!(),
            " FROM tenants t ORDER BY t.id"
        ))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(tenant_from)
        .collect()
    }

    async fn tenant_credentials(
        &self,
        tenant_hash: &str,
    ) -> Result<Option<TenantCredentials>, StoreError> {
        let row = query(concat!(
            "SELECT ",
            tenant_columns!(),
            ", t.oauth_secret_hash AS t_oauth_secret_hash FROM tenants t WHERE t.tenant_hash = ?"
        ))
        .bind(tenant_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(TenantCredentials {
                tenant: tenant_from(&row)?,
                oauth_secret_hash: row.try_get("t_oauth_secret_hash")?,
            })
        })
        .transpose()
    }

    async fn set_tenant_oauth(
        &self,
        id: TenantId,
        enabled: bool,
        secret_hash: Option<&str>,
    ) -> Result<bool, StoreError> {
        let done = query(
            "UPDATE tenants SET oauth_enabled = ?, \
             oauth_secret_hash = COALESCE(?, oauth_secret_hash) WHERE id = ?",
        )
        .bind(enabled)
        .bind(secret_hash)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn tenant_has_secret(&self, id: TenantId) -> Result<bool, StoreError> {
        let row = query("SELECT oauth_secret_hash IS NOT NULL AS has FROM tenants WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(row) => row.try_get("has")?,
            None => false,
        })
    }

    async fn create_instance(
        &self,
        instance: NewInstance,
        max_per_type: u32,
    ) -> Result<Instance, StoreError> {
        let row = query(
            "INSERT INTO instances (tenant_id, name, type, username, password_hash, \
             password_expires_at, created_at) \
             SELECT ?, ?, ?, ?, ?, ?, ? \
             WHERE (SELECT COUNT(*) FROM instances WHERE tenant_id = ? AND type = ?) < ? \
             RETURNING id",
        )
        .bind(instance.tenant_id)
        .bind(&instance.name)
        .bind(instance.instance_type.as_str())
        .bind(&instance.username)
        .bind(&instance.password_hash)
        .bind(instance.password_expires_at)
        .bind(instance.created_at)
        .bind(instance.tenant_id)
        .bind(instance.instance_type.as_str())
        .bind(i64::from(max_per_type))
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| unique_violation(e, "username"))?
        .ok_or(StoreError::LimitReached)?;
        Ok(Instance {
            id: row.try_get("id")?,
            tenant_id: instance.tenant_id,
            name: instance.name,
            instance_type: instance.instance_type,
            username: instance.username,
            password_expires_at: instance.password_expires_at,
            disabled_at: None,
            created_at: instance.created_at,
        })
    }

    async fn instance_by_id(&self, id: InstanceId) -> Result<Option<Instance>, StoreError> {
        query(concat!(
            "SELECT ",
            instance_columns!(),
            " FROM instances i WHERE i.id = ?"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(instance_from)
        .transpose()
    }

    async fn instance_by_username(&self, username: &str) -> Result<Option<Instance>, StoreError> {
        query(concat!(
            "SELECT ",
            instance_columns!(),
            " FROM instances i WHERE i.username = ?"
        ))
        .bind(username)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(instance_from)
        .transpose()
    }

    async fn instances(&self, tenant: Option<TenantId>) -> Result<Vec<Instance>, StoreError> {
        query(concat!(
            "SELECT ",
            instance_columns!(),
            " FROM instances i WHERE ? IS NULL OR i.tenant_id = ? ORDER BY i.id"
        ))
        .bind(tenant)
        .bind(tenant)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(instance_from)
        .collect()
    }

    async fn credentials_by_username(
        &self,
        username: &str,
    ) -> Result<Option<InstanceCredentials>, StoreError> {
        let row = query(concat!(
            "SELECT ",
            instance_columns!(),
            ", ",
            tenant_columns!(),
            ", i.password_hash AS i_password_hash \
             FROM instances i JOIN tenants t ON t.id = i.tenant_id WHERE i.username = ?"
        ))
        .bind(username)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(InstanceCredentials {
                instance: instance_from(&row)?,
                tenant: tenant_from(&row)?,
                password_hash: row.try_get("i_password_hash")?,
            })
        })
        .transpose()
    }

    async fn set_instance_disabled(
        &self,
        id: InstanceId,
        disabled_at: Option<UnixTime>,
    ) -> Result<bool, StoreError> {
        let done = query("UPDATE instances SET disabled_at = ? WHERE id = ?")
            .bind(disabled_at)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn set_instance_password(
        &self,
        id: InstanceId,
        password_hash: &[u8],
        expires_at: UnixTime,
    ) -> Result<bool, StoreError> {
        let done =
            query("UPDATE instances SET password_hash = ?, password_expires_at = ? WHERE id = ?")
                .bind(password_hash)
                .bind(expires_at)
                .bind(id)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn insert_token(&self, token: &NewToken) -> Result<(), StoreError> {
        query(
            "INSERT INTO tokens (token_hash, kind, tenant_id, instance_id, sealed, api, scope, \
             issued_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&token.token_hash)
        .bind(token.kind.as_str())
        .bind(token.tenant_id)
        .bind(token.instance_id)
        .bind(&token.sealed)
        .bind(&token.api)
        .bind(&token.scope)
        .bind(token.issued_at)
        .bind(token.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn set_token_scope(
        &self,
        id: TokenId,
        scope: &str,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let done = query(concat!(
            "UPDATE tokens SET scope = ? WHERE id = ? AND ",
            active!("tokens")
        ))
        .bind(scope)
        .bind(id)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn newest_active_token(
        &self,
        instance: InstanceId,
        now: UnixTime,
    ) -> Result<Option<StoredToken>, StoreError> {
        query(concat!(
            "SELECT ",
            token_columns!(),
            " FROM tokens k WHERE k.instance_id = ? AND k.kind = 'a1user' AND ",
            active!("k"),
            " ORDER BY k.issued_at DESC, k.id DESC LIMIT 1"
        ))
        .bind(instance)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(token_from)
        .transpose()
    }

    async fn insert_token_if_none_active(
        &self,
        token: &NewToken,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let done = query(concat!(
            "INSERT INTO tokens (token_hash, kind, tenant_id, instance_id, sealed, issued_at, \
             expires_at) SELECT ?, 'a1user', ?, ?, ?, ?, ? \
             WHERE NOT EXISTS (SELECT 1 FROM tokens k WHERE k.instance_id = ? \
             AND k.kind = 'a1user' AND ",
            active!("k"),
            ")"
        ))
        .bind(&token.token_hash)
        .bind(token.tenant_id)
        .bind(token.instance_id)
        .bind(&token.sealed)
        .bind(token.issued_at)
        .bind(token.expires_at)
        .bind(token.instance_id)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn insert_token_within_limit(
        &self,
        token: &NewToken,
        now: UnixTime,
        max: u32,
    ) -> Result<bool, StoreError> {
        let done = query(concat!(
            "INSERT INTO tokens (token_hash, kind, tenant_id, instance_id, sealed, issued_at, \
             expires_at) SELECT ?, 'a1user', ?, ?, ?, ?, ? \
             WHERE (SELECT COUNT(*) FROM tokens k WHERE k.instance_id = ? \
             AND k.kind = 'a1user' AND ",
            active!("k"),
            ") < ?"
        ))
        .bind(&token.token_hash)
        .bind(token.tenant_id)
        .bind(token.instance_id)
        .bind(&token.sealed)
        .bind(token.issued_at)
        .bind(token.expires_at)
        .bind(token.instance_id)
        .bind(now)
        .bind(i64::from(max))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn active_token_by_hash(
        &self,
        token_hash: &[u8],
        now: UnixTime,
    ) -> Result<Option<BearerContext>, StoreError> {
        let row = query(concat!(
            "SELECT ",
            token_columns!(),
            ", ",
            instance_columns!(),
            ", ",
            tenant_columns!(),
            " FROM tokens k JOIN tenants t ON t.id = k.tenant_id \
             LEFT JOIN instances i ON i.id = k.instance_id WHERE k.token_hash = ? AND ",
            active!("k")
        ))
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            let token = token_from(&row)?;
            let instance = match token.instance_id {
                Some(_) => Some(instance_from(&row)?),
                None => None,
            };
            Ok(BearerContext {
                token,
                instance,
                tenant: tenant_from(&row)?,
            })
        })
        .transpose()
    }

    async fn extend_token(
        &self,
        id: TokenId,
        expires_at: UnixTime,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let done = query(concat!(
            "UPDATE tokens SET expires_at = ? WHERE id = ? AND ",
            active!("tokens")
        ))
        .bind(expires_at)
        .bind(id)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn revoke_token(&self, id: TokenId, now: UnixTime) -> Result<u64, StoreError> {
        let done = query(concat!(
            "UPDATE tokens SET revoked_at = ? WHERE id = ? AND ",
            active!("tokens")
        ))
        .bind(now)
        .bind(id)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    async fn revoke_instance_tokens(
        &self,
        instance: InstanceId,
        now: UnixTime,
    ) -> Result<u64, StoreError> {
        let done = query(concat!(
            "UPDATE tokens SET revoked_at = ? WHERE instance_id = ? AND ",
            active!("tokens")
        ))
        .bind(now)
        .bind(instance)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    async fn count_active_tokens(
        &self,
        instance: InstanceId,
        now: UnixTime,
    ) -> Result<u64, StoreError> {
        let count: i64 = query(concat!(
            "SELECT COUNT(*) AS n FROM tokens k WHERE k.instance_id = ? AND ",
            active!("k")
        ))
        .bind(instance)
        .bind(now)
        .fetch_one(&self.pool)
        .await?
        .try_get("n")?;
        Ok(u64::try_from(count).unwrap_or(0))
    }
}
