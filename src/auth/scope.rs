//! Reach: which subscribers, and which rows about them, a caller may see — decided in one place.
//!
//! A [`Scope`] is the only way a service learns who is calling: it derefs to the [`Principal`] for role
//! predicates, and it is the only source of the reach rule of docs/rules.md §1–2 — the row conditions a list query
//! filters with, the lookup that turns a caller-given id into a row (`NOT_FOUND` outside reach, exactly
//! like a missing id), and the [`Projection`] of a subscriber reached through any relation. Services take
//! a `Scope`, so a new query cannot be written without deciding reach; the GraphQL `Subscriber` type is
//! built only from a projection, so a new relation field cannot show more of a subscriber than its
//! projection allows.

use entity::subscriber;
use sea_orm::sea_query::SelectStatement;
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, QueryTrait};
use uuid::Uuid;

use super::Principal;
use crate::domain::{Role, SubscriberKind};
use crate::error::{AppError, AppResult};

/// An authenticated caller's reach. Cheap to copy; built per request from the principal of the edge.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    principal: &'a Principal,
}

impl std::ops::Deref for Scope<'_> {
    type Target = Principal;
    fn deref(&self) -> &Principal {
        self.principal
    }
}

/// How the caller relates to a subscriber it reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// The caller's own subscriber.
    Own,
    /// A client the caller's partner serves (the caller is its `OWNER` or `SERVICE_OPERATOR`).
    Client,
    /// A client whose support line the caller's partner is (activated support code): its card only.
    Supported,
    /// The caller belongs to the vendor, which sees everything.
    Vendor,
}

impl Reach {
    /// Whether the caller works with the subscriber — its subscriptions, history, members, notes — rather
    /// than only reading its card.
    pub fn works_with(self) -> bool {
        !matches!(self, Reach::Supported)
    }
}

/// What a caller may see of a subscriber, whatever path reached it (docs/rules.md §1–2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Projection {
    /// In reach: the card, and the relations `works_with` allows.
    Full(Reach),
    /// The subscriber a public sign-in (login, self-registration, invitation) just signed in to, shown
    /// to its anonymous caller: the card, no relations.
    SignedIn,
    /// `id`, `name`, `email`, `phone`, `address`: a partner in the public directory, or the partner that
    /// serves (or supports) the calling client.
    Contacts,
    /// `id` and `name` only.
    Minimal,
}

impl Projection {
    /// The card fields (`inn`, `kpp`, `contactPerson`, the partner profile, the binding).
    pub fn card(self) -> bool {
        matches!(self, Projection::Full(_) | Projection::SignedIn)
    }

    /// `email`, `phone`, `address`.
    pub fn contacts(self) -> bool {
        self.card() || self == Projection::Contacts
    }

    /// Relations that are the caller's work with the subscriber (subscriptions, history, members, notes).
    pub fn works_with(self) -> Option<Reach> {
        match self {
            Projection::Full(r) if r.works_with() => Some(r),
            _ => None,
        }
    }

    /// The wider of two projections (for a relation that grants more than reach alone).
    pub fn at_least(self, floor: Projection) -> Projection {
        fn rank(p: Projection) -> u8 {
            match p {
                Projection::Minimal => 0,
                Projection::Contacts => 1,
                Projection::SignedIn => 2,
                Projection::Full(_) => 3,
            }
        }
        if rank(floor) > rank(self) { floor } else { self }
    }
}

impl<'a> Scope<'a> {
    pub fn new(principal: &'a Principal) -> Self {
        Scope { principal }
    }

