//! What a command returns: text (Psono's wording where the seeds show it) and a JSON value, plus
//! the error type every command shares. Transports print or send these unchanged, so local and
//! remote output are byte-for-byte the same.

pub use keyward_proto::ErrorKind;
use keyward_store::StoreError;
use serde_json::Value;

pub use crate::table::Table;

/// A command's successful result.
#[derive(Clone, Debug, PartialEq)]
pub struct Output {
    /// The text rendering, ending with a newline unless empty.
    pub text: String,
    /// The structured rendering (`--json`).
    pub json: Value,
    /// Details for the audit row of a changing command (never secrets).
    pub audit_details: Option<String>,
    /// Extra structured detail beside the JSON value (LinOTP's envelope `detail`).
    pub detail: Option<Value>,
    /// Keys LinOTP puts beside `status` and `value` inside `result` (e.g. `queried`).
    pub result_keys: serde_json::Map<String, Value>,
    /// The table of a list command (the text starts with it), for `--output csv` and for
    /// fitting it to the caller's terminal.
    pub table: Option<Table>,
    /// The command ran but did not do what was asked (e.g. a resync that found no OTPs): the
    /// CLI exits non-zero, while LinOTP's API answers `value: false` as LinOTP does.
    pub failed: bool,
}

impl Output {
    /// An output whose text is `text` (a newline is appended if missing).
    pub fn new(text: impl Into<String>, json: Value) -> Self {
        let mut text = text.into();
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        Output {
            text,
            json,
            audit_details: None,
            detail: None,
            result_keys: serde_json::Map::new(),
            table: None,
            failed: false,
        }
    }

    /// Attaches a list command's table; the text must start with `table.render(None)`.
    pub fn with_table(mut self, table: Table) -> Self {
        self.table = Some(table);
        self
    }

    /// Marks the result as a failure of what was asked (see [`Output::failed`]).
    pub fn as_failure(mut self) -> Self {
        self.failed = true;
        self
    }

    pub fn with_result_key(mut self, key: &str, value: Value) -> Self {
        self.result_keys.insert(key.to_string(), value);
        self
    }

    pub fn with_detail(mut self, detail: Value) -> Self {
        self.detail = Some(detail);
        self
    }

    pub fn with_audit(mut self, details: impl Into<String>) -> Self {
        self.audit_details = Some(details.into());
        self
    }
}

/// Which rendering a caller asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    /// The table of a list command as CSV (`--output csv`).
    Csv,
}

/// Why a command failed. Messages are one line, clear, and never contain secrets.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum CommandError {
    /// The arguments do not fit the command (exit code 2).
    #[error("{0}")]
    Usage(String),
    /// An argument's value is refused ([`ErrorKind::InvalidArgument`]); the message names the
    /// argument where it is known.
    #[error("{0}")]
    Invalid(String),
    /// A named argument or field (`email`, `filters.allowed_ip`, `--expiration-date`) has a
    /// value the command refuses ([`ErrorKind::InvalidArgument`]); `field` is the name a
    /// client can point at (REST answers carry it as `field`), `message` the whole sentence.
    #[error("{message}")]
    InvalidField { field: String, message: String },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Unavailable(String),
    /// Too much work in progress (e.g. password hashing): retry shortly (HTTP 503 with
    /// `Retry-After`).
    #[error("{0}")]
    Overloaded(String),
    #[error("{0}")]
    Internal(String),
    /// Too many attempts by this caller; it may retry after `retry_after` seconds (HTTP 429).
    #[error("{message}")]
    Throttled { message: String, retry_after: u64 },
}

impl CommandError {
    /// The stable kind: how every transport answers this error (HTTP status, LinOTP code,
    /// exit code — see [`ErrorKind`]).
    pub fn kind(&self) -> ErrorKind {
        match self {
            CommandError::Usage(_) => ErrorKind::Usage,
            CommandError::Invalid(_) | CommandError::InvalidField { .. } => {
                ErrorKind::InvalidArgument
            }
            CommandError::NotFound(_) => ErrorKind::NotFound,
            CommandError::Conflict(_) => ErrorKind::Conflict,
            CommandError::Forbidden(_) => ErrorKind::Forbidden,
            CommandError::Unavailable(_) => ErrorKind::Unavailable,
            CommandError::Overloaded(_) => ErrorKind::Overloaded,
            CommandError::Internal(_) => ErrorKind::Internal,
            CommandError::Throttled { .. } => ErrorKind::Throttled,
        }
    }

    /// Process exit code for this error (from its kind).
    pub fn exit_code(&self) -> i32 {
        self.kind().exit_code()
    }

    /// Seconds the caller should wait before retrying (throttled errors only).
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            CommandError::Throttled { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }

    pub fn invalid(e: impl std::fmt::Display) -> Self {
        CommandError::Invalid(e.to_string())
    }

    /// `field` refused: the message reads `field: detail`.
    pub fn invalid_field(field: &str, detail: impl std::fmt::Display) -> Self {
        CommandError::InvalidField {
            field: field.to_string(),
            message: format!("{field}: {detail}"),
        }
    }

    /// The argument or field an invalid-argument error names, when it names one.
    pub fn field(&self) -> Option<&str> {
        match self {
            CommandError::InvalidField { field, .. } => Some(field),
            _ => None,
        }
    }
}

impl From<StoreError> for CommandError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(_) | StoreError::LookAlike(_) => {
                CommandError::Conflict(e.to_string())
            }
            StoreError::NotFound(_) => CommandError::NotFound(e.to_string()),
            StoreError::LastSuperuser(_) => CommandError::Conflict(e.to_string()),
            StoreError::FirstUserAtConsole => CommandError::Forbidden(e.to_string()),
            StoreError::Connect { .. } | StoreError::BadUrl(_) | StoreError::Unavailable(_) => {
                CommandError::Unavailable(e.to_string())
            }
            StoreError::Db(_) if e.is_unreachable() => CommandError::Unavailable(
                e.to_string()
                    .replacen("database error", "database unreachable", 1),
            ),
            StoreError::Db(_) => CommandError::Internal(e.to_string()),
            other => CommandError::Internal(other.to_string()),
        }
    }
}

impl From<keyward_proto::user_check::FieldError> for CommandError {
    fn from(e: keyward_proto::user_check::FieldError) -> Self {
        CommandError::InvalidField {
            message: e.to_string(),
            field: e.field,
        }
    }
}

impl From<keyward_core::user::UserInputError> for CommandError {
    fn from(e: keyward_core::user::UserInputError) -> Self {
        CommandError::Invalid(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item19_writer_unavailability_is_unavailable_not_internal() {
        let e = CommandError::from(StoreError::Unavailable(
            "the database writer has stopped".into(),
        ));
        assert_eq!(e.kind(), ErrorKind::Unavailable);
        assert_eq!(
            e.to_string(),
            "database unavailable: the database writer has stopped"
        );
    }
}
