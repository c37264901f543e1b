//! Who reaches which CRM book: another partner's rows are `NOT_FOUND` everywhere, exactly like a random
//! id; the vendor reads every book and writes its own; callers without a book are `FORBIDDEN`. And the
//! permission outcome of every CRM operation for the twelve callers.

use serde_json::{Value, json};

use crate::helpers::{Account, Gql, TestApp, spawn_app};

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

/// Rows: operations. Columns: callers. `OK`, `F` = FORBIDDEN, `N` = NOT_FOUND. The rows named by id
/// are the partner P's; "new" rows go to the caller's own book.
const MATRIX: &str = "
operation              V.OWNER V.ADMIN V.USER V.SO  P.OWNER P.ADMIN P.USER P.AA P.SO  C.OWNER C.ADMIN C.USER
contacts               OK      OK      OK     OK    OK      F       F      F    OK    F       F       F
companies              OK      OK      OK     OK    OK      F       F      F    OK    F       F       F
deals                  OK      OK      OK     OK    OK      F       F      F    OK    F       F       F
contacts_of_p          OK      OK      OK     OK    OK      F       F      F    OK    F       F       F
contact                OK      OK      OK     OK    OK      F       F      F    OK    F       F       F
company                OK      OK      OK     OK    OK      F       F      F    OK    F       F       F
deal                   OK      OK      OK     OK    OK      F       F      F    OK    F       F       F
upsert_contact_new     OK      F       F      OK    OK      F       F      F    OK    F       F       F
upsert_company_new     OK      F       F      OK    OK      F       F      F    OK    F       F       F
upsert_deal_new        OK      F       F      OK    OK      F       F      F    OK    F       F       F
upsert_contacts        OK      F       F      OK    OK      F       F      F    OK    F       F       F
upsert_companies       OK      F       F      OK    OK      F       F      F    OK    F       F       F
upsert_deals           OK      F       F      OK    OK      F       F      F    OK    F       F       F
upsert_contact_of_p    F       F       F      F     OK      F       F      F    OK    F       F       F
upsert_company_of_p    F       F       F      F     OK      F       F      F    OK    F       F       F
upsert_deal_of_p       F       F       F      F     OK      F       F      F    OK    F       F       F
add_deal_contact       F       F       F      F     OK      F       F      F    OK    F       F       F
remove_deal_contact    F       F       F      F     OK      F       F      F    OK    F       F       F
delete_contact         F       F       F      F     OK      F       F      F    OK    F       F       F
delete_company         F       F       F      F     OK      F       F      F    OK    F       F       F
delete_deal            F       F       F      F     OK      F       F      F    OK    F       F       F
";

