//! The stop-list: a partner locks a prospective client by INN for three calendar months from the
//! vendor's approval. At most one active lock per INN, held by a partial unique index; a request for an
//! INN another partner holds is `CONFLICT` and names no one.

use chrono::{DateTime, Utc};
use entity::enums::StopListStatus;
use entity::stop_list_entry;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use uuid::Uuid;

use super::{Page, PageArgs, new_id, paginate};
use crate::auth::Scope;
use crate::db::{WriteTxn, begin_write};
use crate::domain::stoplist::{LOCK_MONTHS, lock_end, status_at};
use crate::domain::{Inn, OptionalText};
use crate::error::{AppError, AppResult};
use crate::service::ServiceCtx;

fn taken() -> AppError {
    AppError::conflict("ALREADY_LOCKED", "this INN is on the stop-list")
}

/// The approved, unexpired lock on an INN, if any.
pub async fn active_lock<C: ConnectionTrait>(
    db: &C,
    inn: &str,
    now: DateTime<Utc>,
) -> AppResult<Option<stop_list_entry::Model>> {
    Ok(stop_list_entry::Entity::find()
        .filter(stop_list_entry::Column::Inn.eq(inn))
        .filter(stop_list_entry::Column::Status.eq(StopListStatus::Approved))
        .filter(stop_list_entry::Column::ExpiresAt.gt(now))
        .one(db)
        .await?)
}

/// Whether `partner` holds the active lock on `inn`.
pub async fn holds_lock<C: ConnectionTrait>(
    db: &C,
    partner: Uuid,
    inn: Option<&str>,
    now: DateTime<Utc>,
) -> AppResult<bool> {
    Ok(match inn {
        Some(inn) => active_lock(db, inn, now).await?.is_some_and(|l| l.partner_id == partner),
        None => false,
    })
}

/// Marks approved locks on `inn` that are past their date as expired, freeing the one-lock slot.
async fn expire_stale(txn: &WriteTxn, inn: &str, now: DateTime<Utc>) -> AppResult<()> {
    stop_list_entry::Entity::update_many()
        .col_expr(stop_list_entry::Column::Status, Expr::value(StopListStatus::Expired))
        .filter(stop_list_entry::Column::Inn.eq(inn))
        .filter(stop_list_entry::Column::Status.eq(StopListStatus::Approved))
        .filter(stop_list_entry::Column::ExpiresAt.lte(now))
        .exec(txn)
        .await?;
    Ok(())
}

/// A partner asks to lock a prospective client by INN.
#[tracing::instrument(level = "debug", skip_all, fields(caller = %p.subscriber_id))]
pub async fn request(
    ctx: &ServiceCtx,
    p: Scope<'_>,
    inn: &str,
    comment: Option<&str>,
) -> AppResult<stop_list_entry::Model> {
    p.require(p.serves_clients(), "request stop-list locks")?;
    let inn = Inn::parse(inn).map_err(AppError::input("inn"))?.into_string();
    let comment = OptionalText::parse(comment).map_err(AppError::input("comment"))?;
    let now = ctx.clock.now();
    let txn = begin_write(&ctx.db, &ctx.write_gate).await?;
    if let Some(lock) = active_lock(&txn, &inn, now).await? {
        // The same answer whoever holds it; the holder is told it already has it.
        return Err(if lock.partner_id == p.subscriber_id {
            AppError::conflict("ALREADY_LOCKED", "you already hold the lock on this INN")
        } else {
            taken()
        });
    }
    let entry = stop_list_entry::ActiveModel {
        id: Set(new_id()),
        inn: Set(inn),
        partner_id: Set(p.subscriber_id),
        status: Set(StopListStatus::Requested),
        comment: Set(comment),
        reason: Set(None),
        requested_at: Set(now),
        decided_at: Set(None),
        expires_at: Set(None),
        decided_by: Set(None),
    }
    .insert(&txn)
    .await
    .map_err(AppError::on_unique("inn", "ALREADY_REQUESTED", "you already have a pending request for this INN"))?;
    txn.commit().await?;
    Ok(entry)
}

