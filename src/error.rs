//! The one error type of the service. Every error a caller sees has a client-safe message and an
//! `extensions.code` (plus `reason` and `field` where useful); internal details are logged, never shown.

use std::error::Error;
use std::fmt;

use async_graphql::ErrorExtensions;
use sea_orm::{DbErr, RuntimeErr, SqlErr};

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
    /// Anything the caller did not cause. The cause, with its source chain, is logged once with the
    /// request id where the answer is made; the caller sees only "internal server error".
    Internal(BoxError),
}

/// The cause of an internal error, kept as an error (with its sources), not as text.
pub type BoxError = Box<dyn Error + Send + Sync + 'static>;

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

    /// An internal error: a cause (kept with its sources) or a plain description.
    pub fn internal(cause: impl Into<BoxError>) -> Self {
        Self::Internal(cause.into())
    }

    /// An internal error that says what was being done when `cause` happened.
    pub fn failed<E: Error + Send + Sync + 'static>(doing: &'static str) -> impl FnOnce(E) -> AppError {
        move |cause| Self::Internal(Box::new(Failed { doing, cause: Box::new(cause) }))
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

    /// What an operator reads (the command line): the client-safe message, or for an internal error
    /// its cause with the cause's sources.
    pub fn for_operator(&self) -> String {
        match self {
            AppError::Internal(cause) => Chain(&**cause).to_string(),
            other => other.message(),
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

    /// Maps a violation of one of `indexes` to a `CONFLICT` on the given field; any other database error
    /// (a violation of another unique index included) stays internal, with its cause.
    pub fn on_unique(
        indexes: &'static [UniqueIndex],
        field: &'static str,
        reason: &'static str,
        message: &'static str,
    ) -> impl FnOnce(DbErr) -> AppError {
        move |e| {
            if UniqueIndex::any_violated(indexes, &e) {
                AppError::conflict_on(field, reason, message)
            } else {
                AppError::from(e)
            }
        }
    }

    /// Maps a violation of one of `indexes` to `BAD_USER_INPUT` on the given field (for rules the API
    /// reports as bad input, such as a single-use code used twice at once); anything else stays internal.
    pub fn on_unique_input(
        indexes: &'static [UniqueIndex],
        field: &'static str,
        reason: &'static str,
        message: &'static str,
    ) -> impl FnOnce(DbErr) -> AppError {
        move |e| {
            if UniqueIndex::any_violated(indexes, &e) {
                AppError::bad_input(field, reason, message)
            } else {
                AppError::from(e)
            }
        }
    }
}

impl From<DbErr> for AppError {
    fn from(e: DbErr) -> Self {
        AppError::Internal(Box::new(e))
    }
}

/// What was being done when an internal error happened, with the error as its source.
#[derive(Debug, thiserror::Error)]
#[error("{doing}")]
struct Failed {
    doing: &'static str,
    #[source]
    cause: BoxError,
}

/// An error and its sources on one line, `outer: inner: innermost`, for logs and the command line. A
/// source whose text the line already holds (database errors repeat their driver's message) is skipped.
pub struct Chain<'a>(pub &'a (dyn Error + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut line = self.0.to_string();
        let mut next = self.0.source();
        while let Some(e) = next {
            let text = e.to_string();
            if !line.contains(&text) {
                line.push_str(": ");
                line.push_str(&text);
            }
            next = e.source();
        }
        f.write_str(&line)
    }
}

/// A unique index as the migrations create it. A violation names it on PostgreSQL (the constraint) and
/// on SQLite when it is an index on expressions (`index 'name'`); otherwise SQLite lists its columns
/// (`UNIQUE constraint failed: payments.external_id`), so the columns identify it there.
#[derive(Debug, Clone, Copy)]
pub struct UniqueIndex {
    pub name: &'static str,
    pub table: &'static str,
    pub columns: &'static [&'static str],
}

