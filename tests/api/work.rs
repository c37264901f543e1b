//! The partner's work with clients: tasks and their due dates, the needs assessment, churn reasons,
//! invitations not yet activated, support codes, and the public partner directory.

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{Value, json};

use crate::helpers::*;

const TASKS: &str = "query($c: ID) { tasks(clientId: $c, first: 50) { totalCount nodes { id kind status dueAt topics outcome client { id } } } }";
const TRIAL: &str = "mutation($s: ID!, $t: ID!) { startTrial(subscriberId: $s, tariffId: $t) { id startsAt endsAt } }";

fn t0() -> DateTime<Utc> {
    // A Tuesday, so the Monday digest does not run in these passes.
    Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap()
}

fn due(v: &Value) -> DateTime<Utc> {
    v["dueAt"].as_str().unwrap().parse().unwrap()
}

async fn tasks_of(app: &TestApp, token: &str, client: &str) -> Vec<Value> {
    let r = app.as_(token, TASKS, json!({ "c": client })).await;
    r.ok()["tasks"]["nodes"].as_array().unwrap().clone()
}

fn of_kind<'a>(tasks: &'a [Value], kind: &str) -> Vec<&'a Value> {
    tasks.iter().filter(|t| t["kind"] == kind).collect()
}

/// Moves the clock and runs one scheduler pass.
async fn pass_at(app: &TestApp, at: DateTime<Utc>) -> partnergraph::scheduler::TickReport {
    app.state.clock.set_to(at);
    partnergraph::scheduler::tick(&app.state).await
}

#[tokio::test]
async fn a_registered_client_gets_a_welcome_call_due_within_a_day_with_its_topics() {
    let app = spawn_app_at(t0()).await;
    let p = app.partner("Caller").await;
    let c = app.client_of(&p, "New client").await;
    let tasks = tasks_of(&app, &p.token, &c.subscriber_id).await;
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0]["kind"], "WELCOME_CALL");
    assert_eq!(tasks[0]["status"], "OPEN");
    let card =
        app.as_(&p.token, "query($c: ID!) { subscriber(id: $c) { createdAt } }", json!({ "c": c.subscriber_id })).await;
    let registered: DateTime<Utc> = card.ok()["subscriber"]["createdAt"].as_str().unwrap().parse().unwrap();
    assert_eq!(due(&tasks[0]), registered + Duration::days(1));
    assert!(tasks[0]["topics"].as_array().unwrap().len() >= 3);
    // Another partner sees none of them, and a partner's USER may not read tasks.
    let other = app.partner("Other").await;
    assert!(tasks_of(&app, &other.token, &c.subscriber_id).await.is_empty());
    let user = app.member(&p.token, &p.subscriber_id, "USER").await;
    app.as_(&user.token, TASKS, json!({ "c": null })).await.err("FORBIDDEN");
}

