//! An e-mail of the outbox may be `CANCELLED`: an invitation accepted, revoked or re-sent before its
//! e-mail went out is not e-mailed afterwards.
//!
//! PostgreSQL swaps the CHECK constraint; SQLite cannot alter a CHECK, so the table is rebuilt (it has no
//! foreign keys in or out) and its two indexes are made again.

use sea_orm_migration::prelude::*;

use crate::columns::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const COLUMNS: &str = "id, kind, to_email, subject, body, dedupe_key, status, attempts, last_error, next_attempt_at, locked_until, \
     created_at, sent_at";

fn outbox(name: &str, statuses: &[&str]) -> TableCreateStatement {
    Table::create()
        .table(Alias::new(name))
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
        .check(Expr::col(Alias::new("status")).is_in(statuses.iter().copied()))
        .take()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// One transaction on every backend: on SQLite the rebuild must not be seen (or left) half done, and its
    /// statements must all run on one connection of the pool.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        match manager.get_database_backend() {
            sea_orm::DatabaseBackend::Postgres => {
                db.execute_unprepared("ALTER TABLE outbox DROP CONSTRAINT outbox_status_check").await?;
                db.execute_unprepared(
                    "ALTER TABLE outbox ADD CONSTRAINT outbox_status_check \
                     CHECK (status IN ('PENDING', 'SENT', 'CANCELLED'))",
                )
                .await?;
            }
            _ => {
                manager.create_table(outbox("outbox_rebuilt", &["PENDING", "SENT", "CANCELLED"])).await?;
                for sql in [
                    format!("INSERT INTO outbox_rebuilt ({COLUMNS}) SELECT {COLUMNS} FROM outbox"),
                    "DROP TABLE outbox".to_owned(),
                    "ALTER TABLE outbox_rebuilt RENAME TO outbox".to_owned(),
                    "CREATE UNIQUE INDEX ux_outbox_dedupe ON outbox (dedupe_key)".to_owned(),
                    "CREATE INDEX ix_outbox_due ON outbox (status, next_attempt_at)".to_owned(),
                ] {
                    db.execute_unprepared(&sql).await?;
                }
            }
        }
        Ok(())
    }
}
