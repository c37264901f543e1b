//! Webhook delivery to a real local receiver: signatures checked by the Standard Webhooks reference
//! verifier (PyPI `standardwebhooks`, scripts/webhooks/verify.py), retries, `FAILED` after the schedule,
//! redelivery with the same `webhook-id`, rotation's two signatures, the per-attempt address check, and
//! the per-endpoint bound.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::helpers::{TestApp, spawn_app_with};
use crate::webhooks::{deliveries, endpoint};

/// One request the receiver got.
#[derive(Clone, Debug)]
pub struct Hit {
    pub headers: HashMap<String, String>,
    pub body: String,
}

#[derive(Default)]
struct Inner {
    hits: Mutex<Vec<Hit>>,
    /// Statuses to answer, in order; 200 when none is left.
    answers: Mutex<VecDeque<u16>>,
    delay: Mutex<Duration>,
    running: AtomicUsize,
    max_running: AtomicUsize,
    changed: Notify,
}

/// A local HTTP receiver (plain HTTP on 127.0.0.1, which development allows).
pub struct Receiver {
    pub url: String,
    inner: Arc<Inner>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn hook(State(r): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> (StatusCode, &'static str) {
    let now = r.running.fetch_add(1, Ordering::SeqCst) + 1;
    r.max_running.fetch_max(now, Ordering::SeqCst);
    let delay = *r.delay.lock().unwrap();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let headers = headers.iter().map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned())).collect();
    r.hits.lock().unwrap().push(Hit { headers, body: String::from_utf8_lossy(&body).into_owned() });
    let status = r.answers.lock().unwrap().pop_front().unwrap_or(200);
    r.running.fetch_sub(1, Ordering::SeqCst);
    r.changed.notify_waiters();
    (StatusCode::from_u16(status).unwrap(), "receiver-internal-detail: stack trace and secrets")
}

impl Receiver {
    pub async fn start() -> Receiver {
        let inner = Arc::new(Inner::default());
        let app = axum::Router::new().fallback(hook).with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Receiver { url, inner, server }
    }

    /// Answers these statuses to the next requests, then 200.
    pub fn answer(&self, statuses: &[u16]) {
        self.inner.answers.lock().unwrap().extend(statuses);
    }

    pub fn delay(&self, d: Duration) {
        *self.inner.delay.lock().unwrap() = d;
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.inner.hits.lock().unwrap().clone()
    }

    /// The most requests it was answering at once.
    pub fn max_running(&self) -> usize {
        self.inner.max_running.load(Ordering::SeqCst)
    }

    /// Waits (at most 30 s) until it got at least `n` requests.
    pub async fn wait_for(&self, n: usize) -> Vec<Hit> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let notified = self.inner.changed.notified();
            let hits = self.hits();
            if hits.len() >= n {
                return hits;
            }
            assert!(tokio::time::Instant::now() < deadline, "the receiver got {} of {n} requests", hits.len());
            let _ = tokio::time::timeout(Duration::from_millis(200), notified).await;
        }
    }
}

