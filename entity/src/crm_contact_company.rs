//! Table `crm_contact_companies`: which contacts belong to which companies (many to many, one book).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "crm_contact_companies")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub contact_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub company_id: Uuid,
    pub book_id: Uuid,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::crm_contact::Entity",
        from = "Column::ContactId",
        to = "super::crm_contact::Column::Id"
    )]
    Contact,
    #[sea_orm(
        belongs_to = "super::crm_company::Entity",
        from = "Column::CompanyId",
        to = "super::crm_company::Column::Id"
    )]
    Company,
}

impl Related<super::crm_contact::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Contact.def()
    }
}

impl Related<super::crm_company::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Company.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
