//! The e-mail outbox: a message is written in the same transaction as the change it reports, once per
//! occasion (its dedupe key), and sent at least once by the sender afterwards.

use chrono::{DateTime, Duration, Utc};
use entity::outbox_message;
use sea_orm::sea_query::{Expr, ExprTrait, LockBehavior, LockType, OnConflict};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait,
    Set,
};

use super::{Page, PageArgs, new_id, paginate};
use crate::auth::Scope;
use crate::db::begin_write;
use crate::error::AppResult;
use crate::service::ServiceCtx;

// A message is `PENDING` until sent, then `SENT`; `CANCELLED` ones were never sent, and never will be: the
// invitation or reset link they carry was accepted, revoked, expired or replaced before they went out.
pub use entity::enums::OutboxKind;
use entity::enums::{InvitationStatus, OutboxStatus};

/// What kind of e-mail a message is (`Notification.kind`), by its old constant names.
pub mod kind {
    use super::OutboxKind;
    pub const INVITATION: OutboxKind = OutboxKind::Invitation;
    pub const WEEKLY_DIGEST: OutboxKind = OutboxKind::WeeklyDigest;
    pub const NEW_LEAD: OutboxKind = OutboxKind::NewLead;
    /// A password-reset link (its body carries a one-time token; redacted once sent).
    pub const PASSWORD_RESET: OutboxKind = OutboxKind::PasswordReset;
}

/// An e-mail to queue.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub kind: OutboxKind,
    pub to: String,
    pub subject: String,
    pub body: String,
    /// One message per key, ever: queuing the same key again does nothing.
    pub dedupe_key: String,
}

/// Queues a message in the caller's transaction. Returns false when a message with this key exists.
pub async fn enqueue<C: ConnectionTrait>(db: &C, m: NewMessage, now: DateTime<Utc>) -> AppResult<bool> {
    let row = outbox_message::ActiveModel {
        id: Set(new_id()),
        kind: Set(m.kind),
        to_email: Set(m.to),
        subject: Set(m.subject),
        body: Set(m.body),
        dedupe_key: Set(m.dedupe_key),
        status: Set(OutboxStatus::Pending),
        attempts: Set(0),
        last_error: Set(None),
        next_attempt_at: Set(now),
        locked_until: Set(None),
        created_at: Set(now),
        sent_at: Set(None),
    };
    // ON CONFLICT DO NOTHING rather than catching the violation: on PostgreSQL a failed statement
    // would abort the caller's whole transaction.
    let inserted = outbox_message::Entity::insert(row)
        .on_conflict(OnConflict::column(outbox_message::Column::DedupeKey).do_nothing().to_owned())
        .exec_without_returning(db)
        .await?;
    Ok(inserted > 0)
}

// ---- The sender -------------------------------------------------------------------------------------

/// How many messages one `dispatch_due` call claims at most.
pub const BATCH_SIZE: u64 = 20;
/// How long one scheduler pass keeps claiming batches while messages are due (wall time): a Monday digest
/// of 100,000 e-mails drains in passes back to back instead of 20 a minute, and the pass's other jobs
/// still run every minute or so.
pub const DRAIN_BUDGET: std::time::Duration = std::time::Duration::from_secs(50);
/// Sent and cancelled messages deleted per statement when purging (short statements, short locks).
const PURGE_CHUNK: u64 = 5_000;
/// How long a claim holds a message. It covers a whole batch of SMTP timeouts, so a slow batch keeps its
/// rows; a sender that crashes mid-send leaves the lease to expire, and the message goes out again.
pub const LEASE: Duration = Duration::minutes(10);
/// The first retry waits this long; each later one twice as long as the one before, up to the cap.
const BACKOFF_FIRST_SECS: i64 = 60;
const BACKOFF_CAP_SECS: i64 = 60 * 60;
/// The longest `last_error` stored.
const MAX_ERROR_CHARS: usize = 200;

/// Once an invitation e-mail is sent, its body (which carries the raw token, otherwise stored only as a
/// hash) is replaced by this.
pub const REDACTED_INVITATION_BODY: &str =
    "[redacted after sending: the invitation link carries a one-time token, which is stored only as a hash]";

/// Once a password-reset e-mail is sent (or cancelled), its body (which carries the raw token) is
/// replaced by this.
pub const REDACTED_RESET_BODY: &str =
    "[redacted after sending: the reset link carries a one-time token, which is stored only as a hash]";

