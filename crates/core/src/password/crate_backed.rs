//! Schemes verified by `RustCrypto` / community crates: SHA-crypt (`$5$`, `$6$`, via
//! `sha-crypt`), yescrypt (`$y$`, via `yescrypt`) and bcrypt (`$2a$`, `$2b$`, `$2y$`, via
//! `bcrypt`). Each string is checked for shape here first, so that the crates only ever see
//! well-formed input, costly parameters are bounded, and truncated hashes cannot slip through
//! as "empty output equals empty output". The crates compare digests in constant time
//! themselves (`ctutils` / `subtle`).
//!
//! Known limit: the `sha-crypt` and `yescrypt` parsers accept only the MCF field alphabet
//! `[A-Za-z0-9./+=,-]`, so a (hand-made) SHA-crypt salt with other characters is `Malformed`;
//! every tool-generated salt fits.

use sha_crypt::{PasswordVerifier, ShaCrypt, password_hash};
use yescrypt::Yescrypt;

use super::{MAX_VERIFY_MEMORY_BYTES, PasswordError, itoa64};

/// Which SHA-crypt variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ShaVariant {
    /// `$5$`, 32-byte digest.
    Sha256,
    /// `$6$`, 64-byte digest.
    Sha512,
}

impl ShaVariant {
    fn id(self) -> &'static str {
        match self {
            ShaVariant::Sha256 => "5",
            ShaVariant::Sha512 => "6",
        }
    }

    /// Length of the encoded digest.
    fn hash_len(self) -> usize {
        match self {
            ShaVariant::Sha256 => 43,
            ShaVariant::Sha512 => 86,
        }
    }
}

/// SHA-crypt salts are at most 16 characters (longer ones are truncated when hashing, so a
/// stored hash never carries one).
const SHA_MAX_SALT_LEN: usize = 16;
/// Bounds of `rounds=N` (N outside them is never written by crypt implementations).
const SHA_ROUNDS: core::ops::RangeInclusive<u32> = 1_000..=999_999_999;

/// Maps an error of a `password-hash` verifier: a mismatch is `Ok(false)`, resource or
/// internal failures are `Hashing`, everything else means the stored string is bad.
fn map_verify(result: password_hash::Result<()>) -> Result<bool, PasswordError> {
    match result {
        Ok(()) => Ok(true),
        Err(password_hash::Error::PasswordInvalid) => Ok(false),
        Err(
            e @ (password_hash::Error::OutOfMemory
            | password_hash::Error::Internal
            | password_hash::Error::Crypto
            | password_hash::Error::RngFailure),
        ) => Err(PasswordError::Hashing(e.to_string())),
        Err(_) => Err(PasswordError::Malformed),
    }
}

/// The `$`-separated fields after the scheme id, e.g. `["rounds=5000", "salt", "hash"]`.
fn fields<'a>(stored: &'a str, id: &str) -> Result<Vec<&'a str>, PasswordError> {
    let rest = stored
        .strip_prefix('$')
        .and_then(|s| s.strip_prefix(id))
        .and_then(|s| s.strip_prefix('$'))
        .ok_or(PasswordError::Malformed)?;
    Ok(rest.split('$').collect())
}

/// Verifies a `$5$` / `$6$` string, with or without `rounds=N$`.
pub(super) fn verify_sha_crypt(
    password: &str,
    stored: &str,
    variant: ShaVariant,
) -> Result<bool, PasswordError> {
    let fields = fields(stored, variant.id())?;
    let (salt, hash) = match fields.as_slice() {
        [salt, hash] => (*salt, *hash),
        [rounds, salt, hash] => {
            let rounds: u32 = rounds
                .strip_prefix("rounds=")
                .filter(|n| !n.starts_with('+'))
                .and_then(|n| n.parse().ok())
                .ok_or(PasswordError::Malformed)?;
            if !SHA_ROUNDS.contains(&rounds) {
                return Err(PasswordError::Malformed);
            }
            (*salt, *hash)
        }
        _ => return Err(PasswordError::Malformed),
    };
    if salt.is_empty()
        || salt.len() > SHA_MAX_SALT_LEN
        || salt.starts_with("rounds=")
        || hash.len() != variant.hash_len()
        || !itoa64::is_itoa64(hash)
    {
        return Err(PasswordError::Malformed);
    }
    map_verify(ShaCrypt::default().verify_password(password.as_bytes(), stored))
}

/// Encoded length of yescrypt's 32-byte output.
const YESCRYPT_HASH_LEN: usize = 43;

