//! Table `commission_rules`.

use sea_orm::entity::prelude::*;

use crate::enums::Purchase;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "commission_rules")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub program_id: Uuid,
    pub status: Option<String>,
    pub category: Option<String>,
    pub purchase: Purchase,
    pub window_months: Option<i32>,
    pub rate_bp: i32,
    pub created_at: DateTimeUtc,
    pub deleted_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
