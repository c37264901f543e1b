//! Lead distribution [000]: the quarterly ranking, lead pools published from it, and the assignment of a
//! self-registered client to the pool member whose share is furthest behind (`domain::leads`).

use chrono::{DateTime, Duration, NaiveDate, Utc};
use entity::enums::{Role, SubscriberKind};
use entity::{lead_pool, lead_pool_member, lead_pool_member_change, membership, program, subscriber, user};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait, Set,
};
use uuid::Uuid;

use super::outbox::{self, NewMessage};
use super::subscribers::{BindingNote, bind};
use super::{Page, PageArgs, new_id, paginate, programs, ranking, tasks};
use crate::auth::Scope;
use crate::db::begin_write;
use crate::domain::BindingSource;
use crate::domain::leads::{LeadCandidate, Quarter, choose_lead_partner};
use crate::domain::{BasisPoints, LocalTime};
use crate::error::{AppError, AppResult};
use crate::events::{EventDetail, PartnerEvent};
use crate::service::ServiceCtx;

/// The category whose paid contracts the ranking counts [000].
pub const RANKED_CATEGORY: &str = "ITSAAS";
/// Binding sources whose clients do not count in the ranking: leads and promotions [000].
pub(super) const NOT_RANKED: [BindingSource; 3] =
    [BindingSource::LeadDistribution, BindingSource::BonusPromo, BindingSource::DiscountPromo];
/// The most members a pool may have.
pub const MAX_POOL_SIZE: u32 = 50;

pub use super::ranking::{DEFAULT_RANKING_PAGE, MAX_RANKING_PAGE, RankingPage, RankingRow};

pub fn parse_quarter(raw: &str) -> AppResult<Quarter> {
    raw.parse().map_err(AppError::input("quarter"))
}

/// The ranking is published to partners and the vendor; clients have no business with it.
fn may_read_program_data(p: Scope<'_>) -> bool {
    p.is_vendor() || p.is_partner()
}

#[tracing::instrument(level = "debug", skip_all, fields(caller = %p.subscriber_id))]
pub async fn ranking(
    ctx: &ServiceCtx,
    p: Scope<'_>,
    program_code: &str,
    quarter: &str,
    page: RankingPage,
) -> AppResult<Vec<RankingRow>> {
    p.require(may_read_program_data(p), "read the partner ranking")?;
    // A partner asks for its own line by id; another partner's id answers as an id that names nothing
    // would (no line), so the argument tells nothing about ids outside the caller's reach.
    if page.partner.is_some_and(|id| !p.is_vendor() && id != p.subscriber_id) {
        return Ok(Vec::new());
    }
    let quarter = parse_quarter(quarter)?;
    let program = programs::by_code(&ctx.db, program_code, "programCode").await?;
    ranking::current(ctx, &program, quarter, page).await
}

/// What the vendor gives to publish a pool.
pub struct NewPool {
    pub program_code: String,
    pub quarter: String,
    pub valid_from: NaiveDate,
    pub valid_until: NaiveDate,
    pub size: u32,
}

/// Publishes a pool from a quarter's ranking: the best `size` partners that hold the program's minimum
/// lead status and whose profile says they are on the service desk, have consultants and customisation
/// specialists. A valid pool whose window overlaps ends the day before the new one starts.
#[tracing::instrument(level = "debug", skip_all, fields(caller = %p.subscriber_id))]
pub async fn publish_pool(ctx: &ServiceCtx, p: Scope<'_>, n: NewPool) -> AppResult<lead_pool::Model> {
    p.require(p.is_vendor_staff(), "publish lead pools")?;
    let quarter = parse_quarter(&n.quarter)?;
    if n.size == 0 || n.size > MAX_POOL_SIZE {
        return Err(AppError::bad_input("size", "OUT_OF_RANGE", format!("size: between 1 and {MAX_POOL_SIZE}")));
    }
    if n.valid_until < n.valid_from {
        return Err(AppError::bad_input("validUntil", "BEFORE_START", "validUntil: must not be before validFrom"));
    }
    let now = ctx.clock.now();
    let txn = begin_write(&ctx.db, &ctx.write_gate).await?;
    let program = programs::by_code(&*txn, &n.program_code, "programCode").await?;
    // Two publications for one program queue behind each other (PostgreSQL row lock).
    super::lock_row::<program::Entity, _>(&*txn, program::Column::Id, program::Column::CreatedAt, program.id).await?;
    let fresh = ranking::Freshness { now, max_age: ctx.config.rules.ranking_max_age };
    let run = ranking::ensure(&*txn, program.id, quarter, ctx.config.rules.local, fresh).await?;
    let statuses = programs::statuses(&*txn, program.id).await?;
    let min_rank = program.lead_min_status.as_deref().and_then(|m| statuses.iter().position(|s| s == m)).unwrap_or(0);
    let chosen: Vec<Uuid> =
        ranking::pool_candidates(run, program.id, &statuses[min_rank..], n.size).into_tuple().all(&*txn).await?;
    if chosen.is_empty() {
        return Err(AppError::bad_input(
            "quarter",
            "NO_ELIGIBLE_PARTNERS",
            "no partner in this quarter's ranking meets the lead pool conditions",
        ));
    }
    lead_pool::Entity::update_many()
        .col_expr(lead_pool::Column::ValidUntil, Expr::value(n.valid_from - Duration::days(1)))
        .filter(lead_pool::Column::ProgramId.eq(program.id))
        .filter(lead_pool::Column::ValidFrom.lte(n.valid_until))
        .filter(lead_pool::Column::ValidUntil.gte(n.valid_from))
        .exec(&*txn)
        .await?;
    let pool = lead_pool::ActiveModel {
        id: Set(new_id()),
        program_id: Set(program.id),
        quarter: Set(quarter.to_string()),
        valid_from: Set(n.valid_from),
        valid_until: Set(n.valid_until),
        created_at: Set(now),
        created_by: Set(Some(p.responsible_user())),
    }
    .insert(&*txn)
    .await?;
    for (i, partner) in chosen.into_iter().enumerate() {
        lead_pool_member::ActiveModel {
            id: Set(new_id()),
            pool_id: Set(pool.id),
            partner_id: Set(partner),
            rank: Set(i as i32 + 1),
            weight_bp: Set(100),
            excluded: Set(false),
            reason: Set(None),
            assigned: Set(0),
            updated_at: Set(now),
        }
        .insert(&*txn)
        .await?;
    }
    txn.commit().await?;
    Ok(pool)
}

