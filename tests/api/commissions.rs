//! The commission engine against the three presets, cell by cell, and rounding.

use chrono::{Duration, Months, Utc};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, inn, spawn_app};

fn amounts(r: &crate::helpers::Gql) -> Vec<String> {
    r.ok()["recordPayment"]["commissions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["amount"].as_str().unwrap().to_owned())
        .collect()
}

/// 1C-Connect [002]: category × status → percent; `None` is a "—" cell (or VIDEO_CALLS): no entry.
const CONNECT: &[(&str, [Option<&str>; 3])] = &[
    ("ITS_BUNDLED", [None, None, Some("50000.00")]),
    ("SAAS_CORPORATE", [Some("10000.00"), Some("25000.00"), Some("50000.00")]),
    ("ONPREM_SERVER", [Some("10000.00"), Some("20000.00"), Some("30000.00")]),
    ("ONPREM_USER", [Some("10000.00"), Some("25000.00"), Some("50000.00")]),
    ("DEVELOPER_SERVICES", [Some("10000.00"), Some("10000.00"), Some("10000.00")]),
    ("VIDEO_CALLS", [None, None, None]),
];

#[tokio::test]
async fn every_cell_of_the_1c_connect_table_earns_exactly_its_rate_of_a_100000_payment() {
    let app = spawn_app().await;
    app.presets().await;
    let mut tariffs = Vec::new();
    for (category, _) in CONNECT {
        tariffs.push(app.tariff(&format!("C-{category}"), "1C-CONNECT", category, "1000.00", &[1, 12], 0).await);
    }
    let mut n = 0;
    for (col, status) in ["AGENT", "DEALER", "INTEGRATOR"].into_iter().enumerate() {
        let partner = app.partner(&format!("{status} partner")).await;
        app.set_status(&partner.subscriber_id, "1C-CONNECT", status).await;
        let client = app.client_with_inn(&partner, "Client", &inn(col as u32)).await;
        app.lock(&partner, &inn(col as u32)).await;
        for ((category, row), tariff) in CONNECT.iter().zip(&tariffs) {
            n += 1;
            let r = app.pay(&client.subscriber_id, tariff, 12, "100000.00", &format!("connect-{n}")).await;
            let expected: Vec<String> = row[col].map(|a| vec![a.to_owned()]).unwrap_or_default();
            assert_eq!(amounts(&r), expected, "{category} × {status}");
            if let Some(c) = r.ok()["recordPayment"]["commissions"].as_array().unwrap().first() {
                assert_eq!(c["partner"]["id"], partner.subscriber_id.as_str());
                assert_eq!(c["base"], "100000.00");
                assert_eq!(c["status"], "ACCRUED");
                assert!(!c["rule"]["id"].is_null(), "the rule is recorded on the entry");
            }
        }
    }
}

#[tokio::test]
async fn a_client_that_came_by_itself_earns_no_commission() {
    let app = spawn_app().await;
    app.presets().await;
    let tariff = app.tariff("SAAS", "1C-CONNECT", "SAAS_CORPORATE", "1000.00", &[12], 0).await;
    let r = app
        .gql(None, "mutation($i: SelfRegisterInput!) { selfRegister(input: $i) { viewer { subscriber { id } } } }", json!({ "i": { "companyName": "Сам пришёл", "email": "self@example.ru", "name": "Self", "password": PASSWORD } }))
        .await;
    let client = r.ok()["selfRegister"]["viewer"]["subscriber"]["id"].as_str().unwrap().to_owned();
    let r = app.pay(&client, &tariff, 12, "100000.00", "self-1").await;
    assert_eq!(amounts(&r), Vec::<String>::new());
    assert_eq!(app.count("commissions").await, 0);
}

#[tokio::test]
async fn a_partner_without_a_status_in_the_program_earns_nothing_under_status_rules() {
    let app = spawn_app().await;
    app.presets().await;
    let tariff = app.tariff("SAAS", "1C-CONNECT", "SAAS_CORPORATE", "1000.00", &[12], 0).await;
    let partner = app.partner("No status").await;
    let client = app.client_of(&partner, "Client").await;
    assert!(amounts(&app.pay(&client.subscriber_id, &tariff, 12, "100000.00", "ns-1").await).is_empty());
}

fn months_ago(m: u32) -> String {
    Utc::now().checked_sub_months(Months::new(m)).unwrap().to_rfc3339()
}

#[tokio::test]
async fn bitrix24_pays_half_of_the_first_purchase_and_a_fifth_of_later_ones_for_36_months() {
    let app = spawn_app().await;
    app.presets().await;
    let tariff = app.tariff("B24", "BITRIX24", "CLOUD", "1000.00", &[1, 12], 0).await;
    let partner = app.partner("Bitrix partner").await;
    app.set_status(&partner.subscriber_id, "BITRIX24", "REGISTERED").await;

    // Created 35 months ago: still inside the window.
    let young = app.import_client(&partner.subscriber_id, &months_ago(35)).await;
    assert_eq!(amounts(&app.pay(&young, &tariff, 12, "12000.00", "b-1").await), ["6000.00"]);
    assert_eq!(amounts(&app.pay(&young, &tariff, 12, "12000.00", "b-2").await), ["2400.00"]);
    assert_eq!(amounts(&app.pay(&young, &tariff, 1, "1000.00", "b-3").await), ["200.00"]);

    // Created 37 months ago: nothing, first purchase or not.
    let old = app.import_client(&partner.subscriber_id, &months_ago(37)).await;
    assert!(amounts(&app.pay(&old, &tariff, 12, "12000.00", "b-4").await).is_empty());

    // The window is about the payment date: a backdated first payment inside it earns 50 %,
    // a later one at today's date, outside it, earns nothing.
    let edge = app.import_client(&partner.subscriber_id, &months_ago(40)).await;
    let inside = Utc::now().checked_sub_months(Months::new(5)).unwrap().to_rfc3339();
    let r = app
        .as_(&app.vendor, crate::helpers::PAY, json!({ "i": { "subscriberId": edge, "tariffId": tariff, "periodMonths": 12, "amount": "12000.00", "paidAt": inside, "externalId": "b-5" } }))
        .await;
    assert_eq!(amounts(&r), ["6000.00"]);
    assert!(amounts(&app.pay(&edge, &tariff, 12, "12000.00", "b-6").await).is_empty());

    // Status does not change the rate.
    let gold = app.partner("Gold partner").await;
    app.set_status(&gold.subscriber_id, "BITRIX24", "GOLD").await;
    let c = app.import_client(&gold.subscriber_id, &months_ago(1)).await;
    assert_eq!(amounts(&app.pay(&c, &tariff, 12, "12000.00", "b-7").await), ["6000.00"]);
}

#[tokio::test]
async fn a_refunded_first_purchase_does_not_count_as_the_first() {
    let app = spawn_app().await;
    app.presets().await;
    let tariff = app.tariff("B24", "BITRIX24", "CLOUD", "1000.00", &[12], 0).await;
    let partner = app.partner("P").await;
    let client = app.import_client(&partner.subscriber_id, &months_ago(1)).await;
    let r = app.pay(&client, &tariff, 12, "12000.00", "r-1").await;
    let id = r.ok()["recordPayment"]["id"].as_str().unwrap().to_owned();
    app.as_(
        &app.vendor,
        "mutation($p: ID!) { refundPayment(paymentId: $p, externalId: \"refund-1\") { refunded } }",
        json!({ "p": id }),
    )
    .await
    .ok();
    assert_eq!(amounts(&app.pay(&client, &tariff, 12, "12000.00", "r-2").await), ["6000.00"]);
}

#[tokio::test]
async fn one_c_fresh_franchisees_earn_20_percent_and_csk_65() {
    let app = spawn_app().await;
    app.presets().await;
    let tariff = app.tariff("FRESH", "1C-FRESH", "ITSAAS", "1000.00", &[12], 30).await;
    let services = app.tariff("FRESH-EXCH", "1C-FRESH", "EXCHANGE", "1000.00", &[12], 0).await;
    for (status, expected) in [("FRANCHISEE", "2400.00"), ("CSK", "7800.00")] {
        let partner = app.partner(status).await;
        app.set_status(&partner.subscriber_id, "1C-FRESH", status).await;
        let client = app.client_of(&partner, "Client").await;
        assert_eq!(
            amounts(&app.pay(&client.subscriber_id, &tariff, 12, "12000.00", &format!("f-{status}")).await),
            [expected]
        );
        assert!(
            amounts(&app.pay(&client.subscriber_id, &services, 12, "12000.00", &format!("s-{status}")).await)
                .is_empty()
        );
    }
}

#[tokio::test]
async fn commissions_round_half_up_to_a_kopeck() {
    let app = spawn_app().await;
    app.presets().await;
    let tariff = app.tariff("DEV", "1C-CONNECT", "DEVELOPER_SERVICES", "1.00", &[1], 0).await;
    let partner = app.partner("Agent").await;
    app.set_status(&partner.subscriber_id, "1C-CONNECT", "AGENT").await;
    let client = app.client_of(&partner, "Client").await;
    // 10 % of 123.45 = 12.345 → 12.35; of 0.05 = 0.005 → 0.01; of 0.04 = 0.004 → 0.00.
    for (i, (amount, expected)) in
        [("123.45", "12.35"), ("0.05", "0.01"), ("0.04", "0.00"), ("0.15", "0.02")].into_iter().enumerate()
    {
        assert_eq!(
            amounts(&app.pay(&client.subscriber_id, &tariff, 1, amount, &format!("round-{i}")).await),
            [expected],
            "{amount}"
        );
    }
}

#[tokio::test]
async fn entries_keep_the_rule_rate_and_base_they_were_accrued_under() {
    let app = spawn_app().await;
    app.presets().await;
    let tariff = app.tariff("SAAS", "1C-CONNECT", "SAAS_CORPORATE", "1000.00", &[12], 0).await;
    let partner = app.partner("Dealer").await;
    app.set_status(&partner.subscriber_id, "1C-CONNECT", "DEALER").await;
    let client = app.client_with_inn(&partner, "Client", &inn(7)).await;
    app.lock(&partner, &inn(7)).await;
    let r = app.pay(&client.subscriber_id, &tariff, 12, "1000.00", "frozen-1").await;
    let entry = r.ok()["recordPayment"]["commissions"][0].clone();
    let old_rule = entry["rule"]["id"].as_str().unwrap().to_owned();
    // The vendor raises the DEALER rate: the old entry does not change, the next payment earns more.
    let r = app
        .as_(&app.vendor, "mutation { setCommissionRule(input: {programCode: \"1C-CONNECT\", status: \"DEALER\", category: \"SAAS_CORPORATE\", purchase: ANY, rate: \"30.00\"}) { id rate } }", json!({}))
        .await;
    assert_eq!(r.ok()["setCommissionRule"]["rate"], "30.00");
    let r = app
        .as_(
            &app.vendor,
            "query($id: ID!) { commissions(partnerId: $id) { nodes { amount rate rule { id rate deletedAt } } } }",
            json!({ "id": partner.subscriber_id }),
        )
        .await;
    let first = &r.ok()["commissions"]["nodes"][0];
    assert_eq!(first["amount"], "250.00");
    assert_eq!(first["rate"], "25.00");
    assert_eq!(first["rule"]["id"], old_rule.as_str());
    assert!(!first["rule"]["deletedAt"].is_null(), "the replaced rule is kept, marked replaced");
    assert_eq!(amounts(&app.pay(&client.subscriber_id, &tariff, 12, "1000.00", "frozen-2").await), ["300.00"]);
    // One rule in force per key.
    let r = app.as_(&app.vendor, "{ programs { code rules { status category rate } } }", json!({})).await;
    let connect = r.ok()["programs"].as_array().unwrap().iter().find(|p| p["code"] == "1C-CONNECT").unwrap().clone();
    let dealer_saas: Vec<&Value> = connect["rules"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] == "DEALER" && r["category"] == "SAAS_CORPORATE")
        .collect();
    assert_eq!(dealer_saas.len(), 1);
}

