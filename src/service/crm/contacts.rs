//! The contacts of a CRM book: list, upsert (one or a batch), delete.

use entity::crm_contact::{self, ActiveModel, Column, Entity, Model};
use entity::{crm_company, crm_contact_company, crm_deal};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QuerySelect, QueryTrait};
use uuid::Uuid;

use super::{
    BookWrite, Common, Locator, Refs, UpsertKind, Upserted, in_book, like, links, locate, next_external_id, on_taken,
    patched, required, resolve, touch, writable,
};
use crate::auth::{Book, Scope};
use crate::domain::Email;
use crate::domain::crm::search_text;
use crate::error::AppResult;
use crate::service::ServiceCtx;
use crate::service::subscribers::Patch;
use crate::service::{Page, PageArgs, new_id, paginate};

/// The fields an upsert changes; `None`/`Keep` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ContactPatch {
    pub name: Option<String>,
    pub email: Patch<Email>,
    pub phone: Patch<String>,
    pub position: Patch<String>,
    pub comment: Patch<String>,
    /// When given, the companies the contact belongs to (replacing the set).
    pub companies: Option<Refs>,
}

#[derive(Debug, Clone, Default)]
pub struct ContactUpsert {
    pub locator: Locator,
    pub patch: ContactPatch,
}

/// `contacts` filters: a folded `%part%` pattern, a company, and the common ones.
#[derive(Debug, Clone, Default)]
pub struct ContactFilter {
    pub search: Option<String>,
    pub company: Option<Uuid>,
    pub common: Common,
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn list(ctx: &ServiceCtx, book: Book, f: ContactFilter, page: PageArgs) -> AppResult<Page<Model>> {
    let mut q = f.common.apply(Entity::find(), book);
    if let Some(p) = &f.search {
        q = q.filter(like(Column::SearchText, p));
    }
    if let Some(company) = f.company {
        in_book::<crm_company::Entity, _>(&ctx.db, book, company).await?;
        let members = crm_contact_company::Entity::find()
            .select_only()
            .column(crm_contact_company::Column::ContactId)
            .filter(crm_contact_company::Column::CompanyId.eq(company))
            .into_query();
        q = q.filter(Column::Id.in_subquery(members));
    }
    paginate(&ctx.db, q, Column::Id, page).await
}

/// One contact the caller reaches.
#[tracing::instrument(level = "debug", skip_all, fields(caller = %scope.subscriber_id, id = %id))]
pub async fn get(ctx: &ServiceCtx, scope: Scope<'_>, id: Uuid) -> AppResult<Model> {
    super::get::<Entity, _>(&ctx.db, scope, id).await
}

/// Upserts of contacts: `crm::upsert_one::<Contacts>` and `crm::upsert_batch::<Contacts>`.
pub struct Contacts;

impl UpsertKind for Contacts {
    type Input = ContactUpsert;
    type Model = Model;
    fn upsert_in(
        w: &BookWrite<'_>,
        input: ContactUpsert,
    ) -> impl std::future::Future<Output = AppResult<Upserted<Model>>> + Send {
        upsert_in(w, input)
    }
}

async fn upsert_in(w: &BookWrite<'_>, input: ContactUpsert) -> AppResult<Upserted<Model>> {
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
            name: p.name.clone().ok_or_else(|| required("name", "contact"))?,
            email: None,
            phone: None,
            position: None,
            comment: None,
            search_text: String::new(),
            created_at: w.now,
            updated_at: w.now,
        },
    };
    next.external_id = ext;
    if let Some(name) = p.name {
        next.name = name;
    }
    next.email = patched(p.email, next.email, Email::into_string);
    next.phone = patched(p.phone, next.phone, |v| v);
    next.position = patched(p.position, next.position, |v| v);
    next.comment = patched(p.comment, next.comment, |v| v);
    next.search_text = search_text([Some(next.name.as_str()), next.email.as_deref()]);
    if created {
        ActiveModel::from(next.clone()).reset_all().insert(&w.txn).await.map_err(on_taken)?;
    }
    let mut links_changed = false;
    if let Some(refs) = &p.companies {
        let ids = resolve::<crm_company::Entity>(w, refs, "companyExternalIds").await?;
        let changed = links::set_companies_of_contact(w, next.id, &ids).await?;
        touch::<crm_company::Entity>(w, &changed).await?;
        links_changed = !changed.is_empty();
    }
    if !created && (old.as_ref() != Some(&next) || links_changed) {
        next.updated_at = w.now;
        ActiveModel::from(next.clone()).reset_all().update(&w.txn).await.map_err(on_taken)?;
    }
    Ok(Upserted { row: next, created })
}

/// Deletes a contact and its links (its companies and deals stay, marked as changed).
#[tracing::instrument(level = "debug", skip_all, fields(caller = %scope.subscriber_id, id = %id))]
pub async fn delete(ctx: &ServiceCtx, scope: Scope<'_>, id: Uuid) -> AppResult<Uuid> {
    let w = BookWrite::begin(ctx, scope).await?;
    writable::<Entity>(&w, id).await?;
    let (companies, deals) = links::of_contact(&w, id).await?;
    touch::<crm_company::Entity>(&w, &companies).await?;
    touch::<crm_deal::Entity>(&w, &deals).await?;
    crm_contact::Entity::delete_by_id(id).exec(&w.txn).await?;
    w.commit().await?;
    Ok(id)
}
