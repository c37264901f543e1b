//! Tariffs, trials, subscriptions and invoices: status from dates, extension from the later of now and
//! the current end, the free Partner tariff, ITS PROF.

use chrono::Duration;
use serde_json::json;

use crate::commissions::setup_dealer;
use crate::helpers::{PASSWORD, spawn_app};

const TRIAL: &str =
    "mutation($s: ID!, $t: ID!) { startTrial(subscriberId: $s, tariffId: $t) { id status basis startsAt endsAt } }";
const SUBS: &str =
    "query($id: ID!) { subscriber(id: $id) { subscriptions { id status basis endsAt tariff { code } } } }";

#[tokio::test]
async fn a_trial_then_a_payment_extends_from_the_trials_end_and_status_follows_the_dates() {
    let mut app = spawn_app().await;
    app.presets().await;
    let tariff = app.tariff("FRESH", "1C-FRESH", "ITSAAS", "1500.00", &[1, 12], 30).await;
    let partner = app.partner("P").await;
    let client = app.client_of(&partner, "Client").await;
    let r = app.as_(&partner.token, TRIAL, json!({ "s": client.subscriber_id, "t": tariff })).await;
    let trial = r.ok()["startTrial"].clone();
    assert_eq!((trial["status"].as_str(), trial["basis"].as_str()), (Some("TRIAL"), Some("TRIAL")));
    let trial_end = chrono::DateTime::parse_from_rfc3339(trial["endsAt"].as_str().unwrap()).unwrap();
    let starts = chrono::DateTime::parse_from_rfc3339(trial["startsAt"].as_str().unwrap()).unwrap();
    assert_eq!(trial_end - starts, Duration::days(30));
    // A second trial of the same tariff is refused.
    app.as_(&partner.token, TRIAL, json!({ "s": client.subscriber_id, "t": tariff })).await.err("CONFLICT");

    app.pay(&client.subscriber_id, &tariff, 12, "18000.00", "pay-1").await.ok();
    let r = app.as_(&partner.token, SUBS, json!({ "id": client.subscriber_id })).await;
    let subs = r.ok()["subscriber"]["subscriptions"].as_array().unwrap().clone();
    assert_eq!(subs.len(), 1);
    assert_eq!((subs[0]["status"].as_str(), subs[0]["basis"].as_str()), (Some("ACTIVE"), Some("PAID")));
    let end = chrono::DateTime::parse_from_rfc3339(subs[0]["endsAt"].as_str().unwrap()).unwrap();
    assert_eq!(end, trial_end.checked_add_months(chrono::Months::new(12)).unwrap());

    // A renewal extends from the current end, not from now.
    app.pay(&client.subscriber_id, &tariff, 1, "1500.00", "pay-2").await.ok();
    let r = app.as_(&partner.token, SUBS, json!({ "id": client.subscriber_id })).await;
    let end2 =
        chrono::DateTime::parse_from_rfc3339(r.ok()["subscriber"]["subscriptions"][0]["endsAt"].as_str().unwrap())
            .unwrap();
    assert_eq!(end2, end.checked_add_months(chrono::Months::new(1)).unwrap());

    // Past its end the subscription reads EXPIRED without any job having run.
    app.state.clock.advance(Duration::days(30 + 366 + 31 + 1));
    let token = app.login(&partner.email, PASSWORD).await;
    app.vendor = app.login(crate::helpers::VENDOR_EMAIL, PASSWORD).await;
    let r = app.as_(&token, SUBS, json!({ "id": client.subscriber_id })).await;
    assert_eq!(r.ok()["subscriber"]["subscriptions"][0]["status"], "EXPIRED");
    // A payment after expiry starts from now.
    app.pay(&client.subscriber_id, &tariff, 1, "1500.00", "pay-3").await.ok();
    let r = app.as_(&token, SUBS, json!({ "id": client.subscriber_id })).await;
    let subs = r.ok()["subscriber"]["subscriptions"].as_array().unwrap().clone();
    assert_eq!(subs.len(), 2);
    assert_eq!(subs[1]["status"], "ACTIVE");
}

