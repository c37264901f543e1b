//! `partnerRanking` in pages: a request returns at most `first` lines (default 100, at most 500) from
//! `fromRank` on, continuation covers every line once in rank order, a partner reads the pages the vendor
//! reads and finds its own line by `partnerId`, and another program's or quarter's lines never appear.
//! The stored rankings are seeded directly (hundreds of ranked partners); every read goes through the
//! router.

use chrono::{TimeZone, Utc};
use entity::enums::SubscriberKind;
use entity::{program, ranking_row, ranking_run};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Set};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::*;

const PAGE: &str = "query($p: String!, $q: String!, $first: Int, $from: Int, $partner: ID) { partnerRanking(programCode: $p, quarter: $q, first: $first, fromRank: $from, partnerId: $partner) { rank partner { id name email } newContracts churned net } }";

/// Stores a final ranking of `n` seeded partners for a program's quarter; returns their ids by rank.
pub(crate) async fn seed_ranking(app: &TestApp, program_code: &str, quarter: &str, n: usize, tag: &str) -> Vec<Uuid> {
    let db = &app.state.db;
    let program =
        program::Entity::find().filter(program::Column::Code.eq(program_code)).one(db).await.unwrap().unwrap();
    let now = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
    let ids = seed_subscribers(app, n, SubscriberKind::Partner, |_| None, None, &format!("{tag} партнёр")).await;
    let run = Uuid::now_v7();
    ranking_run::Entity::insert(ranking_run::ActiveModel {
        id: Set(run),
        program_id: Set(program.id),
        quarter: Set(quarter.to_owned()),
        computed_at: Set(Some(now)),
        closed: Set(true),
    })
    .exec_without_returning(db)
    .await
    .unwrap();
    let rows = ids.iter().enumerate().map(|(i, id)| ranking_row::ActiveModel {
        run_id: Set(run),
        position: Set(i as i32 + 1),
        partner_id: Set(*id),
        new_contracts: Set((n - i) as i64),
        churned: Set(0),
    });
    for chunk in rows.collect::<Vec<_>>().chunks(100) {
        ranking_row::Entity::insert_many(chunk.to_vec()).exec_without_returning(db).await.unwrap();
    }
    ids
}

fn lines(r: &Gql) -> Vec<Value> {
    r.ok()["partnerRanking"].as_array().unwrap().clone()
}

fn ranks_and_ids(lines: &[Value]) -> Vec<(i64, String)> {
    lines.iter().map(|l| (l["rank"].as_i64().unwrap(), l["partner"]["id"].as_str().unwrap().to_owned())).collect()
}

async fn page(app: &TestApp, token: &str, vars: Value) -> Gql {
    let mut v = json!({ "p": "1C-FRESH", "q": "2026-Q3" });
    v.as_object_mut().unwrap().extend(vars.as_object().unwrap().clone());
    app.as_(token, PAGE, v).await
}

#[tokio::test]
async fn a_ranking_request_returns_the_first_hundred_lines_unless_it_asks_for_another_page_size() {
    let app = spawn_app().await;
    app.presets().await;
    let ids = seed_ranking(&app, "1C-FRESH", "2026-Q3", 230, "fresh").await;

    let default = lines(&page(&app, &app.vendor, json!({})).await);
    assert_eq!(default.len(), 100);
    let expected: Vec<(i64, String)> =
        ids[..100].iter().enumerate().map(|(i, id)| (i as i64 + 1, id.to_string())).collect();
    assert_eq!(ranks_and_ids(&default), expected);
    assert_eq!(lines(&page(&app, &app.vendor, json!({ "first": 230 })).await).len(), 230);
    assert_eq!(lines(&page(&app, &app.vendor, json!({ "first": 7 })).await).len(), 7);
    assert_eq!(lines(&page(&app, &app.vendor, json!({ "first": 0 })).await).len(), 0);
}

#[tokio::test]
async fn following_the_pages_from_rank_one_covers_every_line_once_in_rank_order_and_only_that_program_and_quarter() {
    let app = spawn_app().await;
    app.presets().await;
    let ids = seed_ranking(&app, "1C-FRESH", "2026-Q3", 257, "fresh").await;
    // Other rankings: another program's quarter and another quarter of the same program.
    let other_program = seed_ranking(&app, "1C-CONNECT", "2026-Q3", 40, "connect").await;
    let other_quarter = seed_ranking(&app, "1C-FRESH", "2026-Q2", 40, "q2").await;

    let mut seen = Vec::new();
    let mut from = 1;
    loop {
        let got = lines(&page(&app, &app.vendor, json!({ "first": 50, "from": from })).await);
        let Some(last) = got.last() else { break };
        from = last["rank"].as_i64().unwrap() + 1;
        seen.extend(ranks_and_ids(&got));
    }
    let expected: Vec<(i64, String)> = ids.iter().enumerate().map(|(i, id)| (i as i64 + 1, id.to_string())).collect();
    assert_eq!(seen, expected, "every line once, in rank order, six pages");
    for foreign in other_program.iter().chain(&other_quarter) {
        assert!(!seen.iter().any(|(_, id)| *id == foreign.to_string()));
        // Asking for a partner of another ranking by id finds no line either.
        let r = page(&app, &app.vendor, json!({ "partner": foreign.to_string() })).await;
        assert_eq!(lines(&r), Vec::<Value>::new());
    }
    // Past the last line: an empty page.
    assert_eq!(lines(&page(&app, &app.vendor, json!({ "from": 258 })).await), Vec::<Value>::new());
}

