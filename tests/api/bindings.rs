//! Binding clients to partners: the precedence of each way, promo codes, partner invoices, the stop-list
//! and franchisee limits.

use chrono::{Duration, TimeZone, Utc};
use serde_json::{Value, json};

use crate::helpers::{Account, PASSWORD, PAY, TestApp, inn, spawn_app};

const PROMO: &str =
    "mutation($i: PromoCodeInput!) { createPromoCode(input: $i) { id code kind bonus months discountPercent uses } }";
const APPLY: &str = "mutation($c: String!) { applyPromoCode(code: $c) { bonusGranted bound servingPartner { id } } }";
const HISTORY: &str = "query($id: ID!) { subscriber(id: $id) { servingPartner { id } bindingSource bindingHistory { from { id } to { id } source } } }";

async fn bitrix_partner(app: &TestApp, name: &str, status: &str) -> Account {
    let p = app.partner(name).await;
    app.set_status(&p.subscriber_id, "BITRIX24", status).await;
    p
}

async fn bonus_code(app: &TestApp, p: &Account) -> String {
    let r = app
        .as_(
            &p.token,
            PROMO,
            json!({ "i": { "programCode": "BITRIX24", "kind": "BONUS", "bonus": "EXTRA_USERS", "months": 6 } }),
        )
        .await;
    r.ok()["createPromoCode"]["code"].as_str().unwrap().to_owned()
}

