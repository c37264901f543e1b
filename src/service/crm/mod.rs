//! CRM books (docs/rules.md §10): the contacts, companies and deals a partner (or the vendor) keeps, upserted by
//! a third-party CRM's own external ids.
//!
//! Reach comes from the [`Scope`]: `Scope::book` for reads, `Scope::writable_book` for writes, and
//! `Scope::crm_rows` as the SQL condition of every lookup by id, so another book's row is `NOT_FOUND`
//! exactly like a random id. Every write runs in one transaction that first takes its book's lock: the
//! writes of one book queue behind each other (on PostgreSQL; SQLite writes are serial anyway), so an
//! upsert's read-then-insert by external id, a link set's read-then-replace, and the `updated_at` bumps
//! on both sides of a link cannot interleave or deadlock. The partial unique index on
//! `(book_id, external_id)` holds the invariant in the database whatever happens.

pub mod companies;
pub mod contacts;
pub mod deals;
mod links;

use chrono::{DateTime, SubsecRound, Utc};
use entity::{crm_company, crm_contact, crm_deal};
use sea_orm::sea_query::{Expr, ExprTrait, LikeExpr, SimpleExpr};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use super::subscribers::Patch;
use crate::auth::{Book, Scope};
use crate::db::{WriteTxn, begin_write};
use crate::domain::crm::ExternalId;
use crate::error::{AppError, AppResult};
use crate::service::ServiceCtx;

/// At most this many rows in one batch upsert.
pub const BATCH_MAX: usize = 100;
/// At most this many related rows in one link list of an input.
pub const LINKS_MAX: usize = 1000;

/// How an upsert finds its row: by our id, else by the CRM's external id in the book, else it creates
/// one. With an id, `external_id` changes the row's external id (`Clear` removes it).
#[derive(Debug, Clone, Default)]
pub struct Locator {
    pub id: Option<Uuid>,
    pub external_id: Patch<ExternalId>,
}

/// Related rows named by our ids and by external ids (the set is their union).
#[derive(Debug, Clone, Default)]
pub struct Refs {
    pub ids: Vec<Uuid>,
    pub external_ids: Vec<ExternalId>,
}

/// A row an upsert wrote, and whether it created it.
#[derive(Debug, Clone)]
pub struct Upserted<M> {
    pub row: M,
    pub created: bool,
}

/// The failing item of a batch (0-based) and why; nothing of the batch was kept.
#[derive(Debug)]
pub struct BatchError {
    pub index: Option<usize>,
    pub error: AppError,
}

impl From<AppError> for BatchError {
    fn from(error: AppError) -> Self {
        BatchError { index: None, error }
    }
}

impl From<sea_orm::DbErr> for BatchError {
    fn from(e: sea_orm::DbErr) -> Self {
        AppError::from(e).into()
    }
}

/// Refuses a batch of more than [`BATCH_MAX`] items.
pub fn check_batch_size(n: usize) -> AppResult<()> {
    if n > BATCH_MAX {
        return Err(AppError::bad_input(
            "inputs",
            "BATCH_TOO_LARGE",
            format!("inputs: at most {BATCH_MAX} items in one batch"),
        ));
    }
    Ok(())
}

/// One open CRM write: the book it writes, its transaction (holding the book's lock), the caller and
/// the time of the change.
pub struct BookWrite<'a> {
    pub book: Book,
    pub txn: WriteTxn,
    pub scope: Scope<'a>,
    pub now: DateTime<Utc>,
}

impl<'a> BookWrite<'a> {
    /// Opens a write to the caller's writable book (`FORBIDDEN` for callers who may not write one).
    pub async fn begin(ctx: &ServiceCtx, scope: Scope<'a>) -> AppResult<Self> {
        let book = scope.writable_book()?;
        let txn = begin_write(&ctx.db, &ctx.write_gate).await?;
        // The book's lock: the subscriber row, written to itself (its `updated_at` does not change).
        super::subscribers::lock(&txn, book.id()).await?;
        // Microseconds, as PostgreSQL keeps them: the `updatedAt` an upsert answers is the one stored,
        // so a CRM can pass it back as `updatedSince` and find the row.
        let now = ctx.clock.now().trunc_subsecs(6);
        Ok(BookWrite { book, txn, scope, now })
    }

    pub async fn commit(self) -> AppResult<()> {
        Ok(self.txn.commit().await?)
    }
}

/// One kind of CRM row that upserts write (contacts, companies, deals).
pub trait UpsertKind {
    type Input: Send;
    type Model: Send;
    /// One upsert inside an open write (the batch's transaction, or a single upsert's own).
    fn upsert_in(
        w: &BookWrite<'_>,
        input: Self::Input,
    ) -> impl std::future::Future<Output = AppResult<Upserted<Self::Model>>> + Send;
}

