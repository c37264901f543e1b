//! Subscriptions, invoices and payments. A payment activates or extends a subscription and accrues the
//! bound partner's commission in the same transaction; recording is idempotent by `externalId`.
//!
//! `subscriptions` (trials, free bases, cancellation, the Partner tariff following the contract),
//! `invoices` (a partner invoices its client), `payments` (recording, listing) and `refunds`; this module
//! keeps what more than one of them checks about a tariff being sold.

mod invoices;
mod payments;
mod refunds;
mod subscriptions;

pub use invoices::{NewInvoice, create_invoice, list_invoices, may_read_invoice};
pub use payments::{NewPayment, check_external_id, list_payments, partner_payments, record_payment};
pub use refunds::refund;
pub use subscriptions::{cancel, create_subscription, follow_contract, start_trial, status, subscriptions_of};

use chrono::{DateTime, Utc};
use entity::{subscriber, tariff};
use sea_orm::{ConnectionTrait, EntityTrait};
use uuid::Uuid;

use super::{programs, stoplist, tariffs};
use crate::domain::SubscriberKind;
use crate::domain::stoplist::{is_locked_category, needs_csk};
use crate::error::{AppError, AppResult};

fn offered(t: &tariff::Model, subscriber: &subscriber::Model) -> AppResult<()> {
    if t.archived {
        return Err(AppError::bad_input("tariffId", "TARIFF_ARCHIVED", "tariffId: this tariff is archived"));
    }
    if t.partner_only && subscriber.kind != SubscriberKind::Partner {
        return Err(AppError::bad_input("tariffId", "PARTNER_ONLY", "tariffId: this tariff is for partners only"));
    }
    Ok(())
}

async fn tariff_input<C: ConnectionTrait>(db: &C, id: Uuid) -> AppResult<tariff::Model> {
    tariffs::load(db, id).await.map_err(|e| match e {
        AppError::NotFound => AppError::bad_input("tariffId", "TARIFF_UNKNOWN", "tariffId: no such tariff"),
        e => e,
    })
}

/// Refuses what a partner may not sell: locked categories without its active stop-list lock on the
/// client (`DEAL_NOT_LOCKED`), and 1C:Fresh services that need a `CSK` partner (`SERVICE_NEEDS_CSK`).
async fn may_sell<C: ConnectionTrait>(
    db: &C,
    partner: Uuid,
    client: &subscriber::Model,
    t: &tariff::Model,
    now: DateTime<Utc>,
) -> AppResult<()> {
    if is_locked_category(&t.category) && !stoplist::holds_lock(db, partner, client.inn.as_deref(), now).await? {
        return Err(AppError::forbidden_because(
            "DEAL_NOT_LOCKED",
            format!("{} sales need your active stop-list lock on the client's INN", t.category),
        ));
    }
    let program = entity::program::Entity::find_by_id(t.program_id).one(db).await?.ok_or(AppError::NotFound)?;
    if needs_csk(&program.code, &t.category)
        && programs::partner_status_in(db, partner, program.id).await?.as_deref() != Some("CSK")
    {
        return Err(AppError::forbidden_because(
            "SERVICE_NEEDS_CSK",
            format!("{} is enabled for clients only through a CSK partner", t.category),
        ));
    }
    Ok(())
}
