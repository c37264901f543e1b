//! Who is calling: a user acting in one subscriber with one role, checked against the database on every
//! request. Predicates here are the permission matrix of SPEC §1; anything without a rule is denied.

use uuid::Uuid;

use crate::domain::{Role, SubscriberKind};
use crate::error::AppError;

/// An authenticated caller. Built only at the edge, after the membership was re-read.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: Uuid,
    pub subscriber_id: Uuid,
    pub kind: SubscriberKind,
    pub role: Role,
    pub membership_id: Uuid,
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
    /// of the vendor does: the vendor reads everything (SPEC §1), its own members as much as anyone's.
    pub fn lists_own_members(&self) -> bool {
        self.is_vendor() || matches!(self.role, Role::Admin | Role::Owner | Role::ServiceOperator)
    }

    pub fn require(&self, allowed: bool, what: &str) -> Result<(), AppError> {
        if allowed { Ok(()) } else { Err(AppError::forbidden(format!("your role may not {what}"))) }
    }
}