async fn self_registered(app: &TestApp, email: &str) -> (String, String) {
    let r = app
        .gql(
            None,
            "mutation($i: SelfRegisterInput!) { selfRegister(input: $i) { token viewer { subscriber { id } } } }",
            json!({ "i": { "companyName": "Self", "email": email, "name": "Owner", "password": PASSWORD } }),
        )
        .await;
    (
        r.ok()["selfRegister"]["token"].as_str().unwrap().to_owned(),
        r.ok()["selfRegister"]["viewer"]["subscriber"]["id"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn bonus_codes_start_at_the_programs_minimum_status() {
    let app = spawn_app().await;
    app.presets().await;
    let registered = bitrix_partner(&app, "Registered", "REGISTERED").await;
    let r = app
        .as_(
            &registered.token,
            PROMO,
            json!({ "i": { "programCode": "BITRIX24", "kind": "BONUS", "bonus": "EXTRA_USERS", "months": 6 } }),
        )
        .await;
    r.err("BAD_USER_INPUT").reason_is("PROMO_NOT_ALLOWED_FOR_STATUS");
    let business = bitrix_partner(&app, "Business", "BUSINESS_PARTNER").await;
    let r = app
        .as_(
            &business.token,
            PROMO,
            json!({ "i": { "programCode": "BITRIX24", "kind": "BONUS", "bonus": "EXTRA_STORAGE", "months": 12 } }),
        )
        .await;
    assert_eq!(r.ok()["createPromoCode"]["kind"], "BONUS");
    assert_eq!(r.ok()["createPromoCode"]["bonus"], "EXTRA_STORAGE");
    app.as_(
        &business.token,
        PROMO,
        json!({ "i": { "programCode": "BITRIX24", "kind": "BONUS", "bonus": "EXTRA_USERS", "months": 9 } }),
    )
    .await
    .err("BAD_USER_INPUT");
    let r = app.as_(&business.token, "{ promoCodes { totalCount } }", json!({})).await;
    assert_eq!(r.ok()["promoCodes"]["totalCount"], 1);
    let r = app.as_(&registered.token, "{ promoCodes { totalCount } }", json!({})).await;
    assert_eq!(r.ok()["promoCodes"]["totalCount"], 0);
}

#[tokio::test]
async fn a_bonus_binds_only_an_unbound_client_and_each_client_gets_one_bonus_ever() {
    let app = spawn_app().await;
    app.presets().await;
    let a = bitrix_partner(&app, "A", "GOLD").await;
    let b = bitrix_partner(&app, "B", "GOLD").await;
    let (code_a, code_b) = (bonus_code(&app, &a).await, bonus_code(&app, &b).await);

    // A self-registered (unbound) client applies A's code: bonus and binding.
    let (token, client) = self_registered(&app, "free@example.ru").await;
    let r = app.as_(&token, APPLY, json!({ "c": code_a.to_lowercase() })).await;
    assert_eq!(
        r.ok()["applyPromoCode"],
        json!({ "bonusGranted": true, "bound": true, "servingPartner": { "id": a.subscriber_id } })
    );
    let r = app.as_(&token, HISTORY, json!({ "id": client })).await;
    assert_eq!(r.ok()["subscriber"]["bindingSource"], "BONUS_PROMO");
    // The same code again, and another code: refused, nothing changes.
    app.as_(&token, APPLY, json!({ "c": code_a })).await.err("BAD_USER_INPUT").reason_is("PROMO_ALREADY_USED");
    app.as_(&token, APPLY, json!({ "c": code_b })).await.err("CONFLICT").reason_is("BONUS_ALREADY_USED");
    assert_eq!(app.count("promo_redemptions").await, 1);

    // A client bound to A gets B's bonus but stays with A.
    let a_client = app.client_of(&a, "A's client").await;
    let r = app.as_(&a_client.token, APPLY, json!({ "c": code_b })).await;
    assert_eq!(
        r.ok()["applyPromoCode"],
        json!({ "bonusGranted": true, "bound": false, "servingPartner": { "id": a.subscriber_id } })
    );

    // Only a client's admins and owners apply codes; unknown codes are named as such.
    let user = app.member(&a_client.token, &a_client.subscriber_id, "USER").await;
    app.as_(&user.token, APPLY, json!({ "c": code_b })).await.err("FORBIDDEN");
    app.as_(&a.token, APPLY, json!({ "c": code_b })).await.err("FORBIDDEN");
    app.as_(&token, APPLY, json!({ "c": "NO-SUCH" })).await.err("BAD_USER_INPUT").reason_is("PROMO_UNKNOWN");
}

#[tokio::test]
async fn concurrent_bonus_codes_give_a_client_one_bonus() {
    let app = spawn_app().await;
    app.presets().await;
    let mut codes = Vec::new();
    for i in 0..6 {
        let p = bitrix_partner(&app, &format!("P{i}"), "CERTIFIED").await;
        codes.push(bonus_code(&app, &p).await);
    }
    let (token, _) = self_registered(&app, "race@example.ru").await;
    let tasks: Vec<_> = codes.iter().map(|c| app.spawn_gql(Some(&token), APPLY, json!({ "c": c }))).collect();
    let mut granted = 0;
    for t in tasks {
        if t.await.unwrap().1.get("errors").is_none() {
            granted += 1;
        }
    }
    assert_eq!(granted, 1);
    assert_eq!(app.count("promo_redemptions").await, 1);
}

#[tokio::test]
async fn a_promo_codes_months_and_fixed_percent_are_checked_for_its_own_kind_only() {
    let app = spawn_app().await;
    app.presets().await;
    let p = bitrix_partner(&app, "Business", "BUSINESS_PARTNER").await;
    let client = app.client_of(&p, "Client").await;
    let bonus = |extra: Value| {
        let mut i = json!({ "programCode": "BITRIX24", "kind": "BONUS", "bonus": "EXTRA_USERS", "months": 12 });
        i.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        json!({ "i": i })
    };
    let discount = |extra: Value| {
        let mut i = json!({ "programCode": "BITRIX24", "kind": "DISCOUNT", "clientId": client.subscriber_id });
        i.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        json!({ "i": i })
    };
    // A bonus code keeps its months and ignores a (well-formed) percent; a discount code ignores months.
    let r = app.as_(&p.token, PROMO, bonus(json!({ "discountPercent": "99.00" }))).await;
    assert_eq!(
        (&r.ok()["createPromoCode"]["months"], &r.ok()["createPromoCode"]["discountPercent"]),
        (&json!(12), &Value::Null)
    );
    let r = app.as_(&p.token, PROMO, discount(json!({ "months": 9, "discountPercent": "50.00" }))).await;
    assert_eq!(
        (&r.ok()["createPromoCode"]["months"], &r.ok()["createPromoCode"]["discountPercent"]),
        (&Value::Null, &json!("50.00"))
    );
    for (vars, field, reason) in [
        (bonus(json!({ "months": 0 })), "months", "OUT_OF_RANGE"),
        (bonus(json!({ "months": -6 })), "months", "OUT_OF_RANGE"),
        (bonus(json!({ "discountPercent": "много" })), "discountPercent", "INVALID_PERCENT"),
        (discount(json!({ "discountPercent": "50.01" })), "discountPercent", "OUT_OF_RANGE"),
        (discount(json!({ "discountPercent": "0" })), "discountPercent", "OUT_OF_RANGE"),
        (discount(json!({ "discountPercent": "100.01" })), "discountPercent", "OUT_OF_RANGE"),
    ] {
        let r = app.as_(&p.token, PROMO, vars).await;
        r.err("BAD_USER_INPUT").reason_is(reason);
        assert_eq!(r.field(), Some(field), "{}", r.0);
    }
    // A NUL byte never reaches the parser: the edge refuses it in any string.
    let r = app.as_(&p.token, PROMO, discount(json!({ "discountPercent": "5\u{0}" }))).await;
    r.err("BAD_USER_INPUT").reason_is("NUL_CHARACTER");
    let r = app.as_(&p.token, PROMO, discount(json!({ "discountPercent": "60" }))).await;
    assert_eq!(r.0["errors"][0]["message"], "discountPercent: 0.01 to 50.00");
    let r = app.as_(&p.token, PROMO, bonus(json!({ "months": 7 }))).await;
    assert_eq!(r.0["errors"][0]["message"], "months: a bonus lasts 6 or 12 months");
    assert_eq!(app.count("promo_codes").await, 2);
}

async fn b24_tariffs(app: &TestApp) -> (String, String) {
    (
        app.tariff("B24-S", "BITRIX24", "CLOUD", "1000.00", &[1, 3, 6, 12], 0).await,
        app.tariff("B24-L", "BITRIX24", "CLOUD", "3000.00", &[1, 3, 6, 12], 0).await,
    )
}

async fn discount(app: &TestApp, by: &Account, client: &str) -> String {
    let r = app
        .as_(&by.token, PROMO, json!({ "i": { "programCode": "BITRIX24", "kind": "DISCOUNT", "clientId": client } }))
        .await;
    assert!(r.ok()["createPromoCode"]["discountPercent"].is_null(), "by the period table");
    r.ok()["createPromoCode"]["code"].as_str().unwrap().to_owned()
}

fn pay_vars(client: &str, tariff: &str, months: i32, amount: &str, ext: &str, promo: Option<&str>) -> Value {
    json!({ "i": { "subscriberId": client, "tariffId": tariff, "periodMonths": months, "amount": amount, "externalId": ext, "promoCode": promo } })
}

#[tokio::test]
async fn a_discount_code_is_personal_single_use_and_rebinds_on_an_upgrade() {
    let app = spawn_app().await;
    app.presets().await;
    let (small, large) = b24_tariffs(&app).await;
    let a = bitrix_partner(&app, "A", "REGISTERED").await;
    let b = bitrix_partner(&app, "B", "REGISTERED").await;
    let client = app.client_of(&a, "A's client").await;
    let other = app.client_of(&a, "Another").await;

    // B may name A's client by id (the client gave it); the code is personal to it.
    let code = discount(&app, &b, &client.subscriber_id).await;
    app.as_(&app.vendor, PAY, pay_vars(&other.subscriber_id, &small, 12, "10200.00", "o-1", Some(&code)))
        .await
        .err("BAD_USER_INPUT")
        .reason_is("PROMO_NOT_FOR_YOU");
    app.as_(&client.token, APPLY, json!({ "c": code })).await.err("BAD_USER_INPUT").reason_is("PROMO_KIND_MISMATCH");

    // Free → paid with B's code: the client moves to B, who earns the first-purchase commission.
    let r =
        app.as_(&app.vendor, PAY, pay_vars(&client.subscriber_id, &small, 12, "10200.00", "c-1", Some(&code))).await;
    let entry = &r.ok()["recordPayment"]["commissions"][0];
    assert_eq!(entry["partner"]["id"], b.subscriber_id.as_str());
    assert_eq!(entry["amount"], "5100.00");
    let r = app.as_(&app.vendor, HISTORY, json!({ "id": client.subscriber_id })).await;
    let s = &r.ok()["subscriber"];
    assert_eq!(s["bindingSource"], "DISCOUNT_PROMO");
    let sources: Vec<&str> =
        s["bindingHistory"].as_array().unwrap().iter().map(|h| h["source"].as_str().unwrap()).collect();
    assert_eq!(sources, ["PARTNER_REGISTERED", "DISCOUNT_PROMO"]);
    assert_eq!(s["bindingHistory"][1]["from"]["id"], a.subscriber_id.as_str());
    // Single use.
    app.as_(&app.vendor, PAY, pay_vars(&client.subscriber_id, &small, 12, "10200.00", "c-2", Some(&code)))
        .await
        .err("BAD_USER_INPUT")
        .reason_is("PROMO_ALREADY_USED");

    // A's code for the same client: the same tariff again is no upgrade, so no rebinding…
    let code_a = discount(&app, &a, &client.subscriber_id).await;
    app.as_(&app.vendor, PAY, pay_vars(&client.subscriber_id, &small, 6, "5700.00", "c-3", Some(&code_a))).await.ok();
    let r = app.as_(&app.vendor, HISTORY, json!({ "id": client.subscriber_id })).await;
    assert_eq!(r.ok()["subscriber"]["servingPartner"]["id"], b.subscriber_id.as_str());
    // …but a move to a higher tariff with a fresh code from A rebinds to A.
    let code_a2 = discount(&app, &a, &client.subscriber_id).await;
    app.as_(&app.vendor, PAY, pay_vars(&client.subscriber_id, &large, 3, "8550.00", "c-4", Some(&code_a2))).await.ok();
    let r = app.as_(&app.vendor, HISTORY, json!({ "id": client.subscriber_id })).await;
    assert_eq!(r.ok()["subscriber"]["servingPartner"]["id"], a.subscriber_id.as_str());
}

#[tokio::test]
async fn a_discount_code_on_an_invoice_takes_the_period_discount() {
    let app = spawn_app().await;
    app.presets().await;
    let (small, _) = b24_tariffs(&app).await;
    let a = bitrix_partner(&app, "A", "REGISTERED").await;
    let client = app.client_of(&a, "Client").await;
    const INVOICE: &str = "mutation($c: ID!, $t: ID!, $m: Int!, $p: String) { createInvoice(input: {clientId: $c, tariffId: $t, periodMonths: $m, promoCode: $p}) { id amount discountPercent } }";
    for (months, amount, percent) in [(3, "2850.00", "5.00"), (6, "5400.00", "10.00"), (12, "10200.00", "15.00")] {
        let code = discount(&app, &a, &client.subscriber_id).await;
        let r =
            app.as_(&a.token, INVOICE, json!({ "c": client.subscriber_id, "t": small, "m": months, "p": code })).await;
        assert_eq!(r.ok()["createInvoice"]["amount"], amount);
        assert_eq!(r.ok()["createInvoice"]["discountPercent"], percent);
    }
    let code = discount(&app, &a, &client.subscriber_id).await;
    app.as_(&a.token, INVOICE, json!({ "c": client.subscriber_id, "t": small, "m": 1, "p": code }))
        .await
        .err("BAD_USER_INPUT")
        .reason_is("PROMO_NOT_APPLICABLE");
}

#[tokio::test]
async fn paying_a_partner_invoice_rebinds_the_client_with_the_history_in_order() {
    let app = spawn_app().await;
    app.presets().await;
    let (small, _) = b24_tariffs(&app).await;
    let a = bitrix_partner(&app, "A", "REGISTERED").await;
    let b = bitrix_partner(&app, "B", "REGISTERED").await;
    let client = app.client_of(&a, "Client").await;
    // B invoices A's client (named by id): B sees the client's id and name, not its card.
    let r = app
        .as_(&b.token, "mutation($c: ID!, $t: ID!) { createInvoice(input: {clientId: $c, tariffId: $t, periodMonths: 1}) { id client { id name inn servingPartner { id } } } }", json!({ "c": client.subscriber_id, "t": small }))
        .await;
    let inv = r.ok()["createInvoice"].clone();
    assert_eq!(inv["client"]["name"], "Client");
    assert!(inv["client"]["servingPartner"].is_null());
    app.as_(&b.token, "query($id: ID!) { subscriber(id: $id) { id } }", json!({ "id": client.subscriber_id }))
        .await
        .err("NOT_FOUND");
    // Paying it rebinds first, then accrues: the commission goes to B.
    let r = app
        .as_(&app.vendor, PAY, json!({ "i": { "subscriberId": client.subscriber_id, "tariffId": small, "periodMonths": 1, "amount": "1000.00", "invoiceId": inv["id"], "externalId": "inv" } }))
        .await;
    assert_eq!(r.ok()["recordPayment"]["commissions"][0]["partner"]["id"], b.subscriber_id.as_str());
    let r = app.as_(&b.token, HISTORY, json!({ "id": client.subscriber_id })).await;
    let h = r.ok()["subscriber"]["bindingHistory"].as_array().unwrap().clone();
    let steps: Vec<(Value, Value, Value)> =
        h.iter().map(|x| (x["from"]["id"].clone(), x["to"]["id"].clone(), x["source"].clone())).collect();
    assert_eq!(
        steps,
        [
            (Value::Null, json!(a.subscriber_id), json!("PARTNER_REGISTERED")),
            (json!(a.subscriber_id), json!(b.subscriber_id), json!("PARTNER_INVOICE")),
        ]
    );
    // A no longer reaches the client.
    app.as_(&a.token, "query($id: ID!) { subscriber(id: $id) { id } }", json!({ "id": client.subscriber_id }))
        .await
        .err("NOT_FOUND");
}

#[tokio::test]
async fn a_binding_quote_explains_each_way() {
    let app = spawn_app().await;
    app.presets().await;
    let a = bitrix_partner(&app, "A", "REGISTERED").await;
    let b = bitrix_partner(&app, "B", "REGISTERED").await;
    let client = app.client_of(&a, "Client").await;
    const QUOTE: &str = "query($c: ID!, $s: BindingSource!, $p: ID!) { bindingQuote(clientId: $c, source: $s, partnerId: $p) { binds explanation } }";
    for (source, binds) in [
        ("BONUS_PROMO", false),
        ("REFERRAL_LINK", false),
        ("PARTNER_INVOICE", true),
        ("DISCOUNT_PROMO", true),
        ("IMPORT", true),
    ] {
        // The vendor asks what each way would do for partner B.
        let r =
            app.as_(&app.vendor, QUOTE, json!({ "c": client.subscriber_id, "s": source, "p": b.subscriber_id })).await;
        assert_eq!(r.ok()["bindingQuote"]["binds"], binds, "{source}");
        assert!(!r.ok()["bindingQuote"]["explanation"].as_str().unwrap().is_empty());
    }
    let r = app
        .as_(&a.token, QUOTE, json!({ "c": client.subscriber_id, "s": "PARTNER_INVOICE", "p": a.subscriber_id }))
        .await;
    assert_eq!(r.ok()["bindingQuote"]["binds"], false);
    assert!(r.ok()["bindingQuote"]["explanation"].as_str().unwrap().contains("already bound"));
    // A partner asks about itself only, and about its own clients only: another partner's client is the
    // same NOT_FOUND as an id that does not exist (no existence oracle).
    app.as_(&b.token, QUOTE, json!({ "c": client.subscriber_id, "s": "PARTNER_INVOICE", "p": a.subscriber_id }))
        .await
        .err("NOT_FOUND");
    let foreign = app
        .as_(&b.token, QUOTE, json!({ "c": client.subscriber_id, "s": "PARTNER_INVOICE", "p": b.subscriber_id }))
        .await;
    let random = app
        .as_(
            &b.token,
            QUOTE,
            json!({ "c": uuid::Uuid::now_v7().to_string(), "s": "PARTNER_INVOICE", "p": b.subscriber_id }),
        )
        .await;
    foreign.err("NOT_FOUND");
    assert_eq!(foreign.0["errors"][0]["message"], random.0["errors"][0]["message"]);
    assert_eq!(foreign.0["errors"][0]["extensions"], random.0["errors"][0]["extensions"]);
}

const REQUEST: &str = "mutation($i: String!) { requestStopListLock(inn: $i, comment: \"big deal\") { id status } }";
const DECIDE: &str = "mutation($id: ID!, $a: Boolean!) { decideStopListLock(id: $id, approve: $a, reason: \"checked\") { status expiresAt decidedAt } }";

#[tokio::test]
async fn a_lock_runs_three_calendar_months_with_end_of_month_clamping() {
    let mut app = spawn_app().await;
    let a = app.partner("A").await;
    app.state.clock.set_to(Utc.with_ymd_and_hms(2026, 11, 30, 12, 0, 0).unwrap());
    app.vendor = app.login(crate::helpers::VENDOR_EMAIL, PASSWORD).await;
    let a_token = app.login(&a.email, PASSWORD).await;
    let r = app.as_(&a_token, REQUEST, json!({ "i": inn(1) })).await;
    let id = r.ok()["requestStopListLock"]["id"].as_str().unwrap().to_owned();
    assert_eq!(r.ok()["requestStopListLock"]["status"], "REQUESTED");
    let r = app.as_(&app.vendor, DECIDE, json!({ "id": id, "a": true })).await;
    assert_eq!(r.ok()["decideStopListLock"]["status"], "APPROVED");
    assert!(r.ok()["decideStopListLock"]["expiresAt"].as_str().unwrap().starts_with("2027-02-28T"));
    // An extension counts from the current expiry: 28 Feb + 3 months = 28 May.
    let r = app
        .as_(&app.vendor, "mutation($id: ID!) { extendStopListLock(id: $id) { expiresAt } }", json!({ "id": id }))
        .await;
    assert!(r.ok()["extendStopListLock"]["expiresAt"].as_str().unwrap().starts_with("2027-05-28"));
    // Past its end it reads EXPIRED and another partner may lock the INN.
    app.state.clock.set_to(Utc.with_ymd_and_hms(2027, 5, 29, 0, 0, 0).unwrap());
    app.vendor = app.login(crate::helpers::VENDOR_EMAIL, PASSWORD).await;
    let r = app
        .as_(&app.vendor, "query($i: String) { stopList(inn: $i) { nodes { status } } }", json!({ "i": inn(1) }))
        .await;
    assert_eq!(r.ok()["stopList"]["nodes"][0]["status"], "EXPIRED");
    let b = app.partner("B").await;
    let lock = app.lock(&b, &inn(1)).await;
    let r = app
        .as_(
            &app.vendor,
            "query($i: String) { stopList(inn: $i, status: APPROVED) { nodes { id } } }",
            json!({ "i": inn(1) }),
        )
        .await;
    assert_eq!(r.ok()["stopList"]["nodes"], json!([{ "id": lock }]));
}

#[tokio::test]
async fn a_request_for_a_locked_inn_is_a_conflict_that_names_no_one() {
    let app = spawn_app().await;
    let holder = app.partner("ООО Держатель").await;
    let other = app.partner("Other").await;
    app.lock(&holder, &inn(3)).await;
    let r = app.as_(&other.token, REQUEST, json!({ "i": inn(3) })).await;
    r.err("CONFLICT").reason_is("ALREADY_LOCKED");
    let text = r.0.to_string();
    assert!(!text.contains(&holder.subscriber_id) && !text.contains("Держатель"), "{text}");
    // The holder asking again is refused too; so is a second pending request.
    app.as_(&holder.token, REQUEST, json!({ "i": inn(3) })).await.err("CONFLICT");
    app.as_(&other.token, REQUEST, json!({ "i": inn(4) })).await.ok();
    app.as_(&other.token, REQUEST, json!({ "i": inn(4) })).await.err("CONFLICT").reason_is("ALREADY_REQUESTED");
    // Bad INNs are bad input; a partner sees only its own entries.
    app.as_(&other.token, REQUEST, json!({ "i": "7707083894" })).await.err("BAD_USER_INPUT").reason_is("INVALID_INN");
    let r = app.as_(&other.token, "{ stopList { totalCount } }", json!({})).await;
    assert_eq!(r.ok()["stopList"]["totalCount"], 1);
    let r = app.as_(&app.vendor, "{ stopList { totalCount } }", json!({})).await;
    assert_eq!(r.ok()["stopList"]["totalCount"], 2);
    // Only the vendor decides.
    let r = app.as_(&other.token, "{ stopList { nodes { id } } }", json!({})).await;
    let id = r.ok()["stopList"]["nodes"][0]["id"].clone();
    app.as_(&other.token, DECIDE, json!({ "id": id, "a": true })).await.err("FORBIDDEN");
    let r = app.as_(&app.vendor, "mutation($id: ID!) { decideStopListLock(id: $id, approve: false, reason: \"not a real deal\") { status reason } }", json!({ "id": id })).await;
    assert_eq!(r.ok()["decideStopListLock"], json!({ "status": "REJECTED", "reason": "not a real deal" }));
}

#[tokio::test]
async fn ten_partners_asking_for_one_inn_at_once_end_with_exactly_one_lock() {
    let app = spawn_app().await;
    let mut partners = Vec::new();
    for i in 0..10 {
        partners.push(app.partner(&format!("P{i}")).await);
    }
    let tasks: Vec<_> =
        partners.iter().map(|p| app.spawn_gql(Some(&p.token), REQUEST, json!({ "i": inn(5) }))).collect();
    let mut ids = Vec::new();
    for t in tasks {
        let (_, v) = t.await.unwrap();
        assert!(v.get("errors").is_none(), "several pending requests may coexist: {v}");
        ids.push(v["data"]["requestStopListLock"]["id"].as_str().unwrap().to_owned());
    }
    let tasks: Vec<_> =
        ids.iter().map(|id| app.spawn_gql(Some(&app.vendor), DECIDE, json!({ "id": id, "a": true }))).collect();
    let mut approved = 0;
    for t in tasks {
        let (_, v) = t.await.unwrap();
        match v.get("errors") {
            None => approved += 1,
            Some(e) => assert_eq!(e[0]["extensions"]["code"], "CONFLICT", "{v}"),
        }
    }
    assert_eq!(approved, 1);
    let r = app
        .as_(
            &app.vendor,
            "query($i: String) { stopList(inn: $i, status: APPROVED) { totalCount } }",
            json!({ "i": inn(5) }),
        )
        .await;
    assert_eq!(r.ok()["stopList"]["totalCount"], 1);
}

#[tokio::test]
async fn locked_categories_need_the_lock_to_invoice_and_to_earn() {
    let app = spawn_app().await;
    app.presets().await;
    let saas = app.tariff("SAAS", "1C-CONNECT", "SAAS_CORPORATE", "1000.00", &[12], 0).await;
    let dev = app.tariff("DEV", "1C-CONNECT", "DEVELOPER_SERVICES", "1000.00", &[12], 0).await;
    let partner = app.partner("Dealer").await;
    app.set_status(&partner.subscriber_id, "1C-CONNECT", "DEALER").await;
    let client = app.client_with_inn(&partner, "Client", &inn(6)).await;
    const INVOICE: &str =
        "mutation($c: ID!, $t: ID!) { createInvoice(input: {clientId: $c, tariffId: $t, periodMonths: 12}) { id } }";
    app.as_(&partner.token, INVOICE, json!({ "c": client.subscriber_id, "t": saas }))
        .await
        .err("FORBIDDEN")
        .reason_is("DEAL_NOT_LOCKED");
    app.as_(&partner.token, INVOICE, json!({ "c": client.subscriber_id, "t": dev })).await.ok();
    // A direct payment is recorded (the billing system is the truth) but earns nothing without the lock.
    let r = app.pay(&client.subscriber_id, &saas, 12, "12000.00", "no-lock").await;
    assert_eq!(r.ok()["recordPayment"]["commissions"], json!([]));
    let r = app
        .as_(&partner.token, "query($s: ID!, $t: ID!) { commissionQuote(subscriberId: $s, tariffId: $t, periodMonths: 12, amount: \"12000.00\") { amount explanation } }", json!({ "s": client.subscriber_id, "t": saas }))
        .await;
    assert_eq!(r.ok()["commissionQuote"]["amount"], "0.00");
    assert!(r.ok()["commissionQuote"]["explanation"].as_str().unwrap().contains("stop-list"));
    // With the lock both work.
    app.lock(&partner, &inn(6)).await;
    app.as_(&partner.token, INVOICE, json!({ "c": client.subscriber_id, "t": saas })).await.ok();
    let r = app.pay(&client.subscriber_id, &saas, 12, "12000.00", "locked").await;
    assert_eq!(r.ok()["recordPayment"]["commissions"][0]["amount"], "3000.00");
}

#[tokio::test]
async fn franchisees_cannot_enable_services_that_need_a_csk() {
    let app = spawn_app().await;
    app.presets().await;
    let exchange = app.tariff("EXCH", "1C-FRESH", "EXCHANGE", "500.00", &[12], 14).await;
    let franchisee = app.partner("Franchisee").await;
    app.set_status(&franchisee.subscriber_id, "1C-FRESH", "FRANCHISEE").await;
    let csk = app.partner("CSK").await;
    app.set_status(&csk.subscriber_id, "1C-FRESH", "CSK").await;
    const INVOICE: &str =
        "mutation($c: ID!, $t: ID!) { createInvoice(input: {clientId: $c, tariffId: $t, periodMonths: 12}) { id } }";
    const TRIAL: &str = "mutation($s: ID!, $t: ID!) { startTrial(subscriberId: $s, tariffId: $t) { id } }";
    let fc = app.client_of(&franchisee, "F client").await;
    app.as_(&franchisee.token, INVOICE, json!({ "c": fc.subscriber_id, "t": exchange }))
        .await
        .err("FORBIDDEN")
        .reason_is("SERVICE_NEEDS_CSK");
    app.as_(&franchisee.token, TRIAL, json!({ "s": fc.subscriber_id, "t": exchange }))
        .await
        .err("FORBIDDEN")
        .reason_is("SERVICE_NEEDS_CSK");
    let cc = app.client_of(&csk, "C client").await;
    app.as_(&csk.token, INVOICE, json!({ "c": cc.subscriber_id, "t": exchange })).await.ok();
    app.as_(&csk.token, TRIAL, json!({ "s": cc.subscriber_id, "t": exchange })).await.ok();
}

#[tokio::test]
async fn an_expired_lock_no_longer_protects_the_deal() {
    let mut app = spawn_app().await;
    app.presets().await;
    let saas = app.tariff("SAAS", "1C-CONNECT", "SAAS_CORPORATE", "1000.00", &[12], 0).await;
    let partner = app.partner("Dealer").await;
    app.set_status(&partner.subscriber_id, "1C-CONNECT", "DEALER").await;
    let client = app.client_with_inn(&partner, "Client", &inn(9)).await;
    app.lock(&partner, &inn(9)).await;
    app.state.clock.advance(Duration::days(93));
    app.vendor = app.login(crate::helpers::VENDOR_EMAIL, PASSWORD).await;
    let r = app.pay(&client.subscriber_id, &saas, 12, "12000.00", "late").await;
    assert_eq!(r.ok()["recordPayment"]["commissions"], json!([]));
}
