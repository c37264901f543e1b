//! Both ends of a WebSocket close properly: the server answers a client's close frame with the same code
//! (RFC 6455 §5.5.1; before, clients saw 1006), and a shutting-down server says 1001 (going away). Also
//! the order of response keys: the query's, over HTTP and over the socket.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::helpers::{inn, spawn_app};

/// The longest a test waits for something that should arrive.
const WAIT: Duration = Duration::from_secs(5);

/// Serves the router on an ephemeral local port, for as long as the test's runtime lives.
pub async fn serve(router: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    addr
}

/// A bare `graphql-transport-ws` client that shows raw text and close frames.
pub struct Client(WebSocketStream<MaybeTlsStream<TcpStream>>);

impl Client {
    pub async fn connect(addr: &str) -> Client {
        let mut req = format!("ws://{addr}/graphql/ws").into_client_request().expect("request");
        req.headers_mut().insert("sec-websocket-protocol", "graphql-transport-ws".parse().expect("header"));
        let (ws, _) = tokio_tungstenite::connect_async(req).await.expect("WebSocket handshake");
        Client(ws)
    }

    pub async fn send(&mut self, message: Value) {
        self.0.send(Message::text(message.to_string())).await.expect("send");
    }

    /// The next text message, as it came over the wire.
    pub async fn text(&mut self) -> String {
        loop {
            match tokio::time::timeout(WAIT, self.0.next()).await.expect("a message in time") {
                Some(Ok(Message::Text(t))) => return t.to_string(),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                other => panic!("expected a text message, got {other:?}"),
            }
        }
    }

    pub async fn init(&mut self, token: &str) {
        self.send(json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } }))
            .await;
        assert_eq!(self.text().await, r#"{"type":"connection_ack"}"#);
    }

    /// What ended the connection: the close frame's code, or `None` when the TCP connection ended
    /// without one (what a browser reports as 1006).
    pub async fn end(&mut self) -> Option<u16> {
        loop {
            match tokio::time::timeout(WAIT, self.0.next()).await.expect("closed in time") {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| f.code.into()),
                Some(Ok(Message::Text(t))) => panic!("expected a close, got {t}"),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return None,
            }
        }
    }
}

#[tokio::test]
async fn the_server_answers_a_clients_close_frame_with_the_same_code() {
    let app = spawn_app().await;
    let addr = serve(app.router.clone()).await.to_string();
    for code in [1000u16, 4000] {
        let mut ws = Client::connect(&addr).await;
        ws.init(&app.vendor).await;
        let frame = CloseFrame { code: CloseCode::from(code), reason: "bye".into() };
        ws.0.send(Message::Close(Some(frame))).await.expect("send close");
        assert_eq!(ws.end().await, Some(code), "the close is answered, not dropped (1006)");
    }
    // Before `connection_init` too.
    let mut ws = Client::connect(&addr).await;
    ws.0.send(Message::Close(Some(CloseFrame { code: CloseCode::Normal, reason: "".into() }))).await.unwrap();
    assert_eq!(ws.end().await, Some(1000));
}

#[tokio::test]
async fn while_draining_answers_ask_to_close_the_connection_and_websockets_still_open() {
    let app = spawn_app().await;
    let addr = serve(app.router.clone()).await.to_string();
    let raw = app.raw(Request::get("/healthz").body(Body::empty()).unwrap()).await;
    assert!(!raw.headers.contains_key("connection"));
    app.state.lifecycle.start_draining();
    let raw = app.raw(Request::get("/healthz").body(Body::empty()).unwrap()).await;
    assert_eq!(raw.headers["connection"], "close");
    assert_eq!(app.raw(Request::get("/readyz").body(Body::empty()).unwrap()).await.status, 503);
    // The upgrade's own `Connection: upgrade` is left alone.
    let mut ws = Client::connect(&addr).await;
    ws.init(&app.vendor).await;
}

#[tokio::test]
async fn a_shutdown_closes_every_socket_with_1001_and_waits_for_them() {
    let app = spawn_app().await;
    let addr = serve(app.router.clone()).await.to_string();
    let mut signed_in = Client::connect(&addr).await;
    signed_in.init(&app.vendor).await;
    let mut anonymous = Client::connect(&addr).await;
    app.state.lifecycle.shut_down();
    assert_eq!(signed_in.end().await, Some(1001));
    assert_eq!(anonymous.end().await, Some(1001));
    tokio::time::timeout(WAIT, app.state.lifecycle.sockets_closed()).await.expect("every connection ended");
}

/// Where each key first appears in a JSON text.
fn positions(text: &str, keys: &[&str]) -> Vec<usize> {
    keys.iter().map(|k| text.find(&format!("\"{k}\"")).unwrap_or_else(|| panic!("no {k} in {text}"))).collect()
}

fn ascending(p: &[usize]) -> bool {
    p.windows(2).all(|w| w[0] < w[1])
}

#[tokio::test]
async fn response_keys_come_in_the_querys_order_over_http() {
    let app = spawn_app().await;
    // Not alphabetical on purpose, at two levels.
    let query = "{ me { user { name email } role } }";
    let req = Request::post("/graphql")
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {}", app.vendor))
        .body(Body::from(json!({ "query": query }).to_string()))
        .unwrap();
    let raw = app.raw(req).await;
    assert!(ascending(&positions(&raw.body, &["me", "user", "name", "email", "role"])), "{}", raw.body);
    // GET answers the same way.
    let q = query.replace(' ', "%20").replace('{', "%7B").replace('}', "%7D");
    let req = Request::get(format!("/graphql?query={q}"))
        .header("authorization", format!("Bearer {}", app.vendor))
        .body(Body::empty())
        .unwrap();
    let raw = app.raw(req).await;
    assert!(ascending(&positions(&raw.body, &["user", "name", "email", "role"])), "{}", raw.body);
    // Errors keep the GraphQL response order too: message before extensions, code before reason.
    let raw = app.gql(None, "{ me { role } }", json!({})).await;
    let text = raw.0.to_string();
    assert!(ascending(&positions(&text, &["message", "extensions"])), "{text}");
}

#[tokio::test]
async fn response_keys_come_in_the_querys_order_over_the_socket() {
    let app = spawn_app().await;
    let addr = serve(app.router.clone()).await.to_string();
    let partner = app.partner("Ordered").await;
    let mut ws = Client::connect(&addr).await;
    ws.init(&partner.token).await;
    ws.send(json!({ "type": "subscribe", "id": "1", "payload": { "query": "subscription { events { subjectId kind message at } }" } }))
        .await;
    tokio::time::timeout(WAIT, async {
        app.state.events.ready().await;
        while app.state.events.subscriber_count() < 1 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("subscribed in time");
    app.lock(&partner, &inn(41)).await;
    let text = ws.text().await;
    assert!(ascending(&positions(&text, &["type", "id", "payload"])), "{text}");
    assert!(ascending(&positions(&text, &["subjectId", "kind", "message", "at"])), "{text}");
}
