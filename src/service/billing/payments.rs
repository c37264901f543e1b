//! Recording payments, idempotently by `externalId`: a payment activates or extends a subscription, pays
//! its invoice, applies a discount code, rebinds the client and accrues the commission in one transaction.

use chrono::{DateTime, Duration, Utc};
use entity::{invoice, payment, promo_code, subscriber, subscription, tariff};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, Set};
use uuid::Uuid;

use super::subscriptions::{insert_subscription, live_subscription};
use super::tariff_input;
use crate::auth::{Reach, Scope};
use crate::db::{WriteTxn, begin_write};
use crate::domain::subscription::{PaymentChannel, SubscriptionBasis};
use crate::domain::webhook::EventType;
use crate::domain::{BindingSource, Money, PeriodMonths};
use crate::error::{AppError, AppResult, UniqueIndex};
use crate::service::ServiceCtx;
use crate::service::subscribers::{self, BindingNote};
use crate::service::webhooks::{self, Event};
use crate::service::{Page, PageArgs, bindings, ledger, new_id, paginate, promos, tariffs};

/// A payment as the billing system reports it.
#[derive(Debug, Clone)]
pub struct NewPayment {
    pub subscriber: Uuid,
    pub tariff: Uuid,
    pub period: PeriodMonths,
    pub amount: Money,
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
            self.period.get(),
            self.amount.minor(),
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
#[tracing::instrument(level = "debug", skip_all)]
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
#[tracing::instrument(level = "debug", skip_all, fields(caller = %p.subscriber_id, subscriber = %n.subscriber, tariff = %n.tariff, external_id = %n.external_id))]
pub async fn record_payment(ctx: &ServiceCtx, p: Scope<'_>, mut n: NewPayment) -> AppResult<payment::Model> {
    p.require(p.is_vendor_staff(), "record payments")?;
    n.external_id = check_external_id(&n.external_id, "externalId")?;
    if let Some(existing) = replay(&ctx.db, &n).await? {
        return Ok(existing);
    }
    match record_new(ctx, &n, p.responsible_user()).await {
        // A concurrent request with the same id won the insert: answer as a repeat.
        Err(AppError::Conflict { reason: "DUPLICATE_EXTERNAL_ID", .. }) => {
            replay(&ctx.db, &n).await?.ok_or_else(|| AppError::Internal("payment vanished after a duplicate".into()))
        }
        other => other,
    }
}

/// Records a payment whose external id is new, in one transaction under the subscriber's lock.
#[tracing::instrument(level = "debug", skip_all)]
async fn record_new(ctx: &ServiceCtx, n: &NewPayment, recorded_by: Uuid) -> AppResult<payment::Model> {
    let now = ctx.clock.now();
    let paid_at = paid_at_of(n, now)?;
    let txn = begin_write(&ctx.db, &ctx.write_gate).await?;
    if let Some(existing) = replay(&txn, n).await? {
        return Ok(existing);
    }
    // Payments of one subscriber run one at a time: each extends from the end the previous one set, and
    // "first purchase" and the bound partner are read after it. (Locking a missing id locks nothing.)
    subscribers::lock(&txn, n.subscriber).await?;
    let client = payer(&txn, n.subscriber).await?;
    let t = tariff_for_period(&txn, n.tariff, n.period).await?;
    let channel = channel_of(n)?;
    let inv = invoice_paid(&txn, n, &client, &t).await?;
    let promo = discount_code(&txn, n, inv.as_ref(), client.id).await?;
    // Whether this moves the client from free to paid or to a higher tariff, before it extends anything.
    let upgrade = bindings::is_upgrade(&txn, client.id, &t, now).await?;
    let (sub, sub_event) = activate_or_extend(&txn, client.id, t.id, n.period, now).await?;
    let pay = insert_payment(&txn, n, &sub, &client, channel, inv.as_ref(), paid_at, now).await?;
    if let Some(inv) = &inv {
        mark_invoice_paid(&txn, inv, pay.id).await?;
    }
    // Bindings first, then the accrual, so the commission goes to the partner bound now: a paid
    // partner invoice rebinds the client to the invoicing partner; a discount code binds on an upgrade.
    let mut client = client;
    if let Some(inv) = &inv {
        client = bind_to_invoicing_partner(&txn, client, inv, &pay, upgrade, recorded_by, now).await?;
    }
    if let Some(promo) = &promo {
        client = redeem_discount_code(&txn, client, promo, &pay, upgrade, recorded_by, now).await?;
    }
    let commission = ledger::accrue(&txn, &pay, &client, &t, now).await?;
    let events = [
        Event::subscription(sub_event, &sub, &client, now),
        Event::payment(EventType::PaymentRecorded, &pay, &client, now),
    ];
    webhooks::queue(&*txn, events).await?;
    txn.commit().await?;
    ctx.events.publish(&ctx.db, payment_events(&pay, &client, &t, commission.as_ref(), now)).await;
    Ok(pay)
}

/// When the payment was made: as reported, else now; not more than a few minutes ahead of the clock.
fn paid_at_of(n: &NewPayment, now: DateTime<Utc>) -> AppResult<DateTime<Utc>> {
    let paid_at = n.paid_at.unwrap_or(now);
    if paid_at > now + Duration::minutes(5) {
        return Err(AppError::bad_input("paidAt", "IN_FUTURE", "paidAt: must not be in the future"));
    }
    Ok(paid_at)
}

/// The paying subscriber (`BAD_USER_INPUT` if there is none).
#[tracing::instrument(level = "debug", skip_all)]
async fn payer<C: ConnectionTrait>(db: &C, id: Uuid) -> AppResult<subscriber::Model> {
    subscriber::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| AppError::bad_input("subscriberId", "SUBSCRIBER_UNKNOWN", "subscriberId: no such subscriber"))
}

