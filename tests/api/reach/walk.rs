//! Walking the answers: every subscriber, CRM row and partner's own row met is checked against the
//! caller's reach.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::queries::{Known, render, selection, walk_queries};
use super::schema::Schema;
use super::world::{World, build_world, ok, spawn_walk_app};
use crate::helpers::TestApp;

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
    /// The rows of the caller's CRM book (a partner's `OWNER` and `SERVICE_OPERATOR` read them); no row
    /// of another book may show.
    book: BTreeSet<String>,
}

/// What a subscriber outside the caller's reach shows (`updatedAt` reads as `createdAt` there).
const ALWAYS: [&str; 6] = ["__typename", "id", "name", "kind", "createdAt", "updatedAt"];
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
    /// CRM rows met (all of the caller's book).
    crm_rows: BTreeSet<String>,
    /// Stop-list entries met as a company's protection.
    protections: BTreeSet<String>,
    /// Fields taken out of the queries because they failed for this caller, with the error's code.
    pruned: BTreeMap<String, String>,
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
                    Some(t @ ("Invoice" | "Commission" | "StopListEntry")) => {
                        self.owned(reach, path, t, o);
                        if t == "StopListEntry"
                            && path.ends_with(".protection")
                            && let Some(id) = o.get("id").and_then(Value::as_str)
                        {
                            self.protections.insert(id.to_owned());
                        }
                    }
                    Some(t @ ("Contact" | "Company" | "Deal")) => {
                        let id = o.get("id").and_then(Value::as_str).unwrap_or_default();
                        if reach.book.contains(id) {
                            self.crm_rows.insert(id.to_owned());
                        } else {
                            self.problems.push(format!("{path}: {t} {id} of another book shown to {}", reach.label));
                        }
                    }
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
        if let (Some(created), Some(updated)) = (o.get("createdAt"), o.get("updatedAt"))
            && created != updated
        {
            self.problems.push(format!("{path}.updatedAt = {updated}, not createdAt: outside {}'s reach", reach.label));
        }
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

/// How many times a query runs again without the fields that failed before the walk gives up on it.
const MAX_ROUNDS: usize = 10;

/// Runs every generated query as the caller and visits the answers. A field the caller is refused fails,
/// and the failure nulls its nearest nullable ancestor (up to `data`), taking the fields beside it along;
/// so a query that answers errors runs again without the failed fields until it answers without errors,
/// and the answer that does is the one walked: everything the caller can read under that root field.
///
/// A failed field is found by the error's location (the column where the field starts), not by its
/// path: an error that propagates through a list item carries the item's path (`["partnerRanking", 0]`)
/// rather than the failed field's.
async fn walk(app: &TestApp, schema: &Schema, w: &World, token: Option<&str>, reach: &Reach) -> Walk {
    let own = reach.own.clone().unwrap_or_default();
    let known = Known { w, own: &own };
    let mut walk = Walk::default();
    for mut root in walk_queries(schema, &known) {
        for round in 1.. {
            let (query, columns) = root.query();
            let r = app.gql(token, &query, json!({})).await;
            let errors = r.0.get("errors").and_then(Value::as_array).cloned().unwrap_or_default();
            let mut pruned = false;
            for e in &errors {
                // No answer may leak driver text or be an unexplained failure (the field is still taken out,
                // so that the rest is walked).
                let code = e["extensions"]["code"].as_str().unwrap_or("NO_CODE");
                if matches!(
                    code,
                    "INTERNAL_SERVER_ERROR" | "NO_CODE" | "GRAPHQL_VALIDATION_FAILED" | "GRAPHQL_PARSE_FAILED"
                ) || code.starts_with("MAX_")
                {
                    walk.problems.push(format!("{} as {}: {e}", root.name, reach.label));
                }
                let column = e["locations"][0]["column"].as_u64().and_then(|c| usize::try_from(c).ok());
                match column.and_then(|c| columns.get(&c)) {
                    // The root field itself is refused: nothing under it to walk.
                    Some(path) if path.is_empty() => {}
                    Some(path) => {
                        // Another error of the same field (in another list item) finds it gone.
                        root.prune(path);
                        walk.pruned.insert(format!("{}.{}", root.name, path.join(".")), code.to_owned());
                        pruned = true;
                    }
                    None => {
                        walk.problems.push(format!("{} as {}: an error off the query: {e}", root.name, reach.label))
                    }
                }
            }
            if !pruned || round == MAX_ROUNDS {
                if pruned {
                    walk.problems
                        .push(format!("{} as {}: still failing after {MAX_ROUNDS} rounds", root.name, reach.label));
                }
                walk.visit(reach, &root.name, &root.name, &r.0["data"]);
                break;
            }
        }
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
        book: w.p_book.values().cloned().collect(),
    }
}

