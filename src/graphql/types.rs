//! Output types shared by several capabilities. Entity models are wrapped, never exposed as they are.

use async_graphql::{Context, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{audit_entry, binding_change, invitation, membership, partner_profile, subscriber, user};

use super::context::{Conn, GqlResult, connection, page_args, principal, state};
use super::loaders::{self, ProfileOf, SubscriberId, SubscriptionsOf, UserId};
use crate::domain::{BindingSource, InvitationStatus, Role, SubscriberKind};
use crate::error::AppError;
use crate::service::{members, subscribers};

/// An enumerated column read back into its type; a value the code does not know is an internal error.
pub(crate) fn parse<T: std::str::FromStr<Err = String>>(raw: &str) -> Result<T, AppError> {
    raw.parse().map_err(AppError::Internal)
}

/// An account in the service: a client, a partner or the vendor.
pub struct Subscriber(pub subscriber::Model);

impl Subscriber {
    /// A client outside the caller's reach (named by id on another partner's invoice or promo code) shows
    /// its id and name only. Partners' cards are public (the partner directory shows them).
    fn card_visible(&self, ctx: &Context<'_>) -> bool {
        match principal(ctx) {
            Ok(p) => {
                self.0.kind != "CLIENT"
                    || subscribers::reach(p, &self.0).is_some()
                    // The partner that is the client's support line reads its card.
                    || (p.serves_clients() && self.0.support_partner_id == Some(p.subscriber_id))
                    || self.signed_in_here(ctx)
            }
            Err(_) => self.signed_in_here(ctx),
        }
    }

    /// An anonymous caller (the public partner directory) reads only id, name, e-mail, phone and
    /// address; the payload of a public sign-in shows the signed-in subscriber in full.
    fn signed_in_here(&self, ctx: &Context<'_>) -> bool {
        super::context::signed_in_subscriber(ctx) == Some(self.0.id)
    }

    fn require_caller(&self, ctx: &Context<'_>) -> Result<(), AppError> {
        if principal(ctx).is_ok() || self.signed_in_here(ctx) {
            Ok(())
        } else {
            Err(AppError::unauthenticated("LOGIN_REQUIRED", "this field needs a token"))
        }
    }

    /// Whether the caller works with this client: reach (not merely its support line).
    fn in_reach(&self, ctx: &Context<'_>) -> bool {
        principal(ctx).is_ok_and(|p| subscribers::reach(p, &self.0).is_some())
    }
}

#[Object]
impl Subscriber {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// Client, partner or vendor.
    async fn kind(&self, ctx: &Context<'_>) -> GqlResult<SubscriberKind> {
        self.require_caller(ctx)?;
        Ok(parse(&self.0.kind)?)
    }
    /// The name on the card.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// Taxpayer number (ИНН): 10 or 12 digits.
    async fn inn(&self, ctx: &Context<'_>) -> Option<&str> {
        self.0.inn.as_deref().filter(|_| self.card_visible(ctx))
    }
    /// Tax registration reason code (КПП): 9 characters.
    async fn kpp(&self, ctx: &Context<'_>) -> Option<&str> {
        self.0.kpp.as_deref().filter(|_| self.card_visible(ctx))
    }
    async fn email(&self, ctx: &Context<'_>) -> Option<&str> {
        self.0.email.as_deref().filter(|_| self.public_or_visible(ctx))
    }
    async fn phone(&self, ctx: &Context<'_>) -> Option<&str> {
        self.0.phone.as_deref().filter(|_| self.public_or_visible(ctx))
    }
    async fn address(&self, ctx: &Context<'_>) -> Option<&str> {
        self.0.address.as_deref().filter(|_| self.public_or_visible(ctx))
    }
    async fn contact_person(&self, ctx: &Context<'_>) -> Option<&str> {
        self.0.contact_person.as_deref().filter(|_| self.card_visible(ctx))
    }
    async fn created_at(&self, ctx: &Context<'_>) -> GqlResult<DateTime<Utc>> {
        self.require_caller(ctx)?;
        Ok(self.0.created_at)
    }
    /// Clients: the partner the client is bound to, or null.
    async fn serving_partner(&self, ctx: &Context<'_>) -> GqlResult<Option<Subscriber>> {
        if !self.card_visible(ctx) {
            return Ok(None);
        }
        match self.0.serving_partner_id {
            Some(id) => Ok(Some(Subscriber(loaders::required(ctx, SubscriberId(id)).await?))),
            None => Ok(None),
        }
    }
    /// Clients: how the client got bound to its serving partner, or null.
    async fn binding_source(&self, ctx: &Context<'_>) -> GqlResult<Option<BindingSource>> {
        if !self.card_visible(ctx) {
            return Ok(None);
        }
        Ok(self.0.binding_source.as_deref().map(parse).transpose()?)
    }
    /// Clients: every change of serving partner, oldest first; the first binding is a change from null.
    async fn binding_history(&self, ctx: &Context<'_>) -> GqlResult<Vec<BindingChange>> {
        if !self.card_visible(ctx) {
            return Ok(Vec::new());
        }
        Ok(subscribers::binding_history(&state(ctx).db, self.0.id).await?.into_iter().map(BindingChange).collect())
    }
    /// The subscriber's members (for its administrators, owners and operators, the serving partner and the vendor).
    #[graphql(complexity = "first.unwrap_or(20).max(0) as usize * child_complexity")]
    async fn members(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<Conn<Membership>> {
        let p = principal(ctx)?;
        let r = subscribers::reach(p, &self.0).ok_or(AppError::NotFound)?;
        let args = page_args(ctx, first, after)?;
        let page = members::list(&state(ctx).db, p, &self.0, r, args).await?;
        Ok(connection(page, args.after.is_some(), |m| m.id, Membership))
    }
    /// The subscriber's subscriptions, oldest first (empty for subscribers outside the caller's reach,
    /// such as a client's view of its partner).
    async fn subscriptions(&self, ctx: &Context<'_>) -> GqlResult<Vec<super::commerce_types::SubscriptionNode>> {
        let p = principal(ctx)?;
        if subscribers::reach(p, &self.0).is_none() {
            return Ok(Vec::new());
        }
        let subs = loaders::required(ctx, SubscriptionsOf(self.0.id)).await?;
        Ok(subs.into_iter().map(super::commerce_types::SubscriptionNode).collect())
    }
    /// Partners: the partner profile.
    async fn partner_profile(&self, ctx: &Context<'_>) -> GqlResult<Option<PartnerProfile>> {
        if self.0.kind != "PARTNER" || !self.card_visible(ctx) {
            return Ok(None);
        }
        Ok(loaders::one(ctx, ProfileOf(self.0.id)).await?.map(PartnerProfile))
    }
    /// Clients: the needs assessment (for the serving partner, the client itself and the vendor).
    async fn needs_assessment(&self, ctx: &Context<'_>) -> GqlResult<Option<super::work::NeedsAssessment>> {
        if self.0.kind != "CLIENT" || !self.in_reach(ctx) {
            return Ok(None);
        }
        Ok(crate::service::client_work::needs_of(&state(ctx).db, self.0.id).await?.map(super::work::NeedsAssessment))
    }
    /// Clients: why the client left, oldest first (for the serving partner, the client and the vendor).
    async fn churn_reasons(&self, ctx: &Context<'_>) -> GqlResult<Vec<super::work::ChurnRecord>> {
        if self.0.kind != "CLIENT" || !self.in_reach(ctx) {
            return Ok(Vec::new());
        }
        let rows = crate::service::client_work::churn_of(&state(ctx).db, self.0.id).await?;
        Ok(rows.into_iter().map(super::work::ChurnRecord).collect())
    }
    /// Clients: the partner that is the client's support line (by an activated support code), or null.
    async fn support_partner(&self, ctx: &Context<'_>) -> GqlResult<Option<Subscriber>> {
        if !self.card_visible(ctx) {
            return Ok(None);
        }
        load_opt(ctx, self.0.support_partner_id).await
    }
}

impl Subscriber {
    /// Partners' e-mail, phone and address are public (the directory); a client's follow the card rule.
    fn public_or_visible(&self, ctx: &Context<'_>) -> bool {
        self.0.kind == "PARTNER" || self.card_visible(ctx)
    }
}

/// A partner's profile in the partner program.
pub struct PartnerProfile(pub partner_profile::Model);

#[Object]
impl PartnerProfile {
    /// The code a client gives at self-registration to be bound to this partner.
    async fn referral_code(&self) -> &str {
        &self.0.referral_code
    }
    /// Connected to the vendor's service desk (a lead-pool condition).
    async fn service_desk_connected(&self) -> bool {
        self.0.service_desk_connected
    }
    /// Has consultants for all published applications (a lead-pool condition).
    async fn has_consultants(&self) -> bool {
        self.0.has_consultants
    }
    /// Has customisation specialists (a lead-pool condition).
    async fn has_customization_specialists(&self) -> bool {
        self.0.has_customization_specialists
    }
    /// The partner contract runs until this date.
    async fn contract_until(&self) -> Option<super::scalars::Date> {
        self.0.contract_until.map(super::scalars::Date)
    }
    /// The partner's status in each program it takes part in.
    async fn statuses(&self, ctx: &Context<'_>) -> GqlResult<Vec<super::commerce_types::PartnerStatus>> {
        let rows = crate::service::programs::partner_statuses(&state(ctx).db, self.0.subscriber_id).await?;
        Ok(rows.into_iter().map(super::commerce_types::PartnerStatus).collect())
    }
}

/// One change of a client's serving partner.
pub struct BindingChange(pub binding_change::Model);

#[Object]
impl BindingChange {
    /// The partner before the change, or null.
    async fn from(&self, ctx: &Context<'_>) -> GqlResult<Option<Subscriber>> {
        load_opt(ctx, self.0.from_partner_id).await
    }
    /// The partner after the change, or null.
    async fn to(&self, ctx: &Context<'_>) -> GqlResult<Option<Subscriber>> {
        load_opt(ctx, self.0.to_partner_id).await
    }
    async fn source(&self) -> GqlResult<BindingSource> {
        Ok(parse(&self.0.source)?)
    }
    async fn at(&self) -> DateTime<Utc> {
        self.0.at
    }
}

async fn load_opt(ctx: &Context<'_>, id: Option<uuid::Uuid>) -> GqlResult<Option<Subscriber>> {
    match id {
        Some(id) => Ok(Some(Subscriber(loaders::required(ctx, SubscriberId(id)).await?))),
        None => Ok(None),
    }
}

/// A person who can sign in.
pub struct User(pub user::Model);

#[Object]
impl User {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn email(&self) -> &str {
        &self.0.email
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// A deactivated user cannot sign in, and its tokens stop working at once.
    async fn active(&self) -> bool {
        self.0.active
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// A user's place in a subscriber, with its role.
pub struct Membership(pub membership::Model);

#[Object]
impl Membership {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn user(&self, ctx: &Context<'_>) -> GqlResult<User> {
        Ok(User(loaders::required(ctx, UserId(self.0.user_id)).await?))
    }
    async fn subscriber(&self, ctx: &Context<'_>) -> GqlResult<Subscriber> {
        Ok(Subscriber(loaders::required(ctx, SubscriberId(self.0.subscriber_id)).await?))
    }
    async fn role(&self) -> GqlResult<Role> {
        Ok(parse(&self.0.role)?)
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// Who is calling: the user, the subscriber it acts in, its role there, and all its memberships.
pub struct Viewer {
    pub user_id: uuid::Uuid,
    pub subscriber_id: uuid::Uuid,
    pub role: Role,
    /// Already loaded (a sign-in has them at hand); otherwise read when asked for.
    pub user: Option<user::Model>,
    pub subscriber: Option<subscriber::Model>,
}

/// Who is calling: the user, the subscriber it acts in, its role there, and all its memberships.
#[Object]
impl Viewer {
    async fn user(&self, ctx: &Context<'_>) -> GqlResult<User> {
        match &self.user {
            Some(u) => Ok(User(u.clone())),
            None => Ok(User(loaders::required(ctx, UserId(self.user_id)).await?)),
        }
    }
    async fn subscriber(&self, ctx: &Context<'_>) -> GqlResult<Subscriber> {
        match &self.subscriber {
            Some(s) => Ok(Subscriber(s.clone())),
            None => Ok(Subscriber(loaders::required(ctx, SubscriberId(self.subscriber_id)).await?)),
        }
    }
    async fn role(&self) -> Role {
        self.role
    }
    /// Every subscriber this user belongs to (log in with `subscriberId` to act in another).
    async fn memberships(&self, ctx: &Context<'_>) -> GqlResult<Vec<Membership>> {
        Ok(members::of_user(&state(ctx).db, self.user_id).await?.into_iter().map(Membership).collect())
    }
}

/// A signed-in session.
#[derive(SimpleObject)]
pub struct AuthPayload {
    /// Bearer token for the `Authorization` header.
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub viewer: Viewer,
}

/// An invitation to join a subscriber with a role.
pub struct Invitation(pub invitation::Model);

#[Object]
impl Invitation {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn email(&self) -> &str {
        &self.0.email
    }
    async fn role(&self) -> GqlResult<Role> {
        Ok(parse(&self.0.role)?)
    }
    async fn subscriber(&self, ctx: &Context<'_>) -> GqlResult<Subscriber> {
        Ok(Subscriber(loaders::required(ctx, SubscriberId(self.0.subscriber_id)).await?))
    }
    /// Pending, accepted, revoked, or expired (follows from the date).
    async fn status(&self, ctx: &Context<'_>) -> InvitationStatus {
        InvitationStatus::at(&self.0.status, self.0.expires_at, state(ctx).clock.now())
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn expires_at(&self) -> DateTime<Utc> {
        self.0.expires_at
    }
    /// How many times it was sent (1 + resends).
    async fn sent_count(&self) -> i32 {
        self.0.sent_count
    }
    async fn accepted_at(&self) -> Option<DateTime<Utc>> {
        self.0.accepted_at
    }
    /// Whole days since the invitation was created.
    async fn age_days(&self, ctx: &Context<'_>) -> i64 {
        (state(ctx).clock.now() - self.0.created_at).num_days().max(0)
    }
}

/// An invitation and its raw token, shown only this once.
#[derive(SimpleObject)]
pub struct InvitationPayload {
    pub invitation: Invitation,
    /// The token to hand to the invitee; it is stored only as a hash and cannot be shown again.
    pub token: String,
}

/// A new subscriber and the invitation for its owner.
#[derive(SimpleObject)]
pub struct RegisterPayload {
    pub subscriber: Subscriber,
    pub invitation: Invitation,
    /// The owner's invitation token, shown only this once.
    pub token: String,
}

/// One audited mutation.
pub struct AuditEntry(pub audit_entry::Model);

#[Object]
impl AuditEntry {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn at(&self) -> DateTime<Utc> {
        self.0.at
    }
    /// Who acted, or null for an anonymous caller.
    async fn actor(&self, ctx: &Context<'_>) -> GqlResult<Option<User>> {
        match self.0.actor_user_id {
            Some(id) => Ok(loaders::one(ctx, UserId(id)).await?.map(User)),
            None => Ok(None),
        }
    }
    async fn role(&self) -> GqlResult<Option<Role>> {
        Ok(self.0.role.as_deref().map(parse).transpose()?)
    }
    /// The subscriber the actor acted in.
    async fn subscriber(&self, ctx: &Context<'_>) -> GqlResult<Option<Subscriber>> {
        load_opt(ctx, self.0.subscriber_id).await
    }
    /// The mutation's name.
    async fn operation(&self) -> &str {
        &self.0.operation
    }
    /// The id of what the mutation created or changed, when it did.
    async fn target_id(&self) -> Option<ID> {
        self.0.target_id.map(|t| ID(t.to_string()))
    }
    /// `OK`, or the error code the caller received.
    async fn outcome(&self) -> &str {
        &self.0.outcome
    }
}
