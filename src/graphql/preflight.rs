//! Preflight: every GraphQL request, from every transport (POST, GET, WebSocket), passes here before
//! async-graphql sees it, in this order:
//!
//! 1. a linear, non-recursive scan of the query text for bracket nesting (`{ [ (` outside strings,
//!    block strings and comments): async-graphql's parser (pest) recurses once per level and a few
//!    thousand levels overflow the stack and abort the process;
//! 2. the nesting of the `variables` (walked iteratively) and NUL characters in them;
//! 3. the parse, once;
//! 4. the shape of the parsed document (`shape`): size after fragment expansion, depth, aliases, root
//!    fields, directives, fragment cycles, NUL characters;
//! 5. which operation async-graphql will execute (the same rules as its `prepare_request`), its type,
//!    and at most one credential-checking field at its root.
//!
//! The request then goes on with the parsed document (`Request::set_parsed_query`), so the library
//! does not parse again and its walkers only ever see a document that is bounded.

use std::collections::HashMap;

use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, OperationDefinition, OperationType};
use async_graphql::{Name, Pos, Positioned, Request, ServerError, Value, Variables};

use super::shape::{self, CREDENTIAL_FIELDS, ShapeLimits};
use crate::config::Config;

/// The limits the preflight applies (from `Config`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Deepest bracket nesting in the query text.
    pub nesting: usize,
    /// Deepest nesting of lists and objects in the variables.
    pub variables_depth: usize,
    pub shape: ShapeLimits,
}

impl Limits {
    pub fn of(c: &Config) -> Self {
        Limits {
            nesting: c.limits.max_nesting,
            variables_depth: c.limits.max_variables_depth,
            shape: ShapeLimits {
                aliases: c.limits.max_aliases,
                root_fields: c.limits.max_root_fields,
                directives: c.limits.max_directives,
                depth: c.limits.max_depth,
                expanded: c.limits.max_expanded_fields,
            },
        }
    }
}

/// Why a request is refused before it runs: a coded GraphQL error.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub code: &'static str,
    pub reason: &'static str,
    pub message: String,
    pub locations: Vec<Pos>,
}

impl Refusal {
    pub fn new(code: &'static str, reason: &'static str, message: impl Into<String>) -> Self {
        Refusal { code, reason, message: message.into(), locations: Vec::new() }
    }

    /// A string with a NUL character: no field takes one, and PostgreSQL refuses them in text.
    pub fn nul() -> Self {
        Refusal::new("BAD_USER_INPUT", "NUL_CHARACTER", "strings may not contain NUL characters (\\u0000)")
    }

    pub fn into_server_error(self) -> ServerError {
        let mut e = ServerError::new(self.message, None);
        e.locations = self.locations;
        let ext = e.extensions.get_or_insert_with(Default::default);
        ext.set("code", self.code);
        ext.set("reason", self.reason);
        e
    }

    /// Whether the request never ran (as every refusal here): the HTTP edge answers 400 to clients that
    /// asked for `application/graphql-response+json`.
    pub fn response(self) -> async_graphql::Response {
        async_graphql::Response::from_errors(vec![self.into_server_error()])
    }
}

/// The mark of a request that passed the preflight: the error guard refuses to let async-graphql parse
/// a request without it, so a transport added later cannot skip these checks by mistake.
#[derive(Debug, Clone, Copy)]
pub struct Preflighted;

/// A request that passed the preflight, with its document parsed and the operation it will run.
pub struct Checked {
    pub request: Request,
    pub operation: OperationType,
}

/// Runs every check on `request`; on success the request carries its parsed document.
pub fn check(mut request: Request, limits: &Limits) -> Result<Checked, Refusal> {
    // An empty `operationName` names nothing (as in graphql-js); async-graphql would look for an
    // operation called "".
    if request.operation_name.as_deref() == Some("") {
        request.operation_name = None;
    }
    scan_nesting(&request.query, limits.nesting)?;
    check_variables(&request.variables, limits.variables_depth)?;
    let doc = async_graphql::parser::parse_query(&request.query).map_err(|e| {
        let e = ServerError::from(e);
        Refusal { code: "GRAPHQL_PARSE_FAILED", reason: "SYNTAX", message: e.message, locations: e.locations }
    })?;
    let shapes = shape::check(&doc, limits.shape)?;
    let (name, op) = resolve_operation(&doc, request.operation_name.as_deref())?;
    let operation = op.node.ty;
    check_credentials(&shapes, name)?;
    request.set_parsed_query(doc);
    Ok(Checked { request: request.data(Preflighted), operation })
}