/// The paid tariff, if it offers the paid period.
#[tracing::instrument(level = "debug", skip_all)]
async fn tariff_for_period<C: ConnectionTrait>(db: &C, id: Uuid, period: PeriodMonths) -> AppResult<tariff::Model> {
    let t = tariff_input(db, id).await?;
    if !tariffs::offers(&t, period) {
        return Err(tariffs::period_not_offered());
    }
    Ok(t)
}

/// The channel as reported; a payment naming an invoice came through the partner's invoice.
fn channel_of(n: &NewPayment) -> AppResult<PaymentChannel> {
    match (n.channel, n.invoice) {
        (Some(PaymentChannel::PartnerInvoice), None) => Err(AppError::bad_input(
            "invoiceId",
            "INVOICE_REQUIRED",
            "invoiceId: a PARTNER_INVOICE payment names its invoice",
        )),
        (Some(c), _) => Ok(c),
        (None, Some(_)) => Ok(PaymentChannel::PartnerInvoice),
        (None, None) => Ok(PaymentChannel::Direct),
    }
}

/// The invoice the payment pays, if it names one: for this client, tariff and period, and not paid yet.
#[tracing::instrument(level = "debug", skip_all)]
async fn invoice_paid<C: ConnectionTrait>(
    db: &C,
    n: &NewPayment,
    client: &subscriber::Model,
    t: &tariff::Model,
) -> AppResult<Option<invoice::Model>> {
    let Some(id) = n.invoice else {
        return Ok(None);
    };
    let inv = invoice::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| AppError::bad_input("invoiceId", "INVOICE_UNKNOWN", "invoiceId: no such invoice"))?;
    if inv.client_id != client.id || inv.tariff_id != t.id || inv.period_months != n.period.get() {
        return Err(AppError::bad_input(
            "invoiceId",
            "INVOICE_MISMATCH",
            "invoiceId: the invoice is for another client, tariff or period",
        ));
    }
    if inv.payment_id.is_some() {
        return Err(AppError::conflict_on("invoiceId", "INVOICE_ALREADY_PAID", "this invoice is already paid"));
    }
    Ok(Some(inv))
}

