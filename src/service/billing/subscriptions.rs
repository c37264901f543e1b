//! Subscriptions without payment: trials, ITS PROF and the free Partner tariff; cancellation; the Partner
//! tariff following its contract.

use chrono::{DateTime, Duration, Months, Utc};
use entity::{subscriber, subscription, tariff};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder, Set,
};
use uuid::Uuid;

use super::{may_sell, offered, tariff_input};
use crate::auth::{Reach, Scope};
use crate::db::begin_write;
use crate::domain::subscription::{ChurnReason, SubscriptionBasis, SubscriptionStatus};
use crate::domain::webhook::EventType;
use crate::domain::{LocalTime, OptionalText, Role, SubscriberKind};
use crate::error::{AppError, AppResult, UniqueIndex};
use crate::service::ServiceCtx;
use crate::service::new_id;
use crate::service::webhooks::{self, Event};
use crate::service::{subscribers, tasks};

pub async fn subscriptions_of<C: ConnectionTrait>(db: &C, subscriber: Uuid) -> AppResult<Vec<subscription::Model>> {
    Ok(subscription::Entity::find()
        .filter(subscription::Column::SubscriberId.eq(subscriber))
        .order_by_asc(subscription::Column::Id)
        .all(db)
        .await?)
}

/// The subscriber's current (not cancelled, not ended) subscription of a tariff, if any.
pub(super) async fn live_subscription<C: ConnectionTrait>(
    db: &C,
    subscriber: Uuid,
    tariff: Uuid,
    now: DateTime<Utc>,
) -> AppResult<Option<subscription::Model>> {
    Ok(subscription::Entity::find()
        .filter(subscription::Column::SubscriberId.eq(subscriber))
        .filter(subscription::Column::TariffId.eq(tariff))
        .filter(subscription::Column::CancelledAt.is_null())
        .filter(subscription::Column::EndsAt.gt(now))
        .order_by_desc(subscription::Column::EndsAt)
        .one(db)
        .await?)
}

pub(super) async fn insert_subscription(
    txn: &DatabaseTransaction,
    subscriber: Uuid,
    tariff: Uuid,
    basis: SubscriptionBasis,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
) -> AppResult<subscription::Model> {
    subscription::ActiveModel {
        id: Set(new_id()),
        subscriber_id: Set(subscriber),
        tariff_id: Set(tariff),
        basis: Set(basis),
        starts_at: Set(starts_at),
        ends_at: Set(ends_at),
        cancelled_at: Set(None),
        churn_reason: Set(None),
        churn_comment: Set(None),
        created_at: Set(starts_at),
    }
    .insert(txn)
    .await
    .map_err(ONE_TRIAL_INDEX.or_internal(|| {
        AppError::conflict_on("tariffId", "TRIAL_USED", "this subscriber has already had a trial of this tariff")
    }))
}

/// One trial per subscriber and tariff, ever (`m20261122_000002_commerce`).
const ONE_TRIAL_INDEX: UniqueIndex = UniqueIndex {
    name: "ux_subscriptions_one_trial",
    table: "subscriptions",
    columns: &["subscriber_id", "tariff_id"],
};

/// Starts a trial of a tariff (once per subscriber and tariff, ever).
#[tracing::instrument(level = "debug", skip_all, fields(caller = %p.subscriber_id, subscriber = %subscriber, tariff = %tariff))]
pub async fn start_trial(
    ctx: &ServiceCtx,
    p: Scope<'_>,
    subscriber: Uuid,
    tariff: Uuid,
) -> AppResult<subscription::Model> {
    let now = ctx.clock.now();
    let txn = begin_write(&ctx.db, &ctx.write_gate).await?;
    let (s, r) = p.subscriber(&txn, subscriber).await?;
    p.require(p.may_administer(r, true), "manage this subscriber's subscriptions")?;
    subscribers::lock(&txn, s.id).await?;
    let t = tariff_input(&txn, tariff).await?;
    offered(&t, &s)?;
    if r == Reach::Client {
        may_sell(&txn, p.subscriber_id, &s, &t, now).await?;
    }
    if t.trial_days <= 0 {
        return Err(AppError::bad_input("tariffId", "NO_TRIAL", "tariffId: this tariff has no trial"));
    }
    if live_subscription(&txn, s.id, t.id, now).await?.is_some() {
        return Err(AppError::conflict("ALREADY_SUBSCRIBED", "this subscriber already has this tariff"));
    }
    let sub =
        insert_subscription(&txn, s.id, t.id, SubscriptionBasis::Trial, now, now + Duration::days(t.trial_days.into()))
            .await?;
    webhooks::queue(&*txn, [Event::subscription(EventType::SubscriptionStarted, &sub, &s, now)]).await?;
    if let Some(partner) = s.serving_partner_id {
        tasks::plan_trial_calls(&*txn, partner, &sub, now).await?;
    }
    txn.commit().await?;
    Ok(sub)
}

