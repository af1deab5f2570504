//! PSKC (RFC 6030) key containers: HOTP and TOTP keys with plain or encrypted secrets.
//!
//! Per `KeyPackage`: the serial is `DeviceInfo/SerialNo`, else the `Key`'s `Id`; the type comes
//! from `Key/@Algorithm` (`…:hotp`, `…:totp`; anything else is refused, naming the key);
//! `AlgorithmParameters/ResponseFormat/@Length` gives the digits (6 or 8) and
//! `AlgorithmParameters/Suite` the hash (`HMAC-SHA256` …; none means SHA1); `Data/Counter`,
//! `Data/TimeInterval` and `Data/TimeDrift` the counter, time step and drift (`Data/Time` is
//! read but, as LinOTP and privacyIDEA do, not applied). `Issuer`, `DeviceInfo/Model` and
//! `Manufacturer`, and a `Key` `Id` that differs from the serial, are kept as token info; a
//! `ResponseFormat` `Encoding` other than `DECIMAL` (e.g. `ALPHANUMERIC`) is refused, naming it.
//!
//! Secrets are either `PlainValue` (base64) or `EncryptedValue`: `CipherData/CipherValue` is
//! base64 of IV ‖ AES-CBC ciphertext with PKCS#7 padding, under a pre-shared key or a key
//! derived from a password with PBKDF2 (`EncryptionKey/DerivedKey`). When the file carries a
//! `ValueMAC`, it is checked — HMAC (`MACMethod/@Algorithm`, SHA1 by default) over the
//! CipherValue bytes, keyed with `MACMethod/MACKey` (itself encrypted with the same key) — before
//! the secret is used. A wrong password or key is reported as such, never turned into seeds.
//! Elements are matched by local name, so namespace prefixes do not matter.

use aes::{Aes128, Aes192, Aes256};
use cbc::Decryptor;
use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockCipherDecrypt, BlockModeDecrypt, KeyIvInit};
use data_encoding::BASE64;
use hmac::{Hmac, KeyInit, Mac};
use roxmltree::{Document, Node, ParsingOptions};
use sha1::Sha1;
use sha2::{Sha256, Sha384, Sha512};
use zeroize::{Zeroize, Zeroizing};

use super::{Collector, ImportError, ImportedToken, check_key_len, check_serial, check_size};
use crate::otp::{HashAlg, TokenType, check_otplen};

/// Most PBKDF2 iterations accepted (bounds the CPU one upload can cost).
pub const MAX_PBKDF2_ITERATIONS: u32 = 10_000_000;
/// Most XML nodes parsed (elements, attributes' owners and text), far above 100,000 tokens.
const MAX_XML_NODES: u32 = 10_000_000;
/// AES block (and CBC IV) size.
const BLOCK: usize = 16;

/// How to unlock encrypted secrets. The key or password is wiped when the value is dropped.
#[derive(Clone, PartialEq, Eq)]
pub enum Decryption {
    /// No secret given: only files with plain secrets import.
    None,
    /// The pre-shared AES key (16, 24 or 32 bytes).
    PreSharedKey(Vec<u8>),
    /// The password a PBKDF2 `DerivedKey` is derived from.
    Password(String),
}

impl Drop for Decryption {
    fn drop(&mut self) {
        match self {
            Decryption::None => {}
            Decryption::PreSharedKey(k) => k.zeroize(),
            Decryption::Password(p) => p.zeroize(),
        }
    }
}

impl std::fmt::Debug for Decryption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Decryption::None => "Decryption::None",
            Decryption::PreSharedKey(_) => "Decryption::PreSharedKey(<redacted>)",
            Decryption::Password(_) => "Decryption::Password(<redacted>)",
        })
    }
}

/// Parses (and decrypts) a PSKC document. All or nothing: the first bad key package is the
/// error.
pub fn parse(xml: &str, decryption: Decryption) -> Result<Vec<ImportedToken>, ImportError> {
    check_size(xml)?;
    let options = ParsingOptions {
        allow_dtd: false,
        nodes_limit: MAX_XML_NODES,
        ..ParsingOptions::default()
    };
    let doc = Document::parse_with_options(xml, options)
        .map_err(|e| ImportError::Pskc(format!("not a well-formed XML document ({e})")))?;
    let container = doc.root_element();
    if container.tag_name().name() != "KeyContainer" {
        return Err(pskc_err("the document is not a PSKC KeyContainer"));
    }
    let keys = Keys::resolve(container, &decryption)?;
    let mut out = Collector::default();
    for (n, package) in elements(container, "KeyPackage").enumerate() {
        let token = key_package(package, n + 1, &keys)?;
        out.push(token)?;
    }
    out.finish()
}

