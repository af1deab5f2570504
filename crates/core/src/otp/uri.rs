//! `otpauth://` key URIs (the Google Authenticator "Key Uri Format") for enrolling a token in an
//! authenticator app.

use data_encoding::BASE32_NOPAD;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::{HashAlg, TokenType, totp::DEFAULT_STEP};

/// The parts of a key URI. `account` is the user name shown in the app; callers pass the token
/// serial there when the token has no user. An empty `issuer` leaves out the issuer prefix and
/// parameter.
#[derive(Clone, Copy, Debug)]
pub struct KeyUri<'a> {
    pub token_type: TokenType,
    pub issuer: &'a str,
    pub account: &'a str,
    pub key: &'a [u8],
    pub alg: HashAlg,
    pub digits: u32,
    pub counter: u64,
    pub period: u32,
}

impl KeyUri<'_> {
    /// Renders
    /// `otpauth://TYPE/ISSUER:ACCOUNT?secret=BASE32&issuer=ISSUER&algorithm=SHA1&digits=6&counter=N`
    /// (TOTP ends with `&period=30` instead of the counter; a period of 0 means 30). Only
    /// [`TokenType::Totp`] yields a `totp` URI; every other type is rendered as `hotp`. Label and
    /// issuer are percent-encoded, keeping only RFC 3986 unreserved characters.
    pub fn to_uri(&self) -> String {
        let issuer = percent_encode(self.issuer);
        let account = percent_encode(self.account);
        let label = match (issuer.is_empty(), account.is_empty()) {
            (true, _) => account,
            (false, true) => issuer.clone(),
            (false, false) => format!("{issuer}:{account}"),
        };
        let kind = if self.token_type == TokenType::Totp {
            "totp"
        } else {
            "hotp"
        };
        let mut uri = format!(
            "otpauth://{kind}/{label}?secret={}",
            BASE32_NOPAD.encode(self.key)
        );
        if !issuer.is_empty() {
            uri.push_str("&issuer=");
            uri.push_str(&issuer);
        }
        uri.push_str("&algorithm=");
        uri.push_str(self.alg.uri_name());
        uri.push_str(&format!("&digits={}", self.digits));
        if kind == "totp" {
            let period = if self.period == 0 {
                DEFAULT_STEP
            } else {
                self.period
            };
            uri.push_str(&format!("&period={period}"));
        } else {
            uri.push_str(&format!("&counter={}", self.counter));
        }
        uri
    }
}

/// Every byte except the RFC 3986 unreserved characters (`A-Z a-z 0-9 - . _ ~`) is escaped.
const LABEL_ESCAPES: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes the UTF-8 text, keeping only the RFC 3986 unreserved characters.
fn percent_encode(s: &str) -> String {
    utf8_percent_encode(s, LABEL_ESCAPES).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> KeyUri<'static> {
        KeyUri {
            token_type: TokenType::Hotp,
            issuer: "ACME Co",
            account: "jane.doe@example.com",
            key: b"12345678901234567890",
            alg: HashAlg::Sha1,
            digits: 6,
            counter: 7,
            period: 30,
        }
    }

    #[test]
    fn hotp_uri() {
        assert_eq!(
            base().to_uri(),
            "otpauth://hotp/ACME%20Co:jane.doe%40example.com\
             ?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=ACME%20Co\
             &algorithm=SHA1&digits=6&counter=7"
        );
    }

    #[test]
    fn totp_uri() {
        let u = KeyUri {
            token_type: TokenType::Totp,
            issuer: "keyward",
            account: "TOTP0001A2B3",
            alg: HashAlg::Sha256,
            digits: 8,
            period: 0,
            key: &[0xff, 0x00, 0x10],
            ..base()
        };
        assert_eq!(
            u.to_uri(),
            "otpauth://totp/keyward:TOTP0001A2B3?secret=74ABA&issuer=keyward\
             &algorithm=SHA256&digits=8&period=30"
        );
    }

    #[test]
    fn no_issuer_and_unicode() {
        let u = KeyUri {
            issuer: "",
            account: "jürgen:x/y?&=",
            ..base()
        };
        assert_eq!(
            u.to_uri(),
            "otpauth://hotp/j%C3%BCrgen%3Ax%2Fy%3F%26%3D\
             ?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&algorithm=SHA1&digits=6&counter=7"
        );
    }

    #[test]
    fn encoder() {
        assert_eq!(percent_encode("Az09-._~"), "Az09-._~");
        assert_eq!(percent_encode("a b+c"), "a%20b%2Bc");
        // Upper-case hex digits, every byte of a multi-byte character, and `%` itself escaped.
        assert_eq!(percent_encode("ü%é"), "%C3%BC%25%C3%A9");
        assert_eq!(percent_encode("!*'()"), "%21%2A%27%28%29");
    }
}
