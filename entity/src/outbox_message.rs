//! Table `outbox`.

use sea_orm::entity::prelude::*;

use crate::enums::{OutboxKind, OutboxStatus};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "outbox")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub kind: OutboxKind,
    pub to_email: String,
    pub subject: String,
    #[sea_orm(column_type = "Text")]
    pub body: String,
    pub dedupe_key: String,
    pub status: OutboxStatus,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub next_attempt_at: DateTimeUtc,
    pub locked_until: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub sent_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
