//! The weekly digest: its two lists and their half-open boundaries, Monday only, who may read whose, and
//! `runWeeklyDigest` queuing each operator's e-mail once.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use entity::{outbox_message, subscription};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use serde_json::{Value, json};

use crate::helpers::{Account, PASSWORD, TestApp, VENDOR_EMAIL, spawn_app, spawn_app_with};

const DIGEST: &str = "query($p: ID, $w: Date!) { weeklyDigest(partnerId: $p, weekStart: $w) { partner { id } weekStart expiring { id endsAt subscriber { id } } created { id startsAt } } }";
const TRIAL: &str = "mutation($s: ID!, $t: ID!) { startTrial(subscriberId: $s, tariffId: $t) { id } }";
/// A Monday; the tests place the clock around it.
const WEEK: &str = "2026-11-02";

/// The instant `WEEK` begins in the service's default zone, Europe/Moscow (UTC+3, no daylight saving):
/// local midnight, 21:00 UTC on the Sunday before.
fn week() -> DateTime<Utc> {
    NaiveDate::parse_from_str(WEEK, "%Y-%m-%d").unwrap().and_hms_opt(0, 0, 0).unwrap().and_utc() - Duration::hours(3)
}

fn ids(v: &Value) -> Vec<String> {
    let mut ids: Vec<String> = v.as_array().unwrap().iter().map(|n| n["id"].as_str().unwrap().to_owned()).collect();
    ids.sort();
    ids
}

fn sorted(mut v: Vec<&String>) -> Vec<String> {
    v.sort();
    v.into_iter().cloned().collect()
}

/// An app whose clock starts fifteen days before `WEEK` and whose tokens last two months, so the test can
/// move time forward through the weeks without signing in again.
async fn app_before_the_week() -> TestApp {
    let mut app = spawn_app_with(|c| c.jwt.token_ttl = std::time::Duration::from_secs(60 * 24 * 3600)).await;
    app.state.clock.set_to(week() - Duration::days(15));
    app.vendor = app.login(VENDOR_EMAIL, PASSWORD).await;
    app.presets().await;
    app
}

/// Starts a 14-day trial for `client` with "now" at `at`; returns the subscription id.
async fn trial_at(app: &TestApp, partner: &Account, client: &Account, tariff: &str, at: DateTime<Utc>) -> String {
    app.state.clock.set_to(at);
    let r = app.as_(&partner.token, TRIAL, json!({ "s": client.subscriber_id, "t": tariff })).await;
    r.ok()["startTrial"]["id"].as_str().unwrap().to_owned()
}

async fn set_times(app: &TestApp, id: &str, created: Option<DateTime<Utc>>, ends: Option<DateTime<Utc>>) {
    let row =
        subscription::Entity::find_by_id(uuid::Uuid::parse_str(id).unwrap()).one(&app.state.db).await.unwrap().unwrap();
    let mut am: subscription::ActiveModel = row.into();
    if let Some(c) = created {
        am.created_at = Set(c);
    }
    if let Some(e) = ends {
        am.ends_at = Set(e);
    }
    am.update(&app.state.db).await.unwrap();
}

