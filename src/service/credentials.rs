//! Passwords: a signed-in person changes theirs; anyone asks for a reset link by e-mail and sets a new
//! password with it. A change or a reset ends every token issued to the user before it (the user's token
//! generation moves on; the edge refuses older tokens), on every replica at once (the access signal).

use chrono::{DateTime, Duration, Utc};
use entity::{password_reset, user};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, Set};
use uuid::Uuid;

use super::accounts::{self, SignedIn};
use super::{hash_token, members, new_id, new_secret_token, outbox};
use crate::auth::Scope;
use crate::auth::password::{PASSWORD_MAX, PASSWORD_MIN};
use crate::db::begin_write;
use crate::domain::Email;
use crate::error::{AppError, AppResult};
use crate::service::ServiceCtx;

/// How long a reset link works.
pub const RESET_TTL_MINUTES: i64 = 60;
/// At most this many reset e-mails per address within `RESET_WINDOW_MINUTES`; past it a request still
/// answers `true` and sends nothing.
pub const RESETS_PER_WINDOW: u64 = 3;
pub const RESET_WINDOW_MINUTES: i64 = 60;
/// Reset rows are kept this long (for the limit and for support), then the scheduler deletes them.
pub const RESET_KEEP_DAYS: i64 = 1;

/// The password policy (8 to 128 characters), checked before anything slow or counted happens.
fn policy(password: &str, field: &str) -> AppResult<()> {
    let n = password.chars().count();
    if n < PASSWORD_MIN {
        return Err(AppError::bad_input(
            field,
            "PASSWORD_TOO_SHORT",
            format!("{field}: at least {PASSWORD_MIN} characters"),
        ));
    }
    if n > PASSWORD_MAX {
        return Err(AppError::bad_input(field, "TOO_LONG", format!("{field}: at most {PASSWORD_MAX} characters")));
    }
    Ok(())
}

fn wrong_password() -> AppError {
    AppError::unauthenticated("INVALID_CREDENTIALS", "the current password is wrong")
}

