//! Members: the last-owner rule, also under concurrency, and role changes.

use serde_json::json;

use crate::helpers::spawn_app;

const CHANGE: &str = "mutation($m: ID!, $r: Role!) { changeRole(membershipId: $m, role: $r) { role } }";
const REMOVE: &str = "mutation($m: ID!) { removeMember(membershipId: $m) }";

#[tokio::test]
async fn the_last_owner_can_be_neither_removed_nor_demoted() {
    let app = spawn_app().await;
    let p = app.partner("Partner").await;
    app.as_(&p.token, CHANGE, json!({ "m": p.membership_id, "r": "ADMIN" }))
        .await
        .err("CONFLICT")
        .reason_is("LAST_OWNER");
    app.as_(&p.token, REMOVE, json!({ "m": p.membership_id })).await.err("CONFLICT").reason_is("LAST_OWNER");
    // With a second owner, the first may step down.
    let second = app.member(&p.token, &p.subscriber_id, "OWNER").await;
    let r = app.as_(&p.token, CHANGE, json!({ "m": p.membership_id, "r": "ADMIN" })).await;
    assert_eq!(r.ok()["changeRole"]["role"], "ADMIN");
    app.as_(&second.token, REMOVE, json!({ "m": second.membership_id })).await.err("CONFLICT").reason_is("LAST_OWNER");
}

#[tokio::test]
async fn an_admin_manages_members_but_not_owners_or_operators() {
    let app = spawn_app().await;
    let p = app.partner("Partner").await;
    let admin = app.member(&p.token, &p.subscriber_id, "ADMIN").await;
    let user = app.member(&p.token, &p.subscriber_id, "USER").await;
    let r = app.as_(&admin.token, CHANGE, json!({ "m": user.membership_id, "r": "ADAPTATION_ADMIN" })).await;
    assert_eq!(r.ok()["changeRole"]["role"], "ADAPTATION_ADMIN");
    // SERVICE_OPERATOR and OWNER are an owner's to grant.
    app.as_(&admin.token, CHANGE, json!({ "m": user.membership_id, "r": "SERVICE_OPERATOR" })).await.err("FORBIDDEN");
    app.as_(&admin.token, CHANGE, json!({ "m": user.membership_id, "r": "OWNER" })).await.err("FORBIDDEN");
    app.as_(&admin.token, CHANGE, json!({ "m": p.membership_id, "r": "USER" })).await.err("FORBIDDEN");
    app.as_(&admin.token, REMOVE, json!({ "m": p.membership_id })).await.err("FORBIDDEN");
    let r = app.as_(&admin.token, REMOVE, json!({ "m": user.membership_id })).await;
    assert_eq!(r.ok()["removeMember"], user.membership_id.as_str());
    // A user changes nothing.
    let plain = app.member(&p.token, &p.subscriber_id, "USER").await;
    app.as_(&plain.token, CHANGE, json!({ "m": admin.membership_id, "r": "USER" })).await.err("FORBIDDEN");
}

#[tokio::test]
async fn partner_only_roles_cannot_be_given_to_a_clients_member() {
    let app = spawn_app().await;
    let p = app.partner("Partner").await;
    let c = app.client_of(&p, "Client").await;
    let admin = app.member(&c.token, &c.subscriber_id, "ADMIN").await;
    for role in ["ADAPTATION_ADMIN", "SERVICE_OPERATOR"] {
        let r = app.as_(&c.token, CHANGE, json!({ "m": admin.membership_id, "r": role })).await;
        r.err("BAD_USER_INPUT").reason_is("ROLE_NOT_ALLOWED");
    }
    // The partner that serves the client invites its users but does not manage its members.
    app.as_(&p.token, CHANGE, json!({ "m": admin.membership_id, "r": "USER" })).await.err("FORBIDDEN");
}

#[tokio::test]
async fn two_owners_demoting_each_other_at_once_leave_one_owner() {
    let app = spawn_app().await;
    let p = app.partner("Partner").await;
    let second = app.member(&p.token, &p.subscriber_id, "OWNER").await;
    let tasks = [(p.token.as_str(), second.membership_id.as_str()), (second.token.as_str(), p.membership_id.as_str())]
        .map(|(token, target)| app.spawn_gql(Some(token), REMOVE, json!({ "m": target })));
    let mut outcomes = Vec::new();
    for t in tasks {
        let (status, v) = t.await.unwrap();
        outcomes.push(if status == axum::http::StatusCode::OK && v.get("errors").is_none() {
            "OK".to_owned()
        } else {
            v["errors"][0]["extensions"]["reason"].as_str().unwrap_or("?").to_owned()
        });
    }
    outcomes.sort();
    // One removal wins. The other either hits the last-owner rule or, if it ran second, finds its
    // caller's own membership gone (401 at the edge): both keep an owner.
    assert_eq!(outcomes.iter().filter(|o| *o == "OK").count(), 1, "{outcomes:?}");
    assert!(outcomes.iter().any(|o| o == "LAST_OWNER" || o == "MEMBERSHIP_GONE"), "{outcomes:?}");
    let owners = {
        use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
        entity::membership::Entity::find()
            .filter(entity::membership::Column::SubscriberId.eq(uuid::Uuid::parse_str(&p.subscriber_id).unwrap()))
            .filter(entity::membership::Column::Role.eq("OWNER"))
            .count(&app.state.db)
            .await
            .unwrap()
    };
    assert_eq!(owners, 1);
}
