//! Users as the vendor's back office manages them: deactivating and reactivating a person.

use entity::{membership, user};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect, QueryTrait};
use uuid::Uuid;

use super::credentials::{announce, end_sessions};
use crate::auth::Scope;
use crate::db::begin_write;
use crate::domain::Role;
use crate::error::{AppError, AppResult};
use crate::service::ServiceCtx;

/// The vendor's staff deactivate or reactivate a user. An inactive user cannot log in (the answer of a
/// wrong password), nor accept an invitation, nor reset its password; its tokens are refused on the next
/// request and its WebSockets close with 4403. Deactivation ends every token for good: reactivating does
/// not revive them (the token generation moved on). Nobody deactivates themselves; a vendor owner is
/// deactivated only by another vendor owner, and the vendor keeps at least one active owner.
#[tracing::instrument(level = "debug", skip_all, fields(caller = %p.subscriber_id, id = %id))]
pub async fn set_active(ctx: &ServiceCtx, p: Scope<'_>, id: Uuid, active: bool) -> AppResult<user::Model> {
    p.require(p.is_vendor_staff(), "activate or deactivate users")?;
    if p.user_id() == Some(id) && !active {
        return Err(AppError::forbidden_because("OWN_ACCOUNT", "you may not deactivate yourself"));
    }
    let now = ctx.clock.now();
    let txn = begin_write(&ctx.db, &ctx.write_gate).await?;
    let target = user::Entity::find_by_id(id).one(&txn).await?.ok_or(AppError::NotFound)?;
    if !active {
        let vendor_owner = membership::Entity::find()
            .filter(membership::Column::UserId.eq(id))
            .filter(membership::Column::SubscriberId.eq(p.subscriber_id))
            .filter(membership::Column::Role.eq(Role::Owner))
            .count(&txn)
            .await?
            > 0;
        if vendor_owner {
            p.require(p.role == Role::Owner, "deactivate a vendor owner")?;
            // Two owners deactivating each other at once take turns on the vendor's row: the second sees
            // the first and is refused, so the vendor is never left without an active owner.
            super::subscribers::lock(&txn, p.subscriber_id).await?;
            let others = membership::Entity::find()
                .filter(membership::Column::SubscriberId.eq(p.subscriber_id))
                .filter(membership::Column::Role.eq(Role::Owner))
                .filter(membership::Column::UserId.ne(id))
                .filter(
                    membership::Column::UserId.in_subquery(
                        user::Entity::find()
                            .select_only()
                            .column(user::Column::Id)
                            .filter(user::Column::Active.eq(true))
                            .into_query(),
                    ),
                )
                .count(&txn)
                .await?;
            if others == 0 {
                return Err(AppError::conflict("LAST_OWNER", "the vendor must keep at least one active owner"));
            }
        }
    }
    // Only a change of state does anything: deactivating an inactive user does not move its generation.
    let changed = user::Entity::update_many()
        .col_expr(user::Column::Active, Expr::value(active))
        .filter(user::Column::Id.eq(id))
        .filter(user::Column::Active.eq(!active))
        .exec(&txn)
        .await?
        .rows_affected
        == 1;
    if changed && !active {
        end_sessions(&txn, id, now).await?;
    }
    let updated = user::Entity::find_by_id(target.id).one(&txn).await?.ok_or(AppError::NotFound)?;
    txn.commit().await?;
    if changed && !active {
        announce(ctx, id).await;
    }
    Ok(updated)
}
