//! The one list of error kinds every transport shares, and the three places a kind becomes a
//! number: its HTTP status ([`ErrorKind::http_status`]), its LinOTP error code and status rule
//! ([`ErrorKind::linotp_code`], [`ErrorKind::linotp_fixed_status`]) and its process exit code
//! ([`ErrorKind::exit_code`]). Commands (`CommandError::kind`), the REST layer (`ApiError`) and
//! the LinOTP envelope all go through these functions; nothing else maps errors by hand.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What kind of failure an error is. The `snake_case` names ([`ErrorKind::as_str`]) are stable:
/// they appear in `--json` error results, logs and metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The words do not fit the command (unknown option, missing argument).
    Usage,
    /// An argument has a value the command refuses; the message names the argument where it
    /// is known. Its stable name is `invalid`.
    #[serde(rename = "invalid")]
    InvalidArgument,
    /// The object (user, token, key, session) does not exist.
    NotFound,
    /// The object exists already, or its state does not allow the change.
    Conflict,
    /// No credentials, or credentials that do not check out.
    Unauthorized,
    /// Authenticated, but not allowed.
    Forbidden,
    /// A backend (the database, a feature) is not there right now.
    Unavailable,
    /// Too much work in progress (password hashing): retry shortly.
    Overloaded,
    /// Too many attempts by this caller: retry after the time given.
    Throttled,
    /// Something failed that is not the caller's fault; details go to the log only.
    Internal,
}

impl ErrorKind {
    /// Every kind, for tests and documentation.
    pub const ALL: [ErrorKind; 10] = [
        ErrorKind::Usage,
        ErrorKind::InvalidArgument,
        ErrorKind::NotFound,
        ErrorKind::Conflict,
        ErrorKind::Unauthorized,
        ErrorKind::Forbidden,
        ErrorKind::Unavailable,
        ErrorKind::Overloaded,
        ErrorKind::Throttled,
        ErrorKind::Internal,
    ];

    /// The stable machine-readable name.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Usage => "usage",
            ErrorKind::InvalidArgument => "invalid",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Overloaded => "overloaded",
            ErrorKind::Throttled => "throttled",
            ErrorKind::Internal => "internal",
        }
    }

    /// The HTTP status of a REST answer (`{"error", "message", "status"}`).
    pub fn http_status(self) -> u16 {
        match self {
            ErrorKind::Usage | ErrorKind::InvalidArgument => 400,
            ErrorKind::Unauthorized => 401,
            ErrorKind::Forbidden => 403,
            ErrorKind::NotFound => 404,
            ErrorKind::Conflict => 409,
            ErrorKind::Throttled => 429,
            ErrorKind::Internal => 500,
            ErrorKind::Unavailable | ErrorKind::Overloaded => 503,
        }
    }

    /// Whether an answer of this kind carries `Retry-After`.
    pub fn retries(self) -> bool {
        matches!(self, ErrorKind::Overloaded | ErrorKind::Throttled)
    }

    /// The LinOTP error code (`result.error.code`): 905 for a bad request, 1102 for a missing
    /// object, 1101 for a conflict, -311 for authentication and permission failures, -1 for
    /// the rest.
    pub fn linotp_code(self) -> i64 {
        match self {
            ErrorKind::Usage | ErrorKind::InvalidArgument => 905,
            ErrorKind::NotFound => 1102,
            ErrorKind::Conflict => 1101,
            ErrorKind::Unauthorized | ErrorKind::Forbidden | ErrorKind::Throttled => -311,
            ErrorKind::Unavailable | ErrorKind::Overloaded | ErrorKind::Internal => -1,
        }
    }

    /// The HTTP status of a LinOTP error answer when it is fixed; `None` means LinOTP's rule
    /// for errors of the request itself: HTTP 200, or the status the client asked for with
    /// `httperror`. Authentication failures, permission failures, throttling and overload are
    /// not answers to the request and keep their own status (so that RADIUS front ends and PAM
    /// modules retry an overloaded server instead of taking it as a REJECT).
    pub fn linotp_fixed_status(self) -> Option<u16> {
        match self {
            ErrorKind::Unauthorized
            | ErrorKind::Forbidden
            | ErrorKind::Throttled
            | ErrorKind::Overloaded => Some(self.http_status()),
            ErrorKind::Usage
            | ErrorKind::InvalidArgument
            | ErrorKind::NotFound
            | ErrorKind::Conflict
            | ErrorKind::Unavailable
            | ErrorKind::Internal => None,
        }
    }

    /// The process exit code of `keyward manage` (and the management endpoint's `exit_code`):
    /// 2 for a usage error, 1 for every other failure.
    pub fn exit_code(self) -> i32 {
        match self {
            ErrorKind::Usage => 2,
            _ => 1,
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_stable_and_match_serde() {
        for kind in ErrorKind::ALL {
            let json = serde_json::to_value(kind).unwrap();
            assert_eq!(json, serde_json::json!(kind.as_str()));
            let back: ErrorKind = serde_json::from_value(json).unwrap();
            assert_eq!(back, kind);
        }
        assert_eq!(ErrorKind::InvalidArgument.as_str(), "invalid");
        assert_eq!(ErrorKind::NotFound.to_string(), "not_found");
    }

    #[test]
    fn the_three_mappings() {
        let table: [(ErrorKind, u16, i64, Option<u16>, i32); 10] = [
            (ErrorKind::Usage, 400, 905, None, 2),
            (ErrorKind::InvalidArgument, 400, 905, None, 1),
            (ErrorKind::NotFound, 404, 1102, None, 1),
            (ErrorKind::Conflict, 409, 1101, None, 1),
            (ErrorKind::Unauthorized, 401, -311, Some(401), 1),
            (ErrorKind::Forbidden, 403, -311, Some(403), 1),
            (ErrorKind::Unavailable, 503, -1, None, 1),
            (ErrorKind::Overloaded, 503, -1, Some(503), 1),
            (ErrorKind::Throttled, 429, -311, Some(429), 1),
            (ErrorKind::Internal, 500, -1, None, 1),
        ];
        for (kind, http, code, fixed, exit) in table {
            assert_eq!(kind.http_status(), http, "{kind}");
            assert_eq!(kind.linotp_code(), code, "{kind}");
            assert_eq!(kind.linotp_fixed_status(), fixed, "{kind}");
            assert_eq!(kind.exit_code(), exit, "{kind}");
        }
    }
}
