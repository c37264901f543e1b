//! Table `audit_log`.

use sea_orm::entity::prelude::*;

use crate::enums::Role;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_log")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub at: DateTimeUtc,
    pub actor_user_id: Option<Uuid>,
    pub role: Option<Role>,
    pub subscriber_id: Option<Uuid>,
    pub operation: String,
    pub target_id: Option<Uuid>,
    pub outcome: String,
    pub request_id: Option<String>,
    /// The API key that acted (then `actor_user_id` is null).
    pub actor_api_key_id: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
