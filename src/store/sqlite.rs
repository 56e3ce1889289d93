//! The embedded default: one SQLite file in WAL mode.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Row, Sqlite, query};

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

static MIGRATOR: Migrator = sqlx::migrate!("migrations/sqlite");

/// Turns on SQLite's query planner stability guarantee (`SQLITE_DBCONFIG_ENABLE_QPSG`) for a
/// connection. Without it, a statement whose plan looked at a bound value (since SQLite 3.4x
/// every `LIMIT ?`) is compiled again each time it runs with new bindings, although sqlx
/// keeps it prepared: a360 reads spent a fifth of their time in SQLite's parser. One plan per
/// statement is also what a server wants: no plan changes because of one odd value.
async fn stable_query_plans(conn: &mut SqliteConnection) -> Result<(), sqlx::Error> {
    use std::ffi::c_int;
    let mut handle = conn.lock_handle().await?;
    let db = handle.as_raw_handle().as_ptr();
    // SAFETY: `db` is this connection's open handle, locked for us while `handle` lives; this
    // verb takes an int (1: on) and an int pointer for the new setting, which may be null.
    let rc = unsafe {
        libsqlite3_sys::sqlite3_db_config(
            db,
            libsqlite3_sys::SQLITE_DBCONFIG_ENABLE_QPSG,
            1 as c_int,
            std::ptr::null_mut::<c_int>(),
        )
    };
    if rc == libsqlite3_sys::SQLITE_OK {
        Ok(())
    } else {
        Err(sqlx::Error::Configuration(
            format!("SQLite refused the query planner stability guarantee (code {rc})").into(),
        ))
    }
}

/// Whether a connection coming back to the pool may be used again: only if no transaction is
/// left open on it. A dropped transaction queues its `ROLLBACK`; the ping waits for it. When
/// SQLite has already rolled back by itself (it does after `SQLITE_FULL` or an I/O error), that
/// `ROLLBACK` fails, sqlx still counts the transaction as open, and every later `BEGIN` on
/// the connection would be refused ("non-zero transaction depth"): such a connection is
/// closed instead, and the pool opens a fresh one.
async fn outside_transaction(conn: &mut SqliteConnection) -> Result<bool, sqlx::Error> {
    use sqlx::Connection;
    if !conn.is_in_transaction() {
        return Ok(true);
    }
    conn.ping().await?;
    if conn.is_in_transaction() {
        tracing::warn!("closing a database connection left inside a failed transaction");
        return Ok(false);
    }
    Ok(true)
}

/// SQLite through sqlx: a small pool of connections to one database file for reads, and one
/// connection for writes.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: GuardedPool<Sqlite>,
    /// SQLite lets one connection write at a time; others that try wait in its busy handler,
    /// which sleeps in steps of milliseconds. Queueing every write of this process for one
    /// connection instead (sqlx's pool queue is first come, first served) costs no sleeps and
    /// no `database is locked`; only other processes (the CLI) still meet the busy handler.
    writer: GuardedPool<Sqlite>,
}

impl SqliteStore {
    /// The reading pool and the one writer connection.
    fn pools(&self) -> Vec<super::PoolUsage> {
        vec![self.pool.usage("read"), self.writer.usage("write")]
    }

    /// Opens (creating if missing) the database, switches it to WAL, and applies migrations.
    ///
    /// `synchronous = NORMAL` in WAL mode keeps every committed transaction across a crash of
    /// the process (`kill -9`), which is the guarantee a client's 2xx relies on; only a power
    /// loss can drop the last commits.
    pub async fn open(url: &str, options: &StoreOptions) -> Result<Self, StoreError> {
        if let Some(path) = crate::config::sqlite_file(url) {
            create_private(&path)?;
        }
        let connect = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
            // Erased customer data (GDPR forget) is overwritten in the file, not left in
            // free pages.
            .pragma("secure_delete", "on")
            // Customer data outgrows SQLite's 2 MiB default page cache quickly; reads through
            // a memory map and a 32 MiB cache per connection keep pushes and pulls off the read()
            // path. The map is 64 MiB: its pages count in the server's resident memory (a
            // 256 MiB map took the peak to 139 MB on a database of a million tokens), and past
            // it SQLite reads the file as usual.
            .pragma("cache_size", "-32768")
            .pragma("mmap_size", "67108864");
        let pool = SqlitePoolOptions::new()
            .max_connections(options.max_connections.unwrap_or(8))
            .min_connections(1)
            .after_connect(|conn, _| Box::pin(stable_query_plans(conn)))
            .connect_with(connect.clone())
            .await?;
        MIGRATOR.run(&pool).await?;
        fill_name_keys(&pool).await?;
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .after_connect(|conn, _| Box::pin(stable_query_plans(conn)))
            .after_release(|conn, _| Box::pin(outside_transaction(conn)))
            .connect_with(connect)
            .await?;
        let breaker = std::sync::Arc::new(Breaker::default());
        Ok(SqliteStore {
            pool: GuardedPool::new(pool, breaker.clone()),
            writer: GuardedPool::new(writer, breaker),
        })
    }

