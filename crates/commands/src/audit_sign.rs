//! Ed25519 signatures over audit chain hashes (base64 text in the `signature` column).

use data_encoding::BASE64;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};

/// Signs a chained hash.
pub fn sign(key: &SigningKey, hash: &str) -> String {
    BASE64.encode(&key.sign(hash.as_bytes()).to_bytes())
}

/// Checks a signature made by [`sign`].
pub fn verify(key: &VerifyingKey, hash: &str, signature: &str) -> bool {
    let Ok(raw) = BASE64.decode(signature.as_bytes()) else {
        return false;
    };
    let Ok(sig) = Signature::from_slice(&raw) else {
        return false;
    };
    key.verify(hash.as_bytes(), &sig).is_ok()
}
