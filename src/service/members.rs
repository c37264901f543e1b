//! Memberships: listing members, changing roles and removing members, with the last-owner rule held
//! under concurrency by locking the subscriber row.

use entity::{membership, subscriber};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, ModelTrait, PaginatorTrait,
    QueryFilter, QueryOrder, Set,
};
use uuid::Uuid;

use super::{Page, PageArgs, paginate};
use crate::auth::Reach;
use crate::auth::Scope;
use crate::db::begin_write;
use crate::domain::Role;
use crate::domain::role::{allowed_in, needs_owner};
use crate::error::{AppError, AppResult};
use crate::service::ServiceCtx;

/// Whether the caller may list the members of a subscriber in this relation.
pub fn may_list(p: Scope<'_>, r: Reach) -> bool {
    match r {
        Reach::Own => p.lists_own_members(),
        Reach::Client | Reach::Vendor => true,
        Reach::Supported => false,
    }
}

pub async fn list<C: ConnectionTrait>(
    db: &C,
    p: Scope<'_>,
    s: &subscriber::Model,
    r: Reach,
    page: PageArgs,
) -> AppResult<Page<membership::Model>> {
    p.require(may_list(p, r), "list members")?;
    let q = membership::Entity::find().filter(membership::Column::SubscriberId.eq(s.id));
    paginate(db, q, membership::Column::Id, page).await
}

pub async fn of_user<C: ConnectionTrait>(db: &C, user: Uuid) -> AppResult<Vec<membership::Model>> {
    Ok(membership::Entity::find()
        .filter(membership::Column::UserId.eq(user))
        .order_by_asc(membership::Column::CreatedAt)
        .order_by_asc(membership::Column::Id)
        .all(db)
        .await?)
}

/// Loads a membership the caller may manage; members of a partner's clients are managed by the
/// client itself (the partner only invites them). `owner_level`: the change grants `OWNER` or
/// `SERVICE_OPERATOR`; taking either away is owner-level too, so an `ADMIN` manages `USER`, `ADMIN` and
/// `ADAPTATION_ADMIN` members only. The membership's row is locked first, so concurrent changes and
/// removals of one membership take turns and each sees what the one before it did.
async fn load_managed(
    txn: &DatabaseTransaction,
    p: Scope<'_>,
    id: Uuid,
    owner_level: bool,
) -> AppResult<(membership::Model, subscriber::Model)> {
    super::lock_row::<membership::Entity, _>(txn, membership::Column::Id, membership::Column::Role, id).await?;
    let m = membership::Entity::find_by_id(id).one(txn).await?.ok_or(AppError::NotFound)?;
    let (s, r) = p.subscriber(txn, m.subscriber_id).await?;
    let current: Role = m.role;
    let owner_level = owner_level || needs_owner(current);
    p.require(r != Reach::Client && p.may_administer(r, owner_level), "manage this member")?;
    Ok((m, s))
}

async fn ensure_another_owner(txn: &DatabaseTransaction, m: &membership::Model) -> AppResult<()> {
    if m.role != Role::Owner {
        return Ok(());
    }
    super::subscribers::lock(txn, m.subscriber_id).await?;
    let owners = membership::Entity::find()
        .filter(membership::Column::SubscriberId.eq(m.subscriber_id))
        .filter(membership::Column::Role.eq(Role::Owner))
        .count(txn)
        .await?;
    if owners <= 1 {
        return Err(AppError::conflict("LAST_OWNER", "a subscriber must keep at least one owner"));
    }
    Ok(())
}

#[tracing::instrument(level = "debug", skip_all, fields(caller = %p.subscriber_id, id = %id))]
pub async fn change_role(ctx: &ServiceCtx, p: Scope<'_>, id: Uuid, role: Role) -> AppResult<membership::Model> {
    // Nobody changes their own role, except an owner stepping down while another owner remains. Said
    // before the rules on who grants what, so that raising oneself is refused as what it is.
    if Some(id) == p.membership_id() && p.role != Role::Owner {
        return Err(AppError::forbidden_because("OWN_ROLE", "you may not change your own role"));
    }
    let txn = begin_write(&ctx.db, &ctx.write_gate).await?;
    let (m, s) = load_managed(&txn, p, id, needs_owner(role)).await?;
    let kind = s.kind;
    if !allowed_in(role, kind) {
        return Err(AppError::bad_input(
            "role",
            "ROLE_NOT_ALLOWED",
            format!("role {role} does not exist for a {kind} subscriber"),
        ));
    }
    if m.role == role {
        return Ok(m);
    }
    if role != Role::Owner {
        ensure_another_owner(&txn, &m).await?;
    }
    let mut am: membership::ActiveModel = m.into();
    am.role = Set(role);
    let m = am.update(&txn).await?;
    txn.commit().await?;
    // Open connections of this member were opened with the old role: they close at once.
    ctx.events.access_changed(&ctx.db, m.user_id, m.subscriber_id).await;
    Ok(m)
}

#[tracing::instrument(level = "debug", skip_all, fields(caller = %p.subscriber_id, id = %id))]
pub async fn remove(ctx: &ServiceCtx, p: Scope<'_>, id: Uuid) -> AppResult<Uuid> {
    let txn = begin_write(&ctx.db, &ctx.write_gate).await?;
    let (m, _) = load_managed(&txn, p, id, false).await?;
    ensure_another_owner(&txn, &m).await?;
    let (user, subscriber) = (m.user_id, m.subscriber_id);
    m.delete(&txn).await?;
    txn.commit().await?;
    ctx.events.access_changed(&ctx.db, user, subscriber).await;
    Ok(id)
}
