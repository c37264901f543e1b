//! `Idempotency-Key` on mutations (docs/rules.md §12): the first request with a key runs and its answer is kept;
//! a repeat with the same request gets the kept answer and runs nothing.
//!
//! The claim is a row inserted in the database *before* the request runs, unique on (subscriber, actor,
//! key), so that it holds across replicas and under concurrency: of ten identical requests at once one
//! inserts the claim and runs, the others find it and answer "in progress" (or the kept answer, once it is
//! there). A claim carries a lease: a process that dies while running leaves its claim `RUNNING`, and
//! once the lease has run out the next request with that key takes the claim over (a compare-and-set on
//! the claim's token, so of several such requests one does). The lease outlasts any request
//! (`PARTNERGRAPH_REQUEST_TIMEOUT_SECS` stops every one) by a minute.

use chrono::{DateTime, Duration, Utc};
use entity::enums::IdempotencyStatus;
use entity::idempotency_key as row;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, Set};
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::new_id;
use crate::auth::Principal;
use crate::db::begin_write;
use crate::error::AppResult;
use crate::service::ServiceCtx;

/// The longest key accepted.
pub const MAX_KEY_LEN: usize = 255;

/// How long a claim outlives the longest request before another request may take it over.
const LEASE_MARGIN: Duration = Duration::seconds(60);

/// Attempts at claiming before giving up (each one lost a race to a release, a purge or a take-over).
const ATTEMPTS: usize = 4;

/// A key from the header: 1–255 visible ASCII characters (`!` to `~`).
pub fn parse_key(raw: &[u8]) -> Option<&str> {
    let ok = !raw.is_empty() && raw.len() <= MAX_KEY_LEN && raw.iter().all(|b| (0x21..=0x7e).contains(b));
    if ok { std::str::from_utf8(raw).ok() } else { None }
}

