//! The error type shared by the OTP functions.

/// Why an OTP parameter, key or token type was rejected. Messages are one line and never contain
/// key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OtpError {
    #[error("unknown hash algorithm {0:?} (expected sha1, sha256 or sha512)")]
    UnknownHashlib(String),
    #[error("unsupported OTP length {0} (expected 6 or 8)")]
    BadOtpLen(i64),
    #[error("OTP key is not valid hex: {0}")]
    BadHex(String),
    #[error("OTP key is not valid base32")]
    BadBase32,
    #[error("unsupported OTP key size: {0} bytes")]
    BadKeySize(usize),
    #[error("unknown token type {0:?}")]
    UnknownTokenType(String),
    #[error("OTP value must consist of digits only")]
    NotNumeric,
    #[error("invalid OCRA suite {0}")]
    BadOcraSuite(String),
    #[error("invalid OCRA challenge: {0}")]
    BadOcraChallenge(String),
    #[error("the random source failed")]
    Random,
}
