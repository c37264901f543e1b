//! Search by any part of a name on PostgreSQL reads trigram GIN indexes (`pg_trgm`) on the folded,
//! lower-case text the service matches (`subscribers.search_name`, lower-cased e-mails, the CRM books'
//! `search_text`) instead of scanning the table; `inn` gets a plain index so the search's `OR` can use
//! indexes on every side. SQLite keeps its scan: nothing happens there.
//!
//! Creating the extension needs a superuser or, for this trusted extension on PostgreSQL 13 and later, the
//! CREATE privilege on the database. Where it cannot be created the migration says so on stderr and goes
//! on without the trigram indexes (search works, as a scan); README "Operating at scale" has the
//! statements to run later. `IF NOT EXISTS` everywhere: on a large existing table, create the indexes
//! `CONCURRENTLY` by hand first and this migration keeps them.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The trigram indexes, by name, table and column.
pub const TRIGRAM_INDEXES: [(&str, &str, &str); 4] = [
    ("ix_subscribers_search_trgm", "subscribers", "search_name"),
    ("ix_subscribers_email_trgm", "subscribers", "email"),
    ("ix_crm_companies_search_trgm", "crm_companies", "search_text"),
    ("ix_crm_contacts_search_trgm", "crm_contacts", "search_text"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// In a transaction, so that a refused `CREATE EXTENSION` is rolled back to its savepoint and the
    /// rest still applies.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DatabaseBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        db.execute_unprepared("CREATE INDEX IF NOT EXISTS ix_subscribers_inn_search ON subscribers (inn)").await?;
        db.execute_unprepared("SAVEPOINT pg_trgm").await?;
        if let Err(e) = db.execute_unprepared("CREATE EXTENSION IF NOT EXISTS pg_trgm").await {
            db.execute_unprepared("ROLLBACK TO SAVEPOINT pg_trgm").await?;
            eprintln!(
                "WARNING: the pg_trgm extension could not be created ({e}); search by name stays a sequential \
                 scan. Have a superuser run `CREATE EXTENSION pg_trgm;` and the CREATE INDEX statements of \
                 README \"Operating at scale\"."
            );
            return Ok(());
        }
        db.execute_unprepared("RELEASE SAVEPOINT pg_trgm").await?;
        for (name, table, column) in TRIGRAM_INDEXES {
            db.execute_unprepared(&format!(
                "CREATE INDEX IF NOT EXISTS {name} ON {table} USING gin ({column} gin_trgm_ops)"
            ))
            .await?;
        }
        Ok(())
    }
}
