//! The HTTP edge: only JSON POSTs execute (CSRF), GET runs queries only, batches and oversized bodies
//! are refused, health checks, media types, and no internal text in errors.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::json;

use crate::helpers::{email, spawn_app, spawn_app_with};

fn create_partner_body(owner: &str) -> String {
    json!({ "query": format!("mutation {{ createPartner(input: {{name: \"CSRF\", ownerEmail: \"{owner}\"}}) {{ token }} }}") }).to_string()
}

#[tokio::test]
async fn a_text_plain_or_form_post_does_not_execute() {
    let app = spawn_app().await;
    let before = app.count("subscribers").await;
    for ct in ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"] {
        let req = Request::post("/graphql")
            .header("content-type", ct)
            .header("authorization", format!("Bearer {}", app.vendor))
            .body(Body::from(create_partner_body(&email("csrf"))))
            .unwrap();
        let raw = app.raw(req).await;
        assert_eq!(raw.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{ct}");
        assert_eq!(raw.json()["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    }
    let req = Request::post("/graphql").body(Body::from(create_partner_body(&email("csrf")))).unwrap();
    assert_eq!(app.raw(req).await.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(app.count("subscribers").await, before, "nothing was created");
    // The control: the same body as JSON executes.
    let req = Request::post("/graphql")
        .header("content-type", "application/json; charset=utf-8")
        .header("authorization", format!("Bearer {}", app.vendor))
        .body(Body::from(create_partner_body(&email("json"))))
        .unwrap();
    let raw = app.raw(req).await;
    assert_eq!(raw.status, StatusCode::OK, "{}", raw.body);
    assert_eq!(app.count("subscribers").await, before + 1);
}

#[tokio::test]
async fn get_runs_queries_and_refuses_mutations() {
    let app = spawn_app().await;
    let before = app.count("subscribers").await;
    let q = |s: &str| {
        s.replace(' ', "%20")
            .replace('{', "%7B")
            .replace('}', "%7D")
            .replace('"', "%22")
            .replace(':', "%3A")
            .replace(',', "%2C")
    };
    let req = Request::get(format!("/graphql?query={}", q("{ me { role } }")))
        .header("authorization", format!("Bearer {}", app.vendor))
        .body(Body::empty())
        .unwrap();
    let raw = app.raw(req).await;
    assert_eq!(raw.status, StatusCode::OK);
    assert_eq!(raw.json()["data"]["me"]["role"], "OWNER");

    let mutation =
        format!("mutation {{ createPartner(input: {{name: \"X\", ownerEmail: \"{}\"}}) {{ token }} }}", email("get"));
    let req = Request::get(format!("/graphql?query={}", q(&mutation)))
        .header("authorization", format!("Bearer {}", app.vendor))
        .body(Body::empty())
        .unwrap();
    let raw = app.raw(req).await;
    assert_eq!(raw.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(raw.json()["errors"][0]["extensions"]["reason"], "MUTATION_OVER_GET");
    // Picking the mutation out of several operations by name is refused too.
    let doc = format!("query A {{ me {{ role }} }} {mutation}").replacen("mutation {", "mutation B {", 1);
    let req = Request::get(format!("/graphql?operationName=B&query={}", q(&doc)))
        .header("authorization", format!("Bearer {}", app.vendor))
        .body(Body::empty())
        .unwrap();
    assert_eq!(app.raw(req).await.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(app.count("subscribers").await, before);
}

#[tokio::test]
async fn batches_are_refused() {
    let app = spawn_app().await;
    let req = Request::post("/graphql")
        .header("content-type", "application/json")
        .body(Body::from(json!([{ "query": "{ __typename }" }, { "query": "{ __typename }" }]).to_string()))
        .unwrap();
    let raw = app.raw(req).await;
    assert_eq!(raw.status, StatusCode::BAD_REQUEST);
    assert_eq!(raw.json()["errors"][0]["extensions"]["reason"], "BATCH_NOT_SUPPORTED");
}

#[tokio::test]
async fn an_oversized_body_is_refused_before_it_is_parsed() {
    let app = spawn_app_with(|c| c.http.body_limit = 4096).await;
    let big = json!({ "query": format!("{{ __typename }} # {}", "x".repeat(5000)) }).to_string();
    let req = Request::post("/graphql").header("content-type", "application/json").body(Body::from(big)).unwrap();
    assert_eq!(app.raw(req).await.status, StatusCode::PAYLOAD_TOO_LARGE);
    // A body of unannounced length is cut off at the limit too.
    let big = json!({ "query": format!("{{ __typename }} # {}", "x".repeat(5000)) }).to_string();
    let stream = futures_util::stream::iter(vec![Ok::<_, std::io::Error>(big.into_bytes())]);
    let req =
        Request::post("/graphql").header("content-type", "application/json").body(Body::from_stream(stream)).unwrap();
    assert_eq!(app.raw(req).await.status, StatusCode::PAYLOAD_TOO_LARGE);
    let small = json!({ "query": "{ __typename }" }).to_string();
    let req = Request::post("/graphql").header("content-type", "application/json").body(Body::from(small)).unwrap();
    assert_eq!(app.raw(req).await.status, StatusCode::OK);
}

#[tokio::test]
async fn malformed_json_and_graphql_get_their_codes() {
    let app = spawn_app().await;
    let req =
        Request::post("/graphql").header("content-type", "application/json").body(Body::from("{\"query\": ")).unwrap();
    let raw = app.raw(req).await;
    assert_eq!(raw.status, StatusCode::BAD_REQUEST);
    assert_eq!(raw.json()["errors"][0]["extensions"]["code"], "GRAPHQL_PARSE_FAILED");
    app.gql(None, "{ me { ", json!({})).await.err("GRAPHQL_PARSE_FAILED");
    app.gql(None, "{ noSuchField }", json!({})).await.err("GRAPHQL_VALIDATION_FAILED");
}

#[tokio::test]
async fn the_response_media_type_follows_accept() {
    let app = spawn_app().await;
    let send = |accept: &'static str, query: &'static str| {
        Request::post("/graphql")
            .header("content-type", "application/json")
            .header("accept", accept)
            .body(Body::from(json!({ "query": query }).to_string()))
            .unwrap()
    };
    let raw = app.raw(send("application/json", "{ __typename }")).await;
    assert_eq!(raw.headers["content-type"], "application/json");
    let raw = app.raw(send("application/graphql-response+json", "{ __typename }")).await;
    assert_eq!(raw.headers["content-type"], "application/graphql-response+json");
    assert_eq!(raw.status, StatusCode::OK);
    let raw = app.raw(send("application/graphql-response+json", "{ nope }")).await;
    assert_eq!(raw.status, StatusCode::BAD_REQUEST);
    assert!(raw.json().get("data").is_none(), "a request that never ran has no data entry: {}", raw.body);
    let raw = app.raw(send("application/json", "{ nope }")).await;
    assert_eq!(raw.status, StatusCode::OK);
}

#[tokio::test]
async fn health_and_readiness_answer() {
    let app = spawn_app().await;
    let raw = app.raw(Request::get("/healthz").body(Body::empty()).unwrap()).await;
    assert_eq!((raw.status, raw.body.as_str()), (StatusCode::OK, "ok"));
    let raw = app.raw(Request::get("/readyz").body(Body::empty()).unwrap()).await;
    assert_eq!(raw.status, StatusCode::OK);
    let raw = app.raw(Request::get("/").body(Body::empty()).unwrap()).await;
    assert_eq!(raw.status, StatusCode::OK);
    assert!(raw.body.contains("graphiql"), "GraphiQL page in development");
    // Everything the page loads comes from the service itself: no CDN.
    let sources: Vec<&str> =
        raw.body.split(['"', '\'']).filter(|s| s.ends_with(".js") || s.ends_with(".css")).collect();
    assert_eq!(sources.len(), 4, "{sources:?}");
    for src in sources {
        assert!(src.starts_with("/assets/"), "{src} is not served locally");
        let asset = app.raw(Request::get(src).body(Body::empty()).unwrap()).await;
        assert_eq!(asset.status, StatusCode::OK, "{src}");
        assert!(asset.body.len() > 5_000, "{src}");
    }
    assert!(!raw.body.contains("http://") && !raw.body.contains("https://"), "no external address on the page");
    assert_eq!(
        app.raw(Request::get("/assets/nope.js").body(Body::empty()).unwrap()).await.status,
        StatusCode::NOT_FOUND
    );
    assert!(raw.headers.contains_key("x-request-id"));
}

#[tokio::test]
async fn readiness_fails_when_the_database_is_gone() {
    let app = spawn_app().await;
    app.state.db.clone().close().await.unwrap();
    let raw = app.raw(Request::get("/readyz").body(Body::empty()).unwrap()).await;
    assert_eq!(raw.status, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn a_database_failure_is_an_internal_error_with_a_request_id_and_no_driver_text() {
    let app = spawn_app().await;
    app.state.db.clone().close().await.unwrap();
    let req = Request::post("/graphql")
        .header("content-type", "application/json")
        .body(Body::from(
            json!({ "query": "mutation { login(email: \"a@b.ru\", password: \"whatever1\") { token } }" }).to_string(),
        ))
        .unwrap();
    let raw = app.raw(req).await;
    let v = raw.json();
    let e = &v["errors"][0];
    assert_eq!(e["extensions"]["code"], "INTERNAL_SERVER_ERROR", "{v}");
    assert_eq!(e["message"], "internal server error");
    assert_eq!(e["extensions"]["requestId"], raw.headers["x-request-id"].to_str().unwrap());
    let text = raw.body.to_lowercase();
    for leak in ["sql", "pool", "sqlx", "connection", "database", "closed"] {
        assert!(!text.contains(leak), "leaked {leak}: {text}");
    }
}

#[tokio::test]
async fn production_hides_introspection_and_graphiql() {
    let app = spawn_app_with(|c| {
        c.http.introspection = false;
        c.http.graphiql = false;
    })
    .await;
    // async-graphql answers introspection with null when it is disabled.
    let r = app.gql(None, "{ __schema { types { name } } }", json!({})).await;
    assert!(r.0["data"]["__schema"].is_null(), "{}", r.0);
    let raw = app.raw(Request::get("/").body(Body::empty()).unwrap()).await;
    assert_eq!(raw.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn depth_and_complexity_limits_have_their_codes() {
    let app = spawn_app_with(|c| c.limits.max_depth = 4).await;
    let deep = "{ me { subscriber { servingPartner { servingPartner { servingPartner { id } } } } } }";
    app.as_(&app.vendor, deep, json!({})).await.err("MAX_DEPTH_LIMIT");
    let app = spawn_app_with(|c| c.limits.max_complexity = 50).await;
    app.as_(&app.vendor, "{ subscribers(first: 100) { nodes { id name } } }", json!({}))
        .await
        .err("MAX_COMPLEXITY_LIMIT");
    app.as_(&app.vendor, "{ subscribers(first: 5) { nodes { id name } } }", json!({})).await.ok();
}

#[tokio::test]
async fn aliases_root_fields_and_directives_are_limited_typename_included() {
    let app = spawn_app().await;
    let aliases: String = (0..31).map(|i| format!("a{i}: __typename ")).collect();
    app.gql(None, &format!("{{ {aliases} }}"), json!({}))
        .await
        .err("GRAPHQL_VALIDATION_FAILED")
        .reason_is("TOO_MANY_ALIASES");
    let roots = "__typename ".repeat(21);
    app.gql(None, &format!("{{ {roots} }}"), json!({}))
        .await
        .err("GRAPHQL_VALIDATION_FAILED")
        .reason_is("TOO_MANY_ROOT_FIELDS");
    let directives = "__typename @skip(if: false) @include(if: true) ".repeat(16);
    app.gql(None, &format!("{{ {directives} }}"), json!({}))
        .await
        .err("GRAPHQL_VALIDATION_FAILED")
        .reason_is("TOO_MANY_DIRECTIVES");
    // At the limits, it runs.
    let aliases: String = (0..20).map(|i| format!("a{i}: __typename ")).collect();
    let r = app.gql(None, &format!("{{ {aliases} }}"), json!({})).await;
    assert_eq!(r.ok()["a19"], "QueryRoot");
}

#[tokio::test]
async fn a_client_past_its_rate_gets_429_with_retry_after() {
    let app = spawn_app_with(|c| {
        c.http.rate_limit = 1;
        c.http.rate_burst = 3;
    })
    .await;
    let send = || {
        Request::post("/graphql")
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {}", app.vendor))
            .body(Body::from(json!({ "query": "{ me { role } }" }).to_string()))
            .unwrap()
    };
    // The login in spawn_app was anonymous: the vendor's own bucket is full.
    for _ in 0..3 {
        assert_eq!(app.raw(send()).await.status, StatusCode::OK);
    }
    let raw = app.raw(send()).await;
    assert_eq!(raw.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(raw.json()["errors"][0]["extensions"]["reason"], "RATE_LIMITED");
    assert!(raw.headers.contains_key("retry-after"));
    // Another client (here: anonymous) has its own bucket.
    let r = app.gql(None, "{ __typename }", json!({})).await;
    assert_eq!(r.ok()["__typename"], "QueryRoot");
}

#[tokio::test]
async fn metrics_count_requests_by_operation_and_outcome() {
    let app = spawn_app().await;
    app.as_(&app.vendor, "query Mine { me { role } }", json!({})).await.ok();
    app.gql(None, "query Mine { me { role } }", json!({})).await.err("UNAUTHENTICATED");
    let raw = app.raw(Request::get("/metrics").body(Body::empty()).unwrap()).await;
    assert_eq!(raw.status, StatusCode::OK);
    assert!(
        raw.body.contains("partnergraph_graphql_requests_total{operation=\"Mine\",outcome=\"OK\"} 1"),
        "{}",
        raw.body
    );
    assert!(raw.body.contains("partnergraph_graphql_requests_total{operation=\"Mine\",outcome=\"UNAUTHENTICATED\"} 1"));
    assert!(raw.body.contains("partnergraph_graphql_request_duration_seconds_count"));
    assert!(raw.body.contains("partnergraph_db_pool_connections{state=\"open\"}"));
}

/// The shape of GraphiQL's schema query: deeper than data queries may be.
const INTROSPECTION: &str = "query IntrospectionQuery { __schema { queryType { name } mutationType { name } types { ...FullType } directives { name locations args { ...InputValue } } } }
fragment FullType on __Type { kind name description fields(includeDeprecated: true) { name args { ...InputValue } type { ...TypeRef } isDeprecated } inputFields { ...InputValue } interfaces { ...TypeRef } enumValues(includeDeprecated: true) { name } possibleTypes { ...TypeRef } }
fragment InputValue on __InputValue { name type { ...TypeRef } defaultValue }
fragment TypeRef on __Type { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } }";

#[tokio::test]
async fn graphiqls_schema_query_passes_the_limits_in_development() {
    let app = spawn_app().await;
    let r = app.gql(None, INTROSPECTION, json!({})).await;
    let types = r.ok()["__schema"]["types"].as_array().unwrap().len();
    assert!(types > 50, "{types} types");
    // A data query as deep is still refused.
    let deep = "{ me { subscriber { servingPartner { servingPartner { servingPartner { servingPartner { servingPartner { servingPartner { servingPartner { servingPartner { servingPartner { servingPartner { id } } } } } } } } } } } } }";
    app.as_(&app.vendor, deep, json!({})).await.err("MAX_DEPTH_LIMIT");
}
