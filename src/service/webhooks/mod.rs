//! Outbound webhooks per Standard Webhooks (docs/rules.md §12, docs/api.md "Integrations").
//!
//! - [`endpoints`]: who registers which endpoints, their secrets ([`secrets`], encrypted at rest).
//! - [`events`]: what the services queue, in the transaction of the change, for which endpoints.
//! - [`deliveries`]: the delivery log, redelivery, test events, the 30-day purge.
//! - [`sender`]: the task that claims due deliveries with leases and sends them through [`client`], to
//!   destinations [`urls`] allows.

pub mod client;
pub mod deliveries;
pub mod endpoints;
pub mod events;
pub mod secrets;
pub mod sender;
pub mod urls;

pub use crate::domain::webhook::DeliveryStatus;
pub use events::{Event, queue};
