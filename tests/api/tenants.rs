//! Cross-tenant isolation: what is outside the caller's reach answers exactly like a missing id.

use serde_json::json;

use crate::helpers::spawn_app;

const READ: &str = "query($id: ID!) { subscriber(id: $id) { id name } }";

#[tokio::test]
async fn a_partner_cannot_read_or_list_another_partners_client() {
    let app = spawn_app().await;
    let a = app.partner("Partner A").await;
    let b = app.partner("Partner B").await;
    let client_b = app.client_of(&b, "B's client").await;
    let missing = uuid::Uuid::now_v7().to_string();

    let foreign = app.as_(&a.token, READ, json!({ "id": client_b.subscriber_id })).await;
    let absent = app.as_(&a.token, READ, json!({ "id": missing })).await;
    foreign.err("NOT_FOUND");
    absent.err("NOT_FOUND");
    assert_eq!(foreign.0["errors"][0]["message"], absent.0["errors"][0]["message"], "same answer as a missing id");

    // B reads it.
    let r = app.as_(&b.token, READ, json!({ "id": client_b.subscriber_id })).await;
    assert_eq!(r.ok()["subscriber"]["name"], "B's client");

    // A's list has its own subscriber only; B's has itself and its client; searching does not leak.
    let r = app.as_(&a.token, "{ subscribers { totalCount nodes { id } } }", json!({})).await;
    assert_eq!(r.ok()["subscribers"]["totalCount"], 1);
    assert_eq!(r.ok()["subscribers"]["nodes"][0]["id"], a.subscriber_id.as_str());
    let r = app.as_(&a.token, "{ subscribers(search: \"client\") { totalCount } }", json!({})).await;
    assert_eq!(r.ok()["subscribers"]["totalCount"], 0);
    let r = app.as_(&b.token, "{ subscribers(kind: CLIENT) { totalCount nodes { id } } }", json!({})).await;
    assert_eq!(r.ok()["subscribers"]["totalCount"], 1);

    // Nor can A edit it, invite into it, or list its members.
    app.as_(
        &a.token,
        "mutation($id: ID!) { updateSubscriber(id: $id, input: {name: \"Mine\"}) { id } }",
        json!({ "id": client_b.subscriber_id }),
    )
    .await
    .err("NOT_FOUND");
    app.as_(&a.token, "mutation($id: ID) { inviteUser(input: {subscriberId: $id, email: \"spy@example.ru\", role: OWNER}) { token } }", json!({ "id": client_b.subscriber_id }))
        .await
        .err("NOT_FOUND");
    app.as_(
        &a.token,
        "query($id: ID) { invitations(subscriberId: $id) { totalCount } }",
        json!({ "id": client_b.subscriber_id }),
    )
    .await
    .err("NOT_FOUND");
    app.as_(
        &a.token,
        "mutation($id: ID!) { changeRole(membershipId: $id, role: USER) { id } }",
        json!({ "id": client_b.membership_id }),
    )
    .await
    .err("NOT_FOUND");
    app.as_(
        &a.token,
        "mutation($id: ID!) { removeMember(membershipId: $id) }",
        json!({ "id": client_b.membership_id }),
    )
    .await
    .err("NOT_FOUND");
}

