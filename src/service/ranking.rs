//! The quarterly ranking of docs/rules.md §8, stored per program and quarter [000].
//!
//! Computing it aggregates every paid ITSaaS contract of the program, which costs in proportion to the
//! whole subscription table: one `INSERT … SELECT` does it inside the database (per client, then per
//! partner, `NOT EXISTS` for the clients that must not count, the order by a window function), so no
//! contract row ever reaches the service and no statement carries a list of partners. The scheduler
//! refreshes the open quarter's ranking and makes the last one final once its quarter has closed; a
//! request reads the stored rows, and computes only when the stored ranking is missing or older than
//! `PARTNERGRAPH_RANKING_MAX_AGE_SECS` (the scheduler is off, or a quarter nobody asked for before).

use chrono::{DateTime, Utc};
use entity::{partner_profile, partner_status, program, ranking_row, ranking_run, subscriber};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait, Set,
    Statement, Value,
};
use std::collections::HashMap;
use uuid::Uuid;

use super::leads::{NOT_RANKED, RANKED_CATEGORY};
use super::new_id;
use crate::db::begin_write;
use crate::domain::leads::Quarter;
use crate::domain::subscription::SubscriptionBasis;
use crate::domain::{LocalTime, SubscriberKind};
use crate::error::{AppError, AppResult};
use crate::service::ServiceCtx;

/// One line of the ranking with its partner.
pub struct RankingRow {
    pub rank: i32,
    pub partner: subscriber::Model,
    pub new_contracts: i64,
    pub churned: i64,
}

/// When a stored ranking may be served as it is.
#[derive(Debug, Clone, Copy)]
pub struct Freshness {
    pub now: DateTime<Utc>,
    /// An open quarter's ranking computed this long ago or less is served.
    pub max_age: std::time::Duration,
}

impl Freshness {
    fn serves(&self, run: &ranking_run::Model) -> bool {
        if run.closed {
            return true;
        }
        // A ranking "computed" after now (a clock set back) is not trusted either.
        let max_age = chrono::Duration::from_std(self.max_age).unwrap_or(chrono::Duration::MAX);
        run.computed_at.is_some_and(|at| at <= self.now && self.now - at < max_age)
    }
}

/// Lines a `partnerRanking` request returns when it does not say.
pub const DEFAULT_RANKING_PAGE: u64 = 100;
/// The most lines one `partnerRanking` request returns.
pub const MAX_RANKING_PAGE: u64 = 500;

/// Which lines of a stored ranking a request reads: at most `first` from rank `from_rank` on, in rank
/// order, and only `partner`'s line when given. Whatever the ranking's size, a request reads this many
/// stored lines and their partners, no more.
#[derive(Debug, Clone, Copy)]
pub struct RankingPage {
    pub first: u64,
    pub from_rank: i32,
    pub partner: Option<Uuid>,
}

impl RankingPage {
    /// The page a request asks for: `first` between 0 and [`MAX_RANKING_PAGE`] (default
    /// [`DEFAULT_RANKING_PAGE`]), `from_rank` 1 or more (default 1).
    pub fn new(first: Option<i32>, from_rank: Option<i32>, partner: Option<Uuid>) -> AppResult<Self> {
        let first = first.map_or(Ok(DEFAULT_RANKING_PAGE), |f| {
            u64::try_from(f).ok().filter(|f| *f <= MAX_RANKING_PAGE).ok_or_else(|| {
                AppError::bad_input("first", "OUT_OF_RANGE", format!("first: between 0 and {MAX_RANKING_PAGE}"))
            })
        })?;
        let from_rank = from_rank.unwrap_or(1);
        if from_rank < 1 {
            return Err(AppError::bad_input("fromRank", "OUT_OF_RANGE", "fromRank: 1 or more"));
        }
        Ok(Self { first, from_rank, partner })
    }
}

