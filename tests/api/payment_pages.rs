//! A partner's payments page is one index range of `(serving_partner_id, id)`: it answers what it answered
//! as a semi-join of the partner's clients — the payments of its clients now, in id order — after rebinds
//! and unbinds, and after the migration fills the column on an existing database.

use migration::MigratorTrait;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

use crate::commissions::setup_dealer;
use crate::helpers::{Account, TestApp, inn, spawn_app};

const PAGE: &str = "query($n: Int, $a: String) { payments(first: $n, after: $a) { totalCount nodes { id subscriber { id } } pageInfo { endCursor hasNextPage } } }";
const ASSIGN: &str = "mutation($c: ID!, $p: ID) { assignClient(clientId: $c, partnerId: $p, reason: \"moved\") { id servingPartner { id } } }";

/// Every payment on a caller's payments page, following the pages two at a time: (payment, client) ids.
async fn all_pages(app: &TestApp, token: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut after = Value::Null;
    loop {
        let r = app.as_(token, PAGE, json!({ "n": 2, "a": after })).await;
        let page = &r.ok()["payments"];
        for n in page["nodes"].as_array().unwrap() {
            out.push((n["id"].as_str().unwrap().to_owned(), n["subscriber"]["id"].as_str().unwrap().to_owned()));
        }
        assert!(page["totalCount"].as_u64().unwrap() as usize >= out.len());
        if page["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
    out
}

/// The payments of `clients`, as the old page had them: by client, then sorted by payment id.
async fn payments_of(app: &TestApp, clients: &[&Account]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for c in clients {
        let r = app
            .as_(
                &app.vendor,
                "query($s: ID) { payments(subscriberId: $s, first: 100) { nodes { id } } }",
                json!({ "s": c.subscriber_id }),
            )
            .await;
        for n in r.ok()["payments"]["nodes"].as_array().unwrap() {
            out.push((n["id"].as_str().unwrap().to_owned(), c.subscriber_id.clone()));
        }
    }
    out.sort();
    out
}

#[tokio::test]
async fn a_partners_payments_page_follows_its_clients_through_rebinds_and_unbinds() {
    let app = spawn_app().await;
    let (a, client_1, tariff) = setup_dealer(&app).await;
    let client_2 = app.client_with_inn(&a, "Client 2", &inn(2)).await;
    let b = app.partner("B").await;
    app.set_status(&b.subscriber_id, "1C-CONNECT", "DEALER").await;
    let client_3 = app.client_with_inn(&b, "Client 3", &inn(3)).await;
    for (n, c) in [&client_1, &client_2, &client_3, &client_1, &client_2].into_iter().enumerate() {
        app.pay(&c.subscriber_id, &tariff, 1, "100.00", &format!("before-{n}")).await.ok();
    }
    assert_eq!(all_pages(&app, &a.token).await, payments_of(&app, &[&client_1, &client_2]).await);
    assert_eq!(all_pages(&app, &b.token).await, payments_of(&app, &[&client_3]).await);

    // Client 1 moves to B with its past payments; a payment after the move is B's too.
    app.as_(&app.vendor, ASSIGN, json!({ "c": client_1.subscriber_id, "p": b.subscriber_id })).await.ok();
    app.pay(&client_1.subscriber_id, &tariff, 1, "100.00", "after-move").await.ok();
    assert_eq!(all_pages(&app, &a.token).await, payments_of(&app, &[&client_2]).await);
    let of_b = all_pages(&app, &b.token).await;
    assert_eq!(of_b, payments_of(&app, &[&client_1, &client_3]).await);
    assert_eq!(of_b.len(), 4);

    // Unbound, client 2's payments are on no partner's page; the vendor still reads all six.
    app.as_(&app.vendor, ASSIGN, json!({ "c": client_2.subscriber_id, "p": null })).await.ok();
    assert_eq!(all_pages(&app, &a.token).await, vec![]);
    assert_eq!(all_pages(&app, &b.token).await, of_b);
    assert_eq!(all_pages(&app, &app.vendor).await.len(), 6);
    // A client reads its own payments, as before.
    assert_eq!(all_pages(&app, &client_3.token).await, payments_of(&app, &[&client_3]).await);
}

#[tokio::test]
async fn the_migration_fills_the_serving_partner_of_existing_payments_from_their_clients() {
    let app = spawn_app().await;
    let (a, client_1, tariff) = setup_dealer(&app).await;
    let b = app.partner("B").await;
    let client_2 = app.client_with_inn(&b, "Client 2", &inn(2)).await;
    app.pay(&client_1.subscriber_id, &tariff, 1, "100.00", "one").await.ok();
    app.pay(&client_2.subscriber_id, &tariff, 1, "100.00", "two").await.ok();
    let (before_a, before_b) = (all_pages(&app, &a.token).await, all_pages(&app, &b.token).await);
    assert_eq!((before_a.len(), before_b.len()), (1, 1));

    // The database as it was before migration 000019: no column, no index; then migrate.
    let db = &app.state.db;
    let backend = db.get_database_backend();
    for sql in [
        "DROP INDEX ix_payments_serving_partner",
        "ALTER TABLE payments DROP COLUMN serving_partner_id",
        "DELETE FROM seaql_migrations WHERE version = 'm20261202_000019_payment_serving_partner'",
    ] {
        db.execute_raw(Statement::from_string(backend, sql)).await.unwrap();
    }
    migration::Migrator::up(db, None).await.unwrap();
    assert_eq!(all_pages(&app, &a.token).await, before_a);
    assert_eq!(all_pages(&app, &b.token).await, before_b);
}
