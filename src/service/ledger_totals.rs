//! Ledger totals: the ledger summed per partner, calendar month (UTC) of `accrued_at` and current status,
//! changed in the transaction of every ledger write (an accrual or reversal adds to its status, an approval
//! or payout moves the amount from one status to the other). A summary reads the totals for the whole
//! months of its range and the ledger only for the partial months at its edges, in one statement.
//!
//! Vendor totals (`ledger_vendor_totals`) sum the same over all partners per month and status, spread over
//! [`VENDOR_SLOTS`] slots by partner id, written in the same transaction after the partner's rows: a
//! vendor-wide summary sums the slots (at most 64 rows a month). Every transaction upserts its partner rows
//! in key order and then its vendor rows in key order, so two transactions never wait on each other in
//! opposite orders, and partners in different slots never wait on each other at all.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use entity::{commission, ledger_total, ledger_vendor_total};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, OnConflict, Query, SelectStatement, UnionType};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect, QueryTrait, RuntimeErr, Set,
};
use uuid::Uuid;

use crate::domain::subscription::CommissionStatus;
use crate::error::{AppError, AppResult};

/// A month as `year × 12 + month − 1`, in UTC: the key of `ledger_totals.month`.
pub fn month_of(t: DateTime<Utc>) -> i64 {
    i64::from(t.year()) * 12 + i64::from(t.month0())
}

/// The first instant of a month, if chrono can represent it.
fn month_start(month: i64) -> Option<DateTime<Utc>> {
    let year = i32::try_from(month.div_euclid(12)).ok()?;
    let month0 = u32::try_from(month.rem_euclid(12)).ok()?;
    Some(NaiveDate::from_ymd_opt(year, month0 + 1, 1)?.and_hms_opt(0, 0, 0)?.and_utc())
}

/// How many rows a month and status of the vendor totals is spread over.
pub const VENDOR_SLOTS: u8 = 16;

/// A partner's slot in the vendor totals: the last byte of its id modulo [`VENDOR_SLOTS`] (migration
/// 000018 computes the same in SQL).
pub fn slot_of(partner: Uuid) -> i32 {
    i32::from(partner.as_bytes()[15] % VENDOR_SLOTS)
}

/// Changes to the totals made by one transaction, summed per row before they are written: the partners'
/// rows and the vendor's slots.
#[derive(Default)]
pub struct Changes {
    partners: BTreeMap<(Uuid, i64, String), (i64, i64)>,
    vendor: BTreeMap<(i64, String, i32), (i64, i64)>,
}

fn too_large() -> AppError {
    AppError::conflict("AMOUNT_TOO_LARGE", "the ledger total would be too large")
}

/// Adds `sign × amount` and `sign` entries to a row's change.
fn add_to(row: &mut (i64, i64), amount: i64, sign: i64) -> AppResult<()> {
    row.0 = amount.checked_mul(sign).and_then(|a| row.0.checked_add(a)).ok_or_else(too_large)?;
    row.1 += sign;
    Ok(())
}

impl Changes {
    fn add(&mut self, e: &commission::Model, status: CommissionStatus, sign: i64) -> AppResult<()> {
        let month = month_of(e.accrued_at);
        let status = status.as_str().to_owned();
        add_to(self.partners.entry((e.partner_id, month, status.clone())).or_default(), e.amount_minor, sign)?;
        add_to(self.vendor.entry((month, status, slot_of(e.partner_id))).or_default(), e.amount_minor, sign)
    }

    /// A new entry, in its status.
    pub fn inserted(&mut self, e: &commission::Model) -> AppResult<()> {
        self.add(e, e.status, 1)
    }

    /// An entry whose status moved from `from` to `to`.
    pub fn moved(&mut self, e: &commission::Model, from: CommissionStatus, to: CommissionStatus) -> AppResult<()> {
        self.add(e, from, -1)?;
        self.add(e, to, 1)
    }

