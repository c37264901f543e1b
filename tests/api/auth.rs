//! Authentication: every token attack is refused at the edge with 401 `UNAUTHENTICATED`; the membership
//! is re-checked on every request; login locks after five failures.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine;
use chrono::{Duration, Utc};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, VENDOR_EMAIL, spawn_app, spawn_app_with};

const ME: &str = "{ me { role subscriber { id } } }";

async fn me_with(app: &TestApp, token: &str) -> (StatusCode, Value) {
    let req = Request::post("/graphql")
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::from(json!({ "query": ME }).to_string()))
        .unwrap();
    let raw = app.raw(req).await;
    (raw.status, raw.json())
}

#[track_caller]
fn assert_refused((status, body): (StatusCode, Value)) {
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "{body}");
    assert!(body.get("data").is_none(), "GraphQL must not run: {body}");
}

fn secret(app: &TestApp) -> Vec<u8> {
    secrecy::ExposeSecret::expose_secret(&app.state.config.jwt.secret).as_bytes().to_vec()
}

/// Claims as the service issues them for the vendor owner, to be tampered with.
async fn vendor_claims(app: &TestApp) -> Value {
    let payload = app.vendor.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

fn sign(claims: &Value, key: &[u8], alg: Algorithm) -> String {
    encode(&Header::new(alg), claims, &EncodingKey::from_secret(key)).unwrap()
}

#[tokio::test]
async fn a_valid_token_is_accepted_and_the_untampered_claims_sign_back_to_a_working_token() {
    let app = spawn_app().await;
    let (status, body) = me_with(&app, &app.vendor).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["me"]["role"], "OWNER");
    // The control for every attack below: re-signing the same claims with the real key works.
    let claims = vendor_claims(&app).await;
    let (status, _) = me_with(&app, &sign(&claims, &secret(&app), Algorithm::HS256)).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn alg_none_is_refused() {
    let app = spawn_app().await;
    let claims = vendor_claims(&app).await;
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let token = format!("{}.{}.", b64(&json!({"alg": "none", "typ": "JWT"})), b64(&claims));
    assert_refused(me_with(&app, &token).await);
}

#[tokio::test]
async fn a_token_signed_with_another_key_is_refused() {
    let app = spawn_app().await;
    let claims = vendor_claims(&app).await;
    assert_refused(me_with(&app, &sign(&claims, b"another-secret-another-secret-another", Algorithm::HS256)).await);
}

#[tokio::test]
async fn another_hmac_algorithm_with_the_right_key_is_refused() {
    let app = spawn_app().await;
    let claims = vendor_claims(&app).await;
    assert_refused(me_with(&app, &sign(&claims, &secret(&app), Algorithm::HS512)).await);
}

#[tokio::test]
async fn expired_and_not_yet_valid_tokens_are_refused() {
    let app = spawn_app().await;
    let now = Utc::now().timestamp();
    let mut claims = vendor_claims(&app).await;
    claims["exp"] = json!(now - 1);
    claims["iat"] = json!(now - 3600);
    claims["nbf"] = json!(now - 3600);
    assert_refused(me_with(&app, &sign(&claims, &secret(&app), Algorithm::HS256)).await);

    let mut claims = vendor_claims(&app).await;
    claims["nbf"] = json!(now + 600);
    assert_refused(me_with(&app, &sign(&claims, &secret(&app), Algorithm::HS256)).await);
}

#[tokio::test]
async fn a_token_past_its_lifetime_stops_working_when_the_clock_passes_exp() {
    let app = spawn_app().await;
    assert_eq!(me_with(&app, &app.vendor).await.0, StatusCode::OK);
    app.state.clock.advance(Duration::minutes(61));
    assert_refused(me_with(&app, &app.vendor).await);
}

#[tokio::test]
async fn wrong_or_missing_audience_and_issuer_are_refused() {
    let app = spawn_app().await;
    let key = secret(&app);
    for (claim, value) in [("aud", json!("someone-else")), ("iss", json!("evil-issuer"))] {
        let mut claims = vendor_claims(&app).await;
        claims[claim] = value;
        assert_refused(me_with(&app, &sign(&claims, &key, Algorithm::HS256)).await);
    }
    for claim in ["aud", "iss", "exp", "sub"] {
        let mut claims = vendor_claims(&app).await;
        claims.as_object_mut().unwrap().remove(claim);
        assert_refused(me_with(&app, &sign(&claims, &key, Algorithm::HS256)).await);
    }
}

#[tokio::test]
async fn a_role_claim_higher_than_the_membership_is_refused() {
    let app = spawn_app().await;
    let vendor_id = app.vendor_id().await;
    let user = app.member(&app.vendor, &vendor_id, "USER").await;
    assert_eq!(me_with(&app, &user.token).await.0, StatusCode::OK);
    let payload = user.token.split('.').nth(1).unwrap();
    let mut claims: Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    claims["role"] = json!("OWNER");
    let (status, body) = me_with(&app, &sign(&claims, &secret(&app), Algorithm::HS256)).await;
    assert_refused((status, body.clone()));
    assert_eq!(body["errors"][0]["extensions"]["reason"], "ROLE_CHANGED");
}

#[tokio::test]
async fn a_subscriber_the_user_is_not_a_member_of_is_refused() {
    let app = spawn_app().await;
    let partner = app.partner("Partner").await;
    let mut claims = vendor_claims(&app).await;
    claims["sid"] = json!(partner.subscriber_id);
    let (status, body) = me_with(&app, &sign(&claims, &secret(&app), Algorithm::HS256)).await;
    assert_refused((status, body.clone()));
    assert_eq!(body["errors"][0]["extensions"]["reason"], "MEMBERSHIP_GONE");
}

#[tokio::test]
async fn a_removed_members_token_stops_working_on_the_next_request() {
    let app = spawn_app().await;
    let partner = app.partner("Partner").await;
    let admin = app.member(&partner.token, &partner.subscriber_id, "ADMIN").await;
    assert_eq!(me_with(&app, &admin.token).await.0, StatusCode::OK);
    let r = app
        .as_(
            &partner.token,
            "mutation($m: ID!) { removeMember(membershipId: $m) }",
            json!({ "m": admin.membership_id }),
        )
        .await;
    assert_eq!(r.ok()["removeMember"], admin.membership_id.as_str());
    assert_refused(me_with(&app, &admin.token).await);
}

#[tokio::test]
async fn a_demoted_members_old_token_is_refused() {
    let app = spawn_app().await;
    let partner = app.partner("Partner").await;
    let admin = app.member(&partner.token, &partner.subscriber_id, "ADMIN").await;
    app.as_(
        &partner.token,
        "mutation($m: ID!) { changeRole(membershipId: $m, role: USER) { role } }",
        json!({ "m": admin.membership_id }),
    )
    .await
    .ok();
    assert_refused(me_with(&app, &admin.token).await);
    // Logging in again gives a token with the new role.
    let fresh = app.login(&admin.email, PASSWORD).await;
    let (status, body) = me_with(&app, &fresh).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["me"]["role"], "USER");
}

