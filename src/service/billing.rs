//! Subscriptions, invoices and payments. A payment activates or extends a subscription and accrues the
//! bound partner's commission in the same transaction; recording is idempotent by `externalId`.

use chrono::{DateTime, Duration, Months, Utc};
use entity::{invoice, payment, subscriber, subscription, tariff};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder, Set,
};
use uuid::Uuid;

use super::subscribers::{self, BindingNote};
use super::webhooks::{self, Event};
use super::{Page, PageArgs, bindings, ledger, new_id, paginate, programs, promos, stoplist, tariffs};
use crate::app::AppState;
use crate::auth::Reach;
use crate::auth::Scope;
use crate::db::begin_write;
use crate::domain::promo::discounted;
use crate::domain::stoplist::{is_locked_category, needs_csk};
use crate::domain::subscription::{ChurnReason, PaymentChannel, SubscriptionBasis, SubscriptionStatus};
use crate::domain::webhook::EventType;
use crate::domain::{BindingSource, OptionalText, Role};
use crate::error::{AppError, AppResult};

pub async fn subscriptions_of<C: ConnectionTrait>(db: &C, subscriber: Uuid) -> AppResult<Vec<subscription::Model>> {
    Ok(subscription::Entity::find()
        .filter(subscription::Column::SubscriberId.eq(subscriber))
        .order_by_asc(subscription::Column::Id)
        .all(db)
        .await?)
}

/// The subscriber's current (not cancelled, not ended) subscription of a tariff, if any.
async fn live_subscription<C: ConnectionTrait>(
    db: &C,
    subscriber: Uuid,
    tariff: Uuid,
    now: DateTime<Utc>,
) -> AppResult<Option<subscription::Model>> {
    Ok(subscription::Entity::find()
        .filter(subscription::Column::SubscriberId.eq(subscriber))
        .filter(subscription::Column::TariffId.eq(tariff))
        .filter(subscription::Column::CancelledAt.is_null())
        .filter(subscription::Column::EndsAt.gt(now))
        .order_by_desc(subscription::Column::EndsAt)
        .one(db)
        .await?)
}

fn offered(t: &tariff::Model, subscriber: &subscriber::Model) -> AppResult<()> {
    if t.archived {
        return Err(AppError::bad_input("tariffId", "TARIFF_ARCHIVED", "tariffId: this tariff is archived"));
    }
    if t.partner_only && subscriber.kind != "PARTNER" {
        return Err(AppError::bad_input("tariffId", "PARTNER_ONLY", "tariffId: this tariff is for partners only"));
    }
    Ok(())
}

async fn tariff_input<C: ConnectionTrait>(db: &C, id: Uuid) -> AppResult<tariff::Model> {
    tariffs::load(db, id).await.map_err(|e| match e {
        AppError::NotFound => AppError::bad_input("tariffId", "TARIFF_UNKNOWN", "tariffId: no such tariff"),
        e => e,
    })
}

async fn insert_subscription(
    txn: &DatabaseTransaction,
    subscriber: Uuid,
    tariff: Uuid,
    basis: SubscriptionBasis,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
) -> AppResult<subscription::Model> {
    subscription::ActiveModel {
        id: Set(new_id()),
        subscriber_id: Set(subscriber),
        tariff_id: Set(tariff),
        basis: Set(basis.as_str().to_owned()),
        starts_at: Set(starts_at),
        ends_at: Set(ends_at),
        cancelled_at: Set(None),
        churn_reason: Set(None),
        churn_comment: Set(None),
        created_at: Set(starts_at),
    }
    .insert(txn)
    .await
    .map_err(AppError::on_unique(
        "tariffId",
        "TRIAL_USED",
        "this subscriber has already had a trial of this tariff",
    ))
}

