//! Generation of token serial numbers: the type's prefix followed by 8 random uppercase hex digits.

use data_encoding::HEXUPPER;

use super::{OtpError, TokenType};

/// A new serial such as `OATH1F0C9A7B`: `t.serial_prefix()` plus 8 random uppercase hex digits.
pub fn generate_serial(t: TokenType) -> Result<String, OtpError> {
    let r = crate::random::bytes::<4>().map_err(|_| OtpError::Random)?;
    Ok(format!("{}{}", t.serial_prefix(), HEXUPPER.encode(&r)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_format() -> Result<(), OtpError> {
        for (t, prefix) in [
            (TokenType::Hotp, "OATH"),
            (TokenType::Totp, "TOTP"),
            (TokenType::Password, "PW"),
            (TokenType::Email, "LSEM"),
            (TokenType::Sms, "LSSM"),
            (TokenType::Ocra2, "LSOC"),
        ] {
            let s = generate_serial(t)?;
            let rest = s.strip_prefix(prefix).ok_or(OtpError::Random)?;
            assert_eq!(rest.len(), 8, "{s}");
            assert!(
                rest.bytes()
                    .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b)),
                "{s}"
            );
        }
        assert_ne!(
            generate_serial(TokenType::Hotp)?,
            generate_serial(TokenType::Hotp)?
        );
        Ok(())
    }
}
