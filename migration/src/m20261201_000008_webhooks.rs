//! Outbound webhooks (docs/rules.md §12): the endpoints each subscriber registers, and one delivery row per
//! (event, endpoint), written in the transaction of the change and sent by the webhook sender.

use sea_orm_migration::prelude::*;

use crate::columns::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

fn a(name: &str) -> Alias {
    Alias::new(name)
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        manager
            .create_table(
                Table::create()
                    .table(a("webhook_endpoints"))
                    .col(pk())
                    .col(uuid("subscriber_id"))
                    .col(ColumnDef::new(a("url")).text().not_null())
                    .col(ColumnDef::new(a("description")).text().null())
                    // The chosen event types, comma-separated.
                    .col(ColumnDef::new(a("event_types")).text().not_null())
                    .col(flag("enabled"))
                    // The signing secret, encrypted (service::webhooks::secrets); the one it replaced stays
                    // usable until `previous_secret_until`.
                    .col(ColumnDef::new(a("secret")).text().not_null())
                    .col(ColumnDef::new(a("previous_secret")).text().null())
                    .col(time_opt("previous_secret_until"))
                    .col(uuid_opt("created_by"))
                    .col(time("created_at"))
                    .col(time("updated_at"))
                    .foreign_key(&mut fk(
                        "fk_webhook_endpoints_subscriber",
                        "webhook_endpoints",
                        "subscriber_id",
                        "subscribers",
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(a("webhook_deliveries"))
                    .col(pk())
                    .col(uuid("endpoint_id"))
                    // The endpoint's subscriber, kept here for the delivery log's reach filter.
                    .col(uuid("subscriber_id"))
                    .col(text("event_type"))
                    // `webhook-id`: the same on every attempt and redelivery of this event to this endpoint.
                    .col(text("message_id"))
                    .col(ColumnDef::new(a("payload")).text().not_null())
                    .col(text("status"))
                    .col(int("attempts"))
                    .col(int_opt("response_status"))
                    .col(text_opt("last_error"))
                    .col(time("created_at"))
                    .col(time_opt("last_attempt_at"))
                    .col(time_opt("next_attempt_at"))
                    .col(time_opt("delivered_at"))
                    // A sender's claim: until when, and which claim (its completion must match it).
                    .col(time_opt("locked_until"))
                    .col(uuid_opt("lease_id"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_webhook_deliveries_endpoint")
                            .from(a("webhook_deliveries"), a("endpoint_id"))
                            .to(a("webhook_endpoints"), a("id"))
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .check(Expr::col(a("status")).is_in(["PENDING", "DELIVERED", "FAILED"]))
                    .check(Expr::col(a("attempts")).gte(0))
                    .take(),
            )
            .await?;
        for sql in [
            "CREATE INDEX ix_webhook_endpoints_subscriber ON webhook_endpoints (subscriber_id, id)",
            // The sender's claim: pending rows by due time.
            "CREATE INDEX ix_webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at)",
            // The delivery log, per endpoint and per subscriber, in id order.
            "CREATE INDEX ix_webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, id)",
            "CREATE INDEX ix_webhook_deliveries_subscriber ON webhook_deliveries (subscriber_id, id)",
            // The 30-day purge.
            "CREATE INDEX ix_webhook_deliveries_created ON webhook_deliveries (created_at)",
        ] {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }
}
