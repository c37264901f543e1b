//! Webhook endpoints: who manages and reads them, what a valid endpoint is (event types, URLs and the
//! server-side request forgery rules), secrets shown once, and events queued only by committed changes.

use serde_json::{Value, json};

use crate::helpers::{Account, TestApp, spawn_app, spawn_app_with};

pub const CREATE: &str = "mutation($i: WebhookEndpointInput!) { createWebhookEndpoint(input: $i) { secret endpoint { id url eventTypes enabled description } } }";
pub const DELIVERIES: &str = "query($e: ID, $s: WebhookDeliveryStatus, $a: String) { webhookDeliveries(endpointId: $e, status: $s, first: 100, after: $a) { pageInfo { hasNextPage endCursor } nodes { id eventType messageId payload status attempts responseStatus lastError nextAttemptAt deliveredAt endpoint { id } } } }";

/// Creates an endpoint as `token` for these event types; returns its id and secret.
pub async fn endpoint(app: &TestApp, token: &str, url: &str, types: &[&str]) -> (String, String) {
    let r = app.as_(token, CREATE, json!({ "i": { "url": url, "eventTypes": types } })).await;
    let d = &r.ok()["createWebhookEndpoint"];
    (d["endpoint"]["id"].as_str().unwrap().to_owned(), d["secret"].as_str().unwrap().to_owned())
}

/// Every delivery `token` reads (of one endpoint when given), oldest first.
pub async fn deliveries(app: &TestApp, token: &str, endpoint: Option<&str>) -> Vec<Value> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let r = app.as_(token, DELIVERIES, json!({ "e": endpoint, "a": after })).await;
        let c = &r.ok()["webhookDeliveries"];
        out.extend(c["nodes"].as_array().unwrap().iter().cloned());
        if !c["pageInfo"]["hasNextPage"].as_bool().unwrap() {
            return out;
        }
        after = c["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
}

const ALL: &[&str] = &["payment.recorded", "client.registered", "client.bound", "task.created"];

#[tokio::test]
async fn an_owner_registers_an_endpoint_and_sees_its_secret_once() {
    let app = spawn_app().await;
    let p = app.partner("Partner").await;
    let r = app
        .as_(
            &p.token,
            CREATE,
            json!({ "i": { "url": "https://hooks.example.com/pg", "eventTypes": ["payment.recorded", "client.bound", "payment.recorded"], "description": "CRM" } }),
        )
        .await;
    let d = &r.ok()["createWebhookEndpoint"];
    let secret = d["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"), "{secret}");
    assert_eq!(partnergraph::domain::webhook::secret_bytes(secret).unwrap().len(), 32);
    assert_eq!(d["endpoint"]["eventTypes"], json!(["payment.recorded", "client.bound"]));
    assert_eq!(d["endpoint"]["enabled"], json!(true));

    // The secret is never shown again: not in the list, not on the stored row as it is.
    let r = app.as_(&p.token, "{ webhookEndpoints { totalCount nodes { id url description } } }", json!({})).await;
    assert_eq!(r.ok()["webhookEndpoints"]["totalCount"], json!(1));
    assert!(!r.0.to_string().contains(&secret[6..]));
    let backend = sea_orm::ConnectionTrait::get_database_backend(&app.state.db);
    let row = sea_orm::ConnectionTrait::query_one_raw(
        &app.state.db,
        sea_orm::Statement::from_string(backend, "SELECT secret FROM webhook_endpoints"),
    )
    .await
    .unwrap()
    .unwrap();
    let stored: String = row.try_get("", "secret").unwrap();
    assert!(!stored.contains(&secret[6..]) && !stored.contains("whsec_"), "stored encrypted: {stored}");

    // A rotation shows a new secret once, and says until when the old one still signs.
    let id = d["endpoint"]["id"].as_str().unwrap();
    let r = app
        .as_(
            &p.token,
            "mutation($id: ID!) { rotateWebhookSecret(id: $id) { secret endpoint { previousSecretExpiresAt } } }",
            json!({ "id": id }),
        )
        .await;
    let rotated = r.ok()["rotateWebhookSecret"]["secret"].as_str().unwrap();
    assert!(rotated.starts_with("whsec_") && rotated != secret);
    assert!(r.ok()["rotateWebhookSecret"]["endpoint"]["previousSecretExpiresAt"].is_string());
}

