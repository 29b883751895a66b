//! One error type for the whole service, mapped to GraphQL errors with a stable
//! `extensions.code`. Internal details are logged, never sent to clients.
use async_graphql::ErrorExtensions;
use sea_orm::{DbErr, RuntimeErr, SqlErr};

///
/// It deliberately does not implement `Display`: async-graphql converts any displayable
/// error into a GraphQL error without a code, so every conversion must go through
/// [`ErrorExtensions`] below. Resolvers return [`AppResult`].
#[derive(Debug, Clone)]
pub enum AppError {
    Unauthenticated(String),
    Forbidden(String),
    NotFound(String),
    Validation {
        field: String,
        message: String,
    },
    Conflict {
        message: String,
        current_version: Option<i32>,
    },
    Unavailable(String),
    /// More work of a kind than the server takes at once is waiting (dashboard rollups):
    /// retry later (`Retry-After`).
    Overloaded(String),
    /// A statement ran past the database's statement timeout and was cancelled by it.
    TimedOut(String),
    Internal(std::sync::Arc<anyhow::Error>),
}

impl From<anyhow::Error> for AppError {
    fn from(e: anyhow::Error) -> Self {
        AppError::Internal(std::sync::Arc::new(e))
    }
}

pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        Self::NotFound(what.into())
    }

    /// The message sent to clients (never internals).
    pub fn message(&self) -> String {
        match self {
            AppError::Unauthenticated(_) => "authentication required".into(),
            AppError::Forbidden(what) => format!("forbidden: {what}"),
            AppError::NotFound(what) => format!("{what} not found"),
            AppError::Validation { field, message } => format!("{field}: {message}"),
            AppError::Conflict { message, .. } => message.clone(),
            AppError::Unavailable(detail) if detail.starts_with(POOL_TIMEOUT) => {
                "no database connection became free in time (REMEDY_DB_ACQUIRE_TIMEOUT): every connection is busy or the database is unreachable; try again shortly".into()
            }
            AppError::Unavailable(_) => "the database is unavailable, try again later".into(),
            AppError::Overloaded(what) => format!("the server is busy: {what}; try again shortly"),
            AppError::TimedOut(_) => {
                "a database statement took longer than its limit (REMEDY_DB_STATEMENT_TIMEOUT_SECONDS) and was cancelled".into()
            }
            AppError::Internal(_) => "internal error".into(),
        }
    }

    /// For the command line, where the operator may see internals.
    pub fn into_anyhow(self) -> anyhow::Error {
        match self {
            AppError::Internal(inner) => anyhow::anyhow!("{inner:#}"),
            AppError::Unavailable(detail) => anyhow::anyhow!("database unavailable: {detail}"),
            AppError::TimedOut(detail) => anyhow::anyhow!("statement timed out: {detail}"),
            other => anyhow::anyhow!("{}: {}", other.code(), other.message()),
        }
    }

    /// The stable code clients switch on.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::Unauthenticated(_) => "UNAUTHENTICATED",
            AppError::Forbidden(_) => "FORBIDDEN",
            AppError::NotFound(_) => "NOT_FOUND",
            AppError::Validation { .. } => "VALIDATION",
            AppError::Conflict { .. } => "CONFLICT",
            AppError::Unavailable(_) => "SERVICE_UNAVAILABLE",
            AppError::Overloaded(_) => "OVERLOADED",
            AppError::TimedOut(_) => "TIMEOUT",
            AppError::Internal(_) => "INTERNAL",
        }
    }
}

/// Which column a unique index guards, by index name (see the migration).
fn unique_index_field(name: &str) -> Option<&'static str> {
    Some(match name {
        "ux_regulator_code" | "ux_owner_code" | "ux_system_code" | "ux_measure_code"
        | "ux_report_code" | "ux_evaluator_code" => "code",
        "ux_order_reference" => "reference",
        "ux_owner_account" => "account",
        "ux_finding_order_number" => "number",
        "ux_occurrence_measure_period" => "period",
        "ux_evidence_supersedes" => "supersedes",
        _ => return None,
    })
}

