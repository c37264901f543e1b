//! Ledger totals: after every kind of ledger write the summary read through the totals equals a direct sum
//! over the ledger for any range, aligned to months or not; the totals equal the ledger grouped by partner,
//! month and status (a check query); the migration fills them on an existing database; concurrent payments
//! and approvals on PostgreSQL keep them equal.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, Duration, Months, TimeZone, Utc};
use entity::commission;
use migration::MigratorTrait;
use sea_orm::{ConnectionTrait, DbBackend, EntityTrait, Statement};
use serde_json::{Value, json};

use crate::commissions::setup_dealer;
use crate::helpers::{Account, PAY, TestApp, inn, spawn_app};

const SUMMARY: &str = "query($p: ID, $f: DateTime, $t: DateTime) { commissionSummary(partnerId: $p, from: $f, to: $t) { accrued approved paid reversed total } }";
const APPROVE: &str = "mutation($ids: [ID!]!) { approveCommissions(ids: $ids) { id } }";
const PAY_OUT: &str = "mutation($ids: [ID!]!) { markCommissionsPaid(ids: $ids, payoutReference: \"PO-T\") { id } }";
const REFUND: &str =
    "mutation($p: ID!, $e: String!) { refundPayment(paymentId: $p, externalId: $e) { commissions { id status } } }";

fn month_start(t: DateTime<Utc>) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(t.year(), t.month(), 1, 0, 0, 0).unwrap()
}

fn months_back(t: DateTime<Utc>, k: u32) -> DateTime<Utc> {
    t.checked_sub_months(Months::new(k)).unwrap()
}

/// Minor units as the API writes them: "-3000.00".
fn money(minor: i64) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", minor.unsigned_abs() / 100, minor.unsigned_abs() % 100)
}

/// The summary computed straight from the ledger's rows.
fn direct_sum(
    ledger: &[commission::Model],
    partner: Option<&str>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Value {
    let mut by = std::collections::BTreeMap::<&str, i64>::new();
    for e in ledger {
        let inside = partner.is_none_or(|p| e.partner_id.to_string() == p)
            && from.is_none_or(|f| e.accrued_at >= f)
            && to.is_none_or(|t| e.accrued_at < t);
        if inside {
            *by.entry(e.status.as_str()).or_default() += e.amount_minor;
        }
    }
    let get = |s: &str| by.get(s).copied().unwrap_or(0);
    json!({
        "accrued": money(get("ACCRUED")),
        "approved": money(get("APPROVED")),
        "paid": money(get("PAID")),
        "reversed": money(get("REVERSED")),
        "total": money(by.values().sum()),
    })
}

/// The check query: the totals' non-zero rows and the ledger grouped by partner, UTC month and status.
async fn totals_and_ledger(app: &TestApp) -> (BTreeSet<String>, BTreeSet<String>) {
    let db = &app.state.db;
    let backend = db.get_database_backend();
    let month = match backend {
        DbBackend::Postgres => {
            "CAST(EXTRACT(YEAR FROM accrued_at AT TIME ZONE 'UTC') * 12 + EXTRACT(MONTH FROM accrued_at AT TIME ZONE 'UTC') - 1 AS BIGINT)"
        }
        _ => "CAST(strftime('%Y', accrued_at) AS INTEGER) * 12 + CAST(strftime('%m', accrued_at) AS INTEGER) - 1",
    };
    let read = |sql: String| async move {
        let rows = db.query_all_raw(Statement::from_string(backend, sql)).await.unwrap();
        rows.iter()
            .map(|r| {
                format!(
                    "{} {} {} {} {}",
                    r.try_get::<uuid::Uuid>("", "partner_id").unwrap(),
                    r.try_get::<i64>("", "month").unwrap(),
                    r.try_get::<String>("", "status").unwrap(),
                    r.try_get::<i64>("", "amount").unwrap(),
                    r.try_get::<i64>("", "n").unwrap(),
                )
            })
            .collect::<BTreeSet<_>>()
    };
    let totals = read(
        "SELECT partner_id, month, status, amount_minor AS amount, entries AS n FROM ledger_totals \
         WHERE entries <> 0 OR amount_minor <> 0"
            .to_owned(),
    )
    .await;
    let ledger = read(format!(
        "SELECT partner_id, {month} AS month, status, CAST(SUM(amount_minor) AS BIGINT) AS amount, COUNT(*) AS n \
         FROM commissions GROUP BY 1, 2, 3"
    ))
    .await;
    (totals, ledger)
}

/// The check query of the vendor totals: their non-zero rows, and the ledger grouped by UTC month, status
/// and the partner's slot (the last byte of its id modulo 16), summed here.
async fn vendor_totals_and_ledger(app: &TestApp) -> (BTreeSet<String>, BTreeSet<String>) {
    let db = &app.state.db;
    let backend = db.get_database_backend();
    let rows = db
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT month, status, slot, amount_minor, entries FROM ledger_vendor_totals \
             WHERE entries <> 0 OR amount_minor <> 0",
        ))
        .await
        .unwrap();
    let totals = rows
        .iter()
        .map(|r| {
            format!(
                "{} {} {} {} {}",
                r.try_get::<i64>("", "month").unwrap(),
                r.try_get::<String>("", "status").unwrap(),
                r.try_get::<i32>("", "slot").unwrap(),
                r.try_get::<i64>("", "amount_minor").unwrap(),
                r.try_get::<i64>("", "entries").unwrap(),
            )
        })
        .collect();
    let mut grouped = std::collections::BTreeMap::<(i64, String, u8), (i64, i64)>::new();
    for e in commission::Entity::find().all(db).await.unwrap() {
        let month = i64::from(e.accrued_at.year()) * 12 + i64::from(e.accrued_at.month0());
        let row = grouped.entry((month, e.status.as_str().to_owned(), e.partner_id.as_bytes()[15] % 16)).or_default();
        row.0 += e.amount_minor;
        row.1 += 1;
    }
    let ledger = grouped.into_iter().map(|((m, s, slot), (a, n))| format!("{m} {s} {slot} {a} {n}")).collect();
    (totals, ledger)
}

