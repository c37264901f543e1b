//! Lead pools and their members, the partner's tasks, needs assessments and churn reasons, the e-mail
//! outbox, the scheduler's job keys, and support codes.

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
                    .table(Alias::new("lead_pools"))
                    .col(pk())
                    .col(uuid("program_id"))
                    .col(text("quarter"))
                    .col(date("valid_from"))
                    .col(date("valid_until"))
                    .col(time("created_at"))
                    .col(uuid_opt("created_by"))
                    .foreign_key(&mut fk("fk_lead_pools_program", "lead_pools", "program_id", "programs"))
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("lead_pool_members"))
                    .col(pk())
                    .col(uuid("pool_id"))
                    .col(uuid("partner_id"))
                    .col(int("rank"))
                    // The weight in hundredths: 100 is the default share, 200 doubles it.
                    .col(int("weight_bp"))
                    .col(flag("excluded"))
                    .col(text_opt("reason"))
                    .col(int("assigned"))
                    .col(time("updated_at"))
                    .foreign_key(&mut fk("fk_lead_pool_members_pool", "lead_pool_members", "pool_id", "lead_pools"))
                    .foreign_key(&mut fk(
                        "fk_lead_pool_members_partner",
                        "lead_pool_members",
                        "partner_id",
                        "subscribers",
                    ))
                    .check(Expr::col(Alias::new("weight_bp")).gte(0))
                    .check(Expr::col(Alias::new("assigned")).gte(0))
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("lead_pool_member_changes"))
                    .col(pk())
                    .col(uuid("member_id"))
                    .col(int("weight_bp"))
                    .col(flag("excluded"))
                    .col(text("reason"))
                    .col(time("at"))
                    .col(uuid_opt("actor_user_id"))
                    .foreign_key(&mut fk(
                        "fk_lead_pool_member_changes_member",
                        "lead_pool_member_changes",
                        "member_id",
                        "lead_pool_members",
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("tasks"))
                    .col(pk())
                    .col(uuid("partner_id"))
                    .col(uuid("client_id"))
                    .col(text("kind"))
                    .col(text("status"))
                    .col(time("due_at"))
                    .col(text("dedupe_key"))
                    .col(text_opt("outcome"))
                    .col(time("created_at"))
                    .col(time_opt("completed_at"))
                    .col(uuid_opt("completed_by"))
                    .foreign_key(&mut fk("fk_tasks_partner", "tasks", "partner_id", "subscribers"))
                    .foreign_key(&mut fk("fk_tasks_client", "tasks", "client_id", "subscribers"))
                    .check(Expr::col(Alias::new("kind")).is_in([
                        "WELCOME_CALL",
                        "TRIAL_CHECK_IN",
                        "TRIAL_ENDING",
                        "CHURN_REASON",
                    ]))
                    .check(Expr::col(Alias::new("status")).is_in(["OPEN", "DONE", "CANCELLED"]))
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("needs_assessments"))
                    .col(ColumnDef::new(Alias::new("client_id")).uuid().not_null().primary_key())
                    .col(text_opt("line_of_business"))
                    .col(flag_opt("new_company"))
                    .col(text_opt("processes_to_automate"))
                    .col(text_opt("previous_software"))
                    .col(flag_opt("needs_exchange"))
                    .col(flag_opt("has_remote_users"))
                    .col(flag_opt("stable_internet"))
                    .col(flag_opt("needs_customization"))
                    .col(int_opt("concurrent_users"))
                    .col(text_opt("who_will_work"))
                    .col(date_opt("planned_start"))
                    .col(time("updated_at"))
                    .col(uuid_opt("updated_by"))
                    .foreign_key(&mut fk(
                        "fk_needs_assessments_client",
                        "needs_assessments",
                        "client_id",
                        "subscribers",
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("churn_records"))
                    .col(pk())
                    .col(uuid("client_id"))
                    .col(text("reason"))
                    .col(text_opt("comment"))
                    .col(time("at"))
                    .col(uuid_opt("actor_user_id"))
                    .foreign_key(&mut fk("fk_churn_records_client", "churn_records", "client_id", "subscribers"))
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("outbox"))
                    .col(pk())
                    .col(text("kind"))
                    .col(text("to_email"))
                    .col(text("subject"))
                    .col(ColumnDef::new(Alias::new("body")).text().not_null())
                    .col(text("dedupe_key"))
                    .col(text("status"))
                    .col(int("attempts"))
                    .col(text_opt("last_error"))
                    .col(time("next_attempt_at"))
                    .col(time_opt("locked_until"))
                    .col(time("created_at"))
                    .col(time_opt("sent_at"))
                    .check(Expr::col(Alias::new("status")).is_in(["PENDING", "SENT"]))
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("job_runs"))
                    .col(pk())
                    .col(text("job_key"))
                    .col(time("started_at"))
                    .col(time_opt("finished_at"))
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("support_codes"))
                    .col(pk())
                    .col(text("code"))
                    .col(uuid("partner_id"))
                    .col(uuid_opt("client_id"))
                    .col(time("created_at"))
                    .col(time("expires_at"))
                    .col(time_opt("activated_at"))
                    .col(uuid_opt("activated_by_client"))
                    .foreign_key(&mut fk("fk_support_codes_partner", "support_codes", "partner_id", "subscribers"))
                    .foreign_key(&mut fk("fk_support_codes_client", "support_codes", "client_id", "subscribers"))
                    .take(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter().table(Alias::new("subscribers")).add_column(uuid_opt("support_partner_id")).take(),
            )
            .await?;
        manager
            .alter_table(Table::alter().table(Alias::new("programs")).add_column(text_opt("lead_min_status")).take())
            .await?;

        let db = manager.get_connection();
        for sql in [
            "CREATE INDEX ix_lead_pools_program ON lead_pools (program_id, valid_from)",
            "CREATE UNIQUE INDEX ux_lead_pool_members_partner ON lead_pool_members (pool_id, partner_id)",
            "CREATE UNIQUE INDEX ux_lead_pool_members_rank ON lead_pool_members (pool_id, rank)",
            // A task is created once per occasion (e.g. one check-in per trial), whichever replica's
            // scheduler gets there first.
            "CREATE UNIQUE INDEX ux_tasks_dedupe ON tasks (dedupe_key)",
            "CREATE INDEX ix_tasks_partner_due ON tasks (partner_id, status, due_at)",
            "CREATE INDEX ix_churn_records_client ON churn_records (client_id, at)",
            // An e-mail is queued once per occasion (e.g. one digest per operator and week).
            "CREATE UNIQUE INDEX ux_outbox_dedupe ON outbox (dedupe_key)",
            "CREATE INDEX ix_outbox_due ON outbox (status, next_attempt_at)",
            "CREATE UNIQUE INDEX ux_job_runs_key ON job_runs (job_key)",
            "CREATE UNIQUE INDEX ux_support_codes_code ON support_codes (code)",
            "CREATE INDEX ix_subscribers_support ON subscribers (support_partner_id)",
        ] {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }
}
