//! Table `webhook_deliveries`.

use sea_orm::entity::prelude::*;

use crate::enums::DeliveryStatus;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_deliveries")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub endpoint_id: Uuid,
    pub subscriber_id: Uuid,
    pub event_type: String,
    pub message_id: String,
    #[sea_orm(column_type = "Text")]
    pub payload: String,
    pub status: DeliveryStatus,
    pub attempts: i32,
    pub response_status: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: DateTimeUtc,
    pub last_attempt_at: Option<DateTimeUtc>,
    pub next_attempt_at: Option<DateTimeUtc>,
    pub delivered_at: Option<DateTimeUtc>,
    pub locked_until: Option<DateTimeUtc>,
    pub lease_id: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
