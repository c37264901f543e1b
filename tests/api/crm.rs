//! CRM books (docs/rules.md §10): upserts by id and by the CRM's external ids, patches, links, validation,
//! search and deletes. Deals are in `crm_deals`, reach in `crm_reach`, batches and sync in `crm_sync`.

use serde_json::{Value, json};

use crate::helpers::{Account, Gql, TestApp, inn, spawn_app};

pub const UPSERT_CONTACT: &str = "mutation($i: ContactInput!) { upsertContact(input: $i) { created contact { id externalId name email phone position comment createdAt updatedAt companies { id externalId name } deals { id title } } } }";
pub const UPSERT_COMPANY: &str = "mutation($i: CompanyInput!) { upsertCompany(input: $i) { created company { id externalId name inn kpp updatedAt client { id name } contacts { id externalId name } deals { id title } protection { id status partner { id } } } } }";
pub const UPSERT_DEAL: &str = "mutation($i: DealInput!) { upsertDeal(input: $i) { created deal { id externalId title stage amount closedAt createdAt updatedAt company { id name } contacts { id externalId name } } } }";

impl TestApp {
    pub async fn upsert_contact(&self, who: &Account, input: Value) -> Gql {
        self.as_(&who.token, UPSERT_CONTACT, json!({ "i": input })).await
    }
    pub async fn upsert_company(&self, who: &Account, input: Value) -> Gql {
        self.as_(&who.token, UPSERT_COMPANY, json!({ "i": input })).await
    }
    pub async fn upsert_deal(&self, who: &Account, input: Value) -> Gql {
        self.as_(&who.token, UPSERT_DEAL, json!({ "i": input })).await
    }
    /// Upserts a contact that must succeed; its JSON.
    pub async fn contact(&self, who: &Account, input: Value) -> Value {
        self.upsert_contact(who, input).await.ok()["upsertContact"]["contact"].clone()
    }
    pub async fn company(&self, who: &Account, input: Value) -> Value {
        self.upsert_company(who, input).await.ok()["upsertCompany"]["company"].clone()
    }
    pub async fn deal(&self, who: &Account, input: Value) -> Value {
        self.upsert_deal(who, input).await.ok()["upsertDeal"]["deal"].clone()
    }
}

async fn search_contacts(app: &TestApp, who: &Account, s: &str) -> Vec<String> {
    let q = "query($s: String) { contacts(search: $s) { nodes { name } } }";
    names(&app.as_(&who.token, q, json!({ "s": s })).await.ok()["contacts"]["nodes"])
}

/// The `name` (or `title`) of each object in a list, sorted.
pub fn names(list: &Value) -> Vec<String> {
    let mut v: Vec<String> = list
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|o| o.get("name").or_else(|| o.get("title")).and_then(Value::as_str).unwrap().to_owned())
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn a_contact_is_created_by_external_id_then_patched_through_it() {
    let app = spawn_app().await;
    let p = app.partner("Partner").await;
    let r = app
        .upsert_contact(
            &p,
            json!({ "externalId": "crm-1", "name": "Иван Петров", "email": "Ivan@Example.RU", "phone": "+7 900 000-00-00" }),
        )
        .await;
    let d = &r.ok()["upsertContact"];
    assert_eq!(d["created"], true);
    let c = &d["contact"];
    assert_eq!((c["externalId"].as_str(), c["email"].as_str()), (Some("crm-1"), Some("ivan@example.ru")));

    // Same external id: the same row; omitted fields stay, null clears, a value sets.
    let r = app.upsert_contact(&p, json!({ "externalId": "crm-1", "position": "Главбух", "phone": null })).await;
    let d = &r.ok()["upsertContact"];
    assert_eq!(d["created"], false);
    let c2 = &d["contact"];
    assert_eq!(c2["id"], c["id"]);
    assert_eq!(c2["name"], "Иван Петров");
    assert_eq!(c2["email"], "ivan@example.ru");
    assert_eq!(c2["position"], "Главбух");
    assert!(c2["phone"].is_null());
    assert_eq!(app.count("crm_contacts").await, 1);

    // By our id.
    let c3 = app.contact(&p, json!({ "id": c["id"], "comment": "строка 1\nстрока 2" })).await;
    assert_eq!(c3["comment"], "строка 1\nстрока 2");
    assert_eq!(c3["externalId"], "crm-1");
    let read =
        app.as_(&p.token, "query($id: ID!) { contact(id: $id) { name comment } }", json!({ "id": c["id"] })).await;
    assert_eq!(read.ok()["contact"]["comment"], "строка 1\nстрока 2");
}

