//! Prometheus metrics through the `metrics` facade, recorded by `metrics-exporter-prometheus` and written
//! as text at `/metrics`: GraphQL requests by operation name and outcome code, a latency histogram, the
//! database pool, WebSockets, and webhook deliveries.
//!
//! Each application state has its own recorder (no global one: the tests run many apps in one process);
//! the facade's macros reach it through `metrics::with_local_recorder`. Counters and histograms are
//! atomics inside the exporter's sharded registry, so recording takes no lock of ours on the request path.
//! Histogram samples wait in a lock-free queue until the next render or upkeep (`Metrics::upkeep`, run
//! periodically by `app::spawn_upkeep`), so they cannot pile up while nobody scrapes.

use std::collections::HashSet;
use std::sync::RwLock;
use std::time::Duration;

use metrics::{Counter, Gauge, Histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder};

const REQUESTS: &str = "partnergraph_graphql_requests_total";
const REQUEST_DURATION: &str = "partnergraph_graphql_request_duration_seconds";
const DB_POOL: &str = "partnergraph_db_pool_connections";
const WS_CONNECTIONS: &str = "partnergraph_ws_connections";
const WS_OPERATIONS: &str = "partnergraph_ws_operations_total";
const COMPILED: &str = "partnergraph_graphql_compiled_total";
const WS_CLOSES: &str = "partnergraph_ws_closes_total";
const WEBHOOK_DELIVERIES: &str = "partnergraph_webhook_deliveries_total";
const WEBHOOK_ATTEMPT: &str = "partnergraph_webhook_attempt_duration_seconds";
const WEBHOOK_LATENCY: &str = "partnergraph_webhook_delivery_latency_seconds";

const REQUEST_SECS: [f64; 12] = [0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];
const ATTEMPT_SECS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];
const LATENCY_SECS: [f64; 12] = [0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 60.0, 600.0, 3600.0, 86400.0];

/// Operation names come from callers: past this many distinct names, the rest count as `other`.
const MAX_OPERATIONS: usize = 200;

pub struct Metrics {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    /// The operation names seen so far (read on every request; written only for a new name).
    operations: RwLock<HashSet<String>>,
    duration: Histogram,
    pool_open: Gauge,
    pool_idle: Gauge,
    ws_open: Gauge,
    ws_operations: Counter,
    compiled: Counter,
    pub webhooks: WebhookMetrics,
}

/// Webhook deliveries: outcomes of attempts, how long an attempt took, and how long a message waited
/// from its queuing to its delivery.
pub struct WebhookMetrics {
    delivered: Counter,
    retried: Counter,
    failed: Counter,
    attempt: Histogram,
    latency: Histogram,
}

impl WebhookMetrics {
    /// An attempt got a 2xx; `waited` is the time since the message was queued.
    pub fn delivered(&self, attempt: Duration, waited: Duration) {
        self.delivered.increment(1);
        self.attempt.record(attempt);
        self.latency.record(waited);
    }

    /// An attempt failed and a retry is scheduled.
    pub fn retried(&self, attempt: Duration) {
        self.retried.increment(1);
        self.attempt.record(attempt);
    }

    /// An attempt failed and the schedule is spent: the delivery is `FAILED`.
    pub fn failed(&self, attempt: Duration) {
        self.failed.increment(1);
        self.attempt.record(attempt);
    }
}

