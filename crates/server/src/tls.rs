//! Optional TLS (rustls with the aws-lc-rs provider) from `tls_cert_file` / `tls_key_file`.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::connect_info::IntoMakeServiceWithConnectInfo;
use axum_server::tls_rustls::RustlsConfig;
use keyward_commands::{Settings, Shared};

use crate::ServerError;

/// How long open connections get to finish after a shutdown signal.
const GRACE: Duration = Duration::from_secs(10);

/// The TLS configuration, when both files are configured.
pub async fn config(settings: &Settings) -> Result<Option<RustlsConfig>, ServerError> {
    match (&settings.tls_cert_file, &settings.tls_key_file) {
        (None, None) => Ok(None),
        (Some(cert), Some(key)) => {
            // Several providers are compiled in (through dependencies): pick ours explicitly.
            let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
            RustlsConfig::from_pem_file(cert, key)
                .await
                .map(Some)
                .map_err(|e| {
                    ServerError::Startup(format!(
                        "cannot load TLS certificate {cert} / key {key}: {e}"
                    ))
                })
        }
        _ => Err(ServerError::Startup(
            "TLS needs both tls_cert_file and tls_key_file".into(),
        )),
    }
}

/// Serves HTTPS on `addr` until `shutdown` completes, then drains connections.
pub async fn serve(
    addr: SocketAddr,
    config: RustlsConfig,
    app: IntoMakeServiceWithConnectInfo<Router, SocketAddr>,
    shutdown: impl Future<Output = ()> + Send + 'static,
    shared: &Shared,
) -> Result<(), ServerError> {
    let bind_err = |e: std::io::Error| ServerError::Bind {
        addr: addr.to_string(),
        reason: e.to_string(),
    };
    let listener = std::net::TcpListener::bind(addr).map_err(bind_err)?;
    listener.set_nonblocking(true).map_err(bind_err)?;
    let local = listener
        .local_addr()
        .map_err(|e| ServerError::Serve(e.to_string()))?;
    eprintln!("keyward: listening on https://{local}");
    tracing::info!(%local, backend = shared.store.backend().name(), "keyward serving (TLS)");
    let handle = axum_server::Handle::new();
    let on_signal = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        on_signal.graceful_shutdown(Some(GRACE));
    });
    axum_server::from_tcp_rustls(listener, config)
        .map_err(bind_err)?
        .handle(handle)
        .serve(app)
        .await
        .map_err(|e| ServerError::Serve(e.to_string()))
}
