//! Table `ledger_totals`: the ledger summed per partner, calendar month (UTC) of `accrued_at` and current
//! status, kept in the transaction of every ledger write.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "ledger_totals")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub partner_id: Uuid,
    /// The month of `accrued_at` in UTC as `year × 12 + month − 1` (December 2026 is 24323).
    #[sea_orm(primary_key, auto_increment = false)]
    pub month: i64,
    /// The entries' current status (`ACCRUED`, `APPROVED`, `PAID`, `REVERSED`).
    #[sea_orm(primary_key, auto_increment = false)]
    pub status: String,
    /// The sum of the entries' amounts, in minor units.
    pub amount_minor: i64,
    /// How many entries.
    pub entries: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
