//! Token import files (LinOTP `/admin/loadtokens`): OATH CSV ([`oath_csv`]) and PSKC, RFC 6030
//! ([`pskc`]), parsed — and, for PSKC, decrypted and MAC-checked — into [`ImportedToken`]s.
//!
//! Pure like the rest of [`crate::otp`]: the caller hands in the file's text and the unlocking
//! secret, nothing here reads files or the clock. Both parsers refuse input above
//! [`MAX_IMPORT_BYTES`] or with more than [`MAX_IMPORT_TOKENS`] tokens, reject a serial that
//! appears twice, and never put a seed, password or key into an error message.

pub mod oath_csv;
pub mod pskc;

use std::collections::HashSet;

use zeroize::{Zeroize, ZeroizeOnDrop};

use super::{HashAlg, MAX_KEY_LEN, TokenType};

/// The largest import file accepted, in bytes.
pub const MAX_IMPORT_BYTES: usize = 10 * 1024 * 1024;
/// The most tokens one import file may hold.
pub const MAX_IMPORT_TOKENS: usize = 100_000;
/// The longest serial accepted (as `token init` allows).
pub const MAX_SERIAL_LEN: usize = 64;

/// One token read from an import file. The seed is wiped from memory when the value is dropped,
/// and `Debug` does not show it.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct ImportedToken {
    #[zeroize(skip)]
    pub serial: String,
    #[zeroize(skip)]
    pub token_type: TokenType,
    /// The HMAC seed.
    pub key: Vec<u8>,
    /// Digits of an OTP value: 6 or 8.
    #[zeroize(skip)]
    pub otplen: u32,
    #[zeroize(skip)]
    pub hashlib: HashAlg,
    /// The HOTP counter to continue from (0 for TOTP).
    #[zeroize(skip)]
    pub counter: u64,
    /// The TOTP time step in seconds (30 unless the file says otherwise).
    #[zeroize(skip)]
    pub time_step: u32,
    /// Seconds to add to the clock before computing a TOTP step, as keyward's `time_shift`:
    /// `-T0` of a PSKC `Time` plus `TimeDrift` steps (0 for everything else).
    #[zeroize(skip)]
    pub time_shift: i64,
    /// The user the file names for the token (PSKC `UserId`), if any.
    #[zeroize(skip)]
    pub user: Option<String>,
    /// Descriptive fields the file carries, kept as token info (PSKC `Issuer`, `Model`,
    /// `Manufacturer`, and the `Key` `Id` when `SerialNo` names the token).
    #[zeroize(skip)]
    pub info: Vec<(String, String)>,
}

impl std::fmt::Debug for ImportedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportedToken")
            .field("serial", &self.serial)
            .field("token_type", &self.token_type)
            .field("key", &format_args!("<{} bytes>", self.key.len()))
            .field("otplen", &self.otplen)
            .field("hashlib", &self.hashlib)
            .field("counter", &self.counter)
            .field("time_step", &self.time_step)
            .field("time_shift", &self.time_shift)
            .field("user", &self.user)
            .finish()
    }
}

/// Why an import file was refused. Messages are one line, name the line, key id or serial at
/// fault, and never contain key material or the unlocking secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    #[error("the token file is too large ({size} bytes; at most {MAX_IMPORT_BYTES})")]
    TooLarge { size: usize },
    #[error("the token file holds more than {MAX_IMPORT_TOKENS} tokens")]
    TooManyTokens,
    #[error("the token file holds no tokens")]
    NoTokens,
    #[error("serial \"{0}\" appears more than once in the token file")]
    DuplicateSerial(String),
    #[error("OATH CSV line {line}: {reason}")]
    Csv { line: usize, reason: String },
    #[error("PSKC: {0}")]
    Pskc(String),
    #[error("PSKC: wrong password or key")]
    WrongKey,
    #[error("PSKC: MAC mismatch for key {0} (the file was altered or the key is wrong)")]
    MacMismatch(String),
    #[error(
        "PSKC: the secrets are encrypted; give the password (pskc_type=password, \
         pskc_password) or the pre-shared key (pskc_type=key, pskc_preshared)"
    )]
    NeedsDecryption,
}

/// Refuses oversized input before any parsing.
fn check_size(text: &str) -> Result<(), ImportError> {
    if text.len() > MAX_IMPORT_BYTES {
        return Err(ImportError::TooLarge { size: text.len() });
    }
    Ok(())
}

/// A serial as `token init` accepts it: 1-64 printable ASCII characters. The message shows at
/// most the first 64 characters of a bad one.
fn check_serial(serial: &str) -> Result<(), String> {
    if serial.is_empty() {
        return Err("the serial is empty".into());
    }
    if serial.len() > MAX_SERIAL_LEN || !serial.chars().all(|c| c.is_ascii_graphic()) {
        let shown: String = serial.chars().take(MAX_SERIAL_LEN).collect();
        return Err(format!(
            "serial {shown:?} is not 1-{MAX_SERIAL_LEN} printable ASCII characters"
        ));
    }
    Ok(())
}

/// A seed of 1..=128 bytes.
fn check_key_len(len: usize) -> Result<(), String> {
    if len == 0 || len > MAX_KEY_LEN {
        return Err(format!(
            "the secret has {len} bytes (expected 1 to {MAX_KEY_LEN})"
        ));
    }
    Ok(())
}

/// Collects tokens, enforcing the count limit and unique serials.
#[derive(Default)]
struct Collector {
    tokens: Vec<ImportedToken>,
    serials: HashSet<String>,
}

impl Collector {
    fn push(&mut self, token: ImportedToken) -> Result<(), ImportError> {
        if self.tokens.len() >= MAX_IMPORT_TOKENS {
            return Err(ImportError::TooManyTokens);
        }
        if !self.serials.insert(token.serial.clone()) {
            return Err(ImportError::DuplicateSerial(token.serial.clone()));
        }
        self.tokens.push(token);
        Ok(())
    }

    fn finish(self) -> Result<Vec<ImportedToken>, ImportError> {
        if self.tokens.is_empty() {
            return Err(ImportError::NoTokens);
        }
        Ok(self.tokens)
    }
}
