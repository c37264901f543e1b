//! Partner-sized reads: a partner's pages read an index range ending in `id` (the keyset order), so the
//! first page of a partner with 100,000 clients reads one page of rows, not every client of the table.
//! The two-column indexes replace the one-column ones they extend.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for sql in [
            "CREATE INDEX ix_subscribers_serving_range ON subscribers (serving_partner_id, id)",
            "DROP INDEX ix_subscribers_serving_partner",
            "CREATE INDEX ix_subscribers_support_range ON subscribers (support_partner_id, id)",
            "DROP INDEX ix_subscribers_support",
            // `commissions(partnerId)` pages by id; the (partner, accrued_at, …) index serves the sums.
            "CREATE INDEX ix_commissions_partner_range ON commissions (partner_id, id)",
            // A partner's tasks page by (due_at, id).
            "CREATE INDEX ix_tasks_partner_range ON tasks (partner_id, due_at, id)",
        ] {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }
}
