//! Limits on the shape of a query that depth and complexity do not see: aliases, root fields and
//! directives (async-graphql does not count `__typename`, so `{ a: __typename b: __typename … }` would
//! pass every other limit).

use std::collections::HashSet;

use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, Selection, SelectionSet};

#[derive(Debug, Clone, Copy)]
pub struct ShapeLimits {
    pub aliases: usize,
    pub root_fields: usize,
    pub directives: usize,
    /// Depth of fields, not counting introspection (`__schema`, `__type`), whose size the schema bounds
    /// and which GraphiQL needs deeper than any data query.
    pub depth: usize,
}

/// What is over a limit: the error code, a stable reason and a message.
pub fn check(doc: &ExecutableDocument, limits: ShapeLimits) -> Result<(), (&'static str, &'static str, String)> {
    check_counts(doc, limits).map_err(|(reason, message)| ("GRAPHQL_VALIDATION_FAILED", reason, message))?;
    for set in operations(doc) {
        let mut stack = Vec::new();
        if depth(doc, set, &mut stack) > limits.depth {
            return Err(("MAX_DEPTH_LIMIT", "TOO_DEEP", format!("queries nest at most {} fields deep", limits.depth)));
        }
    }
    Ok(())
}

fn operations(doc: &ExecutableDocument) -> Vec<&SelectionSet> {
    match &doc.operations {
        DocumentOperations::Single(op) => vec![&op.node.selection_set.node],
        DocumentOperations::Multiple(map) => map.values().map(|op| &op.node.selection_set.node).collect(),
    }
}

/// The deepest chain of fields, through fragments (a fragment already on the path counts nothing, so a
/// cycle, which validation refuses anyway, cannot loop here).
fn depth<'a>(doc: &'a ExecutableDocument, set: &'a SelectionSet, stack: &mut Vec<&'a str>) -> usize {
    set.items
        .iter()
        .map(|item| match &item.node {
            Selection::Field(f) => match f.node.name.node.as_str() {
                "__schema" | "__type" => 1,
                _ => 1 + depth(doc, &f.node.selection_set.node, stack),
            },
            Selection::InlineFragment(i) => depth(doc, &i.node.selection_set.node, stack),
            Selection::FragmentSpread(s) => {
                let name = s.node.fragment_name.node.as_str();
                match doc.fragments.get(&s.node.fragment_name.node) {
                    Some(f) if !stack.contains(&name) => {
                        stack.push(name);
                        let d = depth(doc, &f.node.selection_set.node, stack);
                        stack.pop();
                        d
                    }
                    _ => 0,
                }
            }
        })
        .max()
        .unwrap_or(0)
}

fn check_counts(doc: &ExecutableDocument, limits: ShapeLimits) -> Result<(), (&'static str, String)> {
    let mut aliases = 0;
    let mut directives = 0;
    let mut sets: Vec<&SelectionSet> = Vec::new();
    for (_, op) in doc.operations.iter() {
        directives += op.node.directives.len();
        sets.push(&op.node.selection_set.node);
    }
    for f in doc.fragments.values() {
        directives += f.node.directives.len();
        sets.push(&f.node.selection_set.node);
    }
    while let Some(set) = sets.pop() {
        for item in &set.items {
            match &item.node {
                Selection::Field(f) => {
                    aliases += f.node.alias.is_some() as usize;
                    directives += f.node.directives.len();
                    sets.push(&f.node.selection_set.node);
                }
                Selection::FragmentSpread(s) => directives += s.node.directives.len(),
                Selection::InlineFragment(i) => {
                    directives += i.node.directives.len();
                    sets.push(&i.node.selection_set.node);
                }
            }
        }
    }
    if aliases > limits.aliases {
        return Err(("TOO_MANY_ALIASES", format!("at most {} aliases in a request", limits.aliases)));
    }
    if directives > limits.directives {
        return Err(("TOO_MANY_DIRECTIVES", format!("at most {} directives in a request", limits.directives)));
    }
    for set in operations(doc) {
        let mut seen = HashSet::new();
        if root_fields(doc, set, &mut seen) > limits.root_fields {
            return Err((
                "TOO_MANY_ROOT_FIELDS",
                format!("at most {} root fields in an operation", limits.root_fields),
            ));
        }
    }
    Ok(())
}

/// Fields at the root of an operation, through fragments (each fragment counted once).
fn root_fields<'a>(doc: &'a ExecutableDocument, set: &'a SelectionSet, seen: &mut HashSet<&'a str>) -> usize {
    set.items
        .iter()
        .map(|item| match &item.node {
            Selection::Field(_) => 1,
            Selection::InlineFragment(i) => root_fields(doc, &i.node.selection_set.node, seen),
            Selection::FragmentSpread(s) => {
                let name = s.node.fragment_name.node.as_str();
                match doc.fragments.get(&s.node.fragment_name.node) {
                    Some(f) if seen.insert(name) => root_fields(doc, &f.node.selection_set.node, seen),
                    _ => 0,
                }
            }
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::parser::parse_query;

    const LIMITS: ShapeLimits = ShapeLimits { aliases: 3, root_fields: 4, directives: 2, depth: 3 };

    fn reason(q: &str) -> Option<&'static str> {
        check(&parse_query(q).unwrap(), LIMITS).err().map(|e| e.1)
    }

    #[test]
    fn depth_counts_fields_through_fragments_but_not_introspection() {
        assert_eq!(reason("{ a { b { c } } }"), None);
        assert_eq!(reason("{ a { b { c { d } } } }"), Some("TOO_DEEP"));
        assert_eq!(reason("{ a { ...F } } fragment F on X { b { c { d } } }"), Some("TOO_DEEP"));
        assert_eq!(reason("{ __schema { types { fields { type { ofType { ofType { name } } } } } } }"), None);
        assert_eq!(reason("{ ...A } fragment A on Q { ...A a { b } }"), None);
    }

    #[test]
    fn typename_aliases_and_root_fields_are_counted() {
        assert_eq!(reason("{ a: __typename b: __typename c: __typename }"), None);
        assert_eq!(reason("{ a: __typename b: __typename c: __typename d: __typename }"), Some("TOO_MANY_ALIASES"));
        assert_eq!(reason("{ __typename __typename __typename __typename __typename }"), Some("TOO_MANY_ROOT_FIELDS"));
        assert_eq!(
            reason("{ ...F ...F } fragment F on QueryRoot { __typename __typename __typename __typename __typename }"),
            Some("TOO_MANY_ROOT_FIELDS")
        );
        assert_eq!(
            reason("{ ... { __typename __typename } ... { __typename __typename __typename } }"),
            Some("TOO_MANY_ROOT_FIELDS")
        );
        assert_eq!(
            reason("{ me @skip(if: true) { id @include(if: true) name @skip(if: false) } }"),
            Some("TOO_MANY_DIRECTIVES")
        );
        assert_eq!(reason("{ me { a: id b: id } }"), None);
    }

    #[test]
    fn recursive_fragments_do_not_loop() {
        assert_eq!(
            reason("{ ...A } fragment A on QueryRoot { ...B } fragment B on QueryRoot { ...A __typename }"),
            None
        );
    }
}
