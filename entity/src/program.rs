//! Table `programs`.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "programs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub code: String,
    pub name: String,
    pub created_at: DateTimeUtc,
    /// The lowest status that may issue bonus promo codes (null: any).
    pub promo_min_status: Option<String>,
    /// The lowest status a partner needs to join a lead pool (null: any).
    pub lead_min_status: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
