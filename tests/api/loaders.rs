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

/// Every scalar of a subscriber, its subscriptions and their tariffs that the page statement reads.
const CARD: &str = "id kind name inn kpp email phone address contactPerson createdAt updatedAt bindingSource";
const SUBSCRIPTION: &str = "id status basis startsAt endsAt cancelledAt churnReason churnComment tariff { id code name category monthlyPrice periods maxDatabases maxUsers maxSessions trialDays partnerOnly archived program { code } }";

#[tokio::test]
async fn a_page_reads_its_partners_subscriptions_and_tariffs_column_for_column_as_one_subscriber_does() {
    // The page's relations come from one joined statement read by column position; a single subscriber's
    // come from the per-entity loaders read by column name. Every column set, both must agree.
    let (app, _) = spawn_app_counting().await;
    app.presets().await;
    let tariff = app
        .as_(
            &app.vendor,
            "mutation($i: TariffInput!) { createTariff(input: $i) { id } }",
            json!({ "i": { "code": "FRESH-PROF", "name": "1С:Фреш ПРОФ", "programCode": "1C-FRESH", "category": "ITSAAS", "monthlyPrice": "1234.56", "periods": [1, 3, 12], "maxDatabases": 3, "maxUsers": 7, "maxSessions": 11, "trialDays": 14, "partnerOnly": false } }),
        )
        .await
        .ok()["createTariff"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let p = app.partner("ООО «Партнёр»").await;
    let card = "mutation($id: ID!, $i: SubscriberCardInput!) { updateSubscriber(id: $id, input: $i) { id } }";
    app.as_(&app.vendor, card, json!({ "id": p.subscriber_id, "i": { "inn": "7707083893", "kpp": "773601001", "email": "partner@example.ru", "phone": "+7 495 000-00-01", "address": "Москва, ул. Ленина, 1", "contactPerson": "Пётр Ёлкин" } }))
        .await
        .ok();
    let c = app.client_of(&p, "ООО «Клиент»").await;
    app.as_(&p.token, card, json!({ "id": c.subscriber_id, "i": { "inn": "500100732259", "email": "client@example.ru", "phone": "+7 495 000-00-02", "address": "Тверь", "contactPerson": "Анна" } }))
        .await
        .ok();
    let trial = "mutation($s: ID!, $t: ID!) { startTrial(subscriberId: $s, tariffId: $t) { id } }";
    let sub = app.as_(&p.token, trial, json!({ "s": c.subscriber_id, "t": tariff })).await.ok()["startTrial"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.as_(
        &p.token,
        "mutation($id: ID!) { cancelSubscription(id: $id, reason: PRICE, comment: \"дорого\") { id } }",
        json!({ "id": sub }),
    )
    .await
    .ok();

    let fields = format!("{CARD} servingPartner {{ {CARD} }} subscriptions {{ {SUBSCRIPTION} }}");
    for token in [&app.vendor, &p.token] {
        let page = app
            .as_(token, &format!("{{ subscribers(kind: CLIENT, first: 10) {{ nodes {{ {fields} }} }} }}"), json!({}))
            .await;
        let nodes = page.ok()["subscribers"]["nodes"].as_array().unwrap().clone();
        assert_eq!(nodes.len(), 1, "one client: {nodes:?}");
        let one = app
            .as_(
                token,
                &format!("query($id: ID!) {{ subscriber(id: $id) {{ {fields} }} }}"),
                json!({ "id": c.subscriber_id }),
            )
            .await;
        let one = one.ok()["subscriber"].clone();
        assert_eq!(nodes[0], one, "the page's row and the single read differ");
        // And the values are the ones written, not merely equal to each other.
        assert_eq!(one["servingPartner"]["kpp"], "773601001");
        assert_eq!(one["servingPartner"]["contactPerson"], "Пётр Ёлкин");
        assert_eq!(one["servingPartner"]["kind"], "PARTNER");
        let s = &one["subscriptions"][0];
        assert_eq!(s["churnReason"], "PRICE");
        assert_eq!(s["churnComment"], "дорого");
        assert_eq!(s["basis"], "TRIAL");
        assert!(!s["cancelledAt"].is_null());
        let t = &s["tariff"];
        assert_eq!(t["code"], "FRESH-PROF");
        assert_eq!(t["monthlyPrice"], "1234.56");
        assert_eq!(t["periods"], json!([1, 3, 12]));
        assert_eq!(
            (t["maxDatabases"].clone(), t["maxUsers"].clone(), t["maxSessions"].clone()),
            (json!(3), json!(7), json!(11))
        );
        assert_eq!(t["trialDays"], 14);
    }
}