#[tokio::test]
async fn the_digest_lists_subscriptions_ending_in_the_next_two_weeks_and_created_in_the_last_one() {
    let app = app_before_the_week().await;
    let tariff = app.tariff("FRESH", "1C-FRESH", "ITSAAS", "1500.00", &[1, 12], 14).await;
    let partner = app.partner("P").await;
    let other = app.partner("Q").await;
    let mut clients = Vec::new();
    for i in 0..6 {
        clients.push(app.client_of(&partner, &format!("Client {i}")).await);
    }
    let foreign = app.client_of(&other, "Foreign").await;
    let w = week();
    let m = Duration::minutes(1);
    // Chronological: the clock only moves forward. Each trial ends 14 days after it starts.
    let ended_before = trial_at(&app, &partner, &clients[0], &tariff, w - Duration::days(14) - m).await;
    let cancelled = trial_at(&app, &partner, &clients[1], &tariff, w - Duration::days(14) + m).await;
    app.as_(
        &partner.token,
        "mutation($id: ID!) { cancelSubscription(id: $id, reason: PRICE) { id } }",
        json!({ "id": cancelled }),
    )
    .await
    .ok();
    let old_ending = trial_at(&app, &partner, &clients[2], &tariff, w - Duration::days(7) - m).await;
    let new_ending = trial_at(&app, &partner, &clients[3], &tariff, w - Duration::days(7) + m).await;
    let foreign_sub = trial_at(&app, &other, &foreign, &tariff, w - Duration::days(1)).await;
    let last_minute = trial_at(&app, &partner, &clients[4], &tariff, w - m).await;
    let after_week = trial_at(&app, &partner, &clients[5], &tariff, w + m).await;

    let r = app.as_(&partner.token, DIGEST, json!({ "w": WEEK })).await;
    let d = &r.ok()["weeklyDigest"];
    assert_eq!(d["partner"]["id"], partner.subscriber_id.as_str());
    assert_eq!(d["weekStart"], WEEK);
    // Ending in [W, W+14d): not the one that ended a minute before W, not the cancelled one, not the
    // one ending a minute after W+14d, and never another partner's.
    assert_eq!(ids(&d["expiring"]), sorted(vec![&old_ending, &new_ending, &last_minute]));
    // Created in [W−7d, W).
    assert_eq!(ids(&d["created"]), sorted(vec![&new_ending, &last_minute]));
    assert!(!ids(&d["expiring"]).contains(&foreign_sub) && !ids(&d["created"]).contains(&foreign_sub));
    assert!(!ids(&d["expiring"]).contains(&ended_before) && !ids(&d["expiring"]).contains(&after_week));

    // The exact edges: a start is inside, an end is outside.
    set_times(&app, &ended_before, None, Some(w)).await;
    set_times(&app, &after_week, Some(w), Some(w + Duration::days(14))).await;
    set_times(&app, &old_ending, Some(w - Duration::days(7)), None).await;
    let r = app.as_(&partner.token, DIGEST, json!({ "w": WEEK })).await;
    let d = &r.ok()["weeklyDigest"];
    assert_eq!(ids(&d["expiring"]), sorted(vec![&ended_before, &old_ending, &new_ending, &last_minute]));
    assert_eq!(ids(&d["created"]), sorted(vec![&old_ending, &new_ending, &last_minute]));

    // The vendor reads any partner's digest by naming it.
    let r = app.as_(&app.vendor, DIGEST, json!({ "p": other.subscriber_id, "w": WEEK })).await;
    assert_eq!(ids(&r.ok()["weeklyDigest"]["created"]), vec![foreign_sub]);
    app.as_(&app.vendor, DIGEST, json!({ "w": WEEK })).await.err("BAD_USER_INPUT").reason_is("REQUIRED");
}

#[tokio::test]
async fn a_week_that_does_not_start_on_a_monday_is_bad_input() {
    let app = spawn_app().await;
    let partner = app.partner("P").await;
    let r = app.as_(&partner.token, DIGEST, json!({ "w": "2026-11-03" })).await;
    r.err("BAD_USER_INPUT").reason_is("NOT_MONDAY");
    assert_eq!(r.field(), Some("weekStart"));
    let r = app.as_(&app.vendor, "mutation { runWeeklyDigest(weekStart: \"2026-11-08\") }", json!({})).await;
    r.err("BAD_USER_INPUT").reason_is("NOT_MONDAY");
}

