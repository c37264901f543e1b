//! Invitations: accept once, expiry, revocation, resend voiding the old token, existing users.

use chrono::Duration;
use serde_json::json;

use crate::helpers::{PASSWORD, TestApp, email, spawn_app};

const INVITE: &str = "mutation($s: ID, $e: String!, $r: Role!) { inviteUser(input: {subscriberId: $s, email: $e, role: $r}) { token invitation { id status sentCount expiresAt } } }";
const ACCEPT: &str = "mutation($t: String!, $n: String, $p: String) { acceptInvitation(token: $t, name: $n, password: $p) { token viewer { role user { email } } } }";

async fn invite(app: &TestApp, by: &str, to: &str, address: &str) -> (String, String) {
    let r = app.as_(by, INVITE, json!({ "s": to, "e": address, "r": "USER" })).await;
    let d = &r.ok()["inviteUser"];
    assert_eq!(d["invitation"]["status"], "PENDING");
    assert_eq!(d["invitation"]["sentCount"], 1);
    (d["token"].as_str().unwrap().to_owned(), d["invitation"]["id"].as_str().unwrap().to_owned())
}

fn accept_vars(token: &str) -> serde_json::Value {
    json!({ "t": token, "n": "New Person", "p": PASSWORD })
}

#[tokio::test]
async fn an_invitation_is_accepted_once_and_the_token_is_stored_only_as_a_hash() {
    let app = spawn_app().await;
    let partner = app.partner("Partner").await;
    let address = email("new");
    let (token, id) = invite(&app, &partner.token, &partner.subscriber_id, &address).await;
    let stored: Vec<entity::invitation::Model> = {
        use sea_orm::EntityTrait;
        entity::invitation::Entity::find().all(&app.state.db).await.unwrap()
    };
    assert!(
        stored.iter().all(|i| i.token_hash != token && !i.token_hash.contains(&token)),
        "raw token must not be stored"
    );

    let r = app.gql(None, ACCEPT, accept_vars(&token)).await;
    assert_eq!(r.ok()["acceptInvitation"]["viewer"]["role"], "USER");
    assert_eq!(r.ok()["acceptInvitation"]["viewer"]["user"]["email"], address.as_str());
    app.gql(None, ACCEPT, accept_vars(&token)).await.err("CONFLICT").reason_is("INVITATION_ALREADY_ACCEPTED");

    let r = app
        .as_(
            &partner.token,
            "query($s: ID) { invitations(subscriberId: $s, status: ACCEPTED) { nodes { id status acceptedAt } } }",
            json!({ "s": partner.subscriber_id }),
        )
        .await;
    let nodes = r.ok()["invitations"]["nodes"].as_array().unwrap().clone();
    assert!(nodes.iter().any(|n| n["id"] == id.as_str() && n["status"] == "ACCEPTED" && !n["acceptedAt"].is_null()));
}

#[tokio::test]
async fn an_expired_invitation_is_refused_and_shows_as_expired() {
    let app = spawn_app().await;
    let partner = app.partner("Partner").await;
    let (token, id) = invite(&app, &partner.token, &partner.subscriber_id, &email("late")).await;
    app.state.clock.advance(Duration::days(7) + Duration::seconds(1));
    app.gql(None, ACCEPT, accept_vars(&token)).await.err("BAD_USER_INPUT").reason_is("INVITATION_EXPIRED");
    // A week later the partner's token has expired too: sign in again.
    let mut partner = partner;
    partner.token = app.login(&partner.email, PASSWORD).await;
    let r = app.as_(&partner.token, "{ invitations(status: EXPIRED) { nodes { id status } } }", json!({})).await;
    assert!(
        r.ok()["invitations"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["id"] == id.as_str() && n["status"] == "EXPIRED")
    );
    // Resending an expired invitation gives a working token again.
    let r = app
        .as_(
            &partner.token,
            "mutation($id: ID!) { resendInvitation(id: $id) { token invitation { status sentCount } } }",
            json!({ "id": id }),
        )
        .await;
    let fresh = r.ok()["resendInvitation"]["token"].as_str().unwrap().to_owned();
    assert_eq!(r.ok()["resendInvitation"]["invitation"]["status"], "PENDING");
    assert_eq!(r.ok()["resendInvitation"]["invitation"]["sentCount"], 2);
    app.gql(None, ACCEPT, accept_vars(&fresh)).await.ok();
}

