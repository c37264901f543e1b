//! Who reaches which CRM book: another partner's rows are `NOT_FOUND` everywhere, exactly like a random
//! id; the vendor reads every book and writes its own. The outcome of every CRM operation for every
//! caller is in the permission matrix (`permissions.rs`); the relation walker and the id and cursor
//! oracles (`reach/`) cover CRM rows too.

use serde_json::{Value, json};

use crate::helpers::{Account, Gql, spawn_app};

/// Variables for a probe, given the id it tries.
type Vars = Box<dyn Fn(&str) -> Value>;

/// The error of a response with `path` removed (it names the alias), for comparing two refusals.
fn refusal(g: &Gql) -> Value {
    let mut e = g.0["errors"][0].clone();
    if let Some(o) = e.as_object_mut() {
        o.remove("path");
        o.remove("locations");
    }
    assert!(g.0["data"].is_null() || g.0["data"].as_object().is_some_and(|d| d.values().all(Value::is_null)));
    e
}

#[tokio::test]
async fn another_partners_rows_are_not_found_everywhere_exactly_like_a_random_id() {
    let app = spawn_app().await;
    let owner = app.partner("Owner").await;
    let intruder = app.partner("Intruder").await;
    let contact = app.contact(&owner, json!({ "externalId": "c", "name": "C" })).await;
    let company = app.company(&owner, json!({ "externalId": "co", "name": "Co", "contactExternalIds": ["c"] })).await;
    let deal = app.deal(&owner, json!({ "externalId": "d", "title": "D", "companyExternalId": "co" })).await;
    let own_contact = app.contact(&intruder, json!({ "name": "Mine" })).await;
    let own_deal = app.deal(&intruder, json!({ "title": "Mine" })).await;

    let probes: Vec<(&str, Vars)> = vec![
        ("query($id: ID!) { contact(id: $id) { name } }", Box::new(|id| json!({ "id": id }))),
        ("query($id: ID!) { company(id: $id) { name } }", Box::new(|id| json!({ "id": id }))),
        ("query($id: ID!) { deal(id: $id) { title } }", Box::new(|id| json!({ "id": id }))),
        ("query($id: ID) { contacts(companyId: $id) { totalCount } }", Box::new(|id| json!({ "id": id }))),
        ("query($id: ID) { deals(companyId: $id) { totalCount } }", Box::new(|id| json!({ "id": id }))),
        ("query($id: ID) { deals(contactId: $id) { totalCount } }", Box::new(|id| json!({ "id": id }))),
        ("query($id: ID) { contacts(bookId: $id) { totalCount } }", Box::new(|id| json!({ "id": id }))),
        (
            "mutation($id: ID) { upsertContact(input: {id: $id, name: \"X\"}) { created } }",
            Box::new(|id| json!({ "id": id })),
        ),
        (
            "mutation($id: ID) { upsertCompany(input: {id: $id, name: \"X\"}) { created } }",
            Box::new(|id| json!({ "id": id })),
        ),
        (
            "mutation($id: ID) { upsertDeal(input: {id: $id, title: \"X\"}) { created } }",
            Box::new(|id| json!({ "id": id })),
        ),
        (
            "mutation($id: ID!) { upsertContact(input: {name: \"X\", companyIds: [$id]}) { created } }",
            Box::new(|id| json!({ "id": id })),
        ),
        (
            "mutation($id: ID!) { upsertCompany(input: {name: \"X\", contactIds: [$id]}) { created } }",
            Box::new(|id| json!({ "id": id })),
        ),
        (
            "mutation($id: ID!) { upsertDeal(input: {title: \"X\", companyId: $id}) { created } }",
            Box::new(|id| json!({ "id": id })),
        ),
        (
            "mutation($id: ID!) { upsertDeal(input: {title: \"X\", contactIds: [$id]}) { created } }",
            Box::new(|id| json!({ "id": id })),
        ),
        ("mutation($id: ID!) { deleteContact(id: $id) }", Box::new(|id| json!({ "id": id }))),
        ("mutation($id: ID!) { deleteCompany(id: $id) }", Box::new(|id| json!({ "id": id }))),
        ("mutation($id: ID!) { deleteDeal(id: $id) }", Box::new(|id| json!({ "id": id }))),
        ("mutation($d: ID!, $c: ID!) { addDealContact(dealId: $d, contactId: $c) { id } }", {
            let c = own_contact["id"].clone();
            Box::new(move |id| json!({ "d": id, "c": c }))
        }),
        ("mutation($d: ID!, $c: ID!) { addDealContact(dealId: $d, contactId: $c) { id } }", {
            let d = own_deal["id"].clone();
            Box::new(move |id| json!({ "d": d, "c": id }))
        }),
        ("mutation($d: ID!, $c: ID!) { removeDealContact(dealId: $d, contactId: $c) { id } }", {
            let c = own_contact["id"].clone();
            Box::new(move |id| json!({ "d": id, "c": c }))
        }),
    ];
    let foreign_ids = [
        contact["id"].as_str().unwrap(),
        company["id"].as_str().unwrap(),
        deal["id"].as_str().unwrap(),
        owner.subscriber_id.as_str(),
    ];
    let random = uuid::Uuid::now_v7().to_string();
    let mut checked = 0;
    for (q, vars) in &probes {
        let expected = refusal(app.as_(&intruder.token, q, vars(&random)).await.err("NOT_FOUND"));
        for id in foreign_ids {
            let r = app.as_(&intruder.token, q, vars(id)).await;
            // A foreign id of the wrong kind is also just an id that names nothing here.
            assert_eq!(refusal(&r), expected, "{q} with {id}");
            checked += 1;
        }
    }
    assert_eq!(checked, probes.len() * foreign_ids.len());
    // Nothing of the owner's book changed.
    let q = "query($id: ID!) { deal(id: $id) { title company { name } contacts { name } } }";
    let r = app.as_(&owner.token, q, json!({ "id": deal["id"] })).await;
    assert_eq!(r.ok()["deal"], json!({ "title": "D", "company": { "name": "Co" }, "contacts": [{ "name": "C" }] }));
    // The same external id in another book is another row; external ids of another book are unknown.
    let mine = app.contact(&intruder, json!({ "externalId": "c", "name": "Intruder's C" })).await;
    assert_ne!(mine["id"], contact["id"]);
    let r = app.upsert_deal(&intruder, json!({ "title": "X", "companyExternalId": "co" })).await;
    r.err("BAD_USER_INPUT").reason_is("UNKNOWN_EXTERNAL_ID");
    let r = app.as_(&intruder.token, "{ contacts(externalId: \"c\") { nodes { name } } }", json!({})).await;
    assert_eq!(r.ok()["contacts"]["nodes"], json!([{ "name": "Intruder's C" }]));
    // Lists show only the caller's book.
    let r = app.as_(&intruder.token, "{ deals { totalCount } companies { totalCount } }", json!({})).await;
    assert_eq!(
        (r.ok()["deals"]["totalCount"].as_u64(), r.ok()["companies"]["totalCount"].as_u64()),
        (Some(1), Some(0))
    );
}

