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

// ---- Months and retention (issue 14.6) -------------------------------------------------------------------

fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> chrono::DateTime<chrono::Utc> {
    use chrono::TimeZone;
    chrono::Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
}

/// Writes an audit entry at `at` the way the service does.
async fn entry_at(app: &crate::helpers::TestApp, at: chrono::DateTime<chrono::Utc>) {
    use partnergraph::service::audit::{AuditRecord, record};
    let r = AuditRecord {
        at,
        actor: None,
        api_key: None,
        role: None,
        subscriber: None,
        operation: "retentionProbe".into(),
        target: None,
        outcome: "OK".into(),
        request_id: None,
    };
    record(&app.state, r).await.unwrap();
}

/// The probe entries left, oldest first.
async fn probes(app: &crate::helpers::TestApp) -> Vec<chrono::DateTime<chrono::Utc>> {
    use entity::audit_entry;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
    audit_entry::Entity::find()
        .filter(audit_entry::Column::Operation.eq("retentionProbe"))
        .order_by_asc(audit_entry::Column::At)
        .all(&app.state.db)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.at)
        .collect()
}

async fn table_exists(app: &crate::helpers::TestApp, name: &str) -> bool {
    let row = app
        .state
        .db
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            format!("SELECT to_regclass('{name}') IS NOT NULL AS present"),
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<bool>("", "present").unwrap()
}

#[tokio::test]
async fn with_a_retention_of_three_months_a_scheduler_pass_deletes_only_the_entries_before_the_third_month_back() {
    use crate::helpers::spawn_app_with;
    let postgres = |app: &crate::helpers::TestApp| app.state.db.get_database_backend() == sea_orm::DbBackend::Postgres;
    // Started at today's date (the vendor's sign-in is an audited mutation), then moved to December 2025.
    let app = spawn_app_with(|c| c.scheduler.audit_retention_months = Some(3)).await;
    app.state.clock.set_to(utc(2025, 12, 20, 12, 0));
    // A pass in December 2025 makes December's and January's partitions (PostgreSQL) and deletes nothing.
    let pass = partnergraph::scheduler::tick(&app.state).await;
    assert_eq!(pass.audit.deleted + u64::from(pass.audit.dropped), 0, "{pass:?}");
    // November has no partition of its own on PostgreSQL (it lands in the default one).
    for at in [
        utc(2025, 11, 5, 9, 0),
        utc(2025, 12, 20, 12, 0),
        utc(2026, 1, 31, 23, 59),
        utc(2026, 2, 1, 0, 0),
        utc(2026, 3, 15, 8, 0),
    ] {
        entry_at(&app, at).await;
    }

    // In May 2026 three whole months back is February: everything before 1 February 00:00 UTC goes.
    app.state.clock.set_to(utc(2026, 5, 10, 12, 0));
    let pass = partnergraph::scheduler::tick(&app.state).await;
    assert_eq!(probes(&app).await, vec![utc(2026, 2, 1, 0, 0), utc(2026, 3, 15, 8, 0)], "{pass:?}");
    if postgres(&app) {
        assert_eq!(pass.audit.dropped, 2, "December and January dropped whole: {pass:?}");
        assert_eq!(pass.audit.deleted, 1, "November's entry deleted from the default partition: {pass:?}");
        assert!(!table_exists(&app, "audit_log_y2026m01").await);
    } else {
        assert_eq!(pass.audit.deleted, 3, "{pass:?}");
    }
    // The next pass finds nothing more, and outside a purge the table is append-only as before.
    let again = partnergraph::scheduler::tick(&app.state).await;
    assert_eq!(again.audit.deleted + u64::from(again.audit.dropped), 0, "{again:?}");
    assert!(app.state.db.execute_unprepared("DELETE FROM audit_log").await.is_err());
    assert_eq!(probes(&app).await.len(), 2);
}

#[tokio::test]
async fn without_a_retention_audit_entries_are_kept_forever() {
    let app = spawn_app().await;
    app.state.clock.set_to(utc(2026, 5, 10, 12, 0));
    entry_at(&app, utc(2019, 1, 1, 0, 0)).await;
    let pass = partnergraph::scheduler::tick(&app.state).await;
    assert_eq!(pass.audit.deleted + u64::from(pass.audit.dropped), 0, "{pass:?}");
    assert_eq!(probes(&app).await, vec![utc(2019, 1, 1, 0, 0)]);
}

