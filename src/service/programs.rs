//! Programs: their ordered statuses, categories and commission rules; partner statuses; the presets.

use chrono::{DateTime, Utc};
use entity::{commission_rule, partner_status, program, program_category, program_status, tariff};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder, Set,
};
use uuid::Uuid;

use super::new_id;
use crate::auth::Scope;
use crate::db::begin_write;
use crate::domain::SubscriberKind;
use crate::domain::commission::{Purchase, RuleSpec};
use crate::domain::presets::presets;
use crate::error::{AppError, AppResult};
use crate::service::ServiceCtx;

pub async fn all<C: ConnectionTrait>(db: &C) -> AppResult<Vec<program::Model>> {
    Ok(program::Entity::find().order_by_asc(program::Column::Code).all(db).await?)
}

/// A program by code, if it exists.
pub async fn find_by_code<C: ConnectionTrait>(db: &C, code: &str) -> AppResult<Option<program::Model>> {
    Ok(program::Entity::find().filter(program::Column::Code.eq(code.trim())).one(db).await?)
}

/// A program by code, or `BAD_USER_INPUT` `PROGRAM_UNKNOWN` on the given field.
pub async fn by_code<C: ConnectionTrait>(db: &C, code: &str, field: &str) -> AppResult<program::Model> {
    find_by_code(db, code)
        .await?
        .ok_or_else(|| AppError::bad_input(field, "PROGRAM_UNKNOWN", format!("{field}: no program {code:?}")))
}

/// Statuses lowest first.
pub async fn statuses<C: ConnectionTrait>(db: &C, program: Uuid) -> AppResult<Vec<String>> {
    Ok(program_status::Entity::find()
        .filter(program_status::Column::ProgramId.eq(program))
        .order_by_asc(program_status::Column::Rank)
        .all(db)
        .await?
        .into_iter()
        .map(|s| s.code)
        .collect())
}

pub async fn categories<C: ConnectionTrait>(db: &C, program: Uuid) -> AppResult<Vec<String>> {
    Ok(program_category::Entity::find()
        .filter(program_category::Column::ProgramId.eq(program))
        .order_by_asc(program_category::Column::Position)
        .all(db)
        .await?
        .into_iter()
        .map(|s| s.code)
        .collect())
}

/// The rules in force (replaced and deleted rules stay in the table for the ledger's history).
pub async fn live_rules<C: ConnectionTrait>(db: &C, program: Uuid) -> AppResult<Vec<commission_rule::Model>> {
    Ok(commission_rule::Entity::find()
        .filter(commission_rule::Column::ProgramId.eq(program))
        .filter(commission_rule::Column::DeletedAt.is_null())
        .order_by_asc(commission_rule::Column::Id)
        .all(db)
        .await?)
}

pub fn rule_spec(r: &commission_rule::Model) -> AppResult<RuleSpec<Uuid>> {
    Ok(RuleSpec {
        id: r.id,
        status: r.status.clone(),
        category: r.category.clone(),
        purchase: r.purchase,
        window_months: r.window_months.map(|m| m.max(0) as u32),
        rate_bp: r.rate_bp,
    })
}

pub async fn partner_status_in<C: ConnectionTrait>(db: &C, partner: Uuid, program: Uuid) -> AppResult<Option<String>> {
    Ok(partner_status::Entity::find()
        .filter(partner_status::Column::PartnerId.eq(partner))
        .filter(partner_status::Column::ProgramId.eq(program))
        .one(db)
        .await?
        .map(|s| s.status))
}

/// Sets (or changes) a partner's status in a program, inside an open transaction.
pub async fn put_partner_status(
    txn: &DatabaseTransaction,
    partner: Uuid,
    program: &program::Model,
    status: &str,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let statuses = statuses(txn, program.id).await?;
    if !statuses.iter().any(|s| s == status) {
        return Err(AppError::bad_input(
            "status",
            "STATUS_UNKNOWN",
            format!("status: {} has statuses {}", program.code, statuses.join(", ")),
        ));
    }
    let existing = partner_status::Entity::find()
        .filter(partner_status::Column::PartnerId.eq(partner))
        .filter(partner_status::Column::ProgramId.eq(program.id))
        .one(txn)
        .await?;
    match existing {
        Some(e) => {
            let mut am: partner_status::ActiveModel = e.into();
            am.status = Set(status.to_owned());
            am.updated_at = Set(now);
            am.update(txn).await?;
        }
        None => {
            partner_status::ActiveModel {
                id: Set(new_id()),
                partner_id: Set(partner),
                program_id: Set(program.id),
                status: Set(status.to_owned()),
                updated_at: Set(now),
            }
            .insert(txn)
            .await
            .map_err(AppError::on_unique(
                "status",
                "CONFLICT",
                "the status was just set by another request",
            ))?;
        }
    }
    Ok(())
}

