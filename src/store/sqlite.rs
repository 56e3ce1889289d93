//! The embedded default: one SQLite file in WAL mode.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Row, Sqlite, Transaction, query};

use super::{
    AdminCredentialRecord, AdminRecord, AdminSnapshot, AdminStore, BearerContext, InstanceRecord,
    LockKey, NewInstance, NewTenant, Snapshot, Store, StoreError, StoreOptions, TenantRecord,
    TokenIssue, TokenRecord,
};
use crate::domain::clock::UnixTime;
use crate::domain::keyring::KeyRecord;
use crate::domain::model::{
    AdminAccount, AdminCredentialKind, AdminId, AuditFilter, AuditRecord, Instance,
    InstanceCredentials, InstanceId, NewAuditEntry, NewToken, StoredToken, Tenant,
    TenantCredentials, TenantId, TokenId, TokenListing,
};

static MIGRATOR: Migrator = sqlx::migrate!("migrations/sqlite");

/// SQLite through sqlx: a small pool of connections to one database file for reads, and one
/// connection for writes.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// SQLite lets one connection write at a time; others that try wait in its busy handler,
    /// which sleeps in steps of milliseconds. Queueing every write of this process for one
    /// connection instead (sqlx's pool queue is first come, first served) costs no sleeps and
    /// no `database is locked`; only other processes (the CLI) still meet the busy handler.
    writer: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if missing) the database, switches it to WAL, and applies migrations.
    ///
    /// `synchronous = NORMAL` in WAL mode keeps every committed transaction across a crash of
    /// the process (`kill -9`), which is the guarantee a client's 2xx relies on; only a power
    /// loss can drop the last commits.
    pub async fn open(url: &str, options: &StoreOptions) -> Result<Self, StoreError> {
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
            .connect_with(connect.clone())
            .await?;
        MIGRATOR.run(&pool).await?;
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .connect_with(connect)
            .await?;
        Ok(SqliteStore { pool, writer })
    }

    /// SQLite has one writer at a time; `BEGIN IMMEDIATE` takes the write lock up front (waiting
    /// out `busy_timeout`), so a count-then-insert cannot race another writer.
    async fn begin_exclusive(
        &self,
        key: LockKey,
    ) -> Result<Transaction<'static, Sqlite>, StoreError> {
        self.begin_locked(&[key]).await
    }

    /// The same for several keys: SQLite's write lock covers them all.
    async fn begin_locked(
        &self,
        _keys: &[LockKey],
    ) -> Result<Transaction<'static, Sqlite>, StoreError> {
        Ok(self.writer.begin_with("BEGIN IMMEDIATE").await?)
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
impl_cdp_sql_store!(SqliteStore, Sqlite, SqliteRow);
impl_cdp_copy!(SqliteStore, Sqlite, SqliteRow);
