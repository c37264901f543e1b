//! From a parsed document to a plan, or to nothing. The planner accepts only documents it can prove
//! valid on its own: one query operation without variables, fragments or directives; at each level only
//! fields it knows, each response key once, arguments written as literals and coerced by the same
//! `InputType::parse` the schema uses; a complexity bound at most the configured one. Anything else
//! (including a document async-graphql would refuse) returns `None`, and the general path answers it.

use std::collections::HashSet;

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, Field, OperationType, Selection, SelectionSet,
};
use async_graphql::{InputType, Positioned};
use chrono::{DateTime, Utc};

use crate::graphql::enums::SubscriberKind;

/// A response key, already written as JSON with its colon (`"alias":`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key(pub String);

impl Key {
    fn of(name: &str) -> Self {
        let mut k = serde_json::to_string(name).unwrap_or_else(|_| "\"\"".to_owned());
        k.push(':');
        Key(k)
    }
}

/// The fields of one object, in the selection's order.
pub type Fields<F> = Vec<(Key, F)>;

/// A compiled query: its operation's name (for metrics) and its root fields.
#[derive(Debug)]
pub struct Plan {
    pub operation_name: Option<String>,
    pub roots: Fields<Root>,
}

#[derive(Debug)]
pub enum Root {
    Typename,
    Me(Fields<ViewerField>),
    Subscribers(ListArgs, Fields<ConnectionField>),
}

#[derive(Debug, Clone, Copy)]
pub enum ViewerField {
    Typename,
    Id,
    Role,
}

/// `subscribers(kind, search, updatedSince, first, after)`, coerced as the schema coerces them.
#[derive(Debug, Clone)]
pub struct ListArgs {
    pub kind: Option<SubscriberKind>,
    pub search: Option<String>,
    pub updated_since: Option<DateTime<Utc>>,
    pub first: Option<i32>,
    pub after: Option<String>,
}

#[derive(Debug)]
pub enum ConnectionField {
    Typename,
    TotalCount,
    PageInfo(Fields<PageInfoField>),
    Nodes(Fields<NodeField>),
}

#[derive(Debug, Clone, Copy)]
pub enum PageInfoField {
    Typename,
    HasPreviousPage,
    HasNextPage,
    StartCursor,
    EndCursor,
}

/// A field of a page's subscriber.
#[derive(Debug)]
pub enum NodeField {
    Leaf(SubscriberLeaf),
    ServingPartner(Fields<SubscriberLeaf>),
    Subscriptions(Fields<SubscriptionField>),
}

/// A subscriber's fields that need no other row (`Typename` included).
#[derive(Debug, Clone, Copy)]
pub enum SubscriberLeaf {
    Typename,
    Id,
    Kind,
    Name,
    Inn,
    Kpp,
    Email,
    Phone,
    Address,
    ContactPerson,
    CreatedAt,
    UpdatedAt,
    BindingSource,
}

#[derive(Debug)]
pub enum SubscriptionField {
    Leaf(SubscriptionLeaf),
    Tariff(Fields<TariffLeaf>),
}

#[derive(Debug, Clone, Copy)]
pub enum SubscriptionLeaf {
    Typename,
    Id,
    Status,
    Basis,
    StartsAt,
    EndsAt,
    CancelledAt,
    ChurnReason,
    ChurnComment,
}

#[derive(Debug, Clone, Copy)]
pub enum TariffLeaf {
    Typename,
    Id,
    Code,
    Name,
    Category,
    MonthlyPrice,
    Periods,
    MaxDatabases,
    MaxUsers,
    MaxSessions,
    TrialDays,
    PartnerOnly,
    Archived,
}

/// The plan of `doc` for the operation `operation_name` names, if the planner can prove it valid and its
/// complexity is at most `max_complexity`.
pub fn plan(doc: &ExecutableDocument, operation_name: Option<&str>, max_complexity: usize) -> Option<Plan> {
    if !doc.fragments.is_empty() {
        return None;
    }
    let (name, op) = match &doc.operations {
        DocumentOperations::Single(op) => (None, op),
        DocumentOperations::Multiple(ops) if ops.len() == 1 => {
            let (name, op) = ops.iter().next()?;
            (Some(name.to_string()), op)
        }
        DocumentOperations::Multiple(_) => return None,
    };
    if operation_name.is_some_and(|wanted| name.as_deref() != Some(wanted)) {
        return None;
    }
    let op = &op.node;
    if op.ty != OperationType::Query || !op.variable_definitions.is_empty() || !op.directives.is_empty() {
        return None;
    }
    let mut cost = 0;
    let roots = fields(&op.selection_set, &mut cost, root)?;
    (cost <= max_complexity).then_some(Plan { operation_name: name, roots })
}

