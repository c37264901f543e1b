//! HTTP load benchmark (issue: production posture): 1,000 partners, 100,000 clients, 1,000,000 payments
//! (and their ledger entries) are bulk-loaded; the real binary serves them; wrk measures throughput and
//! latency for `me`, the nested subscribers page, `commissionSummary` over a year, `recordPayment`,
//! `upsertContacts` batches of 100 through an API key, and one `upsertContact` on one connection without
//! and with an `Idempotency-Key` (the key's added latency), plus a raw axum JSON endpoint in the same run as
//! the ceiling; oha (when installed) measures the nested page at a fixed 500 requests/s; the server's peak
//! RSS is read from /proc.
//!
//! `scripts/bench-http.sh` runs it on SQLite and PostgreSQL. Sizes: `BENCH_PARTNERS`, `BENCH_CLIENTS`,
//! `BENCH_PAYMENTS`; `BENCH_SECONDS` per scenario (default 10); `BENCH_RATE_LIMIT` turns the per-client rate
//! limiter on at that rate (default 0: off); `BENCH_ONLY=text` runs only the scenarios
//! whose name contains it (and the raw endpoint). `BENCH_LOAD_ONLY=1` stops after the load
//! (`scripts/bench-peer.sh` serves the rows with partnergraph and PostGraphile itself).

mod common;

use std::process::Stdio;
use std::time::Instant;

use axum::Router;
use axum::routing::post;
use chrono::{Duration as Days, Utc};
use partnergraph::app::AppState;
use partnergraph::config::Config;
use partnergraph::domain::Role;
use partnergraph::service::{accounts, programs};
use sea_orm::{ConnectionTrait, EntityTrait};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use uuid::Uuid;

use common::{COMMISSION_COLUMNS, PAYMENT_COLUMNS, env_usize, insert_rows, rebuild_ledger_totals};

fn lua(body: &str, token: &str, unique_payment: bool) -> String {
    let body = serde_json::to_string(body).unwrap();
    let dynamic = if unique_payment {
        "counter = 0\nrequest = function()\n  counter = counter + 1\n  local b = string.gsub(wrk.body, \"EXTERNAL\", \"wrk-\" .. tostring(math.random(1, 1000000000)) .. \"-\" .. counter)\n  return wrk.format(nil, nil, nil, b)\nend\n"
    } else {
        ""
    };
    format!(
        "wrk.method = \"POST\"\nwrk.body = {body}\nwrk.headers[\"Content-Type\"] = \"application/json\"\nwrk.headers[\"Authorization\"] = \"Bearer {token}\"\n{dynamic}"
    )
}

/// A wrk script that sends every request with a fresh `Idempotency-Key` (so each one runs and is kept).
fn lua_idempotent(body: &str, token: &str) -> String {
    format!(
        "{}counter = 0\nrequest = function()\n  counter = counter + 1\n  wrk.headers[\"Idempotency-Key\"] = \"wrk-\" .. tostring(math.random(1, 1000000000)) .. \"-\" .. counter\n  return wrk.format()\nend\n",
        lua(body, token, false)
    )
}

