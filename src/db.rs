//! Connecting to SQLite or PostgreSQL, and the write transaction every multi-row change runs in.

use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseBackend, DatabaseConnection, DatabaseTransaction, DbBackend,
    DbErr, ExecResult, QueryResult, SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait,
};
use tokio::sync::{Mutex, OwnedMutexGuard};

/// Opens the pool. SQLite gets WAL, a busy timeout and enforced foreign keys. A request waits at most
/// `acquire_timeout` for a connection, so a database outage fails requests quickly instead of queueing
/// them. A database that cannot be reached is named in the error (password redacted) with the cause.
pub async fn connect(url: &str, pool: u32, acquire_timeout: Duration) -> Result<DatabaseConnection, String> {
    let mut opts = ConnectOptions::new(url.to_owned());
    opts.sqlx_logging(false)
        .max_connections(pool)
        .acquire_timeout(acquire_timeout)
        .connect_timeout(acquire_timeout)
        .map_sqlx_sqlite_opts(|o| {
            o.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
                .create_if_missing(true)
        });
    match Database::connect(opts).await {
        Ok(db) => Ok(db),
        Err(e) => Err(format!(
            "cannot reach the database at {}: {}",
            redact(url),
            why_unreachable(url, e, acquire_timeout).await
        )),
    }
}

/// What went wrong, in words: the pool only says it timed out, so one direct attempt asks for the cause
/// (connection refused, unknown host, authentication failed, no such database).
async fn why_unreachable(url: &str, e: DbErr, within: Duration) -> String {
    use sea_orm::sqlx::Connection;
    let timed_out = matches!(&e, DbErr::Conn(sea_orm::RuntimeErr::SqlxError(err)) if matches!(**err, sea_orm::sqlx::Error::PoolTimedOut));
    if !timed_out {
        return e.to_string();
    }
    let cause = if url.starts_with("postgres") {
        match tokio::time::timeout(within, sea_orm::sqlx::PgConnection::connect(url)).await {
            Ok(Err(err)) => Some(err.to_string()),
            Ok(Ok(conn)) => {
                let _ = conn.close().await;
                None
            }
            Err(_) => None,
        }
    } else {
        None
    };
    match cause {
        Some(cause) => cause,
        None => format!("no connection within {} ms", within.as_millis()),
    }
}

/// A database URL fit for a log line or an error: the password (in the user part or a `password=`
/// parameter) replaced by `***`.
pub fn redact(url: &str) -> String {
    let mut out = url.to_owned();
    if let Some(scheme_end) = out.find("://") {
        let rest = &out[scheme_end + 3..];
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        if let Some(at) = rest[..authority_end].rfind('@')
            && let Some(colon) = rest[..at].find(':')
        {
            out.replace_range(scheme_end + 3 + colon + 1..scheme_end + 3 + at, "***");
        }
    }
    if let Some(q) = out.find('?') {
        let (head, query) = out.split_at(q + 1);
        let query: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                _ => pair.to_owned(),
            })
            .collect();
        out = format!("{head}{}", query.join("&"));
    }
    out
}

/// The key of the PostgreSQL advisory lock that migrations are applied under ("partnergraph migrate").
const MIGRATION_LOCK: i64 = 0x7067_6D69_6772_6174;

/// Applies the migrations. On PostgreSQL replicas that start together take turns: the first holds a
/// session advisory lock on its own connection while it migrates; the others wait for it and then find
/// nothing left to do. (Without it, concurrent `CREATE TABLE`s fail on PostgreSQL's catalog indexes.)
/// The lock goes with the connection, so a process that dies while migrating frees it.
pub async fn migrate(db: &DatabaseConnection, url: &str) -> Result<(), String> {
    use migration::{Migrator, MigratorTrait};
    use sea_orm::sqlx::Connection;
    if db.get_database_backend() != DbBackend::Postgres {
        return Migrator::up(db, None).await.map_err(|e| format!("migration failed: {e}"));
    }
    let mut lock = sea_orm::sqlx::PgConnection::connect(url)
        .await
        .map_err(|e| format!("cannot reach the database at {} to migrate: {e}", redact(url)))?;
    sea_orm::sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut lock)
        .await
        .map_err(|e| format!("cannot take the migration lock: {e}"))?;
    let result = Migrator::up(db, None).await.map_err(|e| format!("migration failed: {e}"));
    let _ = sea_orm::sqlx::query("SELECT pg_advisory_unlock($1)").bind(MIGRATION_LOCK).execute(&mut lock).await;
    let _ = lock.close().await;
    result
}

