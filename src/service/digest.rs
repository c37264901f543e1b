//! The weekly digest (docs/rules.md §9): a partner's client subscriptions ending in the next two weeks and those
//! created in the past week, as a query and as a Monday e-mail to each of the partner's service operators.

use entity::enums::{Role, SubscriberKind};
use std::collections::HashMap;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc, Weekday};
use entity::{membership, subscriber, subscription, user};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use super::outbox::{self, NewMessage};
use super::subscribers::client_ids_of;
use crate::auth::Reach;
use crate::auth::Scope;
use crate::db::begin_write;
use crate::domain::LocalTime;
use crate::error::{AppError, AppResult};
use crate::service::ServiceCtx;

/// The most subscriptions one list of a digest holds (soonest first); a partner with more sees the first
/// ones, which are the most urgent.
pub const MAX_ROWS: u64 = 500;
/// Partners read per step of `run_weekly_digest`.
const PARTNER_BATCH: u64 = 100;

/// The Monday a digest is for, in the service's local time (`PARTNERGRAPH_TIMEZONE`): its days begin
/// at local midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WeekStart {
    day: NaiveDate,
    local: LocalTime,
}

impl WeekStart {
    /// A Monday, or `BAD_USER_INPUT` with reason `NOT_MONDAY` on `weekStart`.
    pub fn parse(d: NaiveDate, local: LocalTime) -> AppResult<Self> {
        if d.weekday() == Weekday::Mon {
            Ok(Self { day: d, local })
        } else {
            Err(AppError::bad_input(
                "weekStart",
                "NOT_MONDAY",
                format!("weekStart: {d} is a {}, not a Monday", d.weekday()),
            ))
        }
    }

    /// The local Monday of the week `at` falls in.
    pub fn of(at: DateTime<Utc>, local: LocalTime) -> Self {
        Self { day: local.monday_of(at), local }
    }

    pub fn date(self) -> NaiveDate {
        self.day
    }

    /// The instant the local day `days` after the Monday begins.
    fn start_plus(self, days: i64) -> DateTime<Utc> {
        self.local.day_start(self.day + Duration::days(days))
    }

    /// [weekStart, weekStart + 14 days), local days: when `expiring` subscriptions end.
    pub fn expiring_window(self) -> (DateTime<Utc>, DateTime<Utc>) {
        (self.start_plus(0), self.start_plus(14))
    }

    /// [weekStart − 7 days, weekStart), local days: when `created` subscriptions were created.
    pub fn created_window(self) -> (DateTime<Utc>, DateTime<Utc>) {
        (self.start_plus(-7), self.start_plus(0))
    }
}

/// One partner's digest for one week.
#[derive(Debug, Clone)]
pub struct Digest {
    pub partner: subscriber::Model,
    pub week_start: WeekStart,
    /// Not cancelled, ending in the expiring window, soonest first.
    pub expiring: Vec<subscription::Model>,
    /// Created in the created window, oldest first.
    pub created: Vec<subscription::Model>,
}

impl Digest {
    pub fn is_empty(&self) -> bool {
        self.expiring.is_empty() && self.created.is_empty()
    }
}

/// The digest the caller may read: a partner's `OWNER` or `SERVICE_OPERATOR` reads its own partner's
/// (`partner_id` optional); every role of the vendor reads any partner's (`partner_id` required). Another
/// partner, a client or an unknown id is `NOT_FOUND`; other roles of the partner are `FORBIDDEN`.
#[tracing::instrument(level = "debug", skip_all, fields(caller = %p.subscriber_id, partner_id = ?partner_id))]
pub async fn read(
    ctx: &ServiceCtx,
    p: Scope<'_>,
    partner_id: Option<Uuid>,
    week_start: WeekStart,
) -> AppResult<Digest> {
    let id = match partner_id {
        Some(id) => id,
        None if p.is_vendor() => {
            return Err(AppError::bad_input("partnerId", "REQUIRED", "partnerId: required for the vendor"));
        }
        None => p.subscriber_id,
    };
    let (partner, reach) = p.subscriber(&ctx.db, id).await?;
    match reach {
        Reach::Vendor => {}
        Reach::Own => p.require(p.serves_clients(), "read the weekly digest")?,
        Reach::Client | Reach::Supported => return Err(AppError::NotFound),
    }
    if partner.kind != SubscriberKind::Partner {
        return Err(AppError::NotFound);
    }
    build(&ctx.db, partner, week_start).await
}

