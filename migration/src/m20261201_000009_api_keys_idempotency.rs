//! Machine callers (docs/rules.md §12): API keys, the claims of `Idempotency-Key` requests, and the audit log's
//! record of a key as the actor.

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
                    .table(a("api_keys"))
                    .col(pk())
                    .col(uuid("subscriber_id"))
                    .col(text("name"))
                    .col(text("role"))
                    // The first characters of the secret, shown in lists so that a key can be told apart.
                    .col(text("prefix"))
                    // SHA-256 of the whole secret (hex): the secret itself is never stored.
                    .col(text("secret_hash"))
                    .col(uuid("created_by"))
                    .col(time("created_at"))
                    .col(time_opt("expires_at"))
                    .col(time_opt("last_used_at"))
                    .col(time_opt("revoked_at"))
                    .check(Expr::col(a("role")).is_in(["USER", "ADMIN", "ADAPTATION_ADMIN", "SERVICE_OPERATOR"]))
                    .foreign_key(&mut fk("fk_api_keys_subscriber", "api_keys", "subscriber_id", "subscribers"))
                    .foreign_key(&mut fk("fk_api_keys_created_by", "api_keys", "created_by", "users"))
                    .take(),
            )
            .await?;
        // The claim of one Idempotency-Key: inserted before the request runs (the unique index makes one
        // claim of a key per caller, across replicas), then completed with the answer.
        manager
            .create_table(
                Table::create()
                    .table(a("idempotency_keys"))
                    .col(pk())
                    .col(uuid("subscriber_id"))
                    // The user or the API key that sent the request (ids of both are UUIDv7, never shared).
                    .col(uuid("actor_id"))
                    .col(text("idempotency_key"))
                    .col(text("request_hash"))
                    .col(text("status"))
                    // Which claim (of one process) may complete the row: a claim taken over after its lease
                    // ran out gets a new one, so the first process cannot overwrite the second's answer.
                    .col(uuid("claim_token"))
                    .col(time_opt("lease_until"))
                    .col(int_opt("response_status"))
                    .col(text_opt("response_content_type"))
                    .col(ColumnDef::new(a("response_body")).text().null())
                    .col(time("created_at"))
                    .col(time("expires_at"))
                    .check(Expr::col(a("status")).is_in(["RUNNING", "DONE"]))
                    .foreign_key(&mut fk(
                        "fk_idempotency_keys_subscriber",
                        "idempotency_keys",
                        "subscriber_id",
                        "subscribers",
                    ))
                    .take(),
            )
            .await?;
        manager
            .alter_table(Table::alter().table(a("audit_log")).add_column(uuid_opt("actor_api_key_id")).take())
            .await?;
        for sql in [
            "CREATE UNIQUE INDEX ux_api_keys_secret_hash ON api_keys (secret_hash)",
            "CREATE INDEX ix_api_keys_subscriber ON api_keys (subscriber_id, id)",
            "CREATE UNIQUE INDEX ux_idempotency_keys_scope ON idempotency_keys (subscriber_id, actor_id, idempotency_key)",
            "CREATE INDEX ix_idempotency_keys_expiry ON idempotency_keys (expires_at)",
        ] {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }
}