/// A page of the program's ranking for a quarter, from the stored rows (computed first when they are
/// missing or stale).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn current(
    ctx: &ServiceCtx,
    program: &program::Model,
    quarter: Quarter,
    page: RankingPage,
) -> AppResult<Vec<RankingRow>> {
    let fresh = Freshness { now: ctx.clock.now(), max_age: ctx.config.rules.ranking_max_age };
    let run = match stored(&ctx.db, program.id, quarter).await? {
        Some(run) if fresh.serves(&run) => run.id,
        _ => {
            let txn = begin_write(&ctx.db, &ctx.write_gate).await?;
            let run = ensure(&*txn, program.id, quarter, ctx.config.rules.local, fresh).await?;
            txn.commit().await?;
            run
        }
    };
    rows_of(&ctx.db, run, page).await
}

/// The stored ranking of a program's quarter, if any.
async fn stored<C: ConnectionTrait>(db: &C, program: Uuid, quarter: Quarter) -> AppResult<Option<ranking_run::Model>> {
    Ok(ranking_run::Entity::find()
        .filter(ranking_run::Column::ProgramId.eq(program))
        .filter(ranking_run::Column::Quarter.eq(quarter.to_string()))
        .one(db)
        .await?)
}

/// In the caller's write transaction: the id of a stored ranking of the quarter that `fresh` serves,
/// computing it first when needed. Computations of one quarter queue on its `ranking_runs` row (a row
/// lock on PostgreSQL; SQLite writers are serial), and one that waited finds the ranking its predecessor
/// stored and does not compute it again.
pub async fn ensure<C: ConnectionTrait>(
    txn: &C,
    program: Uuid,
    quarter: Quarter,
    local: LocalTime,
    fresh: Freshness,
) -> AppResult<Uuid> {
    ranking_run::Entity::insert(ranking_run::ActiveModel {
        id: Set(new_id()),
        program_id: Set(program),
        quarter: Set(quarter.to_string()),
        computed_at: Set(None),
        closed: Set(false),
    })
    .on_conflict(
        OnConflict::columns([ranking_run::Column::ProgramId, ranking_run::Column::Quarter]).do_nothing().to_owned(),
    )
    .exec_without_returning(txn)
    .await?;
    ranking_run::Entity::update_many()
        .col_expr(ranking_run::Column::Closed, Expr::col(ranking_run::Column::Closed))
        .filter(ranking_run::Column::ProgramId.eq(program))
        .filter(ranking_run::Column::Quarter.eq(quarter.to_string()))
        .exec(txn)
        .await?;
    let run = stored(txn, program, quarter).await?.ok_or(AppError::NotFound)?;
    if fresh.serves(&run) {
        return Ok(run.id);
    }
    compute(txn, &run, quarter, local, fresh.now).await?;
    Ok(run.id)
}

/// Replaces the run's rows with the ranking as of `now`; final when the quarter has closed by then.
async fn compute<C: ConnectionTrait>(
    txn: &C,
    run: &ranking_run::Model,
    quarter: Quarter,
    local: LocalTime,
    now: DateTime<Utc>,
) -> AppResult<()> {
    ranking_row::Entity::delete_many().filter(ranking_row::Column::RunId.eq(run.id)).exec(txn).await?;
    let (start, end) = (local.day_start(quarter.start()), local.day_start(quarter.end()));
    let backend = txn.get_database_backend();
    txn.execute_raw(Statement::from_sql_and_values(
        backend,
        ranking_sql(backend),
        ranking_values(run, start, end, now),
    ))
    .await?;
    ranking_run::Entity::update_many()
        .col_expr(ranking_run::Column::ComputedAt, Expr::value(Some(now)))
        .col_expr(ranking_run::Column::Closed, Expr::value(now >= end))
        .filter(ranking_run::Column::Id.eq(run.id))
        .exec(txn)
        .await?;
    Ok(())
}

