//! API keys (docs/rules.md §12): created by a subscriber's owner, shown once, stored as a hash; accepted as a
//! bearer credential over HTTP and WebSocket; refused at the edge when unknown, revoked or expired (on
//! every replica); acting as themselves (the audit log, the rate limit, `Viewer`), and outliving their
//! creator's membership.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};

use crate::events::{EVENTS, Ws, serve, subscribed};
use crate::helpers::{Account, PASSWORD, Raw, TestApp, spawn_app, spawn_app_with, test_config};

pub const CREATE: &str = "mutation($i: ApiKeyInput!) { createApiKey(input: $i) { secret apiKey { id name role prefix createdBy { email } createdAt expiresAt lastUsedAt revokedAt } } }";
const REVOKE: &str = "mutation($id: ID!) { revokeApiKey(id: $id) { id revokedAt } }";
const LIST: &str =
    "{ apiKeys { totalCount nodes { id name role prefix createdBy { email } lastUsedAt revokedAt expiresAt } } }";
const ME: &str = "{ me { id role user { email } subscriber { id } memberships { id } apiKey { id name role } } }";

/// A key as a caller: its secret is the bearer credential.
pub struct Key {
    pub id: String,
    pub as_account: Account,
}

impl TestApp {
    /// `owner` creates a key with `role` (and an expiry) in its subscriber.
    pub async fn api_key_expiring(&self, owner: &Account, role: &str, expires_at: Option<String>) -> Key {
        let r = self
            .as_(
                &owner.token,
                CREATE,
                json!({ "i": { "name": format!("{role} key"), "role": role, "expiresAt": expires_at } }),
            )
            .await;
        let d = &r.ok()["createApiKey"];
        let secret = d["secret"].as_str().unwrap().to_owned();
        Key {
            id: d["apiKey"]["id"].as_str().unwrap().to_owned(),
            as_account: Account {
                token: secret,
                subscriber_id: owner.subscriber_id.clone(),
                email: String::new(),
                membership_id: String::new(),
            },
        }
    }

    pub async fn api_key(&self, owner: &Account, role: &str) -> Key {
        self.api_key_expiring(owner, role, None).await
    }

    /// A POST with this bearer credential, answered whatever the status.
    pub async fn post_as(&self, credential: &str, query: &str) -> Raw {
        let req = Request::post("/graphql")
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {credential}"))
            .body(Body::from(json!({ "query": query }).to_string()))
            .unwrap();
        self.raw(req).await
    }
}

#[track_caller]
fn refused_401(raw: &Raw, reason: &str) {
    assert_eq!(raw.status, StatusCode::UNAUTHORIZED, "{}", raw.body);
    let e = &raw.json()["errors"][0]["extensions"];
    assert_eq!((e["code"].as_str(), e["reason"].as_str()), (Some("UNAUTHENTICATED"), Some(reason)), "{}", raw.body);
    assert_eq!(raw.headers["www-authenticate"], "Bearer");
}