/// The redacted body of a message whose body carries a secret, by kind; None for the others.
fn redacted_body(kind: OutboxKind) -> Option<&'static str> {
    match kind {
        OutboxKind::Invitation => Some(REDACTED_INVITATION_BODY),
        OutboxKind::PasswordReset => Some(REDACTED_RESET_BODY),
        _ => None,
    }
}

/// What one `dispatch_due` call did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DispatchStats {
    /// Messages claimed (due, pending, not leased by another sender).
    pub claimed: usize,
    pub sent: usize,
    /// Left pending with a later `next_attempt_at`.
    pub failed: usize,
    /// Invitation e-mails not sent because their invitation was no longer pending, and reset e-mails
    /// whose link was used, voided or expired before they went out.
    pub cancelled: usize,
}

/// The wait before retry number `attempts` (1 = after the first failure): 1, 2, 4 … minutes, at most an
/// hour. A message is never given up: it stays pending and visible in `notifications`.
pub fn backoff(attempts: i32) -> Duration {
    let exp = attempts.clamp(1, 31) - 1;
    Duration::seconds(Ord::min(BACKOFF_FIRST_SECS.saturating_mul(1_i64 << exp), BACKOFF_CAP_SECS))
}

/// How many messages of a batch are sent at once. The SMTP transport keeps a pool of connections (lettre's
/// pool, at most 10, reused for later messages), so a batch costs a few conversations, not one TCP and
/// EHLO round per message.
pub const SEND_CONCURRENCY: usize = 8;

/// What became of one claimed message.
enum Outcome {
    Sent,
    Failed,
    Cancelled,
}

/// Sends the due messages, at most `BATCH_SIZE`: claims them with a lease in a short transaction, sends
/// them outside any transaction (`SEND_CONCURRENCY` at once), and marks each `SENT` or schedules its retry
/// as soon as its own send ends. At least once, never lost: a row stays `PENDING` until a send succeeded;
/// the claim (a lease under `FOR UPDATE SKIP LOCKED`) keeps replicas on disjoint rows.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn dispatch_due(ctx: &ServiceCtx) -> AppResult<DispatchStats> {
    use futures_util::stream::{self, StreamExt};
    let claimed = claim_due(ctx).await?;
    let mut stats = DispatchStats { claimed: claimed.len(), ..Default::default() };
    let outcomes: Vec<AppResult<Outcome>> =
        stream::iter(claimed).map(|m| send_one(ctx, m)).buffer_unordered(SEND_CONCURRENCY).collect().await;
    let mut first_error = None;
    for outcome in outcomes {
        match outcome {
            Ok(Outcome::Sent) => stats.sent += 1,
            Ok(Outcome::Failed) => stats.failed += 1,
            Ok(Outcome::Cancelled) => stats.cancelled += 1,
            Err(e) => first_error = first_error.or(Some(e)),
        }
    }
    if stats.claimed > 0 {
        tracing::info!(
            claimed = stats.claimed,
            sent = stats.sent,
            failed = stats.failed,
            cancelled = stats.cancelled,
            "outbox dispatched"
        );
    }
    // A database error of one message leaves it leased (it goes out again when the lease ends); the others
    // of the batch were still sent and marked.
    match first_error {
        Some(e) => Err(e),
        None => Ok(stats),
    }
}

/// Sends one claimed message (or cancels one whose invitation or reset link is moot) and records it.
async fn send_one(ctx: &ServiceCtx, m: outbox_message::Model) -> AppResult<Outcome> {
    let moot = match m.kind {
        OutboxKind::Invitation => !invitation_still_pending(ctx, &m).await?,
        OutboxKind::PasswordReset => !super::credentials::reset_still_usable(ctx, &m.dedupe_key).await?,
        _ => false,
    };
    if moot {
        mark_cancelled(ctx, &m).await?;
        return Ok(Outcome::Cancelled);
    }
    match ctx.mailer.send(&m.to_email, &m.subject, &m.body).await {
        Ok(()) => {
            mark_sent(ctx, &m).await?;
            Ok(Outcome::Sent)
        }
        Err(e) => {
            mark_failed(ctx, &m, &e.0).await?;
            Ok(Outcome::Failed)
        }
    }
}

/// Sends batch after batch until no message is due (a batch came back short) or `budget` has passed. The
/// scheduler's pass; each batch is one `dispatch_due`, so replicas draining at once share the work.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn drain(ctx: &ServiceCtx, budget: std::time::Duration) -> AppResult<DispatchStats> {
    let started = std::time::Instant::now();
    let mut total = DispatchStats::default();
    loop {
        let s = dispatch_due(ctx).await?;
        total.claimed += s.claimed;
        total.sent += s.sent;
        total.failed += s.failed;
        total.cancelled += s.cancelled;
        if (s.claimed as u64) < BATCH_SIZE || started.elapsed() >= budget {
            return Ok(total);
        }
    }
}

