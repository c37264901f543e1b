//! The partner's tasks (calls) [001, 000]: created for the serving partner when a client arrives and as
//! its trial goes on, listed by due date, completed with an outcome. Each task has a dedupe key, so the
//! scheduler may run on several replicas at once and still create every task once.

use entity::enums::SubscriptionBasis;
use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use entity::{subscriber, subscription, task};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use uuid::Uuid;

use super::{Page, PageArgs, new_id};
use crate::auth::Scope;
use crate::domain::tasks::{self as rules, TaskKind, TaskStatus, Trial};
use crate::error::{AppError, AppResult};
use crate::service::ServiceCtx;

/// The longest outcome note.
pub const MAX_OUTCOME: usize = 4000;
/// How long after a trial ended the scheduler still asks for its churn reason.
const CHURN_LOOKBACK_DAYS: i64 = 30;
/// Clients looked up per statement (keeps `IN` lists far below the drivers' parameter limits).
const CHUNK: usize = 500;

/// Creates a task once per occasion; returns false when it already exists.
pub async fn create_in<C: ConnectionTrait>(
    db: &C,
    partner: Uuid,
    client: Uuid,
    kind: TaskKind,
    due_at: DateTime<Utc>,
    occasion: &str,
    now: DateTime<Utc>,
) -> AppResult<bool> {
    let id = new_id();
    let row = task::ActiveModel {
        id: Set(id),
        partner_id: Set(partner),
        client_id: Set(client),
        kind: Set(kind),
        status: Set(TaskStatus::Open),
        due_at: Set(due_at),
        dedupe_key: Set(format!("{}:{occasion}", kind.as_str())),
        outcome: Set(None),
        created_at: Set(now),
        completed_at: Set(None),
        completed_by: Set(None),
    };
    let n = task::Entity::insert(row)
        .on_conflict(OnConflict::column(task::Column::DedupeKey).do_nothing().to_owned())
        .exec_without_returning(db)
        .await?;
    if n > 0 {
        super::webhooks::queue(
            db,
            [super::webhooks::Event::task_created(id, kind.as_str(), partner, client, due_at, now)],
        )
        .await?;
    }
    Ok(n > 0)
}

/// Creates a task in its own write transaction, with its webhook event (for the scheduler's passes).
async fn create_alone(
    ctx: &ServiceCtx,
    partner: Uuid,
    client: Uuid,
    kind: TaskKind,
    due_at: DateTime<Utc>,
    occasion: &str,
    now: DateTime<Utc>,
) -> AppResult<bool> {
    let txn = crate::db::begin_write(&ctx.db, &ctx.write_gate).await?;
    let created = create_in(&*txn, partner, client, kind, due_at, occasion, now).await?;
    txn.commit().await?;
    Ok(created)
}

/// The welcome call for a client that just came to a partner (one per client and partner).
pub async fn welcome_call<C: ConnectionTrait>(
    db: &C,
    partner: Uuid,
    client: Uuid,
    now: DateTime<Utc>,
) -> AppResult<bool> {
    create_in(
        db,
        partner,
        client,
        TaskKind::WelcomeCall,
        rules::welcome_call_due(now),
        &format!("{client}:{partner}"),
        now,
    )
    .await
}

/// The calls of a trial, on the serving partner's list from the moment it starts (docs/rules.md §9), with their
/// due dates: the check-in 10 to 14 days in (due on day 14, or at the end of a shorter trial; a trial
/// shorter than 10 days has none) and the trial-ending call due 7 days before the end (none for a client
/// that already pays, which needs no such call). The keys are the scheduler's, so neither makes one twice;
/// the scheduler still cancels them when a payment makes them moot.
pub async fn plan_trial_calls<C: ConnectionTrait>(
    db: &C,
    partner: Uuid,
    trial: &subscription::Model,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let t = Trial { starts_at: trial.starts_at, ends_at: trial.ends_at };
    let occasion = trial.id.to_string();
    let (opens, due) = rules::check_in(t);
    if opens < t.ends_at {
        create_in(db, partner, trial.subscriber_id, TaskKind::TrialCheckIn, due, &occasion, now).await?;
    }
    let pays = paid_until(db, &[trial.subscriber_id]).await?.get(&trial.subscriber_id).is_some_and(|end| *end > now);
    if !pays {
        let (_, due) = rules::trial_ending(t);
        create_in(db, partner, trial.subscriber_id, TaskKind::TrialEnding, due, &occasion, now).await?;
    }
    Ok(())
}