#[tokio::test]
async fn cancelling_a_trial_asks_for_a_churn_reason() {
    let app = spawn_app().await;
    app.presets().await;
    let tariff = app.tariff("FRESH", "1C-FRESH", "ITSAAS", "1500.00", &[1], 14).await;
    let partner = app.partner("P").await;
    let client = app.client_of(&partner, "Client").await;
    let r = app.as_(&partner.token, TRIAL, json!({ "s": client.subscriber_id, "t": tariff })).await;
    let id = r.ok()["startTrial"]["id"].as_str().unwrap().to_owned();
    const CANCEL: &str = "mutation($id: ID!, $r: ChurnReason) { cancelSubscription(id: $id, reason: $r, comment: \"went back to the desktop version\") { status churnReason churnComment } }";
    app.as_(&partner.token, CANCEL, json!({ "id": id })).await.err("BAD_USER_INPUT").reason_is("CHURN_REASON_REQUIRED");
    let r = app.as_(&partner.token, CANCEL, json!({ "id": id, "r": "WENT_LOCAL" })).await;
    assert_eq!(
        r.ok()["cancelSubscription"],
        json!({ "status": "CANCELLED", "churnReason": "WENT_LOCAL", "churnComment": "went back to the desktop version" })
    );
    app.as_(&partner.token, CANCEL, json!({ "id": id, "r": "PRICE" }))
        .await
        .err("CONFLICT")
        .reason_is("ALREADY_CANCELLED");
    // Another partner cannot see it.
    let other = app.partner("Other").await;
    app.as_(&other.token, CANCEL, json!({ "id": id, "r": "PRICE" })).await.err("NOT_FOUND");
}

#[tokio::test]
async fn its_prof_clients_connect_without_payment_or_commission() {
    let app = spawn_app().await;
    let (partner, client, _) = setup_dealer(&app).await;
    let fresh = app.tariff("FRESH", "1C-FRESH", "ITSAAS", "1500.00", &[12], 0).await;
    const CREATE: &str = "mutation($s: ID!, $t: ID!, $b: SubscriptionBasis!) { createSubscription(subscriberId: $s, tariffId: $t, basis: $b) { status basis } }";
    let r = app.as_(&partner.token, CREATE, json!({ "s": client.subscriber_id, "t": fresh, "b": "ITS_PROF" })).await;
    assert_eq!(r.ok()["createSubscription"], json!({ "status": "ACTIVE", "basis": "ITS_PROF" }));
    assert_eq!((app.count("payments").await, app.count("commissions").await), (0, 0));
    app.as_(&partner.token, CREATE, json!({ "s": client.subscriber_id, "t": fresh, "b": "PAID" }))
        .await
        .err("BAD_USER_INPUT")
        .reason_is("BASIS_NOT_ALLOWED");
    // The client itself cannot declare an ITS PROF contract.
    app.as_(&client.token, CREATE, json!({ "s": client.subscriber_id, "t": fresh, "b": "ITS_PROF" }))
        .await
        .err("FORBIDDEN");
}

