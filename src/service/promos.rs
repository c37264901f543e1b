//! Promo codes: bonus codes a client applies (binding it when no partner holds it), and personal
//! discount codes used on an invoice or a payment.

use chrono::{DateTime, Months, Utc};
use entity::{promo_code, promo_redemption, subscriber};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, Set};
use uuid::Uuid;

use super::{Page, PageArgs, bindings, new_id, paginate, programs};
use crate::auth::Scope;
use crate::db::{WriteTxn, begin_write};
use crate::domain::promo::{BONUS_MONTHS, BonusType, PromoKind, discount_for_period};
use crate::domain::{BindingSource, Role};
use crate::error::{AppError, AppResult};
use crate::service::ServiceCtx;

pub struct NewPromo {
    pub program_code: String,
    pub kind: PromoKind,
    pub bonus: Option<BonusType>,
    pub months: Option<i32>,
    pub discount_bp: Option<i32>,
    pub client: Option<Uuid>,
}

fn new_code(kind: PromoKind) -> String {
    let body = super::random_code(super::CODE_ALPHABET, 10);
    format!("{}-{body}", if kind == PromoKind::Bonus { "B" } else { "D" })
}

/// A partner issues a code. Bonus codes need the program's minimum status; a discount code names its
/// client (which may be bound to another partner: the client gave its id).
#[tracing::instrument(level = "debug", skip_all, fields(caller = %p.subscriber_id))]
pub async fn create(ctx: &ServiceCtx, p: Scope<'_>, n: NewPromo) -> AppResult<promo_code::Model> {
    p.require(p.serves_clients(), "issue promo codes")?;
    let program = programs::by_code(&ctx.db, &n.program_code, "programCode").await?;
    let (bonus, months, discount, client) = match n.kind {
        PromoKind::Bonus => {
            let statuses = programs::statuses(&ctx.db, program.id).await?;
            let min =
                program.promo_min_status.as_deref().and_then(|m| statuses.iter().position(|s| s == m)).unwrap_or(0);
            let own = programs::partner_status_in(&ctx.db, p.subscriber_id, program.id).await?;
            let rank = own.as_deref().and_then(|s| statuses.iter().position(|x| x == s));
            if rank.is_none_or(|r| r < min) {
                return Err(AppError::bad_input(
                    "programCode",
                    "PROMO_NOT_ALLOWED_FOR_STATUS",
                    format!(
                        "bonus codes of {} are issued from status {} up",
                        program.code,
                        statuses.get(min).cloned().unwrap_or_default()
                    ),
                ));
            }
            let bonus = n
                .bonus
                .ok_or_else(|| AppError::bad_input("bonus", "EMPTY", "bonus: say EXTRA_USERS or EXTRA_STORAGE"))?;
            let months = n
                .months
                .filter(|m| BONUS_MONTHS.contains(&(*m as u32)))
                .ok_or_else(|| AppError::bad_input("months", "OUT_OF_RANGE", "months: a bonus lasts 6 or 12 months"))?;
            (Some(bonus), Some(months), None, None)
        }
        PromoKind::Discount => {
            let client = n
                .client
                .ok_or_else(|| AppError::bad_input("clientId", "EMPTY", "clientId: a discount code is personal"))?;
            p.named_client(&ctx.db, client).await?;
            if let Some(bp) = n.discount_bp
                && !(1..=5000).contains(&bp)
            {
                return Err(AppError::bad_input("discountPercent", "OUT_OF_RANGE", "discountPercent: 0.01 to 50.00"));
            }
            (None, None, n.discount_bp, Some(client))
        }
    };
    Ok(promo_code::ActiveModel {
        id: Set(new_id()),
        code: Set(new_code(n.kind)),
        partner_id: Set(p.subscriber_id),
        program_id: Set(program.id),
        kind: Set(n.kind),
        bonus: Set(bonus),
        months: Set(months),
        discount_bp: Set(discount),
        client_id: Set(client),
        created_by: Set(Some(p.responsible_user())),
        created_at: Set(ctx.clock.now()),
    }
    .insert(&ctx.db)
    .await?)
}

async fn by_code<C: ConnectionTrait>(db: &C, code: &str) -> AppResult<promo_code::Model> {
    let code = code.trim().to_uppercase();
    if code.is_empty() || code.len() > 64 {
        return Err(AppError::bad_input("code", "PROMO_UNKNOWN", "no such promo code"));
    }
    promo_code::Entity::find()
        .filter(promo_code::Column::Code.eq(code))
        .one(db)
        .await?
        .ok_or_else(|| AppError::bad_input("code", "PROMO_UNKNOWN", "no such promo code"))
}

/// What applying a bonus code did.
pub struct Applied {
    pub bound: bool,
    pub client: subscriber::Model,
}

