//! Two reads that grew with the table (issue 14.3, 14.5):
//!
//! - a partner's payments page: per client of the partner, its payments in id order (`(subscriber_id,
//!   id)`), so a small partner's first page reads its clients' payments instead of walking the payments'
//!   primary key until 51 of them turn up; `(subscriber_id, paid_at)` stays for the sums by period;
//! - the outbox claim orders pending messages by `(next_attempt_at, id)`: a Monday digest queues 100,000
//!   with one `next_attempt_at`, and `(status, next_attempt_at)` made every claim of 20 sort all 100,000 by
//!   id (~2.5 s a batch at 100,000, 8 messages a second). A partial index of the pending rows in claim
//!   order reads 20 entries, and sent rows never enter it.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for sql in [
            "CREATE INDEX IF NOT EXISTS ix_payments_subscriber_range ON payments (subscriber_id, id)",
            "CREATE INDEX IF NOT EXISTS ix_outbox_pending_due ON outbox (next_attempt_at, id) WHERE status = 'PENDING'",
        ] {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }
}
