//! A database outage fails fast and visibly, and the service recovers by itself (PostgreSQL only: an
//! SQLite file does not go away). The app reaches its database through a TCP proxy that the test cuts and
//! restores — the shared PostgreSQL server itself is never stopped.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use partnergraph::app::{AppState, router};
use partnergraph::service::accounts;
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::helpers::{PASSWORD, TestApp, VENDOR_EMAIL, fresh_database, test_config};

/// A TCP proxy to the database that can be cut (every connection dropped, new ones refused) and restored
/// on the same port.
struct Proxy {
    addr: SocketAddr,
    upstream: String,
    accept: Option<JoinHandle<()>>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    async fn start(upstream: &str) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut p = Proxy {
            addr: listener.local_addr().unwrap(),
            upstream: upstream.to_owned(),
            accept: None,
            connections: Arc::default(),
        };
        p.serve(listener);
        p
    }

    fn serve(&mut self, listener: TcpListener) {
        let (upstream, connections) = (self.upstream.clone(), self.connections.clone());
        self.accept = Some(tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let upstream = upstream.clone();
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                connections.lock().unwrap().push(task);
            }
        }));
    }

    /// The database is gone: open connections drop, new ones are refused.
    fn cut(&mut self) {
        if let Some(a) = self.accept.take() {
            a.abort();
        }
        for c in self.connections.lock().unwrap().drain(..) {
            c.abort();
        }
    }

    async fn restore(&mut self) {
        let listener = loop {
            match TcpListener::bind(self.addr).await {
                Ok(l) => break l,
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        };
        self.serve(listener);
    }
}

async fn get(app: &TestApp, path: &str) -> (StatusCode, Duration) {
    let started = Instant::now();
    let raw = app.raw(Request::get(path).body(Body::empty()).unwrap()).await;
    (raw.status, started.elapsed())
}

#[tokio::test]
async fn an_outage_fails_requests_and_readiness_fast_and_the_service_recovers_when_the_database_returns() {
    let (url, _) = fresh_database().await;
    if !url.starts_with("postgres") {
        return;
    }
    // postgres://user@host:port/db → through the proxy.
    let (head, db) = url.rsplit_once('/').unwrap();
    let (userinfo, server) = head.rsplit_once('@').unwrap();
    let mut proxy = Proxy::start(server).await;
    let proxied = format!("{userinfo}@{}/{db}", proxy.addr);
    let mut config = test_config(&proxied);
    config.db.acquire_timeout = Duration::from_millis(1000);
    let state = AppState::connect(config).await.expect("connect");
    state.migrate().await.expect("migrate");
    accounts::bootstrap(&state, "Vendor", VENDOR_EMAIL, PASSWORD).await.expect("bootstrap");
    let mut app = TestApp::new(router(state.clone()), state);
    app.vendor = app.login(VENDOR_EMAIL, PASSWORD).await;
    tokio::time::timeout(Duration::from_secs(5), app.state.events.ready()).await.expect("listener up");
    assert_eq!(get(&app, "/readyz").await.0, StatusCode::OK);

    proxy.cut();
    // Readiness says so at once, on its own short timeout.
    let (status, took) = get(&app, "/readyz").await;
    eprintln!("outage: /readyz {status} in {took:?}");
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(took < Duration::from_secs(5), "/readyz took {took:?}");
    // A request gets a coded error quickly (it used to queue for 10 s per connection attempt).
    let started = Instant::now();
    let req = Request::post("/graphql")
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {}", app.vendor))
        .body(Body::from(json!({ "query": "{ me { role } }" }).to_string()))
        .unwrap();
    let raw = app.raw(req).await;
    let took = started.elapsed();
    eprintln!("outage: POST /graphql {} in {took:?}: {}", raw.status, raw.body);
    assert_eq!(raw.json()["errors"][0]["extensions"]["code"], "INTERNAL_SERVER_ERROR");
    assert!(!raw.body.to_lowercase().contains("pool"), "{}", raw.body);
    assert!(took < Duration::from_secs(5), "the request took {took:?}");
    // The event listener notices.
    tokio::time::timeout(Duration::from_secs(5), async {
        while app.state.events.is_listening() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the listener notices the outage");

    proxy.restore().await;
    let back = Instant::now();
    tokio::time::timeout(Duration::from_secs(10), app.state.events.ready()).await.expect("the listener reconnects");
    eprintln!("recovery: event listener listening again {:?} after the database came back", back.elapsed());
    tokio::time::timeout(Duration::from_secs(10), async {
        while get(&app, "/readyz").await.0 != StatusCode::OK {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("ready again");
    eprintln!("recovery: /readyz 200 {:?} after the database came back", back.elapsed());
    let r = app.as_(&app.vendor, "{ me { role } }", json!({})).await;
    assert_eq!(r.ok()["me"]["role"], "OWNER");
}
