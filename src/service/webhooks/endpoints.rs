//! Webhook endpoints: a subscriber's own. A partner's `OWNER` manages its partner's; the vendor's
//! `OWNER` and `SERVICE_OPERATOR` manage the vendor's, and every role of the vendor reads them (docs/rules.md §1–2,
//! the vendor reads everything). Every other caller is `FORBIDDEN`; another subscriber's endpoint is
//! `NOT_FOUND`, like an id that does not exist. The signing secret is shown once, when created or
//! rotated.

use chrono::{DateTime, Duration, Utc};
use entity::webhook_endpoint;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, Set};
use uuid::Uuid;

use super::{secrets, urls};
use crate::auth::Scope;
use crate::db::begin_write;
use crate::domain::webhook::{join_event_types, parse_event_types};
use crate::domain::{OptionalText, Role};
use crate::error::{AppError, AppResult};
use crate::service::ServiceCtx;
use crate::service::{Page, PageArgs, new_id, paginate, subscribers};

/// The most endpoints one subscriber may have.
pub const MAX_ENDPOINTS: u64 = 20;
/// How long the secret a rotation replaced still signs.
pub const PREVIOUS_SECRET_HOURS: i64 = 24;

/// Whether the caller manages its subscriber's endpoints: a partner's or the vendor's `OWNER`, the
/// vendor's `SERVICE_OPERATOR`.
pub fn may_manage(p: Scope<'_>) -> AppResult<()> {
    let ok = (p.is_partner() && p.role == Role::Owner) || p.is_vendor_staff();
    p.require(ok, "manage webhook endpoints")
}

/// Whether the caller reads its subscriber's endpoints and deliveries: those who manage them, and
/// every role of the vendor.
pub fn may_read(p: Scope<'_>) -> AppResult<()> {
    if p.is_vendor() { Ok(()) } else { may_manage(p) }
}

/// One of the caller's subscriber's endpoints; anything else is `NOT_FOUND`.
pub async fn own<C: ConnectionTrait>(db: &C, p: Scope<'_>, id: Uuid) -> AppResult<webhook_endpoint::Model> {
    webhook_endpoint::Entity::find_by_id(id)
        .one(db)
        .await?
        .filter(|e| e.subscriber_id == p.subscriber_id)
        .ok_or(AppError::NotFound)
}

/// What an endpoint is set to (`WebhookEndpointInput`).
#[derive(Debug, Clone)]
pub struct EndpointInput {
    pub url: String,
    pub event_types: Vec<String>,
    pub description: Option<String>,
    pub enabled: bool,
}

struct Checked {
    url: String,
    event_types: String,
    description: Option<String>,
}

async fn check(ctx: &ServiceCtx, i: &EndpointInput) -> AppResult<Checked> {
    let types = parse_event_types(&i.event_types).map_err(AppError::input("eventTypes"))?;
    let description = OptionalText::parse(i.description.as_deref()).map_err(AppError::input("description"))?;
    let url = urls::check_endpoint_url(&i.url, ctx.config.webhook_allow_private).await?;
    Ok(Checked { url: url.to_string(), event_types: join_event_types(&types), description })
}

fn sealed(ctx: &ServiceCtx, id: Uuid, secret: &str) -> AppResult<String> {
    secrets::seal(&ctx.config.webhook_key, id, secret)
        .ok_or_else(|| AppError::Internal("could not encrypt a webhook secret".into()))
}

/// Registers an endpoint; returns it and its secret (shown this once).
#[tracing::instrument(level = "debug", skip_all, fields(caller = %p.subscriber_id))]
pub async fn create(ctx: &ServiceCtx, p: Scope<'_>, i: EndpointInput) -> AppResult<(webhook_endpoint::Model, String)> {
    may_manage(p)?;
    let c = check(ctx, &i).await?;
    let now = ctx.clock.now();
    let id = new_id();
    let secret = secrets::new_secret();
    let txn = begin_write(&ctx.db, &ctx.write_gate).await?;
    // Endpoints of one subscriber are created one at a time, so the limit holds under concurrency.
    subscribers::lock(&txn, p.subscriber_id).await?;
    let count = webhook_endpoint::Entity::find()
        .filter(webhook_endpoint::Column::SubscriberId.eq(p.subscriber_id))
        .count(&*txn)
        .await?;
    if count >= MAX_ENDPOINTS {
        return Err(AppError::conflict(
            "TOO_MANY_WEBHOOK_ENDPOINTS",
            format!("a subscriber has at most {MAX_ENDPOINTS} webhook endpoints"),
        ));
    }
    let ep = webhook_endpoint::ActiveModel {
        id: Set(id),
        subscriber_id: Set(p.subscriber_id),
        url: Set(c.url),
        description: Set(c.description),
        event_types: Set(c.event_types),
        enabled: Set(i.enabled),
        secret: Set(sealed(ctx, id, &secret)?),
        previous_secret: Set(None),
        previous_secret_until: Set(None),
        created_by: Set(p.user_id()),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&*txn)
    .await?;
    txn.commit().await?;
    Ok((ep, secret))
}

