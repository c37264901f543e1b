//! Table `promo_codes`.

use sea_orm::entity::prelude::*;

use crate::enums::{BonusType, PromoKind};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "promo_codes")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub code: String,
    pub partner_id: Uuid,
    pub program_id: Uuid,
    pub kind: PromoKind,
    pub bonus: Option<BonusType>,
    pub months: Option<i32>,
    pub discount_bp: Option<i32>,
    pub client_id: Option<Uuid>,
    pub created_by: Option<Uuid>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
