//! Bad input is bad input, never an internal error: every class of input coercion error async-graphql
//! produces is `BAD_USER_INPUT` (each message shape pinned here, so an upgrade that changes one shows),
//! strings with NUL characters are refused before any database sees them, and a property test throws
//! random values of every JSON kind at every scalar type and at representative operations' arguments,
//! as variables and as literals, on both databases.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestCaseError, TestRunner};
use serde_json::{Value, json};

use crate::helpers::{Account, TestApp, inn, spawn_app, urlencode};

#[tokio::test]
async fn every_input_coercion_error_is_bad_user_input_with_its_message_shape_pinned() {
    let app = spawn_app().await;
    let cases: &[(&str, Value, &str, &str)] = &[
        // `InputValueError::expected_type`: a value of the wrong kind, literal or variable.
        (
            "{ commissions(from: 0) { totalCount } }",
            json!({}),
            "INVALID_VALUE",
            "Expected input type \"DateTime\", found 0.",
        ),
        ("{ commissions(from: true) { totalCount } }", json!({}), "INVALID_VALUE", "Expected input type \"DateTime\""),
        ("{ commissions(to: {a: 1}) { totalCount } }", json!({}), "INVALID_VALUE", "Expected input type \"DateTime\""),
        ("{ commissions(from: [1]) { totalCount } }", json!({}), "INVALID_VALUE", "Expected input type \"DateTime\""),
        (
            "{ commissions(from: SOME_ENUM) { totalCount } }",
            json!({}),
            "INVALID_VALUE",
            "Expected input type \"DateTime\"",
        ),
        (
            "query($f: DateTime) { commissions(from: $f) { totalCount } }",
            json!({ "f": 0 }),
            "INVALID_VALUE",
            "Expected input type \"DateTime\"",
        ),
        (
            "query($f: DateTime) { commissionSummary(to: $f) { total } }",
            json!({ "f": { "a": [1] } }),
            "INVALID_VALUE",
            "Expected input type \"DateTime\"",
        ),
        ("{ weeklyDigest(weekStart: 5) { weekStart } }", json!({}), "INVALID_VALUE", "Expected input type \"Date\""),
        (
            "query($d: Date!) { weeklyDigest(weekStart: $d) { weekStart } }",
            json!({ "d": true }),
            "INVALID_VALUE",
            "Expected input type \"Date\"",
        ),
        (
            "mutation($i: RegisterClientInput!) { registerClient(input: $i) { token } }",
            json!({ "i": "not an object" }),
            "INVALID_VALUE",
            "Expected input type \"RegisterClientInput\"",
        ),
        // `InputValueError::custom`: the right kind that does not parse.
        (
            "{ commissions(from: \"garbage\") { totalCount } }",
            json!({}),
            "INVALID_VALUE",
            "Failed to parse \"DateTime\"",
        ),
        (
            "{ weeklyDigest(weekStart: \"2024-13-01\") { weekStart } }",
            json!({}),
            "INVALID_VALUE",
            "Failed to parse \"Date\": a Date is YYYY-MM-DD",
        ),
        (
            "{ commissionQuote(subscriberId: \"x\", tariffId: \"y\", periodMonths: 1, amount: 5) { rate } }",
            json!({}),
            "INVALID_VALUE",
            "Failed to parse \"Decimal\": a Decimal is a string",
        ),
        (
            "mutation($m: Int!) { extendStopListLock(id: \"x\", months: $m) { id } }",
            json!({ "m": 2_147_483_648i64 }),
            "INVALID_VALUE",
            "Failed to parse \"Int\": Only integers from",
        ),
        // `Context::var_value`: a required variable the request did not send.
        (
            "query($d: Date!) { weeklyDigest(weekStart: $d) { weekStart } }",
            json!({}),
            "VARIABLE_MISSING",
            "Variable d is not defined.",
        ),
        ("query($i: ID!) { subscriber(id: $i) { id } }", json!({}), "VARIABLE_MISSING", "Variable i is not defined."),
    ];
    for (query, variables, reason, message) in cases {
        let r = app.as_(&app.vendor, query, variables.clone()).await;
        assert_eq!((r.code(), r.reason()), (Some("BAD_USER_INPUT"), Some(*reason)), "{query} {variables}: {}", r.0);
        let got = r.0["errors"][0]["message"].as_str().unwrap_or("");
        assert!(got.starts_with(message), "{query}: the message shape changed: {got}");
    }
}