#[tokio::test]
async fn a_partner_cannot_read_another_partners_digest_and_only_owners_and_operators_read_their_own() {
    let app = spawn_app().await;
    let p = app.partner("P").await;
    let q = app.partner("Q").await;
    let client = app.client_of(&p, "Client").await;
    app.as_(&q.token, DIGEST, json!({ "p": p.subscriber_id, "w": WEEK })).await.err("NOT_FOUND");
    // A client id is not a partner, even for the partner serving it.
    app.as_(&p.token, DIGEST, json!({ "p": client.subscriber_id, "w": WEEK })).await.err("NOT_FOUND");
    let operator = app.member(&p.token, &p.subscriber_id, "SERVICE_OPERATOR").await;
    let user = app.member(&p.token, &p.subscriber_id, "USER").await;
    app.as_(&operator.token, DIGEST, json!({ "w": WEEK })).await.ok();
    app.as_(&operator.token, DIGEST, json!({ "p": p.subscriber_id, "w": WEEK })).await.ok();
    app.as_(&user.token, DIGEST, json!({ "w": WEEK })).await.err("FORBIDDEN");
    app.as_(&client.token, DIGEST, json!({ "w": WEEK })).await.err("FORBIDDEN");
    app.as_(&p.token, "mutation { runWeeklyDigest(weekStart: \"2026-11-02\") }", json!({})).await.err("FORBIDDEN");
    app.as_(&p.token, "{ notifications { totalCount } }", json!({})).await.err("FORBIDDEN");
}

#[tokio::test]
async fn running_the_weekly_digest_twice_queues_each_operators_email_once() {
    let app = app_before_the_week().await;
    let tariff = app.tariff("FRESH", "1C-FRESH", "ITSAAS", "1500.00", &[1, 12], 14).await;
    let busy = app.partner("Busy").await;
    let quiet = app.partner("Quiet").await;
    let ops = [
        app.member(&busy.token, &busy.subscriber_id, "SERVICE_OPERATOR").await,
        app.member(&busy.token, &busy.subscriber_id, "SERVICE_OPERATOR").await,
    ];
    let quiet_op = app.member(&quiet.token, &quiet.subscriber_id, "SERVICE_OPERATOR").await;
    let client = app.client_of(&busy, "Client").await;
    trial_at(&app, &busy, &client, &tariff, week() - Duration::days(2)).await;

    let run = "mutation($w: Date!) { runWeeklyDigest(weekStart: $w) }";
    let r = app.as_(&app.vendor, run, json!({ "w": WEEK })).await;
    assert_eq!(r.ok()["runWeeklyDigest"], 3, "two operators of Busy, one of Quiet");
    let r = app.as_(&app.vendor, run, json!({ "w": WEEK })).await;
    assert_eq!(r.ok()["runWeeklyDigest"], 0);

    let digests: Vec<Value> = app.notifications().await.into_iter().filter(|n| n["kind"] == "WEEKLY_DIGEST").collect();
    assert_eq!(digests.len(), 3, "{digests:?}");
    for op in &ops {
        let mine: Vec<&Value> = digests.iter().filter(|n| n["to"] == op.email.as_str()).collect();
        assert_eq!(mine.len(), 1, "{} got {mine:?}", op.email);
        assert_eq!(mine[0]["status"], "PENDING");
        assert!(mine[0]["subject"].as_str().unwrap().contains("Busy"));
        assert!(!body_to(&app, &op.email).await.contains("Nothing to report"));
    }
    // The partner with nothing to report still gets its Monday e-mail, saying so; the partner's owner is
    // not an operator.
    let quiet_mail: Vec<&Value> = digests.iter().filter(|n| n["to"] == quiet_op.email.as_str()).collect();
    assert_eq!(quiet_mail.len(), 1, "{digests:?}");
    assert!(quiet_mail[0]["subject"].as_str().unwrap().contains("Quiet"));
    assert!(body_to(&app, &quiet_op.email).await.contains("Nothing to report this week"));
    assert!(digests.iter().all(|n| n["to"] != busy.email.as_str() && n["to"] != quiet.email.as_str()));

    // Another week is another occasion.
    let r = app.as_(&app.vendor, run, json!({ "w": "2026-11-09" })).await;
    assert_eq!(r.ok()["runWeeklyDigest"], 3);
}

/// The body of the (only) digest e-mail queued to `to`, straight from the outbox.
async fn body_to(app: &TestApp, to: &str) -> String {
    let rows = outbox_message::Entity::find()
        .filter(outbox_message::Column::ToEmail.eq(to))
        .filter(outbox_message::Column::Kind.eq("WEEKLY_DIGEST"))
        .all(&app.state.db)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "one digest e-mail to {to}");
    rows[0].body.clone()
}