fn pskc_err(msg: impl Into<String>) -> ImportError {
    ImportError::Pskc(msg.into())
}

/// Child elements of `node` with this local name.
fn elements<'a, 'i>(node: Node<'a, 'i>, name: &'static str) -> impl Iterator<Item = Node<'a, 'i>> {
    node.children()
        .filter(move |c| c.is_element() && c.tag_name().name() == name)
}

/// The first child element with this local name.
fn child<'a, 'i>(node: Node<'a, 'i>, name: &'static str) -> Option<Node<'a, 'i>> {
    elements(node, name).next()
}

/// The element reached by a path of local names.
fn path<'a, 'i>(node: Node<'a, 'i>, names: &[&'static str]) -> Option<Node<'a, 'i>> {
    names.iter().try_fold(node, |n, name| child(n, name))
}

/// The element's text, trimmed ("" when it has none).
fn text<'a>(node: Node<'a, '_>) -> &'a str {
    node.text().unwrap_or_default().trim()
}

/// Base64 that may be wrapped over several lines.
fn base64(text: &str) -> Option<Vec<u8>> {
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    BASE64.decode(compact.as_bytes()).ok()
}

/// The last segment of an algorithm URI (`…#hmac-sha1` → `hmac-sha1`, `…:hotp` → `hotp`).
fn uri_suffix(uri: &str) -> String {
    uri.trim()
        .rsplit(['#', ':', '/'])
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase()
}

/// The HMAC hash of a MAC or PRF algorithm URI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MacAlg {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

impl MacAlg {
    fn from_uri(uri: Option<&str>, what: &str) -> Result<MacAlg, ImportError> {
        let Some(uri) = uri else {
            return Ok(MacAlg::Sha1);
        };
        match uri_suffix(uri).as_str() {
            "hmac-sha1" => Ok(MacAlg::Sha1),
            "hmac-sha256" => Ok(MacAlg::Sha256),
            "hmac-sha384" => Ok(MacAlg::Sha384),
            "hmac-sha512" => Ok(MacAlg::Sha512),
            _ => Err(pskc_err(format!(
                "unsupported {what} algorithm {:?} (expected HMAC-SHA1/256/384/512)",
                uri.chars().take(100).collect::<String>()
            ))),
        }
    }

    /// Whether `mac` is the HMAC of `msg` under `key` (constant-time comparison).
    fn verify(self, key: &[u8], msg: &[u8], mac: &[u8]) -> bool {
        fn run<M: Mac + KeyInit>(key: &[u8], msg: &[u8], mac: &[u8]) -> bool {
            match <M as KeyInit>::new_from_slice(key) {
                Ok(mut m) => {
                    m.update(msg);
                    m.verify_slice(mac).is_ok()
                }
                Err(_) => false,
            }
        }
        match self {
            MacAlg::Sha1 => run::<Hmac<Sha1>>(key, msg, mac),
            MacAlg::Sha256 => run::<Hmac<Sha256>>(key, msg, mac),
            MacAlg::Sha384 => run::<Hmac<Sha384>>(key, msg, mac),
            MacAlg::Sha512 => run::<Hmac<Sha512>>(key, msg, mac),
        }
    }

    fn pbkdf2(self, password: &[u8], salt: &[u8], rounds: u32, out: &mut [u8]) {
        match self {
            MacAlg::Sha1 => pbkdf2::pbkdf2_hmac::<Sha1>(password, salt, rounds, out),
            MacAlg::Sha256 => pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, rounds, out),
            MacAlg::Sha384 => pbkdf2::pbkdf2_hmac::<Sha384>(password, salt, rounds, out),
            MacAlg::Sha512 => pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, rounds, out),
        }
    }
}

/// The container's unlocking keys: the encryption key (when the file has encrypted values) and
/// the MAC key with its algorithm (when it declares a `MACMethod`).
struct Keys {
    encryption: Option<Zeroizing<Vec<u8>>>,
    mac: Option<(MacAlg, Zeroizing<Vec<u8>>)>,
}

