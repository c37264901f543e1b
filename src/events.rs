//! Live partner events: what the services raise after a commit, and what the `events` subscription
//! streams to the partner concerned; and the internal "access changed" signal that makes open
//! WebSocket connections re-check their membership at once.
//!
//! Every process keeps one tokio `broadcast` channel for events and one for access signals; subscriptions
//! read events filtered to their partner, connections read the access signals about their own user and
//! subscriber. On SQLite (one process) `publish` sends into them directly. On PostgreSQL several replicas
//! may run behind a load balancer, so `publish` goes through `pg_notify` and one listener task per
//! process re-broadcasts every notification locally: an event raised on one replica reaches a subscriber
//! connected to any other, and the replica that raised it hears it the same way (no double delivery).
//!
//! Who may receive an event is decided at delivery, per kind ([`PartnerEventKind::audience`]), for the
//! receiver's role as checked at that moment.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::Stream;
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, Statement};
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, watch};
use uuid::Uuid;

use crate::auth::Principal;
use crate::auth::cache::AuthCache;
use crate::domain::Role;

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

impl PartnerEventKind {
    /// The roles of the partner that may receive this kind: those that may read what it is about (SPEC
    /// §1). Its detail carries what it is about (a payment's amount, a commission's amount), so the
    /// whole event goes to this audience or not at all.
    pub fn audience(self) -> &'static [Role] {
        match self {
            // The partner's clients, its invitations and stop-list requests: its owner and operators.
            PartnerEventKind::LeadAssigned
            | PartnerEventKind::InvitationAccepted
            | PartnerEventKind::PaymentRecorded
            | PartnerEventKind::StopListDecided => &[Role::Owner, Role::ServiceOperator],
            // The partner's commissions: its owner only.
            PartnerEventKind::CommissionAccrued => &[Role::Owner],
        }
    }

    /// Whether this caller, as checked now, may receive an event of this kind about `partner`.
    pub fn reaches(self, p: &Principal, partner: Uuid) -> bool {
        p.is_partner() && p.subscriber_id == partner && self.audience().contains(&p.role)
    }
}

/// One event, addressed to one partner. It carries facts, not words: the edge writes the line a person
/// reads (`graphql::events`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartnerEvent {
    pub kind: PartnerEventKind,
    /// The partner whose subscribers see the event.
    pub partner_id: Uuid,
    /// The record the event is about (lead, invitation, payment, commission, stop-list entry).
    pub subject_id: Uuid,
    /// What happened, by kind.
    pub detail: EventDetail,
    pub at: DateTime<Utc>,
}

/// The facts of an event, one variant per kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "about", rename_all = "snake_case")]
pub enum EventDetail {
    /// A new client was assigned to the partner as a lead.
    LeadAssigned { client: String },
    /// `user` joined `subscriber` (the partner or one of its clients) with `role`.
    InvitationAccepted { user: String, subscriber: String, role: Role },
    /// `client` paid `amount_minor` for `months` month(s) of `tariff`.
    PaymentRecorded { client: String, amount_minor: i64, months: i32, tariff: String },
    /// A commission of `amount_minor` accrued on a payment of `client`.
    CommissionAccrued { client: String, amount_minor: i64 },
    /// The vendor decided the stop-list request for `inn`.
    StopListDecided { inn: String, approved: bool },
}

impl EventDetail {
    /// The kind of event these facts describe.
    pub fn kind(&self) -> PartnerEventKind {
        match self {
            EventDetail::LeadAssigned { .. } => PartnerEventKind::LeadAssigned,
            EventDetail::InvitationAccepted { .. } => PartnerEventKind::InvitationAccepted,
            EventDetail::PaymentRecorded { .. } => PartnerEventKind::PaymentRecorded,
            EventDetail::CommissionAccrued { .. } => PartnerEventKind::CommissionAccrued,
            EventDetail::StopListDecided { .. } => PartnerEventKind::StopListDecided,
        }
    }
}

impl PartnerEvent {
    /// An event about `subject_id` for `partner_id`; its kind follows from the detail.
    pub fn new(partner_id: Uuid, subject_id: Uuid, detail: EventDetail, at: DateTime<Utc>) -> Self {
        Self { kind: detail.kind(), partner_id, subject_id, detail, at }
    }
}

/// A membership was removed or its role changed (or its user deactivated): open connections of this user
/// in this subscriber must re-check at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessChange {
    pub user_id: Uuid,
    pub subscriber_id: Uuid,
}

/// What travels in one notification: events and access signals side by side in one JSON array. An access
/// signal is `{"access_changed": {…}}`; anything else is an event (the format replicas already read).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
enum Notice {
    Access { access_changed: AccessChange },
    Event(PartnerEvent),
}