/// A change of a member's share: a new weight (0 to 100.00), excluded or back in, with the reason.
pub struct MemberChange {
    pub weight: Option<BasisPoints>,
    pub excluded: Option<bool>,
    pub reason: String,
}

#[tracing::instrument(level = "debug", skip_all, fields(caller = %p.subscriber_id, pool = %pool, partner = %partner))]
pub async fn set_member(
    ctx: &ServiceCtx,
    p: Scope<'_>,
    pool: Uuid,
    partner: Uuid,
    c: MemberChange,
) -> AppResult<lead_pool_member::Model> {
    p.require(p.is_vendor_staff(), "change lead pool members")?;
    let reason = c.reason.trim().to_owned();
    if reason.is_empty() || reason.chars().count() > 1000 {
        return Err(AppError::bad_input("reason", "INVALID_REASON", "reason: between 1 and 1000 characters"));
    }
    let now = ctx.clock.now();
    let txn = begin_write(&ctx.db, &ctx.write_gate).await?;
    // The pool's lock (the one lead assignment takes): concurrent changes of a member take turns, so each
    // starts from what the one before it wrote and none is overwritten.
    super::lock_row::<lead_pool::Entity, _>(&*txn, lead_pool::Column::Id, lead_pool::Column::CreatedAt, pool).await?;
    let member = lead_pool_member::Entity::find()
        .filter(lead_pool_member::Column::PoolId.eq(pool))
        .filter(lead_pool_member::Column::PartnerId.eq(partner))
        .one(&*txn)
        .await?
        .ok_or(AppError::NotFound)?;
    let mut am: lead_pool_member::ActiveModel = member.clone().into();
    let weight = c.weight.map_or(member.weight_bp, BasisPoints::get);
    let excluded = c.excluded.unwrap_or(member.excluded);
    am.weight_bp = Set(weight);
    am.excluded = Set(excluded);
    am.reason = Set(Some(reason.clone()));
    am.updated_at = Set(now);
    let member = am.update(&*txn).await?;
    lead_pool_member_change::ActiveModel {
        id: Set(new_id()),
        member_id: Set(member.id),
        weight_bp: Set(weight),
        excluded: Set(excluded),
        reason: Set(reason),
        at: Set(now),
        actor_user_id: Set(Some(p.responsible_user())),
    }
    .insert(&*txn)
    .await?;
    txn.commit().await?;
    Ok(member)
}

/// The pool of a program valid on a day (the latest published, when windows touch).
pub async fn pool_valid_on<C: ConnectionTrait>(
    db: &C,
    program: Uuid,
    day: NaiveDate,
) -> AppResult<Option<lead_pool::Model>> {
    Ok(lead_pool::Entity::find()
        .filter(lead_pool::Column::ProgramId.eq(program))
        .filter(lead_pool::Column::ValidFrom.lte(day))
        .filter(lead_pool::Column::ValidUntil.gte(day))
        .order_by_desc(lead_pool::Column::ValidFrom)
        .order_by_desc(lead_pool::Column::CreatedAt)
        .one(db)
        .await?)
}

