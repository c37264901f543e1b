//! CRM books (docs/rules.md §10): `contacts`, `companies`, `deals`, `contact`, `company`, `deal`, the upserts
//! (one row or a batch of up to 100), `addDealContact`, `removeDealContact` and the deletes.

pub mod inputs;
pub mod loaders;
pub mod types;

use async_graphql::{Context, ErrorExtensions, ID, Object};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use self::inputs::{CompanyInput, ContactInput, DealInput};
use self::types::{Company, CompanyUpsert, Contact, ContactUpsert, Deal, DealUpsert};
use super::context::{Conn, GqlResult, audit_target, connection, page_args, resource_id, scope, state};
use crate::auth::Scope;
use crate::domain::crm::{ExternalId, search_pattern};
use crate::error::{AppError, AppResult};
use crate::graphql::enums::DealStage;
use crate::service::crm::companies::{self, CompanyFilter};
use crate::service::crm::contacts::{self, ContactFilter};
use crate::service::crm::deals::{self, DealFilter};
use crate::service::crm::{self, BATCH_MAX, BatchError, Common, check_batch_size};

/// A batch failure as a GraphQL error: the item's error with `extensions.index` (0-based).
fn batch_error(e: BatchError) -> async_graphql::Error {
    let mut err = e.error.extend();
    if let Some(i) = e.index {
        err.message = format!("inputs[{i}]: {}", err.message);
        err = err.extend_with(|_, ext| ext.set("index", i as u64));
    }
    err
}

/// Parses a batch's inputs, naming the first bad one by its index.
fn parse_all<I, O>(inputs: Vec<I>, parse: impl Fn(I) -> AppResult<O>) -> Result<Vec<O>, BatchError> {
    check_batch_size(inputs.len())?;
    inputs
        .into_iter()
        .enumerate()
        .map(|(i, input)| parse(input).map_err(|error| BatchError { index: Some(i), error }))
        .collect()
}

fn common(external_id: Option<String>, updated_since: Option<DateTime<Utc>>) -> AppResult<Common> {
    let external_id = external_id.map(|e| ExternalId::parse(&e).map_err(AppError::input("externalId"))).transpose()?;
    Ok(Common { external_id, updated_since })
}

fn search(raw: Option<String>) -> AppResult<Option<String>> {
    Ok(raw.map(|s| search_pattern(&s).map_err(AppError::input("search"))).transpose()?.flatten())
}

fn id_of(id: Option<ID>) -> AppResult<Option<Uuid>> {
    id.as_ref().map(resource_id).transpose()
}

/// The book a list reads: checked first, so a caller without a book hears `FORBIDDEN` whatever else it
/// sent.
async fn book(ctx: &Context<'_>, p: Scope<'_>, book_id: Option<ID>) -> AppResult<crate::auth::Book> {
    p.book(&state(ctx).db, id_of(book_id)?).await
}

fn gql_id(u: Uuid) -> ID {
    ID(u.to_string())
}

#[derive(Default)]
pub struct CrmQuery;

