//! Output types shared by several capabilities. Entity models are wrapped, never exposed as they are.

use async_graphql::{Context, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{audit_entry, binding_change, invitation, membership, partner_profile, subscriber, user};

use super::context::{Conn, GqlResult, connection, page_args, state, viewer};
use super::enums::{BindingSource, InvitationStatus, Role, SubscriberKind};
use super::loaders::{
    self, BindingHistoryOf, ChurnOf, MemberCount, MemberOf, MembersPage, MembershipsOfUser, NeedsOf, PartnerStatusesOf,
    ProfileOf, SubscriberId, SubscriptionsOf, UserId,
};
use crate::auth::{Projection, Reach, Scope};
use crate::domain;
use crate::domain::invitation::status_at;
use crate::service::members;

/// An account in the service: a client, a partner or the vendor.
///
/// Built only through its constructors, which take the caller's [`Projection`] of the row: whatever path
/// reached a subscriber (a query, a binding change, a ranking row, an invoice), the caller sees what its
/// reach allows and no more (docs/rules.md §1–2).
pub struct Subscriber {
    model: subscriber::Model,
    seen: Projection,
}

impl Subscriber {
    /// A subscriber as the caller sees it (an anonymous caller sees id and name).
    pub fn seen_by(viewer: Option<Scope<'_>>, model: subscriber::Model) -> Self {
        let seen = viewer.map_or(Projection::Minimal, |s| s.projection(&model));
        Subscriber { model, seen }
    }

    /// A subscriber as this request's caller sees it.
    pub fn in_ctx(ctx: &Context<'_>, model: subscriber::Model) -> Self {
        Self::seen_by(viewer(ctx), model)
    }

    /// A partner listed in the public directory: its contacts are public, whoever asks.
    pub fn in_directory(ctx: &Context<'_>, model: subscriber::Model) -> Self {
        let mut s = Self::in_ctx(ctx, model);
        s.seen = s.seen.at_least(Projection::Contacts);
        s
    }

    /// The subscriber a public operation of this request (login, self-registration, accepting an
    /// invitation) just signed in to: its caller holds the new token, so it sees the card.
    pub fn signed_in(ctx: &Context<'_>, model: subscriber::Model) -> Self {
        let mut s = Self::in_ctx(ctx, model);
        if super::context::signed_in_subscriber(ctx) == Some(s.model.id) {
            s.seen = s.seen.at_least(Projection::SignedIn);
        }
        s
    }

    /// Loads a subscriber by id (through the request's loader) as the caller sees it.
    pub async fn load(ctx: &Context<'_>, id: uuid::Uuid) -> GqlResult<Self> {
        Ok(Self::in_ctx(ctx, loaders::required(ctx, SubscriberId(id)).await?))
    }

    pub async fn load_opt(ctx: &Context<'_>, id: Option<uuid::Uuid>) -> GqlResult<Option<Self>> {
        match id {
            Some(id) => Ok(Some(Self::load(ctx, id).await?)),
            None => Ok(None),
        }
    }

    /// A partner related to the calling client itself (its serving partner or support line): the client
    /// sees its contacts, so that it can reach it.
    async fn my_partner(&self, ctx: &Context<'_>, id: Option<uuid::Uuid>) -> GqlResult<Option<Self>> {
        let Some(mut partner) = Self::load_opt(ctx, id).await? else {
            return Ok(None);
        };
        partner.seen = Self::related(self.seen, partner.seen);
        Ok(Some(partner))
    }

    /// How a partner related to a subscriber seen as `seen` (its serving partner or support line) is
    /// seen, when reach alone sees it as `partner`: a client sees its own partners' contacts.
    pub(super) fn related(seen: Projection, partner: Projection) -> Projection {
        if seen == Projection::Full(Reach::Own) { partner.at_least(Projection::Contacts) } else { partner }
    }

    /// `updatedAt` as seen: outside the card it reads as `createdAt`.
    pub(super) fn shown_updated_at(seen: Projection, model: &subscriber::Model) -> DateTime<Utc> {
        // The card, not the contacts: a directory partner's or a client's own partner's row also moves
        // with its hidden card fields, profile and statuses.
        if seen.card() { model.updated_at } else { model.created_at }
    }

    /// Whether the caller's work with the subscriber (its subscriptions) shows: empty lists otherwise.
    pub(super) fn shows_work(seen: Projection, signed_in: bool) -> bool {
        seen.works_with().is_some() && signed_in
    }

    fn card<'a>(&self, v: &'a Option<String>) -> Option<&'a str> {
        v.as_deref().filter(|_| self.seen.card())
    }

    fn contact<'a>(&self, v: &'a Option<String>) -> Option<&'a str> {
        v.as_deref().filter(|_| self.seen.contacts())
    }

    fn is(&self, kind: domain::SubscriberKind) -> bool {
        self.model.kind == kind
    }
}