/// The ranking as one statement. Parameters: $1 the run, $2 the program, $3 and $4 the first instants of
/// the quarter and of the one after it, $5 now. Per client: its paid ITSaaS contracts of the program
/// that started before the quarter ended, the first start and the last end (a cancellation ends a
/// contract early); only clients that can count (a first start in the quarter, or a last end in it) go
/// on. A client is new when its first contract started in the quarter, churned when it started before and
/// its last contract ended in the quarter by now. Clients with an ITS PROF subscription or that came by
/// lead distribution or a promotion do not count; each counts for its serving partner. Order: net, new
/// contracts, then the partner's name by code point (as Rust compares strings) and its id.
fn ranking_sql(backend: DbBackend) -> String {
    // $6 onwards: the enumerated values the query compares with, bound like any other value (see
    // `ranking_values`), then the binding sources that do not count.
    let not_ranked = (0..NOT_RANKED.len()).map(|i| format!("${}", FIRST_NOT_RANKED + i)).collect::<Vec<_>>().join(", ");
    let by_code_point = if backend == DbBackend::Postgres { " COLLATE \"C\"" } else { "" };
    format!(
        "INSERT INTO ranking_rows (run_id, position, partner_id, new_contracts, churned)
         SELECT $1, ROW_NUMBER() OVER (ORDER BY t.new_contracts - t.churned DESC, t.new_contracts DESC,
                                               p.name{by_code_point}, p.id),
                t.partner_id, t.new_contracts, t.churned
         FROM (
           SELECT c.serving_partner_id AS partner_id,
                  SUM(CASE WHEN k.first_start >= $3 THEN 1 ELSE 0 END) AS new_contracts,
                  SUM(CASE WHEN k.first_start < $3 AND k.last_end >= $3 AND k.last_end < $4 AND k.last_end <= $5
                           THEN 1 ELSE 0 END) AS churned
           FROM (
             SELECT s.subscriber_id AS client_id, MIN(s.starts_at) AS first_start,
                    MAX(CASE WHEN s.cancelled_at IS NOT NULL AND s.cancelled_at < s.ends_at
                             THEN s.cancelled_at ELSE s.ends_at END) AS last_end
             FROM subscriptions s JOIN tariffs tr ON tr.id = s.tariff_id
             WHERE tr.program_id = $2 AND tr.category = $6 AND s.basis = $7 AND s.starts_at < $4
             GROUP BY s.subscriber_id
             HAVING MIN(s.starts_at) >= $3
                 OR MAX(CASE WHEN s.cancelled_at IS NOT NULL AND s.cancelled_at < s.ends_at
                             THEN s.cancelled_at ELSE s.ends_at END) >= $3
           ) k
           JOIN subscribers c ON c.id = k.client_id
           WHERE c.serving_partner_id IS NOT NULL
             AND NOT EXISTS (SELECT 1 FROM subscriptions x WHERE x.subscriber_id = k.client_id AND x.basis = $8)
             AND NOT EXISTS (SELECT 1 FROM binding_changes b WHERE b.client_id = k.client_id
                             AND b.source IN ({not_ranked}))
           GROUP BY c.serving_partner_id
         ) t
         JOIN subscribers p ON p.id = t.partner_id AND p.kind = $9
         WHERE t.new_contracts > 0 OR t.churned > 0"
    )
}

/// The first placeholder of the binding sources that do not count in `ranking_sql`.
const FIRST_NOT_RANKED: usize = 10;

