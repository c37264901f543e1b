//! Local time (issue 15): the Monday digest and its day boundaries follow `PARTNERGRAPH_TIMEZONE`
//! (default Europe/Moscow, UTC+3), not UTC; a digest with nothing to report is still sent, saying so,
//! through the outbox and SMTP. The free Partner tariff follows the partner's contract: it ends at the end
//! of `contractUntil`'s last local day, extends with the contract, and ends when the contract is cleared.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use entity::subscription;
use partnergraph::domain::LocalTime;
use partnergraph::service::outbox;
use sea_orm::{ActiveModelTrait, EntityTrait, Set};
use serde_json::{Value, json};

use crate::helpers::*;
use crate::outbox::SmtpServer;

const DIGEST: &str = "query($w: Date!) { weeklyDigest(weekStart: $w) { expiring { id } created { id } } }";
const TRIAL: &str = "mutation($s: ID!, $t: ID!) { startTrial(subscriberId: $s, tariffId: $t) { id } }";

fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
}

/// Moves a subscription's end straight in the database (the windows' edges to the minute).
async fn set_end(app: &TestApp, id: &str, ends: DateTime<Utc>) {
    let row =
        subscription::Entity::find_by_id(uuid::Uuid::parse_str(id).unwrap()).one(&app.state.db).await.unwrap().unwrap();
    let mut am: subscription::ActiveModel = row.into();
    am.ends_at = Set(ends);
    am.update(&app.state.db).await.unwrap();
}

fn ids(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = v.as_array().unwrap().iter().map(|n| n["id"].as_str().unwrap().to_owned()).collect();
    out.sort();
    out
}

