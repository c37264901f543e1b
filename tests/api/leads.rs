//! Lead distribution: the quarterly ranking, publishing pools, and exact shares under concurrency.

use chrono::{TimeZone, Utc};
use serde_json::{Value, json};

use crate::helpers::*;

const RANKING: &str = "query($q: String!) { partnerRanking(programCode: \"1C-FRESH\", quarter: $q) { rank partner { id name } newContracts churned net } }";
const POOL: &str = "{ leadPool(programCode: \"1C-FRESH\") { id quarter validFrom validUntil members { partner { id name } rank weight excluded reason assigned } } }";
const PUBLISH: &str = "mutation($i: LeadPoolInput!) { publishLeadPool(input: $i) { id validFrom validUntil members { partner { id } rank weight assigned } } }";
const SELF_REGISTER: &str = "mutation($i: SelfRegisterInput!) { selfRegister(input: $i) { token viewer { subscriber { id servingPartner { id } bindingSource } } } }";

fn at(y: i32, m: u32, d: u32) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 10, 0, 0).unwrap()
}

/// Presets and an ITSaaS tariff of 1C:Fresh; returns the tariff id.
pub async fn fresh(app: &TestApp) -> String {
    app.presets().await;
    app.tariff("FRESH-ITS", "1C-FRESH", "ITSAAS", "1000.00", &[1, 3, 12], 30).await
}

/// A partner that meets the pool conditions: CSK, on the service desk, consultants, customisation.
pub async fn eligible(app: &TestApp, name: &str) -> Account {
    let p = app.partner(name).await;
    app.set_status(&p.subscriber_id, "1C-FRESH", "CSK").await;
    app.as_(
        &app.vendor,
        "mutation($p: ID!) { updatePartnerProfile(partnerId: $p, input: {serviceDeskConnected: true, hasConsultants: true, hasCustomizationSpecialists: true}) { id } }",
        json!({ "p": p.subscriber_id }),
    )
    .await
    .ok();
    p
}

/// `n` new clients of `partner` paying for `months` of the tariff now.
pub async fn contracts(app: &TestApp, partner: &Account, tariff: &str, n: usize, months: i32) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        let c = app.client_of(partner, &format!("Client {i} of {}", partner.email)).await;
        app.pay(&c.subscriber_id, tariff, months, "1000.00", &format!("ext-{}", uuid::Uuid::new_v4())).await.ok();
        ids.push(c.subscriber_id);
    }
    ids
}

pub async fn self_register(app: &TestApp, company: &str) -> Value {
    let r = app
        .gql(
            None,
            SELF_REGISTER,
            json!({ "i": { "companyName": company, "email": email("lead"), "name": "Lead Owner", "password": PASSWORD } }),
        )
        .await;
    r.ok()["selfRegister"]["viewer"]["subscriber"].clone()
}

pub async fn publish(app: &TestApp, quarter: &str, from: &str, until: &str) -> Value {
    let r = app
        .as_(
            &app.vendor,
            PUBLISH,
            json!({ "i": { "programCode": "1C-FRESH", "quarter": quarter, "validFrom": from, "validUntil": until } }),
        )
        .await;
    r.ok()["publishLeadPool"].clone()
}

