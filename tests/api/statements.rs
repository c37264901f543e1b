//! No N+1 anywhere: every list query, asked with every relation of its nodes (and theirs), costs the same
//! number of SQL statements for a page of 10 as for a page of 100. A relation field that queried once per
//! parent row makes the second count grow by about 90 per such field.

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Value, json};

use crate::helpers::{Account, TestApp, email, inn, seed_subscribers, spawn_app_counting_with};

/// An app counting statements, whose complexity limit lets a page of 100 carry every relation (the
/// limit has its own tests).
async fn spawn() -> (TestApp, std::sync::Arc<AtomicU64>) {
    spawn_app_counting_with(|c| c.limits.max_complexity = 1_000_000).await
}

/// The statements one request costs, and its `data`.
async fn cost(app: &TestApp, statements: &AtomicU64, token: &str, query: &str, vars: Value) -> (u64, Value) {
    let before = statements.load(Ordering::Relaxed);
    let r = app.as_(token, query, vars).await;
    let after = statements.load(Ordering::Relaxed);
    (after - before, r.ok().clone())
}

/// Asks `query` (a page of `list` with `$n` rows) for 10 and for 100 rows: both pages are full, and
/// they cost the same statements. Returns that count.
async fn same_cost(app: &TestApp, statements: &AtomicU64, token: &str, list: &str, query: &str) -> u64 {
    let mut counts = Vec::new();
    for n in [10, 100] {
        let (count, data) = cost(app, statements, token, query, json!({ "n": n })).await;
        let nodes = data[list]["nodes"].as_array().unwrap_or_else(|| panic!("{list}: no nodes in {data}"));
        assert_eq!(nodes.len(), n, "{list}: a full page of {n}");
        counts.push(count);
    }
    assert!(counts[0] > 0, "{list}: the counter counts");
    assert_eq!(counts[0], counts[1], "{list}: statements for 10 rows vs 100 rows: {counts:?}");
    counts[1]
}

/// The vendor, one partner with 100 clients on a trial, each paid (a ledger entry each), invoiced, with
/// a needs assessment and a webhook delivery to the partner's endpoint; the partner's owner.
async fn partner_with_100_paying_clients(app: &TestApp) -> Account {
    app.presets().await;
    let tariff = app.tariff("FRESH", "1C-FRESH", "ITSAAS", "100.00", &[1, 12], 30).await;
    let p = app.partner("Partner").await;
    app.set_status(&p.subscriber_id, "1C-FRESH", "FRANCHISEE").await;
    app.as_(
        &p.token,
        "mutation { createWebhookEndpoint(input: {url: \"https://hooks.example.com/in\", eventTypes: [\"payment.recorded\"]}) { endpoint { id } } }",
        json!({}),
    )
    .await
    .ok();
    for i in 0..100 {
        let r = app
            .as_(
                &p.token,
                "mutation($n: String!, $o: String!) { registerClient(input: {name: $n, ownerEmail: $o}) { subscriber { id } } }",
                json!({ "n": format!("Client {i}"), "o": email("owner") }),
            )
            .await;
        let id = r.ok()["registerClient"]["subscriber"]["id"].as_str().unwrap().to_owned();
        app.as_(
            &p.token,
            "mutation($s: ID!, $t: ID!) { startTrial(subscriberId: $s, tariffId: $t) { id } }",
            json!({ "s": id, "t": tariff }),
        )
        .await
        .ok();
        app.as_(
            &p.token,
            "mutation($c: ID!, $t: ID!) { createInvoice(input: {clientId: $c, tariffId: $t, periodMonths: 1}) { id } }",
            json!({ "c": id, "t": tariff }),
        )
        .await
        .ok();
        app.as_(
            &p.token,
            "mutation($c: ID!) { saveNeedsAssessment(clientId: $c, input: {lineOfBusiness: \"Retail\"}) { id } }",
            json!({ "c": id }),
        )
        .await
        .ok();
        app.pay(&id, &tariff, 1, "100.00", &format!("pay-{i}")).await.ok();
    }
    p
}