#[tokio::test]
async fn every_path_shows_a_subscriber_outside_the_callers_reach_as_its_id_and_name_only() {
    let app = spawn_walk_app().await;
    let w = build_world(&app).await;
    let schema = Schema::load(&app).await;

    let mut problems = Vec::new();
    // Not a walk through nothing: what each caller must have met, where (reported after the leaks, which
    // may be why a walk went elsewhere).
    let mut short = Vec::new();
    let mut expect = |met: bool, what: String| {
        if !met {
            short.push(what);
        }
    };
    for (label, who) in &w.p_roles {
        let reach = reach_of_partner_role(&w, label);
        let walk = walk(&app, &schema, &w, Some(&who.token), &reach).await;
        problems.extend(walk.problems);
        // Q is met (the ranking, the pool, C's history for those who see C), and the pool's members are
        // read, with their reasons hidden. The fields refused to the role, and so left out, are named.
        let refused = format!("(refused: {:?})", walk.pruned);
        let met = |id: &str, root: &str, inside: &str| {
            walk.foreign_seen
                .get(id)
                .is_some_and(|paths| paths.iter().any(|p| p.starts_with(root) && p.contains(inside)))
        };
        expect(walk.foreign_seen.contains_key(&w.q.subscriber_id), format!("{label} met Q somewhere {refused}"));
        expect(walk.pool_members >= 2, format!("{label} read the lead pool's members {refused}"));
        expect(met(&w.q.subscriber_id, "partnerRanking", "partner"), format!("{label} met Q in the ranking {refused}"));
        expect(met(&w.q.subscriber_id, "leadPool", "members"), format!("{label} met Q in the lead pool {refused}"));
        let serves = matches!(*label, "P.OWNER" | "P.SO");
        if serves {
            expect(
                met(&w.q.subscriber_id, "subscriber", "bindingHistory"),
                format!("{label} met Q in C's binding history {refused}"),
            );
            expect(met(&w.d.subscriber_id, "invoices", "client"), format!("{label} met D on its invoice {refused}"));
            expect(
                met(&w.d.subscriber_id, "promoCodes", "client"),
                format!("{label} met D on its discount code {refused}"),
            );
            expect(
                met(&w.q.subscriber_id, "supportedClients", "servingPartner"),
                format!("{label} met Q as E's partner {refused}"),
            );
        }
        // Its CRM book, whole, for those who work with it; and as the protection of the company whose INN
        // Q asked to lock after P, P's own request: of the other company's INN only Q asked, so none.
        let book: BTreeSet<String> = if serves { w.p_book.values().cloned().collect() } else { BTreeSet::new() };
        expect(walk.crm_rows == book, format!("{label} read the CRM rows {:?}, not {book:?}", walk.crm_rows));
        let protections = if serves { BTreeSet::from([w.p_protection.clone()]) } else { BTreeSet::new() };
        expect(
            walk.protections == protections,
            format!("{label} met the protections {:?}, not {protections:?}", walk.protections),
        );
        let least = if serves { 100 } else { 5 };
        expect(walk.subscribers > least, format!("{label} walked {} subscribers", walk.subscribers));
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
            book: BTreeSet::new(),
        };
        let walk = walk(&app, &schema, &w, Some(&who.token), &reach).await;
        problems.extend(walk.problems);
        expect(walk.foreign_seen.contains_key(&w.p.subscriber_id), format!("{label} met its partner P"));
    }
    let anonymous = Reach {
        label: "ANON",
        full: BTreeSet::new(),
        card_only: BTreeSet::new(),
        contacts: BTreeSet::new(),
        vendor: false,
        partner: None,
        own: None,
        book: BTreeSet::new(),
    };
    let walk = walk(&app, &schema, &w, None, &anonymous).await;
    problems.extend(walk.problems);
    expect(walk.foreign_seen.contains_key(&w.q.subscriber_id), "the directory lists Q".to_owned());
    assert!(problems.is_empty(), "{} leaks:\n{}", problems.len(), problems.join("\n"));
    assert!(short.is_empty(), "walks that fell short:\n{}", short.join("\n"));
}

#[tokio::test]
async fn a_client_named_on_its_behalf_shows_its_id_and_name_only() {
    let app = spawn_walk_app().await;
    let w = build_world(&app).await;
    let schema = Schema::load(&app).await;
    let sub = render(&selection(&schema, "Subscriber", 2));
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
