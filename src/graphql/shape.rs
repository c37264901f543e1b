//! The shape of a parsed document, measured once and bounded before async-graphql's own walkers run.
//!
//! async-graphql's `check_recursive_depth` and its validation visitors (complexity, depth, overlapping
//! fields) follow fragment spreads without remembering what they saw, so 27 fragments that each spread
//! the next one twice cost 2^27 visits. Here every fragment is measured once, in dependency order
//! (an explicit stack, no recursion over the fragment graph), and a fragment's numbers are reused at
//! each spread of it. What is measured:
//!
//! - the expanded size: every field, fragment spread, inline fragment, argument value and variable
//!   definition, counted as often as fragment expansion repeats it, summed over every operation and every fragment definition
//!   (the library walks both) — bounded by `expanded`, which bounds every later walker;
//! - the depth of fields (introspection not counted: `__schema`/`__type` are bounded by the schema and
//!   GraphiQL's schema query is deeper than any data query);
//! - root fields per operation, through fragments and aliases (`__typename` included: async-graphql
//!   does not count it anywhere else), and the credential-checking ones among them;
//! - aliases and directives in the document;
//! - NUL characters in any string the document carries.
//!
//! The recursion that remains (nested selection sets and values inside one definition) is bounded by
//! the text pre-scan of `preflight`, which refuses deep bracket nesting before the document is parsed.

use std::collections::HashMap;

use async_graphql::parser::types::{Directive, ExecutableDocument, OperationDefinition, Selection, SelectionSet};
use async_graphql::{Name, Positioned};
use async_graphql_value::{ConstValue, Value};

use super::preflight::Refusal;

/// Root fields that check a password (argon2id, deliberately expensive): one per request.
pub const CREDENTIAL_FIELDS: &[&str] =
    &["login", "selfRegister", "acceptInvitation", "changePassword", "resetPassword"];

#[derive(Debug, Clone, Copy)]
pub struct ShapeLimits {
    pub aliases: usize,
    pub root_fields: usize,
    pub directives: usize,
    /// Depth of fields, not counting introspection (`__schema`, `__type`).
    pub depth: usize,
    /// The expanded size of the whole document (see the module documentation).
    pub expanded: usize,
}

/// What the shape says about one operation of the document.
#[derive(Debug, Clone, Copy, Default)]
pub struct OperationShape {
    /// Credential-checking fields at its root, counted through fragments and aliases.
    pub credential_fields: u64,
}

/// Measures the document and refuses it when it is over a limit; on success, the shape of each
/// operation by name (`None` for the anonymous one).
pub fn check(doc: &ExecutableDocument, limits: ShapeLimits) -> Result<HashMap<Option<Name>, OperationShape>, Refusal> {
    let locals: HashMap<&str, Local<'_>> = doc
        .fragments
        .iter()
        .map(|(name, f)| (name.as_str(), Local::of(&f.node.selection_set.node, &f.node.directives)))
        .collect();
    let fragments = measure_fragments(&locals)?;
    let mut total: u64 = fragments.values().fold(0, |t, m| t.saturating_add(m.expanded));
    let mut aliases: usize = locals.values().map(|l| l.aliases).sum();
    let mut directives: usize = locals.values().map(|l| l.directives).sum();
    let mut nul = locals.values().any(|l| l.nul);
    let mut shapes = HashMap::new();
    let mut deepest = 0;
    let mut most_roots = 0;
    for (name, op) in doc.operations.iter() {
        let local = Local::of_operation(&op.node);
        aliases += local.aliases;
        directives += local.directives;
        nul |= local.nul;
        let m = local.combine(&fragments);
        total = total.saturating_add(m.expanded);
        deepest = deepest.max(m.depth);
        most_roots = most_roots.max(m.root_fields);
        shapes.insert(name.cloned(), OperationShape { credential_fields: m.credential });
    }
    if total > limits.expanded as u64 {
        return Err(Refusal::new(
            "GRAPHQL_VALIDATION_FAILED",
            "TOO_MANY_FIELDS",
            format!(
                "the document is too large once its fragments are expanded: at most {} fields, fragments and argument values",
                limits.expanded
            ),
        ));
    }
    if deepest > limits.depth {
        return Err(Refusal::new(
            "MAX_DEPTH_LIMIT",
            "TOO_DEEP",
            format!("queries nest at most {} fields deep", limits.depth),
        ));
    }
    if aliases > limits.aliases {
        return Err(Refusal::new(
            "GRAPHQL_VALIDATION_FAILED",
            "TOO_MANY_ALIASES",
            format!("at most {} aliases in a request", limits.aliases),
        ));
    }
    if directives > limits.directives {
        return Err(Refusal::new(
            "GRAPHQL_VALIDATION_FAILED",
            "TOO_MANY_DIRECTIVES",
            format!("at most {} directives in a request", limits.directives),
        ));
    }
    if most_roots > limits.root_fields as u64 {
        return Err(Refusal::new(
            "GRAPHQL_VALIDATION_FAILED",
            "TOO_MANY_ROOT_FIELDS",
            format!("at most {} root fields in an operation", limits.root_fields),
        ));
    }
    if nul {
        return Err(Refusal::nul());
    }
    Ok(shapes)
}

