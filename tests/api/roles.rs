//! Who grants which role (docs/rules.md §1–2, "Granting roles"): an `ADMIN` grants and takes away `USER`, `ADMIN` and
//! `ADAPTATION_ADMIN` only; `SERVICE_OPERATOR` and `OWNER` are an owner's (and vendor staff's on another
//! subscriber); nobody changes their own role but an owner stepping down; a partner invites its client's
//! first owner and nothing about owners after that. Each attack the review found is replayed here.

use serde_json::{Value, json};

use crate::helpers::{Account, TestApp, email, spawn_app};

const CHANGE: &str = "mutation($m: ID!, $r: Role!) { changeRole(membershipId: $m, role: $r) { role } }";
const REMOVE: &str = "mutation($m: ID!) { removeMember(membershipId: $m) }";
const INVITE: &str = "mutation($s: ID, $e: String!, $r: Role!) { inviteUser(input: {subscriberId: $s, email: $e, role: $r}) { token invitation { id } } }";
const RESEND: &str = "mutation($id: ID!) { resendInvitation(id: $id) { invitation { sentCount } } }";
const REVOKE: &str = "mutation($id: ID!) { revokeInvitation(id: $id) { status } }";

/// `by` invites `address` to `subscriber` with `role`; returns the invitation's id and token.
async fn invite(app: &TestApp, by: &str, subscriber: &str, address: &str, role: &str) -> (String, String) {
    let r = app.as_(by, INVITE, json!({ "s": subscriber, "e": address, "r": role })).await;
    let d = &r.ok()["inviteUser"];
    (d["invitation"]["id"].as_str().unwrap().to_owned(), d["token"].as_str().unwrap().to_owned())
}

/// The role the account's token acts with, read back from the server.
async fn role_of(app: &TestApp, who: &Account) -> Value {
    app.as_(&who.token, "{ me { role } }", json!({})).await.ok()["me"]["role"].clone()
}

/// The roles of a subscriber's members, as its owner reads them.
async fn roles_in(app: &TestApp, owner: &Account) -> Vec<String> {
    let r = app
        .as_(
            &owner.token,
            "query($id: ID!) { subscriber(id: $id) { members(first: 100) { nodes { role } } } }",
            json!({ "id": owner.subscriber_id }),
        )
        .await;
    let mut roles: Vec<String> = r.ok()["subscriber"]["members"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["role"].as_str().unwrap().to_owned())
        .collect();
    roles.sort();
    roles
}

#[tokio::test]
async fn a_vendor_admin_cannot_make_itself_a_service_operator_to_create_partners_and_approve_commissions() {
    let app = spawn_app().await;
    let vendor = app.vendor_id().await;
    let admin = app.member(&app.vendor, &vendor, "ADMIN").await;
    let colleague = app.member(&app.vendor, &vendor, "ADMIN").await;

    // Itself, a colleague (or a second account it controls), or a new invitation: all refused.
    app.as_(&admin.token, CHANGE, json!({ "m": admin.membership_id, "r": "SERVICE_OPERATOR" }))
        .await
        .err("FORBIDDEN")
        .reason_is("OWN_ROLE");
    app.as_(&admin.token, CHANGE, json!({ "m": admin.membership_id, "r": "OWNER" }))
        .await
        .err("FORBIDDEN")
        .reason_is("OWN_ROLE");
    app.as_(&admin.token, CHANGE, json!({ "m": colleague.membership_id, "r": "SERVICE_OPERATOR" }))
        .await
        .err("FORBIDDEN");
    app.as_(&admin.token, INVITE, json!({ "s": vendor, "e": email("alter-ego"), "r": "SERVICE_OPERATOR" }))
        .await
        .err("FORBIDDEN");
    assert_eq!(role_of(&app, &admin).await, "ADMIN");
    assert_eq!(role_of(&app, &colleague).await, "ADMIN");

    // So what a vendor manager does stays out of its reach.
    app.as_(
        &admin.token,
        "mutation($o: String!) { createPartner(input: {name: \"Shadow partner\", ownerEmail: $o}) { subscriber { id } } }",
        json!({ "o": email("shadow") }),
    )
    .await
    .err("FORBIDDEN");
    app.as_(
        &admin.token,
        "mutation($ids: [ID!]!) { approveCommissions(ids: $ids) { id } }",
        json!({ "ids": [uuid::Uuid::now_v7().to_string()] }),
    )
    .await
    .err("FORBIDDEN");
}