/// Replaces an endpoint's settings (its secret stays).
#[tracing::instrument(level = "debug", skip_all, fields(caller = %p.subscriber_id, id = %id))]
pub async fn update(ctx: &ServiceCtx, p: Scope<'_>, id: Uuid, i: EndpointInput) -> AppResult<webhook_endpoint::Model> {
    may_manage(p)?;
    own(&ctx.db, p, id).await?;
    let c = check(ctx, &i).await?;
    let txn = begin_write(&ctx.db, &ctx.write_gate).await?;
    let ep = own(&*txn, p, id).await?;
    let mut am: webhook_endpoint::ActiveModel = ep.into();
    am.url = Set(c.url);
    am.event_types = Set(c.event_types);
    am.description = Set(c.description);
    am.enabled = Set(i.enabled);
    am.updated_at = Set(ctx.clock.now());
    let ep = am.update(&*txn).await?;
    txn.commit().await?;
    Ok(ep)
}

/// Deletes an endpoint and its delivery log.
#[tracing::instrument(level = "debug", skip_all, fields(caller = %p.subscriber_id, id = %id))]
pub async fn delete(ctx: &ServiceCtx, p: Scope<'_>, id: Uuid) -> AppResult<Uuid> {
    may_manage(p)?;
    let txn = begin_write(&ctx.db, &ctx.write_gate).await?;
    let ep = own(&*txn, p, id).await?;
    webhook_endpoint::Entity::delete_by_id(ep.id).exec(&*txn).await?;
    txn.commit().await?;
    Ok(id)
}

/// A new secret; the one it replaces keeps signing (a second signature) for 24 hours, so a receiver can
/// switch without losing a message. A rotation within those hours drops the oldest.
#[tracing::instrument(level = "debug", skip_all, fields(caller = %p.subscriber_id, id = %id))]
pub async fn rotate(ctx: &ServiceCtx, p: Scope<'_>, id: Uuid) -> AppResult<(webhook_endpoint::Model, String)> {
    may_manage(p)?;
    let now = ctx.clock.now();
    let secret = secrets::new_secret();
    let txn = begin_write(&ctx.db, &ctx.write_gate).await?;
    let ep = own(&*txn, p, id).await?;
    let stored = sealed(ctx, ep.id, &secret)?;
    let mut am: webhook_endpoint::ActiveModel = ep.clone().into();
    am.previous_secret = Set(Some(ep.secret));
    am.previous_secret_until = Set(Some(now + Duration::hours(PREVIOUS_SECRET_HOURS)));
    am.secret = Set(stored);
    am.updated_at = Set(now);
    let ep = am.update(&*txn).await?;
    txn.commit().await?;
    Ok((ep, secret))
}

/// The caller's subscriber's endpoints, oldest first.
#[tracing::instrument(level = "debug", skip_all, fields(caller = %p.subscriber_id))]
pub async fn list(ctx: &ServiceCtx, p: Scope<'_>, page: PageArgs) -> AppResult<Page<webhook_endpoint::Model>> {
    may_read(p)?;
    let q = webhook_endpoint::Entity::find().filter(webhook_endpoint::Column::SubscriberId.eq(p.subscriber_id));
    paginate(&ctx.db, q, webhook_endpoint::Column::Id, page).await
}

/// The HMAC keys an attempt signs with now: the current secret's, then the previous one's while it is
/// still valid. None when the current secret does not open (the webhook key changed).
pub fn signing_keys(ctx: &ServiceCtx, ep: &webhook_endpoint::Model, now: DateTime<Utc>) -> Option<Vec<Vec<u8>>> {
    let key = &ctx.config.webhook_key;
    let mut keys = vec![secrets::open(key, ep.id, &ep.secret)?];
    if let (Some(prev), Some(until)) = (&ep.previous_secret, ep.previous_secret_until)
        && until > now
        && let Some(k) = secrets::open(key, ep.id, prev)
    {
        keys.push(k);
    }
    Some(keys)
}