/// Deletes sent messages sent more than `retention_days` ago and cancelled ones created that long ago,
/// a chunk at a time (a scheduler pass). Pending messages are never deleted. A dedupe key is unique while
/// its message is kept; every key the service makes names its occasion (an invitation's send, a reset, a
/// client's lead, a digest's week), so none comes round again after its message is gone.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn purge_sent(ctx: &ServiceCtx, retention_days: u32) -> AppResult<u64> {
    let before = ctx.clock.now() - Duration::days(i64::from(retention_days));
    let old = Condition::any()
        .add(
            Condition::all()
                .add(outbox_message::Column::Status.eq(OutboxStatus::Sent))
                .add(outbox_message::Column::SentAt.lt(before)),
        )
        .add(
            Condition::all()
                .add(outbox_message::Column::Status.eq(OutboxStatus::Cancelled))
                .add(outbox_message::Column::CreatedAt.lt(before)),
        );
    let mut purged = 0;
    loop {
        let chunk = outbox_message::Entity::find()
            .select_only()
            .column(outbox_message::Column::Id)
            .filter(old.clone())
            .limit(PURGE_CHUNK)
            .into_query();
        let txn = begin_write(&ctx.db, &ctx.write_gate).await?;
        let r = outbox_message::Entity::delete_many()
            .filter(outbox_message::Column::Id.in_subquery(chunk))
            .exec(&*txn)
            .await?;
        txn.commit().await?;
        purged += r.rows_affected;
        if r.rows_affected < PURGE_CHUNK {
            return Ok(purged);
        }
    }
}

/// Takes a lease on up to `BATCH_SIZE` due messages. On PostgreSQL `FOR UPDATE SKIP LOCKED` keeps two
/// replicas from claiming the same rows; on SQLite the write transaction is serial anyway.
async fn claim_due(ctx: &ServiceCtx) -> AppResult<Vec<outbox_message::Model>> {
    let now = ctx.clock.now();
    let txn = begin_write(&ctx.db, &ctx.write_gate).await?;
    let mut q = outbox_message::Entity::find()
        .filter(outbox_message::Column::Status.eq(OutboxStatus::Pending))
        .filter(outbox_message::Column::NextAttemptAt.lte(now))
        .filter(
            Condition::any()
                .add(outbox_message::Column::LockedUntil.is_null())
                .add(outbox_message::Column::LockedUntil.lte(now)),
        )
        .order_by_asc(outbox_message::Column::NextAttemptAt)
        .order_by_asc(outbox_message::Column::Id)
        .limit(BATCH_SIZE);
    if txn.get_database_backend() == DbBackend::Postgres {
        q = q.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
    }
    let rows = q.all(&*txn).await?;
    if rows.is_empty() {
        return Ok(rows);
    }
    outbox_message::Entity::update_many()
        .col_expr(outbox_message::Column::LockedUntil, Expr::value(now + LEASE))
        .filter(outbox_message::Column::Id.is_in(rows.iter().map(|m| m.id)))
        .exec(&*txn)
        .await?;
    txn.commit().await?;
    Ok(rows)
}

