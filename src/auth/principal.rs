//! Who is calling: a user acting in one subscriber with one role, checked against the database on every
//! request. Predicates here are the permission matrix of docs/rules.md §1–2; anything without a rule is denied.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::domain::{Role, SubscriberKind};
use crate::error::AppError;

/// Who acts behind a principal: a person signed in with a token, or an API key (docs/rules.md §12). A key is
/// not its creator: it keeps acting when its creator leaves the subscriber or is deactivated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    /// A person, acting through one of its memberships.
    User { id: Uuid, membership_id: Uuid },
    /// An API key of the subscriber.
    Key {
        id: Uuid,
        /// The person who created the key (answerable for what it does).
        created_by: Uuid,
        /// When the key stops working, if ever.
        expires_at: Option<DateTime<Utc>>,
    },
}

/// An authenticated caller. Built only at the edge, after the membership (or the key) was re-read.
#[derive(Debug, Clone)]
pub struct Principal {
    pub actor: Actor,
    pub subscriber_id: Uuid,
    pub kind: SubscriberKind,
    pub role: Role,
}

/// The caller of one request: anonymous or a principal.
#[derive(Debug, Clone, Default)]
pub struct Caller(pub Option<Principal>);

impl Caller {
    pub fn principal(&self) -> Result<&Principal, AppError> {
        self.0.as_ref().ok_or_else(|| AppError::unauthenticated("LOGIN_REQUIRED", "this operation needs a token"))
    }
}

impl Principal {
    /// A person acting through its membership.
    pub fn person(user_id: Uuid, membership_id: Uuid, subscriber_id: Uuid, kind: SubscriberKind, role: Role) -> Self {
        Principal { actor: Actor::User { id: user_id, membership_id }, subscriber_id, kind, role }
    }

    /// The signed-in person, or `None` for an API key. Whatever is a person's own (its password, its
    /// memberships, accepting an invitation as that person) answers to this only.
    pub fn user_id(&self) -> Option<Uuid> {
        match self.actor {
            Actor::User { id, .. } => Some(id),
            Actor::Key { .. } => None,
        }
    }

    /// The membership a person acts through (`None` for a key).
    pub fn membership_id(&self) -> Option<Uuid> {
        match self.actor {
            Actor::User { membership_id, .. } => Some(membership_id),
            Actor::Key { .. } => None,
        }
    }

    /// The API key acting, if it is one.
    pub fn api_key_id(&self) -> Option<Uuid> {
        match self.actor {
            Actor::Key { id, .. } => Some(id),
            Actor::User { .. } => None,
        }
    }

    /// The id of whoever acts: the person's or the key's (the scope of an `Idempotency-Key`, the
    /// address of access signals).
    pub fn actor_id(&self) -> Uuid {
        match self.actor {
            Actor::User { id, .. } | Actor::Key { id, .. } => id,
        }
    }

    /// The person answerable for an act, for the `…_by` columns that name a user (an invitation's
    /// inviter, a decision's decider, a binding's author): the person, or the key's creator. The audit
    /// log records the key itself.
    pub fn responsible_user(&self) -> Uuid {
        match self.actor {
            Actor::User { id, .. } => id,
            Actor::Key { created_by, .. } => created_by,
        }
    }

    /// The rate limit's bucket: a person's own, or the key's own (not its creator's).
    pub fn rate_key(&self) -> String {
        match self.actor {
            Actor::User { id, .. } => format!("user:{id}"),
            Actor::Key { id, .. } => format!("key:{id}"),
        }
    }

    /// Requires a person (an API key may not do this: managing keys, say).
    pub fn require_person(&self, what: &str) -> Result<Uuid, AppError> {
        self.user_id()
            .ok_or_else(|| AppError::forbidden_because("API_KEY_NOT_ALLOWED", format!("an API key may not {what}")))
    }

    pub fn is_vendor(&self) -> bool {
        self.kind == SubscriberKind::Vendor
    }

    pub fn is_partner(&self) -> bool {
        self.kind == SubscriberKind::Partner
    }

    /// Vendor `OWNER` or `SERVICE_OPERATOR`: everything about partners, programs, tariffs, imports.
    pub fn is_vendor_staff(&self) -> bool {
        self.is_vendor() && matches!(self.role, Role::Owner | Role::ServiceOperator)
    }

    /// Partner `OWNER` or `SERVICE_OPERATOR`: works with the partner's clients.
    pub fn serves_clients(&self) -> bool {
        self.is_partner() && matches!(self.role, Role::Owner | Role::ServiceOperator)
    }

    /// `ADMIN` or `OWNER`: manages its own subscriber's members (owners only by owners).
    pub fn manages_own_members(&self) -> bool {
        matches!(self.role, Role::Admin | Role::Owner)
    }

    /// `ADMIN`, `OWNER`, `SERVICE_OPERATOR`: lists its own subscriber's members and invitations. Every role
    /// of the vendor does: the vendor reads everything (docs/rules.md §1–2), its own members as much as anyone's.
    pub fn lists_own_members(&self) -> bool {
        self.is_vendor() || matches!(self.role, Role::Admin | Role::Owner | Role::ServiceOperator)
    }

    pub fn require(&self, allowed: bool, what: &str) -> Result<(), AppError> {
        if allowed { Ok(()) } else { Err(AppError::forbidden(format!("your role may not {what}"))) }
    }
}
