//! The CRM's relation fields load through the request's loader, one query per level: the links of a
//! whole page come in one join, whatever the page size. Links only ever join rows of one book (the
//! link tables' foreign keys are on `(book_id, id)`), so a relation cannot lead into another book.

use std::collections::HashMap;

use async_graphql::Context;
use async_graphql::dataloader::Loader;
use entity::{crm_company, crm_contact, crm_contact_company as cc, crm_deal, crm_deal_contact as dc, stop_list_entry};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use crate::error::AppError;
use crate::graphql::loaders::{DbLoader, LoadError, SubscriberId, failed, grouped, loaders, wants};

/// A company by id (`Deal.company`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CompanyId(pub Uuid);
/// The companies a contact belongs to.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CompaniesOfContact(pub Uuid);
/// The deals a contact is on.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct DealsOfContact(pub Uuid);
/// The contacts of a company.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ContactsOfCompany(pub Uuid);
/// The deals of a company.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct DealsOfCompany(pub Uuid);
/// The contacts on a deal.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ContactsOfDeal(pub Uuid);
/// A partner's latest stop-list entry for an INN (`Company.protection`).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ProtectionOf {
    pub partner: Uuid,
    pub inn: String,
}

impl Loader<CompanyId> for DbLoader {
    type Value = crm_company::Model;
    type Error = LoadError;
    async fn load(&self, keys: &[CompanyId]) -> Result<HashMap<CompanyId, Self::Value>, Self::Error> {
        let rows = crm_company::Entity::find()
            .filter(crm_company::Column::Id.is_in(keys.iter().map(|k| k.0)))
            .all(&self.db)
            .await
            .map_err(failed)?;
        Ok(rows.into_iter().map(|r| (CompanyId(r.id), r)).collect())
    }
}

impl Loader<CompaniesOfContact> for DbLoader {
    type Value = Vec<crm_company::Model>;
    type Error = LoadError;
    async fn load(&self, keys: &[CompaniesOfContact]) -> Result<HashMap<CompaniesOfContact, Self::Value>, Self::Error> {
        let rows = cc::Entity::find()
            .filter(cc::Column::ContactId.is_in(keys.iter().map(|k| k.0)))
            .find_also_related(crm_company::Entity)
            .order_by_asc(crm_company::Column::Id)
            .all(&self.db)
            .await
            .map_err(failed)?;
        Ok(grouped(keys, rows.into_iter().filter_map(|(l, c)| Some((CompaniesOfContact(l.contact_id), c?)))))
    }
}

impl Loader<ContactsOfCompany> for DbLoader {
    type Value = Vec<crm_contact::Model>;
    type Error = LoadError;
    async fn load(&self, keys: &[ContactsOfCompany]) -> Result<HashMap<ContactsOfCompany, Self::Value>, Self::Error> {
        let rows = cc::Entity::find()
            .filter(cc::Column::CompanyId.is_in(keys.iter().map(|k| k.0)))
            .find_also_related(crm_contact::Entity)
            .order_by_asc(crm_contact::Column::Id)
            .all(&self.db)
            .await
            .map_err(failed)?;
        Ok(grouped(keys, rows.into_iter().filter_map(|(l, c)| Some((ContactsOfCompany(l.company_id), c?)))))
    }
}

impl Loader<DealsOfContact> for DbLoader {
    type Value = Vec<crm_deal::Model>;
    type Error = LoadError;
    async fn load(&self, keys: &[DealsOfContact]) -> Result<HashMap<DealsOfContact, Self::Value>, Self::Error> {
        let rows = dc::Entity::find()
            .filter(dc::Column::ContactId.is_in(keys.iter().map(|k| k.0)))
            .find_also_related(crm_deal::Entity)
            .order_by_asc(crm_deal::Column::Id)
            .all(&self.db)
            .await
            .map_err(failed)?;
        Ok(grouped(keys, rows.into_iter().filter_map(|(l, d)| Some((DealsOfContact(l.contact_id), d?)))))
    }
}

impl Loader<ContactsOfDeal> for DbLoader {
    type Value = Vec<crm_contact::Model>;
    type Error = LoadError;
    async fn load(&self, keys: &[ContactsOfDeal]) -> Result<HashMap<ContactsOfDeal, Self::Value>, Self::Error> {
        let rows = dc::Entity::find()
            .filter(dc::Column::DealId.is_in(keys.iter().map(|k| k.0)))
            .find_also_related(crm_contact::Entity)
            .order_by_asc(crm_contact::Column::Id)
            .all(&self.db)
            .await
            .map_err(failed)?;
        Ok(grouped(keys, rows.into_iter().filter_map(|(l, c)| Some((ContactsOfDeal(l.deal_id), c?)))))
    }
}

