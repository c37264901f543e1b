//! Response keys in the order the query asked for them (GraphQL spec §7.2.2, "ordered map").
//!
//! async-graphql resolves the fields of an object concurrently and inserts each into the response when it
//! is done, so `{ me { user { email } role } }` came back as `role` before `user` (and serde_json, without
//! `preserve_order`, sorted keys anyway). This extension puts every object's keys back in the order of
//! the selection set — fields, fragment spreads and inline fragments collected as the spec's
//! CollectFields does — for `POST`/`GET /graphql` and for every event of a subscription.

use std::sync::{Arc, Mutex};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextSubscribe,
};
use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, OperationType, Selection, SelectionSet};
use async_graphql::{Name, Response, ServerResult, Value, Variables};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;

/// The extension factory: one `Ordering` per request.
pub struct ResponseOrder;

impl ExtensionFactory for ResponseOrder {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Ordering::default())
    }
}

#[derive(Default)]
struct Ordering {
    /// The parsed request, kept for reordering its responses.
    document: Arc<Mutex<Option<ExecutableDocument>>>,
}

/// At most this many selections are looked at to order one object; past it the object keeps the order
/// it came in (the shape limits refuse such documents long before).
const MAX_SELECTIONS: usize = 10_000;

#[async_trait::async_trait]
impl Extension for Ordering {
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
        let document = next.run(ctx, query, variables).await?;
        if let Ok(mut slot) = self.document.lock() {
            *slot = Some(document.clone());
        }
        Ok(document)
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let mut response = next.run(ctx, operation_name).await;
        let document = self.document.lock().ok().and_then(|mut d| d.take());
        if let Some(document) = document {
            order_response(&mut response, &document, operation_name);
        }
        response
    }

    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, Response> {
        // The operation name is not at hand here: a document's subscription is its only one (or, among
        // several operations, the only subscription), as the WebSocket endpoint runs nothing else.
        let document = self.document.clone();
        next.run(ctx, stream)
            .map(move |mut response| {
                if let Ok(slot) = document.lock()
                    && let Some(doc) = slot.as_ref()
                {
                    let op = match &doc.operations {
                        DocumentOperations::Single(op) => Some(op),
                        DocumentOperations::Multiple(ops) => {
                            let mut subs = ops.values().filter(|op| op.node.ty == OperationType::Subscription);
                            match (subs.next(), subs.next()) {
                                (Some(op), None) => Some(op),
                                _ => None,
                            }
                        }
                    };
                    if let Some(op) = op {
                        reorder(&mut response.data, &[&op.node.selection_set.node], doc);
                    }
                }
                response
            })
            .boxed()
    }
}

fn order_response(response: &mut Response, document: &ExecutableDocument, operation_name: Option<&str>) {
    let operation = match (&document.operations, operation_name) {
        (DocumentOperations::Single(op), _) => Some(op),
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name),
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops.values().next(),
        (DocumentOperations::Multiple(_), None) => None,
    };
    if let Some(op) = operation {
        reorder(&mut response.data, &[&op.node.selection_set.node], document);
    }
}

/// Reorders `value` (the result of `sets`, merged) and everything under it.
fn reorder(value: &mut Value, sets: &[&SelectionSet], document: &ExecutableDocument) {
    if !matches!(value, Value::List(_) | Value::Object(_)) {
        return;
    }
    // The order of a selection does not depend on the object's type (keys a type lacks are simply not
    // there), so a list's items share one.
    let mut order: Vec<(&str, Vec<&SelectionSet>)> = Vec::new();
    let mut budget = MAX_SELECTIONS;
    if collect(sets, document, &mut order, &mut budget, 0) {
        apply(value, &order, document);
    }
}

