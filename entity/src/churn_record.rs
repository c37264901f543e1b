//! Table `churn_records`.

use sea_orm::entity::prelude::*;

use crate::enums::ChurnReason;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "churn_records")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub client_id: Uuid,
    pub reason: ChurnReason,
    pub comment: Option<String>,
    pub at: DateTimeUtc,
    pub actor_user_id: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