async fn build<C: ConnectionTrait>(db: &C, partner: subscriber::Model, week: WeekStart) -> AppResult<Digest> {
    let (from, to) = week.expiring_window();
    let expiring = subscription::Entity::find()
        .filter(subscription::Column::SubscriberId.in_subquery(client_ids_of(partner.id)))
        .filter(subscription::Column::CancelledAt.is_null())
        .filter(subscription::Column::EndsAt.gte(from))
        .filter(subscription::Column::EndsAt.lt(to))
        .order_by_asc(subscription::Column::EndsAt)
        .order_by_asc(subscription::Column::Id)
        .limit(MAX_ROWS)
        .all(db)
        .await?;
    let (from, to) = week.created_window();
    let created = subscription::Entity::find()
        .filter(subscription::Column::SubscriberId.in_subquery(client_ids_of(partner.id)))
        .filter(subscription::Column::CreatedAt.gte(from))
        .filter(subscription::Column::CreatedAt.lt(to))
        .order_by_asc(subscription::Column::CreatedAt)
        .order_by_asc(subscription::Column::Id)
        .limit(MAX_ROWS)
        .all(db)
        .await?;
    Ok(Digest { partner, week_start: week, expiring, created })
}

/// Queues the week's digest e-mail to every active `SERVICE_OPERATOR` of every partner, once per partner,
/// week and operator (dedupe key `digest:{partner}:{week}:{user}`), so running it again queues nothing
/// new. A partner with nothing to report gets an e-mail that says so ("every Monday", docs/rules.md §9): the
/// operators know the digest ran. Returns how many were queued now.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn run_weekly_digest(ctx: &ServiceCtx, week_start: NaiveDate) -> AppResult<usize> {
    let week = WeekStart::parse(week_start, ctx.config.local)?;
    let mut queued = 0;
    let mut after: Option<Uuid> = None;
    loop {
        let mut q = subscriber::Entity::find().filter(subscriber::Column::Kind.eq(SubscriberKind::Partner));
        if let Some(after) = after {
            q = q.filter(subscriber::Column::Id.gt(after));
        }
        let partners = q.order_by_asc(subscriber::Column::Id).limit(PARTNER_BATCH).all(&ctx.db).await?;
        let Some(last) = partners.last() else { break };
        after = Some(last.id);
        for partner in partners {
            queued += queue_for_partner(ctx, partner, week).await?;
        }
    }
    tracing::info!(week = %week.date(), queued, "weekly digest queued");
    Ok(queued)
}

async fn queue_for_partner(ctx: &ServiceCtx, partner: subscriber::Model, week: WeekStart) -> AppResult<usize> {
    let operators: Vec<user::Model> = user::Entity::find()
        .filter(user::Column::Active.eq(true))
        .filter(
            user::Column::Id.in_subquery(sea_orm::QueryTrait::into_query(
                membership::Entity::find()
                    .select_only()
                    .column(membership::Column::UserId)
                    .filter(membership::Column::SubscriberId.eq(partner.id))
                    .filter(membership::Column::Role.eq(Role::ServiceOperator)),
            )),
        )
        .order_by_asc(user::Column::Id)
        .all(&ctx.db)
        .await?;
    if operators.is_empty() {
        return Ok(0);
    }
    let digest = build(&ctx.db, partner, week).await?;
    let subject = format!("Weekly digest for {}: week of {}", digest.partner.name, week.date());
    let body = render(&ctx.db, &digest).await?;
    let now = ctx.clock.now();
    let txn = begin_write(&ctx.db, &ctx.write_gate).await?;
    let mut queued = 0;
    for op in operators {
        let message = NewMessage {
            kind: outbox::OutboxKind::WeeklyDigest,
            to: op.email,
            subject: subject.clone(),
            body: body.clone(),
            dedupe_key: format!("digest:{}:{}:{}", digest.partner.id, week.date(), op.id),
        };
        if outbox::enqueue(&*txn, message, now).await? {
            queued += 1;
        }
    }
    txn.commit().await?;
    Ok(queued)
}

