//! `Idempotency-Key` on mutations (docs/rules.md §12, docs/api.md): the first request runs and its answer is kept; the
//! same request again gets that answer and runs nothing; another request under the key is 422, a repeat
//! while the first runs 409, an anonymous one 400. The claim is a database row, so it holds under
//! concurrency on both databases.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::helpers::{Account, Raw, TestApp, spawn_app, spawn_app_with};

const REGISTER: &str = "mutation($i: RegisterClientInput!) { registerClient(input: $i) { subscriber { id name } } }";
const UPSERT: &str = "mutation($i: ContactInput!) { upsertContact(input: $i) { created contact { id name } } }";

fn request(token: Option<&str>, key: Option<&str>, body: &Value) -> Request<Body> {
    let mut req = Request::post("/graphql").header("content-type", "application/json");
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    if let Some(k) = key {
        req = req.header("idempotency-key", k);
    }
    req.body(Body::from(body.to_string())).unwrap()
}

impl TestApp {
    async fn with_key(&self, token: Option<&str>, key: &str, body: &Value) -> Raw {
        self.raw(request(token, Some(key), body)).await
    }
}

fn register(name: &str) -> Value {
    json!({ "query": REGISTER, "variables": { "i": { "name": name, "ownerEmail": "owner@client.test" } } })
}

fn replayed(raw: &Raw) -> bool {
    raw.headers.get("idempotent-replayed").is_some_and(|v| v == "true")
}

#[track_caller]
fn refused(raw: &Raw, status: StatusCode, code: &str, reason: &str) {
    assert_eq!(raw.status, status, "{}", raw.body);
    let e = &raw.json()["errors"][0]["extensions"];
    assert_eq!((e["code"].as_str(), e["reason"].as_str()), (Some(code), Some(reason)), "{}", raw.body);
}

#[tokio::test]
async fn the_same_request_again_gets_the_kept_answer_and_runs_nothing() {
    let app = spawn_app().await;
    let partner = app.partner("Partner").await;
    let before = app.count("subscribers").await;
    let first = app.with_key(Some(&partner.token), "register-1", &register("Ромашка")).await;
    assert_eq!(first.status, StatusCode::OK);
    assert!(!replayed(&first));
    assert!(first.json()["data"]["registerClient"]["subscriber"]["id"].is_string(), "{}", first.body);
    // The same body with its keys in another order and `null`/absent fields is the same request.
    let same = json!({ "variables": { "i": { "ownerEmail": "owner@client.test", "name": "Ромашка" } }, "operationName": null, "query": REGISTER });
    for body in [register("Ромашка"), same] {
        let again = app.with_key(Some(&partner.token), "register-1", &body).await;
        assert_eq!(again.status, StatusCode::OK);
        assert!(replayed(&again));
        assert_eq!(again.body, first.body, "byte for byte");
        assert_eq!(again.headers["content-type"], first.headers["content-type"]);
    }
    assert_eq!(app.count("subscribers").await, before + 1, "one client registered");
    assert_eq!(app.count("invitations").await, 2, "the partner's and one client owner's");
    // Nothing ran, so nothing was audited.
    let audited = app
        .as_(&app.vendor, "{ auditLog(first: 100) { nodes { operation } } }", json!({}))
        .await
        .ok()["auditLog"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["operation"] == "registerClient")
        .count();
    assert_eq!(audited, 1);
}

#[tokio::test]
async fn the_same_key_with_another_request_is_422_reused_and_runs_nothing() {
    let app = spawn_app().await;
    let partner = app.partner("Partner").await;
    assert_eq!(app.with_key(Some(&partner.token), "k", &register("One")).await.status, StatusCode::OK);
    let before = app.count("subscribers").await;
    for other in [
        register("Two"),
        json!({ "query": REGISTER, "variables": { "i": { "name": "One", "ownerEmail": "other@client.test" } } }),
        json!({ "query": format!("{REGISTER} "), "variables": { "i": { "name": "One", "ownerEmail": "owner@client.test" } } }),
    ] {
        let raw = app.with_key(Some(&partner.token), "k", &other).await;
        refused(&raw, StatusCode::UNPROCESSABLE_ENTITY, "BAD_USER_INPUT", "IDEMPOTENCY_KEY_REUSED");
        assert!(!replayed(&raw));
    }
    assert_eq!(app.count("subscribers").await, before);
}

