//! Configuration as the operator meets it: a bad value refuses to start, naming its variable, before
//! the database is touched; `/metrics` behind `PARTNERGRAPH_METRICS_TOKEN`.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::json;
use tokio::process::Command;

use crate::helpers::{spawn_app, spawn_app_with};

const BIN: &str = env!("CARGO_BIN_EXE_partnergraph");

/// Starts the server with one bad variable: it must exit, name the variable, and create no database.
async fn refused(variable: &str, value: &str) {
    let file = std::env::temp_dir().join(format!("partnergraph-refused-{}.db", uuid::Uuid::new_v4().simple()));
    let out = Command::new(BIN)
        .arg("serve")
        .env_clear()
        .env("DATABASE_URL", format!("sqlite://{}?mode=rwc", file.display()))
        .env("PARTNERGRAPH_ADDR", "127.0.0.1:0")
        .env(variable, value)
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{variable}={value} started");
    assert!(stderr.contains(variable), "{variable}={value}: {stderr}");
    assert!(!file.exists(), "{variable}={value}: the database was created before the refusal");
}

#[tokio::test]
async fn the_server_refuses_to_start_on_a_value_it_used_to_clamp_and_names_the_variable() {
    for (variable, value) in [
        ("PARTNERGRAPH_WS_MAX_OPERATIONS", "0"),
        ("PARTNERGRAPH_WEBHOOK_PER_ENDPOINT", "65"),
        ("PARTNERGRAPH_DB_ACQUIRE_TIMEOUT_MS", "5"),
        ("PARTNERGRAPH_METRICS_TOKEN", "short"),
    ] {
        refused(variable, value).await;
    }
}

#[tokio::test]
async fn bad_mail_rules_webhook_and_scheduler_settings_refuse_to_start_before_the_database_is_touched() {
    for (variable, value) in [
        // mail
        ("PARTNERGRAPH_MAIL_FROM", "not an address"),
        ("PARTNERGRAPH_PUBLIC_URL", "partners.example.com"),
        // rules
        ("PARTNERGRAPH_LEAD_PROGRAM", "  "),
        ("PARTNERGRAPH_TIMEZONE", "Moscow"),
        ("PARTNERGRAPH_SUPPORT_CODE_DAYS", "0"),
        ("PARTNERGRAPH_RANKING_MAX_AGE_SECS", "59"),
        // webhook
        ("PARTNERGRAPH_WEBHOOK_RETRY_SECS", "5,soon"),
        ("PARTNERGRAPH_WEBHOOK_KEY", "short"),
        ("PARTNERGRAPH_WEBHOOK_CONCURRENCY", "257"),
        // scheduler
        ("PARTNERGRAPH_OUTBOX_RETENTION_DAYS", "0"),
        ("PARTNERGRAPH_AUDIT_RETENTION_MONTHS", "1201"),
    ] {
        refused(variable, value).await;
    }
}

#[tokio::test]
async fn metrics_need_the_configured_token_and_answer_401_without_it() {
    const TOKEN: &str = "metrics-0123456789-abcdef";
    let app = spawn_app_with(|c| c.http.metrics_token = Some(TOKEN.to_owned().into())).await;
    app.as_(&app.vendor, "query Mine { me { role } }", json!({})).await.ok();
    let get = |auth: Option<String>| {
        let mut req = Request::get("/metrics");
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        req.body(Body::empty()).unwrap()
    };
    for auth in [
        None,
        Some(format!("Bearer {TOKEN}x")),
        Some(format!("Bearer {}", &TOKEN[1..])),
        Some(format!("Basic {TOKEN}")),
        Some(format!("Bearer {}", app.vendor)),
    ] {
        let raw = app.raw(get(auth.clone())).await;
        assert_eq!(raw.status, StatusCode::UNAUTHORIZED, "{auth:?}");
        assert_eq!(raw.json()["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
        assert_eq!(raw.headers["www-authenticate"], "Bearer");
        assert!(!raw.body.contains("partnergraph_"), "{}", raw.body);
    }
    let raw = app.raw(get(Some(format!("Bearer {TOKEN}")))).await;
    assert_eq!(raw.status, StatusCode::OK);
    assert!(
        raw.body.contains("partnergraph_graphql_requests_total{operation=\"Mine\",outcome=\"OK\"} 1"),
        "{}",
        raw.body
    );
}

#[tokio::test]
async fn without_a_metrics_token_metrics_stay_open() {
    let app = spawn_app().await;
    let raw = app.raw(Request::get("/metrics").body(Body::empty()).unwrap()).await;
    assert_eq!(raw.status, StatusCode::OK);
    assert!(raw.body.contains("partnergraph_db_pool_connections{state=\"open\"}"), "{}", raw.body);
}