#[tokio::test]
async fn creating_without_the_required_field_is_bad_input_on_that_field() {
    let app = spawn_app().await;
    let p = app.partner("Partner").await;
    let r = app.upsert_contact(&p, json!({ "externalId": "x", "email": "a@b.ru" })).await;
    assert_eq!((r.code(), r.field(), r.reason()), (Some("BAD_USER_INPUT"), Some("name"), Some("REQUIRED")));
    let r = app.upsert_company(&p, json!({ "inn": "7707083893" })).await;
    assert_eq!((r.code(), r.field()), (Some("BAD_USER_INPUT"), Some("name")));
    let r = app.upsert_deal(&p, json!({ "stage": "WON" })).await;
    assert_eq!((r.code(), r.field()), (Some("BAD_USER_INPUT"), Some("title")));
    // A required field cannot be cleared on an existing row either.
    app.contact(&p, json!({ "externalId": "x", "name": "X" })).await;
    let r = app.upsert_contact(&p, json!({ "externalId": "x", "name": null })).await;
    assert_eq!((r.code(), r.field()), (Some("BAD_USER_INPUT"), Some("name")));
    let r = app.upsert_contact(&p, json!({ "externalId": "x", "name": "   " })).await;
    assert_eq!((r.code(), r.field(), r.reason()), (Some("BAD_USER_INPUT"), Some("name"), Some("EMPTY")));
    assert_eq!(app.count("crm_contacts").await, 1);
    assert_eq!(app.count("crm_companies").await + app.count("crm_deals").await, 0);
}

#[tokio::test]
async fn an_empty_or_overlong_external_id_is_bad_input_on_external_id() {
    let app = spawn_app().await;
    let p = app.partner("Partner").await;
    for bad in ["", "   ", &"я".repeat(256)] {
        let r = app.upsert_contact(&p, json!({ "externalId": bad, "name": "X" })).await;
        assert_eq!((r.code(), r.field()), (Some("BAD_USER_INPUT"), Some("externalId")), "{bad:?}: {}", r.0);
    }
    // A NUL character is refused before anything runs, wherever it is (the preflight).
    let r = app.upsert_contact(&p, json!({ "externalId": "a\u{0}b", "name": "X" })).await;
    assert_eq!((r.code(), r.reason()), (Some("BAD_USER_INPUT"), Some("NUL_CHARACTER")), "{}", r.0);
    let long = "я".repeat(255);
    assert_eq!(app.contact(&p, json!({ "externalId": long, "name": "X" })).await["externalId"], long.as_str());
    let r = app.as_(&p.token, "{ contacts(externalId: \"\") { totalCount } }", json!({})).await;
    assert_eq!((r.code(), r.field()), (Some("BAD_USER_INPUT"), Some("externalId")));
}

#[tokio::test]
async fn id_with_external_id_sets_it_and_another_rows_external_id_is_a_conflict() {
    let app = spawn_app().await;
    let p = app.partner("Partner").await;
    let a = app.contact(&p, json!({ "externalId": "a", "name": "A" })).await;
    let b = app.contact(&p, json!({ "name": "B" })).await;
    assert!(b["externalId"].is_null());
    let b2 = app.contact(&p, json!({ "id": b["id"], "externalId": "b" })).await;
    assert_eq!((b2["id"].clone(), b2["externalId"].as_str()), (b["id"].clone(), Some("b")));

    let r = app.upsert_contact(&p, json!({ "id": b["id"], "externalId": "a" })).await;
    r.err("CONFLICT").reason_is("EXTERNAL_ID_TAKEN");
    assert_eq!(r.field(), Some("externalId"));

    // null with an id removes the external id; "a" is then free for b.
    app.contact(&p, json!({ "id": a["id"], "externalId": null })).await;
    let b3 = app.contact(&p, json!({ "id": b["id"], "externalId": "a" })).await;
    assert_eq!(b3["externalId"], "a");
    assert_eq!(app.count("crm_contacts").await, 2);
    // An id that names nothing is NOT_FOUND, not a new row.
    app.upsert_contact(&p, json!({ "id": uuid::Uuid::now_v7(), "name": "Z" })).await.err("NOT_FOUND");
    app.upsert_contact(&p, json!({ "id": "not-a-uuid", "name": "Z" })).await.err("NOT_FOUND");
}

