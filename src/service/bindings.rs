//! Binding clients to partners by the precedence of docs/rules.md §8 (`domain::binding`), with the history, and
//! the quote that explains what an action would do.

use chrono::{DateTime, Utc};
use entity::enums::SubscriptionBasis;
use entity::{subscriber, subscription, tariff};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::subscribers::{self, BindingNote, bind};
use crate::auth::Scope;
use crate::db::{WriteTxn, begin_write};
use crate::domain::binding::{BindingDecision, decide_binding, explain_binding};
use crate::domain::{BindingSource, OptionalText, SubscriberKind};
use crate::error::{AppError, AppResult};
use crate::service::ServiceCtx;

/// Applies a binding action inside a transaction; returns the client as it is after, and whether it
/// changed hands.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn apply(
    txn: &WriteTxn,
    client: subscriber::Model,
    partner: Uuid,
    source: BindingSource,
    upgrade: bool,
    note: BindingNote,
    now: DateTime<Utc>,
) -> AppResult<(subscriber::Model, bool)> {
    let decision = decide_binding(source, client.serving_partner_id.as_ref(), &partner, upgrade);
    if !decision.changes() {
        return Ok((client, false));
    }
    let client = bind(txn, &client, Some(partner), source, note, now).await?;
    Ok((client, true))
}

/// Whether a payment of `tariff` moves the client from free to paid or to a higher tariff: it has no
/// active paid subscription, or the new tariff's monthly price is higher than its current paid one's.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn is_upgrade<C: ConnectionTrait>(
    db: &C,
    client: Uuid,
    tariff: &tariff::Model,
    now: DateTime<Utc>,
) -> AppResult<bool> {
    let paid = subscription::Entity::find()
        .filter(subscription::Column::SubscriberId.eq(client))
        .filter(subscription::Column::Basis.eq(SubscriptionBasis::Paid))
        .filter(subscription::Column::CancelledAt.is_null())
        .filter(subscription::Column::EndsAt.gt(now))
        .all(db)
        .await?;
    if paid.is_empty() {
        return Ok(true);
    }
    let ids: Vec<Uuid> = paid.iter().map(|s| s.tariff_id).collect();
    let top = tariff::Entity::find()
        .filter(tariff::Column::Id.is_in(ids))
        .all(db)
        .await?
        .into_iter()
        .map(|t| t.monthly_price_minor)
        .max()
        .unwrap_or(0);
    Ok(tariff.monthly_price_minor > top)
}

/// Would this action bind the client to this partner, and why.
#[tracing::instrument(level = "debug", skip_all, fields(caller = %p.subscriber_id, client = %client, partner = %partner))]
pub async fn quote(
    ctx: &ServiceCtx,
    p: Scope<'_>,
    client: Uuid,
    source: BindingSource,
    partner: Uuid,
) -> AppResult<(BindingDecision, String)> {
    if !p.is_vendor() {
        p.require(p.serves_clients(), "ask about bindings")?;
        if partner != p.subscriber_id {
            return Err(AppError::NotFound);
        }
    }
    // Reach first: another partner's client is `NOT_FOUND`, the same answer as an id that does not exist.
    let c = p.client(&ctx.db, client).await?;
    let target = subscribers::load(&ctx.db, partner).await?;
    if target.kind != SubscriberKind::Partner {
        return Err(AppError::NotFound);
    }
    // For a discount code the answer depends on the payment; assume it is an upgrade and say so.
    let decision = decide_binding(source, c.serving_partner_id.as_ref(), &partner, true);
    let mut text = explain_binding(source, decision);
    if source == BindingSource::DiscountPromo && decision.changes() {
        text.push_str(" (Only if the payment moves the client from free to paid or to a higher tariff.)");
    }
    Ok((decision, text))
}

/// The vendor's staff bind a client to a partner, move it to another, or unbind it (`partner` None),
/// with a reason (required, at most 500 characters): source `VENDOR_ASSIGNED`, `by` the caller. The way
/// out of `unboundClients`. A client that a partner gets this way has a welcome call to make. Asking for
/// what already holds (the same partner, or unbinding an unbound client) changes nothing and records
/// nothing.
#[tracing::instrument(level = "debug", skip_all, fields(caller = %p.subscriber_id, client = %client, partner = ?partner))]
pub async fn assign(
    ctx: &ServiceCtx,
    p: Scope<'_>,
    client: Uuid,
    partner: Option<Uuid>,
    reason: &str,
) -> AppResult<subscriber::Model> {
    p.require(p.is_vendor_staff(), "assign clients to partners")?;
    let reason = OptionalText::parse(Some(reason))
        .map_err(AppError::input("reason"))?
        .ok_or_else(|| AppError::bad_input("reason", "EMPTY", "reason: say why the client is assigned"))?;
    let txn = begin_write(&ctx.db, &ctx.write_gate).await?;
    // The client's row first: concurrent assignments (or a payment rebinding it) take turns, and each
    // records the change from what the one before it left.
    p.client(&*txn, client).await?;
    subscribers::lock(&txn, client).await?;
    // Read under the lock, so that the history (ordered by time) lists the changes in the order they
    // took turns: a time read before waiting could be earlier than the change it waited for.
    let now = ctx.clock.now();
    let c = p.client(&*txn, client).await?;
    if let Some(partner) = partner {
        let target = subscriber::Entity::find_by_id(partner).one(&*txn).await?;
        if target.is_none_or(|t| t.kind != SubscriberKind::Partner) {
            return Err(AppError::bad_input("partnerId", "NOT_A_PARTNER", "partnerId: no such partner"));
        }
    }
    if c.serving_partner_id == partner {
        return Ok(c);
    }
    let c = bind(&txn, &c, partner, BindingSource::VendorAssigned, BindingNote::by(p.responsible_user(), reason), now)
        .await?;
    if let Some(partner) = partner {
        super::tasks::welcome_call(&*txn, partner, c.id, now).await?;
    }
    txn.commit().await?;
    Ok(c)
}
