//! Reach, walked generically (SPEC §1, API "Decisions on details"): a subscriber outside the caller's
//! reach shows its `id` and `name` (and `kind`, `createdAt`) and nothing else, whichever path reached it;
//! every id and cursor a caller sends is resolved through the same rule, so another tenant's id is the
//! same answer as an id that names nothing.
//!
//! The queries are generated from introspection: every root query field with every field reachable to a
//! bounded depth, so a field added later is walked without changing this file.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use base64::Engine;
use chrono::Datelike;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::helpers::{Account, Gql, PASSWORD, TestApp, email, inn, spawn_app_with};

// ---------------------------------------------------------------------------------------------------
// The schema, as introspection tells it.

#[derive(Deserialize, Debug, Clone)]
struct TypeRef {
    kind: String,
    name: Option<String>,
    #[serde(rename = "ofType")]
    of_type: Option<Box<TypeRef>>,
}

impl TypeRef {
    fn named(&self) -> &str {
        match &self.name {
            Some(n) => n,
            None => self.of_type.as_ref().expect("a wrapper wraps a type").named(),
        }
    }
    fn required(&self) -> bool {
        self.kind == "NON_NULL"
    }
    fn is_list(&self) -> bool {
        self.kind == "LIST" || self.of_type.as_ref().is_some_and(|t| t.is_list())
    }
}

#[derive(Deserialize, Debug, Clone)]
struct InputValue {
    name: String,
    #[serde(rename = "type")]
    ty: TypeRef,
    #[serde(rename = "defaultValue")]
    default: Option<String>,
}

impl InputValue {
    fn needed(&self) -> bool {
        self.ty.required() && self.default.is_none()
    }
}

#[derive(Deserialize, Debug, Clone)]
struct Field {
    name: String,
    args: Vec<InputValue>,
    #[serde(rename = "type")]
    ty: TypeRef,
}

#[derive(Deserialize, Debug, Clone)]
struct EnumValue {
    name: String,
}

#[derive(Deserialize, Debug, Clone)]
struct FullType {
    kind: String,
    name: String,
    fields: Option<Vec<Field>>,
    #[serde(rename = "inputFields")]
    input_fields: Option<Vec<InputValue>>,
    #[serde(rename = "enumValues")]
    enum_values: Option<Vec<EnumValue>>,
}

struct Schema {
    types: HashMap<String, FullType>,
    query: String,
    mutation: String,
}

const INTROSPECTION: &str = "
fragment T on __Type { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } }
fragment V on __InputValue { name defaultValue type { ...T } }
{ __schema { queryType { name } mutationType { name }
  types { kind name enumValues { name } inputFields { ...V } fields { name args { ...V } type { ...T } } } } }";

impl Schema {
    async fn load(app: &TestApp) -> Schema {
        let r = app.as_(&app.vendor, INTROSPECTION, json!({})).await;
        let s = &r.ok()["__schema"];
        let types: Vec<FullType> = serde_json::from_value(s["types"].clone()).expect("introspection types");
        Schema {
            types: types.into_iter().map(|t| (t.name.clone(), t)).collect(),
            query: s["queryType"]["name"].as_str().unwrap().to_owned(),
            mutation: s["mutationType"]["name"].as_str().unwrap().to_owned(),
        }
    }

    fn ty(&self, name: &str) -> &FullType {
        &self.types[name]
    }

    fn fields(&self, name: &str) -> &[Field] {
        self.ty(name).fields.as_deref().unwrap_or_default()
    }

    fn is_leaf(&self, name: &str) -> bool {
        matches!(self.ty(name).kind.as_str(), "SCALAR" | "ENUM")
    }
}

// ---------------------------------------------------------------------------------------------------
// The world: the calling partner P and everything around it.

