//! Programs, tariffs, subscriptions, invoices, payments and the commission ledger.

use async_graphql::{Context, ID, Object};
use chrono::{DateTime, Utc};

use super::commerce_inputs::{CommissionRuleInput, InvoiceInput, PaymentInput, TariffInput, quote_request};
use super::commerce_types::{
    Commission, CommissionQuote, CommissionRule, CommissionSummary, Invoice, Payment, Program, SubscriptionNode, Tariff,
};
use super::context::{Conn, GqlResult, audit_target, connection, input_id, page_args, resource_id, scope, state};
use super::enums::{ChurnReason, CommissionStatus, SubscriptionBasis};
use super::loaders::{self, RuleId};
use super::scalars::Decimal;
use super::types::Subscriber;
use crate::service::billing;
use crate::service::ledger;
use crate::service::programs;
use crate::service::tariffs;

#[derive(Default)]
pub struct CommerceQuery;

#[Object]
impl CommerceQuery {
    /// The programs with their statuses, categories and rules.
    async fn programs(&self, ctx: &Context<'_>) -> GqlResult<Vec<Program>> {
        scope(ctx)?;
        Ok(programs::all(&state(ctx).db).await?.into_iter().map(Program).collect())
    }

    /// The tariff catalogue (partner-only tariffs for partners and the vendor).
    async fn tariffs(
        &self,
        ctx: &Context<'_>,
        program_code: Option<String>,
        #[graphql(default = false)] include_archived: bool,
    ) -> GqlResult<Vec<Tariff>> {
        let p = scope(ctx)?;
        Ok(tariffs::list(state(ctx), p, program_code.as_deref(), include_archived)
            .await?
            .into_iter()
            .map(Tariff)
            .collect())
    }

