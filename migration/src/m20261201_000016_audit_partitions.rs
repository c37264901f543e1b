//! `audit_log` partitioned by month on PostgreSQL, and a guarded way to delete old entries on both
//! databases (issue 14.6).
//!
//! On PostgreSQL, on an existing database, in one transaction (one `DO` block): the table is renamed, a
//! table of the same columns partitioned by range of `at` takes its name, with one partition per calendar
//! month (UTC) from the oldest entry's month to the month after this one and a default partition for
//! anything outside them (an entry is never refused for want of a partition); the rows move and the old
//! table is dropped. A partitioned table's primary key must contain the partition key: it is now
//! `(id, at)`. Nothing references `audit_log.id` (no foreign key; the service reads by id only in cursor
//! order and never updates a row), and ids are UUIDv7 made by the service, so the narrower key loses
//! nothing. The scheduler creates the months ahead and, with `PARTNERGRAPH_AUDIT_RETENTION_MONTHS`,
//! drops whole old months.
//!
//! The table stays append-only: the trigger refuses updates, and deletes unless the deleting transaction
//! holds a row in `audit_log_purges` whose `before_at` is later than the entry (the scheduler's batched
//! purge inserts it, deletes, and removes it before committing). Dropping a partition fires no row
//! trigger. SQLite keeps one table, with an index on `at` for the purge.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

const POSTGRES: &str = r#"
DO $$
DECLARE
    first_month timestamptz;
    last_month timestamptz := date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' + interval '1 month';
    m timestamptz;
BEGIN
    ALTER TABLE audit_log RENAME TO audit_log_unpartitioned;
    ALTER TABLE audit_log_unpartitioned RENAME CONSTRAINT audit_log_pkey TO audit_log_unpartitioned_pkey;
    ALTER INDEX ix_audit_log_subscriber RENAME TO ix_audit_log_unpartitioned_subscriber;
    CREATE TABLE audit_log (LIKE audit_log_unpartitioned INCLUDING DEFAULTS) PARTITION BY RANGE (at);
    ALTER TABLE audit_log ADD CONSTRAINT audit_log_pkey PRIMARY KEY (id, at);
    CREATE INDEX ix_audit_log_subscriber ON audit_log (subscriber_id, id);
    SELECT date_trunc('month', min(at) AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' INTO first_month
    FROM audit_log_unpartitioned;
    m := least(coalesce(first_month, last_month), last_month - interval '1 month');
    WHILE m <= last_month LOOP
        EXECUTE format('CREATE TABLE %I PARTITION OF audit_log FOR VALUES FROM (%L) TO (%L)',
                       to_char(m AT TIME ZONE 'UTC', '"audit_log_y"YYYY"m"MM'), m, m + interval '1 month');
        m := m + interval '1 month';
    END LOOP;
    CREATE TABLE audit_log_default PARTITION OF audit_log DEFAULT;
    INSERT INTO audit_log SELECT * FROM audit_log_unpartitioned;
    DROP TABLE audit_log_unpartitioned;
    CREATE TABLE audit_log_purges (before_at timestamptz NOT NULL);
    CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $f$
    BEGIN
        IF TG_OP = 'DELETE' AND EXISTS (SELECT 1 FROM audit_log_purges p WHERE OLD.at < p.before_at) THEN
            RETURN OLD;
        END IF;
        RAISE EXCEPTION 'audit_log is append-only';
    END $f$;
    CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
        FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
END $$
"#;

const SQLITE: [&str; 4] = [
    "CREATE TABLE audit_log_purges (before_at TEXT NOT NULL)",
    "DROP TRIGGER audit_log_no_delete",
    "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log \
     WHEN NOT EXISTS (SELECT 1 FROM audit_log_purges p WHERE old.at < p.before_at) \
     BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
    "CREATE INDEX ix_audit_log_at ON audit_log (at)",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        match manager.get_database_backend() {
            DatabaseBackend::Postgres => {
                db.execute_unprepared(POSTGRES).await?;
            }
            DatabaseBackend::Sqlite => {
                for sql in SQLITE {
                    db.execute_unprepared(sql).await?;
                }
            }
            _ => {}
        }
        Ok(())
    }
}