/// What identifies "the same request": SHA-256 of its query, variables and operation name in a canonical
/// JSON form (object keys sorted at every level; no variables, `null` and `{}` are the same, and so are no
/// operation name, `null` and `""`). Anything else in the body (`extensions`) does not count.
pub fn request_hash(body: &Value) -> String {
    let query = body.get("query").cloned().unwrap_or(Value::Null);
    let variables = match body.get("variables") {
        None | Some(Value::Null) => Value::Object(Default::default()),
        Some(v) => v.clone(),
    };
    let operation = match body.get("operationName") {
        Some(Value::String(s)) if s.is_empty() => Value::Null,
        Some(v) => v.clone(),
        None => Value::Null,
    };
    let mut text = String::new();
    canonical(&Value::Array(vec![query, variables, operation]), &mut text);
    Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// Compact JSON with object keys sorted. Recursion is bounded: serde_json parses at most 128 levels.
fn canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                canonical(&map[k], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// A claim this process holds: it runs the request, then completes or releases the claim.
#[derive(Debug, Clone, Copy)]
pub struct Held {
    id: Uuid,
    token: Uuid,
}

/// A kept answer.
#[derive(Debug, Clone)]
pub struct Kept {
    pub status: u16,
    pub content_type: String,
    pub body: String,
}

/// What a request with an `Idempotency-Key` is to do.
#[derive(Debug)]
pub enum Claim {
    /// Run it (the claim is held), then `complete` or `release`.
    Run(Held),
    /// Answer this, kept from the first request; run nothing.
    Replay(Kept),
    /// The key was used for another request.
    Reused,
    /// The first request with this key is still running.
    InProgress,
}

/// Claims `key` for this caller and request.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn claim(ctx: &ServiceCtx, p: &Principal, key: &str, hash: &str) -> AppResult<Claim> {
    for _ in 0..ATTEMPTS {
        let now = ctx.clock.now();
        let lease_until = now + lease(ctx);
        let token = Uuid::new_v4();
        let id = new_id();
        let txn = begin_write(&ctx.db, &ctx.write_gate).await?;
        let inserted = row::Entity::insert(row::ActiveModel {
            id: Set(id),
            subscriber_id: Set(p.subscriber_id),
            actor_id: Set(p.actor_id()),
            idempotency_key: Set(key.to_owned()),
            request_hash: Set(hash.to_owned()),
            status: Set(IdempotencyStatus::Running),
            claim_token: Set(token),
            lease_until: Set(Some(lease_until)),
            response_status: Set(None),
            response_content_type: Set(None),
            response_body: Set(None),
            created_at: Set(now),
            expires_at: Set(now + ttl(ctx)),
        })
        .on_conflict(
            OnConflict::columns([row::Column::SubscriberId, row::Column::ActorId, row::Column::IdempotencyKey])
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(&*txn)
        .await?;
        txn.commit().await?;
        if inserted > 0 {
            return Ok(Claim::Run(Held { id, token }));
        }
        let Some(found) = row::Entity::find()
            .filter(row::Column::SubscriberId.eq(p.subscriber_id))
            .filter(row::Column::ActorId.eq(p.actor_id()))
            .filter(row::Column::IdempotencyKey.eq(key))
            .one(&ctx.db)
            .await?
        else {
            // Released or purged in between: try to insert again.
            continue;
        };
        let lease_over = found.status == IdempotencyStatus::Running && found.lease_until.is_none_or(|t| t <= now);
        if found.expires_at <= now || lease_over {
            // A kept answer past its time (not purged yet) is as good as none; a claim whose process died is
            // taken over. Either way the first request to swap the token runs.
            if let Some(held) = take_over(ctx, &found, hash, now).await? {
                return Ok(Claim::Run(held));
            }
            continue;
        }
        if found.request_hash != hash {
            return Ok(Claim::Reused);
        }
        return Ok(match (found.status, found.response_status, found.response_body) {
            (IdempotencyStatus::Done, Some(status), Some(body)) => Claim::Replay(Kept {
                status: u16::try_from(status).unwrap_or(200),
                content_type: found.response_content_type.unwrap_or_else(|| "application/json".to_owned()),
                body,
            }),
            _ => Claim::InProgress,
        });
    }
    // Every attempt lost a race: the key is busy.
    Ok(Claim::InProgress)
}

/// Swaps a stale claim's token for a new one, starting it afresh for this request.
async fn take_over(ctx: &ServiceCtx, stale: &row::Model, hash: &str, now: DateTime<Utc>) -> AppResult<Option<Held>> {
    let token = Uuid::new_v4();
    let txn = begin_write(&ctx.db, &ctx.write_gate).await?;
    let done = row::Entity::update_many()
        .col_expr(row::Column::RequestHash, Expr::value(hash))
        .col_expr(row::Column::Status, Expr::value(IdempotencyStatus::Running))
        .col_expr(row::Column::ClaimToken, Expr::value(token))
        .col_expr(row::Column::LeaseUntil, Expr::value(Some(now + lease(ctx))))
        .col_expr(row::Column::ResponseStatus, Expr::value(Option::<i32>::None))
        .col_expr(row::Column::ResponseContentType, Expr::value(Option::<String>::None))
        .col_expr(row::Column::ResponseBody, Expr::value(Option::<String>::None))
        .col_expr(row::Column::CreatedAt, Expr::value(now))
        .col_expr(row::Column::ExpiresAt, Expr::value(now + ttl(ctx)))
        .filter(row::Column::Id.eq(stale.id))
        .filter(row::Column::ClaimToken.eq(stale.claim_token))
        .exec(&*txn)
        .await?;
    txn.commit().await?;
    Ok((done.rows_affected == 1).then_some(Held { id: stale.id, token }))
}

/// Keeps the answer of a request that ran, for the configured time from now.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn complete(ctx: &ServiceCtx, held: Held, kept: &Kept) -> AppResult<()> {
    let now = ctx.clock.now();
    let txn = begin_write(&ctx.db, &ctx.write_gate).await?;
    let done = row::Entity::update_many()
        .col_expr(row::Column::Status, Expr::value(IdempotencyStatus::Done))
        .col_expr(row::Column::LeaseUntil, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(row::Column::ResponseStatus, Expr::value(i32::from(kept.status)))
        .col_expr(row::Column::ResponseContentType, Expr::value(kept.content_type.as_str()))
        .col_expr(row::Column::ResponseBody, Expr::value(kept.body.as_str()))
        .col_expr(row::Column::ExpiresAt, Expr::value(now + ttl(ctx)))
        .filter(row::Column::Id.eq(held.id))
        .filter(row::Column::ClaimToken.eq(held.token))
        .exec(&*txn)
        .await?;
    txn.commit().await?;
    if done.rows_affected == 0 {
        // Only if this request outran its lease and another took the claim over.
        tracing::warn!(claim = %held.id, "an idempotency claim was taken over before its request finished");
    }
    Ok(())
}

/// Forgets the claim of a request that never ran (refused by parsing, validation or a limit): such
/// answers are not kept, so the key may be used again.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn release(ctx: &ServiceCtx, held: Held) -> AppResult<()> {
    let txn = begin_write(&ctx.db, &ctx.write_gate).await?;
    row::Entity::delete_many()
        .filter(row::Column::Id.eq(held.id))
        .filter(row::Column::ClaimToken.eq(held.token))
        .exec(&*txn)
        .await?;
    txn.commit().await?;
    Ok(())
}

/// Deletes kept answers past their time, and claims whose time and lease are both over (the scheduler).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn purge_expired(ctx: &ServiceCtx) -> AppResult<u64> {
    let now = ctx.clock.now();
    let txn = begin_write(&ctx.db, &ctx.write_gate).await?;
    let idle = Condition::any()
        .add(row::Column::Status.eq(IdempotencyStatus::Done))
        .add(row::Column::LeaseUntil.is_null())
        .add(row::Column::LeaseUntil.lte(now));
    let done = row::Entity::delete_many().filter(row::Column::ExpiresAt.lte(now)).filter(idle).exec(&*txn).await?;
    txn.commit().await?;
    Ok(done.rows_affected)
}