const SUBSCRIBER_RELATIONS: &str = "name servingPartner { name partnerProfile { referralCode statuses { status program { code } } } } supportPartner { name } bindingHistory { from { name } to { name } by { email } } needsAssessment { lineOfBusiness } churnReasons { reason } members(first: 5) { totalCount nodes { role user { email } } } subscriptions { status subscriber { name } tariff { name program { code statuses categories rules { rate } } } }";

#[tokio::test]
async fn every_list_of_clients_payments_and_their_work_costs_the_same_statements_for_10_and_100_rows() {
    let (app, statements) = spawn().await;
    let p = partner_with_100_paying_clients(&app).await;
    let v = app.vendor.clone();
    let subscribers = format!(
        "query($n: Int) {{ subscribers(kind: CLIENT, first: $n) {{ totalCount nodes {{ {SUBSCRIBER_RELATIONS} }} }} }}"
    );
    for token in [&v, &p.token] {
        same_cost(&app, &statements, token, "subscribers", &subscribers).await;
    }
    let payments = "query($n: Int) { payments(first: $n) { nodes { amount subscriber { name servingPartner { name } } tariff { name program { code rules { rate } } } invoice { amount client { name } partner { name } tariff { name } } commissions { amount rate partner { name } payment { externalId } rule { rate } } } } }";
    for token in [&v, &p.token] {
        same_cost(&app, &statements, token, "payments", payments).await;
    }
    let invoices = "query($n: Int) { invoices(first: $n) { nodes { amount client { name } partner { name } tariff { name program { code } } } } }";
    let commissions = "query($n: Int) { commissions(first: $n) { nodes { amount partner { name partnerProfile { statuses { status } } } payment { externalId subscriber { name } tariff { name } commissions { amount } } rule { rate status category } } } }";
    let tasks = "query($n: Int) { tasks(first: $n) { nodes { kind client { name servingPartner { name } subscriptions { tariff { name } } needsAssessment { lineOfBusiness } } } } }";
    let not_activated = "query($n: Int) { notActivatedInvitations(first: $n) { nodes { email subscriber { name bindingHistory { to { name } } members(first: 2) { nodes { user { email } } } } } } }";
    let deliveries =
        "query($n: Int) { webhookDeliveries(first: $n) { nodes { eventType endpoint { url eventTypes } } } }";
    for token in [&v, &p.token] {
        same_cost(&app, &statements, token, "invoices", invoices).await;
        same_cost(&app, &statements, token, "commissions", commissions).await;
        same_cost(&app, &statements, token, "tasks", tasks).await;
    }
    same_cost(&app, &statements, &p.token, "notActivatedInvitations", not_activated).await;
    same_cost(&app, &statements, &p.token, "webhookDeliveries", deliveries).await;
    let invitations = "query($n: Int) { invitations(first: $n) { nodes { email role subscriber { name servingPartner { name } bindingHistory { by { email } } } } } }";
    let audit = "query($n: Int) { auditLog(first: $n) { nodes { operation actor { email } apiKey { name createdBy { email } } subscriber { name partnerProfile { referralCode } } } } }";
    let notifications = "query($n: Int) { notifications(first: $n) { nodes { to subject kind status } } }";
    same_cost(&app, &statements, &v, "invitations", invitations).await;
    same_cost(&app, &statements, &v, "auditLog", audit).await;
    same_cost(&app, &statements, &v, "notifications", notifications).await;
}