#[tokio::test]
async fn a_deactivated_users_token_is_refused() {
    let app = spawn_app().await;
    let vendor_id = app.vendor_id().await;
    let user = app.member(&app.vendor, &vendor_id, "USER").await;
    entity::user::Entity::update_many()
        .col_expr(entity::user::Column::Active, sea_orm::sea_query::Expr::value(false))
        .filter(entity::user::Column::Email.eq(user.email.as_str()))
        .exec(&app.state.db)
        .await
        .unwrap();
    assert_refused(me_with(&app, &user.token).await);
    app.gql(
        None,
        "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }",
        json!({ "e": user.email, "p": PASSWORD }),
    )
    .await
    .err("UNAUTHENTICATED");
}

#[tokio::test]
async fn garbage_in_the_authorization_header_is_refused_and_no_header_is_anonymous() {
    let app = spawn_app().await;
    for value in ["Bearer", "Bearer not.a.token", "Basic dXNlcjpwYXNz", "Bearer a.b.c.d"] {
        let req = Request::post("/graphql")
            .header("content-type", "application/json")
            .header("authorization", value)
            .body(Body::from(json!({ "query": "{ __typename }" }).to_string()))
            .unwrap();
        let raw = app.raw(req).await;
        assert_eq!(raw.status, StatusCode::UNAUTHORIZED, "{value}");
        assert_eq!(raw.json()["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
    }
    let r = app.gql(None, "{ __typename }", json!({})).await;
    assert_eq!(r.ok()["__typename"], "QueryRoot");
    app.gql(None, ME, json!({})).await.err("UNAUTHENTICATED");
}

const LOGIN: &str = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token viewer { role } } }";

