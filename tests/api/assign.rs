//! The vendor assigns clients by hand (`assignClient`, issue 15): binds, rebinds and unbinds with source
//! `VENDOR_ASSIGNED` and a reason, the way out of `unboundClients`; `bindingHistory` says who made each
//! change (`by`, null for automatic ones and for callers who may not see that person) and why.

use serde_json::{Value, json};

use crate::helpers::*;

pub const ASSIGN: &str = "mutation($c: ID!, $p: ID, $r: String!) { assignClient(clientId: $c, partnerId: $p, reason: $r) { id servingPartner { id } bindingSource } }";
const HISTORY: &str = "query($id: ID!) { subscriber(id: $id) { bindingHistory { from { id } to { id } source by { id email } reason } } }";
const UNBOUND: &str = "{ unboundClients(first: 100) { nodes { id } } }";
const SELF_REGISTER: &str =
    "mutation($i: SelfRegisterInput!) { selfRegister(input: $i) { token viewer { subscriber { id } } } }";

/// The id of the person behind a token.
pub async fn user_id(app: &TestApp, token: &str) -> String {
    let r = app.as_(token, "{ me { user { id } } }", json!({})).await;
    r.ok()["me"]["user"]["id"].as_str().unwrap().to_owned()
}

/// A company registers itself (with a partner's referral code, or none: then, with no lead pool, it is
/// left unbound); returns its owner's token and the client's id.
pub async fn self_registered(app: &TestApp, name: &str, referral: Option<&str>) -> (String, String) {
    let r = app
        .gql(
            None,
            SELF_REGISTER,
            json!({ "i": { "companyName": name, "email": email("self"), "name": "Owner", "password": PASSWORD, "referralCode": referral } }),
        )
        .await;
    let d = &r.ok()["selfRegister"];
    (d["token"].as_str().unwrap().to_owned(), d["viewer"]["subscriber"]["id"].as_str().unwrap().to_owned())
}

async fn unbound(app: &TestApp) -> Vec<String> {
    let r = app.as_(&app.vendor, UNBOUND, json!({})).await;
    r.ok()["unboundClients"]["nodes"].as_array().unwrap().iter().map(|n| n["id"].as_str().unwrap().to_owned()).collect()
}

async fn history(app: &TestApp, token: &str, client: &str) -> Vec<Value> {
    let r = app.as_(token, HISTORY, json!({ "id": client })).await;
    r.ok()["subscriber"]["bindingHistory"].as_array().unwrap().clone()
}

/// (from, to, source) of each change: the partner ids, "-" for none.
fn chain(h: &[Value]) -> Vec<(String, String, String)> {
    let id = |v: &Value| v["id"].as_str().unwrap_or("-").to_owned();
    h.iter().map(|c| (id(&c["from"]), id(&c["to"]), c["source"].as_str().unwrap().to_owned())).collect()
}

async fn assign(app: &TestApp, token: &str, client: &str, partner: Option<&str>, reason: &str) -> Gql {
    app.as_(token, ASSIGN, json!({ "c": client, "p": partner, "r": reason })).await
}

fn s(v: &str) -> String {
    v.to_owned()
}

