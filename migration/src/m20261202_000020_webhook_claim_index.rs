//! The webhook sender's claim reads the pending deliveries in claim order (issue 14.5, as the outbox's
//! claim since 000017). `(status, next_attempt_at)` made every claim sort all due deliveries by id: at
//! 100,000 pending deliveries queued in one burst (one `next_attempt_at`) a claim of 32 took 735 ms on
//! PostgreSQL (an external merge sort of 53 MB), and the sender's cheap "anything due?" look scanned the
//! whole table (200,000 delivered rows). A partial index of the pending rows in `(next_attempt_at, id)`
//! order reads 32 entries (0.6 ms), and delivered and failed rows never enter it. The old index served
//! only these two reads; it goes.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for sql in [
            "CREATE INDEX IF NOT EXISTS ix_webhook_deliveries_pending_due ON webhook_deliveries (next_attempt_at, id) \
             WHERE status = 'PENDING'",
            "DROP INDEX IF EXISTS ix_webhook_deliveries_due",
        ] {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }
}
