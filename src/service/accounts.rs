//! Accounts: bootstrap of the vendor, login with lockout, self-registration, and issuing tokens.

use chrono::{DateTime, Duration, Utc};
use entity::{login_failure, membership, subscriber, user};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, Set};
use uuid::Uuid;

use super::subscribers::{self, BindingNote, NewCard, bind};
use super::{members, new_id};
use crate::db::begin_write;
use crate::domain::{BindingSource, Email, Inn, Name, Role, SubscriberKind};
use crate::error::{AppError, AppResult};
use crate::service::ServiceCtx;

pub const LOCKOUT_ATTEMPTS: u64 = 5;
pub const LOCKOUT_WINDOW_MINUTES: i64 = 15;

/// A signed-in user: the token and the membership it acts through.
pub struct SignedIn {
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub user: user::Model,
    pub membership: membership::Model,
}

pub fn sign_in(ctx: &ServiceCtx, user: user::Model, m: membership::Model) -> AppResult<SignedIn> {
    let role: Role = m.role;
    let (token, expires_at) = ctx.jwt.issue(user.id, user.token_generation, m.subscriber_id, role, ctx.clock.now())?;
    Ok(SignedIn { token, expires_at, user, membership: m })
}

/// Creates the vendor subscriber and its first owner; refuses when a vendor exists.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn bootstrap(
    ctx: &ServiceCtx,
    vendor_name: &str,
    email: &str,
    password: &str,
) -> AppResult<(subscriber::Model, user::Model)> {
    let name = Name::parse(vendor_name).map_err(AppError::input("vendorName"))?;
    let email = Email::parse(email).map_err(AppError::input("email"))?;
    let hash = ctx.hasher.hash(password).await?;
    let now = ctx.clock.now();
    let txn = begin_write(&ctx.db, &ctx.write_gate).await?;
    let exists =
        subscriber::Entity::find().filter(subscriber::Column::Kind.eq(SubscriberKind::Vendor)).count(&txn).await?;
    if exists > 0 {
        return Err(AppError::conflict("VENDOR_EXISTS", "a vendor already exists"));
    }
    let vendor =
        subscribers::create_in(&txn, SubscriberKind::Vendor, NewCard { name: Some(name), ..Default::default() }, now)
            .await
            .map_err(|e| match e {
                AppError::Conflict { .. } => AppError::conflict("VENDOR_EXISTS", "a vendor already exists"),
                e => e,
            })?;
    let user = insert_user(&txn, &email, "Vendor owner", hash, now).await?;
    insert_membership(&txn, user.id, vendor.id, Role::Owner, now).await?;
    txn.commit().await?;
    Ok((vendor, user))
}

async fn insert_user(
    txn: &sea_orm::DatabaseTransaction,
    email: &Email,
    name: &str,
    hash: String,
    now: DateTime<Utc>,
) -> AppResult<user::Model> {
    user::ActiveModel {
        id: Set(new_id()),
        email: Set(email.as_str().to_owned()),
        name: Set(name.to_owned()),
        password_hash: Set(hash),
        active: Set(true),
        created_at: Set(now),
        token_generation: Set(0),
    }
    .insert(txn)
    .await
    .map_err(AppError::on_unique("email", "EMAIL_TAKEN", "an account with this e-mail exists; log in instead"))
}

async fn insert_membership(
    txn: &sea_orm::DatabaseTransaction,
    user: Uuid,
    subscriber: Uuid,
    role: Role,
    now: DateTime<Utc>,
) -> AppResult<membership::Model> {
    Ok(membership::ActiveModel {
        id: Set(new_id()),
        user_id: Set(user),
        subscriber_id: Set(subscriber),
        role: Set(role),
        created_at: Set(now),
    }
    .insert(txn)
    .await?)
}

/// Records a password check against an e-mail before it is made, so that parallel guesses count too:
/// five failures for one e-mail within 15 minutes lock it for 15 minutes (`TOO_MANY_ATTEMPTS`). Returns
/// the attempt, which the caller forgets when no password was checked after all and clears (with the
/// e-mail's other failures) when the password was right. `login` and `changePassword` share it.
pub(super) async fn begin_attempt(ctx: &ServiceCtx, email: &str, now: DateTime<Utc>) -> AppResult<Uuid> {
    let txn = begin_write(&ctx.db, &ctx.write_gate).await?;
    let attempt = login_failure::ActiveModel { id: Set(new_id()), email: Set(email.to_owned()), at: Set(now) }
        .insert(&txn)
        .await?;
    txn.commit().await?;
    let recent = login_failure::Entity::find()
        .filter(login_failure::Column::Email.eq(email))
        .filter(login_failure::Column::At.gt(now - Duration::minutes(LOCKOUT_WINDOW_MINUTES)))
        .count(&ctx.db)
        .await?;
    if recent > LOCKOUT_ATTEMPTS {
        // Locked: this attempt does not count, so the lock ends 15 minutes after the fifth failure.
        forget_attempt(ctx, attempt.id).await?;
        return Err(AppError::TooManyAttempts);
    }
    Ok(attempt.id)
}

