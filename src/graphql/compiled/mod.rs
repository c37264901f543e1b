//! The compiled read path: the most frequent reads (`me { id role }` and the subscribers page with its
//! serving partners, subscriptions and tariffs) answered without async-graphql's validation, field
//! resolution and value tree.
//!
//! A query passes the preflight as any other; the planner ([`plan`]) then tries to compile its document
//! into a plan, which is kept by query text (a repeat skips parsing as well). A plan reads the same rows
//! as the resolvers — `subscribers::list`'s page with the caller's reach, joined with the page's serving
//! partners, subscriptions and tariffs, in one statement (the general path takes two) — and writes the
//! JSON answer straight from the rows ([`render`]), with the same projection of each subscriber.
//! Whatever the planner cannot prove valid — variables, fragments, directives, fields it does not know,
//! a complexity over the limit — and whatever would end in an error (no caller, a bad cursor or page
//! size, a failed statement) goes the general way, which then answers as it always has.
//! `tests/api/compiled.rs` compares both paths' answers byte for byte.

pub mod plan;
mod render;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use plan::{ConnectionField, Fields, NodeField, Plan, Root, SubscriptionField};

use crate::app::AppState;
use crate::auth::{Caller, Scope};
use crate::graphql::context::page_args_of;
use crate::graphql::loaders::page::{self, Wanted};
use crate::service::{Page, subscribers};

/// Queries longer than this are never compiled (nor kept).
const MAX_QUERY: usize = 4096;
/// Plans kept at most; past it the cache starts over (a flood of distinct queries only costs the
/// general path its speed-up).
const MAX_PLANS: usize = 256;

/// Plans by query text.
#[derive(Default)]
pub struct Plans {
    by_query: RwLock<HashMap<String, Arc<Compiled>>>,
}

/// A plan and the operation name it was compiled for.
pub struct Compiled {
    operation_name: Option<String>,
    pub plan: Plan,
}

impl Plans {
    /// Whether `request` may be compiled at all: a short query without variables or extensions.
    pub fn eligible(request: &async_graphql::Request) -> bool {
        request.query.len() <= MAX_QUERY && request.variables.is_empty() && request.extensions.is_empty()
    }

    /// The plan kept for this request's query and operation name.
    pub fn get(&self, request: &async_graphql::Request) -> Option<Arc<Compiled>> {
        let map = self.by_query.read().unwrap_or_else(|p| p.into_inner());
        map.get(&request.query).filter(|c| c.operation_name == request.operation_name).cloned()
    }

    /// Compiles the preflighted `doc` of `query`, keeping the plan if there is one.
    pub fn compile(
        &self,
        query: String,
        operation_name: Option<String>,
        doc: &async_graphql::parser::types::ExecutableDocument,
        max_complexity: usize,
    ) -> Option<Arc<Compiled>> {
        let plan = plan::plan(doc, operation_name.as_deref(), max_complexity)?;
        let compiled = Arc::new(Compiled { operation_name, plan });
        let mut map = self.by_query.write().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_PLANS {
            map.clear();
        }
        map.insert(query, compiled.clone());
        Some(compiled)
    }
}

impl Compiled {
    /// The operation's name, for metrics.
    pub fn operation_name(&self) -> Option<&str> {
        self.plan.operation_name.as_deref()
    }

    /// The JSON answer (`{"data":{…}}`), or `None` when the general path must answer instead.
    pub async fn serve(&self, app: &AppState, caller: &Caller) -> Option<String> {
        let mut out = render::Out::new();
        out.raw("{\"data\":{");
        for (i, (key, root)) in self.plan.roots.iter().enumerate() {
            out.key(i, key);
            match root {
                Root::Typename => out.str("QueryRoot"),
                Root::Me(fields) => render::viewer(&mut out, caller.0.as_ref()?, fields).ok()?,
                Root::Subscribers(args, fields) => subscribers_page(&mut out, app, caller, args, fields).await?,
            }
        }
        out.raw("}}");
        Some(out.into_string())
    }
}

/// `subscribers(…)`: the same calls as `SubscriberQuery::subscribers` and `prime_subscribers`.
async fn subscribers_page(
    out: &mut render::Out,
    app: &AppState,
    caller: &Caller,
    args: &plan::ListArgs,
    fields: &Fields<ConnectionField>,
) -> Option<()> {
    let scope = Scope::new(caller.0.as_ref()?);
    let count_total = fields.iter().any(|(_, f)| matches!(f, ConnectionField::TotalCount));
    let page_args =
        page_args_of(app.config.limits.max_page_size, args.first, args.after.as_deref(), count_total).ok()?;
    let (kind, search) = (args.kind.map(Into::into), args.search.as_deref());
    let statement = subscribers::list_statement(scope, kind, search, args.updated_since, page_args).ok()?;
    let joined = page::load_page(&app.db, statement, page_args.first, wanted(fields)).await.ok()?;
    let total =
        if count_total { subscribers::count(app, scope, kind, search, args.updated_since).await.ok()? } else { 0 };
    let page = Page { items: joined.items, has_next: joined.has_next, total };
    let relations = joined.relations;
    let data = render::PageData {
        page: &page,
        relations: &relations,
        after_given: page_args.after.is_some(),
        scope,
        now: app.clock.now(),
    };
    render::connection(out, &data, fields).ok()
}

/// The relations the nodes' selection asks for.
fn wanted(fields: &Fields<ConnectionField>) -> Wanted {
    let mut want = Wanted { serving_partner: false, subscriptions: false, tariffs: false };
    for (_, f) in fields {
        let ConnectionField::Nodes(nodes) = f else { continue };
        for (_, n) in nodes {
            match n {
                NodeField::ServingPartner(_) => want.serving_partner = true,
                NodeField::Subscriptions(subs) => {
                    want.subscriptions = true;
                    want.tariffs |= subs.iter().any(|(_, s)| matches!(s, SubscriptionField::Tariff(_)));
                }
                NodeField::Leaf(_) => {}
            }
        }
    }
    want
}