fn assigned_by_partner(pool: &Value) -> Vec<(String, i64)> {
    pool["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["partner"]["id"].as_str().unwrap().to_owned(), m["assigned"].as_i64().unwrap()))
        .collect()
}

#[tokio::test]
async fn the_ranking_counts_new_contracts_minus_churned_and_leaves_out_its_prof_and_promotion_clients() {
    let app = spawn_app_at(at(2026, 4, 1)).await;
    let tariff = fresh(&app).await;
    let a = app.partner("Alpha").await;
    let b = app.partner("Bravo").await;
    let c = app.partner("Charlie").await;

    // Q2: Alpha's client pays 3 months from May 1st: counted new in Q2, its contract ends Aug 1st (Q3).
    app.state.clock.set_to(at(2026, 5, 1));
    contracts(&app, &a, &tariff, 1, 3).await;
    // Q3: Alpha gets two new contracts, Bravo one, plus one ITS PROF client that pays too.
    app.state.clock.set_to(at(2026, 7, 15));
    contracts(&app, &a, &tariff, 2, 12).await;
    contracts(&app, &b, &tariff, 1, 12).await;
    let prof = app.client_of(&b, "ITS PROF client").await;
    let its_prof = "FRESH-PROF-X";
    let prof_tariff = app.tariff(its_prof, "1C-FRESH", "ITSAAS", "0.00", &[12], 0).await;
    app.as_(
        &b.token,
        "mutation($s: ID!, $t: ID!) { createSubscription(subscriberId: $s, tariffId: $t, basis: ITS_PROF) { id } }",
        json!({ "s": prof.subscriber_id, "t": prof_tariff }),
    )
    .await
    .ok();
    app.pay(&prof.subscriber_id, &tariff, 12, "1000.00", "prof-pay").await.ok();
    // Charlie's only client came through its bonus promo code: promotions do not count.
    app.set_status(&c.subscriber_id, "1C-FRESH", "FRANCHISEE").await;
    let promo = app
        .as_(
            &c.token,
            "mutation { createPromoCode(input: {programCode: \"1C-FRESH\", kind: BONUS, bonus: EXTRA_USERS, months: 6}) { code } }",
            json!({}),
        )
        .await;
    let code = promo.ok()["createPromoCode"]["code"].as_str().unwrap().to_owned();
    let owner = email("promo-owner");
    let reg = app
        .gql(
            None,
            SELF_REGISTER,
            json!({ "i": { "companyName": "Promo Co", "email": owner, "name": "Owner", "password": PASSWORD } }),
        )
        .await;
    let promo_client = reg.ok()["selfRegister"]["viewer"]["subscriber"]["id"].as_str().unwrap().to_owned();
    let promo_token = reg.ok()["selfRegister"]["token"].as_str().unwrap().to_owned();
    let applied = app
        .as_(&promo_token, "mutation($c: String!) { applyPromoCode(code: $c) { bound } }", json!({ "c": code }))
        .await;
    assert_eq!(applied.ok()["applyPromoCode"]["bound"], true);
    app.pay(&promo_client, &tariff, 12, "1000.00", "promo-pay").await.ok();

    app.state.clock.set_to(at(2026, 10, 5));
    let r = app.as_(&a.token, RANKING, json!({ "q": "2026-Q3" })).await;
    let rows = r.ok()["partnerRanking"].as_array().unwrap().clone();
    let summary: Vec<(String, i64, i64, i64, i64)> = rows
        .iter()
        .map(|row| {
            (
                row["partner"]["name"].as_str().unwrap().to_owned(),
                row["rank"].as_i64().unwrap(),
                row["newContracts"].as_i64().unwrap(),
                row["churned"].as_i64().unwrap(),
                row["net"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(summary, vec![("Alpha".into(), 1, 2, 1, 1), ("Bravo".into(), 2, 1, 0, 1)]);

    // Q2 shows Alpha's first client as new.
    let q2 = app.as_(&app.vendor, RANKING, json!({ "q": "2026-Q2" })).await;
    assert_eq!(q2.ok()["partnerRanking"][0]["newContracts"], 1);
    // Clients have no business with the ranking; a malformed quarter is bad input.
    let client = app.client_of(&a, "Curious client").await;
    app.as_(&client.token, RANKING, json!({ "q": "2026-Q3" })).await.err("FORBIDDEN");
    app.as_(&a.token, RANKING, json!({ "q": "2026-3" })).await.err("BAD_USER_INPUT").reason_is("INVALID_QUARTER");
}

#[tokio::test]
async fn a_pool_takes_only_eligible_partners_and_thirty_concurrent_registrations_give_three_members_ten_each() {
    let app = spawn_app_at(at(2026, 4, 1)).await;
    let tariff = fresh(&app).await;
    app.state.clock.set_to(at(2026, 8, 1));
    let best = eligible(&app, "Best").await;
    let second = eligible(&app, "Second").await;
    let third = eligible(&app, "Third").await;
    let franchisee = app.partner("Franchisee").await;
    app.set_status(&franchisee.subscriber_id, "1C-FRESH", "FRANCHISEE").await;
    contracts(&app, &best, &tariff, 4, 12).await;
    contracts(&app, &franchisee, &tariff, 3, 12).await;
    contracts(&app, &second, &tariff, 2, 12).await;
    contracts(&app, &third, &tariff, 1, 12).await;

    app.state.clock.set_to(at(2026, 10, 2));
    let pool = publish(&app, "2026-Q3", "2026-10-01", "2027-03-31").await;
    let members: Vec<(String, i64)> = pool["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["partner"]["id"].as_str().unwrap().to_owned(), m["rank"].as_i64().unwrap()))
        .collect();
    assert_eq!(
        members,
        vec![(best.subscriber_id.clone(), 1), (second.subscriber_id.clone(), 2), (third.subscriber_id.clone(), 3)],
        "the franchisee is ranked second but is not a CSK"
    );
    assert_eq!(pool["members"][0]["weight"], "1.00");

    let handles: Vec<_> = (0..30)
        .map(|i| {
            app.spawn_gql(
                None,
                SELF_REGISTER,
                json!({ "i": { "companyName": format!("Lead {i}"), "email": email("lead"), "name": "Lead", "password": PASSWORD } }),
            )
        })
        .collect();
    let mut bound_to = std::collections::HashMap::<String, usize>::new();
    for h in handles {
        let (status, body) = h.await.unwrap();
        assert_eq!(status, 200, "{body}");
        let s = &body["data"]["selfRegister"]["viewer"]["subscriber"];
        assert_eq!(s["bindingSource"], "LEAD_DISTRIBUTION", "{body}");
        *bound_to.entry(s["servingPartner"]["id"].as_str().unwrap().to_owned()).or_default() += 1;
    }
    for p in [&best, &second, &third] {
        assert_eq!(bound_to.get(&p.subscriber_id), Some(&10));
    }
    let now = app.as_(&app.vendor, POOL, json!({})).await;
    assert_eq!(
        assigned_by_partner(&now.ok()["leadPool"]),
        vec![(best.subscriber_id.clone(), 10), (second.subscriber_id.clone(), 10), (third.subscriber_id.clone(), 10)]
    );
    // Every lead made a welcome call for its partner and a notification to its owner.
    let tasks = app
        .as_(
            &best.token,
            "{ tasks(status: OPEN, first: 100) { totalCount nodes { kind client { bindingSource } } } }",
            json!({}),
        )
        .await;
    let nodes = tasks.ok()["tasks"]["nodes"].as_array().unwrap().clone();
    let lead_calls = nodes
        .iter()
        .filter(|n| n["kind"] == "WELCOME_CALL" && n["client"]["bindingSource"] == "LEAD_DISTRIBUTION")
        .count();
    assert_eq!(lead_calls, 10);
    let n: i64 = app.count("outbox").await;
    assert!(n >= 30, "one new-lead e-mail per lead at least, got {n}");
}

#[tokio::test]
async fn weight_two_doubles_a_share_an_excluded_member_gets_none_and_the_reason_is_kept() {
    let app = spawn_app_at(at(2026, 4, 1)).await;
    let tariff = fresh(&app).await;
    app.state.clock.set_to(at(2026, 8, 1));
    let one = eligible(&app, "One").await;
    let two = eligible(&app, "Two").await;
    let three = eligible(&app, "Three").await;
    contracts(&app, &one, &tariff, 3, 12).await;
    contracts(&app, &two, &tariff, 2, 12).await;
    contracts(&app, &three, &tariff, 1, 12).await;
    app.state.clock.set_to(at(2026, 10, 2));
    let pool = publish(&app, "2026-Q3", "2026-10-01", "2027-03-31").await;
    let pool_id = pool["id"].as_str().unwrap().to_owned();
    const SET: &str = "mutation($p: ID!, $m: ID!, $w: Decimal, $x: Boolean, $r: String!) { setLeadPoolMember(poolId: $p, partnerId: $m, weight: $w, excluded: $x, reason: $r) { weight excluded reason } }";
    let r = app
        .as_(
            &app.vendor,
            SET,
            json!({ "p": pool_id, "m": one.subscriber_id, "w": "2.00", "r": "Excellent conversion" }),
        )
        .await;
    assert_eq!(r.ok()["setLeadPoolMember"]["weight"], "2.00");
    let r = app
        .as_(&app.vendor, SET, json!({ "p": pool_id, "m": three.subscriber_id, "x": true, "r": "Client complaints" }))
        .await;
    assert_eq!(r.ok()["setLeadPoolMember"]["excluded"], true);
    assert_eq!(r.ok()["setLeadPoolMember"]["reason"], "Client complaints");
    // A reason is required; partners cannot change shares; the weight is a decimal between 0 and 100.
    app.as_(&app.vendor, SET, json!({ "p": pool_id, "m": two.subscriber_id, "w": "3.00", "r": "  " }))
        .await
        .err("BAD_USER_INPUT");
    app.as_(&one.token, SET, json!({ "p": pool_id, "m": one.subscriber_id, "w": "9.00", "r": "me" }))
        .await
        .err("FORBIDDEN");
    app.as_(&app.vendor, SET, json!({ "p": pool_id, "m": two.subscriber_id, "w": "-1", "r": "x" }))
        .await
        .err("BAD_USER_INPUT");

    for i in 0..12 {
        self_register(&app, &format!("Weighted {i}")).await;
    }
    let now = app.as_(&app.vendor, POOL, json!({})).await;
    assert_eq!(
        assigned_by_partner(&now.ok()["leadPool"]),
        vec![(one.subscriber_id.clone(), 8), (two.subscriber_id.clone(), 4), (three.subscriber_id.clone(), 0)]
    );
    assert_eq!(app.count("lead_pool_member_changes").await, 2);
}

#[tokio::test]
async fn without_a_valid_pool_a_self_registered_client_stays_unbound_and_the_vendor_lists_it() {
    let app = spawn_app_at(at(2026, 4, 1)).await;
    fresh(&app).await;
    let s = self_register(&app, "Nobody's").await;
    assert_eq!(s["servingPartner"], Value::Null);
    let r = app.as_(&app.vendor, "{ unboundClients { totalCount nodes { id name } } }", json!({})).await;
    assert_eq!(r.ok()["unboundClients"]["totalCount"], 1);
    assert_eq!(r.ok()["unboundClients"]["nodes"][0]["id"], s["id"]);
    // An unknown program is bad input; a partner may not list unbound clients.
    app.gql(
        None,
        SELF_REGISTER,
        json!({ "i": { "companyName": "X", "email": email("x"), "name": "X", "password": PASSWORD, "programCode": "NOPE" } }),
    )
    .await
    .err("BAD_USER_INPUT")
    .reason_is("PROGRAM_UNKNOWN");
    let p = app.partner("Curious").await;
    app.as_(&p.token, "{ unboundClients { totalCount } }", json!({})).await.err("FORBIDDEN");
}

#[tokio::test]
async fn publishing_an_overlapping_pool_ends_the_old_one_the_day_before_and_a_pool_needs_eligible_partners() {
    let app = spawn_app_at(at(2026, 4, 1)).await;
    let tariff = fresh(&app).await;
    app.state.clock.set_to(at(2026, 8, 1));
    let p = eligible(&app, "Only").await;
    contracts(&app, &p, &tariff, 1, 12).await;
    // Nobody had contracts in Q1: no pool.
    app.as_(
        &app.vendor,
        PUBLISH,
        json!({ "i": { "programCode": "1C-FRESH", "quarter": "2026-Q1", "validFrom": "2026-10-01", "validUntil": "2026-12-31" } }),
    )
    .await
    .err("BAD_USER_INPUT")
    .reason_is("NO_ELIGIBLE_PARTNERS");
    app.as_(
        &app.vendor,
        PUBLISH,
        json!({ "i": { "programCode": "1C-FRESH", "quarter": "2026-Q3", "validFrom": "2026-12-31", "validUntil": "2026-10-01" } }),
    )
    .await
    .err("BAD_USER_INPUT");
    app.as_(
        &p.token,
        PUBLISH,
        json!({ "i": { "programCode": "1C-FRESH", "quarter": "2026-Q3", "validFrom": "2026-10-01", "validUntil": "2026-12-31" } }),
    )
    .await
    .err("FORBIDDEN");

    app.state.clock.set_to(at(2026, 10, 2));
    let first = publish(&app, "2026-Q3", "2026-10-01", "2027-06-30").await;
    let second = publish(&app, "2026-Q3", "2027-01-01", "2027-06-30").await;
    let today = app.as_(&p.token, POOL, json!({})).await;
    assert_eq!(today.ok()["leadPool"]["id"], first["id"]);
    assert_eq!(today.ok()["leadPool"]["validUntil"], "2026-12-31");
    app.state.clock.set_to(at(2027, 1, 1));
    let later = app.as_(&p.token, POOL, json!({})).await;
    assert_eq!(later.ok()["leadPool"]["id"], second["id"]);
    app.state.clock.set_to(at(2027, 7, 1));
    let after = app.as_(&p.token, POOL, json!({})).await;
    assert_eq!(after.ok()["leadPool"], Value::Null);
}

#[tokio::test]
async fn the_demo_data_has_a_lead_pool_so_a_self_registration_in_graphiql_gets_a_partner() {
    let app = spawn_app().await;
    partnergraph::service::demo::seed_demo(&app.state).await.expect("demo data");
    let s = self_register(&app, "Explorer Co").await;
    assert_eq!(s["bindingSource"], "LEAD_DISTRIBUTION");
    let partner = app
        .as_(
            &app.vendor,
            "query($id: ID!) { subscriber(id: $id) { name } }",
            json!({ "id": s["servingPartner"]["id"] }),
        )
        .await;
    assert_eq!(partner.ok()["subscriber"]["name"], "Бета Консалтинг");
}

#[tokio::test]
async fn the_ranking_leaves_out_clients_that_came_by_lead_distribution_or_a_discount_code() {
    let app = spawn_app_at(at(2026, 4, 1)).await;
    let tariff = fresh(&app).await;
    let x = eligible(&app, "Xenon").await;
    let y = app.partner("Yotta").await;
    let z = app.partner("Zeta").await;
    app.set_status(&y.subscriber_id, "1C-FRESH", "FRANCHISEE").await;
    // Q2: Xenon's contract puts it in a pool that serves Q3.
    app.state.clock.set_to(at(2026, 5, 1));
    contracts(&app, &x, &tariff, 1, 12).await;
    app.state.clock.set_to(at(2026, 7, 2));
    publish(&app, "2026-Q2", "2026-07-01", "2026-09-30").await;

    // Q3: a lead assigned to Xenon pays; Xenon also signs one client of its own.
    let lead = self_register(&app, "Lead that pays").await;
    assert_eq!(lead["bindingSource"], "LEAD_DISTRIBUTION");
    app.pay(lead["id"].as_str().unwrap(), &tariff, 12, "12000.00", "lead-pays").await.ok();
    contracts(&app, &x, &tariff, 1, 12).await;
    // Zeta's client pays with Yotta's personal discount code and moves to Yotta (DISCOUNT_PROMO).
    let zc = app.client_of(&z, "Discounted").await;
    let code = app
        .as_(
            &y.token,
            "mutation($c: ID!) { createPromoCode(input: {programCode: \"1C-FRESH\", kind: DISCOUNT, clientId: $c}) { code } }",
            json!({ "c": zc.subscriber_id }),
        )
        .await;
    let code = code.ok()["createPromoCode"]["code"].as_str().unwrap().to_owned();
    let paid = app
        .as_(
            &app.vendor,
            PAY,
            json!({ "i": { "subscriberId": zc.subscriber_id, "tariffId": tariff, "periodMonths": 12, "amount": "10800.00", "externalId": "discounted", "promoCode": code } }),
        )
        .await;
    paid.ok();
    let card = app
        .as_(
            &app.vendor,
            "query($id: ID!) { subscriber(id: $id) { bindingSource } }",
            json!({ "id": zc.subscriber_id }),
        )
        .await;
    assert_eq!(card.ok()["subscriber"]["bindingSource"], "DISCOUNT_PROMO");

    app.state.clock.set_to(at(2026, 10, 5));
    let r = app.as_(&app.vendor, RANKING, json!({ "q": "2026-Q3" })).await;
    let rows: Vec<(String, i64)> = r.ok()["partnerRanking"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| (row["partner"]["name"].as_str().unwrap().to_owned(), row["newContracts"].as_i64().unwrap()))
        .collect();
    assert_eq!(rows, vec![("Xenon".to_owned(), 1)], "the lead and the discounted client do not count");
}
