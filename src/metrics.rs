//! Prometheus metrics, kept in memory and written as text at `/metrics`: GraphQL requests by operation
//! name and outcome code, a latency histogram, the database pool, WebSockets, and webhook deliveries.

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

const BUCKETS_MS: [u64; 12] = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000];
/// Operation names come from callers: past this many distinct names, the rest count as `other`.
const MAX_OPERATIONS: usize = 200;

#[derive(Default)]
pub struct Metrics {
    requests: Mutex<HashMap<(String, String), u64>>,
    buckets: [AtomicU64; BUCKETS_MS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
    ws_open: AtomicU64,
    ws_operations: AtomicU64,
    /// WebSocket connections ended, by close code (0: the client went away without one from us).
    ws_closes: Mutex<HashMap<u16, u64>>,
    pub webhooks: WebhookMetrics,
}

/// Webhook deliveries: outcomes of attempts, how long an attempt took, and how long a message waited
/// from its queuing to its delivery.
#[derive(Default)]
pub struct WebhookMetrics {
    delivered: AtomicU64,
    retried: AtomicU64,
    failed: AtomicU64,
    attempt: Histogram<ATTEMPT_BUCKETS>,
    latency: Histogram<LATENCY_BUCKETS>,
}

const ATTEMPT_BUCKETS: usize = 10;
const ATTEMPT_SECS: [f64; ATTEMPT_BUCKETS] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];
const LATENCY_BUCKETS: usize = 12;
const LATENCY_SECS: [f64; LATENCY_BUCKETS] = [0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 60.0, 600.0, 3600.0, 86400.0];

