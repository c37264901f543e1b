//! Database schema of partnergraph: one timestamped migration per change, schema only, no seed data.

pub use sea_orm_migration::prelude::*;

mod columns;
mod m20261122_000001_foundation;
mod m20261122_000002_commerce;
mod m20261122_000003_bindings;
mod m20261122_000004_leads_and_work;
pub mod m20261201_000005_search_folding;
mod m20261201_000006_crm_books;
mod m20261201_000007_outbox_cancelled;
mod m20261201_000008_webhooks;
mod m20261201_000009_api_keys_idempotency;
mod m20261201_000010_accounts;
mod m20261201_000012_scale;
mod m20261201_000013_partner_ranges;
pub mod m20261201_000014_trigram_search;
pub mod m20261201_000015_ledger_totals;
mod m20261201_000016_audit_partitions;
mod m20261201_000017_partner_payments_and_outbox;
pub mod m20261202_000018_vendor_ledger_totals;
mod m20261202_000019_payment_serving_partner;
mod m20261202_000020_webhook_claim_index;

/// Applies every migration in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_foundation::Migration),
            Box::new(m20261122_000002_commerce::Migration),
            Box::new(m20261122_000003_bindings::Migration),
            Box::new(m20261122_000004_leads_and_work::Migration),
            Box::new(m20261201_000005_search_folding::Migration),
            Box::new(m20261201_000006_crm_books::Migration),
            Box::new(m20261201_000007_outbox_cancelled::Migration),
            Box::new(m20261201_000008_webhooks::Migration),
            Box::new(m20261201_000009_api_keys_idempotency::Migration),
            Box::new(m20261201_000010_accounts::Migration),
            Box::new(m20261201_000012_scale::Migration),
            Box::new(m20261201_000013_partner_ranges::Migration),
            Box::new(m20261201_000014_trigram_search::Migration),
            Box::new(m20261201_000015_ledger_totals::Migration),
            Box::new(m20261201_000016_audit_partitions::Migration),
            Box::new(m20261201_000017_partner_payments_and_outbox::Migration),
            Box::new(m20261202_000018_vendor_ledger_totals::Migration),
            Box::new(m20261202_000019_payment_serving_partner::Migration),
            Box::new(m20261202_000020_webhook_claim_index::Migration),
        ]
    }
}
