//! Live partner events over `graphql-transport-ws` at `/graphql/ws`: delivery to the partner concerned
//! and nobody else, the protocol's close codes, who may subscribe, and fan-out across two replicas on
//! PostgreSQL. A WebSocket needs a real socket, so these tests serve the real router on 127.0.0.1:0.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use partnergraph::app::{AppState, router};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::helpers::{Account, TestApp, email, inn, spawn_app, spawn_app_with, test_config};

pub(crate) const EVENTS: &str = "subscription { events { kind at subjectId message } }";
/// The longest a test waits for something that should arrive.
pub(crate) const WAIT: Duration = Duration::from_secs(2);
/// How long a test listens for something that must not arrive.
pub(crate) const QUIET: Duration = Duration::from_millis(500);

/// Serves the router on an ephemeral local port, for as long as the test's runtime lives.
pub(crate) async fn serve(router: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    addr
}

/// A `graphql-transport-ws` client.
pub(crate) struct Ws(WebSocketStream<MaybeTlsStream<TcpStream>>);

impl Ws {
    pub(crate) async fn connect(addr: SocketAddr) -> Ws {
        let mut req = format!("ws://{addr}/graphql/ws").into_client_request().expect("request");
        req.headers_mut().insert("sec-websocket-protocol", "graphql-transport-ws".parse().expect("header"));
        let (ws, resp) = tokio_tungstenite::connect_async(req).await.expect("WebSocket handshake");
        assert_eq!(resp.headers()["sec-websocket-protocol"], "graphql-transport-ws");
        Ws(ws)
    }

    pub(crate) async fn send(&mut self, message: Value) {
        self.send_text(&message.to_string()).await;
    }

    pub(crate) async fn send_text(&mut self, text: &str) {
        self.0.send(Message::text(text)).await.expect("send");
    }

    /// The next protocol message within `within`, `None` when nothing came; panics on a close.
    pub(crate) async fn next_within(&mut self, within: Duration) -> Option<Value> {
        loop {
            match tokio::time::timeout(within, self.0.next()).await {
                Err(_) => return None,
                Ok(Some(Ok(Message::Text(t)))) => return Some(serde_json::from_str(&t).expect("JSON message")),
                Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
                Ok(other) => panic!("expected a message, got {other:?}"),
            }
        }
    }

    pub(crate) async fn next(&mut self) -> Value {
        self.next_within(WAIT).await.expect("a message in time")
    }

    /// Waits for the server's close frame; returns its code and reason.
    pub(crate) async fn closed(&mut self) -> (u16, String) {
        self.closed_within(WAIT).await
    }

    /// The close frame within `within`; panics on any other message (an event, say) before it.
    pub(crate) async fn closed_within(&mut self, within: Duration) -> (u16, String) {
        loop {
            match tokio::time::timeout(within, self.0.next()).await.expect("closed in time") {
                Some(Ok(Message::Close(Some(frame)))) => return (frame.code.into(), frame.reason.to_string()),
                Some(Ok(Message::Text(t))) => panic!("expected a close, got {t}"),
                Some(Ok(_)) => continue,
                other => panic!("expected a close frame, got {other:?}"),
            }
        }
    }

    pub(crate) async fn init(&mut self, token: &str) {
        self.send(json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } }))
            .await;
        assert_eq!(self.next().await, json!({ "type": "connection_ack" }));
    }

    pub(crate) async fn subscribe(&mut self, id: &str, query: &str) {
        self.send(json!({ "type": "subscribe", "id": id, "payload": { "query": query } })).await;
    }

    /// The next `next` payload's event for operation `id`.
    pub(crate) async fn event(&mut self, id: &str) -> Value {
        let m = self.next().await;
        assert_eq!((m["type"].as_str(), m["id"].as_str()), (Some("next"), Some(id)), "{m}");
        assert!(m["payload"].get("errors").is_none(), "{m}");
        m["payload"]["data"]["events"].clone()
    }
}

/// A connection of `account` to `addr`, subscribed to `events` as operation "1".
pub(crate) async fn listen(addr: SocketAddr, account: &Account) -> Ws {
    let mut ws = Ws::connect(addr).await;
    ws.init(&account.token).await;
    ws.subscribe("1", EVENTS).await;
    ws
}

