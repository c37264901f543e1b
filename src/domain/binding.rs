//! How a client came to be bound to its serving partner.

pub use entity::enums::BindingSource;

/// What a binding action would do to a client's serving partner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindingDecision {
    /// The client was unbound and becomes bound.
    Bind,
    /// The client moves from another partner to this one.
    Rebind,
    /// Nothing changes; the reason says why.
    Keep(&'static str),
}

impl BindingDecision {
    pub fn changes(self) -> bool {
        matches!(self, BindingDecision::Bind | BindingDecision::Rebind)
    }
}

/// The precedence of docs/rules.md §8: which ways of binding take a client that another partner holds.
/// `upgrade` is the discount-code condition: the payment moves the client from free to paid, or to a
/// higher tariff.
pub fn decide_binding<P: PartialEq>(
    source: BindingSource,
    current: Option<&P>,
    candidate: &P,
    upgrade: bool,
) -> BindingDecision {
    if current == Some(candidate) {
        return BindingDecision::Keep("ALREADY_BOUND");
    }
    let takes_from_another = match source {
        // These bind only a client no partner holds.
        BindingSource::PartnerRegistered
        | BindingSource::ReferralLink
        | BindingSource::BonusPromo
        | BindingSource::LeadDistribution => false,
        // A paid partner invoice, a vendor import and a vendor assignment rebind whoever held the client.
        BindingSource::PartnerInvoice | BindingSource::Import | BindingSource::VendorAssigned => true,
        BindingSource::DiscountPromo => {
            if !upgrade {
                return BindingDecision::Keep("NOT_AN_UPGRADE");
            }
            true
        }
    };
    match current {
        None => BindingDecision::Bind,
        Some(_) if takes_from_another => BindingDecision::Rebind,
        Some(_) => BindingDecision::Keep("BOUND_TO_ANOTHER_PARTNER"),
    }
}

/// The decision in words, for `bindingQuote` and support staff.
pub fn explain_binding(source: BindingSource, decision: BindingDecision) -> String {
    let how = match source {
        BindingSource::PartnerRegistered => "registering the client",
        BindingSource::ReferralLink => "self-registration with the referral link",
        BindingSource::BonusPromo => "a bonus promo code",
        BindingSource::DiscountPromo => "a personal discount code",
        BindingSource::PartnerInvoice => "paying the partner's invoice",
        BindingSource::LeadDistribution => "lead distribution",
        BindingSource::Import => "a vendor import",
        BindingSource::VendorAssigned => "an assignment by the vendor",
    };
    match decision {
        BindingDecision::Bind => format!("The client is not bound to a partner: {how} binds it to this partner."),
        BindingDecision::Rebind => {
            format!("The client is bound to another partner, and {how} rebinds even then: it moves to this partner.")
        }
        BindingDecision::Keep("ALREADY_BOUND") => {
            "The client is already bound to this partner: nothing changes.".into()
        }
        BindingDecision::Keep("NOT_AN_UPGRADE") => format!(
            "{how} binds only when the client moves from free to paid or to a higher tariff; this payment does neither."
        ),
        BindingDecision::Keep(_) => {
            format!(
                "The client is bound to another partner, and {how} binds only a client no partner holds: no change."
            )
        }
    }
}

#[cfg(test)]
mod precedence {
    use super::*;
    use BindingDecision::*;
    use BindingSource::*;

    const A: &str = "A";
    const B: &str = "B";

    /// One row per way of binding (docs/rules.md §8): unbound client, client of another partner, client of this
    /// partner.
    #[test]
    fn each_source_binds_as_the_table_says() {
        let rows: [(BindingSource, bool, [BindingDecision; 3]); 9] = [
            (PartnerRegistered, false, [Bind, Keep("BOUND_TO_ANOTHER_PARTNER"), Keep("ALREADY_BOUND")]),
            (ReferralLink, false, [Bind, Keep("BOUND_TO_ANOTHER_PARTNER"), Keep("ALREADY_BOUND")]),
            (BonusPromo, false, [Bind, Keep("BOUND_TO_ANOTHER_PARTNER"), Keep("ALREADY_BOUND")]),
            (DiscountPromo, true, [Bind, Rebind, Keep("ALREADY_BOUND")]),
            (DiscountPromo, false, [Keep("NOT_AN_UPGRADE"), Keep("NOT_AN_UPGRADE"), Keep("ALREADY_BOUND")]),
            (PartnerInvoice, false, [Bind, Rebind, Keep("ALREADY_BOUND")]),
            (LeadDistribution, false, [Bind, Keep("BOUND_TO_ANOTHER_PARTNER"), Keep("ALREADY_BOUND")]),
            (Import, false, [Bind, Rebind, Keep("ALREADY_BOUND")]),
            (VendorAssigned, false, [Bind, Rebind, Keep("ALREADY_BOUND")]),
        ];
        for (source, upgrade, [unbound, other, same]) in rows {
            assert_eq!(decide_binding(source, None, &A, upgrade), unbound, "{source:?} unbound");
            assert_eq!(decide_binding(source, Some(&B), &A, upgrade), other, "{source:?} bound to another");
            assert_eq!(decide_binding(source, Some(&A), &A, upgrade), same, "{source:?} bound to this one");
            assert!(!explain_binding(source, unbound).is_empty());
        }
    }
}
