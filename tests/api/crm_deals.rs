//! CRM deals: stages and `closedAt`, exact amounts, and how a deal's company brings its contacts.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use crate::crm::names;
use crate::helpers::spawn_app;

const ADD: &str =
    "mutation($d: ID!, $c: ID!) { addDealContact(dealId: $d, contactId: $c) { id contacts { name } updatedAt } }";
const REMOVE: &str =
    "mutation($d: ID!, $c: ID!) { removeDealContact(dealId: $d, contactId: $c) { id contacts { name } updatedAt } }";

fn time(v: &serde_json::Value) -> DateTime<Utc> {
    v.as_str().unwrap_or_else(|| panic!("not a time: {v}")).parse().unwrap()
}

#[tokio::test]
async fn a_deal_starts_new_and_closed_at_follows_won_lost_and_reopening() {
    let app = spawn_app().await;
    let p = app.partner("Partner").await;
    let d = app.deal(&p, json!({ "externalId": "d", "title": "Внедрение 1С" })).await;
    assert_eq!((d["stage"].as_str(), d["closedAt"].is_null()), (Some("NEW"), true));

    app.state.clock.advance(Duration::minutes(5));
    let won = app.deal(&p, json!({ "externalId": "d", "stage": "WON" })).await;
    let closed = time(&won["closedAt"]);
    assert!(closed >= time(&d["createdAt"]) + Duration::minutes(5));
    // Re-sending the same stage (a CRM re-syncing) keeps the time it closed.
    app.state.clock.advance(Duration::minutes(5));
    let again = app.deal(&p, json!({ "externalId": "d", "stage": "WON", "title": "Внедрение 1С" })).await;
    assert_eq!(time(&again["closedAt"]), closed);
    // WON → LOST closes it anew.
    let lost = app.deal(&p, json!({ "externalId": "d", "stage": "LOST" })).await;
    assert!(time(&lost["closedAt"]) >= closed + Duration::minutes(5));
    // Reopened: cleared.
    let open = app.deal(&p, json!({ "externalId": "d", "stage": "NEGOTIATION" })).await;
    assert!(open["closedAt"].is_null());
    // Created closed: closed now.
    let born_won = app.deal(&p, json!({ "title": "Сразу", "stage": "WON" })).await;
    assert!(!born_won["closedAt"].is_null());
    // Stage cannot be null.
    let r = app.upsert_deal(&p, json!({ "externalId": "d", "stage": null })).await;
    assert_eq!((r.code(), r.field()), (Some("BAD_USER_INPUT"), Some("stage")));
    let r = app.upsert_deal(&p, json!({ "externalId": "d", "stage": "DONE" })).await;
    r.err("GRAPHQL_VALIDATION_FAILED");
}

#[tokio::test]
async fn amounts_are_exact_and_negative_or_overprecise_ones_are_refused() {
    let app = spawn_app().await;
    let p = app.partner("Partner").await;
    let d = app.deal(&p, json!({ "externalId": "d", "title": "Big", "amount": "12345678901234567.89" })).await;
    assert_eq!(d["amount"], "12345678901234567.89");
    let d = app.deal(&p, json!({ "externalId": "d", "amount": "150000" })).await;
    assert_eq!(d["amount"], "150000.00");
    for (bad, reason) in [("-1.00", "NEGATIVE_AMOUNT"), ("1.005", "TOO_PRECISE"), ("1e5", "INVALID_AMOUNT")] {
        let r = app.upsert_deal(&p, json!({ "externalId": "d", "amount": bad })).await;
        assert_eq!((r.code(), r.field(), r.reason()), (Some("BAD_USER_INPUT"), Some("amount"), Some(reason)));
    }
    let r = app.upsert_deal(&p, json!({ "externalId": "d", "amount": 100 })).await;
    r.err("BAD_USER_INPUT");
    let d = app.deal(&p, json!({ "externalId": "d", "amount": null })).await;
    assert!(d["amount"].is_null());
}

