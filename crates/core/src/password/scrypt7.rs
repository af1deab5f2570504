//! scrypt in the libxcrypt `$7$` encoding (`mkpasswd -m scrypt`):
//! `$7$` + log2(N) as one itoa64 character + r and p as five-character little-endian itoa64
//! fields + the salt string, then `$` and the 43-character hash. The hash is
//! `scrypt(password, salt string bytes, N, r, p, 32 bytes)` in little-endian itoa64.
//!
//! The parsing is done here (not by the `scrypt` crate's MCF support) so that hostile
//! parameters are rejected before any work or allocation happens.

use subtle::ConstantTimeEq;
use zeroize::Zeroize;

use super::{MAX_VERIFY_MEMORY_BYTES, PasswordError, itoa64};

/// Length of the encoded 32-byte hash.
const HASH_LEN: usize = 43;
/// Bytes of scrypt output behind [`HASH_LEN`].
const OUTPUT_LEN: usize = 32;
/// Length of the parameter prefix of the setting field: 1 (log2 N) + 5 (r) + 5 (p).
const PARAMS_LEN: usize = 11;

/// Verifies `password` against a `$7$...` string.
pub(super) fn verify(password: &str, stored: &str) -> Result<bool, PasswordError> {
    let rest = stored.strip_prefix("$7$").ok_or(PasswordError::Malformed)?;
    let (setting, hash) = rest.split_once('$').ok_or(PasswordError::Malformed)?;
    if hash.len() != HASH_LEN || !itoa64::is_itoa64(hash) {
        return Err(PasswordError::Malformed);
    }
    let (log_n, r, p, salt) = parse_setting(setting)?;
    check_cost(log_n, r, p)?;
    let params = scrypt::Params::new(log_n, r, p).map_err(|_| PasswordError::Malformed)?;

    let mut output = [0u8; OUTPUT_LEN];
    scrypt::scrypt(password.as_bytes(), salt.as_bytes(), &params, &mut output)
        .map_err(|e| PasswordError::Hashing(format!("scrypt: {e}")))?;
    let computed = itoa64::encode_bytes_le(&output);
    output.zeroize();
    Ok(computed.as_bytes().ct_eq(hash.as_bytes()).into())
}

/// Splits the setting field into log2(N), r, p and the salt string.
fn parse_setting(setting: &str) -> Result<(u8, u32, u32, &str), PasswordError> {
    if setting.len() < PARAMS_LEN || !setting.is_char_boundary(PARAMS_LEN) {
        return Err(PasswordError::Malformed);
    }
    let (params, salt) = setting.split_at(PARAMS_LEN);
    let field = |range: core::ops::Range<usize>| -> Result<u32, PasswordError> {
        params
            .get(range)
            .and_then(itoa64::decode_le)
            .and_then(|v| u32::try_from(v).ok())
            .ok_or(PasswordError::Malformed)
    };
    let log_n = u8::try_from(field(0..1)?).map_err(|_| PasswordError::Malformed)?;
    let r = field(1..6)?;
    let p = field(6..11)?;
    Ok((log_n, r, p, salt))
}

/// Rejects parameters that are invalid for scrypt or would need more memory than a
/// verification is allowed to take.
fn check_cost(log_n: u8, r: u32, p: u32) -> Result<(), PasswordError> {
    if !(1..64).contains(&log_n) || r == 0 || p == 0 {
        return Err(PasswordError::Malformed);
    }
    // scrypt's own limit: r * p < 2^30 (checked here in 64 bits, before the crate does it
    // in 32-bit arithmetic).
    if u64::from(r) * u64::from(p) >= 1 << 30 {
        return Err(PasswordError::Malformed);
    }
    let block = 128 * u128::from(r);
    let memory = (block << log_n) + block * u128::from(p);
    if memory > u128::from(MAX_VERIFY_MEMORY_BYTES) {
        return Err(PasswordError::Hashing(format!(
            "scrypt parameters need {memory} bytes, over the verification limit"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {

    use super::*;

    #[test]
    fn reference_vector_verifies() {
        // From `mkpasswd --method=scrypt` (the test vector the `scrypt` crate uses too).
        let hash =
            "$7$CU..../....Mq4YHD2syxYT.MsH1Ek0n1$JyHIxez0DOwm0r6.kAIohc8UFBOLU4xX8a1wGBpLrw7";
        assert!(verify("pleaseletmein", hash).unwrap());
        assert!(!verify("pleaseletmeout", hash).unwrap());
    }

    #[test]
    fn setting_is_decoded() {
        let (log_n, r, p, salt) = parse_setting("CU..../....Mq4YHD2syxYT").unwrap();
        assert_eq!((log_n, r, p, salt), (14, 32, 1, "Mq4YHD2syxYT"));
    }

    #[test]
    fn hostile_or_broken_parameters_are_rejected() {
        let hash = "JyHIxez0DOwm0r6.kAIohc8UFBOLU4xX8a1wGBpLrw7";
        // N = 2^62: far over the memory limit.
        assert!(matches!(
            verify("x", &format!("$7$yU..../....salt${hash}")),
            Err(PasswordError::Hashing(_))
        ));
        // r * p overflows 32 bits.
        assert!(matches!(
            verify("x", &format!("$7$CzzzzzzzzzzXsalt${hash}")),
            Err(PasswordError::Malformed)
        ));
        for bad in [
            "$7$".to_string(),
            "$7$CU..../....salt".to_string(),
            format!("$7$CU..../...${hash}"),
            format!("$7$.U..../....salt${hash}"),
            format!("$7$C.......//..salt${hash}"),
            format!("$7$CU..../....salt${hash}x"),
            format!("$7$CU..é./....salt${hash}"),
        ] {
            assert!(
                matches!(verify("x", &bad), Err(PasswordError::Malformed)),
                "{bad}"
            );
        }
    }
}