/// Waits until `n` subscriptions read from this process's bus and events published anywhere reach it:
/// the subscribe message has no answer, so this is how a test knows it is safe to cause an event.
pub(crate) async fn subscribed(state: &AppState, n: usize) {
    tokio::time::timeout(Duration::from_secs(5), async {
        state.events.ready().await;
        while state.events.subscriber_count() < n {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the subscriptions are registered in time");
}

/// A partner (status AGENT in 1C-CONNECT) with a locked client and a tariff that earns it a commission.
pub(crate) async fn paying_client(app: &TestApp, name: &str, n: u32) -> (Account, Account, String) {
    app.presets().await;
    let tariff = app.tariff(&format!("SAAS-{n}"), "1C-CONNECT", "SAAS_CORPORATE", "1000.00", &[12], 0).await;
    let partner = app.partner(name).await;
    app.set_status(&partner.subscriber_id, "1C-CONNECT", "AGENT").await;
    let client = app.client_with_inn(&partner, &format!("{name} client"), &inn(n)).await;
    app.lock(&partner, &inn(n)).await;
    (partner, client, tariff)
}

#[tokio::test]
async fn a_partner_owner_hears_of_its_clients_payment_and_commission_while_another_partner_hears_nothing() {
    let app = spawn_app().await;
    let addr = serve(app.router.clone()).await;
    let (partner, client, tariff) = paying_client(&app, "Serving", 1).await;
    let other = app.partner("Other").await;
    let mut mine = listen(addr, &partner).await;
    let mut theirs = listen(addr, &other).await;
    subscribed(&app.state, 2).await;

    let r = app.pay(&client.subscriber_id, &tariff, 12, "100000.00", "ws-pay-1").await;
    let pay = &r.ok()["recordPayment"];
    let first = mine.event("1").await;
    let second = mine.event("1").await;
    assert_eq!(first["kind"], "PAYMENT_RECORDED");
    assert_eq!(first["subjectId"], pay["id"]);
    assert!(first["message"].as_str().unwrap().contains("Serving client"), "{first}");
    assert!(first["at"].as_str().is_some_and(|a| a.parse::<chrono::DateTime<chrono::Utc>>().is_ok()), "{first}");
    assert_eq!(second["kind"], "COMMISSION_ACCRUED");
    assert_eq!(second["subjectId"], pay["commissions"][0]["id"]);
    assert!(second["message"].as_str().unwrap().contains("10000.00"), "{second}");
    assert_eq!(theirs.next_within(QUIET).await, None, "another partner hears nothing");

    // Repeating the payment (same externalId) is a replay: nothing new happened, nothing is told.
    app.pay(&client.subscriber_id, &tariff, 12, "100000.00", "ws-pay-1").await.ok();
    assert_eq!(mine.next_within(QUIET).await, None, "an idempotent replay raises no event");
}

#[tokio::test]
async fn a_partner_hears_when_its_new_clients_owner_accepts_the_invitation() {
    let app = spawn_app().await;
    let addr = serve(app.router.clone()).await;
    let partner = app.partner("Inviting").await;
    let operator = app.member(&partner.token, &partner.subscriber_id, "SERVICE_OPERATOR").await;
    let mut ws = listen(addr, &operator).await;
    subscribed(&app.state, 1).await;

    let r = app
        .as_(
            &partner.token,
            "mutation($o: String!) { registerClient(input: {name: \"Joining Ltd\", ownerEmail: $o}) { token invitation { id } } }",
            json!({ "o": email("joining") }),
        )
        .await;
    let d = r.ok()["registerClient"].clone();
    app.accept_new(d["token"].as_str().unwrap(), "joining").await;

    let event = ws.event("1").await;
    assert_eq!(event["kind"], "INVITATION_ACCEPTED");
    assert_eq!(event["subjectId"], d["invitation"]["id"]);
    assert!(event["message"].as_str().unwrap().contains("Joining Ltd"), "{event}");
}

#[tokio::test]
async fn a_partner_hears_the_vendors_decision_on_its_stop_list_request() {
    let app = spawn_app().await;
    let addr = serve(app.router.clone()).await;
    let partner = app.partner("Locking").await;
    let other = app.partner("Bystander").await;
    let mut ws = listen(addr, &partner).await;
    let mut bystander = listen(addr, &other).await;
    subscribed(&app.state, 2).await;

    let id = app.lock(&partner, &inn(7)).await;
    let event = ws.event("1").await;
    assert_eq!(event["kind"], "STOP_LIST_DECIDED");
    assert_eq!(event["subjectId"], id.as_str());
    assert!(event["message"].as_str().unwrap().contains("approved"), "{event}");
    assert_eq!(bystander.next_within(QUIET).await, None);
}

#[tokio::test]
async fn only_a_partners_owner_or_service_operator_may_subscribe_others_get_a_coded_error() {
    let app = spawn_app().await;
    let addr = serve(app.router.clone()).await;
    let partner = app.partner("Partner").await;
    let client = app.client_of(&partner, "Client").await;
    let admin = app.member(&partner.token, &partner.subscriber_id, "ADMIN").await;
    let vendor = Account {
        token: app.vendor.clone(),
        subscriber_id: app.vendor_id().await,
        email: String::new(),
        membership_id: String::new(),
    };
    for who in [&client, &admin, &vendor] {
        let mut ws = listen(addr, who).await;
        let m = ws.next().await;
        assert_eq!((m["type"].as_str(), m["id"].as_str()), (Some("error"), Some("1")), "{m}");
        assert_eq!(m["payload"][0]["extensions"]["code"], "FORBIDDEN", "{m}");
        // The connection stays usable after a refused operation.
        ws.send(json!({ "type": "ping" })).await;
        assert_eq!(ws.next().await, json!({ "type": "pong" }));
    }
    assert_eq!(app.state.events.subscriber_count(), 0, "a refused subscription reads nothing");
}

#[tokio::test]
async fn a_missing_or_bad_token_closes_the_socket_with_4403() {
    let app = spawn_app().await;
    let addr = serve(app.router.clone()).await;
    let inits = [
        json!({ "type": "connection_init" }),
        json!({ "type": "connection_init", "payload": {} }),
        json!({ "type": "connection_init", "payload": { "Authorization": "Bearer not-a-token" } }),
        json!({ "type": "connection_init", "payload": { "Authorization": format!("Basic {}", app.vendor) } }),
    ];
    for init in inits {
        let mut ws = Ws::connect(addr).await;
        ws.send(init.clone()).await;
        assert_eq!(ws.closed().await, (4403, "Forbidden".to_owned()), "{init}");
    }
    // The closes are counted in /metrics (the server may still be finishing the last one).
    let mut text = String::new();
    for _ in 0..100 {
        let req = axum::http::Request::get("/metrics").body(axum::body::Body::empty()).unwrap();
        text = app.raw(req).await.body;
        if text.contains("partnergraph_ws_closes_total{code=\"4403\"} 4") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(text.contains("partnergraph_ws_closes_total{code=\"4403\"} 4"), "{text}");
}

#[tokio::test]
async fn a_subscribe_before_the_ack_closes_with_4401() {
    let app = spawn_app().await;
    let addr = serve(app.router.clone()).await;
    let mut ws = Ws::connect(addr).await;
    ws.subscribe("1", EVENTS).await;
    assert_eq!(ws.closed().await, (4401, "Unauthorized".to_owned()));
}

#[tokio::test]
async fn no_connection_init_in_time_closes_with_4408() {
    let app = spawn_app_with(|c| c.ws.init_timeout = Duration::from_millis(200)).await;
    let addr = serve(app.router.clone()).await;
    let mut ws = Ws::connect(addr).await;
    assert_eq!(ws.closed().await, (4408, "Connection initialisation timeout".to_owned()));
}

#[tokio::test]
async fn a_second_connection_init_closes_with_4429() {
    let app = spawn_app().await;
    let addr = serve(app.router.clone()).await;
    let mut ws = Ws::connect(addr).await;
    ws.init(&app.vendor).await;
    ws.send(json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {}", app.vendor) } }))
        .await;
    assert_eq!(ws.closed().await, (4429, "Too many initialisation requests".to_owned()));
}

#[tokio::test]
async fn subscribing_twice_with_an_active_id_closes_with_4409() {
    let app = spawn_app().await;
    let addr = serve(app.router.clone()).await;
    let partner = app.partner("Partner").await;
    let mut ws = listen(addr, &partner).await;
    subscribed(&app.state, 1).await;
    ws.subscribe("1", EVENTS).await;
    assert_eq!(ws.closed().await, (4409, "Subscriber for 1 already exists".to_owned()));
}

/// The safety net: a membership that ends with no signal on the bus (here, deleted straight in the
/// database) still closes an idle connection at the next periodic check.
#[tokio::test]
async fn a_membership_that_ends_without_a_signal_is_caught_by_the_periodic_check() {
    let app = spawn_app_with(|c| c.ws.recheck = Duration::from_millis(100)).await;
    let addr = serve(app.router.clone()).await;
    let partner = app.partner("Partner").await;
    let operator = app.member(&partner.token, &partner.subscriber_id, "SERVICE_OPERATOR").await;
    // The set-up's invitation event must not reach the socket opened next (it would come before the close).
    crate::ws_access::settled(&app.state).await;
    let mut ws = listen(addr, &operator).await;
    subscribed(&app.state, 1).await;
    crate::ws_access::delete_membership(&app, &operator).await;
    assert_eq!(ws.closed().await, (4403, "Forbidden".to_owned()));
}

#[tokio::test]
async fn invalid_json_an_unknown_type_or_a_malformed_message_closes_with_4400() {
    let app = spawn_app().await;
    let addr = serve(app.router.clone()).await;
    let cases = [
        "{not json",
        r#"{"type":"shout"}"#,
        r#"{"id":"1"}"#,
        r#"{"type":"subscribe","id":"1"}"#,
        r#"{"type":"subscribe","id":"1","payload":{"query":42}}"#,
        r#"{"type":"connection_init","payload":"Bearer x"}"#,
    ];
    for text in cases {
        let mut ws = Ws::connect(addr).await;
        ws.send_text(text).await;
        let (code, reason) = ws.closed().await;
        assert_eq!(code, 4400, "{text}: {reason}");
        assert!(reason.starts_with("Invalid message"), "{text}: {reason}");
    }
}

#[tokio::test]
async fn complete_from_the_client_stops_the_operation_and_frees_its_id() {
    let app = spawn_app().await;
    let addr = serve(app.router.clone()).await;
    let partner = app.partner("Partner").await;
    let mut ws = listen(addr, &partner).await;
    subscribed(&app.state, 1).await;
    ws.send(json!({ "type": "complete", "id": "1" })).await;
    tokio::time::timeout(WAIT, async {
        while app.state.events.subscriber_count() > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the subscription stops reading");
    // The id is free again, and the new operation receives events.
    ws.subscribe("1", EVENTS).await;
    subscribed(&app.state, 1).await;
    let id = app.lock(&partner, &inn(3)).await;
    assert_eq!(ws.event("1").await["subjectId"], id.as_str());
}

#[tokio::test]
async fn queries_over_the_socket_get_a_coded_error_pings_get_pongs_and_operations_are_capped() {
    let app = spawn_app_with(|c| c.ws.max_operations = 2).await;
    let addr = serve(app.router.clone()).await;
    let partner = app.partner("Partner").await;
    let mut ws = Ws::connect(addr).await;
    ws.send(json!({ "type": "ping" })).await;
    assert_eq!(ws.next().await, json!({ "type": "pong" }), "ping is answered before the ack too");
    ws.init(&partner.token).await;

    ws.subscribe("q", "{ me { subscriber { id } } }").await;
    let m = ws.next().await;
    assert_eq!((m["type"].as_str(), m["id"].as_str()), (Some("error"), Some("q")), "{m}");
    assert_eq!(m["payload"][0]["extensions"]["code"], "BAD_USER_INPUT");
    assert_eq!(m["payload"][0]["extensions"]["reason"], "NOT_A_SUBSCRIPTION");

    ws.subscribe("bad", "subscription { events { nope } }").await;
    let m = ws.next().await;
    assert_eq!((m["type"].as_str(), m["id"].as_str()), (Some("error"), Some("bad")), "{m}");
    assert_eq!(m["payload"][0]["extensions"]["code"], "GRAPHQL_VALIDATION_FAILED", "{m}");

    ws.subscribe("a", EVENTS).await;
    ws.subscribe("b", EVENTS).await;
    ws.subscribe("c", EVENTS).await;
    let m = ws.next().await;
    assert_eq!((m["type"].as_str(), m["id"].as_str()), (Some("error"), Some("c")), "{m}");
    assert_eq!(m["payload"][0]["extensions"]["reason"], "TOO_MANY_OPERATIONS", "{m}");
}

#[tokio::test]
async fn an_oversized_message_closes_the_socket() {
    let app = spawn_app_with(|c| c.ws.max_message = 4096).await;
    let addr = serve(app.router.clone()).await;
    let mut ws = Ws::connect(addr).await;
    ws.send_text(&format!(r#"{{"type":"ping","payload":{{"x":"{}"}}}}"#, "x".repeat(8192))).await;
    assert_eq!(ws.closed().await.0, 1009);
}

#[tokio::test]
async fn a_subscription_sent_over_http_is_refused_with_a_code() {
    let app = spawn_app().await;
    let partner = app.partner("Partner").await;
    let r = app.as_(&partner.token, EVENTS, json!({})).await;
    r.err("BAD_USER_INPUT").reason_is("SUBSCRIPTION_OVER_HTTP");
}

#[tokio::test]
async fn an_upgrade_without_the_graphql_transport_ws_subprotocol_is_refused() {
    let app = spawn_app().await;
    let addr = serve(app.router.clone()).await;
    let req = format!("ws://{addr}/graphql/ws").into_client_request().expect("request");
    let err = tokio_tungstenite::connect_async(req).await.expect_err("refused");
    match err {
        tokio_tungstenite::tungstenite::Error::Http(resp) => assert_eq!(resp.status(), 400),
        other => panic!("expected an HTTP refusal, got {other:?}"),
    }
}

/// Two replicas behind a load balancer share one PostgreSQL database: an event caused through one
/// reaches a subscriber connected to the other. On SQLite there is one process by construction (the
/// database is a local file and events are broadcast in-process), so there is no second replica to test.
#[tokio::test]
async fn an_event_raised_on_one_replica_reaches_a_subscriber_connected_to_another() {
    let app = spawn_app().await;
    if !app.state.config.database_url.starts_with("postgres") {
        return;
    }
    let replica = AppState::connect(test_config(&app.state.config.database_url)).await.expect("second replica");
    let addr2 = serve(router(replica.clone())).await;
    let (partner, client, tariff) = paying_client(&app, "Replicated", 11).await;
    let mut ws = listen(addr2, &partner).await;
    subscribed(&replica, 1).await;
    app.state.events.ready().await;

    // Caused through replica 1 (the app's own router), heard on replica 2.
    let r = app.pay(&client.subscriber_id, &tariff, 12, "100000.00", "replicated-1").await;
    let first = ws.event("1").await;
    assert_eq!(first["kind"], "PAYMENT_RECORDED");
    assert_eq!(first["subjectId"], r.ok()["recordPayment"]["id"]);
    assert_eq!(ws.event("1").await["kind"], "COMMISSION_ACCRUED");
    assert_eq!(ws.next_within(QUIET).await, None, "each event arrives once");
}

#[tokio::test]
async fn a_partner_hears_of_a_lead_assigned_to_it_and_the_other_pool_member_does_not() {
    use partnergraph::domain::leads::Quarter;
    let app = spawn_app().await;
    let tariff = crate::leads::fresh(&app).await;
    let first = crate::leads::eligible(&app, "First").await;
    let second = crate::leads::eligible(&app, "Second").await;
    crate::leads::contracts(&app, &first, &tariff, 2, 12).await;
    crate::leads::contracts(&app, &second, &tariff, 1, 12).await;
    let today = app.state.clock.now().date_naive();
    let until = today + chrono::Duration::days(90);
    crate::leads::publish(&app, &Quarter::of(today).to_string(), &today.to_string(), &until.to_string()).await;
    let addr = serve(app.router.clone()).await;
    let mut hears = listen(addr, &first).await;
    let mut other = listen(addr, &second).await;
    subscribed(&app.state, 2).await;
    // The first lead goes to the better-ranked member.
    let lead = crate::leads::self_register(&app, "Fresh Lead").await;
    let e = hears.event("1").await;
    assert_eq!(e["kind"], "LEAD_ASSIGNED");
    assert_eq!(e["subjectId"], lead["id"]);
    assert_eq!(other.next_within(QUIET).await, None);
}
