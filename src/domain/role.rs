//! Subscriber kinds and the five roles, with the rules of which role exists where.

use std::fmt;
use std::str::FromStr;

/// The kind of a subscriber account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, async_graphql::Enum)]
pub enum SubscriberKind {
    /// A customer of the vendor's applications.
    Client,
    /// A reseller, integrator or franchisee.
    Partner,
    /// The vendor itself (exactly one per deployment).
    Vendor,
}

/// A member's role within one subscriber.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, async_graphql::Enum)]
pub enum Role {
    /// Minimal rights: sees its subscriber and launches its applications.
    User,
    /// Manages the subscriber's user list (not owners).
    Admin,
    /// Full rights on every operation of the subscriber; only owners edit the card.
    Owner,
    /// Manages the subscriber's adaptation tools (partners only).
    AdaptationAdmin,
    /// Operator of the serving organisation: full rights on the partner's clients (partners; at the vendor, a vendor manager).
    ServiceOperator,
}

macro_rules! string_enum {
    ($ty:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $ty {
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $text),+ }
            }
        }
        impl FromStr for $ty {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s { $($text => Ok($ty::$variant),)+ other => Err(format!("unknown {} {other:?}", stringify!($ty))) }
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(self.as_str()) }
        }
    };
}

impl Role {
    /// Roles only an `OWNER` grants and takes away (docs/rules.md §1–2): an `ADMIN` manages `USER`, `ADMIN` and
    /// `ADAPTATION_ADMIN` only.
    pub fn needs_owner(self) -> bool {
        matches!(self, Role::Owner | Role::ServiceOperator)
    }
}

string_enum!(SubscriberKind { Client => "CLIENT", Partner => "PARTNER", Vendor => "VENDOR" });
string_enum!(Role {
    User => "USER",
    Admin => "ADMIN",
    Owner => "OWNER",
    AdaptationAdmin => "ADAPTATION_ADMIN",
    ServiceOperator => "SERVICE_OPERATOR",
});

impl Role {
    /// Whether a subscriber of this kind may have a member with this role: adaptation administrators
    /// exist only at partners; service operators at partners and at the vendor (vendor managers).
    pub fn allowed_in(self, kind: SubscriberKind) -> bool {
        match self {
            Role::User | Role::Admin | Role::Owner => true,
            Role::AdaptationAdmin => kind == SubscriberKind::Partner,
            Role::ServiceOperator => kind != SubscriberKind::Client,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partner_only_roles_are_refused_elsewhere() {
        assert!(Role::AdaptationAdmin.allowed_in(SubscriberKind::Partner));
        assert!(!Role::AdaptationAdmin.allowed_in(SubscriberKind::Client));
        assert!(!Role::AdaptationAdmin.allowed_in(SubscriberKind::Vendor));
        assert!(Role::ServiceOperator.allowed_in(SubscriberKind::Partner));
        assert!(Role::ServiceOperator.allowed_in(SubscriberKind::Vendor));
        assert!(!Role::ServiceOperator.allowed_in(SubscriberKind::Client));
        for kind in SubscriberKind::ALL {
            for role in [Role::User, Role::Admin, Role::Owner] {
                assert!(role.allowed_in(*kind));
            }
        }
    }

    #[test]
    fn names_round_trip() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>().unwrap(), *r);
        }
        for k in SubscriberKind::ALL {
            assert_eq!(k.as_str().parse::<SubscriberKind>().unwrap(), *k);
        }
        assert!("owner".parse::<Role>().is_err());
    }
}
