//! The e-mail outbox: a message is written in the same transaction as the change it reports, once per
//! occasion (its dedupe key), and sent at least once by the sender afterwards.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use entity::outbox_message;
use sea_orm::sea_query::{Expr, ExprTrait, LockBehavior, LockType, OnConflict};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait,
    Set,
};
use uuid::Uuid;

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

/// How many messages the first claim of a pass takes (and `dispatch_due` always): a quiet outbox is
/// served by small claims. While claims come back full, each next claim of the pass takes four times as
/// many, up to [`max_batch`].
pub const BATCH_SIZE: u64 = 20;
/// A claim takes at most this many messages per send at once, so a batch ends within its lease even when
/// every conversation runs into the SMTP timeout (32 rounds of 15 s = 8 minutes < `LEASE`).
const BATCH_PER_SEND: u64 = 32;
/// The most one claim takes whatever the concurrency (one bind parameter per message in its statements).
const BATCH_MAX: u64 = 1_024;
/// Sent messages are marked this many at a time in one statement (the rest when their batch ends): the
/// bookkeeping of a 100,000-message digest is a thousand statements, not a hundred thousand
/// transactions, and a crash between the server's acceptance and the mark resends at most these and the
/// sends in flight.
pub const MARK_CHUNK: usize = 100;
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

/// What one `dispatch_due` call (or a pass of `drain`) did.
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
    /// `drain` only: it stopped at its time budget while messages were still due.
    pub more_due: bool,
}

impl DispatchStats {
    fn add(&mut self, s: DispatchStats) {
        self.claimed += s.claimed;
        self.sent += s.sent;
        self.failed += s.failed;
        self.cancelled += s.cancelled;
    }
}

/// The wait before retry number `attempts` (1 = after the first failure): 1, 2, 4 … minutes, at most an
/// hour. A message is never given up: it stays pending and visible in `notifications`.
pub fn backoff(attempts: i32) -> Duration {
    let exp = attempts.clamp(1, 31) - 1;
    Duration::seconds(Ord::min(BACKOFF_FIRST_SECS.saturating_mul(1_i64 << exp), BACKOFF_CAP_SECS))
}

/// The largest claim of a pass with this replica's concurrency (`PARTNERGRAPH_SMTP_CONCURRENCY`).
pub fn max_batch(ctx: &ServiceCtx) -> u64 {
    (ctx.config.mail.smtp_concurrency as u64).saturating_mul(BATCH_PER_SEND).clamp(BATCH_SIZE, BATCH_MAX)
}

/// What became of one claimed message.
enum Outcome {
    Sent,
    /// Not accepted by the server: why, short and safe to store.
    Failed(String),
    Cancelled,
}

/// Sends the due messages, at most `BATCH_SIZE` (one claim; `drain` takes bigger ones while the backlog
/// lasts).
pub async fn dispatch_due(ctx: &ServiceCtx) -> AppResult<DispatchStats> {
    dispatch(ctx, BATCH_SIZE).await
}

/// Claims at most `limit` due messages with a lease in a short transaction, sends them outside any
/// transaction (`PARTNERGRAPH_SMTP_CONCURRENCY` at once over the SMTP pool), and records them while the
/// others are still being sent: the sent ones [`MARK_CHUNK`] at a time in one statement each, the failed
/// ones at the end, in one statement per attempt count and error. At least once, never lost: a row stays
/// `PENDING` and leased until it is marked, and the claim (`FOR UPDATE SKIP LOCKED` on PostgreSQL) keeps
/// replicas on disjoint rows.
#[tracing::instrument(level = "debug", skip_all, fields(limit = limit))]
pub async fn dispatch(ctx: &ServiceCtx, limit: u64) -> AppResult<DispatchStats> {
    use futures_util::stream::{self, StreamExt};
    let claimed = claim_due(ctx, limit).await?;
    let mut stats = DispatchStats { claimed: claimed.len(), ..Default::default() };
    if claimed.is_empty() {
        return Ok(stats);
    }
    let (done, mut outcomes) = tokio::sync::mpsc::unbounded_channel();
    // Sending and recording run side by side in this task: a mark's statement does not hold up the sends.
    let sending = stream::iter(claimed)
        .map(|m| async move {
            let outcome = send_one(ctx, &m).await;
            (m, outcome)
        })
        .buffer_unordered(Ord::max(ctx.config.mail.smtp_concurrency, 1))
        .for_each(move |r| {
            // The receiver lives until every sender is done; a send error cannot happen.
            let _ = done.send(r);
            std::future::ready(())
        });
    let recording = async {
        let mut sent = Vec::new();
        let mut failed: Vec<(outbox_message::Model, String)> = Vec::new();
        let mut first_error = None;
        while let Some((m, outcome)) = outcomes.recv().await {
            match outcome {
                Ok(Outcome::Sent) => {
                    stats.sent += 1;
                    sent.push(m.id);
                }
                Ok(Outcome::Failed(error)) => {
                    stats.failed += 1;
                    failed.push((m, error));
                }
                Ok(Outcome::Cancelled) => stats.cancelled += 1,
                Err(e) => first_error = first_error.or(Some(e)),
            }
            if sent.len() >= MARK_CHUNK
                && let Err(e) = mark_sent(ctx, &std::mem::take(&mut sent)).await
            {
                first_error = first_error.or(Some(e));
            }
        }
        if let Err(e) = mark_sent(ctx, &sent).await {
            first_error = first_error.or(Some(e));
        }
        if let Err(e) = mark_failed(ctx, &failed).await {
            first_error = first_error.or(Some(e));
        }
        first_error
    };
    let ((), first_error) = tokio::join!(sending, recording);
    tracing::info!(
        claimed = stats.claimed,
        sent = stats.sent,
        failed = stats.failed,
        cancelled = stats.cancelled,
        "outbox dispatched"
    );
    // A database error leaves its messages leased (they go out again when the lease ends); the others of
    // the batch were still sent and marked.
    match first_error {
        Some(e) => Err(e),
        None => Ok(stats),
    }
}

