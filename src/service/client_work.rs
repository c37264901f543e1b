//! The partner's notes on a client [001]: the needs assessment on the card and the churn reasons of a
//! client lost after its trial.

use chrono::NaiveDate;
use entity::{churn_record, needs_assessment, subscriber};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, Set};
use uuid::Uuid;

use super::{new_id, tasks};
use crate::auth::Reach;
use crate::auth::Scope;
use crate::db::begin_write;
use crate::domain::SubscriberKind;
use crate::domain::subscription::ChurnReason;
use crate::error::{AppError, AppResult};
use crate::service::ServiceCtx;

/// The longest free-text answer.
pub const MAX_TEXT: usize = 2000;
/// The most concurrent users an assessment may name.
pub const MAX_CONCURRENT_USERS: i32 = 100_000;

/// The needs assessment's answers; a save replaces all of them.
#[derive(Debug, Clone, Default)]
pub struct Needs {
    pub line_of_business: Option<String>,
    pub new_company: Option<bool>,
    pub processes_to_automate: Option<String>,
    pub previous_software: Option<String>,
    pub needs_exchange: Option<bool>,
    pub has_remote_users: Option<bool>,
    pub stable_internet: Option<bool>,
    pub needs_customization: Option<bool>,
    pub concurrent_users: Option<i32>,
    pub who_will_work: Option<String>,
    pub planned_start: Option<NaiveDate>,
}

fn text(field: &str, v: Option<String>) -> AppResult<Option<String>> {
    let v = v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    if v.as_ref().is_some_and(|s| s.chars().count() > MAX_TEXT) {
        return Err(AppError::bad_input(field, "TOO_LONG", format!("{field}: at most {MAX_TEXT} characters")));
    }
    Ok(v)
}

/// A client it may write notes about: the partner serving it, vendor staff, or the client's own
/// administrators (for the needs assessment).
async fn client_for_notes<C: ConnectionTrait>(
    db: &C,
    p: Scope<'_>,
    id: Uuid,
    own_allowed: bool,
) -> AppResult<subscriber::Model> {
    let (s, r) = p.subscriber(db, id).await?;
    if s.kind != SubscriberKind::Client {
        return Err(AppError::bad_input("clientId", "NOT_A_CLIENT", "clientId: not a client"));
    }
    p.require((own_allowed || r != Reach::Own) && p.may_administer(r, false), "write notes about this client")?;
    Ok(s)
}

#[tracing::instrument(level = "debug", skip_all, fields(caller = %p.subscriber_id, client = %client))]
pub async fn save_needs(ctx: &ServiceCtx, p: Scope<'_>, client: Uuid, n: Needs) -> AppResult<subscriber::Model> {
    let row = needs_assessment::ActiveModel {
        client_id: Set(client),
        line_of_business: Set(text("lineOfBusiness", n.line_of_business)?),
        new_company: Set(n.new_company),
        processes_to_automate: Set(text("processesToAutomate", n.processes_to_automate)?),
        previous_software: Set(text("previousSoftware", n.previous_software)?),
        needs_exchange: Set(n.needs_exchange),
        has_remote_users: Set(n.has_remote_users),
        stable_internet: Set(n.stable_internet),
        needs_customization: Set(n.needs_customization),
        concurrent_users: Set(match n.concurrent_users {
            Some(u) if !(1..=MAX_CONCURRENT_USERS).contains(&u) => {
                return Err(AppError::bad_input(
                    "concurrentUsers",
                    "OUT_OF_RANGE",
                    format!("concurrentUsers: between 1 and {MAX_CONCURRENT_USERS}"),
                ));
            }
            other => other,
        }),
        who_will_work: Set(text("whoWillWork", n.who_will_work)?),
        planned_start: Set(n.planned_start),
        updated_at: Set(ctx.clock.now()),
        updated_by: Set(Some(p.responsible_user())),
    };
    let txn = begin_write(&ctx.db, &ctx.write_gate).await?;
    let s = client_for_notes(&*txn, p, client, true).await?;
    use needs_assessment::Column as C;
    needs_assessment::Entity::insert(row)
        .on_conflict(
            OnConflict::column(C::ClientId)
                .update_columns([
                    C::LineOfBusiness,
                    C::NewCompany,
                    C::ProcessesToAutomate,
                    C::PreviousSoftware,
                    C::NeedsExchange,
                    C::HasRemoteUsers,
                    C::StableInternet,
                    C::NeedsCustomization,
                    C::ConcurrentUsers,
                    C::WhoWillWork,
                    C::PlannedStart,
                    C::UpdatedAt,
                    C::UpdatedBy,
                ])
                .to_owned(),
        )
        .exec_without_returning(&*txn)
        .await?;
    txn.commit().await?;
    Ok(s)
}

/// Records why a client left; its open churn-reason tasks are done with it.
#[tracing::instrument(level = "debug", skip_all, fields(caller = %p.subscriber_id, client = %client))]
pub async fn record_churn(
    ctx: &ServiceCtx,
    p: Scope<'_>,
    client: Uuid,
    reason: ChurnReason,
    comment: Option<String>,
) -> AppResult<subscriber::Model> {
    let comment = text("comment", comment)?;
    let now = ctx.clock.now();
    let txn = begin_write(&ctx.db, &ctx.write_gate).await?;
    let s = client_for_notes(&*txn, p, client, false).await?;
    churn_record::ActiveModel {
        id: Set(new_id()),
        client_id: Set(client),
        reason: Set(reason),
        comment: Set(comment),
        at: Set(now),
        actor_user_id: Set(Some(p.responsible_user())),
    }
    .insert(&*txn)
    .await?;
    tasks::close_churn_tasks(
        &*txn,
        client,
        &format!("Churn reason recorded: {}", reason.as_str()),
        p.responsible_user(),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(s)
}
