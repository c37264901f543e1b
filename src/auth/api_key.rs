//! API keys at the edge (docs/rules.md §12): the secret's format, its hash, and the check that turns an
//! `Authorization: Bearer pgk_…` into the key's principal.
//!
//! A secret is `pgk_` and 32 random bytes in base64url (256 bits): so much entropy that a plain SHA-256
//! of it is a safe thing to store (no salt or slow hash needed: nobody can guess a preimage), and the
//! key is found by looking its hash up in a unique index. The first characters are kept as the key's
//! `prefix`, to tell keys apart in a list.

use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use entity::{api_key, subscriber};
use rand::RngCore;
use sea_orm::sea_query::{Expr, ExprTrait, Query as SqlQuery};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::cache::AuthCache;
use super::{Actor, Principal};
use crate::domain::{Role, SubscriberKind};
use crate::error::{AppError, AppResult};
use crate::service::ServiceCtx;

/// What every secret starts with: the edge tells keys from tokens by it.
pub const SECRET_PREFIX: &str = "pgk_";
/// `pgk_` and 43 base64url characters (32 bytes).
const SECRET_LEN: usize = 4 + 43;
/// How many characters of the secret the `prefix` shows (`pgk_` and 8 more: 48 of its 256 bits).
const SHOWN: usize = 12;
/// `lastUsedAt` is written at most this often per key.
pub const LAST_USED_EVERY: Duration = Duration::seconds(60);

/// Whether a bearer credential is an API key (rather than a token).
pub fn is_api_key(credential: &str) -> bool {
    credential.starts_with(SECRET_PREFIX)
}

/// A new secret, the prefix to show, and the hash to store.
pub fn new_secret() -> (String, String, String) {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret = format!("{SECRET_PREFIX}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes));
    let prefix = secret[..SHOWN].to_owned();
    let hash = hash_secret(&secret);
    (secret, prefix, hash)
}

/// SHA-256 of the secret, in hex.
pub fn hash_secret(secret: &str) -> String {
    Sha256::digest(secret.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

fn well_formed(secret: &str) -> bool {
    secret.len() == SECRET_LEN
        && is_api_key(secret)
        && secret.bytes().skip(SECRET_PREFIX.len()).all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The principal of the key with this secret: its subscriber and role, acting as the key. An unknown,
/// revoked or expired key is `UNAUTHENTICATED` (the edge answers 401). Fresh checks are reused from the
/// edge's cache for as long as membership checks are (see `auth::cache`).
pub async fn principal(ctx: &ServiceCtx, cache: &AuthCache, secret: &str) -> AppResult<Principal> {
    let invalid = || AppError::unauthenticated("INVALID_TOKEN", "invalid token");
    if !well_formed(secret) {
        return Err(invalid());
    }
    let hash = hash_secret(secret);
    let now = ctx.clock.now();
    if let Some(p) = cache.key(&hash, now) {
        return Ok(p);
    }
    let epoch = cache.epoch();
    let stmt = SqlQuery::select()
        .columns([
            (api_key::Entity, api_key::Column::Id),
            (api_key::Entity, api_key::Column::SubscriberId),
            (api_key::Entity, api_key::Column::Role),
            (api_key::Entity, api_key::Column::CreatedBy),
            (api_key::Entity, api_key::Column::ExpiresAt),
            (api_key::Entity, api_key::Column::RevokedAt),
            (api_key::Entity, api_key::Column::LastUsedAt),
        ])
        .column((subscriber::Entity, subscriber::Column::Kind))
        .from(api_key::Entity)
        .inner_join(
            subscriber::Entity,
            Expr::col((subscriber::Entity, subscriber::Column::Id))
                .equals((api_key::Entity, api_key::Column::SubscriberId)),
        )
        .and_where(Expr::col((api_key::Entity, api_key::Column::SecretHash)).eq(hash.as_str()))
        .to_owned();
    let row = ctx.db.query_one_raw(ctx.db.get_database_backend().build(&stmt)).await?.ok_or_else(invalid)?;
    let id: Uuid = row.try_get("", "id")?;
    let revoked_at: Option<DateTime<Utc>> = row.try_get("", "revoked_at")?;
    let expires_at: Option<DateTime<Utc>> = row.try_get("", "expires_at")?;
    if revoked_at.is_some() {
        return Err(AppError::unauthenticated("API_KEY_REVOKED", "this API key was revoked"));
    }
    if expires_at.is_some_and(|t| now >= t) {
        return Err(AppError::unauthenticated("API_KEY_EXPIRED", "this API key has expired"));
    }
    let role: Role = row.try_get("", "role")?;
    let kind: SubscriberKind = row.try_get("", "kind")?;
    let p = Principal {
        actor: Actor::Key { id, created_by: row.try_get("", "created_by")?, expires_at },
        subscriber_id: row.try_get("", "subscriber_id")?,
        kind,
        role,
    };
    let last_used: Option<DateTime<Utc>> = row.try_get("", "last_used_at")?;
    if last_used.is_none_or(|t| now - t >= LAST_USED_EVERY) {
        note_use(ctx, id, now).await;
    }
    cache.put_key(&hash, &p, now, epoch);
    Ok(p)
}

/// Writes `lastUsedAt`, outside any request transaction, at most once a minute per key across replicas
/// (the update is conditional). It changes nothing the edge checks, so it does not count as a write for
/// the cache. A failure is logged; the request goes on.
async fn note_use(ctx: &ServiceCtx, id: Uuid, now: DateTime<Utc>) {
    let due = api_key::Column::LastUsedAt.is_null().or(api_key::Column::LastUsedAt.lte(now - LAST_USED_EVERY));
    let done = api_key::Entity::update_many()
        .col_expr(api_key::Column::LastUsedAt, Expr::value(now))
        .filter(api_key::Column::Id.eq(id))
        .filter(due)
        .exec(&ctx.db)
        .await;
    if let Err(e) = done {
        tracing::warn!(error = %e, api_key = %id, "could not note an API key's use");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_pgk_and_256_random_bits_its_prefix_shows_a_few_and_its_hash_is_stable() {
        let (secret, prefix, hash) = new_secret();
        assert!(well_formed(&secret), "{secret}");
        assert_eq!(prefix.len(), SHOWN);
        assert!(secret.starts_with(&prefix));
        assert_eq!(hash, hash_secret(&secret));
        assert_eq!(hash.len(), 64);
        let (other, _, other_hash) = new_secret();
        assert_ne!((secret, hash), (other, other_hash));
    }

    #[test]
    fn anything_but_a_well_formed_secret_is_refused_before_hashing() {
        let (secret, _, _) = new_secret();
        for bad in [
            "pgk_".to_owned(),
            format!("{secret}x"),
            secret[..SECRET_LEN - 1].to_owned(),
            format!("pgk_{}", "ж".repeat(21)),
            format!("pgk_{}\0", &secret[4..SECRET_LEN - 1]),
            secret.replacen("pgk_", "pgx_", 1),
        ] {
            assert!(!well_formed(&bad), "{bad:?}");
        }
    }
}
