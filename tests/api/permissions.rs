//! The permission matrix of SPEC §1, row by row: every role of every subscriber kind, each operation
//! this capability has, with the exact outcome (`OK`, or the `extensions.code` the caller gets).

use serde_json::json;

use crate::helpers::{Account, TestApp, email, spawn_app};

/// Rows: operations. Columns: callers. `OK`, `F` = FORBIDDEN, `N` = NOT_FOUND.
/// V = the vendor, P = a partner, C = a client of P. SO = SERVICE_OPERATOR, AA = ADAPTATION_ADMIN.
const MATRIX: &str = "
operation                 V.OWNER V.ADMIN V.USER V.SO  P.OWNER P.ADMIN P.USER P.AA P.SO  C.OWNER C.ADMIN C.USER
me                        OK      OK      OK     OK    OK      OK      OK     OK   OK    OK      OK      OK
read_own_card             OK      OK      OK     OK    OK      OK      OK     OK   OK    OK      OK      OK
list_own_members          OK      OK      OK     OK    OK      OK      F      F    OK    OK      OK      F
list_invitations          OK      OK      OK     OK    OK      OK      F      F    OK    OK      OK      F
invite_own_user           OK      OK      F      F     OK      OK      F      F    F     OK      OK      F
invite_own_owner          OK      F       F      F     OK      F       F      F    F     OK      F       F
edit_own_card             OK      F       F      F     OK      F       F      F    F     OK      F       F
create_partner            OK      F       F      OK    F       F       F      F    F     F       F       F
import_client             OK      F       F      OK    F       F       F      F    F     F       F       F
register_client           F       F       F      F     OK      F       F      F    OK    F       F       F
read_client_card          OK      OK      OK     OK    OK      N       N      N    OK    OK      OK      OK
edit_client_card          OK      F       F      OK    OK      N       N      N    OK    OK      F       F
invite_client_user        OK      F       F      OK    OK      N       N      N    OK    OK      OK      F
list_client_members       OK      OK      OK     OK    OK      N       N      N    OK    OK      OK      F
edit_partner_profile      OK      F       F      OK    F       F       F      F    F     N       N       N
read_audit_log            OK      OK      OK     OK    OK      F       F      F    F     OK      F       F
record_payment            OK      F       F      OK    F       F       F      F    F     F       F       F
create_tariff             OK      F       F      OK    F       F       F      F    F     F       F       F
read_commissions          OK      OK      OK     OK    OK      F       F      F    F     F       F       F
read_client_payments      OK      OK      OK     OK    OK      N       N      N    OK    OK      OK      F
create_invoice            F       F       F      F     OK      F       F      F    OK    F       F       F
quote_commission          OK      OK      OK     OK    OK      N       N      N    OK    F       F       F
";

struct World {
    partner: String,
    client: String,
    tariff: String,
}

async fn run(app: &TestApp, op: &str, who: &Account, w: &World) -> String {
    let t = who.token.as_str();
    let own = who.subscriber_id.as_str();
    let r = match op {
        "me" => app.as_(t, "{ me { role user { email } subscriber { id } } }", json!({})).await,
        "read_own_card" => app.as_(t, "query($id: ID!) { subscriber(id: $id) { id name } }", json!({ "id": own })).await,
        "list_own_members" => app.as_(t, "query($id: ID!) { subscriber(id: $id) { members { totalCount } } }", json!({ "id": own })).await,
        "list_invitations" => app.as_(t, "{ invitations { totalCount } }", json!({})).await,
        "invite_own_user" | "invite_own_owner" | "invite_client_user" => {
            let (sid, role) = match op {
                "invite_own_user" => (own, "USER"),
                "invite_own_owner" => (own, "OWNER"),
                _ => (w.client.as_str(), "USER"),
            };
            app.as_(
                t,
                "mutation($s: ID, $e: String!, $r: Role!) { inviteUser(input: {subscriberId: $s, email: $e, role: $r}) { invitation { id } } }",
                json!({ "s": sid, "e": email("invitee"), "r": role }),
            )
            .await
        }
        "edit_own_card" | "edit_client_card" => {
            let id = if op == "edit_own_card" { own } else { w.client.as_str() };
            app.as_(t, "mutation($id: ID!) { updateSubscriber(id: $id, input: {phone: \"+7 495 000-00-00\"}) { phone } }", json!({ "id": id })).await
        }
        "create_partner" => {
            app.as_(t, "mutation($o: String!) { createPartner(input: {name: \"New partner\", ownerEmail: $o}) { subscriber { id } } }", json!({ "o": email("p") }))
                .await
        }
        "import_client" => app.as_(t, "mutation { importClient(input: {name: \"Imported\"}) { id } }", json!({})).await,
        "register_client" => {
            app.as_(t, "mutation($o: String!) { registerClient(input: {name: \"New client\", ownerEmail: $o}) { subscriber { id } } }", json!({ "o": email("c") }))
                .await
        }
        "read_client_card" => app.as_(t, "query($id: ID!) { subscriber(id: $id) { name servingPartner { id } } }", json!({ "id": w.client })).await,
        "list_client_members" => app.as_(t, "query($id: ID!) { subscriber(id: $id) { members { totalCount } } }", json!({ "id": w.client })).await,
        "edit_partner_profile" => {
            app.as_(t, "mutation($id: ID!) { updatePartnerProfile(partnerId: $id, input: {serviceDeskConnected: true}) { id } }", json!({ "id": w.partner }))
                .await
        }
        "read_audit_log" => app.as_(t, "{ auditLog { totalCount } }", json!({})).await,
        "record_payment" => {
            let i = json!({ "subscriberId": w.client, "tariffId": w.tariff, "periodMonths": 1, "amount": "100.00", "externalId": email("pay") });
            app.as_(t, "mutation($i: PaymentInput!) { recordPayment(input: $i) { id } }", json!({ "i": i })).await
        }
        "create_tariff" => {
            let code = format!("T-{}", uuid::Uuid::new_v4().simple());
            let i = json!({ "code": code, "name": "T", "programCode": "1C-FRESH", "category": "ITSAAS", "monthlyPrice": "1.00", "periods": [1] });
            app.as_(t, "mutation($i: TariffInput!) { createTariff(input: $i) { id } }", json!({ "i": i })).await
        }
        "read_commissions" => app.as_(t, "{ commissionSummary { total } }", json!({})).await,
        "read_client_payments" => {
            app.as_(t, "query($s: ID) { payments(subscriberId: $s) { totalCount } }", json!({ "s": w.client })).await
        }
        "create_invoice" => {
            app.as_(
                t,
                "mutation($c: ID!, $t: ID!) { createInvoice(input: {clientId: $c, tariffId: $t, periodMonths: 1}) { id } }",
                json!({ "c": w.client, "t": w.tariff }),
            )
            .await
        }
        "quote_commission" => {
            app.as_(
                t,
                "query($c: ID!, $t: ID!) { commissionQuote(subscriberId: $c, tariffId: $t, periodMonths: 1, amount: \"100.00\") { amount } }",
                json!({ "c": w.client, "t": w.tariff }),
            )
            .await
        }
        other => panic!("no operation {other} in the test"),
    };
    r.outcome()
}

