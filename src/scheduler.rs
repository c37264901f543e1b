//! Time-based work inside the service: the trial tasks, the Monday digest, sending queued e-mail,
//! purging kept `Idempotency-Key` answers past their time, keeping the stored partner ranking fresh and
//! the audit log's months (partitions ahead on PostgreSQL, the retention when one is set).
//! Several replicas may each run a scheduler: every job is idempotent by a key in the database (task
//! and e-mail dedupe keys; a `job_runs` row per Monday digest), so running twice does the work once.

use chrono::{Duration, NaiveDate};
use entity::job_run;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Set};

use crate::error::AppResult;
use crate::service::ServiceCtx;
use crate::service::{audit_partitions, credentials, digest, idempotency, new_id, outbox, ranking, tasks};

/// A job claimed but not finished within this long is taken over (its runner died).
const STALE_AFTER_MINUTES: i64 = 15;

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TickReport {
    pub tasks_created: u32,
    pub tasks_cancelled: u32,
    /// Digest e-mails queued (on a Monday's first pass).
    pub digests_queued: usize,
    pub emails_sent: usize,
    pub emails_failed: usize,
    /// Sent and cancelled e-mails deleted past their retention.
    pub emails_purged: u64,
    /// Webhook deliveries past their 30 days, deleted.
    pub webhook_deliveries_purged: u64,
    /// Kept `Idempotency-Key` answers (and dead claims) deleted past their time.
    pub idempotency_purged: u64,
    /// Stored quarterly rankings computed (the open quarter's refreshed, the last one made final).
    pub rankings_computed: u32,
    /// The audit log's months: partitions created ahead and dropped, rows deleted past the retention.
    pub audit: audit_partitions::Upkeep,
}

/// One pass of every job. Each job's failure is logged and does not stop the others.
pub async fn tick(ctx: &ServiceCtx) -> TickReport {
    let mut report = TickReport::default();
    match tasks::generate_trial_tasks(ctx).await {
        Ok(r) => {
            report.tasks_created = r.created;
            report.tasks_cancelled = r.cancelled;
        }
        Err(e) => tracing::error!(error = ?e, "scheduler: trial tasks failed"),
    }
    let now = ctx.clock.now();
    // Monday in the service's time zone: in Moscow the digest goes out from 00:00 MSK (21:00 UTC Sunday).
    let local = ctx.config.local;
    if local.is_monday(now) {
        match weekly_digest_once(ctx, local.monday_of(now)).await {
            Ok(n) => report.digests_queued = n,
            Err(e) => tracing::error!(error = ?e, "scheduler: weekly digest failed"),
        }
    }
    if let Err(e) = credentials::prune_resets(ctx).await {
        tracing::error!(error = ?e, "scheduler: pruning password resets failed");
    }
    match outbox::drain(ctx, outbox::DRAIN_BUDGET).await {
        Ok(s) => {
            report.emails_sent = s.sent;
            report.emails_failed = s.failed;
        }
        Err(e) => tracing::error!(error = ?e, "scheduler: sending e-mail failed"),
    }
    match outbox::purge_sent(ctx, ctx.config.outbox_retention_days).await {
        Ok(n) => report.emails_purged = n,
        Err(e) => tracing::error!(error = ?e, "scheduler: purging sent e-mail failed"),
    }
    match crate::service::webhooks::deliveries::purge_old(ctx).await {
        Ok(n) => report.webhook_deliveries_purged = n,
        Err(e) => tracing::error!(error = ?e, "scheduler: purging webhook deliveries failed"),
    }
    match idempotency::purge_expired(ctx).await {
        Ok(n) => report.idempotency_purged = n,
        Err(e) => tracing::error!(error = ?e, "scheduler: purging idempotency keys failed"),
    }
    match ranking::refresh(ctx).await {
        Ok(n) => report.rankings_computed = n,
        Err(e) => tracing::error!(error = ?e, "scheduler: computing the partner ranking failed"),
    }
    match audit_partitions::upkeep(ctx).await {
        Ok(u) => report.audit = u,
        Err(e) => tracing::error!(error = ?e, "scheduler: the audit log's partitions or retention failed"),
    }
    report
}

/// Runs the week's digest unless a replica already did (or is doing) it.
pub async fn weekly_digest_once(ctx: &ServiceCtx, monday: NaiveDate) -> AppResult<usize> {
    let key = format!("weekly-digest:{monday}");
    if !claim(ctx, &key).await? {
        return Ok(0);
    }
    let queued = digest::run_weekly_digest(ctx, monday).await?;
    job_run::Entity::update_many()
        .col_expr(job_run::Column::FinishedAt, Expr::value(ctx.clock.now()))
        .filter(job_run::Column::JobKey.eq(&key))
        .exec(&ctx.db)
        .await?;
    Ok(queued)
}

/// Takes the job with this key: a fresh key, or one whose runner started long ago and never finished.
async fn claim(ctx: &ServiceCtx, key: &str) -> AppResult<bool> {
    let now = ctx.clock.now();
    let inserted = job_run::Entity::insert(job_run::ActiveModel {
        id: Set(new_id()),
        job_key: Set(key.to_owned()),
        started_at: Set(now),
        finished_at: Set(None),
    })
    .on_conflict(OnConflict::column(job_run::Column::JobKey).do_nothing().to_owned())
    .exec_without_returning(&ctx.db)
    .await?;
    if inserted > 0 {
        return Ok(true);
    }
    // Compare-and-set on the start time: of two replicas taking over a stale run, one wins.
    let taken = job_run::Entity::update_many()
        .col_expr(job_run::Column::StartedAt, Expr::value(now))
        .filter(job_run::Column::JobKey.eq(key))
        .filter(job_run::Column::FinishedAt.is_null())
        .filter(job_run::Column::StartedAt.lt(now - Duration::minutes(STALE_AFTER_MINUTES)))
        .exec(&ctx.db)
        .await?;
    Ok(taken.rows_affected > 0)
}

/// Runs `tick` every configured interval until the process ends (nothing when the interval is off), and
/// starts the webhook sender (which keeps its own time: it sends within a second of a commit).
pub fn spawn(ctx: ServiceCtx) {
    crate::service::webhooks::sender::spawn(ctx.clone());
    let Some(every) = ctx.config.scheduler_interval else {
        return;
    };
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            let r = tick(&ctx).await;
            if r != TickReport::default() {
                tracing::info!(?r, "scheduler pass");
            }
        }
    });
}
