//! The HTTP edge: authentication, the GraphQL endpoints (POST with a JSON body; GET for queries only),
//! GraphiQL, and health checks. Everything here refuses early and answers with a coded JSON error.

use async_graphql::parser::types::OperationType;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::json;

use crate::app::{AppState, HttpState, RequestId};
use crate::auth::{Caller, Principal};
use crate::error::{AppError, AppResult};
use crate::graphql::compiled::{Compiled, Plans};
use crate::graphql::preflight::Refusal;
use crate::graphql::request::{self as graphql_request, Refused, Transport};
use crate::service::idempotency::{self, Claim, Kept};

const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";

/// A JSON body in the GraphQL error shape, for refusals before GraphQL runs.
pub fn refuse(status: StatusCode, code: &str, reason: &str, message: &str) -> Response {
    let body = json!({ "errors": [{ "message": message, "extensions": { "code": code, "reason": reason } }] });
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

pub fn request_span(req: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
    tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.uri().path())
}

pub fn request_id(headers: &HeaderMap) -> RequestId {
    RequestId(headers.get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-").to_owned())
}

/// Authenticates once, at the edge: no `Authorization` header means an anonymous caller; a header with
/// anything but a valid token for a current membership is refused with 401 before GraphQL runs.
pub async fn authenticate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let caller = match req.headers().get(header::AUTHORIZATION) {
        None => Caller(None),
        Some(value) => match principal_from(&state, value).await {
            Ok(p) => Caller(Some(p)),
            Err(AppError::Internal(detail)) => {
                tracing::error!(detail, "authentication failed internally");
                return refuse(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "INTERNAL_SERVER_ERROR",
                    "INTERNAL",
                    "internal server error",
                );
            }
            Err(e) => {
                let mut resp = refuse(
                    StatusCode::UNAUTHORIZED,
                    "UNAUTHENTICATED",
                    e.reason().unwrap_or("INVALID_TOKEN"),
                    &e.message(),
                );
                resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                return resp;
            }
        },
    };
    req.extensions_mut().insert(caller);
    next.run(req).await
}

async fn principal_from(state: &AppState, value: &HeaderValue) -> AppResult<Principal> {
    let raw = value.to_str().map_err(|_| AppError::unauthenticated("INVALID_TOKEN", "invalid token"))?;
    crate::auth::bearer::principal(state, &state.auth_cache, raw).await
}

/// The per-client rate limit: a signed-in user by its id, an anonymous caller by its address. 429 with
/// `Retry-After` past it.
pub async fn rate_limit(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if let Some(limiter) = &state.rate_limiter {
        let client = match req.extensions().get::<Caller>().and_then(|c| c.0.as_ref()) {
            Some(p) => p.rate_key(),
            None => match req.extensions().get::<axum::extract::ConnectInfo<std::net::SocketAddr>>() {
                Some(ci) => format!("ip:{}", state.config.http.client_addr.client(ci.0.ip(), req.headers())),
                None => "anonymous".to_owned(),
            },
        };
        if let Err(wait) = limiter.check(&client) {
            state.metrics.observe(None, "RATE_LIMITED", std::time::Duration::ZERO);
            let mut resp = refuse(
                StatusCode::TOO_MANY_REQUESTS,
                "TOO_MANY_ATTEMPTS",
                "RATE_LIMITED",
                "too many requests; slow down",
            );
            let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return resp;
        }
    }
    next.run(req).await
}

/// Which media type the caller accepts for the response.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Accept {
    Json,
    GraphqlResponseJson,
}