async fn run(app: &TestApp, op: &str, who: &Account, p: &Account) -> String {
    let t = who.token.as_str();
    // Fresh rows of P's book for every call that names rows, so deletes and changes do not depend on
    // order.
    let names_rows = !(op.ends_with('s') || op.ends_with("_new") || op == "contacts_of_p");
    let (contact, company, deal) = if names_rows {
        (
            app.contact(p, json!({ "name": "C" })).await["id"].clone(),
            app.company(p, json!({ "name": "Co" })).await["id"].clone(),
            app.deal(p, json!({ "title": "D" })).await["id"].clone(),
        )
    } else {
        (Value::Null, Value::Null, Value::Null)
    };
    let by_id = |q: &str, id: &Value| (q.to_owned(), json!({ "id": id }));
    let (q, v) = match op {
        "contacts" => ("{ contacts { totalCount } }".to_owned(), json!({})),
        "companies" => ("{ companies { totalCount } }".to_owned(), json!({})),
        "deals" => ("{ deals { totalCount } }".to_owned(), json!({})),
        "contacts_of_p" => {
            ("query($b: ID) { contacts(bookId: $b) { totalCount } }".to_owned(), json!({ "b": p.subscriber_id }))
        }
        "contact" => by_id("query($id: ID!) { contact(id: $id) { id } }", &contact),
        "company" => by_id("query($id: ID!) { company(id: $id) { id } }", &company),
        "deal" => by_id("query($id: ID!) { deal(id: $id) { id } }", &deal),
        "upsert_contact_new" => ("mutation { upsertContact(input: {name: \"N\"}) { created } }".to_owned(), json!({})),
        "upsert_company_new" => ("mutation { upsertCompany(input: {name: \"N\"}) { created } }".to_owned(), json!({})),
        "upsert_deal_new" => ("mutation { upsertDeal(input: {title: \"N\"}) { created } }".to_owned(), json!({})),
        "upsert_contacts" => ("mutation { upsertContacts(inputs: [{name: \"N\"}]) { created } }".to_owned(), json!({})),
        "upsert_companies" => {
            ("mutation { upsertCompanies(inputs: [{name: \"N\"}]) { created } }".to_owned(), json!({}))
        }
        "upsert_deals" => ("mutation { upsertDeals(inputs: [{title: \"N\"}]) { created } }".to_owned(), json!({})),
        "upsert_contact_of_p" => {
            by_id("mutation($id: ID) { upsertContact(input: {id: $id, phone: \"1\"}) { created } }", &contact)
        }
        "upsert_company_of_p" => {
            by_id("mutation($id: ID) { upsertCompany(input: {id: $id, kpp: null}) { created } }", &company)
        }
        "upsert_deal_of_p" => {
            by_id("mutation($id: ID) { upsertDeal(input: {id: $id, stage: WON}) { created } }", &deal)
        }
        "add_deal_contact" => (
            "mutation($d: ID!, $c: ID!) { addDealContact(dealId: $d, contactId: $c) { id } }".to_owned(),
            json!({ "d": deal, "c": contact }),
        ),
        "remove_deal_contact" => (
            "mutation($d: ID!, $c: ID!) { removeDealContact(dealId: $d, contactId: $c) { id } }".to_owned(),
            json!({ "d": deal, "c": contact }),
        ),
        "delete_contact" => by_id("mutation($id: ID!) { deleteContact(id: $id) }", &contact),
        "delete_company" => by_id("mutation($id: ID!) { deleteCompany(id: $id) }", &company),
        "delete_deal" => by_id("mutation($id: ID!) { deleteDeal(id: $id) }", &deal),
        other => panic!("no operation {other} in the test"),
    };
    app.as_(t, &q, v).await.outcome()
}

#[tokio::test]
async fn every_crm_operation_gives_each_of_the_twelve_callers_its_matrix_outcome() {
    let app = spawn_app().await;
    let vendor_id = app.vendor_id().await;
    let vendor_owner = Account {
        token: app.vendor.clone(),
        subscriber_id: vendor_id.clone(),
        email: String::new(),
        membership_id: String::new(),
    };
    let p = app.partner("Partner P").await;
    let c = app.client_of(&p, "Client C").await;
    let mut callers: Vec<(&str, Account)> = vec![("V.OWNER", vendor_owner)];
    for (label, role) in [("V.ADMIN", "ADMIN"), ("V.USER", "USER"), ("V.SO", "SERVICE_OPERATOR")] {
        callers.push((label, app.member(&app.vendor, &vendor_id, role).await));
    }
    callers.push(("P.OWNER", p.clone()));
    for (label, role) in
        [("P.ADMIN", "ADMIN"), ("P.USER", "USER"), ("P.AA", "ADAPTATION_ADMIN"), ("P.SO", "SERVICE_OPERATOR")]
    {
        callers.push((label, app.member(&p.token, &p.subscriber_id, role).await));
    }
    callers.push(("C.OWNER", c.clone()));
    callers.push(("C.ADMIN", app.member(&c.token, &c.subscriber_id, "ADMIN").await));
    callers.push(("C.USER", app.member(&c.token, &c.subscriber_id, "USER").await));

    let mut lines = MATRIX.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().skip(1).collect();
    assert_eq!(header, callers.iter().map(|(l, _)| *l).collect::<Vec<_>>());
    let mut mismatches = Vec::new();
    let mut checked = 0;
    for line in lines {
        let mut cells = line.split_whitespace();
        let op = cells.next().unwrap();
        for ((label, who), cell) in callers.iter().zip(cells) {
            let expected = match cell {
                "OK" => "OK",
                "F" => "FORBIDDEN",
                "N" => "NOT_FOUND",
                other => panic!("bad cell {other}"),
            };
            let got = run(&app, op, who, &p).await;
            checked += 1;
            if got != expected {
                mismatches.push(format!("{op} as {label}: expected {expected}, got {got}"));
            }
        }
    }
    assert_eq!(checked, 21 * 12);
    assert!(mismatches.is_empty(), "CRM permission mismatches:\n{}", mismatches.join("\n"));
    // Anonymous callers reach nothing of it.
    for q in ["{ contacts { totalCount } }", "mutation { upsertContact(input: {name: \"N\"}) { created } }"] {
        app.gql(None, q, json!({})).await.err("UNAUTHENTICATED");
    }
}
