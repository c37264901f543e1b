//! Queuing webhook events: in the transaction of the change they report (a rolled-back change queues
//! nothing), one delivery row per (event, endpoint), the endpoints chosen at queue time among the enabled
//! ones subscribed to the type and allowed to see the event: the vendor's endpoints see every event, a
//! partner's endpoints the events about the partner and its own clients. The payload's `data` carries the
//! ids and main fields of the subject; each event's audience may read all of it (a partner's endpoints
//! are managed by its `OWNER`, who reads the partner's commissions too).

use chrono::{DateTime, SecondsFormat, Utc};
use entity::{
    commission, invitation, payment, stop_list_entry, subscriber, subscription, webhook_delivery, webhook_endpoint,
};
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, QueryTrait, Set};
use serde_json::{Value, json};
use uuid::Uuid;

use super::DeliveryStatus;
use crate::domain::money::{format_minor, format_percent};
use crate::domain::webhook::{EventType, split_event_types};
use crate::domain::{BindingSource, SubscriberKind};
use crate::error::AppResult;
use crate::service::new_id;

/// Something that happened, to be sent to the endpoints that may see it.
#[derive(Debug, Clone)]
pub struct Event {
    pub kind: EventType,
    /// The partners whose endpoints may receive it (the vendor's always may).
    pub partners: Vec<Uuid>,
    pub data: Value,
    pub at: DateTime<Utc>,
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn opt_time(t: Option<DateTime<Utc>>) -> Value {
    t.map(time).map(Value::String).unwrap_or(Value::Null)
}

/// The partner whose endpoints may hear about a subscriber: itself for a partner, its serving partner
/// for a client, nobody (but the vendor) for the vendor or an unbound client.
pub fn partner_of(s: &subscriber::Model) -> Option<Uuid> {
    if s.kind == SubscriberKind::Partner {
        Some(s.id)
    } else if s.kind == SubscriberKind::Client {
        s.serving_partner_id
    } else {
        None
    }
}

impl Event {
    fn new(kind: EventType, partners: impl IntoIterator<Item = Option<Uuid>>, data: Value, at: DateTime<Utc>) -> Self {
        let mut list: Vec<Uuid> = Vec::new();
        for p in partners.into_iter().flatten() {
            if !list.contains(&p) {
                list.push(p);
            }
        }
        Event { kind, partners: list, data, at }
    }

    /// `client.registered`: a client came into the service (registered by a partner, self-registered,
    /// imported), as it is once bound.
    pub fn client_registered(c: &subscriber::Model, at: DateTime<Utc>) -> Self {
        let data = json!({
            "clientId": c.id, "name": c.name, "inn": c.inn, "email": c.email,
            "servingPartnerId": c.serving_partner_id, "bindingSource": c.binding_source,
            "createdAt": time(c.created_at),
        });
        Event::new(EventType::ClientRegistered, [partner_of(c)], data, at)
    }

    /// `client.bound`: a client comes to a partner or leaves one (both partners hear it).
    pub fn client_bound(
        before: &subscriber::Model,
        to: Option<Uuid>,
        source: BindingSource,
        at: DateTime<Utc>,
    ) -> Self {
        let data = json!({
            "clientId": before.id, "clientName": before.name, "fromPartnerId": before.serving_partner_id,
            "toPartnerId": to, "source": source.as_str(), "at": time(at),
        });
        Event::new(EventType::ClientBound, [before.serving_partner_id, to], data, at)
    }

    /// `invitation.accepted`, heard by the partner joined or serving the client joined.
    pub fn invitation_accepted(
        inv: &invitation::Model,
        joined: &subscriber::Model,
        user: Uuid,
        role: &str,
        at: DateTime<Utc>,
    ) -> Self {
        let data = json!({
            "invitationId": inv.id, "subscriberId": inv.subscriber_id, "email": inv.email, "role": role,
            "userId": user, "acceptedAt": time(at),
        });
        Event::new(EventType::InvitationAccepted, [partner_of(joined)], data, at)
    }

    /// `subscription.started`, `.renewed` or `.cancelled`.
    pub fn subscription(
        kind: EventType,
        sub: &subscription::Model,
        owner: &subscriber::Model,
        at: DateTime<Utc>,
    ) -> Self {
        let data = json!({
            "subscriptionId": sub.id, "subscriberId": sub.subscriber_id, "tariffId": sub.tariff_id,
            "basis": sub.basis, "startsAt": time(sub.starts_at), "endsAt": time(sub.ends_at),
            "cancelledAt": opt_time(sub.cancelled_at), "churnReason": sub.churn_reason,
        });
        Event::new(kind, [partner_of(owner)], data, at)
    }

    /// `payment.recorded` or `payment.refunded`, heard by the payer's partner (after the payment's own
    /// rebinding).
    pub fn payment(kind: EventType, pay: &payment::Model, payer: &subscriber::Model, at: DateTime<Utc>) -> Self {
        let data = json!({
            "paymentId": pay.id, "subscriberId": pay.subscriber_id, "tariffId": pay.tariff_id,
            "subscriptionId": pay.subscription_id, "periodMonths": pay.period_months,
            "amount": format_minor(pay.amount_minor), "channel": pay.channel, "paidAt": time(pay.paid_at),
            "externalId": pay.external_id, "invoiceId": pay.invoice_id, "refundedAt": opt_time(pay.refunded_at),
            "refundExternalId": pay.refund_external_id,
        });
        Event::new(kind, [partner_of(payer)], data, at)
    }