/// Verifies a `$y$` string.
pub(super) fn verify_yescrypt(password: &str, stored: &str) -> Result<bool, PasswordError> {
    let fields = fields(stored, "y")?;
    let [params, salt, hash] = fields.as_slice() else {
        return Err(PasswordError::Malformed);
    };
    if salt.is_empty() || hash.len() != YESCRYPT_HASH_LEN || !itoa64::is_itoa64(hash) {
        return Err(PasswordError::Malformed);
    }
    let params: yescrypt::Params = params.parse().map_err(|_| PasswordError::Malformed)?;
    // The big array is 128 * r * N bytes, plus 128 * r * p of working blocks.
    let block = 128 * u128::from(params.r());
    let memory = block * u128::from(params.n()) + block * u128::from(params.p());
    if memory > u128::from(MAX_VERIFY_MEMORY_BYTES) {
        return Err(PasswordError::Hashing(format!(
            "yescrypt parameters need {memory} bytes, over the verification limit"
        )));
    }
    map_verify(Yescrypt::default().verify_password(password.as_bytes(), stored))
}

/// Verifies a `$2a$` / `$2b$` / `$2y$` string (60 characters).
pub(super) fn verify_bcrypt(password: &str, stored: &str) -> Result<bool, PasswordError> {
    let known_prefix = ["$2a$", "$2b$", "$2y$"]
        .iter()
        .any(|prefix| stored.starts_with(prefix));
    if !known_prefix || stored.len() != 60 || !stored.is_ascii() {
        return Err(PasswordError::Malformed);
    }
    bcrypt::verify(password, stored).map_err(|_| PasswordError::Malformed)
}

#[cfg(test)]
mod tests {

    use super::*;

    #[test]
    fn sha_crypt_edge_cases() {
        // Reference values produced by the system's libxcrypt `crypt(3)`.
        for (password, hash, variant) in [
            (
                "Hello world!",
                "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1",
                ShaVariant::Sha512,
            ),
            (
                "Hello world!",
                "$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5",
                ShaVariant::Sha256,
            ),
            (
                "Hello world!",
                "$5$rounds=10000$saltstringsaltst$3xv.VbSHBb41AL9AvLeujZkZRBAwqFMz2.opqey6IcA",
                ShaVariant::Sha256,
            ),
            (
                "",
                "$6$rounds=1000$a$q/ZSdy9IBSzcpbaIjdRTOu569QiYiP4n7Ab08Oq1Ir6J.GD1xR3BAwRIYHnavtE1Wzodknd9BxknlHhFBP/az1",
                ShaVariant::Sha512,
            ),
        ] {
            assert!(verify_sha_crypt(password, hash, variant).unwrap(), "{hash}");
            assert!(
                !verify_sha_crypt("Hello world?", hash, variant).unwrap(),
                "{hash}"
            );
        }

        for bad in [
            "$6$",
            "$6$salt",
            "$6$salt$",
            "$6$rounds=10$salt$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1",
            "$6$rounds=x$salt$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1",
            "$6$a$b$c$d",
            "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl",
        ] {
            assert!(
                matches!(
                    verify_sha_crypt("x", bad, ShaVariant::Sha512),
                    Err(PasswordError::Malformed)
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn yescrypt_shape_and_cost_checks() {
        let hash = "LXalYzimG4lWLJ4jmiFnNDR83Du9Iqpsph7B4mqCf10";
        for bad in [
            "$y$x".to_string(),
            "$y$j9T$salt".to_string(),
            format!("$y$j9T$$${hash}"),
            "$y$j9T$salt$short".to_string(),
        ] {
            assert!(
                matches!(verify_yescrypt("x", &bad), Err(PasswordError::Malformed)),
                "{bad}"
            );
        }
        // N = 2^40 is far beyond the memory limit: refused before any allocation.
        assert!(matches!(
            verify_yescrypt("x", &format!("$y$jbT$Xu3j0AaeuKQ1uyvwZc7TI.${hash}")),
            Err(PasswordError::Hashing(_))
        ));
    }

    #[test]
    fn bcrypt_prefixes() {
        let h = "$2b$05$eHqO78UjiQitGtDfMCHt1eYx4dxhNCreGegLj048617wnZM1HcrMm";
        assert!(verify_bcrypt("Hash-Test-1", h).unwrap());
        let y = h.replacen("$2b$", "$2y$", 1);
        assert!(verify_bcrypt("Hash-Test-1", &y).unwrap());
        let x = h.replacen("$2b$", "$2x$", 1);
        assert!(verify_bcrypt("Hash-Test-1", &x).is_err());
        assert!(verify_bcrypt("Hash-Test-1", &h[..59]).is_err());
    }
}
