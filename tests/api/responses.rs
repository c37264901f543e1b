//! Responses real clients accept: a failed field is null, and a failed non-null field nulls its nearest
//! nullable ancestor (GraphQL spec, "Handling Field Errors") — not a missing key, which Apollo Client
//! reads as "Missing field" and caches wrongly. async-graphql 7.2.1 left the key out; the vendored
//! copy (vendor/async-graphql/PATCH.md) propagates.

use serde_json::{Value, json};

use crate::helpers::spawn_app;

fn error_paths(v: &Value) -> Vec<Value> {
    v["errors"].as_array().map(|e| e.iter().map(|e| e["path"].clone()).collect()).unwrap_or_default()
}

#[tokio::test]
async fn a_failed_non_null_root_field_makes_data_null() {
    let app = spawn_app().await;
    let p = app.partner("Partner").await;
    // `notifications` is the vendor's (`NotificationConnection!`): the whole `data` is null, `me` included.
    let r = app.as_(&p.token, "{ me { role } notifications { totalCount } }", json!({})).await;
    assert_eq!(r.0["data"], Value::Null, "{}", r.0);
    r.err("FORBIDDEN");
    assert_eq!(error_paths(&r.0), vec![json!(["notifications"])]);
}

#[tokio::test]
async fn a_failed_nullable_root_field_is_null_and_the_others_stay() {
    let app = spawn_app().await;
    let p = app.partner("Partner").await;
    let r = app.as_(&p.token, "{ leadPool(programCode: \"NO-SUCH-PROGRAM\") { id } me { role } }", json!({})).await;
    let data = r.0["data"].as_object().expect("data stays");
    assert_eq!(data.get("leadPool"), Some(&Value::Null), "the key is there, null: {}", r.0);
    assert_eq!(r.0["data"]["me"]["role"], "OWNER");
    assert!(r.code().is_some(), "the error is reported with a code: {}", r.0);
    assert_eq!(error_paths(&r.0), vec![json!(["leadPool"])]);
}

#[tokio::test]
async fn a_failed_non_null_nested_field_nulls_its_nearest_nullable_parent() {
    let app = spawn_app().await;
    let p = app.partner("Partner").await;
    let c = app.client_of(&p, "Client").await;
    // `members` is non-null and refuses `first: -1`; `servingPartner` is the nearest nullable parent.
    let r = app
        .as_(
            &app.vendor,
            "query($id: ID!) { subscriber(id: $id) { id servingPartner { id members(first: -1) { totalCount } } name } }",
            json!({ "id": c.subscriber_id }),
        )
        .await;
    assert_eq!(
        r.0["data"],
        json!({ "subscriber": { "id": c.subscriber_id, "servingPartner": null, "name": "Client" } }),
        "{}",
        r.0
    );
    r.err("BAD_USER_INPUT");
    assert_eq!(error_paths(&r.0), vec![json!(["subscriber", "servingPartner", "members"])]);
    // With no nullable parent up to the root, `data` itself is null.
    let r = app
        .as_(
            &app.vendor,
            "query($id: ID!) { subscriber(id: $id) { id members(first: -1) { totalCount } } }",
            json!({ "id": c.subscriber_id }),
        )
        .await;
    assert_eq!(r.0["data"], Value::Null, "{}", r.0);
}

#[tokio::test]
async fn a_failed_item_of_a_non_null_list_nulls_the_list_owner_and_nullable_items_stay_in_place() {
    let app = spawn_app().await;
    let p = app.partner("Partner").await;
    let c = app.client_of(&p, "Client").await;
    // `bindingHistory: [BindingChange!]!`: each change's nullable `to` absorbs its own failure, so the
    // list keeps its items.
    let r = app
        .as_(
            &app.vendor,
            "query($id: ID!) { subscriber(id: $id) { bindingHistory { source to { id members(first: -1) { totalCount } } } } }",
            json!({ "id": c.subscriber_id }),
        )
        .await;
    assert_eq!(
        r.0["data"]["subscriber"]["bindingHistory"],
        json!([{ "source": "PARTNER_REGISTERED", "to": null }]),
        "{}",
        r.0
    );
    // The error's path is the field that failed, through the list item, not the item it propagated to.
    assert_eq!(error_paths(&r.0), vec![json!(["subscriber", "bindingHistory", 0, "to", "members"])]);
    // `nodes: [Subscriber!]!`: a failing node fails the list, the connection and `subscribers` (all
    // non-null), so `data` is null.
    let r = app
        .as_(
            &app.vendor,
            "{ subscribers(first: 5) { totalCount nodes { id members(first: -1) { totalCount } } } }",
            json!({}),
        )
        .await;
    assert_eq!(r.0["data"], Value::Null, "{}", r.0);
    r.err("BAD_USER_INPUT");
    let paths = error_paths(&r.0);
    assert!(!paths.is_empty());
    for path in paths {
        let p = path.as_array().unwrap();
        assert_eq!(
            (p.len(), &p[0], &p[1], &p[3]),
            (4, &json!("subscribers"), &json!("nodes"), &json!("members")),
            "{path}"
        );
        assert!(p[2].is_u64(), "{path}");
    }
}

#[tokio::test]
async fn a_failed_mutation_field_nulls_data_and_is_still_audited() {
    let app = spawn_app().await;
    let p = app.partner("Partner").await;
    let r = app
        .as_(
            &p.token,
            "mutation { createPartner(input: {name: \"X\", ownerEmail: \"x@example.test\"}) { token } }",
            json!({}),
        )
        .await;
    assert_eq!(r.0["data"], Value::Null, "{}", r.0);
    r.err("FORBIDDEN");
    let log = app.as_(&app.vendor, "{ auditLog(first: 50) { nodes { operation outcome } } }", json!({})).await;
    let entries = log.ok()["auditLog"]["nodes"].as_array().unwrap().clone();
    assert!(entries.iter().any(|e| e["operation"] == "createPartner" && e["outcome"] == "FORBIDDEN"), "{entries:?}");
}

#[tokio::test]
async fn the_viewer_and_the_partner_profile_have_ids_for_client_caches() {
    let app = spawn_app().await;
    let p = app.partner("Partner").await;
    let r = app.as_(&p.token, "{ me { id } }", json!({})).await;
    assert_eq!(r.ok()["me"]["id"], p.membership_id.as_str());
    let r = app
        .as_(
            &p.token,
            "query($id: ID!) { subscriber(id: $id) { partnerProfile { id } } }",
            json!({ "id": p.subscriber_id }),
        )
        .await;
    assert_eq!(r.ok()["subscriber"]["partnerProfile"]["id"], p.subscriber_id.as_str());
    // A sign-in answers the same viewer id as `me` does afterwards.
    let r = app
        .gql(
            None,
            "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { viewer { id } } }",
            json!({ "e": p.email, "p": crate::helpers::PASSWORD }),
        )
        .await;
    assert_eq!(r.ok()["login"]["viewer"]["id"], p.membership_id.as_str());
}