/// One partner with an operator and two clients on trial: one ending 30 minutes before Moscow midnight
/// at the end of the digest's fortnight, one 30 minutes after it (still Sunday in UTC). Returns the app,
/// the partner and the two subscription ids.
async fn fortnight(zone: &str) -> (TestApp, Account, String, String) {
    // Thursday 2026-11-26, 12:00 UTC.
    let app = spawn_app_full_at(utc(2026, 11, 26, 12, 0), zone).await;
    app.presets().await;
    let tariff = app.tariff("FRESH", "1C-FRESH", "ITSAAS", "1500.00", &[1, 12], 30).await;
    let p = app.partner("P").await;
    let (a, b) = (app.client_of(&p, "Before").await, app.client_of(&p, "After").await);
    let before = app.as_(&p.token, TRIAL, json!({ "s": a.subscriber_id, "t": tariff })).await.ok()["startTrial"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let after = app.as_(&p.token, TRIAL, json!({ "s": b.subscriber_id, "t": tariff })).await.ok()["startTrial"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // The fortnight of the week of Monday 2026-11-30 ends at Monday 2026-12-14 00:00 local time:
    // 2026-12-13 21:00 UTC in Moscow.
    set_end(&app, &before, utc(2026, 12, 13, 20, 30)).await;
    set_end(&app, &after, utc(2026, 12, 13, 21, 30)).await;
    (app, p, before, after)
}

/// An app in a time zone, with its clock at `at` and tokens that last two years.
async fn spawn_app_full_at(at: DateTime<Utc>, zone: &str) -> TestApp {
    let zone = LocalTime::parse(zone).unwrap();
    let mut app = spawn_app_with(move |c| {
        c.rules.local = zone;
        c.jwt.token_ttl = std::time::Duration::from_secs(2 * 366 * 24 * 3600);
    })
    .await;
    app.state.clock.set_to(at);
    app.vendor = app.login(VENDOR_EMAIL, PASSWORD).await;
    app
}

#[tokio::test]
async fn the_digests_fortnight_ends_at_moscow_midnight_and_at_utc_midnight_only_when_configured_so() {
    let (moscow, p, before, after) = fortnight("Europe/Moscow").await;
    let r = moscow.as_(&p.token, DIGEST, json!({ "w": "2026-11-30" })).await;
    assert_eq!(ids(&r.ok()["weeklyDigest"]["expiring"]), vec![before.clone()], "00:30 MSK on the Monday is outside");
    // The next week's digest has it.
    let r = moscow.as_(&p.token, DIGEST, json!({ "w": "2026-12-07" })).await;
    assert!(ids(&r.ok()["weeklyDigest"]["expiring"]).contains(&after));

    let (utc_app, p, before, after) = fortnight("UTC").await;
    let r = utc_app.as_(&p.token, DIGEST, json!({ "w": "2026-11-30" })).await;
    let mut both = vec![before, after];
    both.sort();
    assert_eq!(ids(&r.ok()["weeklyDigest"]["expiring"]), both, "in UTC both end on Sunday 13 December");
}

#[tokio::test]
async fn the_monday_digest_goes_out_from_moscow_midnight_and_says_so_when_there_is_nothing_to_report() {
    let server = SmtpServer::start().await;
    let url = server.url.clone();
    // Sunday 2026-11-29, 20:59 UTC: 23:59 in Moscow.
    let mut app = spawn_app_with(move |c| {
        c.mail.smtp_url = Some(url.into());
        c.jwt.token_ttl = std::time::Duration::from_secs(30 * 24 * 3600);
    })
    .await;
    app.state.clock.set_to(utc(2026, 11, 29, 20, 59));
    app.vendor = app.login(VENDOR_EMAIL, PASSWORD).await;
    let quiet = app.partner("Тихий партнёр").await;
    let operator = app.member(&quiet.token, &quiet.subscriber_id, "SERVICE_OPERATOR").await;
    outbox::dispatch_due(&app.state).await.unwrap();

    let report = partnergraph::scheduler::tick(&app.state).await;
    assert_eq!(report.digests_queued, 0, "still Sunday in Moscow");
    app.state.clock.set_to(utc(2026, 11, 29, 21, 0));
    let report = partnergraph::scheduler::tick(&app.state).await;
    assert_eq!(report.digests_queued, 1, "Monday 00:00 in Moscow, Sunday 21:00 in UTC");
    assert_eq!(report.emails_sent, 1);
    let got = server.received_by(&operator.email);
    assert_eq!(got.len(), 1);
    let text = got[0].data.replace("=\r\n", "");
    assert!(text.contains("2026-11-30"), "the week is Moscow's Monday: {text}");
    assert!(text.contains("Nothing to report this week"), "{text}");
    // Later passes that Monday send nothing more.
    app.state.clock.set_to(utc(2026, 11, 30, 20, 0));
    assert_eq!(partnergraph::scheduler::tick(&app.state).await.digests_queued, 0);
    assert_eq!(server.received_by(&operator.email).len(), 1);
}

#[tokio::test]
async fn in_utc_the_monday_digest_waits_for_utc_midnight() {
    let app = spawn_app_full_at(utc(2026, 11, 29, 21, 30), "UTC").await;
    let p = app.partner("P").await;
    app.member(&p.token, &p.subscriber_id, "SERVICE_OPERATOR").await;
    assert_eq!(partnergraph::scheduler::tick(&app.state).await.digests_queued, 0);
    app.state.clock.set_to(utc(2026, 11, 30, 0, 0));
    assert_eq!(partnergraph::scheduler::tick(&app.state).await.digests_queued, 1);
}

const PROFILE: &str =
    "mutation($p: ID!, $d: Date) { updatePartnerProfile(partnerId: $p, input: {contractUntil: $d}) { id } }";
const CREATE: &str = "mutation($s: ID!, $t: ID!) { createSubscription(subscriberId: $s, tariffId: $t, basis: PARTNER_FREE) { id status endsAt } }";
const SUBS: &str = "query($id: ID!) { subscriber(id: $id) { subscriptions { id basis status endsAt } } }";

async fn contract(app: &TestApp, partner: &str, until: Option<&str>) {
    app.as_(&app.vendor, PROFILE, json!({ "p": partner, "d": until })).await.ok();
}

/// The partner's free-tariff subscription: (status, endsAt).
async fn free(app: &TestApp, partner: &str) -> (String, DateTime<Utc>) {
    let r = app.as_(&app.vendor, SUBS, json!({ "id": partner })).await;
    let subs: Vec<Value> = r.ok()["subscriber"]["subscriptions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["basis"] == "PARTNER_FREE")
        .cloned()
        .collect();
    assert_eq!(subs.len(), 1, "{subs:?}");
    (subs[0]["status"].as_str().unwrap().to_owned(), subs[0]["endsAt"].as_str().unwrap().parse().unwrap())
}

/// The end of a local (Moscow) day: 21:00 UTC that day.
fn end_of(day: &str) -> DateTime<Utc> {
    NaiveDate::parse_from_str(day, "%Y-%m-%d").unwrap().and_hms_opt(21, 0, 0).unwrap().and_utc()
}

async fn free_tariff(app: &TestApp) -> String {
    let r = app.as_(&app.vendor, "{ tariffs(programCode: \"1C-FRESH\") { id code } }", json!({})).await;
    r.ok()["tariffs"].as_array().unwrap().iter().find(|t| t["code"] == "FRESH-PARTNER").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn the_free_partner_tariff_ends_with_the_contract_extends_with_it_and_ends_when_it_is_cleared() {
    let app = spawn_app_at(utc(2026, 12, 1, 9, 0)).await;
    app.presets().await;
    let tariff = free_tariff(&app).await;
    let p = app.partner("P").await;
    let q = app.partner("Q").await;
    for partner in [&p, &q] {
        contract(&app, &partner.subscriber_id, Some("2026-12-31")).await;
        app.as_(&partner.token, CREATE, json!({ "s": partner.subscriber_id, "t": tariff })).await.ok();
    }
    assert_eq!(free(&app, &p.subscriber_id).await, ("ACTIVE".to_owned(), end_of("2026-12-31")));

    // Extended: the subscription runs to the new end.
    contract(&app, &p.subscriber_id, Some("2027-06-30")).await;
    assert_eq!(free(&app, &p.subscriber_id).await, ("ACTIVE".to_owned(), end_of("2027-06-30")));
    // Q's contract is not P's.
    assert_eq!(free(&app, &q.subscriber_id).await.1, end_of("2026-12-31"));

    // The contract passes: the subscription has ended with it (a minute before and after).
    app.state.clock.set_to(end_of("2027-06-30") - Duration::minutes(1));
    assert_eq!(free(&app, &p.subscriber_id).await.0, "ACTIVE");
    app.state.clock.set_to(end_of("2027-06-30") + Duration::minutes(1));
    assert_eq!(free(&app, &p.subscriber_id).await.0, "EXPIRED");
    app.as_(&p.token, CREATE, json!({ "s": p.subscriber_id, "t": tariff }))
        .await
        .err("CONFLICT")
        .reason_is("CONTRACT_NOT_ACTIVE");
    // Renewed after it lapsed: the subscription that ended with it runs again to the new end.
    contract(&app, &p.subscriber_id, Some("2027-12-31")).await;
    assert_eq!(free(&app, &p.subscriber_id).await, ("ACTIVE".to_owned(), end_of("2027-12-31")));

    // Cleared: it ends now.
    let now = app.state.clock.now();
    contract(&app, &p.subscriber_id, None).await;
    let (status, ends) = free(&app, &p.subscriber_id).await;
    assert_eq!(status, "EXPIRED");
    assert!((ends - now).num_seconds().abs() <= 5, "{ends} vs {now}");
    app.as_(&p.token, CREATE, json!({ "s": p.subscriber_id, "t": tariff }))
        .await
        .err("CONFLICT")
        .reason_is("CONTRACT_NOT_ACTIVE");
}

#[tokio::test]
async fn a_contract_shortened_to_a_past_day_ends_the_free_tariff_at_that_day() {
    let app = spawn_app_at(utc(2026, 12, 1, 9, 0)).await;
    app.presets().await;
    let tariff = free_tariff(&app).await;
    let p = app.partner("P").await;
    contract(&app, &p.subscriber_id, Some("2027-12-31")).await;
    app.as_(&p.token, CREATE, json!({ "s": p.subscriber_id, "t": tariff })).await.ok();
    app.state.clock.set_to(utc(2027, 3, 1, 9, 0));
    contract(&app, &p.subscriber_id, Some("2027-02-15")).await;
    assert_eq!(free(&app, &p.subscriber_id).await, ("EXPIRED".to_owned(), end_of("2027-02-15")));
}
