//! Table `tariffs`.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tariffs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub code: String,
    pub name: String,
    pub program_id: Uuid,
    pub category: String,
    pub monthly_price_minor: i64,
    pub periods: String,
    pub max_databases: Option<i32>,
    pub max_users: Option<i32>,
    pub max_sessions: Option<i32>,
    pub trial_days: i32,
    pub partner_only: bool,
    pub archived: bool,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
