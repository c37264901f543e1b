//! Pure rules of the product: no I/O, no database, no GraphQL. Everything here is unit-tested in place.

pub mod card;
pub mod crm;
pub mod inn;
pub mod role;
pub mod text;

pub use card::{Email, Kpp};
pub use inn::Inn;
pub use local_time::LocalTime;
pub use money::Money;
pub use period::PeriodMonths;
pub use rate::BasisPoints;
pub use role::{Role, SubscriberKind};
pub use text::{Name, OptionalText};

/// Why an input was refused: a stable machine-readable reason and the input field it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    pub reason: &'static str,
    pub message: String,
}

impl InputError {
    pub fn new(reason: &'static str, message: impl Into<String>) -> Self {
        Self { reason, message: message.into() }
    }
}

pub mod binding;
pub use binding::BindingSource;

pub mod invitation;
pub use invitation::InvitationStatus;

pub mod commission;
pub mod leads;
pub mod local_time;
pub mod money;
pub mod period;
pub mod presets;
pub mod promo;
pub mod rate;
pub mod stoplist;
pub mod subscription;
pub mod tasks;
pub mod webhook;
