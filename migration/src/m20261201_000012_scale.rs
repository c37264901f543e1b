//! The quarterly partner ranking, stored per program and quarter: the scheduler computes it in SQL while
//! the quarter is open and once more, final, after it closes; `partnerRanking` and publishing a lead pool
//! read it instead of aggregating every client's contracts per request.

use sea_orm_migration::prelude::*;

use crate::columns::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("ranking_runs"))
                    .col(pk())
                    .col(uuid("program_id"))
                    .col(text("quarter"))
                    // None until the first computation commits (the row is the lock computations queue on).
                    .col(time_opt("computed_at"))
                    // Computed after the quarter closed: kept as it is from then on.
                    .col(flag("closed"))
                    .foreign_key(&mut fk("fk_ranking_runs_program", "ranking_runs", "program_id", "programs"))
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("ranking_rows"))
                    .col(uuid("run_id"))
                    .col(int("position"))
                    .col(uuid("partner_id"))
                    .col(big("new_contracts"))
                    .col(big("churned"))
                    .primary_key(Index::create().col(Alias::new("run_id")).col(Alias::new("position")))
                    .foreign_key(&mut fk("fk_ranking_rows_run", "ranking_rows", "run_id", "ranking_runs"))
                    .foreign_key(&mut fk("fk_ranking_rows_partner", "ranking_rows", "partner_id", "subscribers"))
                    .take(),
            )
            .await?;
        let db = manager.get_connection();
        for sql in [
            "CREATE UNIQUE INDEX ux_ranking_runs_quarter ON ranking_runs (program_id, quarter)",
            "CREATE UNIQUE INDEX ux_ranking_rows_partner ON ranking_rows (run_id, partner_id)",
        ] {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }
}