/// A personal discount code, given with the payment or carried by its invoice, checked for the client.
#[tracing::instrument(level = "debug", skip_all)]
async fn discount_code<C: ConnectionTrait>(
    db: &C,
    n: &NewPayment,
    inv: Option<&invoice::Model>,
    client: Uuid,
) -> AppResult<Option<promo_code::Model>> {
    match (n.promo_code.as_deref().map(str::trim).filter(|c| !c.is_empty()), inv.and_then(|i| i.promo_id)) {
        (Some(code), _) => Ok(Some(promos::discount_for(db, code, client, n.period).await?.0)),
        (None, Some(id)) => {
            let promo = promo_code::Entity::find_by_id(id).one(db).await?.ok_or(AppError::NotFound)?;
            Ok(Some(promos::discount_for(db, &promo.code, client, n.period).await?.0))
        }
        (None, None) => Ok(None),
    }
}

/// Activates the tariff, or extends the live subscription from the later of now and its current end.
#[tracing::instrument(level = "debug", skip_all)]
async fn activate_or_extend(
    txn: &DatabaseTransaction,
    client: Uuid,
    tariff: Uuid,
    period: PeriodMonths,
    now: DateTime<Utc>,
) -> AppResult<(subscription::Model, EventType)> {
    let months = period.months();
    match live_subscription(txn, client, tariff, now).await? {
        Some(current) => {
            let from = current.ends_at.max(now);
            let mut am: subscription::ActiveModel = current.into();
            am.basis = Set(SubscriptionBasis::Paid);
            am.ends_at = Set(from.checked_add_months(months).unwrap_or(from));
            Ok((am.update(txn).await?, EventType::SubscriptionRenewed))
        }
        None => {
            let ends = now.checked_add_months(months).unwrap_or(now);
            let sub = insert_subscription(txn, client, tariff, SubscriptionBasis::Paid, now, ends).await?;
            Ok((sub, EventType::SubscriptionStarted))
        }
    }
}

/// The unique indexes a new payment can violate (`m20261122_000002_commerce`): only the first means its
/// `externalId` is taken.
const EXTERNAL_ID_INDEX: UniqueIndex =
    UniqueIndex { name: "ux_payments_external_id", table: "payments", columns: &["external_id"] };
const INVOICE_INDEX: UniqueIndex =
    UniqueIndex { name: "ux_payments_invoice", table: "payments", columns: &["invoice_id"] };
/// An invoice is paid once (`m20261122_000002_commerce`).
const INVOICE_PAID_INDEX: UniqueIndex =
    UniqueIndex { name: "ux_invoices_payment", table: "invoices", columns: &["payment_id"] };

