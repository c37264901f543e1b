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

/// Opens the pool. SQLite gets WAL, a busy timeout and enforced foreign keys.
pub async fn connect(url: &str, pool: u32) -> Result<DatabaseConnection, DbErr> {
    let mut opts = ConnectOptions::new(url.to_owned());
    opts.sqlx_logging(false).max_connections(pool).acquire_timeout(Duration::from_secs(10)).map_sqlx_sqlite_opts(|o| {
        o.journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
            .create_if_missing(true)
    });
    Database::connect(opts).await
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
