//! API keys (docs/rules.md §12): `apiKeys`, `createApiKey`, `revokeApiKey`, and the `ApiKey` type that `Viewer`
//! and `AuditEntry` show.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::api_key;

use super::context::{Conn, GqlResult, audit_target, connection, page_args, resource_id, scope, state};
use super::enums::Role;
use super::loaders::{self, UserId};
use super::types::User;
use crate::domain::Name;
use crate::error::AppError;
use crate::service::api_keys::{self, NewApiKey};

/// A key a program (a CRM, a billing system) signs in with: `Authorization: Bearer <secret>`. It acts in
/// its subscriber with its role, as itself (the audit log names the key).
pub struct ApiKey(pub api_key::Model);

#[Object]
impl ApiKey {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// What the key is for, as its owner named it.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// The role the key acts with in its subscriber (never `OWNER`).
    async fn role(&self) -> Role {
        self.0.role.into()
    }
    /// The first characters of the secret (`pgk_` and 8 more), to tell keys apart.
    async fn prefix(&self) -> &str {
        &self.0.prefix
    }
    /// The person who created the key. The key keeps working when that person leaves.
    async fn created_by(&self, ctx: &Context<'_>) -> GqlResult<Option<User>> {
        Ok(loaders::one(ctx, UserId(self.0.created_by)).await?.map(User))
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// After this the key is refused (null: never).
    async fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.0.expires_at
    }
    /// When the key was last used (written at most once a minute, so it may lag by about that much).
    async fn last_used_at(&self) -> Option<DateTime<Utc>> {
        self.0.last_used_at
    }
    /// When the key was revoked; a revoked key is refused.
    async fn revoked_at(&self) -> Option<DateTime<Utc>> {
        self.0.revoked_at
    }
}

/// A key to create.
#[derive(InputObject)]
pub struct ApiKeyInput {
    /// What the key is for (1–200 characters, one line).
    pub name: String,
    /// Any role the subscriber's kind allows, except `OWNER`.
    pub role: Role,
    /// When the key stops working (in the future; null: never).
    pub expires_at: Option<DateTime<Utc>>,
}

/// A new key and its secret.
#[derive(SimpleObject)]
pub struct ApiKeyPayload {
    pub api_key: ApiKey,
    /// The secret (`pgk_…`), shown only this once: it is stored only as a hash.
    pub secret: String,
}

#[derive(Default)]
pub struct ApiKeyQuery;

#[Object]
impl ApiKeyQuery {
    /// The API keys of the caller's subscriber, revoked and expired ones too (its `OWNER` only; a key
    /// cannot manage keys).
    #[graphql(complexity = "first.unwrap_or(20).max(0) as usize * child_complexity")]
    async fn api_keys(&self, ctx: &Context<'_>, first: Option<i32>, after: Option<String>) -> GqlResult<Conn<ApiKey>> {
        let p = scope(ctx)?;
        let args = page_args(ctx, first, after)?;
        let page = api_keys::list(state(ctx), p, args).await?;
        Ok(connection(page, args.after.is_some(), |m| m.id, ApiKey))
    }
}

#[derive(Default)]
pub struct ApiKeyMutation;

#[Object]
impl ApiKeyMutation {
    /// Creates an API key acting in the caller's subscriber with `role` (the subscriber's `OWNER` only). The
    /// secret is returned once.
    async fn create_api_key(&self, ctx: &Context<'_>, input: ApiKeyInput) -> GqlResult<ApiKeyPayload> {
        let p = scope(ctx)?;
        let new = NewApiKey {
            name: Name::parse(&input.name).map_err(AppError::input("name"))?,
            role: input.role.into(),
            expires_at: input.expires_at,
        };
        let (key, secret) = api_keys::create(state(ctx), p, new).await?;
        audit_target(ctx, key.id);
        Ok(ApiKeyPayload { api_key: ApiKey(key), secret })
    }

    /// Revokes an API key of the caller's subscriber: it is refused from the next request on, and its open
    /// WebSocket connections are closed.
    async fn revoke_api_key(&self, ctx: &Context<'_>, id: ID) -> GqlResult<ApiKey> {
        let p = scope(ctx)?;
        let key = api_keys::revoke(state(ctx), p, resource_id(&id)?).await?;
        audit_target(ctx, key.id);
        Ok(ApiKey(key))
    }
}