#[tracing::instrument(level = "debug", skip_all, fields(caller = %p.subscriber_id, partner = %partner))]
pub async fn set_partner_status(
    ctx: &ServiceCtx,
    p: Scope<'_>,
    partner: Uuid,
    program_code: &str,
    status: &str,
) -> AppResult<entity::subscriber::Model> {
    let txn = begin_write(&ctx.db, &ctx.write_gate).await?;
    let (s, _) = p.subscriber(&txn, partner).await?;
    p.require(p.is_vendor_staff(), "set partner statuses")?;
    if s.kind != SubscriberKind::Partner {
        return Err(AppError::bad_input("partnerId", "NOT_A_PARTNER", "partnerId: not a partner"));
    }
    let program = by_code(&txn, program_code, "programCode").await?;
    let now = ctx.clock.now();
    put_partner_status(&txn, s.id, &program, status.trim(), now).await?;
    let s = super::subscribers::touch(&txn, s.id, now).await?;
    txn.commit().await?;
    Ok(s)
}

/// A rule to set; `(program, status, category, purchase)` is its key.
pub struct RuleInput {
    pub program_code: String,
    pub status: Option<String>,
    pub category: Option<String>,
    pub purchase: Purchase,
    pub window_months: Option<u32>,
    pub rate_bp: i32,
}

/// Inserts a rule, replacing the live rule with the same key (which stays, marked deleted, for entries
/// that were accrued under it).
async fn put_rule(
    txn: &DatabaseTransaction,
    program: &program::Model,
    r: &RuleInput,
    now: DateTime<Utc>,
) -> AppResult<commission_rule::Model> {
    if let Some(status) = &r.status
        && !statuses(txn, program.id).await?.contains(status)
    {
        return Err(AppError::bad_input(
            "status",
            "STATUS_UNKNOWN",
            format!("status: not a status of {}", program.code),
        ));
    }
    if let Some(category) = &r.category
        && !categories(txn, program.id).await?.contains(category)
    {
        return Err(AppError::bad_input(
            "category",
            "CATEGORY_UNKNOWN",
            format!("category: not a category of {}", program.code),
        ));
    }
    let mut same_key = commission_rule::Entity::update_many()
        .col_expr(commission_rule::Column::DeletedAt, Expr::value(now))
        .filter(commission_rule::Column::ProgramId.eq(program.id))
        .filter(commission_rule::Column::Purchase.eq(r.purchase))
        .filter(commission_rule::Column::DeletedAt.is_null());
    same_key = match &r.status {
        Some(s) => same_key.filter(commission_rule::Column::Status.eq(s.as_str())),
        None => same_key.filter(commission_rule::Column::Status.is_null()),
    };
    same_key = match &r.category {
        Some(c) => same_key.filter(commission_rule::Column::Category.eq(c.as_str())),
        None => same_key.filter(commission_rule::Column::Category.is_null()),
    };
    same_key.exec(txn).await?;
    commission_rule::ActiveModel {
        id: Set(new_id()),
        program_id: Set(program.id),
        status: Set(r.status.clone()),
        category: Set(r.category.clone()),
        purchase: Set(r.purchase),
        window_months: Set(r.window_months.map(|m| m as i32)),
        rate_bp: Set(r.rate_bp),
        created_at: Set(now),
        deleted_at: Set(None),
    }
    .insert(txn)
    .await
    .map_err(AppError::on_unique("purchase", "CONFLICT", "the same rule was just set by another request"))
}

#[tracing::instrument(level = "debug", skip_all, fields(caller = %p.subscriber_id))]
pub async fn set_rule(ctx: &ServiceCtx, p: Scope<'_>, r: RuleInput) -> AppResult<commission_rule::Model> {
    p.require(p.is_vendor_staff(), "edit commission rules")?;
    let txn = begin_write(&ctx.db, &ctx.write_gate).await?;
    let program = by_code(&txn, &r.program_code, "programCode").await?;
    let rule = put_rule(&txn, &program, &r, ctx.clock.now()).await?;
    txn.commit().await?;
    Ok(rule)
}

