//! Subscriptions, payments and the ledger's enumerations, and the subscription status, which follows from
//! dates so that reading it never depends on a background job.

use chrono::{DateTime, Utc};

pub use entity::enums::{ChurnReason, CommissionStatus, PaymentChannel, SubscriptionBasis};

/// Where a subscription stands, derived from its dates (never stored).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubscriptionStatus {
    /// A trial that has not ended.
    Trial,
    /// Paid (or free by basis) and not ended.
    Active,
    /// Past its end date.
    Expired,
    /// Cancelled.
    Cancelled,
}

impl SubscriptionStatus {
    pub fn at(
        basis: SubscriptionBasis,
        ends_at: DateTime<Utc>,
        cancelled_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Self {
        match (cancelled_at, basis) {
            (Some(_), _) => SubscriptionStatus::Cancelled,
            _ if ends_at <= now => SubscriptionStatus::Expired,
            (None, SubscriptionBasis::Trial) => SubscriptionStatus::Trial,
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
        assert_eq!(SubscriptionStatus::at(SubscriptionBasis::Trial, later, None, now), SubscriptionStatus::Trial);
        assert_eq!(SubscriptionStatus::at(SubscriptionBasis::Paid, later, None, now), SubscriptionStatus::Active);
        assert_eq!(SubscriptionStatus::at(SubscriptionBasis::Paid, now, None, now), SubscriptionStatus::Expired);
        assert_eq!(
            SubscriptionStatus::at(SubscriptionBasis::Trial, now - Duration::days(1), None, now),
            SubscriptionStatus::Expired
        );
        assert_eq!(
            SubscriptionStatus::at(SubscriptionBasis::Paid, later, Some(now), now),
            SubscriptionStatus::Cancelled
        );
    }
}