/// A definition's numbers with its fragments expanded.
#[derive(Debug, Clone, Copy, Default)]
struct Measure {
    expanded: u64,
    depth: usize,
    root_fields: u64,
    credential: u64,
}

/// A fragment spread inside a definition: where it sits.
struct Spread<'a> {
    name: &'a str,
    /// The field depth at the spread; `None` inside an introspection field, where depth is not counted.
    level: Option<usize>,
    /// Whether it is at the root of the definition (through inline fragments only).
    root: bool,
}

/// A definition's own numbers, fragment spreads not followed.
#[derive(Default)]
struct Local<'a> {
    size: u64,
    depth: usize,
    root_fields: u64,
    credential: u64,
    aliases: usize,
    directives: usize,
    nul: bool,
    spreads: Vec<Spread<'a>>,
}

impl<'a> Local<'a> {
    fn of(set: &'a SelectionSet, directives: &'a [Positioned<Directive>]) -> Self {
        let mut local = Local::default();
        local.directives(directives);
        local.walk(set, 0, true, true);
        local
    }

    fn of_operation(op: &'a OperationDefinition) -> Self {
        let mut local = Local::default();
        local.directives(&op.directives);
        for v in &op.variable_definitions {
            // Validation walks every definition (unused ones included), so each counts.
            local.size = local.size.saturating_add(1);
            local.directives(&v.node.directives);
            if let Some(default) = &v.node.default_value {
                local.size = local.size.saturating_add(const_value_size(&default.node, &mut local.nul));
            }
        }
        local.walk(&op.selection_set.node, 0, true, true);
        local
    }

    fn directives(&mut self, directives: &'a [Positioned<Directive>]) {
        self.directives += directives.len();
        for d in directives {
            for (_, v) in &d.node.arguments {
                self.size = self.size.saturating_add(value_size(&v.node, &mut self.nul));
            }
        }
    }

    /// `level` is the number of fields above `set`; `counted` is false inside introspection fields.
    /// Recursion follows the nesting of one definition, which the text pre-scan bounds.
    fn walk(&mut self, set: &'a SelectionSet, level: usize, root: bool, counted: bool) {
        for item in &set.items {
            self.size = self.size.saturating_add(1);
            match &item.node {
                Selection::Field(f) => {
                    let f = &f.node;
                    self.aliases += f.alias.is_some() as usize;
                    self.directives(&f.directives);
                    for (_, v) in &f.arguments {
                        self.size = self.size.saturating_add(value_size(&v.node, &mut self.nul));
                    }
                    let name = f.name.node.as_str();
                    if root {
                        self.root_fields += 1;
                        self.credential += CREDENTIAL_FIELDS.contains(&name) as u64;
                    }
                    if counted {
                        self.depth = self.depth.max(level + 1);
                    }
                    let introspection = matches!(name, "__schema" | "__type");
                    self.walk(&f.selection_set.node, level + 1, false, counted && !introspection);
                }
                Selection::InlineFragment(i) => {
                    self.directives(&i.node.directives);
                    self.walk(&i.node.selection_set.node, level, root, counted);
                }
                Selection::FragmentSpread(s) => {
                    self.directives(&s.node.directives);
                    self.spreads.push(Spread {
                        name: s.node.fragment_name.node.as_str(),
                        level: counted.then_some(level),
                        root,
                    });
                }
            }
        }
    }

    /// The definition's numbers with each spread replaced by its fragment's (already measured) numbers.
    /// A spread of an unknown fragment counts itself only (validation refuses it later).
    fn combine(&self, fragments: &HashMap<&str, Measure>) -> Measure {
        let mut m = Measure {
            expanded: self.size,
            depth: self.depth,
            root_fields: self.root_fields,
            credential: self.credential,
        };
        for s in &self.spreads {
            let Some(f) = fragments.get(s.name) else { continue };
            m.expanded = m.expanded.saturating_add(f.expanded);
            if let Some(level) = s.level {
                m.depth = m.depth.max(level + f.depth);
            }
            if s.root {
                m.root_fields = m.root_fields.saturating_add(f.root_fields);
                m.credential = m.credential.saturating_add(f.credential);
            }
        }
        m
    }
}

