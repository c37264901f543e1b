//! The webhook sender: one task per process claims due deliveries with a lease (`FOR UPDATE SKIP
//! LOCKED` on PostgreSQL, the write queue on SQLite), so replicas never send one attempt twice, and runs
//! each attempt on its own task, at most `PARTNERGRAPH_WEBHOOK_CONCURRENCY` at once and
//! `PARTNERGRAPH_WEBHOOK_PER_ENDPOINT` per endpoint: a slow or dead endpoint holds a few slots for at
//! most 10 s each and delays neither other endpoints nor requests.
//!
//! It wakes when this process commits a write (deliveries are queued in the transaction of their
//! change), when an attempt ends, when a retry it scheduled falls due, and every half second in any case
//! (for deliveries queued or falling due on another replica). An attempt whose sender dies keeps its
//! lease until it runs out; the delivery is then tried again with the same `webhook-id`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use entity::{webhook_delivery, webhook_endpoint};
use hyper::body::Bytes;
use sea_orm::sea_query::{Expr, ExprTrait, LockBehavior, LockType};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait,
};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use uuid::Uuid;

use super::client::{Outbound, default_tls};
use super::{DeliveryStatus, endpoints};
use crate::db::begin_write;
use crate::domain::webhook::{next_retry, signature_header};
use crate::error::AppResult;
use crate::service::ServiceCtx;

/// How long a claim holds a delivery: past one attempt's 10 s and its bookkeeping.
const LEASE: chrono::Duration = chrono::Duration::seconds(30);
/// The longest the sender sleeps without looking for due deliveries.
const POLL: Duration = Duration::from_millis(500);
/// The longest `last_error` kept.
const MAX_ERROR: usize = 200;

struct Sender {
    ctx: ServiceCtx,
    outbound: Outbound,
    slots: Arc<Semaphore>,
    per_endpoint: usize,
    /// Attempts running now, per endpoint.
    in_flight: Mutex<HashMap<Uuid, usize>>,
    /// An attempt ended (a slot is free).
    finished: Notify,
    /// The earliest retry this process scheduled.
    next_retry: Mutex<Option<Instant>>,
}

/// Starts the sender for this process with the public TLS roots; None when
/// `PARTNERGRAPH_WEBHOOK_CONCURRENCY` is 0 (this process sends no webhooks).
pub fn spawn(ctx: ServiceCtx) -> Option<tokio::task::JoinHandle<()>> {
    spawn_with(ctx, default_tls())
}

/// Starts the sender with these TLS settings (tests trust their own certificate authority).
pub fn spawn_with(ctx: ServiceCtx, tls: Arc<rustls::ClientConfig>) -> Option<tokio::task::JoinHandle<()>> {
    let concurrency = ctx.config.webhook_concurrency;
    if concurrency == 0 {
        return None;
    }
    let sender = Arc::new(Sender {
        outbound: Outbound::new(tls, ctx.config.webhook_allow_private),
        per_endpoint: ctx.config.webhook_per_endpoint,
        slots: Arc::new(Semaphore::new(concurrency)),
        in_flight: Mutex::default(),
        finished: Notify::new(),
        next_retry: Mutex::default(),
        ctx,
    });
    Some(tokio::spawn(sender.run()))
}

/// What an attempt came to.
enum Outcome {
    Delivered(u16),
    Failed(Option<u16>, String),
}

impl Sender {
    async fn run(self: Arc<Self>) {
        loop {
            let free = self.slots.available_permits();
            let mut claimed = 0;
            if free > 0 {
                match self.claim(free).await {
                    Ok(batch) => {
                        claimed = batch.len();
                        for (d, ep, lease) in batch {
                            let Ok(permit) = self.slots.clone().try_acquire_owned() else { break };
                            tokio::spawn(self.clone().attempt(d, ep, lease, permit));
                        }
                    }
                    Err(e) => tracing::error!(error = ?e, "webhook sender: claiming deliveries failed"),
                }
            }
            if claimed > 0 {
                continue;
            }
            let wake = {
                let mut next = self.next_retry.lock().unwrap_or_else(|p| p.into_inner());
                if next.is_some_and(|t| t <= Instant::now()) {
                    *next = None;
                }
                next.map_or(Instant::now() + POLL, |t| t.min(Instant::now() + POLL))
            };
            tokio::select! {
                _ = self.ctx.write_gate.next_commit() => {}
                _ = self.finished.notified() => {}
                _ = tokio::time::sleep_until(wake.into()) => {}
            }
        }
    }

