//! The rate limit behind a reverse proxy: with `PARTNERGRAPH_TRUSTED_PROXIES`, an anonymous caller is known
//! by the address the proxy appended, not by the proxy's; a header from anyone else is ignored.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use partnergraph::client_addr::{ClientAddr, ProxyHeader};
use serde_json::json;

use crate::helpers::{TestApp, spawn_app_with};

/// One anonymous request from TCP peer `peer`, with an `X-Forwarded-For` value when given.
async fn status(app: &TestApp, peer: &str, forwarded_for: Option<&str>) -> StatusCode {
    let mut req = Request::post("/graphql").header("content-type", "application/json");
    if let Some(v) = forwarded_for {
        req = req.header("x-forwarded-for", v);
    }
    let mut req = req.body(Body::from(json!({ "query": "{ __typename }" }).to_string())).unwrap();
    let peer: SocketAddr = format!("{peer}:40000").parse().unwrap();
    // What `into_make_service_with_connect_info` puts on every request of a real connection.
    req.extensions_mut().insert(ConnectInfo(peer));
    app.raw(req).await.status
}

async fn limited_app(trusted: &str) -> TestApp {
    let client_addr = ClientAddr::new(trusted, ProxyHeader::XForwardedFor).unwrap();
    spawn_app_with(move |c| {
        c.http.rate_limit = 1;
        c.http.rate_burst = 1;
        c.http.client_addr = client_addr;
    })
    .await
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_client_has_its_own_bucket() {
    let app = limited_app("127.0.0.1").await;
    // Two clients through the same proxy: one bucket each.
    assert_eq!(status(&app, "127.0.0.1", Some("203.0.113.1")).await, StatusCode::OK);
    assert_eq!(status(&app, "127.0.0.1", Some("203.0.113.2")).await, StatusCode::OK);
    // The first one again: its own bucket is empty.
    assert_eq!(status(&app, "127.0.0.1", Some("203.0.113.1")).await, StatusCode::TOO_MANY_REQUESTS);
    // Putting another address in front does not help: the proxy appended the real one on the right.
    assert_eq!(status(&app, "127.0.0.1", Some("198.51.100.77, 203.0.113.1")).await, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn a_header_from_a_peer_that_is_not_a_trusted_proxy_is_ignored() {
    let app = limited_app("127.0.0.1").await;
    assert_eq!(status(&app, "198.51.100.9", Some("203.0.113.3")).await, StatusCode::OK);
    // A fresh made-up address per request would be a fresh bucket if the header were believed.
    assert_eq!(status(&app, "198.51.100.9", Some("203.0.113.4")).await, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(status(&app, "198.51.100.9", None).await, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn without_trusted_proxies_the_tcp_peer_is_the_client() {
    let app = limited_app("").await;
    assert_eq!(status(&app, "127.0.0.1", Some("203.0.113.1")).await, StatusCode::OK);
    assert_eq!(status(&app, "127.0.0.1", Some("203.0.113.2")).await, StatusCode::TOO_MANY_REQUESTS);
}
