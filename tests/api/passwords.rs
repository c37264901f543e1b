//! Passwords (issue 15): `changePassword` for the signed-in person (the current password checked like a
//! login, counting toward the lockout), `requestPasswordReset` (always `true`, no account oracle, at most
//! three e-mails per address per hour, a single-use link valid one hour through the real outbox and an
//! SMTP dialogue, only a hash stored) and `resetPassword`. A change or reset ends every token issued to the
//! person before it, at the edge, on this replica at once and on another within its auth-cache window.

use axum::http::StatusCode;
use chrono::Duration;
use entity::{outbox_message, password_reset};
use partnergraph::service::outbox;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

use crate::helpers::*;
use crate::outbox::SmtpServer;

const CHANGE: &str = "mutation($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) }";
const REQUEST: &str = "mutation($e: String!) { requestPasswordReset(email: $e) }";
const RESET: &str = "mutation($t: String!, $n: String!) { resetPassword(token: $t, newPassword: $n) { token viewer { user { email } } } }";
const ME: &str = "{ me { user { email } } }";
const NEW_PASSWORD: &str = "Новый пароль: достаточно длинный";

fn cached(c: &mut partnergraph::config::Config) {
    c.http.auth_cache_ttl = std::time::Duration::from_secs(60);
}

/// The token is refused at the HTTP edge as ended.
#[track_caller]
fn ended(raw: &Raw) {
    assert_eq!(raw.status, StatusCode::UNAUTHORIZED, "{}", raw.body);
    let e = &raw.json()["errors"][0]["extensions"];
    assert_eq!(e["code"], "UNAUTHENTICATED", "{}", raw.body);
    assert!(matches!(e["reason"].as_str(), Some("TOKEN_REVOKED" | "MEMBERSHIP_GONE")), "{}", raw.body);
}

#[track_caller]
fn works(raw: &Raw) {
    assert_eq!(raw.status, StatusCode::OK, "{}", raw.body);
    assert!(raw.json().get("errors").is_none(), "{}", raw.body);
}

async fn login_as(app: &TestApp, email: &str, password: &str) -> Gql {
    app.gql(
        None,
        "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }",
        json!({ "e": email, "p": password }),
    )
    .await
}

async fn request(app: &TestApp, address: &str) -> Value {
    app.gql(None, REQUEST, json!({ "e": address })).await.0
}

/// The reset e-mails queued to an address, oldest first.
async fn reset_mails(app: &TestApp, to: &str) -> Vec<outbox_message::Model> {
    let mut rows = outbox_message::Entity::find()
        .filter(outbox_message::Column::ToEmail.eq(to))
        .filter(outbox_message::Column::Kind.eq(outbox::kind::PASSWORD_RESET))
        .all(&app.state.db)
        .await
        .unwrap();
    rows.sort_by_key(|m| m.created_at);
    rows
}

