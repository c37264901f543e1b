//! Subscriptions, payments and the ledger's enumerations, and the subscription status, which follows from
//! dates so that reading it never depends on a background job.

use std::str::FromStr;

use chrono::{DateTime, Utc};

macro_rules! db_enum {
    ($(#[$m:meta])* $ty:ident { $($(#[$vm:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, async_graphql::Enum)]
        pub enum $ty { $($(#[$vm])* $variant),+ }
        impl $ty {
            pub fn as_str(self) -> &'static str { match self { $($ty::$variant => $text),+ } }
        }
        impl FromStr for $ty {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s { $($text => Ok($ty::$variant),)+ other => Err(format!("unknown {} {other:?}", stringify!($ty))) }
            }
        }
    };
}
pub(crate) use db_enum;

db_enum!(
    /// Where a subscription stands, derived from its dates.
    SubscriptionStatus {
        /// A trial that has not ended.
        Trial => "TRIAL",
        /// Paid (or free by basis) and not ended.
        Active => "ACTIVE",
        /// Past its end date.
        Expired => "EXPIRED",
        /// Cancelled.
        Cancelled => "CANCELLED",
    }
);

db_enum!(
    /// Why a subscription exists.
    SubscriptionBasis {
        /// A free trial of the tariff.
        Trial => "TRIAL",
        /// Paid by payments.
        Paid => "PAID",
        /// A client with an active ITS PROF contract (no payment, no commission).
        ItsProf => "ITS_PROF",
        /// The free Partner tariff of a partner with an active contract.
        PartnerFree => "PARTNER_FREE",
    }
);

db_enum!(
    /// How the money came.
    PaymentChannel {
        /// The client paid the vendor.
        Direct => "DIRECT",
        /// The client paid an invoice the partner issued.
        PartnerInvoice => "PARTNER_INVOICE",
    }
);

db_enum!(
    /// Where a ledger entry stands.
    CommissionStatus {
        /// Earned, awaiting the vendor's approval.
        Accrued => "ACCRUED",
        /// Approved for payout.
        Approved => "APPROVED",
        /// Paid out.
        Paid => "PAID",
        /// A reversing entry (negative amount) for a refunded payment.
        Reversed => "REVERSED",
    }
);

db_enum!(
    /// Why a client left.
    ChurnReason {
        Price => "PRICE",
        NotNeeded => "NOT_NEEDED",
        ChoseCompetitor => "CHOSE_COMPETITOR",
        MissingFeatures => "MISSING_FEATURES",
        TechnicalProblems => "TECHNICAL_PROBLEMS",
        NoInternet => "NO_INTERNET",
        WentLocal => "WENT_LOCAL",
        Other => "OTHER",
    }
);

impl SubscriptionStatus {
    pub fn at(basis: &str, ends_at: DateTime<Utc>, cancelled_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Self {
        match (cancelled_at, basis) {
            (Some(_), _) => SubscriptionStatus::Cancelled,
            _ if ends_at <= now => SubscriptionStatus::Expired,
            (None, "TRIAL") => SubscriptionStatus::Trial,
            (None, _) => SubscriptionStatus::Active,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn status_follows_from_dates() {
        let now = Utc::now();
        let later = now + Duration::days(1);
        assert_eq!(SubscriptionStatus::at("TRIAL", later, None, now), SubscriptionStatus::Trial);
        assert_eq!(SubscriptionStatus::at("PAID", later, None, now), SubscriptionStatus::Active);
        assert_eq!(SubscriptionStatus::at("PAID", now, None, now), SubscriptionStatus::Expired);
        assert_eq!(SubscriptionStatus::at("TRIAL", now - Duration::days(1), None, now), SubscriptionStatus::Expired);
        assert_eq!(SubscriptionStatus::at("PAID", later, Some(now), now), SubscriptionStatus::Cancelled);
    }

    #[test]
    fn names_round_trip() {
        for s in ["TRIAL", "ACTIVE", "EXPIRED", "CANCELLED"] {
            assert_eq!(s.parse::<SubscriptionStatus>().unwrap().as_str(), s);
        }
        for s in ["PRICE", "WENT_LOCAL", "OTHER"] {
            assert_eq!(s.parse::<ChurnReason>().unwrap().as_str(), s);
        }
    }
}