#[tokio::test]
async fn an_owner_creates_a_key_shown_once_and_stored_as_a_hash_then_uses_lists_and_revokes_it() {
    let app = spawn_app().await;
    let partner = app.partner("Keyed Partner").await;
    let r = app
        .as_(&partner.token, CREATE, json!({ "i": { "name": "  amoCRM sync  ", "role": "SERVICE_OPERATOR" } }))
        .await;
    let created = r.ok()["createApiKey"].clone();
    let secret = created["secret"].as_str().unwrap().to_owned();
    let key = &created["apiKey"];
    assert!(secret.starts_with("pgk_") && secret.len() == 47, "{secret}");
    assert!(secret.starts_with(key["prefix"].as_str().unwrap()) && key["prefix"].as_str().unwrap().len() == 12);
    assert_eq!(key["name"], "amoCRM sync");
    assert_eq!(key["role"], "SERVICE_OPERATOR");
    assert_eq!(key["createdBy"]["email"], partner.email.as_str());
    assert_eq!(
        (key["lastUsedAt"].is_null(), key["revokedAt"].is_null(), key["expiresAt"].is_null()),
        (true, true, true)
    );

    // Only the hash is stored: the secret is in no column.
    use sea_orm::{ConnectionTrait, Statement};
    let backend = app.state.db.get_database_backend();
    let row = app
        .state
        .db
        .query_one_raw(Statement::from_string(backend, "SELECT prefix, secret_hash FROM api_keys".to_owned()))
        .await
        .unwrap()
        .unwrap();
    let hash: String = row.try_get("", "secret_hash").unwrap();
    assert_eq!(hash, partnergraph::auth::api_key::hash_secret(&secret));
    assert!(!hash.contains(&secret[4..]) && hash.len() == 64);

    // The key acts in its subscriber with its role, as itself.
    let me = app.post_as(&secret, ME).await;
    assert_eq!(me.status, StatusCode::OK);
    let me = &me.json()["data"]["me"];
    assert_eq!(me["id"], key["id"], "Viewer.id is the key's id");
    assert_eq!(me["apiKey"]["id"], key["id"]);
    assert_eq!(me["role"], "SERVICE_OPERATOR");
    assert_eq!(me["subscriber"]["id"], partner.subscriber_id.as_str());
    assert_eq!(me["user"]["email"], partner.email.as_str(), "Viewer.user is the key's creator");
    assert_eq!(me["memberships"], json!([]), "the creator's memberships are not the key's");
    let mine = app.as_(&partner.token, ME, json!({})).await;
    assert!(mine.ok()["me"]["apiKey"].is_null(), "null for a person");

    // Listed without its secret, with its use noted.
    let list = app.as_(&partner.token, LIST, json!({})).await;
    let listed = &list.ok()["apiKeys"];
    assert_eq!(listed["totalCount"], 1);
    assert!(!listed.to_string().contains(&secret));
    assert!(listed["nodes"][0]["lastUsedAt"].is_string(), "{listed}");

    // Revoked: refused at the edge from the next request on; revoking again changes nothing.
    let r = app.as_(&partner.token, REVOKE, json!({ "id": key["id"] })).await;
    let revoked_at = r.ok()["revokeApiKey"]["revokedAt"].clone();
    assert!(revoked_at.is_string());
    refused_401(&app.post_as(&secret, ME).await, "API_KEY_REVOKED");
    let again = app.as_(&partner.token, REVOKE, json!({ "id": key["id"] })).await;
    assert_eq!(again.ok()["revokeApiKey"]["revokedAt"], revoked_at);
    let list = app.as_(&partner.token, LIST, json!({})).await;
    assert_eq!(list.ok()["apiKeys"]["nodes"][0]["revokedAt"], revoked_at);
}

#[tokio::test]
async fn an_unknown_malformed_revoked_or_expired_key_is_refused_at_the_edge_with_401() {
    let app = spawn_app().await;
    let partner = app.partner("Partner").await;
    let (secret, _, _) = partnergraph::auth::api_key::new_secret();
    refused_401(&app.post_as(&secret, ME).await, "INVALID_TOKEN");
    let too_long = format!("{secret}A");
    for bad in ["pgk_", "pgk_short", "pgk_абв", &secret[..46], &too_long, &secret.replace('_', "%")] {
        let raw = app.post_as(bad, ME).await;
        assert_eq!(raw.status, StatusCode::UNAUTHORIZED, "{bad:?}");
    }
    // A public operation is refused too: a bad credential is never taken for an anonymous caller.
    refused_401(&app.post_as(&secret, "{ partnerDirectory { id } }").await, "INVALID_TOKEN");

    let revoked = app.api_key(&partner, "USER").await;
    app.as_(&partner.token, REVOKE, json!({ "id": revoked.id })).await.ok();
    refused_401(&app.post_as(&revoked.as_account.token, ME).await, "API_KEY_REVOKED");

    let in_a_minute = (app.state.clock.now() + chrono::Duration::minutes(1)).to_rfc3339();
    let expiring = app.api_key_expiring(&partner, "ADMIN", Some(in_a_minute)).await;
    assert_eq!(app.post_as(&expiring.as_account.token, ME).await.status, StatusCode::OK);
    app.state.clock.advance(chrono::Duration::minutes(2));
    refused_401(&app.post_as(&expiring.as_account.token, ME).await, "API_KEY_EXPIRED");
}

