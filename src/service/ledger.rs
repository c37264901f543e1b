//! The commission ledger: accrual in the payment's transaction to the partner bound at that moment, with
//! the rule, rate and base frozen on the entry; approval and payout; reversal on refund; reports; quotes.
//! Entries are never edited or deleted: only their status moves forward.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use entity::{commission, payment, program, subscriber, tariff};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, PaginatorTrait, QueryFilter,
    Select, Set,
};
use uuid::Uuid;

use super::ledger_totals::{self, Changes};
use super::webhooks::{self, Event};
use super::{Page, PageArgs, new_id, paginate, programs, stoplist, tariffs};
use crate::auth::Reach;
use crate::auth::Scope;
use crate::db::begin_write;
use crate::domain::Role;
use crate::domain::commission::{RuleSpec, Sale, choose_rule, explain};
use crate::domain::money::percent_of;
use crate::domain::stoplist::is_locked_category;
use crate::domain::subscription::CommissionStatus;
use crate::domain::webhook::EventType;
use crate::error::{AppError, AppResult};
use crate::service::ServiceCtx;

/// What a sale would earn and why.
pub struct Assessment {
    pub partner: Option<Uuid>,
    pub rule: Option<RuleSpec<Uuid>>,
    pub rate_bp: i32,
    pub amount_minor: i64,
    pub explanation: String,
}

/// Applies the rules to one sale of `tariff` to `client` for `base` at `paid_at`.
async fn assess<C: ConnectionTrait>(
    db: &C,
    client: &subscriber::Model,
    t: &tariff::Model,
    base: i64,
    paid_at: DateTime<Utc>,
    exclude_payment: Option<Uuid>,
    lock_at: DateTime<Utc>,
) -> AppResult<Assessment> {
    let program = program::Entity::find_by_id(t.program_id).one(db).await?.ok_or(AppError::NotFound)?;
    let Some(partner) = client.serving_partner_id else {
        return Ok(Assessment {
            partner: None,
            rule: None,
            rate_bp: 0,
            amount_minor: 0,
            explanation: "The client is not bound to a partner (it came by itself): no commission.".into(),
        });
    };
    let status = programs::partner_status_in(db, partner, program.id).await?;
    let mut earlier = payment::Entity::find()
        .filter(payment::Column::SubscriberId.eq(client.id))
        .filter(payment::Column::RefundedAt.is_null());
    if let Some(id) = exclude_payment {
        earlier = earlier.filter(payment::Column::Id.ne(id));
    }
    let first_purchase = earlier.count(db).await? == 0;
    let rules =
        programs::live_rules(db, program.id).await?.iter().map(programs::rule_spec).collect::<AppResult<Vec<_>>>()?;
    let sale = Sale {
        partner_status: status.as_deref(),
        category: &t.category,
        first_purchase,
        client_created_at: client.created_at,
        paid_at,
    };
    let mut chosen = choose_rule(&rules, &sale).cloned();
    let mut explanation = explain(chosen.as_ref(), &sale, &program.code);
    if chosen.is_some()
        && is_locked_category(&t.category)
        && !stoplist::holds_lock(db, partner, client.inn.as_deref(), lock_at).await?
    {
        chosen = None;
        explanation = format!(
            "{} sales earn commission only for the partner holding the client's active stop-list lock; the bound partner does not hold it: no commission.",
            t.category
        );
    }
    let rate_bp = chosen.as_ref().map_or(0, |r| r.rate_bp);
    Ok(Assessment {
        partner: Some(partner),
        amount_minor: percent_of(base, rate_bp),
        rate_bp,
        rule: chosen,
        explanation,
    })
}

