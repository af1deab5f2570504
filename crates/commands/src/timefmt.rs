//! Human-readable times for command output (RFC 3339, UTC).

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Epoch seconds as `2026-11-24T10:00:00Z`.
pub fn rfc3339(secs: i64) -> String {
    OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| secs.to_string())
}

/// Like [`rfc3339`], `never` for none.
pub fn rfc3339_opt(secs: Option<i64>) -> String {
    secs.map(rfc3339).unwrap_or_else(|| "never".to_string())
}
