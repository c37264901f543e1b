//! The compiled read path (`graphql::compiled`) answers exactly what the general path answers: the same
//! query is sent as written (compiled) and with its root selection moved into a fragment (which the
//! planner refuses, so async-graphql resolves it), by every kind of caller, and the two bodies must be
//! byte for byte the same. `/metrics` counts the compiled answers, so each case also proves which path
//! answered.

use std::sync::atomic::Ordering;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};

use crate::assign::self_registered;
use crate::helpers::*;

/// Every scalar the compiled path serves of a subscriber, a subscription and a tariff.
const CARD: &str =
    "__typename id kind name inn kpp email phone address contactPerson createdAt updatedAt bindingSource";
const SUBSCRIPTION: &str = "__typename id status basis startsAt endsAt cancelledAt churnReason churnComment tariff { __typename id code name category monthlyPrice periods maxDatabases maxUsers maxSessions trialDays partnerOnly archived }";

/// The answers the compiled path gave so far.
async fn compiled_count(app: &TestApp) -> u64 {
    let raw = app.raw(Request::get("/metrics").body(Body::empty()).unwrap()).await;
    raw.body
        .lines()
        .find_map(|l| l.strip_prefix("partnergraph_graphql_compiled_total "))
        .map_or(0, |n| n.trim().parse().expect("a count"))
}

async fn post(app: &TestApp, token: Option<&str>, query: &str) -> (StatusCode, String, String) {
    let mut req = Request::post("/graphql").header("content-type", "application/json");
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let raw = app.raw(req.body(Body::from(json!({ "query": query }).to_string())).unwrap()).await;
    let media = raw.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    (raw.status, media, raw.body)
}

/// `head body` sent as written and as `head { ...Cmp } fragment Cmp on QueryRoot body`: the same bytes,
/// the first compiled (twice: the second from the kept plan), the second not. Returns the answer.
async fn same_both_ways(app: &TestApp, token: Option<&str>, head: &str, body: &str) -> Value {
    let plain = format!("{head} {body}");
    let general = format!("{head} {{ ...Cmp }} fragment Cmp on QueryRoot {body}");
    let before = compiled_count(app).await;
    let first = post(app, token, &plain).await;
    let again = post(app, token, &plain).await;
    let compiled = compiled_count(app).await;
    let reference = post(app, token, &general).await;
    let after = compiled_count(app).await;
    assert_eq!(compiled - before, 2, "both plain requests compiled: {plain}\n{}", first.2);
    assert_eq!(after, compiled, "the fragment's request went the general way");
    assert_eq!(first, reference, "compiled and general answers differ for {plain}");
    assert_eq!(again, reference, "the kept plan answers differently for {plain}");
    let v: Value = serde_json::from_str(&first.2).expect("JSON");
    assert!(v.get("errors").is_none(), "no errors: {v}");
    v
}

