//! Invitations: create, resend (a new token voids the old), revoke, accept as a new or existing user.
//! The raw token is returned once to the inviter; only its hash is stored.

use chrono::Duration;
use entity::{invitation, membership, subscriber, user};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseTransaction, EntityTrait, PaginatorTrait,
    QueryFilter, Set,
};
use uuid::Uuid;

use super::subscribers;
use super::{Page, PageArgs, find_or_404, hash_token, new_id, new_secret_token, outbox, paginate};
use crate::auth::Reach;
use crate::auth::{Caller, Scope};
use crate::db::begin_write;
use crate::domain::invitation::status_at;
use crate::domain::role::{allowed_in, needs_owner};
use crate::domain::{Email, InvitationStatus, Name, Role, SubscriberKind};
use crate::error::{AppError, AppResult};
use crate::service::ServiceCtx;

pub struct NewInvitation<'a> {
    pub subscriber: &'a subscriber::Model,
    pub email: Email,
    pub role: Role,
    pub created_by: Option<Uuid>,
}

/// Creates an invitation inside an open transaction and returns it with its raw token.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn create_in(
    txn: &DatabaseTransaction,
    ctx: &ServiceCtx,
    n: NewInvitation<'_>,
) -> AppResult<(invitation::Model, String)> {
    let kind = n.subscriber.kind;
    if !allowed_in(n.role, kind) {
        return Err(AppError::bad_input(
            "role",
            "ROLE_NOT_ALLOWED",
            format!("role {} does not exist for a {} subscriber", n.role, kind),
        ));
    }
    let now = ctx.clock.now();
    if let Some(existing) = user::Entity::find().filter(user::Column::Email.eq(n.email.as_str())).one(txn).await? {
        let member = membership::Entity::find()
            .filter(membership::Column::UserId.eq(existing.id))
            .filter(membership::Column::SubscriberId.eq(n.subscriber.id))
            .one(txn)
            .await?;
        if member.is_some() {
            return Err(AppError::conflict_on("email", "ALREADY_MEMBER", "this person is already a member"));
        }
    }
    // A pending invitation past its date no longer holds the one-pending-per-email slot.
    invitation::Entity::update_many()
        .col_expr(invitation::Column::Status, Expr::value(InvitationStatus::Expired))
        .filter(invitation::Column::SubscriberId.eq(n.subscriber.id))
        .filter(invitation::Column::Email.eq(n.email.as_str()))
        .filter(invitation::Column::Status.eq(InvitationStatus::Pending))
        .filter(invitation::Column::ExpiresAt.lte(now))
        .exec(txn)
        .await?;
    let (token, hash) = new_secret_token();
    let inv = invitation::ActiveModel {
        id: Set(new_id()),
        subscriber_id: Set(n.subscriber.id),
        email: Set(n.email.into_string()),
        role: Set(n.role),
        token_hash: Set(hash),
        status: Set(InvitationStatus::Pending),
        created_by: Set(n.created_by),
        created_at: Set(now),
        expires_at: Set(now + Duration::days(ctx.config.invitation_ttl_days.into())),
        sent_count: Set(1),
        accepted_at: Set(None),
    }
    .insert(txn)
    .await
    .map_err(AppError::on_unique(
        "email",
        "INVITATION_PENDING",
        "a pending invitation for this e-mail exists; resend it instead",
    ))?;
    queue_email(txn, ctx, &inv, &n.subscriber.name, &token).await?;
    Ok((inv, token))
}

/// Queues the invitation e-mail with the accept link, in the transaction that issued the token: one
/// message per invitation and send. The outbox redacts the body once it is sent (the raw token is
/// otherwise stored only as a hash).
async fn queue_email<C: ConnectionTrait>(
    db: &C,
    ctx: &ServiceCtx,
    inv: &invitation::Model,
    subscriber_name: &str,
    token: &str,
) -> AppResult<()> {
    let link = format!("{}/accept-invitation?token={token}", ctx.config.public_url);
    let body = format!(
        "Hello,\n\nyou are invited to join {subscriber_name} as {role}.\n\nAccept the invitation: {link}\n\n\
         The link works until {expires} UTC. If you did not expect this e-mail, ignore it.\n",
        role = inv.role,
        expires = inv.expires_at.format("%Y-%m-%d %H:%M"),
    );
    let message = outbox::NewMessage {
        kind: outbox::OutboxKind::Invitation,
        to: inv.email.clone(),
        subject: format!("Invitation to {subscriber_name}"),
        body,
        dedupe_key: format!("invitation:{}:{}", inv.id, inv.sent_count),
    };
    outbox::enqueue(db, message, ctx.clock.now()).await?;
    Ok(())
}