#[tokio::test]
async fn every_list_of_a_partners_own_records_costs_the_same_statements_for_10_and_100_rows() {
    let (app, statements) = spawn().await;
    app.presets().await;
    let p = app.partner("Partner").await;
    let client = app.client_of(&p, "Client").await;
    let mut contacts = Vec::new();
    let mut companies = Vec::new();
    let mut deals = Vec::new();
    for i in 0..100u32 {
        app.as_(&p.token, "mutation($i: String!) { requestStopListLock(inn: $i) { id } }", json!({ "i": inn(i + 1) }))
            .await
            .ok();
        app.as_(
            &p.token,
            "mutation($i: PromoCodeInput!) { createPromoCode(input: $i) { id } }",
            json!({ "i": { "programCode": "1C-FRESH", "kind": "DISCOUNT", "clientId": client.subscriber_id } }),
        )
        .await
        .ok();
        app.as_(
            &p.token,
            "mutation($i: ApiKeyInput!) { createApiKey(input: $i) { secret } }",
            json!({ "i": { "name": format!("key {i}"), "role": "USER" } }),
        )
        .await
        .ok();
        companies.push(json!({ "externalId": format!("co-{i}"), "name": format!("Company {i}"), "inn": inn(i + 1), "clientId": client.subscriber_id }));
        contacts.push(json!({ "externalId": format!("ct-{i}"), "name": format!("Contact {i}"), "companyExternalIds": [format!("co-{i}"), format!("co-{}", (i + 1) % 100)] }));
        deals.push(json!({ "externalId": format!("d-{i}"), "title": format!("Deal {i}"), "companyExternalId": format!("co-{i}"), "contactExternalIds": [format!("ct-{i}")] }));
    }
    for (mutation, input, rows) in [
        ("upsertCompanies", "CompanyInput", companies),
        ("upsertContacts", "ContactInput", contacts),
        ("upsertDeals", "DealInput", deals),
    ] {
        let q = format!("mutation($i: [{input}!]!) {{ {mutation}(inputs: $i) {{ created }} }}");
        app.as_(&p.token, &q, json!({ "i": rows })).await.ok();
    }
    let lists = [
        (
            "stopList",
            "query($n: Int) { stopList(first: $n) { nodes { inn status partner { name partnerProfile { statuses { status } } } } } }",
        ),
        (
            "promoCodes",
            "query($n: Int) { promoCodes(first: $n) { nodes { code uses client { name servingPartner { name } } } } }",
        ),
        ("apiKeys", "query($n: Int) { apiKeys(first: $n) { nodes { name createdBy { email } } } }"),
        (
            "contacts",
            "query($n: Int) { contacts(first: $n) { nodes { name companies { name client { name } protection { status partner { name } } contacts { name } deals { title } } deals { title company { name } contacts { name } } } } }",
        ),
        (
            "companies",
            "query($n: Int) { companies(first: $n) { nodes { name client { name } protection { status } contacts { name companies { name } } deals { title contacts { name } } } } }",
        ),
        (
            "deals",
            "query($n: Int) { deals(first: $n) { nodes { title company { name client { name } contacts { name } } contacts { name deals { title } } } } }",
        ),
    ];
    for (list, query) in lists {
        same_cost(&app, &statements, &p.token, list, query).await;
    }
    for (list, query) in &lists[..2] {
        same_cost(&app, &statements, &app.vendor, list, query).await;
    }
}

#[tokio::test]
async fn the_programs_and_the_tariff_catalogue_cost_the_same_statements_for_10_and_100_tariffs() {
    let (app, statements) = spawn().await;
    app.presets().await;
    let p = app.partner("Partner").await;
    let (bare, _) = cost(&app, &statements, &p.token, "{ programs { code } }", json!({})).await;
    let programs = "{ programs { code statuses categories rules { rate status } } }";
    let (n, data) = cost(&app, &statements, &p.token, programs, json!({})).await;
    assert_eq!(data["programs"].as_array().unwrap().len(), 3);
    assert!(data["programs"].as_array().unwrap().iter().all(|p| !p["rules"].as_array().unwrap().is_empty()));
    assert_eq!(n, bare + 3, "three programs, one statement per relation: {bare} without them, {n} with them");
    let catalogue = "{ tariffs { code program { code statuses categories rules { rate } } } }";
    let mut counts = Vec::new();
    for total in [10, 100] {
        let have = app.as_(&p.token, "{ tariffs { id } }", json!({})).await.ok()["tariffs"].as_array().unwrap().len();
        for i in have..total {
            let program = ["1C-FRESH", "1C-CONNECT", "BITRIX24"][i % 3];
            let category = ["ITSAAS", "SAAS_CORPORATE", "CLOUD"][i % 3];
            app.tariff(&format!("T{i}"), program, category, "10.00", &[1], 0).await;
        }
        let (n, data) = cost(&app, &statements, &p.token, catalogue, json!({})).await;
        assert!(data["tariffs"].as_array().unwrap().len() >= total);
        counts.push(n);
    }
    assert_eq!(counts[0], counts[1], "statements for 10 tariffs vs 100: {counts:?}");
}