fn negotiate(headers: &HeaderMap) -> Accept {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    if accept.contains(GRAPHQL_RESPONSE_JSON) && !accept.contains("application/json") {
        Accept::GraphqlResponseJson
    } else {
        Accept::Json
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
}

/// `POST /graphql`: only an `application/json` body executes, so a cross-site form or text/plain
/// post cannot (CSRF); batches are refused.
pub async fn graphql_post(
    State(h): State<HttpState>,
    axum::Extension(caller): axum::Extension<Caller>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    if !is_json(&headers) {
        return refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "BAD_USER_INPUT",
            "UNSUPPORTED_MEDIA_TYPE",
            "send the request as application/json",
        );
    }
    let body = match body {
        Ok(b) => b,
        Err(rej) if rej.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return refuse(
                StatusCode::PAYLOAD_TOO_LARGE,
                "BAD_USER_INPUT",
                "BODY_TOO_LARGE",
                "the request body is too large",
            );
        }
        Err(_) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "BAD_USER_INPUT",
                "BODY_UNREADABLE",
                "the request body could not be read",
            );
        }
    };
    let value: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(_) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "GRAPHQL_PARSE_FAILED",
                "INVALID_JSON",
                "the body is not valid JSON",
            );
        }
    };
    if value.is_array() {
        return refuse(
            StatusCode::BAD_REQUEST,
            "BAD_USER_INPUT",
            "BATCH_NOT_SUPPORTED",
            "batched requests are not supported; send one operation per request",
        );
    }
    // Hashed before the body becomes a request (only when the header asks for it; a query ignores it).
    let idempotency =
        idempotency_header(&headers).map(|key| Idempotency { key, hash: idempotency::request_hash(&value) });
    let request: async_graphql::Request = match serde_json::from_value(value) {
        Ok(r) => r,
        Err(_) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "BAD_USER_INPUT",
                "INVALID_REQUEST",
                "the body must be {\"query\": …, \"variables\": {…}, \"operationName\": …}",
            );
        }
    };
    run(&h, caller, request_id(&headers), request, negotiate(&headers), Transport::Post, idempotency).await
}

/// The `Idempotency-Key` of a POST, as sent: `Some(None)` when it is there but malformed (or repeated).
fn idempotency_header(headers: &HeaderMap) -> Option<Option<String>> {
    let mut all = headers.get_all(IDEMPOTENCY_KEY).iter();
    let first = all.next()?;
    if all.next().is_some() {
        return Some(None);
    }
    Some(idempotency::parse_key(first.as_bytes()).map(str::to_owned))
}

const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// A mutation's `Idempotency-Key` and the hash of the request it came with.
struct Idempotency {
    key: Option<String>,
    hash: String,
}

#[derive(Deserialize)]
pub struct GetParams {
    query: Option<String>,
    variables: Option<String>,
    #[serde(rename = "operationName")]
    operation_name: Option<String>,
}

/// `GET /graphql`: queries only; a mutation is refused with 405.
pub async fn graphql_get(
    State(h): State<HttpState>,
    axum::Extension(caller): axum::Extension<Caller>,
    headers: HeaderMap,
    Query(params): Query<GetParams>,
) -> Response {
    let Some(query) = params.query else {
        // A browser opening the endpoint's address gets the page that can talk to it.
        let wants_html =
            headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("text/html"));
        if wants_html && h.app.config.http.graphiql {
            return (StatusCode::SEE_OTHER, [(header::LOCATION, "/")]).into_response();
        }
        return refuse(StatusCode::BAD_REQUEST, "BAD_USER_INPUT", "QUERY_MISSING", "the query parameter is missing");
    };
    let mut request = async_graphql::Request::new(query);
    if let Some(name) = params.operation_name {
        request = request.operation_name(name);
    }
    if let Some(vars) = params.variables.filter(|v| !v.is_empty()) {
        match serde_json::from_str::<serde_json::Value>(&vars) {
            Ok(v) => request = request.variables(async_graphql::Variables::from_json(v)),
            Err(_) => {
                return refuse(
                    StatusCode::BAD_REQUEST,
                    "BAD_USER_INPUT",
                    "INVALID_VARIABLES",
                    "variables must be a JSON object",
                );
            }
        }
    }
    run(&h, caller, request_id(&headers), request, negotiate(&headers), Transport::Get, None).await
}