#[tokio::test]
async fn a_key_belongs_to_its_caller_another_caller_may_use_the_same_key() {
    let app = spawn_app().await;
    let partner = app.partner("Partner").await;
    let operator = app.member(&partner.token, &partner.subscriber_id, "SERVICE_OPERATOR").await;
    let key = app.api_key(&partner, "SERVICE_OPERATOR").await;
    let before = app.count("subscribers").await;
    for who in [&partner, &operator, &key.as_account] {
        let raw = app.with_key(Some(&who.token), "shared-key", &register("Same")).await;
        assert_eq!(raw.status, StatusCode::OK);
        assert!(!replayed(&raw), "a new caller runs it");
    }
    assert_eq!(app.count("subscribers").await, before + 3, "the key's scope is not its creator's");
    let raw = app.with_key(Some(&key.as_account.token), "shared-key", &register("Same")).await;
    assert!(replayed(&raw));
}

#[tokio::test]
async fn without_a_token_a_mutation_is_400_and_a_query_ignores_the_header() {
    let app = spawn_app().await;
    let login =
        json!({ "query": "mutation { login(email: \"owner@vendor.test\", password: \"wrong password\") { token } }" });
    let raw = app.with_key(None, "anon", &login).await;
    refused(&raw, StatusCode::BAD_REQUEST, "BAD_USER_INPUT", "IDEMPOTENCY_KEY_NEEDS_AUTH");
    assert_eq!(app.count("login_failures").await, 0, "it did not run");
    let query = json!({ "query": "{ partnerDirectory { id } }" });
    assert_eq!(app.with_key(None, "anon", &query).await.status, StatusCode::OK);
    // A signed-in query runs every time, even with a malformed key.
    let me = json!({ "query": "{ me { role } }" });
    for key in ["q", "q", "not visible"] {
        let raw = app.with_key(Some(&app.vendor), key, &me).await;
        assert_eq!(raw.status, StatusCode::OK, "{}", raw.body);
        assert!(!replayed(&raw));
    }
    assert_eq!(app.count("idempotency_keys").await, 0);
}

#[tokio::test]
async fn a_malformed_or_repeated_key_header_is_400_and_runs_nothing() {
    let app = spawn_app().await;
    let partner = app.partner("Partner").await;
    let before = app.count("subscribers").await;
    let long = "k".repeat(256);
    for key in ["", "has space", "tab\tkey", long.as_str()] {
        let raw = app.with_key(Some(&partner.token), key, &register("X")).await;
        refused(&raw, StatusCode::BAD_REQUEST, "BAD_USER_INPUT", "IDEMPOTENCY_KEY_INVALID");
    }
    let mut req = request(Some(&partner.token), Some("one"), &register("X"));
    req.headers_mut().append("idempotency-key", "two".parse().unwrap());
    refused(&app.raw(req).await, StatusCode::BAD_REQUEST, "BAD_USER_INPUT", "IDEMPOTENCY_KEY_INVALID");
    let max = "k".repeat(255);
    assert_eq!(app.with_key(Some(&partner.token), &max, &register("X")).await.status, StatusCode::OK);
    assert_eq!(app.count("subscribers").await, before + 1);
}