#[tokio::test]
async fn the_vendor_binds_rebinds_and_unbinds_a_client_by_hand_and_the_history_says_who_and_why() {
    let app = spawn_app().await;
    app.presets().await;
    let p = app.partner("P").await;
    let q = app.partner("Q").await;
    // No referral code and no lead pool: nobody serves this client.
    let (_, lead) = self_registered(&app, "Unserved", None).await;
    assert!(unbound(&app).await.contains(&lead));
    assert!(history(&app, &app.vendor, &lead).await.is_empty());
    let vendor_user = user_id(&app, &app.vendor).await;

    let why = "Клиент позвонил сам: просит партнёра в Казани";
    let r = assign(&app, &app.vendor, &lead, Some(&p.subscriber_id), why).await;
    let c = &r.ok()["assignClient"];
    assert_eq!(
        (c["servingPartner"]["id"].as_str(), c["bindingSource"].as_str()),
        (Some(p.subscriber_id.as_str()), Some("VENDOR_ASSIGNED"))
    );
    assert!(!unbound(&app).await.contains(&lead), "the way out of unboundClients");
    let h = history(&app, &app.vendor, &lead).await;
    assert_eq!(chain(&h), vec![(s("-"), p.subscriber_id.clone(), s("VENDOR_ASSIGNED"))]);
    assert_eq!(
        (h[0]["by"]["id"].as_str(), h[0]["by"]["email"].as_str()),
        (Some(vendor_user.as_str()), Some(VENDOR_EMAIL))
    );
    assert_eq!(h[0]["reason"], why);
    // P serves it now: it reads the card and has a welcome call to make.
    let r = app.as_(&p.token, "query($c: ID) { tasks(clientId: $c) { nodes { kind } } }", json!({ "c": lead })).await;
    assert_eq!(r.ok()["tasks"]["nodes"], json!([{ "kind": "WELCOME_CALL" }]));

    // Asking for what already holds records nothing.
    assign(&app, &app.vendor, &lead, Some(&p.subscriber_id), "again").await.ok();
    assert_eq!(history(&app, &app.vendor, &lead).await.len(), 1);

    // Rebind to Q, then unbind: each with its reason, from what the change before left.
    let r = assign(&app, &app.vendor, &lead, Some(&q.subscriber_id), "P asked to hand the client over").await;
    assert_eq!(r.ok()["assignClient"]["servingPartner"]["id"], q.subscriber_id.as_str());
    let r = assign(&app, &app.vendor, &lead, None, "the client left the region").await;
    assert_eq!(r.ok()["assignClient"], json!({ "id": lead, "servingPartner": null, "bindingSource": null }));
    let h = history(&app, &app.vendor, &lead).await;
    assert_eq!(
        chain(&h),
        vec![
            (s("-"), p.subscriber_id.clone(), s("VENDOR_ASSIGNED")),
            (p.subscriber_id.clone(), q.subscriber_id.clone(), s("VENDOR_ASSIGNED")),
            (q.subscriber_id.clone(), s("-"), s("VENDOR_ASSIGNED")),
        ]
    );
    let reasons: Vec<&str> = h.iter().map(|c| c["reason"].as_str().unwrap()).collect();
    assert_eq!(reasons, [why, "P asked to hand the client over", "the client left the region"]);
    assert!(h.iter().all(|c| c["by"]["id"] == vendor_user.as_str()));
    // Unbound again: back in the list, and unbinding it again records nothing.
    assert!(unbound(&app).await.contains(&lead));
    assign(&app, &app.vendor, &lead, None, "still nobody").await.ok();
    assert_eq!(history(&app, &app.vendor, &lead).await.len(), 3);
    // Q no longer reaches the client.
    app.as_(&q.token, HISTORY, json!({ "id": lead })).await.err("NOT_FOUND");

    // A vendor operator assigns too, and is named as `by`; a partner's own client moves the same way.
    let operator = app.member(&app.vendor, &app.vendor_id().await, "SERVICE_OPERATOR").await;
    let own = app.client_of(&p, "Own").await;
    assign(&app, &operator.token, &own.subscriber_id, Some(&q.subscriber_id), "duplicate registration").await.ok();
    let h = history(&app, &app.vendor, &own.subscriber_id).await;
    assert_eq!(chain(&h)[1], (p.subscriber_id.clone(), q.subscriber_id.clone(), s("VENDOR_ASSIGNED")));
    assert_eq!(h[1]["by"]["email"], operator.email.as_str());
}