/// The vendor approves (the lock runs 3 calendar months from now) or rejects with a reason. The decision
/// is one conditional update of a `REQUESTED` entry: of concurrent decisions exactly one changes the row,
/// the others find it decided (`ALREADY_DECIDED`).
#[tracing::instrument(level = "debug", skip_all, fields(caller = %p.subscriber_id, id = %id))]
pub async fn decide(
    ctx: &ServiceCtx,
    p: Scope<'_>,
    id: Uuid,
    approve: bool,
    reason: Option<&str>,
) -> AppResult<stop_list_entry::Model> {
    p.require(p.is_vendor_staff(), "decide stop-list requests")?;
    let reason = OptionalText::parse(reason).map_err(AppError::input("reason"))?;
    let now = ctx.clock.now();
    let txn = begin_write(&ctx.db, &ctx.write_gate).await?;
    let entry = stop_list_entry::Entity::find_by_id(id).one(&txn).await?.ok_or(AppError::NotFound)?;
    let already = || AppError::conflict("ALREADY_DECIDED", "this request was already decided");
    if entry.status != StopListStatus::Requested {
        return Err(already());
    }
    let mut update = stop_list_entry::Entity::update_many()
        .col_expr(stop_list_entry::Column::DecidedAt, Expr::value(now))
        .col_expr(stop_list_entry::Column::DecidedBy, Expr::value(p.responsible_user()))
        .col_expr(stop_list_entry::Column::Reason, Expr::value(reason));
    if approve {
        expire_stale(&txn, &entry.inn, now).await?;
        update = update
            .col_expr(stop_list_entry::Column::Status, Expr::value(StopListStatus::Approved))
            .col_expr(stop_list_entry::Column::ExpiresAt, Expr::value(lock_end(now, LOCK_MONTHS)));
    } else {
        update = update.col_expr(stop_list_entry::Column::Status, Expr::value(StopListStatus::Rejected));
    }
    // The partial unique index makes a second concurrent approval for the INN fail here.
    let done = update
        .filter(stop_list_entry::Column::Id.eq(id))
        .filter(stop_list_entry::Column::Status.eq(StopListStatus::Requested))
        .exec(&txn)
        .await
        .map_err(AppError::on_unique("id", "ALREADY_LOCKED", "another lock on this INN is active"))?;
    if done.rows_affected != 1 {
        return Err(already());
    }
    let entry = stop_list_entry::Entity::find_by_id(id).one(&txn).await?.ok_or(AppError::NotFound)?;
    super::webhooks::queue(&*txn, [super::webhooks::Event::stop_list_decided(&entry, now)]).await?;
    txn.commit().await?;
    let verdict = if approve { "approved" } else { "rejected" };
    let event = crate::events::PartnerEvent::new(
        crate::events::PartnerEventKind::StopListDecided,
        entry.partner_id,
        entry.id,
        format!("the stop-list request for INN {} was {verdict}", entry.inn),
        now,
    );
    ctx.events.publish(&ctx.db, vec![event]).await;
    Ok(entry)
}

/// The vendor extends an active lock, counting from its current expiry. The extension is one update
/// conditional on the expiry it counted from: of two concurrent extensions that read the same expiry
/// one applies and the other is refused (`LOCK_CHANGED`), so every extension that answers OK moved
/// the lock by its months.
#[tracing::instrument(level = "debug", skip_all, fields(caller = %p.subscriber_id, id = %id))]
pub async fn extend(ctx: &ServiceCtx, p: Scope<'_>, id: Uuid, months: i32) -> AppResult<stop_list_entry::Model> {
    p.require(p.is_vendor_staff(), "extend stop-list locks")?;
    if !(1..=24).contains(&months) {
        return Err(AppError::bad_input("months", "OUT_OF_RANGE", "months: 1 to 24"));
    }
    let now = ctx.clock.now();
    let txn = begin_write(&ctx.db, &ctx.write_gate).await?;
    let entry = stop_list_entry::Entity::find_by_id(id).one(&txn).await?.ok_or(AppError::NotFound)?;
    let expires = match (status_at(entry.status, entry.expires_at, now), entry.expires_at) {
        (StopListStatus::Approved, Some(e)) => e,
        _ => return Err(AppError::conflict("LOCK_NOT_ACTIVE", "only an active lock can be extended")),
    };
    let done = stop_list_entry::Entity::update_many()
        .col_expr(stop_list_entry::Column::ExpiresAt, Expr::value(lock_end(expires, months as u32)))
        .filter(stop_list_entry::Column::Id.eq(id))
        .filter(stop_list_entry::Column::Status.eq(StopListStatus::Approved))
        .filter(stop_list_entry::Column::ExpiresAt.eq(expires))
        .exec(&txn)
        .await?;
    if done.rows_affected != 1 {
        return Err(AppError::conflict(
            "LOCK_CHANGED",
            "the lock changed while this extension ran (another extension, or it ended); read it again",
        ));
    }
    let entry = stop_list_entry::Entity::find_by_id(id).one(&txn).await?.ok_or(AppError::NotFound)?;
    txn.commit().await?;
    Ok(entry)
}

/// The vendor sees every entry; a partner's operators and owner see their own.
#[tracing::instrument(level = "debug", skip_all, fields(caller = %p.subscriber_id))]
pub async fn list(
    ctx: &ServiceCtx,
    p: Scope<'_>,
    inn: Option<&str>,
    status: Option<StopListStatus>,
    page: PageArgs,
) -> AppResult<Page<stop_list_entry::Model>> {
    let mut q = stop_list_entry::Entity::find();
    if !p.is_vendor() {
        p.require(p.serves_clients(), "read the stop-list")?;
        q = q.filter(stop_list_entry::Column::PartnerId.eq(p.subscriber_id));
    }
    if let Some(inn) = inn {
        q = q.filter(stop_list_entry::Column::Inn.eq(Inn::parse(inn).map_err(AppError::input("inn"))?.into_string()));
    }
    let now = ctx.clock.now();
    q = match status {
        None => q,
        Some(StopListStatus::Approved) => q
            .filter(stop_list_entry::Column::Status.eq(StopListStatus::Approved))
            .filter(stop_list_entry::Column::ExpiresAt.gt(now)),
        Some(StopListStatus::Expired) => q.filter(
            sea_orm::Condition::any().add(stop_list_entry::Column::Status.eq(StopListStatus::Expired)).add(
                sea_orm::Condition::all()
                    .add(stop_list_entry::Column::Status.eq(StopListStatus::Approved))
                    .add(stop_list_entry::Column::ExpiresAt.lte(now)),
            ),
        ),
        Some(s) => q.filter(stop_list_entry::Column::Status.eq(s)),
    };
    paginate(&ctx.db, q, stop_list_entry::Column::Id, page).await
}
