//! The encryption key ("enckey"): 96 random bytes holding three independent 32-byte keys, as in
//! privacyIDEA — one for token secrets, one for config secrets (resolver/SMTP passwords), one for
//! other values. The file is either the raw 96 bytes, or a passphrase-protected text form
//! `$kwenc$v=1$m=<KiB>,t=<iter>,p=<lanes>$<salt>$<sealed>` (Argon2id-derived key, XChaCha20-Poly1305).

use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use data_encoding::{BASE64, BASE64URL_NOPAD};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Length of a raw enckey in bytes.
pub const ENCKEY_LEN: usize = 96;
const PROTECTED_PREFIX: &str = "$kwenc$v=1$";
const PROTECTED_AD: &[u8] = b"keyward-enckey-v1";

/// Which of the three keys in the enckey a value is sealed under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeySlot {
    TokenSecrets,
    ConfigSecrets,
    Values,
}

impl KeySlot {
    pub fn index(self) -> u8 {
        match self {
            KeySlot::TokenSecrets => 0,
            KeySlot::ConfigSecrets => 1,
            KeySlot::Values => 2,
        }
    }

    pub fn from_index(i: u8) -> Option<Self> {
        match i {
            0 => Some(KeySlot::TokenSecrets),
            1 => Some(KeySlot::ConfigSecrets),
            2 => Some(KeySlot::Values),
            _ => None,
        }
    }
}

/// Problems reading, decoding or unlocking an enckey.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EncKeyError {
    #[error("enckey must be exactly {ENCKEY_LEN} bytes, got {0}")]
    WrongLength(usize),
    #[error("enckey base64 is not valid base64")]
    BadBase64,
    #[error("enckey file is corrupt or not an enckey")]
    Corrupt,
    #[error(
        "enckey is passphrase-protected: set KEYWARD_ENCKEY_PASSPHRASE or KEYWARD_ENCKEY_PASSPHRASE_FILE"
    )]
    PassphraseRequired,
    #[error("wrong passphrase for the enckey")]
    WrongPassphrase,
    #[error("enckey passphrase must not be empty")]
    EmptyPassphrase,
    #[error("random source failed")]
    Random,
}

/// The three 32-byte keys; wiped from memory on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct EncKey {
    keys: [[u8; 32]; 3],
}

impl std::fmt::Debug for EncKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EncKey(..)")
    }
}

impl EncKey {
    /// Builds a key from exactly 96 raw bytes.
    pub fn from_bytes(raw: &[u8]) -> Result<Self, EncKeyError> {
        if raw.len() != ENCKEY_LEN {
            return Err(EncKeyError::WrongLength(raw.len()));
        }
        let mut keys = [[0u8; 32]; 3];
        for (slot, chunk) in keys.iter_mut().zip(raw.chunks_exact(32)) {
            slot.copy_from_slice(chunk);
        }
        Ok(EncKey { keys })
    }

    /// A fresh key from the OS CSPRNG.
    pub fn generate() -> Result<Self, EncKeyError> {
        let raw = crate::random::bytes::<ENCKEY_LEN>().map_err(|_| EncKeyError::Random)?;
        Self::from_bytes(&raw)
    }

    /// Decodes `--enckey_b64`: standard base64 of exactly 96 bytes.
    pub fn from_base64(b64: &str) -> Result<Self, EncKeyError> {
        let raw = BASE64
            .decode(b64.trim().as_bytes())
            .map_err(|_| EncKeyError::BadBase64)?;
        Self::from_bytes(&raw)
    }

    /// The raw 96 bytes, for writing the key file.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.keys.concat()
    }

    pub fn slot(&self, slot: KeySlot) -> &[u8; 32] {
        match slot {
            KeySlot::TokenSecrets => &self.keys[0],
            KeySlot::ConfigSecrets => &self.keys[1],
            KeySlot::Values => &self.keys[2],
        }
    }

    /// Parses a key file's contents; a protected file needs `passphrase`.
    pub fn from_file_contents(
        contents: &[u8],
        passphrase: Option<&str>,
    ) -> Result<Self, EncKeyError> {
        if is_protected(contents) {
            let text = std::str::from_utf8(contents).map_err(|_| EncKeyError::Corrupt)?;
            let pass = passphrase.ok_or(EncKeyError::PassphraseRequired)?;
            return unprotect(text.trim(), pass);
        }
        if contents.len() != ENCKEY_LEN {
            return Err(EncKeyError::Corrupt);
        }
        Self::from_bytes(contents)
    }

    /// The passphrase-protected text form of this key (Argon2id with the given costs).
    pub fn protect(&self, passphrase: &str, cost: &ProtectCost) -> Result<String, EncKeyError> {
        if passphrase.is_empty() {
            return Err(EncKeyError::EmptyPassphrase);
        }
        let salt = crate::random::bytes::<16>().map_err(|_| EncKeyError::Random)?;
        let wrapping = derive(passphrase, &salt, cost)?;
        let nonce_bytes = crate::random::bytes::<24>().map_err(|_| EncKeyError::Random)?;
        let cipher =
            XChaCha20Poly1305::new_from_slice(&wrapping).map_err(|_| EncKeyError::Corrupt)?;
        let raw = self.to_bytes();
        let ct = cipher
            .encrypt(
                &XNonce::from(nonce_bytes),
                Payload {
                    msg: &raw,
                    aad: PROTECTED_AD,
                },
            )
            .map_err(|_| EncKeyError::Corrupt)?;
        let mut blob = nonce_bytes.to_vec();
        blob.extend_from_slice(&ct);
        Ok(format!(
            "{PROTECTED_PREFIX}m={},t={},p={}${}${}\n",
            cost.m_cost_kib,
            cost.t_cost,
            cost.p_cost,
            BASE64URL_NOPAD.encode(&salt),
            BASE64URL_NOPAD.encode(&blob)
        ))
    }
}

