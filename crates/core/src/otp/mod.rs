//! One-time-password math: HOTP (RFC 4226) and TOTP (RFC 6238) generation and window search,
//! OTP key parsing and generation, token types and serial numbers, `otpauth://` key URIs and
//! QR-code rendering of them; OCRA challenge-response (RFC 6287).
//!
//! Everything here is pure: no IO, no clock (callers pass the current time in), and randomness
//! only through [`crate::random`]. Error messages never contain key material.

mod error;
mod hash;
mod hotp;
pub mod import;
mod key;
pub mod ocra;
pub mod qr;
mod serial;
mod token_type;
mod totp;
mod uri;

pub use error::OtpError;
pub use hash::HashAlg;
pub use hotp::{check_otplen, find_hotp, find_hotp_pair, hotp, is_otp_format, otp_eq};
pub use key::{KeyFormat, MAX_KEY_LEN, generate_key, parse_otpkey};
pub use qr::QrError;
pub use serial::generate_serial;
pub use token_type::TokenType;
pub use totp::{DEFAULT_STEP, find_totp, find_totp_pair, totp_step};
pub use uri::KeyUri;