/// Accrues the commission of a payment just inserted in `txn`, if a rule gives one.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn accrue(
    txn: &crate::db::WriteTxn,
    pay: &payment::Model,
    client: &subscriber::Model,
    t: &tariff::Model,
    now: DateTime<Utc>,
) -> AppResult<Option<commission::Model>> {
    let a = assess(txn, client, t, pay.amount_minor, pay.paid_at, Some(pay.id), now).await?;
    let (Some(partner), Some(rule)) = (a.partner, a.rule) else {
        return Ok(None);
    };
    let entry = commission::ActiveModel {
        id: Set(new_id()),
        partner_id: Set(partner),
        payment_id: Set(pay.id),
        rule_id: Set(Some(rule.id)),
        rate_bp: Set(a.rate_bp),
        base_minor: Set(pay.amount_minor),
        amount_minor: Set(a.amount_minor),
        status: Set(CommissionStatus::Accrued),
        reverses_id: Set(None),
        payout_reference: Set(None),
        accrued_at: Set(pay.paid_at),
        created_at: Set(now),
        approved_at: Set(None),
        paid_at: Set(None),
    }
    .insert(txn)
    .await?;
    let mut totals = Changes::default();
    totals.inserted(&entry)?;
    totals.apply(txn).await?;
    webhooks::queue(txn, [Event::commission(EventType::CommissionAccrued, &entry, now)]).await?;
    Ok(Some(entry))
}

/// Adds a reversing entry (negative amount, status `REVERSED`) for each accrual of a refunded payment.
/// The originals keep their status; a reversal of a paid entry is netted in the next payout.
pub async fn reverse(txn: &crate::db::WriteTxn, payment: Uuid, now: DateTime<Utc>) -> AppResult<()> {
    let originals = commission::Entity::find()
        .filter(commission::Column::PaymentId.eq(payment))
        .filter(commission::Column::ReversesId.is_null())
        .all(txn)
        .await?;
    let mut totals = Changes::default();
    for o in originals {
        let reversal = commission::ActiveModel {
            id: Set(new_id()),
            partner_id: Set(o.partner_id),
            payment_id: Set(o.payment_id),
            rule_id: Set(o.rule_id),
            rate_bp: Set(o.rate_bp),
            base_minor: Set(-o.base_minor),
            amount_minor: Set(-o.amount_minor),
            status: Set(CommissionStatus::Reversed),
            reverses_id: Set(Some(o.id)),
            payout_reference: Set(None),
            accrued_at: Set(now),
            created_at: Set(now),
            approved_at: Set(None),
            paid_at: Set(None),
        }
        .insert(txn)
        .await
        .map_err(AppError::on_unique("paymentId", "ALREADY_REFUNDED", "this payment is already refunded"))?;
        totals.inserted(&reversal)?;
        webhooks::queue(txn, [Event::commission(EventType::CommissionReversed, &reversal, now)]).await?;
    }
    totals.apply(txn).await
}

/// What a payment would earn: who gets it, under which rule, and why. Writes nothing.
#[tracing::instrument(level = "debug", skip_all, fields(caller = %p.subscriber_id, client = %client, tariff = %tariff))]
pub async fn quote(
    ctx: &ServiceCtx,
    p: Scope<'_>,
    client: Uuid,
    tariff: Uuid,
    period_months: i32,
    amount_minor: i64,
) -> AppResult<Assessment> {
    let (c, r) = p.subscriber(&ctx.db, client).await?;
    p.require(matches!(r, Reach::Client) || p.is_vendor(), "quote commissions")?;
    let t = tariffs::load(&ctx.db, tariff)
        .await
        .map_err(|_| AppError::bad_input("tariffId", "TARIFF_UNKNOWN", "tariffId: no such tariff"))?;
    if !tariffs::periods_of(&t).contains(&period_months) {
        return Err(AppError::bad_input(
            "periodMonths",
            "PERIOD_NOT_OFFERED",
            "periodMonths: not a period of this tariff",
        ));
    }
    let now = ctx.clock.now();
    assess(&ctx.db, &c, &t, amount_minor, now, None, now).await
}

/// Whose ledger the caller reads: the vendor any partner's (or all), a partner's owner only its own.
fn scope(p: Scope<'_>, partner: Option<Uuid>) -> AppResult<Option<Uuid>> {
    if p.is_vendor() {
        return Ok(partner);
    }
    p.require(p.is_partner() && p.role == Role::Owner, "read commissions")?;
    match partner {
        None => Ok(Some(p.subscriber_id)),
        Some(id) if id == p.subscriber_id => Ok(Some(id)),
        Some(_) => Err(AppError::NotFound),
    }
}

