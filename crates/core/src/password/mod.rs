//! Password hashing. New passwords are hashed with Argon2id (PHC string format, OWASP
//! parameters by default); verification also accepts the `crypt(3)` family found in imported
//! user stores (Unix shadow files, FTP daemons, Apache htpasswd), so those users can log in
//! and be re-hashed on the spot (see [`needs_upgrade`]).
//!
//! | scheme | prefix | implemented by |
//! |---|---|---|
//! | argon2id (also argon2i, argon2d) | `$argon2id$` | `argon2` crate |
//! | yescrypt | `$y$` | `yescrypt` crate |
//! | sha512crypt / sha256crypt | `$6$` / `$5$` (optional `rounds=N$`) | `sha-crypt` crate |
//! | bcrypt | `$2a$` `$2b$` `$2y$` | `bcrypt` crate |
//! | scrypt | `$7$` | `scrypt` crate (KDF) + own parsing |
//! | md5crypt / apr1 | `$1$` / `$apr1$` | own code on `md-5` |
//! | descrypt | 13 characters, no prefix | own code |
//! | PBKDF2 (SFTPGo's encodings) | `$pbkdf2-sha1$` `$pbkdf2-sha256$` `$pbkdf2-sha512$` `$pbkdf2-b64salt-sha256$` | `pbkdf2` crate + own parsing |
//!
//! gost-yescrypt (`$gy$`) and other identifiable schemes are reported as
//! [`PasswordError::Unsupported`]. Computed and stored hashes are always compared in constant
//! time, and cost parameters taken from a stored hash are bounded
//! ([`MAX_VERIFY_MEMORY_BYTES`]) so a hostile string cannot exhaust memory.

mod argon2id;
mod crate_backed;
mod descrypt;
mod itoa64;
mod md5crypt;
mod pbkdf2_mcf;
mod scheme;
mod scrypt7;
#[cfg(test)]
mod tests;

use scheme::Scheme;

/// Most memory a single verification may use (for Argon2, scrypt and yescrypt hashes whose
/// parameters come from the stored string): 1 GiB.
pub const MAX_VERIFY_MEMORY_BYTES: u64 = 1 << 30;

/// Argon2id cost parameters for new hashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Params {
    /// Memory cost in KiB.
    pub m_cost_kib: u32,
    /// Number of passes.
    pub t_cost: u32,
    /// Degree of parallelism (lanes).
    pub p_cost: u32,
}

impl Default for Argon2Params {
    /// The OWASP recommendation: 19 MiB, 2 passes, 1 lane.
    fn default() -> Self {
        Argon2Params {
            m_cost_kib: 19_456,
            t_cost: 2,
            p_cost: 1,
        }
    }
}

/// Why a password could not be hashed or checked.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// The stored hash uses a scheme this module recognises but does not verify (e.g.
    /// `gost-yescrypt`), or an unknown `$id$` prefix.
    #[error("unsupported hash scheme: {0}")]
    Unsupported(String),
    /// The stored string is not a well-formed hash of its scheme.
    #[error("malformed password hash")]
    Malformed,
    /// Hashing itself failed (bad parameters, randomness or memory).
    #[error("password hashing failed: {0}")]
    Hashing(String),
}

/// Hashes `password` as an Argon2id PHC string with a random 16-byte salt from the OS.
///
/// # Errors
/// [`PasswordError::Hashing`] when `params` are invalid for Argon2 (e.g. memory below
/// 8 KiB per lane) or the OS random source fails.
pub fn hash_password(password: &str, params: &Argon2Params) -> Result<String, PasswordError> {
    argon2id::hash(password, params)
}

/// Checks `password` against a stored hash of any supported scheme.
///
/// `Ok(false)` means the password is wrong.
///
/// # Errors
/// - [`PasswordError::Unsupported`]: the scheme is recognised but not verifiable here
///   (gost-yescrypt, extended DES `_...`, `$2x$`, any other `$id$`).
/// - [`PasswordError::Malformed`]: `stored` is not a well-formed hash of its scheme.
/// - [`PasswordError::Hashing`]: its cost parameters exceed [`MAX_VERIFY_MEMORY_BYTES`], or
///   the computation itself failed.
pub fn verify_password(password: &str, stored: &str) -> Result<bool, PasswordError> {
    match Scheme::detect(stored) {
        Scheme::Argon2id | Scheme::Argon2i | Scheme::Argon2d => argon2id::verify(password, stored),
        Scheme::Yescrypt => crate_backed::verify_yescrypt(password, stored),
        Scheme::ShaCrypt(variant) => crate_backed::verify_sha_crypt(password, stored, variant),
        Scheme::Bcrypt => crate_backed::verify_bcrypt(password, stored),
        Scheme::Scrypt => scrypt7::verify(password, stored),
        Scheme::Md5Crypt(flavor) => md5crypt::verify(password, stored, flavor),
        Scheme::DesCrypt => descrypt::verify(password, stored),
        Scheme::Pbkdf2(kind) => pbkdf2_mcf::verify(password, stored, kind),
        Scheme::Unsupported(name) => Err(PasswordError::Unsupported(name)),
        Scheme::Malformed => Err(PasswordError::Malformed),
    }
}

/// True when `stored` should be replaced by a fresh [`hash_password`] after a successful
/// login: for every scheme other than Argon2id, and for Argon2id hashes that are not v1.3 or
/// have a lower memory, time or parallelism cost (or shorter salt/output) than `params`.
#[must_use]
pub fn needs_upgrade(stored: &str, params: &Argon2Params) -> bool {
    match Scheme::detect(stored) {
        Scheme::Argon2id => argon2id::needs_upgrade(stored, params),
        _ => true,
    }
}

/// The scheme of a stored hash, judged by its prefix: `"argon2id"`, `"yescrypt"`,
/// `"sha512crypt"`, `"sha256crypt"`, `"md5crypt"`, `"apr1"`, `"bcrypt"`, `"scrypt"`,
/// `"descrypt"`, `"pbkdf2-sha1"`, `"pbkdf2-sha256"`, `"pbkdf2-sha512"`, `"pbkdf2-b64salt-sha256"`,
/// also `"argon2i"` / `"argon2d"`; `"unknown"` for anything this module cannot
/// verify (including gost-yescrypt).
#[must_use]
pub fn scheme_name(stored: &str) -> &'static str {
    Scheme::detect(stored).name()
}