#[tokio::test]
async fn an_expired_key_is_refused_even_while_its_check_is_cached() {
    let app = spawn_app_with(|c| c.http.auth_cache_ttl = std::time::Duration::from_secs(60)).await;
    let partner = app.partner("Partner").await;
    let in_a_minute = (app.state.clock.now() + chrono::Duration::minutes(1)).to_rfc3339();
    let key = app.api_key_expiring(&partner, "USER", Some(in_a_minute)).await;
    assert_eq!(app.post_as(&key.as_account.token, ME).await.status, StatusCode::OK);
    app.state.clock.advance(chrono::Duration::seconds(61));
    let raw = app.post_as(&key.as_account.token, ME).await;
    assert_eq!(raw.status, StatusCode::UNAUTHORIZED, "{}", raw.body);
}

#[tokio::test]
async fn keys_are_never_owners_nor_a_role_the_kind_lacks_and_expire_in_the_future() {
    let app = spawn_app().await;
    let partner = app.partner("Partner").await;
    let client = app.client_of(&partner, "Client").await;
    let vendor = Account {
        token: app.vendor.clone(),
        subscriber_id: app.vendor_id().await,
        email: String::new(),
        membership_id: String::new(),
    };
    for (owner, role) in [
        (&partner, "OWNER"),
        (&client, "OWNER"),
        (&client, "SERVICE_OPERATOR"),
        (&client, "ADAPTATION_ADMIN"),
        (&vendor, "ADAPTATION_ADMIN"),
    ] {
        let r = app.as_(&owner.token, CREATE, json!({ "i": { "name": "k", "role": role } })).await;
        r.err("BAD_USER_INPUT").reason_is("ROLE_NOT_ALLOWED");
        assert_eq!(r.field(), Some("role"));
    }
    for (owner, role) in [(&partner, "ADAPTATION_ADMIN"), (&client, "ADMIN"), (&vendor, "SERVICE_OPERATOR")] {
        app.as_(&owner.token, CREATE, json!({ "i": { "name": "k", "role": role } })).await.ok();
    }
    let past = (app.state.clock.now() - chrono::Duration::seconds(1)).to_rfc3339();
    let r = app.as_(&partner.token, CREATE, json!({ "i": { "name": "k", "role": "USER", "expiresAt": past } })).await;
    r.err("BAD_USER_INPUT").reason_is("EXPIRES_IN_PAST");
    let long = "я".repeat(201);
    for name in ["", "   ", "two\nlines", &long] {
        let r = app.as_(&partner.token, CREATE, json!({ "i": { "name": name, "role": "USER" } })).await;
        r.err("BAD_USER_INPUT");
        assert_eq!(r.field(), Some("name"), "{name:?}");
    }
    assert_eq!(app.count("api_keys").await, 3);
}