async fn mark_sent(ctx: &ServiceCtx, m: &outbox_message::Model) -> AppResult<()> {
    let now = ctx.clock.now();
    let txn = begin_write(&ctx.db, &ctx.write_gate).await?;
    let mut update = outbox_message::Entity::update_many()
        .col_expr(outbox_message::Column::Status, Expr::value(OutboxStatus::Sent))
        .col_expr(outbox_message::Column::SentAt, Expr::value(now))
        .col_expr(outbox_message::Column::LockedUntil, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(outbox_message::Column::LastError, Expr::value(Option::<String>::None));
    if let Some(redacted) = redacted_body(m.kind) {
        update = update.col_expr(outbox_message::Column::Body, Expr::value(redacted));
    }
    update.filter(outbox_message::Column::Id.eq(m.id)).exec(&*txn).await?;
    txn.commit().await?;
    Ok(())
}

/// Whether the invitation an e-mail carries can still be accepted with the token in it: pending, not
/// expired, and not re-sent since (a resend issues a new token; the dedupe key names the send).
/// Checked just before sending, so an invitation accepted (or revoked) before its e-mail went out is not
/// e-mailed afterwards; one accepted during the send itself is out of reach.
async fn invitation_still_pending(ctx: &ServiceCtx, m: &outbox_message::Model) -> AppResult<bool> {
    let Some((id, send)) = invitation_send(&m.dedupe_key) else {
        tracing::warn!(key = %m.dedupe_key, "an invitation e-mail with an unexpected key is sent as it is");
        return Ok(true);
    };
    let Some(inv) = entity::invitation::Entity::find_by_id(id).one(&ctx.db).await? else {
        return Ok(false);
    };
    Ok(inv.status == InvitationStatus::Pending && inv.expires_at > ctx.clock.now() && inv.sent_count == send)
}

/// The invitation and its send number from an invitation e-mail's dedupe key (`invitation:<id>:<n>`).
fn invitation_send(key: &str) -> Option<(uuid::Uuid, i32)> {
    let rest = key.strip_prefix("invitation:")?;
    let (id, send) = rest.rsplit_once(':')?;
    Some((id.parse().ok()?, send.parse().ok()?))
}

/// Marks an invitation or reset e-mail that will not go out; its body (with the token) is redacted like a
/// sent one.
async fn mark_cancelled(ctx: &ServiceCtx, m: &outbox_message::Model) -> AppResult<()> {
    let txn = begin_write(&ctx.db, &ctx.write_gate).await?;
    outbox_message::Entity::update_many()
        .col_expr(outbox_message::Column::Status, Expr::value(OutboxStatus::Cancelled))
        .col_expr(outbox_message::Column::LockedUntil, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(outbox_message::Column::Body, Expr::value(redacted_body(m.kind).unwrap_or(REDACTED_INVITATION_BODY)))
        .filter(outbox_message::Column::Id.eq(m.id))
        .filter(outbox_message::Column::Status.eq(OutboxStatus::Pending))
        .exec(&*txn)
        .await?;
    txn.commit().await?;
    Ok(())
}

async fn mark_failed(ctx: &ServiceCtx, m: &outbox_message::Model, error: &str) -> AppResult<()> {
    let now = ctx.clock.now();
    let attempts = m.attempts.saturating_add(1);
    let error: String = error.chars().filter(|c| !c.is_control()).take(MAX_ERROR_CHARS).collect();
    let txn = begin_write(&ctx.db, &ctx.write_gate).await?;
    outbox_message::Entity::update_many()
        .col_expr(outbox_message::Column::Attempts, Expr::col(outbox_message::Column::Attempts).add(1))
        .col_expr(outbox_message::Column::LastError, Expr::value(error))
        .col_expr(outbox_message::Column::NextAttemptAt, Expr::value(now + backoff(attempts)))
        .col_expr(outbox_message::Column::LockedUntil, Expr::value(Option::<DateTime<Utc>>::None))
        .filter(outbox_message::Column::Id.eq(m.id))
        // Another sender whose lease came later may have sent it meanwhile: a sent message stays sent.
        .filter(outbox_message::Column::Status.eq(OutboxStatus::Pending))
        .exec(&*txn)
        .await?;
    txn.commit().await?;
    Ok(())
}

// ---- Reading ----------------------------------------------------------------------------------------

/// The outbox, oldest first: for every role of the vendor (docs/rules.md §1–2: the vendor reads everything).
#[tracing::instrument(level = "debug", skip_all, fields(caller = %p.subscriber_id))]
pub async fn list(ctx: &ServiceCtx, p: Scope<'_>, page: PageArgs) -> AppResult<Page<outbox_message::Model>> {
    p.require(p.is_vendor(), "read the e-mail outbox")?;
    paginate(&ctx.db, outbox_message::Entity::find(), outbox_message::Column::Id, page).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invitation_keys_names_the_invitation_and_the_send() {
        let id = uuid::Uuid::new_v4();
        assert_eq!(invitation_send(&format!("invitation:{id}:3")), Some((id, 3)));
        assert_eq!(invitation_send("invitation:nope:1"), None);
        assert_eq!(invitation_send(&format!("digest:{id}:1")), None);
    }

    #[test]
    fn the_backoff_doubles_from_a_minute_and_stops_at_an_hour() {
        let mins: Vec<i64> = (1..=9).map(|a| backoff(a).num_minutes()).collect();
        assert_eq!(mins, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(backoff(i32::MAX).num_minutes(), 60);
        assert_eq!(backoff(0).num_minutes(), 1);
    }
}
