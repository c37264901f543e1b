//! Table `promo_redemptions`.

use sea_orm::entity::prelude::*;

use crate::enums::PromoKind;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "promo_redemptions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub promo_id: Uuid,
    pub client_id: Uuid,
    pub kind: PromoKind,
    pub at: DateTimeUtc,
    pub bonus_until: Option<DateTimeUtc>,
    pub payment_id: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
