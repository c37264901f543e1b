//! The CRM's inputs and their parsing into the service's commands: every field is checked here, with
//! the field named in the error.

use async_graphql::{ID, InputObject, MaybeUndefined};

use crate::domain::crm::{self, ExternalId, PHONE_MAX, POSITION_MAX};
use crate::domain::{Email, Inn, Kpp};
use crate::error::{AppError, AppResult};
use crate::graphql::context::input_id;
use crate::graphql::enums::DealStage;
use crate::graphql::scalars::Decimal;
use crate::service::crm::companies::{CompanyPatch, CompanyUpsert};
use crate::service::crm::contacts::{ContactPatch, ContactUpsert};
use crate::service::crm::deals::{CompanyRef, DealPatch, DealUpsert};
use crate::service::crm::{LINKS_MAX, Locator, Refs};
use crate::service::subscribers::Patch;

/// A contact to create or update. Found by `id`, else by `externalId` in the caller's book, else
/// created (`name` required). Omitted fields stay; `null` clears an optional field; a link list, when
/// given, replaces the set (`null` empties it).
#[derive(InputObject)]
pub struct ContactInput {
    /// Our id of the contact to update (`NOT_FOUND` outside the caller's book).
    pub id: Option<ID>,
    /// The CRM's own id (1–255 characters). With `id`, gives that contact this external id.
    pub external_id: MaybeUndefined<String>,
    pub name: MaybeUndefined<String>,
    pub email: MaybeUndefined<String>,
    pub phone: MaybeUndefined<String>,
    pub position: MaybeUndefined<String>,
    pub comment: MaybeUndefined<String>,
    /// The contact's companies by our ids (with `companyExternalIds`: their union replaces the set).
    pub company_ids: MaybeUndefined<Vec<ID>>,
    /// The contact's companies by their external ids.
    pub company_external_ids: MaybeUndefined<Vec<String>>,
}

/// A company to create or update; found and patched like a contact (`name` required to create).
#[derive(InputObject)]
pub struct CompanyInput {
    /// Our id of the company to update (`NOT_FOUND` outside the caller's book).
    pub id: Option<ID>,
    /// The CRM's own id (1–255 characters). With `id`, gives that company this external id.
    pub external_id: MaybeUndefined<String>,
    pub name: MaybeUndefined<String>,
    /// Taxpayer number (ИНН): 10 or 12 digits with valid check digits.
    pub inn: MaybeUndefined<String>,
    /// Tax registration reason code (КПП): 9 characters.
    pub kpp: MaybeUndefined<String>,
    /// The registered client this company is: a client in the caller's reach.
    pub client_id: MaybeUndefined<ID>,
    /// The company's contacts by our ids (with `contactExternalIds`: their union replaces the set).
    pub contact_ids: MaybeUndefined<Vec<ID>>,
    /// The company's contacts by their external ids.
    pub contact_external_ids: MaybeUndefined<Vec<String>>,
}

/// A deal to create or update; found and patched like a contact (`title` required to create; a new
/// deal starts at `NEW`). Setting the company adds its contacts to the deal; a contact list in the same
/// input is applied after that and replaces the set; `null` company takes it off and leaves the contacts.
#[derive(InputObject)]
pub struct DealInput {
    /// Our id of the deal to update (`NOT_FOUND` outside the caller's book).
    pub id: Option<ID>,
    /// The CRM's own id (1–255 characters). With `id`, gives that deal this external id.
    pub external_id: MaybeUndefined<String>,
    pub title: MaybeUndefined<String>,
    /// `WON` and `LOST` set `closedAt`; any other stage clears it.
    pub stage: MaybeUndefined<DealStage>,
    /// The deal's value, e.g. `"150000.00"`; `null` clears it.
    pub amount: MaybeUndefined<Decimal>,
    /// The deal's company by our id.
    pub company_id: MaybeUndefined<ID>,
    /// The deal's company by its external id.
    pub company_external_id: MaybeUndefined<String>,
    /// The deal's contacts by our ids (with `contactExternalIds`: their union replaces the set).
    pub contact_ids: MaybeUndefined<Vec<ID>>,
    /// The deal's contacts by their external ids.
    pub contact_external_ids: MaybeUndefined<Vec<String>>,
}

fn external_id(raw: &str, name: &'static str) -> AppResult<ExternalId> {
    ExternalId::parse(raw).map_err(AppError::input(name))
}

/// How the upsert finds its row. A malformed `id` names nothing: `NOT_FOUND`.
fn locator(id: Option<ID>, ext: MaybeUndefined<String>) -> AppResult<Locator> {
    let id = id.map(|i| crate::graphql::context::resource_id(&i)).transpose()?;
    let external_id = match ext {
        MaybeUndefined::Undefined => Patch::Keep,
        MaybeUndefined::Null => Patch::Clear,
        MaybeUndefined::Value(s) => Patch::Set(external_id(&s, "externalId")?),
    };
    Ok(Locator { id, external_id })
}

/// A required text field: omitted stays, `null` is refused.
fn required_line(v: MaybeUndefined<String>, name: &'static str) -> AppResult<Option<String>> {
    match v {
        MaybeUndefined::Undefined => Ok(None),
        MaybeUndefined::Null => Err(AppError::bad_input(name, "REQUIRED", format!("{name}: must not be null"))),
        MaybeUndefined::Value(s) => crm::required_line(&s).map(Some).map_err(AppError::input(name)),
    }
}