/// Sends one claimed message, or cancels one whose invitation or reset link is moot (recorded at once:
/// it never went out).
#[tracing::instrument(level = "debug", skip_all)]
async fn send_one(ctx: &ServiceCtx, m: &outbox_message::Model) -> AppResult<Outcome> {
    let moot = match m.kind {
        OutboxKind::Invitation => !invitation_still_pending(ctx, m).await?,
        OutboxKind::PasswordReset => !super::credentials::reset_still_usable(ctx, &m.dedupe_key).await?,
        _ => false,
    };
    if moot {
        mark_cancelled(ctx, m).await?;
        return Ok(Outcome::Cancelled);
    }
    match ctx.mailer.send(&m.to_email, &m.subject, &m.body).await {
        Ok(()) => Ok(Outcome::Sent),
        Err(e) => Ok(Outcome::Failed(e.0)),
    }
}

/// Sends batch after batch until no message is due (a batch came back short) or `budget` has passed (then
/// `more_due` is set). The scheduler's pass; each batch is one claim, so replicas draining at once share
/// the work. The first claim takes `BATCH_SIZE`; while claims come back full, the next takes four times
/// as many, up to [`max_batch`].
#[tracing::instrument(level = "debug", skip_all)]
pub async fn drain(ctx: &ServiceCtx, budget: std::time::Duration) -> AppResult<DispatchStats> {
    let started = std::time::Instant::now();
    let mut total = DispatchStats::default();
    let mut limit = BATCH_SIZE;
    loop {
        let s = dispatch(ctx, limit).await?;
        total.add(s);
        if (s.claimed as u64) < limit {
            return Ok(total);
        }
        if started.elapsed() >= budget {
            total.more_due = true;
            return Ok(total);
        }
        limit = Ord::clamp(limit.saturating_mul(4), BATCH_SIZE, max_batch(ctx));
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

/// Takes a lease on up to `limit` due messages. On PostgreSQL `FOR UPDATE SKIP LOCKED` keeps two replicas
/// from claiming the same rows; on SQLite the write transaction is serial anyway. The claim reads the
/// partial index of pending rows in claim order (`ix_outbox_pending_due`), `limit` entries of it.
#[tracing::instrument(level = "debug", skip_all, fields(limit = limit))]
async fn claim_due(ctx: &ServiceCtx, limit: u64) -> AppResult<Vec<outbox_message::Model>> {
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
        .limit(limit.clamp(1, BATCH_MAX));
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

/// Marks these sent messages `SENT` in one statement, redacting the bodies that carry a one-time token.
#[tracing::instrument(level = "debug", skip_all, fields(messages = ids.len()))]
async fn mark_sent(ctx: &ServiceCtx, ids: &[Uuid]) -> AppResult<()> {
    use outbox_message::Column as C;
    if ids.is_empty() {
        return Ok(());
    }
    let now = ctx.clock.now();
    let body = Expr::case(C::Kind.eq(OutboxKind::Invitation), REDACTED_INVITATION_BODY)
        .case(C::Kind.eq(OutboxKind::PasswordReset), REDACTED_RESET_BODY)
        .finally(Expr::col(C::Body));
    let txn = begin_write(&ctx.db, &ctx.write_gate).await?;
    outbox_message::Entity::update_many()
        .col_expr(C::Status, Expr::value(OutboxStatus::Sent))
        .col_expr(C::SentAt, Expr::value(now))
        .col_expr(C::LockedUntil, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(C::LastError, Expr::value(Option::<String>::None))
        .col_expr(C::Body, body.into())
        .filter(C::Id.is_in(ids.iter().copied()))
        .exec(&*txn)
        .await?;
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

/// Schedules the retry of each failed message: `attempts` + 1, its sanitized error, the lease cleared and
/// the next attempt after its own backoff. Messages with the same attempt count and error share one
/// statement (a server that is down fails a whole batch alike).
#[tracing::instrument(level = "debug", skip_all, fields(messages = failed.len()))]
async fn mark_failed(ctx: &ServiceCtx, failed: &[(outbox_message::Model, String)]) -> AppResult<()> {
    use outbox_message::Column as C;
    if failed.is_empty() {
        return Ok(());
    }
    let now = ctx.clock.now();
    let mut groups: BTreeMap<(i32, String), Vec<Uuid>> = BTreeMap::new();
    for (m, error) in failed {
        let error: String = error.chars().filter(|c| !c.is_control()).take(MAX_ERROR_CHARS).collect();
        groups.entry((m.attempts, error)).or_default().push(m.id);
    }
    let txn = begin_write(&ctx.db, &ctx.write_gate).await?;
    for ((attempts, error), ids) in groups {
        outbox_message::Entity::update_many()
            .col_expr(C::Attempts, Expr::col(C::Attempts).add(1))
            .col_expr(C::LastError, Expr::value(error))
            .col_expr(C::NextAttemptAt, Expr::value(now + backoff(attempts.saturating_add(1))))
            .col_expr(C::LockedUntil, Expr::value(Option::<DateTime<Utc>>::None))
            .filter(C::Id.is_in(ids))
            // The count this sender read: a row another sender retried meanwhile (its lease ran out) keeps
            // that sender's bookkeeping.
            .filter(C::Attempts.eq(attempts))
            // Another sender whose lease came later may have sent it meanwhile: a sent message stays sent.
            .filter(C::Status.eq(OutboxStatus::Pending))
            .exec(&*txn)
            .await?;
    }
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