/// POSTs one GraphQL request with curl and returns the answer's text.
async fn post_once(url: &str, token: &str, body: &str) -> String {
    let out = tokio::process::Command::new("curl")
        .args([
            "-s",
            "-X",
            "POST",
            "-H",
            "content-type: application/json",
            "-H",
            &format!("authorization: Bearer {token}"),
            "-d",
            body,
            url,
        ])
        .output()
        .await
        .expect("curl");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs wrk (2 threads, `connections` connections) and returns (requests/s, p50, p99, non-2xx) as printed.
async fn wrk(url: &str, script: &str, seconds: usize, connections: usize) -> (String, String, String, String) {
    let path = std::env::temp_dir().join(format!("bench-{}.lua", Uuid::new_v4().simple()));
    std::fs::write(&path, script).unwrap();
    let out = tokio::process::Command::new("wrk")
        .args([
            &format!("-t{}", connections.min(2)),
            &format!("-c{connections}"),
            &format!("-d{seconds}s"),
            "--latency",
            "--timeout",
            "10s",
            "-s",
            path.to_str().unwrap(),
            url,
        ])
        .output()
        .await
        .expect("wrk (apt-get install wrk)");
    let _ = std::fs::remove_file(&path);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let pick = |prefix: &str| {
        text.lines()
            .find(|l| l.trim_start().starts_with(prefix))
            .map(|l| l.split_whitespace().last().unwrap_or("").to_owned())
            .unwrap_or_default()
    };
    let non2xx =
        text.lines().find(|l| l.contains("Non-2xx")).map(|l| l.trim().to_owned()).unwrap_or_else(|| "all 2xx".into());
    (pick("Requests/sec:"), pick("50%"), pick("99%"), non2xx)
}

#[tokio::main]
async fn main() {
    let partners_n = env_usize("BENCH_PARTNERS", 1_000);
    let clients_n = env_usize("BENCH_CLIENTS", 100_000);
    let payments_n = env_usize("BENCH_PAYMENTS", 1_000_000);
    let seconds = env_usize("BENCH_SECONDS", 10);
    let (url, file) = match std::env::var("DATABASE_URL") {
        Ok(u) if u.starts_with("postgres") => (u, None),
        _ => {
            let f = std::env::temp_dir().join(format!("partnergraph-http-bench-{}.db", Uuid::new_v4().simple()));
            (format!("sqlite://{}?mode=rwc", f.display()), Some(f))
        }
    };
    let state = AppState::connect(Config::defaults(&url)).await.expect("connect");
    state.migrate().await.expect("migrate");
    println!(
        "backend {:?}: {partners_n} partners, {clients_n} clients, {payments_n} payments",
        state.db.get_database_backend()
    );
    let started = Instant::now();
    let (vendor, owner) =
        accounts::bootstrap(&state, "Bench Vendor", "bench@vendor.test", "bench-password").await.unwrap();
    programs::seed_presets(&state).await.unwrap();
    let program = entity::program::Entity::find()
        .all(&state.db)
        .await
        .unwrap()
        .into_iter()
        .find(|p| p.code == "1C-CONNECT")
        .unwrap();
    let rule = programs::live_rules(&state.db, program.id)
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.category.as_deref() == Some("DEVELOPER_SERVICES") && r.status.as_deref() == Some("AGENT"))
        .unwrap();
    let now = Utc::now();
    let tariff = Uuid::now_v7();
    insert_rows(
        &state,
        "tariffs",
        &[
            "id",
            "code",
            "name",
            "program_id",
            "category",
            "monthly_price_minor",
            "periods",
            "trial_days",
            "partner_only",
            "archived",
            "created_at",
        ],
        std::iter::once(vec![
            tariff.into(),
            "BENCH".into(),
            "Bench".into(),
            program.id.into(),
            "DEVELOPER_SERVICES".into(),
            100_000i64.into(),
            "1,12".into(),
            0.into(),
            false.into(),
            false.into(),
            now.into(),
        ]),
    )
    .await;
    let partners: Vec<Uuid> = (0..partners_n).map(|_| Uuid::now_v7()).collect();
    let sub_cols = ["id", "kind", "name", "serving_partner_id", "binding_source", "created_at", "updated_at"];
    insert_rows(
        &state,
        "subscribers",
        &sub_cols,
        partners.iter().enumerate().map(|(i, p)| {
            vec![
                (*p).into(),
                "PARTNER".into(),
                format!("Partner {i}").into(),
                Option::<Uuid>::None.into(),
                Option::<String>::None.into(),
                now.into(),
                now.into(),
            ]
        }),
    )
    .await;
    insert_rows(
        &state,
        "partner_profiles",
        &[
            "subscriber_id",
            "referral_code",
            "service_desk_connected",
            "has_consultants",
            "has_customization_specialists",
        ],
        partners
            .iter()
            .enumerate()
            .map(|(i, p)| vec![(*p).into(), format!("BENCH{i:06}").into(), false.into(), false.into(), false.into()]),
    )
    .await;
    insert_rows(
        &state,
        "partner_statuses",
        &["id", "partner_id", "program_id", "status", "updated_at"],
        partners
            .iter()
            .map(|p| vec![Uuid::now_v7().into(), (*p).into(), program.id.into(), "AGENT".into(), now.into()]),
    )
    .await;
    let clients: Vec<Uuid> = (0..clients_n).map(|_| Uuid::now_v7()).collect();
    insert_rows(
        &state,
        "subscribers",
        &sub_cols,
        clients.iter().enumerate().map(|(i, c)| {
            vec![
                (*c).into(),
                "CLIENT".into(),
                format!("Client {i}").into(),
                Some(partners[i % partners_n]).into(),
                Some("PARTNER_REGISTERED".to_owned()).into(),
                now.into(),
                now.into(),
            ]
        }),
    )
    .await;
    let subs: Vec<Uuid> = (0..clients_n).map(|_| Uuid::now_v7()).collect();
    insert_rows(
        &state,
        "subscriptions",
        &["id", "subscriber_id", "tariff_id", "basis", "starts_at", "ends_at", "created_at"],
        subs.iter().zip(&clients).map(|(s, c)| {
            vec![
                (*s).into(),
                (*c).into(),
                tariff.into(),
                "PAID".into(),
                now.into(),
                (now + Days::days(365)).into(),
                now.into(),
            ]
        }),
    )
    .await;
    let per_client = payments_n / clients_n.max(1);
    let mut pays = Vec::new();
    insert_rows(
        &state,
        "payments",
        &PAYMENT_COLUMNS,
        (0..payments_n).map(|k| {
            let c = (k / per_client.max(1)) % clients_n;
            let id = Uuid::now_v7();
            let at = now - Days::minutes((k as i64 * 53) % (2 * 365 * 24 * 60));
            pays.push((id, c, at));
            vec![
                id.into(),
                clients[c].into(),
                tariff.into(),
                subs[c].into(),
                1.into(),
                100_000i64.into(),
                "DIRECT".into(),
                at.into(),
                format!("seed-{k}").into(),
                "seed".into(),
                at.into(),
            ]
        }),
    )
    .await;
    insert_rows(
        &state,
        "commissions",
        &COMMISSION_COLUMNS,
        pays.iter().enumerate().map(|(k, (id, c, at))| {
            vec![
                Uuid::now_v7().into(),
                partners[c % partners_n].into(),
                (*id).into(),
                rule.id.into(),
                1000.into(),
                100_000i64.into(),
                10_000i64.into(),
                ["ACCRUED", "APPROVED", "PAID"][k % 3].into(),
                (*at).into(),
                (*at).into(),
            ]
        }),
    )
    .await;
    rebuild_ledger_totals(&state).await;
    state.db.execute_unprepared("ANALYZE").await.unwrap();
    println!("loaded in {:.0} s", started.elapsed().as_secs_f64());
    // scripts/bench-peer.sh loads the same rows and serves them with both servers itself.
    if std::env::var_os("BENCH_LOAD_ONLY").is_some() {
        return;
    }

    // The real binary serves the loaded database.
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_partnergraph"))
        .arg("serve")
        .env("DATABASE_URL", &url)
        .env("PARTNERGRAPH_ADDR", "127.0.0.1:0")
        // BENCH_RATE_LIMIT: the rate limiter on (at a rate no scenario reaches), to measure its cost.
        .env("PARTNERGRAPH_RATE_LIMIT", std::env::var("BENCH_RATE_LIMIT").unwrap_or_else(|_| "0".into()))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next_line().await.unwrap().unwrap();
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let addr = first.split("http://").nth(1).unwrap().trim_end_matches("/graphql").to_owned();
    let graphql = format!("http://{addr}/graphql");

    // The ceiling: a raw axum JSON endpoint in this process.
    let raw =
        Router::new().route("/raw", post(|| async { axum::Json(json!({ "data": { "me": { "role": "OWNER" } } })) }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let raw_addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, raw).await.unwrap() });

    let (token, _) =
        state.jwt.issue(owner.id, owner.token_generation, vendor.id, Role::Owner, state.clock.now()).unwrap();
    let partner = partners[partners_n / 2];
    let year = (Utc::now() - Days::days(365)).to_rfc3339();
    // An API key of the vendor (SERVICE_OPERATOR: writes the vendor's own CRM book), made over HTTP.
    let made = post_once(
        &graphql,
        &token,
        &json!({ "query": "mutation { createApiKey(input: {name: \"bench\", role: SERVICE_OPERATOR}) { secret } }" })
            .to_string(),
    )
    .await;
    let key = serde_json::from_str::<serde_json::Value>(&made).unwrap()["data"]["createApiKey"]["secret"]
        .as_str()
        .unwrap_or_else(|| panic!("createApiKey: {made}"))
        .to_owned();
    let hundred_contacts: Vec<_> = (0..100)
        .map(|i| json!({ "externalId": format!("EXTERNAL-{i}"), "name": format!("Контакт {i}"), "email": format!("c{i}@bench.test") }))
        .collect();
    let one_contact =
        json!({ "query": "mutation { upsertContact(input: {name: \"Bench\"}) { created } }" }).to_string();
    /// How wrk sends a scenario's requests.
    #[derive(Clone, Copy)]
    enum Send {
        /// The same body every time.
        Same,
        /// `EXTERNAL` replaced by a fresh value per request (unique external ids).
        UniqueExternal,
        /// The same body with a fresh `Idempotency-Key` per request.
        IdempotencyKey,
    }
    let scenarios = [
        ("raw axum JSON endpoint", format!("http://{raw_addr}/raw"), "{}".to_owned(), &token, Send::Same, 16),
        ("me", graphql.clone(), json!({ "query": "{ me { role } }" }).to_string(), &token, Send::Same, 16),
        ("nested subscribers page (first: 20)", graphql.clone(), json!({ "query": "{ subscribers(kind: CLIENT, first: 20) { nodes { name servingPartner { name } subscriptions { tariff { name } } } } }" }).to_string(), &token, Send::Same, 16),
        ("commissionSummary, one partner, a year", graphql.clone(), json!({ "query": "query($p: ID, $f: DateTime) { commissionSummary(partnerId: $p, from: $f) { total } }", "variables": { "p": partner, "f": year } }).to_string(), &token, Send::Same, 16),
        ("recordPayment", graphql.clone(), json!({ "query": "mutation($i: PaymentInput!) { recordPayment(input: $i) { id } }", "variables": { "i": { "subscriberId": clients[7], "tariffId": tariff, "periodMonths": 1, "amount": "1000.00", "externalId": "EXTERNAL" } } }).to_string(), &token, Send::UniqueExternal, 16),
        ("upsertContacts, 100 new contacts per request, API key, one connection", graphql.clone(), json!({ "query": "mutation($i: [ContactInput!]!) { upsertContacts(inputs: $i) { created } }", "variables": { "i": hundred_contacts } }).to_string(), &key, Send::UniqueExternal, 1),
        ("upsertContact, one connection, no Idempotency-Key", graphql.clone(), one_contact.clone(), &token, Send::Same, 1),
        ("upsertContact, one connection, a new Idempotency-Key each", graphql.clone(), one_contact, &token, Send::IdempotencyKey, 1),
    ];
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let mut raw_rps = 0.0;
    println!("| scenario | requests/s | p50 | p99 | errors |\n|---|---|---|---|---|");
    for (name, url, body, credential, send, connections) in scenarios {
        if !name.starts_with("raw") && !name.contains(only.as_str()) {
            continue;
        }
        // Each scenario answers without GraphQL errors before it is measured.
        let answer = post_once(&url, credential, &body.replace("EXTERNAL", "check-once")).await;
        assert!(answer.contains("\"data\"") && !answer.contains("\"errors\""), "{name}: {answer}");
        let script = match send {
            Send::Same => lua(&body, credential, false),
            Send::UniqueExternal => lua(&body, credential, true),
            Send::IdempotencyKey => lua_idempotent(&body, credential),
        };
        let (rps, p50, p99, non2xx) = wrk(&url, &script, seconds, connections).await;
        let rps_f: f64 = rps.parse().unwrap_or(0.0);
        if name.starts_with("raw") {
            raw_rps = rps_f;
        }
        let ratio = if raw_rps > 0.0 && rps_f > 0.0 && !name.starts_with("raw") && connections == 16 {
            format!(" ({:.1}× the raw cost)", raw_rps / rps_f)
        } else {
            String::new()
        };
        println!("| {name} | {rps}{ratio} | {p50} | {p99} | {non2xx} |");
    }
    // The nested page at a fixed rate, when oha is installed (cargo install oha).
    let body = json!({ "query": "{ subscribers(kind: CLIENT, first: 20) { nodes { name servingPartner { name } subscriptions { tariff { name } } } } }" }).to_string();
    let oha = if "nested subscribers page (first: 20) at 500 req/s".contains(only.as_str()) {
        tokio::process::Command::new("oha")
            .args([
                "-z",
                &format!("{seconds}s"),
                "-q",
                "500",
                "-c",
                "16",
                "--no-tui",
                "-m",
                "POST",
                "-H",
                &format!("Authorization: Bearer {token}"),
                "-T",
                "application/json",
                "-d",
                &body,
                &graphql,
            ])
            .output()
            .await
    } else {
        Err(std::io::Error::other("left out by BENCH_ONLY"))
    };
    match oha {
        Ok(out) => {
            let text = String::from_utf8_lossy(&out.stdout);
            let pick = |p: &str| {
                text.lines().find(|l| l.trim_start().starts_with(p)).map(|l| l.trim().to_owned()).unwrap_or_default()
            };
            println!(
                "nested page at 500 req/s (oha): {} | {} | {} | {}",
                pick("Requests/sec"),
                pick("50.00%"),
                pick("99.00%"),
                pick("Success rate")
            );
        }
        Err(e) => println!("no fixed-rate run: {e} (oha: cargo install oha)"),
    }
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id().unwrap())).unwrap_or_default();
    let hwm = status.lines().find(|l| l.starts_with("VmHWM")).unwrap_or("VmHWM: ?").to_owned();
    println!("server peak RSS ({hwm})");
    child.start_kill().ok();
    if let Some(f) = file {
        for s in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{s}", f.display()));
        }
    }
}
