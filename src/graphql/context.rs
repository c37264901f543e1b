//! What a resolver reads from the request: the state, the caller, page arguments, and the note the
//! audit log takes of the mutation's target.

use std::sync::{Arc, Mutex};

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, ID, OutputType, SimpleObject};
use base64::Engine;
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::{Caller, Scope};
use crate::domain::Role;
use crate::error::AppError;
use crate::service::{Page, PageArgs};

pub type GqlResult<T> = async_graphql::Result<T>;

pub fn state<'a>(ctx: &Context<'a>) -> &'a AppState {
    ctx.data_unchecked::<AppState>()
}

pub fn caller<'a>(ctx: &Context<'a>) -> &'a Caller {
    static ANONYMOUS: Caller = Caller(None);
    ctx.data_opt::<Caller>().unwrap_or(&ANONYMOUS)
}

/// The signed-in caller's reach (`UNAUTHENTICATED` for an anonymous caller): every service takes it.
pub fn scope<'a>(ctx: &Context<'a>) -> Result<Scope<'a>, AppError> {
    caller(ctx).principal().map(Scope::new)
}

/// The caller's reach when there is one (relation fields also serve anonymous callers).
pub fn viewer<'a>(ctx: &Context<'a>) -> Option<Scope<'a>> {
    caller(ctx).0.as_ref().map(Scope::new)
}

/// An id naming a resource: anything that is not a UUID names nothing, so it is `NOT_FOUND`.
pub fn resource_id(id: &ID) -> Result<Uuid, AppError> {
    Uuid::parse_str(id.as_str()).map_err(|_| AppError::NotFound)
}

/// An id given as input: a malformed one is bad input on that field.
pub fn input_id(id: &ID, field: &str) -> Result<Uuid, AppError> {
    Uuid::parse_str(id.as_str())
        .map_err(|_| AppError::bad_input(field, "INVALID_ID", format!("{field}: not a valid id")))
}

pub const DEFAULT_PAGE: i32 = 20;

/// `first` (default 20, at most the configured maximum) and the opaque `after` cursor.
pub fn page_args(ctx: &Context<'_>, first: Option<i32>, after: Option<String>) -> Result<PageArgs, AppError> {
    let count_total = ctx.look_ahead().field("totalCount").exists();
    page_args_of(state(ctx).config.limits.max_page_size, first, after.as_deref(), count_total)
}

/// `page_args` once the maximum and whether the total is asked for are known.
pub fn page_args_of(
    max: u64,
    first: Option<i32>,
    after: Option<&str>,
    count_total: bool,
) -> Result<PageArgs, AppError> {
    let first = first.unwrap_or(DEFAULT_PAGE);
    if first < 0 || first as u64 > max {
        return Err(AppError::bad_input("first", "OUT_OF_RANGE", format!("first: between 0 and {max}")));
    }
    let after = after
        .map(|c| {
            decode_cursor(c)
                .ok_or_else(|| AppError::bad_input("after", "INVALID_CURSOR", "after: not a cursor from this list"))
        })
        .transpose()?;
    Ok(PageArgs { first: first as u64, after, count_total })
}

pub fn encode_cursor(id: Uuid) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(id.as_bytes())
}

fn decode_cursor(c: &str) -> Option<Uuid> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(c).ok()?;
    Uuid::from_slice(&bytes).ok()
}

/// Fields every connection carries besides edges, nodes and page info.
#[derive(SimpleObject)]
pub struct ConnectionTotals {
    /// How many items match in all, over every page (counted only when this field is asked for).
    pub total_count: u64,
}

pub type Conn<N> = Connection<String, N, ConnectionTotals>;

/// Builds a Relay connection from a page of rows.
pub fn connection<M, N: OutputType>(
    page: Page<M>,
    after_given: bool,
    id: impl Fn(&M) -> Uuid,
    node: impl Fn(M) -> N,
) -> Conn<N> {
    let mut c =
        Connection::with_additional_fields(after_given, page.has_next, ConnectionTotals { total_count: page.total });
    c.edges = page.items.into_iter().map(|m| Edge::new(encode_cursor(id(&m)), node(m))).collect();
    c
}

/// What the audit log records about the running mutation beyond the caller: its target and, for the
/// public operations that sign in, who acted.
#[derive(Default, Debug, Clone)]
pub struct AuditNote {
    pub target: Option<Uuid>,
    pub actor: Option<(Uuid, Uuid, Role)>,
}

#[derive(Default, Clone)]
pub struct AuditCell(pub Arc<Mutex<AuditNote>>);

impl AuditCell {
    pub fn take(&self) -> AuditNote {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

pub fn audit_target(ctx: &Context<'_>, id: Uuid) {
    if let Some(cell) = ctx.data_opt::<AuditCell>() {
        cell.0.lock().unwrap_or_else(|p| p.into_inner()).target = Some(id);
    }
}

/// The subscriber a public operation of this request just signed in to (login, self-registration,
/// accepting an invitation): its payload shows that subscriber as its own.
pub fn signed_in_subscriber(ctx: &Context<'_>) -> Option<Uuid> {
    ctx.data_opt::<AuditCell>()?.0.lock().unwrap_or_else(|p| p.into_inner()).actor.map(|(_, s, _)| s)
}

pub fn audit_actor(ctx: &Context<'_>, user: Uuid, subscriber: Uuid, role: Role) {
    if let Some(cell) = ctx.data_opt::<AuditCell>() {
        cell.0.lock().unwrap_or_else(|p| p.into_inner()).actor = Some((user, subscriber, role));
    }
}

/// The name of the operation a request ran, as async-graphql resolved it (for metrics).
#[derive(Default, Clone)]
pub struct OperationCell(pub Arc<Mutex<Option<String>>>);

impl OperationCell {
    pub fn get(&self) -> Option<String> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// Set once execution begins (after parsing, validation and the limits): an answer without it never ran
/// anything, so it is not kept under an `Idempotency-Key` and is a 400 in the GraphQL-over-HTTP media type.
#[derive(Clone, Default)]
pub struct Executed(Arc<std::sync::atomic::AtomicBool>);

impl Executed {
    pub fn mark(&self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn get(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }
}
