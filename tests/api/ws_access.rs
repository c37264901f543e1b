//! Rights on a live socket: a member removed or demoted while its WebSocket is open is closed with 4403
//! at once (not at the periodic re-check, set to ten minutes here), hears nothing after its membership
//! ended, starts no operation with it, and is closed when its token expires; each event reaches only
//! the roles its kind's audience names. Across two replicas on PostgreSQL a removal on one closes the
//! socket on the other.

use std::time::Duration;

use partnergraph::app::{AppState, router};
use partnergraph::config::Config;
use serde_json::json;

use crate::events::{EVENTS, QUIET, Ws, listen, paying_client, serve, subscribed};
use crate::helpers::{Account, PASSWORD, TestApp, email, inn, spawn_app_with, test_config};

/// The periodic re-check is far away: whatever closes a socket in these tests is not it.
fn far_recheck(c: &mut Config) {
    c.ws.recheck = Duration::from_secs(600);
}

/// Like production, with a membership check kept for a minute (the default is one second): only the
/// access signal can make these sockets notice in time.
fn cached(c: &mut Config) {
    far_recheck(c);
    c.http.auth_cache_ttl = Duration::from_secs(60);
}

const REMOVE: &str = "mutation($m: ID!) { removeMember(membershipId: $m) }";
const CHANGE_ROLE: &str = "mutation($m: ID!, $r: Role!) { changeRole(membershipId: $m, role: $r) { role } }";

/// Waits until every event published so far has reached this process's bus. On PostgreSQL an event of
/// the set-up (an invitation accepted, a payment) arrives through the listener a moment later, and must
/// not reach the sockets opened after the set-up: a marker published now arrives after all of them
/// (notifications come in commit order).
pub(crate) async fn settled(state: &AppState) {
    use futures_util::StreamExt;
    use partnergraph::events::{EventDetail, PartnerEvent};
    let marker = uuid::Uuid::new_v4();
    let heard = state.events.subscribe(marker);
    futures_util::pin_mut!(heard);
    state.events.ready().await;
    let marked = EventDetail::LeadAssigned { client: "marker".to_owned() };
    let event = PartnerEvent::new(marker, marker, marked, chrono::Utc::now());
    state.events.publish(&state.db, vec![event]).await;
    tokio::time::timeout(Duration::from_secs(5), heard.next()).await.expect("the marker arrives").expect("bus open");
}

/// Ends a membership straight in the database, behind the service's back: no access signal is sent,
/// so only a check against the database can notice.
pub(crate) async fn delete_membership(app: &TestApp, who: &Account) {
    use sea_orm::EntityTrait;
    let id = uuid::Uuid::parse_str(&who.membership_id).unwrap();
    let done = entity::membership::Entity::delete_by_id(id).exec(&app.state.db).await.unwrap();
    assert_eq!(done.rows_affected, 1);
}

#[tokio::test]
async fn a_removed_operators_socket_is_closed_with_4403_at_once_and_hears_nothing_more() {
    let app = spawn_app_with(cached).await;
    let addr = serve(app.router.clone()).await;
    let partner = app.partner("Partner").await;
    let operator = app.member(&partner.token, &partner.subscriber_id, "SERVICE_OPERATOR").await;
    settled(&app.state).await;
    let mut owner_ws = listen(addr, &partner).await;
    let mut operator_ws = listen(addr, &operator).await;
    subscribed(&app.state, 2).await;

    app.as_(&partner.token, REMOVE, json!({ "m": operator.membership_id })).await.ok();
    // An event the operator would have heard a moment ago: the owner hears it, the operator only the close.
    let id = app.lock(&partner, &inn(21)).await;
    assert_eq!(owner_ws.event("1").await["subjectId"], id.as_str());
    assert_eq!(operator_ws.closed().await, (4403, "Forbidden".to_owned()));
}