#[tokio::test]
async fn event_types_must_be_known_and_at_least_one() {
    let app = spawn_app().await;
    let r = app.as_(&app.vendor, "{ webhookEventTypes }", json!({})).await;
    let types = r.ok()["webhookEventTypes"].as_array().unwrap().clone();
    assert_eq!(types.len(), 16);
    assert!(types.contains(&json!("stop_list.decided")) && types.contains(&json!("webhook.test")));
    for (bad, reason) in [(json!(["payment.made"]), "UNKNOWN_EVENT_TYPE"), (json!([]), "NO_EVENT_TYPES")] {
        let r =
            app.as_(&app.vendor, CREATE, json!({ "i": { "url": "https://example.com/h", "eventTypes": bad } })).await;
        r.err("BAD_USER_INPUT").reason_is(reason);
        assert_eq!(r.field(), Some("eventTypes"));
    }
    // Cyrillic and very long names are refused as unknown, not echoed in full; a NUL byte is refused before
    // anything runs, like in every other string.
    let long = "я".repeat(5000);
    let r = app
        .as_(
            &app.vendor,
            CREATE,
            json!({ "i": { "url": "https://example.com/h", "eventTypes": ["payment.recorded\u{0}"] } }),
        )
        .await;
    r.err("BAD_USER_INPUT").reason_is("NUL_CHARACTER");
    for bad in ["платёж.создан", long.as_str()] {
        let r =
            app.as_(&app.vendor, CREATE, json!({ "i": { "url": "https://example.com/h", "eventTypes": [bad] } })).await;
        r.err("BAD_USER_INPUT").reason_is("UNKNOWN_EVENT_TYPE");
        assert!(r.0.to_string().len() < 1000);
    }
}

#[tokio::test]
async fn in_production_only_https_to_public_addresses_is_allowed() {
    let app = spawn_app_with(|c| c.webhook.allow_private = false).await;
    for url in [
        "http://example.com/hook",
        "https://127.0.0.1/hook",
        "https://127.1.2.3:8443/hook",
        "https://10.0.0.7/hook",
        "https://172.16.5.4/hook",
        "https://192.168.0.1/hook",
        "https://100.64.0.1/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]/hook",
        "https://[fd00:ec2::254]/hook",
        "https://[fe80::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://0.0.0.0/hook",
        "https://224.0.0.1/hook",
        "https://localhost/hook",
        "ftp://example.com/hook",
    ] {
        let r = app.as_(&app.vendor, CREATE, json!({ "i": { "url": url, "eventTypes": ["payment.recorded"] } })).await;
        r.err("BAD_USER_INPUT").reason_is("WEBHOOK_URL_NOT_ALLOWED");
        assert_eq!(r.field(), Some("url"), "{url}");
    }
    let r = app
        .as_(&app.vendor, CREATE, json!({ "i": { "url": "https://\u{0}/", "eventTypes": ["payment.recorded"] } }))
        .await;
    r.err("BAD_USER_INPUT").reason_is("NUL_CHARACTER");
    for url in ["not a url", "https://user:secret@example.com/h", "https://example.com/h#frag"] {
        let r = app.as_(&app.vendor, CREATE, json!({ "i": { "url": url, "eventTypes": ["payment.recorded"] } })).await;
        r.err("BAD_USER_INPUT").reason_is("INVALID_URL");
    }
    // A public literal address is accepted without any call to it.
    endpoint(&app, &app.vendor, "https://8.8.8.8:8443/hook", &["payment.recorded"]).await;
    // The same rules hold when an endpoint is changed.
    let (id, _) = endpoint(&app, &app.vendor, "https://1.1.1.1/hook", &["payment.recorded"]).await;
    let r = app
        .as_(
            &app.vendor,
            "mutation($id: ID!, $i: WebhookEndpointInput!) { updateWebhookEndpoint(id: $id, input: $i) { url } }",
            json!({ "id": id, "i": { "url": "https://127.0.0.1/x", "eventTypes": ["payment.recorded"] } }),
        )
        .await;
    r.err("BAD_USER_INPUT").reason_is("WEBHOOK_URL_NOT_ALLOWED");
}

#[tokio::test]
async fn development_allows_local_http_endpoints() {
    let app = spawn_app().await;
    assert!(app.state.config.webhook.allow_private, "the default outside production");
    endpoint(&app, &app.vendor, "http://127.0.0.1:9/hook", &["payment.recorded"]).await;
}

