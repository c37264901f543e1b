//! The one error type of the service. Every error a caller sees has a client-safe message and an
//! `extensions.code` (plus `reason` and `field` where useful); internal details are logged, never shown.

use async_graphql::ErrorExtensions;
use sea_orm::{DbErr, SqlErr};

use crate::domain::InputError;

/// Deliberately not `Display`: async-graphql converts any `Display` type into a code-less error, so
/// the only way from `AppError` to a GraphQL error is the coded conversion below.
#[derive(Debug)]
pub enum AppError {
    Unauthenticated {
        reason: &'static str,
        message: String,
    },
    Forbidden {
        reason: &'static str,
        message: String,
    },
    NotFound,
    BadInput {
        field: Option<String>,
        reason: &'static str,
        message: String,
    },
    Conflict {
        field: Option<String>,
        reason: &'static str,
        message: String,
    },
    TooManyAttempts,
    /// Work of a bounded kind (password hashing) is at capacity: the caller may try again shortly.
    Busy {
        reason: &'static str,
        message: String,
    },
    /// Anything the caller did not cause. The detail is logged with the request id; the caller sees
    /// only "internal server error".
    Internal(String),
}

pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    pub fn unauthenticated(reason: &'static str, message: impl Into<String>) -> Self {
        Self::Unauthenticated { reason, message: message.into() }
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::Forbidden { reason: "NOT_ALLOWED", message: message.into() }
    }

    pub fn forbidden_because(reason: &'static str, message: impl Into<String>) -> Self {
        Self::Forbidden { reason, message: message.into() }
    }

    pub fn bad_input(field: &str, reason: &'static str, message: impl Into<String>) -> Self {
        Self::BadInput { field: Some(field.to_owned()), reason, message: message.into() }
    }

    pub fn busy() -> Self {
        Self::Busy {
            reason: "BUSY",
            message: "the server is busy checking passwords; try again in a moment".to_owned(),
        }
    }

    pub fn conflict(reason: &'static str, message: impl Into<String>) -> Self {
        Self::Conflict { field: None, reason, message: message.into() }
    }

    pub fn conflict_on(field: &str, reason: &'static str, message: impl Into<String>) -> Self {
        Self::Conflict { field: Some(field.to_owned()), reason, message: message.into() }
    }

    /// Attaches an input field to a domain parsing failure.
    pub fn input(field: &str) -> impl FnOnce(InputError) -> AppError + '_ {
        move |e| AppError::BadInput {
            field: Some(field.to_owned()),
            message: format!("{field}: {}", e.message),
            reason: e.reason,
        }
    }

    /// The client-safe message.
    pub fn message(&self) -> String {
        match self {
            AppError::Unauthenticated { message, .. }
            | AppError::Forbidden { message, .. }
            | AppError::BadInput { message, .. }
            | AppError::Conflict { message, .. }
            | AppError::Busy { message, .. } => message.clone(),
            AppError::NotFound => "not found".to_owned(),
            AppError::TooManyAttempts => "too many failed attempts; try again later".to_owned(),
            AppError::Internal(_) => "internal server error".to_owned(),
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            AppError::Unauthenticated { .. } => "UNAUTHENTICATED",
            AppError::Forbidden { .. } => "FORBIDDEN",
            AppError::NotFound => "NOT_FOUND",
            AppError::BadInput { .. } => "BAD_USER_INPUT",
            AppError::Conflict { .. } => "CONFLICT",
            AppError::TooManyAttempts | AppError::Busy { .. } => "TOO_MANY_ATTEMPTS",
            AppError::Internal(_) => "INTERNAL_SERVER_ERROR",
        }
    }

    pub fn reason(&self) -> Option<&'static str> {
        match self {
            AppError::Unauthenticated { reason, .. }
            | AppError::Forbidden { reason, .. }
            | AppError::BadInput { reason, .. }
            | AppError::Conflict { reason, .. }
            | AppError::Busy { reason, .. } => Some(reason),
            _ => None,
        }
    }

    /// Maps a unique-constraint violation to a `CONFLICT` on the given field; anything else stays internal.
    pub fn on_unique(
        field: &'static str,
        reason: &'static str,
        message: &'static str,
    ) -> impl FnOnce(DbErr) -> AppError {
        move |e| match e.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => AppError::conflict_on(field, reason, message),
            _ => AppError::from(e),
        }
    }
}

impl AppError {
    /// Maps a unique-constraint violation to `BAD_USER_INPUT` on the given field (for rules the API
    /// reports as bad input, such as a single-use code used twice at once).
    pub fn on_unique_input(
        field: &'static str,
        reason: &'static str,
        message: &'static str,
    ) -> impl FnOnce(DbErr) -> AppError {
        move |e| match e.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => AppError::bad_input(field, reason, message),
            _ => AppError::from(e),
        }
    }
}

impl From<DbErr> for AppError {
    fn from(e: DbErr) -> Self {
        AppError::Internal(format!("database: {e}"))
    }
}

/// The internal detail travels as the error's source so that the response guard can log it once with
/// the request id; it is never serialised.
#[derive(Debug)]
pub struct InternalDetail(pub String);

impl std::fmt::Display for InternalDetail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl ErrorExtensions for AppError {
    fn extend(&self) -> async_graphql::Error {
        let mut err = match self {
            AppError::Internal(detail) => {
                let mut e = async_graphql::Error::new_with_source(InternalDetail(detail.clone()));
                e.message = "internal server error".to_owned();
                e
            }
            other => async_graphql::Error::new(other.message()),
        };
        err = err.extend_with(|_, ext| {
            ext.set("code", self.code());
            if let Some(reason) = self.reason() {
                ext.set("reason", reason);
            }
            if let AppError::BadInput { field: Some(f), .. } | AppError::Conflict { field: Some(f), .. } = self {
                ext.set("field", f.as_str());
            }
        });
        err
    }
}

impl From<AppError> for async_graphql::Error {
    fn from(e: AppError) -> Self {
        e.extend()
    }
}