#[tokio::test]
async fn a_trial_brings_a_check_in_on_day_ten_a_call_a_week_before_its_end_and_a_churn_task_once_it_ends_unpaid() {
    let app = spawn_app_at(t0()).await;
    app.presets().await;
    let tariff = app.tariff("FRESH-TRIAL", "1C-FRESH", "ITSAAS", "1000.00", &[1, 12], 30).await;
    let p = app.partner("Trials").await;
    let c = app.client_of(&p, "Trying").await;
    let trial = app.as_(&p.token, TRIAL, json!({ "s": c.subscriber_id, "t": tariff })).await;
    let ends: DateTime<Utc> = trial.ok()["startTrial"]["endsAt"].as_str().unwrap().parse().unwrap();
    let starts: DateTime<Utc> = trial.ok()["startTrial"]["startsAt"].as_str().unwrap().parse().unwrap();
    assert_eq!(ends - starts, Duration::days(30));

    // The call plan is on the partner's list from the start (docs/rules.md §9), with its due dates: the check-in
    // (10 to 14 days in, due on day 14) and the trial-ending call (a week before the end).
    let tasks = tasks_of(&app, &p.token, &c.subscriber_id).await;
    let check_in = of_kind(&tasks, "TRIAL_CHECK_IN");
    assert_eq!(check_in.len(), 1, "{tasks:?}");
    assert_eq!(due(check_in[0]), starts + Duration::days(14));
    let ending = of_kind(&tasks, "TRIAL_ENDING");
    assert_eq!(ending.len(), 1, "{tasks:?}");
    assert_eq!(due(ending[0]), ends - Duration::days(7));
    assert!(of_kind(&tasks, "CHURN_REASON").is_empty());

    // The scheduler's passes (here, or on another replica) make neither of them again.
    assert_eq!(pass_at(&app, starts + Duration::days(9)).await.tasks_created, 0);
    assert_eq!(pass_at(&app, starts + Duration::days(10) + Duration::minutes(1)).await.tasks_created, 0);
    assert_eq!(pass_at(&app, starts + Duration::days(20) + Duration::minutes(1)).await.tasks_created, 0);
    let tasks = tasks_of(&app, &p.token, &c.subscriber_id).await;
    assert_eq!(of_kind(&tasks, "TRIAL_CHECK_IN").len(), 1);
    assert_eq!(of_kind(&tasks, "TRIAL_ENDING").len(), 1);
    assert!(of_kind(&tasks, "CHURN_REASON").is_empty());

    pass_at(&app, ends + Duration::hours(1)).await;
    let tasks = tasks_of(&app, &p.token, &c.subscriber_id).await;
    let churn = of_kind(&tasks, "CHURN_REASON");
    assert_eq!(churn.len(), 1);
    assert_eq!(due(churn[0]), ends + Duration::days(3));
    assert_eq!(tasks.len(), 4, "welcome, check-in, trial ending, churn reason");
    // Listed by due date.
    let dues: Vec<DateTime<Utc>> = tasks.iter().map(due).collect();
    assert!(dues.windows(2).all(|w| w[0] <= w[1]), "{dues:?}");

    // Recording the reason completes the churn task and is kept on the card.
    let r = app
        .as_(
            &p.token,
            "mutation($c: ID!) { recordChurnReason(clientId: $c, reason: PRICE, comment: \"Too expensive for now\") { churnReasons { reason comment } } }",
            json!({ "c": c.subscriber_id }),
        )
        .await;
    assert_eq!(
        r.ok()["recordChurnReason"]["churnReasons"],
        json!([{ "reason": "PRICE", "comment": "Too expensive for now" }])
    );
    let tasks = tasks_of(&app, &p.token, &c.subscriber_id).await;
    assert_eq!(of_kind(&tasks, "CHURN_REASON")[0]["status"], "DONE");
    // The client itself may not record its churn reason; another partner cannot reach it.
    app.as_(
        &c.token,
        "mutation($c: ID!) { recordChurnReason(clientId: $c, reason: OTHER) { id } }",
        json!({ "c": c.subscriber_id }),
    )
    .await
    .err("FORBIDDEN");
    let other = app.partner("Nosy").await;
    app.as_(
        &other.token,
        "mutation($c: ID!) { recordChurnReason(clientId: $c, reason: OTHER) { id } }",
        json!({ "c": c.subscriber_id }),
    )
    .await
    .err("NOT_FOUND");
}

#[tokio::test]
async fn a_payment_during_the_trial_cancels_the_trial_ending_call_and_no_churn_task_follows() {
    let app = spawn_app_at(t0()).await;
    app.presets().await;
    let tariff = app.tariff("FRESH-PAY", "1C-FRESH", "ITSAAS", "1000.00", &[1, 12], 30).await;
    let p = app.partner("Seller").await;
    let c = app.client_of(&p, "Buyer").await;
    app.as_(&p.token, TRIAL, json!({ "s": c.subscriber_id, "t": tariff })).await.ok();
    pass_at(&app, t0() + Duration::days(21)).await;
    assert_eq!(of_kind(&tasks_of(&app, &p.token, &c.subscriber_id).await, "TRIAL_ENDING").len(), 1);
    app.pay(&c.subscriber_id, &tariff, 12, "12000.00", "trial-buyer").await.ok();
    let r = pass_at(&app, t0() + Duration::days(22)).await;
    assert_eq!(r.tasks_cancelled, 1);
    pass_at(&app, t0() + Duration::days(31)).await;
    let tasks = tasks_of(&app, &p.token, &c.subscriber_id).await;
    assert_eq!(of_kind(&tasks, "TRIAL_ENDING")[0]["status"], "CANCELLED");
    assert!(of_kind(&tasks, "CHURN_REASON").is_empty());
}