fn filtered(
    partner: Option<Uuid>,
    status: Option<CommissionStatus>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Select<commission::Entity> {
    let mut q = commission::Entity::find();
    if let Some(partner) = partner {
        q = q.filter(commission::Column::PartnerId.eq(partner));
    }
    if let Some(s) = status {
        q = q.filter(commission::Column::Status.eq(s));
    }
    if let Some(from) = from {
        q = q.filter(commission::Column::AccruedAt.gte(from));
    }
    if let Some(to) = to {
        q = q.filter(commission::Column::AccruedAt.lt(to));
    }
    q
}

#[tracing::instrument(level = "debug", skip_all, fields(caller = %p.subscriber_id, partner = ?partner))]
pub async fn list(
    ctx: &ServiceCtx,
    p: Scope<'_>,
    partner: Option<Uuid>,
    status: Option<CommissionStatus>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    page: PageArgs,
) -> AppResult<Page<commission::Model>> {
    let partner = scope(p, partner)?;
    paginate(&ctx.db, filtered(partner, status, from, to), commission::Column::Id, page).await
}

/// Sums by current status, in minor units.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub accrued: i64,
    pub approved: i64,
    pub paid: i64,
    pub reversed: i64,
}

impl Summary {
    pub fn total(&self) -> i64 {
        self.accrued + self.approved + self.paid + self.reversed
    }
}