#[tokio::test]
async fn a_partner_admin_cannot_make_itself_a_service_operator_to_reach_the_partners_clients() {
    let app = spawn_app().await;
    let p = app.partner("Partner").await;
    let client = app.client_of(&p, "Client").await;
    let admin = app.member(&p.token, &p.subscriber_id, "ADMIN").await;

    app.as_(&admin.token, CHANGE, json!({ "m": admin.membership_id, "r": "SERVICE_OPERATOR" }))
        .await
        .err("FORBIDDEN")
        .reason_is("OWN_ROLE");
    assert_eq!(role_of(&app, &admin).await, "ADMIN");
    app.as_(&admin.token, "query($id: ID!) { subscriber(id: $id) { id } }", json!({ "id": client.subscriber_id }))
        .await
        .err("NOT_FOUND");
    let r = app.as_(&admin.token, "{ subscribers { totalCount } }", json!({})).await;
    assert_eq!(r.ok()["subscribers"]["totalCount"], 1, "its own subscriber only");
}

#[tokio::test]
async fn a_partners_operator_cannot_make_itself_a_clients_owner_and_remove_the_real_owner() {
    let app = spawn_app().await;
    let p = app.partner("Partner").await;
    let operator = app.member(&p.token, &p.subscriber_id, "SERVICE_OPERATOR").await;
    let client = app.client_of(&p, "Client").await;

    // The client has an owner: a partner invites no owner there, not itself, not anyone.
    for by in [&operator, &p] {
        app.as_(&by.token, INVITE, json!({ "s": client.subscriber_id, "e": operator.email, "r": "OWNER" }))
            .await
            .err("FORBIDDEN")
            .reason_is("CLIENT_HAS_OWNER");
    }
    // Nor does it change or remove the client's owner, directly…
    app.as_(&operator.token, REMOVE, json!({ "m": client.membership_id })).await.err("FORBIDDEN");
    app.as_(&operator.token, CHANGE, json!({ "m": client.membership_id, "r": "USER" })).await.err("FORBIDDEN");
    // …or as the client's administrator, which it may still invite itself to be.
    let address = email("operator-as-admin");
    let (_, token) = invite(&app, &operator.token, &client.subscriber_id, &address, "ADMIN").await;
    let inside = app.accept_new(&token, &address).await;
    assert_eq!(role_of(&app, &inside).await, "ADMIN");
    app.as_(&inside.token, REMOVE, json!({ "m": client.membership_id })).await.err("FORBIDDEN");
    app.as_(&inside.token, CHANGE, json!({ "m": client.membership_id, "r": "USER" })).await.err("FORBIDDEN");
    app.as_(&inside.token, CHANGE, json!({ "m": inside.membership_id, "r": "OWNER" }))
        .await
        .err("FORBIDDEN")
        .reason_is("OWN_ROLE");
    assert_eq!(roles_in(&app, &client).await, ["ADMIN", "OWNER"]);
}