#[tokio::test]
async fn completing_a_task_needs_an_outcome_and_happens_once() {
    let app = spawn_app_at(t0()).await;
    let p = app.partner("Doer").await;
    let c = app.client_of(&p, "Called").await;
    let id = tasks_of(&app, &p.token, &c.subscriber_id).await[0]["id"].as_str().unwrap().to_owned();
    const COMPLETE: &str = "mutation($id: ID!, $o: String!) { completeTask(id: $id, outcome: $o) { status outcome } }";
    app.as_(&p.token, COMPLETE, json!({ "id": id, "o": "   " })).await.err("BAD_USER_INPUT");
    let other = app.partner("Stranger").await;
    app.as_(&other.token, COMPLETE, json!({ "id": id, "o": "done" })).await.err("NOT_FOUND");
    let r = app.as_(&p.token, COMPLETE, json!({ "id": id, "o": "Talked, trial next week" })).await;
    assert_eq!(r.ok()["completeTask"], json!({ "status": "DONE", "outcome": "Talked, trial next week" }));
    app.as_(&p.token, COMPLETE, json!({ "id": id, "o": "again" })).await.err("CONFLICT").reason_is("TASK_NOT_OPEN");
}

#[tokio::test]
async fn the_needs_assessment_is_saved_on_the_card_by_the_partner_or_the_client_and_read_back() {
    let app = spawn_app_at(t0()).await;
    let p = app.partner("Assessor").await;
    let c = app.client_of(&p, "Assessed").await;
    const SAVE: &str = "mutation($c: ID!, $i: NeedsAssessmentInput!) { saveNeedsAssessment(clientId: $c, input: $i) { needsAssessment { lineOfBusiness newCompany processesToAutomate previousSoftware needsExchange hasRemoteUsers stableInternet needsCustomization concurrentUsers whoWillWork plannedStart } } }";
    let input = json!({
        "lineOfBusiness": "Wholesale of building materials", "newCompany": false,
        "processesToAutomate": "Warehouse, invoicing", "previousSoftware": "1C:Accounting 7.7",
        "needsExchange": true, "hasRemoteUsers": true, "stableInternet": true, "needsCustomization": false,
        "concurrentUsers": 5, "whoWillWork": "Accountant and two managers", "plannedStart": "2027-01-15"
    });
    let r = app.as_(&p.token, SAVE, json!({ "c": c.subscriber_id, "i": input })).await;
    assert_eq!(r.ok()["saveNeedsAssessment"]["needsAssessment"], input);
    // The client's owner updates it; a save replaces every answer.
    let r = app.as_(&c.token, SAVE, json!({ "c": c.subscriber_id, "i": { "concurrentUsers": 7 } })).await;
    let saved = &r.ok()["saveNeedsAssessment"]["needsAssessment"];
    assert_eq!(saved["concurrentUsers"], 7);
    assert_eq!(saved["lineOfBusiness"], Value::Null);
    app.as_(&p.token, SAVE, json!({ "c": c.subscriber_id, "i": { "concurrentUsers": 0 } })).await.err("BAD_USER_INPUT");
    let other = app.partner("Outsider").await;
    app.as_(&other.token, SAVE, json!({ "c": c.subscriber_id, "i": {} })).await.err("NOT_FOUND");
    let r =
        app.as_(&other.token, "query($c: ID!) { subscriber(id: $c) { id } }", json!({ "c": c.subscriber_id })).await;
    r.err("NOT_FOUND");
}

