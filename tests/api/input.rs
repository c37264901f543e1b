//! Bad input: each refusal is `BAD_USER_INPUT` with a `reason` and the `field`, and nothing is written.

use serde_json::json;

use crate::helpers::{PASSWORD, spawn_app};

const REGISTER: &str = "mutation($i: RegisterClientInput!) { registerClient(input: $i) { subscriber { id } } }";

#[tokio::test]
async fn invalid_register_client_input_is_refused_with_reason_and_field_and_writes_nothing() {
    let app = spawn_app().await;
    let partner = app.partner("Partner").await;
    let long = "я".repeat(201);
    let cases = [
        (json!({ "name": "Ромашка", "inn": "7707083894", "ownerEmail": "o@example.ru" }), "INVALID_INN", "inn"),
        (json!({ "name": "Ромашка", "inn": "77070838", "ownerEmail": "o@example.ru" }), "INVALID_INN", "inn"),
        (
            json!({ "name": "Ромашка", "inn": "7707083893", "kpp": "12345", "ownerEmail": "o@example.ru" }),
            "INVALID_KPP",
            "kpp",
        ),
        (json!({ "name": "   ", "ownerEmail": "o@example.ru" }), "EMPTY", "name"),
        (json!({ "name": long, "ownerEmail": "o@example.ru" }), "TOO_LONG", "name"),
        (json!({ "name": "Ромашка", "ownerEmail": "not-an-email" }), "INVALID_EMAIL", "ownerEmail"),
        (json!({ "name": "Ромашка", "email": "a@b", "ownerEmail": "o@example.ru" }), "INVALID_EMAIL", "email"),
        (json!({ "name": "Ромашка", "phone": "1".repeat(501), "ownerEmail": "o@example.ru" }), "TOO_LONG", "phone"),
    ];
    let (subs, invs, changes) =
        (app.count("subscribers").await, app.count("invitations").await, app.count("binding_changes").await);
    for (input, reason, field) in cases {
        let r = app.as_(&partner.token, REGISTER, json!({ "i": input })).await;
        r.err("BAD_USER_INPUT").reason_is(reason);
        assert_eq!(r.field(), Some(field), "{}", r.0);
    }
    assert_eq!(app.count("subscribers").await, subs);
    assert_eq!(app.count("invitations").await, invs);
    assert_eq!(app.count("binding_changes").await, changes);
    // The control: the same input with the mistakes fixed is accepted.
    let ok = json!({ "name": "Ромашка", "inn": "7707083893", "kpp": "773601001", "ownerEmail": "o@example.ru" });
    app.as_(&partner.token, REGISTER, json!({ "i": ok })).await.ok();
    assert_eq!(app.count("subscribers").await, subs + 1);
}

#[tokio::test]
async fn the_same_inn_and_kpp_cannot_be_registered_twice() {
    let app = spawn_app().await;
    let a = app.partner("A").await;
    let b = app.partner("B").await;
    let input = json!({ "name": "Ромашка", "inn": "7707083893", "ownerEmail": "o1@example.ru" });
    app.as_(&a.token, REGISTER, json!({ "i": input })).await.ok();
    let again = json!({ "name": "Ромашка 2", "inn": "7707083893", "ownerEmail": "o2@example.ru" });
    let r = app.as_(&b.token, REGISTER, json!({ "i": again })).await;
    r.err("CONFLICT").reason_is("INN_TAKEN");
    assert!(!r.0.to_string().contains(&a.subscriber_id), "must not name the holder");
    // Another branch (another KPP) of the same company is fine.
    let branch =
        json!({ "name": "Ромашка, филиал", "inn": "7707083893", "kpp": "773601001", "ownerEmail": "o3@example.ru" });
    app.as_(&b.token, REGISTER, json!({ "i": branch })).await.ok();
}

#[tokio::test]
async fn self_registration_checks_every_field_and_writes_nothing_on_refusal() {
    let app = spawn_app().await;
    const SELF: &str = "mutation($i: SelfRegisterInput!) { selfRegister(input: $i) { token viewer { role subscriber { kind servingPartner { id } bindingSource } } } }";
    let good = json!({ "companyName": "ООО Лютик", "inn": "7707083893", "email": "boss@lutik.ru", "name": "Иван", "password": PASSWORD });
    let mut cases = Vec::new();
    for (field, value, reason) in [
        ("companyName", json!(""), "EMPTY"),
        ("inn", json!("1234567890"), "INVALID_INN"),
        ("email", json!("boss@"), "INVALID_EMAIL"),
        ("name", json!("x".repeat(300)), "TOO_LONG"),
        ("password", json!("1234567"), "PASSWORD_TOO_SHORT"),
        ("referralCode", json!("NOSUCHCODE"), "REFERRAL_UNKNOWN"),
    ] {
        let mut input = good.clone();
        input[field] = value;
        cases.push((input, reason, field));
    }
    let (subs, users) = (app.count("subscribers").await, app.count("users").await);
    for (input, reason, field) in cases {
        let r = app.gql(None, SELF, json!({ "i": input })).await;
        r.err("BAD_USER_INPUT").reason_is(reason);
        assert_eq!(r.field(), Some(field));
    }
    assert_eq!((app.count("subscribers").await, app.count("users").await), (subs, users));
    let r = app.gql(None, SELF, json!({ "i": good })).await;
    let v = &r.ok()["selfRegister"]["viewer"];
    assert_eq!(v["role"], "OWNER");
    assert_eq!(v["subscriber"]["kind"], "CLIENT");
    assert!(v["subscriber"]["servingPartner"].is_null(), "without a referral code the client stays unbound");
    // The same e-mail again is a conflict on the e-mail.
    let mut again = good.clone();
    again["inn"] = json!(null);
    let r = app.gql(None, SELF, json!({ "i": again })).await;
    r.err("CONFLICT").reason_is("EMAIL_TAKEN");
    assert_eq!(r.field(), Some("email"));
}