/// The tasks the caller reaches: its partner's (owner and operators), or all (the vendor).
fn mine(p: Scope<'_>) -> AppResult<Condition> {
    if p.is_vendor() {
        return Ok(Condition::all());
    }
    p.require(p.serves_clients(), "read tasks")?;
    Ok(Condition::all().add(task::Column::PartnerId.eq(p.subscriber_id)))
}

/// Tasks by due date: a partner's owner and operators see the partner's, the vendor sees all.
#[tracing::instrument(level = "debug", skip_all, fields(caller = %p.subscriber_id, client = ?client))]
pub async fn list(
    ctx: &ServiceCtx,
    p: Scope<'_>,
    status: Option<TaskStatus>,
    client: Option<Uuid>,
    page: PageArgs,
) -> AppResult<Page<task::Model>> {
    let mut q = task::Entity::find().filter(mine(p)?);
    if let Some(status) = status {
        q = q.filter(task::Column::Status.eq(status));
    }
    if let Some(client) = client {
        q = q.filter(task::Column::ClientId.eq(client));
    }
    let total = if page.count_total { q.clone().count(&ctx.db).await? } else { 0 };
    if let Some(after) = page.after {
        // The cursor's row is looked up within the caller's own tasks: another partner's task id is the
        // same unknown cursor as a random one.
        let cursor = task::Entity::find_by_id(after)
            .filter(mine(p)?)
            .one(&ctx.db)
            .await?
            .ok_or_else(|| AppError::bad_input("after", "INVALID_CURSOR", "after: not a cursor from this list"))?;
        q = q.filter(
            Condition::any()
                .add(task::Column::DueAt.gt(cursor.due_at))
                .add(Condition::all().add(task::Column::DueAt.eq(cursor.due_at)).add(task::Column::Id.gt(after))),
        );
    }
    let items =
        q.order_by_asc(task::Column::DueAt).order_by_asc(task::Column::Id).limit(page.first + 1).all(&ctx.db).await?;
    Ok(Page::from_overfetch(items, page.first, total))
}

/// Completes an open task of the caller's partner with an outcome note.
#[tracing::instrument(level = "debug", skip_all, fields(caller = %p.subscriber_id, id = %id))]
pub async fn complete(ctx: &ServiceCtx, p: Scope<'_>, id: Uuid, outcome: &str) -> AppResult<task::Model> {
    let outcome = outcome.trim();
    if outcome.is_empty() || outcome.chars().count() > MAX_OUTCOME {
        return Err(AppError::bad_input(
            "outcome",
            "INVALID_OUTCOME",
            format!("outcome: between 1 and {MAX_OUTCOME} characters"),
        ));
    }
    let t = task::Entity::find_by_id(id)
        .one(&ctx.db)
        .await?
        .filter(|t| t.partner_id == p.subscriber_id || p.is_vendor())
        .ok_or(AppError::NotFound)?;
    p.require(p.serves_clients() && t.partner_id == p.subscriber_id, "complete tasks")?;
    let now = ctx.clock.now();
    // Compare-and-set on the status: of two concurrent completions one wins, the other is told.
    let done = task::Entity::update_many()
        .col_expr(task::Column::Status, Expr::value(TaskStatus::Done))
        .col_expr(task::Column::Outcome, Expr::value(outcome))
        .col_expr(task::Column::CompletedAt, Expr::value(now))
        .col_expr(task::Column::CompletedBy, Expr::value(p.responsible_user()))
        .filter(task::Column::Id.eq(id))
        .filter(task::Column::Status.eq(TaskStatus::Open))
        .exec(&ctx.db)
        .await?;
    if done.rows_affected == 0 {
        return Err(AppError::conflict("TASK_NOT_OPEN", "this task is already done or cancelled"));
    }
    task::Entity::find_by_id(id).one(&ctx.db).await?.ok_or(AppError::NotFound)
}

