//! What a service call needs from the process: the database, the clock, the write queue, the event bus,
//! the settings, and the few shared tools (hashing, token signing, mail, delivery metrics). The edge's
//! state (`app::AppState`) holds one and hands it down; services never see the edge's parts (the
//! authentication cache, the rate limiter, the lifecycle), so they cannot reach back up.

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::auth::{JwtKeys, PasswordHasher};
use crate::clock::Clock;
use crate::config::Config;

/// The service context. Cloning it (the scheduler and the webhook sender keep one) copies a handful of
/// reference counts.
#[derive(Clone)]
pub struct ServiceCtx {
    pub db: DatabaseConnection,
    pub config: Arc<Config>,
    pub jwt: Arc<JwtKeys>,
    pub hasher: Arc<PasswordHasher>,
    pub clock: Clock,
    /// SQLite's in-process write queue (none on PostgreSQL).
    pub write_gate: crate::db::WriteGate,
    /// Live partner events (in-process on SQLite; through `pg_notify` across replicas on PostgreSQL).
    pub events: crate::events::EventBus,
    /// Outgoing e-mail (SMTP, or the log); only the outbox sender uses it.
    pub mailer: Arc<crate::mail::Mailer>,
    /// The webhook sender's counters live here with the rest of the process's metrics.
    pub metrics: Arc<crate::metrics::Metrics>,
}