#[tokio::test]
async fn a_partner_invites_and_resends_only_its_clients_first_owner_invitation() {
    let app = spawn_app().await;
    let p = app.partner("Partner").await;
    let operator = app.member(&p.token, &p.subscriber_id, "SERVICE_OPERATOR").await;
    let owner_email = email("first-owner");
    let r = app
        .as_(
            &operator.token,
            "mutation($o: String!) { registerClient(input: {name: \"Onboarding\", ownerEmail: $o}) { subscriber { id } invitation { id } } }",
            json!({ "o": owner_email }),
        )
        .await;
    let client = r.ok()["registerClient"]["subscriber"]["id"].as_str().unwrap().to_owned();
    let first = r.ok()["registerClient"]["invitation"]["id"].as_str().unwrap().to_owned();

    // While the first owner's invitation is pending: resend it, do not add another.
    app.as_(&operator.token, INVITE, json!({ "s": client, "e": email("second"), "r": "OWNER" }))
        .await
        .err("CONFLICT")
        .reason_is("OWNER_INVITATION_PENDING");
    let r = app.as_(&operator.token, RESEND, json!({ "id": first })).await;
    assert_eq!(r.ok()["resendInvitation"]["invitation"]["sentCount"], 2);
    // Voided (the address was wrong), the partner may invite the first owner again.
    let r = app.as_(&operator.token, REVOKE, json!({ "id": first })).await;
    assert_eq!(r.ok()["revokeInvitation"]["status"], "REVOKED");
    let (_, token) = invite(&app, &operator.token, &client, &owner_email, "OWNER").await;
    let owner = app.accept_new(&token, &owner_email).await;

    // The client has its owner now; the owner invites a second owner. That invitation is the client's:
    // the partner neither resends nor revokes it, nor adds its own.
    let (second, _) = invite(&app, &owner.token, &client, &email("co-owner"), "OWNER").await;
    app.as_(&operator.token, RESEND, json!({ "id": second })).await.err("FORBIDDEN").reason_is("CLIENT_HAS_OWNER");
    app.as_(&operator.token, REVOKE, json!({ "id": second })).await.err("FORBIDDEN").reason_is("CLIENT_HAS_OWNER");
    app.as_(&operator.token, INVITE, json!({ "s": client, "e": email("third"), "r": "OWNER" }))
        .await
        .err("FORBIDDEN")
        .reason_is("CLIENT_HAS_OWNER");
    // Its users it still invites, and resends and revokes their invitations.
    let (user_invitation, _) = invite(&app, &operator.token, &client, &email("client-user"), "USER").await;
    app.as_(&operator.token, RESEND, json!({ "id": user_invitation })).await.ok();
    app.as_(&operator.token, REVOKE, json!({ "id": user_invitation })).await.ok();
    // The client's owner manages its own owners' invitations.
    app.as_(&owner.token, RESEND, json!({ "id": second })).await.ok();
    app.as_(&owner.token, REVOKE, json!({ "id": second })).await.ok();
}

#[tokio::test]
async fn an_owner_steps_down_while_another_owner_remains_but_the_last_owner_cannot() {
    let app = spawn_app().await;
    let p = app.partner("Partner").await;
    let second = app.member(&p.token, &p.subscriber_id, "OWNER").await;

    let r = app.as_(&p.token, CHANGE, json!({ "m": p.membership_id, "r": "ADMIN" })).await;
    assert_eq!(r.ok()["changeRole"]["role"], "ADMIN");
    for role in ["ADMIN", "SERVICE_OPERATOR", "USER"] {
        app.as_(&second.token, CHANGE, json!({ "m": second.membership_id, "r": role }))
            .await
            .err("CONFLICT")
            .reason_is("LAST_OWNER");
    }
    assert_eq!(role_of(&app, &second).await, "OWNER");
}

#[tokio::test]
async fn nobody_but_an_owner_changes_their_own_role_not_even_downwards() {
    let app = spawn_app().await;
    let p = app.partner("Partner").await;
    let client = app.client_of(&p, "Client").await;
    let vendor = app.vendor_id().await;
    let mut cases = Vec::new();
    for role in ["ADMIN", "USER", "ADAPTATION_ADMIN", "SERVICE_OPERATOR"] {
        cases.push((app.member(&p.token, &p.subscriber_id, role).await, role));
    }
    for role in ["ADMIN", "USER"] {
        cases.push((app.member(&client.token, &client.subscriber_id, role).await, role));
    }
    for role in ["ADMIN", "USER", "SERVICE_OPERATOR"] {
        cases.push((app.member(&app.vendor, &vendor, role).await, role));
    }
    for (who, role) in &cases {
        for to in ["USER", "ADMIN", "OWNER", "SERVICE_OPERATOR"] {
            if to == *role {
                continue;
            }
            app.as_(&who.token, CHANGE, json!({ "m": who.membership_id, "r": to }))
                .await
                .err("FORBIDDEN")
                .reason_is("OWN_ROLE");
        }
        assert_eq!(role_of(&app, who).await, *role);
    }
}