#[tokio::test]
async fn the_partner_sees_its_clients_invitations_not_yet_activated_with_their_age() {
    let app = spawn_app_at(t0()).await;
    let p = app.partner("Inviter").await;
    let owner = email("slow-owner");
    let r = app
        .as_(
            &p.token,
            "mutation($o: String!) { registerClient(input: {name: \"Slow Co\", ownerEmail: $o}) { token subscriber { id } } }",
            json!({ "o": owner }),
        )
        .await;
    let token = r.ok()["registerClient"]["token"].as_str().unwrap().to_owned();
    let client = r.ok()["registerClient"]["subscriber"]["id"].as_str().unwrap().to_owned();
    const PENDING: &str = "{ notActivatedInvitations { totalCount nodes { email ageDays subscriber { id } } } }";
    app.state.clock.set_to(t0() + Duration::days(3) + Duration::hours(1));
    let r = app.as_(&p.token, PENDING, json!({})).await;
    assert_eq!(r.ok()["notActivatedInvitations"]["totalCount"], 1);
    assert_eq!(
        r.ok()["notActivatedInvitations"]["nodes"][0],
        json!({ "email": owner, "ageDays": 3, "subscriber": { "id": client } })
    );
    let other = app.partner("Elsewhere").await;
    let r = app.as_(&other.token, PENDING, json!({})).await;
    assert_eq!(r.ok()["notActivatedInvitations"]["totalCount"], 0);
    app.accept_new(&token, &owner).await;
    let r = app.as_(&p.token, PENDING, json!({})).await;
    assert_eq!(r.ok()["notActivatedInvitations"]["totalCount"], 0);
}

#[tokio::test]
async fn a_support_code_makes_the_partner_the_clients_support_line_once_until_the_client_switches_back() {
    let app = spawn_app_at(t0()).await;
    let serving = app.partner("Serving").await;
    let support = app.partner("Support").await;
    let c = app.client_of(&serving, "Supported").await;
    let issue = app
        .as_(&support.token, "mutation($c: ID) { issueSupportCode(clientId: $c) }", json!({ "c": c.subscriber_id }))
        .await;
    let code = issue.ok()["issueSupportCode"].as_str().unwrap().to_owned();
    const ACTIVATE: &str =
        "mutation($c: String!) { activateSupportCode(code: $c) { supportPartner { id } servingPartner { id } } }";
    // A client's USER may not; the owner may (the code is case- and dash-insensitive).
    let user = app.member(&c.token, &c.subscriber_id, "USER").await;
    app.as_(&user.token, ACTIVATE, json!({ "c": code })).await.err("FORBIDDEN");
    let r = app.as_(&c.token, ACTIVATE, json!({ "c": code.to_lowercase().replace('-', "") })).await;
    assert_eq!(r.ok()["activateSupportCode"]["supportPartner"]["id"], support.subscriber_id.as_str());
    assert_eq!(r.ok()["activateSupportCode"]["servingPartner"]["id"], serving.subscriber_id.as_str());
    app.as_(&c.token, ACTIVATE, json!({ "c": code })).await.err("BAD_USER_INPUT").reason_is("SUPPORT_CODE_INVALID");
    let listed = app.as_(&support.token, "{ supportedClients { totalCount nodes { id name } } }", json!({})).await;
    assert_eq!(listed.ok()["supportedClients"]["nodes"][0]["id"], c.subscriber_id.as_str());

    // A code for another client, and an expired one, are refused alike.
    let other_client = app.client_of(&serving, "Not this one").await;
    let foreign = app
        .as_(
            &support.token,
            "mutation($c: ID) { issueSupportCode(clientId: $c) }",
            json!({ "c": other_client.subscriber_id }),
        )
        .await;
    let foreign = foreign.ok()["issueSupportCode"].as_str().unwrap().to_owned();
    app.as_(&c.token, ACTIVATE, json!({ "c": foreign })).await.reason_is("SUPPORT_CODE_INVALID");
    let open = app.as_(&support.token, "mutation { issueSupportCode }", json!({})).await;
    let open = open.ok()["issueSupportCode"].as_str().unwrap().to_owned();
    app.state.clock.advance(Duration::days(8));
    app.as_(&c.token, ACTIVATE, json!({ "c": open })).await.reason_is("SUPPORT_CODE_INVALID");

    let r = app.as_(&c.token, "mutation { endSupportLine { supportPartner { id } } }", json!({})).await;
    assert_eq!(r.ok()["endSupportLine"]["supportPartner"], Value::Null);
    let listed = app.as_(&support.token, "{ supportedClients { totalCount } }", json!({})).await;
    assert_eq!(listed.ok()["supportedClients"]["totalCount"], 0);
}