/// Every GraphQL request over HTTP: the shared request path (preflight, the operation types the method
/// serves), then execution (through its `Idempotency-Key` claim, for a mutation that has one).
async fn run(
    h: &HttpState,
    caller: Caller,
    rid: RequestId,
    request: async_graphql::Request,
    accept: Accept,
    transport: Transport,
    idempotency: Option<Idempotency>,
) -> Response {
    let started = std::time::Instant::now();
    // A query compiled before skips the preflight too: its text passed it then, and it has no variables.
    if transport != Transport::WebSocket
        && Plans::eligible(&request)
        && let Some(compiled) = h.plans.get(&request)
        && let Some(answer) = serve_compiled(h, &compiled, &caller, &rid, accept, started).await
    {
        return answer;
    }
    let mut checked = match graphql_request::check(&h.app, request, transport) {
        Ok(c) => c,
        Err(Refused::Refusal(refusal)) => return refused(h, refusal, accept, started),
        Err(Refused::MethodNotAllowed(r)) => {
            let mut resp = refuse(StatusCode::METHOD_NOT_ALLOWED, r.code, r.reason, &r.message);
            resp.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST"));
            return resp;
        }
    };
    if let Some(compiled) = checked.compile(&h.app, &h.plans)
        && let Some(answer) = serve_compiled(h, &compiled, &caller, &rid, accept, started).await
    {
        return answer;
    }
    if checked.operation == OperationType::Mutation
        && let Some(idempotency) = idempotency
    {
        return idempotent(h, caller, rid, checked, accept, started, idempotency).await;
    }
    execute(h, caller, rid, checked, accept, started).await.into_response()
}

/// A query through the compiled read path (`graphql::compiled`), stopped after the request timeout like
/// any other; `None` when the general path must answer it.
async fn serve_compiled(
    h: &HttpState,
    compiled: &Compiled,
    caller: &Caller,
    rid: &RequestId,
    accept: Accept,
    started: std::time::Instant,
) -> Option<Response> {
    let limit = h.app.config.limits.request_timeout;
    let operation = compiled.operation_name();
    let Ok(body) = tokio::time::timeout(limit, compiled.serve(&h.app, caller)).await else {
        h.app.metrics.observe(operation, "REQUEST_TIMEOUT", started.elapsed());
        let response = graphql_request::timed_out(limit, rid, operation);
        return Some(render(response, accept, false).into_response());
    };
    let body = body?;
    h.app.metrics.observe(operation, "OK", started.elapsed());
    h.app.metrics.compiled();
    let (status, content_type) = media(accept, false);
    Some(Rendered { status, content_type, body, ran: true }.into_response())
}

/// A mutation with an `Idempotency-Key` (docs/rules.md §12): claimed in the database before it runs; a repeat of
/// the same request gets the kept answer, another request under the key 422, a repeat while the first
/// runs 409. An answer refused before execution is not kept (the claim is released).
async fn idempotent(
    h: &HttpState,
    caller: Caller,
    rid: RequestId,
    request: graphql_request::Checked,
    accept: Accept,
    started: std::time::Instant,
    idempotency: Idempotency,
) -> Response {
    let refused = |status: StatusCode, code: &str, reason: &str, message: &str| {
        h.app.metrics.observe(None, reason, started.elapsed());
        refuse(status, code, reason, message)
    };
    let Some(principal) = caller.0.clone() else {
        return refused(
            StatusCode::BAD_REQUEST,
            "BAD_USER_INPUT",
            "IDEMPOTENCY_KEY_NEEDS_AUTH",
            "an Idempotency-Key needs a signed-in caller (a token or an API key)",
        );
    };
    let Some(key) = idempotency.key else {
        return refused(
            StatusCode::BAD_REQUEST,
            "BAD_USER_INPUT",
            "IDEMPOTENCY_KEY_INVALID",
            "Idempotency-Key: one header of 1 to 255 visible ASCII characters",
        );
    };
    let claim = match idempotency::claim(&h.app, &principal, &key, &idempotency.hash).await {
        Ok(c) => c,
        Err(e) => return internal(&rid, e, "idempotency claim failed"),
    };
    match claim {
        Claim::Reused => refused(
            StatusCode::UNPROCESSABLE_ENTITY,
            "BAD_USER_INPUT",
            "IDEMPOTENCY_KEY_REUSED",
            "this Idempotency-Key was used for another request; use a new key for a new request",
        ),
        Claim::InProgress => {
            let mut resp = refused(
                StatusCode::CONFLICT,
                "CONFLICT",
                "IDEMPOTENCY_KEY_IN_PROGRESS",
                "the first request with this Idempotency-Key is still running; retry in a moment",
            );
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            resp
        }
        Claim::Replay(kept) => {
            h.app.metrics.observe(None, "IDEMPOTENT_REPLAY", started.elapsed());
            let status = StatusCode::from_u16(kept.status).unwrap_or(StatusCode::OK);
            let mut resp = (status, kept.body).into_response();
            if let Ok(v) = HeaderValue::from_str(&kept.content_type) {
                resp.headers_mut().insert(header::CONTENT_TYPE, v);
            }
            resp.headers_mut().insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
            resp
        }
        Claim::Run(held) => {
            let answer = execute(h, caller, rid.clone(), request, accept, started).await;
            let kept = if answer.ran {
                let kept = Kept {
                    status: answer.status.as_u16(),
                    content_type: answer.content_type.to_owned(),
                    body: answer.body.clone(),
                };
                idempotency::complete(&h.app, held, &kept).await
            } else {
                idempotency::release(&h.app, held).await
            };
            if let Err(e) = kept {
                // The answer is the caller's either way; a claim left running is taken over after its lease.
                tracing::error!(request_id = %rid.0, error = ?e, "could not keep or release an idempotency claim");
            }
            answer.into_response()
        }
    }
}