    /// The due deliveries this process may start now (of enabled endpoints, not leased, and not of an
    /// endpoint already at its limit here), at most `free`, each leased for [`LEASE`].
    async fn claim(&self, free: usize) -> AppResult<Vec<(webhook_delivery::Model, webhook_endpoint::Model, Uuid)>> {
        let ctx = &self.ctx;
        let now = ctx.clock.now();
        let mut counts = self.in_flight.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let busy: Vec<Uuid> = counts.iter().filter(|(_, n)| **n >= self.per_endpoint).map(|(id, _)| *id).collect();
        let enabled = webhook_endpoint::Entity::find()
            .select_only()
            .column(webhook_endpoint::Column::Id)
            .filter(webhook_endpoint::Column::Enabled.eq(true))
            .into_query();
        let mut due = webhook_delivery::Entity::find()
            .filter(webhook_delivery::Column::Status.eq(DeliveryStatus::Pending))
            .filter(webhook_delivery::Column::NextAttemptAt.lte(now))
            .filter(
                Condition::any()
                    .add(webhook_delivery::Column::LockedUntil.is_null())
                    .add(webhook_delivery::Column::LockedUntil.lte(now)),
            )
            .filter(webhook_delivery::Column::EndpointId.in_subquery(enabled));
        if !busy.is_empty() {
            due = due.filter(webhook_delivery::Column::EndpointId.is_not_in(busy));
        }
        // A cheap look first: on SQLite a claim takes the write queue, which an idle sender must not.
        let any: Option<Uuid> =
            due.clone().select_only().column(webhook_delivery::Column::Id).limit(1).into_tuple().one(&ctx.db).await?;
        if any.is_none() {
            return Ok(Vec::new());
        }
        let txn = begin_write(&ctx.db, &ctx.write_gate).await?;
        let mut q = due
            .order_by_asc(webhook_delivery::Column::NextAttemptAt)
            .order_by_asc(webhook_delivery::Column::Id)
            .limit((free * self.per_endpoint.max(2)) as u64);
        if txn.get_database_backend() == DbBackend::Postgres {
            q = q.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
        }
        let mut picked = Vec::new();
        for d in q.all(&*txn).await? {
            let n = counts.entry(d.endpoint_id).or_default();
            if *n < self.per_endpoint && picked.len() < free {
                *n += 1;
                picked.push(d);
            }
        }
        if picked.is_empty() {
            // Dropped, not committed: nothing changed, and the sender is not woken by its own commit.
            return Ok(Vec::new());
        }
        let lease = Uuid::new_v4();
        webhook_delivery::Entity::update_many()
            .col_expr(webhook_delivery::Column::LockedUntil, Expr::value(now + LEASE))
            .col_expr(webhook_delivery::Column::LeaseId, Expr::value(lease))
            .filter(webhook_delivery::Column::Id.is_in(picked.iter().map(|d| d.id)))
            .exec(&*txn)
            .await?;
        let mut ids: Vec<Uuid> = picked.iter().map(|d| d.endpoint_id).collect();
        ids.sort();
        ids.dedup();
        let eps = webhook_endpoint::Entity::find().filter(webhook_endpoint::Column::Id.is_in(ids)).all(&*txn).await?;
        txn.commit().await?;
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        Ok(picked
            .into_iter()
            .filter_map(|d| {
                let ep = eps.iter().find(|e| e.id == d.endpoint_id)?.clone();
                *in_flight.entry(ep.id).or_default() += 1;
                Some((d, ep, lease))
            })
            .collect())
    }