/// Puts the keys of `value` (of each item, for a list) in `order`, and reorders what is under them.
fn apply(value: &mut Value, order: &[(&str, Vec<&SelectionSet>)], document: &ExecutableDocument) {
    match value {
        Value::List(items) => {
            for item in items {
                apply(item, order, document);
            }
        }
        Value::Object(map) => {
            // Most objects come back in order already (their fields resolved in turn): only what is under
            // them may need it.
            if map.len() == order.len() && map.keys().zip(order).all(|(k, (key, _))| k.as_str() == *key) {
                for (v, (_, subsets)) in map.values_mut().zip(order) {
                    reorder(v, subsets, document);
                }
                return;
            }
            let mut sorted = async_graphql::indexmap::IndexMap::with_capacity(map.len());
            for (key, subsets) in order {
                if let Some((name, mut v)) = map.shift_remove_entry(*key) {
                    reorder(&mut v, subsets, document);
                    sorted.insert(name, v);
                }
            }
            // Anything the selection does not name (nothing, in practice) keeps its place after.
            sorted.extend(std::mem::take(map));
            *map = sorted;
        }
        _ => {}
    }
}

/// The response keys of `sets` in order, each with the selection sets of the fields under that key.
/// `false` when the budget ran out.
fn collect<'a>(
    sets: &[&'a SelectionSet],
    document: &'a ExecutableDocument,
    order: &mut Vec<(&'a str, Vec<&'a SelectionSet>)>,
    budget: &mut usize,
    depth: usize,
) -> bool {
    if depth > 32 {
        return false;
    }
    for set in sets {
        for item in &set.items {
            if *budget == 0 {
                return false;
            }
            *budget -= 1;
            match &item.node {
                Selection::Field(field) => {
                    let key: &str = field.node.response_key().node.as_str();
                    let sub = &field.node.selection_set.node;
                    match order.iter_mut().find(|(k, _)| *k == key) {
                        Some((_, subs)) => subs.push(sub),
                        None => order.push((key, vec![sub])),
                    }
                }
                Selection::FragmentSpread(spread) => {
                    let name: &Name = &spread.node.fragment_name.node;
                    if let Some(fragment) = document.fragments.get(name)
                        && !collect(&[&fragment.node.selection_set.node], document, order, budget, depth + 1)
                    {
                        return false;
                    }
                }
                Selection::InlineFragment(inline) => {
                    if !collect(&[&inline.node.selection_set.node], document, order, budget, depth + 1) {
                        return false;
                    }
                }
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(v: &Value) -> Vec<String> {
        match v {
            Value::Object(m) => m.keys().map(|k| k.to_string()).collect(),
            _ => vec![],
        }
    }

    #[test]
    fn objects_follow_the_selection_through_aliases_fragments_and_lists() {
        let doc = async_graphql::parser::parse_query(
            "query { b: me { ...F z: role } a { x } } fragment F on Viewer { y ... on Viewer { w } }",
        )
        .unwrap();
        let mut data = Value::from_json(serde_json::json!({
            "a": [{ "x": 1 }],
            "b": { "z": 1, "w": 2, "y": 3 },
        }))
        .unwrap();
        let mut response = Response::new(data.clone());
        order_response(&mut response, &doc, None);
        data = response.data;
        assert_eq!(keys(&data), ["b", "a"]);
        let Value::Object(m) = &data else { panic!() };
        assert_eq!(keys(&m["b"]), ["y", "w", "z"]);
    }

    #[test]
    fn an_object_already_in_order_still_has_what_is_under_it_reordered_and_list_items_each_their_own() {
        let doc = async_graphql::parser::parse_query("{ page { a b { x y } c @skip(if: true) } }").unwrap();
        let data = Value::from_json(serde_json::json!({ "page": [
            { "a": 1, "b": { "y": 2, "x": 1 } },
            { "b": { "x": 1, "y": 2 }, "a": 1 },
            { "a": 1, "b": { "x": 1, "y": 2 }, "c": 3 },
        ] }))
        .unwrap();
        let mut response = Response::new(data);
        order_response(&mut response, &doc, None);
        let Value::Object(m) = &response.data else { panic!() };
        let Value::List(items) = &m["page"] else { panic!() };
        for (i, item) in items.iter().enumerate() {
            let Value::Object(o) = item else { panic!() };
            assert_eq!(keys(&o["b"]), ["x", "y"], "item {i}");
        }
        assert_eq!(keys(&items[0]), ["a", "b"]);
        assert_eq!(keys(&items[1]), ["a", "b"]);
        assert_eq!(keys(&items[2]), ["a", "b", "c"]);
    }
}