#[tokio::test]
async fn link_lists_by_our_ids_or_external_ids_replace_the_set() {
    let app = spawn_app().await;
    let p = app.partner("Partner").await;
    let x = app.company(&p, json!({ "externalId": "x", "name": "X" })).await;
    app.company(&p, json!({ "externalId": "y", "name": "Y" })).await;
    let z = app.company(&p, json!({ "externalId": "z", "name": "Z" })).await;

    let c = app.contact(&p, json!({ "externalId": "c", "name": "C", "companyExternalIds": ["x", "y", "x"] })).await;
    assert_eq!(names(&c["companies"]), ["X", "Y"]);
    // Union of both lists replaces the set.
    let c = app.contact(&p, json!({ "externalId": "c", "companyIds": [z["id"]], "companyExternalIds": ["x"] })).await;
    assert_eq!(names(&c["companies"]), ["X", "Z"]);
    // Omitted: the set stays.
    let c = app.contact(&p, json!({ "externalId": "c", "phone": "1" })).await;
    assert_eq!(names(&c["companies"]), ["X", "Z"]);
    // The other side sees it.
    let q = "query($id: ID!) { company(id: $id) { contacts { name } } }";
    assert_eq!(names(&app.as_(&p.token, q, json!({ "id": x["id"] })).await.ok()["company"]["contacts"]), ["C"]);
    // A company replaces its contacts the same way.
    let d = app.contact(&p, json!({ "externalId": "d", "name": "D" })).await;
    let x2 = app.company(&p, json!({ "id": x["id"], "contactIds": [d["id"]] })).await;
    assert_eq!(names(&x2["contacts"]), ["D"]);
    // null empties the set.
    let c = app.contact(&p, json!({ "externalId": "c", "companyIds": null })).await;
    assert_eq!(names(&c["companies"]), Vec::<String>::new());

    // An unknown external id is bad input on its field; an unknown id of ours is NOT_FOUND.
    let r = app.upsert_contact(&p, json!({ "externalId": "c", "companyExternalIds": ["x", "nope"] })).await;
    r.err("BAD_USER_INPUT").reason_is("UNKNOWN_EXTERNAL_ID");
    assert_eq!(r.field(), Some("companyExternalIds"));
    let r = app.upsert_contact(&p, json!({ "externalId": "c", "companyIds": [uuid::Uuid::now_v7()] })).await;
    r.err("NOT_FOUND");
    let r = app.upsert_contact(&p, json!({ "externalId": "c", "companyIds": ["bad"] })).await;
    assert_eq!((r.code(), r.field()), (Some("BAD_USER_INPUT"), Some("companyIds")));
    // A failed upsert keeps nothing of itself.
    let r = app.upsert_contact(&p, json!({ "externalId": "new", "name": "N", "companyExternalIds": ["nope"] })).await;
    r.err("BAD_USER_INPUT");
    assert_eq!(app.count("crm_contacts").await, 2);
}

#[tokio::test]
async fn company_inn_and_kpp_are_checked_like_the_card_and_its_client_must_be_in_reach() {
    let app = spawn_app().await;
    let p = app.partner("Partner").await;
    let other = app.partner("Other").await;
    let mine = app.client_of(&p, "Мой клиент").await;
    let theirs = app.client_of(&other, "Чужой клиент").await;

    let r = app.upsert_company(&p, json!({ "name": "X", "inn": "7707083894" })).await;
    assert_eq!((r.code(), r.field(), r.reason()), (Some("BAD_USER_INPUT"), Some("inn"), Some("INVALID_INN")));
    let r = app.upsert_company(&p, json!({ "name": "X", "inn": "7707083893", "kpp": "77360100" })).await;
    assert_eq!((r.code(), r.field(), r.reason()), (Some("BAD_USER_INPUT"), Some("kpp"), Some("INVALID_KPP")));

    let c = app
        .company(
            &p,
            json!({ "name": "ООО Ромашка", "inn": "7707083893", "kpp": "773601001", "clientId": mine.subscriber_id }),
        )
        .await;
    assert_eq!((c["inn"].as_str(), c["kpp"].as_str()), (Some("7707083893"), Some("773601001")));
    assert_eq!(c["client"]["name"], "Мой клиент");

    // Another partner's client is NOT_FOUND, like an id that does not exist; so is a partner.
    for id in [theirs.subscriber_id.clone(), other.subscriber_id.clone(), uuid::Uuid::now_v7().to_string()] {
        app.upsert_company(&p, json!({ "id": c["id"], "clientId": id })).await.err("NOT_FOUND");
    }
    let c = app.company(&p, json!({ "id": c["id"], "clientId": null, "kpp": null })).await;
    assert!(c["client"].is_null() && c["kpp"].is_null());
    assert_eq!(c["inn"], "7707083893");
}