/// The fields of a selection set, each read by `field` (which adds its own cost beyond the 1 every field
/// costs); `None` if any is not a plain field, repeats a response key, or is unknown.
fn fields<F>(
    set: &Positioned<SelectionSet>,
    cost: &mut usize,
    field: impl Fn(&Field, &mut usize) -> Option<F>,
) -> Option<Fields<F>> {
    let mut keys = HashSet::new();
    let mut out = Vec::with_capacity(set.node.items.len());
    for item in &set.node.items {
        let Selection::Field(f) = &item.node else {
            return None;
        };
        let f = &f.node;
        let key = f.response_key().node.as_str();
        if !f.directives.is_empty() || !keys.insert(key) {
            return None;
        }
        *cost = cost.checked_add(1)?;
        out.push((Key::of(key), field(f, cost)?));
    }
    Some(out)
}

/// A field without arguments or selection (a scalar or enum).
fn leaf<T>(f: &Field, value: T) -> Option<T> {
    (f.arguments.is_empty() && f.selection_set.node.items.is_empty()).then_some(value)
}

/// An object field without arguments: its selection (at least one field) through `field`.
fn object<F>(f: &Field, cost: &mut usize, field: impl Fn(&Field, &mut usize) -> Option<F>) -> Option<Fields<F>> {
    if !f.arguments.is_empty() || f.selection_set.node.items.is_empty() {
        return None;
    }
    fields(&f.selection_set, cost, field)
}

fn root(f: &Field, cost: &mut usize) -> Option<Root> {
    match f.name.node.as_str() {
        "__typename" => leaf(f, Root::Typename),
        "me" => object(f, cost, |f, _| viewer(f)).map(Root::Me),
        "subscribers" => {
            let args = list_args(f)?;
            let mut inner = 0;
            let selection = object_with_args(f, &mut inner, connection)?;
            // The schema's `first × child complexity`, with every field (and `__typename`) counted.
            let per_page = usize::try_from(args.first.unwrap_or(super::super::context::DEFAULT_PAGE).max(1)).ok()?;
            *cost = cost.checked_add(per_page.checked_mul(inner)?)?;
            Some(Root::Subscribers(args, selection))
        }
        _ => None,
    }
}

/// An object field whose arguments were read elsewhere.
fn object_with_args<F>(
    f: &Field,
    cost: &mut usize,
    field: impl Fn(&Field, &mut usize) -> Option<F>,
) -> Option<Fields<F>> {
    if f.selection_set.node.items.is_empty() {
        return None;
    }
    fields(&f.selection_set, cost, field)
}

/// `subscribers`' arguments: each at most once, literal, and coerced by its GraphQL type.
fn list_args(f: &Field) -> Option<ListArgs> {
    let mut args = ListArgs { kind: None, search: None, updated_since: None, first: None, after: None };
    let mut seen = HashSet::new();
    for (name, value) in &f.arguments {
        let name = name.node.as_str();
        if !seen.insert(name) {
            return None;
        }
        let value = value.node.clone().into_const()?;
        match name {
            "kind" => args.kind = InputType::parse(Some(value)).ok()?,
            "search" => args.search = InputType::parse(Some(value)).ok()?,
            "updatedSince" => args.updated_since = InputType::parse(Some(value)).ok()?,
            "first" => args.first = InputType::parse(Some(value)).ok()?,
            "after" => args.after = InputType::parse(Some(value)).ok()?,
            _ => return None,
        }
    }
    Some(args)
}

fn viewer(f: &Field) -> Option<ViewerField> {
    let field = match f.name.node.as_str() {
        "__typename" => ViewerField::Typename,
        "id" => ViewerField::Id,
        "role" => ViewerField::Role,
        _ => return None,
    };
    leaf(f, field)
}

fn connection(f: &Field, cost: &mut usize) -> Option<ConnectionField> {
    match f.name.node.as_str() {
        "__typename" => leaf(f, ConnectionField::Typename),
        "totalCount" => leaf(f, ConnectionField::TotalCount),
        "pageInfo" => object(f, cost, |f, _| page_info(f)).map(ConnectionField::PageInfo),
        "nodes" => object(f, cost, node).map(ConnectionField::Nodes),
        _ => None,
    }
}

fn page_info(f: &Field) -> Option<PageInfoField> {
    let field = match f.name.node.as_str() {
        "__typename" => PageInfoField::Typename,
        "hasPreviousPage" => PageInfoField::HasPreviousPage,
        "hasNextPage" => PageInfoField::HasNextPage,
        "startCursor" => PageInfoField::StartCursor,
        "endCursor" => PageInfoField::EndCursor,
        _ => return None,
    };
    leaf(f, field)
}

