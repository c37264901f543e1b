//! Deal protection, promo codes and binding quotes: `stopList`, `promoCodes`, `bindingQuote`,
//! `requestStopListLock`, `decideStopListLock`, `extendStopListLock`, `createPromoCode`, `applyPromoCode`.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{promo_code, stop_list_entry};

use super::context::{Conn, GqlResult, audit_target, connection, input_id, page_args, resource_id, scope, state};
use super::enums::{BindingSource, BonusType, PromoKind, StopListStatus};
use super::loaders::{self, PromoUses};
use super::scalars::Decimal;
use super::types::Subscriber;
use crate::domain::promo::{self, PromoKind as PromoKindStored};
use crate::domain::stoplist::{LockExtension, status_at};
use crate::error::AppError;
use crate::service::promos::{self, NewPromo};
use crate::service::{bindings, stoplist, subscribers};

fn id(u: uuid::Uuid) -> ID {
    ID(u.to_string())
}

/// A partner's request to lock a prospective client by INN, and the vendor's decision.
pub struct StopListEntry(pub stop_list_entry::Model);

#[Object]
impl StopListEntry {
    async fn id(&self) -> ID {
        id(self.0.id)
    }
    async fn inn(&self) -> &str {
        &self.0.inn
    }
    async fn partner(&self, ctx: &Context<'_>) -> GqlResult<Subscriber> {
        Subscriber::load(ctx, self.0.partner_id).await
    }
    /// An approved lock past its end reads `EXPIRED`.
    async fn status(&self, ctx: &Context<'_>) -> StopListStatus {
        status_at(self.0.status, self.0.expires_at, state(ctx).clock.now()).into()
    }
    /// The partner's note with the request.
    async fn comment(&self) -> Option<&str> {
        self.0.comment.as_deref()
    }
    /// The vendor's reason with the decision.
    async fn reason(&self) -> Option<&str> {
        self.0.reason.as_deref()
    }
    async fn requested_at(&self) -> DateTime<Utc> {
        self.0.requested_at
    }
    async fn decided_at(&self) -> Option<DateTime<Utc>> {
        self.0.decided_at
    }
    /// Three calendar months from approval (end of month clamps), later if extended.
    async fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.0.expires_at
    }
}

/// A promo code a partner issued.
pub struct PromoCode(pub promo_code::Model);