#[tokio::test]
async fn card_patches_keep_omitted_fields_clear_nulls_and_refuse_bad_values() {
    let app = spawn_app().await;
    let partner = app.partner("Partner").await;
    const UPDATE: &str = "mutation($id: ID!, $i: SubscriberCardInput!) { updateSubscriber(id: $id, input: $i) { name inn kpp email phone address contactPerson } }";
    let id = partner.subscriber_id.clone();
    let r = app
        .as_(
            &partner.token,
            UPDATE,
            json!({ "id": id, "i": { "inn": "7707083893", "phone": "+7 1", "address": "Москва" } }),
        )
        .await;
    assert_eq!(r.ok()["updateSubscriber"]["inn"], "7707083893");
    let r = app.as_(&partner.token, UPDATE, json!({ "id": id, "i": { "phone": null, "contactPerson": "Пётр" } })).await;
    let s = &r.ok()["updateSubscriber"];
    assert_eq!(s["name"], "Partner");
    assert_eq!(s["inn"], "7707083893");
    assert!(s["phone"].is_null());
    assert_eq!(s["address"], "Москва");
    assert_eq!(s["contactPerson"], "Пётр");
    for (i, reason, field) in [
        (json!({ "name": null }), "EMPTY", "name"),
        (json!({ "inn": "123" }), "INVALID_INN", "inn"),
        (json!({ "kpp": "ABC" }), "INVALID_KPP", "kpp"),
        (json!({ "email": "nope" }), "INVALID_EMAIL", "email"),
        (json!({ "address": "a".repeat(501) }), "TOO_LONG", "address"),
    ] {
        let r = app.as_(&partner.token, UPDATE, json!({ "id": id, "i": i })).await;
        r.err("BAD_USER_INPUT").reason_is(reason);
        assert_eq!(r.field(), Some(field));
    }
    let r = app
        .as_(&partner.token, "query($id: ID!) { subscriber(id: $id) { name inn address } }", json!({ "id": id }))
        .await;
    assert_eq!(r.ok()["subscriber"], json!({ "name": "Partner", "inn": "7707083893", "address": "Москва" }));
}

#[tokio::test]
async fn page_sizes_and_cursors_are_checked() {
    let app = spawn_app().await;
    for first in [-1, 101] {
        let r = app
            .as_(&app.vendor, "query($f: Int) { subscribers(first: $f) { totalCount } }", json!({ "f": first }))
            .await;
        r.err("BAD_USER_INPUT").reason_is("OUT_OF_RANGE");
        assert_eq!(r.field(), Some("first"));
    }
    app.as_(&app.vendor, "{ subscribers(after: \"garbage!\") { totalCount } }", json!({}))
        .await
        .err("BAD_USER_INPUT")
        .reason_is("INVALID_CURSOR");
    app.as_(&app.vendor, "{ subscribers(first: \"ten\") { totalCount } }", json!({}))
        .await
        .err("GRAPHQL_VALIDATION_FAILED");
}

#[tokio::test]
async fn pages_walk_every_row_once_in_order() {
    let app = spawn_app().await;
    let partner = app.partner("Partner").await;
    for i in 0..7 {
        app.as_(
            &partner.token,
            REGISTER,
            json!({ "i": { "name": format!("Client {i}"), "ownerEmail": format!("c{i}@example.ru") } }),
        )
        .await
        .ok();
    }
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let r = app
            .as_(&partner.token, "query($a: String) { subscribers(kind: CLIENT, first: 3, after: $a) { totalCount pageInfo { hasNextPage endCursor } edges { cursor node { name } } nodes { name } } }", json!({ "a": after }))
            .await;
        let c = r.ok()["subscribers"].clone();
        assert_eq!(c["totalCount"], 7);
        assert_eq!(c["edges"].as_array().unwrap().len(), c["nodes"].as_array().unwrap().len());
        seen.extend(c["nodes"].as_array().unwrap().iter().map(|n| n["name"].as_str().unwrap().to_owned()));
        if !c["pageInfo"]["hasNextPage"].as_bool().unwrap() {
            break;
        }
        after = Some(c["pageInfo"]["endCursor"].as_str().unwrap().to_owned());
    }
    let expected: Vec<String> = (0..7).map(|i| format!("Client {i}")).collect();
    assert_eq!(seen, expected);
}