#[tokio::test]
async fn every_role_of_every_kind_gets_exactly_the_matrix_outcome() {
    let app = spawn_app().await;
    let vendor_id = app.vendor_id().await;
    let vendor_owner = Account {
        token: app.vendor.clone(),
        subscriber_id: vendor_id.clone(),
        email: String::new(),
        membership_id: String::new(),
    };
    let partner_owner = app.partner("Partner P").await;
    let client_owner = app.client_of(&partner_owner, "Client C").await;
    app.presets().await;
    let tariff = app.tariff("FRESH", "1C-FRESH", "ITSAAS", "100.00", &[1, 12], 30).await;
    let world =
        World { partner: partner_owner.subscriber_id.clone(), client: client_owner.subscriber_id.clone(), tariff };

    let mut callers: Vec<(&str, Account)> = vec![("V.OWNER", vendor_owner.clone())];
    callers.push(("V.ADMIN", app.member(&app.vendor, &vendor_id, "ADMIN").await));
    callers.push(("V.USER", app.member(&app.vendor, &vendor_id, "USER").await));
    callers.push(("V.SO", app.member(&app.vendor, &vendor_id, "SERVICE_OPERATOR").await));
    callers.push(("P.OWNER", partner_owner.clone()));
    for (label, role) in
        [("P.ADMIN", "ADMIN"), ("P.USER", "USER"), ("P.AA", "ADAPTATION_ADMIN"), ("P.SO", "SERVICE_OPERATOR")]
    {
        callers.push((label, app.member(&partner_owner.token, &partner_owner.subscriber_id, role).await));
    }
    callers.push(("C.OWNER", client_owner.clone()));
    callers.push(("C.ADMIN", app.member(&client_owner.token, &client_owner.subscriber_id, "ADMIN").await));
    callers.push(("C.USER", app.member(&client_owner.token, &client_owner.subscriber_id, "USER").await));

    let mut lines = MATRIX.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().skip(1).collect();
    let labels: Vec<&str> = callers.iter().map(|(l, _)| *l).collect();
    assert_eq!(header, labels, "matrix columns and callers must line up");

    let mut mismatches = Vec::new();
    let mut checked = 0;
    for line in lines {
        let mut cells = line.split_whitespace();
        let op = cells.next().unwrap();
        for ((label, who), cell) in callers.iter().zip(cells) {
            let expected = match cell {
                "OK" => "OK",
                "F" => "FORBIDDEN",
                "N" => "NOT_FOUND",
                other => panic!("bad cell {other}"),
            };
            let got = run(&app, op, who, &world).await;
            checked += 1;
            if got != expected {
                mismatches.push(format!("{op} as {label}: expected {expected}, got {got}"));
            }
        }
    }
    assert_eq!(checked, 22 * 12);
    assert!(mismatches.is_empty(), "permission matrix mismatches:\n{}", mismatches.join("\n"));
}

#[tokio::test]
async fn anonymous_callers_reach_only_the_public_operations() {
    let app = spawn_app().await;
    for q in [
        "{ me { role } }",
        "{ subscribers { totalCount } }",
        "{ invitations { totalCount } }",
        "{ auditLog { totalCount } }",
    ] {
        app.gql(None, q, json!({})).await.err("UNAUTHENTICATED");
    }
    app.gql(None, "mutation { importClient(input: {name: \"X\"}) { id } }", json!({})).await.err("UNAUTHENTICATED");
}
