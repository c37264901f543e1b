//! The CRM's output types. Relation fields load through the request's loader (see `loaders`).

use async_graphql::{Context, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{crm_company, crm_contact, crm_deal};

use super::loaders::{
    CompaniesOfContact, CompanyId, ContactsOfCompany, ContactsOfDeal, DealsOfCompany, DealsOfContact, ProtectionOf,
};
use crate::graphql::bindings::StopListEntry;
use crate::graphql::context::GqlResult;
use crate::graphql::enums::DealStage;
use crate::graphql::loaders;
use crate::graphql::scalars::Decimal;
use crate::graphql::types::Subscriber;

/// What a relation list (`Contact.deals`, `Deal.contacts`…) counts for in a query's complexity: it has
/// no `first`, so it is priced as ten rows, which keeps a page of 100 with its relations well inside the
/// limit and refuses relations nested in relations nested in a page (their size multiplies).
pub const RELATION_COST: usize = 10;

fn id(u: uuid::Uuid) -> ID {
    ID(u.to_string())
}

/// A person in a CRM book.
pub struct Contact(pub crm_contact::Model);

#[Object]
impl Contact {
    async fn id(&self) -> ID {
        id(self.0.id)
    }
    /// The CRM's own id of this contact (unique in the book), if it gave one.
    async fn external_id(&self) -> Option<&str> {
        self.0.external_id.as_deref()
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn email(&self) -> Option<&str> {
        self.0.email.as_deref()
    }
    async fn phone(&self) -> Option<&str> {
        self.0.phone.as_deref()
    }
    /// The contact's job title.
    async fn position(&self) -> Option<&str> {
        self.0.position.as_deref()
    }
    async fn comment(&self) -> Option<&str> {
        self.0.comment.as_deref()
    }
    /// The companies the contact belongs to, oldest first.
    #[graphql(complexity = "RELATION_COST * child_complexity")]
    async fn companies(&self, ctx: &Context<'_>) -> GqlResult<Vec<Company>> {
        let rows = loaders::required(ctx, CompaniesOfContact(self.0.id)).await?;
        Ok(rows.into_iter().map(Company).collect())
    }
    /// The deals the contact is on, oldest first.
    #[graphql(complexity = "RELATION_COST * child_complexity")]
    async fn deals(&self, ctx: &Context<'_>) -> GqlResult<Vec<Deal>> {
        let rows = loaders::required(ctx, DealsOfContact(self.0.id)).await?;
        Ok(rows.into_iter().map(Deal).collect())
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// When the contact or its links last changed (what `updatedSince` compares with).
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

/// An organisation in a CRM book.
pub struct Company(pub crm_company::Model);

#[Object]
impl Company {
    async fn id(&self) -> ID {
        id(self.0.id)
    }
    /// The CRM's own id of this company (unique in the book), if it gave one.
    async fn external_id(&self) -> Option<&str> {
        self.0.external_id.as_deref()
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// Taxpayer number (ИНН), checked like the subscriber card's.
    async fn inn(&self) -> Option<&str> {
        self.0.inn.as_deref()
    }
    /// Tax registration reason code (КПП).
    async fn kpp(&self) -> Option<&str> {
        self.0.kpp.as_deref()
    }
    /// The registered client this company is, as the caller sees it (id and name only once the client
    /// is outside the caller's reach).
    async fn client(&self, ctx: &Context<'_>) -> GqlResult<Option<Subscriber>> {
        Subscriber::load_opt(ctx, self.0.client_id).await
    }
    /// The company's contacts, oldest first.
    #[graphql(complexity = "RELATION_COST * child_complexity")]
    async fn contacts(&self, ctx: &Context<'_>) -> GqlResult<Vec<Contact>> {
        let rows = loaders::required(ctx, ContactsOfCompany(self.0.id)).await?;
        Ok(rows.into_iter().map(Contact).collect())
    }
    /// The company's deals, oldest first.
    #[graphql(complexity = "RELATION_COST * child_complexity")]
    async fn deals(&self, ctx: &Context<'_>) -> GqlResult<Vec<Deal>> {
        let rows = loaders::required(ctx, DealsOfCompany(self.0.id)).await?;
        Ok(rows.into_iter().map(Deal).collect())
    }
    /// Deal protection: the book owner's latest stop-list entry for this company's INN (null without an
    /// INN or an entry). A partner sees its own entry, never another partner's; the vendor reading a
    /// partner's book sees that partner's.
    async fn protection(&self, ctx: &Context<'_>) -> GqlResult<Option<StopListEntry>> {
        let Some(inn) = self.0.inn.clone() else {
            return Ok(None);
        };
        let entry = loaders::one(ctx, ProtectionOf { partner: self.0.book_id, inn }).await?;
        Ok(entry.map(StopListEntry))
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// When the company or its links last changed (what `updatedSince` compares with).
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

/// A deal in a CRM book's pipeline.
pub struct Deal(pub crm_deal::Model);

#[Object]
impl Deal {
    async fn id(&self) -> ID {
        id(self.0.id)
    }
    /// The CRM's own id of this deal (unique in the book), if it gave one.
    async fn external_id(&self) -> Option<&str> {
        self.0.external_id.as_deref()
    }
    async fn title(&self) -> &str {
        &self.0.title
    }
    async fn stage(&self) -> DealStage {
        self.0.stage.into()
    }
    /// The deal's value, e.g. `"150000.00"`.
    async fn amount(&self) -> Option<Decimal> {
        self.0.amount_minor.map(Decimal::money)
    }
    /// The company the deal is with.
    async fn company(&self, ctx: &Context<'_>) -> GqlResult<Option<Company>> {
        let Some(c) = self.0.company_id else {
            return Ok(None);
        };
        let company = loaders::one(ctx, CompanyId(c)).await?;
        Ok(company.filter(|c| c.book_id == self.0.book_id).map(Company))
    }
    /// The contacts on the deal, oldest first.
    #[graphql(complexity = "RELATION_COST * child_complexity")]
    async fn contacts(&self, ctx: &Context<'_>) -> GqlResult<Vec<Contact>> {
        let rows = loaders::required(ctx, ContactsOfDeal(self.0.id)).await?;
        Ok(rows.into_iter().map(Contact).collect())
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// When the deal or its links last changed (what `updatedSince` compares with).
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
    /// When the deal moved to `WON` or `LOST`; null while it is open.
    async fn closed_at(&self) -> Option<DateTime<Utc>> {
        self.0.closed_at
    }
}

/// The contact an upsert wrote.
#[derive(SimpleObject)]
pub struct ContactUpsert {
    pub contact: Contact,
    /// Whether the upsert created the contact (rather than updating one).
    pub created: bool,
}

/// The company an upsert wrote.
#[derive(SimpleObject)]
pub struct CompanyUpsert {
    pub company: Company,
    /// Whether the upsert created the company (rather than updating one).
    pub created: bool,
}

/// The deal an upsert wrote.
#[derive(SimpleObject)]
pub struct DealUpsert {
    pub deal: Deal,
    /// Whether the upsert created the deal (rather than updating one).
    pub created: bool,
}