    /// `commission.accrued`, `.approved`, `.paid` or `.reversed`: only the commission's partner (and
    /// the vendor) hears it.
    pub fn commission(kind: EventType, c: &commission::Model, at: DateTime<Utc>) -> Self {
        let data = json!({
            "commissionId": c.id, "partnerId": c.partner_id, "paymentId": c.payment_id, "status": c.status,
            "rate": format_percent(c.rate_bp), "base": format_minor(c.base_minor),
            "amount": format_minor(c.amount_minor), "reversesId": c.reverses_id,
            "payoutReference": c.payout_reference, "accruedAt": time(c.accrued_at),
            "approvedAt": opt_time(c.approved_at), "paidAt": opt_time(c.paid_at),
        });
        Event::new(kind, [Some(c.partner_id)], data, at)
    }

    /// `stop_list.decided`, heard by the requesting partner.
    pub fn stop_list_decided(e: &stop_list_entry::Model, at: DateTime<Utc>) -> Self {
        let data = json!({
            "entryId": e.id, "inn": e.inn, "partnerId": e.partner_id, "status": e.status, "reason": e.reason,
            "requestedAt": time(e.requested_at), "decidedAt": opt_time(e.decided_at),
            "expiresAt": opt_time(e.expires_at),
        });
        Event::new(EventType::StopListDecided, [Some(e.partner_id)], data, at)
    }

    /// `lead.assigned`: lead distribution gave a self-registered client to a partner.
    pub fn lead_assigned(client: &subscriber::Model, partner: Uuid, pool: Uuid, at: DateTime<Utc>) -> Self {
        let data = json!({
            "clientId": client.id, "clientName": client.name, "partnerId": partner, "poolId": pool,
            "assignedAt": time(at),
        });
        Event::new(EventType::LeadAssigned, [Some(partner)], data, at)
    }

    /// `task.created`: a call for the partner to make.
    pub fn task_created(
        task: Uuid,
        kind: &str,
        partner: Uuid,
        client: Uuid,
        due_at: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Self {
        let data = json!({
            "taskId": task, "kind": kind, "partnerId": partner, "clientId": client, "dueAt": time(due_at),
        });
        Event::new(EventType::TaskCreated, [Some(partner)], data, at)
    }

    /// The request body: `{"type", "timestamp", "data"}`.
    pub fn body(&self) -> String {
        json!({ "type": self.kind.as_str(), "timestamp": time(self.at), "data": self.data }).to_string()
    }
}

/// A new message id (`webhook-id`).
pub fn new_message_id() -> String {
    format!("msg_{}", Uuid::now_v7().simple())
}

/// A pending delivery of `body` to an endpoint, due at once.
pub fn pending_row(
    endpoint: &webhook_endpoint::Model,
    kind: &str,
    message_id: String,
    body: String,
    now: DateTime<Utc>,
) -> webhook_delivery::ActiveModel {
    webhook_delivery::ActiveModel {
        id: Set(new_id()),
        endpoint_id: Set(endpoint.id),
        subscriber_id: Set(endpoint.subscriber_id),
        event_type: Set(kind.to_owned()),
        message_id: Set(message_id),
        payload: Set(body),
        status: Set(DeliveryStatus::Pending),
        attempts: Set(0),
        response_status: Set(None),
        last_error: Set(None),
        created_at: Set(now),
        last_attempt_at: Set(None),
        next_attempt_at: Set(Some(now)),
        delivered_at: Set(None),
        locked_until: Set(None),
        lease_id: Set(None),
    }
}

/// Queues events in the caller's transaction: one delivery per (event, endpoint that may see it and
/// chose its type). Returns how many deliveries were queued. The sender wakes when the transaction
/// commits.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn queue<C: ConnectionTrait>(db: &C, events: impl IntoIterator<Item = Event>) -> AppResult<usize> {
    let events: Vec<Event> = events.into_iter().collect();
    if events.is_empty() {
        return Ok(0);
    }
    let mut partners: Vec<Uuid> = events.iter().flat_map(|e| e.partners.iter().copied()).collect();
    partners.sort();
    partners.dedup();
    let vendors = subscriber::Entity::find()
        .select_only()
        .column(subscriber::Column::Id)
        .filter(subscriber::Column::Kind.eq(SubscriberKind::Vendor))
        .into_query();
    let endpoints = webhook_endpoint::Entity::find()
        .filter(webhook_endpoint::Column::Enabled.eq(true))
        .filter(
            Condition::any()
                .add(webhook_endpoint::Column::SubscriberId.in_subquery(vendors))
                .add(webhook_endpoint::Column::SubscriberId.is_in(partners.clone())),
        )
        .all(db)
        .await?;
    if endpoints.is_empty() {
        return Ok(0);
    }
    let mut rows = Vec::new();
    for e in &events {
        let body = e.body();
        for ep in &endpoints {
            // An endpoint not among the partners' is the vendor's: it sees every event.
            let sees = !partners.contains(&ep.subscriber_id) || e.partners.contains(&ep.subscriber_id);
            if sees && split_event_types(&ep.event_types).contains(&e.kind) {
                rows.push(pending_row(ep, e.kind.as_str(), new_message_id(), body.clone(), e.at));
            }
        }
    }
    let n = rows.len();
    if n > 0 {
        webhook_delivery::Entity::insert_many(rows).exec_without_returning(db).await?;
    }
    Ok(n)
}