/// One upsert in its own transaction.
#[tracing::instrument(level = "debug", skip_all, fields(caller = %scope.subscriber_id))]
pub async fn upsert_one<K: UpsertKind>(
    ctx: &ServiceCtx,
    scope: Scope<'_>,
    input: K::Input,
) -> AppResult<Upserted<K::Model>> {
    let w = BookWrite::begin(ctx, scope).await?;
    let r = K::upsert_in(&w, input).await?;
    w.commit().await?;
    Ok(r)
}

/// A batch: all or nothing, in one transaction; answers in input order, a failure names its index.
#[tracing::instrument(level = "debug", skip_all, fields(caller = %scope.subscriber_id))]
pub async fn upsert_batch<K: UpsertKind>(
    ctx: &ServiceCtx,
    scope: Scope<'_>,
    inputs: Vec<K::Input>,
) -> Result<Vec<Upserted<K::Model>>, BatchError> {
    check_batch_size(inputs.len())?;
    let w = BookWrite::begin(ctx, scope).await?;
    let mut out = Vec::with_capacity(inputs.len());
    for (i, input) in inputs.into_iter().enumerate() {
        out.push(K::upsert_in(&w, input).await.map_err(|error| BatchError { index: Some(i), error })?);
    }
    w.commit().await?;
    Ok(out)
}

/// The columns every book table has, for lookups shared by the three kinds.
pub trait BookTable: EntityTrait {
    /// The field naming a row of this kind in inputs (`contactIds`…), for messages.
    const NOUN: &'static str;
    fn col_id() -> Self::Column;
    fn col_book() -> Self::Column;
    fn col_external() -> Self::Column;
    fn col_updated() -> Self::Column;
    fn id_of(m: &Self::Model) -> Uuid;
    fn book_of(m: &Self::Model) -> Uuid;
}

macro_rules! book_table {
    ($entity:ident, $noun:literal) => {
        impl BookTable for $entity::Entity {
            const NOUN: &'static str = $noun;
            fn col_id() -> Self::Column {
                $entity::Column::Id
            }
            fn col_book() -> Self::Column {
                $entity::Column::BookId
            }
            fn col_external() -> Self::Column {
                $entity::Column::ExternalId
            }
            fn col_updated() -> Self::Column {
                $entity::Column::UpdatedAt
            }
            fn id_of(m: &Self::Model) -> Uuid {
                m.id
            }
            fn book_of(m: &Self::Model) -> Uuid {
                m.book_id
            }
        }
    };
}

book_table!(crm_contact, "contact");
book_table!(crm_company, "company");
book_table!(crm_deal, "deal");

/// Reads one row the caller reaches by id; anything else is `NOT_FOUND`.
pub async fn get<E: BookTable, C: ConnectionTrait>(db: &C, scope: Scope<'_>, id: Uuid) -> AppResult<E::Model> {
    E::find().filter(E::col_id().eq(id)).filter(scope.crm_rows(E::col_book())?).one(db).await?.ok_or(AppError::NotFound)
}

/// A row of the written book by id. A row the caller cannot see is `NOT_FOUND`; a row it reads but
/// may not write (another book, for the vendor) is `FORBIDDEN`.
pub async fn writable<E: BookTable>(w: &BookWrite<'_>, id: Uuid) -> AppResult<E::Model> {
    let row = get::<E, _>(&w.txn, w.scope, id).await?;
    if E::book_of(&row) != w.book.id() {
        return Err(AppError::forbidden(format!("the vendor writes only its own CRM book, not this {}", E::NOUN)));
    }
    Ok(row)
}

/// The row of a book with an external id, if any.
pub async fn by_external<E: BookTable, C: ConnectionTrait>(
    db: &C,
    book: Book,
    external: &ExternalId,
) -> AppResult<Option<E::Model>> {
    Ok(E::find().filter(E::col_book().eq(book.id())).filter(E::col_external().eq(external.as_str())).one(db).await?)
}

/// Finds the row an upsert is about (`None`: create one).
pub async fn locate<E: BookTable>(w: &BookWrite<'_>, loc: &Locator) -> AppResult<Option<E::Model>> {
    if let Some(id) = loc.id {
        return writable::<E>(w, id).await.map(Some);
    }
    match &loc.external_id {
        Patch::Set(ext) => by_external::<E, _>(&w.txn, w.book, ext).await,
        _ => Ok(None),
    }
}

/// The external id a located row ends up with; `CONFLICT` `EXTERNAL_ID_TAKEN` when another row of the
/// book has it.
pub async fn next_external_id<E: BookTable>(
    w: &BookWrite<'_>,
    loc: &Locator,
    row_id: Option<Uuid>,
    current: Option<String>,
) -> AppResult<Option<String>> {
    match &loc.external_id {
        Patch::Keep => Ok(current),
        Patch::Clear if loc.id.is_some() => Ok(None),
        Patch::Clear => Ok(current),
        Patch::Set(ext) => {
            if current.as_deref() != Some(ext.as_str())
                && let Some(other) = by_external::<E, _>(&w.txn, w.book, ext).await?
                && Some(E::id_of(&other)) != row_id
            {
                return Err(taken());
            }
            Ok(Some(ext.as_str().to_owned()))
        }
    }
}

