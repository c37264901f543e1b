//! Syncing a CRM: concurrent upserts of one external id, all-or-nothing batches, `updatedSince` (on the
//! CRM lists and on `subscribers`), `payments(externalId)`, keyset paging, and the statement count of a
//! page of deals with their relations.

use std::sync::atomic::Ordering;

use chrono::Duration;
use serde_json::{Value, json};

use crate::crm::{UPSERT_CONTACT, names};
use crate::helpers::{email, spawn_app, spawn_app_counting, spawn_app_with};

const BATCH: &str = "mutation($i: [ContactInput!]!) { upsertContacts(inputs: $i) { created contact { id externalId name companies { name } } } }";

#[tokio::test]
async fn twenty_concurrent_upserts_of_one_external_id_make_exactly_one_row() {
    let app = spawn_app().await;
    let p = app.partner("Partner").await;
    let calls: Vec<_> = (0..20)
        .map(|i| {
            let i = json!({ "externalId": "same", "name": format!("Writer {i}"), "email": format!("w{i}@example.ru") });
            app.spawn_gql(Some(&p.token), UPSERT_CONTACT, json!({ "i": i }))
        })
        .collect();
    let mut created = 0;
    let mut ids = Vec::new();
    for c in calls {
        let (status, body) = c.await.unwrap();
        assert_eq!(status, 200);
        assert!(body.get("errors").is_none(), "{body}");
        let u = &body["data"]["upsertContact"];
        created += u["created"].as_bool().map_or(0, i32::from);
        ids.push(u["contact"]["id"].clone());
    }
    assert_eq!(app.count("crm_contacts").await, 1);
    assert_eq!(created, 1, "exactly one upsert created the row");
    assert!(ids.iter().all(|id| *id == ids[0]));
}

#[tokio::test]
async fn twenty_concurrent_batches_naming_the_same_rows_in_any_order_all_succeed_once_each() {
    let app = spawn_app().await;
    let p = app.partner("Partner").await;
    let calls: Vec<_> = (0..20)
        .map(|i| {
            let mut items: Vec<Value> = ["a", "b", "c"].iter().map(|e| json!({ "externalId": e, "name": e })).collect();
            items.rotate_left(i % 3);
            if i % 2 == 1 {
                items.reverse();
            }
            app.spawn_gql(Some(&p.token), BATCH, json!({ "i": items }))
        })
        .collect();
    for c in calls {
        let (status, body) = c.await.unwrap();
        assert_eq!(status, 200);
        assert!(body.get("errors").is_none(), "{body}");
    }
    assert_eq!(app.count("crm_contacts").await, 3);
}

#[tokio::test]
async fn a_batch_answers_in_input_order_and_a_failing_item_keeps_nothing_and_names_its_index() {
    let app = spawn_app().await;
    let p = app.partner("Partner").await;
    app.company(&p, json!({ "externalId": "co", "name": "Co" })).await;
    let items = json!([
        { "externalId": "b", "name": "B", "companyExternalIds": ["co"] },
        { "externalId": "a", "name": "A" },
        { "externalId": "b", "phone": "1" },
    ]);
    let r = app.as_(&p.token, BATCH, json!({ "i": items })).await;
    let out = r.ok()["upsertContacts"].as_array().unwrap().clone();
    assert_eq!(out.iter().map(|u| u["contact"]["externalId"].as_str().unwrap()).collect::<Vec<_>>(), ["b", "a", "b"]);
    assert_eq!(out.iter().map(|u| u["created"].as_bool().unwrap()).collect::<Vec<_>>(), [true, true, false]);
    assert_eq!(out[0]["contact"]["id"], out[2]["contact"]["id"]);
    assert_eq!(names(&out[2]["contact"]["companies"]), ["Co"]);

    let before = app.count("crm_contacts").await;
    let bad = json!([
        { "externalId": "n1", "name": "N1" },
        { "externalId": "a", "name": "A renamed" },
        { "externalId": "n2", "name": "N2", "companyExternalIds": ["nope"] },
        { "externalId": "n3", "name": "N3" },
    ]);
    let r = app.as_(&p.token, BATCH, json!({ "i": bad })).await;
    r.err("BAD_USER_INPUT").reason_is("UNKNOWN_EXTERNAL_ID");
    assert_eq!(r.0["errors"][0]["extensions"]["index"], 2);
    assert_eq!(r.field(), Some("companyExternalIds"));
    assert_eq!(app.count("crm_contacts").await, before, "nothing of the batch is kept");
    let q = "{ contacts(externalId: \"a\") { nodes { name } } }";
    assert_eq!(app.as_(&p.token, q, json!({})).await.ok()["contacts"]["nodes"][0]["name"], "A");

    // Input refused before anything runs names its item too.
    let r = app.as_(&p.token, BATCH, json!({ "i": [{ "name": "ok" }, { "externalId": "" , "name": "x" }] })).await;
    assert_eq!((r.code(), r.field()), (Some("BAD_USER_INPUT"), Some("externalId")));
    assert_eq!(r.0["errors"][0]["extensions"]["index"], 1);
    // A conflict in the middle of a batch, too.
    let r = app
        .as_(&p.token, BATCH, json!({ "i": [{ "name": "new" }, { "id": out[1]["contact"]["id"], "externalId": "b" }] }))
        .await;
    r.err("CONFLICT").reason_is("EXTERNAL_ID_TAKEN");
    assert_eq!(r.0["errors"][0]["extensions"]["index"], 1);
    assert_eq!(app.count("crm_contacts").await, before);
}

