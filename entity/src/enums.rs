//! The closed sets of values that enumerated columns hold, as SeaORM active enums. Each column keeps its
//! text type and the stored strings stay exactly as the migrations and older rows have them; a row with a
//! string outside its set reads as a database type error (an internal error with the cause logged), never a
//! panic. The rules about these values live in `src/domain`, their GraphQL faces in `src/graphql`.
//!
//! Columns that hold data rather than a closed set stay strings: a program's partner status codes (`CSK`,
//! `GOLD`, …: `partner_statuses.status`, `commission_rules.status`, `programs.promo_min_status` and
//! `lead_min_status`), its product categories (`tariffs.category`, `commission_rules.category`), the audit
//! log's operation names and outcomes, and reasons and notes typed by people.

use std::fmt;
use std::str::FromStr;

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// Declares a stored enum: each variant with the exact string its column holds.
macro_rules! stored_enum {
    ($(#[$m:meta])* $ty:ident { $($(#[$vm:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
        #[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
        pub enum $ty {
            $($(#[$vm])* #[sea_orm(string_value = $text)] #[serde(rename = $text)] $variant),+
        }

        impl $ty {
            /// Every value, in declaration order.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            /// The stored string.
            pub fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $text),+ }
            }
        }

        impl FromStr for $ty {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($ty::$variant),)+
                    other => Err(format!("unknown {} {:?}", stringify!($ty), other)),
                }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

stored_enum!(
    /// The kind of a subscriber account (`subscribers.kind`).
    SubscriberKind { Client => "CLIENT", Partner => "PARTNER", Vendor => "VENDOR" }
);

stored_enum!(
    /// A member's role within one subscriber (`memberships`, `invitations`, `api_keys`, `audit_log`, and the
    /// access token's `role` claim).
    Role {
        User => "USER",
        Admin => "ADMIN",
        Owner => "OWNER",
        AdaptationAdmin => "ADAPTATION_ADMIN",
        ServiceOperator => "SERVICE_OPERATOR",
    }
);

stored_enum!(
    /// How a client came to be bound to its serving partner (`subscribers.binding_source`,
    /// `binding_changes.source`).
    BindingSource {
        PartnerRegistered => "PARTNER_REGISTERED",
        ReferralLink => "REFERRAL_LINK",
        BonusPromo => "BONUS_PROMO",
        DiscountPromo => "DISCOUNT_PROMO",
        PartnerInvoice => "PARTNER_INVOICE",
        LeadDistribution => "LEAD_DISTRIBUTION",
        Import => "IMPORT",
        VendorAssigned => "VENDOR_ASSIGNED",
    }
);

stored_enum!(
    /// Why a subscription exists (`subscriptions.basis`).
    SubscriptionBasis { Trial => "TRIAL", Paid => "PAID", ItsProf => "ITS_PROF", PartnerFree => "PARTNER_FREE" }
);

stored_enum!(
    /// How the money came (`payments.channel`).
    PaymentChannel { Direct => "DIRECT", PartnerInvoice => "PARTNER_INVOICE" }
);

stored_enum!(
    /// Where a ledger entry stands (`commissions.status`).
    CommissionStatus { Accrued => "ACCRUED", Approved => "APPROVED", Paid => "PAID", Reversed => "REVERSED" }
);

stored_enum!(
    /// Why a client left (`subscriptions.churn_reason`, `churn_records.reason`).
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

stored_enum!(
    /// Which purchases of a client a commission rule covers (`commission_rules.purchase`).
    Purchase { First => "FIRST", Subsequent => "SUBSEQUENT", Any => "ANY" }
);

stored_enum!(
    /// The kind of a promo code (`promo_codes.kind`, `promo_redemptions.kind`).
    PromoKind { Bonus => "BONUS", Discount => "DISCOUNT" }
);

stored_enum!(
    /// What a bonus code gives (`promo_codes.bonus`).
    BonusType { ExtraUsers => "EXTRA_USERS", ExtraStorage => "EXTRA_STORAGE" }
);

stored_enum!(
    /// Why a task exists (`tasks.kind`).
    TaskKind {
        WelcomeCall => "WELCOME_CALL",
        TrialCheckIn => "TRIAL_CHECK_IN",
        TrialEnding => "TRIAL_ENDING",
        ChurnReason => "CHURN_REASON",
    }
);

stored_enum!(
    /// Where a task stands (`tasks.status`).
    TaskStatus { Open => "OPEN", Done => "DONE", Cancelled => "CANCELLED" }
);

stored_enum!(
    /// Where an invitation stands (`invitations.status`); a pending one past its date reads as expired
    /// before the sweep writes `EXPIRED`.
    InvitationStatus { Pending => "PENDING", Accepted => "ACCEPTED", Revoked => "REVOKED", Expired => "EXPIRED" }
);

stored_enum!(
    /// Where a stop-list entry stands (`stop_list.status`); an approved lock past its end reads as expired
    /// before the sweep writes `EXPIRED`.
    StopListStatus { Requested => "REQUESTED", Approved => "APPROVED", Rejected => "REJECTED", Expired => "EXPIRED" }
);

stored_enum!(
    /// Where a CRM deal is in the pipeline (`crm_deals.stage`).
    DealStage {
        New => "NEW",
        Qualified => "QUALIFIED",
        Proposal => "PROPOSAL",
        Negotiation => "NEGOTIATION",
        Won => "WON",
        Lost => "LOST",
    }
);

stored_enum!(
    /// Where a webhook delivery stands (`webhook_deliveries.status`).
    DeliveryStatus { Pending => "PENDING", Delivered => "DELIVERED", Failed => "FAILED" }
);

stored_enum!(
    /// What an e-mail in the outbox is about (`outbox_messages.kind`).
    OutboxKind {
        Invitation => "INVITATION",
        WeeklyDigest => "WEEKLY_DIGEST",
        NewLead => "NEW_LEAD",
        PasswordReset => "PASSWORD_RESET",
    }
);

stored_enum!(
    /// Where an e-mail is in the outbox (`outbox_messages.status`; the values its CHECK constraint allows).
    OutboxStatus { Pending => "PENDING", Sent => "SENT", Cancelled => "CANCELLED" }
);

stored_enum!(
    /// Where an idempotency claim stands (`idempotency_keys.status`).
    IdempotencyStatus { Running => "RUNNING", Done => "DONE" }
);

#[cfg(test)]
mod tests {
    use sea_orm::ActiveEnum;

    use super::*;

    fn round_trips<E: ActiveEnum<Value = String> + FromStr + fmt::Display + Copy + PartialEq + fmt::Debug>(all: &[E]) {
        for v in all {
            let text = v.to_string();
            assert_eq!(v.to_value(), text);
            assert_eq!(E::try_from_value(&text).ok(), Some(*v));
            assert_eq!(text.parse::<E>().ok(), Some(*v));
        }
        assert!(E::try_from_value(&"no such value".to_owned()).is_err());
    }

    #[test]
    fn every_stored_string_reads_back_as_its_value_and_unknown_strings_are_errors() {
        round_trips(SubscriberKind::ALL);
        round_trips(Role::ALL);
        round_trips(BindingSource::ALL);
        round_trips(SubscriptionBasis::ALL);
        round_trips(PaymentChannel::ALL);
        round_trips(CommissionStatus::ALL);
        round_trips(ChurnReason::ALL);
        round_trips(Purchase::ALL);
        round_trips(PromoKind::ALL);
        round_trips(BonusType::ALL);
        round_trips(TaskKind::ALL);
        round_trips(TaskStatus::ALL);
        round_trips(InvitationStatus::ALL);
        round_trips(StopListStatus::ALL);
        round_trips(DealStage::ALL);
        round_trips(DeliveryStatus::ALL);
        round_trips(OutboxKind::ALL);
        round_trips(OutboxStatus::ALL);
        round_trips(IdempotencyStatus::ALL);
    }
}
