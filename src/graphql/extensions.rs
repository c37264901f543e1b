//! Two extensions every request passes through.
//!
//! `ErrorGuard` makes sure no error leaves without `extensions.code` and no internal text leaves at
//! all: async-graphql turns any `Display` error into a code-less message, so this is checked here,
//! centrally, rather than trusted to every resolver.
//!
//! `AuditLog` writes one audit entry per top-level mutation field, with its outcome.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextResolve, NextValidation,
    ResolveInfo,
};
use async_graphql::parser::types::{ExecutableDocument, OperationType};
use async_graphql::{Response, ServerError, ServerResult, ValidationResult, Value, Variables};

use super::context::AuditCell;
use crate::app::{AppState, RequestId};
use crate::auth::Caller;
use crate::error::InternalDetail;
use crate::service::audit::{self, AuditRecord};

fn set_code(e: &mut ServerError, code: &str) {
    e.extensions.get_or_insert_with(Default::default).set("code", code);
}

fn code_of(e: &ServerError) -> Option<String> {
    match e.extensions.as_ref()?.get("code")? {
        Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

/// The most validation errors one answer carries.
pub const MAX_VALIDATION_ERRORS: usize = 50;

pub struct ErrorGuard;

impl ExtensionFactory for ErrorGuard {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ErrorGuardExtension)
    }
}

struct ErrorGuardExtension;

#[async_trait::async_trait]
impl Extension for ErrorGuardExtension {
    fn wants_resolve(&self) -> bool {
        false
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        if ctx.data_opt::<super::preflight::Preflighted>().is_none() {
            // Only requests that passed `preflight::check` (which parsed them) may run: parsing raw text
            // here is what overflowed the stack and hung on fragment fan-out.
            tracing::error!("a request reached async-graphql without the preflight");
            let mut e = ServerError::new("internal server error", None);
            set_code(&mut e, "INTERNAL_SERVER_ERROR");
            return Err(e);
        }
        let doc = next.run(ctx, query, variables).await.map_err(|mut e| {
            set_code(&mut e, "GRAPHQL_PARSE_FAILED");
            e
        })?;
        // A document with one named operation runs it without `operationName`: name it for metrics.
        if let (Some(cell), async_graphql::parser::types::DocumentOperations::Multiple(ops)) =
            (ctx.data_opt::<super::context::OperationCell>(), &doc.operations)
            && ops.len() == 1
        {
            *cell.0.lock().unwrap_or_else(|p| p.into_inner()) = ops.keys().next().map(|n| n.to_string());
        }
        Ok(doc)
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        next.run(ctx).await.map_err(|errors| {
            // Validation reports every mistake; a document of thousands of unused variables or
            // fragments would otherwise answer several times its own size.
            errors
                .into_iter()
                .take(MAX_VALIDATION_ERRORS)
                .map(|mut e| {
                    // async-graphql's own limits, told apart by their messages (each pinned through the
                    // router: `tests/api/pinned_messages.rs`).
                    let code = match e.message.as_str() {
                        "Query is nested too deep." => "MAX_DEPTH_LIMIT",
                        "Query is too complex." => "MAX_COMPLEXITY_LIMIT",
                        _ => "GRAPHQL_VALIDATION_FAILED",
                    };
                    set_code(&mut e, code);
                    e
                })
                .collect()
        })
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        if let Some(executed) = ctx.data_opt::<super::context::Executed>() {
            executed.mark();
        }
        let mut response = next.run(ctx, operation_name).await;
        let request_id = ctx.data_opt::<RequestId>().map(|r| r.0.as_str()).unwrap_or("-");
        for e in &mut response.errors {
            guard(e, request_id);
        }
        response
    }

    /// A subscription's responses (errors raised while subscribing or while streaming) pass the same
    /// guard; the request id comes from the session data (the WebSocket connection).
    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: futures_util::stream::BoxStream<'s, Response>,
        next: async_graphql::extensions::NextSubscribe<'_>,
    ) -> futures_util::stream::BoxStream<'s, Response> {
        use futures_util::StreamExt;
        let request_id = ctx.data_opt::<RequestId>().map(|r| r.0.clone()).unwrap_or_else(|| "-".to_owned());
        next.run(ctx, stream)
            .map(move |mut response| {
                for e in &mut response.errors {
                    guard(e, &request_id);
                }
                response
            })
            .boxed()
    }
}

/// Gives every error a code and hides internals: a code-less error is async-graphql's own input
/// coercion message (safe, the caller's mistake) or an unexpected failure (masked and logged).
fn guard(e: &mut ServerError, request_id: &str) {
    match code_of(e).as_deref() {
        Some("INTERNAL_SERVER_ERROR") => {
            let detail = e
                .source
                .as_ref()
                .and_then(|s| s.downcast_ref::<InternalDetail>())
                .map(|d| d.0.clone())
                .unwrap_or_default();
            tracing::error!(request_id, path = ?e.path, detail, "internal error");
            mask(e, request_id);
        }
        Some(_) => {}
        None => match input_error(&e.message) {
            Some(reason) => {
                e.message = bounded(&e.message);
                set_code(e, "BAD_USER_INPUT");
                e.extensions.get_or_insert_with(Default::default).set("reason", reason);
            }
            None => {
                tracing::error!(request_id, path = ?e.path, detail = %e.message, "internal error without a code");
                mask(e, request_id);
            }
        },
    }
}