/// Every fragment measured once, each after the fragments it spreads (depth-first with an explicit
/// stack). A cycle is refused here: the library's walkers would follow it until their depth limit,
/// doubling at every level.
fn measure_fragments<'a>(locals: &HashMap<&'a str, Local<'a>>) -> Result<HashMap<&'a str, Measure>, Refusal> {
    let mut done: HashMap<&str, Measure> = HashMap::with_capacity(locals.len());
    let mut on_path: std::collections::HashSet<&str> = std::collections::HashSet::new();
    for &start in locals.keys() {
        if done.contains_key(start) {
            continue;
        }
        // (fragment, index of the next spread to look at)
        let mut stack: Vec<(&str, usize)> = vec![(start, 0)];
        on_path.insert(start);
        while let Some(top) = stack.last_mut() {
            let name = top.0;
            let local = &locals[name];
            if let Some(spread) = local.spreads.get(top.1) {
                top.1 += 1;
                let target = spread.name;
                if !locals.contains_key(target) || done.contains_key(target) {
                    continue;
                }
                if !on_path.insert(target) {
                    return Err(Refusal::new(
                        "GRAPHQL_VALIDATION_FAILED",
                        "FRAGMENT_CYCLE",
                        format!("Cannot spread fragment \"{target}\" within itself"),
                    ));
                }
                stack.push((target, 0));
            } else {
                let measure = local.combine(&done);
                done.insert(name, measure);
                on_path.remove(name);
                stack.pop();
            }
        }
    }
    Ok(done)
}

/// The number of values in an argument value (a list or object counts itself and its items), noting
/// any string with a NUL character. Iterative: values nest as deep as the text allows.
fn value_size(v: &Value, nul: &mut bool) -> u64 {
    let mut n = 0u64;
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        n = n.saturating_add(1);
        match v {
            Value::String(s) => *nul |= s.contains('\0'),
            Value::List(items) => stack.extend(items.iter()),
            Value::Object(fields) => stack.extend(fields.values()),
            _ => {}
        }
    }
    n
}

