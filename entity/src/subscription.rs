//! Table `subscriptions`.

use sea_orm::entity::prelude::*;

use crate::enums::{ChurnReason, SubscriptionBasis};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "subscriptions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub subscriber_id: Uuid,
    pub tariff_id: Uuid,
    pub basis: SubscriptionBasis,
    pub starts_at: DateTimeUtc,
    pub ends_at: DateTimeUtc,
    pub cancelled_at: Option<DateTimeUtc>,
    pub churn_reason: Option<ChurnReason>,
    pub churn_comment: Option<String>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