/// The reason of an input coercion error, recognised by the message shapes async-graphql 7 builds
/// (each is pinned through the router in `tests/api/coercion.rs`, so an upgrade that changes one is noticed;
/// validation errors never come here, they are coded in `validation`):
///
/// - `Expected input type "T", found V.` — `InputValueError::expected_type`: a value of the wrong kind
///   for a scalar, enum, input object or list (built-in and our `Date`);
/// - `Failed to parse "T": …` — `InputValueError::custom`: a value of the right kind that does not
///   parse (an out-of-range `Int`, a malformed `DateTime`, our `Decimal` and `Date` messages, an
///   unknown enum value given in a variable);
///   both may end in ` (occurred while parsing "U")` when the value sits inside an input object or list;
/// - `Variable x is not defined.` — `Context::var_value`: a required variable the request did not send.
pub(crate) fn input_error(message: &str) -> Option<&'static str> {
    if message.starts_with("Expected input type \"") || message.starts_with("Failed to parse \"") {
        return Some("INVALID_VALUE");
    }
    let variable = message.strip_prefix("Variable ").and_then(|m| m.strip_suffix(" is not defined."));
    if variable.is_some_and(|name| !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')) {
        return Some("VARIABLE_MISSING");
    }
    None
}

/// Coercion messages echo the caller's value; a long one is cut so that a large variable used by many
/// fields cannot multiply into a large response.
fn bounded(message: &str) -> String {
    const MAX: usize = 200;
    match message.char_indices().nth(MAX) {
        Some((at, _)) => format!("{}…", &message[..at]),
        None => message.to_owned(),
    }
}

fn mask(e: &mut ServerError, request_id: &str) {
    e.message = "internal server error".to_owned();
    e.source = None;
    let ext = e.extensions.get_or_insert_with(Default::default);
    ext.set("code", "INTERNAL_SERVER_ERROR");
    ext.unset("reason");
    ext.unset("field");
    ext.set("requestId", request_id);
}

pub struct AuditLog;

impl ExtensionFactory for AuditLog {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(AuditLogExtension { mutation: AtomicBool::new(true) })
    }
}

struct AuditLogExtension {
    /// Whether the request's document may run a mutation: until its parse says otherwise, yes. Fields of
    /// a document without one resolve without this extension's `resolve` hook.
    mutation: AtomicBool,
}

#[async_trait::async_trait]
impl Extension for AuditLogExtension {
    fn wants_resolve(&self) -> bool {
        self.mutation.load(Ordering::Relaxed)
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        let mutation = document.operations.iter().any(|(_, op)| op.node.ty == OperationType::Mutation);
        self.mutation.store(mutation, Ordering::Relaxed);
        Ok(document)
    }

    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        if info.path_node.parent.is_some() || info.parent_type != "MutationRoot" {
            return next.run(ctx, info).await;
        }
        let operation = info.name.to_owned();
        let result = next.run(ctx, info).await;
        let (Some(state), Some(cell)) = (ctx.data_opt::<AppState>(), ctx.data_opt::<AuditCell>()) else {
            return result;
        };
        let note = cell.take();
        let principal = ctx.data_opt::<Caller>().and_then(|c| c.0.as_ref());
        // A key acts as itself: the entry names the key, not its creator.
        let (actor, api_key, subscriber, role) = match (note.actor, principal) {
            (Some((u, s, r)), _) => (Some(u), None, Some(s), Some(r)),
            (None, Some(p)) => (p.user_id(), p.api_key_id(), Some(p.subscriber_id), Some(p.role)),
            (None, None) => (None, None, None, None),
        };
        let outcome = match &result {
            Ok(_) => "OK".to_owned(),
            Err(e) => code_of(e).unwrap_or_else(|| "INTERNAL_SERVER_ERROR".to_owned()),
        };
        let request_id = ctx.data_opt::<RequestId>().map(|r| r.0.clone());
        let record = AuditRecord {
            at: state.clock.now(),
            actor,
            api_key,
            role,
            subscriber,
            operation,
            target: note.target,
            outcome,
            request_id,
        };
        if let Err(e) = audit::record(state, record).await {
            // The change itself is committed; say so truthfully and make the gap visible in the logs.
            tracing::error!(error = ?e, "audit log write failed");
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_errors_are_told_from_other_code_less_errors() {
        for (message, reason) in [
            ("Expected input type \"DateTime\", found 0.", Some("INVALID_VALUE")),
            (
                "Failed to parse \"Int\": Only integers from -2147483648 to 2147483647 are accepted.",
                Some("INVALID_VALUE"),
            ),
            (
                "Expected input type \"String\", found 5. (occurred while parsing \"RegisterClientInput\")",
                Some("INVALID_VALUE"),
            ),
            ("Variable weekStart is not defined.", Some("VARIABLE_MISSING")),
            ("Variable  is not defined.", None),
            ("Data `AppState` does not exist.", None),
            ("error returned from database: relation does not exist", None),
            ("Failed to parse", None),
        ] {
            assert_eq!(input_error(message), reason, "{message}");
        }
        let long = format!("Expected input type \"Date\", found \"{}\".", "я".repeat(10_000));
        assert_eq!(bounded(&long).chars().count(), 201);
        assert_eq!(bounded("short"), "short");
    }
}