#[tokio::test]
async fn the_public_directory_lists_partners_with_ten_paying_clients_and_shows_anonymous_callers_contacts_only() {
    let app = spawn_app_at(t0()).await;
    app.presets().await;
    let tariff = app.tariff("DIR", "1C-FRESH", "ITSAAS", "100.00", &[12], 0).await;
    let big = app.partner("Big partner").await;
    let small = app.partner("Small partner").await;
    for (p, n) in [(&big, 10), (&small, 9)] {
        for i in 0..n {
            let c = app.client_of(p, &format!("Payer {i}")).await;
            app.pay(&c.subscriber_id, &tariff, 12, "1200.00", &format!("dir-{}", uuid::Uuid::new_v4())).await.ok();
        }
    }
    app.as_(
        &app.vendor,
        "mutation($id: ID!, $i: String!) { updateSubscriber(id: $id, input: {email: \"sales@big.test\", inn: $i}) { id } }",
        json!({ "id": big.subscriber_id, "i": inn(42) }),
    )
    .await
    .ok();
    let r =
        app.gql(None, "{ partnerDirectory { id name email inn partnerProfile { referralCode } } }", json!({})).await;
    let list = r.ok()["partnerDirectory"].as_array().unwrap().clone();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["id"], big.subscriber_id.as_str());
    assert_eq!(list[0]["inn"], Value::Null);
    assert_eq!(list[0]["partnerProfile"], Value::Null);
    assert_eq!(list[0]["email"], "sales@big.test");
    // Its kind is no secret (the directory lists partners); nothing else of the card shows.
    let r = app.gql(None, "{ partnerDirectory { kind contactPerson members { totalCount } } }", json!({})).await;
    assert_eq!(
        r.ok()["partnerDirectory"],
        json!([{ "kind": "PARTNER", "contactPerson": null, "members": { "totalCount": 0 } }])
    );
    // When those subscriptions end, the partner is no longer paying-listed.
    app.state.clock.advance(Duration::days(400));
    let r = app.gql(None, "{ partnerDirectory { id } }", json!({})).await;
    assert_eq!(r.ok()["partnerDirectory"], json!([]));
}

#[tokio::test]
async fn two_replicas_passing_at_once_create_each_task_once_and_queue_the_monday_digest_once() {
    let app = spawn_app_at(t0()).await;
    app.presets().await;
    let tariff = app.tariff("FRESH-TWICE", "1C-FRESH", "ITSAAS", "1000.00", &[1, 12], 30).await;
    let p = app.partner("Twice").await;
    let operator = app.member(&p.token, &p.subscriber_id, "SERVICE_OPERATOR").await;
    for i in 0..5 {
        let c = app.client_of(&p, &format!("Trial {i}")).await;
        app.as_(&p.token, TRIAL, json!({ "s": c.subscriber_id, "t": tariff })).await.ok();
    }
    // The trials' calls were planned when they started; day 10 passes on two replicas at once add none.
    app.state.clock.set_to(t0() + Duration::days(10) + Duration::hours(1));
    let (a, b) = tokio::join!(partnergraph::scheduler::tick(&app.state), partnergraph::scheduler::tick(&app.state));
    assert_eq!(a.tasks_created + b.tasks_created, 0);
    let open = "{ tasks(status: OPEN, first: 100) { nodes { kind } } }";
    let count =
        |r: &Gql, kind: &str| r.ok()["tasks"]["nodes"].as_array().unwrap().iter().filter(|t| t["kind"] == kind).count();
    let r = app.as_(&operator.token, open, json!({})).await;
    assert_eq!((count(&r, "TRIAL_CHECK_IN"), count(&r, "TRIAL_ENDING")), (5, 5));

    // Monday 2026-12-21 (the trials end within its fortnight): the digest is claimed by one pass only.
    let monday = Utc.with_ymd_and_hms(2026, 12, 21, 7, 0, 0).unwrap();
    app.state.clock.set_to(monday);
    let (a, b) = tokio::join!(partnergraph::scheduler::tick(&app.state), partnergraph::scheduler::tick(&app.state));
    assert_eq!(a.digests_queued + b.digests_queued, 1, "one operator, one e-mail");
    assert_eq!(partnergraph::scheduler::tick(&app.state).await.digests_queued, 0);
    assert_eq!(app.count("job_runs").await, 1);

    // The trials ended unpaid: two passes at once make five churn-reason tasks, not ten.
    app.state.clock.set_to(t0() + Duration::days(31));
    let (a, b) = tokio::join!(partnergraph::scheduler::tick(&app.state), partnergraph::scheduler::tick(&app.state));
    assert_eq!(a.tasks_created + b.tasks_created, 5);
    let r = app.as_(&operator.token, open, json!({})).await;
    assert_eq!(count(&r, "CHURN_REASON"), 5);
}

