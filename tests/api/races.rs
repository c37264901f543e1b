//! Decisions and transitions called many times at once: exactly one of the conflicting calls wins, the
//! others get a coded answer, and what is stored matches what the callers were told. Twenty calls run
//! concurrently through the real router; on PostgreSQL they race for real (on SQLite the write queue
//! serialises them, and the same outcomes must hold).

use chrono::{DateTime, Months, Utc};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, email, inn, spawn_app};

const CALLS: usize = 20;

/// The outcome of each call: `OK`, or `CODE/REASON` of its first error.
async fn outcomes(tasks: Vec<tokio::task::JoinHandle<(axum::http::StatusCode, Value)>>) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for t in tasks {
        let (status, body) = t.await.expect("the call finishes");
        let outcome = if status == axum::http::StatusCode::OK && body.get("errors").is_none() {
            "OK".to_owned()
        } else {
            let e = &body["errors"][0]["extensions"];
            format!("{}/{}", e["code"].as_str().unwrap_or("NO_CODE"), e["reason"].as_str().unwrap_or("-"))
        };
        out.push((outcome, body));
    }
    out
}

fn wins(results: &[(String, Value)]) -> usize {
    results.iter().filter(|(o, _)| o == "OK").count()
}

fn losers_are(results: &[(String, Value)], allowed: &[&str]) {
    for (o, body) in results {
        assert!(o == "OK" || allowed.contains(&o.as_str()), "unexpected outcome {o}: {body}");
    }
}

const REQUEST: &str = "mutation($i: String!) { requestStopListLock(inn: $i) { id } }";
const DECIDE: &str =
    "mutation($id: ID!, $a: Boolean!) { decideStopListLock(id: $id, approve: $a) { status expiresAt decidedAt } }";
const EXTEND: &str = "mutation($id: ID!) { extendStopListLock(id: $id, months: 3) { expiresAt } }";
const ENTRY: &str = "query($i: String) { stopList(inn: $i) { nodes { id status expiresAt decidedAt } } }";

#[tokio::test]
async fn approving_and_rejecting_one_stop_list_request_at_once_decides_it_exactly_once() {
    let app = spawn_app().await;
    let partner = app.partner("Racing").await;
    let r = app.as_(&partner.token, REQUEST, json!({ "i": inn(41) })).await;
    let id = r.ok()["requestStopListLock"]["id"].as_str().unwrap().to_owned();

    let tasks =
        (0..CALLS).map(|i| app.spawn_gql(Some(&app.vendor), DECIDE, json!({ "id": id, "a": i % 2 == 0 }))).collect();
    let results = outcomes(tasks).await;
    assert_eq!(wins(&results), 1, "{results:?}");
    losers_are(&results, &["CONFLICT/ALREADY_DECIDED"]);

    // What is stored is what the winner was told.
    let winner = &results.iter().find(|(o, _)| o == "OK").unwrap().1["data"]["decideStopListLock"];
    let stored = app.as_(&app.vendor, ENTRY, json!({ "i": inn(41) })).await;
    let stored = &stored.ok()["stopList"]["nodes"][0];
    assert_eq!(stored["id"], id.as_str());
    assert_eq!(
        (&stored["status"], &stored["expiresAt"], &stored["decidedAt"]),
        (&winner["status"], &winner["expiresAt"], &winner["decidedAt"])
    );
}

#[tokio::test]
async fn concurrent_extensions_of_one_lock_move_it_once_for_each_extension_that_succeeded() {
    let app = spawn_app().await;
    let partner = app.partner("Extending").await;
    let id = app.lock(&partner, &inn(42)).await;
    let stored = app.as_(&app.vendor, ENTRY, json!({ "i": inn(42) })).await;
    let start: DateTime<Utc> = stored.ok()["stopList"]["nodes"][0]["expiresAt"].as_str().unwrap().parse().unwrap();

    let tasks = (0..CALLS).map(|_| app.spawn_gql(Some(&app.vendor), EXTEND, json!({ "id": id }))).collect();
    let results = outcomes(tasks).await;
    let n = wins(&results);
    assert!(n >= 1, "{results:?}");
    losers_are(&results, &["CONFLICT/LOCK_CHANGED"]);

    // Each extension that answered OK moved the lock by its three months, counted from the expiry before it.
    let mut expected = start;
    for _ in 0..n {
        expected = expected.checked_add_months(Months::new(3)).unwrap();
    }
    let stored = app.as_(&app.vendor, ENTRY, json!({ "i": inn(42) })).await;
    let end: DateTime<Utc> = stored.ok()["stopList"]["nodes"][0]["expiresAt"].as_str().unwrap().parse().unwrap();
    assert_eq!(end, expected, "{n} extensions succeeded");
    // And the winners were told expiries that are all different (no two saw the same move).
    let mut told: Vec<&str> = results
        .iter()
        .filter(|(o, _)| o == "OK")
        .map(|(_, b)| b["data"]["extendStopListLock"]["expiresAt"].as_str().unwrap())
        .collect();
    told.sort();
    told.dedup();
    assert_eq!(told.len(), n, "{results:?}");
}