#[tokio::test]
async fn endpoints_are_updated_disabled_and_deleted_by_their_owner_only() {
    let app = spawn_app().await;
    let p = app.partner("P").await;
    let q = app.partner("Q").await;
    let (id, _) = endpoint(&app, &p.token, "https://example.com/a", &["payment.recorded"]).await;
    const UPDATE: &str = "mutation($id: ID!, $i: WebhookEndpointInput!) { updateWebhookEndpoint(id: $id, input: $i) { url eventTypes enabled description } }";
    let input = json!({ "url": "https://example.com/b", "eventTypes": ["client.bound"], "enabled": false, "description": "Битрикс24" });
    let r = app.as_(&p.token, UPDATE, json!({ "id": id, "i": input })).await;
    assert_eq!(
        r.ok()["updateWebhookEndpoint"],
        json!({ "url": "https://example.com/b", "eventTypes": ["client.bound"], "enabled": false, "description": "Битрикс24" })
    );
    // Another partner's owner, and the vendor, get the same answer as for an id that does not exist.
    let unknown = uuid::Uuid::now_v7().to_string();
    for (who, target) in [(&q.token, &id), (&app.vendor, &id), (&p.token, &unknown)] {
        app.as_(who, UPDATE, json!({ "id": target, "i": input })).await.err("NOT_FOUND");
        for op in [
            "mutation($id: ID!) { deleteWebhookEndpoint(id: $id) }",
            "mutation($id: ID!) { rotateWebhookSecret(id: $id) { secret } }",
            "mutation($id: ID!) { sendTestWebhook(endpointId: $id) { id } }",
        ] {
            app.as_(who, op, json!({ "id": target })).await.err("NOT_FOUND");
        }
        app.as_(who, DELIVERIES, json!({ "e": target })).await.err("NOT_FOUND");
    }
    let r = app.as_(&q.token, "{ webhookEndpoints { totalCount } }", json!({})).await;
    assert_eq!(r.ok()["webhookEndpoints"]["totalCount"], json!(0));
    // A disabled endpoint takes no test event.
    let r =
        app.as_(&p.token, "mutation($id: ID!) { sendTestWebhook(endpointId: $id) { id } }", json!({ "id": id })).await;
    r.err("CONFLICT").reason_is("WEBHOOK_ENDPOINT_DISABLED");
    let r = app.as_(&p.token, "mutation($id: ID!) { deleteWebhookEndpoint(id: $id) }", json!({ "id": id })).await;
    assert_eq!(r.ok()["deleteWebhookEndpoint"], json!(id));
    app.as_(&p.token, "mutation($id: ID!) { deleteWebhookEndpoint(id: $id) }", json!({ "id": id }))
        .await
        .err("NOT_FOUND");
}

#[tokio::test]
async fn only_owners_and_vendor_staff_manage_and_every_vendor_role_reads() {
    let app = spawn_app().await;
    let p = app.partner("P").await;
    let vendor_id = app.vendor_id().await;
    let v_user = app.member(&app.vendor, &vendor_id, "USER").await;
    let v_so = app.member(&app.vendor, &vendor_id, "SERVICE_OPERATOR").await;
    let p_so = app.member(&p.token, &p.subscriber_id, "SERVICE_OPERATOR").await;
    let c: Account = app.client_of(&p, "C").await;
    let (vid, _) = endpoint(&app, &v_so.token, "https://example.com/v", &["payment.recorded"]).await;
    let r = app.as_(&v_user.token, "{ webhookEndpoints { nodes { id } } }", json!({})).await;
    assert_eq!(r.ok()["webhookEndpoints"]["nodes"][0]["id"], json!(vid));
    assert_eq!(deliveries(&app, &v_user.token, Some(&vid)).await.len(), 0);
    let i = json!({ "i": { "url": "https://example.com/x", "eventTypes": ["payment.recorded"] } });
    for who in [&v_user.token, &p_so.token, &c.token] {
        app.as_(who, CREATE, i.clone()).await.err("FORBIDDEN");
    }
    app.as_(&v_user.token, "mutation($id: ID!) { sendTestWebhook(endpointId: $id) { id } }", json!({ "id": vid }))
        .await
        .err("FORBIDDEN");
    for who in [&p_so.token, &c.token] {
        app.as_(who, "{ webhookEndpoints { totalCount } }", json!({})).await.err("FORBIDDEN");
    }
    app.gql(None, "{ webhookEventTypes }", json!({})).await.err("UNAUTHENTICATED");
}