impl Keys {
    fn resolve(container: Node<'_, '_>, decryption: &Decryption) -> Result<Keys, ImportError> {
        let encrypted = container
            .descendants()
            .any(|n| n.is_element() && n.tag_name().name() == "CipherData");
        if !encrypted {
            return Ok(Keys {
                encryption: None,
                mac: None,
            });
        }
        let key = match decryption {
            Decryption::None => return Err(ImportError::NeedsDecryption),
            Decryption::PreSharedKey(k) => {
                if !matches!(k.len(), 16 | 24 | 32) {
                    return Err(pskc_err(
                        "the pre-shared key must be an AES key of 16, 24 or 32 bytes",
                    ));
                }
                Zeroizing::new(k.clone())
            }
            Decryption::Password(p) => derive_key(container, p)?,
        };
        let mac = match child(container, "MACMethod") {
            None => None,
            Some(method) => {
                let alg = MacAlg::from_uri(method.attribute("Algorithm"), "MAC")?;
                let mac_key = match child(method, "MACKey") {
                    // The MAC key is encrypted with the same key; a padding error here is the
                    // first sign of a wrong password or key.
                    Some(encrypted) => decrypt(encrypted, &key)?.1,
                    // Without a MACKey the encryption key is the MAC key (as python-pskc reads it).
                    None => key.clone(),
                };
                Some((alg, mac_key))
            }
        };
        Ok(Keys {
            encryption: Some(key),
            mac,
        })
    }
}

/// The PBKDF2 key of `EncryptionKey/DerivedKey`.
fn derive_key(container: Node<'_, '_>, password: &str) -> Result<Zeroizing<Vec<u8>>, ImportError> {
    let Some(derived) = path(container, &["EncryptionKey", "DerivedKey"]) else {
        return Err(pskc_err(
            "the file is not password-protected (no EncryptionKey/DerivedKey); give the \
             pre-shared key instead",
        ));
    };
    let method = child(derived, "KeyDerivationMethod")
        .ok_or_else(|| pskc_err("DerivedKey has no KeyDerivationMethod"))?;
    let algorithm = method.attribute("Algorithm").unwrap_or_default();
    if uri_suffix(algorithm) != "pbkdf2" {
        return Err(pskc_err(format!(
            "unsupported key derivation {:?} (expected PBKDF2)",
            algorithm.chars().take(100).collect::<String>()
        )));
    }
    let params = child(method, "PBKDF2-params")
        .ok_or_else(|| pskc_err("KeyDerivationMethod has no PBKDF2-params"))?;
    let salt = path(params, &["Salt", "Specified"])
        .and_then(|s| base64(text(s)))
        .ok_or_else(|| pskc_err("PBKDF2-params need a base64 Salt/Specified"))?;
    let iterations = child(params, "IterationCount")
        .and_then(|n| text(n).parse::<u32>().ok())
        .filter(|n| (1..=MAX_PBKDF2_ITERATIONS).contains(n))
        .ok_or_else(|| {
            pskc_err(format!(
                "PBKDF2 IterationCount must be 1 to {MAX_PBKDF2_ITERATIONS}"
            ))
        })?;
    let key_len = match child(params, "KeyLength") {
        Some(n) => text(n)
            .parse::<usize>()
            .ok()
            .filter(|l| matches!(l, 16 | 24 | 32))
            .ok_or_else(|| pskc_err("PBKDF2 KeyLength must be 16, 24 or 32"))?,
        None => 16,
    };
    let prf = MacAlg::from_uri(
        child(params, "PRF").and_then(|p| p.attribute("Algorithm")),
        "PRF",
    )?;
    let mut key = Zeroizing::new(vec![0u8; key_len]);
    prf.pbkdf2(password.as_bytes(), &salt, iterations, &mut key);
    Ok(key)
}

/// Decrypts an element holding `EncryptionMethod` and `CipherData/CipherValue`: returns the raw
/// CipherValue bytes (what a ValueMAC covers) and the plaintext. Bad padding is
/// [`ImportError::WrongKey`].
fn decrypt(node: Node<'_, '_>, key: &[u8]) -> Result<(Vec<u8>, Zeroizing<Vec<u8>>), ImportError> {
    let data = cipher_value(node)?;
    let plain = decrypt_bytes(node, key, &data)?;
    Ok((data, plain))
}

/// The base64-decoded `CipherData/CipherValue`: IV and at least one block.
fn cipher_value(node: Node<'_, '_>) -> Result<Vec<u8>, ImportError> {
    let data = path(node, &["CipherData", "CipherValue"])
        .and_then(|v| base64(text(v)))
        .ok_or_else(|| pskc_err("an encrypted value has no base64 CipherData/CipherValue"))?;
    if data.len() < 2 * BLOCK || data.len() % BLOCK != 0 {
        return Err(pskc_err(
            "an encrypted value is not IV plus whole AES-CBC blocks",
        ));
    }
    Ok(data)
}

