//! The API test suite: one binary, a fresh database per test, every request through the real router.
//! Runs on SQLite by default and on PostgreSQL when `DATABASE_URL` points at a server.

mod helpers;

mod audit;
mod auth;
mod bindings;
mod coercion;
mod commissions;
mod crash;
mod digest;
mod events;
mod http;
mod input;
mod invitations;
mod leads;
mod loaders;
mod members;
mod outbox;
mod payments;
mod permissions;
mod preflight;
mod schema;
mod subscriptions;
mod tenants;
mod work;
