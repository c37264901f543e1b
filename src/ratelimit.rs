//! A per-client request rate limit: a user or an API key by its id (`Principal::rate_key`; HTTP requests
//! and WebSocket `subscribe` messages draw from one bucket), an anonymous caller by its address.
//! `governor`'s keyed GCRA limiter: `burst` requests at once, then `per_second`. In memory, per replica,
//! in a sharded map (no global lock). Keys whose bucket is full again are dropped by `upkeep` (run
//! periodically by `app::spawn_upkeep`) and at once when the table passes `MAX_CLIENTS`, so a flood of
//! distinct addresses cannot grow it without bound.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter as Gcra};

pub struct RateLimiter<C: Clock = DefaultClock> {
    limiter: Gcra<String, DefaultKeyedStateStore<String>, C, NoOpMiddleware<C::Instant>>,
    clock: C,
    checks: AtomicU64,
}

/// Past this many clients tracked, idle ones are dropped at once (rather than at the next upkeep).
const MAX_CLIENTS: usize = 100_000;
/// How often (in checks) the table's size is looked at.
const SIZE_EVERY: u64 = 1024;

impl RateLimiter {
    /// `None` when the limit is off (`per_second == 0`).
    pub fn new(per_second: u32, burst: u32) -> Option<Self> {
        Self::with_clock(per_second, burst, DefaultClock::default())
    }
}

impl<C: Clock + Clone> RateLimiter<C> {
    fn with_clock(per_second: u32, burst: u32, clock: C) -> Option<Self> {
        let rate = NonZeroU32::new(per_second)?;
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::per_second(rate).allow_burst(burst);
        let limiter = Gcra::new(quota, DefaultKeyedStateStore::default(), clock.clone());
        Some(RateLimiter { limiter, clock, checks: AtomicU64::new(0) })
    }

    /// Takes one request from `client`'s bucket, or says how long until one is allowed.
    pub fn check(&self, client: &str) -> Result<(), Duration> {
        if self.checks.fetch_add(1, Ordering::Relaxed).is_multiple_of(SIZE_EVERY) && self.limiter.len() > MAX_CLIENTS {
            self.limiter.retain_recent();
        }
        self.limiter.check_key(&client.to_owned()).map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }

    /// Drops the clients whose bucket is full again (indistinguishable from a new client).
    pub fn upkeep(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }

    /// How many clients are tracked.
    pub fn len(&self) -> usize {
        self.limiter.len()
    }

    pub fn is_empty(&self) -> bool {
        self.limiter.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;

    #[test]
    fn a_burst_then_the_rate() {
        let clock = FakeRelativeClock::default();
        let l = RateLimiter::with_clock(10, 3, clock.clone()).unwrap();
        for _ in 0..3 {
            assert!(l.check("a").is_ok());
        }
        let wait = l.check("a").unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_millis(100), "{wait:?}");
        // Another client has its own bucket.
        assert!(l.check("b").is_ok());
        // A tenth of a second later one more request is allowed.
        clock.advance(Duration::from_millis(100));
        assert!(l.check("a").is_ok());
        assert!(l.check("a").is_err());
    }

    #[test]
    fn idle_clients_are_dropped_by_the_upkeep() {
        let clock = FakeRelativeClock::default();
        let l = RateLimiter::with_clock(10, 3, clock.clone()).unwrap();
        for i in 0..1000 {
            assert!(l.check(&format!("ip:{i}")).is_ok());
        }
        assert!(l.check("busy").is_ok());
        assert_eq!(l.len(), 1001);
        // Every one-request client's bucket is full again 0.1 s later (governor drops it one emission
        // interval after that); "busy" spends its burst now.
        clock.advance(Duration::from_millis(200));
        for _ in 0..3 {
            let _ = l.check("busy");
        }
        l.upkeep();
        assert_eq!(l.len(), 1);
        assert!(l.check("busy").is_err());
    }

    #[test]
    fn off_means_none() {
        assert!(RateLimiter::new(0, 10).is_none());
    }
}