/// The token in a reset link (`…/reset-password?token=…`), in an e-mail body or SMTP data.
fn link_token(text: &str) -> String {
    let text = text.replace("=\r\n", "").replace("=3D", "=");
    let at = text.find("/reset-password?token=").unwrap_or_else(|| panic!("no reset link in {text}"));
    text[at + "/reset-password?token=".len()..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

/// Asks for a reset of `address` and returns the token of the newest e-mail queued (before it is sent).
async fn fresh_link(app: &TestApp, address: &str) -> String {
    assert_eq!(request(app, address).await, json!({ "data": { "requestPasswordReset": true } }));
    link_token(&reset_mails(app, address).await.last().expect("a reset e-mail").body)
}

#[tokio::test]
async fn changing_the_password_ends_every_older_token_of_the_person_at_once_and_the_new_one_signs_in() {
    let app = spawn_app_with(cached).await;
    let p = app.partner("P").await;
    let q = app.partner("Q").await;
    // P's owner is also a member of Q: its tokens for both subscribers end.
    let r = app
        .as_(
            &q.token,
            "mutation($e: String!) { inviteUser(input: {email: $e, role: USER}) { token } }",
            json!({ "e": p.email }),
        )
        .await;
    let invitation = r.ok()["inviteUser"]["token"].as_str().unwrap().to_owned();
    let r = app
        .gql(
            None,
            "mutation($t: String!, $p: String!) { acceptInvitation(token: $t, password: $p) { token } }",
            json!({ "t": invitation, "p": PASSWORD }),
        )
        .await;
    let in_q = r.ok()["acceptInvitation"]["token"].as_str().unwrap().to_owned();
    let second = app.login(&p.email, PASSWORD).await;
    let others = app.member(&p.token, &p.subscriber_id, "SERVICE_OPERATOR").await;
    for t in [&p.token, &in_q, &second, &others.token] {
        works(&app.post_as(t, ME).await);
    }

    // Refused attempts change nothing: a weak new password, a wrong current one.
    app.as_(&p.token, CHANGE, json!({ "c": PASSWORD, "n": "short" }))
        .await
        .err("BAD_USER_INPUT")
        .reason_is("PASSWORD_TOO_SHORT");
    app.as_(&p.token, CHANGE, json!({ "c": "wrong password", "n": NEW_PASSWORD }))
        .await
        .err("UNAUTHENTICATED")
        .reason_is("INVALID_CREDENTIALS");
    works(&app.post_as(&p.token, ME).await);

    let r = app.as_(&p.token, CHANGE, json!({ "c": PASSWORD, "n": NEW_PASSWORD })).await;
    assert_eq!(r.ok()["changePassword"], true);
    // Every token issued before, the caller's own included and in every subscriber, is refused on the
    // next request, though this replica held a fresh check of each; another person's token is not.
    for t in [&p.token, &in_q, &second] {
        ended(&app.post_as(t, ME).await);
    }
    works(&app.post_as(&others.token, ME).await);
    login_as(&app, &p.email, PASSWORD).await.err("UNAUTHENTICATED").reason_is("INVALID_CREDENTIALS");
    // A token issued now (within the same second as the change, as like as not) works: generations, not
    // timestamps, tell old from new.
    let r = login_as(&app, &p.email, NEW_PASSWORD).await;
    let fresh = r.ok()["login"]["token"].as_str().unwrap().to_owned();
    works(&app.post_as(&fresh, ME).await);
    // Anonymous callers have no password to change.
    let r = app.gql(None, CHANGE, json!({ "c": PASSWORD, "n": NEW_PASSWORD })).await;
    assert_ne!(r.outcome(), "OK");
}

#[tokio::test]
async fn a_wrong_current_password_counts_toward_the_login_lockout_of_the_email() {
    let app = spawn_app().await;
    let p = app.partner("P").await;
    for _ in 0..5 {
        app.as_(&p.token, CHANGE, json!({ "c": "guess", "n": NEW_PASSWORD })).await.reason_is("INVALID_CREDENTIALS");
    }
    // Locked: the right current password does not get through, nor a login.
    app.as_(&p.token, CHANGE, json!({ "c": PASSWORD, "n": NEW_PASSWORD })).await.err("TOO_MANY_ATTEMPTS");
    login_as(&app, &p.email, PASSWORD).await.err("TOO_MANY_ATTEMPTS");
    app.state.clock.advance(Duration::minutes(16));
    let r = app.as_(&p.token, CHANGE, json!({ "c": PASSWORD, "n": NEW_PASSWORD })).await;
    assert_eq!(r.ok()["changePassword"], true);
    login_as(&app, &p.email, NEW_PASSWORD).await.ok();
}

#[tokio::test]
async fn a_second_replica_refuses_the_older_tokens_within_its_auth_cache_window() {
    let app = spawn_app_with(cached).await;
    let p = app.partner("P").await;
    let replica = app.replica(cached).await;
    replica.state.events.ready().await;
    app.state.events.ready().await;
    // Replica 2 checks the token and keeps the check for a minute.
    works(&replica.post_as(&p.token, ME).await);
    works(&replica.post_as(&p.token, ME).await);

    app.as_(&p.token, CHANGE, json!({ "c": PASSWORD, "n": NEW_PASSWORD })).await.ok();
    ended(&app.post_as(&p.token, ME).await);
    if app.state.config.database_url.starts_with("postgres") {
        // The access signal travels through PostgreSQL: replica 2 drops its check as soon as it hears it.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let raw = replica.post_as(&p.token, ME).await;
            if raw.status == StatusCode::UNAUTHORIZED {
                ended(&raw);
                break;
            }
            assert!(std::time::Instant::now() < deadline, "replica 2 still lets the old token in");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
    // Whatever the signal did, once the cache window has passed replica 2 asks the database again.
    replica.state.clock.advance(Duration::seconds(61));
    ended(&replica.post_as(&p.token, ME).await);
}

#[tokio::test]
async fn a_reset_link_goes_out_through_the_outbox_and_smtp_works_once_and_signs_in() {
    let server = SmtpServer::start().await;
    let app = spawn_app_with(|c| c.mail.smtp_url = Some(server.url.clone().into())).await;
    let p = app.partner("P").await;
    let old_token = p.token.clone();
    // Somebody locked the address out by guessing.
    for _ in 0..5 {
        login_as(&app, &p.email, "guess").await.err("UNAUTHENTICATED");
    }
    login_as(&app, &p.email, PASSWORD).await.err("TOO_MANY_ATTEMPTS");

    // The address as typed, in another case: the same account.
    let r = request(&app, &p.email.to_uppercase()).await;
    assert_eq!(r, json!({ "data": { "requestPasswordReset": true } }));
    outbox::dispatch_due(&app.state).await.unwrap();
    let got = server.received_by(&p.email);
    assert_eq!(got.len(), 1, "one e-mail");
    assert!(got[0].data.contains("Subject: Reset your password"), "{}", got[0].data);
    let link = format!("{}/reset-password?token=", app.state.config.mail.public_url);
    assert!(got[0].data.replace("=\r\n", "").replace("=3D", "=").contains(&link), "{}", got[0].data);
    let token = link_token(&got[0].data);
    assert!(token.len() >= 40, "{token}");

    // Once sent, the body no longer carries the token; the database keeps only its hash.
    let mails = reset_mails(&app, &p.email).await;
    assert_eq!((mails.len(), mails[0].status.as_str()), (1, "SENT"));
    assert_eq!(mails[0].body, outbox::REDACTED_RESET_BODY);
    let notes = app.notifications().await;
    assert!(
        notes.iter().any(|n| n["kind"] == "PASSWORD_RESET" && n["to"] == p.email.as_str() && n["status"] == "SENT")
    );
    let rows = password_reset::Entity::find().all(&app.state.db).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].token_hash, partnergraph::service::hash_token(&token));
    assert!(!rows[0].token_hash.contains(&token) && !format!("{rows:?}").contains(&token));

    // The link sets the new password and signs in; the lockout is lifted; older tokens end.
    let r = app.gql(None, RESET, json!({ "t": token, "n": NEW_PASSWORD })).await;
    let d = &r.ok()["resetPassword"];
    assert_eq!(d["viewer"]["user"]["email"], p.email.as_str());
    let signed_in = d["token"].as_str().unwrap().to_owned();
    works(&app.post_as(&signed_in, ME).await);
    ended(&app.post_as(&old_token, ME).await);
    login_as(&app, &p.email, NEW_PASSWORD).await.ok();
    login_as(&app, &p.email, PASSWORD).await.err("UNAUTHENTICATED");

    // Single use.
    app.gql(None, RESET, json!({ "t": token, "n": "yet another long password" }))
        .await
        .err("BAD_USER_INPUT")
        .reason_is("RESET_TOKEN_INVALID");
    works(&app.post_as(&signed_in, ME).await);
    // Unknown, empty, overlong or odd tokens are the same answer.
    for t in ["", "unknown", &"x".repeat(300), "токен", &token[..token.len() - 1]] {
        let r = app.gql(None, RESET, json!({ "t": t, "n": NEW_PASSWORD })).await;
        r.err("BAD_USER_INPUT").reason_is("RESET_TOKEN_INVALID");
    }
    // A valid token with a weak password is refused for the password and stays usable.
    let again = fresh_link(&app, &p.email).await;
    let r = app.gql(None, RESET, json!({ "t": again, "n": "short" })).await;
    r.err("BAD_USER_INPUT").reason_is("PASSWORD_TOO_SHORT");
    app.gql(None, RESET, json!({ "t": again, "n": "a third long password" })).await.ok();
}

#[tokio::test]
async fn asking_for_a_reset_answers_true_for_every_address_and_emails_only_an_active_account() {
    let server = SmtpServer::start().await;
    let app = spawn_app_with(|c| c.mail.smtp_url = Some(server.url.clone().into())).await;
    let p = app.partner("P").await;
    let gone = app.member(&p.token, &p.subscriber_id, "USER").await;
    let gone_id = crate::assign::user_id(&app, &gone.token).await;
    app.as_(
        &app.vendor,
        "mutation($u: ID!) { setUserActive(userId: $u, active: false) { active } }",
        json!({ "u": gone_id }),
    )
    .await
    .ok();
    outbox::dispatch_due(&app.state).await.unwrap();
    let before = server.received().len();

    let unknown = email("nobody");
    let answers: Vec<Value> = futures_util::future::join_all(
        [unknown.as_str(), gone.email.as_str(), "not an address", "пользователь@пример.рф", &"a".repeat(5000)]
            .map(|a| request(&app, a)),
    )
    .await;
    for a in &answers {
        assert_eq!(a, &json!({ "data": { "requestPasswordReset": true } }));
    }
    let r = request(&app, &p.email).await;
    assert_eq!(r, json!({ "data": { "requestPasswordReset": true } }), "the same answer for an account");
    // A NUL byte is refused before anything reads the address, for every address alike.
    let r = app.gql(None, REQUEST, json!({ "e": format!("{}\u{0}", p.email) })).await;
    r.err("BAD_USER_INPUT");

    outbox::dispatch_due(&app.state).await.unwrap();
    let sent: Vec<_> = server.received().into_iter().skip(before).collect();
    assert_eq!(sent.len(), 1, "only the active account's e-mail: {sent:?}");
    assert_eq!(sent[0].to, vec![p.email.clone()]);
    for address in [&unknown, &gone.email] {
        assert!(reset_mails(&app, address).await.is_empty());
    }
    // Nothing a reset answers can be used for an account that has none.
    let rows = password_reset::Entity::find()
        .filter(password_reset::Column::Email.eq(unknown.as_str()))
        .all(&app.state.db)
        .await
        .unwrap();
    assert!(rows.iter().all(|r| r.user_id.is_none()));
}

#[tokio::test]
async fn reset_emails_are_limited_to_three_per_address_per_hour_even_when_asked_at_once() {
    let app = spawn_app().await;
    let p = app.partner("P").await;
    let other = app.partner("Other").await;
    let calls: Vec<_> = (0..8)
        .map(|i| {
            let address = if i % 2 == 0 { p.email.clone() } else { p.email.to_uppercase() };
            app.spawn_gql(None, REQUEST, json!({ "e": address }))
        })
        .collect();
    for call in calls {
        let (status, body) = call.await.unwrap();
        assert_eq!((status, body), (StatusCode::OK, json!({ "data": { "requestPasswordReset": true } })));
    }
    assert_eq!(reset_mails(&app, &p.email).await.len(), 3);
    // Another address has its own allowance.
    request(&app, &other.email).await;
    assert_eq!(reset_mails(&app, &other.email).await.len(), 1);
    // An hour later the address may ask again.
    app.state.clock.advance(Duration::minutes(59));
    request(&app, &p.email).await;
    assert_eq!(reset_mails(&app, &p.email).await.len(), 3);
    app.state.clock.advance(Duration::minutes(2));
    request(&app, &p.email).await;
    assert_eq!(reset_mails(&app, &p.email).await.len(), 4);
}

#[tokio::test]
async fn a_reset_link_works_for_one_hour_and_one_not_sent_in_time_is_never_sent() {
    let server = SmtpServer::start().await;
    let app = spawn_app_with(|c| c.mail.smtp_url = Some(server.url.clone().into())).await;
    let p = app.partner("P").await;
    outbox::dispatch_due(&app.state).await.unwrap();

    let late = fresh_link(&app, &p.email).await;
    app.state.clock.advance(Duration::minutes(61));
    // Its e-mail, still waiting, is cancelled rather than sent with a dead link.
    let stats = outbox::dispatch_due(&app.state).await.unwrap();
    assert_eq!(stats.cancelled, 1);
    assert!(server.received_by(&p.email).is_empty());
    assert_eq!(reset_mails(&app, &p.email).await[0].body, outbox::REDACTED_RESET_BODY);
    app.gql(None, RESET, json!({ "t": late, "n": NEW_PASSWORD })).await.reason_is("RESET_TOKEN_INVALID");

    let timely = fresh_link(&app, &p.email).await;
    app.state.clock.advance(Duration::minutes(59));
    app.gql(None, RESET, json!({ "t": timely, "n": NEW_PASSWORD })).await.ok();
}

#[tokio::test]
async fn a_password_change_or_a_deactivation_voids_the_reset_links_already_sent() {
    let app = spawn_app().await;
    let p = app.partner("P").await;
    let before_change = fresh_link(&app, &p.email).await;
    let r = app.as_(&p.token, CHANGE, json!({ "c": PASSWORD, "n": NEW_PASSWORD })).await;
    assert_eq!(r.ok()["changePassword"], true);
    app.gql(None, RESET, json!({ "t": before_change, "n": "attacker's password" }))
        .await
        .reason_is("RESET_TOKEN_INVALID");

    let before_deactivation = fresh_link(&app, &p.email).await;
    let id = crate::assign::user_id(&app, &app.login(&p.email, NEW_PASSWORD).await).await;
    let set = "mutation($u: ID!, $a: Boolean!) { setUserActive(userId: $u, active: $a) { active } }";
    app.as_(&app.vendor, set, json!({ "u": id, "a": false })).await.ok();
    app.as_(&app.vendor, set, json!({ "u": id, "a": true })).await.ok();
    app.gql(None, RESET, json!({ "t": before_deactivation, "n": "attacker's password" }))
        .await
        .reason_is("RESET_TOKEN_INVALID");
    login_as(&app, &p.email, NEW_PASSWORD).await.ok();
}

#[tokio::test]
async fn one_reset_token_used_twice_at_once_sets_the_password_once() {
    let app = spawn_app().await;
    let p = app.partner("P").await;
    let token = fresh_link(&app, &p.email).await;
    let calls: Vec<_> = (0..6)
        .map(|i| app.spawn_gql(None, RESET, json!({ "t": token, "n": format!("concurrent password {i}") })))
        .collect();
    let mut won = Vec::new();
    for (i, call) in calls.into_iter().enumerate() {
        let (status, body) = call.await.unwrap();
        assert_eq!(status, StatusCode::OK);
        if body.get("errors").is_none() {
            won.push(i);
        } else {
            assert_eq!(body["errors"][0]["extensions"]["reason"], "RESET_TOKEN_INVALID", "{body}");
        }
    }
    assert_eq!(won.len(), 1, "exactly one success");
    // The password is the winner's.
    login_as(&app, &p.email, &format!("concurrent password {}", won[0])).await.ok();
}

#[tokio::test]
async fn two_changes_at_once_with_the_same_current_password_let_one_through() {
    let app = spawn_app().await;
    let p = app.partner("P").await;
    let calls: Vec<_> = (0..4)
        .map(|i| app.spawn_gql(Some(&p.token), CHANGE, json!({ "c": PASSWORD, "n": format!("racing password {i}") })))
        .collect();
    let mut won = Vec::new();
    for (i, call) in calls.into_iter().enumerate() {
        let (status, body) = call.await.unwrap();
        if status == StatusCode::OK && body.get("errors").is_none() {
            won.push(i);
        } else if status == StatusCode::OK {
            // Lost the race: its current password is no longer the password.
            assert_eq!(body["errors"][0]["extensions"]["reason"], "INVALID_CREDENTIALS", "{body}");
        } else {
            // Or its token had already ended when it reached the edge.
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        }
    }
    assert_eq!(won.len(), 1, "exactly one change");
    login_as(&app, &p.email, &format!("racing password {}", won[0])).await.ok();
    login_as(&app, &p.email, PASSWORD).await.err("UNAUTHENTICATED");
}

#[tokio::test]
async fn a_password_change_closes_the_persons_open_websockets_with_4403() {
    let app = spawn_app_with(|c| {
        c.ws.recheck = std::time::Duration::from_secs(600);
        cached(c);
    })
    .await;
    let addr = crate::events::serve(app.router.clone()).await;
    let p = app.partner("P").await;
    let operator = app.member(&p.token, &p.subscriber_id, "SERVICE_OPERATOR").await;
    // The set-up's invitation event must not reach the sockets opened next (it would come before the close).
    crate::ws_access::settled(&app.state).await;
    let mut owner_ws = crate::events::listen(addr, &p).await;
    let mut operator_ws = crate::events::listen(addr, &operator).await;
    crate::events::subscribed(&app.state, 2).await;

    app.as_(&p.token, CHANGE, json!({ "c": PASSWORD, "n": NEW_PASSWORD })).await.ok();
    assert_eq!(owner_ws.closed().await, (4403, "Forbidden".to_owned()));
    // The operator's socket is not the owner's: it stays open and hears what happens next.
    let fresh = app.login(&p.email, NEW_PASSWORD).await;
    let r =
        app.as_(&fresh, "mutation($i: String!) { requestStopListLock(inn: $i) { id } }", json!({ "i": inn(78) })).await;
    let id = r.ok()["requestStopListLock"]["id"].as_str().unwrap().to_owned();
    app.as_(
        &app.vendor,
        "mutation($id: ID!) { decideStopListLock(id: $id, approve: true) { status } }",
        json!({ "id": id }),
    )
    .await
    .ok();
    assert_eq!(operator_ws.event("1").await["subjectId"], id.as_str());
}
