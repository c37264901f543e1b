//! No N+1: a page of subscribers with their partner and subscriptions' tariffs costs the same number of
//! SQL statements for 10 rows as for 100.

use std::sync::atomic::Ordering;

use serde_json::json;

use crate::helpers::spawn_app_counting;

const PAGE: &str = "query($n: Int) { subscribers(kind: CLIENT, first: $n) { nodes { name servingPartner { name } subscriptions { tariff { name program { code } } } } } }";

#[tokio::test]
async fn a_nested_page_costs_the_same_statements_for_10_and_100_rows() {
    let (app, statements) = spawn_app_counting().await;
    app.presets().await;
    let tariff = app.tariff("FRESH", "1C-FRESH", "ITSAAS", "100.00", &[1], 30).await;
    let mut partners = Vec::new();
    for i in 0..5 {
        partners.push(app.partner(&format!("P{i}")).await);
    }
    for i in 0..100 {
        let p = &partners[i % partners.len()];
        let r = app
            .as_(&p.token, "mutation($n: String!, $o: String!) { registerClient(input: {name: $n, ownerEmail: $o}) { subscriber { id } } }", json!({ "n": format!("Client {i}"), "o": format!("c{i}@example.ru") }))
            .await;
        let id = r.ok()["registerClient"]["subscriber"]["id"].as_str().unwrap().to_owned();
        app.as_(
            &p.token,
            "mutation($s: ID!, $t: ID!) { startTrial(subscriberId: $s, tariffId: $t) { id } }",
            json!({ "s": id, "t": tariff }),
        )
        .await
        .ok();
    }
    let mut counts = Vec::new();
    for n in [10, 100] {
        let before = statements.load(Ordering::Relaxed);
        let r = app.as_(&app.vendor, PAGE, json!({ "n": n })).await;
        let after = statements.load(Ordering::Relaxed);
        let nodes = r.ok()["subscribers"]["nodes"].as_array().unwrap().clone();
        assert_eq!(nodes.len(), n as usize);
        assert!(nodes.iter().all(|c| !c["servingPartner"]["name"].is_null()));
        assert!(nodes.iter().all(|c| c["subscriptions"][0]["tariff"]["program"]["code"] == "1C-FRESH"));
        counts.push(after - before);
    }
    assert!(counts[0] > 0, "the counter counts");
    assert_eq!(counts[0], counts[1], "statements for 10 rows vs 100 rows: {counts:?}");
    assert!(counts[1] <= 12, "a handful of statements: {counts:?}");
}