/// Completes a client's open churn-reason tasks once the reason is recorded.
pub async fn close_churn_tasks<C: ConnectionTrait>(
    db: &C,
    client: Uuid,
    outcome: &str,
    actor: Uuid,
    now: DateTime<Utc>,
) -> AppResult<()> {
    task::Entity::update_many()
        .col_expr(task::Column::Status, Expr::value(TaskStatus::Done))
        .col_expr(task::Column::Outcome, Expr::value(outcome))
        .col_expr(task::Column::CompletedAt, Expr::value(now))
        .col_expr(task::Column::CompletedBy, Expr::value(actor))
        .filter(task::Column::ClientId.eq(client))
        .filter(task::Column::Kind.eq(TaskKind::ChurnReason))
        .filter(task::Column::Status.eq(TaskStatus::Open))
        .exec(db)
        .await?;
    Ok(())
}

/// What one scheduler pass over the trials did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TrialTaskReport {
    pub created: u32,
    pub cancelled: u32,
}

/// The time-based tasks: the churn-reason call once a trial ended with no paid subscription, and calls
/// that a payment made pointless are cancelled. The check-in and trial-ending calls are planned when the
/// trial starts (`plan_trial_calls`); this pass still makes them, when their time comes, for a trial
/// whose client had no partner then (bound later). Safe to run often and on several replicas: each task
/// has its key.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn generate_trial_tasks(ctx: &ServiceCtx) -> AppResult<TrialTaskReport> {
    let db = &ctx.db;
    let now = ctx.clock.now();
    let mut report = TrialTaskReport::default();
    let live_trials = subscription::Entity::find()
        .filter(subscription::Column::Basis.eq(SubscriptionBasis::Trial))
        .filter(subscription::Column::CancelledAt.is_null())
        .filter(subscription::Column::EndsAt.gt(now))
        .filter(
            Condition::any()
                .add(subscription::Column::StartsAt.lte(now - Duration::days(10)))
                .add(subscription::Column::EndsAt.lte(now + Duration::days(10))),
        )
        .all(db)
        .await?;
    let ended_trials = subscription::Entity::find()
        .filter(subscription::Column::Basis.eq(SubscriptionBasis::Trial))
        .filter(subscription::Column::ChurnReason.is_null())
        .filter(subscription::Column::EndsAt.lte(now))
        .filter(subscription::Column::EndsAt.gt(now - Duration::days(CHURN_LOOKBACK_DAYS)))
        .all(db)
        .await?;
    let clients: Vec<Uuid> = live_trials.iter().chain(&ended_trials).map(|s| s.subscriber_id).collect();
    let partners = serving_partners(db, &clients).await?;
    let paid = paid_until(db, &clients).await?;
    let pays_after = |client: &Uuid, at: DateTime<Utc>| paid.get(client).is_some_and(|end| *end > at);
    for s in &live_trials {
        let Some(&partner) = partners.get(&s.subscriber_id) else { continue };
        let t = Trial { starts_at: s.starts_at, ends_at: s.ends_at };
        let (opens, due) = rules::check_in(t);
        if opens <= now
            && create_alone(ctx, partner, s.subscriber_id, TaskKind::TrialCheckIn, due, &s.id.to_string(), now).await?
        {
            report.created += 1;
        }
        let (opens, due) = rules::trial_ending(t);
        if opens <= now
            && !pays_after(&s.subscriber_id, now)
            && create_alone(ctx, partner, s.subscriber_id, TaskKind::TrialEnding, due, &s.id.to_string(), now).await?
        {
            report.created += 1;
        }
    }
    for s in &ended_trials {
        let Some(&partner) = partners.get(&s.subscriber_id) else { continue };
        let paid_after = pays_after(&s.subscriber_id, s.starts_at);
        let t = Trial { starts_at: s.starts_at, ends_at: s.ends_at };
        if !paid_after
            && create_alone(
                ctx,
                partner,
                s.subscriber_id,
                TaskKind::ChurnReason,
                rules::churn_reason_due(t),
                &s.id.to_string(),
                now,
            )
            .await?
        {
            report.created += 1;
        }
    }
    // A client that pays needs no trial-ending or churn call any more.
    let waiting: Vec<Uuid> = task::Entity::find()
        .select_only()
        .column(task::Column::ClientId)
        .filter(task::Column::Kind.is_in([TaskKind::TrialEnding, TaskKind::ChurnReason]))
        .filter(task::Column::Status.eq(TaskStatus::Open))
        .distinct()
        .into_tuple()
        .all(db)
        .await?;
    let payers: Vec<Uuid> =
        paid_until(db, &waiting).await?.into_iter().filter(|(_, end)| *end > now).map(|(c, _)| c).collect();
    for chunk in payers.chunks(CHUNK) {
        let r = task::Entity::update_many()
            .col_expr(task::Column::Status, Expr::value(TaskStatus::Cancelled))
            .col_expr(task::Column::CompletedAt, Expr::value(now))
            .filter(task::Column::ClientId.is_in(chunk.to_vec()))
            .filter(task::Column::Kind.is_in([TaskKind::TrialEnding, TaskKind::ChurnReason]))
            .filter(task::Column::Status.eq(TaskStatus::Open))
            .exec(db)
            .await?;
        report.cancelled += r.rows_affected as u32;
    }
    Ok(report)
}