impl UniqueIndex {
    /// Whether `e` is a violation of this index (and not of another unique index of the same table).
    pub fn violated_by(&self, e: &DbErr) -> bool {
        if !matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) {
            return false;
        }
        let (DbErr::Exec(RuntimeErr::SqlxError(x)) | DbErr::Query(RuntimeErr::SqlxError(x))) = e else {
            return false;
        };
        let Some(db) = x.as_database_error() else {
            return false;
        };
        if let Some(constraint) = db.constraint() {
            return constraint == self.name;
        }
        self.named_in_sqlite_message(db.message())
    }

    /// SQLite's `UNIQUE constraint failed: t.a, t.b` (the index's columns in order) or `…: index 'name'`.
    fn named_in_sqlite_message(&self, message: &str) -> bool {
        let Some(what) = message.strip_prefix("UNIQUE constraint failed: ") else {
            return false;
        };
        if let Some(name) = what.strip_prefix("index '").and_then(|w| w.strip_suffix('\'')) {
            return name == self.name;
        }
        let mut listed = what.split(", ");
        self.columns.iter().all(|c| listed.next().and_then(|l| l.split_once('.')) == Some((self.table, *c)))
            && listed.next().is_none()
    }

    /// Whether `e` is a violation of one of `indexes`.
    pub fn any_violated(indexes: &[UniqueIndex], e: &DbErr) -> bool {
        indexes.iter().any(|i| i.violated_by(e))
    }

    /// Maps a violation of this index to `then`; any other database error stays internal, with its cause.
    pub fn or_internal(self, then: impl FnOnce() -> AppError) -> impl FnOnce(DbErr) -> AppError {
        move |e| if self.violated_by(&e) { then() } else { AppError::from(e) }
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
            AppError::Internal(cause) => {
                let mut e = async_graphql::Error::new_with_source(InternalDetail(Chain(&**cause).to_string()));
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

#[cfg(test)]
mod tests {
    use sea_orm::{ConnectionTrait, Database, DatabaseConnection};

    use super::*;

    const BY_CODE: UniqueIndex = UniqueIndex { name: "ux_things_code", table: "things", columns: &["code"] };
    const BY_PAIR: UniqueIndex = UniqueIndex { name: "ux_things_pair", table: "things", columns: &["a", "b"] };
    const BY_FOLDED: UniqueIndex = UniqueIndex { name: "ux_things_folded", table: "things", columns: &[] };

    /// A table with four unique indexes: on a column, on a pair, on an expression, and one no test names.
    async fn things() -> DatabaseConnection {
        let db = Database::connect("sqlite::memory:").await.unwrap();
        for sql in [
            "CREATE TABLE things (id INTEGER PRIMARY KEY, code TEXT, a TEXT, b TEXT, label TEXT, other TEXT)",
            "CREATE UNIQUE INDEX ux_things_code ON things (code)",
            "CREATE UNIQUE INDEX ux_things_pair ON things (a, b)",
            "CREATE UNIQUE INDEX ux_things_folded ON things (lower(label))",
            "CREATE UNIQUE INDEX ux_things_other ON things (other)",
            "INSERT INTO things VALUES (1, 'c', 'a', 'b', 'L', 'o')",
        ] {
            db.execute_unprepared(sql).await.unwrap();
        }
        db
    }

    async fn insert(db: &DatabaseConnection, values: &str) -> DbErr {
        db.execute_unprepared(&format!("INSERT INTO things VALUES {values}")).await.unwrap_err()
    }

    #[tokio::test]
    async fn a_violation_of_the_named_index_is_the_conflict_and_any_other_stays_internal() {
        let db = things().await;
        let on_code = || AppError::on_unique(&[BY_CODE], "code", "CODE_TAKEN", "taken");
        let code = insert(&db, "(2, 'c', 'x', 'y', 'M', 'p')").await;
        assert_eq!(on_code()(code).reason(), Some("CODE_TAKEN"));
        let other = insert(&db, "(2, 'd', 'x', 'y', 'M', 'o')").await;
        assert!(matches!(on_code()(other), AppError::Internal(_)), "another index's violation is not CODE_TAKEN");
        let pair = insert(&db, "(2, 'd', 'a', 'b', 'M', 'p')").await;
        assert!(BY_PAIR.violated_by(&pair) && !BY_CODE.violated_by(&pair));
        let folded = insert(&db, "(2, 'd', 'x', 'y', 'l', 'p')").await;
        assert!(BY_FOLDED.violated_by(&folded) && !BY_PAIR.violated_by(&folded));
        let input = AppError::on_unique_input(&[BY_CODE, BY_FOLDED], "label", "USED", "used")(folded);
        assert_eq!((input.code(), input.reason()), ("BAD_USER_INPUT", Some("USED")));
    }

    #[test]
    fn sqlite_messages_name_an_index_by_its_columns_in_order_or_by_its_name() {
        let pair = |m: &str| BY_PAIR.named_in_sqlite_message(m);
        assert!(pair("UNIQUE constraint failed: things.a, things.b"));
        assert!(!pair("UNIQUE constraint failed: things.b, things.a"));
        assert!(!pair("UNIQUE constraint failed: things.a"));
        assert!(!pair("UNIQUE constraint failed: others.a, others.b"));
        assert!(pair("UNIQUE constraint failed: index 'ux_things_pair'"));
        assert!(!BY_FOLDED.named_in_sqlite_message("UNIQUE constraint failed: things.code"));
        assert!(!BY_CODE.named_in_sqlite_message("NOT NULL constraint failed: things.code"));
    }
}
