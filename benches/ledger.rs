//! Ledger benchmark (issue: commerce): records 100,000 payments across 1,000 partners through the
//! service, fills the ledger to 1,000,000 rows, then times `commissionSummary` for one partner over a year
//! and over all time, through the real router (authentication and GraphQL included).
//!
//! `cargo bench --bench ledger` on SQLite (a temp file), or with `DATABASE_URL=postgres://…/db` on an
//! empty PostgreSQL database. `scripts/bench-ledger.sh` runs both. Sizes can be lowered for a quick look:
//! `BENCH_PAYMENTS`, `BENCH_LEDGER_ROWS`, `BENCH_PARTNERS`.

mod common;

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::Request;
use chrono::{Duration as Days, Utc};
use http_body_util::BodyExt;
use partnergraph::app::{AppState, router};
use partnergraph::auth::{Principal, Scope};
use partnergraph::config::Config;
use partnergraph::domain::{Email, Money, Name, PeriodMonths, Role, SubscriberKind};
use partnergraph::service::billing::{self, NewPayment};
use partnergraph::service::subscribers::{self, NewCard};
use partnergraph::service::tariffs::{self, NewTariff};
use partnergraph::service::{accounts, programs};
use sea_orm::{ConnectionTrait, EntityTrait, TransactionTrait};
use serde_json::json;
use tower::ServiceExt;
use uuid::Uuid;

