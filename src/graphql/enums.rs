//! The GraphQL faces of the stored and derived enumerations: same names and values as the API has always
//! had, each converting to and from its stored or domain twin at the edge, so that neither the entity crate
//! nor `domain/` knows about GraphQL.

use entity::enums as stored;

use crate::domain::subscription as domain_subscription;

/// Declares a GraphQL enum that mirrors `$src` variant for variant, with `From` both ways.
macro_rules! mirror_enum {
    ($(#[$m:meta])* $ty:ident = $src:ty { $($(#[$vm:meta])* $variant:ident),+ $(,)? }) => {
        #[derive(async_graphql::Enum, Debug, Clone, Copy, PartialEq, Eq, Hash)]
        $(#[$m])*
        pub enum $ty {
            $($(#[$vm])* $variant),+
        }

        impl From<$src> for $ty {
            fn from(v: $src) -> Self {
                type Src = $src;
                match v { $(Src::$variant => $ty::$variant),+ }
            }
        }

        impl From<$ty> for $src {
            fn from(v: $ty) -> Self {
                type Src = $src;
                match v { $($ty::$variant => Src::$variant),+ }
            }
        }
    };
}

mirror_enum!(
    /// The kind of a subscriber account.
    SubscriberKind = stored::SubscriberKind {
        /// A customer of the vendor's applications.
        Client,
        /// A reseller, integrator or franchisee.
        Partner,
        /// The vendor itself (exactly one per deployment).
        Vendor,
    }
);

mirror_enum!(
    /// A member's role within one subscriber.
    Role = stored::Role {
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
);

mirror_enum!(
    /// The way a client got bound to a partner (docs/rules.md §8).
    BindingSource = stored::BindingSource {
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
        /// Bound, rebound or unbound by the vendor's staff (`assignClient`), with a reason.
        VendorAssigned,
    }
);

mirror_enum!(
    /// Where a subscription stands, derived from its dates.
    SubscriptionStatus = domain_subscription::SubscriptionStatus {
        /// A trial that has not ended.
        Trial,
        /// Paid (or free by basis) and not ended.
        Active,
        /// Past its end date.
        Expired,
        /// Cancelled.
        Cancelled,
    }
);

mirror_enum!(
    /// Why a subscription exists.
    SubscriptionBasis = stored::SubscriptionBasis {
        /// A free trial of the tariff.
        Trial,
        /// Paid by payments.
        Paid,
        /// A client with an active ITS PROF contract (no payment, no commission).
        ItsProf,
        /// The free Partner tariff of a partner with an active contract.
        PartnerFree,
    }
);

mirror_enum!(
    /// How the money came.
    PaymentChannel = stored::PaymentChannel {
        /// The client paid the vendor.
        Direct,
        /// The client paid an invoice the partner issued.
        PartnerInvoice,
    }
);

mirror_enum!(
    /// Where a ledger entry stands.
    CommissionStatus = stored::CommissionStatus {
        /// Earned, awaiting the vendor's approval.
        Accrued,
        /// Approved for payout.
        Approved,
        /// Paid out.
        Paid,
        /// A reversing entry (negative amount) for a refunded payment.
        Reversed,
    }
);

mirror_enum!(
    /// Why a client left.
    ChurnReason = stored::ChurnReason {
        Price,
        NotNeeded,
        ChoseCompetitor,
        MissingFeatures,
        TechnicalProblems,
        NoInternet,
        WentLocal,
        Other,
    }
);

mirror_enum!(
    /// Which purchases of a client a rule covers.
    #[graphql(name = "PurchaseOrdinal")]
    Purchase = stored::Purchase {
        /// The client's first payment ever.
        First,
        /// Every payment after the first.
        Subsequent,
        /// Any payment.
        Any,
    }
);

mirror_enum!(
    /// The two kinds of promo code.
    PromoKind = stored::PromoKind {
        /// A bonus on top of the client's plan; usable by many clients, each once.
        Bonus,
        /// A personal, single-use discount for one client.
        Discount,
    }
);

mirror_enum!(
    /// What a bonus code gives.
    BonusType = stored::BonusType {
        /// 12 extra users.
        ExtraUsers,
        /// 5 GB of extra storage.
        ExtraStorage,
    }
);

mirror_enum!(
    /// Why a task exists.
    TaskKind = stored::TaskKind {
        /// Call a new client within a day of its registration or lead assignment.
        WelcomeCall,
        /// Call 10 to 14 days into a trial.
        TrialCheckIn,
        /// Call 7 days before a trial ends.
        TrialEnding,
        /// Ask why a client left after its trial, and record the reason.
        ChurnReason,
    }
);

mirror_enum!(
    /// Where a task stands.
    TaskStatus = stored::TaskStatus {
        /// To do.
        Open,
        /// Done, with an outcome note.
        Done,
        /// No longer needed (e.g. the client paid before the trial-ending call).
        Cancelled,
    }
);

mirror_enum!(
    /// Where an invitation stands.
    InvitationStatus = stored::InvitationStatus {
        /// Sent and still valid.
        Pending,
        /// Accepted: the membership exists.
        Accepted,
        /// Voided by an administrator.
        Revoked,
        /// Not accepted in time.
        Expired,
    }
);

mirror_enum!(
    /// Where a stop-list entry stands.
    StopListStatus = stored::StopListStatus {
        /// Waiting for the vendor.
        Requested,
        /// An active lock.
        Approved,
        /// Refused by the vendor.
        Rejected,
        /// A lock past its end.
        Expired,
    }
);

mirror_enum!(
    /// Where a deal is in the pipeline. Any move is allowed; `WON` and `LOST` close the deal.
    DealStage = stored::DealStage {
        /// Just in (the default for a new deal).
        New,
        /// The need and the budget are confirmed.
        Qualified,
        /// An offer has been sent.
        Proposal,
        /// Terms are being agreed.
        Negotiation,
        /// Closed: the client bought.
        Won,
        /// Closed: the client did not buy.
        Lost,
    }
);

mirror_enum!(
    /// Where a delivery stands.
    #[graphql(name = "WebhookDeliveryStatus")]
    DeliveryStatus = stored::DeliveryStatus {
        /// Not delivered yet: the next attempt is due at `nextAttemptAt`.
        Pending,
        /// The endpoint answered 2xx.
        Delivered,
        /// Every attempt of the retry schedule failed.
        Failed,
    }
);

mirror_enum!(
    /// What an e-mail is about.
    NotificationKind = stored::OutboxKind {
        /// An invitation with its accept link.
        Invitation,
        /// The Monday digest to a partner's service operator.
        WeeklyDigest,
        /// A lead assigned to a partner.
        NewLead,
        /// A password-reset link (its body, with the one-time token, is redacted once sent).
        PasswordReset,
    }
);

mirror_enum!(
    /// Where an e-mail is in the outbox.
    NotificationStatus = stored::OutboxStatus {
        /// Not sent yet: waiting for its first attempt or for a retry.
        Pending,
        /// Accepted by the mail server.
        Sent,
        /// Never sent: the invitation it carried was accepted, revoked, expired or re-sent before it went out,
        /// or the reset link it carried was used, voided or expired.
        Cancelled,
    }
);
