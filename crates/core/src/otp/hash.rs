//! The HMAC hash algorithms an OTP token can use, and the HMAC computation itself.

use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha1::Sha1;
use sha2::{Sha256, Sha512};

use super::OtpError;

/// Hash function underlying the token's HMAC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HashAlg {
    Sha1,
    Sha256,
    Sha512,
}

impl HashAlg {
    /// Parses `sha1` / `sha256` / `sha512`, case-insensitively, also with a dash (`SHA-256`).
    pub fn parse(s: &str) -> Result<HashAlg, OtpError> {
        let norm: String = s
            .trim()
            .chars()
            .filter(|c| *c != '-')
            .map(|c| c.to_ascii_lowercase())
            .collect();
        match norm.as_str() {
            "sha1" => Ok(HashAlg::Sha1),
            "sha256" => Ok(HashAlg::Sha256),
            "sha512" => Ok(HashAlg::Sha512),
            _ => Err(OtpError::UnknownHashlib(s.to_string())),
        }
    }

    /// The stored name: `sha1`, `sha256` or `sha512`.
    pub fn as_str(self) -> &'static str {
        match self {
            HashAlg::Sha1 => "sha1",
            HashAlg::Sha256 => "sha256",
            HashAlg::Sha512 => "sha512",
        }
    }

    /// The name used in the `algorithm=` parameter of a key URI.
    pub fn uri_name(self) -> &'static str {
        match self {
            HashAlg::Sha1 => "SHA1",
            HashAlg::Sha256 => "SHA256",
            HashAlg::Sha512 => "SHA512",
        }
    }

    /// The key length (bytes) equal to the hash output, as RFC 6238 uses: 20, 32 or 64.
    pub fn default_key_len(self) -> usize {
        match self {
            HashAlg::Sha1 => 20,
            HashAlg::Sha256 => 32,
            HashAlg::Sha512 => 64,
        }
    }
}

impl std::fmt::Display for HashAlg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for HashAlg {
    type Err = OtpError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        HashAlg::parse(s)
    }
}

/// HMAC of `msg` under `key`. HMAC accepts keys of any length, so the error branch is
/// unreachable in practice; it yields an empty digest, which never produces a valid OTP.
pub(super) fn hmac(alg: HashAlg, key: &[u8], msg: &[u8]) -> Vec<u8> {
    fn run<M: Mac + KeyInit>(key: &[u8], msg: &[u8]) -> Vec<u8> {
        match <M as KeyInit>::new_from_slice(key) {
            Ok(mut mac) => {
                mac.update(msg);
                mac.finalize().into_bytes().to_vec()
            }
            Err(_) => Vec::new(),
        }
    }
    match alg {
        HashAlg::Sha1 => run::<Hmac<Sha1>>(key, msg),
        HashAlg::Sha256 => run::<Hmac<Sha256>>(key, msg),
        HashAlg::Sha512 => run::<Hmac<Sha512>>(key, msg),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_names() -> Result<(), OtpError> {
        assert_eq!(HashAlg::parse("sha1")?, HashAlg::Sha1);
        assert_eq!(HashAlg::parse("SHA-1")?, HashAlg::Sha1);
        assert_eq!(HashAlg::parse("Sha256")?, HashAlg::Sha256);
        assert_eq!(HashAlg::parse("SHA-512")?, HashAlg::Sha512);
        assert_eq!(
            HashAlg::parse("md5"),
            Err(OtpError::UnknownHashlib("md5".into()))
        );
        assert_eq!(HashAlg::Sha256.as_str(), "sha256");
        assert_eq!(HashAlg::Sha512.uri_name(), "SHA512");
        assert_eq!(HashAlg::Sha512.default_key_len(), 64);
        Ok(())
    }

    #[test]
    fn serde_lowercase() -> Result<(), serde_json::Error> {
        assert_eq!(serde_json::to_string(&HashAlg::Sha256)?, "\"sha256\"");
        assert_eq!(
            serde_json::from_str::<HashAlg>("\"sha512\"")?,
            HashAlg::Sha512
        );
        Ok(())
    }

    #[test]
    fn hmac_sha256_rfc4231_case2() {
        // RFC 4231 test case 2.
        let mac = hmac(HashAlg::Sha256, b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            data_encoding::HEXLOWER.encode(&mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