#[tokio::test]
async fn text_fields_refuse_control_characters_and_are_bounded() {
    let app = spawn_app().await;
    let p = app.partner("Partner").await;
    for (input, field) in [
        (json!({ "name": "a\nb" }), "name"),
        (json!({ "name": "x".repeat(256) }), "name"),
        (json!({ "name": "X", "email": "not an email" }), "email"),
        (json!({ "name": "X", "comment": "bad \u{7}" }), "comment"),
        (json!({ "name": "X", "comment": "я".repeat(5001) }), "comment"),
    ] {
        let r = app.upsert_contact(&p, input.clone()).await;
        assert_eq!((r.code(), r.field()), (Some("BAD_USER_INPUT"), Some(field)), "{input}: {}", r.0);
    }
    assert_eq!(app.count("crm_contacts").await, 0);
    let c =
        app.contact(&p, json!({ "name": "  Ёжик\tв тумане ".replace('\t', " "), "comment": "я".repeat(5000) })).await;
    assert_eq!(c["name"], "Ёжик в тумане");
}

#[tokio::test]
async fn search_folds_case_for_cyrillic_and_latin_and_reads_yo_as_ye() {
    let app = spawn_app().await;
    let p = app.partner("Partner").await;
    for (name, email) in [
        ("Пётр Ёлкин", "petr@example.ru"),
        ("ПЕТРОВ Сергей", "sergey@example.ru"),
        ("Anna Schmidt", "ANNA@Example.com"),
        ("100% скидка_", "x@example.ru"),
    ] {
        app.contact(&p, json!({ "name": name, "email": email })).await;
    }
    let search = |s: &'static str| search_contacts(&app, &p, s);
    assert_eq!(search("ёлк").await, ["Пётр Ёлкин"]);
    assert_eq!(search("ЕЛКИН").await, ["Пётр Ёлкин"]);
    assert_eq!(search("петр").await, ["ПЕТРОВ Сергей", "Пётр Ёлкин"]);
    assert_eq!(search("ПЁТР").await, ["ПЕТРОВ Сергей", "Пётр Ёлкин"]);
    assert_eq!(search("schMIDT").await, ["Anna Schmidt"]);
    assert_eq!(search("anna@example").await, ["Anna Schmidt"]);
    assert_eq!(search("SERGEY@").await, ["ПЕТРОВ Сергей"]);
    assert_eq!(search("%").await, ["100% скидка_"]);
    assert_eq!(search("_").await, ["100% скидка_"]);
    assert_eq!(search("a_n").await, Vec::<String>::new());
    assert_eq!(search("  ").await.len(), 4, "a blank search is no filter");
    let q = "query($s: String) { contacts(search: $s) { nodes { name } } }";
    let r = app.as_(&p.token, q, json!({ "s": "ёлкин\npetr" })).await;
    assert_eq!((r.code(), r.field()), (Some("BAD_USER_INPUT"), Some("search")));
    let r = app.as_(&p.token, q, json!({ "s": "a\u{0}" })).await;
    assert_eq!((r.code(), r.reason()), (Some("BAD_USER_INPUT"), Some("NUL_CHARACTER")));

    app.company(&p, json!({ "name": "ООО «Ёлочка»", "inn": inn(1) })).await;
    app.company(&p, json!({ "name": "ИП Иванов", "inn": "500100732259" })).await;
    let q = "query($s: String) { companies(search: $s) { nodes { name } } }";
    let r = app.as_(&p.token, q, json!({ "s": "ЕЛОЧ" })).await;
    assert_eq!(names(&r.ok()["companies"]["nodes"]), ["ООО «Ёлочка»"]);
    let r = app.as_(&p.token, q, json!({ "s": "0073225" })).await;
    assert_eq!(names(&r.ok()["companies"]["nodes"]), ["ИП Иванов"]);
}