/// The process's fan-out of events and access signals. Cheap to clone; the PostgreSQL listener stops
/// with the last clone.
#[derive(Clone)]
pub struct EventBus {
    tx: broadcast::Sender<Arc<PartnerEvent>>,
    access: broadcast::Sender<AccessChange>,
    /// Dropped (started over) on every access signal, before the signal is passed on: the checks the
    /// signal causes, and those of events published after it, read the database.
    auth_cache: Arc<AuthCache>,
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
    pub fn local(auth_cache: Arc<AuthCache>) -> Self {
        let (tx, _) = broadcast::channel(BUFFER);
        let (access, _) = broadcast::channel(BUFFER);
        let (_, listening) = watch::channel(true);
        Self { tx, access, auth_cache, listening, _listener: None }
    }

    /// A bus fed by PostgreSQL notifications on `database_url`, for replicas sharing one database. The
    /// listener reconnects with backoff; events notified while it is disconnected are lost (they are
    /// live signals, not a log; connections re-check their membership periodically anyway).
    pub fn postgres(database_url: &str, auth_cache: Arc<AuthCache>) -> Self {
        let (tx, _) = broadcast::channel(BUFFER);
        let (access, _) = broadcast::channel(BUFFER);
        let (ready_tx, listening) = watch::channel(false);
        let fanout = Fanout { events: tx.clone(), access: access.clone(), auth_cache: auth_cache.clone() };
        let task = tokio::spawn(listen(database_url.to_owned(), fanout, ready_tx));
        Self { tx, access, auth_cache, listening, _listener: Some(Arc::new(AbortOnDrop(task))) }
    }

    /// The bus that fits the database backend.
    pub fn for_backend(backend: DatabaseBackend, database_url: &str, auth_cache: Arc<AuthCache>) -> Self {
        match backend {
            DatabaseBackend::Postgres => Self::postgres(database_url, auth_cache),
            _ => Self::local(auth_cache),
        }
    }