#[tokio::test]
async fn the_free_partner_tariff_needs_an_active_partner_contract() {
    let app = spawn_app().await;
    app.presets().await;
    let r = app.as_(&app.vendor, "{ tariffs(programCode: \"1C-FRESH\") { id code monthlyPrice maxDatabases maxUsers maxSessions partnerOnly } }", json!({})).await;
    let t = r.ok()["tariffs"].as_array().unwrap().iter().find(|t| t["code"] == "FRESH-PARTNER").unwrap().clone();
    assert_eq!(t["monthlyPrice"], "0.00");
    assert_eq!(t["maxDatabases"], 20);
    assert!(t["maxUsers"].is_null() && t["maxSessions"].is_null(), "unlimited users and sessions");
    let tariff = t["id"].as_str().unwrap().to_owned();
    let partner = app.partner("P").await;
    const CREATE: &str = "mutation($s: ID!, $t: ID!) { createSubscription(subscriberId: $s, tariffId: $t, basis: PARTNER_FREE) { status basis endsAt } }";
    app.as_(&partner.token, CREATE, json!({ "s": partner.subscriber_id, "t": tariff }))
        .await
        .err("CONFLICT")
        .reason_is("CONTRACT_NOT_ACTIVE");
    let until = (chrono::Utc::now() + Duration::days(90)).date_naive().to_string();
    app.as_(
        &app.vendor,
        "mutation($p: ID!, $d: Date) { updatePartnerProfile(partnerId: $p, input: {contractUntil: $d}) { id } }",
        json!({ "p": partner.subscriber_id, "d": until }),
    )
    .await
    .ok();
    let r = app.as_(&partner.token, CREATE, json!({ "s": partner.subscriber_id, "t": tariff })).await;
    assert_eq!(r.ok()["createSubscription"]["basis"], "PARTNER_FREE");
    // Until the end of the contract's last day in the service's zone (Europe/Moscow by default, UTC+3):
    // local midnight after it, 21:00 UTC that day.
    let ends: chrono::DateTime<chrono::Utc> = r.ok()["createSubscription"]["endsAt"].as_str().unwrap().parse().unwrap();
    let last_day = chrono::NaiveDate::parse_from_str(&until, "%Y-%m-%d").unwrap();
    assert_eq!(ends, last_day.and_hms_opt(21, 0, 0).unwrap().and_utc());
    // Clients neither see nor take it.
    let client = app.client_of(&partner, "Client").await;
    let r = app.as_(&client.token, "{ tariffs { code } }", json!({})).await;
    assert!(r.ok()["tariffs"].as_array().unwrap().iter().all(|t| t["code"] != "FRESH-PARTNER"));
    app.as_(&app.vendor, CREATE, json!({ "s": client.subscriber_id, "t": tariff })).await.err("BAD_USER_INPUT");
}

#[tokio::test]
async fn a_paid_partner_invoice_is_recorded_once() {
    let app = spawn_app().await;
    let (partner, client, tariff) = setup_dealer(&app).await;
    const INVOICE: &str = "mutation($c: ID!, $t: ID!, $m: Int!) { createInvoice(input: {clientId: $c, tariffId: $t, periodMonths: $m}) { id amount discountPercent paid partner { id } } }";
    let r = app.as_(&partner.token, INVOICE, json!({ "c": client.subscriber_id, "t": tariff, "m": 12 })).await;
    let inv = r.ok()["createInvoice"].clone();
    assert_eq!(
        (inv["amount"].as_str(), inv["discountPercent"].as_str(), inv["paid"].as_bool()),
        (Some("12000.00"), Some("0.00"), Some(false))
    );
    app.as_(&partner.token, INVOICE, json!({ "c": client.subscriber_id, "t": tariff, "m": 5 }))
        .await
        .err("BAD_USER_INPUT")
        .reason_is("PERIOD_NOT_OFFERED");
    let pay = |ext: &'static str| json!({ "i": { "subscriberId": client.subscriber_id, "tariffId": tariff, "periodMonths": 12, "amount": "12000.00", "invoiceId": inv["id"], "externalId": ext } });
    let r = app.as_(&app.vendor, crate::helpers::PAY, pay("inv-1")).await;
    assert_eq!(r.ok()["recordPayment"]["channel"], "PARTNER_INVOICE");
    app.as_(&app.vendor, crate::helpers::PAY, pay("inv-2")).await.err("CONFLICT").reason_is("INVOICE_ALREADY_PAID");
    let r = app.as_(&partner.token, "{ invoices { totalCount nodes { paid } } }", json!({})).await;
    assert_eq!(r.ok()["invoices"], json!({ "totalCount": 1, "nodes": [{ "paid": true }] }));
    // The client's owner sees the invoice addressed to it; another partner sees none, and may not sell
    // this locked category to the client without its own lock.
    let r = app.as_(&client.token, "{ invoices { totalCount } }", json!({})).await;
    assert_eq!(r.ok()["invoices"]["totalCount"], 1);
    let other = app.partner("Other").await;
    let r = app.as_(&other.token, "{ invoices { totalCount } }", json!({})).await;
    assert_eq!(r.ok()["invoices"]["totalCount"], 0);
    app.as_(&other.token, INVOICE, json!({ "c": client.subscriber_id, "t": tariff, "m": 12 }))
        .await
        .err("FORBIDDEN")
        .reason_is("DEAL_NOT_LOCKED");
}