#[tokio::test]
async fn a_huge_value_echoed_by_a_coercion_error_is_cut_short() {
    let app = spawn_app().await;
    let big = "я".repeat(100_000);
    let aliases: String = (0..10).map(|i| format!("a{i}: commissions(from: $f) {{ totalCount }} ")).collect();
    let r = app.as_(&app.vendor, &format!("query($f: DateTime) {{ {aliases} }}"), json!({ "f": [big] })).await;
    // `commissions` is non-null, so the first failure nulls `data` and ends the request (GraphQL null
    // propagation): one error, not ten, and its echo of the value is cut.
    let errors = r.0["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{}", r.0);
    for e in errors {
        assert_eq!(e["extensions"]["code"], "BAD_USER_INPUT");
        assert!(e["message"].as_str().unwrap().chars().count() <= 201, "{}", e["message"]);
    }
}

#[tokio::test]
async fn strings_with_nul_characters_are_refused_before_the_database_in_literals_variables_and_every_transport() {
    let app = spawn_app().await;
    let failures = app.count("login_failures").await;
    let nul = |r: &crate::helpers::Gql| {
        assert_eq!((r.code(), r.reason()), (Some("BAD_USER_INPUT"), Some("NUL_CHARACTER")), "{}", r.0);
    };
    nul(&app
        .gql(None, "mutation { login(email: \"a\\u0000b@x.ru\", password: \"whatever1\") { token } }", json!({}))
        .await);
    const LOGIN: &str = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }";
    nul(&app.gql(None, LOGIN, json!({ "e": "a\u{0}b@x.ru", "p": "whatever1" })).await);
    nul(&app.gql(None, LOGIN, json!({ "e": "a@x.ru", "p": "what\u{0}ever1" })).await);
    nul(&app.as_(&app.vendor, "{ subscribers(search: \"\\u0000\") { totalCount } }", json!({})).await);
    nul(&app
        .as_(&app.vendor, "query($s: String) { subscribers(search: $s) { totalCount } }", json!({ "s": "\u{0}" }))
        .await);
    nul(&app
        .as_(
            &app.vendor,
            "mutation($i: RegisterClientInput!) { registerClient(input: $i) { token } }",
            json!({ "i": { "name": "Ромашка", "ownerEmail": "o@x.ru", "address": ["\u{0}"] } }),
        )
        .await);
    nul(&app
        .as_(&app.vendor, "query($s: String = \"\\u0000\") { subscribers(search: $s) { totalCount } }", json!({}))
        .await);
    // Over GET too.
    let q = "query($s:String){subscribers(search:$s){totalCount}}";
    let uri = format!("/graphql?query={}&variables={}", urlencode(q), urlencode(&json!({ "s": "x\u{0}" }).to_string()));
    let raw = app
        .raw(Request::get(uri).header("authorization", format!("Bearer {}", app.vendor)).body(Body::empty()).unwrap())
        .await;
    assert_eq!(raw.status, StatusCode::OK);
    nul(&crate::helpers::Gql(raw.json()));
    assert_eq!(app.count("login_failures").await, failures, "no login ran");
    // Cyrillic and every other character but NUL pass.
    let r = app
        .as_(
            &app.vendor,
            "query($s: String) { subscribers(search: $s) { totalCount } }",
            json!({ "s": "Ромашка \u{1}\u{7f}\u{10ffff}" }),
        )
        .await;
    assert_eq!(r.ok()["subscribers"]["totalCount"], 0);
}

// ---------------------------------------------------------------------------------------------
// The property: whatever values arrive, as variables or literals, nothing is internal.
// ---------------------------------------------------------------------------------------------

