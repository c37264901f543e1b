//! How a client came to be bound to its serving partner.

use std::str::FromStr;

/// The way a client got bound to a partner (SPEC §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, async_graphql::Enum)]
pub enum BindingSource {
    /// The partner registered the client.
    PartnerRegistered,
    /// The client self-registered with the partner's referral code.
    ReferralLink,
    /// The client applied the partner's bonus promo code.
    BonusPromo,
    /// The client used the partner's personal discount code on a move to paid or a higher tariff.
    DiscountPromo,
    /// The client paid the partner's invoice.
    PartnerInvoice,
    /// Assigned automatically from the lead pool.
    LeadDistribution,
    /// Imported by the vendor.
    Import,
}

impl BindingSource {
    pub fn as_str(self) -> &'static str {
        match self {
            BindingSource::PartnerRegistered => "PARTNER_REGISTERED",
            BindingSource::ReferralLink => "REFERRAL_LINK",
            BindingSource::BonusPromo => "BONUS_PROMO",
            BindingSource::DiscountPromo => "DISCOUNT_PROMO",
            BindingSource::PartnerInvoice => "PARTNER_INVOICE",
            BindingSource::LeadDistribution => "LEAD_DISTRIBUTION",
            BindingSource::Import => "IMPORT",
        }
    }
}

impl FromStr for BindingSource {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            BindingSource::PartnerRegistered,
            BindingSource::ReferralLink,
            BindingSource::BonusPromo,
            BindingSource::DiscountPromo,
            BindingSource::PartnerInvoice,
            BindingSource::LeadDistribution,
            BindingSource::Import,
        ]
        .into_iter()
        .find(|b| b.as_str() == s)
        .ok_or_else(|| format!("unknown binding source {s:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in [
            "PARTNER_REGISTERED",
            "REFERRAL_LINK",
            "BONUS_PROMO",
            "DISCOUNT_PROMO",
            "PARTNER_INVOICE",
            "LEAD_DISTRIBUTION",
            "IMPORT",
        ] {
            assert_eq!(s.parse::<BindingSource>().unwrap().as_str(), s);
        }
        assert!("import".parse::<BindingSource>().is_err());
    }
}
