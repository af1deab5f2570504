//! MD5-crypt (`$1$`, Poul-Henning Kamp's FreeBSD scheme) and its Apache variant (`$apr1$`,
//! identical except for the magic string mixed into the digest). Verification only: both are
//! long broken as password hashes and are accepted solely so imported users can log in once
//! and be upgraded to Argon2id.

use md5::{Digest, Md5};
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

use super::{PasswordError, itoa64};

/// Which of the two MD5-crypt flavours a hash uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Flavor {
    /// `$1$`: FreeBSD / glibc / OpenSSL `passwd -1`.
    Md5Crypt,
    /// `$apr1$`: Apache htpasswd / OpenSSL `passwd -apr1`.
    Apr1,
}

impl Flavor {
    fn magic(self) -> &'static str {
        match self {
            Flavor::Md5Crypt => "$1$",
            Flavor::Apr1 => "$apr1$",
        }
    }
}

/// The salt is at most eight characters; longer salts are truncated by the algorithm, so a
/// stored hash can never legitimately carry one.
const MAX_SALT_LEN: usize = 8;

/// Length of the encoded 128-bit digest.
const HASH_LEN: usize = 22;

/// Number of strengthening rounds, fixed by the scheme.
const ROUNDS: usize = 1000;

/// Verifies `password` against a `$1$salt$hash` or `$apr1$salt$hash` string.
pub(super) fn verify(password: &str, stored: &str, flavor: Flavor) -> Result<bool, PasswordError> {
    let rest = stored
        .strip_prefix(flavor.magic())
        .ok_or(PasswordError::Malformed)?;
    let (salt, hash) = rest.split_once('$').ok_or(PasswordError::Malformed)?;
    if salt.len() > MAX_SALT_LEN || hash.len() != HASH_LEN || !itoa64::is_itoa64(hash) {
        return Err(PasswordError::Malformed);
    }
    let computed = encode(&digest(password.as_bytes(), salt.as_bytes(), flavor));
    Ok(computed.as_bytes().ct_eq(hash.as_bytes()).into())
}

/// The 16-byte MD5-crypt result for `password` and (already truncated) `salt`.
fn digest(password: &[u8], salt: &[u8], flavor: Flavor) -> [u8; 16] {
    // The "alternate" digest: MD5(password || salt || password).
    let mut alternate: [u8; 16] = Md5::new()
        .chain_update(password)
        .chain_update(salt)
        .chain_update(password)
        .finalize()
        .into();

    let mut ctx = Md5::new();
    ctx.update(password);
    ctx.update(flavor.magic().as_bytes());
    ctx.update(salt);
    // One byte of the alternate digest per password byte, cycling through it.
    for chunk in password.chunks(16) {
        ctx.update(alternate.get(..chunk.len()).unwrap_or(&[]));
    }
    // For every bit of the password length, low bit first: a NUL byte for a one bit, the first
    // password byte for a zero bit (the historical quirk that every implementation keeps).
    let first = password.get(..1).unwrap_or(&[]);
    let mut len = password.len();
    while len != 0 {
        if len & 1 == 1 {
            ctx.update([0u8]);
        } else {
            ctx.update(first);
        }
        len >>= 1;
    }
    let mut result: [u8; 16] = ctx.finalize().into();

    // A thousand rounds mixing the previous result, the password and the salt.
    for round in 0..ROUNDS {
        let mut ctx = Md5::new();
        if round % 2 == 1 {
            ctx.update(password);
        } else {
            ctx.update(result);
        }
        if round % 3 != 0 {
            ctx.update(salt);
        }
        if round % 7 != 0 {
            ctx.update(password);
        }
        if round % 2 == 1 {
            ctx.update(result);
        } else {
            ctx.update(password);
        }
        result = ctx.finalize().into();
    }

    alternate.zeroize();
    result
}