/// Strings a parser might trip on: edges of dates, numbers, quarters and ids, NUL, control
/// characters, Cyrillic, and large ones.
fn string() -> impl Strategy<Value = String> {
    let edges = [
        "",
        " ",
        "0",
        "-1",
        "1e400",
        "NaN",
        "-0.00",
        "0.001",
        "25000.00",
        "99999999999999999999.99",
        "9223372036854775807",
        "-9223372036854775808",
        "2024-01-01",
        "0000-01-01",
        "9999-12-31",
        "2024-02-30",
        "+262143-12-31",
        "2024-01-01T00:00:00Z",
        "0000-01-01T00:00:00Z",
        "9999-12-31T23:59:59Z",
        "9999-12-31T23:59:59-14:00",
        "1970-01-01T00:00:00+14:00",
        "2024-01-01T00:00:00.999999999999Z",
        "2024Q1",
        "2024Q5",
        "999999Q4",
        "-1Q1",
        "0Q0",
        "00000000-0000-0000-0000-000000000000",
        "7707083893",
        "CLIENT",
        "PARTNER",
        "ANY",
        "1C-CONNECT",
        "1C-FRESH",
        "a@b.ru",
        "\u{0}",
        "\\u0000",
        "Ромашка",
        "ООО «Лютик»",
        "\u{202e}\u{feff}",
        "' OR 1=1 --",
        "%_\\",
        "\"\"\"",
    ];
    prop_oneof![
        4 => proptest::sample::select(edges.to_vec()).prop_map(str::to_owned),
        3 => "\\PC{0,24}",
        2 => "[а-яА-ЯёЁ0-9 ]{0,24}",
        1 => "[\\x00-\\x1f\\x7f]{0,6}",
        1 => (1usize..=3).prop_map(|k| "я".repeat(k * 60_000)),
    ]
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        1 => Just(Value::Null),
        1 => any::<bool>().prop_map(Value::from),
        2 => prop_oneof![
            any::<i64>(),
            -3i64..=3,
            proptest::sample::select(vec![i32::MAX as i64, i32::MAX as i64 + 1, i32::MIN as i64, 12, 36, 1200, 100_000])
        ]
        .prop_map(Value::from),
        1 => any::<f64>().prop_filter("JSON has no NaN or infinity", |f| f.is_finite()).prop_map(|f| json!(f)),
        4 => string().prop_map(Value::from),
    ]
}