    /// SQLite has one writer at a time; `BEGIN IMMEDIATE` takes the write lock up front (waiting
    /// out `busy_timeout`), so a count-then-insert cannot race another writer.
    async fn begin_exclusive(&self, key: LockKey) -> Result<super::Tx<Sqlite>, StoreError> {
        self.begin_locked(&[key]).await
    }

    /// The same for several keys: SQLite's write lock covers them all.
    async fn begin_locked(&self, _keys: &[LockKey]) -> Result<super::Tx<Sqlite>, StoreError> {
        Ok(self.writer.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// A small real write through the writer (a new value in the one-row `write_probe`: SQLite
    /// writes nothing for an update that changes nothing): readiness fails while writes do (a
    /// full disk, an I/O error), and its success once space is freed makes the server ready
    /// again even when no client has written since.
    async fn probe_write(&self) -> Result<(), StoreError> {
        let stamp = time::OffsetDateTime::now_utc().unix_timestamp_nanos() as i64;
        query("UPDATE write_probe SET probed_at = $1 WHERE id = 1")
            .bind(stamp)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// After an erasure, moves the write-ahead log into the database and empties it, so
    /// the erased rows' old page images do not linger in the log file. Retried for up to a
    /// second while readers hold the log; after that, the next checkpoint empties it.
    async fn after_erase(&self) -> Result<(), StoreError> {
        // A reader in the middle of a read keeps the log busy; give it a moment to finish.
        for _ in 0..40 {
            let busy: i64 = query("PRAGMA wal_checkpoint(TRUNCATE)")
                .fetch_one(&self.writer)
                .await?
                .try_get(0)?;
            if busy == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        Ok(())
    }

    /// AUTOINCREMENT follows explicitly inserted ids by itself.
    async fn after_import(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

impl_sql_store!(SqliteStore, Sqlite, SqliteRow, MIGRATOR);
impl_admin_sql_store!(SqliteStore, Sqlite, SqliteRow);
impl_cdp_sql_store!(
    SqliteStore,
    Sqlite,
    SqliteRow,
    customer_data_columns!("json_group_array", "json_array", "'[]'")
);
impl_cdp_copy!(SqliteStore, Sqlite, SqliteRow);

/// Creates a missing database file readable by its owner only (0600), whatever the umask: it
/// holds customer data. SQLite gives the `-wal` and `-shm` files it makes beside it the same
/// mode as the database file, so they are private too. An existing file is left as it is.
fn create_private(path: &std::path::Path) -> Result<(), StoreError> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StoreError::Database(sqlx::Error::Io(e))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::sqlite::SqlitePool;

    /// Reads a connection's query planner stability setting.
    async fn qpsg(pool: &SqlitePool) -> std::ffi::c_int {
        let mut conn = pool.acquire().await.expect("a connection");
        let mut handle = conn.lock_handle().await.expect("the handle");
        let mut setting: std::ffi::c_int = -1;
        // SAFETY: as in `stable_query_plans`; -1 asks for the setting without changing it.
        let rc = unsafe {
            libsqlite3_sys::sqlite3_db_config(
                handle.as_raw_handle().as_ptr(),
                libsqlite3_sys::SQLITE_DBCONFIG_ENABLE_QPSG,
                -1 as std::ffi::c_int,
                &mut setting as *mut std::ffi::c_int,
            )
        };
        assert_eq!(rc, libsqlite3_sys::SQLITE_OK);
        setting
    }

    #[tokio::test]
    async fn every_connection_keeps_one_plan_per_statement() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let url = format!("sqlite://{}", dir.path().join("plans.db").display());
        let store = SqliteStore::open(&url, &StoreOptions::default())
            .await
            .expect("the store opens");
        assert_eq!(qpsg(store.pool.pool()).await, 1, "a reader connection");
        assert_eq!(qpsg(store.writer.pool()).await, 1, "the writer connection");
    }

    #[tokio::test]
    async fn a_one_time_id_is_fresh_once_within_a_batch_and_across_batches_until_it_expires() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let url = format!("sqlite://{}", dir.path().join("jtis.db").display());
        let store = SqliteStore::open(&url, &StoreOptions::default())
            .await
            .expect("the store opens");
        let seen = |key: u8, expires_at| SeenJti {
            key: vec![key; 32],
            expires_at,
        };
        let batch = [seen(1, 200), seen(2, 200), seen(1, 200)];
        assert_eq!(
            store.first_uses(&batch, 100).await.unwrap(),
            [true, true, false]
        );
        assert_eq!(
            store
                .first_uses(&[seen(2, 300), seen(3, 300)], 150)
                .await
                .unwrap(),
            [false, true]
        );
        // Once expired, the same identifier is new again (its proof is refused for its age).
        assert_eq!(
            store.first_uses(&[seen(1, 400)], 250).await.unwrap(),
            [true]
        );
        assert_eq!(store.prune_seen_jtis(350).await.unwrap(), 2);
        assert_eq!(
            store.first_uses(&[seen(1, 500)], 360).await.unwrap(),
            [false]
        );
    }
}
