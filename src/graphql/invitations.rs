//! Invitations: `invitations`, `inviteUser`, `resendInvitation`, `revokeInvitation`.

use async_graphql::{Context, ID, InputObject, Object};

use super::context::{Conn, GqlResult, audit_target, connection, input_id, page_args, resource_id, scope, state};
use super::enums::{InvitationStatus, Role};
use super::types::{Invitation, InvitationPayload};
use crate::domain::Email;
use crate::error::AppError;
use crate::service::invitations;

#[derive(Default)]
pub struct InvitationQuery;

#[Object]
impl InvitationQuery {
    /// Invitations of one subscriber, or of every subscriber the caller administers (for a partner's
    /// operators: its own and its clients'), filtered by status.
    #[graphql(complexity = "first.unwrap_or(20).max(0) as usize * child_complexity")]
    async fn invitations(
        &self,
        ctx: &Context<'_>,
        subscriber_id: Option<ID>,
        status: Option<InvitationStatus>,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<Conn<Invitation>> {
        let p = scope(ctx)?;
        let sid = subscriber_id.as_ref().map(resource_id).transpose()?;
        let args = page_args(ctx, first, after)?;
        let page = invitations::list(state(ctx), p, sid, status.map(Into::into), args).await?;
        Ok(connection(page, args.after.is_some(), |m| m.id, Invitation))
    }
}

/// Whom to invite where.
#[derive(InputObject)]
pub struct InviteUserInput {
    /// The subscriber to join (default: the caller's own).
    pub subscriber_id: Option<ID>,
    pub email: String,
    pub role: Role,
}

#[derive(Default)]
pub struct InvitationMutation;

#[Object]
impl InvitationMutation {
    /// Invites a person; the raw token is returned once. Only owners invite owners.
    async fn invite_user(&self, ctx: &Context<'_>, input: InviteUserInput) -> GqlResult<InvitationPayload> {
        let p = scope(ctx)?;
        let sid = input.subscriber_id.as_ref().map(|id| input_id(id, "subscriberId")).transpose()?;
        let email = Email::parse(&input.email).map_err(AppError::input("email"))?;
        let (inv, token) = invitations::invite(state(ctx), p, sid, email, input.role.into()).await?;
        audit_target(ctx, inv.id);
        Ok(InvitationPayload { invitation: Invitation(inv), token })
    }

    /// Sends a pending invitation again with a new token and expiry; the old token stops working.
    async fn resend_invitation(&self, ctx: &Context<'_>, id: ID) -> GqlResult<InvitationPayload> {
        let p = scope(ctx)?;
        let (inv, token) = invitations::resend(state(ctx), p, resource_id(&id)?).await?;
        audit_target(ctx, inv.id);
        Ok(InvitationPayload { invitation: Invitation(inv), token })
    }

    /// Voids a pending invitation.
    async fn revoke_invitation(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Invitation> {
        let p = scope(ctx)?;
        let inv = invitations::revoke(state(ctx), p, resource_id(&id)?).await?;
        audit_target(ctx, inv.id);
        Ok(Invitation(inv))
    }
}