pub(crate) fn taken() -> AppError {
    AppError::conflict_on("externalId", "EXTERNAL_ID_TAKEN", "externalId: another row of this book has it")
}

/// Maps the unique index on external ids to `EXTERNAL_ID_TAKEN`.
pub(crate) fn on_taken(e: sea_orm::DbErr) -> AppError {
    AppError::on_unique("externalId", "EXTERNAL_ID_TAKEN", "externalId: another row of this book has it")(e)
}

/// Resolves related rows named by our ids (`NOT_FOUND` outside the book, like a random id) and by
/// external ids (`BAD_USER_INPUT` `UNKNOWN_EXTERNAL_ID` on `external_field`), without duplicates, in the
/// order given.
pub async fn resolve<E: BookTable>(w: &BookWrite<'_>, refs: &Refs, external_field: &str) -> AppResult<Vec<Uuid>> {
    let mut out: Vec<Uuid> = Vec::new();
    if !refs.ids.is_empty() {
        let found: Vec<Uuid> = E::find()
            .select_only()
            .column(E::col_id())
            .filter(E::col_book().eq(w.book.id()))
            .filter(E::col_id().is_in(refs.ids.clone()))
            .into_tuple()
            .all(&w.txn)
            .await?;
        if refs.ids.iter().any(|id| !found.contains(id)) {
            return Err(AppError::NotFound);
        }
        for id in &refs.ids {
            if !out.contains(id) {
                out.push(*id);
            }
        }
    }
    if !refs.external_ids.is_empty() {
        let names: Vec<&str> = refs.external_ids.iter().map(ExternalId::as_str).collect();
        let found: Vec<(Uuid, Option<String>)> = E::find()
            .select_only()
            .column(E::col_id())
            .column(E::col_external())
            .filter(E::col_book().eq(w.book.id()))
            .filter(E::col_external().is_in(names.clone()))
            .into_tuple()
            .all(&w.txn)
            .await?;
        for name in names {
            let Some((id, _)) = found.iter().find(|(_, e)| e.as_deref() == Some(name)) else {
                return Err(AppError::bad_input(
                    external_field,
                    "UNKNOWN_EXTERNAL_ID",
                    format!("{external_field}: no {} with external id {name:?} in this book", E::NOUN),
                ));
            };
            if !out.contains(id) {
                out.push(*id);
            }
        }
    }
    Ok(out)
}

/// Marks rows as changed now (their relation lists changed), for `updatedSince`.
pub async fn touch<E: BookTable>(w: &BookWrite<'_>, ids: &[Uuid]) -> AppResult<()> {
    if ids.is_empty() {
        return Ok(());
    }
    E::update_many()
        .col_expr(E::col_updated(), Expr::value(w.now))
        .filter(E::col_id().is_in(ids.to_vec()))
        .exec(&w.txn)
        .await?;
    Ok(())
}

/// Filters shared by the three lists.
#[derive(Debug, Clone, Default)]
pub struct Common {
    pub external_id: Option<ExternalId>,
    pub updated_since: Option<DateTime<Utc>>,
}

impl Common {
    fn apply<E: BookTable>(&self, mut q: sea_orm::Select<E>, book: Book) -> sea_orm::Select<E> {
        q = q.filter(E::col_book().eq(book.id()));
        if let Some(ext) = &self.external_id {
            q = q.filter(E::col_external().eq(ext.as_str()));
        }
        if let Some(since) = self.updated_since {
            q = q.filter(E::col_updated().gte(since));
        }
        q
    }
}

/// `column LIKE pattern ESCAPE '\'` for a pattern from `domain::crm::search_pattern`.
fn like(column: impl ColumnTrait, pattern: &str) -> SimpleExpr {
    Expr::col(column).like(LikeExpr::new(pattern).escape('\\'))
}

/// Checks that a row named as a list filter (`companyId`, `contactId`) is in the book listed.
async fn in_book<E: BookTable, C: ConnectionTrait>(db: &C, book: Book, id: Uuid) -> AppResult<()> {
    E::find()
        .select_only()
        .column(E::col_id())
        .filter(E::col_book().eq(book.id()))
        .filter(E::col_id().eq(id))
        .into_tuple::<Uuid>()
        .one(db)
        .await?
        .map(|_| ())
        .ok_or(AppError::NotFound)
}

/// An optional field after a patch.
pub(crate) fn patched<T>(patch: Patch<T>, current: Option<String>, f: impl FnOnce(T) -> String) -> Option<String> {
    match patch {
        Patch::Keep => current,
        Patch::Clear => None,
        Patch::Set(v) => Some(f(v)),
    }
}

/// A field a new row cannot do without.
pub(crate) fn required(field: &str, noun: &str) -> AppError {
    AppError::bad_input(field, "REQUIRED", format!("{field}: required to create a {noun}"))
}