struct World {
    /// The partner whose roles call.
    p: Account,
    p_roles: Vec<(&'static str, Account)>,
    /// P's client, which came from Q through a paid partner invoice.
    c: Account,
    c_roles: Vec<(&'static str, Account)>,
    /// P's own client, registered by P (its owner has not accepted yet).
    c2: String,
    /// Another partner, with a full card, a profile and statuses.
    q: Account,
    /// Q's client, with subscriptions, payments, tasks and a pending invitation.
    d: Account,
    /// Q's client whose support line P is (P reads its card only).
    e: Account,
    tariff: String,
    quarter: String,
    monday: String,
    pool: String,
    /// Rows of Q's and D's, by what they are, for ids and cursors.
    foreign: BTreeMap<&'static str, String>,
    /// P's invoice to D: P's, but another's for C.
    p_invoice_to_d: String,
}

fn at(r: &Gql, path: &str) -> String {
    let mut v = r.ok();
    for p in path.split('.') {
        v = match p.parse::<usize>() {
            Ok(i) => &v[i],
            Err(_) => &v[p],
        };
    }
    v.as_str().unwrap_or_else(|| panic!("nothing at {path} in {}", r.0)).to_owned()
}

async fn ok(app: &TestApp, token: &str, q: &str, vars: Value) -> Gql {
    let r = app.as_(token, q, vars).await;
    r.ok();
    r
}

const FULL_CARD: &str = "mutation($id: ID!, $i: SubscriberCardInput!) { updateSubscriber(id: $id, input: $i) { id } }";
const INVOICE: &str =
    "mutation($c: ID!, $t: ID!) { createInvoice(input: {clientId: $c, tariffId: $t, periodMonths: 1}) { id } }";
const PAY_INVOICE: &str = "mutation($i: PaymentInput!) { recordPayment(input: $i) { id commissions { id } } }";

fn card(n: u32, who: &str) -> Value {
    json!({ "inn": inn(n), "kpp": "770101001", "email": format!("{who}@card.test"), "phone": format!("+7 495 {n:03}-00-00"),
            "address": format!("{who} street {n}"), "contactPerson": format!("{who} contact") })
}

async fn pay_invoice(app: &TestApp, client: &str, tariff: &str, invoice: &str) -> Gql {
    let i = json!({ "subscriberId": client, "tariffId": tariff, "periodMonths": 1, "amount": "100.00",
                    "invoiceId": invoice, "externalId": email("inv-pay") });
    ok(app, &app.vendor, PAY_INVOICE, json!({ "i": i })).await
}

async fn build_world(app: &TestApp) -> World {
    let v = app.vendor.clone();
    app.presets().await;
    let tariff = app.tariff("FRESH", "1C-FRESH", "ITSAAS", "100.00", &[1, 12], 30).await;
    let mut foreign = BTreeMap::new();

    // Q first, so that P's rows come after Q's in every id order (cursors land between them).
    let q = app.partner("Partner Q").await;
    ok(app, &v, FULL_CARD, json!({ "id": q.subscriber_id, "i": card(501, "q") })).await;
    let q_operator = app.member(&q.token, &q.subscriber_id, "SERVICE_OPERATOR").await;
    foreign.insert("Q.membership", q_operator.membership_id.clone());
    let c = app.client_of(&q, "Client C").await;
    ok(app, &c.token, FULL_CARD, json!({ "id": c.subscriber_id, "i": card(502, "c") })).await;
    let d = app.client_of(&q, "Client D").await;
    ok(app, &q.token, FULL_CARD, json!({ "id": d.subscriber_id, "i": card(503, "d") })).await;
    foreign.insert("D.membership", d.membership_id.clone());
    let e = app.client_of(&q, "Client E").await;
    for partner in [&q] {
        app.set_status(&partner.subscriber_id, "1C-FRESH", "CSK").await;
    }
    let profile = "mutation($id: ID!) { updatePartnerProfile(partnerId: $id, input: {serviceDeskConnected: true, hasConsultants: true, hasCustomizationSpecialists: true, contractUntil: \"2100-01-01\"}) { id } }";
    ok(app, &v, profile, json!({ "id": q.subscriber_id })).await;
    // D: a trial and a paid subscription, payments (with Q's commission), a task, a pending invitation.
    let r = ok(
        app,
        &q.token,
        "mutation($s: ID!, $t: ID!) { startTrial(subscriberId: $s, tariffId: $t) { id } }",
        json!({ "s": d.subscriber_id, "t": tariff }),
    )
    .await;
    foreign.insert("D.subscription", at(&r, "startTrial.id"));
    let r = app.pay(&d.subscriber_id, &tariff, 1, "100.00", &email("d-pay")).await;
    foreign.insert("D.payment", at(&r, "recordPayment.id"));
    foreign.insert("Q.commission", at(&r, "recordPayment.commissions.0.id"));
    let r =
        ok(app, &q.token, "query($c: ID) { tasks(clientId: $c) { nodes { id } } }", json!({ "c": d.subscriber_id }))
            .await;
    foreign.insert("Q.task", at(&r, "tasks.nodes.0.id"));
    let r = ok(
        app,
        &q.token,
        "mutation($s: ID, $e: String!) { inviteUser(input: {subscriberId: $s, email: $e, role: USER}) { invitation { id } } }",
        json!({ "s": d.subscriber_id, "e": email("d-invitee") }),
    )
    .await;
    foreign.insert("D.invitation", at(&r, "inviteUser.invitation.id"));
    // Q's own stop-list entry, promo code and invoice (to C, which C pays while still Q's client).
    let r =
        ok(app, &q.token, "mutation($i: String!) { requestStopListLock(inn: $i) { id } }", json!({ "i": inn(601) }))
            .await;
    foreign.insert("Q.stopListEntry", at(&r, "requestStopListLock.id"));
    let r = ok(
        app,
        &q.token,
        "mutation($c: ID) { createPromoCode(input: {programCode: \"1C-FRESH\", kind: DISCOUNT, clientId: $c}) { id } }",
        json!({ "c": d.subscriber_id }),
    )
    .await;
    foreign.insert("Q.promoCode", at(&r, "createPromoCode.id"));
    // Q's webhook endpoint and a test delivery queued to it.
    let r = ok(
        app,
        &q.token,
        "mutation { createWebhookEndpoint(input: {url: \"https://example.com/q\", eventTypes: [\"payment.recorded\"]}) { endpoint { id } } }",
        json!({}),
    )
    .await;
    let q_hook = at(&r, "createWebhookEndpoint.endpoint.id");
    let r =
        ok(app, &q.token, "mutation($id: ID!) { sendTestWebhook(endpointId: $id) { id } }", json!({ "id": q_hook }))
            .await;
    foreign.insert("Q.webhookEndpoint", q_hook);
    foreign.insert("Q.webhookDelivery", at(&r, "sendTestWebhook.id"));
    let r = ok(app, &q.token, INVOICE, json!({ "c": c.subscriber_id, "t": tariff })).await;
    let q_invoice = at(&r, "createInvoice.id");
    foreign.insert("Q.invoice", q_invoice.clone());
    pay_invoice(app, &c.subscriber_id, &tariff, &q_invoice).await;
    foreign.insert("Q.auditEntry", {
        let r = ok(app, &v, "{ auditLog(first: 100) { nodes { id subscriber { id } } } }", json!({})).await;
        r.ok()["auditLog"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["subscriber"]["id"] == q.subscriber_id.as_str())
            .expect("an audit entry of Q's")["id"]
            .as_str()
            .unwrap()
            .to_owned()
    });

    // P: its roles, C moved over by P's paid invoice, its own client C2, E's support line.
    let p = app.partner("Partner P").await;
    app.set_status(&p.subscriber_id, "1C-FRESH", "CSK").await;
    ok(app, &v, profile, json!({ "id": p.subscriber_id })).await;
    ok(app, &p.token, FULL_CARD, json!({ "id": p.subscriber_id, "i": card(504, "p") })).await;
    let mut p_roles = vec![("P.OWNER", p.clone())];
    for (label, role) in
        [("P.ADMIN", "ADMIN"), ("P.USER", "USER"), ("P.AA", "ADAPTATION_ADMIN"), ("P.SO", "SERVICE_OPERATOR")]
    {
        p_roles.push((label, app.member(&p.token, &p.subscriber_id, role).await));
    }
    let r = ok(app, &p.token, INVOICE, json!({ "c": c.subscriber_id, "t": tariff })).await;
    pay_invoice(app, &c.subscriber_id, &tariff, &at(&r, "createInvoice.id")).await;
    let r = ok(
        app,
        &p.token,
        "mutation($o: String!) { registerClient(input: {name: \"Client C2\", ownerEmail: $o}) { subscriber { id } } }",
        json!({ "o": email("c2-owner") }),
    )
    .await;
    let c2 = at(&r, "registerClient.subscriber.id");
    let code = at(
        &ok(app, &p.token, "mutation($c: ID) { issueSupportCode(clientId: $c) }", json!({ "c": e.subscriber_id }))
            .await,
        "issueSupportCode",
    );
    ok(app, &e.token, "mutation($c: String!) { activateSupportCode(code: $c) { id } }", json!({ "c": code })).await;
    // P names D (Q's client) on D's behalf: an invoice and a personal discount code.
    let r = ok(app, &p.token, INVOICE, json!({ "c": d.subscriber_id, "t": tariff })).await;
    let p_invoice_to_d = at(&r, "createInvoice.id");
    ok(
        app,
        &p.token,
        "mutation($c: ID) { createPromoCode(input: {programCode: \"1C-FRESH\", kind: DISCOUNT, clientId: $c}) { id } }",
        json!({ "c": d.subscriber_id }),
    )
    .await;
    app.lock(&p, &inn(602)).await;
    ok(
        app,
        &c.token,
        "mutation($c: ID!) { saveNeedsAssessment(clientId: $c, input: {lineOfBusiness: \"Retail\"}) { id } }",
        json!({ "c": c.subscriber_id }),
    )
    .await;
    let mut c_roles = vec![("C.OWNER", c.clone())];
    for (label, role) in [("C.ADMIN", "ADMIN"), ("C.USER", "USER")] {
        c_roles.push((label, app.member(&c.token, &c.subscriber_id, role).await));
    }

    // A ranking with P (C's contract) and Q (D's), a pool of both with the vendor's note on Q.
    let today = app.state.clock.now().date_naive();
    let quarter = format!("{}-Q{}", today.year(), today.month0() / 3 + 1);
    let r = ok(
        app,
        &v,
        "mutation($i: LeadPoolInput!) { publishLeadPool(input: $i) { id members { partner { id } } } }",
        json!({ "i": { "programCode": "1C-FRESH", "quarter": quarter, "validFrom": today.to_string(),
                       "validUntil": (today + chrono::Duration::days(90)).to_string() } }),
    )
    .await;
    assert_eq!(r.ok()["publishLeadPool"]["members"].as_array().unwrap().len(), 2, "P and Q are in the pool");
    let pool = at(&r, "publishLeadPool.id");
    ok(
        app,
        &v,
        "mutation($pool: ID!, $p: ID!) { setLeadPoolMember(poolId: $pool, partnerId: $p, weight: \"2.00\", reason: \"The vendor's private note\") { reason } }",
        json!({ "pool": pool, "p": q.subscriber_id }),
    )
    .await;
    let monday = (today - chrono::Duration::days(today.weekday().num_days_from_monday().into())).to_string();
    let notification = app.notifications().await[0]["id"].as_str().unwrap().to_owned();
    foreign.insert("notification", notification);
    World { p, p_roles, c, c_roles, c2, q, d, e, tariff, quarter, monday, pool, foreign, p_invoice_to_d }
}

async fn spawn_walk_app() -> TestApp {
    spawn_app_with(|c| {
        c.max_depth = 64;
        c.max_complexity = usize::MAX / 4;
        c.body_limit = 16 * 1024 * 1024;
        // Partners with one paying client are in the directory here.
        c.directory_min_clients = 1;
    })
    .await
}

// ---------------------------------------------------------------------------------------------------
// Generating the queries.

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

// ---------------------------------------------------------------------------------------------------
// Ids: another tenant's is the same answer as one that names nothing.

/// Where an id goes in a call: an argument, or a field of an input-object argument.
#[derive(Clone, Debug)]
struct Slot {
    arg: String,
    field: Option<String>,
}

fn id_slots(schema: &Schema, f: &Field) -> Vec<Slot> {
    let mut out = Vec::new();
    for a in &f.args {
        let named = a.ty.named();
        if named == "ID" {
            out.push(Slot { arg: a.name.clone(), field: None });
        } else if schema.ty(named).kind == "INPUT_OBJECT" {
            for i in schema.ty(named).input_fields.as_deref().unwrap_or_default() {
                if i.ty.named() == "ID" {
                    out.push(Slot { arg: a.name.clone(), field: Some(i.name.clone()) });
                }
            }
        }
    }
    out
}

/// Fills the arguments of a call: known values for what is required, the id under test in its slot.
struct Filler<'a> {
    schema: &'a Schema,
    w: &'a World,
    caller: &'a Account,
}

impl Filler<'_> {
    fn value(&self, name: &str, ty: &TypeRef) -> String {
        let w = self.w;
        let named = ty.named();
        let one = match named {
            "ID" => json!(match name {
                "tariffId" => w.tariff.clone(),
                "clientId" | "subscriberId" => w.c.subscriber_id.clone(),
                "partnerId" => w.p.subscriber_id.clone(),
                "poolId" => w.pool.clone(),
                _ => uuid::Uuid::now_v7().to_string(),
            })
            .to_string(),
            "String" => json!(match name {
                "email" => self.caller.email.clone(),
                "password" => PASSWORD.to_owned(),
                "programCode" => "1C-FRESH".to_owned(),
                "quarter" => w.quarter.clone(),
                "status" => "CSK".to_owned(),
                "inn" => inn(700),
                "externalId" => "oracle-external-id".to_owned(),
                _ => "Oracle".to_owned(),
            })
            .to_string(),
            "Int" => match name {
                "months" => "3",
                "size" => "10",
                _ => "1",
            }
            .to_owned(),
            "Decimal" => "\"100.00\"".to_owned(),
            "Boolean" => "false".to_owned(),
            "Date" => json!(w.monday).to_string(),
            "DateTime" => "\"2026-01-05T10:00:00Z\"".to_owned(),
            _ => {
                let t = self.schema.ty(named);
                match t.kind.as_str() {
                    "ENUM" => match (named, name) {
                        ("Role", _) => "USER".to_owned(),
                        ("BindingSource", _) => "PARTNER_INVOICE".to_owned(),
                        ("SubscriptionBasis", _) => "ITS_PROF".to_owned(),
                        ("PromoKind", _) => "DISCOUNT".to_owned(),
                        _ => t.enum_values.as_ref().unwrap()[0].name.clone(),
                    },
                    "INPUT_OBJECT" => self.object(named, None, ""),
                    other => panic!("no value for {name}: {other} {named}"),
                }
            }
        };
        if ty.is_list() { format!("[{one}]") } else { one }
    }

