//! Table `subscribers`.

use sea_orm::entity::prelude::*;

use crate::enums::{BindingSource, SubscriberKind};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "subscribers")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub kind: SubscriberKind,
    pub name: String,
    pub inn: Option<String>,
    pub kpp: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address: Option<String>,
    pub contact_person: Option<String>,
    pub serving_partner_id: Option<Uuid>,
    pub binding_source: Option<BindingSource>,
    pub support_partner_id: Option<Uuid>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// The name folded for search (`domain::text::fold`), written by the service.
    pub search_name: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