fn decrypt_bytes(
    node: Node<'_, '_>,
    key: &[u8],
    data: &[u8],
) -> Result<Zeroizing<Vec<u8>>, ImportError> {
    let algorithm = child(node, "EncryptionMethod").and_then(|m| m.attribute("Algorithm"));
    let expected_len = match algorithm.map(uri_suffix).as_deref() {
        None => key.len(),
        Some("aes128-cbc") => 16,
        Some("aes192-cbc") => 24,
        Some("aes256-cbc") => 32,
        Some(_) => {
            return Err(pskc_err(format!(
                "unsupported encryption {:?} (expected AES-CBC)",
                algorithm
                    .unwrap_or_default()
                    .chars()
                    .take(100)
                    .collect::<String>()
            )));
        }
    };
    if key.len() != expected_len {
        return Err(pskc_err(format!(
            "the file's encryption needs a {expected_len}-byte key, the key given has {}",
            key.len()
        )));
    }
    let (iv, ciphertext) = data.split_at(BLOCK);
    fn run<C>(key: &[u8], iv: &[u8], ct: &[u8]) -> Result<Zeroizing<Vec<u8>>, ImportError>
    where
        C: BlockCipherDecrypt,
        Decryptor<C>: KeyIvInit,
    {
        let dec = Decryptor::<C>::new_from_slices(key, iv).map_err(|_| ImportError::WrongKey)?;
        let mut buf = Zeroizing::new(ct.to_vec());
        let n = dec
            .decrypt_padded::<Pkcs7>(&mut buf)
            .map_err(|_| ImportError::WrongKey)?
            .len();
        buf.truncate(n);
        Ok(buf)
    }
    match key.len() {
        16 => run::<Aes128>(key, iv, ciphertext),
        24 => run::<Aes192>(key, iv, ciphertext),
        _ => run::<Aes256>(key, iv, ciphertext),
    }
}

/// One `KeyPackage` (the `n`-th, for messages) as a token.
fn key_package(package: Node<'_, '_>, n: usize, keys: &Keys) -> Result<ImportedToken, ImportError> {
    let key =
        child(package, "Key").ok_or_else(|| pskc_err(format!("KeyPackage {n} has no Key")))?;
    let id = key
        .attribute("Id")
        .or_else(|| key.attribute("KeyId"))
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let serial = path(package, &["DeviceInfo", "SerialNo"])
        .map(text)
        .filter(|s| !s.is_empty())
        .or(id)
        .ok_or_else(|| {
            pskc_err(format!(
                "KeyPackage {n} has neither DeviceInfo/SerialNo nor a Key Id"
            ))
        })?
        .to_string();
    let name: String = id.unwrap_or(&serial).chars().take(64).collect();
    let at = |msg: String| pskc_err(format!("key {name}: {msg}"));
    check_serial(&serial).map_err(at)?;

    let algorithm = key.attribute("Algorithm").unwrap_or_default();
    let kind = match uri_suffix(algorithm).as_str() {
        "hotp" => TokenType::Hotp,
        "totp" => TokenType::Totp,
        _ => {
            return Err(at(format!(
                "algorithm {:?} is not supported (only HOTP and TOTP)",
                algorithm.chars().take(100).collect::<String>()
            )));
        }
    };
    let params = child(key, "AlgorithmParameters");
    let format = params.and_then(|p| child(p, "ResponseFormat"));
    if let Some(enc) = format.and_then(|f| f.attribute("Encoding"))
        && !enc.trim().eq_ignore_ascii_case("DECIMAL")
    {
        let shown: String = enc.trim().chars().take(40).collect();
        return Err(at(format!(
            "ResponseFormat Encoding {shown:?} is not supported (keyward's OTPs are DECIMAL)"
        )));
    }
    let otplen = match format.and_then(|f| f.attribute("Length")) {
        Some(l) => l
            .trim()
            .parse::<i64>()
            .ok()
            .and_then(|l| check_otplen(l).ok())
            .ok_or_else(|| at("ResponseFormat Length must be 6 or 8".into()))?,
        None => 6,
    };
    let hashlib = match params.and_then(|p| child(p, "Suite")).map(text) {
        None | Some("") => HashAlg::Sha1,
        Some(suite) => {
            let upper = suite.to_ascii_uppercase();
            let bare = upper.strip_prefix("HMAC-").unwrap_or(&upper);
            HashAlg::parse(bare).map_err(|_| {
                at(format!(
                    "unsupported Suite {:?} (expected HMAC-SHA1, HMAC-SHA256 or HMAC-SHA512)",
                    suite.chars().take(40).collect::<String>()
                ))
            })?
        }
    };

    let data = child(key, "Data").ok_or_else(|| at("no Data".into()))?;
    let secret_node = child(data, "Secret").ok_or_else(|| at("no Secret".into()))?;
    let secret = secret(secret_node, &name, keys)?;
    check_key_len(secret.len()).map_err(at)?;

    let number = |field: &'static str| -> Result<Option<i64>, ImportError> {
        let Some(node) = child(data, field) else {
            return Ok(None);
        };
        if child(node, "EncryptedValue").is_some() {
            return Err(at(format!("an encrypted {field} is not supported")));
        }
        let value = child(node, "PlainValue")
            .map(text)
            .unwrap_or_else(|| text(node));
        value
            .parse::<i64>()
            .map(Some)
            .map_err(|_| at(format!("{field} is not an integer")))
    };
    let counter = match number("Counter")? {
        Some(c) => u64::try_from(c).map_err(|_| at("Counter is negative".into()))?,
        None => 0,
    };
    let time_step = match number("TimeInterval")? {
        Some(s) => u32::try_from(s)
            .ok()
            .filter(|s| (1..=3600).contains(s))
            .ok_or_else(|| at("TimeInterval must be 1 to 3600 seconds".into()))?,
        None => 30,
    };
    let _t0 = number("Time")?;
    let drift = number("TimeDrift")?.unwrap_or(0);
    if drift.unsigned_abs() > 1_000_000 {
        return Err(at("TimeDrift is out of range".into()));
    }
    let user = child(key, "UserId")
        .or_else(|| path(package, &["DeviceInfo", "UserId"]))
        .map(text)
        .filter(|u| !u.is_empty())
        .map(|u| u.chars().take(255).collect());
    let info = descriptive_fields(package, key, id, &serial);
    Ok(ImportedToken {
        serial,
        token_type: kind,
        counter: if kind == TokenType::Hotp { counter } else { 0 },
        time_shift: if kind == TokenType::Totp {
            drift * i64::from(time_step)
        } else {
            0
        },
        key: secret.to_vec(),
        otplen,
        hashlib,
        time_step,
        user,
        info,
    })
}

