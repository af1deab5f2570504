//! Authenticated encryption of secrets at rest (OTP seeds, reversible PINs, resolver passwords).
//!
//! Each value is sealed with XChaCha20-Poly1305 under one 32-byte slot of the enckey, with a
//! random 192-bit nonce and caller-supplied associated data that names the row and column the value
//! belongs to (e.g. `token:OATH0001:seed`). A ciphertext copied into another row therefore fails to
//! open instead of silently decrypting. The stored text form is
//! `kw1.<slot>.<key id>.<base64url(nonce ‖ ciphertext ‖ tag)>`; the key id (first 4 bytes of
//! SHA-256 of the slot key) lets a wrong key be reported as such rather than as tampering.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use data_encoding::{BASE64URL_NOPAD, HEXLOWER};
use sha2::{Digest, Sha256};

use crate::enckey::{EncKey, KeySlot};

const PREFIX: &str = "kw1";
const NONCE_LEN: usize = 24;

/// Why a sealed value could not be opened (or sealed).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AeadError {
    #[error("encrypted value is malformed")]
    Malformed,
    #[error("encrypted value was sealed under another encryption key (key id {0})")]
    WrongKey(String),
    #[error("encrypted value failed authentication (tampered, or moved from another record)")]
    Tampered,
    #[error("random source failed")]
    Random,
}

/// The short public identifier of a slot key: hex of the first 4 bytes of its SHA-256.
pub fn key_id(key: &[u8; 32]) -> String {
    let digest = Sha256::digest(key);
    HEXLOWER.encode(digest.get(..4).unwrap_or_default())
}

/// Seals `plaintext` under the enckey slot, binding it to `associated_data`.
pub fn seal(
    enckey: &EncKey,
    slot: KeySlot,
    plaintext: &[u8],
    associated_data: &[u8],
) -> Result<String, AeadError> {
    let key = enckey.slot(slot);
    let cipher = XChaCha20Poly1305::new_from_slice(key).map_err(|_| AeadError::Malformed)?;
    let nonce_bytes = crate::random::bytes::<NONCE_LEN>().map_err(|_| AeadError::Random)?;
    let nonce = XNonce::from(nonce_bytes);
    let ciphertext = cipher
        .encrypt(
            &nonce,
            Payload {
                msg: plaintext,
                aad: associated_data,
            },
        )
        .map_err(|_| AeadError::Malformed)?;
    let mut blob = Vec::with_capacity(NONCE_LEN + ciphertext.len());
    blob.extend_from_slice(&nonce_bytes);
    blob.extend_from_slice(&ciphertext);
    Ok(format!(
        "{PREFIX}.{}.{}.{}",
        slot.index(),
        key_id(key),
        BASE64URL_NOPAD.encode(&blob)
    ))
}

/// Opens a value produced by [`seal`] with the same slot and associated data.
pub fn open(enckey: &EncKey, sealed: &str, associated_data: &[u8]) -> Result<Vec<u8>, AeadError> {
    let mut parts = sealed.split('.');
    let (Some(PREFIX), Some(slot), Some(kid), Some(body), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(AeadError::Malformed);
    };
    let slot = slot
        .parse::<u8>()
        .ok()
        .and_then(KeySlot::from_index)
        .ok_or(AeadError::Malformed)?;
    let key = enckey.slot(slot);
    if key_id(key) != kid {
        return Err(AeadError::WrongKey(kid.to_string()));
    }
    let blob = BASE64URL_NOPAD
        .decode(body.as_bytes())
        .map_err(|_| AeadError::Malformed)?;
    if blob.len() < NONCE_LEN + 16 {
        return Err(AeadError::Malformed);
    }
    let (nonce_bytes, ciphertext) = blob.split_at(NONCE_LEN);
    let nonce = XNonce::try_from(nonce_bytes).map_err(|_| AeadError::Malformed)?;
    let cipher = XChaCha20Poly1305::new_from_slice(key).map_err(|_| AeadError::Malformed)?;
    cipher
        .decrypt(
            &nonce,
            Payload {
                msg: ciphertext,
                aad: associated_data,
            },
        )
        .map_err(|_| AeadError::Tampered)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(fill: u8) -> EncKey {
        EncKey::from_bytes(&[fill; 96]).unwrap()
    }

    #[test]
    fn round_trip_returns_the_plaintext() {
        let k = key(7);
        let sealed = seal(&k, KeySlot::TokenSecrets, b"seed bytes", b"token:A:seed").unwrap();
        assert!(sealed.starts_with("kw1.0."));
        assert_eq!(open(&k, &sealed, b"token:A:seed").unwrap(), b"seed bytes");
    }

    #[test]
    fn same_plaintext_seals_differently_each_time() {
        let k = key(7);
        let a = seal(&k, KeySlot::TokenSecrets, b"x", b"ad").unwrap();
        let b = seal(&k, KeySlot::TokenSecrets, b"x", b"ad").unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn tampered_ciphertext_is_rejected() {
        let k = key(7);
        let sealed = seal(&k, KeySlot::ConfigSecrets, b"secret", b"ad").unwrap();
        let (head, body) = sealed.rsplit_once('.').unwrap();
        let mut blob = BASE64URL_NOPAD.decode(body.as_bytes()).unwrap();
        let last = blob.len() - 1;
        blob[last] ^= 1;
        let forged = format!("{head}.{}", BASE64URL_NOPAD.encode(&blob));
        assert_eq!(open(&k, &forged, b"ad"), Err(AeadError::Tampered));
    }

    #[test]
    fn wrong_key_is_reported_as_wrong_key() {
        let sealed = seal(&key(7), KeySlot::TokenSecrets, b"secret", b"ad").unwrap();
        assert!(matches!(
            open(&key(8), &sealed, b"ad"),
            Err(AeadError::WrongKey(_))
        ));
    }

    #[test]
    fn value_moved_to_another_row_fails() {
        let k = key(7);
        let sealed = seal(&k, KeySlot::TokenSecrets, b"secret", b"token:A:seed").unwrap();
        assert_eq!(open(&k, &sealed, b"token:B:seed"), Err(AeadError::Tampered));
    }

    #[test]
    fn slot_is_bound_by_key() {
        let k = EncKey::from_bytes(&(0..96).collect::<Vec<u8>>()).unwrap();
        let sealed = seal(&k, KeySlot::TokenSecrets, b"secret", b"ad").unwrap();
        let moved = sealed.replacen("kw1.0.", "kw1.1.", 1);
        assert!(matches!(
            open(&k, &moved, b"ad"),
            Err(AeadError::WrongKey(_))
        ));
    }

    #[test]
    fn garbage_is_malformed_not_a_panic() {
        let k = key(1);
        for bad in [
            "",
            "kw1",
            "kw1.0.x",
            "kw1.9.abcd.AAAA",
            "kw2.0.abcd.AAAA",
            "kw1.0.abcd.!!",
        ] {
            assert!(open(&k, bad, b"").is_err(), "{bad}");
        }
    }
}
