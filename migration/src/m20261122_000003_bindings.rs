//! Deal protection (the stop-list), promo codes and their redemptions, the promo on an invoice, and the
//! lowest partner status that may issue bonus codes.

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
                    .table(Alias::new("stop_list"))
                    .col(pk())
                    .col(text("inn"))
                    .col(uuid("partner_id"))
                    .col(text("status"))
                    .col(text_opt("comment"))
                    .col(text_opt("reason"))
                    .col(time("requested_at"))
                    .col(time_opt("decided_at"))
                    .col(time_opt("expires_at"))
                    .col(uuid_opt("decided_by"))
                    .foreign_key(&mut fk("fk_stop_list_partner", "stop_list", "partner_id", "subscribers"))
                    .check(Expr::col(Alias::new("status")).is_in(["REQUESTED", "APPROVED", "REJECTED", "EXPIRED"]))
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("promo_codes"))
                    .col(pk())
                    .col(text("code"))
                    .col(uuid("partner_id"))
                    .col(uuid("program_id"))
                    .col(text("kind"))
                    .col(text_opt("bonus"))
                    .col(int_opt("months"))
                    .col(int_opt("discount_bp"))
                    .col(uuid_opt("client_id"))
                    .col(uuid_opt("created_by"))
                    .col(time("created_at"))
                    .foreign_key(&mut fk("fk_promo_codes_partner", "promo_codes", "partner_id", "subscribers"))
                    .foreign_key(&mut fk("fk_promo_codes_program", "promo_codes", "program_id", "programs"))
                    .foreign_key(&mut fk("fk_promo_codes_client", "promo_codes", "client_id", "subscribers"))
                    .check(Expr::col(Alias::new("kind")).is_in(["BONUS", "DISCOUNT"]))
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("promo_redemptions"))
                    .col(pk())
                    .col(uuid("promo_id"))
                    .col(uuid("client_id"))
                    .col(text("kind"))
                    .col(time("at"))
                    .col(time_opt("bonus_until"))
                    .col(uuid_opt("payment_id"))
                    .foreign_key(&mut fk("fk_promo_redemptions_promo", "promo_redemptions", "promo_id", "promo_codes"))
                    .foreign_key(&mut fk(
                        "fk_promo_redemptions_client",
                        "promo_redemptions",
                        "client_id",
                        "subscribers",
                    ))
                    .foreign_key(&mut fk("fk_promo_redemptions_payment", "promo_redemptions", "payment_id", "payments"))
                    .take(),
            )
            .await?;
        manager
            .alter_table(Table::alter().table(Alias::new("invoices")).add_column(uuid_opt("promo_id")).take())
            .await?;
        manager
            .alter_table(Table::alter().table(Alias::new("programs")).add_column(text_opt("promo_min_status")).take())
            .await?;

        let db = manager.get_connection();
        for sql in [
            // At most one approved lock per INN; an approved lock past its date is marked EXPIRED before
            // another is approved, in the same transaction.
            "CREATE UNIQUE INDEX ux_stop_list_one_lock ON stop_list (inn) WHERE status = 'APPROVED'",
            // A partner has at most one pending request per INN.
            "CREATE UNIQUE INDEX ux_stop_list_one_request ON stop_list (inn, partner_id) WHERE status = 'REQUESTED'",
            "CREATE INDEX ix_stop_list_partner ON stop_list (partner_id, id)",
            "CREATE UNIQUE INDEX ux_promo_codes_code ON promo_codes (code)",
            "CREATE INDEX ix_promo_codes_partner ON promo_codes (partner_id, id)",
            // A code once per client; one bonus per client ever; a discount code once at all.
            "CREATE UNIQUE INDEX ux_promo_redemptions_once ON promo_redemptions (promo_id, client_id)",
            "CREATE UNIQUE INDEX ux_promo_redemptions_one_bonus ON promo_redemptions (client_id) WHERE kind = 'BONUS'",
            "CREATE UNIQUE INDEX ux_promo_redemptions_discount_once ON promo_redemptions (promo_id) WHERE kind = 'DISCOUNT'",
        ] {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }
}
