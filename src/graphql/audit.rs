//! The audit log query.

use async_graphql::{Context, Object};

use super::context::{Conn, GqlResult, connection, page_args, scope, state};
use super::types::AuditEntry;
use crate::service::audit;

#[derive(Default)]
pub struct AuditQuery;

#[Object]
impl AuditQuery {
    /// Every mutation with its actor and outcome, newest last. The vendor reads all; an owner reads its
    /// own subscriber's.
    #[graphql(complexity = "first.unwrap_or(20).max(0) as usize * child_complexity")]
    async fn audit_log(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<Conn<AuditEntry>> {
        let p = scope(ctx)?;
        let args = page_args(ctx, first, after)?;
        let page = audit::list(state(ctx), p, args).await?;
        Ok(connection(page, args.after.is_some(), |m| m.id, AuditEntry))
    }
}
