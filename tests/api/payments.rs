//! Payments: the external-id contract, concurrency, refunds and clawback, the ledger's life, summaries,
//! and isolation between partners.

use chrono::Duration;
use serde_json::json;

use crate::commissions::setup_dealer;
use crate::helpers::{PAY, spawn_app};

#[tokio::test]
async fn the_same_external_id_with_the_same_payload_returns_the_first_payment() {
    let app = spawn_app().await;
    let (_, client, tariff) = setup_dealer(&app).await;
    let first = app.pay(&client.subscriber_id, &tariff, 12, "12000.00", "ext-1").await;
    let again = app.pay(&client.subscriber_id, &tariff, 12, "12000.00", "ext-1").await;
    assert_eq!(first.ok()["recordPayment"]["id"], again.ok()["recordPayment"]["id"]);
    assert_eq!(again.ok()["recordPayment"]["commissions"].as_array().unwrap().len(), 1);
    assert_eq!((app.count("payments").await, app.count("commissions").await), (1, 1));
    // The same id with another payload is a conflict, and writes nothing.
    let other = app.pay(&client.subscriber_id, &tariff, 12, "12000.01", "ext-1").await;
    other.err("CONFLICT").reason_is("IDEMPOTENCY_KEY_REUSED");
    assert_eq!(other.field(), Some("externalId"));
    assert_eq!((app.count("payments").await, app.count("commissions").await), (1, 1));
}