    /// An input object with its required fields, and `tested` in field `slot` when given.
    fn object(&self, type_name: &str, slot: Option<&str>, tested: &str) -> String {
        let mut parts = Vec::new();
        for f in self.schema.ty(type_name).input_fields.as_deref().unwrap_or_default() {
            if Some(f.name.as_str()) == slot {
                parts.push(format!("{}: {tested}", f.name));
            } else if f.needed() {
                parts.push(format!("{}: {}", f.name, self.value(&f.name, &f.ty)));
            }
        }
        format!("{{ {} }}", parts.join(", "))
    }

    /// The call of root field `f` with `id` in `slot`.
    fn call(&self, kind: &str, f: &Field, slot: &Slot, id: &str) -> String {
        let mut args = Vec::new();
        for a in &f.args {
            let tested = json!(id).to_string();
            if a.name == slot.arg {
                match &slot.field {
                    None => {
                        let v = if a.ty.is_list() { format!("[{tested}]") } else { tested };
                        args.push(format!("{}: {v}", a.name));
                    }
                    Some(field) => {
                        args.push(format!("{}: {}", a.name, self.object(a.ty.named(), Some(field), &tested)))
                    }
                }
            } else if a.needed() {
                args.push(format!("{}: {}", a.name, self.value(&a.name, &a.ty)));
            }
        }
        let named = f.ty.named();
        let sel = if self.schema.is_leaf(named) {
            String::new()
        } else if self.schema.fields(named).iter().any(|x| x.name == "totalCount") {
            "{ __typename totalCount }".to_owned()
        } else {
            "{ __typename }".to_owned()
        };
        let args = if args.is_empty() { String::new() } else { format!("({})", args.join(", ")) };
        format!("{kind} {{ {}{args} {sel} }}", f.name)
    }
}

