//! The one place keyward writes CSV cells (`audit dump`, `token show --outform csv`): text a
//! spreadsheet would run as a formula — a cell starting with `=`, `+`, `-`, `@`, a tab or a
//! carriage return — gets a leading `'`, since such text may come from an attacker (an attempted
//! username, a token description).

use std::borrow::Cow;

/// Whether a spreadsheet would treat `s` as a formula.
fn looks_like_formula(s: &str) -> bool {
    s.starts_with(['=', '+', '-', '@', '\t', '\r'])
}

/// `s` made inert for spreadsheets: a leading `'` when it looks like a formula.
pub fn defuse(s: &str) -> Cow<'_, str> {
    if looks_like_formula(s) {
        Cow::Owned(format!("'{s}"))
    } else {
        Cow::Borrowed(s)
    }
}

/// An RFC 4180 cell of values keyward made itself (hashes, signatures, numbers): quoted when it
/// holds a separator, quote or line break; otherwise unchanged.
pub fn raw_cell(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// An RFC 4180 cell of free text: defused, then quoted as needed.
pub fn text_cell(s: &str) -> String {
    raw_cell(&defuse(s))
}

/// A cell of LinOTP's token CSV (`'value'; `, quotes doubled) holding free text: defused first.
pub fn linotp_text_cell(s: &str) -> String {
    linotp_raw_cell(&defuse(s))
}

/// A cell of LinOTP's token CSV holding a value keyward made (a number, a flag).
pub fn linotp_raw_cell(s: &str) -> String {
    format!("'{}'; ", s.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item15_formula_cells_are_defused_everywhere() {
        for bad in ["=1+1", "+1", "-2+3", "@SUM(A1)", "\tx", "\rx"] {
            assert!(
                text_cell(bad).trim_start_matches('"').starts_with('\''),
                "{bad:?}"
            );
            assert!(linotp_text_cell(bad).starts_with("'''"), "{bad:?}");
        }
        assert_eq!(text_cell("plain"), "plain");
        assert_eq!(text_cell("a,b"), "\"a,b\"");
        assert_eq!(text_cell("=a,b"), "\"'=a,b\"");
        assert_eq!(raw_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(raw_cell("+sig/=="), "+sig/==");
        assert_eq!(linotp_text_cell("it's"), "'it''s'; ");
        assert_eq!(linotp_raw_cell("-30"), "'-30'; ");
    }
}
