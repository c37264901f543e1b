//! The permission matrix of docs/rules.md §1–2 and the README, row by row: every query and mutation of the schema
//! (and the variants that matter: own subscriber or a client, which role is granted), as every role of
//! every subscriber kind and as an anonymous caller, with the exact outcome (`OK`, or the
//! `extensions.code` the caller gets). A root field without a row fails
//! `every_root_field_of_the_schema_has_a_row_in_the_matrix`, so a new operation cannot be added without
//! deciding who may call it.

use std::collections::BTreeSet;

use chrono::Datelike;
use serde_json::json;

use crate::helpers::{Account, PASSWORD, TestApp, VENDOR_EMAIL, email, inn, spawn_app};

/// Rows: operations (`rootField`, or `rootField/variant`, or `rootField.nestedField/variant`).
/// Columns: callers. V = the vendor, P = a partner, C = a client of P, ANON = no token.
/// SO = SERVICE_OPERATOR, AA = ADAPTATION_ADMIN.
/// Cells: `OK`; `F` FORBIDDEN; `N` NOT_FOUND; `U` UNAUTHENTICATED; `C` CONFLICT; `B` BAD_USER_INPUT
/// (allowed to call, refused for the input: for the rows whose success would end the caller's tokens).
/// A `*` marks a cell where the spec is silent or says otherwise and the code's answer stands for now
/// (each is in the notes below the table and was reported to the lead).
const MATRIX: &str = "
operation                        V.OWNER V.ADMIN V.USER V.SO  P.OWNER P.ADMIN P.USER P.AA P.SO  C.OWNER C.ADMIN C.USER ANON
me                               OK      OK      OK     OK    OK      OK      OK     OK   OK    OK      OK      OK     U
subscriber/own                   OK      OK      OK     OK    OK      OK      OK     OK   OK    OK      OK      OK     U
subscriber/client                OK      OK      OK     OK    OK      N       N      N    OK    OK      OK      OK     U
subscriber/partner               OK      OK      OK     OK    OK      OK      OK     OK   OK    N       N       N      U
subscriber.members/own           OK      OK      OK     OK    OK      OK      F      F    OK    OK      OK      F      U
subscriber.members/client        OK      OK      OK     OK    OK      N       N      N    OK    OK      OK      F      U
subscribers                      OK      OK      OK     OK    OK      OK      OK     OK   OK    OK      OK      OK     U
invitations                      OK      OK      OK     OK    OK      OK      F      F    OK    OK      OK      F      U
invitations/own                  OK      OK      OK     OK    OK      OK      F      F    OK    OK      OK      F      U
invitations/client               OK      OK      OK     OK    OK      N       N      N    OK    OK      OK      F      U
auditLog                         OK      OK      OK     OK    OK      F       F      F    F     OK      F       F      U
programs                         OK      OK      OK     OK    OK      OK      OK     OK   OK    OK*     OK*     OK*    U
tariffs                          OK      OK      OK     OK    OK      OK      OK     OK   OK    OK      OK      OK     U
payments                         OK      OK      OK     OK    OK      OK      F      F    OK    OK      OK      F      U
payments/client                  OK      OK      OK     OK    OK      N       N      N    OK    OK      OK      F      U
invoices                         OK      OK      OK     OK    OK      OK      F      F    OK    OK      OK      F      U
invoices/client                  OK      OK      OK     OK    OK      N       N      N    OK    OK      OK      F      U
commissions                      OK      OK      OK     OK    OK      F       F      F    F     F       F       F      U
commissionSummary                OK      OK      OK     OK    OK      F       F      F    F     F       F       F      U
commissionQuote                  OK      OK      OK     OK    OK      N       N      N    OK    F       F       F      U
stopList                         OK      OK      OK     OK    OK      F       F      F    OK    F       F       F      U
promoCodes                       OK      OK      OK     OK    OK      F       F      F    OK    F       F       F      U
bindingQuote                     OK      OK      OK     OK    OK      F       F      F    OK    F       F       F      U
weeklyDigest                     OK      OK      OK     OK    OK      F       F      F    OK    N       N       N      U
notifications                    OK      OK      OK     OK    F       F       F      F    F     F       F       F      U
partnerRanking                   OK      OK      OK     OK    OK      OK      OK     OK   OK    F       F       F      U
leadPool                         OK      OK      OK     OK    OK      OK      OK     OK   OK    F       F       F      U
unboundClients                   OK      OK      OK     OK    F       F       F      F    F     F       F       F      U
tasks                            OK      OK      OK     OK    OK      F       F      F    OK    F       F       F      U
notActivatedInvitations          OK      OK      OK     OK    OK      F       F      F    OK    F       F       F      U
supportedClients                 F       F       F      F     OK      F       F      F    OK    F       F       F      U
partnerDirectory                 OK      OK      OK     OK    OK      OK      OK     OK   OK    OK      OK      OK     OK
login                            OK      OK      OK     OK    OK      OK      OK     OK   OK    OK      OK      OK     OK
selfRegister                     OK      OK      OK     OK    OK      OK      OK     OK   OK    OK      OK      OK     OK
acceptInvitation                 OK      OK      OK     OK    OK      OK      OK     OK   OK    OK      OK      OK     OK
createPartner                    OK      F       F      OK    F       F       F      F    F     F       F       F      U
registerClient                   F       F       F      F     OK      F       F      F    OK    F       F       F      U
importClient                     OK      F       F      OK    F       F       F      F    F     F       F       F      U
updateSubscriber/own             OK      F       F      F     OK      F       F      F    F     OK      F       F      U
updateSubscriber/client          OK      F       F      OK    OK      N       N      N    OK    OK      F       F      U
updatePartnerProfile             OK      F       F      OK    F       F       F      F    F     N       N       N      U
changeRole/own-member            OK      OK      F      F     OK      OK      F      F    F     OK      OK      F      U
changeRole/own-to-owner          OK      F       F      F     OK      F       F      F    F     OK      F       F      U
changeRole/client-member         OK      F       F      OK    F       N       N      N    F     OK      OK      F      U
removeMember/own-member          OK      OK      F      F     OK      OK      F      F    F     OK      OK      F      U
removeMember/client-member       OK      F       F      OK    F       N       N      N    F     OK      OK      F      U
inviteUser/own                   OK      OK      F      F     OK      OK      F      F    F     OK      OK      F      U
inviteUser/own-owner             OK      F       F      F     OK      F       F      F    F     OK      F       F      U
inviteUser/client                OK      F       F      OK    OK      N       N      N    OK    OK      OK      F      U
resendInvitation/own             OK      OK      F      F     OK      OK      N      N    F     OK      OK      N      U
resendInvitation/client          OK      F       F      OK    OK      N       N      N    OK    OK      OK      N      U
revokeInvitation/own             OK      OK      F      F     OK      OK      N      N    F     OK      OK      N      U
revokeInvitation/client          OK      F       F      OK    OK      N       N      N    OK    OK      OK      N      U
setPartnerStatus                 OK      F       F      OK    F       F       F      F    F     N       N       N      U
setCommissionRule                OK      F       F      OK    F       F       F      F    F     F       F       F      U
deleteCommissionRule             OK      F       F      OK    F       F       F      F    F     F       F       F      U
createTariff                     OK      F       F      OK    F       F       F      F    F     F       F       F      U
archiveTariff                    OK      F       F      OK    F       F       F      F    F     F       F       F      U
startTrial                       OK      F       F      OK    OK      N       N      N    OK    OK      F       F      U
createSubscription/its-prof      OK      F       F      OK    OK      N       N      N    OK    F       F       F      U
createSubscription/partner-free  OK      F       F      OK    OK      F       F      F    F     N       N       N      U
cancelSubscription               OK      F       F      OK    OK      N       N      N    OK    OK      F       F      U
createInvoice                    F       F       F      F     OK      F       F      F    OK    F       F       F      U
recordPayment                    OK      F       F      OK    F       F       F      F    F     F       F       F      U
refundPayment                    OK      F       F      OK    F       F       F      F    F     F       F       F      U
approveCommissions               OK      F       F      OK    F       F       F      F    F     F       F       F      U
markCommissionsPaid              OK      F       F      OK    F       F       F      F    F     F       F       F      U
requestStopListLock              F       F       F      F     OK      F       F      F    OK    F       F       F      U
decideStopListLock               OK      F       F      OK    F       F       F      F    F     F       F       F      U
extendStopListLock               OK      F       F      OK    F       F       F      F    F     F       F       F      U
createPromoCode                  F       F       F      F     OK      F       F      F    OK    F       F       F      U
applyPromoCode                   F       F       F      F     F       F       F      F    F     OK      C       F      U
runWeeklyDigest                  OK      F       F      OK    F       F       F      F    F     F       F       F      U
publishLeadPool                  OK      F       F      OK    F       F       F      F    F     F       F       F      U
setLeadPoolMember                OK      F       F      OK    F       F       F      F    F     F       F       F      U
completeTask                     F       F       F      F     OK      F       F      F    OK    N       N       N      U
recordChurnReason                OK      F       F      OK    OK      N       N      N    OK    F       F       F      U
saveNeedsAssessment              OK      F       F      OK    OK      N       N      N    OK    OK*     OK*     F      U
issueSupportCode                 F       F       F      F     OK      F       F      F    OK    F       F       F      U
activateSupportCode              F       F       F      F     F       F       F      F    F     OK      OK      F      U
endSupportLine                   F       F       F      F     F       F       F      F    F     OK      OK      F      U
contacts                         OK      OK      OK     OK    OK      F       F      F    OK    F       F       F      U
contacts/book-of-partner         OK      OK      OK     OK    OK      F       F      F    OK    F       F       F      U
companies                        OK      OK      OK     OK    OK      F       F      F    OK    F       F       F      U
deals                            OK      OK      OK     OK    OK      F       F      F    OK    F       F       F      U
contact                          OK      OK      OK     OK    OK      F       F      F    OK    F       F       F      U
company                          OK      OK      OK     OK    OK      F       F      F    OK    F       F       F      U
deal                             OK      OK      OK     OK    OK      F       F      F    OK    F       F       F      U
upsertContact/new                OK      F       F      OK    OK      F       F      F    OK    F       F       F      U
upsertContact/partners-row       F       F       F      F     OK      F       F      F    OK    F       F       F      U
upsertCompany/new                OK      F       F      OK    OK      F       F      F    OK    F       F       F      U
upsertCompany/partners-row       F       F       F      F     OK      F       F      F    OK    F       F       F      U
upsertDeal/new                   OK      F       F      OK    OK      F       F      F    OK    F       F       F      U
upsertDeal/partners-row          F       F       F      F     OK      F       F      F    OK    F       F       F      U
upsertContacts                   OK      F       F      OK    OK      F       F      F    OK    F       F       F      U
upsertCompanies                  OK      F       F      OK    OK      F       F      F    OK    F       F       F      U
upsertDeals                      OK      F       F      OK    OK      F       F      F    OK    F       F       F      U
addDealContact                   F       F       F      F     OK      F       F      F    OK    F       F       F      U
removeDealContact                F       F       F      F     OK      F       F      F    OK    F       F       F      U
deleteContact                    F       F       F      F     OK      F       F      F    OK    F       F       F      U
deleteCompany                    F       F       F      F     OK      F       F      F    OK    F       F       F      U
deleteDeal                       F       F       F      F     OK      F       F      F    OK    F       F       F      U
webhookEventTypes                OK      OK      OK     OK    OK      OK      OK     OK   OK    OK      OK      OK     U
webhookEndpoints                 OK      OK      OK     OK    OK      F       F      F    F     F       F       F      U
webhookDeliveries                OK      OK      OK     OK    OK      F       F      F    F     F       F       F      U
webhookDeliveries/vendor-endpoint OK     OK      OK     OK    N       F       F      F    F     F       F       F      U
webhookDeliveries/partner-endpoint N     N       N      N     OK      F       F      F    F     F       F       F      U
createWebhookEndpoint            OK      F       F      OK    OK      F       F      F    F     F       F       F      U
updateWebhookEndpoint/vendor     OK      F       F      OK    N       F       F      F    F     F       F       F      U
updateWebhookEndpoint/partner    N       F       F      N     OK      F       F      F    F     F       F       F      U
deleteWebhookEndpoint/vendor     OK      F       F      OK    N       F       F      F    F     F       F       F      U
deleteWebhookEndpoint/partner    N       F       F      N     OK      F       F      F    F     F       F       F      U
rotateWebhookSecret/vendor       OK      F       F      OK    N       F       F      F    F     F       F       F      U
rotateWebhookSecret/partner      N       F       F      N     OK      F       F      F    F     F       F       F      U
sendTestWebhook/vendor           OK      F       F      OK    N       F       F      F    F     F       F       F      U
sendTestWebhook/partner          N       F       F      N     OK      F       F      F    F     F       F       F      U
redeliverWebhook/vendor          OK      F       F      OK    N       F       F      F    F     F       F       F      U
redeliverWebhook/partner         N       F       F      N     OK      F       F      F    F     F       F       F      U
apiKeys                          OK      F       F      F     OK      F       F      F    F     OK      F       F      U
createApiKey                     OK      F       F      F     OK      F       F      F    F     OK      F       F      U
revokeApiKey/own                 OK      F       F      F     OK      F       F      F    F     OK      F       F      U
revokeApiKey/partners            N       F       F      F     OK      F       F      F    F     N       F       F      U
changePassword/weak-new          B       B       B      B     B       B       B      B    B     B       B       B      U
requestPasswordReset             OK      OK      OK     OK    OK      OK      OK     OK   OK    OK      OK      OK     OK
resetPassword/unknown-token      B       B       B      B     B       B       B      B    B     B       B       B      B
setUserActive                    OK      F       F      OK    F       F       F      F    F     F       F       F      U
assignClient                     OK      F       F      OK    F       F       F      F    F     F       F       F      U
";