fn node(f: &Field, cost: &mut usize) -> Option<NodeField> {
    match f.name.node.as_str() {
        "servingPartner" => object(f, cost, |f, _| subscriber_leaf(f)).map(NodeField::ServingPartner),
        "subscriptions" => object(f, cost, subscription).map(NodeField::Subscriptions),
        _ => subscriber_leaf(f).map(NodeField::Leaf),
    }
}

fn subscriber_leaf(f: &Field) -> Option<SubscriberLeaf> {
    use SubscriberLeaf as L;
    let field = match f.name.node.as_str() {
        "__typename" => L::Typename,
        "id" => L::Id,
        "kind" => L::Kind,
        "name" => L::Name,
        "inn" => L::Inn,
        "kpp" => L::Kpp,
        "email" => L::Email,
        "phone" => L::Phone,
        "address" => L::Address,
        "contactPerson" => L::ContactPerson,
        "createdAt" => L::CreatedAt,
        "updatedAt" => L::UpdatedAt,
        "bindingSource" => L::BindingSource,
        _ => return None,
    };
    leaf(f, field)
}

fn subscription(f: &Field, cost: &mut usize) -> Option<SubscriptionField> {
    use SubscriptionLeaf as L;
    let field = match f.name.node.as_str() {
        "tariff" => return object(f, cost, |f, _| tariff_leaf(f)).map(SubscriptionField::Tariff),
        "__typename" => L::Typename,
        "id" => L::Id,
        "status" => L::Status,
        "basis" => L::Basis,
        "startsAt" => L::StartsAt,
        "endsAt" => L::EndsAt,
        "cancelledAt" => L::CancelledAt,
        "churnReason" => L::ChurnReason,
        "churnComment" => L::ChurnComment,
        _ => return None,
    };
    leaf(f, SubscriptionField::Leaf(field))
}

fn tariff_leaf(f: &Field) -> Option<TariffLeaf> {
    use TariffLeaf as L;
    let field = match f.name.node.as_str() {
        "__typename" => L::Typename,
        "id" => L::Id,
        "code" => L::Code,
        "name" => L::Name,
        "category" => L::Category,
        "monthlyPrice" => L::MonthlyPrice,
        "periods" => L::Periods,
        "maxDatabases" => L::MaxDatabases,
        "maxUsers" => L::MaxUsers,
        "maxSessions" => L::MaxSessions,
        "trialDays" => L::TrialDays,
        "partnerOnly" => L::PartnerOnly,
        "archived" => L::Archived,
        _ => return None,
    };
    leaf(f, field)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn planned(query: &str) -> Option<Plan> {
        plan(&async_graphql::parser::parse_query(query).expect("parses"), None, 10_000)
    }

    #[test]
    fn plans_the_nested_page_and_refuses_what_it_cannot_prove_valid() {
        assert!(planned("{ subscribers(kind: CLIENT, first: 50) { nodes { id name servingPartner { id name } subscriptions { id status tariff { id name } } } } }").is_some());
        assert!(planned("query Q { me { role } }").is_some());
        for refused in [
            // Unknown fields and arguments, a bad enum, a variable, an Int out of range.
            "{ subscribers { nodes { members { nodes { id } } } } }",
            "{ subscribers(order: ASC) { nodes { id } } }",
            "{ subscribers(kind: NOBODY) { nodes { id } } }",
            "query ($n: Int) { subscribers(first: $n) { nodes { id } } }",
            "{ subscribers(first: 99999999999) { nodes { id } } }",
            "{ subscribers(first: 1, first: 2) { nodes { id } } }",
            // Directives, fragments, repeated keys, a scalar with a selection, an object without one.
            "{ subscribers @include(if: true) { nodes { id } } }",
            "{ subscribers { nodes { ...F } } } fragment F on Subscriber { id }",
            "{ subscribers { nodes { id id } } }",
            "{ me { role { x } } }",
            "{ subscribers { nodes { servingPartner } } }",
            // Not a query; two operations; edges (served the general way).
            "mutation { logout }",
            "query A { me { role } } query B { me { id } }",
            "{ subscribers { edges { node { id } } } }",
        ] {
            assert!(planned(refused).is_none(), "planned: {refused}");
        }
    }

    #[test]
    fn the_complexity_bound_counts_every_field_times_the_page() {
        let doc =
            async_graphql::parser::parse_query("{ subscribers(first: 10) { nodes { id name } } }").expect("parses");
        // 1 (subscribers) + 10 × (nodes + id + name) = 31.
        assert!(plan(&doc, None, 31).is_some());
        assert!(plan(&doc, None, 30).is_none());
    }

    #[test]
    fn the_operation_name_must_name_the_operation() {
        let doc = async_graphql::parser::parse_query("query Mine { me { role } }").expect("parses");
        assert_eq!(plan(&doc, Some("Mine"), 100).and_then(|p| p.operation_name), Some("Mine".to_owned()));
        assert!(plan(&doc, Some("Other"), 100).is_none());
    }
}