#[Object]
impl CrmQuery {
    /// Contacts of a CRM book: the caller's own, or (for the vendor) the partner's `bookId`. `search`
    /// matches part of the name or e-mail, in any case, Cyrillic too (`ё` reads as `е`); `updatedSince`
    /// keeps the rows created or changed at or after that time (for syncing).
    #[allow(clippy::too_many_arguments)]
    #[graphql(complexity = "first.unwrap_or(20).max(0) as usize * child_complexity")]
    async fn contacts(
        &self,
        ctx: &Context<'_>,
        book_id: Option<ID>,
        search: Option<String>,
        company_id: Option<ID>,
        external_id: Option<String>,
        updated_since: Option<DateTime<Utc>>,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<Conn<Contact>> {
        let p = scope(ctx)?;
        let book = book(ctx, p, book_id).await?;
        let args = page_args(ctx, first, after)?;
        let f = ContactFilter {
            search: self::search(search)?,
            company: id_of(company_id)?,
            common: common(external_id, updated_since)?,
        };
        let page = contacts::list(state(ctx), book, f, args).await?;
        loaders::prime_contacts(ctx, &page.items).await?;
        Ok(connection(page, args.after.is_some(), |m| m.id, Contact))
    }

    /// Companies of a CRM book (see `contacts`); `search` matches part of the name or the INN.
    #[allow(clippy::too_many_arguments)]
    #[graphql(complexity = "first.unwrap_or(20).max(0) as usize * child_complexity")]
    async fn companies(
        &self,
        ctx: &Context<'_>,
        book_id: Option<ID>,
        search: Option<String>,
        external_id: Option<String>,
        updated_since: Option<DateTime<Utc>>,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<Conn<Company>> {
        let p = scope(ctx)?;
        let book = book(ctx, p, book_id).await?;
        let args = page_args(ctx, first, after)?;
        let f = CompanyFilter { search: self::search(search)?, common: common(external_id, updated_since)? };
        let page = companies::list(state(ctx), book, f, args).await?;
        loaders::prime_companies(ctx, &page.items).await?;
        Ok(connection(page, args.after.is_some(), |m| m.id, Company))
    }

    /// Deals of a CRM book (see `contacts`), by stage, company and contact.
    #[allow(clippy::too_many_arguments)]
    #[graphql(complexity = "first.unwrap_or(20).max(0) as usize * child_complexity")]
    async fn deals(
        &self,
        ctx: &Context<'_>,
        book_id: Option<ID>,
        stage: Option<DealStage>,
        company_id: Option<ID>,
        contact_id: Option<ID>,
        external_id: Option<String>,
        updated_since: Option<DateTime<Utc>>,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<Conn<Deal>> {
        let p = scope(ctx)?;
        let book = book(ctx, p, book_id).await?;
        let args = page_args(ctx, first, after)?;
        let f = DealFilter {
            stage: stage.map(Into::into),
            company: id_of(company_id)?,
            contact: id_of(contact_id)?,
            common: common(external_id, updated_since)?,
        };
        let page = deals::list(state(ctx), book, f, args).await?;
        loaders::prime_deals(ctx, &page.items).await?;
        Ok(connection(page, args.after.is_some(), |m| m.id, Deal))
    }

    /// One contact of a book the caller reads; `NOT_FOUND` for anything else.
    async fn contact(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Contact> {
        let p = scope(ctx)?;
        Ok(Contact(contacts::get(state(ctx), p, resource_id(&id)?).await?))
    }

    /// One company of a book the caller reads; `NOT_FOUND` for anything else.
    async fn company(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Company> {
        let p = scope(ctx)?;
        Ok(Company(companies::get(state(ctx), p, resource_id(&id)?).await?))
    }

    /// One deal of a book the caller reads; `NOT_FOUND` for anything else.
    async fn deal(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Deal> {
        let p = scope(ctx)?;
        Ok(Deal(deals::get(state(ctx), p, resource_id(&id)?).await?))
    }
}

#[derive(Default)]
pub struct CrmMutation;

#[Object]
impl CrmMutation {
    /// Creates or updates a contact of the caller's book (by `id`, else `externalId`, else new).
    async fn upsert_contact(&self, ctx: &Context<'_>, input: ContactInput) -> GqlResult<ContactUpsert> {
        let p = scope(ctx)?;
        p.writable_book()?;
        let r = crm::upsert_one::<contacts::Contacts>(state(ctx), p, input.parse()?).await?;
        loaders::forget(ctx);
        audit_target(ctx, r.row.id);
        Ok(ContactUpsert { contact: Contact(r.row), created: r.created })
    }

    /// Creates or updates a company of the caller's book (by `id`, else `externalId`, else new).
    async fn upsert_company(&self, ctx: &Context<'_>, input: CompanyInput) -> GqlResult<CompanyUpsert> {
        let p = scope(ctx)?;
        p.writable_book()?;
        let r = crm::upsert_one::<companies::Companies>(state(ctx), p, input.parse()?).await?;
        loaders::forget(ctx);
        audit_target(ctx, r.row.id);
        Ok(CompanyUpsert { company: Company(r.row), created: r.created })
    }

    /// Creates or updates a deal of the caller's book (by `id`, else `externalId`, else new).
    async fn upsert_deal(&self, ctx: &Context<'_>, input: DealInput) -> GqlResult<DealUpsert> {
        let p = scope(ctx)?;
        p.writable_book()?;
        let r = crm::upsert_one::<deals::Deals>(state(ctx), p, input.parse()?).await?;
        loaders::forget(ctx);
        audit_target(ctx, r.row.id);
        Ok(DealUpsert { deal: Deal(r.row), created: r.created })
    }

    /// Upserts up to 100 contacts, all or nothing, answering in input order; a failing item's error
    /// carries `extensions.index`. Its answer counts as 100 rows in a query's complexity.
    #[graphql(complexity = "BATCH_MAX * child_complexity")]
    async fn upsert_contacts(&self, ctx: &Context<'_>, inputs: Vec<ContactInput>) -> GqlResult<Vec<ContactUpsert>> {
        let p = scope(ctx)?;
        let book = p.writable_book()?;
        let inputs = parse_all(inputs, ContactInput::parse).map_err(batch_error)?;
        let rows = crm::upsert_batch::<contacts::Contacts>(state(ctx), p, inputs).await.map_err(batch_error)?;
        loaders::forget(ctx);
        audit_target(ctx, book.id());
        Ok(rows.into_iter().map(|r| ContactUpsert { contact: Contact(r.row), created: r.created }).collect())
    }

    /// Upserts up to 100 companies, all or nothing (see `upsertContacts`).
    #[graphql(complexity = "BATCH_MAX * child_complexity")]
    async fn upsert_companies(&self, ctx: &Context<'_>, inputs: Vec<CompanyInput>) -> GqlResult<Vec<CompanyUpsert>> {
        let p = scope(ctx)?;
        let book = p.writable_book()?;
        let inputs = parse_all(inputs, CompanyInput::parse).map_err(batch_error)?;
        let rows = crm::upsert_batch::<companies::Companies>(state(ctx), p, inputs).await.map_err(batch_error)?;
        loaders::forget(ctx);
        audit_target(ctx, book.id());
        Ok(rows.into_iter().map(|r| CompanyUpsert { company: Company(r.row), created: r.created }).collect())
    }

    /// Upserts up to 100 deals, all or nothing (see `upsertContacts`).
    #[graphql(complexity = "BATCH_MAX * child_complexity")]
    async fn upsert_deals(&self, ctx: &Context<'_>, inputs: Vec<DealInput>) -> GqlResult<Vec<DealUpsert>> {
        let p = scope(ctx)?;
        let book = p.writable_book()?;
        let inputs = parse_all(inputs, DealInput::parse).map_err(batch_error)?;
        let rows = crm::upsert_batch::<deals::Deals>(state(ctx), p, inputs).await.map_err(batch_error)?;
        loaders::forget(ctx);
        audit_target(ctx, book.id());
        Ok(rows.into_iter().map(|r| DealUpsert { deal: Deal(r.row), created: r.created }).collect())
    }

    /// Puts a contact of the book on a deal (nothing changes if it is on it already).
    async fn add_deal_contact(&self, ctx: &Context<'_>, deal_id: ID, contact_id: ID) -> GqlResult<Deal> {
        let p = scope(ctx)?;
        p.writable_book()?;
        let d = deals::add_contact(state(ctx), p, resource_id(&deal_id)?, resource_id(&contact_id)?).await?;
        loaders::forget(ctx);
        audit_target(ctx, d.id);
        Ok(Deal(d))
    }

    /// Takes a contact off a deal; the contact stays in the book.
    async fn remove_deal_contact(&self, ctx: &Context<'_>, deal_id: ID, contact_id: ID) -> GqlResult<Deal> {
        let p = scope(ctx)?;
        p.writable_book()?;
        let d = deals::remove_contact(state(ctx), p, resource_id(&deal_id)?, resource_id(&contact_id)?).await?;
        loaders::forget(ctx);
        audit_target(ctx, d.id);
        Ok(Deal(d))
    }

    /// Deletes a contact and its links; its companies and deals stay.
    async fn delete_contact(&self, ctx: &Context<'_>, id: ID) -> GqlResult<ID> {
        let p = scope(ctx)?;
        p.writable_book()?;
        let id = contacts::delete(state(ctx), p, resource_id(&id)?).await?;
        loaders::forget(ctx);
        audit_target(ctx, id);
        Ok(gql_id(id))
    }

    /// Deletes a company and its contact links; its deals stay, without a company.
    async fn delete_company(&self, ctx: &Context<'_>, id: ID) -> GqlResult<ID> {
        let p = scope(ctx)?;
        p.writable_book()?;
        let id = companies::delete(state(ctx), p, resource_id(&id)?).await?;
        loaders::forget(ctx);
        audit_target(ctx, id);
        Ok(gql_id(id))
    }

    /// Deletes a deal and its contact links; its company and contacts stay.
    async fn delete_deal(&self, ctx: &Context<'_>, id: ID) -> GqlResult<ID> {
        let p = scope(ctx)?;
        p.writable_book()?;
        let id = deals::delete(state(ctx), p, resource_id(&id)?).await?;
        loaders::forget(ctx);
        audit_target(ctx, id);
        Ok(gql_id(id))
    }
}