/// The 22-character encoding: five three-byte groups taken in the scheme's fixed shuffled
/// order, then the last byte alone, each written least significant six bits first.
fn encode(d: &[u8; 16]) -> String {
    const GROUPS: [[usize; 3]; 5] = [[0, 6, 12], [1, 7, 13], [2, 8, 14], [3, 9, 15], [4, 10, 5]];
    let byte = |i: usize| u64::from(d.get(i).copied().unwrap_or(0));
    let mut out = String::with_capacity(HASH_LEN);
    for [a, b, c] in GROUPS {
        itoa64::push_le(&mut out, (byte(a) << 16) | (byte(b) << 8) | byte(c), 4);
    }
    itoa64::push_le(&mut out, byte(11), 2);
    out
}

#[cfg(test)]
mod tests {

    use super::*;

    /// Reference values produced by the system's libxcrypt `crypt(3)` (`$1$`) and by
    /// `openssl passwd -apr1` (`$apr1$`).
    const VECTORS: &[(&str, &str, Flavor)] = &[
        ("", "$1$saltsalt$5Jhcit4zN9UlGiA0txPkO0", Flavor::Md5Crypt),
        ("a", "$1$saltsalt$MzDjbImyzEz2m0NTiPzNW/", Flavor::Md5Crypt),
        (
            "password",
            "$1$saltsalt$qjXMvbEw8oaL.CzflDtaK/",
            Flavor::Md5Crypt,
        ),
        (
            "abcdefghijklmnopqrstuvwxyz0123456789!",
            "$1$saltsalt$aPjJlBelLNKt4mtrRQwtR.",
            Flavor::Md5Crypt,
        ),
        (
            "été-Pass",
            "$1$saltsalt$EtV178.myRCowUKsV0//2.",
            Flavor::Md5Crypt,
        ),
        (
            "Hash-Test-1",
            "$1$$CGdv1FuV1KkpNbpv5mzC3.",
            Flavor::Md5Crypt,
        ),
        ("", "$apr1$r31.....$iQoXxeL5pW.kaXVrniDCU0", Flavor::Apr1),
        ("a", "$apr1$r31.....$s7OSk4uJoyS8elmZY5Ru40", Flavor::Apr1),
        (
            "Hash-Test-1",
            "$apr1$r31.....$1acT6sqvPkEet5Cg18Sqa1",
            Flavor::Apr1,
        ),
        (
            "abcdefghijklmnopqrstuvwxyz0123456789!",
            "$apr1$r31.....$Hv8WL.MWZpWNMkySJEUWF/",
            Flavor::Apr1,
        ),
        ("x", "$apr1$$jYtXyIcDHukcQfHjblNhq/", Flavor::Apr1),
    ];

    #[test]
    fn reference_vectors_verify() {
        for &(password, hash, flavor) in VECTORS {
            assert!(verify(password, hash, flavor).unwrap(), "{hash}");
            assert!(!verify("wrong", hash, flavor).unwrap(), "{hash}");
        }
    }

    #[test]
    fn flavors_are_not_interchangeable() {
        assert!(verify("a", "$1$saltsalt$MzDjbImyzEz2m0NTiPzNW/", Flavor::Apr1).is_err());
        assert!(!verify("a", "$1$r31.....$s7OSk4uJoyS8elmZY5Ru40", Flavor::Md5Crypt).unwrap());
    }

    #[test]
    fn malformed_hashes_are_errors() {
        for bad in [
            "$1$",
            "$1$abc",
            "$1$abc$",
            "$1$abc$short",
            "$1$saltsalt$5Jhcit4zN9UlGiA0txPkO0x",
            "$1$saltsalt$5Jhcit4zN9UlGiA0txPkO$",
            "$1$toolongsalt$5Jhcit4zN9UlGiA0txPkO0",
            "$1$saltsalt$5Jhcit4zN9UlGiA0txPké",
        ] {
            assert!(
                matches!(
                    verify("x", bad, Flavor::Md5Crypt),
                    Err(PasswordError::Malformed)
                ),
                "{bad}"
            );
        }
    }
}