    /// Writes the changes in the caller's transaction: one upsert adding to each partner row, then one
    /// adding to each vendor slot, each in key order (so two transactions touching the same rows lock them
    /// in the same order). Call it once per transaction.
    pub async fn apply<C: ConnectionTrait>(self, db: &C) -> AppResult<()> {
        if self.partners.is_empty() {
            return Ok(());
        }
        let rows =
            self.partners.into_iter().map(|((partner, month, status), (amount, entries))| ledger_total::ActiveModel {
                partner_id: Set(partner),
                month: Set(month),
                status: Set(status),
                amount_minor: Set(amount),
                entries: Set(entries),
            });
        ledger_total::Entity::insert_many(rows)
            .on_conflict(adding::<ledger_total::Entity>(
                [ledger_total::Column::PartnerId, ledger_total::Column::Month, ledger_total::Column::Status],
                [ledger_total::Column::AmountMinor, ledger_total::Column::Entries],
            ))
            .exec_without_returning(db)
            .await
            .map_err(on_overflow)?;
        let slots = self.vendor.into_iter().map(|((month, status, slot), (amount, entries))| {
            ledger_vendor_total::ActiveModel {
                month: Set(month),
                status: Set(status),
                slot: Set(slot),
                amount_minor: Set(amount),
                entries: Set(entries),
            }
        });
        ledger_vendor_total::Entity::insert_many(slots)
            .on_conflict(adding::<ledger_vendor_total::Entity>(
                [
                    ledger_vendor_total::Column::Month,
                    ledger_vendor_total::Column::Status,
                    ledger_vendor_total::Column::Slot,
                ],
                [ledger_vendor_total::Column::AmountMinor, ledger_vendor_total::Column::Entries],
            ))
            .exec_without_returning(db)
            .await
            .map_err(on_overflow)?;
        Ok(())
    }
}

/// The upsert of a totals row: on a conflict of `keys`, the new row's `sums` are added to the stored ones.
fn adding<E: EntityTrait>(keys: [E::Column; 3], sums: [E::Column; 2]) -> OnConflict {
    let mut on = OnConflict::columns(keys);
    for c in sums {
        on.value(c, Expr::col((E::default(), c)).add(Expr::col((Alias::new("excluded"), c))));
    }
    on
}

fn on_overflow(e: DbErr) -> AppError {
    if overflowed(&e) { too_large() } else { AppError::from(e) }
}

/// Whether a total left the range of a BIGINT: PostgreSQL's `numeric_value_out_of_range`, or the CHECK by
/// which SQLite (whose integer overflow yields a REAL) refuses it.
fn overflowed(e: &DbErr) -> bool {
    let (DbErr::Exec(RuntimeErr::SqlxError(x)) | DbErr::Query(RuntimeErr::SqlxError(x))) = e else {
        return false;
    };
    let code = x.as_database_error().and_then(|d| d.code());
    matches!(code.as_deref(), Some("22003") | Some("275"))
}

/// A range `[from, to)` of accrual time; a missing bound is open.
type Range = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// How a range `[from, to)` of accrual time is read: the totals of the whole months `[lo, hi)` (a missing
/// bound is open) and the ledger for the instants outside them.
#[derive(Debug, PartialEq, Eq)]
struct Split {
    whole: Option<(Option<i64>, Option<i64>)>,
    edges: Vec<Range>,
}

