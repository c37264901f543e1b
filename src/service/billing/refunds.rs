//! Refunds: a reversing ledger entry for each accrual, the paid period taken off the subscription.

use chrono::Months;
use entity::{payment, subscription};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use uuid::Uuid;

use super::payments::check_external_id;
use crate::auth::Scope;
use crate::db::begin_write;
use crate::domain::webhook::EventType;
use crate::error::{AppError, AppResult, UniqueIndex};
use crate::service::ServiceCtx;
use crate::service::ledger;
use crate::service::subscribers;
use crate::service::webhooks::{self, Event};

/// A refund's external id is used once (`m20261122_000002_commerce`).
const REFUND_EXTERNAL_ID_INDEX: UniqueIndex =
    UniqueIndex { name: "ux_payments_refund_external_id", table: "payments", columns: &["refund_external_id"] };

/// Refunds a payment: the ledger gets a reversing entry for each accrual, the subscription loses the
/// paid period. Idempotent by the refund's own external id.
#[tracing::instrument(level = "debug", skip_all, fields(caller = %p.subscriber_id, payment = %id, external_id = %external_id))]
pub async fn refund(ctx: &ServiceCtx, p: Scope<'_>, id: Uuid, external_id: &str) -> AppResult<payment::Model> {
    p.require(p.is_vendor_staff(), "refund payments")?;
    let external_id = check_external_id(external_id, "externalId")?;
    let now = ctx.clock.now();
    let txn = begin_write(&ctx.db, &ctx.write_gate).await?;
    let pay = payment::Entity::find_by_id(id).one(&txn).await?.ok_or(AppError::NotFound)?;
    subscribers::lock(&txn, pay.subscriber_id).await?;
    let claimed = payment::Entity::update_many()
        .col_expr(payment::Column::RefundedAt, sea_orm::sea_query::Expr::value(now))
        .col_expr(payment::Column::RefundExternalId, sea_orm::sea_query::Expr::value(external_id.clone()))
        .filter(payment::Column::Id.eq(id))
        .filter(payment::Column::RefundedAt.is_null())
        .exec(&txn)
        .await
        .map_err(REFUND_EXTERNAL_ID_INDEX.or_internal(|| {
            AppError::conflict_on(
                "externalId",
                "IDEMPOTENCY_KEY_REUSED",
                "this refund externalId was used for another payment",
            )
        }))?;
    if claimed.rows_affected == 0 {
        // Already refunded: a repeat of this refund answers with the payment, another one is a conflict.
        let current = payment::Entity::find_by_id(id).one(&txn).await?.ok_or(AppError::NotFound)?;
        return if current.refund_external_id.as_deref() == Some(external_id.as_str()) {
            Ok(current)
        } else {
            Err(AppError::conflict("ALREADY_REFUNDED", "this payment is already refunded"))
        };
    }
    ledger::reverse(&txn, pay.id, now).await?;
    if let Some(sub) = subscription::Entity::find_by_id(pay.subscription_id).one(&txn).await? {
        let ends = sub.ends_at.checked_sub_months(Months::new(pay.period_months as u32)).unwrap_or(sub.ends_at);
        let mut am: subscription::ActiveModel = sub.into();
        am.ends_at = Set(ends);
        am.update(&txn).await?;
    }
    let pay = payment::Entity::find_by_id(id).one(&txn).await?.ok_or(AppError::NotFound)?;
    let payer = subscribers::load(&*txn, pay.subscriber_id).await?;
    webhooks::queue(&*txn, [Event::payment(EventType::PaymentRefunded, &pay, &payer, now)]).await?;
    txn.commit().await?;
    Ok(pay)
}