const INVITE: &str = "mutation($s: ID, $e: String!) { inviteUser(input: {subscriberId: $s, email: $e, role: USER}) { token invitation { id } } }";
const REVOKE: &str = "mutation($id: ID!) { revokeInvitation(id: $id) { status } }";
const ACCEPT: &str =
    "mutation($t: String!, $p: String!) { acceptInvitation(token: $t, name: \"Racer\", password: $p) { token } }";

#[tokio::test]
async fn revoking_and_accepting_one_invitation_at_once_ends_it_exactly_once() {
    let app = spawn_app().await;
    let partner = app.partner("Inviting").await;
    let r = app.as_(&partner.token, INVITE, json!({ "s": partner.subscriber_id, "e": email("racer") })).await;
    let d = r.ok()["inviteUser"].clone();
    let (token, id) = (d["token"].as_str().unwrap().to_owned(), d["invitation"]["id"].as_str().unwrap().to_owned());
    let members_before = app.count("memberships").await;

    let tasks = (0..CALLS)
        .map(|i| {
            if i % 2 == 0 {
                app.spawn_gql(Some(&partner.token), REVOKE, json!({ "id": id }))
            } else {
                app.spawn_gql(None, ACCEPT, json!({ "t": token, "p": PASSWORD }))
            }
        })
        .collect();
    let results = outcomes(tasks).await;
    assert_eq!(wins(&results), 1, "{results:?}");
    losers_are(
        &results,
        &[
            "CONFLICT/INVITATION_ALREADY_ACCEPTED",
            "CONFLICT/INVITATION_NOT_PENDING",
            "BAD_USER_INPUT/INVITATION_INVALID",
        ],
    );

    // The stored status and the memberships agree with the one call that won.
    let accepted = results.iter().any(|(o, b)| o == "OK" && b["data"].get("acceptInvitation").is_some());
    let status = {
        use sea_orm::EntityTrait;
        entity::invitation::Entity::find_by_id(uuid::Uuid::parse_str(&id).unwrap())
            .one(&app.state.db)
            .await
            .unwrap()
            .unwrap()
            .status
    };
    if accepted {
        assert_eq!((status.as_str(), app.count("memberships").await), ("ACCEPTED", members_before + 1));
    } else {
        assert_eq!((status.as_str(), app.count("memberships").await), ("REVOKED", members_before));
    }
}

const TRIAL: &str = "mutation($s: ID!, $t: ID!) { startTrial(subscriberId: $s, tariffId: $t) { id } }";
const CANCEL: &str =
    "mutation($id: ID!, $r: ChurnReason) { cancelSubscription(id: $id, reason: $r) { churnReason cancelledAt } }";

#[tokio::test]
async fn cancelling_one_subscription_many_times_at_once_cancels_it_once() {
    let app = spawn_app().await;
    app.presets().await;
    let tariff = app.tariff("FRESH", "1C-FRESH", "ITSAAS", "1500.00", &[1], 14).await;
    let partner = app.partner("Cancelling").await;
    let client = app.client_of(&partner, "Leaving").await;
    let r = app.as_(&partner.token, TRIAL, json!({ "s": client.subscriber_id, "t": tariff })).await;
    let id = r.ok()["startTrial"]["id"].as_str().unwrap().to_owned();

    let reasons = ["PRICE", "WENT_LOCAL"];
    let tasks = (0..CALLS)
        .map(|i| app.spawn_gql(Some(&partner.token), CANCEL, json!({ "id": id, "r": reasons[i % 2] })))
        .collect();
    let results = outcomes(tasks).await;
    assert_eq!(wins(&results), 1, "{results:?}");
    losers_are(&results, &["CONFLICT/ALREADY_CANCELLED"]);
    let winner = &results.iter().find(|(o, _)| o == "OK").unwrap().1["data"]["cancelSubscription"];
    let stored = {
        use sea_orm::EntityTrait;
        entity::subscription::Entity::find_by_id(uuid::Uuid::parse_str(&id).unwrap())
            .one(&app.state.db)
            .await
            .unwrap()
            .unwrap()
    };
    assert_eq!(stored.churn_reason.map(|r| r.as_str()), winner["churnReason"].as_str());
    let told: DateTime<Utc> = winner["cancelledAt"].as_str().unwrap().parse().unwrap();
    assert_eq!(stored.cancelled_at, Some(told));
}

