//! Invoices a partner issues to its client; paying one (`payments`) rebinds the client to the partner.

use entity::invoice;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use uuid::Uuid;

use super::{may_sell, offered, tariff_input};
use crate::auth::Scope;
use crate::db::begin_write;
use crate::domain::promo::discounted;
use crate::error::{AppError, AppResult};
use crate::service::ServiceCtx;
use crate::service::{Page, PageArgs, new_id, paginate, promos, tariffs};

/// A partner invoices a client: price × months, less a personal discount code. The client may be bound
/// to another partner (it gave this partner its id); paying the invoice rebinds it.
#[tracing::instrument(level = "debug", skip_all, fields(caller = %p.subscriber_id, client = %client, tariff = %tariff))]
pub async fn create_invoice(
    ctx: &ServiceCtx,
    p: Scope<'_>,
    client: Uuid,
    tariff: Uuid,
    period_months: i32,
    promo_code: Option<&str>,
) -> AppResult<invoice::Model> {
    p.require(p.serves_clients(), "issue invoices")?;
    let now = ctx.clock.now();
    let txn = begin_write(&ctx.db, &ctx.write_gate).await?;
    let c = p.named_client(&*txn, client).await?;
    let t = tariff_input(&txn, tariff).await?;
    offered(&t, &c)?;
    if !tariffs::periods_of(&t).contains(&period_months) {
        return Err(AppError::bad_input(
            "periodMonths",
            "PERIOD_NOT_OFFERED",
            "periodMonths: not a period of this tariff",
        ));
    }
    may_sell(&txn, p.subscriber_id, &c, &t, now).await?;
    let (promo, discount_bp) = match promo_code.map(str::trim).filter(|c| !c.is_empty()) {
        Some(code) => {
            let (promo, bp) = promos::discount_for(&txn, code, c.id, period_months).await?;
            if promo.partner_id != p.subscriber_id {
                return Err(AppError::bad_input(
                    "promoCode",
                    "PROMO_NOT_FOR_YOU",
                    "this discount code is another partner's",
                ));
            }
            (Some(promo.id), bp)
        }
        None => (None, 0),
    };
    let full = t
        .monthly_price_minor
        .checked_mul(period_months.into())
        .ok_or_else(|| AppError::bad_input("periodMonths", "AMOUNT_TOO_LARGE", "the amount is too large"))?;
    let inv = invoice::ActiveModel {
        id: Set(new_id()),
        client_id: Set(c.id),
        partner_id: Set(p.subscriber_id),
        tariff_id: Set(t.id),
        period_months: Set(period_months),
        amount_minor: Set(discounted(full, discount_bp)),
        discount_bp: Set(discount_bp),
        payment_id: Set(None),
        created_by: Set(Some(p.responsible_user())),
        created_at: Set(now),
        promo_id: Set(promo),
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    Ok(inv)
}

/// Whether the caller reads this invoice: the vendor every one, a partner's owner and operators the
/// partner's own, a subscriber's admins and owners those issued to it (the `invoices` list, row by row).
pub fn may_read_invoice(p: Scope<'_>, inv: &invoice::Model) -> bool {
    if p.is_vendor() {
        true
    } else if p.serves_clients() {
        inv.partner_id == p.subscriber_id
    } else {
        p.manages_own_members() && inv.client_id == p.subscriber_id
    }
}

#[tracing::instrument(level = "debug", skip_all, fields(caller = %p.subscriber_id, client = ?client))]
pub async fn list_invoices(
    ctx: &ServiceCtx,
    p: Scope<'_>,
    client: Option<Uuid>,
    page: PageArgs,
) -> AppResult<Page<invoice::Model>> {
    let mut q = invoice::Entity::find();
    if let Some(c) = client {
        p.subscriber(&ctx.db, c).await?;
        q = q.filter(invoice::Column::ClientId.eq(c));
    }
    if !p.is_vendor() {
        if p.serves_clients() {
            q = q.filter(invoice::Column::PartnerId.eq(p.subscriber_id));
        } else {
            p.require(p.manages_own_members(), "read invoices")?;
            q = q.filter(invoice::Column::ClientId.eq(p.subscriber_id));
        }
    }
    paginate(&ctx.db, q, invoice::Column::Id, page).await
}
