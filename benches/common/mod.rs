//! What the two benchmarks share: sizes from the environment and the bulk inserts of payments and
//! ledger entries. Each benchmark uses a part of it.
#![allow(dead_code)]

use partnergraph::app::AppState;
use sea_orm::sea_query::{Alias, InsertStatement, Query, SimpleExpr};
use sea_orm::{ConnectionTrait, TransactionTrait};

/// A size from the environment, or its default.
pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The columns a bulk-loaded payment fills.
pub const PAYMENT_COLUMNS: [&str; 11] = [
    "id",
    "subscriber_id",
    "tariff_id",
    "subscription_id",
    "period_months",
    "amount_minor",
    "channel",
    "paid_at",
    "external_id",
    "fingerprint",
    "created_at",
];

/// The columns a bulk-loaded ledger entry fills.
pub const COMMISSION_COLUMNS: [&str; 10] = [
    "id",
    "partner_id",
    "payment_id",
    "rule_id",
    "rate_bp",
    "base_minor",
    "amount_minor",
    "status",
    "accrued_at",
    "created_at",
];

/// An INSERT into `table` of these columns, to add rows to with `values_panic`.
pub fn insert_into(table: &str, columns: &[&str]) -> InsertStatement {
    Query::insert().into_table(Alias::new(table)).columns(columns.iter().map(|c| Alias::new(*c))).to_owned()
}

/// Inserts rows 500 at a time, each batch in its own transaction.
pub async fn insert_rows(state: &AppState, table: &str, columns: &[&str], rows: impl Iterator<Item = Vec<SimpleExpr>>) {
    let mut rows = rows.peekable();
    while rows.peek().is_some() {
        let mut q = insert_into(table, columns);
        for row in rows.by_ref().take(500) {
            q.values_panic(row);
        }
        let txn = state.db.begin().await.unwrap();
        txn.execute(&q).await.unwrap();
        txn.commit().await.unwrap();
    }
}

/// Rebuilds `ledger_totals` from the ledger with the migration's own statement: bulk rows bypass the
/// service, which keeps the totals on every write, so a benchmark that inserts entries calls this after.
pub async fn rebuild_ledger_totals(state: &AppState) {
    use migration::m20261201_000015_ledger_totals::{REBUILD_POSTGRES, REBUILD_SQLITE};
    let rebuild = match state.db.get_database_backend() {
        sea_orm::DbBackend::Postgres => REBUILD_POSTGRES,
        _ => REBUILD_SQLITE,
    };
    let txn = state.db.begin().await.unwrap();
    txn.execute_unprepared("DELETE FROM ledger_totals").await.unwrap();
    txn.execute_unprepared(rebuild).await.unwrap();
    txn.commit().await.unwrap();
}