/// An attempt that checked no password (no hashing thread was free): it does not count.
pub(super) async fn forget_attempt(ctx: &ServiceCtx, attempt: Uuid) -> AppResult<()> {
    login_failure::Entity::delete_by_id(attempt).exec(&ctx.db).await?;
    Ok(())
}

/// The right password was given: the e-mail's failures are forgiven.
pub(super) async fn clear_failures<C: sea_orm::ConnectionTrait>(db: &C, email: &str) -> AppResult<()> {
    login_failure::Entity::delete_many().filter(login_failure::Column::Email.eq(email)).exec(db).await?;
    Ok(())
}

/// Verifies the password with a lockout (`begin_attempt`). An inactive user gets the answer of a wrong
/// password, and the attempt counts: the answer never says that the password was right.
#[tracing::instrument(level = "debug", skip_all, fields(subscriber_id = ?subscriber_id))]
pub async fn login(ctx: &ServiceCtx, email: &str, password: &str, subscriber_id: Option<Uuid>) -> AppResult<SignedIn> {
    let bad = || AppError::unauthenticated("INVALID_CREDENTIALS", "wrong e-mail or password");
    let email = email.trim().to_lowercase();
    if email.is_empty() || email.len() > 254 || password.len() > 1024 {
        return Err(bad());
    }
    let now = ctx.clock.now();
    let attempt = begin_attempt(ctx, &email, now).await?;
    let found = user::Entity::find().filter(user::Column::Email.eq(email.as_str())).one(&ctx.db).await?;
    let ok = match ctx.hasher.verify(password, found.as_ref().map(|u| u.password_hash.as_str())).await {
        Ok(ok) => ok,
        Err(busy) => {
            // No password was checked: the attempt does not count against the e-mail.
            forget_attempt(ctx, attempt).await?;
            return Err(busy);
        }
    };
    let user = match found {
        Some(u) if ok && u.active => u,
        _ => return Err(bad()),
    };
    clear_failures(&ctx.db, &email).await?;
    let memberships = members::of_user(&ctx.db, user.id).await?;
    let m = match subscriber_id {
        Some(sid) => memberships.into_iter().find(|m| m.subscriber_id == sid).ok_or_else(|| {
            AppError::bad_input("subscriberId", "NOT_A_MEMBER", "you are not a member of this subscriber")
        })?,
        None => memberships.into_iter().next().ok_or_else(|| {
            AppError::unauthenticated("NO_MEMBERSHIP", "this account is not a member of any subscriber")
        })?,
    };
    sign_in(ctx, user, m)
}

/// What a company gives to register itself.
pub struct SelfRegistration {
    pub company: Name,
    pub inn: Option<Inn>,
    pub email: Email,
    pub name: Name,
    pub password: String,
    pub referral_code: Option<String>,
    /// The program whose lead pool assigns the client when there is no referral code (default: the
    /// configured lead program).
    pub program_code: Option<String>,
}

/// A company registers itself with its owner. With a partner's referral code it is bound to that
/// partner (`REFERRAL_LINK`); without one, lead distribution assigns it from the program's pool valid
/// today (`LEAD_DISTRIBUTION`), or it stays unbound when there is none. Either way the partner gets a
/// welcome-call task.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn self_register(ctx: &ServiceCtx, r: SelfRegistration) -> AppResult<SignedIn> {
    let hash = ctx.hasher.hash(&r.password).await?;
    let now = ctx.clock.now();
    let txn = begin_write(&ctx.db, &ctx.write_gate).await?;
    let partner = match r.referral_code.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
        Some(code) => Some(
            subscribers::find_by_referral_code(&txn, code)
                .await?
                .ok_or_else(|| {
                    AppError::bad_input("referralCode", "REFERRAL_UNKNOWN", "referralCode: no partner has this code")
                })?
                .subscriber_id,
        ),
        None => None,
    };
    let lead_program = match r.program_code.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
        Some(code) => Some(super::programs::by_code(&*txn, code, "programCode").await?),
        None if partner.is_none() => super::programs::find_by_code(&*txn, &ctx.config.lead_program).await?,
        None => None,
    };
    let user = insert_user(&txn, &r.email, &r.name.into_string(), hash, now).await?;
    let card = NewCard { name: Some(r.company), inn: r.inn, email: Some(r.email), ..Default::default() };
    let mut client = subscribers::create_in(&txn, SubscriberKind::Client, card, now).await?;
    let mut events = Vec::new();
    if let Some(partner) = partner {
        let note = BindingNote::automatic("self-registered with the partner's referral code");
        client = bind(&txn, &client, Some(partner), BindingSource::ReferralLink, note, now).await?;
        super::tasks::welcome_call(&*txn, partner, client.id, now).await?;
    } else if let Some(program) = lead_program
        && let Some((bound, event)) =
            super::leads::assign_lead(&txn, &client, program.id, ctx.config.local, now).await?
    {
        client = bound;
        events.push(event);
    }
    let m = insert_membership(&txn, user.id, client.id, Role::Owner, now).await?;
    super::webhooks::queue(&*txn, [super::webhooks::Event::client_registered(&client, now)]).await?;
    txn.commit().await?;
    ctx.events.publish(&ctx.db, events).await;
    sign_in(ctx, user, m)
}