async fn pay_at(app: &TestApp, client: &Account, tariff: &str, amount: &str, at: DateTime<Utc>, ext: &str) -> Value {
    let r = app
        .as_(
            &app.vendor,
            PAY,
            json!({ "i": { "subscriberId": client.subscriber_id, "tariffId": tariff, "periodMonths": 1, "amount": amount, "paidAt": at.to_rfc3339(), "externalId": ext } }),
        )
        .await;
    r.ok()["recordPayment"].clone()
}

/// Two partners, three clients (each with its stop-list lock, the tariff's category being locked).
async fn world(app: &TestApp) -> (Account, Account, Vec<Account>, String) {
    let (a, client_a, tariff) = setup_dealer(app).await;
    let client_a2 = app.client_with_inn(&a, "Client A2", &inn(2)).await;
    app.lock(&a, &inn(2)).await;
    let b = app.partner("B").await;
    app.set_status(&b.subscriber_id, "1C-CONNECT", "DEALER").await;
    let client_b = app.client_with_inn(&b, "Client B", &inn(3)).await;
    app.lock(&b, &inn(3)).await;
    (a, b, vec![client_a, client_a2, client_b], tariff)
}

#[tokio::test]
async fn the_summary_from_the_totals_equals_a_direct_sum_of_the_ledger_after_mixed_operations_over_any_range() {
    let app = spawn_app().await;
    let (a, b, clients, tariff) = world(&app).await;
    let now = Utc::now();
    let m0 = month_start(now);

    // Payments over fourteen months, at the first instant of a month, inside it and at its last second.
    let mut entries = Vec::new();
    let mut payments = Vec::new();
    for k in 0..14u32 {
        let start = months_back(m0, k);
        let instants = [
            start,
            start + Duration::hours(27) + Duration::milliseconds(500),
            months_back(m0, k) + Months::new(1) - Duration::seconds(1),
        ];
        for (j, at) in instants.into_iter().enumerate() {
            if at > now - Duration::minutes(1) {
                continue;
            }
            let n = payments.len();
            let client = &clients[n % clients.len()];
            let amount = money(100_000 + 1_037 * n as i64);
            let p = pay_at(&app, client, &tariff, &amount, at, &format!("mix-{k}-{j}")).await;
            payments.push(p["id"].as_str().unwrap().to_owned());
            if let Some(c) = p["commissions"].as_array().and_then(|c| c.first()) {
                entries.push(c["id"].as_str().unwrap().to_owned());
            }
        }
    }
    assert!(entries.len() >= 36, "most payments accrue: {}", entries.len());

    // Every fifth payment is refunded: a reversing entry this month.
    let mut reversals = Vec::new();
    for (i, p) in payments.iter().enumerate().filter(|(i, _)| i % 5 == 0) {
        let r = app.as_(&app.vendor, REFUND, json!({ "p": p, "e": format!("refund-{i}") })).await;
        for c in r.ok()["refundPayment"]["commissions"].as_array().unwrap() {
            if c["status"] == "REVERSED" {
                reversals.push(c["id"].as_str().unwrap().to_owned());
            }
        }
    }
    // Two thirds approved in two batches; half of those paid out, with half of the reversals netted.
    let approved: Vec<String> =
        entries.iter().enumerate().filter(|(i, _)| i % 3 != 0).map(|(_, e)| e.clone()).collect();
    let (first, second) = approved.split_at(approved.len() / 2);
    app.as_(&app.vendor, APPROVE, json!({ "ids": first })).await.ok();
    app.as_(&app.vendor, APPROVE, json!({ "ids": second })).await.ok();
    let mut paid: Vec<String> = approved.iter().step_by(2).cloned().collect();
    paid.extend(reversals.iter().step_by(2).cloned());
    app.as_(&app.vendor, PAY_OUT, json!({ "ids": paid })).await.ok();

    let ledger = commission::Entity::find().all(&app.state.db).await.unwrap();
    assert!(
        ledger.iter().any(|e| e.status.as_str() == "REVERSED") && ledger.iter().any(|e| e.status.as_str() == "PAID")
    );
    let (totals, grouped) = totals_and_ledger(&app).await;
    assert_eq!(totals, grouped);
    let (vendor, grouped) = vendor_totals_and_ledger(&app).await;
    assert_eq!(vendor, grouped);

    let bounds = [
        None,
        Some(months_back(m0, 13)),
        Some(months_back(m0, 12) + Duration::days(10) + Duration::hours(5)),
        Some(months_back(m0, 6)),
        Some(months_back(m0, 1) + Duration::seconds(1)),
        Some(m0),
        Some(now + Duration::days(1)),
        Some(m0 + Months::new(1)),
    ];
    let callers: [(&str, Option<&str>); 3] =
        [(&app.vendor, None), (&a.token, Some(&a.subscriber_id)), (&app.vendor, Some(&b.subscriber_id))];
    for from in bounds {
        for to in bounds {
            for (token, partner) in callers {
                let r = app.as_(token, SUMMARY, json!({ "p": partner, "f": from, "t": to })).await;
                assert_eq!(
                    r.ok()["commissionSummary"],
                    direct_sum(&ledger, partner, from, to),
                    "partner {partner:?} from {from:?} to {to:?}"
                );
            }
        }
    }
}