const IDEMPOTENT_REPLAYED: &str = "idempotent-replayed";

fn internal(rid: &RequestId, e: AppError, what: &str) -> Response {
    tracing::error!(request_id = %rid.0, error = ?e, "{what}");
    refuse(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_SERVER_ERROR", "INTERNAL", "internal server error")
}

/// A request the preflight refused: it never ran.
fn refused(h: &HttpState, refusal: Refusal, accept: Accept, started: std::time::Instant) -> Response {
    h.app.metrics.observe(None, refusal.code, started.elapsed());
    render(refusal.response(), accept, true).into_response()
}

async fn execute(
    h: &HttpState,
    caller: Caller,
    rid: RequestId,
    request: graphql_request::Checked,
    accept: Accept,
    started: std::time::Instant,
) -> Rendered {
    let prepared = request.prepare(&h.app, caller, rid.clone());
    let (operation, executed) = (prepared.operation_name.clone(), prepared.executed.clone());
    let response = prepared.execute(&h.schema, h.app.config.limits.request_timeout, &rid).await;
    let outcome = response
        .errors
        .first()
        .and_then(|e| e.extensions.as_ref())
        .and_then(|x| match x.get("code") {
            Some(async_graphql::Value::String(s)) => Some(s.clone()),
            _ => None,
        })
        .unwrap_or_else(
            || if response.errors.is_empty() { "OK".to_owned() } else { "INTERNAL_SERVER_ERROR".to_owned() },
        );
    h.app.metrics.observe(operation.get().as_deref(), &outcome, started.elapsed());
    let failed_before_execution = !executed.get();
    render(response, accept, failed_before_execution)
}

/// The HTTP answer to a GraphQL response, before it is sent.
struct Rendered {
    status: StatusCode,
    content_type: &'static str,
    body: String,
    /// Whether the operation ran (it passed parsing, validation and the limits).
    ran: bool,
}

impl IntoResponse for Rendered {
    fn into_response(self) -> Response {
        (self.status, [(header::CONTENT_TYPE, self.content_type)], self.body).into_response()
    }
}

/// The HTTP answer to a GraphQL response: its status and media type follow `Accept`; a request that
/// never executed has no `data` entry and status 400 in the newer media type (GraphQL over HTTP).
fn render(response: async_graphql::Response, accept: Accept, failed_before_execution: bool) -> Rendered {
    let (status, content_type) = media(accept, failed_before_execution);
    let body = if accept == Accept::GraphqlResponseJson && failed_before_execution {
        // A request that never ran has no `data` member at all.
        serde_json::to_value(&response).and_then(|mut v| {
            if let Some(o) = v.as_object_mut() {
                o.remove("data");
            }
            serde_json::to_string(&v)
        })
    } else {
        serde_json::to_string(&response)
    };
    match body {
        Ok(body) => Rendered { status, content_type, body, ran: !failed_before_execution },
        Err(e) => {
            tracing::error!(error = %e, "response serialisation failed");
            let body = json!({ "errors": [{ "message": "internal server error", "extensions": { "code": "INTERNAL_SERVER_ERROR", "reason": "INTERNAL" } }] });
            Rendered {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                content_type: "application/json",
                body: body.to_string(),
                ran: !failed_before_execution,
            }
        }
    }
}

/// The status and media type of an answer: they follow `Accept`, and a request that never executed is
/// 400 in the newer media type.
fn media(accept: Accept, failed_before_execution: bool) -> (StatusCode, &'static str) {
    match accept {
        Accept::GraphqlResponseJson if failed_before_execution => (StatusCode::BAD_REQUEST, GRAPHQL_RESPONSE_JSON),
        Accept::GraphqlResponseJson => (StatusCode::OK, GRAPHQL_RESPONSE_JSON),
        Accept::Json => (StatusCode::OK, "application/json"),
    }
}

/// GraphiQL, when enabled (development by default).
pub async fn graphiql(State(h): State<HttpState>) -> Response {
    if !h.app.config.http.graphiql {
        return StatusCode::NOT_FOUND.into_response();
    }
    crate::graphiql::page().into_response()
}

/// Prometheus metrics; with `PARTNERGRAPH_METRICS_TOKEN` set, only for `Authorization: Bearer <token>`.
pub async fn metrics(State(h): State<HttpState>, headers: HeaderMap) -> Response {
    if let Some(token) = &h.app.config.http.metrics_token
        && !bearer_matches(&headers, token.expose_secret())
    {
        let mut resp = refuse(
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            "METRICS_TOKEN_REQUIRED",
            "/metrics needs Authorization: Bearer <PARTNERGRAPH_METRICS_TOKEN>",
        );
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return resp;
    }
    let db = &h.app.db;
    let pool = match db.get_database_backend() {
        sea_orm::DatabaseBackend::Sqlite => {
            let p = db.get_sqlite_connection_pool();
            (p.size(), p.num_idle())
        }
        sea_orm::DatabaseBackend::Postgres => {
            let p = db.get_postgres_connection_pool();
            (p.size(), p.num_idle())
        }
        _ => (0, 0),
    };
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], h.app.metrics.render(pool)).into_response()
}