fn check_credentials(
    shapes: &HashMap<Option<Name>, shape::OperationShape>,
    name: Option<&Name>,
) -> Result<(), Refusal> {
    let credential = shapes.get(&name.cloned()).map(|s| s.credential_fields).unwrap_or(0);
    if credential > 1 {
        return Err(Refusal::new(
            "GRAPHQL_VALIDATION_FAILED",
            "TOO_MANY_CREDENTIAL_FIELDS",
            format!("at most one of {} in a request", CREDENTIAL_FIELDS.join(", ")),
        ));
    }
    Ok(())
}

/// The operation async-graphql will execute, by the rules of its `prepare_request`: with an
/// `operationName`, the operation of that name (an anonymous operation has none); without one, the
/// only operation of the document, named or not.
pub fn resolve_operation<'d>(
    doc: &'d ExecutableDocument,
    operation_name: Option<&str>,
) -> Result<(Option<&'d Name>, &'d Positioned<OperationDefinition>), Refusal> {
    match (&doc.operations, operation_name) {
        (DocumentOperations::Multiple(ops), Some(name)) => match ops.get_key_value(name) {
            Some((n, op)) => Ok((Some(n), op)),
            None => Err(unknown_operation(name)),
        },
        (DocumentOperations::Single(_), Some(name)) => Err(unknown_operation(name)),
        (DocumentOperations::Single(op), None) => Ok((None, op)),
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => {
            ops.iter().next().map(|(n, op)| (Some(n), op)).ok_or_else(name_required)
        }
        (DocumentOperations::Multiple(_), None) => Err(name_required()),
    }
}

fn unknown_operation(name: &str) -> Refusal {
    let shown: String = name.chars().take(64).collect();
    Refusal::new(
        "GRAPHQL_VALIDATION_FAILED",
        "UNKNOWN_OPERATION",
        format!("no operation named \"{shown}\" in the document"),
    )
}

fn name_required() -> Refusal {
    Refusal::new(
        "GRAPHQL_VALIDATION_FAILED",
        "OPERATION_NAME_REQUIRED",
        "the document has several operations: say which one to run with operationName",
    )
}