#[tokio::test]
async fn tariffs_validate_their_input_and_archive() {
    let app = spawn_app().await;
    app.presets().await;
    const CREATE: &str = "mutation($i: TariffInput!) { createTariff(input: $i) { id code archived periods } }";
    let base = json!({ "code": "t-1", "name": "T", "programCode": "1C-FRESH", "category": "ITSAAS", "monthlyPrice": "100.00", "periods": [12, 1, 12] });
    let r = app.as_(&app.vendor, CREATE, json!({ "i": base })).await;
    assert_eq!(r.ok()["createTariff"]["code"], "T-1");
    assert_eq!(r.ok()["createTariff"]["periods"], json!([1, 12]));
    let id = r.ok()["createTariff"]["id"].as_str().unwrap().to_owned();
    app.as_(&app.vendor, CREATE, json!({ "i": base })).await.err("CONFLICT").reason_is("TARIFF_CODE_TAKEN");
    for (field, value, reason) in [
        ("category", json!("VIDEO_CALLS"), "CATEGORY_UNKNOWN"),
        ("programCode", json!("NOPE"), "PROGRAM_UNKNOWN"),
        ("periods", json!([]), "INVALID_PERIODS"),
        ("periods", json!([0]), "INVALID_PERIODS"),
        ("monthlyPrice", json!("-5"), "NEGATIVE_AMOUNT"),
        ("trialDays", json!(1000), "OUT_OF_RANGE"),
    ] {
        let mut i = base.clone();
        i["code"] = json!(format!("other-{field}"));
        i[field] = value;
        app.as_(&app.vendor, CREATE, json!({ "i": i })).await.err("BAD_USER_INPUT").reason_is(reason);
    }
    let r =
        app.as_(&app.vendor, "mutation($id: ID!) { archiveTariff(id: $id) { archived } }", json!({ "id": id })).await;
    assert_eq!(r.ok()["archiveTariff"]["archived"], true);
    let r = app.as_(&app.vendor, "{ tariffs(programCode: \"1C-FRESH\") { code } all: tariffs(programCode: \"1C-FRESH\", includeArchived: true) { code } }", json!({})).await;
    assert!(r.ok()["tariffs"].as_array().unwrap().iter().all(|t| t["code"] != "T-1"));
    assert!(r.ok()["all"].as_array().unwrap().iter().any(|t| t["code"] == "T-1"));
}

#[tokio::test]
async fn a_period_no_tariff_could_offer_is_refused_as_not_offered_by_payments_invoices_and_quotes() {
    let app = spawn_app().await;
    let (partner, client, tariff) = setup_dealer(&app).await;
    const INVOICE: &str = "mutation($c: ID!, $t: ID!, $m: Int!) { createInvoice(input: {clientId: $c, tariffId: $t, periodMonths: $m}) { id } }";
    const QUOTE: &str = "query($s: ID!, $t: ID!, $m: Int!) { commissionQuote(subscriberId: $s, tariffId: $t, periodMonths: $m, amount: \"10.00\") { amount } }";
    for m in [0, -1, 37, 256, i32::MAX, i32::MIN] {
        let vars = json!({ "s": client.subscriber_id, "c": client.subscriber_id, "t": tariff, "m": m });
        let paid = app.pay(&client.subscriber_id, &tariff, m, "10.00", &format!("p{m}")).await;
        let invoiced = app.as_(&partner.token, INVOICE, vars.clone()).await;
        let quoted = app.as_(&app.vendor, QUOTE, vars).await;
        for r in [paid, invoiced, quoted] {
            r.err("BAD_USER_INPUT").reason_is("PERIOD_NOT_OFFERED");
            assert_eq!(r.field(), Some("periodMonths"), "{m}");
            assert_eq!(r.0["errors"][0]["message"], "periodMonths: not a period of this tariff", "{m}");
        }
    }
    assert_eq!((app.count("payments").await, app.count("invoices").await), (0, 0));
    // A bad amount is still reported before the period, as it always was.
    app.pay(&client.subscriber_id, &tariff, 0, "1.001", "both").await.err("BAD_USER_INPUT").reason_is("TOO_PRECISE");
}