#[tokio::test]
async fn a_batch_of_more_than_100_is_refused_whole_and_100_pass() {
    let app = spawn_app().await;
    let p = app.partner("Partner").await;
    let items: Vec<Value> =
        (0..101).map(|i| json!({ "externalId": format!("e{i}"), "name": format!("N{i}") })).collect();
    let r = app.as_(&p.token, BATCH, json!({ "i": items })).await;
    r.err("BAD_USER_INPUT").reason_is("BATCH_TOO_LARGE");
    assert_eq!(app.count("crm_contacts").await, 0);
    let r = app.as_(&p.token, BATCH, json!({ "i": items[..100] })).await;
    assert_eq!(r.ok()["upsertContacts"].as_array().unwrap().len(), 100);
    let q = "mutation($i: [DealInput!]!) { upsertDeals(inputs: $i) { created } }";
    let deals: Vec<Value> = (0..101).map(|i| json!({ "title": format!("D{i}") })).collect();
    app.as_(&p.token, q, json!({ "i": deals })).await.err("BAD_USER_INPUT").reason_is("BATCH_TOO_LARGE");
    let q = "mutation($i: [CompanyInput!]!) { upsertCompanies(inputs: $i) { created } }";
    let companies: Vec<Value> = (0..101).map(|i| json!({ "name": format!("C{i}") })).collect();
    app.as_(&p.token, q, json!({ "i": companies })).await.err("BAD_USER_INPUT").reason_is("BATCH_TOO_LARGE");
    assert_eq!(app.count("crm_companies").await + app.count("crm_deals").await, 0);
}

