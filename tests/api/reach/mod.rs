//! Reach, walked generically (SPEC §1, API "Decisions on details"): a subscriber outside the caller's
//! reach shows its `id` and `name` (and `kind`, `createdAt`) and nothing else, whichever path reached it;
//! every id and cursor a caller sends is resolved through the same rule, so another tenant's id is the
//! same answer as an id that names nothing.
//!
//! The queries are generated from introspection: every root query field with every field reachable to a
//! bounded depth, so a field added later is walked without changing these files.
//!
//! - `schema`: the schema as introspection tells it;
//! - `world`: the calling partner P, its client C, another partner Q and Q's clients, with their rows;
//! - `walk`: every root query field with every field to a depth, as every role, checked against reach;
//! - `ids`: another tenant's id in every id argument answers like an id that names nothing;
//! - `cursors`: another tenant's row as a cursor pages like an id that names nothing.

mod cursors;
mod ids;
mod schema;
mod walk;
mod world;