#[tokio::test]
async fn a_scheduler_pass_creates_this_and_next_months_partitions_once_even_from_two_replicas() {
    let app = spawn_app().await;
    app.state.clock.set_to(utc(2031, 6, 30, 23, 0));
    if app.state.db.get_database_backend() != sea_orm::DbBackend::Postgres {
        println!("skipped: audit_log is partitioned on PostgreSQL only");
        return;
    }
    assert!(!table_exists(&app, "audit_log_y2031m07").await);
    let other = app.replica(|_| {}).await;
    other.state.clock.set_to(utc(2031, 6, 30, 23, 0));
    let (a, b) = tokio::join!(partnergraph::scheduler::tick(&app.state), partnergraph::scheduler::tick(&other.state));
    assert_eq!(a.audit.created + b.audit.created, 2, "{a:?} {b:?}");
    assert!(table_exists(&app, "audit_log_y2031m06").await && table_exists(&app, "audit_log_y2031m07").await);
    // An entry of next month goes to its own partition, and the log reads as before.
    entry_at(&app, utc(2031, 7, 1, 0, 0)).await;
    let row = app
        .state
        .db
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT count(*) AS n FROM audit_log_y2031m07".to_owned(),
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.try_get::<i64>("", "n").unwrap(), 1);
    assert_eq!(probes(&app).await, vec![utc(2031, 7, 1, 0, 0)]);
    let third = partnergraph::scheduler::tick(&app.state).await;
    assert_eq!(third.audit.created, 0, "{third:?}");
}

#[tokio::test]
async fn the_partitioning_migration_keeps_an_existing_databases_entries_and_their_append_only_rule() {
    use entity::audit_entry;
    use migration::{Migrator, MigratorTrait};
    use sea_orm::{ActiveModelTrait, EntityTrait, PaginatorTrait, Set};

    let (url, file) = crate::helpers::fresh_database().await;
    let db = sea_orm::Database::connect(&url).await.unwrap();
    // The database as it was before migration 000016, with entries of three months in it.
    let before = Migrator::migrations().iter().take_while(|m| m.name() < "m20261201_000016").count();
    Migrator::up(&db, Some(before as u32)).await.unwrap();
    let months = [utc(2025, 3, 15, 10, 0), utc(2025, 4, 1, 0, 0), utc(2026, 1, 31, 23, 59)];
    for at in months {
        audit_entry::ActiveModel {
            id: Set(uuid::Uuid::now_v7()),
            at: Set(at),
            actor_user_id: Set(None),
            role: Set(None),
            subscriber_id: Set(None),
            operation: Set("before".into()),
            target_id: Set(None),
            outcome: Set("OK".into()),
            request_id: Set(None),
            actor_api_key_id: Set(None),
        }
        .insert(&db)
        .await
        .unwrap();
    }

    Migrator::up(&db, None).await.unwrap();
    let kept: Vec<_> = audit_entry::Entity::find().all(&db).await.unwrap().into_iter().map(|e| e.at).collect();
    assert_eq!(kept.len(), 3);
    assert!(months.iter().all(|m| kept.contains(m)), "{kept:?}");
    if db.get_database_backend() == sea_orm::DbBackend::Postgres {
        for name in ["audit_log_y2025m03", "audit_log_y2025m04", "audit_log_y2026m01"] {
            let row = db
                .query_one_raw(sea_orm::Statement::from_string(
                    sea_orm::DbBackend::Postgres,
                    format!("SELECT count(*) AS n FROM {name}"),
                ))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(row.try_get::<i64>("", "n").unwrap(), 1, "{name}");
        }
    }
    assert!(db.execute_unprepared("DELETE FROM audit_log").await.is_err());
    assert!(db.execute_unprepared("UPDATE audit_log SET outcome = 'X'").await.is_err());
    assert_eq!(audit_entry::Entity::find().count(&db).await.unwrap(), 3);
    db.close().await.ok();
    if let Some(f) = file {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", f.display()));
        }
    }
}
