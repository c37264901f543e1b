//! Ledger totals: the ledger summed per partner, calendar month (UTC) of `accrued_at` and current status,
//! kept by the service in the transaction of every accrual, reversal, approval and payout, so a summary
//! over whole months reads a few rows per partner and month instead of every entry. On an existing
//! database the table is filled from the ledger here (PostgreSQL holds a SHARE lock on `commissions` while
//! it does, so no entry is written in between).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend};

use crate::columns::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The statement that fills an empty `ledger_totals` from the ledger, per backend.
pub const REBUILD_POSTGRES: &str = include_str!("../sql/ledger_totals_rebuild.postgres.sql");
pub const REBUILD_SQLITE: &str = include_str!("../sql/ledger_totals_rebuild.sqlite.sql");

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// One transaction: the table, its fill and the lock that keeps the ledger still meanwhile.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("ledger_totals"))
                    .col(uuid("partner_id"))
                    .col(big("month"))
                    .col(text("status"))
                    .col(big("amount_minor"))
                    .col(big("entries"))
                    .primary_key(
                        Index::create()
                            .col(Alias::new("partner_id"))
                            .col(Alias::new("month"))
                            .col(Alias::new("status")),
                    )
                    .foreign_key(&mut fk("fk_ledger_totals_partner", "ledger_totals", "partner_id", "subscribers"))
                    .check(Expr::col(Alias::new("status")).is_in(["ACCRUED", "APPROVED", "PAID", "REVERSED"]))
                    .take(),
            )
            .await?;
        let db = manager.get_connection();
        // The vendor's summary reads every partner's rows of a range of months: an index-only scan.
        db.execute_unprepared("CREATE INDEX ix_ledger_totals_month ON ledger_totals (month, status, amount_minor)")
            .await?;
        // Its partial months at the edges of a range read the ledger by accrual time over all partners. On a
        // large existing ledger create it `CONCURRENTLY` by hand first: this keeps it.
        db.execute_unprepared(
            "CREATE INDEX IF NOT EXISTS ix_commissions_accrued ON commissions (accrued_at, status, amount_minor)",
        )
        .await?;
        let rebuild = match manager.get_database_backend() {
            DatabaseBackend::Postgres => {
                db.execute_unprepared("LOCK TABLE commissions IN SHARE MODE").await?;
                REBUILD_POSTGRES
            }
            _ => REBUILD_SQLITE,
        };
        db.execute_unprepared(rebuild).await?;
        Ok(())
    }
}
