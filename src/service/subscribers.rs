//! Subscribers: who may see which, the card, partners and their profiles, registering and importing
//! clients, and the binding history.

use chrono::{DateTime, NaiveDate, Utc};
use entity::{binding_change, partner_profile, subscriber};
use sea_orm::sea_query::{Expr, LikeExpr};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, Select,
    Set,
};
use uuid::Uuid;

use super::invitations::{self, NewInvitation};
use super::webhooks;
use super::{Page, PageArgs, find_or_404, new_id};
use crate::auth::Scope;
use crate::db::begin_write;
use crate::domain::text::{contains_pattern, fold};
use crate::domain::{BindingSource, Email, Inn, Kpp, Name, Role, SubscriberKind};
use crate::error::{AppError, AppResult, UniqueIndex};
use crate::service::ServiceCtx;

pub use crate::auth::scope::{all_client_ids, client_ids_of};

/// One subscriber of a kind per INN and KPP (`m20261122_000001_foundation`; on expressions, so SQLite
/// names it).
const INN_INDEX: UniqueIndex = UniqueIndex { name: "ux_subscribers_inn", table: "subscribers", columns: &[] };

#[tracing::instrument(level = "debug", skip_all, fields(caller = %p.subscriber_id))]
pub async fn list(
    ctx: &ServiceCtx,
    p: Scope<'_>,
    kind: Option<SubscriberKind>,
    search: Option<&str>,
    updated_since: Option<DateTime<Utc>>,
    page: PageArgs,
) -> AppResult<Page<subscriber::Model>> {
    let q = list_query(kind, search, updated_since)?;
    super::paginate_union(&ctx.db, q, p.subscriber_ranges(kind), subscriber::Column::Id, |s| s.id, page).await
}

/// `list`'s page as one statement to build on (the compiled read path joins the page's relations to
/// it), and how many subscribers the list holds in all.
pub fn list_statement(
    p: Scope<'_>,
    kind: Option<SubscriberKind>,
    search: Option<&str>,
    updated_since: Option<DateTime<Utc>>,
    page: PageArgs,
) -> AppResult<sea_orm::sea_query::SelectStatement> {
    let q = list_query(kind, search, updated_since)?;
    Ok(super::page_statement(q, p.subscriber_ranges(kind), subscriber::Column::Id, page))
}

pub async fn count(
    ctx: &ServiceCtx,
    p: Scope<'_>,
    kind: Option<SubscriberKind>,
    search: Option<&str>,
    updated_since: Option<DateTime<Utc>>,
) -> AppResult<u64> {
    let q = list_query(kind, search, updated_since)?;
    super::count_union(&ctx.db, q, &p.subscriber_ranges(kind)).await
}

/// The filters of a subscriber list, before the caller's reach (`Scope::subscriber_ranges`) and the
/// page; public for the plan guard that `EXPLAIN`s it on a seeded PostgreSQL.
pub fn list_query(
    kind: Option<SubscriberKind>,
    search: Option<&str>,
    updated_since: Option<DateTime<Utc>>,
) -> AppResult<Select<subscriber::Entity>> {
    let mut q = subscriber::Entity::find();
    if let Some(kind) = kind {
        q = q.filter(subscriber::Column::Kind.eq(kind));
    }
    if let Some(since) = updated_since {
        q = q.filter(subscriber::Column::UpdatedAt.gte(since));
    }
    if let Some(search) = search.map(str::trim).filter(|s| !s.is_empty()) {
        if search.chars().count() > 200 {
            return Err(AppError::bad_input("search", "TOO_LONG", "search: at most 200 characters"));
        }
        // Both sides folded in Rust (names are stored folded, e-mails lower-cased): Cyrillic matches
        // whatever its case on SQLite too.
        let pattern = |s: &str| LikeExpr::new(contains_pattern(s)).escape('\\');
        q = q.filter(
            Condition::any()
                .add(subscriber::Column::SearchName.like(pattern(&fold(search))))
                .add(subscriber::Column::Inn.eq(search))
                .add(subscriber::Column::Email.like(pattern(&search.to_lowercase()))),
        );
    }
    Ok(q)
}

