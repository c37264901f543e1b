//! The delivery log: reading it, redelivering a message, sending a test event, and the 30-day purge.

use chrono::Duration;
use entity::{webhook_delivery, webhook_endpoint};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;
use uuid::Uuid;

use super::DeliveryStatus;
use super::endpoints::{may_manage, may_read, own};
use super::events::{Event, new_message_id, pending_row};
use crate::auth::Scope;
use crate::db::begin_write;
use crate::domain::webhook::EventType;
use crate::error::{AppError, AppResult};
use crate::service::ServiceCtx;
use crate::service::{Page, PageArgs, paginate};

/// How long deliveries are kept.
pub const RETENTION_DAYS: i64 = 30;

/// A delivery with its endpoint.
pub type WithEndpoint = (webhook_delivery::Model, webhook_endpoint::Model);

/// The deliveries of the caller's subscriber's endpoints (of one endpoint when given), oldest first.
#[tracing::instrument(level = "debug", skip_all, fields(caller = %p.subscriber_id, endpoint = ?endpoint))]
pub async fn list(
    ctx: &ServiceCtx,
    p: Scope<'_>,
    endpoint: Option<Uuid>,
    status: Option<DeliveryStatus>,
    page: PageArgs,
) -> AppResult<Page<WithEndpoint>> {
    may_read(p)?;
    let mut q = webhook_delivery::Entity::find().filter(webhook_delivery::Column::SubscriberId.eq(p.subscriber_id));
    if let Some(id) = endpoint {
        own(&ctx.db, p, id).await?;
        q = q.filter(webhook_delivery::Column::EndpointId.eq(id));
    }
    if let Some(s) = status {
        q = q.filter(webhook_delivery::Column::Status.eq(s));
    }
    let page = paginate(&ctx.db, q, webhook_delivery::Column::Id, page).await?;
    let mut ids: Vec<Uuid> = page.items.iter().map(|d| d.endpoint_id).collect();
    ids.sort();
    ids.dedup();
    let endpoints =
        webhook_endpoint::Entity::find().filter(webhook_endpoint::Column::Id.is_in(ids)).all(&ctx.db).await?;
    let items = page
        .items
        .into_iter()
        .filter_map(|d| endpoints.iter().find(|e| e.id == d.endpoint_id).cloned().map(|e| (d, e)))
        .collect();
    Ok(Page { items, has_next: page.has_next, total: page.total })
}

fn disabled() -> AppError {
    AppError::conflict("WEBHOOK_ENDPOINT_DISABLED", "the endpoint is disabled; enable it first")
}

/// Sends a delivered or failed message again, as a new delivery with the same `webhook-id` and body;
/// a delivery still pending is tried at once instead of at its next retry time.
#[tracing::instrument(level = "debug", skip_all, fields(caller = %p.subscriber_id, id = %id))]
pub async fn redeliver(ctx: &ServiceCtx, p: Scope<'_>, id: Uuid) -> AppResult<WithEndpoint> {
    may_manage(p)?;
    let now = ctx.clock.now();
    let txn = begin_write(&ctx.db, &ctx.write_gate).await?;
    let d = webhook_delivery::Entity::find_by_id(id)
        .one(&*txn)
        .await?
        .filter(|d| d.subscriber_id == p.subscriber_id)
        .ok_or(AppError::NotFound)?;
    let ep = own(&*txn, p, d.endpoint_id).await?;
    if !ep.enabled {
        return Err(disabled());
    }
    let out = if d.status == DeliveryStatus::Pending {
        webhook_delivery::Entity::update_many()
            .col_expr(webhook_delivery::Column::NextAttemptAt, Expr::value(now))
            .filter(webhook_delivery::Column::Id.eq(d.id))
            .filter(webhook_delivery::Column::Status.eq(DeliveryStatus::Pending))
            .exec(&*txn)
            .await?;
        webhook_delivery::Entity::find_by_id(d.id).one(&*txn).await?.ok_or(AppError::NotFound)?
    } else {
        pending_row(&ep, &d.event_type, d.message_id.clone(), d.payload.clone(), now).insert(&*txn).await?
    };
    txn.commit().await?;
    Ok((out, ep))
}

/// Queues a `webhook.test` event to one endpoint, whatever types it chose.
#[tracing::instrument(level = "debug", skip_all, fields(caller = %p.subscriber_id, endpoint = %endpoint))]
pub async fn send_test(ctx: &ServiceCtx, p: Scope<'_>, endpoint: Uuid) -> AppResult<WithEndpoint> {
    may_manage(p)?;
    let now = ctx.clock.now();
    let txn = begin_write(&ctx.db, &ctx.write_gate).await?;
    let ep = own(&*txn, p, endpoint).await?;
    if !ep.enabled {
        return Err(disabled());
    }
    let event = Event {
        kind: EventType::WebhookTest,
        partners: Vec::new(),
        data: json!({ "endpointId": ep.id, "message": "a test event from partnergraph" }),
        at: now,
    };
    let d =
        pending_row(&ep, EventType::WebhookTest.as_str(), new_message_id(), event.body(), now).insert(&*txn).await?;
    txn.commit().await?;
    Ok((d, ep))
}

/// Deletes deliveries older than the retention (a scheduler pass). Returns how many.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn purge_old(ctx: &ServiceCtx) -> AppResult<u64> {
    let before = ctx.clock.now() - Duration::days(RETENTION_DAYS);
    let r = webhook_delivery::Entity::delete_many()
        .filter(webhook_delivery::Column::CreatedAt.lt(before))
        .exec(&ctx.db)
        .await?;
    Ok(r.rows_affected)
}