#[tracing::instrument(level = "debug", skip_all, fields(caller = %p.subscriber_id, id = %id))]
pub async fn delete_rule(ctx: &ServiceCtx, p: Scope<'_>, id: Uuid) -> AppResult<Uuid> {
    p.require(p.is_vendor_staff(), "edit commission rules")?;
    let done = commission_rule::Entity::update_many()
        .col_expr(commission_rule::Column::DeletedAt, Expr::value(ctx.clock.now()))
        .filter(commission_rule::Column::Id.eq(id))
        .filter(commission_rule::Column::DeletedAt.is_null())
        .exec(&ctx.db)
        .await?;
    if done.rows_affected == 0 {
        return Err(AppError::NotFound);
    }
    Ok(id)
}

/// What `seed --presets` did.
#[derive(Debug, Default)]
pub struct SeedReport {
    pub programs: u32,
    pub rules: u32,
    pub tariffs: u32,
}

/// Loads the three preset programs. Idempotent: what exists and is equal is left alone.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn seed_presets(ctx: &ServiceCtx) -> AppResult<SeedReport> {
    let now = ctx.clock.now();
    let txn = begin_write(&ctx.db, &ctx.write_gate).await?;
    let mut report = SeedReport::default();
    for preset in presets() {
        let program = match program::Entity::find().filter(program::Column::Code.eq(preset.code)).one(&txn).await? {
            Some(p) => p,
            None => {
                report.programs += 1;
                program::ActiveModel {
                    id: Set(new_id()),
                    code: Set(preset.code.to_owned()),
                    name: Set(preset.name.to_owned()),
                    created_at: Set(now),
                    promo_min_status: Set(preset.promo_min_status.map(Into::into)),
                    lead_min_status: Set(preset.lead_min_status.map(Into::into)),
                }
                .insert(&txn)
                .await?
            }
        };
        let promo_missing = program.promo_min_status.is_none() && preset.promo_min_status.is_some();
        let lead_missing = program.lead_min_status.is_none() && preset.lead_min_status.is_some();
        if promo_missing || lead_missing {
            let mut am: program::ActiveModel = program.clone().into();
            if promo_missing {
                am.promo_min_status = Set(preset.promo_min_status.map(Into::into));
            }
            if lead_missing {
                am.lead_min_status = Set(preset.lead_min_status.map(Into::into));
            }
            am.update(&txn).await?;
        }
        let have = statuses(&txn, program.id).await?;
        for (rank, code) in preset.statuses.iter().enumerate() {
            if !have.iter().any(|s| s == code) {
                program_status::ActiveModel {
                    id: Set(new_id()),
                    program_id: Set(program.id),
                    code: Set((*code).to_owned()),
                    rank: Set(rank as i32),
                }
                .insert(&txn)
                .await?;
            }
        }
        let have = categories(&txn, program.id).await?;
        for (position, code) in preset.categories.iter().enumerate() {
            if !have.iter().any(|s| s == code) {
                program_category::ActiveModel {
                    id: Set(new_id()),
                    program_id: Set(program.id),
                    code: Set((*code).to_owned()),
                    position: Set(position as i32),
                }
                .insert(&txn)
                .await?;
            }
        }
        let live = live_rules(&txn, program.id).await?;
        for r in &preset.rules {
            let same = live.iter().any(|l| {
                l.status.as_deref() == r.status
                    && l.category.as_deref() == r.category
                    && l.purchase == r.purchase
                    && l.window_months == r.window_months.map(|m| m as i32)
                    && l.rate_bp == r.rate_bp
            });
            if !same {
                report.rules += 1;
                let input = RuleInput {
                    program_code: preset.code.to_owned(),
                    status: r.status.map(Into::into),
                    category: r.category.map(Into::into),
                    purchase: r.purchase,
                    window_months: r.window_months,
                    rate_bp: r.rate_bp,
                };
                put_rule(&txn, &program, &input, now).await?;
            }
        }
        for t in preset.tariffs {
            if tariff::Entity::find().filter(tariff::Column::Code.eq(t.code)).one(&txn).await?.is_none() {
                report.tariffs += 1;
                tariff::ActiveModel {
                    id: Set(new_id()),
                    code: Set(t.code.to_owned()),
                    name: Set(t.name.to_owned()),
                    program_id: Set(program.id),
                    category: Set(t.category.to_owned()),
                    monthly_price_minor: Set(t.monthly_price_minor),
                    periods: Set(super::tariffs::periods_text(t.periods)),
                    max_databases: Set(t.max_databases),
                    max_users: Set(None),
                    max_sessions: Set(None),
                    trial_days: Set(0),
                    partner_only: Set(t.partner_only),
                    archived: Set(false),
                    created_at: Set(now),
                }
                .insert(&txn)
                .await?;
            }
        }
    }
    txn.commit().await?;
    Ok(report)
}