#[tokio::test]
async fn a_revoked_invitation_is_refused_like_an_unknown_token() {
    let app = spawn_app().await;
    let partner = app.partner("Partner").await;
    let (token, id) = invite(&app, &partner.token, &partner.subscriber_id, &email("revoked")).await;
    let r = app
        .as_(&partner.token, "mutation($id: ID!) { revokeInvitation(id: $id) { status } }", json!({ "id": id }))
        .await;
    assert_eq!(r.ok()["revokeInvitation"]["status"], "REVOKED");
    app.gql(None, ACCEPT, accept_vars(&token)).await.err("BAD_USER_INPUT").reason_is("INVITATION_INVALID");
    app.gql(None, ACCEPT, accept_vars("no-such-token")).await.err("BAD_USER_INPUT").reason_is("INVITATION_INVALID");
    // Revoked is final: it cannot be resent or revoked again.
    app.as_(&partner.token, "mutation($id: ID!) { resendInvitation(id: $id) { token } }", json!({ "id": id }))
        .await
        .err("CONFLICT");
}

#[tokio::test]
async fn the_old_token_stops_working_after_a_resend() {
    let app = spawn_app().await;
    let partner = app.partner("Partner").await;
    let (old, id) = invite(&app, &partner.token, &partner.subscriber_id, &email("resent")).await;
    let r = app
        .as_(
            &partner.token,
            "mutation($id: ID!) { resendInvitation(id: $id) { token invitation { sentCount } } }",
            json!({ "id": id }),
        )
        .await;
    let new = r.ok()["resendInvitation"]["token"].as_str().unwrap().to_owned();
    assert_ne!(old, new);
    app.gql(None, ACCEPT, accept_vars(&old)).await.err("BAD_USER_INPUT").reason_is("INVITATION_INVALID");
    app.gql(None, ACCEPT, accept_vars(&new)).await.ok();
}

#[tokio::test]
async fn an_existing_user_accepts_with_its_password_or_its_token_and_not_otherwise() {
    let app = spawn_app().await;
    let a = app.partner("Partner A").await;
    let b = app.partner("Partner B").await;
    // A's owner is invited to B.
    let (token, _) = invite(&app, &b.token, &b.subscriber_id, &a.email).await;
    app.gql(None, ACCEPT, json!({ "t": token, "p": "not the password" })).await.err("UNAUTHENTICATED");
    app.gql(None, ACCEPT, json!({ "t": token })).await.err("UNAUTHENTICATED");
    // With A's own token in the header, no password is needed.
    let r = app.as_(&a.token, ACCEPT, json!({ "t": token })).await;
    assert_eq!(r.ok()["acceptInvitation"]["viewer"]["user"]["email"], a.email.as_str());
    // Inviting someone who is already a member is a conflict.
    app.as_(&b.token, INVITE, json!({ "s": b.subscriber_id, "e": a.email, "r": "ADMIN" }))
        .await
        .err("CONFLICT")
        .reason_is("ALREADY_MEMBER");
}

#[tokio::test]
async fn a_second_pending_invitation_for_the_same_email_is_a_conflict() {
    let app = spawn_app().await;
    let partner = app.partner("Partner").await;
    let address = email("twice");
    invite(&app, &partner.token, &partner.subscriber_id, &address).await;
    app.as_(&partner.token, INVITE, json!({ "s": partner.subscriber_id, "e": address.to_uppercase(), "r": "ADMIN" }))
        .await
        .err("CONFLICT")
        .reason_is("INVITATION_PENDING");
}

#[tokio::test]
async fn a_new_person_must_give_a_name_and_a_long_enough_password() {
    let app = spawn_app().await;
    let partner = app.partner("Partner").await;
    let (token, _) = invite(&app, &partner.token, &partner.subscriber_id, &email("pw")).await;
    let r = app.gql(None, ACCEPT, json!({ "t": token, "n": "Person", "p": "short" })).await;
    r.err("BAD_USER_INPUT").reason_is("PASSWORD_TOO_SHORT");
    assert_eq!(r.field(), Some("password"));
    let r = app.gql(None, ACCEPT, json!({ "t": token, "n": "  ", "p": PASSWORD })).await;
    r.err("BAD_USER_INPUT").reason_is("EMPTY");
    assert_eq!(r.field(), Some("name"));
    // Nothing was consumed by the refusals.
    app.gql(None, ACCEPT, accept_vars(&token)).await.ok();
}

