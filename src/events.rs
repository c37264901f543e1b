//! Live partner events: what the services raise after a commit, and what the `events` subscription
//! streams to the partner concerned.
//!
//! Every process keeps one tokio `broadcast` channel; subscriptions read from it, filtered to their
//! partner. On SQLite (one process) `publish` sends into it directly. On PostgreSQL several replicas may
//! run behind a load balancer, so `publish` goes through `pg_notify` and one listener task per process
//! re-broadcasts every notification locally: an event raised on one replica reaches a subscriber
//! connected to any other, and the replica that raised it hears it the same way (no double delivery).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::Stream;
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, Statement};
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, watch};
use uuid::Uuid;

/// The PostgreSQL notification channel the replicas share.
pub const CHANNEL: &str = "partnergraph_events";

/// How many events a slow subscriber may fall behind before it skips the oldest.
const BUFFER: usize = 1024;

/// PostgreSQL refuses notification payloads of 8000 bytes or more; events are packed into JSON arrays
/// below this size.
const MAX_PAYLOAD: usize = 7000;

/// What happened to the partner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, async_graphql::Enum)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PartnerEventKind {
    /// A lead was assigned to the partner (the subject is the lead).
    LeadAssigned,
    /// Someone accepted an invitation to the partner or to one of its clients (the subject is the invitation).
    InvitationAccepted,
    /// A payment of one of the partner's clients was recorded (the subject is the payment).
    PaymentRecorded,
    /// A commission accrued to the partner (the subject is the commission).
    CommissionAccrued,
    /// The vendor approved or rejected the partner's stop-list request (the subject is the entry).
    StopListDecided,
}

/// One event, addressed to one partner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartnerEvent {
    pub kind: PartnerEventKind,
    /// The partner whose subscribers see the event.
    pub partner_id: Uuid,
    /// The record the event is about (lead, invitation, payment, commission, stop-list entry).
    pub subject_id: Uuid,
    /// A short human-readable line.
    pub message: String,
    pub at: DateTime<Utc>,
}

impl PartnerEvent {
    pub fn new(
        kind: PartnerEventKind,
        partner_id: Uuid,
        subject_id: Uuid,
        message: impl Into<String>,
        at: DateTime<Utc>,
    ) -> Self {
        Self { kind, partner_id, subject_id, message: message.into(), at }
    }
}