#[Object]
impl PromoCode {
    async fn id(&self) -> ID {
        id(self.0.id)
    }
    /// What the client types.
    async fn code(&self) -> &str {
        &self.0.code
    }
    async fn kind(&self) -> PromoKind {
        self.0.kind.into()
    }
    async fn bonus(&self) -> Option<BonusType> {
        self.0.bonus.map(Into::into)
    }
    /// How long a bonus lasts.
    async fn months(&self) -> Option<i32> {
        self.0.months
    }
    /// A discount code's fixed percent; null: by the period paid (3/6/12 months → 5/10/15 %).
    async fn discount_percent(&self) -> Option<Decimal> {
        self.0.discount_bp.map(Decimal::percent)
    }
    /// The client a discount code is personal to.
    async fn client(&self, ctx: &Context<'_>) -> GqlResult<Option<Subscriber>> {
        match self.0.client_id {
            Some(c) => Ok(Some(Subscriber::load(ctx, c).await?)),
            None => Ok(None),
        }
    }
    /// How many clients used it.
    async fn uses(&self, ctx: &Context<'_>) -> GqlResult<i32> {
        let uses = loaders::required(ctx, PromoUses(self.0.id)).await?;
        Ok(i32::try_from(uses).unwrap_or(i32::MAX))
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// What applying a bonus code did.
#[derive(SimpleObject)]
pub struct PromoApplication {
    pub bonus_granted: bool,
    /// Whether the client was bound to the code's partner (only when no partner held it).
    pub bound: bool,
    pub serving_partner: Option<Subscriber>,
}

/// Would an action bind the client, and why.
#[derive(SimpleObject)]
pub struct BindingQuote {
    pub binds: bool,
    pub explanation: String,
}

/// A promo code to issue.
#[derive(InputObject)]
pub struct PromoCodeInput {
    /// The program whose statuses gate bonus codes.
    pub program_code: String,
    pub kind: PromoKind,
    /// Bonus codes: what they give.
    pub bonus: Option<BonusType>,
    /// Bonus codes: 6 or 12 months.
    pub months: Option<i32>,
    /// Discount codes: a fixed percent; default by the period paid.
    pub discount_percent: Option<Decimal>,
    /// Discount codes: the client it is personal to.
    pub client_id: Option<ID>,
}

/// Each kind keeps only its own numbers, in range: a bonus code's months (6 or 12), a discount code's
/// fixed percent (0.01 to 50.00); the other kind's are ignored, as they always were.
impl TryFrom<PromoCodeInput> for NewPromo {
    type Error = AppError;

    fn try_from(input: PromoCodeInput) -> Result<Self, AppError> {
        let kind: PromoKindStored = input.kind.into();
        let discount = input.discount_percent.map(|d| d.to_rate("discountPercent")).transpose()?;
        let client = input.client_id.as_ref().map(|c| input_id(c, "clientId")).transpose()?;
        let (months, discount) = match kind {
            PromoKindStored::Bonus => (input.months.map(promo::bonus_months).transpose(), Ok(None)),
            PromoKindStored::Discount => (Ok(None), discount.map(promo::fixed_discount).transpose()),
        };
        Ok(NewPromo {
            program_code: input.program_code,
            kind,
            bonus: input.bonus.map(Into::into),
            months: months.map_err(AppError::input("months"))?,
            discount: discount.map_err(AppError::input("discountPercent"))?,
            client,
        })
    }
}

#[derive(Default)]
pub struct BindingQuery;

#[Object]
impl BindingQuery {
    /// The stop-list: the vendor's all, a partner's own requests and locks.
    #[graphql(complexity = "first.unwrap_or(20).max(0) as usize * child_complexity")]
    async fn stop_list(
        &self,
        ctx: &Context<'_>,
        inn: Option<String>,
        status: Option<StopListStatus>,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<Conn<StopListEntry>> {
        let p = scope(ctx)?;
        let args = page_args(ctx, first, after)?;
        let page = stoplist::list(state(ctx), p, inn.as_deref(), status.map(Into::into), args).await?;
        Ok(connection(page, args.after.is_some(), |m| m.id, StopListEntry))
    }

    /// Promo codes: the vendor's all, a partner's own.
    #[graphql(complexity = "first.unwrap_or(20).max(0) as usize * child_complexity")]
    async fn promo_codes(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<Conn<PromoCode>> {
        let p = scope(ctx)?;
        let args = page_args(ctx, first, after)?;
        let page = promos::list(state(ctx), p, args).await?;
        Ok(connection(page, args.after.is_some(), |m| m.id, PromoCode))
    }

    /// Would this way of binding bind the client to this partner, and why. A partner asks about itself.
    async fn binding_quote(
        &self,
        ctx: &Context<'_>,
        client_id: ID,
        source: BindingSource,
        partner_id: ID,
    ) -> GqlResult<BindingQuote> {
        let p = scope(ctx)?;
        let (decision, explanation) =
            bindings::quote(state(ctx), p, resource_id(&client_id)?, source.into(), resource_id(&partner_id)?).await?;
        Ok(BindingQuote { binds: decision.changes(), explanation })
    }
}

#[derive(Default)]
pub struct BindingMutation;

#[Object]
impl BindingMutation {
    /// A partner asks to lock a prospective client by INN. A request for an INN another partner holds is
    /// `CONFLICT` and says no more.
    async fn request_stop_list_lock(
        &self,
        ctx: &Context<'_>,
        inn: String,
        comment: Option<String>,
    ) -> GqlResult<StopListEntry> {
        let p = scope(ctx)?;
        let e = stoplist::request(state(ctx), p, &inn, comment.as_deref()).await?;
        audit_target(ctx, e.id);
        Ok(StopListEntry(e))
    }

    /// The vendor approves (3 calendar months from now) or rejects with a reason.
    async fn decide_stop_list_lock(
        &self,
        ctx: &Context<'_>,
        id: ID,
        approve: bool,
        reason: Option<String>,
    ) -> GqlResult<StopListEntry> {
        let p = scope(ctx)?;
        let e = stoplist::decide(state(ctx), p, resource_id(&id)?, approve, reason.as_deref()).await?;
        audit_target(ctx, e.id);
        Ok(StopListEntry(e))
    }

    /// The vendor extends an active lock, counting from its current expiry.
    async fn extend_stop_list_lock(
        &self,
        ctx: &Context<'_>,
        id: ID,
        #[graphql(default = 3)] months: i32,
    ) -> GqlResult<StopListEntry> {
        let p = scope(ctx)?;
        let id = resource_id(&id)?;
        let months = LockExtension::try_from(months).map_err(AppError::input("months"))?;
        let e = stoplist::extend(state(ctx), p, id, months).await?;
        audit_target(ctx, e.id);
        Ok(StopListEntry(e))
    }

    /// A partner issues a bonus code (from the program's minimum status up) or a personal discount code.
    async fn create_promo_code(&self, ctx: &Context<'_>, input: PromoCodeInput) -> GqlResult<PromoCode> {
        let p = scope(ctx)?;
        let promo = promos::create(state(ctx), p, input.try_into()?).await?;
        audit_target(ctx, promo.id);
        Ok(PromoCode(promo))
    }

    /// The vendor's staff bind a client to a partner, move it to another, or unbind it (`partnerId`
    /// null), with a reason: source `VENDOR_ASSIGNED`. The way to serve a client in `unboundClients`.
    async fn assign_client(
        &self,
        ctx: &Context<'_>,
        client_id: ID,
        partner_id: Option<ID>,
        reason: String,
    ) -> GqlResult<Subscriber> {
        let p = scope(ctx)?;
        let client = resource_id(&client_id)?;
        audit_target(ctx, client);
        let partner = partner_id.as_ref().map(|id| input_id(id, "partnerId")).transpose()?;
        let c = bindings::assign(state(ctx), p, client, partner, &reason).await?;
        Ok(Subscriber::in_ctx(ctx, c))
    }

    /// A client's admin or owner applies a bonus code: one bonus per client ever; binds the client to the
    /// code's partner when no partner holds it.
    async fn apply_promo_code(&self, ctx: &Context<'_>, code: String) -> GqlResult<PromoApplication> {
        let p = scope(ctx)?;
        let applied = promos::apply(state(ctx), p, &code).await?;
        audit_target(ctx, applied.client.id);
        let serving_partner = match applied.client.serving_partner_id {
            Some(sp) => Some(Subscriber::in_ctx(ctx, subscribers::load(&state(ctx).db, sp).await?)),
            None => None,
        };
        Ok(PromoApplication { bonus_granted: true, bound: applied.bound, serving_partner })
    }
}