// Notes on the table:
// - `applyPromoCode` as C.ADMIN is `C`: the client's admin may apply a bonus code, but the owner's call in
//   the column before used the client's one bonus ever (`BONUS_ALREADY_USED`).
// - `programs` as a client (`*`): docs/rules.md §1–2 gives clients their subscriber and applications only; the
//   read answers `OK` with the programs' names, statuses and categories, and `rules` empty for clients
//   (the partners' rates are not a client's business, docs/rules.md §6; tested in commissions.rs).
// - `saveNeedsAssessment` as the client's own owner or admin (`*`): docs/rules.md §1–2 gives needs assessments to the
//   partner's `SERVICE_OPERATOR` and `OWNER`; the code (and its schema description, and a test in
//   work.rs) lets the client fill in its own. Reported.
// - Resending or revoking an invitation the caller cannot even list (a `USER`, an `ADAPTATION_ADMIN`) is
//   `N`: the invitation is outside its reach. Every role of the vendor reads everything, its own members
//   and invitations too, so the vendor's `USER` gets `F`.
// - A role that may never do an operation gets `F` before any id is looked up, whatever the id names; a
//   role that may do it gets `N` for what is outside its reach (a partner's `ADMIN` and a client).
// - CRM books (docs/rules.md §10): the rows named by id (`contact`, `upsertContact/partners-row`, the links and
//   deletes) are the partner P's, fresh for each call; `/new` rows go to the caller's own book, so the
//   vendor's `OWNER` and `SERVICE_OPERATOR` write (their own book) but get `F` on P's rows, which every
//   vendor role reads. `contacts/book-of-partner` names P's book by `bookId`.
// - Webhook endpoints are their subscriber's own (like API keys): a partner's `OWNER` manages its
//   partner's, the vendor's `OWNER` and `SERVICE_OPERATOR` the vendor's, every vendor role reads the
//   vendor's; another subscriber's endpoint or delivery is `N` for everyone, the vendor included.

