//! The append-only audit log of mutations (the database refuses updates and deletes of its rows).

use chrono::{DateTime, Utc};
use entity::audit_entry;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};

use crate::db::begin_write;
use uuid::Uuid;

use super::{Page, PageArgs, new_id, paginate};
use crate::auth::Scope;
use crate::domain::Role;
use crate::error::AppResult;
use crate::service::ServiceCtx;

/// One audited mutation.
pub struct AuditRecord {
    pub at: DateTime<Utc>,
    /// The person who acted (null for an anonymous caller and for an API key).
    pub actor: Option<Uuid>,
    /// The API key that acted.
    pub api_key: Option<Uuid>,
    pub role: Option<Role>,
    pub subscriber: Option<Uuid>,
    pub operation: String,
    pub target: Option<Uuid>,
    pub outcome: String,
    pub request_id: Option<String>,
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn record(ctx: &ServiceCtx, r: AuditRecord) -> AppResult<()> {
    let txn = begin_write(&ctx.db, &ctx.write_gate).await?;
    audit_entry::ActiveModel {
        id: Set(new_id()),
        at: Set(r.at),
        actor_user_id: Set(r.actor),
        role: Set(r.role),
        subscriber_id: Set(r.subscriber),
        operation: Set(r.operation),
        target_id: Set(r.target),
        outcome: Set(r.outcome),
        request_id: Set(r.request_id),
        actor_api_key_id: Set(r.api_key),
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    Ok(())
}

/// The vendor reads everything; an owner reads the entries made in its own subscriber.
#[tracing::instrument(level = "debug", skip_all, fields(caller = %p.subscriber_id))]
pub async fn list(ctx: &ServiceCtx, p: Scope<'_>, page: PageArgs) -> AppResult<Page<audit_entry::Model>> {
    let mut q = audit_entry::Entity::find();
    if !p.is_vendor() {
        p.require(p.role == Role::Owner, "read the audit log")?;
        q = q.filter(audit_entry::Column::SubscriberId.eq(p.subscriber_id));
    }
    paginate(&ctx.db, q, audit_entry::Column::Id, page).await
}
