//! A short-lived, per-replica cache of the membership check the edge makes on every request.
//!
//! Every request still verifies its token (signature, `exp`, `nbf`, `iss`, `aud`); what is cached is the
//! database's answer to "is this user active and does it still hold this membership with this role".
//! An entry lives at most the configured time (`PARTNERGRAPH_AUTH_CACHE_MS`) and is dropped as soon as
//! this replica commits any write (the write gate's epoch moves), or hears that a membership changed on
//! any replica (`start_over`, from the event bus's access signal), so a member removed, demoted or
//! deactivated loses access at once; only if that signal is lost, within the lifetime.
//!
//! API keys are kept the same way, by the hash of their secret, with the same lifetime and the same
//! epoch: revoking a key commits a write here and sends the access signal to every replica, so a revoked
//! key is refused at once everywhere, and only if the signal is lost within the lifetime — exactly as a
//! removed member. An expired key is refused from its expiry on, cached or not.

use std::collections::HashMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use super::{Actor, Claims, Principal};
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
    /// API keys by the SHA-256 of their secret.
    keys: RwLock<HashMap<String, Entry>>,
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
            keys: RwLock::new(HashMap::new()),
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
        let Some(user) = principal.user_id() else { return };
        if self.ttl <= Duration::zero() {
            return;
        }
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(
            (user, principal.subscriber_id),
            Entry { principal: principal.clone(), generation, at: now, epoch },
        );
    }

    /// The principal of the API key whose secret hashes to `secret_hash`, if its check is still fresh and
    /// the key has not expired since.
    pub fn key(&self, secret_hash: &str, now: DateTime<Utc>) -> Option<Principal> {
        if self.ttl <= Duration::zero() {
            return None;
        }
        let epoch = self.epoch();
        let keys = self.keys.read().unwrap_or_else(|p| p.into_inner());
        let e = keys.get(secret_hash)?;
        let unexpired = match e.principal.actor {
            Actor::Key { expires_at, .. } => expires_at.is_none_or(|t| now < t),
            Actor::User { .. } => false,
        };
        (unexpired && e.epoch == epoch && now >= e.at && now - e.at < self.ttl).then(|| e.principal.clone())
    }

    /// Keeps a key check the database just answered (`epoch` as for `put`).
    pub fn put_key(&self, secret_hash: &str, principal: &Principal, now: DateTime<Utc>, epoch: u64) {
        if self.ttl <= Duration::zero() || principal.api_key_id().is_none() {
            return;
        }
        let mut keys = self.keys.write().unwrap_or_else(|p| p.into_inner());
        if keys.len() >= MAX_TOKENS {
            keys.clear();
        }
        // A key has no token generations: revoking it is a write, which ends every entry anyway.
        keys.insert(secret_hash.to_owned(), Entry { principal: principal.clone(), generation: 0, at: now, epoch });
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

    /// Drops every membership and key check held (verified token signatures stay: a membership change
    /// does not change them), including checks still on their way from the database.
    pub fn start_over(&self) {
        self.restarts.fetch_add(1, Ordering::AcqRel);
        self.entries.write().unwrap_or_else(|p| p.into_inner()).clear();
        self.keys.write().unwrap_or_else(|p| p.into_inner()).clear();
    }
}