/// The plain-text e-mail: one line per subscription with the client's name and the date.
async fn render<C: ConnectionTrait>(db: &C, d: &Digest) -> AppResult<String> {
    let ids: Vec<Uuid> = d.expiring.iter().chain(&d.created).map(|s| s.subscriber_id).collect();
    let names: HashMap<Uuid, String> = subscriber::Entity::find()
        .filter(subscriber::Column::Id.is_in(ids))
        .all(db)
        .await?
        .into_iter()
        .map(|s| (s.id, s.name))
        .collect();
    let name = |id: &Uuid| names.get(id).map_or("(unknown client)", String::as_str);
    let local = d.week_start.local;
    let until = d.week_start.date() + Duration::days(14);
    let mut out = format!("Weekly digest for {}, week of {}.\n\n", d.partner.name, d.week_start.date());
    if d.is_empty() {
        out.push_str(&format!(
            "Nothing to report this week: no client subscription ends before {until}, and none was created in \
             the past week.\n"
        ));
        return Ok(out);
    }
    out.push_str(&format!("Subscriptions ending before {until} ({}):\n", d.expiring.len()));
    for s in &d.expiring {
        out.push_str(&format!("  - {}: ends {}\n", name(&s.subscriber_id), local.date(s.ends_at)));
    }
    out.push_str(&format!("\nSubscriptions created in the past week ({}):\n", d.created.len()));
    for s in &d.created {
        out.push_str(&format!("  - {}: created {}\n", name(&s.subscriber_id), local.date(s.created_at)));
    }
    out.push_str(&format!("\n(Dates are days in {}.)\n", local.name()));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn utc() -> LocalTime {
        LocalTime::parse("UTC").unwrap()
    }

    #[test]
    fn only_a_monday_starts_a_week() {
        assert!(WeekStart::parse(day("2026-11-23"), utc()).is_ok());
        let err = WeekStart::parse(day("2026-11-24"), utc()).unwrap_err();
        assert_eq!(err.reason(), Some("NOT_MONDAY"));
    }

    #[test]
    fn the_windows_are_two_weeks_ahead_and_one_week_back() {
        let w = WeekStart::parse(day("2026-11-23"), utc()).unwrap();
        let (a, b) = w.expiring_window();
        assert_eq!(
            (a.to_rfc3339(), b.to_rfc3339()),
            ("2026-11-23T00:00:00+00:00".into(), "2026-12-07T00:00:00+00:00".into())
        );
        let (a, b) = w.created_window();
        assert_eq!(
            (a.to_rfc3339(), b.to_rfc3339()),
            ("2026-11-16T00:00:00+00:00".into(), "2026-11-23T00:00:00+00:00".into())
        );
        // In Moscow the same Monday begins three hours earlier.
        let w = WeekStart::parse(day("2026-11-23"), LocalTime::default()).unwrap();
        assert_eq!(w.expiring_window().0.to_rfc3339(), "2026-11-22T21:00:00+00:00");
        assert_eq!(w.created_window().0.to_rfc3339(), "2026-11-15T21:00:00+00:00");
    }

    #[test]
    fn the_week_of_a_sunday_starts_six_days_before() {
        let sunday = day("2026-11-29").and_hms_opt(23, 0, 0).unwrap().and_utc();
        assert_eq!(WeekStart::of(sunday, utc()).date(), day("2026-11-23"));
        let monday = day("2026-11-23").and_hms_opt(0, 0, 0).unwrap().and_utc();
        assert_eq!(WeekStart::of(monday, utc()).date(), day("2026-11-23"));
        // Sunday 23:00 UTC is Monday 02:00 in Moscow: the next week.
        assert_eq!(WeekStart::of(sunday, LocalTime::default()).date(), day("2026-11-30"));
    }
}