/// Sums by current status for accrual time in `[from, to)`: the ledger totals for whole months, the
/// entries for the partial ones.
#[tracing::instrument(level = "debug", skip_all, fields(caller = %p.subscriber_id, partner = ?partner))]
pub async fn summary(
    ctx: &ServiceCtx,
    p: Scope<'_>,
    partner: Option<Uuid>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> AppResult<Summary> {
    let partner = scope(p, partner)?;
    let rows = ledger_totals::sums(&ctx.db, partner, from, to).await?;
    let mut s = Summary::default();
    for (status, total) in rows {
        match status {
            CommissionStatus::Accrued => s.accrued = total,
            CommissionStatus::Approved => s.approved = total,
            CommissionStatus::Paid => s.paid = total,
            CommissionStatus::Reversed => s.reversed = total,
        }
    }
    Ok(s)
}

pub const MAX_IDS: usize = 500;

fn distinct(ids: &[Uuid]) -> AppResult<Vec<Uuid>> {
    if ids.is_empty() || ids.len() > MAX_IDS {
        return Err(AppError::bad_input("ids", "OUT_OF_RANGE", format!("ids: 1 to {MAX_IDS} ids")));
    }
    Ok(ids.iter().copied().collect::<BTreeSet<_>>().into_iter().collect())
}

async fn load_all(txn: &DatabaseTransaction, ids: &[Uuid]) -> AppResult<Vec<commission::Model>> {
    let found = commission::Entity::find().filter(commission::Column::Id.is_in(ids.to_vec())).all(txn).await?;
    if found.len() != ids.len() {
        return Err(AppError::NotFound);
    }
    Ok(found)
}

/// `ACCRUED → APPROVED`, all or nothing.
#[tracing::instrument(level = "debug", skip_all, fields(caller = %p.subscriber_id))]
pub async fn approve(ctx: &ServiceCtx, p: Scope<'_>, ids: &[Uuid]) -> AppResult<Vec<commission::Model>> {
    p.require(p.is_vendor_staff(), "approve commissions")?;
    let ids = distinct(ids)?;
    let now = ctx.clock.now();
    let txn = begin_write(&ctx.db, &ctx.write_gate).await?;
    let entries = load_all(&txn, &ids).await?;
    if let Some(bad) = entries.iter().find(|e| e.status != CommissionStatus::Accrued) {
        return Err(AppError::conflict("INVALID_STATUS", format!("entry {} is {}, not ACCRUED", bad.id, bad.status)));
    }
    let done = commission::Entity::update_many()
        .col_expr(commission::Column::Status, Expr::value(CommissionStatus::Approved))
        .col_expr(commission::Column::ApprovedAt, Expr::value(now))
        .filter(commission::Column::Id.is_in(ids.clone()))
        .filter(commission::Column::Status.eq(CommissionStatus::Accrued))
        .exec(&txn)
        .await?;
    if done.rows_affected != ids.len() as u64 {
        return Err(AppError::conflict("INVALID_STATUS", "some entries changed meanwhile; try again"));
    }
    let mut totals = Changes::default();
    for e in &entries {
        totals.moved(e, CommissionStatus::Accrued, CommissionStatus::Approved)?;
    }
    totals.apply(&*txn).await?;
    let out = load_all(&txn, &ids).await?;
    webhooks::queue(&*txn, out.iter().map(|c| Event::commission(EventType::CommissionApproved, c, now))).await?;
    txn.commit().await?;
    Ok(out)
}

/// `APPROVED → PAID` with a payout reference. Reversing entries not yet settled may be included: they
/// keep their status and take the reference, which nets them against this payout.
#[tracing::instrument(level = "debug", skip_all, fields(caller = %p.subscriber_id))]
pub async fn mark_paid(
    ctx: &ServiceCtx,
    p: Scope<'_>,
    ids: &[Uuid],
    reference: &str,
) -> AppResult<Vec<commission::Model>> {
    p.require(p.is_vendor_staff(), "mark commissions paid")?;
    let ids = distinct(ids)?;
    let reference = reference.trim();
    if reference.is_empty() || reference.chars().count() > 200 {
        return Err(AppError::bad_input(
            "payoutReference",
            "INVALID_REFERENCE",
            "payoutReference: 1 to 200 characters",
        ));
    }
    let now = ctx.clock.now();
    let txn = begin_write(&ctx.db, &ctx.write_gate).await?;
    let entries = load_all(&txn, &ids).await?;
    let payable = |e: &commission::Model| {
        e.status == CommissionStatus::Approved
            || (e.status == CommissionStatus::Reversed && e.payout_reference.is_none())
    };
    if let Some(bad) = entries.iter().find(|e| !payable(e)) {
        return Err(AppError::conflict("INVALID_STATUS", format!("entry {} is {}, not APPROVED", bad.id, bad.status)));
    }
    let approved: Vec<Uuid> = entries.iter().filter(|e| e.status == CommissionStatus::Approved).map(|e| e.id).collect();
    let reversals: Vec<Uuid> =
        entries.iter().filter(|e| e.status == CommissionStatus::Reversed).map(|e| e.id).collect();
    let paid = commission::Entity::update_many()
        .col_expr(commission::Column::Status, Expr::value(CommissionStatus::Paid))
        .col_expr(commission::Column::PaidAt, Expr::value(now))
        .col_expr(commission::Column::PayoutReference, Expr::value(reference))
        .filter(commission::Column::Id.is_in(approved.clone()))
        .filter(commission::Column::Status.eq(CommissionStatus::Approved))
        .exec(&txn)
        .await?;
    let netted = commission::Entity::update_many()
        .col_expr(commission::Column::PaidAt, Expr::value(now))
        .col_expr(commission::Column::PayoutReference, Expr::value(reference))
        .filter(commission::Column::Id.is_in(reversals.clone()))
        .filter(commission::Column::PayoutReference.is_null())
        .exec(&txn)
        .await?;
    if paid.rows_affected != approved.len() as u64 || netted.rows_affected != reversals.len() as u64 {
        return Err(AppError::conflict("INVALID_STATUS", "some entries changed meanwhile; try again"));
    }
    // Netted reversals keep their status: only the approved entries move.
    let mut totals = Changes::default();
    for e in entries.iter().filter(|e| e.status == CommissionStatus::Approved) {
        totals.moved(e, CommissionStatus::Approved, CommissionStatus::Paid)?;
    }
    totals.apply(&*txn).await?;
    let out = load_all(&txn, &ids).await?;
    let paid = out.iter().filter(|c| approved.contains(&c.id));
    webhooks::queue(&*txn, paid.map(|c| Event::commission(EventType::CommissionPaid, c, now))).await?;
    txn.commit().await?;
    Ok(out)
}

/// Whose entries the caller may see of a payment's ledger: every partner's (`Some(None)`, the vendor),
/// its own partner's (`Some(Some(partner))`, a partner's owner), or none.
pub fn readable_entries(p: Scope<'_>) -> Option<Option<Uuid>> {
    if p.is_vendor() {
        Some(None)
    } else if p.is_partner() && p.role == Role::Owner {
        Some(Some(p.subscriber_id))
    } else {
        None
    }
}