#[tokio::test]
async fn every_caller_gets_the_same_bytes_from_the_compiled_path_as_from_the_general_one() {
    let app = spawn_app().await;
    app.presets().await;
    let tariff = app.tariff("FRESH", "1C-FRESH", "ITSAAS", "1234.56", &[1, 3, 12], 14).await;
    let second = app.tariff("FRESH-2", "1C-FRESH", "ITSAAS", "10.00", &[12], 30).await;
    let p = app.partner("ООО «Партнёр» \"Север\"").await;
    let q = app.partner("Другой партнёр").await;
    let card = "mutation($id: ID!, $i: SubscriberCardInput!) { updateSubscriber(id: $id, input: $i) { id } }";
    app.as_(&app.vendor, card, json!({ "id": p.subscriber_id, "i": { "inn": "7707083893", "kpp": "773601001", "email": "partner@example.ru", "phone": "+7 495 000-00-01", "address": "Москва, ул. Ленина, 1 «офис» \"Б\" </script>", "contactPerson": "Пётр Ёлкин" } }))
        .await
        .ok();
    let c1 = app.client_of(&p, "Клиент один").await;
    app.as_(&p.token, card, json!({ "id": c1.subscriber_id, "i": { "inn": "500100732259", "email": "c1@example.ru", "phone": "+7 495 000-00-02", "address": "Тверь", "contactPerson": "Анна \\ Мария" } }))
        .await
        .ok();
    let c2 = app.client_of(&p, "Client two").await;
    let c3 = app.client_of(&q, "Клиент другого").await;
    let (unbound_token, _) = self_registered(&app, "Сам по себе", None).await;
    let trial = "mutation($s: ID!, $t: ID!) { startTrial(subscriberId: $s, tariffId: $t) { id } }";
    let cancel = "mutation($id: ID!) { cancelSubscription(id: $id, reason: PRICE, comment: \"дорого\") { id } }";
    for (who, client) in [(&p, &c1), (&p, &c2), (&q, &c3)] {
        let r = app.as_(&who.token, trial, json!({ "s": client.subscriber_id, "t": tariff })).await;
        if client.subscriber_id == c1.subscriber_id {
            let id = r.ok()["startTrial"]["id"].as_str().unwrap().to_owned();
            app.as_(&who.token, cancel, json!({ "id": id })).await.ok();
            app.as_(&who.token, trial, json!({ "s": client.subscriber_id, "t": second })).await.ok();
        }
    }
    let p_user = app.member(&p.token, &p.subscriber_id, "USER").await;
    let p_operator = app.member(&p.token, &p.subscriber_id, "SERVICE_OPERATOR").await;
    let p_key = app.api_key(&p, "SERVICE_OPERATOR").await.as_account.token;

    let nested = format!(
        "{{ subscribers(kind: CLIENT, first: 10) {{ nodes {{ {CARD} servingPartner {{ {CARD} }} subscriptions {{ {SUBSCRIPTION} }} }} }} }}"
    );
    let shapes: Vec<(&str, String)> = vec![
        ("", nested.clone()),
        ("query Everything", format!("{{ __typename me {{ __typename id role }} all: subscribers {{ __typename totalCount pageInfo {{ __typename hasNextPage hasPreviousPage startCursor endCursor }} nodes {{ {CARD} }} }} }}")),
        ("", "{ partners: subscribers(kind: PARTNER, search: \"ПАРТНЁР\") { totalCount nodes { name email phone } } }".to_owned()),
        ("", "{ subscribers(first: 1, kind: null, after: null) { pageInfo { hasNextPage endCursor } nodes { n: name i: id } } }".to_owned()),
        ("", "{ subscribers(updatedSince: \"2020-01-01T00:00:00Z\", first: 0) { totalCount pageInfo { hasNextPage startCursor } nodes { id } } }".to_owned()),
        ("", "{ me { role id } }".to_owned()),
    ];
    let callers: Vec<(&str, &str)> = vec![
        ("vendor", app.vendor.as_str()),
        ("partner owner", p.token.as_str()),
        ("partner user", p_user.token.as_str()),
        ("partner operator", p_operator.token.as_str()),
        ("partner's API key", p_key.as_str()),
        ("other partner", q.token.as_str()),
        ("client", c1.token.as_str()),
        ("unbound client", unbound_token.as_str()),
    ];
    for (who, token) in &callers {
        for (head, body) in &shapes {
            let v = same_both_ways(&app, Some(token), head, body).await;
            assert!(v["data"].as_object().is_some_and(|d| !d.is_empty()), "{who}: {v}");
        }
        // The next page, after the first page's cursor.
        let first = same_both_ways(&app, Some(token), "", "{ subscribers(first: 1) { pageInfo { endCursor } } }").await;
        if let Some(cursor) = first["data"]["subscribers"]["pageInfo"]["endCursor"].as_str() {
            let next = format!(
                "{{ subscribers(first: 2, after: \"{cursor}\") {{ pageInfo {{ hasPreviousPage }} nodes {{ id name }} }} }}"
            );
            same_both_ways(&app, Some(token), "", &next).await;
        }
    }

    // And the answers are the rows written, seen as each caller may see them.
    let by = |v: &Value, name: &str| -> Value {
        v["data"]["subscribers"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["name"] == name)
            .cloned()
            .unwrap_or(Value::Null)
    };
    let vendor = same_both_ways(&app, Some(&app.vendor), "", &nested).await;
    let one = by(&vendor, "Клиент один");
    assert_eq!(one["servingPartner"]["kpp"], "773601001");
    assert_eq!(one["servingPartner"]["address"], "Москва, ул. Ленина, 1 «офис» \"Б\" </script>");
    assert_eq!(one["contactPerson"], "Анна \\ Мария");
    assert_eq!(one["subscriptions"].as_array().map(Vec::len), Some(2));
    assert_eq!(one["subscriptions"][0]["churnReason"], "PRICE");
    assert_eq!(one["subscriptions"][0]["status"], "CANCELLED");
    assert_eq!(one["subscriptions"][0]["tariff"]["monthlyPrice"], "1234.56");
    assert_eq!(one["subscriptions"][0]["tariff"]["periods"], json!([1, 3, 12]));
    assert_eq!(one["subscriptions"][1]["status"], "TRIAL");
    assert_eq!(one["subscriptions"][1]["tariff"]["periods"], json!([12]));
    assert_eq!(by(&vendor, "Сам по себе")["servingPartner"], Value::Null);
    let other = same_both_ways(&app, Some(&q.token), "", &nested).await;
    let names: Vec<&str> =
        other["data"]["subscribers"]["nodes"].as_array().unwrap().iter().filter_map(|n| n["name"].as_str()).collect();
    assert_eq!(names, vec!["Клиент другого"], "a partner sees its own clients only");
    let client = same_both_ways(&app, Some(&c1.token), "", &nested).await;
    let own = by(&client, "Клиент один");
    assert_eq!(own["servingPartner"]["email"], "partner@example.ru", "a client sees its partner's contacts");
    assert_eq!(own["servingPartner"]["inn"], Value::Null, "but not its card");
}

