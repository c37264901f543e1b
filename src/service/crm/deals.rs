//! The deals of a CRM book: list, upsert (one or a batch), contacts on and off, delete.
//!
//! Setting a deal's company adds the contacts that company has at that moment (contacts already on the
//! deal stay); a contact list in the same input is applied after that and replaces the set. Taking the
//! company off (`null`) leaves the contacts. The company counts as set when it changes: re-sending the
//! company a deal already has does not put back contacts someone took off the deal.

use entity::crm_deal::{ActiveModel, Column, Entity, Model};
use entity::{crm_company, crm_contact, crm_deal_contact};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QuerySelect, QueryTrait};
use uuid::Uuid;

use super::{
    BookWrite, Common, Locator, Refs, UpsertKind, Upserted, by_external, in_book, links, locate, next_external_id,
    on_taken, required, resolve, touch, writable,
};
use crate::auth::{Book, Scope};
use crate::domain::crm::{DealStage, ExternalId, closed_at};
use crate::error::{AppError, AppResult};
use crate::service::ServiceCtx;
use crate::service::subscribers::Patch;
use crate::service::{Page, PageArgs, new_id, paginate};

/// A company named by our id or by its external id.
#[derive(Debug, Clone)]
pub enum CompanyRef {
    Id(Uuid),
    External(ExternalId),
}

/// The fields an upsert changes; `None`/`Keep` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct DealPatch {
    pub title: Option<String>,
    pub stage: Option<DealStage>,
    /// Minor units.
    pub amount: Patch<i64>,
    pub company: Patch<CompanyRef>,
    /// When given, the deal's contacts (replacing the set, after the company's were added).
    pub contacts: Option<Refs>,
}

#[derive(Debug, Clone, Default)]
pub struct DealUpsert {
    pub locator: Locator,
    pub patch: DealPatch,
}

