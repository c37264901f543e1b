//! Table `ranking_rows`: a partner's line in a stored ranking.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "ranking_rows")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub run_id: Uuid,
    /// 1 is best.
    #[sea_orm(primary_key, auto_increment = false)]
    pub position: i32,
    pub partner_id: Uuid,
    pub new_contracts: i64,
    pub churned: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
