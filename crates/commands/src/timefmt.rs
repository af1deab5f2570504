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

/// The one duration syntax: a whole number with a unit `s`, `m`, `h`, `d` or `w` (`45s`, `30m`,
/// `3h`, `5d`, `2w`) → seconds; a bare number is seconds when `bare_is_seconds`. `None` when it
/// does not parse, is negative or overflows.
pub fn span_secs(text: &str, bare_is_seconds: bool) -> Option<i64> {
    let t = text.trim().to_ascii_lowercase();
    let (digits, unit) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&t[..i], c),
        Some(_) if bare_is_seconds => (t.as_str(), 's'),
        _ => return None,
    };
    let mult = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        'w' => 604_800,
        _ => return None,
    };
    let n: i64 = digits.parse().ok().filter(|n| *n >= 0)?;
    n.checked_mul(mult)
}
