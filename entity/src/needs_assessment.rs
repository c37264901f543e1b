//! Table `needs_assessments`.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "needs_assessments")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub client_id: Uuid,
    pub line_of_business: Option<String>,
    pub new_company: Option<bool>,
    pub processes_to_automate: Option<String>,
    pub previous_software: Option<String>,
    pub needs_exchange: Option<bool>,
    pub has_remote_users: Option<bool>,
    pub stable_internet: Option<bool>,
    pub needs_customization: Option<bool>,
    pub concurrent_users: Option<i32>,
    pub who_will_work: Option<String>,
    pub planned_start: Option<Date>,
    pub updated_at: DateTimeUtc,
    pub updated_by: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