fn label(name: Option<&str>) -> String {
    match name {
        Some(n) if !n.is_empty() => n.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').take(64).collect(),
        _ => "anonymous".to_owned(),
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut builder = PrometheusBuilder::new();
        for (name, buckets) in
            [(REQUEST_DURATION, &REQUEST_SECS[..]), (WEBHOOK_ATTEMPT, &ATTEMPT_SECS), (WEBHOOK_LATENCY, &LATENCY_SECS)]
        {
            builder = builder
                .set_buckets_for_metric(Matcher::Full(name.to_owned()), buckets)
                .expect("the bucket lists are constant and not empty");
        }
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        let (duration, pool_open, pool_idle, ws_open, ws_operations, compiled, webhooks) = metrics::with_local_recorder(
            &recorder,
            || {
                metrics::describe_counter!(REQUESTS, "GraphQL requests by operation name and outcome code.");
                metrics::describe_histogram!(REQUEST_DURATION, "GraphQL request latency.");
                metrics::describe_gauge!(DB_POOL, "Database pool connections.");
                metrics::describe_gauge!(WS_CONNECTIONS, "Open WebSocket connections.");
                metrics::describe_counter!(WS_OPERATIONS, "Subscription operations started over WebSocket.");
                metrics::describe_counter!(
                    COMPILED,
                    "GraphQL requests answered by the compiled read path (also counted in the requests total)."
                );
                metrics::describe_counter!(
                    WS_CLOSES,
                    "WebSocket connections ended, by the server's close code (0: the client left)."
                );
                metrics::describe_counter!(
                    WEBHOOK_DELIVERIES,
                    "Webhook attempts by outcome: delivered (2xx), retried (failed, retry scheduled), failed (schedule spent)."
                );
                metrics::describe_histogram!(WEBHOOK_ATTEMPT, "One webhook attempt, connect to status line.");
                metrics::describe_histogram!(
                    WEBHOOK_LATENCY,
                    "From a webhook's queuing (its change's commit) to its delivery."
                );
                (
                    metrics::histogram!(REQUEST_DURATION),
                    metrics::gauge!(DB_POOL, "state" => "open"),
                    metrics::gauge!(DB_POOL, "state" => "idle"),
                    metrics::gauge!(WS_CONNECTIONS),
                    metrics::counter!(WS_OPERATIONS),
                    metrics::counter!(COMPILED),
                    WebhookMetrics {
                        delivered: metrics::counter!(WEBHOOK_DELIVERIES, "outcome" => "delivered"),
                        retried: metrics::counter!(WEBHOOK_DELIVERIES, "outcome" => "retried"),
                        failed: metrics::counter!(WEBHOOK_DELIVERIES, "outcome" => "failed"),
                        attempt: metrics::histogram!(WEBHOOK_ATTEMPT),
                        latency: metrics::histogram!(WEBHOOK_LATENCY),
                    },
                )
            },
        );
        Metrics {
            recorder,
            handle,
            operations: RwLock::default(),
            duration,
            pool_open,
            pool_idle,
            ws_open,
            ws_operations,
            compiled,
            webhooks,
        }
    }

    /// The label of a caller-given operation name: past `MAX_OPERATIONS` distinct names, `other`.
    fn operation(&self, operation: Option<&str>) -> String {
        let op = label(operation);
        if self.operations.read().unwrap_or_else(|p| p.into_inner()).contains(&op) {
            return op;
        }
        let mut known = self.operations.write().unwrap_or_else(|p| p.into_inner());
        if known.len() < MAX_OPERATIONS {
            known.insert(op.clone());
            op
        } else if known.contains(&op) {
            op
        } else {
            "other".to_owned()
        }
    }

    pub fn observe(&self, operation: Option<&str>, outcome: &str, elapsed: Duration) {
        let op = self.operation(operation);
        let outcome = outcome.to_owned();
        metrics::with_local_recorder(&self.recorder, || {
            metrics::counter!(REQUESTS, "operation" => op, "outcome" => outcome).increment(1);
        });
        self.duration.record(elapsed);
    }

    /// A request the compiled read path answered (`graphql::compiled`).
    pub fn compiled(&self) {
        self.compiled.increment(1);
    }

    /// A WebSocket connection opened.
    pub fn ws_opened(&self) {
        self.ws_open.increment(1.0);
    }

    /// A WebSocket connection ended, with the close code the server sent (None: the client left).
    pub fn ws_closed(&self, code: Option<u16>) {
        self.ws_open.decrement(1.0);
        let code = code.unwrap_or(0).to_string();
        metrics::with_local_recorder(&self.recorder, || {
            metrics::counter!(WS_CLOSES, "code" => code).increment(1);
        });
    }

    /// A subscription operation started on a WebSocket.
    pub fn ws_operation(&self) {
        self.ws_operations.increment(1);
    }

    /// Moves waiting histogram samples into their buckets (they would otherwise wait for the next render).
    pub fn upkeep(&self) {
        self.handle.run_upkeep();
    }

    /// The text exposition format; `pool` is (open connections, idle connections).
    pub fn render(&self, pool: (u32, usize)) -> String {
        self.pool_open.set(f64::from(pool.0));
        self.pool_idle.set(pool.1 as f64);
        self.handle.render()
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
        assert!(text.contains("partnergraph_graphql_requests_total{operation=\"Me\",outcome=\"OK\"} 2"), "{text}");
        assert!(text.contains("{operation=\"anonymous\",outcome=\"UNAUTHENTICATED\"} 1"));
        assert!(text.contains("{operation=\"badname\",outcome=\"OK\"} 1"));
        assert!(text.contains("partnergraph_graphql_request_duration_seconds_bucket{le=\"0.005\"} 3"), "{text}");
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
        assert_eq!(m.operations.read().unwrap().len(), MAX_OPERATIONS);
        let text = m.render((0, 0));
        assert!(text.contains("operation=\"other\""));
        assert!(!text.contains("operation=\"op499\""));
    }

    #[test]
    fn webhook_outcomes_and_latencies_are_counted() {
        let m = Metrics::default();
        m.webhooks.delivered(Duration::from_millis(20), Duration::from_millis(300));
        m.webhooks.retried(Duration::from_millis(3));
        m.webhooks.failed(Duration::from_secs(10));
        m.upkeep();
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
