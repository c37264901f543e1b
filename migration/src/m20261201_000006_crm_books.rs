//! CRM books (docs/rules.md §10): contacts, companies and deals of each partner (and of the vendor), the links
//! between them, and the indexes the sync filters read by (`updatedSince` on subscribers too).

use sea_orm_migration::prelude::*;

use crate::columns::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

fn a(name: &str) -> Alias {
    Alias::new(name)
}

/// A foreign key from a link table's `(book_id, col)` to `(book_id, id)` of a row of the same book: a
/// link between two books cannot exist. Deleting the row deletes its links.
fn same_book_link(name: &str, table: &str, col: &str, to: &str) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(a(table), (a("book_id"), a(col)))
        .to(a(to), (a("book_id"), a("id")))
        .on_delete(ForeignKeyAction::Cascade)
        .take()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        manager
            .create_table(
                Table::create()
                    .table(a("crm_contacts"))
                    .col(pk())
                    .col(uuid("book_id"))
                    .col(text_opt("external_id"))
                    .col(text("name"))
                    .col(text_opt("email"))
                    .col(text_opt("phone"))
                    .col(text_opt("position"))
                    .col(ColumnDef::new(a("comment")).text().null())
                    .col(ColumnDef::new(a("search_text")).text().not_null())
                    .col(time("created_at"))
                    .col(time("updated_at"))
                    .foreign_key(&mut fk("fk_crm_contacts_book", "crm_contacts", "book_id", "subscribers"))
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(a("crm_companies"))
                    .col(pk())
                    .col(uuid("book_id"))
                    .col(text_opt("external_id"))
                    .col(text("name"))
                    .col(text_opt("inn"))
                    .col(text_opt("kpp"))
                    .col(uuid_opt("client_id"))
                    .col(ColumnDef::new(a("search_text")).text().not_null())
                    .col(time("created_at"))
                    .col(time("updated_at"))
                    .foreign_key(&mut fk("fk_crm_companies_book", "crm_companies", "book_id", "subscribers"))
                    .foreign_key(&mut fk("fk_crm_companies_client", "crm_companies", "client_id", "subscribers"))
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(a("crm_deals"))
                    .col(pk())
                    .col(uuid("book_id"))
                    .col(text_opt("external_id"))
                    .col(text("title"))
                    .col(text("stage"))
                    .col(ColumnDef::new(a("amount_minor")).big_integer().null())
                    .col(uuid_opt("company_id"))
                    .col(time("created_at"))
                    .col(time("updated_at"))
                    .col(time_opt("closed_at"))
                    .foreign_key(&mut fk("fk_crm_deals_book", "crm_deals", "book_id", "subscribers"))
                    // Deleting a company takes it off its deals; the deals stay.
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_crm_deals_company")
                            .from(a("crm_deals"), a("company_id"))
                            .to(a("crm_companies"), a("id"))
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .check(Expr::col(a("stage")).is_in(["NEW", "QUALIFIED", "PROPOSAL", "NEGOTIATION", "WON", "LOST"]))
                    .check(Expr::col(a("amount_minor")).gte(0))
                    .take(),
            )
            .await?;

        // (book_id, id) is unique for keyset paging within a book and as the target of the same-book
        // foreign keys of the link tables, so it comes before them.
        for sql in [
            "CREATE UNIQUE INDEX ux_crm_contacts_book_id ON crm_contacts (book_id, id)",
            "CREATE UNIQUE INDEX ux_crm_companies_book_id ON crm_companies (book_id, id)",
            "CREATE UNIQUE INDEX ux_crm_deals_book_id ON crm_deals (book_id, id)",
        ] {
            db.execute_unprepared(sql).await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(a("crm_contact_companies"))
                    .col(uuid("contact_id"))
                    .col(uuid("company_id"))
                    .col(uuid("book_id"))
                    .primary_key(Index::create().col(a("contact_id")).col(a("company_id")))
                    .foreign_key(&mut same_book_link(
                        "fk_crm_contact_companies_contact",
                        "crm_contact_companies",
                        "contact_id",
                        "crm_contacts",
                    ))
                    .foreign_key(&mut same_book_link(
                        "fk_crm_contact_companies_company",
                        "crm_contact_companies",
                        "company_id",
                        "crm_companies",
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(a("crm_deal_contacts"))
                    .col(uuid("deal_id"))
                    .col(uuid("contact_id"))
                    .col(uuid("book_id"))
                    .primary_key(Index::create().col(a("deal_id")).col(a("contact_id")))
                    .foreign_key(&mut same_book_link(
                        "fk_crm_deal_contacts_deal",
                        "crm_deal_contacts",
                        "deal_id",
                        "crm_deals",
                    ))
                    .foreign_key(&mut same_book_link(
                        "fk_crm_deal_contacts_contact",
                        "crm_deal_contacts",
                        "contact_id",
                        "crm_contacts",
                    ))
                    .take(),
            )
            .await?;

        for sql in [
            // An external id names one row per book and kind, whatever runs at the same time.
            "CREATE UNIQUE INDEX ux_crm_contacts_external_id ON crm_contacts (book_id, external_id) WHERE external_id IS NOT NULL",
            "CREATE UNIQUE INDEX ux_crm_companies_external_id ON crm_companies (book_id, external_id) WHERE external_id IS NOT NULL",
            "CREATE UNIQUE INDEX ux_crm_deals_external_id ON crm_deals (book_id, external_id) WHERE external_id IS NOT NULL",
            // updatedSince.
            "CREATE INDEX ix_crm_contacts_updated ON crm_contacts (book_id, updated_at)",
            "CREATE INDEX ix_crm_companies_updated ON crm_companies (book_id, updated_at)",
            "CREATE INDEX ix_crm_deals_updated ON crm_deals (book_id, updated_at)",
            // deals(stage), deals(companyId), Company.deals; Company.client.
            "CREATE INDEX ix_crm_deals_stage ON crm_deals (book_id, stage, id)",
            "CREATE INDEX ix_crm_deals_company ON crm_deals (company_id, id)",
            "CREATE INDEX ix_crm_companies_client ON crm_companies (client_id)",
            // Links from the other side (the primary keys serve contact → companies and deal → contacts).
            "CREATE INDEX ix_crm_contact_companies_company ON crm_contact_companies (company_id, contact_id)",
            "CREATE INDEX ix_crm_deal_contacts_contact ON crm_deal_contacts (contact_id, deal_id)",
            // Company.protection: a partner's latest entry for an INN.
            "CREATE INDEX ix_stop_list_partner_inn ON stop_list (partner_id, inn, requested_at)",
            // subscribers(updatedSince), payments(externalId) has ux_payments_external_id.
            "CREATE INDEX ix_subscribers_updated ON subscribers (updated_at)",
        ] {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }
}