/// Starts a trial of a tariff (once per subscriber and tariff, ever).
pub async fn start_trial(
    state: &AppState,
    p: Scope<'_>,
    subscriber: Uuid,
    tariff: Uuid,
) -> AppResult<subscription::Model> {
    let now = state.clock.now();
    let txn = begin_write(&state.db, &state.write_gate).await?;
    let (s, r) = p.subscriber(&txn, subscriber).await?;
    p.require(p.may_administer(r, true), "manage this subscriber's subscriptions")?;
    subscribers::lock(&txn, s.id).await?;
    let t = tariff_input(&txn, tariff).await?;
    offered(&t, &s)?;
    if r == Reach::Client {
        may_sell(&txn, p.subscriber_id, &s, &t, now).await?;
    }
    if t.trial_days <= 0 {
        return Err(AppError::bad_input("tariffId", "NO_TRIAL", "tariffId: this tariff has no trial"));
    }
    if live_subscription(&txn, s.id, t.id, now).await?.is_some() {
        return Err(AppError::conflict("ALREADY_SUBSCRIBED", "this subscriber already has this tariff"));
    }
    let sub =
        insert_subscription(&txn, s.id, t.id, SubscriptionBasis::Trial, now, now + Duration::days(t.trial_days.into()))
            .await?;
    webhooks::queue(&*txn, [Event::subscription(EventType::SubscriptionStarted, &sub, &s, now)]).await?;
    if let Some(partner) = s.serving_partner_id {
        super::tasks::plan_trial_calls(&*txn, partner, &sub, now).await?;
    }
    txn.commit().await?;
    Ok(sub)
}

/// A subscription without payment: `ITS_PROF` for a client with an ITS PROF contract (12 months, set by
/// its partner or the vendor), `PARTNER_FREE` for a partner with an active contract (until it ends).
pub async fn create_subscription(
    state: &AppState,
    p: Scope<'_>,
    subscriber: Uuid,
    tariff: Uuid,
    basis: SubscriptionBasis,
) -> AppResult<subscription::Model> {
    let now = state.clock.now();
    let txn = begin_write(&state.db, &state.write_gate).await?;
    let (s, r) = p.subscriber(&txn, subscriber).await?;
    let t = tariff_input(&txn, tariff).await?;
    subscribers::lock(&txn, s.id).await?;
    let ends_at = match basis {
        SubscriptionBasis::ItsProf => {
            p.require(matches!(r, Reach::Client) || p.is_vendor_staff(), "confirm ITS PROF contracts")?;
            if s.kind != "CLIENT" {
                return Err(AppError::bad_input(
                    "subscriberId",
                    "NOT_A_CLIENT",
                    "subscriberId: ITS PROF is for clients",
                ));
            }
            offered(&t, &s)?;
            if r == Reach::Client {
                may_sell(&txn, p.subscriber_id, &s, &t, now).await?;
            }
            now.checked_add_months(Months::new(12)).unwrap_or(now)
        }
        SubscriptionBasis::PartnerFree => {
            p.require(
                (r == Reach::Own && p.role == Role::Owner) || (r == Reach::Vendor && p.is_vendor_staff()),
                "take the Partner tariff",
            )?;
            if s.kind != "PARTNER" {
                return Err(AppError::bad_input(
                    "subscriberId",
                    "NOT_A_PARTNER",
                    "subscriberId: the Partner tariff is for partners",
                ));
            }
            if !(t.partner_only && t.monthly_price_minor == 0) {
                return Err(AppError::bad_input(
                    "tariffId",
                    "NOT_PARTNER_TARIFF",
                    "tariffId: not the free Partner tariff",
                ));
            }
            offered(&t, &s)?;
            let until = super::subscribers::partner_profile(&txn, s.id).await?.and_then(|pp| pp.contract_until);
            let local = state.config.local;
            match until {
                // Until the end of the contract's last day (local time); it follows the contract after that
                // (`subscribers::update_partner_profile`).
                Some(d) if d >= local.date(now) => local.day_end(d),
                _ => return Err(AppError::conflict("CONTRACT_NOT_ACTIVE", "the partner's contract is not active")),
            }
        }
        SubscriptionBasis::Trial | SubscriptionBasis::Paid => {
            return Err(AppError::bad_input(
                "basis",
                "BASIS_NOT_ALLOWED",
                "basis: use startTrial for trials; paid subscriptions come from payments",
            ));
        }
    };
    if live_subscription(&txn, s.id, t.id, now).await?.is_some() {
        return Err(AppError::conflict("ALREADY_SUBSCRIBED", "this subscriber already has this tariff"));
    }
    let sub = insert_subscription(&txn, s.id, t.id, basis, now, ends_at).await?;
    webhooks::queue(&*txn, [Event::subscription(EventType::SubscriptionStarted, &sub, &s, now)]).await?;
    txn.commit().await?;
    Ok(sub)
}

