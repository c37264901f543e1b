//! Support codes [004]: a partner issues a code, the client's admin or owner activates it, and the
//! partner becomes the client's support line until the client switches back. And the public partner
//! directory [003]: partners with enough paying clients.

use chrono::Duration;
use entity::enums::SubscriptionBasis;
use entity::{subscriber, subscription, support_code};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait, Set};
use uuid::Uuid;

use super::{Page, PageArgs, hash_token, new_id, paginate};
use crate::auth::Scope;
use crate::db::begin_write;
use crate::domain::SubscriberKind;
use crate::error::{AppError, AppResult};
use crate::service::ServiceCtx;

/// Readable code alphabet: no 0/O, 1/I/L.
const ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";

fn new_code() -> String {
    let raw = super::random_code(ALPHABET, 12);
    format!("{}-{}-{}", &raw[0..4], &raw[4..8], &raw[8..12])
}

/// The stored form of a code: its hash after dropping dashes, spaces and case.
fn code_hash(code: &str) -> String {
    let normal: String = code.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_uppercase()).collect();
    hash_token(&normal)
}

fn invalid_code() -> AppError {
    AppError::bad_input("code", "SUPPORT_CODE_INVALID", "this support code is unknown, used, expired or not for you")
}

/// A partner's owner or operator issues a code, for one client (its id) or for whoever activates it
/// first. The code is shown once; only its hash is kept.
#[tracing::instrument(level = "debug", skip_all, fields(caller = %p.subscriber_id, client = ?client))]
pub async fn issue(ctx: &ServiceCtx, p: Scope<'_>, client: Option<Uuid>) -> AppResult<String> {
    p.require(p.serves_clients(), "issue support codes")?;
    if let Some(client) = client {
        p.named_client(&ctx.db, client).await?;
    }
    let now = ctx.clock.now();
    let code = new_code();
    support_code::ActiveModel {
        id: Set(new_id()),
        code: Set(code_hash(&code)),
        partner_id: Set(p.subscriber_id),
        client_id: Set(client),
        created_at: Set(now),
        expires_at: Set(now + Duration::days(i64::from(ctx.config.support_code_days))),
        activated_at: Set(None),
        activated_by_client: Set(None),
    }
    .insert(&ctx.db)
    .await?;
    Ok(code)
}

/// A client's admin or owner activates a code: its partner becomes the client's support line. A code
/// works once; an unknown, used, expired or someone else's code gets one answer.
#[tracing::instrument(level = "debug", skip_all, fields(caller = %p.subscriber_id))]
pub async fn activate(ctx: &ServiceCtx, p: Scope<'_>, code: &str) -> AppResult<subscriber::Model> {
    p.require(p.kind == SubscriberKind::Client && p.manages_own_members(), "activate support codes")?;
    if code.len() > 64 {
        return Err(invalid_code());
    }
    let now = ctx.clock.now();
    let txn = begin_write(&ctx.db, &ctx.write_gate).await?;
    let c = support_code::Entity::find()
        .filter(support_code::Column::Code.eq(code_hash(code)))
        .one(&*txn)
        .await?
        .filter(|c| c.activated_at.is_none() && c.expires_at > now)
        .filter(|c| c.client_id.is_none_or(|id| id == p.subscriber_id))
        .ok_or_else(invalid_code)?;
    // Compare-and-set: of two concurrent activations of one code, one wins.
    let used = support_code::Entity::update_many()
        .col_expr(support_code::Column::ActivatedAt, Expr::value(now))
        .col_expr(support_code::Column::ActivatedByClient, Expr::value(p.subscriber_id))
        .filter(support_code::Column::Id.eq(c.id))
        .filter(support_code::Column::ActivatedAt.is_null())
        .exec(&*txn)
        .await?;
    if used.rows_affected == 0 {
        return Err(invalid_code());
    }
    let client = set_support_line(&txn, p.subscriber_id, Some(c.partner_id), now).await?;
    txn.commit().await?;
    Ok(client)
}

/// The client switches back: no partner is its support line any more.
#[tracing::instrument(level = "debug", skip_all, fields(caller = %p.subscriber_id))]
pub async fn end(ctx: &ServiceCtx, p: Scope<'_>) -> AppResult<subscriber::Model> {
    p.require(p.kind == SubscriberKind::Client && p.manages_own_members(), "change the support line")?;
    let now = ctx.clock.now();
    let txn = begin_write(&ctx.db, &ctx.write_gate).await?;
    let client = set_support_line(&txn, p.subscriber_id, None, now).await?;
    txn.commit().await?;
    Ok(client)
}

async fn set_support_line(
    txn: &crate::db::WriteTxn,
    client: Uuid,
    partner: Option<Uuid>,
    now: chrono::DateTime<chrono::Utc>,
) -> AppResult<subscriber::Model> {
    let s = subscriber::Entity::find_by_id(client).one(&**txn).await?.ok_or(AppError::NotFound)?;
    let mut am: subscriber::ActiveModel = s.into();
    am.support_partner_id = Set(partner);
    am.updated_at = Set(now);
    Ok(am.update(&**txn).await?)
}

/// The clients whose support line the caller's partner is.
#[tracing::instrument(level = "debug", skip_all, fields(caller = %p.subscriber_id))]
pub async fn supported_clients(ctx: &ServiceCtx, p: Scope<'_>, page: PageArgs) -> AppResult<Page<subscriber::Model>> {
    p.require(p.serves_clients(), "list supported clients")?;
    let q = subscriber::Entity::find()
        .filter(subscriber::Column::Kind.eq(SubscriberKind::Client))
        .filter(subscriber::Column::SupportPartnerId.eq(p.subscriber_id));
    paginate(&ctx.db, q, subscriber::Column::Id, page).await
}

/// Partners with at least the configured number of paying clients (an active paid subscription now),
/// by name. Public.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn directory(ctx: &ServiceCtx) -> AppResult<Vec<subscriber::Model>> {
    let now = ctx.clock.now();
    let paying = subscription::Entity::find()
        .select_only()
        .column(subscription::Column::SubscriberId)
        .filter(subscription::Column::Basis.eq(SubscriptionBasis::Paid))
        .filter(subscription::Column::CancelledAt.is_null())
        .filter(subscription::Column::StartsAt.lte(now))
        .filter(subscription::Column::EndsAt.gt(now))
        .into_query();
    let partners: Vec<(Option<Uuid>, i64)> = subscriber::Entity::find()
        .select_only()
        .column(subscriber::Column::ServingPartnerId)
        .column_as(subscriber::Column::Id.count(), "clients")
        .filter(subscriber::Column::Kind.eq(SubscriberKind::Client))
        .filter(subscriber::Column::ServingPartnerId.is_not_null())
        .filter(subscriber::Column::Id.in_subquery(paying))
        .group_by(subscriber::Column::ServingPartnerId)
        .having(subscriber::Column::Id.count().gte(i64::from(ctx.config.directory_min_clients)))
        .into_tuple()
        .all(&ctx.db)
        .await?;
    let ids: Vec<Uuid> = partners.into_iter().filter_map(|(p, _)| p).collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(subscriber::Entity::find()
        .filter(subscriber::Column::Kind.eq(SubscriberKind::Partner))
        .filter(subscriber::Column::Id.is_in(ids))
        .order_by_asc(subscriber::Column::Name)
        .order_by_asc(subscriber::Column::Id)
        .all(&ctx.db)
        .await?)
}
