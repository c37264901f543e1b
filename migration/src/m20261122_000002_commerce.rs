//! Programs (statuses, categories, commission rules), partner statuses, tariffs, subscriptions,
//! invoices, payments and the commission ledger. Money is integer minor units (kopecks), rates are
//! basis points (25.00 % = 2500).

use sea_orm_migration::prelude::*;

use crate::columns::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Each statement is portable between SQLite and PostgreSQL: the types used (TEXT, BIGINT, INTEGER,
/// BOOLEAN, and the UUID/timestamp types sea-query picks per backend) and partial/expression indexes.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let tables = vec![
            Table::create()
                .table(Alias::new("programs"))
                .col(pk())
                .col(text("code"))
                .col(text("name"))
                .col(time("created_at"))
                .take(),
            Table::create()
                .table(Alias::new("program_statuses"))
                .col(pk())
                .col(uuid("program_id"))
                .col(text("code"))
                .col(int("rank"))
                .foreign_key(&mut fk("fk_program_statuses_program", "program_statuses", "program_id", "programs"))
                .take(),
            Table::create()
                .table(Alias::new("program_categories"))
                .col(pk())
                .col(uuid("program_id"))
                .col(text("code"))
                .col(int("position"))
                .foreign_key(&mut fk("fk_program_categories_program", "program_categories", "program_id", "programs"))
                .take(),
            Table::create()
                .table(Alias::new("commission_rules"))
                .col(pk())
                .col(uuid("program_id"))
                .col(text_opt("status"))
                .col(text_opt("category"))
                .col(text("purchase"))
                .col(int_opt("window_months"))
                .col(int("rate_bp"))
                .col(time("created_at"))
                .col(time_opt("deleted_at"))
                .foreign_key(&mut fk("fk_commission_rules_program", "commission_rules", "program_id", "programs"))
                .check(Expr::col(Alias::new("purchase")).is_in(["FIRST", "SUBSEQUENT", "ANY"]))
                .take(),
            Table::create()
                .table(Alias::new("partner_statuses"))
                .col(pk())
                .col(uuid("partner_id"))
                .col(uuid("program_id"))
                .col(text("status"))
                .col(time("updated_at"))
                .foreign_key(&mut fk("fk_partner_statuses_partner", "partner_statuses", "partner_id", "subscribers"))
                .foreign_key(&mut fk("fk_partner_statuses_program", "partner_statuses", "program_id", "programs"))
                .take(),
            Table::create()
                .table(Alias::new("tariffs"))
                .col(pk())
                .col(text("code"))
                .col(text("name"))
                .col(uuid("program_id"))
                .col(text("category"))
                .col(big("monthly_price_minor"))
                .col(text("periods"))
                .col(int_opt("max_databases"))
                .col(int_opt("max_users"))
                .col(int_opt("max_sessions"))
                .col(int("trial_days"))
                .col(flag("partner_only"))
                .col(flag("archived"))
                .col(time("created_at"))
                .foreign_key(&mut fk("fk_tariffs_program", "tariffs", "program_id", "programs"))
                .take(),
            Table::create()
                .table(Alias::new("subscriptions"))
                .col(pk())
                .col(uuid("subscriber_id"))
                .col(uuid("tariff_id"))
                .col(text("basis"))
                .col(time("starts_at"))
                .col(time("ends_at"))
                .col(time_opt("cancelled_at"))
                .col(text_opt("churn_reason"))
                .col(text_opt("churn_comment"))
                .col(time("created_at"))
                .foreign_key(&mut fk("fk_subscriptions_subscriber", "subscriptions", "subscriber_id", "subscribers"))
                .foreign_key(&mut fk("fk_subscriptions_tariff", "subscriptions", "tariff_id", "tariffs"))
                .check(Expr::col(Alias::new("basis")).is_in(["TRIAL", "PAID", "ITS_PROF", "PARTNER_FREE"]))
                .take(),
            Table::create()
                .table(Alias::new("invoices"))
                .col(pk())
                .col(uuid("client_id"))
                .col(uuid("partner_id"))
                .col(uuid("tariff_id"))
                .col(int("period_months"))
                .col(big("amount_minor"))
                .col(int("discount_bp"))
                .col(uuid_opt("payment_id"))
                .col(uuid_opt("created_by"))
                .col(time("created_at"))
                .foreign_key(&mut fk("fk_invoices_client", "invoices", "client_id", "subscribers"))
                .foreign_key(&mut fk("fk_invoices_partner", "invoices", "partner_id", "subscribers"))
                .foreign_key(&mut fk("fk_invoices_tariff", "invoices", "tariff_id", "tariffs"))
                .check(Expr::col(Alias::new("amount_minor")).gte(0))
                .take(),
            Table::create()
                .table(Alias::new("payments"))
                .col(pk())
                .col(uuid("subscriber_id"))
                .col(uuid("tariff_id"))
                .col(uuid("subscription_id"))
                .col(int("period_months"))
                .col(big("amount_minor"))
                .col(text("channel"))
                .col(time("paid_at"))
                .col(text("external_id"))
                .col(text("fingerprint"))
                .col(uuid_opt("invoice_id"))
                .col(time_opt("refunded_at"))
                .col(text_opt("refund_external_id"))
                .col(time("created_at"))
                .foreign_key(&mut fk("fk_payments_subscriber", "payments", "subscriber_id", "subscribers"))
                .foreign_key(&mut fk("fk_payments_tariff", "payments", "tariff_id", "tariffs"))
                .foreign_key(&mut fk("fk_payments_subscription", "payments", "subscription_id", "subscriptions"))
                .foreign_key(&mut fk("fk_payments_invoice", "payments", "invoice_id", "invoices"))
                .check(Expr::col(Alias::new("amount_minor")).gte(0))
                .check(Expr::col(Alias::new("channel")).is_in(["DIRECT", "PARTNER_INVOICE"]))
                .take(),
            Table::create()
                .table(Alias::new("commissions"))
                .col(pk())
                .col(uuid("partner_id"))
                .col(uuid("payment_id"))
                .col(uuid_opt("rule_id"))
                .col(int("rate_bp"))
                .col(big("base_minor"))
                .col(big("amount_minor"))
                .col(text("status"))
                .col(uuid_opt("reverses_id"))
                .col(text_opt("payout_reference"))
                .col(time("accrued_at"))
                .col(time("created_at"))
                .col(time_opt("approved_at"))
                .col(time_opt("paid_at"))
                .foreign_key(&mut fk("fk_commissions_partner", "commissions", "partner_id", "subscribers"))
                .foreign_key(&mut fk("fk_commissions_payment", "commissions", "payment_id", "payments"))
                .foreign_key(&mut fk("fk_commissions_rule", "commissions", "rule_id", "commission_rules"))
                .foreign_key(&mut fk("fk_commissions_reverses", "commissions", "reverses_id", "commissions"))
                .check(Expr::col(Alias::new("status")).is_in(["ACCRUED", "APPROVED", "PAID", "REVERSED"]))
                .take(),
        ];
        for t in tables {
            manager.create_table(t).await?;
        }

        let db = manager.get_connection();
        for sql in [
            "CREATE UNIQUE INDEX ux_programs_code ON programs (code)",
            "CREATE UNIQUE INDEX ux_program_statuses_code ON program_statuses (program_id, code)",
            "CREATE UNIQUE INDEX ux_program_statuses_rank ON program_statuses (program_id, rank)",
            "CREATE UNIQUE INDEX ux_program_categories_code ON program_categories (program_id, code)",
            // One live rule per (program, status, category, purchase); replaced rules stay for history.
            "CREATE UNIQUE INDEX ux_commission_rules_key ON commission_rules \
             (program_id, COALESCE(status, ''), COALESCE(category, ''), purchase) WHERE deleted_at IS NULL",
            "CREATE UNIQUE INDEX ux_partner_statuses ON partner_statuses (partner_id, program_id)",
            "CREATE UNIQUE INDEX ux_tariffs_code ON tariffs (code)",
            "CREATE INDEX ix_subscriptions_subscriber ON subscriptions (subscriber_id, tariff_id)",
            "CREATE INDEX ix_subscriptions_ends ON subscriptions (ends_at)",
            // A trial of a tariff once per subscriber, ever.
            "CREATE UNIQUE INDEX ux_subscriptions_one_trial ON subscriptions (subscriber_id, tariff_id) WHERE basis = 'TRIAL'",
            "CREATE INDEX ix_invoices_client ON invoices (client_id, id)",
            "CREATE INDEX ix_invoices_partner ON invoices (partner_id, id)",
            "CREATE UNIQUE INDEX ux_invoices_payment ON invoices (payment_id) WHERE payment_id IS NOT NULL",
            "CREATE UNIQUE INDEX ux_payments_external_id ON payments (external_id)",
            "CREATE UNIQUE INDEX ux_payments_refund_external_id ON payments (refund_external_id) WHERE refund_external_id IS NOT NULL",
            "CREATE UNIQUE INDEX ux_payments_invoice ON payments (invoice_id) WHERE invoice_id IS NOT NULL",
            "CREATE INDEX ix_payments_subscriber ON payments (subscriber_id, paid_at)",
            // One accrual per payment and one reversal per accrual, whatever runs at the same time.
            "CREATE UNIQUE INDEX ux_commissions_accrual ON commissions (payment_id) WHERE reverses_id IS NULL",
            "CREATE UNIQUE INDEX ux_commissions_reversal ON commissions (reverses_id) WHERE reverses_id IS NOT NULL",
            // commissionSummary and commissions(partnerId, from, to) read by partner and accrual time; the
            // summary is answered from this index alone.
            "CREATE INDEX ix_commissions_partner_time ON commissions (partner_id, accrued_at, status, amount_minor)",
            "CREATE INDEX ix_commissions_payment ON commissions (payment_id)",
            "CREATE INDEX ix_commissions_status ON commissions (status, id)",
        ] {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }
}