/// A subscription without payment: `ITS_PROF` for a client with an ITS PROF contract (12 months, set by
/// its partner or the vendor), `PARTNER_FREE` for a partner with an active contract (until it ends).
#[tracing::instrument(level = "debug", skip_all, fields(caller = %p.subscriber_id, subscriber = %subscriber, tariff = %tariff))]
pub async fn create_subscription(
    ctx: &ServiceCtx,
    p: Scope<'_>,
    subscriber: Uuid,
    tariff: Uuid,
    basis: SubscriptionBasis,
) -> AppResult<subscription::Model> {
    let now = ctx.clock.now();
    let txn = begin_write(&ctx.db, &ctx.write_gate).await?;
    let (s, r) = p.subscriber(&txn, subscriber).await?;
    // Who may grant which basis, before anything is locked or loaded for it.
    match basis {
        SubscriptionBasis::ItsProf => {
            p.require(matches!(r, Reach::Client) || p.is_vendor_staff(), "confirm ITS PROF contracts")?
        }
        SubscriptionBasis::PartnerFree => p.require(
            (r == Reach::Own && p.role == Role::Owner) || (r == Reach::Vendor && p.is_vendor_staff()),
            "take the Partner tariff",
        )?,
        SubscriptionBasis::Trial | SubscriptionBasis::Paid => {
            return Err(AppError::bad_input(
                "basis",
                "BASIS_NOT_ALLOWED",
                "basis: use startTrial for trials; paid subscriptions come from payments",
            ));
        }
    }
    subscribers::lock(&txn, s.id).await?;
    let t = tariff_input(&txn, tariff).await?;
    let ends_at = if basis == SubscriptionBasis::ItsProf {
        its_prof_ends(&txn, p, (&s, r), &t, now).await?
    } else {
        partner_free_ends(&txn, &s, &t, ctx.config.local, now).await?
    };
    if live_subscription(&txn, s.id, t.id, now).await?.is_some() {
        return Err(AppError::conflict("ALREADY_SUBSCRIBED", "this subscriber already has this tariff"));
    }
    let sub = insert_subscription(&txn, s.id, t.id, basis, now, ends_at).await?;
    webhooks::queue(&*txn, [Event::subscription(EventType::SubscriptionStarted, &sub, &s, now)]).await?;
    txn.commit().await?;
    Ok(sub)
}

/// An ITS PROF subscription is for a client, runs 12 months, and is what its partner may sell.
async fn its_prof_ends<C: ConnectionTrait>(
    db: &C,
    p: Scope<'_>,
    (s, r): (&subscriber::Model, Reach),
    t: &tariff::Model,
    now: DateTime<Utc>,
) -> AppResult<DateTime<Utc>> {
    if s.kind != SubscriberKind::Client {
        return Err(AppError::bad_input("subscriberId", "NOT_A_CLIENT", "subscriberId: ITS PROF is for clients"));
    }
    offered(t, s)?;
    if r == Reach::Client {
        may_sell(db, p.subscriber_id, s, t, now).await?;
    }
    Ok(now.checked_add_months(Months::new(12)).unwrap_or(now))
}

/// The free Partner tariff is for a partner with an active contract, until the end of the contract's last
/// day (local time); it follows the contract after that (`subscribers::update_partner_profile`).
async fn partner_free_ends<C: ConnectionTrait>(
    db: &C,
    s: &subscriber::Model,
    t: &tariff::Model,
    local: LocalTime,
    now: DateTime<Utc>,
) -> AppResult<DateTime<Utc>> {
    if s.kind != SubscriberKind::Partner {
        return Err(AppError::bad_input(
            "subscriberId",
            "NOT_A_PARTNER",
            "subscriberId: the Partner tariff is for partners",
        ));
    }
    if !(t.partner_only && t.monthly_price_minor == 0) {
        return Err(AppError::bad_input("tariffId", "NOT_PARTNER_TARIFF", "tariffId: not the free Partner tariff"));
    }
    offered(t, s)?;
    let until = subscribers::partner_profile(db, s.id).await?.and_then(|pp| pp.contract_until);
    match until {
        Some(d) if d >= local.date(now) => Ok(local.day_end(d)),
        _ => Err(AppError::conflict("CONTRACT_NOT_ACTIVE", "the partner's contract is not active")),
    }
}