/// The card fields of a new subscriber, already parsed.
#[derive(Debug, Clone, Default)]
pub struct NewCard {
    pub name: Option<Name>,
    pub inn: Option<Inn>,
    pub kpp: Option<Kpp>,
    pub email: Option<Email>,
    pub phone: Option<String>,
    pub address: Option<String>,
    pub contact_person: Option<String>,
}

/// A change to one optional field: keep it, clear it, or set it.
#[derive(Debug, Clone, Default)]
pub enum Patch<T> {
    #[default]
    Keep,
    Clear,
    Set(T),
}

impl<T> Patch<T> {
    fn apply(self, current: Option<String>, f: impl FnOnce(T) -> String) -> Option<String> {
        match self {
            Patch::Keep => current,
            Patch::Clear => None,
            Patch::Set(v) => Some(f(v)),
        }
    }
}

/// A patch of the card: omitted fields stay, cleared optional fields become empty.
#[derive(Debug, Clone, Default)]
pub struct CardPatch {
    pub name: Option<Name>,
    pub inn: Patch<Inn>,
    pub kpp: Patch<Kpp>,
    pub email: Patch<Email>,
    pub phone: Patch<String>,
    pub address: Patch<String>,
    pub contact_person: Patch<String>,
}

#[allow(clippy::too_many_arguments)]
async fn insert_subscriber(
    txn: &DatabaseTransaction,
    kind: SubscriberKind,
    card: NewCard,
    serving_partner: Option<Uuid>,
    binding: Option<BindingSource>,
    created_at: DateTime<Utc>,
) -> AppResult<subscriber::Model> {
    let name = card.name.ok_or_else(|| AppError::bad_input("name", "EMPTY", "name: must not be empty"))?;
    let name = name.into_string();
    subscriber::ActiveModel {
        id: Set(new_id()),
        kind: Set(kind),
        search_name: Set(fold(&name)),
        name: Set(name),
        inn: Set(card.inn.map(Inn::into_string)),
        kpp: Set(card.kpp.map(Kpp::into_string)),
        email: Set(card.email.map(Email::into_string)),
        phone: Set(card.phone),
        address: Set(card.address),
        contact_person: Set(card.contact_person),
        serving_partner_id: Set(serving_partner),
        binding_source: Set(binding),
        support_partner_id: Set(None),
        created_at: Set(created_at),
        updated_at: Set(created_at),
    }
    .insert(txn)
    .await
    .map_err(AppError::on_unique(
        &[INN_INDEX],
        "inn",
        "INN_TAKEN",
        "a subscriber with this inn and kpp is already registered",
    ))
}

/// Inserts a subscriber in an open transaction (used by self-registration and bootstrap too).
pub async fn create_in(
    txn: &DatabaseTransaction,
    kind: SubscriberKind,
    card: NewCard,
    now: DateTime<Utc>,
) -> AppResult<subscriber::Model> {
    insert_subscriber(txn, kind, card, None, None, now).await
}

/// Takes the subscriber's row lock for the rest of the transaction (PostgreSQL; SQLite write transactions
/// are serial anyway), so that read-then-write rules about one subscriber (the last owner, extending a
/// subscription, one live subscription per tariff) hold under concurrent requests.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn lock(txn: &DatabaseTransaction, id: Uuid) -> AppResult<()> {
    super::lock_row::<subscriber::Entity, _>(txn, subscriber::Column::Id, subscriber::Column::UpdatedAt, id).await
}

/// Marks a subscriber as changed now, for a change kept beside its row (partner profile, program
/// status) that its GraphQL type shows: `subscribers(updatedSince:)` then finds it.
pub async fn touch(txn: &DatabaseTransaction, id: Uuid, now: DateTime<Utc>) -> AppResult<subscriber::Model> {
    subscriber::Entity::update_many()
        .col_expr(subscriber::Column::UpdatedAt, Expr::value(now))
        .filter(subscriber::Column::Id.eq(id))
        .exec(txn)
        .await?;
    load(txn, id).await
}