    pub fn principal(&self) -> &'a Principal {
        self.principal
    }

    /// The reach rule of docs/rules.md §1–2: own subscriber, the partner's clients (and those it supports), or
    /// everything for the vendor.
    pub fn reach(&self, s: &subscriber::Model) -> Option<Reach> {
        let p = self.principal;
        if s.id == p.subscriber_id {
            Some(Reach::Own)
        } else if p.is_vendor() {
            Some(Reach::Vendor)
        } else if p.serves_clients() && s.kind == SubscriberKind::Client {
            if s.serving_partner_id == Some(p.subscriber_id) {
                Some(Reach::Client)
            } else if s.support_partner_id == Some(p.subscriber_id) {
                Some(Reach::Supported)
            } else {
                None
            }
        } else {
            None
        }
    }

    /// What the caller sees of a subscriber reached through any path.
    pub fn projection(&self, s: &subscriber::Model) -> Projection {
        match self.reach(s) {
            Some(r) => Projection::Full(r),
            None => Projection::Minimal,
        }
    }

    /// The subscribers the caller reaches, as a condition on the subscriber table.
    pub fn subscribers(&self) -> Condition {
        let p = self.principal;
        if p.is_vendor() {
            return Condition::all();
        }
        let mut c = Condition::any().add(subscriber::Column::Id.eq(p.subscriber_id));
        if p.serves_clients() {
            c = c.add(
                Condition::all().add(subscriber::Column::Kind.eq(SubscriberKind::Client)).add(
                    Condition::any()
                        .add(subscriber::Column::ServingPartnerId.eq(p.subscriber_id))
                        .add(subscriber::Column::SupportPartnerId.eq(p.subscriber_id)),
                ),
            );
        }
        c
    }

    /// The subscribers the caller reaches, as `subscribers()` but split into conditions that each take
    /// one index range (own row by id, clients by `(serving_partner_id, id)` and `(support_partner_id,
    /// id)`), for pages that merge them. The own row only where it can match the kind asked for.
    pub fn subscriber_ranges(&self, kind: Option<SubscriberKind>) -> Vec<Condition> {
        let p = self.principal;
        if p.is_vendor() {
            return vec![Condition::all()];
        }
        let mut ranges = Vec::new();
        if kind.is_none_or(|k| k == p.kind) {
            ranges.push(Condition::all().add(subscriber::Column::Id.eq(p.subscriber_id)));
        }
        if p.serves_clients() && kind.is_none_or(|k| k == SubscriberKind::Client) {
            for column in [subscriber::Column::ServingPartnerId, subscriber::Column::SupportPartnerId] {
                ranges.push(
                    Condition::all()
                        .add(column.eq(p.subscriber_id))
                        .add(subscriber::Column::Kind.eq(SubscriberKind::Client)),
                );
            }
        }
        ranges
    }

    /// Rows about clients the caller works with (`Reach::Client`, or every client for the vendor), as a
    /// condition on a column that holds a client's id. Nothing for anyone else.
    pub fn clients(&self, column: impl ColumnTrait) -> Condition {
        let p = self.principal;
        if p.is_vendor() {
            Condition::all()
        } else if p.serves_clients() {
            Condition::all().add(column.in_subquery(client_ids_of(p.subscriber_id)))
        } else {
            nothing()
        }
    }

    /// Rows about the caller's own subscriber or the clients it works with, as a condition on a column
    /// that holds a subscriber's id.
    pub fn own_or_clients(&self, column: impl ColumnTrait + Copy) -> Condition {
        let p = self.principal;
        if p.is_vendor() {
            Condition::all()
        } else {
            Condition::any().add(column.eq(p.subscriber_id)).add(self.clients(column))
        }
    }

    /// Loads a subscriber the caller reaches; anything else is `NOT_FOUND`, exactly like a missing id.
    pub async fn subscriber<C: ConnectionTrait>(&self, db: &C, id: Uuid) -> AppResult<(subscriber::Model, Reach)> {
        let s = subscriber::Entity::find_by_id(id).one(db).await?.ok_or(AppError::NotFound)?;
        let r = self.reach(&s).ok_or(AppError::NotFound)?;
        Ok((s, r))
    }

    /// Loads a subscriber the caller works with (`Reach::works_with`); `NOT_FOUND` otherwise.
    pub async fn worked<C: ConnectionTrait>(&self, db: &C, id: Uuid) -> AppResult<(subscriber::Model, Reach)> {
        let (s, r) = self.subscriber(db, id).await?;
        if !r.works_with() {
            return Err(AppError::NotFound);
        }
        Ok((s, r))
    }

    /// Loads a client the caller works with as its partner or as the vendor; `NOT_FOUND` for anything
    /// else (another partner's client, a partner, an id that does not exist).
    pub async fn client<C: ConnectionTrait>(&self, db: &C, id: Uuid) -> AppResult<subscriber::Model> {
        match self.subscriber(db, id).await? {
            (s, Reach::Client | Reach::Vendor) if s.kind == SubscriberKind::Client => Ok(s),
            _ => Err(AppError::NotFound),
        }
    }

    /// A client the caller names on the client's behalf — the client gave it its id to be invoiced, to
    /// get a personal discount code or a support code — which may be bound to another partner (docs/rules.md §1–2,
    /// docs/api.md "Reach"). Any client; what the caller then sees of it is still its projection (id and name
    /// outside reach). `NOT_FOUND` for anything that is not a client.
    pub async fn named_client<C: ConnectionTrait>(&self, db: &C, id: Uuid) -> AppResult<subscriber::Model> {
        subscriber::Entity::find_by_id(id)
            .one(db)
            .await?
            .filter(|c| c.kind == SubscriberKind::Client)
            .ok_or(AppError::NotFound)
    }

    /// Whether the caller may see a person (a `User` reached through a relation, such as who made a
    /// binding change): the vendor sees everyone; a subscriber's administrators, owners and operators see
    /// its own members (they list them); everyone sees themselves. `member_of_own`: the person belongs to
    /// the caller's subscriber.
    pub fn sees_user(&self, user: Uuid, member_of_own: bool) -> bool {
        let p = self.principal;
        p.is_vendor() || p.user_id() == Some(user) || (member_of_own && p.lists_own_members())
    }

    /// Whether the caller may read the commission rules' rates (docs/rules.md §6): they are the vendor's and its
    /// partners' business; a client reads the programs, not what partners earn on it.
    pub fn sees_commission_rates(&self) -> bool {
        self.principal.is_vendor() || self.principal.is_partner()
    }

    /// Whether the caller may manage (card, members, invitations of) a subscriber in this relation,
    /// `owner_level` meaning the change touches owners or operators, or the own card.
    pub fn may_administer(&self, r: Reach, owner_level: bool) -> bool {
        let p = self.principal;
        match r {
            Reach::Own if owner_level => p.role == Role::Owner,
            Reach::Own => p.manages_own_members(),
            Reach::Client => p.serves_clients(),
            Reach::Supported => false,
            Reach::Vendor => p.is_vendor_staff(),
        }
    }
}

