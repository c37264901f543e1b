//! The two link tables: contact ↔ company and deal ↔ contact. A link list given in an input replaces
//! the set; what changed (links added or removed) is returned so that the rows on the other side can be
//! marked as changed too.

use std::collections::HashSet;

use entity::{crm_contact_company as cc, crm_deal_contact as dc};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QuerySelect, Set};
use uuid::Uuid;

use super::BookWrite;
use crate::error::AppResult;

/// The ids on the other side of `owner`'s links.
async fn current<L: EntityTrait>(
    w: &BookWrite<'_>,
    owner_col: L::Column,
    other_col: L::Column,
    owner: Uuid,
) -> AppResult<Vec<Uuid>> {
    Ok(L::find().select_only().column(other_col).filter(owner_col.eq(owner)).into_tuple().all(&w.txn).await?)
}

/// Makes `owner`'s links exactly `want` (when `replace`) or adds `want` to them; returns the ids on the
/// other side whose link was added or removed.
async fn put<L, A>(
    w: &BookWrite<'_>,
    owner_col: L::Column,
    other_col: L::Column,
    owner: Uuid,
    want: &[Uuid],
    replace: bool,
    make: impl Fn(Uuid) -> A,
) -> AppResult<Vec<Uuid>>
where
    L: EntityTrait,
    A: ActiveModelTrait<Entity = L> + Send,
{
    let have: HashSet<Uuid> = current::<L>(w, owner_col, other_col, owner).await?.into_iter().collect();
    let want_set: HashSet<Uuid> = want.iter().copied().collect();
    let added: Vec<Uuid> = want.iter().copied().filter(|id| !have.contains(id)).collect();
    let mut gone: Vec<Uuid> = if replace { have.difference(&want_set).copied().collect() } else { Vec::new() };
    gone.sort();
    if !gone.is_empty() {
        L::delete_many().filter(owner_col.eq(owner)).filter(other_col.is_in(gone.clone())).exec(&w.txn).await?;
    }
    if !added.is_empty() {
        L::insert_many(added.iter().map(|id| make(*id))).exec_without_returning(&w.txn).await?;
    }
    Ok(added.into_iter().chain(gone).collect())
}

fn contact_company(book: Uuid, contact: Uuid, company: Uuid) -> cc::ActiveModel {
    cc::ActiveModel { contact_id: Set(contact), company_id: Set(company), book_id: Set(book) }
}

fn deal_contact(book: Uuid, deal: Uuid, contact: Uuid) -> dc::ActiveModel {
    dc::ActiveModel { deal_id: Set(deal), contact_id: Set(contact), book_id: Set(book) }
}

/// Sets a contact's companies; returns the companies whose contact list changed.
pub async fn set_companies_of_contact(w: &BookWrite<'_>, contact: Uuid, companies: &[Uuid]) -> AppResult<Vec<Uuid>> {
    let book = w.book.id();
    put(w, cc::Column::ContactId, cc::Column::CompanyId, contact, companies, true, |c| {
        contact_company(book, contact, c)
    })
    .await
}

/// Sets a company's contacts; returns the contacts whose company list changed.
pub async fn set_contacts_of_company(w: &BookWrite<'_>, company: Uuid, contacts: &[Uuid]) -> AppResult<Vec<Uuid>> {
    let book = w.book.id();
    put(w, cc::Column::CompanyId, cc::Column::ContactId, company, contacts, true, |c| contact_company(book, c, company))
        .await
}

/// The contacts a company has now.
pub async fn contacts_of_company(w: &BookWrite<'_>, company: Uuid) -> AppResult<Vec<Uuid>> {
    current::<cc::Entity>(w, cc::Column::CompanyId, cc::Column::ContactId, company).await
}

/// Sets (`replace`) or extends a deal's contacts; returns the contacts whose deal list changed.
pub async fn put_contacts_of_deal(
    w: &BookWrite<'_>,
    deal: Uuid,
    contacts: &[Uuid],
    replace: bool,
) -> AppResult<Vec<Uuid>> {
    let book = w.book.id();
    put(w, dc::Column::DealId, dc::Column::ContactId, deal, contacts, replace, |c| deal_contact(book, deal, c)).await
}

/// Takes a contact off a deal; whether it was on it.
pub async fn remove_contact_of_deal(w: &BookWrite<'_>, deal: Uuid, contact: Uuid) -> AppResult<bool> {
    let r = dc::Entity::delete_many()
        .filter(dc::Column::DealId.eq(deal))
        .filter(dc::Column::ContactId.eq(contact))
        .exec(&w.txn)
        .await?;
    Ok(r.rows_affected > 0)
}

/// The companies a contact belongs to, and the deals it is on (before deleting it).
pub async fn of_contact(w: &BookWrite<'_>, contact: Uuid) -> AppResult<(Vec<Uuid>, Vec<Uuid>)> {
    let companies = current::<cc::Entity>(w, cc::Column::ContactId, cc::Column::CompanyId, contact).await?;
    let deals = current::<dc::Entity>(w, dc::Column::ContactId, dc::Column::DealId, contact).await?;
    Ok((companies, deals))
}

/// The contacts on a deal.
pub async fn contacts_of_deal(w: &BookWrite<'_>, deal: Uuid) -> AppResult<Vec<Uuid>> {
    current::<dc::Entity>(w, dc::Column::DealId, dc::Column::ContactId, deal).await
}