/// Someone calling: a member of the vendor, the partner or the client, or nobody.
struct Caller {
    label: &'static str,
    account: Option<Account>,
    /// The owner of the caller's subscriber, who sets up members and invitations there.
    home_owner: Account,
}

impl Caller {
    fn token(&self) -> Option<&str> {
        self.account.as_ref().map(|a| a.token.as_str())
    }

    /// The caller's own subscriber (for the anonymous caller, the partner's: it gets no further).
    fn own(&self) -> &str {
        self.account.as_ref().unwrap_or(&self.home_owner).subscriber_id.as_str()
    }
}

struct World {
    vendor: Account,
    partner: Account,
    client: Account,
    /// A 1C-FRESH ITSAAS tariff with a trial, 1 and 12 months.
    tariff: String,
    pool: String,
    lock: String,
    monday: String,
    quarter: String,
    /// A webhook endpoint of the vendor and one of the partner, each with a queued test delivery.
    hooks: [(String, String); 2],
}

fn id_at(r: &crate::helpers::Gql, path: &[&str]) -> String {
    let mut v = r.ok();
    for p in path {
        v = match p.parse::<usize>() {
            Ok(i) => &v[i],
            Err(_) => &v[*p],
        };
    }
    v.as_str().unwrap_or_else(|| panic!("no id at {path:?} in {}", r.0)).to_owned()
}

async fn fresh_tariff(app: &TestApp, partner_only: bool) -> String {
    let code = format!("T-{}", uuid::Uuid::new_v4().simple());
    let price = if partner_only { "0.00" } else { "100.00" };
    let r = app
        .as_(
            &app.vendor,
            "mutation($i: TariffInput!) { createTariff(input: $i) { id } }",
            json!({ "i": { "code": code, "name": code, "programCode": "1C-FRESH", "category": "ITSAAS",
                           "monthlyPrice": price, "periods": [1, 12], "trialDays": 14, "partnerOnly": partner_only } }),
        )
        .await;
    id_at(&r, &["createTariff", "id"])
}

/// A pending `USER` invitation to `subscriber`, made by its owner; returns its id.
async fn pending_invitation(app: &TestApp, owner: &Account, subscriber: &str) -> String {
    let r = app
        .as_(
            &owner.token,
            "mutation($s: ID, $e: String!) { inviteUser(input: {subscriberId: $s, email: $e, role: USER}) { invitation { id } } }",
            json!({ "s": subscriber, "e": email("pending") }),
        )
        .await;
    id_at(&r, &["inviteUser", "invitation", "id"])
}

/// A payment of the client by the vendor: its id and its commission's id (the partner's CSK rule).
async fn payment(app: &TestApp, w: &World) -> (String, String) {
    let r = app.pay(&w.client.subscriber_id, &w.tariff, 1, "100.00", &email("pay")).await;
    (id_at(&r, &["recordPayment", "id"]), id_at(&r, &["recordPayment", "commissions", "0", "id"]))
}

