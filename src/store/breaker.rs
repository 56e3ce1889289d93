//! A circuit breaker in front of the database. After a failure that says the database is out
//! of reach (connection refused or reset, no connection within the pool's timeout), every
//! query answers "unavailable" at once, instead of each request waiting out the pool's
//! timeout while the database is known to be down. A background probe connects every
//! [`PROBE_INTERVAL`] and closes the breaker as soon as the database answers, so recovery
//! needs no restart.
//!
//! [`GuardedPool`] wraps a sqlx pool and is an [`Executor`] like the pool itself, so the
//! shared SQL runs on it unchanged. Being the one way to the database, it is also where each
//! database call gets its span: one per statement on the pool, one per transaction from
//! `BEGIN` to its end ([`Traced`]).

use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tracing::Instrument;

use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use futures_util::{FutureExt, StreamExt};
use sqlx::{
    Connection, Database, Describe, Either, Error, Execute, Executor, Pool, SqlSafeStr, SqlStr,
    Transaction,
};

/// How often a probe tries to reach a database marked down: about how long recovery takes
/// to be noticed once the database is back.
pub const PROBE_INTERVAL: Duration = Duration::from_millis(250);

/// How long one probe waits for a connection.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Whether the database is marked out of reach, and whether a probe is looking for it.
#[derive(Debug, Default)]
pub struct Breaker {
    down: AtomicBool,
    probing: AtomicBool,
}

impl Breaker {
    /// Whether the database is marked out of reach (until a probe reaches it).
    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::Acquire)
    }
}

/// A sqlx pool behind a [`Breaker`]: while the breaker is open, queries and transactions fail
/// at once with an unavailable error; a connection-level failure opens it.
#[derive(Debug)]
pub struct GuardedPool<DB: Database> {
    pool: Pool<DB>,
    breaker: Arc<Breaker>,
}

impl<DB: Database> Clone for GuardedPool<DB> {
    fn clone(&self) -> Self {
        GuardedPool {
            pool: self.pool.clone(),
            breaker: self.breaker.clone(),
        }
    }
}

impl<DB: Database> GuardedPool<DB> {
    /// Guards `pool` with `breaker` (pools of one database share one breaker).
    pub fn new(pool: Pool<DB>, breaker: Arc<Breaker>) -> Self {
        GuardedPool { pool, breaker }
    }

    /// The pool itself, for what must bypass the breaker (tests).
    #[cfg(test)]
    pub fn pool(&self) -> &Pool<DB> {
        &self.pool
    }

    /// The pool's connections now, under `name`.
    pub fn usage(&self, name: &'static str) -> super::PoolUsage {
        super::PoolUsage {
            name,
            open: self.pool.size(),
            idle: u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX),
            max: self.pool.options().get_max_connections(),
        }
    }

    /// The breaker this pool reports to.
    pub fn breaker(&self) -> &Breaker {
        &self.breaker
    }

    /// Refuses at once while the database is marked down.
    fn admit(&self) -> Result<(), Error> {
        if self.breaker.is_down() {
            Err(Error::Io(std::io::Error::new(
                std::io::ErrorKind::NotConnected,
                "the database is out of reach (retrying in the background)",
            )))
        } else {
            Ok(())
        }
    }

    /// Opens the breaker when `outcome` says the database is out of reach.
    fn observe<T>(&self, outcome: Result<T, Error>) -> Result<T, Error> {
        if let Err(error) = &outcome {
            self.note(error);
        }
        outcome
    }

    fn note(&self, error: &Error) {
        if connection_lost(error) {
            self.trip(error);
        }
    }

    /// Marks the database down and starts a probe unless one runs.
    fn trip(&self, error: &Error) {
        if !self.breaker.down.swap(true, Ordering::AcqRel) {
            tracing::warn!(%error, "database out of reach; failing fast until it answers again");
        }
        if !self.breaker.probing.swap(true, Ordering::AcqRel) {
            tokio::spawn(probe(self.pool.clone(), self.breaker.clone()));
        }
    }

    /// A transaction, unless the database is marked down.
    pub async fn begin(&self) -> Result<Traced<DB>, Error> {
        self.admit()?;
        let span = db_span::<DB>("transaction");
        let tx = self.observe(self.pool.begin().instrument(span.clone()).await)?;
        Ok(Traced { tx, _span: span })
    }

    /// A transaction opened with `statement` (`BEGIN IMMEDIATE`), unless the database is
    /// marked down.
    pub async fn begin_with(&self, statement: impl SqlSafeStr) -> Result<Traced<DB>, Error> {
        self.admit()?;
        let span = db_span::<DB>("transaction");
        let tx = self.observe(
            self.pool
                .begin_with(statement)
                .instrument(span.clone())
                .await,
        )?;
        Ok(Traced { tx, _span: span })
    }
}

