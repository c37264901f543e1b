//! Costs that grow with the partner, not the table: the stored quarterly ranking, partner-sized pages,
//! the outbox that drains and forgets, and (on PostgreSQL) plans that touch the partner's rows only.

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{Value, json};

use crate::helpers::*;
use crate::leads::{contracts, fresh};

const RANKING: &str = "query($q: String!) { partnerRanking(programCode: \"1C-FRESH\", quarter: $q) { rank partner { name } newContracts churned } }";

fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 10, 0, 0).unwrap()
}

fn lines(r: &Gql) -> Vec<(String, i64, i64, i64)> {
    r.ok()["partnerRanking"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row: &Value| {
            (
                row["partner"]["name"].as_str().unwrap().to_owned(),
                row["rank"].as_i64().unwrap(),
                row["newContracts"].as_i64().unwrap(),
                row["churned"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn the_open_quarters_ranking_is_served_as_stored_until_the_scheduler_refreshes_it_and_a_closed_one_stays_final() {
    let app = spawn_app_at(at(2026, 7, 15)).await;
    let tariff = fresh(&app).await;
    let a = app.partner("Alpha").await;
    let b = app.partner("Bravo").await;
    contracts(&app, &a, &tariff, 1, 12).await;
    let first = app.as_(&a.token, RANKING, json!({ "q": "2026-Q3" })).await;
    assert_eq!(lines(&first), vec![("Alpha".into(), 1, 1, 0)], "computed on the first request");

    // Bravo signs two clients a minute later: requests keep reading the stored ranking…
    app.state.clock.set_to(at(2026, 7, 15) + Duration::minutes(1));
    contracts(&app, &b, &tariff, 2, 12).await;
    let stored = app.as_(&b.token, RANKING, json!({ "q": "2026-Q3" })).await;
    assert_eq!(lines(&stored), vec![("Alpha".into(), 1, 1, 0)]);
    // …until the scheduler's pass at half the served age (5 minutes by default) computes it again.
    app.state.clock.set_to(at(2026, 7, 15) + Duration::minutes(6));
    let pass = partnergraph::scheduler::tick(&app.state).await;
    assert!(pass.rankings_computed >= 1, "{pass:?}");
    let refreshed = app.as_(&b.token, RANKING, json!({ "q": "2026-Q3" })).await;
    assert_eq!(lines(&refreshed), vec![("Bravo".into(), 1, 2, 0), ("Alpha".into(), 2, 1, 0)]);

    // After the quarter closes the next pass stores its final ranking: a later ITS PROF subscription of a
    // Bravo client (which would leave it out of a fresh computation) no longer changes 2026-Q3.
    app.state.clock.set_to(at(2026, 10, 1) + Duration::hours(1));
    let pass = partnergraph::scheduler::tick(&app.state).await;
    assert!(pass.rankings_computed >= 1, "{pass:?}");
    let prof = app.tariff("FRESH-PROF", "1C-FRESH", "ITSAAS", "0.00", &[12], 0).await;
    let clients = app.as_(&b.token, "{ subscribers(kind: CLIENT, first: 10) { nodes { id } } }", json!({})).await;
    let client = clients.ok()["subscribers"]["nodes"][0]["id"].as_str().unwrap().to_owned();
    app.as_(
        &b.token,
        "mutation($s: ID!, $t: ID!) { createSubscription(subscriberId: $s, tariffId: $t, basis: ITS_PROF) { id } }",
        json!({ "s": client, "t": prof }),
    )
    .await
    .ok();
    app.state.clock.set_to(at(2027, 2, 1));
    let closed = app.as_(&app.vendor, RANKING, json!({ "q": "2026-Q3" })).await;
    assert_eq!(lines(&closed), vec![("Bravo".into(), 1, 2, 0), ("Alpha".into(), 2, 1, 0)]);
    // A quarter nobody computed yet is computed on request (and is final at once when it has closed).
    let q2 = app.as_(&app.vendor, RANKING, json!({ "q": "2026-Q2" })).await;
    assert_eq!(lines(&q2), vec![]);
}

/// Queues `n` e-mails directly, as a digest run would, at `at`.
async fn queue_mail(app: &TestApp, n: usize, tag: &str, at: DateTime<Utc>) {
    use partnergraph::service::outbox::{self, NewMessage};
    for i in 0..n {
        let m = NewMessage {
            kind: outbox::kind::WEEKLY_DIGEST,
            to: format!("partner{i}@example.com"),
            subject: "Your week".into(),
            body: "…".into(),
            dedupe_key: format!("scale-test:{tag}:{i}"),
        };
        assert!(outbox::enqueue(&app.state.db, m, at).await.unwrap());
    }
}

#[tokio::test]
async fn one_scheduler_pass_drains_every_due_email_and_sent_ones_are_deleted_after_the_retention_pending_ones_never() {
    let t0 = at(2026, 3, 3);
    let app = spawn_app_at(t0).await;
    let before = app.count("outbox").await;
    queue_mail(&app, 45, "monday", t0).await;
    // Not due for two months: pending all along.
    queue_mail(&app, 1, "later", t0 + Duration::days(60)).await;
    let pass = partnergraph::scheduler::tick(&app.state).await;
    assert!(pass.emails_sent >= 45, "more than one batch of 20 in one pass: {pass:?}");
    assert_eq!(app.count("outbox").await, before + 46, "nothing is deleted before the retention");

    // 29 days on: still kept. 31 days on: the sent ones go, the pending one stays.
    app.state.clock.set_to(t0 + Duration::days(29));
    assert_eq!(partnergraph::scheduler::tick(&app.state).await.emails_purged, 0);
    app.state.clock.set_to(t0 + Duration::days(31));
    let pass = partnergraph::scheduler::tick(&app.state).await;
    assert!(pass.emails_purged >= 45, "{pass:?}");
    let left = app.as_(&app.vendor, "{ notifications(first: 100) { nodes { status } } }", json!({})).await;
    let statuses: Vec<Value> =
        left.ok()["notifications"]["nodes"].as_array().unwrap().iter().map(|n| n["status"].clone()).collect();
    assert_eq!(statuses, vec![json!("PENDING")]);
}

#[tokio::test]
async fn the_outbox_retention_is_configured_in_days() {
    let t0 = at(2026, 3, 3);
    let app = spawn_app_with(|c| c.scheduler.outbox_retention_days = 2).await;
    app.state.clock.set_to(t0);
    queue_mail(&app, 3, "short", t0).await;
    partnergraph::scheduler::tick(&app.state).await;
    app.state.clock.set_to(t0 + Duration::days(3));
    let pass = partnergraph::scheduler::tick(&app.state).await;
    assert!(pass.emails_purged >= 3, "{pass:?}");
}

// ---- The plan guard (PostgreSQL) -----------------------------------------------------------------------

/// Rows a plan touched: every node's actual rows (times its loops) plus the rows its filters removed.
fn rows_touched(node: &Value) -> f64 {
    let loops = node["Actual Loops"].as_f64().unwrap_or(1.0);
    let own = node["Actual Rows"].as_f64().unwrap_or(0.0) * loops
        + node["Rows Removed by Filter"].as_f64().unwrap_or(0.0) * loops
        + node["Rows Removed by Index Recheck"].as_f64().unwrap_or(0.0) * loops;
    own + node["Plans"].as_array().map_or(0.0, |plans| plans.iter().map(rows_touched).sum())
}

/// Every node type and index a plan names, for the messages.
fn plan_shape(node: &Value, out: &mut Vec<String>) {
    out.push(format!(
        "{}{}",
        node["Node Type"].as_str().unwrap_or("?"),
        node["Index Name"].as_str().map(|i| format!(" using {i}")).unwrap_or_default()
    ));
    for p in node["Plans"].as_array().into_iter().flatten() {
        plan_shape(p, out);
    }
}

/// `EXPLAIN (ANALYZE, FORMAT JSON)` of a SeaORM query on the test's database: (rows touched, shape).
async fn explain<S: sea_orm::QueryTrait>(app: &TestApp, q: S) -> (f64, Vec<String>) {
    use sea_orm::ConnectionTrait;
    // The values inlined: the plan PostgreSQL makes for the service's statement with its values bound (a
    // custom plan), not a generic one.
    let stmt = q.build(sea_orm::DbBackend::Postgres);
    let explained =
        sea_orm::Statement::from_string(sea_orm::DbBackend::Postgres, format!("EXPLAIN (ANALYZE, FORMAT JSON) {stmt}"));
    let row = app.state.db.query_one_raw(explained).await.unwrap().unwrap();
    let plan: Value = row.try_get_by_index(0).unwrap();
    let root = &plan[0]["Plan"];
    let mut shape = Vec::new();
    plan_shape(root, &mut shape);
    (rows_touched(root), shape)
}

#[tokio::test]
async fn a_partners_client_page_and_the_ranking_touch_rows_in_proportion_to_the_page_not_the_table() {
    use partnergraph::auth::{Principal, Scope};
    use partnergraph::domain::{Role, SubscriberKind};
    use sea_orm::{ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

    let app = spawn_app_at(at(2026, 8, 1)).await;
    if app.state.db.get_database_backend() != sea_orm::DbBackend::Postgres {
        println!("plan guard skipped: it reads PostgreSQL plans (run with DATABASE_URL=postgres://…)");
        return;
    }
    let tariff = fresh(&app).await;
    let big = app.partner("Big").await;
    let small = app.partner("Small").await;
    contracts(&app, &small, &tariff, 2, 12).await;
    // 40,000 clients: 20,000 of the big partner, 20,000 of nobody; the small partner has its 2.
    let seed = format!(
        "INSERT INTO subscribers (id, kind, name, email, serving_partner_id, binding_source, created_at, updated_at, \
         search_name) \
         SELECT md5('scale' || i)::uuid, 'CLIENT', 'Seeded client ' || i, 'seeded' || i || '@example.com', \
                CASE WHEN i % 2 = 0 THEN '{}'::uuid END, CASE WHEN i % 2 = 0 THEN 'PARTNER_REGISTRATION' END, \
                now(), now(), 'seeded client ' || i \
         FROM generate_series(1, 40000) AS i",
        big.subscriber_id
    );
    app.state.db.execute_unprepared(&seed).await.unwrap();
    // As autovacuum would: statistics, and the trigram index's pending list merged.
    app.state.db.execute_unprepared("VACUUM ANALYZE subscribers").await.unwrap();

    for (who, account) in [("big", &big), ("small", &small)] {
        let principal = Principal::person(
            uuid::Uuid::new_v4(),
            uuid::Uuid::new_v4(),
            account.subscriber_id.parse().unwrap(),
            SubscriberKind::Partner,
            Role::Owner,
        );
        let scope = Scope::new(&principal);
        let kind = Some(SubscriberKind::Client);
        let filters = partnergraph::service::subscribers::list_query(kind, None, None).unwrap();
        for range in scope.subscriber_ranges(kind) {
            let page = filters.clone().filter(range).order_by_asc(entity::subscriber::Column::Id).limit(51);
            let (touched, shape) = explain(&app, page).await;
            assert!(touched <= 200.0, "{who} partner's client page touched {touched} rows: {shape:?}");
        }
    }

    // The ranking: computed once, then read from its stored rows only.
    let vendor = app.as_(&app.vendor, RANKING, json!({ "q": "2026-Q3" })).await;
    assert_eq!(lines(&vendor), vec![("Small".into(), 1, 2, 0)]);
    let run: uuid::Uuid = entity::ranking_run::Entity::find().one(&app.state.db).await.unwrap().unwrap().id;
    let (touched, shape) = explain(
        &app,
        partnergraph::service::ranking::rows_query(
            run,
            partnergraph::service::ranking::RankingPage::new(None, None, None).unwrap(),
        ),
    )
    .await;
    assert!(touched <= 10.0, "the ranking read touched {touched} rows: {shape:?}");

    // A ranking page and one partner's line: ranges of the stored rows' keys, and their partners by id,
    // with 2,000 more lines stored in the run (seeded clients stand in for partners: the key is what counts).
    use partnergraph::service::ranking::{RankingPage, partners_query, rows_query};
    app.state
        .db
        .execute_unprepared(&format!(
            "INSERT INTO ranking_rows (run_id, position, partner_id, new_contracts, churned) \
             SELECT '{run}'::uuid, i, md5('scale' || i)::uuid, 1, 0 FROM generate_series(2, 2001) AS i"
        ))
        .await
        .unwrap();
    app.state.db.execute_unprepared("ANALYZE ranking_rows").await.unwrap();
    let page = RankingPage::new(Some(100), Some(1), None).unwrap();
    let (touched, shape) = explain(&app, rows_query(run, page)).await;
    // 100 index entries and the limit's 100: the page, not the 2,001 lines of the run.
    assert!(touched <= 250.0, "a ranking page touched {touched} rows: {shape:?}");
    let own = RankingPage::new(None, None, Some(small.subscriber_id.parse().unwrap())).unwrap();
    let (touched, shape) = explain(&app, rows_query(run, own)).await;
    assert!(touched <= 10.0, "a partner's ranking line touched {touched} rows: {shape:?}");
    let (touched, shape) = explain(&app, partners_query(vec![small.subscriber_id.parse().unwrap()])).await;
    assert!(touched <= 10.0, "the ranking page's partners touched {touched} rows: {shape:?}");

    // A partner's payments page: 20,000 payments of the big partner's clients, 2 of the small one's.
    let subscription: uuid::Uuid = entity::subscription::Entity::find().one(&app.state.db).await.unwrap().unwrap().id;
    let seed = format!(
        "INSERT INTO payments (id, subscriber_id, tariff_id, subscription_id, period_months, amount_minor, channel, \
         paid_at, external_id, fingerprint, created_at, serving_partner_id) \
         SELECT md5('scale-pay' || i)::uuid, md5('scale' || i)::uuid, '{tariff}'::uuid, '{subscription}'::uuid, 1, \
                100, 'DIRECT', now(), 'scale-pay-' || i, 'fp', now(), '{}'::uuid \
         FROM generate_series(2, 40000, 2) AS i",
        big.subscriber_id
    );
    app.state.db.execute_unprepared(&seed).await.unwrap();
    app.state.db.execute_unprepared("VACUUM ANALYZE payments").await.unwrap();
    for (who, account) in [("big", &big), ("small", &small)] {
        use sea_orm::QueryFilter;
        let partner = account.subscriber_id.parse().unwrap();
        let page = entity::payment::Entity::find()
            .filter(partnergraph::service::billing::partner_payments(partner))
            .order_by_asc(entity::payment::Column::Id)
            .limit(51);
        let (touched, shape) = explain(&app, page).await;
        assert!(shape.iter().any(|s| s.contains("ix_payments_serving_partner")), "{who}: {shape:?}");
        assert!(touched <= 200.0, "{who} partner's payments page touched {touched} rows: {shape:?}");
    }

    // Vendor search by part of a name reads the trigram index, not the table.
    let search = partnergraph::service::subscribers::list_query(None, Some("client 3999"), None)
        .unwrap()
        .order_by_asc(entity::subscriber::Column::Id)
        .limit(51);
    let (touched, shape) = explain(&app, search).await;
    assert!(shape.iter().any(|s| s.contains("trgm")), "search without the trigram index: {shape:?}");
    assert!(touched < 2_000.0, "search touched {touched} rows: {shape:?}");
}
