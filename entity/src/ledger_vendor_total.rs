//! Table `ledger_vendor_totals`: the ledger summed over all partners per calendar month (UTC) of
//! `accrued_at` and current status, spread over a fixed number of slots (a partner's entries always go to
//! the slot of its id) so concurrent ledger writes of different partners rarely wait on one row. Kept in
//! the transaction of every ledger write, next to `ledger_totals`; a vendor-wide summary sums the slots.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "ledger_vendor_totals")]
pub struct Model {
    /// The month of `accrued_at` in UTC as `year × 12 + month − 1` (December 2026 is 24323).
    #[sea_orm(primary_key, auto_increment = false)]
    pub month: i64,
    /// The entries' current status (`ACCRUED`, `APPROVED`, `PAID`, `REVERSED`).
    #[sea_orm(primary_key, auto_increment = false)]
    pub status: String,
    /// The partners' slot: the last byte of the partner id modulo the number of slots.
    #[sea_orm(primary_key, auto_increment = false)]
    pub slot: i32,
    /// The sum of the entries' amounts, in minor units.
    pub amount_minor: i64,
    /// How many entries.
    pub entries: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
