//! The world: the calling partner P and everything around it.

use std::collections::BTreeMap;

use chrono::Datelike;
use serde_json::{Value, json};

use crate::helpers::{Account, Gql, TestApp, email, inn, spawn_app_with};

pub(super) struct World {
    /// The partner whose roles call.
    pub(super) p: Account,
    pub(super) p_roles: Vec<(&'static str, Account)>,
    /// P's client, which came from Q through a paid partner invoice.
    pub(super) c: Account,
    pub(super) c_roles: Vec<(&'static str, Account)>,
    /// P's own client, registered by P (its owner has not accepted yet).
    pub(super) c2: String,
    /// Another partner, with a full card, a profile and statuses.
    pub(super) q: Account,
    /// Q's client, with subscriptions, payments, tasks and a pending invitation.
    pub(super) d: Account,
    /// Q's client whose support line P is (P reads its card only).
    pub(super) e: Account,
    pub(super) tariff: String,
    pub(super) quarter: String,
    pub(super) monday: String,
    pub(super) pool: String,
    /// Rows of Q's and D's, by what they are, for ids and cursors.
    pub(super) foreign: BTreeMap<&'static str, String>,
    /// P's invoice to D: P's, but another's for C.
    pub(super) p_invoice_to_d: String,
    /// The rows of P's CRM book, by what they are.
    pub(super) p_book: BTreeMap<&'static str, String>,
    /// P's stop-list request, the protection of its contested company.
    pub(super) p_protection: String,
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

pub(super) async fn ok(app: &TestApp, token: &str, q: &str, vars: Value) -> Gql {
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

pub(super) async fn build_world(app: &TestApp) -> World {
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
    // Q's CRM book: a contact, a company with an INN (Q's stop-list entry is its protection) that is D,
    // and a deal with both, all under external ids that P's book uses too.
    let contact =
        app.contact(&q, json!({ "externalId": "crm-contact", "name": "Q's contact", "email": "q@crm.test" })).await;
    foreign.insert("Q.contact", contact["id"].as_str().unwrap().to_owned());
    let company = app
        .company(
            &q,
            json!({ "externalId": "crm-company", "name": "Q's company", "inn": inn(601), "clientId": d.subscriber_id,
                    "contactExternalIds": ["crm-contact"] }),
        )
        .await;
    assert_eq!(company["protection"]["id"].as_str(), foreign.get("Q.stopListEntry").map(String::as_str));
    foreign.insert("Q.company", company["id"].as_str().unwrap().to_owned());
    let deal = app
        .deal(&q, json!({ "externalId": "crm-deal", "title": "Q's deal", "amount": "1000.00", "companyExternalId": "crm-company" }))
        .await;
    assert_eq!(deal["contacts"].as_array().map(Vec::len), Some(1), "the company's contact is on Q's deal");
    foreign.insert("Q.deal", deal["id"].as_str().unwrap().to_owned());
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
    // Q's API key.
    let r = ok(
        app,
        &q.token,
        "mutation { createApiKey(input: {name: \"Q's CRM\", role: USER}) { apiKey { id } } }",
        json!({}),
    )
    .await;
    foreign.insert("Q.apiKey", at(&r, "createApiKey.apiKey.id"));
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
    // P's CRM book: the same external ids as Q's; a company with the INN only Q asked to lock (its
    // protection is null for P), one with an INN both asked for, Q last (P's own request shows), a deal.
    let lock_request = "mutation($i: String!) { requestStopListLock(inn: $i) { id } }";
    let p_protection = at(&ok(app, &p.token, lock_request, json!({ "i": inn(603) })).await, "requestStopListLock.id");
    ok(app, &q.token, lock_request, json!({ "i": inn(603) })).await;
    let mut p_book = BTreeMap::new();
    let contact =
        app.contact(&p, json!({ "externalId": "crm-contact", "name": "P's contact", "email": "p@crm.test" })).await;
    p_book.insert("contact", contact["id"].as_str().unwrap().to_owned());
    let company = app
        .company(
            &p,
            json!({ "externalId": "crm-company", "name": "P's company", "inn": inn(601), "clientId": c.subscriber_id,
                    "contactExternalIds": ["crm-contact"] }),
        )
        .await;
    assert!(company["protection"].is_null(), "Q's entry is not P's company's protection: {company}");
    p_book.insert("company", company["id"].as_str().unwrap().to_owned());
    let company = app
        .company(&p, json!({ "externalId": "crm-company-2", "name": "P's contested company", "inn": inn(603) }))
        .await;
    assert_eq!(company["protection"]["id"].as_str(), Some(p_protection.as_str()), "P's own request protects it");
    p_book.insert("contested company", company["id"].as_str().unwrap().to_owned());
    let deal = app
        .deal(&p, json!({ "externalId": "crm-deal", "title": "P's deal", "amount": "2000.00", "companyExternalId": "crm-company" }))
        .await;
    assert_eq!(deal["contacts"].as_array().map(Vec::len), Some(1), "the company's contact is on P's deal");
    p_book.insert("deal", deal["id"].as_str().unwrap().to_owned());
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
    World {
        p,
        p_roles,
        c,
        c_roles,
        c2,
        q,
        d,
        e,
        tariff,
        quarter,
        monday,
        pool,
        foreign,
        p_invoice_to_d,
        p_book,
        p_protection,
    }
}

pub(super) async fn spawn_walk_app() -> TestApp {
    spawn_app_with(|c| {
        c.limits.max_depth = 64;
        c.limits.max_complexity = usize::MAX / 4;
        c.http.body_limit = 16 * 1024 * 1024;
        // Partners with one paying client are in the directory here.
        c.rules.directory_min_clients = 1;
    })
    .await
}