fn ttl(ctx: &ServiceCtx) -> Duration {
    Duration::from_std(ctx.config.idempotency_ttl).unwrap_or(Duration::days(1))
}

fn lease(ctx: &ServiceCtx) -> Duration {
    Duration::from_std(ctx.config.request_timeout).unwrap_or(Duration::seconds(30)) + LEASE_MARGIN
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_same_request_hashes_alike_whatever_the_key_order_and_the_empty_forms() {
        let a = json!({"query": "mutation($i: In!) { f(i: $i) }", "variables": {"i": {"b": [1, {"y": 2, "x": 1}], "a": "я"}}});
        let b = json!({"variables": {"i": {"a": "я", "b": [1, {"x": 1, "y": 2}]}}, "query": "mutation($i: In!) { f(i: $i) }", "operationName": null, "extensions": {"x": 1}});
        assert_eq!(request_hash(&a), request_hash(&b));
        let bare = json!({"query": "mutation { f }"});
        for same in [
            json!({"query": "mutation { f }", "variables": null}),
            json!({"query": "mutation { f }", "variables": {}}),
            json!({"query": "mutation { f }", "operationName": ""}),
        ] {
            assert_eq!(request_hash(&bare), request_hash(&same), "{same}");
        }
    }

    #[test]
    fn another_query_variable_value_array_order_or_operation_name_is_another_request() {
        let base = json!({"query": "mutation($n: String) { f(n: $n) }", "variables": {"n": "a", "l": [1, 2]}});
        for other in [
            json!({"query": "mutation($n: String) { f(n: $n)  }", "variables": {"n": "a", "l": [1, 2]}}),
            json!({"query": "mutation($n: String) { f(n: $n) }", "variables": {"n": "b", "l": [1, 2]}}),
            json!({"query": "mutation($n: String) { f(n: $n) }", "variables": {"n": "a", "l": [2, 1]}}),
            json!({"query": "mutation($n: String) { f(n: $n) }", "variables": {"n": "a", "l": [1, 2]}, "operationName": "X"}),
            json!({"query": "mutation($n: String) { f(n: $n) }", "variables": {"n": "a"}}),
        ] {
            assert_ne!(request_hash(&base), request_hash(&other), "{other}");
        }
    }

    #[test]
    fn a_key_is_1_to_255_visible_ascii_characters() {
        assert_eq!(parse_key(b"a"), Some("a"));
        assert_eq!(parse_key(b"order-42/retry_1:~!"), Some("order-42/retry_1:~!"));
        let long = "k".repeat(MAX_KEY_LEN);
        assert_eq!(parse_key(long.as_bytes()), Some(long.as_str()));
        for bad in [&b""[..], b"with space", b"tab\t", b"nul\0", "ключ".as_bytes(), b"\x7f"] {
            assert_eq!(parse_key(bad), None, "{bad:?}");
        }
        assert_eq!(parse_key("k".repeat(MAX_KEY_LEN + 1).as_bytes()), None);
    }
}