async fn run(app: &TestApp, op: &str, who: &Caller, w: &World) -> String {
    let t = who.token();
    let own = who.own();
    let client = w.client.subscriber_id.as_str();
    let partner = w.partner.subscriber_id.as_str();
    let r = match op {
        "me" => app.gql(t, "{ me { role user { email } subscriber { id } } }", json!({})).await,
        "subscriber/own" | "subscriber/client" | "subscriber/partner" => {
            let id = match op {
                "subscriber/own" => own,
                "subscriber/client" => client,
                _ => partner,
            };
            app.gql(t, "query($id: ID!) { subscriber(id: $id) { id name servingPartner { id } } }", json!({ "id": id }))
                .await
        }
        "subscriber.members/own" | "subscriber.members/client" => {
            let id = if op.ends_with("own") { own } else { client };
            app.gql(t, "query($id: ID!) { subscriber(id: $id) { members { totalCount } } }", json!({ "id": id })).await
        }
        "subscribers" => app.gql(t, "{ subscribers { totalCount } }", json!({})).await,
        "invitations" => app.gql(t, "{ invitations { totalCount } }", json!({})).await,
        "invitations/own" | "invitations/client" => {
            let id = if op.ends_with("own") { own } else { client };
            app.gql(t, "query($s: ID) { invitations(subscriberId: $s) { totalCount } }", json!({ "s": id })).await
        }
        "auditLog" => app.gql(t, "{ auditLog { totalCount } }", json!({})).await,
        "programs" => app.gql(t, "{ programs { code rules { rate } } }", json!({})).await,
        "tariffs" => app.gql(t, "{ tariffs { code } }", json!({})).await,
        "payments" => app.gql(t, "{ payments { totalCount } }", json!({})).await,
        "payments/client" => {
            app.gql(t, "query($s: ID) { payments(subscriberId: $s) { totalCount } }", json!({ "s": client })).await
        }
        "invoices" => app.gql(t, "{ invoices { totalCount } }", json!({})).await,
        "invoices/client" => {
            app.gql(t, "query($c: ID) { invoices(clientId: $c) { totalCount } }", json!({ "c": client })).await
        }
        "commissions" => app.gql(t, "{ commissions { totalCount } }", json!({})).await,
        "commissionSummary" => app.gql(t, "{ commissionSummary { total } }", json!({})).await,
        "commissionQuote" => {
            app.gql(
                t,
                "query($c: ID!, $t: ID!) { commissionQuote(subscriberId: $c, tariffId: $t, periodMonths: 1, amount: \"100.00\") { amount } }",
                json!({ "c": client, "t": w.tariff }),
            )
            .await
        }
        "stopList" => app.gql(t, "{ stopList { totalCount } }", json!({})).await,
        "promoCodes" => app.gql(t, "{ promoCodes { totalCount } }", json!({})).await,
        "bindingQuote" => {
            app.gql(
                t,
                "query($c: ID!, $p: ID!) { bindingQuote(clientId: $c, source: PARTNER_INVOICE, partnerId: $p) { binds } }",
                json!({ "c": client, "p": partner }),
            )
            .await
        }
        "weeklyDigest" => {
            app.gql(
                t,
                "query($p: ID, $w: Date!) { weeklyDigest(partnerId: $p, weekStart: $w) { weekStart } }",
                json!({ "p": partner, "w": w.monday }),
            )
            .await
        }
        "notifications" => app.gql(t, "{ notifications { totalCount } }", json!({})).await,
        "partnerRanking" => {
            app.gql(
                t,
                "query($q: String!) { partnerRanking(programCode: \"1C-FRESH\", quarter: $q) { rank } }",
                json!({ "q": w.quarter }),
            )
            .await
        }
        "leadPool" => app.gql(t, "{ leadPool(programCode: \"1C-FRESH\") { id } }", json!({})).await,
        "unboundClients" => app.gql(t, "{ unboundClients { totalCount } }", json!({})).await,
        "tasks" => app.gql(t, "{ tasks { totalCount } }", json!({})).await,
        "notActivatedInvitations" => app.gql(t, "{ notActivatedInvitations { totalCount } }", json!({})).await,
        "supportedClients" => app.gql(t, "{ supportedClients { totalCount } }", json!({})).await,
        "partnerDirectory" => app.gql(t, "{ partnerDirectory { id } }", json!({})).await,

        "login" => {
            let me = who.account.as_ref().unwrap_or(&w.partner);
            app.gql(
                t,
                "mutation($e: String!, $p: String!, $s: ID) { login(email: $e, password: $p, subscriberId: $s) { token } }",
                json!({ "e": me.email, "p": PASSWORD, "s": me.subscriber_id }),
            )
            .await
        }
        "selfRegister" => {
            app.gql(
                t,
                "mutation($e: String!, $p: String!) { selfRegister(input: {companyName: \"Self\", email: $e, name: \"Self\", password: $p}) { token } }",
                json!({ "e": email("self"), "p": PASSWORD }),
            )
            .await
        }
        "acceptInvitation" => {
            let r = app
                .as_(
                    &w.partner.token,
                    "mutation($e: String!) { inviteUser(input: {email: $e, role: USER}) { token } }",
                    json!({ "e": email("joiner") }),
                )
                .await;
            app.gql(
                t,
                "mutation($t: String!, $p: String!) { acceptInvitation(token: $t, name: \"Joiner\", password: $p) { token } }",
                json!({ "t": id_at(&r, &["inviteUser", "token"]), "p": PASSWORD }),
            )
            .await
        }
        "createPartner" => {
            app.gql(
                t,
                "mutation($o: String!) { createPartner(input: {name: \"New partner\", ownerEmail: $o}) { subscriber { id } } }",
                json!({ "o": email("p") }),
            )
            .await
        }
        "registerClient" => {
            app.gql(
                t,
                "mutation($o: String!) { registerClient(input: {name: \"New client\", ownerEmail: $o}) { subscriber { id } } }",
                json!({ "o": email("c") }),
            )
            .await
        }
        "importClient" => app.gql(t, "mutation { importClient(input: {name: \"Imported\"}) { id } }", json!({})).await,
        "updateSubscriber/own" | "updateSubscriber/client" => {
            let id = if op.ends_with("own") { own } else { client };
            app.gql(
                t,
                "mutation($id: ID!) { updateSubscriber(id: $id, input: {phone: \"+7 495 000-00-00\"}) { phone } }",
                json!({ "id": id }),
            )
            .await
        }
        "updatePartnerProfile" => {
            app.gql(
                t,
                "mutation($id: ID!) { updatePartnerProfile(partnerId: $id, input: {serviceDeskConnected: true}) { id } }",
                json!({ "id": partner }),
            )
            .await
        }
        "changeRole/own-member" | "changeRole/own-to-owner" | "changeRole/client-member" => {
            let (owner, to) = match op {
                "changeRole/own-member" => (&who.home_owner, "ADMIN"),
                "changeRole/own-to-owner" => (&who.home_owner, "OWNER"),
                _ => (&w.client, "ADMIN"),
            };
            let m = app.member(&owner.token, &owner.subscriber_id, "USER").await;
            app.gql(
                t,
                "mutation($m: ID!, $r: Role!) { changeRole(membershipId: $m, role: $r) { role } }",
                json!({ "m": m.membership_id, "r": to }),
            )
            .await
        }
        "removeMember/own-member" | "removeMember/client-member" => {
            let owner = if op.ends_with("own-member") { &who.home_owner } else { &w.client };
            let m = app.member(&owner.token, &owner.subscriber_id, "USER").await;
            app.gql(t, "mutation($m: ID!) { removeMember(membershipId: $m) }", json!({ "m": m.membership_id })).await
        }
        "inviteUser/own" | "inviteUser/own-owner" | "inviteUser/client" => {
            let (sid, role) = match op {
                "inviteUser/own" => (own, "USER"),
                "inviteUser/own-owner" => (own, "OWNER"),
                _ => (client, "USER"),
            };
            app.gql(
                t,
                "mutation($s: ID, $e: String!, $r: Role!) { inviteUser(input: {subscriberId: $s, email: $e, role: $r}) { invitation { id } } }",
                json!({ "s": sid, "e": email("invitee"), "r": role }),
            )
            .await
        }
        "resendInvitation/own" | "resendInvitation/client" | "revokeInvitation/own" | "revokeInvitation/client" => {
            let owner = if op.ends_with("own") { &who.home_owner } else { &w.client };
            let id = pending_invitation(app, owner, &owner.subscriber_id).await;
            let q = if op.starts_with("resend") {
                "mutation($id: ID!) { resendInvitation(id: $id) { token } }"
            } else {
                "mutation($id: ID!) { revokeInvitation(id: $id) { status } }"
            };
            app.gql(t, q, json!({ "id": id })).await
        }
        "setPartnerStatus" => {
            app.gql(
                t,
                "mutation($p: ID!) { setPartnerStatus(partnerId: $p, programCode: \"1C-FRESH\", status: \"CSK\") { id } }",
                json!({ "p": partner }),
            )
            .await
        }
        "setCommissionRule" => {
            app.gql(
                t,
                "mutation { setCommissionRule(input: {programCode: \"1C-CONNECT\", category: \"DEVELOPER_SERVICES\", rate: \"10.00\"}) { id } }",
                json!({}),
            )
            .await
        }
        "deleteCommissionRule" => {
            let r = app
                .as_(
                    &app.vendor,
                    "mutation { setCommissionRule(input: {programCode: \"1C-CONNECT\", status: \"AGENT\", category: \"ONPREM_USER\", purchase: FIRST, rate: \"12.00\"}) { id } }",
                    json!({}),
                )
                .await;
            let id = id_at(&r, &["setCommissionRule", "id"]);
            app.gql(t, "mutation($id: ID!) { deleteCommissionRule(id: $id) }", json!({ "id": id })).await
        }
        "createTariff" => {
            let code = format!("T-{}", uuid::Uuid::new_v4().simple());
            let i = json!({ "code": code, "name": "T", "programCode": "1C-FRESH", "category": "ITSAAS", "monthlyPrice": "1.00", "periods": [1] });
            app.gql(t, "mutation($i: TariffInput!) { createTariff(input: $i) { id } }", json!({ "i": i })).await
        }
        "archiveTariff" => {
            let id = fresh_tariff(app, false).await;
            app.gql(t, "mutation($id: ID!) { archiveTariff(id: $id) { archived } }", json!({ "id": id })).await
        }
        "startTrial" => {
            let tariff = fresh_tariff(app, false).await;
            app.gql(
                t,
                "mutation($s: ID!, $t: ID!) { startTrial(subscriberId: $s, tariffId: $t) { id } }",
                json!({ "s": client, "t": tariff }),
            )
            .await
        }
        "createSubscription/its-prof" | "createSubscription/partner-free" => {
            let free = op.ends_with("partner-free");
            let tariff = fresh_tariff(app, free).await;
            let (s, basis) = if free { (partner, "PARTNER_FREE") } else { (client, "ITS_PROF") };
            app.gql(
                t,
                "mutation($s: ID!, $t: ID!, $b: SubscriptionBasis!) { createSubscription(subscriberId: $s, tariffId: $t, basis: $b) { id } }",
                json!({ "s": s, "t": tariff, "b": basis }),
            )
            .await
        }
        "cancelSubscription" => {
            let tariff = fresh_tariff(app, false).await;
            let r = app
                .as_(
                    &app.vendor,
                    "mutation($s: ID!, $t: ID!) { createSubscription(subscriberId: $s, tariffId: $t, basis: ITS_PROF) { id } }",
                    json!({ "s": client, "t": tariff }),
                )
                .await;
            let id = id_at(&r, &["createSubscription", "id"]);
            app.gql(t, "mutation($id: ID!) { cancelSubscription(id: $id) { status } }", json!({ "id": id })).await
        }
        "createInvoice" => {
            app.gql(
                t,
                "mutation($c: ID!, $t: ID!) { createInvoice(input: {clientId: $c, tariffId: $t, periodMonths: 1}) { id } }",
                json!({ "c": client, "t": w.tariff }),
            )
            .await
        }
        "recordPayment" => {
            let i = json!({ "subscriberId": client, "tariffId": w.tariff, "periodMonths": 1, "amount": "100.00", "externalId": email("pay") });
            app.gql(t, "mutation($i: PaymentInput!) { recordPayment(input: $i) { id } }", json!({ "i": i })).await
        }
        "refundPayment" => {
            let (id, _) = payment(app, w).await;
            app.gql(
                t,
                "mutation($id: ID!, $e: String!) { refundPayment(paymentId: $id, externalId: $e) { refunded } }",
                json!({ "id": id, "e": email("refund") }),
            )
            .await
        }
        "approveCommissions" | "markCommissionsPaid" => {
            let (_, commission) = payment(app, w).await;
            if op == "approveCommissions" {
                app.gql(t, "mutation($ids: [ID!]!) { approveCommissions(ids: $ids) { status } }", json!({ "ids": [commission] }))
                    .await
            } else {
                app.as_(&app.vendor, "mutation($ids: [ID!]!) { approveCommissions(ids: $ids) { status } }", json!({ "ids": [commission] }))
                    .await
                    .ok();
                app.gql(
                    t,
                    "mutation($ids: [ID!]!) { markCommissionsPaid(ids: $ids, payoutReference: \"PO-1\") { status } }",
                    json!({ "ids": [commission] }),
                )
                .await
            }
        }
        "requestStopListLock" => {
            app.gql(t, "mutation($i: String!) { requestStopListLock(inn: $i) { id } }", json!({ "i": next_inn() })).await
        }
        "decideStopListLock" => {
            let r = app
                .as_(&w.partner.token, "mutation($i: String!) { requestStopListLock(inn: $i) { id } }", json!({ "i": next_inn() }))
                .await;
            let id = id_at(&r, &["requestStopListLock", "id"]);
            app.gql(
                t,
                "mutation($id: ID!) { decideStopListLock(id: $id, approve: false, reason: \"Not now\") { status } }",
                json!({ "id": id }),
            )
            .await
        }
        "extendStopListLock" => {
            app.gql(t, "mutation($id: ID!) { extendStopListLock(id: $id, months: 1) { expiresAt } }", json!({ "id": w.lock }))
                .await
        }
        "createPromoCode" => app.gql(t, BONUS, json!({})).await,
        "applyPromoCode" => {
            let r = app.as_(&w.partner.token, BONUS, json!({})).await;
            let code = id_at(&r, &["createPromoCode", "code"]);
            app.gql(t, "mutation($c: String!) { applyPromoCode(code: $c) { bound } }", json!({ "c": code })).await
        }
        "runWeeklyDigest" => {
            app.gql(t, "mutation($w: Date!) { runWeeklyDigest(weekStart: $w) }", json!({ "w": w.monday })).await
        }
        "publishLeadPool" => {
            let today = app.state.clock.now().date_naive();
            let i = json!({ "programCode": "1C-FRESH", "quarter": w.quarter, "validFrom": today.to_string(),
                            "validUntil": (today + chrono::Duration::days(90)).to_string() });
            app.gql(t, "mutation($i: LeadPoolInput!) { publishLeadPool(input: $i) { id } }", json!({ "i": i })).await
        }
        "setLeadPoolMember" => {
            app.gql(
                t,
                "mutation($pool: ID!, $p: ID!) { setLeadPoolMember(poolId: $pool, partnerId: $p, weight: \"1.00\", reason: \"Checked\") { weight } }",
                json!({ "pool": w.pool, "p": partner }),
            )
            .await
        }
        "completeTask" => {
            let r = app
                .as_(
                    &w.partner.token,
                    "mutation($o: String!) { registerClient(input: {name: \"Task client\", ownerEmail: $o}) { subscriber { id } } }",
                    json!({ "o": email("task") }),
                )
                .await;
            let c = id_at(&r, &["registerClient", "subscriber", "id"]);
            let r = app.as_(&w.partner.token, "query($c: ID) { tasks(clientId: $c) { nodes { id } } }", json!({ "c": c })).await;
            let id = id_at(&r, &["tasks", "nodes", "0", "id"]);
            app.gql(t, "mutation($id: ID!) { completeTask(id: $id, outcome: \"Called\") { status } }", json!({ "id": id }))
                .await
        }
        "recordChurnReason" => {
            app.gql(t, "mutation($c: ID!) { recordChurnReason(clientId: $c, reason: PRICE) { id } }", json!({ "c": client }))
                .await
        }
        "saveNeedsAssessment" => {
            app.gql(
                t,
                "mutation($c: ID!) { saveNeedsAssessment(clientId: $c, input: {lineOfBusiness: \"Retail\"}) { id } }",
                json!({ "c": client }),
            )
            .await
        }
        "issueSupportCode" => {
            app.gql(t, "mutation($c: ID) { issueSupportCode(clientId: $c) }", json!({ "c": client })).await
        }
        "activateSupportCode" => {
            let r = app
                .as_(&w.partner.token, "mutation($c: ID) { issueSupportCode(clientId: $c) }", json!({ "c": client }))
                .await;
            let code = id_at(&r, &["issueSupportCode"]);
            app.gql(t, "mutation($c: String!) { activateSupportCode(code: $c) { id } }", json!({ "c": code })).await
        }
        "endSupportLine" => app.gql(t, "mutation { endSupportLine { id } }", json!({})).await,
        // A new password the policy refuses: every person gets as far as the input check (a good one would end
        // the caller's tokens; tests/api/accounts.rs changes passwords).
        "changePassword/weak-new" => {
            app.gql(
                t,
                "mutation($c: String!) { changePassword(currentPassword: $c, newPassword: \"x\") }",
                json!({ "c": PASSWORD }),
            )
            .await
        }
        "requestPasswordReset" => {
            app.gql(t, "mutation($e: String!) { requestPasswordReset(email: $e) }", json!({ "e": w.client.email }))
                .await
        }
        "resetPassword/unknown-token" => {
            app.gql(
                t,
                "mutation { resetPassword(token: \"no-such-token\", newPassword: \"a long enough password 1\") { token } }",
                json!({}),
            )
            .await
        }
        // Reactivating an active user (the client's owner) changes nothing.
        "setUserActive" => {
            let me = app.as_(&w.client.token, "{ me { user { id } } }", json!({})).await;
            let user = id_at(&me, &["me", "user", "id"]);
            app.gql(t, "mutation($u: ID!) { setUserActive(userId: $u, active: true) { id } }", json!({ "u": user }))
                .await
        }
        // Assigning the client to the partner it is bound to changes nothing.
        "assignClient" => {
            app.gql(
                t,
                "mutation($c: ID!, $p: ID) { assignClient(clientId: $c, partnerId: $p, reason: \"matrix\") { id } }",
                json!({ "c": w.client.subscriber_id, "p": w.partner.subscriber_id }),
            )
            .await
        }
        "contacts" | "companies" | "deals" => app.gql(t, &format!("{{ {op} {{ totalCount }} }}"), json!({})).await,
        "contacts/book-of-partner" => {
            app.gql(t, "query($b: ID) { contacts(bookId: $b) { totalCount } }", json!({ "b": partner })).await
        }
        "contact" | "company" | "deal" => {
            let id = crm_row(app, w, op).await;
            app.gql(t, &format!("query($id: ID!) {{ {op}(id: $id) {{ id }} }}"), json!({ "id": id })).await
        }
        "upsertContact/new" | "upsertCompany/new" | "upsertDeal/new" => {
            let q = match op {
                "upsertContact/new" => "mutation { upsertContact(input: {name: \"N\"}) { created } }",
                "upsertCompany/new" => "mutation { upsertCompany(input: {name: \"N\"}) { created } }",
                _ => "mutation { upsertDeal(input: {title: \"N\"}) { created } }",
            };
            app.gql(t, q, json!({})).await
        }
        "upsertContact/partners-row" | "upsertCompany/partners-row" | "upsertDeal/partners-row" => {
            let (kind, q) = match op {
                "upsertContact/partners-row" => {
                    ("contact", "mutation($id: ID) { upsertContact(input: {id: $id, phone: \"1\"}) { created } }")
                }
                "upsertCompany/partners-row" => {
                    ("company", "mutation($id: ID) { upsertCompany(input: {id: $id, kpp: null}) { created } }")
                }
                _ => ("deal", "mutation($id: ID) { upsertDeal(input: {id: $id, stage: WON}) { created } }"),
            };
            let id = crm_row(app, w, kind).await;
            app.gql(t, q, json!({ "id": id })).await
        }
        "upsertContacts" => {
            app.gql(t, "mutation { upsertContacts(inputs: [{name: \"N\"}]) { created } }", json!({})).await
        }
        "upsertCompanies" => {
            app.gql(t, "mutation { upsertCompanies(inputs: [{name: \"N\"}]) { created } }", json!({})).await
        }
        "upsertDeals" => app.gql(t, "mutation { upsertDeals(inputs: [{title: \"N\"}]) { created } }", json!({})).await,
        "addDealContact" | "removeDealContact" => {
            let (deal, contact) = (crm_row(app, w, "deal").await, crm_row(app, w, "contact").await);
            app.gql(
                t,
                &format!("mutation($d: ID!, $c: ID!) {{ {op}(dealId: $d, contactId: $c) {{ id }} }}"),
                json!({ "d": deal, "c": contact }),
            )
            .await
        }
        "deleteContact" | "deleteCompany" | "deleteDeal" => {
            let kind = op.trim_start_matches("delete").to_lowercase();
            let id = crm_row(app, w, &kind).await;
            app.gql(t, &format!("mutation($id: ID!) {{ {op}(id: $id) }}"), json!({ "id": id })).await
        }
        "webhookEventTypes" => app.gql(t, "{ webhookEventTypes }", json!({})).await,
        "webhookEndpoints" => app.gql(t, "{ webhookEndpoints { totalCount } }", json!({})).await,
        "webhookDeliveries" => app.gql(t, "{ webhookDeliveries { totalCount } }", json!({})).await,
        "webhookDeliveries/vendor-endpoint" | "webhookDeliveries/partner-endpoint" => {
            let (endpoint, _) = &w.hooks[usize::from(op.ends_with("partner-endpoint"))];
            app.gql(t, "query($e: ID) { webhookDeliveries(endpointId: $e) { totalCount } }", json!({ "e": endpoint }))
                .await
        }
        "createWebhookEndpoint" => {
            let r = app
                .gql(
                    t,
                    "mutation { createWebhookEndpoint(input: {url: \"https://example.com/new\", eventTypes: [\"client.bound\"]}) { endpoint { id } } }",
                    json!({}),
                )
                .await;
            // Keep the subscriber under its endpoint limit.
            if let (Some(token), Some(id)) = (t, r.0["data"]["createWebhookEndpoint"]["endpoint"]["id"].as_str()) {
                app.as_(token, "mutation($id: ID!) { deleteWebhookEndpoint(id: $id) }", json!({ "id": id })).await.ok();
            }
            r
        }
        op if op.contains("Webhook") && (op.ends_with("/vendor") || op.ends_with("/partner")) => {
            let partner_side = op.ends_with("/partner");
            let (endpoint, delivery) = &w.hooks[usize::from(partner_side)];
            let owner = if partner_side { &w.partner.token } else { &w.vendor.token };
            match op.split('/').next().unwrap() {
                "updateWebhookEndpoint" => {
                    app.gql(
                        t,
                        "mutation($id: ID!) { updateWebhookEndpoint(id: $id, input: {url: \"https://example.com/hook\", eventTypes: [\"payment.recorded\"]}) { id } }",
                        json!({ "id": endpoint }),
                    )
                    .await
                }
                "deleteWebhookEndpoint" => {
                    // A fresh endpoint each time, removed afterwards if the caller could not.
                    let (fresh, _) = webhook(app, owner).await;
                    let r = app.gql(t, "mutation($id: ID!) { deleteWebhookEndpoint(id: $id) }", json!({ "id": fresh })).await;
                    app.gql(Some(owner), "mutation($id: ID!) { deleteWebhookEndpoint(id: $id) }", json!({ "id": fresh })).await;
                    r
                }
                "rotateWebhookSecret" => {
                    app.gql(t, "mutation($id: ID!) { rotateWebhookSecret(id: $id) { secret } }", json!({ "id": endpoint }))
                        .await
                }
                "sendTestWebhook" => {
                    app.gql(t, "mutation($id: ID!) { sendTestWebhook(endpointId: $id) { id } }", json!({ "id": endpoint }))
                        .await
                }
                "redeliverWebhook" => {
                    app.gql(t, "mutation($id: ID!) { redeliverWebhook(deliveryId: $id) { id } }", json!({ "id": delivery }))
                        .await
                }
                other => panic!("no webhook operation {other}"),
            }
        }
        "apiKeys" => app.gql(t, "{ apiKeys { totalCount } }", json!({})).await,
        "createApiKey" => {
            app.gql(t, "mutation { createApiKey(input: {name: \"Matrix\", role: USER}) { secret } }", json!({})).await
        }
        "revokeApiKey/own" | "revokeApiKey/partners" => {
            let owner = if op.ends_with("own") { &who.home_owner } else { &w.partner };
            let r = app
                .as_(&owner.token, "mutation { createApiKey(input: {name: \"Matrix\", role: USER}) { apiKey { id } } }", json!({}))
                .await;
            let id = id_at(&r, &["createApiKey", "apiKey", "id"]);
            app.gql(t, "mutation($id: ID!) { revokeApiKey(id: $id) { revokedAt } }", json!({ "id": id })).await
        }
        other => panic!("no operation {other} in the test"),
    };
    r.outcome()
}