/// Who made a binding change and why: `BindingChange.by` and `reason`.
#[derive(Debug, Clone)]
pub struct BindingNote {
    /// The person who decided it; None for an automatic change (a referral, lead distribution).
    pub by: Option<Uuid>,
    pub reason: String,
}

impl BindingNote {
    pub fn by(user: Uuid, reason: impl Into<String>) -> Self {
        BindingNote { by: Some(user), reason: reason.into() }
    }

    pub fn automatic(reason: impl Into<String>) -> Self {
        BindingNote { by: None, reason: reason.into() }
    }
}

/// Binds a client to a partner (or unbinds it) and keeps the change in the history.
pub async fn bind(
    txn: &DatabaseTransaction,
    client: &subscriber::Model,
    to: Option<Uuid>,
    source: BindingSource,
    note: BindingNote,
    at: DateTime<Utc>,
) -> AppResult<subscriber::Model> {
    binding_change::ActiveModel {
        id: Set(new_id()),
        client_id: Set(client.id),
        from_partner_id: Set(client.serving_partner_id),
        to_partner_id: Set(to),
        source: Set(source),
        at: Set(at),
        actor_user_id: Set(note.by),
        reason: Set(Some(note.reason)),
    }
    .insert(txn)
    .await?;
    webhooks::queue(txn, [webhooks::Event::client_bound(client, to, source, at)]).await?;
    let mut am: subscriber::ActiveModel = client.clone().into();
    am.serving_partner_id = Set(to);
    am.binding_source = Set(to.map(|_| source));
    am.updated_at = Set(at);
    let bound = am.update(txn).await?;
    // The client's payments move with it to its new partner's payments page. After the client's row is
    // updated (and so locked): a payment recorded concurrently either committed before (this statement
    // sees it) or waits for the lock and reads the new partner.
    entity::payment::Entity::update_many()
        .col_expr(entity::payment::Column::ServingPartnerId, Expr::value(serving_partner_of(&bound)))
        .filter(entity::payment::Column::SubscriberId.eq(bound.id))
        .exec(txn)
        .await?;
    Ok(bound)
}

/// The partner whose payments page shows a subscriber's payments: a client's serving partner, nobody's
/// for any other subscriber (as `client_ids_of` had it).
pub fn serving_partner_of(s: &subscriber::Model) -> Option<Uuid> {
    s.serving_partner_id.filter(|_| s.kind == SubscriberKind::Client)
}

/// A subscriber created together with an invitation for its first owner.
pub struct Registered {
    pub subscriber: subscriber::Model,
    pub invitation: entity::invitation::Model,
    pub token: String,
}

