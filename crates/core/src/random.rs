//! Random bytes and identifiers from the operating system's CSPRNG.

use data_encoding::{BASE64URL_NOPAD, HEXLOWER};

/// Errors from the operating system's random source (practically never seen).
#[derive(Debug, thiserror::Error)]
#[error("the operating system's random source failed: {0}")]
pub struct RandomError(String);

/// Fills a fresh buffer of `N` bytes from the OS CSPRNG.
pub fn bytes<const N: usize>() -> Result<[u8; N], RandomError> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).map_err(|e| RandomError(e.to_string()))?;
    Ok(buf)
}

/// Fills a fresh vector of `len` bytes from the OS CSPRNG.
pub fn vec(len: usize) -> Result<Vec<u8>, RandomError> {
    let mut buf = vec![0u8; len];
    getrandom::fill(&mut buf).map_err(|e| RandomError(e.to_string()))?;
    Ok(buf)
}

/// A 256-bit secret rendered URL-safe (bearer tokens, API keys, access keys).
pub fn token_string() -> Result<String, RandomError> {
    Ok(BASE64URL_NOPAD.encode(&bytes::<32>()?))
}

/// A random lowercase hex string of `n_bytes` bytes.
pub fn hex(n_bytes: usize) -> Result<String, RandomError> {
    Ok(HEXLOWER.encode(&vec(n_bytes)?))
}

/// A uniformly random number below `bound` (rejection sampling, no modulo bias).
pub fn below(bound: u64) -> Result<u64, RandomError> {
    if bound <= 1 {
        return Ok(0);
    }
    let zone = u64::MAX - (u64::MAX % bound);
    loop {
        let v = u64::from_le_bytes(bytes::<8>()?);
        if v < zone {
            return Ok(v % bound);
        }
    }
}
