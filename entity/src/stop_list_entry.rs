//! Table `stop_list`.

use sea_orm::entity::prelude::*;

use crate::enums::StopListStatus;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "stop_list")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub inn: String,
    pub partner_id: Uuid,
    pub status: StopListStatus,
    pub comment: Option<String>,
    pub reason: Option<String>,
    pub requested_at: DateTimeUtc,
    pub decided_at: Option<DateTimeUtc>,
    pub expires_at: Option<DateTimeUtc>,
    pub decided_by: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
