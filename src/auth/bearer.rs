//! The edge's check of an `Authorization` value: a token's signature and times, then the membership it
//! names as the database holds it now (or the API key's row), through the edge's short cache. The HTTP
//! middleware and the WebSocket `connection_init` both call `principal`.

use entity::{membership, subscriber, user};
use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{Expr, ExprTrait, Query as SqlQuery};
use uuid::Uuid;

use super::cache::AuthCache;
use super::{Principal, api_key};
use crate::domain::{Role, SubscriberKind};
use crate::error::{AppError, AppResult};
use crate::service::ServiceCtx;

/// Validates an `Authorization` value (`Bearer <JWT>` or `Bearer pgk_…`, an API key) and re-reads the
/// membership (or the key) it names: the HTTP edge and the WebSocket `connection_init` both come
/// through here.
pub async fn principal(ctx: &ServiceCtx, cache: &AuthCache, raw: &str) -> AppResult<Principal> {
    let invalid = || AppError::unauthenticated("INVALID_TOKEN", "invalid token");
    let (scheme, token) = raw.split_once(' ').ok_or_else(invalid)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(invalid());
    }
    let token = token.trim();
    if api_key::is_api_key(token) {
        return api_key::principal(ctx, cache, token).await;
    }
    let now = ctx.clock.now();
    let claims = match cache.claims(token) {
        Some(c) => c,
        None => {
            let c = ctx.jwt.verify_signature(token)?;
            cache.put_claims(token, &c);
            c
        }
    };
    super::jwt::check_time(&claims, now)?;
    let role: Role = claims.role;
    if let Some(p) = cache.get(claims.sub, claims.sid, claims.generation, now).filter(|p| p.role == role) {
        return Ok(p);
    }
    let epoch = cache.epoch();
    // One query re-checks that the user is active and still holds exactly this membership, and reads the
    // user's token generation (a password change, reset or deactivation ends older tokens).
    let stmt = SqlQuery::select()
        .column((user::Entity, user::Column::TokenGeneration))
        .column((membership::Entity, membership::Column::Id))
        .column((membership::Entity, membership::Column::Role))
        .column((subscriber::Entity, subscriber::Column::Kind))
        .from(membership::Entity)
        .inner_join(
            user::Entity,
            Expr::col((user::Entity, user::Column::Id)).equals((membership::Entity, membership::Column::UserId)),
        )
        .inner_join(
            subscriber::Entity,
            Expr::col((subscriber::Entity, subscriber::Column::Id))
                .equals((membership::Entity, membership::Column::SubscriberId)),
        )
        .and_where(Expr::col((membership::Entity, membership::Column::UserId)).eq(claims.sub))
        .and_where(Expr::col((membership::Entity, membership::Column::SubscriberId)).eq(claims.sid))
        .and_where(Expr::col((user::Entity, user::Column::Active)).eq(true))
        .to_owned();
    let row = ctx
        .db
        .query_one_raw(ctx.db.get_database_backend().build(&stmt))
        .await?
        .ok_or_else(|| AppError::unauthenticated("MEMBERSHIP_GONE", "this token's membership no longer exists"))?;
    let membership_id: Uuid = row.try_get("", "id")?;
    let current_role: Role = row.try_get("", "role")?;
    let kind: SubscriberKind = row.try_get("", "kind")?;
    let generation: i64 = row.try_get("", "token_generation")?;
    if generation != claims.generation {
        return Err(AppError::unauthenticated(
            "TOKEN_REVOKED",
            "this token was ended by a password change, a reset or a deactivation; log in again",
        ));
    }
    if current_role != role {
        return Err(AppError::unauthenticated("ROLE_CHANGED", "this token's role no longer matches; log in again"));
    }
    let p = Principal::person(claims.sub, membership_id, claims.sid, kind, role);
    cache.put(&p, generation, now, epoch);
    Ok(p)
}