/// A transaction and its span, which ends when the transaction does (committed, rolled back
/// or dropped). It derefs to the connection, as a sqlx transaction does, so statements run on
/// `&mut *tx` as before.
pub struct Traced<DB: Database> {
    tx: Transaction<'static, DB>,
    _span: tracing::Span,
}

impl<DB: Database> Traced<DB> {
    /// Commits the transaction.
    pub async fn commit(self) -> Result<(), Error> {
        self.tx.commit().await
    }

    /// Rolls the transaction back.
    pub async fn rollback(self) -> Result<(), Error> {
        self.tx.rollback().await
    }
}

impl<DB: Database> Deref for Traced<DB> {
    type Target = DB::Connection;

    fn deref(&self) -> &DB::Connection {
        &self.tx
    }
}

impl<DB: Database> DerefMut for Traced<DB> {
    fn deref_mut(&mut self) -> &mut DB::Connection {
        &mut self.tx
    }
}

/// The span of one database call: `debug`, so the process log leaves it out unless asked,
/// while the trace exporter takes it. It names the operation and the database system, never a
/// bound value (the statements themselves are logged by sqlx at `debug` inside the span).
fn db_span<DB: Database>(operation: &'static str) -> tracing::Span {
    let system = match DB::NAME {
        "PostgreSQL" => "postgresql",
        "SQLite" => "sqlite",
        other => other,
    };
    tracing::debug_span!(
        target: crate::telemetry::DB_TARGET,
        "db",
        otel.name = operation,
        otel.kind = "client",
        "db.system.name" = system,
        "db.operation.name" = operation,
    )
}

/// Connects every [`PROBE_INTERVAL`] until a connection opens, then closes the breaker.
async fn probe<DB: Database>(pool: Pool<DB>, breaker: Arc<Breaker>) {
    loop {
        tokio::time::sleep(PROBE_INTERVAL).await;
        let options = pool.connect_options();
        let attempt = tokio::time::timeout(PROBE_TIMEOUT, DB::Connection::connect_with(&options));
        if let Ok(Ok(connection)) = attempt.await {
            let _ = connection.close().await;
            break;
        }
    }
    // In this order: a failure noted between the two stores starts a new probe.
    breaker.probing.store(false, Ordering::Release);
    breaker.down.store(false, Ordering::Release);
    tracing::info!("database reachable again");
}

/// A failure of the connection rather than of the statement: the database (or the way to it)
/// is gone. This opens the breaker.
fn connection_lost(error: &Error) -> bool {
    match error {
        Error::Io(_)
        | Error::Tls(_)
        | Error::Protocol(_)
        | Error::PoolTimedOut
        | Error::WorkerCrashed => true,
        Error::Database(db) => db
            .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
            .is_some_and(|pg| {
                let code = pg.code();
                // connection_exception, admin or crash shutdown, cannot connect now,
                // too many connections.
                code.starts_with("08") || code.starts_with("57P") || code == "53300"
            }),
        _ => false,
    }
}