#[tokio::test]
async fn a_company_brings_its_contacts_and_one_taken_off_stays_off_until_the_company_changes() {
    let app = spawn_app().await;
    let p = app.partner("Partner").await;
    for n in ["a", "b", "c", "d"] {
        app.contact(&p, json!({ "externalId": n, "name": n.to_uppercase() })).await;
    }
    let c1 = app.company(&p, json!({ "externalId": "c1", "name": "C1", "contactExternalIds": ["a", "b"] })).await;
    app.company(&p, json!({ "externalId": "c2", "name": "C2", "contactExternalIds": ["b", "c"] })).await;
    let a = app.contact(&p, json!({ "externalId": "a" })).await;

    let deal = app.deal(&p, json!({ "externalId": "x", "title": "X", "companyId": c1["id"] })).await;
    assert_eq!(deal["company"]["name"], "C1");
    assert_eq!(names(&deal["contacts"]), ["A", "B"]);

    let r = app.as_(&p.token, REMOVE, json!({ "d": deal["id"], "c": a["id"] })).await;
    assert_eq!(names(&r.ok()["removeDealContact"]["contacts"]), ["B"]);
    // Removing it again changes nothing; the contact stays in the book.
    app.as_(&p.token, REMOVE, json!({ "d": deal["id"], "c": a["id"] })).await.ok();
    assert_eq!(app.count("crm_contacts").await, 4);

    // Re-sending the same company is no change: A stays off.
    let same = app.deal(&p, json!({ "externalId": "x", "companyExternalId": "c1", "title": "X2" })).await;
    assert_eq!(names(&same["contacts"]), ["B"]);
    // A new company adds its contacts; the ones on the deal stay; A does not come back.
    let moved = app.deal(&p, json!({ "externalId": "x", "companyExternalId": "c2" })).await;
    assert_eq!(moved["company"]["name"], "C2");
    assert_eq!(names(&moved["contacts"]), ["B", "C"]);
    // null takes the company off and leaves the contacts.
    let off = app.deal(&p, json!({ "externalId": "x", "companyId": null })).await;
    assert!(off["company"].is_null());
    assert_eq!(names(&off["contacts"]), ["B", "C"]);
    // Back to C1 (a change): A comes back, because it belongs to C1.
    let back = app.deal(&p, json!({ "externalId": "x", "companyId": c1["id"] })).await;
    assert_eq!(names(&back["contacts"]), ["A", "B", "C"]);

    // A contact list in the same input replaces the set after the company's were added.
    let exact = app.deal(&p, json!({ "title": "Y", "companyExternalId": "c1", "contactExternalIds": ["d"] })).await;
    assert_eq!((exact["company"]["name"].as_str(), names(&exact["contacts"])), (Some("C1"), vec!["D".to_owned()]));

    // addDealContact is idempotent.
    let d = app.contact(&p, json!({ "externalId": "d" })).await;
    for _ in 0..2 {
        let r = app.as_(&p.token, ADD, json!({ "d": deal["id"], "c": d["id"] })).await;
        assert_eq!(names(&r.ok()["addDealContact"]["contacts"]), ["A", "B", "C", "D"]);
    }
    // The contact sees its deals.
    let q = "query($id: ID!) { contact(id: $id) { deals { title } } }";
    assert_eq!(names(&app.as_(&p.token, q, json!({ "id": d["id"] })).await.ok()["contact"]["deals"]), ["X2", "Y"]);
    // Naming a company both ways is ambiguous; an unknown one is bad input on its field.
    let r = app.upsert_deal(&p, json!({ "externalId": "x", "companyId": c1["id"], "companyExternalId": "c1" })).await;
    r.err("BAD_USER_INPUT");
    let r = app.upsert_deal(&p, json!({ "externalId": "x", "companyExternalId": "nope" })).await;
    r.err("BAD_USER_INPUT").reason_is("UNKNOWN_EXTERNAL_ID");
    assert_eq!(r.field(), Some("companyExternalId"));
    let r = app.upsert_deal(&p, json!({ "externalId": "x", "contactExternalIds": ["a", "nope"] })).await;
    r.err("BAD_USER_INPUT").reason_is("UNKNOWN_EXTERNAL_ID");
    assert_eq!(r.field(), Some("contactExternalIds"));
}

#[tokio::test]
async fn deals_filter_by_stage_company_contact_and_external_id() {
    let app = spawn_app().await;
    let p = app.partner("Partner").await;
    let a = app.contact(&p, json!({ "externalId": "a", "name": "A" })).await;
    let co = app.company(&p, json!({ "externalId": "co", "name": "Co", "contactExternalIds": ["a"] })).await;
    app.deal(&p, json!({ "externalId": "d1", "title": "D1", "companyExternalId": "co" })).await;
    app.deal(&p, json!({ "externalId": "d2", "title": "D2", "stage": "WON" })).await;
    app.deal(&p, json!({ "externalId": "d3", "title": "D3", "contactIds": [a["id"]], "stage": "WON" })).await;
    let q = "query($s: DealStage, $co: ID, $c: ID, $e: String) { deals(stage: $s, companyId: $co, contactId: $c, externalId: $e) { totalCount nodes { title } } }";
    let titles = |v: serde_json::Value| {
        let app = &app;
        let t = p.token.clone();
        async move { names(&app.as_(&t, q, v).await.ok()["deals"]["nodes"]) }
    };
    assert_eq!(titles(json!({ "s": "WON" })).await, ["D2", "D3"]);
    assert_eq!(titles(json!({ "co": co["id"] })).await, ["D1"]);
    assert_eq!(titles(json!({ "c": a["id"] })).await, ["D1", "D3"]);
    assert_eq!(titles(json!({ "c": a["id"], "s": "WON" })).await, ["D3"]);
    assert_eq!(titles(json!({ "e": "d2" })).await, ["D2"]);
    let q2 = "query($co: ID) { contacts(companyId: $co) { nodes { name } } }";
    assert_eq!(names(&app.as_(&p.token, q2, json!({ "co": co["id"] })).await.ok()["contacts"]["nodes"]), ["A"]);
}