#[tokio::test]
async fn a_client_cannot_read_another_client_or_its_partner_members() {
    let app = spawn_app().await;
    let p = app.partner("Partner").await;
    let c1 = app.client_of(&p, "Client 1").await;
    let c2 = app.client_of(&p, "Client 2").await;
    app.as_(&c1.token, READ, json!({ "id": c2.subscriber_id })).await.err("NOT_FOUND");
    app.as_(&c1.token, READ, json!({ "id": "not-a-uuid" })).await.err("NOT_FOUND");
    let r = app.as_(&c1.token, "{ subscribers { totalCount } }", json!({})).await;
    assert_eq!(r.ok()["subscribers"]["totalCount"], 1);
    // A client sees who serves it (and how to reach it), but not that partner's people or card.
    let r = app
        .as_(
            &c1.token,
            "query($id: ID!) { subscriber(id: $id) { servingPartner { id name } bindingSource } }",
            json!({ "id": c1.subscriber_id }),
        )
        .await;
    assert_eq!(r.ok()["subscriber"]["servingPartner"]["id"], p.subscriber_id.as_str());
    assert_eq!(r.ok()["subscriber"]["bindingSource"], "PARTNER_REGISTERED");
    let r = app
        .as_(
            &c1.token,
            "query($id: ID!) { subscriber(id: $id) { servingPartner { email inn members { totalCount } subscriptions { id } } } }",
            json!({ "id": c1.subscriber_id }),
        )
        .await;
    assert_eq!(
        r.ok()["subscriber"]["servingPartner"],
        json!({ "email": null, "inn": null, "members": { "totalCount": 0 }, "subscriptions": [] })
    );
    // The partner's client count does not leak either.
    app.as_(&c1.token, READ, json!({ "id": p.subscriber_id })).await.err("NOT_FOUND");
}

#[tokio::test]
async fn bindings_are_recorded_with_their_history() {
    let app = spawn_app().await;
    let p = app.partner("Partner").await;
    let c = app.client_of(&p, "Client").await;
    let r = app
        .as_(&p.token, "query($id: ID!) { subscriber(id: $id) { bindingSource bindingHistory { from { id } to { id } source at } } }", json!({ "id": c.subscriber_id }))
        .await;
    let h = r.ok()["subscriber"]["bindingHistory"].as_array().unwrap().clone();
    assert_eq!(h.len(), 1);
    assert!(h[0]["from"].is_null());
    assert_eq!(h[0]["to"]["id"], p.subscriber_id.as_str());
    assert_eq!(h[0]["source"], "PARTNER_REGISTERED");

    // Self-registration with the partner's referral code binds with REFERRAL_LINK.
    let r = app
        .as_(
            &p.token,
            "query($id: ID!) { subscriber(id: $id) { partnerProfile { referralCode } } }",
            json!({ "id": p.subscriber_id }),
        )
        .await;
    let code = r.ok()["subscriber"]["partnerProfile"]["referralCode"].as_str().unwrap().to_lowercase();
    let r = app
        .gql(None, "mutation($i: SelfRegisterInput!) { selfRegister(input: $i) { viewer { subscriber { id servingPartner { id } bindingSource } } } }", json!({ "i": { "companyName": "Referred", "email": "ref@example.ru", "name": "Ref", "password": crate::helpers::PASSWORD, "referralCode": code } }))
        .await;
    let s = &r.ok()["selfRegister"]["viewer"]["subscriber"];
    assert_eq!(s["servingPartner"]["id"], p.subscriber_id.as_str());
    assert_eq!(s["bindingSource"], "REFERRAL_LINK");

    // The vendor imports a client with its binding and original creation date.
    let r = app
        .as_(&app.vendor, "mutation($p: ID) { importClient(input: {name: \"Old client\", inn: \"500100732259\", partnerId: $p, createdAt: \"2024-01-15T00:00:00Z\"}) { id createdAt bindingSource servingPartner { id } } }", json!({ "p": p.subscriber_id }))
        .await;
    let s = &r.ok()["importClient"];
    assert_eq!(s["bindingSource"], "IMPORT");
    assert!(s["createdAt"].as_str().unwrap().starts_with("2024-01-15"));
    // The partner now reaches the imported client.
    app.as_(&p.token, READ, json!({ "id": s["id"] })).await.ok();
    // An import naming a non-partner is refused.
    app.as_(
        &app.vendor,
        "mutation($p: ID) { importClient(input: {name: \"X\", partnerId: $p}) { id } }",
        json!({ "p": c.subscriber_id }),
    )
    .await
    .err("BAD_USER_INPUT")
    .reason_is("NOT_A_PARTNER");
}