#[tokio::test]
async fn deleting_a_row_removes_its_links_and_never_the_linked_rows() {
    let app = spawn_app().await;
    let p = app.partner("Partner").await;
    let a = app.contact(&p, json!({ "externalId": "a", "name": "A" })).await;
    app.contact(&p, json!({ "externalId": "b", "name": "B" })).await;
    let co = app.company(&p, json!({ "externalId": "co", "name": "Co", "contactExternalIds": ["a", "b"] })).await;
    let d = app.deal(&p, json!({ "title": "D", "companyExternalId": "co" })).await;
    assert_eq!(names(&d["contacts"]), ["A", "B"]);

    let q = "mutation($id: ID!) { deleteCompany(id: $id) }";
    assert_eq!(app.as_(&p.token, q, json!({ "id": co["id"] })).await.ok()["deleteCompany"], co["id"]);
    let read = "query($id: ID!) { deal(id: $id) { company { id } contacts { name } } }";
    let r = app.as_(&p.token, read, json!({ "id": d["id"] })).await;
    assert!(r.ok()["deal"]["company"].is_null());
    assert_eq!(names(&r.ok()["deal"]["contacts"]), ["A", "B"], "the deal's contacts stay");
    assert_eq!(app.count("crm_contacts").await, 2);
    assert_eq!(app.count("crm_contact_companies").await, 0);

    let q = "mutation($id: ID!) { deleteContact(id: $id) }";
    app.as_(&p.token, q, json!({ "id": a["id"] })).await.ok();
    let r = app.as_(&p.token, read, json!({ "id": d["id"] })).await;
    assert_eq!(names(&r.ok()["deal"]["contacts"]), ["B"]);
    let q = "mutation($id: ID!) { deleteDeal(id: $id) }";
    app.as_(&p.token, q, json!({ "id": d["id"] })).await.ok();
    assert_eq!((app.count("crm_deals").await, app.count("crm_contacts").await), (0, 1));
    assert_eq!(app.count("crm_deal_contacts").await, 0);
    // Gone is gone: the same answer as an id that never existed.
    app.as_(&p.token, read, json!({ "id": d["id"] })).await.err("NOT_FOUND");
    app.as_(&p.token, q, json!({ "id": d["id"] })).await.err("NOT_FOUND");
}

#[tokio::test]
async fn company_protection_is_the_callers_own_latest_stop_list_entry() {
    let app = spawn_app().await;
    let p = app.partner("Partner").await;
    let other = app.partner("Other").await;
    let locked = inn(7);
    let entry = app.lock(&p, &locked).await;
    let mine = app.company(&p, json!({ "name": "Locked", "inn": locked })).await;
    assert_eq!(mine["protection"]["id"], entry.as_str());
    assert_eq!(mine["protection"]["status"], "APPROVED");
    // Another partner's company with the same INN does not show p's entry.
    let theirs = app.company(&other, json!({ "name": "Same INN", "inn": locked })).await;
    assert!(theirs["protection"].is_null());
    // Its own later request (refused: p holds the lock) leaves nothing, so still null.
    let r = app
        .as_(&other.token, "mutation($i: String!) { requestStopListLock(inn: $i) { id } }", json!({ "i": locked }))
        .await;
    r.err("CONFLICT");
    assert!(app.company(&other, json!({ "id": theirs["id"] })).await["protection"].is_null());
    // No INN, no entry: null.
    assert!(app.company(&p, json!({ "name": "No INN" })).await["protection"].is_null());
    assert!(app.company(&p, json!({ "name": "Free", "inn": inn(8) })).await["protection"].is_null());
    // The latest entry wins: a request the vendor rejected, then a new one.
    let newer = inn(9);
    let req = "mutation($i: String!) { requestStopListLock(inn: $i) { id } }";
    let first = app.as_(&p.token, req, json!({ "i": newer })).await.ok()["requestStopListLock"]["id"].clone();
    let reject = "mutation($id: ID!) { decideStopListLock(id: $id, approve: false, reason: \"no\") { status } }";
    app.as_(&app.vendor, reject, json!({ "id": first })).await.ok();
    let second = app.as_(&p.token, req, json!({ "i": newer })).await.ok()["requestStopListLock"]["id"].clone();
    let c = app.company(&p, json!({ "id": mine["id"], "inn": newer })).await;
    assert_eq!(c["protection"]["id"], second);
    assert_eq!(c["protection"]["status"], "REQUESTED");

    // The vendor reading p's book sees p's entry.
    let q =
        "query($b: ID) { companies(bookId: $b, search: \"Locked\") { nodes { protection { id partner { id } } } } }";
    let r = app.as_(&app.vendor, q, json!({ "b": p.subscriber_id })).await;
    assert_eq!(r.ok()["companies"]["nodes"][0]["protection"]["id"], second);
    assert_eq!(r.ok()["companies"]["nodes"][0]["protection"]["partner"]["id"], p.subscriber_id.as_str());
}

