//! One request path for both transports (`POST`/`GET /graphql` in `http`, `subscribe` messages in `ws`):
//! the preflight, the operation types each transport serves, the per-request data every operation
//! reads, and the call into async-graphql. The transports only turn bytes into an
//! `async_graphql::Request` and an answer back into bytes.

use std::sync::Arc;
use std::time::Duration;

use async_graphql::parser::types::OperationType;
use futures_util::stream::BoxStream;

use super::AppSchema;
use super::compiled::{Compiled, Plans};
use super::context::{AuditCell, Executed, OperationCell};
use super::preflight::{self, Refusal};
use crate::app::{AppState, RequestId};
use crate::auth::Caller;

/// Where a request came from: each serves its own operation types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// `GET /graphql`: queries.
    Get,
    /// `POST /graphql`: queries and mutations.
    Post,
    /// A `subscribe` message on `/graphql/ws`: subscriptions.
    WebSocket,
}

/// Why a request does not run.
#[derive(Debug)]
pub enum Refused {
    /// The preflight refused it, or its transport does not serve its operation type.
    Refusal(Refusal),
    /// `GET` cannot carry this operation: HTTP answers 405 with `Allow: POST`.
    MethodNotAllowed(Refusal),
}

pub const SUBSCRIPTIONS_ELSEWHERE: &str =
    "subscriptions are served over WebSocket at /graphql/ws (graphql-transport-ws)";

/// A request that passed the preflight and may run on its transport.
pub struct Checked {
    request: async_graphql::Request,
    pub operation: OperationType,
}

/// The preflight (`graphql::preflight`), then the operation type the transport serves.
pub fn check(app: &AppState, request: async_graphql::Request, transport: Transport) -> Result<Checked, Refused> {
    let checked = preflight::check(request, &preflight::Limits::of(&app.config)).map_err(Refused::Refusal)?;
    let operation = checked.operation;
    match (transport, operation) {
        (Transport::Get, OperationType::Query)
        | (Transport::Post, OperationType::Query | OperationType::Mutation)
        | (Transport::WebSocket, OperationType::Subscription) => Ok(Checked { request: checked.request, operation }),
        (Transport::Get, OperationType::Mutation) => Err(Refused::MethodNotAllowed(Refusal::new(
            "BAD_USER_INPUT",
            "MUTATION_OVER_GET",
            "mutations must be sent with POST",
        ))),
        (Transport::Get, OperationType::Subscription) => Err(Refused::MethodNotAllowed(Refusal::new(
            "BAD_USER_INPUT",
            "SUBSCRIPTION_OVER_HTTP",
            SUBSCRIPTIONS_ELSEWHERE,
        ))),
        (Transport::Post, OperationType::Subscription) => {
            Err(Refused::Refusal(Refusal::new("BAD_USER_INPUT", "SUBSCRIPTION_OVER_HTTP", SUBSCRIPTIONS_ELSEWHERE)))
        }
        (Transport::WebSocket, OperationType::Query | OperationType::Mutation) => Err(Refused::Refusal(Refusal::new(
            "BAD_USER_INPUT",
            "NOT_A_SUBSCRIPTION",
            "only subscriptions are served over WebSocket; send queries and mutations to POST /graphql",
        ))),
    }
}

/// The answer to a request stopped after `limit`.
pub fn timed_out(limit: Duration, rid: &RequestId, operation: Option<&str>) -> async_graphql::Response {
    tracing::warn!(
        request_id = %rid.0,
        operation = operation.unwrap_or("-"),
        seconds = limit.as_secs(),
        "request timed out and was stopped"
    );
    Refusal::new(
        "REQUEST_TIMEOUT",
        "TIMED_OUT",
        format!(
            "the request ran longer than {} s and was stopped; a mutation may or may not have taken effect",
            limit.as_secs()
        ),
    )
    .response()
}

/// A request with its per-request data, ready to run; the cells tell the transport what happened.
pub struct Prepared {
    pub request: async_graphql::Request,
    pub operation: OperationType,
    /// The operation's name once async-graphql resolved it (for metrics).
    pub operation_name: OperationCell,
    /// Set when execution began (after parsing, validation and the limits).
    pub executed: Executed,
}

impl Checked {
    /// The compiled plan of this query (`graphql::compiled`), kept in `plans`, when it has one.
    pub fn compile(&mut self, app: &AppState, plans: &Plans) -> Option<Arc<Compiled>> {
        if self.operation != OperationType::Query || !Plans::eligible(&self.request) {
            return None;
        }
        let (query, operation_name) = (self.request.query.clone(), self.request.operation_name.clone());
        let doc = self.request.parsed_query().ok()?;
        plans.compile(query, operation_name, doc, app.config.limits.max_complexity)
    }

    /// The data every operation reads, on either transport: the caller as checked for this request,
    /// the request id, the audit note, the relation loaders, and the cells above.
    pub fn prepare(self, app: &AppState, caller: Caller, rid: RequestId) -> Prepared {
        let operation_name = OperationCell::default();
        let executed = Executed::default();
        let request = self
            .request
            .data(operation_name.clone())
            .data(executed.clone())
            .data(caller)
            .data(rid)
            .data(AuditCell::default())
            .data(super::loaders::per_request(app.db.clone()));
        Prepared { request, operation: self.operation, operation_name, executed }
    }
}

impl Prepared {
    /// Adds data one transport has beyond the rest (the WebSocket's live caller).
    pub fn data<D: std::any::Any + Send + Sync>(mut self, data: D) -> Self {
        self.request = self.request.data(data);
        self
    }

    /// Runs a query or mutation, stopped after `limit` with `REQUEST_TIMEOUT`.
    pub async fn execute(self, schema: &AppSchema, limit: Duration, rid: &RequestId) -> async_graphql::Response {
        let operation = self.operation_name.clone();
        match tokio::time::timeout(limit, schema.execute(self.request)).await {
            Ok(response) => response,
            Err(_) => timed_out(limit, rid, operation.get().as_deref()),
        }
    }

    /// Runs a subscription: its responses, until it ends or is dropped.
    pub fn subscribe(
        self,
        schema: &AppSchema,
        session: Arc<async_graphql::Data>,
    ) -> BoxStream<'static, async_graphql::Response> {
        use futures_util::StreamExt;
        schema.execute_stream_with_session_data(self.request, session).boxed()
    }
}
