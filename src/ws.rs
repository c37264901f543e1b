//! `GET /graphql/ws`: GraphQL subscriptions over WebSocket, protocol `graphql-transport-ws`.
//!
//! Written here rather than taken from async-graphql-axum so that every close code of the protocol is
//! followed: 4400 bad message, 4401 subscribe before the ack, 4403 missing or bad token, 4408 no
//! `connection_init` in time, 4409 duplicate operation id, 4429 a second `connection_init`.
//!
//! The token travels in the `connection_init` payload (`{"Authorization": "Bearer <JWT>"}`; browsers
//! cannot set headers on a WebSocket) and is checked by the same function as the HTTP edge
//! (`auth::bearer::principal`, through the edge's short authentication cache). The connection's caller
//! ([`LiveCaller`]) is checked again:
//! - before every operation starts, whose request data then carries the principal just checked;
//! - before every event is delivered (`graphql::events`), which is also when its audience is decided;
//! - at once when the event bus says this user's membership in this subscriber changed (removed, role
//!   changed: `EventBus::access_changed`, on any replica) and when the token expires;
//! - every `ws_recheck` besides, as a safety net for a lost signal.
//!
//! A check that finds the membership gone (or the token expired) closes the connection with 4403 at
//! once. Only subscription operations run here: queries and mutations belong to `POST /graphql`, where
//! the metrics are. Every `subscribe` passes the same preflight as HTTP requests (`graphql::preflight`) and
//! draws from the caller's rate-limit bucket.

mod live;

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use futures_util::StreamExt;
use futures_util::stream::{AbortHandle, Abortable, BoxStream, SelectAll};
use serde::Deserialize;
use serde_json::{Value, json};

pub use self::live::LiveCaller;
use self::live::{Auth, Check, Recheck};
use crate::app::{HttpState, RequestId};
use crate::auth::Caller;
use crate::error::AppError;
use crate::graphql::request::{self as graphql_request, Refused, Transport};

/// The only subprotocol served.
pub const PROTOCOL: &str = "graphql-transport-ws";

/// Longest operation id accepted (it is echoed in close reasons, which must stay under 123 bytes).
const MAX_ID_LEN: usize = 64;

/// `GET /graphql/ws`: upgrades when the client speaks `graphql-transport-ws`.
pub async fn graphql_ws(State(h): State<HttpState>, headers: HeaderMap, ws: WebSocketUpgrade) -> Response {
    let ws = ws
        .protocols([PROTOCOL])
        .max_message_size(h.app.config.ws.max_message)
        .max_frame_size(h.app.config.ws.max_message);
    if ws.selected_protocol().is_none() {
        return crate::http::refuse(
            StatusCode::BAD_REQUEST,
            "BAD_USER_INPUT",
            "SUBPROTOCOL_REQUIRED",
            "ask for the graphql-transport-ws subprotocol (Sec-WebSocket-Protocol)",
        );
    }
    let rid = crate::http::request_id(&headers);
    ws.on_upgrade(move |socket| Connection::new(h, rid, socket).run())
}

/// A message from the client.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum ClientMessage {
    ConnectionInit {
        #[serde(default)]
        payload: Option<Value>,
    },
    Ping {
        #[serde(default)]
        #[allow(dead_code)]
        payload: Option<Value>,
    },
    Pong {
        #[serde(default)]
        #[allow(dead_code)]
        payload: Option<Value>,
    },
    Subscribe {
        id: String,
        payload: SubscribePayload,
    },
    Complete {
        id: String,
    },
}

#[derive(Deserialize)]
struct SubscribePayload {
    query: String,
    #[serde(default, rename = "operationName")]
    operation_name: Option<String>,
    #[serde(default)]
    variables: Option<Value>,
    #[serde(default)]
    #[allow(dead_code)]
    extensions: Option<Value>,
}

/// Why the connection ends: a close code and reason, per the protocol.
struct Close(u16, String);

impl Close {
    fn new(code: u16, reason: impl Into<String>) -> Self {
        Close(code, reason.into())
    }
}

/// An item of a running operation: a response, or the end of its stream.
type OpItem = (String, Option<async_graphql::Response>);

