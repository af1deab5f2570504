//! Duo Auth API request signing: the canonical request (date, method, host, path, sorted and
//! percent-encoded parameters, one per line) and its HMAC under the secret key, sent as HTTP
//! Basic credentials `IKEY:hex(HMAC)` together with the same `Date` header. HMAC-SHA1 is the
//! digest Duo documents for this (v2) canonical form; HMAC-SHA512 is its newer choice.

use data_encoding::{BASE64, HEXLOWER};
use hmac::{Hmac, KeyInit, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Everything but the RFC 3986 unreserved characters is escaped (upper-case hex).
const ESCAPED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The HMAC a request is signed with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DuoDigest {
    Sha1,
    Sha512,
}

fn escape(s: &str) -> String {
    utf8_percent_encode(s, ESCAPED).to_string()
}

/// `k1=v1&k2=v2`, sorted by key (then value), both percent-encoded.
pub fn canon_params(params: &[(&str, &str)]) -> String {
    let mut pairs: Vec<(String, String)> =
        params.iter().map(|(k, v)| (escape(k), escape(v))).collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// The canonical request: date, upper-case method, lower-case host, path, parameters.
pub fn canonical_request(
    date: &str,
    method: &str,
    host: &str,
    path: &str,
    params: &[(&str, &str)],
) -> String {
    [
        date.to_string(),
        method.to_ascii_uppercase(),
        host.to_ascii_lowercase(),
        path.to_string(),
        canon_params(params),
    ]
    .join("\n")
}

/// Hex HMAC of the canonical request under the secret key.
pub fn signature(skey: &[u8], canonical: &str, digest: DuoDigest) -> String {
    fn run<M: Mac + KeyInit>(key: &[u8], msg: &[u8]) -> String {
        match <M as KeyInit>::new_from_slice(key) {
            Ok(mut mac) => {
                mac.update(msg);
                HEXLOWER.encode(&mac.finalize().into_bytes())
            }
            Err(_) => String::new(),
        }
    }
    match digest {
        DuoDigest::Sha1 => run::<Hmac<sha1::Sha1>>(skey, canonical.as_bytes()),
        DuoDigest::Sha512 => run::<Hmac<sha2::Sha512>>(skey, canonical.as_bytes()),
    }
}

/// The `Authorization` header value: `Basic base64(IKEY:signature)`.
pub fn authorization(ikey: &str, skey: &[u8], canonical: &str, digest: DuoDigest) -> String {
    let creds = format!("{ikey}:{}", signature(skey, canonical, digest));
    format!("Basic {}", BASE64.encode(creds.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_are_sorted_and_escaped() {
        assert_eq!(
            canon_params(&[
                ("username", "a b@x"),
                ("factor", "push"),
                ("device", "auto")
            ]),
            "device=auto&factor=push&username=a%20b%40x"
        );
        assert_eq!(canon_params(&[("k", "~._-ä")]), "k=~._-%C3%A4");
        assert_eq!(canon_params(&[]), "");
    }

    #[test]
    fn canonical_form_and_signature() {
        let canon = canonical_request(
            "Tue, 21 Aug 2012 17:29:18 -0000",
            "post",
            "API-XXXXXXXX.duosecurity.com",
            "/auth/v2/preauth",
            &[("username", "root")],
        );
        assert_eq!(
            canon,
            "Tue, 21 Aug 2012 17:29:18 -0000\nPOST\napi-xxxxxxxx.duosecurity.com\n/auth/v2/preauth\nusername=root"
        );
        assert_eq!(signature(b"k", &canon, DuoDigest::Sha1).len(), 40);
        assert_eq!(signature(b"k", &canon, DuoDigest::Sha512).len(), 128);
        assert_ne!(
            signature(b"k", &canon, DuoDigest::Sha512),
            signature(b"l", &canon, DuoDigest::Sha512)
        );
        let auth = authorization("DIXXX", b"k", &canon, DuoDigest::Sha1);
        assert!(auth.starts_with("Basic "));
    }
}