#[tokio::test]
async fn the_migration_fills_the_totals_from_an_existing_ledger() {
    let app = spawn_app().await;
    let (_, _, clients, tariff) = world(&app).await;
    let now = Utc::now();
    let mut entries = Vec::new();
    for (n, client) in clients.iter().enumerate() {
        for k in 0..3u32 {
            let at = months_back(now, k * 5) - Duration::hours(1);
            let p = pay_at(&app, client, &tariff, "1234.56", at, &format!("old-{n}-{k}")).await;
            entries.push(p["commissions"][0]["id"].as_str().unwrap().to_owned());
        }
    }
    app.as_(&app.vendor, APPROVE, json!({ "ids": entries[..4] })).await.ok();
    app.as_(&app.vendor, PAY_OUT, json!({ "ids": entries[..2] })).await.ok();
    let (kept, _) = totals_and_ledger(&app).await;
    let (vendor_kept, _) = vendor_totals_and_ledger(&app).await;

    // The database as it was before the migrations: no totals, the migrations not applied; then migrate.
    let db = &app.state.db;
    let backend = db.get_database_backend();
    for sql in [
        "DROP TABLE ledger_vendor_totals",
        "DROP TABLE ledger_totals",
        "DELETE FROM seaql_migrations WHERE version IN ('m20261201_000015_ledger_totals', \
         'm20261202_000018_vendor_ledger_totals')",
    ] {
        db.execute_raw(Statement::from_string(backend, sql)).await.unwrap();
    }
    migration::Migrator::up(db, None).await.unwrap();

    let (totals, grouped) = totals_and_ledger(&app).await;
    assert_eq!(totals, grouped);
    assert_eq!(totals, kept, "the filled totals are the ones the service kept");
    assert!(totals.len() >= 6, "{totals:?}");
    let (vendor, grouped) = vendor_totals_and_ledger(&app).await;
    assert_eq!(vendor, grouped);
    assert_eq!(vendor, vendor_kept, "the filled vendor totals are the ones the service kept");
}