#[Object]
impl Subscriber {
    async fn id(&self) -> super::scalars::Uid {
        super::scalars::Uid(self.model.id)
    }
    /// Client, partner or vendor.
    async fn kind(&self) -> SubscriberKind {
        self.model.kind.into()
    }
    /// The name on the card.
    async fn name(&self) -> &str {
        &self.model.name
    }
    /// Taxpayer number (ИНН): 10 or 12 digits. Null outside the caller's reach.
    async fn inn(&self) -> Option<&str> {
        self.card(&self.model.inn)
    }
    /// Tax registration reason code (КПП): 9 characters. Null outside the caller's reach.
    async fn kpp(&self) -> Option<&str> {
        self.card(&self.model.kpp)
    }
    /// Null outside the caller's reach (public for partners in the directory).
    async fn email(&self) -> Option<&str> {
        self.contact(&self.model.email)
    }
    /// Null outside the caller's reach (public for partners in the directory).
    async fn phone(&self) -> Option<&str> {
        self.contact(&self.model.phone)
    }
    /// Null outside the caller's reach (public for partners in the directory).
    async fn address(&self) -> Option<&str> {
        self.contact(&self.model.address)
    }
    /// Null outside the caller's reach.
    async fn contact_person(&self) -> Option<&str> {
        self.card(&self.model.contact_person)
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.model.created_at
    }
    /// When the subscriber's row last changed (card, binding, support line, partner profile or status):
    /// what `subscribers(updatedSince:)` compares with. Outside the caller's reach it reads as
    /// `createdAt`: the changes of a subscriber one does not see are not shown either.
    async fn updated_at(&self) -> DateTime<Utc> {
        Self::shown_updated_at(self.seen, &self.model)
    }
    /// Clients: the partner the client is bound to, or null (also null outside the caller's reach).
    async fn serving_partner(&self, ctx: &Context<'_>) -> GqlResult<Option<Subscriber>> {
        if !self.seen.card() {
            return Ok(None);
        }
        self.my_partner(ctx, self.model.serving_partner_id).await
    }
    /// Clients: how the client got bound to its serving partner, or null.
    async fn binding_source(&self) -> GqlResult<Option<BindingSource>> {
        if !self.seen.card() {
            return Ok(None);
        }
        Ok(self.model.binding_source.map(Into::into))
    }
    /// Clients: every change of serving partner, oldest first; the first binding is a change from null.
    /// Empty outside the caller's reach.
    async fn binding_history(&self, ctx: &Context<'_>) -> GqlResult<Vec<BindingChange>> {
        if self.seen.works_with().is_none() {
            return Ok(Vec::new());
        }
        Ok(loaders::required(ctx, BindingHistoryOf(self.model.id)).await?.into_iter().map(BindingChange).collect())
    }
    /// The subscriber's members (for its administrators, owners and operators, the serving partner and
    /// the vendor; empty outside the caller's reach).
    #[graphql(complexity = "first.unwrap_or(20).max(0) as usize * child_complexity")]
    async fn members(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<Conn<Membership>> {
        let args = page_args(ctx, first, after)?;
        let (Some(r), Some(p)) = (self.seen.works_with(), viewer(ctx)) else {
            return Ok(connection(crate::service::Page::empty(), args.after.is_some(), |m| m.id, Membership));
        };
        p.require(members::may_list(p, r), "list members")?;
        let key = MembersPage { subscriber: self.model.id, first: args.first, after: args.after };
        let rows = loaders::required(ctx, key).await?;
        let total = if args.count_total { loaders::required(ctx, MemberCount(self.model.id)).await? } else { 0 };
        let page = crate::service::Page::from_overfetch(rows, args.first, total);
        Ok(connection(page, args.after.is_some(), |m| m.id, Membership))
    }
    /// The subscriber's subscriptions, oldest first (empty outside the caller's reach).
    async fn subscriptions(&self, ctx: &Context<'_>) -> GqlResult<Vec<super::commerce_types::SubscriptionNode>> {
        if !Self::shows_work(self.seen, viewer(ctx).is_some()) {
            return Ok(Vec::new());
        }
        let subs = loaders::required(ctx, SubscriptionsOf(self.model.id)).await?;
        Ok(subs.into_iter().map(super::commerce_types::SubscriptionNode).collect())
    }
    /// Partners: the partner profile (null outside the caller's reach).
    async fn partner_profile(&self, ctx: &Context<'_>) -> GqlResult<Option<PartnerProfile>> {
        if !self.is(domain::SubscriberKind::Partner) || !self.seen.card() {
            return Ok(None);
        }
        Ok(loaders::one(ctx, ProfileOf(self.model.id)).await?.map(PartnerProfile))
    }
    /// Clients: the needs assessment (for the serving partner, the client itself and the vendor).
    async fn needs_assessment(&self, ctx: &Context<'_>) -> GqlResult<Option<super::work::NeedsAssessment>> {
        if !self.is(domain::SubscriberKind::Client) || self.seen.works_with().is_none() {
            return Ok(None);
        }
        Ok(loaders::one(ctx, NeedsOf(self.model.id)).await?.map(super::work::NeedsAssessment))
    }
    /// Clients: why the client left, oldest first (for the serving partner, the client and the vendor).
    async fn churn_reasons(&self, ctx: &Context<'_>) -> GqlResult<Vec<super::work::ChurnRecord>> {
        if !self.is(domain::SubscriberKind::Client) || self.seen.works_with().is_none() {
            return Ok(Vec::new());
        }
        Ok(loaders::required(ctx, ChurnOf(self.model.id)).await?.into_iter().map(super::work::ChurnRecord).collect())
    }
    /// Clients: the partner that is the client's support line (by an activated support code), or null.
    async fn support_partner(&self, ctx: &Context<'_>) -> GqlResult<Option<Subscriber>> {
        if !self.seen.card() {
            return Ok(None);
        }
        self.my_partner(ctx, self.model.support_partner_id).await
    }
}

/// A partner's profile in the partner program.
pub struct PartnerProfile(pub partner_profile::Model);

#[Object]
impl PartnerProfile {
    /// The partner's id (the profile is one per partner): a stable key for client caches.
    async fn id(&self) -> ID {
        ID(self.0.subscriber_id.to_string())
    }
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
        let rows = loaders::required(ctx, PartnerStatusesOf(self.0.subscriber_id)).await?;
        Ok(rows.into_iter().map(super::commerce_types::PartnerStatus).collect())
    }
}

