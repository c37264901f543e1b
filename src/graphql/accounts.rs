//! Signing in and the caller: `me`, `login`, `selfRegister`, `acceptInvitation`; passwords
//! (`changePassword`, `requestPasswordReset`, `resetPassword`) and `setUserActive`.

use async_graphql::{Context, ID, InputObject, Object};

use super::context::{GqlResult, audit_actor, audit_target, caller, input_id, resource_id, scope, state};
use super::types::{AuthPayload, User, Viewer};
use crate::auth::Actor;
use crate::domain::{Email, Inn, Name};
use crate::error::AppError;
use crate::service::accounts::{self, SelfRegistration, SignedIn};
use crate::service::invitations::{self, Acceptance};
use crate::service::subscribers;
use crate::service::{credentials, users};

#[derive(Default)]
pub struct AccountQuery;

#[Object]
impl AccountQuery {
    /// The caller: user, active subscriber, role and memberships.
    async fn me(&self, ctx: &Context<'_>) -> GqlResult<Viewer> {
        let p = scope(ctx)?;
        // The user and subscriber are read only when the query asks for them.
        let id = match p.actor {
            Actor::User { membership_id, .. } => membership_id,
            Actor::Key { id, .. } => id,
        };
        Ok(Viewer {
            id,
            user_id: p.responsible_user(),
            api_key: p.api_key_id(),
            subscriber_id: p.subscriber_id,
            role: p.role,
            user: None,
            subscriber: None,
        })
    }
}

/// A company registering itself with its owner.
#[derive(InputObject)]
pub struct SelfRegisterInput {
    pub company_name: String,
    pub inn: Option<String>,
    /// The owner's e-mail, which becomes the login.
    pub email: String,
    /// The owner's name.
    pub name: String,
    /// At least 8 characters.
    pub password: String,
    /// A partner's referral code: the new client is bound to that partner.
    pub referral_code: Option<String>,
    /// Which program's lead pool assigns a client without a referral code (lead distribution).
    pub program_code: Option<String>,
}

#[derive(Default)]
pub struct AccountMutation;

async fn payload(ctx: &Context<'_>, s: SignedIn) -> GqlResult<AuthPayload> {
    let role = s.membership.role;
    audit_actor(ctx, s.user.id, s.membership.subscriber_id, role);
    let subscriber = subscribers::load(&state(ctx).db, s.membership.subscriber_id).await?;
    Ok(AuthPayload {
        token: s.token,
        expires_at: s.expires_at,
        viewer: Viewer {
            id: s.membership.id,
            user_id: s.user.id,
            api_key: None,
            subscriber_id: subscriber.id,
            role,
            user: Some(s.user),
            subscriber: Some(subscriber),
        },
    })
}

#[Object]
impl AccountMutation {
    /// Signs in. Five failures for one e-mail within 15 minutes lock it for 15 minutes
    /// (`TOO_MANY_ATTEMPTS`). `subscriberId` picks which membership to act in (default: the oldest).
    async fn login(
        &self,
        ctx: &Context<'_>,
        email: String,
        password: String,
        subscriber_id: Option<ID>,
    ) -> GqlResult<AuthPayload> {
        let sid = subscriber_id.as_ref().map(|id| input_id(id, "subscriberId")).transpose()?;
        let s = accounts::login(state(ctx), &email, &password, sid).await?;
        audit_target(ctx, s.user.id);
        payload(ctx, s).await
    }

    /// A company registers itself (public). With a referral code it is bound to that partner; without
    /// one, lead distribution assigns it a partner from the lead pool of `programCode` (default `1C-FRESH`).
    async fn self_register(&self, ctx: &Context<'_>, input: SelfRegisterInput) -> GqlResult<AuthPayload> {
        let r = SelfRegistration {
            company: Name::parse(&input.company_name).map_err(AppError::input("companyName"))?,
            inn: input
                .inn
                .as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(Inn::parse)
                .transpose()
                .map_err(AppError::input("inn"))?,
            email: Email::parse(&input.email).map_err(AppError::input("email"))?,
            name: Name::parse(&input.name).map_err(AppError::input("name"))?,
            password: input.password,
            referral_code: input.referral_code,
            program_code: input.program_code,
        };
        let s = accounts::self_register(state(ctx), r).await?;
        audit_target(ctx, s.membership.subscriber_id);
        payload(ctx, s).await
    }

    /// Accepts an invitation: creates the user (give `name` and `password`) or, for an e-mail that
    /// already has an account, adds the membership (give that account's `password`, or call with its
    /// token). Signs in as the new membership.
    async fn accept_invitation(
        &self,
        ctx: &Context<'_>,
        token: String,
        name: Option<String>,
        password: Option<String>,
    ) -> GqlResult<AuthPayload> {
        let st = state(ctx);
        let (user, membership) = invitations::accept(st, caller(ctx), &token, Acceptance { name, password }).await?;
        audit_target(ctx, membership.id);
        let s = accounts::sign_in(st, user, membership)?;
        payload(ctx, s).await
    }

    /// The signed-in person changes their password. A wrong `currentPassword` is `UNAUTHENTICATED`
    /// `INVALID_CREDENTIALS` and counts toward the login lockout of the e-mail. Every token of the user
    /// ends, this one included: sign in again with the new password.
    async fn change_password(
        &self,
        ctx: &Context<'_>,
        current_password: String,
        new_password: String,
    ) -> GqlResult<bool> {
        let p = scope(ctx)?;
        audit_target(ctx, p.require_person("change a password")?);
        credentials::change_password(state(ctx), p, &current_password, &new_password).await?;
        Ok(true)
    }

    /// Asks for a password-reset link by e-mail (public). Always `true`, whether or not an account has
    /// this e-mail; an active account gets a single-use link valid for one hour. At most three per
    /// address per hour.
    async fn request_password_reset(&self, ctx: &Context<'_>, email: String) -> GqlResult<bool> {
        credentials::request_reset(state(ctx), &email).await?;
        Ok(true)
    }

    /// Sets a new password with the token of a reset link and signs in. A used, expired or unknown token
    /// is `BAD_USER_INPUT` `RESET_TOKEN_INVALID`. Every token issued to the user before ends.
    async fn reset_password(&self, ctx: &Context<'_>, token: String, new_password: String) -> GqlResult<AuthPayload> {
        let s = credentials::reset_password(state(ctx), &token, &new_password).await?;
        audit_target(ctx, s.user.id);
        payload(ctx, s).await
    }

    /// The vendor's staff deactivate or reactivate a user. An inactive user cannot log in; its tokens are
    /// refused from the next request on and stay refused after reactivation.
    async fn set_user_active(&self, ctx: &Context<'_>, user_id: ID, active: bool) -> GqlResult<User> {
        let p = scope(ctx)?;
        let id = resource_id(&user_id)?;
        audit_target(ctx, id);
        Ok(User(users::set_active(state(ctx), p, id, active).await?))
    }
}
