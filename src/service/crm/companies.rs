//! The companies of a CRM book: list, upsert (one or a batch), delete.

use entity::crm_company::{ActiveModel, Column, Entity, Model};
use entity::{crm_contact, crm_deal};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use super::{
    BookWrite, Common, Locator, Refs, UpsertKind, Upserted, like, links, locate, next_external_id, on_taken, patched,
    required, resolve, touch, writable,
};
use crate::auth::{Book, Scope};
use crate::domain::crm::search_text;
use crate::domain::{Inn, Kpp};
use crate::error::AppResult;
use crate::service::ServiceCtx;
use crate::service::subscribers::Patch;
use crate::service::{Page, PageArgs, new_id, paginate};

/// The fields an upsert changes; `None`/`Keep` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct CompanyPatch {
    pub name: Option<String>,
    pub inn: Patch<Inn>,
    pub kpp: Patch<Kpp>,
    /// The registered client this company is: a client in the caller's reach.
    pub client: Patch<Uuid>,
    /// When given, the company's contacts (replacing the set).
    pub contacts: Option<Refs>,
}

#[derive(Debug, Clone, Default)]
pub struct CompanyUpsert {
    pub locator: Locator,
    pub patch: CompanyPatch,
}

/// `companies` filters: a folded `%part%` pattern and the common ones.
#[derive(Debug, Clone, Default)]
pub struct CompanyFilter {
    pub search: Option<String>,
    pub common: Common,
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn list(ctx: &ServiceCtx, book: Book, f: CompanyFilter, page: PageArgs) -> AppResult<Page<Model>> {
    let mut q = f.common.apply(Entity::find(), book);
    if let Some(p) = &f.search {
        q = q.filter(like(Column::SearchText, p));
    }
    paginate(&ctx.db, q, Column::Id, page).await
}

/// One company the caller reaches.
#[tracing::instrument(level = "debug", skip_all, fields(caller = %scope.subscriber_id, id = %id))]
pub async fn get(ctx: &ServiceCtx, scope: Scope<'_>, id: Uuid) -> AppResult<Model> {
    super::get::<Entity, _>(&ctx.db, scope, id).await
}

/// Upserts of companies: `crm::upsert_one::<Companies>` and `crm::upsert_batch::<Companies>`.
pub struct Companies;

impl UpsertKind for Companies {
    type Input = CompanyUpsert;
    type Model = Model;
    fn upsert_in(
        w: &BookWrite<'_>,
        input: CompanyUpsert,
    ) -> impl std::future::Future<Output = AppResult<Upserted<Model>>> + Send {
        upsert_in(w, input)
    }
}

async fn upsert_in(w: &BookWrite<'_>, input: CompanyUpsert) -> AppResult<Upserted<Model>> {
    let old = locate::<Entity>(w, &input.locator).await?;
    let ext = next_external_id::<Entity>(
        w,
        &input.locator,
        old.as_ref().map(|m| m.id),
        old.as_ref().and_then(|m| m.external_id.clone()),
    )
    .await?;
    let p = input.patch;
    let created = old.is_none();
    let mut next = match &old {
        Some(m) => m.clone(),
        None => Model {
            id: new_id(),
            book_id: w.book.id(),
            external_id: None,
            name: p.name.clone().ok_or_else(|| required("name", "company"))?,
            inn: None,
            kpp: None,
            client_id: None,
            search_text: String::new(),
            created_at: w.now,
            updated_at: w.now,
        },
    };
    next.external_id = ext;
    if let Some(name) = p.name {
        next.name = name;
    }
    next.inn = patched(p.inn, next.inn, Inn::into_string);
    next.kpp = patched(p.kpp, next.kpp, Kpp::into_string);
    next.client_id = match p.client {
        Patch::Keep => next.client_id,
        Patch::Clear => None,
        // A client the company already names stays named (a CRM re-sending it is no change); a new one
        // must be in the caller's reach.
        Patch::Set(id) if next.client_id == Some(id) => Some(id),
        Patch::Set(id) => Some(w.scope.client(&w.txn, id).await?.id),
    };
    next.search_text = search_text([Some(next.name.as_str()), next.inn.as_deref()]);
    if created {
        ActiveModel::from(next.clone()).reset_all().insert(&w.txn).await.map_err(on_taken)?;
    }
    let mut links_changed = false;
    if let Some(refs) = &p.contacts {
        let ids = resolve::<crm_contact::Entity>(w, refs, "contactExternalIds").await?;
        let changed = links::set_contacts_of_company(w, next.id, &ids).await?;
        touch::<crm_contact::Entity>(w, &changed).await?;
        links_changed = !changed.is_empty();
    }
    if !created && (old.as_ref() != Some(&next) || links_changed) {
        next.updated_at = w.now;
        ActiveModel::from(next.clone()).reset_all().update(&w.txn).await.map_err(on_taken)?;
    }
    Ok(Upserted { row: next, created })
}

/// Deletes a company and its contact links; its deals stay, without a company (their contacts stay
/// on them). Deals and contacts that lose it are marked as changed.
#[tracing::instrument(level = "debug", skip_all, fields(caller = %scope.subscriber_id, id = %id))]
pub async fn delete(ctx: &ServiceCtx, scope: Scope<'_>, id: Uuid) -> AppResult<Uuid> {
    let w = BookWrite::begin(ctx, scope).await?;
    writable::<Entity>(&w, id).await?;
    let deals: Vec<Uuid> = crm_deal::Entity::find()
        .select_only()
        .column(crm_deal::Column::Id)
        .filter(crm_deal::Column::CompanyId.eq(id))
        .into_tuple()
        .all(&w.txn)
        .await?;
    let contacts = links::contacts_of_company(&w, id).await?;
    touch::<crm_deal::Entity>(&w, &deals).await?;
    touch::<crm_contact::Entity>(&w, &contacts).await?;
    Entity::delete_by_id(id).exec(&w.txn).await?;
    w.commit().await?;
    Ok(id)
}