/// Inserts the payment for the subscription it paid; a concurrent insert of the same external id is
/// `DUPLICATE_EXTERNAL_ID` (answered as a repeat by `record_payment`), an invoice another payment paid
/// is `INVOICE_ALREADY_PAID`.
#[tracing::instrument(level = "debug", skip_all)]
// The row's columns come from each step of `record_new` before it (the payer's partner among them).
#[allow(clippy::too_many_arguments)]
async fn insert_payment(
    txn: &DatabaseTransaction,
    n: &NewPayment,
    sub: &subscription::Model,
    payer: &subscriber::Model,
    channel: PaymentChannel,
    inv: Option<&invoice::Model>,
    paid_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> AppResult<payment::Model> {
    payment::ActiveModel {
        id: Set(new_id()),
        subscriber_id: Set(sub.subscriber_id),
        tariff_id: Set(sub.tariff_id),
        subscription_id: Set(sub.id),
        period_months: Set(n.period.get()),
        amount_minor: Set(n.amount.minor()),
        channel: Set(channel),
        paid_at: Set(paid_at),
        external_id: Set(n.external_id.clone()),
        fingerprint: Set(n.fingerprint()),
        invoice_id: Set(inv.map(|i| i.id)),
        refunded_at: Set(None),
        refund_external_id: Set(None),
        created_at: Set(now),
        serving_partner_id: Set(subscribers::serving_partner_of(payer)),
    }
    .insert(txn)
    .await
    .map_err(|e| {
        if EXTERNAL_ID_INDEX.violated_by(&e) {
            AppError::conflict_on("externalId", "DUPLICATE_EXTERNAL_ID", "this externalId was just recorded")
        } else if INVOICE_INDEX.violated_by(&e) {
            AppError::conflict_on("invoiceId", "INVOICE_ALREADY_PAID", "this invoice is already paid")
        } else {
            AppError::from(e)
        }
    })
}

/// Marks the invoice paid by this payment (once: a unique index holds it).
#[tracing::instrument(level = "debug", skip_all)]
async fn mark_invoice_paid(txn: &DatabaseTransaction, inv: &invoice::Model, payment: Uuid) -> AppResult<()> {
    let mut am: invoice::ActiveModel = inv.clone().into();
    am.payment_id = Set(Some(payment));
    am.update(txn)
        .await
        .map_err(INVOICE_PAID_INDEX.or_internal(|| {
            AppError::conflict_on("invoiceId", "INVOICE_ALREADY_PAID", "this invoice is already paid")
        }))?;
    Ok(())
}

/// A paid partner invoice binds the client to the invoicing partner (docs/rules.md §8).
#[tracing::instrument(level = "debug", skip_all)]
async fn bind_to_invoicing_partner(
    txn: &WriteTxn,
    client: subscriber::Model,
    inv: &invoice::Model,
    pay: &payment::Model,
    upgrade: bool,
    recorded_by: Uuid,
    now: DateTime<Utc>,
) -> AppResult<subscriber::Model> {
    let note =
        BindingNote::by(recorded_by, format!("paid the partner's invoice {} (payment {})", inv.id, pay.external_id));
    Ok(bindings::apply(txn, client, inv.partner_id, BindingSource::PartnerInvoice, upgrade, note, now).await?.0)
}

/// Uses the discount code on the payment; on an upgrade it binds the client to the code's partner.
#[tracing::instrument(level = "debug", skip_all)]
async fn redeem_discount_code(
    txn: &WriteTxn,
    client: subscriber::Model,
    promo: &promo_code::Model,
    pay: &payment::Model,
    upgrade: bool,
    recorded_by: Uuid,
    now: DateTime<Utc>,
) -> AppResult<subscriber::Model> {
    promos::redeem_discount(txn, promo, client.id, pay.id, now).await?;
    let note = BindingNote::by(
        recorded_by,
        format!("paid with the partner's discount code {} (payment {})", promo.code, pay.external_id),
    );
    Ok(bindings::apply(txn, client, promo.partner_id, BindingSource::DiscountPromo, upgrade, note, now).await?.0)
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
    use crate::events::{EventDetail, PartnerEvent};
    let mut events = Vec::new();
    if let Some(partner) = client.serving_partner_id {
        let paid = EventDetail::PaymentRecorded {
            client: client.name.clone(),
            amount_minor: pay.amount_minor,
            months: pay.period_months,
            tariff: t.name.clone(),
        };
        events.push(PartnerEvent::new(partner, pay.id, paid, now));
    }
    if let Some(c) = commission {
        let accrued = EventDetail::CommissionAccrued { client: client.name.clone(), amount_minor: c.amount_minor };
        events.push(PartnerEvent::new(c.partner_id, c.id, accrued, now));
    }
    events
}

/// The payments of a partner's clients now (public for the plan guard): one range of the index
/// `(serving_partner_id, id)`, kept on every rebind.
pub fn partner_payments(partner: Uuid) -> sea_orm::sea_query::SimpleExpr {
    payment::Column::ServingPartnerId.eq(partner)
}

#[tracing::instrument(level = "debug", skip_all, fields(caller = %p.subscriber_id, subscriber = ?subscriber))]
pub async fn list_payments(
    ctx: &ServiceCtx,
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
        let (_, r) = p.worked(&ctx.db, s).await?;
        p.require(r != Reach::Own || p.manages_own_members(), "read payments")?;
        q = q.filter(payment::Column::SubscriberId.eq(s));
    } else if !p.is_vendor() {
        if p.serves_clients() {
            q = q.filter(partner_payments(p.subscriber_id));
        } else {
            p.require(p.manages_own_members(), "read payments")?;
            q = q.filter(payment::Column::SubscriberId.eq(p.subscriber_id));
        }
    }
    paginate(&ctx.db, q, payment::Column::Id, page).await
}
