//! Table `payments`.

use sea_orm::entity::prelude::*;

use crate::enums::PaymentChannel;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "payments")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub subscriber_id: Uuid,
    pub tariff_id: Uuid,
    pub subscription_id: Uuid,
    pub period_months: i32,
    pub amount_minor: i64,
    pub channel: PaymentChannel,
    pub paid_at: DateTimeUtc,
    pub external_id: String,
    pub fingerprint: String,
    pub invoice_id: Option<Uuid>,
    pub refunded_at: Option<DateTimeUtc>,
    pub refund_external_id: Option<String>,
    pub created_at: DateTimeUtc,
    /// The paying client's serving partner now (null for an unbound client or a payer that is not a
    /// client): set when the payment is recorded and moved with the client on every rebind, so a partner's
    /// payments page is one index range of `(serving_partner_id, id)`.
    pub serving_partner_id: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
