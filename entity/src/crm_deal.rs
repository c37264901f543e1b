//! Table `crm_deals`: the pipeline of a CRM book.

use sea_orm::entity::prelude::*;

use crate::enums::DealStage;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "crm_deals")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The subscriber whose book this is.
    pub book_id: Uuid,
    pub external_id: Option<String>,
    pub title: String,
    pub stage: DealStage,
    /// Minor units (kopecks).
    pub amount_minor: Option<i64>,
    pub company_id: Option<Uuid>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub closed_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