struct Connection {
    h: HttpState,
    rid: RequestId,
    socket: WebSocket,
    /// Set on a good `connection_init`.
    auth: Option<Auth>,
    init_seen: bool,
    ops: HashMap<String, AbortHandle>,
    streams: SelectAll<BoxStream<'static, OpItem>>,
    /// Turns `true` when the process shuts down; held for as long as the connection lives.
    shutdown: tokio::sync::watch::Receiver<bool>,
}

impl Connection {
    fn new(h: HttpState, rid: RequestId, socket: WebSocket) -> Self {
        let shutdown = h.app.lifecycle.watch_shutdown();
        Self { h, rid, socket, auth: None, init_seen: false, ops: HashMap::new(), streams: SelectAll::new(), shutdown }
    }

    async fn run(mut self) {
        let metrics = self.h.app.metrics.clone();
        metrics.ws_opened();
        let close = self.serve().await;
        metrics.ws_closed(close.as_ref().map(|c| c.0));
        if let Some(Close(code, reason)) = close {
            tracing::debug!(request_id = %self.rid.0, code, reason, "closing a WebSocket connection");
            let _ = self.socket.send(Message::Close(Some(CloseFrame { code, reason: reason.into() }))).await;
        }
        for (_, handle) in self.ops.drain() {
            handle.abort();
        }
    }

    /// Serves until the client leaves (`None`) or the connection must close with a code.
    async fn serve(&mut self) -> Option<Close> {
        let config = self.h.app.config.clone();
        let init_deadline = tokio::time::sleep(config.ws.init_timeout);
        tokio::pin!(init_deadline);
        let mut recheck = tokio::time::interval_at(tokio::time::Instant::now() + config.ws.recheck, config.ws.recheck);
        let mut shutdown = self.shutdown.clone();
        loop {
            tokio::select! {
                incoming = self.socket.recv() => {
                    let text = match incoming {
                        None => return None,
                        Some(Err(e)) => {
                            // Oversized messages end here too: tungstenite refuses them while reading.
                            tracing::debug!(request_id = %self.rid.0, error = %e, "WebSocket read failed");
                            return Some(Close::new(1009, "Message too big or unreadable"));
                        }
                        Some(Ok(Message::Text(t))) => t,
                        Some(Ok(Message::Binary(_))) => return Some(Close::new(4400, "Binary messages are not supported")),
                        Some(Ok(Message::Close(_))) => {
                            // RFC 6455 §5.5.1: answer a close with a close (the same code). The WebSocket
                            // library has queued that answer; flushing sends it before the socket is dropped.
                            let _ = tokio::time::timeout(SEND_TIMEOUT, futures_util::SinkExt::flush(&mut self.socket)).await;
                            return None;
                        }
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    };
                    if let Some(close) = self.on_message(text.as_str()).await {
                        return Some(close);
                    }
                }
                Some((id, item)) = self.streams.next(), if !self.streams.is_empty() => {
                    if !self.ops.contains_key(&id) {
                        continue;
                    }
                    let sent = match item {
                        Some(response) => self.on_response(&id, response).await,
                        None => {
                            self.ops.remove(&id);
                            self.send(json!({ "type": "complete", "id": id })).await
                        }
                    };
                    if !sent {
                        return None;
                    }
                }
                true = async { shutdown.wait_for(|down| *down).await.is_ok() } => {
                    return Some(Close::new(1001, "Server shutting down"));
                }
                () = &mut init_deadline, if !self.init_seen => {
                    return Some(Close::new(4408, "Connection initialisation timeout"));
                }
                _ = recheck.tick(), if self.auth.is_some() => {
                    if let Some(close) = self.recheck().await {
                        return Some(close);
                    }
                }
                why = Auth::due(&mut self.auth) => {
                    let close = match why {
                        Recheck::Gone => Some(Close::new(4403, "Forbidden")),
                        Recheck::Due => self.recheck().await,
                    };
                    if close.is_some() {
                        return close;
                    }
                }
            }
        }
    }