#[tokio::test]
async fn page_sizes_above_five_hundred_below_zero_and_ranks_below_one_are_refused_with_a_code() {
    let app = spawn_app().await;
    app.presets().await;
    seed_ranking(&app, "1C-FRESH", "2026-Q3", 3, "fresh").await;
    page(&app, &app.vendor, json!({ "first": 501 })).await.err("BAD_USER_INPUT").reason_is("OUT_OF_RANGE");
    page(&app, &app.vendor, json!({ "first": 2_000_000_000 })).await.err("BAD_USER_INPUT");
    page(&app, &app.vendor, json!({ "first": -1 })).await.err("BAD_USER_INPUT");
    page(&app, &app.vendor, json!({ "from": 0 })).await.err("BAD_USER_INPUT").reason_is("OUT_OF_RANGE");
    page(&app, &app.vendor, json!({ "from": -5 })).await.err("BAD_USER_INPUT");
    page(&app, &app.vendor, json!({ "partner": "not-an-id\u{0}" })).await.err("BAD_USER_INPUT");
    assert_eq!(lines(&page(&app, &app.vendor, json!({ "first": 500 })).await).len(), 3);
}

#[tokio::test]
async fn a_partner_reads_the_pages_the_vendor_reads_and_finds_its_own_line_beyond_the_first_page() {
    let app = spawn_app().await;
    app.presets().await;
    let me = app.partner("Me").await;
    let mut ids = seed_ranking(&app, "1C-FRESH", "2026-Q3", 180, "fresh").await;
    // Put the partner at rank 150 of the stored ranking.
    let mine: Uuid = me.subscriber_id.parse().unwrap();
    ranking_row::Entity::update_many()
        .col_expr(ranking_row::Column::PartnerId, sea_orm::sea_query::Expr::value(mine))
        .filter(ranking_row::Column::PartnerId.eq(ids[149]))
        .exec(&app.state.db)
        .await
        .unwrap();
    ids[149] = mine;

    for from in [1, 101] {
        let as_vendor = lines(&page(&app, &app.vendor, json!({ "from": from })).await);
        let as_partner = lines(&page(&app, &me.token, json!({ "from": from })).await);
        assert_eq!(ranks_and_ids(&as_partner), ranks_and_ids(&as_vendor));
        // Other partners outside its reach: id and name only, as before.
        let other = as_partner.iter().find(|l| l["partner"]["id"] != me.subscriber_id.as_str()).unwrap();
        assert_eq!(other["partner"]["email"], Value::Null);
        assert!(other["partner"]["name"].as_str().unwrap().starts_with("fresh партнёр"));
    }
    let first = lines(&page(&app, &me.token, json!({})).await);
    assert!(!first.iter().any(|l| l["partner"]["id"] == me.subscriber_id.as_str()), "not on the first page");
    let own = lines(&page(&app, &me.token, json!({ "partner": me.subscriber_id })).await);
    assert_eq!(ranks_and_ids(&own), vec![(150, me.subscriber_id.clone())]);
    assert_eq!(own[0]["newContracts"], 31);
    // Another partner's id answers as an unknown id does (it reads that line on its page instead); the
    // vendor asks for any partner's line.
    let other = ids[3].to_string();
    assert_eq!(lines(&page(&app, &me.token, json!({ "partner": other })).await), Vec::<Value>::new());
    let unknown = Uuid::now_v7().to_string();
    assert_eq!(lines(&page(&app, &me.token, json!({ "partner": unknown })).await), Vec::<Value>::new());
    let by_vendor = lines(&page(&app, &app.vendor, json!({ "partner": other })).await);
    assert_eq!(ranks_and_ids(&by_vendor), vec![(4, other.clone())]);
}

#[tokio::test]
async fn a_client_still_may_not_read_the_ranking() {
    let app = spawn_app().await;
    app.presets().await;
    seed_ranking(&app, "1C-FRESH", "2026-Q3", 3, "fresh").await;
    let p = app.partner("P").await;
    let c = app.client_of(&p, "C").await;
    page(&app, &c.token, json!({ "first": 1 })).await.err("FORBIDDEN");
}
