//! A per-client request rate limit (token bucket): a user or an API key by its id (`Principal::rate_key`;
//! HTTP requests and WebSocket `subscribe` messages draw from one bucket), an anonymous caller by its address.
//! In memory, per replica; idle buckets are dropped so the table stays bounded.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Most clients tracked at once; past it, full (idle) buckets are dropped first.
const MAX_CLIENTS: usize = 100_000;

impl RateLimiter {
    /// `None` when the limit is off (`per_second == 0`).
    pub fn new(per_second: u32, burst: u32) -> Option<Self> {
        (per_second > 0).then(|| RateLimiter {
            per_second: per_second as f64,
            burst: burst.max(1) as f64,
            buckets: Mutex::new(HashMap::new()),
        })
    }

    /// Takes one token for `client`, or says how long until one is available.
    pub fn check(&self, client: &str, now: Instant) -> Result<(), Duration> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= MAX_CLIENTS && !buckets.contains_key(client) {
            let full_after = Duration::from_secs_f64(self.burst / self.per_second);
            buckets.retain(|_, b| now.duration_since(b.at) < full_after);
            if buckets.len() >= MAX_CLIENTS {
                return Err(Duration::from_secs(1));
            }
        }
        let b = buckets.entry(client.to_owned()).or_insert(Bucket { tokens: self.burst, at: now });
        b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * self.per_second).min(self.burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - b.tokens) / self.per_second))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_rate() {
        let l = RateLimiter::new(10, 3).unwrap();
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(l.check("a", t0).is_ok());
        }
        let wait = l.check("a", t0).unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_millis(100));
        // Another client has its own bucket.
        assert!(l.check("b", t0).is_ok());
        // A tenth of a second later one more token has come.
        assert!(l.check("a", t0 + Duration::from_millis(100)).is_ok());
        assert!(l.check("a", t0 + Duration::from_millis(100)).is_err());
    }

    #[test]
    fn off_means_none() {
        assert!(RateLimiter::new(0, 10).is_none());
    }
}