#[tokio::test]
async fn answers_refused_before_execution_are_not_kept_and_errors_raised_while_running_are() {
    let app = spawn_app().await;
    let partner = app.partner("Partner").await;
    let t = Some(partner.token.as_str());
    // Parse, validation and limit refusals: not kept, so the key then serves a good request.
    let refusals = [
        json!({ "query": "mutation { registerClient(" }),
        json!({ "query": "mutation { noSuchField }" }),
        json!({ "query": format!("mutation {{ {} }}", (0..40).map(|i| format!("a{i}: __typename")).collect::<Vec<_>>().join(" ")) }),
    ];
    for (i, body) in refusals.iter().enumerate() {
        let key = format!("refused-{i}");
        let kept_before = app.count("idempotency_keys").await;
        let raw = app.with_key(t, &key, body).await;
        assert_eq!(raw.status, StatusCode::OK, "{}", raw.body);
        assert!(raw.json()["errors"][0]["extensions"]["code"].is_string());
        assert_eq!(app.count("idempotency_keys").await, kept_before, "{body}: not kept: {}", raw.body);
        let good = app.with_key(t, &key, &register(&format!("Good {i}"))).await;
        assert!(good.json()["data"]["registerClient"]["subscriber"]["id"].is_string(), "{}", good.body);
    }
    // An error raised while running is kept like any answer.
    let bad_inn = json!({ "query": REGISTER, "variables": { "i": { "name": "Bad", "inn": "7707083894", "ownerEmail": "o@c.test" } } });
    let first = app.with_key(t, "bad-inn", &bad_inn).await;
    assert_eq!(first.json()["errors"][0]["extensions"]["reason"], "INVALID_INN");
    let again = app.with_key(t, "bad-inn", &bad_inn).await;
    assert!(replayed(&again));
    assert_eq!(again.body, first.body);
    let fixed = json!({ "query": REGISTER, "variables": { "i": { "name": "Bad", "inn": "7707083893", "ownerEmail": "o@c.test" } } });
    let raw = app.with_key(t, "bad-inn", &fixed).await;
    refused(&raw, StatusCode::UNPROCESSABLE_ENTITY, "BAD_USER_INPUT", "IDEMPOTENCY_KEY_REUSED");
}

/// A claim's row, as a process that is still running (or died running) leaves it.
async fn running_claim(app: &TestApp, who: &Account, actor: uuid::Uuid, key: &str, body: &Value, lease_left: i64) {
    use sea_orm::{ActiveModelTrait, Set};
    let now = app.state.clock.now();
    entity::idempotency_key::ActiveModel {
        id: Set(uuid::Uuid::now_v7()),
        subscriber_id: Set(uuid::Uuid::parse_str(&who.subscriber_id).unwrap()),
        actor_id: Set(actor),
        idempotency_key: Set(key.to_owned()),
        request_hash: Set(partnergraph::service::idempotency::request_hash(body)),
        status: Set(entity::enums::IdempotencyStatus::Running),
        claim_token: Set(uuid::Uuid::new_v4()),
        lease_until: Set(Some(now + chrono::Duration::seconds(lease_left))),
        response_status: Set(None),
        response_content_type: Set(None),
        response_body: Set(None),
        created_at: Set(now),
        expires_at: Set(now + chrono::Duration::days(1)),
    }
    .insert(&app.state.db)
    .await
    .unwrap();
}

#[tokio::test]
async fn a_repeat_while_the_first_runs_is_409_and_a_claim_whose_process_died_is_taken_over_after_its_lease() {
    let app = spawn_app().await;
    let partner = app.partner("Partner").await;
    let key = app.api_key(&partner, "SERVICE_OPERATOR").await;
    let actor = uuid::Uuid::parse_str(&key.id).unwrap();
    let body = json!({ "query": UPSERT, "variables": { "i": { "name": "Пётр" } } });
    running_claim(&app, &key.as_account, actor, "in-flight", &body, 90).await;
    let raw = app.with_key(Some(&key.as_account.token), "in-flight", &body).await;
    refused(&raw, StatusCode::CONFLICT, "CONFLICT", "IDEMPOTENCY_KEY_IN_PROGRESS");
    assert_eq!(raw.headers["retry-after"], "1");
    // Another body under a running key is still "another request".
    let other = json!({ "query": UPSERT, "variables": { "i": { "name": "Другой" } } });
    let raw = app.with_key(Some(&key.as_account.token), "in-flight", &other).await;
    refused(&raw, StatusCode::UNPROCESSABLE_ENTITY, "BAD_USER_INPUT", "IDEMPOTENCY_KEY_REUSED");
    assert_eq!(app.count("crm_contacts").await, 0);

    // The process died: once its lease is over the next request takes the claim over and runs.
    running_claim(&app, &key.as_account, actor, "orphaned", &body, -1).await;
    let raw = app.with_key(Some(&key.as_account.token), "orphaned", &body).await;
    assert_eq!(raw.status, StatusCode::OK, "{}", raw.body);
    assert!(!replayed(&raw));
    assert_eq!(raw.json()["data"]["upsertContact"]["created"], true);
    let again = app.with_key(Some(&key.as_account.token), "orphaned", &body).await;
    assert!(replayed(&again));
    assert_eq!(app.count("crm_contacts").await, 1);
}