/// Whether key-file contents are the passphrase-protected form.
pub fn is_protected(contents: &[u8]) -> bool {
    contents.starts_with(PROTECTED_PREFIX.as_bytes())
}

/// Argon2id costs for wrapping the enckey under a passphrase.
#[derive(Clone, Debug)]
pub struct ProtectCost {
    pub m_cost_kib: u32,
    pub t_cost: u32,
    pub p_cost: u32,
}

impl Default for ProtectCost {
    fn default() -> Self {
        ProtectCost {
            m_cost_kib: 65536,
            t_cost: 3,
            p_cost: 1,
        }
    }
}

fn derive(passphrase: &str, salt: &[u8], cost: &ProtectCost) -> Result<[u8; 32], EncKeyError> {
    let params = Params::new(cost.m_cost_kib, cost.t_cost, cost.p_cost, Some(32))
        .map_err(|_| EncKeyError::Corrupt)?;
    let mut out = [0u8; 32];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(passphrase.as_bytes(), salt, &mut out)
        .map_err(|_| EncKeyError::Corrupt)?;
    Ok(out)
}

fn unprotect(text: &str, passphrase: &str) -> Result<EncKey, EncKeyError> {
    let rest = text
        .strip_prefix(PROTECTED_PREFIX)
        .ok_or(EncKeyError::Corrupt)?;
    let mut parts = rest.split('$');
    let (Some(params), Some(salt), Some(body), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(EncKeyError::Corrupt);
    };
    let mut cost = ProtectCost {
        m_cost_kib: 0,
        t_cost: 0,
        p_cost: 0,
    };
    for kv in params.split(',') {
        let (k, v) = kv.split_once('=').ok_or(EncKeyError::Corrupt)?;
        let v: u32 = v.parse().map_err(|_| EncKeyError::Corrupt)?;
        match k {
            "m" => cost.m_cost_kib = v,
            "t" => cost.t_cost = v,
            "p" => cost.p_cost = v,
            _ => return Err(EncKeyError::Corrupt),
        }
    }
    // Refuse absurd costs from a hostile file before allocating memory for them.
    if cost.m_cost_kib > 4 * 1024 * 1024 || cost.t_cost > 100 || cost.p_cost > 64 {
        return Err(EncKeyError::Corrupt);
    }
    let salt = BASE64URL_NOPAD
        .decode(salt.as_bytes())
        .map_err(|_| EncKeyError::Corrupt)?;
    let blob = BASE64URL_NOPAD
        .decode(body.as_bytes())
        .map_err(|_| EncKeyError::Corrupt)?;
    if blob.len() < 24 + 16 {
        return Err(EncKeyError::Corrupt);
    }
    let (nonce, ct) = blob.split_at(24);
    let wrapping = derive(passphrase, &salt, &cost)?;
    let cipher = XChaCha20Poly1305::new_from_slice(&wrapping).map_err(|_| EncKeyError::Corrupt)?;
    let nonce = XNonce::try_from(nonce).map_err(|_| EncKeyError::Corrupt)?;
    let mut raw = cipher
        .decrypt(
            &nonce,
            Payload {
                msg: ct,
                aad: PROTECTED_AD,
            },
        )
        .map_err(|_| EncKeyError::WrongPassphrase)?;
    let key = EncKey::from_bytes(&raw);
    raw.zeroize();
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> ProtectCost {
        ProtectCost {
            m_cost_kib: 256,
            t_cost: 1,
            p_cost: 1,
        }
    }

    #[test]
    fn base64_must_decode_to_96_bytes() {
        assert_eq!(
            EncKey::from_base64("AAAA").unwrap_err(),
            EncKeyError::WrongLength(3)
        );
        assert_eq!(
            EncKey::from_base64("***").unwrap_err(),
            EncKeyError::BadBase64
        );
        let ok = BASE64.encode(&[5u8; 96]);
        assert_eq!(EncKey::from_base64(&ok).unwrap().to_bytes(), vec![5u8; 96]);
    }

    #[test]
    fn protected_key_round_trips_with_the_passphrase() {
        let key = EncKey::generate().unwrap();
        let text = key.protect("correct horse", &cheap()).unwrap();
        assert!(is_protected(text.as_bytes()));
        let back = EncKey::from_file_contents(text.as_bytes(), Some("correct horse")).unwrap();
        assert_eq!(back.to_bytes(), key.to_bytes());
    }

    #[test]
    fn wrong_or_missing_passphrase_is_refused() {
        let key = EncKey::generate().unwrap();
        let text = key.protect("right", &cheap()).unwrap();
        assert_eq!(
            EncKey::from_file_contents(text.as_bytes(), Some("wrong")).unwrap_err(),
            EncKeyError::WrongPassphrase
        );
        assert_eq!(
            EncKey::from_file_contents(text.as_bytes(), None).unwrap_err(),
            EncKeyError::PassphraseRequired
        );
    }

    #[test]
    fn corrupt_files_are_reported() {
        for bad in [
            &b"short"[..],
            &[0u8; 95][..],
            b"$kwenc$v=1$m=1$x",
            b"$kwenc$v=1$m=9999999999,t=1,p=1$AA$AA",
        ] {
            assert!(EncKey::from_file_contents(bad, Some("p")).is_err());
        }
    }
}