/// A fresh row of the partner P's CRM book (`contact`, `company` or `deal`): its id.
async fn crm_row(app: &TestApp, w: &World, kind: &str) -> String {
    let row = match kind {
        "contact" => app.contact(&w.partner, json!({ "name": "C" })).await,
        "company" => app.company(&w.partner, json!({ "name": "Co" })).await,
        "deal" => app.deal(&w.partner, json!({ "title": "D" })).await,
        other => panic!("no CRM row {other}"),
    };
    row["id"].as_str().unwrap_or_else(|| panic!("no id in {row}")).to_owned()
}

/// A webhook endpoint made by `owner` and a test delivery queued to it: their ids.
async fn webhook(app: &TestApp, owner: &str) -> (String, String) {
    let r = app
        .as_(
            owner,
            "mutation { createWebhookEndpoint(input: {url: \"https://example.com/hook\", eventTypes: [\"payment.recorded\"]}) { endpoint { id } } }",
            json!({}),
        )
        .await;
    let endpoint = id_at(&r, &["createWebhookEndpoint", "endpoint", "id"]);
    let r = app
        .as_(owner, "mutation($id: ID!) { sendTestWebhook(endpointId: $id) { id } }", json!({ "id": endpoint }))
        .await;
    (endpoint.clone(), id_at(&r, &["sendTestWebhook", "id"]))
}

