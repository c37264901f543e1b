//! Which endpoints each event type reaches: the vendor's every event, a partner's only the events about
//! the partner and its own clients (`client.bound` both when a client comes and when it leaves). Three
//! endpoints subscribed to every type — the vendor's V, partner P's and partner Q's — watch a world go
//! through every event type; after each step, the new deliveries of each endpoint are exactly those
//! expected. Queuing is part of each change's transaction, so no sender runs here.

use std::collections::BTreeSet;

use chrono::Datelike;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, email, inn, spawn_app};
use crate::webhooks::{deliveries, endpoint};

const EVERY_TYPE: &[&str] = &[
    "client.registered",
    "client.bound",
    "invitation.accepted",
    "subscription.started",
    "subscription.renewed",
    "subscription.cancelled",
    "payment.recorded",
    "payment.refunded",
    "commission.accrued",
    "commission.approved",
    "commission.paid",
    "commission.reversed",
    "stop_list.decided",
    "lead.assigned",
    "task.created",
    "webhook.test",
];

/// The three watching endpoints and the deliveries each has already shown.
struct Watch {
    /// (label, token of the endpoint's owner, endpoint id, deliveries seen).
    endpoints: Vec<(&'static str, String, String, BTreeSet<String>)>,
    /// Every event type some endpoint received.
    covered: BTreeSet<String>,
}

impl Watch {
    /// The new deliveries of each endpoint since the last call: (type, data), by endpoint label.
    async fn news(&mut self, app: &TestApp) -> Vec<(&'static str, Vec<(String, Value)>)> {
        let mut out = Vec::new();
        for (label, token, ep, seen) in &mut self.endpoints {
            let mut fresh = Vec::new();
            for d in deliveries(app, token, Some(ep)).await {
                let id = d["id"].as_str().unwrap().to_owned();
                if seen.insert(id) {
                    let body: Value = serde_json::from_str(d["payload"].as_str().unwrap()).unwrap();
                    assert_eq!(body["type"], d["eventType"]);
                    self.covered.insert(d["eventType"].as_str().unwrap().to_owned());
                    fresh.push((d["eventType"].as_str().unwrap().to_owned(), body["data"].clone()));
                }
            }
            fresh.sort_by(|a, b| a.0.cmp(&b.0));
            out.push((*label, fresh));
        }
        out
    }

