//! A short-lived, per-replica cache of the membership check the edge makes on every request.
//!
//! Every request still verifies its token (signature, `exp`, `nbf`, `iss`, `aud`); what is cached is the
//! database's answer to "is this user active and does it still hold this membership with this role".
//! An entry lives at most the configured time (`PARTNERGRAPH_AUTH_CACHE_MS`) and is dropped as soon as
//! this replica commits any write (the write gate's epoch moves), or hears that a membership changed on
//! any replica (`start_over`, from the event bus's access signal), so a member removed, demoted or
//! deactivated loses access at once; only if that signal is lost, within the lifetime.

use std::collections::HashMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use super::{Claims, Principal};
use crate::db::WriteGate;

/// The most entries held; past it the cache starts over (a bound on memory, not an LRU).
const MAX_ENTRIES: usize = 100_000;
/// The most verified tokens held, and the longest token kept (a few MB at most).
const MAX_TOKENS: usize = 10_000;
const MAX_TOKEN_LEN: usize = 1024;

struct Entry {
    principal: Principal,
    /// The user's token generation the database answered with: a token of another generation is not
    /// served from this entry (it goes to the database, which refuses an old one).
    generation: i64,
    at: DateTime<Utc>,
    epoch: u64,
}

pub struct AuthCache {
    ttl: Duration,
    gate: WriteGate,
    /// How many times the cache was told to start over; part of its epoch with the write gate's.
    restarts: AtomicU64,
    entries: RwLock<HashMap<(Uuid, Uuid), Entry>>,
    /// Tokens whose signature, issuer and audience were verified, with their claims. The time claims are
    /// still checked on every request; a token string that verified once verifies again (same key).
    tokens: RwLock<HashMap<String, Claims>>,
}

impl AuthCache {
    /// `ttl` zero turns the cache off.
    pub fn new(ttl: std::time::Duration, gate: WriteGate) -> Self {
        AuthCache {
            ttl: Duration::from_std(ttl).unwrap_or(Duration::zero()),
            gate,
            restarts: AtomicU64::new(0),
            entries: RwLock::new(HashMap::new()),
            tokens: RwLock::new(HashMap::new()),
        }
    }

    /// The principal checked for this user and subscriber with this token generation, if the check is
    /// still fresh.
    pub fn get(&self, user: Uuid, subscriber: Uuid, generation: i64, now: DateTime<Utc>) -> Option<Principal> {
        if self.ttl <= Duration::zero() {
            return None;
        }
        let epoch = self.epoch();
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        let e = entries.get(&(user, subscriber))?;
        (e.epoch == epoch && e.generation == generation && now >= e.at && now - e.at < self.ttl)
            .then(|| e.principal.clone())
    }

    /// Keeps a check the database just answered. `epoch` is the write epoch read before the query, so a
    /// write that committed while the query ran leaves the entry stale from the start.
    pub fn put(&self, principal: &Principal, generation: i64, now: DateTime<Utc>, epoch: u64) {
        if self.ttl <= Duration::zero() {
            return;
        }
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(
            (principal.user_id, principal.subscriber_id),
            Entry { principal: principal.clone(), generation, at: now, epoch },
        );
    }

    /// The claims of a token verified before on this replica.
    pub fn claims(&self, token: &str) -> Option<Claims> {
        if self.ttl <= Duration::zero() {
            return None;
        }
        self.tokens.read().unwrap_or_else(|p| p.into_inner()).get(token).cloned()
    }

    pub fn put_claims(&self, token: &str, claims: &Claims) {
        if self.ttl <= Duration::zero() || token.len() > MAX_TOKEN_LEN {
            return;
        }
        let mut tokens = self.tokens.write().unwrap_or_else(|p| p.into_inner());
        if tokens.len() >= MAX_TOKENS {
            tokens.clear();
        }
        tokens.insert(token.to_owned(), claims.clone());
    }

    /// Moves whenever an entry may have gone stale: a write committed here, or `start_over`. A check
    /// that read the database before it moved is stale from the start (see `put`).
    pub fn epoch(&self) -> u64 {
        self.gate.epoch().wrapping_add(self.restarts.load(Ordering::Acquire))
    }

    /// Drops every membership check held (verified token signatures stay: a membership change does not
    /// change them), including checks still on their way from the database.
    pub fn start_over(&self) {
        self.restarts.fetch_add(1, Ordering::AcqRel);
        self.entries.write().unwrap_or_else(|p| p.into_inner()).clear();
    }
}