/// The serving partner of each bound client among these.
async fn serving_partners<C: ConnectionTrait>(db: &C, clients: &[Uuid]) -> AppResult<HashMap<Uuid, Uuid>> {
    let mut out = HashMap::new();
    for chunk in clients.chunks(CHUNK) {
        let rows: Vec<(Uuid, Option<Uuid>)> = subscriber::Entity::find()
            .select_only()
            .column(subscriber::Column::Id)
            .column(subscriber::Column::ServingPartnerId)
            .filter(subscriber::Column::Id.is_in(chunk.to_vec()))
            .into_tuple()
            .all(db)
            .await?;
        out.extend(rows.into_iter().filter_map(|(c, p)| Some((c, p?))));
    }
    Ok(out)
}

/// The latest end of a paid (not cancelled) subscription of each of these clients that has one.
async fn paid_until<C: ConnectionTrait>(db: &C, clients: &[Uuid]) -> AppResult<HashMap<Uuid, DateTime<Utc>>> {
    let mut out: HashMap<Uuid, DateTime<Utc>> = HashMap::new();
    for chunk in clients.chunks(CHUNK) {
        let rows: Vec<(Uuid, DateTime<Utc>)> = subscription::Entity::find()
            .select_only()
            .column(subscription::Column::SubscriberId)
            .column(subscription::Column::EndsAt)
            .filter(subscription::Column::SubscriberId.is_in(chunk.to_vec()))
            .filter(subscription::Column::Basis.eq(SubscriptionBasis::Paid))
            .filter(subscription::Column::CancelledAt.is_null())
            .into_tuple()
            .all(db)
            .await?;
        for (client, end) in rows {
            let e = out.entry(client).or_insert(end);
            *e = (*e).max(end);
        }
    }
    Ok(out)
}
