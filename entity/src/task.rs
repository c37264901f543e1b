//! Table `tasks`.

use sea_orm::entity::prelude::*;

use crate::enums::{TaskKind, TaskStatus};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tasks")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub partner_id: Uuid,
    pub client_id: Uuid,
    pub kind: TaskKind,
    pub status: TaskStatus,
    pub due_at: DateTimeUtc,
    pub dedupe_key: String,
    pub outcome: Option<String>,
    pub created_at: DateTimeUtc,
    pub completed_at: Option<DateTimeUtc>,
    pub completed_by: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
