//! `seed --demo`: the presets plus demo partners, clients, tariffs and payments to explore with.
//! Runs through the same services as the API. Idempotent: a second run changes nothing.

use entity::enums::Role;
use entity::{membership, subscriber, tariff};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::billing::{self, NewPayment};
use super::invitations::{self, Acceptance};
use super::leads::{self, NewPool};
use super::subscribers::{self, NewCard};
use super::tariffs::{self, NewTariff};
use super::{accounts, programs};
use crate::auth::{Caller, Principal, Scope};
use crate::cli::{DEMO_VENDOR_EMAIL, DEMO_VENDOR_PASSWORD};
use crate::domain::leads::Quarter;
use crate::domain::{Email, Name, SubscriberKind};
use crate::error::{AppError, AppResult};
use crate::service::ServiceCtx;

pub const DEMO_PARTNER_EMAILS: [&str; 2] = ["alpha@partnergraph.local", "beta@partnergraph.local"];

fn principal_of(m: &membership::Model, kind: SubscriberKind) -> AppResult<Principal> {
    Ok(Principal::person(m.user_id, m.id, m.subscriber_id, kind, m.role))
}

async fn vendor_owner(ctx: &ServiceCtx) -> AppResult<Principal> {
    let vendor = match subscriber::Entity::find()
        .filter(subscriber::Column::Kind.eq(SubscriberKind::Vendor))
        .one(&ctx.db)
        .await?
    {
        Some(v) => v,
        None => accounts::bootstrap(ctx, "Demo Vendor", DEMO_VENDOR_EMAIL, DEMO_VENDOR_PASSWORD).await?.0,
    };
    let m = membership::Entity::find()
        .filter(membership::Column::SubscriberId.eq(vendor.id))
        .filter(membership::Column::Role.eq(Role::Owner))
        .one(&ctx.db)
        .await?
        .ok_or_else(|| AppError::Internal("the vendor has no owner".into()))?;
    principal_of(&m, SubscriberKind::Vendor)
}

async fn tariff_by_code(ctx: &ServiceCtx, code: &str) -> AppResult<Option<tariff::Model>> {
    Ok(tariff::Entity::find().filter(tariff::Column::Code.eq(code)).one(&ctx.db).await?)
}

/// Returns a line per thing created.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn seed_demo(ctx: &ServiceCtx) -> AppResult<Vec<String>> {
    let mut log = Vec::new();
    let r = programs::seed_presets(ctx).await?;
    log.push(format!("presets: {} programs, {} rules, {} tariffs added", r.programs, r.rules, r.tariffs));
    let vendor = vendor_owner(ctx).await?;
    if subscriber::Entity::find().filter(subscriber::Column::Name.eq("Альфа Софт")).one(&ctx.db).await?.is_some()
    {
        log.push("demo data already present".into());
        return Ok(log);
    }
    for (code, name, program, category, price, periods, trial) in [
        ("FRESH-PROF", "1С:Фреш ПРОФ", "1C-FRESH", "ITSAAS", 150_000, vec![1, 3, 6, 12], 30),
        ("CONNECT-CORP", "1С-Коннект Корпоративный", "1C-CONNECT", "SAAS_CORPORATE", 500_000, vec![1, 12], 14),
        ("B24-CLOUD", "Битрикс24 Облако", "BITRIX24", "CLOUD", 249_000, vec![1, 12], 15),
    ] {
        if tariff_by_code(ctx, code).await?.is_none() {
            let t = NewTariff {
                code: code.into(),
                name: name.into(),
                program_code: program.into(),
                category: category.into(),
                monthly_price_minor: price,
                periods,
                max_databases: Some(10),
                max_users: None,
                max_sessions: None,
                trial_days: trial,
                partner_only: false,
            };
            tariffs::create(ctx, Scope::new(&vendor), t).await?;
            log.push(format!("tariff {code}"));
        }
    }
    let fresh = tariff_by_code(ctx, "FRESH-PROF").await?.ok_or(AppError::NotFound)?;
    let connect = tariff_by_code(ctx, "CONNECT-CORP").await?.ok_or(AppError::NotFound)?;
    let partners = [
        ("Альфа Софт", DEMO_PARTNER_EMAILS[0], vec![("1C-FRESH", "FRANCHISEE"), ("1C-CONNECT", "DEALER")]),
        ("Бета Консалтинг", DEMO_PARTNER_EMAILS[1], vec![("1C-FRESH", "CSK"), ("BITRIX24", "GOLD")]),
    ];
    let mut n = 0;
    let mut lead_partner = None;
    for (name, owner, statuses) in partners {
        let card = NewCard { name: Some(Name::parse(name).map_err(AppError::input("name"))?), ..Default::default() };
        let owner_email = Email::parse(owner).map_err(AppError::input("email"))?;
        let reg = subscribers::create_partner(ctx, Scope::new(&vendor), card, owner_email, None).await?;
        if statuses.contains(&("1C-FRESH", "CSK")) {
            lead_partner = Some(reg.subscriber.id);
        }
        for (program, status) in statuses {
            programs::set_partner_status(ctx, Scope::new(&vendor), reg.subscriber.id, program, status).await?;
        }
        let how = Acceptance { name: Some("Demo Owner".into()), password: Some(DEMO_VENDOR_PASSWORD.into()) };
        let (_, m) = invitations::accept(ctx, &Caller(None), &reg.token, how).await?;
        let partner = principal_of(&m, SubscriberKind::Partner)?;
        log.push(format!("partner {name}: owner {owner} / {DEMO_VENDOR_PASSWORD}"));
        for i in 1..=3 {
            n += 1;
            let client_name = format!("Клиент {n} ({name})");
            let card = NewCard {
                name: Some(Name::parse(&client_name).map_err(AppError::input("name"))?),
                ..Default::default()
            };
            let owner_email =
                Email::parse(&format!("client{n}@partnergraph.local")).map_err(AppError::input("email"))?;
            let c = subscribers::register_client(ctx, Scope::new(&partner), card, owner_email).await?;
            billing::start_trial(ctx, Scope::new(&partner), c.subscriber.id, fresh.id).await?;
            if i < 3 {
                let t = if i == 1 { &fresh } else { &connect };
                let payment = NewPayment {
                    subscriber: c.subscriber.id,
                    tariff: t.id,
                    period_months: 12,
                    amount_minor: t.monthly_price_minor * 12,
                    paid_at: None,
                    channel: None,
                    invoice: None,
                    promo_code: None,
                    external_id: format!("demo-{n}"),
                };
                billing::record_payment(ctx, Scope::new(&vendor), payment).await?;
            }
            log.push(format!("client {client_name}"));
        }
    }
    // The CSK partner meets the lead-pool conditions, and a pool from this quarter's ranking serves for
    // half a year: a self-registration without a referral code is assigned to it.
    if let Some(partner) = lead_partner {
        let profile = subscribers::ProfilePatch {
            service_desk_connected: Some(true),
            has_consultants: Some(true),
            has_customization_specialists: Some(true),
            contract_until: subscribers::Patch::Keep,
        };
        subscribers::update_partner_profile(ctx, Scope::new(&vendor), partner, profile).await?;
        let today = ctx.clock.now().date_naive();
        let pool = NewPool {
            program_code: "1C-FRESH".into(),
            quarter: Quarter::of(today).to_string(),
            valid_from: today,
            valid_until: today + chrono::Duration::days(182),
            size: 10,
        };
        leads::publish_pool(ctx, Scope::new(&vendor), pool).await?;
        log.push(
            "lead pool of 1C-FRESH published: self-registrations without a referral code go to its CSK partner".into(),
        );
    }
    Ok(log)
}
