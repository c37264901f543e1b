//! Subscribers and their members: `subscriber`, `subscribers`, `createPartner`, `registerClient`,
//! `importClient`, `updateSubscriber`, `updatePartnerProfile`, `changeRole`, `removeMember`.

use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object};
use chrono::{DateTime, Utc};

use super::context::{Conn, GqlResult, audit_target, connection, input_id, page_args, resource_id, scope, state};
use super::enums::{Role, SubscriberKind};
use super::types::{Invitation, Membership, RegisterPayload, Subscriber};
use crate::domain::{Email, Inn, Kpp, Name, OptionalText};
use crate::error::AppError;
use crate::service::members;
use crate::service::subscribers::{self, CardPatch, NewCard, Patch, ProfilePatch, Registered};

#[derive(Default)]
pub struct SubscriberQuery;

#[Object]
impl SubscriberQuery {
    /// One subscriber. Anything outside the caller's reach is `NOT_FOUND`, like a missing id.
    async fn subscriber(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Subscriber> {
        let p = scope(ctx)?;
        let (s, _) = p.subscriber(&state(ctx).db, resource_id(&id)?).await?;
        Ok(Subscriber::in_ctx(ctx, s))
    }

    /// The subscribers the caller can see (the vendor: all; a partner's owners and operators: their own
    /// and their clients; everyone else: their own), by kind, a search in name, e-mail or exact inn, and
    /// the time of their last change.
    #[graphql(complexity = "first.unwrap_or(20).max(0) as usize * child_complexity")]
    async fn subscribers(
        &self,
        ctx: &Context<'_>,
        kind: Option<SubscriberKind>,
        search: Option<String>,
        updated_since: Option<DateTime<Utc>>,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<Conn<Subscriber>> {
        let p = scope(ctx)?;
        let args = page_args(ctx, first, after)?;
        let page =
            subscribers::list(state(ctx), p, kind.map(Into::into), search.as_deref(), updated_since, args).await?;
        super::loaders::prime_subscribers(ctx, &page.items).await?;
        Ok(connection(page, args.after.is_some(), |m| m.id, |m| Subscriber::in_ctx(ctx, m)))
    }
}

/// A new partner and its owner's e-mail.
#[derive(InputObject)]
pub struct CreatePartnerInput {
    pub name: String,
    pub inn: Option<String>,
    pub email: Option<String>,
    /// The partner's first owner gets an invitation at this address.
    pub owner_email: String,
    /// Program the partner joins (programs come with the commerce capability).
    pub program_code: Option<String>,
    /// The partner's status in that program.
    pub status: Option<String>,
}

/// A client a partner registers.
#[derive(InputObject)]
pub struct RegisterClientInput {
    pub name: String,
    pub inn: Option<String>,
    pub kpp: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    /// The client's owner gets an invitation at this address.
    pub owner_email: String,
}

/// An existing client the vendor imports, with its existing binding.
#[derive(InputObject)]
pub struct ImportClientInput {
    pub name: String,
    pub inn: Option<String>,
    /// The partner the client is already bound to (binding source `IMPORT`).
    pub partner_id: Option<ID>,
    /// When the client really became a client (commission windows count from it). Default: now.
    pub created_at: Option<DateTime<Utc>>,
}

/// A patch of the card: an omitted field stays as it is, `null` clears an optional field.
#[derive(InputObject)]
pub struct SubscriberCardInput {
    pub name: MaybeUndefined<String>,
    pub inn: MaybeUndefined<String>,
    pub kpp: MaybeUndefined<String>,
    pub email: MaybeUndefined<String>,
    pub phone: MaybeUndefined<String>,
    pub address: MaybeUndefined<String>,
    pub contact_person: MaybeUndefined<String>,
}

/// A patch of the partner profile: omitted fields stay.
#[derive(InputObject)]
pub struct PartnerProfileInput {
    pub service_desk_connected: Option<bool>,
    pub has_consultants: Option<bool>,
    pub has_customization_specialists: Option<bool>,
    /// `null` clears it.
    pub contract_until: MaybeUndefined<super::scalars::Date>,
}

fn opt_inn(raw: Option<&str>) -> Result<Option<Inn>, AppError> {
    raw.map(str::trim).filter(|s| !s.is_empty()).map(Inn::parse).transpose().map_err(AppError::input("inn"))
}

fn opt_kpp(raw: Option<&str>) -> Result<Option<Kpp>, AppError> {
    raw.map(str::trim).filter(|s| !s.is_empty()).map(Kpp::parse).transpose().map_err(AppError::input("kpp"))
}

fn opt_email(raw: Option<&str>, field: &str) -> Result<Option<Email>, AppError> {
    raw.map(str::trim).filter(|s| !s.is_empty()).map(Email::parse).transpose().map_err(AppError::input(field))
}

fn text(raw: Option<&str>, field: &str) -> Result<Option<String>, AppError> {
    OptionalText::parse(raw).map_err(AppError::input(field))
}

/// A patch of one optional field, parsed.
fn patch<T>(
    v: MaybeUndefined<String>,
    parse: impl FnOnce(&str) -> Result<Option<T>, AppError>,
) -> Result<Patch<T>, AppError> {
    Ok(match v {
        MaybeUndefined::Undefined => Patch::Keep,
        MaybeUndefined::Null => Patch::Clear,
        MaybeUndefined::Value(s) => match parse(&s)? {
            Some(v) => Patch::Set(v),
            None => Patch::Clear,
        },
    })
}

fn registered(ctx: &Context<'_>, r: Registered) -> RegisterPayload {
    RegisterPayload {
        subscriber: Subscriber::in_ctx(ctx, r.subscriber),
        invitation: Invitation(r.invitation),
        token: r.token,
    }
}

#[derive(Default)]
pub struct SubscriberMutation;

#[Object]
impl SubscriberMutation {
    /// The vendor creates a partner and invites its owner (the token is returned once).
    async fn create_partner(&self, ctx: &Context<'_>, input: CreatePartnerInput) -> GqlResult<RegisterPayload> {
        let p = scope(ctx)?;
        p.require(p.is_vendor_staff(), "create partners")?;
        let card = NewCard {
            name: Some(Name::parse(&input.name).map_err(AppError::input("name"))?),
            inn: opt_inn(input.inn.as_deref())?,
            email: opt_email(input.email.as_deref(), "email")?,
            ..Default::default()
        };
        let owner = Email::parse(&input.owner_email).map_err(AppError::input("ownerEmail"))?;
        let program = match (input.program_code, input.status) {
            (Some(code), status) => Some((code, status)),
            (None, Some(_)) => {
                return Err(
                    AppError::bad_input("programCode", "EMPTY", "programCode: a status needs its program").into()
                );
            }
            (None, None) => None,
        };
        let r = subscribers::create_partner(state(ctx), p, card, owner, program).await?;
        audit_target(ctx, r.subscriber.id);
        Ok(registered(ctx, r))
    }

    /// A partner registers a client, bound to it (`PARTNER_REGISTERED`), and invites the client's owner.
    async fn register_client(&self, ctx: &Context<'_>, input: RegisterClientInput) -> GqlResult<RegisterPayload> {
        let p = scope(ctx)?;
        p.require(p.serves_clients(), "register clients")?;
        let card = NewCard {
            name: Some(Name::parse(&input.name).map_err(AppError::input("name"))?),
            inn: opt_inn(input.inn.as_deref())?,
            kpp: opt_kpp(input.kpp.as_deref())?,
            email: opt_email(input.email.as_deref(), "email")?,
            phone: text(input.phone.as_deref(), "phone")?,
            ..Default::default()
        };
        let owner = Email::parse(&input.owner_email).map_err(AppError::input("ownerEmail"))?;
        let r = subscribers::register_client(state(ctx), p, card, owner).await?;
        audit_target(ctx, r.subscriber.id);
        Ok(registered(ctx, r))
    }

    /// The vendor imports an existing client, with its binding (`IMPORT`) and creation time.
    async fn import_client(&self, ctx: &Context<'_>, input: ImportClientInput) -> GqlResult<Subscriber> {
        let p = scope(ctx)?;
        p.require(p.is_vendor_staff(), "import clients")?;
        let card = NewCard {
            name: Some(Name::parse(&input.name).map_err(AppError::input("name"))?),
            inn: opt_inn(input.inn.as_deref())?,
            ..Default::default()
        };
        let partner = input.partner_id.as_ref().map(|id| input_id(id, "partnerId")).transpose()?;
        let s = subscribers::import_client(state(ctx), p, card, partner, input.created_at).await?;
        audit_target(ctx, s.id);
        Ok(Subscriber::in_ctx(ctx, s))
    }

    /// Edits the card (a patch). Owners edit their own card; a partner's operators their clients'.
    async fn update_subscriber(&self, ctx: &Context<'_>, id: ID, input: SubscriberCardInput) -> GqlResult<Subscriber> {
        let p = scope(ctx)?;
        let id = resource_id(&id)?;
        let name = match input.name {
            MaybeUndefined::Undefined => None,
            MaybeUndefined::Null => return Err(AppError::bad_input("name", "EMPTY", "name: must not be empty").into()),
            MaybeUndefined::Value(n) => Some(Name::parse(&n).map_err(AppError::input("name"))?),
        };
        let patch = CardPatch {
            name,
            inn: patch(input.inn, |s| opt_inn(Some(s)))?,
            kpp: patch(input.kpp, |s| opt_kpp(Some(s)))?,
            email: patch(input.email, |s| opt_email(Some(s), "email"))?,
            phone: patch(input.phone, |s| text(Some(s), "phone"))?,
            address: patch(input.address, |s| text(Some(s), "address"))?,
            contact_person: patch(input.contact_person, |s| text(Some(s), "contactPerson"))?,
        };
        let s = subscribers::update_card(state(ctx), p, id, patch).await?;
        audit_target(ctx, s.id);
        Ok(Subscriber::in_ctx(ctx, s))
    }

    /// The vendor edits a partner's profile (the lead-pool conditions and the contract date).
    async fn update_partner_profile(
        &self,
        ctx: &Context<'_>,
        partner_id: ID,
        input: PartnerProfileInput,
    ) -> GqlResult<Subscriber> {
        let p = scope(ctx)?;
        let id = resource_id(&partner_id)?;
        let patch = ProfilePatch {
            service_desk_connected: input.service_desk_connected,
            has_consultants: input.has_consultants,
            has_customization_specialists: input.has_customization_specialists,
            contract_until: match input.contract_until {
                MaybeUndefined::Undefined => Patch::Keep,
                MaybeUndefined::Null => Patch::Clear,
                MaybeUndefined::Value(d) => Patch::Set(d.0),
            },
        };
        let s = subscribers::update_partner_profile(state(ctx), p, id, patch).await?;
        audit_target(ctx, s.id);
        Ok(Subscriber::in_ctx(ctx, s))
    }

    /// Changes a member's role. Granting or taking away `OWNER` needs an owner; the last owner stays.
    async fn change_role(&self, ctx: &Context<'_>, membership_id: ID, role: Role) -> GqlResult<Membership> {
        let p = scope(ctx)?;
        let m = members::change_role(state(ctx), p, resource_id(&membership_id)?, role.into()).await?;
        audit_target(ctx, m.id);
        Ok(Membership(m))
    }

    /// Removes a member; the removed user's tokens stop working at once. The last owner stays.
    async fn remove_member(&self, ctx: &Context<'_>, membership_id: ID) -> GqlResult<ID> {
        let p = scope(ctx)?;
        let id = members::remove(state(ctx), p, resource_id(&membership_id)?).await?;
        audit_target(ctx, id);
        Ok(ID(id.to_string()))
    }
}