#[tokio::test]
async fn by_is_null_for_automatic_changes_and_shown_only_to_callers_who_may_see_that_person() {
    let app = spawn_app().await;
    app.presets().await;
    let p = app.partner("P").await;
    let q = app.partner("Q").await;
    let p_operator = app.member(&p.token, &p.subscriber_id, "SERVICE_OPERATOR").await;
    let p_owner_id = user_id(&app, &p.token).await;

    // A referral binding is automatic: no `by`, for anyone; the reason names the occasion.
    let r = app.as_(&p.token, "{ me { subscriber { partnerProfile { referralCode } } } }", json!({})).await;
    let code = r.ok()["me"]["subscriber"]["partnerProfile"]["referralCode"].as_str().unwrap().to_owned();
    let (referred_token, referred) = self_registered(&app, "Referred", Some(&code)).await;
    for token in [&app.vendor, &p.token, &referred_token] {
        let h = history(&app, token, &referred).await;
        assert_eq!(chain(&h), vec![(s("-"), p.subscriber_id.clone(), s("REFERRAL_LINK"))]);
        assert!(h[0]["by"].is_null(), "{h:?}");
        assert!(h[0]["reason"].as_str().unwrap().contains("referral"), "{h:?}");
    }

    // P's owner registers a client: the vendor and P's owner and operator see who; the client's own
    // owner (not a member of P) does not.
    let c = app.client_of(&p, "Registered").await;
    for token in [&app.vendor, &p.token, &p_operator.token] {
        let h = history(&app, token, &c.subscriber_id).await;
        assert_eq!(h[0]["source"], "PARTNER_REGISTERED");
        assert_eq!(h[0]["by"]["id"], p_owner_id.as_str(), "{h:?}");
    }
    let h = history(&app, &c.token, &c.subscriber_id).await;
    assert_eq!(h[0]["source"], "PARTNER_REGISTERED");
    assert!(h[0]["by"].is_null(), "{h:?}");

    // The vendor moves it to Q: Q sees both changes but neither person (P's owner, the vendor's owner).
    assign(&app, &app.vendor, &c.subscriber_id, Some(&q.subscriber_id), "moved").await.ok();
    let h = history(&app, &q.token, &c.subscriber_id).await;
    assert_eq!(h.len(), 2);
    assert!(h.iter().all(|c| c["by"].is_null()), "{h:?}");
    assert_eq!(h[1]["reason"], "moved");
    let h = history(&app, &app.vendor, &c.subscriber_id).await;
    assert_eq!(h[0]["by"]["id"], p_owner_id.as_str());
    assert_eq!(h[1]["by"]["email"], VENDOR_EMAIL);
}

#[tokio::test]
async fn only_the_vendors_staff_assign_and_only_clients_to_partners() {
    let app = spawn_app().await;
    app.presets().await;
    let p = app.partner("P").await;
    let q = app.partner("Q").await;
    let own = app.client_of(&p, "P's client").await;
    let foreign = app.client_of(&q, "Q's client").await;
    let vendor_id = app.vendor_id().await;
    let vendor_user = app.member(&app.vendor, &vendor_id, "USER").await;
    let p_operator = app.member(&p.token, &p.subscriber_id, "SERVICE_OPERATOR").await;
    let before = app.count("binding_changes").await;

    // Refused roles: a partner (for its own client and for another's alike), a client, a vendor USER.
    for token in [&p.token, &p_operator.token, &own.token, &vendor_user.token] {
        for client in [&own.subscriber_id, &foreign.subscriber_id] {
            assign(&app, token, client, Some(&p.subscriber_id), "mine now").await.err("FORBIDDEN");
        }
    }
    let r = app.gql(None, ASSIGN, json!({ "c": own.subscriber_id, "p": p.subscriber_id, "r": "anonymous" })).await;
    assert_ne!(r.outcome(), "OK");

    // Ids: only a client is assigned (a partner, the vendor or an unknown id is NOT_FOUND), only to a
    // partner (a client, the vendor or an unknown id is refused as the input).
    let unknown = uuid::Uuid::new_v4().to_string();
    for id in [&p.subscriber_id, &vendor_id, &unknown] {
        assign(&app, &app.vendor, id, Some(&q.subscriber_id), "not a client").await.err("NOT_FOUND");
    }
    for id in [&foreign.subscriber_id, &vendor_id, &unknown] {
        let r = assign(&app, &app.vendor, &own.subscriber_id, Some(id), "not a partner").await;
        r.err("BAD_USER_INPUT").reason_is("NOT_A_PARTNER");
        assert_eq!(r.field(), Some("partnerId"));
    }
    assign(&app, &app.vendor, "not-an-id", Some(&q.subscriber_id), "x").await.err("NOT_FOUND");

    // The reason: required, bounded, no control characters; Cyrillic is fine.
    for (reason, why) in
        [("", "EMPTY"), ("   ", "EMPTY"), (&"я".repeat(501) as &str, "TOO_LONG"), ("a\u{7}b", "INVALID_CHARACTERS")]
    {
        let r = assign(&app, &app.vendor, &own.subscriber_id, Some(&q.subscriber_id), reason).await;
        r.err("BAD_USER_INPUT").reason_is(why);
        assert_eq!(r.field(), Some("reason"));
    }
    let r = assign(&app, &app.vendor, &own.subscriber_id, Some(&q.subscriber_id), "nul\u{0}byte").await;
    r.err("BAD_USER_INPUT");
    assert_eq!(app.count("binding_changes").await, before, "nothing refused was recorded");

    let longest = "ё".repeat(500);
    assign(&app, &app.vendor, &own.subscriber_id, Some(&q.subscriber_id), &longest).await.ok();
    let h = history(&app, &app.vendor, &own.subscriber_id).await;
    assert_eq!(h.last().unwrap()["reason"], longest.as_str());
}

