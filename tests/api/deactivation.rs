//! Deactivation (`setUserActive`, issue 15): the vendor's staff deactivate and reactivate people. An
//! inactive user cannot log in (the answer of a wrong password), accept an invitation or get a reset
//! e-mail; its tokens are refused on the next request and stay refused after reactivation; its open
//! WebSockets close with 4403; nobody deactivates themselves and the vendor keeps an active owner.

use axum::http::StatusCode;
use sea_orm::EntityTrait;
use serde_json::json;

use crate::assign::user_id;
use crate::events::{listen, serve, subscribed};
use crate::helpers::*;

const SET: &str = "mutation($u: ID!, $a: Boolean!) { setUserActive(userId: $u, active: $a) { id email active } }";
const ME: &str = "{ me { user { id } } }";

async fn set(app: &TestApp, token: &str, user: &str, active: bool) -> Gql {
    app.as_(token, SET, json!({ "u": user, "a": active })).await
}

async fn login_as(app: &TestApp, email: &str, password: &str) -> Gql {
    app.gql(
        None,
        "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }",
        json!({ "e": email, "p": password }),
    )
    .await
}

#[track_caller]
fn refused(raw: &Raw) {
    assert_eq!(raw.status, StatusCode::UNAUTHORIZED, "{}", raw.body);
    assert_eq!(raw.json()["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "{}", raw.body);
}

#[tokio::test]
async fn a_deactivated_person_cannot_sign_in_and_its_tokens_stay_refused_after_reactivation() {
    let app = spawn_app_with(|c| c.http.auth_cache_ttl = std::time::Duration::from_secs(60)).await;
    let p = app.partner("P").await;
    let q = app.partner("Q").await;
    let operator = app.member(&p.token, &p.subscriber_id, "SERVICE_OPERATOR").await;
    let id = user_id(&app, &operator.token).await;
    let second = app.login(&operator.email, PASSWORD).await;
    assert_eq!(app.post_as(&operator.token, ME).await.status, StatusCode::OK);
    let wrong_password = login_as(&app, &operator.email, "not the password").await.0;
    // An invitation to Q waiting for this person.
    let r = app
        .as_(
            &q.token,
            "mutation($e: String!) { inviteUser(input: {email: $e, role: USER}) { token } }",
            json!({ "e": operator.email }),
        )
        .await;
    let invitation = r.ok()["inviteUser"]["token"].as_str().unwrap().to_owned();

    let r = set(&app, &app.vendor, &id, false).await;
    assert_eq!(r.ok()["setUserActive"], json!({ "id": id, "email": operator.email, "active": false }));
    refused(&app.post_as(&operator.token, ME).await);
    refused(&app.post_as(&second, ME).await);
    // The right password gets exactly the answer of a wrong one.
    assert_eq!(login_as(&app, &operator.email, PASSWORD).await.0, wrong_password);
    let r = app
        .gql(
            None,
            "mutation($t: String!, $p: String!) { acceptInvitation(token: $t, password: $p) { token } }",
            json!({ "t": invitation, "p": PASSWORD }),
        )
        .await;
    r.err("UNAUTHENTICATED");
    // Deactivating again changes nothing and is no error.
    assert_eq!(set(&app, &app.vendor, &id, false).await.ok()["setUserActive"]["active"], false);
    // Everyone sees the flag where they see the person.
    let r = app
        .as_(
            &p.token,
            "query($s: ID!) { subscriber(id: $s) { members { nodes { user { id active } } } } }",
            json!({ "s": p.subscriber_id }),
        )
        .await;
    let members = r.ok()["subscriber"]["members"]["nodes"].as_array().unwrap().clone();
    assert!(members.iter().any(|m| m["user"] == json!({ "id": id, "active": false })), "{members:?}");

    // Reactivated: it signs in again, but the tokens ended by the deactivation stay ended.
    assert_eq!(set(&app, &app.vendor, &id, true).await.ok()["setUserActive"]["active"], true);
    refused(&app.post_as(&operator.token, ME).await);
    refused(&app.post_as(&second, ME).await);
    let r = login_as(&app, &operator.email, PASSWORD).await;
    let fresh = r.ok()["login"]["token"].as_str().unwrap().to_owned();
    assert_eq!(app.post_as(&fresh, ME).await.status, StatusCode::OK);
    // Reactivating an active person does not end its tokens.
    set(&app, &app.vendor, &id, true).await.ok();
    assert_eq!(app.post_as(&fresh, ME).await.status, StatusCode::OK);
}

#[tokio::test]
async fn only_the_vendors_staff_set_people_active_and_nobody_deactivates_themselves() {
    let app = spawn_app().await;
    let p = app.partner("P").await;
    let client = app.client_of(&p, "Client").await;
    let vendor_id = app.vendor_id().await;
    let vendor_user = app.member(&app.vendor, &vendor_id, "USER").await;
    let vendor_operator = app.member(&app.vendor, &vendor_id, "SERVICE_OPERATOR").await;
    let target = app.member(&p.token, &p.subscriber_id, "USER").await;
    let target_id = user_id(&app, &target.token).await;
    let owner_id = user_id(&app, &app.vendor).await;
    let operator_id = user_id(&app, &vendor_operator.token).await;

    // Partners (even about their own members), clients and the vendor's USER may not.
    for token in [&p.token, &client.token, &vendor_user.token] {
        set(&app, token, &target_id, false).await.err("FORBIDDEN");
    }
    assert_ne!(app.gql(None, SET, json!({ "u": target_id, "a": false })).await.outcome(), "OK");
    // Unknown ids.
    set(&app, &app.vendor, &uuid::Uuid::new_v4().to_string(), false).await.err("NOT_FOUND");
    set(&app, &app.vendor, "not-an-id", false).await.err("NOT_FOUND");
    // Nobody deactivates themselves.
    set(&app, &app.vendor, &owner_id, false).await.err("FORBIDDEN").reason_is("OWN_ACCOUNT");
    set(&app, &vendor_operator.token, &operator_id, false).await.err("FORBIDDEN").reason_is("OWN_ACCOUNT");
    // A vendor operator deactivates a partner's person, but not a vendor owner.
    set(&app, &vendor_operator.token, &target_id, false).await.ok();
    set(&app, &vendor_operator.token, &owner_id, false).await.err("FORBIDDEN");
    assert_eq!(app.post_as(&app.vendor, ME).await.status, StatusCode::OK);
}

#[tokio::test]
async fn the_vendor_keeps_an_active_owner_even_when_two_owners_deactivate_each_other_at_once() {
    let app = spawn_app().await;
    let vendor_id = app.vendor_id().await;
    let second = app.member(&app.vendor, &vendor_id, "OWNER").await;
    let first_id = user_id(&app, &app.vendor).await;
    let second_id = user_id(&app, &second.token).await;
    // One owner deactivates the other and back: allowed while another active owner remains.
    set(&app, &app.vendor, &second_id, false).await.ok();
    let r = login_as(&app, &second.email, PASSWORD).await;
    r.err("UNAUTHENTICATED");
    set(&app, &app.vendor, &second_id, true).await.ok();
    let second_token = app.login(&second.email, PASSWORD).await;

    // Both at once: the vendor's row is taken in turn, so the second sees the first and is refused
    // (as LAST_OWNER, or at the edge if its own token ended first). Exactly one goes through.
    let a = app.spawn_gql(Some(&app.vendor), SET, json!({ "u": second_id, "a": false }));
    let b = app.spawn_gql(Some(&second_token), SET, json!({ "u": first_id, "a": false }));
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    let won = [&a, &b].iter().filter(|(s, body)| *s == StatusCode::OK && body.get("errors").is_none()).count();
    assert_eq!(won, 1, "{a:?} {b:?}");
    for (status, body) in [&a, &b] {
        if body.get("errors").is_some() {
            let code = body["errors"][0]["extensions"]["code"].as_str();
            assert!(
                (*status == StatusCode::OK
                    && code == Some("CONFLICT")
                    && body["errors"][0]["extensions"]["reason"] == "LAST_OWNER")
                    || (*status == StatusCode::UNAUTHORIZED && code == Some("UNAUTHENTICATED")),
                "{status} {body}"
            );
        }
    }
    let active: Vec<bool> = futures_util::future::join_all([&first_id, &second_id].map(|id| async {
        let id = uuid::Uuid::parse_str(id).unwrap();
        entity::user::Entity::find_by_id(id).one(&app.state.db).await.unwrap().unwrap().active
    }))
    .await;
    assert_eq!(active.iter().filter(|a| **a).count(), 1, "one active owner kept: {active:?}");
}

#[tokio::test]
async fn a_deactivated_persons_open_websocket_is_closed_with_4403_at_once() {
    let app = spawn_app_with(|c| {
        c.ws.recheck = std::time::Duration::from_secs(600);
        c.http.auth_cache_ttl = std::time::Duration::from_secs(60);
    })
    .await;
    let addr = serve(app.router.clone()).await;
    let p = app.partner("P").await;
    let operator = app.member(&p.token, &p.subscriber_id, "SERVICE_OPERATOR").await;
    let id = user_id(&app, &operator.token).await;
    // The operator's joining is an event too: on PostgreSQL it comes back through the listener, so wait
    // until it has passed before the sockets open, or it reaches them late.
    crate::ws_access::settled(&app.state).await;
    let mut owner_ws = listen(addr, &p).await;
    let mut operator_ws = listen(addr, &operator).await;
    subscribed(&app.state, 2).await;

    set(&app, &app.vendor, &id, false).await.ok();
    assert_eq!(operator_ws.closed().await, (4403, "Forbidden".to_owned()));
    // The owner's socket stays open and hears what happens next.
    let lock = app.lock(&p, &inn(77)).await;
    assert_eq!(owner_ws.event("1").await["subjectId"], lock.as_str());
}
