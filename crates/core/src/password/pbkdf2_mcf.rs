//! PBKDF2 hashes as SFTPGo stores them: `$pbkdf2-<digest>$<iterations>$<salt>$<key>` with the
//! digest `sha1`, `sha256` or `sha512`, the salt taken as its text bytes, and the derived key in
//! standard base64 (padded); `$pbkdf2-b64salt-sha256$` is the same with a base64-encoded salt.
//! The key length is the stored key's. Iterations and key length are bounded, so a hostile
//! string cannot keep a CPU busy for minutes.

use data_encoding::BASE64;
use sha1::Sha1;
use sha2::{Sha256, Sha512};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::PasswordError;

/// Most iterations a stored PBKDF2 hash may ask for (SFTPGo's own default is 150,000 for
/// sha256; OWASP asks 600,000 for sha256 in 2023).
pub(super) const MAX_ITERATIONS: u32 = 5_000_000;
/// Longest derived key accepted, in bytes.
const MAX_KEY_BYTES: usize = 256;

/// The digest of a PBKDF2 hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Digest {
    Sha1,
    Sha256,
    Sha512,
}

/// Which SFTPGo encoding: the digest, and whether the salt is base64.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Pbkdf2Kind {
    pub digest: Digest,
    pub b64_salt: bool,
}

impl Pbkdf2Kind {
    /// The kind named by an MCF identifier (`pbkdf2-sha256`, …).
    pub(super) fn from_id(id: &str) -> Option<Pbkdf2Kind> {
        let (digest, b64_salt) = match id {
            "pbkdf2-sha1" => (Digest::Sha1, false),
            "pbkdf2-sha256" => (Digest::Sha256, false),
            "pbkdf2-sha512" => (Digest::Sha512, false),
            "pbkdf2-b64salt-sha256" => (Digest::Sha256, true),
            _ => return None,
        };
        Some(Pbkdf2Kind { digest, b64_salt })
    }

    pub(super) fn name(self) -> &'static str {
        match (self.digest, self.b64_salt) {
            (Digest::Sha1, _) => "pbkdf2-sha1",
            (Digest::Sha256, false) => "pbkdf2-sha256",
            (Digest::Sha256, true) => "pbkdf2-b64salt-sha256",
            (Digest::Sha512, _) => "pbkdf2-sha512",
        }
    }
}

/// Checks `password` against a stored `$pbkdf2-…$` hash of `kind`.
pub(super) fn verify(
    password: &str,
    stored: &str,
    kind: Pbkdf2Kind,
) -> Result<bool, PasswordError> {
    let mut parts = stored.split('$');
    let (Some(""), Some(_id), Some(iter), Some(salt), Some(key), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(PasswordError::Malformed);
    };
    let rounds: u32 = iter.parse().map_err(|_| PasswordError::Malformed)?;
    if rounds == 0 {
        return Err(PasswordError::Malformed);
    }
    if rounds > MAX_ITERATIONS {
        return Err(PasswordError::Hashing(format!(
            "pbkdf2 iterations {rounds} exceed the limit of {MAX_ITERATIONS}"
        )));
    }
    let expected = BASE64
        .decode(key.as_bytes())
        .map_err(|_| PasswordError::Malformed)?;
    if expected.is_empty() || expected.len() > MAX_KEY_BYTES {
        return Err(PasswordError::Malformed);
    }
    let salt = if kind.b64_salt {
        BASE64
            .decode(salt.as_bytes())
            .map_err(|_| PasswordError::Malformed)?
    } else {
        salt.as_bytes().to_vec()
    };
    let mut out = Zeroizing::new(vec![0u8; expected.len()]);
    let pw = password.as_bytes();
    match kind.digest {
        Digest::Sha1 => pbkdf2::pbkdf2_hmac::<Sha1>(pw, &salt, rounds, &mut out),
        Digest::Sha256 => pbkdf2::pbkdf2_hmac::<Sha256>(pw, &salt, rounds, &mut out),
        Digest::Sha512 => pbkdf2::pbkdf2_hmac::<Sha512>(pw, &salt, rounds, &mut out),
    }
    Ok(bool::from(out.as_slice().ct_eq(&expected)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Vectors made with Python's `hashlib.pbkdf2_hmac` (the first is SFTPGo's documented
    /// example for the password `password`).
    const VECTORS: [(&str, &str); 4] = [
        (
            "password",
            "$pbkdf2-sha256$150000$E86a9YMX3zC7$R5J62hsSq+pYw00hLLPKBbcGXmq7fj5+/M0IFoYtZbo=",
        ),
        (
            "Sftp-Pass1",
            "$pbkdf2-sha1$1000$saltsalt1$vW53RneVKM5WBk5px+jFlvuwQus=",
        ),
        (
            "Sftp-Pass2",
            "$pbkdf2-sha512$2000$nacl42$rA4glkyzFlFOidHxtiPwjQPn9SaJvuD1AN2A+y6SDK5f1e2+FWpCWEtVAwSk4UA5Yh0F/Mgb1V0G/hZuqtifZw==",
        ),
        (
            "Sftp-Pass3",
            "$pbkdf2-b64salt-sha256$3000$AAFiaW5hcnn/c2FsdA==$Y8gFJW9GSY7pbgwI5W4XkmbC5Cb61ra4sLvteiYReuk=",
        ),
    ];

    #[test]
    fn sftpgo_vectors_verify_and_wrong_passwords_do_not() {
        for (pw, stored) in VECTORS {
            assert!(
                matches!(super::super::verify_password(pw, stored), Ok(true)),
                "{stored}"
            );
            assert!(
                matches!(super::super::verify_password("wrong", stored), Ok(false)),
                "{stored}"
            );
        }
    }

    #[test]
    fn malformed_and_costly_hashes_are_refused() {
        let kind = Pbkdf2Kind::from_id("pbkdf2-sha256").unwrap_or_else(|| unreachable!());
        for bad in [
            "$pbkdf2-sha256$x$salt$AAAA",
            "$pbkdf2-sha256$0$salt$AAAA",
            "$pbkdf2-sha256$10$salt$not base64",
            "$pbkdf2-sha256$10$salt$",
            "$pbkdf2-sha256$10$salt",
            "$pbkdf2-sha256$10$salt$AAAA$extra",
        ] {
            assert!(
                matches!(verify("pw", bad, kind), Err(PasswordError::Malformed)),
                "{bad}"
            );
        }
        assert!(matches!(
            verify("pw", "$pbkdf2-sha256$4000000000$salt$AAAA", kind),
            Err(PasswordError::Hashing(_))
        ));
    }
}