/// Ends every token and reset link of a user, in the caller's transaction: the token generation moves
/// on (tokens of older generations are refused at the edge) and pending reset links are voided.
pub(super) async fn end_sessions<C: ConnectionTrait>(db: &C, user: Uuid, now: DateTime<Utc>) -> AppResult<()> {
    user::Entity::update_many()
        .col_expr(user::Column::TokenGeneration, Expr::col(user::Column::TokenGeneration).add(1))
        .filter(user::Column::Id.eq(user))
        .exec(db)
        .await?;
    password_reset::Entity::update_many()
        .col_expr(password_reset::Column::UsedAt, Expr::value(now))
        .filter(password_reset::Column::UserId.eq(user))
        .filter(password_reset::Column::UsedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// After the commit that ended a user's sessions: every replica drops its cached checks and every open
/// WebSocket of the user re-checks (and closes with 4403), one signal per membership.
pub(super) async fn announce(ctx: &ServiceCtx, user: Uuid) {
    match members::of_user(&ctx.db, user).await {
        Ok(memberships) => {
            for m in memberships {
                ctx.events.access_changed(&ctx.db, user, m.subscriber_id).await;
            }
        }
        // The change is committed; the edge refuses the old tokens anyway (their generation is stale), and
        // sockets re-check before each delivery and periodically.
        Err(e) => tracing::error!(error = ?e, %user, "could not announce ended sessions"),
    }
}

/// The signed-in person changes their password. The current password is checked like a login: the
/// attempt counts toward that e-mail's lockout, and a wrong one is `INVALID_CREDENTIALS`. Every token of
/// the user ends, the caller's own included: the client signs in again with the new password.
#[tracing::instrument(level = "debug", skip_all, fields(caller = %p.subscriber_id))]
pub async fn change_password(ctx: &ServiceCtx, p: Scope<'_>, current: &str, new: &str) -> AppResult<()> {
    policy(new, "newPassword")?;
    if current.len() > 1024 {
        return Err(wrong_password());
    }
    let u = user::Entity::find_by_id(p.require_person("change a password")?)
        .one(&ctx.db)
        .await?
        .ok_or(AppError::NotFound)?;
    let now = ctx.clock.now();
    let attempt = accounts::begin_attempt(ctx, &u.email, now).await?;
    let ok = match ctx.hasher.verify(current, Some(&u.password_hash)).await {
        Ok(ok) => ok,
        Err(busy) => {
            accounts::forget_attempt(ctx, attempt).await?;
            return Err(busy);
        }
    };
    if !ok {
        return Err(wrong_password());
    }
    accounts::clear_failures(&ctx.db, &u.email).await?;
    let hash = ctx.hasher.hash(new).await?;
    let txn = begin_write(&ctx.db, &ctx.write_gate).await?;
    // Conditional on the hash that was checked: of two concurrent changes with the same current password
    // one wins; the other's current password is no longer the password.
    let done = user::Entity::update_many()
        .col_expr(user::Column::PasswordHash, Expr::value(hash))
        .filter(user::Column::Id.eq(u.id))
        .filter(user::Column::PasswordHash.eq(u.password_hash.as_str()))
        .exec(&txn)
        .await?;
    if done.rows_affected != 1 {
        return Err(wrong_password());
    }
    end_sessions(&txn, u.id, now).await?;
    txn.commit().await?;
    announce(ctx, u.id).await;
    Ok(())
}

/// Anyone asks for a reset link for an e-mail. The answer is the same whether or not an account has it
/// (the caller always gets `true`), and so is the work: a reset row is written either way (with no user
/// and an unsent token for an unknown or inactive address), and only an active account's is e-mailed.
/// At most `RESETS_PER_WINDOW` per address per hour; past it nothing is written or sent.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn request_reset(ctx: &ServiceCtx, email: &str) -> AppResult<()> {
    // A malformed address has no account: nothing to do, and the same answer.
    let Ok(email) = Email::parse(email) else {
        return Ok(());
    };
    let now = ctx.clock.now();
    let txn = begin_write(&ctx.db, &ctx.write_gate).await?;
    let account = user::Entity::find()
        .filter(user::Column::Email.eq(email.as_str()))
        .filter(user::Column::Active.eq(true))
        .one(&txn)
        .await?;
    if let Some(u) = &account {
        // Concurrent requests for one account take turns (PostgreSQL; SQLite writers are serial), so the
        // limit on e-mails sent holds exactly.
        super::lock_row::<user::Entity, _>(&txn, user::Column::Id, user::Column::Active, u.id).await?;
    }
    let recent = password_reset::Entity::find()
        .filter(password_reset::Column::Email.eq(email.as_str()))
        .filter(password_reset::Column::CreatedAt.gt(now - Duration::minutes(RESET_WINDOW_MINUTES)))
        .count(&txn)
        .await?;
    if recent >= RESETS_PER_WINDOW {
        return Ok(());
    }
    let (token, hash) = new_secret_token();
    let row = password_reset::ActiveModel {
        id: Set(new_id()),
        email: Set(email.as_str().to_owned()),
        user_id: Set(account.as_ref().map(|u| u.id)),
        token_hash: Set(hash),
        created_at: Set(now),
        expires_at: Set(now + Duration::minutes(RESET_TTL_MINUTES)),
        used_at: Set(None),
    }
    .insert(&txn)
    .await?;
    if let Some(u) = &account {
        let link = format!("{}/reset-password?token={token}", ctx.config.public_url);
        let body = format!(
            "Hello {name},\n\nsomeone (hopefully you) asked to reset the password of your partnergraph account.\n\n\
             Set a new password: {link}\n\nThe link works once, for {RESET_TTL_MINUTES} minutes (until {until} UTC). \
             If you did not ask for it, ignore this e-mail: your password stays as it is.\n",
            name = u.name,
            until = row.expires_at.format("%Y-%m-%d %H:%M"),
        );
        let message = outbox::NewMessage {
            kind: outbox::OutboxKind::PasswordReset,
            to: u.email.clone(),
            subject: "Reset your password".to_owned(),
            body,
            dedupe_key: format!("password-reset:{}", row.id),
        };
        outbox::enqueue(&txn, message, now).await?;
    }
    txn.commit().await?;
    Ok(())
}

/// Sets a new password with a reset link's token and signs in (the user's oldest membership). A used,
/// expired, voided or unknown token — or one of a user deactivated since — is `RESET_TOKEN_INVALID`.
/// Every token issued to the user before ends; the one answered here is of the new generation.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn reset_password(ctx: &ServiceCtx, token: &str, new: &str) -> AppResult<SignedIn> {
    let invalid = || {
        AppError::bad_input(
            "token",
            "RESET_TOKEN_INVALID",
            "this reset link is not valid (used, expired or unknown): ask for a new one",
        )
    };
    if token.is_empty() || token.len() > 200 {
        return Err(invalid());
    }
    policy(new, "newPassword")?;
    let now = ctx.clock.now();
    let row = password_reset::Entity::find()
        .filter(password_reset::Column::TokenHash.eq(hash_token(token)))
        .one(&ctx.db)
        .await?
        .filter(|r| r.used_at.is_none() && r.expires_at > now)
        .ok_or_else(invalid)?;
    let user_id = row.user_id.ok_or_else(invalid)?;
    let hash = ctx.hasher.hash(new).await?;
    let txn = begin_write(&ctx.db, &ctx.write_gate).await?;
    // Single use: one update conditional on the row still being unused and unexpired.
    let claimed = password_reset::Entity::update_many()
        .col_expr(password_reset::Column::UsedAt, Expr::value(now))
        .filter(password_reset::Column::Id.eq(row.id))
        .filter(password_reset::Column::UsedAt.is_null())
        .filter(password_reset::Column::ExpiresAt.gt(now))
        .exec(&txn)
        .await?;
    if claimed.rows_affected != 1 {
        return Err(invalid());
    }
    let done = user::Entity::update_many()
        .col_expr(user::Column::PasswordHash, Expr::value(hash))
        .filter(user::Column::Id.eq(user_id))
        .filter(user::Column::Active.eq(true))
        .exec(&txn)
        .await?;
    if done.rows_affected != 1 {
        return Err(invalid());
    }
    end_sessions(&txn, user_id, now).await?;
    let u = user::Entity::find_by_id(user_id).one(&txn).await?.ok_or_else(invalid)?;
    // Whoever locked the address out by guessing, the owner of the mailbox has just proven who they are.
    accounts::clear_failures(&txn, &u.email).await?;
    txn.commit().await?;
    announce(ctx, u.id).await;
    let m = members::of_user(&ctx.db, u.id).await?.into_iter().next().ok_or_else(|| {
        AppError::unauthenticated(
            "NO_MEMBERSHIP",
            "the password is set, but this account is not a member of any subscriber",
        )
    })?;
    accounts::sign_in(ctx, u, m)
}

/// Deletes reset rows older than `RESET_KEEP_DAYS` (the scheduler): they no longer count toward the limit
/// and their links expired long ago.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn prune_resets(ctx: &ServiceCtx) -> AppResult<u64> {
    let cutoff = ctx.clock.now() - Duration::days(RESET_KEEP_DAYS);
    let r = password_reset::Entity::delete_many()
        .filter(password_reset::Column::CreatedAt.lt(cutoff))
        .exec(&ctx.db)
        .await?;
    Ok(r.rows_affected)
}

/// Whether the reset an e-mail carries (`password-reset:<id>`) can still be used: checked just before
/// sending, so a link voided by a later change or a deactivation is not e-mailed afterwards.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn reset_still_usable(ctx: &ServiceCtx, dedupe_key: &str) -> AppResult<bool> {
    let Some(id) = dedupe_key.strip_prefix("password-reset:").and_then(|id| id.parse::<Uuid>().ok()) else {
        return Ok(false);
    };
    let now = ctx.clock.now();
    Ok(password_reset::Entity::find_by_id(id)
        .one(&ctx.db)
        .await?
        .is_some_and(|r| r.used_at.is_none() && r.expires_at > now && r.user_id.is_some()))
}
