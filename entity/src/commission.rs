//! Table `commissions`.

use sea_orm::entity::prelude::*;

use crate::enums::CommissionStatus;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "commissions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub partner_id: Uuid,
    pub payment_id: Uuid,
    pub rule_id: Option<Uuid>,
    pub rate_bp: i32,
    pub base_minor: i64,
    pub amount_minor: i64,
    pub status: CommissionStatus,
    pub reverses_id: Option<Uuid>,
    pub payout_reference: Option<String>,
    pub accrued_at: DateTimeUtc,
    pub created_at: DateTimeUtc,
    pub approved_at: Option<DateTimeUtc>,
    pub paid_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
