//! Outbound webhooks: `webhookEventTypes`, `webhookEndpoints`, `webhookDeliveries`,
//! `createWebhookEndpoint`, `updateWebhookEndpoint`, `deleteWebhookEndpoint`, `rotateWebhookSecret`,
//! `sendTestWebhook`, `redeliverWebhook`.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::webhook_endpoint;

use super::context::{Conn, GqlResult, audit_target, connection, page_args, resource_id, scope, state};
use super::enums::DeliveryStatus;
use crate::domain::webhook::{EventType, split_event_types};
use crate::service::webhooks::deliveries::{self, WithEndpoint};
use crate::service::webhooks::endpoints::{self, EndpointInput};

/// An HTTPS endpoint that receives the events it chose, signed per Standard Webhooks. Its secret is
/// shown only when created or rotated.
pub struct WebhookEndpoint(pub webhook_endpoint::Model);

#[Object]
impl WebhookEndpoint {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// Where events are POSTed.
    async fn url(&self) -> &str {
        &self.0.url
    }
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    /// The event types it receives (see `webhookEventTypes`).
    async fn event_types(&self) -> Vec<&'static str> {
        split_event_types(&self.0.event_types).into_iter().map(EventType::as_str).collect()
    }
    /// A disabled endpoint gets nothing queued, and what was queued waits until it is enabled again.
    async fn enabled(&self) -> bool {
        self.0.enabled
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
    /// Until when the secret replaced by the last rotation still signs (a second signature), if it does.
    async fn previous_secret_expires_at(&self, ctx: &Context<'_>) -> Option<DateTime<Utc>> {
        self.0.previous_secret_until.filter(|t| *t > state(ctx).clock.now())
    }
}

/// An endpoint with its signing secret (`whsec_…`), shown this once.
#[derive(SimpleObject)]
pub struct WebhookEndpointPayload {
    pub endpoint: WebhookEndpoint,
    /// The signing secret: keep it; it is not shown again.
    pub secret: String,
}

/// One message to one endpoint and its attempts.
pub struct WebhookDelivery(pub WithEndpoint);

#[Object]
impl WebhookDelivery {
    async fn id(&self) -> ID {
        ID(self.0.0.id.to_string())
    }
    async fn endpoint(&self) -> WebhookEndpoint {
        WebhookEndpoint(self.0.1.clone())
    }
    async fn event_type(&self) -> &str {
        &self.0.0.event_type
    }
    /// The `webhook-id` header: the same on every attempt and redelivery of this message.
    async fn message_id(&self) -> &str {
        &self.0.0.message_id
    }
    /// The request body as sent (JSON).
    async fn payload(&self) -> &str {
        &self.0.0.payload
    }
    async fn status(&self) -> DeliveryStatus {
        self.0.0.status.into()
    }
    /// Attempts made so far.
    async fn attempts(&self) -> i32 {
        self.0.0.attempts
    }
    /// The HTTP status of the last answer, if there was one.
    async fn response_status(&self) -> Option<i32> {
        self.0.0.response_status
    }
    /// Why the last attempt failed, in a few words (never the response body).
    async fn last_error(&self) -> Option<&str> {
        self.0.0.last_error.as_deref()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.0.created_at
    }
    async fn last_attempt_at(&self) -> Option<DateTime<Utc>> {
        self.0.0.last_attempt_at
    }
    /// When the next attempt is due (pending deliveries).
    async fn next_attempt_at(&self) -> Option<DateTime<Utc>> {
        self.0.0.next_attempt_at
    }
    async fn delivered_at(&self) -> Option<DateTime<Utc>> {
        self.0.0.delivered_at
    }
}

#[derive(Default)]
pub struct WebhookQuery;

