//! Costs that grow with the partner, not the table: the stored quarterly ranking, partner-sized pages,
//! the outbox that drains and forgets, and (on PostgreSQL) plans that touch the partner's rows only.

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{Value, json};

use crate::helpers::*;
use crate::leads::{contracts, fresh};

const RANKING: &str = "query($q: String!) { partnerRanking(programCode: \"1C-FRESH\", quarter: $q) { rank partner { name } newContracts churned } }";

fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 10, 0, 0).unwrap()
}

fn lines(r: &Gql) -> Vec<(String, i64, i64, i64)> {
    r.ok()["partnerRanking"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row: &Value| {
            (
                row["partner"]["name"].as_str().unwrap().to_owned(),
                row["rank"].as_i64().unwrap(),
                row["newContracts"].as_i64().unwrap(),
                row["churned"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn the_open_quarters_ranking_is_served_as_stored_until_the_scheduler_refreshes_it_and_a_closed_one_stays_final() {
    let app = spawn_app_at(at(2026, 7, 15)).await;
    let tariff = fresh(&app).await;
    let a = app.partner("Alpha").await;
    let b = app.partner("Bravo").await;
    contracts(&app, &a, &tariff, 1, 12).await;
    let first = app.as_(&a.token, RANKING, json!({ "q": "2026-Q3" })).await;
    assert_eq!(lines(&first), vec![("Alpha".into(), 1, 1, 0)], "computed on the first request");

    // Bravo signs two clients a minute later: requests keep reading the stored ranking…
    app.state.clock.set_to(at(2026, 7, 15) + Duration::minutes(1));
    contracts(&app, &b, &tariff, 2, 12).await;
    let stored = app.as_(&b.token, RANKING, json!({ "q": "2026-Q3" })).await;
    assert_eq!(lines(&stored), vec![("Alpha".into(), 1, 1, 0)]);
    // …until the scheduler's pass at half the served age (5 minutes by default) computes it again.
    app.state.clock.set_to(at(2026, 7, 15) + Duration::minutes(6));
    let pass = partnergraph::scheduler::tick(&app.state).await;
    assert!(pass.rankings_computed >= 1, "{pass:?}");
    let refreshed = app.as_(&b.token, RANKING, json!({ "q": "2026-Q3" })).await;
    assert_eq!(lines(&refreshed), vec![("Bravo".into(), 1, 2, 0), ("Alpha".into(), 2, 1, 0)]);

    // After the quarter closes the next pass stores its final ranking: a later ITS PROF subscription of a
    // Bravo client (which would leave it out of a fresh computation) no longer changes 2026-Q3.
    app.state.clock.set_to(at(2026, 10, 1) + Duration::hours(1));
    let pass = partnergraph::scheduler::tick(&app.state).await;
    assert!(pass.rankings_computed >= 1, "{pass:?}");
    let prof = app.tariff("FRESH-PROF", "1C-FRESH", "ITSAAS", "0.00", &[12], 0).await;
    let clients = app.as_(&b.token, "{ subscribers(kind: CLIENT, first: 10) { nodes { id } } }", json!({})).await;
    let client = clients.ok()["subscribers"]["nodes"][0]["id"].as_str().unwrap().to_owned();
    app.as_(
        &b.token,
        "mutation($s: ID!, $t: ID!) { createSubscription(subscriberId: $s, tariffId: $t, basis: ITS_PROF) { id } }",
        json!({ "s": client, "t": prof }),
    )
    .await
    .ok();
    app.state.clock.set_to(at(2027, 2, 1));
    let closed = app.as_(&app.vendor, RANKING, json!({ "q": "2026-Q3" })).await;
    assert_eq!(lines(&closed), vec![("Bravo".into(), 1, 2, 0), ("Alpha".into(), 2, 1, 0)]);
    // A quarter nobody computed yet is computed on request (and is final at once when it has closed).
    let q2 = app.as_(&app.vendor, RANKING, json!({ "q": "2026-Q2" })).await;
    assert_eq!(lines(&q2), vec![]);
}