/// The deepest nesting of `{`, `[` and `(` in GraphQL source text, outside strings, block strings and
/// comments: one pass over the bytes, no recursion, stopping at the first level past `max`.
///
/// It follows the lexical grammar of async-graphql's parser: `#` comments run to the end of the line;
/// a string starts at `"` and ends at the next unescaped `"` (`\` escapes one character); a block string
/// runs from `"""` to the next `"""` not written `\"""`. Where the text is not valid GraphQL (a line
/// break inside a string, say) the parser stops at that point too, so it never nests deeper than this
/// count.
pub fn scan_nesting(text: &str, max: usize) -> Result<(), Refusal> {
    let b = text.as_bytes();
    let mut i = 0;
    let mut depth = 0usize;
    while i < b.len() {
        match b[i] {
            b'#' => {
                while i < b.len() && b[i] != b'\n' && b[i] != b'\r' {
                    i += 1;
                }
            }
            b'"' if b[i..].starts_with(b"\"\"\"") => {
                i += 3;
                while i < b.len() {
                    if b[i..].starts_with(b"\\\"\"\"") {
                        i += 4;
                    } else if b[i..].starts_with(b"\"\"\"") {
                        i += 3;
                        break;
                    } else {
                        i += 1;
                    }
                }
                continue;
            }
            b'"' => {
                i += 1;
                while i < b.len() {
                    match b[i] {
                        b'\\' => i += 2,
                        b'"' => {
                            i += 1;
                            break;
                        }
                        _ => i += 1,
                    }
                }
                continue;
            }
            b'{' | b'[' | b'(' => {
                depth += 1;
                if depth > max {
                    return Err(Refusal::new(
                        "GRAPHQL_PARSE_FAILED",
                        "NESTING_TOO_DEEP",
                        format!("the query nests brackets more than {max} levels deep"),
                    ));
                }
            }
            b'}' | b']' | b')' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

/// Variables nest at most `max` lists and objects deep, and no string (or key) has a NUL character.
/// Iterative: the variables arrive already parsed (serde_json stops at 128 levels).
pub fn check_variables(variables: &Variables, max: usize) -> Result<(), Refusal> {
    let mut stack: Vec<(&Value, usize)> = Vec::new();
    for (name, value) in variables.iter() {
        if name.contains('\0') {
            return Err(Refusal::nul());
        }
        stack.push((value, 1));
    }
    while let Some((value, depth)) = stack.pop() {
        match value {
            Value::String(s) if s.contains('\0') => return Err(Refusal::nul()),
            Value::List(_) | Value::Object(_) if depth > max => {
                return Err(Refusal::new(
                    "BAD_USER_INPUT",
                    "NESTING_TOO_DEEP",
                    format!("variables nest lists and objects at most {max} levels deep"),
                ));
            }
            Value::List(items) => stack.extend(items.iter().map(|v| (v, depth + 1))),
            Value::Object(fields) => {
                for (k, v) in fields {
                    if k.contains('\0') {
                        return Err(Refusal::nul());
                    }
                    stack.push((v, depth + 1));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nesting(q: &str, max: usize) -> Option<&'static str> {
        scan_nesting(q, max).err().map(|e| e.reason)
    }

    #[test]
    fn the_scan_counts_brackets_outside_strings_block_strings_and_comments() {
        assert_eq!(nesting("{ a { b } }", 2), None);
        assert_eq!(nesting("{ a { b { c } } }", 2), Some("NESTING_TOO_DEEP"));
        assert_eq!(nesting("{ a(x: [[1]]) }", 3), Some("NESTING_TOO_DEEP"));
        assert_eq!(nesting("{ a(x: {y: {z: 1}}) }", 3), Some("NESTING_TOO_DEEP"));
        // Brackets inside strings, block strings and comments do not count.
        assert_eq!(nesting(r#"{ a(x: "{{{{[[[[((((") }"#, 2), None);
        assert_eq!(nesting(r#"{ a(x: "\"{{{{") }"#, 2), None);
        assert_eq!(nesting(r#"{ a(x: "\\") { b } }"#, 2), None);
        assert_eq!(nesting("{ a(x: \"\"\"{{{{ \\\"\"\" {{{{\"\"\") }", 2), None);
        assert_eq!(nesting("{ a # {{{{{{\n }", 1), None);
        // …but a quote inside a comment does not open a string that would hide brackets.
        assert_eq!(nesting("# \"\n{ a { b { c } } }", 2), Some("NESTING_TOO_DEEP"));
        // Unbalanced closers do not make room for more openers.
        assert_eq!(nesting("}}}}}} { a { b { c } } }", 2), Some("NESTING_TOO_DEEP"));
        // An unterminated string or block string ends the scan.
        assert_eq!(nesting("{ a(x: \"{{{{{", 2), None);
        assert_eq!(nesting("{ a(x: \"\"\"{{{{{", 2), None);
    }

    #[test]
    fn the_scan_is_linear_on_megabytes_of_brackets() {
        let deep = "[".repeat(4_000_000);
        assert_eq!(nesting(&deep, 32), Some("NESTING_TOO_DEEP"));
        let flat = "{}".repeat(2_000_000);
        assert_eq!(nesting(&flat, 1), None);
    }

    #[test]
    fn variables_are_checked_for_depth_and_nul_without_recursion() {
        let vars = |v: serde_json::Value| Variables::from_json(v);
        let mut deep = serde_json::json!(1);
        for _ in 0..5 {
            deep = serde_json::json!([deep]);
        }
        assert!(check_variables(&vars(serde_json::json!({ "a": deep.clone() })), 5).is_ok());
        assert_eq!(
            check_variables(&vars(serde_json::json!({ "a": deep })), 4).err().map(|e| e.reason),
            Some("NESTING_TOO_DEEP")
        );
        for v in [
            serde_json::json!({ "a": "x\u{0}y" }),
            serde_json::json!({ "a": { "b": ["\u{0}"] } }),
            serde_json::json!({ "a": { "k\u{0}": 1 } }),
            serde_json::json!({ "a\u{0}": 1 }),
        ] {
            assert_eq!(check_variables(&vars(v.clone()), 32).err().map(|e| e.reason), Some("NUL_CHARACTER"), "{v}");
        }
        assert!(check_variables(&vars(serde_json::json!({ "a": "Ромашка", "b": [1, {"c": null}] })), 32).is_ok());
    }

    fn op(q: &str, name: Option<&str>) -> Result<(Option<String>, OperationType), &'static str> {
        let doc = async_graphql::parser::parse_query(q).unwrap();
        resolve_operation(&doc, name).map(|(n, op)| (n.map(|n| n.to_string()), op.node.ty)).map_err(|e| e.reason)
    }

    #[test]
    fn the_operation_is_resolved_as_async_graphql_resolves_it() {
        assert_eq!(op("{ a }", None), Ok((None, OperationType::Query)));
        assert_eq!(op("{ a }", Some("X")), Err("UNKNOWN_OPERATION"));
        assert_eq!(op("mutation M { a }", None), Ok((Some("M".into()), OperationType::Mutation)));
        assert_eq!(op("query Q { a } mutation M { a }", None), Err("OPERATION_NAME_REQUIRED"));
        assert_eq!(op("query Q { a } mutation M { a }", Some("M")), Ok((Some("M".into()), OperationType::Mutation)));
        assert_eq!(
            op("query Q { a } subscription S { a }", Some("S")),
            Ok((Some("S".into()), OperationType::Subscription))
        );
        assert_eq!(op("query Q { a }", Some("Z")), Err("UNKNOWN_OPERATION"));
    }
}
