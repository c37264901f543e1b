//! One module per capability: queries and transactions, calling the pure rules in `domain`.

pub mod accounts;
pub mod api_keys;
pub mod audit;
pub mod audit_partitions;
pub mod billing;
pub mod bindings;
pub mod client_work;
mod context;
pub mod credentials;
pub mod crm;
pub mod demo;
pub mod digest;
pub mod idempotency;
pub mod invitations;
pub mod leads;
pub mod ledger;
pub mod ledger_totals;
pub mod members;
pub mod outbox;
pub mod programs;
pub mod promos;
pub mod ranking;
pub mod stoplist;
pub mod subscribers;
pub mod support;
pub mod tariffs;
pub mod tasks;
pub mod users;
pub mod webhooks;

use base64::Engine;
use rand::RngCore;
use sea_orm::sea_query::{Alias, Asterisk, Expr, Query as SqlQuery, UnionType};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
    QueryTrait, Select,
};
use sha2::{Digest, Sha256};
use uuid::Uuid;

pub use context::ServiceCtx;

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

impl<T> Page<T> {
    /// No rows (for a relation outside the caller's reach).
    pub fn empty() -> Self {
        Page { items: Vec::new(), has_next: false, total: 0 }
    }

    /// A page from rows fetched with one extra (`first + 1`): the extra one only says that more follow.
    pub fn from_overfetch(mut items: Vec<T>, first: u64, total: u64) -> Self {
        let has_next = items.len() as u64 > first;
        items.truncate(first as usize);
        Page { items, has_next, total }
    }
}

/// Keyset pagination over a filtered select, ordered by the id column.
pub async fn paginate<E, C>(db: &C, select: Select<E>, id: E::Column, page: PageArgs) -> AppResult<Page<E::Model>>
where
    E: EntityTrait,
    E::Model: Send + Sync,
    C: ConnectionTrait,
{
    let total = if page.count_total { select.clone().count(db).await? } else { 0 };
    paginate_counted(db, select, id, page, total).await
}

async fn paginate_counted<E, C>(
    db: &C,
    select: Select<E>,
    id: E::Column,
    page: PageArgs,
    total: u64,
) -> AppResult<Page<E::Model>>
where
    E: EntityTrait,
    E::Model: Send + Sync,
    C: ConnectionTrait,
{
    let items = keyset(select, id, page).all(db).await?;
    Ok(Page::from_overfetch(items, page.first, total))
}

/// `select`'s rows after `page.after` in id order, at most `first + 1` (the extra one says more follow).
fn keyset<E: EntityTrait>(select: Select<E>, id: E::Column, page: PageArgs) -> Select<E> {
    let mut q = select.order_by_asc(id);
    if let Some(after) = page.after {
        q = q.filter(id.gt(after));
    }
    q.limit(page.first + 1)
}

/// Keyset pagination over the union of `branches` (each a condition one index range serves, such as
/// "clients served by partner P" on `(serving_partner_id, id)`): each branch reads at most one page
/// from its range and the pages are merged (one statement), so a page costs the same whatever the table's size. One `OR`
/// of the branches would make PostgreSQL walk the primary key and filter the whole table instead.
pub async fn paginate_union<E, C>(
    db: &C,
    select: Select<E>,
    branches: Vec<sea_orm::Condition>,
    id: E::Column,
    id_of: impl Fn(&E::Model) -> Uuid,
    page: PageArgs,
) -> AppResult<Page<E::Model>>
where
    E: EntityTrait,
    E::Model: Send + Sync,
    C: ConnectionTrait,
{
    let total = if page.count_total { count_union(db, select.clone(), &branches).await? } else { 0 };
    if let [branch] = branches.as_slice() {
        return paginate_counted(db, select.filter(branch.clone()), id, page, total).await;
    }
    let Some(merged) = branch_pages(select, branches, id, page, UnionType::All) else {
        return Ok(Page::from_overfetch(Vec::new(), page.first, total));
    };
    let mut items = E::Model::find_by_statement(db.get_database_backend().build(&merged)).all(db).await?;
    items.sort_by_key(&id_of);
    items.dedup_by_key(|m| id_of(m));
    Ok(Page::from_overfetch(items, page.first, total))
}

/// How many rows the union of `branches` holds (`totalCount`).
pub async fn count_union<E, C>(db: &C, select: Select<E>, branches: &[sea_orm::Condition]) -> AppResult<u64>
where
    E: EntityTrait,
    E::Model: Send + Sync,
    C: ConnectionTrait,
{
    let any = branches.iter().cloned().fold(sea_orm::Condition::any(), sea_orm::Condition::add);
    Ok(select.filter(any).count(db).await?)
}

/// The page `paginate_union` reads, as one statement to build on: the rows of the union of `branches`
/// after `page.after`, in id order, at most `first + 1` of them (the extra one says more follow).
pub fn page_statement<E: EntityTrait>(
    select: Select<E>,
    branches: Vec<sea_orm::Condition>,
    id: E::Column,
    page: PageArgs,
) -> sea_orm::sea_query::SelectStatement {
    if let [branch] = branches.as_slice() {
        return keyset(select.filter(branch.clone()), id, page).into_query();
    }
    // A row two branches reach comes once (`UNION`, not `UNION ALL`).
    match branch_pages(select.clone(), branches, id, page, UnionType::Distinct) {
        Some(merged) => SqlQuery::select()
            .column(Asterisk)
            .from_subquery(merged, Alias::new("merged"))
            .order_by(Alias::new(sea_orm::IdenStatic::as_str(&id)), sea_orm::Order::Asc)
            .limit(page.first + 1)
            .to_owned(),
        None => select.filter(sea_orm::Condition::any()).into_query(),
    }
}

/// Each branch's page as a subquery (its own `ORDER BY id LIMIT`, so it keeps its index range), the pages
/// side by side; `None` without branches.
fn branch_pages<E: EntityTrait>(
    select: Select<E>,
    branches: Vec<sea_orm::Condition>,
    id: E::Column,
    page: PageArgs,
    union: UnionType,
) -> Option<sea_orm::sea_query::SelectStatement> {
    let mut parts = branches.into_iter().enumerate().map(|(i, branch)| {
        let branch = keyset(select.clone().filter(branch), id, page).into_query();
        SqlQuery::select().column(Asterisk).from_subquery(branch, Alias::new(format!("branch{i}"))).to_owned()
    });
    let mut merged = parts.next()?;
    for part in parts {
        merged.union(union, part);
    }
    Some(merged)
}

/// Takes a row's lock for the rest of the transaction by writing one of its columns to itself
/// (PostgreSQL; SQLite write transactions are serial anyway): concurrent transactions that take the same
/// lock queue behind each other, so their read-then-write rules hold.
pub async fn lock_row<E, C>(db: &C, id_col: E::Column, touch: E::Column, id: Uuid) -> AppResult<()>
where
    E: EntityTrait,
    C: ConnectionTrait,
{
    E::update_many().col_expr(touch, Expr::col(touch)).filter(id_col.eq(id)).exec(db).await?;
    Ok(())
}

/// Letters and digits without look-alikes (no 0/O, 1/I), for referral and promo codes.
pub const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/// A random code of `len` characters from `alphabet` (codes people read out and type).
pub fn random_code(alphabet: &[u8], len: usize) -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..len).map(|_| alphabet[rng.random_range(0..alphabet.len())] as char).collect()
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