/// A client's admin or owner applies a bonus code: the bonus is granted once per client ever, and the
/// client is bound to the code's partner when no partner holds it.
#[tracing::instrument(level = "debug", skip_all, fields(caller = %p.subscriber_id))]
pub async fn apply(ctx: &ServiceCtx, p: Scope<'_>, code: &str) -> AppResult<Applied> {
    p.require(
        p.kind == crate::domain::SubscriberKind::Client && matches!(p.role, Role::Admin | Role::Owner),
        "apply promo codes",
    )?;
    let now = ctx.clock.now();
    let txn = begin_write(&ctx.db, &ctx.write_gate).await?;
    let promo = by_code(&txn, code).await?;
    if promo.kind != PromoKind::Bonus {
        return Err(AppError::bad_input(
            "code",
            "PROMO_KIND_MISMATCH",
            "a discount code is used on an invoice or a payment",
        ));
    }
    super::subscribers::lock(&txn, p.subscriber_id).await?;
    let used = |kind_filter: bool| {
        let mut q = promo_redemption::Entity::find().filter(promo_redemption::Column::ClientId.eq(p.subscriber_id));
        q = if kind_filter {
            q.filter(promo_redemption::Column::Kind.eq(PromoKind::Bonus))
        } else {
            q.filter(promo_redemption::Column::PromoId.eq(promo.id))
        };
        q
    };
    if used(false).count(&txn).await? > 0 {
        return Err(AppError::bad_input("code", "PROMO_ALREADY_USED", "this code was already applied"));
    }
    if used(true).count(&txn).await? > 0 {
        return Err(AppError::conflict("BONUS_ALREADY_USED", "one bonus per client: this client already had one"));
    }
    let months = promo.months.unwrap_or(6).max(0) as u32;
    promo_redemption::ActiveModel {
        id: Set(new_id()),
        promo_id: Set(promo.id),
        client_id: Set(p.subscriber_id),
        kind: Set(PromoKind::Bonus),
        at: Set(now),
        bonus_until: Set(now.checked_add_months(Months::new(months))),
        payment_id: Set(None),
    }
    .insert(&txn)
    .await
    .map_err(AppError::on_unique(
        "code",
        "BONUS_ALREADY_USED",
        "one bonus per client: this client already had one",
    ))?;
    let client = super::subscribers::load(&txn, p.subscriber_id).await?;
    let note = super::subscribers::BindingNote::by(
        p.responsible_user(),
        format!("applied the partner's bonus code {}", promo.code),
    );
    let (client, bound) =
        bindings::apply(&txn, client, promo.partner_id, BindingSource::BonusPromo, false, note, now).await?;
    txn.commit().await?;
    Ok(Applied { bound, client })
}

/// A personal discount code checked for a client and a period: its percent (fixed at creation, else by
/// the period table) and the code.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn discount_for<C: ConnectionTrait>(
    db: &C,
    code: &str,
    client: Uuid,
    period_months: i32,
) -> AppResult<(promo_code::Model, i32)> {
    let promo = by_code(db, code).await.map_err(|e| rename_field(e, "promoCode"))?;
    if promo.kind != PromoKind::Discount {
        return Err(AppError::bad_input(
            "promoCode",
            "PROMO_KIND_MISMATCH",
            "a bonus code is applied by the client, not paid with",
        ));
    }
    if promo.client_id != Some(client) {
        return Err(AppError::bad_input(
            "promoCode",
            "PROMO_NOT_FOR_YOU",
            "this discount code is personal to another client",
        ));
    }
    let used =
        promo_redemption::Entity::find().filter(promo_redemption::Column::PromoId.eq(promo.id)).count(db).await?;
    if used > 0 {
        return Err(AppError::bad_input("promoCode", "PROMO_ALREADY_USED", "this discount code was already used"));
    }
    let bp = match promo.discount_bp {
        Some(bp) => bp,
        None => discount_for_period(period_months).ok_or_else(|| {
            AppError::bad_input("promoCode", "PROMO_NOT_APPLICABLE", "this discount applies to 3, 6 or 12 months")
        })?,
    };
    Ok((promo, bp))
}

fn rename_field(e: AppError, field: &str) -> AppError {
    match e {
        AppError::BadInput { reason, message, .. } => {
            AppError::BadInput { field: Some(field.to_owned()), reason, message }
        }
        other => other,
    }
}

/// Uses a discount code on a payment (once, held by a unique index).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn redeem_discount(
    txn: &WriteTxn,
    promo: &promo_code::Model,
    client: Uuid,
    payment: Uuid,
    now: DateTime<Utc>,
) -> AppResult<()> {
    promo_redemption::ActiveModel {
        id: Set(new_id()),
        promo_id: Set(promo.id),
        client_id: Set(client),
        kind: Set(PromoKind::Discount),
        at: Set(now),
        bonus_until: Set(None),
        payment_id: Set(Some(payment)),
    }
    .insert(txn)
    .await
    .map_err(AppError::on_unique_input(
        "promoCode",
        "PROMO_ALREADY_USED",
        "this discount code was already used",
    ))?;
    Ok(())
}

/// The vendor's all; a partner's own.
#[tracing::instrument(level = "debug", skip_all, fields(caller = %p.subscriber_id))]
pub async fn list(ctx: &ServiceCtx, p: Scope<'_>, page: PageArgs) -> AppResult<Page<promo_code::Model>> {
    let mut q = promo_code::Entity::find();
    if !p.is_vendor() {
        p.require(p.serves_clients(), "read promo codes")?;
        q = q.filter(promo_code::Column::PartnerId.eq(p.subscriber_id));
    }
    paginate(&ctx.db, q, promo_code::Column::Id, page).await
}