fn split(from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> Split {
    let ledger_only = Split { whole: None, edges: vec![(from, to)] };
    // The first month starting at or after `from`, and the month `to` falls in.
    let lo = match from {
        Some(f) => {
            let m = month_of(f);
            match month_start(m) {
                Some(start) if start == f => Some((m, start)),
                _ => match month_start(m + 1) {
                    Some(start) => Some((m + 1, start)),
                    None => return ledger_only,
                },
            }
        }
        None => None,
    };
    let hi = match to {
        Some(t) => match month_start(month_of(t)) {
            Some(start) => Some((month_of(t), start)),
            None => return ledger_only,
        },
        None => None,
    };
    if let (Some((l, _)), Some((h, _))) = (lo, hi)
        && l >= h
    {
        return ledger_only;
    }
    let mut edges = Vec::new();
    if let (Some(f), Some((_, start))) = (from, lo)
        && f < start
    {
        edges.push((Some(f), Some(start)));
    }
    if let (Some(t), Some((_, start))) = (to, hi)
        && start < t
    {
        edges.push((Some(start), Some(t)));
    }
    Split { whole: Some((lo.map(|(m, _)| m), hi.map(|(m, _)| m))), edges }
}

fn ledger_part(partner: Option<Uuid>, from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> SelectStatement {
    let mut q = commission::Entity::find();
    if let Some(partner) = partner {
        q = q.filter(commission::Column::PartnerId.eq(partner));
    }
    if let Some(from) = from {
        q = q.filter(commission::Column::AccruedAt.gte(from));
    }
    if let Some(to) = to {
        q = q.filter(commission::Column::AccruedAt.lt(to));
    }
    q.select_only().column(commission::Column::Status).column_as(commission::Column::AmountMinor, "amount").into_query()
}

/// The whole months `[lo, hi)`: one partner's totals, or the vendor's slots (all partners).
fn totals_part(partner: Option<Uuid>, lo: Option<i64>, hi: Option<i64>) -> SelectStatement {
    let Some(partner) = partner else {
        return vendor_part(lo, hi);
    };
    let mut q = ledger_total::Entity::find().filter(ledger_total::Column::PartnerId.eq(partner));
    if let Some(lo) = lo {
        q = q.filter(ledger_total::Column::Month.gte(lo));
    }
    if let Some(hi) = hi {
        q = q.filter(ledger_total::Column::Month.lt(hi));
    }
    q.select_only()
        .column(ledger_total::Column::Status)
        .column_as(ledger_total::Column::AmountMinor, "amount")
        .into_query()
}

/// The vendor's slots of the whole months `[lo, hi)` (public for the plan guard as a query).
pub fn vendor_part(lo: Option<i64>, hi: Option<i64>) -> SelectStatement {
    let mut q = ledger_vendor_total::Entity::find();
    if let Some(lo) = lo {
        q = q.filter(ledger_vendor_total::Column::Month.gte(lo));
    }
    if let Some(hi) = hi {
        q = q.filter(ledger_vendor_total::Column::Month.lt(hi));
    }
    q.select_only()
        .column(ledger_vendor_total::Column::Status)
        .column_as(ledger_vendor_total::Column::AmountMinor, "amount")
        .into_query()
}

/// The ledger's sums by current status for accrual time in `[from, to)`, one partner's or all: the totals
/// of the whole months and the entries of the partial ones, in one statement (one snapshot).
pub async fn sums<C: ConnectionTrait>(
    db: &C,
    partner: Option<Uuid>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> AppResult<Vec<(CommissionStatus, i64)>> {
    let s = split(from, to);
    let mut parts = s
        .whole
        .map(|(lo, hi)| totals_part(partner, lo, hi))
        .into_iter()
        .chain(s.edges.into_iter().map(|(from, to)| ledger_part(partner, from, to)));
    let Some(mut union) = parts.next() else {
        return Ok(Vec::new());
    };
    for part in parts {
        union.union(UnionType::All, part);
    }
    let q = Query::select()
        .column(Alias::new("status"))
        .expr_as(Expr::cust("CAST(COALESCE(SUM(amount), 0) AS BIGINT)"), Alias::new("total"))
        .from_subquery(union, Alias::new("parts"))
        .group_by_col(Alias::new("status"))
        .to_owned();
    let rows = db.query_all(&q).await?;
    rows.iter().map(|r| Ok((r.try_get::<CommissionStatus>("", "status")?, r.try_get::<i64>("", "total")?))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).map(|t| t.with_timezone(&Utc)).expect("a test instant")
    }

    #[test]
    fn months_count_from_year_zero_in_utc() {
        assert_eq!(month_of(at("2026-12-01T00:00:00Z")), 24323);
        assert_eq!(month_of(at("2026-12-01T02:00:00+03:00")), 24322);
        assert_eq!(month_start(24323), Some(at("2026-12-01T00:00:00Z")));
    }

    #[test]
    fn a_month_aligned_range_reads_only_totals() {
        let s = split(Some(at("2026-01-01T00:00:00Z")), Some(at("2027-01-01T00:00:00Z")));
        assert_eq!(s, Split { whole: Some((Some(24312), Some(24324))), edges: vec![] });
    }

    #[test]
    fn partial_months_at_the_edges_read_the_ledger() {
        let s = split(Some(at("2026-01-15T10:00:00Z")), Some(at("2026-04-02T00:00:00Z")));
        assert_eq!(
            s,
            Split {
                whole: Some((Some(24313), Some(24315))),
                edges: vec![
                    (Some(at("2026-01-15T10:00:00Z")), Some(at("2026-02-01T00:00:00Z"))),
                    (Some(at("2026-04-01T00:00:00Z")), Some(at("2026-04-02T00:00:00Z"))),
                ],
            }
        );
    }

    #[test]
    fn a_range_inside_one_month_or_empty_reads_only_the_ledger() {
        let (f, t) = (at("2026-03-02T00:00:00Z"), at("2026-03-30T00:00:00Z"));
        assert_eq!(split(Some(f), Some(t)), Split { whole: None, edges: vec![(Some(f), Some(t))] });
        assert_eq!(split(Some(t), Some(f)), Split { whole: None, edges: vec![(Some(t), Some(f))] });
    }

    #[test]
    fn open_bounds_read_every_month_of_the_totals() {
        assert_eq!(split(None, None), Split { whole: Some((None, None)), edges: vec![] });
        let t = at("2026-03-02T00:00:00Z");
        assert_eq!(
            split(None, Some(t)),
            Split { whole: Some((None, Some(24314))), edges: vec![(Some(at("2026-03-01T00:00:00Z")), Some(t))] }
        );
    }

    #[test]
    fn the_last_representable_instants_fall_back_to_the_ledger() {
        let max = DateTime::<Utc>::MAX_UTC;
        assert_eq!(split(Some(max), None), Split { whole: None, edges: vec![(Some(max), None)] });
        let min = DateTime::<Utc>::MIN_UTC;
        assert_eq!(split(Some(min), Some(max)).whole.map(|(lo, _)| lo.is_some()), Some(true));
    }
}
