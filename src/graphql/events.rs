//! The `events` subscription: live events for the caller's partner, served over WebSocket
//! (`graphql-transport-ws` at `/graphql/ws`).

use async_graphql::{Context, ID, Object, Subscription};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;

use super::context::{scope, state};
use crate::events::{PartnerEvent, PartnerEventKind};

/// All subscriptions (over WebSocket only).
#[derive(Default)]
pub struct SubscriptionRoot;

/// All subscriptions (over WebSocket only).
#[Subscription]
impl SubscriptionRoot {
    /// Live events for the caller's partner, from the moment of subscribing (nothing is replayed).
    /// Partner OWNER or SERVICE_OPERATOR only.
    async fn events(&self, ctx: &Context<'_>) -> async_graphql::Result<BoxStream<'static, PartnerEventOutput>> {
        let p = scope(ctx)?;
        p.require(p.serves_clients(), "follow a partner's events")?;
        Ok(state(ctx).events.subscribe(p.subscriber_id).map(PartnerEventOutput).boxed())
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
    async fn message(&self) -> &str {
        &self.0.message
    }
}
