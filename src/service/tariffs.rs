//! Tariffs: what is sold, in which program and category, for how much and for which periods.

use entity::tariff;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use uuid::Uuid;

use super::{new_id, programs};
use crate::auth::Scope;
use crate::error::{AppError, AppResult};
use crate::service::ServiceCtx;

pub const MAX_PERIOD_MONTHS: u32 = 36;

pub fn periods_text(periods: &[u32]) -> String {
    periods.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
}

pub fn periods_of(t: &tariff::Model) -> Vec<i32> {
    t.periods.split(',').filter_map(|p| p.trim().parse().ok()).collect()
}

pub struct NewTariff {
    pub code: String,
    pub name: String,
    pub program_code: String,
    pub category: String,
    pub monthly_price_minor: i64,
    pub periods: Vec<i32>,
    pub max_databases: Option<i32>,
    pub max_users: Option<i32>,
    pub max_sessions: Option<i32>,
    pub trial_days: i32,
    pub partner_only: bool,
}

#[tracing::instrument(level = "debug", skip_all, fields(caller = %p.subscriber_id))]
pub async fn create(ctx: &ServiceCtx, p: Scope<'_>, t: NewTariff) -> AppResult<tariff::Model> {
    p.require(p.is_vendor_staff(), "create tariffs")?;
    let code = t.code.trim().to_uppercase();
    if code.is_empty() || code.len() > 64 || !code.chars().all(|c| c.is_ascii_alphanumeric() || "-_".contains(c)) {
        return Err(AppError::bad_input("code", "INVALID_CODE", "code: 1–64 letters, digits, '-' or '_'"));
    }
    let mut periods = t.periods.clone();
    periods.sort_unstable();
    periods.dedup();
    if periods.is_empty() || periods.iter().any(|m| *m < 1 || *m as u32 > MAX_PERIOD_MONTHS) {
        return Err(AppError::bad_input("periods", "INVALID_PERIODS", "periods: 1 to 36 months each, at least one"));
    }
    for (field, v) in [("maxDatabases", t.max_databases), ("maxUsers", t.max_users), ("maxSessions", t.max_sessions)] {
        if v.is_some_and(|v| !(0..=1_000_000).contains(&v)) {
            return Err(AppError::bad_input(
                field,
                "OUT_OF_RANGE",
                format!("{field}: 0 to 1000000, or null for unlimited"),
            ));
        }
    }
    if !(0..=365).contains(&t.trial_days) {
        return Err(AppError::bad_input("trialDays", "OUT_OF_RANGE", "trialDays: 0 to 365"));
    }
    // A year of the monthly price must fit in kopecks, so that price × months never overflows.
    if t.monthly_price_minor.checked_mul(MAX_PERIOD_MONTHS as i64).is_none() {
        return Err(AppError::bad_input("monthlyPrice", "AMOUNT_TOO_LARGE", "monthlyPrice: too large"));
    }
    let program = programs::by_code(&ctx.db, &t.program_code, "programCode").await?;
    if !programs::categories(&ctx.db, program.id).await?.contains(&t.category) {
        return Err(AppError::bad_input(
            "category",
            "CATEGORY_UNKNOWN",
            format!("category: not a category of {}", program.code),
        ));
    }
    tariff::ActiveModel {
        id: Set(new_id()),
        code: Set(code),
        name: Set(crate::domain::Name::parse(&t.name).map_err(AppError::input("name"))?.into_string()),
        program_id: Set(program.id),
        category: Set(t.category),
        monthly_price_minor: Set(t.monthly_price_minor),
        periods: Set(periods.iter().map(i32::to_string).collect::<Vec<_>>().join(",")),
        max_databases: Set(t.max_databases),
        max_users: Set(t.max_users),
        max_sessions: Set(t.max_sessions),
        trial_days: Set(t.trial_days),
        partner_only: Set(t.partner_only),
        archived: Set(false),
        created_at: Set(ctx.clock.now()),
    }
    .insert(&ctx.db)
    .await
    .map_err(AppError::on_unique("code", "TARIFF_CODE_TAKEN", "a tariff with this code exists"))
}

#[tracing::instrument(level = "debug", skip_all, fields(caller = %p.subscriber_id, id = %id))]
pub async fn archive(ctx: &ServiceCtx, p: Scope<'_>, id: Uuid) -> AppResult<tariff::Model> {
    p.require(p.is_vendor_staff(), "archive tariffs")?;
    let t = load(&ctx.db, id).await?;
    let mut am: tariff::ActiveModel = t.into();
    am.archived = Set(true);
    Ok(am.update(&ctx.db).await?)
}

pub async fn load<C: ConnectionTrait>(db: &C, id: Uuid) -> AppResult<tariff::Model> {
    super::find_or_404::<tariff::Entity, _>(db, id).await
}

/// The catalogue. Partner-only tariffs are shown to partners and the vendor only.
#[tracing::instrument(level = "debug", skip_all, fields(caller = %p.subscriber_id))]
pub async fn list(
    ctx: &ServiceCtx,
    p: Scope<'_>,
    program_code: Option<&str>,
    include_archived: bool,
) -> AppResult<Vec<tariff::Model>> {
    let mut q = tariff::Entity::find().order_by_asc(tariff::Column::Code);
    if let Some(code) = program_code {
        q = q.filter(tariff::Column::ProgramId.eq(programs::by_code(&ctx.db, code, "programCode").await?.id));
    }
    if !include_archived {
        q = q.filter(tariff::Column::Archived.eq(false));
    }
    if !(p.is_vendor() || p.is_partner()) {
        q = q.filter(tariff::Column::PartnerOnly.eq(false));
    }
    Ok(q.all(&ctx.db).await?)
}