const SET_MEMBER: &str = "mutation($p: ID!, $m: ID!, $w: Decimal, $x: Boolean, $r: String!) { setLeadPoolMember(poolId: $p, partnerId: $m, weight: $w, excluded: $x, reason: $r) { weight excluded } }";

#[tokio::test]
async fn concurrent_changes_of_one_lead_pool_member_each_keep_what_the_others_changed() {
    use partnergraph::domain::leads::Quarter;
    let app = spawn_app().await;
    let tariff = crate::leads::fresh(&app).await;
    let first = crate::leads::eligible(&app, "First").await;
    crate::leads::contracts(&app, &first, &tariff, 1, 12).await;
    let today = app.state.clock.now().date_naive();
    let until = today + chrono::Duration::days(90);
    let pool =
        crate::leads::publish(&app, &Quarter::of(today).to_string(), &today.to_string(), &until.to_string()).await;
    let pool_id = pool["id"].as_str().unwrap().to_owned();

    // Half the calls change only the weight, half only the exclusion: in any order, both changes stay.
    let tasks = (0..CALLS)
        .map(|i| {
            let vars = if i % 2 == 0 {
                json!({ "p": pool_id, "m": first.subscriber_id, "w": "2.00", "r": format!("weight {i}") })
            } else {
                json!({ "p": pool_id, "m": first.subscriber_id, "x": true, "r": format!("excluded {i}") })
            };
            app.spawn_gql(Some(&app.vendor), SET_MEMBER, vars)
        })
        .collect();
    let results = outcomes(tasks).await;
    assert_eq!(wins(&results), CALLS, "{results:?}");
    let r = app
        .as_(&app.vendor, "{ leadPool(programCode: \"1C-FRESH\") { members { weight excluded } } }", json!({}))
        .await;
    assert_eq!(r.ok()["leadPool"]["members"], json!([{ "weight": "2.00", "excluded": true }]));
    // The history records the state each change left. Taken in turn, the changes after the first
    // weight change all keep the weight and those after the first exclusion all keep the exclusion, so
    // no history holds both "new weight, still included" and "old weight, excluded": that pair means
    // two changes read the same state and one overwrote the other.
    let history: Vec<(i32, bool)> = {
        use sea_orm::EntityTrait;
        entity::lead_pool_member_change::Entity::find()
            .all(&app.state.db)
            .await
            .unwrap()
            .into_iter()
            .map(|c| (c.weight_bp, c.excluded))
            .collect()
    };
    assert_eq!(history.len(), CALLS);
    assert!(!(history.contains(&(200, false)) && history.contains(&(100, true))), "{history:?}");
}

const CHANGE_ROLE: &str = "mutation($m: ID!, $r: Role!) { changeRole(membershipId: $m, role: $r) { role } }";
const REMOVE: &str = "mutation($m: ID!) { removeMember(membershipId: $m) }";

#[tokio::test]
async fn removing_a_member_while_its_role_changes_removes_it_once_and_never_fails_internally() {
    let app = spawn_app().await;
    let partner = app.partner("Staffing").await;
    let member = app.member(&partner.token, &partner.subscriber_id, "USER").await;
    let before = app.count("memberships").await;

    let roles = ["ADMIN", "USER"];
    let tasks = (0..CALLS)
        .map(|i| {
            if i % 2 == 0 {
                app.spawn_gql(Some(&partner.token), REMOVE, json!({ "m": member.membership_id }))
            } else {
                app.spawn_gql(
                    Some(&partner.token),
                    CHANGE_ROLE,
                    json!({ "m": member.membership_id, "r": roles[i % 4 / 2] }),
                )
            }
        })
        .collect();
    let results = outcomes(tasks).await;
    losers_are(&results, &["NOT_FOUND/-"]);
    let removals = results.iter().filter(|(o, b)| o == "OK" && b["data"].get("removeMember").is_some()).count();
    assert_eq!(removals, 1, "{results:?}");
    assert_eq!(app.count("memberships").await, before - 1);
}
