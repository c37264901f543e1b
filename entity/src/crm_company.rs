//! Table `crm_companies`: the organisations in a CRM book.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "crm_companies")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The subscriber whose book this is.
    pub book_id: Uuid,
    pub external_id: Option<String>,
    pub name: String,
    pub inn: Option<String>,
    pub kpp: Option<String>,
    /// The registered client subscriber this company is, if any.
    pub client_id: Option<Uuid>,
    /// Folded name and INN, written by the service, that search matches against.
    pub search_text: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