/// One change of a client's serving partner.
pub struct BindingChange(pub binding_change::Model);

#[Object]
impl BindingChange {
    /// The partner before the change, or null.
    async fn from(&self, ctx: &Context<'_>) -> GqlResult<Option<Subscriber>> {
        Subscriber::load_opt(ctx, self.0.from_partner_id).await
    }
    /// The partner after the change, or null.
    async fn to(&self, ctx: &Context<'_>) -> GqlResult<Option<Subscriber>> {
        Subscriber::load_opt(ctx, self.0.to_partner_id).await
    }
    async fn source(&self) -> BindingSource {
        self.0.source.into()
    }
    async fn at(&self) -> DateTime<Utc> {
        self.0.at
    }
    /// Who made the change: null for automatic ones (a referral, lead distribution, changes recorded
    /// before this was kept), and for a caller who may not see that person (only the vendor, and a
    /// subscriber's administrators, owners and operators for its own members, do).
    async fn by(&self, ctx: &Context<'_>) -> GqlResult<Option<User>> {
        let (Some(user), Some(v)) = (self.0.actor_user_id, viewer(ctx)) else {
            return Ok(None);
        };
        let member_of_own = !v.is_vendor()
            && v.user_id() != Some(user)
            && loaders::one(ctx, MemberOf { user, subscriber: v.subscriber_id }).await?.is_some();
        if !v.sees_user(user, member_of_own) {
            return Ok(None);
        }
        Ok(loaders::one(ctx, UserId(user)).await?.map(User))
    }
    /// Why: the vendor's words for an assignment, a short note of the occasion for the other kinds
    /// (null for changes recorded before reasons were kept).
    async fn reason(&self) -> Option<&str> {
        self.0.reason.as_deref()
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
        Subscriber::load(ctx, self.0.subscriber_id).await
    }
    async fn role(&self) -> Role {
        self.0.role.into()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// Who is calling: the user, the subscriber it acts in, its role there, and all its memberships.
pub struct Viewer {
    /// The membership the caller acts through, or the API key (a client cache's key for the viewer).
    pub id: uuid::Uuid,
    /// The person, or the key's creator.
    pub user_id: uuid::Uuid,
    /// The API key acting, when it is one.
    pub api_key: Option<uuid::Uuid>,
    pub subscriber_id: uuid::Uuid,
    pub role: domain::Role,
    /// Already loaded (a sign-in has them at hand); otherwise read when asked for.
    pub user: Option<user::Model>,
    pub subscriber: Option<subscriber::Model>,
}

/// Who is calling: the user, the subscriber it acts in, its role there, and all its memberships.
#[Object]
impl Viewer {
    /// The membership the caller acts through, or the API key's id: a stable key for client caches
    /// (Apollo, Relay).
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }
    /// The person signed in; for an API key, the person who created it.
    async fn user(&self, ctx: &Context<'_>) -> GqlResult<User> {
        match &self.user {
            Some(u) => Ok(User(u.clone())),
            None => Ok(User(loaders::required(ctx, UserId(self.user_id)).await?)),
        }
    }
    async fn subscriber(&self, ctx: &Context<'_>) -> GqlResult<Subscriber> {
        match &self.subscriber {
            Some(s) => Ok(Subscriber::signed_in(ctx, s.clone())),
            None => Subscriber::load(ctx, self.subscriber_id).await,
        }
    }
    async fn role(&self) -> Role {
        self.role.into()
    }
    /// Every subscriber this user belongs to (log in with `subscriberId` to act in another). Empty for
    /// an API key: it acts in its own subscriber only, and its creator's memberships are not its business.
    async fn memberships(&self, ctx: &Context<'_>) -> GqlResult<Vec<Membership>> {
        if self.api_key.is_some() {
            return Ok(Vec::new());
        }
        Ok(loaders::required(ctx, MembershipsOfUser(self.user_id)).await?.into_iter().map(Membership).collect())
    }
    /// The API key the caller signed in with; null for a person.
    async fn api_key(&self, ctx: &Context<'_>) -> GqlResult<Option<super::api_keys::ApiKey>> {
        match self.api_key {
            Some(id) => Ok(loaders::one(ctx, super::loaders::ApiKeyId(id)).await?.map(super::api_keys::ApiKey)),
            None => Ok(None),
        }
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
    async fn role(&self) -> Role {
        self.0.role.into()
    }
    async fn subscriber(&self, ctx: &Context<'_>) -> GqlResult<Subscriber> {
        Subscriber::load(ctx, self.0.subscriber_id).await
    }
    /// Pending, accepted, revoked, or expired (follows from the date).
    async fn status(&self, ctx: &Context<'_>) -> InvitationStatus {
        status_at(self.0.status, self.0.expires_at, state(ctx).clock.now()).into()
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
    /// The person who acted; null for an anonymous caller and for an API key (see `apiKey`).
    async fn actor(&self, ctx: &Context<'_>) -> GqlResult<Option<User>> {
        match self.0.actor_user_id {
            Some(id) => Ok(loaders::one(ctx, UserId(id)).await?.map(User)),
            None => Ok(None),
        }
    }
    /// The API key that acted, when a key did.
    async fn api_key(&self, ctx: &Context<'_>) -> GqlResult<Option<super::api_keys::ApiKey>> {
        match self.0.actor_api_key_id {
            Some(id) => Ok(loaders::one(ctx, super::loaders::ApiKeyId(id)).await?.map(super::api_keys::ApiKey)),
            None => Ok(None),
        }
    }
    async fn role(&self) -> GqlResult<Option<Role>> {
        Ok(self.0.role.map(Into::into))
    }
    /// The subscriber the actor acted in.
    async fn subscriber(&self, ctx: &Context<'_>) -> GqlResult<Option<Subscriber>> {
        Subscriber::load_opt(ctx, self.0.subscriber_id).await
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