use common::{COMMISSION_COLUMNS, PAYMENT_COLUMNS, env_usize, insert_into, rebuild_ledger_totals};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() {
    let partners_n = env_usize("BENCH_PARTNERS", 1_000);
    let payments_n = env_usize("BENCH_PAYMENTS", 100_000);
    let ledger_n = env_usize("BENCH_LEDGER_ROWS", 1_000_000);
    let (url, file) = match std::env::var("DATABASE_URL") {
        Ok(u) if u.starts_with("postgres") => (u, None),
        _ => {
            let f = std::env::temp_dir().join(format!("partnergraph-bench-{}.db", Uuid::new_v4().simple()));
            (format!("sqlite://{}?mode=rwc", f.display()), Some(f))
        }
    };
    let mut config = Config::defaults(&url);
    config.db.pool = 16;
    // One client sends every summary request: the per-client rate limit would answer 429.
    config.http.rate_limit = 0;
    let state = AppState::connect(config).await.expect("connect");
    state.migrate().await.expect("migrate");
    let backend = state.db.get_database_backend();
    println!("backend: {backend:?}; partners {partners_n}, payments {payments_n}, ledger rows {ledger_n}");

    // Vendor, presets, one tariff, partners with a status, one client each.
    let (vendor, owner) =
        accounts::bootstrap(&state, "Bench Vendor", "bench@vendor.test", "bench-password").await.expect("bootstrap");
    let membership = entity::membership::Entity::find().one(&state.db).await.unwrap().unwrap();
    let vendor_p = Principal::person(owner.id, membership.id, vendor.id, SubscriberKind::Vendor, Role::Owner);
    programs::seed_presets(&state).await.expect("presets");
    let tariff = tariffs::create(
        &state,
        Scope::new(&vendor_p),
        NewTariff {
            code: "BENCH".into(),
            name: "Bench".into(),
            program_code: "1C-CONNECT".into(),
            category: "SAAS_CORPORATE".into(),
            monthly_price: Money::from_minor(100_000),
            periods: vec![PeriodMonths::MONTH, PeriodMonths::YEAR],
            max_databases: None,
            max_users: None,
            max_sessions: None,
            trial_days: 0,
            partner_only: false,
        },
    )
    .await
    .expect("tariff");
    let started = Instant::now();
    let mut clients = Vec::with_capacity(partners_n);
    for i in 0..partners_n {
        let card = NewCard { name: Some(Name::parse(&format!("Partner {i}")).unwrap()), ..Default::default() };
        let reg = subscribers::create_partner(
            &state,
            Scope::new(&vendor_p),
            card,
            Email::parse(&format!("p{i}@bench.test")).unwrap(),
            Some(("1C-CONNECT".into(), Some(["AGENT", "DEALER", "INTEGRATOR"][i % 3].into()))),
        )
        .await
        .expect("partner");
        // The bench acts as the partner without signing its owner in (argon2 is not what is measured).
        let partner_p =
            Principal::person(owner.id, Uuid::nil(), reg.subscriber.id, SubscriberKind::Partner, Role::Owner);
        let card = NewCard { name: Some(Name::parse(&format!("Client {i}")).unwrap()), ..Default::default() };
        let c = subscribers::register_client(
            &state,
            Scope::new(&partner_p),
            card,
            Email::parse(&format!("c{i}@bench.test")).unwrap(),
        )
        .await
        .expect("client");
        clients.push((reg.subscriber.id, c.subscriber.id));
    }
    println!("setup: {partners_n} partners and clients in {:.1} s", started.elapsed().as_secs_f64());

    // 100,000 payments through the service (8 at a time), each in its own transaction with its accrual.
    let started = Instant::now();
    let concurrency = 8;
    let mut handles = Vec::new();
    for w in 0..concurrency {
        let state = state.clone();
        let vendor_p = vendor_p.clone();
        let clients = clients.clone();
        let tariff = tariff.id;
        handles.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            for i in (w..payments_n).step_by(concurrency) {
                let n = NewPayment {
                    subscriber: clients[i % clients.len()].1,
                    tariff,
                    period: PeriodMonths::MONTH,
                    amount: Money::from_minor(100_000 + (i as i64 % 977)),
                    paid_at: Some(Utc::now() - Days::days((i % 1000) as i64)),
                    channel: None,
                    invoice: None,
                    promo_code: None,
                    external_id: format!("bench-{i}"),
                };
                let t = Instant::now();
                billing::record_payment(&state, Scope::new(&vendor_p), n).await.expect("payment");
                latencies.push(t.elapsed());
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for h in handles {
        latencies.extend(h.await.unwrap());
    }
    latencies.sort();
    let secs = started.elapsed().as_secs_f64();
    println!(
        "recordPayment (service, {concurrency} concurrent): {payments_n} in {secs:.1} s = {:.0}/s; p50 {}, p99 {}",
        payments_n as f64 / secs,
        ms(percentile(&latencies, 0.5)),
        ms(percentile(&latencies, 0.99))
    );

    // Fill the ledger to the target with bulk rows (payments and their entries), spread over 3 years.
    let started = Instant::now();
    let existing: i64 = count(&state, "commissions").await;
    let fill = (ledger_n as i64 - existing).max(0) as usize;
    let sub_of: Vec<Uuid> = {
        let subs = entity::subscription::Entity::find().all(&state.db).await.unwrap();
        clients.iter().map(|(_, c)| subs.iter().find(|s| s.subscriber_id == *c).unwrap().id).collect()
    };
    let rule = entity::commission_rule::Entity::find().one(&state.db).await.unwrap().unwrap().id;
    let now = Utc::now();
    let batch = 500;
    let mut i = 0;
    while i < fill {
        let txn = state.db.begin().await.unwrap();
        let mut pays = insert_into("payments", &PAYMENT_COLUMNS);
        let mut entries = insert_into("commissions", &COMMISSION_COLUMNS);
        for k in i..(i + batch).min(fill) {
            let p = k % clients.len();
            let pay_id = Uuid::now_v7();
            let at = now - Days::minutes((k as i64 * 97) % (3 * 365 * 24 * 60));
            let amount = 100_000 + (k as i64 % 1000);
            pays.values_panic([
                pay_id.into(),
                clients[p].1.into(),
                tariff.id.into(),
                sub_of[p].into(),
                1.into(),
                amount.into(),
                "DIRECT".into(),
                at.into(),
                format!("fill-{k}").into(),
                "fill".into(),
                at.into(),
            ]);
            let status = ["ACCRUED", "APPROVED", "PAID"][k % 3];
            entries.values_panic([
                Uuid::now_v7().into(),
                clients[p].0.into(),
                pay_id.into(),
                rule.into(),
                2500.into(),
                amount.into(),
                (amount / 4).into(),
                status.into(),
                at.into(),
                at.into(),
            ]);
        }
        txn.execute(&pays).await.unwrap();
        txn.execute(&entries).await.unwrap();
        txn.commit().await.unwrap();
        i += batch;
    }
    rebuild_ledger_totals(&state).await;
    state.db.execute_unprepared("ANALYZE").await.unwrap();
    println!(
        "ledger filled to {} rows in {:.1} s",
        count(&state, "commissions").await,
        started.elapsed().as_secs_f64()
    );

    // commissionSummary for one partner, through the router as the vendor.
    let app = router(state.clone());
    let (token, _) =
        state.jwt.issue(owner.id, owner.token_generation, vendor.id, Role::Owner, state.clock.now()).unwrap();
    let partner = clients[partners_n / 2].0;
    let year_ago = (Utc::now() - Days::days(365)).to_rfc3339();
    for (label, vars) in [
        ("over a year", json!({ "p": partner.to_string(), "f": year_ago })),
        ("over all time", json!({ "p": partner.to_string(), "f": null })),
    ] {
        let body = json!({ "query": "query($p: ID, $f: DateTime) { commissionSummary(partnerId: $p, from: $f) { accrued approved paid reversed total } }", "variables": vars }).to_string();
        let mut times = Vec::new();
        let mut answer = String::new();
        for _ in 0..300 {
            let req = Request::post("/graphql")
                .header("content-type", "application/json")
                .header("authorization", format!("Bearer {token}"))
                .body(Body::from(body.clone()))
                .unwrap();
            let t = Instant::now();
            let resp = app.clone().oneshot(req).await.unwrap();
            let bytes = resp.into_body().collect().await.unwrap().to_bytes();
            times.push(t.elapsed());
            answer = String::from_utf8_lossy(&bytes).into_owned();
        }
        assert!(answer.contains("\"total\""), "{answer}");
        times.sort();
        println!(
            "commissionSummary {label}: p50 {}, p99 {}, max {}  ({answer})",
            ms(percentile(&times, 0.5)),
            ms(percentile(&times, 0.99)),
            ms(*times.last().unwrap())
        );
    }
    if let Some(f) = file {
        for s in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{s}", f.display()));
        }
    }
}

async fn count(state: &AppState, table: &str) -> i64 {
    let backend = state.db.get_database_backend();
    let row = state
        .db
        .query_one_raw(sea_orm::Statement::from_string(backend, format!("SELECT COUNT(*) AS n FROM {table}")))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<i64>("", "n").unwrap()
}
