//! The API test suite: one binary, a fresh database per test, every request through the real router.
//! Runs on SQLite by default and on PostgreSQL when `DATABASE_URL` points at a server.

mod helpers;

mod api_keys;
mod audit;
mod auth;
mod bindings;
mod coercion;
mod commissions;
mod crash;
mod crm;
mod crm_deals;
mod crm_reach;
mod crm_sync;
mod digest;
mod events;
mod graphiql;
mod http;
mod idempotency;
mod input;
mod invitations;
mod leads;
mod lifecycle;
mod loaders;
mod members;
mod outage;
mod outbox;
mod payments;
mod permissions;
mod preflight;
mod proxy;
mod races;
mod reach;
mod responses;
mod roles;
mod schema;
mod search;
mod sockets;
mod subscriptions;
mod tenants;
mod webhooks;
mod webhooks_delivery;
mod webhooks_reach;
mod webhooks_tls;
mod work;
mod ws_access;
