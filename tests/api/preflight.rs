//! Nothing a caller sends can crash, hang or bloat the service: deep nesting, fragment fan-out and
//! credential floods are refused before async-graphql's recursive walkers see them, on every transport
//! (POST, GET, WebSocket); the operation type each transport allows is checked on the operation that
//! will actually run; WebSocket subscribes draw from the HTTP rate limit; hashing is bounded; a request
//! that runs too long is stopped with a code.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::helpers::{PASSWORD, TestApp, VENDOR_EMAIL, email, spawn_app, spawn_app_with};

/// Percent-encodes a query-string value.
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl TestApp {
    /// `GET /graphql` as `token`: the status and the body as JSON.
    async fn get(
        &self,
        token: Option<&str>,
        query: &str,
        operation: Option<&str>,
        vars: Option<&Value>,
    ) -> (StatusCode, Value) {
        let mut uri = format!("/graphql?query={}", enc(query));
        if let Some(op) = operation {
            uri.push_str(&format!("&operationName={}", enc(op)));
        }
        if let Some(v) = vars {
            uri.push_str(&format!("&variables={}", enc(&v.to_string())));
        }
        let mut req = Request::get(uri);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let raw = self.raw(req.body(Body::empty()).unwrap()).await;
        (raw.status, raw.json())
    }
}

fn code(v: &Value) -> (&str, &str) {
    let ext = &v["errors"][0]["extensions"];
    (ext["code"].as_str().unwrap_or("NO_CODE"), ext["reason"].as_str().unwrap_or("NO_REASON"))
}

/// Serves the router on an ephemeral local port (a WebSocket needs a real socket).
async fn serve(router: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    addr
}

/// A signed-in `graphql-transport-ws` connection.
struct Ws(WebSocketStream<MaybeTlsStream<TcpStream>>);

impl Ws {
    async fn open(addr: SocketAddr, token: &str) -> Ws {
        let mut req = format!("ws://{addr}/graphql/ws").into_client_request().unwrap();
        req.headers_mut().insert("sec-websocket-protocol", "graphql-transport-ws".parse().unwrap());
        let (ws, _) = tokio_tungstenite::connect_async(req).await.expect("WebSocket handshake");
        let mut ws = Ws(ws);
        ws.send(json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } })).await;
        assert_eq!(ws.next().await, json!({ "type": "connection_ack" }));
        ws
    }

    async fn send(&mut self, v: Value) {
        self.0.send(Message::text(v.to_string())).await.expect("send");
    }

    async fn subscribe(&mut self, id: &str, query: &str, operation: Option<&str>, variables: Value) {
        self.send(json!({ "type": "subscribe", "id": id, "payload": { "query": query, "operationName": operation, "variables": variables } }))
            .await;
    }

    async fn next(&mut self) -> Value {
        loop {
            match tokio::time::timeout(Duration::from_secs(10), self.0.next()).await.expect("a message in time") {
                Some(Ok(Message::Text(t))) => return serde_json::from_str(&t).expect("JSON"),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                other => panic!("expected a message, got {other:?}"),
            }
        }
    }

    /// The `error` message of operation `id`: its first error's code and reason.
    async fn error_of(&mut self, id: &str) -> (String, String) {
        let m = self.next().await;
        assert_eq!((m["type"].as_str(), m["id"].as_str()), (Some("error"), Some(id)), "{m}");
        let ext = &m["payload"][0]["extensions"];
        (ext["code"].as_str().unwrap_or("NO_CODE").to_owned(), ext["reason"].as_str().unwrap_or("NO_REASON").to_owned())
    }
}

fn nested_list(levels: usize) -> String {
    format!("{}1{}", "[".repeat(levels), "]".repeat(levels))
}

fn nested_object(levels: usize) -> String {
    format!("{}1{}", "{a:".repeat(levels), "}".repeat(levels))
}

