//! Optional TLS (rustls with the aws-lc-rs provider) from `tls_cert_file` / `tls_key_file`;
//! connections are accepted by [`crate::listen`], which runs the handshake under the header
//! timeout.

use axum_server::tls_rustls::RustlsConfig;
use keyward_commands::Settings;
use tokio_rustls::TlsAcceptor;

use crate::ServerError;

/// The TLS acceptor, when both files are configured (ALPN offers `h2` and `http/1.1`).
pub async fn acceptor(settings: &Settings) -> Result<Option<TlsAcceptor>, ServerError> {
    match (&settings.tls_cert_file, &settings.tls_key_file) {
        (None, None) => Ok(None),
        (Some(cert), Some(key)) => {
            // Several providers are compiled in (through dependencies): pick ours explicitly.
            let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
            let config = RustlsConfig::from_pem_file(cert, key).await.map_err(|e| {
                ServerError::Startup(format!(
                    "cannot load TLS certificate {cert} / key {key}: {e}"
                ))
            })?;
            Ok(Some(TlsAcceptor::from(config.get_inner())))
        }
        _ => Err(ServerError::Startup(
            "TLS needs both tls_cert_file and tls_key_file".into(),
        )),
    }
}
