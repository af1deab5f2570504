//! The kinds of token keyward manages, with their stored, LinOTP and privacyIDEA names.

use serde::{Deserialize, Serialize};

use super::OtpError;

/// A token's type. Serialised in lowercase (`hotp`, `totp`, `password`, `email`, `sms`,
/// `ocra2`); deserialisation also accepts the LinOTP names `hmac` and `pw` and privacyIDEA's
/// `spass`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenType {
    #[serde(alias = "hmac")]
    Hotp,
    Totp,
    #[serde(alias = "pw", alias = "spass")]
    Password,
    Email,
    Sms,
    Ocra2,
}

impl TokenType {
    /// Parses a type name case-insensitively: LinOTP's `hmac`, `totp`, `pw`, `email`, `sms`,
    /// `ocra2` and privacyIDEA's `hotp`, `spass` (plus `password`).
    pub fn parse(s: &str) -> Result<TokenType, OtpError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "hmac" | "hotp" => Ok(TokenType::Hotp),
            "totp" => Ok(TokenType::Totp),
            "pw" | "spass" | "password" => Ok(TokenType::Password),
            "email" => Ok(TokenType::Email),
            "sms" => Ok(TokenType::Sms),
            "ocra2" => Ok(TokenType::Ocra2),
            _ => Err(OtpError::UnknownTokenType(s.to_string())),
        }
    }

    /// The canonical stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenType::Hotp => "hotp",
            TokenType::Totp => "totp",
            TokenType::Password => "pw",
            TokenType::Email => "email",
            TokenType::Sms => "sms",
            TokenType::Ocra2 => "ocra2",
        }
    }

    /// The name LinOTP shows in `LinOtp.TokenType`.
    pub fn linotp_name(self) -> &'static str {
        match self {
            TokenType::Hotp => "HMAC",
            TokenType::Totp => "TOTP",
            TokenType::Password => "pw",
            TokenType::Email => "email",
            TokenType::Sms => "sms",
            TokenType::Ocra2 => "ocra2",
        }
    }

    /// The prefix of generated serial numbers.
    pub fn serial_prefix(self) -> &'static str {
        match self {
            TokenType::Hotp => "OATH",
            TokenType::Totp => "TOTP",
            TokenType::Password => "PW",
            TokenType::Email => "LSEM",
            TokenType::Sms => "LSSM",
            TokenType::Ocra2 => "LSOC",
        }
    }

    /// Whether the token carries an HMAC seed (every type except a static password).
    pub fn has_seed(self) -> bool {
        !matches!(self, TokenType::Password)
    }
}

impl std::fmt::Display for TokenType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for TokenType {
    type Err = OtpError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TokenType::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [TokenType; 6] = [
        TokenType::Hotp,
        TokenType::Totp,
        TokenType::Password,
        TokenType::Email,
        TokenType::Sms,
        TokenType::Ocra2,
    ];

    #[test]
    fn aliases() -> Result<(), OtpError> {
        assert_eq!(TokenType::parse("HMAC")?, TokenType::Hotp);
        assert_eq!(TokenType::parse("hotp")?, TokenType::Hotp);
        assert_eq!(TokenType::parse("TOTP")?, TokenType::Totp);
        assert_eq!(TokenType::parse("pw")?, TokenType::Password);
        assert_eq!(TokenType::parse("spass")?, TokenType::Password);
        assert_eq!(TokenType::parse("Password")?, TokenType::Password);
        assert_eq!(TokenType::parse("eMail")?, TokenType::Email);
        assert_eq!(TokenType::parse("SMS")?, TokenType::Sms);
        assert_eq!(TokenType::parse("OCRA2")?, TokenType::Ocra2);
        assert_eq!(
            TokenType::parse("yubikey"),
            Err(OtpError::UnknownTokenType("yubikey".into()))
        );
        Ok(())
    }

    #[test]
    fn names_round_trip() -> Result<(), OtpError> {
        for t in ALL {
            assert_eq!(TokenType::parse(t.as_str())?, t);
            assert_eq!(TokenType::parse(t.linotp_name())?, t);
        }
        assert_eq!(TokenType::Hotp.linotp_name(), "HMAC");
        assert_eq!(TokenType::Password.as_str(), "pw");
        assert!(!TokenType::Password.has_seed());
        assert!(ALL.iter().filter(|t| t.has_seed()).count() == 5);
        Ok(())
    }

    #[test]
    fn serde_names() -> Result<(), serde_json::Error> {
        assert_eq!(serde_json::to_string(&TokenType::Ocra2)?, "\"ocra2\"");
        assert_eq!(serde_json::to_string(&TokenType::Password)?, "\"password\"");
        assert_eq!(
            serde_json::from_str::<TokenType>("\"pw\"")?,
            TokenType::Password
        );
        assert_eq!(
            serde_json::from_str::<TokenType>("\"hmac\"")?,
            TokenType::Hotp
        );
        Ok(())
    }
}