/// An optional field: omitted stays, `null` (or blank text) clears.
fn optional<T>(
    v: MaybeUndefined<String>,
    parse: impl FnOnce(&str) -> Result<Option<T>, crate::domain::InputError>,
    name: &'static str,
) -> AppResult<Patch<T>> {
    Ok(match v {
        MaybeUndefined::Undefined => Patch::Keep,
        MaybeUndefined::Null => Patch::Clear,
        MaybeUndefined::Value(s) => match parse(&s).map_err(AppError::input(name))? {
            Some(v) => Patch::Set(v),
            None => Patch::Clear,
        },
    })
}

fn non_blank<T>(
    parse: impl FnOnce(&str) -> Result<T, crate::domain::InputError>,
) -> impl FnOnce(&str) -> Result<Option<T>, crate::domain::InputError> {
    move |s| if s.trim().is_empty() { Ok(None) } else { parse(s).map(Some) }
}

/// Two link lists naming one set: `None` when both are omitted.
fn refs(
    ids: MaybeUndefined<Vec<ID>>,
    externals: MaybeUndefined<Vec<String>>,
    ids_field: &'static str,
    ext_field: &'static str,
) -> AppResult<Option<Refs>> {
    if ids.is_undefined() && externals.is_undefined() {
        return Ok(None);
    }
    let ids = ids.take().unwrap_or_default();
    let externals = externals.take().unwrap_or_default();
    for (n, f) in [(ids.len(), ids_field), (externals.len(), ext_field)] {
        if n > LINKS_MAX {
            return Err(AppError::bad_input(f, "TOO_MANY", format!("{f}: at most {LINKS_MAX} items")));
        }
    }
    Ok(Some(Refs {
        ids: ids.iter().map(|i| input_id(i, ids_field)).collect::<AppResult<_>>()?,
        external_ids: externals.iter().map(|e| external_id(e, ext_field)).collect::<AppResult<_>>()?,
    }))
}

impl ContactInput {
    pub fn parse(self) -> AppResult<ContactUpsert> {
        Ok(ContactUpsert {
            locator: locator(self.id, self.external_id)?,
            patch: ContactPatch {
                name: required_line(self.name, "name")?,
                email: optional(self.email, non_blank(Email::parse), "email")?,
                phone: optional(self.phone, |s| crm::optional_line(s, PHONE_MAX), "phone")?,
                position: optional(self.position, |s| crm::optional_line(s, POSITION_MAX), "position")?,
                comment: optional(self.comment, crm::optional_note, "comment")?,
                companies: refs(self.company_ids, self.company_external_ids, "companyIds", "companyExternalIds")?,
            },
        })
    }
}

impl CompanyInput {
    pub fn parse(self) -> AppResult<CompanyUpsert> {
        let client = match self.client_id {
            MaybeUndefined::Undefined => Patch::Keep,
            MaybeUndefined::Null => Patch::Clear,
            MaybeUndefined::Value(id) => Patch::Set(input_id(&id, "clientId")?),
        };
        Ok(CompanyUpsert {
            locator: locator(self.id, self.external_id)?,
            patch: CompanyPatch {
                name: required_line(self.name, "name")?,
                inn: optional(self.inn, non_blank(Inn::parse), "inn")?,
                kpp: optional(self.kpp, non_blank(Kpp::parse), "kpp")?,
                client,
                contacts: refs(self.contact_ids, self.contact_external_ids, "contactIds", "contactExternalIds")?,
            },
        })
    }
}

impl DealInput {
    pub fn parse(self) -> AppResult<DealUpsert> {
        let stage = match self.stage {
            MaybeUndefined::Undefined => None,
            MaybeUndefined::Null => {
                return Err(AppError::bad_input("stage", "REQUIRED", "stage: must not be null"));
            }
            MaybeUndefined::Value(s) => Some(s.into()),
        };
        let amount = match self.amount {
            MaybeUndefined::Undefined => Patch::Keep,
            MaybeUndefined::Null => Patch::Clear,
            MaybeUndefined::Value(d) => Patch::Set(d.to_money("amount")?),
        };
        let company = match (self.company_id, self.company_external_id) {
            (MaybeUndefined::Value(_), MaybeUndefined::Value(_)) => {
                return Err(AppError::bad_input(
                    "companyExternalId",
                    "AMBIGUOUS",
                    "companyExternalId: give companyId or companyExternalId, not both",
                ));
            }
            (MaybeUndefined::Value(id), MaybeUndefined::Undefined | MaybeUndefined::Null) => {
                Patch::Set(CompanyRef::Id(input_id(&id, "companyId")?))
            }
            (MaybeUndefined::Undefined | MaybeUndefined::Null, MaybeUndefined::Value(e)) => {
                Patch::Set(CompanyRef::External(external_id(&e, "companyExternalId")?))
            }
            (MaybeUndefined::Null, _) | (_, MaybeUndefined::Null) => Patch::Clear,
            (MaybeUndefined::Undefined, MaybeUndefined::Undefined) => Patch::Keep,
        };
        Ok(DealUpsert {
            locator: locator(self.id, self.external_id)?,
            patch: DealPatch {
                title: required_line(self.title, "title")?,
                stage,
                amount,
                company,
                contacts: refs(self.contact_ids, self.contact_external_ids, "contactIds", "contactExternalIds")?,
            },
        })
    }
}