#[tokio::test]
async fn the_vendor_reads_a_partners_book_by_book_id_and_writes_only_its_own() {
    let app = spawn_app().await;
    let vendor_id = app.vendor_id().await;
    let vendor = Account {
        token: app.vendor.clone(),
        subscriber_id: vendor_id.clone(),
        email: String::new(),
        membership_id: String::new(),
    };
    let p = app.partner("Partner").await;
    let client = app.client_of(&p, "Client").await;
    let theirs = app.contact(&p, json!({ "externalId": "c", "name": "Partner's" })).await;
    let own = app.contact(&vendor, json!({ "externalId": "c", "name": "Vendor's" })).await;
    assert_ne!(own["id"], theirs["id"]);

    let q = "query($b: ID) { contacts(bookId: $b) { nodes { name } } }";
    let list = |b: Option<&str>| {
        let app = &app;
        let b = b.map(str::to_owned);
        async move { app.as_(&app.vendor, q, json!({ "b": b })).await }
    };
    assert_eq!(list(None).await.ok()["contacts"]["nodes"], json!([{ "name": "Vendor's" }]));
    assert_eq!(list(Some(&vendor_id)).await.ok()["contacts"]["nodes"], json!([{ "name": "Vendor's" }]));
    assert_eq!(list(Some(&p.subscriber_id)).await.ok()["contacts"]["nodes"], json!([{ "name": "Partner's" }]));
    // A client has no book; an id that is not a subscriber neither.
    list(Some(&client.subscriber_id)).await.err("NOT_FOUND");
    list(Some(&uuid::Uuid::now_v7().to_string())).await.err("NOT_FOUND");
    list(Some("nonsense")).await.err("NOT_FOUND");
    // Every vendor role reads.
    let vendor_user = app.member(&app.vendor, &vendor_id, "USER").await;
    let r = app.as_(&vendor_user.token, q, json!({ "b": p.subscriber_id })).await;
    assert_eq!(r.ok()["contacts"]["nodes"], json!([{ "name": "Partner's" }]));
    let r = app
        .as_(&vendor_user.token, "query($id: ID!) { contact(id: $id) { name } }", json!({ "id": theirs["id"] }))
        .await;
    assert_eq!(r.ok()["contact"]["name"], "Partner's");
    // The vendor may not write a partner's book: it sees the row, so FORBIDDEN.
    app.upsert_contact(&vendor, json!({ "id": theirs["id"], "name": "Hijacked" })).await.err("FORBIDDEN");
    let r = app.as_(&app.vendor, "mutation($id: ID!) { deleteContact(id: $id) }", json!({ "id": theirs["id"] })).await;
    r.err("FORBIDDEN");
    // Writing by external id writes the vendor's own book.
    let mine = app.contact(&vendor, json!({ "externalId": "c", "phone": "1" })).await;
    assert_eq!((mine["id"].clone(), mine["name"].as_str()), (own["id"].clone(), Some("Vendor's")));
    // A partner cannot name another book.
    let r = app.as_(&p.token, q, json!({ "b": vendor_id })).await;
    r.err("NOT_FOUND");
    let r = app.as_(&p.token, q, json!({ "b": p.subscriber_id })).await;
    assert_eq!(r.ok()["contacts"]["nodes"], json!([{ "name": "Partner's" }]));
}