/// The free Partner tariff follows the partner contract (docs/rules.md §1–2): when `contractUntil` changes, the
/// partner's `PARTNER_FREE` subscriptions that follow it — not cancelled, and still running, or ended
/// exactly when the old contract did — end at the end of the new contract's last day (local time), which
/// extends them, revives one that lapsed with the contract, or ends them at a date already past; a
/// contract cleared ends the running ones now. Runs in the profile change's transaction.
pub async fn follow_contract(
    txn: &DatabaseTransaction,
    partner: Uuid,
    old: Option<chrono::NaiveDate>,
    new: Option<chrono::NaiveDate>,
    local: crate::domain::LocalTime,
    now: DateTime<Utc>,
) -> AppResult<u64> {
    if old == new {
        return Ok(0);
    }
    let mut following = sea_orm::Condition::any().add(subscription::Column::EndsAt.gt(now));
    let ends = match new {
        Some(d) => {
            if let Some(old) = old {
                following = following.add(subscription::Column::EndsAt.eq(local.day_end(old)));
            }
            local.day_end(d)
        }
        None => now,
    };
    let r = subscription::Entity::update_many()
        .col_expr(subscription::Column::EndsAt, sea_orm::sea_query::Expr::value(ends))
        .filter(subscription::Column::SubscriberId.eq(partner))
        .filter(subscription::Column::Basis.eq(SubscriptionBasis::PartnerFree.as_str()))
        .filter(subscription::Column::CancelledAt.is_null())
        .filter(following)
        .exec(txn)
        .await?;
    Ok(r.rows_affected)
}

/// Cancels a subscription; a trial needs a churn reason.
pub async fn cancel(
    state: &AppState,
    p: Scope<'_>,
    id: Uuid,
    reason: Option<ChurnReason>,
    comment: Option<&str>,
) -> AppResult<subscription::Model> {
    let comment = OptionalText::parse(comment).map_err(AppError::input("comment"))?;
    let now = state.clock.now();
    let txn = begin_write(&state.db, &state.write_gate).await?;
    let sub = subscription::Entity::find_by_id(id).one(&txn).await?.ok_or(AppError::NotFound)?;
    let (owner, r) = p.subscriber(&txn, sub.subscriber_id).await?;
    p.require(p.may_administer(r, true), "cancel this subscription")?;
    if sub.cancelled_at.is_some() {
        return Err(AppError::conflict("ALREADY_CANCELLED", "this subscription is already cancelled"));
    }
    if sub.basis == "TRIAL" && reason.is_none() {
        return Err(AppError::bad_input(
            "reason",
            "CHURN_REASON_REQUIRED",
            "reason: say why the client leaves after its trial",
        ));
    }
    // Conditional on still being live: of concurrent cancellations one wins, the others are told.
    let done = subscription::Entity::update_many()
        .col_expr(subscription::Column::CancelledAt, sea_orm::sea_query::Expr::value(now))
        .col_expr(
            subscription::Column::ChurnReason,
            sea_orm::sea_query::Expr::value(reason.map(|r| r.as_str().to_owned())),
        )
        .col_expr(subscription::Column::ChurnComment, sea_orm::sea_query::Expr::value(comment))
        .filter(subscription::Column::Id.eq(id))
        .filter(subscription::Column::CancelledAt.is_null())
        .exec(&txn)
        .await?;
    if done.rows_affected != 1 {
        return Err(AppError::conflict("ALREADY_CANCELLED", "this subscription is already cancelled"));
    }
    let sub = subscription::Entity::find_by_id(id).one(&txn).await?.ok_or(AppError::NotFound)?;
    webhooks::queue(&*txn, [Event::subscription(EventType::SubscriptionCancelled, &sub, &owner, now)]).await?;
    txn.commit().await?;
    Ok(sub)
}

pub fn status(sub: &subscription::Model, now: DateTime<Utc>) -> SubscriptionStatus {
    SubscriptionStatus::at(&sub.basis, sub.ends_at, sub.cancelled_at, now)
}