#[tokio::test]
async fn concurrent_payments_and_approvals_of_eight_partners_on_postgres_neither_deadlock_nor_lose_a_minor_unit() {
    let app = spawn_app().await;
    if app.state.db.get_database_backend() != DbBackend::Postgres {
        return;
    }
    let (a, client_a, tariff) = setup_dealer(&app).await;
    let mut clients = vec![client_a];
    let mut partners = vec![a.subscriber_id.clone()];
    for n in 0..7u32 {
        let p = app.partner(&format!("Partner {n}")).await;
        app.set_status(&p.subscriber_id, "1C-CONNECT", "DEALER").await;
        let c = app.client_with_inn(&p, &format!("Client {n}"), &inn(10 + n)).await;
        app.lock(&p, &inn(10 + n)).await;
        partners.push(p.subscriber_id);
        clients.push(c);
    }
    let slots: BTreeSet<u8> = partners.iter().map(|p| p.parse::<uuid::Uuid>().unwrap().as_bytes()[15] % 16).collect();
    let now = Utc::now();
    // One accrued entry per partner in this month and one in the last, to approve during the burst.
    let mut entries = Vec::new();
    for (n, client) in clients.iter().enumerate() {
        for k in 0..2i64 {
            let at = now - Duration::days(31 * k) - Duration::minutes(5);
            let p = pay_at(&app, client, &tariff, "1000.00", at, &format!("seed-{n}-{k}")).await;
            entries.push(p["commissions"][0]["id"].as_str().unwrap().to_owned());
        }
    }
    // At once: three payments per partner over both months, and approvals of entries of several partners
    // in one call (they lock several partners' rows and slots in one transaction).
    let mut tasks = Vec::new();
    for (n, client) in clients.iter().enumerate() {
        for k in 0..3i64 {
            let at = now - Duration::days(31 * (k % 2)) - Duration::minutes(4);
            let vars = json!({ "i": { "subscriberId": client.subscriber_id, "tariffId": tariff, "periodMonths": 1, "amount": "2000.00", "paidAt": at.to_rfc3339(), "externalId": format!("burst-{n}-{k}") } });
            tasks.push(app.spawn_gql(Some(&app.vendor), PAY, vars));
        }
    }
    for batch in entries.chunks(3) {
        tasks.push(app.spawn_gql(Some(&app.vendor), APPROVE, json!({ "ids": batch })));
    }
    for t in tasks {
        let (_, v) = t.await.unwrap();
        assert!(v.get("errors").is_none(), "{v}");
    }
    assert_eq!(app.count("commissions").await, 8 * 5);
    let (vendor, grouped) = vendor_totals_and_ledger(&app).await;
    assert_eq!(vendor, grouped);
    let ledger = commission::Entity::find().all(&app.state.db).await.unwrap();
    let r = app.as_(&app.vendor, SUMMARY, json!({})).await;
    assert_eq!(r.ok()["commissionSummary"], direct_sum(&ledger, None, None, None));
    assert_eq!(r.ok()["commissionSummary"]["approved"], money(16 * 25_000));
    assert!(slots.len() >= 2, "the partners fall into several slots: {slots:?}");
}