    /// Handles one text message; `Some` closes the connection.
    async fn on_message(&mut self, text: &str) -> Option<Close> {
        let message: ClientMessage = match serde_json::from_str::<Value>(text) {
            Err(_) => return Some(Close::new(4400, "Invalid message: not JSON")),
            Ok(value) => match value.get("type").and_then(Value::as_str) {
                None => return Some(Close::new(4400, "Invalid message: no type")),
                Some("connection_init" | "ping" | "pong" | "subscribe" | "complete") => {
                    match serde_json::from_value(value) {
                        Ok(m) => m,
                        Err(_) => return Some(Close::new(4400, "Invalid message: malformed payload")),
                    }
                }
                Some(_) => return Some(Close::new(4400, "Invalid message: unknown type")),
            },
        };
        match message {
            ClientMessage::ConnectionInit { payload } => self.on_init(payload).await,
            ClientMessage::Ping { .. } => {
                if self.send(json!({ "type": "pong" })).await {
                    None
                } else {
                    Some(Close::new(1011, ""))
                }
            }
            ClientMessage::Pong { .. } => None,
            ClientMessage::Subscribe { id, payload } => self.on_subscribe(id, payload).await,
            ClientMessage::Complete { id } => {
                if let Some(handle) = self.ops.remove(&id) {
                    handle.abort();
                }
                None
            }
        }
    }

    async fn on_init(&mut self, payload: Option<Value>) -> Option<Close> {
        if self.init_seen {
            return Some(Close::new(4429, "Too many initialisation requests"));
        }
        self.init_seen = true;
        let authorization = match &payload {
            None | Some(Value::Null) => None,
            Some(Value::Object(o)) => {
                o.iter().find(|(k, _)| k.eq_ignore_ascii_case("authorization")).and_then(|(_, v)| v.as_str())
            }
            Some(_) => return Some(Close::new(4400, "Invalid message: the payload must be an object")),
        };
        let Some(authorization) = authorization.map(str::to_owned) else {
            return Some(Close::new(4403, "Forbidden"));
        };
        match live::Auth::start(&self.h.app, authorization, self.rid.clone()).await {
            Ok(auth) => {
                self.auth = Some(auth);
                if self.send(json!({ "type": "connection_ack" })).await { None } else { Some(Close::new(1011, "")) }
            }
            Err(AppError::Internal(detail)) => {
                tracing::error!(request_id = %self.rid.0, detail, "WebSocket authentication failed internally");
                Some(Close::new(1011, "Internal server error"))
            }
            Err(_) => Some(Close::new(4403, "Forbidden")),
        }
    }

    /// Checks the caller again; `Some` closes the connection (4403 when its membership is gone). A
    /// database hiccup is not the caller's fault: the connection stays and is checked again later.
    async fn recheck(&mut self) -> Option<Close> {
        let caller = self.auth.as_ref()?.caller.clone();
        match caller.check().await {
            Check::Gone => Some(Close::new(4403, "Forbidden")),
            Check::Current(_) | Check::Unknown => None,
        }
    }