#[tokio::test]
async fn a_subscriber_has_at_most_twenty_endpoints_even_when_created_at_once() {
    let app = spawn_app().await;
    let p = app.partner("P").await;
    let calls: Vec<_> = (0..25)
        .map(|n| {
            app.spawn_gql(
                Some(&p.token),
                CREATE,
                json!({ "i": { "url": format!("https://example.com/{n}"), "eventTypes": ["payment.recorded"] } }),
            )
        })
        .collect();
    let mut made = 0;
    for c in calls {
        let (_, body) = c.await.unwrap();
        match body["errors"][0]["extensions"]["reason"].as_str() {
            None => made += 1,
            Some(r) => assert_eq!(r, "TOO_MANY_WEBHOOK_ENDPOINTS", "{body}"),
        }
    }
    assert_eq!(made, 20);
    assert_eq!(app.count("webhook_endpoints").await, 20);
}

#[tokio::test]
async fn a_rolled_back_change_queues_nothing_and_a_disabled_endpoint_gets_nothing() {
    let app = spawn_app().await;
    let p = app.partner("P").await;
    let (on, _) = endpoint(&app, &p.token, "https://example.com/on", ALL).await;
    let (off, _) = endpoint(&app, &p.token, "https://example.com/off", ALL).await;
    app.as_(
        &p.token,
        "mutation($id: ID!, $i: WebhookEndpointInput!) { updateWebhookEndpoint(id: $id, input: $i) { enabled } }",
        json!({ "id": off, "i": { "url": "https://example.com/off", "eventTypes": ALL, "enabled": false } }),
    )
    .await
    .ok();
    // Registering a client binds it and creates its welcome call (both queue events) before it inserts
    // the owner's invitation; a trigger makes that insert fail, so the whole transaction rolls back.
    let db = &app.state.db;
    let backend = sea_orm::ConnectionTrait::get_database_backend(db);
    let (install, remove): (&[&str], &[&str]) = match backend {
        sea_orm::DbBackend::Postgres => (
            &[
                "CREATE FUNCTION fail_invitation() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'boom'; END $$ LANGUAGE plpgsql",
                "CREATE TRIGGER fail_invitation BEFORE INSERT ON invitations FOR EACH ROW EXECUTE FUNCTION fail_invitation()",
            ],
            &["DROP TRIGGER fail_invitation ON invitations"],
        ),
        _ => (
            &["CREATE TRIGGER fail_invitation BEFORE INSERT ON invitations BEGIN SELECT RAISE(ABORT, 'boom'); END"],
            &["DROP TRIGGER fail_invitation"],
        ),
    };
    for sql in install {
        sea_orm::ConnectionTrait::execute_unprepared(db, sql).await.unwrap();
    }
    let r = app
        .as_(
            &p.token,
            "mutation { registerClient(input: {name: \"Lost\", ownerEmail: \"lost@example.test\"}) { token } }",
            json!({}),
        )
        .await;
    r.err("INTERNAL_SERVER_ERROR");
    assert!(!r.0.to_string().contains("boom"), "no database text reaches the caller");
    assert_eq!(app.count("webhook_deliveries").await, 0, "the rolled-back registration queued nothing");
    for sql in remove {
        sea_orm::ConnectionTrait::execute_unprepared(db, sql).await.unwrap();
    }
    app.as_(
        &p.token,
        "mutation { registerClient(input: {name: \"C\", ownerEmail: \"c@example.test\"}) { token } }",
        json!({}),
    )
    .await
    .ok();
    let got: Vec<String> = deliveries(&app, &p.token, Some(&on))
        .await
        .iter()
        .map(|d| d["eventType"].as_str().unwrap().to_owned())
        .collect();
    let mut sorted = got.clone();
    sorted.sort();
    assert_eq!(sorted, ["client.bound", "client.registered", "task.created"], "one registration's events: {got:?}");
    assert!(deliveries(&app, &p.token, Some(&off)).await.is_empty(), "a disabled endpoint gets nothing queued");
    assert_eq!(app.count("webhook_deliveries").await, 3);
}