#[tokio::test]
async fn what_would_fail_goes_the_general_way_and_fails_as_before() {
    let app = spawn_app().await;
    let p = app.partner("Partner").await;
    app.client_of(&p, "Client").await;
    let pt = Some(p.token.as_str());
    let nodes = format!("nodes {{ {CARD} servingPartner {{ {CARD} }} subscriptions {{ {SUBSCRIPTION} }} }}");
    // 100 × (two aliased copies of the whole node) is far over the complexity limit of 5,000.
    let costly = format!("{{ subscribers(first: 100) {{ a: {nodes} b: {nodes} }} }}");
    let before = compiled_count(&app).await;
    for (token, query, code) in [
        (None, "{ subscribers { nodes { id } } }", "UNAUTHENTICATED"),
        (None, "{ me { role } }", "UNAUTHENTICATED"),
        (pt, "{ subscribers(after: \"not a cursor\") { nodes { id } } }", "BAD_USER_INPUT"),
        (pt, "{ subscribers(first: 101) { nodes { id } } }", "BAD_USER_INPUT"),
        (pt, "{ subscribers(first: -1) { nodes { id } } }", "BAD_USER_INPUT"),
        (pt, "{ subscribers(search: \"x\", first: 100) { nodes { id } } }", ""),
        (pt, &costly, "MAX_COMPLEXITY_LIMIT"),
    ] {
        let (status, _, body) = post(&app, token, query).await;
        let v: Value = serde_json::from_str(&body).unwrap();
        if code.is_empty() {
            assert!(v.get("errors").is_none(), "{query}: {v}");
            continue;
        }
        assert_eq!(status, StatusCode::OK, "{query}");
        assert_eq!(v["errors"][0]["extensions"]["code"], code, "{query}: {v}");
        assert!(v["data"].is_null() || v["data"]["subscribers"].is_null(), "{query}: {v}");
        let general = post(&app, token, &format!("{{ ...Cmp }} fragment Cmp on QueryRoot {query}")).await;
        let g: Value = serde_json::from_str(&general.2).unwrap();
        assert_eq!(g["errors"][0]["extensions"]["code"], code, "the general path agrees: {g}");
    }
    // Only the request without errors was compiled.
    assert_eq!(compiled_count(&app).await - before, 1);
}

#[tokio::test]
async fn a_removed_member_is_refused_though_its_query_was_compiled() {
    let app = spawn_app().await;
    let p = app.partner("Partner").await;
    let admin = app.member(&p.token, &p.subscriber_id, "ADMIN").await;
    let (status, _, body) = post(&app, Some(&admin.token), "{ me { role } }").await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, r#"{"data":{"me":{"role":"ADMIN"}}}"#));
    app.as_(&p.token, "mutation($m: ID!) { removeMember(membershipId: $m) }", json!({ "m": admin.membership_id }))
        .await
        .ok();
    let (status, _, body) = post(&app, Some(&admin.token), "{ me { role } }").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    // Another tenant's compiled plan (same text) answers for its own caller only.
    let (_, _, body) = post(&app, Some(&p.token), "{ me { role } }").await;
    assert_eq!(body, r#"{"data":{"me":{"role":"OWNER"}}}"#);
}

#[tokio::test]
async fn a_compiled_page_is_one_statement_whatever_its_size_and_answers_get_and_the_newer_media_type() {
    let (app, statements) = spawn_app_counting().await;
    use entity::enums::SubscriberKind;
    let partners = seed_subscribers(&app, 5, SubscriberKind::Partner, |_| None, None, "партнёр").await;
    seed_subscribers(&app, 120, SubscriberKind::Client, |i| Some(partners[i % 5]), None, "клиент").await;
    let mut counts = Vec::new();
    for n in [10, 100] {
        let query = format!(
            "{{ subscribers(kind: CLIENT, first: {n}) {{ nodes {{ id name servingPartner {{ name }} subscriptions {{ status tariff {{ name }} }} }} }} }}"
        );
        post(&app, Some(&app.vendor), &query).await; // compiles and keeps the plan
        let before_compiled = compiled_count(&app).await;
        let before = statements.load(Ordering::Relaxed);
        let (status, _, body) = post(&app, Some(&app.vendor), &query).await;
        counts.push(statements.load(Ordering::Relaxed) - before);
        assert_eq!(status, StatusCode::OK);
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["data"]["subscribers"]["nodes"].as_array().map(Vec::len), Some(n));
        assert_eq!(compiled_count(&app).await, before_compiled + 1);
    }
    // What authentication alone costs (the membership check: the tests keep no authentication cache).
    let before = statements.load(Ordering::Relaxed);
    post(&app, Some(&app.vendor), "{ me { role } }").await;
    let auth = statements.load(Ordering::Relaxed) - before;
    assert_eq!(counts[0], counts[1], "statements for 10 rows vs 100 rows: {counts:?}");
    assert_eq!(counts[1] - auth, 1, "the page with its relations in one statement: {counts:?}, {auth} to authenticate");

    let query = "{ me { role } }";
    let get = app
        .raw(
            Request::get(format!("/graphql?query={}", urlencode(query)))
                .header("authorization", format!("Bearer {}", app.vendor))
                .header("accept", "application/graphql-response+json")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(get.status, StatusCode::OK);
    assert_eq!(get.headers["content-type"], "application/graphql-response+json");
    assert_eq!(get.body, r#"{"data":{"me":{"role":"OWNER"}}}"#);
}
