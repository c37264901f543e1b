//! The audit log: every mutation with actor, role, subscriber, target and outcome; append-only.

use sea_orm::ConnectionTrait;
use serde_json::json;

use crate::helpers::{email, spawn_app};

const LOG: &str = "{ auditLog(first: 100) { totalCount nodes { operation outcome targetId role actor { email } subscriber { id } } } }";

#[tokio::test]
async fn mutations_are_logged_with_their_outcome_and_target() {
    let app = spawn_app().await;
    let p = app.partner("Partner").await;
    let r = app
        .as_(
            &p.token,
            "mutation($o: String!) { registerClient(input: {name: \"C\", ownerEmail: $o}) { subscriber { id } } }",
            json!({ "o": email("c") }),
        )
        .await;
    let client = r.ok()["registerClient"]["subscriber"]["id"].as_str().unwrap().to_owned();
    app.as_(
        &p.token,
        "mutation { registerClient(input: {name: \"C\", inn: \"123\", ownerEmail: \"x@y.ru\"}) { token } }",
        json!({}),
    )
    .await
    .err("BAD_USER_INPUT");

    let r = app.as_(&app.vendor, LOG, json!({})).await;
    let nodes = r.ok()["auditLog"]["nodes"].as_array().unwrap().clone();
    let ops: Vec<(&str, &str)> =
        nodes.iter().map(|n| (n["operation"].as_str().unwrap(), n["outcome"].as_str().unwrap())).collect();
    assert!(ops.contains(&("createPartner", "OK")));
    assert!(ops.contains(&("acceptInvitation", "OK")));
    assert!(ops.contains(&("registerClient", "BAD_USER_INPUT")));
    let ok = nodes.iter().find(|n| n["operation"] == "registerClient" && n["outcome"] == "OK").unwrap();
    assert_eq!(ok["targetId"], client.as_str());
    assert_eq!(ok["role"], "OWNER");
    assert_eq!(ok["actor"]["email"], p.email.as_str());
    assert_eq!(ok["subscriber"]["id"], p.subscriber_id.as_str());
    // Queries are not mutations and are not logged.
    assert!(!ops.iter().any(|(o, _)| *o == "auditLog" || *o == "me"));
}

#[tokio::test]
async fn an_owner_reads_only_its_own_subscribers_entries() {
    let app = spawn_app().await;
    let a = app.partner("A").await;
    let b = app.partner("B").await;
    app.member(&a.token, &a.subscriber_id, "USER").await;
    app.member(&b.token, &b.subscriber_id, "USER").await;
    let r = app.as_(&a.token, LOG, json!({})).await;
    let nodes = r.ok()["auditLog"]["nodes"].as_array().unwrap().clone();
    assert!(!nodes.is_empty());
    assert!(nodes.iter().all(|n| n["subscriber"]["id"] == a.subscriber_id.as_str()), "{nodes:?}");
}

#[tokio::test]
async fn the_database_refuses_to_change_or_delete_audit_entries() {
    let app = spawn_app().await;
    app.partner("A").await;
    let n = app.count("audit_log").await;
    assert!(n > 0);
    let db = &app.state.db;
    assert!(db.execute_unprepared("UPDATE audit_log SET outcome = 'OK'").await.is_err());
    assert!(db.execute_unprepared("DELETE FROM audit_log").await.is_err());
    assert_eq!(app.count("audit_log").await, n);
}