#[tokio::test]
async fn the_call_plan_is_listed_by_due_date_from_the_trials_start_and_a_payment_cancels_its_ending_call() {
    let app = spawn_app_at(t0()).await;
    app.presets().await;
    let tariff = app.tariff("FRESH-PLAN", "1C-FRESH", "ITSAAS", "1000.00", &[1, 12], 30).await;
    let short = app.tariff("FRESH-SHORT", "1C-FRESH", "ITSAAS", "1000.00", &[1, 12], 7).await;
    let p = app.partner("Planner").await;
    let c = app.client_of(&p, "Trying").await;
    let r = app.as_(&p.token, TRIAL, json!({ "s": c.subscriber_id, "t": tariff })).await;
    let starts: DateTime<Utc> = r.ok()["startTrial"]["startsAt"].as_str().unwrap().parse().unwrap();
    let ends: DateTime<Utc> = r.ok()["startTrial"]["endsAt"].as_str().unwrap().parse().unwrap();

    // Without any scheduler pass: the welcome call, the check-in and the trial-ending call, by due date.
    let tasks = tasks_of(&app, &p.token, &c.subscriber_id).await;
    let plan: Vec<(&str, DateTime<Utc>)> = tasks.iter().map(|t| (t["kind"].as_str().unwrap(), due(t))).collect();
    assert_eq!(
        plan,
        vec![
            ("WELCOME_CALL", plan[0].1),
            ("TRIAL_CHECK_IN", starts + Duration::days(14)),
            ("TRIAL_ENDING", ends - Duration::days(7)),
        ]
    );
    assert!(plan[0].1 <= starts + Duration::days(1));
    // The vendor sees the same plan; another partner sees none of it.
    let r = app.as_(&app.vendor, TASKS, json!({ "c": c.subscriber_id })).await;
    assert_eq!(r.ok()["tasks"]["totalCount"], 3);
    let other = app.partner("Other").await;
    let r = app.as_(&other.token, TASKS, json!({ "c": c.subscriber_id })).await;
    assert_eq!(r.ok()["tasks"]["totalCount"], 0);

    // A payment makes the trial-ending call moot: the next pass cancels it; no churn task follows.
    app.state.clock.set_to(t0() + Duration::days(3));
    app.pay(&c.subscriber_id, &tariff, 12, "12000.00", "plan-pay").await.ok();
    let r = pass_at(&app, t0() + Duration::days(3) + Duration::minutes(1)).await;
    assert_eq!((r.tasks_created, r.tasks_cancelled), (0, 1));
    pass_at(&app, ends + Duration::days(1)).await;
    let tasks = tasks_of(&app, &p.token, &c.subscriber_id).await;
    assert_eq!(of_kind(&tasks, "TRIAL_ENDING")[0]["status"], "CANCELLED");
    assert!(of_kind(&tasks, "CHURN_REASON").is_empty());

    // A client that already pays gets no trial-ending call for a new trial; a trial of under ten days
    // has no check-in.
    let r = app.as_(&p.token, TRIAL, json!({ "s": c.subscriber_id, "t": short })).await;
    r.ok();
    let tasks = tasks_of(&app, &p.token, &c.subscriber_id).await;
    assert_eq!(of_kind(&tasks, "TRIAL_CHECK_IN").len(), 1, "{tasks:?}");
    assert_eq!(of_kind(&tasks, "TRIAL_ENDING").len(), 1, "{tasks:?}");
}