/// The vendor creates a partner and invites its owner.
/// `program` is a program code and a status in it (default: its lowest status).
#[tracing::instrument(level = "debug", skip_all, fields(caller = %p.subscriber_id))]
pub async fn create_partner(
    ctx: &ServiceCtx,
    p: Scope<'_>,
    card: NewCard,
    owner_email: Email,
    program: Option<(String, Option<String>)>,
) -> AppResult<Registered> {
    p.require(p.is_vendor_staff(), "create partners")?;
    let now = ctx.clock.now();
    let txn = begin_write(&ctx.db, &ctx.write_gate).await?;
    let partner = insert_subscriber(&txn, SubscriberKind::Partner, card, None, None, now).await?;
    if let Some((code, status)) = program {
        let program = super::programs::by_code(&txn, &code, "programCode").await?;
        let status = match status.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()) {
            Some(s) => s,
            None => super::programs::statuses(&txn, program.id).await?.into_iter().next().unwrap_or_default(),
        };
        super::programs::put_partner_status(&txn, partner.id, &program, &status, now).await?;
    }
    partner_profile::ActiveModel {
        subscriber_id: Set(partner.id),
        referral_code: Set(new_referral_code()),
        service_desk_connected: Set(false),
        has_consultants: Set(false),
        has_customization_specialists: Set(false),
        contract_until: Set(None),
    }
    .insert(&txn)
    .await?;
    let (invitation, token) = invitations::create_in(
        &txn,
        ctx,
        NewInvitation {
            subscriber: &partner,
            email: owner_email,
            role: Role::Owner,
            created_by: Some(p.responsible_user()),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(Registered { subscriber: partner, invitation, token })
}

/// A partner registers a client, which is bound to it, and invites the client's owner.
#[tracing::instrument(level = "debug", skip_all, fields(caller = %p.subscriber_id))]
pub async fn register_client(
    ctx: &ServiceCtx,
    p: Scope<'_>,
    card: NewCard,
    owner_email: Email,
) -> AppResult<Registered> {
    p.require(p.serves_clients(), "register clients")?;
    let now = ctx.clock.now();
    let txn = begin_write(&ctx.db, &ctx.write_gate).await?;
    let client = insert_subscriber(&txn, SubscriberKind::Client, card, None, None, now).await?;
    let client = bind(
        &txn,
        &client,
        Some(p.subscriber_id),
        BindingSource::PartnerRegistered,
        registered_note(p.responsible_user()),
        now,
    )
    .await?;
    super::tasks::welcome_call(&*txn, p.subscriber_id, client.id, now).await?;
    let (invitation, token) = invitations::create_in(
        &txn,
        ctx,
        NewInvitation {
            subscriber: &client,
            email: owner_email,
            role: Role::Owner,
            created_by: Some(p.responsible_user()),
        },
    )
    .await?;
    webhooks::queue(&*txn, [webhooks::Event::client_registered(&client, now)]).await?;
    txn.commit().await?;
    Ok(Registered { subscriber: client, invitation, token })
}

fn registered_note(user: Uuid) -> BindingNote {
    BindingNote::by(user, "registered by the partner")
}

/// The vendor imports an existing client, optionally with its existing binding (source `IMPORT`) and
/// its original creation time (which commission windows count from).
#[tracing::instrument(level = "debug", skip_all, fields(caller = %p.subscriber_id, partner = ?partner))]
pub async fn import_client(
    ctx: &ServiceCtx,
    p: Scope<'_>,
    card: NewCard,
    partner: Option<Uuid>,
    created_at: Option<DateTime<Utc>>,
) -> AppResult<subscriber::Model> {
    p.require(p.is_vendor_staff(), "import clients")?;
    let now = ctx.clock.now();
    let created_at = created_at.unwrap_or(now);
    if created_at > now {
        return Err(AppError::bad_input("createdAt", "IN_FUTURE", "createdAt: must not be in the future"));
    }
    let txn = begin_write(&ctx.db, &ctx.write_gate).await?;
    if let Some(partner) = partner {
        let ps = subscriber::Entity::find_by_id(partner).one(&txn).await?;
        if ps.as_ref().map(|s| s.kind) != Some(SubscriberKind::Partner) {
            return Err(AppError::bad_input("partnerId", "NOT_A_PARTNER", "partnerId: no such partner"));
        }
    }
    let mut client = insert_subscriber(&txn, SubscriberKind::Client, card, None, None, created_at).await?;
    if let Some(partner) = partner {
        let note = BindingNote::by(p.responsible_user(), "imported by the vendor with its existing binding");
        client = bind(&txn, &client, Some(partner), BindingSource::Import, note, now).await?;
    }
    webhooks::queue(&*txn, [webhooks::Event::client_registered(&client, now)]).await?;
    txn.commit().await?;
    Ok(client)
}

/// Edits the card. Only owners edit their own card; a partner's operators edit their clients' cards;
/// vendor staff edit any.
#[tracing::instrument(level = "debug", skip_all, fields(caller = %p.subscriber_id, id = %id))]
pub async fn update_card(ctx: &ServiceCtx, p: Scope<'_>, id: Uuid, patch: CardPatch) -> AppResult<subscriber::Model> {
    let txn = begin_write(&ctx.db, &ctx.write_gate).await?;
    let (s, r) = p.subscriber(&txn, id).await?;
    p.require(p.may_administer(r, true), "edit this card")?;
    let mut am: subscriber::ActiveModel = s.clone().into();
    if let Some(name) = patch.name {
        let name = name.into_string();
        am.search_name = Set(fold(&name));
        am.name = Set(name);
    }
    am.inn = Set(patch.inn.apply(s.inn, Inn::into_string));
    am.kpp = Set(patch.kpp.apply(s.kpp, Kpp::into_string));
    am.email = Set(patch.email.apply(s.email, Email::into_string));
    am.phone = Set(patch.phone.apply(s.phone, |v| v));
    am.address = Set(patch.address.apply(s.address, |v| v));
    am.contact_person = Set(patch.contact_person.apply(s.contact_person, |v| v));
    am.updated_at = Set(ctx.clock.now());
    let updated = am.update(&txn).await.map_err(AppError::on_unique(
        &[INN_INDEX],
        "inn",
        "INN_TAKEN",
        "a subscriber with this inn and kpp is already registered",
    ))?;
    txn.commit().await?;
    Ok(updated)
}

/// A patch of the partner profile.
#[derive(Debug, Clone, Default)]
pub struct ProfilePatch {
    pub service_desk_connected: Option<bool>,
    pub has_consultants: Option<bool>,
    pub has_customization_specialists: Option<bool>,
    pub contract_until: Patch<NaiveDate>,
}

#[tracing::instrument(level = "debug", skip_all, fields(caller = %p.subscriber_id, id = %id))]
pub async fn update_partner_profile(
    ctx: &ServiceCtx,
    p: Scope<'_>,
    id: Uuid,
    patch: ProfilePatch,
) -> AppResult<subscriber::Model> {
    let txn = begin_write(&ctx.db, &ctx.write_gate).await?;
    let (s, _) = p.subscriber(&txn, id).await?;
    p.require(p.is_vendor_staff(), "edit partner profiles")?;
    // The partner's row first, as `createSubscription` of the Partner tariff takes it before reading the
    // contract: a subscription and a contract change made at once see each other.
    lock(&txn, s.id).await?;
    let profile = partner_profile::Entity::find_by_id(s.id)
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::bad_input("partnerId", "NOT_A_PARTNER", "partnerId: not a partner"))?;
    let mut am: partner_profile::ActiveModel = profile.clone().into();
    if let Some(v) = patch.service_desk_connected {
        am.service_desk_connected = Set(v);
    }
    if let Some(v) = patch.has_consultants {
        am.has_consultants = Set(v);
    }
    if let Some(v) = patch.has_customization_specialists {
        am.has_customization_specialists = Set(v);
    }
    let contract_until = match patch.contract_until {
        Patch::Keep => profile.contract_until,
        Patch::Clear => None,
        Patch::Set(d) => Some(d),
    };
    am.contract_until = Set(contract_until);
    am.update(&txn).await?;
    let now = ctx.clock.now();
    super::billing::follow_contract(&txn, s.id, profile.contract_until, contract_until, ctx.config.rules.local, now)
        .await?;
    let s = touch(&txn, s.id, now).await?;
    txn.commit().await?;
    Ok(s)
}

pub async fn partner_profile<C: ConnectionTrait>(db: &C, id: Uuid) -> AppResult<Option<partner_profile::Model>> {
    Ok(partner_profile::Entity::find_by_id(id).one(db).await?)
}

pub async fn find_by_referral_code<C: ConnectionTrait>(
    db: &C,
    code: &str,
) -> AppResult<Option<partner_profile::Model>> {
    Ok(partner_profile::Entity::find()
        .filter(partner_profile::Column::ReferralCode.eq(code.trim().to_uppercase()))
        .one(db)
        .await?)
}

pub async fn load<C: ConnectionTrait>(db: &C, id: Uuid) -> AppResult<subscriber::Model> {
    find_or_404::<subscriber::Entity, _>(db, id).await
}

/// A referral code: 10 characters from an alphabet without look-alikes.
fn new_referral_code() -> String {
    super::random_code(super::CODE_ALPHABET, 10)
}