    /// Payments: the vendor's all, a partner's clients', a client's own (admins and owners); by
    /// subscriber, and by the billing system's `externalId` (the payment with it, if the caller sees it).
    #[graphql(complexity = "first.unwrap_or(20).max(0) as usize * child_complexity")]
    async fn payments(
        &self,
        ctx: &Context<'_>,
        subscriber_id: Option<ID>,
        external_id: Option<String>,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<Conn<Payment>> {
        let p = scope(ctx)?;
        let args = page_args(ctx, first, after)?;
        let sid = subscriber_id.as_ref().map(resource_id).transpose()?;
        let ext = external_id.map(|e| billing::check_external_id(&e, "externalId")).transpose()?;
        let page = billing::list_payments(state(ctx), p, sid, ext.as_deref(), args).await?;
        Ok(connection(page, args.after.is_some(), |m| m.id, Payment))
    }

    /// Invoices: the vendor's all, a partner's own, a client's own (admins and owners).
    #[graphql(complexity = "first.unwrap_or(20).max(0) as usize * child_complexity")]
    async fn invoices(
        &self,
        ctx: &Context<'_>,
        client_id: Option<ID>,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<Conn<Invoice>> {
        let p = scope(ctx)?;
        let args = page_args(ctx, first, after)?;
        let cid = client_id.as_ref().map(resource_id).transpose()?;
        let page = billing::list_invoices(state(ctx), p, cid, args).await?;
        Ok(connection(page, args.after.is_some(), |m| m.id, Invoice))
    }

    /// Ledger entries (a partner's owner: its own; the vendor: any partner's or all), by status and by
    /// accrual time in [from, to).
    #[graphql(complexity = "first.unwrap_or(20).max(0) as usize * child_complexity")]
    #[allow(clippy::too_many_arguments)]
    async fn commissions(
        &self,
        ctx: &Context<'_>,
        partner_id: Option<ID>,
        status: Option<CommissionStatus>,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<Conn<Commission>> {
        let p = scope(ctx)?;
        let args = page_args(ctx, first, after)?;
        let partner = partner_id.as_ref().map(resource_id).transpose()?;
        let page = ledger::list(state(ctx), p, partner, status.map(Into::into), from, to, args).await?;
        Ok(connection(page, args.after.is_some(), |m| m.id, Commission))
    }

    /// Ledger sums by status for accrual time in [from, to).
    async fn commission_summary(
        &self,
        ctx: &Context<'_>,
        partner_id: Option<ID>,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> GqlResult<CommissionSummary> {
        let p = scope(ctx)?;
        let partner = partner_id.as_ref().map(resource_id).transpose()?;
        Ok(ledger::summary(state(ctx), p, partner, from, to).await?.into())
    }

    /// What a payment would earn for the client's serving partner now, which rule gives it and why.
    /// Writes nothing.
    async fn commission_quote(
        &self,
        ctx: &Context<'_>,
        subscriber_id: ID,
        tariff_id: ID,
        period_months: i32,
        amount: Decimal,
    ) -> GqlResult<CommissionQuote> {
        let p = scope(ctx)?;
        let q = quote_request(&subscriber_id, &tariff_id, period_months, &amount)?;
        let a = ledger::quote(state(ctx), p, q).await?;
        let rule = match &a.rule {
            Some(r) => loaders::one(ctx, RuleId(r.id)).await?.map(CommissionRule),
            None => None,
        };
        Ok(CommissionQuote {
            rate: Decimal::percent(a.rate_bp),
            amount: Decimal::money(a.amount_minor),
            rule,
            explanation: a.explanation,
            partner_id: a.partner.map(|p| ID(p.to_string())),
        })
    }
}

#[derive(Default)]
pub struct CommerceMutation;

#[Object]
impl CommerceMutation {
    /// The vendor sets a partner's status in a program.
    async fn set_partner_status(
        &self,
        ctx: &Context<'_>,
        partner_id: ID,
        program_code: String,
        status: String,
    ) -> GqlResult<Subscriber> {
        let p = scope(ctx)?;
        let s = programs::set_partner_status(state(ctx), p, resource_id(&partner_id)?, &program_code, &status).await?;
        audit_target(ctx, s.id);
        Ok(Subscriber::in_ctx(ctx, s))
    }

    /// The vendor sets a commission rule (replacing the one in force with the same key).
    async fn set_commission_rule(&self, ctx: &Context<'_>, input: CommissionRuleInput) -> GqlResult<CommissionRule> {
        let p = scope(ctx)?;
        let r = programs::set_rule(state(ctx), p, input.try_into()?).await?;
        audit_target(ctx, r.id);
        Ok(CommissionRule(r))
    }

    /// The vendor deletes a rule in force (entries accrued under it keep it).
    async fn delete_commission_rule(&self, ctx: &Context<'_>, id: ID) -> GqlResult<ID> {
        let p = scope(ctx)?;
        let id = programs::delete_rule(state(ctx), p, resource_id(&id)?).await?;
        audit_target(ctx, id);
        Ok(ID(id.to_string()))
    }

    /// The vendor creates a tariff.
    async fn create_tariff(&self, ctx: &Context<'_>, input: TariffInput) -> GqlResult<Tariff> {
        let p = scope(ctx)?;
        let t = tariffs::create(state(ctx), p, input.try_into()?).await?;
        audit_target(ctx, t.id);
        Ok(Tariff(t))
    }

    /// The vendor archives a tariff: no new trials or invoices; payments are still recorded.
    async fn archive_tariff(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Tariff> {
        let p = scope(ctx)?;
        let t = tariffs::archive(state(ctx), p, resource_id(&id)?).await?;
        audit_target(ctx, t.id);
        Ok(Tariff(t))
    }

    /// Starts a trial (once per subscriber and tariff).
    async fn start_trial(&self, ctx: &Context<'_>, subscriber_id: ID, tariff_id: ID) -> GqlResult<SubscriptionNode> {
        let p = scope(ctx)?;
        let s = billing::start_trial(state(ctx), p, resource_id(&subscriber_id)?, input_id(&tariff_id, "tariffId")?)
            .await?;
        audit_target(ctx, s.id);
        Ok(SubscriptionNode(s))
    }

    /// A subscription without payment: `ITS_PROF` (a client with an ITS PROF contract) or
    /// `PARTNER_FREE` (the free Partner tariff of a partner with an active contract).
    async fn create_subscription(
        &self,
        ctx: &Context<'_>,
        subscriber_id: ID,
        tariff_id: ID,
        basis: SubscriptionBasis,
    ) -> GqlResult<SubscriptionNode> {
        let p = scope(ctx)?;
        let s = billing::create_subscription(
            state(ctx),
            p,
            resource_id(&subscriber_id)?,
            input_id(&tariff_id, "tariffId")?,
            basis.into(),
        )
        .await?;
        audit_target(ctx, s.id);
        Ok(SubscriptionNode(s))
    }

    /// Cancels a subscription; cancelling a trial needs a churn reason.
    async fn cancel_subscription(
        &self,
        ctx: &Context<'_>,
        id: ID,
        reason: Option<ChurnReason>,
        comment: Option<String>,
    ) -> GqlResult<SubscriptionNode> {
        let p = scope(ctx)?;
        let s = billing::cancel(state(ctx), p, resource_id(&id)?, reason.map(Into::into), comment.as_deref()).await?;
        audit_target(ctx, s.id);
        Ok(SubscriptionNode(s))
    }

    /// A partner invoices its client: price × months.
    async fn create_invoice(&self, ctx: &Context<'_>, input: InvoiceInput) -> GqlResult<Invoice> {
        let p = scope(ctx)?;
        let inv = billing::create_invoice(state(ctx), p, input.try_into()?).await?;
        audit_target(ctx, inv.id);
        Ok(Invoice(inv))
    }

    /// The vendor records a payment, idempotently by `externalId`; it activates or extends the
    /// subscription and accrues the bound partner's commission in the same transaction.
    async fn record_payment(&self, ctx: &Context<'_>, input: PaymentInput) -> GqlResult<Payment> {
        let p = scope(ctx)?;
        let pay = billing::record_payment(state(ctx), p, input.try_into()?).await?;
        audit_target(ctx, pay.id);
        Ok(Payment(pay))
    }

    /// The vendor refunds a payment: returns it with `refunded: true`; the ledger gets reversing entries.
    async fn refund_payment(&self, ctx: &Context<'_>, payment_id: ID, external_id: String) -> GqlResult<Payment> {
        let p = scope(ctx)?;
        let pay = billing::refund(state(ctx), p, resource_id(&payment_id)?, &external_id).await?;
        audit_target(ctx, pay.id);
        Ok(Payment(pay))
    }

    /// The vendor approves accrued entries (all or nothing).
    async fn approve_commissions(&self, ctx: &Context<'_>, ids: Vec<ID>) -> GqlResult<Vec<Commission>> {
        let p = scope(ctx)?;
        let ids = ids.iter().map(resource_id).collect::<Result<Vec<_>, _>>()?;
        Ok(ledger::approve(state(ctx), p, &ids).await?.into_iter().map(Commission).collect())
    }

    /// The vendor marks approved entries paid with a payout reference; unsettled reversals may be
    /// included to net them against the payout.
    async fn mark_commissions_paid(
        &self,
        ctx: &Context<'_>,
        ids: Vec<ID>,
        payout_reference: String,
    ) -> GqlResult<Vec<Commission>> {
        let p = scope(ctx)?;
        let ids = ids.iter().map(resource_id).collect::<Result<Vec<_>, _>>()?;
        Ok(ledger::mark_paid(state(ctx), p, &ids, &payout_reference).await?.into_iter().map(Commission).collect())
    }
}
