//! Subscriber kinds and the five roles, with the rules of which role exists where.

pub use entity::enums::{Role, SubscriberKind};

/// Roles only an `OWNER` grants and takes away (docs/rules.md §1–2): an `ADMIN` manages `USER`, `ADMIN` and
/// `ADAPTATION_ADMIN` only.
pub fn needs_owner(role: Role) -> bool {
    matches!(role, Role::Owner | Role::ServiceOperator)
}

/// Whether a subscriber of this kind may have a member with this role: adaptation administrators
/// exist only at partners; service operators at partners and at the vendor (vendor managers).
pub fn allowed_in(role: Role, kind: SubscriberKind) -> bool {
    match role {
        Role::User | Role::Admin | Role::Owner => true,
        Role::AdaptationAdmin => kind == SubscriberKind::Partner,
        Role::ServiceOperator => kind != SubscriberKind::Client,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partner_only_roles_are_refused_elsewhere() {
        assert!(allowed_in(Role::AdaptationAdmin, SubscriberKind::Partner));
        assert!(!allowed_in(Role::AdaptationAdmin, SubscriberKind::Client));
        assert!(!allowed_in(Role::AdaptationAdmin, SubscriberKind::Vendor));
        assert!(allowed_in(Role::ServiceOperator, SubscriberKind::Partner));
        assert!(allowed_in(Role::ServiceOperator, SubscriberKind::Vendor));
        assert!(!allowed_in(Role::ServiceOperator, SubscriberKind::Client));
        for kind in SubscriberKind::ALL {
            for role in [Role::User, Role::Admin, Role::Owner] {
                assert!(allowed_in(role, *kind));
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
