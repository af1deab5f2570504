//! Argon2 in the PHC string format (`$argon2id$v=19$m=...,t=...,p=...$salt$hash`): the scheme
//! every new password is hashed with, plus verification of argon2id/argon2i/argon2d strings
//! from elsewhere (e.g. Pure-FTPd) and the "is this hash weaker than policy" check.

use argon2::{Algorithm, Argon2, PasswordHash, PasswordHasher, Version};
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

use super::{Argon2Params, MAX_VERIFY_MEMORY_BYTES, PasswordError};

/// Bytes of random salt in new hashes.
const SALT_LEN: usize = 16;
/// Bytes of output in new hashes (and the minimum that does not trigger an upgrade).
const OUTPUT_LEN: usize = 32;

/// Hashes `password` into a fresh Argon2id v1.3 PHC string with a random 16-byte salt.
pub(super) fn hash(password: &str, params: &Argon2Params) -> Result<String, PasswordError> {
    let params = argon2::Params::new(
        params.m_cost_kib,
        params.t_cost,
        params.p_cost,
        Some(OUTPUT_LEN),
    )
    .map_err(|e| PasswordError::Hashing(format!("invalid Argon2 parameters: {e}")))?;
    let mut salt = [0u8; SALT_LEN];
    getrandom::fill(&mut salt)
        .map_err(|e| PasswordError::Hashing(format!("operating system random source: {e}")))?;
    let phc = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map_err(|e| PasswordError::Hashing(format!("argon2: {e}")))?;
    Ok(phc.to_string())
}

/// A parsed Argon2 PHC string.
struct Parsed {
    algorithm: Algorithm,
    version: Version,
    params: argon2::Params,
    salt_len: usize,
    hash: PasswordHash,
}

/// Parses and validates a PHC string; `Malformed` for anything that is not a usable
/// argon2id/argon2i/argon2d hash.
fn parse(stored: &str) -> Result<Parsed, PasswordError> {
    let hash = PasswordHash::new(stored).map_err(|_| PasswordError::Malformed)?;
    let algorithm =
        Algorithm::new(hash.algorithm.as_str()).map_err(|_| PasswordError::Malformed)?;
    // A PHC string without `v=` predates the version field, i.e. Argon2 1.0 (0x10).
    let version = match hash.version {
        None => Version::V0x10,
        Some(v) => Version::try_from(v).map_err(|_| PasswordError::Malformed)?,
    };
    let params = argon2::Params::try_from(&hash).map_err(|_| PasswordError::Malformed)?;
    let salt_len = hash
        .salt
        .as_ref()
        .map(|s| s.len())
        .ok_or(PasswordError::Malformed)?;
    if hash.hash.is_none() {
        return Err(PasswordError::Malformed);
    }
    Ok(Parsed {
        algorithm,
        version,
        params,
        salt_len,
        hash,
    })
}

/// Verifies `password` against an Argon2 PHC string.
pub(super) fn verify(password: &str, stored: &str) -> Result<bool, PasswordError> {
    let parsed = parse(stored)?;
    let memory = u64::from(parsed.params.m_cost()) * 1024;
    if memory > MAX_VERIFY_MEMORY_BYTES {
        return Err(PasswordError::Hashing(format!(
            "argon2 parameters need {memory} bytes, over the verification limit"
        )));
    }
    let (Some(salt), Some(expected)) = (&parsed.hash.salt, &parsed.hash.hash) else {
        return Err(PasswordError::Malformed);
    };
    let mut computed = vec![0u8; expected.len()];
    let result = Argon2::new(parsed.algorithm, parsed.version, parsed.params.clone())
        .hash_password_into(password.as_bytes(), salt, &mut computed);
    let outcome = match result {
        Ok(()) => Ok(computed.ct_eq(expected.as_bytes()).into()),
        Err(argon2::Error::OutOfMemory) => {
            Err(PasswordError::Hashing("argon2: out of memory".to_string()))
        }
        Err(_) => Err(PasswordError::Malformed),
    };
    computed.zeroize();
    outcome
}

/// True when `stored` should be re-hashed under `policy`: it is not Argon2id v1.3, cannot be
/// parsed, or has a lower memory, time or parallelism cost, a shorter salt or a shorter
/// output than new hashes get.
pub(super) fn needs_upgrade(stored: &str, policy: &Argon2Params) -> bool {
    let Ok(parsed) = parse(stored) else {
        return true;
    };
    let output_len = parsed
        .hash
        .hash
        .as_ref()
        .map_or(0, argon2::password_hash::phc::Output::len);
    parsed.algorithm != Algorithm::Argon2id
        || parsed.version != Version::V0x13
        || parsed.params.m_cost() < policy.m_cost_kib
        || parsed.params.t_cost() < policy.t_cost
        || parsed.params.p_cost() < policy.p_cost
        || parsed.salt_len < SALT_LEN
        || output_len < OUTPUT_LEN
}