const BONUS: &str = "mutation { createPromoCode(input: {programCode: \"1C-FRESH\", kind: BONUS, bonus: EXTRA_USERS, months: 6}) { code } }";

fn next_inn() -> String {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1000);
    inn(N.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
}

/// The operation column of the matrix.
fn rows() -> Vec<(&'static str, Vec<&'static str>)> {
    let mut lines = MATRIX.lines().filter(|l| !l.trim().is_empty());
    lines.next();
    lines
        .map(|l| {
            let mut cells = l.split_whitespace();
            (cells.next().unwrap(), cells.collect())
        })
        .collect()
}

/// Whether one of `callers` (column labels) may call root field `op` in some variant: a cell other than
/// `F` or `U`. The id oracle (`reach::ids`) uses it to tell the operations its callers cannot call.
pub(crate) fn may_call(op: &str, callers: &[&str]) -> bool {
    let header: Vec<&str> = MATRIX.lines().find(|l| !l.trim().is_empty()).unwrap().split_whitespace().skip(1).collect();
    rows().iter().filter(|(row, _)| row.split(['/', '.']).next() == Some(op)).any(|(_, cells)| {
        header.iter().zip(cells).any(|(label, cell)| callers.contains(label) && !matches!(*cell, "F" | "U"))
    })
}