/// The free Partner tariff follows the partner contract (docs/rules.md §1–2): when `contractUntil` changes, the
/// partner's `PARTNER_FREE` subscriptions that follow it — not cancelled, and still running, or ended
/// exactly when the old contract did — end at the end of the new contract's last day (local time), which
/// extends them, revives one that lapsed with the contract, or ends them at a date already past; a
/// contract cleared ends the running ones now. Runs in the profile change's transaction.
pub async fn follow_contract(
    txn: &DatabaseTransaction,
    partner: Uuid,
    old: Option<chrono::NaiveDate>,
    new: Option<chrono::NaiveDate>,
    local: LocalTime,
    now: DateTime<Utc>,
) -> AppResult<u64> {
    if old == new {
        return Ok(0);
    }
    let mut following = sea_orm::Condition::any().add(subscription::Column::EndsAt.gt(now));
    let ends = match new {
        Some(d) => {
            if let Some(old) = old {
                following = following.add(subscription::Column::EndsAt.eq(local.day_end(old)));
            }
            local.day_end(d)
        }
        None => now,
    };
    let r = subscription::Entity::update_many()
        .col_expr(subscription::Column::EndsAt, sea_orm::sea_query::Expr::value(ends))
        .filter(subscription::Column::SubscriberId.eq(partner))
        .filter(subscription::Column::Basis.eq(SubscriptionBasis::PartnerFree))
        .filter(subscription::Column::CancelledAt.is_null())
        .filter(following)
        .exec(txn)
        .await?;
    Ok(r.rows_affected)
}

/// Cancels a subscription; a trial needs a churn reason.
#[tracing::instrument(level = "debug", skip_all, fields(caller = %p.subscriber_id, id = %id))]
pub async fn cancel(
    ctx: &ServiceCtx,
    p: Scope<'_>,
    id: Uuid,
    reason: Option<ChurnReason>,
    comment: Option<&str>,
) -> AppResult<subscription::Model> {
    let comment = OptionalText::parse(comment).map_err(AppError::input("comment"))?;
    let now = ctx.clock.now();
    let txn = begin_write(&ctx.db, &ctx.write_gate).await?;
    let sub = subscription::Entity::find_by_id(id).one(&txn).await?.ok_or(AppError::NotFound)?;
    let (owner, r) = p.subscriber(&txn, sub.subscriber_id).await?;
    p.require(p.may_administer(r, true), "cancel this subscription")?;
    if sub.cancelled_at.is_some() {
        return Err(AppError::conflict("ALREADY_CANCELLED", "this subscription is already cancelled"));
    }
    if sub.basis == SubscriptionBasis::Trial && reason.is_none() {
        return Err(AppError::bad_input(
            "reason",
            "CHURN_REASON_REQUIRED",
            "reason: say why the client leaves after its trial",
        ));
    }
    // Conditional on still being live: of concurrent cancellations one wins, the others are told.
    let done = subscription::Entity::update_many()
        .col_expr(subscription::Column::CancelledAt, sea_orm::sea_query::Expr::value(now))
        .col_expr(subscription::Column::ChurnReason, sea_orm::sea_query::Expr::value(reason))
        .col_expr(subscription::Column::ChurnComment, sea_orm::sea_query::Expr::value(comment))
        .filter(subscription::Column::Id.eq(id))
        .filter(subscription::Column::CancelledAt.is_null())
        .exec(&txn)
        .await?;
    if done.rows_affected != 1 {
        return Err(AppError::conflict("ALREADY_CANCELLED", "this subscription is already cancelled"));
    }
    let sub = subscription::Entity::find_by_id(id).one(&txn).await?.ok_or(AppError::NotFound)?;
    webhooks::queue(&*txn, [Event::subscription(EventType::SubscriptionCancelled, &sub, &owner, now)]).await?;
    txn.commit().await?;
    Ok(sub)
}

pub fn status(sub: &subscription::Model, now: DateTime<Utc>) -> SubscriptionStatus {
    SubscriptionStatus::at(sub.basis, sub.ends_at, sub.cancelled_at, now)
}