#[tokio::test]
async fn updated_since_returns_rows_changed_at_or_after_it_and_links_count_as_changes() {
    let app = spawn_app().await;
    let p = app.partner("Partner").await;
    let a = app.contact(&p, json!({ "externalId": "a", "name": "A" })).await;
    app.contact(&p, json!({ "externalId": "b", "name": "B" })).await;
    let co = app.company(&p, json!({ "externalId": "co", "name": "Co" })).await;
    let q = "query($t: DateTime) { contacts(updatedSince: $t) { nodes { name updatedAt } } companies(updatedSince: $t) { nodes { name } } deals(updatedSince: $t) { nodes { title } } }";

    app.state.clock.advance(Duration::minutes(10));
    let c = app.contact(&p, json!({ "externalId": "a", "phone": "+7" })).await;
    let since = c["updatedAt"].clone();
    assert!(since.as_str() > a["updatedAt"].as_str());
    let r = app.as_(&p.token, q, json!({ "t": since })).await;
    assert_eq!(names(&r.ok()["contacts"]["nodes"]), ["A"], "at or after: the row changed at that very time counts");
    assert_eq!(names(&r.ok()["companies"]["nodes"]), Vec::<String>::new());

    // Re-sending what is already there is no change.
    app.state.clock.advance(Duration::minutes(10));
    let same = app.contact(&p, json!({ "externalId": "b", "name": "B" })).await;
    let t2 = app.contact(&p, json!({ "externalId": "a", "phone": "+7" })).await["updatedAt"].clone();
    assert_eq!(t2, since, "an upsert that changes nothing keeps updatedAt");
    assert!(same["updatedAt"].as_str() < since.as_str());

    // A new link changes both sides; a deal's company and contacts change the deal and them.
    app.state.clock.advance(Duration::minutes(10));
    let now = app.contact(&p, json!({ "externalId": "b", "companyExternalIds": ["co"] })).await["updatedAt"].clone();
    let r = app.as_(&p.token, q, json!({ "t": now })).await;
    assert_eq!(names(&r.ok()["contacts"]["nodes"]), ["B"]);
    assert_eq!(names(&r.ok()["companies"]["nodes"]), ["Co"]);
    app.state.clock.advance(Duration::minutes(10));
    let d = app.deal(&p, json!({ "title": "D", "companyId": co["id"] })).await;
    let r = app.as_(&p.token, q, json!({ "t": d["updatedAt"] })).await;
    assert_eq!(names(&r.ok()["contacts"]["nodes"]), ["B"], "B came onto the deal with its company");
    assert_eq!(names(&r.ok()["companies"]["nodes"]), ["Co"]);
    assert_eq!(names(&r.ok()["deals"]["nodes"]), ["D"]);
    // Deleting the company marks its deal and contacts.
    app.state.clock.advance(Duration::minutes(10));
    let t3 = app.contact(&p, json!({ "externalId": "a", "phone": "+8" })).await["updatedAt"].clone();
    app.as_(&p.token, "mutation($id: ID!) { deleteCompany(id: $id) }", json!({ "id": co["id"] })).await.ok();
    let r = app.as_(&p.token, q, json!({ "t": t3 })).await;
    assert_eq!(names(&r.ok()["contacts"]["nodes"]), ["A", "B"]);
    assert_eq!(names(&r.ok()["deals"]["nodes"]), ["D"]);
    let _ = a;
}

#[tokio::test]
async fn subscribers_updated_since_follows_every_change_of_a_subscriber() {
    let app = spawn_app().await;
    let p = app.partner("Partner").await;
    let client = app.client_of(&p, "Client").await;
    let q = "query($t: DateTime) { subscribers(updatedSince: $t) { nodes { id name updatedAt } } }";
    let ids = |r: &crate::helpers::Gql| -> Vec<String> {
        r.ok()["subscribers"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["id"].as_str().unwrap().to_owned())
            .collect()
    };
    app.state.clock.advance(Duration::minutes(10));
    let t = (app.state.clock.now() - Duration::seconds(1)).to_rfc3339();
    assert!(ids(&app.as_(&app.vendor, q, json!({ "t": t })).await).is_empty());

    let upd = "mutation($id: ID!) { updateSubscriber(id: $id, input: {phone: \"+7 1\"}) { updatedAt } }";
    app.as_(&p.token, upd, json!({ "id": client.subscriber_id })).await.ok();
    assert_eq!(ids(&app.as_(&app.vendor, q, json!({ "t": t })).await), [client.subscriber_id.as_str()]);
    // The partner sees its client change too; the client's own view is itself.
    assert_eq!(ids(&app.as_(&p.token, q, json!({ "t": t })).await), [client.subscriber_id.as_str()]);

    app.state.clock.advance(Duration::minutes(10));
    let t = (app.state.clock.now() - Duration::seconds(1)).to_rfc3339();
    let prof =
        "mutation($id: ID!) { updatePartnerProfile(partnerId: $id, input: {hasConsultants: true}) { updatedAt } }";
    app.as_(&app.vendor, prof, json!({ "id": p.subscriber_id })).await.ok();
    assert_eq!(ids(&app.as_(&app.vendor, q, json!({ "t": t })).await), [p.subscriber_id.as_str()]);

    app.state.clock.advance(Duration::minutes(10));
    let t = (app.state.clock.now() - Duration::seconds(1)).to_rfc3339();
    app.presets().await;
    app.set_status(&p.subscriber_id, "1C-FRESH", "CSK").await;
    assert_eq!(ids(&app.as_(&app.vendor, q, json!({ "t": t })).await), [p.subscriber_id.as_str()]);
}

