//! Output types of programs, tariffs, subscriptions, invoices, payments and the ledger.

use async_graphql::{Context, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{commission, commission_rule, invoice, partner_status, payment, program, subscription, tariff};

use super::context::{GqlResult, scope, state, viewer};
use super::enums::{ChurnReason, CommissionStatus, PaymentChannel, Purchase, SubscriptionBasis, SubscriptionStatus};
use super::loaders::{self, CategoriesOf, EntriesOfPayment, ProgramId, RuleId, RulesOf, StatusesOf, TariffId};
use super::scalars::Decimal;
use super::types::Subscriber;
use crate::service::{billing, ledger, tariffs};

fn id(u: uuid::Uuid) -> ID {
    ID(u.to_string())
}

/// A product line with its partner statuses, product categories and commission rules.
pub struct Program(pub program::Model);

#[Object]
impl Program {
    async fn id(&self) -> ID {
        id(self.0.id)
    }
    async fn code(&self) -> &str {
        &self.0.code
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// Partner statuses, lowest first.
    async fn statuses(&self, ctx: &Context<'_>) -> GqlResult<Vec<String>> {
        Ok(loaders::required(ctx, StatusesOf(self.0.id)).await?)
    }
    /// Product categories.
    async fn categories(&self, ctx: &Context<'_>) -> GqlResult<Vec<String>> {
        Ok(loaders::required(ctx, CategoriesOf(self.0.id)).await?)
    }
    /// The commission rules in force: the partners' rates, for the vendor and partners (empty for
    /// clients).
    async fn rules(&self, ctx: &Context<'_>) -> GqlResult<Vec<CommissionRule>> {
        if !viewer(ctx).is_some_and(|p| p.sees_commission_rates()) {
            return Ok(Vec::new());
        }
        Ok(loaders::required(ctx, RulesOf(self.0.id)).await?.into_iter().map(CommissionRule).collect())
    }
}

/// A commission rule: matches on status, category, purchase and window, gives a rate. The most specific
/// matching rule wins (status 4 + category 2 + purchase other than ANY 1).
pub struct CommissionRule(pub commission_rule::Model);

#[Object]
impl CommissionRule {
    async fn id(&self) -> ID {
        id(self.0.id)
    }
    /// The partner status it applies to, or null for any.
    async fn status(&self) -> Option<&str> {
        self.0.status.as_deref()
    }
    /// The product category it applies to, or null for any.
    async fn category(&self) -> Option<&str> {
        self.0.category.as_deref()
    }
    async fn purchase(&self) -> Purchase {
        self.0.purchase.into()
    }
    /// Applies only within this many months of the client's creation; null: always.
    async fn window_months(&self) -> Option<i32> {
        self.0.window_months
    }
    /// Percent of the payment.
    async fn rate(&self) -> Decimal {
        Decimal::percent(self.0.rate_bp)
    }
    /// Set when the rule was replaced or deleted (entries accrued under it keep pointing to it).
    async fn deleted_at(&self) -> Option<DateTime<Utc>> {
        self.0.deleted_at
    }
}

/// A partner's status in one program.
pub struct PartnerStatus(pub partner_status::Model);

#[Object]
impl PartnerStatus {
    async fn program(&self, ctx: &Context<'_>) -> GqlResult<Program> {
        Ok(Program(loaders::required(ctx, ProgramId(self.0.program_id)).await?))
    }
    async fn status(&self) -> &str {
        &self.0.status
    }
}

/// Something sold: a tariff of a program, in a product category.
pub struct Tariff(pub tariff::Model);

#[Object]
impl Tariff {
    async fn id(&self) -> super::scalars::Uid {
        super::scalars::Uid(self.0.id)
    }
    async fn code(&self) -> &str {
        &self.0.code
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn program(&self, ctx: &Context<'_>) -> GqlResult<Program> {
        Ok(Program(loaders::required(ctx, ProgramId(self.0.program_id)).await?))
    }
    async fn category(&self) -> &str {
        &self.0.category
    }
    async fn monthly_price(&self) -> Decimal {
        Decimal::money(self.0.monthly_price_minor)
    }
    /// Allowed periods in months.
    async fn periods(&self) -> Vec<i32> {
        tariffs::periods_of(&self.0)
    }
    /// Null: unlimited.
    async fn max_databases(&self) -> Option<i32> {
        self.0.max_databases
    }
    /// Null: unlimited.
    async fn max_users(&self) -> Option<i32> {
        self.0.max_users
    }
    /// Null: unlimited.
    async fn max_sessions(&self) -> Option<i32> {
        self.0.max_sessions
    }
    async fn trial_days(&self) -> i32 {
        self.0.trial_days
    }
    async fn partner_only(&self) -> bool {
        self.0.partner_only
    }
    async fn archived(&self) -> bool {
        self.0.archived
    }
}

/// A subscriber's subscription to a tariff. Its status follows from its dates.
pub struct SubscriptionNode(pub subscription::Model);

#[Object(name = "Subscription")]
impl SubscriptionNode {
    async fn id(&self) -> super::scalars::Uid {
        super::scalars::Uid(self.0.id)
    }
    async fn subscriber(&self, ctx: &Context<'_>) -> GqlResult<Subscriber> {
        Subscriber::load(ctx, self.0.subscriber_id).await
    }
    async fn tariff(&self, ctx: &Context<'_>) -> GqlResult<Tariff> {
        Ok(Tariff(loaders::required(ctx, TariffId(self.0.tariff_id)).await?))
    }
    async fn status(&self, ctx: &Context<'_>) -> SubscriptionStatus {
        billing::status(&self.0, state(ctx).clock.now()).into()
    }
    async fn basis(&self) -> SubscriptionBasis {
        self.0.basis.into()
    }
    async fn starts_at(&self) -> DateTime<Utc> {
        self.0.starts_at
    }
    async fn ends_at(&self) -> DateTime<Utc> {
        self.0.ends_at
    }
    async fn cancelled_at(&self) -> Option<DateTime<Utc>> {
        self.0.cancelled_at
    }
    /// Why the client left, when it was cancelled with a reason.
    async fn churn_reason(&self) -> Option<ChurnReason> {
        self.0.churn_reason.map(Into::into)
    }
    async fn churn_comment(&self) -> Option<&str> {
        self.0.churn_comment.as_deref()
    }
}

/// A partner's invoice to a client.
pub struct Invoice(pub invoice::Model);

#[Object]
impl Invoice {
    async fn id(&self) -> ID {
        id(self.0.id)
    }
    async fn client(&self, ctx: &Context<'_>) -> GqlResult<Subscriber> {
        Subscriber::load(ctx, self.0.client_id).await
    }
    async fn partner(&self, ctx: &Context<'_>) -> GqlResult<Subscriber> {
        Subscriber::load(ctx, self.0.partner_id).await
    }
    async fn tariff(&self, ctx: &Context<'_>) -> GqlResult<Tariff> {
        Ok(Tariff(loaders::required(ctx, TariffId(self.0.tariff_id)).await?))
    }
    async fn period_months(&self) -> i32 {
        self.0.period_months
    }
    /// Price × months, less the discount.
    async fn amount(&self) -> Decimal {
        Decimal::money(self.0.amount_minor)
    }
    async fn discount_percent(&self) -> Decimal {
        Decimal::percent(self.0.discount_bp)
    }
    async fn paid(&self) -> bool {
        self.0.payment_id.is_some()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// Money received for a tariff and period.
pub struct Payment(pub payment::Model);

#[Object]
impl Payment {
    async fn id(&self) -> ID {
        id(self.0.id)
    }
    async fn subscriber(&self, ctx: &Context<'_>) -> GqlResult<Subscriber> {
        Subscriber::load(ctx, self.0.subscriber_id).await
    }
    async fn tariff(&self, ctx: &Context<'_>) -> GqlResult<Tariff> {
        Ok(Tariff(loaders::required(ctx, TariffId(self.0.tariff_id)).await?))
    }
    async fn period_months(&self) -> i32 {
        self.0.period_months
    }
    async fn amount(&self) -> Decimal {
        Decimal::money(self.0.amount_minor)
    }
    async fn channel(&self) -> PaymentChannel {
        self.0.channel.into()
    }
    async fn paid_at(&self) -> DateTime<Utc> {
        self.0.paid_at
    }
    /// The billing system's id that makes recording idempotent.
    async fn external_id(&self) -> &str {
        &self.0.external_id
    }
    async fn refunded(&self) -> bool {
        self.0.refunded_at.is_some()
    }
    async fn refunded_at(&self) -> Option<DateTime<Utc>> {
        self.0.refunded_at
    }
    /// The invoice it paid, if any (null when the invoice is not the caller's to read: a client's payment
    /// of another partner's invoice, seen by the partner serving the client now).
    async fn invoice(&self, ctx: &Context<'_>) -> GqlResult<Option<Invoice>> {
        let (Some(i), Some(p)) = (self.0.invoice_id, super::context::viewer(ctx)) else {
            return Ok(None);
        };
        let inv = loaders::required(ctx, loaders::InvoiceId(i)).await?;
        Ok(billing::may_read_invoice(p, &inv).then_some(Invoice(inv)))
    }
    /// The ledger entries of this payment the caller may see (the vendor all, a partner owner its own).
    async fn commissions(&self, ctx: &Context<'_>) -> GqlResult<Vec<Commission>> {
        let Some(partner) = ledger::readable_entries(scope(ctx)?) else {
            return Ok(Vec::new());
        };
        let entries = loaders::required(ctx, EntriesOfPayment { payment: self.0.id, partner }).await?;
        Ok(entries.into_iter().map(Commission).collect())
    }
}

/// One ledger entry: never edited or deleted; a refund adds a reversing entry.
pub struct Commission(pub commission::Model);

#[Object]
impl Commission {
    async fn id(&self) -> ID {
        id(self.0.id)
    }
    async fn partner(&self, ctx: &Context<'_>) -> GqlResult<Subscriber> {
        Subscriber::load(ctx, self.0.partner_id).await
    }
    async fn payment(&self, ctx: &Context<'_>) -> GqlResult<Payment> {
        Ok(Payment(loaders::required(ctx, loaders::PaymentId(self.0.payment_id)).await?))
    }
    /// The rate as frozen at accrual.
    async fn rate(&self) -> Decimal {
        Decimal::percent(self.0.rate_bp)
    }
    /// The base as frozen at accrual (negative on a reversal).
    async fn base(&self) -> Decimal {
        Decimal::money(self.0.base_minor)
    }
    /// Negative on a reversal.
    async fn amount(&self) -> Decimal {
        Decimal::money(self.0.amount_minor)
    }
    async fn status(&self) -> CommissionStatus {
        self.0.status.into()
    }
    /// The rule it was accrued under, as it was then.
    async fn rule(&self, ctx: &Context<'_>) -> GqlResult<Option<CommissionRule>> {
        match self.0.rule_id {
            Some(r) => Ok(loaders::one(ctx, RuleId(r)).await?.map(CommissionRule)),
            None => Ok(None),
        }
    }
    /// The entry this one reverses.
    async fn reverses_id(&self) -> Option<ID> {
        self.0.reverses_id.map(id)
    }
    /// When it counts: the payment's `paidAt`, or the refund time for a reversal (`from`/`to` filter on it).
    async fn accrued_at(&self) -> DateTime<Utc> {
        self.0.accrued_at
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn payout_reference(&self) -> Option<&str> {
        self.0.payout_reference.as_deref()
    }
}

/// Ledger sums by current status; `reversed` is negative; `total` sums everything.
#[derive(SimpleObject)]
pub struct CommissionSummary {
    pub accrued: Decimal,
    pub approved: Decimal,
    pub paid: Decimal,
    pub reversed: Decimal,
    pub total: Decimal,
}

impl From<ledger::Summary> for CommissionSummary {
    fn from(s: ledger::Summary) -> Self {
        CommissionSummary {
            accrued: Decimal::money(s.accrued),
            approved: Decimal::money(s.approved),
            paid: Decimal::money(s.paid),
            reversed: Decimal::money(s.reversed),
            total: Decimal::money(s.total()),
        }
    }
}

/// What a payment would earn, under which rule, and why.
#[derive(SimpleObject)]
pub struct CommissionQuote {
    pub rate: Decimal,
    pub amount: Decimal,
    pub rule: Option<CommissionRule>,
    pub explanation: String,
    /// The partner that would earn it: the client's serving partner now.
    pub partner_id: Option<ID>,
}
