//! Generating the walk's queries from introspection: every root query field with every field to a
//! bounded depth, as a tree of selected fields that the walk prunes where the caller is refused.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::schema::{InputValue, Schema};
use super::world::World;

/// How many object levels below a root field the walk selects.
const DEPTH: usize = 4;

pub(super) struct Known<'a> {
    pub(super) w: &'a World,
    /// The caller's own subscriber.
    pub(super) own: &'a str,
}

impl Known<'_> {
    /// Values for a required argument of a root query field, by name: each is walked.
    fn root_args(&self, field: &str, arg: &str) -> Option<Vec<Value>> {
        let w = self.w;
        let row = |k: &str| w.p_book.get(k).or(w.foreign.get(k)).unwrap_or_else(|| panic!("no row {k} in the world"));
        let rows = |keys: &[&str]| keys.iter().map(|k| json!(row(k))).collect();
        Some(match (field, arg) {
            ("subscriber", "id") => {
                vec![json!(self.own), json!(w.c.subscriber_id), json!(w.c2), json!(w.e.subscriber_id)]
            }
            // The rows of P's book, and Q's (another book's: refused as unknown, nothing to walk).
            ("contact", "id") => rows(&["contact", "Q.contact"]),
            ("company", "id") => rows(&["company", "contested company", "Q.company"]),
            ("deal", "id") => rows(&["deal", "Q.deal"]),
            (_, "subscriberId") | (_, "clientId") => vec![json!(w.c.subscriber_id)],
            (_, "partnerId") => vec![json!(w.p.subscriber_id)],
            (_, "tariffId") => vec![json!(w.tariff)],
            (_, "periodMonths") => vec![json!(1)],
            (_, "amount") => vec![json!("100.00")],
            (_, "source") => vec![json!("PARTNER_INVOICE")],
            (_, "programCode") => vec![json!("1C-FRESH")],
            (_, "quarter") => vec![json!(w.quarter)],
            (_, "weekStart") => vec![json!(w.monday)],
            _ => return None,
        })
    }
}

fn literal(v: &Value) -> String {
    match v {
        // Enum values go bare; everything else as JSON (which is GraphQL for strings and numbers).
        Value::String(s) if s.chars().all(|c| c.is_ascii_uppercase() || c == '_') && s.len() > 1 => s.clone(),
        other => other.to_string(),
    }
}

/// A selected field: its name and arguments, and the fields selected under it (none for a leaf; an
/// object always keeps `__typename`, so pruning never leaves it empty).
#[derive(Clone, Debug)]
pub(super) struct Sel {
    pub(super) name: String,
    args: String,
    under: Vec<Sel>,
}

/// Where each field of a query starts (its column: the query is one line), as its path of names below
/// the root field (the root field's own is empty).
pub(super) type Columns = BTreeMap<usize, Vec<String>>;

impl Sel {
    fn leaf(name: &str) -> Sel {
        Sel { name: name.to_owned(), args: String::new(), under: Vec::new() }
    }

    /// The query of this root field, and where each of its fields starts in it.
    pub(super) fn query(&self) -> (String, Columns) {
        let mut out = "{ ".to_owned();
        let mut columns = Columns::new();
        self.write(&mut out, &mut columns, &mut Vec::new());
        out.push_str(" }");
        (out, columns)
    }

    fn write(&self, out: &mut String, columns: &mut Columns, path: &mut Vec<String>) {
        columns.insert(out.len() + 1, path.clone());
        out.push_str(&self.name);
        out.push_str(&self.args);
        if !self.under.is_empty() {
            out.push(' ');
            write_set(&self.under, out, columns, path);
        }
    }

    /// Takes out the field at `path` below this one; whether it was there.
    pub(super) fn prune(&mut self, path: &[String]) -> bool {
        let Some((first, rest)) = path.split_first() else { return false };
        let Some(i) = self.under.iter().position(|s| s.name == *first) else { return false };
        if rest.is_empty() {
            self.under.remove(i);
            true
        } else {
            self.under[i].prune(rest)
        }
    }
}

fn write_set(sels: &[Sel], out: &mut String, columns: &mut Columns, path: &mut Vec<String>) {
    out.push_str("{ ");
    for s in sels {
        path.push(s.name.clone());
        s.write(out, columns, path);
        path.pop();
        out.push(' ');
    }
    out.push('}');
}

/// A selection set as GraphQL.
pub(super) fn render(sels: &[Sel]) -> String {
    let mut out = String::new();
    write_set(sels, &mut out, &mut Columns::new(), &mut Vec::new());
    out
}

/// The selection of every field of `type_name` to `depth` object levels, `__typename` everywhere.
pub(super) fn selection(schema: &Schema, type_name: &str, depth: usize) -> Vec<Sel> {
    let mut out = vec![Sel::leaf("__typename")];
    // An edge's node is the same object as in `nodes`: the walk takes the cursor only.
    if type_name.ends_with("Edge") {
        out.push(Sel::leaf("cursor"));
        return out;
    }
    for f in schema.fields(type_name) {
        if f.args.iter().any(InputValue::needed) {
            continue;
        }
        let args = if f.args.iter().any(|a| a.name == "first") { "(first: 5)" } else { "" };
        let named = f.ty.named();
        if schema.is_leaf(named) {
            out.push(Sel { name: f.name.clone(), args: args.to_owned(), under: Vec::new() });
        } else if depth > 0 {
            out.push(Sel { name: f.name.clone(), args: args.to_owned(), under: selection(schema, named, depth - 1) });
        }
    }
    out
}

/// One query per root query field (and per value of a required argument the table knows), as the root
/// field's selection; fields with a required argument it does not know are left out.
pub(super) fn walk_queries(schema: &Schema, known: &Known<'_>) -> Vec<Sel> {
    let mut out = Vec::new();
    for f in schema.fields(&schema.query) {
        let mut calls: Vec<Vec<String>> = vec![Vec::new()];
        let mut fillable = true;
        for a in &f.args {
            if a.needed() {
                match known.root_args(&f.name, &a.name) {
                    Some(values) => {
                        calls = calls
                            .into_iter()
                            .flat_map(|c| {
                                values.iter().map(move |v| {
                                    let mut c = c.clone();
                                    c.push(format!("{}: {}", a.name, literal(v)));
                                    c
                                })
                            })
                            .collect();
                    }
                    None => fillable = false,
                }
            } else if a.name == "first" {
                for c in &mut calls {
                    c.push("first: 5".to_owned());
                }
            }
        }
        if !fillable {
            continue;
        }
        let named = f.ty.named();
        let under = if schema.is_leaf(named) { Vec::new() } else { selection(schema, named, DEPTH) };
        for c in calls {
            let args = if c.is_empty() { String::new() } else { format!("({})", c.join(", ")) };
            out.push(Sel { name: f.name.clone(), args, under: under.clone() });
        }
    }
    out
}
