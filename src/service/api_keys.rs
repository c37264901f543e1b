//! API keys (docs/rules.md §12): a subscriber's `OWNER` creates named keys that act in the subscriber with a
//! chosen role, lists them and revokes them. The edge's side (the secret, its check, `lastUsedAt`) is
//! `auth::api_key`.

use chrono::{DateTime, Utc};
use entity::api_key;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter, Set};
use uuid::Uuid;

use super::{Page, PageArgs, new_id, paginate};
use crate::auth::Scope;
use crate::auth::api_key::new_secret;
use crate::db::begin_write;
use crate::domain::role::allowed_in;
use crate::domain::{Name, Role};
use crate::error::{AppError, AppResult};
use crate::service::ServiceCtx;

/// The most keys a subscriber may hold at once (not revoked, not expired).
pub const MAX_LIVE_KEYS: u64 = 100;

/// A key to create, parsed.
pub struct NewApiKey {
    pub name: Name,
    pub role: Role,
    pub expires_at: Option<DateTime<Utc>>,
}

/// Keys are managed by a person who owns the subscriber; a key never manages keys (not even a key's
/// own revocation: whoever holds a leaked secret must not be able to hide it).
fn require_manager(p: Scope<'_>) -> AppResult<Uuid> {
    let user = p.require_person("manage API keys")?;
    p.require(p.role == Role::Owner, "manage API keys")?;
    Ok(user)
}

/// Creates a key in the caller's subscriber; returns it with its secret, which is shown only this once.
#[tracing::instrument(level = "debug", skip_all, fields(caller = %p.subscriber_id))]
pub async fn create(ctx: &ServiceCtx, p: Scope<'_>, new: NewApiKey) -> AppResult<(api_key::Model, String)> {
    let user = require_manager(p)?;
    if new.role == Role::Owner || !allowed_in(new.role, p.kind) {
        return Err(AppError::bad_input(
            "role",
            "ROLE_NOT_ALLOWED",
            format!("role: an API key of a {} subscriber may not be {}", p.kind, new.role),
        ));
    }
    let now = ctx.clock.now();
    if new.expires_at.is_some_and(|t| t <= now) {
        return Err(AppError::bad_input("expiresAt", "EXPIRES_IN_PAST", "expiresAt: must be in the future"));
    }
    let txn = begin_write(&ctx.db, &ctx.write_gate).await?;
    // The subscriber's lock makes the count and the insert one step under concurrent creations.
    super::subscribers::lock(&txn, p.subscriber_id).await?;
    let live = api_key::Entity::find()
        .filter(api_key::Column::SubscriberId.eq(p.subscriber_id))
        .filter(live_at(now))
        .count(&*txn)
        .await?;
    if live >= MAX_LIVE_KEYS {
        return Err(AppError::conflict(
            "TOO_MANY_API_KEYS",
            format!("a subscriber may hold at most {MAX_LIVE_KEYS} API keys; revoke one first"),
        ));
    }
    let (secret, prefix, hash) = new_secret();
    let key = api_key::ActiveModel {
        id: Set(new_id()),
        subscriber_id: Set(p.subscriber_id),
        name: Set(new.name.into_string()),
        role: Set(new.role),
        prefix: Set(prefix),
        secret_hash: Set(hash),
        created_by: Set(user),
        created_at: Set(now),
        expires_at: Set(new.expires_at),
        last_used_at: Set(None),
        revoked_at: Set(None),
    }
    .insert(&*txn)
    .await?;
    txn.commit().await?;
    Ok((key, secret))
}

fn live_at(now: DateTime<Utc>) -> Condition {
    Condition::all()
        .add(api_key::Column::RevokedAt.is_null())
        .add(Condition::any().add(api_key::Column::ExpiresAt.is_null()).add(api_key::Column::ExpiresAt.gt(now)))
}

/// The caller's subscriber's keys, oldest first (revoked and expired ones too).
#[tracing::instrument(level = "debug", skip_all, fields(caller = %p.subscriber_id))]
pub async fn list(ctx: &ServiceCtx, p: Scope<'_>, page: PageArgs) -> AppResult<Page<api_key::Model>> {
    require_manager(p)?;
    let q = api_key::Entity::find().filter(api_key::Column::SubscriberId.eq(p.subscriber_id));
    paginate(&ctx.db, q, api_key::Column::Id, page).await
}

/// Revokes a key of the caller's subscriber (another subscriber's is `NOT_FOUND`). Revoking a revoked key
/// changes nothing and answers it as it is. The key is refused from the next request on, on every replica.
#[tracing::instrument(level = "debug", skip_all, fields(caller = %p.subscriber_id, id = %id))]
pub async fn revoke(ctx: &ServiceCtx, p: Scope<'_>, id: Uuid) -> AppResult<api_key::Model> {
    require_manager(p)?;
    let now = ctx.clock.now();
    let txn = begin_write(&ctx.db, &ctx.write_gate).await?;
    let key = api_key::Entity::find_by_id(id)
        .filter(api_key::Column::SubscriberId.eq(p.subscriber_id))
        .one(&*txn)
        .await?
        .ok_or(AppError::NotFound)?;
    // Conditional: of concurrent revocations the first sets the time and the others keep it.
    api_key::Entity::update_many()
        .col_expr(api_key::Column::RevokedAt, Expr::value(now))
        .filter(api_key::Column::Id.eq(key.id))
        .filter(api_key::Column::RevokedAt.is_null())
        .exec(&*txn)
        .await?;
    let key = api_key::Entity::find_by_id(key.id).one(&*txn).await?.ok_or(AppError::NotFound)?;
    // The commit moves this replica's write epoch (its cached key checks go stale at once); the signal
    // drops the other replicas' and closes the key's open WebSockets.
    txn.commit().await?;
    ctx.events.access_changed(&ctx.db, key.id, key.subscriber_id).await;
    Ok(key)
}