/// Refuses what a partner may not sell: locked categories without its active stop-list lock on the
/// client (`DEAL_NOT_LOCKED`), and 1C:Fresh services that need a `CSK` partner (`SERVICE_NEEDS_CSK`).
async fn may_sell<C: ConnectionTrait>(
    db: &C,
    partner: Uuid,
    client: &subscriber::Model,
    t: &tariff::Model,
    now: DateTime<Utc>,
) -> AppResult<()> {
    if is_locked_category(&t.category) && !stoplist::holds_lock(db, partner, client.inn.as_deref(), now).await? {
        return Err(AppError::forbidden_because(
            "DEAL_NOT_LOCKED",
            format!("{} sales need your active stop-list lock on the client's INN", t.category),
        ));
    }
    let program = entity::program::Entity::find_by_id(t.program_id).one(db).await?.ok_or(AppError::NotFound)?;
    if needs_csk(&program.code, &t.category)
        && programs::partner_status_in(db, partner, program.id).await?.as_deref() != Some("CSK")
    {
        return Err(AppError::forbidden_because(
            "SERVICE_NEEDS_CSK",
            format!("{} is enabled for clients only through a CSK partner", t.category),
        ));
    }
    Ok(())
}

/// A partner invoices a client: price × months, less a personal discount code. The client may be bound
/// to another partner (it gave this partner its id); paying the invoice rebinds it.
pub async fn create_invoice(
    state: &AppState,
    p: Scope<'_>,
    client: Uuid,
    tariff: Uuid,
    period_months: i32,
    promo_code: Option<&str>,
) -> AppResult<invoice::Model> {
    p.require(p.serves_clients(), "issue invoices")?;
    let now = state.clock.now();
    let txn = begin_write(&state.db, &state.write_gate).await?;
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

pub async fn list_invoices(
    state: &AppState,
    p: Scope<'_>,
    client: Option<Uuid>,
    page: PageArgs,
) -> AppResult<Page<invoice::Model>> {
    let mut q = invoice::Entity::find();
    if let Some(c) = client {
        p.subscriber(&state.db, c).await?;
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
    paginate(&state.db, q, invoice::Column::Id, page).await
}

/// A payment as the billing system reports it.
#[derive(Debug, Clone)]
pub struct NewPayment {
    pub subscriber: Uuid,
    pub tariff: Uuid,
    pub period_months: i32,
    pub amount_minor: i64,
    pub paid_at: Option<DateTime<Utc>>,
    pub channel: Option<PaymentChannel>,
    pub invoice: Option<Uuid>,
    pub promo_code: Option<String>,
    pub external_id: String,
}

impl NewPayment {
    /// What must be equal for a repeated `externalId` to be the same payment (as the caller sent it).
    fn fingerprint(&self) -> String {
        format!(
            "{}|{}|{}|{}|{}|{}|{}|{}",
            self.subscriber,
            self.tariff,
            self.period_months,
            self.amount_minor,
            self.paid_at.map(|t| t.timestamp_micros().to_string()).unwrap_or_default(),
            self.channel.map(|c| c.as_str()).unwrap_or_default(),
            self.invoice.map(|i| i.to_string()).unwrap_or_default(),
            self.promo_code.as_deref().unwrap_or_default(),
        )
    }
}

pub fn check_external_id(raw: &str, field: &str) -> AppResult<String> {
    let id = raw.trim();
    if id.is_empty() || id.chars().count() > 200 || id.chars().any(char::is_control) {
        return Err(AppError::bad_input(
            field,
            "INVALID_EXTERNAL_ID",
            format!("{field}: 1 to 200 printable characters"),
        ));
    }
    Ok(id.to_owned())
}

/// The first payment recorded with this external id, if its payload is the same; `CONFLICT` if not.
async fn replay<C: ConnectionTrait>(db: &C, n: &NewPayment) -> AppResult<Option<payment::Model>> {
    match payment::Entity::find().filter(payment::Column::ExternalId.eq(n.external_id.as_str())).one(db).await? {
        Some(existing) if existing.fingerprint == n.fingerprint() => Ok(Some(existing)),
        Some(_) => Err(AppError::conflict_on(
            "externalId",
            "IDEMPOTENCY_KEY_REUSED",
            "a different payment was already recorded with this externalId",
        )),
        None => Ok(None),
    }
}

/// Records a payment (vendor), idempotently by external id: the same id with the same payload returns
/// the first payment and accrues nothing new; a different payload is `CONFLICT`.
pub async fn record_payment(state: &AppState, p: Scope<'_>, mut n: NewPayment) -> AppResult<payment::Model> {
    p.require(p.is_vendor_staff(), "record payments")?;
    n.external_id = check_external_id(&n.external_id, "externalId")?;
    if let Some(existing) = replay(&state.db, &n).await? {
        return Ok(existing);
    }
    match record_new(state, &n, p.responsible_user()).await {
        // A concurrent request with the same id won the insert: answer as a repeat.
        Err(AppError::Conflict { reason: "DUPLICATE_EXTERNAL_ID", .. }) => {
            replay(&state.db, &n).await?.ok_or_else(|| AppError::Internal("payment vanished after a duplicate".into()))
        }
        other => other,
    }
}

async fn record_new(state: &AppState, n: &NewPayment, recorded_by: Uuid) -> AppResult<payment::Model> {
    let now = state.clock.now();
    let paid_at = n.paid_at.unwrap_or(now);
    if paid_at > now + Duration::minutes(5) {
        return Err(AppError::bad_input("paidAt", "IN_FUTURE", "paidAt: must not be in the future"));
    }
    let txn = begin_write(&state.db, &state.write_gate).await?;
    if let Some(existing) = replay(&txn, n).await? {
        return Ok(existing);
    }
    // Payments of one subscriber run one at a time: each extends from the end the previous one set, and
    // "first purchase" and the bound partner are read after it. (Locking a missing id locks nothing.)
    subscribers::lock(&txn, n.subscriber).await?;
    let client = subscriber::Entity::find_by_id(n.subscriber)
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::bad_input("subscriberId", "SUBSCRIBER_UNKNOWN", "subscriberId: no such subscriber"))?;
    let t = tariff_input(&txn, n.tariff).await?;
    if !tariffs::periods_of(&t).contains(&n.period_months) {
        return Err(AppError::bad_input(
            "periodMonths",
            "PERIOD_NOT_OFFERED",
            "periodMonths: not a period of this tariff",
        ));
    }
    let channel = match (n.channel, n.invoice) {
        (Some(PaymentChannel::PartnerInvoice), None) => {
            return Err(AppError::bad_input(
                "invoiceId",
                "INVOICE_REQUIRED",
                "invoiceId: a PARTNER_INVOICE payment names its invoice",
            ));
        }
        (Some(c), _) => c,
        (None, Some(_)) => PaymentChannel::PartnerInvoice,
        (None, None) => PaymentChannel::Direct,
    };
    let inv = match n.invoice {
        Some(id) => {
            let inv = invoice::Entity::find_by_id(id)
                .one(&txn)
                .await?
                .ok_or_else(|| AppError::bad_input("invoiceId", "INVOICE_UNKNOWN", "invoiceId: no such invoice"))?;
            if inv.client_id != client.id || inv.tariff_id != t.id || inv.period_months != n.period_months {
                return Err(AppError::bad_input(
                    "invoiceId",
                    "INVOICE_MISMATCH",
                    "invoiceId: the invoice is for another client, tariff or period",
                ));
            }
            if inv.payment_id.is_some() {
                return Err(AppError::conflict_on("invoiceId", "INVOICE_ALREADY_PAID", "this invoice is already paid"));
            }
            Some(inv)
        }
        None => None,
    };

    // A personal discount code, given with the payment or carried by its invoice.
    let promo =
        match (n.promo_code.as_deref().map(str::trim).filter(|c| !c.is_empty()), inv.as_ref().and_then(|i| i.promo_id))
        {
            (Some(code), _) => Some(promos::discount_for(&txn, code, client.id, n.period_months).await?.0),
            (None, Some(id)) => {
                let promo = entity::promo_code::Entity::find_by_id(id).one(&txn).await?.ok_or(AppError::NotFound)?;
                Some(promos::discount_for(&txn, &promo.code, client.id, n.period_months).await?.0)
            }
            (None, None) => None,
        };
    // Whether this moves the client from free to paid or to a higher tariff, before it extends anything.
    let upgrade = bindings::is_upgrade(&txn, client.id, &t, now).await?;

    // Activate or extend from the later of now and the current end.
    let months = Months::new(n.period_months as u32);
    let (sub, sub_event) = match live_subscription(&txn, client.id, t.id, now).await? {
        Some(current) => {
            let from = current.ends_at.max(now);
            let mut am: subscription::ActiveModel = current.into();
            am.basis = Set(SubscriptionBasis::Paid.as_str().to_owned());
            am.ends_at = Set(from.checked_add_months(months).unwrap_or(from));
            (am.update(&txn).await?, EventType::SubscriptionRenewed)
        }
        None => {
            let ends = now.checked_add_months(months).unwrap_or(now);
            let sub = insert_subscription(&txn, client.id, t.id, SubscriptionBasis::Paid, now, ends).await?;
            (sub, EventType::SubscriptionStarted)
        }
    };

    let pay = payment::ActiveModel {
        id: Set(new_id()),
        subscriber_id: Set(client.id),
        tariff_id: Set(t.id),
        subscription_id: Set(sub.id),
        period_months: Set(n.period_months),
        amount_minor: Set(n.amount_minor),
        channel: Set(channel.as_str().to_owned()),
        paid_at: Set(paid_at),
        external_id: Set(n.external_id.clone()),
        fingerprint: Set(n.fingerprint()),
        invoice_id: Set(inv.as_ref().map(|i| i.id)),
        refunded_at: Set(None),
        refund_external_id: Set(None),
        created_at: Set(now),
    }
    .insert(&txn)
    .await
    .map_err(AppError::on_unique("externalId", "DUPLICATE_EXTERNAL_ID", "this externalId was just recorded"))?;

    if let Some(inv) = inv.clone() {
        let mut am: invoice::ActiveModel = inv.into();
        am.payment_id = Set(Some(pay.id));
        am.update(&txn).await.map_err(AppError::on_unique(
            "invoiceId",
            "INVOICE_ALREADY_PAID",
            "this invoice is already paid",
        ))?;
    }
    // Bindings first, then the accrual, so the commission goes to the partner bound now: a paid
    // partner invoice rebinds the client to the invoicing partner; a discount code binds on an upgrade.
    let mut client = client;
    if let Some(inv) = &inv {
        let note = BindingNote::by(
            recorded_by,
            format!("paid the partner's invoice {} (payment {})", inv.id, pay.external_id),
        );
        client =
            bindings::apply(&txn, client, inv.partner_id, BindingSource::PartnerInvoice, upgrade, note, now).await?.0;
    }
    if let Some(promo) = &promo {
        promos::redeem_discount(&txn, promo, client.id, pay.id, now).await?;
        let note = BindingNote::by(
            recorded_by,
            format!("paid with the partner's discount code {} (payment {})", promo.code, pay.external_id),
        );
        client =
            bindings::apply(&txn, client, promo.partner_id, BindingSource::DiscountPromo, upgrade, note, now).await?.0;
    }
    let commission = ledger::accrue(&txn, &pay, &client, &t, now).await?;
    let events = [
        Event::subscription(sub_event, &sub, &client, now),
        Event::payment(EventType::PaymentRecorded, &pay, &client, now),
    ];
    webhooks::queue(&*txn, events).await?;
    txn.commit().await?;
    state.events.publish(&state.db, payment_events(&pay, &client, &t, commission.as_ref(), now)).await;
    Ok(pay)
}

/// What the partners concerned hear about a newly recorded payment: its serving partner (after the
/// payment's own rebinding) and the partner its commission accrued to.
fn payment_events(
    pay: &payment::Model,
    client: &subscriber::Model,
    t: &tariff::Model,
    commission: Option<&entity::commission::Model>,
    now: DateTime<Utc>,
) -> Vec<crate::events::PartnerEvent> {
    use crate::domain::money::format_minor;
    use crate::events::{PartnerEvent, PartnerEventKind};
    let mut events = Vec::new();
    if let Some(partner) = client.serving_partner_id {
        events.push(PartnerEvent::new(
            PartnerEventKind::PaymentRecorded,
            partner,
            pay.id,
            format!(
                "{} paid {} for {} month(s) of {}",
                client.name,
                format_minor(pay.amount_minor),
                pay.period_months,
                t.name
            ),
            now,
        ));
    }
    if let Some(c) = commission {
        events.push(PartnerEvent::new(
            PartnerEventKind::CommissionAccrued,
            c.partner_id,
            c.id,
            format!("a commission of {} accrued on a payment of {}", format_minor(c.amount_minor), client.name),
            now,
        ));
    }
    events
}

/// Refunds a payment: the ledger gets a reversing entry for each accrual, the subscription loses the
/// paid period. Idempotent by the refund's own external id.
pub async fn refund(state: &AppState, p: Scope<'_>, id: Uuid, external_id: &str) -> AppResult<payment::Model> {
    p.require(p.is_vendor_staff(), "refund payments")?;
    let external_id = check_external_id(external_id, "externalId")?;
    let now = state.clock.now();
    let txn = begin_write(&state.db, &state.write_gate).await?;
    let pay = payment::Entity::find_by_id(id).one(&txn).await?.ok_or(AppError::NotFound)?;
    subscribers::lock(&txn, pay.subscriber_id).await?;
    let claimed = payment::Entity::update_many()
        .col_expr(payment::Column::RefundedAt, sea_orm::sea_query::Expr::value(now))
        .col_expr(payment::Column::RefundExternalId, sea_orm::sea_query::Expr::value(external_id.clone()))
        .filter(payment::Column::Id.eq(id))
        .filter(payment::Column::RefundedAt.is_null())
        .exec(&txn)
        .await
        .map_err(AppError::on_unique(
            "externalId",
            "IDEMPOTENCY_KEY_REUSED",
            "this refund externalId was used for another payment",
        ))?;
    if claimed.rows_affected == 0 {
        drop(txn);
        let current = payment::Entity::find_by_id(id).one(&state.db).await?.ok_or(AppError::NotFound)?;
        return if current.refund_external_id.as_deref() == Some(external_id.as_str()) {
            Ok(current)
        } else {
            Err(AppError::conflict("ALREADY_REFUNDED", "this payment is already refunded"))
        };
    }
    ledger::reverse(&txn, pay.id, now).await?;
    if let Some(sub) = subscription::Entity::find_by_id(pay.subscription_id).one(&txn).await? {
        let ends = sub.ends_at.checked_sub_months(Months::new(pay.period_months as u32)).unwrap_or(sub.ends_at);
        let mut am: subscription::ActiveModel = sub.into();
        am.ends_at = Set(ends);
        am.update(&txn).await?;
    }
    let pay = payment::Entity::find_by_id(id).one(&txn).await?.ok_or(AppError::NotFound)?;
    let payer = subscribers::load(&*txn, pay.subscriber_id).await?;
    webhooks::queue(&*txn, [Event::payment(EventType::PaymentRefunded, &pay, &payer, now)]).await?;
    txn.commit().await?;
    Ok(pay)
}

pub async fn list_payments(
    state: &AppState,
    p: Scope<'_>,
    subscriber: Option<Uuid>,
    external_id: Option<&str>,
    page: PageArgs,
) -> AppResult<Page<payment::Model>> {
    let mut q = payment::Entity::find();
    if let Some(ext) = external_id {
        q = q.filter(payment::Column::ExternalId.eq(ext));
    }
    if let Some(s) = subscriber {
        let (_, r) = p.worked(&state.db, s).await?;
        p.require(r != Reach::Own || p.manages_own_members(), "read payments")?;
        q = q.filter(payment::Column::SubscriberId.eq(s));
    } else if !p.is_vendor() {
        if p.serves_clients() {
            q = q.filter(payment::Column::SubscriberId.in_subquery(subscribers::client_ids_of(p.subscriber_id)));
        } else {
            p.require(p.manages_own_members(), "read payments")?;
            q = q.filter(payment::Column::SubscriberId.eq(p.subscriber_id));
        }
    }
    paginate(&state.db, q, payment::Column::Id, page).await
}
