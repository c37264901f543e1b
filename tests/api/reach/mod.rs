//! Reach, walked generically (docs/rules.md §1–2, §10, docs/api.md "Decisions on details"): a subscriber outside the caller's
//! reach shows its `id` and `name` (and `kind`, `createdAt`; `updatedAt` reads as `createdAt`) and nothing
//! else, whichever path reached it; no CRM row of another book shows, nor another partner's stop-list
//! entry as a company's protection; every id and cursor a caller sends is resolved through the same rule,
//! so another tenant's id is the same answer as an id that names nothing.
//!
//! The queries are generated from introspection: every root query field with every field reachable to a
//! bounded depth, so a field added later is walked without changing these files.
//!
//! - `schema`: the schema as introspection tells it;
//! - `world`: the calling partner P, its client C, another partner Q and Q's clients, their rows and
//!   CRM books;
//! - `queries`: the walk's queries, as trees of fields that a walk prunes where the caller is refused;
//! - `walk`: every root query field with every field to a depth, as every role, checked against reach;
//! - `ids`: another tenant's id in every id argument answers like an id that names nothing;
//! - `cursors`: another tenant's row as a cursor pages like an id that names nothing.

mod cursors;
mod ids;
mod queries;
mod schema;
mod walk;
mod world;