#[tokio::test]
async fn a_subscriber_outside_the_callers_reach_shows_its_created_at_as_updated_at_even_where_its_contacts_show() {
    let app = spawn_app_with(|c| c.rules.directory_min_clients = 1).await;
    app.presets().await;
    let tariff = app.tariff("FRESH", "1C-FRESH", "ITSAAS", "100.00", &[1], 30).await;
    let p = app.partner("Partner").await;
    let client = app.client_of(&p, "Client").await;
    app.pay(&client.subscriber_id, &tariff, 1, "100.00", &email("pay")).await.ok();
    let upd =
        "mutation($id: ID!, $i: SubscriberCardInput!) { updateSubscriber(id: $id, input: $i) { createdAt updatedAt } }";
    app.as_(&p.token, upd, json!({ "id": p.subscriber_id, "i": { "email": "partner@example.test" } })).await.ok();
    // Later the partner's card changes where neither the client nor the public sees it.
    app.state.clock.advance(Duration::minutes(10));
    let own = app.as_(&p.token, upd, json!({ "id": p.subscriber_id, "i": { "contactPerson": "Someone else" } })).await;
    let own = own.ok()["updateSubscriber"].clone();
    assert_ne!(own["updatedAt"], own["createdAt"], "the partner sees its own change");
    // Its client reads its contacts (its serving partner), the public too (the directory): not when it
    // last changed.
    let q = "{ me { subscriber { servingPartner { id email createdAt updatedAt } } } }";
    let r = app.as_(&client.token, q, json!({})).await;
    let seen = &r.ok()["me"]["subscriber"]["servingPartner"];
    assert!(seen["email"].is_string(), "{seen}");
    assert_eq!(seen["updatedAt"], own["createdAt"], "{seen}");
    let r = app.gql(None, "{ partnerDirectory { id email createdAt updatedAt } }", json!({})).await;
    let listed = &r.ok()["partnerDirectory"][0];
    assert_eq!(listed["id"], p.subscriber_id.as_str());
    assert!(listed["email"].is_string(), "{listed}");
    assert_eq!(listed["updatedAt"], own["createdAt"], "{listed}");
}

#[tokio::test]
async fn payments_filter_by_external_id_within_the_callers_reach() {
    let app = spawn_app().await;
    app.presets().await;
    let tariff = app.tariff("FRESH", "1C-FRESH", "ITSAAS", "100.00", &[1], 30).await;
    let p = app.partner("Partner").await;
    let other = app.partner("Other").await;
    let client = app.client_of(&p, "Client").await;
    app.pay(&client.subscriber_id, &tariff, 1, "100.00", "bill-1").await.ok();
    app.pay(&client.subscriber_id, &tariff, 1, "100.00", "bill-2").await.ok();
    let q = "query($e: String) { payments(externalId: $e) { totalCount nodes { externalId } } }";
    let r = app.as_(&app.vendor, q, json!({ "e": "bill-2" })).await;
    assert_eq!(r.ok()["payments"]["nodes"], json!([{ "externalId": "bill-2" }]));
    let r = app.as_(&p.token, q, json!({ "e": "bill-1" })).await;
    assert_eq!(r.ok()["payments"]["totalCount"], 1);
    let r = app.as_(&other.token, q, json!({ "e": "bill-1" })).await;
    assert_eq!(r.ok()["payments"]["totalCount"], 0, "another partner's client's payment is not listed");
    let r = app.as_(&app.vendor, q, json!({ "e": "none" })).await;
    assert_eq!(r.ok()["payments"]["totalCount"], 0);
    let r = app.as_(&app.vendor, q, json!({ "e": "a\u{0}" })).await;
    assert_eq!((r.code(), r.reason()), (Some("BAD_USER_INPUT"), Some("NUL_CHARACTER")));
}

