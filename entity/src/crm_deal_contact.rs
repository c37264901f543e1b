//! Table `crm_deal_contacts`: the contacts on each deal (one book).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "crm_deal_contacts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub deal_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub contact_id: Uuid,
    pub book_id: Uuid,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(belongs_to = "super::crm_deal::Entity", from = "Column::DealId", to = "super::crm_deal::Column::Id")]
    Deal,
    #[sea_orm(
        belongs_to = "super::crm_contact::Entity",
        from = "Column::ContactId",
        to = "super::crm_contact::Column::Id"
    )]
    Contact,
}

impl Related<super::crm_deal::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Deal.def()
    }
}

impl Related<super::crm_contact::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Contact.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