#[tokio::test]
async fn argument_values_nested_thousands_deep_are_refused_before_parsing_on_every_transport() {
    let app = spawn_app().await;
    let addr = serve(app.router.clone()).await;
    // A few hundred levels got through the parser and overflowed a worker's stack after it; a few
    // thousand overflowed inside it.
    let mut deep = Vec::new();
    for levels in [300, 600, 2000] {
        deep.push(format!("query {{ subscribers(search: {}) {{ totalCount }} }}", nested_list(levels)));
        deep.push(format!("query {{ subscribers(search: {}) {{ totalCount }} }}", nested_object(levels)));
        deep.push(format!("query {}", "{ a ".repeat(levels)));
        deep.push(format!("query($v: {}Int{}) {{ __typename }}", "[".repeat(levels), "]".repeat(levels)));
    }
    for q in &deep {
        let r = app.gql(None, q, json!({})).await;
        assert_eq!(code(&r.0), ("GRAPHQL_PARSE_FAILED", "NESTING_TOO_DEEP"), "POST {}", &q[..40]);
        let (status, body) = app.get(None, q, None, None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(code(&body), ("GRAPHQL_PARSE_FAILED", "NESTING_TOO_DEEP"), "GET {}", &q[..40]);
    }
    let mut ws = Ws::open(addr, &app.vendor).await;
    ws.subscribe("deep", &format!("subscription {{ events(x: {}) {{ kind }} }}", nested_list(2000)), None, json!({}))
        .await;
    assert_eq!(ws.error_of("deep").await, ("GRAPHQL_PARSE_FAILED".into(), "NESTING_TOO_DEEP".into()));
    // The process is alive and serves the next request.
    assert_eq!(app.gql(None, "{ __typename }", json!({})).await.ok()["__typename"], "QueryRoot");
    // Brackets inside strings and comments are not nesting.
    let quoted = format!("{{ __typename # {}\n }}", "{".repeat(5000));
    app.gql(None, &quoted, json!({})).await.ok();
}

#[tokio::test]
async fn variables_nested_deeper_than_the_limit_are_refused_on_every_transport() {
    let app = spawn_app().await;
    let addr = serve(app.router.clone()).await;
    let mut deep = json!("x");
    for _ in 0..40 {
        deep = json!([deep]);
    }
    let q = "query($s: String) { subscribers(search: $s) { totalCount } }";
    let r = app.as_(&app.vendor, q, json!({ "s": deep })).await;
    assert_eq!(code(&r.0), ("BAD_USER_INPUT", "NESTING_TOO_DEEP"));
    let (_, body) = app.get(Some(&app.vendor), q, None, Some(&json!({ "s": deep }))).await;
    assert_eq!(code(&body), ("BAD_USER_INPUT", "NESTING_TOO_DEEP"));
    let mut ws = Ws::open(addr, &app.vendor).await;
    ws.subscribe("v", "subscription($s: String) { events { kind } }", None, json!({ "s": deep })).await;
    assert_eq!(ws.error_of("v").await, ("BAD_USER_INPUT".into(), "NESTING_TOO_DEEP".into()));
    // Within the limit the nesting is fine (and the value is then simply not a String).
    let mut shallow = json!("x");
    for _ in 0..30 {
        shallow = json!([shallow]);
    }
    let r = app.as_(&app.vendor, q, json!({ "s": shallow })).await;
    assert_ne!(r.reason(), Some("NESTING_TOO_DEEP"), "{}", r.0);
    assert_ne!(r.code(), Some("INTERNAL_SERVER_ERROR"));
}

#[tokio::test]
async fn a_query_nested_to_the_largest_configurable_depth_is_answered_not_crashed() {
    let max = partnergraph::config::MAX_NESTING;
    let app = spawn_app_with(|c| c.limits.max_nesting = max).await;
    // `subscribers(…)` and `{ totalCount }` take three levels; the argument value the rest.
    for value in [nested_list(max - 2), nested_object(max - 2)] {
        let q = format!("query {{ subscribers(search: {value}) {{ totalCount }} }}");
        let r = app.as_(&app.vendor, &q, json!({})).await;
        assert_eq!(r.code(), Some("GRAPHQL_VALIDATION_FAILED"), "{}", r.0);
    }
    let q = format!("query {{ subscribers(search: {}) {{ totalCount }} }}", nested_list(max - 1));
    app.as_(&app.vendor, &q, json!({})).await.err("GRAPHQL_PARSE_FAILED").reason_is("NESTING_TOO_DEEP");
}

/// `n` fragments, each spreading the next one twice: 2^n fields once expanded, in a few hundred bytes.
fn fan_out(n: usize) -> String {
    let mut q = String::from("query { ...F0 } ");
    for i in 0..n {
        q.push_str(&format!("fragment F{i} on QueryRoot {{ ...F{j} ...F{j} }} ", j = i + 1));
    }
    q.push_str(&format!("fragment F{n} on QueryRoot {{ __typename }}"));
    q
}

#[tokio::test]
async fn fragment_fan_out_is_refused_by_its_expanded_size_before_any_walker_runs() {
    let app = spawn_app().await;
    // 2^13 fields once expanded (the old walkers ran it): over the default budget of 5,000.
    app.gql(None, &fan_out(13), json!({})).await.err("GRAPHQL_VALIDATION_FAILED").reason_is("TOO_MANY_FIELDS");
    // 2^27 (1.2 KB): over ten seconds of CPU before; refused as fast as the small one.
    let q = fan_out(27);
    assert!(q.len() < 1500);
    app.gql(None, &q, json!({})).await.err("GRAPHQL_VALIDATION_FAILED").reason_is("TOO_MANY_FIELDS");
    // A cycle that doubles: the library's recursion check would follow it 32 levels deep (2^32).
    app.gql(None, "{ ...A } fragment A on QueryRoot { ...A ...A __typename }", json!({}))
        .await
        .err("GRAPHQL_VALIDATION_FAILED")
        .reason_is("FRAGMENT_CYCLE");
    // An unused chain of 20,000 fragments: validation's cycle detector recursed once per link.
    let mut chain = String::from("{ __typename } ");
    for i in 0..20_000 {
        chain.push_str(&format!("fragment C{i} on QueryRoot {{ ...C{} }} ", i + 1));
    }
    chain.push_str("fragment C20000 on QueryRoot { __typename }");
    app.gql(None, &chain, json!({})).await.err("GRAPHQL_VALIDATION_FAILED").reason_is("TOO_MANY_FIELDS");
    // Under the budget, fragments work as before.
    let r = app.gql(None, &fan_out(3), json!({})).await;
    assert_eq!(r.ok()["__typename"], "QueryRoot");
    let app = spawn_app_with(|c| c.limits.max_expanded_fields = 100_000).await;
    app.gql(None, &fan_out(13), json!({})).await.err("GRAPHQL_VALIDATION_FAILED").reason_is("TOO_MANY_ROOT_FIELDS");
}

#[tokio::test]
async fn an_ambiguous_or_unknown_operation_gets_a_coded_error_on_every_transport() {
    let app = spawn_app().await;
    let two = "query A { __typename } query B { __typename }";
    app.gql(None, two, json!({})).await.err("GRAPHQL_VALIDATION_FAILED").reason_is("OPERATION_NAME_REQUIRED");
    let (_, body) = app.get(None, two, Some("C"), None).await;
    assert_eq!(code(&body), ("GRAPHQL_VALIDATION_FAILED", "UNKNOWN_OPERATION"));
    let (_, body) = app.get(None, "{ __typename }", Some("A"), None).await;
    assert_eq!(code(&body), ("GRAPHQL_VALIDATION_FAILED", "UNKNOWN_OPERATION"), "an anonymous operation has no name");
    let (status, body) = app.get(None, two, Some("B"), None).await;
    assert_eq!((status, &body["data"]["__typename"]), (StatusCode::OK, &json!("QueryRoot")));
    // An empty operationName names nothing.
    let (status, body) = app.get(None, "query A { __typename }", Some(""), None).await;
    assert_eq!((status, &body["data"]["__typename"]), (StatusCode::OK, &json!("QueryRoot")), "{body}");
}

#[tokio::test]
async fn a_named_mutation_over_get_is_refused_and_creates_nothing() {
    let app = spawn_app().await;
    let before = app.count("subscribers").await;
    let create = |name: &str| {
        format!(
            "mutation {name} {{ createPartner(input: {{name: \"GET\", ownerEmail: \"{}\"}}) {{ token }} }}",
            email("get")
        )
    };
    // A single named mutation, without operationName, is the operation that would run.
    let (status, body) = app.get(Some(&app.vendor), &create("X"), None, None).await;
    assert_eq!((status, code(&body)), (StatusCode::METHOD_NOT_ALLOWED, ("BAD_USER_INPUT", "MUTATION_OVER_GET")));
    let (status, _) = app.get(Some(&app.vendor), &create("X"), Some("X"), None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    let (status, body) = app.get(Some(&app.vendor), "subscription S { events { kind } }", None, None).await;
    assert_eq!((status, code(&body)), (StatusCode::METHOD_NOT_ALLOWED, ("BAD_USER_INPUT", "SUBSCRIPTION_OVER_HTTP")));
    assert_eq!(app.count("subscribers").await, before, "nothing was created");
    // A named query runs over GET.
    let (status, body) = app.get(Some(&app.vendor), "query Me { me { role } }", None, None).await;
    assert_eq!((status, &body["data"]["me"]["role"]), (StatusCode::OK, &json!("OWNER")));
}

#[tokio::test]
async fn named_queries_and_mutations_over_the_websocket_are_refused_and_run_nothing() {
    let app = spawn_app().await;
    let addr = serve(app.router.clone()).await;
    let before = app.count("subscribers").await;
    let mut ws = Ws::open(addr, &app.vendor).await;
    ws.subscribe("q", "query Q { me { role } }", None, json!({})).await;
    assert_eq!(ws.error_of("q").await, ("BAD_USER_INPUT".into(), "NOT_A_SUBSCRIPTION".into()));
    let m =
        format!("mutation M {{ createPartner(input: {{name: \"WS\", ownerEmail: \"{}\"}}) {{ token }} }}", email("ws"));
    ws.subscribe("m", &m, None, json!({})).await;
    assert_eq!(ws.error_of("m").await, ("BAD_USER_INPUT".into(), "NOT_A_SUBSCRIPTION".into()));
    ws.subscribe("m2", &format!("{m} subscription S {{ events {{ kind }} }}"), Some("M"), json!({})).await;
    assert_eq!(ws.error_of("m2").await, ("BAD_USER_INPUT".into(), "NOT_A_SUBSCRIPTION".into()));
    ws.subscribe("two", "query A { __typename } subscription B { events { kind } }", None, json!({})).await;
    assert_eq!(ws.error_of("two").await, ("GRAPHQL_VALIDATION_FAILED".into(), "OPERATION_NAME_REQUIRED".into()));
    assert_eq!(app.count("subscribers").await, before, "nothing was created");
}

#[tokio::test]
async fn websocket_subscribes_draw_from_the_callers_http_rate_limit() {
    let app = spawn_app_with(|c| {
        c.http.rate_limit = 1;
        c.http.rate_burst = 3;
    })
    .await;
    let addr = serve(app.router.clone()).await;
    let partner = app.partner("Partner").await;
    let mut ws = Ws::open(addr, &partner.token).await;
    // The partner spends its bucket over HTTP…
    let me = || {
        Request::post("/graphql")
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {}", partner.token))
            .body(Body::from(json!({ "query": "{ me { role } }" }).to_string()))
            .unwrap()
    };
    let mut spent = false;
    for _ in 0..10 {
        if app.raw(me()).await.status == StatusCode::TOO_MANY_REQUESTS {
            spent = true;
            break;
        }
    }
    assert!(spent, "a burst of 3 at 1 per second is spent within 10 requests");
    // …and a subscribe on its socket draws from the same bucket.
    ws.subscribe("1", "subscription { events { kind } }", None, json!({})).await;
    assert_eq!(ws.error_of("1").await, ("TOO_MANY_ATTEMPTS".into(), "RATE_LIMITED".into()));
}

#[tokio::test]
async fn one_credential_checking_field_per_request_counted_through_aliases_and_fragments() {
    let app = spawn_app().await;
    let login =
        |alias: &str| format!("{alias}: login(email: \"{VENDOR_EMAIL}\", password: \"wrong password\") {{ token }}");
    let register = |alias: &str, mail: &str| {
        format!(
            "{alias}: selfRegister(input: {{companyName: \"C\", email: \"{mail}\", name: \"N\", password: \"{PASSWORD}\"}}) {{ token }}"
        )
    };
    let (users, failures) = (app.count("users").await, app.count("login_failures").await);
    let cases = [
        format!("mutation {{ {} {} }}", login("a"), login("b")),
        format!("mutation {{ {} {} }}", register("a", &email("r")), register("b", &email("r"))),
        format!("mutation {{ {} {} }}", login("a"), register("b", &email("r"))),
        format!("mutation {{ ...F ...F }} fragment F on MutationRoot {{ {} }}", register("a", &email("r"))),
        format!(
            "mutation {{ ... on MutationRoot {{ {} }} acceptInvitation(token: \"t\", name: \"N\", password: \"{PASSWORD}\") {{ token }} }}",
            login("a")
        ),
    ];
    for q in &cases {
        app.gql(None, q, json!({})).await.err("GRAPHQL_VALIDATION_FAILED").reason_is("TOO_MANY_CREDENTIAL_FIELDS");
    }
    assert_eq!(app.count("users").await, users, "no account was created");
    assert_eq!(app.count("login_failures").await, failures, "no password was checked");
    // One per request is fine.
    let r = app.gql(None, &format!("mutation {{ {} }}", register("a", &email("one"))), json!({})).await;
    assert!(r.ok()["a"]["token"].is_string());
}

#[tokio::test]
async fn logins_wait_for_a_bounded_number_of_hashing_threads_and_past_the_wait_are_refused_busy() {
    let app = spawn_app().await;
    // A second replica on the same database with one hashing thread, a real cost and a tiny wait.
    let replica = app
        .replica(|c| {
            c.hash.threads = 1;
            c.hash.wait = Duration::from_millis(1);
            c.hash.argon2_memory_kib = 8 * 1024;
            c.hash.argon2_iterations = 4;
        })
        .await;
    let failures = replica.count("login_failures").await;
    const LOGIN: &str = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }";
    // An unknown e-mail is checked against a hash made with this replica's cost (a stored hash keeps
    // the cost it was made with). Five at once: a sixth failure within 15 minutes would lock the e-mail.
    let nobody = email("nobody");
    let calls: Vec<_> =
        (0..5).map(|_| replica.spawn_gql(None, LOGIN, json!({ "e": nobody, "p": "not the password" }))).collect();
    let mut outcomes = Vec::new();
    for c in calls {
        let (status, body) = c.await.unwrap();
        assert_eq!(status, StatusCode::OK);
        let (c, r) = code(&body);
        outcomes.push((c.to_owned(), r.to_owned()));
    }
    let count = |c: &str, r: &str| outcomes.iter().filter(|o| (o.0.as_str(), o.1.as_str()) == (c, r)).count();
    let busy = count("TOO_MANY_ATTEMPTS", "BUSY");
    let checked = count("UNAUTHENTICATED", "INVALID_CREDENTIALS");
    assert!(busy >= 1, "five hashes on one thread cannot all start within a millisecond: {outcomes:?}");
    assert_eq!(busy + checked, 5, "{outcomes:?}");
    // Only the passwords actually checked count towards the lockout.
    assert_eq!(replica.count("login_failures").await, failures + checked as i64);
}

#[tokio::test]
async fn a_request_that_runs_past_the_timeout_is_stopped_with_a_coded_error() {
    let app = spawn_app().await;
    let replica = app
        .replica(|c| {
            c.limits.request_timeout = Duration::from_millis(1);
            c.hash.argon2_memory_kib = 32 * 1024;
            c.hash.argon2_iterations = 4;
        })
        .await;
    let r = replica
        .gql(
            None,
            "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }",
            json!({ "e": email("nobody"), "p": PASSWORD }),
        )
        .await;
    r.err("REQUEST_TIMEOUT").reason_is("TIMED_OUT");
    // The normal replica still answers.
    assert!(app.gql(None, "{ __typename }", json!({})).await.ok()["__typename"].is_string());
}

#[tokio::test]
async fn a_document_with_thousands_of_mistakes_answers_a_bounded_list_of_errors() {
    let app = spawn_app().await;
    let vars: String = (0..4000).map(|i| format!("$v{i}: Int ")).collect();
    let r = app.gql(None, &format!("query({vars}) {{ __typename }}"), json!({})).await;
    let errors = r.0["errors"].as_array().unwrap();
    assert_eq!(errors.len(), partnergraph::graphql::extensions::MAX_VALIDATION_ERRORS);
    assert!(errors.iter().all(|e| e["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"));
}

#[tokio::test]
async fn the_schema_refuses_to_parse_a_request_that_skipped_the_preflight() {
    use partnergraph::graphql::preflight;
    let app = spawn_app().await;
    let schema = partnergraph::graphql::build(app.state.clone());
    let raw = schema.execute(async_graphql::Request::new("{ __typename }")).await;
    let ext = raw.errors[0].extensions.as_ref().expect("extensions");
    assert_eq!(ext.get("code"), Some(&async_graphql::Value::from("INTERNAL_SERVER_ERROR")));
    let checked =
        preflight::check(async_graphql::Request::new("{ __typename }"), &preflight::Limits::of(&app.state.config))
            .expect("a plain query passes");
    let ok = schema.execute(checked.request).await;
    assert!(ok.errors.is_empty(), "{:?}", ok.errors);
}