/// Invites a person to a subscriber (the caller's own by default).
#[tracing::instrument(level = "debug", skip_all, fields(caller = %p.subscriber_id, subscriber_id = ?subscriber_id))]
pub async fn invite(
    ctx: &ServiceCtx,
    p: Scope<'_>,
    subscriber_id: Option<Uuid>,
    email: Email,
    role: Role,
) -> AppResult<(invitation::Model, String)> {
    let txn = begin_write(&ctx.db, &ctx.write_gate).await?;
    let (s, r) = p.subscriber(&txn, subscriber_id.unwrap_or(p.subscriber_id)).await?;
    p.require(p.may_administer(r, needs_owner(role)), "invite this member")?;
    if r == Reach::Client && role == Role::Owner {
        // Concurrent first-owner invitations take turns on the client's row (PostgreSQL; SQLite writers
        // are serial), so each sees the one before it: one invitation, the others OWNER_INVITATION_PENDING.
        subscribers::lock(&txn, s.id).await?;
        first_owner_only(&txn, &s, ctx.clock.now()).await?;
    }
    let out =
        create_in(&txn, ctx, NewInvitation { subscriber: &s, email, role, created_by: Some(p.responsible_user()) })
            .await?;
    txn.commit().await?;
    Ok(out)
}

/// A partner invites its client's first owner (onboarding) and nobody after that: once the client has an
/// owner (or an owner invitation is pending, which the partner resends instead), owners are the
/// client's own business.
async fn first_owner_only<C: ConnectionTrait>(
    db: &C,
    client: &subscriber::Model,
    now: chrono::DateTime<chrono::Utc>,
) -> AppResult<()> {
    client_without_owner(db, client.id).await?;
    let pending = invitation::Entity::find()
        .filter(invitation::Column::SubscriberId.eq(client.id))
        .filter(invitation::Column::Role.eq(Role::Owner))
        .filter(invitation::Column::Status.eq(InvitationStatus::Pending))
        .filter(invitation::Column::ExpiresAt.gt(now))
        .count(db)
        .await?;
    if pending > 0 {
        return Err(AppError::conflict(
            "OWNER_INVITATION_PENDING",
            "the client's owner invitation is pending: resend it instead",
        ));
    }
    Ok(())
}

async fn client_without_owner<C: ConnectionTrait>(db: &C, client: Uuid) -> AppResult<()> {
    let owners = membership::Entity::find()
        .filter(membership::Column::SubscriberId.eq(client))
        .filter(membership::Column::Role.eq(Role::Owner))
        .count(db)
        .await?;
    if owners > 0 {
        return Err(AppError::forbidden_because(
            "CLIENT_HAS_OWNER",
            "this client has an owner: its owners invite other owners",
        ));
    }
    Ok(())
}

/// Loads an invitation whose subscriber the caller may administer at the invitation's role level.
async fn load_managed(
    txn: &DatabaseTransaction,
    p: Scope<'_>,
    id: Uuid,
) -> AppResult<(invitation::Model, Reach, Role)> {
    let inv = invitation::Entity::find_by_id(id).one(txn).await?.ok_or(AppError::NotFound)?;
    let (_, r) = p.subscriber(txn, inv.subscriber_id).await?;
    // An invitation of its own subscriber that the caller may not even list is outside its reach.
    if r == Reach::Own && !p.lists_own_members() {
        return Err(AppError::NotFound);
    }
    let role: Role = inv.role;
    p.require(p.may_administer(r, needs_owner(role)), "manage this invitation")?;
    if inv.status != InvitationStatus::Pending {
        return Err(no_longer_pending(inv.status));
    }
    Ok((inv, r, role))
}