/// The nested page the peer benchmark runs: each client with its serving partner, its subscriptions and
/// their tariffs.
const NESTED_PAGE: &str = "query($n: Int) { subscribers(kind: CLIENT, first: $n) { nodes { id name servingPartner { id name } subscriptions { id status tariff { id name } } } } }";

#[tokio::test]
async fn a_page_of_clients_with_partners_subscriptions_and_tariffs_costs_at_most_two_statements_for_10_and_100_rows() {
    let (app, statements) = spawn_app_counting_with(|c| {
        c.limits.max_complexity = 1_000_000;
        // The edge's membership check is what the cache serves; the tests' default turns it off.
        c.http.auth_cache_ttl = std::time::Duration::from_secs(60);
    })
    .await;
    app.presets().await;
    let monthly = app.tariff("MONTHLY", "1C-FRESH", "ITSAAS", "100.00", &[1], 30).await;
    let yearly = app.tariff("YEARLY", "1C-FRESH", "ITSAAS", "1000.00", &[12], 30).await;
    let p = app.partner("Partner").await;
    for i in 0..100 {
        let r = app
            .as_(
                &p.token,
                "mutation($n: String!, $o: String!) { registerClient(input: {name: $n, ownerEmail: $o}) { subscriber { id } } }",
                json!({ "n": format!("Client {i}"), "o": email("owner") }),
            )
            .await;
        let id = r.ok()["registerClient"]["subscriber"]["id"].as_str().unwrap().to_owned();
        // A third of the clients have no subscription: their list is empty, not missing.
        if i % 3 != 2 {
            let tariff = if i % 3 == 0 { &monthly } else { &yearly };
            app.as_(
                &p.token,
                "mutation($s: ID!, $t: ID!) { startTrial(subscriberId: $s, tariffId: $t) { id } }",
                json!({ "s": id, "t": tariff }),
            )
            .await
            .ok();
        }
    }
    for token in [&app.vendor, &p.token] {
        // The first request after the writes above checks the membership in the database and keeps it.
        app.as_(token, NESTED_PAGE, json!({ "n": 1 })).await.ok();
        for n in [10, 100] {
            let (count, data) = cost(&app, &statements, token, NESTED_PAGE, json!({ "n": n })).await;
            let nodes = data["subscribers"]["nodes"].as_array().unwrap();
            assert_eq!(nodes.len(), n, "a full page of {n}");
            assert!(nodes.iter().all(|c| c["servingPartner"]["name"] == "Partner"), "{data}");
            let subs: Vec<&Value> = nodes.iter().flat_map(|c| c["subscriptions"].as_array().unwrap()).collect();
            assert!(subs.iter().all(|s| s["status"] == "TRIAL" && s["tariff"]["name"].is_string()), "{data}");
            if n == 100 {
                assert_eq!(subs.len(), 67, "two clients in three have a subscription: {data}");
                let tariffs: std::collections::BTreeSet<&str> =
                    subs.iter().map(|s| s["tariff"]["id"].as_str().unwrap()).collect();
                assert_eq!(tariffs, [monthly.as_str(), yearly.as_str()].into(), "both tariffs: {data}");
            }
            assert!(count <= 2, "statements for a nested page of {n}: {count}");
        }
    }
}

/// `n` partners in the public directory: each with one client paying for `tariff` now.
async fn seed_directory(app: &TestApp, n: usize, tariff: uuid::Uuid, tag: &str) {
    use entity::enums::{SubscriberKind, SubscriptionBasis};
    use sea_orm::{EntityTrait, Set};
    let partners = seed_subscribers(app, n, SubscriberKind::Partner, |_| None, None, &format!("{tag} партнёр")).await;
    let clients =
        seed_subscribers(app, n, SubscriberKind::Client, |i| Some(partners[i]), None, &format!("{tag} клиент")).await;
    let now = chrono::Utc::now();
    let subscriptions: Vec<entity::subscription::ActiveModel> = clients
        .iter()
        .map(|client| entity::subscription::ActiveModel {
            id: Set(uuid::Uuid::now_v7()),
            subscriber_id: Set(*client),
            tariff_id: Set(tariff),
            basis: Set(SubscriptionBasis::Paid),
            starts_at: Set(now - chrono::Duration::days(1)),
            ends_at: Set(now + chrono::Duration::days(30)),
            cancelled_at: Set(None),
            churn_reason: Set(None),
            churn_comment: Set(None),
            created_at: Set(now),
        })
        .collect();
    entity::subscription::Entity::insert_many(subscriptions).exec_without_returning(&app.state.db).await.unwrap();
}

