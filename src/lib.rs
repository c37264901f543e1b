//! partnergraph: the GraphQL API of a SaaS vendor's partner program.
//!
//! Data flows one way: `graphql` (thin resolvers) → `service` (queries in transactions) → `domain`
//! (pure rules) and `entity` (tables), and back as output types.

pub mod app;
pub mod auth;
pub mod cli;
pub mod client_addr;
pub mod clock;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod events;
pub mod graphiql;
pub mod graphql;
pub mod http;
pub mod mail;
pub mod metrics;
pub mod ratelimit;
pub mod scheduler;
pub mod service;
pub mod shutdown;
pub mod ws;