#[tokio::test]
async fn a_demoted_owners_socket_is_closed_with_4403_at_once() {
    let app = spawn_app_with(cached).await;
    let addr = serve(app.router.clone()).await;
    let partner = app.partner("Partner").await;
    let second = app.member(&partner.token, &partner.subscriber_id, "OWNER").await;
    settled(&app.state).await;
    let mut ws = listen(addr, &second).await;
    subscribed(&app.state, 1).await;

    // Still a role that may follow events, but not the one its token was issued for.
    let r = app.as_(&partner.token, CHANGE_ROLE, json!({ "m": second.membership_id, "r": "SERVICE_OPERATOR" })).await;
    assert_eq!(r.ok()["changeRole"]["role"], "SERVICE_OPERATOR");
    assert_eq!(ws.closed().await, (4403, "Forbidden".to_owned()));
}

#[tokio::test]
async fn an_event_raised_after_the_membership_ended_is_not_delivered_even_without_the_signal() {
    let app = spawn_app_with(far_recheck).await;
    let addr = serve(app.router.clone()).await;
    let partner = app.partner("Partner").await;
    let operator = app.member(&partner.token, &partner.subscriber_id, "SERVICE_OPERATOR").await;
    settled(&app.state).await;
    let mut owner_ws = listen(addr, &partner).await;
    let mut operator_ws = listen(addr, &operator).await;
    subscribed(&app.state, 2).await;

    delete_membership(&app, &operator).await;
    let id = app.lock(&partner, &inn(22)).await;
    assert_eq!(owner_ws.event("1").await["subjectId"], id.as_str());
    // The delivery itself checks the membership: the operator gets the close instead of the event.
    assert_eq!(operator_ws.closed().await, (4403, "Forbidden".to_owned()));
}

#[tokio::test]
async fn a_subscribe_after_the_membership_ended_closes_the_socket_instead_of_starting() {
    let app = spawn_app_with(far_recheck).await;
    let addr = serve(app.router.clone()).await;
    let partner = app.partner("Partner").await;
    let operator = app.member(&partner.token, &partner.subscriber_id, "SERVICE_OPERATOR").await;
    let mut ws = Ws::connect(addr).await;
    ws.init(&operator.token).await;

    delete_membership(&app, &operator).await;
    ws.subscribe("1", EVENTS).await;
    assert_eq!(ws.closed().await, (4403, "Forbidden".to_owned()));
    assert_eq!(app.state.events.subscriber_count(), 0, "no operation started");
}

#[tokio::test]
async fn a_socket_is_closed_with_4403_when_its_token_expires() {
    let app = spawn_app_with(far_recheck).await;
    let addr = serve(app.router.clone()).await;
    let partner = app.partner("Partner").await;
    // A token with a few seconds left: issued while the clock stood its lifetime (less those seconds) back.
    let back = chrono::Duration::from_std(app.state.config.jwt.token_ttl).unwrap() - chrono::Duration::seconds(4);
    app.state.clock.advance(-back);
    let token = app.login(&partner.email, PASSWORD).await;
    app.state.clock.advance(back);
    let mut ws = Ws::connect(addr).await;
    ws.init(&token).await;
    ws.subscribe("1", EVENTS).await;
    subscribed(&app.state, 1).await;
    assert_eq!(ws.closed_within(Duration::from_secs(15)).await, (4403, "Forbidden".to_owned()));
}

/// Which roles of the partner each event kind reaches (the roles that may subscribe are OWNER and
/// SERVICE_OPERATOR): a partner's commissions are its owner's business only (docs/rules.md §1–2).
const AUDIENCE: [(&str, &[&str]); 5] = [
    ("STOP_LIST_DECIDED", &["OWNER", "SERVICE_OPERATOR"]),
    ("INVITATION_ACCEPTED", &["OWNER", "SERVICE_OPERATOR"]),
    ("PAYMENT_RECORDED", &["OWNER", "SERVICE_OPERATOR"]),
    ("COMMISSION_ACCRUED", &["OWNER"]),
    ("LEAD_ASSIGNED", &["OWNER", "SERVICE_OPERATOR"]),
];

/// Every event a socket hears until it has been quiet for a while, as (kind, message).
async fn heard(ws: &mut Ws) -> Vec<(String, String)> {
    let mut out = Vec::new();
    while let Some(m) = ws.next_within(QUIET * 2).await {
        assert_eq!(m["type"], "next", "{m}");
        let e = &m["payload"]["data"]["events"];
        out.push((e["kind"].as_str().unwrap().to_owned(), e["message"].as_str().unwrap().to_owned()));
    }
    out
}