/// Maps a SQLite "UNIQUE constraint failed: table.col[, table.col]" message to a field.
fn sqlite_unique_field(msg: &str) -> Option<String> {
    let rest = msg.split("UNIQUE constraint failed: ").nth(1)?;
    let last = rest.split(',').next_back()?.trim();
    Some(last.rsplit('.').next()?.trim().to_string())
}

impl From<DbErr> for AppError {
    fn from(err: DbErr) -> Self {
        match err.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(msg)) => {
                let field = pg_constraint(&err)
                    .and_then(|c| unique_index_field(&c).map(str::to_string))
                    .or_else(|| sqlite_unique_field(&msg))
                    .unwrap_or_else(|| "input".into());
                return AppError::Conflict {
                    message: format!("{field}: a record with this value already exists"),
                    current_version: None,
                };
            }
            Some(SqlErr::ForeignKeyConstraintViolation(_)) => {
                return AppError::validation(
                    "input",
                    "refers to a record that does not exist or is still referenced",
                );
            }
            _ => {}
        }
        if let Some(code) = db_error_code(&err) {
            // PostgreSQL: 23514 check, 23502 not null, 22xxx data exceptions.
            // SQLite: 275 check, 1299 not null, 1811 trigger raise / constraint.
            match code.as_str() {
                "23514" | "275" => {
                    return AppError::validation("input", "a value is outside the allowed range")
                }
                "23502" | "1299" => {
                    return AppError::validation("input", "a required value is missing")
                }
                "23000" | "1811" | "19" => {
                    return AppError::validation("input", "the change violates an integrity rule")
                }
                // query_canceled: PostgreSQL's statement_timeout fired (remedy cancels no
                // statement otherwise).
                "57014" => return AppError::TimedOut(err.to_string()),
                c if c.starts_with("22") && c.len() == 5 => {
                    return AppError::validation("input", "a value has the wrong format")
                }
                _ => {}
            }
        }
        if pool_timed_out(&err) {
            return AppError::Unavailable(format!("{POOL_TIMEOUT}{err}"));
        }
        if connection_lost(&err) {
            return AppError::Unavailable(err.to_string());
        }
        match &err {
            DbErr::Conn(_) | DbErr::ConnectionAcquire(_) => AppError::Unavailable(err.to_string()),
            DbErr::RecordNotFound(what) => AppError::NotFound(what.clone()),
            _ => AppError::from(anyhow::Error::new(err)),
        }
    }
}

/// The prefix of an `Unavailable` detail that was a wait for a pooled connection running
/// out: every connection busy, or none could be opened (sqlx says the same for both).
const POOL_TIMEOUT: &str = "pool: ";

fn pool_timed_out(err: &DbErr) -> bool {
    matches!(
        err,
        DbErr::ConnectionAcquire(sea_orm::ConnAcquireErr::Timeout)
            | DbErr::Exec(RuntimeErr::SqlxError(sea_orm::sqlx::Error::PoolTimedOut))
            | DbErr::Query(RuntimeErr::SqlxError(sea_orm::sqlx::Error::PoolTimedOut))
            | DbErr::Conn(RuntimeErr::SqlxError(sea_orm::sqlx::Error::PoolTimedOut))
    )
}

/// Whether an error means the database went away (connection closed, refused, timed out,
/// the server shutting down), as opposed to a problem with the statement.
fn connection_lost(err: &DbErr) -> bool {
    let runtime = match err {
        DbErr::Exec(RuntimeErr::SqlxError(e))
        | DbErr::Query(RuntimeErr::SqlxError(e))
        | DbErr::Conn(RuntimeErr::SqlxError(e)) => e,
        DbErr::ConnectionAcquire(_) => return true,
        _ => return false,
    };
    use sea_orm::sqlx::Error as E;
    match runtime {
        // Refused before anything was sent: a statement binding more parameters than
        // PostgreSQL allows (65,535) is a fault in the statement, the connection is fine.
        E::Protocol(msg) if msg.contains("too many arguments") => false,
        E::Io(_)
        | E::PoolTimedOut
        | E::PoolClosed
        | E::WorkerCrashed
        | E::Tls(_)
        | E::Protocol(_) => true,
        E::Database(db) => db
            .code()
            .is_some_and(|c| c.starts_with("08") || c.starts_with("57P") || c == "53300"),
        _ => false,
    }
}