    async fn on_subscribe(&mut self, id: String, payload: SubscribePayload) -> Option<Close> {
        let Some(caller) = self.auth.as_ref().map(|a| a.caller.clone()) else {
            return Some(Close::new(4401, "Unauthorized"));
        };
        if id.is_empty() || id.len() > MAX_ID_LEN {
            return Some(Close::new(4400, "Invalid message: the id must be 1 to 64 bytes"));
        }
        if self.ops.contains_key(&id) {
            return Some(Close::new(4409, format!("Subscriber for {id} already exists")));
        }
        if self.ops.len() >= self.h.app.config.ws.max_operations {
            let error = coded_error(
                "TOO_MANY_ATTEMPTS",
                "TOO_MANY_OPERATIONS",
                &format!(
                    "at most {} operations may run at once on one connection",
                    self.h.app.config.ws.max_operations
                ),
            );
            return self.send_error(&id, vec![error]).await;
        }
        let mut request = async_graphql::Request::new(payload.query);
        if let Some(name) = payload.operation_name {
            request = request.operation_name(name);
        }
        match payload.variables {
            None | Some(Value::Null) => {}
            Some(v @ Value::Object(_)) => request = request.variables(async_graphql::Variables::from_json(v)),
            Some(_) => return Some(Close::new(4400, "Invalid message: variables must be an object")),
        }
        let checked = match graphql_request::check(&self.h.app, request, Transport::WebSocket) {
            Ok(c) => c,
            Err(Refused::Refusal(refusal) | Refused::MethodNotAllowed(refusal)) => {
                let error = serde_json::to_value(refusal.into_server_error())
                    .unwrap_or_else(|_| coded_error("INTERNAL_SERVER_ERROR", "INTERNAL", "internal server error"));
                return self.send_error(&id, vec![error]).await;
            }
        };
        // Every operation starts with the membership as of now, like an HTTP request.
        let principal = match caller.check().await {
            Check::Current(p) => p,
            Check::Gone => return Some(Close::new(4403, "Forbidden")),
            Check::Unknown => {
                let error = coded_error("INTERNAL_SERVER_ERROR", "INTERNAL", "internal server error");
                return self.send_error(&id, vec![error]).await;
            }
        };
        if let Some(limiter) = &self.h.app.rate_limiter
            && limiter.check(&principal.rate_key()).is_err()
        {
            self.h.app.metrics.observe(None, "RATE_LIMITED", Duration::ZERO);
            let error = coded_error("TOO_MANY_ATTEMPTS", "RATE_LIMITED", "too many requests; slow down");
            return self.send_error(&id, vec![error]).await;
        }
        // The same request data as `POST /graphql` gives its operations, and the live caller.
        let prepared = checked.prepare(&self.h.app, Caller(Some(principal)), self.rid.clone()).data(caller);
        let mut session = async_graphql::Data::default();
        session.insert(self.rid.clone());
        let stream = prepared.subscribe(&self.h.schema, std::sync::Arc::new(session));
        let (handle, registration) = AbortHandle::new_pair();
        let tagged = {
            let id = id.clone();
            let end = id.clone();
            stream.map(move |r| (id.clone(), Some(r))).chain(futures_util::stream::once(async move { (end, None) }))
        };
        self.streams.push(Abortable::new(tagged, registration).boxed());
        self.ops.insert(id, handle);
        self.h.app.metrics.ws_operation();
        None
    }

    /// Sends one response of an operation: `next`, or `error` (ending the operation) when it failed
    /// before producing any data (validation, permission).
    async fn on_response(&mut self, id: &str, response: async_graphql::Response) -> bool {
        if response.data == async_graphql::Value::Null && !response.errors.is_empty() {
            if let Some(handle) = self.ops.remove(id) {
                handle.abort();
            }
            let errors = match serde_json::to_value(&response.errors) {
                Ok(Value::Array(errors)) => errors,
                _ => vec![coded_error("INTERNAL_SERVER_ERROR", "INTERNAL", "internal server error")],
            };
            return self.send(json!({ "type": "error", "id": id, "payload": errors })).await;
        }
        match serde_json::to_value(&response) {
            Ok(payload) => self.send(json!({ "type": "next", "id": id, "payload": payload })).await,
            Err(e) => {
                tracing::error!(request_id = %self.rid.0, error = %e, "response serialisation failed");
                true
            }
        }
    }

    /// Ends one operation with an `error` message (the connection stays).
    async fn send_error(&mut self, id: &str, errors: Vec<Value>) -> Option<Close> {
        if self.send(json!({ "type": "error", "id": id, "payload": errors })).await {
            None
        } else {
            Some(Close::new(1011, ""))
        }
    }

    /// Sends a message; `false` when the socket is gone. Each send waits for the socket, so a client
    /// that does not read holds back its own operations (their event buffers skip) until `SEND_TIMEOUT`.
    async fn send(&mut self, message: Value) -> bool {
        let sent = tokio::time::timeout(SEND_TIMEOUT, self.socket.send(Message::text(message.to_string()))).await;
        matches!(sent, Ok(Ok(())))
    }
}

/// A client that stops reading for this long is dropped rather than holding its operations.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// An error in the GraphQL shape, with its code.
fn coded_error(code: &str, reason: &str, message: &str) -> Value {
    json!({ "message": message, "extensions": { "code": code, "reason": reason } })
}