#[tokio::test]
async fn each_event_kind_reaches_exactly_the_roles_its_audience_names() {
    use partnergraph::domain::leads::Quarter;
    let app = spawn_app_with(far_recheck).await;
    let addr = serve(app.router.clone()).await;
    // A partner that earns commissions on its locked client and takes part in lead distribution.
    let (partner, client, tariff) = paying_client(&app, "Audience", 23).await;
    let its = app.tariff("FRESH-ITS", "1C-FRESH", "ITSAAS", "1000.00", &[12], 30).await;
    app.set_status(&partner.subscriber_id, "1C-FRESH", "CSK").await;
    app.as_(
        &app.vendor,
        "mutation($p: ID!) { updatePartnerProfile(partnerId: $p, input: {serviceDeskConnected: true, hasConsultants: true, hasCustomizationSpecialists: true}) { id } }",
        json!({ "p": partner.subscriber_id }),
    )
    .await
    .ok();
    crate::leads::contracts(&app, &partner, &its, 1, 12).await;
    let today = app.state.clock.now().date_naive();
    let until = today + chrono::Duration::days(90);
    crate::leads::publish(&app, &Quarter::of(today).to_string(), &today.to_string(), &until.to_string()).await;
    let operator = app.member(&partner.token, &partner.subscriber_id, "SERVICE_OPERATOR").await;
    settled(&app.state).await;
    let mut sockets = [("OWNER", listen(addr, &partner).await), ("SERVICE_OPERATOR", listen(addr, &operator).await)];
    subscribed(&app.state, 2).await;

    // One event of each kind, in the order of AUDIENCE.
    app.lock(&partner, &inn(24)).await;
    let r = app
        .as_(
            &partner.token,
            "mutation($o: String!) { registerClient(input: {name: \"Joining\", ownerEmail: $o}) { token } }",
            json!({ "o": email("joining") }),
        )
        .await;
    app.accept_new(r.ok()["registerClient"]["token"].as_str().unwrap(), "joining").await;
    app.pay(&client.subscriber_id, &tariff, 12, "100000.00", "audience-1").await.ok();
    crate::leads::self_register(&app, "Fresh Lead").await;

    for (role, ws) in &mut sockets {
        let expected: Vec<&str> =
            AUDIENCE.iter().filter(|(_, roles)| roles.contains(role)).map(|(kind, _)| *kind).collect();
        let got = heard(ws).await;
        assert_eq!(got.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(), expected, "{role}: {got:?}");
        // The commission's amount (10000.00) travels to those who may read it and to no one else.
        let amount_told = got.iter().any(|(_, message)| message.contains("10000.00"));
        assert_eq!(amount_told, *role == "OWNER", "{role}: {got:?}");
    }
}

/// Two replicas on one PostgreSQL database, each keeping membership checks for a minute: a member
/// removed through one replica has its socket on the other closed at once, and an event raised right
/// after the removal reaches its owner there but not the removed member.
#[tokio::test]
async fn a_removal_on_one_replica_closes_the_socket_on_another_at_once() {
    let app = spawn_app_with(cached).await;
    if !app.state.config.database_url.starts_with("postgres") {
        return;
    }
    let mut config = test_config(&app.state.config.database_url);
    cached(&mut config);
    let replica = AppState::connect(config).await.expect("second replica");
    let addr2 = serve(router(replica.clone())).await;
    let partner = app.partner("Replicated").await;
    let operator = app.member(&partner.token, &partner.subscriber_id, "SERVICE_OPERATOR").await;
    settled(&replica).await;
    let mut owner_ws = listen(addr2, &partner).await;
    let mut operator_ws = listen(addr2, &operator).await;
    subscribed(&replica, 2).await;
    app.state.events.ready().await;

    // Through replica 1 (the app's own router); replica 2 holds a fresh check of the membership.
    app.as_(&partner.token, REMOVE, json!({ "m": operator.membership_id })).await.ok();
    let id = app.lock(&partner, &inn(25)).await;
    assert_eq!(owner_ws.event("1").await["subjectId"], id.as_str());
    assert_eq!(operator_ws.closed().await, (4403, "Forbidden".to_owned()));
}