#[tokio::test]
async fn a_later_mutation_of_one_request_reads_relations_afresh() {
    let app = spawn_app().await;
    let p = app.partner("Partner").await;
    let q = "mutation {
      a: upsertCompany(input: {externalId: \"co\", name: \"Co\"}) { company { contacts { name } } }
      b: upsertContact(input: {externalId: \"c\", name: \"C\", companyExternalIds: [\"co\"]}) { contact { companies { contacts { name } } } }
    }";
    let r = app.as_(&p.token, q, json!({})).await;
    assert_eq!(names(&r.ok()["a"]["company"]["contacts"]), Vec::<String>::new());
    assert_eq!(names(&r.ok()["b"]["contact"]["companies"][0]["contacts"]), ["C"]);
}

#[tokio::test]
async fn the_readme_worked_example_runs_as_documented() {
    let app = spawn_app().await;
    let p = app.partner("Partner").await;
    let load = r#"mutation {
      upsertCompanies(inputs: [
        {externalId: "co-17", name: "ООО Ромашка", inn: "7707083893", kpp: "773601001"}
        {externalId: "co-18", name: "ИП Ёлкин"}
      ]) { created company { id externalId } }
      upsertContacts(inputs: [
        {externalId: "p-1", name: "Пётр Ёлкин", email: "petr@romashka.ru", companyExternalIds: ["co-17", "co-18"]}
        {externalId: "p-2", name: "Анна Смирнова", position: "Главбух", companyExternalIds: ["co-17"]}
      ]) { created contact { id } }
      upsertDeals(inputs: [
        {externalId: "d-5", title: "Внедрение 1С:Фреш", amount: "150000.00", companyExternalId: "co-17"}
      ]) { created deal { id stage contacts { name } } }
    }"#;
    let r = app.as_(&p.token, load, json!({})).await;
    let deal = &r.ok()["upsertDeals"][0];
    assert_eq!((deal["created"].as_bool(), deal["deal"]["stage"].as_str()), (Some(true), Some("NEW")));
    assert_eq!(names(&deal["deal"]["contacts"]), ["Анна Смирнова", "Пётр Ёлкин"]);

    app.lock(&p, "7707083893").await;
    let won = r#"mutation {
      upsertDeal(input: {externalId: "d-5", stage: WON, contactExternalIds: ["p-1"]}) {
        created deal { stage closedAt contacts { name } company { name protection { status expiresAt } } }
      }
    }"#;
    let r = app.as_(&p.token, won, json!({})).await;
    let u = &r.ok()["upsertDeal"];
    assert_eq!(u["created"], false);
    assert!(!u["deal"]["closedAt"].is_null());
    assert_eq!(names(&u["deal"]["contacts"]), ["Пётр Ёлкин"]);
    assert_eq!(u["deal"]["company"]["protection"]["status"], "APPROVED");

    let pull = r#"query($since: DateTime!, $after: String) {
      deals(updatedSince: $since, first: 100, after: $after) {
        pageInfo { hasNextPage endCursor }
        nodes { id externalId title stage amount updatedAt company { externalId } contacts { externalId } }
      }
      contacts(search: "ёлкин") { nodes { externalId name companies { name } } }
    }"#;
    let r = app.as_(&p.token, pull, json!({ "since": "2020-01-01T00:00:00Z" })).await;
    assert_eq!(r.ok()["deals"]["nodes"][0]["amount"], "150000.00");
    assert_eq!(r.ok()["contacts"]["nodes"][0]["externalId"], "p-1");

    let bad =
        r#"mutation { upsertDeals(inputs: [{title: "ok"}, {title: "X", contactExternalIds: ["p-9"]}]) { created } }"#;
    let r = app.as_(&p.token, bad, json!({})).await;
    let e = &r.0["errors"][0];
    assert_eq!(e["message"], "inputs[1]: contactExternalIds: no contact with external id \"p-9\" in this book");
    assert_eq!(
        e["extensions"],
        json!({ "code": "BAD_USER_INPUT", "reason": "UNKNOWN_EXTERNAL_ID", "field": "contactExternalIds", "index": 1 })
    );
    assert!(r.0["data"].is_null());
}
