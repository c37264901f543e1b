//! The GraphQL schema: one module per capability, merged into `QueryRoot` and `MutationRoot` (and
//! `SubscriptionRoot`, served over WebSocket), with the
//! limits and the two central extensions (error guard, audit log).

pub mod accounts;
pub mod api_keys;
pub mod audit;
pub mod bindings;
pub mod commerce;
pub mod commerce_inputs;
pub mod commerce_types;
pub mod compiled;
pub mod context;
pub mod crm;
pub mod digest;
pub mod enums;
pub mod events;
pub mod extensions;
pub mod invitations;
pub mod leads;
pub mod loaders;
pub mod order;
pub mod preflight;
pub mod request;
pub mod scalars;
pub mod shape;
pub mod subscribers;
pub mod types;
pub mod webhooks;
pub mod work;

use async_graphql::{MergedObject, Schema, SchemaBuilder};

use crate::app::AppState;

/// All queries.
#[derive(MergedObject, Default)]
pub struct QueryRoot(
    accounts::AccountQuery,
    api_keys::ApiKeyQuery,
    subscribers::SubscriberQuery,
    invitations::InvitationQuery,
    audit::AuditQuery,
    commerce::CommerceQuery,
    bindings::BindingQuery,
    digest::DigestQuery,
    leads::LeadQuery,
    work::WorkQuery,
    crm::CrmQuery,
    webhooks::WebhookQuery,
);

/// All mutations.
#[derive(MergedObject, Default)]
pub struct MutationRoot(
    accounts::AccountMutation,
    api_keys::ApiKeyMutation,
    subscribers::SubscriberMutation,
    invitations::InvitationMutation,
    commerce::CommerceMutation,
    bindings::BindingMutation,
    digest::DigestMutation,
    leads::LeadMutation,
    work::WorkMutation,
    crm::CrmMutation,
    webhooks::WebhookMutation,
);

pub use events::SubscriptionRoot;

pub type AppSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

fn builder() -> SchemaBuilder<QueryRoot, MutationRoot, SubscriptionRoot> {
    Schema::build(QueryRoot::default(), MutationRoot::default(), SubscriptionRoot)
}

/// The served schema, with the state, limits and extensions.
pub fn build(state: AppState) -> AppSchema {
    let config = state.config.clone();
    // Depth is checked by `shape`, which leaves introspection out (GraphiQL's schema query is deeper than
    // any data query); async-graphql's own depth limit stays as a backstop well above it.
    let mut b = builder()
        .limit_depth(config.limits.max_depth.max(32))
        .limit_complexity(config.limits.max_complexity)
        .limit_recursive_depth(config.limits.max_depth.max(32))
        .extension(extensions::ErrorGuard)
        .extension(extensions::AuditLog)
        .extension(order::ResponseOrder)
        .extension(loaders::DispatchBatches)
        .data(state);
    if !config.http.introspection {
        b = b.disable_introspection().disable_suggestions();
    }
    b.finish()
}

/// The SDL of the served schema (written to `schema.graphql`).
pub fn sdl() -> String {
    builder().finish().sdl()
}