    /// Publishes events that were committed. Never fails the caller: a failure is logged and the events
    /// are dropped (the data they describe is in the database either way).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn publish(&self, db: &DatabaseConnection, events: Vec<PartnerEvent>) {
        self.send(db, events.into_iter().map(Notice::Event).collect()).await;
    }

    /// Tells every replica that a membership was removed or changed (after its commit): connections of
    /// that user in that subscriber re-check at once and close if it is gone. Never fails the caller; if
    /// the signal is lost, the per-delivery check and the periodic re-check still hold.
    pub async fn access_changed(&self, db: &DatabaseConnection, user_id: Uuid, subscriber_id: Uuid) {
        self.send(db, vec![Notice::Access { access_changed: AccessChange { user_id, subscriber_id } }]).await;
    }

    async fn send(&self, db: &DatabaseConnection, notices: Vec<Notice>) {
        if notices.is_empty() {
            return;
        }
        match db.get_database_backend() {
            DatabaseBackend::Postgres => {
                for payload in payloads(&notices) {
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
                let fanout = self.fanout();
                for notice in notices {
                    fanout.deliver(notice);
                }
            }
        }
    }

    fn fanout(&self) -> Fanout {
        Fanout { events: self.tx.clone(), access: self.access.clone(), auth_cache: self.auth_cache.clone() }
    }

    #[cfg(test)]
    fn broadcast(&self, event: PartnerEvent) {
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

    /// The access signals about one user in one subscriber, from now on. A reader that falls behind the
    /// buffer may have missed one, so it is told as if one came (it re-checks; nothing is lost).
    pub fn access_changes(&self, user_id: Uuid, subscriber_id: Uuid) -> impl Stream<Item = ()> + Send + 'static {
        let rx = self.access.subscribe();
        let mine = AccessChange { user_id, subscriber_id };
        futures_util::stream::unfold(rx, move |mut rx| async move {
            loop {
                match rx.recv().await {
                    Ok(change) if change == mine => return Some(((), rx)),
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => return Some(((), rx)),
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

/// Where this process passes on what was published: the local channels, after dropping the
/// authentication cache for an access signal.
struct Fanout {
    events: broadcast::Sender<Arc<PartnerEvent>>,
    access: broadcast::Sender<AccessChange>,
    auth_cache: Arc<AuthCache>,
}

impl Fanout {
    fn deliver(&self, notice: Notice) {
        // An error only means nobody is listening right now.
        match notice {
            Notice::Event(event) => {
                let _ = self.events.send(Arc::new(event));
            }
            Notice::Access { access_changed } => {
                self.auth_cache.start_over();
                let _ = self.access.send(access_changed);
            }
        }
    }
}

/// Packs notices into JSON arrays that fit in one notification each.
fn payloads(notices: &[Notice]) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Vec<String> = Vec::new();
    let mut size = 2;
    for notice in notices {
        let Ok(json) = serde_json::to_string(notice) else { continue };
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

/// The listener task: LISTEN on the shared channel and re-broadcast every notification locally, in the
/// order the database delivers them (commit order); on failure, reconnect with exponential backoff
/// (100 ms doubling up to `MAX_BACKOFF`).
async fn listen(url: String, fanout: Fanout, ready: watch::Sender<bool>) {
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
                Ok(Some(n)) => match serde_json::from_str::<Vec<Notice>>(n.payload()) {
                    Ok(notices) => {
                        for notice in notices {
                            fanout.deliver(notice);
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

    fn event(partner_id: Uuid, client: &str) -> PartnerEvent {
        let detail = EventDetail::CommissionAccrued { client: client.to_owned(), amount_minor: 100 };
        PartnerEvent::new(partner_id, Uuid::nil(), detail, Utc::now())
    }

    fn bus() -> EventBus {
        EventBus::local(Arc::new(AuthCache::new(Duration::from_secs(1), crate::db::WriteGate::default())))
    }

    #[test]
    fn payloads_split_below_the_postgres_limit_and_keep_every_notice() {
        let p = Uuid::new_v4();
        let mut notices: Vec<_> =
            (0..100).map(|i| Notice::Event(event(p, &format!("{i} {}", "x".repeat(200))))).collect();
        notices.insert(50, Notice::Access { access_changed: AccessChange { user_id: p, subscriber_id: Uuid::nil() } });
        let chunks = payloads(&notices);
        assert!(chunks.len() > 1);
        let mut back = Vec::new();
        for c in &chunks {
            assert!(c.len() < MAX_PAYLOAD + 1, "{}", c.len());
            back.extend(serde_json::from_str::<Vec<Notice>>(c).unwrap());
        }
        assert_eq!(back, notices);
    }

    #[test]
    fn an_array_of_events_alone_reads_as_before() {
        let e = event(Uuid::new_v4(), "paid");
        let old_format = serde_json::to_string(&vec![e.clone()]).unwrap();
        assert_eq!(serde_json::from_str::<Vec<Notice>>(&old_format).unwrap(), vec![Notice::Event(e)]);
    }

    #[tokio::test]
    async fn a_subscriber_gets_only_its_partners_events_and_survives_lagging() {
        use futures_util::StreamExt;
        let bus = bus();
        let (mine, other) = (Uuid::new_v4(), Uuid::new_v4());
        let stream = bus.subscribe(mine);
        futures_util::pin_mut!(stream);
        for i in 0..(BUFFER + 10) {
            bus.broadcast(event(other, &format!("other {i}")));
        }
        bus.broadcast(event(mine, "mine"));
        let got = tokio::time::timeout(Duration::from_secs(1), stream.next()).await.unwrap().unwrap();
        assert_eq!((got.partner_id, &got.detail), (mine, &event(mine, "mine").detail));
    }

    #[tokio::test]
    async fn an_access_signal_reaches_only_its_user_and_subscriber_and_a_lagging_reader_is_told() {
        use futures_util::StreamExt;
        let bus = bus();
        let (user, sid) = (Uuid::new_v4(), Uuid::new_v4());
        let signal = |user_id, subscriber_id| {
            bus.fanout().deliver(Notice::Access { access_changed: AccessChange { user_id, subscriber_id } })
        };
        let mine = bus.access_changes(user, sid);
        let someone_else = bus.access_changes(user, Uuid::new_v4());
        futures_util::pin_mut!(mine, someone_else);
        signal(user, sid);
        let quick = Duration::from_millis(200);
        assert_eq!(tokio::time::timeout(quick, mine.next()).await.unwrap(), Some(()));
        assert!(tokio::time::timeout(quick, someone_else.next()).await.is_err(), "another subscriber is not told");
        for _ in 0..(BUFFER + 10) {
            signal(Uuid::new_v4(), Uuid::new_v4());
        }
        assert_eq!(tokio::time::timeout(quick, someone_else.next()).await.unwrap(), Some(()), "lagged: told");
    }

    #[test]
    fn commissions_reach_only_the_partners_owner_and_the_rest_its_owner_and_operators() {
        for kind in [
            PartnerEventKind::LeadAssigned,
            PartnerEventKind::InvitationAccepted,
            PartnerEventKind::PaymentRecorded,
            PartnerEventKind::StopListDecided,
        ] {
            assert_eq!(kind.audience(), &[Role::Owner, Role::ServiceOperator], "{kind:?}");
        }
        assert_eq!(PartnerEventKind::CommissionAccrued.audience(), &[Role::Owner]);
    }
}