/// The values of `ranking_sql`'s placeholders, in order.
fn ranking_values(
    run: &ranking_run::Model,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Vec<Value> {
    let mut values: Vec<Value> = vec![
        run.id.into(),
        run.program_id.into(),
        start.into(),
        end.into(),
        now.into(),
        RANKED_CATEGORY.into(),
        SubscriptionBasis::Paid.into(),
        SubscriptionBasis::ItsProf.into(),
        SubscriberKind::Partner.into(),
    ];
    debug_assert_eq!(values.len() + 1, FIRST_NOT_RANKED);
    values.extend(NOT_RANKED.map(Value::from));
    values
}

/// A page of a stored ranking's lines in rank order (public for the plan guard): one range of the primary
/// key `(run_id, position)`, or of `(run_id, partner_id)` for one partner's line.
pub fn rows_query(run: Uuid, page: RankingPage) -> sea_orm::Select<ranking_row::Entity> {
    let q = ranking_row::Entity::find()
        .filter(ranking_row::Column::RunId.eq(run))
        .filter(ranking_row::Column::Position.gte(page.from_rank));
    match page.partner {
        // At most one line (`ux_ranking_rows_partner`): no order, which would lead PostgreSQL to walk the
        // primary key's range of the whole run looking for it (10,001 rows at 10x).
        Some(partner) => q.filter(ranking_row::Column::PartnerId.eq(partner)).limit(page.first.min(1)),
        None => q.order_by_asc(ranking_row::Column::Position).limit(page.first),
    }
}

/// The partners a lead pool takes from a stored ranking, best first, as one statement (public for the plan
/// guard): at most `size` partners that hold one of `statuses` in the program and whose profile says they
/// are on the service desk, have consultants and customisation specialists. Selects the partner ids.
pub fn pool_candidates(
    run: Uuid,
    program: Uuid,
    statuses: &[String],
    size: u32,
) -> sea_orm::Select<ranking_row::Entity> {
    let with_status = partner_status::Entity::find()
        .select_only()
        .column(partner_status::Column::PartnerId)
        .filter(partner_status::Column::ProgramId.eq(program))
        .filter(partner_status::Column::Status.is_in(statuses.iter().cloned()))
        .into_query();
    let equipped = partner_profile::Entity::find()
        .select_only()
        .column(partner_profile::Column::SubscriberId)
        .filter(partner_profile::Column::ServiceDeskConnected.eq(true))
        .filter(partner_profile::Column::HasConsultants.eq(true))
        .filter(partner_profile::Column::HasCustomizationSpecialists.eq(true))
        .into_query();
    ranking_row::Entity::find()
        .select_only()
        .column(ranking_row::Column::PartnerId)
        .filter(ranking_row::Column::RunId.eq(run))
        .filter(ranking_row::Column::PartnerId.in_subquery(with_status))
        .filter(ranking_row::Column::PartnerId.in_subquery(equipped))
        .order_by_asc(ranking_row::Column::Position)
        .limit(u64::from(size))
}

/// The partners of a page of a ranking (public for the plan guard), by primary key and partner kind: as
/// many as the page has lines (at most [`MAX_RANKING_PAGE`] bound values).
pub fn partners_query(partner_ids: Vec<Uuid>) -> sea_orm::Select<subscriber::Entity> {
    subscriber::Entity::find()
        .filter(subscriber::Column::Kind.eq(crate::domain::SubscriberKind::Partner))
        .filter(subscriber::Column::Id.is_in(partner_ids))
}

/// A page of a stored ranking's lines with their partners: two statements, each as long as the page.
pub async fn rows_of<C: ConnectionTrait>(db: &C, run: Uuid, page: RankingPage) -> AppResult<Vec<RankingRow>> {
    let rows = rows_query(run, page).all(db).await?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let mut partners: HashMap<Uuid, subscriber::Model> = partners_query(rows.iter().map(|r| r.partner_id).collect())
        .all(db)
        .await?
        .into_iter()
        .map(|s| (s.id, s))
        .collect();
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            partners.remove(&r.partner_id).map(|partner| RankingRow {
                rank: r.position,
                partner,
                new_contracts: r.new_contracts,
                churned: r.churned,
            })
        })
        .collect())
}

/// The scheduler's part: for every program, the open quarter's ranking once it is older than half the
/// served age, and the last quarter's until a final one is stored. Returns how many were computed.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn refresh(ctx: &ServiceCtx) -> AppResult<u32> {
    let now = ctx.clock.now();
    let local = ctx.config.rules.local;
    let this = Quarter::of(local.date(now));
    let last = Quarter::of(this.start() - chrono::Duration::days(1));
    let mut computed = 0;
    for program in program::Entity::find().all(&ctx.db).await? {
        for quarter in [last, this] {
            let fresh = Freshness { now, max_age: ctx.config.rules.ranking_max_age / 2 };
            if stored(&ctx.db, program.id, quarter).await?.is_some_and(|run| fresh.serves(&run)) {
                continue;
            }
            let txn = begin_write(&ctx.db, &ctx.write_gate).await?;
            let before = stored(&*txn, program.id, quarter).await?.and_then(|r| r.computed_at);
            let run = ensure(&*txn, program.id, quarter, local, fresh).await?;
            let after = ranking_run::Entity::find_by_id(run).one(&*txn).await?.and_then(|r| r.computed_at);
            txn.commit().await?;
            computed += u32::from(before != after);
        }
    }
    Ok(computed)
}