async fn world(app: &TestApp) -> World {
    let vendor = Account {
        token: app.vendor.clone(),
        subscriber_id: app.vendor_id().await,
        email: VENDOR_EMAIL.to_owned(),
        membership_id: String::new(),
    };
    app.presets().await;
    let tariff = app.tariff("FRESH", "1C-FRESH", "ITSAAS", "100.00", &[1, 12], 30).await;
    let partner = app.partner("Partner P").await;
    let client = app.client_of(&partner, "Client C").await;
    app.set_status(&partner.subscriber_id, "1C-FRESH", "CSK").await;
    app.as_(
        &app.vendor,
        "mutation($id: ID!) { updatePartnerProfile(partnerId: $id, input: {serviceDeskConnected: true, hasConsultants: true, hasCustomizationSpecialists: true, contractUntil: \"2100-01-01\"}) { id } }",
        json!({ "id": partner.subscriber_id }),
    )
    .await
    .ok();
    // A paid ITSaaS contract this quarter puts the partner in the ranking, and so in a pool. (Another
    // client's: the matrix gives C an ITS PROF subscription, which takes a client out of the ranking.)
    let ranked = app.client_of(&partner, "Ranked client").await;
    app.pay(&ranked.subscriber_id, &tariff, 1, "100.00", &email("first")).await.ok();
    let today = app.state.clock.now().date_naive();
    let quarter = format!("{}-Q{}", today.year(), today.month0() / 3 + 1);
    let r = app
        .as_(
            &app.vendor,
            "mutation($i: LeadPoolInput!) { publishLeadPool(input: $i) { id } }",
            json!({ "i": { "programCode": "1C-FRESH", "quarter": quarter, "validFrom": today.to_string(),
                           "validUntil": (today + chrono::Duration::days(90)).to_string() } }),
        )
        .await;
    let pool = id_at(&r, &["publishLeadPool", "id"]);
    let lock = app.lock(&partner, &next_inn()).await;
    let monday = (today - chrono::Duration::days(today.weekday().num_days_from_monday().into())).to_string();
    let mut hooks = Vec::new();
    for owner in [&vendor.token, &partner.token] {
        let (endpoint, delivery) = webhook(app, owner).await;
        hooks.push((endpoint, delivery));
    }
    let hooks = [hooks[0].clone(), hooks[1].clone()];
    World { vendor, partner, client, tariff, pool, lock, monday, quarter, hooks }
}