#[tokio::test]
async fn the_presets_load_exactly_and_idempotently() {
    let app = spawn_app().await;
    app.presets().await;
    app.presets().await;
    let r = app
        .as_(
            &app.vendor,
            "{ programs { code statuses categories rules { status category purchase windowMonths rate } } }",
            json!({}),
        )
        .await;
    let programs = r.ok()["programs"].as_array().unwrap().clone();
    let by = |code: &str| programs.iter().find(|p| p["code"] == code).unwrap().clone();
    assert_eq!(programs.len(), 3);
    let connect = by("1C-CONNECT");
    assert_eq!(connect["statuses"], json!(["AGENT", "DEALER", "INTEGRATOR"]));
    assert_eq!(connect["rules"].as_array().unwrap().len(), 13);
    let b24 = by("BITRIX24");
    assert_eq!(b24["statuses"], json!(["REGISTERED", "BUSINESS_PARTNER", "CERTIFIED", "GOLD"]));
    let mut rules: Vec<String> = b24["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| format!("{} {} {}", r["purchase"], r["windowMonths"], r["rate"]))
        .collect();
    rules.sort();
    assert_eq!(rules, ["\"FIRST\" 36 \"50.00\"", "\"SUBSEQUENT\" 36 \"20.00\""]);
    let fresh = by("1C-FRESH");
    assert_eq!(fresh["statuses"], json!(["FRANCHISEE", "CSK"]));
    let mut rules: Vec<String> = fresh["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| format!("{} {} {}", r["status"], r["category"], r["rate"]))
        .collect();
    rules.sort();
    assert_eq!(rules, ["\"CSK\" \"ITSAAS\" \"65.00\"", "\"FRANCHISEE\" \"ITSAAS\" \"20.00\""]);
    assert_eq!(app.count("commission_rules").await, 17);
    assert_eq!(app.count("tariffs").await, 1);
}

#[tokio::test]
async fn a_quote_explains_what_a_payment_would_earn_and_writes_nothing() {
    let app = spawn_app().await;
    app.presets().await;
    let tariff = app.tariff("SAAS", "1C-CONNECT", "SAAS_CORPORATE", "1000.00", &[12], 0).await;
    let partner = app.partner("Dealer").await;
    app.set_status(&partner.subscriber_id, "1C-CONNECT", "DEALER").await;
    let client = app.client_with_inn(&partner, "Client", &inn(8)).await;
    app.lock(&partner, &inn(8)).await;
    let before = (app.count("payments").await, app.count("commissions").await);
    const QUOTE: &str = "query($s: ID!, $t: ID!) { commissionQuote(subscriberId: $s, tariffId: $t, periodMonths: 12, amount: \"100000.00\") { rate amount rule { status category } explanation partnerId } }";
    let r = app.as_(&partner.token, QUOTE, json!({ "s": client.subscriber_id, "t": tariff })).await;
    let q = &r.ok()["commissionQuote"];
    assert_eq!(q["rate"], "25.00");
    assert_eq!(q["amount"], "25000.00");
    assert_eq!(q["rule"]["status"], "DEALER");
    assert_eq!(q["partnerId"], partner.subscriber_id.as_str());
    assert!(q["explanation"].as_str().unwrap().contains("DEALER"), "{q}");
    assert_eq!((app.count("payments").await, app.count("commissions").await), before);
    // Another partner cannot quote on this client.
    let other = app.partner("Other").await;
    app.as_(&other.token, QUOTE, json!({ "s": client.subscriber_id, "t": tariff })).await.err("NOT_FOUND");
    // An unbound client: no commission, and the explanation says why.
    let lone = app.as_(&app.vendor, "mutation { importClient(input: {name: \"Lone\"}) { id } }", json!({})).await;
    let lone = lone.ok()["importClient"]["id"].as_str().unwrap().to_owned();
    let r = app.as_(&app.vendor, QUOTE, json!({ "s": lone, "t": tariff })).await;
    assert_eq!(r.ok()["commissionQuote"]["amount"], "0.00");
    assert!(r.ok()["commissionQuote"]["explanation"].as_str().unwrap().contains("not bound"));
}

#[tokio::test]
async fn money_inputs_are_exact_and_bad_amounts_are_refused() {
    let app = spawn_app().await;
    app.presets().await;
    let tariff = app.tariff("SAAS", "1C-CONNECT", "SAAS_CORPORATE", "1000.00", &[12], 0).await;
    let partner = app.partner("P").await;
    let client = app.client_of(&partner, "Client").await;
    for (i, (amount, reason)) in [
        ("-1.00", "NEGATIVE_AMOUNT"),
        ("1.001", "TOO_PRECISE"),
        ("92233720368547758.08", "AMOUNT_TOO_LARGE"),
        ("1e3", "INVALID_AMOUNT"),
        ("", "INVALID_AMOUNT"),
    ]
    .into_iter()
    .enumerate()
    {
        let r = app.pay(&client.subscriber_id, &tariff, 12, amount, &format!("bad-{i}")).await;
        r.err("BAD_USER_INPUT").reason_is(reason);
        assert_eq!(r.field(), Some("amount"));
    }
    // A JSON number is refused: it would have gone through floating point.
    let r = app.as_(&app.vendor, crate::helpers::PAY, json!({ "i": { "subscriberId": client.subscriber_id, "tariffId": tariff, "periodMonths": 12, "amount": 10.5, "externalId": "num" } })).await;
    assert!(matches!(r.code(), Some("BAD_USER_INPUT") | Some("GRAPHQL_VALIDATION_FAILED")), "{}", r.0);
    assert_eq!(app.count("payments").await, 0);
    // The largest amount round-trips digit for digit.
    let r = app.pay(&client.subscriber_id, &tariff, 12, "92233720368547758.07", "max").await;
    assert_eq!(r.ok()["recordPayment"]["amount"], "92233720368547758.07");
    let r = app.pay(&client.subscriber_id, &tariff, 12, "10.5", "ten-fifty").await;
    assert_eq!(r.ok()["recordPayment"]["amount"], "10.50");
    let r = app.pay(&client.subscriber_id, &tariff, 7, "10.50", "period").await;
    r.err("BAD_USER_INPUT").reason_is("PERIOD_NOT_OFFERED");
}

pub async fn setup_dealer(app: &TestApp) -> (crate::helpers::Account, crate::helpers::Account, String) {
    app.presets().await;
    let tariff = app.tariff("SAAS", "1C-CONNECT", "SAAS_CORPORATE", "1000.00", &[1, 12], 0).await;
    let partner = app.partner("Dealer").await;
    app.set_status(&partner.subscriber_id, "1C-CONNECT", "DEALER").await;
    // SAAS_CORPORATE is a locked category: the dealer holds the client's stop-list lock.
    let client = app.client_with_inn(&partner, "Client", &inn(1)).await;
    app.lock(&partner, &inn(1)).await;
    (partner, client, tariff)
}

#[tokio::test]
async fn payment_dates_cannot_be_in_the_future() {
    let app = spawn_app().await;
    let (_, client, tariff) = setup_dealer(&app).await;
    let future = (Utc::now() + Duration::days(2)).to_rfc3339();
    app.as_(&app.vendor, crate::helpers::PAY, json!({ "i": { "subscriberId": client.subscriber_id, "tariffId": tariff, "periodMonths": 12, "amount": "1.00", "paidAt": future, "externalId": "fut" } }))
        .await
        .err("BAD_USER_INPUT")
        .reason_is("IN_FUTURE");
}

#[tokio::test]
async fn a_deleted_rule_stops_earning_and_only_the_vendor_edits_rules() {
    let app = spawn_app().await;
    app.presets().await;
    let tariff = app.tariff("DEV", "1C-CONNECT", "DEVELOPER_SERVICES", "1000.00", &[12], 0).await;
    let partner = app.partner("Agent").await;
    app.set_status(&partner.subscriber_id, "1C-CONNECT", "AGENT").await;
    let client = app.client_of(&partner, "Client").await;
    assert_eq!(amounts(&app.pay(&client.subscriber_id, &tariff, 12, "1000.00", "d-1").await), ["100.00"]);
    let r = app.as_(&app.vendor, "{ programs { code rules { id status category } } }", json!({})).await;
    let rule = r.ok()["programs"].as_array().unwrap().iter().find(|p| p["code"] == "1C-CONNECT").unwrap()["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["status"] == "AGENT" && r["category"] == "DEVELOPER_SERVICES")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    const DELETE: &str = "mutation($id: ID!) { deleteCommissionRule(id: $id) }";
    app.as_(&partner.token, DELETE, json!({ "id": rule })).await.err("FORBIDDEN");
    let r = app.as_(&app.vendor, DELETE, json!({ "id": rule })).await;
    assert_eq!(r.ok()["deleteCommissionRule"], rule.as_str());
    app.as_(&app.vendor, DELETE, json!({ "id": rule })).await.err("NOT_FOUND");
    assert!(amounts(&app.pay(&client.subscriber_id, &tariff, 12, "1000.00", "d-2").await).is_empty());
    // The earlier entry still names its rule.
    let r = app
        .as_(
            &app.vendor,
            "query($p: ID) { commissions(partnerId: $p) { nodes { amount rule { id deletedAt } } } }",
            json!({ "p": partner.subscriber_id }),
        )
        .await;
    let node = &r.ok()["commissions"]["nodes"][0];
    assert_eq!(node["rule"]["id"], rule.as_str());
    assert!(!node["rule"]["deletedAt"].is_null());
    // Rules name statuses and categories of their program.
    app.as_(
        &app.vendor,
        "mutation { setCommissionRule(input: {programCode: \"1C-CONNECT\", status: \"GOLD\", rate: \"5.00\"}) { id } }",
        json!({}),
    )
    .await
    .err("BAD_USER_INPUT")
    .reason_is("STATUS_UNKNOWN");
    app.as_(&app.vendor, "mutation { setCommissionRule(input: {programCode: \"1C-CONNECT\", category: \"CLOUD\", rate: \"5.00\"}) { id } }", json!({})).await.err("BAD_USER_INPUT").reason_is("CATEGORY_UNKNOWN");
    app.as_(
        &app.vendor,
        "mutation { setCommissionRule(input: {programCode: \"1C-CONNECT\", rate: \"100.01\"}) { id } }",
        json!({}),
    )
    .await
    .err("BAD_USER_INPUT")
    .reason_is("OUT_OF_RANGE");
}

#[tokio::test]
async fn a_client_reads_the_programs_and_tariffs_without_the_partners_commission_rates() {
    let app = spawn_app().await;
    app.presets().await;
    app.tariff("FRESH", "1C-FRESH", "ITSAAS", "100.00", &[1], 0).await;
    let partner = app.partner("Partner").await;
    let client = app.client_of(&partner, "Client").await;
    let programs = "{ programs { code statuses categories rules { rate } } }";
    let catalogue = "{ tariffs { code program { code rules { rate } } } }";
    for token in [&app.vendor, &partner.token] {
        let r = app.as_(token, programs, json!({})).await;
        assert!(r.ok()["programs"].as_array().unwrap().iter().all(|p| !p["rules"].as_array().unwrap().is_empty()));
        let r = app.as_(token, catalogue, json!({})).await;
        assert!(!r.ok()["tariffs"][0]["program"]["rules"].as_array().unwrap().is_empty());
    }
    let r = app.as_(&client.token, programs, json!({})).await;
    let programs = r.ok()["programs"].as_array().unwrap();
    assert_eq!(programs.len(), 3, "the client still reads the programs");
    assert!(programs.iter().all(|p| !p["statuses"].as_array().unwrap().is_empty()));
    assert!(programs.iter().all(|p| p["rules"] == json!([])), "no rates for a client: {programs:?}");
    let r = app.as_(&client.token, catalogue, json!({})).await;
    assert_eq!(r.ok()["tariffs"][0]["program"]["rules"], json!([]));
}