#[tokio::test]
async fn a_book_pages_by_cursor_without_gaps_or_repeats() {
    let app = spawn_app().await;
    let p = app.partner("Partner").await;
    let items: Vec<Value> = (0..45).map(|i| json!({ "name": format!("N{i:02}") })).collect();
    app.as_(&p.token, BATCH, json!({ "i": items })).await.ok();
    let q = "query($a: String) { contacts(first: 20, after: $a) { totalCount pageInfo { hasNextPage endCursor } nodes { name } } }";
    let (mut seen, mut after) = (Vec::new(), None::<String>);
    loop {
        let r = app.as_(&p.token, q, json!({ "a": after })).await;
        let c = &r.ok()["contacts"];
        assert_eq!(c["totalCount"], 45);
        seen.extend(names(&c["nodes"]));
        if !c["pageInfo"]["hasNextPage"].as_bool().unwrap() {
            break;
        }
        after = c["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
    seen.sort();
    assert_eq!(seen, (0..45).map(|i| format!("N{i:02}")).collect::<Vec<_>>());
}

const DEALS_PAGE: &str = "query($n: Int) { deals(first: $n) { nodes { title company { name } contacts { name } } } }";

#[tokio::test]
async fn a_page_of_deals_with_company_and_contacts_costs_the_same_statements_for_10_and_100() {
    let (app, statements) = spawn_app_counting().await;
    let p = app.partner("Partner").await;
    let contacts: Vec<Value> =
        (0..20).map(|i| json!({ "externalId": format!("c{i}"), "name": format!("C{i}") })).collect();
    app.as_(&p.token, BATCH, json!({ "i": contacts })).await.ok();
    let companies: Vec<Value> = (0..10)
        .map(|i| json!({ "externalId": format!("co{i}"), "name": format!("Co{i}"), "contactExternalIds": [format!("c{i}"), format!("c{}", i + 10)] }))
        .collect();
    let q = "mutation($i: [CompanyInput!]!) { upsertCompanies(inputs: $i) { created } }";
    app.as_(&p.token, q, json!({ "i": companies })).await.ok();
    let deals: Vec<Value> =
        (0..100).map(|i| json!({ "title": format!("D{i}"), "companyExternalId": format!("co{}", i % 10) })).collect();
    let q = "mutation($i: [DealInput!]!) { upsertDeals(inputs: $i) { created } }";
    app.as_(&p.token, q, json!({ "i": deals })).await.ok();

    let mut counts = Vec::new();
    for n in [10, 100] {
        let before = statements.load(Ordering::Relaxed);
        let r = app.as_(&p.token, DEALS_PAGE, json!({ "n": n })).await;
        let after = statements.load(Ordering::Relaxed);
        let nodes = r.ok()["deals"]["nodes"].as_array().unwrap().clone();
        assert_eq!(nodes.len(), n as usize);
        assert!(nodes.iter().all(|d| !d["company"]["name"].is_null()));
        assert!(nodes.iter().all(|d| d["contacts"].as_array().unwrap().len() == 2));
        counts.push(after - before);
    }
    assert!(counts[0] > 0, "the counter counts");
    assert_eq!(counts[0], counts[1], "statements for 10 deals vs 100: {counts:?}");
    assert!(counts[1] <= 10, "a handful of statements: {counts:?}");
}

#[tokio::test]
async fn relations_nested_in_relations_of_a_page_are_refused_as_too_complex() {
    let app = spawn_app().await;
    let p = app.partner("Partner").await;
    let fan_out = "{ deals(first: 100) { nodes { contacts { deals { contacts { deals { title } } } } } } }";
    app.as_(&p.token, fan_out, json!({})).await.err("MAX_COMPLEXITY_LIMIT");
    // One level of relations on a full page passes.
    let r =
        app.as_(&p.token, "{ contacts(first: 100) { nodes { companies { name } deals { title } } } }", json!({})).await;
    r.ok();
}

#[tokio::test]
async fn updated_since_takes_the_extremes_of_time() {
    let app = spawn_app().await;
    let p = app.partner("Partner").await;
    app.contact(&p, json!({ "name": "A" })).await;
    let q = "query($t: DateTime) { contacts(updatedSince: $t) { totalCount } subscribers(updatedSince: $t) { totalCount } }";
    for (t, n) in [("0001-01-01T00:00:00Z", 1), ("9999-12-31T23:59:59.999999Z", 0), ("2026-01-01T00:00:00+03:00", 1)] {
        let r = app.as_(&p.token, q, json!({ "t": t })).await;
        assert_eq!(r.ok()["contacts"]["totalCount"], n, "{t}");
    }
    let r = app.as_(&p.token, q, json!({ "t": "yesterday" })).await;
    r.err("BAD_USER_INPUT");
}

#[tokio::test]
async fn a_batch_answer_counts_as_a_full_page_in_complexity() {
    let app = spawn_app().await;
    let p = app.partner("Partner").await;
    let deep = "mutation { upsertContacts(inputs: [{name: \"A\"}]) { contact { companies { contacts { deals { title } } } } } }";
    app.as_(&p.token, deep, json!({})).await.err("MAX_COMPLEXITY_LIMIT");
    assert_eq!(app.count("crm_contacts").await, 0);
    let flat = "mutation { upsertContacts(inputs: [{name: \"A\"}]) { created contact { id companies { name } } } }";
    app.as_(&p.token, flat, json!({})).await.ok();
}
