//! Table `binding_changes`.

use sea_orm::entity::prelude::*;

use crate::enums::BindingSource;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "binding_changes")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub client_id: Uuid,
    pub from_partner_id: Option<Uuid>,
    pub to_partner_id: Option<Uuid>,
    pub source: BindingSource,
    pub at: DateTimeUtc,
    /// The person who made the change; None for automatic ones (referral, lead distribution).
    pub actor_user_id: Option<Uuid>,
    /// Why: the vendor's words for an assignment, a short note of the occasion otherwise.
    pub reason: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