/// Issues a new token (the old one stops working) and a new expiry.
#[tracing::instrument(level = "debug", skip_all, fields(caller = %p.subscriber_id, id = %id))]
pub async fn resend(ctx: &ServiceCtx, p: Scope<'_>, id: Uuid) -> AppResult<(invitation::Model, String)> {
    let txn = begin_write(&ctx.db, &ctx.write_gate).await?;
    // Concurrent resends take turns on the invitation's row (PostgreSQL; SQLite writers are serial), so
    // each sees the other's count: every token that goes out gets its own e-mail key.
    super::lock_row::<invitation::Entity, _>(&*txn, invitation::Column::Id, invitation::Column::SentCount, id).await?;
    let (inv, r, role) = load_managed(&txn, p, id).await?;
    // A partner resends its client's first-owner invitation only while the client has no owner.
    if r == Reach::Client && role == Role::Owner {
        client_without_owner(&*txn, inv.subscriber_id).await?;
    }
    let now = ctx.clock.now();
    let (token, hash) = new_secret_token();
    let sent = inv.sent_count + 1;
    let mut am: invitation::ActiveModel = inv.into();
    am.token_hash = Set(hash);
    am.expires_at = Set(now + Duration::days(ctx.config.invitation_ttl_days.into()));
    am.sent_count = Set(sent);
    let inv = am.update(&txn).await?;
    let s = find_or_404::<subscriber::Entity, _>(&*txn, inv.subscriber_id).await?;
    queue_email(&*txn, ctx, &inv, &s.name, &token).await?;
    txn.commit().await?;
    Ok((inv, token))
}

/// Revokes a pending invitation: one update conditional on `PENDING`, so a revocation racing an
/// acceptance (or another revocation) either wins or is told the invitation is no longer pending.
#[tracing::instrument(level = "debug", skip_all, fields(caller = %p.subscriber_id, id = %id))]
pub async fn revoke(ctx: &ServiceCtx, p: Scope<'_>, id: Uuid) -> AppResult<invitation::Model> {
    let txn = begin_write(&ctx.db, &ctx.write_gate).await?;
    // Like a resend, a revocation takes the invitation's row first: an acceptance running at the same
    // time either lands before (and the revocation sees it accepted) or finds it revoked, never both.
    super::lock_row::<invitation::Entity, _>(&*txn, invitation::Column::Id, invitation::Column::SentCount, id).await?;
    let (inv, r, role) = load_managed(&txn, p, id).await?;
    // Like a resend: a partner voids its client's owner invitation only while the client has no owner;
    // after that, who else becomes an owner is the client's own business.
    if r == Reach::Client && role == Role::Owner {
        client_without_owner(&*txn, inv.subscriber_id).await?;
    }
    let done = invitation::Entity::update_many()
        .col_expr(invitation::Column::Status, Expr::value(InvitationStatus::Revoked))
        .filter(invitation::Column::Id.eq(id))
        .filter(invitation::Column::Status.eq(InvitationStatus::Pending))
        .exec(&txn)
        .await?;
    let inv = find_or_404::<invitation::Entity, _>(&*txn, id).await?;
    if done.rows_affected != 1 {
        return Err(no_longer_pending(inv.status));
    }
    txn.commit().await?;
    Ok(inv)
}

/// The answer to a change of an invitation that another call ended first.
fn no_longer_pending(status: InvitationStatus) -> AppError {
    if status == InvitationStatus::Accepted {
        AppError::conflict("INVITATION_ALREADY_ACCEPTED", "this invitation was already accepted")
    } else {
        AppError::conflict("INVITATION_NOT_PENDING", "the invitation is no longer pending")
    }
}

/// Who accepts: a new person (name and password) or an existing user proving who they are.
pub struct Acceptance {
    pub name: Option<String>,
    pub password: Option<String>,
}