/// Checks requests with the Standard Webhooks reference verifier: "ok" or its error, per request.
pub async fn verify(items: &[(&str, &Hit)]) -> Vec<String> {
    use tokio::io::AsyncWriteExt;
    let input = json!(
        items.iter().map(|(s, h)| json!({ "secret": s, "headers": h.headers, "body": h.body })).collect::<Vec<_>>()
    );
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/webhooks/verify.py");
    let mut child = tokio::process::Command::new("python3")
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child.stdin.take().unwrap().write_all(input.to_string().as_bytes()).await.unwrap();
    let out = child.wait_with_output().await.unwrap();
    assert!(
        out.status.success(),
        "the reference verifier did not run (python3 -m pip install -r scripts/webhooks/requirements.txt): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// An app whose webhook retries wait `retry` seconds each, with its sender running.
async fn app_sending(retry: &str, adjust: impl FnOnce(&mut partnergraph::config::Config)) -> TestApp {
    let schedule = partnergraph::domain::webhook::parse_retry_schedule(retry).unwrap();
    let app = spawn_app_with(move |c| {
        c.webhook_retry = schedule;
        c.jwt.token_ttl = Duration::from_secs(3 * 24 * 3600);
        adjust(c);
    })
    .await;
    partnergraph::service::webhooks::sender::spawn(app.state.ctx.clone()).expect("a sender");
    app
}

/// Waits (at most 30 s) until a delivery of the endpoint satisfies `pred`; returns it.
async fn delivery_where(app: &TestApp, endpoint: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let all = deliveries(app, &app.vendor, Some(endpoint)).await;
        if let Some(d) = all.iter().find(|d| pred(d)) {
            return d.clone();
        }
        assert!(tokio::time::Instant::now() < deadline, "no such delivery: {all:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

const SEND_TEST: &str = "mutation($id: ID!) { sendTestWebhook(endpointId: $id) { id messageId status } }";

#[tokio::test]
async fn a_local_receiver_gets_events_signed_so_that_the_reference_verifier_accepts_them() {
    let app = app_sending("5", |_| {}).await;
    let rx = Receiver::start().await;
    let (ep, secret) =
        endpoint(&app, &app.vendor, &rx.url, &["client.registered", "client.bound", "task.created"]).await;
    let p = app.partner("P").await;
    let c = app.client_of(&p, "Клиент «Ромашка»").await;
    let hits = rx.wait_for(3).await;
    let items: Vec<(&str, &Hit)> = hits.iter().map(|h| (secret.as_str(), h)).collect();
    assert_eq!(verify(&items).await, ["ok", "ok", "ok"]);
    // The verifier is not a rubber stamp: a changed body or another secret fails.
    let mut tampered = hits[0].clone();
    tampered.body = tampered.body.replace("Ромашка", "Лютик");
    let other = partnergraph::domain::webhook::format_secret(&[1u8; 32]);
    let refused = verify(&[(secret.as_str(), &tampered), (other.as_str(), &hits[1])]).await;
    assert!(refused.iter().all(|r| r.contains("No matching signature")), "{refused:?}");

    let mut types: Vec<String> = Vec::new();
    for h in &hits {
        assert_eq!(h.headers["content-type"], "application/json");
        assert!(h.headers["webhook-id"].starts_with("msg_"));
        let body: Value = serde_json::from_str(&h.body).unwrap();
        assert!(body["timestamp"].as_str().unwrap().ends_with('Z'));
        if body["type"] == "client.registered" {
            assert_eq!(body["data"]["clientId"], json!(c.subscriber_id));
            assert_eq!(body["data"]["name"], json!("Клиент «Ромашка»"));
            assert_eq!(body["data"]["servingPartnerId"], json!(p.subscriber_id));
        }
        types.push(body["type"].as_str().unwrap().to_owned());
    }
    types.sort();
    assert_eq!(types, ["client.bound", "client.registered", "task.created"]);
    // The log says delivered, with the same message id the receiver saw.
    let d = delivery_where(&app, &ep, |d| d["eventType"] == "client.registered" && d["status"] == "DELIVERED").await;
    assert_eq!(d["attempts"], json!(1));
    assert_eq!(d["responseStatus"], json!(200));
    assert!(d["deliveredAt"].is_string() && d["nextAttemptAt"].is_null());
    assert!(hits.iter().any(|h| h.headers["webhook-id"] == d["messageId"].as_str().unwrap()));
}

#[tokio::test]
async fn a_failing_receiver_is_retried_with_the_same_message_id_until_it_answers() {
    let app = app_sending("0,0,0", |_| {}).await;
    let rx = Receiver::start().await;
    rx.answer(&[500, 503]);
    let (ep, secret) = endpoint(&app, &app.vendor, &rx.url, &["client.registered"]).await;
    let r = app.as_(&app.vendor, SEND_TEST, json!({ "id": ep })).await;
    let sent = r.ok()["sendTestWebhook"].clone();
    let hits = rx.wait_for(3).await;
    let d = delivery_where(&app, &ep, |d| d["status"] == "DELIVERED").await;
    assert_eq!(d["id"], sent["id"]);
    assert_eq!(d["attempts"], json!(3));
    assert_eq!(d["lastError"], Value::Null);
    for h in &hits {
        assert_eq!(h.headers["webhook-id"], sent["messageId"].as_str().unwrap(), "one message id on every attempt");
        let body: Value = serde_json::from_str(&h.body).unwrap();
        assert_eq!(body["type"], "webhook.test", "sent whatever types the endpoint chose");
    }
    let items: Vec<(&str, &Hit)> = hits.iter().map(|h| (secret.as_str(), h)).collect();
    assert_eq!(verify(&items).await, ["ok", "ok", "ok"]);
    let metrics = app.raw(axum::http::Request::get("/metrics").body(axum::body::Body::empty()).unwrap()).await.body;
    assert!(metrics.contains("partnergraph_webhook_deliveries_total{outcome=\"retried\"} 2"), "{metrics}");
    assert!(metrics.contains("partnergraph_webhook_deliveries_total{outcome=\"delivered\"} 1"));
    assert!(metrics.contains("partnergraph_webhook_delivery_latency_seconds_count 1"));
}

#[tokio::test]
async fn after_the_retry_schedule_a_delivery_is_failed_and_a_redelivery_keeps_its_webhook_id() {
    let app = app_sending("0,0", |_| {}).await;
    let rx = Receiver::start().await;
    rx.answer(&[500, 500, 500]);
    let (ep, secret) = endpoint(&app, &app.vendor, &rx.url, &["payment.recorded"]).await;
    let r = app.as_(&app.vendor, SEND_TEST, json!({ "id": ep })).await;
    let sent = r.ok()["sendTestWebhook"].clone();
    let failed = delivery_where(&app, &ep, |d| d["status"] == "FAILED").await;
    assert_eq!(failed["attempts"], json!(3), "the first attempt and two retries");
    assert_eq!(failed["responseStatus"], json!(500));
    assert_eq!(failed["nextAttemptAt"], Value::Null);
    let error = failed["lastError"].as_str().unwrap();
    assert_eq!(error, "the endpoint answered HTTP 500");
    assert!(!failed.to_string().contains("receiver-internal-detail"), "never the response body");
    let failed_list = app.as_(&app.vendor, crate::webhooks::DELIVERIES, json!({ "e": ep, "s": "FAILED" })).await;
    assert_eq!(failed_list.ok()["webhookDeliveries"]["nodes"].as_array().unwrap().len(), 1);

    let r = app
        .as_(
            &app.vendor,
            "mutation($id: ID!) { redeliverWebhook(deliveryId: $id) { id messageId status attempts } }",
            json!({ "id": sent["id"] }),
        )
        .await;
    let again = r.ok()["redeliverWebhook"].clone();
    assert_ne!(again["id"], sent["id"], "a new delivery in the log");
    assert_eq!(again["messageId"], sent["messageId"]);
    assert_eq!((again["status"].as_str(), again["attempts"].as_i64()), (Some("PENDING"), Some(0)));
    let hits = rx.wait_for(4).await;
    assert_eq!(hits[3].headers["webhook-id"], sent["messageId"].as_str().unwrap());
    assert_eq!(hits[3].body, hits[0].body, "the same body");
    assert_eq!(verify(&[(secret.as_str(), &hits[3])]).await, ["ok"]);
    delivery_where(&app, &ep, |d| d["id"] == again["id"] && d["status"] == "DELIVERED").await;
    let first = delivery_where(&app, &ep, |d| d["id"] == sent["id"]).await;
    assert_eq!(first["status"], "FAILED", "the original stays as it was");
}

#[tokio::test]
async fn after_a_rotation_both_secrets_sign_for_a_day_then_only_the_new_one() {
    let app = app_sending("5", |_| {}).await;
    let rx = Receiver::start().await;
    let (ep, old) = endpoint(&app, &app.vendor, &rx.url, &["payment.recorded"]).await;
    let r = app
        .as_(&app.vendor, "mutation($id: ID!) { rotateWebhookSecret(id: $id) { secret } }", json!({ "id": ep }))
        .await;
    let new = r.ok()["rotateWebhookSecret"]["secret"].as_str().unwrap().to_owned();
    app.as_(&app.vendor, SEND_TEST, json!({ "id": ep })).await.ok();
    let hits = rx.wait_for(1).await;
    let sigs: Vec<&str> = hits[0].headers["webhook-signature"].split(' ').collect();
    assert_eq!(sigs.len(), 2, "{sigs:?}");
    assert!(sigs.iter().all(|s| s.starts_with("v1,")));
    assert_eq!(verify(&[(old.as_str(), &hits[0]), (new.as_str(), &hits[0])]).await, ["ok", "ok"]);
    // Each signature alone verifies with its own secret.
    let mut only_first = hits[0].clone();
    only_first.headers.insert("webhook-signature".into(), sigs[0].to_owned());
    let mut only_second = hits[0].clone();
    only_second.headers.insert("webhook-signature".into(), sigs[1].to_owned());
    assert_eq!(verify(&[(new.as_str(), &only_first), (old.as_str(), &only_second)]).await, ["ok", "ok"]);

    app.state.clock.advance(chrono::Duration::hours(25));
    app.as_(&app.vendor, SEND_TEST, json!({ "id": ep })).await.ok();
    let hits = rx.wait_for(2).await;
    assert_eq!(hits[1].headers["webhook-signature"].split(' ').count(), 1);
    let r = verify(&[(new.as_str(), &hits[1]), (old.as_str(), &hits[1])]).await;
    assert_eq!(r[0], "ok");
    assert_ne!(r[1], "ok", "the old secret stopped signing after 24 hours");
}

#[tokio::test]
async fn a_name_that_resolves_to_a_local_address_when_sending_is_not_called() {
    let app = app_sending("5", |c| c.webhook_allow_private = false).await;
    // Something listening on the loopback address that the name will resolve to: it counts connections.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    let server = tokio::spawn(async move {
        while let Ok((_s, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
        }
    });
    // Saved while it pointed at a public address; the name now resolves to 127.0.0.1 (as a DNS change
    // would make it).
    let (ep, _) = endpoint(&app, &app.vendor, "https://8.8.8.8/hook", &["payment.recorded"]).await;
    let backend = sea_orm::ConnectionTrait::get_database_backend(&app.state.db);
    sea_orm::ConnectionTrait::execute_raw(
        &app.state.db,
        sea_orm::Statement::from_sql_and_values(
            backend,
            match backend {
                sea_orm::DbBackend::Postgres => "UPDATE webhook_endpoints SET url = $1",
                _ => "UPDATE webhook_endpoints SET url = ?",
            },
            [format!("https://localhost:{port}/hook").into()],
        ),
    )
    .await
    .unwrap();
    app.as_(&app.vendor, SEND_TEST, json!({ "id": ep })).await.ok();
    let d = delivery_where(&app, &ep, |d| d["attempts"].as_i64() >= Some(1)).await;
    assert_eq!(d["status"], "PENDING", "retried later, like any failure");
    assert_eq!(d["lastError"], "the destination is a private, local or reserved address");
    assert_eq!(d["responseStatus"], Value::Null);
    assert_eq!(accepted.load(Ordering::SeqCst), 0, "no connection was made");
    server.abort();
}

#[tokio::test]
async fn a_slow_endpoint_holds_at_most_two_attempts_and_delays_no_other_endpoint() {
    let app = app_sending("5", |c| c.webhook_per_endpoint = 2).await;
    let slow = Receiver::start().await;
    slow.delay(Duration::from_secs(2));
    let fast = Receiver::start().await;
    let (slow_ep, _) = endpoint(&app, &app.vendor, &slow.url, &["payment.recorded"]).await;
    let (fast_ep, _) = endpoint(&app, &app.vendor, &fast.url, &["payment.recorded"]).await;
    for _ in 0..6 {
        app.as_(&app.vendor, SEND_TEST, json!({ "id": slow_ep })).await.ok();
    }
    app.as_(&app.vendor, SEND_TEST, json!({ "id": fast_ep })).await.ok();
    delivery_where(&app, &fast_ep, |d| d["status"] == "DELIVERED").await;
    let slow_done = deliveries(&app, &app.vendor, Some(&slow_ep)).await;
    assert!(
        slow_done.iter().any(|d| d["status"] == "PENDING"),
        "the fast endpoint was served while the slow one still had work: {slow_done:?}"
    );
    slow.wait_for(6).await;
    assert!(slow.max_running() <= 2, "at most two attempts at once to one endpoint, saw {}", slow.max_running());
    assert_eq!(slow.max_running(), 2, "and it does use two");
}

#[tokio::test]
async fn two_replicas_sending_at_once_never_send_one_attempt_twice() {
    let app = app_sending("5", |c| c.webhook_per_endpoint = 8).await;
    // A second replica on the same database, with its own sender.
    let replica = partnergraph::app::AppState::connect((*app.state.config).clone()).await.unwrap();
    partnergraph::service::webhooks::sender::spawn(replica.ctx.clone()).expect("a second sender");
    let rx = Receiver::start().await;
    let (ep, _) = endpoint(&app, &app.vendor, &rx.url, &["payment.recorded"]).await;
    let model = entity::webhook_endpoint::Entity::find_by_id(uuid::Uuid::parse_str(&ep).unwrap())
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap();
    use partnergraph::service::webhooks::events::{new_message_id, pending_row};
    use sea_orm::EntityTrait;
    const N: usize = 200;
    let now = app.state.clock.now();
    let rows: Vec<_> = (0..N)
        .map(|i| pending_row(&model, "payment.recorded", new_message_id(), format!("{{\"n\":{i}}}"), now))
        .collect();
    entity::webhook_delivery::Entity::insert_many(rows).exec_without_returning(&app.state.db).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let delivered =
            app.as_(&app.vendor, "{ webhookDeliveries(status: DELIVERED) { totalCount } }", json!({})).await;
        if delivered.ok()["webhookDeliveries"]["totalCount"] == json!(N) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "not all delivered: {}", delivered.0);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let hits = rx.hits();
    let ids: std::collections::BTreeSet<&str> = hits.iter().map(|h| h.headers["webhook-id"].as_str()).collect();
    assert_eq!(ids.len(), N, "every message arrived");
    assert_eq!(hits.len(), N, "and none twice");
}