fn const_value_size(v: &ConstValue, nul: &mut bool) -> u64 {
    let mut n = 0u64;
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        n = n.saturating_add(1);
        match v {
            ConstValue::String(s) => *nul |= s.contains('\0'),
            ConstValue::List(items) => stack.extend(items.iter()),
            ConstValue::Object(fields) => stack.extend(fields.values()),
            _ => {}
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::parser::parse_query;

    const LIMITS: ShapeLimits = ShapeLimits { aliases: 3, root_fields: 4, directives: 2, depth: 3, expanded: 100 };

    fn reason(q: &str) -> Option<&'static str> {
        check(&parse_query(q).unwrap(), LIMITS).err().map(|e| e.reason)
    }

    fn credential(q: &str) -> u64 {
        let doc = parse_query(q).unwrap();
        let shapes = check(&doc, ShapeLimits { root_fields: 100, aliases: 100, ..LIMITS }).unwrap();
        shapes.values().map(|s| s.credential_fields).max().unwrap_or(0)
    }

    #[test]
    fn depth_counts_fields_through_fragments_but_not_introspection() {
        assert_eq!(reason("{ a { b { c } } }"), None);
        assert_eq!(reason("{ a { b { c { d } } } }"), Some("TOO_DEEP"));
        assert_eq!(reason("{ a { ...F } } fragment F on X { b { c { d } } }"), Some("TOO_DEEP"));
        assert_eq!(reason("{ a { ...F } } fragment F on X { b { c } }"), None);
        assert_eq!(reason("{ __schema { types { fields { type { ofType { ofType { name } } } } } } }"), None);
        assert_eq!(
            reason("{ __schema { types { ...T } } } fragment T on __Type { fields { type { ofType { name } } } }"),
            None
        );
    }

    #[test]
    fn typename_aliases_and_root_fields_are_counted() {
        assert_eq!(reason("{ a: __typename b: __typename c: __typename }"), None);
        assert_eq!(reason("{ a: __typename b: __typename c: __typename d: __typename }"), Some("TOO_MANY_ALIASES"));
        assert_eq!(reason("{ __typename __typename __typename __typename __typename }"), Some("TOO_MANY_ROOT_FIELDS"));
        assert_eq!(
            reason("{ ...F ...F } fragment F on QueryRoot { __typename __typename __typename }"),
            Some("TOO_MANY_ROOT_FIELDS"),
            "a fragment spread twice runs its fields twice"
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
    fn fragment_cycles_are_refused_without_looping() {
        assert_eq!(
            reason("{ ...A } fragment A on QueryRoot { ...B } fragment B on QueryRoot { ...A __typename }"),
            Some("FRAGMENT_CYCLE")
        );
        assert_eq!(reason("{ __typename } fragment A on QueryRoot { ...A ...A }"), Some("FRAGMENT_CYCLE"));
        // A diamond is not a cycle.
        assert_eq!(
            reason("{ ...A ...B } fragment A on Q { ...C } fragment B on Q { ...C } fragment C on Q { x }"),
            None
        );
    }

    #[test]
    fn exponential_fragment_fan_out_is_measured_in_linear_time_and_refused() {
        let n = 60;
        let mut q = String::from("{ ...F0 } ");
        for i in 0..n {
            q.push_str(&format!("fragment F{i} on Q {{ ...F{j} ...F{j} }} ", j = i + 1));
        }
        q.push_str(&format!("fragment F{n} on Q {{ __typename }}"));
        // 2^60 fields once expanded: the count saturates instead of overflowing, and is refused.
        assert_eq!(reason(&q), Some("TOO_MANY_FIELDS"));
        // Fields without any fragment are counted too, and so are argument values.
        let wide: String = (0..101).map(|_| "x ").collect();
        assert_eq!(reason(&format!("{{ {wide} }}")), Some("TOO_MANY_FIELDS"));
        let values: String = (0..100).map(|i| format!("{i} ")).collect();
        assert_eq!(reason(&format!("{{ x(a: [{values}]) }}")), Some("TOO_MANY_FIELDS"));
        // An unused fragment counts: the library's validation walks it.
        assert_eq!(reason(&format!("{{ x }} fragment U on Q {{ {wide} }}")), Some("TOO_MANY_FIELDS"));
        // So do variable definitions, and every operation of the document.
        let vars: String = (0..100).map(|i| format!("$v{i}: Int ")).collect();
        assert_eq!(reason(&format!("query({vars}) {{ x }}")), Some("TOO_MANY_FIELDS"));
        let ops: String = (0..101).map(|i| format!("query Q{i} {{ x }} ")).collect();
        assert_eq!(reason(&ops), Some("TOO_MANY_FIELDS"));
    }

    #[test]
    fn a_long_chain_of_fragments_is_measured_without_recursion() {
        let n = 50_000;
        let mut q = String::from("{ x } ");
        for i in 0..n {
            q.push_str(&format!("fragment F{i} on Q {{ ...F{} }} ", i + 1));
        }
        q.push_str(&format!("fragment F{n} on Q {{ x }}"));
        let big = ShapeLimits { expanded: usize::MAX, depth: usize::MAX, ..LIMITS };
        let doc = parse_query(&q).unwrap();
        assert!(check(&doc, big).is_ok());
        assert_eq!(check(&doc, LIMITS).err().map(|e| e.reason), Some("TOO_MANY_FIELDS"));
    }

    #[test]
    fn credential_fields_are_counted_through_aliases_fragments_and_repeats() {
        assert_eq!(credential("mutation { login(email: \"a\", password: \"b\") { token } }"), 1);
        assert_eq!(credential("mutation { a: login { token } b: login { token } }"), 2);
        assert_eq!(credential("mutation { login { token } login { token } }"), 2);
        assert_eq!(credential("mutation { ...F ...F } fragment F on MutationRoot { selfRegister { token } }"), 2);
        assert_eq!(credential("mutation { ... on MutationRoot { acceptInvitation { token } } login { token } }"), 2);
        assert_eq!(credential("mutation { createPartner { login } }"), 0, "only root fields check passwords");
    }

    #[test]
    fn nul_characters_anywhere_in_the_document_are_refused() {
        assert_eq!(reason("{ x(a: \"a\\u0000b\") }"), Some("NUL_CHARACTER"));
        assert_eq!(reason("{ x(a: {b: [\"\\u0000\"]}) }"), Some("NUL_CHARACTER"));
        assert_eq!(reason("query($v: String = \"\\u0000\") { x(a: $v) }"), Some("NUL_CHARACTER"));
        assert_eq!(reason("{ x @skip(if: \"\\u0000\") }"), Some("NUL_CHARACTER"));
        assert_eq!(reason("{ ...F } fragment F on Q { x(a: \"\\u0000\") }"), Some("NUL_CHARACTER"));
        assert_eq!(reason("{ x(a: \"Ромашка\") }"), None);
    }
}
