//! The `events` subscription: live events for the caller's partner, served over WebSocket
//! (`graphql-transport-ws` at `/graphql/ws`). Each event is delivered only after the socket's caller is
//! checked again (membership and role as of that moment, like an HTTP request) and only when that role
//! is in the event kind's audience.

use std::sync::Arc;

use async_graphql::{Context, ID, Object, Subscription};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;

use super::context::{scope, state};
use crate::domain::money::format_minor;
use crate::events::{EventDetail, PartnerEvent, PartnerEventKind};
use crate::ws::LiveCaller;

/// All subscriptions (over WebSocket only).
#[derive(Default)]
pub struct SubscriptionRoot;

/// All subscriptions (over WebSocket only).
#[Subscription]
impl SubscriptionRoot {
    /// Live events for the caller's partner, from the moment of subscribing (nothing is replayed).
    /// Partner OWNER or SERVICE_OPERATOR only; COMMISSION_ACCRUED reaches the OWNER only.
    async fn events(&self, ctx: &Context<'_>) -> async_graphql::Result<BoxStream<'static, PartnerEventOutput>> {
        let p = scope(ctx)?;
        p.require(p.serves_clients(), "follow a partner's events")?;
        let partner = p.subscriber_id;
        // Without a socket's live caller there is nobody to check at delivery: nothing is delivered.
        let caller = ctx.data_opt::<Arc<LiveCaller>>().cloned();
        let events = state(ctx).events.subscribe(partner).filter_map(move |event| {
            let caller = caller.clone();
            async move {
                let now = caller?.current().await?;
                event.kind.reaches(&now, partner).then_some(PartnerEventOutput(event))
            }
        });
        Ok(events.boxed())
    }
}

/// Something that just happened to a partner.
pub struct PartnerEventOutput(PartnerEvent);

/// Something that just happened to a partner.
#[Object(name = "PartnerEvent")]
impl PartnerEventOutput {
    /// What happened.
    async fn kind(&self) -> PartnerEventKind {
        self.0.kind
    }

    /// When it happened.
    async fn at(&self) -> DateTime<Utc> {
        self.0.at
    }

    /// The record it is about: the lead, invitation, payment, commission or stop-list entry, by `kind`.
    async fn subject_id(&self) -> ID {
        ID(self.0.subject_id.to_string())
    }

    /// A short human-readable line.
    async fn message(&self) -> String {
        message(&self.0.detail)
    }
}

/// The line a person reads for an event's facts.
fn message(detail: &EventDetail) -> String {
    match detail {
        EventDetail::LeadAssigned { client } => format!("New lead: {client}"),
        EventDetail::InvitationAccepted { user, subscriber, role } => {
            format!("{user} joined {subscriber} as {}", role.as_str())
        }
        EventDetail::PaymentRecorded { client, amount_minor, months, tariff } => {
            format!("{client} paid {} for {months} month(s) of {tariff}", format_minor(*amount_minor))
        }
        EventDetail::CommissionAccrued { client, amount_minor } => {
            format!("a commission of {} accrued on a payment of {client}", format_minor(*amount_minor))
        }
        EventDetail::StopListDecided { inn, approved } => {
            let verdict = if *approved { "approved" } else { "rejected" };
            format!("the stop-list request for INN {inn} was {verdict}")
        }
    }
}