/// A cumulative histogram in seconds.
struct Histogram<const N: usize> {
    buckets: [AtomicU64; N],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl<const N: usize> Default for Histogram<N> {
    fn default() -> Self {
        Histogram {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            count: AtomicU64::new(0),
            sum_micros: AtomicU64::new(0),
        }
    }
}

impl<const N: usize> Histogram<N> {
    fn observe(&self, bounds: &[f64; N], d: Duration) {
        let secs = d.as_secs_f64();
        for (i, le) in bounds.iter().enumerate() {
            if secs <= *le {
                self.buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(d.as_micros() as u64, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, help: &str, bounds: &[f64; N]) {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} histogram");
        for (i, le) in bounds.iter().enumerate() {
            let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {}", self.buckets[i].load(Ordering::Relaxed));
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(out, "{name}_sum {}", self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6);
        let _ = writeln!(out, "{name}_count {count}");
    }
}

impl WebhookMetrics {
    /// An attempt got a 2xx; `waited` is the time since the message was queued.
    pub fn delivered(&self, attempt: Duration, waited: Duration) {
        self.delivered.fetch_add(1, Ordering::Relaxed);
        self.attempt.observe(&ATTEMPT_SECS, attempt);
        self.latency.observe(&LATENCY_SECS, waited);
    }

    /// An attempt failed and a retry is scheduled.
    pub fn retried(&self, attempt: Duration) {
        self.retried.fetch_add(1, Ordering::Relaxed);
        self.attempt.observe(&ATTEMPT_SECS, attempt);
    }

    /// An attempt failed and the schedule is spent: the delivery is `FAILED`.
    pub fn failed(&self, attempt: Duration) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        self.attempt.observe(&ATTEMPT_SECS, attempt);
    }

    fn render(&self, out: &mut String) {
        out.push_str("# HELP partnergraph_webhook_deliveries_total Webhook attempts by outcome: delivered (2xx), retried (failed, retry scheduled), failed (schedule spent).\n");
        out.push_str("# TYPE partnergraph_webhook_deliveries_total counter\n");
        for (outcome, n) in [("delivered", &self.delivered), ("retried", &self.retried), ("failed", &self.failed)] {
            let _ = writeln!(
                out,
                "partnergraph_webhook_deliveries_total{{outcome=\"{outcome}\"}} {}",
                n.load(Ordering::Relaxed)
            );
        }
        self.attempt.render(
            out,
            "partnergraph_webhook_attempt_duration_seconds",
            "One webhook attempt, connect to status line.",
            &ATTEMPT_SECS,
        );
        self.latency.render(
            out,
            "partnergraph_webhook_delivery_latency_seconds",
            "From a webhook's queuing (its change's commit) to its delivery.",
            &LATENCY_SECS,
        );
    }
}

fn label(name: Option<&str>) -> String {
    match name {
        Some(n) if !n.is_empty() => n.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').take(64).collect(),
        _ => "anonymous".to_owned(),
    }
}

impl Metrics {
    pub fn observe(&self, operation: Option<&str>, outcome: &str, elapsed: Duration) {
        {
            let mut r = self.requests.lock().unwrap_or_else(|p| p.into_inner());
            let mut op = label(operation);
            if r.len() >= MAX_OPERATIONS && !r.keys().any(|(o, _)| *o == op) {
                op = "other".to_owned();
            }
            *r.entry((op, outcome.to_owned())).or_default() += 1;
        }
        let ms = elapsed.as_millis() as u64;
        for (i, le) in BUCKETS_MS.iter().enumerate() {
            if ms <= *le {
                self.buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
    }

    /// A WebSocket connection opened.
    pub fn ws_opened(&self) {
        self.ws_open.fetch_add(1, Ordering::Relaxed);
    }

    /// A WebSocket connection ended, with the close code the server sent (None: the client left).
    pub fn ws_closed(&self, code: Option<u16>) {
        self.ws_open.fetch_sub(1, Ordering::Relaxed);
        *self.ws_closes.lock().unwrap_or_else(|p| p.into_inner()).entry(code.unwrap_or(0)).or_default() += 1;
    }

    /// A subscription operation started on a WebSocket.
    pub fn ws_operation(&self) {
        self.ws_operations.fetch_add(1, Ordering::Relaxed);
    }

    /// The text exposition format; `pool` is (open connections, idle connections).
    pub fn render(&self, pool: (u32, usize)) -> String {
        let mut out = String::new();
        out.push_str(
            "# HELP partnergraph_graphql_requests_total GraphQL requests by operation name and outcome code.\n",
        );
        out.push_str("# TYPE partnergraph_graphql_requests_total counter\n");
        let r = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        let mut rows: Vec<_> = r.iter().collect();
        rows.sort();
        for ((op, outcome), n) in rows {
            let _ =
                writeln!(out, "partnergraph_graphql_requests_total{{operation=\"{op}\",outcome=\"{outcome}\"}} {n}");
        }
        out.push_str("# HELP partnergraph_graphql_request_duration_seconds GraphQL request latency.\n");
        out.push_str("# TYPE partnergraph_graphql_request_duration_seconds histogram\n");
        for (i, le) in BUCKETS_MS.iter().enumerate() {
            let _ = writeln!(
                out,
                "partnergraph_graphql_request_duration_seconds_bucket{{le=\"{}\"}} {}",
                *le as f64 / 1000.0,
                self.buckets[i].load(Ordering::Relaxed)
            );
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "partnergraph_graphql_request_duration_seconds_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(
            out,
            "partnergraph_graphql_request_duration_seconds_sum {}",
            self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "partnergraph_graphql_request_duration_seconds_count {count}");
        out.push_str("# HELP partnergraph_db_pool_connections Database pool connections.\n");
        out.push_str("# TYPE partnergraph_db_pool_connections gauge\n");
        let _ = writeln!(out, "partnergraph_db_pool_connections{{state=\"open\"}} {}", pool.0);
        let _ = writeln!(out, "partnergraph_db_pool_connections{{state=\"idle\"}} {}", pool.1);
        out.push_str("# HELP partnergraph_ws_connections Open WebSocket connections.\n");
        out.push_str("# TYPE partnergraph_ws_connections gauge\n");
        let _ = writeln!(out, "partnergraph_ws_connections {}", self.ws_open.load(Ordering::Relaxed));
        out.push_str("# HELP partnergraph_ws_operations_total Subscription operations started over WebSocket.\n");
        out.push_str("# TYPE partnergraph_ws_operations_total counter\n");
        let _ = writeln!(out, "partnergraph_ws_operations_total {}", self.ws_operations.load(Ordering::Relaxed));
        out.push_str(
            "# HELP partnergraph_ws_closes_total WebSocket connections ended, by the server's close code (0: the client left).\n",
        );
        out.push_str("# TYPE partnergraph_ws_closes_total counter\n");
        let closes = self.ws_closes.lock().unwrap_or_else(|p| p.into_inner());
        let mut rows: Vec<_> = closes.iter().collect();
        rows.sort();
        for (code, n) in rows {
            let _ = writeln!(out, "partnergraph_ws_closes_total{{code=\"{code}\"}} {n}");
        }
        self.webhooks.render(&mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_operation_and_outcome_and_bounds_the_labels() {
        let m = Metrics::default();
        m.observe(Some("Me"), "OK", Duration::from_millis(3));
        m.observe(Some("Me"), "OK", Duration::from_millis(30));
        m.observe(None, "UNAUTHENTICATED", Duration::from_millis(1));
        m.observe(Some("bad\"name{}"), "OK", Duration::from_millis(1));
        let text = m.render((3, 1));
        assert!(text.contains("partnergraph_graphql_requests_total{operation=\"Me\",outcome=\"OK\"} 2"));
        assert!(text.contains("{operation=\"anonymous\",outcome=\"UNAUTHENTICATED\"} 1"));
        assert!(text.contains("{operation=\"badname\",outcome=\"OK\"} 1"));
        assert!(text.contains("partnergraph_graphql_request_duration_seconds_bucket{le=\"0.005\"} 3"));
        assert!(text.contains("partnergraph_graphql_request_duration_seconds_count 4"));
        assert!(text.contains("partnergraph_db_pool_connections{state=\"open\"} 3"));
        m.ws_opened();
        m.ws_opened();
        m.ws_operation();
        m.ws_closed(Some(4403));
        let text = m.render((3, 1));
        assert!(text.contains("partnergraph_ws_connections 1"), "{text}");
        assert!(text.contains("partnergraph_ws_operations_total 1"));
        assert!(text.contains("partnergraph_ws_closes_total{code=\"4403\"} 1"));
        for i in 0..500 {
            m.observe(Some(&format!("op{i}")), "OK", Duration::from_millis(1));
        }
        assert!(m.requests.lock().unwrap().len() <= MAX_OPERATIONS + 1);
        assert!(m.render((0, 0)).contains("operation=\"other\""));
    }

    #[test]
    fn webhook_outcomes_and_latencies_are_counted() {
        let m = Metrics::default();
        m.webhooks.delivered(Duration::from_millis(20), Duration::from_millis(300));
        m.webhooks.retried(Duration::from_millis(3));
        m.webhooks.failed(Duration::from_secs(10));
        let text = m.render((0, 0));
        assert!(text.contains("partnergraph_webhook_deliveries_total{outcome=\"delivered\"} 1"), "{text}");
        assert!(text.contains("partnergraph_webhook_deliveries_total{outcome=\"retried\"} 1"));
        assert!(text.contains("partnergraph_webhook_deliveries_total{outcome=\"failed\"} 1"));
        assert!(text.contains("partnergraph_webhook_attempt_duration_seconds_bucket{le=\"0.025\"} 2"));
        assert!(text.contains("partnergraph_webhook_attempt_duration_seconds_count 3"));
        assert!(text.contains("partnergraph_webhook_delivery_latency_seconds_bucket{le=\"0.25\"} 0"));
        assert!(text.contains("partnergraph_webhook_delivery_latency_seconds_bucket{le=\"0.5\"} 1"));
    }
}