#[tokio::test]
async fn concurrent_assignments_of_one_client_each_record_the_change_from_what_the_one_before_left() {
    let app = spawn_app().await;
    app.presets().await;
    let partners = [app.partner("A").await, app.partner("B").await, app.partner("C").await];
    let (_, client) = self_registered(&app, "Contested", None).await;
    let calls: Vec<_> = (0..12)
        .map(|i| {
            let to = if i % 4 == 3 { Value::Null } else { json!(partners[i % 3].subscriber_id) };
            app.spawn_gql(Some(&app.vendor), ASSIGN, json!({ "c": client, "p": to, "r": format!("call {i}") }))
        })
        .collect();
    for call in calls {
        let (status, body) = call.await.unwrap();
        assert_eq!(status, axum::http::StatusCode::OK);
        assert!(body.get("errors").is_none(), "{body}");
    }
    let h = history(&app, &app.vendor, &client).await;
    assert!(!h.is_empty());
    // An unbroken chain: each change starts where the previous one ended, and none is a no-op.
    let c = chain(&h);
    assert_eq!(c[0].0, "-");
    for w in c.windows(2) {
        assert_eq!(w[0].1, w[1].0, "{c:?}");
    }
    assert!(c.iter().all(|(from, to, _)| from != to), "{c:?}");
    let r = app
        .as_(&app.vendor, "query($id: ID!) { subscriber(id: $id) { servingPartner { id } } }", json!({ "id": client }))
        .await;
    let now = r.ok()["subscriber"]["servingPartner"]["id"].as_str().unwrap_or("-").to_owned();
    assert_eq!(c.last().unwrap().1, now);
}

#[tokio::test]
async fn a_lead_assignment_is_automatic_with_no_by_and_the_pool_as_its_reason() {
    let app = spawn_app().await;
    partnergraph::service::demo::seed_demo(&app.state).await.expect("demo data");
    let (token, lead) = self_registered(&app, "Explorer Co", None).await;
    for t in [&app.vendor, &token] {
        let h = history(&app, t, &lead).await;
        assert_eq!(h.len(), 1);
        assert_eq!(h[0]["source"], "LEAD_DISTRIBUTION");
        assert!(h[0]["by"].is_null(), "{h:?}");
        assert!(h[0]["reason"].as_str().unwrap().starts_with("lead distribution"), "{h:?}");
    }
}