/// The process's event fan-out. Cheap to clone; the PostgreSQL listener stops with the last clone.
#[derive(Clone)]
pub struct EventBus {
    tx: broadcast::Sender<Arc<PartnerEvent>>,
    /// `true` once the PostgreSQL listener is listening (always `true` on SQLite).
    listening: watch::Receiver<bool>,
    _listener: Option<Arc<AbortOnDrop>>,
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl EventBus {
    /// An in-process bus (SQLite, one process).
    pub fn local() -> Self {
        let (tx, _) = broadcast::channel(BUFFER);
        let (_, listening) = watch::channel(true);
        Self { tx, listening, _listener: None }
    }

    /// A bus fed by PostgreSQL notifications on `database_url`, for replicas sharing one database. The
    /// listener reconnects with backoff; events notified while it is disconnected are lost (they are
    /// live signals, not a log).
    pub fn postgres(database_url: &str) -> Self {
        let (tx, _) = broadcast::channel(BUFFER);
        let (ready_tx, listening) = watch::channel(false);
        let task = tokio::spawn(listen(database_url.to_owned(), tx.clone(), ready_tx));
        Self { tx, listening, _listener: Some(Arc::new(AbortOnDrop(task))) }
    }

    /// The bus that fits the database backend.
    pub fn for_backend(backend: DatabaseBackend, database_url: &str) -> Self {
        match backend {
            DatabaseBackend::Postgres => Self::postgres(database_url),
            _ => Self::local(),
        }
    }

    /// Publishes events that were committed. Never fails the caller: a failure is logged and the events
    /// are dropped (the data they describe is in the database either way).
    pub async fn publish(&self, db: &DatabaseConnection, events: Vec<PartnerEvent>) {
        if events.is_empty() {
            return;
        }
        match db.get_database_backend() {
            DatabaseBackend::Postgres => {
                for payload in payloads(&events) {
                    let stmt = Statement::from_sql_and_values(
                        DatabaseBackend::Postgres,
                        "SELECT pg_notify($1, $2)",
                        [CHANNEL.into(), payload.into()],
                    );
                    if let Err(e) = db.execute_raw(stmt).await {
                        tracing::error!(error = %e, "could not publish partner events");
                    }
                }
            }
            _ => {
                for event in events {
                    self.broadcast(event);
                }
            }
        }
    }

    fn broadcast(&self, event: PartnerEvent) {
        // An error only means nobody is subscribed right now.
        let _ = self.tx.send(Arc::new(event));
    }

    /// The events for one partner, from now on. A subscriber that falls more than the buffer behind
    /// skips what it missed (logged) rather than failing.
    pub fn subscribe(&self, partner_id: Uuid) -> impl Stream<Item = PartnerEvent> + Send + 'static {
        let rx = self.tx.subscribe();
        futures_util::stream::unfold(rx, move |mut rx| async move {
            loop {
                match rx.recv().await {
                    Ok(event) if event.partner_id == partner_id => return Some(((*event).clone(), rx)),
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(skipped)) => {
                        tracing::warn!(%partner_id, skipped, "a slow event subscriber skipped events");
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        })
    }

    /// How many subscriptions are reading from this process's bus.
    pub fn subscriber_count(&self) -> usize {
        self.tx.receiver_count()
    }

    /// Whether events published anywhere reach this process now (the PostgreSQL listener is connected).
    pub fn is_listening(&self) -> bool {
        *self.listening.borrow()
    }

    /// Waits until events published anywhere reach this process (the PostgreSQL listener is listening).
    pub async fn ready(&self) {
        let mut listening = self.listening.clone();
        let _ = listening.wait_for(|l| *l).await;
    }
}

/// Packs events into JSON arrays that fit in one notification each.
fn payloads(events: &[PartnerEvent]) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Vec<String> = Vec::new();
    let mut size = 2;
    for event in events {
        let Ok(json) = serde_json::to_string(event) else { continue };
        if !current.is_empty() && size + json.len() + 1 > MAX_PAYLOAD {
            out.push(format!("[{}]", current.join(",")));
            current.clear();
            size = 2;
        }
        size += json.len() + 1;
        current.push(json);
    }
    if !current.is_empty() {
        out.push(format!("[{}]", current.join(",")));
    }
    out
}

/// The longest wait between two attempts of the listener to reconnect: once the database is back, events
/// reach this replica again within about this long.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// The listener task: LISTEN on the shared channel and re-broadcast every notification locally;
/// on failure, reconnect with exponential backoff (100 ms doubling up to `MAX_BACKOFF`).
async fn listen(url: String, tx: broadcast::Sender<Arc<PartnerEvent>>, ready: watch::Sender<bool>) {
    use sea_orm::sqlx::postgres::PgListener;
    let mut backoff = Duration::from_millis(100);
    loop {
        // sqlx keeps retrying a refused connection inside `connect` for up to 30 s, with its own growing
        // waits; an attempt is cut at `MAX_BACKOFF` so that a database that is back is seen at once.
        let mut listener = match tokio::time::timeout(MAX_BACKOFF, PgListener::connect(&url)).await {
            Ok(Ok(l)) => l,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, ?backoff, "event listener cannot connect; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
            Err(_) => {
                tracing::debug!("event listener: no connection within {MAX_BACKOFF:?}; retrying");
                continue;
            }
        };
        // Reconnecting ourselves (below) rather than inside sqlx keeps the backoff in one place.
        listener.eager_reconnect(false);
        if let Err(e) = listener.listen(CHANNEL).await {
            tracing::warn!(error = %e, ?backoff, "event listener cannot LISTEN; retrying");
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
            continue;
        }
        tracing::info!("event listener listening");
        backoff = Duration::from_millis(100);
        ready.send_replace(true);
        loop {
            match listener.try_recv().await {
                Ok(Some(n)) => match serde_json::from_str::<Vec<PartnerEvent>>(n.payload()) {
                    Ok(events) => {
                        for event in events {
                            let _ = tx.send(Arc::new(event));
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "ignoring a malformed event notification"),
                },
                Ok(None) => {
                    tracing::warn!("event listener lost its connection; reconnecting");
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "event listener failed; reconnecting");
                    break;
                }
            }
        }
        ready.send_replace(false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(partner_id: Uuid, message: &str) -> PartnerEvent {
        PartnerEvent::new(PartnerEventKind::PaymentRecorded, partner_id, Uuid::nil(), message, Utc::now())
    }

    #[test]
    fn payloads_split_below_the_postgres_limit_and_keep_every_event() {
        let p = Uuid::new_v4();
        let events: Vec<_> = (0..100).map(|i| event(p, &format!("{i} {}", "x".repeat(200)))).collect();
        let chunks = payloads(&events);
        assert!(chunks.len() > 1);
        let mut back = Vec::new();
        for c in &chunks {
            assert!(c.len() < MAX_PAYLOAD + 1, "{}", c.len());
            back.extend(serde_json::from_str::<Vec<PartnerEvent>>(c).unwrap());
        }
        assert_eq!(back, events);
    }

    #[tokio::test]
    async fn a_subscriber_gets_only_its_partners_events_and_survives_lagging() {
        use futures_util::StreamExt;
        let bus = EventBus::local();
        let (mine, other) = (Uuid::new_v4(), Uuid::new_v4());
        let stream = bus.subscribe(mine);
        futures_util::pin_mut!(stream);
        for i in 0..(BUFFER + 10) {
            bus.broadcast(event(other, &format!("other {i}")));
        }
        bus.broadcast(event(mine, "mine"));
        let got = tokio::time::timeout(Duration::from_secs(1), stream.next()).await.unwrap().unwrap();
        assert_eq!((got.partner_id, got.message.as_str()), (mine, "mine"));
    }
}