/// `deals` filters.
#[derive(Debug, Clone, Default)]
pub struct DealFilter {
    pub stage: Option<DealStage>,
    pub company: Option<Uuid>,
    pub contact: Option<Uuid>,
    pub common: Common,
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn list(ctx: &ServiceCtx, book: Book, f: DealFilter, page: PageArgs) -> AppResult<Page<Model>> {
    let mut q = f.common.apply(Entity::find(), book);
    if let Some(stage) = f.stage {
        q = q.filter(Column::Stage.eq(stage));
    }
    if let Some(company) = f.company {
        in_book::<crm_company::Entity, _>(&ctx.db, book, company).await?;
        q = q.filter(Column::CompanyId.eq(company));
    }
    if let Some(contact) = f.contact {
        in_book::<crm_contact::Entity, _>(&ctx.db, book, contact).await?;
        let on = crm_deal_contact::Entity::find()
            .select_only()
            .column(crm_deal_contact::Column::DealId)
            .filter(crm_deal_contact::Column::ContactId.eq(contact))
            .into_query();
        q = q.filter(Column::Id.in_subquery(on));
    }
    paginate(&ctx.db, q, Column::Id, page).await
}

/// One deal the caller reaches.
#[tracing::instrument(level = "debug", skip_all, fields(caller = %scope.subscriber_id, id = %id))]
pub async fn get(ctx: &ServiceCtx, scope: Scope<'_>, id: Uuid) -> AppResult<Model> {
    super::get::<Entity, _>(&ctx.db, scope, id).await
}

/// Upserts of deals: `crm::upsert_one::<Deals>` and `crm::upsert_batch::<Deals>`.
pub struct Deals;

impl UpsertKind for Deals {
    type Input = DealUpsert;
    type Model = Model;
    fn upsert_in(
        w: &BookWrite<'_>,
        input: DealUpsert,
    ) -> impl std::future::Future<Output = AppResult<Upserted<Model>>> + Send {
        upsert_in(w, input)
    }
}

/// The company a reference names, in the written book.
async fn company_of(w: &BookWrite<'_>, r: &CompanyRef) -> AppResult<Uuid> {
    match r {
        CompanyRef::Id(id) => {
            in_book::<crm_company::Entity, _>(&w.txn, w.book, *id).await?;
            Ok(*id)
        }
        CompanyRef::External(ext) => {
            by_external::<crm_company::Entity, _>(&w.txn, w.book, ext).await?.map(|c| c.id).ok_or_else(|| {
                AppError::bad_input(
                    "companyExternalId",
                    "UNKNOWN_EXTERNAL_ID",
                    format!("companyExternalId: no company with external id {:?} in this book", ext.as_str()),
                )
            })
        }
    }
}

async fn upsert_in(w: &BookWrite<'_>, input: DealUpsert) -> AppResult<Upserted<Model>> {
    let old = locate::<Entity>(w, &input.locator).await?;
    let ext = next_external_id::<Entity>(
        w,
        &input.locator,
        old.as_ref().map(|m| m.id),
        old.as_ref().and_then(|m| m.external_id.clone()),
    )
    .await?;
    let p = input.patch;
    let company = match &p.company {
        Patch::Keep => None,
        Patch::Clear => Some(None),
        Patch::Set(r) => Some(Some(company_of(w, r).await?)),
    };
    let created = old.is_none();
    let mut next = match &old {
        Some(m) => m.clone(),
        None => Model {
            id: new_id(),
            book_id: w.book.id(),
            external_id: None,
            title: p.title.clone().ok_or_else(|| required("title", "deal"))?,
            stage: DealStage::New,
            amount_minor: None,
            company_id: None,
            created_at: w.now,
            updated_at: w.now,
            closed_at: None,
        },
    };
    next.external_id = ext;
    if let Some(title) = p.title {
        next.title = title;
    }
    let before = old.as_ref().map(|m| (m.stage, m.closed_at));
    let stage = p.stage.unwrap_or(next.stage);
    next.stage = stage;
    next.closed_at = closed_at(before, stage, w.now);
    next.amount_minor = match p.amount {
        Patch::Keep => next.amount_minor,
        Patch::Clear => None,
        Patch::Set(v) => Some(v),
    };
    let old_company = next.company_id;
    if let Some(c) = company {
        next.company_id = c;
    }
    if created {
        ActiveModel::from(next.clone()).reset_all().insert(&w.txn).await.map_err(on_taken)?;
    }
    let mut contacts_changed: Vec<Uuid> = Vec::new();
    if next.company_id != old_company {
        if let Some(c) = next.company_id {
            let theirs = links::contacts_of_company(w, c).await?;
            contacts_changed.extend(links::put_contacts_of_deal(w, next.id, &theirs, false).await?);
        }
        // Both companies' deal lists changed.
        let companies: Vec<Uuid> = [old_company, next.company_id].into_iter().flatten().collect();
        touch::<crm_company::Entity>(w, &companies).await?;
    }
    if let Some(refs) = &p.contacts {
        let ids = resolve::<crm_contact::Entity>(w, refs, "contactExternalIds").await?;
        contacts_changed.extend(links::put_contacts_of_deal(w, next.id, &ids, true).await?);
    }
    contacts_changed.sort();
    contacts_changed.dedup();
    touch::<crm_contact::Entity>(w, &contacts_changed).await?;
    if !created && (old.as_ref() != Some(&next) || !contacts_changed.is_empty()) {
        next.updated_at = w.now;
        ActiveModel::from(next.clone()).reset_all().update(&w.txn).await.map_err(on_taken)?;
    }
    Ok(Upserted { row: next, created })
}

/// Puts a contact of the book on a deal (no change if it is on it already).
#[tracing::instrument(level = "debug", skip_all, fields(caller = %scope.subscriber_id, deal = %deal, contact = %contact))]
pub async fn add_contact(ctx: &ServiceCtx, scope: Scope<'_>, deal: Uuid, contact: Uuid) -> AppResult<Model> {
    change_contact(ctx, scope, deal, contact, true).await
}

/// Takes a contact off a deal (no change if it is not on it); the contact stays in the book.
#[tracing::instrument(level = "debug", skip_all, fields(caller = %scope.subscriber_id, deal = %deal, contact = %contact))]
pub async fn remove_contact(ctx: &ServiceCtx, scope: Scope<'_>, deal: Uuid, contact: Uuid) -> AppResult<Model> {
    change_contact(ctx, scope, deal, contact, false).await
}

async fn change_contact(ctx: &ServiceCtx, scope: Scope<'_>, deal: Uuid, contact: Uuid, on: bool) -> AppResult<Model> {
    let w = BookWrite::begin(ctx, scope).await?;
    let mut d = writable::<Entity>(&w, deal).await?;
    writable::<crm_contact::Entity>(&w, contact).await?;
    let changed = if on {
        !links::put_contacts_of_deal(&w, deal, &[contact], false).await?.is_empty()
    } else {
        links::remove_contact_of_deal(&w, deal, contact).await?
    };
    if changed {
        touch::<Entity>(&w, &[deal]).await?;
        touch::<crm_contact::Entity>(&w, &[contact]).await?;
        d.updated_at = w.now;
    }
    w.commit().await?;
    Ok(d)
}

/// Deletes a deal and its contact links; its company and contacts stay, marked as changed.
#[tracing::instrument(level = "debug", skip_all, fields(caller = %scope.subscriber_id, id = %id))]
pub async fn delete(ctx: &ServiceCtx, scope: Scope<'_>, id: Uuid) -> AppResult<Uuid> {
    let w = BookWrite::begin(ctx, scope).await?;
    let d = writable::<Entity>(&w, id).await?;
    let contacts = links::contacts_of_deal(&w, id).await?;
    touch::<crm_contact::Entity>(&w, &contacts).await?;
    touch::<crm_company::Entity>(&w, &d.company_id.into_iter().collect::<Vec<_>>()).await?;
    Entity::delete_by_id(id).exec(&w.txn).await?;
    w.commit().await?;
    Ok(id)
}
