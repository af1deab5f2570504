//! Private certificate authorities for keyward's outgoing TLS (LDAP resolvers' `tls_ca_file`,
//! the `smtp_tls_ca_file` setting): a PEM file with one or more CA certificates. When one is
//! given, its certificates are the only trust anchors of that connection (the system roots are
//! not consulted), as a CA file means for OpenLDAP and privacyIDEA; the server's host name or IP
//! address is still checked against its certificate. Errors name the path (the callers name
//! the setting), never the file's contents.

use std::io::Read;
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::{ClientConfig, RootCertStore};

/// Largest CA file read (a bundle of a few hundred certificates fits easily).
const MAX_CA_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// The certificates of the CA file `path`, checked: readable, PEM, at least one certificate,
/// each usable as a trust anchor. The error says what is wrong with the file; the caller names
/// the setting.
pub fn read_ca_file(path: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read {path}: {e}"))?;
    let mut bytes = Vec::new();
    file.take(MAX_CA_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {path}: {e}"))?;
    if bytes.len() as u64 > MAX_CA_FILE_BYTES {
        return Err(format!(
            "{path} is larger than {} MiB, not a CA file",
            MAX_CA_FILE_BYTES / (1024 * 1024)
        ));
    }
    // The parser's own errors may quote a line of the file: say what is wrong in our words.
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| format!("{path} is not a valid PEM file"))?;
    if certs.is_empty() {
        return Err(format!(
            "{path} holds no certificate (expected PEM \"BEGIN CERTIFICATE\" blocks)"
        ));
    }
    let mut store = RootCertStore::empty();
    for (n, cert) in certs.iter().enumerate() {
        store.add(cert.clone()).map_err(|_| {
            format!(
                "certificate {} in {path} is not a usable X.509 CA certificate",
                n + 1
            )
        })?;
    }
    Ok(certs)
}

/// A rustls client configuration trusting exactly the certificates of the CA file `path`.
pub fn client_config(path: &str) -> Result<Arc<ClientConfig>, String> {
    let mut roots = RootCertStore::empty();
    // Every certificate was added once already by `read_ca_file`: none is ignored here.
    roots.add_parsable_certificates(read_ca_file(path)?);
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// What was wrong with the peer's certificate, when `err` (or an error under it) is rustls
/// refusing it; `None` for any other failure.
pub fn certificate_problem(err: &(dyn std::error::Error + 'static)) -> Option<String> {
    use rustls::CertificateError as C;
    let mut next = Some(err);
    while let Some(e) = next {
        // An io::Error hides the error it wraps from `source()`: look inside it too.
        let tls = e.downcast_ref::<rustls::Error>().or_else(|| {
            e.downcast_ref::<std::io::Error>()
                .and_then(std::io::Error::get_ref)
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        });
        if let Some(tls @ rustls::Error::InvalidCertificate(cert)) = tls {
            let what = match cert {
                C::UnknownIssuer => "is not signed by a trusted CA",
                C::NotValidForName | C::NotValidForNameContext { .. } => {
                    "is not valid for this host name or address"
                }
                C::Expired | C::ExpiredContext { .. } => "has expired",
                C::NotValidYet | C::NotValidYetContext { .. } => "is not valid yet",
                _ => "was refused",
            };
            return Some(format!("TLS: the server's certificate {what} ({tls})"));
        }
        next = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_certificate_is_found_inside_an_io_error() {
        let refused = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, refused);
        let problem = certificate_problem(&io).unwrap();
        assert!(problem.contains("not signed by a trusted CA"), "{problem}");
        let other = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert_eq!(certificate_problem(&other), None);
    }

    #[test]
    fn unreadable_empty_or_garbage_files_are_refused_without_their_contents() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem").display().to_string();
        let e = read_ca_file(&missing).unwrap_err();
        assert!(e.starts_with("cannot read"), "{e}");

        let key_only = dir.path().join("key.pem");
        std::fs::write(
            &key_only,
            "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1ieXRlcw==\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        let e = read_ca_file(&key_only.display().to_string()).unwrap_err();
        assert!(e.contains("holds no certificate"), "{e}");
        assert!(!e.contains("c2VjcmV0"), "{e}");

        let garbage = dir.path().join("garbage.pem");
        std::fs::write(
            &garbage,
            "-----BEGIN CERTIFICATE-----\nnot base64 at all: secret-line\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let e = read_ca_file(&garbage.display().to_string()).unwrap_err();
        assert!(e.contains("not a valid PEM file"), "{e}");
        assert!(!e.contains("secret-line"), "{e}");

        let not_x509 = dir.path().join("not-x509.pem");
        std::fs::write(
            &not_x509,
            "-----BEGIN CERTIFICATE-----\naGVsbG8gd29ybGQ=\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let e = read_ca_file(&not_x509.display().to_string()).unwrap_err();
        assert!(e.contains("certificate 1"), "{e}");
    }
}