#[tokio::test]
async fn concurrent_acceptances_of_one_invitation_make_one_membership() {
    let app = spawn_app().await;
    let partner = app.partner("Partner").await;
    let (token, _) = invite(&app, &partner.token, &partner.subscriber_id, &email("race")).await;
    let before = app.count("memberships").await;
    let tasks: Vec<_> = (0..8).map(|_| app.spawn_gql(None, ACCEPT, accept_vars(&token))).collect();
    let mut wins = 0;
    for t in tasks {
        if t.await.unwrap().1.get("errors").is_none() {
            wins += 1;
        }
    }
    assert_eq!(wins, 1);
    assert_eq!(app.count("memberships").await, before + 1);
}

#[tokio::test]
async fn roles_that_do_not_exist_for_the_kind_cannot_be_invited() {
    let app = spawn_app().await;
    let partner = app.partner("Partner").await;
    let client = app.client_of(&partner, "Client").await;
    for role in ["ADAPTATION_ADMIN", "SERVICE_OPERATOR"] {
        let r = app.as_(&client.token, INVITE, json!({ "s": client.subscriber_id, "e": email("x"), "r": role })).await;
        r.err("BAD_USER_INPUT").reason_is("ROLE_NOT_ALLOWED");
        assert_eq!(r.field(), Some("role"));
    }
    let vendor_id = app.vendor_id().await;
    app.as_(&app.vendor, INVITE, json!({ "s": vendor_id, "e": email("x"), "r": "ADAPTATION_ADMIN" }))
        .await
        .err("BAD_USER_INPUT")
        .reason_is("ROLE_NOT_ALLOWED");
    // Both exist at a partner.
    for role in ["ADAPTATION_ADMIN", "SERVICE_OPERATOR"] {
        app.as_(&partner.token, INVITE, json!({ "s": partner.subscriber_id, "e": email("x"), "r": role })).await.ok();
    }
}

#[tokio::test]
async fn a_partner_sees_its_clients_pending_invitations_and_no_one_elses() {
    let app = spawn_app().await;
    let a = app.partner("Partner A").await;
    let b = app.partner("Partner B").await;
    let owner_a = email("owner-a");
    let r = app.as_(&a.token, "mutation($o: String!) { registerClient(input: {name: \"A's client\", ownerEmail: $o}) { invitation { id } } }", json!({ "o": owner_a })).await;
    let inv_a = r.ok()["registerClient"]["invitation"]["id"].as_str().unwrap().to_owned();
    let r = app.as_(&b.token, "mutation($o: String!) { registerClient(input: {name: \"B's client\", ownerEmail: $o}) { invitation { id } } }", json!({ "o": email("owner-b") })).await;
    let inv_b = r.ok()["registerClient"]["invitation"]["id"].as_str().unwrap().to_owned();

    let r = app
        .as_(
            &a.token,
            "{ invitations(status: PENDING) { totalCount nodes { id email createdAt sentCount } } }",
            json!({}),
        )
        .await;
    let ids: Vec<String> = r.ok()["invitations"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(ids.contains(&inv_a));
    assert!(!ids.contains(&inv_b));
    // B cannot resend or revoke A's client's invitation: it does not exist for B.
    app.as_(&b.token, "mutation($id: ID!) { resendInvitation(id: $id) { token } }", json!({ "id": inv_a }))
        .await
        .err("NOT_FOUND");
    app.as_(&b.token, "mutation($id: ID!) { revokeInvitation(id: $id) { id } }", json!({ "id": inv_a }))
        .await
        .err("NOT_FOUND");
    // A can resend it.
    app.as_(
        &a.token,
        "mutation($id: ID!) { resendInvitation(id: $id) { invitation { sentCount } } }",
        json!({ "id": inv_a }),
    )
    .await
    .ok();
}

#[tokio::test]
async fn concurrent_resends_each_count_and_each_token_gets_its_own_email() {
    let app = spawn_app().await;
    let partner = app.partner("Resender").await;
    let (_, id) = invite(&app, &partner.token, &partner.subscriber_id, &email("resent")).await;
    let before = app.count("outbox").await;
    let handles: Vec<_> = (0..6)
        .map(|_| {
            app.spawn_gql(
                Some(&partner.token),
                "mutation($id: ID!) { resendInvitation(id: $id) { token invitation { sentCount } } }",
                json!({ "id": id }),
            )
        })
        .collect();
    let mut counts = Vec::new();
    for h in handles {
        let (status, body) = h.await.unwrap();
        assert_eq!(status, 200, "{body}");
        counts.push(
            body["data"]["resendInvitation"]["invitation"]["sentCount"].as_i64().unwrap_or_else(|| panic!("{body}")),
        );
    }
    counts.sort();
    assert_eq!(counts, vec![2, 3, 4, 5, 6, 7], "each resend saw the one before it");
    assert_eq!(app.count("outbox").await - before, 6, "one e-mail per token sent out");
}