/// Ten identical requests at once, each of which would create a contact (no external id): one runs, the
/// others get its kept answer or 409 — never a second contact. On both databases.
#[tokio::test]
async fn ten_concurrent_identical_requests_make_one_effect_and_replays_or_409s() {
    let app = spawn_app().await;
    let partner = app.partner("Partner").await;
    let key = app.api_key(&partner, "SERVICE_OPERATOR").await;
    let body = json!({ "query": UPSERT, "variables": { "i": { "name": "Одна Анна" } } });
    let handles: Vec<_> = (0..10)
        .map(|_| {
            let router = app.router.clone();
            let req = request(Some(&key.as_account.token), Some("burst-1"), &body);
            tokio::spawn(async move {
                let resp = router.oneshot(req).await.unwrap();
                let status = resp.status();
                let replayed = resp.headers().get("idempotent-replayed").is_some();
                let bytes = http_body_util::BodyExt::collect(resp.into_body()).await.unwrap().to_bytes();
                (status, replayed, serde_json::from_slice::<Value>(&bytes).unwrap())
            })
        })
        .collect();
    let mut ran = Vec::new();
    let mut replays = Vec::new();
    let mut in_progress = 0;
    for h in handles {
        let (status, replay, body) = h.await.unwrap();
        match (status, replay) {
            (StatusCode::OK, false) => ran.push(body),
            (StatusCode::OK, true) => replays.push(body),
            (StatusCode::CONFLICT, false) => {
                assert_eq!(body["errors"][0]["extensions"]["reason"], "IDEMPOTENCY_KEY_IN_PROGRESS");
                in_progress += 1;
            }
            other => panic!("unexpected answer {other:?}: {body}"),
        }
    }
    assert_eq!(ran.len(), 1, "exactly one ran; replays {} and 409s {in_progress}", replays.len());
    assert_eq!(replays.len() + in_progress, 9);
    assert!(replays.iter().all(|r| *r == ran[0]), "every replay is the first answer");
    assert_eq!(app.count("crm_contacts").await, 1, "one effect");
    // Afterwards every repeat is a replay of that one answer.
    let raw = app.with_key(Some(&key.as_account.token), "burst-1", &body).await;
    assert!(replayed(&raw));
    assert_eq!(raw.json(), ran[0]);
}

#[tokio::test]
async fn a_kept_answer_lasts_its_time_then_the_scheduler_purges_it_and_the_key_runs_afresh() {
    let app = spawn_app_with(|c| c.http.idempotency_ttl = std::time::Duration::from_secs(60)).await;
    let partner = app.partner("Partner").await;
    let body = json!({ "query": UPSERT, "variables": { "i": { "name": "Kept" } } });
    assert_eq!(app.with_key(Some(&partner.token), "ttl", &body).await.status, StatusCode::OK);
    app.state.clock.advance(chrono::Duration::seconds(59));
    assert!(replayed(&app.with_key(Some(&partner.token), "ttl", &body).await));
    partnergraph::scheduler::tick(&app.state).await;
    assert_eq!(app.count("idempotency_keys").await, 1, "not yet past its time");
    app.state.clock.advance(chrono::Duration::seconds(2));
    // Past its time and not yet purged: as good as none, the request runs again.
    let raw = app.with_key(Some(&partner.token), "ttl", &body).await;
    assert!(!replayed(&raw));
    assert_eq!(app.count("crm_contacts").await, 2);
    app.state.clock.advance(chrono::Duration::seconds(61));
    let report = partnergraph::scheduler::tick(&app.state).await;
    assert_eq!(report.idempotency_purged, 1);
    assert_eq!(app.count("idempotency_keys").await, 0);
}