#[tokio::test]
async fn twenty_concurrent_payments_and_approvals_on_postgres_leave_the_totals_equal_to_the_ledger() {
    let app = spawn_app().await;
    if app.state.db.get_database_backend() != DbBackend::Postgres {
        return;
    }
    let (_, _, clients, tariff) = world(&app).await;
    let now = Utc::now();
    // Ten accrued entries, all in this month or the last, for both partners.
    let mut entries = Vec::new();
    for n in 0..10 {
        let at = now - Duration::days(20 * (n % 2)) - Duration::minutes(5);
        let p = pay_at(&app, &clients[n as usize % 3], &tariff, "1000.00", at, &format!("seed-{n}")).await;
        entries.push(p["commissions"][0]["id"].as_str().unwrap().to_owned());
    }
    // At once: ten payments into the same partner-month rows and ten approvals moving amounts out of them.
    let mut tasks = Vec::new();
    for (n, entry) in entries.iter().enumerate() {
        let at = now - Duration::days(20 * (n as i64 % 2)) - Duration::minutes(4);
        let vars = json!({ "i": { "subscriberId": clients[n % 3].subscriber_id, "tariffId": tariff, "periodMonths": 1, "amount": "2000.00", "paidAt": at.to_rfc3339(), "externalId": format!("burst-{n}") } });
        tasks.push(app.spawn_gql(Some(&app.vendor), PAY, vars));
        tasks.push(app.spawn_gql(Some(&app.vendor), APPROVE, json!({ "ids": [entry] })));
    }
    for t in tasks {
        let (_, v) = t.await.unwrap();
        assert!(v.get("errors").is_none(), "{v}");
    }
    assert_eq!(app.count("commissions").await, 20);
    let (totals, grouped) = totals_and_ledger(&app).await;
    assert_eq!(totals, grouped);
    let (vendor, grouped) = vendor_totals_and_ledger(&app).await;
    assert_eq!(vendor, grouped);
    let ledger = commission::Entity::find().all(&app.state.db).await.unwrap();
    let r = app.as_(&app.vendor, SUMMARY, json!({})).await;
    assert_eq!(r.ok()["commissionSummary"], direct_sum(&ledger, None, None, None));
    assert_eq!(r.ok()["commissionSummary"]["approved"], money(10 * 25_000));
}

#[tokio::test]
async fn a_partner_month_whose_total_would_overflow_refuses_the_payment_with_a_code_and_writes_nothing() {
    let app = spawn_app().await;
    let (_, client, tariff) = setup_dealer(&app).await;
    let at = month_start(Utc::now()) - Duration::days(3);
    // Each earns 25 % of the largest amount: the fourth pushes the partner's month past a BIGINT.
    let mut outcomes = Vec::new();
    for n in 0..5 {
        let r = app
            .as_(
                &app.vendor,
                PAY,
                json!({ "i": { "subscriberId": client.subscriber_id, "tariffId": tariff, "periodMonths": 1, "amount": "92233720368547758.07", "paidAt": at.to_rfc3339(), "externalId": format!("huge-{n}") } }),
            )
            .await;
        outcomes.push(r.outcome());
        if r.0.get("errors").is_some() {
            r.err("CONFLICT").reason_is("AMOUNT_TOO_LARGE");
        }
    }
    assert!(outcomes.iter().filter(|o| *o != "OK").count() >= 1, "{outcomes:?}");
    let (totals, grouped) = totals_and_ledger(&app).await;
    assert_eq!(totals, grouped);
    assert_eq!(app.count("payments").await, app.count("commissions").await);
}
