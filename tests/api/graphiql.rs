//! GraphiQL at `/` runs subscriptions (its fetcher knows the WebSocket endpoint), and a browser opening
//! `/graphql` is sent there instead of getting a raw 400.

use axum::body::Body;
use axum::http::{Request, StatusCode};

use crate::helpers::{spawn_app, spawn_app_with};

const BROWSER: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

#[tokio::test]
async fn the_graphiql_page_subscribes_over_the_websocket_endpoint() {
    let app = spawn_app().await;
    let raw = app.raw(Request::get("/").body(Body::empty()).unwrap()).await;
    assert_eq!(raw.status, StatusCode::OK);
    assert!(raw.body.contains("subscriptionUrl"), "{}", raw.body);
    assert!(raw.body.contains("'/graphql/ws'"), "{}", raw.body);
    // The graphql-ws client the fetcher needs for it is inside the embedded bundle (no CDN).
    let js = app.raw(Request::get("/assets/graphiql.min.js").body(Body::empty()).unwrap()).await;
    assert!(js.body.contains("node_modules/graphql-ws/lib/client"), "graphql-ws is bundled");
}

#[tokio::test]
async fn a_browser_opening_the_graphql_endpoint_is_redirected_to_graphiql() {
    let app = spawn_app().await;
    let raw = app.raw(Request::get("/graphql").header("accept", BROWSER).body(Body::empty()).unwrap()).await;
    assert_eq!(raw.status, StatusCode::SEE_OTHER);
    assert_eq!(raw.headers["location"], "/");
    // A program asking without a query still gets the coded refusal.
    let raw = app.raw(Request::get("/graphql").header("accept", "application/json").body(Body::empty()).unwrap()).await;
    assert_eq!(raw.status, StatusCode::BAD_REQUEST);
    assert_eq!(raw.json()["errors"][0]["extensions"]["reason"], "QUERY_MISSING");
    // A query from a browser runs as a query.
    let raw = app
        .raw(Request::get("/graphql?query=%7B__typename%7D").header("accept", BROWSER).body(Body::empty()).unwrap())
        .await;
    assert_eq!((raw.status, raw.body.as_str()), (StatusCode::OK, r#"{"data":{"__typename":"QueryRoot"}}"#));
}

#[tokio::test]
async fn without_graphiql_a_browser_gets_the_refusal() {
    let app = spawn_app_with(|c| c.http.graphiql = false).await;
    let raw = app.raw(Request::get("/graphql").header("accept", BROWSER).body(Body::empty()).unwrap()).await;
    assert_eq!(raw.status, StatusCode::BAD_REQUEST);
}