#[tokio::test]
async fn the_partner_directory_costs_the_same_statements_for_10_and_100_partners() {
    let (app, statements) = spawn_app_counting_with(|c| {
        c.limits.max_complexity = 1_000_000;
        c.rules.directory_min_clients = 1;
    })
    .await;
    app.presets().await;
    let tariff = app.tariff("FRESH", "1C-FRESH", "ITSAAS", "100.00", &[1, 12], 30).await;
    let tariff = uuid::Uuid::parse_str(&tariff).unwrap();
    let query = format!("{{ partnerDirectory {{ {SUBSCRIBER_RELATIONS} }} }}");
    let mut counts = Vec::new();
    for (n, more) in [(10, 10), (100, 90)] {
        seed_directory(&app, more, tariff, &format!("dir{n}")).await;
        let (count, data) = cost(&app, &statements, &app.vendor, &query, json!({})).await;
        let partners = data["partnerDirectory"].as_array().unwrap_or_else(|| panic!("no directory in {data}"));
        assert_eq!(partners.len(), n, "the directory lists every partner with a paying client");
        counts.push(count);
    }
    assert!(counts[0] > 0, "the counter counts");
    assert_eq!(counts[0], counts[1], "partnerDirectory: statements for 10 partners vs 100: {counts:?}");
}

#[tokio::test]
async fn the_ranking_unbound_and_supported_clients_cost_the_same_statements_for_10_and_100_rows() {
    let (app, statements) = spawn().await;
    app.presets().await;
    let p = app.partner("Partner").await;
    let other = app.partner("Other").await;
    let other_id = uuid::Uuid::parse_str(&other.subscriber_id).unwrap();
    let p_id = uuid::Uuid::parse_str(&p.subscriber_id).unwrap();
    let client = entity::enums::SubscriberKind::Client;
    seed_subscribers(&app, 100, client, |_| None, None, "unbound клиент").await;
    seed_subscribers(&app, 100, client, |_| Some(other_id), Some(p_id), "supported клиент").await;
    crate::ranking_pages::seed_ranking(&app, "1C-FRESH", "2026-Q3", 120, "ranked").await;

    let unbound =
        format!("query($n: Int) {{ unboundClients(first: $n) {{ totalCount nodes {{ {SUBSCRIBER_RELATIONS} }} }} }}");
    same_cost(&app, &statements, &app.vendor, "unboundClients", &unbound).await;
    let supported =
        format!("query($n: Int) {{ supportedClients(first: $n) {{ totalCount nodes {{ {SUBSCRIBER_RELATIONS} }} }} }}");
    same_cost(&app, &statements, &p.token, "supportedClients", &supported).await;

    // The ranking is a list without nodes: its lines carry the partner and every relation of it.
    let ranking = format!(
        "query($n: Int) {{ partnerRanking(programCode: \"1C-FRESH\", quarter: \"2026-Q3\", first: $n) {{ rank newContracts partner {{ {SUBSCRIBER_RELATIONS} }} }} }}"
    );
    for token in [&app.vendor, &p.token] {
        let mut counts = Vec::new();
        for n in [10, 100] {
            let (count, data) = cost(&app, &statements, token, &ranking, json!({ "n": n })).await;
            let lines = data["partnerRanking"].as_array().unwrap_or_else(|| panic!("no ranking in {data}"));
            assert_eq!(lines.len(), n, "a full page of {n} lines");
            counts.push(count);
        }
        assert!(counts[0] > 0, "the counter counts");
        assert_eq!(counts[0], counts[1], "partnerRanking: statements for 10 lines vs 100: {counts:?}");
    }
}