#[cfg(test)]
mod tests {

    use super::*;

    /// Small parameters so the tests stay fast.
    const FAST: Argon2Params = Argon2Params {
        m_cost_kib: 256,
        t_cost: 1,
        p_cost: 1,
    };

    #[test]
    fn round_trip() {
        let h = hash("correct horse", &FAST).unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=256,t=1,p=1$"), "{h}");
        assert!(verify("correct horse", &h).unwrap());
        assert!(!verify("correct horse!", &h).unwrap());
        assert!(!verify("", &h).unwrap());
        // Fresh salt every time.
        assert_ne!(h, hash("correct horse", &FAST).unwrap());
    }

    #[test]
    fn invalid_policy_is_a_hashing_error() {
        let bad = Argon2Params {
            m_cost_kib: 1,
            t_cost: 1,
            p_cost: 1,
        };
        assert!(matches!(hash("x", &bad), Err(PasswordError::Hashing(_))));
    }

    #[test]
    fn other_argon2_variants_and_versions_verify() {
        let params = argon2::Params::new(64, 1, 1, None).unwrap();
        for (alg, ver) in [
            (Algorithm::Argon2i, Version::V0x13),
            (Algorithm::Argon2d, Version::V0x13),
            (Algorithm::Argon2id, Version::V0x10),
        ] {
            let h = Argon2::new(alg, ver, params.clone())
                .hash_password_with_salt(b"pw", b"saltsaltsalt")
                .unwrap()
                .to_string();
            assert!(verify("pw", &h).unwrap(), "{h}");
            assert!(!verify("pv", &h).unwrap(), "{h}");
            assert!(needs_upgrade(&h, &FAST), "{h}");
        }
    }

    #[test]
    fn upgrade_policy() {
        let h = hash("x", &FAST).unwrap();
        assert!(!needs_upgrade(&h, &FAST));
        for stronger in [
            Argon2Params {
                m_cost_kib: 512,
                ..FAST
            },
            Argon2Params { t_cost: 2, ..FAST },
            Argon2Params { p_cost: 2, ..FAST },
            Argon2Params::default(),
        ] {
            assert!(needs_upgrade(&h, &stronger));
        }
        // A hash stronger than the policy is kept.
        let strong = hash(
            "x",
            &Argon2Params {
                m_cost_kib: 512,
                t_cost: 2,
                p_cost: 2,
            },
        )
        .unwrap();
        assert!(!needs_upgrade(&strong, &FAST));
        assert!(needs_upgrade("$argon2id$garbage", &FAST));
    }

    #[test]
    fn malformed_and_hostile_strings() {
        for bad in [
            "$argon2id$garbage",
            "$argon2id$v=19$m=256,t=1,p=1$c2FsdHNhbHQ",
            "$argon2id$v=19$m=256,t=1,p=1$c2FsdHNhbHQ$",
            "$argon2id$v=18$m=256,t=1,p=1$c2FsdHNhbHRzYWx0$AAAAAAAAAAAAAAAAAAAAAA",
            "$argon2id$v=19$m=1,t=1,p=1$c2FsdHNhbHRzYWx0$AAAAAAAAAAAAAAAAAAAAAA",
            "$argon2id$v=19$m=256,t=0,p=1$c2FsdHNhbHRzYWx0$AAAAAAAAAAAAAAAAAAAAAA",
            "$argon2id$v=19$m=256,t=1,p=1$c2FsdA$AAAAAAAAAAAAAAAAAAAAAA",
            "$argon2x$v=19$m=256,t=1,p=1$c2FsdHNhbHRzYWx0$AAAAAAAAAAAAAAAAAAAAAA",
        ] {
            assert!(
                matches!(verify("x", bad), Err(PasswordError::Malformed)),
                "{bad}"
            );
        }
        let huge = "$argon2id$v=19$m=4294967295,t=1,p=1$c2FsdHNhbHRzYWx0$AAAAAAAAAAAAAAAAAAAAAA";
        assert!(matches!(verify("x", huge), Err(PasswordError::Hashing(_))));
    }
}