    /// Asserts the new deliveries' types per endpoint (V, P, Q) and returns them.
    async fn expect(
        &mut self,
        app: &TestApp,
        step: &str,
        v: &[&str],
        p: &[&str],
        q: &[&str],
    ) -> Vec<Vec<(String, Value)>> {
        let news = self.news(app).await;
        let mut all = Vec::new();
        for ((label, got), want) in news.into_iter().zip([v, p, q]) {
            let types: Vec<&str> = got.iter().map(|(t, _)| t.as_str()).collect();
            let mut want = want.to_vec();
            want.sort();
            assert_eq!(types, want, "{step}: endpoint {label}");
            all.push(got);
        }
        all
    }
}

const FRESH_TARIFF: &str = "mutation($i: TariffInput!) { createTariff(input: $i) { id } }";

#[tokio::test]
async fn each_event_type_reaches_the_vendor_and_only_the_partner_it_is_about() {
    let app = spawn_app().await;
    app.presets().await;
    let r = app
        .as_(
            &app.vendor,
            FRESH_TARIFF,
            json!({ "i": { "code": "FRESH", "name": "Fresh", "programCode": "1C-FRESH", "category": "ITSAAS",
                           "monthlyPrice": "100.00", "periods": [1, 12], "trialDays": 30 } }),
        )
        .await;
    let tariff = r.ok()["createTariff"]["id"].as_str().unwrap().to_owned();
    let p = app.partner("P").await;
    let q = app.partner("Q").await;
    app.set_status(&p.subscriber_id, "1C-FRESH", "CSK").await;
    app.as_(
        &app.vendor,
        "mutation($id: ID!) { updatePartnerProfile(partnerId: $id, input: {serviceDeskConnected: true, hasConsultants: true, hasCustomizationSpecialists: true, contractUntil: \"2100-01-01\"}) { id } }",
        json!({ "id": p.subscriber_id }),
    )
    .await
    .ok();
    let (ev, _) = endpoint(&app, &app.vendor, "https://example.com/v", EVERY_TYPE).await;
    let (ep, _) = endpoint(&app, &p.token, "https://example.com/p", EVERY_TYPE).await;
    let (eq, _) = endpoint(&app, &q.token, "https://example.com/q", EVERY_TYPE).await;
    let mut w = Watch {
        endpoints: vec![
            ("V", app.vendor.clone(), ev, BTreeSet::new()),
            ("P", p.token.clone(), ep.clone(), BTreeSet::new()),
            ("Q", q.token.clone(), eq, BTreeSet::new()),
        ],
        covered: BTreeSet::new(),
    };

    // P registers a client, whose owner accepts the invitation.
    let c = app.client_of(&p, "C").await;
    let reg = ["client.bound", "client.registered", "invitation.accepted", "task.created"];
    let news = w.expect(&app, "registration", &reg, &reg, &[]).await;
    let registered = &news[1].iter().find(|(t, _)| t == "client.registered").unwrap().1;
    assert_eq!(registered["clientId"], json!(c.subscriber_id));
    assert_eq!(registered["servingPartnerId"], json!(p.subscriber_id));

    // A trial, then a payment that turns it into a paid subscription and accrues P's commission.
    app.as_(
        &p.token,
        "mutation($s: ID!, $t: ID!) { startTrial(subscriberId: $s, tariffId: $t) { id } }",
        json!({ "s": c.subscriber_id, "t": tariff }),
    )
    .await
    .ok();
    // The trial's two calls are planned as it starts (docs/rules.md §9), each a `task.created` for P.
    let trial = ["subscription.started", "task.created", "task.created"];
    let news = w.expect(&app, "trial", &trial, &trial, &[]).await;
    let mut kinds: Vec<&str> =
        news[1].iter().filter(|(t, _)| t == "task.created").map(|(_, d)| d["kind"].as_str().unwrap()).collect();
    kinds.sort();
    assert_eq!(kinds, ["TRIAL_CHECK_IN", "TRIAL_ENDING"]);
    let r = app.pay(&c.subscriber_id, &tariff, 1, "100.00", &email("pay")).await;
    let payment = r.ok()["recordPayment"]["id"].as_str().unwrap().to_owned();
    let commission = r.ok()["recordPayment"]["commissions"][0]["id"].as_str().unwrap().to_owned();
    let paid = ["commission.accrued", "payment.recorded", "subscription.renewed"];
    let news = w.expect(&app, "payment", &paid, &paid, &[]).await;
    let accrued = &news[1].iter().find(|(t, _)| t == "commission.accrued").unwrap().1;
    assert_eq!(
        (accrued["partnerId"].as_str(), accrued["amount"].as_str()),
        (Some(p.subscriber_id.as_str()), Some("65.00"))
    );
    let recorded = &news[1].iter().find(|(t, _)| t == "payment.recorded").unwrap().1;
    assert_eq!((recorded["paymentId"].as_str(), recorded["amount"].as_str()), (Some(payment.as_str()), Some("100.00")));

    // The commission is approved and paid.
    app.as_(&app.vendor, "mutation($i: [ID!]!) { approveCommissions(ids: $i) { id } }", json!({ "i": [commission] }))
        .await
        .ok();
    w.expect(&app, "approval", &["commission.approved"], &["commission.approved"], &[]).await;
    app.as_(
        &app.vendor,
        "mutation($i: [ID!]!) { markCommissionsPaid(ids: $i, payoutReference: \"PO-1\") { id } }",
        json!({ "i": [commission] }),
    )
    .await
    .ok();
    let news = w.expect(&app, "payout", &["commission.paid"], &["commission.paid"], &[]).await;
    assert_eq!(news[1][0].1["payoutReference"], "PO-1");

    // A lead pool with P, and a company that registers itself without a referral code: P gets the lead.
    let today = app.state.clock.now().date_naive();
    app.as_(
        &app.vendor,
        "mutation($i: LeadPoolInput!) { publishLeadPool(input: $i) { id } }",
        json!({ "i": { "programCode": "1C-FRESH", "quarter": format!("{}-Q{}", today.year(), today.month0() / 3 + 1),
                       "validFrom": today.to_string(), "validUntil": (today + chrono::Duration::days(90)).to_string() } }),
    )
    .await
    .ok();
    let r = app
        .gql(
            None,
            "mutation($i: SelfRegisterInput!) { selfRegister(input: $i) { viewer { subscriber { id servingPartner { id } } } } }",
            json!({ "i": { "companyName": "Lead", "email": email("lead"), "name": "Lead Owner", "password": PASSWORD } }),
        )
        .await;
    let lead = r.ok()["selfRegister"]["viewer"]["subscriber"]["id"].as_str().unwrap().to_owned();
    let got = ["client.bound", "client.registered", "lead.assigned", "task.created"];
    let news = w.expect(&app, "lead", &got, &got, &[]).await;
    let assigned = &news[1].iter().find(|(t, _)| t == "lead.assigned").unwrap().1;
    assert_eq!(
        (assigned["clientId"].as_str(), assigned["partnerId"].as_str()),
        (Some(lead.as_str()), Some(p.subscriber_id.as_str()))
    );

    // The payment is refunded: the payment and the commission's reversal.
    app.as_(
        &app.vendor,
        "mutation($p: ID!, $e: String!) { refundPayment(paymentId: $p, externalId: $e) { id } }",
        json!({ "p": payment, "e": email("refund") }),
    )
    .await
    .ok();
    let back = ["commission.reversed", "payment.refunded"];
    let news = w.expect(&app, "refund", &back, &back, &[]).await;
    assert_eq!(news[1][0].1["amount"], "-65.00");

    // P cancels the client's subscription.
    let r = app
        .as_(
            &p.token,
            "query($id: ID!) { subscriber(id: $id) { subscriptions { id } } }",
            json!({ "id": c.subscriber_id }),
        )
        .await;
    let sub = r.ok()["subscriber"]["subscriptions"][0]["id"].as_str().unwrap().to_owned();
    app.as_(&p.token, "mutation($id: ID!) { cancelSubscription(id: $id, reason: PRICE) { id } }", json!({ "id": sub }))
        .await
        .ok();
    w.expect(&app, "cancellation", &["subscription.cancelled"], &["subscription.cancelled"], &[]).await;

    // Q's stop-list request is decided: Q hears it, P does not.
    let lock = app.lock(&q, &inn(4242)).await;
    let news = w.expect(&app, "stop-list decision", &["stop_list.decided"], &[], &["stop_list.decided"]).await;
    assert_eq!(news[2][0].1["entryId"], json!(lock));
    assert_eq!(news[2][0].1["status"], "APPROVED");

    // Q invoices C and the vendor records the payment: C moves from P to Q. P hears only that it left.
    let r = app
        .as_(
            &q.token,
            "mutation($i: InvoiceInput!) { createInvoice(input: $i) { id } }",
            json!({ "i": { "clientId": c.subscriber_id, "tariffId": tariff, "periodMonths": 1 } }),
        )
        .await;
    let invoice = r.ok()["createInvoice"]["id"].as_str().unwrap().to_owned();
    app.as_(
        &app.vendor,
        crate::helpers::PAY,
        json!({ "i": { "subscriberId": c.subscriber_id, "tariffId": tariff, "periodMonths": 1, "amount": "100.00", "externalId": email("inv"), "invoiceId": invoice } }),
    )
    .await
    .ok();
    let moved = ["client.bound", "payment.recorded", "subscription.started"];
    let news = w.expect(&app, "rebinding", &moved, &["client.bound"], &moved).await;
    for side in [&news[1][0].1, &news[2][0].1] {
        assert_eq!(
            (side["clientId"].as_str(), side["fromPartnerId"].as_str(), side["toPartnerId"].as_str()),
            (Some(c.subscriber_id.as_str()), Some(p.subscriber_id.as_str()), Some(q.subscriber_id.as_str()))
        );
        assert_eq!(side["source"], "PARTNER_INVOICE");
    }

    // A test event goes to the one endpoint it names.
    app.as_(&p.token, "mutation($id: ID!) { sendTestWebhook(endpointId: $id) { id } }", json!({ "id": ep })).await.ok();
    w.expect(&app, "test event", &[], &["webhook.test"], &[]).await;

    let missing: Vec<&&str> = EVERY_TYPE.iter().filter(|t| !w.covered.contains(**t)).collect();
    assert!(missing.is_empty(), "every event type was exercised: missing {missing:?}");
}