async fn callers(app: &TestApp, w: &World) -> Vec<Caller> {
    let mut out = Vec::new();
    let homes = [
        (
            &w.vendor,
            ["V.OWNER", "V.ADMIN", "V.USER", "V.SO"].as_slice(),
            ["ADMIN", "USER", "SERVICE_OPERATOR"].as_slice(),
        ),
        (
            &w.partner,
            ["P.OWNER", "P.ADMIN", "P.USER", "P.AA", "P.SO"].as_slice(),
            ["ADMIN", "USER", "ADAPTATION_ADMIN", "SERVICE_OPERATOR"].as_slice(),
        ),
        (&w.client, ["C.OWNER", "C.ADMIN", "C.USER"].as_slice(), ["ADMIN", "USER"].as_slice()),
    ];
    for (owner, labels, roles) in homes {
        out.push(Caller { label: labels[0], account: Some(owner.clone()), home_owner: owner.clone() });
        for (label, role) in labels[1..].iter().zip(roles) {
            let account = app.member(&owner.token, &owner.subscriber_id, role).await;
            out.push(Caller { label, account: Some(account), home_owner: owner.clone() });
        }
    }
    out.push(Caller { label: "ANON", account: None, home_owner: w.partner.clone() });
    out
}

#[tokio::test]
async fn every_role_of_every_kind_gets_exactly_the_matrix_outcome() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let callers = callers(&app, &w).await;

    let header: Vec<&str> = MATRIX.lines().find(|l| !l.trim().is_empty()).unwrap().split_whitespace().skip(1).collect();
    let labels: Vec<&str> = callers.iter().map(|c| c.label).collect();
    assert_eq!(header, labels, "matrix columns and callers must line up");

    let mut mismatches = Vec::new();
    let mut checked = 0;
    let rows = rows();
    for (op, cells) in &rows {
        assert_eq!(cells.len(), callers.len(), "row {op} has a cell for every caller");
        for (who, cell) in callers.iter().zip(cells) {
            let expected = match cell.trim_end_matches('*') {
                "OK" => "OK",
                "F" => "FORBIDDEN",
                "N" => "NOT_FOUND",
                "U" => "UNAUTHENTICATED",
                "C" => "CONFLICT",
                "B" => "BAD_USER_INPUT",
                other => panic!("bad cell {other} in row {op}"),
            };
            let got = run(&app, op, who, &w).await;
            checked += 1;
            if got != expected {
                mismatches.push(format!("{op} as {}: expected {expected}, got {got}", who.label));
            }
        }
    }
    assert_eq!(checked, rows.len() * callers.len());
    assert!(mismatches.is_empty(), "permission matrix mismatches:\n{}", mismatches.join("\n"));
}

/// The root fields of one operation type of the served schema.
fn root_fields(sdl: &str, type_name: &str) -> BTreeSet<String> {
    use async_graphql::parser::types::{TypeKind, TypeSystemDefinition};
    let doc = async_graphql::parser::parse_schema(sdl).expect("the served SDL parses");
    doc.definitions
        .iter()
        .filter_map(|d| match d {
            TypeSystemDefinition::Type(t) if t.node.name.node.as_str() == type_name => match &t.node.kind {
                TypeKind::Object(o) => Some(o.fields.iter().map(|f| f.node.name.node.to_string()).collect()),
                _ => None,
            },
            _ => None,
        })
        .next()
        .unwrap_or_else(|| panic!("no type {type_name} in the schema"))
}

/// Subscriptions run over WebSocket, where their permission has its own tests (tests/api/events.rs).
const WEBSOCKET_ONLY: [&str; 1] = ["events"];

#[test]
fn every_root_field_of_the_schema_has_a_row_in_the_matrix() {
    let sdl = partnergraph::graphql::sdl();
    let covered: BTreeSet<String> =
        rows().iter().map(|(op, _)| op.split(['/', '.']).next().unwrap().to_owned()).collect();
    let mut missing = Vec::new();
    for t in ["QueryRoot", "MutationRoot"] {
        for f in root_fields(&sdl, t) {
            if !covered.contains(&f) {
                missing.push(format!("{t}.{f}"));
            }
        }
    }
    for f in root_fields(&sdl, "SubscriptionRoot") {
        if !WEBSOCKET_ONLY.contains(&f.as_str()) {
            missing.push(format!("SubscriptionRoot.{f}"));
        }
    }
    assert!(missing.is_empty(), "root fields without a row in the permission matrix: {missing:?}");
    // And no row names a field that is gone.
    let all: BTreeSet<String> = ["QueryRoot", "MutationRoot"].iter().flat_map(|t| root_fields(&sdl, t)).collect();
    let stale: Vec<&String> = covered.difference(&all).collect();
    assert!(stale.is_empty(), "matrix rows for fields the schema does not have: {stale:?}");
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
