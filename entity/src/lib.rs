//! SeaORM entities of partnergraph, one file per table. No GraphQL and no business rules here: enumerated
//! columns are plain strings that `src/domain` parses into typed values.

pub mod audit_entry;
pub mod binding_change;
pub mod invitation;
pub mod login_failure;
pub mod membership;
pub mod partner_profile;
pub mod subscriber;
pub mod user;
