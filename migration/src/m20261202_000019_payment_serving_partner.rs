//! A partner's payments page as one index range (issue 14.2): the payment row keeps the paying client's
//! serving partner now (`serving_partner_id`, null for an unbound client or a payer that is not a client),
//! written when the payment is recorded and moved with the client on every rebind, with an index
//! `(serving_partner_id, id)`. The page answers what it answered before — the payments of the partner's
//! clients now, in id order — by reading 51 index entries instead of a semi-join of every client of the
//! partner. Existing rows are filled here from their clients.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::ConnectionTrait;

use crate::columns::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// One transaction: the column, its fill and the index.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(Table::alter().table(Alias::new("payments")).add_column(uuid_opt("serving_partner_id")).take())
            .await?;
        let db = manager.get_connection();
        for sql in [
            "UPDATE payments SET serving_partner_id = (SELECT s.serving_partner_id FROM subscribers s
                 WHERE s.id = payments.subscriber_id AND s.kind = 'CLIENT')",
            "CREATE INDEX ix_payments_serving_partner ON payments (serving_partner_id, id)",
        ] {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }
}