/// SQLite has one writer at a time. Writers queue here, in order, instead of in SQLite's busy handler,
/// which sleeps in growing steps and gives long tail latencies under concurrent writes. PostgreSQL
/// needs no gate: its rules are held by row locks and unique indexes.
///
/// The gate also counts committed write transactions of this process (`epoch`): caches of data that
/// writes may change (the authentication cache) drop what they hold when it moves, and it wakes the
/// webhook sender after each commit (deliveries are queued in the transaction of their change).
#[derive(Clone, Default)]
pub struct WriteGate {
    queue: Option<Arc<Mutex<()>>>,
    epoch: Arc<AtomicU64>,
    committed: Arc<tokio::sync::Notify>,
}

impl WriteGate {
    pub fn for_backend(backend: DatabaseBackend) -> Self {
        WriteGate {
            queue: (backend == DbBackend::Sqlite).then(|| Arc::new(Mutex::new(()))),
            epoch: Arc::default(),
            committed: Arc::default(),
        }
    }

    /// Resolves after the next write transaction of this process commits (or at once if one committed
    /// since the last call: commits leave one permit, however many there were).
    pub async fn next_commit(&self) {
        self.committed.notified().await;
    }

    /// How many write transactions this process has committed (through `begin_write`).
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }
}

/// A write transaction (with its place in the SQLite write queue). Use it wherever a connection or a
/// `&DatabaseTransaction` is wanted; `commit` ends it, dropping it rolls back.
pub struct WriteTxn {
    txn: DatabaseTransaction,
    epoch: Arc<AtomicU64>,
    committed: Arc<tokio::sync::Notify>,
    _turn: Option<OwnedMutexGuard<()>>,
}

impl WriteTxn {
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn commit(self) -> Result<(), DbErr> {
        self.txn.commit().await?;
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.committed.notify_one();
        Ok(())
    }
}

impl Deref for WriteTxn {
    type Target = DatabaseTransaction;
    fn deref(&self) -> &DatabaseTransaction {
        &self.txn
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for WriteTxn {
    fn get_database_backend(&self) -> DbBackend {
        self.txn.get_database_backend()
    }
    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.txn.execute_raw(stmt).await
    }
    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.txn.execute_unprepared(sql).await
    }
    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.txn.query_one_raw(stmt).await
    }
    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.txn.query_all_raw(stmt).await
    }
}

/// Begins a transaction that will write. On SQLite it waits for its turn in the write queue and takes
/// the write lock at once (`BEGIN IMMEDIATE`), so it never fails on a lock upgrade.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn begin_write(db: &DatabaseConnection, gate: &WriteGate) -> Result<WriteTxn, DbErr> {
    let turn = match &gate.queue {
        Some(m) => Some(m.clone().lock_owned().await),
        None => None,
    };
    let txn = db
        .begin_with_options(TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..Default::default()
        })
        .await?;
    Ok(WriteTxn { txn, epoch: gate.epoch.clone(), committed: gate.committed.clone(), _turn: turn })
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn a_database_url_loses_its_password_and_keeps_the_address() {
        assert_eq!(
            redact("postgres://app:s3cr%40t@db.internal:5432/partners"),
            "postgres://app:***@db.internal:5432/partners"
        );
        assert_eq!(redact("postgres://app@db:5432/p"), "postgres://app@db:5432/p");
        assert_eq!(
            redact("postgres://db/p?user=a&password=x&sslmode=require"),
            "postgres://db/p?user=a&password=***&sslmode=require"
        );
        assert_eq!(redact("sqlite://partnergraph.db?mode=rwc"), "sqlite://partnergraph.db?mode=rwc");
        // An `@` in the path is not a user part.
        assert_eq!(redact("postgres://db/p@x"), "postgres://db/p@x");
    }
}
