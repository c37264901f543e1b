//! Authentication at the edge (tokens, passwords) and the typed principal that resolvers authorize with.

pub mod api_key;
pub mod bearer;
pub mod cache;
pub mod jwt;
pub mod password;
pub mod principal;
pub mod scope;

pub use jwt::{Claims, JwtKeys};
pub use password::PasswordHasher;
pub use principal::{Actor, Caller, Principal};
pub use scope::{Book, Projection, Reach, Scope};