#[tokio::test]
async fn a_key_cannot_manage_keys_whatever_its_role() {
    let app = spawn_app().await;
    let partner = app.partner("Partner").await;
    let key = app.api_key(&partner, "SERVICE_OPERATOR").await;
    let other = app.api_key(&partner, "USER").await;
    let t = key.as_account.token.as_str();
    for (q, v) in [
        (LIST, json!({})),
        (CREATE, json!({ "i": { "name": "more", "role": "USER" } })),
        (REVOKE, json!({ "id": other.id })),
        (REVOKE, json!({ "id": key.id })),
    ] {
        app.as_(t, q, v).await.err("FORBIDDEN").reason_is("API_KEY_NOT_ALLOWED");
    }
    assert_eq!(app.count("api_keys").await, 2);
    // Another subscriber's key is not found, for its owner as for anyone.
    let other_partner = app.partner("Other").await;
    app.as_(&other_partner.token, REVOKE, json!({ "id": key.id })).await.err("NOT_FOUND");
    assert_eq!(app.post_as(t, ME).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_key_acts_in_its_partners_crm_book_and_the_audit_log_names_the_key_as_the_actor() {
    let app = spawn_app().await;
    let partner = app.partner("CRM Partner").await;
    let other = app.partner("Other Partner").await;
    let operator = app.api_key(&partner, "SERVICE_OPERATOR").await;
    let user_key = app.api_key(&partner, "USER").await;
    let r = app.upsert_contact(&operator.as_account, json!({ "externalId": "amo-1", "name": "Анна Смирнова" })).await;
    let contact = r.ok()["upsertContact"]["contact"]["id"].as_str().unwrap().to_owned();
    let r = app.as_(&partner.token, "{ contacts { nodes { id externalId } } }", json!({})).await;
    assert_eq!(r.ok()["contacts"]["nodes"][0]["id"], contact.as_str(), "the row is in the partner's book");
    let r = app.as_(&other.token, "{ contacts { totalCount } }", json!({})).await;
    assert_eq!(r.ok()["contacts"]["totalCount"], 0);
    // A key with a role that has no book is refused like a person with it.
    app.upsert_contact(&user_key.as_account, json!({ "name": "X" })).await.err("FORBIDDEN");

    let r = app
        .as_(
            &partner.token,
            "{ auditLog(first: 100) { nodes { operation outcome targetId actor { email } apiKey { id name } } } }",
            json!({}),
        )
        .await;
    let entries = r.ok()["auditLog"]["nodes"].as_array().unwrap().clone();
    let by_key: Vec<&Value> = entries.iter().filter(|e| e["apiKey"]["id"] == operator.id.as_str()).collect();
    assert_eq!(by_key.len(), 1, "{entries:?}");
    assert_eq!(by_key[0]["operation"], "upsertContact");
    assert_eq!(by_key[0]["targetId"], contact.as_str());
    assert!(by_key[0]["actor"].is_null(), "the key, not its creator, acted: {}", by_key[0]);
    let refused: Vec<&Value> = entries.iter().filter(|e| e["apiKey"]["id"] == user_key.id.as_str()).collect();
    assert_eq!(refused[0]["outcome"], "FORBIDDEN");
    // The owner's own actions name the owner.
    let created = entries.iter().find(|e| e["operation"] == "createApiKey").unwrap();
    assert_eq!(created["actor"]["email"], partner.email.as_str());
    assert!(created["apiKey"].is_null());
}

#[tokio::test]
async fn a_key_keeps_working_when_its_creator_leaves_the_subscriber_or_is_deactivated() {
    let app = spawn_app().await;
    let partner = app.partner("Partner").await;
    let second = app.member(&partner.token, &partner.subscriber_id, "OWNER").await;
    let key = app.api_key(&second, "SERVICE_OPERATOR").await;
    app.as_(
        &partner.token,
        "mutation($m: ID!) { removeMember(membershipId: $m) }",
        json!({ "m": second.membership_id }),
    )
    .await
    .ok();
    let raw = app.post_as(&second.token, ME).await;
    assert_eq!(raw.status, StatusCode::UNAUTHORIZED, "the creator's own token is out");
    let me = app.post_as(&key.as_account.token, ME).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    assert_eq!(me.json()["data"]["me"]["user"]["email"], second.email.as_str());
    // Deactivated too (straight in the database, as an administrator would).
    use sea_orm::sea_query::Expr;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let done = entity::user::Entity::update_many()
        .col_expr(entity::user::Column::Active, Expr::value(false))
        .filter(entity::user::Column::Email.eq(second.email.as_str()))
        .exec(&app.state.db)
        .await
        .unwrap();
    assert_eq!(done.rows_affected, 1);
    let r = app.upsert_contact(&key.as_account, json!({ "name": "Still syncing" })).await;
    assert_eq!(r.ok()["upsertContact"]["created"], true);
    // Its owner still manages it.
    let list = app.as_(&partner.token, LIST, json!({})).await;
    assert_eq!(list.ok()["apiKeys"]["nodes"][0]["createdBy"]["email"], second.email.as_str());
}

#[tokio::test]
async fn a_keys_token_is_not_its_creators_for_accepting_an_invitation() {
    let app = spawn_app().await;
    let partner = app.partner("Partner").await;
    let key = app.api_key(&partner, "SERVICE_OPERATOR").await;
    // Someone invites the key's creator elsewhere; only the creator (password or token) may accept.
    let other = app.partner("Other").await;
    let r = app
        .as_(
            &other.token,
            "mutation($e: String!) { inviteUser(input: {email: $e, role: USER}) { token } }",
            json!({ "e": partner.email }),
        )
        .await;
    let invitation = r.ok()["inviteUser"]["token"].as_str().unwrap().to_owned();
    let accept = "mutation($t: String!) { acceptInvitation(token: $t) { viewer { role } } }";
    let r = app.as_(&key.as_account.token, accept, json!({ "t": invitation })).await;
    r.err("UNAUTHENTICATED").reason_is("INVALID_CREDENTIALS");
    let r = app.as_(&partner.token, accept, json!({ "t": invitation })).await;
    assert_eq!(r.ok()["acceptInvitation"]["viewer"]["role"], "USER");
}

#[tokio::test]
async fn a_key_draws_from_its_own_rate_bucket_not_its_creators_and_bad_keys_lock_nothing() {
    let app = spawn_app_with(|c| {
        c.http.rate_limit = 1;
        c.http.rate_burst = 4;
    })
    .await;
    // Set-up requests draw from the vendor's and the partner owner's buckets.
    let partner = app.partner("Partner").await;
    let key = app.api_key(&partner, "USER").await;
    // The burst of 4 passes; then requests faster than one a second are refused. Under a heavy load a
    // request can take long enough for a token to come back, so the key keeps asking until refused.
    let mut passed = 0;
    let raw = loop {
        let raw = app.post_as(&key.as_account.token, ME).await;
        if raw.status != StatusCode::OK || passed == 40 {
            break raw;
        }
        passed += 1;
    };
    assert!(passed >= 4, "the burst of 4 passes first, passed {passed}");
    assert_eq!(raw.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(raw.json()["errors"][0]["extensions"]["reason"], "RATE_LIMITED");
    // The owner's bucket is its own (it made two requests during the set-up).
    assert_eq!(app.post_as(&partner.token, ME).await.status, StatusCode::OK);
    // Unknown keys are refused one by one and lock nobody out (no login lockout for keys).
    for _ in 0..6 {
        let (secret, _, _) = partnergraph::auth::api_key::new_secret();
        assert_eq!(app.post_as(&secret, ME).await.status, StatusCode::UNAUTHORIZED);
    }
    assert!(!app.login(&partner.email, PASSWORD).await.is_empty());
}

#[tokio::test]
async fn over_websocket_a_bad_key_closes_with_4403_and_a_revoked_one_is_closed_at_once() {
    let app = spawn_app_with(|c| {
        c.ws.recheck = std::time::Duration::from_secs(600);
        c.http.auth_cache_ttl = std::time::Duration::from_secs(60);
    })
    .await;
    let addr = serve(app.router.clone()).await;
    let partner = app.partner("Partner").await;
    let revoked = app.api_key(&partner, "SERVICE_OPERATOR").await;
    app.as_(&partner.token, REVOKE, json!({ "id": revoked.id })).await.ok();
    let in_a_minute = (app.state.clock.now() + chrono::Duration::minutes(1)).to_rfc3339();
    let expired = app.api_key_expiring(&partner, "SERVICE_OPERATOR", Some(in_a_minute)).await;
    app.state.clock.advance(chrono::Duration::minutes(2));
    let (unknown, _, _) = partnergraph::auth::api_key::new_secret();
    for secret in [unknown.as_str(), revoked.as_account.token.as_str(), expired.as_account.token.as_str()] {
        let mut ws = Ws::connect(addr).await;
        ws.send(json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {secret}") } })).await;
        assert_eq!(ws.closed().await, (4403, "Forbidden".to_owned()));
    }

    // A good key subscribes to its partner's events and hears them; revoked, its socket closes at once
    // (the access signal; the periodic check is ten minutes away, the cached check a minute).
    let key = app.api_key(&partner, "SERVICE_OPERATOR").await;
    let mut ws = Ws::connect(addr).await;
    ws.init(&key.as_account.token).await;
    ws.subscribe("1", EVENTS).await;
    subscribed(&app.state, 1).await;
    let entry = app.lock(&partner, &crate::helpers::inn(31)).await;
    assert_eq!(ws.event("1").await["subjectId"], entry.as_str());
    app.as_(&partner.token, REVOKE, json!({ "id": key.id })).await.ok();
    assert_eq!(ws.closed().await, (4403, "Forbidden".to_owned()));
}

#[tokio::test]
async fn a_revocation_on_this_replica_refuses_the_key_at_once_even_with_a_cached_check() {
    let app = spawn_app_with(|c| c.http.auth_cache_ttl = std::time::Duration::from_secs(60)).await;
    let partner = app.partner("Partner").await;
    let key = app.api_key(&partner, "USER").await;
    assert_eq!(app.post_as(&key.as_account.token, ME).await.status, StatusCode::OK);
    assert_eq!(app.post_as(&key.as_account.token, ME).await.status, StatusCode::OK);
    app.as_(&partner.token, REVOKE, json!({ "id": key.id })).await.ok();
    refused_401(&app.post_as(&key.as_account.token, ME).await, "API_KEY_REVOKED");
}

/// A revocation the signal never announced (written straight to the database) is still refused once the
/// cached check is older than `PARTNERGRAPH_AUTH_CACHE_MS`: the same window a removed member has.
#[tokio::test]
async fn a_revocation_without_the_signal_is_refused_once_the_cached_check_is_past_its_lifetime() {
    let app = spawn_app_with(|c| c.http.auth_cache_ttl = std::time::Duration::from_secs(1)).await;
    let partner = app.partner("Partner").await;
    let key = app.api_key(&partner, "USER").await;
    assert_eq!(app.post_as(&key.as_account.token, ME).await.status, StatusCode::OK);
    use sea_orm::EntityTrait;
    use sea_orm::sea_query::Expr;
    entity::api_key::Entity::update_many()
        .col_expr(entity::api_key::Column::RevokedAt, Expr::value(app.state.clock.now()))
        .exec(&app.state.db)
        .await
        .unwrap();
    assert_eq!(app.post_as(&key.as_account.token, ME).await.status, StatusCode::OK, "still cached");
    app.state.clock.advance(chrono::Duration::milliseconds(1001));
    refused_401(&app.post_as(&key.as_account.token, ME).await, "API_KEY_REVOKED");
}

/// Two replicas on one PostgreSQL database, each keeping checks for a minute: a key revoked through one
/// is refused by the other at once (the access signal), far within the minute its cached check had left.
#[tokio::test]
async fn a_key_revoked_on_one_replica_is_refused_by_another_on_the_same_database_at_once() {
    let app = spawn_app_with(|c| c.http.auth_cache_ttl = std::time::Duration::from_secs(60)).await;
    if !app.state.config.database_url.starts_with("postgres") {
        return;
    }
    let mut config = test_config(&app.state.config.database_url);
    config.http.auth_cache_ttl = std::time::Duration::from_secs(60);
    let replica = partnergraph::app::AppState::connect(config).await.expect("second replica");
    let replica = TestApp::new(partnergraph::app::router(replica.clone()), replica);
    let partner = app.partner("Replicated").await;
    let key = app.api_key(&partner, "SERVICE_OPERATOR").await;
    replica.state.events.ready().await;
    // Replica 2 checks the key and keeps the check.
    assert_eq!(replica.post_as(&key.as_account.token, ME).await.status, StatusCode::OK);
    assert_eq!(replica.post_as(&key.as_account.token, ME).await.status, StatusCode::OK);

    app.as_(&partner.token, REVOKE, json!({ "id": key.id })).await.ok();
    // The signal travels through PostgreSQL: replica 2 refuses the key as soon as it is heard, which is
    // far less than the minute its cached check had left.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let raw = replica.post_as(&key.as_account.token, ME).await;
        if raw.status == StatusCode::UNAUTHORIZED {
            refused_401(&raw, "API_KEY_REVOKED");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "replica 2 still lets the revoked key in");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