#[tokio::test]
async fn a_wrong_password_is_invalid_credentials_and_the_sixth_attempt_is_locked_out() {
    let app = spawn_app().await;
    for _ in 0..5 {
        app.gql(None, LOGIN, json!({ "e": VENDOR_EMAIL, "p": "wrong password" }))
            .await
            .err("UNAUTHENTICATED")
            .reason_is("INVALID_CREDENTIALS");
    }
    // Locked now, even with the right password.
    app.gql(None, LOGIN, json!({ "e": VENDOR_EMAIL, "p": PASSWORD })).await.err("TOO_MANY_ATTEMPTS");
    // The lock is per e-mail (case-insensitive).
    app.gql(None, LOGIN, json!({ "e": VENDOR_EMAIL.to_uppercase(), "p": PASSWORD })).await.err("TOO_MANY_ATTEMPTS");
    app.state.clock.advance(Duration::minutes(14));
    app.gql(None, LOGIN, json!({ "e": VENDOR_EMAIL, "p": PASSWORD })).await.err("TOO_MANY_ATTEMPTS");
    app.state.clock.advance(Duration::minutes(2));
    let r = app.gql(None, LOGIN, json!({ "e": VENDOR_EMAIL, "p": PASSWORD })).await;
    assert_eq!(r.ok()["login"]["viewer"]["role"], "OWNER");
}

#[tokio::test]
async fn a_success_resets_the_failure_count() {
    let app = spawn_app().await;
    for _ in 0..4 {
        app.gql(None, LOGIN, json!({ "e": VENDOR_EMAIL, "p": "nope nope" })).await.err("UNAUTHENTICATED");
    }
    app.gql(None, LOGIN, json!({ "e": VENDOR_EMAIL, "p": PASSWORD })).await.ok();
    for _ in 0..4 {
        app.gql(None, LOGIN, json!({ "e": VENDOR_EMAIL, "p": "nope nope" })).await.err("UNAUTHENTICATED");
    }
    app.gql(None, LOGIN, json!({ "e": VENDOR_EMAIL, "p": PASSWORD })).await.ok();
}

#[tokio::test]
async fn concurrent_wrong_guesses_cannot_exceed_the_lockout() {
    let app = spawn_app().await;
    let tasks: Vec<_> =
        (0..12).map(|_| app.spawn_gql(None, LOGIN, json!({ "e": VENDOR_EMAIL, "p": "guess guess" }))).collect();
    let mut verified = 0;
    for t in tasks {
        let (_, body) = t.await.unwrap();
        if body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED" {
            verified += 1;
        }
    }
    assert!(verified <= 5, "{verified} guesses were checked; at most 5 may be");
}

