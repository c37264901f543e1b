//! Vendor ledger totals (issue 14.4): the ledger summed over all partners per month (UTC) and status,
//! spread over 16 slots by partner id (the last byte of the id modulo 16), kept by the service in the
//! transaction of every ledger write next to `ledger_totals`. A vendor-wide summary then reads at most
//! 16 × 4 rows a month (768 for a year) instead of every partner's month totals. One row per month and
//! status would make every ledger write of the vendor wait on the same row lock; with slots, writes of
//! partners in different slots never wait on each other. On an existing database the table is filled from
//! `ledger_totals` here (PostgreSQL holds a SHARE lock on `ledger_totals` meanwhile, so no ledger write
//! runs in between).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend};

use crate::columns::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The statement that fills an empty `ledger_vendor_totals` from `ledger_totals`, per backend; the slot
/// is the partner id's last byte modulo 16, as the service computes it.
pub const FILL_POSTGRES: &str = include_str!("../sql/ledger_vendor_totals_fill.postgres.sql");
pub const FILL_SQLITE: &str = include_str!("../sql/ledger_vendor_totals_fill.sqlite.sql");

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// One transaction: the table, its fill and the lock that keeps the totals still meanwhile.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("ledger_vendor_totals"))
                    .col(big("month"))
                    .col(text("status"))
                    .col(int("slot"))
                    .col(big("amount_minor"))
                    .col(big("entries"))
                    .primary_key(
                        Index::create().col(Alias::new("month")).col(Alias::new("status")).col(Alias::new("slot")),
                    )
                    .check(Expr::col(Alias::new("status")).is_in(["ACCRUED", "APPROVED", "PAID", "REVERSED"]))
                    .check(Expr::col(Alias::new("slot")).between(0, 15))
                    // SQLite turns an overflowing integer sum into a REAL; this refuses it (no-op on PostgreSQL).
                    .check(Expr::col(Alias::new("amount_minor")).between(i64::MIN, i64::MAX))
                    .take(),
            )
            .await?;
        let db = manager.get_connection();
        let fill = match manager.get_database_backend() {
            DatabaseBackend::Postgres => {
                db.execute_unprepared("LOCK TABLE ledger_totals IN SHARE MODE").await?;
                FILL_POSTGRES
            }
            _ => FILL_SQLITE,
        };
        db.execute_unprepared(fill).await?;
        Ok(())
    }
}