/// Accepts an invitation and returns the membership it created.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn accept(
    ctx: &ServiceCtx,
    caller: &Caller,
    token: &str,
    how: Acceptance,
) -> AppResult<(user::Model, membership::Model)> {
    let invalid = || AppError::bad_input("token", "INVITATION_INVALID", "this invitation token is not valid");
    if token.is_empty() || token.len() > 200 {
        return Err(invalid());
    }
    let now = ctx.clock.now();
    let inv = invitation::Entity::find()
        .filter(invitation::Column::TokenHash.eq(hash_token(token)))
        .one(&ctx.db)
        .await?
        .ok_or_else(invalid)?;
    match status_at(inv.status, inv.expires_at, now) {
        InvitationStatus::Pending => {}
        InvitationStatus::Accepted => {
            return Err(AppError::conflict("INVITATION_ALREADY_ACCEPTED", "this invitation was already accepted"));
        }
        InvitationStatus::Expired if inv.status == InvitationStatus::Pending => {
            return Err(AppError::bad_input(
                "token",
                "INVITATION_EXPIRED",
                "this invitation has expired; ask for a new one",
            ));
        }
        _ => return Err(invalid()),
    }
    let role: Role = inv.role;
    let existing = user::Entity::find().filter(user::Column::Email.eq(inv.email.as_str())).one(&ctx.db).await?;

    // Prove the identity of an existing user before taking the write lock: hashing is slow.
    let new_user = match &existing {
        Some(u) => {
            let by_token = caller.0.as_ref().is_some_and(|p| p.user_id() == Some(u.id));
            let by_password = match how.password.as_deref() {
                Some(pw) => ctx.hasher.verify(pw, Some(&u.password_hash)).await?,
                None => false,
            };
            if !(by_token || by_password) || !u.active {
                return Err(AppError::unauthenticated(
                    "INVALID_CREDENTIALS",
                    "this e-mail already has an account: give its password or call with its token",
                ));
            }
            None
        }
        None => {
            let name = Name::parse(how.name.as_deref().unwrap_or("")).map_err(AppError::input("name"))?;
            let password = how
                .password
                .as_deref()
                .ok_or_else(|| AppError::bad_input("password", "EMPTY", "password: required for a new account"))?;
            Some((name, ctx.hasher.hash(password).await?))
        }
    };

    let txn = begin_write(&ctx.db, &ctx.write_gate).await?;
    // Only one acceptance wins, whatever runs at the same time.
    let claimed = invitation::Entity::update_many()
        .col_expr(invitation::Column::Status, Expr::value(InvitationStatus::Accepted))
        .col_expr(invitation::Column::AcceptedAt, Expr::value(now))
        .filter(
            Condition::all()
                .add(invitation::Column::Id.eq(inv.id))
                .add(invitation::Column::Status.eq(InvitationStatus::Pending))
                .add(invitation::Column::TokenHash.eq(inv.token_hash.clone())),
        )
        .exec(&txn)
        .await?;
    if claimed.rows_affected != 1 {
        // Another call ended it first: accepted, revoked, or its token replaced by a resend.
        let now_status = find_or_404::<invitation::Entity, _>(&*txn, inv.id).await?.status;
        return Err(if now_status == InvitationStatus::Accepted {
            AppError::conflict("INVITATION_ALREADY_ACCEPTED", "this invitation was already accepted")
        } else {
            invalid()
        });
    }
    let user = match (existing, new_user) {
        (Some(u), _) => u,
        (None, Some((name, hash))) => user::ActiveModel {
            id: Set(new_id()),
            email: Set(inv.email.clone()),
            name: Set(name.into_string()),
            password_hash: Set(hash),
            active: Set(true),
            created_at: Set(now),
            token_generation: Set(0),
        }
        .insert(&txn)
        .await
        .map_err(AppError::on_unique(
            "email",
            "EMAIL_TAKEN",
            "an account with this e-mail was just created; accept again with its password",
        ))?,
        (None, None) => return Err(AppError::Internal("acceptance without identity".into())),
    };
    let m = membership::ActiveModel {
        id: Set(new_id()),
        user_id: Set(user.id),
        subscriber_id: Set(inv.subscriber_id),
        role: Set(role),
        created_at: Set(now),
    }
    .insert(&txn)
    .await
    .map_err(AppError::on_unique("token", "ALREADY_MEMBER", "you are already a member of this subscriber"))?;
    // The partner to tell: the partner itself, or the partner serving the client that was joined.
    let joined = find_or_404::<subscriber::Entity, _>(&*txn, inv.subscriber_id).await?;
    let partner = match joined.kind {
        SubscriberKind::Partner => Some(joined.id),
        SubscriberKind::Client => joined.serving_partner_id,
        SubscriberKind::Vendor => None,
    };
    let accepted = super::webhooks::Event::invitation_accepted(&inv, &joined, user.id, role.as_str(), now);
    super::webhooks::queue(&*txn, [accepted]).await?;
    txn.commit().await?;
    if let Some(partner) = partner {
        let event = crate::events::PartnerEvent::new(
            crate::events::PartnerEventKind::InvitationAccepted,
            partner,
            inv.id,
            format!("{} joined {} as {}", user.name, joined.name, role.as_str()),
            now,
        );
        ctx.events.publish(&ctx.db, vec![event]).await;
    }
    Ok((user, m))
}