impl Loader<DealsOfCompany> for DbLoader {
    type Value = Vec<crm_deal::Model>;
    type Error = LoadError;
    async fn load(&self, keys: &[DealsOfCompany]) -> Result<HashMap<DealsOfCompany, Self::Value>, Self::Error> {
        let rows = crm_deal::Entity::find()
            .filter(crm_deal::Column::CompanyId.is_in(keys.iter().map(|k| k.0)))
            .order_by_asc(crm_deal::Column::Id)
            .all(&self.db)
            .await
            .map_err(failed)?;
        Ok(grouped(keys, rows.into_iter().filter_map(|d| Some((DealsOfCompany(d.company_id?), d)))))
    }
}

impl Loader<ProtectionOf> for DbLoader {
    type Value = stop_list_entry::Model;
    type Error = LoadError;
    async fn load(&self, keys: &[ProtectionOf]) -> Result<HashMap<ProtectionOf, Self::Value>, Self::Error> {
        let partners: Vec<Uuid> = keys.iter().map(|k| k.partner).collect();
        let inns: Vec<&str> = keys.iter().map(|k| k.inn.as_str()).collect();
        // Latest first: the first row seen for a key is its answer.
        let rows = stop_list_entry::Entity::find()
            .filter(stop_list_entry::Column::PartnerId.is_in(partners))
            .filter(stop_list_entry::Column::Inn.is_in(inns))
            .order_by_desc(stop_list_entry::Column::RequestedAt)
            .order_by_desc(stop_list_entry::Column::Id)
            .all(&self.db)
            .await
            .map_err(failed)?;
        let mut out = HashMap::new();
        for r in rows {
            let key = ProtectionOf { partner: r.partner_id, inn: r.inn.clone() };
            if keys.contains(&key) {
                out.entry(key).or_insert(r);
            }
        }
        Ok(out)
    }
}

fn err(e: LoadError) -> AppError {
    AppError::Internal(Box::new(e))
}

/// Loads, for a page of contacts, the relations the selection asks for, one batch each, before the
/// nodes resolve (so the statement count does not depend on the page size or on timing).
pub async fn prime_contacts(ctx: &Context<'_>, page: &[crm_contact::Model]) -> Result<(), AppError> {
    let l = loaders(ctx)?;
    if wants(ctx, &["companies"]) {
        l.load_many(page.iter().map(|c| CompaniesOfContact(c.id))).await.map_err(err)?;
    }
    if wants(ctx, &["deals"]) {
        l.load_many(page.iter().map(|c| DealsOfContact(c.id))).await.map_err(err)?;
    }
    Ok(())
}

/// As [`prime_contacts`], for a page of companies.
pub async fn prime_companies(ctx: &Context<'_>, page: &[crm_company::Model]) -> Result<(), AppError> {
    let l = loaders(ctx)?;
    if wants(ctx, &["contacts"]) {
        l.load_many(page.iter().map(|c| ContactsOfCompany(c.id))).await.map_err(err)?;
    }
    if wants(ctx, &["deals"]) {
        l.load_many(page.iter().map(|c| DealsOfCompany(c.id))).await.map_err(err)?;
    }
    if wants(ctx, &["client"]) {
        l.load_many(page.iter().filter_map(|c| c.client_id.map(SubscriberId))).await.map_err(err)?;
    }
    if wants(ctx, &["protection"]) {
        let keys = page.iter().filter_map(|c| Some(ProtectionOf { partner: c.book_id, inn: c.inn.clone()? }));
        l.load_many(keys).await.map_err(err)?;
    }
    Ok(())
}

/// As [`prime_contacts`], for a page of deals.
pub async fn prime_deals(ctx: &Context<'_>, page: &[crm_deal::Model]) -> Result<(), AppError> {
    let l = loaders(ctx)?;
    if wants(ctx, &["company"]) {
        l.load_many(page.iter().filter_map(|d| d.company_id.map(CompanyId))).await.map_err(err)?;
    }
    if wants(ctx, &["contacts"]) {
        l.load_many(page.iter().map(|d| ContactsOfDeal(d.id))).await.map_err(err)?;
    }
    Ok(())
}

/// Forgets what this request's loader read from the CRM tables: a mutation changed them, so relation
/// fields of its answer (and of later mutations in the same request) read afresh.
pub fn forget(ctx: &Context<'_>) {
    if let Ok(l) = loaders(ctx) {
        l.clear::<CompanyId>();
        l.clear::<CompaniesOfContact>();
        l.clear::<DealsOfContact>();
        l.clear::<ContactsOfCompany>();
        l.clear::<DealsOfCompany>();
        l.clear::<ContactsOfDeal>();
        l.clear::<ProtectionOf>();
    }
}