fn sqlx_db_error(err: &DbErr) -> Option<&(dyn sea_orm::sqlx::error::DatabaseError + 'static)> {
    let runtime = match err {
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => e,
        DbErr::Conn(RuntimeErr::SqlxError(e)) => e,
        _ => return None,
    };
    match runtime {
        sea_orm::sqlx::Error::Database(db) => Some(db.as_ref()),
        _ => None,
    }
}

fn db_error_code(err: &DbErr) -> Option<String> {
    sqlx_db_error(err).and_then(|e| e.code().map(|c| c.into_owned()))
}

fn pg_constraint(err: &DbErr) -> Option<String> {
    sqlx_db_error(err).and_then(|e| e.constraint().map(str::to_string))
}

impl From<AppError> for async_graphql::Error {
    fn from(err: AppError) -> Self {
        err.extend()
    }
}

impl ErrorExtensions for AppError {
    fn extend(&self) -> async_graphql::Error {
        let message = match self {
            AppError::Internal(inner) => {
                let id = uuid::Uuid::new_v4();
                tracing::error!(error.id = %id, error = ?inner, "internal error");
                format!("internal error (reference {id})")
            }
            AppError::Unavailable(detail) => {
                tracing::warn!(error = %detail, "database unavailable");
                self.message()
            }
            AppError::TimedOut(detail) => {
                tracing::warn!(error = %detail, "statement timed out");
                self.message()
            }
            AppError::Unauthenticated(detail) => {
                tracing::debug!(reason = %detail, "unauthenticated");
                self.message()
            }
            other => other.message(),
        };
        async_graphql::Error::new(message).extend_with(|_, e| {
            e.set("code", self.code());
            match self {
                AppError::Validation { field, .. } => e.set("field", field.as_str()),
                AppError::Conflict {
                    current_version: Some(v),
                    ..
                } => e.set("currentVersion", *v),
                _ => {}
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_unique_message_names_the_column() {
        assert_eq!(
            sqlite_unique_field("UNIQUE constraint failed: regulatory_order.reference").as_deref(),
            Some("reference")
        );
        assert_eq!(
            sqlite_unique_field("UNIQUE constraint failed: finding.order_id, finding.number")
                .as_deref(),
            Some("number")
        );
    }

    #[test]
    fn internal_errors_do_not_leak() {
        let err = AppError::from(anyhow::anyhow!("relation \"secret_table\" does not exist"));
        let gql = err.extend();
        assert!(!gql.message.contains("secret_table"));
        assert!(gql.message.starts_with("internal error"));
    }

    #[test]
    fn a_statement_with_too_many_parameters_is_internal_not_unavailable() {
        use sea_orm::sqlx::Error as E;
        let too_many = DbErr::Query(RuntimeErr::SqlxError(E::Protocol(
            "PgConnection::run(): too many arguments for query: 100000".into(),
        )));
        assert_eq!(AppError::from(too_many).code(), "INTERNAL");
        let lost = DbErr::Query(RuntimeErr::SqlxError(E::Protocol(
            "unexpected message from the server".into(),
        )));
        assert_eq!(AppError::from(lost).code(), "SERVICE_UNAVAILABLE");
        let timed_out = DbErr::Query(RuntimeErr::SqlxError(E::PoolTimedOut));
        assert_eq!(AppError::from(timed_out).code(), "SERVICE_UNAVAILABLE");
    }

    #[test]
    fn codes_are_stable() {
        assert_eq!(AppError::validation("title", "empty").code(), "VALIDATION");
        assert_eq!(AppError::not_found("Measure").code(), "NOT_FOUND");
        assert_eq!(
            AppError::Conflict {
                message: "stale".into(),
                current_version: Some(3)
            }
            .code(),
            "CONFLICT"
        );
    }
}