/// Whether a failure is one a retry may soon get past: the database out of reach, or unable
/// to take writes now (disk full, I/O error, locked past the busy timeout).
pub(crate) fn unavailable(error: &Error) -> bool {
    if connection_lost(error) || matches!(error, Error::PoolClosed) {
        return true;
    }
    let Error::Database(db) = error else {
        return false;
    };
    if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
        let primary = db
            .code()
            .and_then(|code| code.parse::<i32>().ok())
            .map(|code| code & 0xff);
        // SQLITE_BUSY, SQLITE_LOCKED, SQLITE_IOERR, SQLITE_FULL, SQLITE_CANTOPEN.
        return matches!(primary, Some(5 | 6 | 10 | 13 | 14));
    }
    if let Some(pg) = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
        // insufficient_resources (disk full, out of memory), system_error (I/O).
        return pg.code().starts_with("53") || pg.code().starts_with("58");
    }
    false
}

impl<'p, DB: Database> Executor<'p> for &'_ GuardedPool<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    type Database = DB;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxStream<'e, Result<Either<DB::QueryResult, DB::Row>, Error>>
    where
        E: 'q + Execute<'q, DB>,
    {
        if let Err(error) = self.admit() {
            return futures_util::stream::once(async move { Err(error) }).boxed();
        }
        let guard = self.clone();
        let span = db_span::<DB>("query");
        let mut rows = self
            .pool
            .fetch_many(query)
            .inspect(move |item| {
                if let Err(error) = item {
                    guard.note(error);
                }
            })
            .boxed();
        // Each poll inside the span, as `Instrument` does for a future.
        futures_util::stream::poll_fn(move |cx| {
            let _entered = span.enter();
            rows.poll_next_unpin(cx)
        })
        .boxed()
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxFuture<'e, Result<Option<DB::Row>, Error>>
    where
        E: 'q + Execute<'q, DB>,
    {
        let guard = self.clone();
        async move {
            guard.admit()?;
            let outcome = guard.pool.fetch_optional(query).await;
            guard.observe(outcome)
        }
        .instrument(db_span::<DB>("query"))
        .boxed()
    }

    fn prepare_with<'e>(
        self,
        sql: SqlStr,
        parameters: &'e [DB::TypeInfo],
    ) -> BoxFuture<'e, Result<DB::Statement, Error>>
    where
        'p: 'e,
    {
        self.pool.prepare_with(sql, parameters)
    }

    fn describe<'e>(self, sql: SqlStr) -> BoxFuture<'e, Result<Describe<DB>, Error>> {
        self.pool.describe(sql)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lost_connection_or_a_full_disk_is_unavailable_and_a_bad_statement_is_not() {
        let refused = Error::Io(std::io::ErrorKind::ConnectionRefused.into());
        assert!(connection_lost(&refused) && unavailable(&refused));
        assert!(connection_lost(&Error::PoolTimedOut));
        assert!(!unavailable(&Error::RowNotFound));
        assert!(!unavailable(&Error::ColumnNotFound("x".into())));
    }

    #[tokio::test]
    async fn a_full_sqlite_database_is_unavailable_but_does_not_open_the_breaker() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let url = format!("sqlite://{}", dir.path().join("full.db").display());
        // One connection, since the page limit below is a connection's setting.
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect(&format!("{url}?mode=rwc"))
            .await
            .expect("a database");
        sqlx::query("CREATE TABLE t (x BLOB)")
            .execute(&pool)
            .await
            .expect("a table");
        // One page more than the database may hold: SQLITE_FULL.
        sqlx::query("PRAGMA max_page_count = 3")
            .execute(&pool)
            .await
            .expect("a limit");
        let full = sqlx::query("INSERT INTO t VALUES (zeroblob(100000))")
            .execute(&pool)
            .await
            .expect_err("the database is full");
        assert!(unavailable(&full), "{full}");
        assert!(!connection_lost(&full), "{full}");
    }
}