/// Whether `Authorization` is `Bearer <expected>`, compared in constant time (over SHA-256 digests, so
/// neither the content nor the length of the expected token shows in the timing).
fn bearer_matches(headers: &HeaderMap, expected: &str) -> bool {
    use sha2::{Digest, Sha256};
    use subtle::ConstantTimeEq;
    let Some(given) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
    else {
        return false;
    };
    Sha256::digest(given.as_bytes()).ct_eq(&Sha256::digest(expected.as_bytes())).into()
}

pub async fn healthz() -> &'static str {
    "ok"
}

/// How long `/readyz` waits for the database: a probe must answer quickly even when the database hangs.
const READY_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(800);

/// Ready when the process is not draining and the database answers within `READY_TIMEOUT`.
pub async fn readyz(State(h): State<HttpState>) -> Response {
    if h.app.lifecycle.is_draining() {
        return (StatusCode::SERVICE_UNAVAILABLE, "draining").into_response();
    }
    match tokio::time::timeout(READY_TIMEOUT, h.app.db.ping()).await {
        Ok(Ok(())) => (StatusCode::OK, "ready").into_response(),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "database not ready");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response()
        }
        Err(_) => {
            tracing::warn!(timeout = ?READY_TIMEOUT, "database not ready: no answer in time");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response()
        }
    }
}

/// While draining, every response asks the client (a balancer's kept-alive connection) to close, so no
/// request is sent on a connection the shutdown is about to close.
pub async fn close_while_draining(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    // A WebSocket handshake's answer says `Connection: upgrade`; its socket gets 1001 at the end instead.
    if state.lifecycle.is_draining() && resp.status() != StatusCode::SWITCHING_PROTOCOLS {
        resp.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    resp
}