#[tokio::test]
async fn an_admin_grants_and_takes_away_user_admin_and_adaptation_admin_only() {
    let app = spawn_app().await;
    let p = app.partner("Partner").await;
    let admin = app.member(&p.token, &p.subscriber_id, "ADMIN").await;
    let member = app.member(&p.token, &p.subscriber_id, "USER").await;
    let operator = app.member(&p.token, &p.subscriber_id, "SERVICE_OPERATOR").await;

    for role in ["ADAPTATION_ADMIN", "ADMIN", "USER"] {
        let r = app.as_(&admin.token, CHANGE, json!({ "m": member.membership_id, "r": role })).await;
        assert_eq!(r.ok()["changeRole"]["role"], role);
    }
    for role in ["SERVICE_OPERATOR", "OWNER"] {
        app.as_(&admin.token, CHANGE, json!({ "m": member.membership_id, "r": role })).await.err("FORBIDDEN");
        app.as_(&admin.token, INVITE, json!({ "s": p.subscriber_id, "e": email("new"), "r": role }))
            .await
            .err("FORBIDDEN");
    }
    // An operator is an owner's to take away: the admin neither demotes nor removes it.
    app.as_(&admin.token, CHANGE, json!({ "m": operator.membership_id, "r": "USER" })).await.err("FORBIDDEN");
    app.as_(&admin.token, REMOVE, json!({ "m": operator.membership_id })).await.err("FORBIDDEN");
    app.as_(&admin.token, REMOVE, json!({ "m": p.membership_id })).await.err("FORBIDDEN");
    assert_eq!(role_of(&app, &operator).await, "SERVICE_OPERATOR");
    // A user or adaptation administrator it removes.
    let r = app.as_(&admin.token, REMOVE, json!({ "m": member.membership_id })).await;
    assert_eq!(r.ok()["removeMember"], member.membership_id.as_str());
}

#[tokio::test]
async fn an_admin_cannot_resend_or_revoke_an_owner_or_operator_invitation() {
    let app = spawn_app().await;
    let p = app.partner("Partner").await;
    let admin = app.member(&p.token, &p.subscriber_id, "ADMIN").await;
    for role in ["OWNER", "SERVICE_OPERATOR"] {
        let (id, _) = invite(&app, &p.token, &p.subscriber_id, &email("invitee"), role).await;
        app.as_(&admin.token, RESEND, json!({ "id": id })).await.err("FORBIDDEN");
        app.as_(&admin.token, REVOKE, json!({ "id": id })).await.err("FORBIDDEN");
        // The owner does both.
        app.as_(&p.token, RESEND, json!({ "id": id })).await.ok();
        app.as_(&p.token, REVOKE, json!({ "id": id })).await.ok();
    }
    for role in ["USER", "ADMIN", "ADAPTATION_ADMIN"] {
        let (id, _) = invite(&app, &admin.token, &p.subscriber_id, &email("invitee"), role).await;
        app.as_(&admin.token, RESEND, json!({ "id": id })).await.ok();
        app.as_(&admin.token, REVOKE, json!({ "id": id })).await.ok();
    }
}

#[tokio::test]
async fn operators_and_owners_are_granted_by_an_owner_or_by_vendor_staff_on_another_subscriber() {
    let app = spawn_app().await;
    let vendor = app.vendor_id().await;
    let vendor_operator = app.member(&app.vendor, &vendor, "SERVICE_OPERATOR").await;
    let vendor_admin = app.member(&app.vendor, &vendor, "ADMIN").await;
    let p = app.partner("Partner").await;
    let operator = app.member(&p.token, &p.subscriber_id, "SERVICE_OPERATOR").await;
    let member = app.member(&p.token, &p.subscriber_id, "USER").await;

    // Within the partner: its owner, not its operator.
    app.as_(&operator.token, CHANGE, json!({ "m": member.membership_id, "r": "SERVICE_OPERATOR" }))
        .await
        .err("FORBIDDEN");
    let r = app.as_(&p.token, CHANGE, json!({ "m": member.membership_id, "r": "SERVICE_OPERATOR" })).await;
    assert_eq!(r.ok()["changeRole"]["role"], "SERVICE_OPERATOR");
    // On the partner, from the vendor: its staff (owner, operator), not its admin.
    app.as_(&vendor_admin.token, CHANGE, json!({ "m": member.membership_id, "r": "OWNER" })).await.err("FORBIDDEN");
    let r = app.as_(&vendor_operator.token, CHANGE, json!({ "m": member.membership_id, "r": "OWNER" })).await;
    assert_eq!(r.ok()["changeRole"]["role"], "OWNER");
    let r = app.as_(&vendor_operator.token, CHANGE, json!({ "m": p.membership_id, "r": "ADMIN" })).await;
    assert_eq!(r.ok()["changeRole"]["role"], "ADMIN");
    // The vendor's own operators and owners are its owner's: a vendor operator grants nothing at home.
    let colleague = app.member(&app.vendor, &vendor, "USER").await;
    app.as_(&vendor_operator.token, CHANGE, json!({ "m": colleague.membership_id, "r": "SERVICE_OPERATOR" }))
        .await
        .err("FORBIDDEN");
    let r = app.as_(&app.vendor, CHANGE, json!({ "m": colleague.membership_id, "r": "SERVICE_OPERATOR" })).await;
    assert_eq!(r.ok()["changeRole"]["role"], "SERVICE_OPERATOR");
}