/// A client named on its behalf (SPEC §1, API "Reach"): a partner invoices it, gives it a personal
/// discount code or a support code, whoever serves it. These calls succeed with another partner's
/// client; what they show of it is checked below instead.
fn names_a_client_on_its_behalf(op: &str, slot: &Slot) -> bool {
    matches!(
        (op, slot.arg.as_str(), slot.field.as_deref()),
        ("createInvoice", "input", Some("clientId"))
            | ("createPromoCode", "input", Some("clientId"))
            | ("issueSupportCode", "clientId", None)
    )
}

/// The answer with the tested id taken out (a message may repeat the id it was given).
fn normalised(r: &Gql, id: &str) -> String {
    r.0.to_string().replace(id, "<id>")
}

/// Foreign ids by whose they are.
type Ids = Vec<(&'static str, String)>;

#[tokio::test]
async fn another_tenants_id_in_any_argument_is_the_same_answer_as_an_id_that_names_nothing() {
    let app = spawn_walk_app().await;
    let w = build_world(&app).await;
    let schema = Schema::load(&app).await;

    let mut foreign: Ids = w.foreign.iter().map(|(k, v)| (*k, v.clone())).collect();
    foreign.push(("Q", w.q.subscriber_id.clone()));
    foreign.push(("D", w.d.subscriber_id.clone()));
    let mut callers: Vec<(&str, &Account, Ids)> = Vec::new();
    for (label, who) in &w.p_roles {
        let mut ids = foreign.clone();
        if !matches!(*label, "P.OWNER" | "P.SO") {
            // The partner's clients (and its support line's) are outside its administrators' and users'
            // reach. (Its owner and operators see E's card: for them an operation on E is refused.)
            ids.push(("C", w.c.subscriber_id.clone()));
            ids.push(("E", w.e.subscriber_id.clone()));
        }
        callers.push((label, who, ids));
    }
    let mut for_client = foreign.clone();
    for_client.push(("P", w.p.subscriber_id.clone()));
    for_client.push(("E", w.e.subscriber_id.clone()));
    callers.push(("C.OWNER", &w.c, for_client));

    let mut differences = Vec::new();
    let mut compared = 0;
    let mut looked_at = 0;
    let mut slots_seen = 0;
    for (label, who, ids) in &callers {
        let filler = Filler { schema: &schema, w: &w, caller: who };
        for (kind, root) in [("query", &schema.query), ("mutation", &schema.mutation)] {
            for f in schema.fields(root) {
                for slot in id_slots(&schema, f) {
                    slots_seen += 1;
                    // The answer to an id that names nothing, once per argument (it does not depend on
                    // which unknown id it is), and the answer to each of another tenant's ids.
                    let random = uuid::Uuid::now_v7().to_string();
                    let nobodys = app.as_(&who.token, &filler.call(kind, f, &slot, &random), json!({})).await;
                    let expected = normalised(&nobodys, &random);
                    // The id was looked at (not refused before): the unknown one is not found, or refused
                    // as that input, or answered with data.
                    let reached = nobodys.code() == Some("NOT_FOUND")
                        || nobodys.field().is_some()
                        || nobodys.0.get("errors").is_none();
                    for (what, id) in ids {
                        let is_client = matches!(*what, "C" | "D" | "E");
                        if is_client && names_a_client_on_its_behalf(&f.name, &slot) {
                            continue;
                        }
                        let theirs = app.as_(&who.token, &filler.call(kind, f, &slot, id), json!({})).await;
                        compared += 1;
                        looked_at += usize::from(reached);
                        if normalised(&theirs, id) != expected {
                            differences.push(format!(
                                "{label} {}({}{}) with {what}'s id: {}\n    with an unknown id: {}",
                                f.name,
                                slot.arg,
                                slot.field.as_deref().map(|x| format!(".{x}")).unwrap_or_default(),
                                theirs.0,
                                nobodys.0
                            ));
                        }
                    }
                }
            }
        }
    }
    assert!(slots_seen > 40 * callers.len(), "the schema has id arguments: {slots_seen} seen");
    assert!(compared > 1000, "{compared} pairs compared");
    assert!(looked_at * 2 > compared, "{looked_at} of {compared} pairs reached the id");
    assert!(differences.is_empty(), "{} oracles:\n{}", differences.len(), differences.join("\n"));
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

// ---------------------------------------------------------------------------------------------------
// Cursors: one built from another tenant's row is the same answer as one built from an unknown id.

fn cursor(id: &uuid::Uuid) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(id.as_bytes())
}

/// An id that names nothing but sorts where `id` does (the same time prefix, other random bits): a
/// cursor of it and of `id` must page the same, or the answer tells whether `id` exists.
fn unknown_beside(id: &str) -> uuid::Uuid {
    let mut bytes = *uuid::Uuid::parse_str(id).unwrap().as_bytes();
    bytes[8..].copy_from_slice(&uuid::Uuid::new_v4().as_bytes()[8..]);
    uuid::Uuid::from_bytes(bytes)
}

/// The rows a connection of this node type might be paged after that are not the caller's (a partner's
/// or its client's).
fn foreign_rows(w: &World, node: &str, client_caller: bool) -> Vec<String> {
    let f = |k: &str| w.foreign[k].clone();
    match node {
        "Subscriber" => vec![w.q.subscriber_id.clone(), w.d.subscriber_id.clone()],
        "Invitation" => vec![f("D.invitation")],
        "AuditEntry" => vec![f("Q.auditEntry")],
        "Payment" => vec![f("D.payment")],
        // Q's invoice went to C: C's own, not P's. P's invoice to D is P's own, not C's.
        "Invoice" if client_caller => vec![w.p_invoice_to_d.clone()],
        "Invoice" => vec![f("Q.invoice")],
        "Commission" => vec![f("Q.commission")],
        "StopListEntry" => vec![f("Q.stopListEntry")],
        "PromoCode" => vec![f("Q.promoCode")],
        "Notification" => vec![f("notification")],
        "Task" => vec![f("Q.task")],
        "Membership" => vec![f("Q.membership"), f("D.membership")],
        "WebhookEndpoint" => vec![f("Q.webhookEndpoint")],
        "WebhookDelivery" => vec![f("Q.webhookDelivery")],
        other => panic!("a connection of {other}: add the foreign rows it could be paged after"),
    }
}

/// Every connection field: the root ones, and those of types a root field reaches by the caller's own id.
fn connections(schema: &Schema) -> Vec<(Option<&'static str>, Field)> {
    let mut out = Vec::new();
    let is_conn = |f: &Field| f.ty.named().ends_with("Connection");
    for f in schema.fields(&schema.query).iter().filter(|f| is_conn(f)) {
        out.push((None, f.clone()));
    }
    let mut hosts: Vec<&str> = schema
        .types
        .values()
        .filter(|t| t.kind == "OBJECT" && t.name != schema.query && !t.name.starts_with("__"))
        .filter(|t| t.fields.as_deref().unwrap_or_default().iter().any(is_conn))
        .map(|t| t.name.as_str())
        .collect();
    hosts.sort();
    for host in hosts {
        let path = match host {
            "Subscriber" => "subscriber(id: $own)",
            other => panic!("{other} has a connection field: say how the cursor test reaches one"),
        };
        for f in schema.fields(host).iter().filter(|f| is_conn(f)) {
            out.push((Some(path), f.clone()));
        }
    }
    out
}

#[tokio::test]
async fn a_cursor_from_another_tenants_row_pages_like_a_cursor_that_names_nothing() {
    let app = spawn_walk_app().await;
    let w = build_world(&app).await;
    let schema = Schema::load(&app).await;
    let conns = connections(&schema);
    assert!(conns.len() >= 14, "{} connections", conns.len());

    let mut differences = Vec::new();
    let mut pages_with_rows = 0;
    let mut callers: Vec<(&str, &Account)> = w.p_roles.iter().map(|(l, a)| (*l, a)).collect();
    callers.push(("C.OWNER", &w.c));
    for (label, who) in callers {
        for (host, f) in &conns {
            let node = f.ty.named().trim_end_matches("Connection");
            let node_has_id = schema.fields(node).iter().any(|x| x.name == "id");
            let nodes = if node_has_id { "nodes { __typename id }" } else { "nodes { __typename }" };
            let page = format!(
                "{}(first: 5, after: $after) {{ totalCount pageInfo {{ hasNextPage endCursor }} edges {{ cursor }} {nodes} }}",
                f.name
            );
            let q = match host {
                None => format!("query($after: String) {{ {page} }}"),
                Some(path) => format!("query($after: String, $own: ID!) {{ {path} {{ {page} }} }}"),
            };
            for row in foreign_rows(&w, node, label.starts_with('C')) {
                let vars = |id: &uuid::Uuid| json!({ "after": cursor(id), "own": who.subscriber_id });
                let theirs = app.as_(&who.token, &q, vars(&uuid::Uuid::parse_str(&row).unwrap())).await;
                let nobodys = app.as_(&who.token, &q, vars(&unknown_beside(&row))).await;
                if theirs.0 != nobodys.0 {
                    differences.push(format!(
                        "{label} {}{} after {node} {row}: {}\n    after an unknown id beside it: {}",
                        host.map(|h| format!("{h}.")).unwrap_or_default(),
                        f.name,
                        theirs.0,
                        nobodys.0
                    ));
                }
                if theirs.0.pointer("/data").is_some_and(|d| d.to_string().contains("\"id\":")) {
                    pages_with_rows += 1;
                }
            }
        }
    }
    // Not only empty pages: the caller's own rows after the foreign one are there, the same both ways.
    assert!(pages_with_rows >= 10, "{pages_with_rows} pages with rows");
    assert!(differences.is_empty(), "{} cursor oracles:\n{}", differences.len(), differences.join("\n"));
}