/// Any JSON value, nested a little.
fn value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(3, 12, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map("[a-zA-Z_][a-zA-Z0-9_]{0,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// An object with the given field names (each present or not), valued anyhow (half the time a
/// string, the kind most fields take, so that the rest of the object gets looked at too).
fn object_of(fields: &'static [&'static str]) -> impl Strategy<Value = Value> {
    let field = prop_oneof![value(), scalar()];
    proptest::collection::vec(proptest::option::of(field), fields.len()).prop_map(move |values| {
        Value::Object(fields.iter().zip(values).filter_map(|(k, v)| v.map(|v| ((*k).to_owned(), v))).collect())
    })
}

/// The same value written as a GraphQL literal (JSON's string escapes are GraphQL's).
fn literal(v: &Value) -> String {
    match v {
        Value::Array(items) => format!("[{}]", items.iter().map(literal).collect::<Vec<_>>().join(" ")),
        Value::Object(fields) => {
            format!("{{{}}}", fields.iter().map(|(k, v)| format!("{k}: {}", literal(v))).collect::<Vec<_>>().join(" "))
        }
        other => other.to_string(),
    }
}

/// What the operations need to reach past "not found" into their arithmetic.
struct Fixture {
    partner: Account,
    client: Account,
    tariff: String,
    lock: String,
}

async fn fixture(app: &TestApp) -> Fixture {
    app.presets().await;
    let tariff = app.tariff("FUZZ", "1C-CONNECT", "SAAS_CORPORATE", "1000.00", &[1, 3, 12], 14).await;
    let partner = app.partner("Fuzz partner").await;
    app.set_status(&partner.subscriber_id, "1C-CONNECT", "AGENT").await;
    let client = app.client_with_inn(&partner, "Fuzz client", &inn(77)).await;
    let lock = app.lock(&partner, &inn(77)).await;
    app.pay(&client.subscriber_id, &tariff, 1, "1000.00", "fuzz-first").await.ok();
    Fixture { partner, client, tariff, lock }
}

/// Who calls an operation.
#[derive(Clone, Copy, Debug)]
enum Who {
    Anonymous,
    Vendor,
    Partner,
}

/// One operation with one fuzzed variable `$v` of the argument's type, and the same value written as
/// a literal in place of `$v` (`LIT`).
struct Op {
    who: Who,
    /// With `$v` declared; `{V}` stands for where the value goes.
    query: String,
    /// The variable's type, for the variable form.
    ty: &'static str,
}

fn ops(f: &Fixture) -> Vec<Op> {
    let (client, tariff, lock, partner) = (&f.client.subscriber_id, &f.tariff, &f.lock, &f.partner.subscriber_id);
    let op = |who, ty, q: String| Op { who, query: q, ty };
    vec![
        op(Who::Vendor, "DateTime", "commissions(from: {V}) { totalCount }".into()),
        op(Who::Vendor, "DateTime", format!("commissionSummary(partnerId: \"{partner}\", to: {{V}}) {{ total }}")),
        op(Who::Vendor, "CommissionStatus", "commissions(status: {V}) { totalCount }".into()),
        op(Who::Vendor, "Date!", format!("weeklyDigest(partnerId: \"{partner}\", weekStart: {{V}}) {{ weekStart }}")),
        op(Who::Vendor, "String!", "partnerRanking(programCode: \"1C-CONNECT\", quarter: {V}) { rank }".into()),
        op(Who::Vendor, "String", "subscribers(search: {V}) { totalCount }".into()),
        op(Who::Vendor, "SubscriberKind", "subscribers(kind: {V}) { totalCount }".into()),
        op(Who::Vendor, "Int", "subscribers(first: {V}) { totalCount }".into()),
        op(Who::Vendor, "String", "subscribers(after: {V}) { totalCount }".into()),
        op(Who::Vendor, "ID!", "subscriber(id: {V}) { id }".into()),
        op(Who::Vendor, "Boolean!", "tariffs(includeArchived: {V}) { id }".into()),
        op(
            Who::Vendor,
            "Decimal!",
            format!(
                "commissionQuote(subscriberId: \"{client}\", tariffId: \"{tariff}\", periodMonths: 12, amount: {{V}}) {{ rate }}"
            ),
        ),
        op(
            Who::Vendor,
            "Int!",
            format!(
                "commissionQuote(subscriberId: \"{client}\", tariffId: \"{tariff}\", periodMonths: {{V}}, amount: \"100.00\") {{ rate }}"
            ),
        ),
        op(Who::Vendor, "Int!", format!("mutation {{ extendStopListLock(id: \"{lock}\", months: {{V}}) {{ id }} }}")),
        op(
            Who::Vendor,
            "Int!",
            format!(
                "mutation {{ recordPayment(input: {{subscriberId: \"{client}\", tariffId: \"{tariff}\", periodMonths: {{V}}, amount: \"1.00\", externalId: \"fuzz-months\"}}) {{ id }} }}"
            ),
        ),
        op(
            Who::Vendor,
            "Decimal!",
            format!(
                "mutation {{ recordPayment(input: {{subscriberId: \"{client}\", tariffId: \"{tariff}\", periodMonths: 1, amount: {{V}}, externalId: \"fuzz-amount\"}}) {{ id }} }}"
            ),
        ),
        op(
            Who::Vendor,
            "DateTime",
            format!(
                "mutation {{ recordPayment(input: {{subscriberId: \"{client}\", tariffId: \"{tariff}\", periodMonths: 1, amount: \"1.00\", paidAt: {{V}}, externalId: \"fuzz-paid\"}}) {{ id }} }}"
            ),
        ),
        op(
            Who::Vendor,
            "DateTime",
            format!(
                "mutation {{ importClient(input: {{name: \"Imported\", partnerId: \"{partner}\", createdAt: {{V}}}}) {{ id }} }}"
            ),
        ),
        op(Who::Vendor, "[ID!]!", "mutation { approveCommissions(ids: {V}) { id } }".into()),
        op(
            Who::Vendor,
            "Decimal",
            format!(
                "mutation {{ setLeadPoolMember(poolId: \"{lock}\", partnerId: \"{partner}\", weight: {{V}}, reason: \"r\") {{ rank }} }}"
            ),
        ),
        op(Who::Vendor, "Date!", "mutation { runWeeklyDigest(weekStart: {V}) }".into()),
        op(
            Who::Partner,
            "Int!",
            format!(
                "mutation {{ createInvoice(input: {{clientId: \"{client}\", tariffId: \"{tariff}\", periodMonths: {{V}}}}) {{ id }} }}"
            ),
        ),
        op(Who::Partner, "String!", "mutation { requestStopListLock(inn: {V}) { id } }".into()),
        op(Who::Anonymous, "String!", "mutation { login(email: {V}, password: \"some password\") { token } }".into()),
        op(
            Who::Anonymous,
            "String!",
            "mutation { acceptInvitation(token: {V}, name: \"N\", password: \"some password\") { token } }".into(),
        ),
    ]
}

/// Operations whose whole input object is fuzzed: the argument's type, the call, and the fields its
/// input type has (each sent or not, with any value).
const OBJECT_OPS: &[(Who, &str, &str, &[&str])] = &[
    (
        Who::Vendor,
        "TariffInput!",
        "mutation { createTariff(input: {V}) { id } }",
        &["code", "name", "programCode", "category", "monthlyPrice", "periods", "trialDays", "maxUsers"],
    ),
    (
        Who::Vendor,
        "CommissionRuleInput!",
        "mutation { setCommissionRule(input: {V}) { id } }",
        &["programCode", "status", "category", "purchase", "windowMonths", "rate"],
    ),
    (
        Who::Vendor,
        "LeadPoolInput!",
        "mutation { publishLeadPool(input: {V}) { id } }",
        &["programCode", "quarter", "validFrom", "validUntil", "size"],
    ),
    (
        Who::Partner,
        "PromoCodeInput!",
        "mutation { createPromoCode(input: {V}) { id } }",
        &["programCode", "kind", "bonus", "months", "discountPercent", "clientId"],
    ),
    (
        Who::Anonymous,
        "SelfRegisterInput!",
        "mutation { selfRegister(input: {V}) { token } }",
        &["companyName", "inn", "email", "name", "password", "referralCode", "programCode"],
    ),
    (
        Who::Partner,
        "RegisterClientInput!",
        "mutation { registerClient(input: {V}) { token } }",
        &["name", "inn", "kpp", "email", "phone", "address", "ownerEmail"],
    ),
    (
        Who::Vendor,
        "ImportClientInput!",
        "mutation { importClient(input: {V}) { id } }",
        &["name", "inn", "partnerId", "createdAt"],
    ),
];

/// Sends `op` with `v` as a variable (or as a literal) and checks the answer.
async fn probe(app: &TestApp, f: &Fixture, op: &Op, v: &Value, as_literal: bool) -> Result<(), TestCaseError> {
    let token = match op.who {
        Who::Anonymous => None,
        Who::Vendor => Some(app.vendor.as_str()),
        Who::Partner => Some(f.partner.token.as_str()),
    };
    let (body, variables) = if as_literal {
        (op.query.replace("{V}", &literal(v)), json!({}))
    } else {
        (op.query.replace("{V}", "$v"), json!({ "v": v }))
    };
    let (kind, body) = match body.strip_prefix("mutation ") {
        Some(rest) => ("mutation", rest.to_owned()),
        None => ("query", format!("{{ {body} }}")),
    };
    let query = if as_literal { format!("{kind} {body}") } else { format!("{kind}($v: {}) {body}", op.ty) };
    let mut req = Request::post("/graphql").header("content-type", "application/json");
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let raw =
        app.raw(req.body(Body::from(json!({ "query": query, "variables": variables }).to_string())).unwrap()).await;
    prop_assert!(
        raw.status == StatusCode::OK || raw.status == StatusCode::PAYLOAD_TOO_LARGE,
        "status {} for {query}",
        raw.status
    );
    if raw.status != StatusCode::OK {
        return Ok(());
    }
    let answer = raw.json();
    for e in answer["errors"].as_array().into_iter().flatten() {
        let code = e["extensions"]["code"].as_str();
        prop_assert!(code.is_some(), "an error without a code for {query} {variables}: {e}");
        prop_assert!(code != Some("INTERNAL_SERVER_ERROR"), "internal error for {query} {variables}: {answer}");
    }
    Ok(())
}

/// Runs `cases` random cases of `strategy` against one app (a fresh database for the test, shared by
/// its cases) and fails with the smallest case that breaks the property.
fn run<S: Strategy>(
    strategy: S,
    check: impl Fn(&tokio::runtime::Runtime, &TestApp, &Fixture, S::Value) -> Result<(), TestCaseError>,
) where
    S::Value: std::fmt::Debug,
{
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(64);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let (app, f) = rt.block_on(async {
        let app = spawn_app().await;
        let f = fixture(&app).await;
        (app, f)
    });
    let mut runner = TestRunner::new(ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() });
    let result = runner.run(&strategy, |case| check(&rt, &app, &f, case));
    rt.block_on(async move { drop(app) });
    if let Err(e) = result {
        panic!("{e}");
    }
}

#[test]
fn no_value_of_any_kind_in_any_scalar_argument_is_an_internal_error() {
    run((value(), any::<bool>()), |rt, app, f, (v, as_literal)| {
        for op in &ops(f) {
            rt.block_on(probe(app, f, op, &v, as_literal))?;
        }
        Ok(())
    });
}

#[test]
fn no_input_object_of_any_shape_is_an_internal_error() {
    // Mostly objects of the input type's fields; sometimes any other value in the object's place.
    let strategy = (0..OBJECT_OPS.len()).prop_flat_map(|i| {
        let input = prop_oneof![2 => object_of(OBJECT_OPS[i].3), 1 => scalar(), 1 => value()];
        (Just(i), input, any::<bool>())
    });
    run(strategy, |rt, app, f, (i, v, as_literal)| {
        let (who, ty, query, _) = OBJECT_OPS[i];
        let op = Op { who, ty, query: query.to_owned() };
        rt.block_on(probe(app, f, &op, &v, as_literal))
    });
}