#[tokio::test]
async fn a_partner_inviting_its_clients_first_owner_many_times_at_once_gets_one_owner_invitation() {
    let app = spawn_app().await;
    let p = app.partner("Partner").await;
    let r = app
        .as_(
            &p.token,
            "mutation($o: String!) { registerClient(input: {name: \"Onboarding\", ownerEmail: $o}) { subscriber { id } invitation { id } } }",
            json!({ "o": email("wrong-address") }),
        )
        .await;
    let client = r.ok()["registerClient"]["subscriber"]["id"].as_str().unwrap().to_owned();
    let first = r.ok()["registerClient"]["invitation"]["id"].as_str().unwrap().to_owned();
    app.as_(&p.token, REVOKE, json!({ "id": first })).await.ok();

    // No owner and no pending owner invitation: ten invitations of different people at once.
    let calls: Vec<_> = (0..10)
        .map(|_| app.spawn_gql(Some(&p.token), INVITE, json!({ "s": client, "e": email("owner"), "r": "OWNER" })))
        .collect();
    let mut outcomes = Vec::new();
    for c in calls {
        let (_, v) = c.await.unwrap();
        outcomes.push(v["errors"][0]["extensions"]["reason"].as_str().unwrap_or("OK").to_owned());
    }
    outcomes.sort();
    assert_eq!(outcomes.iter().filter(|o| *o == "OK").count(), 1, "{outcomes:?}");
    assert!(outcomes.iter().all(|o| o == "OK" || o == "OWNER_INVITATION_PENDING"), "{outcomes:?}");
    let r = app
        .as_(
            &p.token,
            "query($s: ID) { invitations(subscriberId: $s, status: PENDING) { nodes { role } } }",
            json!({ "s": client }),
        )
        .await;
    assert_eq!(r.ok()["invitations"]["nodes"], json!([{ "role": "OWNER" }]));
}

#[tokio::test]
async fn an_invitation_revoked_while_it_is_accepted_ends_either_accepted_with_its_member_or_revoked_without() {
    let app = spawn_app().await;
    let p = app.partner("Partner").await;
    for round in 0..8 {
        let address = email("racer");
        let (id, token) = invite(&app, &p.token, &p.subscriber_id, &address, "USER").await;
        let revoke = app.spawn_gql(Some(&p.token), REVOKE, json!({ "id": id }));
        let accept = app.spawn_gql(
            None,
            "mutation($t: String!, $p: String!) { acceptInvitation(token: $t, name: \"Racer\", password: $p) { token } }",
            json!({ "t": token, "p": crate::helpers::PASSWORD }),
        );
        let (revoked, accepted) = (revoke.await.unwrap().1, accept.await.unwrap().1);
        let r = app
            .as_(
                &p.token,
                "query($s: ID) { invitations(subscriberId: $s) { nodes { id email status } } subscriber(id: $s) { members(first: 100) { nodes { user { email } } } } }",
                json!({ "s": p.subscriber_id }),
            )
            .await;
        let status = r.ok()["invitations"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["id"] == id.as_str())
            .unwrap()["status"]
            .clone();
        let member = r.ok()["subscriber"]["members"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["user"]["email"] == address.as_str());
        assert_eq!(
            (status.as_str(), member),
            if member { (Some("ACCEPTED"), true) } else { (Some("REVOKED"), false) },
            "round {round}: revoke {revoked}, accept {accepted}"
        );
        // One of the two lost, and was told.
        assert!(revoked.get("errors").is_some() != accepted.get("errors").is_some(), "round {round}");
    }
}
