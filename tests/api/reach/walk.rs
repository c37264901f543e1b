//! Generating the queries from introspection and walking the answers: every subscriber met is checked
//! against the caller's reach.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::schema::{InputValue, Schema};
use super::world::{World, build_world, ok, spawn_walk_app};
use crate::helpers::TestApp;

/// How many object levels below a root field the walk selects.
const DEPTH: usize = 4;

struct Known<'a> {
    w: &'a World,
    /// The caller's own subscriber.
    own: &'a str,
}

impl Known<'_> {
    /// Values for a required argument of a root query field, by name: each is walked.
    fn root_args(&self, field: &str, arg: &str) -> Option<Vec<Value>> {
        let w = self.w;
        Some(match (field, arg) {
            ("subscriber", "id") => {
                vec![json!(self.own), json!(w.c.subscriber_id), json!(w.c2), json!(w.e.subscriber_id)]
            }
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

/// The selection of every field of `type_name` to `depth` object levels, `__typename` everywhere.
fn selection(schema: &Schema, type_name: &str, depth: usize) -> String {
    let mut out = vec!["__typename".to_owned()];
    // An edge's node is the same object as in `nodes`: the walk takes the cursor only.
    if type_name.ends_with("Edge") {
        out.push("cursor".to_owned());
        return format!("{{ {} }}", out.join(" "));
    }
    for f in schema.fields(type_name) {
        if f.args.iter().any(InputValue::needed) {
            continue;
        }
        let args = if f.args.iter().any(|a| a.name == "first") { "(first: 5)" } else { "" };
        let named = f.ty.named();
        if schema.is_leaf(named) {
            out.push(format!("{}{args}", f.name));
        } else if depth > 0 {
            out.push(format!("{}{args} {}", f.name, selection(schema, named, depth - 1)));
        }
    }
    format!("{{ {} }}", out.join(" "))
}

/// One query per root query field (and per value of a required argument the table knows); fields with a
/// required argument it does not know are left out.
fn walk_queries(schema: &Schema, known: &Known<'_>) -> Vec<(String, String)> {
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
        let sel = if schema.is_leaf(named) { String::new() } else { selection(schema, named, DEPTH) };
        for c in calls {
            let args = if c.is_empty() { String::new() } else { format!("({})", c.join(", ")) };
            out.push((f.name.clone(), format!("{{ {}{args} {sel} }}", f.name)));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------------
// Walking the answers.

/// What a caller reaches, by the product rules (not by asking the code).
struct Reach {
    label: &'static str,
    /// Subscribers it sees whole.
    full: BTreeSet<String>,
    /// Subscribers whose card it reads but does not work with (its partner's support line).
    card_only: BTreeSet<String>,
    /// Partners whose e-mail, phone and address it may read wherever they appear (a client's own partner).
    contacts: BTreeSet<String>,
    /// The vendor reads lead-pool reasons; nobody else.
    vendor: bool,
    /// The caller's partner, for the rows that are a partner's own (invoices, commissions, stop-list).
    partner: Option<String>,
    /// The caller's own subscriber.
    own: Option<String>,
}

const ALWAYS: [&str; 5] = ["__typename", "id", "name", "kind", "createdAt"];
const CONTACTS: [&str; 3] = ["email", "phone", "address"];
/// What only working with a subscriber shows (empty for a support line).
const WORK: [&str; 5] = ["bindingHistory", "members", "subscriptions", "needsAssessment", "churnReasons"];

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => {
            o.get("__typename").and_then(Value::as_str).is_some_and(|t| t.ends_with("Connection"))
                && o.get("totalCount").is_none_or(|n| n == 0)
                && o.get("nodes").is_none_or(|n| n.as_array().is_some_and(Vec::is_empty))
                && o.get("edges").is_none_or(|n| n.as_array().is_some_and(Vec::is_empty))
        }
        _ => false,
    }
}

#[derive(Default)]
struct Walk {
    problems: Vec<String>,
    /// Foreign subscribers met, and where.
    foreign_seen: BTreeMap<String, BTreeSet<String>>,
    subscribers: usize,
    pool_members: usize,
}

impl Walk {
    fn visit(&mut self, reach: &Reach, root: &str, path: &str, v: &Value) {
        match v {
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.visit(reach, root, &format!("{path}[{i}]"), item);
                }
            }
            Value::Object(o) => {
                match o.get("__typename").and_then(Value::as_str) {
                    Some("Subscriber") => self.subscriber(reach, root, path, o),
                    Some("LeadPoolMember") => {
                        self.pool_members += 1;
                        if !reach.vendor && !o.get("reason").is_none_or(Value::is_null) {
                            self.problems.push(format!("{path}: LeadPoolMember.reason shown to {}", reach.label));
                        }
                    }
                    Some(t @ ("Invoice" | "Commission" | "StopListEntry")) => self.owned(reach, path, t, o),
                    _ => {}
                }
                for (k, child) in o {
                    self.visit(reach, root, &format!("{path}.{k}"), child);
                }
            }
            _ => {}
        }
    }

    fn subscriber(&mut self, reach: &Reach, root: &str, path: &str, o: &serde_json::Map<String, Value>) {
        self.subscribers += 1;
        let Some(id) = o.get("id").and_then(Value::as_str) else { return };
        if reach.full.contains(id) {
            return;
        }
        if reach.card_only.contains(id) {
            for k in WORK {
                if o.get(k).is_some_and(|v| !is_empty(v)) {
                    self.problems.push(format!("{path}.{k}: shown of a support-line client to {}", reach.label));
                }
            }
            return;
        }
        self.foreign_seen.entry(id.to_owned()).or_default().insert(path.to_owned());
        let directory = root == "partnerDirectory" && o.get("kind").is_none_or(|k| k == "PARTNER");
        for (k, v) in o {
            let allowed = ALWAYS.contains(&k.as_str())
                || (CONTACTS.contains(&k.as_str()) && (directory || reach.contacts.contains(id)));
            if !allowed && !is_empty(v) {
                self.problems.push(format!("{path}.{k} = {v}: outside {}'s reach", reach.label));
            }
        }
    }

    /// Rows that are a partner's own (or issued to a client) show to their partner, their client, or the
    /// vendor only.
    fn owned(&mut self, reach: &Reach, path: &str, t: &str, o: &serde_json::Map<String, Value>) {
        if reach.vendor {
            return;
        }
        let id_of = |k: &str| o.get(k).and_then(|s| s.get("id")).and_then(Value::as_str).map(str::to_owned);
        let mine = match t {
            "Invoice" => id_of("partner") == reach.partner || id_of("client") == reach.own,
            _ => id_of("partner") == reach.partner,
        };
        if !mine && (o.contains_key("partner") || o.contains_key("client")) {
            self.problems.push(format!("{path}: another's {t} shown to {}", reach.label));
        }
    }
}

async fn walk(app: &TestApp, schema: &Schema, w: &World, token: Option<&str>, reach: &Reach) -> Walk {
    let own = reach.own.clone().unwrap_or_default();
    let known = Known { w, own: &own };
    let mut walk = Walk::default();
    for (root, q) in walk_queries(schema, &known) {
        let r = app.gql(token, &q, json!({})).await;
        // No answer may leak driver text or be an unexplained failure.
        if let Some(errors) = r.0.get("errors").and_then(Value::as_array) {
            for e in errors {
                let code = e["extensions"]["code"].as_str().unwrap_or("NO_CODE");
                if matches!(
                    code,
                    "INTERNAL_SERVER_ERROR" | "NO_CODE" | "GRAPHQL_VALIDATION_FAILED" | "GRAPHQL_PARSE_FAILED"
                ) || code.starts_with("MAX_")
                {
                    walk.problems.push(format!("{root} as {}: {e}", reach.label));
                }
            }
        }
        walk.visit(reach, &root, &root, &r.0["data"]);
    }
    walk
}

fn reach_of_partner_role(w: &World, label: &'static str) -> Reach {
    let serves = matches!(label, "P.OWNER" | "P.SO");
    let mut full = BTreeSet::from([w.p.subscriber_id.clone()]);
    let mut card_only = BTreeSet::new();
    if serves {
        full.extend([w.c.subscriber_id.clone(), w.c2.clone()]);
        card_only.insert(w.e.subscriber_id.clone());
    }
    Reach {
        label,
        full,
        card_only,
        contacts: BTreeSet::new(),
        vendor: false,
        partner: Some(w.p.subscriber_id.clone()),
        own: Some(w.p.subscriber_id.clone()),
    }
}

#[tokio::test]
async fn every_path_shows_a_subscriber_outside_the_callers_reach_as_its_id_and_name_only() {
    let app = spawn_walk_app().await;
    let w = build_world(&app).await;
    let schema = Schema::load(&app).await;

    let mut problems = Vec::new();
    for (label, who) in &w.p_roles {
        let reach = reach_of_partner_role(&w, label);
        let walk = walk(&app, &schema, &w, Some(&who.token), &reach).await;
        problems.extend(walk.problems);
        // Not a walk through nothing: Q is met (the ranking, the pool, C's history for those who see C),
        // and the pool's members are read, with their reasons hidden.
        assert!(walk.foreign_seen.contains_key(&w.q.subscriber_id), "{label} met Q somewhere");
        assert!(walk.pool_members >= 2, "{label} read the lead pool's members");
        let met = |id: &str, root: &str, inside: &str| {
            walk.foreign_seen
                .get(id)
                .is_some_and(|paths| paths.iter().any(|p| p.starts_with(root) && p.contains(inside)))
        };
        assert!(met(&w.q.subscriber_id, "partnerRanking", "partner"), "{label} met Q in the ranking");
        assert!(met(&w.q.subscriber_id, "leadPool", "members"), "{label} met Q in the lead pool");
        if matches!(*label, "P.OWNER" | "P.SO") {
            assert!(met(&w.q.subscriber_id, "subscriber", "bindingHistory"), "{label} met Q in C's binding history");
            assert!(met(&w.d.subscriber_id, "invoices", "client"), "{label} met D on its invoice");
            assert!(met(&w.d.subscriber_id, "promoCodes", "client"), "{label} met D on its discount code");
            assert!(met(&w.q.subscriber_id, "supportedClients", "servingPartner"), "{label} met Q as E's partner");
        }
        let least = if matches!(*label, "P.OWNER" | "P.SO") { 100 } else { 5 };
        assert!(walk.subscribers > least, "{label} walked {} subscribers", walk.subscribers);
    }
    for (label, who) in &w.c_roles {
        let reach = Reach {
            label,
            full: BTreeSet::from([w.c.subscriber_id.clone()]),
            card_only: BTreeSet::new(),
            contacts: BTreeSet::from([w.p.subscriber_id.clone()]),
            vendor: false,
            partner: None,
            own: Some(w.c.subscriber_id.clone()),
        };
        let walk = walk(&app, &schema, &w, Some(&who.token), &reach).await;
        problems.extend(walk.problems);
        assert!(walk.foreign_seen.contains_key(&w.p.subscriber_id), "{label} met its partner P");
    }
    let anonymous = Reach {
        label: "ANON",
        full: BTreeSet::new(),
        card_only: BTreeSet::new(),
        contacts: BTreeSet::new(),
        vendor: false,
        partner: None,
        own: None,
    };
    let walk = walk(&app, &schema, &w, None, &anonymous).await;
    problems.extend(walk.problems);
    assert!(walk.foreign_seen.contains_key(&w.q.subscriber_id), "the directory lists Q");
    assert!(problems.is_empty(), "{} leaks:\n{}", problems.len(), problems.join("\n"));
}

#[tokio::test]
async fn a_client_named_on_its_behalf_shows_its_id_and_name_only() {
    let app = spawn_walk_app().await;
    let w = build_world(&app).await;
    let schema = Schema::load(&app).await;
    let sub = selection(&schema, "Subscriber", 2);
    for (label, who) in w.p_roles.iter().filter(|(l, _)| matches!(*l, "P.OWNER" | "P.SO")) {
        let reach = reach_of_partner_role(&w, label);
        let invoice = format!(
            "mutation($c: ID!, $t: ID!) {{ createInvoice(input: {{clientId: $c, tariffId: $t, periodMonths: 1}}) {{ client {sub} partner {{ id }} }} }}"
        );
        let code = format!(
            "mutation($c: ID) {{ createPromoCode(input: {{programCode: \"1C-FRESH\", kind: DISCOUNT, clientId: $c}}) {{ client {sub} }} }}"
        );
        let mut walk = Walk::default();
        for client in [&w.d.subscriber_id, &w.e.subscriber_id] {
            let r = ok(&app, &who.token, &invoice, json!({ "c": client, "t": w.tariff })).await;
            walk.visit(&reach, "createInvoice", "createInvoice", &r.0["data"]);
            let r = ok(&app, &who.token, &code, json!({ "c": client })).await;
            walk.visit(&reach, "createPromoCode", "createPromoCode", &r.0["data"]);
            let r = ok(&app, &who.token, "mutation($c: ID) { issueSupportCode(clientId: $c) }", json!({ "c": client }))
                .await;
            assert!(r.ok()["issueSupportCode"].as_str().is_some_and(|c| !c.is_empty()));
        }
        assert!(walk.foreign_seen.contains_key(&w.d.subscriber_id), "{label} was shown D");
        assert!(walk.problems.is_empty(), "{}", walk.problems.join("\n"));
    }
}
