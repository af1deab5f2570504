//! OTP seeds: parsing a key given as hex or base32, and generating fresh random keys.

use data_encoding::{Encoding, HEXLOWER_PERMISSIVE, Specification};

use super::OtpError;

/// The largest accepted OTP key, in bytes.
pub const MAX_KEY_LEN: usize = 128;

/// How a textual OTP key is encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyFormat {
    Hex,
    Base32,
}

impl KeyFormat {
    /// `hex` or `base32` (case-insensitive); anything else is `None`.
    pub fn parse(s: &str) -> Option<KeyFormat> {
        match s.trim().to_ascii_lowercase().as_str() {
            "hex" => Some(KeyFormat::Hex),
            "base32" => Some(KeyFormat::Base32),
            _ => None,
        }
    }
}

/// RFC 4648 base32 without padding that tolerates non-zero trailing bits, as authenticator
/// apps produce for secrets whose length is not a multiple of 5 bytes.
fn base32_lenient() -> Result<Encoding, OtpError> {
    let mut spec = Specification::new();
    spec.symbols.push_str("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567");
    spec.check_trailing_bits = false;
    spec.encoding().map_err(|_| OtpError::BadBase32)
}

/// Parses an OTP key. Hex: surrounding whitespace trimmed, either case, even length. Base32:
/// case-insensitive, whitespace and `=` padding ignored. The key must have 1..=128 bytes.
pub fn parse_otpkey(s: &str, format: KeyFormat) -> Result<Vec<u8>, OtpError> {
    let key = match format {
        KeyFormat::Hex => {
            let t = s.trim();
            if !t.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(OtpError::BadHex("not hexadecimal".into()));
            }
            if t.len() % 2 == 1 {
                return Err(OtpError::BadHex("odd length".into()));
            }
            HEXLOWER_PERMISSIVE
                .decode(t.as_bytes())
                .map_err(|_| OtpError::BadHex("not hexadecimal".into()))?
        }
        KeyFormat::Base32 => {
            let t: String = s
                .chars()
                .filter(|c| !c.is_whitespace() && *c != '=')
                .map(|c| c.to_ascii_uppercase())
                .collect();
            base32_lenient()?
                .decode(t.as_bytes())
                .map_err(|_| OtpError::BadBase32)?
        }
    };
    if key.is_empty() || key.len() > MAX_KEY_LEN {
        return Err(OtpError::BadKeySize(key.len()));
    }
    Ok(key)
}

/// A fresh random key of `len` bytes from the OS CSPRNG; `len` must be 20, 32 or 64.
pub fn generate_key(len: usize) -> Result<Vec<u8>, OtpError> {
    if !matches!(len, 20 | 32 | 64) {
        return Err(OtpError::BadKeySize(len));
    }
    crate::random::vec(len).map_err(|_| OtpError::Random)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_keys() -> Result<(), OtpError> {
        assert_eq!(
            parse_otpkey(
                " 3132333435363738393031323334353637383930\n",
                KeyFormat::Hex
            )?,
            b"12345678901234567890"
        );
        assert_eq!(parse_otpkey("aBcD", KeyFormat::Hex)?, [0xab, 0xcd]);
        assert_eq!(
            parse_otpkey("abc", KeyFormat::Hex),
            Err(OtpError::BadHex("odd length".into()))
        );
        assert_eq!(
            parse_otpkey("abcg", KeyFormat::Hex),
            Err(OtpError::BadHex("not hexadecimal".into()))
        );
        assert_eq!(
            parse_otpkey("ab cd", KeyFormat::Hex),
            Err(OtpError::BadHex("not hexadecimal".into()))
        );
        assert_eq!(
            parse_otpkey("", KeyFormat::Hex),
            Err(OtpError::BadKeySize(0))
        );
        assert_eq!(
            parse_otpkey("  ", KeyFormat::Hex),
            Err(OtpError::BadKeySize(0))
        );
        assert_eq!(
            parse_otpkey(&"00".repeat(129), KeyFormat::Hex),
            Err(OtpError::BadKeySize(129))
        );
        assert_eq!(parse_otpkey(&"00".repeat(128), KeyFormat::Hex)?.len(), 128);
        Ok(())
    }

    #[test]
    fn base32_keys() -> Result<(), OtpError> {
        assert_eq!(
            parse_otpkey("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", KeyFormat::Base32)?,
            b"12345678901234567890"
        );
        assert_eq!(
            parse_otpkey("gezd gnbv gy3t qojq gezd gnbv gy3t qojq", KeyFormat::Base32)?,
            b"12345678901234567890"
        );
        // "f" with RFC 4648 padding.
        assert_eq!(parse_otpkey("MY======", KeyFormat::Base32)?, b"f");
        assert_eq!(parse_otpkey("MZXW6===", KeyFormat::Base32)?, b"foo");
        assert_eq!(
            parse_otpkey("GEZDGNBV1", KeyFormat::Base32),
            Err(OtpError::BadBase32)
        );
        assert_eq!(
            parse_otpkey("A", KeyFormat::Base32),
            Err(OtpError::BadBase32)
        );
        assert_eq!(
            parse_otpkey("", KeyFormat::Base32),
            Err(OtpError::BadKeySize(0))
        );
        assert_eq!(
            parse_otpkey("====", KeyFormat::Base32),
            Err(OtpError::BadKeySize(0))
        );
        Ok(())
    }

    #[test]
    fn format_names() {
        assert_eq!(KeyFormat::parse("HEX"), Some(KeyFormat::Hex));
        assert_eq!(KeyFormat::parse("base32"), Some(KeyFormat::Base32));
        assert_eq!(KeyFormat::parse("b64"), None);
    }

    #[test]
    fn generated_keys() -> Result<(), OtpError> {
        for len in [20, 32, 64] {
            let a = generate_key(len)?;
            let b = generate_key(len)?;
            assert_eq!(a.len(), len);
            assert_ne!(a, b);
        }
        assert_eq!(generate_key(16), Err(OtpError::BadKeySize(16)));
        assert_eq!(generate_key(0), Err(OtpError::BadKeySize(0)));
        Ok(())
    }
}