#[tokio::test]
async fn login_picks_the_membership_asked_for() {
    let app = spawn_app().await;
    let partner = app.partner("Partner").await;
    // The vendor owner is invited into the partner too.
    let r = app
        .as_(
            &partner.token,
            "mutation($e: String!) { inviteUser(input: {email: $e, role: ADMIN}) { token } }",
            json!({ "e": VENDOR_EMAIL }),
        )
        .await;
    let token = r.ok()["inviteUser"]["token"].as_str().unwrap().to_owned();
    // An existing user accepts with its password and is signed in to the new membership.
    let r = app.gql(None, "mutation($t: String!, $p: String!) { acceptInvitation(token: $t, password: $p) { viewer { role subscriber { id } memberships { role } } } }", json!({ "t": token, "p": PASSWORD })).await;
    let v = &r.ok()["acceptInvitation"]["viewer"];
    assert_eq!(v["role"], "ADMIN");
    assert_eq!(v["subscriber"]["id"], partner.subscriber_id.as_str());
    assert_eq!(v["memberships"].as_array().unwrap().len(), 2);
    let r = app
        .gql(None, "mutation($e: String!, $p: String!, $s: ID) { login(email: $e, password: $p, subscriberId: $s) { viewer { role subscriber { id } } } }", json!({ "e": VENDOR_EMAIL, "p": PASSWORD, "s": partner.subscriber_id }))
        .await;
    assert_eq!(r.ok()["login"]["viewer"]["subscriber"]["id"], partner.subscriber_id.as_str());
    let other = app.partner("Other").await;
    app.gql(
        None,
        "mutation($e: String!, $p: String!, $s: ID) { login(email: $e, password: $p, subscriberId: $s) { token } }",
        json!({ "e": VENDOR_EMAIL, "p": PASSWORD, "s": other.subscriber_id }),
    )
    .await
    .err("BAD_USER_INPUT")
    .reason_is("NOT_A_MEMBER");
}

/// An app with the production default: membership checks reused for a second on this replica.
async fn spawn_cached() -> TestApp {
    spawn_app_with(|c| c.http.auth_cache_ttl = std::time::Duration::from_secs(1)).await
}

#[tokio::test]
async fn with_the_auth_cache_a_member_removed_through_this_replica_is_refused_on_the_very_next_request() {
    let app = spawn_cached().await;
    let partner = app.partner("Partner").await;
    let admin = app.member(&partner.token, &partner.subscriber_id, "ADMIN").await;
    // Twice, so the second answer comes from the cache.
    assert_eq!(me_with(&app, &admin.token).await.0, StatusCode::OK);
    assert_eq!(me_with(&app, &admin.token).await.0, StatusCode::OK);
    app.as_(
        &partner.token,
        "mutation($m: ID!) { removeMember(membershipId: $m) }",
        json!({ "m": admin.membership_id }),
    )
    .await
    .ok();
    assert_refused(me_with(&app, &admin.token).await);
}

#[tokio::test]
async fn with_the_auth_cache_a_change_made_behind_the_replicas_back_counts_once_the_entry_is_a_second_old() {
    let app = spawn_cached().await;
    let vendor_id = app.vendor_id().await;
    let user = app.member(&app.vendor, &vendor_id, "USER").await;
    assert_eq!(me_with(&app, &user.token).await.0, StatusCode::OK);
    // As if another replica deactivated the user: this replica has not written anything since.
    entity::user::Entity::update_many()
        .col_expr(entity::user::Column::Active, sea_orm::sea_query::Expr::value(false))
        .filter(entity::user::Column::Email.eq(user.email.as_str()))
        .exec(&app.state.db)
        .await
        .unwrap();
    assert_eq!(me_with(&app, &user.token).await.0, StatusCode::OK, "still within the cache's second");
    app.state.clock.advance(Duration::seconds(2));
    assert_refused(me_with(&app, &user.token).await);
}

#[tokio::test]
async fn with_the_auth_cache_a_token_verified_before_still_expires_on_time_and_a_forged_one_is_never_taken() {
    let app = spawn_cached().await;
    assert_eq!(me_with(&app, &app.vendor).await.0, StatusCode::OK);
    // The same claims signed with another key: a different string, verified on its own and refused.
    let claims = vendor_claims(&app).await;
    let forged = sign(&claims, b"another-secret-another-secret-another", Algorithm::HS256);
    assert_refused(me_with(&app, &forged).await);
    assert_eq!(me_with(&app, &app.vendor).await.0, StatusCode::OK);
    app.state.clock.advance(Duration::hours(2));
    let (status, body) = me_with(&app, &app.vendor).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["errors"][0]["extensions"]["reason"], "TOKEN_EXPIRED");
}