#[Object]
impl WebhookQuery {
    /// Every event type an endpoint may choose.
    async fn webhook_event_types(&self, ctx: &Context<'_>) -> GqlResult<Vec<&'static str>> {
        scope(ctx)?;
        Ok(EventType::ALL.into_iter().map(EventType::as_str).collect())
    }

    /// The caller's subscriber's webhook endpoints (a partner's `OWNER`; every role of the vendor for
    /// the vendor's).
    #[graphql(complexity = "first.unwrap_or(20).max(0) as usize * child_complexity")]
    async fn webhook_endpoints(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<Conn<WebhookEndpoint>> {
        let p = scope(ctx)?;
        let args = page_args(ctx, first, after)?;
        let page = endpoints::list(state(ctx), p, args).await?;
        Ok(connection(page, args.after.is_some(), |m| m.id, WebhookEndpoint))
    }

    /// The delivery log of the caller's subscriber's endpoints (of one endpoint when given), oldest first.
    /// Deliveries are kept 30 days.
    #[graphql(complexity = "first.unwrap_or(20).max(0) as usize * child_complexity")]
    async fn webhook_deliveries(
        &self,
        ctx: &Context<'_>,
        endpoint_id: Option<ID>,
        status: Option<DeliveryStatus>,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<Conn<WebhookDelivery>> {
        let p = scope(ctx)?;
        let endpoint = endpoint_id.as_ref().map(resource_id).transpose()?;
        let args = page_args(ctx, first, after)?;
        let page = deliveries::list(state(ctx), p, endpoint, status.map(Into::into), args).await?;
        Ok(connection(page, args.after.is_some(), |(d, _)| d.id, WebhookDelivery))
    }
}

/// An endpoint's settings.
#[derive(InputObject)]
pub struct WebhookEndpointInput {
    /// `https://` (and no private, loopback or link-local destination) unless private destinations are
    /// allowed (development).
    pub url: String,
    /// At least one of `webhookEventTypes`.
    pub event_types: Vec<String>,
    pub description: Option<String>,
    #[graphql(default = true)]
    pub enabled: bool,
}

impl From<WebhookEndpointInput> for EndpointInput {
    fn from(i: WebhookEndpointInput) -> Self {
        EndpointInput { url: i.url, event_types: i.event_types, description: i.description, enabled: i.enabled }
    }
}

#[derive(Default)]
pub struct WebhookMutation;

#[Object]
impl WebhookMutation {
    /// Registers an endpoint of the caller's subscriber; its signing secret is returned this once.
    async fn create_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        input: WebhookEndpointInput,
    ) -> GqlResult<WebhookEndpointPayload> {
        let p = scope(ctx)?;
        let (ep, secret) = endpoints::create(state(ctx), p, input.into()).await?;
        audit_target(ctx, ep.id);
        Ok(WebhookEndpointPayload { endpoint: WebhookEndpoint(ep), secret })
    }

    /// Replaces an endpoint's URL, event types, description and enabled flag (the secret stays).
    async fn update_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: WebhookEndpointInput,
    ) -> GqlResult<WebhookEndpoint> {
        let p = scope(ctx)?;
        let ep = endpoints::update(state(ctx), p, resource_id(&id)?, input.into()).await?;
        audit_target(ctx, ep.id);
        Ok(WebhookEndpoint(ep))
    }

    /// Deletes an endpoint and its delivery log.
    async fn delete_webhook_endpoint(&self, ctx: &Context<'_>, id: ID) -> GqlResult<ID> {
        let p = scope(ctx)?;
        let id = endpoints::delete(state(ctx), p, resource_id(&id)?).await?;
        audit_target(ctx, id);
        Ok(ID(id.to_string()))
    }

    /// A new signing secret, returned this once; the old one keeps signing too for 24 hours.
    async fn rotate_webhook_secret(&self, ctx: &Context<'_>, id: ID) -> GqlResult<WebhookEndpointPayload> {
        let p = scope(ctx)?;
        let (ep, secret) = endpoints::rotate(state(ctx), p, resource_id(&id)?).await?;
        audit_target(ctx, ep.id);
        Ok(WebhookEndpointPayload { endpoint: WebhookEndpoint(ep), secret })
    }

    /// Sends a `webhook.test` event to the endpoint, whatever event types it chose.
    async fn send_test_webhook(&self, ctx: &Context<'_>, endpoint_id: ID) -> GqlResult<WebhookDelivery> {
        let p = scope(ctx)?;
        let d = deliveries::send_test(state(ctx), p, resource_id(&endpoint_id)?).await?;
        audit_target(ctx, d.0.id);
        Ok(WebhookDelivery(d))
    }

    /// Sends a message again with the same `webhook-id` and body: a delivered or failed one as a new
    /// delivery, a pending one at once instead of at its next retry.
    async fn redeliver_webhook(&self, ctx: &Context<'_>, delivery_id: ID) -> GqlResult<WebhookDelivery> {
        let p = scope(ctx)?;
        let d = deliveries::redeliver(state(ctx), p, resource_id(&delivery_id)?).await?;
        audit_target(ctx, d.0.id);
        Ok(WebhookDelivery(d))
    }
}
