//! Webhook delivery benchmark: queues `BENCH_WEBHOOKS` deliveries (default 5,000) spread over
//! `BENCH_WEBHOOK_ENDPOINTS` endpoints (default 8) of a local receiver that answers 200 at once, starts the
//! real sender (16 attempts at once, 2 per endpoint), and times how long until every one is `DELIVERED`:
//! claims with leases, signing, one HTTP/1.1 connection per attempt, and the bookkeeping of each attempt.
//!
//! `cargo bench --bench webhooks` on SQLite (a temp file), or with `DATABASE_URL=postgres://…/db` on an
//! empty PostgreSQL database. `scripts/bench-webhooks.sh` runs both.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use partnergraph::app::AppState;
use partnergraph::auth::{Principal, Scope};
use partnergraph::config::Config;
use partnergraph::domain::{Role, SubscriberKind};
use partnergraph::service::accounts;
use partnergraph::service::webhooks::endpoints::{self, EndpointInput};
use partnergraph::service::webhooks::events::{new_message_id, pending_row};
use partnergraph::service::webhooks::sender;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, TransactionTrait};
use uuid::Uuid;

use common::env_usize;

#[tokio::main]
async fn main() {
    let total = env_usize("BENCH_WEBHOOKS", 5_000);
    let endpoints_n = env_usize("BENCH_WEBHOOK_ENDPOINTS", 8);
    let (url, file) = match std::env::var("DATABASE_URL") {
        Ok(u) if u.starts_with("postgres") => (u, None),
        _ => {
            let f = std::env::temp_dir().join(format!("partnergraph-bench-{}.db", Uuid::new_v4().simple()));
            (format!("sqlite://{}?mode=rwc", f.display()), Some(f))
        }
    };
    let mut config = Config::defaults(&url);
    config.db_pool = 16;
    config.webhook_allow_private = true;
    let state = AppState::connect(config).await.expect("connect");
    state.migrate().await.expect("migrate");
    println!(
        "backend: {:?}; {total} deliveries over {endpoints_n} endpoints; {} attempts at once, {} per endpoint",
        state.db.get_database_backend(),
        state.config.webhook_concurrency,
        state.config.webhook_per_endpoint
    );

    // The receiver: answers 200 to everything and counts.
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let app = axum::Router::new().fallback(move || {
        let c = counter.clone();
        async move {
            c.fetch_add(1, Ordering::Relaxed);
            "ok"
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let receiver = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let (vendor, owner) =
        accounts::bootstrap(&state, "Bench Vendor", "bench@vendor.test", "bench-password").await.expect("bootstrap");
    let membership = entity::membership::Entity::find().one(&state.db).await.unwrap().unwrap();
    let p = Principal::person(owner.id, membership.id, vendor.id, SubscriberKind::Vendor, Role::Owner);
    let mut eps = Vec::new();
    for _ in 0..endpoints_n {
        let input = EndpointInput {
            url: receiver.clone(),
            event_types: vec!["payment.recorded".into()],
            description: None,
            enabled: true,
        };
        eps.push(endpoints::create(&state, Scope::new(&p), input).await.expect("endpoint").0);
    }

    // Queue the deliveries (a payment.recorded-sized body each), 500 per transaction.
    let body = serde_json::json!({ "type": "payment.recorded", "timestamp": "2026-12-01T10:00:00.000Z", "data": {
        "paymentId": Uuid::now_v7(), "subscriberId": Uuid::now_v7(), "tariffId": Uuid::now_v7(), "periodMonths": 1,
        "amount": "1500.00", "channel": "DIRECT", "paidAt": "2026-12-01T10:00:00.000Z", "externalId": "bench" } })
    .to_string();
    let now = state.clock.now();
    let mut queued = 0;
    while queued < total {
        let n = (total - queued).min(500);
        let rows: Vec<_> = (0..n)
            .map(|i| {
                pending_row(&eps[(queued + i) % eps.len()], "payment.recorded", new_message_id(), body.clone(), now)
            })
            .collect();
        let txn = state.db.begin().await.unwrap();
        entity::webhook_delivery::Entity::insert_many(rows).exec_without_returning(&txn).await.unwrap();
        txn.commit().await.unwrap();
        queued += n;
    }

    let started = Instant::now();
    let task = sender::spawn(state.ctx.clone()).expect("a sender");
    loop {
        let delivered = entity::webhook_delivery::Entity::find()
            .filter(entity::webhook_delivery::Column::Status.eq("DELIVERED"))
            .count(&state.db)
            .await
            .unwrap();
        if delivered as usize >= total {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(600), "{delivered} of {total} delivered in 10 minutes");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = started.elapsed();
    task.abort();
    let metrics = state.metrics.render((0, 0));
    let metric = |name: &str| {
        metrics.lines().find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse::<f64>().ok())).unwrap_or(0.0)
    };
    let attempts = metric("partnergraph_webhook_attempt_duration_seconds_count");
    let mean_attempt = metric("partnergraph_webhook_attempt_duration_seconds_sum") / attempts.max(1.0);
    println!(
        "delivered {total} in {:.2} s: {:.0} deliveries/s; receiver got {} requests; mean attempt {:.2} ms ({} attempts)",
        took.as_secs_f64(),
        total as f64 / took.as_secs_f64(),
        hits.load(Ordering::Relaxed),
        mean_attempt * 1000.0,
        attempts
    );
    if let Some(f) = file {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", f.display()));
        }
    }
}
