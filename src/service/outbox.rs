//! The e-mail outbox: a message is written in the same transaction as the change it reports, once per
//! occasion (its dedupe key), and sent at least once by the sender afterwards.

use chrono::{DateTime, Utc};
use entity::outbox_message;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ConnectionTrait, EntityTrait, Set};

use super::new_id;
use crate::error::AppResult;

/// What kind of e-mail a message is (`Notification.kind`).
pub mod kind {
    pub const INVITATION: &str = "INVITATION";
    pub const WEEKLY_DIGEST: &str = "WEEKLY_DIGEST";
    pub const NEW_LEAD: &str = "NEW_LEAD";
}

/// An e-mail to queue.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub kind: &'static str,
    pub to: String,
    pub subject: String,
    pub body: String,
    /// One message per key, ever: queuing the same key again does nothing.
    pub dedupe_key: String,
}

/// Queues a message in the caller's transaction. Returns false when a message with this key exists.
pub async fn enqueue<C: ConnectionTrait>(db: &C, m: NewMessage, now: DateTime<Utc>) -> AppResult<bool> {
    let row = outbox_message::ActiveModel {
        id: Set(new_id()),
        kind: Set(m.kind.to_owned()),
        to_email: Set(m.to),
        subject: Set(m.subject),
        body: Set(m.body),
        dedupe_key: Set(m.dedupe_key),
        status: Set("PENDING".to_owned()),
        attempts: Set(0),
        last_error: Set(None),
        next_attempt_at: Set(now),
        locked_until: Set(None),
        created_at: Set(now),
        sent_at: Set(None),
    };
    // ON CONFLICT DO NOTHING rather than catching the violation: on PostgreSQL a failed statement
    // would abort the caller's whole transaction.
    let inserted = outbox_message::Entity::insert(row)
        .on_conflict(OnConflict::column(outbox_message::Column::DedupeKey).do_nothing().to_owned())
        .exec_without_returning(db)
        .await?;
    Ok(inserted > 0)
}
