//! One module per capability: queries and transactions, calling the pure rules in `domain`.

pub mod accounts;
pub mod audit;
pub mod billing;
pub mod bindings;
pub mod client_work;
pub mod demo;
pub mod digest;
pub mod invitations;
pub mod leads;
pub mod ledger;
pub mod members;
pub mod outbox;
pub mod programs;
pub mod promos;
pub mod stoplist;
pub mod subscribers;
pub mod support;
pub mod tariffs;
pub mod tasks;

use base64::Engine;
use rand::RngCore;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Select,
};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::{AppError, AppResult};

/// A page request: at most `first` rows after the row with id `after` (ids are time-ordered UUIDv7), and
/// whether the caller asked for the total (counting every match costs a scan, so only when asked).
#[derive(Debug, Clone, Copy)]
pub struct PageArgs {
    pub first: u64,
    pub after: Option<Uuid>,
    pub count_total: bool,
}

/// One page of rows, whether more follow, and how many match in all.
#[derive(Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub has_next: bool,
    pub total: u64,
}

/// Keyset pagination over a filtered select, ordered by the id column.
pub async fn paginate<E, C>(db: &C, select: Select<E>, id: E::Column, page: PageArgs) -> AppResult<Page<E::Model>>
where
    E: EntityTrait,
    E::Model: Send + Sync,
    C: ConnectionTrait,
{
    let total = if page.count_total { select.clone().count(db).await? } else { 0 };
    let mut q = select.order_by_asc(id);
    if let Some(after) = page.after {
        q = q.filter(id.gt(after));
    }
    let mut items = q.limit(page.first + 1).all(db).await?;
    let has_next = items.len() as u64 > page.first;
    items.truncate(page.first as usize);
    Ok(Page { items, has_next, total })
}

/// A fresh time-ordered id.
pub fn new_id() -> Uuid {
    Uuid::now_v7()
}

/// A random secret for the caller (returned once) and the hash that is stored instead.
pub fn new_secret_token() -> (String, String) {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash_token(&token);
    (token, hash)
}

pub fn hash_token(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Loads a row by id or answers `NOT_FOUND`.
pub async fn find_or_404<E, C>(db: &C, id: Uuid) -> AppResult<E::Model>
where
    E: EntityTrait,
    E::PrimaryKey: sea_orm::PrimaryKeyTrait<ValueType = Uuid>,
    C: ConnectionTrait,
{
    E::find_by_id(id).one(db).await?.ok_or(AppError::NotFound)
}
