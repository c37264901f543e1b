//! Binding clients to partners by the precedence of SPEC §7 (`domain::binding`), with the history, and
//! the quote that explains what an action would do.

use chrono::{DateTime, Utc};
use entity::{subscriber, subscription, tariff};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::subscribers::{self, bind};
use crate::app::AppState;
use crate::auth::Scope;
use crate::db::WriteTxn;
use crate::domain::BindingSource;
use crate::domain::binding::{BindingDecision, decide_binding, explain_binding};
use crate::error::{AppError, AppResult};

/// Applies a binding action inside a transaction; returns the client as it is after, and whether it
/// changed hands.
pub async fn apply(
    txn: &WriteTxn,
    client: subscriber::Model,
    partner: Uuid,
    source: BindingSource,
    upgrade: bool,
    actor: Option<Uuid>,
    now: DateTime<Utc>,
) -> AppResult<(subscriber::Model, bool)> {
    let decision = decide_binding(source, client.serving_partner_id.as_ref(), &partner, upgrade);
    if !decision.changes() {
        return Ok((client, false));
    }
    let client = bind(txn, &client, Some(partner), source, actor, now).await?;
    Ok((client, true))
}

/// Whether a payment of `tariff` moves the client from free to paid or to a higher tariff: it has no
/// active paid subscription, or the new tariff's monthly price is higher than its current paid one's.
pub async fn is_upgrade<C: ConnectionTrait>(
    db: &C,
    client: Uuid,
    tariff: &tariff::Model,
    now: DateTime<Utc>,
) -> AppResult<bool> {
    let paid = subscription::Entity::find()
        .filter(subscription::Column::SubscriberId.eq(client))
        .filter(subscription::Column::Basis.eq("PAID"))
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
pub async fn quote(
    state: &AppState,
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
    let c = p.client(&state.db, client).await?;
    let target = subscribers::load(&state.db, partner).await?;
    if target.kind != "PARTNER" {
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