/// Invitations the caller may list: of one subscriber, or of every subscriber it administers.
#[tracing::instrument(level = "debug", skip_all, fields(caller = %p.subscriber_id, subscriber_id = ?subscriber_id))]
pub async fn list(
    ctx: &ServiceCtx,
    p: Scope<'_>,
    subscriber_id: Option<Uuid>,
    status: Option<InvitationStatus>,
    page: PageArgs,
) -> AppResult<Page<invitation::Model>> {
    let mut q = invitation::Entity::find();
    match subscriber_id {
        Some(id) => {
            let (_, r) = p.subscriber(&ctx.db, id).await?;
            let allowed = match r {
                Reach::Own => p.lists_own_members(),
                Reach::Client | Reach::Vendor => true,
                Reach::Supported => false,
            };
            p.require(allowed, "list invitations")?;
            q = q.filter(invitation::Column::SubscriberId.eq(id));
        }
        None if p.is_vendor() => {}
        None => {
            p.require(p.lists_own_members(), "list invitations")?;
            let mut scope = Condition::any().add(invitation::Column::SubscriberId.eq(p.subscriber_id));
            if p.serves_clients() {
                scope = scope
                    .add(invitation::Column::SubscriberId.in_subquery(subscribers::client_ids_of(p.subscriber_id)));
            }
            q = q.filter(scope);
        }
    }
    let now = ctx.clock.now();
    q = match status {
        None => q,
        Some(InvitationStatus::Pending) => q
            .filter(invitation::Column::Status.eq(InvitationStatus::Pending))
            .filter(invitation::Column::ExpiresAt.gt(now)),
        Some(InvitationStatus::Expired) => q.filter(
            Condition::any().add(invitation::Column::Status.eq(InvitationStatus::Expired)).add(
                Condition::all()
                    .add(invitation::Column::Status.eq(InvitationStatus::Pending))
                    .add(invitation::Column::ExpiresAt.lte(now)),
            ),
        ),
        Some(s) => q.filter(invitation::Column::Status.eq(s)),
    };
    paginate(&ctx.db, q, invitation::Column::Id, page).await
}

pub use subscribers::load as load_subscriber;

/// Invitations of the partner's clients that nobody accepted yet (pending, including those past their
/// date), oldest first: the partner calls these clients and resends. Every role of the vendor reads every
/// client's (a read: the vendor reads everything).
#[tracing::instrument(level = "debug", skip_all, fields(caller = %p.subscriber_id))]
pub async fn not_activated(ctx: &ServiceCtx, p: Scope<'_>, page: PageArgs) -> AppResult<Page<invitation::Model>> {
    let mut q = invitation::Entity::find().filter(invitation::Column::Status.eq(InvitationStatus::Pending));
    if p.is_vendor() {
        q = q.filter(invitation::Column::SubscriberId.in_subquery(subscribers::all_client_ids()));
    } else {
        p.require(p.serves_clients(), "list clients' invitations")?;
        q = q.filter(invitation::Column::SubscriberId.in_subquery(subscribers::client_ids_of(p.subscriber_id)));
    }
    paginate(&ctx.db, q, invitation::Column::Id, page).await
}
