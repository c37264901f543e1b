//! A short-lived, per-replica cache of the membership check the edge makes on every request.
//!
//! Every request still verifies its token (signature, `exp`, `nbf`, `iss`, `aud`); what is cached is the
//! database's answer to "is this user active and does it still hold this membership with this role".
//! An entry lives at most the configured time (`PARTNERGRAPH_AUTH_CACHE_MS`) and is dropped as soon as
//! this replica commits any write (the write gate's epoch moves), so a member removed, demoted or
//! deactivated through this replica loses access at once; through another replica, within the lifetime.

use std::collections::HashMap;
use std::sync::RwLock;

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use super::Principal;
use crate::db::WriteGate;

/// The most entries held; past it the cache starts over (a bound on memory, not an LRU).
const MAX_ENTRIES: usize = 100_000;

struct Entry {
    principal: Principal,
    at: DateTime<Utc>,
    epoch: u64,
}

pub struct AuthCache {
    ttl: Duration,
    gate: WriteGate,
    entries: RwLock<HashMap<(Uuid, Uuid), Entry>>,
}

impl AuthCache {
    /// `ttl` zero turns the cache off.
    pub fn new(ttl: std::time::Duration, gate: WriteGate) -> Self {
        AuthCache {
            ttl: Duration::from_std(ttl).unwrap_or(Duration::zero()),
            gate,
            entries: RwLock::new(HashMap::new()),
        }
    }

    /// The principal checked for this user and subscriber, if the check is still fresh.
    pub fn get(&self, user: Uuid, subscriber: Uuid, now: DateTime<Utc>) -> Option<Principal> {
        if self.ttl <= Duration::zero() {
            return None;
        }
        let epoch = self.gate.epoch();
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        let e = entries.get(&(user, subscriber))?;
        (e.epoch == epoch && now >= e.at && now - e.at < self.ttl).then(|| e.principal.clone())
    }

    /// Keeps a check the database just answered. `epoch` is the write epoch read before the query, so a
    /// write that committed while the query ran leaves the entry stale from the start.
    pub fn put(&self, principal: &Principal, now: DateTime<Utc>, epoch: u64) {
        if self.ttl <= Duration::zero() {
            return;
        }
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(
            (principal.user_id, principal.subscriber_id),
            Entry { principal: principal.clone(), at: now, epoch },
        );
    }

    pub fn epoch(&self) -> u64 {
        self.gate.epoch()
    }
}
