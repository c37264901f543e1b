//! Upkeep of the audit log's months (issue 14.6): on PostgreSQL `audit_log` is partitioned by calendar
//! month (UTC, migration 000016) and the scheduler creates this month's and next month's partitions ahead;
//! with `PARTNERGRAPH_AUDIT_RETENTION_MONTHS` it removes entries older than that many whole months before
//! the current one — whole partitions dropped on PostgreSQL, rows deleted in batches on SQLite (and from
//! PostgreSQL's default partition, which holds only entries written while no month partition existed).
//!
//! Two replicas run this at the same time safely: on PostgreSQL each step holds a transaction-level
//! advisory lock, and `CREATE TABLE IF NOT EXISTS` / a catalogue read under that lock make a second run a
//! no-op; SQLite writers are serial.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use sea_orm::{ConnectionTrait, DbBackend, Statement};

use crate::db::{WriteTxn, begin_write};
use crate::error::AppResult;
use crate::service::ServiceCtx;

/// The advisory lock key of this job (any constant that no other job uses).
const LOCK_KEY: i64 = 0x6175_6469_745f_7061; // "audit_pa"
/// Rows deleted per transaction by the batched purge.
const PURGE_CHUNK: u64 = 1000;

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Upkeep {
    /// Month partitions created (PostgreSQL).
    pub created: u32,
    /// Month partitions dropped past the retention (PostgreSQL).
    pub dropped: u32,
    /// Rows deleted past the retention (SQLite; PostgreSQL's default partition).
    pub deleted: u64,
}

/// The first day of the month `offset` months after `date`'s month (negative: before).
fn month_start(date: NaiveDate, offset: i32) -> NaiveDate {
    let index = date.year() * 12 + date.month0() as i32 + offset;
    NaiveDate::from_ymd_opt(index.div_euclid(12), index.rem_euclid(12) as u32 + 1, 1).unwrap_or(date)
}

fn utc(date: NaiveDate) -> DateTime<Utc> {
    date.and_time(chrono::NaiveTime::MIN).and_utc()
}

/// The partition holding the month that starts on `month`.
pub fn partition_name(month: NaiveDate) -> String {
    format!("audit_log_y{:04}m{:02}", month.year(), month.month())
}

/// The month a partition's name stands for (only names this module makes).
fn month_of_partition(name: &str) -> Option<NaiveDate> {
    let rest = name.strip_prefix("audit_log_y")?;
    let (year, month) = rest.split_once('m')?;
    if year.len() != 4 || month.len() != 2 {
        return None;
    }
    NaiveDate::from_ymd_opt(year.parse().ok()?, month.parse().ok()?, 1)
}

/// Entries before this instant are past a retention of `months` whole months at `now`.
pub fn retention_cutoff(now: DateTime<Utc>, months: u32) -> DateTime<Utc> {
    utc(month_start(now.date_naive(), -(months.min(1200) as i32)))
}

/// The scheduler's pass: partitions ahead, then the retention when one is configured.
pub async fn upkeep(ctx: &ServiceCtx) -> AppResult<Upkeep> {
    let now = ctx.clock.now();
    let mut done = Upkeep::default();
    if is_partitioned(ctx).await? {
        let this = month_start(now.date_naive(), 0);
        for month in [this, month_start(this, 1)] {
            // A month whose entries already sit in the default partition cannot get its own (PostgreSQL
            // refuses the overlap): said in the log every pass, and the retention below still runs.
            match create_partition(ctx, month).await {
                Ok(created) => done.created += u32::from(created),
                Err(e) => tracing::error!(error = ?e, %month, "audit log: creating the month's partition failed"),
            }
        }
    }
    if let Some(months) = ctx.config.audit_retention_months {
        let cutoff = retention_cutoff(now, months);
        if is_partitioned(ctx).await? {
            done.dropped = drop_partitions_before(ctx, cutoff).await?;
        }
        done.deleted = delete_rows_before(ctx, cutoff).await?;
    }
    Ok(done)
}

/// PostgreSQL with the partitioned table of migration 000016.
async fn is_partitioned(ctx: &ServiceCtx) -> AppResult<bool> {
    if ctx.db.get_database_backend() != DbBackend::Postgres {
        return Ok(false);
    }
    let row = ctx
        .db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT relkind::text AS kind FROM pg_class WHERE oid = to_regclass('audit_log')",
        ))
        .await?;
    Ok(row.map(|r| r.try_get::<String>("", "kind")).transpose()?.as_deref() == Some("p"))
}