/// A CRM book (docs/rules.md §10): the subscriber whose contacts, companies and deals they are. Only a [`Scope`]
/// hands one out, after deciding that the caller may read (or write) it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Book(Uuid);

impl Book {
    /// The id of the subscriber (a partner or the vendor) that keeps the book.
    pub fn id(self) -> Uuid {
        self.0
    }
}

impl Scope<'_> {
    /// Whether the caller works with CRM books at all: a partner's `OWNER` and `SERVICE_OPERATOR`, and
    /// every role of the vendor. Anyone else is `FORBIDDEN`, whatever it names.
    fn crm_reader(&self) -> AppResult<()> {
        let p = self.principal;
        if p.is_vendor() || p.serves_clients() {
            Ok(())
        } else if p.kind == SubscriberKind::Client {
            Err(AppError::forbidden("a client has no CRM book"))
        } else {
            Err(AppError::forbidden("your role may not work with the CRM book"))
        }
    }

    /// The book a CRM read is about: the caller's own (no `book_id`, or its own id); for the vendor, any
    /// partner's book by the partner's id. Any other id — a client, another partner for a partner,
    /// something that does not exist — is `NOT_FOUND`.
    pub async fn book<C: ConnectionTrait>(&self, db: &C, book_id: Option<Uuid>) -> AppResult<Book> {
        self.crm_reader()?;
        let own = self.principal.subscriber_id;
        match book_id {
            None => Ok(Book(own)),
            Some(id) if id == own => Ok(Book(own)),
            Some(id) if self.principal.is_vendor() => {
                let s = subscriber::Entity::find_by_id(id).one(db).await?.ok_or(AppError::NotFound)?;
                if s.kind == SubscriberKind::Partner { Ok(Book(id)) } else { Err(AppError::NotFound) }
            }
            Some(_) => Err(AppError::NotFound),
        }
    }

    /// The book the caller writes: a partner's `OWNER` and `SERVICE_OPERATOR` their partner's, the
    /// vendor's `OWNER` and `SERVICE_OPERATOR` the vendor's own. Everyone else is `FORBIDDEN`.
    pub fn writable_book(&self) -> AppResult<Book> {
        self.crm_reader()?;
        let p = self.principal;
        if p.serves_clients() || p.is_vendor_staff() {
            Ok(Book(p.subscriber_id))
        } else {
            Err(AppError::forbidden("your role may only read the CRM books"))
        }
    }

    /// CRM rows the caller reads, as a condition on a table's `book_id` column: its own book (every book
    /// for the vendor). `FORBIDDEN` for callers without a book.
    pub fn crm_rows(&self, book_column: impl ColumnTrait) -> AppResult<Condition> {
        self.crm_reader()?;
        let p = self.principal;
        Ok(if p.is_vendor() { Condition::all() } else { Condition::all().add(book_column.eq(p.subscriber_id)) })
    }
}

/// The ids of a partner's clients, as a subquery.
pub fn client_ids_of(partner: Uuid) -> SelectStatement {
    subscriber::Entity::find()
        .select_only()
        .column(subscriber::Column::Id)
        .filter(subscriber::Column::Kind.eq(SubscriberKind::Client))
        .filter(subscriber::Column::ServingPartnerId.eq(partner))
        .into_query()
}

/// The ids of all clients, as a subquery.
pub fn all_client_ids() -> SelectStatement {
    subscriber::Entity::find()
        .select_only()
        .column(subscriber::Column::Id)
        .filter(subscriber::Column::Kind.eq(SubscriberKind::Client))
        .into_query()
}

/// A condition that holds for no row (for callers that reach nothing of a kind).
pub fn nothing() -> Condition {
    // An empty disjunction is false.
    Condition::any()
}