#[tokio::test]
async fn twenty_concurrent_identical_payments_make_one_payment_and_one_commission() {
    let app = spawn_app().await;
    let (_, client, tariff) = setup_dealer(&app).await;
    let vars = json!({ "i": { "subscriberId": client.subscriber_id, "tariffId": tariff, "periodMonths": 12, "amount": "12000.00", "externalId": "burst" } });
    let tasks: Vec<_> = (0..20).map(|_| app.spawn_gql(Some(&app.vendor), PAY, vars.clone())).collect();
    let mut ids = std::collections::BTreeSet::new();
    for t in tasks {
        let (_, v) = t.await.unwrap();
        assert!(v.get("errors").is_none(), "{v}");
        ids.insert(v["data"]["recordPayment"]["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(ids.len(), 1, "every caller got the same payment");
    assert_eq!((app.count("payments").await, app.count("commissions").await), (1, 1));
}

const REFUND: &str = "mutation($p: ID!, $e: String!) { refundPayment(paymentId: $p, externalId: $e) { id refunded commissions { amount status } } }";
const SUMMARY: &str = "query($p: ID) { commissionSummary(partnerId: $p) { accrued approved paid reversed total } }";
const LEDGER: &str = "query($p: ID) { commissions(partnerId: $p, first: 100) { totalCount nodes { id amount status payoutReference reversesId } } }";

#[tokio::test]
async fn a_refund_adds_a_reversing_entry_and_keeps_the_original() {
    let app = spawn_app().await;
    let (partner, client, tariff) = setup_dealer(&app).await;
    let r = app.pay(&client.subscriber_id, &tariff, 12, "12000.00", "p-1").await;
    let payment = r.ok()["recordPayment"]["id"].as_str().unwrap().to_owned();
    let r = app.as_(&app.vendor, REFUND, json!({ "p": payment, "e": "refund-1" })).await;
    let refunded = &r.ok()["refundPayment"];
    assert_eq!(refunded["id"], payment.as_str());
    assert_eq!(refunded["refunded"], true);
    let mut entries: Vec<(String, String)> = refunded["commissions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["amount"].as_str().unwrap().to_owned(), c["status"].as_str().unwrap().to_owned()))
        .collect();
    entries.sort();
    assert_eq!(entries, [("-3000.00".to_owned(), "REVERSED".to_owned()), ("3000.00".to_owned(), "ACCRUED".to_owned())]);
    // Repeating the refund is idempotent; another refund id is a conflict; nothing more is written.
    app.as_(&app.vendor, REFUND, json!({ "p": payment, "e": "refund-1" })).await.ok();
    app.as_(&app.vendor, REFUND, json!({ "p": payment, "e": "refund-2" }))
        .await
        .err("CONFLICT")
        .reason_is("ALREADY_REFUNDED");
    assert_eq!(app.count("commissions").await, 2);
    let r = app.as_(&partner.token, SUMMARY, json!({})).await;
    assert_eq!(
        r.ok()["commissionSummary"],
        json!({ "accrued": "3000.00", "approved": "0.00", "paid": "0.00", "reversed": "-3000.00", "total": "0.00" })
    );
}

#[tokio::test]
async fn a_reversal_after_payout_is_netted_in_the_next_payout() {
    let app = spawn_app().await;
    let (partner, client, tariff) = setup_dealer(&app).await;
    let r = app.pay(&client.subscriber_id, &tariff, 12, "12000.00", "p-1").await;
    let payment = r.ok()["recordPayment"]["id"].as_str().unwrap().to_owned();
    let entry = r.ok()["recordPayment"]["commissions"][0]["id"].as_str().unwrap().to_owned();
    // Paying before approval is refused; approval moves ACCRUED → APPROVED; then PAID.
    app.as_(
        &app.vendor,
        "mutation($ids: [ID!]!) { markCommissionsPaid(ids: $ids, payoutReference: \"PO-0\") { id } }",
        json!({ "ids": [entry] }),
    )
    .await
    .err("CONFLICT");
    let r = app
        .as_(
            &app.vendor,
            "mutation($ids: [ID!]!) { approveCommissions(ids: $ids) { status } }",
            json!({ "ids": [entry] }),
        )
        .await;
    assert_eq!(r.ok()["approveCommissions"][0]["status"], "APPROVED");
    app.as_(
        &app.vendor,
        "mutation($ids: [ID!]!) { approveCommissions(ids: $ids) { status } }",
        json!({ "ids": [entry] }),
    )
    .await
    .err("CONFLICT");
    let r = app.as_(&app.vendor, "mutation($ids: [ID!]!) { markCommissionsPaid(ids: $ids, payoutReference: \"PO-1\") { status payoutReference } }", json!({ "ids": [entry] })).await;
    assert_eq!(r.ok()["markCommissionsPaid"][0], json!({ "status": "PAID", "payoutReference": "PO-1" }));

    // The client is refunded after the payout: the partner owes the commission back.
    app.as_(&app.vendor, REFUND, json!({ "p": payment, "e": "refund-1" })).await.ok();
    let r = app.as_(&partner.token, SUMMARY, json!({})).await;
    assert_eq!(
        r.ok()["commissionSummary"],
        json!({ "accrued": "0.00", "approved": "0.00", "paid": "3000.00", "reversed": "-3000.00", "total": "0.00" })
    );

    // The next sale earns 3000.00 again; the next payout nets the reversal against it.
    let r = app.pay(&client.subscriber_id, &tariff, 12, "12000.00", "p-2").await;
    let next = r.ok()["recordPayment"]["commissions"][0]["id"].as_str().unwrap().to_owned();
    app.as_(&app.vendor, "mutation($ids: [ID!]!) { approveCommissions(ids: $ids) { id } }", json!({ "ids": [next] }))
        .await
        .ok();
    let r = app.as_(&app.vendor, LEDGER, json!({ "p": partner.subscriber_id })).await;
    let reversal =
        r.ok()["commissions"]["nodes"].as_array().unwrap().iter().find(|n| n["status"] == "REVERSED").unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
    let r = app.as_(&app.vendor, "mutation($ids: [ID!]!) { markCommissionsPaid(ids: $ids, payoutReference: \"PO-2\") { amount status payoutReference } }", json!({ "ids": [next, reversal] })).await;
    let net: i64 = r.ok()["markCommissionsPaid"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let a = c["amount"].as_str().unwrap().replace('.', "");
            assert_eq!(c["payoutReference"], "PO-2");
            a.parse::<i64>().unwrap()
        })
        .sum();
    assert_eq!(net, 0, "3000.00 earned less 3000.00 owed");
    let r = app.as_(&partner.token, SUMMARY, json!({})).await;
    assert_eq!(
        r.ok()["commissionSummary"],
        json!({ "accrued": "0.00", "approved": "0.00", "paid": "6000.00", "reversed": "-3000.00", "total": "3000.00" })
    );
    // A netted reversal cannot be netted twice.
    app.as_(
        &app.vendor,
        "mutation($ids: [ID!]!) { markCommissionsPaid(ids: $ids, payoutReference: \"PO-3\") { id } }",
        json!({ "ids": [reversal] }),
    )
    .await
    .err("CONFLICT");
}

#[tokio::test]
async fn summaries_sum_by_status_over_a_period() {
    let app = spawn_app().await;
    let (partner, client, tariff) = setup_dealer(&app).await;
    let old = (chrono::Utc::now() - Duration::days(400)).to_rfc3339();
    app.as_(&app.vendor, PAY, json!({ "i": { "subscriberId": client.subscriber_id, "tariffId": tariff, "periodMonths": 12, "amount": "4000.00", "paidAt": old, "externalId": "old" } })).await.ok();
    let mut ids = Vec::new();
    for (i, amount) in ["1000.00", "2000.00", "3000.00"].into_iter().enumerate() {
        let r = app.pay(&client.subscriber_id, &tariff, 1, amount, &format!("s-{i}")).await;
        ids.push(r.ok()["recordPayment"]["commissions"][0]["id"].as_str().unwrap().to_owned());
    }
    app.as_(
        &app.vendor,
        "mutation($ids: [ID!]!) { approveCommissions(ids: $ids) { id } }",
        json!({ "ids": [ids[1], ids[2]] }),
    )
    .await
    .ok();
    app.as_(
        &app.vendor,
        "mutation($ids: [ID!]!) { markCommissionsPaid(ids: $ids, payoutReference: \"PO\") { id } }",
        json!({ "ids": [ids[2]] }),
    )
    .await
    .ok();
    let r = app.as_(&partner.token, SUMMARY, json!({})).await;
    assert_eq!(
        r.ok()["commissionSummary"],
        json!({ "accrued": "1250.00", "approved": "500.00", "paid": "750.00", "reversed": "0.00", "total": "2500.00" })
    );
    let from = (chrono::Utc::now() - Duration::days(365)).to_rfc3339();
    let r = app
        .as_(
            &partner.token,
            "query($f: DateTime) { commissionSummary(from: $f) { accrued total } }",
            json!({ "f": from }),
        )
        .await;
    assert_eq!(r.ok()["commissionSummary"], json!({ "accrued": "250.00", "total": "1500.00" }));
    let r = app
        .as_(
            &partner.token,
            "query($f: DateTime) { commissions(status: ACCRUED, from: $f) { totalCount } }",
            json!({ "f": from }),
        )
        .await;
    assert_eq!(r.ok()["commissions"]["totalCount"], 1);
    // The vendor's summary over all partners is the same here (one partner).
    let r = app.as_(&app.vendor, "{ commissionSummary { total } }", json!({})).await;
    assert_eq!(r.ok()["commissionSummary"]["total"], "2500.00");
}

#[tokio::test]
async fn a_partner_never_sees_another_partners_ledger() {
    let app = spawn_app().await;
    let (a, client_a, tariff) = setup_dealer(&app).await;
    let b = app.partner("B").await;
    app.set_status(&b.subscriber_id, "1C-CONNECT", "AGENT").await;
    let client_b = app.client_with_inn(&b, "B's client", &crate::helpers::inn(2)).await;
    app.lock(&b, &crate::helpers::inn(2)).await;
    app.pay(&client_a.subscriber_id, &tariff, 12, "12000.00", "a-1").await.ok();
    app.pay(&client_b.subscriber_id, &tariff, 12, "12000.00", "b-1").await.ok();

    let r = app.as_(&b.token, LEDGER, json!({})).await;
    let nodes = r.ok()["commissions"]["nodes"].as_array().unwrap().clone();
    assert_eq!(nodes.len(), 1);
    assert_eq!(nodes[0]["amount"], "1200.00");
    app.as_(&b.token, LEDGER, json!({ "p": a.subscriber_id })).await.err("NOT_FOUND");
    app.as_(&b.token, SUMMARY, json!({ "p": a.subscriber_id })).await.err("NOT_FOUND");
    let r = app.as_(&b.token, SUMMARY, json!({})).await;
    assert_eq!(r.ok()["commissionSummary"]["total"], "1200.00");
    // A's client's payments are not B's to see.
    app.as_(
        &b.token,
        "query($s: ID) { payments(subscriberId: $s) { totalCount } }",
        json!({ "s": client_a.subscriber_id }),
    )
    .await
    .err("NOT_FOUND");
    let r = app.as_(&b.token, "{ payments { totalCount nodes { subscriber { id } } } }", json!({})).await;
    assert_eq!(r.ok()["payments"]["totalCount"], 1);
    // Only the partner's owner reads its commissions; its operators and the client do not.
    let so = app.member(&b.token, &b.subscriber_id, "SERVICE_OPERATOR").await;
    app.as_(&so.token, SUMMARY, json!({})).await.err("FORBIDDEN");
    app.as_(&client_b.token, LEDGER, json!({})).await.err("FORBIDDEN");
    // A client's owner sees its own payment but not the partner's commission on it.
    let r = app.as_(&client_b.token, "{ payments { nodes { amount commissions { id } } } }", json!({})).await;
    assert_eq!(r.ok()["payments"]["nodes"][0]["commissions"], json!([]));
}

#[tokio::test]
async fn only_the_vendor_records_payments_and_manages_the_ledger() {
    let app = spawn_app().await;
    let (partner, client, tariff) = setup_dealer(&app).await;
    let vars = json!({ "i": { "subscriberId": client.subscriber_id, "tariffId": tariff, "periodMonths": 12, "amount": "1.00", "externalId": "x" } });
    app.as_(&partner.token, PAY, vars.clone()).await.err("FORBIDDEN");
    app.as_(&client.token, PAY, vars).await.err("FORBIDDEN");
    let r = app.pay(&client.subscriber_id, &tariff, 12, "1000.00", "v-1").await;
    let entry = r.ok()["recordPayment"]["commissions"][0]["id"].as_str().unwrap().to_owned();
    app.as_(
        &partner.token,
        "mutation($ids: [ID!]!) { approveCommissions(ids: $ids) { id } }",
        json!({ "ids": [entry] }),
    )
    .await
    .err("FORBIDDEN");
    app.as_(&partner.token, "mutation { createTariff(input: {code: \"X\", name: \"X\", programCode: \"1C-CONNECT\", category: \"SAAS_CORPORATE\", monthlyPrice: \"1.00\", periods: [1]}) { id } }", json!({})).await.err("FORBIDDEN");
    let vendor_id = app.vendor_id().await;
    let vendor_user = app.member(&app.vendor, &vendor_id, "USER").await;
    app.as_(
        &vendor_user.token,
        "mutation($ids: [ID!]!) { approveCommissions(ids: $ids) { id } }",
        json!({ "ids": [entry] }),
    )
    .await
    .err("FORBIDDEN");
    // Every vendor role reads the ledger.
    let r = app.as_(&vendor_user.token, "{ commissionSummary { accrued } }", json!({})).await;
    assert_eq!(r.ok()["commissionSummary"]["accrued"], "250.00");
}

#[tokio::test]
async fn concurrent_different_payments_each_extend_the_subscription() {
    let app = spawn_app().await;
    let (partner, client, tariff) = setup_dealer(&app).await;
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let vars = json!({ "i": { "subscriberId": client.subscriber_id, "tariffId": tariff, "periodMonths": 1, "amount": "1000.00", "externalId": format!("month-{i}") } });
            app.spawn_gql(Some(&app.vendor), PAY, vars)
        })
        .collect();
    for t in tasks {
        let (_, v) = t.await.unwrap();
        assert!(v.get("errors").is_none(), "{v}");
    }
    let r = app
        .as_(
            &partner.token,
            "query($id: ID!) { subscriber(id: $id) { subscriptions { endsAt } } }",
            json!({ "id": client.subscriber_id }),
        )
        .await;
    let subs = r.ok()["subscriber"]["subscriptions"].as_array().unwrap().clone();
    assert_eq!(subs.len(), 1, "one subscription, extended ten times");
    let end =
        chrono::DateTime::parse_from_rfc3339(subs[0]["endsAt"].as_str().unwrap()).unwrap().with_timezone(&chrono::Utc);
    let expected = chrono::Utc::now().checked_add_months(chrono::Months::new(10)).unwrap();
    assert!((end - expected).num_minutes().abs() < 5, "ends {end}, expected about {expected}");
    // Exactly one of them was the client's first purchase (25 % under DEALER either way, so count rows).
    assert_eq!(app.count("commissions").await, 10);
}

#[tokio::test]
async fn a_payment_that_breaks_the_one_payment_per_invoice_index_is_not_blamed_on_its_external_id() {
    use sea_orm::ConnectionTrait;
    let app = spawn_app().await;
    let (partner, client, tariff) = setup_dealer(&app).await;
    let r = app
        .as_(
            &partner.token,
            "mutation($c: ID!, $t: ID!) { createInvoice(input: {clientId: $c, tariffId: $t, periodMonths: 12}) { id } }",
            json!({ "c": client.subscriber_id, "t": tariff }),
        )
        .await;
    let invoice = r.ok()["createInvoice"]["id"].clone();
    let pay = |ext: &str| json!({ "i": { "subscriberId": client.subscriber_id, "tariffId": tariff, "periodMonths": 12, "amount": "12000.00", "invoiceId": invoice, "externalId": ext } });
    app.as_(&app.vendor, PAY, pay("inv-first")).await.ok();
    // The invoice forgets its payment (as a hand edit would): the service's own check passes, and only
    // the database's one-payment-per-invoice index stops the second payment.
    app.state.db.execute_unprepared("UPDATE invoices SET payment_id = NULL").await.unwrap();
    let second = app.as_(&app.vendor, PAY, pay("inv-second")).await;
    second.err("CONFLICT").reason_is("INVOICE_ALREADY_PAID");
    assert_eq!(second.field(), Some("invoiceId"));
    assert_eq!(app.count("payments").await, 1);
}