/// A write transaction holding the partition maintenance lock (one replica at a time), with a short lock
/// timeout: partitions are created and dropped under a lock on the parent, never waiting long behind a reader.
async fn partitions_txn(ctx: &ServiceCtx) -> AppResult<WriteTxn> {
    let txn = begin_write(&ctx.db, &ctx.write_gate).await?;
    txn.execute_unprepared("SET LOCAL lock_timeout = '5s'").await?;
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT pg_advisory_xact_lock($1)",
        [LOCK_KEY.into()],
    ))
    .await?;
    Ok(txn)
}

/// Creates the month's partition unless it exists; true when this call created it.
async fn create_partition(ctx: &ServiceCtx, month: NaiveDate) -> AppResult<bool> {
    let name = partition_name(month);
    let txn = partitions_txn(ctx).await?;
    let exists = txn
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT to_regclass($1) IS NOT NULL AS present",
            [name.clone().into()],
        ))
        .await?
        .map(|r| r.try_get::<bool>("", "present"))
        .transpose()?
        .unwrap_or(false);
    if exists {
        return Ok(false);
    }
    // The name and bounds are made here from a date, never from input.
    let (from, to) = (utc(month), utc(month_start(month, 1)));
    txn.execute_unprepared(&format!(
        "CREATE TABLE IF NOT EXISTS {name} PARTITION OF audit_log FOR VALUES FROM ('{}') TO ('{}')",
        from.format("%Y-%m-%d %H:%M:%S+00"),
        to.format("%Y-%m-%d %H:%M:%S+00"),
    ))
    .await?;
    txn.commit().await?;
    Ok(true)
}

/// Drops the month partitions that end at or before `cutoff`.
async fn drop_partitions_before(ctx: &ServiceCtx, cutoff: DateTime<Utc>) -> AppResult<u32> {
    let txn = partitions_txn(ctx).await?;
    let children = txn
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT c.relname::text AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
             WHERE i.inhparent = to_regclass('audit_log')",
        ))
        .await?;
    let mut dropped = 0;
    for row in children {
        let name: String = row.try_get("", "name")?;
        let Some(month) = month_of_partition(&name) else { continue };
        if utc(month_start(month, 1)) <= cutoff {
            // `name` is one of this module's names (checked by month_of_partition), not input.
            txn.execute_unprepared(&format!("DROP TABLE {name}")).await?;
            dropped += 1;
        }
    }
    txn.commit().await?;
    Ok(dropped)
}

/// Deletes entries older than `cutoff` in batches, each batch in a transaction that opens the table's
/// delete guard for entries before `cutoff` only (its `audit_log_purges` row is never committed).
async fn delete_rows_before(ctx: &ServiceCtx, cutoff: DateTime<Utc>) -> AppResult<u64> {
    let backend = ctx.db.get_database_backend();
    let mut deleted = 0;
    loop {
        let txn = begin_write(&ctx.db, &ctx.write_gate).await?;
        txn.execute_raw(Statement::from_sql_and_values(
            backend,
            "INSERT INTO audit_log_purges (before_at) VALUES ($1)",
            [cutoff.into()],
        ))
        .await?;
        let r = txn
            .execute_raw(Statement::from_sql_and_values(
                backend,
                format!(
                    "DELETE FROM audit_log WHERE at < $1 AND id IN \
                     (SELECT id FROM audit_log WHERE at < $1 LIMIT {PURGE_CHUNK})"
                ),
                [cutoff.into()],
            ))
            .await?;
        txn.execute_unprepared("DELETE FROM audit_log_purges").await?;
        txn.commit().await?;
        deleted += r.rows_affected();
        if r.rows_affected() < PURGE_CHUNK {
            return Ok(deleted);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_roll_over_years_both_ways() {
        let d = NaiveDate::from_ymd_opt(2026, 12, 17).unwrap();
        assert_eq!(month_start(d, 0), NaiveDate::from_ymd_opt(2026, 12, 1).unwrap());
        assert_eq!(month_start(d, 1), NaiveDate::from_ymd_opt(2027, 1, 1).unwrap());
        assert_eq!(month_start(d, -12), NaiveDate::from_ymd_opt(2025, 12, 1).unwrap());
        assert_eq!(month_start(d, -13), NaiveDate::from_ymd_opt(2025, 11, 1).unwrap());
    }

    #[test]
    fn partition_names_round_trip_and_other_tables_are_not_partitions() {
        let m = NaiveDate::from_ymd_opt(2027, 3, 1).unwrap();
        assert_eq!(partition_name(m), "audit_log_y2027m03");
        assert_eq!(month_of_partition(&partition_name(m)), Some(m));
        assert_eq!(month_of_partition("audit_log_default"), None);
        assert_eq!(month_of_partition("audit_log_y2027m3x"), None);
    }
}