    async fn attempt(
        self: Arc<Self>,
        d: webhook_delivery::Model,
        ep: webhook_endpoint::Model,
        lease: Uuid,
        permit: OwnedSemaphorePermit,
    ) {
        let started = Instant::now();
        let outcome = self.send(&d, &ep).await;
        let took = started.elapsed();
        if let Err(e) = self.complete(&d, lease, &outcome, took).await {
            tracing::error!(error = ?e, delivery = %d.id, "webhook sender: recording an attempt failed");
        }
        {
            let mut in_flight = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(n) = in_flight.get_mut(&ep.id) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    in_flight.remove(&ep.id);
                }
            }
        }
        drop(permit);
        self.finished.notify_one();
    }

    /// Signs and POSTs the delivery's body.
    async fn send(&self, d: &webhook_delivery::Model, ep: &webhook_endpoint::Model) -> Outcome {
        let Ok(url) = url::Url::parse(&ep.url) else {
            return Outcome::Failed(None, "the endpoint URL is not valid".into());
        };
        let Some(keys) = endpoints::signing_keys(&self.ctx, ep, self.ctx.clock.now()) else {
            return Outcome::Failed(
                None,
                "the endpoint's secret cannot be read (the webhook key changed): rotate it".into(),
            );
        };
        // The receiver compares this with its own clock: the real time, whatever the service's clock says.
        let timestamp = Utc::now().timestamp();
        let body = Bytes::from(d.payload.clone());
        let headers = [
            ("webhook-id", d.message_id.clone()),
            ("webhook-timestamp", timestamp.to_string()),
            ("webhook-signature", signature_header(&keys, &d.message_id, timestamp, &body)),
        ];
        match self.outbound.post(&url, &headers, body).await {
            Ok(status) if (200..300).contains(&status) => Outcome::Delivered(status),
            Ok(status) => Outcome::Failed(Some(status), format!("the endpoint answered HTTP {status}")),
            Err(e) => Outcome::Failed(None, e.message().to_owned()),
        }
    }

    /// Records the attempt, if this sender still holds the lease: delivered, retried later, or failed
    /// for good once the retry schedule is spent.
    async fn complete(
        &self,
        d: &webhook_delivery::Model,
        lease: Uuid,
        outcome: &Outcome,
        took: Duration,
    ) -> AppResult<()> {
        use webhook_delivery::Column as C;
        let ctx = &self.ctx;
        let now = ctx.clock.now();
        let none_time: Option<chrono::DateTime<Utc>> = None;
        let mut update = webhook_delivery::Entity::update_many()
            .col_expr(C::Attempts, Expr::col(C::Attempts).add(1))
            .col_expr(C::LastAttemptAt, Expr::value(now))
            .col_expr(C::LockedUntil, Expr::value(none_time))
            .col_expr(C::LeaseId, Expr::value(Option::<Uuid>::None));
        let metrics = &ctx.metrics.webhooks;
        match outcome {
            Outcome::Delivered(status) => {
                update = update
                    .col_expr(C::Status, Expr::value(DeliveryStatus::Delivered))
                    .col_expr(C::ResponseStatus, Expr::value(i32::from(*status)))
                    .col_expr(C::LastError, Expr::value(Option::<String>::None))
                    .col_expr(C::DeliveredAt, Expr::value(now))
                    .col_expr(C::NextAttemptAt, Expr::value(none_time));
                metrics.delivered(took, (now - d.created_at).to_std().unwrap_or_default());
            }
            Outcome::Failed(status, error) => {
                let error: String = error.chars().filter(|c| !c.is_control()).take(MAX_ERROR).collect();
                update = update
                    .col_expr(C::ResponseStatus, Expr::value(status.map(i32::from)))
                    .col_expr(C::LastError, Expr::value(error));
                match next_retry(&ctx.config.webhook_retry, d.attempts.saturating_add(1)) {
                    Some(wait) => {
                        let due = now + chrono::Duration::from_std(wait).unwrap_or(LEASE);
                        update = update.col_expr(C::NextAttemptAt, Expr::value(due));
                        let at = Instant::now() + wait;
                        let mut next = self.next_retry.lock().unwrap_or_else(|p| p.into_inner());
                        *next = Some(next.map_or(at, |t| t.min(at)));
                        metrics.retried(took);
                    }
                    None => {
                        update = update
                            .col_expr(C::Status, Expr::value(DeliveryStatus::Failed))
                            .col_expr(C::NextAttemptAt, Expr::value(none_time));
                        metrics.failed(took);
                    }
                }
            }
        }
        let txn = begin_write(&ctx.db, &ctx.write_gate).await?;
        update
            .filter(C::Id.eq(d.id))
            .filter(C::LeaseId.eq(lease))
            .filter(C::Status.eq(DeliveryStatus::Pending))
            .exec(&*txn)
            .await?;
        txn.commit().await?;
        Ok(())
    }
}