/// The descriptive fields kept as token info (values cut to 255 characters).
fn descriptive_fields(
    package: Node<'_, '_>,
    key: Node<'_, '_>,
    id: Option<&str>,
    serial: &str,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let issuer = child(key, "Issuer").or_else(|| path(package, &["DeviceInfo", "Issuer"]));
    let fields = [
        ("issuer", issuer),
        ("model", path(package, &["DeviceInfo", "Model"])),
        (
            "manufacturer",
            path(package, &["DeviceInfo", "Manufacturer"]),
        ),
    ];
    for (name, node) in fields {
        if let Some(value) = node.map(text).filter(|v| !v.is_empty()) {
            out.push((name.to_string(), value.chars().take(255).collect()));
        }
    }
    if let Some(id) = id.filter(|id| *id != serial) {
        out.push(("pskc_key_id".into(), id.chars().take(255).collect()));
    }
    out
}

/// The seed of a `Secret`: `PlainValue`, or `EncryptedValue` checked against its `ValueMAC`.
fn secret(node: Node<'_, '_>, name: &str, keys: &Keys) -> Result<Zeroizing<Vec<u8>>, ImportError> {
    if let Some(plain) = child(node, "PlainValue") {
        return base64(text(plain))
            .map(Zeroizing::new)
            .ok_or_else(|| pskc_err(format!("key {name}: the PlainValue secret is not base64")));
    }
    let Some(encrypted) = child(node, "EncryptedValue") else {
        return Err(pskc_err(format!("key {name}: the Secret has no value")));
    };
    let Some(key) = &keys.encryption else {
        return Err(ImportError::NeedsDecryption);
    };
    let data = cipher_value(encrypted)?;
    if let Some(mac_node) = child(node, "ValueMAC") {
        let mac = base64(text(mac_node))
            .ok_or_else(|| pskc_err(format!("key {name}: the ValueMAC is not base64")))?;
        let Some((alg, mac_key)) = &keys.mac else {
            return Err(pskc_err(format!(
                "key {name}: a ValueMAC but no MACMethod in the file"
            )));
        };
        if !alg.verify(mac_key, &data, &mac) {
            // A secret that does not even decrypt means the key is wrong, not the file.
            decrypt_bytes(encrypted, key, &data)?;
            return Err(ImportError::MacMismatch(name.to_string()));
        }
    }
    decrypt_bytes(encrypted, key, &data)
}

#[cfg(test)]
mod tests;