#[tracing::instrument(level = "debug", skip_all, fields(caller = %p.subscriber_id))]
pub async fn current_pool(ctx: &ServiceCtx, p: Scope<'_>, program_code: &str) -> AppResult<Option<lead_pool::Model>> {
    p.require(may_read_program_data(p), "read lead pools")?;
    let program = programs::by_code(&ctx.db, program_code, "programCode").await?;
    pool_valid_on(&ctx.db, program.id, ctx.config.rules.local.date(ctx.clock.now())).await
}

pub async fn members_of<C: ConnectionTrait>(db: &C, pool: Uuid) -> AppResult<Vec<lead_pool_member::Model>> {
    Ok(lead_pool_member::Entity::find()
        .filter(lead_pool_member::Column::PoolId.eq(pool))
        .order_by_asc(lead_pool_member::Column::Rank)
        .all(db)
        .await?)
}

/// Assigns a self-registered client from the program's pool valid today, in the registration's
/// transaction. The pool's row lock (PostgreSQL; SQLite writers are serial) makes concurrent
/// registrations take turns, so the shares come out exact. Returns the partner and the event to publish
/// after commit, or None when no valid pool has a member that may get leads.
pub async fn assign_lead(
    txn: &DatabaseTransaction,
    client: &subscriber::Model,
    program: Uuid,
    local: LocalTime,
    now: DateTime<Utc>,
) -> AppResult<Option<(subscriber::Model, PartnerEvent)>> {
    let Some(pool) = pool_valid_on(txn, program, local.date(now)).await? else {
        return Ok(None);
    };
    super::lock_row::<lead_pool::Entity, _>(txn, lead_pool::Column::Id, lead_pool::Column::CreatedAt, pool.id).await?;
    let members = members_of(txn, pool.id).await?;
    let candidates: Vec<LeadCandidate> = members
        .iter()
        .map(|m| LeadCandidate { rank: m.rank, weight_bp: m.weight_bp, excluded: m.excluded, assigned: m.assigned })
        .collect();
    let Some(i) = choose_lead_partner(&candidates) else {
        return Ok(None);
    };
    let member = &members[i];
    lead_pool_member::Entity::update_many()
        .col_expr(lead_pool_member::Column::Assigned, Expr::col(lead_pool_member::Column::Assigned).add(1))
        .filter(lead_pool_member::Column::Id.eq(member.id))
        .exec(txn)
        .await?;
    let note = BindingNote::automatic(format!("lead distribution: the lead pool of {}", pool.quarter));
    let client = bind(txn, client, Some(member.partner_id), BindingSource::LeadDistribution, note, now).await?;
    super::webhooks::queue(txn, [super::webhooks::Event::lead_assigned(&client, member.partner_id, pool.id, now)])
        .await?;
    tasks::welcome_call(txn, member.partner_id, client.id, now).await?;
    for to in partner_staff_emails(txn, member.partner_id).await? {
        outbox::enqueue(
            txn,
            NewMessage {
                kind: outbox::OutboxKind::NewLead,
                to: to.clone(),
                subject: format!("New client: {}", client.name),
                body: format!(
                    "A new client was assigned to you by lead distribution: {} (registered {}).\n\
                     Please make the welcome call within a day.",
                    client.name,
                    now.format("%Y-%m-%d %H:%M UTC")
                ),
                dedupe_key: format!("lead:{}:{to}", client.id),
            },
            now,
        )
        .await?;
    }
    let assigned = EventDetail::LeadAssigned { client: client.name.clone() };
    let event = PartnerEvent::new(member.partner_id, client.id, assigned, now);
    Ok(Some((client, event)))
}

/// The e-mail addresses of a partner's active owners and service operators (who serve its clients).
pub async fn partner_staff_emails<C: ConnectionTrait>(db: &C, partner: Uuid) -> AppResult<Vec<String>> {
    let users = membership::Entity::find()
        .select_only()
        .column(membership::Column::UserId)
        .filter(membership::Column::SubscriberId.eq(partner))
        .filter(membership::Column::Role.is_in([Role::Owner, Role::ServiceOperator]))
        .into_query();
    Ok(user::Entity::find()
        .select_only()
        .column(user::Column::Email)
        .filter(user::Column::Id.in_subquery(users))
        .filter(user::Column::Active.eq(true))
        .order_by_asc(user::Column::Email)
        .into_tuple()
        .all(db)
        .await?)
}

/// Clients nobody serves (self-registered while no pool was valid): the vendor assigns them by hand.
#[tracing::instrument(level = "debug", skip_all, fields(caller = %p.subscriber_id))]
pub async fn unbound_clients(ctx: &ServiceCtx, p: Scope<'_>, page: PageArgs) -> AppResult<Page<subscriber::Model>> {
    // A read: every role of the vendor reads everything (docs/rules.md §1–2).
    p.require(p.is_vendor(), "list unbound clients")?;
    let q = subscriber::Entity::find()
        .filter(subscriber::Column::Kind.eq(SubscriberKind::Client))
        .filter(subscriber::Column::ServingPartnerId.is_null());
    paginate(&ctx.db, q, subscriber::Column::Id, page).await
}
